//! The witness itself: the checks of C2SP tlog-witness `add-checkpoint`, in the spec's
//! order, and the cosignature (c2sp.org/tlog-cosignature, `cosignature/v1`). Both the HTTP
//! server and `custody witness cosign` call [`Witness::add_checkpoint`], so a witness run
//! by hand and one on the network refuse exactly the same checkpoints.
//!
//! A log is known by its origin, which is the name of its key: Custody signs checkpoints
//! under the origin, as most C2SP logs do. Several keys may be trusted for one origin
//! (a key rotation); a checkpoint signed by any of them is accepted.

use std::path::Path;

use ledger_core::keys::SecretKey;
use ledger_core::merkle::{MerkleError, empty_root, verify_consistency};
use ledger_core::note::{
    Checkpoint, KeyKind, MAX_COSIGNATURE_TIME, NoteError, NoteSigner, NoteVerifier, cosign,
    open_note,
};

use crate::protocol::{ProtocolError, Request};
use crate::state::{Cosigned, State, StateError};

/// A witness: its name and key, the logs it follows and what it cosigned.
pub struct Witness {
    name: String,
    key: SecretKey,
    verifier: NoteVerifier,
    logs: Vec<NoteVerifier>,
    state: State,
}

/// Why a witness could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WitnessError {
    /// The witness name is not a valid key name.
    #[error("witness name: {0}")]
    Name(NoteError),
    /// A log key is a witness (cosignature) key.
    #[error("log key {vkey} is a witness key (type 0x04), not a log key (type 0x01)")]
    NotALogKey {
        /// The key.
        vkey: String,
    },
    /// No log key was given.
    #[error("a witness needs at least one log key to follow")]
    NoLogs,
    /// The state directory could not be opened.
    #[error(transparent)]
    State(#[from] StateError),
}

