//! Battery-passport sections, shaped like the Battery Pass consortium data model v1.2.0
//! (DIN DKE SPEC 99100): `carbonFootprint` (aspect CarbonFootprintForBatteries),
//! `circularity` (aspect Circularity, its `recycledContent`) and `supplyChainDueDiligence`
//! (aspect SupplyChainDueDiligence). Each section holds only attributes the ledger can
//! substantiate; `unfilled` lists, per section, the aspect's other attributes, which the
//! passport issuer must supply (for example the Carbon Footprint Declaration's performance
//! class, dismantling documents, the published due-diligence report's address). The
//! verdict is the first member; `dueDiligenceEvidence` carries the per-party status behind
//! the due-diligence section.

use serde_json::{Value, json};

use crate::figures::{ReportData, metal_name};
use crate::num::{json_number, kg, percent};
use crate::{PASSPORT_SCHEMA, ReportError};

/// The Battery Pass data model version the sections follow.
pub const BATTERY_PASS_VERSION: &str = "1.2.0";

/// The materials the Circularity aspect's `recycledMaterial` enumerates.
const RECYCLED_MATERIALS: [&str; 4] = ["Cobalt", "Nickel", "Lithium", "Lead"];

/// The three aspect sections, keyed by their passport member name.
pub fn sections(data: &ReportData) -> Vec<(&'static str, Value)> {
    let f = &data.footprint;
    let mut cf = serde_json::Map::new();
    // Per kWh of declared capacity where the product declares one; else per product unit.
    let (stages, total) = match (f.per_kwh, f.per_kwh_total) {
        (Some(s), Some(t)) => (s, t),
        _ => (f.per_unit, f.per_unit_total),
    };
    if f.per_kwh.is_some() {
        cf.insert("batteryCarbonFootprint".into(), json_number(&kg(total)));
    }
    let per_stage: Vec<Value> = stages
        .named()
        .iter()
        .map(|(stage, v)| json!({"lifecycleStage": stage, "carbonFootprint": json_number(&kg(*v))}))
        .collect();
    cf.insert(
        "carbonFootprintPerLifecycleStage".into(),
        Value::Array(per_stage),
    );
    cf.insert(
        "absoluteCarbonFootprint".into(),
        json_number(&kg(f.per_unit_total)),
    );

    let recycled: Vec<Value> = data
        .components
        .iter()
        .filter(|c| RECYCLED_MATERIALS.contains(&metal_name(&c.component).as_str()))
        .map(|c| {
            json!({
                "recycledMaterial": metal_name(&c.component),
                "preConsumerShare": json_number(&percent(c.recycled.pre_consumer, 4)),
                "postConsumerShare": json_number(&percent(c.recycled.post_consumer, 4)),
            })
        })
        .collect();
    vec![
        ("carbonFootprint", Value::Object(cf)),
        ("circularity", json!({"recycledContent": recycled})),
        ("supplyChainDueDiligence", json!({})),
    ]
}

/// Renders the passport export; a lot bound to a GTIN and serial gets `digitalLink`, its
/// Digital Link URL under `base_url` and that URL's QR code (SVG).
pub fn render(data: &ReportData, base_url: &str) -> Result<String, ReportError> {
    let sections = sections(data);
    let mut unfilled_cf = vec!["carbonFootprintPerformanceClass", "carbonFootprintStudy"];
    if data.footprint.per_kwh.is_none() {
        unfilled_cf.insert(0, "batteryCarbonFootprint");
    }
    let unfilled = json!({
        "carbonFootprint": unfilled_cf,
        "circularity": ["dismantlingAndRemovalInformation", "sparePartSources", "safetyMeasures", "endOfLifeInformation", "renewableContent"],
        "supplyChainDueDiligence": ["supplyChainDueDiligenceReport", "thirdPartyAussurances", "supplyChainIndicies"],
    });
    let evidence = json!({
        "verdict": data.verification.verdict,
        "errors": data.verification.errors(),
        "warnings": data.verification.warnings(),
        "findings": data.verification.findings.iter().map(|f| f.to_string()).collect::<Vec<_>>(),
        "parties": data.parties.iter().map(|p| json!({
            "party": p.party, "name": p.name, "country": p.country, "roles": p.roles,
            "verdict": p.verdict.name(), "gaps": p.gaps, "openCorrectiveActionPlans": p.open_caps,
        })).collect::<Vec<_>>(),
    });
    let basis = if data.footprint.per_kwh.is_some() {
        "carbon footprint in kg CO2e per kWh of declared capacity (absoluteCarbonFootprint: per battery), from the declared emissions of every step in the ledger; not the lifetime-energy functional unit of the Carbon Footprint Declaration"
    } else {
        "carbon footprint in kg CO2e per product unit, from the declared emissions of every step in the ledger"
    };
    let mut out = String::from("{\n");
    let mut members: Vec<(&str, Value)> = vec![
        ("verdict", json!(data.verification.verdict)),
        ("schema", json!(PASSPORT_SCHEMA)),
        ("batteryPassVersion", json!(BATTERY_PASS_VERSION)),
        ("lot", json!(data.lot)),
        ("asOf", json!(data.as_of)),
        ("basis", json!(basis)),
    ];
    members.extend(sections);
    if let Some((url, qr)) = crate::gs1::product_qr(data, base_url)? {
        members.push(("digitalLink", json!({"url": url, "qrCodeSvg": qr})));
    }
    members.push(("unfilled", unfilled));
    members.push(("dueDiligenceEvidence", evidence));
    let count = members.len();
    for (i, (k, v)) in members.into_iter().enumerate() {
        let text = serde_json::to_string_pretty(&v)?.replace('\n', "\n  ");
        out.push_str(&format!(
            "  {}: {text}{}\n",
            serde_json::to_string(k)?,
            if i + 1 < count { "," } else { "" }
        ));
    }
    out.push_str("}\n");
    Ok(out)
}
