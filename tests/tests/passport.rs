//! The battery passport page end to end (`docs/passport.md`): the real `custody serve` on
//! `127.0.0.1:0` over the demo ledger, read by a real HTTP client (ureq), by a QR decoder
//! (rqrr) and by headless Chromium driven by playwright-core (`web/tests/browser.mjs`),
//! which runs the in-browser verifier on the real bundle and on tampered ones.
//!
//! A test whose tool is missing (node, chromium, `web/node_modules`) is listed as ignored
//! with the reason, and fails under `CI=true` (`custody_tests::Suite`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use custody_tests::{Need, Suite, custody, custody_bin, stdout, web_dir};
use ledger_core::bundle::Bundle;
use ledger_core::finding::Verdict;
use ledger_core::policy::Policy;
use ledger_core::statement::Entry;
use ledger_core::timestamp::Timestamp;
use ledger_scenario::test_key;
use serde_json::Value;
use tempfile::TempDir;

/// The demo module's Digital Link path (fixtures/demo/scenario.jsonl binds it).
const PATH: &str = "/01/04012345123456/21/M0001";
/// The resolver host the tests' QR codes point at.
const BASE: &str = "https://passport.example.com";

/// The demo ledger (`custody demo`) in a temporary directory, with its operator key.
struct Demo {
    dir: TempDir,
}

impl Demo {
    fn new() -> Demo {
        let dir = TempDir::new().unwrap();
        let ledger = dir.path().join("ledger");
        custody()
            .env_remove("CUSTODY_LEDGER")
            .env_remove("CUSTODY_SERVER")
            .args(["demo", "--dir"])
            .arg(&ledger)
            .assert()
            .success();
        Demo { dir }
    }

    fn ledger(&self) -> PathBuf {
        self.dir.path().join("ledger")
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn custody(&self, args: &[&str]) -> assert_cmd::assert::Assert {
        custody()
            .env_remove("CUSTODY_LEDGER")
            .env_remove("CUSTODY_SERVER")
            .env("CUSTODY_LOCK_WAIT", "20")
            .arg("--ledger")
            .arg(self.ledger())
            .args(args)
            .assert()
    }

    fn serve(&self) -> Served {
        let mut child = Command::new(custody_bin())
            .env_remove("CUSTODY_LEDGER")
            .env_remove("CUSTODY_SERVER")
            .arg("--ledger")
            .arg(self.ledger())
            .args(["serve", "--listen", "127.0.0.1:0", "--base-url", BASE])
            .arg("--operator-key")
            .arg(self.path("ledger.operator.pem"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(self.path("serve.log")).unwrap())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("custody serve did not start: {line:?}"))
            .to_owned();
        Served { child, url }
    }
}

/// A running `custody serve`, stopped when dropped.
struct Served {
    child: Child,
    url: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP answer: status, content type, body.
struct Answer {
    status: u16,
    kind: String,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

fn get(url: &str, headers: &[(&str, &str)]) -> Answer {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let mut request = agent.get(url);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let mut response = request.call().unwrap();
    let kind = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    Answer {
        status: response.status().as_u16(),
        kind,
        body: response.body_mut().read_to_string().unwrap(),
    }
}

/// What only the restricted tier shows: a mine site, a supplier's name.
const RESTRICTED: [&str; 3] = ["KV-PIT-2", "Kivu Mining", "Restricted information"];

fn html_json_ld_and_linkset_at_the_digital_link() {
    let demo = Demo::new();
    let served = demo.serve();
    let url = format!("{}{PATH}", served.url);

    let page = get(&url, &[]);
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.kind, "text/html; charset=utf-8");
    for shown in [
        "Volta Battery Modules GmbH (fictional) (DE)",
        "VM-48-576",
        "04012345123456",
        "M0001",
        "NMC811",
        "57.6 kWh",
        // The figures of the report (tests/tests/report.rs works them out by hand).
        "13.902431",
        "12.735806",
        "18.18%",
        "<td class=\"no\">26% not met</td>",
        "CD 81.82%",
        "IN 100%",
        "PASS (0 errors, 3 warnings)",
        "needs JavaScript",
    ] {
        assert!(page.body.contains(shown), "the page lacks {shown:?}");
    }
    for hidden in RESTRICTED {
        assert!(
            !page.body.contains(hidden),
            "the public page shows {hidden:?}"
        );
    }

