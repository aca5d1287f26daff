//! `custody witness` end to end: the real binary serving C2SP tlog-witness on `127.0.0.1:0`,
//! driven by the real client (`ledger_witness::client`), over checkpoints and consistency
//! proofs of real ledgers made with the CLI (`custody init`, `enroll`, `checkpoint`,
//! `proof consistency`).
//!
//! An honest growing log is cosigned again and again; a fork (a second ledger with the same
//! origin and operator key) is refused with 409 or 422; a rollback gets 409 with the stored
//! size. `kill -9` is injected with `strace -e inject=...:signal=KILL` at each step of the
//! store (the temporary file's fsync, the rename, the directory's fsync) and between the
//! store and the answer (the `writev` of the HTTP response); the witness restarted on the
//! same state then refuses the checkpoint inconsistent with what it stored and accepts the
//! consistent one. A Python script written from the specs alone builds a request by hand
//! and verifies the cosignature it gets.

use std::io::{BufRead, BufReader, Read as _, Write as _};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use custody_tests::{Need, Suite, custody, custody_bin, stderr, stdout};
use ledger_core::hash::Digest;
use ledger_core::keys::SecretKey;
use ledger_core::note::{NoteVerifier, open_checkpoint};
use ledger_witness::Request;
use ledger_witness::client::{Answer, ClientError, add_checkpoint};
use serde_json::Value;
use tempfile::TempDir;

/// The origin of every test log.
const ORIGIN: &str = "witness-test.custody.example/log";

/// The witness's name.
const NAME: &str = "witness.custody.example/w1";

/// A scratch directory with the operator key (made by `custody init`), a witness key and
/// any number of ledgers of [`ORIGIN`] under that operator.
struct Fixture {
    dir: TempDir,
    parties: std::cell::Cell<u8>,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = TempDir::new().unwrap();
        let f = Fixture {
            dir,
            parties: std::cell::Cell::new(0),
        };
        custody()
            .args(["keygen", "--out"])
            .arg(f.path("witness.pem"))
            .assert()
            .success();
        f.init("a");
        f
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn state(&self) -> PathBuf {
        self.path("witness-state")
    }

    /// `custody --ledger <ledger> ARGS`.
    fn run(&self, ledger: &str, args: &[&str]) -> assert_cmd::assert::Assert {
        custody()
            .env_remove("CUSTODY_LEDGER")
            .env_remove("CUSTODY_SERVER")
            .env("CUSTODY_LOCK_WAIT", "20")
            .arg("--ledger")
            .arg(self.path(ledger))
            .args(args)
            .assert()
    }

    /// A new ledger `name` of [`ORIGIN`], under the one operator key.
    fn init(&self, name: &str) {
        let key = self.path("operator.pem").display().to_string();
        self.run(name, &["init", "--origin", ORIGIN, "--operator-key", &key])
            .success();
    }

    /// The operator's checkpoint verifier key, as `custody init` wrote it.
    fn log_vkey(&self) -> String {
        std::fs::read_to_string(self.path("operator.pem.vkey"))
            .unwrap()
            .trim()
            .to_owned()
    }

    /// Grows `ledger` by `n` entries: each enrolls a new party (a key never used before).
    fn grow(&self, ledger: &str, n: u8) {
        let operator = self.path("operator.pem").display().to_string();
        for _ in 0..n {
            let i = self.parties.get() + 1;
            self.parties.set(i);
            let public = self.path(&format!("party{i}.pem.pub"));
            let pem = SecretKey::from_seed(&[i; 32])
                .public_key()
                .to_pem()
                .unwrap();
            std::fs::write(&public, pem).unwrap();
            let party = format!("party-{i}");
            self.run(
                ledger,
                &[
                    "enroll",
                    "--party",
                    &party,
                    "--name",
                    &party,
                    "--country",
                    "BE",
                    "--role",
                    "miner",
                    "--key",
                    &public.display().to_string(),
                    "--operator-key",
                    &operator,
                ],
            )
            .success();
        }
    }

