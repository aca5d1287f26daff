//! Helpers shared by the conformance tests, each a `libtest-mimic` harness: finding
//! `shared/vectors` and the external tools, and turning each test into a trial that shows as
//! **ignored** when one is missing (and **fails** under `CI=true`), never as passed.
//!
//! Without a prerequisite, `cargo test` lists the trial as `[needs WHAT] name ... ignored`
//! and the harness ends with one `note:` line per missing prerequisite.

#![allow(
    dead_code,
    reason = "each test binary uses a different subset of the helpers"
)]

use std::collections::BTreeMap;
use std::error::Error;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use libtest_mimic::{Arguments, Failed, Trial};

/// Overrides where the vectors are: when set (and not empty) it is the only place looked at,
/// so `CUSTODY_VECTORS_DIR=/nonexistent cargo test` shows the suite as it runs without them.
pub const VECTORS_ENV: &str = "CUSTODY_VECTORS_DIR";

/// Overrides the Python interpreter the reference tools run under (default `python3`), so
/// `CUSTODY_PYTHON=/nonexistent cargo test` shows the suite as it runs without them.
pub const PYTHON_ENV: &str = "CUSTODY_PYTHON";

/// What a conformance test returns: any error fails it, with the error's message.
pub type TestResult = Result<(), Box<dyn Error>>;

/// True under CI (`CI=true`), where a missing prerequisite fails the test.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// The conformance vectors directory, or why there is none.
///
/// `CUSTODY_VECTORS_DIR`, when set and not empty, is used as is (it must be a directory;
/// nothing else is searched). Otherwise: the first `shared/vectors` directory found walking
/// up from this crate's directory (`<project>/../shared/vectors`).
pub fn vectors() -> Result<PathBuf, String> {
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
        .map(|a| a.join("shared").join("vectors"))
        .find(|p| p.is_dir())
        .ok_or_else(|| {
            format!(
                "../shared/vectors not found (no ancestor of {} has a shared/vectors directory)",
                env!("CARGO_MANIFEST_DIR")
            )
        })
}

/// The Python interpreter: `CUSTODY_PYTHON` when set and not empty, else `python3`.
pub fn python() -> OsString {
    std::env::var_os(PYTHON_ENV)
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "python3".into())
}

/// Whether `<python> -c 'import module'` works.
pub fn python_has(module: &str) -> bool {
    Command::new(python())
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A prerequisite beyond the vectors, checked when the suite is built.
pub enum Need {
    /// A Python module, importable by [`python`]; `install` says how to get it.
    Python {
        /// The module name, as imported.
        module: &'static str,
        /// How to install it.
        install: &'static str,
    },
}

impl Need {
    /// The trial kind (`needs python3 module`) and why it is missing, if it is.
    fn missing(&self) -> Option<(String, String)> {
        match self {
            Need::Python { module, install } => (!python_has(module)).then(|| {
                let python = python().to_string_lossy().into_owned();
                (
                    format!("needs Python module {module}"),
                    format!("{python} cannot import {module} ({install})"),
                )
            }),
        }
    }
}

/// The trials of one conformance test binary, each given the vectors directory.
pub struct Suite {
    vectors: Result<PathBuf, String>,
    trials: Vec<Trial>,
    /// Why each kind of ignored trial was ignored.
    reasons: BTreeMap<String, String>,
}

impl Suite {
    /// A suite over the vectors [`vectors`] finds.
    pub fn new() -> Suite {
        Suite {
            vectors: vectors(),
            trials: Vec::new(),
            reasons: BTreeMap::new(),
        }
    }

    /// Adds the test `name`, which needs the vectors and everything in `needs`, and is run
    /// with the vectors directory. Without a prerequisite it is ignored, or failed under CI;
    /// run anyway (`--include-ignored`) it fails with the reason.
    pub fn test(&mut self, name: &str, needs: &[Need], body: fn(&Path) -> TestResult) {
        let ready = match &self.vectors {
            Err(why) => Err(("needs ../shared/vectors".to_owned(), why.clone())),
            Ok(dir) => match needs.iter().find_map(Need::missing) {
                Some(missing) => Err(missing),
                None => Ok(dir.clone()),
            },
        };
        let trial = match ready {
            Ok(dir) => Trial::test(name, move || body(&dir).map_err(Failed::from)),
            Err((kind, why)) if in_ci() => {
                let message = format!("{why} (CI=true: conformance tests must not be skipped)");
                Trial::test(name, move || Err(message.into())).with_kind(kind)
            }
            Err((kind, why)) => {
                self.reasons.insert(kind.clone(), why.clone());
                Trial::test(name, move || Err(why.into()))
                    .with_kind(kind)
                    .with_ignored_flag(true)
            }
        };
        self.trials.push(trial);
    }

    /// Runs the selected trials as the command line asks, then names what was missing for
    /// each kind of selected trial that was ignored for it.
    pub fn run(self) -> ExitCode {
        let args = Arguments::from_args();
        let mut ignored: BTreeMap<&str, usize> = BTreeMap::new();
        for trial in &self.trials {
            if let Some(why) = self.reasons.get(trial.kind())
                && trial.has_ignored_flag()
                && !args.is_filtered_out(trial)
            {
                *ignored.entry(why.as_str()).or_default() += 1;
            }
        }
        let conclusion = libtest_mimic::run(&args, self.trials);
        // Run anyway (`--ignored`, `--include-ignored`), they fail with the reason instead.
        if !args.list && !args.ignored && !args.include_ignored {
            for (why, count) in ignored {
                let tests = if count == 1 { "test" } else { "tests" };
                eprintln!("note: {count} {tests} ignored: {why}");
            }
        }
        conclusion.exit_code()
    }
}

/// Files under `dir` (recursively) whose name ends with `suffix`, sorted.
pub fn files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.to_string_lossy().ends_with(suffix) {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The hashes the reference implementation (`epcis-event-hash-generator`, run as
/// `<python> -m epcis_event_hash_generator -p FILE`) computes for the events of an EPCIS file,
/// or its error output when it cannot process the file.
pub fn reference_hashes(file: &Path) -> Result<Vec<String>, String> {
    let out = Command::new(python())
        .args(["-m", "epcis_event_hash_generator", "-p"])
        .arg(file)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python().to_string_lossy()))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text
        .lines()
        .filter(|l| l.starts_with("ni:///"))
        .map(str::to_owned)
        .collect())
}

/// A validator for `schema` under `draft`, with format checks, resolving only inside the
/// document (remote retrieval is not compiled in).
pub fn validator(schema: &serde_json::Value, draft: jsonschema::Draft) -> jsonschema::Validator {
    jsonschema::options()
        .with_draft(draft)
        .should_validate_formats(true)
        .build(schema)
        .expect("the schema compiles")
}

/// Every validation error of `instance`, as text.
pub fn errors(v: &jsonschema::Validator, instance: &serde_json::Value) -> Vec<String> {
    v.iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}
