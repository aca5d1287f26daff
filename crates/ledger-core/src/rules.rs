//! The per-event rule engine: authority, custody, balance and time rules (SPEC §4), run by
//! `append` against the ledger as it stands and by `verify` while replaying the log.
//!
//! [`apply`] checks one statement against a [`StateView`], records findings, and writes the
//! statement's effects into the overlay's [`Changes`](crate::state::Changes) (even when it has findings, so a
//! replay keeps going and reports everything). Signature and chain checks are the caller's:
//! they are batched on the hot path.

use crate::event::{
    AddKey, Amend, Body, Enroll, Event, Kind, LotMove, Receive, RequestKey, Revoke, Role, Ship,
};
use crate::finding::{Finding, Rule};
use crate::hash::Digest;
use crate::id::PartyId;
use crate::keys::KeyBytes;
use crate::quantity::{Quantity, component_micrograms, mass_micrograms};
use crate::state::{
    AttestationRecord, EventRecord, Holding, KeyRecord, KeyRequest, LotRecord, Overlay,
    PartyRecord, PartyVersion, Receipt, ShipmentRecord, StateError, StateKeys, StateView,
};
use crate::timestamp::Timestamp;

/// Tunables of the per-event rules, documented in `docs/verification.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleConfig {
    /// How far an event's time may be after its recording time, in seconds.
    pub clock_skew_s: i64,
    /// Shortfall of a delivery, in ppm of what was shipped, tolerated without a warning.
    pub transit_tolerance_ppm: u64,
}

impl Default for RuleConfig {
    fn default() -> RuleConfig {
        RuleConfig {
            clock_skew_s: 600,
            transit_tolerance_ppm: 10_000,
        }
    }
}

/// Roles that may sign each kind of event.
pub fn allowed_roles(kind: Kind) -> &'static [Role] {
    use Role::*;
    match kind {
        Kind::Enroll | Kind::Revoke | Kind::Amend | Kind::AddKey => &[Operator],
        // A party's own consent to a new key: any enrolled party may give it.
        Kind::RequestKey => &Role::ALL,
        Kind::Extract => &[Miner],
        Kind::Recycle => &[Recycler],
        Kind::Ship | Kind::Receive => {
            &[Miner, Trader, Refiner, Manufacturer, Recycler, Transporter]
        }
        Kind::Transform => &[Refiner, Manufacturer],
        Kind::Attest => &[Auditor],
    }
}

/// One statement to check: where it sits in the log and what it says.
pub struct Subject<'a> {
    /// Its log position.
    pub seq: u64,
    /// Its event id.
    pub id: Digest,
    /// The event.
    pub event: &'a Event,
    /// The signing key (its signature is checked by the caller).
    pub signer: &'a KeyBytes,
    /// When it is recorded.
    pub recorded_at: Timestamp,
}

struct Ctx<'s, 'a, 'f> {
    s: &'s Subject<'a>,
    cfg: &'s RuleConfig,
    findings: &'f mut Vec<Finding>,
}

impl Ctx<'_, '_, '_> {
    fn report(&mut self, rule: Rule, message: String) -> &mut Finding {
        self.findings.push(
            Finding::new(rule, message)
                .at(self.s.id, self.s.seq)
                .party(&self.s.event.actor),
        );
        let last = self.findings.len() - 1;
        &mut self.findings[last]
    }

    fn report_lot(&mut self, rule: Rule, lot: &crate::id::LotId, message: String) {
        self.report(rule, message).lot = Some(lot.clone());
    }
}