    /// `custody checkpoint --json` of `ledger`: its size and signed note.
    fn checkpoint(&self, ledger: &str) -> (u64, String) {
        let operator = self.path("operator.pem").display().to_string();
        let out = stdout(
            &self
                .run(
                    ledger,
                    &["checkpoint", "--operator-key", &operator, "--json"],
                )
                .success(),
        );
        let json: Value = serde_json::from_str(&out).unwrap();
        (
            json["size"].as_u64().unwrap(),
            json["note"].as_str().unwrap().to_owned(),
        )
    }

    /// `custody proof consistency --from OLD --json` of `ledger` (up to its current size).
    fn proof(&self, ledger: &str, old: u64) -> Vec<Digest> {
        if old == 0 {
            return Vec::new();
        }
        let from = old.to_string();
        let out = stdout(
            &self
                .run(ledger, &["proof", "consistency", "--from", &from, "--json"])
                .success(),
        );
        let json: Value = serde_json::from_str(&out).unwrap();
        json["path"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                Digest(
                    hex::decode(h.as_str().unwrap())
                        .unwrap()
                        .try_into()
                        .unwrap(),
                )
            })
            .collect()
    }

    /// The add-checkpoint request for `ledger`'s current checkpoint, from `old`.
    fn request(&self, ledger: &str, old: u64) -> Request {
        let (_, note) = self.checkpoint(ledger);
        Request {
            old_size: old,
            proof: self.proof(ledger, old),
            note,
        }
    }

    /// `custody witness serve` on this fixture's state, optionally under `strace` with
    /// `inject` (`SYSCALL:signal=KILL...`).
    fn witness(&self, inject: Option<&str>) -> Served {
        Served::start(self, inject, &[])
    }

    /// `custody witness ARGS --key ... --name ...` (plus state and log for serve/cosign).
    fn witness_args(&self, action: &str) -> Vec<String> {
        let mut args = vec![
            "witness".to_owned(),
            action.to_owned(),
            "--key".to_owned(),
            self.path("witness.pem").display().to_string(),
            "--name".to_owned(),
            NAME.to_owned(),
        ];
        if action != "vkey" {
            args.extend([
                "--state".to_owned(),
                self.state().display().to_string(),
                "--log".to_owned(),
                self.log_vkey(),
            ]);
        }
        args
    }
}

/// A running `custody witness serve`.
struct Served {
    child: Option<Child>,
    url: String,
    vkey: NoteVerifier,
    /// The operator's checkpoint key, which signed every note sent.
    log_key: NoteVerifier,
    log: PathBuf,
}

