//! The witness's durable memory: for each log origin, the latest checkpoint it cosigned.
//! A witness that forgets (or half-remembers) what it cosigned could be led to cosign a
//! fork, so every cosignature is returned only after its checkpoint is on stable storage,
//! and the check against the stored checkpoint and the store happen under one lock.
//!
//! # Layout
//!
//! A state directory holds `witness.lock` (an exclusive `flock` for the life of the
//! process: one witness per directory) and one file per log,
//! `<hex SHA-256 of the origin>.cosigned`:
//!
//! ```text
//! custody-witness-state/v1\n
//! sha256 <64 lowercase hex digits: SHA-256 of the note below>\n
//! <the cosigned checkpoint note, exactly as it was submitted>
//! ```
//!
//! The size and root are read back from the note's checkpoint text, whose origin must be
//! the one the file is named for. A file larger than [`MAX_STATE_FILE`], with another
//! first line, a checksum that does not match, or a note that is not a checkpoint of that
//! origin is refused as damaged, naming the file; the witness then cosigns nothing for
//! that log until an operator repairs it.
//!
//! # Crash guarantee
//!
//! [`Update::store`] writes `<file>.tmp` beside the file, fsyncs it, renames it over the
//! file and fsyncs the directory before it returns, and the witness answers only after
//! that. A process killed at any point leaves either the old file or the new one (a
//! leftover `.tmp` is ignored and overwritten), and any cosignature it returned is for the
//! checkpoint on disk or an earlier one consistent with it.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use ledger_core::hash::Digest;
use ledger_core::note::{Checkpoint, MAX_NOTE_SIZE};

/// The first line of every state file.
const HEADER: &str = "custody-witness-state/v1\n";

/// The largest state file read back: the header, the checksum line and a note.
pub const MAX_STATE_FILE: usize = MAX_NOTE_SIZE + 128;

/// The lock file that keeps a second witness process out of the directory.
const LOCK_FILE: &str = "witness.lock";

/// A checkpoint the witness cosigned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cosigned {
    /// The tree size.
    pub size: u64,
    /// The root hash at that size.
    pub root: Digest,
    /// The signed checkpoint note as submitted.
    pub note: String,
}

/// Why the state could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// A file system operation failed.
    #[error("cannot {what} {}: {error}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The error.
        error: std::io::Error,
    },
    /// Another process holds the state directory.
    #[error("witness state {} is in use by another process", path.display())]
    InUse {
        /// The state directory.
        path: PathBuf,
    },
    /// A state file is not what this witness writes.
    #[error("witness state file {} is damaged: {reason}", path.display())]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

/// The state directory, held for the life of the value.
#[derive(Debug)]
pub struct State {
    dir: PathBuf,
    /// Held for its `flock`.
    _lock: File,
    /// What is on disk, per origin, as far as it was read: `None` for a log never cosigned.
    /// Its lock is the one around every check-and-store.
    cache: Mutex<HashMap<String, Option<Cosigned>>>,
}

/// The stored checkpoint of one log, locked: the caller compares and then stores, and no
/// other update of any log runs in between.
pub struct Update<'a> {
    state: &'a State,
    cache: MutexGuard<'a, HashMap<String, Option<Cosigned>>>,
    origin: String,
    current: Option<Cosigned>,
}

