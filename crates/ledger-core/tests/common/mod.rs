//! Shared by the conformance test binaries, each a `libtest-mimic` harness: finds the shared
//! conformance vectors (`<project root>/../shared/vectors`), turns each test into a trial that
//! shows as **ignored** when they are missing (and **fails** under `CI=true`), and lists vector
//! files in a reproducible order.
//!
//! A test that cannot run must never pass silently: without the vectors, `cargo test` lists
//! each such trial as `[needs ../shared/vectors] name ... ignored` and the harness ends with one
//! `note:` line saying what was missing.

#![allow(
    dead_code,
    reason = "each test binary uses a different subset of the helpers"
)]

use std::error::Error;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use libtest_mimic::{Arguments, Failed, Trial};

/// What a conformance test returns: any error fails it, with the error's message.
pub type TestResult = Result<(), Box<dyn Error>>;

/// Overrides where the vectors are: when set (and not empty) it is the only place looked at,
/// so `CUSTODY_VECTORS_DIR=/nonexistent cargo test` shows the suite as it runs without them.
pub const VECTORS_ENV: &str = "CUSTODY_VECTORS_DIR";

/// Kind shown in front of a trial that is ignored for want of the vectors.
const NEEDS_VECTORS: &str = "needs ../shared/vectors";

/// True under CI (`CI=true`), where a missing prerequisite fails the test.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// The conformance vectors directory, or why there is none.
///
/// `CUSTODY_VECTORS_DIR`, when set and not empty, is used as is (it must be a directory;
/// nothing else is searched). Otherwise: the first `shared/vectors` directory found walking
/// up from this crate's directory.
pub fn vectors_dir() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os(VECTORS_ENV).filter(|v| !v.is_empty()) {
        let dir = PathBuf::from(dir);
        return if dir.is_dir() {
            Ok(dir)
        } else {
            Err(format!(
                "{VECTORS_ENV}={} is not a directory",
                dir.display()
            ))
        };
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|dir| dir.join("shared").join("vectors"))
        .find(|candidate| candidate.is_dir())
        .ok_or_else(|| {
            format!(
                "../shared/vectors not found (no ancestor of {} has a shared/vectors directory)",
                env!("CARGO_MANIFEST_DIR")
            )
        })
}

/// The trials of one conformance test binary, each given the vectors directory.
pub struct Suite {
    vectors: Result<PathBuf, String>,
    trials: Vec<Trial>,
}

impl Suite {
    /// A suite over the vectors [`vectors_dir`] finds.
    pub fn new() -> Suite {
        Suite {
            vectors: vectors_dir(),
            trials: Vec::new(),
        }
    }

    /// Adds the test `name`, run with the vectors directory. Without the vectors it is
    /// ignored, or failed under CI; run anyway (`--include-ignored`) it fails with the reason.
    pub fn test(&mut self, name: &str, body: fn(&Path) -> TestResult) {
        let trial = match &self.vectors {
            Ok(dir) => {
                let dir = dir.clone();
                Trial::test(name, move || body(&dir).map_err(Failed::from))
            }
            Err(why) if in_ci() => {
                let message = format!("{why} (CI=true: conformance tests must not be skipped)");
                Trial::test(name, move || Err(message.into())).with_kind(NEEDS_VECTORS)
            }
            Err(why) => {
                let message = why.clone();
                Trial::test(name, move || Err(message.into()))
                    .with_kind(NEEDS_VECTORS)
                    .with_ignored_flag(true)
            }
        };
        self.trials.push(trial);
    }

    /// Runs the selected trials as the command line asks, then names what was missing if any
    /// selected trial was ignored for it.
    pub fn run(self) -> ExitCode {
        let args = Arguments::from_args();
        let ignored = self
            .trials
            .iter()
            .filter(|t| t.kind() == NEEDS_VECTORS && t.has_ignored_flag())
            .filter(|t| !args.is_filtered_out(t))
            .count();
        let conclusion = libtest_mimic::run(&args, self.trials);
        // Run anyway (`--ignored`, `--include-ignored`), they fail with the reason instead.
        let reported = !args.list && !args.ignored && !args.include_ignored;
        if let (Err(why), true, 1..) = (&self.vectors, reported, ignored) {
            let tests = if ignored == 1 { "test" } else { "tests" };
            eprintln!("note: {ignored} {tests} ignored: {why}");
        }
        conclusion.exit_code()
    }
}

/// The `main` of a conformance harness: one trial per listed test function, named after it,
/// each called with the vectors directory (see [`Suite::test`]).
macro_rules! conformance_main {
    ($($test:ident),+ $(,)?) => {
        fn main() -> std::process::ExitCode {
            let mut suite = crate::common::Suite::new();
            $(suite.test(stringify!($test), $test);)+
            suite.run()
        }
    };
}
pub(crate) use conformance_main;

/// Every file under `dir` whose name ends in `.{ext}`, recursively, sorted by path.
pub fn files_with_extension(dir: &Path, ext: &str) -> io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<io::Result<_>>()?;
    entries.sort();
    for path in entries {
        if path.is_dir() {
            found.extend(files_with_extension(&path, ext)?);
        } else if path.extension().is_some_and(|e| e == ext) {
            found.push(path);
        }
    }
    Ok(found)
}

/// Reads a file as UTF-8, naming the file in the error.
pub fn read_text(path: &Path) -> io::Result<String> {
    fs::read_to_string(path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}
