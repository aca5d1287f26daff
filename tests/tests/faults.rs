//! Fault injection against the real `custody` binary: the promise of
//! `docs/architecture.md` § Durability (issue 11) held under failed and interrupted system
//! calls, beyond the random SIGKILLs and byte damage of `reliability.rs`.
//!
//! `tests/faults/inject.c` is an `LD_PRELOAD` shim, compiled here at run time with `cc`. It
//! makes the Nth call of one kind (`write`, `pwrite`, `fsync`, `fdatasync`,
//! `sync_file_range`, `rename`, a creating `open`, `ftruncate`, `close`) fail with EIO or
//! ENOSPC, or SIGKILLs the process right before it (or holds the calling thread there); it
//! can log every such call, and it can record what each successful sync made durable. Its
//! header documents the settings. Each matrix test first runs its command once, counting,
//! to learn how many calls of each kind it makes, then hits each of them in turn (at most
//! [`PER_KIND`] per kind, sampled evenly) with `fail` (EIO; ENOSPC too for writes) and with
//! `kill`.
//!
//! The promise, checked after every case:
//! - no panic (exit 101) and no signal but the shim's own SIGKILL;
//! - exit 0 means the effect is all there; any other outcome leaves nothing half done (for
//!   `append`, the log holds all of the batch or none of it; `init`, `keygen` and
//!   `export-bundle` leave nothing or the complete result, and the old bundle intact);
//! - afterwards, without faults, the ledger opens and `verify` passes, and the command can
//!   simply be run again.
//!
//! The matrices: [`faults_in_an_append_of_1_leave_all_or_nothing`],
//! [`faults_in_an_append_of_100_leave_all_or_nothing`],
//! [`fail_a_crashed_init_leaves_nothing_or_a_usable_ledger`], [`fail_keygen_is_all_or_nothing`],
//! [`fail_export_bundle_never_truncates_the_old_bundle`], and for the readers
//! [`faults_in_verify_never_leave_the_ledger_unopenable`],
//! [`faults_in_show_never_leave_the_ledger_unopenable`],
//! [`faults_in_trace_never_leave_the_ledger_unopenable`]. One test for each other finding of
//! issue 11:
//! [`fail_a_leftover_sled_snapshot_does_not_make_the_ledger_unopenable`],
//! [`fail_receipts_are_not_printed_before_the_data_is_fsynced`],
//! [`fail_a_power_loss_right_after_the_receipts_keeps_the_batch`] (the power-loss model: only
//! what was fsynced before the receipts survives),
//! [`fail_an_fsync_error_at_close_is_an_error_not_a_panic`],
//! [`fail_an_fsync_error_is_never_a_success`],
//! [`fail_deleting_acknowledged_head_is_a_finding`],
//! [`fail_an_unreadable_ledger_names_the_permission_problem`],
//! [`fail_a_full_disk_is_named_as_such`], [`fail_readers_run_while_a_writer_works`].
//!
//! Every child process is killed after [`TIMEOUT`]. A failing test lists every case that
//! broke the promise (command, call kind and number, action, errno, exit, stderr).
//!
//! Without a C compiler the tests are reported as ignored with the reason
//! (`custody_tests::Suite`), and under `CI=true` they fail. Set `CUSTODY_FAULT_POWER_BATCHES` (default `1,100,10000`) to
//! change the batch sizes of the power-loss test, and `CUSTODY_FAULTS_BIN` to run the tests
//! against another build of `custody` (one from before a fix, to see them fail).
#![cfg(target_os = "linux")]

use custody_tests::copy_dir;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

/// How long any child process may run before it is killed (and the case fails).
const TIMEOUT: Duration = Duration::from_secs(60);

/// The most calls of one kind a matrix hits, sampled evenly among those the command makes.
const PER_KIND: usize = 20;

/// The call kinds the matrices hit, and whether a full disk is one of their errors.
const KINDS: &[(&str, bool)] = &[
    ("write", true),
    ("pwrite", true),
    ("fsync", false),
    ("fdatasync", false),
    ("sync_file_range", false),
    ("rename", false),
    ("open", false),
    ("ftruncate", false),
];

const SIGKILL: i32 = 9;

// ---------------------------------------------------------------------------------------
// The shim
// ---------------------------------------------------------------------------------------

/// The binary under test: the freshly built one, or `CUSTODY_FAULTS_BIN` (to show that a
/// test fails on an older build).
fn custody_path() -> PathBuf {
    match std::env::var_os("CUSTODY_FAULTS_BIN") {
        Some(path) => PathBuf::from(path),
        None => custody_tests::custody_bin(),
    }
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Says why a test cannot run: a failure under `CI=true`, a printed skip otherwise.
fn skip(reason: &str) {
    assert!(!in_ci(), "{reason} (CI=true: this test must run)");
    println!("skipped: {reason}");
}

/// The compiled shim, built once per test process; `None` (after saying why) where it
/// cannot be built or does not load.
fn shim() -> Option<&'static Path> {
    static SHIM: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match SHIM.get_or_init(build_shim) {
        Ok(path) => Some(path),
        Err(reason) => {
            skip(reason);
            None
        }
    }
}

fn build_shim() -> Result<PathBuf, String> {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("faults/inject.c");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("faults");
    fs::create_dir_all(&dir).unwrap();
    let pid = std::process::id();
    let built = dir.join(format!("libinject.so.{pid}"));
    let out = match Command::new("cc")
        .args(["-shared", "-fPIC", "-O2", "-o"])
        .arg(&built)
        .arg(&source)
        .arg("-ldl")
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(
                "no C compiler to build tests/faults/inject.c: `cc` is not installed \
                        (apt-get install gcc)"
                    .into(),
            );
        }
        Err(e) => return Err(format!("cannot run cc: {e}")),
    };
    assert!(
        out.status.success(),
        "tests/faults/inject.c does not compile:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shim = dir.join("libinject.so");
    fs::rename(&built, &shim).unwrap();
    // The dynamic loader ignores LD_PRELOAD without a word where it cannot apply (a static
    // binary, another libc): prove that the shim runs inside custody.
    let probe = dir.join(format!("probe.{pid}"));
    let _ = fs::remove_file(&probe);
    let status = Command::new(custody_path())
        .arg("--version")
        .env("LD_PRELOAD", &shim)
        .env("CUSTODY_FAULT_COUNT", &probe)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "custody --version failed under the shim");
    if !probe.exists() {
        return Err(
            "the shim does not load into custody (LD_PRELOAD ignored: a static binary, \
                    or not glibc)"
                .into(),
        );
    }
    let _ = fs::remove_file(&probe);
    Ok(shim)
}

// ---------------------------------------------------------------------------------------
// Faults and runs
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    /// The call returns -1 with the errno, without being made.
    Fail,
    /// SIGKILL right before the call: a crash at an exact system call.
    Kill,
    /// The calling thread waits right before the call until the test releases it.
    Pause,
}

/// What the shim does in one run. Without `call` it only counts.
#[derive(Clone, Debug, Default)]
struct Fault {
    /// A call kind, or several separated by commas.
    call: Option<String>,
    /// `N` (the Nth eligible call) or `N+` (that one and every later one).
    nth: String,
    action: Option<Action>,
    errno: &'static str,
    /// Only calls whose path contains this are eligible.
    path: Option<String>,
    /// Only calls on this descriptor are eligible.
    fd: Option<i32>,
    /// The power-loss model: (shadow directory, the tree whose syncs it records).
    shadow: Option<(PathBuf, PathBuf)>,
    /// For [`Action::Pause`]: the file whose creation releases the paused call.
    release: Option<PathBuf>,
}

impl Fault {
    /// Just counting the calls on paths under `under`.
    fn counting(under: &Path) -> Fault {
        Fault {
            path: Some(s(under).to_owned()),
            ..Fault::default()
        }
    }

    fn hit(call: &str, nth: usize, action: Action, errno: &'static str) -> Fault {
        Fault {
            call: Some(call.to_owned()),
            nth: nth.to_string(),
            action: Some(action),
            errno,
            ..Fault::default()
        }
    }

    /// The same fault, on the Nth call and every later one.
    fn and_later(mut self) -> Fault {
        self.nth.push('+');
        self
    }

    /// The same fault, counting only calls on paths containing `path`.
    fn on(mut self, path: &str) -> Fault {
        self.path = Some(path.to_owned());
        self
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = Vec::new();
        if let Some(call) = &self.call {
            env.push(("CUSTODY_FAULT_CALL", call.clone()));
            env.push(("CUSTODY_FAULT_NTH", self.nth.clone()));
            env.push(("CUSTODY_FAULT_ERRNO", self.errno.to_owned()));
            let action = match self.action {
                Some(Action::Kill) => "kill",
                Some(Action::Pause) => "pause",
                _ => "fail",
            };
            env.push(("CUSTODY_FAULT_ACTION", action.to_owned()));
        }
        if let Some(path) = &self.path {
            env.push(("CUSTODY_FAULT_PATH", path.clone()));
        }
        if let Some(fd) = self.fd {
            env.push(("CUSTODY_FAULT_FD", fd.to_string()));
        }
        if let Some(release) = &self.release {
            env.push(("CUSTODY_FAULT_RELEASE", s(release).to_owned()));
        }
        if let Some((shadow, root)) = &self.shadow {
            env.push(("CUSTODY_FAULT_SHADOW", s(shadow).to_owned()));
            env.push(("CUSTODY_FAULT_SHADOW_ROOT", s(root).to_owned()));
        }
        env
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Some(call) = &self.call else {
            return write!(f, "no fault (counting)");
        };
        let n = self.nth.trim_end_matches('+');
        let later = if self.nth.ends_with('+') {
            " and every later one"
        } else {
            ""
        };
        match self.action {
            Some(Action::Fail) | None => write!(
                f,
                "{call} call #{n}{later}, action fail, errno {}",
                self.errno
            ),
            Some(Action::Kill) => write!(f, "{call} call #{n}, action kill (SIGKILL), no errno"),
            Some(Action::Pause) => write!(f, "{call} call #{n}, action pause, no errno"),
        }
    }
}

/// One line of the shim's count file.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Line {
    /// A call about to be made: its kind, its number among eligible calls of that kind (0 if
    /// not eligible), its descriptor (-1 for calls on a path) and its paths.
    Call {
        kind: String,
        n: usize,
        fd: i64,
        path: String,
        to: Option<String>,
    },
    /// A sync call that returned `result`.
    End {
        kind: String,
        fd: i64,
        result: i64,
        path: String,
    },
    /// The injected fault.
    Fault,
}

