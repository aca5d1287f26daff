//! What `custody bench` measures, in one run on this machine: the raw primitives (ed25519
//! verification on one and all cores: dalek's `verify_strict`, the signature rule's single
//! check, and its batch check with distinct keys and with the synthetic ledger's own key
//! reuse; SHA-256 over an entry, a sled batch insert) and then Custody's own throughput on a synthetic ledger of N events: bulk append
//! with every rule checked, one `custody append` of the ledger's last statements (in a child
//! process, for its peak memory), whole-ledger verify (in a child process too),
//! `verify --lot` + `trace` of a module with over 10,000 upstream events, and proofs.
//! Each figure is printed with its ratio to the bound the primitives set.

use std::path::Path;
use std::time::{Duration, Instant};

use ed25519_dalek::{Signer, SigningKey};
use ledger::{Genesis, Ledger, Silent};
use ledger_core::hash::Digest;
use ledger_core::id::LotId;
use ledger_core::keys::{BATCH_SIZE, PublicKey, Signature, SignatureCheck, verify_batch};
use ledger_core::policy::Policy;
use ledger_core::statement::{Entry, Origin, Statement, StatementJson, signing_message};
use ledger_store::{SledStore, Store};
use ledger_store_postgres::PgStore;
use rayon::prelude::*;
use serde::Serialize;

use crate::{Result, ScenarioError, synth};

/// Set in a child's environment to make it report its peak memory on standard error
/// (`custody bench` measures one large append and whole-ledger verify this way, each in a
/// fresh process).
pub const PEAK_RSS_ENV: &str = "CUSTODY_REPORT_PEAK_RSS";

/// The line prefix of that report.
pub const PEAK_RSS_PREFIX: &str = "custody-peak-rss-kb: ";

fn failed(what: impl std::fmt::Display) -> ScenarioError {
    ScenarioError::Invalid(format!("bench: {what}"))
}

/// The synthetic ledger's seed.
const SEED: u64 = 0xC0BA17;

/// The synthetic ledger's origin, on every store.
const ORIGIN: &str = "bench.custody.example/log";

/// Statements per append batch: one commit and one flush each (group commit; on sled, a
/// batch this large is written in bounded steps under the undo log).
const BATCH: usize = 10_000;

/// Most statements the child `custody append` appends: the synthetic ledger's last
/// `min(APPEND_CHILD_MAX, N / 2)`, after the others were appended in-process.
const APPEND_CHILD_MAX: usize = 100_000;

