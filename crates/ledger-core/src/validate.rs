//! Structural invariants of a normalized event, checked on supplier input after parsing and
//! again on every event decoded from canonical bytes, so the store cannot smuggle in a value
//! that input parsing would have refused. Errors name the field by its JSON path.

use std::collections::HashSet;

use crate::event::{Attest, Body, Claim, Event, LotOutput, limits};
use crate::quantity::{MAX_GRAMS, MAX_MG_PER_PIECE, MAX_PIECES, PPM, Quantity};

/// A refused value, named by its path in the event's JSON (`outputs[0].quantity`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct FieldError {
    /// Where the value is.
    pub path: String,
    /// What is wrong with it.
    pub reason: String,
}

impl FieldError {
    /// A new error at `path`.
    pub fn new(path: impl Into<String>, reason: impl Into<String>) -> FieldError {
        FieldError {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

fn ensure(
    ok: bool,
    path: impl FnOnce() -> String,
    reason: impl FnOnce() -> String,
) -> Result<(), FieldError> {
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(path(), reason()))
    }
}

fn check_text(path: &str, text: &str, max: usize) -> Result<(), FieldError> {
    ensure(
        !text.is_empty() && text.len() <= max && !text.chars().any(char::is_control),
        || path.to_owned(),
        || format!("must be 1 to {max} bytes of printable text"),
    )
}

/// Checks a quantity is positive and within the limits of its unit.
pub fn check_quantity(path: &str, quantity: Quantity) -> Result<(), FieldError> {
    let (amount, max) = match quantity {
        Quantity::Grams(g) => (g, MAX_GRAMS),
        Quantity::Pieces(n) => (n, MAX_PIECES),
    };
    ensure(
        amount > 0,
        || path.to_owned(),
        || "must be greater than zero".to_owned(),
    )?;
    ensure(
        amount <= max,
        || path.to_owned(),
        || format!("{quantity} is larger than the limit"),
    )
}

fn check_lots_unique<'a>(
    path: &str,
    lots: impl Iterator<Item = &'a crate::id::LotId>,
) -> Result<(), FieldError> {
    let mut seen = HashSet::new();
    for (i, lot) in lots.enumerate() {
        ensure(
            seen.insert(lot),
            || format!("{path}[{i}].lot"),
            || format!("lot {lot} appears twice"),
        )?;
    }
    Ok(())
}

/// A consuming event may draw one lot from several receipts, each once.
fn check_moves_unique(path: &str, moves: &[crate::event::LotMove]) -> Result<(), FieldError> {
    let mut seen = HashSet::new();
    for (i, m) in moves.iter().enumerate() {
        ensure(
            seen.insert((&m.lot, &m.from)),
            || format!("{path}[{i}].from"),
            || format!("lot {} is drawn from receipt {} twice", m.lot, m.from),
        )?;
    }
    Ok(())
}

/// A party's name and roles, as `enroll` and `amend` give them.
fn check_name_and_roles(name: &str, roles: &[crate::event::Role]) -> Result<(), FieldError> {
    check_text("name", name, limits::MAX_TEXT)?;
    check_count("roles", roles.len(), crate::event::Role::ALL.len())?;
    ensure(
        roles.windows(2).all(|w| w[0] < w[1]),
        || "roles".to_owned(),
        || "must be sorted without duplicates".to_owned(),
    )
}

fn check_count(path: &str, len: usize, max: usize) -> Result<(), FieldError> {
    ensure(
        len >= 1,
        || path.to_owned(),
        || "must not be empty".to_owned(),
    )?;
    ensure(
        len <= max,
        || path.to_owned(),
        || format!("at most {max} entries, found {len}"),
    )
}

fn check_outputs(outputs: &[LotOutput]) -> Result<(), FieldError> {
    check_count("outputs", outputs.len(), limits::MAX_LOTS)?;
    check_lots_unique("outputs", outputs.iter().map(|o| &o.lot))?;
    for (i, output) in outputs.iter().enumerate() {
        check_quantity(&format!("outputs[{i}].quantity"), output.quantity)?;
        let path = format!("outputs[{i}].content");
        ensure(
            output.content.len() <= limits::MAX_COMPONENTS,
            || path.clone(),
            || "too many components".to_owned(),
        )?;
        for (component, value) in &output.content {
            ensure(
                *value > 0,
                || format!("{path}.{component}"),
                || "must be greater than zero".to_owned(),
            )?;
        }
        match output.quantity {
            Quantity::Grams(_) => {
                ensure(
                    output.unit_mass_mg.is_none(),
                    || format!("outputs[{i}].unit_mass_kg"),
                    || "only lots counted in pieces have a unit mass".to_owned(),
                )?;
                let total: u64 = output.content.values().map(|v| (*v).min(PPM + 1)).sum();
                ensure(
                    total <= PPM,
                    || path.clone(),
                    || "fractions add up to more than 1".to_owned(),
                )?;
            }
            Quantity::Pieces(_) => {
                for (component, value) in &output.content {
                    ensure(
                        *value <= MAX_MG_PER_PIECE,
                        || format!("{path}.{component}"),
                        || "more than one tonne per piece".to_owned(),
                    )?;
                }
                let mass_path = || format!("outputs[{i}].unit_mass_kg");
                let Some(mass) = output.unit_mass_mg else {
                    return Err(FieldError::new(
                        mass_path(),
                        "a lot counted in pieces needs the mass of one piece",
                    ));
                };
                ensure(mass > 0 && mass <= MAX_MG_PER_PIECE, mass_path, || {
                    "must be greater than zero and at most one tonne".to_owned()
                })?;
                let content: u64 = output
                    .content
                    .values()
                    .map(|v| (*v).min(MAX_MG_PER_PIECE))
                    .sum();
                ensure(
                    content <= mass,
                    || path.clone(),
                    || "the components of a piece weigh more than the piece".to_owned(),
                )?;
            }
        }
        if let Some(wh) = output.capacity_wh {
            ensure(
                wh > 0 && output.quantity.unit() == crate::quantity::Unit::Pcs,
                || format!("outputs[{i}].capacity_kwh"),
                || "must be positive and only on lots counted in pieces".to_owned(),
            )?;
        }
    }
    Ok(())
}

