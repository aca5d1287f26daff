//! Appending: statements in, receipts out, in one transaction of the store.
//!
//! 1. Every statement goes through the state-free half of the check
//!    ([`Checked::new_batch`]: id, structure, signature over the ledger's origin), the
//!    signatures in batches, on all cores.
//! 2. A store transaction starts and is told every state record the rules may read
//!    ([`rules::reads`], so a network store fetches them in bulk); the statements are checked
//!    in order against its state plus the effects of the statements before them ([`check::apply`], the function replay
//!    runs too). Any error finding refuses the whole batch and nothing is written.
//! 3. The core's [`PlanBuilder`] turns the statements into entries, index records, Merkle
//!    nodes and the new head; the transaction commits that plan all or nothing.
//! 4. Each statement gets a [`Receipt`] whose inclusion proof comes from the nodes in memory:
//!    the nodes the batch completed and the few stored ones on its left edge, kept after the
//!    commit so that the proofs are made one at a time as the receipts are read
//!    ([`Ledger::append_lazy`]) instead of one `Vec` per statement held through the commit.

use std::collections::HashMap;

use ledger_core::check::{self, Checked};
use ledger_core::hash::Digest;
use ledger_core::merkle::{self, NodeSource, TreeError};
use ledger_core::plan::{AppendPlan, PlanBuilder, PlanError};
use ledger_core::rules;
use ledger_core::state::{Overlay, StateKeys, StateView};
use ledger_core::statement::{Statement, StatementJson};
use ledger_core::subjects::Subjects;
use ledger_core::timestamp::Timestamp;
use ledger_core::verify::KeyCache;
use ledger_store::{AppendTxn, Nodes, Store, StoreError};

use crate::Ledger;
use crate::error::{Error, Refused, Result};
use crate::progress::Progress;

/// Most statements in one batch.
pub const MAX_BATCH: usize = 1_000_000;

/// Statements whose signatures are checked between two progress reports: a few signature
/// batches per core.
const SIGNATURE_CHUNK: usize = 16 * ledger_core::keys::BATCH_SIZE;

/// Where an accepted statement landed, with the proof that it is in the log (SPEC §1).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Receipt {
    /// Its event id.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub id: Digest,
    /// Its log position.
    pub seq: u64,
    /// Its entry's RFC 6962 leaf hash (the entry hash).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub leaf_hash: Digest,
    /// The log size right after the batch.
    pub tree_size: u64,
    /// The Merkle root at `tree_size`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub root: Digest,
    /// The inclusion proof of the leaf at `seq` in the tree of `tree_size`, leaf to root.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub inclusion_path: Vec<Digest>,
}

/// How an injected entry is damaged (see [`Ledger::inject`]).
#[cfg(feature = "fault-injection")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tamper {
    /// Written as it is.
    None,
    /// The entry claims a position 5 past its own.
    Seq,
    /// The entry's link to the previous entry is zero.
    Prev,
    /// The entry bytes are not an entry at all.
    Garbage,
}

/// Whether an append runs the rules (always, except for fault injection in tests).
#[derive(Clone, Copy)]
enum Mode {
    Checked,
    #[cfg(feature = "fault-injection")]
    Unchecked(Tamper),
}

/// Parses signed statements, one JSON object per line (the form `custody sign` prints),
/// checking each carried id against the recomputed one. `source` names the input in errors
/// (`file.signed:3: ...`).
pub fn parse_statements(
    text: &str,
    source: &str,
    progress: &dyn Progress,
) -> Result<Vec<Statement>> {
    let mut out = Vec::new();
    progress.start("reading", text.len() as u64);
    let parsed = parse_lines(text, source, &mut out, progress);
    progress.finish();
    parsed.map(|()| out)
}

