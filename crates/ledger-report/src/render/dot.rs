//! Graphviz DOT of the provenance graph: one node per event (extract, recycle, ship,
//! receive, transform), one edge per hash link followed, labelled with the lot and the
//! quantity that moved, left to right from the origins to the product. The first line is a
//! comment with the verdict; a failed verdict also titles the graph.

use std::collections::{HashMap, HashSet};

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

/// Longest line of a node label, in characters: wrapped labels keep the ranks narrow, so the
/// graph reads left to right instead of rendering as a long strip.
const WRAP: usize = 22;

/// Wraps `text` at spaces (after `,` and `:` too) onto lines of at most [`WRAP`] characters.
fn wrap(text: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    for word in text.split(' ') {
        if !current.is_empty() && current.chars().count() + 1 + word.chars().count() > WRAP {
            lines.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(word);
    }
    lines.push(current);
    lines.join("\n")
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
    // Left to right, mines and recyclers in the first rank (see the `rank=same` group below).
    out.push_str("digraph provenance {\n  rankdir=LR;\n  ranksep=0.3;\n  nodesep=0.15;\n  newrank=true;\n  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", fontsize=10, margin=\"0.08,0.04\"];\n");
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
            wrap(&data.party_name(&e.actor))
        );
        label.push('\n');
        label.push_str(&wrap(&event_summary(e)));
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
    // Every origin (extract, recycle) in the first rank, so the mines line up on the left.
    let origins: Vec<String> = data
        .events
        .iter()
        .filter(|ce| matches!(ce.event.body, Body::Extract(_) | Body::Recycle(_)))
        .map(|ce| q(&ce.id.to_hex()))
        .collect();
    if !origins.is_empty() {
        out.push_str(&format!("  {{ rank=same; {}; }}\n", origins.join("; ")));
    }
    // A receipt shares the rank of its shipment (drawn below it): this halves the ranks of
    // a chain that is mostly ship/receive pairs, so the graph is not a long strip. The
    // receive node names what arrived, so that short edge carries no label.
    let kinds: HashMap<_, _> = data
        .events
        .iter()
        .map(|ce| (ce.id, &ce.event.body))
        .collect();
    for link in &data.edges {
        let receipt = matches!(kinds.get(&link.from), Some(Body::Ship(_)))
            && matches!(kinds.get(&link.to), Some(Body::Receive(_)));
        if receipt {
            out.push_str(&format!(
                "  {{ rank=same; {} -> {}; }}\n",
                q(&link.from.to_hex()),
                q(&link.to.to_hex())
            ));
            continue;
        }
        let (amount, unit) = quantity_parts(link.quantity);
        out.push_str(&format!(
            "  {} -> {} [label={}];\n",
            q(&link.from.to_hex()),
            q(&link.to.to_hex()),
            q(&format!("{}\n{amount} {unit}", link.lot))
        ));
    }
    out.push_str("}\n");
    out
}
