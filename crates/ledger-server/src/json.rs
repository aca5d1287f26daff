//! JSON forms the server and the CLI share: a lot's trace as `custody trace --json` prints it
//! and `GET /v1/lots/{lot}/trace` serves it (documented in `docs/format.md`).

use std::collections::BTreeMap;

use ledger_core::provenance::{SHARE_ONE, Trace};
use serde_json::{Value, json};

/// A share in parts per million, for machines.
fn ppm(share: u128) -> u64 {
    u64::try_from((share * 1_000_000 + SHARE_ONE / 2) / SHARE_ONE).unwrap_or(u64::MAX)
}

/// Shares by country, per component.
pub fn by_country(trace: &Trace) -> BTreeMap<String, BTreeMap<String, u128>> {
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
