//! The normalized custody event: what a supplier signs and the ledger stores.
//!
//! Every field is an exact, validated value. The same types serialize to the canonical
//! bytes (through [`crate::codec`]) and to the normalized JSON that `custody sign` prints;
//! `docs/format.md` gives the byte layout field by field, in declaration order.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::hash::Digest;
use crate::id::{Country, LotId, Material, PartyId, SiteId};
use crate::keys::PublicKey;
use crate::quantity::{Content, Quantity};
use crate::timestamp::Timestamp;

/// One custody event. Field order is the canonical encoding order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// The party that did this and signs it.
    pub actor: PartyId,
    /// When it happened.
    pub time: Timestamp,
    /// Distinguishes two otherwise identical real-world events.
    pub nonce: u64,
    /// Process and transport emissions of this step, in grams CO2e.
    pub emissions_g_co2e: Option<u64>,
    /// Off-ledger evidence (assay reports, bills of lading, LCA studies) by hash.
    pub documents: Vec<Document>,
    /// What happened.
    pub body: Body,
}

impl Event {
    /// Every lot this event names, each once, first as named: created, consumed,
    /// received, or attested about. The lot index keys entries by these.
    pub fn lots_named(&self) -> Vec<&LotId> {
        let mut lots: Vec<&LotId> = self.body.outputs().iter().map(|o| &o.lot).collect();
        lots.extend(self.body.consumed().iter().map(|m| &m.lot));
        match &self.body {
            Body::Receive(r) => lots.extend(r.lots.iter().map(|i| &i.lot)),
            Body::Attest(a) => {
                if let Subject::Lot(l) = &a.subject {
                    lots.push(l);
                }
            }
            _ => {}
        }
        // A lot named twice (say, an input that is also an output) is indexed once.
        if lots.len() > 1 {
            let mut seen = std::collections::HashSet::new();
            lots.retain(|lot| seen.insert(*lot));
        }
        lots
    }
}

/// A named reference to an off-ledger document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "an object with \"name\" and \"sha256\""
)]
pub struct Document {
    /// A short human name (`assay-report-2026-03`), at most 256 bytes.
    #[schemars(length(min = 1, max = limits::MAX_TEXT))]
    pub name: String,
    /// SHA-256 of the document's bytes.
    pub sha256: Digest,
}

/// The kind-specific part of an event. The variant index is the canonical kind tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Body {
    /// The operator admits a new party with its first keys, roles and country.
    Enroll(Enroll),
    /// The operator withdraws a key from this log position on.
    Revoke(Revoke),
    /// A miner creates lots from a mine site.
    Extract(Extract),
    /// A recycler creates lots from recovered material.
    Recycle(Recycle),
    /// The holder sends quantities of lots to a named receiver.
    Ship(Ship),
    /// The named receiver takes delivery against a shipment.
    Receive(Receive),
    /// A refiner or manufacturer consumes inputs and creates output lots.
    Transform(Transform),
    /// An auditor states a claim about a party or a lot.
    Attest(Attest),
    /// The operator changes a party's name, country or roles from this log position on.
    Amend(Amend),
    /// A party asks for a new key, signed with one of its current keys: its consent.
    RequestKey(RequestKey),
    /// The operator adds the key a party requested.
    AddKey(AddKey),
}

/// The kind of an event, as written in JSON input and findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// See [`Body::Enroll`].
    Enroll,
    /// See [`Body::Revoke`].
    Revoke,
    /// See [`Body::Extract`].
    Extract,
    /// See [`Body::Recycle`].
    Recycle,
    /// See [`Body::Ship`].
    Ship,
    /// See [`Body::Receive`].
    Receive,
    /// See [`Body::Transform`].
    Transform,
    /// See [`Body::Attest`].
    Attest,
    /// See [`Body::Amend`].
    Amend,
    /// See [`Body::RequestKey`].
    RequestKey,
    /// See [`Body::AddKey`].
    AddKey,
}

