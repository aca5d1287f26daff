//! The ledger as the commands use it: a sled store plus the core's rules. Appending checks
//! each statement against the store's state and writes one atomic batch; verifying replays
//! the entries alone and trusts no index.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;

use anyhow::{Context, Result};
use ledger_core::bundle;
use ledger_core::event::{Body, Event};
use ledger_core::finding::{Finding, Rule, Severity};
use ledger_core::hash::Digest;
use ledger_core::id::{LotId, PartyId};
use ledger_core::input::SignContext;
use ledger_core::merkle::{self, NodeSource, PendingNodes};
use ledger_core::policy::Policy;
use ledger_core::provenance::{self, EventSource, Trace};
use ledger_core::quantity::Unit;
use ledger_core::rules::{self, RuleConfig};
use ledger_core::state::{Overlay, StateError, StateView};
use ledger_core::statement::{Entry, Statement, entry_hash};
use ledger_core::timestamp::Timestamp;
use ledger_core::validate::check_event;
use ledger_core::verify::{KeyCache, Prepared, Replay, prepare};
use ledger_store::{AppendBatch, Head, SledStore, Store, StoreError};
use rayon::prelude::*;

/// Now, as a ledger timestamp.
pub fn now() -> Result<Timestamp> {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("the system clock is before 1970")?
        .as_secs();
    Ok(Timestamp::from_unix(
        i64::try_from(seconds).context("the system clock is out of range")?,
    )?)
}

/// Opens an existing ledger.
pub fn open(dir: &Path) -> Result<SledStore> {
    Ok(SledStore::open(dir)?)
}

/// Where an accepted statement landed, with the proof that it is in the log (SPEC §1).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Receipt {
    /// Its event id.
    pub id: Digest,
    /// Its log position.
    pub seq: u64,
    /// Its entry's RFC 6962 leaf hash (the entry hash).
    pub leaf_hash: Digest,
    /// The log size right after the batch.
    pub tree_size: u64,
    /// The Merkle root at `tree_size`.
    pub root: Digest,
    /// The inclusion proof of the leaf at `seq` in the tree of `tree_size`, leaf to root.
    pub inclusion_path: Vec<Digest>,
}

/// A batch `append` refused: nothing was written.
#[derive(Debug)]
pub struct Refused {
    /// Error findings, each with the batch index of its statement.
    pub findings: Vec<(usize, Finding)>,
}

/// Batches at least this large show a progress bar while their rules are checked.
const PROGRESS_FROM: usize = 10_000;

/// Reads Merkle nodes from the store.
pub struct StoreNodes<'a>(pub &'a dyn Store);

impl NodeSource for StoreNodes<'_> {
    type Error = StoreError;

    fn node(&self, level: u8, index: u64) -> Result<Digest, StoreError> {
        self.0
            .merkle_node(level, index)?
            .ok_or_else(|| StoreError::Corrupt {
                what: format!("merkle node at level {level}, index {index}"),
                reason: "missing".into(),
            })
    }
}

