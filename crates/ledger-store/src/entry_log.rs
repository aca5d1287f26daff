//! The entry log: an append-only file beside sled's own (`entries.log`) holding every log
//! entry and signed checkpoint a sled ledger stores, in order, each framed and checksummed.
//!
//! Why it exists: sled admits one process at a time, so while a writer holds a ledger no
//! other process can open its database. The entry log is plain bytes that only ever grow
//! at the end, so a reader can read it beside the writer without a lock and rebuild a
//! consistent, read-only view ([`crate::LogView`]) of the ledger as of its last
//! acknowledged append. Since storage format 6 it is also the only copy of each entry's
//! bytes: the database keeps where each one is ([`EntryAt`]), and [`EntryLog::read`] checks
//! the frame it reads.
//!
//! Why it is safe to read without a lock:
//! - An append writes its frames at the committed end, fsyncs them, and only then commits
//!   its sled batch, which records the new end (`meta/entry-log`); the acknowledged head is
//!   written after that. So the frames of every acknowledged entry are durable before the
//!   append is acknowledged, and a reader that stops at the acknowledged size never reads
//!   an entry that was not committed.
//! - Bytes before the committed end are never rewritten. A writer opening the ledger cuts
//!   what a failed or interrupted append left after the committed end; a file shorter than
//!   the committed end is damage, reported with the path and the recovery step.
//!
//! Layout (normative in `docs/format.md` §11): the header `custody-entries/1\n`, the log
//! origin and `\n`; then frames of a kind byte (1 entry, 2 checkpoint), the payload length
//! as `u32` little-endian, the payload, and `SHA-256(kind || length || payload)`. An entry's
//! payload is its canonical bytes; a checkpoint's is the tree size as `u64` little-endian
//! followed by the signed note (UTF-8). A later checkpoint frame for a size replaces an
//! earlier one, as a later `put_checkpoint` does in the database.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use ledger_core::Digest;
use ledger_core::codec;

use crate::StoreError;

/// The entry log's name inside a ledger directory.
pub(crate) const ENTRY_LOG_FILE: &str = "entries.log";

/// The first bytes of the file: the format's name and version.
const MAGIC: &[u8] = b"custody-entries/1\n";

/// The longest origin a header may hold (an origin is one line of a checkpoint).
const MAX_ORIGIN: usize = 1024;

/// The largest payload a frame may hold: an entry is at most the codec's limit, and a
/// checkpoint note is far smaller.
const MAX_PAYLOAD: usize = codec::MAX_ENCODED + 8;

const KIND_ENTRY: u8 = 1;
const KIND_CHECKPOINT: u8 = 2;

/// Bytes a frame adds around its payload: kind, length, checksum.
const FRAME_OVERHEAD: usize = 1 + 4 + 32;

/// One frame of the entry log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Frame<'a> {
    /// A log entry's canonical bytes.
    Entry(&'a [u8]),
    /// A signed checkpoint note for a tree size.
    Checkpoint { size: u64, note: &'a str },
}

impl Frame<'_> {
    /// Appends the framed bytes to `out`, copying the payload once.
    fn encode(&self, out: &mut Vec<u8>) {
        let size;
        let (kind, head, body): (u8, &[u8], &[u8]) = match self {
            Frame::Entry(bytes) => (KIND_ENTRY, &[], bytes),
            Frame::Checkpoint { size: tree, note } => {
                size = tree.to_le_bytes();
                (KIND_CHECKPOINT, &size, note.as_bytes())
            }
        };
        // Payloads come from plans and notes the store accepted: far below u32::MAX.
        let len = u32::try_from(head.len() + body.len())
            .unwrap_or(u32::MAX)
            .to_le_bytes();
        out.push(kind);
        out.extend_from_slice(&len);
        out.extend_from_slice(head);
        out.extend_from_slice(body);
        out.extend_from_slice(&checksum(kind, &len, &[head, body]).0);
    }
}

/// `SHA-256(kind || length || payload)`, the payload given in parts.
fn checksum(kind: u8, len: &[u8; 4], payload: &[&[u8]]) -> Digest {
    let kind = [kind];
    let mut parts: Vec<&[u8]> = vec![&kind, len];
    parts.extend_from_slice(payload);
    Digest::of(&parts)
}

