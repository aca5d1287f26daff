//! Appending: statements in, receipts out, in one transaction of the store.
//!
//! The statements are taken a part of [`APPEND_PART`] at a time, so memory does not grow
//! with the batch; for each part:
//!
//! 1. Every statement goes through the state-free half of the check
//!    ([`Checked::new_batch`]: id, structure, signature over the ledger's origin), the
//!    signatures in batches, on all cores.
//! 2. The transaction is told every state record the rules may read ([`rules::reads`], so
//!    a network store fetches them in bulk); the statements are checked in order against
//!    its state (the ledger and the parts before) plus the effects of the statements before
//!    them ([`check::apply`], the function replay runs too). The error findings are kept.
//! 3. The core's [`PlanBuilder`] turns the part into entries, index records, Merkle nodes
//!    and its head. A part that is not the last is written beyond the ledger's head
//!    ([`AppendTxn::write_part`]); the last one is committed, which makes the batch visible
//!    at once. A finding in any part refuses the whole batch: the transaction is dropped,
//!    which undoes the parts, and nothing is written.
//! 4. Each statement gets a [`Receipt`] whose inclusion proof comes from the nodes in memory:
//!    the nodes the parts completed and the few stored ones on the batch's left edge, kept
//!    after the commit so that the proofs are made one at a time as the receipts are read
//!    ([`ReceiptIter`]) instead of one `Vec` per statement held through the commit.

use std::collections::HashMap;

use ledger_core::check::{self, Checked};
use ledger_core::hash::Digest;
use ledger_core::merkle::{self, NodeSource, TreeError};
use ledger_core::plan::{AppendPlan, Head, PlanBuilder, PlanError};
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

/// Statements whose signatures are checked in one call: a few signature batches per core.
const SIGNATURE_CHUNK: usize = 16 * ledger_core::keys::BATCH_SIZE;

/// Statements read, checked, planned and written as one part of an append
/// ([`Ledger::append_stream`]): a few megabytes of statements, state changes and records
/// (about 53,000 records at the synthetic ledger's 6.5 a statement).
pub const APPEND_PART: usize = 2 * SIGNATURE_CHUNK;

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
        let Some(statement) = parse_line(line, source, n + 1)? else {
            continue;
        };
        if out.len() >= MAX_BATCH {
            return Err(too_many(source));
        }
        out.push(statement);
    }
    Ok(())
}

/// The statement on line `number` of `source`, `None` for a blank line.
fn parse_line(line: &str, source: &str, number: usize) -> Result<Option<Statement>> {
    let line = line.trim();
    if line.is_empty() {
        return Ok(None);
    }
    let parsed: StatementJson = serde_json::from_str(line)
        .map_err(|e| Error::BadInput(format!("{source}:{number}: not a signed statement: {e}")))?;
    let (carried, statement) = parsed.into_parts();
    let id = statement
        .id()
        .map_err(|e| Error::BadInput(format!("{source}:{number}: {e}")))?;
    if id != carried {
        return Err(Error::BadInput(format!(
            "{source}:{number}: \"id\" is {carried} but the event hashes to {id}"
        )));
    }
    Ok(Some(statement))
}

fn too_many(source: &str) -> Error {
    Error::BadInput(format!(
        "{source}: more than {MAX_BATCH} statements in one batch"
    ))
}

/// The longest line of signed statements read: the largest event's JSON
/// ([`ledger_core::input::MAX_EVENT_JSON`]) twice over, for the id, signer and signature
/// around it and any spacing.
pub const MAX_STATEMENT_LINE: usize = 2 * ledger_core::input::MAX_EVENT_JSON;

/// Signed statements read from `input` a line at a time, each parsed and checked as
/// [`parse_statements`] does: how [`Ledger::append_stream`] takes a file without holding it.
/// A line is read only up to [`MAX_STATEMENT_LINE`] bytes; a longer one, or one that is not
/// UTF-8, is an error naming it. The first error ends the iteration.
pub struct StatementLines<R> {
    input: R,
    source: String,
    /// The number of the last line read.
    line: usize,
    buf: Vec<u8>,
    done: bool,
}