/// What one run measured.
#[derive(Debug, Serialize)]
pub struct BenchReport {
    /// Events in the synthetic ledger.
    pub events: usize,
    /// Machine threads used by rayon.
    pub threads: usize,
    /// The curve arithmetic the signature figures ran on (`keys::curve_backend`):
    /// `avx512ifma`, `avx2` or `serial`.
    pub curve_backend: &'static str,
    /// ed25519-dalek's `verify_strict` (the rule before the ZIP-215 rule), one core, per second.
    pub ed25519_verify_strict_per_s: f64,
    /// ed25519-dalek's `verify_strict` on all cores, per second.
    pub ed25519_verify_strict_all_cores_per_s: f64,
    /// The signature rule's single check (`PublicKey::verify`, cofactored ZIP-215), one
    /// core, per second.
    pub ed25519_single_per_s: f64,
    /// The rule's single check on all cores, per second.
    pub ed25519_single_all_cores_per_s: f64,
    /// The rule's batch check (`keys::verify_batch`) of 256 signatures by 256 distinct
    /// keys, one core, signatures per second.
    pub ed25519_batch_per_s: f64,
    /// The same on all cores, signatures per second.
    pub ed25519_batch_all_cores_per_s: f64,
    /// The rule's batch check of 256 consecutive statements of the synthetic ledger, with
    /// its own key reuse, one core, signatures per second.
    pub ed25519_batch_ledger_per_s: f64,
    /// The same on all cores, signatures per second: the verify bound.
    pub ed25519_batch_ledger_all_cores_per_s: f64,
    /// Distinct signers in 256 consecutive statements of the synthetic ledger, on average.
    pub ledger_signers_per_batch: f64,
    /// SHA-256 over one entry's bytes, per second.
    pub sha256_entry_per_s: f64,
    /// sled inserts of entry-sized values, in flushed batches of 1,000, per second.
    pub sled_insert_per_s: f64,
    /// Bulk append, events per second (every rule checked, group commit), of the events
    /// appended in-process: all but the last `append_child_statements`.
    pub append_per_s: f64,
    /// Signed statements that one `custody append` in a child process appended, after the
    /// others were appended in-process: the synthetic ledger's last `min(100,000, N / 2)`,
    /// in one all-or-nothing batch.
    pub append_child_statements: usize,
    /// That append, statements per second of the child's wall time (reading and parsing
    /// the file, the checks, the commit and printing the receipts included).
    pub append_child_per_s: f64,
    /// Peak resident memory of that append process, MB.
    pub append_peak_rss_mb: f64,
    /// Whole-ledger verify in a fresh process, entries per second.
    pub verify_per_s: f64,
    /// `verify --lot` + `trace` of one module, milliseconds.
    pub trace_ms: f64,
    /// Upstream events of that module.
    pub trace_events: usize,
    /// Inclusion proofs served (made and checked, `Ledger::inclusion_proof`) per second,
    /// on all cores, after as many to warm the node cache.
    pub proofs_per_s: f64,
    /// Peak resident memory of the whole-ledger verify process, MB.
    pub peak_rss_mb: f64,
    /// The append bound: one batch-verified signature (ledger key reuse, all cores) +
    /// SHA-256 + a sled insert per event.
    pub bound_append_per_s: f64,
    /// The verify bound: all-core batch verification with the ledger's key reuse.
    pub bound_verify_per_s: f64,
    /// `append_per_s / bound_append_per_s`.
    pub append_ratio: f64,
    /// `verify_per_s / bound_verify_per_s`.
    pub verify_ratio: f64,
    /// Bytes the sled ledger takes on disk per event (its directory: sled's files and the
    /// entry log).
    pub bytes_per_event: f64,
    /// The same measurements on PostgreSQL, in the same run (`custody bench --store URL`).
    pub postgres: Option<StoreFigures>,
}

/// The store measurements of one backend beside sled's.
#[derive(Debug, Serialize)]
pub struct StoreFigures {
    /// The database, without its password.
    pub store: String,
    /// Bulk append, events per second (every rule checked, group commit), in-process.
    pub append_per_s: f64,
    /// Peak resident memory of the child `custody append` of the same last statements, MB.
    pub append_peak_rss_mb: f64,
    /// Whole-ledger verify in a fresh process, entries per second.
    pub verify_per_s: f64,
    /// `verify --lot` + `trace` of the same module, milliseconds.
    pub trace_ms: f64,
    /// Inclusion proofs served (made and checked, `Ledger::inclusion_proof`) per second,
    /// on all cores, after as many to warm the node cache.
    pub proofs_per_s: f64,
    /// Bytes of the ledger's tables (indexes and TOAST included) per event.
    pub bytes_per_event: f64,
    /// `append_per_s` over sled's, in the same run.
    pub append_vs_sled: f64,
    /// `verify_per_s` over sled's, in the same run.
    pub verify_vs_sled: f64,
}

/// What one store measured: the part of a run that differs between backends.
struct Measured {
    append_per_s: f64,
    append_child_per_s: f64,
    append_peak_rss_mb: f64,
    verify_per_s: f64,
    peak_rss_mb: f64,
    trace_ms: f64,
    trace_events: usize,
    proofs_per_s: f64,
}

fn per_second(count: usize, start: Instant) -> f64 {
    count as f64 / start.elapsed().as_secs_f64()
}

struct Primitives {
    strict: f64,
    strict_all: f64,
    single: f64,
    single_all: f64,
    batch: f64,
    batch_all: f64,
    batch_ledger: f64,
    batch_ledger_all: f64,
    signers_per_batch: f64,
    sha: f64,
    sled: f64,
}

/// Signatures to check: checked keys, messages and signatures, side by side.
struct Signed {
    keys: Vec<PublicKey>,
    messages: Vec<Vec<u8>>,
    signatures: Vec<Signature>,
}

impl Signed {
    fn len(&self) -> usize {
        self.keys.len()
    }

