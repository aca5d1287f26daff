//! The JSON report, schema `custody-report/1` (documented field by field in
//! `docs/reports.md`). The verdict is the first member. Decimal figures are JSON numbers
//! written exactly (kilograms to the milligram, percentages to four places); shares are
//! also given as integer parts per million.

use serde::Serialize;
use serde_json::{Value, json};

use ledger_core::event::Body;

use crate::figures::{ReportData, Stages, metal_name};
use crate::num::{json_number, kg, percent, ppm};
use crate::render::{emissions_kg, feedstock_name, method_name, quantity_parts, unit_name};
use crate::{JSON_SCHEMA, ReportError};

/// The top level, in this member order.
#[derive(Serialize)]
struct Top {
    verdict: Value,
    schema: &'static str,
    lot: String,
    as_of: String,
    product: Value,
    verification: Value,
    origins: Vec<Value>,
    components: Vec<Value>,
    carbon_footprint: Value,
    due_diligence: Vec<Value>,
    lot_attestations: Vec<Value>,
    smelters: Vec<Value>,
    chain_of_custody: Value,
}

fn share(s: u128) -> Value {
    json!({"ppm": ppm(s), "percent": json_number(&percent(s, 4))})
}

fn stages(s: &Stages, total: u128) -> Value {
    json!({
        "total": json_number(&kg(total)),
        "extraction": json_number(&kg(s.extraction)),
        "production": json_number(&kg(s.production)),
        "distribution": json_number(&kg(s.distribution)),
        "recycling": json_number(&kg(s.recycling)),
    })
}

fn quantity(q: ledger_core::quantity::Quantity) -> Value {
    let (amount, unit) = quantity_parts(q);
    json!({"amount": json_number(&amount), "unit": unit})
}

