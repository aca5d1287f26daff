//! A product's provenance: the hash-linked DAG of events from a lot back to every mine and
//! recycler, the origin mix of each tracked component (mass-proportional through every
//! blend), and the provenance rules (origins, high-risk and artisanal sites, due diligence).
//!
//! The walk follows only signed hash links (`from`, `shipment`) and the lot's creation, and
//! re-reads every event through an [`EventSource`] that must re-verify what it returns.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use serde::Serialize;

use crate::event::{Body, CapSeverity, Claim, Feedstock, Method, Outcome, Subject};
use crate::finding::{Finding, Rule};
use crate::hash::Digest;
use crate::id::{Component, Country, LotId, PartyId, SiteId};
use crate::policy::Policy;
use crate::quantity::{Quantity, component_micrograms};
use crate::state::{AttestationRecord, PartyRecord, StateError, StateView};
use crate::statement::Statement;
use crate::timestamp::Timestamp;

/// Shares are fixed-point fractions of this whole (10^12), so blends stay exact enough
/// without floating point.
pub const SHARE_ONE: u128 = 1_000_000_000_000;

/// Most events a single trace visits, so a hostile ledger cannot exhaust memory.
pub const MAX_TRACE_EVENTS: usize = 5_000_000;

/// Where verified statements come from: the store, or an evidence bundle.
pub trait EventSource {
    /// The statement with event id `id` and its log position, re-verified against its id.
    fn statement(&self, id: &Digest) -> Result<Option<(u64, Statement)>, StateError>;
}

/// One event on the way.
#[derive(Debug, Clone, Serialize)]
pub struct TraceEvent {
    /// Its id.
    pub id: Digest,
    /// Its log position.
    pub seq: u64,
    /// The statement.
    #[serde(skip)]
    pub statement: Statement,
}

/// A hash link followed: `to` consumed or received `lot` that `from` gave.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct TraceEdge {
    /// The upstream event.
    pub from: Digest,
    /// The downstream event.
    pub to: Digest,
    /// The lot that moved.
    pub lot: LotId,
    /// How much.
    pub quantity: Quantity,
}

/// A place material came from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Origin {
    /// The `extract` or `recycle` event.
    pub event: Digest,
    /// The miner or recycler.
    pub party: PartyId,
    /// The mine site, for extraction.
    pub site: Option<SiteId>,
    /// The site's country (the recycler's, for recycling).
    pub country: Country,
    /// Industrial or artisanal, for extraction.
    pub method: Option<Method>,
    /// Pre- or post-consumer, for recycling.
    pub feedstock: Option<Feedstock>,
}

impl Origin {
    /// Whether this origin is recycled material.
    pub fn is_recycled(&self) -> bool {
        self.feedstock.is_some()
    }
}

/// A component's origin shares, as fractions of [`SHARE_ONE`].
pub type Mix = BTreeMap<Component, BTreeMap<usize, u128>>;

/// A traced product.
#[derive(Debug, Clone)]
pub struct Trace {
    /// The product lot.
    pub lot: LotId,
    /// Every event on the way, by id.
    pub events: BTreeMap<Digest, TraceEvent>,
    /// Every link followed.
    pub edges: BTreeSet<TraceEdge>,
    /// Every origin reached, indexed by [`Mix`] keys.
    pub origins: Vec<Origin>,
    /// Origin shares of each component of the product lot.
    pub mix: Mix,
    /// Findings of the walk (broken provenance).
    pub findings: Vec<Finding>,
}

impl Trace {
    /// Every party that acted on the way, with the events' time range.
    pub fn parties(&self) -> BTreeSet<PartyId> {
        self.events
            .values()
            .map(|e| e.statement.event.actor.clone())
            .collect()
    }
}

/// Why a trace could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TraceError {
    /// The lot is not in the ledger.
    #[error("lot {0} is not in the ledger")]
    UnknownLot(LotId),
    /// The trace would visit more than [`MAX_TRACE_EVENTS`] events.
    #[error("provenance of lot {0} has more than {MAX_TRACE_EVENTS} events")]
    TooLarge(LotId),
    /// State could not be read.
    #[error(transparent)]
    State(#[from] StateError),
}

/// Walks the provenance DAG of `lot` and computes its origin mix.
pub fn trace(
    lot: &LotId,
    state: &dyn StateView,
    source: &dyn EventSource,
) -> Result<Trace, TraceError> {
    let mut t = walk(lot, state, source)?;
    compute_mix(&mut t, lot, state)?;
    Ok(t)
}