/// The lines of [`parse_statements`], reporting the bytes read as progress.
fn parse_lines(
    text: &str,
    source: &str,
    out: &mut Vec<Statement>,
    progress: &dyn Progress,
) -> Result<()> {
    for (n, line) in text.lines().enumerate() {
        progress.advance(line.len() as u64 + 1);
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if out.len() >= MAX_BATCH {
            return Err(Error::BadInput(format!(
                "{source}: more than {MAX_BATCH} statements in one batch"
            )));
        }
        let parsed: StatementJson = serde_json::from_str(line).map_err(|e| {
            Error::BadInput(format!("{source}:{}: not a signed statement: {e}", n + 1))
        })?;
        let statement = Statement {
            event: parsed.event,
            signer: parsed.signer,
            signature: parsed.signature,
        };
        let id = statement
            .id()
            .map_err(|e| Error::BadInput(format!("{source}:{}: {e}", n + 1)))?;
        if id != parsed.id {
            return Err(Error::BadInput(format!(
                "{source}:{}: \"id\" is {} but the event hashes to {id}",
                n + 1,
                parsed.id
            )));
        }
        out.push(statement);
    }
    Ok(())
}

pub(crate) fn plan_error(e: PlanError<StoreError>) -> Error {
    match e {
        PlanError::Tree(ledger_core::merkle::TreeError::Source(store)) => Error::from(store),
        PlanError::Empty => Error::BadInput("no statements to append".into()),
        other => Error::damaged(other),
    }
}

impl<S: Store> Ledger<S> {
    /// Checks `statements` against the ledger and appends them as one batch recorded at
    /// `recorded_at`, or refuses them all ([`Error::Refused`], nothing written). Returns one
    /// receipt per statement, once the batch is durable.
    pub fn append(
        &self,
        statements: Vec<Statement>,
        recorded_at: Timestamp,
        progress: &dyn Progress,
    ) -> Result<Vec<Receipt>> {
        self.append_as(statements, recorded_at, progress, Mode::Checked)?
            .iter()
            .collect()
    }

    /// [`Ledger::append`], with the receipts made one at a time as the returned iterator is
    /// read, in statement order: each inclusion proof is computed then, from the batch's
    /// Merkle nodes kept in memory (about two 32-byte hashes per statement), so that a
    /// large batch does not hold a proof per statement. The receipts are the same, and the
    /// iterator reads nothing from the store: it outlives the ledger. An `Err` item means
    /// the kept nodes are inconsistent (a bug), never that the batch was not appended.
    pub fn append_lazy(
        &self,
        statements: Vec<Statement>,
        recorded_at: Timestamp,
        progress: &dyn Progress,
    ) -> Result<impl ExactSizeIterator<Item = Result<Receipt>> + Send + use<S>> {
        let receipts = self.append_as(statements, recorded_at, progress, Mode::Checked)?;
        Ok((0..receipts.len()).map(move |i| receipts.get(i)))
    }

    /// Writes `statement` as the next entry without the rule check, damaged as `tamper`
    /// says: how tests show that `verify` catches what `append` would refuse, since the
    /// store is not trusted. Built with the `fault-injection` feature only.
    #[cfg(feature = "fault-injection")]
    pub fn inject(
        &self,
        statement: Statement,
        recorded_at: Timestamp,
        tamper: Tamper,
    ) -> Result<Receipt> {
        let receipts = self.append_as(
            vec![statement],
            recorded_at,
            &crate::progress::Silent,
            Mode::Unchecked(tamper),
        )?;
        match receipts.len() {
            0 => Err(Error::damaged("an injected entry got no receipt")),
            n => receipts.get(n - 1),
        }
    }

    fn append_as(
        &self,
        statements: Vec<Statement>,
        recorded_at: Timestamp,
        progress: &dyn Progress,
        mode: Mode,
    ) -> Result<Receipts> {
        if statements.is_empty() {
            return Err(Error::BadInput("no statements to append".into()));
        }
        if statements.len() > MAX_BATCH {
            return Err(Error::BadInput(format!(
                "{} statements in one batch; at most {MAX_BATCH}",
                statements.len()
            )));
        }
        let checked = self.check_signatures(statements, progress)?;
        let mut txn = self.store().begin_append()?;
        txn.prefetch(&|| {
            let mut reads = StateKeys::default();
            for c in &checked {
                rules::reads(&c.id(), &c.statement().event, &mut reads);
            }
            reads
        })?;
        let (plan, mut receipts) =
            self.check_and_plan(&*txn, &checked, recorded_at, progress, mode)?;
        // Every statement is in the plan's entries now, encoded, and its id in the receipts:
        // the statements are not held through the commit.
        drop(checked);
        // One atomic write: its progress is the number of entries written, all at once.
        let written = plan.entries().len() as u64;
        progress.start("writing", written);
        let committed = txn.commit(&plan);
        if committed.is_ok() {
            progress.advance(written);
        }
        progress.finish();
        committed?;
        receipts.keep_nodes(&plan);
        Ok(receipts)
    }