fn check_attest(attest: &Attest) -> Result<(), FieldError> {
    if let Some(score) = attest.score {
        ensure(
            score <= 100,
            || "score".to_owned(),
            || "must be 0 to 100".to_owned(),
        )?;
    }
    if let Some(reference) = &attest.reference {
        check_text("reference", reference, 128)?;
    }
    let claim = attest.claim;
    if matches!(claim, Claim::CapOpened | Claim::CapClosed) {
        ensure(
            attest.reference.is_some(),
            || "reference".to_owned(),
            || format!("{} needs the plan's reference", claim.name()),
        )?;
    }
    if claim == Claim::CapOpened {
        ensure(
            attest.severity.is_some(),
            || "severity".to_owned(),
            || "cap-opened needs minor or major".to_owned(),
        )?;
    } else {
        ensure(
            attest.severity.is_none(),
            || "severity".to_owned(),
            || "only cap-opened has a severity".to_owned(),
        )?;
    }
    if claim == Claim::OnsiteAudit {
        ensure(
            attest.result.is_some(),
            || "result".to_owned(),
            || "onsite-audit needs pass, conditional or fail".to_owned(),
        )?;
    }
    Ok(())
}

/// Checks every structural invariant of `event`.
pub fn check_event(event: &Event) -> Result<(), FieldError> {
    if let Some(g) = event.emissions_g_co2e {
        ensure(
            g <= limits::MAX_EMISSIONS_G,
            || "emissions_kg_co2e".to_owned(),
            || "larger than a million tonnes".to_owned(),
        )?;
    }
    ensure(
        event.documents.len() <= limits::MAX_DOCUMENTS,
        || "documents".to_owned(),
        || format!("at most {} documents", limits::MAX_DOCUMENTS),
    )?;
    for (i, doc) in event.documents.iter().enumerate() {
        check_text(&format!("documents[{i}].name"), &doc.name, limits::MAX_TEXT)?;
    }
    match &event.body {
        Body::Enroll(e) => {
            check_name_and_roles(&e.name, &e.roles)?;
            check_count("keys", e.keys.len(), limits::MAX_KEYS)?;
            let distinct: HashSet<_> = e.keys.iter().collect();
            ensure(
                distinct.len() == e.keys.len(),
                || "keys".to_owned(),
                || "a key appears twice".to_owned(),
            )?;
        }
        Body::Amend(a) => check_name_and_roles(&a.name, &a.roles)?,
        Body::Revoke(_) | Body::RequestKey(_) | Body::AddKey(_) => {}
        Body::Extract(x) => {
            let site = &x.site;
            ensure(
                (-90_000_000..=90_000_000).contains(&site.lat_micro),
                || "site.lat".to_owned(),
                || "must be -90 to 90".to_owned(),
            )?;
            ensure(
                (-180_000_000..=180_000_000).contains(&site.lon_micro),
                || "site.lon".to_owned(),
                || "must be -180 to 180".to_owned(),
            )?;
            check_outputs(&x.outputs)?;
        }
        Body::Recycle(r) => check_outputs(&r.outputs)?,
        Body::Ship(s) => {
            ensure(
                s.to != event.actor,
                || "to".to_owned(),
                || "a party cannot ship to itself".to_owned(),
            )?;
            check_count("lots", s.lots.len(), limits::MAX_LOTS)?;
            check_moves_unique("lots", &s.lots)?;
            for (i, m) in s.lots.iter().enumerate() {
                check_quantity(&format!("lots[{i}].quantity"), m.quantity)?;
            }
        }
        Body::Receive(r) => {
            check_count("lots", r.lots.len(), limits::MAX_LOTS)?;
            check_lots_unique("lots", r.lots.iter().map(|m| &m.lot))?;
            for (i, m) in r.lots.iter().enumerate() {
                check_quantity(&format!("lots[{i}].quantity"), m.quantity)?;
            }
        }
        Body::Transform(t) => {
            check_count("inputs", t.inputs.len(), limits::MAX_LOTS)?;
            check_moves_unique("inputs", &t.inputs)?;
            for (i, m) in t.inputs.iter().enumerate() {
                check_quantity(&format!("inputs[{i}].quantity"), m.quantity)?;
            }
            check_outputs(&t.outputs)?;
            for (i, output) in t.outputs.iter().enumerate() {
                ensure(
                    !t.inputs.iter().any(|m| m.lot == output.lot),
                    || format!("outputs[{i}].lot"),
                    || format!("lot {} is both input and output", output.lot),
                )?;
            }
        }
        Body::Attest(a) => {
            check_attest(a)?;
            if let Some(until) = a.valid_until {
                ensure(
                    until >= event.time,
                    || "valid_until".to_owned(),
                    || "is before the attestation's time".to_owned(),
                )?;
            }
        }
    }
    Ok(())
}