/// [`trace`] over statements the caller holds and lends (`lend`, as
/// [`EventSource::statement`] but borrowed): only the events visited are cloned, once each.
pub fn trace_lent<'a>(
    lot: &LotId,
    state: &dyn StateView,
    lend: &dyn Fn(&Digest) -> Result<Lent<'a>, StateError>,
) -> Result<Trace, TraceError> {
    let mut t = walk_lent(lot, state, lend)?.into_trace(lot);
    compute_mix(&mut t, lot, state)?;
    Ok(t)
}

/// The walk of [`trace`] alone: the events, links and walk findings of `lot`'s provenance,
/// with no origins and an empty mix. Choosing a lot's evidence needs only these.
pub fn walk(
    lot: &LotId,
    state: &dyn StateView,
    source: &dyn EventSource,
) -> Result<Trace, TraceError> {
    let owned = |id: &Digest| -> Result<Lent<'static>, StateError> {
        Ok(source
            .statement(id)?
            .map(|(seq, statement)| (seq, Cow::Owned(statement))))
    };
    Ok(walk_lent(lot, state, &owned)?.into_trace(lot))
}

/// An event as a source gives it to the walk: its log position and statement, lent or
/// owned; `None` if the source does not hold it.
pub type Lent<'a> = Option<(u64, Cow<'a, Statement>)>;

/// What a walk found, the statements as the source gave them (see [`walk_lent`]).
#[derive(Debug, Default)]
pub struct Walked<'a> {
    /// Every event on the way, by id, with its log position.
    pub events: HashMap<Digest, (u64, Cow<'a, Statement>)>,
    /// Every link followed.
    pub edges: BTreeSet<TraceEdge>,
    /// Findings of the walk (broken provenance).
    pub findings: Vec<Finding>,
}

impl Walked<'_> {
    /// The walk as a [`Trace`] of `lot` without origins or mix.
    pub fn into_trace(mut self, lot: &LotId) -> Trace {
        // Inserted in key order, the map appends: large events are not shifted or sorted.
        let mut ids: Vec<Digest> = self.events.keys().copied().collect();
        ids.sort_unstable();
        let mut events = BTreeMap::new();
        for id in ids {
            if let Some((seq, statement)) = self.events.remove(&id) {
                let statement = statement.into_owned();
                events.insert(id, TraceEvent { id, seq, statement });
            }
        }
        Trace {
            lot: lot.clone(),
            events,
            edges: self.edges,
            origins: Vec::new(),
            mix: BTreeMap::new(),
            findings: self.findings,
        }
    }
}

/// The walk of [`walk`] over statements `lend` lends, cloning none: from the lot's creating
/// event, every signed hash link back to the origins.
pub fn walk_lent<'a>(
    lot: &LotId,
    state: &dyn StateView,
    lend: &dyn Fn(&Digest) -> Result<Lent<'a>, StateError>,
) -> Result<Walked<'a>, TraceError> {
    let record = state
        .lot(lot)?
        .ok_or_else(|| TraceError::UnknownLot(lot.clone()))?;
    let product = lot;
    let mut t = Walked::default();
    // Work items: an event reached while following `lot` from event `via`.
    let mut queue = VecDeque::from([(record.created_by, lot.clone(), None::<Digest>)]);
    let mut seen = HashSet::new();
    while let Some((id, lot, via)) = queue.pop_front() {
        if !seen.insert((id, lot.clone())) {
            continue;
        }
        if t.events.len() >= MAX_TRACE_EVENTS {
            return Err(TraceError::TooLarge(product.clone()));
        }
        let Some((seq, statement)) = lend(&id)? else {
            let mut f = Finding::new(
                Rule::NoOrigin,
                format!("the path for lot {lot} is broken: event {id} is not in the ledger"),
            )
            .lot(&lot);
            f.event = via;
            t.findings.push(f);
            continue;
        };
        let event = &statement.event;
        match &event.body {
            Body::Extract(_) | Body::Recycle(_)
                if event.body.outputs().iter().any(|o| o.lot == lot) => {}
            Body::Transform(tr) if tr.outputs.iter().any(|o| o.lot == lot) => {
                for m in &tr.inputs {
                    t.edges.insert(TraceEdge {
                        from: m.from,
                        to: id,
                        lot: m.lot.clone(),
                        quantity: m.quantity,
                    });
                    queue.push_back((m.from, m.lot.clone(), Some(id)));
                }
            }
            Body::Receive(r) if r.lots.iter().any(|i| i.lot == lot) => {
                let q = r.lots.iter().find(|i| i.lot == lot).map(|i| i.quantity);
                if let Some(quantity) = q {
                    t.edges.insert(TraceEdge {
                        from: r.shipment,
                        to: id,
                        lot: lot.clone(),
                        quantity,
                    });
                }
                queue.push_back((r.shipment, lot.clone(), Some(id)));
            }
            Body::Ship(s) if s.lots.iter().any(|m| m.lot == lot) => {
                for m in s.lots.iter().filter(|m| m.lot == lot) {
                    t.edges.insert(TraceEdge {
                        from: m.from,
                        to: id,
                        lot: lot.clone(),
                        quantity: m.quantity,
                    });
                    queue.push_back((m.from, lot.clone(), Some(id)));
                }
            }
            _ => {
                t.findings.push(
                    Finding::new(Rule::NoOrigin, format!("the path for lot {lot} reaches a {} event that does not give custody of it", event.body.kind()))
                        .at(id, seq)
                        .party(&event.actor)
                        .lot(&lot),
                );
            }
        }
        t.events.entry(id).or_insert((seq, statement));
    }
    Ok(t)
}