    fn checks(&self, range: std::ops::Range<usize>) -> Vec<SignatureCheck<'_>> {
        range
            .map(|i| SignatureCheck {
                key: &self.keys[i],
                message: &self.messages[i],
                signature: &self.signatures[i],
            })
            .collect()
    }

    /// Signatures per second of `verify_batch` over batches of `BATCH_SIZE`, on one core
    /// or all; fails unless every signature verifies.
    fn batch_rate(&self, all_cores: bool) -> Result<f64> {
        let batches = self.len() / BATCH_SIZE;
        let batch_ok = |c: usize| {
            verify_batch(&self.checks(c * BATCH_SIZE..(c + 1) * BATCH_SIZE))
                .iter()
                .all(|ok| *ok)
        };
        let start = Instant::now();
        let ok = if all_cores {
            (0..batches)
                .into_par_iter()
                .filter(|&c| batch_ok(c))
                .count()
        } else {
            (0..batches).filter(|&c| batch_ok(c)).count()
        };
        let rate = per_second(batches * BATCH_SIZE, start);
        if ok != batches {
            return Err(failed("a benchmark signature batch did not verify"));
        }
        Ok(rate)
    }
}

/// `statements` of the synthetic ledger as signatures to check over `origin`: whole
/// batches of consecutive statements, with the ledger's own key reuse.
fn ledger_signatures(statements: &[Statement], origin: &Origin) -> Result<Signed> {
    let usable = statements.len() / BATCH_SIZE * BATCH_SIZE;
    let mut signed = Signed {
        keys: Vec::with_capacity(usable),
        messages: Vec::with_capacity(usable),
        signatures: Vec::with_capacity(usable),
    };
    for s in &statements[..usable] {
        signed.keys.push(s.signer.parse().map_err(failed)?);
        signed.messages.push(signing_message(origin, &s.id()?));
        signed.signatures.push(s.signature);
    }
    Ok(signed)
}

fn primitives(entry: &[u8], sample: &[Statement], origin: &Origin) -> Result<Primitives> {
    let n = 4096;
    let keys: Vec<SigningKey> = (0..n)
        .map(|i| SigningKey::from_bytes(&Digest::of(&[&(i as u64).to_le_bytes()]).0))
        .collect();
    let messages: Vec<Vec<u8>> = (0..n)
        .map(|i| signing_message(origin, &Digest::of(&[&(i as u64).to_be_bytes()])))
        .collect();
    let sigs: Vec<ed25519_dalek::Signature> =
        keys.iter().zip(&messages).map(|(k, m)| k.sign(m)).collect();
    let vks: Vec<ed25519_dalek::VerifyingKey> = keys.iter().map(|k| k.verifying_key()).collect();
    let strict_one = |i: usize| vks[i].verify_strict(&messages[i], &sigs[i]).is_ok();
    let distinct = Signed {
        keys: vks
            .iter()
            .map(|k| PublicKey::from_bytes(k.as_bytes()).map_err(failed))
            .collect::<Result<_>>()?,
        messages: messages.clone(),
        signatures: sigs.iter().map(|s| Signature(s.to_bytes())).collect(),
    };
    let single_one = |i: usize| {
        distinct.keys[i]
            .verify(&distinct.messages[i], &distinct.signatures[i])
            .is_ok()
    };

    let start = Instant::now();
    let ok = (0..n).filter(|&i| strict_one(i)).count();
    let strict = per_second(n, start);
    let start = Instant::now();
    let ok_all = (0..n).into_par_iter().filter(|&i| strict_one(i)).count();
    let strict_all = per_second(n, start);
    let start = Instant::now();
    let single_ok = (0..n).filter(|&i| single_one(i)).count();
    let single = per_second(n, start);
    let start = Instant::now();
    let single_ok_all = (0..n).into_par_iter().filter(|&i| single_one(i)).count();
    let single_all = per_second(n, start);
    if ok != n || ok_all != n || single_ok != n || single_ok_all != n {
        return Err(failed("a benchmark signature did not verify"));
    }
    let batch = distinct.batch_rate(false)?;
    let batch_all = distinct.batch_rate(true)?;

    let ledger = ledger_signatures(sample, origin)?;
    if ledger.len() == 0 {
        return Err(failed(format!(
            "fewer than {BATCH_SIZE} statements to measure batch verification on"
        )));
    }
    let batch_ledger = ledger.batch_rate(false)?;
    let batch_ledger_all = ledger.batch_rate(true)?;
    let batches = ledger.len() / BATCH_SIZE;
    let signers: usize = (0..batches)
        .map(|c| {
            let mut keys: Vec<&[u8; 32]> = ledger.keys[c * BATCH_SIZE..(c + 1) * BATCH_SIZE]
                .iter()
                .map(PublicKey::as_bytes)
                .collect();
            keys.sort();
            keys.dedup();
            keys.len()
        })
        .sum();
    let signers_per_batch = signers as f64 / batches as f64;

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
        single,
        single_all,
        batch,
        batch_all,
        batch_ledger,
        batch_ledger_all,
        signers_per_batch,
        sha,
        sled,
    })
}

