//! Golden vectors: the canonical bytes, event ids and signatures of one event of every kind
//! and of one log entry, pinned in `fixtures/golden/`. A change in any dependency (bincode,
//! serde, ed25519-dalek) that changes a signed or hashed byte fails here.
//!
//! Regenerate deliberately with `UPDATE_GOLDEN=1 cargo test -p ledger-core --test golden`,
//! and say why in the commit: every existing signature depends on these bytes.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers: a panic is a failing test"
)]

use std::path::PathBuf;

use ledger_core::codec;
use ledger_core::event::Event;
use ledger_core::hash::Digest;
use ledger_core::input::{NoContext, parse_event};
use ledger_core::keys::SecretKey;
use ledger_core::statement::{
    Entry, Origin, Statement, StatementJson, entry_hash, event_id, signing_message,
};
use ledger_core::timestamp::Timestamp;
use serde_json::{Value, json};

/// The deterministic **test** key used by the golden vectors.
fn test_key(name: &str) -> SecretKey {
    SecretKey::from_seed(&Digest::of(&[b"custody test key v1\0", name.as_bytes()]).0)
}

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/golden")
}

/// One input event of every kind, with every link, unit and nonce explicit.
fn inputs() -> Vec<(&'static str, String)> {
    let key = test_key("golden-miner").public_key().to_hex();
    let link = "11".repeat(32);
    let ship = "22".repeat(32);
    let new_key = test_key("golden-miner-2").public_key().to_hex();
    let request = "33".repeat(32);
    vec![
        ("enroll", format!(r#"{{"kind":"enroll","actor":"custody-operator","time":"2026-01-05T00:00:00Z","nonce":1,"party":"golden-miner","name":"Golden Miner (fictional)","country":"CD","roles":["miner","trader"],"keys":["{key}"]}}"#)),
        ("revoke", format!(r#"{{"kind":"revoke","actor":"custody-operator","time":"2026-01-06T00:00:00Z","nonce":2,"party":"golden-miner","key":"{key}"}}"#)),
        ("extract", r#"{"kind":"extract","actor":"golden-miner","time":"2026-03-02T08:15:00Z","nonce":3,"site":{"id":"KV-PIT-2","country":"CD","lat":-10.71,"lon":25.47,"method":"industrial"},"outputs":[{"lot":"KV-ORE-0001","material":"cobalt-ore","quantity":50000,"unit":"kg","content":{"Co":0.031}}],"emissions_kg_co2e":1200,"documents":[{"name":"assay","sha256":"a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1"}]}"#.to_owned()),
        ("recycle", r#"{"kind":"recycle","actor":"golden-recycler","time":"2026-05-15T00:00:00Z","nonce":4,"feedstock":"post-consumer","outputs":[{"lot":"RR-SUL-0001","material":"cobalt-sulfate","quantity":1000.5,"unit":"kg","content":{"Co":0.2,"Ni":0.015}}]}"#.to_owned()),
        ("ship", format!(r#"{{"kind":"ship","actor":"golden-miner","time":"2026-03-05T10:00:00Z","nonce":5,"to":"golden-refiner","lots":[{{"lot":"KV-ORE-0001","quantity":20000,"unit":"kg","from":"{link}"}}],"emissions_kg_co2e":310.25}}"#)),
        ("receive", format!(r#"{{"kind":"receive","actor":"golden-refiner","time":"2026-03-07T16:00:00Z","nonce":6,"shipment":"{ship}","lots":[{{"lot":"KV-ORE-0001","quantity":19950,"unit":"kg"}}]}}"#)),
        ("transform", format!(r#"{{"kind":"transform","actor":"golden-refiner","time":"2026-07-01T00:00:00Z","nonce":7,"inputs":[{{"lot":"VC-CAT-0001","quantity":10000,"unit":"kg","from":"{link}"}}],"outputs":[{{"lot":"AC-CELL-0001","material":"cell","quantity":20000,"unit":"pcs","unit_mass_kg":0.07,"content":{{"Co":0.025}},"capacity_kwh":0.3}}]}}"#)),
        ("attest", r#"{"kind":"attest","actor":"golden-auditor","time":"2026-02-12T00:00:00Z","nonce":8,"subject":{"party":"golden-miner"},"claim":"cap-opened","reference":"CAP-2026-014","severity":"major","valid_until":"2027-02-12T00:00:00Z"}"#.to_owned()),
        ("amend", r#"{"kind":"amend","actor":"custody-operator","time":"2026-08-01T00:00:00Z","nonce":9,"party":"golden-miner","name":"Golden Miner (fictional)","country":"CD","roles":["miner"]}"#.to_owned()),
        ("request-key", format!(r#"{{"kind":"request-key","actor":"golden-miner","time":"2026-08-02T00:00:00Z","nonce":10,"key":"{new_key}"}}"#)),
        ("add-key", format!(r#"{{"kind":"add-key","actor":"custody-operator","time":"2026-08-03T00:00:00Z","nonce":11,"party":"golden-miner","key":"{new_key}","request":"{request}"}}"#)),
    ]
}

/// The origin of the ledger the golden statements are signed for.
const ORIGIN: &str = "golden.custody.example/log";

fn origin() -> Origin {
    Origin::new(ORIGIN).unwrap()
}

fn statement_vector(kind: &str, input: &str) -> (Statement, Value) {
    let event: Event =
        parse_event(serde_json::from_str(input).unwrap(), &NoContext, &mut || 7).unwrap();
    let bytes = codec::encode(&event).unwrap();
    let statement = Statement::sign(event, &origin(), &test_key(kind)).unwrap();
    let vector = json!({
        "description": format!("one `{kind}` event: canonical bytes, event id and signature by the test key of \"{kind}\" for the ledger with origin \"{ORIGIN}\""),
        "origin": ORIGIN,
        "input": serde_json::from_str::<Value>(input).unwrap(),
        "statement": StatementJson::new(&statement).unwrap(),
        "canonical_hex": hex::encode(&bytes),
        "event_id": event_id(&bytes),
        "signing_message_hex": hex::encode(signing_message(&origin(), &event_id(&bytes))),
    });
    (statement, vector)
}

fn check(name: &str, actual: &Value) {
    let path = golden_dir().join(format!("{name}.json"));
    let text = serde_json::to_string_pretty(actual).unwrap() + "\n";
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(golden_dir()).unwrap();
        std::fs::write(&path, text).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    assert_eq!(
        text,
        expected,
        "golden vector {} changed: a signed or hashed byte moved",
        path.display()
    );
}

#[test]
fn valid_events_of_every_kind_match_their_golden_bytes() {
    for (kind, input) in inputs() {
        let (statement, vector) = statement_vector(kind, &input);
        // The stored bytes decode to the same event and re-encode to the same bytes.
        let bytes = hex::decode(vector["canonical_hex"].as_str().unwrap()).unwrap();
        let decoded: Event = codec::decode(&bytes).unwrap();
        assert_eq!(decoded, statement.event);
        assert_eq!(codec::encode(&decoded).unwrap(), bytes);
        // The signature verifies over the id recomputed from the bytes.
        statement
            .verify_signature(&origin(), &event_id(&bytes))
            .unwrap();
        check(&format!("valid_event_{}", kind.replace('-', "_")), &vector);
    }
}

#[test]
fn valid_log_entry_matches_its_golden_bytes() {
    let (_, extract) = inputs().into_iter().find(|(k, _)| *k == "extract").unwrap();
    let (statement, _) = statement_vector("extract", &extract);
    let entry = Entry {
        seq: 1,
        prev: Digest([0x33; 32]),
        recorded_at: Timestamp::parse("2026-03-02T09:00:00Z").unwrap(),
        subjects: Digest([0x44; 32]),
        statement,
    };
    let bytes = entry.encode().unwrap();
    assert_eq!(Entry::decode(&bytes).unwrap(), entry);
    let vector = json!({
        "description": "log entry #1 holding the golden extract statement: canonical bytes and entry (RFC 6962 leaf) hash",
        "seq": entry.seq,
        "prev": entry.prev,
        "recorded_at": entry.recorded_at,
        "entry_hex": hex::encode(&bytes),
        "entry_hash": entry_hash(&bytes),
    });
    check("valid_log_entry", &vector);
}

#[test]
fn fail_changed_bytes_do_not_verify() {
    let (_, extract) = inputs().into_iter().find(|(k, _)| *k == "extract").unwrap();
    let (statement, vector) = statement_vector("extract", &extract);
    let bytes = hex::decode(vector["canonical_hex"].as_str().unwrap()).unwrap();
    for i in 0..bytes.len() {
        let mut changed = bytes.clone();
        changed[i] ^= 0x01;
        // Either the bytes no longer decode, or they hash to an id the signature does not cover.
        if codec::decode::<Event>(&changed).is_ok() {
            assert!(
                statement
                    .verify_signature(&origin(), &event_id(&changed))
                    .is_err(),
                "flipped byte {i} still verifies"
            );
        }
    }
}
