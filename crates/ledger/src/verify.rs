//! Whole-ledger verification: every entry replayed from the first, all state re-derived from
//! the entries alone (no index is trusted), the stored checkpoints and Merkle tree checked
//! against them, the store's evidence indexes compared with the ones the entries imply
//! ([`crate::indexes`]), and the store's head and acknowledged head compared with the
//! replay. With
//! a policy ([`Ledger::verify_with_policy`]), the provenance rules then run for every product
//! lot, as `verify --lot` runs them for one.

use std::collections::HashSet;

use ledger_core::event::Body;
use ledger_core::finding::{self, Finding, Rule, Severity, Verdict};
use ledger_core::hash::Digest;
use ledger_core::id::LotId;
use ledger_core::merkle;
use ledger_core::note::Checkpoint;
use ledger_core::policy::Policy;
use ledger_core::provenance::{self, AttestationSet, EventSource, TraceError};
use ledger_core::state::{StateError, StateView};
use ledger_core::statement::{Entry, Statement, entry_hash};
use ledger_core::timestamp::Timestamp;
use ledger_core::transparency::LogAudit;
use ledger_core::verify::{KeyCache, Prepared, Replay, prepare_batch};
use ledger_store::{Nodes, Store};

use crate::Ledger;
use crate::error::{Error, Result};
use crate::indexes::LogIndexes;
use crate::progress::Progress;

/// Entries decoded and signature-checked in parallel at a time during verification.
const VERIFY_CHUNK: usize = 4096;

/// What a verification covered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// The whole ledger.
    Ledger,
    /// One lot, on the ledger.
    Lot,
    /// One lot, from an offline evidence bundle.
    Bundle,
}

/// The result of a verification: the verdict and every finding (SPEC §4).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    /// `pass` or `fail`.
    pub verdict: Verdict,
    /// What was verified.
    pub scope: Scope,
    /// The lot, for a lot or bundle verification.
    pub lot: Option<LotId>,
    /// Entries checked.
    pub entries: u64,
    /// Number of error and warning findings.
    pub counts: Counts,
    /// Every finding.
    pub findings: Vec<Finding>,
}

/// Finding counts.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Counts {
    /// Errors.
    pub errors: usize,
    /// Warnings.
    pub warnings: usize,
}

impl Report {
    /// A report of `findings`, with the verdict and counts they give.
    pub fn new(scope: Scope, lot: Option<LotId>, entries: u64, findings: Vec<Finding>) -> Report {
        let errors = findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count();
        Report {
            verdict: finding::verdict(&findings),
            scope,
            lot,
            entries,
            counts: Counts {
                errors,
                warnings: findings.len() - errors,
            },
            findings,
        }
    }
}

impl<S: Store> Ledger<S> {
    /// Replays the whole log from its entries and checks the store's head, acknowledged
    /// head, Merkle tree and stored checkpoints against the replay.
    pub fn replay(&self, progress: &dyn Progress) -> Result<Replay> {
        self.replay_against(progress, &[])
    }

    /// [`Ledger::replay`], also holding the log to `held`: signed checkpoint notes the
    /// auditor kept from earlier. Each must be signed by an operator key valid at its size
    /// and have the root the entries hash to at that size, and the log must be at least as
    /// large: a log rolled back to an older copy, or replaced by another with the same
    /// origin, fails.
    pub fn replay_against(&self, progress: &dyn Progress, held: &[String]) -> Result<Replay> {
        self.replay_observing(progress, held, &mut |_| {}, Keep::State)
    }