/// Computes the origin mix of every lot created on the way, inputs before outputs.
fn compute_mix(t: &mut Trace, product: &LotId, state: &dyn StateView) -> Result<(), StateError> {
    let mut origin_index: HashMap<Origin, usize> = HashMap::new();
    let mut mixes: HashMap<LotId, Mix> = HashMap::new();
    // Iterative post-order over lots by their creating events.
    let mut stack = vec![(product.clone(), false)];
    while let Some((lot, inputs_done)) = stack.pop() {
        if mixes.contains_key(&lot) {
            continue;
        }
        let Some(record) = state.lot(&lot)? else {
            mixes.insert(lot, Mix::new());
            continue;
        };
        let Some(creation) = t.events.get(&record.created_by) else {
            mixes.insert(lot, Mix::new());
            continue;
        };
        let event = &creation.statement.event;
        let mix = match &event.body {
            Body::Extract(x) => {
                let origin = Origin {
                    event: creation.id,
                    party: event.actor.clone(),
                    site: Some(x.site.id.clone()),
                    country: x.site.country.clone(),
                    method: Some(x.site.method),
                    feedstock: None,
                };
                single(&mut t.origins, &mut origin_index, origin, &record.content)
            }
            Body::Recycle(r) => {
                // The recycler's country when it recycled, not after a later amendment.
                let country = state
                    .party(&event.actor)?
                    .map(|p| p.country_at(creation.seq).clone());
                let Some(country) = country else {
                    mixes.insert(lot, Mix::new());
                    continue;
                };
                let origin = Origin {
                    event: creation.id,
                    party: event.actor.clone(),
                    site: None,
                    country,
                    method: None,
                    feedstock: Some(r.feedstock),
                };
                single(&mut t.origins, &mut origin_index, origin, &record.content)
            }
            Body::Transform(tr) => {
                if !inputs_done {
                    stack.push((lot.clone(), true));
                    for m in &tr.inputs {
                        if !mixes.contains_key(&m.lot) {
                            stack.push((m.lot.clone(), false));
                        }
                    }
                    continue;
                }
                let mut totals: BTreeMap<Component, u128> = BTreeMap::new();
                let mut weighted: Mix = Mix::new();
                for m in &tr.inputs {
                    let Some(input) = state.lot(&m.lot)? else {
                        continue;
                    };
                    let Some(input_mix) = mixes.get(&m.lot) else {
                        continue;
                    };
                    for (component, shares) in input_mix {
                        let mass = component_micrograms(m.quantity, &input.content, component);
                        *totals.entry(component.clone()).or_default() += mass;
                        let target = weighted.entry(component.clone()).or_default();
                        for (origin, share) in shares {
                            *target.entry(*origin).or_default() +=
                                mass.saturating_mul(*share) / SHARE_ONE;
                        }
                    }
                }
                let mut mix = Mix::new();
                for (component, shares) in weighted {
                    let total = totals.get(&component).copied().unwrap_or(0);
                    if total == 0 || !record.content.contains_key(&component) {
                        continue;
                    }
                    let normalized = shares
                        .into_iter()
                        .map(|(o, w)| (o, w.saturating_mul(SHARE_ONE) / total))
                        .collect();
                    mix.insert(component, normalized);
                }
                mix
            }
            _ => Mix::new(),
        };
        mixes.insert(lot, mix);
    }
    t.mix = mixes.remove(product).unwrap_or_default();
    Ok(())
}

fn single(
    origins: &mut Vec<Origin>,
    index: &mut HashMap<Origin, usize>,
    origin: Origin,
    content: &crate::quantity::Content,
) -> Mix {
    let i = *index.entry(origin.clone()).or_insert_with(|| {
        origins.push(origin);
        origins.len() - 1
    });
    content
        .keys()
        .map(|c| (c.clone(), BTreeMap::from([(i, SHARE_ONE)])))
        .collect()
}

/// The attestations due diligence reads, grouped by what they are about, each list in log
/// order. Only attestations whose entries passed every check belong here: the evidence
/// checks ([`crate::bundle::check_evidence`]) leave out any attestation with an error
/// finding, so a forged or unauthorised one never counts.
#[derive(Debug, Clone, Default)]
pub struct AttestationSet {
    parties: HashMap<PartyId, Vec<AttestationRecord>>,
    lots: HashMap<LotId, Vec<AttestationRecord>>,
}