impl<R: std::io::BufRead> StatementLines<R> {
    /// The statements of `input`, named `source` in errors (`file.signed:3: ...`).
    pub fn new(input: R, source: impl Into<String>) -> StatementLines<R> {
        StatementLines {
            input,
            source: source.into(),
            line: 0,
            buf: Vec::new(),
            done: false,
        }
    }

    /// Reads the next line into `buf`, without its end; `false` at the end of the input.
    fn next_line(&mut self) -> Result<bool> {
        use std::io::{BufRead, Read};
        self.buf.clear();
        self.line += 1;
        let limit = MAX_STATEMENT_LINE as u64 + 1;
        let read = (&mut self.input)
            .take(limit)
            .read_until(b'\n', &mut self.buf)
            .map_err(|e| Error::BadInput(format!("{}: cannot read: {e}", self.source)))?;
        if read == 0 {
            return Ok(false);
        }
        if self.buf.last() == Some(&b'\n') {
            self.buf.pop();
        } else if self.buf.len() > MAX_STATEMENT_LINE {
            return Err(Error::BadInput(format!(
                "{}:{}: longer than {MAX_STATEMENT_LINE} bytes",
                self.source, self.line
            )));
        }
        Ok(true)
    }

    /// The statement on the line in `buf`, `None` for a blank line.
    fn parse(&self) -> Result<Option<Statement>> {
        let line = std::str::from_utf8(&self.buf).map_err(|e| {
            Error::BadInput(format!(
                "{}:{}: not UTF-8 (byte {} of the line)",
                self.source,
                self.line,
                e.valid_up_to() + 1
            ))
        })?;
        parse_line(line, &self.source, self.line)
    }
}

impl<R: std::io::BufRead> Iterator for StatementLines<R> {
    type Item = Result<Statement>;