fn parse_log(text: &str) -> Vec<Line> {
    let mut lines = Vec::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split(' ').collect();
        match words.as_slice() {
            ["FAULT", ..] => lines.push(Line::Fault),
            ["end", kind, _n, fd, result, path] => lines.push(Line::End {
                kind: (*kind).to_owned(),
                fd: fd.parse().unwrap_or(-1),
                result: result.parse().unwrap_or(-1),
                path: (*path).to_owned(),
            }),
            [kind, n, fd, path, rest @ ..] => lines.push(Line::Call {
                kind: (*kind).to_owned(),
                n: n.parse().unwrap_or(0),
                fd: fd.parse().unwrap_or(-1),
                path: (*path).to_owned(),
                to: rest.first().map(|p| (*p).to_owned()),
            }),
            _ => panic!("unreadable line in the shim's count file: {line:?}"),
        }
    }
    lines
}

/// What a finished command did.
#[derive(Debug)]
struct Run {
    /// The exit code; `None` if a signal ended it.
    code: Option<i32>,
    signal: Option<i32>,
    stdout: String,
    stderr: String,
    timed_out: bool,
    /// For a run that timed out: what each of its threads was waiting in (`comm:wchan`).
    threads: String,
    /// The shim's count file, parsed (empty without the shim).
    log: Vec<Line>,
}

impl Run {
    fn ok(&self) -> bool {
        self.code == Some(0)
    }

    /// Whether the shim injected its fault.
    fn fault_hit(&self) -> bool {
        self.log.contains(&Line::Fault)
    }

    /// How it ended, in words.
    fn outcome(&self) -> String {
        match (self.timed_out, self.code, self.signal) {
            (true, ..) => format!(
                "timed out after {} s (killed; its threads waited in {})",
                TIMEOUT.as_secs(),
                self.threads
            ),
            (false, Some(code), _) => format!("exit {code}"),
            (false, None, Some(signal)) => format!("killed by signal {signal}"),
            (false, None, None) => "ended without a status".to_owned(),
        }
    }

    /// The exit and the output, on a few lines, for a failure message.
    fn said(&self) -> String {
        format!(
            "{}; stderr: {}; stdout: {}",
            self.outcome(),
            condensed(&self.stderr),
            condensed(&self.stdout)
        )
    }

    fn json(&self) -> Result<Value, String> {
        serde_json::from_str(self.stdout.trim())
            .map_err(|e| format!("stdout is not JSON ({e}): {}", condensed(&self.stdout)))
    }

    /// The number of eligible calls of each kind it made.
    fn census(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for line in &self.log {
            if let Line::Call { kind, n, .. } = line {
                let count = counts.entry(kind.clone()).or_insert(0);
                *count = (*count).max(*n);
            }
        }
        counts.retain(|_, n| *n > 0);
        counts
    }
}

/// Text on one line, cut to a readable length.
fn condensed(text: &str) -> String {
    let one: String = text.trim().replace('\n', " | ");
    if one.is_empty() {
        return "(empty)".to_owned();
    }
    match one.char_indices().nth(400) {
        Some((at, _)) => format!("{}…", &one[..at]),
        None => one,
    }
}

fn s(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}

/// A running `custody`.
struct Running {
    child: Child,
    stdout: JoinHandle<String>,
    stderr: JoinHandle<String>,
    log: Option<PathBuf>,
}

impl Running {
    /// Waits for it to finish, killing it after [`TIMEOUT`].
    fn wait(mut self) -> Run {
        let deadline = Instant::now() + TIMEOUT;
        let mut timed_out = false;
        let mut threads = String::new();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                timed_out = true;
                threads = waiting_in(self.child.id());
                let _ = self.child.kill();
                break self.child.wait().unwrap();
            }
            thread::sleep(Duration::from_millis(2));
        };
        let log = self
            .log
            .as_ref()
            .map(|path| parse_log(&fs::read_to_string(path).unwrap_or_default()))
            .unwrap_or_default();
        Run {
            code: status.code(),
            signal: status.signal(),
            stdout: self.stdout.join().unwrap(),
            stderr: self.stderr.join().unwrap(),
            timed_out,
            threads,
            log,
        }
    }

    /// Whether the shim has reached its fault (for [`Action::Pause`]: the call is held).
    fn fault_reached(&self) -> bool {
        self.log
            .as_ref()
            .and_then(|path| fs::read_to_string(path).ok())
            .is_some_and(|log| parse_log(&log).contains(&Line::Fault))
    }

    /// Whether the process has exited.
    fn exited(&mut self) -> bool {
        self.child.try_wait().unwrap().is_some()
    }
}

/// Where each thread of process `pid` waits, as `comm:wchan` (kernel function) pairs.
fn waiting_in(pid: u32) -> String {
    let mut out = Vec::new();
    for task in fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
    {
        let task = task.unwrap().path();
        let comm = fs::read_to_string(task.join("comm")).unwrap_or_default();
        let wchan = fs::read_to_string(task.join("wchan")).unwrap_or_default();
        out.push(format!("{}:{}", comm.trim(), wchan.trim()));
    }
    out.join(", ")
}