/// Adds to `keys` every state record [`apply`] may read when it checks the statement with
/// id `id` and `event`: the batch-read hint of [`StateKeys`]. Reading a record not listed
/// here still works; it only costs a round trip.
pub fn reads(id: &Digest, event: &Event, keys: &mut StateKeys) {
    let actor = &event.actor;
    keys.events.insert(*id);
    keys.parties.insert(actor.clone());
    for output in event.body.outputs() {
        keys.lots.insert(output.lot.clone());
    }
    for m in event.body.consumed() {
        keys.lots.insert(m.lot.clone());
        keys.holdings.insert((m.lot.clone(), actor.clone()));
        keys.events.insert(m.from);
    }
    match &event.body {
        Body::Enroll(e) => {
            keys.parties.insert(e.party.clone());
            keys.key_owners.extend(e.keys.iter().map(|k| *k.as_bytes()));
        }
        Body::Revoke(r) => {
            keys.parties.insert(r.party.clone());
        }
        Body::Amend(a) => {
            keys.parties.insert(a.party.clone());
        }
        Body::RequestKey(r) => {
            keys.key_owners.insert(*r.key.as_bytes());
        }
        Body::AddKey(a) => {
            keys.parties.insert(a.party.clone());
            keys.key_owners.insert(*a.key.as_bytes());
        }
        Body::Ship(s) => {
            keys.parties.insert(s.to.clone());
        }
        Body::Receive(r) => {
            keys.shipments.insert(r.shipment);
            for item in &r.lots {
                keys.lots.insert(item.lot.clone());
                keys.holdings.insert((item.lot.clone(), actor.clone()));
            }
        }
        Body::Attest(a) => match &a.subject {
            crate::event::Subject::Party(p) => {
                keys.parties.insert(p.clone());
            }
            crate::event::Subject::Lot(l) => {
                keys.lots.insert(l.clone());
            }
        },
        Body::Extract(_) | Body::Recycle(_) | Body::Transform(_) => {}
    }
}

/// Checks `subject` against `state`, appends findings, and applies its effects.
pub fn apply(
    state: &mut Overlay<'_>,
    subject: &Subject<'_>,
    cfg: &RuleConfig,
    findings: &mut Vec<Finding>,
) -> Result<(), StateError> {
    let mut ctx = Ctx {
        s: subject,
        cfg,
        findings,
    };
    let event = subject.event;
    if let Some(previous) = state.event(&subject.id)? {
        ctx.report(
            Rule::Replay,
            format!("this statement is already in the log at #{}", previous.seq),
        );
        return Ok(());
    }
    if event.time > subject.recorded_at.plus(cfg.clock_skew_s) {
        ctx.report(
            Rule::AfterRecorded,
            format!(
                "event time {} is later than its recording at {} (allowance {} s)",
                event.time, subject.recorded_at, cfg.clock_skew_s
            ),
        );
    }
    check_authority(state, &mut ctx)?;
    match &event.body {
        Body::Enroll(e) => enroll(state, &mut ctx, e)?,
        Body::Revoke(r) => revoke(state, &mut ctx, r)?,
        Body::Amend(a) => amend(state, &mut ctx, a)?,
        Body::RequestKey(r) => request_key(state, &mut ctx, r)?,
        Body::AddKey(a) => add_key(state, &mut ctx, a)?,
        Body::Extract(_) | Body::Recycle(_) => create(state, &mut ctx)?,
        Body::Transform(t) => {
            consume(state, &mut ctx, &t.inputs)?;
            check_mass(state, &mut ctx, &t.inputs)?;
            create(state, &mut ctx)?;
        }
        Body::Ship(s) => {
            consume(state, &mut ctx, &s.lots)?;
            ship(state, &mut ctx, s)?;
        }
        Body::Receive(r) => receive(state, &mut ctx, r)?,
        Body::Attest(a) => {
            let known = match &a.subject {
                crate::event::Subject::Party(p) => state.party(p)?.is_some(),
                crate::event::Subject::Lot(l) => state.lot(l)?.is_some(),
            };
            if !known {
                let subject = match &a.subject {
                    crate::event::Subject::Party(p) => format!("party {p}"),
                    crate::event::Subject::Lot(l) => format!("lot {l}"),
                };
                ctx.report(
                    Rule::UnknownSubject,
                    format!("the attestation's subject, {subject}, is not in the ledger"),
                );
            }
            state.changes.attestations.push(AttestationRecord {
                event: subject.id,
                seq: subject.seq,
                auditor: event.actor.clone(),
                time: event.time,
                attest: a.clone(),
            });
        }
    }
    state.changes.events.insert(
        subject.id,
        EventRecord {
            seq: subject.seq,
            time: event.time,
            actor: event.actor.clone(),
            kind: event.body.kind(),
        },
    );
    Ok(())
}

