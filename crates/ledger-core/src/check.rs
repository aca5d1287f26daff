//! The one statement check: append and replay run [`apply`] on every statement, so both
//! produce the same findings with the same texts.
//!
//! A check has two halves. [`Checked::new`] does everything that needs no ledger state:
//! the event id (computed once, here), the structural rules of [`crate::validate`] and the
//! signature under the acceptance rule, over the ledger's origin. It is pure.
//! [`Checked::new_batch`] does the same for many statements, their signatures verified in
//! batches of [`BATCH_SIZE`] on all cores (the same answers, several times faster): every
//! path that checks many statements (append, replay, `verify --lot`, bundles) uses it.
//! [`apply`] then runs, in log order, what does need state: the per-event rules of
//! [`crate::rules`], after reporting the structure and signature results as findings.

use rayon::prelude::*;

use crate::codec::{self, CodecError};
use crate::finding::{Finding, Rule};
use crate::hash::Digest;
use crate::keys::{BATCH_SIZE, PublicKey, Signature, SignatureCheck, verify_batch};
use crate::rules::{self, RuleConfig};
use crate::state::{Overlay, StateError};
use crate::statement::{Origin, Statement, event_id, signing_message};
use crate::timestamp::Timestamp;
use crate::validate::check_event;
use crate::verify::KeyCache;

/// A statement after the state-free checks: its id, whether it is structurally valid and
/// whether its signature verifies.
///
/// Only [`Checked::new`] and [`Checked::new_batch`] make one, so a `Checked` always carries
/// the id of its own event and the results of checking exactly that statement.
#[derive(Debug, Clone)]
pub struct Checked {
    statement: Statement,
    id: Digest,
    structure: Result<(), String>,
    signature_ok: bool,
}

impl Checked {
    /// Computes the id of `statement`, runs the structural rules and checks the signature
    /// over `origin`, the origin of the ledger it is checked for (keys come from `keys`,
    /// so each signer's point is decompressed once).
    ///
    /// Fails only if the event cannot be encoded (it exceeds the codec's limit).
    pub fn new(
        statement: Statement,
        origin: &Origin,
        keys: &KeyCache,
    ) -> Result<Checked, CodecError> {
        let id = event_id(&codec::encode(&statement.event)?);
        let structure = check_event(&statement.event).map_err(|e| e.to_string());
        let signature_ok = keys
            .get(&statement.signer)
            .is_some_and(|key| statement.verify_signature_with(origin, &id, &key).is_ok());
        Ok(Checked {
            statement,
            id,
            structure,
            signature_ok,
        })
    }

    /// [`Checked::new`] of every statement, in order, with the signatures verified in
    /// batches of [`BATCH_SIZE`] ([`verify_batch`]: one equation per batch, single checks
    /// only in a batch that fails), the batches spread over all cores. Each result is the
    /// one [`Checked::new`] gives for that statement alone.
    pub fn new_batch(
        statements: Vec<Statement>,
        origin: &Origin,
        keys: &KeyCache,
    ) -> Vec<Result<Checked, CodecError>> {
        let mut batches: Vec<Vec<Statement>> = Vec::new();
        let mut statements = statements.into_iter().peekable();
        while statements.peek().is_some() {
            batches.push(statements.by_ref().take(BATCH_SIZE).collect());
        }
        batches
            .into_par_iter()
            .flat_map_iter(|batch| check_batch(batch, origin, keys))
            .collect()
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

/// One batch of [`Checked::new_batch`].
fn check_batch(
    batch: Vec<Statement>,
    origin: &Origin,
    keys: &KeyCache,
) -> Vec<Result<Checked, CodecError>> {
    // Ids and structure first, in parallel: the signatures need the ids.
    let prepared: Vec<Result<Checked, CodecError>> = batch
        .into_par_iter()
        .map(|statement| {
            let id = event_id(&codec::encode(&statement.event)?);
            let structure = check_event(&statement.event).map_err(|e| e.to_string());
            Ok(Checked {
                statement,
                id,
                structure,
                signature_ok: false,
            })
        })
        .collect();
    // Each statement whose signer is an acceptable key, with the message it signs; a
    // signer that is not one leaves the signature invalid, as in `Checked::new`.
    let signed: Vec<(usize, PublicKey, Vec<u8>, Signature)> = prepared
        .iter()
        .enumerate()
        .filter_map(|(i, checked)| {
            let checked = checked.as_ref().ok()?;
            let key = keys.get(&checked.statement.signer)?;
            let message = signing_message(origin, &checked.id);
            Some((i, key, message, checked.statement.signature))
        })
        .collect();
    let checks: Vec<SignatureCheck<'_>> = signed
        .iter()
        .map(|(_, key, message, signature)| SignatureCheck {
            key,
            message,
            signature,
        })
        .collect();
    let valid = verify_batch(&checks);
    let mut prepared = prepared;
    for ((i, ..), ok) in signed.iter().zip(valid) {
        if let Some(Ok(checked)) = prepared.get_mut(*i) {
            checked.signature_ok = ok;
        }
    }
    prepared
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
            format!(
                "signature by {} does not verify over this ledger's origin and the event id: \
                 the statement was changed, forged, or signed for another ledger",
                statement.signer
            ),
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