fn drain(pipe: Option<impl Read + Send + 'static>) -> JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

// ---------------------------------------------------------------------------------------
// The lab: a scratch directory, a template ledger and signed batches
// ---------------------------------------------------------------------------------------

/// Lot of the template's base batch that the readers and `export-bundle` use.
const LOT: &str = "BASE-000001";

/// A scratch directory holding `work/` (operator and supplier keys, signed batches, the
/// template ledger `tpl`: genesis, `kivu-mining` enrolled, then a base batch of 3 extracts
/// appended last, so the first open of a copy is the first open after an append) and
/// `logs/` for the shim's count files.
struct Lab {
    _dir: TempDir,
    root: PathBuf,
    logs: AtomicUsize,
    /// Entries in the template.
    base: u64,
    /// `verify --bundle` passes on this bundle of [`LOT`], exported from a copy.
    old_bundle: Vec<u8>,
}

/// Signed statements in a file, with their ids in order.
struct Batch {
    file: PathBuf,
    ids: Vec<String>,
}

impl Lab {
    fn new() -> Lab {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        fs::create_dir(root.join("work")).unwrap();
        fs::create_dir(root.join("logs")).unwrap();
        let mut lab = Lab {
            _dir: dir,
            root,
            logs: AtomicUsize::new(0),
            base: 0,
            old_bundle: Vec::new(),
        };
        let tpl = lab.template();
        let tpl = s(&tpl);
        lab.ok(&[
            "--ledger",
            tpl,
            "init",
            "--origin",
            "faults.test/ledger",
            "--operator-key",
            "operator.pem",
        ]);
        lab.ok(&["keygen", "--out", "kivu.pem"]);
        lab.ok(&[
            "--ledger",
            tpl,
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
        ]);
        let base = lab.sign("BASE", 3);
        for (prefix, n) in [("ONE", 1), ("HUNDRED", 100)] {
            lab.sign(prefix, n);
        }
        lab.ok(&["--ledger", tpl, "append", s(&base.file)]);
        // Measured on a copy, so that the template stays as the append left it.
        let probe = lab.copy("probe");
        lab.base = verified(&lab, &probe).unwrap();
        assert_eq!(lab.base, 5, "genesis, enrollment and 3 extracts");
        let bundle = lab.work().join("old.bundle");
        lab.ok(&[
            "--ledger",
            s(&probe),
            "export-bundle",
            LOT,
            "--out",
            s(&bundle),
            "--operator-key",
            "operator.pem",
        ]);
        bundle_verifies(&lab, &bundle).unwrap();
        lab.old_bundle = fs::read(&bundle).unwrap();
        fs::remove_dir_all(&probe).unwrap();
        lab
    }

    fn work(&self) -> PathBuf {
        self.root.join("work")
    }

    fn template(&self) -> PathBuf {
        self.work().join("tpl")
    }

    fn batch(&self, prefix: &str) -> Batch {
        let file = self.work().join(format!("{prefix}.jsonl"));
        let ids = fs::read_to_string(&file)
            .unwrap()
            .lines()
            .map(|line| {
                let value: Value = serde_json::from_str(line).unwrap();
                value["id"].as_str().unwrap().to_owned()
            })
            .collect();
        Batch { file, ids }
    }

    /// Signs `n` extract events by `kivu-mining` creating lots `PREFIX-000000`... into
    /// `PREFIX.jsonl` (without opening the template: `sign` opens a ledger it is given), for
    /// the template's origin.
    fn sign(&self, prefix: &str, n: usize) -> Batch {
        let events: String = (0..n)
            .map(|i| {
                serde_json::json!({
                    "kind": "extract", "actor": "kivu-mining", "time": "2025-06-01T00:00:00Z",
                    "nonce": i,
                    "site": {"id": "KV-PIT-2", "country": "CD", "lat": -10.71, "lon": 25.47,
                             "method": "industrial"},
                    "outputs": [{"lot": format!("{prefix}-{i:06}"), "material": "cobalt-ore",
                                 "quantity": 1000, "unit": "kg", "content": {"Co": 0.031}}]
                })
                .to_string()
                    + "\n"
            })
            .collect();
        let source = self.work().join(format!("{prefix}.events.jsonl"));
        fs::write(&source, events).unwrap();
        let out = self.work().join(format!("{prefix}.jsonl"));
        let nowhere = self.root.join("no-ledger");
        self.ok(&[
            "--ledger",
            s(&nowhere),
            "sign",
            "--origin",
            "faults.test/ledger",
            "--key",
            "kivu.pem",
            s(&source),
            "--out",
            s(&out),
        ]);
        let batch = self.batch(prefix);
        assert_eq!(batch.ids.len(), n);
        batch
    }

    /// A fresh, empty directory for one case.
    fn case_dir(&self, name: &str) -> PathBuf {
        let dir = self.root.join("cases").join(name);
        if dir.exists() {
            fs::remove_dir_all(&dir).unwrap();
        }
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A fresh copy of the template ledger.
    fn copy(&self, name: &str) -> PathBuf {
        let to = self.case_dir(name).join("L");
        copy_dir(&self.template(), &to);
        to
    }

    /// Starts `custody ARGS` in `cwd` under `fault` (and the shim's count file), or without
    /// the shim.
    fn start_in(&self, cwd: &Path, args: &[&str], fault: Option<&Fault>) -> Running {
        let mut cmd = Command::new(custody_path());
        cmd.current_dir(cwd)
            .args(args)
            .env_remove("CUSTODY_LEDGER")
            .env_remove("CUSTODY_PASSPHRASE")
            .env_remove("CUSTODY_OPERATOR_KEY")
            .env_remove("LD_PRELOAD")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, _) in std::env::vars() {
            if name.starts_with("CUSTODY_FAULT_") {
                cmd.env_remove(name);
            }
        }
        let mut log = None;
        if let Some(fault) = fault {
            let shim = shim().expect("the caller checked that the shim is available");
            let n = self.logs.fetch_add(1, Ordering::Relaxed);
            let path = self.root.join("logs").join(format!("{n}.log"));
            cmd.env("LD_PRELOAD", shim)
                .env("CUSTODY_FAULT_COUNT", &path)
                .envs(fault.env());
            log = Some(path);
        }
        let mut child = cmd.spawn().expect("custody starts");
        Running {
            stdout: drain(child.stdout.take()),
            stderr: drain(child.stderr.take()),
            child,
            log,
        }
    }

    fn run_in(&self, cwd: &Path, args: &[&str], fault: Option<&Fault>) -> Run {
        self.start_in(cwd, args, fault).wait()
    }

    /// Runs in `work/` without faults.
    fn run(&self, args: &[&str]) -> Run {
        self.run_in(&self.work(), args, None)
    }

    /// Runs in `work/` without faults and requires exit 0.
    fn ok(&self, args: &[&str]) -> Run {
        let run = self.run(args);
        assert!(run.ok(), "custody {args:?} failed: {}", run.said());
        run
    }
}

/// The names in `dir`, sorted.
fn names(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------
// What the ledger, keys and bundles look like afterwards (always without faults)
// ---------------------------------------------------------------------------------------

/// `custody verify --json` on `ledger`: the number of entries it checked if it opens and
/// passes, otherwise why not.
fn verified(lab: &Lab, ledger: &Path) -> Result<u64, String> {
    let run = lab.run(&["--ledger", s(ledger), "verify", "--json"]);
    let json = run.json();
    match (run.code, &json) {
        (Some(0), Ok(json)) if json["verdict"] == "pass" => json["entries"]
            .as_u64()
            .ok_or_else(|| "no entries count".to_owned()),
        _ => Err(format!(
            "afterwards the ledger does not open and verify (verify: {})",
            run.said()
        )),
    }
}

/// Whether `show --event ID` finds each of `ids` in `ledger`.
fn all_present(lab: &Lab, ledger: &Path, ids: &[&String]) -> Result<(), String> {
    for id in ids {
        let run = lab.run(&["--ledger", s(ledger), "show", "--event", id]);
        if !run.ok() {
            return Err(format!("statement {id} is not in the log ({})", run.said()));
        }
    }
    Ok(())
}

/// The state of a key pair written at `private` (and `private.pub`).
#[derive(Debug, PartialEq, Eq)]
enum KeyPair {
    Absent,
    /// Both files, custody reads the private one, and the public one matches it.
    Complete,
    /// One of the two files, whole: what a kill between writing the two may leave (two
    /// names cannot appear in one step), as long as running the command again completes
    /// the pair.
    Half(String),
    /// An empty, cut or unusable file, or a pair that does not match.
    Broken(String),
}

fn key_pair(lab: &Lab, private: &Path) -> KeyPair {
    let public = PathBuf::from(format!("{}.pub", s(private)));
    let public_hex = || {
        let text = fs::read_to_string(&public).unwrap_or_default();
        public_key_hex(&text).ok_or_else(|| {
            format!(
                "{} is not a public key ({} bytes)",
                public.display(),
                text.len()
            )
        })
    };
    match (private.exists(), public.exists()) {
        (false, false) => KeyPair::Absent,
        (true, false) => match private_key_hex(lab, private) {
            Ok(_) => KeyPair::Half(format!(
                "private key {} without its .pub",
                private.display()
            )),
            Err(e) => KeyPair::Broken(format!("{e}, and it has no .pub")),
        },
        (false, true) => match public_hex() {
            Ok(_) => KeyPair::Half(format!("{} without its private key", public.display())),
            Err(e) => KeyPair::Broken(format!("{e}, and there is no private key")),
        },
        (true, true) => match (private_key_hex(lab, private), public_hex()) {
            (Ok(a), Ok(b)) if a == b => KeyPair::Complete,
            (Ok(_), Ok(_)) => KeyPair::Broken(format!(
                "{} does not match the private key {}",
                public.display(),
                private.display()
            )),
            (Err(e), _) | (_, Err(e)) => KeyPair::Broken(e),
        },
    }
}

/// The public key of the private key at `path`, as custody reads it (by making a ledger
/// with it), in hex.
fn private_key_hex(lab: &Lab, path: &Path) -> Result<String, String> {
    let vkey_existed = Path::new(&format!("{}.vkey", s(path))).exists();
    let scratch = lab.case_dir(&format!(
        "keycheck-{}",
        lab.logs.fetch_add(1, Ordering::Relaxed)
    ));
    let run = lab.run(&[
        "--ledger",
        s(&scratch.join("L")),
        "init",
        "--origin",
        "faults.test/keycheck",
        "--operator-key",
        s(path),
        "--json",
    ]);
    let _ = fs::remove_dir_all(&scratch);
    // `init` writes the verifier key beside the key file: this check's side effect, not
    // part of what the command under test left.
    let vkey = PathBuf::from(format!("{}.vkey", s(path)));
    if !vkey_existed {
        let _ = fs::remove_file(&vkey);
    }
    let hex = run
        .json()
        .ok()
        .and_then(|json| json["operator_key"].as_str().map(str::to_owned));
    match hex {
        Some(hex) if run.ok() => Ok(hex),
        _ => Err(format!(
            "custody cannot use the private key {} ({})",
            path.display(),
            run.said()
        )),
    }
}

/// Whether `key` is acceptable after a run that ended with `run` under `fault`.
fn key_kept_promise(key: &KeyPair, run: &Run, fault: &Fault) -> Result<(), String> {
    match key {
        KeyPair::Broken(e) => Err(e.clone()),
        KeyPair::Half(e) if run.ok() => Err(format!("exit 0, but {e}")),
        KeyPair::Half(e) if fault.action != Some(Action::Kill) => {
            Err(format!("a failed run left {e}"))
        }
        _ => Ok(()),
    }
}

/// The ed25519 key in an SPKI `PUBLIC KEY` PEM, as hex.
fn public_key_hex(pem: &str) -> Option<String> {
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<String>();
    if !pem.starts_with("-----BEGIN PUBLIC KEY-----") {
        return None;
    }
    let der = base64_decode(body.trim())?;
    // SEQUENCE { SEQUENCE { OID 1.3.101.112 } BIT STRING { 32 bytes } }
    let prefix = hex::decode("302a300506032b6570032100").unwrap();
    (der.len() == 44 && der.starts_with(&prefix)).then(|| hex::encode(&der[12..]))
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for byte in text.bytes().filter(|b| *b != b'=') {
        let value = ALPHABET.iter().position(|a| *a == byte)? as u32;
        acc = (acc << 6) | value;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

/// Whether `verify --bundle` passes on the bundle at `path`.
fn bundle_verifies(lab: &Lab, path: &Path) -> Result<(), String> {
    // With the operator's verifier key, which `init` wrote beside its key: without it a
    // bundle never passes ("operator key not confirmed").
    let vkey = lab.work().join("operator.pem.vkey");
    let run = lab.run(&["verify", "--bundle", s(path), "--vkey", s(&vkey)]);
    if run.ok() {
        Ok(())
    } else {
        Err(format!(
            "{} is not a valid bundle (verify --bundle: {})",
            path.display(),
            run.said()
        ))
    }
}

// ---------------------------------------------------------------------------------------
// The matrix driver
// ---------------------------------------------------------------------------------------

/// One case's files and command line.
struct Case {
    /// The case's own directory, the command's working directory.
    dir: PathBuf,
    args: Vec<String>,
}

/// A command under test: how to set up a fresh case, and the promise its outcome must keep
/// (`Err` says what broke). The common part (no panic, no stray signal) is checked first.
struct Subject<'a> {
    name: &'a str,
    prepare: &'a dyn Fn(&str) -> Case,
    check: &'a dyn Fn(&Case, &Run, &Fault) -> Result<(), String>,
}

/// `n` call numbers out of `1..=count`: all of them, or `cap` spread evenly.
fn sample(count: usize, cap: usize) -> Vec<usize> {
    if count <= cap {
        return (1..=count).collect();
    }
    let mut picked: Vec<usize> = (0..cap).map(|i| 1 + i * (count - 1) / (cap - 1)).collect();
    picked.dedup();
    picked
}

/// The common part of the promise: no panic, no hang, no signal but the shim's SIGKILL.
fn no_crash(run: &Run, fault: &Fault) -> Result<(), String> {
    if run.timed_out {
        return Err("it hung".into());
    }
    if run.code == Some(101) || run.stderr.contains("panicked") {
        return Err("it panicked".into());
    }
    match run.signal {
        Some(SIGKILL) if fault.action == Some(Action::Kill) && run.fault_hit() => Ok(()),
        Some(signal) => Err(format!(
            "it died of signal {signal}, not of the shim's SIGKILL"
        )),
        None => Ok(()),
    }
}

/// Cases that broke the promise, reported together at the end of a test.
struct Tally {
    test: String,
    cases: usize,
    hits: usize,
    broken: Vec<String>,
}

impl Tally {
    fn new(test: &str) -> Tally {
        Tally {
            test: test.to_owned(),
            cases: 0,
            hits: 0,
            broken: Vec::new(),
        }
    }

    /// Records one case: `verdict` is the promise's, `run` the faulted run.
    fn record(&mut self, subject: &str, fault: &Fault, run: &Run, verdict: Result<(), String>) {
        self.cases += 1;
        if run.fault_hit() {
            self.hits += 1;
        }
        if let Err(what) = verdict {
            self.broken.push(format!(
                "{subject}, {fault}: {what}\n      (the faulted run: {})",
                run.said()
            ));
        }
    }

    fn finish(self) {
        println!(
            "{}: {} cases, {} hit their call, {} broke the promise",
            self.test,
            self.cases,
            self.hits,
            self.broken.len()
        );
        if self.broken.is_empty() {
            return;
        }
        // All of them on stdout (shown with the failure), the first few in the panic.
        for line in &self.broken {
            println!("  - {line}");
        }
        let shown = 15;
        let mut message = format!(
            "{}: {} of {} cases broke the promise of issue 11:\n",
            self.test,
            self.broken.len(),
            self.cases
        );
        for line in self.broken.iter().take(shown) {
            message.push_str("  - ");
            message.push_str(line);
            message.push('\n');
        }
        if self.broken.len() > shown {
            message.push_str(&format!("  ... and {} more\n", self.broken.len() - shown));
        }
        panic!("{message}");
    }
}

/// Counts the calls `subject` makes, then hits each kind's calls in turn.
fn hammer(lab: &Lab, subject: &Subject<'_>, tally: &mut Tally) {
    let counting = Fault::counting(&lab.root);
    let census = (subject.prepare)("census");
    let args: Vec<&str> = census.args.iter().map(String::as_str).collect();
    let run = lab.run_in(&census.dir, &args, Some(&counting));
    assert!(
        run.ok(),
        "{}: the counting run failed: {}",
        subject.name,
        run.said()
    );
    let counts = run.census();
    println!(
        "{}: eligible calls (paths under the lab directory): {counts:?}",
        subject.name
    );
    (subject.check)(&census, &run, &counting)
        .unwrap_or_else(|e| panic!("{}: the counting run: {e}", subject.name));
    let _ = fs::remove_dir_all(&census.dir);
    for &(kind, full_disk) in KINDS {
        let count = counts.get(kind).copied().unwrap_or(0);
        for n in sample(count, PER_KIND) {
            let mut faults = vec![Fault::hit(kind, n, Action::Fail, "EIO")];
            if full_disk {
                faults.push(Fault::hit(kind, n, Action::Fail, "ENOSPC"));
            }
            faults.push(Fault::hit(kind, n, Action::Kill, "EIO"));
            for fault in faults {
                let fault = fault.on(s(&lab.root));
                let case = (subject.prepare)(&format!("{kind}-{n}-{}", tally.cases));
                let args: Vec<&str> = case.args.iter().map(String::as_str).collect();
                let run = lab.run_in(&case.dir, &args, Some(&fault));
                let verdict =
                    no_crash(&run, &fault).and_then(|()| (subject.check)(&case, &run, &fault));
                tally.record(subject.name, &fault, &run, verdict);
                let _ = fs::remove_dir_all(&case.dir);
            }
        }
    }
}

/// The whole matrix for one subject, as one test.
fn matrix(test: &str, build: impl FnOnce(&Lab, &mut Tally)) {
    if shim().is_none() {
        return;
    }
    let lab = Lab::new();
    let mut tally = Tally::new(test);
    build(&lab, &mut tally);
    tally.finish();
}

// ---------------------------------------------------------------------------------------
// The subjects
// ---------------------------------------------------------------------------------------

fn append_case(lab: &Lab, name: &str, batch: &Batch) -> Case {
    let ledger = lab.copy(name);
    Case {
        dir: ledger.parent().unwrap().to_owned(),
        args: vec![
            "--ledger".into(),
            s(&ledger).into(),
            "append".into(),
            // A receipt line per statement, however large the batch.
            "--verbose".into(),
            s(&batch.file).into(),
        ],
    }
}

/// The promise for `append`: all of the batch or none; receipts only for a batch that is in
/// the log; the ledger verifies; running it again completes the batch (or refuses it as a
/// replay if it is already there).
fn check_append(
    lab: &Lab,
    batch: &Batch,
    case: &Case,
    run: &Run,
    fault: &Fault,
) -> Result<(), String> {
    let ledger = case.dir.join("L");
    let n = batch.ids.len() as u64;
    let (base, whole) = (lab.base, lab.base + n);
    let ends = [batch.ids.first().unwrap(), batch.ids.last().unwrap()];
    let receipts = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("appended #"))
        .count() as u64;
    let entries = verified(lab, &ledger)?;
    if run.ok() {
        if receipts != n {
            return Err(format!(
                "exit 0 with {receipts} receipts for {n} statements"
            ));
        }
        if entries != whole {
            return Err(format!(
                "exit 0, but the log holds {entries} entries, not {whole}: acknowledged \
                 statements are missing"
            ));
        }
        all_present(lab, &ledger, &ends).map_err(|e| format!("exit 0, but {e}"))?;
    } else {
        if entries != base && entries != whole {
            return Err(format!(
                "a partial batch: {} of its {n} statements are in the log",
                entries as i64 - base as i64
            ));
        }
        if entries == whole {
            all_present(lab, &ledger, &ends)?;
        }
        if receipts > 0 && entries != whole {
            return Err(format!(
                "{receipts} receipts were printed, but the batch is not in the log"
            ));
        }
        if receipts > 0 && fault.action == Some(Action::Fail) {
            return Err(format!(
                "{receipts} receipts were printed, then it failed: an acknowledgment that is \
                 not one"
            ));
        }
    }
    let args: Vec<&str> = case.args.iter().map(String::as_str).collect();
    let again = lab.run_in(&case.dir, &args, None);
    let expected = if entries == base { 0 } else { 1 };
    if again.code != Some(expected) {
        return Err(format!(
            "running it again: {} (expected exit {expected}{})",
            again.said(),
            if expected == 1 {
                ", a replay refused"
            } else {
                ""
            }
        ));
    }
    let after = verified(lab, &ledger).map_err(|e| format!("after running it again, {e}"))?;
    if after != whole {
        return Err(format!(
            "after running it again the log holds {after} entries, not {whole}"
        ));
    }
    Ok(())
}

fn append_matrix(test: &str, prefix: &str) {
    matrix(test, |lab, tally| {
        let batch = lab.batch(prefix);
        let name = format!("append of {}", batch.ids.len());
        let prepare = |case: &str| append_case(lab, case, &batch);
        let check =
            |case: &Case, run: &Run, fault: &Fault| check_append(lab, &batch, case, run, fault);
        hammer(
            lab,
            &Subject {
                name: &name,
                prepare: &prepare,
                check: &check,
            },
            tally,
        );
    });
}

fn faults_in_an_append_of_1_leave_all_or_nothing() {
    append_matrix("faults_in_an_append_of_1_leave_all_or_nothing", "ONE");
}

fn faults_in_an_append_of_100_leave_all_or_nothing() {
    append_matrix("faults_in_an_append_of_100_leave_all_or_nothing", "HUNDRED");
}

/// The promise for a reader: exit 0 prints what it prints without faults; whatever the
/// outcome, the ledger opens and verifies afterwards, unchanged, and the reader runs again.
fn reader_matrix(test: &str, reader: &[&str]) {
    matrix(test, |lab, tally| {
        let name = reader.join(" ");
        let baseline = {
            let ledger = lab.copy("baseline");
            let mut args = vec!["--ledger", s(&ledger)];
            args.extend(reader);
            let run = lab.ok(&args);
            let _ = fs::remove_dir_all(ledger.parent().unwrap());
            run.stdout
        };
        let prepare = |case: &str| {
            let ledger = lab.copy(case);
            let mut args = vec!["--ledger".to_owned(), s(&ledger).to_owned()];
            args.extend(reader.iter().map(|a| (*a).to_owned()));
            Case {
                dir: ledger.parent().unwrap().to_owned(),
                args,
            }
        };
        let check = |case: &Case, run: &Run, _: &Fault| {
            if run.ok() && run.stdout != baseline {
                return Err(format!(
                    "exit 0, but it printed {} instead of {}",
                    condensed(&run.stdout),
                    condensed(&baseline)
                ));
            }
            let ledger = case.dir.join("L");
            let entries = verified(lab, &ledger)?;
            if entries != lab.base {
                return Err(format!(
                    "a reader changed the log: {entries} entries, not {}",
                    lab.base
                ));
            }
            let args: Vec<&str> = case.args.iter().map(String::as_str).collect();
            let again = lab.run_in(&case.dir, &args, None);
            if !again.ok() || again.stdout != baseline {
                return Err(format!("running it again: {}", again.said()));
            }
            Ok(())
        };
        hammer(
            lab,
            &Subject {
                name: &name,
                prepare: &prepare,
                check: &check,
            },
            tally,
        );
    });
}

fn faults_in_verify_never_leave_the_ledger_unopenable() {
    reader_matrix(
        "faults_in_verify_never_leave_the_ledger_unopenable",
        &["verify"],
    );
}

fn faults_in_show_never_leave_the_ledger_unopenable() {
    reader_matrix(
        "faults_in_show_never_leave_the_ledger_unopenable",
        &["show", "--seq", "1"],
    );
}

fn faults_in_trace_never_leave_the_ledger_unopenable() {
    reader_matrix(
        "faults_in_trace_never_leave_the_ledger_unopenable",
        &["trace", LOT],
    );
}

/// Issue 11, finding 4: a crashed `init` left a store without its genesis entry (`verify`
/// passing with 0 entries, `init` refusing to run again), only `conf` and `blobs`, or a
/// 0-byte operator key. Now: nothing (no directory, or an empty one, and no key or a
/// complete pair) or a ledger that verifies with its genesis entry; `init` runs again.
fn fail_a_crashed_init_leaves_nothing_or_a_usable_ledger() {
    matrix(
        "fail_a_crashed_init_leaves_nothing_or_a_usable_ledger",
        |lab, tally| {
            let prepare = |case: &str| Case {
                dir: lab.case_dir(case),
                args: [
                    "--ledger",
                    "L",
                    "init",
                    "--origin",
                    "faults.test/init",
                    "--operator-key",
                    "op.pem",
                ]
                .map(str::to_owned)
                .to_vec(),
            };
            let check = |case: &Case, run: &Run, fault: &Fault| {
                let ledger = case.dir.join("L");
                let key = key_pair(lab, &case.dir.join("op.pem"));
                let state = if !ledger.exists() {
                    Ok("absent")
                } else if ledger.is_dir() && names(&ledger).is_empty() {
                    Ok("empty")
                } else {
                    match verified(lab, &ledger) {
                        Ok(1) => Ok("usable"),
                        Ok(n) => Err(format!(
                            "the ledger verifies with {n} entries, not 1 (its genesis entry)"
                        )),
                        Err(e) => Err(format!(
                            "{} is left holding {:?}: {e}",
                            ledger.display(),
                            names(&ledger)
                        )),
                    }
                };
                if run.ok() && (state != Ok("usable") || key != KeyPair::Complete) {
                    return Err(format!(
                        "exit 0, but the ledger is {state:?} and the key {key:?}"
                    ));
                }
                let state = state?;
                key_kept_promise(&key, run, fault)?;
                if state == "usable" && key == KeyPair::Absent {
                    return Err(format!(
                        "a ledger was made, but its operator key is {key:?}"
                    ));
                }
                if fault.action == Some(Action::Fail) {
                    let mut allowed: BTreeSet<String> =
                        ["L", "op.pem", "op.pem.pub"].map(str::to_owned).into();
                    if run.ok() {
                        // The verifier key, written once the ledger is complete.
                        allowed.insert("op.pem.vkey".to_owned());
                    }
                    let extra: Vec<_> = names(&case.dir).difference(&allowed).cloned().collect();
                    if !extra.is_empty() {
                        return Err(format!("a failed init left {extra:?} behind"));
                    }
                }
                let args: Vec<&str> = case.args.iter().map(String::as_str).collect();
                let again = lab.run_in(&case.dir, &args, None);
                if state != "usable" && !again.ok() {
                    return Err(format!("running init again: {}", again.said()));
                }
                match verified(lab, &ledger) {
                    Ok(1) => {}
                    Ok(n) => {
                        return Err(format!(
                            "after running init again the ledger holds {n} entries, not 1"
                        ));
                    }
                    Err(e) => return Err(format!("after running init again, {e}")),
                }
                match key_pair(lab, &case.dir.join("op.pem")) {
                    KeyPair::Complete => Ok(()),
                    key => Err(format!(
                        "after running init again the operator key is {key:?}"
                    )),
                }
            };
            hammer(
                lab,
                &Subject {
                    name: "init",
                    prepare: &prepare,
                    check: &check,
                },
                tally,
            );
        },
    );
}

/// Issue 11, finding 5: `keygen` left a private key without its `.pub`, an empty `.pub` or
/// an empty private key, and refused to run again. Now: neither file or both, complete and
/// matching (a kill between the two may leave one of them whole); a failed run leaves no
/// temporary file; `keygen` runs again and completes the pair.
fn fail_keygen_is_all_or_nothing() {
    matrix("fail_keygen_is_all_or_nothing", |lab, tally| {
        let prepare = |case: &str| Case {
            dir: lab.case_dir(case),
            args: ["keygen", "--out", "k.pem"].map(str::to_owned).to_vec(),
        };
        let check = |case: &Case, run: &Run, fault: &Fault| {
            let key = key_pair(lab, &case.dir.join("k.pem"));
            if run.ok() && key != KeyPair::Complete {
                return Err(format!("exit 0, but the key pair is {key:?}"));
            }
            key_kept_promise(&key, run, fault)?;
            if fault.action == Some(Action::Fail) {
                let allowed: BTreeSet<String> = ["k.pem", "k.pem.pub"].map(str::to_owned).into();
                let extra: Vec<_> = names(&case.dir).difference(&allowed).cloned().collect();
                if !extra.is_empty() {
                    return Err(format!("a failed keygen left {extra:?} behind"));
                }
            }
            if key != KeyPair::Complete {
                let args: Vec<&str> = case.args.iter().map(String::as_str).collect();
                let again = lab.run_in(&case.dir, &args, None);
                let key = key_pair(lab, &case.dir.join("k.pem"));
                if !again.ok() || key != KeyPair::Complete {
                    return Err(format!(
                        "running keygen again: {} and the key pair is {key:?}",
                        again.said()
                    ));
                }
            }
            Ok(())
        };
        hammer(
            lab,
            &Subject {
                name: "keygen",
                prepare: &prepare,
                check: &check,
            },
            tally,
        );
    });
}

/// Issue 11, finding 6: `export-bundle` over an existing file, killed mid-write, left the
/// old bundle as 0 bytes. Now the old bundle stays byte for byte unless the new one
/// replaced it whole; the ledger (which stores the fresh checkpoint) opens and verifies.
fn fail_export_bundle_never_truncates_the_old_bundle() {
    matrix(
        "fail_export_bundle_never_truncates_the_old_bundle",
        |lab, tally| {
            let operator = lab.work().join("operator.pem");
            let prepare = |case: &str| {
                let ledger = lab.copy(case);
                let dir = ledger.parent().unwrap().to_owned();
                fs::write(dir.join("out.bundle"), &lab.old_bundle).unwrap();
                Case {
                    dir,
                    args: [
                        "--ledger",
                        "L",
                        "export-bundle",
                        LOT,
                        "--out",
                        "out.bundle",
                        "--operator-key",
                        s(&operator),
                    ]
                    .map(str::to_owned)
                    .to_vec(),
                }
            };
            let check = |case: &Case, run: &Run, fault: &Fault| {
                let out = case.dir.join("out.bundle");
                let now = fs::read(&out).ok();
                // Whether the new bundle had been renamed over the old one before the fault.
                let replaced =
                    run.log
                        .iter()
                        .take_while(|line| **line != Line::Fault)
                        .any(|line| {
                            matches!(line, Line::Call { kind, to: Some(to), .. }
                        if kind == "rename" && to.ends_with("/out.bundle"))
                        });
                if run.ok() {
                    bundle_verifies(lab, &out).map_err(|e| format!("exit 0, but {e}"))?;
                } else if now.as_deref() != Some(&lab.old_bundle[..]) {
                    let what = match &now {
                        None => "is gone".to_owned(),
                        Some(bytes) => format!(
                            "changed: {} bytes, {} before",
                            bytes.len(),
                            lab.old_bundle.len()
                        ),
                    };
                    if !replaced {
                        return Err(format!("the old bundle {what}"));
                    }
                    bundle_verifies(lab, &out)
                        .map_err(|e| format!("the old bundle was replaced, but {e}"))?;
                }
                if fault.action == Some(Action::Fail) {
                    let allowed: BTreeSet<String> = ["L", "out.bundle"].map(str::to_owned).into();
                    let extra: Vec<_> = names(&case.dir).difference(&allowed).cloned().collect();
                    if !extra.is_empty() {
                        return Err(format!("a failed export-bundle left {extra:?} behind"));
                    }
                }
                let entries = verified(lab, &case.dir.join("L"))?;
                if entries != lab.base {
                    return Err(format!("the log holds {entries} entries, not {}", lab.base));
                }
                let args: Vec<&str> = case.args.iter().map(String::as_str).collect();
                let again = lab.run_in(&case.dir, &args, None);
                if !again.ok() {
                    return Err(format!("running export-bundle again: {}", again.said()));
                }
                bundle_verifies(lab, &out).map_err(|e| format!("after running it again, {e}"))
            };
            hammer(
                lab,
                &Subject {
                    name: "export-bundle over an existing bundle",
                    prepare: &prepare,
                    check: &check,
                },
                tally,
            );
        },
    );
}

// ---------------------------------------------------------------------------------------
// One test per finding of issue 11
// ---------------------------------------------------------------------------------------

/// Issue 11, finding 1: sled 0.34.7 writes a snapshot (`snap.<lsn>.generating`, synced,
/// renamed to `snap.<lsn>`) at the first open after a write, readers included. A reader
/// killed or failing during that write left the `.generating` file, which sled then reads
/// first: every later command failed with "Read corrupted data at file offset None".
fn fail_a_leftover_sled_snapshot_does_not_make_the_ledger_unopenable() {
    if shim().is_none() {
        return;
    }
    let lab = Lab::new();
    let mut tally = Tally::new("fail_a_leftover_sled_snapshot_does_not_make_the_ledger_unopenable");
    let faults = [
        Fault::hit("open", 1, Action::Kill, "EIO"),
        Fault::hit("write", 1, Action::Kill, "EIO"),
        Fault::hit("write", 1, Action::Fail, "ENOSPC"),
        Fault::hit("write", 2, Action::Fail, "EIO"),
        Fault::hit("fsync", 1, Action::Kill, "EIO"),
        Fault::hit("fsync", 1, Action::Fail, "EIO"),
        Fault::hit("rename", 1, Action::Kill, "EIO"),
        Fault::hit("rename", 1, Action::Fail, "EIO"),
    ];
    for reader in [&["verify"][..], &["show", "--seq", "1"], &["trace", LOT]] {
        for fault in &faults {
            let fault = fault.clone().on("snap.");
            let ledger = lab.copy(&format!("snap-{}", tally.cases));
            let mut args = vec!["--ledger", s(&ledger)];
            args.extend(reader);
            let run = lab.run_in(ledger.parent().unwrap(), &args, Some(&fault));
            let verdict = no_crash(&run, &fault).and_then(|()| {
                let entries = verified(&lab, &ledger)?;
                if entries != lab.base {
                    return Err(format!("the log holds {entries} entries, not {}", lab.base));
                }
                let again = lab.run_in(ledger.parent().unwrap(), &args, None);
                if !again.ok() {
                    return Err(format!("running it again: {}", again.said()));
                }
                Ok(())
            });
            let leftovers: Vec<_> = names(&ledger)
                .into_iter()
                .filter(|n| n.ends_with(".generating"))
                .collect();
            let verdict = verdict.map_err(|e| format!("{e} (left in the ledger: {leftovers:?})"));
            tally.record(&reader.join(" "), &fault, &run, verdict);
            let _ = fs::remove_dir_all(ledger.parent().unwrap());
        }
    }
    if tally.hits == 0 {
        println!("no command wrote a sled snapshot: nothing to interrupt");
    }
    tally.finish();
}

/// The paths `calls` wrote (or created, or renamed) under `ledger` that were not made
/// durable before the first byte of the receipts reached stdout: files written but not
/// fsynced after their last write, and directories not fsynced after a file written there
/// was created in them or a rename in them. sled's snapshot (`snap.*`) is left out: it is a
/// cache sled rebuilds from its log, and its leftovers are another test's subject.
fn unsynced_before_receipts(
    calls: &[Line],
    ledger: &Path,
    existed: &BTreeSet<PathBuf>,
) -> Result<Vec<String>, String> {
    let under = |path: &str| {
        Path::new(path).starts_with(ledger)
            && !Path::new(path)
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("snap."))
    };
    let parent = |path: &str| Path::new(path).parent().map(Path::to_path_buf).unwrap();
    let mut dirty_files: BTreeSet<String> = BTreeSet::new();
    // Created files not yet reachable for sure: path -> directory still to sync.
    let mut created: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut written_new: BTreeSet<String> = BTreeSet::new();
    let mut dirty_dirs: BTreeMap<PathBuf, String> = BTreeMap::new();
    for line in calls {
        match line {
            Line::Call { kind, fd: 1, .. } if kind == "write" => {
                let mut out: Vec<String> = dirty_files
                    .iter()
                    .map(|f| format!("{f} was written but not fsynced"))
                    .collect();
                for (file, dir) in &created {
                    if written_new.contains(file) {
                        out.push(format!(
                            "{file} was created, but its directory {} was not fsynced",
                            dir.display()
                        ));
                    }
                }
                for (dir, why) in &dirty_dirs {
                    out.push(format!("{} was not fsynced after {why}", dir.display()));
                }
                return Ok(out);
            }
            Line::Call { kind, path, .. }
                if (kind == "write" || kind == "pwrite") && under(path) =>
            {
                dirty_files.insert(path.clone());
                if created.contains_key(path) {
                    written_new.insert(path.clone());
                }
            }
            Line::Call { kind, path, .. }
                if kind == "open" && under(path) && !existed.contains(Path::new(path)) =>
            {
                created.insert(path.clone(), parent(path));
            }
            Line::Call {
                kind,
                path,
                to: Some(to),
                ..
            } if kind == "rename" && (under(path) || under(to)) => {
                let why = format!("the rename of {path} to {to}");
                dirty_dirs.insert(parent(path), why.clone());
                dirty_dirs.insert(parent(to), why);
                // The data now lives under the new name; written_new follows it.
                if created.remove(path).is_some() {
                    if written_new.remove(path) {
                        written_new.insert(to.clone());
                    }
                    created.insert(to.clone(), parent(to));
                }
                if dirty_files.remove(path) {
                    dirty_files.insert(to.clone());
                }
            }
            Line::End {
                kind,
                result: 0,
                path,
                ..
            } if kind == "fsync" || kind == "fdatasync" => {
                dirty_files.remove(path);
                let synced = Path::new(path);
                created.retain(|_, dir| dir != synced);
                dirty_dirs.remove(synced);
            }
            _ => {}
        }
    }
    Err("nothing was written to stdout: no receipts".into())
}

/// Every path under `dir`, directories included.
fn tree(dir: &Path) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(tree(&path));
        }
        out.insert(path);
    }
    out
}

