//! The `custody` binary end to end on a PostgreSQL ledger (`--ledger postgres://...`): the
//! same commands as on sled, in a database of a throwaway cluster the harness starts
//! (`ledger_store_postgres::cluster`). Without PostgreSQL's binaries the tests show as
//! ignored with the reason; under `CI=true` they fail.

use std::io::{BufRead, BufReader};
use std::process::{ExitCode, Stdio};

use custody_tests::pg::Test;
use custody_tests::stdout;
use ledger_store::Store;
use ledger_store_postgres::PgStore;
use ledger_store_postgres::cluster::Cluster;
use libtest_mimic::Arguments;
use serde_json::Value;
use tempfile::TempDir;

/// A scratch directory for keys and inputs, and a ledger in a new database.
struct Scratch {
    dir: TempDir,
    url: String,
}

impl Scratch {
    fn new(cluster: &Cluster) -> Scratch {
        Scratch {
            dir: tempfile::tempdir().unwrap(),
            url: cluster.database().unwrap(),
        }
    }

    /// `custody --ledger <database URL> ARGS`, run in the scratch directory.
    fn custody(&self, args: &[&str]) -> assert_cmd::assert::Assert {
        custody_tests::custody()
            .current_dir(self.dir.path())
            .env_remove("CUSTODY_LEDGER")
            .args(["--ledger", &self.url])
            .args(args)
            .assert()
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.dir.path().join(name), text).unwrap();
    }

    /// Signs `events` with `key` and appends them; returns the receipts.
    fn sign_and_append(&self, key: &str, name: &str, events: &str) -> Value {
        self.write(&format!("{name}.json"), events);
        let signed = format!("{name}.signed");
        self.custody(&[
            "sign",
            "--key",
            key,
            &format!("{name}.json"),
            "--out",
            &signed,
        ])
        .success();
        let out = stdout(&self.custody(&["append", &signed, "--json"]).success());
        serde_json::from_str(out.lines().last().unwrap()).unwrap()
    }

    /// A ledger with an operator, a miner enrolled, and one extract.
    fn small_ledger(&self) {
        self.custody(&["keygen", "--out", "miner.pem"]).success();
        self.custody(&[
            "init",
            "--origin",
            "test.custody.example/log",
            "--operator-key",
            "operator.pem",
        ])
        .success();
        self.custody(&[
            "enroll",
            "--party",
            "kivu",
            "--name",
            "Kivu Mining",
            "--country",
            "CD",
            "--role",
            "miner",
            "--key",
            "miner.pem.pub",
            "--operator-key",
            "operator.pem",
        ])
        .success();
        self.sign_and_append(
            "miner.pem",
            "extract",
            r#"{"kind": "extract", "actor": "kivu", "time": "2026-03-02T08:15:00Z",
                "site": {"id": "KV-PIT-2", "country": "CD", "lat": -10.71, "lon": 25.47, "method": "industrial"},
                "outputs": [{"lot": "KV-ORE-0001", "material": "cobalt-ore", "quantity": 50000, "unit": "kg", "content": {"Co": 0.031}}]}"#,
        );
    }
}

fn init_enroll_sign_append_and_verify_run_on_a_postgres_ledger(cluster: &Cluster) {
    let s = Scratch::new(cluster);
    s.small_ledger();
    let verdict = stdout(&s.custody(&["verify"]).success());
    assert!(verdict.contains("3 entries"), "{verdict}");
    s.custody(&["verify", "--lot", "KV-ORE-0001", "--json"])
        .success();
    s.custody(&["trace", "KV-ORE-0001", "--json"]).success();
    // What the binary wrote is in the database, as the store reads it.
    let store = PgStore::open(&s.url).unwrap();
    assert_eq!(store.head().unwrap().size, 3);
    assert_eq!(store.origin().unwrap(), "test.custody.example/log");
    // A second init on the same database is refused, naming it.
    let refused = s
        .custody(&[
            "init",
            "--origin",
            "again",
            "--operator-key",
            "operator.pem",
        ])
        .failure();
    assert!(
        custody_tests::stderr(&refused).contains("already holds a ledger"),
        "{}",
        custody_tests::stderr(&refused)
    );
}