impl AttestationSet {
    /// Groups `records` by subject.
    pub fn new(records: impl IntoIterator<Item = AttestationRecord>) -> AttestationSet {
        let mut set = AttestationSet::default();
        for a in records {
            match &a.attest.subject {
                Subject::Party(p) => set.parties.entry(p.clone()).or_default().push(a),
                Subject::Lot(l) => set.lots.entry(l.clone()).or_default().push(a),
            }
        }
        for list in set.parties.values_mut().chain(set.lots.values_mut()) {
            list.sort_by_key(|a| a.seq);
        }
        set
    }

    /// The attestations about `party`.
    pub fn about_party(&self, party: &PartyId) -> &[AttestationRecord] {
        self.parties.get(party).map_or(&[], Vec::as_slice)
    }

    /// The attestations about `lot`.
    pub fn about_lot(&self, lot: &LotId) -> &[AttestationRecord] {
        self.lots.get(lot).map_or(&[], Vec::as_slice)
    }
}

/// The lots the product's material came through: the product lot and every lot that moved
/// along a link of the trace. Their attestations are part of the verdict.
pub fn lots_on_the_way(t: &Trace) -> BTreeSet<LotId> {
    t.edges
        .iter()
        .map(|e| e.lot.clone())
        .chain([t.lot.clone()])
        .collect()
}

/// The parties that acted on `lot` on the way (created, shipped, received or consumed it):
/// an attestation about the lot by any of them, or by a party sharing a key with one of
/// them, counts for nothing.
pub fn lot_actors(t: &Trace, lot: &LotId) -> BTreeSet<PartyId> {
    t.events
        .values()
        .filter(|e| e.statement.event.lots_named().contains(&lot))
        .map(|e| e.statement.event.actor.clone())
        .collect()
}

/// Runs the provenance rules on a trace: origin flags, due diligence of every party in the
/// chain and the attestations about every lot on the way, as of `as_of`.
pub fn provenance_findings(
    t: &Trace,
    state: &dyn StateView,
    attestations: &AttestationSet,
    policy: &Policy,
    as_of: Timestamp,
) -> Result<Vec<Finding>, StateError> {
    let mut out = t.findings.clone();
    for origin in &t.origins {
        let seq = t
            .events
            .get(&origin.event)
            .map(|e| e.seq)
            .unwrap_or_default();
        let site = origin
            .site
            .as_ref()
            .map(|s| s.to_string())
            .unwrap_or_else(|| origin.party.to_string());
        if origin.site.is_some()
            && policy.is_high_risk(&origin.country)
            && let Some(sev) = policy.high_risk.severity()
        {
            out.push(
                Finding::new(
                    Rule::HighRiskCountry,
                    format!(
                        "mine site {site} is in {}, on the high-risk list",
                        origin.country
                    ),
                )
                .at(origin.event, seq)
                .party(&origin.party)
                .severity(sev),
            );
        }
        if origin.method == Some(Method::Artisanal)
            && let Some(sev) = policy.artisanal.severity()
        {
            out.push(
                Finding::new(
                    Rule::ArtisanalSite,
                    format!("mine site {site} is artisanal and small-scale"),
                )
                .at(origin.event, seq)
                .party(&origin.party)
                .severity(sev),
            );
        }
    }
    // The positions each party acted at, in one pass (not one pass per party).
    let mut acted: BTreeMap<&PartyId, Vec<u64>> = BTreeMap::new();
    for e in t.events.values() {
        acted
            .entry(&e.statement.event.actor)
            .or_default()
            .push(e.seq);
    }
    for (party, seqs) in &acted {
        let Some(record) = state.party(party)? else {
            continue;
        };
        let found = party_diligence(
            &record,
            &roles_at(&record, seqs),
            attestations.about_party(party),
            state,
            policy,
            as_of,
        )?;
        for gap in found.gaps {
            if let Some(f) = gap_finding(gap, &party.to_string(), policy) {
                out.push(f.party(party));
            }
        }
    }
    // Only attested lots can have a gap; their actors are found in one pass over the trace.
    let attested: Vec<LotId> = lots_on_the_way(t)
        .into_iter()
        .filter(|lot| !attestations.about_lot(lot).is_empty())
        .collect();
    let mut actors: HashMap<&LotId, BTreeSet<PartyId>> =
        attested.iter().map(|lot| (lot, BTreeSet::new())).collect();
    if !actors.is_empty() {
        for e in t.events.values() {
            for lot in e.statement.event.lots_named() {
                if let Some(set) = actors.get_mut(lot) {
                    set.insert(e.statement.event.actor.clone());
                }
            }
        }
    }
    for lot in &attested {
        let held = attestations.about_lot(lot);
        let none = BTreeSet::new();
        let found = lot_diligence(actors.get(lot).unwrap_or(&none), held, state, as_of)?;
        for gap in found.gaps {
            if let Some(f) = gap_finding(gap, &format!("lot {lot}"), policy) {
                out.push(f.lot(lot));
            }
        }
    }
    Ok(out)
}