impl Served {
    fn start(f: &Fixture, inject: Option<&str>, extra: &[&str]) -> Served {
        let log = f.path(&format!(
            "witness-{}.log",
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let mut command = match inject {
            Some(spec) => {
                let mut c = Command::new("strace");
                c.args(["-f", "-qq", "-o", "/dev/null", "-e"])
                    .arg(format!("inject={spec}"))
                    .arg(custody_bin());
                c
            }
            None => Command::new(custody_bin()),
        };
        let mut child = command
            .args(f.witness_args("serve"))
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut lines = [String::new(), String::new()];
        for line in &mut lines {
            out.read_line(line).unwrap();
        }
        let vkey = lines[0].trim().strip_prefix("vkey ").map(str::to_owned);
        let url = lines[1]
            .trim()
            .strip_prefix("listening on ")
            .map(str::to_owned);
        let (Some(vkey), Some(url)) = (vkey, url) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "custody witness serve did not start: {lines:?}\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        };
        Served {
            child: Some(child),
            url,
            vkey: vkey.parse().unwrap(),
            log_key: f.log_vkey().parse().unwrap(),
            log,
        }
    }

    fn add(&self, request: &Request) -> Result<Answer, ClientError> {
        add_checkpoint(&self.url, request, Duration::from_secs(60))
    }

    /// Asks for a cosignature and checks it over the request's note with the served vkey.
    fn cosigned(&self, request: &Request) {
        let before = now();
        let answer = self.add(request);
        let Ok(Answer::Cosigned(lines)) = answer else {
            panic!("not cosigned: {answer:?}\n{}", self.log());
        };
        let note = format!("{}{lines}", request.note);
        let opened = open_checkpoint(
            note.as_bytes(),
            &self.log_key,
            std::slice::from_ref(&self.vkey),
            ORIGIN,
        )
        .unwrap();
        let time = opened.note.cosigned_at(&self.vkey).unwrap();
        assert!(before <= time && time <= now(), "{time}");
    }

    /// The witness's refusal status and message.
    fn refused(&self, request: &Request) -> (u16, String) {
        match self.add(request) {
            Err(ClientError::Refused {
                status, message, ..
            }) => (status, message),
            other => panic!("not refused: {other:?}"),
        }
    }

    /// SIGTERM, then the exit status.
    fn stop(mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().unwrap();
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        wait_for(&mut child)
    }

    /// Waits for the process to end by itself (an injected SIGKILL).
    fn wait_killed(mut self) -> std::process::ExitStatus {
        wait_for(self.child.as_mut().unwrap())
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn wait_for(child: &mut Child) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "custody witness serve did not stop in time"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn an_honest_growing_log_is_cosigned_repeatedly() {
    let f = Fixture::new();
    let w = f.witness(None);
    // `custody witness vkey` prints the key the server announced: type 0x04.
    let printed = stdout(&custody().args(f.witness_args("vkey")).assert().success());
    assert_eq!(printed.trim(), w.vkey.vkey());
    assert_eq!(w.vkey.kind(), ledger_core::note::KeyKind::Cosignature);
    w.cosigned(&f.request("a", 0));
    let mut size = 1;
    for grow in [2, 1, 5] {
        f.grow("a", grow);
        w.cosigned(&f.request("a", size));
        size += u64::from(grow);
        // The same checkpoint again is cosigned again (a fresh timestamp).
        w.cosigned(&f.request("a", size));
    }
    assert_eq!(size, 9);
    // GET / names the witness, its vkey and the log it follows.
    let page = ureq::get(&format!("{}/", w.url))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    assert!(page.contains(&format!("name {NAME}\n")), "{page}");
    assert!(page.contains(&format!("vkey {}\n", w.vkey)), "{page}");
    assert!(page.contains(&format!("log {}\n", f.log_vkey())), "{page}");
    // The state directory is the witness's alone while it runs.
    let cosign = custody()
        .args(f.witness_args("cosign"))
        .args(["--request", "-"])
        .write_stdin("old 0\n\nx\n")
        .assert()
        .code(2);
    assert!(
        stderr(&cosign).contains("in use by another process"),
        "{}",
        stderr(&cosign)
    );
    assert!(w.stop().success());
}

fn a_fork_is_refused_and_a_rollback_gets_409_with_the_stored_size() {
    let f = Fixture::new();
    f.grow("a", 2);
    // The fork: same origin and operator key, other entries.
    f.init("b");
    f.grow("b", 2);
    let w = f.witness(None);
    w.cosigned(&f.request("a", 0));
    assert_eq!(f.checkpoint("a").0, 3);
    // b at the stored size: another root (409, as tlog-witness says for equal sizes).
    let (status, message) = w.refused(&f.request("b", 3));
    assert_eq!(status, 409, "{message}");
    assert!(message.contains("another root"), "{message}");
    // b grown past it, with b's own proof: it does not verify from a's root (422).
    f.grow("b", 1);
    let (status, message) = w.refused(&f.request("b", 3));
    assert_eq!(status, 422, "{message}");
    assert!(
        message.contains("consistency proof from size 3 to 4"),
        "{message}"
    );
    // A rollback: an old size below the stored one gets 409 with the stored size.
    f.grow("a", 2);
    assert_eq!(w.add(&f.request("a", 1)).unwrap(), Answer::Conflict(3));
    // And the raw answer is what the spec prescribes.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut raw = agent
        .post(&format!("{}/add-checkpoint", w.url))
        .send(&f.request("a", 0).to_body()[..])
        .unwrap();
    assert_eq!(raw.status().as_u16(), 409);
    assert_eq!(
        raw.headers().get("content-type").unwrap().to_str().unwrap(),
        "text/x.tlog.size"
    );
    assert_eq!(raw.body_mut().read_to_string().unwrap(), "3\n");
    // The honest log is still cosigned.
    w.cosigned(&f.request("a", 3));
    assert!(w.stop().success());
}

/// One fault-injection run: the witness has cosigned a@1; a@4 is sent to a witness under
/// strace that is killed at `inject`; the restarted witness must hold a@4 if `stored`
/// (else a@1), refuse the fork b (a copy of a@1 grown with other entries) wherever it is
/// inconsistent with what it stored, and accept a's continuation.
fn kill_at(inject: &str, stored: bool) {
    let f = Fixture::new();
    let w = f.witness(None);
    w.cosigned(&f.request("a", 0));
    assert!(w.stop().success());
    // b forks a at its genesis' successor: same first entry, then other parties.
    custody_tests::copy_dir(&f.path("a"), &f.path("b"));
    f.grow("a", 3);
    f.grow("b", 3);
    let faulty = f.witness(Some(inject));
    let answer = faulty.add(&f.request("a", 1));
    assert!(
        matches!(answer, Err(ClientError::Transport { .. })),
        "{inject}: the witness answered {answer:?}\n{}",
        faulty.log()
    );
    let status = faulty.wait_killed();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9),
        "{inject}: {status:?}"
    );
    let w = f.witness(None);
    let expected = if stored { 4 } else { 1 };
    // What the witness remembers: 409 gives the stored size.
    assert_eq!(
        w.add(&f.request("b", 0)).unwrap(),
        Answer::Conflict(expected),
        "{inject}"
    );
    if stored {
        // a@4 was stored, though never answered: b, consistent only with a@1 (the last
        // answer the log saw), must not be cosigned from there, nor at 4.
        assert_eq!(w.add(&f.request("b", 1)).unwrap(), Answer::Conflict(4));
        let (status, message) = w.refused(&f.request("b", 4));
        assert_eq!(status, 409, "{inject}: {message}");
    }
    // The consistent checkpoint is accepted from what is stored, and the fork then refused.
    w.cosigned(&f.request("a", expected));
    let (status, message) = w.refused(&f.request("b", 4));
    assert_eq!(status, 409, "{inject}: {message}");
    assert!(w.stop().success());
}

fn kill_9_between_storing_and_answering_then_restart_keeps_the_stored_checkpoint() {
    // The first writev of the process is the HTTP answer: the state is on disk by then.
    kill_at("writev:signal=KILL", true);
}

fn kill_9_at_each_step_of_the_store_leaves_the_old_or_the_new_checkpoint() {
    // The temporary file's fsync (nothing renamed yet), the rename itself, and the
    // directory's fsync after the rename (the new file is in place).
    kill_at("fsync:signal=KILL:when=1", false);
    kill_at("/^rename:signal=KILL", false);
    kill_at("fsync:signal=KILL:when=2", true);
}

fn a_body_over_the_limit_gets_413_and_a_slow_request_408() {
    let f = Fixture::new();
    let w = Served::start(&f, None, &["--timeout", "1"]);
    let mut huge = f.request("a", 0);
    huge.note
        .push_str(&"x".repeat(ledger_witness::protocol::MAX_REQUEST_SIZE));
    let (status, _) = w.refused(&huge);
    assert_eq!(status, 413);
    // Headers, then half the body, then silence: the witness answers 408 and moves on.
    let mut slow = std::net::TcpStream::connect(w.url.trim_start_matches("http://")).unwrap();
    let head = "POST /add-checkpoint HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nold 0\n";
    slow.write_all(head.as_bytes()).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut answer = String::new();
    let _ = slow.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    w.cosigned(&f.request("a", 0));
    assert!(w.stop().success());
}

fn cosign_checks_and_stores_like_the_server() {
    let f = Fixture::new();
    let cosign = |request: &[u8]| {
        custody()
            .args(f.witness_args("cosign"))
            .args(["--request", "-"])
            .write_stdin(request.to_vec())
            .assert()
    };
    let first = f.request("a", 0);
    let ok = cosign(&first.to_body()).success();
    let lines = stdout(&ok);
    let vkey: NoteVerifier = stdout(&custody().args(f.witness_args("vkey")).assert().success())
        .trim()
        .parse()
        .unwrap();
    let note = format!("{}{lines}", first.note);
    let opened = open_checkpoint(
        note.as_bytes(),
        &f.log_vkey().parse().unwrap(),
        std::slice::from_ref(&vkey),
        ORIGIN,
    )
    .unwrap();
    assert!(opened.note.cosigned_at(&vkey).is_some());
    // A refusal is a failed verdict (exit 1) with the reason.
    f.grow("a", 1);
    let refused = cosign(&f.request("a", 0).to_body()).code(1);
    assert!(
        stderr(&refused).contains("refused (409): old size 0 is not the size 1"),
        "{}",
        stderr(&refused)
    );
    // A malformed request is an input error (exit 2) naming the line.
    let bad = cosign(b"old 1\nnot base64\n\nx\n").code(2);
    assert!(stderr(&bad).contains("line 2"), "{}", stderr(&bad));
    // The request from a file.
    let file = f.path("request.txt");
    std::fs::write(&file, f.request("a", 1).to_body()).unwrap();
    custody()
        .args(f.witness_args("cosign"))
        .arg("--request")
        .arg(&file)
        .assert()
        .success();
    // A damaged state file is refused, naming it, and nothing is cosigned.
    let state_file = std::fs::read_dir(f.state())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "cosigned"))
        .unwrap();
    let mut bytes = std::fs::read(&state_file).unwrap();
    let last = bytes.len() - 2;
    bytes[last] ^= 1;
    std::fs::write(&state_file, bytes).unwrap();
    let damaged = cosign(&f.request("a", 2).to_body()).code(2);
    let message = stderr(&damaged);
    assert!(
        message.contains(&state_file.display().to_string()) && message.contains("damaged"),
        "{message}"
    );
    assert!(
        !message.contains("Error {") && !message.contains("Os {"),
        "{message}"
    );
    // The witness key must be private; a log key must be a log key.
    let key = f.path("witness.pem");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let open = custody().args(f.witness_args("vkey")).assert().code(2);
    assert!(
        stderr(&open).contains("readable by others"),
        "{}",
        stderr(&open)
    );
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut args = f.witness_args("cosign");
    let last = args.len() - 1;
    args[last] = vkey.vkey();
    let wrong = custody()
        .args(args)
        .args(["--request", "-"])
        .write_stdin("old 0\n\nx\n")
        .assert()
        .code(2);
    assert!(
        stderr(&wrong).contains("is a witness key"),
        "{}",
        stderr(&wrong)
    );
}

