//! What a network front end needs beyond [`Ledger::append`]: a door check before a request
//! takes a place in a group, group commit (many requests, each all or nothing, in one store
//! batch), and checkpoints signed over a root the server already recomputed.
//!
//! A group is checked like one append ([`check::apply`] in order over the transaction's
//! state), except that each request is checked on a trial overlay over the statements the
//! group has already accepted: a request with an error finding is dropped from the group
//! with its findings, and the requests after it are checked as if it had never been sent.
//! The accepted statements are then planned and committed as one batch, so a group is
//! durable all at once, exactly like an append of its accepted statements.

use std::collections::HashMap;

use ledger_core::check::{self, Checked};
use ledger_core::finding::{Finding, Rule};
use ledger_core::hash::Digest;
use ledger_core::keys::SecretKey;
use ledger_core::plan::PlanBuilder;
use ledger_core::rules;
use ledger_core::state::{Changes, Overlay, StateKeys, StateView};
use ledger_core::statement::Statement;
use ledger_core::timestamp::Timestamp;
use ledger_core::verify::KeyCache;
use ledger_store::{Nodes, Store};

use crate::Ledger;
use crate::append::Receipt;
use crate::append::plan_error;
use crate::checkpoint::SignedCheckpoint;
use crate::error::{Error, Refused, Result};

/// A request that passed the door: every statement through the state-free check, and every
/// signer enrolled for its actor.
#[derive(Debug, Clone)]
pub struct Admitted {
    checked: Vec<Checked>,
}

impl Admitted {
    /// The event ids, in request order.
    pub fn ids(&self) -> Vec<Digest> {
        self.checked.iter().map(Checked::id).collect()
    }

    /// How many statements the request holds.
    pub fn len(&self) -> usize {
        self.checked.len()
    }

    /// Whether the request holds no statement (never true of an admitted request).
    pub fn is_empty(&self) -> bool {
        self.checked.is_empty()
    }
}

/// What became of one request of a group.
#[derive(Debug, Clone)]
pub enum GroupOutcome {
    /// Appended: one receipt per statement, against the tree right after the group.
    Accepted(Vec<Receipt>),
    /// Refused by the rules; nothing of it was written.
    Refused(Refused),
    /// Every statement of the request is already in the log (a retry): their positions.
    Duplicate(Vec<u64>),
}

/// Whether a finding is about the statement itself or its signer's authority: what the door
/// refuses before a statement takes a place in a group.
fn door_rule(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::EntryMalformed
            | Rule::BadSignature
            | Rule::UnknownSigner
            | Rule::RevokedKey
            | Rule::RoleNotAllowed
    )
}

/// Adds `trial` (records read through `group` and changed) to `group`. Every record in a
/// change set is whole, so a later one replaces an earlier one.
fn merge(group: &mut Changes, trial: Changes) {
    let Changes {
        parties,
        key_owners,
        lots,
        holdings,
        shipments,
        events,
        attestations,
    } = trial;
    group.parties.extend(parties);
    group.key_owners.extend(key_owners);
    group.lots.extend(lots.iter());
    group.holdings.extend(holdings.iter());
    group.shipments.extend(shipments.iter());
    group.events.extend(events.iter());
    group.attestations.extend(attestations);
}

impl<S: Store> Ledger<S> {
    /// The door check of one request: the state-free check of every statement (id,
    /// structure, signature) on all cores, and each signer's authority over the ledger as it
    /// is plus the earlier statements of the same request. A request that fails is refused
    /// with every finding `append` would give it now; one that passes may still be refused
    /// in its group (balances, custody, links).
    pub fn admit(&self, statements: Vec<Statement>) -> Result<Admitted> {
        if statements.is_empty() {
            return Err(Error::BadInput("no statements to append".into()));
        }
        if statements.len() > crate::MAX_BATCH {
            return Err(Error::BadInput(format!(
                "{} statements in one request; at most {}",
                statements.len(),
                crate::MAX_BATCH
            )));
        }
        let keys = KeyCache::default();
        let origin = self.signing_origin();
        // Signatures in batches on all cores, as `append` checks them.
        let checked: Vec<Checked> = Checked::new_batch(statements, origin, &keys)
            .into_iter()
            .collect::<Result<_, _>>()
            .map_err(|e| Error::BadInput(format!("a statement cannot be encoded: {e}")))?;
        let head = self.store().head()?;
        let state: &dyn StateView = self.store();
        let mut overlay = Overlay::new(state);
        let mut refused = Refused {
            findings: Vec::new(),
        };
        let mut at_door = false;
        for (i, statement) in checked.iter().enumerate() {
            let mut findings: Vec<Finding> = Vec::new();
            check::apply(
                &mut overlay,
                statement,
                head.size + i as u64,
                crate::now()?,
                self.rules(),
                &mut findings,
            )?;
            at_door |= findings
                .iter()
                .any(|f| f.severity == ledger_core::finding::Severity::Error && door_rule(f.rule));
            refused.add(i, findings);
        }
        if at_door {
            return Err(Error::Refused(refused));
        }
        Ok(Admitted { checked })
    }

