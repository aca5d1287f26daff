//! The canonical codec: the only module that knows the byte encoding.
//!
//! It is bincode 2.0.1 in serde mode with the "legacy" configuration: little-endian,
//! fixed-width integers (u64 lengths, u32 enum tags, one byte for `Option`), no padding.
//! `docs/format.md` spells the layout out and `fixtures/golden/` pins it, so replacing
//! bincode (3.0.0 is an empty tombstone release) must reproduce these bytes exactly.
//! Decoding has a size limit and rejects trailing bytes, so every value has exactly one
//! encoding that decodes.

use bincode::config::{self, Configuration, Fixint, Limit, LittleEndian};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The largest encoded value accepted: 1 MiB.
pub const MAX_ENCODED: usize = 1 << 20;

/// The largest value accepted by [`encode_large`] and [`decode_large`]: 256 MiB. Evidence
/// bundles hold many entries of up to [`MAX_ENCODED`] each; the bytes are the same as the
/// ones [`encode`] would give without its limit.
pub const MAX_LARGE_ENCODED: usize = 256 << 20;

const CONFIG: Configuration<LittleEndian, Fixint, Limit<MAX_ENCODED>> =
    config::legacy().with_limit::<MAX_ENCODED>();

const LARGE_CONFIG: Configuration<LittleEndian, Fixint, Limit<MAX_LARGE_ENCODED>> =
    config::legacy().with_limit::<MAX_LARGE_ENCODED>();

/// Why bytes could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// Encoding failed (a value too large for the limit).
    #[error("cannot encode: {0}")]
    Encode(String),
    /// The bytes are not a valid encoding of the expected type.
    #[error("cannot decode: {0}")]
    Decode(String),
    /// A valid value was followed by extra bytes.
    #[error("{0} trailing bytes after the value")]
    TrailingBytes(usize),
    /// The input is larger than [`MAX_ENCODED`].
    #[error("{0} bytes exceed the limit of {MAX_ENCODED}")]
    TooLarge(usize),
    /// The bytes decode, but are not the canonical encoding of what they decode to (for
    /// example map keys out of order).
    #[error("bytes are not in canonical form")]
    NonCanonical,
}

/// Canonical bytes of `value`.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, CodecError> {
    let bytes = bincode::serde::encode_to_vec(value, CONFIG)
        .map_err(|e| CodecError::Encode(e.to_string()))?;
    if bytes.len() > MAX_ENCODED {
        return Err(CodecError::TooLarge(bytes.len()));
    }
    Ok(bytes)
}

/// Decodes exactly one value from all of `bytes`, which must be its canonical encoding:
/// re-encoding the value must give the same bytes, so no value has two encodings.
pub fn decode<T: Serialize + DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let value = decode_lenient(bytes)?;
    if encode(&value)? != bytes {
        return Err(CodecError::NonCanonical);
    }
    Ok(value)
}

/// Decodes exactly one value from all of `bytes` without the canonical-form check, for
/// records whose bytes are never hashed (store indexes).
pub fn decode_lenient<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    if bytes.len() > MAX_ENCODED {
        return Err(CodecError::TooLarge(bytes.len()));
    }
    let (value, used) = bincode::serde::decode_from_slice(bytes, CONFIG)
        .map_err(|e| CodecError::Decode(describe(&e)))?;
    if used != bytes.len() {
        return Err(CodecError::TrailingBytes(bytes.len() - used));
    }
    Ok(value)
}

/// A decoding failure in words: bincode's own messages show its error's `Debug` form.
fn describe(e: &bincode::error::DecodeError) -> String {
    use bincode::error::DecodeError as E;
    match e {
        E::UnexpectedEnd { additional } => {
            format!("the bytes end {additional} byte(s) before the value does")
        }
        E::LimitExceeded => "a length is larger than the limit".to_owned(),
        E::InvalidBooleanValue(b) => format!("{b} is not a boolean (0 or 1)"),
        E::UnexpectedVariant {
            type_name, found, ..
        } => {
            format!("{found} is not a variant of {type_name}")
        }
        E::Utf8 { .. } => "a string is not valid UTF-8".to_owned(),
        E::InvalidCharEncoding(_) => "a character is not valid UTF-8".to_owned(),
        E::OutsideUsizeRange(n) => format!("a length of {n} is out of range"),
        E::OtherString(text) => text.clone(),
        E::Other(text) => (*text).to_owned(),
        _ => "the bytes are not a valid encoding".to_owned(),
    }
}

/// Canonical bytes of `value`, allowing up to [`MAX_LARGE_ENCODED`] bytes (evidence bundles).
pub fn encode_large<T: Serialize>(value: &T) -> Result<Vec<u8>, CodecError> {
    let bytes = bincode::serde::encode_to_vec(value, LARGE_CONFIG)
        .map_err(|e| CodecError::Encode(e.to_string()))?;
    if bytes.len() > MAX_LARGE_ENCODED {
        return Err(CodecError::TooLarge(bytes.len()));
    }
    Ok(bytes)
}

/// [`decode`] with the limit of [`MAX_LARGE_ENCODED`] bytes: exactly one value from all of
/// `bytes`, which must be its canonical encoding.
pub fn decode_large<T: Serialize + DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    if bytes.len() > MAX_LARGE_ENCODED {
        return Err(CodecError::TooLarge(bytes.len()));
    }
    let (value, used) = bincode::serde::decode_from_slice(bytes, LARGE_CONFIG)
        .map_err(|e| CodecError::Decode(describe(&e)))?;
    if used != bytes.len() {
        return Err(CodecError::TrailingBytes(bytes.len() - used));
    }
    if encode_large(&value)? != bytes {
        return Err(CodecError::NonCanonical);
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_fixed_width_little_endian() {
        assert_eq!(encode(&1u64).unwrap(), [1, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(encode(&Some(2u8)).unwrap(), [1, 2]);
        assert_eq!(encode(&"ab").unwrap(), [2, 0, 0, 0, 0, 0, 0, 0, b'a', b'b']);
    }

    #[test]
    fn trailing_bytes_and_truncation_are_refused() {
        assert_eq!(
            decode::<u32>(&[1, 0, 0, 0, 9]),
            Err(CodecError::TrailingBytes(1))
        );
        assert!(matches!(
            decode::<u64>(&[1, 0, 0]),
            Err(CodecError::Decode(_))
        ));
    }

    #[test]
    fn non_canonical_map_order_is_refused() {
        use std::collections::BTreeMap;
        let map: BTreeMap<String, u8> = [("a".to_owned(), 1), ("b".to_owned(), 2)]
            .into_iter()
            .collect();
        let canonical = encode(&map).unwrap();
        // Swap the two entries: it still decodes to the same map, but is not canonical.
        let mut swapped = canonical[..8].to_vec();
        swapped.extend(&canonical[8 + 10..]);
        swapped.extend(&canonical[8..8 + 10]);
        assert_eq!(
            decode_lenient::<BTreeMap<String, u8>>(&swapped).unwrap(),
            map
        );
        assert_eq!(
            decode::<BTreeMap<String, u8>>(&swapped),
            Err(CodecError::NonCanonical)
        );
    }

    #[test]
    fn huge_claimed_lengths_do_not_allocate() {
        // A vector claiming 2^60 elements must fail on the limit, not try to allocate.
        let mut bytes = (1u64 << 60).to_le_bytes().to_vec();
        bytes.extend([0; 16]);
        assert!(decode::<Vec<u64>>(&bytes).is_err());
    }
}
