//! `custody enroll` and `custody revoke`: operator-signed changes to who may sign.

use std::path::Path;

use anyhow::{Context, Result};
use ledger_core::event::{Body, Enroll, Revoke, Role};
use ledger_core::id::{Country, PartyId};

use crate::cli::{EnrollArgs, RevokeArgs};
use crate::commands::append::append_and_print;
use crate::commands::open;
use crate::keyfile;

/// Parses `--role` values.
pub fn roles(names: &[String]) -> Result<Vec<Role>> {
    let mut roles = names
        .iter()
        .map(|n| Role::parse(n.trim()).with_context(|| format!("--role: unknown role {n:?}")))
        .collect::<Result<Vec<_>>>()?;
    roles.sort();
    roles.dedup();
    Ok(roles)
}

/// Runs `custody enroll`.
pub fn enroll(dir: &Path, args: EnrollArgs) -> Result<u8> {
    let ledger = open(dir)?;
    let operator = keyfile::read_private(&args.operator_key)?;
    let keys = args
        .key
        .iter()
        .map(|p| keyfile::read_public(p))
        .collect::<Result<Vec<_>>>()?;
    let body = Body::Enroll(Enroll {
        party: PartyId::new(&args.party).context("--party")?,
        name: args.name,
        country: Country::parse(&args.country).context("--country")?,
        roles: roles(&args.role)?,
        keys,
    });
    let statement = ledger.operator_statement(&operator, body, ledger::now()?, rand::random())?;
    append_and_print(ledger, std::iter::once(Ok(statement)), args.json, false)
}

/// Runs `custody revoke`.
pub fn revoke(dir: &Path, args: RevokeArgs) -> Result<u8> {
    let ledger = open(dir)?;
    let operator = keyfile::read_private(&args.operator_key)?;
    let body = Body::Revoke(Revoke {
        party: PartyId::new(&args.party).context("--party")?,
        key: keyfile::read_public(&args.key)?,
    });
    let statement = ledger.operator_statement(&operator, body, ledger::now()?, rand::random())?;
    append_and_print(ledger, std::iter::once(Ok(statement)), args.json, false)
}
