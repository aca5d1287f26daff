//! Signed statements and hash-chained log entries.
//!
//! - event id = `SHA-256("custody/event/v1" || 0x00 || canonical(event))`
//! - signature = ed25519 over `"custody/statement/v2" || 0x00 || u16-BE(len(origin)) ||
//!   origin || event id` ([`signing_message`]): the signature binds the ledger's origin
//!   (the first line of its checkpoints, fixed at `init`), so a statement signed for one
//!   ledger does not verify in another, even where the same party has the same key
//! - entry hash = RFC 6962 leaf hash `SHA-256(0x00 || canonical(entry))`; each entry
//!   carries the previous entry's hash, so the chain and the Merkle tree share one hash.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::codec::{self, CodecError};
use crate::event::Event;
use crate::hash::Digest;
use crate::keys::{KeyBytes, KeyError, PublicKey, SecretKey, Signature};
use crate::timestamp::Timestamp;

/// Domain tag of event ids.
pub const EVENT_TAG: &[u8] = b"custody/event/v1\0";
/// Domain tag of the message a statement signature covers. `v1` signed the event id
/// alone; `v2` binds the ledger's origin.
pub const SIGNATURE_TAG: &[u8] = b"custody/statement/v2\0";

/// The id of an event: a hash of its canonical bytes.
pub fn event_id(event_bytes: &[u8]) -> Digest {
    Digest::of(&[EVENT_TAG, event_bytes])
}

/// Why text is not a log origin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OriginError {
    /// The origin is empty.
    #[error("a log origin cannot be empty")]
    Empty,
    /// The origin contains a line break (it is the first line of every checkpoint).
    #[error("log origin {0:?} must be one line")]
    Multiline(String),
    /// The origin is longer than [`Origin::MAX_LEN`] bytes.
    #[error("log origin is {0} bytes, more than the limit of {max}", max = Origin::MAX_LEN)]
    TooLong(usize),
}

/// A ledger's origin: the first line of its checkpoints, fixed at `init`, and part of
/// every statement's [`signing_message`]. Non-empty, one line, at most
/// [`Origin::MAX_LEN`] bytes of UTF-8.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin(String);

impl Origin {
    /// The longest origin: its length is signed as a `u16`.
    pub const MAX_LEN: usize = u16::MAX as usize;

    /// Checks `text` as an origin.
    pub fn new(text: &str) -> Result<Origin, OriginError> {
        if text.is_empty() {
            return Err(OriginError::Empty);
        }
        if text.len() > Origin::MAX_LEN {
            return Err(OriginError::TooLong(text.len()));
        }
        if text.contains(['\n', '\r']) {
            return Err(OriginError::Multiline(text.chars().take(200).collect()));
        }
        Ok(Origin(text.to_owned()))
    }

    /// The origin text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The message a signer signs for the event with `id` in the ledger with `origin`:
/// `"custody/statement/v2" || 0x00 || u16-BE(len(origin)) || origin || id`
/// (`docs/format.md` §3).
pub fn signing_message(origin: &Origin, id: &Digest) -> Vec<u8> {
    let origin = origin.as_str().as_bytes();
    let mut message = Vec::with_capacity(SIGNATURE_TAG.len() + 2 + origin.len() + 32);
    message.extend_from_slice(SIGNATURE_TAG);
    // `Origin::new` bounds the length to `u16::MAX`.
    message.extend_from_slice(
        &u16::try_from(origin.len())
            .unwrap_or(u16::MAX)
            .to_be_bytes(),
    );
    message.extend_from_slice(origin);
    message.extend_from_slice(id.as_bytes());
    message
}

/// An event signed by one of its actor's keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    /// The event.
    pub event: Event,
    /// The key that signed (checked against the actor's enrolled keys by the rules).
    pub signer: KeyBytes,
    /// Signature over the [`signing_message`] of the ledger's origin and the event id.
    pub signature: Signature,
}

impl Statement {
    /// Signs `event` with `key` for the ledger with `origin`.
    pub fn sign(event: Event, origin: &Origin, key: &SecretKey) -> Result<Statement, CodecError> {
        let id = event_id(&codec::encode(&event)?);
        let signature = key.sign(&signing_message(origin, &id));
        Ok(Statement {
            event,
            signer: key.public_key().into(),
            signature,
        })
    }

    /// The event id, recomputed from the canonical bytes.
    pub fn id(&self) -> Result<Digest, CodecError> {
        Ok(event_id(&codec::encode(&self.event)?))
    }

    /// Checks the signature over the ledger's origin and the event id under the acceptance
    /// rule. A statement signed for a ledger with another origin fails it.
    pub fn verify_signature(&self, origin: &Origin, id: &Digest) -> Result<(), KeyError> {
        self.signer
            .verify(&signing_message(origin, id), &self.signature)
    }

    /// Checks the signature with `key`, an already checked key that must be the signer:
    /// the same rule as [`Statement::verify_signature`] without decompressing the key again.
    pub fn verify_signature_with(
        &self,
        origin: &Origin,
        id: &Digest,
        key: &PublicKey,
    ) -> Result<(), KeyError> {
        if self.signer != *key {
            return Err(KeyError::BadSignature);
        }
        key.verify(&signing_message(origin, id), &self.signature)
    }
}

/// The JSON form `custody sign` prints and `custody append` reads: the statement with its
/// id, which readers recompute and compare.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatementJson {
    /// The event id, hex.
    pub id: Digest,
    /// The normalized event.
    pub event: Event,
    /// The signing key, hex.
    pub signer: KeyBytes,
    /// The signature, hex.
    pub signature: Signature,
}

impl StatementJson {
    /// Wraps a statement with its id.
    pub fn new(statement: &Statement) -> Result<StatementJson, CodecError> {
        Ok(StatementJson {
            id: statement.id()?,
            event: statement.event.clone(),
            signer: statement.signer,
            signature: statement.signature,
        })
    }

    /// The id it carries and the statement; readers recompute the id and compare.
    pub fn into_parts(self) -> (Digest, Statement) {
        let statement = Statement {
            event: self.event,
            signer: self.signer,
            signature: self.signature,
        };
        (self.id, statement)
    }
}

/// One position of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Position, from 0.
    pub seq: u64,
    /// Hash of the entry at `seq - 1`, or zero for the first.
    pub prev: Digest,
    /// When the operator recorded it.
    pub recorded_at: Timestamp,
    /// The root of the subject index after this entry ([`crate::subjects`]): which entries
    /// are about each party and attested lot, so a checkpoint covers that too.
    pub subjects: Digest,
    /// The signed statement.
    pub statement: Statement,
}

impl Entry {
    /// Canonical bytes.
    pub fn encode(&self) -> Result<Vec<u8>, CodecError> {
        codec::encode(self)
    }

    /// Decodes an entry from canonical bytes.
    pub fn decode(bytes: &[u8]) -> Result<Entry, CodecError> {
        codec::decode(bytes)
    }
}

/// The hash of an entry's canonical bytes: its RFC 6962 leaf hash.
pub fn entry_hash(entry_bytes: &[u8]) -> Digest {
    Digest::of(&[&[0u8], entry_bytes])
}