    /// The state-free half of the check of every statement ([`Checked::new_batch`]), the
    /// signatures in batches on all cores; progress moves a chunk at a time. The statements
    /// move into the results: nothing of the input is left behind.
    fn check_signatures(
        &self,
        statements: Vec<Statement>,
        progress: &dyn Progress,
    ) -> Result<Vec<Checked>> {
        let keys = KeyCache::default();
        progress.start("checking signatures", statements.len() as u64);
        let mut checked: Vec<Checked> = Vec::with_capacity(statements.len());
        let mut statements = statements.into_iter().peekable();
        while statements.peek().is_some() {
            let chunk: Vec<Statement> = statements.by_ref().take(SIGNATURE_CHUNK).collect();
            let len = chunk.len() as u64;
            for c in Checked::new_batch(chunk, self.signing_origin(), &keys) {
                checked.push(
                    c.map_err(|e| Error::BadInput(format!("a statement cannot be encoded: {e}")))?,
                );
            }
            progress.advance(len);
        }
        progress.finish();
        Ok(checked)
    }

    /// Runs the rules on `checked` against the transaction's state and builds the plan and
    /// what its receipts need besides the plan's own Merkle nodes. Nothing is written.
    fn check_and_plan(
        &self,
        txn: &dyn AppendTxn,
        checked: &[Checked],
        recorded_at: Timestamp,
        progress: &dyn Progress,
        mode: Mode,
    ) -> Result<(AppendPlan, Receipts)> {
        let head = txn.head();
        let state: &dyn StateView = txn;
        let mut overlay = Overlay::new(state);
        let mut refused = Refused {
            findings: Vec::new(),
        };
        progress.start("checking rules", checked.len() as u64);
        for (i, statement) in checked.iter().enumerate() {
            let mut findings = Vec::new();
            check::apply(
                &mut overlay,
                statement,
                head.size + i as u64,
                recorded_at,
                self.rules(),
                &mut findings,
            )?;
            if matches!(mode, Mode::Checked) {
                refused.add(i, findings);
            }
            progress.advance(1);
        }
        progress.finish();
        if !refused.findings.is_empty() {
            return Err(Error::Refused(refused));
        }
        let nodes = Nodes(txn);
        let subjects = Subjects::from_states(self.store().subject_states()?);
        let mut plan = PlanBuilder::new(head, &nodes, subjects);
        for statement in checked {
            match mode {
                Mode::Checked => plan.push(statement.statement(), &statement.id(), recorded_at),
                #[cfg(feature = "fault-injection")]
                Mode::Unchecked(tamper) => push_tampered(&mut plan, statement, recorded_at, tamper),
            }
            .map_err(plan_error)?;
        }
        let receipts = Receipts::new(txn, &plan, checked.iter().map(Checked::id).collect())?;
        let plan = plan.finish(overlay.changes).map_err(plan_error)?;
        Ok((plan, receipts))
    }
}

/// The receipts of one appended batch, each made when asked for: the event ids, the tree
/// after the batch, and the Merkle nodes its inclusion proofs read. Used by `append` and by
/// the server's group commit alike.
pub(crate) struct Receipts {
    /// The position of the batch's first entry.
    start: u64,
    /// The log size right after the batch.
    tree_size: u64,
    /// The Merkle root at `tree_size`.
    root: Digest,
    /// The event ids, in batch order.
    ids: Vec<Digest>,
    /// The nodes the proofs read: see [`BatchNodes`].
    nodes: BatchNodes,
}