fn header(origin: &str) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(origin.as_bytes());
    out.push(b'\n');
    out
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |error| StoreError::Io {
        path: path.to_path_buf(),
        error,
    }
}

fn damaged(path: &Path, reason: String) -> StoreError {
    StoreError::Corrupt {
        what: format!("entry log {}", path.display()),
        reason,
    }
}

/// The writer's handle on a ledger's entry log. Used only under the ledger's lock.
#[derive(Debug)]
pub(crate) struct EntryLog {
    path: PathBuf,
    file: File,
}

impl EntryLog {
    /// Creates the entry log of a new ledger with log origin `origin` (replacing one a
    /// crashed create left) and makes it durable. Returns it and its committed end.
    pub(crate) fn create(dir: &Path, origin: &str) -> Result<(EntryLog, u64), StoreError> {
        let path = dir.join(ENTRY_LOG_FILE);
        let bytes = header(origin);
        let write = || -> io::Result<File> {
            let file = File::options()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(&path)?;
            file.write_all_at(&bytes, 0)?;
            file.sync_all()?;
            File::open(dir)?.sync_all()?;
            Ok(file)
        };
        let file = write().map_err(io_error(&path))?;
        Ok((EntryLog { path, file }, bytes.len() as u64))
    }

    /// Opens the entry log of an existing ledger whose database says it is `committed`
    /// bytes long, and cuts what a failed or interrupted append left after that.
    pub(crate) fn open(dir: &Path, committed: u64) -> Result<EntryLog, StoreError> {
        let path = dir.join(ENTRY_LOG_FILE);
        let file = match File::options().read(true).write(true).open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(damaged(
                    &path,
                    "the file is missing: restore the ledger directory from a backup".into(),
                ));
            }
            Err(e) => return Err(io_error(&path)(e)),
        };
        let len = file.metadata().map_err(io_error(&path))?.len();
        if len < committed {
            return Err(damaged(
                &path,
                format!(
                    "the file holds {len} bytes but the ledger committed {committed}: it was \
                     truncated or replaced; restore the ledger directory from a backup"
                ),
            ));
        }
        if len > committed {
            file.set_len(committed)
                .and_then(|()| file.sync_all())
                .map_err(io_error(&path))?;
        }
        Ok(EntryLog { path, file })
    }

    /// Writes `frames` at the committed end `at`, cuts anything after them and makes them
    /// durable. Returns the new end, which the caller commits in the database, and where
    /// each entry frame's payload now is, in order.
    pub(crate) fn append(
        &self,
        at: u64,
        frames: &[Frame<'_>],
    ) -> Result<(u64, Vec<EntryAt>), StoreError> {
        let mut bytes = Vec::new();
        let mut entries = Vec::new();
        for frame in frames {
            if let Frame::Entry(payload) = frame {
                entries.push(EntryAt {
                    offset: at + bytes.len() as u64 + 5,
                    len: u32::try_from(payload.len()).unwrap_or(u32::MAX),
                });
            }
            frame.encode(&mut bytes);
        }
        let end = at + bytes.len() as u64;
        self.file
            .write_all_at(&bytes, at)
            .and_then(|()| self.file.set_len(end))
            .and_then(|()| self.file.sync_data())
            .map_err(io_error(&self.path))?;
        Ok((end, entries))
    }

    /// Entry `seq`, whose payload is at `at`, read back whole with its frame and checked: an
    /// entry frame of that length whose checksum matches. Anything else is damage (of the
    /// file, or of the position the database holds), reported with the path and offset.
    pub(crate) fn read(&self, seq: u64, at: EntryAt) -> Result<Vec<u8>, StoreError> {
        let bad = |why: &str| {
            damaged(
                &self.path,
                format!(
                    "entry #{seq} is not where the database says (offset {}, {} bytes): {why}",
                    at.offset, at.len
                ),
            )
        };
        let size = usize::try_from(at.len)
            .ok()
            .filter(|&size| size <= MAX_PAYLOAD)
            .ok_or_else(|| bad("over the size limit"))?;
        let start = at
            .offset
            .checked_sub(5)
            .ok_or_else(|| bad("before the first frame"))?;
        let mut frame = vec![0u8; FRAME_OVERHEAD + size];
        match self.file.read_exact_at(&mut frame, start) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                return Err(bad("the file ends first"));
            }
            Err(e) => return Err(io_error(&self.path)(e)),
        }
        let (head, rest) = frame.split_at(5);
        let (payload, sum) = rest.split_at(size);
        let len = at.len.to_le_bytes();
        if head[0] != KIND_ENTRY || head[1..] != len {
            return Err(bad("another frame starts there"));
        }
        if checksum(KIND_ENTRY, &len, &[payload]).0 != sum {
            return Err(bad("the frame's checksum does not match"));
        }
        frame.truncate(5 + size);
        frame.drain(..5);
        Ok(frame)
    }
}

