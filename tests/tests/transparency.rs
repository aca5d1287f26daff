//! Transparency end to end, on the demo ledger: checkpoints that an independent signed-note
//! verifier (Python's `cryptography`, in `INDEPENDENT_VERIFIER` below) accepts, with the
//! RFC 6962 root of every entry's `entry_hex`; proofs and append receipts that verify;
//! evidence bundles verified offline with no ledger, every single-byte change of one
//! rejected; and tampered checkpoints or Merkle nodes in the store caught by `verify`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use custody_tests::{retry, stderr, stdout};
use ledger_core::Digest;
use ledger_core::bundle::{self, Bundle};
use ledger_core::finding::Verdict;
use ledger_core::merkle::{verify_consistency, verify_inclusion};
use ledger_core::note::{Checkpoint, NoteSigner, sign_checkpoint};
use ledger_core::policy::Policy;
use ledger_core::timestamp::Timestamp;
use ledger_scenario::test_key;
use ledger_store::{SledStore, Store};
use serde_json::{Value, json};
use tempfile::TempDir;

/// The demo's log origin (`custody demo`).
const ORIGIN: &str = "demo.custody.example/ledger";

/// A scratch directory holding the demo ledger and the demo operator's key file.
struct Demo {
    dir: TempDir,
}

impl Demo {
    fn new() -> Demo {
        let dir = tempfile::tempdir().unwrap();
        custody_tests::custody()
            .env_remove("CUSTODY_LEDGER")
            .args(["demo", "--dir"])
            .arg(dir.path().join("ledger"))
            .assert()
            .success();
        let key = dir.path().join("operator.pem");
        let pem = test_key("custody-operator").to_pkcs8_pem().unwrap();
        std::fs::write(&key, pem.as_bytes()).unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        Demo { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn ledger(&self) -> PathBuf {
        self.path("ledger")
    }

    fn key(&self) -> String {
        self.path("operator.pem").display().to_string()
    }

    /// `custody --ledger <demo ledger> ARGS`. sled releases its file lock a moment after
    /// this test process drops a handle, so a run that finds the ledger locked is retried.
    fn custody(&self, args: &[&str]) -> assert_cmd::assert::Assert {
        for _ in 0..100 {
            let assert = custody_tests::custody()
                .current_dir(self.dir.path())
                .env_remove("CUSTODY_LEDGER")
                .env_remove("CUSTODY_OPERATOR_KEY")
                .arg("--ledger")
                .arg(self.ledger())
                .args(args)
                .assert();
            let locked = assert.get_output().status.code() == Some(2)
                && stderr(&assert).contains("in use by another process");
            if !locked {
                return assert;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("the ledger stayed locked");
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = self.custody(args).success();
        serde_json::from_slice(&out.get_output().stdout).unwrap()
    }

    fn size(&self) -> u64 {
        open_store(&self.ledger()).head().unwrap().size
    }

    fn checkpoint(&self) -> Value {
        self.json(&["checkpoint", "--operator-key", &self.key(), "--json"])
    }
}

fn digest(value: &Value) -> Digest {
    value.as_str().unwrap().parse().unwrap()
}

fn digests(value: &Value) -> Vec<Digest> {
    value.as_array().unwrap().iter().map(digest).collect()
}

/// RFC 9162 `MTH` straight from the definition, over SHA-256 only (not `merkle.rs`).
fn naive_root(leaves: &[Digest]) -> Digest {
    match leaves {
        [] => Digest::of(&[]),
        [one] => *one,
        _ => {
            let mut k = 1;
            while k * 2 < leaves.len() {
                k *= 2;
            }
            let (l, r) = leaves.split_at(k);
            Digest::of(&[&[1], naive_root(l).as_bytes(), naive_root(r).as_bytes()])
        }
    }
}

/// An independent C2SP signed-note / tlog-checkpoint and RFC 9162 proof verifier: Python with
/// the `cryptography` package (`python3 -m pip install cryptography`). It reads a JSON file
/// with the note, the operator's raw public key, every entry's hex, and proofs.
const INDEPENDENT_VERIFIER: &str = r#"
import base64, hashlib, json, sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

def H(*parts):
    return hashlib.sha256(b"".join(parts)).digest()

def mth(leaves):
    if not leaves:
        return H(b"")
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return H(b"\x01", mth(leaves[:k]), mth(leaves[k:]))

def inclusion_ok(index, size, leaf, path, root):
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = H(b"\x01", p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = H(b"\x01", r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root

def consistency_ok(n1, n2, first, second, path):
    if n1 == n2:
        return not path and first == second
    if n1 == 0:
        return not path and first == H(b"")
    if not path:
        return False
    if n1 & (n1 - 1) == 0:
        path = [first] + path
    fn, sn = n1 - 1, n2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = H(b"\x01", c, fr)
            sr = H(b"\x01", c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = H(b"\x01", sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first and sr == second

d = json.load(open(sys.argv[1]))
note, pub = d["note"], bytes.fromhex(d["public_key"])
# signed-note: the text ends at the last blank line; then "\u2014 name base64(keyid||sig)\n" lines.
split = note.rindex("\n\n")
text, sigs = note[: split + 1], note[split + 2 :]
assert sigs.endswith("\n"), "signature block must end in a newline"
origin = text.split("\n")[0]
key_id = H(origin.encode(), b"\n", b"\x01", pub)[:4]
verified = False
for line in sigs[:-1].split("\n"):
    assert line.startswith("\u2014 "), "bad signature line"
    name, b64 = line[2:].split(" ")
    raw = base64.b64decode(b64, validate=True)
    if name == origin and raw[:4] == key_id:
        Ed25519PublicKey.from_public_bytes(pub).verify(raw[4:], text.encode())
        verified = True
assert verified, "no signature by the operator key"
# tlog-checkpoint: origin, decimal size, base64 root, each ending in a newline.
body = text.split("\n")
assert body[0] == d["origin"], "origin"
size, root = int(body[1]), base64.b64decode(body[2], validate=True)
assert str(size) == body[1] and len(root) == 32
leaves = [H(b"\x00", bytes.fromhex(e)) for e in d["entries_hex"]]
assert size == len(leaves), "size is not the number of entries"
assert mth(leaves) == root, "root is not the RFC 6962 root of the entries"
for p in d["inclusion"]:
    h = [bytes.fromhex(x) for x in p["path"]]
    leaf = bytes.fromhex(p["leaf_hash"])
    assert leaf == leaves[p["leaf_index"]], "leaf hash is not the entry's"
    assert bytes.fromhex(p["root"]) == mth(leaves[: p["tree_size"]])
    assert inclusion_ok(p["leaf_index"], p["tree_size"], leaf, h, bytes.fromhex(p["root"])), p
for c in d["consistency"]:
    h = [bytes.fromhex(x) for x in c["path"]]
    first, second = bytes.fromhex(c["first_root"]), bytes.fromhex(c["second_root"])
    assert first == mth(leaves[: c["first"]]) and second == mth(leaves[: c["second"]])
    assert consistency_ok(c["first"], c["second"], first, second, h), c
print("independent verifier: ok")
"#;

/// Runs the independent verifier on `input`; panics with its output unless it accepts.
fn independent_verify(dir: &Path, input: &Value) {
    let script = dir.join("verify_note.py");
    std::fs::write(&script, INDEPENDENT_VERIFIER).unwrap();
    let data = dir.join("verify_note.json");
    std::fs::write(&data, input.to_string()).unwrap();
    let out = std::process::Command::new("python3")
        .arg(&script)
        .arg(&data)
        .stdin(Stdio::null())
        .output()
        .expect("python3 must be installed, with `python3 -m pip install cryptography`");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("ok"),
        "independent verifier refused (needs `python3 -m pip install cryptography`):\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn checkpoint_verifies_under_an_independent_verifier_with_the_root_of_every_entry() {
    let d = Demo::new();
    let cp = d.checkpoint();
    let size = cp["size"].as_u64().unwrap();
    assert_eq!(size, d.size());
    assert_eq!(cp["origin"], ORIGIN);
    let note = cp["note"].as_str().unwrap();
    assert!(note.starts_with(&format!("{ORIGIN}\n{size}\n")), "{note}");

    let entries_hex: Vec<String> = (0..size)
        .map(|seq| {
            let shown = d.json(&["show", "--seq", &seq.to_string(), "--json"]);
            shown["entry_hex"].as_str().unwrap().to_owned()
        })
        .collect();
    let leaves: Vec<Digest> = entries_hex
        .iter()
        .map(|h| Digest::of(&[&[0], &hex::decode(h).unwrap()]))
        .collect();
    assert_eq!(digest(&cp["root"]), naive_root(&leaves));

    let mut inclusion = Vec::new();
    for (seq, tree_size) in [
        (0, size),
        (3, size),
        (size - 1, size),
        (0, 1),
        (5, 9),
        (9, 10),
    ] {
        inclusion.push(d.json(&[
            "proof",
            "inclusion",
            "--seq",
            &seq.to_string(),
            "--size",
            &tree_size.to_string(),
            "--json",
        ]));
    }
    let mut consistency = Vec::new();
    for (from, to) in [
        (0, size),
        (1, size),
        (5, 9),
        (8, 16),
        (13, size),
        (size, size),
    ] {
        consistency.push(d.json(&[
            "proof",
            "consistency",
            "--from",
            &from.to_string(),
            "--to",
            &to.to_string(),
            "--json",
        ]));
    }
    let genesis = d.json(&["show", "--seq", "0", "--json"]);
    independent_verify(
        d.dir.path(),
        &json!({
            "note": note,
            "origin": ORIGIN,
            "public_key": genesis["statement"]["signer"],
            "entries_hex": entries_hex,
            "inclusion": inclusion,
            "consistency": consistency,
        }),
    );
    // The stored checkpoint passes whole-ledger verification.
    let out = d.custody(&["verify"]).success();
    assert!(stdout(&out).contains("verdict: PASS"), "{}", stdout(&out));
}

#[test]
fn checkpoint_needs_a_valid_operator_key() {
    let d = Demo::new();
    // A supplier's key is enrolled, but not as an operator.
    let miner = d.path("miner.pem");
    std::fs::write(
        &miner,
        test_key("kivu-mining").to_pkcs8_pem().unwrap().as_bytes(),
    )
    .unwrap();
    std::fs::set_permissions(&miner, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = d
        .custody(&["checkpoint", "--operator-key", miner.to_str().unwrap()])
        .code(2);
    assert!(
        stderr(&out).contains("may not act as operator"),
        "{}",
        stderr(&out)
    );
    // The key may also come from the environment.
    let out = custody_tests::custody()
        .arg("--ledger")
        .arg(d.ledger())
        .env("CUSTODY_OPERATOR_KEY", d.key())
        .args(["checkpoint", "--json"])
        .assert()
        .success();
    let cp: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(cp["size"].as_u64(), Some(d.size()));
}

#[test]
fn proofs_and_append_receipts_verify() {
    let d = Demo::new();
    let size = d.size();
    let leaf_of = |seq: u64| {
        let shown = d.json(&["show", "--seq", &seq.to_string(), "--json"]);
        digest(&shown["entry_hash"])
    };
    for seq in [0, 1, 2, 7, 31, size - 2, size - 1] {
        let p = d.json(&["proof", "inclusion", "--seq", &seq.to_string(), "--json"]);
        let keys: Vec<&String> = p.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            ["leaf_hash", "leaf_index", "path", "root", "tree_size"]
        );
        assert_eq!(p["tree_size"].as_u64(), Some(size));
        assert_eq!(digest(&p["leaf_hash"]), leaf_of(seq));
        let root = digest(&p["root"]);
        assert_eq!(
            verify_inclusion(seq, size, &leaf_of(seq), &digests(&p["path"]), &root),
            Ok(())
        );
    }
    let c = d.json(&[
        "proof",
        "consistency",
        "--from",
        "10",
        "--to",
        &size.to_string(),
        "--json",
    ]);
    let keys: Vec<&String> = c.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["first", "first_root", "path", "second", "second_root"]
    );
    assert_eq!(
        verify_consistency(
            10,
            size,
            &digests(&c["path"]),
            &digest(&c["first_root"]),
            &digest(&c["second_root"])
        ),
        Ok(())
    );
    // Out of range is a usage error.
    d.custody(&["proof", "inclusion", "--seq", &size.to_string()])
        .code(2);
    d.custody(&["proof", "consistency", "--from", "5", "--to", "4"])
        .code(2);

    // An append's receipt carries the leaf hash, tree size, root and inclusion path.
    let public = d.path("new.pem.pub");
    std::fs::write(
        &public,
        test_key("new-trader").public_key().to_pem().unwrap(),
    )
    .unwrap();
    let out = d.json(&[
        "enroll",
        "--party",
        "new-trader",
        "--name",
        "New Trader",
        "--country",
        "BE",
        "--role",
        "trader",
        "--key",
        public.to_str().unwrap(),
        "--operator-key",
        &d.key(),
        "--json",
    ]);
    let receipt = &out["receipts"][0];
    assert_eq!(receipt["seq"].as_u64(), Some(size));
    assert_eq!(receipt["tree_size"].as_u64(), Some(size + 1));
    assert_eq!(digest(&receipt["leaf_hash"]), leaf_of(size));
    let root = digest(&receipt["root"]);
    assert_eq!(
        verify_inclusion(
            size,
            size + 1,
            &leaf_of(size),
            &digests(&receipt["inclusion_path"]),
            &root
        ),
        Ok(())
    );
    let p = d.json(&["proof", "inclusion", "--seq", "0", "--json"]);
    assert_eq!(digest(&p["root"]), root);
}

/// `custody verify --bundle FILE ARGS` in `dir`, with no ledger anywhere.
fn verify_bundle_in(dir: &Path, file: &str, args: &[&str]) -> assert_cmd::assert::Assert {
    custody_tests::custody()
        .current_dir(dir)
        .env("CUSTODY_LEDGER", dir.join("no-ledger-here"))
        .args(["verify", "--bundle", file])
        .args(args)
        .assert()
}

#[test]
fn the_demo_module_bundle_verifies_offline_in_an_empty_directory() {
    let d = Demo::new();
    let out = d.path("module.bundle");
    let file = out.to_str().unwrap();
    // No checkpoint covers the log yet: the operator key is needed to sign one.
    let refused = d
        .custody(&["export-bundle", "VM-MOD-0001", "--out", file])
        .code(2);
    assert!(
        stderr(&refused).contains("--operator-key"),
        "{}",
        stderr(&refused)
    );
    assert!(!out.exists());
    let export = d.json(&[
        "export-bundle",
        "VM-MOD-0001",
        "--out",
        file,
        "--operator-key",
        &d.key(),
        "--json",
    ]);
    assert_eq!(export["fresh_checkpoint"], true);
    assert_eq!(export["checkpoint"]["size"].as_u64(), Some(d.size()));
    let vkey = export["vkey"].as_str().unwrap().to_owned();
    // Now the stored checkpoint covers the log: no key needed.
    let again = d.json(&["export-bundle", "VM-MOD-0001", "--out", file, "--json"]);
    assert_eq!(again["fresh_checkpoint"], false);

    let empty = tempfile::tempdir().unwrap();
    std::fs::copy(&out, empty.path().join("module.bundle")).unwrap();
    // Without --vkey every check runs, but the bundle is only consistent with itself: the
    // verdict is a fail, in the text, the JSON and the exit code alike (issue 12, hole 9).
    let run = verify_bundle_in(empty.path(), "module.bundle", &[]).code(1);
    let text = stdout(&run);
    assert!(text.contains("verdict: FAIL (lot VM-MOD-0001;"), "{text}");
    assert!(
        text.contains("error CUS-INT-007: operator key not confirmed"),
        "{text}"
    );
    assert!(text.contains(&format!("checkpoint key: {vkey}")), "{text}");
    assert!(text.contains("genesis entry"), "{text}");
    assert!(
        text.contains("CUS-ORI-003"),
        "the artisanal site is flagged: {text}"
    );
    let run = verify_bundle_in(empty.path(), "module.bundle", &["--json"]).code(1);
    let unconfirmed: Value = serde_json::from_slice(&run.get_output().stdout).unwrap();
    assert_eq!(unconfirmed["verdict"], "fail");
    assert_eq!(unconfirmed["counts"]["errors"], 1);
    assert_eq!(unconfirmed["bundle"]["vkey_source"], "genesis");
    assert!(
        unconfirmed["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule"] == "CUS-INT-007"
                && f["message"]
                    .as_str()
                    .unwrap()
                    .starts_with("operator key not confirmed")),
        "{unconfirmed}"
    );

    let run =
        verify_bundle_in(empty.path(), "module.bundle", &["--vkey", &vkey, "--json"]).success();
    let report: Value = serde_json::from_slice(&run.get_output().stdout).unwrap();
    assert_eq!(report["verdict"], "pass");
    assert_eq!(report["lot"], "VM-MOD-0001");
    assert_eq!(report["bundle"]["vkey_source"], "given");
    assert_eq!(report["bundle"]["checkpoint"]["origin"], ORIGIN);
    // The same findings as `verify --lot` on the ledger.
    let full = d.json(&["verify", "--lot", "VM-MOD-0001", "--json"]);
    assert_eq!(report["findings"], full["findings"]);
    assert_eq!(report["counts"], full["counts"]);
    // Nothing was created in the empty directory.
    let names: Vec<_> = std::fs::read_dir(empty.path()).unwrap().collect();
    assert_eq!(names.len(), 1);

    // Another key: the checkpoint does not verify.
    let other = ledger_core::note::NoteVerifier::new(
        ORIGIN,
        *test_key("someone-else").public_key().verifying_key(),
    )
    .unwrap()
    .vkey();
    let run = verify_bundle_in(empty.path(), "module.bundle", &["--vkey", &other]).code(1);
    assert!(stdout(&run).contains("CUS-INT-007"), "{}", stdout(&run));
    assert!(stdout(&run).contains("verdict: FAIL"), "{}", stdout(&run));
}

#[test]
fn every_single_byte_change_of_a_small_bundle_is_rejected() {
    let d = Demo::new();
    let file = d.path("ore.bundle");
    let export = d.json(&[
        "export-bundle",
        "KD-ORE-0001",
        "--out",
        file.to_str().unwrap(),
        "--operator-key",
        &d.key(),
        "--json",
    ]);
    // Checked against the operator's key: without it no bundle passes at all.
    let vkey_text = export["vkey"].as_str().unwrap().to_owned();
    let vkey = ledger_core::note::NoteVerifier::from_vkey(&vkey_text).unwrap();
    let bytes = std::fs::read(&file).unwrap();
    let now = Timestamp::from_unix(4_000_000_000).unwrap();
    let policy = Policy::default();
    let original = bundle::verify_bytes(&bytes, Some(&vkey), &policy, now).unwrap();
    assert_eq!(
        ledger_core::finding::verdict(&original.findings),
        Verdict::Pass
    );
    assert!(original.sound);
    let decoded = Bundle::decode(&bytes).unwrap();
    assert!(decoded.entries.len() >= 5, "a small but real bundle");

    // In process, through the function the CLI uses: every position, two different flips.
    let mut accepted = Vec::new();
    for i in 0..bytes.len() {
        for flip in [0x01u8, 0xa5] {
            let mut changed = bytes.clone();
            changed[i] ^= flip;
            let rejected = match bundle::verify_bytes(&changed, Some(&vkey), &policy, now) {
                Err(_) => true,
                Ok(report) => ledger_core::finding::verdict(&report.findings) == Verdict::Fail,
            };
            if !rejected {
                accepted.push((i, flip));
            }
        }
    }
    assert!(accepted.is_empty(), "changed bytes accepted: {accepted:?}");

    // A few through the binary, offline: header, lot id, checkpoint, an entry, the last byte.
    let empty = tempfile::tempdir().unwrap();
    let lot_at = bytes.windows(11).position(|w| w == b"KD-ORE-0001").unwrap();
    let note_at = bytes
        .windows(ORIGIN.len())
        .position(|w| w == ORIGIN.as_bytes())
        .unwrap();
    for i in [
        3,
        15,
        lot_at + 10,
        note_at + 40,
        bytes.len() / 2,
        bytes.len() - 1,
    ] {
        let mut changed = bytes.clone();
        changed[i] ^= 0x01;
        std::fs::write(empty.path().join("b"), &changed).unwrap();
        let out = verify_bundle_in(empty.path(), "b", &["--vkey", &vkey_text]);
        let code = out.get_output().status.code();
        assert!(matches!(code, Some(1 | 2)), "byte {i}: {code:?}");
        assert!(
            !stdout(&out).contains("verdict: PASS"),
            "byte {i}: {}",
            stdout(&out)
        );
    }
    // Truncated and garbage files are clear errors, not panics.
    for cut in [0, 10, 19, 20, bytes.len() / 3, bytes.len() - 1] {
        std::fs::write(empty.path().join("b"), &bytes[..cut]).unwrap();
        let out = verify_bundle_in(empty.path(), "b", &[]).code(2);
        assert!(
            stderr(&out).contains("is not a readable evidence bundle"),
            "cut {cut}: {}",
            stderr(&out)
        );
    }
    std::fs::write(empty.path().join("b"), b"hello, not a bundle").unwrap();
    let out = verify_bundle_in(empty.path(), "b", &[]).code(2);
    assert!(stderr(&out).contains("bad magic"), "{}", stderr(&out));
}

fn open_store(ledger: &Path) -> SledStore {
    retry(|| SledStore::open(ledger))
}

/// Replaces the stored checkpoint for `size` with `note`.
fn store_checkpoint(ledger: &Path, size: u64, note: &str) {
    open_store(ledger).put_checkpoint(size, note).unwrap();
}

#[test]
fn tampered_checkpoints_and_merkle_nodes_in_the_store_fail_verify() {
    let d = Demo::new();
    let cp = d.checkpoint();
    let size = cp["size"].as_u64().unwrap();
    let good = cp["note"].as_str().unwrap().to_owned();
    d.custody(&["verify"]).success();
    let expect_int_007 = |what: &str, needle: &str| {
        let out = d.custody(&["verify"]).code(1);
        let text = stdout(&out);
        assert!(text.contains("error CUS-INT-007"), "{what}: {text}");
        assert!(text.contains(needle), "{what}: {text}");
    };

    // Signed by the operator's key, but over a root that is not the log's.
    let operator = test_key("custody-operator");
    let signer = NoteSigner::new(ORIGIN, operator.signing_key()).unwrap();
    let wrong_root = Checkpoint::new(ORIGIN, size, Digest([7; 32]), Vec::new()).unwrap();
    store_checkpoint(
        &d.ledger(),
        size,
        &sign_checkpoint(&wrong_root, &signer).unwrap(),
    );
    expect_int_007(
        "wrong root",
        "the operator signed a log that is not this one",
    );

    // The right root, signed by a key that is not an operator's.
    let stranger = test_key("kivu-mining");
    let signer = NoteSigner::new(ORIGIN, stranger.signing_key()).unwrap();
    let right = Checkpoint::new(ORIGIN, size, digest(&cp["root"]), Vec::new()).unwrap();
    store_checkpoint(
        &d.ledger(),
        size,
        &sign_checkpoint(&right, &signer).unwrap(),
    );
    expect_int_007("stranger's key", "not signed by an operator key");

    // One changed byte in the stored note.
    let mut changed = good.clone().into_bytes();
    changed[ORIGIN.len() + 5] ^= 0x01;
    store_checkpoint(&d.ledger(), size, &String::from_utf8(changed).unwrap());
    expect_int_007("changed byte", "checkpoint for tree size");

    // A checkpoint for an older size stored under the current one.
    let signer = NoteSigner::new(ORIGIN, operator.signing_key()).unwrap();
    let older = Checkpoint::new(ORIGIN, size - 1, digest(&cp["root"]), Vec::new()).unwrap();
    store_checkpoint(
        &d.ledger(),
        size,
        &sign_checkpoint(&older, &signer).unwrap(),
    );
    expect_int_007("wrong size", "says tree size");

    store_checkpoint(&d.ledger(), size, &good);
    d.custody(&["verify"]).success();

    // A stored Merkle node that disagrees with the entries: verify fails, and neither a
    // checkpoint nor a proof is served from it.
    let db = retry(|| sled::open(d.ledger()));
    // The 64-leaf subtree: the root at the head and every proof for entries 0..64 use it.
    let key = [b"m/".as_slice(), &[6u8], &0u64.to_be_bytes()].concat();
    let original = db.get(&key).unwrap().unwrap().to_vec();
    let mut bad = original.clone();
    bad[0] ^= 0x01;
    db.insert(&key, bad).unwrap();
    db.flush().unwrap();
    drop(db);
    expect_int_007("merkle node", "the store's merkle tree has root");
    let out = d
        .custody(&["checkpoint", "--operator-key", &d.key()])
        .code(2);
    assert!(
        stderr(&out).contains("refusing to sign"),
        "{}",
        stderr(&out)
    );
    let out = d.custody(&["proof", "inclusion", "--seq", "5"]).code(2);
    assert!(
        stderr(&out).contains("do not prove entry #5"),
        "{}",
        stderr(&out)
    );
    let db = retry(|| sled::open(d.ledger()));
    db.insert(&key, original).unwrap();
    db.flush().unwrap();
    drop(db);
    d.custody(&["verify"]).success();
}

/// Enrolls one more party in `d`'s ledger and returns the checkpoint note signed after it.
fn grow_and_checkpoint(d: &Demo) -> String {
    let key = d.path("late.pem");
    if !key.exists() {
        d.custody(&["keygen", "--out", key.to_str().unwrap()])
            .success();
    }
    let public = d.path("late.pem.pub");
    d.custody(&[
        "enroll",
        "--party",
        "late-trader",
        "--name",
        "Late Trader",
        "--country",
        "ZM",
        "--role",
        "trader",
        "--key",
        public.to_str().unwrap(),
        "--operator-key",
        &d.key(),
    ])
    .success();
    let out = d
        .custody(&["checkpoint", "--operator-key", &d.key()])
        .success();
    stdout(&out)
}

#[test]
fn fail_a_rolled_back_or_forked_ledger_fails_against_a_checkpoint_the_auditor_holds() {
    let d = Demo::new();
    let backup = d.path("backup");
    custody_tests::copy_dir(&d.ledger(), &backup);
    let held = d.path("held.checkpoint");
    std::fs::write(&held, grow_and_checkpoint(&d)).unwrap();
    let held = held.to_str().unwrap().to_owned();
    // The honest ledger passes against what the auditor holds.
    let out = d.custody(&["verify", "--checkpoint", &held]).success();
    assert!(stdout(&out).contains("verdict: PASS"), "{}", stdout(&out));

    // Restored wholesale from the older copy, acknowledged-head and all: only the held
    // checkpoint shows that entries are gone.
    std::fs::remove_dir_all(d.ledger()).unwrap();
    custody_tests::copy_dir(&backup, &d.ledger());
    d.custody(&["verify"]).success();
    let out = d.custody(&["verify", "--checkpoint", &held]).code(1);
    assert!(stdout(&out).contains("rolled back"), "{}", stdout(&out));

    // A fork: another ledger of the same origin and operator key, grown to the same size.
    let fork = Demo::new();
    std::fs::copy(d.path("late.pem"), fork.path("late.pem")).unwrap();
    std::fs::copy(d.path("late.pem.pub"), fork.path("late.pem.pub")).unwrap();
    grow_and_checkpoint(&fork);
    let out = fork.custody(&["verify", "--checkpoint", &held]).code(1);
    assert!(
        stdout(&out).contains("the operator signed a log that is not this one"),
        "{}",
        stdout(&out)
    );
}
