//! Checkpoints: the operator signs the log's size and Merkle root as a C2SP tlog-checkpoint,
//! so anyone can hold the operator to this log from then on.
//!
//! The root is read from the store's Merkle nodes, which proofs are served from, and must
//! equal the root recomputed from the entries themselves: a store whose nodes disagree with
//! its entries never gets a signed checkpoint. The signer must pass the same authority rule
//! as any operator statement ([`rules::authority`]). Whole-ledger verification checks the
//! stored checkpoints again.

use ledger_core::event::Role;
use ledger_core::finding::{Finding, Rule};
use ledger_core::hash::Digest;
use ledger_core::id::PartyId;
use ledger_core::keys::{PublicKey, SecretKey};
use ledger_core::merkle::{self, Frontier};
use ledger_core::note::{Checkpoint, NoteSigner, NoteVerifier, open_checkpoint, sign_checkpoint};
use ledger_core::plural::counted;
use ledger_core::rules;
use ledger_core::statement::entry_hash;
use ledger_core::timestamp::Timestamp;
use ledger_core::witnesses::{WitnessPolicy, Witnessing};
use ledger_store::{Nodes, Store};

use crate::Ledger;
use crate::error::{Error, Result};

/// A checkpoint and its signed note.
#[derive(Debug, Clone)]
pub struct SignedCheckpoint {
    /// The checkpoint: origin, size, root.
    pub checkpoint: Checkpoint,
    /// The C2SP signed-note text.
    pub note: String,
}

impl<S: Store> Ledger<S> {
    /// The party `key` belongs to, if it may act as operator now: enrolled, not revoked,
    /// with the operator role.
    pub fn check_operator(&self, key: &PublicKey) -> Result<PartyId> {
        let store = self.store();
        let party = store.key_owner(key)?.ok_or_else(|| {
            Error::NotAuthorized("the operator key is not enrolled in this ledger".into())
        })?;
        let found = rules::authority(
            store,
            &party,
            &(*key).into(),
            store.head()?.size,
            &[Role::Operator],
            "act as operator",
        )?;
        if let Some((_, message)) = found.into_iter().next() {
            return Err(Error::NotAuthorized(format!("the operator key: {message}")));
        }
        Ok(party)
    }

    /// The checkpoint verifier key (`<origin>+<key id>+<base64 key>`) of `key` for this log.
    pub fn verifier_key(&self, key: &PublicKey) -> Result<NoteVerifier> {
        NoteVerifier::new(self.origin(), *key.verifying_key()).map_err(|e| {
            Error::BadInput(format!(
                "the log origin {:?} cannot name a checkpoint key: {e}",
                self.origin()
            ))
        })
    }

    /// The RFC 6962 root of the first `size` entries, recomputed from their bytes in one
    /// pass with O(log n) memory.
    fn entries_root(&self, size: u64) -> Result<Digest> {
        let mut frontier = Frontier::new();
        for item in self.store().entries(0) {
            let (seq, bytes) = item?;
            if seq >= size {
                break;
            }
            if seq != frontier.size() {
                return Err(Error::damaged(format!(
                    "the store skips from entry #{} to #{seq}",
                    frontier.size()
                )));
            }
            frontier.push(entry_hash(&bytes)).map_err(Error::damaged)?;
        }
        if frontier.size() != size {
            return Err(Error::damaged(format!(
                "the store's head says {} but only {} can be read",
                counted(size, "entry", "entries"),
                frontier.size()
            )));
        }
        Ok(frontier.root())
    }

    /// Signs and stores a checkpoint of the current log with `key`, after checking the
    /// key's authority and that the stored tree agrees with the entries.
    pub fn sign_checkpoint(&self, key: &SecretKey) -> Result<SignedCheckpoint> {
        self.check_operator(&key.public_key())?;
        let store = self.store();
        let head = store.head()?;
        let stored = merkle::root(head.size, &Nodes(store))
            .map_err(|e| Error::damaged(format!("cannot read the store's merkle tree: {e}")))?;
        let recomputed = self.entries_root(head.size)?;
        if stored != recomputed {
            return Err(Error::damaged(format!(
                "refusing to sign: the store's merkle tree has root {stored} at size {}, but \
                 the entries hash to {recomputed}",
                head.size
            )));
        }
        self.sign_and_store(head.size, recomputed, key)
    }