fn check_authority(state: &Overlay<'_>, ctx: &mut Ctx<'_, '_, '_>) -> Result<(), StateError> {
    let event = ctx.s.event;
    if ctx.s.seq == 0 {
        // Genesis: the operator enrolls itself with the key that signs.
        let ok = matches!(&event.body, Body::Enroll(e)
            if e.party == event.actor && e.roles.contains(&Role::Operator) && e.keys.iter().any(|k| k == ctx.s.signer));
        if !ok {
            ctx.report(
                Rule::BadEnrollment,
                "the first entry must be the operator enrolling itself with the key that signs it"
                    .into(),
            );
        }
        return Ok(());
    }
    let kind = event.body.kind();
    for (rule, message) in authority(
        state,
        &event.actor,
        ctx.s.signer,
        ctx.s.seq,
        allowed_roles(kind),
        kind.name(),
    )? {
        ctx.report(rule, message);
    }
    Ok(())
}

/// The authority rule, for an event and for any other operator act (a checkpoint): at log
/// position `seq`, `actor` must be enrolled, `signer` must be one of its keys and not
/// revoked, and one of its roles must be in `allowed` for `act` (named in the message).
/// Returns the findings, empty when the act is allowed.
pub fn authority(
    state: &dyn StateView,
    actor: &PartyId,
    signer: &KeyBytes,
    seq: u64,
    allowed: &[Role],
    act: &str,
) -> Result<Vec<(Rule, String)>, StateError> {
    let mut found = Vec::new();
    let Some(party) = state.party(actor)? else {
        found.push((
            Rule::UnknownSigner,
            format!("{actor} is not an enrolled party"),
        ));
        return Ok(found);
    };
    match party.key(signer.as_bytes()) {
        None => found.push((
            Rule::UnknownSigner,
            format!("key {} is not enrolled for {actor}", short(signer)),
        )),
        Some(KeyRecord {
            revoked_seq: Some(at),
            ..
        }) if *at <= seq => found.push((
            Rule::RevokedKey,
            format!("key {} of {actor} was revoked at #{at}", short(signer)),
        )),
        Some(_) => {}
    }
    let roles = party.roles_at(seq);
    if !roles.iter().any(|r| allowed.contains(r)) {
        let names: Vec<_> = allowed.iter().map(|r| r.name()).collect();
        let has: Vec<_> = roles.iter().map(|r| r.name()).collect();
        found.push((
            Rule::RoleNotAllowed,
            format!(
                "{actor} ({}) may not {act}; that needs one of: {}",
                has.join(", "),
                names.join(", ")
            ),
        ));
    }
    Ok(found)
}

fn short(key: &impl std::fmt::Display) -> String {
    key.to_string().chars().take(16).collect()
}

