//! C2SP signed notes (c2sp.org/signed-note v1.0.0) and transparency-log checkpoints
//! (c2sp.org/tlog-checkpoint v1.0.0), Ed25519 only.
//!
//! The operator publishes the log's size and root as a checkpoint in this text format so
//! that existing transparency-log tooling and witnesses can read, verify and cosign it.
//! A note is a text ending in a newline, a blank line, and one or more signature lines
//! `— <key name> <base64(key ID || signature)>`. The text is the last blank line's prefix
//! (it may itself contain blank lines).
//!
//! Rules applied when opening a note, beyond the format itself:
//!
//! - At most [`MAX_NOTE_SIZE`] bytes and [`MAX_SIGNATURES`] signature lines (the spec
//!   requires accepting at least 16; 100 is Go's `sumdb/note` limit).
//! - A signature line is matched to a configured key by key name *and* key ID. Lines
//!   from unknown keys are ignored and listed in [`OpenedNote::unverified`] (an identical
//!   repeated line once).
//! - Every line from a known key is verified, repeats included, and any failure rejects
//!   the whole note (the spec's SHOULD). Go's `note.Open` checks only the first line of
//!   each known key; for well-formed notes both give the same answer.
//! - Signatures are accepted under the project's single rule ([`crate::keys`]: `S < L`,
//!   `R` canonical and not of small order, the cofactored ZIP-215 equation), and verifier
//!   keys must pass its key checks (canonical, prime order). Every signature an honest
//!   signer makes passes it, so notes from other C2SP implementations (Go's
//!   `sumdb/note`, the signed-note vectors) open as they do there; the rule differs from
//!   Go's `crypto/ed25519` only on signatures that just the key holder could craft
//!   (`docs/format.md` §3).
//! - At least one signature from a known key must verify.
//!
//! Base64 is standard with padding and decoded strictly (non-canonical trailing bits are
//! refused), so a note has exactly one encoding.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};

use crate::hash::Digest;
use crate::keys::{KeyError, PublicKey, Signature};

/// The largest note, in bytes, that is opened or produced.
pub const MAX_NOTE_SIZE: usize = 64 * 1024;

/// The most signature lines a note may carry.
pub const MAX_SIGNATURES: usize = 100;

/// Signature type identifier byte of Ed25519 in key IDs and verifier keys.
const ALG_ED25519: u8 = 0x01;

/// Signature type identifier byte of Ed25519 `cosignature/v1` (c2sp.org/tlog-cosignature).
const ALG_COSIGNATURE_V1: u8 = 0x04;

/// The first line of the message a `cosignature/v1` signs, for domain separation.
const COSIGNATURE_HEADER: &str = "cosignature/v1\n";

/// What a key's signature lines mean, by their C2SP signature type byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// `0x01`: a plain Ed25519 note signature over the text (the log's own key).
    Ed25519,
    /// `0x04`: a timestamped Ed25519 `cosignature/v1` (c2sp.org/tlog-cosignature): a
    /// witness's statement that, at that time, this was the largest tree it had seen for
    /// the log and it was consistent with every earlier one.
    Cosignature,
}

impl KeyKind {
    fn alg(self) -> u8 {
        match self {
            KeyKind::Ed25519 => ALG_ED25519,
            KeyKind::Cosignature => ALG_COSIGNATURE_V1,
        }
    }
}

/// The largest cosignature timestamp the spec allows: `2^63 - 1` seconds.
pub const MAX_COSIGNATURE_TIME: u64 = i64::MAX as u64;

/// U+2014 EM DASH and a space: the start of every signature line.
const SIG_PREFIX: &str = "\u{2014} ";

/// Why a note, verifier key or checkpoint was refused or could not be produced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoteError {
    /// The note (or checkpoint text) is larger than [`MAX_NOTE_SIZE`].
    #[error("note is {len} bytes, more than the maximum of {MAX_NOTE_SIZE}")]
    TooLarge {
        /// The size that was found.
        len: usize,
    },
    /// The note is not valid UTF-8.
    #[error("note is not valid utf-8")]
    NotUtf8,
    /// The note contains an ASCII control character other than newline.
    #[error("note contains an ascii control character other than newline")]
    ControlCharacter,
    /// The note has no blank line followed by at least one signature line.
    #[error("note has no blank line followed by signature lines")]
    MissingSignatures,
    /// A signature line is not `— <key name> <base64 of at least 5 bytes>` plus newline.
    #[error("signature line {line} is malformed")]
    MalformedSignatureLine {
        /// 1-based number of the line among the signature lines.
        line: usize,
    },
    /// The note has more than [`MAX_SIGNATURES`] signature lines, or more signers were
    /// given.
    #[error("more than {MAX_SIGNATURES} signatures")]
    TooManySignatures,
    /// A signature from a configured key does not verify.
    #[error("signature by {name}+{key_id:08x} does not verify")]
    InvalidSignature {
        /// The key name.
        name: String,
        /// The key ID.
        key_id: u32,
    },
    /// No signature from a configured key is present.
    #[error("no signature from a known key")]
    NoVerifiedSignature {
        /// Names on the signature lines from unknown keys, in note order.
        unverified: Vec<String>,
    },
    /// Two different configured keys share a key name and key ID.
    #[error("two different verifier keys are named {name} with key id {key_id:08x}")]
    AmbiguousKey {
        /// The shared key name.
        name: String,
        /// The shared key ID.
        key_id: u32,
    },
    /// A key name is empty or contains a Unicode space, a plus sign or a control character.
    #[error("invalid key name {name:?}")]
    InvalidKeyName {
        /// The refused name.
        name: String,
    },
    /// Text to sign is empty, does not end in a newline, or has control characters.
    #[error("note text must be non-empty, end with a newline and have no control characters")]
    InvalidText,
    /// No signer was given.
    #[error("a note needs at least one signer")]
    NoSigners,
    /// The same key (name and key ID) was given twice to sign one note.
    #[error("signer {name}+{key_id:08x} given twice")]
    DuplicateSigner {
        /// The key name.
        name: String,
        /// The key ID.
        key_id: u32,
    },
    /// A verifier key is not `<name>+<8 lowercase hex>+<base64>`.
    #[error("verifier key is not <name>+<key id>+<base64 key>")]
    MalformedVerifierKey,
    /// A verifier key has a signature type other than Ed25519 (`0x01`).
    #[error("unsupported signature type {alg:#04x}")]
    UnsupportedAlgorithm {
        /// The signature type byte that was found.
        alg: u8,
    },
    /// An Ed25519 public key is not 32 bytes.
    #[error("ed25519 public key must be 32 bytes, found {len}")]
    PublicKeyLength {
        /// The length that was found.
        len: usize,
    },
    /// An Ed25519 public key is not the canonical encoding of a curve point.
    #[error("public key is not a canonically encoded ed25519 point")]
    InvalidPublicKey,
    /// An Ed25519 public key has small order: anyone could forge signatures for it.
    #[error("public key has small order and is refused")]
    WeakPublicKey,
    /// An Ed25519 public key has a small-order component (it is not in the prime-order
    /// subgroup), which the project's signature rule refuses.
    #[error("public key is not in the prime-order subgroup and is refused")]
    MixedOrderPublicKey,
    /// The key ID in a verifier key is not the one computed from its name and key.
    #[error("verifier key id {found:08x} does not match the computed {expected:08x}")]
    KeyIdMismatch {
        /// The key ID computed from the name and public key.
        expected: u32,
        /// The key ID written in the verifier key.
        found: u32,
    },
    /// A checkpoint does not have origin, size and root hash lines ending in a newline.
    #[error("checkpoint needs origin, tree size and root hash lines, each ending in a newline")]
    CheckpointTooShort,
    /// A checkpoint line is empty (or a checkpoint field would contain a newline).
    #[error("checkpoint line {line} is empty or contains a newline")]
    CheckpointBadLine {
        /// 1-based line number.
        line: usize,
    },
    /// The tree size is not ASCII decimal without leading zeros that fits in 64 bits.
    #[error("tree size is not a decimal number without leading zeros")]
    BadTreeSize,
    /// The root hash is not the base64 encoding of 32 bytes.
    #[error("root hash is not the base64 encoding of 32 bytes")]
    BadRootHash,
    /// The checkpoint is for another log.
    #[error("checkpoint origin {found:?} is not the expected {expected:?}")]
    OriginMismatch {
        /// The origin the caller expected.
        expected: String,
        /// The origin in the checkpoint.
        found: String,
    },
    /// The checkpoint note verifies, but not with the log's own key.
    #[error("checkpoint is not signed by the log key {name}")]
    MissingLogSignature {
        /// The log key's name.
        name: String,
    },
    /// A witness key was given to sign a plain note, or a log key to cosign.
    #[error("key {name} is a {found} key, not a {expected} key")]
    WrongKeyKind {
        /// The key name.
        name: String,
        /// What the operation needs.
        expected: &'static str,
        /// What the key is.
        found: &'static str,
    },
    /// A cosignature timestamp is above [`MAX_COSIGNATURE_TIME`].
    #[error("cosignature time {time} is beyond 2^63 - 1 seconds")]
    CosignatureTime {
        /// The refused timestamp.
        time: u64,
    },
}

