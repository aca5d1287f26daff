//! Exact quantities. Suppliers write decimals (`19950.5` kg, `0.031` Co); the ledger keeps
//! integers (grams, pieces, parts per million, milligrams per piece), so nothing that is
//! signed, hashed or balanced ever passes through floating point.

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::id::Component;

/// The largest lot quantity in grams: a million tonnes.
pub const MAX_GRAMS: u64 = 1_000_000_000_000;
/// The largest lot quantity in pieces.
pub const MAX_PIECES: u64 = 1_000_000_000_000;
/// The largest content of one component in a piece: one tonne, in milligrams.
pub const MAX_MG_PER_PIECE: u64 = 1_000_000_000;
/// Parts per million in a whole.
pub const PPM: u64 = 1_000_000;

/// How a lot is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// By mass; quantities in grams, written in kilograms.
    Kg,
    /// By count; quantities in whole pieces.
    Pcs,
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Unit::Kg => "kg",
            Unit::Pcs => "pcs",
        })
    }
}

/// An exact amount of a lot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Quantity {
    /// Mass in grams.
    Grams(u64),
    /// A whole number of pieces.
    Pieces(u64),
}

impl Quantity {
    /// The unit this quantity is counted in.
    pub fn unit(self) -> Unit {
        match self {
            Quantity::Grams(_) => Unit::Kg,
            Quantity::Pieces(_) => Unit::Pcs,
        }
    }

    /// The integer amount, in grams or pieces.
    pub fn amount(self) -> u64 {
        match self {
            Quantity::Grams(n) | Quantity::Pieces(n) => n,
        }
    }

    /// The same unit with another amount.
    pub fn with_amount(self, amount: u64) -> Quantity {
        match self {
            Quantity::Grams(_) => Quantity::Grams(amount),
            Quantity::Pieces(_) => Quantity::Pieces(amount),
        }
    }

    /// Builds a quantity of `unit`.
    pub fn of(unit: Unit, amount: u64) -> Quantity {
        match unit {
            Unit::Kg => Quantity::Grams(amount),
            Unit::Pcs => Quantity::Pieces(amount),
        }
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Quantity::Grams(g) => write!(f, "{} kg", Milli(*g)),
            Quantity::Pieces(n) => write!(f, "{n} pcs"),
        }
    }
}

/// Content of a lot per unit of quantity: parts per million of mass for `kg` lots,
/// milligrams per piece for `pcs` lots. Ordered by component, each once, so it encodes
/// canonically.
///
/// A sorted vector with a map's interface. It serializes, deserializes (a repeated
/// component: the last value wins) and describes itself in JSON Schema exactly as the
/// `BTreeMap<Component, u64>` it replaced, so every signed and stored byte is unchanged; but
/// a lot has one to a few components, and a B-tree allocates a node of eleven even for one
/// (368 bytes), of which the state keeps one per lot.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Content(Vec<(Component, u64)>);

impl Content {
    /// No components.
    pub fn new() -> Content {
        Content(Vec::new())
    }

    /// Sets `component` to `value`, returning the value it replaced.
    pub fn insert(&mut self, component: Component, value: u64) -> Option<u64> {
        match self.0.binary_search_by(|(c, _)| c.cmp(&component)) {
            Ok(i) => self
                .0
                .get_mut(i)
                .map(|(_, old)| std::mem::replace(old, value)),
            Err(i) => {
                self.0.insert(i, (component, value));
                None
            }
        }
    }

    /// The value of `component`.
    pub fn get(&self, component: &Component) -> Option<&u64> {
        let i = self.0.binary_search_by(|(c, _)| c.cmp(component)).ok()?;
        self.0.get(i).map(|(_, v)| v)
    }

    /// Whether `component` is listed.
    pub fn contains_key(&self, component: &Component) -> bool {
        self.get(component).is_some()
    }

    /// The components and their values, in component order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&Component, &u64)> + ExactSizeIterator {
        self.0.iter().map(|(c, v)| (c, v))
    }

    /// The components, in order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &Component> + ExactSizeIterator {
        self.0.iter().map(|(c, _)| c)
    }

    /// The values, in component order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &u64> + ExactSizeIterator {
        self.0.iter().map(|(_, v)| v)
    }

    /// How many components are listed.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `pairs` sorted by component, keeping the last value of a repeated one (as inserting
    /// them into a map one by one would).
    fn from_pairs(mut pairs: Vec<(Component, u64)>) -> Content {
        // Stable: of equal components, the last inserted stays last.
        pairs.sort_by(|(a, _), (b, _)| a.cmp(b));
        let mut sorted: Vec<(Component, u64)> = Vec::with_capacity(pairs.len());
        for (component, value) in pairs {
            match sorted.last_mut() {
                Some(last) if last.0 == component => last.1 = value,
                _ => sorted.push((component, value)),
            }
        }
        Content(sorted)
    }
}