/// Admits a new party. An enrolled party is never enrolled again: that would let the
/// operator add keys (and so sign as the party) or rewrite its roles and country.
fn enroll(
    state: &mut Overlay<'_>,
    ctx: &mut Ctx<'_, '_, '_>,
    e: &Enroll,
) -> Result<(), StateError> {
    if let Some(existing) = state.party(&e.party)? {
        let since = existing.versions.first().map_or(0, |v| v.since_seq);
        ctx.report(
            Rule::BadEnrollment,
            format!(
                "{} is already enrolled (at #{since}): change its name, country or roles with \
                 amend, and add a key with request-key (signed by the party) and add-key",
                e.party
            ),
        );
        return Ok(());
    }
    let mut record = PartyRecord {
        id: e.party.clone(),
        name: e.name.clone(),
        country: e.country.clone(),
        roles: e.roles.clone(),
        keys: Vec::new(),
        versions: vec![PartyVersion {
            since_seq: ctx.s.seq,
            country: e.country.clone(),
            roles: e.roles.clone(),
        }],
        requested_keys: Vec::new(),
    };
    for key in &e.keys {
        if let Some(owner) = state.key_owner(key)? {
            ctx.report(
                Rule::BadEnrollment,
                format!("key {} is already enrolled for {owner}", short(key)),
            );
            continue;
        }
        record.keys.push(KeyRecord {
            key: (*key).into(),
            enrolled_seq: ctx.s.seq,
            revoked_seq: None,
        });
        state.changes.key_owners.insert(*key, e.party.clone());
    }
    state.changes.parties.insert(e.party.clone(), record);
    Ok(())
}

/// Changes a party's name, country and roles from this position on, keeping the earlier
/// version for the events before it.
fn amend(state: &mut Overlay<'_>, ctx: &mut Ctx<'_, '_, '_>, a: &Amend) -> Result<(), StateError> {
    let Some(mut record) = state.party(&a.party)? else {
        ctx.report(
            Rule::BadEnrollment,
            format!("cannot amend {}: not an enrolled party", a.party),
        );
        return Ok(());
    };
    record.name.clone_from(&a.name);
    record.country = a.country.clone();
    record.roles.clone_from(&a.roles);
    record.versions.push(PartyVersion {
        since_seq: ctx.s.seq,
        country: a.country.clone(),
        roles: a.roles.clone(),
    });
    state.changes.parties.insert(a.party.clone(), record);
    Ok(())
}

/// Records a party's request for a new key (its consent; the authority rule has checked
/// that one of its current keys signed).
fn request_key(
    state: &mut Overlay<'_>,
    ctx: &mut Ctx<'_, '_, '_>,
    r: &RequestKey,
) -> Result<(), StateError> {
    let actor = &ctx.s.event.actor;
    if let Some(owner) = state.key_owner(&r.key)? {
        ctx.report(
            Rule::BadEnrollment,
            format!("key {} is already enrolled for {owner}", short(&r.key)),
        );
        return Ok(());
    }
    let Some(mut record) = state.party(actor)? else {
        // The authority rule has reported the unknown actor.
        return Ok(());
    };
    record.requested_keys.push(KeyRequest {
        request: ctx.s.id,
        key: r.key.into(),
    });
    state.changes.parties.insert(actor.clone(), record);
    Ok(())
}

/// Adds a key the party requested: the operator's signature and the party's request are
/// both needed.
fn add_key(
    state: &mut Overlay<'_>,
    ctx: &mut Ctx<'_, '_, '_>,
    a: &AddKey,
) -> Result<(), StateError> {
    let Some(mut record) = state.party(&a.party)? else {
        ctx.report(
            Rule::BadEnrollment,
            format!("cannot add a key to {}: not an enrolled party", a.party),
        );
        return Ok(());
    };
    if let Some(owner) = state.key_owner(&a.key)? {
        ctx.report(
            Rule::BadEnrollment,
            format!("key {} is already enrolled for {owner}", short(&a.key)),
        );
        return Ok(());
    }
    let Some(at) = record
        .requested_keys
        .iter()
        .position(|r| r.request == a.request && r.key == a.key)
    else {
        ctx.report(
            Rule::BadEnrollment,
            format!(
                "{} has not requested key {} in event {}: a key is added only at the \
                 request of the party, signed with one of its current keys",
                a.party,
                short(&a.key),
                a.request
            ),
        );
        return Ok(());
    };
    record.requested_keys.remove(at);
    record.keys.push(KeyRecord {
        key: a.key.into(),
        enrolled_seq: ctx.s.seq,
        revoked_seq: None,
    });
    state.changes.key_owners.insert(a.key, a.party.clone());
    state.changes.parties.insert(a.party.clone(), record);
    Ok(())
}

