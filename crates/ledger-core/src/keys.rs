//! Ed25519 keys and signatures, and the one signature acceptance rule every path uses.
//!
//! The rule: a public key must be a canonical encoding of a point that is not of small
//! order (checked once, when the key is parsed); a signature is accepted iff
//! `ed25519-dalek`'s `verify_strict` accepts it (canonical `S`, `R` not of small order,
//! cofactorless equation). Every path (append, replay, `verify --lot`, bundles) calls
//! [`PublicKey::verify`]. There is deliberately no batch verification: `verify_batch`
//! accepts some signatures `verify_strict` refuses (`docs/format.md` §3).

use std::borrow::Cow;
use std::fmt;

use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

/// Why a key or signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The bytes do not decode to a curve point.
    #[error("public key is not a valid ed25519 point")]
    InvalidPoint,
    /// The point has small order: anyone could forge signatures for it.
    #[error("public key has small order and is refused")]
    WeakKey,
    /// The point is valid but not in canonical encoding.
    #[error("public key is not canonically encoded")]
    NonCanonical,
    /// Hex text of the wrong length or alphabet.
    #[error("expected {expected} hex characters")]
    BadHex {
        /// The number of hex characters expected.
        expected: usize,
    },
    /// A PEM file could not be read as an ed25519 key.
    #[error("not an ed25519 {what} PEM: {reason}")]
    Pem {
        /// `private key` or `public key`.
        what: &'static str,
        /// The decoder's reason.
        reason: String,
    },
    /// The signature does not verify under the key.
    #[error("signature does not verify")]
    BadSignature,
}

/// An ed25519 public key that passed the acceptance rule's key checks.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// Parses 32 bytes, refusing invalid, small-order and non-canonical points.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<PublicKey, KeyError> {
        let key = VerifyingKey::from_bytes(bytes).map_err(|_| KeyError::InvalidPoint)?;
        if key.is_weak() {
            return Err(KeyError::WeakKey);
        }
        if key.to_edwards().compress().as_bytes() != bytes {
            return Err(KeyError::NonCanonical);
        }
        Ok(PublicKey(key))
    }

    /// Parses 64 hex characters.
    pub fn from_hex(text: &str) -> Result<PublicKey, KeyError> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).map_err(|_| KeyError::BadHex { expected: 64 })?;
        PublicKey::from_bytes(&bytes)
    }

    /// Reads a `-----BEGIN PUBLIC KEY-----` (SPKI) PEM, as written by OpenSSL.
    pub fn from_pem(text: &str) -> Result<PublicKey, KeyError> {
        let key = VerifyingKey::from_public_key_pem(text.trim()).map_err(|e| KeyError::Pem {
            what: "public key",
            reason: e.to_string(),
        })?;
        PublicKey::from_bytes(key.as_bytes())
    }

    /// The SPKI PEM text.
    pub fn to_pem(&self) -> Result<String, KeyError> {
        self.0
            .to_public_key_pem(Default::default())
            .map_err(|e| KeyError::Pem {
                what: "public key",
                reason: e.to_string(),
            })
    }

    /// The 32-byte encoding.
    pub fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }

    /// Lowercase hex of the encoding.
    pub fn to_hex(&self) -> String {
        hex::encode(self.as_bytes())
    }

    /// The dalek key, for signed-note verifier keys.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.0
    }

    /// Checks `signature` over `message` under the acceptance rule.
    pub fn verify(&self, message: &[u8], signature: &Signature) -> Result<(), KeyError> {
        let sig = ed25519_dalek::Signature::from_bytes(&signature.0);
        self.0
            .verify_strict(message, &sig)
            .map_err(|_| KeyError::BadSignature)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_hex())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for PublicKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&self.to_hex())
        } else {
            self.as_bytes().serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            PublicKey::from_hex(&text).map_err(serde::de::Error::custom)
        } else {
            let bytes = <[u8; 32]>::deserialize(deserializer)?;
            PublicKey::from_bytes(&bytes).map_err(serde::de::Error::custom)
        }
    }
}

impl JsonSchema for PublicKey {
    fn schema_name() -> Cow<'static, str> {
        "PublicKey".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^[0-9A-Fa-f]{64}$",
            "description": "An ed25519 public key: its 32 bytes as 64 hex digits, the canonical \
                encoding of a curve point that is not of small order",
        })
    }
}

/// A public key as its 32 bytes, unchecked: the signer field of a statement.
///
/// Decoding every entry must not decompress its signer's curve point (a few microseconds
/// each): the rules accept a statement only when these bytes equal a key enrolled for its
/// actor, and enrolled keys were checked as [`PublicKey`]s when they were enrolled. Checking
/// a signature under these bytes applies the same acceptance rule ([`KeyBytes::verify`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyBytes(pub [u8; 32]);

impl KeyBytes {
    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The checked key, if these bytes are one.
    pub fn parse(&self) -> Result<PublicKey, KeyError> {
        PublicKey::from_bytes(&self.0)
    }

    /// Checks `signature` over `message` under the acceptance rule: the bytes must be a
    /// valid key and the signature must pass `verify_strict`.
    pub fn verify(&self, message: &[u8], signature: &Signature) -> Result<(), KeyError> {
        self.parse()?.verify(message, signature)
    }
}

impl From<PublicKey> for KeyBytes {
    fn from(key: PublicKey) -> KeyBytes {
        KeyBytes(*key.as_bytes())
    }
}

impl PartialEq<PublicKey> for KeyBytes {
    fn eq(&self, other: &PublicKey) -> bool {
        &self.0 == other.as_bytes()
    }
}

