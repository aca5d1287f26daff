//! Whole-ledger verification: every entry replayed from the first, all state re-derived from
//! the entries alone (no index is trusted), the stored checkpoints and Merkle tree checked
//! against them, and the store's head and acknowledged head compared with the replay.

use ledger_core::finding::{self, Finding, Rule, Severity, Verdict};
use ledger_core::hash::Digest;
use ledger_core::id::LotId;
use ledger_core::merkle;
use ledger_core::note::Checkpoint;
use ledger_core::statement::entry_hash;
use ledger_core::transparency::LogAudit;
use ledger_core::verify::{KeyCache, Replay, prepare};
use ledger_store::{Nodes, Store};
use rayon::prelude::*;

use crate::Ledger;
use crate::error::{Error, Result};
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
        // Decoding, hashing and signature checks need no state: they run on all cores, a
        // chunk at a time (memory stays bounded); the rules then apply in log order.
        let keys = KeyCache::default();
        progress.start("verifying", store.head()?.size);
        let mut entries = store.entries(0);
        let mut chunk: Vec<(u64, Vec<u8>)> = Vec::with_capacity(VERIFY_CHUNK);
        loop {
            chunk.clear();
            let mut failure = None;
            for item in entries.by_ref() {
                match item {
                    Ok(entry) => chunk.push(entry),
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                }
                if chunk.len() == VERIFY_CHUNK {
                    break;
                }
            }
            let prepared: Vec<_> = chunk
                .par_iter()
                .map(|(seq, bytes)| (*seq, prepare(bytes, &keys)))
                .collect();
            for (seq, p) in prepared {
                replay.push_prepared(seq, &p)?;
                audit.push(replay.last_hash(), &replay);
            }
            progress.advance(chunk.len() as u64);
            if let Some(e) = failure {
                replay.findings.push(Finding::new(
                    Rule::EntryMalformed,
                    format!("cannot read entry: {e}"),
                ));
                break;
            }
            if chunk.len() < VERIFY_CHUNK {
                break;
            }
        }
        progress.finish();
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
            let last = match acknowledged.size.checked_sub(1) {
                Some(seq) => store.entry(seq)?.map(|bytes| entry_hash(&bytes)),
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
        let replay = self.replay_against(progress, held)?;
        let entries = replay.size();
        Ok(Report::new(Scope::Ledger, None, entries, replay.findings))
    }
}
