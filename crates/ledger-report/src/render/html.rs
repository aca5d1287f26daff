//! One self-contained HTML page: no scripts, no external fonts, styles or images. The
//! provenance graph is inline SVG, laid out in columns from the mines and recyclers (left)
//! to the product (right): one box per lot-creating event, one arrow per material flow
//! (shipments along the way are named on the arrow). Tables carry every figure; print CSS
//! keeps it readable as a PDF. A failed verdict is the first thing on the page.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use ledger_core::event::{Body, Method};
use ledger_core::finding::Severity;
use ledger_core::hash::Digest;
use ledger_core::id::{LotId, PartyId};
use ledger_core::quantity::{Quantity, Unit};

use crate::figures::{ReportData, claim_text, content_text, metal_name};
use crate::num::{kg, percent};
use crate::render::{
    emissions_kg, event_summary, feedstock_name, headline, method_name, origin_text, quantity_parts,
};

/// Escapes text for HTML and SVG.
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

const STYLE: &str = r#"
body{font-family:"DejaVu Sans","Helvetica Neue",Arial,sans-serif;font-size:13px;color:#222;margin:24px;line-height:1.35}
h1{font-size:22px;margin:0 0 6px}
h2{font-size:16px;border-bottom:2px solid #446;padding-bottom:2px;margin-top:26px}
h3{font-size:14px;margin:14px 0 4px}
table{border-collapse:collapse;width:100%;margin:6px 0 10px}
th,td{border:1px solid #bbb;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#e8eaf2}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.banner{padding:10px 14px;border-radius:6px;font-weight:bold;font-size:15px;margin-bottom:12px}
.pass{background:#d9ead3;border:2px solid #38761d}
.fail{background:#f4cccc;border:2px solid #990000;color:#660000}
.flag{display:inline-block;padding:0 5px;border-radius:3px;font-size:11px;margin-left:3px}
.risk{background:#f4cccc}.asm{background:#f6d7a7}.rec{background:#cfe2f3}
.meets{color:#38761d;font-weight:bold}.gaps{color:#b45f06;font-weight:bold}.fails{color:#990000;font-weight:bold}
.small{font-size:11px;color:#555}.mono{font-family:"DejaVu Sans Mono",monospace;font-size:10px;word-break:break-all}
svg{width:100%;height:auto;border:1px solid #ddd;background:#fcfcfd}
@page{size:A4 landscape;margin:12mm}
@media print{body{margin:0;font-size:10.5px}h2{break-after:avoid}tr,svg{break-inside:avoid}.banner{-webkit-print-color-adjust:exact;print-color-adjust:exact}th,.flag,svg{-webkit-print-color-adjust:exact;print-color-adjust:exact}}
"#;

/// A node of the flow graph: a lot-creating event.
struct FlowNode {
    id: Digest,
    column: usize,
    title: String,
    lines: Vec<String>,
    fill: &'static str,
}

/// An arrow of the flow graph.
struct FlowEdge {
    from: Digest,
    to: Digest,
    label: String,
    via: Vec<PartyId>,
}

/// The material flow between lot-creating events: each transform input followed back
/// through its shipments to the event that created the lot.
fn flow(data: &ReportData) -> (Vec<FlowNode>, Vec<FlowEdge>) {
    let by_id: HashMap<Digest, &crate::figures::ChainEvent> =
        data.events.iter().map(|e| (e.id, e)).collect();
    let creating = |e: &crate::figures::ChainEvent| {
        matches!(
            e.event.body,
            Body::Extract(_) | Body::Recycle(_) | Body::Transform(_)
        )
    };
    // Follows `lot` back from the event `from` to its creation, collecting the carriers.
    let back = |mut from: Digest, lot: &LotId| -> (Option<Digest>, Vec<PartyId>) {
        let mut via = Vec::new();
        for _ in 0..10_000 {
            let Some(ce) = by_id.get(&from) else {
                return (None, via);
            };
            match &ce.event.body {
                Body::Receive(r) => from = r.shipment,
                Body::Ship(s) => {
                    via.push(ce.event.actor.clone());
                    match s.lots.iter().find(|m| &m.lot == lot) {
                        Some(m) => from = m.from,
                        None => return (None, via),
                    }
                }
                _ => {
                    via.reverse();
                    return (Some(ce.id), via);
                }
            }
        }
        (None, via)
    };
    let mut edges = Vec::new();
    for ce in data.events.iter().filter(|e| creating(e)) {
        if let Body::Transform(t) = &ce.event.body {
            for m in &t.inputs {
                let (source, via) = back(m.from, &m.lot);
                if let Some(source) = source {
                    let (amount, unit) = quantity_parts(m.quantity);
                    edges.push(FlowEdge {
                        from: source,
                        to: ce.id,
                        label: format!("{} {amount} {unit}", m.lot),
                        via,
                    });
                }
            }
        }
    }
    // Columns, as late as possible: a node sits one column before its leftmost consumer,
    // the product in the last column, so most arrows span one column. Links point to
    // earlier events, so reverse log order sees consumers first.
    let mut consumers: HashMap<Digest, Vec<Digest>> = HashMap::new();
    for e in &edges {
        consumers.entry(e.from).or_default().push(e.to);
    }
    let mut to_product: HashMap<Digest, usize> = HashMap::new();
    for ce in data.events.iter().rev().filter(|e| creating(e)) {
        let d = consumers
            .get(&ce.id)
            .into_iter()
            .flatten()
            .filter_map(|to| to_product.get(to))
            .map(|d| d + 1)
            .max()
            .unwrap_or(0);
        to_product.insert(ce.id, d);
    }
    let deepest = to_product.values().copied().max().unwrap_or(0);
    let column: HashMap<Digest, usize> = to_product
        .iter()
        .map(|(id, d)| (*id, deepest - d))
        .collect();
    let nodes = data
        .events
        .iter()
        .filter(|e| creating(e))
        .map(|ce| {
            let e = &ce.event;
            let outputs: Vec<String> = e
                .body
                .outputs()
                .iter()
                .map(|o| {
                    let (a, u) = quantity_parts(o.quantity);
                    format!("{} {} {a} {u}", o.lot, o.material)
                })
                .collect();
            let (title, detail, fill) = match &e.body {
                Body::Extract(x) => {
                    let risk = data.origins.iter().any(|o| o.event == ce.id && o.high_risk);
                    let fill = if x.site.method == Method::Artisanal {
                        "#f6d7a7"
                    } else if risk {
                        "#f4cccc"
                    } else {
                        "#d9ead3"
                    };
                    let detail = format!("{} mine, {}", method_name(x.site.method), x.site.country);
                    (format!("Mine {}", x.site.id), Some(detail), fill)
                }
                Body::Recycle(r) => (
                    "Recycled".to_owned(),
                    Some(format!("{} scrap", feedstock_name(r.feedstock))),
                    "#cfe2f3",
                ),
                Body::Transform(t) if t.outputs.iter().any(|o| o.lot == data.lot) => {
                    ("Product".to_owned(), None, "#fff2cc")
                }
                _ => ("Processing".to_owned(), None, "#eeeeee"),
            };
            let mut lines: Vec<String> = detail.into_iter().collect();
            lines.push(data.party_name(&e.actor));
            lines.extend(outputs);
            FlowNode {
                id: ce.id,
                column: column.get(&ce.id).copied().unwrap_or(0),
                title,
                lines,
                fill,
            }
        })
        .collect();
    (nodes, edges)
}

/// Cuts text to `max` characters for a box.
fn fit(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(max - 1).collect::<String>())
    }
}

/// The provenance graph as inline SVG.
fn svg(data: &ReportData) -> String {
    let (nodes, edges) = flow(data);
    let (w, h, col_gap, row_gap, pad) = (180.0_f64, 74.0_f64, 90.0_f64, 34.0_f64, 12.0_f64);
    let mut columns: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, n) in nodes.iter().enumerate() {
        columns.entry(n.column).or_default().push(i);
    }
    // Order each column by the mean row of its predecessors, to limit crossings.
    let mut suppliers: HashMap<Digest, Vec<Digest>> = HashMap::new();
    for e in &edges {
        suppliers.entry(e.to).or_default().push(e.from);
    }
    let mut row: HashMap<Digest, f64> = HashMap::new();
    for members in columns.values_mut() {
        let key = |i: &usize| -> f64 {
            let preds: Vec<f64> = suppliers
                .get(&nodes[*i].id)
                .into_iter()
                .flatten()
                .filter_map(|from| row.get(from))
                .copied()
                .collect();
            if preds.is_empty() {
                *i as f64
            } else {
                preds.iter().sum::<f64>() / preds.len() as f64
            }
        };
        members.sort_by(|a, b| key(a).total_cmp(&key(b)));
        for (r, i) in members.iter().enumerate() {
            row.insert(nodes[*i].id, r as f64);
        }
    }
    let rows = columns.values().map(Vec::len).max().unwrap_or(1) as f64;
    let cols = columns.keys().max().map_or(1, |c| c + 1) as f64;
    let width = pad * 2.0 + cols * w + (cols - 1.0) * col_gap;
    let height = pad * 2.0 + rows * h + (rows - 1.0) * row_gap;
    let mut pos: HashMap<Digest, (f64, f64)> = HashMap::new();
    for (c, members) in &columns {
        let offset = (rows - members.len() as f64) * (h + row_gap) / 2.0;
        for (r, i) in members.iter().enumerate() {
            pos.insert(
                nodes[*i].id,
                (
                    pad + *c as f64 * (w + col_gap),
                    pad + offset + r as f64 * (h + row_gap),
                ),
            );
        }
    }
    let mut out = String::new();
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0} {height:.0}" role="img" aria-label="Provenance graph of {}"><defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#556"/></marker></defs>"##,
        esc(data.lot.as_str())
    );
    for e in &edges {
        let (Some((x1, y1)), Some((x2, y2))) = (pos.get(&e.from), pos.get(&e.to)) else {
            continue;
        };
        let (sx, sy, tx, ty) = (x1 + w, y1 + h / 2.0, *x2, y2 + h / 2.0);
        let mx = (sx + tx) / 2.0;
        let _ = write!(
            out,
            r##"<path d="M{sx:.1},{sy:.1} C{mx:.1},{sy:.1} {mx:.1},{ty:.1} {tx:.1},{ty:.1}" fill="none" stroke="#556" stroke-width="1.4" marker-end="url(#arrow)"/>"##
        );
        let (lx, ly) = (mx, (sy + ty) / 2.0);
        let (lot, quantity) = e.label.split_once(' ').unwrap_or((e.label.as_str(), ""));
        let via = e
            .via
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join(" → ");
        let _ = write!(
            out,
            r##"<g><title>{} shipped by {}</title><text x="{lx:.1}" y="{:.1}" font-size="10" text-anchor="middle" fill="#223">{}</text><text x="{lx:.1}" y="{:.1}" font-size="10" text-anchor="middle" fill="#223">{}</text></g>"##,
            esc(&e.label),
            esc(if via.is_empty() {
                "nobody (same holder)"
            } else {
                &via
            }),
            ly - 4.0,
            esc(&fit(lot, 16)),
            ly + 8.0,
            esc(&fit(quantity, 16))
        );
    }
    for n in &nodes {
        let Some((x, y)) = pos.get(&n.id) else {
            continue;
        };
        let _ = write!(
            out,
            r##"<g><rect x="{x:.1}" y="{y:.1}" width="{w}" height="{h}" rx="7" fill="{}" stroke="#445" stroke-width="1"/><text x="{:.1}" y="{:.1}" font-size="11.5" font-weight="bold" fill="#111">{}</text>"##,
            n.fill,
            x + 8.0,
            y + 16.0,
            esc(&fit(&n.title, 27))
        );
        for (k, line) in n.lines.iter().take(4).enumerate() {
            let _ = write!(
                out,
                r##"<text x="{:.1}" y="{:.1}" font-size="10" fill="#222">{}</text>"##,
                x + 8.0,
                y + 31.0 + k as f64 * 13.5,
                esc(&fit(line, 31))
            );
        }
        out.push_str("</g>");
    }
    out.push_str("</svg>");
    out
}

/// The date of a timestamp (`2026-02-10`).
fn day(t: ledger_core::timestamp::Timestamp) -> String {
    t.to_string().chars().take(10).collect()
}

fn td(text: &str) -> String {
    format!("<td>{}</td>", esc(text))
}

fn tdn(text: &str) -> String {
    format!("<td class=\"n\">{}</td>", esc(text))
}

fn th_row(cells: &[&str]) -> String {
    let mut s = String::from("<tr>");
    for c in cells {
        let _ = write!(s, "<th>{}</th>", esc(c));
    }
    s.push_str("</tr>");
    s
}

fn amount(q: Quantity) -> String {
    let (a, u) = quantity_parts(q);
    format!("{a} {u}")
}

/// Renders the HTML page.
pub fn render(data: &ReportData) -> String {
    let mut h = String::new();
    let status = if data.passed() { "PASS" } else { "FAILED" };
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{} provenance report: verification {status}</title><style>{STYLE}</style></head><body>",
        esc(data.lot.as_str())
    );
    let class = if data.passed() { "pass" } else { "fail" };
    let _ = write!(
        h,
        "<div class=\"banner {class}\">{}</div>",
        esc(&headline(data))
    );
    let p = &data.product;
    let _ = write!(
        h,
        "<h1>Provenance report: {} ({})</h1>",
        esc(data.lot.as_str()),
        esc(p.material.as_str())
    );
    let capacity = p
        .capacity_wh
        .map(|wh| {
            format!(
                ", {} kWh per piece",
                crate::num::decimal(u128::from(wh), 3, 3)
            )
        })
        .unwrap_or_default();
    let _ = write!(
        h,
        "<p>{} of {} ({}{capacity}), created by {}. Statuses as of {}. Report schema {}; every figure's method is in <i>docs/reports.md</i>.</p>",
        esc(&amount(p.created)),
        esc(p.material.as_str()),
        esc(&content_text(p.unit, &p.content)),
        esc(&data.party_name(&p.creator)),
        esc(&data.as_of.to_string()),
        crate::JSON_SCHEMA
    );

    // Findings come first when the verdict fails.
    let findings = |h: &mut String| {
        h.push_str("<h2>Verification findings</h2>");
        if data.verification.findings.is_empty() {
            h.push_str("<p>No findings.</p>");
            return;
        }
        h.push_str("<table>");
        h.push_str(&th_row(&["rule", "severity", "seq", "party", "finding"]));
        for f in &data.verification.findings {
            let sev = match f.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            };
            let _ = write!(
                h,
                "<tr>{}{}{}{}{}</tr>",
                td(f.rule.code()),
                td(sev),
                tdn(&f.seq.map(|s| s.to_string()).unwrap_or_default()),
                td(&f.party.as_ref().map(|p| p.to_string()).unwrap_or_default()),
                td(&f.message)
            );
        }
        h.push_str("</table>");
    };
    if !data.passed() {
        findings(&mut h);
    }

    h.push_str("<h2>Provenance graph</h2><p class=\"small\">From mines and recyclers (left) to the product (right). Green: industrial mine; orange: artisanal mine; red: mine in a high-risk country; blue: recycled material; yellow: the product.</p>");
    h.push_str(&svg(data));

    h.push_str("<h2>Origins</h2>");
    for c in &data.components {
        let _ = write!(
            h,
            "<h3>{} ({})</h3><table>",
            esc(&metal_name(&c.component)),
            esc(c.component.as_str())
        );
        h.push_str(&th_row(&[
            "share", "origin", "site", "party", "country", "flags",
        ]));
        for (i, s) in &c.shares {
            let Some(o) = data.origins.get(*i) else {
                continue;
            };
            let mut flags = String::new();
            if o.high_risk {
                flags.push_str("<span class=\"flag risk\">high-risk country</span>");
            }
            if o.artisanal() {
                flags.push_str("<span class=\"flag asm\">artisanal</span>");
            }
            if o.recycled() {
                flags.push_str("<span class=\"flag rec\">recycled</span>");
            }
            let _ = write!(
                h,
                "<tr>{}{}{}{}{}<td>{flags}</td></tr>",
                tdn(&format!("{}%", percent(*s, 2))),
                td(&origin_text(o)),
                td(&o
                    .site
                    .as_ref()
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "recycled".into())),
                td(&format!("{} ({})", o.party_name, o.party)),
                td(o.country.as_str())
            );
        }
        h.push_str("</table><p>By country: ");
        let list: Vec<String> = c
            .by_country
            .iter()
            .map(|(country, s)| format!("{country} {}%", percent(*s, 2)))
            .collect();
        h.push_str(&esc(&list.join(", ")));
        h.push_str("</p>");
    }

    h.push_str("<h2>Recycled content</h2><table>");
    h.push_str(&th_row(&[
        "metal",
        "recycled",
        "pre-consumer",
        "post-consumer",
        "EU minimum 2031",
        "EU minimum 2036",
    ]));
    for c in &data.components {
        let target = |pct: Option<(u32, bool)>| match pct {
            Some((p, ok)) => format!("{p}% {}", if ok { "met" } else { "not met" }),
            None => "none".into(),
        };
        let _ = write!(
            h,
            "<tr>{}{}{}{}{}{}</tr>",
            td(&format!("{} ({})", metal_name(&c.component), c.component)),
            tdn(&format!("{}%", percent(c.recycled.total(), 2))),
            tdn(&format!("{}%", percent(c.recycled.pre_consumer, 2))),
            tdn(&format!("{}%", percent(c.recycled.post_consumer, 2))),
            td(&target(c.eu_minimum.map(|m| (m.from_2031, m.meets_2031)))),
            td(&target(c.eu_minimum.map(|m| (m.from_2036, m.meets_2036))))
        );
    }
    h.push_str("</table>");

    let f = &data.footprint;
    h.push_str("<h2>Carbon footprint (kg CO2e)</h2>");
    if !f.complete {
        h.push_str("<p class=\"fails\">Incomplete: part of the chain could not be followed; the figures leave it out.</p>");
    }
    h.push_str("<table>");
    h.push_str(&th_row(&[
        "basis",
        "total",
        "raw material extraction",
        "main production",
        "distribution",
        "recycling",
    ]));
    let unit_basis = match p.unit {
        Unit::Pcs => "per piece",
        Unit::Kg => "per kg",
    };
    let mut rows = vec![(unit_basis.to_owned(), f.per_unit_total, f.per_unit)];
    if let (Some(s), Some(t)) = (f.per_kwh, f.per_kwh_total) {
        rows.push(("per kWh of capacity".to_owned(), t, s));
    }
    rows.push((
        format!("whole lot ({})", amount(p.created)),
        f.lot_total,
        f.lot,
    ));
    for (basis, total, s) in rows {
        let _ = write!(
            h,
            "<tr>{}{}{}{}{}{}</tr>",
            td(&basis),
            tdn(&kg(total)),
            tdn(&kg(s.extraction)),
            tdn(&kg(s.production)),
            tdn(&kg(s.distribution)),
            tdn(&kg(s.recycling))
        );
    }
    h.push_str("</table><p class=\"small\">Declared step emissions only, allocated to outputs by mass (by pieces for piece lots) and carried down in proportion to the quantity consumed.</p>");

    h.push_str("<h2>Due diligence of every party in the chain</h2><table>");
    h.push_str(&th_row(&[
        "party",
        "country",
        "roles",
        "in the chain",
        "attestations",
        "open CAPs",
        "verdict",
    ]));
    for ps in &data.parties {
        let atts: Vec<String> = ps
            .attestations
            .iter()
            .map(|a| {
                let until = a
                    .record
                    .attest
                    .valid_until
                    .map(|u| format!(", until {}", day(u)))
                    .unwrap_or_default();
                format!(
                    "{} ({}{until}): {}",
                    claim_text(&a.record.attest),
                    day(a.record.time),
                    a.standing.name()
                )
            })
            .collect();
        let verdict = if ps.gaps.is_empty() {
            ps.verdict.name().to_owned()
        } else {
            format!("{}: {}", ps.verdict.name(), ps.gaps.join("; "))
        };
        let _ = write!(
            h,
            "<tr>{}{}{}{}<td>{}</td>{}<td class=\"{}\">{}</td></tr>",
            td(&format!("{} ({})", ps.name, ps.party)),
            td(&ps
                .country
                .as_ref()
                .map(|c| c.to_string())
                .unwrap_or_default()),
            td(&ps
                .roles
                .iter()
                .map(|r| r.name())
                .collect::<Vec<_>>()
                .join(", ")),
            td(&ps
                .activities
                .iter()
                .map(|k| k.name())
                .collect::<Vec<_>>()
                .join(", ")),
            atts.iter().map(|a| esc(a)).collect::<Vec<_>>().join("<br>"),
            td(&if ps.open_caps.is_empty() {
                "none".to_owned()
            } else {
                ps.open_caps.join(", ")
            }),
            ps.verdict.name(),
            esc(&verdict)
        );
    }
    h.push_str("</table>");

    h.push_str("<h2>Smelters, refiners and recyclers</h2><table>");
    h.push_str(&th_row(&["name", "country", "role", "metals", "fed by"]));
    for s in &data.smelters {
        let fed: Vec<String> = s
            .origins
            .iter()
            .filter_map(|i| data.origins.get(*i))
            .map(origin_text)
            .collect();
        let _ = write!(
            h,
            "<tr>{}{}{}{}{}</tr>",
            td(&format!("{} ({})", s.name, s.party)),
            td(&s
                .country
                .as_ref()
                .map(|c| c.to_string())
                .unwrap_or_default()),
            td(s.role.name()),
            td(&s
                .components
                .iter()
                .map(metal_name)
                .collect::<Vec<_>>()
                .join(", ")),
            td(&fed.join("; "))
        );
    }
    h.push_str("</table>");

    if data.passed() {
        findings(&mut h);
    }

    h.push_str("<h2>Chain of custody</h2><table>");
    h.push_str(&th_row(&[
        "seq", "time", "party", "event", "kg CO2e", "event id",
    ]));
    for ce in &data.events {
        let e = &ce.event;
        let mut what = event_summary(e);
        if let Body::Receive(r) = &e.body {
            what.push_str(&format!(" (shipment {})", &r.shipment.to_hex()[..12]));
        }
        let _ = write!(
            h,
            "<tr>{}{}{}{}{}<td class=\"mono\">{}</td></tr>",
            tdn(&ce.seq.to_string()),
            td(&e.time.to_string()),
            td(&data.party_name(&e.actor)),
            td(&what),
            tdn(&emissions_kg(e).unwrap_or_default()),
            esc(&ce.id.to_hex())
        );
    }
    h.push_str("</table>");
    h.push_str("</body></html>\n");
    h
}
