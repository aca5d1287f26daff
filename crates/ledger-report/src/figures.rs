//! The report's figures, computed once from a verified trace and shared by every renderer,
//! so that JSON, CSV, HTML, DOT, EPCIS and the battery passport cannot disagree.
//!
//! Everything here is exact integer arithmetic: shares are fractions of [`SHARE_ONE`],
//! masses and emissions are micrograms in `u128`. `docs/reports.md` states the method of
//! every figure; [`crate::num`] is where they become decimals.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use ledger_core::event::{
    Attest, Body, Claim, Event, Feedstock, Kind, LotOutput, Method, Outcome, Role,
};
use ledger_core::finding::{Finding, Verdict};
use ledger_core::hash::Digest;
use ledger_core::id::{Component, Country, LotId, PartyId, SiteId};
use ledger_core::policy::Policy;
use ledger_core::provenance::{
    AttestationSet, DdGap, Diligence, SHARE_ONE, Trace, chain_roles, lot_actors, lot_diligence,
    lots_on_the_way, party_diligence,
};
use ledger_core::quantity::{Content, Quantity, Unit, component_micrograms, mass_micrograms};
use ledger_core::state::{AttestationRecord, LotRecord, StateView};
use ledger_core::timestamp::Timestamp;

use crate::ReportError;
use crate::num::div_round;

/// Micrograms of CO2e in a gram.
const UG_PER_G: u128 = 1_000_000;

/// EU Battery Regulation (EU) 2023/1542, Article 8(2) and 8(3): minimum recycled content
/// shares of active materials, in percent, from 18 August 2031 and from 18 August 2036.
pub const EU_RECYCLED_MINIMUMS: &[(&str, u32, u32)] =
    &[("Co", 16, 26), ("Li", 6, 12), ("Ni", 6, 15), ("Pb", 85, 85)];

/// The outcome of verification, as the report shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// Pass or fail.
    pub verdict: Verdict,
    /// Every finding, errors and warnings.
    pub findings: Vec<Finding>,
}

impl Verification {
    /// The number of error findings.
    pub fn errors(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == ledger_core::finding::Severity::Error)
            .count()
    }

    /// The number of warning findings.
    pub fn warnings(&self) -> usize {
        self.findings.len() - self.errors()
    }
}

/// What the figures are computed from.
pub struct Inputs<'a> {
    /// The verified trace of the product lot.
    pub trace: &'a Trace,
    /// The ledger state the trace was verified against.
    pub state: &'a dyn StateView,
    /// The verified attestations about the parties and lots on the way (those the
    /// verdict read: [`ledger_core::bundle::Evidence::attestations`]).
    pub attestations: &'a AttestationSet,
    /// The due-diligence policy.
    pub policy: &'a Policy,
    /// The instant validity is judged at.
    pub as_of: Timestamp,
    /// The verification outcome.
    pub verification: Verification,
}

/// Everything a report shows.
#[derive(Debug, Clone)]
pub struct ReportData {
    /// The product lot.
    pub lot: LotId,
    /// The product lot as created.
    pub product: LotRecord,
    /// When validity was judged.
    pub as_of: Timestamp,
    /// Verdict and findings of verification.
    pub verification: Verification,
    /// Every origin reached, in the trace's order (the [`ComponentFigures::shares`] index).
    pub origins: Vec<OriginRow>,
    /// Per component of the product.
    pub components: Vec<ComponentFigures>,
    /// The carbon footprint roll-up.
    pub footprint: Footprint,
    /// Due-diligence status of every party in the chain.
    pub parties: Vec<PartyStatus>,
    /// Attestations about the lots on the way (the product and every lot its material came
    /// through), for each lot that has any.
    pub lot_statuses: Vec<LotStatus>,
    /// Smelters, refiners and recyclers in the chain, with the origins feeding them.
    pub smelters: Vec<SmelterRow>,
    /// Every event on the way, in log order.
    pub events: Vec<ChainEvent>,
    /// Every hash link followed.
    pub edges: Vec<ledger_core::provenance::TraceEdge>,
    /// Every lot on the way (created or moved).
    pub lots: BTreeMap<LotId, LotRecord>,
    /// Position in `events` by event id.
    event_index: HashMap<Digest, usize>,
}

/// One origin: a mine site or a recycler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginRow {
    /// The `extract` or `recycle` event.
    pub event: Digest,
    /// Its log position.
    pub seq: u64,
    /// When.
    pub time: Timestamp,
    /// The miner or recycler.
    pub party: PartyId,
    /// The miner's or recycler's name.
    pub party_name: String,
    /// The mine site, for extraction.
    pub site: Option<SiteId>,
    /// Latitude and longitude in millionths of a degree, for extraction.
    pub location: Option<(i32, i32)>,
    /// The site's (or recycler's) country.
    pub country: Country,
    /// Industrial or artisanal, for extraction.
    pub method: Option<Method>,
    /// Pre- or post-consumer, for recycling.
    pub feedstock: Option<Feedstock>,
    /// The site is in a country on the policy's high-risk list.
    pub high_risk: bool,
}

