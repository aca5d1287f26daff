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
//! 4. Each statement gets a [`Receipt`] whose inclusion proof comes from the nodes in memory.

use ledger_core::check::{self, Checked};
use ledger_core::hash::Digest;
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
        self.append_as(statements, recorded_at, progress, Mode::Checked)
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
        let mut receipts = self.append_as(
            vec![statement],
            recorded_at,
            &crate::progress::Silent,
            Mode::Unchecked(tamper),
        )?;
        receipts
            .pop()
            .ok_or_else(|| Error::damaged("an injected entry got no receipt"))
    }

    fn append_as(
        &self,
        statements: Vec<Statement>,
        recorded_at: Timestamp,
        progress: &dyn Progress,
        mode: Mode,
    ) -> Result<Vec<Receipt>> {
        if statements.is_empty() {
            return Err(Error::BadInput("no statements to append".into()));
        }
        if statements.len() > MAX_BATCH {
            return Err(Error::BadInput(format!(
                "{} statements in one batch; at most {MAX_BATCH}",
                statements.len()
            )));
        }
        let keys = KeyCache::default();
        progress.start("checking signatures", statements.len() as u64);
        // Signatures are verified in batches on all cores; progress moves a chunk at a time.
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
        let mut txn = self.store().begin_append()?;
        txn.prefetch(&|| {
            let mut reads = StateKeys::default();
            for c in &checked {
                rules::reads(&c.id(), &c.statement().event, &mut reads);
            }
            reads
        })?;
        let (plan, receipts) = self.check_and_plan(&*txn, &checked, recorded_at, progress, mode)?;
        // One atomic write: its progress is the number of entries written, all at once.
        let written = plan.entries().len() as u64;
        progress.start("writing", written);
        let committed = txn.commit(&plan);
        if committed.is_ok() {
            progress.advance(written);
        }
        progress.finish();
        committed?;
        Ok(receipts)
    }

    /// Runs the rules on `checked` against the transaction's state and builds the plan and
    /// receipts. Nothing is written.
    fn check_and_plan(
        &self,
        txn: &dyn AppendTxn,
        checked: &[Checked],
        recorded_at: Timestamp,
        progress: &dyn Progress,
        mode: Mode,
    ) -> Result<(AppendPlan, Vec<Receipt>)> {
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
        let mut leaves = Vec::with_capacity(checked.len());
        for statement in checked {
            let leaf = match mode {
                Mode::Checked => plan.push(statement.statement(), &statement.id(), recorded_at),
                #[cfg(feature = "fault-injection")]
                Mode::Unchecked(tamper) => push_tampered(&mut plan, statement, recorded_at, tamper),
            }
            .map_err(plan_error)?;
            leaves.push(leaf);
        }
        let receipts = receipts(&plan, head.size, checked.iter().map(Checked::id), leaves)?;
        let plan = plan.finish(overlay.changes).map_err(plan_error)?;
        Ok((plan, receipts))
    }
}

/// The receipts of the statements with event ids `ids`, pushed into `plan` from position
/// `start` with these `leaves`: each proved against the plan's root, from the nodes in memory.
pub(crate) fn receipts(
    plan: &PlanBuilder<'_, Nodes<'_>>,
    start: u64,
    ids: impl Iterator<Item = Digest>,
    leaves: Vec<Digest>,
) -> Result<Vec<Receipt>> {
    let root = plan.root().map_err(plan_error)?;
    let tree_size = plan.next_seq();
    let mut receipts = Vec::with_capacity(leaves.len());
    for (i, (id, leaf_hash)) in ids.zip(leaves).enumerate() {
        let seq = start + i as u64;
        receipts.push(Receipt {
            id,
            seq,
            leaf_hash,
            tree_size,
            root,
            inclusion_path: plan.inclusion_proof(seq).map_err(plan_error)?,
        });
    }
    Ok(receipts)
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
