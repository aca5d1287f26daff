//! Ed25519 keys and signatures, and the one signature acceptance rule every path uses
//! (SPEC §3, `docs/format.md` §3).
//!
//! **Keys.** A public key is accepted once, when it is parsed ([`PublicKey::from_bytes`],
//! and through it hex, PEM, JSON and the codec): its 32 bytes must be the canonical
//! encoding of a curve point (RFC 8032 §5.1.3 decoding, which refuses `y ≥ p` and a set
//! sign bit with `x = 0`) that is not of small order and lies in the prime-order subgroup
//! (`[L]A` is the identity). Every other key is refused with the reason
//! ([`KeyError::InvalidPoint`], [`KeyError::NonCanonical`], [`KeyError::WeakKey`],
//! [`KeyError::MixedOrder`]).
//!
//! **Signatures.** A signature `R || S` over a message `M` under such a key `A` is valid
//! when
//!
//! 1. `S`, read as a 256-bit little-endian integer, is below the group order `L`;
//! 2. `R` is a canonical encoding (the same decoding as for keys) that is not one of the
//!    eight encodings of the small-order points ([`SMALL_ORDER_ENCODINGS`]). Both are
//!    byte-level checks, done before any curve arithmetic;
//! 3. `R` decodes to a curve point, and the cofactored equation of ZIP-215 holds:
//!    `[8][S]B = [8]R + [8][k]A` with `k = SHA-512(R || A || M) mod L`.
//!
//! Step 3 is `ed25519-zebra`'s check, single ([`PublicKey::verify`]) or batched
//! ([`verify_batch`]); steps 1 and 2 and the key checks are this module's. The batch check
//! merges signatures by key and agrees with the single check on every input (the cofactor
//! kills every small-order term in both), so append, whole-ledger replay, `verify --lot`,
//! evidence bundles and checkpoint notes all give the same answer whichever they use.
//!
//! Against RFC 8032 and ed25519-dalek's `verify_strict`: every signature an honest signer
//! makes (`R = [r]B`) is accepted by all three. They differ only on signatures that only
//! the key holder can make (a torsion component deliberately added to `R`, or a key with
//! one): the cofactorless equation of `verify_strict` refuses an `R` with a small-order
//! component, which this rule accepts; `verify_strict` accepts a key with a small-order
//! component, which this rule refuses at enrollment; RFC 8032 leaves the equation to the
//! verifier and accepts small-order and some non-canonical encodings that this rule
//! refuses. `docs/format.md` §3 has the details and the test vectors.
//!
//! Signing stays on ed25519-dalek (its PKCS#8 key files, RFC 8032 deterministic
//! signatures): signing is not where implementations disagree.

use std::borrow::Cow;
use std::fmt;
use std::hash::{Hash, Hasher};

use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use ed25519_zebra::batch;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha512};
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
    /// The point has a small-order component: it is not in the prime-order subgroup, so
    /// cofactored and cofactorless verifiers could disagree on its signatures.
    #[error(
        "public key is not in the prime-order subgroup (it has a small-order component) and is refused"
    )]
    MixedOrder,
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

/// The group order `L = 2^252 + 27742317777372353535851937790883648493`, little-endian.
const GROUP_ORDER: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

/// The canonical encodings of the eight points of small order (the torsion subgroup
/// `E[8]`): an `R` equal to one of them is refused. In order: order 4 (`y = 0`, both
/// signs), the identity, order 8 (two `y`, both signs), order 2 (`y = p - 1`).
pub const SMALL_ORDER_ENCODINGS: [[u8; 32]; 8] = [
    [0; 32],
    {
        let mut e = [0; 32];
        e[31] = 0x80;
        e
    },
    {
        let mut e = [0; 32];
        e[0] = 1;
        e
    },
    [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98,
        0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53,
        0xfc, 0x05,
    ],
    [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98,
        0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53,
        0xfc, 0x85,
    ],
    [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67,
        0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac,
        0x03, 0x7a,
    ],
    [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67,
        0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac,
        0x03, 0xfa,
    ],
    {
        let mut e = [0xff; 32];
        e[0] = 0xec;
        e[31] = 0x7f;
        e
    },
];

/// Whether the 32 bytes `a < b`, both read as little-endian integers.
fn less_le(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().rev().cmp(b.iter().rev()).is_lt()
}

