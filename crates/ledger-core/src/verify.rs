//! Whole-ledger verification: replays every entry from the first, re-deriving all state
//! from the entries alone (the store's indexes are not trusted), and reports findings.
//!
//! Per entry: it must decode (CUS-INT-001), sit at its position (CUS-INT-002) and chain to
//! the entry before (CUS-INT-003); its statement then goes through the same check as an
//! append ([`crate::check`]): structure, signature (CUS-INT-004) and the per-event rules.
//!
//! A [`Replay::sparse`] replay checks a subset of the log in log order (an evidence
//! bundle): positions come from the entries, and the chain check is skipped because the
//! neighbours are absent; the caller proves each entry's position with an inclusion proof.

use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};

use rayon::prelude::*;

use crate::check::{self, Checked};
use crate::codec::CodecError;
use crate::finding::{Finding, Rule};
use crate::hash::Digest;
use crate::keys::{KeyBytes, PublicKey};
use crate::rules::RuleConfig;
use crate::state::{Empty, Overlay, StateError, StateView};
use crate::statement::{Entry, Origin, entry_hash};
use crate::subjects::Subjects;
use crate::timestamp::Timestamp;

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
    subjects: Subjects,
    subjects_wrong: bool,
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
            subjects: Subjects::default(),
            subjects_wrong: false,
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

    /// How many entries that change a party were replayed: [`Self::operator_keys`] can
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

    /// The subject index of the entries replayed so far.
    pub fn subjects(&self) -> &Subjects {
        &self.subjects
    }

    /// Takes the derived state and the subject index out, leaving them empty: a caller
    /// done with the replay of a large log frees them where it likes (millions of records).
    pub fn take_state(&mut self) -> (crate::state::Changes, Subjects) {
        (
            std::mem::take(&mut self.state.changes),
            std::mem::take(&mut self.subjects),
        )
    }

    /// Takes out the records only later entries' rules read (events, lots, holdings,
    /// shipments: nearly all of the state of a long log), keeping parties, keys,
    /// attestations and the subject index. A caller that wants only the findings frees them
    /// before the checks that follow the replay (the stored indexes against the log's);
    /// afterwards [`Self::state`] no longer knows those records.
    pub fn take_records(&mut self) -> crate::state::Changes {
        let changes = &mut self.state.changes;
        crate::state::Changes {
            events: std::mem::take(&mut changes.events),
            lots: std::mem::take(&mut changes.lots),
            holdings: std::mem::take(&mut changes.holdings),
            shipments: std::mem::take(&mut changes.shipments),
            ..crate::state::Changes::default()
        }
    }

    /// The replayed state's attestations.
    pub fn attestations(&self) -> &[crate::state::AttestationRecord] {
        &self.state.changes.attestations
    }

    /// The state and subject index derived from the entries replayed: what a store built
    /// from those entries holds (a read-only view of a ledger rebuilt from its entry log).
    pub fn into_state(self) -> (crate::state::Changes, Subjects) {
        (self.state.changes, self.subjects)
    }

    /// Checks and applies the entry stored at position `position` of the ledger with
    /// `origin` (which its signature must cover).
    pub fn push(&mut self, origin: &Origin, position: u64, bytes: &[u8]) -> Result<(), StateError> {
        let prepared = prepare(bytes, origin, &KeyCache::default());
        self.push_prepared(position, &prepared)
    }

    /// Checks and applies an entry whose state-free checks [`prepare`] or
    /// [`prepare_batch`] already did (in parallel, on the hot path).
    pub fn push_prepared(&mut self, position: u64, prepared: &Prepared) -> Result<(), StateError> {
        let expected_prev = std::mem::replace(&mut self.prev, prepared.hash);
        self.next_seq = position + 1;
        let entry = match &prepared.decoded {
            Ok(entry) => entry,
            Err(e) => {
                self.findings.push(Finding::new(
                    Rule::EntryMalformed,
                    format!("entry #{position} does not decode: {e}"),
                ));
                return Ok(());
            }
        };
        let statement = entry.statement.statement();
        if statement
            .event
            .body
            .party_changed(&statement.event.actor)
            .is_some()
        {
            self.party_changes += 1;
        }
        let at = |f: Finding| {
            f.at(entry.statement.id(), position)
                .party(&statement.event.actor)
        };
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
        self.subjects
            .record(position, &entry.statement.id(), &statement.event);
        // The first wrong root is reported; the ones after it follow from it.
        if !self.sparse && !self.subjects_wrong && entry.subjects != self.subjects.root() {
            self.subjects_wrong = true;
            self.findings.push(at(Finding::new(
                Rule::IndexMismatch,
                format!(
                    "entry #{position} commits to subject index root {}, but the entries up to \
                     it give {}: an entry about a party or lot was left out, added or changed",
                    entry.subjects,
                    self.subjects.root()
                ),
            )));
        }
        check::apply(
            &mut self.state,
            &entry.statement,
            position,
            entry.recorded_at,
            &self.cfg,
            &mut self.findings,
        )
    }
}