impl FromIterator<(Component, u64)> for Content {
    fn from_iter<I: IntoIterator<Item = (Component, u64)>>(pairs: I) -> Content {
        Content::from_pairs(pairs.into_iter().collect())
    }
}

impl<const N: usize> From<[(Component, u64); N]> for Content {
    fn from(pairs: [(Component, u64); N]) -> Content {
        Content::from_pairs(pairs.into())
    }
}

impl<'a> IntoIterator for &'a Content {
    type Item = (&'a Component, &'a u64);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (Component, u64)>,
        fn(&'a (Component, u64)) -> (&'a Component, &'a u64),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(c, v)| (c, v))
    }
}

impl Serialize for Content {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for Content {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Content, D::Error> {
        struct Pairs;
        impl<'de> serde::de::Visitor<'de> for Pairs {
            type Value = Content;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of components to integers")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Content, A::Error> {
                // The claimed length comes from the input: reserve only a little up front.
                let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(0).min(16));
                while let Some(pair) = map.next_entry()? {
                    pairs.push(pair);
                }
                Ok(Content::from_pairs(pairs))
            }
        }
        deserializer.deserialize_map(Pairs)
    }
}

impl JsonSchema for Content {
    fn inline_schema() -> bool {
        <BTreeMap<Component, u64>>::inline_schema()
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        <BTreeMap<Component, u64>>::schema_name()
    }
    fn schema_id() -> std::borrow::Cow<'static, str> {
        <BTreeMap<Component, u64>>::schema_id()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        <BTreeMap<Component, u64>>::json_schema(generator)
    }
}

/// Mass of `component` in `quantity` of a lot with `content`, in micrograms.
///
/// Grams × ppm is micrograms; pieces × mg/piece × 1000 is micrograms. `u128` cannot
/// overflow within the documented limits.
pub fn component_micrograms(quantity: Quantity, content: &Content, component: &Component) -> u128 {
    let per_unit = u128::from(content.get(component).copied().unwrap_or(0));
    match quantity {
        Quantity::Grams(g) => u128::from(g) * per_unit,
        Quantity::Pieces(n) => u128::from(n) * per_unit * 1000,
    }
}

/// The total mass of `quantity` of a lot whose pieces weigh `unit_mass_mg` each, in
/// micrograms (a `kg` lot's quantity is its mass; a `pcs` lot without a unit mass weighs
/// nothing, which validation never lets through for a new lot).
pub fn mass_micrograms(quantity: Quantity, unit_mass_mg: Option<u64>) -> u128 {
    match quantity {
        Quantity::Grams(g) => u128::from(g) * 1_000_000,
        Quantity::Pieces(n) => u128::from(n) * u128::from(unit_mass_mg.unwrap_or(0)) * 1000,
    }
}

/// Displays an integer count of thousandths as a decimal (`19950500` → `19950.5`).
#[derive(Debug, Clone, Copy)]
pub struct Milli(pub u64);

impl fmt::Display for Milli {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Scaled(self.0, 3).fmt(f)
    }
}

/// Displays an integer scaled by `10^decimals` without trailing zeros.
#[derive(Debug, Clone, Copy)]
pub struct Scaled(pub u64, pub u32);

impl fmt::Display for Scaled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let div = 10u64.pow(self.1);
        let (whole, frac) = (self.0 / div, self.0 % div);
        if frac == 0 {
            return write!(f, "{whole}");
        }
        let digits = format!("{frac:0width$}", width = self.1 as usize);
        write!(f, "{whole}.{}", digits.trim_end_matches('0'))
    }
}

/// Why a decimal number was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecimalError {
    /// The text is not a plain decimal number.
    #[error("{0:?} is not a plain decimal number")]
    Syntax(String),
    /// The number uses an exponent (`1e3`).
    #[error("write {0} without an exponent")]
    Exponent(String),
    /// The number is negative where only positive numbers make sense.
    #[error("must not be negative, found {0}")]
    Negative(String),
    /// The number has more decimals than the unit allows.
    #[error("at most {max} decimals allowed, found {found}")]
    TooManyDecimals {
        /// Decimals allowed.
        max: u32,
        /// Decimals written.
        found: usize,
    },
    /// The number is larger than the documented limit.
    #[error("{value} is larger than the limit {limit}")]
    TooLarge {
        /// The number as written.
        value: String,
        /// The limit, in the same unit as written.
        limit: String,
    },
    /// A signed number (a latitude or longitude) lies outside `-limit..=limit`.
    #[error("{value} is out of range -{limit} to {limit}")]
    OutOfRange {
        /// The number as written.
        value: String,
        /// The largest magnitude allowed, in the same unit as written.
        limit: String,
    },
}