impl Receipts {
    /// What the receipts of the statements `ids`, pushed into `plan` from the head of
    /// `txn`, need besides the nodes of the committed plan ([`Receipts::keep_nodes`]): the
    /// tree after them and the stored left edge of their start.
    pub(crate) fn new(
        txn: &dyn AppendTxn,
        plan: &PlanBuilder<'_, Nodes<'_>>,
        ids: Vec<Digest>,
    ) -> Result<Receipts> {
        let start = txn.head().size;
        Ok(Receipts {
            start,
            tree_size: plan.next_seq(),
            root: plan.root().map_err(plan_error)?,
            ids,
            nodes: BatchNodes(left_edge(txn, start)?),
        })
    }

    fn len(&self) -> usize {
        self.ids.len()
    }

    /// Adds the nodes the batch completed, its leaves among them, from the committed `plan`.
    pub(crate) fn keep_nodes(&mut self, plan: &AppendPlan) {
        self.nodes.0.reserve(plan.merkle_nodes().len());
        self.nodes.0.extend(
            plan.merkle_nodes()
                .iter()
                .map(|&(level, index, hash)| ((level, index), hash)),
        );
    }

    /// The receipt of the batch's statement `i` (below [`Receipts::len`]).
    pub(crate) fn get(&self, i: usize) -> Result<Receipt> {
        let id = *self.ids.get(i).ok_or_else(|| {
            Error::damaged(format!("no receipt {i} in a batch of {}", self.len()))
        })?;
        let seq = self.start + i as u64;
        let tree = |e: TreeError<Error>| match e {
            TreeError::Source(e) => e,
            other => Error::damaged(other),
        };
        Ok(Receipt {
            id,
            seq,
            leaf_hash: self.nodes.node(0, seq)?,
            tree_size: self.tree_size,
            root: self.root,
            inclusion_path: merkle::inclusion_proof(seq, self.tree_size, &self.nodes)
                .map_err(tree)?,
        })
    }

    /// All the receipts, in batch order.
    fn iter(&self) -> impl Iterator<Item = Result<Receipt>> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }
}

/// The Merkle nodes an inclusion proof of an entry of a batch appended at `start` reads, in
/// the tree right after the batch: the nodes the batch completed, and the stored complete
/// subtrees on the left edge of `start` ([`left_edge`]). A proof of leaf `i >= start` reads
/// only complete subtrees (RFC 9162's recursion splits at powers of two). One that lies to
/// the right of the leaf, or that straddles `start`, covers a leaf at or after `start`, so
/// the batch completed it. One that lies entirely left of `start` is the leaf's sibling at a
/// level `L` with `(i >> L) << L <= start <= i`: so `i >> L == start >> L`, which is odd,
/// and the subtree is `(L, (start >> L) - 1)`.
struct BatchNodes(HashMap<(u8, u64), Digest>);

impl NodeSource for BatchNodes {
    type Error = Error;

    fn node(&self, level: u8, index: u64) -> Result<Digest> {
        self.0.get(&(level, index)).copied().ok_or_else(|| {
            Error::damaged(format!(
                "a receipt's proof reads merkle node (level {level}, index {index}), which \
                 the batch did not keep"
            ))
        })
    }
}

/// The positions `(level, index)` of the complete subtrees on the left edge of `start`: at
/// each level `L` where `start >> L` is odd, the subtree just before it.
fn left_edge_positions(start: u64) -> Vec<(u8, u64)> {
    (0..64u8)
        .filter(|&level| (start >> level) & 1 == 1)
        .map(|level| (level, (start >> level) - 1))
        .collect()
}

/// The stored nodes at [`left_edge_positions`] of `start`, in one read.
fn left_edge(txn: &dyn AppendTxn, start: u64) -> Result<HashMap<(u8, u64), Digest>> {
    let wanted = left_edge_positions(start);
    let found = txn.merkle_nodes(&wanted)?;
    wanted
        .into_iter()
        .zip(found)
        .map(|((level, index), node)| match node {
            Some(hash) => Ok(((level, index), hash)),
            None => Err(Error::from(StoreError::Corrupt {
                what: format!("merkle node at level {level}, index {index}"),
                reason: "missing".into(),
            })),
        })
        .collect()
}