impl OriginRow {
    /// Whether the origin is recycled material.
    pub fn recycled(&self) -> bool {
        self.feedstock.is_some()
    }

    /// Whether the site is artisanal and small-scale.
    pub fn artisanal(&self) -> bool {
        self.method == Some(Method::Artisanal)
    }

    /// The site id, or `recycled:<party>` for recycled material.
    pub fn label(&self) -> String {
        match &self.site {
            Some(site) => site.to_string(),
            None => format!("recycled:{}", self.party),
        }
    }
}

/// Recycled content of a component, as fractions of [`SHARE_ONE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Recycled {
    /// From pre-consumer (manufacturing) scrap.
    pub pre_consumer: u128,
    /// From post-consumer (end-of-life) material.
    pub post_consumer: u128,
}

impl Recycled {
    /// Both together.
    pub fn total(&self) -> u128 {
        self.pre_consumer + self.post_consumer
    }
}

/// A component's EU minimum recycled content, and whether the product meets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EuMinimum {
    /// Minimum share from 2031, in percent.
    pub from_2031: u32,
    /// Minimum share from 2036, in percent.
    pub from_2036: u32,
    /// Whether the recycled share meets the 2031 minimum.
    pub meets_2031: bool,
    /// Whether the recycled share meets the 2036 minimum.
    pub meets_2036: bool,
}

/// The figures of one component (element or mineral) of the product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentFigures {
    /// The component (`Co`, `mica`).
    pub component: Component,
    /// Content per unit of the product: ppm for `kg` lots, mg per piece for `pcs` lots.
    pub content: u64,
    /// Mass of the component in the whole product lot, in micrograms.
    pub lot_mass_ug: u128,
    /// Origin shares, by index into [`ReportData::origins`], largest first.
    pub shares: Vec<(usize, u128)>,
    /// Shares by country, largest first.
    pub by_country: Vec<(Country, u128)>,
    /// Recycled content.
    pub recycled: Recycled,
    /// The EU minimum, for regulated components.
    pub eu_minimum: Option<EuMinimum>,
}

/// Life-cycle stages of the carbon footprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stages {
    /// Raw material extraction (`extract` events).
    pub extraction: u128,
    /// Main production (`transform` events).
    pub production: u128,
    /// Distribution (`ship` and `receive` events).
    pub distribution: u128,
    /// Recycling (`recycle` events).
    pub recycling: u128,
}

impl Stages {
    /// All stages together.
    pub fn total(&self) -> u128 {
        self.extraction + self.production + self.distribution + self.recycling
    }

    /// The stages with their Battery Pass names, in life-cycle order.
    pub fn named(&self) -> [(&'static str, u128); 4] {
        [
            ("RawMaterialExtraction", self.extraction),
            ("MainProduction", self.production),
            ("Distribution", self.distribution),
            ("Recycling", self.recycling),
        ]
    }

    fn add(&mut self, other: &Stages) {
        self.extraction += other.extraction;
        self.production += other.production;
        self.distribution += other.distribution;
        self.recycling += other.recycling;
    }

    /// Each stage times `num / den`, rounded half up.
    fn scale(&self, num: u128, den: u128) -> Stages {
        let f = |v: u128| div_round(v.saturating_mul(num), den);
        Stages {
            extraction: f(self.extraction),
            production: f(self.production),
            distribution: f(self.distribution),
            recycling: f(self.recycling),
        }
    }

    fn map(&self, f: impl Fn(u128) -> u128) -> Stages {
        Stages {
            extraction: f(self.extraction),
            production: f(self.production),
            distribution: f(self.distribution),
            recycling: f(self.recycling),
        }
    }
}

/// The carbon footprint roll-up, in micrograms CO2e.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footprint {
    /// Whole product lot.
    pub lot: Stages,
    /// Per product unit: per piece for `pcs` lots, per kilogram for `kg` lots.
    pub per_unit: Stages,
    /// Per kWh of declared capacity, when the product declares `capacity_wh`.
    pub per_kwh: Option<Stages>,
    /// Whole-lot total (the stages summed before any division).
    pub lot_total: u128,
    /// Per-unit total, divided once (so it may differ from the summed stages by rounding).
    pub per_unit_total: u128,
    /// Per-kWh total, divided once.
    pub per_kwh_total: Option<u128>,
    /// False when some upstream quantity could not be followed (a broken trace): the
    /// figures then leave that part out.
    pub complete: bool,
}

