//! GS1 EPCIS 2.0 JSON-LD: one `EPCISDocument` with an event per custody event of the
//! chain, per attestation about a party in it and per attestation about a lot on the way
//! (the lot as a `quantityList` class, observed at the auditor).
//!
//! | custody event | EPCIS 2.0 |
//! |---|---|
//! | `extract`, `recycle` | ObjectEvent, action ADD, bizStep `commissioning`, disposition `active` |
//! | `ship` | ObjectEvent, action OBSERVE, bizStep `shipping`, disposition `in_transit`, sourceList / destinationList |
//! | `receive` | ObjectEvent, action OBSERVE, bizStep `receiving`, disposition `in_progress`, sourceList / destinationList |
//! | `transform` | TransformationEvent with input and output quantity lists |
//! | `attest` | ObjectEvent, action OBSERVE, with `certificationInfo` |
//!
//! Lots are EPC classes with quantities (`KGM` for kg lots, `H87` for pieces). What CBV has
//! no word for (mining, recycling, processing, auditing, material content, emissions, hash
//! links) is said in the `cus:` vocabulary, [`VOCAB`]. Every `eventID` is the event's CBV 2.0
//! event hash ([`crate::eventhash`]), computed over the document as written.

use ledger_core::event::{Body, Claim, Event, LotOutput, Outcome};
use ledger_core::hash::Digest;
use ledger_core::id::{LotId, PartyId};
use ledger_core::quantity::Quantity;

use crate::ReportError;
use crate::eventhash;
use crate::figures::{PartyStatus, ReportData};
use crate::ldjson::{Json, n, obj, s};
use crate::num::decimal;
use crate::render::{feedstock_name, method_name};

/// The EPCIS 2.0 JSON-LD context.
pub const EPCIS_CONTEXT: &str = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld";
/// Custody's vocabulary namespace (prefix `cus`), documented in `docs/reports.md`.
pub const VOCAB: &str = "https://custody.example/voc/";
/// Where Custody's identifiers (lots, parties, sites, events) live.
pub const IDS: &str = "https://custody.example/id/";

/// The URI of a lot (an EPC class).
pub fn lot_uri(lot: &LotId) -> String {
    format!("{IDS}lot/{lot}")
}

/// The URI of a party. (Not `/party/`: that path segment is a GS1 Digital Link key.)
pub fn org_uri(party: &PartyId) -> String {
    format!("{IDS}org/{party}")
}

/// The URI of a ledger event.
pub fn event_uri(id: &Digest) -> String {
    format!("{IDS}event/{id}")
}

fn voc(term: &str) -> String {
    format!("{VOCAB}{term}")
}

fn quantity_element(lot: &LotId, q: Quantity) -> Json {
    let (amount, uom) = match q {
        Quantity::Grams(g) => (decimal(u128::from(g), 3, 3), "KGM"),
        Quantity::Pieces(p) => (p.to_string(), "H87"),
    };
    obj([
        ("epcClass", Some(s(lot_uri(lot)))),
        ("quantity", Some(n(amount))),
        ("uom", Some(s(uom))),
    ])
}

fn outputs_ilmd(outputs: &[LotOutput]) -> Json {
    let lots = outputs
        .iter()
        .map(|o| {
            let (per, unit) = match o.quantity {
                Quantity::Grams(_) => ("cus:massFraction", 6),
                Quantity::Pieces(_) => ("cus:kgPerPiece", 6),
            };
            let content = o
                .content
                .iter()
                .map(|(c, v)| {
                    obj([
                        ("cus:component", Some(s(c.as_str()))),
                        (per, Some(n(decimal(u128::from(*v), unit, unit)))),
                    ])
                })
                .collect();
            obj([
                ("cus:lot", Some(s(lot_uri(&o.lot)))),
                ("cus:material", Some(s(o.material.as_str()))),
                ("cus:content", Some(Json::Array(content))),
                (
                    "cus:capacityKWh",
                    o.capacity_wh.map(|wh| n(decimal(u128::from(wh), 3, 3))),
                ),
            ])
        })
        .collect();
    obj([("cus:outputs", Some(Json::Array(lots)))])
}

fn party_list(key: &str, parties: &[&PartyId]) -> Option<Json> {
    if parties.is_empty() {
        return None;
    }
    let mut items = Vec::new();
    for t in ["owning_party", "possessing_party"] {
        for p in parties {
            items.push(obj([("type", Some(s(t))), (key, Some(s(org_uri(p))))]));
        }
    }
    Some(Json::Array(items))
}