fn revoke(
    state: &mut Overlay<'_>,
    ctx: &mut Ctx<'_, '_, '_>,
    r: &Revoke,
) -> Result<(), StateError> {
    let Some(mut record) = state.party(&r.party)? else {
        ctx.report(
            Rule::BadEnrollment,
            format!("cannot revoke a key of {}: not an enrolled party", r.party),
        );
        return Ok(());
    };
    match record.keys.iter_mut().find(|k| k.key == r.key) {
        None => {
            ctx.report(
                Rule::BadEnrollment,
                format!("key {} is not enrolled for {}", short(&r.key), r.party),
            );
        }
        Some(k) if k.revoked_seq.is_some() => {
            ctx.report(
                Rule::BadEnrollment,
                format!("key {} of {} is already revoked", short(&r.key), r.party),
            );
        }
        Some(k) => {
            k.revoked_seq = Some(ctx.s.seq);
            state.changes.parties.insert(r.party.clone(), record);
        }
    }
    Ok(())
}

/// Credits every output lot to the actor; refuses lots that already exist.
fn create(state: &mut Overlay<'_>, ctx: &mut Ctx<'_, '_, '_>) -> Result<(), StateError> {
    let event = ctx.s.event;
    for output in event.body.outputs() {
        if let Some(existing) = state.lot(&output.lot)? {
            ctx.report_lot(
                Rule::DuplicateLot,
                &output.lot,
                format!(
                    "lot {} was already created by {} in event {}",
                    output.lot, existing.creator, existing.created_by
                ),
            );
            continue;
        }
        state.changes.lots.insert(
            &output.lot,
            LotRecord {
                material: output.material.clone(),
                unit: output.quantity.unit(),
                created: output.quantity,
                content: output.content.clone(),
                capacity_wh: output.capacity_wh,
                unit_mass_mg: output.unit_mass_mg,
                created_by: ctx.s.id,
                creator: event.actor.clone(),
            },
        );
        state.changes.holdings.insert(
            &output.lot,
            &event.actor,
            Holding {
                receipts: vec![Receipt {
                    source: ctx.s.id,
                    balance: output.quantity.amount(),
                }],
            },
        );
    }
    Ok(())
}

/// Draws consumed quantities from the receipts the moves link, after checking links,
/// units and balances: each move names one receipt (`from`) of the lot by the actor and
/// takes at most what is left of it.
fn consume(
    state: &mut Overlay<'_>,
    ctx: &mut Ctx<'_, '_, '_>,
    moves: &[LotMove],
) -> Result<(), StateError> {
    let event = ctx.s.event;
    let actor = &event.actor;
    for m in moves {
        let Some(lot) = state.lot(&m.lot)? else {
            ctx.report_lot(
                Rule::NotHeld,
                &m.lot,
                format!(
                    "{actor} cannot use lot {}: no such lot in the ledger",
                    m.lot
                ),
            );
            continue;
        };
        // One finding per problem: a lot the actor does not hold cannot have a valid
        // link, and a quantity in the wrong unit cannot be balanced.
        let Some(mut holding) = state.holding(&m.lot, actor)? else {
            ctx.report_lot(
                Rule::NotHeld,
                &m.lot,
                format!("{actor} does not hold lot {}", m.lot),
            );
            continue;
        };
        let Some(receipt) = holding.receipt_mut(&m.from) else {
            ctx.report_lot(
                Rule::BrokenLink,
                &m.lot,
                format!(
                    "link {} for lot {} is not an earlier event that gave {actor} custody of it",
                    m.from, m.lot
                ),
            );
            continue;
        };
        if let Some(linked) = state.event(&m.from)?
            && event.time < linked.time
        {
            ctx.report_lot(
                Rule::BeforeLinked,
                &m.lot,
                format!(
                    "event time {} is before {} of the event it links to (#{})",
                    event.time, linked.time, linked.seq
                ),
            );
        }
        if lot.unit != m.quantity.unit() {
            ctx.report_lot(
                Rule::UnitMismatch,
                &m.lot,
                format!(
                    "lot {} is counted in {}, not {}",
                    m.lot,
                    lot.unit,
                    m.quantity.unit()
                ),
            );
            continue;
        }
        let amount = m.quantity.amount();
        if receipt.balance < amount {
            ctx.report_lot(
                Rule::NegativeBalance,
                &m.lot,
                format!(
                    "{actor} holds {} of lot {} from event {} but uses {}: the links must account for every quantity used",
                    Quantity::of(lot.unit, receipt.balance),
                    m.lot,
                    m.from,
                    Quantity::of(lot.unit, amount)
                ),
            );
        }
        receipt.balance = receipt.balance.saturating_sub(amount);
        state.changes.holdings.insert(&m.lot, actor, holding);
    }
    Ok(())
}

