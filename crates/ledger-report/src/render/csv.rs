//! CSV: one file of tables (RFC 4180 quoting). The first line is a `#` comment with the
//! verdict; each table follows a `[name]` title row and a header row, separated by a blank
//! line. The `mines` and `smelters` tables use the column names of the RMI Extended Minerals
//! Reporting Template (EMRT 2.x) "Mine List" and "Smelter List" tabs, so their rows can be
//! pasted there; `origins` and `due_diligence` carry the ledger's own detail.

use ledger_core::quantity::Unit;

use crate::figures::{ReportData, metal_name};
use crate::num::{kg, percent, ppm};
use crate::render::{feedstock_name, headline, method_name, quantity_parts};

/// Quotes a field when it needs it. Text a spreadsheet would run as a formula gets a
/// leading apostrophe.
fn field(text: &str) -> String {
    let formula = text.starts_with(['=', '+', '-', '@']) && text.parse::<f64>().is_err();
    let t = if formula {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if formula || t.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", t.replace('"', "\"\""))
    } else {
        t
    }
}

fn row(out: &mut String, fields: &[String]) {
    let line: Vec<String> = fields.iter().map(|f| field(f)).collect();
    out.push_str(&line.join(","));
    out.push_str("\r\n");
}

fn table(out: &mut String, name: &str, header: &[&str], rows: Vec<Vec<String>>) {
    out.push_str("\r\n");
    out.push_str(&format!("[{name}]\r\n"));
    row(
        out,
        &header.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>(),
    );
    for r in rows {
        row(out, &r);
    }
}

fn yes(b: bool) -> String {
    if b { "Yes".into() } else { "No".into() }
}

