//! `custody serve` end to end: the real binary on `127.0.0.1:0` (it prints the address it
//! bound), driven by a real HTTP client (ureq) and by `custody submit` / `--server` reads.
//!
//! Every status of the write API (201, 409, 422, 400, 413, 408, 503), group commit under 64
//! concurrent clients (every acknowledged statement in the log exactly once, one request's
//! refusal failing no other, `custody verify` passing after a SIGTERM), `kill -9` under load
//! then a restart (nothing acknowledged lost), and the C2SP tlog-tiles read back by an
//! independent reader written in Python from the spec, reproducing the checkpoint's root,
//! from the server and from the directory `custody export-tiles` writes. Also: a client
//! that sends half a header is disconnected; the OpenAPI document describes every route
//! and passes `openapi-spec-validator`; `custody sign --server` fills links as
//! `custody sign --ledger` does.
//!
//! The ledger holds the demo parties (`ledger_scenario::demo::enrolled_ledger`) and one lot;
//! new statements are signed offline with the scenario's deterministic test keys.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use custody_tests::{Need, Suite, custody, custody_bin, stderr, stdout};
use ledger::SigningContext;
use ledger_core::hash::Digest;
use ledger_core::id::PartyId;
use ledger_core::merkle::verify_inclusion;
use ledger_core::note::{NoteVerifier, open_checkpoint};
use ledger_core::statement::{Origin, StatementJson};
use ledger_scenario::demo::{OPERATOR, ORIGIN, enrolled_ledger};
use ledger_scenario::test_key;
use serde_json::{Value, json};
use tempfile::TempDir;

/// The lot every fixture holds.
const LOT: &str = "FX-ORE-0001";

/// A ledger of the demo parties in a temporary directory, with its operator key beside it.
struct Fixture {
    dir: TempDir,
}

impl Fixture {
    /// The demo parties enrolled (`ledger_scenario::demo::enrolled_ledger`), and one lot,
    /// `FX-ORE-0001`, extracted by kivu-mining; the operator key written beside the ledger.
    fn new() -> Fixture {
        let dir = TempDir::new().unwrap();
        let (ledger, keys) = enrolled_ledger(&dir.path().join("ledger")).unwrap();
        let key_for = |actor: &PartyId| {
            keys.get(actor.as_str())
                .ok_or_else(|| ledger::Error::BadInput(format!("no key for {actor}")))
        };
        let statements = ledger
            .signing_context()
            .sign_text(&extract(LOT), "fixture", &key_for, &mut || 1)
            .unwrap();
        ledger
            .append(statements, ledger::now().unwrap(), &ledger::Silent)
            .unwrap();
        ledger.into_store().close().unwrap();
        let pem = test_key(OPERATOR).to_pkcs8_pem().unwrap();
        let key = dir.path().join("ledger.operator.pem");
        std::fs::write(&key, pem.as_bytes()).unwrap();
        std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        Fixture { dir }
    }

    fn ledger(&self) -> PathBuf {
        self.dir.path().join("ledger")
    }

    fn key(&self) -> PathBuf {
        self.dir.path().join("ledger.operator.pem")
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn serve(&self, extra: &[&str]) -> Served {
        Served::start(&self.ledger(), &self.key(), extra)
    }

    /// `custody --ledger <ledger> ARGS`, with no server in the environment.
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
}

/// The operator's checkpoint verifier key.
fn vkey() -> NoteVerifier {
    NoteVerifier::new(ORIGIN, *test_key(OPERATOR).public_key().verifying_key()).unwrap()
}

/// A running `custody serve`.
struct Served {
    child: Option<Child>,
    url: String,
    log: PathBuf,
    _logdir: TempDir,
}

impl Served {
    fn start(ledger: &Path, key: &Path, extra: &[&str]) -> Served {
        let logdir = TempDir::new().unwrap();
        let log = logdir.path().join("serve.log");
        let mut child = Command::new(custody_bin())
            .env_remove("CUSTODY_LEDGER")
            .env_remove("CUSTODY_SERVER")
            .env("CUSTODY_LOCK_WAIT", "20")
            .arg("--ledger")
            .arg(ledger)
            .args(["serve", "--listen", "127.0.0.1:0", "--operator-key"])
            .arg(key)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let Some(url) = line.trim().strip_prefix("listening on ") else {
            let _ = child.wait();
            panic!(
                "custody serve did not start: {line:?}\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        };
        Served {
            url: url.to_owned(),
            child: Some(child),
            log,
            _logdir: logdir,
        }
    }

    fn pid(&self) -> String {
        self.child.as_ref().unwrap().id().to_string()
    }

    /// SIGTERM, then the exit status (the server finishes its open group first).
    fn stop(mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid()])
            .status()
            .unwrap();
        assert!(status.success());
        let status = wait_for(self.child.as_mut().unwrap(), Duration::from_secs(60));
        self.child = None;
        status
    }

