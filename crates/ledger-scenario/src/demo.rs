//! The demo supply chain of `fixtures/demo/`, built in a fresh ledger through the same
//! signing and append paths suppliers use.
//!
//! Cobalt comes from an industrial and an artisanal mine in the DR Congo (the artisanal ore
//! through a trader), is refined in the DR Congo and Finland, blended with recycled cobalt
//! sulfate, made into cathode and cells, and assembled into a module with mica insulators
//! from an Indian mine and processor; an auditor attests to every supplier. Every party's
//! key is a deterministic **test key** (see [`test_key`]).

use std::collections::HashMap;
use std::path::Path;

use ledger::{Genesis, Ledger, SigningContext, Silent};
use ledger_core::event::{Body, Enroll, Event, Role};
use ledger_core::hash::Digest;
use ledger_core::id::{Country, PartyId};
use ledger_core::keys::SecretKey;
use ledger_core::statement::Statement;
use ledger_store::{SledStore, Store};
use serde::Deserialize;

use crate::{Result, ScenarioError};

/// The scenario's parties.
const PARTIES: &str = include_str!("../../../fixtures/demo/parties.json");
/// The scenario's events, in log order, as suppliers write them.
pub const SCENARIO: &str = include_str!("../../../fixtures/demo/scenario.jsonl");
/// The battery module the demo traces.
pub const MODULE: &str = "VM-MOD-0001";
/// The demo ledger's origin line.
pub const ORIGIN: &str = "demo.custody.example/ledger";
/// The demo operator's party id.
pub const OPERATOR: &str = "custody-operator";

/// The deterministic **test** key of `name`: seed = SHA-256("custody test key v1" || 0x00 || name).
/// Never use these keys for real data: anyone can recompute them.
pub fn test_key(name: &str) -> SecretKey {
    SecretKey::from_seed(&Digest::of(&[b"custody test key v1\0", name.as_bytes()]).0)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PartyIn {
    party: PartyId,
    name: String,
    country: String,
    roles: Vec<String>,
}

/// Test keys by party id.
pub type TestKeys = HashMap<String, SecretKey>;

/// A new sled ledger in `dir` with the demo operator and every demo party enrolled, each
/// with its test key.
pub fn enrolled_ledger(dir: &Path) -> Result<(Ledger<SledStore>, TestKeys)> {
    let store = SledStore::create(dir, ORIGIN)?;
    enroll_parties(store)
}

/// Makes the empty `store` the demo ledger with every demo party enrolled.
pub fn enroll_parties<S: Store>(store: S) -> Result<(Ledger<S>, TestKeys)> {
    let operator = test_key(OPERATOR);
    let now = ledger::now()?;
    let genesis = Genesis {
        party: OPERATOR,
        name: "Custody demo operator (fictional)",
        country: "BE",
    };
    let ledger = Ledger::init(store, &operator, &genesis, now, rand::random())?;
    let parties: Vec<PartyIn> = serde_json::from_str(PARTIES)?;
    let mut keys = TestKeys::new();
    let mut enrollments = Vec::new();
    for p in &parties {
        let key = test_key(p.party.as_str());
        let mut roles = p
            .roles
            .iter()
            .map(|r| {
                Role::parse(r).ok_or_else(|| ScenarioError::Invalid(format!("unknown role {r}")))
            })
            .collect::<Result<Vec<_>>>()?;
        roles.sort();
        roles.dedup();
        let event = Event {
            actor: PartyId::new(OPERATOR)?,
            time: now.plus(-86_400 * 365),
            nonce: 0,
            emissions_g_co2e: None,
            documents: Vec::new(),
            body: Body::Enroll(Enroll {
                party: p.party.clone(),
                name: p.name.clone(),
                country: Country::parse(&p.country)?,
                roles,
                keys: vec![key.public_key()],
            }),
        };
        enrollments.push(Statement::sign(event, ledger.signing_origin(), &operator)?);
        keys.insert(p.party.to_string(), key);
    }
    keys.insert(OPERATOR.to_owned(), operator);
    ledger.append(enrollments, now, &Silent)?;
    Ok((ledger, keys))
}

/// Signs each line of `jsonl` with its actor's test key and appends it on its own, as
/// suppliers submit events. Returns how many were appended.
pub fn append_events<S: Store>(
    ledger: &Ledger<S>,
    keys: &TestKeys,
    ctx: &mut SigningContext<'_>,
    jsonl: &str,
) -> Result<usize> {
    let key_for = |actor: &PartyId| {
        keys.get(actor.as_str())
            .ok_or_else(|| ledger::Error::BadInput(format!("no test key for {actor}")))
    };
    let mut appended = 0;
    for line in jsonl.lines().filter(|l| !l.trim().is_empty()) {
        let statements = ctx.sign_text(line, "scenario", &key_for, &mut rand::random)?;
        appended += statements.len();
        ledger.append(statements, ledger::now()?, &Silent)?;
    }
    Ok(appended)
}
