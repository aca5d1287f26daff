//! Whole-second UTC timestamps. Suppliers write RFC 3339 (`2026-03-02T08:15:00Z`); the
//! canonical codec stores seconds since the Unix epoch as a signed 64-bit integer.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A UTC instant with one-second resolution, between 1970-01-01 and 9999-12-31.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(i64);

/// The last second of 9999-12-31.
const MAX_SECONDS: i64 = 253_402_300_799;

/// Why a timestamp was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimestampError {
    /// Not an RFC 3339 date-time, or an impossible date such as February 30.
    #[error("{0:?} is not a valid RFC 3339 date-time (e.g. 2026-03-02T08:15:00Z)")]
    Syntax(String),
    /// The offset is not `Z`.
    #[error("{0:?} must be in UTC, ending in Z")]
    NotUtc(String),
    /// The time has fractions of a second.
    #[error("{0:?} has fractions of a second; the ledger records whole seconds")]
    Fraction(String),
    /// Before 1970 or after 9999.
    #[error("{0} is outside 1970-01-01 to 9999-12-31")]
    OutOfRange(i64),
}

impl Timestamp {
    /// Seconds since the Unix epoch, checked against the supported range.
    pub fn from_unix(seconds: i64) -> Result<Timestamp, TimestampError> {
        if (0..=MAX_SECONDS).contains(&seconds) {
            Ok(Timestamp(seconds))
        } else {
            Err(TimestampError::OutOfRange(seconds))
        }
    }

    /// Seconds since the Unix epoch.
    pub fn unix(self) -> i64 {
        self.0
    }

    /// Parses `YYYY-MM-DDTHH:MM:SSZ`.
    pub fn parse(text: &str) -> Result<Timestamp, TimestampError> {
        let shown = || text.chars().take(40).collect::<String>();
        let parsed =
            OffsetDateTime::parse(text, &Rfc3339).map_err(|_| TimestampError::Syntax(shown()))?;
        if !text.ends_with('Z') {
            return Err(TimestampError::NotUtc(shown()));
        }
        if parsed.nanosecond() != 0 {
            return Err(TimestampError::Fraction(shown()));
        }
        Timestamp::from_unix(parsed.unix_timestamp())
    }

    /// This instant plus `seconds` (saturating at the range's end).
    pub fn plus(self, seconds: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(seconds).clamp(0, MAX_SECONDS))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match OffsetDateTime::from_unix_timestamp(self.0) {
            Ok(t) => write!(
                f,
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            ),
            Err(_) => write!(f, "@{}", self.0),
        }
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({self})")
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(self)
        } else {
            serializer.serialize_i64(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            Timestamp::parse(&text).map_err(serde::de::Error::custom)
        } else {
            Timestamp::from_unix(i64::deserialize(deserializer)?).map_err(serde::de::Error::custom)
        }
    }
}

impl JsonSchema for Timestamp {
    fn schema_name() -> Cow<'static, str> {
        "Time".into()
    }

    /// What [`Timestamp::parse`] reads: RFC 3339 in UTC, ending in `Z`, whole seconds (a
    /// fraction of zeros is allowed), with `T`, `t` or a space between date and time.
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.0+)?Z$",
            "description": "A UTC instant in RFC 3339 with whole seconds, such as \
                2026-03-02T08:15:00Z, from 1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z; \
                the date must exist",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_utc_seconds() {
        let t = Timestamp::parse("2026-03-02T08:15:00Z").unwrap();
        assert_eq!(t.unix(), 1_772_439_300);
        assert_eq!(t.to_string(), "2026-03-02T08:15:00Z");
    }

    #[test]
    fn refuses_impossible_dates_offsets_and_fractions() {
        assert!(matches!(
            Timestamp::parse("2026-02-30T00:00:00Z"),
            Err(TimestampError::Syntax(_))
        ));
        assert!(matches!(
            Timestamp::parse("2026-03-02"),
            Err(TimestampError::Syntax(_))
        ));
        assert!(matches!(
            Timestamp::parse("2026-03-02T08:15:00+01:00"),
            Err(TimestampError::NotUtc(_))
        ));
        assert!(matches!(
            Timestamp::parse("2026-03-02T08:15:00.5Z"),
            Err(TimestampError::Fraction(_))
        ));
        assert!(matches!(
            Timestamp::parse("1969-12-31T23:59:59Z"),
            Err(TimestampError::OutOfRange(_))
        ));
    }
}
