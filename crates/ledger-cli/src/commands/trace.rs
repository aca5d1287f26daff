//! `custody trace`: a lot's provenance, from the product back to every mine and recycler,
//! with each component's origin shares by site and by country.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use ledger_core::plural::counted;
use ledger_core::provenance::{SHARE_ONE, Trace};
use serde_json::{Value, json};

use crate::cli::TraceArgs;
use crate::commands::{close, open, print_json};
use crate::exit;

/// A share as a percentage with two decimals, for people.
fn percent(share: u128) -> String {
    let basis = (share * 10_000 + SHARE_ONE / 2) / SHARE_ONE;
    format!("{}.{:02}%", basis / 100, basis % 100)
}

/// A share in parts per million, for machines.
fn ppm(share: u128) -> u64 {
    u64::try_from((share * 1_000_000 + SHARE_ONE / 2) / SHARE_ONE).unwrap_or(u64::MAX)
}

/// Shares by country, per component.
fn by_country(trace: &Trace) -> BTreeMap<String, BTreeMap<String, u128>> {
    let mut out: BTreeMap<String, BTreeMap<String, u128>> = BTreeMap::new();
    for (component, shares) in &trace.mix {
        for (origin, share) in shares {
            if let Some(o) = trace.origins.get(*origin) {
                *out.entry(component.to_string())
                    .or_default()
                    .entry(o.country.to_string())
                    .or_default() += share;
            }
        }
    }
    out
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
        if let Some(countries) = by_country(trace).get(&component.to_string()) {
            let list: Vec<String> = countries
                .iter()
                .map(|(c, s)| format!("{c} {}", percent(*s)))
                .collect();
            crate::outln!("    by country: {}", list.join(", "));
        }
    }
}

/// The provenance as a JSON object (documented in `docs/format.md`).
pub fn trace_json(trace: &Trace) -> Value {
    let events: Vec<Value> = {
        let mut list: Vec<_> = trace.events.values().collect();
        list.sort_by_key(|e| e.seq);
        list.iter()
            .map(|e| {
                let ev = &e.statement.event;
                json!({"id": e.id, "seq": e.seq, "kind": ev.body.kind(), "actor": ev.actor, "time": ev.time})
            })
            .collect()
    };
    let origins: Vec<Value> = trace
        .origins
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let shares: BTreeMap<String, u64> = trace
                .mix
                .iter()
                .filter_map(|(c, s)| s.get(&i).map(|v| (c.to_string(), ppm(*v))))
                .collect();
            json!({
                "event": o.event, "party": o.party, "site": o.site, "country": o.country,
                "method": o.method, "feedstock": o.feedstock, "recycled": o.is_recycled(), "share_ppm": shares,
            })
        })
        .collect();
    let countries: BTreeMap<String, BTreeMap<String, u64>> = by_country(trace)
        .into_iter()
        .map(|(c, m)| (c, m.into_iter().map(|(k, v)| (k, ppm(v))).collect()))
        .collect();
    json!({"lot": trace.lot, "events": events, "links": trace.edges, "origins": origins, "countries_ppm": countries})
}

/// Runs `custody trace`.
pub fn run(dir: &Path, args: TraceArgs) -> Result<u8> {
    let ledger = open(dir)?;
    let trace = ledger.trace(&args.lot)?;
    close(ledger)?;
    if args.json {
        print_json(&trace_json(&trace))?;
    } else {
        print_trace(&trace);
    }
    Ok(exit::SUCCESS)
}