    /// SIGKILL: no chance to flush anything.
    fn kill9(mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
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

fn wait_for(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            start.elapsed() < limit,
            "custody serve did not stop in time"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// Status, headers and body of a response.
struct Answer {
    status: u16,
    headers: ureq::http::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    }
}

fn answer(response: ureq::http::Response<ureq::Body>) -> Answer {
    try_answer(response).expect("cannot read the response body")
}

/// The answer, or `None` if the connection broke while the body was read.
fn try_answer(response: ureq::http::Response<ureq::Body>) -> Option<Answer> {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .with_config()
        .limit(64 << 20)
        .read_to_vec()
        .ok()?;
    Some(Answer {
        status,
        headers,
        body,
    })
}

fn get(agent: &ureq::Agent, url: &str) -> Answer {
    answer(agent.get(url).call().unwrap())
}

fn post(agent: &ureq::Agent, url: &str, body: &[u8]) -> Answer {
    answer(
        agent
            .post(url)
            .header("Content-Type", "application/json")
            .send(body)
            .unwrap(),
    )
}

/// Signs `events` (supplier JSON, one object per line) offline for the demo ledger with the
/// actors' test keys: the statements as `custody sign` prints them.
fn sign(events: &str) -> Vec<Value> {
    let keys: std::collections::HashMap<String, ledger_core::keys::SecretKey> = [
        "kivu-mining",
        "kasombo-coop",
        "lubumbashi-traders",
        OPERATOR,
    ]
    .iter()
    .map(|p| (p.to_string(), test_key(p)))
    .collect();
    let mut ctx = SigningContext::new(None, Origin::new(ORIGIN).unwrap());
    let key_for = |actor: &PartyId| {
        keys.get(actor.as_str())
            .ok_or_else(|| ledger::Error::BadInput(format!("no key for {actor}")))
    };
    let nonce = AtomicU64::new(rand_seed());
    let statements = ctx
        .sign_text(events, "test", &key_for, &mut || {
            nonce.fetch_add(1, Ordering::Relaxed)
        })
        .unwrap();
    statements
        .iter()
        .map(|s| serde_json::to_value(StatementJson::new(s).unwrap()).unwrap())
        .collect()
}

fn rand_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// An extract of a new lot `lot` by kivu-mining.
fn extract(lot: &str) -> String {
    json!({
        "kind": "extract", "actor": "kivu-mining", "time": "2026-03-02T08:15:00Z",
        "site": {"id": "KV-PIT-2", "country": "CD", "lat": -10.71, "lon": 25.47, "method": "industrial"},
        "outputs": [{"lot": lot, "material": "cobalt-ore", "quantity": 1000, "unit": "kg", "content": {"Co": 0.031}}]
    })
    .to_string()
}

/// Checks a 201/409 answer's receipts against its checkpoint and the operator key; returns
/// `(id, seq)` of each.
fn check_receipts(reply: &Value) -> Vec<(String, u64)> {
    let note = reply["checkpoint"].as_str().unwrap();
    let opened = open_checkpoint(note.as_bytes(), &vkey(), &[], ORIGIN).unwrap();
    let cp = opened.checkpoint;
    reply["receipts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let seq = r["seq"].as_u64().unwrap();
            let size = r["tree_size"].as_u64().unwrap();
            assert_eq!(
                size,
                cp.size(),
                "receipt against the checkpoint it came with"
            );
            let root: Digest = r["root"].as_str().unwrap().parse().unwrap();
            assert_eq!(root, *cp.root());
            let leaf: Digest = r["leaf_hash"].as_str().unwrap().parse().unwrap();
            let path: Vec<Digest> = r["inclusion_path"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h.as_str().unwrap().parse().unwrap())
                .collect();
            verify_inclusion(seq, size, &leaf, &path, &root).unwrap();
            (r["id"].as_str().unwrap().to_owned(), seq)
        })
        .collect()
}

fn submit_gets_201_with_receipts_proved_against_a_signed_checkpoint() {
    let f = Fixture::new();
    let s = f.serve(&[]);
    let agent = agent();
    let before = get(&agent, &format!("{}/checkpoint", s.url));
    assert_eq!(before.status, 200);
    assert_eq!(before.header("cache-control"), "no-cache");
    assert!(before.header("content-type").starts_with("text/plain"));
    let statement = sign(&extract("T-ORE-0001")).remove(0);
    let a = post(
        &agent,
        &format!("{}/v1/statements", s.url),
        statement.to_string().as_bytes(),
    );
    assert_eq!(a.status, 201, "{}", String::from_utf8_lossy(&a.body));
    let reply = a.json();
    let receipts = check_receipts(&reply);
    assert_eq!(receipts.len(), 1);
    assert_eq!(receipts[0].0, statement["id"].as_str().unwrap());
    // The checkpoint now served covers it.
    let after = String::from_utf8(get(&agent, &format!("{}/checkpoint", s.url)).body).unwrap();
    assert_eq!(after, reply["checkpoint"].as_str().unwrap());
    // A batch is one request: all of it or nothing.
    let batch = sign(&format!(
        "{}\n{}",
        extract("T-ORE-0002"),
        extract("T-ORE-0003")
    ));
    let a = post(
        &agent,
        &format!("{}/v1/statements", s.url),
        Value::Array(batch).to_string().as_bytes(),
    );
    assert_eq!(a.status, 201);
    let seqs: Vec<u64> = check_receipts(&a.json()).iter().map(|r| r.1).collect();
    assert_eq!(seqs[1], seqs[0] + 1);
    // Entry and event reads agree with the receipt.
    let by_id = get(&agent, &format!("{}/v1/events/{}", s.url, receipts[0].0)).json();
    assert_eq!(by_id["seq"].as_u64(), Some(receipts[0].1));
    let by_seq = get(&agent, &format!("{}/v1/entries/{}", s.url, receipts[0].1)).json();
    assert_eq!(by_seq["statement"]["id"], statement["id"]);
    assert!(s.stop().success());
}

fn a_retry_gets_409_with_the_same_receipt() {
    let f = Fixture::new();
    let s = f.serve(&[]);
    let agent = agent();
    let body = Value::Array(sign(&format!(
        "{}\n{}",
        extract("R-ORE-1"),
        extract("R-ORE-2")
    )))
    .to_string();
    let url = format!("{}/v1/statements", s.url);
    let first = post(&agent, &url, body.as_bytes());
    assert_eq!(first.status, 201);
    let again = post(&agent, &url, body.as_bytes());
    assert_eq!(
        again.status,
        409,
        "{}",
        String::from_utf8_lossy(&again.body)
    );
    let (a, b) = (first.json(), again.json());
    assert_eq!(check_receipts(&a), check_receipts(&b));
    for (x, y) in a["receipts"]
        .as_array()
        .unwrap()
        .iter()
        .zip(b["receipts"].as_array().unwrap())
    {
        assert_eq!(x["leaf_hash"], y["leaf_hash"]);
    }
    // Nothing was appended twice.
    let head = get(&agent, &format!("{}/healthz", s.url)).json();
    assert_eq!(
        head["size"].as_u64(),
        a["receipts"][1]["seq"].as_u64().map(|s| s + 1)
    );
    assert!(s.stop().success());
}

fn a_refusal_gets_422_with_the_findings_custody_append_prints() {
    let f = Fixture::new();
    // What `custody append` says of the same statements, on a copy of the ledger.
    let copy = f.path("copy");
    custody_tests::copy_dir(&f.ledger(), &copy);
    // The fixture lot exists: a second extract of it is refused.
    let statements = sign(&format!("{}\n{}", extract("F-ORE-1"), extract(LOT)));
    let file = f.path("refused.jsonl");
    std::fs::write(
        &file,
        statements
            .iter()
            .map(|s| format!("{s}\n"))
            .collect::<String>(),
    )
    .unwrap();
    let appended = custody()
        .env_remove("CUSTODY_SERVER")
        .arg("--ledger")
        .arg(&copy)
        .args(["append", "--json"])
        .arg(&file)
        .assert()
        .code(1);
    let expected: Value = serde_json::from_str(&stdout(&appended)).unwrap();
    let expected: Vec<(u64, String, String)> = expected["refused"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["statement"].as_u64().unwrap(),
                r["finding"]["rule"].as_str().unwrap().to_owned(),
                r["finding"]["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(!expected.is_empty());

    let s = f.serve(&[]);
    let agent = agent();
    let first_id = statements[0]["id"].as_str().unwrap().to_owned();
    let a = post(
        &agent,
        &format!("{}/v1/statements", s.url),
        Value::Array(statements).to_string().as_bytes(),
    );
    assert_eq!(a.status, 422);
    assert_eq!(a.header("content-type"), "application/problem+json");
    let problem = a.json();
    assert_eq!(problem["status"], 422);
    let got: Vec<(u64, String, String)> = problem["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["statement"].as_u64().unwrap(),
                f["code"].as_str().unwrap().to_owned(),
                f["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(got, expected);

    // A signer that is not enrolled is refused at the door (CUS-AUT-001).
    let stranger = ledger_core::keys::SecretKey::from_seed(&[9; 32]);
    let mut ctx = SigningContext::new(None, Origin::new(ORIGIN).unwrap());
    let forged = ctx
        .sign_text(&extract("F-ORE-2"), "test", &|_| Ok(&stranger), &mut || 5)
        .unwrap();
    let body = serde_json::to_string(&StatementJson::new(&forged[0]).unwrap()).unwrap();
    let a = post(&agent, &format!("{}/v1/statements", s.url), body.as_bytes());
    assert_eq!(a.status, 422);
    let codes: Vec<String> = a.json()["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap().to_owned())
        .collect();
    assert!(codes.iter().any(|c| c == "CUS-AUT-001"), "{codes:?}");
    // The refused request left nothing behind: its first, acceptable statement is not in
    // the log either.
    let first = get(&agent, &format!("{}/v1/events/{first_id}", s.url));
    assert_eq!(first.status, 404);
    assert!(s.stop().success());
}

fn malformed_bodies_get_400_naming_the_field() {
    let f = Fixture::new();
    let s = f.serve(&[]);
    let agent = agent();
    let url = format!("{}/v1/statements", s.url);
    let good = sign(&extract("M-ORE-1")).remove(0);
    let mut bad_signer = good.clone();
    bad_signer["signer"] = json!("not hex");
    let mut bad_id = good.clone();
    bad_id["id"] = json!("00".repeat(32));
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"{not json".to_vec(), "(body)"),
        (b"42".to_vec(), "(body)"),
        (b"[]".to_vec(), "(body)"),
        (bad_signer.to_string().into_bytes(), "signer"),
        (
            json!([good, bad_signer]).to_string().into_bytes(),
            "[1].signer",
        ),
        (bad_id.to_string().into_bytes(), "id"),
    ];
    for (body, field) in cases {
        let a = post(&agent, &url, &body);
        assert_eq!(a.status, 400, "{}", String::from_utf8_lossy(&body));
        assert_eq!(a.header("content-type"), "application/problem+json");
        let p = a.json();
        assert_eq!(p["field"], field, "{p}");
        assert!(
            !p["detail"].as_str().unwrap().contains("Error {"),
            "no debug dumps: {p}"
        );
    }
    // Not JSON at all.
    let a = answer(
        agent
            .post(&url)
            .header("Content-Type", "text/plain")
            .send(good.to_string().as_bytes())
            .unwrap(),
    );
    assert_eq!(a.status, 415);
    // Unknown paths and tiles beyond the log are problem documents too.
    assert_eq!(get(&agent, &format!("{}/nope", s.url)).status, 404);
    assert_eq!(
        get(&agent, &format!("{}/tile/0/x999/000", s.url)).status,
        404
    );
    assert_eq!(get(&agent, &format!("{}/tile/0/0001", s.url)).status, 404);
    assert_eq!(
        get(&agent, &format!("{}/v1/lots/NO-SUCH-LOT/trace", s.url)).status,
        404
    );
    assert_eq!(
        get(&agent, &format!("{}/v1/entries/99999", s.url)).status,
        404
    );
    assert!(s.stop().success());
}

fn a_body_over_the_limit_gets_413() {
    let f = Fixture::new();
    let s = f.serve(&["--body-limit", "2000"]);
    let agent = agent();
    let body = Value::Array(sign(
        &(0..10)
            .map(|i| extract(&format!("B-ORE-{i}")))
            .collect::<Vec<_>>()
            .join("\n"),
    ))
    .to_string();
    assert!(body.len() > 2000);
    let a = post(&agent, &format!("{}/v1/statements", s.url), body.as_bytes());
    assert_eq!(a.status, 413);
    assert_eq!(a.header("content-type"), "application/problem+json");
    assert_eq!(
        a.json()["type"],
        "https://custody.example/problems/too-large"
    );
    // The server still serves.
    let one = sign(&extract("B-ORE-X")).remove(0).to_string();
    assert_eq!(
        post(&agent, &format!("{}/v1/statements", s.url), one.as_bytes()).status,
        201
    );
    assert!(s.stop().success());
}

/// Opens a connection and sends the headers of a POST whose body never fully arrives.
fn slow_request(url: &str) -> TcpStream {
    let addr = url.strip_prefix("http://").unwrap();
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "POST /v1/statements HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n[{{"
    )
    .unwrap();
    stream.flush().unwrap();
    stream
}

fn a_slow_request_gets_408_and_never_holds_the_server() {
    let f = Fixture::new();
    let s = f.serve(&["--timeout", "1"]);
    let mut slow = slow_request(&s.url);
    // Others are served meanwhile.
    let agent = agent();
    let one = sign(&extract("S-ORE-1")).remove(0).to_string();
    assert_eq!(
        post(&agent, &format!("{}/v1/statements", s.url), one.as_bytes()).status,
        201
    );
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut response = String::new();
    let _ = slow.read_to_string(&mut response);
    assert!(response.starts_with("HTTP/1.1 408"), "{response:?}");
    assert!(s.stop().success());
}

fn overload_gets_503_with_retry_after() {
    let f = Fixture::new();
    let s = f.serve(&["--concurrency", "1", "--timeout", "5"]);
    let _slow = slow_request(&s.url);
    std::thread::sleep(Duration::from_millis(300));
    let agent = agent();
    let one = sign(&extract("O-ORE-1")).remove(0).to_string();
    let a = post(&agent, &format!("{}/v1/statements", s.url), one.as_bytes());
    assert_eq!(a.status, 503);
    assert_eq!(a.header("retry-after"), "1");
    assert_eq!(a.json()["status"], 503);
    drop(s);
}

fn rate_limits_per_signer_and_per_address_get_429_with_retry_after() {
    let f = Fixture::new();
    let s = f.serve(&["--rate-per-signer", "2"]);
    let agent = agent();
    let url = format!("{}/v1/statements", s.url);
    let statuses: Vec<u16> = (0..3)
        .map(|i| {
            let body = sign(&extract(&format!("RL-ORE-{i}"))).remove(0).to_string();
            post(&agent, &url, body.as_bytes()).status
        })
        .collect();
    assert_eq!(statuses, [201, 201, 429]);
    drop(s);
    let s = f.serve(&["--rate-per-ip", "3"]);
    let statuses: Vec<Answer> = (0..4)
        .map(|_| get(&agent, &format!("{}/healthz", s.url)))
        .collect();
    assert!(statuses[..3].iter().all(|a| a.status == 200));
    assert_eq!(statuses[3].status, 429);
    assert!(statuses[3].header("retry-after").parse::<u64>().unwrap() >= 1);
    assert_eq!(
        statuses[3].json()["type"],
        "https://custody.example/problems/rate-limited"
    );
    assert!(s.stop().success());
}

/// `clients` threads each submit `each` single-statement requests; every third client
/// submits, as its last request, a lot another client also creates (one of the two is
/// refused). Returns every acknowledged `(id, seq)` and how many were refused.
fn load(url: &str, clients: usize, each: usize, tag: &str) -> (Vec<(String, u64)>, usize) {
    let url = format!("{url}/v1/statements");
    let threads: Vec<_> = (0..clients)
        .map(|c| {
            let url = url.clone();
            let tag = tag.to_owned();
            std::thread::spawn(move || {
                let agent = agent();
                let mut acked = Vec::new();
                let mut refused = 0;
                for i in 0..each {
                    let lot = if i + 1 == each && c % 3 < 2 {
                        format!("{tag}-SHARED-{}", c / 3)
                    } else {
                        format!("{tag}-{c}-{i}")
                    };
                    let body = sign(&extract(&lot)).remove(0).to_string();
                    let Ok(response) = agent
                        .post(&url)
                        .header("Content-Type", "application/json")
                        .send(body.as_bytes())
                    else {
                        break; // the server went away (kill -9)
                    };
                    let Some(a) = try_answer(response) else {
                        break;
                    };
                    match a.status {
                        201 => acked.extend(check_receipts(&a.json())),
                        422 => refused += 1,
                        other => panic!("unexpected {other}: {}", String::from_utf8_lossy(&a.body)),
                    }
                }
                (acked, refused)
            })
        })
        .collect();
    let mut acked = Vec::new();
    let mut refused = 0;
    for t in threads {
        let (a, r) = t.join().unwrap();
        acked.extend(a);
        refused += r;
    }
    (acked, refused)
}

/// Every acknowledged statement is in the ledger at its position, exactly once.
fn assert_all_present(f: &Fixture, acked: &[(String, u64)]) {
    let store = custody_tests::retry(|| ledger_store::SledStore::open(f.ledger()));
    let ledger = ledger::Ledger::open(store).unwrap();
    let mut seqs = std::collections::HashSet::new();
    for (id, seq) in acked {
        let digest: Digest = id.parse().unwrap();
        assert_eq!(ledger.position(&digest).unwrap(), *seq, "{id}");
        assert_eq!(ledger.entry(*seq).unwrap().id, digest);
        assert!(seqs.insert(*seq), "two receipts name #{seq}");
    }
    ledger.into_store().close().unwrap();
}

fn sixty_four_concurrent_clients_every_acknowledged_statement_once_and_verify_passes() {
    let f = Fixture::new();
    let s = f.serve(&[]);
    let agent = agent();
    let start = get(&agent, &format!("{}/healthz", s.url)).json()["size"]
        .as_u64()
        .unwrap();
    let (acked, refused) = load(&s.url, 64, 8, "C");
    // 22 pairs of clients (c % 3 == 0 and 1) race for a shared lot: one of each wins.
    let pairs = (0..64).filter(|c| c % 3 == 0 && c + 1 < 64).count();
    assert_eq!(refused, pairs, "exactly one of each racing pair is refused");
    assert_eq!(acked.len(), 64 * 8 - refused);
    let metrics = String::from_utf8(get(&agent, &format!("{}/metrics", s.url)).body).unwrap();
    assert!(
        metrics.contains("custody_statements_appended_total"),
        "{metrics}"
    );
    assert!(
        metrics.contains("custody_refusals_total{rule=\"CUS-CUS-006\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("custody_group_statements_bucket"));
    let end = get(&agent, &format!("{}/healthz", s.url)).json()["size"]
        .as_u64()
        .unwrap();
    assert_eq!(
        end - start,
        acked.len() as u64,
        "nothing appended but what was acknowledged"
    );
    let status = s.stop();
    assert!(status.success());
    assert_all_present(&f, &acked);
    f.custody(&["verify"]).success();
}

fn kill_9_under_load_then_restart_keeps_every_acknowledged_statement() {
    let f = Fixture::new();
    let s = f.serve(&[]);
    let url = s.url.clone();
    let loader = std::thread::spawn(move || load(&url, 16, 200, "K"));
    std::thread::sleep(Duration::from_millis(1500));
    s.kill9();
    let (acked, _) = loader.join().unwrap();
    assert!(
        !acked.is_empty(),
        "some statements were acknowledged before the kill"
    );
    // Restart: everything acknowledged is there; the ledger verifies.
    let s = f.serve(&[]);
    let agent = agent();
    for (id, seq) in &acked {
        let a = get(&agent, &format!("{}/v1/events/{id}", s.url));
        assert_eq!(a.status, 200, "acknowledged {id} lost");
        assert_eq!(a.json()["seq"].as_u64(), Some(*seq));
    }
    assert!(s.stop().success());
    f.custody(&["verify"]).success();
}

/// An independent tlog-tiles reader, written from the C2SP spec: fetches the checkpoint,
/// every level-0 tile (full and partial) and entry bundle, checks each entry hashes to its
/// leaf and each level-1 hash to its full level-0 tile, and recomputes the RFC 6962 root.
/// It reads a server (an `http://` URL, checking the cache headers too) or a directory
/// `custody export-tiles` wrote.
const TILES_READER: &str = r#"
import base64, hashlib, os, sys, urllib.request

base = sys.argv[1]
def fetch(path):
    if not base.startswith("http"):
        with open(os.path.join(base, path), "rb") as f:
            return 200, None, f.read()
    with urllib.request.urlopen(base + "/" + path) as r:
        return r.status, r.headers, r.read()

def tile_path(level, index, width):
    digits = []
    n = index
    while True:
        digits.append(n % 1000)
        n //= 1000
        if n == 0:
            break
    digits.reverse()
    parts = ["x%03d" % d for d in digits[:-1]] + ["%03d" % digits[-1]]
    p = "tile/%s/%s" % (level, "/".join(parts))
    if width < 256:
        p += ".p/%d" % width
    return p

_, headers, cp = fetch("checkpoint")
assert headers is None or headers.get("Cache-Control") == "no-cache", headers
lines = cp.decode().split("\n")
origin, size, root = lines[0], int(lines[1]), base64.b64decode(lines[2])

def sha(b):
    return hashlib.sha256(b).digest()

leaves = []
for n in range((size + 255) // 256):
    width = min(256, size - n * 256)
    status, headers, tile = fetch(tile_path(0, n, width))
    assert len(tile) == 32 * width
    if headers is not None:
        cache = headers.get("Cache-Control", "")
        assert ("immutable" in cache) == (width == 256), cache
    hashes = [tile[i:i + 32] for i in range(0, len(tile), 32)]
    _, _, bundle = fetch(tile_path("entries", n, width))
    at = 0
    for h in hashes:
        length = int.from_bytes(bundle[at:at + 2], "big")
        entry = bundle[at + 2:at + 2 + length]
        at += 2 + length
        assert sha(b"\x00" + entry) == h, "entry does not hash to its leaf"
    assert at == len(bundle)
    leaves.extend(hashes)

def mth(hs):
    if len(hs) == 1:
        return hs[0]
    k = 1
    while k * 2 < len(hs):
        k *= 2
    return sha(b"\x01" + mth(hs[:k]) + mth(hs[k:]))

full = size // 256
if full:
    width = full % 256 or 256
    _, _, l1 = fetch(tile_path(1, 0, min(full, 256)))
    for i in range(min(full, 256)):
        assert l1[32 * i:32 * i + 32] == mth(leaves[256 * i:256 * (i + 1)]), "level-1 hash"

assert mth(leaves) == root, "root mismatch"
print("ok", origin, size)
"#;

/// Runs [`TILES_READER`] on `base` (a server's URL or a directory) and checks it agreed.
fn read_tiles(f: &Fixture, base: &str) {
    let script = f.path("tiles.py");
    std::fs::write(&script, TILES_READER).unwrap();
    let out = Command::new("python3")
        .arg(&script)
        .arg(base)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.starts_with(&format!("ok {ORIGIN} ")), "{printed}");
}

/// Submits `count` new lots in one request.
fn submit_lots(url: &str, tag: &str, count: usize) {
    let events: Vec<String> = (0..count)
        .map(|i| extract(&format!("{tag}-ORE-{i}")))
        .collect();
    let body = Value::Array(sign(&events.join("\n"))).to_string();
    let a = post(&agent(), &format!("{url}/v1/statements"), body.as_bytes());
    assert_eq!(a.status, 201, "{}", String::from_utf8_lossy(&a.body));
}

fn tiles_read_by_an_independent_python_reader_reproduce_the_checkpoint_root() {
    let f = Fixture::new();
    let s = f.serve(&[]);
    // More than two full level-0 tiles, so a level-1 tile exists.
    submit_lots(&s.url, "TL", 600);
    read_tiles(&f, &s.url);
    assert!(s.stop().success());
}

/// Every file under `dir`, by its path relative to `dir`.
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(at) = pending.pop() {
        for entry in std::fs::read_dir(&at).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let relative = path.strip_prefix(dir).unwrap();
                out.push(relative.to_str().unwrap().to_owned());
            }
        }
    }
    out.sort();
    out
}

fn export_tiles_writes_the_served_tree_which_the_independent_reader_reads_back() {
    let f = Fixture::new();
    let out = f.path("static");
    let export = || {
        let run = f
            .custody(&["export-tiles", "--out", out.to_str().unwrap()])
            .success();
        stdout(&run)
    };
    let s = f.serve(&[]);
    submit_lots(&s.url, "XT", 600);
    assert!(s.stop().success());
    let first = export();
    assert!(first.starts_with(&format!("wrote {}: checkpoint at size ", out.display())));
    // Again over the same directory after the log grew: brought up to date, and the
    // partial tiles of the first export still hold what the server serves at their paths.
    let s = f.serve(&[]);
    submit_lots(&s.url, "XU", 10);
    assert!(s.stop().success());
    let second = export();
    assert_ne!(first, second);
    read_tiles(&f, out.to_str().unwrap());
    let s = f.serve(&[]);
    let agent = agent();
    let files = files_under(&out);
    assert!(files.contains(&"tile/1/000.p/2".to_owned()), "{files:?}");
    assert!(files.iter().all(|f| !f.ends_with(".tmp")), "{files:?}");
    for file in &files {
        let served = get(&agent, &format!("{}/{file}", s.url));
        assert_eq!(served.status, 200, "{file}");
        assert!(
            served.body == std::fs::read(out.join(file)).unwrap(),
            "{file} differs from what the server serves"
        );
    }
    assert!(s.stop().success());
}

fn a_client_that_sends_half_a_header_is_disconnected() {
    let f = Fixture::new();
    let s = f.serve(&["--header-timeout", "1"]);
    let addr = s.url.strip_prefix("http://").unwrap();
    let mut half = TcpStream::connect(addr).unwrap();
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: custody\r\nX-Slow: ")
        .unwrap();
    let silent = TcpStream::connect(addr).unwrap();
    let start = Instant::now();
    for mut stream in [half, silent] {
        // A generous bound: the test asserts the close, not its timing.
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut answer = Vec::new();
        if let Err(e) = stream.read_to_end(&mut answer) {
            assert!(
                !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ),
                "the connection was not closed: {e}"
            );
        }
    }
    assert!(start.elapsed() < Duration::from_secs(30));
    // The server still serves.
    assert_eq!(get(&agent(), &format!("{}/healthz", s.url)).status, 200);
    assert!(s.stop().success());
}

/// A request to `url` with `method` (no body).
fn call(agent: &ureq::Agent, method: &str, url: &str) -> Answer {
    let request = ureq::http::Request::builder()
        .method(method)
        .uri(url)
        .body(Vec::new())
        .unwrap();
    answer(agent.run(request).unwrap())
}

/// Checks the served OpenAPI document with `openapi-spec-validator`, an independent
/// implementation of the OpenAPI 3.1 schema, after checking that every operation it lists
/// is served and every other method on its paths is not (405): with the unit test that
/// compares the router's route table with the document, nothing is served undocumented.
fn the_openapi_document_describes_every_route_and_validates() {
    let f = Fixture::new();
    let s = f.serve(&[]);
    let agent = agent();
    let document = get(&agent, &format!("{}/openapi.json", s.url)).json();
    assert_eq!(document["openapi"], "3.1.0");
    let paths = document["paths"].as_object().unwrap();
    assert!(paths.len() >= 16, "{paths:?}");
    for (path, item) in paths {
        let concrete = path
            .replace("{lot}", LOT)
            .replace("{seq}", "0")
            .replace("{id}", &"0".repeat(64))
            .replace("{path}", "0/000.p/1")
            .replace("{gtin}", "09506000134352")
            .replace("{serial}", "1");
        let url = format!("{}{concrete}", s.url);
        for method in ["get", "post", "put", "delete", "patch"] {
            let a = call(&agent, &method.to_uppercase(), &url);
            if item.get(method).is_some() {
                let text = String::from_utf8_lossy(&a.body);
                assert!(
                    a.status != 405 && !text.contains("no such resource"),
                    "{method} {path} is documented but not served: {} {text}",
                    a.status
                );
            } else {
                assert_eq!(
                    a.status, 405,
                    "{method} {path} is served but not documented"
                );
            }
        }
    }
    let file = f.path("openapi.json");
    std::fs::write(&file, document.to_string()).unwrap();
    let out = Command::new("python3")
        .args([
            "-c",
            "import json, sys\n\
             from openapi_spec_validator import validate, OpenAPIV31SpecValidator\n\
             validate(json.load(open(sys.argv[1])), cls=OpenAPIV31SpecValidator)\n\
             print('valid')",
        ])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openapi-spec-validator refused the document:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "valid\n");
    assert!(s.stop().success());
}

fn submit_and_read_commands_run_against_the_server() {
    let f = Fixture::new();
    let s = f.serve(&[]);
    let vkey_file = f.path("operator.vkey");
    std::fs::write(&vkey_file, format!("{}\n", vkey().vkey())).unwrap();
    let file = f.path("extract.signed.jsonl");
    let statements = sign(&format!(
        "{}\n{}",
        extract("SUB-ORE-1"),
        extract("SUB-ORE-2")
    ));
    std::fs::write(
        &file,
        statements
            .iter()
            .map(|s| format!("{s}\n"))
            .collect::<String>(),
    )
    .unwrap();
    let state = f.path("seen.checkpoint");
    let remote = |args: &[&str]| {
        custody()
            .env_remove("CUSTODY_LEDGER")
            .env_remove("CUSTODY_SERVER")
            .args(["--server", &s.url])
            .args(args)
            .assert()
    };
    let run = remote(&[
        "submit",
        file.to_str().unwrap(),
        "--vkey",
        vkey_file.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
    ])
    .success();
    let out = stdout(&run);
    assert!(out.starts_with("appended #"), "{out}");
    assert!(out.contains("verified: inclusion in the log of"), "{out}");
    assert!(state.is_file(), "the checkpoint seen is kept");
    // A retry: the same receipts, and the kept checkpoint is checked for consistency.
    let out = stdout(
        &remote(&[
            "submit",
            file.to_str().unwrap(),
            "--vkey",
            vkey_file.to_str().unwrap(),
            "--state",
            state.to_str().unwrap(),
        ])
        .success(),
    );
    assert!(out.starts_with("already in the log #"), "{out}");
    // A wrong pinned key is refused before anything is reported as success.
    let other =
        NoteVerifier::new(ORIGIN, *test_key("someone").public_key().verifying_key()).unwrap();
    let wrong = remote(&["submit", file.to_str().unwrap(), "--vkey", &other.vkey()]).code(2);
    assert!(
        stderr(&wrong).contains("not signed by the pinned operator key"),
        "{}",
        stderr(&wrong)
    );

    // Reads: checkpoint, proof, trace, verify --lot, export-bundle (then verified offline).
    let cp = stdout(&remote(&["checkpoint"]).success());
    assert!(cp.starts_with(ORIGIN), "{cp}");
    let proof = stdout(&remote(&["proof", "inclusion", "--seq", "3", "--json"]).success());
    let proof: Value = serde_json::from_str(&proof).unwrap();
    assert_eq!(proof["leaf_index"], 3);
    let shown: Value = serde_json::from_str(&stdout(
        &remote(&["show", "--seq", "0", "--json"]).success(),
    ))
    .unwrap();
    assert_eq!(shown["seq"], 0);
    let miners = stdout(&remote(&["parties", "--role", "miner"]).success());
    assert!(
        miners.contains("kivu-mining") && !miners.contains("lualaba-refining"),
        "{miners}"
    );
    let trace = stdout(&remote(&["trace", "FX-ORE-0001", "--json"]).success());
    let trace: Value = serde_json::from_str(&trace).unwrap();
    assert_eq!(trace["lot"], "FX-ORE-0001");
    let verified = stdout(&remote(&["verify", "--lot", "FX-ORE-0001"]).success());
    assert!(verified.contains("verdict: PASS"), "{verified}");
    let bundle = f.path("module.bundle");
    remote(&[
        "export-bundle",
        "FX-ORE-0001",
        "--out",
        bundle.to_str().unwrap(),
    ])
    .success();
    custody()
        .env_remove("CUSTODY_SERVER")
        .args([
            "verify",
            "--bundle",
            bundle.to_str().unwrap(),
            "--vkey",
            vkey_file.to_str().unwrap(),
        ])
        .assert()
        .success();

    // The ledger's own directory is held: a command there says where the server is.
    let held = f.custody(&["trace", "FX-ORE-0001"]).code(2);
    assert!(
        stderr(&held).contains(&format!("--server {}", s.url)),
        "{}",
        stderr(&held)
    );
    assert!(s.stop().success());
}

/// Writes the test key of `party` as a private key file (mode 0600) beside the ledger.
fn key_file(f: &Fixture, party: &str) -> PathBuf {
    let path = f.path(&format!("{party}.pem"));
    let pem = test_key(party).to_pkcs8_pem().unwrap();
    std::fs::write(&path, pem.as_bytes()).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    path
}

fn sign_with_server_fills_the_links_as_sign_with_the_ledger_and_submit_accepts_it() {
    let f = Fixture::new();
    let vkey_file = f.path("operator.vkey");
    std::fs::write(&vkey_file, format!("{}\n", vkey().vkey())).unwrap();
    // A ship whose `from` links come from kivu-mining's holding, then a receive whose
    // `shipment` is the one open shipment to lualaba-refining carrying the lot.
    let steps = [
        (
            "ship",
            "kivu-mining",
            json!({"kind": "ship", "actor": "kivu-mining", "time": "2026-03-05T10:00:00Z",
                   "nonce": 7, "to": "lualaba-refining", "lots": [{"lot": LOT, "quantity": 600}]}),
            "from",
        ),
        (
            "receive",
            "lualaba-refining",
            json!({"kind": "receive", "actor": "lualaba-refining", "time": "2026-03-07T16:00:00Z",
                   "nonce": 8, "lots": [{"lot": LOT, "quantity": 599.5}]}),
            "shipment",
        ),
    ];
    for (name, actor, event, link) in steps {
        let key = key_file(&f, actor);
        let events = f.path(&format!("{name}.json"));
        std::fs::write(&events, event.to_string()).unwrap();
        let args = [
            "sign",
            "--key",
            key.to_str().unwrap(),
            events.to_str().unwrap(),
        ];
        let local = stdout(&f.custody(&args).success());
        let signed: Value = serde_json::from_str(&local).unwrap();
        assert!(
            signed["event"].to_string().contains(&format!("\"{link}\"")),
            "{name}: no {link} filled in: {local}"
        );
        let s = f.serve(&[]);
        let remote = |args: &[&str]| {
            custody()
                .env_remove("CUSTODY_LEDGER")
                .env_remove("CUSTODY_SERVER")
                .args(["--server", &s.url])
                .args(args)
                .assert()
        };
        let run = remote(&args).success();
        assert_eq!(
            stdout(&run),
            local,
            "{name}: --server and --ledger sign alike"
        );
        let file = f.path(&format!("{name}.signed"));
        std::fs::write(&file, stdout(&run)).unwrap();
        let submitted = remote(&[
            "submit",
            file.to_str().unwrap(),
            "--vkey",
            vkey_file.to_str().unwrap(),
            "--state",
            f.path("seen.checkpoint").to_str().unwrap(),
        ])
        .success();
        assert!(
            stdout(&submitted).starts_with("appended #"),
            "{}",
            stdout(&submitted)
        );
        assert!(s.stop().success());
    }
    // Nothing is held any more: the same receive again has no shipment to link to.
    let s = f.serve(&[]);
    let again = custody()
        .env_remove("CUSTODY_LEDGER")
        .args(["--server", &s.url, "sign", "--key"])
        .arg(f.path("lualaba-refining.pem"))
        .arg(f.path("receive.json"))
        .assert()
        .code(2);
    assert!(
        stderr(&again).contains("no open shipment to lualaba-refining carries these lots"),
        "{}",
        stderr(&again)
    );
    assert!(s.stop().success());
}

fn openapi_healthz_and_json_reads_are_served() {
    let f = Fixture::new();
    let s = f.serve(&[]);
    let agent = agent();
    let doc = get(&agent, &format!("{}/openapi.json", s.url)).json();
    assert_eq!(doc["openapi"], "3.1.0");
    for path in [
        "/v1/statements",
        "/checkpoint",
        "/tile/{path}",
        "/v1/lots/{lot}/verify",
        "/metrics",
        "/healthz",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from the OpenAPI document"
        );
    }
    assert_eq!(
        get(&agent, &format!("{}/healthz", s.url)).json()["status"],
        "ok"
    );
    let parties = get(&agent, &format!("{}/v1/parties", s.url)).json();
    assert!(parties["parties"].as_array().unwrap().len() > 5);
    let proof = get(
        &agent,
        &format!("{}/v1/proofs/consistency?from=3&to=10", s.url),
    )
    .json();
    assert_eq!(proof["second"], 10);
    let bad = get(&agent, &format!("{}/v1/proofs/inclusion?seq=x", s.url));
    assert_eq!(bad.status, 400);
    let report = get(
        &agent,
        &format!("{}/v1/lots/FX-ORE-0001/report?format=csv", s.url),
    );
    assert_eq!(report.status, 200);
    assert_eq!(report.header("custody-verdict"), "pass");
    let policy = "extends = \"default\"\n";
    let verified = answer(
        agent
            .post(&format!("{}/v1/lots/FX-ORE-0001/verify", s.url))
            .header("Content-Type", "application/toml")
            .send(policy.as_bytes())
            .unwrap(),
    );
    assert_eq!(
        verified.status,
        200,
        "{}",
        String::from_utf8_lossy(&verified.body)
    );
    assert_eq!(verified.json()["verdict"], "pass");
    assert!(!s.log().is_empty());
    assert!(s.stop().success());
}