/// Whether `bytes` can be the canonical encoding of a point (RFC 8032 §5.1.3): the
/// 255-bit `y` is below `p = 2^255 - 19`, and the sign bit is clear when `x = 0`, which
/// happens only for `y = 1` and `y = p - 1`. Whether `y` is on the curve is not checked.
fn is_canonical_encoding(bytes: &[u8; 32]) -> bool {
    let mut y = *bytes;
    y[31] &= 0x7f;
    // p - 1 = 2^255 - 20 and p = 2^255 - 19, little-endian.
    let mut p_minus_1 = [0xff; 32];
    p_minus_1[0] = 0xec;
    p_minus_1[31] = 0x7f;
    let mut one = [0; 32];
    one[0] = 1;
    let y_ok = less_le(&y, &p_minus_1) || y == p_minus_1;
    let sign = bytes[31] & 0x80 != 0;
    y_ok && !(sign && (y == one || y == p_minus_1))
}

/// Steps 1 and 2 of the rule (module documentation): `S < L`, and `R` is a canonical
/// encoding of none of the small-order points. Bytes only, no curve arithmetic.
fn signature_encoding_is_valid(signature: &Signature) -> bool {
    let (r, s) = signature.0.split_at(32);
    let (Ok(r), Ok(s)) = (<&[u8; 32]>::try_from(r), <&[u8; 32]>::try_from(s)) else {
        return false;
    };
    less_le(s, &GROUP_ORDER) && is_canonical_encoding(r) && !SMALL_ORDER_ENCODINGS.contains(r)
}

/// An ed25519 public key that passed the acceptance rule's key checks.
///
/// It holds the point twice, decompressed once: as ed25519-dalek's key (PEM, checkpoint
/// notes) and as ed25519-zebra's (the verification equation).
#[derive(Clone, Copy)]
pub struct PublicKey {
    dalek: VerifyingKey,
    /// Always `Some` for a key that [`PublicKey::from_bytes`] or [`SecretKey::public_key`]
    /// made; `None` would refuse every signature.
    zebra: Option<ed25519_zebra::VerificationKey>,
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &PublicKey) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for PublicKey {}

impl Hash for PublicKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl PublicKey {
    /// Parses 32 bytes under the rule's key checks: refuses bytes that are not a point,
    /// points of small order, non-canonical encodings and points outside the prime-order
    /// subgroup.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<PublicKey, KeyError> {
        let key = VerifyingKey::from_bytes(bytes).map_err(|_| KeyError::InvalidPoint)?;
        if key.is_weak() {
            return Err(KeyError::WeakKey);
        }
        let point = key.to_edwards();
        if point.compress().as_bytes() != bytes {
            return Err(KeyError::NonCanonical);
        }
        if !point.is_torsion_free() {
            return Err(KeyError::MixedOrder);
        }
        let zebra =
            ed25519_zebra::VerificationKey::try_from(*bytes).map_err(|_| KeyError::InvalidPoint)?;
        Ok(PublicKey {
            dalek: key,
            zebra: Some(zebra),
        })
    }

    /// The public key of a signing key, without the checks: `[a]B` for a secret scalar
    /// `a` is a canonical point of order `L`, so they would pass. Were its bytes ever not
    /// to decode, the key would verify nothing ([`PublicKey::verify`] fails closed).
    pub(crate) fn of_signing_key(key: &SigningKey) -> PublicKey {
        let dalek = key.verifying_key();
        let zebra = ed25519_zebra::VerificationKey::try_from(*dalek.as_bytes()).ok();
        PublicKey { dalek, zebra }
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
        self.dalek
            .to_public_key_pem(Default::default())
            .map_err(|e| KeyError::Pem {
                what: "public key",
                reason: e.to_string(),
            })
    }

    /// The 32-byte encoding.
    pub fn as_bytes(&self) -> &[u8; 32] {
        self.dalek.as_bytes()
    }

    /// Lowercase hex of the encoding.
    pub fn to_hex(&self) -> String {
        hex::encode(self.as_bytes())
    }

    /// The dalek key, for signed-note verifier keys.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.dalek
    }

    /// Checks `signature` over `message` under the acceptance rule (module
    /// documentation): the single check, which [`verify_batch`] agrees with.
    pub fn verify(&self, message: &[u8], signature: &Signature) -> Result<(), KeyError> {
        if !signature_encoding_is_valid(signature) {
            return Err(KeyError::BadSignature);
        }
        let sig = ed25519_zebra::Signature::from_bytes(&signature.0);
        self.zebra
            .ok_or(KeyError::BadSignature)?
            .verify(&sig, message)
            .map_err(|_| KeyError::BadSignature)
    }
}

/// How many signatures [`verify_batch`] callers put in one batch: past a few hundred the
/// multiscalar multiplication gains little, and a failed batch falls back to this many
/// single checks.
pub const BATCH_SIZE: usize = 256;