impl Kind {
    /// The lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Enroll => "enroll",
            Kind::Revoke => "revoke",
            Kind::Extract => "extract",
            Kind::Recycle => "recycle",
            Kind::Ship => "ship",
            Kind::Receive => "receive",
            Kind::Transform => "transform",
            Kind::Attest => "attest",
            Kind::Amend => "amend",
            Kind::RequestKey => "request-key",
            Kind::AddKey => "add-key",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Body {
    /// The kind of this body.
    pub fn kind(&self) -> Kind {
        match self {
            Body::Enroll(_) => Kind::Enroll,
            Body::Revoke(_) => Kind::Revoke,
            Body::Extract(_) => Kind::Extract,
            Body::Recycle(_) => Kind::Recycle,
            Body::Ship(_) => Kind::Ship,
            Body::Receive(_) => Kind::Receive,
            Body::Transform(_) => Kind::Transform,
            Body::Attest(_) => Kind::Attest,
            Body::Amend(_) => Kind::Amend,
            Body::RequestKey(_) => Kind::RequestKey,
            Body::AddKey(_) => Kind::AddKey,
        }
    }

    /// The lots this event creates.
    pub fn outputs(&self) -> &[LotOutput] {
        match self {
            Body::Extract(e) => &e.outputs,
            Body::Recycle(r) => &r.outputs,
            Body::Transform(t) => &t.outputs,
            _ => &[],
        }
    }

    /// The party whose enrollment this changes (its keys, roles, country or name), for the
    /// kinds that do: `enroll`, `revoke`, `amend`, `add-key`, and `request-key` (by the
    /// party itself).
    pub fn party_changed<'a>(&'a self, actor: &'a PartyId) -> Option<&'a PartyId> {
        match self {
            Body::Enroll(e) => Some(&e.party),
            Body::Revoke(r) => Some(&r.party),
            Body::Amend(a) => Some(&a.party),
            Body::AddKey(a) => Some(&a.party),
            Body::RequestKey(_) => Some(actor),
            _ => None,
        }
    }

    /// The lots this event takes out of its actor's custody, each with its upstream link.
    pub fn consumed(&self) -> &[LotMove] {
        match self {
            Body::Ship(s) => &s.lots,
            Body::Transform(t) => &t.inputs,
            _ => &[],
        }
    }
}

/// A party's role: what kinds of events it may sign.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Extracts ore at mine sites.
    Miner,
    /// Buys and sells without transforming (for example artisanal ore traders).
    Trader,
    /// Refines ore or intermediates.
    Refiner,
    /// Makes precursor, cathode, cells or modules.
    Manufacturer,
    /// Recovers material from scrap and end-of-life batteries.
    Recycler,
    /// Carries material between parties.
    Transporter,
    /// Attests to parties and lots.
    Auditor,
    /// Runs the ledger: enrolls and revokes.
    Operator,
}

impl Role {
    /// The lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Role::Miner => "miner",
            Role::Trader => "trader",
            Role::Refiner => "refiner",
            Role::Manufacturer => "manufacturer",
            Role::Recycler => "recycler",
            Role::Transporter => "transporter",
            Role::Auditor => "auditor",
            Role::Operator => "operator",
        }
    }

    /// Every role, for parsing and help text.
    pub const ALL: [Role; 8] = [
        Role::Miner,
        Role::Trader,
        Role::Refiner,
        Role::Manufacturer,
        Role::Recycler,
        Role::Transporter,
        Role::Auditor,
        Role::Operator,
    ];

    /// Parses a lowercase role name.
    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == name)
    }
}

/// Admits a party or extends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Enroll {
    /// The party.
    pub party: PartyId,
    /// Its legal or trading name, at most 256 bytes.
    pub name: String,
    /// Where it is registered.
    pub country: Country,
    /// What it may do; sorted, no duplicates.
    pub roles: Vec<Role>,
    /// Keys that may sign for it; no duplicates.
    pub keys: Vec<PublicKey>,
}

/// A change of a party's enrollment: the new name, country and roles, in force from the
/// log position of this event. Rules and reports read a party as it was at the position
/// of the event concerned, so an amendment never rewrites the past.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Amend {
    /// The party.
    pub party: PartyId,
    /// Its name from now on.
    pub name: String,
    /// Its country from now on.
    pub country: Country,
    /// Its roles from now on, sorted, each once.
    pub roles: Vec<Role>,
}

/// A party's request for a new key: the actor is the party, and a current key of it signs,
/// so the operator cannot add a key to a party without that party's consent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestKey {
    /// The key asked for.
    pub key: PublicKey,
}

/// The operator's addition of a requested key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddKey {
    /// The party.
    pub party: PartyId,
    /// The key, as requested.
    pub key: PublicKey,
    /// The id of the party's `request-key` event.
    pub request: Digest,
}

/// Withdraws a key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Revoke {
    /// The party the key belongs to.
    pub party: PartyId,
    /// The key that may no longer sign, from this log position on.
    pub key: PublicKey,
}

/// How a mine site is worked.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Large-scale mechanised mining.
    Industrial,
    /// Artisanal and small-scale mining (ASM): calls for enhanced due diligence.
    Artisanal,
}

/// A mine site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Site {
    /// The site's id.
    pub id: SiteId,
    /// Where it is.
    pub country: Country,
    /// Latitude in millionths of a degree, -90° to 90°.
    pub lat_micro: i32,
    /// Longitude in millionths of a degree, -180° to 180°.
    pub lon_micro: i32,
    /// Industrial or artisanal.
    pub method: Method,
}

