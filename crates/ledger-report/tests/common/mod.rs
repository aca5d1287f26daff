//! Helpers shared by the conformance tests: finding `shared/vectors` and the external tools,
//! and skipping (or, under CI, failing) when one is missing.
#![allow(
    dead_code,
    reason = "each test binary uses a different subset of the helpers"
)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// True under CI, where nothing may be skipped.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Under CI: fail with `why`. Elsewhere: print "skipped: why" and return.
pub fn skip(why: &str) {
    if in_ci() {
        panic!("{why} (CI=true: conformance tests must not be skipped)");
    }
    eprintln!("skipped: {why}");
}

/// `<project>/../shared/vectors`, found by walking up from the crate directory.
pub fn vectors() -> Option<PathBuf> {
    let start = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    start
        .ancestors()
        .map(|a| a.join("shared").join("vectors"))
        .find(|p| p.is_dir())
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

/// Whether `python3 -c 'import module'` works.
pub fn python_has(module: &str) -> bool {
    Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The hashes the reference implementation (`epcis-event-hash-generator`, run as
/// `python3 -m epcis_event_hash_generator -p FILE`) computes for the events of an EPCIS file,
/// or its error output when it cannot process the file.
pub fn reference_hashes(file: &Path) -> Result<Vec<String>, String> {
    let out = Command::new("python3")
        .args(["-m", "epcis_event_hash_generator", "-p"])
        .arg(file)
        .output()
        .map_err(|e| format!("cannot run python3: {e}"))?;
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
