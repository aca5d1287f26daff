//! Bundle export: one self-contained file of evidence for a lot, verified before anyone
//! gets it.
//!
//! Export picks the entries with the same [`Selection`] the offline verifier uses to refuse
//! extra entries, proves each against one signed checkpoint (the latest stored one if it
//! covers the whole log, else a fresh one signed with the operator key), and verifies the
//! result. The format and the offline checks live in `ledger_core::bundle`.

use ledger_core::bundle::{self, Bundle, BundleEntry, Selection};
use ledger_core::completeness::{self, Completeness};
use ledger_core::event::{Body, Role};
use ledger_core::id::{LotId, PartyId};
use ledger_core::keys::{PublicKey, SecretKey};
use ledger_core::merkle;
use ledger_core::note::{Checkpoint, NoteVerifier, open_checkpoint};
use ledger_core::plural::counted;
use ledger_core::policy::Policy;
use ledger_core::provenance::Trace;
use ledger_core::statement::Entry;
use ledger_core::subjects::Subjects;
use ledger_core::timestamp::Timestamp;
use ledger_store::{Nodes, Store};

use crate::Ledger;
use crate::error::{Error, Result};
use crate::lot::{Dag, Reads};

/// An exported bundle, with what an auditor needs to check it.
#[derive(Debug, Clone)]
pub struct ExportedBundle {
    /// The bundle.
    pub bundle: Bundle,
    /// Its file bytes.
    pub bytes: Vec<u8>,
    /// The checkpoint its proofs lead to.
    pub checkpoint: Checkpoint,
    /// The key that signed the checkpoint, to verify with.
    pub verifier: NoteVerifier,
    /// Whether the checkpoint was signed for this export (else the latest stored one).
    pub fresh_checkpoint: bool,
}

/// What one pass over a lot's evidence learns for an export.
struct Scan {
    selection: Selection,
    /// Operator parties' keys, as candidates for the checkpoint's signer.
    operator_keys: Vec<(PartyId, PublicKey)>,
}

/// The operator key (and its party) that signed `note`, among `candidates`.
fn checkpoint_signer(
    note: &str,
    origin: &str,
    candidates: &[(PartyId, PublicKey)],
) -> Result<(NoteVerifier, PartyId, Checkpoint)> {
    for (party, key) in candidates {
        let Ok(verifier) = NoteVerifier::new(origin, *key.verifying_key()) else {
            continue;
        };
        if let Ok(opened) = open_checkpoint(note.as_bytes(), &verifier, &[], origin) {
            return Ok((verifier, party.clone(), opened.checkpoint));
        }
    }
    Err(Error::damaged(
        "the checkpoint does not verify under any operator key of this ledger",
    ))
}

impl<S: Store> Ledger<S> {
    /// Offers the entries below `size` that the lot's evidence may need to a selection for
    /// the walk `trace`, in log order.
    fn scan(&self, size: u64, trace: &Trace, reads: Reads) -> Result<Scan> {
        let mut scan = Scan {
            selection: Selection::new(trace),
            operator_keys: Vec::new(),
        };
        for read in self.evidence_entries(Dag::of(trace), reads)? {
            let (seq, id) = (read.seq, read.id);
            if seq >= size {
                break;
            }
            let event = &read.entry.statement.event;
            if let Body::Enroll(e) = &event.body
                && e.roles.contains(&Role::Operator)
            {
                scan.operator_keys
                    .extend(e.keys.iter().map(|k| (e.party.clone(), *k)));
            }
            scan.selection.offer(seq, id, event);
        }
        Ok(scan)
    }

