//! `custody report` end to end: the demo ledger (`custody demo --dir`), then every format of
//! the battery module's report, checked against figures worked out by hand from
//! `fixtures/demo/scenario.jsonl`, against the GS1 EPCIS 2.0 JSON Schema, the reference EPCIS
//! event hash generator (PyPI `epcis-event-hash-generator`), the Battery Pass v1.2.0 aspect
//! schemas, and headless Chromium printing the HTML to PDF.
//!
//! A test that needs `../shared/vectors`, a Python package or Chromium is reported as ignored
//! with the reason when that is missing (`custody_tests::Suite`), and fails under `CI=true`.
//!
//! # The hand-worked figures of VM-MOD-0001
//!
//! Origins (mass-proportional through each blend). Lualaba refines 19950 kg of KV-ORE-0001
//! at 3.1 % Co (618.45 kg Co) with 7990 kg of KS-ORE-0001 at 5 % Co (399.5 kg Co): 1017.95 kg,
//! so KV-PIT-2 = 618.45/1017.95 = 60.7545 % and KS-ASM-7 = 399.5/1017.95 = 39.2455 %. Nordic
//! Cobalt's sulfate keeps that mix. Vistula blends 2250 kg of it at 40 % Co (900 kg) with
//! 1000 kg of recycled RR-SUL-0001 at 20 % Co (200 kg): recycled = 200/1100 = 18.1818 %,
//! KV-PIT-2 = 9/11 × 60.7545 = 49.7082 %, KS-ASM-7 = 9/11 × 39.2455 = 32.1100 % (shares are
//! rounded to ppm so that they add up to 10^6). Cells and the module add no other cobalt. By
//! country: CD 81.8182 %, DE 18.1818 %. Mica: KD-MICA-3 100 %, IN. Recycled cobalt 18.1818 %
//! (post-consumer): meets the EU 16 % of 2031, not the 26 % of 2036.
//!
//! Masses are conserved through every transform (CUS-BAL-002): 27940 kg of ore give 2500 kg
//! of hydroxide, 2500 kg give 2250 kg of sulfate, 3250 kg of sulfates give 3250 kg of
//! cathode, 3250 kg of cathode give 20000 cells of 0.07 kg (1400 kg), and 19200 cells with
//! 2400 insulators of 0.03 kg (1416 kg) give 100 modules of 14 kg (1400 kg).
//!
//! Carbon footprint (kg CO2e; extraction / production / distribution / recycling):
//! - KV ore: extract 1200 over 50000 kg; 20000 kg shipped (+310) and 19950 received:
//!   480 / 0 / 310 / 0.
//! - KS ore: extract 150; shipped twice (+40, +120), 7990 of 8000 received: 150 / 0 / 160 / 0.
//! - LR-HYD-0001 (transform +5400, consumes both parcels whole): 630 / 5400 / 470 / 0;
//!   shipped (+2900): 630 / 5400 / 3370 / 0.
//! - NC-SUL-0001 (+3100): 630 / 8500 / 3370 / 0; shipped (+450): 630 / 8500 / 3820 / 0.
//! - RR-SUL-0001: recycle 900, shipped (+95): 0 / 0 / 95 / 900.
//! - VC-CAT-0001 (+16000): 630 / 24500 / 3915 / 900; shipped (+700): distribution 4615.
//! - AC-CELL-0001, 20000 pcs (+42000): 630 / 66500 / 4615 / 900; shipped (+820): 5435.
//!   The module takes 19200 of 20000 cells (0.96): 604.8 / 63840 / 5217.6 / 864.
//! - Mica: extract 60, ship 25, GM-INS-0001 50000 pcs (+380), ship 610: 60 / 380 / 635 / 0;
//!   the module takes 2400 (0.048): 2.88 / 18.24 / 30.48 / 0.
//! - VM-MOD-0001 (+9500): 607.68 / 73358.24 / 5248.08 / 864 = 80078 kg for the lot of 100,
//!   so 800.78 kg per module (6.0768 / 733.5824 / 52.4808 / 8.64), and per kWh of its
//!   57.6 kWh: 800.78 / 57.6 = 13.902431 (0.1055 / 12.735806 / 0.911125 / 0.15).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use tempfile::TempDir;

