//! `custody init`: a new ledger whose genesis entry is the operator enrolling itself.

use std::path::Path;

use anyhow::{Context, Result};
use ledger::{Genesis, Ledger};
use ledger_core::keys::SecretKey;
use ledger_core::note::NoteVerifier;
use ledger_store::SledStore;

use crate::cli::InitArgs;
use crate::{exit, keyfile};

/// Runs `custody init`.
pub fn run(dir: &Path, args: InitArgs) -> Result<u8> {
    let created = !args.operator_key.exists();
    if created {
        keyfile::write_pair(&args.operator_key, &SecretKey::generate())?;
    }
    let key = keyfile::read_private(&args.operator_key)?;
    // The origin names the checkpoint key: refuse one that cannot, before creating anything.
    let vkey = NoteVerifier::new(&args.origin, *key.public_key().verifying_key())
        .context("--origin")?
        .vkey();
    let genesis = Genesis {
        party: &args.operator_id,
        name: &args.operator_name,
        country: &args.operator_country,
    };
    let store = SledStore::create(dir, &args.origin)?;
    Ledger::init(store, &key, &genesis, ledger::now()?, rand::random())?;
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