impl KeyKind {
    fn label(self) -> &'static str {
        match self {
            KeyKind::Ed25519 => "log (ed25519)",
            KeyKind::Cosignature => "witness (cosignature/v1)",
        }
    }
}

/// Whether `name` may be a key name: non-empty, no Unicode space, plus or control
/// character.
fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c == '+' || c.is_control())
}

/// Whether `text` has no ASCII control character other than newline.
fn has_no_control_characters(text: &str) -> bool {
    !text.bytes().any(|b| b < 0x20 && b != b'\n')
}

/// The C2SP key ID of a log key: the first four bytes, big-endian, of
/// `SHA-256(name || 0x0A || 0x01 || public key)`.
pub fn key_id(name: &str, key: &VerifyingKey) -> u32 {
    key_id_of(name, KeyKind::Ed25519, key)
}

/// The C2SP key ID for a key of `kind`: the type byte is `0x01` or `0x04`.
fn key_id_of(name: &str, kind: KeyKind, key: &VerifyingKey) -> u32 {
    let Digest([a, b, c, d, ..]) =
        Digest::of(&[name.as_bytes(), b"\n", &[kind.alg()], key.as_bytes()]);
    u32::from_be_bytes([a, b, c, d])
}

/// The message a `cosignature/v1` at `time` signs over a note's `text`.
fn cosigned_message(text: &str, time: u64) -> String {
    format!("{COSIGNATURE_HEADER}time {time}\n{text}")
}

/// Refuses keys the project's acceptance rule refuses (see [`crate::keys`]).
fn check_public_key(key: &VerifyingKey) -> Result<PublicKey, NoteError> {
    PublicKey::from_bytes(key.as_bytes()).map_err(|e| match e {
        KeyError::WeakKey => NoteError::WeakPublicKey,
        KeyError::MixedOrder => NoteError::MixedOrderPublicKey,
        _ => NoteError::InvalidPublicKey,
    })
}

/// A key that signs notes: a key name and an Ed25519 signing key, borrowed so that no
/// copy of the secret is made.
pub struct NoteSigner<'k> {
    name: String,
    kind: KeyKind,
    key_id: u32,
    key: &'k SigningKey,
}

impl<'k> NoteSigner<'k> {
    /// A log signer under `name` (non-empty, no spaces, plus signs or control characters).
    pub fn new(name: &str, key: &'k SigningKey) -> Result<Self, NoteError> {
        Self::of_kind(name, KeyKind::Ed25519, key)
    }

    /// A witness that makes `cosignature/v1` signatures ([`cosign`]) under `name`.
    pub fn cosigner(name: &str, key: &'k SigningKey) -> Result<Self, NoteError> {
        Self::of_kind(name, KeyKind::Cosignature, key)
    }

    fn of_kind(name: &str, kind: KeyKind, key: &'k SigningKey) -> Result<Self, NoteError> {
        if !is_valid_name(name) {
            return Err(NoteError::InvalidKeyName {
                name: name.to_owned(),
            });
        }
        Ok(NoteSigner {
            name: name.to_owned(),
            kind,
            key_id: key_id_of(name, kind, &key.verifying_key()),
            key,
        })
    }

    /// What the signer's lines mean.
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    fn require(&self, kind: KeyKind) -> Result<(), NoteError> {
        if self.kind == kind {
            return Ok(());
        }
        Err(NoteError::WrongKeyKind {
            name: self.name.clone(),
            expected: kind.label(),
            found: self.kind.label(),
        })
    }

    /// One signature line `— <name> <base64(key ID || payload)>` plus newline.
    fn line(&self, payload: &[u8]) -> String {
        let mut raw = Vec::with_capacity(4 + payload.len());
        raw.extend_from_slice(&self.key_id.to_be_bytes());
        raw.extend_from_slice(payload);
        format!("{SIG_PREFIX}{} {}\n", self.name, BASE64.encode(raw))
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The matching verifier.
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            name: self.name.clone(),
            kind: self.kind,
            key_id: self.key_id,
            key: PublicKey::of_signing_key(self.key),
        }
    }
}

impl fmt::Debug for NoteSigner<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NoteSigner({}+{:08x})", self.name, self.key_id)
    }
}

/// A key that verifies notes: key name, key ID and Ed25519 public key.
///
/// Its text form is the verifier key (vkey) `<name>+<hex key ID>+<base64(type || key)>`,
/// where the type byte is `0x01` for a log key and `0x04` for a witness's cosignature key:
///
/// ```
/// use ledger_core::note::NoteVerifier;
///
/// let vkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
/// let verifier: NoteVerifier = vkey.parse()?;
/// assert_eq!(verifier.name(), "PeterNeumann");
/// assert_eq!(verifier.key_id(), 0xc74f20a3);
/// assert_eq!(verifier.vkey(), vkey);
/// # Ok::<(), ledger_core::note::NoteError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    kind: KeyKind,
    key_id: u32,
    key: PublicKey,
}

impl NoteVerifier {
    /// A verifier for the log key `key` under `name`.
    pub fn new(name: &str, key: VerifyingKey) -> Result<Self, NoteError> {
        Self::of_kind(name, KeyKind::Ed25519, key)
    }

    /// A verifier for a witness's `cosignature/v1` key `key` under `name`.
    pub fn cosigner(name: &str, key: VerifyingKey) -> Result<Self, NoteError> {
        Self::of_kind(name, KeyKind::Cosignature, key)
    }

    fn of_kind(name: &str, kind: KeyKind, key: VerifyingKey) -> Result<Self, NoteError> {
        if !is_valid_name(name) {
            return Err(NoteError::InvalidKeyName {
                name: name.to_owned(),
            });
        }
        let key = check_public_key(&key)?;
        Ok(NoteVerifier {
            name: name.to_owned(),
            kind,
            key_id: key_id_of(name, kind, key.verifying_key()),
            key,
        })
    }