/// Parses a JSON number (as written) into an integer count of `10^-decimals` units,
/// refusing negatives, exponents and excess precision. `limit` is in the scaled unit.
///
/// ```
/// use ledger_core::quantity::parse_scaled;
/// assert_eq!(parse_scaled("19950.5", 3, u64::MAX), Ok(19_950_500));
/// assert!(parse_scaled("0.0000001", 6, u64::MAX).is_err());
/// ```
pub fn parse_scaled(text: &str, decimals: u32, limit: u64) -> Result<u64, DecimalError> {
    match parse_magnitude(text, decimals, limit) {
        Ok((true, value)) if value != 0 => Err(DecimalError::Negative(text.to_owned())),
        Ok((_, value)) => Ok(value),
        // A negative number is refused for its sign, not for its size.
        Err(DecimalError::TooLarge { .. }) if text.starts_with('-') => {
            Err(DecimalError::Negative(text.to_owned()))
        }
        Err(e) => Err(e),
    }
}

/// Like [`parse_scaled`] but allows a sign (for latitudes and longitudes): the magnitude
/// must be at most `limit`, and a number outside `-limit..=limit` is
/// [`DecimalError::OutOfRange`].
///
/// ```
/// use ledger_core::quantity::parse_signed_scaled;
/// assert_eq!(parse_signed_scaled("-10.71", 6, 90_000_000), Ok((true, 10_710_000)));
/// let err = parse_signed_scaled("-128", 6, 90_000_000).unwrap_err();
/// assert_eq!(err.to_string(), "-128 is out of range -90 to 90");
/// ```
pub fn parse_signed_scaled(
    text: &str,
    decimals: u32,
    limit: u64,
) -> Result<(bool, u64), DecimalError> {
    parse_magnitude(text, decimals, limit).map_err(|e| match e {
        DecimalError::TooLarge { value, limit } => DecimalError::OutOfRange { value, limit },
        other => other,
    })
}