/// Where an entry's bytes are in the entry log: the offset of its frame's payload and its
/// length. The database keeps one for each entry (`e/` records, storage format 6), so the
/// entry log holds the only copy of every entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct EntryAt {
    /// The payload's offset in the file.
    pub(crate) offset: u64,
    /// The payload's length.
    pub(crate) len: u32,
}

/// A frame read back, owned, with where it starts in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ReadFrame {
    /// An entry: the file offset and length of its bytes.
    Entry { offset: u64, len: u32 },
    /// A checkpoint.
    Checkpoint { size: u64, note: String },
}

/// Reads an entry log from its start, frame by frame, checking every checksum.
pub(crate) struct Reader {
    path: PathBuf,
    input: BufReader<File>,
    offset: u64,
}

/// How a read of the next frame ended.
pub(crate) enum Next {
    /// A complete frame.
    Frame(ReadFrame),
    /// The end of the file, or a frame that is not complete or does not check: where an
    /// append in progress is writing, or what a failed one left.
    End { offset: u64, why: String },
}

impl Reader {
    /// Opens the entry log in `dir` and reads its header: returns the reader and the
    /// log origin.
    pub(crate) fn open(dir: &Path) -> Result<(Reader, String), StoreError> {
        let path = dir.join(ENTRY_LOG_FILE);
        let file = File::open(&path).map_err(io_error(&path))?;
        let mut input = BufReader::with_capacity(1 << 20, file);
        let mut magic = [0u8; MAGIC.len()];
        input
            .read_exact(&mut magic)
            .map_err(|e| damaged(&path, format!("no complete header: {e}")))?;
        if magic != MAGIC {
            return Err(damaged(
                &path,
                "the file does not start with custody-entries/1".into(),
            ));
        }
        let mut origin = Vec::new();
        loop {
            let mut byte = [0u8];
            input
                .read_exact(&mut byte)
                .map_err(|e| damaged(&path, format!("the header's origin line ends early: {e}")))?;
            if byte[0] == b'\n' {
                break;
            }
            if origin.len() >= MAX_ORIGIN {
                return Err(damaged(
                    &path,
                    format!("the origin is over {MAX_ORIGIN} bytes"),
                ));
            }
            origin.push(byte[0]);
        }
        let origin = String::from_utf8(origin)
            .map_err(|_| damaged(&path, "the origin is not UTF-8".into()))?;
        let offset = (MAGIC.len() + origin.len() + 1) as u64;
        Ok((
            Reader {
                path,
                input,
                offset,
            },
            origin,
        ))
    }