fn fail_a_database_without_a_ledger_is_named(cluster: &Cluster) {
    let s = Scratch::new(cluster);
    let failed = s.custody(&["verify"]).failure();
    let text = custody_tests::stderr(&failed);
    assert!(
        text.contains("there is no ledger in the database"),
        "{text}"
    );
}

/// A running `custody serve --store URL`, killed on drop.
struct Server {
    child: std::process::Child,
    url: String,
    /// The server's standard error, shown when the test fails.
    log: std::path::PathBuf,
}

impl Server {
    fn start(s: &Scratch) -> Server {
        let (stderr, log) = tempfile::Builder::new()
            .prefix("server-")
            .suffix(".log")
            .tempfile_in(s.dir.path())
            .unwrap()
            .keep()
            .unwrap();
        let mut child = std::process::Command::new(custody_tests::custody_bin())
            .current_dir(s.dir.path())
            .env_remove("CUSTODY_LEDGER")
            .args(["--ledger", "unused-dir", "serve", "--store", &s.url])
            .args(["--listen", "127.0.0.1:0", "--operator-key", "operator.pem"])
            .args(["--group-ms", "5"])
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let url = lines
            .map_while(Result::ok)
            .find_map(|line| line.strip_prefix("listening on ").map(str::to_owned));
        let Some(url) = url else {
            let _ = child.kill();
            panic!("the server did not say where it listens");
        };
        Server { child, url, log }
    }

    /// `custody --server URL ARGS` in the scratch directory, keeping the checkpoints it
    /// sees (`submit`) in the scratch directory's `state` (not the user's).
    fn custody(&self, s: &Scratch, state: &str, args: &[&str]) -> assert_cmd::assert::Assert {
        custody_tests::custody()
            .current_dir(s.dir.path())
            .env("XDG_STATE_HOME", s.dir.path().join(state))
            .args(["--server", &self.url])
            .args(args)
            .assert()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            eprintln!("the server at {} logged:\n{log}", self.url);
        }
    }
}

/// Signs an extract of lot `lot` by kivu into `NAME.signed`; returns that file's name.
fn sign_extract(s: &Scratch, lot: &str) -> String {
    let name = format!("extract-{lot}");
    s.write(
        &format!("{name}.json"),
        &format!(
            r#"{{"kind": "extract", "actor": "kivu", "time": "2026-03-03T08:15:00Z",
                "site": {{"id": "KV-PIT-2", "country": "CD", "lat": -10.71, "lon": 25.47, "method": "industrial"}},
                "outputs": [{{"lot": "{lot}", "material": "cobalt-ore", "quantity": 100, "unit": "kg", "content": {{"Co": 0.031}}}}]}}"#
        ),
    );
    let signed = format!("{name}.signed");
    s.custody(&[
        "sign",
        "--key",
        "miner.pem",
        &format!("{name}.json"),
        "--out",
        &signed,
    ])
    .success();
    signed
}

fn serve_serves_a_postgres_store(cluster: &Cluster) {
    // `custody serve --store URL`: the server reads and appends through PostgreSQL.
    let s = Scratch::new(cluster);
    s.small_ledger();
    let server = Server::start(&s);
    let verified = server
        .custody(&s, "state", &["verify", "--lot", "KV-ORE-0001"])
        .success();
    assert!(!stdout(&verified).is_empty());
    let signed = sign_extract(&s, "KV-ORE-0002");
    server
        .custody(
            &s,
            "state",
            &["submit", "--vkey", "operator.pem.vkey", &signed],
        )
        .success();
    drop(server);
    assert_eq!(PgStore::open(&s.url).unwrap().head().unwrap().size, 4);
    assert!(
        !s.dir.path().join("unused-dir").exists(),
        "serve made a directory"
    );
}

