//! Completeness proofs of an evidence bundle: that it holds *every* entry, up to its
//! checkpoint's size, about each party and lot its verdict relies on, so that a failed
//! audit, an open corrective action or a revoked key cannot be left out of the file.
//!
//! Every log entry commits to the root of the subject index after it
//! ([`crate::subjects`]). A bundle carries the log's last entry at the checkpoint's size
//! (proved in the checkpoint's tree like any other entry), whose root covers the whole log,
//! and for each subject a proof of its state: the number of entries about it and the hash
//! chain over their positions and ids. The verifier recomputes each chain from the entries
//! the bundle holds; a chain that does not match means entries about that subject were
//! withheld (or added).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::event::Event;
use crate::finding::{Finding, Rule};
use crate::hash::Digest;
use crate::merkle::{leaf_hash, verify_inclusion};
use crate::note::Checkpoint;
use crate::statement::Entry;
use crate::subjects::{Subject, SubjectProof, SubjectState, Subjects, subjects_of};

/// The completeness evidence of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Completeness {
    /// The canonical bytes of the log's last entry at the checkpoint's size.
    pub last_entry: Vec<u8>,
    /// Its inclusion proof in the checkpoint's tree.
    pub last_proof: Vec<Digest>,
    /// Each subject's state at that size and its proof against the last entry's root,
    /// sorted by subject, each once.
    pub subjects: Vec<SubjectEvidence>,
}

/// One subject's state and the proof of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubjectEvidence {
    /// The party or lot.
    pub subject: Subject,
    /// How many entries are about it, and their chain.
    pub state: SubjectState,
    /// The proof of `state` (of absence, when no entry is about it).
    pub proof: SubjectProof,
}

/// The subjects whose completeness a bundle must prove: every subject an entry in it is
/// about, the actor of every entry, and every lot of the trace.
pub fn required<'a>(
    entries: impl IntoIterator<Item = &'a Event>,
    lots: impl IntoIterator<Item = &'a crate::id::LotId>,
) -> BTreeSet<Subject> {
    let mut out = BTreeSet::new();
    for event in entries {
        out.extend(subjects_of(event));
        out.insert(Subject::Party(event.actor.clone()));
    }
    out.extend(lots.into_iter().cloned().map(Subject::Lot));
    out
}

/// The states `entries` (position, event id, event; in log order) give each subject.
fn chains<'a>(
    entries: impl IntoIterator<Item = (u64, &'a Digest, &'a Event)>,
) -> BTreeMap<Subject, SubjectState> {
    let mut out: BTreeMap<Subject, SubjectState> = BTreeMap::new();
    for (seq, id, event) in entries {
        for subject in subjects_of(event) {
            let state = out.entry(subject).or_insert(SubjectState::NONE);
            *state = state.then(seq, id);
        }
    }
    out
}

fn finding(message: String) -> Finding {
    Finding::new(Rule::IndexMismatch, message)
}

fn name(subject: &Subject) -> String {
    match subject {
        Subject::Party(p) => format!("party {p}"),
        Subject::Lot(l) => format!("lot {l}"),
    }
}

/// Checks the completeness evidence `c` against `checkpoint` for the bundle's `entries` (position, event
/// id, event; in log order) and the `required` subjects. Returns one finding per problem;
/// none means the bundle holds every entry about every required subject.
pub fn check<'a>(
    c: &Completeness,
    checkpoint: &Checkpoint,
    entries: impl IntoIterator<Item = (u64, &'a Digest, &'a Event)>,
    required: &BTreeSet<Subject>,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let size = checkpoint.size();
    let last = match Entry::decode(&c.last_entry) {
        Ok(entry) => entry,
        Err(e) => {
            findings.push(finding(format!(
                "the completeness proof's last entry does not decode: {e}"
            )));
            return findings;
        }
    };
    if size == 0 || last.seq != size - 1 {
        findings.push(finding(format!(
            "the completeness proof's last entry is #{}, not the last of the {size} entries \
             the checkpoint covers",
            last.seq
        )));
        return findings;
    }
    if let Err(e) = verify_inclusion(
        last.seq,
        size,
        &leaf_hash(&c.last_entry),
        &c.last_proof,
        checkpoint.root(),
    ) {
        findings.push(finding(format!(
            "the completeness proof's last entry #{} is not shown to be in the checkpoint's \
             log: {e}",
            last.seq
        )));
        return findings;
    }
    let root = last.subjects;
    let mut proven: BTreeMap<&Subject, &SubjectState> = BTreeMap::new();
    for evidence in &c.subjects {
        let key = evidence.subject.key();
        let value = evidence.state.value();
        let holds = if evidence.state == SubjectState::NONE {
            evidence.proof.verify(&root, &key, None)
        } else {
            evidence.proof.verify(&root, &key, Some(&value))
        };
        if !holds {
            findings.push(finding(format!(
                "the completeness proof for {} does not verify against the subject index \
                 root {root} of entry #{}",
                name(&evidence.subject),
                last.seq
            )));
        } else if proven.insert(&evidence.subject, &evidence.state).is_some() {
            findings.push(finding(format!(
                "the completeness proof names {} twice",
                name(&evidence.subject)
            )));
        }
    }
    let held = chains(entries);
    for subject in required {
        let Some(state) = proven.get(subject) else {
            findings.push(finding(format!(
                "the bundle has no completeness proof for {}: it may leave out entries about it",
                name(subject)
            )));
            continue;
        };
        let have = held.get(subject).copied().unwrap_or(SubjectState::NONE);
        if have != **state {
            findings.push(finding(format!(
                "the bundle holds {} of the {} entries about {} up to size {size}: evidence \
                 was withheld (or entries added), so the verdict cannot rely on it",
                have.count,
                state.count,
                name(subject)
            )));
        }
    }
    findings
}

/// The completeness evidence for `required` from the log's subject `index` at the
/// checkpoint's size, whose last entry is `last_entry` with inclusion proof `last_proof`.
pub fn prove(
    index: &mut Subjects,
    required: &BTreeSet<Subject>,
    last_entry: Vec<u8>,
    last_proof: Vec<Digest>,
) -> Completeness {
    let subjects = required
        .iter()
        .map(|subject| SubjectEvidence {
            subject: subject.clone(),
            state: index.state(subject),
            proof: index.prove(subject),
        })
        .collect();
    Completeness {
        last_entry,
        last_proof,
        subjects,
    }
}
