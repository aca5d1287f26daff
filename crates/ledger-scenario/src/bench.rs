//! What `custody bench` measures, in one run on this machine: the raw primitives (ed25519
//! single and batch verification on one and all cores, SHA-256 over an entry, a sled batch
//! insert) and then Custody's own throughput on a synthetic ledger of N events: bulk append
//! with every rule checked, whole-ledger verify (in a child process, for its peak memory),
//! `verify --lot` + `trace` of a module with over 10,000 upstream events, and proofs.
//! Each figure is printed with its ratio to the bound the primitives set.

use std::path::Path;
use std::time::Instant;

use ed25519_dalek::{Signer, SigningKey};
use ledger::{Genesis, Ledger, Silent};
use ledger_core::hash::Digest;
use ledger_core::merkle::NodeSource;
use ledger_core::policy::Policy;
use ledger_core::statement::{Entry, Statement};
use ledger_store::{Nodes, SledStore, Store};
use rayon::prelude::*;
use serde::Serialize;

use crate::{Result, ScenarioError, synth};

/// Set in a child's environment to make it report its peak memory on standard error
/// (`custody bench` measures whole-ledger verify this way, in a fresh process).
pub const PEAK_RSS_ENV: &str = "CUSTODY_REPORT_PEAK_RSS";

/// The line prefix of that report.
pub const PEAK_RSS_PREFIX: &str = "custody-peak-rss-kb: ";

fn failed(what: impl std::fmt::Display) -> ScenarioError {
    ScenarioError::Invalid(format!("bench: {what}"))
}

/// Statements per append batch: one sled batch and one flush each (group commit).
const BATCH: usize = 10_000;

/// What one run measured.
#[derive(Debug, Serialize)]
pub struct BenchReport {
    /// Events in the synthetic ledger.
    pub events: usize,
    /// Machine threads used by rayon.
    pub threads: usize,
    /// ed25519 `verify_strict`, one core, per second.
    pub ed25519_verify_strict_per_s: f64,
    /// ed25519 `verify_strict` on all cores, per second.
    pub ed25519_verify_strict_all_cores_per_s: f64,
    /// ed25519 `verify_batch` of 256, one core, signatures per second.
    pub ed25519_batch_per_s: f64,
    /// ed25519 `verify_batch` of 256 on all cores, signatures per second.
    pub ed25519_batch_all_cores_per_s: f64,
    /// SHA-256 over one entry's bytes, per second.
    pub sha256_entry_per_s: f64,
    /// sled inserts of entry-sized values, in flushed batches of 1,000, per second.
    pub sled_insert_per_s: f64,
    /// Bulk append, events per second (every rule checked, group commit).
    pub append_per_s: f64,
    /// Whole-ledger verify in a fresh process, entries per second.
    pub verify_per_s: f64,
    /// `verify --lot` + `trace` of one module, milliseconds.
    pub trace_ms: f64,
    /// Upstream events of that module.
    pub trace_events: usize,
    /// Inclusion proofs generated and checked per second.
    pub proofs_per_s: f64,
    /// Peak resident memory of the whole-ledger verify process, MB.
    pub peak_rss_mb: f64,
    /// The append bound: one batch-verified signature + SHA-256 + a sled insert per event.
    pub bound_append_per_s: f64,
    /// The verify bound: all-core batch signature verification.
    pub bound_verify_per_s: f64,
    /// `append_per_s / bound_append_per_s`.
    pub append_ratio: f64,
    /// `verify_per_s / bound_verify_per_s`.
    pub verify_ratio: f64,
}

fn per_second(count: usize, start: Instant) -> f64 {
    count as f64 / start.elapsed().as_secs_f64()
}

struct Primitives {
    strict: f64,
    strict_all: f64,
    batch: f64,
    batch_all: f64,
    sha: f64,
    sled: f64,
}

