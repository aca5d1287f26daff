//! A checkpoint the auditor kept from earlier, against the checkpoint a verdict rests on
//! (`verify --bundle --checkpoint FILE`): the log may only have grown since, so the newer
//! checkpoint must be at least as large and consistent with the kept one. A fork or a
//! rolled-back copy cannot show both.

use crate::finding::{Finding, Rule};
use crate::hash::Digest;
use crate::merkle::verify_consistency;
use crate::note::{Checkpoint, NoteVerifier, open_checkpoint};

/// Gives the consistency proof from the first size to the second, or why it cannot.
pub type ProofSource<'a> = &'a dyn Fn(u64, u64) -> Result<Vec<Digest>, String>;

fn finding(message: String) -> Finding {
    Finding::new(Rule::CheckpointMismatch, message)
}

/// What the checkpoint `held` (named `label` in messages, signed by `log`) says of
/// `current`: `None` when `current` is the same tree or a consistent larger one, else the
/// CUS-INT-007 finding. A larger `current` needs a consistency proof from `proof`.
pub fn check(
    label: &str,
    held: &str,
    log: &NoteVerifier,
    current: &Checkpoint,
    proof: Option<ProofSource<'_>>,
) -> Option<Finding> {
    let old = match open_checkpoint(held.as_bytes(), log, &[], log.name()) {
        Ok(opened) => opened.checkpoint,
        Err(e) => {
            return Some(finding(format!(
                "the checkpoint you hold in {label} does not verify under the operator key {}: {e}",
                log.vkey()
            )));
        }
    };
    let (h, s) = (old.size(), current.size());
    if h > s {
        return Some(finding(format!(
            "the checkpoint is for {s} entries, older than the one you hold in {label} ({h} \
             entries): it may hide what the log recorded since, or come from a rolled-back copy"
        )));
    }
    if h == s {
        return (old.root() != current.root()).then(|| {
            finding(format!(
                "the checkpoint and the one you hold in {label} are both for {s} entries but \
                 have different roots: the log forked"
            ))
        });
    }
    let Some(proof) = proof else {
        return Some(finding(format!(
            "the checkpoint ({s} entries) is larger than the one you hold in {label} ({h} \
             entries): give --server URL to fetch the consistency proof"
        )));
    };
    let shown = |why: String| {
        finding(format!(
            "the checkpoint ({s} entries) is not shown consistent with the one you hold in \
             {label} ({h} entries): {why}"
        ))
    };
    match proof(h, s) {
        Err(why) => Some(shown(why)),
        Ok(path) => verify_consistency(h, s, &path, old.root(), current.root())
            .err()
            .map(|e| shown(format!("the proof does not verify ({e}): the log forked"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{MemoryTree, consistency_proof, leaf_hash, root};
    use crate::note::{NoteSigner, sign_checkpoint};
    use ed25519_dalek::SigningKey;

    const ORIGIN: &str = "example.com/log";

    /// Checkpoints of the first `sizes` leaves of one tree, and a forked tree's.
    fn setup() -> (SigningKey, MemoryTree, MemoryTree) {
        let (mut tree, mut fork) = (MemoryTree::new(), MemoryTree::new());
        for i in 0u8..8 {
            tree.push(leaf_hash(&[i]));
            fork.push(leaf_hash(&[if i < 4 { i } else { 100 + i }]));
        }
        (SigningKey::from_bytes(&[9; 32]), tree, fork)
    }

    fn checkpoint(tree: &MemoryTree, size: u64) -> Checkpoint {
        Checkpoint::new(ORIGIN, size, root(size, tree).unwrap(), vec![]).unwrap()
    }

    #[test]
    fn a_held_checkpoint_passes_the_same_tree_and_a_consistent_larger_one() {
        let (key, tree, fork) = setup();
        let signer = NoteSigner::new(ORIGIN, &key).unwrap();
        let log = signer.verifier();
        let held = sign_checkpoint(&checkpoint(&tree, 5), &signer).unwrap();
        assert_eq!(check("h", &held, &log, &checkpoint(&tree, 5), None), None);
        let good = |a: u64, b: u64| consistency_proof(a, b, &tree).map_err(|e| e.to_string());
        assert_eq!(
            check("h", &held, &log, &checkpoint(&tree, 8), Some(&good)),
            None
        );

        let code = |f: Option<Finding>| f.map(|f| f.message).unwrap_or_default();
        assert!(code(check("h", &held, &log, &checkpoint(&tree, 3), None)).contains("older"));
        assert!(code(check("h", &held, &log, &checkpoint(&fork, 5), None)).contains("forked"));
        assert!(code(check("h", &held, &log, &checkpoint(&tree, 8), None)).contains("--server"));
        let forked = |a: u64, b: u64| consistency_proof(a, b, &fork).map_err(|e| e.to_string());
        let said = code(check(
            "h",
            &held,
            &log,
            &checkpoint(&fork, 8),
            Some(&forked),
        ));
        assert!(said.contains("does not verify"), "{said}");
        let down = |_: u64, _: u64| Err("the server is down".to_owned());
        assert!(code(check("h", &held, &log, &checkpoint(&tree, 8), Some(&down))).contains("down"));
        let other_key = SigningKey::from_bytes(&[8; 32]);
        let other = NoteSigner::new(ORIGIN, &other_key).unwrap();
        let foreign = sign_checkpoint(&checkpoint(&tree, 5), &other).unwrap();
        assert!(
            code(check("h", &foreign, &log, &checkpoint(&tree, 5), None))
                .contains("does not verify")
        );
    }
}