/// How an attestation stands at the report's date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Made and not expired (for outcomes: pass or conditional).
    Valid,
    /// Its `valid_until` has passed.
    Expired,
    /// Its outcome is fail.
    Failed,
    /// Made after the report's date.
    Future,
    /// By its own subject, or by a party sharing a key with it: counts for nothing.
    NotIndependent,
}

impl Standing {
    /// Lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Standing::Valid => "valid",
            Standing::Expired => "expired",
            Standing::Failed => "failed",
            Standing::Future => "future",
            Standing::NotIndependent => "not-independent",
        }
    }
}

/// An attestation about a party, with its standing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestationRow {
    /// The record.
    pub record: AttestationRecord,
    /// Its standing at the report's date.
    pub standing: Standing,
}

/// A party's due-diligence verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DdVerdict {
    /// No gap.
    Meets,
    /// Gaps the policy treats as warnings (or allows).
    Gaps,
    /// Gaps the policy treats as errors.
    Fails,
}

impl DdVerdict {
    /// Lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            DdVerdict::Meets => "meets",
            DdVerdict::Gaps => "gaps",
            DdVerdict::Fails => "fails",
        }
    }
}

/// One party in the chain and its due-diligence status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartyStatus {
    /// The party.
    pub party: PartyId,
    /// Its enrolled name (empty when not enrolled).
    pub name: String,
    /// Its country, when enrolled.
    pub country: Option<Country>,
    /// Its enrolled roles.
    pub roles: Vec<Role>,
    /// What it did on the way.
    pub activities: Vec<Kind>,
    /// Attestations about it, oldest first.
    pub attestations: Vec<AttestationRow>,
    /// Open major corrective action plans, by reference.
    pub open_caps: Vec<String>,
    /// Each gap, in words.
    pub gaps: Vec<String>,
    /// The policy verdict.
    pub verdict: DdVerdict,
}

/// A lot on the way with attestations about it, and what they mean for the verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LotStatus {
    /// The lot.
    pub lot: LotId,
    /// Attestations about it, oldest first.
    pub attestations: Vec<AttestationRow>,
    /// Open major corrective action plans, by reference.
    pub open_caps: Vec<String>,
    /// Each gap, in words (a latest result of `fail`, an open major plan).
    pub gaps: Vec<String>,
    /// The policy verdict.
    pub verdict: DdVerdict,
}

/// A smelter, refiner or recycler in the chain (the RMI EMRT smelter list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmelterRow {
    /// The party.
    pub party: PartyId,
    /// Its name.
    pub name: String,
    /// Its country.
    pub country: Option<Country>,
    /// `refiner` or `recycler`.
    pub role: Role,
    /// Components in what it processed or recovered.
    pub components: Vec<Component>,
    /// Origins upstream of it, by index into [`ReportData::origins`].
    pub origins: Vec<usize>,
}

/// One event of the chain of custody.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainEvent {
    /// Its id.
    pub id: Digest,
    /// Its log position.
    pub seq: u64,
    /// The event.
    pub event: Event,
}

/// Builds the figures.
pub fn build(inputs: Inputs<'_>) -> Result<ReportData, ReportError> {
    let Inputs {
        trace,
        state,
        attestations,
        policy,
        as_of,
        verification,
    } = inputs;
    let product = state
        .lot(&trace.lot)?
        .ok_or_else(|| ReportError::UnknownLot(trace.lot.clone()))?;

    let mut events: Vec<ChainEvent> = trace
        .events
        .values()
        .map(|e| ChainEvent {
            id: e.id,
            seq: e.seq,
            event: e.statement.event.clone(),
        })
        .collect();
    events.sort_by_key(|e| e.seq);

    let mut lots = BTreeMap::new();
    for e in &events {
        let body = &e.event.body;
        let named = body
            .outputs()
            .iter()
            .map(|o| o.lot.clone())
            .chain(body.consumed().iter().map(|m| m.lot.clone()))
            .chain(match body {
                Body::Receive(r) => r.lots.iter().map(|i| i.lot.clone()).collect(),
                _ => Vec::new(),
            });
        for lot in named {
            if let std::collections::btree_map::Entry::Vacant(slot) = lots.entry(lot)
                && let Some(record) = state.lot(slot.key())?
            {
                slot.insert(record);
            }
        }
    }
    lots.insert(trace.lot.clone(), product.clone());

    let origins = origin_rows(trace, state, policy)?;
    let components = component_figures(trace, &product, &origins);
    let footprint = footprint(trace, &events, &product);
    let parties = party_statuses(trace, &events, state, attestations, policy, as_of)?;
    let lot_statuses = lot_statuses(trace, state, attestations, policy, as_of)?;
    let smelters = smelter_rows(trace, &events, &parties, &lots);
    Ok(ReportData {
        lot: trace.lot.clone(),
        product,
        as_of,
        verification,
        origins,
        components,
        footprint,
        parties,
        lot_statuses,
        smelters,
        edges: trace.edges.iter().cloned().collect(),
        lots,
        event_index: events.iter().enumerate().map(|(i, e)| (e.id, i)).collect(),
        events,
    })
}

