//! Reliability and security of the real `custody` binary on sled ledgers in temp dirs: tests
//! that try hard to break the ledger's guarantees (`docs/threat-model.md` maps each guarantee
//! to its test here).
//!
//! - [`crash_during_append_leaves_all_or_nothing`]: `append` of a large batch SIGKILLed at
//!   random moments, many of them while sled writes; the ledger opens, verifies, and holds
//!   the whole batch or none of it, and every acknowledged batch.
//! - [`damaged_store_files_never_pass_with_other_content_or_panic`]: bytes of the sled files
//!   flipped, zeroed, overwritten or cut off; `verify` fails clearly, never panics, and never
//!   passes with content other than what was appended.
//! - [`concurrent_appends_never_duplicate_or_corrupt`]: two `append`s on one ledger.
//! - [`key_files_are_private_encryptable_and_openssl_compatible`]: 0600 key files, refusal of
//!   readable ones, `keygen --encrypt`, OpenSSL interop both ways, no key material in output.
//!
//! Sizes adapt to the build, so a debug build stays within a couple of minutes and an
//! optimized one (or a debug build with optimized crypto dependencies) tests more. Each
//! can be fixed: `CUSTODY_CRASH_TRIALS` (default 25), `CUSTODY_CRASH_BATCH` (default: the
//! statements this build appends in about half a second, 50 to 2000),
//! `CUSTODY_DAMAGE_CASES` (default: about 20 s worth, 40 to 400),
//! `CUSTODY_CONCURRENCY_ROUNDS` (default 6), `CUSTODY_RELIABILITY_SEED` (default: the
//! clock; printed, to replay a failure).

use custody_tests::copy_dir;
use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ledger_store::{SledStore, Store};
use serde_json::Value;
use tempfile::TempDir;

// ---------------------------------------------------------------------------------------
// Running the binary
// ---------------------------------------------------------------------------------------

fn custody_path() -> PathBuf {
    custody_tests::custody_bin()
}

/// `custody --ledger LEDGER ARGS...` run in `cwd`, with no passphrase in the environment
/// unless the caller sets one.
fn command(cwd: &Path, ledger: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(custody_path());
    cmd.current_dir(cwd)
        .env_remove("CUSTODY_LEDGER")
        .env_remove("CUSTODY_PASSPHRASE")
        .arg("--ledger")
        .arg(ledger)
        .args(args)
        .stdin(Stdio::null());
    cmd
}

/// What a finished command did.
#[derive(Debug)]
struct Run {
    /// The exit code; `None` if a signal ended it (or it was killed on timeout).
    code: Option<i32>,
    stdout: String,
    stderr: String,
    timed_out: bool,
}

impl Run {
    fn ok(&self) -> bool {
        self.code == Some(0)
    }

    fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}): {}\nstderr: {}",
                self.stdout, self.stderr
            )
        })
    }

    /// Whether it crashed instead of failing cleanly.
    fn panicked(&self) -> bool {
        self.code == Some(101) || self.code.is_none() || self.stderr.contains("panicked")
    }
}

/// Runs `cmd` to completion, killing it after `timeout`.
fn run_with_timeout(mut cmd: Command, timeout: Duration) -> Run {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("custody starts");
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let deadline = Instant::now() + timeout;
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            timed_out = true;
            let _ = child.kill();
            break child.wait().unwrap();
        }
        thread::sleep(Duration::from_millis(2));
    };
    Run {
        code: status.code(),
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
        timed_out,
    }
}

fn drain(pipe: Option<impl Read + Send + 'static>) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut pipe) = pipe {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            text = String::from_utf8_lossy(&bytes).into_owned();
        }
        text
    })
}

fn run(cmd: Command) -> Run {
    run_with_timeout(cmd, Duration::from_secs(300))
}

/// Runs and requires exit 0.
fn run_ok(cmd: Command, what: &str) -> Run {
    let out = run(cmd);
    assert!(
        out.ok(),
        "{what} failed ({:?}):\nstdout: {}\nstderr: {}",
        out.code,
        out.stdout,
        out.stderr
    );
    out
}

fn env_usize(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v} is not a number")),
        Err(_) => default,
    }
}

// ---------------------------------------------------------------------------------------
// Randomness (reproducible from a printed seed; no dependency needed)
// ---------------------------------------------------------------------------------------

struct Rng(u64);