    /// [`Ledger::replay_against`], showing each prepared entry to `observe` as it is
    /// replayed (whole-ledger due diligence learns the product lots this way, from the
    /// entries the replay checked rather than from a second read of the store), and keeping
    /// of the replayed state what `keep` says.
    fn replay_observing(
        &self,
        progress: &dyn Progress,
        held: &[String],
        observe: &mut dyn FnMut(&Prepared),
        keep: Keep,
    ) -> Result<Replay> {
        let store = self.store();
        let mut replay = Replay::new(*self.rules());
        let size = store.head()?.size;
        let mut audited = Vec::new();
        for note in held {
            let body = note
                .split_once("\n\n")
                .map_or(note.as_str(), |(body, _)| body);
            let checkpoint =
                Checkpoint::parse(&format!("{body}\n"), Some(self.origin())).map_err(|e| {
                    Error::BadInput(format!(
                        "the checkpoint you hold is not a checkpoint of {}: {e}",
                        self.origin()
                    ))
                })?;
            if checkpoint.size() > size {
                replay.findings.push(Finding::new(
                    Rule::CheckpointMismatch,
                    format!(
                        "the checkpoint you hold is for tree size {}, but the log has only \
                         {size} entries: the log was rolled back, or replaced by an older copy",
                        checkpoint.size()
                    ),
                ));
            } else {
                audited.push((checkpoint.size(), note.clone()));
            }
        }
        let mut checkpoints = match store.checkpoints() {
            Ok(list) => list,
            Err(e) => {
                replay.findings.push(Finding::new(
                    Rule::CheckpointMismatch,
                    format!("cannot read the stored checkpoints: {e}"),
                ));
                Vec::new()
            }
        };
        checkpoints.extend(audited);
        let mut audit = LogAudit::new(self.origin(), checkpoints, &replay);
        // Decoding, hashing and signature checks need no state. A pipeline of threads: one
        // reads the next chunk, one prepares the chunk before it on all cores, this one
        // applies the rules to the chunk before that, in log order, and one frees what the
        // rules are done with. Each channel holds one chunk, so memory stays bounded.
        let keys = KeyCache::default();
        let mut indexes = LogIndexes::default();
        progress.start("verifying", store.head()?.size);
        let origin = self.signing_origin();
        std::thread::scope(|scope| -> Result<()> {
            let (send_read, read) = std::sync::mpsc::sync_channel::<Chunk<Vec<u8>>>(1);
            let (send_prepared, chunks) = std::sync::mpsc::sync_channel::<Chunk<Prepared>>(1);
            let (send_done, done) = std::sync::mpsc::sync_channel::<Chunk<Prepared>>(1);
            scope.spawn(move || read_chunks(store, send_read));
            scope.spawn(move || prepare_chunks(read, origin, &keys, send_prepared));
            scope.spawn(move || done.into_iter().for_each(drop));
            for chunk in chunks {
                for (seq, p) in &chunk.entries {
                    observe(p);
                    indexes.observe(*seq, p);
                    replay.push_prepared(*seq, p)?;
                    audit.push(replay.last_hash(), &replay);
                }
                progress.advance(chunk.entries.len() as u64);
                if let Some(e) = &chunk.failure {
                    replay.findings.push(Finding::new(
                        Rule::EntryMalformed,
                        format!("cannot read entry: {e}"),
                    ));
                }
                // Freed on the last thread, off the rules' path (here if it is gone).
                let _ = send_done.send(chunk);
            }
            Ok(())
        })?;
        progress.finish();
        if keep == Keep::Findings {
            // Freed before the stored indexes are read, so the two are not in memory at
            // once: at 10^6 entries the records are about 330 MB, and sled's pages read by
            // the comparison's scans 100 MB or more. Freeing them here costs about 0.7 s
            // at 10^6 (millions of small allocations); on a thread of its own beside the
            // comparison it cost as much (both take the same malloc arena).
            drop(replay.take_records());
        }
        let index_findings = indexes.check(store, replay.attestations(), replay.subjects())?;
        free_elsewhere(indexes);
        replay.findings.extend(index_findings);
        let acknowledged = store.acknowledged()?;
        if acknowledged.is_none() && replay.size() > 0 {
            replay.findings.push(Finding::new(
                Rule::ChainBroken,
                format!(
                    "the store holds {} entries but no record of what it acknowledged (the \
                     acknowledged-head file beside the store is missing): acknowledged entries \
                     may have been lost without a trace; compare the log with a checkpoint \
                     you hold (verify --checkpoint)",
                    replay.size()
                ),
            ));
        }
        if let Some(acknowledged) = acknowledged {
            // An entry the store cannot read back was reported by the replay; here it
            // counts as missing.
            let last = match acknowledged.size.checked_sub(1) {
                Some(seq) => store
                    .entry(seq)
                    .ok()
                    .flatten()
                    .map(|bytes| entry_hash(&bytes)),
                None => Some(Digest::ZERO),
            };
            if replay.size() < acknowledged.size || last != Some(acknowledged.last) {
                replay.findings.push(Finding::new(
                    Rule::ChainBroken,
                    format!(
                        "the store holds {} entries, but {} were acknowledged and the last of \
                         them is missing or changed: acknowledged entries were lost (damaged \
                         files or an old copy)",
                        replay.size(),
                        acknowledged.size
                    ),
                ));
            }
        }
        let head = store.head()?;
        if head.size != replay.size() || head.last != replay.last_hash() {
            replay.findings.push(Finding::new(
                Rule::ChainBroken,
                format!(
                    "the store's head says {} entries ending in {}, but the entries replay to {} ending in {}",
                    head.size,
                    head.last,
                    replay.size(),
                    replay.last_hash()
                ),
            ));
        }
        let stored_root = merkle::root(audit.size(), &Nodes(store)).map_err(|e| e.to_string());
        replay.findings.extend(audit.finish(stored_root));
        Ok(replay)
    }