    fn next(&mut self) -> Option<Result<Statement>> {
        while !self.done {
            let parsed = match self.next_line() {
                Ok(true) => self.parse(),
                Ok(false) => {
                    self.done = true;
                    return None;
                }
                Err(e) => Err(e),
            };
            match parsed {
                Ok(None) => continue,
                Ok(Some(statement)) => return Some(Ok(statement)),
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        None
    }
}

pub(crate) fn plan_error(e: PlanError<StoreError>) -> Error {
    match e {
        PlanError::Tree(ledger_core::merkle::TreeError::Source(store)) => Error::from(store),
        PlanError::Empty => Error::BadInput("no statements to append".into()),
        other => Error::damaged(other),
    }
}

/// One part's checked plan, with what the next part and the receipts need.
struct Part {
    plan: AppendPlan,
    /// The Merkle root after the part.
    root: Digest,
    /// The subject index after the part.
    subjects: Subjects,
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
        self.append_stream(statements.into_iter().map(Ok), recorded_at, progress)?
            .collect()
    }

    /// [`Ledger::append`] of the statements `statements` yields, read a part of
    /// [`APPEND_PART`] at a time: each part is checked (signatures, then rules against the
    /// ledger and the parts before it), planned and written beyond the head
    /// ([`AppendTxn::write_part`]), and the last part's commit makes the whole batch visible
    /// at once. Memory holds one part, and the receipts' ids and Merkle nodes (about 100
    /// bytes a statement), whatever the size of the batch; the batch is still all or
    /// nothing. An `Err` item (a line that does not parse) ends the append with that error,
    /// undoing the parts written; so does a refusal, reported with the findings of every
    /// statement, as for a batch in memory. Progress counts statements, of the iterator's
    /// size hint.
    ///
    /// The receipts are made one at a time as the returned iterator is read, in statement
    /// order: each inclusion proof is computed then, from the batch's Merkle nodes kept in
    /// memory, so a large batch does not hold a proof per statement. The iterator reads
    /// nothing from the store: it outlives the ledger. An `Err` item means the kept nodes
    /// are inconsistent (a bug), never that the batch was not appended.
    pub fn append_stream(
        &self,
        statements: impl Iterator<Item = Result<Statement>>,
        recorded_at: Timestamp,
        progress: &dyn Progress,
    ) -> Result<ReceiptIter> {
        let receipts = self.append_as(statements, recorded_at, progress, Mode::Checked)?;
        Ok(ReceiptIter { receipts, next: 0 })
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
            std::iter::once(Ok(statement)),
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
        statements: impl Iterator<Item = Result<Statement>>,
        recorded_at: Timestamp,
        progress: &dyn Progress,
        mode: Mode,
    ) -> Result<Receipts> {
        let total = statements.size_hint().0 as u64;
        let mut statements = statements.peekable();
        let mut part = take_part(&mut statements, 0)?;
        if part.is_empty() {
            return Err(Error::BadInput("no statements to append".into()));
        }
        let keys = KeyCache::default();
        let mut txn = self.store().begin_append()?;
        // Read before any part is written: the store's own reads wait for the append then.
        let mut subjects = Subjects::from_states(self.store().subject_states()?);
        let mut receipts = Receipts::begin(&*txn)?;
        let mut refused = Refused {
            findings: Vec::new(),
        };
        let mut head = txn.head();
        progress.start("appending", total);
        loop {
            let checked = self.check_signatures(part, &keys)?;
            txn.prefetch(&|| {
                let mut reads = StateKeys::default();
                for c in &checked {
                    rules::reads(&c.id(), &c.statement().event, &mut reads);
                }
                reads
            })?;
            let first = receipts.len();
            let done = self.check_and_plan(
                &*txn,
                &checked,
                (head, subjects),
                first,
                recorded_at,
                mode,
                &mut refused,
            )?;
            receipts.add(checked.iter().map(Checked::id), &done.plan);
            // Every statement of the part is in its plan now, encoded: none is held on.
            drop(checked);
            part = take_part(&mut statements, receipts.len())?;
            let written = done.plan.entries().len() as u64;
            if part.is_empty() {
                if !refused.findings.is_empty() {
                    // Dropping the transaction undoes the parts written.
                    progress.finish();
                    return Err(Error::Refused(refused));
                }
                let committed = txn.commit(&done.plan);
                if committed.is_ok() {
                    progress.advance(written);
                }
                progress.finish();
                committed?;
                receipts.finish(done.plan.head().size, done.root);
                return Ok(receipts);
            }
            txn.write_part(&done.plan)?;
            progress.advance(written);
            head = done.plan.head();
            subjects = done.subjects;
        }
    }

    /// The state-free half of the check of every statement of a part
    /// ([`Checked::new_batch`]), the signatures in batches on all cores. The statements move
    /// into the results: nothing of the input is left behind.
    fn check_signatures(
        &self,
        statements: Vec<Statement>,
        keys: &KeyCache,
    ) -> Result<Vec<Checked>> {
        let mut checked: Vec<Checked> = Vec::with_capacity(statements.len());
        let mut statements = statements.into_iter().peekable();
        while statements.peek().is_some() {
            let chunk: Vec<Statement> = statements.by_ref().take(SIGNATURE_CHUNK).collect();
            for c in Checked::new_batch(chunk, self.signing_origin(), keys) {
                checked.push(
                    c.map_err(|e| Error::BadInput(format!("a statement cannot be encoded: {e}")))?,
                );
            }
        }
        Ok(checked)
    }

    /// Runs the rules on the part `checked`, the batch's statements from `first` on, against
    /// the transaction's state (the ledger and the parts written before), keeping the error
    /// findings in `refused`, and builds the part's plan on `at` (where the parts before
    /// end, and the subject index there). Nothing is written.
    #[allow(clippy::too_many_arguments)]
    fn check_and_plan(
        &self,
        txn: &dyn AppendTxn,
        checked: &[Checked],
        at: (Head, Subjects),
        first: usize,
        recorded_at: Timestamp,
        mode: Mode,
        refused: &mut Refused,
    ) -> Result<Part> {
        let (head, subjects) = at;
        let state: &dyn StateView = txn;
        let mut overlay = Overlay::new(state);
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
                refused.add(first + i, findings);
            }
        }
        let nodes = Nodes(txn);
        let mut plan = PlanBuilder::new(head, &nodes, subjects);
        for statement in checked {
            match mode {
                Mode::Checked => plan.push(statement.statement(), &statement.id(), recorded_at),
                #[cfg(feature = "fault-injection")]
                Mode::Unchecked(tamper) => push_tampered(&mut plan, statement, recorded_at, tamper),
            }
            .map_err(plan_error)?;
        }
        let root = plan.root().map_err(plan_error)?;
        let (plan, subjects) = plan.finish_part(overlay.changes).map_err(plan_error)?;
        Ok(Part {
            plan,
            root,
            subjects,
        })
    }
}