/// The finding for a gap of `who` (a party id, or `lot L`), at the policy's severity.
fn gap_finding(gap: DdGap, who: &str, policy: &Policy) -> Option<Finding> {
    match gap {
        DdGap::Missing {
            claim,
            reason,
            evidence,
        } => {
            let sev = policy.missing_attestation.severity()?;
            let f = Finding::new(
                Rule::MissingAttestation,
                format!("{who}: {} {reason}", claim.name()),
            )
            .severity(sev);
            Some(match evidence {
                Some((event, seq)) => f.at(event, seq),
                None => f,
            })
        }
        DdGap::OpenCap {
            reference,
            event,
            seq,
            opened_by,
            closed_by,
        } => {
            let sev = policy.open_major_cap.severity()?;
            let mut message = format!(
                "{who} has an open major corrective action plan {reference}, opened by {opened_by}"
            );
            if let Some(other) = closed_by {
                message.push_str(&format!(
                    "; the cap-closed by {other} does not close it: only the auditor that \
                     opened a plan closes it"
                ));
            }
            Some(
                Finding::new(Rule::OpenCorrectiveAction, message)
                    .at(event, seq)
                    .severity(sev),
            )
        }
    }
}

/// A due-diligence gap of one party or lot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DdGap {
    /// A required attestation is missing, failed or expired (for a lot: the latest
    /// attestation of a claim failed).
    Missing {
        /// The claim required.
        claim: Claim,
        /// Why it does not count, in words.
        reason: String,
        /// The attestation that makes the gap (the failed, expired or old latest one), if
        /// there is one.
        evidence: Option<(Digest, u64)>,
    },
    /// A major corrective action plan is open.
    OpenCap {
        /// The plan's reference.
        reference: String,
        /// The event that opened it.
        event: Digest,
        /// Its position.
        seq: u64,
        /// The auditor that opened it, the only one whose `cap-closed` closes it.
        opened_by: PartyId,
        /// The last auditor other than the opener that attested `cap-closed` for it, which
        /// does not close it.
        closed_by: Option<PartyId>,
    },
}

/// An attestation that counts for nothing, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discounted {
    /// The attestation.
    pub record: AttestationRecord,
    /// Why, in words: `it is by X, the party it is about`, `it is by X, which shares a key
    /// with Y`.
    pub reason: String,
}

/// The due-diligence standing of one party or lot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diligence {
    /// Every gap.
    pub gaps: Vec<DdGap>,
    /// Attestations that count for nothing: made by the subject itself or by a party that
    /// shares a key with it.
    pub discounted: Vec<Discounted>,
}

/// Why `a` is not independent of the parties in `subjects` (a party, or the parties that
/// acted on a lot): its auditor is one of them, or shares a key (any key ever enrolled for
/// both) with one of them.
fn not_independent(
    a: &AttestationRecord,
    subjects: &BTreeSet<PartyId>,
    state: &dyn StateView,
) -> Result<Option<String>, StateError> {
    if subjects.contains(&a.auditor) {
        let why = match &a.attest.subject {
            Subject::Party(_) => "the party it is about",
            Subject::Lot(_) => "a party that acted on the lot",
        };
        return Ok(Some(format!("it is by {}, {why}", a.auditor)));
    }
    let Some(auditor) = state.party(&a.auditor)? else {
        return Ok(None);
    };
    for subject in subjects {
        let Some(record) = state.party(subject)? else {
            continue;
        };
        if auditor
            .keys
            .iter()
            .any(|k| record.key(k.key.as_bytes()).is_some())
        {
            return Ok(Some(format!(
                "it is by {}, which shares a key with {subject}",
                a.auditor
            )));
        }
    }
    Ok(None)
}

/// Splits `held` into the attestations that count and those that count for nothing.
fn independent(
    held: &[AttestationRecord],
    subjects: &BTreeSet<PartyId>,
    state: &dyn StateView,
) -> Result<(Vec<AttestationRecord>, Vec<Discounted>), StateError> {
    let mut counted = Vec::with_capacity(held.len());
    let mut discounted = Vec::new();
    for a in held {
        match not_independent(a, subjects, state)? {
            None => counted.push(a.clone()),
            Some(reason) => discounted.push(Discounted {
                record: a.clone(),
                reason,
            }),
        }
    }
    Ok((counted, discounted))
}