    let ld = get(&url, &[("Accept", "application/ld+json")]);
    assert_eq!((ld.status, ld.kind.as_str()), (200, "application/ld+json"));
    let ld = ld.json();
    assert_eq!(ld["@id"], format!("{BASE}{PATH}"));
    assert_eq!(ld["accessLevel"], "public");
    assert_eq!(
        ld["generalProductInformation"]["gs1:gtin"],
        "04012345123456"
    );
    assert_eq!(
        ld["materialComposition"]["batteryChemistry"]["shortName"],
        "NMC811"
    );
    assert_eq!(
        ld["carbonFootprint"]["batteryCarbonFootprint"].to_string(),
        "13.902431"
    );
    assert_eq!(
        ld["circularity"]["recycledContent"][0]["recycledMaterial"],
        "Cobalt"
    );
    assert!(ld.get("cus:origins").is_none() && ld.get("cus:suppliers").is_none());
    assert!(ld["materialComposition"].get("batteryMaterials").is_none());

    let links = get(&url, &[("Accept", "application/linkset+json")]);
    assert_eq!(links.kind, "application/linkset+json");
    let links = links.json();
    let set = &links["linkset"][0];
    assert_eq!(set["anchor"], format!("{BASE}{PATH}"));
    assert_eq!(
        set["https://gs1.org/voc/traceability"][0]["href"],
        "/v1/lots/VM-MOD-0001/bundle"
    );