    /// Appends a group of admitted requests as one store batch recorded at `recorded_at`:
    /// each request is checked against the ledger plus the requests accepted before it in
    /// the group, and is accepted whole, refused whole, or found already in the log. Returns
    /// one outcome per request, in order, once the batch is durable. An error (the store
    /// failing) means nothing of the group was written.
    pub fn append_group(
        &self,
        requests: &[Admitted],
        recorded_at: Timestamp,
    ) -> Result<Vec<GroupOutcome>> {
        let mut txn = self.store().begin_append()?;
        txn.prefetch(&|| {
            let mut reads = StateKeys::default();
            for c in requests.iter().flat_map(|r| &r.checked) {
                rules::reads(&c.id(), &c.statement().event, &mut reads);
            }
            reads
        })?;
        let head = txn.head();
        let state: &dyn StateView = &*txn;
        let mut group = Overlay::new(state);
        // Request index → where its statements start in the accepted list.
        let mut outcomes: Vec<Option<GroupOutcome>> = Vec::with_capacity(requests.len());
        let mut starts: Vec<Option<usize>> = Vec::with_capacity(requests.len());
        let mut accepted: Vec<&Checked> = Vec::new();
        let mut in_group: HashMap<Digest, u64> = HashMap::new();
        for request in requests {
            let mut positions = Vec::with_capacity(request.checked.len());
            for c in &request.checked {
                let id = c.id();
                let seq = match in_group.get(&id) {
                    Some(seq) => Some(*seq),
                    None => group.event(&id)?.map(|record| record.seq),
                };
                match seq {
                    Some(seq) => positions.push(seq),
                    None => break,
                }
            }
            if positions.len() == request.checked.len() {
                outcomes.push(Some(GroupOutcome::Duplicate(positions)));
                starts.push(None);
                continue;
            }
            let base = head.size + accepted.len() as u64;
            let mut trial = Overlay::new(&group);
            let mut refused = Refused {
                findings: Vec::new(),
            };
            for (i, statement) in request.checked.iter().enumerate() {
                let mut findings = Vec::new();
                check::apply(
                    &mut trial,
                    statement,
                    base + i as u64,
                    recorded_at,
                    self.rules(),
                    &mut findings,
                )?;
                refused.add(i, findings);
            }
            let changes = std::mem::take(&mut trial.changes);
            drop(trial);
            if refused.findings.is_empty() {
                merge(&mut group.changes, changes);
                starts.push(Some(accepted.len()));
                for (i, c) in request.checked.iter().enumerate() {
                    in_group.insert(c.id(), base + i as u64);
                    accepted.push(c);
                }
                outcomes.push(None);
            } else {
                starts.push(None);
                outcomes.push(Some(GroupOutcome::Refused(refused)));
            }
        }
        if accepted.is_empty() {
            return Ok(outcomes.into_iter().flatten().collect());
        }
        let nodes = Nodes(&*txn);
        let subjects = ledger_core::subjects::Subjects::from_states(self.store().subject_states()?);
        let mut plan = PlanBuilder::new(head, &nodes, subjects);
        for statement in &accepted {
            plan.push(statement.statement(), &statement.id(), recorded_at)
                .map_err(plan_error)?;
        }
        let mut receipts = crate::append::Receipts::begin(&*txn)?;
        let root = plan.root().map_err(plan_error)?;
        let changes = std::mem::take(&mut group.changes);
        let plan = plan.finish(changes).map_err(plan_error)?;
        txn.commit(&plan)?;
        receipts.add(accepted.iter().map(|c| c.id()), &plan);
        receipts.finish(plan.head().size, root);
        let mut out = Vec::with_capacity(requests.len());
        for ((outcome, start), request) in outcomes.into_iter().zip(starts).zip(requests) {
            match (outcome, start) {
                (Some(outcome), _) => out.push(outcome),
                (None, Some(start)) => out.push(GroupOutcome::Accepted(
                    (start..start + request.checked.len())
                        .map(|i| receipts.get(i))
                        .collect::<Result<_>>()?,
                )),
                (None, None) => {
                    return Err(Error::damaged("a request of a group got no outcome"));
                }
            }
        }
        Ok(out)
    }

    /// Signs and stores a checkpoint of the first `size` entries whose root the caller
    /// recomputed from the entries' leaf hashes (`recomputed`), after checking the key's
    /// authority and that the store's Merkle tree gives the same root. What a server that
    /// keeps the log's frontier in memory calls instead of [`Ledger::sign_checkpoint`],
    /// which re-reads every entry.
    pub fn sign_checkpoint_at(
        &self,
        key: &SecretKey,
        size: u64,
        recomputed: Digest,
    ) -> Result<SignedCheckpoint> {
        self.check_operator(&key.public_key())?;
        let stored = self.root(size)?;
        if stored != recomputed {
            return Err(Error::damaged(format!(
                "refusing to sign: the store's merkle tree has root {stored} at size {size}, \
                 but the entries hash to {recomputed}"
            )));
        }
        self.sign_and_store(size, recomputed, key)
    }
}
