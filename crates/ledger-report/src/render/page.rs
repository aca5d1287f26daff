//! The battery passport page served at a module's GS1 Digital Link (`/01/{gtin}/21/{serial}`):
//! HTML for people, JSON-LD for machines, and the Digital Link linkset for resolvers.
//!
//! Like every renderer it only formats [`ReportData`]; the Battery Pass field names come from
//! [`super::passport::sections`]. What a [`Tier`] sees is decided here, once, for all three
//! forms: the public tier gets Annex XIII(1) data only, the restricted tier adds the
//! detailed composition, the mine sites and the suppliers' names (`docs/passport.md`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::figures::{ComponentFigures, DdVerdict, ReportData, metal_name};
use crate::gs1::Binding;
use crate::num::{decimal, json_number, kg, percent};
use crate::render::passport::{BATTERY_PASS_VERSION, sections};
use crate::render::{method_name, quantity_parts};

/// The `schema` member of the passport page's JSON-LD.
pub const PAGE_SCHEMA: &str = "custody-passport-page/1";

/// Who the page is rendered for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tier {
    /// Anyone: Annex XIII(1) data only.
    Public,
    /// An enrolled party whose role gives it a legitimate interest (Annex XIII(2)-(4)).
    Restricted {
        /// The authenticated party.
        party: String,
    },
}

/// One passport page: the figures, the binding that led to them, and where the visitor's
/// browser finds what it needs to check them.
#[derive(Debug, Clone)]
pub struct Page<'a> {
    /// The verified report of the bound lot.
    pub data: &'a ReportData,
    /// The GTIN and serial the lot is bound to.
    pub binding: &'a Binding,
    /// The resolver host of the Digital Link URL.
    pub base_url: &'a str,
    /// Who it is for.
    pub tier: Tier,
    /// The operator's checkpoint verifier key (C2SP vkey), printed for the visitor.
    pub verifier_key: &'a str,
    /// Where the page's script fetches the evidence bundle.
    pub bundle_url: &'a str,
    /// The in-browser verifier script, if served.
    pub script_url: Option<&'a str>,
    /// The QR code of the Digital Link URL (SVG).
    pub qr_svg: &'a str,
}

/// Escapes text for HTML.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The components the Regulation sets recycled-content minimums for, in the product.
fn regulated(data: &ReportData) -> impl Iterator<Item = &ComponentFigures> {
    data.components.iter().filter(|c| c.eu_minimum.is_some())
}

/// Watt-hours as kWh text.
fn kwh(wh: u64) -> String {
    decimal(u128::from(wh), 3, 3)
}

/// Milligrams as kg text.
fn mg_as_kg(mg: u64) -> String {
    decimal(u128::from(mg), 6, 6)
}

/// The public due-diligence summary: how many suppliers on the way meet the policy, the
/// latest on-site audit and the open corrective action plans, without naming anyone.
struct DdSummary {
    suppliers: usize,
    meets: usize,
    gaps: usize,
    fails: usize,
    audited: usize,
    latest_audit: Option<String>,
    open_caps: usize,
}

fn dd_summary(data: &ReportData) -> DdSummary {
    let count = |v: DdVerdict| data.parties.iter().filter(|p| p.verdict == v).count();
    let audits = |p: &crate::figures::PartyStatus| {
        p.attestations
            .iter()
            .filter(|a| {
                a.record.attest.claim == ledger_core::event::Claim::OnsiteAudit
                    && a.standing == crate::figures::Standing::Valid
            })
            .map(|a| a.record.time)
            .max()
    };
    DdSummary {
        suppliers: data.parties.len(),
        meets: count(DdVerdict::Meets),
        gaps: count(DdVerdict::Gaps),
        fails: count(DdVerdict::Fails),
        audited: data.parties.iter().filter(|p| audits(p).is_some()).count(),
        latest_audit: data
            .parties
            .iter()
            .filter_map(audits)
            .max()
            .map(|t| t.to_string()),
        open_caps: data.parties.iter().map(|p| p.open_caps.len()).sum(),
    }
}

/// The suppliers on the way counted by roles, country and verdict: the public tier's view,
/// which names no one.
fn suppliers_by_role(data: &ReportData) -> BTreeMap<(String, String, &'static str), usize> {
    let mut rows = BTreeMap::new();
    for p in &data.parties {
        let roles = p
            .roles
            .iter()
            .map(|r| r.name())
            .collect::<Vec<_>>()
            .join(", ");
        let country = p
            .country
            .as_ref()
            .map(|c| c.to_string())
            .unwrap_or_default();
        *rows.entry((roles, country, p.verdict.name())).or_insert(0) += 1;
    }
    rows
}