fn common(e: &Event, id: &Digest, seq: u64) -> Vec<(String, Option<Json>)> {
    vec![
        ("eventTime".into(), Some(s(e.time.to_string()))),
        ("eventTimeZoneOffset".into(), Some(s("+00:00"))),
        ("cus:ledgerEvent".into(), Some(s(event_uri(id)))),
        ("cus:ledgerSeq".into(), Some(n(seq.to_string()))),
        ("cus:actor".into(), Some(s(org_uri(&e.actor)))),
    ]
}

fn tail(e: &Event, upstream: Vec<Digest>) -> Vec<(String, Option<Json>)> {
    let docs: Vec<Json> = e
        .documents
        .iter()
        .map(|d| {
            obj([
                ("cus:name", Some(s(d.name.clone()))),
                ("cus:sha256", Some(s(d.sha256.to_hex()))),
            ])
        })
        .collect();
    vec![
        (
            "cus:emissionsKgCO2e".into(),
            e.emissions_g_co2e.map(|g| n(decimal(u128::from(g), 3, 3))),
        ),
        (
            "cus:upstreamEvents".into(),
            if upstream.is_empty() {
                None
            } else {
                Some(Json::Array(
                    upstream.iter().map(|u| s(event_uri(u))).collect(),
                ))
            },
        ),
        (
            "cus:documents".into(),
            if docs.is_empty() {
                None
            } else {
                Some(Json::Array(docs))
            },
        ),
    ]
}