/// Issue 11, finding 2: sled's `Db::flush` writes with `pwrite` and `sync_file_range`; the
/// `fsync` of its `db` file came from its background flusher or at close, after the
/// receipts. An append must fsync every file it wrote, and the directory of every file it
/// created or renamed, before the first receipt reaches stdout.
fn fail_receipts_are_not_printed_before_the_data_is_fsynced() {
    if shim().is_none() {
        return;
    }
    let lab = Lab::new();
    let mut problems = Vec::new();
    for prefix in ["ONE", "HUNDRED"] {
        let batch = lab.batch(prefix);
        let case = append_case(&lab, prefix, &batch);
        let ledger = case.dir.join("L");
        let existed = tree(&ledger);
        let args: Vec<&str> = case.args.iter().map(String::as_str).collect();
        let run = lab.run_in(&case.dir, &args, Some(&Fault::counting(&lab.root)));
        assert!(run.ok(), "append of {}: {}", batch.ids.len(), run.said());
        match unsynced_before_receipts(&run.log, &ledger, &existed) {
            Ok(unsynced) => problems.extend(
                unsynced
                    .into_iter()
                    .map(|p| format!("append of {}: {p}", batch.ids.len())),
            ),
            Err(e) => problems.push(format!("append of {}: {e}", batch.ids.len())),
        }
    }
    assert!(
        problems.is_empty(),
        "receipts were printed before the data they acknowledge was durable:\n  - {}",
        problems.join("\n  - ")
    );
}