    /// Signs the checkpoint of `size` and `root` (already checked against the entries) with
    /// `key`, and stores it.
    pub(crate) fn sign_and_store(
        &self,
        size: u64,
        root: Digest,
        key: &SecretKey,
    ) -> Result<SignedCheckpoint> {
        let checkpoint = Checkpoint::new(self.origin(), size, root, Vec::new())
            .map_err(|e| Error::BadInput(format!("cannot make a checkpoint: {e}")))?;
        let signer = NoteSigner::new(self.origin(), key.signing_key()).map_err(|e| {
            Error::BadInput(format!(
                "the log origin {:?} cannot name a checkpoint key: {e}",
                self.origin()
            ))
        })?;
        let mut note = sign_checkpoint(&checkpoint, &signer)
            .map_err(|e| Error::BadInput(format!("cannot sign the checkpoint: {e}")))?;
        // Ed25519 is deterministic: signing the same tree again gives the same note, which
        // may be stored already with witnesses' cosignatures after it. Keep those.
        let stored = self.store().checkpoints()?;
        match stored.into_iter().find(|(s, _)| *s == size) {
            Some((_, cosigned)) if cosigned.starts_with(&note) => note = cosigned,
            _ => self.store().put_checkpoint(size, &note)?,
        }
        Ok(SignedCheckpoint { checkpoint, note })
    }

    /// The latest stored checkpoint note, with its tree size.
    pub fn latest_checkpoint(&self) -> Result<Option<(u64, String)>> {
        Ok(self
            .store()
            .checkpoints()?
            .into_iter()
            .max_by_key(|(size, _)| *size))
    }

    /// The operator key that signed `note`, as a checkpoint verifier key of this log: any
    /// key ever enrolled for a party that was ever an operator (whether it was valid when it
    /// signed is whole-ledger verification's question).
    pub fn checkpoint_verifier(&self, note: &str) -> Result<(NoteVerifier, Checkpoint)> {
        for party in self.store().parties()? {
            if !party
                .versions
                .iter()
                .any(|v| v.roles.contains(&Role::Operator))
            {
                continue;
            }
            for record in &party.keys {
                let Ok(key) = record.key.parse() else {
                    continue;
                };
                let Ok(verifier) = self.verifier_key(&key) else {
                    continue;
                };
                if let Ok(opened) = open_checkpoint(note.as_bytes(), &verifier, &[], self.origin())
                {
                    return Ok((verifier, opened.checkpoint));
                }
            }
        }
        Err(Error::damaged(
            "the stored checkpoint does not verify under any operator key of this ledger",
        ))
    }

    /// Adds cosignature lines to the stored checkpoint of `size`. Only lines that verify
    /// as `cosignature/v1` of one of `witnesses` over that checkpoint are kept (the others
    /// are named in the error); lines already present are not repeated. Returns the note.
    pub fn add_cosignatures(
        &self,
        size: u64,
        lines: &str,
        witnesses: &[NoteVerifier],
    ) -> Result<String> {
        let Some(stored) = self
            .store()
            .checkpoints()?
            .into_iter()
            .find_map(|(s, note)| (s == size).then_some(note))
        else {
            return Err(Error::NotFound(format!(
                "no checkpoint of size {size} is stored: sign one first (custody checkpoint)"
            )));
        };
        let (log, _) = self.checkpoint_verifier(&stored)?;
        let mut note = stored.clone();
        for line in lines.lines().filter(|l| !l.trim().is_empty()) {
            if note.lines().any(|l| l == line) {
                continue;
            }
            let candidate = format!("{note}{line}\n");
            let name = line.split(' ').nth(1).unwrap_or_default();
            let witness = witnesses.iter().find(|w| w.name() == name);
            let verified = witness.is_some_and(|w| {
                open_checkpoint(
                    candidate.as_bytes(),
                    &log,
                    std::slice::from_ref(w),
                    self.origin(),
                )
                .is_ok_and(|o| {
                    o.note.cosigned_at(w).is_some() && !o.note.unverified.iter().any(|n| n == name)
                })
            });
            if !verified {
                return Err(Error::BadInput(format!(
                    "the cosignature line of {name:?} does not verify as a cosignature/v1 of \
                     the checkpoint of size {size} by any of the given witness keys"
                )));
            }
            note = candidate;
        }
        if note != stored {
            self.store().put_checkpoint(size, &note)?;
        }
        Ok(note)
    }

