//! `custody export-bundle` and `custody verify --bundle`: one self-contained file of
//! evidence for a lot, and its offline verification with no ledger present.
//!
//! Export picks the entries with the same [`Selection`] the verifier uses to refuse extra
//! entries, proves each against one signed checkpoint (the latest stored one if it covers
//! the whole log, else a fresh one signed with the operator key), and verifies the result
//! before writing it. The format and the checks live in `ledger_core::bundle`.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result, bail};
use ledger_core::bundle::{
    self, Bundle, BundleEntry, BundleReport, KeySource, MAX_BUNDLE, Selection,
};
use ledger_core::event::{Body, Role};
use ledger_core::id::{LotId, PartyId};
use ledger_core::keys::PublicKey;
use ledger_core::merkle;
use ledger_core::note::{Checkpoint, NoteVerifier, open_checkpoint};
use ledger_core::policy::Policy;
use ledger_core::statement::Entry;
use ledger_store::Store;
use serde_json::json;

use crate::cli::{ExportBundleArgs, VerifyArgs};
use crate::commands::checkpoint::sign_current;
use crate::commands::{print_json, print_report, verdict_code};
use crate::ledger::{self, Report, StoreNodes};
use crate::{exit, keyfile};

/// Reads a whole file of at most `limit` bytes.
fn read_bytes(path: &Path, limit: usize) -> Result<Vec<u8>> {
    let shown = path.display();
    let file = std::fs::File::open(path).with_context(|| format!("cannot open {shown}"))?;
    let mut bytes = Vec::new();
    file.take(limit as u64 + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {shown}"))?;
    if bytes.len() > limit {
        bail!("{shown} is larger than the limit of {limit} bytes");
    }
    Ok(bytes)
}

/// A verifier key given as text, or as a file holding it.
fn parse_vkey(text: &str) -> Result<NoteVerifier> {
    match NoteVerifier::from_vkey(text.trim()) {
        Ok(v) => Ok(v),
        Err(e) if Path::new(text).is_file() => {
            let bytes = read_bytes(Path::new(text), 4096)?;
            let line = String::from_utf8_lossy(&bytes);
            let line = line.lines().map(str::trim).find(|l| !l.is_empty());
            NoteVerifier::from_vkey(line.unwrap_or_default()).with_context(|| {
                format!("--vkey: {text} does not hold a verifier key (first error: {e})")
            })
        }
        Err(e) => Err(anyhow::anyhow!(
            "--vkey: not a verifier key <name>+<key id>+<base64 key>, nor a file holding one: {e}"
        )),
    }
}

/// What one pass over the log learns for an export.
struct Scan {
    selection: Selection,
    /// Operator parties' keys, as candidates for the checkpoint's signer.
    operator_keys: Vec<(PartyId, PublicKey)>,
}

/// Offers the entries below `size` that the lot's evidence may need (found through the
/// store's indexes, [`ledger::evidence_entries`]) to a selection for `trace`, in log order.
fn scan(store: &dyn Store, size: u64, trace: &ledger_core::provenance::Trace) -> Result<Scan> {
    let mut scan = Scan {
        selection: Selection::new(trace),
        operator_keys: Vec::new(),
    };
    for (seq, bytes) in ledger::evidence_entries(store, trace)? {
        if seq >= size {
            break;
        }
        let entry = Entry::decode(&bytes)
            .with_context(|| format!("entry #{seq} is damaged; run custody verify"))?;
        let id = entry.statement.id()?;
        let event = &entry.statement.event;
        if let Body::Enroll(e) = &event.body {
            if e.roles.contains(&Role::Operator) {
                scan.operator_keys
                    .extend(e.keys.iter().map(|k| (e.party.clone(), *k)));
            }
        }
        scan.selection.offer(seq, id, event);
    }
    Ok(scan)
}

/// The operator key (and its party) that signed `note`, among `candidates`.
fn checkpoint_signer(
    note: &str,
    origin: &str,
    candidates: &[(PartyId, PublicKey)],
) -> Result<(NoteVerifier, PartyId, Checkpoint)> {
    for (party, key) in candidates {
        let Ok(verifier) = NoteVerifier::new(origin, *key.verifying_key()) else {
            continue;
        };
        if let Ok(opened) = open_checkpoint(note.as_bytes(), &verifier, &[], origin) {
            return Ok((verifier, party.clone(), opened.checkpoint));
        }
    }
    bail!(
        "the checkpoint does not verify under any operator key of this ledger; run custody verify"
    )
}

/// Runs `custody export-bundle`.
pub fn export(dir: &Path, args: ExportBundleArgs) -> Result<u8> {
    let store = ledger::open(dir)?;
    let lot = LotId::new(args.lot.as_str()).context("lot")?;
    let head = store.head()?;
    let origin = store.origin()?;
    let trace = ledger::trace(&store, &lot)?;

    let latest = store
        .checkpoints()?
        .into_iter()
        .max_by_key(|(size, _)| *size);
    let (note, fresh) = match latest {
        Some((size, note)) if size == head.size => (note, false),
        latest => {
            let Some(key_path) = &args.operator_key else {
                let have = latest.map_or("no checkpoint is stored".to_owned(), |(size, _)| {
                    format!("the latest checkpoint is for size {size}")
                });
                bail!(
                    "{have} but the log has {} entries: give --operator-key (or set \
                     CUSTODY_OPERATOR_KEY) to sign a fresh checkpoint, or run custody \
                     checkpoint first",
                    head.size
                );
            };
            let key = keyfile::read_private(key_path)?;
            (sign_current(&store, &key)?.1, true)
        }
    };

    let scan = scan(&store, head.size, &trace)?;
    let (verifier, signer, checkpoint) = checkpoint_signer(&note, &origin, &scan.operator_keys)?;
    let size = checkpoint.size();
    let nodes = StoreNodes(&store);
    let stored_root = merkle::root(size, &nodes)
        .map_err(|e| anyhow::anyhow!("cannot read the store's merkle tree: {e}"))?;
    if stored_root != *checkpoint.root() {
        bail!(
            "the store's merkle tree has root {stored_root} at size {size}, not the checkpoint's \
             {}; run custody verify",
            checkpoint.root()
        );
    }
    let mut selection = scan.selection;
    selection.need(signer);
    let mut entries = Vec::new();
    for seq in selection.finish() {
        let entry = store
            .entry(seq)?
            .with_context(|| format!("entry #{seq} is missing from the store"))?;
        let proof = merkle::inclusion_proof(seq, size, &nodes)
            .map_err(|e| anyhow::anyhow!("cannot prove entry #{seq}: {e}"))?;
        entries.push(BundleEntry { entry, proof });
    }
    let bundle = Bundle {
        lot: lot.clone(),
        checkpoint: note,
        entries,
    };
    let bytes = bundle.encode()?;

    // The file must verify before anyone gets it.
    let check = bundle::verify(&bundle, Some(&verifier), &Policy::default(), ledger::now()?);
    if !check.sound {
        let reasons: Vec<String> = check
            .findings
            .iter()
            .take(5)
            .map(|f| f.to_string())
            .collect();
        bail!(
            "the bundle for lot {lot} does not verify, nothing was written: {}",
            reasons.join("; ")
        );
    }
    std::fs::write(&args.out, &bytes)
        .with_context(|| format!("cannot write {}", args.out.display()))?;

    let vkey = verifier.vkey();
    if args.json {
        print_json(&json!({
            "file": args.out.display().to_string(),
            "lot": lot,
            "entries": bundle.entries.len(),
            "bytes": bytes.len(),
            "checkpoint": {"origin": checkpoint.origin(), "size": size, "root": checkpoint.root().to_hex()},
            "fresh_checkpoint": fresh,
            "vkey": vkey,
        }))?;
    } else {
        crate::outln!(
            "wrote {}: lot {lot}, {} entries, {} bytes",
            args.out.display(),
            bundle.entries.len(),
            bytes.len()
        );
        crate::outln!(
            "checkpoint: {} at size {size}, root {} ({})",
            checkpoint.origin(),
            checkpoint.root(),
            if fresh {
                "freshly signed and stored"
            } else {
                "the latest stored one"
            }
        );
        crate::outln!(
            "verify offline with: custody verify --bundle {} --vkey {vkey}",
            args.out.display()
        );
    }
    Ok(exit::SUCCESS)
}

/// Runs `custody verify --bundle FILE`: no ledger is opened.
pub fn verify(path: &Path, args: &VerifyArgs) -> Result<u8> {
    let policy = ledger::load_policy(args.policy.as_deref())?;
    let vkey = args.vkey.as_deref().map(parse_vkey).transpose()?;
    let bytes = read_bytes(path, MAX_BUNDLE)?;
    let found = bundle::verify_bytes(&bytes, vkey.as_ref(), &policy, ledger::now()?)
        .with_context(|| format!("{} is not a readable evidence bundle", path.display()))?;
    let report = Report::new(
        "bundle",
        Some(found.lot.clone()),
        found.entries,
        found.findings.clone(),
    );
    if args.json {
        let mut value = serde_json::to_value(&report)?;
        if let Some(object) = value.as_object_mut() {
            object.insert("bundle".into(), bundle_json(path, &found));
        }
        print_json(&value)?;
    } else {
        print_header(path, &found);
        print_report(&report);
    }
    Ok(verdict_code(&report))
}

fn key_source(source: KeySource) -> &'static str {
    match source {
        KeySource::Given => "the key given with --vkey",
        KeySource::Genesis => {
            "the operator key from the bundle's own genesis entry: compare it with the \
             operator's published verifier key, or pass --vkey"
        }
    }
}

fn bundle_json(path: &Path, found: &BundleReport) -> serde_json::Value {
    json!({
        "file": path.display().to_string(),
        "checkpoint": found.checkpoint.as_ref().map(|c| json!({
            "origin": c.origin(), "size": c.size(), "root": c.root().to_hex(),
        })),
        "vkey": found.verifier.as_ref().map(NoteVerifier::vkey),
        "vkey_source": found.key_source,
        "sound": found.sound,
    })
}

fn print_header(path: &Path, found: &BundleReport) {
    crate::outln!(
        "bundle {}: lot {}, {} entries",
        path.display(),
        found.lot,
        found.entries
    );
    match &found.checkpoint {
        Some(c) => crate::outln!(
            "checkpoint: {} at size {}, root {}",
            c.origin(),
            c.size(),
            c.root()
        ),
        None => crate::outln!("checkpoint: NOT verified"),
    }
    if let Some(v) = &found.verifier {
        crate::outln!("checkpoint key: {}", v.vkey());
        crate::outln!("  that is {}", key_source(found.key_source));
    }
}