fn origin_rows(
    trace: &Trace,
    state: &dyn StateView,
    policy: &Policy,
) -> Result<Vec<OriginRow>, ReportError> {
    let mut rows = Vec::with_capacity(trace.origins.len());
    for o in &trace.origins {
        let te = trace.events.get(&o.event);
        let location = te.and_then(|e| match &e.statement.event.body {
            Body::Extract(x) => Some((x.site.lat_micro, x.site.lon_micro)),
            _ => None,
        });
        rows.push(OriginRow {
            event: o.event,
            seq: te.map(|e| e.seq).unwrap_or_default(),
            time: te.map(|e| e.statement.event.time).unwrap_or_default(),
            party: o.party.clone(),
            party_name: state.party(&o.party)?.map(|p| p.name).unwrap_or_default(),
            site: o.site.clone(),
            location,
            country: o.country.clone(),
            method: o.method,
            feedstock: o.feedstock,
            high_risk: o.site.is_some() && policy.is_high_risk(&o.country),
        });
    }
    Ok(rows)
}

fn component_figures(
    trace: &Trace,
    product: &LotRecord,
    origins: &[OriginRow],
) -> Vec<ComponentFigures> {
    let mut out = Vec::new();
    let components: BTreeSet<&Component> = trace.mix.keys().chain(product.content.keys()).collect();
    for component in components {
        let mix = trace.mix.get(component);
        let mut shares: Vec<(usize, u128)> = mix
            .map(|m| m.iter().map(|(i, s)| (*i, *s)).collect())
            .unwrap_or_default();
        shares.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut countries: BTreeMap<Country, u128> = BTreeMap::new();
        let mut recycled = Recycled::default();
        for (i, share) in &shares {
            let Some(o) = origins.get(*i) else { continue };
            *countries.entry(o.country.clone()).or_default() += share;
            match o.feedstock {
                Some(Feedstock::PreConsumer) => recycled.pre_consumer += share,
                Some(Feedstock::PostConsumer) => recycled.post_consumer += share,
                None => {}
            }
        }
        let mut by_country: Vec<(Country, u128)> = countries.into_iter().collect();
        by_country.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let eu_minimum = EU_RECYCLED_MINIMUMS
            .iter()
            .find(|(c, _, _)| *c == component.as_str())
            .map(|(_, a, b)| {
                let meets = |pct: u32| recycled.total() * 100 >= u128::from(pct) * SHARE_ONE;
                EuMinimum {
                    from_2031: *a,
                    from_2036: *b,
                    meets_2031: meets(*a),
                    meets_2036: meets(*b),
                }
            });
        out.push(ComponentFigures {
            component: component.clone(),
            content: product.content.get(component).copied().unwrap_or(0),
            lot_mass_ug: component_micrograms(product.created, &product.content, component),
            shares,
            by_country,
            recycled,
            eu_minimum,
        });
    }
    out
}

/// Splits `total` over `keys` in proportion, exactly (largest remainder), or equally when
/// every key is zero.
fn allocate(total: &Stages, keys: &[u128]) -> Vec<Stages> {
    let sum: u128 = keys.iter().sum();
    let (keys, sum): (Vec<u128>, u128) = if sum == 0 {
        (vec![1; keys.len()], keys.len() as u128)
    } else {
        (keys.to_vec(), sum)
    };
    let split = |value: u128| -> Vec<u128> {
        if sum == 0 {
            return vec![0; keys.len()];
        }
        let mut parts: Vec<u128> = keys
            .iter()
            .map(|k| value.saturating_mul(*k) / sum)
            .collect();
        let mut rest = value - parts.iter().sum::<u128>().min(value);
        let mut order: Vec<usize> = (0..keys.len()).collect();
        order.sort_by_key(|i| std::cmp::Reverse(value.saturating_mul(keys[*i]) % sum));
        for i in order {
            if rest == 0 {
                break;
            }
            parts[i] += 1;
            rest -= 1;
        }
        parts
    };
    let (x, p, d, r) = (
        split(total.extraction),
        split(total.production),
        split(total.distribution),
        split(total.recycling),
    );
    (0..keys.len())
        .map(|i| Stages {
            extraction: x[i],
            production: p[i],
            distribution: d[i],
            recycling: r[i],
        })
        .collect()
}

/// Allocation keys of outputs: their mass (a piece weighs its declared unit mass), so
/// an output's share of the emissions is its share of the mass.
fn output_keys(outputs: &[LotOutput]) -> Vec<u128> {
    outputs
        .iter()
        .map(|o| mass_micrograms(o.quantity, o.unit_mass_mg))
        .collect()
}

