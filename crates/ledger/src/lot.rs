//! One lot: its provenance trace, the entries its evidence needs, and its verification
//! without replaying the whole log.
//!
//! The entries naming the lot are read through the store's lot index, then, level by level,
//! those naming the inputs of the transforms that made the lots reached; the provenance DAG
//! is walked over them (an event they do not hold is looked up through the event index).
//! Every other entry the evidence needs is then read the same way: the genesis, every entry
//! naming a lot of the DAG (so balances are global for those lots), enrollments and
//! revocations, attestations about the parties in the chain, and the receipts of selected
//! shipments. Each entry is read and decoded once, and the walk, the choice of evidence and
//! the checks share that decoding. Each is checked from its bytes (signatures in batches on
//! all cores) and must match the Merkle tree's leaf at its position. The same rules as an
//! offline evidence bundle then run on them ([`bundle::check_evidence`]).
//!
//! What this trusts, unlike whole-ledger verification: that the store's indexes list every
//! entry naming those lots. Statements themselves are signed, so a store cannot forge them.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use rayon::prelude::*;

use ledger_core::bundle;
use ledger_core::check::Checked;
use ledger_core::codec::CodecError;
use ledger_core::event::{Body, Subject};
use ledger_core::finding::{Finding, Rule};
use ledger_core::hash::Digest;
use ledger_core::id::{LotId, PartyId};
use ledger_core::policy::Policy;
use ledger_core::provenance::{self, AttestationSet, EventSource, Lent, Trace, TraceError};
use ledger_core::state::StateError;
use ledger_core::statement::{Entry, Origin, Statement, entry_hash};
use ledger_core::timestamp::Timestamp;
use ledger_core::verify::{KeyCache, Prepared, PreparedEntry};
use ledger_store::{Store, StoreError};

use crate::error::{Error, Result};
use crate::verify::{Report, Scope};
use crate::{Ledger, decode_entry};

/// Entries read from the store in one [`Store::entries_at`] call.
const READ_CHUNK: usize = 512;

/// A result with a state error, as walks read events.
type StateResult<T> = std::result::Result<T, StateError>;

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

/// An entry of a lot's evidence, read and decoded once for the walk, the choice of
/// evidence, the checks and bundle export.
pub(crate) struct ReadEntry {
    /// Its position.
    pub(crate) seq: u64,
    /// The stored bytes.
    pub(crate) bytes: Vec<u8>,
    /// The bytes decoded.
    pub(crate) entry: Entry,
    /// Its event id.
    pub(crate) id: Digest,
}

/// What reading a position an index names gave.
enum Read {
    /// Boxed, so that maps and lists of reads move pointers, not entries.
    Decoded(Box<ReadEntry>),
    /// The bytes do not decode: the error, raised only if the entry is part of the evidence.
    Damaged(Error),
    /// The store holds no entry there.
    Missing,
}

/// The entries read for one lot so far, by position, and the lot index's answers: each
/// entry is read and decoded once however many steps ask for it.
#[derive(Default)]
pub(crate) struct Reads {
    entries: BTreeMap<u64, Read>,
    by_id: HashMap<Digest, u64>,
    lot_events: HashMap<LotId, Vec<u64>>,
}

impl Reads {
    /// Reads and decodes, on all cores, the entries at `seqs` not read yet.
    fn read<S: Store + ?Sized>(&mut self, store: &S, seqs: &BTreeSet<u64>) -> Result<()> {
        let new: Vec<u64> = seqs
            .iter()
            .copied()
            .filter(|seq| !self.entries.contains_key(seq))
            .collect();
        // Read in batches (a few round trips on a remote store), decoded on all cores.
        let fetched: Vec<(u64, Option<Vec<u8>>)> = new
            .par_chunks(READ_CHUNK)
            .map(|chunk| Ok(chunk.iter().copied().zip(store.entries_at(chunk)?)))
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .flatten()
            .collect();
        let read: Vec<(u64, Read)> = fetched
            .into_par_iter()
            .map(|(seq, bytes)| {
                let read = match bytes {
                    None => Read::Missing,
                    Some(bytes) => match decode_entry(seq, &bytes) {
                        Ok((entry, id)) => Read::Decoded(Box::new(ReadEntry {
                            seq,
                            bytes,
                            entry,
                            id,
                        })),
                        Err(e) => Read::Damaged(e),
                    },
                };
                (seq, read)
            })
            .collect();
        for (seq, read) in read {
            if let Read::Decoded(e) = &read {
                self.by_id.entry(e.id).or_insert(seq);
            }
            self.entries.insert(seq, read);
        }
        Ok(())
    }

