//! `custody parties` and `custody lots`: what is in the ledger, for people who need an id.

use std::path::Path;

use anyhow::{Context, Result};
use ledger_core::event::Role;
use ledger_core::id::Country;
use ledger_store::Store;
use serde_json::json;

use crate::cli::{LotsArgs, PartiesArgs};
use crate::commands::{close, open_to_read, print_json};
use crate::exit;

/// Lots read from the store at a time while filtering.
const PAGE: usize = 1024;

/// Runs `custody parties`.
pub fn parties(dir: &Path, args: PartiesArgs) -> Result<u8> {
    let role = args
        .role
        .as_deref()
        .map(|r| Role::parse(r).with_context(|| format!("--role: unknown role {r:?}")))
        .transpose()?;
    let country = args
        .country
        .as_deref()
        .map(|c| Country::parse(c).context("--country"))
        .transpose()?;
    let ledger = open_to_read(dir)?;
    let mut parties = ledger.store().parties()?;
    close(ledger)?;
    parties.retain(|p| {
        role.is_none_or(|r| p.roles.contains(&r))
            && country.as_ref().is_none_or(|c| p.country == *c)
    });
    if args.json {
        let list: Vec<_> = parties
            .iter()
            .map(|p| {
                json!({
                    "id": p.id, "name": p.name, "country": p.country, "roles": p.roles,
                    "keys": p.keys.iter().map(|k| json!({
                        "key": k.key, "enrolled_seq": k.enrolled_seq, "revoked_seq": k.revoked_seq,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        print_json(&json!({ "parties": list }))?;
    } else {
        for p in &parties {
            let roles: Vec<&str> = p.roles.iter().map(|r| r.name()).collect();
            let revoked = p.keys.iter().filter(|k| k.revoked_seq.is_some()).count();
            crate::outln!(
                "{}  {}  {}  {}  ({}, {revoked} revoked)",
                p.id,
                p.country,
                roles.join(","),
                p.name,
                ledger_core::plural::counted(p.keys.len(), "key", "keys")
            );
        }
    }
    Ok(exit::SUCCESS)
}

/// Runs `custody lots`.
pub fn lots(dir: &Path, args: LotsArgs) -> Result<u8> {
    let ledger = open_to_read(dir)?;
    let store = ledger.store();
    let mut found = Vec::new();
    let mut after = args.after.clone();
    let mut more = false;
    'pages: loop {
        let page = store.lots(after.as_ref(), PAGE)?;
        let last = page.len() < PAGE;
        for (id, lot) in page {
            after = Some(id.clone());
            let wanted = args
                .material
                .as_deref()
                .is_none_or(|m| lot.material.as_str() == m)
                && args
                    .creator
                    .as_deref()
                    .is_none_or(|c| lot.creator.as_str() == c);
            if !wanted {
                continue;
            }
            if found.len() == args.limit {
                more = true;
                break 'pages;
            }
            found.push((id, lot));
        }
        if last {
            break;
        }
    }
    close(ledger)?;
    let next = more
        .then(|| found.last().map(|(id, _)| id.clone()))
        .flatten();
    if args.json {
        let list: Vec<_> = found
            .iter()
            .map(|(id, lot)| {
                json!({
                    "id": id, "material": lot.material, "created": lot.created,
                    "creator": lot.creator,
                    "created_by": lot.created_by, "capacity_wh": lot.capacity_wh,
                })
            })
            .collect();
        print_json(&json!({ "lots": list, "next": next }))?;
    } else {
        for (id, lot) in &found {
            crate::outln!(
                "{id}  {}  {}  by {}",
                lot.material,
                lot.created,
                lot.creator
            );
        }
        if let Some(next) = next {
            crate::outln!("(more: custody lots --after {next})");
        }
    }
    Ok(exit::SUCCESS)
}
