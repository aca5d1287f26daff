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

/// Writes one line to standard output. A closed pipe (`custody show --json | head -c 10`)
/// ends the process quietly with success instead of a panic; another write error ends it
/// with the input/output error code.
pub fn write_stdout(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.write_all(b"\n")) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(i32::from(crate::exit::SUCCESS));
        }
        eprintln!("error: cannot write to standard output: {e}");
        std::process::exit(i32::from(crate::exit::ERROR));
    }
}

/// `println!` that survives a closed pipe: see [`write_stdout`].
#[macro_export]
macro_rules! outln {
    () => {
        $crate::io::write_stdout(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::io::write_stdout(format_args!($($arg)*))
    };
}

/// Set in a child's environment to make it report its peak memory on standard error
/// (`custody bench` measures whole-ledger verify this way, in a fresh process).
pub const PEAK_RSS_ENV: &str = "CUSTODY_REPORT_PEAK_RSS";

/// The line prefix of that report.
pub const PEAK_RSS_PREFIX: &str = "custody-peak-rss-kb: ";

/// This process's peak resident memory in kilobytes (Linux `VmHWM`), if known.
pub fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A progress bar for `len` steps of long work. It draws on standard error only when that
/// is a terminal, so piped and scripted runs stay quiet.
pub fn progress(len: u64, what: &'static str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(len),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{msg} {wide_bar} {pos}/{len} ({per_sec}, {eta})")
    {
        bar.set_style(style);
    }
    bar.set_message(what);
    bar
}
