//! Bounded reading of input files and stdin: nothing from outside is read without a limit.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result, bail};

/// Largest file of events or statements read, in bytes.
pub const MAX_INPUT: u64 = 256 << 20;

/// The lines of `path` that hold more than whitespace: its statements, if it is a file of
/// signed statements. Read in blocks, so a file of any size takes a block of memory; a line
/// longer than `max_line` bytes is refused here, naming it, before anything else is done.
pub fn count_lines(path: &Path, max_line: usize) -> Result<usize> {
    use std::io::BufRead;
    let shown = path.display();
    let file = std::fs::File::open(path).with_context(|| format!("cannot open {shown}"))?;
    let mut input = std::io::BufReader::with_capacity(1 << 16, file);
    // Statements so far, lines so far, the current line's length and whether it holds more
    // than whitespace.
    let (mut statements, mut line, mut length, mut filled) = (0, 1usize, 0usize, false);
    loop {
        let block = input
            .fill_buf()
            .with_context(|| format!("cannot read {shown}"))?;
        if block.is_empty() {
            return Ok(statements + usize::from(filled));
        }
        for &byte in block {
            if byte == b'\n' {
                statements += usize::from(filled);
                (line, length, filled) = (line + 1, 0, false);
                continue;
            }
            length += 1;
            if length > max_line {
                bail!("{shown}:{line}: longer than {max_line} bytes");
            }
            filled |= !byte.is_ascii_whitespace();
        }
        let read = block.len();
        input.consume(read);
    }
}

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
        // A file over the limit is refused before any of it is read.
        if let Ok(meta) = file.metadata()
            && meta.is_file()
            && meta.len() > limit
        {
            bail!(
                "{shown} is {} bytes, larger than the limit of {limit} bytes",
                meta.len()
            );
        }
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

/// Writes `bytes` to `path` so that a reader (or a crash) sees the old file or the whole new
/// one, never a part: written to `path.tmp` beside it, fsynced, renamed over `path`, and
/// the directory fsynced. A failure removes the temporary file and leaves `path` as it was.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut temp = path.as_os_str().to_owned();
    temp.push(".tmp");
    let temp = std::path::PathBuf::from(temp);
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_file(&temp);
        return Err(anyhow::anyhow!(
            "cannot write {}: {}",
            path.display(),
            ledger_store::describe_io(&e)
        ));
    }
    std::fs::rename(&temp, path).map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        anyhow::anyhow!(
            "cannot write {}: {}",
            path.display(),
            ledger_store::describe_io(&e)
        )
    })?;
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot sync {}: {}",
                dir.display(),
                ledger_store::describe_io(&e)
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

/// Writes `bytes` to standard output as they are, surviving a closed pipe like
/// [`write_stdout`].
pub fn write_stdout_bytes(bytes: &[u8]) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(bytes).and_then(|()| out.flush()) {
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

/// This process's peak resident memory in kilobytes (Linux `VmHWM`), if known.
pub fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The engine's progress, drawn as a bar on standard error when that is a terminal (piped
/// and scripted runs stay quiet), for work of at least `min` steps.
pub struct TerminalProgress {
    min: u64,
    bar: std::sync::Mutex<Option<indicatif::ProgressBar>>,
}

impl TerminalProgress {
    /// Progress shown for work of at least `min` steps.
    pub fn from(min: u64) -> TerminalProgress {
        TerminalProgress {
            min,
            bar: std::sync::Mutex::new(None),
        }
    }

    fn bar(&self) -> std::sync::MutexGuard<'_, Option<indicatif::ProgressBar>> {
        // The bar guards no invariant: a poisoned lock is taken over as is.
        self.bar
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl ledger::Progress for TerminalProgress {
    fn start(&self, what: &'static str, total: u64) {
        if total < self.min {
            return;
        }
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(total),
            indicatif::ProgressDrawTarget::stderr(),
        );
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{msg} {wide_bar} {pos}/{len} ({per_sec}, {eta})",
        ) {
            bar.set_style(style);
        }
        bar.set_message(what);
        *self.bar() = Some(bar);
    }

    fn advance(&self, steps: u64) {
        if let Some(bar) = &*self.bar() {
            bar.inc(steps);
        }
    }

    fn finish(&self) {
        if let Some(bar) = self.bar().take() {
            bar.finish_and_clear();
        }
    }
}
