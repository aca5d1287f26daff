//! Custody's ledger engine: everything a ledger does, over any [`Store`], for every front end
//! (the `custody` CLI, the network server, tests).
//!
//! A [`Ledger`] wraps a store and owns: appending (check, plan, write, receipts), whole-ledger
//! replay, lot verification and evidence selection, signing supplier events with links filled
//! from the ledger, checkpoint signing and the operator check, proofs, bundle export, and the
//! queries reports need. It returns typed [`Error`]s a caller maps to exit codes or HTTP
//! statuses, reports progress through [`Progress`], and never prints, exits or parses
//! command lines.
//!
//! ```
//! use ledger::{Genesis, Ledger, Silent};
//! use ledger_core::id::LotId;
//! use ledger_core::keys::SecretKey;
//! use ledger_core::policy::Policy;
//! use ledger_store::SledStore;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let operator = SecretKey::from_seed(&[1; 32]);
//! let now = ledger::now()?;
//! let store = SledStore::create(dir.path().join("ledger"), "example.org/ledger")?;
//! let genesis = Genesis { party: "operator", name: "Example operator", country: "BE" };
//! let ledger = Ledger::init(store, &operator, &genesis, now, 1)?;
//!
//! // The operator enrolls a miner, the miner signs an extract, the ledger appends it.
//! let miner = SecretKey::from_seed(&[2; 32]);
//! let enroll = format!(
//!     r#"{{"kind":"enroll","actor":"operator","time":"2026-01-01T00:00:00Z","party":"kivu-mining",
//!         "name":"Kivu Mining SA","country":"CD","roles":["miner"],"keys":["{}"]}}"#,
//!     miner.public_key()
//! );
//! let extract = r#"{"kind":"extract","actor":"kivu-mining","time":"2026-03-02T08:15:00Z",
//!     "site":{"id":"KV-PIT-2","country":"CD","lat":-10.71,"lon":25.47,"method":"industrial"},
//!     "outputs":[{"lot":"KV-ORE-0001","material":"cobalt-ore","quantity":50000,"unit":"kg",
//!                 "content":{"Co":0.031}}]}"#;
//! for (text, key) in [(enroll.as_str(), &operator), (extract, &miner)] {
//!     let statements = ledger.signing_context().sign_text(text, "example", &|_| Ok(key), &mut || 7)?;
//!     ledger.append(statements, now, &Silent)?;
//! }
//!
//! // An auditor verifies the whole ledger and the lot, and exports its evidence bundle.
//! assert!(ledger.verify(&Silent)?.counts.errors == 0);
//! let lot = LotId::new("KV-ORE-0001")?;
//! let checked = ledger.verify_lot(&lot, &Policy::default(), now)?;
//! assert_eq!(checked.report.counts.errors, 0);
//! let bundle = ledger.export_bundle(&lot, Some(&operator), now)?;
//! let offline = ledger_core::bundle::verify_bytes(&bundle.bytes, Some(&bundle.verifier), &Policy::default(), now)?;
//! assert!(offline.sound);
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
// Bytes from outside (files, the store, other parties) must never crash the process.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod append;
mod bundle;
mod checkpoint;
mod error;
mod indexes;
mod lot;
mod progress;
mod proof;
mod report;
pub mod serve;
mod signing;
mod verify;

use ledger_core::event::{Body, Enroll, Event, Role};
use ledger_core::hash::Digest;
use ledger_core::id::{Country, PartyId};
use ledger_core::keys::SecretKey;
use ledger_core::policy::Policy;
use ledger_core::rules::RuleConfig;
use ledger_core::statement::{Entry, Origin, Statement, entry_hash};
use ledger_core::timestamp::Timestamp;
use ledger_core::validate::check_event;
use ledger_store::Store;

#[cfg(feature = "fault-injection")]
pub use append::Tamper;
pub use append::{
    APPEND_PART, MAX_BATCH, MAX_STATEMENT_LINE, Receipt, ReceiptIter, StatementLines,
    parse_statements,
};
pub use bundle::ExportedBundle;
pub use checkpoint::SignedCheckpoint;
pub use error::{Error, Refused, Result};
pub use lot::LotVerification;
pub use progress::{Progress, Silent};
pub use proof::{ConsistencyProof, InclusionProof};
pub use report::LotReport;
pub use signing::{SigningContext, SigningSource};
pub use verify::{Counts, Report, Scope};

/// A ledger: a store and the rules that govern what enters it.
pub struct Ledger<S> {
    store: S,
    origin: Origin,
    rules: RuleConfig,
    /// The upper Merkle levels proofs read, kept while the ledger is open.
    nodes: proof::NodeCache,
}

/// The operator party a new ledger's genesis entry enrolls.
#[derive(Debug, Clone, Copy)]
pub struct Genesis<'a> {
    /// Its party id.
    pub party: &'a str,
    /// Its name.
    pub name: &'a str,
    /// Its country (ISO 3166-1 alpha-2).
    pub country: &'a str,
}

/// An entry read back from the log, with its bytes and hash.
#[derive(Debug, Clone)]
pub struct StoredEntry {
    /// The decoded entry.
    pub entry: Entry,
    /// Its event id.
    pub id: Digest,
    /// Its canonical bytes, as stored.
    pub bytes: Vec<u8>,
    /// Its RFC 6962 leaf hash.
    pub hash: Digest,
}