/// Runs the benchmark and returns its figures.
///
/// `custody` is the binary whole-ledger verify runs in as a child process (for its peak
/// memory); `keep` keeps the ledger there instead of a temporary directory; `store_url`, an
/// empty PostgreSQL database, gets the same ledger and measurements beside sled's;
/// `progress` prints what is being measured on standard error.
pub fn bench(
    custody: &Path,
    events: usize,
    keep: Option<&Path>,
    store_url: Option<&str>,
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

    let parties = synth::Windows::new(SEED, events)?;
    let genesis = Genesis {
        party: parties.operator_id().as_str(),
        name: "Bench operator",
        country: "FI",
    };
    let store = SledStore::create(&ledger_dir, ORIGIN)?;
    let ledger = Ledger::init(store, parties.operator_key(), &genesis, ledger::now()?, 0)?;
    let origin = ledger.signing_origin().clone();

    // Statements are signed a batch at a time as they are appended, never held whole:
    // a sample from the ledger's middle for the primitives, the last ones in a file for
    // the child `custody append`, each made by a pass of its own over the same stream.
    say(format!("preparing {events} synthetic events"));
    let in_process = events - (events / 2).min(APPEND_CHILD_MAX);
    let mut stream = synth::Windows::new(SEED, events)?;
    stream.skip_to(events / 2)?;
    let sample = stream.take(&origin, 16 * BATCH_SIZE)?;
    let sample_entry = Entry {
        seq: 1,
        prev: Digest::ZERO,
        recorded_at: ledger::now()?,
        subjects: Digest::ZERO,
        statement: sample
            .first()
            .cloned()
            .ok_or_else(|| failed("no events generated"))?,
    }
    .encode()?;
    let mut stream = synth::Windows::new(SEED, events)?;
    stream.skip_to(in_process)?;
    let tail = stream.take(&origin, events - in_process)?;
    let child = AppendChild {
        file: dir.path().join("append.signed"),
        statements: tail.len(),
    };
    write_statements(&child.file, &tail)?;
    drop(tail);
    let module = stream
        .modules()
        .first()
        .cloned()
        .ok_or_else(|| failed("fewer events than one module needs (about 14,000)"))?;
    drop(stream);

    say("measuring the primitives".into());
    let p = primitives(&sample_entry, &sample, &origin)?;
    drop(sample);

    let database = match store_url {
        Some(url) => {
            let store = PgStore::create(url, ORIGIN)?;
            Some(Ledger::init(
                store,
                parties.operator_key(),
                &genesis,
                ledger::now()?,
                0,
            )?)
        }
        None => None,
    };
    let entries = events + 1;
    let sled = measure(
        ledger,
        || Ok(SledStore::open(&ledger_dir)?),
        &Run {
            custody,
            name: &ledger_dir,
            events,
            in_process,
            module: &module,
            entries,
            child: &child,
            say: &say,
        },
    )?;
    let bytes_per_event = dir_bytes(&ledger_dir) as f64 / entries as f64;
    let postgres = match (database, store_url) {
        (Some(database), Some(url)) => {
            say(format!("the same on {}", database.store().shown()));
            let shown = database.store().shown().to_owned();
            let pg = measure(
                database,
                || Ok(PgStore::open(url)?),
                &Run {
                    custody,
                    name: Path::new(url),
                    events,
                    in_process,
                    module: &module,
                    entries,
                    child: &child,
                    say: &say,
                },
            )?;
            let bytes = PgStore::open(url)?.bytes_on_disk()? as f64;
            Some(StoreFigures {
                store: shown,
                append_per_s: pg.append_per_s,
                append_peak_rss_mb: pg.append_peak_rss_mb,
                verify_per_s: pg.verify_per_s,
                trace_ms: pg.trace_ms,
                proofs_per_s: pg.proofs_per_s,
                bytes_per_event: bytes / entries as f64,
                append_vs_sled: pg.append_per_s / sled.append_per_s,
                verify_vs_sled: pg.verify_per_s / sled.verify_per_s,
            })
        }
        _ => None,
    };
    let Measured {
        append_per_s,
        append_child_per_s,
        append_peak_rss_mb,
        verify_per_s,
        peak_rss_mb,
        trace_ms,
        trace_events,
        proofs_per_s,
    } = sled;

    let bound_append_per_s = 1.0 / (1.0 / p.batch_ledger_all + 1.0 / p.sha + 1.0 / p.sled);
    let bound_verify_per_s = p.batch_ledger_all;
    Ok(BenchReport {
        events,
        threads,
        curve_backend: ledger_core::keys::curve_backend(),
        ed25519_verify_strict_per_s: p.strict,
        ed25519_verify_strict_all_cores_per_s: p.strict_all,
        ed25519_single_per_s: p.single,
        ed25519_single_all_cores_per_s: p.single_all,
        ed25519_batch_per_s: p.batch,
        ed25519_batch_all_cores_per_s: p.batch_all,
        ed25519_batch_ledger_per_s: p.batch_ledger,
        ed25519_batch_ledger_all_cores_per_s: p.batch_ledger_all,
        ledger_signers_per_batch: p.signers_per_batch,
        sha256_entry_per_s: p.sha,
        sled_insert_per_s: p.sled,
        append_per_s,
        append_child_statements: child.statements,
        append_child_per_s,
        append_peak_rss_mb,
        verify_per_s,
        trace_ms,
        trace_events,
        proofs_per_s,
        peak_rss_mb,
        bound_append_per_s,
        bound_verify_per_s,
        append_ratio: append_per_s / bound_append_per_s,
        verify_ratio: verify_per_s / bound_verify_per_s,
        bytes_per_event,
        postgres,
    })
}

