//! `custody init`: a new ledger whose genesis entry is the operator enrolling itself.

use std::path::Path;

use anyhow::{Context, Result};
use ledger_core::event::{Body, Enroll, Event, Role};
use ledger_core::id::{Country, PartyId};
use ledger_core::keys::SecretKey;
use ledger_core::note::NoteVerifier;
use ledger_core::statement::Statement;
use ledger_store::SledStore;

use crate::cli::InitArgs;
use crate::{exit, keyfile, ledger};

/// Creates the ledger in `dir` with `operator` as its genesis operator.
pub fn init_ledger(
    dir: &Path,
    origin: &str,
    operator: &SecretKey,
    id: &str,
    name: &str,
    country: &str,
) -> Result<SledStore> {
    let party = PartyId::new(id).context("--operator-id")?;
    let country = Country::parse(country).context("--operator-country")?;
    // The origin names the checkpoint key: refuse one that cannot, before creating anything.
    NoteVerifier::new(origin, *operator.public_key().verifying_key()).context("--origin")?;
    let now = ledger::now()?;
    let event = Event {
        actor: party.clone(),
        time: now,
        nonce: rand::random(),
        emissions_g_co2e: None,
        documents: Vec::new(),
        body: Body::Enroll(Enroll {
            party,
            name: name.to_owned(),
            country,
            roles: vec![Role::Operator],
            keys: vec![operator.public_key()],
        }),
    };
    ledger_core::validate::check_event(&event).context("operator enrollment")?;
    let genesis = Statement::sign(event, operator)?;
    let store = SledStore::create(dir, origin)?;
    if let Err(refused) = ledger::append(&store, &[genesis], now)? {
        let reasons: Vec<String> = refused
            .findings
            .iter()
            .map(|(_, f)| f.to_string())
            .collect();
        anyhow::bail!("the genesis entry was refused: {}", reasons.join("; "));
    }
    Ok(store)
}

/// Runs `custody init`.
pub fn run(dir: &Path, args: InitArgs) -> Result<u8> {
    let created = !args.operator_key.exists();
    if created {
        keyfile::write_pair(&args.operator_key, &SecretKey::generate())?;
    }
    let key = keyfile::read_private(&args.operator_key)?;
    init_ledger(
        dir,
        &args.origin,
        &key,
        &args.operator_id,
        &args.operator_name,
        &args.operator_country,
    )?;
    let vkey = NoteVerifier::new(&args.origin, *key.public_key().verifying_key())?.vkey();
    if args.json {
        crate::commands::print_json(&serde_json::json!({
            "ledger": dir.display().to_string(),
            "origin": args.origin,
            "operator": args.operator_id,
            "operator_key": key.public_key().to_hex(),
            "vkey": vkey,
            "key_created": created,
        }))?;
    } else {
        if created {
            crate::outln!(
                "created operator key {} (and .pub)",
                args.operator_key.display()
            );
        }
        crate::outln!(
            "created ledger {} for origin {}",
            dir.display(),
            args.origin
        );
        crate::outln!(
            "operator party {} with key {}",
            args.operator_id,
            key.public_key()
        );
        crate::outln!("checkpoint verifier key (publish this): {vkey}");
    }
    Ok(exit::SUCCESS)
}
