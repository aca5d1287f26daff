//! One lot: its provenance trace, the entries its evidence needs, and its verification
//! without replaying the whole log.
//!
//! The lot's provenance DAG is found through the store's indexes. Every entry its evidence
//! needs is then read and checked from its bytes: the genesis, the DAG's events, every entry
//! naming a lot of the DAG (so balances are global for those lots), enrollments and
//! revocations, attestations about the parties in the chain, and the receipts of selected
//! shipments. Each entry must match the Merkle tree's leaf at its position. The same rules as
//! an offline evidence bundle then run on them ([`bundle::check_evidence`]).
//!
//! What this trusts, unlike whole-ledger verification: that the store's indexes list every
//! entry naming those lots. Statements themselves are signed, so a store cannot forge them.

use std::collections::{BTreeSet, HashSet};

use ledger_core::bundle;
use ledger_core::event::Body;
use ledger_core::finding::{Finding, Rule};
use ledger_core::hash::Digest;
use ledger_core::id::{LotId, PartyId};
use ledger_core::policy::Policy;
use ledger_core::provenance::{self, AttestationSet, EventSource, Trace, TraceError};
use ledger_core::state::StateError;
use ledger_core::statement::{Entry, Statement};
use ledger_core::timestamp::Timestamp;
use ledger_core::verify::{KeyCache, Prepared, prepare_batch};
use ledger_store::{Store, StoreError};

use crate::Ledger;
use crate::error::{Error, Result};
use crate::verify::{Report, Scope};

/// A lot's verification: the report, and the provenance traced over the checked evidence.
#[derive(Debug, Clone)]
pub struct LotVerification {
    /// The verdict and findings.
    pub report: Report,
    /// The lot's provenance, traced over the verified entries.
    pub trace: Trace,
    /// The attestations due diligence read: those of the evidence that passed every check.
    pub attestations: AttestationSet,
}

/// Reads statements back from the store by event id, re-checking each against its id.
struct StoreEvents<'a, S: ?Sized>(&'a S);