fn two_servers_on_one_database_append_at_once_without_duplicate_gap_or_fork(cluster: &Cluster) {
    // Two `custody serve` processes on one database, submitted to at once: every statement
    // is appended once, the log has no gap, and it verifies as one chain.
    const PER_SERVER: usize = 6;
    let s = Scratch::new(cluster);
    s.small_ledger();
    let signed: Vec<Vec<String>> = (0..2)
        .map(|server| {
            (0..PER_SERVER)
                .map(|i| sign_extract(&s, &format!("LOT-{server}-{i}")))
                .collect()
        })
        .collect();
    let servers = [Server::start(&s), Server::start(&s)];
    std::thread::scope(|scope| {
        for (server, files) in servers.iter().zip(&signed) {
            for file in files {
                let s = &s;
                scope.spawn(move || {
                    server
                        .custody(
                            s,
                            &format!("state-{file}"),
                            &["submit", "--vkey", "operator.pem.vkey", file],
                        )
                        .success();
                });
            }
        }
    });
    drop(servers);
    let store = PgStore::open(&s.url).unwrap();
    let total = 3 + 2 * PER_SERVER as u64;
    assert_eq!(store.head().unwrap().size, total);
    let positions: Vec<u64> = store.entries(0).map(|e| e.unwrap().0).collect();
    assert_eq!(positions, (0..total).collect::<Vec<_>>());
    let verdict = stdout(&s.custody(&["verify"]).success());
    assert!(verdict.contains(&format!("{total} entries")), "{verdict}");
}

fn a_statement_another_server_appended_is_answered_as_a_duplicate(cluster: &Cluster) {
    // Server B's tree ends before a statement server A appended (as after a failover whose
    // acknowledgement was lost): B answers that statement as already in the log, with a
    // receipt against a checkpoint that covers it, instead of holding the request.
    let s = Scratch::new(cluster);
    s.small_ledger();
    let signed = sign_extracts(&s, "DUP", 1);
    let (a, b) = (Server::start(&s), Server::start(&s));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(20)))
        .build()
        .into();
    let submit = |server: &Server| {
        let mut answer = agent
            .post(&format!("{}/v1/statements", server.url))
            .header("Content-Type", "application/json")
            .send(signed[0].as_bytes())
            .unwrap_or_else(|e| panic!("{} gave no answer: {e}", server.url));
        let status = answer.status().as_u16();
        let body: Value =
            serde_json::from_str(&answer.body_mut().read_to_string().unwrap()).unwrap();
        (status, body)
    };
    let (status, first) = submit(&a);
    assert_eq!(status, 201, "{first}");
    let (status, again) = submit(&b);
    assert_eq!(status, 409, "{again}");
    let seq = &first["receipts"][0]["seq"];
    assert_eq!(&again["receipts"][0]["seq"], seq, "{again}");
    let tree_size = again["receipts"][0]["tree_size"].as_u64().unwrap();
    assert!(tree_size > seq.as_u64().unwrap(), "{again}");
}

/// Signs `n` extracts of lots `PREFIX-0` … by kivu in one `custody sign` run; the signed
/// statements, one JSON line each.
fn sign_extracts(s: &Scratch, prefix: &str, n: usize) -> Vec<String> {
    let events: String = (0..n)
        .map(|i| {
            format!(
                r#"{{"kind": "extract", "actor": "kivu", "time": "2026-03-03T08:15:00Z", "site": {{"id": "KV-PIT-2", "country": "CD", "lat": -10.71, "lon": 25.47, "method": "industrial"}}, "outputs": [{{"lot": "{prefix}-{i}", "material": "cobalt-ore", "quantity": 100, "unit": "kg", "content": {{"Co": 0.031}}}}]}}"#
            ) + "\n"
        })
        .collect();
    s.write(&format!("{prefix}.jsonl"), &events);
    let signed = format!("{prefix}.signed");
    s.custody(&[
        "sign",
        "--key",
        "miner.pem",
        &format!("{prefix}.jsonl"),
        "--out",
        &signed,
    ])
    .success();
    let text = std::fs::read_to_string(s.dir.path().join(&signed)).unwrap();
    text.lines().map(str::to_owned).collect()
}

