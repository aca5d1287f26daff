//! The renderers, one module per format, and the few helpers they share. Each renderer
//! only reads [`ReportData`]; none computes a figure of its own.

pub mod csv;
pub mod dot;
pub mod epcis;
pub mod html;
pub mod json;
pub mod page;
pub mod passport;

use ledger_core::event::{Body, Event, Feedstock, Method};
use ledger_core::plural::counted;
use ledger_core::quantity::{Milli, Quantity, Unit};

use crate::figures::{OriginRow, ReportData};

/// A quantity as a decimal amount and a unit name (`kg`, `pcs`).
pub fn quantity_parts(q: Quantity) -> (String, &'static str) {
    match q {
        Quantity::Grams(g) => (Milli(g).to_string(), "kg"),
        Quantity::Pieces(n) => (n.to_string(), "pcs"),
    }
}

/// A unit's name.
pub fn unit_name(unit: Unit) -> &'static str {
    match unit {
        Unit::Kg => "kg",
        Unit::Pcs => "pcs",
    }
}

/// `industrial` or `artisanal`.
pub fn method_name(m: Method) -> &'static str {
    match m {
        Method::Industrial => "industrial",
        Method::Artisanal => "artisanal",
    }
}

/// `pre-consumer` or `post-consumer`.
pub fn feedstock_name(f: Feedstock) -> &'static str {
    match f {
        Feedstock::PreConsumer => "pre-consumer",
        Feedstock::PostConsumer => "post-consumer",
    }
}

/// An origin in a few words: `mine KV-PIT-2 (industrial, CD)` or `recycled by X (post-consumer, DE)`.
pub fn origin_text(o: &OriginRow) -> String {
    match (&o.site, o.method, o.feedstock) {
        (Some(site), Some(m), _) => format!("mine {site} ({}, {})", method_name(m), o.country),
        (_, _, Some(f)) => format!(
            "recycled by {} ({}, {})",
            o.party,
            feedstock_name(f),
            o.country
        ),
        _ => format!("{} ({})", o.party, o.country),
    }
}

/// The first line of the text formats: the verdict, loud when it fails.
pub fn headline(data: &ReportData) -> String {
    let v = &data.verification;
    let (errors, warnings) = (
        counted(v.errors(), "error", "errors"),
        counted(v.warnings(), "warning", "warnings"),
    );
    if data.passed() {
        format!(
            "custody report for lot {}: verification PASS ({errors}, {warnings})",
            data.lot
        )
    } else {
        format!(
            "custody report for lot {}: verification FAILED ({errors}, {warnings}); the figures below rest on a ledger that did not verify",
            data.lot
        )
    }
}

/// What an event does, in a few words, for graph labels and tables.
pub fn event_summary(e: &Event) -> String {
    let lots = |items: Vec<(String, Quantity)>| {
        items
            .into_iter()
            .map(|(lot, q)| {
                let (a, u) = quantity_parts(q);
                format!("{lot} {a} {u}")
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    match &e.body {
        Body::Extract(x) => format!(
            "extract at {}: {}",
            x.site.id,
            lots(
                x.outputs
                    .iter()
                    .map(|o| (o.lot.to_string(), o.quantity))
                    .collect()
            )
        ),
        Body::Recycle(r) => format!(
            "recycle: {}",
            lots(
                r.outputs
                    .iter()
                    .map(|o| (o.lot.to_string(), o.quantity))
                    .collect()
            )
        ),
        Body::Ship(s) => format!(
            "ship to {}: {}",
            s.to,
            lots(
                s.lots
                    .iter()
                    .map(|m| (m.lot.to_string(), m.quantity))
                    .collect()
            )
        ),
        Body::Receive(r) => format!(
            "receive: {}",
            lots(
                r.lots
                    .iter()
                    .map(|m| (m.lot.to_string(), m.quantity))
                    .collect()
            )
        ),
        Body::Transform(t) => format!(
            "transform {} into {}",
            lots(
                t.inputs
                    .iter()
                    .map(|m| (m.lot.to_string(), m.quantity))
                    .collect()
            ),
            lots(
                t.outputs
                    .iter()
                    .map(|o| (o.lot.to_string(), o.quantity))
                    .collect()
            )
        ),
        Body::Attest(a) => format!("attest {}", a.claim.name()),
        Body::Enroll(x) => format!("enroll {}", x.party),
        Body::Revoke(x) => format!("revoke a key of {}", x.party),
        Body::Amend(x) => format!("amend {}", x.party),
        Body::RequestKey(_) => format!("request a key for {}", e.actor),
        Body::AddKey(x) => format!("add a key to {}", x.party),
    }
}

/// Declared emissions of an event in kg CO2e, as text.
pub fn emissions_kg(e: &Event) -> Option<String> {
    e.emissions_g_co2e.map(|g| Milli(g).to_string())
}