    /// Parses a verifier key. The key ID must be 8 lowercase hex digits and equal the ID
    /// computed from the name and key, so the text round-trips through [`Self::vkey`].
    pub fn from_vkey(vkey: &str) -> Result<Self, NoteError> {
        // Names cannot contain '+', base64 can: split on the first two only.
        let (name, rest) = vkey
            .split_once('+')
            .ok_or(NoteError::MalformedVerifierKey)?;
        let (id_hex, key_b64) = rest
            .split_once('+')
            .ok_or(NoteError::MalformedVerifierKey)?;
        if !is_valid_name(name) {
            return Err(NoteError::InvalidKeyName {
                name: name.to_owned(),
            });
        }
        if id_hex.len() != 8
            || !id_hex
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(NoteError::MalformedVerifierKey);
        }
        let found = u32::from_str_radix(id_hex, 16).map_err(|_| NoteError::MalformedVerifierKey)?;
        let raw = BASE64
            .decode(key_b64)
            .map_err(|_| NoteError::MalformedVerifierKey)?;
        let (&alg, key_bytes) = raw.split_first().ok_or(NoteError::MalformedVerifierKey)?;
        let kind = match alg {
            ALG_ED25519 => KeyKind::Ed25519,
            ALG_COSIGNATURE_V1 => KeyKind::Cosignature,
            _ => return Err(NoteError::UnsupportedAlgorithm { alg }),
        };
        let key_bytes =
            <&[u8; 32]>::try_from(key_bytes).map_err(|_| NoteError::PublicKeyLength {
                len: key_bytes.len(),
            })?;
        let key = VerifyingKey::from_bytes(key_bytes).map_err(|_| NoteError::InvalidPublicKey)?;
        let verifier = NoteVerifier::of_kind(name, kind, key)?;
        if verifier.key_id != found {
            return Err(NoteError::KeyIdMismatch {
                expected: verifier.key_id,
                found,
            });
        }
        Ok(verifier)
    }

    /// The verifier key text.
    pub fn vkey(&self) -> String {
        let mut raw = Vec::with_capacity(33);
        raw.push(self.kind.alg());
        raw.extend_from_slice(self.key.as_bytes());
        format!("{}+{:08x}+{}", self.name, self.key_id, BASE64.encode(raw))
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// Whether this is a log key or a witness's cosignature key.
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// The Ed25519 public key.
    pub fn verifying_key(&self) -> &VerifyingKey {
        self.key.verifying_key()
    }

    /// The public key, checked under the project's key rule.
    pub fn public_key(&self) -> &PublicKey {
        &self.key
    }
}

impl FromStr for NoteVerifier {
    type Err = NoteError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NoteVerifier::from_vkey(s)
    }
}

impl fmt::Display for NoteVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.vkey())
    }
}

impl fmt::Debug for NoteVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NoteVerifier({})", self.vkey())
    }
}

/// Signs `text` with every signer, in order, and returns the complete note.
///
/// ```
/// use ed25519_dalek::SigningKey;
/// use ledger_core::note::{open_note, sign_note, NoteSigner};
///
/// let key = SigningKey::from_bytes(&[7; 32]);
/// let signer = NoteSigner::new("example.com/log", &key)?;
/// let note = sign_note("hello\n", &[&signer])?;
/// let opened = open_note(note.as_bytes(), &[signer.verifier()])?;
/// assert_eq!(opened.text, "hello\n");
/// assert_eq!(opened.verified, ["example.com/log"]);
/// # Ok::<(), ledger_core::note::NoteError>(())
/// ```
pub fn sign_note(text: &str, signers: &[&NoteSigner<'_>]) -> Result<String, NoteError> {
    if text.is_empty() || !text.ends_with('\n') || !has_no_control_characters(text) {
        return Err(NoteError::InvalidText);
    }
    if text.len() > MAX_NOTE_SIZE {
        return Err(NoteError::TooLarge { len: text.len() });
    }
    if signers.is_empty() {
        return Err(NoteError::NoSigners);
    }
    if signers.len() > MAX_SIGNATURES {
        return Err(NoteError::TooManySignatures);
    }
    for signer in signers {
        signer.require(KeyKind::Ed25519)?;
    }
    let mut note = String::with_capacity(text.len() + 1 + signers.len() * 120);
    note.push_str(text);
    note.push('\n');
    for (i, signer) in signers.iter().enumerate() {
        let earlier = signers.get(..i).unwrap_or_default();
        if earlier
            .iter()
            .any(|s| s.name == signer.name && s.key_id == signer.key_id)
        {
            return Err(NoteError::DuplicateSigner {
                name: signer.name.clone(),
                key_id: signer.key_id,
            });
        }
        let signature = signer.key.sign(text.as_bytes());
        note.push_str(&signer.line(&signature.to_bytes()));
    }
    if note.len() > MAX_NOTE_SIZE {
        return Err(NoteError::TooLarge { len: note.len() });
    }
    Ok(note)
}

/// A witness's `cosignature/v1` line over a note's `text` (its body, without signature
/// lines), made at `time` (POSIX seconds): `— <name> base64(key ID || time as u64
/// big-endian || Ed25519 signature)`, where the signature is over
/// `"cosignature/v1\ntime <time>\n" || text`. Appending the line to the note adds the
/// cosignature.
pub fn cosign(text: &str, signer: &NoteSigner<'_>, time: u64) -> Result<String, NoteError> {
    signer.require(KeyKind::Cosignature)?;
    if text.is_empty() || !text.ends_with('\n') || !has_no_control_characters(text) {
        return Err(NoteError::InvalidText);
    }
    if text.len() > MAX_NOTE_SIZE {
        return Err(NoteError::TooLarge { len: text.len() });
    }
    if time > MAX_COSIGNATURE_TIME {
        return Err(NoteError::CosignatureTime { time });
    }
    let signature = signer.key.sign(cosigned_message(text, time).as_bytes());
    let mut payload = Vec::with_capacity(72);
    payload.extend_from_slice(&time.to_be_bytes());
    payload.extend_from_slice(&signature.to_bytes());
    Ok(signer.line(&payload))
}

/// A note whose signatures were checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedNote {
    /// The signed text, ending in a newline.
    pub text: String,
    /// Names of the configured keys whose signatures verified, in note order, once each.
    pub verified: Vec<String>,
    /// Names on signature lines from keys that are not configured, in note order; an
    /// identical repeated line is listed once. These signatures were not checked.
    pub unverified: Vec<String>,
    /// (name, key ID) of every verified key, parallel to `verified`.
    verified_keys: Vec<(String, u32)>,
    /// (name, key ID, newest time) of every verified `cosignature/v1` key.
    cosigned: Vec<(String, u32, u64)>,
}

impl OpenedNote {
    /// Whether `verifier`'s key (name and key ID) signed the note.
    pub fn is_verified_by(&self, verifier: &NoteVerifier) -> bool {
        self.verified_keys
            .iter()
            .any(|(name, id)| *name == verifier.name && *id == verifier.key_id)
    }

    /// When `verifier`'s witness key cosigned the note (the newest time, if it cosigned
    /// more than once), or `None` if it did not.
    pub fn cosigned_at(&self, verifier: &NoteVerifier) -> Option<u64> {
        self.cosigned
            .iter()
            .find(|(name, id, _)| *name == verifier.name && *id == verifier.key_id)
            .map(|&(_, _, time)| time)
    }
}

/// One parsed signature line.
struct SignatureLine<'a> {
    name: &'a str,
    key_id: u32,
    signature: Vec<u8>,
}