/// An independent tlog-witness client and tlog-cosignature verifier, from the specs alone:
/// it builds the request body by hand (`old N`, base64 proof lines, a blank line, the
/// note), POSTs it, and verifies the answer's cosignature line with the witness's vkey:
/// key ID = SHA-256(name || "\n" || 0x04 || key)[:4], payload = key ID || u64 BE time ||
/// Ed25519 signature over "cosignature/v1\ntime <t>\n" || checkpoint text.
const INDEPENDENT_CLIENT: &str = r#"
import base64, hashlib, json, sys, time, urllib.request
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

d = json.load(open(sys.argv[1]))
body = "old %d\n" % d["old"]
for h in d["proof_hex"]:
    body += base64.b64encode(bytes.fromhex(h)).decode() + "\n"
body += "\n" + d["note"]
before = int(time.time())
req = urllib.request.Request(d["url"] + "/add-checkpoint", data=body.encode(), method="POST")
with urllib.request.urlopen(req) as r:
    assert r.status == 200, r.status
    answer = r.read().decode()
after = int(time.time())

name, key_id_hex, key_b64 = d["vkey"].split("+", 2)
raw_key = base64.b64decode(key_b64, validate=True)
assert raw_key[0] == 0x04 and len(raw_key) == 33, "vkey type must be 0x04"
pub = raw_key[1:]
key_id = hashlib.sha256(name.encode() + b"\n" + b"\x04" + pub).digest()[:4]
assert key_id.hex() == key_id_hex, "vkey key id"