impl Rng {
    fn from_env(test: &str) -> Rng {
        let seed = match std::env::var("CUSTODY_RELIABILITY_SEED") {
            Ok(v) => v.parse().expect("CUSTODY_RELIABILITY_SEED is a u64"),
            Err(_) => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64,
        };
        println!("{test}: CUSTODY_RELIABILITY_SEED={seed}");
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    /// xorshift64*.
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

// ---------------------------------------------------------------------------------------
// Ledgers and batches
// ---------------------------------------------------------------------------------------

/// A scratch directory with a small ledger (`tpl`: genesis + `kivu-mining` enrolled as a
/// miner, made with `init`, `keygen` and `enroll`) that trials copy.
struct Fixture {
    dir: TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let fixture = Fixture {
            dir: tempfile::tempdir().unwrap(),
        };
        let cwd = fixture.path();
        let tpl = fixture.template();
        run_ok(
            command(
                cwd,
                &tpl,
                &[
                    "init",
                    "--origin",
                    "reliability.test/ledger",
                    "--operator-key",
                    "operator.pem",
                ],
            ),
            "init",
        );
        run_ok(
            command(cwd, &tpl, &["keygen", "--out", "kivu.pem"]),
            "keygen",
        );
        run_ok(
            command(
                cwd,
                &tpl,
                &[
                    "enroll",
                    "--party",
                    "kivu-mining",
                    "--name",
                    "Kivu Mining",
                    "--country",
                    "CD",
                    "--role",
                    "miner",
                    "--key",
                    "kivu.pem.pub",
                    "--operator-key",
                    "operator.pem",
                ],
            ),
            "enroll",
        );
        fixture
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn template(&self) -> PathBuf {
        self.path().join("tpl")
    }

    /// Signs `n` extract events by `kivu-mining` creating lots `PREFIX-000000`... into
    /// `PREFIX.jsonl`; returns the file and the statement ids in order.
    fn sign_batch(&self, prefix: &str, n: usize) -> Batch {
        let events = self.path().join(format!("{prefix}.events.jsonl"));
        fs::write(&events, extract_events(prefix, n)).unwrap();
        let signed = self.path().join(format!("{prefix}.jsonl"));
        run_ok(
            command(
                self.path(),
                &self.template(),
                &[
                    "sign",
                    "--key",
                    "kivu.pem",
                    events.to_str().unwrap(),
                    "--out",
                    signed.to_str().unwrap(),
                ],
            ),
            "sign",
        );
        let ids = fs::read_to_string(&signed)
            .unwrap()
            .lines()
            .map(|line| {
                serde_json::from_str::<Value>(line).unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect::<Vec<_>>();
        assert_eq!(ids.len(), n);
        Batch { file: signed, ids }
    }

    /// A fresh copy of the template ledger at `name`.
    fn copy(&self, name: &str) -> PathBuf {
        let to = self.path().join(name);
        if to.exists() {
            fs::remove_dir_all(&to).unwrap();
        }
        copy_dir(&self.template(), &to);
        to
    }
}

/// How many statements this build appends in about `seconds` (a debug build checks
/// signatures some 50 times slower than an optimized one), between `min` and `max`:
/// measured by signing and appending 100 statements to a copy of the template.
fn statements_in(fixture: &Fixture, seconds: f64, min: usize, max: usize) -> usize {
    let probe = fixture.sign_batch("PROBE", 100);
    let ledger = fixture.copy("probe");
    let started = Instant::now();
    run_ok(
        command(
            fixture.path(),
            &ledger,
            &["append", probe.file.to_str().unwrap()],
        ),
        "probe append",
    );
    let per_statement = started.elapsed().as_secs_f64() / 100.0;
    ((seconds / per_statement) as usize).clamp(min, max)
}

/// Signed statements in a file, with their ids in order.
struct Batch {
    file: PathBuf,
    ids: Vec<String>,
}

fn extract_events(prefix: &str, n: usize) -> String {
    (0..n)
        .map(|i| {
            serde_json::json!({
                "kind": "extract", "actor": "kivu-mining", "time": "2025-06-01T00:00:00Z", "nonce": i,
                "site": {"id": "KV-PIT-2", "country": "CD", "lat": -10.71, "lon": 25.47, "method": "industrial"},
                "outputs": [{"lot": format!("{prefix}-{i:06}"), "material": "cobalt-ore", "quantity": 1000,
                             "unit": "kg", "content": {"Co": 0.031}}]
            })
            .to_string()
                + "\n"
        })
        .collect()
}

/// Every regular file under `dir`, sorted.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// `custody verify --json` on `ledger`: the number of entries it checked, after asserting a
/// pass.
fn verified_size(cwd: &Path, ledger: &Path, context: &str) -> u64 {
    let out = run(command(cwd, ledger, &["verify", "--json"]));
    assert!(
        out.ok() && out.json()["verdict"] == "pass",
        "{context}: verify did not pass ({:?}):\nstdout: {}\nstderr: {}",
        out.code,
        out.stdout,
        out.stderr
    );
    out.json()["entries"].as_u64().unwrap()
}

/// The event id at log position `seq`, from `custody show --json`.
fn id_at(cwd: &Path, ledger: &Path, seq: u64) -> String {
    let out = run_ok(
        command(cwd, ledger, &["show", "--seq", &seq.to_string(), "--json"]),
        "show",
    );
    out.json()["statement"]["id"].as_str().unwrap().to_owned()
}

/// Length and modification time of a file, to see sled write.
fn stamp(path: &Path) -> Option<(u64, SystemTime)> {
    let meta = fs::metadata(path).ok()?;
    Some((meta.len(), meta.modified().ok()?))
}

fn spawn_quiet(mut cmd: Command) -> Child {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("custody starts")
}

// ---------------------------------------------------------------------------------------
// 1. Crash consistency
// ---------------------------------------------------------------------------------------

/// How long a full append of the batch takes, and when sled starts writing it.
struct Timeline {
    total: Duration,
    write_start: Duration,
}

/// Appends `batch` to `ledger` without interruption, watching the sled data file.
fn calibrate(fixture: &Fixture, ledger: &Path, batch: &Batch) -> Timeline {
    let db = ledger.join("db");
    let start = Instant::now();
    let mut child = spawn_quiet(command(
        fixture.path(),
        ledger,
        &["append", batch.file.to_str().unwrap()],
    ));
    let mut last = stamp(&db);
    let mut changes = Vec::new();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        let now = stamp(&db);
        if now != last {
            changes.push(start.elapsed());
            last = now;
        }
        thread::sleep(Duration::from_micros(300));
    };
    let total = start.elapsed();
    assert!(status.success(), "the calibration append failed");
    // sled touches the file when it opens, then writes the batch in one burst at the end:
    // the write window starts where the last burst of changes (gaps under 50 ms) starts.
    let mut write_start = changes.last().copied().unwrap_or(total / 2);
    for at in changes.iter().rev().skip(1) {
        if write_start.saturating_sub(*at) > Duration::from_millis(50) {
            break;
        }
        write_start = *at;
    }
    Timeline { total, write_start }
}

#[derive(Default, Debug)]
struct CrashTally {
    trials: usize,
    killed: usize,
    /// Killed after the point where the calibration run started writing the batch.
    killed_after_write_start: usize,
    completed_before_kill: usize,
    present_after_kill: usize,
    absent_after_kill: usize,
}

fn crash_during_append_leaves_all_or_nothing() {
    let mut rng = Rng::from_env("crash");
    let fixture = Fixture::new();
    let cwd = fixture.path();
    let trials = env_usize("CUSTODY_CRASH_TRIALS", 25);

    // Thousands of statements where the build is fast enough, fewer in a slow debug build.
    let size = match std::env::var("CUSTODY_CRASH_BATCH") {
        Ok(_) => env_usize("CUSTODY_CRASH_BATCH", 0),
        Err(_) => statements_in(&fixture, 0.5, 50, 2000),
    };
    let acknowledged = fixture.sign_batch("ACK", 3);
    let big = fixture.sign_batch("BIG", size);
    let base = verified_size(cwd, &fixture.template(), "template");

    let calibration = fixture.copy("calibration");
    run_ok(
        command(
            cwd,
            &calibration,
            &["append", acknowledged.file.to_str().unwrap()],
        ),
        "append",
    );
    let timeline = calibrate(&fixture, &calibration, &big);
    assert_eq!(
        verified_size(cwd, &calibration, "calibration"),
        base + 3 + size as u64
    );
    println!(
        "crash: batch of {size} statements; an append takes {:?}, sled writes from {:?}",
        timeline.total, timeline.write_start
    );

    let mut tally = CrashTally::default();
    for trial in 0..trials {
        let ledger = fixture.copy("trial");
        run_ok(
            command(
                cwd,
                &ledger,
                &["append", acknowledged.file.to_str().unwrap()],
            ),
            "acknowledged append",
        );
        // Two trials in three aim at the write window, the rest anywhere in the run.
        let total = timeline.total.as_secs_f64();
        let kill_at = if trial % 3 != 2 {
            let from = timeline.write_start.as_secs_f64() - 0.02 * total;
            from.max(0.0) + rng.unit() * (total * 1.05 - from).max(0.001)
        } else {
            rng.unit() * total * 1.05
        };
        let kill_at = Duration::from_secs_f64(kill_at);
        let started = Instant::now();
        let mut child = spawn_quiet(command(
            cwd,
            &ledger,
            &["append", big.file.to_str().unwrap()],
        ));
        let mut exited: Option<ExitStatus> = None;
        while started.elapsed() < kill_at {
            if let Some(status) = child.try_wait().unwrap() {
                exited = Some(status);
                break;
            }
            thread::sleep(Duration::from_micros(200));
        }
        let status = match exited {
            Some(status) => status,
            None => {
                let killed_at = started.elapsed();
                child.kill().unwrap(); // SIGKILL on unix.
                let status = child.wait().unwrap();
                // It may have finished just before the signal.
                if !status.success() {
                    tally.killed += 1;
                    if killed_at >= timeline.write_start {
                        tally.killed_after_write_start += 1;
                    }
                }
                status
            }
        };
        tally.trials += 1;
        let context = format!("trial {trial} (killed at {kill_at:?}, status {status:?})");

        let size_now = verified_size(cwd, &ledger, &context);
        let with_batch = base + 3 + size as u64;
        assert!(
            size_now == base + 3 || size_now == with_batch,
            "{context}: the log has {size_now} entries: neither {} (batch absent) nor {with_batch} (present)",
            base + 3
        );
        // The acknowledged batch is there, at its positions.
        assert_eq!(id_at(cwd, &ledger, base), acknowledged.ids[0], "{context}");
        assert_eq!(
            id_at(cwd, &ledger, base + 2),
            acknowledged.ids[2],
            "{context}"
        );
        if status.success() {
            tally.completed_before_kill += 1;
            assert_eq!(
                size_now, with_batch,
                "{context}: append reported success but the batch is missing"
            );
        }
        if size_now == with_batch {
            if !status.success() {
                tally.present_after_kill += 1;
            }
            assert_eq!(id_at(cwd, &ledger, base + 3), big.ids[0], "{context}");
            assert_eq!(
                id_at(cwd, &ledger, with_batch - 1),
                big.ids[size - 1],
                "{context}"
            );
        } else {
            tally.absent_after_kill += 1;
            // The ledger is usable after the crash: no stale lock, the batch appends.
            if tally.absent_after_kill % 3 == 1 {
                run_ok(
                    command(cwd, &ledger, &["append", big.file.to_str().unwrap()]),
                    "re-append after crash",
                );
            }
        }
    }
    println!("crash: {tally:?}");
    assert_eq!(tally.trials, trials);
}

// ---------------------------------------------------------------------------------------
// 2. Damaged stores
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Damage {
    FlipBit { offset: u64, bit: u8 },
    Zero { offset: u64, len: u64 },
    Garbage { offset: u64, len: u64, seed: u64 },
    Truncate { len: u64 },
    Delete,
}

impl Damage {
    fn apply(&self, path: &Path) {
        let mut bytes = fs::read(path).unwrap();
        let clamp = |offset: u64, bytes: &Vec<u8>| (offset as usize).min(bytes.len());
        match *self {
            Damage::FlipBit { offset, bit } => {
                if let Some(b) = bytes.get_mut(offset as usize) {
                    *b ^= 1 << bit;
                }
            }
            Damage::Zero { offset, len } => {
                let from = clamp(offset, &bytes);
                let to = clamp(offset + len, &bytes);
                bytes[from..to].fill(0);
            }
            Damage::Garbage { offset, len, seed } => {
                let from = clamp(offset, &bytes);
                let to = clamp(offset + len, &bytes);
                let mut rng = Rng(seed | 1);
                for b in &mut bytes[from..to] {
                    *b = rng.next() as u8;
                }
            }
            Damage::Truncate { len } => bytes.truncate(len as usize),
            Damage::Delete => {
                fs::remove_file(path).unwrap();
                return;
            }
        }
        fs::write(path, bytes).unwrap();
    }
}

/// The raw entries of a ledger, read in this process (only for stores `custody verify` has
/// already opened and passed).
fn raw_entries(ledger: &Path) -> Result<Vec<Vec<u8>>, String> {
    let ledger = ledger.to_path_buf();
    std::panic::catch_unwind(move || {
        let store = SledStore::open(&ledger).map_err(|e| e.to_string())?;
        store
            .entries(0)
            .map(|item| item.map(|(_, bytes)| bytes).map_err(|e| e.to_string()))
            .collect()
    })
    .unwrap_or_else(|_| Err("reading the store panicked".into()))
}

// sled 0.34 recovers from a damaged log segment by discarding it and everything after it,
// as if it were a torn write, head record included: the store is consistent again, just
// shorter. The store detects that against the acknowledged-head file it writes beside
// sled's after every append, so a pass on a prefix of the log is a violation.

#[derive(Default, Debug)]
struct DamageTally {
    cases: usize,
    passed_unchanged: usize,
    /// Passed with a strict prefix of the log: acknowledged entries silently lost.
    rolled_back: usize,
    failed_with_finding: usize,
    error_exit: usize,
    by_file: BTreeMap<String, usize>,
    errors: BTreeMap<String, usize>,
}

fn damaged_store_files_never_pass_with_other_content_or_panic() {
    let mut rng = Rng::from_env("damage");
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let template = cwd.join("tpl");
    run_ok(
        command(
            cwd,
            &template,
            &["demo", "--dir", template.to_str().unwrap()],
        ),
        "demo",
    );
    // Read the original through a copy: opening a sled database may rewrite its files.
    let reference = cwd.join("reference");
    copy_dir(&template, &reference);
    let original = raw_entries(&reference).unwrap();
    assert!(original.len() > 50);
    let files: Vec<PathBuf> = files_under(&template)
        .into_iter()
        .map(|f| f.strip_prefix(&template).unwrap().to_path_buf())
        .collect();
    println!("damage: files {files:?}");
    let db = PathBuf::from("db");
    assert!(files.contains(&db));

    // Fixed cases first: whole files gone, emptied or cut in half; headers wiped.
    let mut cases: Vec<(PathBuf, Damage)> = Vec::new();
    for file in &files {
        let len = fs::metadata(template.join(file)).unwrap().len();
        cases.push((file.clone(), Damage::Delete));
        cases.push((file.clone(), Damage::Truncate { len: 0 }));
        cases.push((file.clone(), Damage::Truncate { len: len / 2 }));
        cases.push((file.clone(), Damage::Zero { offset: 0, len: 64 }));
    }
    // Then random damage, mostly to the data file: by default as many cases as take about
    // 20 s here (40 to 400; one verify of the demo ledger takes 30 ms optimized, 0.6 s in a
    // debug build).
    let started = Instant::now();
    verified_size(cwd, &reference, "reference");
    let adaptive = ((20.0 / started.elapsed().as_secs_f64()) as usize).clamp(40, 400);
    let wanted = env_usize("CUSTODY_DAMAGE_CASES", adaptive).max(cases.len());
    while cases.len() < wanted {
        let file = if rng.below(10) < 8 {
            db.clone()
        } else {
            files[rng.below(files.len() as u64) as usize].clone()
        };
        let len = fs::metadata(template.join(&file)).unwrap().len().max(1);
        let offset = rng.below(len);
        let damage = match rng.below(4) {
            0 => Damage::FlipBit {
                offset,
                bit: rng.below(8) as u8,
            },
            1 => Damage::Zero {
                offset,
                len: 1 + rng.below(4096),
            },
            2 => Damage::Garbage {
                offset,
                len: 1 + rng.below(512),
                seed: rng.next(),
            },
            _ => Damage::Truncate { len: offset },
        };
        cases.push((file, damage));
    }

    let mut tally = DamageTally::default();
    let mut violations = Vec::new();
    for (i, (file, damage)) in cases.iter().enumerate() {
        let ledger = cwd.join("case");
        if ledger.exists() {
            fs::remove_dir_all(&ledger).unwrap();
        }
        copy_dir(&template, &ledger);
        damage.apply(&ledger.join(file));
        let context = format!("case {i}: {} {damage:?}", file.display());
        let out = run_with_timeout(
            command(cwd, &ledger, &["verify", "--json"]),
            Duration::from_secs(120),
        );
        tally.cases += 1;
        *tally.by_file.entry(file.display().to_string()).or_default() += 1;
        if out.timed_out {
            violations.push(format!("{context}: verify did not finish in 120 s"));
            continue;
        }
        if out.panicked() {
            violations.push(format!(
                "{context}: crashed ({:?}): {}",
                out.code,
                out.stderr.trim()
            ));
            continue;
        }
        match out.code {
            Some(0) => match raw_entries(&ledger) {
                Ok(entries) if entries == original => tally.passed_unchanged += 1,
                Ok(entries) if original.starts_with(&entries) => {
                    tally.rolled_back += 1;
                    violations.push(format!(
                        "{context}: verify passed on the first {} of {} entries",
                        entries.len(),
                        original.len()
                    ));
                }
                Ok(entries) => violations.push(format!(
                    "{context}: verify passed but the log differs from what was appended ({} entries, {} expected)",
                    entries.len(),
                    original.len()
                )),
                Err(e) => violations.push(format!("{context}: verify passed but the store cannot be read: {e}")),
            },
            Some(1) => {
                let report = out.json();
                let clear = report["verdict"] == "fail"
                    && report["findings"].as_array().is_some_and(|f| f.iter().any(|f| f["severity"] == "error"));
                if clear {
                    tally.failed_with_finding += 1;
                } else {
                    violations.push(format!("{context}: exit 1 without an error finding: {}", out.stdout));
                }
            }
            Some(2) => {
                let message = out.stderr.trim();
                if message.starts_with("error: ") && message.len() > "error: ".len() + 10 {
                    tally.error_exit += 1;
                    let shown: String = message.chars().take(100).collect();
                    *tally.errors.entry(shown.replace(ledger.to_str().unwrap(), "LEDGER")).or_default() += 1;
                } else {
                    violations.push(format!("{context}: exit 2 without a clear error: {message:?}"));
                }
            }
            other => violations.push(format!("{context}: unexpected exit {other:?}: {}", out.stderr.trim())),
        }
    }
    println!("damage: {tally:?}");
    assert!(
        violations.is_empty(),
        "{} of {} damaged stores broke a guarantee:\n{}",
        violations.len(),
        cases.len(),
        violations.join("\n")
    );
}

/// One logical edit of a sled record, as someone with write access to the store could make.
fn tamper(ledger: &Path, rng: &mut Rng) -> String {
    let db = sled::open(ledger).unwrap();
    let keys: Vec<sled::IVec> = db.iter().keys().map(Result::unwrap).collect();
    let entries: Vec<sled::IVec> = keys
        .iter()
        .filter(|k| k.starts_with(b"e/"))
        .cloned()
        .collect();
    let pick =
        |rng: &mut Rng, from: &[sled::IVec]| from[rng.below(from.len() as u64) as usize].clone();
    let show = |key: &[u8]| String::from_utf8_lossy(key).into_owned();
    let what = match rng.below(10) {
        0 => {
            let key = pick(rng, &entries);
            let mut value = db.get(&key).unwrap().unwrap().to_vec();
            let at = rng.below(value.len() as u64) as usize;
            value[at] ^= 1 << rng.below(8);
            db.insert(&key, value).unwrap();
            format!("flip a bit of entry {} at byte {at}", show(&key))
        }
        1 => {
            let key = pick(rng, &entries);
            let value = db.get(&key).unwrap().unwrap().to_vec();
            let len = rng.below(value.len() as u64) as usize;
            db.insert(&key, &value[..len]).unwrap();
            format!("cut entry {} to {len} bytes", show(&key))
        }
        2 => {
            let key = pick(rng, &entries);
            db.remove(&key).unwrap();
            format!("delete entry {}", show(&key))
        }
        3 => {
            let (a, b) = (pick(rng, &entries), pick(rng, &entries));
            let value = db.get(&b).unwrap().unwrap();
            db.insert(&a, value).unwrap();
            format!("copy entry {} over {}", show(&b), show(&a))
        }
        4 => {
            let (a, b) = (pick(rng, &entries), pick(rng, &entries));
            let (va, vb) = (db.get(&a).unwrap().unwrap(), db.get(&b).unwrap().unwrap());
            db.insert(&a, vb).unwrap();
            db.insert(&b, va).unwrap();
            format!("swap entries {} and {}", show(&a), show(&b))
        }
        5 => {
            let last = entries.last().unwrap();
            let mut key = b"e/".to_vec();
            key.extend((entries.len() as u64).to_be_bytes());
            db.insert(&key, db.get(last).unwrap().unwrap()).unwrap();
            "repeat the last entry at the end".into()
        }
        6 => {
            let key = pick(rng, &keys);
            let mut value = db.get(&key).unwrap().unwrap().to_vec();
            if !value.is_empty() {
                let at = rng.below(value.len() as u64) as usize;
                value[at] ^= 1 << rng.below(8);
            }
            db.insert(&key, value).unwrap();
            format!("flip a bit of record {}", show(&key))
        }
        // `entries.log` holds the entries' bytes; the `e/` records say where.
        7 | 8 => {
            let key = pick(rng, &entries);
            let at = db.get(&key).unwrap().unwrap();
            let offset = u64::from_le_bytes(at[..8].try_into().unwrap()) as usize;
            let len = u32::from_le_bytes(at[8..12].try_into().unwrap()) as usize;
            let path = ledger.join("entries.log");
            let mut log = fs::read(&path).unwrap();
            let byte = offset + rng.below(len as u64) as usize;
            log[byte] ^= 1 << rng.below(8);
            // The edit an attacker makes: the frame's checksum recomputed, so the store
            // reads the changed entry back.
            let forged = rng.below(2) == 0;
            if forged {
                let sum = ledger_core::hash::Digest::of(&[&log[offset - 5..offset + len]]);
                log[offset + len..offset + len + 32].copy_from_slice(&sum.0);
            }
            fs::write(&path, log).unwrap();
            format!(
                "flip a bit of entry {} in entries.log at byte {byte}{}",
                show(&key),
                if forged { ", checksum recomputed" } else { "" }
            )
        }
        _ => {
            let key = pick(rng, &keys);
            db.remove(&key).unwrap();
            format!("delete record {}", show(&key))
        }
    };
    db.flush().unwrap();
    what
}

#[derive(Default, Debug)]
struct TamperTally {
    cases: usize,
    /// Passed: only derived records (indexes, Merkle nodes) were touched; entries intact.
    passed_unchanged: usize,
    failed_with_finding: usize,
    error_exit: usize,
}

fn tampered_store_records_never_pass_verification() {
    let mut rng = Rng::from_env("tamper");
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let template = cwd.join("tpl");
    run_ok(
        command(
            cwd,
            &template,
            &["demo", "--dir", template.to_str().unwrap()],
        ),
        "demo",
    );
    let reference = cwd.join("reference");
    copy_dir(&template, &reference);
    let original = raw_entries(&reference).unwrap();
    let started = Instant::now();
    verified_size(cwd, &reference, "reference");
    let adaptive = ((12.0 / started.elapsed().as_secs_f64()) as usize).clamp(24, 300);
    let cases = env_usize("CUSTODY_TAMPER_CASES", adaptive);

    let mut tally = TamperTally::default();
    let mut violations = Vec::new();
    for i in 0..cases {
        let ledger = cwd.join("case");
        if ledger.exists() {
            fs::remove_dir_all(&ledger).unwrap();
        }
        copy_dir(&template, &ledger);
        let what = tamper(&ledger, &mut rng);
        let context = format!("case {i}: {what}");
        let out = run_with_timeout(
            command(cwd, &ledger, &["verify", "--json"]),
            Duration::from_secs(120),
        );
        tally.cases += 1;
        if out.timed_out || out.panicked() {
            violations.push(format!(
                "{context}: crashed or hung ({:?}): {}",
                out.code,
                out.stderr.trim()
            ));
            continue;
        }
        match out.code {
            Some(0) => match raw_entries(&ledger) {
                Ok(entries) if entries == original => tally.passed_unchanged += 1,
                Ok(_) => violations.push(format!(
                    "{context}: verify passed a log that differs from what was appended"
                )),
                Err(e) => violations.push(format!(
                    "{context}: verify passed but the store cannot be read: {e}"
                )),
            },
            Some(1)
                if out.json()["findings"]
                    .as_array()
                    .is_some_and(|f| f.iter().any(|f| f["severity"] == "error")) =>
            {
                tally.failed_with_finding += 1;
            }
            Some(2) if out.stderr.trim().starts_with("error: ") => tally.error_exit += 1,
            other => violations.push(format!(
                "{context}: unclear outcome {other:?}: {} {}",
                out.stdout, out.stderr
            )),
        }
    }
    println!("tamper: {tally:?}");
    assert!(
        violations.is_empty(),
        "{} of {cases} tampered stores broke a guarantee:\n{}",
        violations.len(),
        violations.join("\n")
    );
}

// ---------------------------------------------------------------------------------------
// 3. Concurrent writers
// ---------------------------------------------------------------------------------------

#[derive(Debug, PartialEq)]
enum AppendOutcome {
    Appended,
    Locked,
    Replay,
}

fn classify_append(run: &Run, context: &str) -> AppendOutcome {
    match run.code {
        Some(0) => AppendOutcome::Appended,
        Some(2) if run.stderr.contains("in use by another process") => AppendOutcome::Locked,
        Some(1) if run.stderr.contains("CUS-INT-006") => AppendOutcome::Replay,
        _ => panic!(
            "{context}: unexpected append outcome {:?}:\nstdout: {}\nstderr: {}",
            run.code, run.stdout, run.stderr
        ),
    }
}

fn collect(mut child: Child) -> Run {
    let stderr = drain(child.stderr.take());
    let status = child.wait().unwrap();
    Run {
        code: status.code(),
        stdout: String::new(),
        stderr: stderr.join().unwrap(),
        timed_out: false,
    }
}

fn concurrent_appends_never_duplicate_or_corrupt() {
    let mut rng = Rng::from_env("concurrency");
    let fixture = Fixture::new();
    let cwd = fixture.path();
    let rounds = env_usize("CUSTODY_CONCURRENCY_ROUNDS", 6);
    let n = statements_in(&fixture, 0.5, 50, 1000);
    let x = fixture.sign_batch("CX", n);
    let y = fixture.sign_batch("CY", n);
    let base = verified_size(cwd, &fixture.template(), "template");
    let started = Instant::now();
    run_ok(
        command(
            cwd,
            &fixture.copy("timing"),
            &["append", x.file.to_str().unwrap()],
        ),
        "append",
    );
    let append_time = started.elapsed();

    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for round in 0..rounds {
        let ledger = fixture.copy("round");
        // Even rounds: two different batches; odd rounds: the same batch twice.
        let second = if round % 2 == 0 { &y } else { &x };
        let stagger = Duration::from_secs_f64(rng.unit() * append_time.as_secs_f64() * 1.2);
        let first_child = spawn_quiet(command(cwd, &ledger, &["append", x.file.to_str().unwrap()]));
        thread::sleep(stagger);
        let second_child = spawn_quiet(command(
            cwd,
            &ledger,
            &["append", second.file.to_str().unwrap()],
        ));
        let context = format!("round {round} (stagger {stagger:?})");
        let first = classify_append(&collect(first_child), &context);
        let other = classify_append(&collect(second_child), &context);
        *seen.entry(format!("{first:?}+{other:?}")).or_default() += 1;
        let appended = |o: &AppendOutcome| u64::from(*o == AppendOutcome::Appended) * n as u64;
        let size = verified_size(cwd, &ledger, &context);
        assert_eq!(
            size,
            base + appended(&first) + appended(&other),
            "{context}: {first:?} and {other:?}"
        );
        if round % 2 == 0 {
            // Two different batches: neither can be a replay of anything.
            assert!(
                first != AppendOutcome::Replay && other != AppendOutcome::Replay,
                "{context}: {first:?} and {other:?}: two different batches are not replays"
            );
        } else {
            // The same batch twice: whichever process takes the ledger first appends it
            // (a short stagger does not decide which), so at most one appends, and a replay
            // is only ever of what the other appended.
            assert!(
                !(first == AppendOutcome::Appended && other == AppendOutcome::Appended),
                "{context}: one batch was appended twice"
            );
            for (this, that) in [(&first, &other), (&other, &first)] {
                assert!(
                    *this != AppendOutcome::Replay || *that == AppendOutcome::Appended,
                    "{context}: {this:?} though the other append was {that:?}"
                );
            }
        }
        // Whatever happened, appending X again now is refused as a replay if X is in.
        let x_in = first == AppendOutcome::Appended
            || (round % 2 == 1 && other == AppendOutcome::Appended);
        let again = run(command(cwd, &ledger, &["append", x.file.to_str().unwrap()]));
        let expected = if x_in {
            AppendOutcome::Replay
        } else {
            AppendOutcome::Appended
        };
        assert_eq!(
            classify_append(&again, &context),
            expected,
            "{context}: appending X again"
        );
        assert_eq!(
            verified_size(cwd, &ledger, &context),
            size + if x_in { 0 } else { n as u64 },
            "{context}: after appending X again"
        );
    }
    println!("concurrency: {rounds} rounds of two appends of {n} statements, outcomes {seen:?}");
}

// ---------------------------------------------------------------------------------------
// 4. Keys
// ---------------------------------------------------------------------------------------

fn openssl_available() -> bool {
    let ok = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok && std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("openssl is required in CI (apt-get install openssl)");
    }
    ok
}

fn openssl(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new("openssl");
    cmd.current_dir(cwd).args(args).stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = run(cmd);
    assert!(out.ok(), "openssl {args:?} failed: {}", out.stderr);
    out
}

/// The base64 body lines of a PEM file: what must never be printed for a private key.
fn pem_body(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.starts_with("-----") && l.len() >= 16)
        .map(str::to_owned)
        .collect()
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

#[cfg(unix)]
fn key_files_are_private_encryptable_and_openssl_compatible() {
    if !openssl_available() {
        println!("skipped: openssl not found");
        return;
    }
    const PASSPHRASE: &str = "correct horse battery staple";
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let ledger = cwd.join("ledger");
    let mut outputs: Vec<Run> = Vec::new();
    let mut secrets: Vec<String> = vec![PASSPHRASE.to_owned()];
    let with_passphrase = |mut cmd: Command, passphrase: &str| {
        cmd.env("CUSTODY_PASSPHRASE", passphrase);
        cmd
    };

    // keygen: a 0600 private key OpenSSL reads, and its public key.
    outputs.push(run_ok(
        command(cwd, &ledger, &["keygen", "--out", "plain.pem"]),
        "keygen",
    ));
    assert_eq!(mode(&cwd.join("plain.pem")), 0o600);
    let pubout = openssl(cwd, &["pkey", "-in", "plain.pem", "-pubout"], &[]);
    assert_eq!(
        pubout.stdout,
        fs::read_to_string(cwd.join("plain.pem.pub")).unwrap()
    );
    secrets.extend(pem_body(
        &fs::read_to_string(cwd.join("plain.pem")).unwrap(),
    ));

    // keygen --encrypt: an ENCRYPTED PRIVATE KEY, 0600, that OpenSSL decrypts.
    outputs.push(run_ok(
        with_passphrase(
            command(cwd, &ledger, &["keygen", "--out", "enc.pem", "--encrypt"]),
            PASSPHRASE,
        ),
        "keygen --encrypt",
    ));
    assert_eq!(mode(&cwd.join("enc.pem")), 0o600);
    let enc_text = fs::read_to_string(cwd.join("enc.pem")).unwrap();
    assert!(
        enc_text.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"),
        "{}",
        enc_text.lines().next().unwrap()
    );
    let decrypted = openssl(
        cwd,
        &[
            "pkey",
            "-in",
            "enc.pem",
            "-passin",
            "env:CUSTODY_PASSPHRASE",
        ],
        &[("CUSTODY_PASSPHRASE", PASSPHRASE)],
    );
    secrets.extend(pem_body(&decrypted.stdout));
    let pubout = openssl(
        cwd,
        &[
            "pkey",
            "-in",
            "enc.pem",
            "-passin",
            "env:CUSTODY_PASSPHRASE",
            "-pubout",
        ],
        &[("CUSTODY_PASSPHRASE", PASSPHRASE)],
    );
    assert_eq!(
        pubout.stdout,
        fs::read_to_string(cwd.join("enc.pem.pub")).unwrap()
    );

    // keygen --encrypt with no passphrase anywhere (no terminal here) is refused.
    let out = run(command(
        cwd,
        &ledger,
        &["keygen", "--out", "nopass.pem", "--encrypt"],
    ));
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("CUSTODY_PASSPHRASE"), "{}", out.stderr);
    assert!(!cwd.join("nopass.pem").exists());
    outputs.push(out);

    // OpenSSL's own keys: plain, and encrypted the way OpenSSL does by default (PBKDF2).
    openssl(
        cwd,
        &["genpkey", "-algorithm", "ed25519", "-out", "ossl.pem"],
        &[],
    );
    set_mode(&cwd.join("ossl.pem"), 0o600);
    openssl(
        cwd,
        &["pkey", "-in", "ossl.pem", "-pubout", "-out", "ossl.pem.pub"],
        &[],
    );
    secrets.extend(pem_body(&fs::read_to_string(cwd.join("ossl.pem")).unwrap()));
    openssl(
        cwd,
        &[
            "genpkey",
            "-algorithm",
            "ed25519",
            "-aes256",
            "-pass",
            "env:OSSL_PASS",
            "-out",
            "ossl-enc.pem",
        ],
        &[("OSSL_PASS", PASSPHRASE)],
    );
    set_mode(&cwd.join("ossl-enc.pem"), 0o600);
    openssl(
        cwd,
        &[
            "pkey",
            "-in",
            "ossl-enc.pem",
            "-passin",
            "env:OSSL_PASS",
            "-pubout",
            "-out",
            "ossl-enc.pem.pub",
        ],
        &[("OSSL_PASS", PASSPHRASE)],
    );
    let ossl_decrypted = openssl(
        cwd,
        &["pkey", "-in", "ossl-enc.pem", "-passin", "env:OSSL_PASS"],
        &[("OSSL_PASS", PASSPHRASE)],
    );
    secrets.extend(pem_body(&ossl_decrypted.stdout));

    // A ledger with a party keyed by each kind of key. (scrypt is slow in a debug build:
    // the encrypted key signs once.)
    outputs.push(run_ok(
        command(
            cwd,
            &ledger,
            &[
                "init",
                "--origin",
                "keys.test/ledger",
                "--operator-key",
                "plain.pem",
            ],
        ),
        "init",
    ));
    let parties = [
        ("mine-enc", "enc.pem"),
        ("mine-ossl", "ossl.pem"),
        ("mine-ossl-enc", "ossl-enc.pem"),
    ];
    for (party, key) in parties {
        let public = format!("{key}.pub");
        outputs.push(run_ok(
            command(
                cwd,
                &ledger,
                &[
                    "enroll",
                    "--party",
                    party,
                    "--name",
                    party,
                    "--country",
                    "CD",
                    "--role",
                    "miner",
                    "--key",
                    &public,
                    "--operator-key",
                    "plain.pem",
                ],
            ),
            "enroll",
        ));
    }
    for (i, (party, key)) in parties.iter().enumerate() {
        let events = cwd.join(format!("{party}.json"));
        fs::write(
            &events,
            extract_events(&format!("K{i}"), 2).replace("kivu-mining", party),
        )
        .unwrap();
        let signed = format!("{party}.signed");
        outputs.push(run_ok(
            with_passphrase(
                command(
                    cwd,
                    &ledger,
                    &[
                        "sign",
                        "--key",
                        key,
                        events.to_str().unwrap(),
                        "--out",
                        &signed,
                    ],
                ),
                PASSPHRASE,
            ),
            "sign",
        ));
        outputs.push(run_ok(
            command(cwd, &ledger, &["append", &signed]),
            "append",
        ));
    }
    let out = run_ok(command(cwd, &ledger, &["verify", "--json"]), "verify");
    assert_eq!(out.json()["entries"], 1 + 3 + 6);
    outputs.push(out);

    // A wrong passphrase is named as such; an encrypted key with no passphrase is refused.
    let events = cwd.join("mine-enc.json");
    let out = run(with_passphrase(
        command(
            cwd,
            &ledger,
            &["sign", "--key", "enc.pem", events.to_str().unwrap()],
        ),
        "not the passphrase",
    ));
    assert_eq!(out.code, Some(2));
    assert!(out.stderr.contains("wrong passphrase"), "{}", out.stderr);
    outputs.push(out);
    let out = run(command(
        cwd,
        &ledger,
        &["sign", "--key", "enc.pem", events.to_str().unwrap()],
    ));
    assert_eq!(out.code, Some(2));
    assert!(out.stderr.contains("no passphrase"), "{}", out.stderr);
    outputs.push(out);

    // A group- or world-readable private key is refused, with the fix.
    for readable in [0o644, 0o640, 0o604] {
        set_mode(&cwd.join("plain.pem"), readable);
        let out = run(command(
            cwd,
            &ledger,
            &["sign", "--key", "plain.pem", events.to_str().unwrap()],
        ));
        assert_eq!(out.code, Some(2), "mode {readable:o}");
        assert!(
            out.stderr.contains("chmod 600"),
            "mode {readable:o}: {}",
            out.stderr
        );
        outputs.push(out);
    }

    // No command printed key material.
    for out in &outputs {
        for secret in &secrets {
            assert!(
                !out.stdout.contains(secret.as_str()) && !out.stderr.contains(secret.as_str()),
                "key material in output:\nstdout: {}\nstderr: {}",
                out.stdout,
                out.stderr
            );
        }
    }
}

fn main() -> std::process::ExitCode {
    let mut suite = custody_tests::Suite::default();
    suite.test(
        "crash_during_append_leaves_all_or_nothing",
        &[],
        crash_during_append_leaves_all_or_nothing,
    );
    suite.test(
        "damaged_store_files_never_pass_with_other_content_or_panic",
        &[],
        damaged_store_files_never_pass_with_other_content_or_panic,
    );
    suite.test(
        "tampered_store_records_never_pass_verification",
        &[],
        tampered_store_records_never_pass_verification,
    );
    suite.test(
        "concurrent_appends_never_duplicate_or_corrupt",
        &[],
        concurrent_appends_never_duplicate_or_corrupt,
    );
    suite.test(
        "key_files_are_private_encryptable_and_openssl_compatible",
        &[custody_tests::Need::Program(
            "openssl",
            "apt-get install openssl",
        )],
        key_files_are_private_encryptable_and_openssl_compatible,
    );
    suite.run()
}