/// Adds `amount` of a lot carrying `stages` to the parcel at `key`: an event that draws
/// one lot from several receipts makes one parcel of them.
fn add_parcel(
    parcels: &mut HashMap<(Digest, LotId), (u128, Stages)>,
    key: (Digest, LotId),
    amount: u128,
    stages: Stages,
) {
    let parcel = parcels.entry(key).or_insert((0, Stages::default()));
    parcel.0 += amount;
    parcel.1.add(&stages);
}

/// The footprint of each parcel (the quantity of a lot an event gave custody of, or put in
/// transit), following every event in log order.
fn footprint(trace: &Trace, events: &[ChainEvent], product: &LotRecord) -> Footprint {
    // (event, lot) -> (amount, embodied emissions of that whole amount).
    let mut parcels: HashMap<(Digest, LotId), (u128, Stages)> = HashMap::new();
    let mut complete = true;
    // (downstream event, lot) of every link the trace followed.
    let followed: std::collections::HashSet<(Digest, &LotId)> =
        trace.edges.iter().map(|l| (l.to, &l.lot)).collect();
    // Unit masses of the lots created so far, for allocating transport by mass.
    let mut unit_mass: HashMap<LotId, Option<u64>> = HashMap::new();
    let own = |e: &Event, stage: fn(&mut Stages) -> &mut u128| {
        let mut s = Stages::default();
        *stage(&mut s) = u128::from(e.emissions_g_co2e.unwrap_or(0)) * UG_PER_G;
        s
    };
    for ce in events {
        let e = &ce.event;
        // Takes `quantity` out of the parcel `from` gave of `lot`.
        let take = |from: Digest,
                    lot: &LotId,
                    quantity: Quantity,
                    parcels: &HashMap<(Digest, LotId), (u128, Stages)>| {
            parcels
                .get(&(from, lot.clone()))
                .map(|(amount, stages)| stages.scale(u128::from(quantity.amount()), *amount))
        };
        for o in e.body.outputs() {
            unit_mass.insert(o.lot.clone(), o.unit_mass_mg);
        }
        // Mass keys of quantities of existing lots (a lot off the trace weighs nothing).
        let mass_keys = |lots: &mut dyn Iterator<Item = (&LotId, Quantity)>| -> Vec<u128> {
            lots.map(|(lot, q)| mass_micrograms(q, unit_mass.get(lot).copied().flatten()))
                .collect()
        };
        match &e.body {
            Body::Extract(x) => {
                let total = own(e, |s| &mut s.extraction);
                let keys = output_keys(&x.outputs);
                for (o, share) in x.outputs.iter().zip(allocate(&total, &keys)) {
                    parcels.insert(
                        (ce.id, o.lot.clone()),
                        (u128::from(o.quantity.amount()), share),
                    );
                }
            }
            Body::Recycle(r) => {
                let total = own(e, |s| &mut s.recycling);
                let keys = output_keys(&r.outputs);
                for (o, share) in r.outputs.iter().zip(allocate(&total, &keys)) {
                    parcels.insert(
                        (ce.id, o.lot.clone()),
                        (u128::from(o.quantity.amount()), share),
                    );
                }
            }
            Body::Transform(t) => {
                let mut total = own(e, |s| &mut s.production);
                for m in &t.inputs {
                    match take(m.from, &m.lot, m.quantity, &parcels) {
                        Some(part) => total.add(&part),
                        None => complete = false,
                    }
                }
                let keys = output_keys(&t.outputs);
                for (o, share) in t.outputs.iter().zip(allocate(&total, &keys)) {
                    parcels.insert(
                        (ce.id, o.lot.clone()),
                        (u128::from(o.quantity.amount()), share),
                    );
                }
            }
            Body::Ship(s) => {
                let keys = mass_keys(&mut s.lots.iter().map(|m| (&m.lot, m.quantity)));
                let transport = allocate(&own(e, |s| &mut s.distribution), &keys);
                for (m, extra) in s.lots.iter().zip(transport) {
                    // A ship of a lot off the path is not in the trace's links; only lots
                    // whose parcel is known are carried.
                    let Some(mut moved) = take(m.from, &m.lot, m.quantity, &parcels) else {
                        continue;
                    };
                    moved.add(&extra);
                    add_parcel(
                        &mut parcels,
                        (ce.id, m.lot.clone()),
                        u128::from(m.quantity.amount()),
                        moved,
                    );
                }
            }
            Body::Receive(r) => {
                let keys = mass_keys(&mut r.lots.iter().map(|i| (&i.lot, i.quantity)));
                let handling = allocate(&own(e, |s| &mut s.distribution), &keys);
                for (item, extra) in r.lots.iter().zip(handling) {
                    // What was lost in transit still carries its emissions: the whole
                    // shipped parcel goes to what arrived.
                    let Some((_, stages)) = parcels.get(&(r.shipment, item.lot.clone())) else {
                        if followed.contains(&(ce.id, &item.lot)) {
                            complete = false;
                        }
                        continue;
                    };
                    let mut arrived = *stages;
                    arrived.add(&extra);
                    parcels.insert(
                        (ce.id, item.lot.clone()),
                        (u128::from(item.quantity.amount()), arrived),
                    );
                }
            }
            Body::Enroll(_)
            | Body::Revoke(_)
            | Body::Amend(_)
            | Body::RequestKey(_)
            | Body::AddKey(_)
            | Body::Attest(_) => {}
        }
    }
    let (amount, lot) = match parcels.get(&(product.created_by, trace.lot.clone())) {
        Some((amount, stages)) => (*amount, *stages),
        None => (u128::from(product.created.amount()), Stages::default()),
    };
    // Per piece for piece lots; per kilogram (1000 g) for mass lots.
    let (num, den) = match product.unit {
        Unit::Pcs => (1, amount),
        Unit::Kg => (1000, amount),
    };
    let per_unit = lot.map(|v| div_round(v.saturating_mul(num), den));
    let per_unit_total = div_round(lot.total().saturating_mul(num), den);
    let kwh = match (product.unit, product.capacity_wh) {
        // kWh of the lot = pieces * Wh / 1000.
        (Unit::Pcs, Some(wh)) if wh > 0 => Some(amount.saturating_mul(u128::from(wh))),
        _ => None,
    };
    let per_kwh = kwh.map(|wh| lot.map(|v| div_round(v.saturating_mul(1000), wh)));
    let per_kwh_total = kwh.map(|wh| div_round(lot.total().saturating_mul(1000), wh));
    Footprint {
        lot,
        per_unit,
        per_kwh,
        lot_total: lot.total(),
        per_unit_total,
        per_kwh_total,
        complete,
    }
}

