//! `custody init`: a new ledger whose genesis entry is the operator enrolling itself.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use ledger::{Genesis, Ledger};
use ledger_core::keys::SecretKey;
use ledger_core::note::NoteVerifier;
use ledger_store::{SledStore, StoreError};
use ledger_store_postgres::{AnyStore, PgStore, database_url};

use crate::cli::InitArgs;
use crate::{exit, keyfile};

/// Runs `custody init`.
pub fn run(dir: &Path, args: InitArgs) -> Result<u8> {
    let created = !args.operator_key.exists();
    if created {
        keyfile::write_pair(&args.operator_key, &SecretKey::generate())?;
    }
    let made = make_ledger(dir, &args);
    if made.is_err() && created && !dir.join("db").exists() {
        // A failed init leaves no key behind that nothing is enrolled with (once the ledger
        // is in place, even if syncing its parent failed, the key is its operator's).
        keyfile::remove_pair(&args.operator_key);
    }
    let key = made?;
    let vkey = NoteVerifier::new(&args.origin, *key.public_key().verifying_key())
        .context("--origin")?
        .vkey();
    // Auditors verify checkpoints and bundles against this key: keep it beside the key
    // file, ready to publish and to pass to `verify --bundle ... --vkey FILE`.
    // A convenience, written once the ledger is complete: failing to write it does not undo
    // the ledger, and leaves no file behind.
    let vkey_file = keyfile::with_suffix(&args.operator_key, ".vkey");
    let written = crate::io::write_atomically(&vkey_file, format!("{vkey}\n").as_bytes());
    if let Err(e) = &written {
        let _ = std::fs::remove_file(&vkey_file);
        eprintln!(
            "warning: the verifier key was not written to {}: {e:#}",
            vkey_file.display()
        );
    }
    if args.json {
        crate::commands::print_json(&serde_json::json!({
            "ledger": dir.display().to_string(),
            "origin": args.origin,
            "operator": args.operator_id,
            "operator_key": key.public_key().to_hex(),
            "vkey": vkey,
            "vkey_file": written.is_ok().then(|| vkey_file.display().to_string()),
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
        if written.is_ok() {
            crate::outln!(
                "checkpoint verifier key (publish this; also in {}): {vkey}",
                vkey_file.display()
            );
        } else {
            crate::outln!("checkpoint verifier key (publish this): {vkey}");
        }
    }
    Ok(exit::SUCCESS)
}

/// Creates the ledger in `dir` all at once: it is built in a temporary directory beside
/// `dir` (the store, its genesis entry, everything fsynced), which is then renamed to `dir`
/// and the parent directory fsynced. A run killed at any point leaves `dir` absent (or the
/// empty directory it was) or the complete ledger, and can simply be run again. Returns the
/// operator key.
fn make_ledger(dir: &Path, args: &InitArgs) -> Result<SecretKey> {
    let key = keyfile::read_private(&args.operator_key)?;
    // The origin names the checkpoint key: refuse one that cannot, before creating anything.
    NoteVerifier::new(&args.origin, *key.public_key().verifying_key()).context("--origin")?;
    let genesis = Genesis {
        party: &args.operator_id,
        name: &args.operator_name,
        country: &args.operator_country,
    };
    if let Some(url) = database_url(dir) {
        // One database transaction creates the schema, another appends the genesis entry:
        // a run that fails between them leaves an empty ledger, which init refuses to reuse.
        let store = AnyStore::Postgres(PgStore::create(url, &args.origin)?);
        let ledger = Ledger::init(store, &key, &genesis, ledger::now()?, rand::random())?;
        crate::commands::close(ledger)?;
        return Ok(key);
    }
    match std::fs::read_dir(dir).map(|mut listing| listing.next().is_some()) {
        Ok(true) => {
            let dir = dir.to_path_buf();
            return Err(if dir.join("db").exists() {
                StoreError::AlreadyExists { dir }
            } else {
                StoreError::NotEmpty { dir }
            }
            .into());
        }
        Ok(false) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => {
            let path = dir.to_path_buf();
            return Err(StoreError::Io { path, error }.into());
        }
    }
    let temp = temp_dir(dir)?;
    let built = SledStore::create(&temp, &args.origin)
        .map_err(anyhow::Error::from)
        .and_then(|mut store| {
            store.release_at_exit();
            let store = AnyStore::Sled(store);
            let ledger = Ledger::init(store, &key, &genesis, ledger::now()?, rand::random())?;
            crate::commands::close(ledger)
        });
    if let Err(e) = built {
        // Nothing of a failed init is left behind.
        let _ = std::fs::remove_dir_all(&temp);
        return Err(e);
    }
    if let Err(e) = std::fs::rename(&temp, dir) {
        let _ = std::fs::remove_dir_all(&temp);
        return Err(anyhow::anyhow!(
            "cannot move the new ledger from {} to {}: {}",
            temp.display(),
            dir.display(),
            ledger_store::describe_io(&e)
        ));
    }
    let parent = temp.parent().unwrap_or(Path::new("."));
    std::fs::File::open(parent)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync {}", parent.display()))?;
    Ok(key)
}

/// The temporary directory a new ledger for `dir` is built in: `.NAME.custody-init` beside
/// it. One left by an interrupted init is removed, unless an init still runs in it.
fn temp_dir(dir: &Path) -> Result<PathBuf> {
    let name = dir
        .file_name()
        .with_context(|| format!("{} does not name a directory", dir.display()))?;
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    let temp = parent.join(format!(".{}.custody-init", name.to_string_lossy()));
    if temp.exists() {
        if let Ok(file) = std::fs::File::open(temp.join("custody.lock"))
            && matches!(file.try_lock(), Err(std::fs::TryLockError::WouldBlock))
        {
            anyhow::bail!(
                "another custody init of {} is running (in {})",
                dir.display(),
                temp.display()
            );
        }
        std::fs::remove_dir_all(&temp).with_context(|| {
            format!(
                "cannot remove {}, left by an interrupted init",
                temp.display()
            )
        })?;
    }
    Ok(temp)
}
