//! The one signature acceptance rule (`ledger_core::keys`' module doc) against C2SP/CCTV's
//! 914 Ed25519 edge-case vectors (`shared/vectors/ed25519/ed25519vectors.json`, see its
//! `SOURCES.md`): low-order and non-canonical keys `A` and commitments `R`, mixed-order
//! points, and signatures that only a cofactored equation accepts.
//!
//! The rule: the key is a canonical encoding of a point that is not of small order, and the
//! signature is accepted iff `verify_strict` accepts it. Every path that checks a signature
//! must give the rule's answer for every vector:
//!
//! - key parsing wherever a key enters (`PublicKey::from_bytes` / `from_hex` / JSON / the
//!   codec), and the single check of an enrolled key (`PublicKey::verify`);
//! - the statement check at `append` (`KeyBytes::verify`, behind
//!   `Statement::verify_signature`) and in whole-ledger replay and offline bundles
//!   (`verify::KeyCache` then `PublicKey::verify`, behind `verify::prepare`);
//! - batch verification. `ledger_core::verify` has no batched path (it checks each
//!   signature singly, in parallel), so this file pins how `ed25519_dalek::verify_batch`
//!   itself differs from the rule and checks [`reference_batched`], the pre-filter + batch +
//!   fallback scheme a batched path must implement to agree with the rule. If a batched path
//!   lands, run the same vectors through it here.

#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "a test fails loudly on unreadable or malformed vectors"
)]

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::TestResult;
use ed25519_dalek::{Signature as DalekSignature, VerifyingKey};
use ledger_core::codec;
use ledger_core::keys::{KeyBytes, KeyError, PublicKey, Signature};
use ledger_core::verify::KeyCache;
use serde::Deserialize;

common::conformance_main!(
    the_rule_matches_the_vector_flags,
    append_replay_and_enrolled_key_checks_follow_the_rule,
    every_way_a_key_enters_the_ledger_applies_the_same_key_check,
    plain_verify_batch_disagrees_with_the_rule_both_ways,
    a_batched_path_with_point_checks_and_fallback_follows_the_rule,
);

#[derive(Deserialize)]
struct Vector {
    number: usize,
    key: String,
    sig: String,
    msg: String,
    flags: Option<Vec<String>>,
}

struct Case {
    number: usize,
    key: [u8; 32],
    sig: [u8; 64],
    msg: Vec<u8>,
    flags: BTreeSet<String>,
}

impl Case {
    fn has(&self, flag: &str) -> bool {
        self.flags.contains(flag)
    }
}

