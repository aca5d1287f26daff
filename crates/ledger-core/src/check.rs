//! The one statement check: append and replay run [`apply`] on every statement, so both
//! produce the same findings with the same texts.
//!
//! A check has two halves. [`Checked::new`] does everything that needs no ledger state:
//! the event id (computed once, here), the structural rules of [`crate::validate`] and the
//! signature under the acceptance rule. It is pure, so callers run it on many statements in
//! parallel. [`apply`] then runs, in log order, what does need state: the per-event rules of
//! [`crate::rules`], after reporting the structure and signature results as findings.

use crate::codec::{self, CodecError};
use crate::finding::{Finding, Rule};
use crate::hash::Digest;
use crate::rules::{self, RuleConfig};
use crate::state::{Overlay, StateError};
use crate::statement::{Statement, event_id};
use crate::timestamp::Timestamp;
use crate::validate::check_event;
use crate::verify::KeyCache;

/// A statement after the state-free checks: its id, whether it is structurally valid and
/// whether its signature verifies.
///
/// Only [`Checked::new`] makes one, so a `Checked` always carries the id of its own event
/// and the results of checking exactly that statement.
#[derive(Debug, Clone)]
pub struct Checked {
    statement: Statement,
    id: Digest,
    structure: Result<(), String>,
    signature_ok: bool,
}

impl Checked {
    /// Computes the id of `statement`, runs the structural rules and checks the signature
    /// (keys come from `keys`, so each signer's point is decompressed once).
    ///
    /// Fails only if the event cannot be encoded (it exceeds the codec's limit).
    pub fn new(statement: Statement, keys: &KeyCache) -> Result<Checked, CodecError> {
        let id = event_id(&codec::encode(&statement.event)?);
        let structure = check_event(&statement.event).map_err(|e| e.to_string());
        let signature_ok = keys
            .get(&statement.signer)
            .is_some_and(|key| statement.verify_signature_with(&id, &key).is_ok());
        Ok(Checked {
            statement,
            id,
            structure,
            signature_ok,
        })
    }

    /// As [`Checked::new`], but the signature is taken as valid without checking it, so
    /// that a fuzzer's mutated entries reach the rules as if they were signed. Exists only
    /// with the `fuzzing` feature, which only the separate `fuzz/` workspace enables.
    #[cfg(feature = "fuzzing")]
    pub fn assume_signed(statement: Statement) -> Result<Checked, CodecError> {
        let id = event_id(&codec::encode(&statement.event)?);
        let structure = check_event(&statement.event).map_err(|e| e.to_string());
        Ok(Checked {
            statement,
            id,
            structure,
            signature_ok: true,
        })
    }

    /// The event id.
    pub fn id(&self) -> Digest {
        self.id
    }

    /// The statement.
    pub fn statement(&self) -> &Statement {
        &self.statement
    }

    /// The statement, giving up the check results.
    pub fn into_statement(self) -> Statement {
        self.statement
    }

    /// Whether the statement is structurally valid and its signature verifies: what a
    /// server checks at the door, before a statement takes a place in a batch.
    pub fn is_sound(&self) -> bool {
        self.structure.is_ok() && self.signature_ok
    }
}

/// Checks `checked` as the statement at log position `seq`, recorded at `recorded_at`,
/// against `state`: reports a structural failure (CUS-INT-001) and a bad signature
/// (CUS-INT-004), then runs every per-event rule and applies the statement's effects to
/// the overlay (even when it has findings, so a replay keeps going and reports everything).
pub fn apply(
    state: &mut Overlay<'_>,
    checked: &Checked,
    seq: u64,
    recorded_at: Timestamp,
    cfg: &RuleConfig,
    findings: &mut Vec<Finding>,
) -> Result<(), StateError> {
    let statement = &checked.statement;
    let at = |f: Finding| f.at(checked.id, seq).party(&statement.event.actor);
    if let Err(e) = &checked.structure {
        findings.push(at(Finding::new(
            Rule::EntryMalformed,
            format!("event breaks a structural rule: {e}"),
        )));
    }
    if !checked.signature_ok {
        findings.push(at(Finding::new(
            Rule::BadSignature,
            format!("signature by {} does not verify", statement.signer),
        )));
    }
    let subject = rules::Subject {
        seq,
        id: checked.id,
        event: &statement.event,
        signer: &statement.signer,
        recorded_at,
    };
    rules::apply(state, &subject, cfg, findings)
}
