//! Identifier newtypes: once constructed they hold only valid values ("parse, don't
//! validate"), whether they came from supplier JSON or from canonical bytes.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// The identifier is empty or longer than its limit.
    #[error("{what} must be 1 to {max} characters long, found {len}")]
    Length {
        /// Which kind of identifier.
        what: &'static str,
        /// The maximum length.
        max: usize,
        /// The length found.
        len: usize,
    },
    /// The identifier contains a character outside its alphabet.
    #[error("{what} {shown:?} contains {bad:?}; allowed: {allowed}")]
    Character {
        /// Which kind of identifier.
        what: &'static str,
        /// The identifier, cut to a readable length.
        shown: String,
        /// The first refused character.
        bad: char,
        /// The allowed alphabet, in words.
        allowed: &'static str,
    },
    /// A country that is not written as an ISO 3166-1 alpha-2 code, such as a name
    /// (`Zambia`), a lower-case code or an alpha-3 code (`ZMB`).
    #[error("{}", country_message(shown, suggestion.as_deref()))]
    NotCountryCode {
        /// The value, cut to a readable length.
        shown: String,
        /// The alpha-2 code it most likely means, when one is known.
        suggestion: Option<String>,
    },
}

fn country_message(shown: &str, suggestion: Option<&str>) -> String {
    let mut message = format!(
        "expected an ISO 3166-1 alpha-2 country code (two upper-case letters, such as CD), found {shown:?}"
    );
    if let Some(code) = suggestion {
        message.push_str(&format!("; did you mean {code}?"));
    }
    message
}

fn check(
    what: &'static str,
    s: &str,
    max: usize,
    allowed: &'static str,
    ok: fn(char) -> bool,
) -> Result<(), IdError> {
    let len = s.chars().count();
    if len == 0 || s.len() > max {
        return Err(IdError::Length { what, max, len });
    }
    if let Some(bad) = s.chars().find(|c| !ok(*c)) {
        let shown = s.chars().take(64).collect();
        return Err(IdError::Character {
            what,
            shown,
            bad,
            allowed,
        });
    }
    Ok(())
}

const ID_CHARS: &str = "A-Z a-z 0-9 . _ : -";

fn id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-')
}

/// Declares a string newtype whose every value passed `$check`, with its JSON Schema: a
/// string matching `$pattern` (the same alphabet and length as `$check`), described by
/// `$description`.
macro_rules! string_id {
    (
        $(#[$doc:meta])* $name:ident, $what:literal, $max:expr, $allowed:expr, $ok:expr,
        schema: $pattern:literal, $description:literal
    ) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// Checks `s` and wraps it.
            pub fn new(s: impl Into<String>) -> Result<Self, IdError> {
                let s = s.into();
                check($what, &s, $max, $allowed, $ok)?;
                Ok(Self(s))
            }

            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::new(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = String::deserialize(deserializer)?;
                Self::new(s).map_err(serde::de::Error::custom)
            }
        }

        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({
                    "type": "string",
                    "pattern": $pattern,
                    "description": $description,
                })
            }
        }
    };
}