    /// The proof that `entries` (of the bundle of `trace`, at checkpoint size `size`, which
    /// is the log's size) hold every entry about the subjects they concern.
    fn completeness(
        &self,
        trace: &Trace,
        entries: &[BundleEntry],
        size: u64,
        nodes: &Nodes<'_>,
    ) -> Result<Completeness> {
        let mut events = Vec::with_capacity(entries.len());
        for e in entries {
            let entry = Entry::decode(&e.entry).map_err(|err| {
                Error::damaged(format!("a selected entry does not decode: {err}"))
            })?;
            events.push(entry.statement.event);
        }
        let lots = bundle::trace_lots(trace);
        let required = completeness::required(events.iter(), lots.iter());
        let last_seq = size
            .checked_sub(1)
            .ok_or_else(|| Error::damaged("a bundle needs a log with at least one entry"))?;
        let last_entry = self.store().entry(last_seq)?.ok_or_else(|| {
            Error::damaged(format!("entry #{last_seq} is missing from the store"))
        })?;
        let last_proof = merkle::inclusion_proof(last_seq, size, nodes)
            .map_err(|e| Error::damaged(format!("cannot prove entry #{last_seq}: {e}")))?;
        let mut index = Subjects::from_states(self.store().subject_states()?);
        Ok(completeness::prove(
            &mut index, &required, last_entry, last_proof,
        ))
    }

    /// Exports the evidence bundle of `lot`. Uses the latest stored checkpoint if it covers
    /// the whole log; otherwise signs a fresh one with `operator_key`, which is then
    /// required. The bundle is verified (as of `as_of`) before it is returned.
    pub fn export_bundle(
        &self,
        lot: &LotId,
        operator_key: Option<&SecretKey>,
        as_of: Timestamp,
    ) -> Result<ExportedBundle> {
        let store = self.store();
        let head = store.head()?;
        let (trace, reads) = self.walk(lot)?;
        let (note, fresh_checkpoint) = match self.latest_checkpoint()? {
            Some((size, note)) if size == head.size => (note, false),
            latest => {
                let Some(key) = operator_key else {
                    let have = latest.map_or("no checkpoint is stored".to_owned(), |(size, _)| {
                        format!("the latest checkpoint is for size {size}")
                    });
                    return Err(Error::BadInput(format!(
                        "{have} but the log has {}: give --operator-key (or set \
                         CUSTODY_OPERATOR_KEY) to sign a fresh checkpoint, or run custody \
                         checkpoint first",
                        counted(head.size, "entry", "entries")
                    )));
                };
                (self.sign_checkpoint(key)?.note, true)
            }
        };

        let scan = self.scan(head.size, &trace, reads)?;
        let (verifier, signer, checkpoint) =
            checkpoint_signer(&note, self.origin(), &scan.operator_keys)?;
        let size = checkpoint.size();
        let nodes = Nodes(store);
        let stored_root = merkle::root(size, &nodes)
            .map_err(|e| Error::damaged(format!("cannot read the store's merkle tree: {e}")))?;
        if stored_root != *checkpoint.root() {
            return Err(Error::damaged(format!(
                "the store's merkle tree has root {stored_root} at size {size}, not the \
                 checkpoint's {}",
                checkpoint.root()
            )));
        }
        let mut selection = scan.selection;
        selection.need(signer);
        let mut entries = Vec::new();
        for seq in selection.finish() {
            let entry = store
                .entry(seq)?
                .ok_or_else(|| Error::damaged(format!("entry #{seq} is missing from the store")))?;
            let proof = merkle::inclusion_proof(seq, size, &nodes)
                .map_err(|e| Error::damaged(format!("cannot prove entry #{seq}: {e}")))?;
            entries.push(BundleEntry { entry, proof });
        }
        let completeness = self.completeness(&trace, &entries, size, &nodes)?;
        let bundle = Bundle {
            lot: lot.clone(),
            checkpoint: note,
            entries,
            completeness,
        };
        let bytes = bundle
            .encode()
            .map_err(|e| Error::BadInput(format!("the bundle for lot {lot}: {e}")))?;

        // The file must verify before anyone gets it.
        let check = bundle::verify(&bundle, Some(&verifier), &Policy::default(), as_of);
        if !check.sound {
            let reasons: Vec<String> = check
                .findings
                .iter()
                .take(5)
                .map(|f| f.to_string())
                .collect();
            return Err(Error::damaged(format!(
                "the bundle for lot {lot} does not verify, nothing was written: {}",
                reasons.join("; ")
            )));
        }
        Ok(ExportedBundle {
            bundle,
            bytes,
            checkpoint,
            verifier,
            fresh_checkpoint,
        })
    }
}