/// What concurrent submitters saw: the ids that got a `201`, and the checkpoints the server
/// published before the primary was lost.
#[derive(Default)]
struct Observed {
    acknowledged: Vec<String>,
    checkpoints: Vec<String>,
}

/// Reads a hot standby serves while its primary writes: its latest checkpoint's root is its
/// tree at that size, inclusion proofs from it verify against that root, and lots trace.
fn reads_from_the_replica_hold_against_its_checkpoint(replica: &str) {
    let ledger = ledger::Ledger::open(PgStore::open(replica).unwrap()).unwrap();
    let (size, note) = ledger
        .latest_checkpoint()
        .unwrap()
        .expect("a replicated checkpoint");
    let body = note.split("\n\n").next().unwrap();
    let checkpoint = ledger_core::note::Checkpoint::parse(&format!("{body}\n"), None).unwrap();
    assert_eq!(checkpoint.size(), size);
    assert_eq!(&ledger.root(size).unwrap(), checkpoint.root());
    for seq in [0, size / 2, size - 1] {
        let proof = ledger.inclusion_proof(seq, Some(size)).unwrap();
        ledger_core::merkle::verify_inclusion(
            seq,
            size,
            &proof.leaf_hash,
            &proof.path,
            checkpoint.root(),
        )
        .unwrap();
    }
    let lot = ledger_core::id::LotId::new("KV-ORE-0001").unwrap();
    assert!(ledger.trace(&lot).unwrap().findings.is_empty());
}

