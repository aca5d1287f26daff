//! `custody sign`: supplier JSON events in, signed statements out (one JSON object per line).

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use ledger_core::input::{MAX_EVENT_JSON, parse_event, parse_events};
use ledger_core::keys::SecretKey;
use ledger_core::statement::{Statement, StatementJson};
use ledger_core::validate::FieldError;

use crate::cli::SignArgs;
use crate::ledger::SigningState;
use crate::{exit, io, keyfile, ledger};

/// Signs every event in `text` with the key `key_for` picks for its actor, filling links
/// from `ctx`, which learns from each event before the next.
pub fn sign_text<'k>(
    text: &str,
    origin: &str,
    ctx: &mut SigningState<'_>,
    key_for: &dyn Fn(&str) -> Result<&'k SecretKey>,
) -> Result<Vec<Statement>> {
    let mut out = Vec::new();
    let mut failure: Option<anyhow::Error> = None;
    let result = parse_events(text, &mut |value, index| {
        let size = value.to_string().len();
        if size > MAX_EVENT_JSON {
            return Err(FieldError::new(
                "(event)",
                format!("{size} bytes exceed the limit of {MAX_EVENT_JSON}"),
            ));
        }
        let event = parse_event(value, ctx)
            .map_err(|e| FieldError::new(format!("event {}: {}", index + 1, e.path), e.reason))?;
        let actor = event.actor.clone();
        let signed = key_for(actor.as_str()).and_then(|key| Ok(Statement::sign(event, key)?));
        match signed {
            Ok(statement) => {
                ctx.learn(
                    statement
                        .id()
                        .map_err(|e| FieldError::new("(event)", e.to_string()))?,
                    &statement.event,
                );
                out.push(statement);
                Ok(())
            }
            Err(e) => {
                failure = Some(e);
                Err(FieldError::new(
                    format!("event {}", index + 1),
                    "cannot be signed",
                ))
            }
        }
    });
    if let Some(e) = failure {
        return Err(e);
    }
    result.with_context(|| format!("{origin}: invalid event"))?;
    Ok(out)
}

/// Runs `custody sign`.
pub fn run(dir: &Path, args: SignArgs) -> Result<u8> {
    let key = keyfile::read_private(&args.key)?;
    let text = io::read_text(&args.events, io::MAX_INPUT)?;
    let store = if dir.exists() {
        Some(ledger::open(dir)?)
    } else {
        None
    };
    let mut ctx = SigningState::new(store.as_ref().map(|s| s as &dyn ledger_store::Store));
    let statements = sign_text(&text, &args.events.display().to_string(), &mut ctx, &|_| {
        Ok(&key)
    })?;
    let mut lines = String::new();
    for statement in &statements {
        lines.push_str(&serde_json::to_string(&StatementJson::new(statement)?)?);
        lines.push('\n');
    }
    match &args.out {
        Some(path) => std::fs::write(path, lines)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => std::io::stdout().write_all(lines.as_bytes())?,
    }
    Ok(exit::SUCCESS)
}
