//! `custody serve`: runs the network server (`ledger-server`) over the ledger, which it holds
//! until it stops. While it runs, `serve.url` in the ledger directory names it, so a command
//! on the same machine that finds the ledger held says where to send its request instead.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use ledger_server::{Config, GroupSettings, WitnessSettings};

use crate::cli::ServeArgs;
use crate::commands::{close, open};
use crate::{exit, keyfile};

/// The file in the ledger directory naming the server that holds it.
pub const URL_FILE: &str = "serve.url";

/// Runs `custody serve`.
pub fn run(dir: &Path, args: ServeArgs) -> Result<u8> {
    let key = keyfile::read_private(&args.operator_key)?;
    let store = args.store.as_deref().map(Path::new).unwrap_or(dir);
    let ledger = open(store)?;
    // A database has no directory to name the server in.
    let dir = ledger_store_postgres::database_url(store).map_or(Some(store), |_| None);
    let config = Config {
        listen: args.listen.clone(),
        group: GroupSettings {
            max_statements: args.group_size.max(1),
            max_latency: Duration::from_millis(args.group_ms),
            checkpoint_interval: Duration::from_millis(args.checkpoint_ms),
        },
        queue: args.queue,
        body_limit: args.body_limit,
        request_timeout: Duration::from_secs(args.timeout.max(1)),
        header_timeout: Duration::from_secs(args.header_timeout.max(1)),
        concurrency: args.concurrency,
        rate_per_ip: args.rate_per_ip,
        rate_per_signer: args.rate_per_signer,
        tls: match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => Some((cert.clone(), key.clone())),
            _ => None,
        },
        log_json: args.log_json,
        witnesses: witness_settings(&args)?,
        passport_base_url: args.base_url.clone(),
    };
    let url_file = dir.map(|dir| dir.join(URL_FILE));
    let ready = |url: &str| {
        // Best effort: it only improves the message other commands give.
        if let Some(file) = &url_file {
            let _ = std::fs::write(file, format!("{url}\n"));
        }
        crate::outln!("listening on {url}");
    };
    let served = ledger_server::run(ledger, key, &config, ready);
    if let Some(file) = &url_file {
        let _ = std::fs::remove_file(file);
    }
    let ledger = served.context("custody serve")?;
    close(ledger)?;
    Ok(exit::SUCCESS)
}

/// The URL of the server holding the ledger in `dir`, if one says so.
pub fn running_server(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join(URL_FILE)).ok()?;
    let url = text.trim();
    (!url.is_empty() && url.len() < 512).then(|| url.to_owned())
}

/// The `--witness` settings, if any.
fn witness_settings(args: &ServeArgs) -> Result<Option<WitnessSettings>> {
    if args.witnesses.is_empty() {
        return Ok(None);
    }
    let (endpoints, quorum) =
        crate::commands::witnessed::endpoints(&args.witnesses, args.witness_quorum)?;
    Ok(Some(WitnessSettings {
        endpoints,
        quorum,
        timeout: Duration::from_secs(args.witness_timeout.max(1)),
        retry: Duration::from_secs(1),
    }))
}
