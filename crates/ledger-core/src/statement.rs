//! Signed statements and hash-chained log entries.
//!
//! - event id = `SHA-256("custody/event/v1" || 0x00 || canonical(event))`
//! - signature = ed25519 over `"custody/statement/v1" || 0x00 || event id`
//! - entry hash = RFC 6962 leaf hash `SHA-256(0x00 || canonical(entry))`; each entry
//!   carries the previous entry's hash, so the chain and the Merkle tree share one hash.

use serde::{Deserialize, Serialize};

use crate::codec::{self, CodecError};
use crate::event::Event;
use crate::hash::Digest;
use crate::keys::{KeyBytes, KeyError, PublicKey, SecretKey, Signature};
use crate::timestamp::Timestamp;

/// Domain tag of event ids.
pub const EVENT_TAG: &[u8] = b"custody/event/v1\0";
/// Domain tag of the message a statement signature covers.
pub const SIGNATURE_TAG: &[u8] = b"custody/statement/v1\0";

/// The id of an event: a hash of its canonical bytes.
pub fn event_id(event_bytes: &[u8]) -> Digest {
    Digest::of(&[EVENT_TAG, event_bytes])
}

/// The message a signer signs for the event with `id`.
pub fn signing_message(id: &Digest) -> [u8; 53] {
    let mut message = [0u8; 53];
    message[..SIGNATURE_TAG.len()].copy_from_slice(SIGNATURE_TAG);
    message[SIGNATURE_TAG.len()..].copy_from_slice(id.as_bytes());
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
    /// Signature over [`signing_message`] of the event id.
    pub signature: Signature,
}

impl Statement {
    /// Signs `event` with `key`.
    pub fn sign(event: Event, key: &SecretKey) -> Result<Statement, CodecError> {
        let id = event_id(&codec::encode(&event)?);
        let signature = key.sign(&signing_message(&id));
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

    /// Checks the signature over the event id under the acceptance rule.
    pub fn verify_signature(&self, id: &Digest) -> Result<(), KeyError> {
        self.signer.verify(&signing_message(id), &self.signature)
    }

    /// Checks the signature with `key`, an already checked key that must be the signer:
    /// the same rule as [`Statement::verify_signature`] without decompressing the key again.
    pub fn verify_signature_with(&self, id: &Digest, key: &PublicKey) -> Result<(), KeyError> {
        if self.signer != *key {
            return Err(KeyError::BadSignature);
        }
        key.verify(&signing_message(id), &self.signature)
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
