//! One self-contained HTML page: no scripts, no external fonts, styles or images. The
//! provenance graph is inline SVG, laid out in columns from the mines and recyclers (left)
//! to the product (right): one box per lot-creating event, one arrow per material flow
//! (shipments along the way are named on the arrow). Tables carry every figure; print CSS
//! keeps it readable as a PDF. A failed verdict is the first thing on the page.

use std::collections::HashMap;
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
svg{width:100%;height:auto;box-sizing:border-box;border:1px solid #ddd;background:#fcfcfd}
td.t{white-space:nowrap}
.qr{margin:6px 0}.qr svg{width:120px;height:120px;border:none;background:none}
@page{size:A4 landscape;margin:12mm}
@media print{body{margin:0;font-size:10.5px}td.t,td.n{white-space:nowrap}svg{max-height:180mm}h2{break-after:avoid}tr,svg{break-inside:avoid}.banner{-webkit-print-color-adjust:exact;print-color-adjust:exact}th,.flag,svg{-webkit-print-color-adjust:exact;print-color-adjust:exact}}
"#;

/// The graph's font size in SVG units; the `viewBox` scales the whole drawing to the page.
const FONT: f64 = 11.0;
/// Width of one character as a fraction of the font size. The graph sets a monospace font
/// (DejaVu Sans Mono advances 0.602 em), and the box padding absorbs the difference.
const CHAR_EM: f64 = 0.6;
/// Longest line in a box, in characters; longer lines wrap at spaces onto at most
/// [`MAX_WRAP`] lines (a word longer than this is split, never cut).
const WRAP: usize = 19;
const MAX_WRAP: usize = 3;
const LINE: f64 = 14.0;
const PAD: f64 = 7.0;

/// Estimated width of `text` in the graph's font.
fn text_width(text: &str) -> f64 {
    text.chars().count() as f64 * FONT * CHAR_EM
}

/// The kind of a graph node, which sets its fill colour.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Mine,
    ArtisanalMine,
    HighRiskMine,
    Recycler,
    Processing,
    Product,
}

impl Kind {
    fn fill(self) -> &'static str {
        match self {
            Kind::Mine => "#d9ead3",
            Kind::ArtisanalMine => "#f6d7a7",
            Kind::HighRiskMine => "#f4cccc",
            Kind::Recycler => "#cfe2f3",
            Kind::Processing => "#eeeeee",
            Kind::Product => "#fff2cc",
        }
    }

    fn origin(self) -> bool {
        matches!(
            self,
            Kind::Mine | Kind::ArtisanalMine | Kind::HighRiskMine | Kind::Recycler
        )
    }
}

/// A node of the flow graph: a lot-creating event.
struct FlowNode {
    id: Digest,
    kind: Kind,
    title: String,
    lines: Vec<String>,
    /// How many lots the event created (an arrow names its lot only when there are several).
    outputs: usize,
}

/// An arrow of the flow graph.
struct FlowEdge {
    from: Digest,
    to: Digest,
    lot: LotId,
    quantity: String,
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
                        lot: m.lot.clone(),
                        quantity: format!("{amount} {unit}"),
                        via,
                    });
                }
            }
        }
    }
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
                    // The amount and its unit stay together when the line wraps.
                    format!("{} {} {a}\u{a0}{u}", o.lot, o.material)
                })
                .collect();
            let (title, detail, kind) = match &e.body {
                Body::Extract(x) => {
                    let risk = data.origins.iter().any(|o| o.event == ce.id && o.high_risk);
                    let kind = if x.site.method == Method::Artisanal {
                        Kind::ArtisanalMine
                    } else if risk {
                        Kind::HighRiskMine
                    } else {
                        Kind::Mine
                    };
                    let detail = format!("{} mine, {}", method_name(x.site.method), x.site.country);
                    (format!("Mine {}", x.site.id), Some(detail), kind)
                }
                Body::Recycle(r) => (
                    "Recycled".to_owned(),
                    Some(format!("{} scrap", feedstock_name(r.feedstock))),
                    Kind::Recycler,
                ),
                Body::Transform(t) if t.outputs.iter().any(|o| o.lot == data.lot) => {
                    ("Product".to_owned(), None, Kind::Product)
                }
                _ => ("Processing".to_owned(), None, Kind::Processing),
            };
            let mut lines: Vec<String> = detail.into_iter().collect();
            lines.push(data.party_name(&e.actor));
            lines.extend(outputs.iter().cloned());
            FlowNode {
                id: ce.id,
                kind,
                title,
                lines,
                outputs: outputs.len(),
            }
        })
        .collect();
    (nodes, edges)
}