/// What a directory tree holds: per directory its entries (name, inode, is a directory);
/// per inode its bytes.
#[derive(Default)]
struct Durable {
    listings: BTreeMap<PathBuf, Vec<(String, u64, bool)>>,
    contents: BTreeMap<u64, Vec<u8>>,
}

impl Durable {
    /// Everything under `root` now (before the run: all of it is durable).
    fn of(root: &Path) -> Durable {
        let mut durable = Durable::default();
        durable.read(root);
        durable
    }

    fn read(&mut self, dir: &Path) {
        let mut listing = Vec::new();
        for entry in fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let meta = entry.metadata().unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            listing.push((name, meta.ino(), meta.is_dir()));
            if meta.is_dir() {
                self.read(&entry.path());
            } else {
                self.contents
                    .insert(meta.ino(), fs::read(entry.path()).unwrap());
            }
        }
        self.listings.insert(dir.to_owned(), listing);
    }

    /// Applies the shim's record of what each successful sync made durable.
    fn apply(&mut self, shadow: &Path) {
        let log = fs::read_to_string(shadow.join("log")).unwrap_or_default();
        let mut lines = log.lines();
        while let Some(line) = lines.next() {
            let words: Vec<&str> = line.splitn(4, ' ').collect();
            match words.as_slice() {
                ["file", ino, copy, _path] => {
                    let bytes = fs::read(shadow.join(copy)).unwrap();
                    self.contents.insert(ino.parse().unwrap(), bytes);
                }
                ["dir", ..] => {
                    let dir = PathBuf::from(&line["dir ".len()..]);
                    let mut listing = Vec::new();
                    for entry in lines.by_ref() {
                        if entry == "end" {
                            break;
                        }
                        let parts: Vec<&str> = entry.splitn(4, ' ').collect();
                        let ["entry", ino, kind, name] = parts.as_slice() else {
                            panic!("unreadable shadow log line {entry:?}");
                        };
                        listing.push(((*name).to_owned(), ino.parse().unwrap(), *kind == "d"));
                    }
                    self.listings.insert(dir, listing);
                }
                _ => panic!("unreadable shadow log line {line:?}"),
            }
        }
    }

    /// Writes the durable state of `dir` to `to`: names whose directory was never synced
    /// since they appeared are lost, and files never synced since they were created are
    /// empty.
    fn materialize(&self, dir: &Path, to: &Path) {
        fs::create_dir_all(to).unwrap();
        for (name, ino, is_dir) in self.listings.get(dir).into_iter().flatten() {
            if *is_dir {
                self.materialize(&dir.join(name), &to.join(name));
            } else {
                let bytes = self
                    .contents
                    .get(ino)
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                fs::write(to.join(name), bytes).unwrap();
            }
        }
    }
}