fn custody_event(data: &ReportData, id: &Digest, seq: u64, e: &Event) -> Option<Json> {
    let mut m: Vec<(String, Option<Json>)> = Vec::new();
    match &e.body {
        Body::Extract(x) => {
            m.push(("type".into(), Some(s("ObjectEvent"))));
            m.extend(common(e, id, seq));
            m.push((
                "quantityList".into(),
                Some(Json::Array(
                    x.outputs
                        .iter()
                        .map(|o| quantity_element(&o.lot, o.quantity))
                        .collect(),
                )),
            ));
            m.push(("action".into(), Some(s("ADD"))));
            m.push(("bizStep".into(), Some(s("commissioning"))));
            m.push(("disposition".into(), Some(s("active"))));
            let site = format!("{IDS}site/{}", x.site.id);
            m.push((
                "readPoint".into(),
                Some(obj([("id", Some(s(site.clone())))])),
            ));
            m.push(("bizLocation".into(), Some(obj([("id", Some(s(site)))]))));
            m.push(("ilmd".into(), Some(outputs_ilmd(&x.outputs))));
            m.push(("cus:activity".into(), Some(s(voc("mining")))));
            let lat = |v: i32| {
                let t = decimal(u128::from(v.unsigned_abs()), 6, 6);
                n(if v < 0 { format!("-{t}") } else { t })
            };
            m.push((
                "cus:site".into(),
                Some(obj([
                    ("cus:siteId", Some(s(x.site.id.as_str()))),
                    ("cus:country", Some(s(x.site.country.as_str()))),
                    ("cus:latitude", Some(lat(x.site.lat_micro))),
                    ("cus:longitude", Some(lat(x.site.lon_micro))),
                    ("cus:miningMethod", Some(s(voc(method_name(x.site.method))))),
                ])),
            ));
            m.extend(tail(e, Vec::new()));
        }
        Body::Recycle(r) => {
            m.push(("type".into(), Some(s("ObjectEvent"))));
            m.extend(common(e, id, seq));
            m.push((
                "quantityList".into(),
                Some(Json::Array(
                    r.outputs
                        .iter()
                        .map(|o| quantity_element(&o.lot, o.quantity))
                        .collect(),
                )),
            ));
            m.push(("action".into(), Some(s("ADD"))));
            m.push(("bizStep".into(), Some(s("commissioning"))));
            m.push(("disposition".into(), Some(s("active"))));
            m.push((
                "readPoint".into(),
                Some(obj([("id", Some(s(org_uri(&e.actor))))])),
            ));
            m.push(("ilmd".into(), Some(outputs_ilmd(&r.outputs))));
            m.push(("cus:activity".into(), Some(s(voc("recycling")))));
            m.push((
                "cus:feedstock".into(),
                Some(s(voc(feedstock_name(r.feedstock)))),
            ));
            m.extend(tail(e, Vec::new()));
        }
        Body::Ship(sh) => {
            m.push(("type".into(), Some(s("ObjectEvent"))));
            m.extend(common(e, id, seq));
            m.push((
                "quantityList".into(),
                Some(Json::Array(
                    sh.lots
                        .iter()
                        .map(|l| quantity_element(&l.lot, l.quantity))
                        .collect(),
                )),
            ));
            m.push(("action".into(), Some(s("OBSERVE"))));
            m.push(("bizStep".into(), Some(s("shipping"))));
            m.push(("disposition".into(), Some(s("in_transit"))));
            m.push((
                "readPoint".into(),
                Some(obj([("id", Some(s(org_uri(&e.actor))))])),
            ));
            m.push(("sourceList".into(), party_list("source", &[&e.actor])));
            m.push((
                "destinationList".into(),
                party_list("destination", &[&sh.to]),
            ));
            m.extend(tail(e, sh.lots.iter().map(|l| l.from).collect()));
        }
        Body::Receive(r) => {
            let sender = data.event(&r.shipment).map(|c| c.event.actor.clone());
            m.push(("type".into(), Some(s("ObjectEvent"))));
            m.extend(common(e, id, seq));
            m.push((
                "quantityList".into(),
                Some(Json::Array(
                    r.lots
                        .iter()
                        .map(|l| quantity_element(&l.lot, l.quantity))
                        .collect(),
                )),
            ));
            m.push(("action".into(), Some(s("OBSERVE"))));
            m.push(("bizStep".into(), Some(s("receiving"))));
            m.push(("disposition".into(), Some(s("in_progress"))));
            m.push((
                "readPoint".into(),
                Some(obj([("id", Some(s(org_uri(&e.actor))))])),
            ));
            m.push((
                "sourceList".into(),
                sender.as_ref().and_then(|p| party_list("source", &[p])),
            ));
            m.push((
                "destinationList".into(),
                party_list("destination", &[&e.actor]),
            ));
            m.push(("cus:shipment".into(), Some(s(event_uri(&r.shipment)))));
            m.extend(tail(e, vec![r.shipment]));
        }
        Body::Transform(t) => {
            m.push(("type".into(), Some(s("TransformationEvent"))));
            m.extend(common(e, id, seq));
            m.push((
                "inputQuantityList".into(),
                Some(Json::Array(
                    t.inputs
                        .iter()
                        .map(|l| quantity_element(&l.lot, l.quantity))
                        .collect(),
                )),
            ));
            m.push((
                "outputQuantityList".into(),
                Some(Json::Array(
                    t.outputs
                        .iter()
                        .map(|o| quantity_element(&o.lot, o.quantity))
                        .collect(),
                )),
            ));
            m.push(("transformationID".into(), Some(s(event_uri(id)))));
            m.push(("bizStep".into(), Some(s(voc("BizStep-processing")))));
            m.push((
                "readPoint".into(),
                Some(obj([("id", Some(s(org_uri(&e.actor))))])),
            ));
            m.push(("ilmd".into(), Some(outputs_ilmd(&t.outputs))));
            m.extend(tail(e, t.inputs.iter().map(|l| l.from).collect()));
        }
        Body::Enroll(_)
        | Body::Revoke(_)
        | Body::Amend(_)
        | Body::RequestKey(_)
        | Body::AddKey(_)
        | Body::Attest(_) => return None,
    }
    Some(Json::Object(
        m.into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect(),
    ))
}

