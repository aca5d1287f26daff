//! `custody witness vkey|serve|cosign`: a C2SP tlog-witness (`ledger-witness`) over a
//! `custody keygen` key. `serve` is the network witness; `cosign` runs the same check and
//! store on one request body, for an auditor who keeps the witness state in a directory.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow};
use ledger_core::note::NoteSigner;
use ledger_witness::Witness;
use ledger_witness::protocol::MAX_REQUEST_SIZE;

use crate::cli::{WitnessAction, WitnessArgs, WitnessConfigArgs, WitnessKeyArgs};
use crate::commands::bundle::parse_vkey_for;
use crate::{exit, io, keyfile};

/// Runs `custody witness`.
pub fn run(args: WitnessArgs) -> Result<u8> {
    match args.action {
        WitnessAction::Vkey(args) => {
            crate::outln!("{}", vkey(&args)?);
            Ok(exit::SUCCESS)
        }
        WitnessAction::Serve(args) => {
            let witness = open(&args.config)?;
            crate::outln!("vkey {}", witness.vkey());
            let config = ledger_witness::server::Config {
                listen: args.listen,
                body_limit: MAX_REQUEST_SIZE,
                request_timeout: Duration::from_secs(args.timeout.max(1)),
            };
            ledger_witness::server::run(witness, &config, |url| {
                crate::outln!("listening on {url}");
            })
            .context("custody witness serve")?;
            Ok(exit::SUCCESS)
        }
        WitnessAction::Cosign(args) => {
            let witness = open(&args.config)?;
            let limit = u64::try_from(MAX_REQUEST_SIZE).unwrap_or(u64::MAX);
            let body = io::read_text(&args.request, limit)?;
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .context("the system clock is before 1970")?
                .as_secs();
            match witness.add_checkpoint(body.as_bytes(), now) {
                Ok(lines) => {
                    crate::outln!("{}", lines.trim_end_matches('\n'));
                    Ok(exit::SUCCESS)
                }
                // A request that is not one, or a state that cannot be used, is an error;
                // a checkpoint the witness must not cosign is a failed verdict.
                Err(e) if matches!(e.status(), 400 | 500) => {
                    Err(anyhow!("{e}")).with_context(|| args.request.display().to_string())
                }
                Err(e) => {
                    eprintln!("refused ({}): {e}", e.status());
                    Ok(exit::FAILED)
                }
            }
        }
    }
}

/// The witness's verifier key.
fn vkey(args: &WitnessKeyArgs) -> Result<String> {
    let key = keyfile::read_private(&args.key)?;
    let signer = NoteSigner::cosigner(&args.name, key.signing_key())
        .with_context(|| format!("--name {}", args.name))?;
    Ok(signer.verifier().vkey())
}

/// The witness of `args`: its key read, its logs parsed, its state directory locked.
fn open(args: &WitnessConfigArgs) -> Result<Witness> {
    let key = keyfile::read_private(&args.identity.key)?;
    let logs = args
        .logs
        .iter()
        .map(|text| parse_vkey_for("--log", text))
        .collect::<Result<Vec<_>>>()?;
    Ok(Witness::new(&args.identity.name, key, logs, &args.state)?)
}