    /// Verifies the whole ledger.
    pub fn verify(&self, progress: &dyn Progress) -> Result<Report> {
        self.verify_against(progress, &[])
    }

    /// Verifies the whole ledger, also against checkpoints the auditor holds
    /// ([`Ledger::replay_against`]).
    pub fn verify_against(&self, progress: &dyn Progress, held: &[String]) -> Result<Report> {
        let mut replay = self.replay_observing(progress, held, &mut |_| {}, Keep::Findings)?;
        let entries = replay.size();
        let findings = std::mem::take(&mut replay.findings);
        free_elsewhere(replay.take_state());
        Ok(Report::new(Scope::Ledger, None, entries, findings))
    }

    /// Verifies the whole ledger ([`Ledger::verify_against`]) and runs the provenance rules
    /// (origins and due diligence, under `policy` as of `as_of`) for every product lot:
    /// `verify --policy FILE` without `--lot`.
    ///
    /// A **product lot** is a lot created in the log (by `extract`, `recycle` or
    /// `transform`) that no `transform` in the log takes as an input. Every other lot is
    /// consumed by some transform, so it lies on the way of a product lot, and so do its
    /// parties, its lots and its origins: the findings of `verify --lot` for any lot are
    /// among these. Each product lot is traced over the replayed state (no index is
    /// trusted: events are found by the ids the replay derived, and each is re-read and
    /// checked against its id) and gets the findings `verify --lot` gives it; a finding
    /// reached from several product lots is reported once. An attestation with an error
    /// finding counts for nothing, as in `verify --lot`.
    pub fn verify_with_policy(
        &self,
        progress: &dyn Progress,
        held: &[String],
        policy: &Policy,
        as_of: Timestamp,
    ) -> Result<Report> {
        let mut products = Products::default();
        let replay =
            self.replay_observing(progress, held, &mut |p| products.observe(p), Keep::State)?;
        let entries = replay.size();
        let mut findings = replay.findings.clone();
        let failed: HashSet<Digest> = replay
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .filter_map(|f| f.event)
            .collect();
        let attestations = AttestationSet::new(
            replay
                .attestations()
                .iter()
                .filter(|a| !failed.contains(&a.event))
                .cloned(),
        );
        let source = ReplayEvents {
            state: replay.state(),
            store: self.store(),
        };
        let mut said: HashSet<FindingKey> = findings.iter().map(FindingKey::of).collect();
        for lot in products.lots() {
            let found = match provenance::trace(&lot, replay.state(), &source) {
                Ok(trace) => provenance::provenance_findings(
                    &trace,
                    replay.state(),
                    &attestations,
                    policy,
                    as_of,
                )?,
                Err(TraceError::State(e)) => return Err(Error::from(e)),
                Err(e) => vec![
                    Finding::new(Rule::NoOrigin, format!("cannot trace lot {lot}: {e}")).lot(&lot),
                ],
            };
            for f in found {
                if said.insert(FindingKey::of(&f)) {
                    findings.push(f);
                }
            }
        }
        Ok(Report::new(Scope::Ledger, None, entries, findings))
    }
}

/// Drops `value` on a thread of its own, off the caller's path: the replayed state of a
/// large log is millions of small allocations, and freeing them takes a noticeable share of
/// a whole-ledger verify. Dropped here if no thread can be started.
/// What a replay keeps of the state it derived, once the log is replayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keep {
    /// All of it, for a caller that reads the state afterwards.
    State,
    /// What the checks after the log need (parties, attestations, the subject index): the
    /// caller wants only the findings.
    Findings,
}

fn free_elsewhere<T: Send + 'static>(value: T) {
    // A closure that cannot be started is dropped, and `value` with it.
    let _ = std::thread::Builder::new()
        .name("custody-free".into())
        .spawn(move || drop(value));
}