/// Why a checkpoint was not cosigned: each maps to the status tlog-witness prescribes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AddError {
    /// The request body is malformed (400).
    #[error("bad request: {0}")]
    BadRequest(#[from] ProtocolError),
    /// The note is not a signed checkpoint (400).
    #[error("bad checkpoint note: {0}")]
    BadNote(NoteError),
    /// The witness follows no log of this origin (404).
    #[error("unknown log origin {origin:?}")]
    UnknownOrigin {
        /// The checkpoint's origin.
        origin: String,
    },
    /// No signature verifies with a key trusted for the origin (403).
    #[error("no signature by a trusted key of {origin} verifies: {reason}")]
    NotSigned {
        /// The checkpoint's origin.
        origin: String,
        /// What the note check said.
        reason: NoteError,
    },
    /// The old size is larger than the checkpoint's size (400).
    #[error("old size {old} is larger than the checkpoint size {size}")]
    OldSizeTooLarge {
        /// The request's old size.
        old: u64,
        /// The checkpoint's size.
        size: u64,
    },
    /// The old size is not the size of the latest cosigned checkpoint (409).
    #[error("old size {old} is not the size {stored} of the latest checkpoint cosigned")]
    Conflict {
        /// The request's old size.
        old: u64,
        /// The size of the latest cosigned checkpoint (0 if none).
        stored: u64,
    },
    /// The consistency proof does not prove the checkpoint extends the stored one (422).
    #[error("consistency proof from size {old} to {size} does not verify: {reason}")]
    Inconsistent {
        /// The stored (and old) size.
        old: u64,
        /// The checkpoint's size.
        size: u64,
        /// What the proof check said.
        reason: MerkleError,
    },
    /// Same size as the stored checkpoint but another root: a fork (409).
    #[error("checkpoint of size {size} has another root than the one cosigned at that size")]
    RootMismatch {
        /// The size.
        size: u64,
    },
    /// The state could not be read or made durable (500): nothing was cosigned.
    #[error("witness state: {0}")]
    State(#[from] StateError),
    /// The clock is beyond what a cosignature can carry, or signing failed (500).
    #[error("cannot cosign: {0}")]
    Cosign(NoteError),
}

impl AddError {
    /// The HTTP status tlog-witness gives this refusal.
    pub fn status(&self) -> u16 {
        match self {
            AddError::BadRequest(_) | AddError::BadNote(_) | AddError::OldSizeTooLarge { .. } => {
                400
            }
            AddError::NotSigned { .. } => 403,
            AddError::UnknownOrigin { .. } => 404,
            AddError::Conflict { .. } | AddError::RootMismatch { .. } => 409,
            AddError::Inconsistent { .. } => 422,
            AddError::State(_) | AddError::Cosign(_) => 500,
        }
    }
}

impl Witness {
    /// A witness named `name` (the key name of its cosignatures) signing with `key`,
    /// following the logs whose checkpoint keys are `logs`, remembering what it cosigned in
    /// `state_dir` (created if needed, locked while the witness lives).
    pub fn new(
        name: &str,
        key: SecretKey,
        logs: Vec<NoteVerifier>,
        state_dir: &Path,
    ) -> Result<Witness, WitnessError> {
        let verifier = NoteSigner::cosigner(name, key.signing_key())
            .map_err(WitnessError::Name)?
            .verifier();
        if logs.is_empty() {
            return Err(WitnessError::NoLogs);
        }
        if let Some(bad) = logs.iter().find(|v| v.kind() != KeyKind::Ed25519) {
            return Err(WitnessError::NotALogKey { vkey: bad.vkey() });
        }
        let state = State::open(state_dir)?;
        Ok(Witness {
            name: name.to_owned(),
            key,
            verifier,
            logs,
            state,
        })
    }

    /// The witness's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The witness's verifier key (`<name>+<key id>+<base64(0x04 || key)>`), which logs and
    /// clients configure to check its cosignatures.
    pub fn vkey(&self) -> String {
        self.verifier.vkey()
    }

    /// The log keys the witness follows.
    pub fn logs(&self) -> &[NoteVerifier] {
        &self.logs
    }

    /// The latest checkpoint cosigned for `origin`.
    pub fn latest(&self, origin: &str) -> Result<Option<Cosigned>, StateError> {
        self.state.latest(origin)
    }

    /// Handles an `add-checkpoint` request body at `now_unix_seconds`: checks it as
    /// tlog-witness says, stores the checkpoint durably, then returns the cosignature
    /// line(s) to append to the note.
    pub fn add_checkpoint(&self, body: &[u8], now_unix_seconds: u64) -> Result<String, AddError> {
        let request = Request::parse(body)?;
        let origin =
            note_origin(&request.note).ok_or(AddError::BadNote(NoteError::CheckpointTooShort))?;
        let trusted: Vec<NoteVerifier> = self
            .logs
            .iter()
            .filter(|log| log.name() == origin)
            .cloned()
            .collect();
        if trusted.is_empty() {
            return Err(AddError::UnknownOrigin {
                origin: origin.to_owned(),
            });
        }
        let opened = open_note(request.note.as_bytes(), &trusted).map_err(|e| match e {
            NoteError::NoVerifiedSignature { .. } | NoteError::InvalidSignature { .. } => {
                AddError::NotSigned {
                    origin: origin.to_owned(),
                    reason: e,
                }
            }
            other => AddError::BadNote(other),
        })?;
        let checkpoint =
            Checkpoint::parse(&opened.text, Some(origin)).map_err(AddError::BadNote)?;
        let size = checkpoint.size();
        if request.old_size > size {
            return Err(AddError::OldSizeTooLarge {
                old: request.old_size,
                size,
            });
        }
        if now_unix_seconds > MAX_COSIGNATURE_TIME {
            return Err(AddError::Cosign(NoteError::CosignatureTime {
                time: now_unix_seconds,
            }));
        }
        let update = self.state.update(origin)?;
        let (stored_size, stored_root) = update
            .current()
            .map_or((0, empty_root()), |c| (c.size, c.root));
        if request.old_size != stored_size {
            return Err(AddError::Conflict {
                old: request.old_size,
                stored: stored_size,
            });
        }
        let same = size == stored_size;
        if same && !request.proof.is_empty() {
            return Err(AddError::Inconsistent {
                old: stored_size,
                size,
                reason: MerkleError::ProofNotEmpty {
                    old: stored_size,
                    new: size,
                },
            });
        }
        if same && checkpoint.root() != &stored_root {
            return Err(AddError::RootMismatch { size });
        }
        verify_consistency(
            stored_size,
            size,
            &request.proof,
            &stored_root,
            checkpoint.root(),
        )
        .map_err(|reason| AddError::Inconsistent {
            old: stored_size,
            size,
            reason,
        })?;
        let signer =
            NoteSigner::cosigner(&self.name, self.key.signing_key()).map_err(AddError::Cosign)?;
        let line = cosign(&opened.text, &signer, now_unix_seconds).map_err(AddError::Cosign)?;
        if !same {
            update.store(Cosigned {
                size,
                root: *checkpoint.root(),
                note: request.note,
            })?;
        }
        Ok(line)
    }
}

/// The origin line of a note, before its signatures are checked: it picks the keys to
/// check them with.
fn note_origin(note: &str) -> Option<&str> {
    note.split_once('\n')
        .map(|(first, _)| first)
        .filter(|first| !first.is_empty())
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Barrier};

    use ledger_core::hash::Digest;
    use ledger_core::merkle::{MemoryTree, consistency_proof, leaf_hash, root};
    use ledger_core::note::{open_checkpoint, sign_checkpoint};

    use super::*;

    const ORIGIN: &str = "example.com/log";
    const NAME: &str = "witness.example/w1";
    const NOW: u64 = 1_679_315_147;

    fn log_key() -> SecretKey {
        SecretKey::from_seed(&[1; 32])
    }

    fn log_vkey() -> NoteVerifier {
        NoteSigner::new(ORIGIN, log_key().signing_key())
            .map(|s| s.verifier())
            .unwrap()
    }

    /// A log of `n` leaves; a fork from leaf `fork_at` on when given.
    fn tree(n: u8, fork_at: Option<u8>) -> MemoryTree {
        MemoryTree::from_leaf_hashes((0..n).map(|i| {
            let forked = fork_at.is_some_and(|f| i >= f);
            leaf_hash(&[i, u8::from(forked)])
        }))
    }

    fn note_with(key: &SecretKey, origin: &str, size: u64, root: Digest) -> String {
        let checkpoint = Checkpoint::new(origin, size, root, vec![]).unwrap();
        let signer = NoteSigner::new(origin, key.signing_key()).unwrap();
        sign_checkpoint(&checkpoint, &signer).unwrap()
    }

    /// The request from `old` to `new` on `log`, signed by the log key.
    fn body(log: &MemoryTree, old: u64, new: u64) -> Vec<u8> {
        let root = root(new, log).unwrap();
        Request {
            old_size: old,
            proof: consistency_proof(old, new, log).unwrap(),
            note: note_with(&log_key(), ORIGIN, new, root),
        }
        .to_body()
    }

    fn witness(dir: &Path) -> Witness {
        Witness::new(NAME, SecretKey::from_seed(&[2; 32]), vec![log_vkey()], dir).unwrap()
    }

    fn status(result: Result<String, AddError>) -> u16 {
        result.err().map_or(200, |e| e.status())
    }

    /// Checks the cosignature lines over the note in `body` with the witness key.
    fn verifies(witness: &Witness, body: &[u8], lines: &str) -> bool {
        let request = Request::parse(body).unwrap();
        let cosigner: NoteVerifier = witness.vkey().parse().unwrap();
        let note = format!("{}{lines}", request.note);
        open_checkpoint(
            note.as_bytes(),
            &log_vkey(),
            std::slice::from_ref(&cosigner),
            ORIGIN,
        )
        .is_ok_and(|opened| opened.note.cosigned_at(&cosigner) == Some(NOW))
    }

    #[test]
    fn an_honest_growing_log_is_cosigned_each_time() -> Result<(), AddError> {
        let dir = tempfile::tempdir().unwrap();
        let w = witness(dir.path());
        let log = tree(9, None);
        for (old, new) in [(0, 3), (3, 7), (7, 7), (7, 8), (8, 9)] {
            let body = body(&log, old, new);
            let lines = w.add_checkpoint(&body, NOW)?;
            assert!(verifies(&w, &body, &lines), "{old} -> {new}: {lines}");
            assert_eq!(w.latest(ORIGIN)?.map(|c| c.size), Some(new));
        }
        // A restarted witness remembers.
        drop(w);
        let w = witness(dir.path());
        assert_eq!(w.latest(ORIGIN)?.map(|c| c.size), Some(9));
        assert!(matches!(
            w.add_checkpoint(&body(&log, 3, 9), NOW),
            Err(AddError::Conflict { old: 3, stored: 9 })
        ));
        Ok(())
    }

    #[test]
    fn fail_every_refusal_has_the_status_tlog_witness_gives() -> Result<(), AddError> {
        let dir = tempfile::tempdir().unwrap();
        let w = witness(dir.path());
        let log = tree(8, None);
        let fork = tree(8, Some(4));
        let request = |old: u64, proof: Vec<Digest>, note: String| {
            Request {
                old_size: old,
                proof,
                note,
            }
            .to_body()
        };
        let root5 = root(5, &log).unwrap();
        // 400: a malformed body, and a note that is not a checkpoint.
        assert_eq!(status(w.add_checkpoint(b"old 01\n\nx\n", NOW)), 400);
        let text_only = ledger_core::note::sign_note(
            &format!("{ORIGIN}\n"),
            &[&NoteSigner::new(ORIGIN, log_key().signing_key()).map_err(AddError::BadNote)?],
        )
        .map_err(AddError::BadNote)?;
        assert_eq!(
            status(w.add_checkpoint(&request(0, vec![], text_only), NOW)),
            400
        );
        // 404: a log the witness does not follow.
        let other = request(
            0,
            vec![],
            note_with(&log_key(), "other.example/log", 5, root5),
        );
        let refused = w.add_checkpoint(&other, NOW);
        assert_eq!(status(refused), 404);
        // 403: signed by another key under the log's name, or a signature that fails.
        let stranger = SecretKey::from_seed(&[9; 32]);
        let by_stranger = request(0, vec![], note_with(&stranger, ORIGIN, 5, root5));
        assert_eq!(status(w.add_checkpoint(&by_stranger, NOW)), 403);
        let good = note_with(&log_key(), ORIGIN, 5, root5);
        let tampered = good.replacen("\n5\n", "\n6\n", 1);
        assert_eq!(
            status(w.add_checkpoint(&request(0, vec![], tampered), NOW)),
            403
        );
        // 400: old size above the checkpoint's.
        assert_eq!(
            status(w.add_checkpoint(&request(6, vec![], good.clone()), NOW)),
            400
        );
        // 422: a proof from size 0 must be empty.
        let proof = consistency_proof(2, 5, &log).unwrap_or_default();
        assert_eq!(
            status(w.add_checkpoint(&request(0, proof, good.clone()), NOW)),
            422
        );
        // Nothing so far was stored.
        assert_eq!(w.latest(ORIGIN)?, None);
        w.add_checkpoint(&body(&log, 0, 5), NOW)?;
        // 409 with the stored size: an old size that is not the stored one (a rollback
        // below it, or a jump above it).
        for old in [0, 3, 6] {
            assert!(matches!(
                w.add_checkpoint(&body(&log, old, 8), NOW),
                Err(AddError::Conflict { stored: 5, .. })
            ));
        }
        // 422: a proof that does not verify from the stored root (the fork diverges at 4).
        let fork_body = body(&fork, 5, 8);
        assert_eq!(status(w.add_checkpoint(&fork_body, NOW)), 422);
        // 422: a non-empty proof between equal sizes.
        let extra = request(5, vec![Digest([0; 32])], good);
        assert_eq!(status(w.add_checkpoint(&extra, NOW)), 422);
        // 409: the same size with another root.
        let forked5 = request(
            5,
            vec![],
            note_with(&log_key(), ORIGIN, 5, root(5, &fork).unwrap()),
        );
        assert!(matches!(
            w.add_checkpoint(&forked5, NOW),
            Err(AddError::RootMismatch { size: 5 })
        ));
        // 500: a time no cosignature can carry; nothing is stored.
        assert_eq!(status(w.add_checkpoint(&body(&log, 5, 8), u64::MAX)), 500);
        assert_eq!(w.latest(ORIGIN)?.map(|c| c.size), Some(5));
        // Still consistent: the honest continuation is cosigned.
        w.add_checkpoint(&body(&log, 5, 8), NOW)?;
        Ok(())
    }

    #[test]
    fn fail_two_racing_requests_from_the_same_old_size_get_one_cosignature() -> Result<(), AddError>
    {
        let log = tree(12, None);
        for round in 0..8 {
            let dir = tempfile::tempdir().unwrap();
            let w = Arc::new(witness(dir.path()));
            w.add_checkpoint(&body(&log, 0, 4), NOW)?;
            let barrier = Arc::new(Barrier::new(2));
            let racers: Vec<_> = [7u64, 11]
                .into_iter()
                .map(|new| {
                    let (w, barrier, body) = (w.clone(), barrier.clone(), body(&log, 4, new));
                    std::thread::spawn(move || {
                        barrier.wait();
                        (new, w.add_checkpoint(&body, NOW))
                    })
                })
                .collect();
            let results: Vec<_> = racers.into_iter().filter_map(|r| r.join().ok()).collect();
            assert_eq!(results.len(), 2);
            let won: Vec<u64> = results
                .iter()
                .filter(|(_, r)| r.is_ok())
                .map(|(new, _)| *new)
                .collect();
            assert_eq!(won.len(), 1, "round {round}: {results:?}");
            let lost = results.iter().find(|(_, r)| r.is_err());
            assert!(
                matches!(lost, Some((_, Err(AddError::Conflict { old: 4, stored })))
                    if Some(*stored) == won.first().copied()),
                "round {round}: {results:?}"
            );
            assert_eq!(w.latest(ORIGIN)?.map(|c| c.size), won.first().copied());
        }
        Ok(())
    }

    #[test]
    fn fail_witness_keys_and_empty_log_lists_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let as_witness = NoteVerifier::cosigner(ORIGIN, *log_vkey().verifying_key()).unwrap();
        let key = || SecretKey::from_seed(&[2; 32]);
        assert!(matches!(
            Witness::new(NAME, key(), vec![as_witness], dir.path()),
            Err(WitnessError::NotALogKey { .. })
        ));
        assert!(matches!(
            Witness::new(NAME, key(), vec![], dir.path()),
            Err(WitnessError::NoLogs)
        ));
        assert!(matches!(
            Witness::new("a b", key(), vec![log_vkey()], dir.path()),
            Err(WitnessError::Name(_))
        ));
    }
}