/// Mass conservation: a transform's outputs weigh no more than its inputs, in total and
/// per component, so neither untraced material nor a weightless "slag" output (to which
/// emissions would be allocated) can be declared.
fn check_mass(
    state: &Overlay<'_>,
    ctx: &mut Ctx<'_, '_, '_>,
    inputs: &[LotMove],
) -> Result<(), StateError> {
    let mut available = std::collections::BTreeMap::new();
    let mut input_mass = 0u128;
    for m in inputs {
        if let Some(lot) = state.lot(&m.lot)? {
            if lot.unit != m.quantity.unit() {
                continue;
            }
            input_mass += mass_micrograms(m.quantity, lot.unit_mass_mg);
            for component in lot.content.keys() {
                *available.entry(component.clone()).or_insert(0u128) +=
                    component_micrograms(m.quantity, &lot.content, component);
            }
        }
    }
    let outputs = ctx.s.event.body.outputs();
    let output_mass: u128 = outputs
        .iter()
        .map(|o| mass_micrograms(o.quantity, o.unit_mass_mg))
        .sum();
    if output_mass > input_mass {
        ctx.report(
            Rule::MassOverClaimed,
            format!(
                "outputs weigh {} kg but the inputs only {} kg: a transform cannot create mass",
                kilograms(output_mass),
                kilograms(input_mass)
            ),
        );
    }
    let mut claimed = std::collections::BTreeMap::new();
    for output in outputs {
        for component in output.content.keys() {
            *claimed.entry(component.clone()).or_insert(0u128) +=
                component_micrograms(output.quantity, &output.content, component);
        }
    }
    for (component, out) in claimed {
        let have = available.get(&component).copied().unwrap_or(0);
        if out > have {
            ctx.report(
                Rule::MassOverClaimed,
                format!(
                    "outputs contain {} g of {component} but the inputs only {} g: untraced material would be laundered in",
                    grams(out),
                    grams(have)
                ),
            );
        }
    }
    Ok(())
}

/// Micrograms as kilograms with three decimals.
fn kilograms(micrograms: u128) -> String {
    let grams = micrograms / 1_000_000;
    format!("{}.{:03}", grams / 1000, grams % 1000)
}

fn grams(micrograms: u128) -> String {
    let milli = micrograms / 1000;
    format!("{}.{:03}", milli / 1000, milli % 1000)
}

fn ship(state: &mut Overlay<'_>, ctx: &mut Ctx<'_, '_, '_>, s: &Ship) -> Result<(), StateError> {
    if state.party(&s.to)?.is_none() {
        ctx.report(
            Rule::UnknownReceiver,
            format!("the receiver {} is not an enrolled party", s.to),
        );
    }
    let event = ctx.s.event;
    state.changes.shipments.insert(
        ctx.s.id,
        ShipmentRecord {
            sender: event.actor.clone(),
            receiver: s.to.clone(),
            time: event.time,
            lots: shipped_lots(&s.lots),
            received_by: None,
        },
    );
    Ok(())
}