const MODULE: &str = "VM-MOD-0001";
const MINE_SITES: [&str; 3] = ["KV-PIT-2", "KS-ASM-7", "KD-MICA-3"];

/// A demo ledger in a temporary directory.
struct Demo {
    dir: TempDir,
}

impl Demo {
    fn new() -> Demo {
        let dir = TempDir::new().unwrap();
        let out = custody_tests::custody()
            .env_remove("CUSTODY_LEDGER")
            .arg("demo")
            .arg("--dir")
            .arg(dir.path().join("ledger"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "custody demo failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Demo { dir }
    }

    fn ledger(&self) -> PathBuf {
        self.dir.path().join("ledger")
    }

    /// `custody --ledger <dir>/ledger report VM-MOD-0001 --format FORMAT EXTRA...`.
    fn report(&self, format: &str, extra: &[&str]) -> Output {
        custody_tests::custody()
            .env_remove("CUSTODY_LEDGER")
            .arg("--ledger")
            .arg(self.ledger())
            .args(["report", MODULE, "--format", format])
            .args(extra)
            .output()
            .unwrap()
    }

    /// The report's text, asserting exit code 0.
    fn text(&self, format: &str) -> String {
        let out = self.report(format, &[]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "report --format {format}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// The report written with `--out` into the demo directory.
    fn file(&self, format: &str, name: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        let out = self.report(format, &["--out", path.to_str().unwrap()]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "report --format {format}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stdout.is_empty(), "--out writes nothing to stdout");
        path
    }
}

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Under CI: fail. Elsewhere: say why and skip.
fn skip(why: &str) {
    assert!(!ci(), "{why} (CI=true: this check must run)");
    eprintln!("skipped: {why}");
}

fn vectors() -> Option<PathBuf> {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|a| a.join("shared").join("vectors"))
        .find(|p| p.is_dir())
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn validation_errors(schema: &Value, draft: jsonschema::Draft, instance: &Value) -> Vec<String> {
    let validator = jsonschema::options()
        .with_draft(draft)
        .should_validate_formats(true)
        .build(schema)
        .unwrap();
    validator
        .iter_errors(instance)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}

/// A JSON number as text (the workspace keeps numbers as written).
fn num(v: &Value) -> String {
    match v {
        Value::Number(n) => n.to_string(),
        other => panic!("not a number: {other}"),
    }
}

fn json_report_has_the_hand_worked_figures() {
    let demo = Demo::new();
    let text = demo.text("json");
    assert!(
        text.lines()
            .nth(1)
            .unwrap()
            .contains("\"verdict\": \"pass\""),
        "the verdict is the first member:\n{text}"
    );
    let r: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(r["schema"], "custody-report/1");
    assert_eq!(r["lot"], MODULE);
    let co = r["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["component"] == "Co")
        .unwrap();
    let shares: Vec<(String, String, u64)> = co["origins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["site"].as_str().unwrap_or("recycled").to_owned(),
                num(&o["share"]["percent"]),
                o["share"]["ppm"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        shares,
        [
            ("KV-PIT-2".into(), "49.7082".into(), 497_082),
            ("KS-ASM-7".into(), "32.11".into(), 321_100),
            ("recycled".into(), "18.1818".into(), 181_818)
        ]
    );
    let countries: Vec<(String, String)> = co["countries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["country"].as_str().unwrap().to_owned(),
                num(&c["share"]["percent"]),
            )
        })
        .collect();
    assert_eq!(
        countries,
        [
            ("CD".into(), "81.8182".into()),
            ("DE".into(), "18.1818".into())
        ]
    );
    assert_eq!(num(&co["recycled"]["share"]["percent"]), "18.1818");
    assert_eq!(num(&co["recycled"]["post_consumer"]["percent"]), "18.1818");
    assert_eq!(co["eu_minimum"]["meets_2031"], true);
    assert_eq!(co["eu_minimum"]["meets_2036"], false);
    assert_eq!(num(&co["lot_mass_kg"]), "480");
    let mica = r["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["component"] == "mica")
        .unwrap();
    assert_eq!(mica["origins"][0]["site"], "KD-MICA-3");
    assert_eq!(num(&mica["origins"][0]["share"]["percent"]), "100");

    let fp = &r["carbon_footprint"];
    assert_eq!(fp["complete"], true);
    let per = &fp["per_unit"]["figures"];
    assert_eq!(fp["per_unit"]["basis"], "piece");
    assert_eq!(
        [
            num(&per["total"]),
            num(&per["extraction"]),
            num(&per["production"]),
            num(&per["distribution"]),
            num(&per["recycling"])
        ],
        ["800.78", "6.0768", "733.5824", "52.4808", "8.64"]
    );
    assert_eq!(num(&fp["per_lot"]["total"]), "80078");
    assert_eq!(num(&fp["per_kwh"]["total"]), "13.902431");

    let artisanal: Vec<&str> = r["origins"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["artisanal"] == true)
        .map(|o| o["site"].as_str().unwrap())
        .collect();
    assert_eq!(artisanal, ["KS-ASM-7"]);
    let high_risk: Vec<&str> = r["origins"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["high_risk"] == true)
        .map(|o| o["site"].as_str().unwrap())
        .collect();
    assert_eq!(high_risk.len(), 2);
    let parties = r["due_diligence"].as_array().unwrap();
    assert_eq!(parties.len(), 11, "every party that acted on the way");
    let traders = parties
        .iter()
        .find(|p| p["party"] == "lubumbashi-traders")
        .unwrap();
    assert_eq!(traders["verdict"], "meets", "CAP-2026-014 was closed");
    assert_eq!(
        r["chain_of_custody"]["events"].as_array().unwrap().len(),
        30
    );
    assert_eq!(r["chain_of_custody"]["links"].as_array().unwrap().len(), 29);
}

fn csv_dot_and_html_report_the_same_figures() {
    let demo = Demo::new();
    let csv = demo.text("csv");
    assert!(
        csv.lines().next().unwrap().contains("verification PASS"),
        "first line: {csv}"
    );
    for row in [
        "Cobalt,Co,Kivu Mining SA (fictional),KV-PIT-2,CD,kivu-mining,industrial,,Yes,No,49.7082,497082",
        "Cobalt,Co,Cooperative Minière de Kasombo (fictional),KS-ASM-7,CD,kasombo-coop,artisanal,,Yes,Yes,32.11,321100",
        "Cobalt,Co,recycled,recycled,DE,rhein-recycling,,post-consumer,No,No,18.1818,181818",
        "Mica,mica,Koderma Mica Mines Pvt Ltd (fictional),KD-MICA-3,IN,koderma-mica,industrial,,No,No,100,1000000",
        "Cobalt,Co,18.1818,0,18.1818,16,Yes,26,No",
        "per piece,800.78,6.0768,733.5824,52.4808,8.64",
        "per kWh,13.902431,0.1055,12.735806,0.911125,0.15",
        "per lot,80078,607.68,73358.24,5248.08,864",
        "Cobalt,Lualaba Refining SA (fictional),CD,lualaba-refining,custody ledger party id,KS-ASM-7; KV-PIT-2,CD; CD,No,refiner",
    ] {
        assert!(
            csv.lines().any(|l| l == row),
            "csv lacks the row {row:?}:\n{csv}"
        );
    }
    for table in [
        "[origins]",
        "[smelters]",
        "[mines]",
        "[due_diligence]",
        "[recycled_content]",
        "[carbon_footprint_kg_co2e]",
        "[chain_of_custody]",
    ] {
        assert!(csv.contains(table), "csv lacks {table}");
    }

    let dot = demo.text("dot");
    assert!(dot.lines().next().unwrap().contains("verification PASS"));
    assert_eq!(dot.matches(" -> ").count(), 29, "one edge per link");
    for attr in ["rankdir=LR;", "ranksep=", "nodesep="] {
        assert!(dot.contains(attr), "dot lacks {attr}");
    }
    // The four origins (three mines and a recycler) share the first rank.
    let same = dot
        .lines()
        .find(|l| l.contains("rank=same") && !l.contains(" -> "))
        .expect("the origins share a rank");
    assert_eq!(same.matches('"').count(), 8, "{same}");
    // Labels are wrapped, so ranks stay narrow.
    for l in dot.lines().filter(|l| l.contains("[label=")) {
        let label = &l[l.find("[label=\"").unwrap() + 8..];
        let label = &label[..label.find("\", fillcolor").or(label.find("\"]")).unwrap()];
        assert!(
            label.split("\\n").all(|line| line.chars().count() <= 28),
            "a DOT label line is too long: {l}"
        );
    }
    for site in MINE_SITES {
        assert!(dot.contains(site), "dot lacks {site}");
    }

    let html = demo.text("html");
    assert!(html.contains("verification PASS"));
    assert!(
        !html.contains("<script") && !html.contains("src=\"http") && !html.contains("href=\"http"),
        "no external assets or scripts"
    );
    assert!(html.contains("<svg"));
    for figure in [
        "49.71%",
        "32.11%",
        "18.18%",
        "800.78",
        "13.902431",
        "80078",
        "16% met",
        "26% not met",
        MODULE,
    ] {
        assert!(html.contains(figure), "html lacks {figure}");
    }
    for site in MINE_SITES {
        assert!(html.contains(site), "html lacks {site}");
    }
}

fn html_report_prints_to_pdf_in_headless_chromium() {
    let Some(chromium) = ["chromium", "chromium-browser"].into_iter().find(|c| {
        Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    }) else {
        return skip("chromium is not installed (apt-get install chromium)");
    };
    if Command::new("pdftotext").arg("-v").output().is_err() {
        return skip("pdftotext is not installed (apt-get install poppler-utils)");
    }
    let demo = Demo::new();
    let html = demo.file("html", "report.html");
    let pdf = demo.dir.path().join("report.pdf");
    let profile = demo.dir.path().join("chromium-profile");
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--no-pdf-header-footer",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--print-to-pdf={}", pdf.display()))
        .arg(format!("file://{}", html.display()))
        .output()
        .unwrap();
    assert!(
        pdf.is_file(),
        "chromium wrote no PDF: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = Command::new("pdftotext")
        .arg("-layout")
        .arg(&pdf)
        .arg("-")
        .output()
        .unwrap();
    assert!(text.status.success());
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains(MODULE), "the PDF names the module");
    assert!(text.contains("verification PASS"));
    for site in MINE_SITES {
        assert!(text.contains(site), "the PDF names mine site {site}");
    }
    assert!(
        text.contains("800.78"),
        "the PDF gives the footprint per module"
    );
    // Graph labels wrap, they are never cut (the old graph printed `NC-SUL-0001 cobalt-sulfate 400…`).
    assert!(!text.contains('…'), "the PDF cuts a label:\n{text}");
    for id in [MODULE, "NC-SUL-0001", "KD-MICA-3"] {
        let whole = regex::Regex::new(&format!(r"(^|\s){id}(\s|$)")).unwrap();
        assert!(whole.is_match(&text), "the PDF does not name {id} intact");
    }
    // Every row of the chain of custody keeps its timestamp on one line (`white-space: nowrap`).
    let row =
        regex::Regex::new(r"(?m)^\s*\d+\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z\s").unwrap();
    assert_eq!(
        row.find_iter(&text).count(),
        30,
        "one chain-of-custody row per event, each with its whole timestamp:\n{text}"
    );

    // A screenshot at a laptop's size, to look at (`CUSTODY_KEEP_SCREENSHOT=<file>` keeps it).
    let png = demo.dir.path().join("report.png");
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            "--window-size=1600,1100",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", html.display()))
        .output()
        .unwrap();
    let shot = std::fs::read(&png).unwrap_or_else(|e| {
        panic!(
            "chromium wrote no screenshot ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(shot.starts_with(b"\x89PNG"), "the screenshot is a PNG");
    let (width, height) = (
        u32::from_be_bytes(shot[16..20].try_into().unwrap()),
        u32::from_be_bytes(shot[20..24].try_into().unwrap()),
    );
    assert_eq!((width, height), (1600, 1100));
    if let Ok(keep) = std::env::var("CUSTODY_KEEP_SCREENSHOT") {
        std::fs::write(keep, &shot).unwrap();
    }
}

/// One `<rect>` of the graph: x, y, width, height.
#[derive(Debug, Clone, Copy)]
struct Rect(f64, f64, f64, f64);

/// One `<text>` of the graph: x, y (the baseline), font size, content.
#[derive(Debug)]
struct Text(f64, f64, f64, String);

/// The renderer's width estimate: characters × font size × 0.6 (the graph sets a monospace
/// font, whose glyphs advance 0.6 em).
const CHAR_EM: f64 = 0.6;

fn attr(tag: &str, name: &str) -> f64 {
    let re = regex::Regex::new(&format!(r#"\s{name}="([-0-9.]+)""#)).unwrap();
    let caps = re
        .captures(tag)
        .unwrap_or_else(|| panic!("{name} missing in {tag}"));
    caps[1].parse().unwrap()
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The boxes of the graph (`class` "node" or "flow"), each with the texts drawn in it.
fn graph_boxes(svg: &str, class: &str) -> Vec<(Rect, Vec<Text>)> {
    let group = regex::Regex::new(&format!(r#"(?s)<g class="{class}">(.*?)</g>"#)).unwrap();
    let rect = regex::Regex::new(r"<rect\s[^>]*>").unwrap();
    let text = regex::Regex::new(r"(?s)(<text\s[^>]*>)(.*?)</text>").unwrap();
    group
        .captures_iter(svg)
        .map(|g| {
            let body = &g[1];
            let r = rect.find(body).expect("a box has a rect").as_str();
            let r = Rect(
                attr(r, "x"),
                attr(r, "y"),
                attr(r, "width"),
                attr(r, "height"),
            );
            let texts = text
                .captures_iter(body)
                .map(|t| {
                    Text(
                        attr(&t[1], "x"),
                        attr(&t[1], "y"),
                        attr(&t[1], "font-size"),
                        unescape(&t[2]),
                    )
                })
                .collect();
            (r, texts)
        })
        .collect()
}

fn html_graph_labels_fit_their_boxes_and_mines_are_on_the_left() {
    let demo = Demo::new();
    let html = demo.text("html");
    let start = html.find("<svg").unwrap();
    let svg = &html[start..start + html[start..].find("</svg>").unwrap()];
    let root = &svg[..svg.find('>').unwrap()];
    assert!(
        root.contains(r#"width="100%""#) && root.contains("viewBox=\"0 0 "),
        "the graph scales to the page: {root}"
    );
    assert!(
        root.contains("monospace"),
        "the graph sets its font: {root}"
    );
    assert!(html.contains("@page{size:A4 landscape"));

    let nodes = graph_boxes(svg, "node");
    let flows = graph_boxes(svg, "flow");
    assert_eq!(nodes.len(), 10, "4 origins and 6 transforms");
    assert_eq!(flows.len(), 9, "one labelled arrow per transform input");
    for (r, texts) in nodes.iter().chain(&flows) {
        assert!(!texts.is_empty());
        for Text(x, y, size, content) in texts {
            assert!(
                (11.0..=12.0).contains(size),
                "{content:?}: font size {size}"
            );
            assert!(!content.contains('…'), "a label is cut: {content:?}");
            let width = content.chars().count() as f64 * size * CHAR_EM;
            let inside = *x >= r.0
                && x + width <= r.0 + r.2
                && y - 0.8 * size >= r.1
                && y + 0.25 * size <= r.1 + r.3;
            assert!(inside, "{content:?} at ({x}, {y}) overflows its box {r:?}");
        }
    }
    let rects: Vec<Rect> = nodes.iter().chain(&flows).map(|(r, _)| *r).collect();
    for (i, a) in rects.iter().enumerate() {
        for b in &rects[i + 1..] {
            let apart =
                a.0 + a.2 <= b.0 || b.0 + b.2 <= a.0 || a.1 + a.3 <= b.1 || b.1 + b.3 <= a.1;
            assert!(apart, "boxes overlap: {a:?} and {b:?}");
        }
    }
    // Every origin (mine, recycler) in the leftmost column, the product in the rightmost.
    let title = |(_, texts): &(Rect, Vec<Text>)| texts[0].3.clone();
    let left = rects.iter().map(|r| r.0).fold(f64::MAX, f64::min);
    let right = nodes.iter().map(|(r, _)| r.0).fold(f64::MIN, f64::max);
    let origins: Vec<&(Rect, Vec<Text>)> = nodes
        .iter()
        .filter(|n| title(n).starts_with("Mine ") || title(n) == "Recycled")
        .collect();
    assert_eq!(origins.len(), 4);
    for n in &origins {
        assert_eq!(n.0.0, left, "{} is not in the first column", title(n));
    }
    for site in MINE_SITES {
        assert!(
            origins.iter().any(|n| title(n) == format!("Mine {site}")),
            "no box for mine {site} on the left"
        );
    }
    let product = nodes.iter().find(|n| title(n) == "Product").unwrap();
    assert_eq!(product.0.0, right, "the product is in the last column");
    assert!(
        product.1.iter().any(|t| t.3.contains(MODULE)),
        "the product box names {MODULE}"
    );
    // Arrows are drawn first, so the opaque boxes lie on top of them.
    let last_arrow = svg.rfind("marker-end=\"url(#arrow)\"/><g class=\"node\">");
    assert!(last_arrow.is_some(), "the arrows come before the boxes");
    let legend = &svg[svg.find(r#"<g class="legend">"#).expect("a legend")..];
    for key in ["mine", "recycler", "processing step", "product", "arrow"] {
        assert!(legend.contains(key), "the legend lacks {key}");
    }
}

fn epcis_export_validates_and_its_event_ids_are_the_reference_hashes() {
    let demo = Demo::new();
    let path = demo.file("epcis", "report.jsonld");
    let doc = read_json(&path);
    let events = doc["epcisBody"]["eventList"].as_array().unwrap();
    let kinds = |t: &str, step: &str| {
        events
            .iter()
            .filter(|e| e["type"] == t && e["bizStep"] == step)
            .count()
    };
    assert_eq!(
        kinds("ObjectEvent", "commissioning"),
        4,
        "3 extracts and 1 recycle"
    );
    assert_eq!(kinds("ObjectEvent", "shipping"), 10);
    assert_eq!(kinds("ObjectEvent", "receiving"), 10);
    assert_eq!(
        events
            .iter()
            .filter(|e| e["type"] == "TransformationEvent")
            .count(),
        6
    );
    let certified = events
        .iter()
        .filter(|e| e.get("certificationInfo").is_some())
        .count();
    assert_eq!(
        certified, 31,
        "one event per attestation about a party in the chain"
    );
    assert_eq!(events.len(), 30 + 31);
    let extract = events
        .iter()
        .find(|e| {
            e["readPoint"]["id"]
                .as_str()
                .is_some_and(|s| s.ends_with("/site/KV-PIT-2"))
        })
        .unwrap();
    assert_eq!(extract["action"], "ADD");
    assert_eq!(extract["quantityList"][0]["uom"], "KGM");
    assert_eq!(num(&extract["quantityList"][0]["quantity"]), "50000");
    let module = events
        .iter()
        .find(|e| {
            e["type"] == "TransformationEvent"
                && e["outputQuantityList"][0]["epcClass"]
                    .as_str()
                    .unwrap()
                    .ends_with(MODULE)
        })
        .unwrap();
    assert_eq!(module["outputQuantityList"][0]["uom"], "H87");
    assert_eq!(num(&module["outputQuantityList"][0]["quantity"]), "100");
    let ship = events.iter().find(|e| e["bizStep"] == "shipping").unwrap();
    assert!(
        ship["sourceList"][0]["source"].is_string()
            && ship["destinationList"][0]["destination"].is_string()
    );

    match vectors() {
        Some(v) => {
            let schema = read_json(&v.join("epcis/EPCIS-JSON-Schema.json"));
            let errors = validation_errors(&schema, jsonschema::Draft::Draft7, &doc);
            assert!(
                errors.is_empty(),
                "the EPCIS export does not validate: {errors:#?}"
            );
        }
        None => skip("shared/vectors not found above CARGO_MANIFEST_DIR"),
    }

    let ours: Vec<&str> = events
        .iter()
        .map(|e| e["eventID"].as_str().unwrap())
        .collect();
    assert!(
        ours.iter()
            .all(|id| id.starts_with("ni:///sha-256;") && id.ends_with("?ver=CBV2.0"))
    );
    let has_generator = Command::new("python3")
        .args(["-c", "import epcis_event_hash_generator"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_generator {
        return skip(
            "python3 package epcis-event-hash-generator is not installed (pip install epcis-event-hash-generator==1.9.3)",
        );
    }
    let out = Command::new("python3")
        .args(["-m", "epcis_event_hash_generator", "-p"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let reference: Vec<&str> = stdout.lines().filter(|l| l.starts_with("ni:///")).collect();
    assert_eq!(
        reference.len(),
        ours.len(),
        "the generator hashed every event:\n{stdout}"
    );
    for (i, (a, b)) in ours.iter().zip(&reference).enumerate() {
        assert_eq!(
            a, b,
            "event {i}: our eventID differs from epcis-event-hash-generator's\n{stdout}"
        );
    }
}

fn passport_sections_have_the_figures_and_the_battery_pass_shapes() {
    let demo = Demo::new();
    let text = demo.text("passport");
    assert!(
        text.lines()
            .nth(1)
            .unwrap()
            .contains("\"verdict\": \"pass\"")
    );
    let p: Value = serde_json::from_str(&text).unwrap();
    let cf = &p["carbonFootprint"];
    assert_eq!(num(&cf["batteryCarbonFootprint"]), "13.902431");
    assert_eq!(num(&cf["absoluteCarbonFootprint"]), "800.78");
    let stages: Vec<(String, String)> = cf["carbonFootprintPerLifecycleStage"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["lifecycleStage"].as_str().unwrap().to_owned(),
                num(&s["carbonFootprint"]),
            )
        })
        .collect();
    assert_eq!(
        stages,
        [
            ("RawMaterialExtraction".into(), "0.1055".into()),
            ("MainProduction".into(), "12.735806".into()),
            ("Distribution".into(), "0.911125".into()),
            ("Recycling".into(), "0.15".into())
        ]
    );
    let rc = &p["circularity"]["recycledContent"][0];
    assert_eq!(rc["recycledMaterial"], "Cobalt");
    assert_eq!(num(&rc["postConsumerShare"]), "18.1818");
    assert_eq!(num(&rc["preConsumerShare"]), "0");

    let Some(v) = vectors() else {
        return skip("shared/vectors not found above CARGO_MANIFEST_DIR");
    };
    let bp = v.join("batterypass");
    for (section, schema) in [
        (
            "carbonFootprint",
            "io.BatteryPass.CarbonFootprint/1.2.0/gen/CarbonFootprintForBatteries-schema.json",
        ),
        (
            "circularity",
            "io.BatteryPass.Circularity/1.2.0/gen/Circularity-schema.json",
        ),
        (
            "supplyChainDueDiligence",
            "io.BatteryPass.SupplyChainDueDiligence/1.2.0/gen/SupplyChainDueDiligence-schema.json",
        ),
    ] {
        let mut schema = read_json(&bp.join(schema));
        let ours = p[section].as_object().unwrap();
        let unfilled: Vec<&str> = p["unfilled"][section]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u.as_str().unwrap())
            .collect();
        // Every required attribute is either given or declared unfilled ...
        for required in schema["required"].as_array().unwrap() {
            let name = required.as_str().unwrap();
            assert!(
                ours.contains_key(name) || unfilled.contains(&name),
                "{section}: {name} is neither given nor declared unfilled"
            );
        }
        // ... every attribute given is one of the aspect's, and has the aspect's shape.
        schema["additionalProperties"] = Value::Bool(false);
        let given: Vec<Value> = schema["required"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| ours.contains_key(r.as_str().unwrap()))
            .cloned()
            .collect();
        // (draft-04 wants `required` non-empty, so it goes when nothing required is given.)
        match given.is_empty() {
            true => schema.as_object_mut().unwrap().remove("required"),
            false => schema
                .as_object_mut()
                .unwrap()
                .insert("required".into(), Value::Array(given)),
        };
        let errors = validation_errors(&schema, jsonschema::Draft::Draft4, &p[section]);
        assert!(errors.is_empty(), "{section}: {errors:#?}");
    }
}

fn a_lot_that_fails_verification_says_so_first_and_exits_1() {
    let demo = Demo::new();
    let policy = demo.dir.path().join("strict.toml");
    std::fs::write(&policy, "high_risk = \"error\"\n").unwrap();
    let policy = policy.to_str().unwrap();
    for format in ["json", "csv", "html", "dot", "epcis", "passport"] {
        let out = demo.report(format, &["--policy", policy]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{format}: a failed verdict exits 1"
        );
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            text.contains("CUS-ORI-002"),
            "{format}: the findings are shown"
        );
        match format {
            "json" | "passport" => assert!(
                text.lines()
                    .nth(1)
                    .unwrap()
                    .contains("\"verdict\": \"fail\""),
                "{format}: {text}"
            ),
            "csv" | "dot" => assert!(
                text.lines().next().unwrap().contains("verification FAILED"),
                "{format}: {text}"
            ),
            "html" => {
                let body = text.split("<body>").nth(1).unwrap();
                assert!(
                    body.starts_with("<div class=\"banner fail\">"),
                    "html: the banner comes first"
                );
                assert!(body.contains("verification FAILED"));
            }
            _ => {
                let doc: Value = serde_json::from_str(&text).unwrap();
                assert_eq!(
                    doc["cus:verdict"],
                    "https://custody.example/voc/verdict-fail"
                );
            }
        }
    }
}

fn unknown_lots_and_formats_are_errors_exit_2() {
    let demo = Demo::new();
    let out = custody_tests::custody()
        .arg("--ledger")
        .arg(demo.ledger())
        .args(["report", "NO-SUCH-LOT", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("NO-SUCH-LOT"));
    let out = demo.report("pdf", &[]);
    assert_eq!(out.status.code(), Some(2));
}

fn main() -> std::process::ExitCode {
    let mut suite = custody_tests::Suite::default();
    suite.test(
        "json_report_has_the_hand_worked_figures",
        &[],
        json_report_has_the_hand_worked_figures,
    );
    suite.test(
        "csv_dot_and_html_report_the_same_figures",
        &[],
        csv_dot_and_html_report_the_same_figures,
    );
    suite.test(
        "html_report_prints_to_pdf_in_headless_chromium",
        &[
            custody_tests::Need::Program("chromium", "apt-get install chromium"),
            custody_tests::Need::Program("pdftotext", "apt-get install poppler-utils"),
        ],
        html_report_prints_to_pdf_in_headless_chromium,
    );
    suite.test(
        "html_graph_labels_fit_their_boxes_and_mines_are_on_the_left",
        &[],
        html_graph_labels_fit_their_boxes_and_mines_are_on_the_left,
    );
    suite.test(
        "epcis_export_validates_and_its_event_ids_are_the_reference_hashes",
        &[
            custody_tests::Need::Vectors,
            custody_tests::Need::Python(
                "epcis_event_hash_generator",
                "pip install -r .ci/requirements.txt",
            ),
        ],
        epcis_export_validates_and_its_event_ids_are_the_reference_hashes,
    );
    suite.test(
        "passport_sections_have_the_figures_and_the_battery_pass_shapes",
        &[custody_tests::Need::Vectors],
        passport_sections_have_the_figures_and_the_battery_pass_shapes,
    );
    suite.test(
        "a_lot_that_fails_verification_says_so_first_and_exits_1",
        &[],
        a_lot_that_fails_verification_says_so_first_and_exits_1,
    );
    suite.test(
        "unknown_lots_and_formats_are_errors_exit_2",
        &[],
        unknown_lots_and_formats_are_errors_exit_2,
    );
    suite.run()
}