fn tls_serves_https_with_the_given_certificate() {
    let f = Fixture::new();
    let (cert, key) = (f.path("cert.pem"), f.path("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
        ])
        .args([
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            // A server certificate, not a CA: rustls refuses a CA as the end entity.
            "-addext",
            "basicConstraints=critical,CA:FALSE",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let s = f.serve(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    assert!(s.url.starts_with("https://127.0.0.1:"), "{}", s.url);
    let script = r#"
import json, ssl, sys, urllib.request
ctx = ssl.create_default_context(cafile=sys.argv[2])
with urllib.request.urlopen(sys.argv[1] + "/healthz", context=ctx) as r:
    print(json.load(r)["status"])
with urllib.request.urlopen(sys.argv[1] + "/checkpoint", context=ctx) as r:
    print(r.read().decode().split("\n")[0])
"#;
    let out = Command::new("python3")
        .args(["-c", script, &s.url])
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("ok\n{ORIGIN}\n")
    );
    // The CLI's client trusts the server's certificate given with --ca, and no other.
    let trusted = custody_tests::custody()
        .args(["--server", &s.url, "--ca"])
        .arg(&cert)
        .arg("checkpoint")
        .assert()
        .success();
    assert!(
        custody_tests::stdout(&trusted).starts_with(ORIGIN),
        "{}",
        custody_tests::stdout(&trusted)
    );
    let untrusted = custody_tests::custody()
        .args(["--server", &s.url, "checkpoint"])
        .assert()
        .failure();
    let said = custody_tests::stderr(&untrusted);
    assert!(
        said.contains("certificate") || said.contains("UnknownIssuer"),
        "{said}"
    );
    // Plain HTTP to the TLS port gets no answer.
    let plain = s.url.replacen("https://", "http://", 1);
    assert!(agent().get(&format!("{plain}/healthz")).call().is_err());
    assert!(s.stop().success());
}

fn main() -> std::process::ExitCode {
    let mut suite = Suite::default();
    suite.test(
        "submit_gets_201_with_receipts_proved_against_a_signed_checkpoint",
        &[],
        submit_gets_201_with_receipts_proved_against_a_signed_checkpoint,
    );
    suite.test(
        "a_retry_gets_409_with_the_same_receipt",
        &[],
        a_retry_gets_409_with_the_same_receipt,
    );
    suite.test(
        "a_refusal_gets_422_with_the_findings_custody_append_prints",
        &[],
        a_refusal_gets_422_with_the_findings_custody_append_prints,
    );
    suite.test(
        "malformed_bodies_get_400_naming_the_field",
        &[],
        malformed_bodies_get_400_naming_the_field,
    );
    suite.test(
        "a_body_over_the_limit_gets_413",
        &[],
        a_body_over_the_limit_gets_413,
    );
    suite.test(
        "a_slow_request_gets_408_and_never_holds_the_server",
        &[],
        a_slow_request_gets_408_and_never_holds_the_server,
    );
    suite.test(
        "overload_gets_503_with_retry_after",
        &[],
        overload_gets_503_with_retry_after,
    );
    suite.test(
        "rate_limits_per_signer_and_per_address_get_429_with_retry_after",
        &[],
        rate_limits_per_signer_and_per_address_get_429_with_retry_after,
    );
    suite.test(
        "sixty_four_concurrent_clients_every_acknowledged_statement_once_and_verify_passes",
        &[],
        sixty_four_concurrent_clients_every_acknowledged_statement_once_and_verify_passes,
    );
    suite.test(
        "kill_9_under_load_then_restart_keeps_every_acknowledged_statement",
        &[],
        kill_9_under_load_then_restart_keeps_every_acknowledged_statement,
    );
    suite.test(
        "tiles_read_by_an_independent_python_reader_reproduce_the_checkpoint_root",
        &[Need::Program("python3", "apt-get install python3")],
        tiles_read_by_an_independent_python_reader_reproduce_the_checkpoint_root,
    );
    suite.test(
        "export_tiles_writes_the_served_tree_which_the_independent_reader_reads_back",
        &[Need::Program("python3", "apt-get install python3")],
        export_tiles_writes_the_served_tree_which_the_independent_reader_reads_back,
    );
    suite.test(
        "a_client_that_sends_half_a_header_is_disconnected",
        &[],
        a_client_that_sends_half_a_header_is_disconnected,
    );
    suite.test(
        "the_openapi_document_describes_every_route_and_validates",
        &[
            Need::Program("python3", "apt-get install python3"),
            Need::Python(
                "openapi_spec_validator",
                "python3 -m pip install -r .ci/requirements.txt",
            ),
        ],
        the_openapi_document_describes_every_route_and_validates,
    );
    suite.test(
        "submit_and_read_commands_run_against_the_server",
        &[],
        submit_and_read_commands_run_against_the_server,
    );
    suite.test(
        "sign_with_server_fills_the_links_as_sign_with_the_ledger_and_submit_accepts_it",
        &[],
        sign_with_server_fills_the_links_as_sign_with_the_ledger_and_submit_accepts_it,
    );
    suite.test(
        "openapi_healthz_and_json_reads_are_served",
        &[],
        openapi_healthz_and_json_reads_are_served,
    );
    suite.test(
        "tls_serves_https_with_the_given_certificate",
        &[
            Need::Program("openssl", "apt-get install openssl"),
            Need::Program("python3", "apt-get install python3"),
        ],
        tls_serves_https_with_the_given_certificate,
    );
    suite.run()
}
