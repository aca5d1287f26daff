//! Witnessed checkpoints end to end, as issue #16 states the attacks: two real
//! `custody witness serve` processes on loopback, the demo ledger, `custody checkpoint
//! --witness` (the log side), `export-bundle`, and `custody verify` with a witness policy.
//!
//! - An honest log: both witnesses cosign, and its bundle passes the policy.
//! - A fork (a copy of the ledger, same origin and operator key, grown differently): the
//!   witnesses refuse its checkpoint, and its bundle fails CUS-WIT-001 with the policy
//!   (and passes without it only with a verdict that says it is unwitnessed).
//! - A rollback (an old copy of the directory): the witnesses refuse it a new
//!   cosignature, and `verify --lot` on it fails CUS-WIT-002 with `--max-age`.
//! - A stale bundle exported before a failed audit: CUS-WIT-002 with `--max-age`.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use custody_tests::{copy_dir, custody, custody_bin, stderr, stdout};
use ledger_core::note::NoteVerifier;
use ledger_scenario::test_key;
use serde_json::Value;
use tempfile::TempDir;

const ORIGIN: &str = "demo.custody.example/ledger";
const MODULE: &str = "VM-MOD-0001";
/// The policy's maximum age. The stale cases wait longer than this; the fresh ones are
/// verified within it (a few commands), with room for a slow machine.
const MAX_AGE_S: u64 = 10;

/// A running `custody witness serve`, killed when dropped.
struct Witness {
    child: Child,
    url: String,
    vkey: String,
}

