//! The engine through its library API, with no CLI involved: receipts, refusals, typed
//! errors, and appends from many threads at once.

use std::sync::Arc;

use ledger::{Error, Ledger, Silent};
use ledger_core::id::LotId;
use ledger_core::keys::SecretKey;
use ledger_core::merkle::verify_inclusion;
use ledger_core::statement::Statement;
use ledger_scenario::demo::{self, TestKeys};
use ledger_store::{SledStore, Store};

/// The demo ledger with every party enrolled and the whole scenario appended.
fn demo_ledger() -> (tempfile::TempDir, Ledger<SledStore>, TestKeys) {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, keys) = demo::enrolled_ledger(&dir.path().join("ledger")).unwrap();
    let mut ctx = ledger.signing_context();
    demo::append_events(&ledger, &keys, &mut ctx, demo::SCENARIO).unwrap();
    drop(ctx);
    (dir, ledger, keys)
}

fn sign(ledger: &Ledger<SledStore>, key: &SecretKey, json: &str, nonce: u64) -> Vec<Statement> {
    let mut n = nonce;
    ledger
        .signing_context()
        .sign_text(json, "test", &|_| Ok(key), &mut || {
            n += 1;
            n
        })
        .unwrap()
}

fn extract(lot: &str) -> String {
    format!(
        r#"{{"kind":"extract","actor":"kivu-mining","time":"2026-03-02T08:15:00Z",
            "site":{{"id":"KV-PIT-2","country":"CD","lat":-10.71,"lon":25.47,"method":"industrial"}},
            "outputs":[{{"lot":"{lot}","material":"cobalt-ore","quantity":1000,"unit":"kg","content":{{"Co":0.031}}}}]}}"#
    )
}

#[test]
fn receipts_prove_each_statement_against_the_new_root() {
    let (_dir, ledger, keys) = demo_ledger();
    let before = ledger.store().head().unwrap();
    let text = format!("{}\n{}", extract("E-0001"), extract("E-0002"));
    let statements = sign(&ledger, &keys["kivu-mining"], &text, 1);
    let receipts = ledger
        .append(statements, ledger::now().unwrap(), &Silent)
        .unwrap();
    assert_eq!(receipts.len(), 2);
    let root = ledger.root(before.size + 2).unwrap();
    for (i, r) in receipts.iter().enumerate() {
        assert_eq!(r.seq, before.size + i as u64);
        assert_eq!(r.tree_size, before.size + 2);
        assert_eq!(r.root, root);
        assert_eq!(r.leaf_hash, ledger.entry(r.seq).unwrap().hash);
        verify_inclusion(r.seq, r.tree_size, &r.leaf_hash, &r.inclusion_path, &r.root).unwrap();
    }
}

#[test]
fn fail_a_refused_batch_is_a_typed_refusal_and_writes_nothing() {
    let (_dir, ledger, keys) = demo_ledger();
    let before = ledger.store().head().unwrap();
    // The second statement creates the lot the first one already created.
    let text = format!("{}\n{}", extract("E-0003"), extract("E-0003"));
    let statements = sign(&ledger, &keys["kivu-mining"], &text, 10);
    match ledger.append(statements, ledger::now().unwrap(), &Silent) {
        Err(Error::Refused(refused)) => {
            let codes: Vec<_> = refused
                .findings
                .iter()
                .map(|(i, f)| (*i, f.rule.code()))
                .collect();
            assert_eq!(codes, [(1, "CUS-CUS-006")]);
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(ledger.store().head().unwrap(), before);
    assert!(ledger.trace(&LotId::new("E-0003").unwrap()).is_err());
}

#[test]
fn fail_errors_say_what_a_caller_must_decide() {
    let (_dir, ledger, keys) = demo_ledger();
    let unknown = LotId::new("NO-SUCH-LOT").unwrap();
    assert!(
        matches!(ledger.trace(&unknown), Err(Error::NotFound(m)) if m == "lot NO-SUCH-LOT is not in the ledger")
    );
    let err = ledger.sign_checkpoint(&keys["kivu-mining"]).unwrap_err();
    assert!(
        matches!(&err, Error::NotAuthorized(m) if m.contains("may not act as operator")),
        "{err}"
    );
    let stranger = SecretKey::from_seed(&[9; 32]);
    assert!(matches!(
        ledger.sign_checkpoint(&stranger),
        Err(Error::NotAuthorized(_))
    ));
    assert!(matches!(
        ledger.append(Vec::new(), ledger::now().unwrap(), &Silent),
        Err(Error::BadInput(_))
    ));
    assert!(matches!(ledger.entry(10_000), Err(Error::NotFound(_))));
    assert!(matches!(
        ledger.inclusion_proof(0, Some(10_000)),
        Err(Error::BadInput(_))
    ));
}

#[test]
fn appends_from_many_threads_take_turns_and_all_land() {
    let (_dir, ledger, _keys) = demo_ledger();
    let before = ledger.store().head().unwrap().size;
    let ledger = Arc::new(ledger);
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let ledger = Arc::clone(&ledger);
            std::thread::spawn(move || {
                let key = demo::test_key("kivu-mining");
                let mut seqs = Vec::new();
                for i in 0..5u64 {
                    let json = extract(&format!("T{t}-{i}"));
                    let statements = sign(&ledger, &key, &json, 100 * t + i);
                    let receipts = ledger
                        .append(statements, ledger::now().unwrap(), &Silent)
                        .unwrap();
                    seqs.extend(receipts.iter().map(|r| r.seq));
                }
                seqs
            })
        })
        .collect();
    let mut seqs: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (before..before + 20).collect::<Vec<_>>());
    let report = ledger.verify(&Silent).unwrap();
    assert_eq!(report.counts.errors, 0, "{:?}", report.findings);
}