fn parse_signature_line(line: &str) -> Option<SignatureLine<'_>> {
    let rest = line.strip_prefix(SIG_PREFIX)?;
    let (name, b64) = rest.split_once(' ')?;
    if !is_valid_name(name) || b64.is_empty() {
        return None;
    }
    let raw = BASE64.decode(b64).ok()?;
    match raw.as_slice() {
        [a, b, c, d, signature @ ..] if !signature.is_empty() => Some(SignatureLine {
            name,
            key_id: u32::from_be_bytes([*a, *b, *c, *d]),
            signature: signature.to_vec(),
        }),
        _ => None,
    }
}

/// Parses `note` and verifies its signatures against `verifiers` (see the module
/// documentation for the rules). The text is only returned when at least one signature
/// from a configured key verified.
pub fn open_note(note: &[u8], verifiers: &[NoteVerifier]) -> Result<OpenedNote, NoteError> {
    if note.len() > MAX_NOTE_SIZE {
        return Err(NoteError::TooLarge { len: note.len() });
    }
    let note = std::str::from_utf8(note).map_err(|_| NoteError::NotUtf8)?;
    if !has_no_control_characters(note) {
        return Err(NoteError::ControlCharacter);
    }
    let split = note.rfind("\n\n").ok_or(NoteError::MissingSignatures)?;
    let (text, signatures) = note.split_at(split + 1);
    // `signatures` starts with the blank line's newline.
    let signatures = signatures.get(1..).unwrap_or_default();
    if signatures.is_empty() {
        return Err(NoteError::MissingSignatures);
    }
    if signatures.bytes().filter(|&b| b == b'\n').count() > MAX_SIGNATURES {
        return Err(NoteError::TooManySignatures);
    }
    let Some(body) = signatures.strip_suffix('\n') else {
        let line = signatures.split('\n').count();
        return Err(NoteError::MalformedSignatureLine { line });
    };

    let mut verified = Vec::new();
    let mut verified_keys: Vec<(String, u32)> = Vec::new();
    let mut unverified = Vec::new();
    let mut unverified_lines: Vec<&str> = Vec::new();
    let mut cosigned: Vec<(String, u32, u64)> = Vec::new();
    for (i, line) in body.split('\n').enumerate() {
        let parsed =
            parse_signature_line(line).ok_or(NoteError::MalformedSignatureLine { line: i + 1 })?;
        let mut matching = verifiers
            .iter()
            .filter(|v| v.name == parsed.name && v.key_id == parsed.key_id);
        let Some(verifier) = matching.next() else {
            if !unverified_lines.contains(&line) {
                unverified_lines.push(line);
                unverified.push(parsed.name.to_owned());
            }
            continue;
        };
        if matching.any(|other| other.key != verifier.key) {
            return Err(NoteError::AmbiguousKey {
                name: parsed.name.to_owned(),
                key_id: parsed.key_id,
            });
        }
        let invalid = || NoteError::InvalidSignature {
            name: parsed.name.to_owned(),
            key_id: parsed.key_id,
        };
        match verifier.kind {
            KeyKind::Ed25519 => {
                let signature =
                    <[u8; 64]>::try_from(parsed.signature.as_slice()).map_err(|_| invalid())?;
                verifier
                    .key
                    .verify(text.as_bytes(), &Signature(signature))
                    .map_err(|_| invalid())?;
            }
            KeyKind::Cosignature => {
                let time =
                    verify_cosignature(verifier, text, &parsed.signature).ok_or_else(invalid)?;
                match cosigned
                    .iter_mut()
                    .find(|(name, id, _)| name == parsed.name && *id == parsed.key_id)
                {
                    Some((_, _, newest)) => *newest = (*newest).max(time),
                    None => cosigned.push((parsed.name.to_owned(), parsed.key_id, time)),
                }
            }
        }
        if !verified_keys
            .iter()
            .any(|(name, id)| name == parsed.name && *id == parsed.key_id)
        {
            verified_keys.push((parsed.name.to_owned(), parsed.key_id));
            verified.push(parsed.name.to_owned());
        }
    }
    if verified.is_empty() {
        return Err(NoteError::NoVerifiedSignature { unverified });
    }
    Ok(OpenedNote {
        text: text.to_owned(),
        verified,
        unverified,
        verified_keys,
        cosigned,
    })
}

/// Checks a `cosignature/v1` payload (`time || signature`, 72 bytes) over `text` and
/// returns its time, or `None` if it is malformed, beyond [`MAX_COSIGNATURE_TIME`] or
/// does not verify.
fn verify_cosignature(verifier: &NoteVerifier, text: &str, payload: &[u8]) -> Option<u64> {
    let (time, signature) = payload.split_first_chunk::<8>()?;
    let signature = <[u8; 64]>::try_from(signature).ok()?;
    let time = u64::from_be_bytes(*time);
    if time > MAX_COSIGNATURE_TIME {
        return None;
    }
    let message = cosigned_message(text, time);
    verifier
        .key
        .verify(message.as_bytes(), &Signature(signature))
        .ok()?;
    Some(time)
}

/// A transparency-log checkpoint: the body of a signed note naming a log (origin), a
/// tree size and the RFC 6962 root hash at that size, plus optional extension lines.
///
/// Valid by construction: the origin and extension lines are non-empty and contain no
/// newline or control character, so [`Checkpoint::to_text`] always parses back.
///
/// ```
/// use ledger_core::merkle::empty_root;
/// use ledger_core::note::Checkpoint;
///
/// let checkpoint = Checkpoint::new("example.com/log", 0, empty_root(), Vec::new())?;
/// let text = checkpoint.to_text();
/// assert_eq!(text, "example.com/log\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n");
/// assert_eq!(Checkpoint::parse(&text, Some("example.com/log"))?, checkpoint);
/// # Ok::<(), ledger_core::note::NoteError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    origin: String,
    size: u64,
    root: Digest,
    extensions: Vec<String>,
}

/// Whether `line` can be a checkpoint line: non-empty, no control character (newline
/// included).
fn is_valid_checkpoint_line(line: &str) -> bool {
    !line.is_empty() && !line.bytes().any(|b| b < 0x20)
}

impl Checkpoint {
    /// A checkpoint for the log `origin` at `size` leaves with root hash `root`.
    pub fn new(
        origin: impl Into<String>,
        size: u64,
        root: Digest,
        extensions: Vec<String>,
    ) -> Result<Self, NoteError> {
        let origin = origin.into();
        if !is_valid_checkpoint_line(&origin) {
            return Err(NoteError::CheckpointBadLine { line: 1 });
        }
        for (i, line) in extensions.iter().enumerate() {
            if !is_valid_checkpoint_line(line) {
                return Err(NoteError::CheckpointBadLine { line: i + 4 });
            }
        }
        Ok(Checkpoint {
            origin,
            size,
            root,
            extensions,
        })
    }

