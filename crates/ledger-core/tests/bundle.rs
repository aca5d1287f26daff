//! Evidence bundles in the core: the container codec (header, version, size limit, canonical
//! body, truncation and garbage never panic), offline verification of a tiny real log, and
//! the structural rules a verifier applies (exact selection, order, genesis, one signature).
//! The demo-sized bundles and the CLI are covered in `tests/tests/transparency.rs`.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers: a panic is a failing test"
)]

use ledger_core::bundle::{self, Bundle, BundleEntry, BundleError, KeySource, MAGIC, VERSION};
use ledger_core::completeness::{self, Completeness};
use ledger_core::finding::{Rule, Verdict, verdict};
use ledger_core::hash::Digest;
use ledger_core::id::LotId;
use ledger_core::input::{NoContext, parse_event};
use ledger_core::keys::SecretKey;
use ledger_core::merkle::{MemoryTree, inclusion_proof, leaf_hash};
use ledger_core::note::{Checkpoint, NoteSigner, NoteVerifier, cosign, sign_checkpoint};
use ledger_core::policy::Policy;
use ledger_core::statement::{Entry, Origin, Statement, entry_hash};
use ledger_core::subjects::Subjects;
use ledger_core::timestamp::Timestamp;
use ledger_core::witnesses::WitnessPolicy;
use proptest::prelude::*;

const ORIGIN: &str = "bundle.test/log";

fn key(name: &str) -> SecretKey {
    SecretKey::from_seed(&Digest::of(&[b"custody test key v1\0", name.as_bytes()]).0)
}

fn now() -> Timestamp {
    Timestamp::from_unix(1_800_000_000).unwrap()
}

/// A tiny log: genesis, a miner's enrollment, an unrelated party's enrollment, an extract.
fn log() -> Vec<Vec<u8>> {
    log_for(ORIGIN)
}