/// Entries in log order (read, or prepared for the rules), and the read error that ended
/// the log early, if one did.
struct Chunk<T> {
    entries: Vec<(u64, T)>,
    failure: Option<ledger_store::StoreError>,
}

/// Reads the log from its first entry, [`VERIFY_CHUNK`] entries at a time, and sends each
/// chunk on. Stops after a read error, at the end of the log, or when the receiver hangs up.
fn read_chunks<S: Store>(store: &S, send: std::sync::mpsc::SyncSender<Chunk<Vec<u8>>>) {
    let mut entries = store.entries(0);
    loop {
        let mut read: Vec<(u64, Vec<u8>)> = Vec::with_capacity(VERIFY_CHUNK);
        let mut failure = None;
        for item in entries.by_ref() {
            match item {
                Ok(entry) => read.push(entry),
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
            if read.len() == VERIFY_CHUNK {
                break;
            }
        }
        let last = failure.is_some() || read.len() < VERIFY_CHUNK;
        let chunk = Chunk {
            entries: read,
            failure,
        };
        if send.send(chunk).is_err() || last {
            return;
        }
    }
}

/// Prepares each chunk `read` receives ([`prepare_batch`]: decoding, hashing, signatures,
/// on all cores) and sends it on, until the reader is done or the receiver hangs up.
fn prepare_chunks(
    read: std::sync::mpsc::Receiver<Chunk<Vec<u8>>>,
    origin: &ledger_core::statement::Origin,
    keys: &KeyCache,
    send: std::sync::mpsc::SyncSender<Chunk<Prepared>>,
) {
    for chunk in read {
        let entries = prepare_batch(&chunk.entries, origin, keys);
        drop(chunk.entries);
        let prepared = Chunk {
            entries,
            failure: chunk.failure,
        };
        if send.send(prepared).is_err() {
            return;
        }
    }
}

/// The lots created in the log and the lots a `transform` consumes, in log order.
#[derive(Default)]
struct Products {
    created: Vec<LotId>,
    consumed: HashSet<LotId>,
}

impl Products {
    fn observe(&mut self, p: &Prepared) {
        let Ok(entry) = &p.decoded else {
            return;
        };
        let body = &entry.statement.statement().event.body;
        self.created
            .extend(body.outputs().iter().map(|o| o.lot.clone()));
        if let Body::Transform(t) = body {
            self.consumed.extend(t.inputs.iter().map(|m| m.lot.clone()));
        }
    }

    /// The product lots: created, and consumed by no transform, each once.
    fn lots(self) -> Vec<LotId> {
        let mut seen = HashSet::new();
        self.created
            .into_iter()
            .filter(|l| !self.consumed.contains(l) && seen.insert(l.clone()))
            .collect()
    }
}

/// What makes two findings the same finding, for reporting each once.
#[derive(PartialEq, Eq, Hash)]
struct FindingKey(
    Rule,
    Severity,
    Option<Digest>,
    Option<String>,
    Option<String>,
    String,
);

impl FindingKey {
    fn of(f: &Finding) -> FindingKey {
        FindingKey(
            f.rule,
            f.severity,
            f.event,
            f.party.as_ref().map(|p| p.to_string()),
            f.lot.as_ref().map(|l| l.to_string()),
            f.message.clone(),
        )
    }
}

/// Events by id as the replay derived them: the position comes from the replayed state,
/// and the entry there is re-read and checked to hold that event.
struct ReplayEvents<'a, S: ?Sized> {
    state: &'a dyn StateView,
    store: &'a S,
}

impl<S: Store + ?Sized> EventSource for ReplayEvents<'_, S> {
    fn statement(&self, id: &Digest) -> std::result::Result<Option<(u64, Statement)>, StateError> {
        let Some(record) = self.state.event(id)? else {
            return Ok(None);
        };
        let Some(bytes) = self.store.entry(record.seq)? else {
            return Ok(None);
        };
        let damaged = |reason: String| {
            StateError::new(ledger_store::StoreError::Corrupt {
                what: format!("entry #{}", record.seq),
                reason,
            })
        };
        let entry = Entry::decode(&bytes).map_err(|e| damaged(e.to_string()))?;
        let actual = entry.statement.id().map_err(|e| damaged(e.to_string()))?;
        if actual != *id {
            return Err(damaged(format!("it holds event {actual}, not {id}")));
        }
        Ok(Some((record.seq, entry.statement)))
    }
}