string_id!(
    /// A party (company, site operator, auditor) id: `[A-Za-z0-9._:-]{1,128}`.
    PartyId, "party id", 128, ID_CHARS, id_char,
    schema: "^[A-Za-z0-9._:-]{1,128}$", "A party id: 1 to 128 of A-Z a-z 0-9 . _ : -"
);
string_id!(
    /// A lot id: `[A-Za-z0-9._:-]{1,128}`.
    LotId, "lot id", 128, ID_CHARS, id_char,
    schema: "^[A-Za-z0-9._:-]{1,128}$", "A lot id: 1 to 128 of A-Z a-z 0-9 . _ : -"
);
string_id!(
    /// A mine or facility site id: `[A-Za-z0-9._:-]{1,128}`.
    SiteId, "site id", 128, ID_CHARS, id_char,
    schema: "^[A-Za-z0-9._:-]{1,128}$", "A mine or facility site id: 1 to 128 of A-Z a-z 0-9 . _ : -"
);
string_id!(
    /// A material name such as `cobalt-ore` or `mica-sheet`: `[a-z0-9-]{1,64}`.
    /// `docs/format.md` lists the materials the reports know; others are accepted as written.
    Material, "material", 64, "a-z 0-9 -", |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-',
    schema: "^[a-z0-9-]{1,64}$",
    "What a lot is (cobalt-ore, cobalt-hydroxide, cobalt-sulfate, precursor, cathode, cell, module, mica-ore, mica-sheet, mica-insulator, ...): 1 to 64 of a-z 0-9 -; any such name is accepted"
);
string_id!(
    /// A tracked component of a lot's content: a chemical element symbol (`Co`, `Li`, `Ni`)
    /// or a mineral name for non-elemental materials (`mica`): `[A-Za-z][A-Za-z0-9-]{0,31}`.
    Component, "content component", 32, "A-Z a-z 0-9 -", |c: char| c.is_ascii_alphanumeric() || c == '-',
    schema: "^[A-Za-z][A-Za-z0-9-]{0,31}$",
    "A tracked component: an element symbol (Co, Li, Ni) or a mineral name (mica); a letter, then up to 31 of A-Z a-z 0-9 -"
);
string_id!(
    /// An ISO 3166-1 alpha-2 country code, upper case (`CD`, `FI`, `IN`).
    Country, "country code", 2, "A-Z (ISO 3166-1 alpha-2)", |c: char| c.is_ascii_uppercase(),
    schema: "^[A-Z]{2}$", "An ISO 3166-1 alpha-2 country code, upper case (CD, FI, IN)"
);

impl Country {
    /// True when the code has exactly two letters (the alphabet check allows one).
    fn is_complete(&self) -> bool {
        self.0.len() == 2
    }

    /// Parses a two-letter code. Anything else is refused with [`IdError::NotCountryCode`],
    /// which suggests the code when `s` is a lower-case code, an alpha-3 code or an English
    /// name that [`COUNTRY_NAMES`] knows.
    pub fn parse(s: &str) -> Result<Country, IdError> {
        match Country::new(s) {
            Ok(c) if c.is_complete() => Ok(c),
            _ => Err(IdError::NotCountryCode {
                shown: s.chars().take(64).collect(),
                suggestion: suggest_country(s),
            }),
        }
    }
}

/// Country names and alpha-3 codes that suppliers write where an alpha-2 code belongs, with
/// the code they mean: the countries of the battery-material chains the documentation and
/// the demo use, and their main sources and markets. Matched ignoring case, spaces and
/// punctuation. Not a full ISO 3166 table: an unknown name gets the generic message.
pub const COUNTRY_NAMES: &[(&str, &[&str])] = &[
    ("AE", &["ARE", "United Arab Emirates", "UAE", "Emirates"]),
    ("AR", &["ARG", "Argentina"]),
    ("AT", &["AUT", "Austria"]),
    ("AU", &["AUS", "Australia"]),
    ("BE", &["BEL", "Belgium"]),
    ("BO", &["BOL", "Bolivia"]),
    ("BR", &["BRA", "Brazil"]),
    ("CA", &["CAN", "Canada"]),
    (
        "CD",
        &[
            "COD",
            "DR Congo",
            "DRC",
            "Democratic Republic of the Congo",
            "Democratic Republic of Congo",
            "Congo-Kinshasa",
            "Congo (Kinshasa)",
        ],
    ),
    (
        "CG",
        &[
            "COG",
            "Republic of the Congo",
            "Congo-Brazzaville",
            "Congo (Brazzaville)",
        ],
    ),
    ("CH", &["CHE", "Switzerland"]),
    ("CL", &["CHL", "Chile"]),
    ("CN", &["CHN", "China", "People's Republic of China", "PRC"]),
    ("CU", &["CUB", "Cuba"]),
    ("CZ", &["CZE", "Czechia", "Czech Republic"]),
    ("DE", &["DEU", "Germany", "Deutschland"]),
    ("ES", &["ESP", "Spain"]),
    ("FI", &["FIN", "Finland", "Suomi"]),
    ("FR", &["FRA", "France"]),
    (
        "GB",
        &[
            "GBR",
            "United Kingdom",
            "UK",
            "Great Britain",
            "Britain",
            "England",
        ],
    ),
    ("HU", &["HUN", "Hungary"]),
    ("ID", &["IDN", "Indonesia"]),
    ("IN", &["IND", "India"]),
    ("IT", &["ITA", "Italy"]),
    ("JP", &["JPN", "Japan"]),
    ("KR", &["KOR", "South Korea", "Republic of Korea"]),
    ("MA", &["MAR", "Morocco"]),
    ("MG", &["MDG", "Madagascar"]),
    ("MX", &["MEX", "Mexico"]),
    ("MZ", &["MOZ", "Mozambique"]),
    ("NC", &["NCL", "New Caledonia"]),
    ("NL", &["NLD", "Netherlands", "The Netherlands", "Holland"]),
    ("NO", &["NOR", "Norway"]),
    ("PH", &["PHL", "Philippines"]),
    ("PL", &["POL", "Poland"]),
    ("PT", &["PRT", "Portugal"]),
    ("RU", &["RUS", "Russia", "Russian Federation"]),
    ("RW", &["RWA", "Rwanda"]),
    ("SE", &["SWE", "Sweden"]),
    ("SK", &["SVK", "Slovakia"]),
    ("TZ", &["TZA", "Tanzania"]),
    ("UG", &["UGA", "Uganda"]),
    ("US", &["USA", "United States", "United States of America"]),
    ("VN", &["VNM", "Vietnam", "Viet Nam"]),
    ("ZA", &["ZAF", "South Africa"]),
    ("ZM", &["ZMB", "Zambia"]),
    ("ZW", &["ZWE", "Zimbabwe"]),
];