fn failover_keeps_every_acknowledged_statement(_shared: &Cluster) {
    // A primary whose commits wait for a synchronous standby; the server is given both,
    // and connects to whichever accepts writes (`target_session_attrs=read-write`).
    const SUBMITTERS: usize = 8;
    const PER_SUBMITTER: usize = 40;
    let primary = Cluster::start_primary().unwrap();
    let standby = primary.start_standby().unwrap();
    let first = primary.database().unwrap();
    let name = first.rsplit('/').next().unwrap().to_owned();
    let both = format!(
        "postgresql://custody@{}:{},{}:{}/{name}?target_session_attrs=read-write",
        primary.host(),
        primary.port(),
        standby.host(),
        standby.port()
    );
    let s = Scratch {
        dir: tempfile::tempdir().unwrap(),
        url: both,
    };
    s.small_ledger();
    let batches: Vec<Vec<String>> = (0..SUBMITTERS)
        .map(|i| sign_extracts(&s, &format!("FO-{i}"), PER_SUBMITTER))
        .collect();
    let server = Server::start(&s);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(10)))
        .build()
        .into();
    let observed = std::sync::Mutex::new(Observed::default());
    let acked = std::sync::atomic::AtomicUsize::new(0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let statements_url = format!("{}/v1/statements", server.url);
    let failures = std::sync::Mutex::new(Vec::<String>::new());
    let retries = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for batch in &batches {
            let (agent, observed, acked, failures) = (&agent, &observed, &acked, &failures);
            let retries = &retries;
            let statements_url = &statements_url;
            scope.spawn(move || {
                for line in batch {
                    let id = serde_json::from_str::<Value>(line).unwrap()["id"]
                        .as_str()
                        .unwrap()
                        .to_owned();
                    // Retried until the server answers 201 (appended now) or 409 (appended
                    // by an earlier try whose answer was lost in the failover).
                    loop {
                        let status = agent
                            .post(statements_url)
                            .header("Content-Type", "application/json")
                            .send(line.as_bytes())
                            .map(|r| r.status().as_u16());
                        match status {
                            Ok(201) => {
                                observed.lock().unwrap().acknowledged.push(id);
                                acked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                                break;
                            }
                            Ok(409) => break,
                            _ if std::time::Instant::now() > deadline => {
                                failures.lock().unwrap().push(format!(
                                    "{id}: never acknowledged (last answer {status:?})"
                                ));
                                break;
                            }
                            _ => {
                                retries.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                                std::thread::sleep(std::time::Duration::from_millis(50));
                            }
                        }
                    }
                }
            });
        }
        // Under load: keep the checkpoints the server publishes, then lose the primary.
        while acked.load(std::sync::atomic::Ordering::SeqCst) < SUBMITTERS * PER_SUBMITTER / 3 {
            assert!(
                std::time::Instant::now() < deadline,
                "the submitters made no progress"
            );
            if let Ok(mut r) = agent.get(&format!("{}/checkpoint", server.url)).call()
                && r.status() == 200
                && let Ok(note) = r.body_mut().read_to_string()
            {
                observed.lock().unwrap().checkpoints.push(note);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        // A read replica, while the primary writes: its answers hold against its checkpoint.
        reads_from_the_replica_hold_against_its_checkpoint(&standby.url(&name));
        primary.kill().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300));
        standby.promote().unwrap();
    });
    assert!(
        retries.load(std::sync::atomic::Ordering::SeqCst) > 0,
        "no request failed: the primary was not lost under load"
    );
    let failures = failures.into_inner().unwrap();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    drop(server);
    let observed = observed.into_inner().unwrap();
    assert!(
        !observed.checkpoints.is_empty(),
        "no checkpoint was seen before the failover"
    );
    // On the promoted standby: every acknowledged statement, each once, in one chain.
    let promoted = standby.url(&name);
    let store = PgStore::open(&promoted).unwrap();
    let mut ids = std::collections::HashMap::new();
    for entry in store.entries(0) {
        let (seq, bytes) = entry.unwrap();
        let entry = ledger_core::statement::Entry::decode(&bytes).unwrap();
        let id = entry.statement.id().unwrap().to_hex();
        assert!(
            ids.insert(id.clone(), seq).is_none(),
            "{id} is in the log twice"
        );
    }
    let expected = 3 + SUBMITTERS * PER_SUBMITTER;
    assert_eq!(ids.len(), expected, "every statement is in the log once");
    for id in &observed.acknowledged {
        assert!(
            ids.contains_key(id),
            "acknowledged {id} is missing after the failover"
        );
    }
    let on_promoted = Scratch {
        dir: tempfile::tempdir().unwrap(),
        url: promoted,
    };
    let mut verify = vec!["verify".to_owned()];
    for (i, note) in observed.checkpoints.iter().enumerate() {
        let file = format!("before-{i}.checkpoint");
        on_promoted.write(&file, note);
        verify.extend(["--checkpoint".to_owned(), file]);
    }
    let args: Vec<&str> = verify.iter().map(String::as_str).collect();
    let verdict = stdout(&on_promoted.custody(&args).success());
    assert!(
        verdict.contains(&format!("{expected} entries")),
        "{verdict}"
    );
}

fn the_readme_tour_runs_on_a_postgres_ledger(cluster: &Cluster) {
    // The README's tour, every command and output, with `CUSTODY_LEDGER` naming a
    // database instead of the default directory: the same output as on sled.
    let url = cluster.database().unwrap();
    let dir = tempfile::tempdir().unwrap();
    custody_tests::readme::run_tour(dir.path(), &[("CUSTODY_LEDGER", &url)], Some(&url));
    assert!(
        !dir.path().join("custody-ledger").exists(),
        "the tour made a ledger directory"
    );
}

