//! `custody demo`: builds the fictional scenario of `fixtures/demo/` in a fresh ledger,
//! through the same signing and append paths suppliers use, then verifies the battery
//! module and prints its provenance.
//!
//! Cobalt comes from an industrial and an artisanal mine in the DR Congo (the artisanal ore
//! through a trader), is refined in the DR Congo and Finland, blended with recycled cobalt
//! sulfate, made into cathode and cells, and assembled into a module with mica insulators
//! from an Indian mine and processor; an auditor attests to every supplier. Every party's
//! key is a deterministic **test key** (see [`test_key`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use ledger_core::event::{Body, Enroll, Event};
use ledger_core::hash::Digest;
use ledger_core::id::{Country, LotId, PartyId};
use ledger_core::keys::SecretKey;
use ledger_core::policy::Policy;
use ledger_core::statement::Statement;
use ledger_store::SledStore;
use serde::Deserialize;
use serde_json::json;

use crate::cli::DemoArgs;
use crate::commands::{append_statements, init_ledger, print_trace, sign_text};
use crate::ledger::{self, SigningState};

/// The scenario's parties.
const PARTIES: &str = include_str!("../../../fixtures/demo/parties.json");
/// The scenario's events, in log order, as suppliers write them.
const SCENARIO: &str = include_str!("../../../fixtures/demo/scenario.jsonl");
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

/// Runs `custody demo`.
pub fn run(args: DemoArgs) -> Result<u8> {
    let temp;
    let dir: PathBuf = match args.dir {
        Some(dir) => dir,
        None => {
            temp = tempfile::tempdir().context("cannot create a temporary directory")?;
            temp.path().join("ledger")
        }
    };
    let (store, keys) = enrolled_ledger(&dir)?;
    crate::outln!("ledger {} (origin {ORIGIN})", dir.display());
    crate::outln!("enrolled {} parties with test keys", keys.len() - 1);
    let mut ctx = SigningState::new(Some(&store));
    let appended = append_events(&store, &keys, &mut ctx, SCENARIO)?;
    crate::outln!("appended {appended} signed custody events");

    let lot = LotId::new(MODULE)?;
    let (report, trace) = ledger::verify_lot(&store, &lot, &Policy::default(), ledger::now()?)?;
    crate::outln!();
    if let Some(trace) = &trace {
        print_trace(trace);
    }
    crate::outln!();
    crate::commands::print_report(&report);
    let whole = ledger::verify_ledger(&store)?;
    crate::outln!(
        "whole ledger: {}, {} entries",
        json!(whole.verdict).as_str().unwrap_or_default(),
        whole.entries
    );
    Ok(crate::commands::verdict_code(&report).max(crate::commands::verdict_code(&whole)))
}

/// Test keys by party id.
pub type TestKeys = HashMap<String, SecretKey>;

/// A new ledger in `dir` with the demo operator and every demo party enrolled, each with
/// its test key.
pub fn enrolled_ledger(dir: &Path) -> Result<(SledStore, TestKeys)> {
    let operator = test_key(OPERATOR);
    let store = init_ledger(
        dir,
        ORIGIN,
        &operator,
        OPERATOR,
        "Custody demo operator (fictional)",
        "BE",
    )?;
    let parties: Vec<PartyIn> =
        serde_json::from_str(PARTIES).context("fixtures/demo/parties.json")?;
    let mut keys = TestKeys::new();
    let mut enrollments = Vec::new();
    for p in &parties {
        let key = test_key(p.party.as_str());
        let event = Event {
            actor: PartyId::new(OPERATOR)?,
            time: ledger::now()?.plus(-86_400 * 365),
            nonce: 0,
            emissions_g_co2e: None,
            documents: Vec::new(),
            body: Body::Enroll(Enroll {
                party: p.party.clone(),
                name: p.name.clone(),
                country: Country::parse(&p.country)?,
                roles: crate::commands::roles(&p.roles)?,
                keys: vec![key.public_key()],
            }),
        };
        enrollments.push(Statement::sign(event, &operator)?);
        keys.insert(p.party.to_string(), key);
    }
    keys.insert(OPERATOR.to_owned(), operator);
    expect_accepted(append_statements(&store, enrollments)?, "enrollments")?;
    Ok((store, keys))
}

/// Signs each line of `jsonl` with its actor's test key and appends it on its own, as
/// suppliers submit events. Returns how many were appended.
pub fn append_events(
    store: &SledStore,
    keys: &TestKeys,
    ctx: &mut SigningState<'_>,
    jsonl: &str,
) -> Result<usize> {
    let key_for = |actor: &str| {
        keys.get(actor)
            .with_context(|| format!("no test key for {actor}"))
    };
    let mut appended = 0;
    for line in jsonl.lines().filter(|l| !l.trim().is_empty()) {
        let statements = sign_text(line, "scenario", ctx, &key_for)?;
        appended += statements.len();
        expect_accepted(append_statements(store, statements)?, "scenario event")?;
    }
    Ok(appended)
}

fn expect_accepted(outcome: crate::commands::Outcome, what: &str) -> Result<()> {
    match outcome {
        Ok(_) => Ok(()),
        Err(refused) => {
            let reasons: Vec<String> = refused
                .findings
                .iter()
                .map(|(_, f)| f.to_string())
                .collect();
            anyhow::bail!("the demo's {what} were refused: {}", reasons.join("; "))
        }
    }
}