/// A decoded log entry whose statement went through [`Checked::new`] (or
/// [`Checked::new_batch`]).
#[derive(Debug, Clone)]
pub struct PreparedEntry {
    /// The position the entry says it has.
    pub seq: u64,
    /// The hash of the entry before it, as the entry says.
    pub prev: Digest,
    /// When the operator recorded it.
    pub recorded_at: Timestamp,
    /// The subject index root it commits to.
    pub subjects: Digest,
    /// Its statement, with id, structure and signature checked.
    pub statement: Checked,
}

/// An entry after the checks that need no ledger state: decoded, hashed, its event id
/// computed and its signature checked. [`prepare_batch`] prepares many entries at once
/// (signatures in batches, on all cores); callers feed the results to
/// [`Replay::push_prepared`] in log order.
pub struct Prepared {
    /// The entry hash (RFC 6962 leaf hash) of the stored bytes.
    pub hash: Digest,
    /// The checked entry, or why the bytes do not decode.
    pub decoded: Result<PreparedEntry, CodecError>,
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
        if let Ok(keys) = self.keys.read()
            && let Some(found) = keys.get(bytes)
        {
            return *found;
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

/// Decodes, hashes and signature-checks one stored entry of the ledger with `origin`.
pub fn prepare(bytes: &[u8], origin: &Origin, keys: &KeyCache) -> Prepared {
    let hash = entry_hash(bytes);
    let decoded = Entry::decode(bytes).and_then(|entry| {
        Ok(PreparedEntry {
            seq: entry.seq,
            prev: entry.prev,
            recorded_at: entry.recorded_at,
            subjects: entry.subjects,
            statement: Checked::new(entry.statement, origin, keys)?,
        })
    });
    Prepared { hash, decoded }
}

/// [`prepare`] of every `(position, bytes)` of `entries`, in order, with the signatures
/// verified in batches ([`Checked::new_batch`]) and the decoding on all cores. Each result
/// is the one [`prepare`] gives for that entry alone.
pub fn prepare_batch<B: AsRef<[u8]> + Sync>(
    entries: &[(u64, B)],
    origin: &Origin,
    keys: &KeyCache,
) -> Vec<(u64, Prepared)> {
    let decoded: Vec<(Digest, Result<Entry, CodecError>)> = entries
        .par_iter()
        .map(|(_, bytes)| (entry_hash(bytes.as_ref()), Entry::decode(bytes.as_ref())))
        .collect();
    let mut statements = Vec::with_capacity(decoded.len());
    let mut heads = Vec::with_capacity(decoded.len());
    for (hash, entry) in decoded {
        match entry {
            Ok(entry) => {
                heads.push((
                    hash,
                    Ok((entry.seq, entry.prev, entry.recorded_at, entry.subjects)),
                ));
                statements.push(entry.statement);
            }
            Err(e) => heads.push((hash, Err(e))),
        }
    }
    let mut checked = Checked::new_batch(statements, origin, keys).into_iter();
    entries
        .iter()
        .zip(heads)
        .map(|((position, _), (hash, head))| {
            let decoded = head.and_then(|(seq, prev, recorded_at, subjects)| {
                // One checked statement per decoded entry, in the same order.
                let statement = checked
                    .next()
                    .ok_or_else(|| CodecError::Encode("a statement was not checked".into()))??;
                Ok(PreparedEntry {
                    seq,
                    prev,
                    recorded_at,
                    subjects,
                    statement,
                })
            });
            (*position, Prepared { hash, decoded })
        })
        .collect()
}