fn standing(a: &AttestationRecord, as_of: Timestamp) -> Standing {
    if a.time > as_of {
        Standing::Future
    } else if a.attest.result == Some(Outcome::Fail) {
        Standing::Failed
    } else if a.attest.valid_until.is_some_and(|u| u < as_of) {
        Standing::Expired
    } else {
        Standing::Valid
    }
}

/// The gaps of `found` in words, the open plans and the verdict they give under `policy`.
fn judge(found: &Diligence, policy: &Policy) -> (Vec<String>, Vec<String>, DdVerdict) {
    let mut verdict = DdVerdict::Meets;
    let mut words = Vec::new();
    let mut open_caps = Vec::new();
    for gap in &found.gaps {
        let treatment = match gap {
            DdGap::Missing { claim, reason, .. } => {
                words.push(format!("{} {reason}", claim.name()));
                policy.missing_attestation
            }
            DdGap::OpenCap {
                reference,
                opened_by,
                ..
            } => {
                words.push(format!(
                    "open major corrective action plan {reference} (opened by {opened_by})"
                ));
                open_caps.push(reference.clone());
                policy.open_major_cap
            }
        };
        verdict = match (verdict, treatment.severity()) {
            (_, Some(ledger_core::finding::Severity::Error)) | (DdVerdict::Fails, _) => {
                DdVerdict::Fails
            }
            _ => DdVerdict::Gaps,
        };
    }
    (words, open_caps, verdict)
}

/// The rows of `held`, oldest first, each with its standing; those `found` set aside are
/// not independent.
fn rows(held: &[AttestationRecord], found: &Diligence, as_of: Timestamp) -> Vec<AttestationRow> {
    let mut held = held.to_vec();
    held.sort_by_key(|a| (a.time, a.seq));
    held.into_iter()
        .map(|record| AttestationRow {
            standing: if found
                .discounted
                .iter()
                .any(|d| d.record.event == record.event)
            {
                Standing::NotIndependent
            } else {
                standing(&record, as_of)
            },
            record,
        })
        .collect()
}

fn party_statuses(
    trace: &Trace,
    events: &[ChainEvent],
    state: &dyn StateView,
    attestations: &AttestationSet,
    policy: &Policy,
    as_of: Timestamp,
) -> Result<Vec<PartyStatus>, ReportError> {
    let mut out = Vec::new();
    for party in trace.parties() {
        let record = state.party(&party)?;
        let held = attestations.about_party(&party);
        let roles = record
            .as_ref()
            .map(|r| chain_roles(trace, r))
            .unwrap_or_default();
        let found = match &record {
            Some(r) => party_diligence(r, &roles, held, state, policy, as_of)?,
            None => Diligence::default(),
        };
        let (words, open_caps, verdict) = judge(&found, policy);
        let activities: BTreeSet<Kind> = events
            .iter()
            .filter(|e| e.event.actor == party)
            .map(|e| e.event.body.kind())
            .collect();
        out.push(PartyStatus {
            name: record.as_ref().map(|r| r.name.clone()).unwrap_or_default(),
            country: record.as_ref().map(|r| r.country.clone()),
            roles,
            activities: activities.into_iter().collect(),
            attestations: rows(held, &found, as_of),
            open_caps,
            gaps: words,
            verdict,
            party,
        });
    }
    Ok(out)
}

