//! `custody submit`: signed statements to a server (`custody serve`), and receipts the
//! supplier has checked itself before it is told they are in the log.
//!
//! Before reporting success it checks, for every receipt: the checkpoint's signature
//! against the pinned operator verifier key (`--vkey`); the inclusion proof of the leaf in
//! the tree that checkpoint signs; and that the leaf is the hash of an entry holding exactly
//! the statement submitted (read back from the server). It keeps the last checkpoint it saw
//! for that log (`--state`) and requires the new one to be consistent with it, so a server
//! that rewrote or forked the log since is caught.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use ledger::Silent;
use ledger_core::hash::Digest;
use ledger_core::merkle::{verify_consistency, verify_inclusion};
use ledger_core::note::{Checkpoint, NoteVerifier, open_checkpoint};
use ledger_core::statement::{Entry, StatementJson, entry_hash};
use serde_json::{Value, json};

use crate::cli::SubmitArgs;
use crate::commands::bundle::parse_vkey;
use crate::commands::print_json;
use crate::commands::remote::Client;
use crate::{exit, io};

fn digest(v: &Value, what: &str) -> Result<Digest> {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("the server's receipt has no valid {what}"))
}

/// Where the last checkpoint seen of the log `origin` is kept, unless `--state` says.
fn state_path(args: &SubmitArgs, origin: &str) -> PathBuf {
    if let Some(path) = &args.state {
        return path.clone();
    }
    let name: String = origin
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".local/state")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("custody").join(format!("{name}.checkpoint"))
}

/// Checks `note` with `verifier`, and its consistency with the checkpoint kept in `state`
/// (fetching the proof from `client`); then keeps it if it is newer.
fn check_checkpoint(
    client: &Client,
    verifier: &NoteVerifier,
    note: &str,
    state: &Path,
) -> Result<Checkpoint> {
    let opened = open_checkpoint(note.as_bytes(), verifier, &[], verifier.name())
        .context("the server's checkpoint is not signed by the pinned operator key (--vkey)")?;
    let new = opened.checkpoint;
    if let Ok(old_note) = std::fs::read_to_string(state) {
        let old = open_checkpoint(old_note.as_bytes(), verifier, &[], verifier.name())
            .with_context(|| format!("the checkpoint kept in {} does not verify", state.display()))?
            .checkpoint;
        if old.size() > new.size() {
            bail!(
                "the server's checkpoint has {} but one of {} was seen before ({}): the log was \
                 rolled back or forked",
                counted(new.size()),
                counted(old.size()),
                state.display()
            );
        }
        let proof = client
            .get(&format!(
                "/v1/proofs/consistency?from={}&to={}",
                old.size(),
                new.size()
            ))?
            .expect(&[200])?
            .json()?;
        let path: Vec<Digest> = proof["path"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|h| digest(h, "consistency hash"))
            .collect::<Result<_>>()?;
        verify_consistency(old.size(), new.size(), &path, old.root(), new.root()).map_err(|e| {
            anyhow::anyhow!(
                "the server's checkpoint is not consistent with the one seen before ({}): {e}",
                state.display()
            )
        })?;
        if old.size() == new.size() {
            return Ok(new);
        }
    }
    if let Some(dir) = state.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    io::write_atomically(state, note.as_bytes())?;
    Ok(new)
}

fn counted(n: u64) -> String {
    ledger_core::plural::counted(n, "entry", "entries")
}

