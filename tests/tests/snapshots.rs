//! Whole `custody` runs as snapshots: the command line, the exit code, stdout and stderr of
//! every run whose output is a contract (verdict lines, refusals, receipts, signed
//! statements, JSON documents, error messages), in one deterministic scenario.
//!
//! The scenario is made deterministic rather than redacted: every key is a demo test key
//! (`ledger_scenario::test_key`), and every event JSON carries its own `nonce` and `time`, so
//! event ids and signatures are the same on every run. What still varies is redacted by the
//! filters of [`Scenario::new`], each with its reason: the temp dir, the ledger's clock
//! (`recorded_at`) and every hash derived from it (entry hashes, Merkle leaves, roots,
//! inclusion paths, checkpoint signatures), and the event id `custody enroll` prints (the
//! binary signs that event with its own clock and a random nonce, as `init` does the genesis
//! entry, whose id no snapshot shows).
//!
//! A changed output fails the test with a diff. To accept a deliberate change, run
//! `INSTA_UPDATE=always nice cargo test -p custody-tests --test snapshots` (or `cargo insta
//! review`) and commit the `.snap` files under `tests/tests/snapshots/`; under `CI=true`
//! insta writes nothing and a missing snapshot fails.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use ledger_core::note::NoteVerifier;
use ledger_scenario::test_key;
use serde_json::Value;
use tempfile::TempDir;

/// The scenario's log origin.
const ORIGIN: &str = "snapshots.custody.example/log";

/// One finished run of the binary.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// A scratch directory holding the scenario's ledger, key files and inputs, and the insta
/// settings (filters) every snapshot of it is taken with.
struct Scenario {
    dir: TempDir,
    settings: insta::Settings,
}