/// Wraps `text` at spaces onto lines of at most `max` characters, at most `lines` of them;
/// what does not fit goes on the last line (a box widens for it), so nothing is cut.
fn wrap(text: &str, max: usize, lines: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    for word in text.split(' ') {
        let fits = current.chars().count() + 1 + word.chars().count() <= max;
        if current.is_empty() {
            current.push_str(word);
        } else if fits || out.len() + 1 >= lines {
            current.push(' ');
            current.push_str(word);
        } else {
            out.push(std::mem::take(&mut current));
            current.push_str(word);
        }
    }
    out.push(current);
    out
}

/// A box or a pass-through slot of a column: long arrows get one slot in every column they
/// cross, so they run between the boxes, never through them.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Slot {
    Node(usize),
    Pass(usize),
}

/// The column of every node: every origin (mine, recycler) in the first, every other node
/// one column right of its deepest input, the product in the last.
fn columns(nodes: &[FlowNode], edges: &[FlowEdge]) -> Vec<usize> {
    let index: HashMap<Digest, usize> = nodes.iter().enumerate().map(|(i, n)| (n.id, i)).collect();
    let mut column = vec![0_usize; nodes.len()];
    // Inputs come earlier in the log than the events that consume them.
    for (i, n) in nodes.iter().enumerate() {
        if n.kind.origin() {
            continue;
        }
        column[i] = 1 + edges
            .iter()
            .filter(|e| e.to == n.id)
            .filter_map(|e| index.get(&e.from))
            .map(|s| column[*s])
            .max()
            .unwrap_or(0);
    }
    let last = column.iter().copied().max().unwrap_or(0);
    for (i, n) in nodes.iter().enumerate() {
        if n.kind == Kind::Product {
            column[i] = last;
        }
    }
    column
}