impl Drop for Witness {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Lab {
    dir: TempDir,
    witnesses: Vec<Witness>,
}

impl Lab {
    fn new() -> Lab {
        let dir = TempDir::new().unwrap();
        write_private(&dir.path().join("operator.pem"), "custody-operator");
        write_private(&dir.path().join("auditor.pem"), "rba-auditor-7");
        custody()
            .args(["demo", "--dir"])
            .arg(dir.path().join("L"))
            .assert()
            .success();
        let mut lab = Lab {
            dir,
            witnesses: Vec::new(),
        };
        for name in ["w1.example/witness", "w2.example/witness"] {
            lab.witnesses.push(lab.start_witness(name));
        }
        lab
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn log_vkey(&self) -> String {
        let key = test_key("custody-operator").public_key();
        NoteVerifier::new(ORIGIN, *key.verifying_key())
            .unwrap()
            .vkey()
    }

    fn start_witness(&self, name: &str) -> Witness {
        let file = name.replace(['/', '.'], "-");
        let key = self.path(&format!("{file}.pem"));
        custody()
            .args(["keygen", "--out"])
            .arg(&key)
            .assert()
            .success();
        self.spawn_witness(name, "127.0.0.1:0")
    }

    /// `custody witness serve` of `name`, with its key and state, listening on `listen`.
    fn spawn_witness(&self, name: &str, listen: &str) -> Witness {
        let file = name.replace(['/', '.'], "-");
        let mut child = Command::new(custody_bin())
            .args(["witness", "serve", "--name", name, "--key"])
            .arg(self.path(&format!("{file}.pem")))
            .arg("--state")
            .arg(self.path(&format!("{file}-state")))
            .args(["--log", &self.log_vkey(), "--listen", listen])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let (mut vkey, mut url) = (String::new(), String::new());
        out.read_line(&mut vkey).unwrap();
        out.read_line(&mut url).unwrap();
        let vkey = vkey.trim().strip_prefix("vkey ").unwrap().to_owned();
        let url = url.trim().strip_prefix("listening on ").unwrap().to_owned();
        Witness { child, url, vkey }
    }

    /// `custody --ledger <ledger> ARGS`.
    fn run(&self, ledger: &str, args: &[&str]) -> assert_cmd::assert::Assert {
        custody()
            .env_remove("CUSTODY_SERVER")
            .arg("--ledger")
            .arg(self.path(ledger))
            .args(args)
            .assert()
    }

    /// `custody checkpoint --witness ...` on `ledger`, both witnesses, quorum 2.
    fn cosign(&self, ledger: &str) -> assert_cmd::assert::Assert {
        let operator = self.path("operator.pem").display().to_string();
        let mut args = vec!["checkpoint".to_owned(), "--operator-key".into(), operator];
        for w in &self.witnesses {
            args.push("--witness".into());
            args.push(format!("{},{}", w.url, w.vkey));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.run(ledger, &args)
    }

    /// The witness policy arguments: both witnesses, the maximum age when `max_age`.
    fn policy(&self, max_age: bool) -> Vec<String> {
        let mut args = Vec::new();
        for w in &self.witnesses {
            args.push("--witness".to_owned());
            args.push(w.vkey.clone());
        }
        if max_age {
            args.push("--max-age".into());
            args.push(format!("{MAX_AGE_S}s"));
        }
        args
    }

    fn export(&self, ledger: &str, bundle: &str) {
        let out = self.path(bundle).display().to_string();
        self.run(ledger, &["export-bundle", MODULE, "--out", &out])
            .success();
    }

    /// `custody verify --bundle B --vkey LOG [policy] --json`: the exit code and JSON.
    fn verify_bundle(&self, bundle: &str, policy: &[String]) -> (i32, Value) {
        let mut cmd = custody();
        cmd.args(["verify", "--json", "--bundle"])
            .arg(self.path(bundle))
            .args(["--vkey", &self.log_vkey()])
            .args(policy);
        let out = cmd.output().unwrap();
        let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (out.status.code().unwrap_or(-1), json)
    }

    /// Appends a statement that the auditor signs: a failed on-site audit of the miner.
    fn failed_audit(&self, ledger: &str) {
        let event = self.path("audit.json");
        std::fs::write(
            &event,
            r#"{"kind": "attest", "actor": "rba-auditor-7", "time": "2026-03-01T00:00:00Z",
                "subject": {"party": "kivu-mining"}, "claim": "onsite-audit", "result": "fail"}"#,
        )
        .unwrap();
        let signed = self.path("audit.signed.jsonl").display().to_string();
        let key = self.path("auditor.pem").display().to_string();
        let event = event.display().to_string();
        self.run(ledger, &["sign", "--key", &key, &event, "--out", &signed])
            .success();
        self.run(ledger, &["append", &signed]).success();
    }

    /// Grows `ledger` by one operator statement no other copy has: an enrollment.
    fn enroll(&self, ledger: &str, party: &str) {
        let public = self.path(&format!("{party}.pub"));
        let pem = test_key(party).public_key().to_pem().unwrap();
        std::fs::write(&public, pem).unwrap();
        let operator = self.path("operator.pem").display().to_string();
        self.run(
            ledger,
            &[
                "enroll",
                "--party",
                party,
                "--name",
                party,
                "--country",
                "BE",
                "--role",
                "trader",
                "--key",
                &public.display().to_string(),
                "--operator-key",
                &operator,
            ],
        )
        .success();
    }
}

/// The test key of `party` as a private key file only its owner reads.
fn write_private(path: &Path, party: &str) {
    let pem = test_key(party).to_pkcs8_pem().unwrap();
    std::fs::write(path, pem.as_bytes()).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn codes(json: &Value) -> Vec<String> {
    json["findings"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|f| f["severity"] == "error")
                .map(|f| f["rule"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn copy(lab: &Lab, from: &str, to: &str) {
    copy_dir(&lab.path(from), &lab.path(to));
    // A copy must not inherit the original's lock file holder: none runs now.
    let _ = std::fs::remove_file(lab.path(to).join("custody.lock"));
}

#[test]
fn forks_rollbacks_and_stale_bundles_are_caught_by_the_witness_policy() {
    let lab = Lab::new();
    let strict = lab.policy(true);

    // The honest log at size n, cosigned by both witnesses.
    lab.cosign("L").success();
    lab.export("L", "old.bundle");
    let (code, json) = lab.verify_bundle("old.bundle", &strict);
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["bundle"]["witnesses"]["witnessed"], true, "{json}");
    assert_eq!(
        json["bundle"]["witnesses"]["cosigned"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Copies the operator keeps: one to fork, one to roll back to.
    copy(&lab, "L", "F");
    copy(&lab, "L", "R");

    // The log records a failed audit and has it witnessed, after the maximum age.
    std::thread::sleep(Duration::from_secs(MAX_AGE_S + 1));
    lab.failed_audit("L");
    lab.cosign("L").success();
    lab.export("L", "new.bundle");
    let (code, json) = lab.verify_bundle("new.bundle", &strict);
    assert_eq!(code, 0, "the honest, fresh bundle passes: {json}");
    let mut lot_args = vec!["verify", "--lot", MODULE, "--json"];
    lot_args.extend(strict.iter().map(String::as_str));
    lab.run("L", &lot_args).success();

    // (c) The bundle from before the failed audit is now stale.
    let (code, json) = lab.verify_bundle("old.bundle", &strict);
    assert_eq!(code, 1, "{json}");
    assert_eq!(codes(&json), ["CUS-WIT-002"], "{json}");

    // (a) A fork of the same origin and key, as large as the log: no witness cosigns it.
    lab.enroll("F", "fork-trader");
    let refused = lab.cosign("F").failure();
    assert!(
        stderr(&refused).contains("fewer than the quorum of 2"),
        "{}",
        stderr(&refused)
    );
    lab.export("F", "fork.bundle");
    let (code, json) = lab.verify_bundle("fork.bundle", &strict);
    assert_eq!(code, 1, "{json}");
    assert!(codes(&json).contains(&"CUS-WIT-001".to_owned()), "{json}");
    // Without a policy it passes, and says it is unwitnessed.
    let (code, json) = lab.verify_bundle("fork.bundle", &[]);
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["bundle"]["witnesses"]["witnessed"], false);
    let text = stdout(
        &custody()
            .args(["verify", "--bundle"])
            .arg(lab.path("fork.bundle"))
            .args(["--vkey", &lab.log_vkey()])
            .assert()
            .success(),
    );
    assert!(text.contains("the checkpoint is unwitnessed"), "{text}");

    // (b) The rolled-back copy: the witnesses have seen a larger tree, and the copy's own
    // cosignature is older than the maximum age.
    let refused = lab.cosign("R").failure();
    assert!(
        stderr(&refused).contains("larger than this checkpoint"),
        "{}",
        stderr(&refused)
    );
    let out = lab.run("R", &lot_args).code(1);
    let json: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(codes(&json).contains(&"CUS-WIT-002".to_owned()), "{json}");
}

/// A policy naming a witness that did not cosign, or a log key that is not the
/// operator's, is refused with the finding that says which.
#[test]
fn fail_a_policy_the_checkpoint_does_not_meet_names_what_is_missing() {
    let lab = Lab::new();
    lab.cosign("L").success();
    lab.export("L", "b.bundle");
    let stranger = lab.start_witness("w3.example/witness");
    let policy = vec![
        "--witness".to_owned(),
        lab.witnesses[0].vkey.clone(),
        "--witness".to_owned(),
        stranger.vkey.clone(),
    ];
    let (code, json) = lab.verify_bundle("b.bundle", &policy);
    assert_eq!(code, 1, "{json}");
    let messages: Vec<&str> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "CUS-WIT-001")
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert_eq!(messages.len(), 1, "{json}");
    assert!(
        messages[0].contains("cosigned by w1.example/witness; the policy needs 2 of"),
        "{}",
        messages[0]
    );
    // One of the two is enough with --witness-quorum 1.
    let mut one = policy.clone();
    one.extend(["--witness-quorum".to_owned(), "1".to_owned()]);
    assert_eq!(lab.verify_bundle("b.bundle", &one).0, 0);
    // The same as a C2SP tlog-policy file, which also pins the log key.
    let file = lab.path("policy.txt");
    std::fs::write(
        &file,
        format!(
            "log {}\nwitness A {}\nwitness B {}\ngroup G any A B\nquorum G\n",
            lab.log_vkey(),
            lab.witnesses[0].vkey,
            stranger.vkey
        ),
    )
    .unwrap();
    let file_policy = vec!["--witness-policy".to_owned(), file.display().to_string()];
    assert_eq!(lab.verify_bundle("b.bundle", &file_policy).0, 0);
    // A log key given where a witness key belongs is refused before anything runs.
    let wrong = vec!["--witness".to_owned(), lab.log_vkey()];
    let out = custody()
        .args(["verify", "--bundle"])
        .arg(lab.path("b.bundle"))
        .args(&wrong)
        .assert()
        .failure();
    assert!(
        stderr(&out).contains("this is a log key"),
        "{}",
        stderr(&out)
    );
    assert!(Path::new(&file).exists());
}

/// `custody serve --witness ... --witness-quorum 2`: under concurrent submissions every
/// receipt comes with a checkpoint both witnesses cosigned, and a bundle exported from the
/// server passes the witness policy. A witness that is down holds the receipts back (the
/// statements are still sequenced), and they come once it is back.
#[test]
fn a_server_publishes_only_checkpoints_its_witnesses_cosigned() {
    let mut lab = Lab::new();
    let mut serve = Command::new(custody_bin());
    serve
        .env_remove("CUSTODY_SERVER")
        .arg("--ledger")
        .arg(lab.path("L"))
        .args(["serve", "--listen", "127.0.0.1:0", "--operator-key"])
        .arg(lab.path("operator.pem"));
    for w in &lab.witnesses {
        serve.args(["--witness", &format!("{},{}", w.url, w.vkey)]);
    }
    let mut server = serve
        .args(["--witness-quorum", "2"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();

    // Four miners' extracts, each submitted from its own thread.
    write_private(&lab.path("kivu.pem"), "kivu-mining");
    let submitters: Vec<_> = (1..=4)
        .map(|i| {
            let event = lab.path(&format!("extract{i}.json"));
            std::fs::write(
                &event,
                format!(
                    r#"{{"kind": "extract", "actor": "kivu-mining", "time": "2026-03-02T08:15:00Z",
                        "nonce": {i}, "site": {{"id": "KV-PIT-2", "country": "CD", "lat": -10.71,
                        "lon": 25.47, "method": "industrial"}}, "outputs": [{{"lot": "WT-ORE-{i}",
                        "material": "cobalt-ore", "quantity": 1000, "unit": "kg",
                        "content": {{"Co": 0.03}}}}]}}"#
                ),
            )
            .unwrap();
            let signed = lab.path(&format!("extract{i}.signed"));
            custody()
                .args(["sign", "--key"])
                .arg(lab.path("kivu.pem"))
                .arg(&event)
                .args(["--origin", ORIGIN, "--out"])
                .arg(&signed)
                .assert()
                .success();
            let state = lab.path(&format!("submit{i}.state"));
            let (url, vkey) = (url.clone(), lab.log_vkey());
            std::thread::spawn(move || {
                custody()
                    .args(["--server", &url, "submit"])
                    .arg(&signed)
                    .args(["--vkey", &vkey, "--state"])
                    .arg(&state)
                    .output()
                    .unwrap()
            })
        })
        .collect();
    for s in submitters {
        let out = s.join().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // The published checkpoint carries both cosignatures.
    let note = ureq::get(&format!("{url}/checkpoint"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    let keys: Vec<NoteVerifier> = lab
        .witnesses
        .iter()
        .map(|w| NoteVerifier::from_vkey(&w.vkey).unwrap())
        .collect();
    let log = NoteVerifier::from_vkey(&lab.log_vkey()).unwrap();
    let opened = ledger_core::note::open_checkpoint(note.as_bytes(), &log, &keys, ORIGIN).unwrap();
    assert!(opened.checkpoint.size() >= 78, "{note}");
    for k in &keys {
        assert!(opened.note.cosigned_at(k).is_some(), "{note}");
    }

    std::fs::write(lab.path("early.checkpoint"), &note).unwrap();

    // With the second witness down, a submission is sequenced but its receipt waits for
    // a quorum; once the witness is back at its address, the receipt comes.
    let address = lab.witnesses[1]
        .url
        .trim_start_matches("http://")
        .to_owned();
    drop(lab.witnesses.pop());
    let late = {
        let event = std::fs::read_to_string(lab.path("extract1.json"))
            .unwrap()
            .replace("\"nonce\": 1", "\"nonce\": 5")
            .replace("WT-ORE-1", "WT-ORE-5");
        std::fs::write(lab.path("extract5.json"), event).unwrap();
        let signed5 = lab.path("extract5.signed");
        custody()
            .args(["sign", "--key"])
            .arg(lab.path("kivu.pem"))
            .arg(lab.path("extract5.json"))
            .args(["--origin", ORIGIN, "--out"])
            .arg(&signed5)
            .assert()
            .success();
        let (url, vkey, state) = (url.clone(), lab.log_vkey(), lab.path("submit5.state"));
        std::thread::spawn(move || {
            custody()
                .args(["--server", &url, "submit"])
                .arg(&signed5)
                .args(["--vkey", &vkey, "--state"])
                .arg(&state)
                .output()
                .unwrap()
        })
    };
    std::thread::sleep(Duration::from_secs(3));
    assert!(!late.is_finished(), "a receipt came without the quorum");
    let back = lab.spawn_witness("w2.example/witness", &address);
    lab.witnesses.push(back);
    let out = late.join().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A bundle from the server carries the cosigned checkpoint and passes the policy.
    let bundle = lab.path("served.bundle");
    custody()
        .args(["--server", &url, "export-bundle", "WT-ORE-2", "--out"])
        .arg(&bundle)
        .assert()
        .success();
    let (code, json) = lab.verify_bundle("served.bundle", &lab.policy(true));
    assert_eq!(code, 0, "{json}");
    // Held to a checkpoint from before the last submission, the bundle's larger checkpoint is
    // shown consistent with it by a proof the server gives.
    let out = custody()
        .args(["--server", &url, "verify", "--bundle"])
        .arg(&bundle)
        .args(["--vkey", &lab.log_vkey(), "--checkpoint"])
        .arg(lab.path("early.checkpoint"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let _ = server.kill();
    let _ = server.wait();
}

/// `custody checkpoint --add-cosignatures` keeps only lines that verify under a given
/// witness key, over the stored checkpoint, and names what it refused.
#[test]
fn fail_cosignature_lines_that_do_not_verify_are_not_added() {
    let lab = Lab::new();
    let operator = lab.path("operator.pem").display().to_string();
    let (w, other) = (&lab.witnesses[0], &lab.witnesses[1]);
    // A line w1 made for this checkpoint, through its HTTP API.
    let note = stdout(
        &lab.run("L", &["checkpoint", "--operator-key", &operator])
            .success(),
    );
    let body = format!("old 0\n\n{note}");
    let mut answer = ureq::post(&format!("{}/add-checkpoint", w.url))
        .send(body.as_bytes())
        .unwrap();
    let line = answer.body_mut().read_to_string().unwrap();
    let file = lab.path("cosignature");
    // Under another witness's key, the line is refused, and nothing is added.
    std::fs::write(&file, &line).unwrap();
    let refused = lab
        .run(
            "L",
            &[
                "checkpoint",
                "--add-cosignatures",
                &file.display().to_string(),
                "--witness-key",
                &other.vkey,
            ],
        )
        .failure();
    assert!(
        stderr(&refused).contains("does not verify"),
        "{}",
        stderr(&refused)
    );
    // A changed byte is refused under the right key too.
    let b64 = line.trim_end().rsplit(' ').next().unwrap().to_owned();
    let flipped: String = b64
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i == 20 {
                if c == 'A' { 'B' } else { 'A' }
            } else {
                c
            }
        })
        .collect();
    std::fs::write(&file, line.replace(&b64, &flipped)).unwrap();
    let args = [
        "checkpoint",
        "--add-cosignatures",
        &file.display().to_string(),
        "--witness-key",
        &w.vkey,
    ];
    assert!(stderr(&lab.run("L", &args).failure()).contains("does not verify"));
    // The line itself is added once, however often it is given.
    std::fs::write(&file, &line).unwrap();
    let added = stdout(&lab.run("L", &args).success());
    let again = stdout(&lab.run("L", &args).success());
    assert_eq!(added, again);
    assert_eq!(
        added.matches("\u{2014} w1.example/witness ").count(),
        1,
        "{added}"
    );
}

/// Without witnesses, a checkpoint the auditor kept (`--checkpoint FILE`) holds a bundle or
/// a ledger to the log it saw: an older bundle, a fork and a rolled-back copy fail
/// CUS-INT-007; a larger bundle checkpoint needs a consistency proof from `--server`.
#[test]
fn fail_a_checkpoint_the_auditor_holds_catches_forks_rollbacks_and_stale_bundles() {
    let lab = Lab::new();
    let operator = lab.path("operator.pem").display().to_string();
    let sign = |ledger: &str, file: &str| {
        let note = stdout(
            &lab.run(ledger, &["checkpoint", "--operator-key", &operator])
                .success(),
        );
        std::fs::write(lab.path(file), note).unwrap();
    };
    sign("L", "early.checkpoint");
    lab.export("L", "old.bundle");
    copy(&lab, "L", "F");
    copy(&lab, "L", "R");
    lab.failed_audit("L");
    sign("L", "held.checkpoint");
    lab.export("L", "new.bundle");
    lab.enroll("F", "fork-trader");
    sign("F", "fork.checkpoint");
    lab.export("F", "fork.bundle");

    let held = |file: &str| {
        vec![
            "--checkpoint".to_owned(),
            lab.path(file).display().to_string(),
        ]
    };
    let message = |json: &Value| {
        json["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["rule"] == "CUS-INT-007")
            .map(|f| f["message"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
            .join("; ")
    };
    let (code, json) = lab.verify_bundle("new.bundle", &held("held.checkpoint"));
    assert_eq!(code, 0, "{json}");
    let (code, json) = lab.verify_bundle("old.bundle", &held("held.checkpoint"));
    assert_eq!(code, 1);
    assert!(
        message(&json).contains("older than the one you hold"),
        "{json}"
    );
    let (code, json) = lab.verify_bundle("fork.bundle", &held("held.checkpoint"));
    assert_eq!(code, 1);
    assert!(message(&json).contains("the log forked"), "{json}");
    let (code, json) = lab.verify_bundle("new.bundle", &held("early.checkpoint"));
    assert_eq!(code, 1);
    assert!(message(&json).contains("give --server URL"), "{json}");

    let lot = |ledger: &str, code: i32| {
        let mut args = vec!["verify", "--lot", MODULE, "--json", "--checkpoint"];
        let file = lab.path("held.checkpoint").display().to_string();
        args.push(&file);
        let out = lab.run(ledger, &args).code(code);
        serde_json::from_str::<Value>(&stdout(&out)).unwrap()
    };
    lot("L", 0);
    assert!(message(&lot("R", 1)).contains("it was rolled back"));
    assert!(message(&lot("F", 1)).contains("forked or was rewritten"));
}
