//! Holding the operator to the log: whole-ledger verification recomputes the RFC 6962 tree
//! from the replayed entries and checks, against it, every stored checkpoint and the root of
//! the store's own Merkle nodes (rule CUS-INT-007).
//!
//! Neither the store nor the operator is trusted, so a checkpoint counts only if it is
//! signed, under the log's origin, by an operator key that is valid at the checkpoint's
//! size *according to the replayed entries*, and if its root is the root recomputed from the
//! entries' hashes at that size. Checkpoints that all equal the recomputed roots are
//! consistent with each other and with the log, so no consistency proof is needed here.
//!
//! The recomputation keeps only a [`Frontier`] (O(log n) hashes) and takes the root at each
//! checkpoint size as the replay passes it, so memory does not grow with the log.
//!
//! ```
//! use ledger_core::merkle::leaf_hash;
//! use ledger_core::transparency::LogAudit;
//! use ledger_core::verify::Replay;
//!
//! // No checkpoints; the store's tree agrees with the entries.
//! let replay = Replay::default();
//! let mut audit = LogAudit::new("example.org/log", Vec::new(), &replay);
//! audit.push(leaf_hash(b"entry 0"), &replay);
//! let root = audit.root();
//! assert!(audit.finish(Ok(root)).is_empty());
//! ```

use crate::finding::{Finding, Rule};
use crate::hash::Digest;
use crate::merkle::Frontier;
use crate::note::{Checkpoint, NoteVerifier, open_note};
use crate::verify::Replay;

/// Checks stored checkpoints and the stored tree while a [`Replay`] passes over the log.
#[derive(Debug)]
pub struct LogAudit {
    origin: String,
    /// `(stored size, note)`, by increasing size.
    checkpoints: Vec<(u64, String)>,
    next: usize,
    frontier: Frontier,
    /// The operator verifiers, and the replay's `party_changes()` count they were made at.
    verifiers: Option<(u64, Result<Vec<NoteVerifier>, String>)>,
    findings: Vec<Finding>,
}

fn finding(message: String) -> Finding {
    Finding::new(Rule::CheckpointMismatch, message)
}

impl LogAudit {
    /// Starts an audit of the log `origin` whose store holds `checkpoints` as
    /// `(size, note)`; `replay` has replayed nothing yet (checkpoints of size 0 are checked
    /// against it).
    pub fn new(origin: &str, mut checkpoints: Vec<(u64, String)>, replay: &Replay) -> LogAudit {
        checkpoints.sort_by_key(|(size, _)| *size);
        let mut audit = LogAudit {
            origin: origin.to_owned(),
            checkpoints,
            next: 0,
            frontier: Frontier::new(),
            verifiers: None,
            findings: Vec::new(),
        };
        audit.check_due(replay);
        audit
    }

    /// Adds the hash of the entry `replay` has just replayed, then checks the checkpoints
    /// of the new size against the recomputed root and the operator keys valid now.
    pub fn push(&mut self, entry_hash: Digest, replay: &Replay) {
        if self.frontier.push(entry_hash).is_err() {
            self.findings.push(finding(
                "the log has more entries than a tree can hold".into(),
            ));
            return;
        }
        self.check_due(replay);
    }

    /// The number of entry hashes pushed.
    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    /// The RFC 6962 root recomputed from the entry hashes pushed so far.
    pub fn root(&self) -> Digest {
        self.frontier.root()
    }

    /// Ends the audit: checkpoints beyond the replayed log, and the root of the store's
    /// Merkle nodes at the replayed size (`Err` with the reason when it cannot be read),
    /// are compared; returns every finding.
    pub fn finish(mut self, stored_root: Result<Digest, String>) -> Vec<Finding> {
        let size = self.frontier.size();
        let root = self.frontier.root();
        for (stored, _) in self.checkpoints.iter().skip(self.next) {
            self.findings.push(finding(format!(
                "a checkpoint for tree size {stored} is stored, but the log has only {size} entries"
            )));
        }
        match stored_root {
            Ok(stored) if stored == root => {}
            Ok(stored) => self.findings.push(finding(format!(
                "the store's merkle tree has root {stored} at size {size}, but the entries hash \
                 to {root}: proofs served from this store would not verify"
            ))),
            Err(reason) => self.findings.push(finding(format!(
                "cannot compute the root of the store's merkle tree at size {size}: {reason}"
            ))),
        }
        self.findings
    }

    /// Checks every checkpoint whose stored size is the current size.
    fn check_due(&mut self, replay: &Replay) {
        let size = self.frontier.size();
        if self
            .checkpoints
            .get(self.next)
            .is_none_or(|(s, _)| *s != size)
        {
            return;
        }
        self.refresh_verifiers(replay);
        while let Some((stored, note)) = self.checkpoints.get(self.next) {
            if *stored != size {
                break;
            }
            let result = self.check(size, note);
            if let Err(message) = result {
                self.findings.push(finding(message));
            }
            self.next += 1;
        }
    }

    /// Rebuilds the verifiers of the operator keys valid now, only after an enrollment or a
    /// revocation (a log may hold many checkpoints and many parties).
    fn refresh_verifiers(&mut self, replay: &Replay) {
        let epoch = replay.party_changes();
        if self.verifiers.as_ref().is_some_and(|(at, _)| *at == epoch) {
            return;
        }
        let verifiers = replay
            .operator_keys()
            .iter()
            .map(|key| NoteVerifier::new(&self.origin, *key.verifying_key()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("log origin cannot name a key: {e}"));
        self.verifiers = Some((epoch, verifiers));
    }

    fn check(&self, size: u64, note: &str) -> Result<(), String> {
        let verifiers = match &self.verifiers {
            Some((_, Ok(verifiers))) => verifiers.as_slice(),
            Some((_, Err(e))) => return Err(format!("checkpoint for tree size {size}: {e}")),
            None => &[],
        };
        if verifiers.is_empty() {
            return Err(format!(
                "checkpoint for tree size {size}: no operator key is valid at that size"
            ));
        }
        let opened = open_note(note.as_bytes(), verifiers).map_err(|e| {
            format!(
                "checkpoint for tree size {size} is not signed by an operator key valid at \
                 that size: {e}"
            )
        })?;
        let checkpoint = Checkpoint::parse(&opened.text, Some(&self.origin)).map_err(|e| {
            format!("checkpoint for tree size {size} is not a valid checkpoint: {e}")
        })?;
        if checkpoint.size() != size {
            return Err(format!(
                "a checkpoint stored for tree size {size} says tree size {}",
                checkpoint.size()
            ));
        }
        let root = self.frontier.root();
        if *checkpoint.root() != root {
            return Err(format!(
                "checkpoint for tree size {size} has root {}, but the entries hash to {root}: \
                 the operator signed a log that is not this one",
                checkpoint.root()
            ));
        }
        Ok(())
    }
}