/// An extract of a new lot `lot` by kivu-mining, as supplier JSON.
fn demo_extract(lot: &str) -> String {
    format!(
        r#"{{"kind":"extract","actor":"kivu-mining","time":"2026-03-02T08:15:00Z",
            "site":{{"id":"KV-PIT-2","country":"CD","lat":-10.71,"lon":25.47,"method":"industrial"}},
            "outputs":[{{"lot":"{lot}","material":"cobalt-ore","quantity":1000,"unit":"kg","content":{{"Co":0.031}}}}]}}"#
    )
}

fn engine_appends_verifies_and_exports_through_the_library_on_a_postgres_ledger(cluster: &Cluster) {
    // The engine's library API on PostgreSQL, no binary: the whole demo scenario, receipts
    // proved against the new root, a refused batch that writes nothing, four threads
    // appending through one ledger, lot verification and an offline bundle.
    use ledger::{Error, Ledger, Silent};
    use ledger_scenario::demo;
    let store = PgStore::create(&cluster.database().unwrap(), demo::ORIGIN).unwrap();
    let (ledger, keys) = demo::enroll_parties(store).unwrap();
    let mut ctx = ledger.signing_context();
    demo::append_events(&ledger, &keys, &mut ctx, demo::SCENARIO).unwrap();
    drop(ctx);
    let key = demo::test_key("kivu-mining");
    let sign = |ledger: &Ledger<PgStore>, json: &str, nonce: u64| {
        let mut n = nonce;
        ledger
            .signing_context()
            .sign_text(json, "test", &|_| Ok(&key), &mut || {
                n += 1;
                n
            })
            .unwrap()
    };
    // Receipts prove each statement against the root of the new tree.
    let before = ledger.store().head().unwrap();
    let text = format!("{}\n{}", demo_extract("PG-E-1"), demo_extract("PG-E-2"));
    let receipts = ledger
        .append(sign(&ledger, &text, 1), ledger::now().unwrap(), &Silent)
        .unwrap();
    let root = ledger.root(before.size + 2).unwrap();
    for r in &receipts {
        assert_eq!((r.tree_size, r.root), (before.size + 2, root));
        ledger_core::merkle::verify_inclusion(
            r.seq,
            r.tree_size,
            &r.leaf_hash,
            &r.inclusion_path,
            &r.root,
        )
        .unwrap();
    }
    // A batch with one bad statement is refused whole and writes nothing.
    let head = ledger.store().head().unwrap();
    let text = format!("{}\n{}", demo_extract("PG-E-3"), demo_extract("PG-E-3"));
    let refused = ledger.append(sign(&ledger, &text, 10), ledger::now().unwrap(), &Silent);
    assert!(matches!(refused, Err(Error::Refused(_))), "{refused:?}");
    assert_eq!(ledger.store().head().unwrap(), head);
    // Four threads take turns through one ledger; every statement lands once.
    let ledger = std::sync::Arc::new(ledger);
    std::thread::scope(|scope| {
        for t in 0..4u64 {
            let (ledger, sign) = (&ledger, &sign);
            scope.spawn(move || {
                for i in 0..5u64 {
                    let json = demo_extract(&format!("PG-T{t}-{i}"));
                    ledger
                        .append(
                            sign(ledger, &json, 100 * t + i),
                            ledger::now().unwrap(),
                            &Silent,
                        )
                        .unwrap();
                }
            });
        }
    });
    assert_eq!(ledger.store().head().unwrap().size, head.size + 20);
    let report = ledger.verify(&Silent).unwrap();
    assert_eq!(report.counts.errors, 0, "{:?}", report.findings);
    // The module verifies, and its bundle verifies offline with the operator's key.
    let module = ledger_core::id::LotId::new(demo::MODULE).unwrap();
    let policy = ledger_core::policy::Policy::default();
    let now = ledger::now().unwrap();
    let lot = ledger.verify_lot(&module, &policy, now).unwrap();
    assert_eq!(lot.report.counts.errors, 0, "{:?}", lot.report.findings);
    let exported = ledger
        .export_bundle(&module, Some(&keys[demo::OPERATOR]), now)
        .unwrap();
    let offline =
        ledger_core::bundle::verify_bytes(&exported.bytes, Some(&exported.verifier), &policy, now)
            .unwrap();
    assert_eq!(
        ledger_core::finding::verdict(&offline.findings),
        ledger_core::finding::Verdict::Pass,
        "{:?}",
        offline.findings
    );
}