/// The next part of `statements`: up to [`APPEND_PART`] of them, the batch's statements
/// from `taken` on (at most [`MAX_BATCH`] in all). The first `Err` item is the error.
fn take_part(
    statements: &mut impl Iterator<Item = Result<Statement>>,
    taken: usize,
) -> Result<Vec<Statement>> {
    let part: Vec<Statement> = statements
        .by_ref()
        .take(APPEND_PART)
        .collect::<Result<_>>()?;
    if taken + part.len() > MAX_BATCH {
        return Err(Error::BadInput(format!(
            "more than {MAX_BATCH} statements in one batch"
        )));
    }
    Ok(part)
}

/// The receipts of an appended batch, made one at a time as they are read (see
/// [`Ledger::append_stream`]).
pub struct ReceiptIter {
    receipts: Receipts,
    next: usize,
}

impl Iterator for ReceiptIter {
    type Item = Result<Receipt>;

    fn next(&mut self) -> Option<Result<Receipt>> {
        if self.next >= self.receipts.len() {
            return None;
        }
        self.next += 1;
        Some(self.receipts.get(self.next - 1))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.receipts.len() - self.next.min(self.receipts.len());
        (left, Some(left))
    }
}

impl ExactSizeIterator for ReceiptIter {}

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
    /// The receipts of a batch appended from the head of `txn`, with none in it yet: the
    /// stored left edge of its start is read here.
    pub(crate) fn begin(txn: &dyn AppendTxn) -> Result<Receipts> {
        let start = txn.head().size;
        Ok(Receipts {
            start,
            tree_size: start,
            root: Digest::ZERO,
            ids: Vec::new(),
            nodes: BatchNodes(left_edge(txn, start)?),
        })
    }

    fn len(&self) -> usize {
        self.ids.len()
    }

    /// Adds the statements `ids` of the next `plan` of the batch (one part, or all of
    /// it), with the nodes the plan completes, its leaves among them.
    pub(crate) fn add(&mut self, ids: impl Iterator<Item = Digest>, plan: &AppendPlan) {
        self.ids.extend(ids);
        self.nodes.0.reserve(plan.merkle_nodes().len());
        self.nodes.0.extend(
            plan.merkle_nodes()
                .iter()
                .map(|&(level, index, hash)| ((level, index), hash)),
        );
    }

    /// Records the tree after the batch: its size and its root.
    pub(crate) fn finish(&mut self, tree_size: u64, root: Digest) {
        self.tree_size = tree_size;
        self.root = root;
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
    #[cfg(test)]
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

    /// The first error of [`StatementLines`] over `input`, as shown.
    fn first_error(input: &[u8]) -> String {
        let mut lines = StatementLines::new(input, "in.signed");
        let err = match lines.next() {
            Some(Err(e)) => e.to_string(),
            Some(Ok(_)) => panic!("a statement parsed"),
            None => panic!("no error"),
        };
        // The first error ends the iteration.
        assert!(lines.next().is_none());
        err
    }

    #[test]
    fn fail_statement_lines_name_the_line_of_each_error() {
        // Blank lines are skipped, and counted.
        let err = first_error(b"\n  \r\n{\"id\": 1}\n");
        assert!(
            err.starts_with("in.signed:3: not a signed statement"),
            "{err}"
        );
        assert_eq!(
            first_error(b"\n\nab\xffcd\n"),
            "in.signed:3: not UTF-8 (byte 3 of the line)"
        );
        let long = vec![b'x'; MAX_STATEMENT_LINE + 1];
        assert_eq!(
            first_error(&[b"\n".as_slice(), &long].concat()),
            format!("in.signed:2: longer than {MAX_STATEMENT_LINE} bytes")
        );
        // A line of exactly the limit is read, and parsed.
        let mut exact = vec![b' '; MAX_STATEMENT_LINE - 1];
        exact.insert(0, b'x');
        assert!(
            first_error(&[&exact[..], b"\n"].concat()).starts_with("in.signed:1: not a signed")
        );
    }

    #[test]
    fn statement_lines_of_blank_input_are_none() {
        assert!(StatementLines::new(&b""[..], "a").next().is_none());
        assert!(StatementLines::new(&b"\n \n\t\n"[..], "a").next().is_none());
    }

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