    /// The entry log's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the next frame. Any I/O error other than the end of the file is an error.
    pub(crate) fn next(&mut self) -> Result<Next, StoreError> {
        let start = self.offset;
        let end = |why: &str| Next::End {
            offset: start,
            why: why.to_string(),
        };
        let mut head = [0u8; 5];
        match read_full(&mut self.input, &mut head).map_err(io_error(&self.path))? {
            0 => return Ok(end("the end of the file")),
            n if n < head.len() => return Ok(end("a frame cut short")),
            _ => {}
        }
        let kind = head[0];
        let len_bytes = [head[1], head[2], head[3], head[4]];
        let len = u32::from_le_bytes(len_bytes);
        let Ok(size) = usize::try_from(len) else {
            return Ok(end("a frame length out of range"));
        };
        if size > MAX_PAYLOAD || !matches!(kind, KIND_ENTRY | KIND_CHECKPOINT) {
            return Ok(end("a frame of unknown kind or over the size limit"));
        }
        let mut payload = vec![0u8; size];
        let mut sum = [0u8; 32];
        if read_full(&mut self.input, &mut payload).map_err(io_error(&self.path))? < size
            || read_full(&mut self.input, &mut sum).map_err(io_error(&self.path))? < sum.len()
        {
            return Ok(end("a frame cut short"));
        }
        if checksum(kind, &len_bytes, &[&payload]).0 != sum {
            return Ok(end("a frame whose checksum does not match"));
        }
        self.offset = start + (FRAME_OVERHEAD + size) as u64;
        let frame = if kind == KIND_ENTRY {
            ReadFrame::Entry {
                offset: start + 5,
                len,
            }
        } else {
            let Some((size, note)) = payload.split_first_chunk::<8>() else {
                return Ok(end("a checkpoint frame without a tree size"));
            };
            let Ok(note) = std::str::from_utf8(note) else {
                return Ok(end("a checkpoint note that is not UTF-8"));
            };
            ReadFrame::Checkpoint {
                size: u64::from_le_bytes(*size),
                note: note.to_string(),
            }
        };
        Ok(Next::Frame(frame))
    }
}