/// The power-loss model of issue 11: a machine that loses power right after the receipts
/// keeps only what was fsynced (file data by `fsync`/`fdatasync`, names by an `fsync` of
/// their directory); `sync_file_range` makes nothing durable. Before the fix, an append of
/// 100 whose receipts were printed was lost 5 times out of 5. The shim records each
/// successful sync and kills `append` right before its first receipt; the ledger rebuilt
/// from those records must hold the whole batch.
fn fail_a_power_loss_right_after_the_receipts_keeps_the_batch() {
    if shim().is_none() {
        return;
    }
    let lab = Lab::new();
    let sizes: Vec<usize> = std::env::var("CUSTODY_FAULT_POWER_BATCHES")
        .unwrap_or_else(|_| "1,100,10000".to_owned())
        .split(',')
        .map(|n| {
            n.trim()
                .parse()
                .expect("CUSTODY_FAULT_POWER_BATCHES: numbers")
        })
        .collect();
    let mut problems = Vec::new();
    for size in sizes {
        let batch = match size {
            1 => lab.batch("ONE"),
            100 => lab.batch("HUNDRED"),
            n => lab.sign(&format!("POWER{n}"), n),
        };
        let case = append_case(&lab, &format!("power-{size}"), &batch);
        let ledger = case.dir.join("L");
        let shadow = case.dir.join("shadow");
        fs::create_dir(&shadow).unwrap();
        let mut durable = Durable::of(&ledger);
        let fault = Fault {
            fd: Some(1),
            shadow: Some((shadow.clone(), ledger.clone())),
            ..Fault::hit("write", 1, Action::Kill, "EIO")
        };
        let args: Vec<&str> = case.args.iter().map(String::as_str).collect();
        let run = lab.run_in(&case.dir, &args, Some(&fault));
        if !run.fault_hit() {
            problems.push(format!(
                "append of {size}: it printed no receipt to be cut off at ({})",
                run.said()
            ));
            continue;
        }
        durable.apply(&shadow);
        let after = case.dir.join("after-power-loss");
        durable.materialize(&ledger, &after);
        let whole = lab.base + size as u64;
        let ends = [batch.ids.first().unwrap(), batch.ids.last().unwrap()];
        let verdict = verified(&lab, &after).and_then(|entries| {
            if entries == whole {
                all_present(&lab, &after, &ends)
            } else {
                Err(format!(
                    "the log holds {entries} entries, not {whole}: the acknowledged batch \
                     was lost"
                ))
            }
        });
        if let Err(e) = verdict {
            problems.push(format!(
                "append of {size}, power lost right after the receipts: {e} (durable files: \
                 {:?})",
                names(&after)
            ));
        }
        let _ = fs::remove_dir_all(&case.dir);
    }
    assert!(
        problems.is_empty(),
        "under the power-loss model, acknowledged batches were lost:\n  - {}",
        problems.join("\n  - ")
    );
}

/// The number of the last `fsync` (counted among calls under the ledger's tree) made on a
/// file or directory under `ledger`, from a counting run.
fn last_fsync(run: &Run, ledger: &Path) -> Option<usize> {
    run.log
        .iter()
        .filter_map(|line| match line {
            Line::Call { kind, n, path, .. }
                if kind == "fsync" && Path::new(path).starts_with(ledger) =>
            {
                Some(*n)
            }
            _ => None,
        })
        .next_back()
}

/// Issue 11, finding 3: EIO on the `fsync` sled makes when the store closes panicked in
/// `Drop` (exit 101, after the receipts were printed).
fn fail_an_fsync_error_at_close_is_an_error_not_a_panic() {
    if shim().is_none() {
        return;
    }
    let lab = Lab::new();
    let batch = lab.batch("ONE");
    let census = append_case(&lab, "census", &batch);
    let args: Vec<&str> = census.args.iter().map(String::as_str).collect();
    let counting = Fault::counting(&lab.root);
    let run = lab.run_in(&census.dir, &args, Some(&counting));
    assert!(run.ok(), "the counting run: {}", run.said());
    let n = last_fsync(&run, &census.dir.join("L")).expect("append fsyncs something");
    let case = append_case(&lab, "last-fsync", &batch);
    let fault = Fault::hit("fsync", n, Action::Fail, "EIO").on(s(&lab.root));
    let args: Vec<&str> = case.args.iter().map(String::as_str).collect();
    let run = lab.run_in(&case.dir, &args, Some(&fault));
    let verdict = no_crash(&run, &fault)
        .and_then(|()| {
            if !run.fault_hit() {
                return Err("the last fsync was not reached".into());
            }
            if run.code != Some(2) || !run.stderr.starts_with("error:") {
                return Err("an fsync error must be an error (exit 2, `error: ...`)".into());
            }
            Ok(())
        })
        .and_then(|()| check_append(&lab, &batch, &case, &run, &fault));
    let mut tally = Tally::new("fail_an_fsync_error_at_close_is_an_error_not_a_panic");
    tally.record("append of 1", &fault, &run, verdict);
    tally.finish();
}

