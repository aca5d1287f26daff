//! `custody append`: signed statements in, one all-or-nothing batch out.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use ledger::{Error, Ledger, Receipt};
use ledger_core::statement::Statement;
use ledger_store_postgres::AnyStore;

use crate::cli::AppendArgs;
use crate::commands::{close, open, print_json};
use crate::{exit, io};

/// Batches at least this large show a progress bar while they are appended.
const PROGRESS_FROM: u64 = 10_000;

/// Appends `statements` now, closes the ledger, and only then prints the receipts (or the
/// findings that refused them); returns the exit code. The statements are read as the
/// append takes them and the receipts made and printed one at a time
/// ([`Ledger::append_stream`]): a large batch is never held whole, nor an inclusion proof
/// per statement, nor its whole `--json` output.
pub fn append_and_print(
    ledger: Ledger<AnyStore>,
    statements: impl Iterator<Item = ledger::Result<Statement>>,
    json: bool,
    verbose: bool,
) -> Result<u8> {
    let progress = io::TerminalProgress::from(PROGRESS_FROM);
    let outcome = ledger.append_stream(statements, ledger::now()?, &progress);
    close(ledger)?;
    match outcome {
        Ok(receipts) => print_receipts(receipts, json, verbose),
        Err(Error::Refused(refused)) => {
            if json {
                let findings: Vec<_> = refused
                    .findings
                    .iter()
                    .map(|(i, f)| serde_json::json!({ "statement": i + 1, "finding": f }))
                    .collect();
                print_json(&serde_json::json!({ "accepted": false, "refused": findings }))?;
            } else {
                eprintln!("refused: nothing was appended");
                for (i, f) in &refused.findings {
                    let id = f.event.map(|e| e.to_hex()).unwrap_or_default();
                    eprintln!(
                        "  statement {} ({}): {} {}",
                        i + 1,
                        &id[..id.len().min(16)],
                        f.rule.code(),
                        f.message
                    );
                }
            }
            Ok(exit::FAILED)
        }
        Err(e) => Err(e.into()),
    }
}

/// A batch larger than this prints its first receipts and a summary line (all of them
/// with `--verbose` or `--json`).
const RECEIPT_LINES: usize = 20;

fn print_receipts(
    mut receipts: impl ExactSizeIterator<Item = ledger::Result<Receipt>>,
    json: bool,
    verbose: bool,
) -> Result<u8> {
    if json {
        json_receipts(receipts, &mut io::write_stdout_bytes)?;
        return Ok(exit::SUCCESS);
    }
    let total = receipts.len();
    let shown = if verbose || total <= RECEIPT_LINES {
        total
    } else {
        RECEIPT_LINES
    };
    let mut first = None;
    for r in receipts.by_ref().take(shown) {
        let r = r?;
        first.get_or_insert(r.seq);
        crate::outln!("appended #{} {}", r.seq, r.id);
    }
    if let Some(first) = first
        && shown < total
    {
        // A batch's positions are consecutive.
        crate::outln!(
            "… and {} more: appended {} statements, #{} to #{} (every receipt with --verbose or --json)",
            total - shown,
            total,
            first,
            first + (total as u64 - 1)
        );
    }
    Ok(exit::SUCCESS)
}

/// Bytes of `--json` output gathered before each write.
const JSON_CHUNK: usize = 1 << 16;

/// Writes `{"accepted":true,"receipts":[…]}` and a newline to `sink`, a chunk at a time,
/// byte for byte what [`print_json`] prints for that value with every receipt in it: each
/// receipt goes through a [`serde_json::Value`] as it did there, so its fields keep that
/// order.
fn json_receipts(
    receipts: impl Iterator<Item = ledger::Result<Receipt>>,
    sink: &mut dyn FnMut(&[u8]),
) -> Result<()> {
    let empty = serde_json::to_string(&serde_json::json!({ "accepted": true, "receipts": [] }))?;
    let Some((before, after)) = empty.split_once("[]") else {
        bail!("cannot frame the receipts as JSON");
    };
    let mut out = Vec::with_capacity(2 * JSON_CHUNK);
    out.extend_from_slice(before.as_bytes());
    out.push(b'[');
    for (i, receipt) in receipts.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut out, &serde_json::to_value(receipt?)?)?;
        if out.len() >= JSON_CHUNK {
            sink(&out);
            out.clear();
        }
    }
    out.push(b']');
    out.extend_from_slice(after.as_bytes());
    out.push(b'\n');
    sink(&out);
    Ok(())
}