/// [`log`], its statements signed for the ledger with `origin`.
fn log_for(origin: &str) -> Vec<Vec<u8>> {
    let origin = Origin::new(origin).unwrap();
    let op = key("operator").public_key().to_hex();
    let miner = key("miner").public_key().to_hex();
    let other = key("other").public_key().to_hex();
    let events = [
        ("operator", format!(r#"{{"kind":"enroll","actor":"operator","time":"2026-01-01T00:00:00Z","nonce":1,"party":"operator","name":"Operator","country":"BE","roles":["operator"],"keys":["{op}"]}}"#)),
        ("operator", format!(r#"{{"kind":"enroll","actor":"operator","time":"2026-01-02T00:00:00Z","nonce":2,"party":"miner","name":"Miner","country":"AU","roles":["miner"],"keys":["{miner}"]}}"#)),
        ("operator", format!(r#"{{"kind":"enroll","actor":"operator","time":"2026-01-03T00:00:00Z","nonce":3,"party":"other","name":"Other","country":"FI","roles":["trader"],"keys":["{other}"]}}"#)),
        ("miner", r#"{"kind":"extract","actor":"miner","time":"2026-02-01T00:00:00Z","nonce":4,"site":{"id":"PIT-1","country":"AU","lat":-30.1,"lon":120.5,"method":"industrial"},"outputs":[{"lot":"ORE-1","material":"cobalt-ore","quantity":1000,"unit":"kg","content":{"Co":0.02}}]}"#.to_owned()),
    ];
    let mut prev = Digest::ZERO;
    let mut subjects = Subjects::default();
    let mut out = Vec::new();
    for (seq, (signer, json)) in events.iter().enumerate() {
        let event =
            parse_event(serde_json::from_str(json).unwrap(), &NoContext, &mut || 7).unwrap();
        let statement = Statement::sign(event, &origin, &key(signer)).unwrap();
        subjects.record(seq as u64, &statement.id().unwrap(), &statement.event);
        let entry = Entry {
            seq: seq as u64,
            prev,
            recorded_at: Timestamp::from_unix(1_790_000_000).unwrap(),
            subjects: subjects.root(),
            statement,
        };
        let bytes = entry.encode().unwrap();
        prev = entry_hash(&bytes);
        out.push(bytes);
    }
    out
}

/// A bundle of `seqs` of `log` for `lot`, with a checkpoint of the whole log signed by `signer`.
fn make(log: &[Vec<u8>], lot: &str, seqs: &[u64], signer: &SecretKey) -> Bundle {
    let tree = MemoryTree::from_leaf_hashes(log.iter().map(|b| leaf_hash(b)));
    let size = log.len() as u64;
    let checkpoint = Checkpoint::new(ORIGIN, size, tree.root(), Vec::new()).unwrap();
    let note_signer = NoteSigner::new(ORIGIN, signer.signing_key()).unwrap();
    // Completeness for every subject and lot of the whole log: a superset of what the
    // verifier requires, which it accepts.
    let mut index = Subjects::default();
    let mut events = Vec::new();
    for (seq, bytes) in log.iter().enumerate() {
        let entry = Entry::decode(bytes).unwrap();
        index.record(
            seq as u64,
            &entry.statement.id().unwrap(),
            &entry.statement.event,
        );
        events.push(entry.statement.event);
    }
    let lots: Vec<LotId> = events
        .iter()
        .flat_map(|e| e.lots_named().into_iter().cloned())
        .collect();
    let required = completeness::required(events.iter(), lots.iter());
    let last = size - 1;
    let completeness = completeness::prove(
        &mut index,
        &required,
        log[last as usize].clone(),
        inclusion_proof(last, size, &tree).unwrap(),
    );
    Bundle {
        lot: LotId::new(lot).unwrap(),
        checkpoint: sign_checkpoint(&checkpoint, &note_signer).unwrap(),
        entries: seqs
            .iter()
            .map(|&seq| BundleEntry {
                entry: log[seq as usize].clone(),
                proof: inclusion_proof(seq, size, &tree).unwrap(),
            })
            .collect(),
        completeness,
    }
}

fn operator_vkey() -> NoteVerifier {
    NoteVerifier::new(ORIGIN, *key("operator").public_key().verifying_key()).unwrap()
}

fn check(b: &Bundle) -> bundle::BundleReport {
    bundle::verify(b, None, &Policy::default(), now())
}

fn has(report: &bundle::BundleReport, rule: Rule, needle: &str) -> bool {
    report
        .findings
        .iter()
        .any(|f| f.rule == rule && f.message.contains(needle))
}

#[test]
fn fail_valid_bundle_of_a_tiny_log_passes_with_the_vkey_and_is_unconfirmed_without() {
    let log = log();
    let b = make(&log, "ORE-1", &[0, 1, 3], &key("operator"));
    let report = check(&b);
    // Without the operator's key, every check runs and passes, but the verdict is a fail:
    // the only error is that the operator key is not confirmed.
    let errors: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.severity == ledger_core::finding::Severity::Error)
        .collect();
    assert_eq!(errors.len(), 1, "{:?}", report.findings);
    assert_eq!(errors[0].rule, Rule::CheckpointMismatch);
    assert!(errors[0].message.starts_with("operator key not confirmed"));
    assert_eq!(verdict(&report.findings), Verdict::Fail);
    assert!(report.sound);
    assert_eq!(report.key_source, KeySource::Genesis);
    assert_eq!(report.verifier, Some(operator_vkey()));
    assert_eq!(report.checkpoint.as_ref().map(Checkpoint::size), Some(4));
    assert_eq!(report.trace.as_ref().map(|t| t.events.len()), Some(1));
    let given = bundle::verify(&b, Some(&operator_vkey()), &Policy::default(), now());
    assert_eq!(verdict(&given.findings), Verdict::Pass);
    assert_eq!(given.key_source, KeySource::Given);
}

#[test]
fn fail_statements_signed_for_another_ledger_do_not_verify_under_this_checkpoint() {
    // The same parties, keys and events, signed for another ledger's origin, then proved
    // and checkpointed under this one's: every signature binds the origin it was made for.
    let log = log_for("another.test/log");
    let report = check(&make(&log, "ORE-1", &[0, 1, 3], &key("operator")));
    assert_eq!(verdict(&report.findings), Verdict::Fail);
    // The extract is the lot's own event; the enrollments' findings are kept or dropped
    // by the evidence filter (issue 12, item 1), not by the signature check.
    assert!(
        report.findings.iter().any(|f| f.rule == Rule::BadSignature
            && f.seq == Some(3)
            && f.message.contains("signed for another ledger")),
        "{:?}",
        report.findings
    );
}

#[test]
fn the_selection_is_exactly_what_the_exporter_must_write() {
    let log = log();
    // Through the verifier: the unrelated enrollment (#2) is refused as extra.
    let b = make(&log, "ORE-1", &[0, 1, 2, 3], &key("operator"));
    let report = check(&b);
    assert!(!report.sound);
    assert!(has(
        &report,
        Rule::EntryMalformed,
        "#2 is not part of the evidence"
    ));
    // A missing enrollment: the miner is unknown, an authority error on the DAG's event.
    let report = check(&make(&log, "ORE-1", &[0, 3], &key("operator")));
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.rule == Rule::UnknownSigner)
    );
    assert_eq!(verdict(&report.findings), Verdict::Fail);
}

#[test]
fn fail_structure_order_genesis_and_lot() {
    let log = log();
    let op = key("operator");
    let mut b = make(&log, "ORE-1", &[0, 1, 3], &op);
    b.entries.swap(1, 2);
    assert!(has(&check(&b), Rule::EntryMalformed, "strictly increasing"));

    let mut b = make(&log, "ORE-1", &[0, 1, 3], &op);
    b.entries.push(b.entries[2].clone());
    assert!(has(&check(&b), Rule::EntryMalformed, "strictly increasing"));

    let b = make(&log, "ORE-1", &[1, 3], &op);
    let report = check(&b);
    assert!(has(&report, Rule::EntryMalformed, "genesis"));
    assert_eq!(verdict(&report.findings), Verdict::Fail);

    let b = make(&log, "ORE-2", &[0, 1, 3], &op);
    assert!(has(
        &check(&b),
        Rule::EntryMalformed,
        "none of its entries creates"
    ));
}

#[test]
fn fail_checkpoint_wrong_key_and_bad_proof_while_cosignatures_are_read_by_a_policy() {
    let log = log();
    // Signed by the miner: its key is not the genesis key, nor an operator's.
    let b = make(&log, "ORE-1", &[0, 1, 3], &key("miner"));
    assert!(has(&check(&b), Rule::CheckpointMismatch, "does not verify"));
    let miner_vkey = NoteVerifier::new(ORIGIN, *key("miner").public_key().verifying_key()).unwrap();
    let report = bundle::verify(&b, Some(&miner_vkey), &Policy::default(), now());
    assert!(has(&report, Rule::CheckpointMismatch, "operator key valid"));
    assert!(!report.sound);

    // A witness's cosignature line leaves the bundle sound; a witness policy reads it.
    let mut b = make(&log, "ORE-1", &[0, 1, 3], &key("operator"));
    let text = b.checkpoint.split("\n\n").next().unwrap().to_owned() + "\n";
    let wit = key("witness");
    let cosigner = NoteSigner::cosigner("witness.example", wit.signing_key()).unwrap();
    b.checkpoint
        .push_str(&cosign(&text, &cosigner, 1_799_999_000).unwrap());
    let log_key = NoteVerifier::new(ORIGIN, *key("operator").public_key().verifying_key()).unwrap();
    let report = bundle::verify(&b, Some(&log_key), &Policy::default(), now());
    assert!(report.sound, "{:?}", report.findings);
    assert_eq!(
        verdict(&report.findings),
        Verdict::Pass,
        "{:?}",
        report.findings
    );
    let trusted = WitnessPolicy::new(vec![cosigner.verifier()], 1, Some(3600)).unwrap();
    assert!(
        trusted
            .check(&b.checkpoint, &log_key, now())
            .findings
            .is_empty()
    );
    let other = key("other-witness");
    let other = NoteSigner::cosigner("witness.example", other.signing_key()).unwrap();
    let untrusted = WitnessPolicy::new(vec![other.verifier()], 1, None).unwrap();
    let found = untrusted.check(&b.checkpoint, &log_key, now());
    assert_eq!(found.findings.len(), 1);
    assert_eq!(found.findings[0].rule, Rule::Unwitnessed);
    let stale = WitnessPolicy::new(vec![cosigner.verifier()], 1, Some(60)).unwrap();
    let found = stale.check(&b.checkpoint, &log_key, now());
    assert_eq!(found.findings[0].rule, Rule::StaleCheckpoint);

    let mut b = make(&log, "ORE-1", &[0, 1, 3], &key("operator"));
    b.entries[1].proof.pop();
    assert!(has(
        &check(&b),
        Rule::CheckpointMismatch,
        "entry #1 is not shown"
    ));
}

#[test]
fn container_round_trips_and_refuses_bad_headers() {
    let b = make(&log(), "ORE-1", &[0, 1, 3], &key("operator"));
    let bytes = b.encode().unwrap();
    assert!(bytes.starts_with(MAGIC));
    assert_eq!(bytes[MAGIC.len()..MAGIC.len() + 4], VERSION.to_le_bytes());
    assert_eq!(Bundle::decode(&bytes).unwrap(), b);
    assert_eq!(Bundle::decode(&bytes).unwrap().encode().unwrap(), bytes);

    let mut wrong = bytes.clone();
    wrong[0] ^= 1;
    assert_eq!(Bundle::decode(&wrong), Err(BundleError::NotABundle));
    // A newer format, and version 1 (no completeness proof, signatures without the origin).
    for version in [3u8, 1] {
        let mut other = bytes.clone();
        other[MAGIC.len()] = version;
        assert_eq!(
            Bundle::decode(&other),
            Err(BundleError::UnsupportedVersion {
                found: u32::from(version)
            })
        );
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(matches!(
        Bundle::decode(&longer),
        Err(BundleError::Damaged(_))
    ));
    for cut in 0..bytes.len() {
        assert!(Bundle::decode(&bytes[..cut]).is_err(), "cut at {cut}");
    }
    let huge = vec![0u8; bundle::MAX_BUNDLE + 1];
    assert!(matches!(
        Bundle::decode(&huge),
        Err(BundleError::TooLarge { .. })
    ));
}

#[test]
fn every_single_byte_change_of_a_tiny_bundle_is_rejected() {
    let bytes = make(&log(), "ORE-1", &[0, 1, 3], &key("operator"))
        .encode()
        .unwrap();
    for i in 0..bytes.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut changed = bytes.clone();
            changed[i] ^= flip;
            let report =
                bundle::verify_bytes(&changed, Some(&operator_vkey()), &Policy::default(), now());
            if let Ok(report) = report {
                assert_eq!(
                    verdict(&report.findings),
                    Verdict::Fail,
                    "byte {i} ^ {flip:#04x} accepted"
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Garbage after a valid header is an error or a failed verdict, never a panic.
    #[test]
    fn garbage_bodies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..400)) {
        let mut bytes = MAGIC.to_vec();
        bytes.extend(VERSION.to_le_bytes());
        bytes.extend(body);
        if let Ok(report) = bundle::verify_bytes(&bytes, None, &Policy::default(), now()) {
            prop_assert_eq!(verdict(&report.findings), Verdict::Fail);
        }
    }

    /// `decode(encode(b)) == b` and `encode(decode(bytes)) == bytes` for arbitrary bundles.
    #[test]
    fn codec_round_trips(
        lot in "[A-Za-z0-9._:-]{1,20}",
        note in "[ -~]{0,80}",
        entries in proptest::collection::vec(
            (proptest::collection::vec(any::<u8>(), 0..64),
             proptest::collection::vec(any::<[u8; 32]>(), 0..4)),
            0..5),
    ) {
        let b = Bundle {
            lot: LotId::new(lot).unwrap(),
            checkpoint: note,
            entries: entries
                .into_iter()
                .map(|(entry, proof)| BundleEntry { entry, proof: proof.into_iter().map(Digest).collect() })
                .collect(),
            completeness: Completeness {
                last_entry: Vec::new(),
                last_proof: Vec::new(),
                subjects: Vec::new(),
            },
        };
        let bytes = b.encode().unwrap();
        let back = Bundle::decode(&bytes).unwrap();
        prop_assert_eq!(&back, &b);
        prop_assert_eq!(back.encode().unwrap(), bytes);
    }
}
