//! Shared helpers for the end-to-end tests in `tests/tests/`, which drive the real
//! `custody` binary on sled ledgers in temporary directories.
//!
//! `cargo test --workspace` builds test harnesses, not the plain `custody` binary of
//! another package, so [`custody`] builds it first (once per test process, with the same
//! profile) instead of running whatever binary an earlier build left behind.

pub mod pg;
pub mod readme;

use std::path::PathBuf;
use std::sync::OnceLock;

/// The freshly built `custody` binary.
pub fn custody_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let mut build = std::process::Command::new(env!("CARGO"));
        build.args(["build", "--quiet", "-p", "ledger-cli", "--bin", "custody"]);
        if !cfg!(debug_assertions) {
            build.arg("--release");
        }
        let status = build
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cannot run cargo build");
        assert!(status.success(), "cargo build of the custody binary failed");
        assert_cmd::cargo::cargo_bin("custody")
    })
    .clone()
}

/// A command running the freshly built `custody` binary.
pub fn custody() -> assert_cmd::Command {
    assert_cmd::Command::new(custody_bin())
}

/// Standard output of a finished command, as text.
pub fn stdout(assert: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&assert.get_output().stdout).into_owned()
}

/// Standard error of a finished command, as text.
pub fn stderr(assert: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&assert.get_output().stderr).into_owned()
}

/// Retries `open` while sled still holds the lock of a handle this process (or a child
/// that just exited) let go of: sled releases its file lock asynchronously.
pub fn retry<T, E: std::fmt::Debug>(open: impl Fn() -> Result<T, E>) -> T {
    for _ in 0..100 {
        if let Ok(value) = open() {
            return value;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    open().unwrap()
}

/// Copies the directory `from` to `to`, recursively (a ledger, as a backup would).
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A prerequisite of an end-to-end test beyond the freshly built binary.
pub enum Need {
    /// A program on the `PATH`, with how to install it.
    Program(&'static str, &'static str),
    /// The public conformance vectors, `../shared/vectors`.
    Vectors,
    /// A Python module importable by `python3`, with how to install it.
    Python(&'static str, &'static str),
    /// Mounting a small tmpfs in a private mount namespace ([`unshare_for_mount`]).
    Mount,
    /// The npm packages of `web/`, installed from its lockfile (`cd web && npm ci`).
    WebPackages,
}

impl Need {
    /// Why the prerequisite is missing, if it is.
    fn missing(&self) -> Option<String> {
        match self {
            Need::Program(name, install) => {
                (!program_exists(name)).then(|| format!("{name} is not installed ({install})"))
            }
            Need::Vectors => vectors_dir()
                .is_none()
                .then(|| "../shared/vectors not found above this crate".to_owned()),
            Need::Python(module, install) => (!std::process::Command::new("python3")
                .args(["-c", &format!("import {module}")])
                .output()
                .is_ok_and(|o| o.status.success()))
            .then(|| format!("python3 cannot import {module} ({install})")),
            Need::Mount => unshare_for_mount().is_none().then(|| {
                "cannot mount a tmpfs in a private mount namespace (needs unshare from \
                 util-linux, and root or unprivileged user namespaces)"
                    .to_owned()
            }),
            Need::WebPackages => (!web_dir().join("node_modules/playwright-core").is_dir())
                .then(|| "web/node_modules is not installed (cd web && npm ci)".to_owned()),
        }
    }
}

/// The `unshare` command line under which `sh -c SCRIPT` may mount a tmpfs of its own (a
/// real small file system, gone when the script ends): `--mount` as root, else a user
/// namespace mapped to root. `None` when neither works here.
pub fn unshare_for_mount() -> Option<&'static [&'static str]> {
    static FOUND: std::sync::OnceLock<Option<&'static [&'static str]>> = std::sync::OnceLock::new();
    *FOUND.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("custody-mount-probe-{}", std::process::id()));
        std::fs::create_dir_all(&dir).ok()?;
        let forms: [&'static [&'static str]; 2] = [
            &["unshare", "--mount"],
            &["unshare", "--user", "--map-root-user", "--mount"],
        ];
        let found = forms.into_iter().find(|form| {
            std::process::Command::new(form[0])
                .args(&form[1..])
                .args(["sh", "-c", "mount -t tmpfs -o size=64k tmpfs \"$1\"", "sh"])
                .arg(&dir)
                .output()
                .is_ok_and(|o| o.status.success())
        });
        let _ = std::fs::remove_dir(&dir);
        found
    })
}

/// Whether `name` runs from the `PATH`.
pub fn program_exists(name: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            let candidate = dir.join(name);
            candidate.is_file()
                && std::fs::metadata(&candidate).is_ok_and(|m| {
                    std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0
                })
        })
    })
}

/// The project's `web/` directory: the passport page's in-browser verifier and its browser
/// tests.
pub fn web_dir() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../web")
}

/// The conformance vectors directory, `<project>/../shared/vectors`, if present.
pub fn vectors_dir() -> Option<PathBuf> {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|a| a.join("shared").join("vectors"))
        .find(|p| p.is_dir())
}

/// True under CI (`CI=true`), where a test whose prerequisite is missing fails.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// The tests of one end-to-end test binary (a `libtest-mimic` harness): a test whose
/// prerequisite is missing shows as **ignored** with the reason, never as passed, and
/// fails under `CI=true`; the run ends with a `note:` line per missing prerequisite.
#[derive(Default)]
pub struct Suite {
    trials: Vec<libtest_mimic::Trial>,
    missing: std::collections::BTreeSet<String>,
}

impl Suite {
    /// Adds the test `name` with body `body` (which panics to fail), needing `needs`.
    pub fn test(&mut self, name: &str, needs: &[Need], body: fn()) {
        let runner = move || {
            body();
            Ok(())
        };
        let trial = match needs.iter().find_map(Need::missing) {
            None => libtest_mimic::Trial::test(name, runner),
            Some(why) if in_ci() => {
                let message = format!("{why} (CI=true: this test must run)");
                libtest_mimic::Trial::test(name, move || Err(message.into()))
            }
            Some(why) => {
                self.missing.insert(why.clone());
                libtest_mimic::Trial::test(name, move || Err(why.into()))
                    .with_kind("needs a missing prerequisite")
                    .with_ignored_flag(true)
            }
        };
        self.trials.push(trial);
    }

    /// Runs the trials as the command line asks.
    pub fn run(self) -> std::process::ExitCode {
        let args = libtest_mimic::Arguments::from_args();
        let conclusion = libtest_mimic::run(&args, self.trials);
        for why in &self.missing {
            eprintln!("note: tests ignored: {why}");
        }
        conclusion.exit_code()
    }
}