/// What a store's measurement needs besides the store.
struct Run<'a> {
    custody: &'a Path,
    /// The ledger's name for `custody --ledger`: a directory or a database URL.
    name: &'a Path,
    /// Events in the synthetic stream.
    events: usize,
    /// Of them, how many are appended in-process, before the child's.
    in_process: usize,
    module: &'a LotId,
    entries: usize,
    child: &'a AppendChild,
    say: &'a dyn Fn(String),
}

/// The last statements of the synthetic ledger, appended by `custody append` in a child
/// process after the others were appended in-process.
struct AppendChild {
    /// The file of signed statements, one JSON object a line (the form `custody sign` prints).
    file: std::path::PathBuf,
    /// How many.
    statements: usize,
}

/// Appends the stream's first `in_process` statements to `ledger` in batches (signed as
/// they come; only the appends are timed), then the child's statements with
/// `custody append` in a child process (for its peak memory), then measures whole-ledger
/// verify (in a child process too), `verify --lot` + `trace` of the module, and inclusion
/// proofs on the store `reopen` opens afresh.
fn measure<S: Store>(
    ledger: Ledger<S>,
    reopen: impl Fn() -> Result<S>,
    run: &Run<'_>,
) -> Result<Measured> {
    (run.say)(format!("appending to {}", run.name.display()));
    let now = ledger::now()?;
    let origin = ledger.signing_origin().clone();
    let mut stream = synth::Windows::new(SEED, run.events)?;
    let mut appending = Duration::ZERO;
    while stream.taken() < run.in_process {
        let batch = stream.take(&origin, BATCH.min(run.in_process - stream.taken()))?;
        let start = Instant::now();
        ledger.append(batch, now, &Silent)?;
        appending += start.elapsed();
    }
    let append_per_s = run.in_process as f64 / appending.as_secs_f64();
    drop(ledger);

    let (append_child_per_s, append_peak_rss_mb) = if run.child.statements == 0 {
        (0.0, 0.0)
    } else {
        (run.say)(format!(
            "appending the last {} statements with custody append in a child process",
            run.child.statements
        ));
        append_child(run.custody, run.name, run.child)?
    };

    (run.say)("verifying the whole ledger in a child process".into());
    settle(run.name)?;
    let (verify_per_s, peak_rss_mb) = verify_child(run.custody, run.name, run.entries)?;

    let ledger = Ledger::open(reopen()?)?;
    (run.say)(format!("verify --lot and trace of {}", run.module));
    let start = Instant::now();
    let checked = ledger.verify_lot(run.module, &Policy::default(), now)?;
    let trace_ms = start.elapsed().as_secs_f64() * 1000.0;
    if let Some(first) = checked.report.findings.first()
        && checked.report.counts.errors != 0
    {
        return Err(failed(format!(
            "the synthetic module does not verify: {first}"
        )));
    }

    (run.say)("proofs".into());
    let proofs_per_s = proof_rate(&ledger, 20_000)?;
    Ok(Measured {
        append_per_s,
        append_child_per_s,
        append_peak_rss_mb,
        verify_per_s,
        peak_rss_mb,
        trace_ms,
        trace_events: checked.trace.events.len(),
        proofs_per_s,
    })
}