fn primitives(entry: &[u8]) -> Result<Primitives> {
    let n = 4096;
    let keys: Vec<SigningKey> = (0..n)
        .map(|i| SigningKey::from_bytes(&Digest::of(&[&(i as u64).to_le_bytes()]).0))
        .collect();
    let messages: Vec<[u8; 53]> = (0..n)
        .map(|i| ledger_core::statement::signing_message(&Digest::of(&[&(i as u64).to_be_bytes()])))
        .collect();
    let sigs: Vec<ed25519_dalek::Signature> =
        keys.iter().zip(&messages).map(|(k, m)| k.sign(m)).collect();
    let vks: Vec<ed25519_dalek::VerifyingKey> = keys.iter().map(|k| k.verifying_key()).collect();
    let strict_one = |i: usize| vks[i].verify_strict(&messages[i], &sigs[i]).is_ok();

    let start = Instant::now();
    let ok = (0..n).filter(|&i| strict_one(i)).count();
    let strict = per_second(n, start);
    let start = Instant::now();
    let ok_all = (0..n).into_par_iter().filter(|&i| strict_one(i)).count();
    let strict_all = per_second(n, start);

    let batch_of = |c: usize| {
        let range = c * 256..(c + 1) * 256;
        let msgs: Vec<&[u8]> = messages[range.clone()]
            .iter()
            .map(|m| m.as_slice())
            .collect();
        ed25519_dalek::verify_batch(&msgs, &sigs[range.clone()], &vks[range]).is_ok()
    };
    let start = Instant::now();
    let batches_ok = (0..n / 256).filter(|&c| batch_of(c)).count();
    let batch = per_second(n, start);
    let start = Instant::now();
    let batches_ok_all = (0..n / 256)
        .into_par_iter()
        .filter(|&c| batch_of(c))
        .count();
    let batch_all = per_second(n, start);
    if ok != n || ok_all != n || batches_ok != n / 256 || batches_ok_all != n / 256 {
        return Err(failed("a benchmark signature did not verify"));
    }

    let rounds = 200_000;
    let start = Instant::now();
    let mut acc = Digest::ZERO;
    for _ in 0..rounds {
        acc = Digest::of(&[&[0u8], entry, acc.as_bytes()]);
    }
    std::hint::black_box(acc);
    let sha = per_second(rounds, start);

    let dir = tempfile::tempdir().map_err(failed)?;
    let db = sled::open(dir.path().join("raw")).map_err(failed)?;
    let inserts = 20_000;
    let start = Instant::now();
    for chunk in 0..inserts / 1000 {
        let mut batch = sled::Batch::default();
        for i in 0..1000u64 {
            batch.insert(&((chunk * 1000) as u64 + i).to_be_bytes(), entry);
        }
        db.apply_batch(batch).map_err(failed)?;
        db.flush().map_err(failed)?;
    }
    let sled = per_second(inserts, start);
    Ok(Primitives {
        strict,
        strict_all,
        batch,
        batch_all,
        sha,
        sled,
    })
}