/// A lot created by an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LotOutput {
    /// The new lot's id.
    pub lot: LotId,
    /// What it is.
    pub material: Material,
    /// How much was created.
    pub quantity: Quantity,
    /// Tracked components per unit: ppm of mass for `kg` lots, mg per piece for `pcs` lots.
    pub content: Content,
    /// Energy capacity per piece in watt-hours, for cells and modules.
    pub capacity_wh: Option<u64>,
    /// Mass of one piece in milligrams: required for `pcs` lots, absent for `kg` lots. Mass
    /// is conserved through transforms and footprints are allocated by it.
    pub unit_mass_mg: Option<u64>,
}

/// Material taken out of the actor's custody, linked to the event that gave it custody.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LotMove {
    /// The lot.
    pub lot: LotId,
    /// How much.
    pub quantity: Quantity,
    /// Id of the event that last gave the actor custody of the lot (its creation or a
    /// `receive`): the hash link that makes provenance a DAG.
    pub from: Digest,
}

/// Creation from a mine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Extract {
    /// The mine site.
    pub site: Site,
    /// The lots extracted; at least one.
    pub outputs: Vec<LotOutput>,
}

/// Where recycled material came from, as the EU Battery Regulation distinguishes it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Feedstock {
    /// Manufacturing scrap.
    PreConsumer,
    /// End-of-life batteries and products.
    PostConsumer,
}

/// Creation from recovered material.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recycle {
    /// Pre- or post-consumer.
    pub feedstock: Feedstock,
    /// The recovered lots; at least one.
    pub outputs: Vec<LotOutput>,
}

/// A shipment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ship {
    /// The receiver.
    pub to: PartyId,
    /// What is shipped; at least one, each lot once.
    pub lots: Vec<LotMove>,
}

/// A quantity of a lot that arrived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Received {
    /// The lot.
    pub lot: LotId,
    /// How much arrived.
    pub quantity: Quantity,
}

/// A delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receive {
    /// Id of the `ship` event delivered.
    pub shipment: Digest,
    /// What arrived; at least one, each lot once.
    pub lots: Vec<Received>,
}

/// A transformation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transform {
    /// Consumed inputs; at least one, each lot once.
    pub inputs: Vec<LotMove>,
    /// Created lots; at least one.
    pub outputs: Vec<LotOutput>,
}

/// What an attestation is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Subject {
    /// A party.
    Party(PartyId),
    /// A lot.
    Lot(LotId),
}

/// The claim an auditor makes.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Claim {
    /// A self-assessment questionnaire was completed and reviewed.
    Saq,
    /// A supplier sustainability index score.
    Ssi,
    /// The supplier code of conduct was signed.
    CodeOfConduct,
    /// An on-site audit (`result` required: pass, conditional or fail).
    OnsiteAudit,
    /// A certification (for example RMAP conformant, IRMA).
    Certification,
    /// A corrective action plan was opened (`reference` and `severity` required).
    CapOpened,
    /// A corrective action plan was closed (`reference` required).
    CapClosed,
}

impl Claim {
    /// The kebab-case name used in JSON and policies.
    pub fn name(self) -> &'static str {
        match self {
            Claim::Saq => "saq",
            Claim::Ssi => "ssi",
            Claim::CodeOfConduct => "code-of-conduct",
            Claim::OnsiteAudit => "onsite-audit",
            Claim::Certification => "certification",
            Claim::CapOpened => "cap-opened",
            Claim::CapClosed => "cap-closed",
        }
    }
}

/// The outcome of an attested check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Passed.
    Pass,
    /// Passed with conditions.
    Conditional,
    /// Failed.
    Fail,
}

/// The severity of a corrective action plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(rename = "Severity")]
pub enum CapSeverity {
    /// Minor non-conformance.
    Minor,
    /// Major non-conformance: the party's due diligence is not met while it is open.
    Major,
}

/// An auditor's attestation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attest {
    /// Who or what it is about.
    pub subject: Subject,
    /// What is claimed.
    pub claim: Claim,
    /// Pass, conditional or fail, where the claim has an outcome.
    pub result: Option<Outcome>,
    /// A score from 0 to 100, where the claim has one.
    pub score: Option<u8>,
    /// A certificate number or corrective action plan id, at most 128 bytes.
    pub reference: Option<String>,
    /// Severity, for `cap-opened`.
    pub severity: Option<CapSeverity>,
    /// End of validity, if it expires.
    pub valid_until: Option<Timestamp>,
}

/// Limits on collection sizes and strings, enforced when parsing input and when decoding.
pub mod limits {
    /// Most outputs, inputs or shipped lots in one event.
    pub const MAX_LOTS: usize = 1024;
    /// Most documents per event.
    pub const MAX_DOCUMENTS: usize = 64;
    /// Most keys per enrollment.
    pub const MAX_KEYS: usize = 16;
    /// Most content components per lot.
    pub const MAX_COMPONENTS: usize = 32;
    /// Longest free-text string (names, references), in bytes.
    pub const MAX_TEXT: usize = 256;
    /// Largest emissions figure, in grams CO2e (a million tonnes).
    pub const MAX_EMISSIONS_G: u64 = 1_000_000_000_000;
}