/// Issue 11, finding 3: EIO on the fsync of sled's background flusher was only logged, and
/// the append exited 0. Whichever fsync starts failing (and every later one with it, as
/// on a disk gone bad), an append that meets a failed fsync is never a success, prints no
/// receipt, and does not panic.
fn fail_an_fsync_error_is_never_a_success() {
    if shim().is_none() {
        return;
    }
    let lab = Lab::new();
    let mut tally = Tally::new("fail_an_fsync_error_is_never_a_success");
    for prefix in ["ONE", "HUNDRED"] {
        let batch = lab.batch(prefix);
        let subject = format!("append of {}", batch.ids.len());
        let census = append_case(&lab, "census", &batch);
        let args: Vec<&str> = census.args.iter().map(String::as_str).collect();
        let run = lab.run_in(&census.dir, &args, Some(&Fault::counting(&lab.root)));
        assert!(run.ok(), "the counting run: {}", run.said());
        let syncs = run.census();
        let count = ["fsync", "fdatasync"]
            .map(|kind| syncs.get(kind).copied().unwrap_or(0))
            .into_iter()
            .max()
            .unwrap_or(0);
        for n in 1..=count.max(1) {
            let case = append_case(&lab, &format!("{prefix}-{n}"), &batch);
            let fault = Fault::hit("fsync,fdatasync", n, Action::Fail, "EIO")
                .and_later()
                .on(s(&lab.root));
            let args: Vec<&str> = case.args.iter().map(String::as_str).collect();
            let run = lab.run_in(&case.dir, &args, Some(&fault));
            let verdict = no_crash(&run, &fault)
                .and_then(|()| {
                    if run.fault_hit() && run.ok() {
                        return Err("an fsync failed, yet it exited 0".into());
                    }
                    Ok(())
                })
                .and_then(|()| check_append(&lab, &batch, &case, &run, &fault));
            tally.record(&subject, &fault, &run, verdict);
            let _ = fs::remove_dir_all(&case.dir);
        }
    }
    tally.finish();
}

/// Issue 11, finding 7: deleting `acknowledged-head` beside sled's files silently turned
/// the rollback check off. On a non-empty ledger, a missing acknowledged head is a finding.
fn fail_deleting_acknowledged_head_is_a_finding() {
    let lab = Lab::new();
    let ledger = lab.copy("no-head");
    let head = ledger.join("acknowledged-head");
    assert!(head.is_file(), "the template has no {}", head.display());
    fs::remove_file(&head).unwrap();
    let run = lab.run(&["--ledger", s(&ledger), "verify"]);
    let said = format!("{}{}", run.stdout, run.stderr).to_lowercase();
    assert!(
        run.code == Some(1)
            && (said.contains("acknowledged-head") || said.contains("acknowledged head")),
        "verify on a ledger of {} entries without its acknowledged-head must fail (exit 1) \
         naming it: {}",
        lab.base,
        run.said()
    );
}

/// Whether `stderr` carries Rust's `Debug` form of an I/O error, which users should not
/// see (issue 11, finding 8: store I/O errors were printed twice in that form).
fn debug_text(stderr: &str) -> Option<&'static str> {
    ["Os {", "kind:", "code:", "Custom {"]
        .into_iter()
        .find(|marker| stderr.contains(marker))
}

/// A line printed twice, if any.
fn repeated_line(stderr: &str) -> Option<&str> {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    lines
        .iter()
        .enumerate()
        .find(|(i, line)| lines[..*i].contains(line))
        .map(|(_, line)| *line)
}

/// Issue 11, finding 8: a ledger directory another user cannot read was "not a custody
/// ledger". The error must name the path and the permission problem, in words.
fn fail_an_unreadable_ledger_names_the_permission_problem() {
    let lab = Lab::new();
    let ledger = lab.copy("private");
    fs::set_permissions(&ledger, fs::Permissions::from_mode(0o700)).unwrap();
    let is_root = fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false);
    let mut cmd;
    if is_root {
        // root reads everything: run as nobody, who must reach the binary and the lab.
        let setpriv = Command::new("setpriv").arg("--version").output();
        if !setpriv.is_ok_and(|o| o.status.success()) {
            skip("running as root and setpriv (util-linux) is missing: cannot run as another user");
            return;
        }
        // Up to the lab's own directory (0700 as tempfile makes it); /tmp lets anyone in.
        for dir in ledger.parent().unwrap().ancestors() {
            let mode = fs::metadata(dir).unwrap().permissions().mode() & 0o7777;
            fs::set_permissions(dir, fs::Permissions::from_mode(mode | 0o711)).unwrap();
            if dir == lab.root {
                break;
            }
        }
        cmd = Command::new("setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(custody_path());
    } else {
        fs::set_permissions(&ledger, fs::Permissions::from_mode(0o000)).unwrap();
        cmd = Command::new(custody_path());
    }
    cmd.current_dir("/")
        .args(["--ledger", s(&ledger), "verify"])
        .env_remove("CUSTODY_LEDGER")
        .env_remove("LD_PRELOAD")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("custody starts");
    let running = Running {
        stdout: drain(child.stdout.take()),
        stderr: drain(child.stderr.take()),
        child,
        log: None,
    };
    let run = running.wait();
    fs::set_permissions(&ledger, fs::Permissions::from_mode(0o755)).unwrap();
    let stderr = run.stderr.to_lowercase();
    let mut problems = Vec::new();
    if run.code != Some(2) {
        problems.push("exit 2 expected".to_owned());
    }
    if !stderr.contains("permission denied") {
        problems.push("the cause (permission denied) is not named".to_owned());
    }
    if stderr.contains("not a custody ledger") {
        problems.push("it says the directory is not a custody ledger".to_owned());
    }
    if !run.stderr.contains(s(&ledger)) {
        problems.push(format!("the path {} is not named", ledger.display()));
    }
    if let Some(marker) = debug_text(&run.stderr) {
        problems.push(format!("Rust Debug text ({marker:?}) in the message"));
    }
    if let Some(line) = repeated_line(&run.stderr) {
        problems.push(format!("printed twice: {line:?}"));
    }
    assert!(
        problems.is_empty(),
        "verify on a ledger the user cannot read: {}\n  ({})",
        problems.join("; "),
        run.said()
    );
}

/// Issue 11, finding 8: a full disk must be named as such, with the path, in words.
fn fail_a_full_disk_is_named_as_such() {
    if shim().is_none() {
        return;
    }
    let lab = Lab::new();
    let batch = lab.batch("ONE");
    let census = append_case(&lab, "census", &batch);
    let args: Vec<&str> = census.args.iter().map(String::as_str).collect();
    let run = lab.run_in(&census.dir, &args, Some(&Fault::counting(&lab.root)));
    assert!(run.ok(), "the counting run: {}", run.said());
    let counts = run.census();
    let mut tally = Tally::new("fail_a_full_disk_is_named_as_such");
    for kind in ["pwrite", "write"] {
        let count = counts.get(kind).copied().unwrap_or(0);
        // The first and the last write of that kind (the batch itself is written last).
        let mut picks = vec![1, count];
        picks.dedup();
        for n in picks.into_iter().filter(|n| *n > 0) {
            let case = append_case(&lab, &format!("full-{kind}-{n}"), &batch);
            let fault = Fault::hit(kind, n, Action::Fail, "ENOSPC").on(s(&lab.root));
            let args: Vec<&str> = case.args.iter().map(String::as_str).collect();
            let run = lab.run_in(&case.dir, &args, Some(&fault));
            let ledger = case.dir.join("L");
            let verdict = no_crash(&run, &fault).and_then(|()| {
                let stderr = run.stderr.to_lowercase();
                let mut problems = Vec::new();
                if run.code != Some(2) {
                    problems.push("exit 2 expected".to_owned());
                }
                if !["no space", "disk is full", "disk full", "full disk"]
                    .iter()
                    .any(|w| stderr.contains(w))
                {
                    problems.push("the disk being full is not named".to_owned());
                }
                if !run.stderr.contains(s(&ledger)) {
                    problems.push(format!("the path (in {}) is not named", ledger.display()));
                }
                if let Some(marker) = debug_text(&run.stderr) {
                    problems.push(format!("Rust Debug text ({marker:?}) in the message"));
                }
                if let Some(line) = repeated_line(&run.stderr) {
                    problems.push(format!("printed twice: {line:?}"));
                }
                if problems.is_empty() {
                    check_append(&lab, &batch, &case, &run, &fault)
                } else {
                    Err(problems.join("; "))
                }
            });
            tally.record("append of 1", &fault, &run, verdict);
            let _ = fs::remove_dir_all(&case.dir);
        }
    }
    tally.finish();
}