/// Checks `statements` against the ledger and appends them as one batch, or refuses them
/// all. Returns the receipts, or the findings that refused the batch.
pub fn append(
    store: &dyn Store,
    statements: &[Statement],
    recorded_at: Timestamp,
) -> Result<Result<Vec<Receipt>, Refused>> {
    let head = store.head()?;
    let cfg = RuleConfig::default();
    let mut overlay = Overlay::new(store);
    let mut refused = Vec::new();
    // Ids, structure and signatures need no state: check them on all cores first.
    let keys = KeyCache::default();
    let checked: Vec<(Digest, Option<String>, bool)> = statements
        .par_iter()
        .map(|statement| {
            let id = statement.id()?;
            let structure = check_event(&statement.event).err().map(|e| e.to_string());
            let signed = keys
                .get(&statement.signer)
                .is_some_and(|key| statement.verify_signature_with(&id, &key).is_ok());
            Ok((id, structure, signed))
        })
        .collect::<Result<_>>()?;
    let ids: Vec<Digest> = checked.iter().map(|(id, _, _)| *id).collect();
    // Bulk imports show progress on a terminal; small batches stay silent.
    let bar = (statements.len() >= PROGRESS_FROM)
        .then(|| crate::io::progress(statements.len() as u64, "checking"));
    for (i, (statement, (id, structure, signed))) in statements.iter().zip(checked).enumerate() {
        if let Some(bar) = &bar {
            bar.inc(1);
        }
        let seq = head.size + i as u64;
        let mut findings = Vec::new();
        if let Some(e) = structure {
            findings.push(
                Finding::new(
                    Rule::EntryMalformed,
                    format!("event breaks a structural rule: {e}"),
                )
                .at(id, seq),
            );
        }
        if !signed {
            findings.push(
                Finding::new(
                    Rule::BadSignature,
                    format!("signature by {} does not verify", statement.signer),
                )
                .at(id, seq),
            );
        }
        let subject = rules::Subject {
            seq,
            id,
            event: &statement.event,
            signer: &statement.signer,
            recorded_at,
        };
        rules::apply(&mut overlay, &subject, &cfg, &mut findings)?;
        refused.extend(
            findings
                .into_iter()
                .filter(|f| f.severity == Severity::Error)
                .map(|f| (i, f)),
        );
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if !refused.is_empty() {
        return Ok(Err(Refused { findings: refused }));
    }
    let changes = overlay.changes;
    let mut entries = Vec::with_capacity(statements.len());
    let base = StoreNodes(store);
    let mut nodes = PendingNodes::new(&base, head.size);
    let mut prev = head.last;
    for (i, statement) in statements.iter().enumerate() {
        let seq = head.size + i as u64;
        let entry = Entry {
            seq,
            prev,
            recorded_at,
            statement: statement.clone(),
        };
        let bytes = entry.encode()?;
        prev = entry_hash(&bytes);
        nodes.push(prev).map_err(|e| anyhow::anyhow!("{e}"))?;
        entries.push((seq, bytes));
    }
    let tree_size = nodes.size();
    let root = merkle::root(tree_size, &nodes).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut proofs = Vec::with_capacity(statements.len());
    for (seq, bytes) in &entries {
        let path =
            merkle::inclusion_proof(*seq, tree_size, &nodes).map_err(|e| anyhow::anyhow!("{e}"))?;
        proofs.push((entry_hash(bytes), path));
    }
    let merkle_nodes = nodes.into_nodes();
    let mut lot_events = Vec::new();
    let mut party_events = Vec::new();
    for (i, statement) in statements.iter().enumerate() {
        let seq = head.size + i as u64;
        let event = &statement.event;
        lot_events.extend(event.lots_named().into_iter().map(|lot| (lot.clone(), seq)));
        if matches!(event.body, Body::Enroll(_) | Body::Revoke(_)) {
            party_events.push(seq);
        }
    }
    let new_head = Head {
        size: head.size + statements.len() as u64,
        last: prev,
    };
    store.append(&AppendBatch {
        entries: &entries,
        head: new_head,
        changes: &changes,
        merkle_nodes: &merkle_nodes,
        lot_events: &lot_events,
        party_events: &party_events,
    })?;
    Ok(Ok(ids
        .into_iter()
        .zip(proofs)
        .enumerate()
        .map(|(i, (id, (leaf_hash, inclusion_path)))| Receipt {
            id,
            seq: head.size + i as u64,
            leaf_hash,
            tree_size,
            root,
            inclusion_path,
        })
        .collect()))
}

/// Reads statements back from the store by event id, re-checking each against its id.
pub struct StoreEvents<'a> {
    /// Where positions come from (the replayed state when verifying).
    pub state: &'a dyn StateView,
    /// Where entries come from.
    pub store: &'a dyn Store,
}

impl EventSource for StoreEvents<'_> {
    fn statement(&self, id: &Digest) -> Result<Option<(u64, Statement)>, StateError> {
        let Some(record) = self.state.event(id)? else {
            return Ok(None);
        };
        let Some(bytes) = self.store.entry(record.seq).map_err(StateError::from)? else {
            return Ok(None);
        };
        let entry =
            Entry::decode(&bytes).map_err(|e| StateError(format!("entry #{}: {e}", record.seq)))?;
        let actual = entry
            .statement
            .id()
            .map_err(|e| StateError(e.to_string()))?;
        if actual != *id {
            return Err(StateError(format!(
                "entry #{} holds event {actual}, not {id}",
                record.seq
            )));
        }
        Ok(Some((record.seq, entry.statement)))
    }
}

/// The result of a verification.
#[derive(Debug, serde::Serialize)]
pub struct Report {
    /// `pass` or `fail`.
    pub verdict: ledger_core::finding::Verdict,
    /// `ledger` or `lot`.
    pub scope: &'static str,
    /// The lot, for a lot verification.
    pub lot: Option<LotId>,
    /// Entries checked.
    pub entries: u64,
    /// Number of error and warning findings.
    pub counts: Counts,
    /// Every finding.
    pub findings: Vec<Finding>,
}

/// Finding counts.
#[derive(Debug, serde::Serialize)]
pub struct Counts {
    /// Errors.
    pub errors: usize,
    /// Warnings.
    pub warnings: usize,
}