/// Pushes `statement` into `plan`, damaged as `tamper` says.
#[cfg(feature = "fault-injection")]
fn push_tampered(
    plan: &mut PlanBuilder<'_, Nodes<'_>>,
    statement: &Checked,
    recorded_at: Timestamp,
    tamper: Tamper,
) -> Result<Digest, PlanError<StoreError>> {
    use ledger_core::statement::Entry;
    let seq = plan.next_seq();
    let event = &statement.statement().event;
    let subjects = plan.next_subjects_root(&statement.id(), event);
    let entry = |seq, prev| Entry {
        seq,
        prev,
        recorded_at,
        subjects,
        statement: statement.statement().clone(),
    };
    let bytes = match tamper {
        Tamper::None => return plan.push(statement.statement(), &statement.id(), recorded_at),
        Tamper::Seq => entry(seq + 5, plan.last_hash()).encode(),
        Tamper::Prev => entry(seq, Digest::ZERO).encode(),
        Tamper::Garbage => Ok(b"this is not a log entry".to_vec()),
    }
    .map_err(|source| PlanError::Encode { seq, source })?;
    plan.push_entry_bytes(bytes, &statement.id(), event)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger_core::merkle::{MemoryTree, PendingNodes, leaf_hash, verify_inclusion};

    fn leaf(i: u64) -> Digest {
        leaf_hash(&i.to_le_bytes())
    }

    /// The receipts made from a batch's nodes and the left edge of its start are those
    /// proved over the whole tree, for every start below 70 and batch size below 40.
    #[test]
    fn kept_nodes_prove_every_entry_of_the_batch() {
        for start in 0..70u64 {
            let stored = MemoryTree::from_leaf_hashes((0..start).map(leaf));
            for n in 1..40u64 {
                let mut pending = PendingNodes::new(&stored, start);
                for i in start..start + n {
                    pending.push(leaf(i)).unwrap();
                }
                let size = start + n;
                let root = merkle::root(size, &pending).unwrap();
                let expected: Vec<Vec<Digest>> = (start..size)
                    .map(|i| merkle::inclusion_proof(i, size, &pending).unwrap())
                    .collect();
                let mut kept: HashMap<(u8, u64), Digest> = left_edge_positions(start)
                    .into_iter()
                    .map(|(level, index)| ((level, index), stored.node(level, index).unwrap()))
                    .collect();
                kept.extend(
                    pending
                        .into_nodes()
                        .into_iter()
                        .map(|(level, index, hash)| ((level, index), hash)),
                );
                let receipts = Receipts {
                    start,
                    tree_size: size,
                    root,
                    ids: (start..size)
                        .map(|i| Digest::of(&[&i.to_be_bytes()]))
                        .collect(),
                    nodes: BatchNodes(kept),
                };
                let made: Vec<Receipt> = receipts.iter().map(Result::unwrap).collect();
                assert_eq!(made.len() as u64, n);
                for (receipt, path) in made.iter().zip(&expected) {
                    let seq = receipt.seq;
                    assert_eq!(receipt.id, Digest::of(&[&seq.to_be_bytes()]));
                    assert_eq!(receipt.leaf_hash, leaf(seq));
                    assert_eq!((receipt.tree_size, receipt.root), (size, root));
                    assert_eq!(
                        &receipt.inclusion_path, path,
                        "start {start}, n {n}, seq {seq}"
                    );
                    verify_inclusion(seq, size, &receipt.leaf_hash, path, &root).unwrap();
                }
            }
        }
    }

    #[test]
    fn the_left_edge_is_one_subtree_per_set_bit() {
        assert_eq!(left_edge_positions(0), vec![]);
        assert_eq!(left_edge_positions(1), vec![(0, 0)]);
        assert_eq!(left_edge_positions(6), vec![(1, 2), (2, 0)]);
        assert_eq!(left_edge_positions(7), vec![(0, 6), (1, 2), (2, 0)]);
        assert_eq!(left_edge_positions(u64::MAX).len(), 64);
    }
}