    /// Parses a checkpoint note text strictly: at least three non-empty lines, each ending
    /// in a newline; decimal size without leading zeros; base64 of exactly 32 bytes for
    /// the root; and, if `expected_origin` is given, exactly that origin.
    ///
    /// Parse only the text of a note that [`open_note`] verified, or use
    /// [`open_checkpoint`].
    pub fn parse(text: &str, expected_origin: Option<&str>) -> Result<Self, NoteError> {
        if text.len() > MAX_NOTE_SIZE {
            return Err(NoteError::TooLarge { len: text.len() });
        }
        if !has_no_control_characters(text) {
            return Err(NoteError::ControlCharacter);
        }
        let body = text
            .strip_suffix('\n')
            .ok_or(NoteError::CheckpointTooShort)?;
        let mut lines = body.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next())
        else {
            return Err(NoteError::CheckpointTooShort);
        };
        if origin.is_empty() {
            return Err(NoteError::CheckpointBadLine { line: 1 });
        }
        if let Some(expected) = expected_origin
            && origin != expected
        {
            return Err(NoteError::OriginMismatch {
                expected: expected.to_owned(),
                found: origin.to_owned(),
            });
        }
        let size = parse_tree_size(size)?;
        let root = BASE64
            .decode(root)
            .ok()
            .and_then(|raw| <[u8; 32]>::try_from(raw).ok())
            .map(Digest)
            .ok_or(NoteError::BadRootHash)?;
        let mut extensions = Vec::new();
        for (i, line) in lines.enumerate() {
            if line.is_empty() {
                return Err(NoteError::CheckpointBadLine { line: i + 4 });
            }
            extensions.push(line.to_owned());
        }
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }

    /// The note text: origin, size, base64 root hash and extension lines, each ending in a
    /// newline.
    pub fn to_text(&self) -> String {
        let mut text = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            BASE64.encode(self.root.0)
        );
        for line in &self.extensions {
            text.push_str(line);
            text.push('\n');
        }
        text
    }

    /// The log's identity.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The number of leaves in the tree.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The RFC 6962 root hash of the tree at [`Self::size`].
    pub fn root(&self) -> &Digest {
        &self.root
    }

    /// The extension lines, without newlines.
    pub fn extensions(&self) -> &[String] {
        &self.extensions
    }
}

/// ASCII decimal, no sign, no leading zeros (except `0` itself), at most `u64::MAX`.
fn parse_tree_size(text: &str) -> Result<u64, NoteError> {
    let digits_only = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    if !digits_only || (text.len() > 1 && text.starts_with('0')) {
        return Err(NoteError::BadTreeSize);
    }
    text.parse().map_err(|_| NoteError::BadTreeSize)
}

/// Signs `checkpoint` as a note with `signer` (the log's key).
pub fn sign_checkpoint(
    checkpoint: &Checkpoint,
    signer: &NoteSigner<'_>,
) -> Result<String, NoteError> {
    sign_note(&checkpoint.to_text(), &[signer])
}

/// A checkpoint whose note was verified with the log's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedCheckpoint {
    /// The parsed checkpoint.
    pub checkpoint: Checkpoint,
    /// The opened note, with every verified and unverified signer (log and cosigners).
    pub note: OpenedNote,
}

