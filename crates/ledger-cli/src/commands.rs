//! Runs a parsed command line. Each command lives in its own module and returns the exit
//! code; errors bubble up to `main`, which maps them to exit code 2.

mod append;
mod bench;
mod bundle;
mod checkpoint;
mod demo;
mod explain;
mod held;
mod init;
mod keygen;
mod label;
mod listing;
mod loadgen;
mod parties;
mod passport_request;
mod proof;
mod remote;
mod report;
mod serve;
mod show;
mod sign;
mod submit;
mod tiles;
mod trace;
mod verify;
mod witness;
mod witnessed;

use std::path::Path;

use anyhow::Result;
use ledger::Ledger;
use ledger_core::policy::Policy;
use std::time::{Duration, Instant};

use ledger_store::{LogView, SledStore, Store, StoreError};
use ledger_store_postgres::{AnyStore, PgStore, database_url};

use crate::cli::{Cli, Command};

/// Runs `cli` and returns the process exit code.
pub fn run(cli: Cli) -> Result<u8> {
    let dir = cli.ledger;
    if let Some(server) = &cli.server {
        remote::trust_roots(cli.ca.as_deref())?;
        return match &cli.command {
            Command::Submit(args) => submit::run(server, args),
            Command::Sign(args) => sign::run(&dir, args, Some(server)),
            Command::Verify(args) => match &args.bundle {
                // A bundle is verified here; the server only gives consistency proofs.
                Some(bundle) => bundle::verify(bundle, args, Some(server)),
                None => remote::verify(server, args),
            },
            Command::Trace(args) => remote::trace(server, args),
            Command::ExportBundle(args) => remote::export_bundle(server, args),
            Command::Checkpoint(args) => remote::checkpoint(server, args),
            Command::Proof(args) => remote::proof(server, &args.kind),
            Command::Bench(args) => loadgen::run(server, args),
            Command::Show(args) => remote::show(server, args),
            Command::Parties(args) => remote::parties(server, args),
            Command::Serve(_) => {
                anyhow::bail!("custody serve serves a --ledger DIR, not a --server")
            }
            _ => anyhow::bail!(
                "this command does not run against a --server: run it on the ledger's machine"
            ),
        };
    }
    match cli.command {
        Command::Init(args) => init::run(&dir, args),
        Command::Keygen(args) => keygen::run(args),
        Command::Enroll(args) => parties::enroll(&dir, args),
        Command::Revoke(args) => parties::revoke(&dir, args),
        Command::Sign(args) => sign::run(&dir, &args, None),
        Command::Append(args) => append::run(&dir, args),
        Command::Verify(args) => verify::run(&dir, args),
        Command::Trace(args) => trace::run(&dir, args),
        Command::Report(args) => report::run(&dir, args),
        Command::Checkpoint(args) => checkpoint::run(&dir, args),
        Command::Proof(args) => proof::run(&dir, args),
        Command::ExportBundle(args) => bundle::export(&dir, args),
        Command::ExportTiles(args) => tiles::export(&dir, &args),
        Command::Label(args) => label::run(&dir, &args),
        Command::PassportRequest(args) => passport_request::run(&args),
        Command::Show(args) => show::run(&dir, args),
        Command::Demo(args) => demo::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Policy(args) => {
            let policy = load_policy(args.policy.as_deref())?;
            if args.json {
                print_json(&policy)?;
            } else {
                let text = toml::to_string(&policy)?;
                crate::outln!("{}", text.trim_end());
            }
            Ok(crate::exit::SUCCESS)
        }
        Command::Explain(args) => explain::run(&args.code),
        Command::Parties(args) => listing::parties(&dir, args),
        Command::Lots(args) => listing::lots(&dir, args),
        Command::Serve(args) => serve::run(&dir, args),
        Command::Submit(_) => {
            anyhow::bail!("custody submit sends to a server: give --server URL")
        }
        Command::Witness(args) => witness::run(args),
        Command::Completions(args) => {
            let mut command = <Cli as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(args.shell, &mut command, "custody", &mut script);
            crate::io::write_stdout_bytes(&script);
            Ok(crate::exit::SUCCESS)
        }
        Command::Manpage => {
            let command = <Cli as clap::CommandFactory>::command();
            let mut page = Vec::new();
            clap_mangen::Man::new(command).render(&mut page)?;
            crate::io::write_stdout_bytes(&page);
            Ok(crate::exit::SUCCESS)
        }
        Command::Schema(_) => {
            crate::outln!(
                "{}",
                serde_json::to_string_pretty(&ledger_core::schema::input_schema())?
            );
            Ok(crate::exit::SUCCESS)
        }
    }
}