    /// [`Reads::read`], then the first of `seqs` that is missing or damaged is an error: an
    /// index names it.
    fn read_all<S: Store + ?Sized>(&mut self, store: &S, seqs: &BTreeSet<u64>) -> Result<()> {
        self.read(store, seqs)?;
        if let Some(seq) = seqs
            .iter()
            .find(|seq| matches!(self.entries.get(seq), None | Some(Read::Missing)))
        {
            return Err(Error::damaged(format!(
                "entry #{seq} is named by an index but missing"
            )));
        }
        let damaged = seqs
            .iter()
            .find(|seq| matches!(self.entries.get(seq), Some(Read::Damaged(_))));
        if let Some(seq) = damaged
            && let Some(Read::Damaged(e)) = self.entries.remove(seq)
        {
            return Err(e);
        }
        Ok(())
    }

    /// The entry at `seq`, if it was read and decodes.
    fn decoded(&self, seq: u64) -> Option<&ReadEntry> {
        match self.entries.get(&seq) {
            Some(Read::Decoded(e)) => Some(e),
            _ => None,
        }
    }

    /// Asks the lot index, on all cores, for the positions of every lot of `lots` not asked
    /// yet, and returns the positions of all of them.
    fn lot_events<'l, S: Store + ?Sized>(
        &mut self,
        store: &S,
        lots: impl IntoIterator<Item = &'l LotId>,
    ) -> Result<BTreeSet<u64>> {
        let lots: BTreeSet<&LotId> = lots.into_iter().collect();
        let asked: Vec<(LotId, Vec<u64>)> = lots
            .par_iter()
            .filter(|lot| !self.lot_events.contains_key(**lot))
            .map(|lot| Ok(((*lot).clone(), store.lot_events(lot)?)))
            .collect::<Result<_>>()?;
        self.lot_events.extend(asked);
        Ok(lots
            .iter()
            .filter_map(|lot| self.lot_events.get(*lot))
            .flatten()
            .copied()
            .collect())
    }

    /// Reads the entries naming `lot` and, level by level, those naming the inputs of every
    /// transform among them that makes a lot of the level: what a walk of `lot`'s provenance
    /// looks up, read in a few bulk steps before it starts.
    fn read_upstream<S: Store + ?Sized>(&mut self, store: &S, lot: &LotId) -> Result<()> {
        let mut level: Vec<LotId> = vec![lot.clone()];
        while !level.is_empty() {
            let seqs = self.lot_events(store, &level)?;
            self.read(store, &seqs)?;
            let made: HashSet<&LotId> = level.iter().collect();
            let mut next = BTreeSet::new();
            for seq in &seqs {
                if let Some(e) = self.decoded(*seq)
                    && let Body::Transform(tr) = &e.entry.statement.event.body
                    && tr.outputs.iter().any(|o| made.contains(&o.lot))
                {
                    next.extend(
                        tr.inputs
                            .iter()
                            .filter(|m| !self.lot_events.contains_key(&m.lot))
                            .map(|m| m.lot.clone()),
                    );
                }
            }
            level = next.into_iter().collect();
        }
        Ok(())
    }

    /// The statement with event id `id` for a walk: lent from the entries read, else read
    /// through the store's event index.
    fn lend<'r, S: Store + ?Sized>(&'r self, store: &S, id: &Digest) -> StateResult<Lent<'r>> {
        if let Some(seq) = self.by_id.get(id)
            && let Some(e) = self.decoded(*seq)
        {
            return Ok(Some((*seq, Cow::Borrowed(&e.entry.statement))));
        }
        Ok(StoreEvents(store)
            .statement(id)?
            .map(|(seq, statement)| (seq, Cow::Owned(statement))))
    }

    /// Moves the entries at `seqs` out, in log order (each was read and decodes).
    fn take(mut self, seqs: &BTreeSet<u64>) -> Vec<ReadEntry> {
        seqs.iter()
            .filter_map(|seq| match self.entries.remove(seq) {
                Some(Read::Decoded(e)) => Some(*e),
                _ => None,
            })
            .collect()
    }
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