/// The alpha-2 code `s` most likely means: the entry of [`COUNTRY_NAMES`] it matches, else
/// `s` in upper case when it is two letters. (`Congo` alone is ambiguous: no suggestion.)
fn suggest_country(s: &str) -> Option<String> {
    let key = |t: &str| -> String {
        t.chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .collect()
    };
    let wanted = key(s);
    let known = COUNTRY_NAMES
        .iter()
        .find(|(code, names)| key(code) == wanted || names.iter().any(|name| key(name) == wanted));
    match known {
        Some((code, _)) => Some((*code).to_owned()),
        None if s.len() == 2 && s.chars().all(|c| c.is_ascii_alphabetic()) => {
            Some(s.to_ascii_uppercase())
        }
        None => None,
    }
}

impl Component {
    /// Parses a component, which must start with a letter.
    pub fn parse(s: &str) -> Result<Component, IdError> {
        let c = Component::new(s)?;
        match s.chars().next() {
            Some(first) if first.is_ascii_alphabetic() => Ok(c),
            Some(bad) => Err(IdError::Character {
                what: "content component",
                shown: s.chars().take(64).collect(),
                bad,
                allowed: "a letter first",
            }),
            None => Err(IdError::Length {
                what: "content component",
                max: 32,
                len: 0,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn party_ids_accept_the_documented_alphabet() {
        assert!(PartyId::new("kivu-mining").is_ok());
        assert!(PartyId::new("a.b_c:d-E9").is_ok());
        assert!(PartyId::new("x".repeat(128)).is_ok());
    }

    #[test]
    fn party_ids_refuse_empty_long_and_foreign_characters() {
        assert!(matches!(PartyId::new(""), Err(IdError::Length { .. })));
        assert!(matches!(
            PartyId::new("x".repeat(129)),
            Err(IdError::Length { .. })
        ));
        let err = PartyId::new("kivu mining").unwrap_err().to_string();
        assert!(err.contains("' '"), "{err}");
        assert!(PartyId::new("é").is_err());
    }

    #[test]
    fn countries_are_two_upper_case_letters() {
        assert!(Country::parse("CD").is_ok());
        assert!(Country::parse("C").is_err());
        assert!(Country::parse("cd").is_err());
        assert!(Country::parse("COD").is_err());
    }

    #[test]
    fn components_start_with_a_letter() {
        assert!(Component::parse("Co").is_ok());
        assert!(Component::parse("mica").is_ok());
        assert!(Component::parse("9x").is_err());
    }
}