text = d["note"][: d["note"].rindex("\n\n") + 1]
assert answer.endswith("\n")
found = 0
for line in answer[:-1].split("\n"):
    assert line.startswith("\u2014 "), line
    who, b64 = line[2:].split(" ")
    payload = base64.b64decode(b64, validate=True)
    if who != name or payload[:4] != key_id:
        continue
    assert len(payload) == 4 + 8 + 64, len(payload)
    t = int.from_bytes(payload[4:12], "big")
    assert before <= t <= after and t < 2**63, t
    message = b"cosignature/v1\ntime " + str(t).encode() + b"\n" + text.encode()
    Ed25519PublicKey.from_public_bytes(pub).verify(payload[12:], message)
    found += 1
assert found == 1, answer
print("independent witness client: ok")
"#;

fn an_independent_python_client_builds_a_request_and_verifies_the_cosignature() {
    let f = Fixture::new();
    let w = f.witness(None);
    w.cosigned(&f.request("a", 0));
    f.grow("a", 4);
    let request = f.request("a", 1);
    assert!(!request.proof.is_empty());
    let input = serde_json::json!({
        "url": w.url,
        "vkey": w.vkey.vkey(),
        "old": 1,
        "proof_hex": request.proof.iter().map(Digest::to_hex).collect::<Vec<_>>(),
        "note": request.note,
    });
    let script = f.path("client.py");
    std::fs::write(&script, INDEPENDENT_CLIENT).unwrap();
    let data = f.path("client.json");
    std::fs::write(&data, input.to_string()).unwrap();
    let out = Command::new("python3")
        .arg(&script)
        .arg(&data)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("ok"),
        "independent client refused:\n{}\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        w.log()
    );
    // The witness stored what the hand-made request gave it.
    assert_eq!(w.add(&f.request("a", 0)).unwrap(), Answer::Conflict(5));
    assert!(w.stop().success());
}

