//! The one signature acceptance rule (`ledger_core::keys`' module doc, `docs/format.md` §3)
//! against C2SP/CCTV's 914 Ed25519 edge-case vectors (`shared/vectors/ed25519/
//! ed25519vectors.json`, see its `SOURCES.md`): low-order and non-canonical keys `A` and
//! commitments `R`, mixed-order points, and signatures that only a cofactored equation
//! accepts.
//!
//! The rule: the key is a canonical encoding of a point of the prime-order subgroup other
//! than the identity; `S < L`; `R` is a canonical encoding of none of the eight small-order
//! points; and the cofactored (ZIP-215) equation holds. Every path that checks a signature
//! gives the rule's answer for every vector, alone and in batches:
//!
//! - key parsing wherever a key enters (`PublicKey::from_bytes` / `from_hex` / JSON / the
//!   codec / a checkpoint verifier key), then the single check (`PublicKey::verify`);
//! - the statement check (`KeyBytes::verify`, behind `Statement::verify_signature`) and the
//!   key cache every batched path uses (`verify::KeyCache`);
//! - the batch check (`keys::verify_batch`, behind `Checked::new_batch` and so append,
//!   whole-ledger verify, `verify --lot` and bundles), each vector alone, in mixed
//!   batches, and with one bad signature among good ones; and `Checked::new_batch` itself
//!   against `Checked::new` on real statements, one of them signed for another ledger.

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
use ledger_core::check::Checked;
use ledger_core::codec;
use ledger_core::hash::Digest;
use ledger_core::input::{NoContext, parse_event};
use ledger_core::keys::{
    KeyBytes, KeyError, PublicKey, SMALL_ORDER_ENCODINGS, SecretKey, Signature, SignatureCheck,
    batch_holds, verify_batch,
};
use ledger_core::note::NoteVerifier;
use ledger_core::statement::{Origin, Statement};
use ledger_core::verify::KeyCache;
use serde::Deserialize;