impl State {
    /// Opens (creating if needed) the state directory `dir` and locks it.
    pub fn open(dir: &Path) -> Result<State, StateError> {
        let io = |what, path: &Path| {
            let path = path.to_owned();
            move |error| StateError::Io { what, path, error }
        };
        fs::create_dir_all(dir).map_err(io("create", dir))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io("open", &lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(StateError::InUse {
                    path: dir.to_owned(),
                });
            }
            Err(fs::TryLockError::Error(error)) => {
                return Err(StateError::Io {
                    what: "lock",
                    path: lock_path,
                    error,
                });
            }
        }
        Ok(State {
            dir: dir.to_owned(),
            _lock: lock,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The file that holds `origin`'s latest cosigned checkpoint.
    pub fn file(&self, origin: &str) -> PathBuf {
        let name = Digest::of(&[origin.as_bytes()]).to_hex();
        self.dir.join(format!("{name}.cosigned"))
    }

    /// Locks the state and reads `origin`'s latest cosigned checkpoint, for an update.
    pub fn update(&self, origin: &str) -> Result<Update<'_>, StateError> {
        let mut cache = self.cache.lock().unwrap_or_else(|poisoned| {
            // A panic mid-update may have left the cache behind the disk: forget it and
            // read the files again, which are the truth.
            let mut cache = PoisonError::into_inner(poisoned);
            cache.clear();
            cache
        });
        self.cache.clear_poison();
        let current = match cache.get(origin) {
            Some(known) => known.clone(),
            None => {
                let read = self.read(origin)?;
                cache.insert(origin.to_owned(), read.clone());
                read
            }
        };
        Ok(Update {
            state: self,
            cache,
            origin: origin.to_owned(),
            current,
        })
    }

    /// `origin`'s latest cosigned checkpoint, if any.
    pub fn latest(&self, origin: &str) -> Result<Option<Cosigned>, StateError> {
        Ok(self.update(origin)?.current)
    }

    /// Reads `origin`'s file, bounded, refusing a damaged one.
    fn read(&self, origin: &str) -> Result<Option<Cosigned>, StateError> {
        let path = self.file(origin);
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => {
                return Err(StateError::Io {
                    what: "open",
                    path,
                    error,
                });
            }
        };
        let mut bytes = Vec::new();
        let limit = u64::try_from(MAX_STATE_FILE).unwrap_or(u64::MAX);
        file.take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(|error| StateError::Io {
                what: "read",
                path: path.clone(),
                error,
            })?;
        decode(&bytes, origin)
            .map(Some)
            .map_err(|reason| StateError::Damaged { path, reason })
    }
}

/// The bytes of a state file holding `note`.
fn encode(note: &str) -> String {
    let sum = Digest::of(&[note.as_bytes()]).to_hex();
    format!("{HEADER}sha256 {sum}\n{note}")
}

/// Reads a state file for `origin`; the error says what is wrong.
fn decode(bytes: &[u8], origin: &str) -> Result<Cosigned, String> {
    if bytes.len() > MAX_STATE_FILE {
        return Err(format!("it is larger than {MAX_STATE_FILE} bytes"));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| "it is not utf-8".to_owned())?;
    let rest = text
        .strip_prefix(HEADER)
        .ok_or_else(|| format!("its first line is not {:?}", HEADER.trim_end()))?;
    let (sum_line, note) = rest
        .split_once('\n')
        .ok_or_else(|| "it has no checksum line".to_owned())?;
    let sum = sum_line
        .strip_prefix("sha256 ")
        .ok_or_else(|| "its second line is not `sha256 <hex>`".to_owned())?;
    if sum != Digest::of(&[note.as_bytes()]).to_hex() {
        return Err("the note does not match its sha256 checksum".into());
    }
    let split = note
        .rfind("\n\n")
        .ok_or_else(|| "the note has no signature lines".to_owned())?;
    let body = note.get(..=split).unwrap_or_default();
    let checkpoint = Checkpoint::parse(body, Some(origin))
        .map_err(|e| format!("the note is not a checkpoint of {origin}: {e}"))?;
    Ok(Cosigned {
        size: checkpoint.size(),
        root: *checkpoint.root(),
        note: note.to_owned(),
    })
}