fn lot_statuses(
    trace: &Trace,
    state: &dyn StateView,
    attestations: &AttestationSet,
    policy: &Policy,
    as_of: Timestamp,
) -> Result<Vec<LotStatus>, ReportError> {
    let mut out = Vec::new();
    for lot in lots_on_the_way(trace) {
        let held = attestations.about_lot(&lot);
        if held.is_empty() {
            continue;
        }
        let found = lot_diligence(&lot_actors(trace, &lot), held, state, as_of)?;
        let (gaps, open_caps, verdict) = judge(&found, policy);
        out.push(LotStatus {
            attestations: rows(held, &found, as_of),
            open_caps,
            gaps,
            verdict,
            lot,
        });
    }
    Ok(out)
}

fn smelter_rows(
    trace: &Trace,
    events: &[ChainEvent],
    parties: &[PartyStatus],
    lots: &BTreeMap<LotId, LotRecord>,
) -> Vec<SmelterRow> {
    let mut upstream: HashMap<Digest, Vec<Digest>> = HashMap::new();
    for edge in &trace.edges {
        upstream.entry(edge.to).or_default().push(edge.from);
    }
    let origin_of: HashMap<Digest, usize> = trace
        .origins
        .iter()
        .enumerate()
        .map(|(i, o)| (o.event, i))
        .collect();
    let origins_above = |start: Digest| -> Vec<usize> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![start];
        let mut found = BTreeSet::new();
        while let Some(id) = stack.pop() {
            if !seen.insert(id) {
                continue;
            }
            if let Some(i) = origin_of.get(&id) {
                found.insert(*i);
            }
            stack.extend(upstream.get(&id).into_iter().flatten().copied());
        }
        found.into_iter().collect()
    };
    let components_of = |names: &mut dyn Iterator<Item = &LotId>| -> Vec<Component> {
        let set: BTreeSet<Component> = names
            .filter_map(|l| lots.get(l))
            .flat_map(|r| r.content.keys().cloned())
            .collect();
        set.into_iter().collect()
    };
    let mut rows: BTreeMap<(PartyId, u8), SmelterRow> = BTreeMap::new();
    for ce in events {
        let actor = &ce.event.actor;
        let Some(status) = parties.iter().find(|p| &p.party == actor) else {
            continue;
        };
        let (role, comps, found) = match &ce.event.body {
            Body::Transform(t) if status.roles.contains(&Role::Refiner) => (
                Role::Refiner,
                components_of(&mut t.inputs.iter().map(|m| &m.lot)),
                origins_above(ce.id),
            ),
            Body::Recycle(r) => (
                Role::Recycler,
                components_of(&mut r.outputs.iter().map(|o| &o.lot)),
                origins_above(ce.id),
            ),
            _ => continue,
        };
        let key = (actor.clone(), u8::from(role == Role::Recycler));
        let row = rows.entry(key).or_insert_with(|| SmelterRow {
            party: actor.clone(),
            name: status.name.clone(),
            country: status.country.clone(),
            role,
            components: Vec::new(),
            origins: Vec::new(),
        });
        for c in comps {
            if !row.components.contains(&c) {
                row.components.push(c);
            }
        }
        for o in found {
            if !row.origins.contains(&o) {
                row.origins.push(o);
            }
        }
    }
    rows.into_values()
        .map(|mut r| {
            r.components.sort();
            r.origins.sort();
            r
        })
        .collect()
}

/// The component's English metal name as the RMI templates and the Battery Pass use it.
pub fn metal_name(component: &Component) -> String {
    match component.as_str() {
        "Co" => "Cobalt".into(),
        "Li" => "Lithium".into(),
        "Ni" => "Nickel".into(),
        "Mn" => "Manganese".into(),
        "Cu" => "Copper".into(),
        "Pb" => "Lead".into(),
        "C" | "graphite" => "Graphite".into(),
        "mica" => "Mica".into(),
        other => other.to_owned(),
    }
}

impl ReportData {
    /// The event with id `id`, if it is on the way.
    pub fn event(&self, id: &Digest) -> Option<&ChainEvent> {
        self.event_index.get(id).and_then(|i| self.events.get(*i))
    }