    let bad = get(&format!("{}/01/04012345123457/21/M0001", served.url), &[]);
    assert_eq!(
        (bad.status, bad.kind.as_str()),
        (400, "application/problem+json")
    );
    let bad = bad.json();
    assert_eq!(bad["field"], "gtin");
    assert_eq!(
        bad["detail"],
        "gtin: 04012345123457 has check digit 7, the GS1 check digit is 6"
    );
    let unknown = get(&format!("{}/01/04012345123456/21/M0002", served.url), &[]);
    assert_eq!(unknown.status, 404);
    assert_eq!(
        unknown.json()["detail"],
        "no battery is bound to GTIN 04012345123456 serial M0002"
    );
    let short = get(&format!("{}/01/4012345123456/21/M0001", served.url), &[]);
    assert_eq!(short.status, 400);
    let serial = get(&format!("{}/01/04012345123456/21/M%2F1", served.url), &[]);
    assert_eq!(serial.status, 400);
    assert_eq!(serial.json()["field"], "serial");
}

/// The `Custody-*` headers of a request signed by `party` with the test key of `signer`.
fn signed(party: &str, signer: &str, path: &str, time: i64) -> Vec<(String, String)> {
    let key = test_key(signer);
    let message =
        ledger_server::passport::signed_message(ledger_scenario::demo::ORIGIN, "GET", path, time);
    vec![
        ("Custody-Party".into(), party.into()),
        ("Custody-Key".into(), key.public_key().to_hex()),
        ("Custody-Time".into(), time.to_string()),
        (
            "Custody-Signature".into(),
            hex::encode(key.sign(&message).0),
        ),
    ]
}

fn with(headers: &[(String, String)]) -> Vec<(&str, &str)> {
    headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

fn restricted_tier_only_for_a_fresh_signature_by_an_allowed_role() {
    let demo = Demo::new();
    let served = demo.serve();
    let url = format!("{}{PATH}", served.url);
    let now = ledger::now().unwrap().unix();

    // An auditor sees the Annex XIII(2)-(4) detail.
    let auditor = signed("rba-auditor-7", "rba-auditor-7", PATH, now);
    let page = get(&url, &with(&auditor));
    assert_eq!(page.status, 200, "{}", page.body);
    for shown in RESTRICTED {
        assert!(
            page.body.contains(shown),
            "the restricted page lacks {shown:?}"
        );
    }
    let ld = get(
        &url,
        &[with(&auditor), vec![("Accept", "application/ld+json")]].concat(),
    )
    .json();
    assert_eq!(ld["accessLevel"], "legitimate-interest");
    assert!(ld["cus:origins"].as_array().is_some_and(|o| !o.is_empty()));
    assert_eq!(
        ld["materialComposition"]["batteryMaterials"][0]["materialName"],
        "Cobalt"
    );
    // The same through `custody passport-request`, from the auditor's key file.
    let pem = demo.path("auditor.pem");
    std::fs::write(
        &pem,
        test_key("rba-auditor-7").to_pkcs8_pem().unwrap().as_bytes(),
    )
    .unwrap();
    std::fs::set_permissions(&pem, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let made = custody()
        .args(["passport-request", PATH, "--key"])
        .arg(&pem)
        .args([
            "--party",
            "rba-auditor-7",
            "--origin",
            ledger_scenario::demo::ORIGIN,
        ])
        .assert();
    let lines = stdout(&made.success());
    let from_cli: Vec<(&str, &str)> = lines.lines().map(|l| l.split_once(": ").unwrap()).collect();
    assert_eq!(from_cli.len(), 4, "{lines}");
    let page = get(&url, &from_cli);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Restricted information"));

    // So does a recycler.
    let recycler = signed("rhein-recycling", "rhein-recycling", PATH, now);
    assert_eq!(get(&url, &with(&recycler)).status, 200);

    // A miner is enrolled and signs correctly, but its role does not allow it.
    let miner = get(
        &url,
        &with(&signed("kivu-mining", "kivu-mining", PATH, now)),
    );
    assert_eq!(miner.status, 403, "{}", miner.body);
    assert_eq!(
        miner.json()["type"],
        "https://custody.example/problems/not-authorized"
    );

    // A signature that does not verify, one for another path, a stale one, and the
    // auditor's key claimed for another party: 401, and nothing restricted.
    let mut forged = auditor.clone();
    let mut sig = hex::decode(&forged[3].1).unwrap();
    sig[5] ^= 1;
    forged[3].1 = hex::encode(sig);
    let other_path = signed("rba-auditor-7", "rba-auditor-7", "/01/x/21/y", now);
    let stale = signed("rba-auditor-7", "rba-auditor-7", PATH, now - 3600);
    let borrowed = signed("rhein-recycling", "rba-auditor-7", PATH, now);
    for (what, headers, needle) in [
        ("a bad signature", &forged, "custody-signature"),
        ("another path", &other_path, "custody-signature"),
        ("a stale time", &stale, "custody-time"),
        ("another party's key", &borrowed, "custody-key"),
    ] {
        let answer = get(&url, &with(headers));
        assert_eq!(answer.status, 401, "{what}: {}", answer.body);
        let detail = answer.json()["detail"].as_str().unwrap().to_owned();
        assert!(detail.starts_with(needle), "{what}: {detail}");
        assert!(!answer.body.contains("KV-PIT-2"), "{what}");
    }
    // Half the headers: 400 naming the missing one.
    let half = get(&url, &with(&auditor[..2]));
    assert_eq!(half.status, 400);
    assert_eq!(half.json()["field"], "custody-time");
}

/// The QR codes in an SVG (`M{x} {y}h1v1h-1z` modules, as `ledger_report::gs1` draws
/// them), rasterised at 4 px a module and decoded by rqrr.
fn decode_qr(svg: &str) -> Vec<String> {
    let module = regex::Regex::new(r"M(\d+) (\d+)h1v1h-1z").unwrap();
    let paths = regex::Regex::new(r#"d="((?:M\d+ \d+h1v1h-1z)+)""#).unwrap();
    let mut out = Vec::new();
    for path in paths.captures_iter(svg) {
        let cells: Vec<(usize, usize)> = module
            .captures_iter(&path[1])
            .map(|c| (c[1].parse().unwrap(), c[2].parse().unwrap()))
            .collect();
        let side = cells.iter().map(|(x, y)| x.max(y)).max().unwrap() + 5;
        let scale = 4;
        let mut dark = vec![false; side * side];
        for (x, y) in cells {
            dark[y * side + x] = true;
        }
        let mut image =
            rqrr::PreparedImage::prepare_from_greyscale(side * scale, side * scale, |x, y| {
                if dark[(y / scale) * side + x / scale] {
                    0
                } else {
                    255
                }
            });
        for grid in image.detect_grids() {
            out.push(grid.decode().unwrap().1);
        }
    }
    out
}

fn qr_codes_of_label_reports_and_page_decode_to_the_digital_link() {
    let demo = Demo::new();
    let url = format!("{BASE}{PATH}");
    let label = demo.path("module-label.svg");
    let made = demo.custody(&[
        "label",
        "VM-MOD-0001",
        "--out",
        label.to_str().unwrap(),
        "--base-url",
        BASE,
    ]);
    assert_eq!(
        stdout(&made.success()),
        format!("wrote {}: {url}\n", label.display())
    );
    let svg = std::fs::read_to_string(&label).unwrap();
    assert_eq!(decode_qr(&svg), std::slice::from_ref(&url));
    assert!(svg.contains("(01) 04012345123456 (21) M0001") && svg.contains("Model VM-48-576"));

    // A lot bound to nothing: exit 2, and the message says what is missing.
    let unbound = demo
        .custody(&["label", "KV-ORE-0001", "--out", "x.svg"])
        .code(2);
    assert!(
        custody_tests::stderr(&unbound).contains("lot KV-ORE-0001 is bound to no GTIN and serial"),
        "{}",
        custody_tests::stderr(&unbound)
    );

    for format in ["html", "passport"] {
        let report = demo.custody(&[
            "report",
            "VM-MOD-0001",
            "--format",
            format,
            "--base-url",
            BASE,
        ]);
        let text = stdout(&report.success());
        let svg = if format == "passport" {
            let p: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(p["digitalLink"]["url"], url);
            p["digitalLink"]["qrCodeSvg"].as_str().unwrap().to_owned()
        } else {
            text
        };
        assert_eq!(decode_qr(&svg), std::slice::from_ref(&url), "{format}");
    }

    let served = demo.serve();
    let page = get(&format!("{}{PATH}", served.url), &[]);
    assert_eq!(decode_qr(&page.body), [url]);
}

/// Tampered copies of the demo module's bundle, each with the words the page must name:
/// a forged checkpoint signature, a changed quantity, and a left-out attestation.
fn tampered_bundles(bytes: &[u8], dir: &Path) -> Vec<(PathBuf, String)> {
    let original = Bundle::decode(bytes).unwrap();
    let mut out = Vec::new();
    let mut write = |name: &str, bundle: &Bundle, expect: String| {
        let file = dir.join(name);
        std::fs::write(&file, bundle.encode().unwrap()).unwrap();
        out.push((file, expect));
    };

    // The operator's signature: one base64 digit of the signature itself changed.
    let mut forged = original.clone();
    let line = forged.checkpoint.rfind(' ').unwrap() + 20;
    let mut note = forged.checkpoint.into_bytes();
    note[line] = if note[line] == b'A' { b'B' } else { b'A' };
    forged.checkpoint = String::from_utf8(note).unwrap();
    write(
        "forged-checkpoint.bundle",
        &forged,
        "checkpoint: the operator signature does not verify".into(),
    );

    // The module's capacity raised in its signed creation: the entry no longer hashes to
    // the leaf the checkpoint covers.
    let mut changed = original.clone();
    let at = changed
        .entries
        .iter()
        .position(|e| {
            let entry = Entry::decode(&e.entry).unwrap();
            entry
                .statement
                .event
                .body
                .outputs()
                .iter()
                .any(|o| o.lot.as_str() == "VM-MOD-0001")
        })
        .unwrap();
    let mut entry = Entry::decode(&changed.entries[at].entry).unwrap();
    let seq = entry.seq;
    if let ledger_core::event::Body::Transform(t) = &mut entry.statement.event.body {
        t.outputs[0].capacity_wh = Some(60_000);
    }
    changed.entries[at].entry = entry.encode().unwrap();
    write(
        "changed-capacity.bundle",
        &changed,
        format!("entry #{seq}: its inclusion proof does not lead"),
    );

    // An attestation about a supplier left out: the completeness proof shows it.
    let mut partial = original.clone();
    let at = partial
        .entries
        .iter()
        .rposition(|e| {
            matches!(
                Entry::decode(&e.entry).unwrap().statement.event.body,
                ledger_core::event::Body::Attest(_)
            )
        })
        .unwrap();
    partial.entries.remove(at);
    write(
        "left-out-attestation.bundle",
        &partial,
        "an entry about it is left out".into(),
    );
    out
}

/// The demo module's bundle from the server, with the operator's verifier key.
fn bundle_and_vkey(served: &Served, demo: &Demo) -> (Vec<u8>, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let bytes = agent
        .get(format!("{}/v1/lots/VM-MOD-0001/bundle", served.url))
        .call()
        .unwrap()
        .body_mut()
        .read_to_vec()
        .unwrap();
    std::fs::write(demo.path("module.bundle"), &bytes).unwrap();
    let vkey = ledger_core::note::NoteVerifier::new(
        ledger_scenario::demo::ORIGIN,
        *test_key(ledger_scenario::demo::OPERATOR)
            .public_key()
            .verifying_key(),
    )
    .unwrap()
    .vkey();
    (bytes, vkey)
}

fn the_page_verifies_in_chromium_and_names_each_tampering() {
    let demo = Demo::new();
    let served = demo.serve();
    let (bytes, vkey) = bundle_and_vkey(&served, &demo);
    let tampered = tampered_bundles(&bytes, demo.dir.path());
    // The Rust verifier refuses every one of them too.
    let key = ledger_core::note::NoteVerifier::from_vkey(&vkey).unwrap();
    let now = Timestamp::from_unix(4_000_000_000).unwrap();
    for (file, _) in &tampered {
        let changed = std::fs::read(file).unwrap();
        let refused = match ledger_core::bundle::verify_bytes(
            &changed,
            Some(&key),
            &Policy::default(),
            now,
        ) {
            Err(_) => true,
            Ok(r) => ledger_core::finding::verdict(&r.findings) == Verdict::Fail,
        };
        assert!(refused, "the Rust verifier accepts {}", file.display());
    }
    let spec: Vec<Value> = tampered
        .iter()
        .map(|(f, e)| serde_json::json!({"file": f, "expect": e}))
        .collect();
    let spec_file = demo.path("tampered.json");
    std::fs::write(&spec_file, serde_json::to_string(&spec).unwrap()).unwrap();
    let shots = std::env::var_os("CUSTODY_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| demo.dir.path().to_owned());
    let run = Command::new("node")
        .current_dir(web_dir())
        .arg("tests/browser.mjs")
        .arg(format!("{}{PATH}", served.url))
        .arg(&shots)
        .arg(&spec_file)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "browser test failed:\n{out}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(report["axe"], serde_json::json!([]));
    assert_eq!(report["tampered"].as_array().unwrap().len(), 3);
    for png in ["passport-desktop.png", "passport-phone.png"] {
        assert!(
            std::fs::metadata(shots.join(png)).unwrap().len() > 10_000,
            "{png}"
        );
    }
}

fn the_javascript_verifier_rejects_byte_changes_the_rust_one_rejects() {
    let demo = Demo::new();
    let served = demo.serve();
    let (bytes, vkey) = bundle_and_vkey(&served, &demo);
    // Every 97th byte (a prime stride, so every part of the 47 KB bundle is hit), each also
    // refused by the Rust verifier (tests/tests/transparency.rs flips every byte of a small
    // bundle).
    let key = ledger_core::note::NoteVerifier::from_vkey(&vkey).unwrap();
    let now = Timestamp::from_unix(4_000_000_000).unwrap();
    for i in (0..bytes.len()).step_by(97) {
        let mut changed = bytes.clone();
        changed[i] ^= 1;
        let refused = match ledger_core::bundle::verify_bytes(
            &changed,
            Some(&key),
            &Policy::default(),
            now,
        ) {
            Err(_) => true,
            Ok(r) => ledger_core::finding::verdict(&r.findings) == Verdict::Fail,
        };
        assert!(refused, "the Rust verifier accepts a change at byte {i}");
    }
    let run = Command::new("node")
        .current_dir(web_dir())
        .arg("tests/flips.mjs")
        .arg(demo.path("module.bundle"))
        .arg(&vkey)
        .arg("97")
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&run.stdout).trim(),
        "[]",
        "byte positions the JavaScript verifier accepted"
    );
}

fn the_javascript_signature_rule_accepts_exactly_the_vectors_the_rust_one_does() {
    let file = custody_tests::vectors_dir()
        .unwrap()
        .join("ed25519/ed25519vectors.json");
    let vectors: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let rust: Vec<u64> = vectors
        .iter()
        .filter(|v| {
            let mut key = [0u8; 32];
            let mut sig = [0u8; 64];
            hex::decode_to_slice(v["key"].as_str().unwrap(), &mut key).unwrap();
            hex::decode_to_slice(v["sig"].as_str().unwrap(), &mut sig).unwrap();
            ledger_core::keys::PublicKey::from_bytes(&key).is_ok_and(|k| {
                k.verify(
                    v["msg"].as_str().unwrap().as_bytes(),
                    &ledger_core::keys::Signature(sig),
                )
                .is_ok()
            })
        })
        .map(|v| v["number"].as_u64().unwrap())
        .collect();
    assert_eq!(rust.len(), 8, "docs/format.md §3.1 accepts 8 of the 914");
    let run = Command::new("node")
        .current_dir(web_dir())
        .arg("tests/ed25519.mjs")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let js: Vec<u64> = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(
        js, rust,
        "vectors accepted by the JavaScript rule, and by the Rust one"
    );
}

fn web_dist_is_what_the_locked_packages_build() {
    let out = TempDir::new().unwrap();
    let run = Command::new("node")
        .current_dir(web_dir())
        .arg("build.mjs")
        .arg(out.path())
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let manifest = std::fs::read_to_string(out.path().join("MANIFEST")).unwrap();
    for line in manifest
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("package "))
    {
        let file = line.split_once("  ").unwrap().1;
        assert_eq!(
            std::fs::read(out.path().join(file)).unwrap(),
            std::fs::read(web_dir().join("dist").join(file)).unwrap(),
            "web/dist/{file} differs from what build.mjs makes: run `cd web && npm ci && node build.mjs`"
        );
    }
    assert_eq!(
        manifest,
        std::fs::read_to_string(web_dir().join("dist/MANIFEST")).unwrap()
    );
}

fn main() -> std::process::ExitCode {
    let node = Need::Program("node", "apt-get install nodejs npm");
    let chromium = Need::Program("chromium", "apt-get install chromium");
    let mut suite = Suite::default();
    suite.test(
        "html_json_ld_and_linkset_at_the_digital_link",
        &[],
        html_json_ld_and_linkset_at_the_digital_link,
    );
    suite.test(
        "restricted_tier_only_for_a_fresh_signature_by_an_allowed_role",
        &[],
        restricted_tier_only_for_a_fresh_signature_by_an_allowed_role,
    );
    suite.test(
        "qr_codes_of_label_reports_and_page_decode_to_the_digital_link",
        &[],
        qr_codes_of_label_reports_and_page_decode_to_the_digital_link,
    );
    suite.test(
        "the_page_verifies_in_chromium_and_names_each_tampering",
        &[
            Need::Program("node", "apt-get install nodejs npm"),
            chromium,
            Need::WebPackages,
        ],
        the_page_verifies_in_chromium_and_names_each_tampering,
    );
    suite.test(
        "the_javascript_verifier_rejects_byte_changes_the_rust_one_rejects",
        &[Need::Program("node", "apt-get install nodejs npm")],
        the_javascript_verifier_rejects_byte_changes_the_rust_one_rejects,
    );
    suite.test(
        "the_javascript_signature_rule_accepts_exactly_the_vectors_the_rust_one_does",
        &[
            Need::Program("node", "apt-get install nodejs npm"),
            Need::Vectors,
        ],
        the_javascript_signature_rule_accepts_exactly_the_vectors_the_rust_one_does,
    );
    suite.test(
        "web_dist_is_what_the_locked_packages_build",
        &[node, Need::WebPackages],
        web_dist_is_what_the_locked_packages_build,
    );
    suite.run()
}
