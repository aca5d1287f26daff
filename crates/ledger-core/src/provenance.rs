//! A product's provenance: the hash-linked DAG of events from a lot back to every mine and
//! recycler, the origin mix of each tracked component (mass-proportional through every
//! blend), and the provenance rules (origins, high-risk and artisanal sites, due diligence).
//!
//! The walk follows only signed hash links (`from`, `shipment`) and the lot's creation, and
//! re-reads every event through an [`EventSource`] that must re-verify what it returns.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use serde::Serialize;

use crate::event::{Body, CapSeverity, Claim, Feedstock, Method, Outcome};
use crate::finding::{Finding, Rule};
use crate::hash::Digest;
use crate::id::{Component, Country, LotId, PartyId, SiteId};
use crate::policy::Policy;
use crate::quantity::{Quantity, component_micrograms};
use crate::state::{AttestationRecord, StateError, StateView};
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
    let record = state
        .lot(lot)?
        .ok_or_else(|| TraceError::UnknownLot(lot.clone()))?;
    let mut t = Trace {
        lot: lot.clone(),
        events: BTreeMap::new(),
        edges: BTreeSet::new(),
        origins: Vec::new(),
        mix: BTreeMap::new(),
        findings: Vec::new(),
    };
    // Work items: an event reached while following `lot` from event `via`.
    let mut queue = VecDeque::from([(record.created_by, lot.clone(), None::<Digest>)]);
    let mut seen = BTreeSet::new();
    while let Some((id, lot, via)) = queue.pop_front() {
        if !seen.insert((id, lot.clone())) {
            continue;
        }
        if t.events.len() >= MAX_TRACE_EVENTS {
            return Err(TraceError::TooLarge(t.lot.clone()));
        }
        let Some((seq, statement)) = source.statement(&id)? else {
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
        t.events
            .entry(id)
            .or_insert(TraceEvent { id, seq, statement });
    }
    compute_mix(&mut t, lot, state)?;
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
                let country = state.party(&event.actor)?.map(|p| p.country);
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

/// Runs the provenance rules on a trace: origin flags and due diligence of every party in
/// the chain, as of `as_of`.
pub fn provenance_findings(
    t: &Trace,
    state: &dyn StateView,
    attestations: &dyn Fn(&PartyId) -> Result<Vec<AttestationRecord>, StateError>,
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
    for party in t.parties() {
        let Some(record) = state.party(&party)? else {
            continue;
        };
        let held = attestations(&party)?;
        for status in due_diligence(&record.roles, &held, policy, as_of) {
            match status {
                DdGap::Missing { claim, reason } => {
                    if let Some(sev) = policy.missing_attestation.severity() {
                        out.push(
                            Finding::new(
                                Rule::MissingAttestation,
                                format!("{party}: {} {reason}", claim.name()),
                            )
                            .party(&party)
                            .severity(sev),
                        );
                    }
                }
                DdGap::OpenCap {
                    reference,
                    event,
                    seq,
                } => {
                    if let Some(sev) = policy.open_major_cap.severity() {
                        out.push(
                            Finding::new(
                                Rule::OpenCorrectiveAction,
                                format!(
                                    "{party} has an open major corrective action plan {reference}"
                                ),
                            )
                            .at(event, seq)
                            .party(&party)
                            .severity(sev),
                        );
                    }
                }
            }
        }
    }
    Ok(out)
}

/// A due-diligence gap of one party.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DdGap {
    /// A required attestation is missing, failed or expired.
    Missing {
        /// The claim required.
        claim: Claim,
        /// Why it does not count, in words.
        reason: String,
    },
    /// A major corrective action plan is open.
    OpenCap {
        /// The plan's reference.
        reference: String,
        /// The event that opened it.
        event: Digest,
        /// Its position.
        seq: u64,
    },
}

/// The gaps of a party with `roles` holding `held` attestations, under `policy`.
pub fn due_diligence(
    roles: &[crate::event::Role],
    held: &[AttestationRecord],
    policy: &Policy,
    as_of: Timestamp,
) -> Vec<DdGap> {
    let mut gaps = Vec::new();
    let mut done = BTreeSet::new();
    for req in policy.require.iter().filter(|r| roles.contains(&r.role)) {
        if !done.insert(req.claim) {
            continue;
        }
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
        if let Some(reason) = reason {
            gaps.push(DdGap::Missing {
                claim: req.claim,
                reason,
            });
        }
    }
    let mut open: BTreeMap<String, (Digest, u64)> = BTreeMap::new();
    let mut ordered: Vec<_> = held.iter().filter(|a| a.time <= as_of).collect();
    ordered.sort_by_key(|a| a.seq);
    for a in ordered {
        let Some(reference) = &a.attest.reference else {
            continue;
        };
        match a.attest.claim {
            Claim::CapOpened if a.attest.severity == Some(CapSeverity::Major) => {
                open.insert(reference.clone(), (a.event, a.seq));
            }
            Claim::CapClosed => {
                open.remove(reference);
            }
            _ => {}
        }
    }
    for (reference, (event, seq)) in open {
        gaps.push(DdGap::OpenCap {
            reference,
            event,
            seq,
        });
    }
    gaps
}