/// The state-free checks of `entries` (in log order), as `ledger_core::verify::prepare_batch`
/// does them but on entries already decoded: the leaf hash, then id, structure and signature
/// through [`Checked::new_batch`]. The statements go in grouped by signer, so that each batch
/// merges the terms of few keys; each result is that statement's own, whatever its batch.
fn prepare(entries: Vec<ReadEntry>, origin: &Origin) -> Vec<(u64, Prepared)> {
    type Head = (u64, Digest, Digest, Timestamp, Digest);
    let mut items: Vec<(Head, Statement)> = entries
        .into_par_iter()
        .map(|e| {
            let ReadEntry {
                seq, bytes, entry, ..
            } = e;
            let head = (
                seq,
                entry_hash(&bytes),
                entry.prev,
                entry.recorded_at,
                entry.subjects,
            );
            (head, entry.statement)
        })
        .collect();
    items.sort_by_key(|((seq, ..), statement)| (statement.signer, *seq));
    let (heads, statements): (Vec<Head>, Vec<Statement>) = items.into_iter().unzip();
    let mut checked = Checked::new_batch(statements, origin, &KeyCache::default()).into_iter();
    let mut prepared: Vec<(u64, Prepared)> = heads
        .into_iter()
        .map(|(seq, hash, prev, recorded_at, subjects)| {
            let decoded = checked
                .next()
                .ok_or_else(|| CodecError::Encode("a statement was not checked".into()))
                .and_then(|c| c)
                .map(|statement| PreparedEntry {
                    seq,
                    prev,
                    recorded_at,
                    subjects,
                    statement,
                });
            (seq, Prepared { hash, decoded })
        })
        .collect();
    prepared.sort_by_key(|(seq, _)| *seq);
    prepared
}

/// Where a lot's evidence starts: the positions of its DAG's events, and the lot with
/// every lot those events name.
pub(crate) struct Dag {
    seqs: BTreeSet<u64>,
    lots: HashSet<LotId>,
}

impl Dag {
    /// The start of `lot`'s evidence from the events of its walk.
    fn new<'s>(lot: &LotId, events: impl IntoIterator<Item = (u64, &'s Statement)>) -> Dag {
        let mut dag = Dag {
            seqs: BTreeSet::new(),
            lots: HashSet::from([lot.clone()]),
        };
        for (seq, statement) in events {
            dag.seqs.insert(seq);
            dag.lots
                .extend(statement.event.lots_named().into_iter().cloned());
        }
        dag
    }

    /// The start of the evidence of `trace`'s lot.
    pub(crate) fn of(trace: &Trace) -> Dag {
        Dag::new(
            &trace.lot,
            trace.events.values().map(|e| (e.seq, &e.statement)),
        )
    }
}

impl<S: Store> Ledger<S> {
    /// Traces a lot using the store's indexes (fast; [`Ledger::verify_lot`] re-derives
    /// what it relies on from the entries).
    pub fn trace(&self, lot: &LotId) -> Result<Trace> {
        let store = self.store();
        let mut reads = Reads::default();
        reads.read_upstream(store, lot)?;
        provenance::trace_lent(lot, store, &|id| reads.lend(store, id)).map_err(trace_error)
    }

    /// The walk of `lot`'s provenance DAG through the store's indexes, without its origin
    /// mix, and the entries read for it, to choose the evidence from.
    pub(crate) fn walk(&self, lot: &LotId) -> Result<(Trace, Reads)> {
        let store = self.store();
        let mut reads = Reads::default();
        reads.read_upstream(store, lot)?;
        let walked =
            provenance::walk_lent(lot, store, &|id| reads.lend(store, id)).map_err(trace_error)?;
        let dag = walked.into_trace(lot);
        Ok((dag, reads))
    }