/// The curve arithmetic that signature checks run on this CPU, as curve25519-dalek chooses
/// it at run time: `"avx512ifma"` when the build includes that backend (the workspace's
/// `.cargo/config.toml` asks for it) and the CPU has AVX-512 IFMA and VL, else `"avx2"`,
/// else `"serial"`. The three compute the same results; `custody bench` names the one its
/// signature figures were measured on. The CPUID tests are dalek's own (its
/// `get_selected_backend`, which it does not export).
pub fn curve_backend() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if cfg!(curve25519_dalek_backend = "avx512")
            && std::arch::is_x86_feature_detected!("avx512ifma")
            && std::arch::is_x86_feature_detected!("avx512vl")
        {
            return "avx512ifma";
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            return "avx2";
        }
    }
    "serial"
}

/// One signature for [`verify_batch`]: a checked key, the signed message, the signature.
#[derive(Debug, Clone, Copy)]
pub struct SignatureCheck<'a> {
    /// The key, already checked when it was parsed.
    pub key: &'a PublicKey,
    /// The message that was signed.
    pub message: &'a [u8],
    /// The signature.
    pub signature: &'a Signature,
}

/// Checks every signature of `checks` under the acceptance rule and says, for each,
/// whether it is valid: exactly what [`PublicKey::verify`] says of it alone.
///
/// The byte-level checks (steps 1 and 2) run per signature; the rest share one ZIP-215
/// batch equation, whose terms ed25519-zebra merges by key. Only if the batch fails is
/// each signature checked singly, to name the bad ones. The batch's 128-bit weights are
/// hashed from every item of the batch (`Weights`), so no signer can choose or adapt to
/// them. Callers pass at most a few hundred ([`BATCH_SIZE`]).
pub fn verify_batch(checks: &[SignatureCheck<'_>]) -> Vec<bool> {
    let mut valid = vec![false; checks.len()];
    let queued: Vec<&SignatureCheck<'_>> = checks
        .iter()
        .filter(|c| signature_encoding_is_valid(c.signature))
        .collect();
    let all_valid = match queued.as_slice() {
        [] => return valid,
        // One signature: the single check is the same equation, and cheaper.
        [one] => one.key.verify(one.message, one.signature).is_ok(),
        _ => batch_equation_holds(&queued),
    };
    for (i, c) in checks.iter().enumerate() {
        valid[i] = signature_encoding_is_valid(c.signature)
            && (all_valid || c.key.verify(c.message, c.signature).is_ok());
    }
    valid
}

/// Whether every signature of `checks` passes the byte-level checks and the one batch
/// equation holds: [`verify_batch`]'s fast path, without the single checks it falls back
/// to. True exactly when every signature is valid (up to the 2^-128 chance of the weights).
pub fn batch_holds(checks: &[SignatureCheck<'_>]) -> bool {
    checks
        .iter()
        .all(|c| signature_encoding_is_valid(c.signature))
        && batch_equation_holds(&checks.iter().collect::<Vec<_>>())
}

/// Step 3 of the rule for all of `checks` at once: `R` decodes and
/// `[8](sum z_i R_i + sum (sum z_i k_i) A - [sum z_i S_i] B) = 0`, terms merged by key.
fn batch_equation_holds(checks: &[&SignatureCheck<'_>]) -> bool {
    let mut verifier = batch::Verifier::new();
    let mut weights = Sha512::new_with_prefix(WEIGHTS_TAG);
    for check in checks {
        let key = ed25519_zebra::VerificationKeyBytes::from(*check.key.as_bytes());
        let sig = ed25519_zebra::Signature::from_bytes(&check.signature.0);
        verifier.queue((key, sig, check.message));
        weights.update(check.key.as_bytes());
        weights.update(check.signature.0);
        weights.update((check.message.len() as u64).to_be_bytes());
        weights.update(check.message);
    }
    verifier
        .verify(Weights::new(weights.finalize().into()))
        .is_ok()
}

/// Domain tag of the hash the batch weights are derived from.
const WEIGHTS_TAG: &[u8] = b"custody/batch-weights/v1\0";

/// The random weights of a batch equation, derived from a hash of the whole batch
/// (Fiat-Shamir): block `j` of the stream is `SHA-512(seed || u64-BE(j))`, where `seed`
/// hashes every key, signature and message of the batch. A signer who wants a bad
/// signature to pass inside a batch must find a batch whose weights cancel its error, one
/// chance in about 2^128 per try, the same odds as with weights from the operating
/// system, and no source of randomness is needed. (ed25519-zebra draws the weights in the
/// order of its own map of keys.)
struct Weights {
    seed: [u8; 64],
    block: [u8; 64],
    used: usize,
    counter: u64,
}

impl Weights {
    fn new(seed: [u8; 64]) -> Weights {
        Weights {
            seed,
            block: [0; 64],
            used: 64,
            counter: 0,
        }
    }
}

impl rand_core_010::TryRng for Weights {
    type Error = std::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut bytes = [0; 4];
        self.try_fill_bytes(&mut bytes)?;
        Ok(u32::from_le_bytes(bytes))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut bytes = [0; 8];
        self.try_fill_bytes(&mut bytes)?;
        Ok(u64::from_le_bytes(bytes))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for byte in dst {
            if self.used == self.block.len() {
                let mut hash = Sha512::new();
                hash.update(self.seed);
                hash.update(self.counter.to_be_bytes());
                self.block = hash.finalize().into();
                self.counter += 1;
                self.used = 0;
            }
            *byte = self.block[self.used];
            self.used += 1;
        }
        Ok(())
    }
}

impl rand_core_010::TryCryptoRng for Weights {}

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
                encoding of a curve point of the prime-order subgroup, not of small order",
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

    /// Checks `signature` over `message` under the acceptance rule: the bytes must be an
    /// acceptable key ([`PublicKey::from_bytes`]) and the signature valid under it.
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
        PublicKey::of_signing_key(&self.0)
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
    fn r_must_be_a_canonical_encoding_checked_on_the_bytes() {
        let encoding = |y: [u8; 32], sign: bool| {
            let mut e = y;
            e[31] |= u8::from(sign) << 7;
            e
        };
        let mut p = [0xff; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        let mut p_minus_1 = p;
        p_minus_1[0] = 0xec;
        let mut one = [0; 32];
        one[0] = 1;
        let mut two = [0; 32];
        two[0] = 2;
        // y >= p is never canonical, whatever the sign; p..2^255-1 are the 19 such y.
        for low in 0xed..=0xff {
            let mut y = p;
            y[0] = low;
            assert!(!is_canonical_encoding(&encoding(y, false)), "{low:#x}");
            assert!(!is_canonical_encoding(&encoding(y, true)), "{low:#x}");
        }
        // x = 0 (y = 1 or p - 1) with the sign bit set is a second encoding.
        assert!(!is_canonical_encoding(&encoding(one, true)));
        assert!(!is_canonical_encoding(&encoding(p_minus_1, true)));
        assert!(is_canonical_encoding(&encoding(one, false)));
        assert!(is_canonical_encoding(&encoding(p_minus_1, false)));
        // Any other y below p, either sign (whether it is on the curve is decided later).
        assert!(is_canonical_encoding(&encoding(two, true)));
        assert!(is_canonical_encoding(&encoding([0; 32], true)));
        // The small-order encodings are canonical, and refused as R by their own check.
        let key = SecretKey::from_seed(&[3; 32]);
        for r in SMALL_ORDER_ENCODINGS {
            assert!(is_canonical_encoding(&r));
            let mut sig = key.sign(b"m");
            sig.0[..32].copy_from_slice(&r);
            assert!(!signature_encoding_is_valid(&sig));
        }
        // S = L is refused, S = L - 1 is allowed by the byte check.
        let mut sig = key.sign(b"m");
        sig.0[32..].copy_from_slice(&GROUP_ORDER);
        assert!(!signature_encoding_is_valid(&sig));
        sig.0[32] -= 1;
        assert!(signature_encoding_is_valid(&sig));
    }

    #[test]
    fn a_batch_of_honest_signatures_with_key_reuse_passes_as_one_equation() {
        let keys: Vec<SecretKey> = (0..7u8).map(|i| SecretKey::from_seed(&[i; 32])).collect();
        let public: Vec<PublicKey> = keys.iter().map(SecretKey::public_key).collect();
        let messages: Vec<Vec<u8>> = (0..300u32).map(|i| i.to_be_bytes().to_vec()).collect();
        let sigs: Vec<Signature> = messages
            .iter()
            .enumerate()
            .map(|(i, m)| keys[i % 7].sign(m))
            .collect();
        let checks: Vec<SignatureCheck<'_>> = messages
            .iter()
            .enumerate()
            .map(|(i, m)| SignatureCheck {
                key: &public[i % 7],
                message: m,
                signature: &sigs[i],
            })
            .collect();
        assert!(batch_holds(&checks));
        assert_eq!(verify_batch(&checks), vec![true; checks.len()]);
        // One message changed: the equation fails and the fallback names only that one.
        let changed = b"changed".to_vec();
        let mut bad = checks.clone();
        bad[123].message = &changed;
        assert!(!batch_holds(&bad));
        let mut expected = vec![true; bad.len()];
        expected[123] = false;
        assert_eq!(verify_batch(&bad), expected);
        assert!(verify_batch(&[]).is_empty());
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