fn main() -> std::process::ExitCode {
    let strace = Need::Program("strace", "apt-get install strace");
    let python = Need::Python(
        "cryptography",
        "python3 -m pip install -r .ci/requirements.txt",
    );
    let mut suite = Suite::default();
    suite.test(
        "an_honest_growing_log_is_cosigned_repeatedly",
        &[],
        an_honest_growing_log_is_cosigned_repeatedly,
    );
    suite.test(
        "a_fork_is_refused_and_a_rollback_gets_409_with_the_stored_size",
        &[],
        a_fork_is_refused_and_a_rollback_gets_409_with_the_stored_size,
    );
    suite.test(
        "kill_9_between_storing_and_answering_then_restart_keeps_the_stored_checkpoint",
        std::slice::from_ref(&strace),
        kill_9_between_storing_and_answering_then_restart_keeps_the_stored_checkpoint,
    );
    suite.test(
        "kill_9_at_each_step_of_the_store_leaves_the_old_or_the_new_checkpoint",
        &[strace],
        kill_9_at_each_step_of_the_store_leaves_the_old_or_the_new_checkpoint,
    );
    suite.test(
        "a_body_over_the_limit_gets_413_and_a_slow_request_408",
        &[],
        a_body_over_the_limit_gets_413_and_a_slow_request_408,
    );
    suite.test(
        "cosign_checks_and_stores_like_the_server",
        &[],
        cosign_checks_and_stores_like_the_server,
    );
    suite.test(
        "an_independent_python_client_builds_a_request_and_verifies_the_cosignature",
        &[python],
        an_independent_python_client_builds_a_request_and_verifies_the_cosignature,
    );
    suite.run()
}
