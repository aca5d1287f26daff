//! Whole-ledger verification: replays every entry from the first, re-deriving all state
//! from the entries alone (the store's indexes are not trusted), and reports findings.
//!
//! Per entry: it must decode (CUS-INT-001), sit at its position (CUS-INT-002), chain to
//! the entry before (CUS-INT-003), pass the structural checks, carry a valid signature
//! (CUS-INT-004), and pass the per-event rules of [`crate::rules`].
//!
//! A [`Replay::sparse`] replay checks a subset of the log in log order (an evidence
//! bundle): positions come from the entries, and the chain check is skipped because the
//! neighbours are absent; the caller proves each entry's position with an inclusion proof.

use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};

use crate::codec::CodecError;
use crate::keys::{KeyBytes, PublicKey};

use crate::finding::{Finding, Rule};
use crate::hash::Digest;
use crate::rules::{self, RuleConfig};
use crate::state::{Empty, Overlay, StateError, StateView};
use crate::statement::{Entry, entry_hash};
use crate::validate::check_event;

/// An empty base state for replays.
fn empty() -> &'static Empty {
    static EMPTY: OnceLock<Empty> = OnceLock::new();
    EMPTY.get_or_init(|| Empty)
}

/// Replays a log entry by entry.
pub struct Replay {
    state: Overlay<'static>,
    cfg: RuleConfig,
    next_seq: u64,
    prev: Digest,
    sparse: bool,
    party_changes: u64,
    /// Findings so far, in log order.
    pub findings: Vec<Finding>,
}

impl Default for Replay {
    fn default() -> Self {
        Replay::new(RuleConfig::default())
    }
}

impl Replay {
    /// A replay of an empty log.
    pub fn new(cfg: RuleConfig) -> Replay {
        Replay {
            state: Overlay::new(empty()),
            cfg,
            next_seq: 0,
            prev: Digest::ZERO,
            sparse: false,
            party_changes: 0,
            findings: Vec::new(),
        }
    }

    /// A replay of some entries of a log, in log order, without the chain check (see the
    /// module documentation).
    pub fn sparse(cfg: RuleConfig) -> Replay {
        Replay {
            sparse: true,
            ..Replay::new(cfg)
        }
    }

    /// The operator keys valid at the current position: keys of parties with the operator
    /// role that are not revoked. Checkpoints of this size must be signed by one of them.
    pub fn operator_keys(&self) -> Vec<crate::keys::PublicKey> {
        let mut keys: Vec<_> = self
            .state
            .changes
            .parties
            .values()
            .filter(|p| p.roles.contains(&crate::event::Role::Operator))
            .flat_map(|p| p.keys.iter())
            .filter(|k| k.revoked_seq.is_none())
            // Enrolled keys were checked at enrollment, so parsing succeeds.
            .filter_map(|k| k.key.parse().ok())
            .collect();
        keys.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        keys
    }

    /// How many `enroll` and `revoke` entries were replayed: [`Self::operator_keys`] can
    /// only change when this does.
    pub fn party_changes(&self) -> u64 {
        self.party_changes
    }

    /// Number of entries replayed.
    pub fn size(&self) -> u64 {
        self.next_seq
    }

    /// Hash of the last entry replayed.
    pub fn last_hash(&self) -> Digest {
        self.prev
    }

    /// The state derived so far.
    pub fn state(&self) -> &dyn StateView {
        &self.state
    }

    /// The replayed state's attestations.
    pub fn attestations(&self) -> &[crate::state::AttestationRecord] {
        &self.state.changes.attestations
    }

    /// Checks and applies the entry stored at position `position`.
    pub fn push(&mut self, position: u64, bytes: &[u8]) -> Result<(), StateError> {
        let prepared = prepare(bytes, &KeyCache::default());
        self.push_prepared(position, &prepared)
    }

