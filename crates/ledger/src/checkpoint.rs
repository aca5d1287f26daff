//! Checkpoints: the operator signs the log's size and Merkle root as a C2SP tlog-checkpoint,
//! so anyone can hold the operator to this log from then on.
//!
//! The root is read from the store's Merkle nodes, which proofs are served from, and must
//! equal the root recomputed from the entries themselves: a store whose nodes disagree with
//! its entries never gets a signed checkpoint. The signer must pass the same authority rule
//! as any operator statement ([`rules::authority`]). Whole-ledger verification checks the
//! stored checkpoints again.

use ledger_core::event::Role;
use ledger_core::hash::Digest;
use ledger_core::id::PartyId;
use ledger_core::keys::{PublicKey, SecretKey};
use ledger_core::merkle::{self, Frontier};
use ledger_core::note::{Checkpoint, NoteSigner, NoteVerifier, sign_checkpoint};
use ledger_core::plural::counted;
use ledger_core::rules;
use ledger_core::statement::entry_hash;
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
        let note = sign_checkpoint(&checkpoint, &signer)
            .map_err(|e| Error::BadInput(format!("cannot sign the checkpoint: {e}")))?;
        self.store().put_checkpoint(size, &note)?;
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
}