common::conformance_main!(
    every_vector_gets_the_answer_its_flags_prescribe,
    the_rule_differs_from_verify_strict_only_on_key_holder_signatures,
    append_replay_and_enrolled_key_checks_follow_the_rule,
    every_way_a_key_enters_the_ledger_applies_the_same_key_check,
    batch_and_single_checks_agree_alone_and_in_mixed_batches,
    one_bad_signature_fails_the_batch_equation_and_only_itself,
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

    /// What the rule prescribes for this vector, from its flags alone:
    ///
    /// - `low_order_A`, `non_canonical_A` and `low_order_component_A` (CCTV sets the last
    ///   for every `A` that is not in the prime-order subgroup, small-order ones included):
    ///   the key is refused when it is parsed, so the signature is refused;
    /// - `low_order_R`, `non_canonical_R`: refused by the byte-level check of `R`;
    /// - `low_order_component_R` alone (a mixed-order `R`, canonical) and
    ///   `low_order_residue` (`R` differs from `[S]B - [k]A` by a small-order point): the
    ///   cofactored equation multiplies the difference by 8, which kills it, so these are
    ///   accepted. Only the key holder can make them (`S` needs the secret scalar);
    /// - `reencoded_k` only comes with a non-canonical `A` or `R`, refused anyway.
    ///
    /// Every CCTV vector satisfies the cofactored equation computed over its bytes as
    /// given, except those with `reencoded_k`, so nothing else can refuse one.
    fn expected(&self) -> bool {
        ![
            "low_order_A",
            "non_canonical_A",
            "low_order_component_A",
            "low_order_R",
            "non_canonical_R",
        ]
        .iter()
        .any(|flag| self.has(flag))
    }

    fn signature(&self) -> Signature {
        Signature(self.sig)
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

/// The single check of an enrolled key (`enroll` parses keys as `PublicKey`).
fn single_path(case: &Case) -> Result<(), KeyError> {
    PublicKey::from_bytes(&case.key)?.verify(&case.msg, &case.signature())
}

/// The statement path (`Statement::verify_signature`): the signer as unchecked
/// `KeyBytes`, checked when the signature is.
fn statement_path(case: &Case) -> Result<(), KeyError> {
    KeyBytes(case.key).verify(&case.msg, &case.signature())
}

/// The key cache of the batched paths (`Checked::new_batch`), then the single check.
fn cached_path(cache: &KeyCache, case: &Case) -> Result<(), KeyError> {
    cache
        .get(&KeyBytes(case.key))
        .ok_or(KeyError::InvalidPoint)?
        .verify(&case.msg, &case.signature())
}

/// What the batched paths do with `cases`: keys through the cache (a refused key leaves
/// the signature refused, as in `Checked::new_batch`), the rest in one `verify_batch`.
fn batch_path(cache: &KeyCache, cases: &[&Case]) -> Vec<bool> {
    let keys: Vec<Option<PublicKey>> = cases.iter().map(|c| cache.get(&KeyBytes(c.key))).collect();
    let sigs: Vec<Signature> = cases.iter().map(|c| c.signature()).collect();
    let (indices, checks): (Vec<usize>, Vec<SignatureCheck<'_>>) = keys
        .iter()
        .enumerate()
        .filter_map(|(i, key)| {
            Some((
                i,
                SignatureCheck {
                    key: key.as_ref()?,
                    message: &cases[i].msg,
                    signature: &sigs[i],
                },
            ))
        })
        .unzip();
    let mut results = vec![false; cases.len()];
    for (i, ok) in indices.into_iter().zip(verify_batch(&checks)) {
        results[i] = ok;
    }
    results
}

fn every_vector_gets_the_answer_its_flags_prescribe(dir: &Path) -> TestResult {
    let cases = load(dir);
    let mut accepted = Vec::new();
    for case in &cases {
        assert_eq!(
            single_path(case).is_ok(),
            case.expected(),
            "vector {} with flags {:?}",
            case.number,
            case.flags
        );
        if case.expected() {
            accepted.push(case.number);
        }
    }
    // The one plain vector, and 7 with a mixed-order R whose equation holds only
    // cofactored (`low_order_component_R`, `low_order_residue`).
    assert_eq!(accepted.len(), 8, "accepted vectors: {accepted:?}");
    // The eight small-order encodings are what the rule says they are: distinct canonical
    // encodings of points of small order (E[8] has exactly eight points).
    let distinct: BTreeSet<_> = SMALL_ORDER_ENCODINGS.iter().collect();
    assert_eq!(distinct.len(), 8);
    for bytes in &SMALL_ORDER_ENCODINGS {
        let point = VerifyingKey::from_bytes(bytes).unwrap();
        assert!(point.is_weak(), "{}", hex::encode(bytes));
        assert_eq!(point.to_edwards().compress().as_bytes(), bytes);
    }
    Ok(())
}

/// ed25519-dalek's `verify_strict` after this rule's key check would have been before it
/// (canonical key, not of small order): the rule before the ZIP-215 rule.
fn verify_strict(case: &Case) -> bool {
    let Ok(vk) = VerifyingKey::from_bytes(&case.key) else {
        return false;
    };
    vk.to_edwards().compress().to_bytes() == case.key
        && !vk.is_weak()
        && vk
            .verify_strict(&case.msg, &DalekSignature::from_bytes(&case.sig))
            .is_ok()
}

fn the_rule_differs_from_verify_strict_only_on_key_holder_signatures(dir: &Path) -> TestResult {
    let cases = load(dir);
    let mut rule_only = Vec::new();
    let mut strict_only = Vec::new();
    for case in &cases {
        match (single_path(case).is_ok(), verify_strict(case)) {
            (true, false) => rule_only.push(case.number),
            (false, true) => strict_only.push(case.number),
            _ => {}
        }
    }
    // The rule accepts a mixed-order R whose small-order part the cofactor kills; the
    // cofactorless equation of verify_strict does not. Making one takes the secret key.
    for number in &rule_only {
        let case = &cases[*number];
        assert!(
            case.has("low_order_component_R") && case.has("low_order_residue"),
            "vector {number} ({:?})",
            case.flags
        );
    }
    // verify_strict accepts a key with a small-order component (canonical, not of small
    // order) whose signatures satisfy the cofactorless equation; the rule refuses the key
    // at enrollment. Such a key is made on purpose by its holder.
    for number in &strict_only {
        let case = &cases[*number];
        assert!(
            case.has("low_order_component_A") && !case.has("low_order_A"),
            "vector {number} ({:?})",
            case.flags
        );
    }
    // Pinned, as `docs/format.md` §3 states them.
    assert_eq!(
        (rule_only.len(), strict_only.len()),
        (7, 42),
        "the rule alone accepts {rule_only:?}; verify_strict alone accepts {strict_only:?}"
    );
    Ok(())
}

fn append_replay_and_enrolled_key_checks_follow_the_rule(dir: &Path) -> TestResult {
    let cases = load(dir);
    let cache = KeyCache::default();
    for case in &cases {
        let expected = case.expected();
        assert_eq!(
            statement_path(case).is_ok(),
            expected,
            "vector {}: statement path",
            case.number
        );
        // Twice through the cache: the cached answer is the first one.
        for pass in ["first", "cached"] {
            assert_eq!(
                cached_path(&cache, case).is_ok(),
                expected,
                "vector {}: cache, {pass}",
                case.number
            );
        }
        // Refused keys are refused for the right reason.
        let key = PublicKey::from_bytes(&case.key);
        if case.has("low_order_A") {
            assert!(
                matches!(key, Err(KeyError::WeakKey | KeyError::InvalidPoint)),
                "vector {}: {key:?}",
                case.number
            );
        } else if case.has("non_canonical_A") {
            assert!(
                matches!(key, Err(KeyError::NonCanonical | KeyError::InvalidPoint)),
                "vector {}: {key:?}",
                case.number
            );
        } else if case.has("low_order_component_A") {
            assert_eq!(key, Err(KeyError::MixedOrder), "vector {}", case.number);
        } else {
            assert!(key.is_ok(), "vector {}: {key:?}", case.number);
        }
    }
    Ok(())
}

fn every_way_a_key_enters_the_ledger_applies_the_same_key_check(dir: &Path) -> TestResult {
    let cases = load(dir);
    for case in &cases {
        let acceptable = !["low_order_A", "non_canonical_A", "low_order_component_A"]
            .iter()
            .any(|flag| case.has(flag));
        let from_bytes = PublicKey::from_bytes(&case.key).ok();
        let from_hex = PublicKey::from_hex(&hex::encode(case.key)).ok();
        // JSON (`signer`, enrollments in supplier input) and the canonical codec (stored
        // entries) both deserialize through the same check.
        let from_json: Option<PublicKey> =
            serde_json::from_value(serde_json::json!(hex::encode(case.key))).ok();
        let from_codec: Option<PublicKey> = codec::decode(&case.key).ok();
        assert_eq!(from_bytes.is_some(), acceptable, "vector {}", case.number);
        assert_eq!(from_hex, from_bytes, "vector {}: hex", case.number);
        assert_eq!(from_json, from_bytes, "vector {}: JSON", case.number);
        assert_eq!(from_codec, from_bytes, "vector {}: codec", case.number);
        // A checkpoint verifier key (C2SP signed notes use the same rule).
        let note_key = VerifyingKey::from_bytes(&case.key)
            .ok()
            .and_then(|k| NoteVerifier::new("log.example", k).ok());
        assert_eq!(
            note_key.is_some(),
            acceptable,
            "vector {}: note verifier key",
            case.number
        );
    }
    Ok(())
}

fn batch_and_single_checks_agree_alone_and_in_mixed_batches(dir: &Path) -> TestResult {
    let cases = load(dir);
    let cache = KeyCache::default();
    let all: Vec<&Case> = cases.iter().collect();
    // Each vector alone.
    for case in &all {
        assert_eq!(
            batch_path(&cache, &[case]),
            vec![case.expected()],
            "vector {} alone",
            case.number
        );
    }
    // In consecutive batches of 64 and of 256, which mix refused and accepted vectors.
    for size in [64, 256] {
        for chunk in all.chunks(size) {
            let expected: Vec<bool> = chunk.iter().map(|c| c.expected()).collect();
            assert_eq!(batch_path(&cache, chunk), expected, "batches of {size}");
        }
    }
    // The accepted ones, mixed-order R included, pass as one batch equation: the cofactor
    // kills their small-order parts in the batch as in the single check.
    let accepted: Vec<&Case> = all.iter().copied().filter(|c| c.expected()).collect();
    assert_eq!(batch_path(&cache, &accepted), vec![true; accepted.len()]);
    let keys: Vec<PublicKey> = accepted
        .iter()
        .map(|c| PublicKey::from_bytes(&c.key).unwrap())
        .collect();
    let sigs: Vec<Signature> = accepted.iter().map(|c| c.signature()).collect();
    let checks: Vec<SignatureCheck<'_>> = accepted
        .iter()
        .enumerate()
        .map(|(i, c)| SignatureCheck {
            key: &keys[i],
            message: &c.msg,
            signature: &sigs[i],
        })
        .collect();
    assert!(batch_holds(&checks), "the accepted vectors as one equation");
    // And each refused vector whose key is acceptable (a bad R), put among the accepted
    // ones at every position, fails alone.
    for bad in all.iter().filter(|c| !c.expected()) {
        if PublicKey::from_bytes(&bad.key).is_err() {
            continue;
        }
        for at in 0..=accepted.len() {
            let mut batch = accepted.clone();
            batch.insert(at, bad);
            let mut expected = vec![true; batch.len()];
            expected[at] = false;
            assert_eq!(
                batch_path(&cache, &batch),
                expected,
                "vector {} at {at} among the accepted",
                bad.number
            );
        }
    }
    Ok(())
}

const ORIGIN: &str = "vectors.test/log";

fn key(name: &str) -> SecretKey {
    SecretKey::from_seed(&Digest::of(&[b"custody test key v1\0", name.as_bytes()]).0)
}

/// `n` enrollments signed by a handful of operator keys (the key reuse of a real ledger).
fn statements(n: usize, origin: &Origin) -> Vec<Statement> {
    let signers: Vec<SecretKey> = (0..5).map(|i| key(&format!("operator-{i}"))).collect();
    (0..n)
        .map(|i| {
            let party = key(&format!("party-{i}")).public_key().to_hex();
            let json = format!(
                r#"{{"kind":"enroll","actor":"operator","time":"2026-01-01T00:00:00Z","nonce":{i},"party":"party-{i}","name":"Party {i}","country":"BE","roles":["trader"],"keys":["{party}"]}}"#
            );
            let event =
                parse_event(serde_json::from_str(&json).unwrap(), &NoContext, &mut || 7).unwrap();
            Statement::sign(event, origin, &signers[i % signers.len()]).unwrap()
        })
        .collect()
}

fn one_bad_signature_fails_the_batch_equation_and_only_itself(dir: &Path) -> TestResult {
    // The vectors are not needed here, but the harness gives this test its place beside
    // the vector tests of the batched paths it completes.
    let _ = dir;
    let origin = Origin::new(ORIGIN)?;
    let elsewhere = Origin::new("another.test/log")?;
    let cache = KeyCache::default();
    let good = statements(600, &origin);
    for bad_at in [0, 255, 256, 599] {
        let mut batch = good.clone();
        // Signed with the right key for another ledger: well-formed, and fails only the
        // equation, so the batch equation fails and the fallback must name it.
        batch[bad_at] = statements(bad_at + 1, &elsewhere).pop().unwrap();
        let batched = Checked::new_batch(batch.clone(), &origin, &cache);
        assert_eq!(batched.len(), batch.len());
        for (i, (statement, checked)) in batch.into_iter().zip(batched).enumerate() {
            let single = Checked::new(statement, &origin, &cache)?;
            let checked = checked?;
            assert_eq!(checked.id(), single.id());
            assert_eq!(checked.is_sound(), single.is_sound(), "statement {i}");
            assert_eq!(
                checked.is_sound(),
                i != bad_at,
                "statement {i}, bad at {bad_at}"
            );
        }
    }
    // Garbage where a signature or signer should be: refused in a batch as alone.
    let mut batch = good[..300].to_vec();
    batch[10].signature = Signature([0; 64]);
    batch[20].signer = KeyBytes([0; 32]);
    batch[30].signature.0[63] |= 0xf0; // S >= L
    let sound: Vec<bool> = Checked::new_batch(batch, &origin, &cache)
        .into_iter()
        .map(|c| c.map(|c| c.is_sound()))
        .collect::<Result<_, _>>()?;
    for (i, ok) in sound.iter().enumerate() {
        assert_eq!(*ok, ![10, 20, 30].contains(&i), "statement {i}");
    }
    Ok(())
}