    /// Verifies one lot without replaying the whole log (see the module documentation).
    pub fn verify_lot(
        &self,
        lot: &LotId,
        policy: &Policy,
        as_of: Timestamp,
    ) -> Result<LotVerification> {
        let store = self.store();
        let mut reads = Reads::default();
        reads.read_upstream(store, lot)?;
        let dag = {
            let walked = provenance::walk_lent(lot, store, &|id| reads.lend(store, id))
                .map_err(trace_error)?;
            Dag::new(
                lot,
                walked.events.values().map(|(seq, s)| (*seq, s.as_ref())),
            )
        };
        let read = self.evidence_entries(dag, reads)?;
        let leaves: Vec<Option<Digest>> = read
            .par_iter()
            .map(|e| store.merkle_node(0, e.seq))
            .collect::<Result<_, StoreError>>()?;
        let entries = prepare(read, self.signing_origin());
        let mut findings = Vec::new();
        for ((seq, p), leaf) in entries.iter().zip(leaves) {
            if leaf != Some(p.hash) {
                findings.push(Finding::new(
                    Rule::ChainBroken,
                    format!("entry #{seq} does not hash to the Merkle tree's leaf at its position"),
                ));
            }
        }
        let evidence =
            bundle::check_evidence(lot, &entries, policy, as_of, None).map_err(Error::damaged)?;
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
    /// [`bundle::Selection`] keeps; lot verification and bundle export both start here,
    /// from a walk and the entries read for it.
    pub(crate) fn evidence_entries(&self, dag: Dag, mut reads: Reads) -> Result<Vec<ReadEntry>> {
        let store = self.store();
        let mut seqs = dag.seqs;
        seqs.insert(0);
        seqs.extend(reads.lot_events(store, &dag.lots)?);
        seqs.extend(store.party_events()?);
        reads.read_all(store, &seqs)?;
        // Receipts of the shipments read so far (a receipt may name only other lots).
        let ships: Vec<Digest> = seqs
            .iter()
            .filter_map(|seq| reads.decoded(*seq))
            .filter(|e| matches!(e.entry.statement.event.body, Body::Ship(_)))
            .map(|e| e.id)
            .collect();
        let received: Vec<Option<u64>> = ships
            .par_iter()
            .map(|id| {
                let receipt = store.shipment(id)?.and_then(|s| s.received_by);
                let record = receipt.map(|r| store.event(&r)).transpose()?.flatten();
                Ok(record.map(|r| r.seq))
            })
            .collect::<Result<_>>()?;
        let receipts: BTreeSet<u64> = received
            .into_iter()
            .flatten()
            .filter(|seq| !seqs.contains(seq))
            .collect();
        if !receipts.is_empty() {
            seqs.extend(receipts.iter().copied());
            reads.read_all(store, &receipts)?;
        }
        // The attestations about every party these entries concern (actors, receivers,
        // subjects), and about the auditors of those, to a fixed point: a bundle proves it
        // holds every entry about each such party (`ledger_core::completeness`).
        let mut expanded: HashSet<PartyId> = HashSet::new();
        let mut unread: BTreeSet<u64> = seqs.clone();
        while !unread.is_empty() {
            let mut parties = Vec::new();
            for e in unread.iter().filter_map(|seq| reads.decoded(*seq)) {
                let event = &e.entry.statement.event;
                let mut named = vec![&event.actor];
                match &event.body {
                    Body::Ship(s) => named.push(&s.to),
                    Body::Attest(a) => {
                        if let Subject::Party(p) = &a.subject {
                            named.push(p);
                        }
                    }
                    _ => {}
                }
                for party in named {
                    if expanded.insert(party.clone()) {
                        parties.push(party.clone());
                    }
                }
            }
            let attested: Vec<Vec<u64>> = parties
                .par_iter()
                .map(|party| Ok(store.attestations(party)?.iter().map(|a| a.seq).collect()))
                .collect::<Result<_>>()?;
            let more: BTreeSet<u64> = attested
                .into_iter()
                .flatten()
                .filter(|seq| !seqs.contains(seq))
                .collect();
            seqs.extend(more.iter().copied());
            reads.read_all(store, &more)?;
            unread = more;
        }
        Ok(reads.take(&seqs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger_core::event::{Event, Revoke};
    use ledger_core::keys::SecretKey;

    fn entry(seq: u64, key: &SecretKey, origin: &Origin) -> ReadEntry {
        let party = PartyId::new("p").unwrap();
        let event = Event {
            actor: party.clone(),
            time: Timestamp::from_unix(0).unwrap(),
            nonce: seq,
            emissions_g_co2e: None,
            documents: Vec::new(),
            body: Body::Revoke(Revoke {
                party,
                key: key.public_key(),
            }),
        };
        let entry = Entry {
            seq,
            prev: Digest::ZERO,
            recorded_at: Timestamp::from_unix(0).unwrap(),
            subjects: Digest::ZERO,
            statement: Statement::sign(event, origin, key).unwrap(),
        };
        let bytes = entry.encode().unwrap();
        let id = entry.statement.id().unwrap();
        ReadEntry {
            seq,
            bytes,
            entry,
            id,
        }
    }

    /// The trace over the entries read through the lot index is the one an event-record
    /// lookup per event gives, for every lot of the demo ledger.
    #[test]
    fn trace_over_the_lot_index_is_the_trace_over_the_event_index() {
        use ledger_scenario::demo;
        let dir = tempfile::tempdir().unwrap();
        let (ledger, keys) = demo::enrolled_ledger(&dir.path().join("ledger")).unwrap();
        let mut ctx = ledger.signing_context();
        demo::append_events(&ledger, &keys, &mut ctx, demo::SCENARIO).unwrap();
        let store = ledger.store();
        let lots = store.lots(None, 1000).unwrap();
        assert!(lots.iter().any(|(l, _)| l.as_str() == demo::MODULE));
        for (lot, _) in lots {
            let new = ledger.trace(&lot).unwrap();
            let old = provenance::trace(&lot, store, &StoreEvents(store)).unwrap();
            let events = |t: &Trace| -> Vec<(Digest, u64)> {
                t.events.values().map(|e| (e.id, e.seq)).collect()
            };
            assert_eq!(events(&new), events(&old), "{lot}");
            assert_eq!(new.edges, old.edges, "{lot}");
            assert_eq!(new.origins, old.origins, "{lot}");
            assert_eq!(new.mix, old.mix, "{lot}");
            assert_eq!(format!("{:?}", new.findings), format!("{:?}", old.findings));
        }
    }

    /// Grouping statements by signer must not change which result belongs to which entry:
    /// each is the one the single-entry check gives.
    #[test]
    fn prepare_gives_each_entry_its_own_result_in_log_order() {
        let origin = Origin::new("test.example/log").unwrap();
        let keys = [
            SecretKey::from_seed(&[1; 32]),
            SecretKey::from_seed(&[2; 32]),
        ];
        let mut entries: Vec<ReadEntry> = (0..600)
            .map(|seq| entry(seq, &keys[(seq % 2) as usize], &origin))
            .collect();
        // A signature of another statement: only its own entry fails.
        entries[301].entry.statement.signature = entries[299].entry.statement.signature;
        entries[301].bytes = entries[301].entry.encode().unwrap();
        let cache = KeyCache::default();
        let expected: Vec<Prepared> = entries
            .iter()
            .map(|e| ledger_core::verify::prepare(&e.bytes, &origin, &cache))
            .collect();
        let prepared = prepare(entries, &origin);
        assert_eq!(prepared.len(), expected.len());
        for (n, ((seq, got), want)) in prepared.iter().zip(&expected).enumerate() {
            assert_eq!((*seq, got.hash), (n as u64, want.hash));
            let (got, want) = (
                got.decoded.as_ref().unwrap(),
                want.decoded.as_ref().unwrap(),
            );
            assert_eq!(got.seq, want.seq);
            assert_eq!(got.statement.id(), want.statement.id());
            assert_eq!(got.statement.is_sound(), want.statement.is_sound(), "#{n}");
        }
        assert!(
            !prepared[301]
                .1
                .decoded
                .as_ref()
                .unwrap()
                .statement
                .is_sound()
        );
        assert!(
            prepared[300]
                .1
                .decoded
                .as_ref()
                .unwrap()
                .statement
                .is_sound()
        );
    }
}