/// Now, as a ledger timestamp.
pub fn now() -> Result<Timestamp> {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| Error::BadInput("the system clock is before 1970".into()))?
        .as_secs();
    i64::try_from(seconds)
        .ok()
        .and_then(|s| Timestamp::from_unix(s).ok())
        .ok_or_else(|| Error::BadInput("the system clock is out of range".into()))
}

/// Parses a due-diligence policy from TOML, or from JSON when `json` is set. `source` names
/// the text in errors.
pub fn parse_policy(text: &str, json: bool, source: &str) -> Result<Policy> {
    let parsed = if json {
        serde_json::from_str(text).map_err(|e| e.to_string())
    } else {
        toml::from_str(text).map_err(|e| e.to_string())
    };
    parsed.map_err(|e| Error::BadInput(format!("policy {source} is not valid: {e}")))
}

impl<S: Store> Ledger<S> {
    /// The ledger in `store`.
    pub fn open(store: S) -> Result<Ledger<S>> {
        let origin = store.origin()?;
        let origin = Origin::new(&origin)
            .map_err(|e| Error::damaged(format!("the store's log origin is not valid: {e}")))?;
        Ok(Ledger {
            store,
            origin,
            rules: RuleConfig::default(),
            nodes: proof::NodeCache::default(),
        })
    }

    /// Makes `store`, which must be empty, a new ledger whose genesis entry is the operator
    /// `genesis` enrolling itself with `operator`'s key, recorded at `now`.
    pub fn init(
        store: S,
        operator: &SecretKey,
        genesis: &Genesis<'_>,
        now: Timestamp,
        nonce: u64,
    ) -> Result<Ledger<S>> {
        let party = PartyId::new(genesis.party)
            .map_err(|e| Error::BadInput(format!("operator id: {e}")))?;
        let country = Country::parse(genesis.country)
            .map_err(|e| Error::BadInput(format!("operator country: {e}")))?;
        let ledger = Ledger::open(store)?;
        ledger.verifier_key(&operator.public_key())?;
        let event = Event {
            actor: party.clone(),
            time: now,
            nonce,
            emissions_g_co2e: None,
            documents: Vec::new(),
            body: Body::Enroll(Enroll {
                party,
                name: genesis.name.to_owned(),
                country,
                roles: vec![Role::Operator],
                keys: vec![operator.public_key()],
            }),
        };
        check_event(&event).map_err(|e| Error::BadInput(format!("operator enrollment: {e}")))?;
        let genesis = sign(event, &ledger.origin, operator)?;
        ledger.append(vec![genesis], now, &Silent)?;
        Ok(ledger)
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The store, giving up the ledger (to close it).
    pub fn into_store(self) -> S {
        self.store
    }

    /// The log origin: the first line of every checkpoint.
    pub fn origin(&self) -> &str {
        self.origin.as_str()
    }

    /// The log origin as every statement signature in this ledger covers it
    /// ([`ledger_core::statement::signing_message`]).
    pub fn signing_origin(&self) -> &Origin {
        &self.origin
    }

    /// The per-event rules' settings.
    pub fn rules(&self) -> &RuleConfig {
        &self.rules
    }

    /// An operator statement (`enroll`, `revoke`) signed with `key`, whose actor is the
    /// party the key is enrolled for.
    pub fn operator_statement(
        &self,
        key: &SecretKey,
        body: Body,
        time: Timestamp,
        nonce: u64,
    ) -> Result<Statement> {
        let actor = self.store.key_owner(&key.public_key())?.ok_or_else(|| {
            Error::NotAuthorized("the --operator-key is not enrolled in this ledger".into())
        })?;
        let event = Event {
            actor,
            time,
            nonce,
            emissions_g_co2e: None,
            documents: Vec::new(),
            body,
        };
        check_event(&event).map_err(|e| Error::BadInput(e.to_string()))?;
        sign(event, &self.origin, key)
    }

    /// The entry at `seq`, decoded.
    pub fn entry(&self, seq: u64) -> Result<StoredEntry> {
        let bytes = self
            .store
            .entry(seq)?
            .ok_or_else(|| Error::NotFound(format!("there is no entry #{seq}")))?;
        let (entry, id) = decode_entry(seq, &bytes)?;
        Ok(StoredEntry {
            hash: entry_hash(&bytes),
            entry,
            id,
            bytes,
        })
    }

    /// The log position of the event with id `id`.
    pub fn position(&self, id: &Digest) -> Result<u64> {
        Ok(self
            .store
            .event(id)?
            .ok_or_else(|| Error::NotFound(format!("event {id} is not in the ledger")))?
            .seq)
    }
}

/// Decodes the stored entry at `seq` and computes its event id; bytes that do not decode
/// are a damaged store.
pub(crate) fn decode_entry(seq: u64, bytes: &[u8]) -> Result<(Entry, Digest)> {
    let entry = Entry::decode(bytes)
        .map_err(|e| Error::damaged(format!("entry #{seq} is damaged: {e}")))?;
    let id = entry
        .statement
        .id()
        .map_err(|e| Error::damaged(format!("entry #{seq}: {e}")))?;
    Ok((entry, id))
}

fn sign(event: Event, origin: &Origin, key: &SecretKey) -> Result<Statement> {
    Statement::sign(event, origin, key)
        .map_err(|e| Error::BadInput(format!("cannot encode the event: {e}")))
}