impl Report {
    /// A report of `findings`, with the verdict and counts they give.
    pub fn new(
        scope: &'static str,
        lot: Option<LotId>,
        entries: u64,
        findings: Vec<Finding>,
    ) -> Report {
        let errors = findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count();
        Report {
            verdict: ledger_core::finding::verdict(&findings),
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

/// Entries decoded and signature-checked in parallel at a time during verification.
const VERIFY_CHUNK: usize = 4096;

/// Replays the whole log from its entries and checks the store's head against it.
pub fn replay(store: &dyn Store) -> Result<Replay> {
    let mut replay = Replay::default();
    let mut audit = crate::commands::checkpoint::audit(store, &mut replay)?;
    // Decoding, hashing and signature checks need no state: they run on all cores, a
    // chunk at a time (memory stays bounded); the rules then apply in log order.
    let keys = KeyCache::default();
    let bar = crate::io::progress(store.head()?.size, "verifying");
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
        bar.inc(chunk.len() as u64);
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
    bar.finish_and_clear();
    if let Some(acknowledged) = store.acknowledged()? {
        let last = match acknowledged.size.checked_sub(1) {
            Some(seq) => store.entry(seq)?.map(|bytes| entry_hash(&bytes)),
            None => Some(Digest::ZERO),
        };
        if replay.size() < acknowledged.size || last != Some(acknowledged.last) {
            replay.findings.push(Finding::new(
                Rule::ChainBroken,
                format!(
                    "the store holds {} entries, but {} were acknowledged and the last of them \
                     is missing or changed: acknowledged entries were lost (damaged files or \
                     an old copy)",
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
    let stored_root = merkle::root(audit.size(), &StoreNodes(store)).map_err(|e| e.to_string());
    replay.findings.extend(audit.finish(stored_root));
    Ok(replay)
}

/// Verifies the whole ledger.
pub fn verify_ledger(store: &dyn Store) -> Result<Report> {
    let replay = replay(store)?;
    Ok(Report::new(
        "ledger",
        None,
        replay.size(),
        replay.findings.clone(),
    ))
}

/// Verifies one lot without replaying the whole log.
///
/// The lot's provenance DAG is found through the store's indexes. Every entry its evidence
/// needs is then read and checked from its bytes: the genesis, the DAG's events, every
/// entry naming a lot of the DAG (so balances are global for those lots), enrollments and
/// revocations, attestations about the parties in the chain, and the receipts of selected
/// shipments. Each entry must match the Merkle tree's leaf at its position. The same rules as
/// an offline evidence bundle then run on them ([`bundle::check_evidence`]).
///
/// What this trusts, unlike whole-ledger `verify`: that the store's indexes list every
/// entry naming those lots. Statements themselves are signed, so a store cannot forge them.
pub fn verify_lot(
    store: &dyn Store,
    lot: &LotId,
    policy: &Policy,
    as_of: Timestamp,
) -> Result<(Report, Option<Trace>)> {
    let dag = trace(store, lot).map_err(|e| match e.downcast_ref::<provenance::TraceError>() {
        Some(provenance::TraceError::UnknownLot(l)) => {
            anyhow::anyhow!("lot {l} is not in the ledger")
        }
        _ => e,
    })?;
    let keys = KeyCache::default();
    let entries: Vec<(u64, Prepared)> = evidence_entries(store, &dag)?
        .par_iter()
        .map(|(seq, bytes)| (*seq, prepare(bytes, &keys)))
        .collect();
    let mut findings = Vec::new();
    for (seq, p) in &entries {
        let leaf = store.merkle_node(0, *seq)?;
        if leaf != Some(p.hash) {
            findings.push(Finding::new(
                Rule::ChainBroken,
                format!("entry #{seq} does not hash to the Merkle tree's leaf at its position"),
            ));
        }
    }
    let evidence = bundle::check_evidence(lot, &entries, policy, as_of, &mut |_| None)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    findings.extend(evidence.findings);
    Ok((
        Report::new("lot", Some(lot.clone()), entries.len() as u64, findings),
        Some(evidence.trace),
    ))
}

/// Every entry a lot's evidence may need, found through the store's indexes rather than
/// by scanning the log, in log order: the genesis, the DAG's events, every entry naming a
/// lot of the DAG, every enrollment and revocation, the attestations about the parties in
/// the chain, and the receipts of the shipments among them. A superset of what
/// [`bundle::Selection`] keeps; `verify --lot` and `export-bundle` both start here.
pub fn evidence_entries(store: &dyn Store, dag: &Trace) -> Result<Vec<(u64, Vec<u8>)>> {
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
    for party in dag.parties() {
        seqs.extend(store.attestations(&party)?.iter().map(|a| a.seq));
    }
    let mut entries = read_entries(store, &seqs)?;
    // Receipts of the shipments read so far (a receipt may name only other lots).
    let mut receipts = BTreeSet::new();
    for (seq, bytes) in &entries {
        let entry = Entry::decode(bytes)
            .with_context(|| format!("entry #{seq} is damaged; run custody verify"))?;
        if matches!(entry.statement.event.body, Body::Ship(_)) {
            let received = store
                .shipment(&entry.statement.id()?)?
                .and_then(|s| s.received_by);
            if let Some(record) = received.map(|r| store.event(&r)).transpose()?.flatten() {
                if !seqs.contains(&record.seq) {
                    receipts.insert(record.seq);
                }
            }
        }
    }
    if !receipts.is_empty() {
        entries.extend(read_entries(store, &receipts)?);
        entries.sort_by_key(|(seq, _)| *seq);
    }
    Ok(entries)
}

/// Reads the entries at `seqs`; an index naming a missing entry is a damaged store.
fn read_entries(store: &dyn Store, seqs: &BTreeSet<u64>) -> Result<Vec<(u64, Vec<u8>)>> {
    seqs.iter()
        .map(|seq| {
            let bytes = store.entry(*seq)?.ok_or_else(|| StoreError::Corrupt {
                what: format!("entry #{seq}"),
                reason: "an index names it but it is missing".into(),
            })?;
            Ok((*seq, bytes))
        })
        .collect()
}

/// Traces a lot using the store's indexes (fast; `verify --lot` re-derives them).
pub fn trace(store: &dyn Store, lot: &LotId) -> Result<Trace> {
    let source = StoreEvents {
        state: store,
        store,
    };
    provenance::trace(lot, store, &source).map_err(Into::into)
}

/// What `sign` knows: the store's state plus the events signed earlier in the same file.
pub struct SigningState<'a> {
    store: Option<&'a dyn Store>,
    units: HashMap<LotId, Unit>,
    sources: HashMap<(LotId, PartyId), Digest>,
    shipments: Vec<(Digest, PartyId, Vec<LotId>)>,
}

impl<'a> SigningState<'a> {
    /// A context over `store` (or none: every link must then be in the JSON or the file).
    pub fn new(store: Option<&'a dyn Store>) -> SigningState<'a> {
        SigningState {
            store,
            units: HashMap::new(),
            sources: HashMap::new(),
            shipments: Vec::new(),
        }
    }

    /// Learns what a signed event creates, receives and ships.
    pub fn learn(&mut self, id: Digest, event: &Event) {
        for output in event.body.outputs() {
            self.units
                .insert(output.lot.clone(), output.quantity.unit());
            self.sources
                .insert((output.lot.clone(), event.actor.clone()), id);
        }
        match &event.body {
            Body::Ship(s) => self.shipments.push((
                id,
                s.to.clone(),
                s.lots.iter().map(|m| m.lot.clone()).collect(),
            )),
            Body::Receive(r) => {
                self.shipments.retain(|(ship, _, _)| *ship != r.shipment);
                for item in &r.lots {
                    self.sources
                        .insert((item.lot.clone(), event.actor.clone()), id);
                }
            }
            _ => {}
        }
    }
}

impl SignContext for SigningState<'_> {
    fn lot_unit(&self, lot: &LotId) -> Option<Unit> {
        self.units.get(lot).copied().or_else(|| {
            self.store
                .and_then(|s| s.lot(lot).ok().flatten())
                .map(|l| l.unit)
        })
    }

    fn custody_source(&self, lot: &LotId, holder: &PartyId) -> Option<Digest> {
        self.sources
            .get(&(lot.clone(), holder.clone()))
            .copied()
            .or_else(|| {
                self.store
                    .and_then(|s| s.holding(lot, holder).ok().flatten())
                    .map(|h| h.source)
            })
    }

    fn open_shipment(&self, receiver: &PartyId, lots: &[LotId]) -> Option<Digest> {
        let mut matching = self
            .shipments
            .iter()
            .filter(|(_, to, carried)| to == receiver && lots.iter().all(|l| carried.contains(l)));
        match (matching.next(), matching.next()) {
            (Some((id, _, _)), None) => Some(*id),
            _ => None,
        }
    }
}

/// Loads a due-diligence policy from TOML or JSON (by extension; TOML otherwise).
pub fn load_policy(path: Option<&Path>) -> Result<Policy> {
    let Some(path) = path else {
        return Ok(Policy::default());
    };
    let text = crate::io::read_text(path, 1 << 20)?;
    let is_json = path.extension().is_some_and(|e| e == "json");
    if is_json {
        serde_json::from_str(&text)
            .with_context(|| format!("policy {} is not valid", path.display()))
    } else {
        toml::from_str(&text).with_context(|| format!("policy {} is not valid", path.display()))
    }
}