/// Runs `custody submit`.
pub fn run(server: &str, args: &SubmitArgs) -> Result<u8> {
    let verifier = parse_vkey(&args.vkey)?;
    let text = io::read_text(&args.file, io::MAX_INPUT)?;
    let statements = ledger::parse_statements(&text, &args.file.display().to_string(), &Silent)?;
    if statements.is_empty() {
        bail!("{}: no statements to submit", args.file.display());
    }
    let mut ids = Vec::with_capacity(statements.len());
    let mut body = Vec::with_capacity(statements.len());
    for s in &statements {
        let j = StatementJson::new(s)?;
        ids.push(j.id);
        body.push(j);
    }
    let client = Client::new(server)?;
    let answer = client.post(
        "/v1/statements",
        "application/json",
        &serde_json::to_vec(&body)?,
    )?;
    let reply = answer.json().ok();
    let status = answer.status;
    match status {
        201 | 409 => {}
        422 => {
            let findings = reply
                .as_ref()
                .and_then(|r| r["findings"].as_array().cloned())
                .unwrap_or_default();
            if args.json {
                print_json(&json!({ "accepted": false, "refused": findings }))?;
            } else {
                eprintln!("refused: nothing was appended");
                for f in &findings {
                    let i = f["statement"].as_u64().unwrap_or(0);
                    let id = f["event"].as_str().unwrap_or_default();
                    eprintln!(
                        "  statement {i} ({}): {} {}",
                        &id[..id.len().min(16)],
                        f["code"].as_str().unwrap_or_default(),
                        f["message"].as_str().unwrap_or_default()
                    );
                }
            }
            return Ok(exit::FAILED);
        }
        _ => {
            answer.expect(&[201, 409])?;
        }
    }
    let reply = reply.context("the server's receipts are not JSON")?;
    let note = reply["checkpoint"]
        .as_str()
        .context("the server's answer has no checkpoint")?;
    let state = state_path(args, verifier.name());
    let checkpoint = check_checkpoint(&client, &verifier, note, &state)?;
    let receipts = reply["receipts"]
        .as_array()
        .context("the server's answer has no receipts")?;
    if receipts.len() != ids.len() {
        bail!(
            "the server returned {} receipts for {} statements",
            receipts.len(),
            ids.len()
        );
    }
    for (receipt, id) in receipts.iter().zip(&ids) {
        let seq = receipt["seq"].as_u64().context("a receipt has no seq")?;
        let leaf = digest(&receipt["leaf_hash"], "leaf hash")?;
        if digest(&receipt["id"], "event id")? != *id {
            bail!("the receipt of statement {id} names another event");
        }
        let size = receipt["tree_size"].as_u64().unwrap_or(0);
        let root = digest(&receipt["root"], "root")?;
        if size != checkpoint.size() || root != *checkpoint.root() {
            bail!("the receipt of #{seq} is not against the signed checkpoint it came with");
        }
        let path: Vec<Digest> = receipt["inclusion_path"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|h| digest(h, "proof hash"))
            .collect::<Result<_>>()?;
        verify_inclusion(seq, size, &leaf, &path, &root)
            .map_err(|e| anyhow::anyhow!("the inclusion proof of #{seq} does not verify: {e}"))?;
        // The leaf must be an entry holding exactly this statement.
        let entry = client
            .get(&format!("/v1/entries/{seq}"))?
            .expect(&[200])?
            .json()?;
        let bytes = hex::decode(entry["entry_hex"].as_str().unwrap_or_default())
            .context("the server's entry is not hex")?;
        if entry_hash(&bytes) != leaf {
            bail!("entry #{seq} does not hash to the leaf of its receipt");
        }
        let decoded = Entry::decode(&bytes).context("the server's entry does not decode")?;
        if decoded.seq != seq || decoded.statement.id().ok() != Some(*id) {
            bail!("entry #{seq} does not hold statement {id}");
        }
    }
    let duplicate = status == 409;
    if args.json {
        print_json(&json!({
            "accepted": true,
            "already_in_log": duplicate,
            "receipts": receipts,
            "checkpoint": note,
        }))?;
    } else {
        for r in receipts {
            let verb = if duplicate {
                "already in the log"
            } else {
                "appended"
            };
            crate::outln!(
                "{verb} #{} {}",
                r["seq"],
                r["id"].as_str().unwrap_or_default()
            );
        }
        crate::outln!(
            "verified: inclusion in the log of {} signed by {}",
            counted(checkpoint.size()),
            verifier.vkey()
        );
    }
    Ok(exit::SUCCESS)
}
