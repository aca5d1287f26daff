//! Graphviz DOT of the provenance graph: one node per event (extract, recycle, ship,
//! receive, transform), one edge per hash link followed, labelled with the lot and the
//! quantity that moved, left to right from the origins to the product. The first line is a
//! comment with the verdict; a failed verdict also titles the graph.

use std::collections::HashSet;

use ledger_core::event::Body;

use crate::figures::ReportData;
use crate::render::{emissions_kg, event_summary, headline, quantity_parts};

/// A DOT string literal.
fn q(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Renders the DOT graph.
pub fn render(data: &ReportData) -> String {
    let mut out = format!("// {}\n", headline(data));
    for f in &data.verification.findings {
        out.push_str(&format!(
            "// {}\n",
            f.to_string().replace(['\n', '\r'], " ")
        ));
    }
    out.push_str("digraph provenance {\n  rankdir=LR;\n  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", fontsize=10];\n");
    out.push_str("  edge [fontname=\"Helvetica\", fontsize=9];\n");
    let title = if data.passed() {
        format!("Provenance of {} (verification PASS)", data.lot)
    } else {
        format!("Provenance of {}: VERIFICATION FAILED", data.lot)
    };
    out.push_str(&format!(
        "  label={}; labelloc=t; fontname=\"Helvetica\";\n",
        q(&title)
    ));
    let origin_events: HashSet<_> = data.origins.iter().map(|o| o.event).collect();
    for ce in &data.events {
        let e = &ce.event;
        let mut label = format!(
            "#{} {}\n{}",
            ce.seq,
            e.body.kind(),
            data.party_name(&e.actor)
        );
        label.push('\n');
        label.push_str(&event_summary(e));
        if let Some(kg) = emissions_kg(e) {
            label.push_str(&format!("\n{kg} kg CO2e"));
        }
        let mut color = match &e.body {
            Body::Extract(x) if x.site.method == ledger_core::event::Method::Artisanal => "#f6d7a7",
            Body::Extract(_) => "#d9ead3",
            Body::Recycle(_) => "#cfe2f3",
            Body::Transform(t) if t.outputs.iter().any(|o| o.lot == data.lot) => "#fff2cc",
            Body::Transform(_) => "#eeeeee",
            _ => "#ffffff",
        };
        if origin_events.contains(&ce.id)
            && data.origins.iter().any(|o| o.event == ce.id && o.high_risk)
        {
            color = "#f4cccc";
        }
        out.push_str(&format!(
            "  {} [label={}, fillcolor={}];\n",
            q(&ce.id.to_hex()),
            q(&label),
            q(color)
        ));
    }
    for link in &data.edges {
        let (amount, unit) = quantity_parts(link.quantity);
        out.push_str(&format!(
            "  {} -> {} [label={}];\n",
            q(&link.from.to_hex()),
            q(&link.to.to_hex()),
            q(&format!("{} {amount} {unit}", link.lot))
        ));
    }
    out.push_str("}\n");
    out
}