/// What an attestation is about, as EPCIS says it.
enum About<'a> {
    /// A party in the chain: the subject and the read point are its organisation.
    Party(&'a PartyStatus),
    /// A lot on the way: its EPC class, observed at the auditor.
    Lot(&'a LotId),
}

fn attestation_event(about: About<'_>, row: &crate::figures::AttestationRow) -> Json {
    let r = &row.record;
    let (subject, read_point, classes) = match about {
        About::Party(party) => (org_uri(&party.party), org_uri(&party.party), None),
        About::Lot(lot) => (
            lot_uri(lot),
            org_uri(&r.auditor),
            Some(Json::Array(vec![obj([(
                "epcClass",
                Some(s(lot_uri(lot))),
            )])])),
        ),
    };
    let a = &r.attest;
    let result = a.result.map(|o| match o {
        Outcome::Pass => "pass",
        Outcome::Conditional => "conditional",
        Outcome::Fail => "fail",
    });
    let certificate = format!("{IDS}attestation/{}", r.event);
    obj([
        ("type", Some(s("ObjectEvent"))),
        ("eventTime", Some(s(r.time.to_string()))),
        ("eventTimeZoneOffset", Some(s("+00:00"))),
        ("certificationInfo", Some(s(certificate))),
        ("epcList", Some(Json::Array(Vec::new()))),
        ("quantityList", classes),
        ("action", Some(s("OBSERVE"))),
        ("bizStep", Some(s(voc("BizStep-auditing")))),
        ("readPoint", Some(obj([("id", Some(s(read_point)))]))),
        ("cus:ledgerEvent", Some(s(event_uri(&r.event)))),
        ("cus:ledgerSeq", Some(n(r.seq.to_string()))),
        ("cus:actor", Some(s(org_uri(&r.auditor)))),
        ("cus:subject", Some(s(subject))),
        (
            "cus:claim",
            Some(s(voc(&format!("claim-{}", a.claim.name())))),
        ),
        ("cus:result", result.map(|x| s(voc(&format!("result-{x}"))))),
        ("cus:score", a.score.map(|x| n(x.to_string()))),
        ("cus:reference", a.reference.clone().map(s)),
        (
            "cus:capSeverity",
            if a.claim == Claim::CapOpened {
                a.severity.map(|x| {
                    s(voc(match x {
                        ledger_core::event::CapSeverity::Major => "cap-major",
                        ledger_core::event::CapSeverity::Minor => "cap-minor",
                    }))
                })
            } else {
                None
            },
        ),
        ("cus:validUntil", a.valid_until.map(|u| s(u.to_string()))),
        (
            "cus:standing",
            Some(s(voc(&format!("standing-{}", row.standing.name())))),
        ),
    ])
}

/// The EPCIS document, with every `eventID` filled in.
pub fn document(data: &ReportData) -> Result<Json, ReportError> {
    let mut events: Vec<(u64, Json)> = data
        .events
        .iter()
        .filter_map(|ce| custody_event(data, &ce.id, ce.seq, &ce.event).map(|j| (ce.seq, j)))
        .collect();
    for (party, row) in data.attestations() {
        events.push((row.record.seq, attestation_event(About::Party(party), row)));
    }
    for status in &data.lot_statuses {
        for row in &status.attestations {
            events.push((
                row.record.seq,
                attestation_event(About::Lot(&status.lot), row),
            ));
        }
    }
    events.sort_by_key(|(seq, _)| *seq);
    let context = Json::Array(vec![s(EPCIS_CONTEXT), obj([("cus", Some(s(VOCAB)))])]);
    let findings: Vec<Json> = data
        .verification
        .findings
        .iter()
        .map(|f| s(f.to_string()))
        .collect();
    let build = |events: Vec<Json>| {
        obj([
            ("@context", Some(context.clone())),
            ("type", Some(s("EPCISDocument"))),
            (
                "cus:verdict",
                Some(s(voc(if data.passed() {
                    "verdict-pass"
                } else {
                    "verdict-fail"
                }))),
            ),
            ("cus:product", Some(s(lot_uri(&data.lot)))),
            ("cus:findings", Some(Json::Array(findings.clone()))),
            ("schemaVersion", Some(s("2.0"))),
            ("creationDate", Some(s(data.as_of.to_string()))),
            (
                "epcisBody",
                Some(obj([("eventList", Some(Json::Array(events)))])),
            ),
        ])
    };
    let plain: Vec<Json> = events.into_iter().map(|(_, e)| e).collect();
    let draft = build(plain.clone());
    let prehashes =
        eventhash::prehashes(&draft).map_err(|e| ReportError::EventHash(e.to_string()))?;
    if prehashes.len() != plain.len() {
        return Err(ReportError::EventHash(
            "an event has no pre-hash string".into(),
        ));
    }
    let with_ids = plain
        .into_iter()
        .zip(prehashes)
        .map(|(event, pre)| match event {
            Json::Object(mut members) => {
                members.insert(1, ("eventID".into(), s(eventhash::hash_id(&pre))));
                Json::Object(members)
            }
            other => other,
        })
        .collect();
    Ok(build(with_ids))
}

/// Renders the EPCIS document as pretty JSON.
pub fn render(data: &ReportData) -> Result<String, ReportError> {
    let mut text = document(data)?.to_pretty()?;
    text.push('\n');
    Ok(text)
}