    /// Findings for this ledger against checkpoints the auditor kept, `(label, note)`: each
    /// must be signed by an operator key of the ledger, no larger than the log, and the
    /// store's tree at its size must have its root (`verify --lot --checkpoint FILE`).
    pub fn check_held(&self, held: &[(String, String)]) -> Result<Vec<Finding>> {
        let mut findings = Vec::new();
        let head = self.store().head()?.size;
        let finding = |m: String| Finding::new(Rule::CheckpointMismatch, m);
        for (label, note) in held {
            let Ok((_, old)) = self.checkpoint_verifier(note) else {
                findings.push(finding(format!(
                    "the checkpoint you hold in {label} does not verify under any operator key \
                     of this ledger"
                )));
                continue;
            };
            if old.size() > head {
                findings.push(finding(format!(
                    "the ledger has {head} entries, fewer than the checkpoint you hold in \
                     {label} ({}): it was rolled back",
                    old.size()
                )));
            } else if self.root(old.size())? != *old.root() {
                findings.push(finding(format!(
                    "the ledger's tree at {} entries does not have the root of the checkpoint \
                     you hold in {label}: the log forked or was rewritten",
                    old.size()
                )));
            }
        }
        Ok(findings)
    }

    /// Checks the latest stored checkpoint against a witness policy, for a verdict read
    /// from this ledger (`verify --lot`, whole-ledger `verify`): it must be cosigned as the
    /// policy requires, its root must be the store's tree at its size (the ledger read is
    /// the one the witnesses saw), and it must cover the whole log (entries after it are
    /// not witnessed yet).
    pub fn witnessed(&self, policy: &WitnessPolicy, now: Timestamp) -> Result<Witnessing> {
        let finding = |message: String| Witnessing {
            cosigned: Vec::new(),
            findings: vec![Finding::new(Rule::Unwitnessed, message)],
        };
        let Some((size, note)) = self.latest_checkpoint()? else {
            return Ok(finding(
                "the ledger has no signed checkpoint for witnesses to have cosigned".into(),
            ));
        };
        let (log, checkpoint) = self.checkpoint_verifier(&note)?;
        let mut found = policy.check(&note, &log, now);
        let stored = merkle::root(size, &Nodes(self.store()))
            .map_err(|e| Error::damaged(format!("cannot read the store's merkle tree: {e}")))?;
        if stored != *checkpoint.root() {
            found.findings.push(Finding::new(
                Rule::Unwitnessed,
                format!(
                    "the witnessed checkpoint has root {} at size {size}, but this ledger's tree \
                     there has root {stored}: this is not the log the witnesses saw",
                    checkpoint.root()
                ),
            ));
        }
        let head = self.store().head()?.size;
        if head > size {
            found.findings.push(Finding::new(
                Rule::Unwitnessed,
                format!(
                    "the log has {} after the latest checkpoint (size {size}): they are not \
                     witnessed; sign a checkpoint and have it cosigned",
                    counted(head - size, "entry", "entries")
                ),
            ));
        }
        Ok(found)
    }
}
