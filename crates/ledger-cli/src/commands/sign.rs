//! `custody sign`: supplier JSON events in, signed statements out (one JSON object per line).

use std::io::Write;
use std::path::Path;

use anyhow::{Result, anyhow, bail};
use ledger::{Ledger, SigningContext};
use ledger_core::statement::{Origin, Statement, StatementJson};
use ledger_store_postgres::AnyStore;

use crate::cli::SignArgs;
use crate::commands::remote::SigningReads;
use crate::commands::{close, open_to_read};
use crate::{exit, io, keyfile};

/// Runs `custody sign`: the links are filled from the ledger in `dir`, or, with `server`,
/// from that server (a supplier who never sees the ledger's files). The key stays here.
pub fn run(dir: &Path, args: &SignArgs, server: Option<&str>) -> Result<u8> {
    let key = keyfile::read_private(&args.key)?;
    let text = io::read_text(&args.events, io::MAX_INPUT)?;
    let given = args
        .origin
        .as_deref()
        .map(Origin::new)
        .transpose()
        .map_err(|e| anyhow!("--origin: {e}"))?;
    let source = args.events.display().to_string();
    let sign = |ctx: &mut SigningContext<'_>| {
        ctx.sign_text(&text, &source, &|_| Ok(&key), &mut rand::random)
    };
    let statements = match server {
        Some(server) => {
            let reads = SigningReads::new(server)?;
            let origin = reads.origin()?;
            if let Some(given) = given
                && given != origin
            {
                bail!(
                    "--origin {given} is not the origin of the ledger at {server} ({origin}): \
                     statements signed for one ledger are refused by every other"
                );
            }
            sign(&mut SigningContext::new(Some(&reads), origin))?
        }
        None => sign_with_ledger(dir, given, sign)?,
    };
    let mut lines = String::new();
    for statement in &statements {
        lines.push_str(&serde_json::to_string(&StatementJson::new(statement)?)?);
        lines.push('\n');
    }
    match &args.out {
        Some(path) => io::write_atomically(path, lines.as_bytes())?,
        None => std::io::stdout().write_all(lines.as_bytes())?,
    }
    Ok(exit::SUCCESS)
}

/// Signs with `sign` over the ledger in `dir` if there is one (else offline, for the
/// `given` origin), then warns about signers the ledger would refuse.
fn sign_with_ledger(
    dir: &Path,
    given: Option<Origin>,
    sign: impl Fn(&mut SigningContext<'_>) -> ledger::Result<Vec<Statement>>,
) -> Result<Vec<Statement>> {
    let named = dir.exists() || ledger_store_postgres::database_url(dir).is_some();
    let ledger = if named {
        Some(open_to_read(dir)?)
    } else {
        None
    };
    let mut ctx = match (&ledger, given) {
        (Some(ledger), Some(given)) if given != *ledger.signing_origin() => bail!(
            "--origin {given} is not the origin of the ledger at {} ({}): statements signed \
             for one ledger are refused by every other",
            dir.display(),
            ledger.origin()
        ),
        (Some(ledger), _) => ledger.signing_context(),
        (None, Some(origin)) => SigningContext::new(None, origin),
        (None, None) => bail!(
            "there is no ledger at {} to take its origin from: signing offline needs \
             --origin, the origin of the ledger the statements are for (the first line of \
             its checkpoints), because every signature covers it",
            dir.display()
        ),
    };
    let statements = sign(&mut ctx)?;
    drop(ctx);
    if let Some(ledger) = ledger {
        warn_about_signer(&ledger, &statements)?;
        close(ledger)?;
    }
    Ok(statements)
}

/// Warns on standard error about each reason the authority rule gives to refuse a
/// statement's signer (a key not enrolled for the actor, revoked, or a role that may not
/// sign the kind), each distinct reason once. The statements are still written: the ledger
/// may change before they are appended.
fn warn_about_signer(ledger: &Ledger<AnyStore>, statements: &[Statement]) -> Result<()> {
    let mut shown = Vec::new();
    for statement in statements {
        for (rule, reason) in ledger.signer_findings(statement)? {
            let line = format!("warning: {reason}; append will refuse it ({})", rule.code());
            if !shown.contains(&line) {
                eprintln!("{line}");
                shown.push(line);
            }
        }
    }
    Ok(())
}