/// Prints `value` as one line of JSON.
pub fn print_json(value: &impl serde::Serialize) -> Result<()> {
    crate::outln!("{}", serde_json::to_string(value)?);
    Ok(())
}

/// How long a command waits for a ledger another process holds, unless
/// `CUSTODY_LOCK_WAIT` (seconds) says otherwise.
const LOCK_WAIT: Duration = Duration::from_secs(30);

/// Opens the ledger in `dir`, or in the database a `postgres://` URL names, to write it.
/// While another custody process holds a sled ledger, waits (saying so once on standard
/// error) up to `CUSTODY_LOCK_WAIT` seconds, 30 by default; a database is shared and never
/// waited for.
pub fn open(dir: &Path) -> Result<Ledger<AnyStore>> {
    open_for(dir, Access::Write)
}

/// Opens the ledger in `dir` (or a database) for a command that only reads it. While
/// another custody process holds a sled ledger, reads it at once, as of its last
/// acknowledged append, from its entry log ([`ledger_store::LogView`]), saying so once on
/// standard error: readers never wait for a writer, nor for each other.
pub fn open_to_read(dir: &Path) -> Result<Ledger<AnyStore>> {
    open_for(dir, Access::Read)
}

/// What a command does with a ledger it opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Read,
    Write,
}

fn open_for(dir: &Path, access: Access) -> Result<Ledger<AnyStore>> {
    if let Some(url) = database_url(dir) {
        return match PgStore::open(url) {
            Err(StoreError::NotALedger { dir }) => anyhow::bail!(
                "there is no ledger in the database {}: create one with custody init --ledger \
                 URL --origin NAME --operator-key FILE",
                dir.display()
            ),
            opened => Ok(Ledger::open(AnyStore::Postgres(opened?))?),
        };
    }
    let wait = std::env::var("CUSTODY_LOCK_WAIT")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .map_or(LOCK_WAIT, Duration::from_secs);
    let start = Instant::now();
    let mut told = false;
    loop {
        match SledStore::open(dir) {
            Err(StoreError::Locked { .. }) if serve::running_server(dir).is_some() => {
                let url = serve::running_server(dir).unwrap_or_default();
                anyhow::bail!(
                    "ledger at {} is held by custody serve at {url}: send the command there \
                     with --server {url} (or stop the server first)",
                    dir.display()
                );
            }
            Err(StoreError::Locked { .. }) if access == Access::Read => {
                let view = LogView::open(dir)?;
                eprintln!(
                    "note: another custody process is writing the ledger at {}; reading it as \
                     of its last acknowledged append ({})",
                    dir.display(),
                    ledger_core::plural::counted(view.head()?.size, "entry", "entries")
                );
                return Ok(Ledger::open(AnyStore::View(Box::new(view)))?);
            }
            Err(StoreError::Locked { .. }) if start.elapsed() < wait => {
                if !told {
                    eprintln!(
                        "waiting for the ledger at {}: another custody process has it open \
                         (up to {} s; CUSTODY_LOCK_WAIT sets how long)",
                        dir.display(),
                        wait.as_secs()
                    );
                    told = true;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(StoreError::NotALedger { dir }) => {
                let hint = "name an existing ledger with --ledger DIR or CUSTODY_LEDGER";
                if dir.exists() {
                    anyhow::bail!("{} is not a custody ledger: {hint}", dir.display());
                }
                anyhow::bail!(
                    "there is no ledger at {}: create one with custody init --origin NAME \
                     --operator-key FILE, or {hint}",
                    dir.display()
                );
            }
            opened => {
                let mut store = opened?;
                store.release_at_exit();
                return Ok(Ledger::open(AnyStore::Sled(store))?);
            }
        }
    }
}

/// Makes everything the command wrote durable and ends its use of the ledger, so that an
/// I/O error at close is an error here rather than a panic in sled's own close.
pub fn close(ledger: Ledger<impl Into<AnyStore> + ledger_store::Store>) -> Result<()> {
    Ok(ledger.into_store().into().close()?)
}

/// Loads a due-diligence policy from TOML or JSON (by extension; TOML otherwise), or the
/// default policy when no file is given.
pub fn load_policy(path: Option<&Path>) -> Result<Policy> {
    let Some(path) = path else {
        return Ok(Policy::default());
    };
    let text = crate::io::read_text(path, 1 << 20)?;
    let json = path.extension().is_some_and(|e| e == "json");
    let policy = ledger::parse_policy(&text, json, &path.display().to_string())?;
    for role in policy.roles_without_requirements() {
        eprintln!(
            "warning: policy {} requires no attestation of a {}: its parties pass due \
             diligence unexamined",
            path.display(),
            role.name()
        );
    }
    Ok(policy)
}