/// The report as the versioned JSON document.
pub fn report_value(data: &ReportData) -> Result<Value, ReportError> {
    let p = &data.product;
    let content: serde_json::Map<String, Value> = p
        .content
        .iter()
        .map(|(c, v)| {
            let per_unit = match p.unit {
                ledger_core::quantity::Unit::Kg => {
                    json!({"fraction": json_number(&crate::num::decimal(u128::from(*v), 6, 6))})
                }
                ledger_core::quantity::Unit::Pcs => {
                    json!({"kg_per_piece": json_number(&crate::num::decimal(u128::from(*v), 6, 6))})
                }
            };
            (c.to_string(), per_unit)
        })
        .collect();
    let product = json!({
        "lot": data.lot,
        "material": p.material,
        "quantity": quantity(p.created),
        "content": content,
        "capacity_kwh": p.capacity_wh.map(|wh| json_number(&crate::num::decimal(u128::from(wh), 3, 3))),
        "created_by": p.created_by,
        "creator": p.creator,
    });
    let verification = json!({
        "verdict": data.verification.verdict,
        "errors": data.verification.errors(),
        "warnings": data.verification.warnings(),
        "findings": data.verification.findings,
    });
    let origins = data
        .origins
        .iter()
        .enumerate()
        .map(|(i, o)| {
            json!({
                "index": i,
                "event": o.event,
                "seq": o.seq,
                "time": o.time,
                "party": o.party,
                "party_name": o.party_name,
                "site": o.site,
                "country": o.country,
                "latitude": o.location.map(|(lat, _)| json_number(&signed_micro(lat))),
                "longitude": o.location.map(|(_, lon)| json_number(&signed_micro(lon))),
                "method": o.method.map(method_name),
                "feedstock": o.feedstock.map(feedstock_name),
                "recycled": o.recycled(),
                "artisanal": o.artisanal(),
                "high_risk": o.high_risk,
            })
        })
        .collect();
    let components = data
        .components
        .iter()
        .map(|c| {
            let origins: Vec<Value> = c
                .shares
                .iter()
                .map(|(i, s)| {
                    let o = data.origins.get(*i);
                    json!({
                        "origin": i,
                        "site": o.and_then(|o| o.site.clone()),
                        "party": o.map(|o| o.party.clone()),
                        "country": o.map(|o| o.country.clone()),
                        "recycled": o.map(|o| o.recycled()),
                        "share": share(*s),
                    })
                })
                .collect();
            let countries: Vec<Value> = c
                .by_country
                .iter()
                .map(|(country, s)| json!({"country": country, "share": share(*s)}))
                .collect();
            json!({
                "component": c.component,
                "metal": metal_name(&c.component),
                "lot_mass_kg": json_number(&kg(c.lot_mass_ug)),
                "origins": origins,
                "countries": countries,
                "recycled": {
                    "share": share(c.recycled.total()),
                    "pre_consumer": share(c.recycled.pre_consumer),
                    "post_consumer": share(c.recycled.post_consumer),
                },
                "eu_minimum": c.eu_minimum.map(|m| json!({
                    "from_2031_percent": m.from_2031,
                    "from_2036_percent": m.from_2036,
                    "meets_2031": m.meets_2031,
                    "meets_2036": m.meets_2036,
                })),
            })
        })
        .collect();
    let f = &data.footprint;
    let carbon_footprint = json!({
        "unit": "kg CO2e",
        "complete": f.complete,
        "per_lot": stages(&f.lot, f.lot_total),
        "per_unit": {
            "basis": match p.unit { ledger_core::quantity::Unit::Pcs => "piece", ledger_core::quantity::Unit::Kg => "kg" },
            "figures": stages(&f.per_unit, f.per_unit_total),
        },
        "per_kwh": f.per_kwh.zip(f.per_kwh_total).map(|(s, t)| stages(&s, t)),
    });
    let attestation_rows = |rows: &[crate::figures::AttestationRow]| -> Vec<Value> {
        rows.iter()
            .map(|a| {
                let r = &a.record;
                json!({
                    "event": r.event,
                    "seq": r.seq,
                    "auditor": r.auditor,
                    "time": r.time,
                    "claim": r.attest.claim,
                    "result": r.attest.result,
                    "score": r.attest.score,
                    "reference": r.attest.reference,
                    "severity": r.attest.severity,
                    "valid_until": r.attest.valid_until,
                    "standing": a.standing.name(),
                })
            })
            .collect()
    };
    let lot_attestations = data
        .lot_statuses
        .iter()
        .map(|ls| {
            json!({
                "lot": ls.lot,
                "verdict": ls.verdict.name(),
                "gaps": ls.gaps,
                "open_caps": ls.open_caps,
                "attestations": attestation_rows(&ls.attestations),
            })
        })
        .collect();
    let due_diligence = data
        .parties
        .iter()
        .map(|ps| {
            let attestations = attestation_rows(&ps.attestations);
            json!({
                "party": ps.party,
                "name": ps.name,
                "country": ps.country,
                "roles": ps.roles,
                "activities": ps.activities,
                "verdict": ps.verdict.name(),
                "gaps": ps.gaps,
                "open_caps": ps.open_caps,
                "attestations": attestations,
            })
        })
        .collect();
    let smelters = data
        .smelters
        .iter()
        .map(|s| {
            json!({
                "party": s.party,
                "name": s.name,
                "country": s.country,
                "role": s.role,
                "metals": s.components.iter().map(metal_name).collect::<Vec<_>>(),
                "origins": s.origins,
            })
        })
        .collect();
    let events: Vec<Value> = data
        .events
        .iter()
        .map(|ce| {
            let e = &ce.event;
            let mut v = json!({
                "id": ce.id,
                "seq": ce.seq,
                "time": e.time,
                "kind": e.body.kind(),
                "actor": e.actor,
                "emissions_kg_co2e": emissions_kg(e).map(|t| json_number(&t)),
                "documents": e.documents,
            });
            let outputs = |outs: &[ledger_core::event::LotOutput]| -> Vec<Value> {
                outs.iter()
                    .map(|o| {
                        json!({
                            "lot": o.lot, "material": o.material, "quantity": quantity(o.quantity),
                            "content": crate::figures::content_text(o.quantity.unit(), &o.content),
                            "capacity_kwh": o.capacity_wh.map(|wh| json_number(&crate::num::decimal(u128::from(wh), 3, 3))),
                        })
                    })
                    .collect()
            };
            let moves = |ms: &[ledger_core::event::LotMove]| -> Vec<Value> {
                ms.iter().map(|m| json!({"lot": m.lot, "quantity": quantity(m.quantity), "from": m.from})).collect()
            };
            if let Value::Object(map) = &mut v {
                match &e.body {
                    Body::Extract(x) => {
                        map.insert(
                            "site".into(),
                            json!({
                                "id": x.site.id, "country": x.site.country, "method": method_name(x.site.method),
                                "latitude": json_number(&signed_micro(x.site.lat_micro)),
                                "longitude": json_number(&signed_micro(x.site.lon_micro)),
                            }),
                        );
                        map.insert("outputs".into(), Value::Array(outputs(&x.outputs)));
                    }
                    Body::Recycle(r) => {
                        map.insert("feedstock".into(), json!(feedstock_name(r.feedstock)));
                        map.insert("outputs".into(), Value::Array(outputs(&r.outputs)));
                    }
                    Body::Ship(s) => {
                        map.insert("to".into(), json!(s.to));
                        map.insert("lots".into(), Value::Array(moves(&s.lots)));
                    }
                    Body::Receive(r) => {
                        map.insert("shipment".into(), json!(r.shipment));
                        let lots: Vec<Value> = r.lots.iter().map(|i| json!({"lot": i.lot, "quantity": quantity(i.quantity)})).collect();
                        map.insert("lots".into(), Value::Array(lots));
                    }
                    Body::Transform(t) => {
                        map.insert("inputs".into(), Value::Array(moves(&t.inputs)));
                        map.insert("outputs".into(), Value::Array(outputs(&t.outputs)));
                    }
                    Body::Enroll(_)
                    | Body::Revoke(_)
                    | Body::Amend(_)
                    | Body::RequestKey(_)
                    | Body::AddKey(_)
                    | Body::Attest(_) => {}
                }
            }
            v
        })
        .collect();
    let links: Vec<Value> = data
        .edges
        .iter()
        .map(
            |l| json!({"from": l.from, "to": l.to, "lot": l.lot, "quantity": quantity(l.quantity)}),
        )
        .collect();
    let lots: Vec<Value> = data
        .lots
        .iter()
        .map(|(id, r)| {
            json!({
                "lot": id, "material": r.material, "unit": unit_name(r.unit), "created": quantity(r.created),
                "content": crate::figures::content_text(r.unit, &r.content), "created_by": r.created_by, "creator": r.creator,
            })
        })
        .collect();
    let top = Top {
        verdict: json!(data.verification.verdict),
        schema: JSON_SCHEMA,
        lot: data.lot.to_string(),
        as_of: data.as_of.to_string(),
        product,
        verification,
        origins,
        components,
        carbon_footprint,
        due_diligence,
        lot_attestations,
        smelters,
        chain_of_custody: json!({"events": events, "links": links, "lots": lots}),
    };
    Ok(serde_json::to_value(top)?)
}