impl Scenario {
    fn new() -> Scenario {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path("snapshots");
        // The snapshot body shows the command line itself.
        settings.set_omit_expression(true);
        // The temp dir's name is random: shown as [DIR], in paths and in error messages.
        settings.add_filter(&regex::escape(&dir.path().display().to_string()), "[DIR]");
        // `recorded_at` is the ledger's clock at append time.
        settings.add_filter(
            r#""recorded_at":"[^"]*""#,
            r#""recorded_at":"[RECORDED_AT]""#,
        );
        // Entry bytes and entry hashes hold `recorded_at`; `prev` is the previous entry's hash.
        settings.add_filter(r#""entry_hex":"[0-9a-f]+""#, r#""entry_hex":"[ENTRY_HEX]""#);
        settings.add_filter(
            r#""(entry_hash|prev|leaf_hash|root)":"[0-9a-f]{64}""#,
            r#""$1":"[HASH]""#,
        );
        // Merkle roots in text output ("root <hex>"): the leaves are entry hashes.
        settings.add_filter(r"\broot [0-9a-f]{64}\b", "root [ROOT]");
        // A checkpoint note's root line (base64 of 32 bytes) and its signature line over it.
        settings.add_filter(r"(?m)^[A-Za-z0-9+/]{43}=$", "[ROOT_BASE64]");
        settings.add_filter(
            r"(?m)^(— \S+) [A-Za-z0-9+/]+={0,2}$",
            "$1 [CHECKPOINT_SIGNATURE]",
        );
        Scenario { dir, settings }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn ledger(&self) -> PathBuf {
        self.path("ledger")
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Writes the test key of `party` to `file` (PKCS#8, mode 0600) and its public key to
    /// `file.pub`.
    fn write_key(&self, file: &str, party: &str) {
        let key = test_key(party);
        let path = self.write(file, &key.to_pkcs8_pem().unwrap());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        self.write(&format!("{file}.pub"), &key.public_key().to_pem().unwrap());
    }

    /// `custody --ledger LEDGER ARGS`, run in the scratch directory with no `CUSTODY_*`
    /// variables from the environment.
    fn run_in(&self, ledger: &Path, args: &[&str]) -> Run {
        let output = custody_tests::custody()
            .current_dir(self.dir.path())
            .env_remove("CUSTODY_LEDGER")
            .env_remove("CUSTODY_OPERATOR_KEY")
            .env_remove("CUSTODY_PASSPHRASE")
            .arg("--ledger")
            .arg(ledger)
            .args(args)
            .output()
            .unwrap();
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// A run whose output is not a contract (a sign with `--out`): it must succeed.
    fn run_ok(&self, args: &[&str]) -> Run {
        let run = self.run_in(&self.ledger(), args);
        assert_eq!(run.code, 0, "custody {args:?}: {}", run.stderr);
        run
    }

    /// Runs `custody --ledger <scenario ledger> ARGS` and snapshots the run as `name`.
    fn snapshot(&self, name: &str, args: &[&str]) -> Run {
        self.snapshot_in(name, &self.ledger(), args, &[])
    }

    /// Runs `custody --ledger LEDGER ARGS` and snapshots the run as `name`, with `filters`
    /// (regex, replacement) applied to this snapshot only, after the scenario's own.
    fn snapshot_in(
        &self,
        name: &str,
        ledger: &Path,
        args: &[&str],
        filters: &[(&str, &str)],
    ) -> Run {
        let run = self.run_in(ledger, args);
        let mut settings = self.settings.clone();
        for (regex, replacement) in filters {
            settings.add_filter(regex, *replacement);
        }
        let ledger = ledger.display().to_string();
        let rendered = render(&[&["--ledger", &ledger], args].concat(), &run);
        settings.bind(|| insta::assert_snapshot!(name, rendered));
        run
    }
}

/// One snapshot: the command line, the exit code, then stdout and stderr.
fn render(args: &[&str], run: &Run) -> String {
    let mut text = String::from("$ custody");
    for arg in args {
        text.push(' ');
        text.push_str(&quote(arg));
    }
    text.push_str(&format!("\nexit: {}\n", run.code));
    for (name, stream) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        text.push_str(&format!("--- {name}\n"));
        text.push_str(stream);
        if !stream.is_empty() && !stream.ends_with('\n') {
            text.push_str("\n[no newline at the end]\n");
        }
    }
    text
}

/// An argument as a shell would need it written.
fn quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:+=,@[]".contains(c));
    if plain {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// The operator's key enrolls the miner at #1 (signed with a fixed time and nonce, so the
/// entry `show --seq 1` prints is deterministic); `custody enroll` enrolls the refiner.
fn enroll_kivu_json() -> String {
    format!(
        r#"{{"kind": "enroll", "actor": "operator", "time": "2026-03-01T09:00:00Z", "nonce": 1,
            "party": "kivu-mining", "name": "Kivu Mining SA", "country": "CD", "roles": ["miner"],
            "keys": ["{}"]}}"#,
        test_key("kivu-mining").public_key().to_hex()
    )
}

/// The miner's extract of 50 t and a first shipment of 20 t to the refiner.
const EXTRACT_AND_SHIP: &str = r#"{"kind": "extract", "actor": "kivu-mining", "time": "2026-03-02T08:15:00Z", "nonce": 11,
 "site": {"id": "KV-PIT-2", "country": "CD", "lat": -10.71, "lon": 25.47, "method": "industrial"},
 "outputs": [{"lot": "KV-ORE-0001", "material": "cobalt-ore", "quantity": 50000, "unit": "kg", "content": {"Co": 0.031}}],
 "emissions_kg_co2e": 1200}
{"kind": "ship", "actor": "kivu-mining", "time": "2026-03-05T10:00:00Z", "nonce": 12, "to": "lualaba-refining",
 "lots": [{"lot": "KV-ORE-0001", "quantity": 20000}]}
"#;

#[test]
fn cli_runs_match_their_snapshots() {
    let s = Scenario::new();
    s.write_key("operator.pem", "custody-operator");
    s.write_key("kivu.pem", "kivu-mining");
    s.write_key("lualaba.pem", "lualaba-refining");

    // Operator: the ledger, and its two suppliers.
    s.snapshot(
        "init",
        &["init", "--origin", ORIGIN, "--operator-key", "operator.pem"],
    );
    s.snapshot(
        "init_refuses_an_existing_ledger",
        &["init", "--origin", ORIGIN, "--operator-key", "operator.pem"],
    );
    s.write("enroll-kivu.json", &enroll_kivu_json());
    s.run_ok(&[
        "sign",
        "--key",
        "operator.pem",
        "enroll-kivu.json",
        "--out",
        "enroll-kivu.signed",
    ]);
    s.snapshot(
        "append_operator_signed_enroll",
        &["append", "enroll-kivu.signed"],
    );
    // `custody enroll` signs with the clock and a random nonce: its event id varies.
    s.snapshot_in(
        "enroll",
        &s.ledger(),
        &[
            "enroll",
            "--party",
            "lualaba-refining",
            "--name",
            "Lualaba Refining SA",
            "--country",
            "CD",
            "--role",
            "refiner",
            "--key",
            "lualaba.pem.pub",
            "--operator-key",
            "operator.pem",
        ],
        &[(r"(?m)^appended #2 [0-9a-f]{64}$", "appended #2 [EVENT_ID]")],
    );

    // Supplier: sign to stdout, append the signed statements.
    s.write("extract.json", EXTRACT_AND_SHIP);
    let signed = s.snapshot(
        "sign_to_stdout",
        &["sign", "--key", "kivu.pem", "extract.json"],
    );
    s.write("extract.signed", &signed.stdout);
    s.snapshot("append_accepted", &["append", "extract.signed"]);
    let ship: Value = serde_json::from_str(signed.stdout.lines().nth(1).unwrap()).unwrap();
    s.write(
        "receive.json",
        &format!(
            r#"{{"kind": "receive", "actor": "lualaba-refining", "time": "2026-03-07T16:00:00Z", "nonce": 21,
                "shipment": "{}", "lots": [{{"lot": "KV-ORE-0001", "quantity": 19950}}]}}"#,
            ship["id"].as_str().unwrap()
        ),
    );
    s.run_ok(&[
        "sign",
        "--key",
        "lualaba.pem",
        "receive.json",
        "--out",
        "receive.signed",
    ]);
    s.snapshot("append_receive_accepted", &["append", "receive.signed"]);