fn load(dir: &Path) -> Vec<Case> {
    let path = dir.join("ed25519").join("ed25519vectors.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let vectors: Vec<Vector> = serde_json::from_str(&text).unwrap();
    let cases: Vec<Case> = vectors
        .into_iter()
        .map(|v| {
            let mut key = [0u8; 32];
            let mut sig = [0u8; 64];
            hex::decode_to_slice(&v.key, &mut key).unwrap();
            hex::decode_to_slice(&v.sig, &mut sig).unwrap();
            Case {
                number: v.number,
                key,
                sig,
                msg: v.msg.into_bytes(),
                flags: v.flags.unwrap_or_default().into_iter().collect(),
            }
        })
        .collect();
    assert_eq!(
        cases.len(),
        914,
        "{} should hold the 914 C2SP/CCTV vectors",
        path.display()
    );
    cases
}

/// The documented rule, computed straight from ed25519-dalek, independently of
/// `ledger_core::keys`.
fn rule_key(key: &[u8; 32]) -> Option<VerifyingKey> {
    let vk = VerifyingKey::from_bytes(key).ok()?;
    let canonical = vk.to_edwards().compress().to_bytes() == *key;
    (canonical && !vk.is_weak()).then_some(vk)
}

fn rule(case: &Case) -> bool {
    rule_key(&case.key).is_some_and(|vk| {
        vk.verify_strict(&case.msg, &DalekSignature::from_bytes(&case.sig))
            .is_ok()
    })
}

/// A checked key's single check: enrolled keys (`enroll` parses them as `PublicKey`).
fn single_path(case: &Case) -> Result<(), KeyError> {
    PublicKey::from_bytes(&case.key)?.verify(&case.msg, &Signature(case.sig))
}

/// The statement path at append (`Statement::verify_signature`): the signer as unchecked
/// `KeyBytes`, checked when the signature is.
fn statement_path(case: &Case) -> Result<(), KeyError> {
    KeyBytes(case.key).verify(&case.msg, &Signature(case.sig))
}

/// The whole-ledger replay path (`verify::prepare`): the signer's key from the shared
/// `KeyCache`, then the same check as `Statement::verify_signature_with`.
fn replay_path(cache: &KeyCache, case: &Case) -> Result<(), KeyError> {
    cache
        .get(&KeyBytes(case.key))
        .ok_or(KeyError::InvalidPoint)?
        .verify(&case.msg, &Signature(case.sig))
}

fn the_rule_matches_the_vector_flags(dir: &Path) -> TestResult {
    let cases = load(dir);
    let mut accepted = Vec::new();
    for case in &cases {
        // What the flags say verify_strict-with-checked-keys must do: refuse small-order
        // and non-canonical A and R, and anything only the cofactored equation accepts.
        // Mixed-order points (`low_order_component_*`) are accepted when the cofactorless
        // equation holds: verify_strict does not test for torsion components.
        let expected = ![
            "low_order_A",
            "non_canonical_A",
            "low_order_R",
            "non_canonical_R",
            "low_order_residue",
        ]
        .iter()
        .any(|flag| case.has(flag));
        assert_eq!(
            rule(case),
            expected,
            "vector {} with flags {:?}",
            case.number,
            case.flags
        );
        if expected {
            accepted.push(case.number);
        }
    }
    // 35 with mixed-order A and R, 7 with mixed-order A only, and the one plain vector.
    assert_eq!(accepted.len(), 43, "accepted vectors: {accepted:?}");
    Ok(())
}

fn append_replay_and_enrolled_key_checks_follow_the_rule(dir: &Path) -> TestResult {
    let cases = load(dir);
    let cache = KeyCache::default();
    for case in &cases {
        assert_eq!(
            statement_path(case).is_ok(),
            rule(case),
            "vector {}: statement path",
            case.number
        );
        // Twice through the cache: the cached answer is the first one.
        assert_eq!(
            replay_path(&cache, case).is_ok(),
            rule(case),
            "vector {}: replay path",
            case.number
        );
        assert_eq!(
            replay_path(&cache, case).is_ok(),
            rule(case),
            "vector {}: cached",
            case.number
        );
        let ours = single_path(case);
        assert_eq!(
            ours.is_ok(),
            rule(case),
            "vector {} ({:?}): {ours:?}",
            case.number,
            case.flags
        );
        // Refused keys are refused for the right reason.
        if case.has("low_order_A") {
            assert!(
                matches!(
                    PublicKey::from_bytes(&case.key),
                    Err(KeyError::WeakKey | KeyError::InvalidPoint)
                ),
                "vector {}",
                case.number
            );
        }
    }
    Ok(())
}

fn every_way_a_key_enters_the_ledger_applies_the_same_key_check(dir: &Path) -> TestResult {
    let cases = load(dir);
    for case in &cases {
        let from_bytes = PublicKey::from_bytes(&case.key).ok();
        let from_hex = PublicKey::from_hex(&hex::encode(case.key)).ok();
        // JSON (`signer`, enrollments in supplier input) and the canonical codec (stored
        // entries) both deserialize through the same check.
        let from_json: Option<PublicKey> =
            serde_json::from_value(serde_json::json!(hex::encode(case.key))).ok();
        let from_codec: Option<PublicKey> = codec::decode(&case.key).ok();
        assert_eq!(
            from_bytes.is_some(),
            rule_key(&case.key).is_some(),
            "vector {}",
            case.number
        );
        assert_eq!(from_hex, from_bytes, "vector {}: hex", case.number);
        assert_eq!(from_json, from_bytes, "vector {}: JSON", case.number);
        assert_eq!(from_codec, from_bytes, "vector {}: codec", case.number);
    }
    Ok(())
}

/// What plain `ed25519_dalek::verify_batch` says about one vector on its own, for keys
/// that `ledger_core` accepts (a refused key never reaches a batch).
fn dalek_batch_alone(case: &Case) -> Option<bool> {
    let key = PublicKey::from_bytes(&case.key).ok()?;
    let sig = DalekSignature::from_bytes(&case.sig);
    Some(ed25519_dalek::verify_batch(&[&case.msg[..]], &[sig], &[*key.verifying_key()]).is_ok())
}

fn plain_verify_batch_disagrees_with_the_rule_both_ways(dir: &Path) -> TestResult {
    let cases = load(dir);
    let mut batch_only = Vec::new();
    let mut strict_only = Vec::new();
    for case in &cases {
        let Some(batch) = dalek_batch_alone(case) else {
            continue;
        };
        match (batch, rule(case)) {
            (true, false) => batch_only.push(case.number),
            (false, true) => strict_only.push(case.number),
            _ => {}
        }
    }
    // Batch verification is cofactorless with deterministic 128-bit weights `z` and checks
    // no points. It accepts small-order and non-canonical R, and a torsion component
    // whenever its weight happens to kill it...
    for number in &batch_only {
        let case = &cases[*number];
        assert!(
            case.has("low_order_R") || case.has("non_canonical_R") || case.has("low_order_residue"),
            "vector {number} ({:?})",
            case.flags
        );
    }
    // ...and it refuses mixed-order points that verify_strict accepts: the torsion parts
    // cancel in `R + [k]A` but not in `[z]R + [z*k mod L]A`, because reducing mod L (odd)
    // changes a multiple of a torsion point.
    for number in &strict_only {
        let case = &cases[*number];
        assert!(
            case.has("low_order_component_A") || case.has("low_order_component_R"),
            "vector {number} ({:?})",
            case.flags
        );
    }
    // Pinned: a change means dalek's batch equation changed; re-check the batched path.
    assert_eq!(
        (batch_only.len(), strict_only.len()),
        (BATCH_ONLY, STRICT_ONLY),
        "verify_batch alone accepts {batch_only:?}, which verify_strict refuses, and refuses \
         {strict_only:?}, which it accepts"
    );
    Ok(())
}

/// Vectors plain `verify_batch` accepts alone and the rule refuses.
const BATCH_ONLY: usize = 42;
/// Vectors the rule accepts and plain `verify_batch` refuses alone.
const STRICT_ONLY: usize = 34;

/// Whether `R`/`A` may go into a cofactorless batch: a canonical encoding of a point of
/// the prime-order subgroup that is not the identity. Anything else takes the single check.
fn batchable_point(bytes: &[u8; 32]) -> bool {
    match VerifyingKey::from_bytes(bytes) {
        Ok(point) => {
            let p = point.to_edwards();
            p.compress().to_bytes() == *bytes && !point.is_weak() && p.is_torsion_free()
        }
        Err(_) => false,
    }
}

/// The scheme a batched path must implement to agree with the rule: keys parsed by
/// [`PublicKey`]; signatures whose `R` or key is not a canonical, torsion-free point go to
/// the single check; the rest are verified in one `verify_batch`, and if it fails, each
/// is checked singly. For torsion-free points the cofactorless batch equation holds iff
/// every single equation does (up to the 2^-128 chance of the random weights).
fn reference_batched(cases: &[&Case]) -> Vec<bool> {
    let mut results = vec![false; cases.len()];
    let mut batch = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let Ok(key) = PublicKey::from_bytes(&case.key) else {
            continue;
        };
        let r: [u8; 32] = case.sig[..32].try_into().unwrap();
        if batchable_point(&r) && batchable_point(key.as_bytes()) {
            batch.push((i, key));
        } else {
            results[i] = key.verify(&case.msg, &Signature(case.sig)).is_ok();
        }
    }
    let messages: Vec<&[u8]> = batch.iter().map(|(i, _)| &cases[*i].msg[..]).collect();
    let signatures: Vec<DalekSignature> = batch
        .iter()
        .map(|(i, _)| DalekSignature::from_bytes(&cases[*i].sig))
        .collect();
    let keys: Vec<VerifyingKey> = batch.iter().map(|(_, k)| *k.verifying_key()).collect();
    let all_ok =
        !batch.is_empty() && ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok();
    for (i, key) in &batch {
        results[*i] = all_ok
            || key
                .verify(&cases[*i].msg, &Signature(cases[*i].sig))
                .is_ok();
    }
    results
}

fn a_batched_path_with_point_checks_and_fallback_follows_the_rule(dir: &Path) -> TestResult {
    let cases = load(dir);
    let all: Vec<&Case> = cases.iter().collect();
    // Each vector alone, then in batches of 64 that mix refused and accepted vectors.
    for case in &all {
        assert_eq!(
            reference_batched(&[case]),
            vec![rule(case)],
            "vector {}",
            case.number
        );
    }
    for chunk in all.chunks(64) {
        let expected: Vec<bool> = chunk.iter().map(|c| rule(c)).collect();
        assert_eq!(reference_batched(chunk), expected);
    }
    // And a batch of only the accepted ones, which must pass as one batch.
    let accepted: Vec<&Case> = all.iter().copied().filter(|c| rule(c)).collect();
    assert_eq!(reference_batched(&accepted), vec![true; accepted.len()]);
    Ok(())
}