/// The sign and the scaled magnitude of `text`; [`DecimalError::TooLarge`] when the
/// magnitude exceeds `limit`.
fn parse_magnitude(text: &str, decimals: u32, limit: u64) -> Result<(bool, u64), DecimalError> {
    let shown = || text.chars().take(40).collect::<String>();
    if text.contains(['e', 'E']) {
        return Err(DecimalError::Exponent(shown()));
    }
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, frac) = match body.split_once('.') {
        Some((w, f)) => (w, f),
        None => (body, ""),
    };
    let digits_ok = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty()
        || !digits_ok(whole)
        || !digits_ok(frac)
        || (body.contains('.') && frac.is_empty())
    {
        return Err(DecimalError::Syntax(shown()));
    }
    let significant = frac.trim_end_matches('0');
    if significant.len() > decimals as usize {
        return Err(DecimalError::TooManyDecimals {
            max: decimals,
            found: significant.len(),
        });
    }
    let too_large = || DecimalError::TooLarge {
        value: shown(),
        limit: Scaled(limit, decimals).to_string(),
    };
    let whole = whole.trim_start_matches('0');
    if whole.len() > 20 {
        return Err(too_large());
    }
    let mut value: u64 = 0;
    let scale = 10u64.pow(decimals);
    for b in whole.bytes() {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(b - b'0')))
            .ok_or_else(too_large)?;
    }
    value = value.checked_mul(scale).ok_or_else(too_large)?;
    let mut frac_value: u64 = 0;
    for i in 0..decimals as usize {
        let digit = significant
            .as_bytes()
            .get(i)
            .map_or(0, |b| u64::from(b - b'0'));
        frac_value = frac_value * 10 + digit;
    }
    value = value.checked_add(frac_value).ok_or_else(too_large)?;
    if value > limit {
        return Err(too_large());
    }
    Ok((negative, value))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn component(n: u8) -> Component {
        Component::parse(&format!("C{n}")).unwrap()
    }

    proptest! {
        /// Whatever the order and repetitions of its pairs, content encodes (codec and
        /// JSON), decodes and reads back exactly as the `BTreeMap` it replaced.
        #[test]
        fn content_is_byte_for_byte_the_map_it_replaced(
            pairs in proptest::collection::vec((0u8..12, any::<u64>()), 0..24),
        ) {
            let pairs: Vec<(Component, u64)> =
                pairs.into_iter().map(|(n, v)| (component(n), v)).collect();
            let map: BTreeMap<Component, u64> = pairs.iter().cloned().collect();
            let content: Content = pairs.iter().cloned().collect();
            let mut inserted = Content::new();
            let mut model = BTreeMap::new();
            for (c, v) in pairs.iter().cloned() {
                prop_assert_eq!(inserted.insert(c.clone(), v), model.insert(c, v));
            }
            prop_assert_eq!(&inserted, &content);
            prop_assert_eq!(content.len(), map.len());
            prop_assert!(content.iter().eq(map.iter()));
            for n in 0u8..12 {
                prop_assert_eq!(content.get(&component(n)), map.get(&component(n)));
            }
            let bytes = crate::codec::encode(&map).unwrap();
            prop_assert_eq!(crate::codec::encode(&content).unwrap(), bytes.clone());
            prop_assert_eq!(crate::codec::decode::<Content>(&bytes).unwrap(), content.clone());
            let json = serde_json::to_string(&map).unwrap();
            prop_assert_eq!(serde_json::to_string(&content).unwrap(), json.clone());
            prop_assert_eq!(serde_json::from_str::<Content>(&json).unwrap(), content);
        }
    }

    #[test]
    fn content_keeps_the_last_of_a_repeated_component_as_a_map_does() {
        let json = r#"{"Ni":5,"Co":1,"Co":2}"#;
        let map: BTreeMap<Component, u64> = serde_json::from_str(json).unwrap();
        let content: Content = serde_json::from_str(json).unwrap();
        assert!(content.iter().eq(map.iter()));
        assert_eq!(content.get(&Component::parse("Co").unwrap()), Some(&2));
    }

    #[test]
    fn content_has_the_json_schema_of_the_map_it_replaced() {
        let map =
            schemars::SchemaGenerator::default().into_root_schema_for::<BTreeMap<Component, u64>>();
        let content = schemars::SchemaGenerator::default().into_root_schema_for::<Content>();
        assert_eq!(
            serde_json::to_value(&content).unwrap(),
            serde_json::to_value(&map).unwrap()
        );
    }

    #[test]
    fn decimals_become_exact_integers() {
        assert_eq!(parse_scaled("50000", 3, MAX_GRAMS), Ok(50_000_000));
        assert_eq!(parse_scaled("0.031", 6, PPM), Ok(31_000));
        assert_eq!(parse_scaled("1.000000", 6, PPM), Ok(1_000_000));
        assert_eq!(
            parse_scaled("0.0310000", 6, PPM),
            Ok(31_000),
            "trailing zeros are not precision"
        );
        assert_eq!(
            parse_signed_scaled("-10.71", 6, 90_000_000),
            Ok((true, 10_710_000))
        );
    }

    #[test]
    fn bad_decimals_are_refused_with_the_reason() {
        assert!(matches!(
            parse_scaled("-1", 3, MAX_GRAMS),
            Err(DecimalError::Negative(_))
        ));
        assert!(matches!(
            parse_scaled("1.0001", 3, MAX_GRAMS),
            Err(DecimalError::TooManyDecimals { max: 3, found: 4 })
        ));
        assert!(matches!(
            parse_scaled("1e3", 3, MAX_GRAMS),
            Err(DecimalError::Exponent(_))
        ));
        assert!(matches!(
            parse_scaled("1.5", 0, MAX_PIECES),
            Err(DecimalError::TooManyDecimals { .. })
        ));
        assert!(matches!(
            parse_scaled("1.01", 6, PPM),
            Err(DecimalError::TooLarge { .. })
        ));
        assert!(matches!(
            parse_scaled("99999999999999999999999999", 3, MAX_GRAMS),
            Err(DecimalError::TooLarge { .. })
        ));
        assert!(matches!(
            parse_scaled("1.", 3, MAX_GRAMS),
            Err(DecimalError::Syntax(_))
        ));
        assert!(matches!(
            parse_scaled(".5", 3, MAX_GRAMS),
            Err(DecimalError::Syntax(_))
        ));
        assert!(
            matches!(
                parse_scaled("-99999999999999999999999999", 3, MAX_GRAMS),
                Err(DecimalError::Negative(_))
            ),
            "a huge negative number is refused for its sign"
        );
    }

    #[test]
    fn scaled_values_display_without_trailing_zeros() {
        assert_eq!(Milli(19_950_500).to_string(), "19950.5");
        assert_eq!(Milli(20_000_000).to_string(), "20000");
        assert_eq!(Quantity::Grams(1).to_string(), "0.001 kg");
        assert_eq!(Quantity::Pieces(12).to_string(), "12 pcs");
    }

    #[test]
    fn component_mass_is_exact_in_micrograms() {
        let co = Component::parse("Co").unwrap();
        let content: Content = [(co.clone(), 31_000)].into_iter().collect();
        // 50 t of ore at 3.1 % Co is 1550 kg of cobalt.
        assert_eq!(
            component_micrograms(Quantity::Grams(50_000_000), &content, &co),
            1_550_000_000_000
        );
        // 10 pieces at 2 g each is 20 g.
        let pcs: Content = [(co.clone(), 2_000)].into_iter().collect();
        assert_eq!(
            component_micrograms(Quantity::Pieces(10), &pcs, &co),
            20_000_000
        );
    }
}