fn a_ledger_opens_beside_a_writer_that_appends(cluster: &Cluster) {
    // Opening checks that the entries end at the head. Read in two snapshots, a commit
    // landing between them made a healthy ledger look damaged ("the head says N entries
    // but entry N exists"): every open beside a writer must succeed.
    use ledger::{Ledger, Silent};
    use ledger_scenario::demo;
    const APPENDS: u64 = 150;
    let url = cluster.database().unwrap();
    let store = PgStore::create(&url, demo::ORIGIN).unwrap();
    let (ledger, _keys) = demo::enroll_parties(store).unwrap();
    let key = demo::test_key("kivu-mining");
    let done = std::sync::atomic::AtomicBool::new(false);
    let opens = std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            for i in 0..APPENDS {
                let statements = ledger
                    .signing_context()
                    .sign_text(
                        &demo_extract(&format!("PG-OPEN-{i}")),
                        "test",
                        &|_| Ok(&key),
                        &mut || i + 1,
                    )
                    .unwrap();
                ledger
                    .append(statements, ledger::now().unwrap(), &Silent)
                    .unwrap();
            }
            done.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        let mut opens = 0u64;
        while !done.load(std::sync::atomic::Ordering::SeqCst) {
            if let Err(e) = PgStore::open(&url) {
                done.store(true, std::sync::atomic::Ordering::SeqCst);
                panic!("open #{opens} beside the writer failed: {e}");
            }
            opens += 1;
        }
        writer.join().unwrap();
        opens
    });
    assert!(
        opens > APPENDS / 2,
        "only {opens} opens ran beside the writer"
    );
    let head = Ledger::open(PgStore::open(&url).unwrap())
        .unwrap()
        .store()
        .head()
        .unwrap();
    assert_eq!(head, ledger.store().head().unwrap());
}

fn main() -> ExitCode {
    let args = Arguments::from_args();
    let tests: [(&str, Test); 9] = [
        (
            "init_enroll_sign_append_and_verify_run_on_a_postgres_ledger",
            init_enroll_sign_append_and_verify_run_on_a_postgres_ledger,
        ),
        (
            "fail_a_database_without_a_ledger_is_named",
            fail_a_database_without_a_ledger_is_named,
        ),
        (
            "serve_serves_a_postgres_store",
            serve_serves_a_postgres_store,
        ),
        (
            "two_servers_on_one_database_append_at_once_without_duplicate_gap_or_fork",
            two_servers_on_one_database_append_at_once_without_duplicate_gap_or_fork,
        ),
        (
            "engine_appends_verifies_and_exports_through_the_library_on_a_postgres_ledger",
            engine_appends_verifies_and_exports_through_the_library_on_a_postgres_ledger,
        ),
        (
            "the_readme_tour_runs_on_a_postgres_ledger",
            the_readme_tour_runs_on_a_postgres_ledger,
        ),
        (
            "failover_keeps_every_acknowledged_statement",
            failover_keeps_every_acknowledged_statement,
        ),
        (
            "a_ledger_opens_beside_a_writer_that_appends",
            a_ledger_opens_beside_a_writer_that_appends,
        ),
        (
            "a_statement_another_server_appended_is_answered_as_a_duplicate",
            a_statement_another_server_appended_is_answered_as_a_duplicate,
        ),
    ];
    let (trials, cluster) = custody_tests::pg::trials(&tests, args.list);
    let conclusion = libtest_mimic::run(&args, trials);
    drop(cluster);
    conclusion.exit_code()
}