/// Reads until `buf` is full or the input ends; returns how many bytes were read.
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Reads the `len` bytes of an entry at `offset` of `file` (located by a [`Reader`]).
pub(crate) fn read_entry(
    path: &Path,
    file: &File,
    offset: u64,
    len: u32,
) -> Result<Vec<u8>, StoreError> {
    let size =
        usize::try_from(len).map_err(|_| damaged(path, "an entry over the size limit".into()))?;
    let mut bytes = vec![0u8; size];
    file.read_exact_at(&mut bytes, offset)
        .map_err(io_error(path))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames_of(dir: &Path) -> (String, Vec<ReadFrame>, String) {
        let (mut reader, origin) = Reader::open(dir).unwrap();
        let mut frames = Vec::new();
        loop {
            match reader.next().unwrap() {
                Next::Frame(f) => frames.push(f),
                Next::End { why, .. } => return (origin, frames, why),
            }
        }
    }

    #[test]
    fn frames_read_back_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let (log, start) = EntryLog::create(dir.path(), "example.org/log").unwrap();
        let (end, placed) = log
            .append(
                start,
                &[
                    Frame::Entry(b"first"),
                    Frame::Checkpoint {
                        size: 1,
                        note: "note\n",
                    },
                    Frame::Entry(b"second"),
                ],
            )
            .unwrap();
        let (origin, frames, why) = frames_of(dir.path());
        assert_eq!(origin, "example.org/log");
        assert_eq!(why, "the end of the file");
        assert_eq!(
            frames,
            vec![
                ReadFrame::Entry {
                    offset: start + 5,
                    len: 5
                },
                ReadFrame::Checkpoint {
                    size: 1,
                    note: "note\n".into()
                },
                ReadFrame::Entry {
                    offset: placed[1].offset,
                    len: 6
                },
            ]
        );
        assert_eq!(
            placed[0],
            EntryAt {
                offset: start + 5,
                len: 5
            }
        );
        assert_eq!(log.read(0, placed[0]).unwrap(), b"first");
        assert_eq!(log.read(1, placed[1]).unwrap(), b"second");
        let file = File::open(dir.path().join(ENTRY_LOG_FILE)).unwrap();
        assert_eq!(
            read_entry(dir.path(), &file, start + 5, 5).unwrap(),
            b"first"
        );
        assert_eq!(file.metadata().unwrap().len(), end);
    }

    #[test]
    fn frame_bytes_are_as_docs_format_says() {
        // docs/format.md §11: kind, u32 LE length, payload, SHA-256 of the three.
        let mut out = Vec::new();
        Frame::Checkpoint { size: 2, note: "n" }.encode(&mut out);
        let body = [&[2u8][..], &[9, 0, 0, 0], &[2, 0, 0, 0, 0, 0, 0, 0], b"n"].concat();
        assert_eq!(out[..body.len()], body[..]);
        assert_eq!(out[body.len()..], Digest::of(&[&body]).0[..]);
        assert_eq!(header("o"), b"custody-entries/1\no\n");
    }

    #[test]
    fn a_torn_or_damaged_tail_ends_the_frames() {
        let dir = tempfile::tempdir().unwrap();
        let (log, start) = EntryLog::create(dir.path(), "o").unwrap();
        let (end, _) = log
            .append(start, &[Frame::Entry(b"one"), Frame::Entry(b"two")])
            .unwrap();
        let path = dir.path().join(ENTRY_LOG_FILE);
        let file = File::options().write(true).open(&path).unwrap();
        file.set_len(end - 1).unwrap();
        let (_, frames, why) = frames_of(dir.path());
        assert_eq!((frames.len(), why.as_str()), (1, "a frame cut short"));
        file.set_len(end).unwrap();
        file.write_all_at(b"X", end - 1).unwrap();
        let (_, frames, why) = frames_of(dir.path());
        assert_eq!(
            (frames.len(), why.as_str()),
            (1, "a frame whose checksum does not match")
        );
    }

    #[test]
    fn open_cuts_an_uncommitted_tail_and_refuses_a_short_file() {
        let dir = tempfile::tempdir().unwrap();
        let (log, start) = EntryLog::create(dir.path(), "o").unwrap();
        let (one, _) = log.append(start, &[Frame::Entry(b"one")]).unwrap();
        log.append(one, &[Frame::Entry(b"uncommitted")]).unwrap();
        drop(log);
        EntryLog::open(dir.path(), one).unwrap();
        let (_, frames, _) = frames_of(dir.path());
        assert_eq!(frames.len(), 1);
        let err = EntryLog::open(dir.path(), one + 1).unwrap_err().to_string();
        assert!(
            err.contains("entries.log") && err.contains("restore"),
            "{err}"
        );
        std::fs::remove_file(dir.path().join(ENTRY_LOG_FILE)).unwrap();
        let err = EntryLog::open(dir.path(), one).unwrap_err().to_string();
        assert!(err.contains("missing"), "{err}");
    }

    #[test]
    fn a_foreign_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(ENTRY_LOG_FILE), b"not a custody entry log").unwrap();
        let err = Reader::open(dir.path()).err().unwrap().to_string();
        assert!(err.contains("custody-entries/1"), "{err}");
    }

    /// A read checks the frame it lands on: a changed byte, a position off by one, a
    /// checkpoint frame, a length that is not the frame's, or one past the end is damage
    /// naming the file and offset, never other bytes.
    #[test]
    fn a_read_returns_only_the_entry_frame_it_was_given() {
        let dir = tempfile::tempdir().unwrap();
        let (log, start) = EntryLog::create(dir.path(), "o").unwrap();
        let (end, placed) = log
            .append(
                start,
                &[
                    Frame::Entry(b"payload"),
                    Frame::Checkpoint { size: 1, note: "n" },
                ],
            )
            .unwrap();
        let at = placed[0];
        let checkpoint = EntryAt {
            offset: at.offset + 7 + 32 + 5,
            len: 9,
        };
        for (wrong, why) in [
            (
                EntryAt {
                    offset: at.offset + 1,
                    ..at
                },
                "another frame",
            ),
            (EntryAt { len: 6, ..at }, "another frame"),
            (checkpoint, "another frame"),
            (EntryAt { offset: 2, ..at }, "before the first frame"),
            (EntryAt { offset: end, ..at }, "the file ends first"),
            (
                EntryAt {
                    len: u32::MAX,
                    ..at
                },
                "over the size limit",
            ),
        ] {
            let e = log.read(0, wrong).unwrap_err().to_string();
            assert!(
                e.contains("entries.log") && e.contains(why),
                "{wrong:?}: {e}"
            );
        }
        let file = File::options()
            .write(true)
            .open(dir.path().join(ENTRY_LOG_FILE))
            .unwrap();
        file.write_all_at(b"P", at.offset + 1).unwrap();
        let e = log.read(0, at).unwrap_err().to_string();
        assert!(
            e.contains("checksum") && e.contains(&at.offset.to_string()),
            "{e}"
        );
    }
}
