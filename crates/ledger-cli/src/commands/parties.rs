//! `custody enroll` and `custody revoke`: operator-signed changes to who may sign.

use std::path::Path;

use anyhow::{Context, Result};
use ledger_core::event::{Body, Enroll, Event, Revoke, Role};
use ledger_core::id::{Country, PartyId};
use ledger_core::keys::SecretKey;
use ledger_core::statement::Statement;

use crate::cli::{EnrollArgs, RevokeArgs};
use crate::commands::{append_statements, print_append};
use crate::{keyfile, ledger};

/// The operator's party id: the party the key is enrolled for.
fn operator_of(store: &dyn ledger_store::Store, key: &SecretKey) -> Result<PartyId> {
    store
        .key_owner(&key.public_key())?
        .context("the --operator-key is not enrolled in this ledger")
}

fn operator_event(
    store: &dyn ledger_store::Store,
    key: &SecretKey,
    body: Body,
) -> Result<Statement> {
    let event = Event {
        actor: operator_of(store, key)?,
        time: ledger::now()?,
        nonce: rand::random(),
        emissions_g_co2e: None,
        documents: Vec::new(),
        body,
    };
    ledger_core::validate::check_event(&event)?;
    Ok(Statement::sign(event, key)?)
}

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
    let store = ledger::open(dir)?;
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
    let statement = operator_event(&store, &operator, body)?;
    let outcome = append_statements(&store, vec![statement])?;
    print_append(&outcome, args.json)
}

/// Runs `custody revoke`.
pub fn revoke(dir: &Path, args: RevokeArgs) -> Result<u8> {
    let store = ledger::open(dir)?;
    let operator = keyfile::read_private(&args.operator_key)?;
    let body = Body::Revoke(Revoke {
        party: PartyId::new(&args.party).context("--party")?,
        key: keyfile::read_public(&args.key)?,
    });
    let statement = operator_event(&store, &operator, body)?;
    let outcome = append_statements(&store, vec![statement])?;
    print_append(&outcome, args.json)
}