impl Page<'_> {
    fn url(&self) -> String {
        self.binding.url(self.base_url)
    }

    fn manufacturer(&self) -> (String, String) {
        let creator = &self.data.product.creator;
        let country = self
            .data
            .party(creator)
            .and_then(|p| p.country.as_ref().map(|c| c.to_string()))
            .unwrap_or_default();
        (self.data.party_name(creator), country)
    }

    fn manufactured(&self) -> Option<String> {
        self.data
            .event(&self.data.product.created_by)
            .map(|e| e.event.time.to_string())
    }

    /// The claims the in-browser verifier checks against the bundle: the product as created
    /// and the countries of origin of each component, exactly as shown.
    fn claims(&self) -> Value {
        let product = &self.data.product;
        let (amount, unit) = quantity_parts(product.created);
        json!({
            "lot": self.data.lot,
            "created_by": product.created_by,
            "quantity": amount,
            "unit": unit,
            "capacity_wh": product.capacity_wh,
            "unit_mass_mg": product.unit_mass_mg,
            "content": product.content.iter().map(|(c, v)| (c.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
            "countries": self.data.components.iter().map(|c| {
                (c.component.to_string(), json!(c.by_country.iter().map(|(k, _)| k.to_string()).collect::<BTreeSet<_>>()))
            }).collect::<serde_json::Map<_, _>>(),
            "verdict": self.data.verification.verdict,
        })
    }

    /// The JSON-LD form: the Battery Pass sections under their data-model names, with
    /// Custody's own terms under `cus:`.
    pub fn jsonld(&self) -> Value {
        let data = self.data;
        let (maker, maker_country) = self.manufacturer();
        let mut doc = serde_json::Map::new();
        doc.insert(
            "@context".into(),
            json!({
                "gs1": "https://gs1.org/voc/",
                "cus": "https://custody.example/voc/",
                "@vocab": "https://custody.example/voc/batterypass/",
            }),
        );
        doc.insert("@id".into(), json!(self.url()));
        doc.insert("@type".into(), json!("BatteryPassport"));
        doc.insert("verdict".into(), json!(data.verification.verdict));
        doc.insert("schema".into(), json!(PAGE_SCHEMA));
        doc.insert("batteryPassVersion".into(), json!(BATTERY_PASS_VERSION));
        doc.insert(
            "accessLevel".into(),
            json!(match &self.tier {
                Tier::Public => "public",
                Tier::Restricted { .. } => "legitimate-interest",
            }),
        );
        doc.insert("asOf".into(), json!(data.as_of));
        doc.insert(
            "generalProductInformation".into(),
            json!({
                "productIdentifier": self.url(),
                "gs1:gtin": self.binding.gtin.to_string(),
                "gs1:serialNumber": self.binding.serial.as_str(),
                "cus:lot": data.lot,
                "batteryModel": self.binding.model,
                "manufacturerInformation": {"manufacturerName": maker, "cus:country": maker_country},
                "manufacturingDate": self.manufactured(),
                "batteryWeight": data.product.unit_mass_mg.map(|mg| json_number(&mg_as_kg(mg))),
                "cus:productDocumentationSha256": self.binding.documentation,
            }),
        );
        doc.insert(
            "performance".into(),
            json!({"ratedCapacity": data.product.capacity_wh.map(|wh| json_number(&kwh(wh)))}),
        );
        let mut composition = json!({
            "batteryChemistry": self.binding.chemistry.as_ref().map(|c| json!({"shortName": c})),
        });
        if matches!(self.tier, Tier::Restricted { .. }) {
            composition["batteryMaterials"] = json!(
                data.product
                    .content
                    .iter()
                    .map(|(c, mg)| json!({"materialName": metal_name(c), "cus:component": c, "materialWeight": json_number(&mg_as_kg(*mg))}))
                    .collect::<Vec<_>>()
            );
        }
        doc.insert("materialComposition".into(), composition);
        for (name, section) in sections(data) {
            doc.insert(name.into(), section);
        }
        doc.insert(
            "cus:recycledContentMinimums".into(),
            json!(
                regulated(data)
                    .filter_map(|c| c.eu_minimum.map(|m| (c, m)))
                    .map(|(c, m)| json!({
                        "recycledMaterial": metal_name(&c.component),
                        "share": json_number(&percent(c.recycled.total(), 4)),
                        "from2031Percent": m.from_2031, "meets2031": m.meets_2031,
                        "from2036Percent": m.from_2036, "meets2036": m.meets_2036,
                    }))
                    .collect::<Vec<_>>()
            ),
        );
        doc.insert(
            "cus:countriesOfOrigin".into(),
            json!(
                data.components
                    .iter()
                    .map(|c| json!({
                        "component": c.component,
                        "countries": c.by_country.iter().map(|(k, s)| json!({"country": k, "percent": json_number(&percent(*s, 2))})).collect::<Vec<_>>(),
                    }))
                    .collect::<Vec<_>>()
            ),
        );
        let dd = dd_summary(data);
        doc.insert(
            "cus:dueDiligenceSummary".into(),
            json!({
                "suppliers": dd.suppliers, "meetPolicy": dd.meets, "withGaps": dd.gaps,
                "failPolicy": dd.fails, "audited": dd.audited, "latestAudit": dd.latest_audit,
                "openCorrectiveActionPlans": dd.open_caps,
            }),
        );
        if matches!(self.tier, Tier::Restricted { .. }) {
            doc.insert("cus:origins".into(), json!(data.components.iter().map(|c| json!({
                "component": c.component,
                "origins": c.shares.iter().filter_map(|(i, s)| data.origins.get(*i).map(|o| json!({
                    "site": o.site, "party": o.party, "partyName": o.party_name, "country": o.country,
                    "method": o.method.map(method_name), "recycled": o.recycled(), "highRisk": o.high_risk,
                    "percent": json_number(&percent(*s, 2)),
                }))).collect::<Vec<_>>(),
            })).collect::<Vec<_>>()));
            doc.insert("cus:suppliers".into(), json!(data.parties.iter().map(|p| json!({
                "party": p.party, "name": p.name, "country": p.country, "roles": p.roles,
                "verdict": p.verdict.name(), "gaps": p.gaps, "openCorrectiveActionPlans": p.open_caps,
                "attestations": p.attestations.iter().map(|a| json!({
                    "claim": a.record.attest.claim.name(), "auditor": a.record.auditor,
                    "time": a.record.time, "standing": a.standing.name(),
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>()));
        }
        doc.insert(
            "cus:verification".into(),
            json!({
                "verdict": data.verification.verdict,
                "errors": data.verification.errors(),
                "warnings": data.verification.warnings(),
                "operatorVerifierKey": self.verifier_key,
                "evidenceBundle": self.bundle_url,
            }),
        );
        Value::Object(doc)
    }

    /// The GS1 Digital Link linkset (RFC 9264 `application/linkset+json`) for resolvers: the
    /// passport page in HTML and JSON-LD, and the evidence bundle.
    pub fn linkset(&self) -> Value {
        let url = self.url();
        let title = format!(
            "Battery passport of {} serial {}",
            self.binding.gtin, self.binding.serial
        );
        json!({
            "linkset": [{
                "anchor": url,
                "https://gs1.org/voc/defaultLink": [{"href": url, "title": title, "type": "text/html"}],
                "https://gs1.org/voc/sustainabilityInfo": [
                    {"href": url, "title": title, "type": "text/html"},
                    {"href": url, "title": title, "type": "application/ld+json"},
                ],
                "https://gs1.org/voc/traceability": [{
                    "href": self.bundle_url, "title": "Custody evidence bundle (docs/format.md §8)",
                    "type": "application/octet-stream",
                }],
            }]
        })
    }

    /// The HTML page: works without JavaScript; the script only adds the in-browser check.
    pub fn html(&self) -> String {
        let data = self.data;
        let b = self.binding;
        let (maker, maker_country) = self.manufacturer();
        let mut h = String::new();
        let title = format!("Battery passport {} / {}", b.gtin, b.serial);
        let _ = write!(
            h,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n",
            esc(&title)
        );
        let verdict_class = if data.passed() { "pass" } else { "fail" };
        let verdict_text = if data.passed() {
            "Provenance verified by the ledger: PASS"
        } else {
            "Provenance did NOT verify: FAIL"
        };
        let _ = write!(
            h,
            "<header class=\"top\">\n<div>\n<h1>Battery passport</h1>\n\
             <p class=\"banner {verdict_class}\">{verdict_text} ({} errors, {} warnings)</p>\n\
             <dl class=\"ids\">\n",
            data.verification.errors(),
            data.verification.warnings()
        );
        let row = |h: &mut String, k: &str, v: &str| {
            let _ = writeln!(h, "<div><dt>{}</dt><dd>{}</dd></div>", esc(k), esc(v));
        };
        let declared = |v: &Option<String>| v.clone().unwrap_or_else(|| "not declared".into());
        row(
            &mut h,
            "Manufacturer",
            &format!("{maker} ({maker_country})"),
        );
        row(&mut h, "Model", &declared(&b.model));
        row(&mut h, "GTIN", &b.gtin.to_string());
        row(&mut h, "Serial", b.serial.as_str());
        row(&mut h, "Batch (ledger lot)", data.lot.as_str());
        row(&mut h, "Chemistry", &declared(&b.chemistry));
        row(
            &mut h,
            "Rated capacity",
            &data
                .product
                .capacity_wh
                .map_or("not declared".into(), |wh| format!("{} kWh", kwh(wh))),
        );
        if let Some(mg) = data.product.unit_mass_mg {
            row(&mut h, "Weight", &format!("{} kg", mg_as_kg(mg)));
        }
        if let Some(t) = self.manufactured() {
            row(&mut h, "Manufactured", &t);
        }
        let _ = write!(
            h,
            "</dl>\n</div>\n<figure class=\"qr\">{}<figcaption><a href=\"{url}\">{url}</a></figcaption></figure>\n</header>\n",
            self.qr_svg,
            url = esc(&self.url())
        );

        // The figures, in cards that sit side by side on a desktop.
        h.push_str("<div class=\"cards\">\n");
        let f = &data.footprint;
        h.push_str("<section class=\"card\" id=\"carbon\">\n<h2>Carbon footprint</h2>\n");
        match f.per_kwh_total {
            Some(total) => {
                let _ = writeln!(
                    h,
                    "<p class=\"big\">{} <span>kg CO2e per kWh</span></p>",
                    kg(total)
                );
            }
            None => h.push_str("<p>No capacity declared: figures per battery.</p>\n"),
        }
        let stages = f.per_kwh.unwrap_or(f.per_unit);
        let per = if f.per_kwh.is_some() {
            "kWh"
        } else {
            "battery"
        };
        let _ = write!(
            h,
            "<table><caption>kg CO2e per {per}, by life-cycle stage</caption>\n<tr><th scope=\"col\">Stage</th><th scope=\"col\">kg CO2e</th></tr>\n"
        );
        for (stage, v) in stages.named() {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td class=\"n\">{}</td></tr>",
                stage_text(stage),
                kg(v)
            );
        }
        let _ = write!(
            h,
            "</table>\n<p class=\"small\">Per battery: {} kg CO2e{}. Declared step emissions, not a life-cycle assessment.</p>\n</section>\n",
            kg(f.per_unit_total),
            if f.complete {
                ""
            } else {
                " (incomplete chain)"
            }
        );

        h.push_str("<section class=\"card\" id=\"recycled\">\n<h2>Recycled content</h2>\n");
        let mut any = false;
        h.push_str("<table><caption>Share recycled against the EU minimums (Art. 8)</caption>\n<tr><th scope=\"col\">Element</th><th scope=\"col\">Recycled</th><th scope=\"col\">2031</th><th scope=\"col\">2036</th></tr>\n");
        for c in regulated(data) {
            let Some(m) = c.eu_minimum else { continue };
            any = true;
            let mark = |min: u32, ok: bool| {
                format!(
                    "<td class=\"{}\">{min}% {}</td>",
                    if ok { "ok" } else { "no" },
                    if ok { "met" } else { "not met" }
                )
            };
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td class=\"n\">{}%</td>{}{}</tr>",
                esc(&metal_name(&c.component)),
                percent(c.recycled.total(), 2),
                mark(m.from_2031, m.meets_2031),
                mark(m.from_2036, m.meets_2036)
            );
        }
        if !any {
            h.push_str("<tr><td colspan=\"4\">No regulated element (Co, Li, Ni, Pb) in the product.</td></tr>\n");
        }
        h.push_str("</table>\n</section>\n");

        h.push_str("<section class=\"card\" id=\"origins\">\n<h2>Countries of origin</h2>\n<table><caption>Share of each element by country of the mine or recycler</caption>\n<tr><th scope=\"col\">Element</th><th scope=\"col\">Countries</th></tr>\n");
        for c in &data.components {
            let countries = c
                .by_country
                .iter()
                .map(|(k, s)| format!("<span data-country=\"{k}\">{k} {}%</span>", percent(*s, 2)))
                .collect::<Vec<_>>()
                .join(", ");
            let _ = writeln!(
                h,
                "<tr data-component=\"{c}\"><td>{}</td><td>{countries}</td></tr>",
                esc(&metal_name(&c.component)),
                c = esc(c.component.as_str()),
            );
        }
        h.push_str("</table>\n</section>\n");

        let dd = dd_summary(data);
        let _ = write!(
            h,
            "<section class=\"card\" id=\"diligence\">\n<h2>Due diligence</h2>\n<ul>\n\
             <li>{} suppliers on the way: {} meet the policy, {} with gaps, {} fail it</li>\n\
             <li>{} audited on site{}</li>\n<li>{} open corrective action plans</li>\n</ul>\n",
            dd.suppliers,
            dd.meets,
            dd.gaps,
            dd.fails,
            dd.audited,
            dd.latest_audit
                .map(|t| format!(", latest audit {t}"))
                .unwrap_or_default(),
            dd.open_caps
        );
        h.push_str("<table><caption>Suppliers by role and country</caption>\n<tr><th scope=\"col\">Role</th><th scope=\"col\">Country</th><th scope=\"col\">Policy</th></tr>\n");
        for ((roles, country, verdict), n) in suppliers_by_role(data) {
            let _ = writeln!(
                h,
                "<tr><td>{}{}</td><td>{country}</td><td>{verdict}</td></tr>",
                esc(&roles),
                if n > 1 {
                    format!(" × {n}")
                } else {
                    String::new()
                },
            );
        }
        h.push_str("</table>\n</section>\n</div>\n");

        if let Tier::Restricted { party } = &self.tier {
            self.restricted_html(&mut h, party);
        }

        // The in-browser check: the script fills in the status; without it, the text says
        // what it would have done.
        let _ = write!(
            h,
            "<section id=\"verify\" aria-labelledby=\"verify-h\" data-bundle=\"{bundle}\">\n<h2 id=\"verify-h\">Check it yourself</h2>\n\
             <p id=\"verify-status\" role=\"status\" aria-live=\"polite\" class=\"pending\">Not checked: checking this page in your browser needs JavaScript. \
             You can download the <a href=\"{bundle}\">evidence bundle</a> and run <code>custody verify --bundle</code>.</p>\n\
             <ol id=\"verify-steps\"></ol>\n\
             <p class=\"small\">Operator checkpoint key: <code id=\"vkey\">{vkey}</code></p>\n</section>\n",
            bundle = esc(self.bundle_url),
            vkey = esc(self.verifier_key)
        );
        let claims = self.claims().to_string().replace('<', "\\u003c");
        let _ = writeln!(
            h,
            "<script type=\"application/json\" id=\"passport-claims\">{claims}</script>"
        );
        if let Some(src) = self.script_url {
            let _ = writeln!(h, "<script type=\"module\" src=\"{}\"></script>", esc(src));
        }
        let _ = write!(
            h,
            "<footer class=\"small\">As of {}. Sections follow the Battery Pass data model {BATTERY_PASS_VERSION}; <a href=\"{}\">JSON-LD</a> with <code>Accept: application/ld+json</code>.</footer>\n</main>\n</body>\n</html>\n",
            data.as_of,
            esc(&self.url())
        );
        h
    }

    /// Annex XIII(2)-(4) detail for an authenticated party with a legitimate interest.
    fn restricted_html(&self, h: &mut String, party: &str) {
        let data = self.data;
        let _ = write!(
            h,
            "<section id=\"restricted\">\n<h2>Restricted information</h2>\n<p class=\"small\">Shown to {}: a party with a legitimate interest (Annex XIII(2)-(4)).</p>\n",
            esc(party)
        );
        h.push_str("<table><caption>Detailed composition, per battery</caption>\n<tr><th scope=\"col\">Material</th><th scope=\"col\">kg</th></tr>\n");
        for (c, mg) in data.product.content.iter() {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td class=\"n\">{}</td></tr>",
                esc(&metal_name(c)),
                mg_as_kg(*mg)
            );
        }
        h.push_str("</table>\n<table><caption>Origins by mine site or recycler</caption>\n<tr><th scope=\"col\">Element</th><th scope=\"col\">Origin</th><th scope=\"col\">Share</th></tr>\n");
        for c in &data.components {
            for (i, s) in &c.shares {
                let Some(o) = data.origins.get(*i) else {
                    continue;
                };
                let what = match (&o.site, o.method) {
                    (Some(site), Some(m)) => format!(
                        "mine {site} of {} ({}, {}){}",
                        o.party_name,
                        method_name(m),
                        o.country,
                        if o.high_risk {
                            ", high-risk country"
                        } else {
                            ""
                        }
                    ),
                    _ => format!("recycled by {} ({})", o.party_name, o.country),
                };
                let _ = writeln!(
                    h,
                    "<tr><td>{}</td><td>{}</td><td class=\"n\">{}%</td></tr>",
                    esc(c.component.as_str()),
                    esc(&what),
                    percent(*s, 2)
                );
            }
        }
        h.push_str("</table>\n<table><caption>Suppliers and their attestations</caption>\n<tr><th scope=\"col\">Supplier</th><th scope=\"col\">Attestations</th><th scope=\"col\">Open corrective actions</th></tr>\n");
        for p in &data.parties {
            let atts = p
                .attestations
                .iter()
                .map(|a| {
                    format!(
                        "{} by {} {} ({})",
                        a.record.attest.claim.name(),
                        data.party_name(&a.record.auditor),
                        a.record.time,
                        a.standing.name()
                    )
                })
                .collect::<Vec<_>>()
                .join("; ");
            let _ = writeln!(
                h,
                "<tr><td>{} ({})</td><td>{}</td><td>{}</td></tr>",
                esc(&p.name),
                p.country
                    .as_ref()
                    .map(|c| c.to_string())
                    .unwrap_or_default(),
                esc(&atts),
                esc(&p.open_caps.join(", "))
            );
        }
        h.push_str("</table>\n</section>\n");
    }
}

/// A Battery Pass life-cycle stage name for people.
fn stage_text(stage: &str) -> &'static str {
    match stage {
        "RawMaterialExtraction" => "Raw material extraction",
        "MainProduction" => "Main production",
        "Distribution" => "Distribution",
        _ => "Recycling",
    }
}

const STYLE: &str = r#"
*{box-sizing:border-box}
body{font-family:"DejaVu Sans",Arial,sans-serif;font-size:15px;color:#1a1a1a;margin:0;line-height:1.4;background:#fff}
main{max-width:1240px;margin:0 auto;padding:12px 16px}
h1{font-size:22px;margin:0 0 6px}
h2{font-size:16px;margin:0 0 6px;color:#1f2d5a}
a{color:#1a4d99}
.top{display:flex;flex-wrap:wrap;gap:12px;justify-content:space-between;align-items:flex-start}
.top>div{flex:1 1 520px;min-width:0}
.banner{padding:6px 10px;border-radius:6px;font-weight:bold;margin:0 0 8px}
.pass{background:#d9ead3;border:2px solid #2d5e17}
.fail{background:#f4cccc;border:2px solid #8a0000;color:#5c0000}
.ids{display:grid;grid-template-columns:repeat(auto-fill,minmax(230px,1fr));gap:2px 16px;margin:0}
.ids div{display:flex;gap:6px;min-width:0}
dt{font-weight:bold;white-space:nowrap}dt::after{content":"}
dd{margin:0;overflow-wrap:anywhere}
.qr{margin:0;width:170px;text-align:center;font-size:11px;overflow-wrap:anywhere}
.qr svg{width:160px;height:160px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(280px,1fr));gap:12px;margin-top:10px}
.card{border:1px solid #c5c9d6;border-radius:8px;padding:8px 10px;min-width:0}
.big{font-size:24px;font-weight:bold;margin:0}.big span{font-size:13px;font-weight:normal}
table{border-collapse:collapse;width:100%;margin:4px 0}
caption{text-align:left;font-size:12px;color:#444;padding-bottom:2px}
th,td{border:1px solid #c5c9d6;padding:2px 5px;text-align:left;vertical-align:top;overflow-wrap:break-word}
th{background:#e8eaf2}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.ok{color:#1e5210}td.no{color:#8a0000;font-weight:bold}
ul{margin:0;padding-left:18px}
.small{font-size:12px;color:#444}
code{font-size:12px;overflow-wrap:anywhere}
#verify,#restricted{margin-top:12px;border-top:2px solid #1f2d5a;padding-top:6px}
#verify-status{font-weight:bold;padding:6px 10px;border-radius:6px;border:2px solid #8a8a8a}
#verify-status.ok{background:#d9ead3;border-color:#2d5e17}
#verify-status.bad{background:#f4cccc;border-color:#8a0000;color:#5c0000}
footer{margin-top:12px}
"#;
