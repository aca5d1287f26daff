//! `custody trace`: a lot's provenance, from the product back to every mine and recycler,
//! with each component's origin shares by site and by country.

use serde_json::json;
use std::path::Path;

use anyhow::Result;
use ledger_core::plural::counted;
use ledger_core::provenance::{SHARE_ONE, Trace};

use crate::cli::TraceArgs;
use crate::commands::{close, open_to_read, print_json};
use crate::exit;

/// A share as a percentage with two decimals, for people.
fn percent(share: u128) -> String {
    let basis = (share * 10_000 + SHARE_ONE / 2) / SHARE_ONE;
    format!("{}.{:02}%", basis / 100, basis % 100)
}

/// Prints the provenance for people.
pub fn print_trace(trace: &Trace) {
    crate::outln!(
        "provenance of {}: {}, {}, {}",
        trace.lot,
        counted(trace.events.len(), "event", "events"),
        counted(trace.edges.len(), "link", "links"),
        counted(trace.origins.len(), "origin", "origins")
    );
    for (component, shares) in &trace.mix {
        crate::outln!("  {component}:");
        let mut rows: Vec<_> = shares.iter().collect();
        rows.sort_by(|a, b| b.1.cmp(a.1));
        for (origin, share) in rows {
            let Some(o) = trace.origins.get(*origin) else {
                continue;
            };
            let what = match (&o.site, o.method, o.feedstock) {
                (Some(site), Some(method), _) => format!(
                    "mine {site} ({}, {})",
                    o.party,
                    json!(method).as_str().unwrap_or_default()
                ),
                (_, _, Some(feed)) => format!(
                    "recycled by {} ({})",
                    o.party,
                    json!(feed).as_str().unwrap_or_default()
                ),
                _ => o.party.to_string(),
            };
            crate::outln!("    {:>8}  {what}, {}", percent(*share), o.country);
        }
        if let Some(countries) = ledger_server::json::by_country(trace).get(&component.to_string())
        {
            let list: Vec<String> = countries
                .iter()
                .map(|(c, s)| format!("{c} {}", percent(*s)))
                .collect();
            crate::outln!("    by country: {}", list.join(", "));
        }
    }
}

/// Runs `custody trace`.
pub fn run(dir: &Path, args: TraceArgs) -> Result<u8> {
    let ledger = open_to_read(dir)?;
    let trace = ledger.trace(&args.lot)?;
    close(ledger)?;
    if args.json {
        print_json(&ledger_server::json::trace_json(&trace))?;
    } else {
        print_trace(&trace);
    }
    Ok(exit::SUCCESS)
}