    /// The party's status, if it is in the chain.
    pub fn party(&self, id: &PartyId) -> Option<&PartyStatus> {
        self.parties.iter().find(|p| &p.party == id)
    }

    /// The party's display name: its enrolled name, else its id.
    pub fn party_name(&self, id: &PartyId) -> String {
        match self.party(id) {
            Some(p) if !p.name.is_empty() => p.name.clone(),
            _ => id.to_string(),
        }
    }

    /// The product's capacity per piece, in watt-hours.
    pub fn capacity_wh(&self) -> Option<u64> {
        self.product.capacity_wh
    }

    /// Whether the verdict is a pass.
    pub fn passed(&self) -> bool {
        self.verification.verdict == Verdict::Pass
    }

    /// Every attestation about a party in the chain, in log order, with the party it is about.
    pub fn attestations(&self) -> Vec<(&PartyStatus, &AttestationRow)> {
        let mut all: Vec<_> = self
            .parties
            .iter()
            .flat_map(|p| p.attestations.iter().map(move |a| (p, a)))
            .collect();
        all.sort_by_key(|(_, a)| a.record.seq);
        all
    }
}

/// The claim's name for people.
pub fn claim_text(a: &Attest) -> String {
    let mut s = a.claim.name().to_owned();
    if let Some(r) = a.result {
        s.push_str(match r {
            Outcome::Pass => " pass",
            Outcome::Conditional => " conditional",
            Outcome::Fail => " fail",
        });
    }
    if let Some(score) = a.score {
        s.push_str(&format!(" (score {score})"));
    }
    if let Some(reference) = &a.reference {
        s.push_str(&format!(" {reference}"));
    }
    if a.claim == Claim::CapOpened
        && let Some(sev) = a.severity
    {
        s.push_str(match sev {
            ledger_core::event::CapSeverity::Major => " major",
            ledger_core::event::CapSeverity::Minor => " minor",
        });
    }
    s
}

/// Content per unit as people read it: a percentage for `kg` lots, kg per piece for `pcs` lots.
pub fn content_text(unit: Unit, content: &Content) -> String {
    content
        .iter()
        .map(|(c, v)| match unit {
            Unit::Kg => format!("{c} {}%", crate::num::decimal(u128::from(*v), 4, 4)),
            Unit::Pcs => format!("{c} {} kg/pc", crate::num::decimal(u128::from(*v), 6, 6)),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stages(x: u128) -> Stages {
        Stages {
            extraction: x,
            production: 2 * x,
            distribution: 0,
            recycling: 1,
        }
    }

    #[test]
    fn allocation_is_exact_and_proportional() {
        let parts = allocate(&stages(10), &[1, 2]);
        assert_eq!(
            parts.iter().map(|p| p.extraction).collect::<Vec<_>>(),
            [3, 7],
            "largest remainder gets the odd unit"
        );
        assert_eq!(parts.iter().map(|p| p.production).sum::<u128>(), 20);
        assert_eq!(parts.iter().map(|p| p.recycling).sum::<u128>(), 1);
        let equal = allocate(&stages(9), &[0, 0, 0]);
        assert_eq!(
            equal.iter().map(|p| p.extraction).collect::<Vec<_>>(),
            [3, 3, 3],
            "zero keys split equally"
        );
    }

    /// Outputs share emissions by mass, pieces at their declared unit mass: 999 pieces
    /// of 1 g take 999/1999 of a 1 kg output's footprint, not 999/1000 of it.
    #[test]
    fn outputs_are_allocated_by_mass_whatever_their_unit() {
        let output = |quantity, unit_mass_mg| LotOutput {
            lot: LotId::new("L").unwrap(),
            material: ledger_core::id::Material::new("cathode").unwrap(),
            quantity,
            content: Content::new(),
            capacity_wh: None,
            unit_mass_mg,
        };
        assert_eq!(
            output_keys(&[
                output(Quantity::Grams(1_000), None),
                output(Quantity::Pieces(999), Some(1_000)),
            ]),
            [1_000_000_000, 999_000_000]
        );
        let parts = allocate(&stages(1999), &[1_000_000_000, 999_000_000]);
        assert_eq!(
            parts.iter().map(|p| p.extraction).collect::<Vec<_>>(),
            [1000, 999]
        );
    }

    #[test]
    fn carrying_a_part_of_a_parcel_scales_every_stage() {
        // 19200 of 20000 cells carry 0.96 of the cells' footprint (the demo module).
        let cells = Stages {
            extraction: 630,
            production: 66_500,
            distribution: 5_435,
            recycling: 900,
        };
        assert_eq!(
            cells.scale(19_200, 20_000),
            Stages {
                extraction: 605,
                production: 63_840,
                distribution: 5_218,
                recycling: 864
            }
        );
    }
}
