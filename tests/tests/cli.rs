//! The `custody` binary end to end, on real sled ledgers in temporary directories: the
//! paths a supplier, an operator and an auditor walk, and the guarantees they rely on.

use std::path::{Path, PathBuf};

use custody_tests::{retry, stderr, stdout};
use ledger_core::hash::Digest;
use ledger_core::statement::{Entry, Origin, entry_hash};
use ledger_core::verify::Replay;
use ledger_store::{SledStore, Store};
use serde_json::Value;
use tempfile::TempDir;

/// A scratch directory with a ledger path inside it.
struct Scratch {
    dir: TempDir,
}

impl Scratch {
    fn new() -> Scratch {
        Scratch {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn ledger(&self) -> PathBuf {
        self.path("ledger")
    }

    /// `custody --ledger <scratch>/ledger ARGS`, run in the scratch directory, once this
    /// process's own sled handles have let go of the ledger's file lock (sled releases it a
    /// moment after a handle is dropped). A ledger held throughout still reports the lock.
    fn custody(&self, args: &[&str]) -> assert_cmd::assert::Assert {
        for _ in 0..100 {
            let assert = self.custody_once(args);
            if !stderr(&assert).contains("in use by another process") {
                return assert;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        self.custody_once(args)
    }

    fn custody_once(&self, args: &[&str]) -> assert_cmd::assert::Assert {
        custody_tests::custody()
            .current_dir(self.dir.path())
            .env_remove("CUSTODY_LEDGER")
            .arg("--ledger")
            .arg(self.ledger())
            .args(args)
            .assert()
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap()
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Writes `events` to `NAME.json` and signs them with `key` into `NAME.signed`.
    fn sign(&self, key: &str, name: &str, events: &str) {
        self.write(&format!("{name}.json"), events);
        self.custody(&[
            "sign",
            "--key",
            key,
            &format!("{name}.json"),
            "--out",
            &format!("{name}.signed"),
        ])
        .success();
    }

    /// Signs `events` with `key` and appends them; returns the append's JSON receipts.
    fn sign_and_append(&self, key: &str, name: &str, events: &str) -> Value {
        self.sign(key, name, events);
        let out = self
            .custody(&["append", &format!("{name}.signed"), "--json"])
            .success();
        serde_json::from_slice(&out.get_output().stdout).unwrap()
    }
}

/// Every entry's canonical bytes and the head, read through the store.
fn snapshot(ledger: &Path) -> (Vec<Vec<u8>>, u64) {
    let store = retry(|| SledStore::open(ledger));
    let entries = store.entries(0).map(|e| e.unwrap().1).collect();
    (entries, store.head().unwrap().size)
}

/// A small ledger: operator, a miner and a refiner, and one extract, ship and receive.
fn small_ledger() -> (Scratch, String) {
    let s = Scratch::new();
    for who in ["miner", "refiner"] {
        s.custody(&["keygen", "--out", &format!("{who}.pem")])
            .success();
    }
    // What `init` prints (the verifier key to publish) is snapshot `init` in snapshots.rs.
    s.custody(&[
        "init",
        "--origin",
        "test.custody.example/log",
        "--operator-key",
        "operator.pem",
    ])
    .success();
    s.custody(&[
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
    s.custody(&[
        "enroll",
        "--party",
        "lualaba",
        "--name",
        "Lualaba Refining",
        "--country",
        "CD",
        "--role",
        "refiner",
        "--key",
        "refiner.pem.pub",
        "--operator-key",
        "operator.pem",
    ])
    .success();
    s.sign_and_append(
        "miner.pem",
        "extract",
        r#"{"kind": "extract", "actor": "kivu", "time": "2026-03-02T08:15:00Z",
            "site": {"id": "KV-PIT-2", "country": "CD", "lat": -10.71, "lon": 25.47, "method": "industrial"},
            "outputs": [{"lot": "KV-ORE-0001", "material": "cobalt-ore", "quantity": 50000, "unit": "kg", "content": {"Co": 0.031}}]}
           {"kind": "ship", "actor": "kivu", "time": "2026-03-05T10:00:00Z", "to": "lualaba",
            "lots": [{"lot": "KV-ORE-0001", "quantity": 20000}]}"#,
    );
    let ship = stdout(&s.custody(&["show", "--seq", "4", "--json"]));
    let ship: Value = serde_json::from_str(&ship).unwrap();
    let ship_id = ship["statement"]["id"].as_str().unwrap().to_owned();
    s.sign_and_append(
        "refiner.pem",
        "receive",
        &format!(r#"{{"kind": "receive", "actor": "lualaba", "time": "2026-03-07T16:00:00Z", "shipment": "{ship_id}", "lots": [{{"lot": "KV-ORE-0001", "quantity": 19950}}]}}"#),
    );
    (s, ship_id)
}

/// The walk on freshly generated keys. What each step prints is a contract, checked on the
/// same six-entry ledger built from test keys in snapshots.rs: the verdict line (`verify`),
/// the lot's findings without a policy (`verify_lot_json`: CUS-ORI-002 and CUS-DD-001 are
/// warnings) and its origins (`trace_json`). Here: every step passes, and the entry hash
/// `show` prints (redacted in the snapshots) is the hash of the entry bytes it prints.
#[test]
fn supplier_operator_and_auditor_walk_the_whole_path() {
    let (s, _) = small_ledger();
    s.custody(&["verify"]).success();
    s.custody(&["verify", "--lot", "KV-ORE-0001", "--json"])
        .success();
    s.custody(&["trace", "KV-ORE-0001", "--json"]).success();

    let show = s.custody(&["show", "--seq", "3", "--json"]).success();
    let show: Value = serde_json::from_slice(&show.get_output().stdout).unwrap();
    let bytes = hex::decode(show["entry_hex"].as_str().unwrap()).unwrap();
    assert_eq!(
        show["entry_hash"].as_str().unwrap(),
        entry_hash(&bytes).to_hex()
    );
    assert_eq!(Entry::decode(&bytes).unwrap().seq, 3);
}

#[test]
fn init_refuses_an_existing_ledger_and_keygen_writes_private_keys_0600() {
    let (s, _) = small_ledger();
    // The messages are snapshots `init_refuses_an_existing_ledger` and
    // `sign_refuses_a_readable_private_key` in snapshots.rs.
    s.custody(&["init", "--origin", "x", "--operator-key", "operator.pem"])
        .code(2);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(s.path("miner.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::set_permissions(s.path("miner.pem"), std::fs::Permissions::from_mode(0o644))
            .unwrap();
        s.write("e.json", r#"{"kind":"extract","actor":"kivu","time":"2026-03-02T08:15:00Z","site":{"id":"S","country":"CD","lat":1,"lon":1,"method":"industrial"},"outputs":[{"lot":"X","material":"cobalt-ore","quantity":1,"unit":"kg"}]}"#);
        s.custody(&["sign", "--key", "miner.pem", "e.json"]).code(2);
    }
}

#[test]
fn append_batch_is_all_or_nothing_and_names_the_rule() {
    let (s, _) = small_ledger();
    let before = snapshot(&s.ledger());
    // Two good shipments and a third that ships more than kivu still holds (30 000 kg).
    let third = r#"{"kind": "ship", "actor": "kivu", "time": "2026-03-06T12:00:00Z", "to": "lualaba", "lots": [{"lot": "KV-ORE-0001", "quantity": 10001}]}"#;
    s.write(
        "batch.json",
        &format!(
            r#"[{{"kind": "ship", "actor": "kivu", "time": "2026-03-06T10:00:00Z", "to": "lualaba", "lots": [{{"lot": "KV-ORE-0001", "quantity": 10000}}]}},
            {{"kind": "ship", "actor": "kivu", "time": "2026-03-06T11:00:00Z", "to": "lualaba", "lots": [{{"lot": "KV-ORE-0001", "quantity": 10000}}]}},
            {third}]"#
        ),
    );
    // Signed together, the third cannot have its link filled: sign sees the first two draw
    // 20 000 kg of the 30 000 kg receipt, and names the quantity.
    let out = s
        .custody(&["sign", "--key", "miner.pem", "batch.json"])
        .code(2);
    assert!(
        stderr(&out).contains(
            "event 3: lots[0].quantity: kivu holds 10000 kg of lot KV-ORE-0001 in this ledger, less than the 10001 kg used"
        ),
        "{}",
        stderr(&out)
    );
    // Signed apart (as two suppliers' tools would), each looks fine on its own; the batch
    // of all three is then refused at append.
    s.write(
        "first-two.json",
        r#"{"kind": "ship", "actor": "kivu", "time": "2026-03-06T10:00:00Z", "to": "lualaba", "lots": [{"lot": "KV-ORE-0001", "quantity": 10000}]}
{"kind": "ship", "actor": "kivu", "time": "2026-03-06T11:00:00Z", "to": "lualaba", "lots": [{"lot": "KV-ORE-0001", "quantity": 10000}]}"#,
    );
    s.write("third.json", third);
    s.custody(&[
        "sign",
        "--key",
        "miner.pem",
        "first-two.json",
        "--out",
        "batch.signed",
    ])
    .success();
    s.custody(&[
        "sign",
        "--key",
        "miner.pem",
        "third.json",
        "--out",
        "third.signed",
    ])
    .success();
    let batch = s.read("batch.signed") + &s.read("third.signed");
    s.write("batch.signed", &batch);
    // The refusal names statement 3 and CUS-BAL-001: snapshot `append_refused_double_spending`.
    s.custody(&["append", "batch.signed"]).code(1);
    assert_eq!(
        snapshot(&s.ledger()),
        before,
        "a refused batch changed the ledger"
    );
    // The same statements without the third are accepted, and appending them again is a replay.
    let signed = std::fs::read_to_string(s.path("batch.signed")).unwrap();
    let two: String = signed.lines().take(2).map(|l| format!("{l}\n")).collect();
    s.write("two.signed", &two);
    s.custody(&["append", "two.signed"]).success();
    // Refused as CUS-INT-006 alone: snapshot `append_refused_replay`.
    s.custody(&["append", "two.signed"]).code(1);
}

#[test]
fn a_second_writer_waits_for_the_ledger_then_says_it_is_in_use_and_a_reader_does_not_wait() {
    let (s, _) = small_ledger();
    let held = retry(|| SledStore::open(s.ledger()));
    // A reader does not wait: it reads the ledger as of its last acknowledged append.
    let out = custody_tests::custody()
        .current_dir(s.dir.path())
        .env("CUSTODY_LOCK_WAIT", "20")
        .arg("--ledger")
        .arg(s.ledger())
        .arg("verify")
        .assert()
        .success();
    assert!(
        stderr(&out).contains("reading it as of its last acknowledged append"),
        "{}",
        stderr(&out)
    );
    // A writer waits, bounded (CUSTODY_LOCK_WAIT seconds), and says so once.
    let checkpoint = ["checkpoint", "--operator-key", "operator.pem"];
    let start = std::time::Instant::now();
    let out = custody_tests::custody()
        .current_dir(s.dir.path())
        .env("CUSTODY_LOCK_WAIT", "1")
        .arg("--ledger")
        .arg(s.ledger())
        .args(checkpoint)
        .assert()
        .code(2);
    assert!(start.elapsed() >= std::time::Duration::from_secs(1));
    let err = stderr(&out);
    assert!(err.contains("waiting for the ledger at"), "{err}");
    assert!(err.contains("in use by another process"), "{err}");
    // A writer that lets go while another command waits: the waiting one goes on.
    let release = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(500));
        drop(held);
    });
    let out = std::process::Command::new(custody_tests::custody_bin())
        .current_dir(s.dir.path())
        .env("CUSTODY_LOCK_WAIT", "20")
        .arg("--ledger")
        .arg(s.ledger())
        .args(checkpoint)
        .output()
        .unwrap();
    release.join().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_changed_byte_in_any_stored_entry_fails_verify() {
    let (s, _) = small_ledger();
    let (entries, _) = snapshot(&s.ledger());
    let log = s.ledger().join("entries.log");
    let original = std::fs::read(&log).unwrap();
    // Through the binary: flip one byte in the middle of each entry in `entries.log`, which
    // holds the only copy (the database holds where each is). First as damage, then as an
    // edit that also recomputes the frame's checksum, so the store reads the changed entry
    // back: the checksum only tells damage apart, the hash chain and the signatures decide.
    for (seq, entry) in entries.iter().enumerate() {
        let db = retry(|| sled::open(s.ledger()));
        let key = [b"e/".as_slice(), &(seq as u64).to_be_bytes()].concat();
        let at = db.get(&key).unwrap().unwrap().to_vec();
        drop(db);
        let offset = usize::try_from(u64::from_le_bytes(at[..8].try_into().unwrap())).unwrap();
        let len = u32::from_le_bytes(at[8..12].try_into().unwrap()) as usize;
        assert_eq!(original[offset..offset + len], entry[..], "entry {seq}");
        for fix_checksum in [false, true] {
            let mut changed = original.clone();
            changed[offset + len / 2] ^= 0x40;
            if fix_checksum {
                let sum = Digest::of(&[&changed[offset - 5..offset + len]]);
                changed[offset + len..offset + len + 32].copy_from_slice(&sum.0);
            }
            std::fs::write(&log, &changed).unwrap();
            let out = s.custody(&["verify"]).code(1);
            assert!(
                stdout(&out).contains("verdict: FAIL"),
                "entry {seq} (checksum fixed: {fix_checksum}): {}",
                stdout(&out)
            );
        }
        std::fs::write(&log, &original).unwrap();
    }
    s.custody(&["verify"]).success();
}

#[test]
fn a_changed_statement_byte_fails_even_when_the_chain_is_rebuilt() {
    let (s, _) = small_ledger();
    let (entries, _) = snapshot(&s.ledger());
    // An attacker with write access changes the extract (entry 3) and recomputes every later
    // prev-hash, so the chain is consistent again: signatures must still catch it.
    let target = 3;
    let statement_start = 8 + 32 + 8; // seq, prev, recorded_at
    for i in statement_start..entries[target].len() {
        let mut forged = entries.clone();
        forged[target][i] ^= 0x01;
        let mut replay = Replay::default();
        let origin = Origin::new("test.custody.example/log").unwrap();
        let mut prev = None;
        for (seq, bytes) in forged.iter_mut().enumerate() {
            if let (Some(p), Ok(mut entry)) = (prev, Entry::decode(bytes)) {
                entry.prev = p;
                *bytes = entry.encode().unwrap();
            }
            prev = Some(entry_hash(bytes));
            replay.push(&origin, seq as u64, bytes).unwrap();
        }
        assert!(
            replay
                .findings
                .iter()
                .any(|f| f.severity == ledger_core::finding::Severity::Error),
            "byte {i} of entry {target} changed without an error finding"
        );
    }
}

#[test]
fn fail_a_statement_signed_for_another_ledger_is_refused_and_offline_signing_names_its_origin() {
    let (s, _) = small_ledger();
    let extract = |lot: &str| {
        format!(
            r#"{{"kind": "extract", "actor": "kivu", "time": "2026-03-02T08:15:00Z",
                "site": {{"id": "KV-PIT-2", "country": "CD", "lat": -10.71, "lon": 25.47, "method": "industrial"}},
                "outputs": [{{"lot": "{lot}", "material": "cobalt-ore", "quantity": 100, "unit": "kg", "content": {{"Co": 0.031}}}}]}}"#
        )
    };
    // Signing with no ledger to take the origin from.
    let offline = |args: &[&str]| {
        custody_tests::custody()
            .current_dir(s.path(""))
            .env_remove("CUSTODY_LEDGER")
            .args(["--ledger", "no-ledger-here", "sign", "--key", "miner.pem"])
            .args(args)
            .assert()
    };
    s.write("a.json", &extract("OFF-0001"));
    let refused = offline(&["a.json"]).code(2);
    assert!(
        stderr(&refused).contains("--origin"),
        "{}",
        stderr(&refused)
    );
    // With this ledger's origin, an offline statement appends.
    offline(&[
        "--origin",
        "test.custody.example/log",
        "a.json",
        "--out",
        "a.signed",
    ])
    .success();
    s.custody(&["append", "a.signed"]).success();
    // Signed for another ledger where the same party has the same key: CUS-INT-004, named.
    s.write("b.json", &extract("OFF-0002"));
    offline(&[
        "--origin",
        "other.example/log",
        "b.json",
        "--out",
        "b.signed",
    ])
    .success();
    let out = s.custody(&["append", "b.signed"]).code(1);
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        said.contains("CUS-INT-004") && said.contains("signed for another ledger"),
        "{said}"
    );
    // With the ledger at hand, a --origin that is not its own is a usage error.
    let out = s
        .custody(&[
            "sign",
            "--origin",
            "other.example/log",
            "--key",
            "miner.pem",
            "b.json",
        ])
        .code(2);
    assert!(
        stderr(&out).contains("is not the origin of the ledger"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn schema_input_prints_the_published_schema_that_demo_events_validate_against() {
    let out = custody_tests::custody()
        .args(["schema", "input"])
        .assert()
        .success();
    let schema: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(schema, ledger_core::schema::input_schema());
    let validator = jsonschema::validator_for(&schema).unwrap();
    let scenario = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/demo/scenario.jsonl"),
    )
    .unwrap();
    for line in scenario.lines().filter(|l| !l.trim().is_empty()) {
        let event: Value = serde_json::from_str(line).unwrap();
        assert!(validator.is_valid(&event), "{line}");
    }
    let mut bad: Value = serde_json::from_str(scenario.lines().next().unwrap()).unwrap();
    bad["colour"] = Value::from("blue");
    assert!(!validator.is_valid(&bad));
}

/// The normal two-party flow, each party with its own key and its own `sign` run: the
/// miner's `ship` is signed and appended; later the refiner signs a `receive` without
/// `shipment`, and `sign` links it to that shipment from the ledger.
#[test]
fn a_receive_signed_later_by_the_receiver_is_linked_to_the_appended_ship() {
    let (s, _) = small_ledger();
    let shipped = s.sign_and_append(
        "miner.pem",
        "ship2",
        r#"{"kind": "ship", "actor": "kivu", "time": "2026-03-10T10:00:00Z", "to": "lualaba",
            "lots": [{"lot": "KV-ORE-0001", "quantity": 10000}]}"#,
    );
    let ship_id = shipped["receipts"][0]["id"].as_str().unwrap().to_owned();
    s.write(
        "receive2.json",
        r#"{"kind": "receive", "actor": "lualaba", "time": "2026-03-12T16:00:00Z",
            "lots": [{"lot": "KV-ORE-0001", "quantity": 10000}]}"#,
    );
    let signed = s
        .custody(&["sign", "--key", "refiner.pem", "receive2.json"])
        .success();
    assert_eq!(
        stderr(&signed),
        "",
        "a receive by its own party warns of nothing"
    );
    let statement: Value = serde_json::from_str(&stdout(&signed)).unwrap();
    assert_eq!(
        statement["event"]["body"]["receive"]["shipment"].as_str(),
        Some(ship_id.as_str())
    );
    s.write("receive2.signed", &stdout(&signed));
    s.custody(&["append", "receive2.signed"]).success();
    s.custody(&["verify"]).success();
}

/// A public key file given to `sign --key` is named as a public key, with the private key
/// file beside it, rather than refused for its mode (a `.pub` is meant to be readable).
#[test]
fn sign_with_a_public_key_file_asks_for_the_private_key() {
    let (s, _) = small_ledger();
    s.write("e.json", r#"{"kind":"extract","actor":"kivu","time":"2026-03-02T08:15:00Z","site":{"id":"S","country":"CD","lat":1,"lon":1,"method":"industrial"},"outputs":[{"lot":"X","material":"cobalt-ore","quantity":1,"unit":"kg"}]}"#);
    let out = s
        .custody(&["sign", "--key", "miner.pem.pub", "e.json"])
        .code(2);
    assert_eq!(
        stderr(&out),
        "error: miner.pem.pub is a public key; give the private key file miner.pem instead\n"
    );
    std::fs::rename(s.path("miner.pem.pub"), s.path("kivu-public.pem")).unwrap();
    let out = s
        .custody(&["sign", "--key", "kivu-public.pem", "e.json"])
        .code(2);
    assert_eq!(
        stderr(&out),
        "error: kivu-public.pem is a public key; give the private key file instead (custody keygen --out FILE writes FILE, the private key, and FILE.pub)\n"
    );
}

/// A country written as a name is refused with what is wanted and the code it means, both
/// as an option (`enroll --country`) and in supplier input (`site.country`).
#[test]
fn a_country_name_is_refused_with_its_iso_code() {
    let (s, _) = small_ledger();
    let out = s
        .custody(&[
            "enroll",
            "--party",
            "chambishi",
            "--name",
            "Chambishi Copper",
            "--country",
            "Zambia",
            "--role",
            "miner",
            "--key",
            "miner.pem.pub",
            "--operator-key",
            "operator.pem",
        ])
        .code(2);
    assert_eq!(
        stderr(&out),
        "error: --country: expected an ISO 3166-1 alpha-2 country code (two upper-case letters, such as CD), found \"Zambia\"; did you mean ZM?\n"
    );
    s.write("e.json", r#"{"kind":"extract","actor":"kivu","time":"2026-03-02T08:15:00Z","site":{"id":"S","country":"Zambia","lat":-12.5,"lon":28.2,"method":"industrial"},"outputs":[{"lot":"X","material":"cobalt-ore","quantity":1,"unit":"kg"}]}"#);
    let out = s.custody(&["sign", "--key", "miner.pem", "e.json"]).code(2);
    assert_eq!(
        stderr(&out),
        "error: e.json: invalid event: event 1: site.country: expected an ISO 3166-1 alpha-2 country code (two upper-case letters, such as CD), found \"Zambia\"; did you mean ZM?\n"
    );
}

/// Issue 12, hole 8: two letters are not enough. Withdrawn (`ZR`, the old code of the DR
/// Congo), user-assigned (`XX`, `QQ`) and unassigned codes are refused wherever a country is
/// read: at enrollment, in a supplier's event, in a signed statement given to `append`, and
/// in a policy's high-risk list, so a site in CD cannot leave the high-risk list by being
/// declared under a code no list names.
#[test]
fn fail_unassigned_country_codes_are_refused_everywhere_a_country_is_read() {
    let (s, _) = small_ledger();
    // A key of its own, so nothing but the country can be wrong with the enrollment.
    s.custody(&["keygen", "--out", "chambishi.pem"]).success();
    for code in ["QQ", "XX", "ZR"] {
        let out = s
            .custody(&[
                "enroll",
                "--party",
                "chambishi",
                "--name",
                "Chambishi Copper",
                "--country",
                code,
                "--role",
                "miner",
                "--key",
                "chambishi.pem.pub",
                "--operator-key",
                "operator.pem",
            ])
            .code(2);
        assert!(
            stderr(&out).contains(&format!(
                "\"{code}\" is not an assigned ISO 3166-1 alpha-2 country code"
            )),
            "{code}: {}",
            stderr(&out)
        );
    }
    s.write("e.json", r#"{"kind":"extract","actor":"kivu","time":"2026-03-02T08:15:00Z","site":{"id":"S","country":"ZR","lat":-12.5,"lon":28.2,"method":"industrial"},"outputs":[{"lot":"X","material":"cobalt-ore","quantity":1,"unit":"kg"}]}"#);
    let out = s.custody(&["sign", "--key", "miner.pem", "e.json"]).code(2);
    assert!(
        stderr(&out).contains("site.country: \"ZR\" is not an assigned ISO 3166-1 alpha-2 country code (it is withdrawn, user-assigned or reserved); did you mean CD?"),
        "{}",
        stderr(&out)
    );
    // A statement signed with a real code, then edited to carry ZR: it does not even read.
    s.write("e.json", r#"{"kind":"extract","actor":"kivu","time":"2026-03-02T08:15:00Z","site":{"id":"S","country":"CD","lat":-12.5,"lon":28.2,"method":"industrial"},"outputs":[{"lot":"X","material":"cobalt-ore","quantity":1,"unit":"kg"}]}"#);
    let signed = stdout(
        &s.custody(&["sign", "--key", "miner.pem", "e.json"])
            .success(),
    );
    assert!(signed.contains(r#""country":"CD""#), "{signed}");
    s.write(
        "zr.signed",
        &signed.replace(r#""country":"CD""#, r#""country":"ZR""#),
    );
    let out = s.custody(&["append", "zr.signed"]).code(2);
    assert!(
        stderr(&out).contains("\"ZR\" is not an assigned"),
        "{}",
        stderr(&out)
    );
    s.write("p.json", r#"{"high_risk_countries": ["CD", "ZR"]}"#);
    let out = s.custody(&["verify", "--policy", "p.json"]).code(2);
    assert!(
        stderr(&out).contains("\"ZR\" is not an assigned"),
        "{}",
        stderr(&out)
    );
}

/// `sign` against a ledger warns when the key is not one `append` will accept for the
/// actor, with the rule `append` will refuse it under, and still prints the statement.
#[test]
fn sign_warns_when_the_key_is_not_enrolled_for_the_actor() {
    let (s, _) = small_ledger();
    s.write("e.json", r#"{"kind":"extract","actor":"kivu","time":"2026-03-02T08:15:00Z","site":{"id":"S","country":"CD","lat":1,"lon":1,"method":"industrial"},"outputs":[{"lot":"X","material":"cobalt-ore","quantity":1,"unit":"kg"}]}"#);
    let out = s
        .custody(&["sign", "--key", "refiner.pem", "e.json"])
        .success();
    let statement: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let signer = statement["signer"].as_str().unwrap();
    assert_eq!(
        stderr(&out),
        format!(
            "warning: key {} is not enrolled for kivu; append will refuse it (CUS-AUT-001)\n",
            &signer[..16]
        )
    );
    s.write("e.signed", &stdout(&out));
    let refused = s.custody(&["append", "e.signed"]).code(1);
    assert!(
        stderr(&refused).contains("CUS-AUT-001"),
        "{}",
        stderr(&refused)
    );
    // The actor's own key: no warning.
    let out = s
        .custody(&["sign", "--key", "miner.pem", "e.json"])
        .success();
    assert_eq!(stderr(&out), "");
}

/// Counts are singular when there is one: a new ledger's verdict line and the trace of a
/// lot that comes from one event.
#[test]
fn counts_of_one_are_singular() {
    let (s, _) = small_ledger();
    let fresh = Scratch::new();
    fresh
        .custody(&[
            "init",
            "--origin",
            "one.example/log",
            "--operator-key",
            "operator.pem",
        ])
        .success();
    let out = fresh.custody(&["verify"]).success();
    assert_eq!(
        stdout(&out),
        "verdict: PASS (ledger; 1 entry checked; 0 errors, 0 warnings)\n"
    );
    s.sign_and_append(
        "miner.pem",
        "one",
        r#"{"kind": "extract", "actor": "kivu", "time": "2026-03-02T08:15:00Z",
            "site": {"id": "KV-PIT-2", "country": "CD", "lat": -10.71, "lon": 25.47, "method": "industrial"},
            "outputs": [{"lot": "KV-ORE-0002", "material": "cobalt-ore", "quantity": 100, "unit": "kg", "content": {"Co": 0.031}}]}"#,
    );
    let out = s.custody(&["trace", "KV-ORE-0002"]).success();
    let first = stdout(&out).lines().next().unwrap().to_owned();
    assert_eq!(
        first,
        "provenance of KV-ORE-0002: 1 event, 0 links, 1 origin"
    );
}

#[test]
fn policy_show_prints_the_effective_policy_and_a_lone_require_must_say_what_it_extends() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let run = |args: &[&str]| {
        custody_tests::custody()
            .current_dir(dir.path())
            .arg("policy")
            .arg("show")
            .args(args)
            .assert()
    };
    // One [[require]] no longer silently drops every built-in requirement.
    let lone = write(
        "lone.toml",
        "[[require]]\nrole = \"miner\"\nclaim = \"onsite-audit\"\nmax_age_days = 90\n",
    );
    let out = run(&["--policy", &lone]).code(2);
    assert!(
        stderr(&out).contains("without `extends`"),
        "{}",
        stderr(&out)
    );
    // extends = "default": the miner's audit is replaced, every other requirement stays.
    let merged = write(
        "merged.toml",
        "extends = \"default\"\n[[require]]\nrole = \"miner\"\nclaim = \"onsite-audit\"\nmax_age_days = 90\n",
    );
    let out = run(&["--policy", &merged, "--json"]).success();
    let shown: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let builtin: Value = serde_json::from_str(&stdout(&run(&["--json"]).success())).unwrap();
    let count = |v: &Value| v["require"].as_array().unwrap().len();
    assert_eq!(count(&shown), count(&builtin));
    assert!(
        shown["require"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["role"] == "miner"
                && r["claim"] == "onsite-audit"
                && r["max_age_days"] == 90)
    );
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
    // The shown policy is itself a valid policy file meaning the same thing.
    let again = write("again.json", &stdout(&out));
    let out = run(&["--policy", &again, "--json"]).success();
    assert_eq!(serde_json::from_str::<Value>(&stdout(&out)).unwrap(), shown);
    // A role left with no requirement at all is warned about.
    let only = write(
        "only.toml",
        "extends = \"none\"\n[[require]]\nrole = \"miner\"\nclaim = \"saq\"\n",
    );
    let out = run(&["--policy", &only]).success();
    assert!(
        stderr(&out).contains("requires no attestation of a refiner"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn explain_completions_manpage_and_version_help_a_new_user() {
    let out = custody_tests::custody()
        .args(["explain", "cus-bal-001"])
        .assert()
        .success();
    let text = stdout(&out);
    assert!(
        text.starts_with("CUS-BAL-001 (error): A consuming event draws more from a receipt"),
        "{text}"
    );
    assert!(text.contains("what to do: "), "{text}");
    let out = custody_tests::custody()
        .args(["explain", "CUS-NOPE-1"])
        .assert()
        .code(2);
    assert!(
        stderr(&out).contains("is not a rule code"),
        "{}",
        stderr(&out)
    );
    for shell in ["bash", "zsh", "fish"] {
        let out = custody_tests::custody()
            .args(["completions", shell])
            .assert()
            .success();
        assert!(stdout(&out).contains("verify"), "{shell}");
    }
    let out = custody_tests::custody().arg("manpage").assert().success();
    assert!(stdout(&out).contains(".TH custody 1"));
    let out = custody_tests::custody().arg("--version").assert().success();
    // Each format --version names is the one this build reads and writes.
    let tag = |t: &[u8]| String::from_utf8_lossy(t.strip_suffix(b"\0").unwrap_or(t)).into_owned();
    for line in [
        format!("storage format (sled): {}", ledger_store::FORMAT_VERSION),
        format!("evidence bundle format: {}", ledger_core::bundle::VERSION),
        format!(
            "event ids: {}, statement signatures: {}",
            tag(ledger_core::statement::EVENT_TAG),
            tag(ledger_core::statement::SIGNATURE_TAG)
        ),
    ] {
        assert!(
            stdout(&out).contains(&line),
            "--version lacks {line:?}:\n{}",
            stdout(&out)
        );
    }
}

#[test]
fn parties_and_lots_list_what_is_in_the_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger");
    custody_tests::custody()
        .args(["demo", "--dir"])
        .arg(&ledger)
        .assert()
        .success();
    let run = |args: &[&str]| {
        custody_tests::custody()
            .arg("--ledger")
            .arg(&ledger)
            .args(args)
            .assert()
            .success()
    };
    // The demo leaves its operator key beside the ledger: its module can be bundled.
    let key = dir.path().join("ledger.operator.pem");
    let bundle = dir.path().join("module.bundle");
    run(&[
        "export-bundle",
        "VM-MOD-0001",
        "--out",
        bundle.to_str().unwrap(),
        "--operator-key",
        key.to_str().unwrap(),
    ]);
    assert!(bundle.is_file());
    let miners = stdout(&run(&["parties", "--role", "miner"]));
    assert_eq!(miners.lines().count(), 3, "{miners}");
    assert!(miners.lines().all(|l| l.contains("  miner")), "{miners}");
    let json: Value =
        serde_json::from_str(&stdout(&run(&["parties", "--country", "IN", "--json"]))).unwrap();
    assert!(
        json["parties"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["country"] == "IN")
    );
    // Lots a page at a time: the pages together are every lot, once, in id order.
    let all: Value =
        serde_json::from_str(&stdout(&run(&["lots", "--json", "--limit", "1000"]))).unwrap();
    let all: Vec<String> = all["lots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(all.len() == 10 && all.windows(2).all(|w| w[0] < w[1]));
    let mut paged = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut args = vec!["lots", "--json", "--limit", "4"];
        if let Some(a) = &after {
            args.extend(["--after", a.as_str()]);
        }
        let page: Value = serde_json::from_str(&stdout(&run(&args))).unwrap();
        paged.extend(
            page["lots"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["id"].as_str().unwrap().to_owned()),
        );
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(paged, all);
    let ores = stdout(&run(&["lots", "--material", "cobalt-ore"]));
    assert!(
        ores.lines().all(|l| l.contains("cobalt-ore"))
            && ores.contains("KV-ORE-0001  cobalt-ore  50000 kg  by kivu-mining"),
        "{ores}"
    );
}

/// `custody append a b -` is one batch of the statements of both files and stdin, in that
/// order; a bad line in any of them refuses the whole batch, naming the file and line.
#[test]
fn append_takes_files_and_stdin_as_one_batch() {
    let (s, _) = small_ledger();
    let extract = |i: u32| {
        format!(
            r#"{{"kind": "extract", "actor": "kivu", "time": "2026-03-02T08:15:00Z", "nonce": {i}, "site": {{"id": "KV-PIT-2", "country": "CD", "lat": -10.71, "lon": 25.47, "method": "industrial"}}, "outputs": [{{"lot": "MIX-{i:04}", "material": "cobalt-ore", "quantity": 10, "unit": "kg", "content": {{"Co": 0.03}}}}]}}"#
        )
    };
    for (name, range) in [("a", 0..2), ("b", 2..3), ("c", 3..5)] {
        let events: Vec<String> = range.map(extract).collect();
        s.sign("miner.pem", name, &events.join("\n"));
    }
    let (entries, size) = snapshot(&s.ledger());
    // A line of the second file that does not parse: nothing of the batch lands.
    s.write(
        "bad.signed",
        &format!("{}\n\n{{\n", s.read("b.signed").trim()),
    );
    let out = s.custody(&["append", "a.signed", "bad.signed"]).code(2);
    assert!(
        stderr(&out).contains("bad.signed:3: not a signed statement"),
        "{}",
        stderr(&out)
    );
    assert_eq!(snapshot(&s.ledger()), (entries, size));
    let out = custody_tests::custody()
        .current_dir(s.dir.path())
        .env_remove("CUSTODY_LEDGER")
        .arg("--ledger")
        .arg(s.ledger())
        .args(["append", "--json", "a.signed", "b.signed", "-"])
        .write_stdin(s.read("c.signed"))
        .assert()
        .success();
    let out: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(out["accepted"], true);
    let receipts = out["receipts"].as_array().unwrap();
    assert_eq!(receipts.len(), 5);
    let seqs: Vec<u64> = receipts
        .iter()
        .map(|r| r["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, (size..size + 5).collect::<Vec<_>>());
    let signed: Vec<String> = ["a", "b", "c"]
        .iter()
        .flat_map(|name| {
            s.read(&format!("{name}.signed"))
                .lines()
                .map(|line| serde_json::from_str::<Value>(line).unwrap()["id"].to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    let ids: Vec<String> = receipts.iter().map(|r| r["id"].to_string()).collect();
    assert_eq!(ids, signed);
    let lots = stdout(&s.custody(&["lots", "--material", "cobalt-ore"]).success());
    for i in 0..5 {
        assert!(lots.contains(&format!("MIX-{i:04}")), "{lots}");
    }
}

#[test]
fn a_large_append_prints_a_summary_not_a_line_per_statement() {
    let (s, _) = small_ledger();
    let extracts = |range: std::ops::Range<u32>| -> String {
        range
            .map(|i| {
                format!(
                    r#"{{"kind": "extract", "actor": "kivu", "time": "2026-03-02T08:15:00Z", "nonce": {i}, "site": {{"id": "KV-PIT-2", "country": "CD", "lat": -10.71, "lon": 25.47, "method": "industrial"}}, "outputs": [{{"lot": "BULK-{i:04}", "material": "cobalt-ore", "quantity": 10, "unit": "kg", "content": {{"Co": 0.03}}}}]}}
"#
                )
            })
            .collect()
    };
    let append = |name: &str, events: String, extra: &[&str]| {
        s.sign("miner.pem", name, &events);
        let signed = format!("{name}.signed");
        let mut args = vec!["append"];
        args.extend_from_slice(extra);
        args.push(&signed);
        stdout(&s.custody(&args).success())
    };
    // Up to 20 statements: a line each.
    assert_eq!(append("few", extracts(0..15), &[]).lines().count(), 15);
    // Any number with --verbose: a line each.
    assert_eq!(
        append("all", extracts(15..45), &["--verbose"])
            .lines()
            .count(),
        30
    );
    // A batch over 20: its first 20 receipts, then one line that says the rest.
    let out = append("many", extracts(45..75), &[]);
    let printed: Vec<&str> = out.lines().collect();
    assert_eq!(printed.len(), 21, "{out}");
    assert!(
        printed[20].starts_with("… and 10 more: appended 30 statements, #"),
        "{out}"
    );
}

#[test]
fn an_input_file_over_the_limit_is_refused_before_it_is_read() {
    let s = Scratch::new();
    let big = s.path("big.json");
    // A sparse file of 300 MiB: `sign` reads its events whole, so it refuses the file from
    // its size alone, without reading it.
    let file = std::fs::File::create(&big).unwrap();
    file.set_len(300 << 20).unwrap();
    s.custody(&["keygen", "--out", "supplier.pem"]).success();
    let out = s
        .custody(&[
            "sign",
            "big.json",
            "--key",
            "supplier.pem",
            "--out",
            "big.signed",
        ])
        .code(2);
    assert!(
        stderr(&out).contains("larger than the limit of"),
        "{}",
        stderr(&out)
    );
    assert!(!s.path("big.signed").exists());
}

/// `append` streams its files, so no file size is too large; a line is, and it is refused,
/// named by file and line, before the ledger is opened (there is none here).
#[test]
fn a_statement_line_over_the_limit_is_refused_naming_it() {
    let s = Scratch::new();
    let long = "x".repeat(ledger::MAX_STATEMENT_LINE + 1);
    s.write("long.signed", &format!("\n{long}\n"));
    let out = s.custody(&["append", "long.signed"]).code(2);
    assert!(
        stderr(&out).contains(&format!(
            "long.signed:2: longer than {} bytes",
            ledger::MAX_STATEMENT_LINE
        )),
        "{}",
        stderr(&out)
    );
}

/// Issue 12, "done when": whole-ledger `verify --policy FILE` runs due diligence for every
/// product lot, so an auditor with the whole ledger gets the verdict `verify --lot` (and
/// the lot's bundle) gives: every finding of `verify --lot` is among its findings. Without
/// `--policy` the whole-ledger verdict stays the log's own (no due diligence).
#[test]
fn fail_whole_ledger_verify_with_a_policy_runs_due_diligence_for_every_product_lot() {
    let (s, _) = small_ledger();
    s.write(
        "p.json",
        r#"{"extends": "none", "high_risk_countries": [],
            "require": [{"role": "miner", "claim": "onsite-audit", "max_age_days": 365}],
            "missing_attestation": "error"}"#,
    );
    s.custody(&["verify"]).success();
    let lot: Value = serde_json::from_str(&stdout(
        &s.custody(&[
            "verify",
            "--lot",
            "KV-ORE-0001",
            "--policy",
            "p.json",
            "--json",
        ])
        .code(1),
    ))
    .unwrap();
    let whole: Value = serde_json::from_str(&stdout(
        &s.custody(&["verify", "--policy", "p.json", "--json"])
            .code(1),
    ))
    .unwrap();
    assert_eq!(whole["verdict"], "fail");
    assert_eq!(whole["scope"], "ledger");
    let found = whole["findings"].as_array().unwrap();
    for f in lot["findings"].as_array().unwrap() {
        assert!(found.contains(f), "{f} missing from {whole}");
    }
    assert!(
        found
            .iter()
            .any(|f| f["rule"] == "CUS-DD-001" && f["party"] == "kivu" && f["severity"] == "error"),
        "{whole}"
    );
}