/// The roles the party of `record` had when it acted on the way: every role it held at the
/// log position of one of its events in the trace (so a later amendment of its roles never
/// changes what was required of it).
pub fn chain_roles(t: &Trace, record: &PartyRecord) -> Vec<crate::event::Role> {
    let seqs: Vec<u64> = t
        .events
        .values()
        .filter(|e| e.statement.event.actor == record.id)
        .map(|e| e.seq)
        .collect();
    roles_at(record, &seqs)
}

/// Every role `record` held at one of the positions `seqs`, in order, each once.
fn roles_at(record: &PartyRecord, seqs: &[u64]) -> Vec<crate::event::Role> {
    let roles: BTreeSet<crate::event::Role> = seqs
        .iter()
        .flat_map(|seq| record.roles_at(*seq).iter().copied())
        .collect();
    roles.into_iter().collect()
}

/// The due diligence of the party `record`, with `roles` (see [`chain_roles`]), holding the
/// attestations `held` about it: its own attestations, and those of parties sharing a key
/// with it, are set aside first; the rest go through [`due_diligence`].
pub fn party_diligence(
    record: &PartyRecord,
    roles: &[crate::event::Role],
    held: &[AttestationRecord],
    state: &dyn StateView,
    policy: &Policy,
    as_of: Timestamp,
) -> Result<Diligence, StateError> {
    let (counted, discounted) = independent(held, &BTreeSet::from([record.id.clone()]), state)?;
    let mut gaps = due_diligence(roles, &counted, policy, as_of);
    for gap in &mut gaps {
        if let DdGap::Missing { claim, reason, .. } = gap {
            let ignored = discounted
                .iter()
                .filter(|d| d.record.attest.claim == *claim && d.record.time <= as_of)
                .count();
            if ignored > 0 {
                reason.push_str(&format!(
                    " ({} by the party itself or a party sharing a key with it {} for nothing)",
                    crate::plural::counted(ignored as u64, "attestation", "attestations"),
                    if ignored == 1 { "counts" } else { "count" }
                ));
            }
        }
    }
    Ok(Diligence { gaps, discounted })
}

/// The due diligence of a lot on the way, from the attestations `held` about it: those by
/// a party in `actors` (the parties that acted on it) or sharing a key with one count for
/// nothing; of the rest, the latest attestation of each claim with an outcome must not be
/// a `fail`, and no major corrective action plan may be open.
pub fn lot_diligence(
    actors: &BTreeSet<PartyId>,
    held: &[AttestationRecord],
    state: &dyn StateView,
    as_of: Timestamp,
) -> Result<Diligence, StateError> {
    let (counted, discounted) = independent(held, actors, state)?;
    let mut latest: BTreeMap<Claim, &AttestationRecord> = BTreeMap::new();
    for a in counted
        .iter()
        .filter(|a| a.time <= as_of && a.attest.result.is_some())
    {
        let slot = latest.entry(a.attest.claim).or_insert(a);
        if (a.time, a.seq) > (slot.time, slot.seq) {
            *slot = a;
        }
    }
    let mut gaps: Vec<DdGap> = latest
        .into_iter()
        .filter(|(_, a)| a.attest.result == Some(Outcome::Fail))
        .map(|(claim, a)| DdGap::Missing {
            claim,
            reason: format!("latest result is fail ({}, by {})", a.time, a.auditor),
            evidence: Some((a.event, a.seq)),
        })
        .collect();
    gaps.extend(open_caps(&counted, as_of));
    Ok(Diligence { gaps, discounted })
}

/// The gaps of a party with `roles` holding `held` attestations, under `policy`. Every
/// requirement for one of the roles applies, each on its own (two requirements for the
/// same claim with different `max_age_days`: the stricter one decides). `held` must hold
/// only attestations that count ([`party_diligence`] sets the others aside).
pub fn due_diligence(
    roles: &[crate::event::Role],
    held: &[AttestationRecord],
    policy: &Policy,
    as_of: Timestamp,
) -> Vec<DdGap> {
    let mut gaps = Vec::new();
    let mut said: BTreeSet<(Claim, String)> = BTreeSet::new();
    for req in policy.require.iter().filter(|r| roles.contains(&r.role)) {
        let latest = held
            .iter()
            .filter(|a| a.attest.claim == req.claim && a.time <= as_of)
            .max_by_key(|a| (a.time, a.seq));
        let reason = match latest {
            None => Some("is required but none is on record".to_owned()),
            Some(a) if a.attest.result == Some(Outcome::Fail) => {
                Some(format!("latest result is fail ({})", a.time))
            }
            Some(a) if a.attest.valid_until.is_some_and(|u| u < as_of) => Some(format!(
                "expired on {}",
                a.attest.valid_until.unwrap_or_default()
            )),
            Some(a)
                if req
                    .max_age_days
                    .is_some_and(|d| a.time.plus(i64::from(d) * 86_400) < as_of) =>
            {
                Some(format!(
                    "of {} is older than {} days",
                    a.time,
                    req.max_age_days.unwrap_or_default()
                ))
            }
            Some(_) => None,
        };
        if let Some(reason) = reason
            && said.insert((req.claim, reason.clone()))
        {
            gaps.push(DdGap::Missing {
                claim: req.claim,
                reason,
                evidence: latest.map(|a| (a.event, a.seq)),
            });
        }
    }
    gaps.extend(open_caps(held, as_of));
    gaps
}