    // Refusals: each leaves the ledger as it was (six entries, as `verify` below shows).
    // Two good shipments of 10 t, then a third of 10 001 kg: kivu holds only 30 000 kg.
    s.write(
        "batch.json",
        r#"[{"kind": "ship", "actor": "kivu-mining", "time": "2026-03-06T10:00:00Z", "nonce": 31, "to": "lualaba-refining", "lots": [{"lot": "KV-ORE-0001", "quantity": 10000}]},
            {"kind": "ship", "actor": "kivu-mining", "time": "2026-03-06T11:00:00Z", "nonce": 32, "to": "lualaba-refining", "lots": [{"lot": "KV-ORE-0001", "quantity": 10000}]},
            {"kind": "ship", "actor": "kivu-mining", "time": "2026-03-06T12:00:00Z", "nonce": 33, "to": "lualaba-refining", "lots": [{"lot": "KV-ORE-0001", "quantity": 10001}]}]"#,
    );
    // Signed together, sign sees the third draw more than the receipt has left.
    s.snapshot(
        "sign_refused_more_than_held",
        &["sign", "--key", "kivu.pem", "batch.json"],
    );
    // Signed apart, each looks fine on its own; append refuses the three together.
    let all: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(s.path("batch.json")).unwrap()).unwrap();
    s.write("first-two.json", &serde_json::to_string(&all[..2]).unwrap());
    s.write("third.json", &all[2].to_string());
    s.run_ok(&[
        "sign",
        "--key",
        "kivu.pem",
        "first-two.json",
        "--out",
        "first-two.signed",
    ]);
    s.run_ok(&[
        "sign",
        "--key",
        "kivu.pem",
        "third.json",
        "--out",
        "third.signed",
    ]);
    let signed = std::fs::read_to_string(s.path("first-two.signed")).unwrap()
        + &std::fs::read_to_string(s.path("third.signed")).unwrap();
    s.write("batch.signed", &signed);
    s.snapshot(
        "append_refused_double_spending",
        &["append", "batch.signed"],
    );
    s.snapshot("append_refused_replay", &["append", "extract.signed"]);
    // The refiner's key signs an event for kivu: not a key enrolled for that actor.
    s.write(
        "foreign.json",
        r#"{"kind": "extract", "actor": "kivu-mining", "time": "2026-03-08T08:15:00Z", "nonce": 41,
            "site": {"id": "KV-PIT-2", "country": "CD", "lat": -10.71, "lon": 25.47, "method": "industrial"},
            "outputs": [{"lot": "KV-ORE-0002", "material": "cobalt-ore", "quantity": 1, "unit": "kg"}]}"#,
    );
    s.run_ok(&[
        "sign",
        "--key",
        "lualaba.pem",
        "foreign.json",
        "--out",
        "foreign.signed",
    ]);
    s.snapshot("append_refused_wrong_signer", &["append", "foreign.signed"]);
    // A changed quantity in a signed statement no longer matches its id.
    s.run_ok(&[
        "sign",
        "--key",
        "kivu.pem",
        "foreign.json",
        "--out",
        "own.signed",
    ]);
    let mut changed: Value =
        serde_json::from_str(&std::fs::read_to_string(s.path("own.signed")).unwrap()).unwrap();
    changed["event"]["body"]["extract"]["outputs"][0]["quantity"]["grams"] = 2000.into();
    s.write("changed.signed", &format!("{changed}\n"));
    s.snapshot(
        "append_refuses_a_changed_statement",
        &["append", "changed.signed"],
    );
    // Input errors name the field, and a private key others can read is refused.
    s.write(
        "bad.json",
        r#"{"kind": "ship", "actor": "kivu-mining", "time": "2026-03-05T10:00:00Z", "nonce": 51, "to": "lualaba-refining",
            "lots": [{"lot": "KV-ORE-0001", "quantity": 20.0001}]}"#,
    );
    s.snapshot(
        "sign_names_the_bad_field",
        &["sign", "--key", "kivu.pem", "bad.json"],
    );
    s.write_key("loose.pem", "kivu-mining");
    std::fs::set_permissions(s.path("loose.pem"), std::fs::Permissions::from_mode(0o644)).unwrap();
    s.snapshot(
        "sign_refuses_a_readable_private_key",
        &["sign", "--key", "loose.pem", "foreign.json"],
    );

    // Auditor: the whole ledger, one lot, and the entry and proof behind it.
    s.snapshot("verify", &["verify"]);
    s.snapshot("verify_json", &["verify", "--json"]);
    s.snapshot("trace", &["trace", "KV-ORE-0001"]);
    s.snapshot("trace_json", &["trace", "KV-ORE-0001", "--json"]);
    s.snapshot(
        "verify_lot_passes_with_warnings",
        &["verify", "--lot", "KV-ORE-0001"],
    );
    s.snapshot(
        "verify_lot_json",
        &["verify", "--lot", "KV-ORE-0001", "--json"],
    );
    s.snapshot("show_seq_1_json", &["show", "--seq", "1", "--json"]);
    // Every hash of an inclusion proof derives from entry hashes.
    s.snapshot_in(
        "proof_inclusion_seq_1_json",
        &s.ledger(),
        &["proof", "inclusion", "--seq", "1", "--json"],
        &[(r#""[0-9a-f]{64}""#, r#""[HASH]""#)],
    );

    // Offline: an evidence bundle, verified with the bundle's own key and with the published one.
    let bundle = s.path("kv.bundle").display().to_string();
    s.snapshot(
        "export_bundle",
        &[
            "export-bundle",
            "KV-ORE-0001",
            "--out",
            &bundle,
            "--operator-key",
            "operator.pem",
        ],
    );
    s.snapshot("verify_bundle", &["verify", "--bundle", &bundle]);
    let key = test_key("custody-operator");
    let vkey = NoteVerifier::new(ORIGIN, *key.public_key().verifying_key())
        .unwrap()
        .vkey();
    s.snapshot(
        "verify_bundle_with_vkey",
        &["verify", "--bundle", &bundle, "--vkey", &vkey],
    );
    s.snapshot(
        "checkpoint",
        &["checkpoint", "--operator-key", "operator.pem"],
    );

    // Usage errors: exit 2, with what was wrong.
    s.snapshot("trace_unknown_lot", &["trace", "NO-SUCH-LOT"]);
    s.snapshot_in(
        "verify_missing_ledger",
        &s.path("missing"),
        &["verify"],
        &[],
    );
}