impl Update<'_> {
    /// The latest checkpoint cosigned for the log, `None` if there is none.
    pub fn current(&self) -> Option<&Cosigned> {
        self.current.as_ref()
    }

    /// Makes `cosigned` the log's latest cosigned checkpoint, durably (see the module
    /// documentation), and releases the lock.
    pub fn store(mut self, cosigned: Cosigned) -> Result<(), StateError> {
        let path = self.state.file(&self.origin);
        let mut temp = path.clone().into_os_string();
        temp.push(".tmp");
        let temp = PathBuf::from(temp);
        let io = |what, path: &Path| {
            let path = path.to_owned();
            move |error| StateError::Io { what, path, error }
        };
        // Until the rename succeeds the cache must not claim the new state.
        self.cache.remove(&self.origin);
        let mut file = File::create(&temp).map_err(io("create", &temp))?;
        file.write_all(encode(&cosigned.note).as_bytes())
            .map_err(io("write", &temp))?;
        file.sync_all().map_err(io("fsync", &temp))?;
        drop(file);
        fs::rename(&temp, &path).map_err(io("rename into place", &path))?;
        File::open(&self.state.dir)
            .and_then(|dir| dir.sync_all())
            .map_err(io("fsync the directory", &self.state.dir))?;
        self.cache.insert(self.origin.clone(), Some(cosigned));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn note(origin: &str, size: u64, root: u8) -> String {
        let root = base64::engine::general_purpose::STANDARD.encode([root; 32]);
        format!("{origin}\n{size}\n{root}\n\n\u{2014} {origin} AAAAAQ==\n")
    }

    fn cosigned(origin: &str, size: u64, root: u8) -> Cosigned {
        Cosigned {
            size,
            root: Digest([root; 32]),
            note: note(origin, size, root),
        }
    }

    #[test]
    fn a_stored_checkpoint_reads_back_after_a_reopen() -> Result<(), StateError> {
        let dir = tempfile::tempdir().unwrap();
        let state = State::open(dir.path())?;
        assert_eq!(state.latest("example.com/log")?, None);
        let one = cosigned("example.com/log", 5, 1);
        state.update("example.com/log")?.store(one.clone())?;
        assert_eq!(state.latest("example.com/log")?, Some(one.clone()));
        let two = cosigned("example.com/log", 9, 2);
        state.update("example.com/log")?.store(two.clone())?;
        assert_eq!(state.latest("other.example/log")?, None);
        drop(state);
        let state = State::open(dir.path())?;
        assert_eq!(state.latest("example.com/log")?, Some(two));
        let leftovers = fs::read_dir(dir.path())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .count();
        assert_eq!(leftovers, 0);
        Ok(())
    }

    #[test]
    fn fail_a_second_process_is_kept_out_of_the_directory() -> Result<(), StateError> {
        let dir = tempfile::tempdir().unwrap();
        let _held = State::open(dir.path())?;
        // flock locks belong to open file descriptions: a second open is refused like
        // another process would be.
        let second = State::open(dir.path());
        assert!(
            matches!(second, Err(StateError::InUse { .. })),
            "{second:?}"
        );
        Ok(())
    }

    #[test]
    fn fail_damaged_state_files_are_refused_naming_the_file() -> Result<(), StateError> {
        let dir = tempfile::tempdir().unwrap();
        let origin = "example.com/log";
        let good = encode(&note(origin, 5, 1));
        let flipped_root = good.replacen("AQEB", "AQEC", 1);
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (Vec::new(), "first line"),
            (
                good.get(..good.len() - 3).unwrap_or_default().into(),
                "checksum",
            ),
            (flipped_root.into_bytes(), "checksum"),
            (good.replacen("v1", "v9", 1).into_bytes(), "first line"),
            (vec![0xff; 10], "utf-8"),
            (vec![b'x'; MAX_STATE_FILE + 1], "larger"),
            (
                encode(&note("other.example/log", 5, 1)).into_bytes(),
                "not a checkpoint of",
            ),
            (
                encode("example.com/log\n5\n").into_bytes(),
                "no signature lines",
            ),
        ];
        for (bytes, reason) in cases {
            let state = State::open(dir.path())?;
            let file = state.file(origin);
            fs::write(&file, &bytes).unwrap();
            let error = state.latest(origin).unwrap_err().to_string();
            assert!(error.contains(&file.display().to_string()), "{error}");
            assert!(
                error.contains("damaged") && error.contains(reason),
                "{error}"
            );
        }
        Ok(())
    }
}
