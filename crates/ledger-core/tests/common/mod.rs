//! Finds the shared conformance vectors (`<project root>/../shared/vectors`) for the
//! conformance test binaries, and lists vector files in a reproducible order.

// `expect` would fail in whichever test binary uses every helper.
#![allow(
    dead_code,
    reason = "each test binary uses a different subset of the helpers"
)]

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The first `shared/vectors` directory found walking up from this crate's directory.
pub fn vectors_dir() -> Option<PathBuf> {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|dir| dir.join("shared").join("vectors"))
        .find(|candidate| candidate.is_dir())
}

/// The vectors directory, or `None` after printing why the test is skipped. With
/// `CI=true` a missing directory fails the test instead: a conformance test must not pass
/// silently where the vectors should be.
#[expect(
    clippy::panic,
    reason = "a test must fail loudly in CI when its vectors are missing"
)]
pub fn require_vectors() -> Option<PathBuf> {
    match vectors_dir() {
        Some(dir) => Some(dir),
        None if std::env::var("CI").is_ok_and(|v| v == "true") => panic!(
            "conformance vectors not found: no ancestor of {} has a shared/vectors directory",
            env!("CARGO_MANIFEST_DIR")
        ),
        None => {
            println!("skipped: ../shared/vectors not found");
            None
        }
    }
}

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