/// Runs the benchmark and returns its figures.
///
/// `custody` is the binary whole-ledger verify runs in as a child process (for its peak
/// memory); `keep` keeps the ledger there instead of a temporary directory; `progress`
/// prints what is being measured on standard error.
pub fn bench(
    custody: &Path,
    events: usize,
    keep: Option<&Path>,
    progress: bool,
) -> Result<BenchReport> {
    let threads = rayon::current_num_threads();
    let dir = tempfile::tempdir().map_err(failed)?;
    let ledger_dir = keep.map_or_else(|| dir.path().join("ledger"), Path::to_path_buf);
    let say = |s: String| {
        if progress {
            eprintln!("{s}");
        }
    };

    say(format!("generating {events} synthetic events"));
    let synth = synth::generate(0xC0BA17, events)?;
    let genesis = Genesis {
        party: synth.operator_id().as_str(),
        name: "Bench operator",
        country: "FI",
    };
    let store = SledStore::create(&ledger_dir, "bench.custody.example/log")?;
    let ledger = Ledger::init(store, synth.operator_key(), &genesis, ledger::now()?, 0)?;

    // Sign everything first: `append` receives pre-signed statements.
    let mut batches: Vec<Vec<Statement>> = Vec::new();
    let mut at = 0;
    while at < synth.len() {
        let end = (at + BATCH).min(synth.len());
        batches.push(synth.sign(at..end)?);
        at = end;
    }
    let sample_entry = {
        let s = batches
            .first()
            .and_then(|b| b.last())
            .ok_or_else(|| failed("no events generated"))?;
        Entry {
            seq: 1,
            prev: Digest::ZERO,
            recorded_at: ledger::now()?,
            statement: s.clone(),
        }
        .encode()?
    };

    say("measuring the primitives".into());
    let p = primitives(&sample_entry)?;

    say("appending".into());
    let now = ledger::now()?;
    let start = Instant::now();
    for batch in batches {
        ledger.append(batch, now, &Silent)?;
    }
    let append_per_s = per_second(synth.len(), start);
    drop(ledger);

    say("verifying the whole ledger in a child process".into());
    let (verify_per_s, peak_rss_mb) = verify_child(custody, &ledger_dir, synth.len() + 1)?;

    let ledger = Ledger::open(SledStore::open(&ledger_dir)?)?;
    let module = synth
        .modules
        .first()
        .cloned()
        .ok_or_else(|| failed("fewer events than one module needs (about 14,000)"))?;
    say(format!("verify --lot and trace of {module}"));
    let start = Instant::now();
    let checked = ledger.verify_lot(&module, &Policy::default(), now)?;
    let trace = checked.trace;
    let trace_ms = start.elapsed().as_secs_f64() * 1000.0;
    if let Some(first) = checked.report.findings.first()
        && checked.report.counts.errors != 0
    {
        return Err(failed(format!(
            "the synthetic module does not verify: {first}"
        )));
    }

    say("proofs".into());
    let proofs_per_s = proof_rate(ledger.store(), 20_000)?;

    let bound_append_per_s = 1.0 / (1.0 / p.batch_all + 1.0 / p.sha + 1.0 / p.sled);
    let bound_verify_per_s = p.batch_all;
    Ok(BenchReport {
        events: synth.len(),
        threads,
        ed25519_verify_strict_per_s: p.strict,
        ed25519_verify_strict_all_cores_per_s: p.strict_all,
        ed25519_batch_per_s: p.batch,
        ed25519_batch_all_cores_per_s: p.batch_all,
        sha256_entry_per_s: p.sha,
        sled_insert_per_s: p.sled,
        append_per_s,
        verify_per_s,
        trace_ms,
        trace_events: trace.events.len(),
        proofs_per_s,
        peak_rss_mb,
        bound_append_per_s,
        bound_verify_per_s,
        append_ratio: append_per_s / bound_append_per_s,
        verify_ratio: verify_per_s / bound_verify_per_s,
    })
}

/// Runs `custody verify` on `dir` in a child process: entries per second and peak RSS.
fn verify_child(custody: &Path, dir: &Path, entries: usize) -> Result<(f64, f64)> {
    let start = Instant::now();
    let out = std::process::Command::new(custody)
        .arg("--ledger")
        .arg(dir)
        .args(["verify", "--json"])
        .env(PEAK_RSS_ENV, "1")
        .output()
        .map_err(|e| failed(format!("cannot run custody verify: {e}")))?;
    let per_s = per_second(entries, start);
    if !out.status.success() {
        return Err(failed(format!(
            "verify of the synthetic ledger failed: {}",
            String::from_utf8_lossy(&out.stdout)
                .chars()
                .take(2000)
                .collect::<String>()
        )));
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let kb: f64 = stderr
        .lines()
        .find_map(|l| l.strip_prefix(PEAK_RSS_PREFIX))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| failed("the verify process did not report its peak memory"))?;
    Ok((per_s, kb / 1024.0))
}

/// Generates and checks `count` inclusion proofs of spread-out entries against the head.
fn proof_rate(store: &SledStore, count: usize) -> Result<f64> {
    use ledger_core::merkle::{inclusion_proof, root, verify_inclusion};
    let size = store.head()?.size;
    let nodes = Nodes(store);
    let root = root(size, &nodes).map_err(failed)?;
    let start = Instant::now();
    for i in 0..count as u64 {
        let index = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) % size;
        let leaf = nodes.node(0, index)?;
        let path = inclusion_proof(index, size, &nodes).map_err(failed)?;
        verify_inclusion(index, size, &leaf, &path, &root).map_err(failed)?;
    }
    Ok(per_second(count, start))
}