/// The major corrective action plans opened and not closed among `held` as of `as_of`. A
/// `cap-closed` closes a plan only when it is by the auditor that opened it: a supplier
/// cannot shop for a friendlier auditor to close what an independent one found (a plan the
/// opener can no longer close stays open; the policy's `open_major_cap` decides what that
/// means).
fn open_caps(held: &[AttestationRecord], as_of: Timestamp) -> Vec<DdGap> {
    struct Open {
        event: Digest,
        seq: u64,
        opened_by: PartyId,
        closed_by: Option<PartyId>,
    }
    let mut open: BTreeMap<String, Open> = BTreeMap::new();
    let mut ordered: Vec<_> = held.iter().filter(|a| a.time <= as_of).collect();
    ordered.sort_by_key(|a| a.seq);
    for a in ordered {
        let Some(reference) = &a.attest.reference else {
            continue;
        };
        match a.attest.claim {
            Claim::CapOpened if a.attest.severity == Some(CapSeverity::Major) => {
                open.insert(
                    reference.clone(),
                    Open {
                        event: a.event,
                        seq: a.seq,
                        opened_by: a.auditor.clone(),
                        closed_by: None,
                    },
                );
            }
            Claim::CapClosed => {
                if let Some(plan) = open.get_mut(reference) {
                    if plan.opened_by == a.auditor {
                        open.remove(reference);
                    } else {
                        plan.closed_by = Some(a.auditor.clone());
                    }
                }
            }
            _ => {}
        }
    }
    open.into_iter()
        .map(|(reference, o)| DdGap::OpenCap {
            reference,
            event: o.event,
            seq: o.seq,
            opened_by: o.opened_by,
            closed_by: o.closed_by,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Attest, Role};
    use crate::keys::KeyBytes;
    use crate::policy::Requirement;
    use crate::state::{Empty, KeyRecord, Overlay, PartyVersion};

    const DAY: i64 = 86_400;

    fn at(days: i64) -> Timestamp {
        Timestamp::from_unix(1_800_000_000 + days * DAY).unwrap()
    }

    fn party(id: &str) -> PartyId {
        PartyId::new(id).unwrap()
    }

    fn record(id: &str, roles: &[Role], keys: &[u8]) -> PartyRecord {
        PartyRecord {
            id: party(id),
            name: id.to_owned(),
            country: Country::parse("CD").unwrap(),
            roles: roles.to_vec(),
            versions: vec![PartyVersion {
                since_seq: 0,
                country: Country::parse("CD").unwrap(),
                roles: roles.to_vec(),
            }],
            requested_keys: Vec::new(),
            keys: keys
                .iter()
                .map(|k| KeyRecord {
                    key: KeyBytes([*k; 32]),
                    enrolled_seq: 1,
                    revoked_seq: None,
                })
                .collect(),
        }
    }

    fn attest(seq: u64, by: &str, about: Subject, claim: Claim, day: i64) -> AttestationRecord {
        AttestationRecord {
            event: Digest([seq as u8; 32]),
            seq,
            auditor: party(by),
            time: at(day),
            attest: Attest {
                subject: about,
                claim,
                result: matches!(claim, Claim::OnsiteAudit | Claim::Certification)
                    .then_some(Outcome::Pass),
                score: None,
                reference: matches!(claim, Claim::CapOpened | Claim::CapClosed)
                    .then(|| "CAP-1".to_owned()),
                severity: (claim == Claim::CapOpened).then_some(CapSeverity::Major),
                valid_until: None,
            },
        }
    }

    fn only(require: Vec<Requirement>) -> Policy {
        Policy {
            require,
            ..Policy::default()
        }
    }

    fn onsite(days: u32) -> Requirement {
        Requirement {
            role: Role::Miner,
            claim: Claim::OnsiteAudit,
            max_age_days: Some(days),
        }
    }

    /// A state holding `parties`.
    fn state(parties: &[PartyRecord]) -> Overlay<'static> {
        let mut o = Overlay::new(&Empty);
        for p in parties {
            o.changes.parties.insert(p.id.clone(), p.clone());
        }
        o
    }

    #[test]
    fn fail_every_requirement_for_a_claim_applies_not_only_the_first() {
        let audit = [attest(
            5,
            "auditor",
            Subject::Party(party("mine")),
            Claim::OnsiteAudit,
            0,
        )];
        for require in [
            vec![onsite(3650), onsite(90)],
            vec![onsite(90), onsite(3650)],
        ] {
            let gaps = due_diligence(&[Role::Miner], &audit, &only(require), at(214));
            assert!(
                matches!(&gaps[..], [DdGap::Missing { reason, .. }] if reason.contains("older than 90 days")),
                "{gaps:?}"
            );
        }
    }

    #[test]
    fn fail_an_attestation_by_its_subject_or_a_party_sharing_its_key_counts_for_nothing() {
        let mine = record("mine", &[Role::Miner, Role::Auditor], &[1]);
        let twin = record("twin", &[Role::Auditor], &[2, 1]);
        let auditor = record("auditor", &[Role::Auditor], &[3]);
        let view = state(&[mine.clone(), twin, auditor]);
        let policy = only(vec![onsite(365)]);
        for by in ["mine", "twin"] {
            let held = [attest(
                5,
                by,
                Subject::Party(party("mine")),
                Claim::OnsiteAudit,
                0,
            )];
            let found = party_diligence(&mine, &mine.roles, &held, &view, &policy, at(10)).unwrap();
            assert_eq!(found.discounted.len(), 1, "{by}");
            assert!(
                matches!(&found.gaps[..], [DdGap::Missing { reason, .. }]
                    if reason.contains("none is on record") && reason.contains("counts for nothing")),
                "{by}: {:?}",
                found.gaps
            );
        }
        let held = [attest(
            5,
            "auditor",
            Subject::Party(party("mine")),
            Claim::OnsiteAudit,
            0,
        )];
        let found = party_diligence(&mine, &mine.roles, &held, &view, &policy, at(10)).unwrap();
        assert!(found.gaps.is_empty() && found.discounted.is_empty());
    }

    #[test]
    fn fail_a_major_cap_is_closed_only_by_the_auditor_that_opened_it() {
        let mine = record("mine", &[Role::Miner, Role::Auditor], &[1]);
        let view = state(&[
            mine.clone(),
            record("auditor", &[Role::Auditor], &[3]),
            record("friendly", &[Role::Auditor], &[4]),
        ]);
        let policy = only(Vec::new());
        let about = || Subject::Party(party("mine"));
        let opened = attest(5, "auditor", about(), Claim::CapOpened, 0);
        for closer in ["mine", "friendly"] {
            let held = [
                opened.clone(),
                attest(6, closer, about(), Claim::CapClosed, 1),
            ];
            let found = party_diligence(&mine, &mine.roles, &held, &view, &policy, at(10)).unwrap();
            assert!(
                matches!(&found.gaps[..], [DdGap::OpenCap { opened_by, .. }] if opened_by.as_str() == "auditor"),
                "closed by {closer}: {:?}",
                found.gaps
            );
        }
        let held = [opened, attest(6, "auditor", about(), Claim::CapClosed, 1)];
        let found = party_diligence(&mine, &mine.roles, &held, &view, &policy, at(10)).unwrap();
        assert!(found.gaps.is_empty(), "{:?}", found.gaps);
    }

    #[test]
    fn fail_a_failed_lot_certification_is_a_gap_a_holder_cannot_paper_over() {
        let lot = LotId::new("ORE-1").unwrap();
        let view = state(&[
            record("mine", &[Role::Miner, Role::Auditor], &[1]),
            record("auditor", &[Role::Auditor], &[3]),
        ]);
        let mut failed = attest(
            5,
            "auditor",
            Subject::Lot(lot.clone()),
            Claim::Certification,
            0,
        );
        failed.attest.result = Some(Outcome::Fail);
        let pass_by_mine = attest(
            6,
            "mine",
            Subject::Lot(lot.clone()),
            Claim::Certification,
            1,
        );
        let actors = BTreeSet::from([party("mine")]);
        let found = lot_diligence(&actors, &[failed.clone(), pass_by_mine], &view, at(10)).unwrap();
        assert_eq!(found.discounted.len(), 1);
        assert!(
            matches!(
                &found.gaps[..],
                [DdGap::Missing {
                    claim: Claim::Certification,
                    evidence: Some((_, 5)),
                    ..
                }]
            ),
            "{:?}",
            found.gaps
        );
        let pass = attest(7, "auditor", Subject::Lot(lot), Claim::Certification, 2);
        let found = lot_diligence(&actors, &[failed, pass], &view, at(10)).unwrap();
        assert!(found.gaps.is_empty(), "{:?}", found.gaps);
    }
}