impl<S: Store + ?Sized> EventSource for StoreEvents<'_, S> {
    fn statement(&self, id: &Digest) -> Result<Option<(u64, Statement)>, StateError> {
        let Some(record) = self.0.event(id)? else {
            return Ok(None);
        };
        let Some(bytes) = self.0.entry(record.seq)? else {
            return Ok(None);
        };
        let damaged = |reason: String| {
            StateError::new(StoreError::Corrupt {
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

fn trace_error(e: TraceError) -> Error {
    match e {
        TraceError::UnknownLot(lot) => Error::NotFound(format!("lot {lot} is not in the ledger")),
        TraceError::State(e) => Error::from(e),
        other => Error::BadInput(other.to_string()),
    }
}

impl<S: Store> Ledger<S> {
    /// Traces a lot using the store's indexes (fast; [`Ledger::verify_lot`] re-derives
    /// what it relies on from the entries).
    pub fn trace(&self, lot: &LotId) -> Result<Trace> {
        let store = self.store();
        provenance::trace(lot, store, &StoreEvents(store)).map_err(trace_error)
    }

    /// Verifies one lot without replaying the whole log (see the module documentation).
    pub fn verify_lot(
        &self,
        lot: &LotId,
        policy: &Policy,
        as_of: Timestamp,
    ) -> Result<LotVerification> {
        let dag = self.trace(lot)?;
        let keys = KeyCache::default();
        let entries: Vec<(u64, Prepared)> =
            prepare_batch(&self.evidence_entries(&dag)?, self.signing_origin(), &keys);
        let mut findings = Vec::new();
        for (seq, p) in &entries {
            let leaf = self.store().merkle_node(0, *seq)?;
            if leaf != Some(p.hash) {
                findings.push(Finding::new(
                    Rule::ChainBroken,
                    format!("entry #{seq} does not hash to the Merkle tree's leaf at its position"),
                ));
            }
        }
        let evidence = bundle::check_evidence(lot, &entries, policy, as_of, &mut |_| None)
            .map_err(Error::damaged)?;
        findings.extend(evidence.findings);
        Ok(LotVerification {
            report: Report::new(
                Scope::Lot,
                Some(lot.clone()),
                entries.len() as u64,
                findings,
            ),
            trace: evidence.trace,
            attestations: evidence.attestations,
        })
    }

    /// Every entry a lot's evidence may need, found through the store's indexes rather than
    /// by scanning the log, in log order: the genesis, the DAG's events, every entry naming
    /// a lot of the DAG, every enrollment and revocation, the attestations about the parties
    /// in the chain, and the receipts of the shipments among them. A superset of what
    /// [`bundle::Selection`] keeps; lot verification and bundle export both start here.
    pub(crate) fn evidence_entries(&self, dag: &Trace) -> Result<Vec<(u64, Vec<u8>)>> {
        let store = self.store();
        let mut seqs: BTreeSet<u64> = BTreeSet::from([0]);
        let mut lots: HashSet<LotId> = HashSet::from([dag.lot.clone()]);
        for e in dag.events.values() {
            seqs.insert(e.seq);
            lots.extend(e.statement.event.lots_named().into_iter().cloned());
        }
        for l in &lots {
            seqs.extend(store.lot_events(l)?);
        }
        seqs.extend(store.party_events()?);
        let mut entries = self.read_entries(&seqs)?;
        // Receipts of the shipments read so far (a receipt may name only other lots).
        let mut receipts = BTreeSet::new();
        for (seq, bytes) in &entries {
            let entry = Entry::decode(bytes)
                .map_err(|e| Error::damaged(format!("entry #{seq} is damaged: {e}")))?;
            if matches!(entry.statement.event.body, Body::Ship(_)) {
                let id = entry
                    .statement
                    .id()
                    .map_err(|e| Error::damaged(format!("entry #{seq}: {e}")))?;
                let received = store.shipment(&id)?.and_then(|s| s.received_by);
                if let Some(record) = received.map(|r| store.event(&r)).transpose()?.flatten()
                    && !seqs.contains(&record.seq)
                {
                    receipts.insert(record.seq);
                }
            }
        }
        if !receipts.is_empty() {
            seqs.extend(receipts.iter().copied());
            entries.extend(self.read_entries(&receipts)?);
        }
        // The attestations about every party these entries concern (actors, receivers,
        // subjects), and about the auditors of those, to a fixed point: a bundle proves it
        // holds every entry about each such party (`ledger_core::completeness`).
        let mut expanded: HashSet<PartyId> = HashSet::new();
        let mut unread: Vec<(u64, Vec<u8>)> = entries.clone();
        while !unread.is_empty() {
            let mut more = BTreeSet::new();
            for (seq, bytes) in &unread {
                let entry = Entry::decode(bytes)
                    .map_err(|e| Error::damaged(format!("entry #{seq} is damaged: {e}")))?;
                let event = &entry.statement.event;
                let mut parties = vec![event.actor.clone()];
                match &event.body {
                    Body::Ship(s) => parties.push(s.to.clone()),
                    Body::Attest(a) => {
                        if let ledger_core::event::Subject::Party(p) = &a.subject {
                            parties.push(p.clone());
                        }
                    }
                    _ => {}
                }
                for party in parties {
                    if expanded.insert(party.clone()) {
                        more.extend(
                            store
                                .attestations(&party)?
                                .iter()
                                .map(|a| a.seq)
                                .filter(|s| !seqs.contains(s)),
                        );
                    }
                }
            }
            seqs.extend(more.iter().copied());
            unread = self.read_entries(&more)?;
            entries.extend(unread.iter().cloned());
        }
        entries.sort_by_key(|(seq, _)| *seq);
        Ok(entries)
    }

    /// Reads the entries at `seqs`; an index naming a missing entry is a damaged store.
    fn read_entries(&self, seqs: &BTreeSet<u64>) -> Result<Vec<(u64, Vec<u8>)>> {
        seqs.iter()
            .map(|seq| {
                let bytes = self.store().entry(*seq)?.ok_or_else(|| {
                    Error::damaged(format!("entry #{seq} is named by an index but missing"))
                })?;
                Ok((*seq, bytes))
            })
            .collect()
    }
}