/// What a shipment carries, one line per lot: moves of one lot drawn from several receipts
/// add up (moves in another unit than the first are left out; `consume` reports them).
fn shipped_lots(moves: &[LotMove]) -> Vec<(crate::id::LotId, Quantity)> {
    let mut lots: Vec<(crate::id::LotId, Quantity)> = Vec::new();
    for m in moves {
        match lots.iter_mut().find(|(lot, _)| *lot == m.lot) {
            Some((_, total)) if total.unit() == m.quantity.unit() => {
                *total = Quantity::of(
                    total.unit(),
                    total.amount().saturating_add(m.quantity.amount()),
                );
            }
            Some(_) => {}
            None => lots.push((m.lot.clone(), m.quantity)),
        }
    }
    lots
}

fn receive(
    state: &mut Overlay<'_>,
    ctx: &mut Ctx<'_, '_, '_>,
    r: &Receive,
) -> Result<(), StateError> {
    let event = ctx.s.event;
    let actor = &event.actor;
    let Some(mut shipment) = state.shipment(&r.shipment)? else {
        ctx.report(
            Rule::ReceiveMismatch,
            format!("shipment {} is not a ship event in the ledger", r.shipment),
        );
        return Ok(());
    };
    if shipment.receiver != *actor {
        ctx.report(
            Rule::ReceiveMismatch,
            format!(
                "shipment {} is addressed to {}, not {actor}",
                r.shipment, shipment.receiver
            ),
        );
        return Ok(());
    }
    if let Some(first) = shipment.received_by {
        ctx.report(
            Rule::ReceivedTwice,
            format!(
                "shipment {} was already received by event {first}",
                r.shipment
            ),
        );
        return Ok(());
    }
    if event.time < shipment.time {
        ctx.report(
            Rule::BeforeLinked,
            format!(
                "received at {} before it was shipped at {}",
                event.time, shipment.time
            ),
        );
    }
    for item in &r.lots {
        let Some((_, shipped)) = shipment.lots.iter().find(|(lot, _)| *lot == item.lot) else {
            ctx.report_lot(
                Rule::ReceiveMismatch,
                &item.lot,
                format!("lot {} is not in shipment {}", item.lot, r.shipment),
            );
            continue;
        };
        if shipped.unit() != item.quantity.unit() {
            ctx.report_lot(
                Rule::UnitMismatch,
                &item.lot,
                format!(
                    "lot {} was shipped in {}, not {}",
                    item.lot,
                    shipped.unit(),
                    item.quantity.unit()
                ),
            );
            continue;
        }
        let (got, sent) = (item.quantity.amount(), shipped.amount());
        if got > sent {
            ctx.report_lot(
                Rule::OverReceived,
                &item.lot,
                format!(
                    "received {} of lot {} but only {} was shipped",
                    item.quantity, item.lot, shipped
                ),
            );
        } else if u128::from(sent - got) * 1_000_000
            > u128::from(sent) * u128::from(ctx.cfg.transit_tolerance_ppm)
        {
            ctx.report_lot(
                Rule::TransitLoss,
                &item.lot,
                format!(
                    "{} of lot {} shipped, {} received",
                    shipped, item.lot, item.quantity
                ),
            );
        }
        let mut holding = state.holding(&item.lot, actor)?.unwrap_or_default();
        holding.receipts.push(Receipt {
            source: ctx.s.id,
            balance: got.min(sent),
        });
        state.changes.holdings.insert(&item.lot, actor, holding);
    }
    for (lot, shipped) in &shipment.lots {
        if !r.lots.iter().any(|item| item.lot == *lot) {
            ctx.report_lot(
                Rule::TransitLoss,
                lot,
                format!("{shipped} of lot {lot} shipped, none received"),
            );
        }
    }
    shipment.received_by = Some(ctx.s.id);
    state.changes.shipments.insert(r.shipment, shipment);
    Ok(())
}
