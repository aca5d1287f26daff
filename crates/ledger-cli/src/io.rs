//! Bounded reading of input files and stdin: nothing from outside is read without a limit.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result, bail};

/// Largest file of events or statements read, in bytes.
pub const MAX_INPUT: u64 = 256 << 20;

/// Reads `path` (or stdin for `-`) as UTF-8, refusing more than `limit` bytes.
pub fn read_text(path: &Path, limit: u64) -> Result<String> {
    let mut bytes = Vec::new();
    let shown = path.display();
    if path == Path::new("-") {
        std::io::stdin()
            .take(limit + 1)
            .read_to_end(&mut bytes)
            .context("cannot read standard input")?;
    } else {
        let file = std::fs::File::open(path).with_context(|| format!("cannot open {shown}"))?;
        file.take(limit + 1)
            .read_to_end(&mut bytes)
            .with_context(|| format!("cannot read {shown}"))?;
    }
    if bytes.len() as u64 > limit {
        bail!("{shown} is larger than the limit of {limit} bytes");
    }
    String::from_utf8(bytes).map_err(|e| {
        anyhow::anyhow!(
            "{shown} is not UTF-8 (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        )
    })
}