/// Waits until the files under `dir` (a sled ledger; nothing for a database URL) are on
/// disk, so verify is measured on a ledger at rest, not beside the kernel writing back the
/// gigabytes the appends left dirty.
fn settle(dir: &Path) -> Result<()> {
    let Ok(listing) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in listing {
        let path = entry.map_err(failed)?.path();
        if path.is_dir() {
            settle(&path)?;
        } else {
            std::fs::File::open(&path)
                .and_then(|file| file.sync_all())
                .map_err(|e| failed(format!("cannot sync {}: {e}", path.display())))?;
        }
    }
    Ok(())
}

/// The bytes of the files under `dir`.
fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => dir_bytes(&entry.path()),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        })
        .sum()
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
    Ok((per_s, reported_peak_mb(&out.stderr, "verify")?))
}

/// Writes `statements` to `path` as signed statements, one JSON object a line: the form
/// `custody sign` prints and `custody append` reads.
fn write_statements(path: &Path, statements: &[Statement]) -> Result<()> {
    use std::io::Write;
    let file = std::fs::File::create(path).map_err(failed)?;
    let mut out = std::io::BufWriter::new(file);
    for s in statements {
        serde_json::to_writer(&mut out, &StatementJson::new(s)?).map_err(failed)?;
        out.write_all(b"\n").map_err(failed)?;
    }
    out.flush().map_err(failed)
}

/// Runs `custody append` of `child`'s file on the ledger `name` in a child process:
/// statements per second and peak RSS.
fn append_child(custody: &Path, name: &Path, child: &AppendChild) -> Result<(f64, f64)> {
    let start = Instant::now();
    let out = std::process::Command::new(custody)
        .arg("--ledger")
        .arg(name)
        .arg("append")
        .arg(&child.file)
        .env(PEAK_RSS_ENV, "1")
        .output()
        .map_err(|e| failed(format!("cannot run custody append: {e}")))?;
    let per_s = per_second(child.statements, start);
    if !out.status.success() {
        return Err(failed(format!(
            "custody append of the synthetic ledger's last {} statements failed: {}",
            child.statements,
            String::from_utf8_lossy(&out.stderr)
                .chars()
                .take(2000)
                .collect::<String>()
        )));
    }
    Ok((per_s, reported_peak_mb(&out.stderr, "append")?))
}

/// The peak memory a child run with [`PEAK_RSS_ENV`] reported on its standard error
/// `stderr`, in MB; `what` names its command in the error.
fn reported_peak_mb(stderr: &[u8], what: &str) -> Result<f64> {
    let kb: f64 = String::from_utf8_lossy(stderr)
        .lines()
        .find_map(|l| l.strip_prefix(PEAK_RSS_PREFIX))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| failed(format!("the {what} process did not report its peak memory")))?;
    Ok(kb / 1024.0)
}

/// Serves inclusion proofs of spread-out entries against the head on all cores, as the
/// server's handlers do ([`Ledger::inclusion_proof`]: the entry, the nodes, the root, the
/// path, checked before it is returned): with the proof cache loaded as a server loads it
/// at start, `count` to warm the store's cache as a running server's is, then `count`
/// others, timed.
fn proof_rate<S: Store>(ledger: &Ledger<S>, count: usize) -> Result<f64> {
    ledger.load_proof_cache()?;
    let size = ledger.store().head()?.size;
    let serve = |pass: u64| {
        (0..count as u64).into_par_iter().try_for_each(|i| {
            let index = (i + pass * count as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) % size;
            ledger.inclusion_proof(index, Some(size)).map(drop)
        })
    };
    serve(0)?;
    let start = Instant::now();
    serve(1)?;
    Ok(per_second(count, start))
}