/// Renders the CSV tables.
pub fn render(data: &ReportData) -> String {
    let mut out = format!("# {}\r\n", headline(data));
    let v = &data.verification;
    table(
        &mut out,
        "report",
        &["schema", "lot", "verdict", "errors", "warnings", "as_of"],
        vec![vec![
            crate::JSON_SCHEMA.into(),
            data.lot.to_string(),
            if data.passed() {
                "pass".into()
            } else {
                "fail".into()
            },
            v.errors().to_string(),
            v.warnings().to_string(),
            data.as_of.to_string(),
        ]],
    );
    table(
        &mut out,
        "findings",
        &[
            "rule", "severity", "seq", "event", "party", "lot", "message",
        ],
        v.findings
            .iter()
            .map(|f| {
                vec![
                    f.rule.code().into(),
                    format!("{:?}", f.severity).to_lowercase(),
                    f.seq.map(|s| s.to_string()).unwrap_or_default(),
                    f.event.map(|e| e.to_hex()).unwrap_or_default(),
                    f.party.as_ref().map(|p| p.to_string()).unwrap_or_default(),
                    f.lot.as_ref().map(|l| l.to_string()).unwrap_or_default(),
                    f.message.clone(),
                ]
            })
            .collect(),
    );
    let mut origins = Vec::new();
    for c in &data.components {
        for (i, s) in &c.shares {
            let Some(o) = data.origins.get(*i) else {
                continue;
            };
            origins.push(vec![
                metal_name(&c.component),
                c.component.to_string(),
                if o.recycled() {
                    "recycled".into()
                } else {
                    o.party_name.clone()
                },
                o.site
                    .as_ref()
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "recycled".into()),
                o.country.to_string(),
                o.party.to_string(),
                o.method.map(method_name).unwrap_or("").into(),
                o.feedstock.map(feedstock_name).unwrap_or("").into(),
                yes(o.high_risk),
                yes(o.artisanal()),
                percent(*s, 4),
                ppm(*s).to_string(),
            ]);
        }
    }
    table(
        &mut out,
        "origins",
        &[
            "metal",
            "element",
            "mine",
            "site",
            "country",
            "party",
            "method",
            "feedstock",
            "high_risk",
            "artisanal",
            "share_percent",
            "share_ppm",
        ],
        origins,
    );
    let mut countries = Vec::new();
    for c in &data.components {
        for (country, s) in &c.by_country {
            countries.push(vec![
                metal_name(&c.component),
                c.component.to_string(),
                country.to_string(),
                percent(*s, 4),
                ppm(*s).to_string(),
            ]);
        }
    }
    table(
        &mut out,
        "countries",
        &["metal", "element", "country", "share_percent", "share_ppm"],
        countries,
    );
    table(
        &mut out,
        "recycled_content",
        &[
            "metal",
            "element",
            "recycled_percent",
            "pre_consumer_percent",
            "post_consumer_percent",
            "eu_minimum_2031_percent",
            "meets_2031",
            "eu_minimum_2036_percent",
            "meets_2036",
        ],
        data.components
            .iter()
            .map(|c| {
                let m = c.eu_minimum;
                vec![
                    metal_name(&c.component),
                    c.component.to_string(),
                    percent(c.recycled.total(), 4),
                    percent(c.recycled.pre_consumer, 4),
                    percent(c.recycled.post_consumer, 4),
                    m.map(|m| m.from_2031.to_string()).unwrap_or_default(),
                    m.map(|m| yes(m.meets_2031)).unwrap_or_default(),
                    m.map(|m| m.from_2036.to_string()).unwrap_or_default(),
                    m.map(|m| yes(m.meets_2036)).unwrap_or_default(),
                ]
            })
            .collect(),
    );
    // RMI EMRT 2.x "Mine List" columns (those the ledger can fill): one row per mine and
    // the smelter or refiner it fed (blank when no refiner is in the chain).
    let mut mines = Vec::new();
    for c in &data.components {
        for (i, _) in &c.shares {
            let Some(o) = data.origins.get(*i) else {
                continue;
            };
            let Some(site) = &o.site else { continue };
            let fed: Vec<&crate::figures::SmelterRow> = data
                .smelters
                .iter()
                .filter(|s| s.origins.contains(i) && s.components.contains(&c.component))
                .collect();
            let smelters: Vec<Option<&crate::figures::SmelterRow>> = if fed.is_empty() {
                vec![None]
            } else {
                fed.into_iter().map(Some).collect()
            };
            for s in smelters {
                mines.push(vec![
                    metal_name(&c.component),
                    s.map(|s| s.name.clone()).unwrap_or_default(),
                    s.and_then(|s| s.country.as_ref())
                        .map(|c| c.to_string())
                        .unwrap_or_default(),
                    s.map(|s| s.party.to_string()).unwrap_or_default(),
                    o.party_name.clone(),
                    site.to_string(),
                    "custody ledger site id".into(),
                    o.country.to_string(),
                    format!(
                        "{} mine, operated by {}",
                        o.method.map(method_name).unwrap_or(""),
                        o.party
                    ),
                ]);
            }
        }
    }
    table(
        &mut out,
        "mines",
        &[
            "Metal",
            "Smelter Name",
            "Smelter Country",
            "Smelter Identification",
            "Mine Name",
            "Mine Identification",
            "Source of Mine Identification Number",
            "Mine Country",
            "Comments",
        ],
        mines,
    );
    // RMI EMRT 2.x "Smelter List" columns (those the ledger can fill).
    let mut smelters = Vec::new();
    for s in &data.smelters {
        let feeding: Vec<&crate::figures::OriginRow> = s
            .origins
            .iter()
            .filter_map(|i| data.origins.get(*i))
            .collect();
        let all_recycled = !feeding.is_empty() && feeding.iter().all(|o| o.recycled());
        let mine_names: Vec<String> = feeding
            .iter()
            .map(|o| {
                if o.recycled() {
                    "recycled".into()
                } else {
                    o.label()
                }
            })
            .collect();
        let mine_countries: Vec<String> = feeding
            .iter()
            .map(|o| {
                if o.recycled() {
                    "recycled".into()
                } else {
                    o.country.to_string()
                }
            })
            .collect();
        for c in &s.components {
            smelters.push(vec![
                metal_name(c),
                s.name.clone(),
                s.country
                    .as_ref()
                    .map(|c| c.to_string())
                    .unwrap_or_default(),
                s.party.to_string(),
                "custody ledger party id".into(),
                mine_names.join("; "),
                mine_countries.join("; "),
                yes(all_recycled),
                s.role.name().into(),
            ]);
        }
    }
    table(
        &mut out,
        "smelters",
        &[
            "Metal",
            "Smelter Name",
            "Smelter Country",
            "Smelter Identification",
            "Source of Smelter Identification Number",
            "Name of Mine(s) or if recycled or scrap sourced, enter 'recycled' or 'scrap'",
            "Location (Country) of Mine(s) or if recycled or scrap sourced, enter 'recycled' or 'scrap'",
            "Does 100% of the smelter's feedstock originate from recycled or scrap sources?",
            "Comments",
        ],
        smelters,
    );
    table(
        &mut out,
        "due_diligence",
        &[
            "party",
            "name",
            "country",
            "roles",
            "activities",
            "verdict",
            "open_caps",
            "gaps",
            "attestations",
        ],
        data.parties
            .iter()
            .map(|p| {
                vec![
                    p.party.to_string(),
                    p.name.clone(),
                    p.country
                        .as_ref()
                        .map(|c| c.to_string())
                        .unwrap_or_default(),
                    p.roles
                        .iter()
                        .map(|r| r.name())
                        .collect::<Vec<_>>()
                        .join(" "),
                    p.activities
                        .iter()
                        .map(|k| k.name())
                        .collect::<Vec<_>>()
                        .join(" "),
                    p.verdict.name().into(),
                    p.open_caps.join("; "),
                    p.gaps.join("; "),
                    p.attestations
                        .iter()
                        .map(|a| {
                            format!(
                                "{} [{}]",
                                crate::figures::claim_text(&a.record.attest),
                                a.standing.name()
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("; "),
                ]
            })
            .collect(),
    );
    let f = &data.footprint;
    let basis = match data.product.unit {
        Unit::Pcs => "per piece",
        Unit::Kg => "per kg",
    };
    let mut fp = vec![
        vec![
            "per lot".into(),
            kg(f.lot_total),
            kg(f.lot.extraction),
            kg(f.lot.production),
            kg(f.lot.distribution),
            kg(f.lot.recycling),
        ],
        vec![
            basis.into(),
            kg(f.per_unit_total),
            kg(f.per_unit.extraction),
            kg(f.per_unit.production),
            kg(f.per_unit.distribution),
            kg(f.per_unit.recycling),
        ],
    ];
    if let (Some(s), Some(t)) = (f.per_kwh, f.per_kwh_total) {
        fp.push(vec![
            "per kWh".into(),
            kg(t),
            kg(s.extraction),
            kg(s.production),
            kg(s.distribution),
            kg(s.recycling),
        ]);
    }
    table(
        &mut out,
        "carbon_footprint_kg_co2e",
        &[
            "basis",
            "total",
            "raw_material_extraction",
            "main_production",
            "distribution",
            "recycling",
        ],
        fp,
    );
    table(
        &mut out,
        "chain_of_custody",
        &[
            "seq",
            "time",
            "kind",
            "actor",
            "lot",
            "quantity",
            "unit",
            "counterparty",
            "emissions_kg_co2e",
            "event",
        ],
        data.events
            .iter()
            .flat_map(|ce| {
                let e = &ce.event;
                let mut lines: Vec<(String, ledger_core::quantity::Quantity, String)> = Vec::new();
                match &e.body {
                    ledger_core::event::Body::Extract(x) => lines.extend(
                        x.outputs
                            .iter()
                            .map(|o| (o.lot.to_string(), o.quantity, x.site.id.to_string())),
                    ),
                    ledger_core::event::Body::Recycle(r) => lines.extend(
                        r.outputs
                            .iter()
                            .map(|o| (o.lot.to_string(), o.quantity, String::new())),
                    ),
                    ledger_core::event::Body::Ship(s) => lines.extend(
                        s.lots
                            .iter()
                            .map(|m| (m.lot.to_string(), m.quantity, s.to.to_string())),
                    ),
                    ledger_core::event::Body::Receive(r) => lines.extend(
                        r.lots
                            .iter()
                            .map(|m| (m.lot.to_string(), m.quantity, r.shipment.to_hex())),
                    ),
                    ledger_core::event::Body::Transform(t) => {
                        lines.extend(
                            t.inputs
                                .iter()
                                .map(|m| (m.lot.to_string(), m.quantity, "input".to_owned())),
                        );
                        lines.extend(
                            t.outputs
                                .iter()
                                .map(|o| (o.lot.to_string(), o.quantity, "output".to_owned())),
                        );
                    }
                    _ => {}
                }
                lines
                    .into_iter()
                    .map(|(lot, q, other)| {
                        let (amount, unit) = quantity_parts(q);
                        vec![
                            ce.seq.to_string(),
                            e.time.to_string(),
                            e.body.kind().name().into(),
                            e.actor.to_string(),
                            lot,
                            amount,
                            unit.into(),
                            other,
                            crate::render::emissions_kg(e).unwrap_or_default(),
                            ce.id.to_hex(),
                        ]
                    })
                    .collect::<Vec<_>>()
            })
            .collect(),
    );
    out
}