/// The provenance graph as inline SVG, with its legend.
fn svg(data: &ReportData) -> String {
    let (nodes, edges) = flow(data);
    let index: HashMap<Digest, usize> = nodes.iter().enumerate().map(|(i, n)| (n.id, i)).collect();
    let column = columns(&nodes, &edges);
    let cols = column.iter().copied().max().map_or(1, |c| c + 1);
    // The edges drawn, with the columns of their ends.
    let drawn: Vec<(usize, usize, usize)> = edges
        .iter()
        .enumerate()
        .filter_map(|(k, e)| Some((k, *index.get(&e.from)?, *index.get(&e.to)?)))
        .filter(|(_, s, t)| column[*s] < column[*t])
        .collect();

    // Slots per column, ordered by a few sweeps of the barycentre heuristic.
    let mut slots: Vec<Vec<Slot>> = vec![Vec::new(); cols];
    for (i, c) in column.iter().enumerate() {
        slots[*c].push(Slot::Node(i));
    }
    for (k, s, t) in &drawn {
        for between in &mut slots[column[*s] + 1..column[*t]] {
            between.push(Slot::Pass(*k));
        }
    }
    // The slot an edge occupies in column `c`: its source, its target or its pass-through.
    let slot_in = |k: usize, s: usize, t: usize, c: usize| {
        if c == column[s] {
            Slot::Node(s)
        } else if c == column[t] {
            Slot::Node(t)
        } else {
            Slot::Pass(k)
        }
    };
    // The neighbours of a slot in column `c + step`.
    let neighbours = |slot: Slot, c: usize, forward: bool| -> Vec<Slot> {
        let other = if forward {
            c.checked_sub(1)
        } else {
            Some(c + 1)
        };
        let Some(other) = other.filter(|o| *o < cols) else {
            return Vec::new();
        };
        drawn
            .iter()
            .filter(|(k, s, t)| match slot {
                Slot::Node(i) => *s == i || *t == i,
                Slot::Pass(p) => *k == p,
            })
            .filter(|(_, s, t)| column[*s] <= other && other <= column[*t])
            .map(|(k, s, t)| slot_in(*k, *s, *t, other))
            .collect()
    };
    for sweep in 0..4 {
        let forward = sweep % 2 == 0;
        let order: Vec<usize> = if forward {
            (1..cols).collect()
        } else {
            (0..cols.saturating_sub(1)).rev().collect()
        };
        for c in order {
            let other = if forward { c - 1 } else { c + 1 };
            let rank = |s: &Slot| slots[other].iter().position(|o| o == s).unwrap_or(0) as f64;
            let mut keyed: Vec<(f64, Slot)> = slots[c]
                .iter()
                .enumerate()
                .map(|(r, slot)| {
                    let ns = neighbours(*slot, c, forward);
                    let key = if ns.is_empty() {
                        r as f64
                    } else {
                        ns.iter().map(rank).sum::<f64>() / ns.len() as f64
                    };
                    (key, *slot)
                })
                .collect();
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
            slots[c] = keyed.into_iter().map(|(_, s)| s).collect();
        }
    }

    // Box contents and sizes.
    let text: Vec<Vec<(String, bool)>> = nodes
        .iter()
        .map(|n| {
            let mut lines: Vec<(String, bool)> = wrap(&n.title, WRAP, MAX_WRAP)
                .into_iter()
                .map(|l| (l, true))
                .collect();
            for l in &n.lines {
                lines.extend(wrap(l, WRAP, MAX_WRAP).into_iter().map(|l| (l, false)));
            }
            lines
        })
        .collect();
    let label = |k: usize| -> Vec<String> {
        let e = &edges[k];
        let many = index.get(&e.from).is_some_and(|s| nodes[*s].outputs > 1);
        if many {
            vec![e.lot.to_string(), e.quantity.clone()]
        } else {
            vec![e.quantity.clone()]
        }
    };
    let label_w = |k: usize| -> f64 {
        label(k).iter().map(|l| text_width(l)).fold(0.0, f64::max) + 2.0 * 4.0
    };
    let label_h = |k: usize| -> f64 { label(k).len() as f64 * LINE + 4.0 };
    let degree = |i: usize| {
        let ins = drawn.iter().filter(|(_, _, t)| *t == i).count();
        let outs = drawn.iter().filter(|(_, s, _)| *s == i).count();
        ins.max(outs)
    };
    let box_h: Vec<f64> = (0..nodes.len())
        .map(|i| {
            let content = text[i].len() as f64 * LINE + 2.0 * PAD;
            content.max(degree(i) as f64 * 2.0 * LINE + 2.0 * PAD)
        })
        .collect();
    let col_w: Vec<f64> = (0..cols)
        .map(|c| {
            slots[c]
                .iter()
                .filter_map(|s| match s {
                    Slot::Node(i) => Some(*i),
                    Slot::Pass(_) => None,
                })
                .flat_map(|i| text[i].iter().map(|(l, _)| text_width(l)))
                .fold(60.0, f64::max)
                + 2.0 * PAD
        })
        .collect();
    // The gap before column `c` holds the labels of the arrows ending there.
    let (curve, tip) = (20.0, 11.0);
    let gap: Vec<f64> = (0..cols)
        .map(|c| {
            drawn
                .iter()
                .filter(|(_, _, t)| column[*t] == c)
                .map(|(k, _, _)| label_w(*k))
                .fold(0.0, f64::max)
                + curve
                + tip
        })
        .collect();
    let margin = 10.0;
    let mut col_x = vec![margin; cols];
    for c in 1..cols {
        col_x[c] = col_x[c - 1] + col_w[c - 1] + gap[c];
    }
    let graph_w = col_x[cols - 1] + col_w[cols - 1] + margin;

    // Vertical placement: each slot as near the mean height of its inputs as the slots
    // above it allow.
    let slot_h = |s: &Slot| match s {
        Slot::Node(i) => box_h[*i],
        Slot::Pass(_) => 2.0 * LINE,
    };
    let row_gap = 16.0;
    let mut centre: HashMap<(usize, Slot), f64> = HashMap::new();
    for (c, column_slots) in slots.iter().enumerate() {
        let mut y = margin;
        for s in column_slots {
            let h = slot_h(s);
            let ns = neighbours(*s, c, true);
            let want = ns
                .iter()
                .filter_map(|n| centre.get(&(c - 1, *n)))
                .copied()
                .collect::<Vec<_>>();
            let top = if c > 0 && !want.is_empty() {
                (want.iter().sum::<f64>() / want.len() as f64 - h / 2.0).max(y)
            } else {
                y
            };
            centre.insert((c, *s), top + h / 2.0);
            y = top + h + row_gap;
        }
    }
    let graph_h = slots
        .iter()
        .enumerate()
        .flat_map(|(c, ss)| ss.iter().map(move |s| (c, s)))
        .map(|(c, s)| centre[&(c, *s)] + slot_h(s) / 2.0)
        .fold(0.0, f64::max)
        + margin;
    let node_top = |i: usize| centre[&(column[i], Slot::Node(i))] - box_h[i] / 2.0;

    // Where arrows leave and enter boxes: spread along the side, in the order of the
    // slots they come from or go to.
    let mut exit_y: HashMap<usize, f64> = HashMap::new();
    let mut entry_y: HashMap<usize, f64> = HashMap::new();
    for i in 0..nodes.len() {
        let c = column[i];
        let mut outs: Vec<(f64, usize)> = drawn
            .iter()
            .filter(|(_, s, _)| *s == i)
            .map(|(k, s, t)| (centre[&(c + 1, slot_in(*k, *s, *t, c + 1))], *k))
            .collect();
        outs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut ins: Vec<(f64, usize)> = drawn
            .iter()
            .filter(|(_, _, t)| *t == i)
            .map(|(k, s, t)| (centre[&(c - 1, slot_in(*k, *s, *t, c - 1))], *k))
            .collect();
        ins.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (top, h) = (node_top(i), box_h[i]);
        for (list, map) in [(&outs, &mut exit_y), (&ins, &mut entry_y)] {
            let n = list.len() as f64;
            for (r, (_, k)) in list.iter().enumerate() {
                map.insert(*k, top + h * (r as f64 + 1.0) / (n + 1.0));
            }
        }
    }

    let legend_y = graph_h + 6.0;
    let legend_h = 3.0 * LINE + 10.0;
    let height = legend_y + legend_h;
    let mut out = String::new();
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="100%" viewBox="0 0 {graph_w:.0} {height:.0}" font-family="'DejaVu Sans Mono','Liberation Mono',Menlo,Consolas,monospace" font-size="{FONT}" role="img" aria-label="Provenance graph of {}"><defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#556"/></marker></defs>"##,
        esc(data.lot.as_str())
    );
    // Arrows first, so that boxes and labels (opaque) lie on top of them.
    let mut labels = String::new();
    for (k, s, t) in &drawn {
        let e = &edges[*k];
        let (cs, ct) = (column[*s], column[*t]);
        let mut d = format!("M{:.1},{:.1}", col_x[cs] + col_w[cs], exit_y[k]);
        let mut y = exit_y[k];
        for c in cs + 1..ct {
            let ny = centre[&(c, Slot::Pass(*k))];
            let (x0, x1) = (col_x[c - 1] + col_w[c - 1], col_x[c]);
            let mx = (x0 + x1) / 2.0;
            let _ = write!(
                d,
                " C{mx:.1},{y:.1} {mx:.1},{ny:.1} {x1:.1},{ny:.1} H{:.1}",
                col_x[c] + col_w[c]
            );
            y = ny;
        }
        let tx = col_x[ct];
        let (lw, lh) = (label_w(*k), label_h(*k));
        let ty = entry_y[k];
        let lx = tx - tip - lw;
        let x0 = col_x[ct - 1] + col_w[ct - 1];
        let mx = (x0 + lx) / 2.0;
        let _ = write!(
            d,
            " C{mx:.1},{y:.1} {mx:.1},{ty:.1} {lx:.1},{ty:.1} H{tx:.1}"
        );
        let _ = write!(
            out,
            r##"<path d="{d}" fill="none" stroke="#556" stroke-width="1.3" marker-end="url(#arrow)"/>"##
        );
        let via = e
            .via
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join(" → ");
        let _ = write!(
            labels,
            r##"<g class="flow"><title>{} {} shipped by {}</title><rect x="{lx:.1}" y="{:.1}" width="{lw:.1}" height="{lh:.1}" fill="#ffffff" stroke="#99a" stroke-width="0.6" rx="3"/>"##,
            esc(e.lot.as_str()),
            esc(&e.quantity),
            esc(if via.is_empty() {
                "nobody (same holder)"
            } else {
                &via
            }),
            ty - lh / 2.0,
        );
        for (r, line) in label(*k).iter().enumerate() {
            let _ = write!(
                labels,
                r##"<text x="{:.1}" y="{:.1}" font-size="{FONT}" fill="#223">{}</text>"##,
                lx + 4.0,
                ty - lh / 2.0 + 2.0 + LINE * (r as f64 + 1.0) - 3.0,
                esc(line)
            );
        }
        labels.push_str("</g>");
    }
    for (i, n) in nodes.iter().enumerate() {
        let c = column[i];
        let (x, y) = (col_x[c], node_top(i));
        let _ = write!(
            out,
            r##"<g class="node"><rect x="{x:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" rx="6" fill="{}" stroke="#445" stroke-width="1"/>"##,
            col_w[c],
            box_h[i],
            n.kind.fill(),
        );
        for (r, (line, bold)) in text[i].iter().enumerate() {
            let _ = write!(
                out,
                r##"<text x="{:.1}" y="{:.1}" font-size="{FONT}"{} fill="#111">{}</text>"##,
                x + PAD,
                y + PAD + LINE * (r as f64 + 1.0) - 3.0,
                if *bold { r#" font-weight="bold""# } else { "" },
                esc(line)
            );
        }
        out.push_str("</g>");
    }
    out.push_str(&labels);
    // The legend: one swatch per kind of box, then what an arrow says.
    out.push_str(r#"<g class="legend">"#);
    let mut x = margin;
    let mut y = legend_y + 4.0;
    for (kind, name) in [
        (Kind::Mine, "mine"),
        (Kind::ArtisanalMine, "artisanal mine"),
        (Kind::HighRiskMine, "mine, high-risk country"),
        (Kind::Recycler, "recycler"),
        (Kind::Processing, "processing step"),
        (Kind::Product, "product"),
    ] {
        let w = 18.0 + text_width(name) + 16.0;
        if x + w > graph_w - margin {
            x = margin;
            y += LINE + 2.0;
        }
        let _ = write!(
            out,
            r##"<rect x="{x:.1}" y="{y:.1}" width="14" height="11" fill="{}" stroke="#445" stroke-width="0.8"/><text x="{:.1}" y="{:.1}" font-size="{FONT}" fill="#222">{name}</text>"##,
            kind.fill(),
            x + 18.0,
            y + 10.0
        );
        x += w;
    }
    y += LINE + 4.0;
    let note =
        "arrow: material flow; its label: quantity consumed (and the lot, when a box made several)";
    let _ = write!(
        out,
        r##"<path d="M{margin:.1},{:.1} H{:.1}" stroke="#556" stroke-width="1.3" marker-end="url(#arrow)"/>"##,
        y + 6.0,
        margin + 26.0
    );
    for (r, line) in wrap(
        note,
        ((graph_w - 2.0 * margin - 34.0) / (FONT * CHAR_EM)) as usize,
        2,
    )
    .iter()
    .enumerate()
    {
        let _ = write!(
            out,
            r##"<text x="{:.1}" y="{:.1}" font-size="{FONT}" fill="#222">{}</text>"##,
            margin + 34.0,
            y + 10.0 + r as f64 * LINE,
            esc(line)
        );
    }
    out.push_str("</g></svg>");
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
pub fn render(data: &ReportData, base_url: &str) -> Result<String, crate::ReportError> {
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

    h.push_str("<h2>Provenance graph</h2><p class=\"small\">Mines and recyclers in the first column (left), each processing step one column right of its deepest input, the product last (right). The legend below the graph gives the colours; hover an arrow for who shipped it.</p>");
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

    if !data.lot_statuses.is_empty() {
        h.push_str("<h2>Attestations about lots on the way</h2><table>");
        h.push_str(&th_row(&["lot", "attestations", "open CAPs", "verdict"]));
        for ls in &data.lot_statuses {
            let atts: Vec<String> = ls
                .attestations
                .iter()
                .map(|a| {
                    format!(
                        "{} by {} ({}): {}",
                        claim_text(&a.record.attest),
                        a.record.auditor,
                        day(a.record.time),
                        a.standing.name()
                    )
                })
                .collect();
            let verdict = if ls.gaps.is_empty() {
                ls.verdict.name().to_owned()
            } else {
                format!("{}: {}", ls.verdict.name(), ls.gaps.join("; "))
            };
            let _ = write!(
                h,
                "<tr>{}<td>{}</td>{}<td class=\"{}\">{}</td></tr>",
                td(ls.lot.as_str()),
                atts.iter().map(|a| esc(a)).collect::<Vec<_>>().join("<br>"),
                td(&if ls.open_caps.is_empty() {
                    "none".to_owned()
                } else {
                    ls.open_caps.join(", ")
                }),
                ls.verdict.name(),
                esc(&verdict)
            );
        }
        h.push_str("</table>");
    }

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
            "<tr>{}<td class=\"t\">{}</td>{}{}{}<td class=\"mono\">{}</td></tr>",
            tdn(&ce.seq.to_string()),
            esc(&e.time.to_string()),
            td(&data.party_name(&e.actor)),
            td(&what),
            tdn(&emissions_kg(e).unwrap_or_default()),
            esc(&ce.id.to_hex())
        );
    }
    h.push_str("</table>");
    // Last, so the provenance graph stays the page's first SVG; the URL is text, not a
    // link, so the page keeps no reference to another host.
    if let Some((url, qr)) = crate::gs1::product_qr(data, base_url)? {
        let _ = write!(
            h,
            "<h2>Battery passport</h2><figure class=\"qr\">{qr}<figcaption>{u}</figcaption></figure>",
            u = esc(&url)
        );
    }
    h.push_str("</body></html>\n");
    Ok(h)
}