/// ENOSPC from a real file system, not only the shim's: the ledger is copied onto a small
/// tmpfs (in a private mount namespace, gone when the script ends), the file system is filled
/// to leave a little room, and a batch of 100 is appended. Whether the append fits or not,
/// the promise holds: acknowledged means present; a full disk is exit 2 with the disk named
/// and the path, and leaves the ledger unchanged; once room is freed it opens and verifies.
fn fail_a_real_full_filesystem_leaves_the_ledger_whole() {
    let Some(unshare) = custody_tests::unshare_for_mount() else {
        return;
    };
    let lab = Lab::new();
    let hundred = lab.batch("HUNDRED");
    let out = lab.work().join("smallfs");
    let mnt = lab.work().join("mnt");
    fs::create_dir_all(&out).unwrap();
    fs::create_dir_all(&mnt).unwrap();
    // Room left, in KiB, after filling: none at all, up to more than the batch needs.
    let room = [0u64, 4, 16, 64, 256, 2048];
    let script = r#"
        set -u
        mount -t tmpfs -o size=16m tmpfs "$MNT" || exit 97
        for free in $ROOM; do
            rm -rf "$MNT/L" "$MNT/fill"
            cp -a "$TPL" "$MNT/L" || exit 98
            avail=$(df -k --output=avail "$MNT" | tail -n 1 | tr -d ' ')
            if [ "$avail" -gt "$free" ]; then
                dd if=/dev/zero of="$MNT/fill" bs=1024 count=$((avail - free)) 2>/dev/null
            fi
            "$CUSTODY" --ledger "$MNT/L" append "$BATCH" >"$OUT/$free.append.out" 2>"$OUT/$free.append.err"
            echo $? >"$OUT/$free.append.rc"
            rm -f "$MNT/fill"
            "$CUSTODY" --ledger "$MNT/L" verify --json >"$OUT/$free.verify.out" 2>"$OUT/$free.verify.err"
            echo $? >"$OUT/$free.verify.rc"
        done
    "#;
    let room_list: Vec<String> = room.iter().map(u64::to_string).collect();
    let status = Command::new(unshare[0])
        .args(&unshare[1..])
        .args(["sh", "-c", script])
        .env("MNT", &mnt)
        .env("ROOM", room_list.join(" "))
        .env("TPL", lab.template())
        .env("CUSTODY", custody_path())
        .env("BATCH", &hundred.file)
        .env("OUT", &out)
        .env("CUSTODY_LOCK_WAIT", "5")
        .status()
        .unwrap();
    assert!(status.success(), "the small file system script: {status}");
    let read = |free: u64, what: &str| {
        fs::read_to_string(out.join(format!("{free}.{what}"))).unwrap_or_default()
    };
    let mut problems = Vec::new();
    let mut full = 0;
    for free in room {
        let code = read(free, "append.rc").trim().to_owned();
        let stderr = read(free, "append.err");
        let expected = match code.as_str() {
            "0" => lab.base + 100,
            "2" => {
                full += 1;
                let lower = stderr.to_lowercase();
                if !["no space", "disk is full", "disk full", "full disk"]
                    .iter()
                    .any(|w| lower.contains(w))
                {
                    problems.push(format!(
                        "{free} KiB free: the full disk is not named: {stderr}"
                    ));
                }
                if !stderr.contains(s(&mnt)) {
                    problems.push(format!("{free} KiB free: the path is not named: {stderr}"));
                }
                if let Some(marker) = debug_text(&stderr) {
                    problems.push(format!(
                        "{free} KiB free: Rust Debug text ({marker:?}): {stderr}"
                    ));
                }
                lab.base
            }
            other => {
                problems.push(format!("{free} KiB free: append exited {other}: {stderr}"));
                continue;
            }
        };
        let verify: Result<Value, _> = serde_json::from_str(&read(free, "verify.out"));
        match verify {
            Ok(v) if v["verdict"] == "pass" && v["entries"] == expected => {}
            _ => problems.push(format!(
                "{free} KiB free: append exited {code}; afterwards verify (exit {}) does not pass \
                 with {expected} entries: {}{}",
                read(free, "verify.rc").trim(),
                read(free, "verify.out"),
                read(free, "verify.err")
            )),
        }
    }
    if full == 0 {
        problems.push("no append ran out of space: the file system was never full".into());
    }
    assert!(
        problems.is_empty(),
        "on a real full file system:\n  - {}",
        problems.join("\n  - ")
    );
}

/// Issue 11, finding 9: readers were locked out while a writer held the ledger ("in use by
/// another process"), and so was a second writer, at once. A writer is held right before the
/// last write of its batch (the shim's `pause`: its other threads run on); two `verify`s
/// must run and pass meanwhile, and another `append` must wait for it rather than fail at
/// once (it is given 1 s before the first writer is released).
fn fail_readers_run_while_a_writer_works() {
    if shim().is_none() {
        return;
    }
    let lab = Lab::new();
    let one = lab.batch("ONE");
    let hundred = lab.batch("HUNDRED");
    // Where the batch is written: the last write under the ledger before the receipts.
    let census = append_case(&lab, "census", &hundred);
    let ledger = census.dir.join("L");
    let args: Vec<&str> = census.args.iter().map(String::as_str).collect();
    let run = lab.run_in(&census.dir, &args, Some(&Fault::counting(&lab.root)));
    assert!(run.ok(), "the counting run: {}", run.said());
    let (kind, n) = run
        .log
        .iter()
        .take_while(|line| !matches!(line, Line::Call { kind, fd: 1, .. } if kind == "write"))
        .filter_map(|line| match line {
            Line::Call { kind, n, path, .. }
                if (kind == "write" || kind == "pwrite")
                    && Path::new(path).starts_with(&ledger) =>
            {
                Some((kind.clone(), *n))
            }
            _ => None,
        })
        .last()
        .expect("append writes under the ledger");
    let case = append_case(&lab, "paused", &hundred);
    let ledger = case.dir.join("L");
    let release = case.dir.join("release");
    let fault = Fault {
        release: Some(release.clone()),
        ..Fault::hit(&kind, n, Action::Pause, "EIO").on(s(&lab.root))
    };
    let args: Vec<&str> = case.args.iter().map(String::as_str).collect();
    let mut writer = lab.start_in(&case.dir, &args, Some(&fault));
    let deadline = Instant::now() + TIMEOUT;
    while !writer.fault_reached() && !writer.exited() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(5));
    }
    let paused = writer.fault_reached();
    let mut problems = Vec::new();
    if paused {
        let verify = ["--ledger", s(&ledger), "verify", "--json"];
        let readers: Vec<Running> = (0..2)
            .map(|_| lab.start_in(&case.dir, &verify, None))
            .collect();
        for (i, reader) in readers.into_iter().map(Running::wait).enumerate() {
            let passed = reader.ok() && reader.json().is_ok_and(|j| j["verdict"] == "pass");
            if !passed {
                problems.push(format!(
                    "reader {} while the writer works: {}",
                    i + 1,
                    reader.said()
                ));
            }
        }
        let mut second = lab.start_in(
            &case.dir,
            &["--ledger", s(&ledger), "append", s(&one.file)],
            None,
        );
        thread::sleep(Duration::from_secs(1));
        let second_gave_up = second.exited();
        fs::write(&release, "").unwrap();
        let second = second.wait();
        if second_gave_up {
            problems.push(format!(
                "a second writer did not wait for the first: {}",
                second.said()
            ));
        } else if !second.ok() {
            problems.push(format!("the second writer: {}", second.said()));
        }
    } else {
        problems.push(format!("the writer never reached {fault}"));
    }
    fs::write(&release, "").unwrap();
    let writer = writer.wait();
    if !writer.ok() {
        problems.push(format!("the writer, released: {}", writer.said()));
    }
    let expected = lab.base + 101;
    match verified(&lab, &ledger) {
        Ok(entries) if entries == expected => {}
        Ok(entries) => problems.push(format!(
            "afterwards the log holds {entries} entries, not {expected}"
        )),
        Err(e) => problems.push(e),
    }
    assert!(
        problems.is_empty(),
        "a writer held at {fault}:\n  - {}",
        problems.join("\n  - ")
    );
}

fn main() -> std::process::ExitCode {
    let mut suite = custody_tests::Suite::default();
    suite.test(
        "faults_in_an_append_of_1_leave_all_or_nothing",
        &[custody_tests::Need::Program("cc", "apt-get install gcc")],
        faults_in_an_append_of_1_leave_all_or_nothing,
    );
    suite.test(
        "faults_in_an_append_of_100_leave_all_or_nothing",
        &[custody_tests::Need::Program("cc", "apt-get install gcc")],
        faults_in_an_append_of_100_leave_all_or_nothing,
    );
    suite.test(
        "faults_in_verify_never_leave_the_ledger_unopenable",
        &[custody_tests::Need::Program("cc", "apt-get install gcc")],
        faults_in_verify_never_leave_the_ledger_unopenable,
    );
    suite.test(
        "faults_in_show_never_leave_the_ledger_unopenable",
        &[custody_tests::Need::Program("cc", "apt-get install gcc")],
        faults_in_show_never_leave_the_ledger_unopenable,
    );
    suite.test(
        "faults_in_trace_never_leave_the_ledger_unopenable",
        &[custody_tests::Need::Program("cc", "apt-get install gcc")],
        faults_in_trace_never_leave_the_ledger_unopenable,
    );
    suite.test(
        "fail_a_crashed_init_leaves_nothing_or_a_usable_ledger",
        &[custody_tests::Need::Program("cc", "apt-get install gcc")],
        fail_a_crashed_init_leaves_nothing_or_a_usable_ledger,
    );
    suite.test(
        "fail_keygen_is_all_or_nothing",
        &[custody_tests::Need::Program("cc", "apt-get install gcc")],
        fail_keygen_is_all_or_nothing,
    );
    suite.test(
        "fail_export_bundle_never_truncates_the_old_bundle",
        &[custody_tests::Need::Program("cc", "apt-get install gcc")],
        fail_export_bundle_never_truncates_the_old_bundle,
    );
    suite.test(
        "fail_a_leftover_sled_snapshot_does_not_make_the_ledger_unopenable",
        &[custody_tests::Need::Program("cc", "apt-get install gcc")],
        fail_a_leftover_sled_snapshot_does_not_make_the_ledger_unopenable,
    );
    suite.test(
        "fail_receipts_are_not_printed_before_the_data_is_fsynced",
        &[custody_tests::Need::Program("cc", "apt-get install gcc")],
        fail_receipts_are_not_printed_before_the_data_is_fsynced,
    );
    suite.test(
        "fail_a_power_loss_right_after_the_receipts_keeps_the_batch",
        &[custody_tests::Need::Program("cc", "apt-get install gcc")],
        fail_a_power_loss_right_after_the_receipts_keeps_the_batch,
    );
    suite.test(
        "fail_an_fsync_error_at_close_is_an_error_not_a_panic",
        &[custody_tests::Need::Program("cc", "apt-get install gcc")],
        fail_an_fsync_error_at_close_is_an_error_not_a_panic,
    );
    suite.test(
        "fail_an_fsync_error_is_never_a_success",
        &[custody_tests::Need::Program("cc", "apt-get install gcc")],
        fail_an_fsync_error_is_never_a_success,
    );
    suite.test(
        "fail_deleting_acknowledged_head_is_a_finding",
        &[custody_tests::Need::Program("cc", "apt-get install gcc")],
        fail_deleting_acknowledged_head_is_a_finding,
    );
    suite.test(
        "fail_an_unreadable_ledger_names_the_permission_problem",
        &[
            custody_tests::Need::Program("cc", "apt-get install gcc"),
            custody_tests::Need::Program("setpriv", "apt-get install util-linux"),
        ],
        fail_an_unreadable_ledger_names_the_permission_problem,
    );
    suite.test(
        "fail_a_full_disk_is_named_as_such",
        &[custody_tests::Need::Program("cc", "apt-get install gcc")],
        fail_a_full_disk_is_named_as_such,
    );
    suite.test(
        "fail_a_real_full_filesystem_leaves_the_ledger_whole",
        &[custody_tests::Need::Mount],
        fail_a_real_full_filesystem_leaves_the_ledger_whole,
    );
    suite.test(
        "fail_readers_run_while_a_writer_works",
        &[custody_tests::Need::Program("cc", "apt-get install gcc")],
        fail_readers_run_while_a_writer_works,
    );
    suite.run()
}