/// Millionths of a degree as a signed decimal.
fn signed_micro(v: i32) -> String {
    let text = crate::num::decimal(u128::from(v.unsigned_abs()), 6, 6);
    if v < 0 { format!("-{text}") } else { text }
}

/// Renders the JSON report, pretty-printed, verdict first.
pub fn render(data: &ReportData) -> Result<String, ReportError> {
    // serde_json's map sorts keys in this workspace; serialize the top level through the
    // struct so the verdict stays first.
    let value = report_value(data)?;
    let Value::Object(mut map) = value else {
        return Ok(String::new());
    };
    let mut out = String::from("{\n");
    let order = [
        "verdict",
        "schema",
        "lot",
        "as_of",
        "product",
        "verification",
        "origins",
        "components",
        "carbon_footprint",
        "due_diligence",
        "lot_attestations",
        "smelters",
        "chain_of_custody",
    ];
    for (i, key) in order.iter().enumerate() {
        let v = map.remove(*key).unwrap_or(Value::Null);
        let text = serde_json::to_string_pretty(&v)?.replace('\n', "\n  ");
        out.push_str(&format!(
            "  {}: {text}{}\n",
            serde_json::to_string(key)?,
            if i + 1 < order.len() { "," } else { "" }
        ));
    }
    out.push_str("}\n");
    Ok(out)
}