    /// Checks and applies an entry whose state-free checks [`prepare`] already did (in
    /// parallel, on the hot path).
    pub fn push_prepared(&mut self, position: u64, prepared: &Prepared) -> Result<(), StateError> {
        let expected_prev = std::mem::replace(&mut self.prev, prepared.hash);
        self.next_seq = position + 1;
        let (entry, id) = match &prepared.decoded {
            Ok((entry, id)) => (entry, *id),
            Err(e) => {
                self.findings.push(Finding::new(
                    Rule::EntryMalformed,
                    format!("entry #{position} does not decode: {e}"),
                ));
                return Ok(());
            }
        };
        if matches!(
            entry.statement.event.body,
            crate::event::Body::Enroll(_) | crate::event::Body::Revoke(_)
        ) {
            self.party_changes += 1;
        }
        let at = |f: Finding| f.at(id, position).party(&entry.statement.event.actor);
        if entry.seq != position {
            self.findings.push(at(Finding::new(
                Rule::SequenceGap,
                format!("entry at position {position} says it is #{}", entry.seq),
            )));
        }
        if !self.sparse && entry.prev != expected_prev {
            self.findings.push(at(Finding::new(
                Rule::ChainBroken,
                format!("entry #{position} links to {} but the previous entry hashes to {expected_prev}", entry.prev),
            )));
        }
        if let Err(e) = check_event(&entry.statement.event) {
            self.findings.push(at(Finding::new(
                Rule::EntryMalformed,
                format!("event breaks a structural rule: {e}"),
            )));
        }
        if !prepared.signature_ok {
            self.findings.push(at(Finding::new(
                Rule::BadSignature,
                format!("signature by {} does not verify", entry.statement.signer),
            )));
        }
        let subject = rules::Subject {
            seq: position,
            id,
            event: &entry.statement.event,
            signer: &entry.statement.signer,
            recorded_at: entry.recorded_at,
        };
        rules::apply(&mut self.state, &subject, &self.cfg, &mut self.findings)
    }
}

/// An entry after the checks that need no ledger state: decoded, hashed, its event id
/// computed and its signature checked. [`prepare`] is pure, so callers run it on many
/// entries in parallel and feed the results to [`Replay::push_prepared`] in log order.
pub struct Prepared {
    /// The entry hash (RFC 6962 leaf hash) of the stored bytes.
    pub hash: Digest,
    /// The entry and its event id, or why the bytes do not decode.
    pub decoded: Result<(Entry, Digest), CodecError>,
    /// Whether the signature verifies under the acceptance rule.
    pub signature_ok: bool,
}

/// Checked signer keys, so each distinct signer's curve point is decompressed and checked
/// once per verification rather than once per entry. Safe to share between threads.
#[derive(Default)]
pub struct KeyCache {
    keys: RwLock<HashMap<KeyBytes, Option<PublicKey>>>,
}

impl KeyCache {
    /// The checked key for `bytes`, or `None` if they are not a valid key.
    pub fn get(&self, bytes: &KeyBytes) -> Option<PublicKey> {
        if let Ok(keys) = self.keys.read() {
            if let Some(found) = keys.get(bytes) {
                return *found;
            }
        }
        let parsed = bytes.parse().ok();
        if let Ok(mut keys) = self.keys.write() {
            // A hostile log could name unboundedly many signers: cap the cache.
            if keys.len() < 1 << 16 {
                keys.insert(*bytes, parsed);
            }
        }
        parsed
    }
}

/// Decodes, hashes and signature-checks one stored entry.
pub fn prepare(bytes: &[u8], keys: &KeyCache) -> Prepared {
    let hash = entry_hash(bytes);
    let decoded = Entry::decode(bytes).and_then(|entry| {
        let id = entry.statement.id()?;
        Ok((entry, id))
    });
    let signature_ok = match &decoded {
        Ok((entry, id)) => keys
            .get(&entry.statement.signer)
            .is_some_and(|key| entry.statement.verify_signature_with(id, &key).is_ok()),
        Err(_) => false,
    };
    Prepared {
        hash,
        decoded,
        signature_ok,
    }
}