/// Opens a checkpoint note: verifies signatures with `log` and `cosigners`, requires the
/// log's own signature (cosignatures alone do not make a checkpoint), then parses the
/// text for `expected_origin`.
pub fn open_checkpoint(
    note: &[u8],
    log: &NoteVerifier,
    cosigners: &[NoteVerifier],
    expected_origin: &str,
) -> Result<OpenedCheckpoint, NoteError> {
    let mut verifiers = Vec::with_capacity(cosigners.len() + 1);
    verifiers.push(log.clone());
    verifiers.extend_from_slice(cosigners);
    let opened = open_note(note, &verifiers)?;
    if !opened.is_verified_by(log) {
        return Err(NoteError::MissingLogSignature {
            name: log.name.clone(),
        });
    }
    let checkpoint = Checkpoint::parse(&opened.text, Some(expected_origin))?;
    Ok(OpenedCheckpoint {
        checkpoint,
        note: opened,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TEXT: &str = "example.com/log\n7\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn signed(text: &str, names_and_keys: &[(&str, &SigningKey)]) -> Result<String, NoteError> {
        let signers = names_and_keys
            .iter()
            .map(|(name, key)| NoteSigner::new(name, key))
            .collect::<Result<Vec<_>, _>>()?;
        let refs: Vec<&NoteSigner<'_>> = signers.iter().collect();
        sign_note(text, &refs)
    }

    fn verifier(name: &str, key: &SigningKey) -> Result<NoteVerifier, NoteError> {
        NoteVerifier::new(name, key.verifying_key())
    }

    #[test]
    fn sign_then_open_round_trips_and_lists_signers() -> Result<(), NoteError> {
        let (a, b) = (key(1), key(2));
        let note = signed(TEXT, &[("log", &a), ("witness", &b)])?;
        assert!(note.starts_with(TEXT));
        assert!(note.contains("\n\n\u{2014} log "));
        let opened = open_note(note.as_bytes(), &[verifier("log", &a)?])?;
        assert_eq!(opened.text, TEXT);
        assert_eq!(opened.verified, ["log"]);
        assert_eq!(opened.unverified, ["witness"]);
        assert!(opened.is_verified_by(&verifier("log", &a)?));
        assert!(!opened.is_verified_by(&verifier("witness", &b)?));
        Ok(())
    }

    #[test]
    fn text_is_split_at_the_last_blank_line() -> Result<(), NoteError> {
        let a = key(1);
        let text = "first\n\nsecond\n\n";
        let note = signed(text, &[("log", &a)])?;
        let opened = open_note(note.as_bytes(), &[verifier("log", &a)?])?;
        assert_eq!(opened.text, text);
        Ok(())
    }

    #[test]
    fn signatures_are_matched_by_name_and_key_id() -> Result<(), NoteError> {
        let (a, b) = (key(1), key(2));
        let note = signed(TEXT, &[("log", &a)])?;
        // Same name, other key (so other key ID): unknown, ignored.
        assert_eq!(
            open_note(note.as_bytes(), &[verifier("log", &b)?]),
            Err(NoteError::NoVerifiedSignature {
                unverified: vec!["log".into()]
            })
        );
        // Same key ID bytes under another name: unknown, ignored.
        let renamed = note.replace("\u{2014} log ", "\u{2014} other ");
        assert_eq!(
            open_note(renamed.as_bytes(), &[verifier("log", &a)?]),
            Err(NoteError::NoVerifiedSignature {
                unverified: vec!["other".into()]
            })
        );
        Ok(())
    }

    /// Replaces the signature of the `n`th signature line (0-based) with `f(raw)`.
    fn edit_signature(note: &str, n: usize, f: impl Fn(&mut Vec<u8>)) -> String {
        let mut out = String::new();
        let mut seen = 0;
        for line in note.split_inclusive('\n') {
            match line
                .strip_prefix(SIG_PREFIX)
                .and_then(|l| l.trim_end().split_once(' '))
            {
                Some((name, b64)) if seen == n => {
                    seen += 1;
                    let mut raw = BASE64.decode(b64).unwrap_or_default();
                    f(&mut raw);
                    out.push_str(&format!("{SIG_PREFIX}{name} {}\n", BASE64.encode(raw)));
                }
                Some(_) => {
                    seen += 1;
                    out.push_str(line);
                }
                None => out.push_str(line),
            }
        }
        out
    }

    #[test]
    fn a_bad_signature_from_a_known_key_rejects_the_note() -> Result<(), NoteError> {
        let (a, b) = (key(1), key(2));
        let note = signed(TEXT, &[("log", &a), ("witness", &b)])?;
        let known = [verifier("log", &a)?, verifier("witness", &b)?];
        let bad = edit_signature(&note, 1, |raw| {
            if let Some(x) = raw.get_mut(10) {
                *x ^= 1;
            }
        });
        assert_eq!(
            open_note(bad.as_bytes(), &known),
            Err(NoteError::InvalidSignature {
                name: "witness".into(),
                key_id: key_id("witness", &b.verifying_key())
            })
        );
        // The same corruption on an unknown key is ignored.
        let opened = open_note(bad.as_bytes(), &known[..1])?;
        assert_eq!(opened.unverified, ["witness"]);
        Ok(())
    }

    #[test]
    fn every_line_from_a_known_key_is_checked_not_only_the_first() -> Result<(), NoteError> {
        let a = key(1);
        let note = signed(TEXT, &[("log", &a)])?;
        let line = note
            .strip_prefix(TEXT)
            .unwrap_or_default()
            .trim_start_matches('\n');
        let twice = format!("{note}{line}");
        let opened = open_note(twice.as_bytes(), &[verifier("log", &a)?])?;
        assert_eq!(
            opened.verified,
            ["log"],
            "a repeated valid line counts once"
        );
        let bad_second = edit_signature(&twice, 1, |raw| {
            if let Some(x) = raw.get_mut(40) {
                *x ^= 0x80;
            }
        });
        assert!(matches!(
            open_note(bad_second.as_bytes(), &[verifier("log", &a)?]),
            Err(NoteError::InvalidSignature { .. })
        ));
        Ok(())
    }

    #[test]
    fn identical_unknown_lines_are_listed_once() -> Result<(), NoteError> {
        let (a, b) = (key(1), key(2));
        let note = signed(TEXT, &[("log", &a), ("witness", &b)])?;
        let witness_line = note.lines().last().unwrap_or_default();
        let note = format!("{note}{witness_line}\n");
        let opened = open_note(note.as_bytes(), &[verifier("log", &a)?])?;
        assert_eq!(opened.unverified, ["witness"]);
        Ok(())
    }

    #[test]
    fn malleated_signatures_are_refused() -> Result<(), NoteError> {
        // S + L is a second encoding of the same signature that plain `verify` accepts.
        const L: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let a = key(3);
        let note = signed(TEXT, &[("log", &a)])?;
        let malleated = edit_signature(&note, 0, |raw| {
            // raw = key ID (4) || R (32) || S (32); add L to S, little-endian.
            let mut carry = 0u16;
            for (i, l) in L.iter().enumerate() {
                if let Some(s) = raw.get_mut(36 + i) {
                    let sum = u16::from(*s) + u16::from(*l) + carry;
                    *s = sum as u8;
                    carry = sum >> 8;
                }
            }
        });
        assert_ne!(malleated, note);
        assert!(matches!(
            open_note(malleated.as_bytes(), &[verifier("log", &a)?]),
            Err(NoteError::InvalidSignature { .. })
        ));
        Ok(())
    }

    #[test]
    fn malformed_notes_are_refused() -> Result<(), NoteError> {
        let a = key(1);
        let known = [verifier("log", &a)?];
        let note = signed(TEXT, &[("log", &a)])?;
        let open = |n: &str| open_note(n.as_bytes(), &known);
        assert_eq!(open(TEXT), Err(NoteError::MissingSignatures));
        assert_eq!(
            open(&format!("{TEXT}\n")),
            Err(NoteError::MissingSignatures)
        );
        assert_eq!(
            open(note.trim_end_matches('\n')),
            Err(NoteError::MalformedSignatureLine { line: 1 })
        );
        assert_eq!(
            open(&format!("{note}trailing\n")),
            Err(NoteError::MalformedSignatureLine { line: 2 })
        );
        assert_eq!(open(&format!("\r{note}")), Err(NoteError::ControlCharacter));
        assert_eq!(
            open(&note.replace("\u{2014}", "-")),
            Err(NoteError::MalformedSignatureLine { line: 1 })
        );
        assert!(matches!(
            open(&note.replace("\u{2014}", "--")),
            Err(NoteError::MalformedSignatureLine { line: 1 })
        ));
        assert!(matches!(
            open(&note.replace("\u{2014} log ", "\u{2014} l+g ")),
            Err(NoteError::MalformedSignatureLine { line: 1 })
        ));
        assert!(matches!(
            open(&format!("{TEXT}\n\u{2014} log AAAAAA==\n")),
            Err(NoteError::MalformedSignatureLine { line: 1 })
        ));
        assert!(matches!(
            open(&format!("{TEXT}\n\u{2014} log \n")),
            Err(NoteError::MalformedSignatureLine { line: 1 })
        ));
        let mut bytes = note.clone().into_bytes();
        bytes.insert(0, 0xff);
        assert_eq!(open_note(&bytes, &known), Err(NoteError::NotUtf8));
        Ok(())
    }

    #[test]
    fn base64_must_be_canonical() -> Result<(), NoteError> {
        let a = key(1);
        let note = signed(TEXT, &[("log", &a)])?;
        // 68 bytes take 91 base64 characters and one "=": the last character carries two
        // unused low bits. Setting one gives the same bytes under a lenient decoder.
        const ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let Some(stem) = note.strip_suffix("=\n") else {
            return Err(NoteError::MissingSignatures);
        };
        let mut chars: Vec<char> = stem.chars().collect();
        if let Some(c) = chars.last_mut() {
            let pos = ALPHABET.find(*c).unwrap_or_default();
            *c = ALPHABET.chars().nth(pos ^ 1).unwrap_or('A');
        }
        let lenient = format!("{}=\n", chars.into_iter().collect::<String>());
        assert_ne!(lenient, note);
        assert_eq!(
            open_note(lenient.as_bytes(), &[verifier("log", &a)?]),
            Err(NoteError::MalformedSignatureLine { line: 1 })
        );
        Ok(())
    }

    #[test]
    fn size_and_signature_limits() -> Result<(), NoteError> {
        let a = key(1);
        let known = [verifier("log", &a)?];
        let note = signed(TEXT, &[("log", &a)])?;
        let line = note
            .strip_prefix(TEXT)
            .unwrap_or_default()
            .trim_start_matches('\n');
        let hundred = format!("{note}{}", line.repeat(MAX_SIGNATURES - 1));
        assert_eq!(open_note(hundred.as_bytes(), &known)?.verified, ["log"]);
        let too_many = format!("{hundred}{line}");
        assert_eq!(
            open_note(too_many.as_bytes(), &known),
            Err(NoteError::TooManySignatures)
        );
        let big = format!("{}\n{note}", "x".repeat(MAX_NOTE_SIZE));
        assert_eq!(
            open_note(big.as_bytes(), &known),
            Err(NoteError::TooLarge { len: big.len() })
        );
        assert!(matches!(
            signed(
                &format!("{}\n", "x".repeat(MAX_NOTE_SIZE - 50)),
                &[("log", &a)]
            ),
            Err(NoteError::TooLarge { .. })
        ));
        Ok(())
    }

    #[test]
    fn ambiguous_verifier_keys_are_an_error() -> Result<(), NoteError> {
        let (a, b) = (key(1), key(2));
        let note = signed(TEXT, &[("log", &a)])?;
        let real = verifier("log", &a)?;
        let mut impostor = verifier("log", &b)?;
        impostor.key_id = real.key_id;
        assert_eq!(
            open_note(note.as_bytes(), &[impostor, real.clone()]),
            Err(NoteError::AmbiguousKey {
                name: "log".into(),
                key_id: real.key_id
            })
        );
        // The same key configured twice is not ambiguous.
        assert!(open_note(note.as_bytes(), &[real.clone(), real]).is_ok());
        Ok(())
    }

    #[test]
    fn signing_refuses_bad_text_names_and_signer_lists() -> Result<(), NoteError> {
        let a = key(1);
        assert_eq!(signed("", &[("log", &a)]), Err(NoteError::InvalidText));
        assert_eq!(
            signed("no newline", &[("log", &a)]),
            Err(NoteError::InvalidText)
        );
        assert_eq!(
            signed("tab\there\n", &[("log", &a)]),
            Err(NoteError::InvalidText)
        );
        assert_eq!(signed(TEXT, &[]), Err(NoteError::NoSigners));
        assert!(matches!(
            signed(TEXT, &[("log", &a), ("log", &a)]),
            Err(NoteError::DuplicateSigner { .. })
        ));
        for name in ["", "a b", "a+b", "a\u{a0}b", "a\nb", "a\u{7}"] {
            assert_eq!(
                NoteSigner::new(name, &a).map(|s| s.name().to_owned()),
                Err(NoteError::InvalidKeyName { name: name.into() })
            );
        }
        Ok(())
    }

    #[test]
    fn vkeys_round_trip_and_bad_ones_are_refused() -> Result<(), NoteError> {
        let a = key(1);
        let v = verifier("example.com/log", &a)?;
        let text = v.vkey();
        assert_eq!(NoteVerifier::from_vkey(&text)?, v);
        assert_eq!(text.parse::<NoteVerifier>()?.to_string(), text);
        let (prefix, b64) = text.rsplit_once('+').unwrap_or_default();
        let with_raw = |raw: &[u8]| format!("{prefix}+{}", BASE64.encode(raw));
        let mut raw = vec![ALG_ED25519];
        raw.extend_from_slice(a.verifying_key().as_bytes());
        assert_eq!(with_raw(&raw), text);
        assert_eq!(
            NoteVerifier::from_vkey(&format!("{prefix}+{b64}x")),
            Err(NoteError::MalformedVerifierKey)
        );
        let mut other_alg = raw.clone();
        other_alg[0] = 0x02;
        assert_eq!(
            NoteVerifier::from_vkey(&with_raw(&other_alg)),
            Err(NoteError::UnsupportedAlgorithm { alg: 2 })
        );
        assert_eq!(
            NoteVerifier::from_vkey(&with_raw(raw.get(..32).unwrap_or_default())),
            Err(NoteError::PublicKeyLength { len: 31 })
        );
        assert_eq!(
            NoteVerifier::from_vkey(&with_raw(&[])),
            Err(NoteError::MalformedVerifierKey)
        );
        let upper = text.replacen(
            &format!("{:08x}", v.key_id()),
            &format!("{:08X}", v.key_id()),
            1,
        );
        if upper != text {
            assert_eq!(
                NoteVerifier::from_vkey(&upper),
                Err(NoteError::MalformedVerifierKey)
            );
        }
        // The identity point has small order: anyone can sign for it.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let weak = VerifyingKey::from_bytes(&identity).map_err(|_| NoteError::InvalidPublicKey)?;
        assert_eq!(
            NoteVerifier::new("weak", weak),
            Err(NoteError::WeakPublicKey)
        );
        assert_eq!(
            NoteVerifier::from_vkey("nokey"),
            Err(NoteError::MalformedVerifierKey)
        );
        assert_eq!(
            NoteVerifier::from_vkey("a b+00000000+AQ=="),
            Err(NoteError::InvalidKeyName { name: "a b".into() })
        );
        Ok(())
    }

    fn checkpoint_text(size: &str, root: &str, extra: &str) -> String {
        format!("example.com/log\n{size}\n{root}\n{extra}")
    }

    #[test]
    fn checkpoints_parse_strictly() -> Result<(), NoteError> {
        let root = BASE64.encode([9u8; 32]);
        let ok = Checkpoint::parse(&checkpoint_text("42", &root, "ext one\n"), None)?;
        assert_eq!(ok.origin(), "example.com/log");
        assert_eq!(ok.size(), 42);
        assert_eq!(ok.root(), &Digest([9; 32]));
        assert_eq!(ok.extensions(), ["ext one"]);
        assert_eq!(
            Checkpoint::parse(&checkpoint_text("18446744073709551615", &root, ""), None)?.size(),
            u64::MAX
        );
        assert_eq!(
            Checkpoint::parse(&checkpoint_text("0", &root, ""), None)?.size(),
            0
        );
        for size in [
            "",
            "01",
            "00",
            "+1",
            "-1",
            " 1",
            "1 ",
            "0x1",
            "18446744073709551616",
            "١",
        ] {
            assert_eq!(
                Checkpoint::parse(&checkpoint_text(size, &root, ""), None),
                Err(NoteError::BadTreeSize),
                "size {size:?}"
            );
        }
        let short_root = BASE64.encode([9u8; 31]);
        let long_root = BASE64.encode([9u8; 33]);
        let unpadded = root.trim_end_matches('=').to_owned();
        let trailing_bits = format!("{}B=", root.get(..42).unwrap_or_default());
        for bad_root in [
            short_root.as_str(),
            &long_root,
            &unpadded,
            &trailing_bits,
            "",
            "YWJjZGVm",
        ] {
            assert_eq!(
                Checkpoint::parse(&checkpoint_text("1", bad_root, ""), None),
                Err(NoteError::BadRootHash),
                "root {bad_root:?}"
            );
        }
        let text = checkpoint_text("1", &root, "");
        assert_eq!(
            Checkpoint::parse(text.trim_end_matches('\n'), None),
            Err(NoteError::CheckpointTooShort)
        );
        assert_eq!(
            Checkpoint::parse("example.com/log\n1\n", None),
            Err(NoteError::CheckpointTooShort)
        );
        assert_eq!(
            Checkpoint::parse(&format!("\n1\n{root}\n"), None),
            Err(NoteError::CheckpointBadLine { line: 1 })
        );
        assert_eq!(
            Checkpoint::parse(&checkpoint_text("1", &root, "a\n\nb\n"), None),
            Err(NoteError::CheckpointBadLine { line: 5 })
        );
        assert_eq!(
            Checkpoint::parse(&checkpoint_text("1", &root, "\n"), None),
            Err(NoteError::CheckpointBadLine { line: 4 })
        );
        assert_eq!(
            Checkpoint::parse(&text, Some("example.com/other")),
            Err(NoteError::OriginMismatch {
                expected: "example.com/other".into(),
                found: "example.com/log".into()
            })
        );
        assert_eq!(
            Checkpoint::parse(&text.replace('\n', "\r\n"), None),
            Err(NoteError::ControlCharacter)
        );
        Ok(())
    }

    #[test]
    fn checkpoint_fields_are_valid_by_construction() {
        let root = Digest([1; 32]);
        assert!(Checkpoint::new("", 1, root, vec![]).is_err());
        assert!(Checkpoint::new("a\nb", 1, root, vec![]).is_err());
        assert_eq!(
            Checkpoint::new("log", 1, root, vec!["ok".into(), String::new()]),
            Err(NoteError::CheckpointBadLine { line: 5 })
        );
        assert!(Checkpoint::new("log", 1, root, vec!["x\ny".into()]).is_err());
    }

    #[test]
    fn open_checkpoint_requires_the_log_signature() -> Result<(), NoteError> {
        let (log_key, witness_key) = (key(1), key(2));
        let checkpoint = Checkpoint::new("example.com/log", 7, Digest([3; 32]), vec![])?;
        let log = NoteSigner::new("example.com/log", &log_key)?;
        let witness = NoteSigner::new("witness.example", &witness_key)?;
        let by_log = sign_checkpoint(&checkpoint, &log)?;
        let opened = open_checkpoint(
            by_log.as_bytes(),
            &log.verifier(),
            &[witness.verifier()],
            "example.com/log",
        )?;
        assert_eq!(opened.checkpoint, checkpoint);
        assert_eq!(opened.note.verified, ["example.com/log"]);
        let by_witness = sign_note(&checkpoint.to_text(), &[&witness])?;
        assert_eq!(
            open_checkpoint(
                by_witness.as_bytes(),
                &log.verifier(),
                &[witness.verifier()],
                "example.com/log"
            ),
            Err(NoteError::MissingLogSignature {
                name: "example.com/log".into()
            })
        );
        assert!(matches!(
            open_checkpoint(by_log.as_bytes(), &log.verifier(), &[], "example.com/other"),
            Err(NoteError::OriginMismatch { .. })
        ));
        Ok(())
    }

    fn fail(e: impl std::fmt::Display) -> TestCaseError {
        TestCaseError::fail(e.to_string())
    }

    proptest! {
        /// `parse(to_text(c)) == c` and `to_text(parse(t)) == t` for valid checkpoints.
        #[test]
        fn checkpoint_text_round_trips(
            origin in "[^\\x00-\\x1f]{1,40}",
            size in any::<u64>(),
            root in any::<[u8; 32]>(),
            extensions in proptest::collection::vec("[^\\x00-\\x1f]{1,20}", 0..4),
        ) {
            let checkpoint = Checkpoint::new(origin, size, Digest(root), extensions).map_err(fail)?;
            let text = checkpoint.to_text();
            let parsed = Checkpoint::parse(&text, Some(checkpoint.origin())).map_err(fail)?;
            prop_assert_eq!(&parsed, &checkpoint);
            prop_assert_eq!(parsed.to_text(), text);
        }

        /// Any valid text signs and opens to itself; opening arbitrary bytes never panics.
        #[test]
        fn notes_round_trip_and_garbage_never_panics(
            text in "([^\\x00-\\x1f]{0,30}\n){1,5}",
            garbage in proptest::collection::vec(any::<u8>(), 0..300),
            seed in any::<u8>(),
        ) {
            let k = key(seed);
            let signer = NoteSigner::new("example.com/log", &k).map_err(fail)?;
            let note = sign_note(&text, &[&signer]).map_err(fail)?;
            let opened = open_note(note.as_bytes(), &[signer.verifier()]).map_err(fail)?;
            prop_assert_eq!(opened.text, text);
            let _ = open_note(&garbage, &[signer.verifier()]);
            let mut spliced = note.into_bytes();
            spliced.extend_from_slice(&garbage);
            let _ = open_note(&spliced, &[signer.verifier()]);
        }
    }

    /// A checkpoint signed by the log and cosigned by `witness_key` at `time`.
    fn cosigned(time: u64) -> Result<(String, NoteVerifier, NoteVerifier), NoteError> {
        let (log_key, witness_key) = (key(1), key(2));
        let checkpoint = Checkpoint::new("example.com/log", 7, Digest([3; 32]), vec![])?;
        let log = NoteSigner::new("example.com/log", &log_key)?;
        let witness = NoteSigner::cosigner("witness.example/w1", &witness_key)?;
        let mut note = sign_checkpoint(&checkpoint, &log)?;
        note.push_str(&cosign(&checkpoint.to_text(), &witness, time)?);
        Ok((note, log.verifier(), witness.verifier()))
    }

    #[test]
    fn a_cosignature_verifies_with_its_time() -> Result<(), NoteError> {
        let (note, log, witness) = cosigned(1_679_315_147)?;
        let opened = open_checkpoint(
            note.as_bytes(),
            &log,
            std::slice::from_ref(&witness),
            "example.com/log",
        )?;
        assert_eq!(opened.note.cosigned_at(&witness), Some(1_679_315_147));
        assert_eq!(
            opened.note.verified,
            ["example.com/log", "witness.example/w1"]
        );
        // Without the witness key the line is only listed, and no time is claimed.
        let opened = open_checkpoint(note.as_bytes(), &log, &[], "example.com/log")?;
        assert_eq!(opened.note.unverified, ["witness.example/w1"]);
        assert_eq!(opened.note.cosigned_at(&witness), None);
        Ok(())
    }

    #[test]
    fn a_cosigner_vkey_has_type_four_and_round_trips() -> Result<(), NoteError> {
        let (_, log, witness) = cosigned(1)?;
        assert_eq!(witness.kind(), KeyKind::Cosignature);
        let vkey = witness.vkey();
        let raw = vkey.rsplit('+').next().and_then(|b| BASE64.decode(b).ok());
        assert_eq!(raw.and_then(|r| r.first().copied()), Some(0x04));
        assert_eq!(NoteVerifier::from_vkey(&vkey)?, witness);
        // The same key under the two types has two key IDs.
        let as_log = NoteVerifier::new(witness.name(), *witness.verifying_key())?;
        assert_ne!(as_log.key_id(), witness.key_id());
        assert_eq!(log.kind(), KeyKind::Ed25519);
        Ok(())
    }

    #[test]
    fn fail_a_cosignature_whose_time_was_changed_is_invalid() -> Result<(), NoteError> {
        let (note, log, witness) = cosigned(1_000)?;
        let line = note.lines().last().unwrap_or_default();
        let b64 = line.rsplit(' ').next().unwrap_or_default();
        let mut raw = BASE64
            .decode(b64)
            .map_err(|_| NoteError::MalformedVerifierKey)?;
        if let Some(byte) = raw.get_mut(11) {
            *byte ^= 1; // the time's last byte: 1000 becomes 1001
        }
        let forged = note.replace(b64, &BASE64.encode(&raw));
        assert_eq!(
            open_checkpoint(
                forged.as_bytes(),
                &log,
                std::slice::from_ref(&witness),
                "example.com/log"
            ),
            Err(NoteError::InvalidSignature {
                name: "witness.example/w1".into(),
                key_id: witness.key_id()
            })
        );
        Ok(())
    }

    #[test]
    fn fail_a_cosignature_time_beyond_2_63_is_refused() -> Result<(), NoteError> {
        let witness_key = key(2);
        let witness = NoteSigner::cosigner("w", &witness_key)?;
        assert_eq!(
            cosign(TEXT, &witness, MAX_COSIGNATURE_TIME + 1),
            Err(NoteError::CosignatureTime {
                time: MAX_COSIGNATURE_TIME + 1
            })
        );
        // A line carrying such a time, signed correctly, is still refused when opened.
        let time = MAX_COSIGNATURE_TIME + 1;
        let signature = witness_key.sign(cosigned_message(TEXT, time).as_bytes());
        let mut payload = time.to_be_bytes().to_vec();
        payload.extend_from_slice(&signature.to_bytes());
        let note = format!("{TEXT}\n{}", witness.line(&payload));
        assert!(matches!(
            open_note(note.as_bytes(), &[witness.verifier()]),
            Err(NoteError::InvalidSignature { .. })
        ));
        Ok(())
    }

    #[test]
    fn fail_log_and_witness_keys_are_not_interchangeable() -> Result<(), NoteError> {
        let k = key(5);
        let log = NoteSigner::new("log", &k)?;
        let witness = NoteSigner::cosigner("w", &k)?;
        assert!(matches!(
            sign_note(TEXT, &[&witness]),
            Err(NoteError::WrongKeyKind { .. })
        ));
        assert!(matches!(
            cosign(TEXT, &log, 1),
            Err(NoteError::WrongKeyKind { .. })
        ));
        // A plain signature under a witness's name and log key ID does not count as a
        // cosignature: the key IDs differ, so the line is from an unknown key.
        let plain = NoteSigner::new("w", &k)?;
        let note = sign_note(TEXT, &[&plain])?;
        assert!(matches!(
            open_note(note.as_bytes(), &[witness.verifier()]),
            Err(NoteError::NoVerifiedSignature { .. })
        ));
        Ok(())
    }
}