impl PartialEq<KeyBytes> for PublicKey {
    fn eq(&self, other: &KeyBytes) -> bool {
        self.as_bytes() == &other.0
    }
}

impl fmt::Debug for KeyBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyBytes({})", self.to_hex())
    }
}

impl fmt::Display for KeyBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for KeyBytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&self.to_hex())
        } else {
            self.0.serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for KeyBytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            let mut bytes = [0u8; 32];
            hex::decode_to_slice(&text, &mut bytes)
                .map_err(|_| serde::de::Error::custom(KeyError::BadHex { expected: 64 }))?;
            Ok(KeyBytes(bytes))
        } else {
            <[u8; 32]>::deserialize(deserializer).map(KeyBytes)
        }
    }
}

/// A 64-byte ed25519 signature, as bytes; whether it verifies is decided by
/// [`PublicKey::verify`].
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature(pub [u8; 64]);

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", hex::encode(self.0))
    }
}

impl Serialize for Signature {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&hex::encode(self.0))
        } else {
            // serde implements arrays only up to 32 elements: write two halves as a tuple.
            use serde::ser::SerializeTuple;
            let mut tuple = serializer.serialize_tuple(64)?;
            for byte in &self.0 {
                tuple.serialize_element(byte)?;
            }
            tuple.end()
        }
    }
}

impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            let mut bytes = [0u8; 64];
            hex::decode_to_slice(&text, &mut bytes)
                .map_err(|_| serde::de::Error::custom(KeyError::BadHex { expected: 128 }))?;
            Ok(Signature(bytes))
        } else {
            deserializer.deserialize_tuple(64, SignatureVisitor)
        }
    }
}

struct SignatureVisitor;

impl<'de> serde::de::Visitor<'de> for SignatureVisitor {
    type Value = Signature;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("64 signature bytes")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Signature, A::Error> {
        let mut bytes = [0u8; 64];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = seq
                .next_element()?
                .ok_or_else(|| serde::de::Error::invalid_length(i, &self))?;
        }
        Ok(Signature(bytes))
    }
}

/// An ed25519 private key. The dalek key wipes itself on drop; PEM text is returned in a
/// wiping wrapper. It is deliberately not `Debug`, `Display` or `Serialize`.
pub struct SecretKey(SigningKey);

impl SecretKey {
    /// A fresh key from the operating system's random generator.
    pub fn generate() -> SecretKey {
        SecretKey(SigningKey::generate(&mut rand::rngs::OsRng))
    }

    /// A key from a 32-byte seed. Used for deterministic **test** keys only.
    pub fn from_seed(seed: &[u8; 32]) -> SecretKey {
        SecretKey(SigningKey::from_bytes(seed))
    }

    /// Reads an unencrypted PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), as OpenSSL writes.
    pub fn from_pkcs8_pem(text: &str) -> Result<SecretKey, KeyError> {
        SigningKey::from_pkcs8_pem(text.trim())
            .map(SecretKey)
            .map_err(|e| KeyError::Pem {
                what: "private key",
                reason: e.to_string(),
            })
    }

    /// The key as an RFC 8410 PKCS#8 v1 document (the seed only), the form
    /// `openssl genpkey -algorithm ed25519` writes. ed25519-dalek's own encoder writes v2
    /// with the public key attached, which OpenSSL 3.0 cannot read.
    pub fn to_pkcs8_der(&self) -> Result<ed25519_dalek::pkcs8::SecretDocument, KeyError> {
        let seed = Zeroizing::new(self.0.to_bytes());
        ed25519_dalek::pkcs8::KeypairBytes {
            secret_key: *seed,
            public_key: None,
        }
        .to_pkcs8_der()
        .map_err(|e| KeyError::Pem {
            what: "private key",
            reason: e.to_string(),
        })
    }

    /// The PKCS#8 v1 PEM text (`-----BEGIN PRIVATE KEY-----`), readable by OpenSSL.
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, KeyError> {
        self.to_pkcs8_der()?
            .to_pem("PRIVATE KEY", Default::default()) // LF line endings
            .map_err(|e| KeyError::Pem {
                what: "private key",
                reason: e.to_string(),
            })
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// Signs `message`.
    pub fn sign(&self, message: &[u8]) -> Signature {
        Signature(self.0.sign(message).to_bytes())
    }

    /// The dalek key, for the signed-note signer.
    pub fn signing_key(&self) -> &SigningKey {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_and_pem_round_trip() {
        let key = SecretKey::from_seed(&[7; 32]);
        let sig = key.sign(b"hello");
        assert_eq!(key.public_key().verify(b"hello", &sig), Ok(()));
        assert_eq!(
            key.public_key().verify(b"hellO", &sig),
            Err(KeyError::BadSignature)
        );

        let pem = key.to_pkcs8_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let again = SecretKey::from_pkcs8_pem(&pem).unwrap();
        assert_eq!(again.public_key(), key.public_key());

        let public = key.public_key().to_pem().unwrap();
        assert_eq!(PublicKey::from_pem(&public).unwrap(), key.public_key());
    }

    #[test]
    fn small_order_and_non_canonical_keys_are_refused() {
        // The identity point (small order).
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(PublicKey::from_bytes(&identity), Err(KeyError::WeakKey));
        // y = p + 1 is a non-canonical encoding of the identity's y = 1... also small order;
        // y = 2^255 - 19 + 3 (non-canonical 3) is not on the curve or is refused.
        let mut non_canonical = [0xffu8; 32];
        non_canonical[0] = 0xee;
        non_canonical[31] = 0x7f;
        assert!(PublicKey::from_bytes(&non_canonical).is_err());
    }
}
