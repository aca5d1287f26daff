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
