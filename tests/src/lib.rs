//! Shared helpers for the end-to-end tests in `tests/tests/`, which drive the real
//! `custody` binary on sled ledgers in temporary directories.
//!
//! `cargo test --workspace` builds test harnesses, not the plain `custody` binary of
//! another package, so [`custody`] builds it first (once per test process, with the same
//! profile) instead of running whatever binary an earlier build left behind.

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