/// Runs `custody append`. The files are counted first (a quick read, which leaves them in
/// the page cache for the append's own), so that an empty or oversized batch is refused
/// before the ledger opens and the progress bar knows its length; stdin is read once.
pub fn run(dir: &Path, args: AppendArgs) -> Result<u8> {
    let mut total = 0;
    for file in args.files.iter().filter(|f| !is_stdin(f)) {
        total += io::count_lines(file, ledger::MAX_STATEMENT_LINE)?;
        if total > ledger::MAX_BATCH {
            bail!("more than {} statements in one batch", ledger::MAX_BATCH);
        }
    }
    if total == 0 && !args.files.iter().any(|f| is_stdin(f)) {
        bail!("no statements to append");
    }
    let statements = Files {
        files: args.files.into_iter(),
        current: None,
        left: total,
    };
    append_and_print(open(dir)?, statements, args.json, args.verbose)
}

fn is_stdin(path: &Path) -> bool {
    path == Path::new("-")
}

/// The statements of `files`, in order, each file opened once the one before is read to
/// its end (`-` is stdin).
struct Files {
    files: std::vec::IntoIter<PathBuf>,
    current: Option<ledger::StatementLines<Box<dyn BufRead>>>,
    /// The statement lines [`run`] counted in the files, less those read: the size hint.
    left: usize,
}

impl Iterator for Files {
    type Item = ledger::Result<Statement>;

    fn next(&mut self) -> Option<ledger::Result<Statement>> {
        loop {
            if let Some(item) = self.current.as_mut().and_then(Iterator::next) {
                self.left = self.left.saturating_sub(1);
                return Some(item);
            }
            let path = self.files.next()?;
            let shown = path.display().to_string();
            let input: Box<dyn BufRead> = if is_stdin(&path) {
                Box::new(std::io::stdin().lock())
            } else {
                match std::fs::File::open(&path) {
                    Ok(file) => Box::new(BufReader::with_capacity(1 << 16, file)),
                    Err(e) => {
                        self.files = Vec::new().into_iter();
                        return Some(Err(Error::BadInput(format!("cannot open {shown}: {e}"))));
                    }
                }
            };
            self.current = Some(ledger::StatementLines::new(input, shown));
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger_core::hash::Digest;

    fn receipt(seq: u64) -> Receipt {
        let digest = |tag: u8| Digest::of(&[&[tag], &seq.to_be_bytes()]);
        Receipt {
            id: digest(0),
            seq,
            leaf_hash: digest(1),
            tree_size: 10_000,
            root: digest(2),
            inclusion_path: (0..(seq % 17) as u8).map(digest).collect(),
        }
    }

    /// The streamed `--json` output is what one `print_json` of the whole value printed.
    #[test]
    fn streamed_json_receipts_are_the_whole_value_printed_at_once() {
        for n in [1, 2, 3, 700, 2_000] {
            let receipts: Vec<Receipt> = (40..40 + n).map(receipt).collect();
            let whole = serde_json::to_string(&serde_json::json!({
                "accepted": true,
                "receipts": receipts,
            }))
            .unwrap()
                + "\n";
            let mut chunks = Vec::new();
            json_receipts(receipts.into_iter().map(Ok), &mut |chunk: &[u8]| {
                chunks.push(chunk.to_vec())
            })
            .unwrap();
            assert_eq!(String::from_utf8(chunks.concat()).unwrap(), whole);
            assert!(chunks.iter().all(|c| c.len() < 2 * JSON_CHUNK));
        }
    }
}
