//! sled against redb under Custody's write pattern, in one process run, printed as one table.
//!
//! **Why** (issue 13, item 4): sled stays Custody's embedded store unless figures show it
//! cannot reach the targets: bulk append of at least 50,000 events/s made durable, under
//! 1 KB on disk per event, and a fast open at 10^6 events. This bench measures sled 0.34.7 and
//! one well-kept alternative embedded engine, redb, under the same writes on the same machine,
//! so that the answer is a ratio within one run rather than two runs on two days.
//!
//! **What it writes.** What one append reads from and commits to the store, event by event,
//! with the real key layout ([`ledger_store::keys`] builds every key) and synthetic values of
//! the sizes measured on a `custody bench` ledger (format 4): the entry (`e/`, about 350
//! bytes; 1,362 for a blend of 16 lots), the event record (`v/`, 36 to 46 bytes, keyed by a
//! random 32-byte event id), the lot (`l/`, 117), holding (`h/`, 48) and shipment (`s/`, 129,
//! then 133 once received) records, one `t/` lot-index key per lot the event names (17 for a
//! blend), the party, key-owner, subject and `n/` records of an enrolment, the attestation
//! and subject records of an attestation, the RFC 6962 Merkle nodes the entry completes
//! (`m/`, 32 bytes each, about 2 per event), and per commit the head and the entry log's
//! length. The mix follows that ledger: 233 parties enrol first; then ore is extracted,
//! shipped and received, every 16 received ore lots are blended into one lot, which is shipped
//! and received, and 693 attestations are spread over the log. The synthetic sled database
//! comes within about 10% of the real one's size per event (1,857 against about 2,060 bytes
//! at 10^5 events). Values are random bytes (entries are mostly hashes and signatures).
//! Before it writes, an append reads what the rules check: the head, the signer's key owner
//! and party, the event record of the new id (absent: the replay check), and every state
//! record the event changes (lots, holdings, shipments, parties, subjects). Those reads
//! matter to sled: with the same writes and no reads, its resident memory grew by about 21 KB
//! per event (20 GB, and killed for it, at 820,000 events on a 24 GB machine), against about
//! 1 KB per event when it reads first, as `SledStore`'s appends do (sled only evicts pages as
//! reads touch them). Each group's records are built, sorted and deduplicated as
//! `writes::records` does before the clock starts; only the engine's work is timed.
//! `entries.log`, which format 4 writes beside either engine (each entry again, plus 37 bytes
//! of framing, and one `fdatasync` per commit), is left out: it is the same for both.
//!
//! **What it measures**, for each engine (redb first, then sled, in one process):
//! 1. durable bulk append: groups of 10,000 events, each one append made durable before the
//!    next (sled: the reads, then `apply_batch`, `flush`, and fsync of its `db` file and the
//!    directory, as `SledStore` commits; redb: one write transaction that reads, writes and
//!    commits with its default `Durability::Immediate`), in all and for its writes alone;
//! 2. durable small groups: 200 groups of 64 events (the server's group commit), on top;
//! 3. bytes on disk per event, after the bulk load and after the small groups (the sum of the
//!    sizes of the files in the engine's directory, and of the blocks allocated to them);
//! 4. reopen: the database dropped (closed cleanly), opened again, until a read of the head
//!    record returns;
//! 5. 100,000 point reads of random event records after that reopen, once with the engine's
//!    cache cold and once more, the same keys, warm (the OS page cache is warm both times:
//!    the files were just written); redb reads inside one read transaction per pass;
//! 6. a scan of every entry (`e/`) in key order;
//! 7. the process's peak resident memory while the engine ran (`VmHWM`, reset before each
//!    engine; redb runs first so that memory sled leaves to the allocator is not counted as
//!    redb's; the line above the table gives what the process held when each started).
//!
//! sled is opened as `SledStore` opens it: a 64 MiB cache and no background flusher. redb is
//! given the same 64 MiB cache (its default is 1 GiB). `ENGINES_CACHE_MIB` gives both another
//! size, to see how much of a figure is the cache.
//!
//! **How to run it** (add `nice` on a shared machine):
//!
//! ```sh
//! cargo bench -p ledger-store --bench engines                            # N = 100,000
//! ENGINES_EVENTS=1000000 cargo bench -p ledger-store --bench engines     # N = 10^6
//! ENGINES_DIR=/tmp/engines cargo bench -p ledger-store --bench engines   # keep the databases
//! ENGINES_CACHE_MIB=1024 cargo bench -p ledger-store --bench engines     # both caches 1 GiB
//! ```
//!
//! `ENGINES_EVENTS` sets N (default 100,000). `ENGINES_DIR` puts the two databases in that
//! directory (`sled/` and `redb/`, which must not exist yet) and keeps them; without it they
//! go to a temporary directory under `/tmp`, removed at the end. At 10^6 events the run needs
//! about 4 GB of disk.

use std::collections::{BTreeMap, VecDeque};
use std::error::Error;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ledger_core::Digest;
use ledger_core::id::{LotId, PartyId};
use ledger_store::keys;
use redb::{ReadableDatabase, ReadableTable};

type Res<T> = Result<T, Box<dyn Error>>;

/// One group's writes, sorted by key, a key written twice keeping its last value.
type Writes = BTreeMap<Vec<u8>, Vec<u8>>;

/// Events per durable group of the bulk load (`custody bench`'s group commit).
const BULK_GROUP: u64 = 10_000;
/// Events per durable group of the server's group commit.
const SMALL_GROUP: u64 = 64;
/// How many small groups are committed after the bulk load.
const SMALL_GROUPS: u64 = 200;
/// Point reads per pass.
const READS: usize = 100_000;
/// The page cache of both engines unless `ENGINES_CACHE_MIB` says otherwise: `CACHE_BYTES`
/// of `sled_store.rs`.
const CACHE_MIB: u64 = 64;
/// The one redb table, the counterpart of sled's one tree.
const TABLE: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("custody");
/// The workspace's lock file, read at build time for the engines' resolved versions.
const CARGO_LOCK: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.lock"));

fn main() -> Res<()> {
    let events: u64 = match std::env::var("ENGINES_EVENTS") {
        Ok(text) => text
            .replace(['_', ','], "")
            .parse()
            .map_err(|e| format!("ENGINES_EVENTS={text}: {e}"))?,
        Err(_) => 100_000,
    };
    if events == 0 {
        return Err("ENGINES_EVENTS must be at least 1".into());
    }
    let cache_mib: u64 = match std::env::var("ENGINES_CACHE_MIB") {
        Ok(text) => text
            .parse()
            .map_err(|e| format!("ENGINES_CACHE_MIB={text}: {e}"))?,
        Err(_) => CACHE_MIB,
    };
    let (base, _temp) = match std::env::var_os("ENGINES_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            std::fs::create_dir_all(&dir)?;
            (dir, None)
        }
        None => {
            let temp = tempfile::Builder::new()
                .prefix("custody-engines-")
                .tempdir_in("/tmp")?;
            (temp.path().to_path_buf(), Some(temp))
        }
    };
    for name in ["sled", "redb"] {
        if base.join(name).exists() {
            return Err(format!("{} already exists", base.join(name).display()).into());
        }
    }

    // redb first: the process's peak memory is reset before each engine, but memory sled
    // frees is not all returned to the system, and would count in redb's figure.
    let redb = run::<RedbEngine>(&base.join("redb"), events, cache_mib << 20)?;
    let sled = run::<SledEngine>(&base.join("sled"), events, cache_mib << 20)?;

    println!(
        "engines: N = {events} events; durable groups of {BULK_GROUP}, then {SMALL_GROUPS} \
         groups of {SMALL_GROUP}; {READS} point reads per pass"
    );
    println!(
        "  sled {} (cache {} MiB, no background flusher), redb {} (cache {} MiB; its default \
         is 1024)",
        locked_version("sled"),
        cache_mib,
        locked_version("redb"),
        cache_mib,
    );
    println!(
        "  per event: {:.1} records written, {:.0} B of keys and values ({:.0} B of entries), \
         {:.1} state reads first",
        sled.written_records as f64 / sled.written_events as f64,
        sled.written_bytes as f64 / sled.written_events as f64,
        sled.entry_bytes as f64 / sled.written_events as f64,
        sled.state_reads as f64 / sled.written_events as f64,
    );
    println!(
        "  process memory when each engine started: redb {:.0} MB, sled {:.0} MB; databases \
         in {}",
        redb.rss_before_mb,
        sled.rss_before_mb,
        base.display(),
    );
    println!();
    print_table(&sled, &redb);
    Ok(())
}

/// The version of `package` in the workspace's `Cargo.lock`.
fn locked_version(package: &str) -> String {
    let name = format!("name = \"{package}\"");
    let mut lines = CARGO_LOCK.lines();
    while let Some(line) = lines.next() {
        if line == name
            && let Some(version) = lines.next().and_then(|l| l.strip_prefix("version = "))
        {
            return version.trim_matches('"').to_string();
        }
    }
    "?".into()
}

/// What one engine measured.
#[derive(Debug, Default)]
struct Figures {
    bulk_per_s: f64,
    bulk_write_per_s: f64,
    small_commits_per_s: f64,
    small_events_per_s: f64,
    disk_after_bulk: f64,
    allocated_after_bulk: f64,
    disk_after_small: f64,
    reopen_ms: f64,
    cold_read_us: f64,
    warm_read_us: f64,
    scan_per_s: f64,
    written_events: u64,
    written_bytes: u64,
    written_records: u64,
    entry_bytes: u64,
    state_reads: u64,
    peak_rss_mb: f64,
    rss_before_mb: f64,
}

fn print_table(sled: &Figures, redb: &Figures) {
    // (figure, sled, redb, decimals: 0 prints whole numbers with thousands separated)
    let rows: [(&str, f64, f64, usize); 12] = [
        (
            "durable bulk append, groups of 10,000 (events/s)",
            sled.bulk_per_s,
            redb.bulk_per_s,
            0,
        ),
        (
            "  the same, its durable batches alone (events/s)",
            sled.bulk_write_per_s,
            redb.bulk_write_per_s,
            0,
        ),
        (
            "durable small groups of 64 (commits/s)",
            sled.small_commits_per_s,
            redb.small_commits_per_s,
            1,
        ),
        (
            "durable small groups of 64 (events/s)",
            sled.small_events_per_s,
            redb.small_events_per_s,
            0,
        ),
        (
            "disk per event after the bulk load (B, file sizes)",
            sled.disk_after_bulk,
            redb.disk_after_bulk,
            0,
        ),
        (
            "disk per event after the bulk load (B, allocated)",
            sled.allocated_after_bulk,
            redb.allocated_after_bulk,
            0,
        ),
        (
            "disk per event after the small groups (B, file sizes)",
            sled.disk_after_small,
            redb.disk_after_small,
            0,
        ),
        (
            "reopen until the head is read (ms)",
            sled.reopen_ms,
            redb.reopen_ms,
            1,
        ),
        (
            "random event-record read, cold cache (mean us)",
            sled.cold_read_us,
            redb.cold_read_us,
            2,
        ),
        (
            "random event-record read, warm cache (mean us)",
            sled.warm_read_us,
            redb.warm_read_us,
            2,
        ),
        (
            "scan of every entry in order (entries/s)",
            sled.scan_per_s,
            redb.scan_per_s,
            0,
        ),
        (
            "peak resident memory of the process (MB)",
            sled.peak_rss_mb,
            redb.peak_rss_mb,
            0,
        ),
    ];
    let format = |value: f64, decimals: usize| match decimals {
        0 => group_digits(value),
        _ => format!("{value:.decimals$}"),
    };
    let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    println!(
        "{:<width$}  {:>12}  {:>12}  {:>9}",
        "figure", "sled", "redb", "redb/sled"
    );
    println!("{}", "-".repeat(width + 2 + 12 + 2 + 12 + 2 + 9));
    for (name, s, r, decimals) in rows {
        let ratio = if s > 0.0 {
            let ratio = r / s;
            let decimals = if ratio < 0.1 { 4 } else { 2 };
            format!("{ratio:.decimals$}")
        } else {
            "-".into()
        };
        println!(
            "{name:<width$}  {:>12}  {:>12}  {ratio:>9}",
            format(s, decimals),
            format(r, decimals)
        );
    }
}

/// `value` rounded, with thousands separated by commas.
fn group_digits(value: f64) -> String {
    let digits = format!("{:.0}", value.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if value < 0.0 { format!("-{out}") } else { out }
}

/// An embedded engine as Custody would use it: one ordered key space, atomic durable batches.
trait Engine: Sized {
    const NAME: &'static str;
    /// Creates a new database at `path`.
    fn create(path: &Path, cache: u64) -> Res<Self>;
    /// Opens the database at `path` again.
    fn open(path: &Path, cache: u64) -> Res<Self>;
    /// One append: reads `reads` (the state the rules check), then writes `writes` as one
    /// atomic batch, durable when this returns. How long the reads and the writes took.
    fn append(&self, reads: &[Vec<u8>], writes: &Writes) -> Res<(Duration, Duration)>;
    /// The length of the value under `key`, if there is one.
    fn value_len(&self, key: &[u8]) -> Res<Option<usize>>;
    /// The lengths of the values under each of `keys`, read in one go (redb: one read
    /// transaction), or an error naming a missing key.
    fn read_all(&self, keys: &[Vec<u8>]) -> Res<usize>;
    /// Reads every entry in key order: how many and their total size.
    fn scan_entries(&self) -> Res<(u64, u64)>;
}

struct SledEngine {
    dir: PathBuf,
    db: sled::Db,
}

impl SledEngine {
    fn config(dir: &Path, cache: u64) -> sled::Config {
        sled::Config::new()
            .path(dir)
            .cache_capacity(cache)
            .flush_every_ms(None)
    }
}

impl Engine for SledEngine {
    const NAME: &'static str = "sled";

    fn create(path: &Path, cache: u64) -> Res<Self> {
        std::fs::create_dir_all(path)?;
        Self::open(path, cache)
    }

    fn open(path: &Path, cache: u64) -> Res<Self> {
        Ok(SledEngine {
            dir: path.to_path_buf(),
            db: Self::config(path, cache).open()?,
        })
    }

    fn append(&self, reads: &[Vec<u8>], writes: &Writes) -> Res<(Duration, Duration)> {
        // As `SledStore`: the rules read the store itself, then one batch is applied.
        let start = Instant::now();
        for key in reads {
            self.db.get(key)?;
        }
        let read = start.elapsed();
        let mut batch = sled::Batch::default();
        for (key, value) in writes {
            batch.insert(key.as_slice(), value.as_slice());
        }
        self.db.apply_batch(batch)?;
        // As `SledStore::flush`: sled's flush, then fsync of its data file and the directory.
        self.db.flush()?;
        std::fs::File::open(self.dir.join("db"))?.sync_all()?;
        std::fs::File::open(&self.dir)?.sync_all()?;
        Ok((read, start.elapsed() - read))
    }

    fn value_len(&self, key: &[u8]) -> Res<Option<usize>> {
        Ok(self.db.get(key)?.map(|v| v.len()))
    }

    fn read_all(&self, keys: &[Vec<u8>]) -> Res<usize> {
        let mut total = 0;
        for key in keys {
            match self.db.get(key)? {
                Some(value) => total += value.len(),
                None => return Err(format!("sled: no {}", keys::show(key)).into()),
            }
        }
        Ok(total)
    }

    fn scan_entries(&self) -> Res<(u64, u64)> {
        let (mut count, mut bytes) = (0, 0);
        for item in self.db.range(keys::entry(0)..keys::entry_end()) {
            let (_, value) = item?;
            count += 1;
            bytes += value.len() as u64;
        }
        Ok((count, bytes))
    }
}

struct RedbEngine {
    db: redb::Database,
}

impl RedbEngine {
    fn file(path: &Path) -> PathBuf {
        path.join("ledger.redb")
    }
}

impl Engine for RedbEngine {
    const NAME: &'static str = "redb";

    fn create(path: &Path, cache: u64) -> Res<Self> {
        std::fs::create_dir_all(path)?;
        let db = redb::Builder::new()
            .set_cache_size(usize::try_from(cache)?)
            .create(Self::file(path))?;
        std::fs::File::open(path)?.sync_all()?;
        Ok(RedbEngine { db })
    }

    fn open(path: &Path, cache: u64) -> Res<Self> {
        let db = redb::Builder::new()
            .set_cache_size(usize::try_from(cache)?)
            .open(Self::file(path))?;
        Ok(RedbEngine { db })
    }

    fn append(&self, reads: &[Vec<u8>], writes: &Writes) -> Res<(Duration, Duration)> {
        // One write transaction, read through as a redb store's append would (it must see
        // the state it writes on), committed with the default `Durability::Immediate`:
        // durable when `commit` returns.
        let start = Instant::now();
        let txn = self.db.begin_write()?;
        let read;
        {
            let mut table = txn.open_table(TABLE)?;
            for key in reads {
                table.get(key.as_slice())?;
            }
            read = start.elapsed();
            for (key, value) in writes {
                table.insert(key.as_slice(), value.as_slice())?;
            }
        }
        txn.commit()?;
        Ok((read, start.elapsed() - read))
    }

    fn value_len(&self, key: &[u8]) -> Res<Option<usize>> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(TABLE)?;
        Ok(table.get(key)?.map(|v| v.value().len()))
    }

    fn read_all(&self, keys: &[Vec<u8>]) -> Res<usize> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(TABLE)?;
        let mut total = 0;
        for key in keys {
            match table.get(key.as_slice())? {
                Some(value) => total += value.value().len(),
                None => return Err(format!("redb: no {}", keys::show(key)).into()),
            }
        }
        Ok(total)
    }

    fn scan_entries(&self) -> Res<(u64, u64)> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(TABLE)?;
        let (start, end) = (keys::entry(0), keys::entry_end());
        let (mut count, mut bytes) = (0, 0);
        for item in table.range(start.as_slice()..end.as_slice())? {
            let (_, value) = item?;
            count += 1;
            bytes += value.value().len() as u64;
        }
        Ok((count, bytes))
    }
}

/// Loads `events` events into a new database of engine `E` at `path`, with a page cache of
/// `cache` bytes, then measures it.
fn run<E: Engine>(path: &Path, events: u64, cache: u64) -> Res<Figures> {
    eprintln!("{}: bulk load of {events} events", E::NAME);
    let mut figures = Figures {
        rss_before_mb: memory("VmRSS")?,
        ..Figures::default()
    };
    reset_peak_memory()?;
    let mut synth = Synth::new(events);
    let db = E::create(path, cache)?;
    db.append(&[], &synth.genesis())?;

    let (mut reading, mut writing) = (Duration::ZERO, Duration::ZERO);
    let mut done = 0;
    while done < events {
        let n = BULK_GROUP.min(events - done);
        let (reads, writes) = synth.group(n)?;
        let (read, written) = db.append(&reads, &writes)?;
        reading += read;
        writing += written;
        done += n;
        eprintln!(
            "{}:   {done} events, this group {:.0}/s ({:.2} s reading, {:.2} s writing), \
             {:.0} MB resident",
            E::NAME,
            n as f64 / (read + written).as_secs_f64(),
            read.as_secs_f64(),
            written.as_secs_f64(),
            memory("VmRSS")?,
        );
    }
    figures.bulk_per_s = events as f64 / (reading + writing).as_secs_f64();
    figures.bulk_write_per_s = events as f64 / writing.as_secs_f64();
    let (bytes, allocated) = disk_usage(path)?;
    figures.disk_after_bulk = bytes as f64 / events as f64;
    figures.allocated_after_bulk = allocated as f64 / events as f64;

    eprintln!("{}: {SMALL_GROUPS} groups of {SMALL_GROUP}", E::NAME);
    let mut written = Duration::ZERO;
    for _ in 0..SMALL_GROUPS {
        let (reads, writes) = synth.group(SMALL_GROUP)?;
        let (read, write) = db.append(&reads, &writes)?;
        written += read + write;
    }
    figures.small_commits_per_s = SMALL_GROUPS as f64 / written.as_secs_f64();
    figures.small_events_per_s = (SMALL_GROUPS * SMALL_GROUP) as f64 / written.as_secs_f64();
    let total_events = events + SMALL_GROUPS * SMALL_GROUP;
    figures.disk_after_small = disk_usage(path)?.0 as f64 / total_events as f64;
    figures.written_events = synth.seq;
    figures.written_bytes = synth.written_bytes;
    figures.written_records = synth.written_records;
    figures.entry_bytes = synth.entry_bytes;
    figures.state_reads = synth.state_reads;

    eprintln!("{}: reopen", E::NAME);
    drop(db);
    let start = Instant::now();
    let db = E::open(path, cache)?;
    let head = db.value_len(keys::HEAD)?;
    figures.reopen_ms = start.elapsed().as_secs_f64() * 1e3;
    if head != Some(40) {
        return Err(format!("{}: head record of {head:?} bytes after reopen", E::NAME).into());
    }

    eprintln!("{}: {READS} random reads, twice", E::NAME);
    let mut rng = Rng(0x5eed_4ead);
    let reads: Vec<Vec<u8>> = (0..READS)
        .map(|_| {
            let id = synth.event_ids[rng.below(synth.event_ids.len() as u64) as usize];
            keys::event(&Digest(id))
        })
        .collect();
    for warm in [false, true] {
        let start = Instant::now();
        let read = db.read_all(&reads)?;
        let mean_us = start.elapsed().as_secs_f64() * 1e6 / READS as f64;
        if read < READS * 36 {
            return Err(format!("{}: event records too short ({read} bytes)", E::NAME).into());
        }
        if warm {
            figures.warm_read_us = mean_us;
        } else {
            figures.cold_read_us = mean_us;
        }
    }

    eprintln!("{}: scan of the entries", E::NAME);
    let start = Instant::now();
    let (count, bytes) = db.scan_entries()?;
    figures.scan_per_s = count as f64 / start.elapsed().as_secs_f64();
    if count != synth.seq || bytes != synth.entry_bytes {
        return Err(format!(
            "{}: the scan found {count} entries of {bytes} bytes, expected {} of {}",
            E::NAME,
            synth.seq,
            synth.entry_bytes
        )
        .into());
    }
    drop(db);
    figures.peak_rss_mb = memory("VmHWM")?;
    Ok(figures)
}

/// A figure of `/proc/self/status` in MB (`VmRSS`: resident now; `VmHWM`: the peak since
/// [`reset_peak_memory`]).
fn memory(field: &str) -> Res<f64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kb = status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().strip_suffix("kB"))
        .ok_or_else(|| format!("no {field} in /proc/self/status"))?
        .trim()
        .parse::<f64>()?;
    Ok(kb / 1e3)
}

/// Resets the process's peak resident memory (`VmHWM`) to what it holds now.
fn reset_peak_memory() -> Res<()> {
    Ok(std::fs::write("/proc/self/clear_refs", "5")?)
}

/// The total size of the files under `path`, and of the blocks allocated to them.
fn disk_usage(path: &Path) -> Res<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(path)?;
    if meta.is_file() {
        return Ok((meta.len(), meta.blocks() * 512));
    }
    let (mut bytes, mut allocated) = (0, 0);
    if meta.is_dir() {
        for entry in std::fs::read_dir(path)? {
            let (b, a) = disk_usage(&entry?.path())?;
            bytes += b;
            allocated += a;
        }
    }
    Ok((bytes, allocated))
}

/// splitmix64: deterministic, and good enough for synthetic ids and sizes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            out.extend_from_slice(&self.next().to_le_bytes());
        }
        out.truncate(len);
        out
    }

    fn digest(&mut self) -> [u8; 32] {
        let mut out = [0; 32];
        for chunk in out.chunks_mut(8) {
            chunk.copy_from_slice(&self.next().to_le_bytes());
        }
        out
    }
}

/// An event of the supply-chain script.
enum Step {
    Extract,
    Ship {
        lot: LotId,
        sender: usize,
    },
    Receive {
        ship: [u8; 32],
        lot: LotId,
        ore: bool,
    },
    Blend,
}

/// Parties enrolled, in the first events, as in `custody bench`'s ledger.
const PARTIES: u64 = 233;
/// Attestations about parties, spread over the ledger, as in `custody bench`'s ledger.
const ATTESTATIONS: u64 = 693;
/// The roles that name parties (`synth-{role}-{i:03}`).
const ROLES: [&str; 7] = [
    "auditor",
    "miner",
    "trader",
    "refiner",
    "cathode",
    "cell",
    "assembler",
];

/// The synthetic ledger: which records each next event reads and writes.
struct Synth {
    rng: Rng,
    /// The next log position.
    seq: u64,
    /// One event in this many is an attestation, until there are [`ATTESTATIONS`].
    attest_every: u64,
    attestations: u64,
    /// Lots created so far (lot ids are `{prefix}-{counter:08}`, as `synth.rs` names them).
    lots: u64,
    /// Enrolled parties, each with its key and subject key.
    parties: Vec<(PartyId, [u8; 32], [u8; 32])>,
    /// What the supply chain does next.
    script: VecDeque<Step>,
    /// Received ore lots not blended yet, with their holder.
    ore: Vec<(LotId, usize)>,
    /// Every event id, for the point reads.
    event_ids: Vec<[u8; 32]>,
    written_bytes: u64,
    written_records: u64,
    entry_bytes: u64,
    state_reads: u64,
}

/// A group's reads and writes, as its events are made.
struct Group {
    reads: Vec<Vec<u8>>,
    writes: Writes,
}

impl Synth {
    /// The ledger of a run of `events` events (which spreads the attestations).
    fn new(events: u64) -> Synth {
        Synth {
            rng: Rng(0x00c0_ba17),
            seq: 0,
            attest_every: (events.saturating_sub(PARTIES) / ATTESTATIONS).max(2),
            attestations: 0,
            lots: 0,
            parties: Vec::new(),
            script: VecDeque::new(),
            ore: Vec::new(),
            event_ids: Vec::new(),
            written_bytes: 0,
            written_records: 0,
            entry_bytes: 0,
            state_reads: 0,
        }
    }

    /// What `SledStore::create` writes.
    fn genesis(&mut self) -> Writes {
        let mut out = Writes::new();
        out.insert(keys::FORMAT.to_vec(), 4u32.to_le_bytes().to_vec());
        out.insert(keys::ORIGIN.to_vec(), self.rng.bytes(33));
        out.insert(keys::HEAD.to_vec(), self.rng.bytes(40));
        out.insert(keys::ENTRY_LOG.to_vec(), self.rng.bytes(8));
        out
    }

    /// The next `n` events, appended together: what the rules read first, and what the
    /// commit writes, with the head and the entry log's length.
    fn group(&mut self, n: u64) -> Res<(Vec<Vec<u8>>, Writes)> {
        let mut group = Group {
            reads: vec![keys::HEAD.to_vec(), keys::ENTRY_LOG.to_vec()],
            writes: Writes::new(),
        };
        for _ in 0..n {
            self.event(&mut group)?;
        }
        group.writes.insert(keys::HEAD.to_vec(), self.rng.bytes(40));
        group
            .writes
            .insert(keys::ENTRY_LOG.to_vec(), self.rng.bytes(8));
        self.state_reads += group.reads.len() as u64;
        Ok((group.reads, group.writes))
    }

    fn new_lot(&mut self, prefix: &str) -> Res<LotId> {
        self.lots += 1;
        Ok(LotId::new(format!("{prefix}-{:08}", self.lots))?)
    }

    /// A party other than the auditor, or the auditor while it is the only one.
    fn some_party(&mut self) -> usize {
        match self.parties.len() {
            0 | 1 => 0,
            n => 1 + self.rng.below(n as u64 - 1) as usize,
        }
    }

    /// A state record of `len` bytes under `key`, read by the rules and then written.
    fn change(&mut self, out: &mut Group, key: Vec<u8>, len: usize) {
        let value = self.rng.bytes(len);
        self.written_bytes += (key.len() + value.len()) as u64;
        self.written_records += 1;
        out.reads.push(key.clone());
        out.writes.insert(key, value);
    }

    /// A lot created by the event at `seq` (an extract, or a blend's output): its record,
    /// its creator's holding and its index key, and its shipment scripted next.
    fn create_lot(
        &mut self,
        prefix: &str,
        seq: u64,
        out: &mut Group,
        index: &mut Vec<Vec<u8>>,
    ) -> Res<()> {
        let lot = self.new_lot(prefix)?;
        let holder = self.some_party();
        self.change(out, keys::lot(&lot), 117);
        let party = &self.parties[holder].0;
        self.change(out, keys::holding(&lot, party), 48);
        index.push(keys::lot_event(&lot, seq));
        self.script.push_back(Step::Ship {
            lot,
            sender: holder,
        });
        Ok(())
    }

    /// The reads and writes of the event at the next position, into `out`. The rules read
    /// the signer's key owner and party, the event record of its id (a replay check: absent),
    /// and every state record the event changes; the commit writes those records, the
    /// indexes, the event record, the entry and the Merkle nodes.
    fn event(&mut self, out: &mut Group) -> Res<()> {
        let seq = self.seq;
        self.seq += 1;
        let id = self.rng.digest();
        self.event_ids.push(id);
        if let Some(signer) = self.parties.get(self.rng.below(PARTIES) as usize) {
            out.reads.push(keys::key_owner_bytes(&signer.1));
            out.reads.push(keys::party(&signer.0));
        }
        // Index keys and the event's own records, written without being read.
        let mut index: Vec<Vec<u8>> = Vec::new();
        let entry_len = if seq < PARTIES {
            // An enrolment: the party, its key's owner, its subject state, the party index.
            let i = self.parties.len();
            let party = PartyId::new(format!("synth-{}-{i:03}", ROLES[i % ROLES.len()]))?;
            let (key, subject) = (self.rng.digest(), self.rng.digest());
            self.change(out, keys::party(&party), 175);
            self.change(out, keys::key_owner_bytes(&key), 23);
            self.change(out, keys::subject(&Digest(subject)), 40);
            index.push(keys::party_event(seq));
            self.parties.push((party, key, subject));
            348
        } else if seq.is_multiple_of(self.attest_every) && self.attestations < ATTESTATIONS {
            // An attestation about a party: its record and the party's subject state.
            self.attestations += 1;
            let about = self.some_party();
            let (party, _, subject) = self.parties[about].clone();
            self.change(out, keys::party_attestation(&party, seq), 112);
            self.change(out, keys::subject(&Digest(subject)), 40);
            280
        } else {
            if self.script.is_empty() {
                let step = if self.ore.len() >= 16 {
                    Step::Blend
                } else {
                    Step::Extract
                };
                self.script.push_back(step);
            }
            match self.script.pop_front() {
                Some(Step::Extract) | None => {
                    self.create_lot("ORE", seq, out, &mut index)?;
                    360
                }
                Some(Step::Ship { lot, sender }) => {
                    out.reads.push(keys::lot(&lot));
                    self.change(out, keys::shipment(&Digest(id)), 129);
                    let party = &self.parties[sender].0;
                    self.change(out, keys::holding(&lot, party), 48);
                    index.push(keys::lot_event(&lot, seq));
                    let ore = lot.as_str().starts_with("ORE");
                    self.script.push_back(Step::Receive { ship: id, lot, ore });
                    312
                }
                Some(Step::Receive { ship, lot, ore }) => {
                    let receiver = self.some_party();
                    out.reads.push(keys::lot(&lot));
                    self.change(out, keys::shipment(&Digest(ship)), 133);
                    let party = &self.parties[receiver].0;
                    self.change(out, keys::holding(&lot, party), 48);
                    index.push(keys::lot_event(&lot, seq));
                    if ore {
                        self.ore.push((lot, receiver));
                    }
                    328
                }
                Some(Step::Blend) => {
                    // 16 ore lots into one: each input's holding drawn down and indexed,
                    // the new lot created, held and indexed.
                    let inputs: Vec<_> = self.ore.drain(..16.min(self.ore.len())).collect();
                    for (lot, holder) in &inputs {
                        out.reads.push(keys::lot(lot));
                        let party = &self.parties[*holder].0;
                        self.change(out, keys::holding(lot, party), 48);
                        index.push(keys::lot_event(lot, seq));
                    }
                    self.create_lot("HYD", seq, out, &mut index)?;
                    1362
                }
            }
        };
        // The event record (read first: the replay check finds none), the entry (sizes vary
        // by a few bytes), the indexes, and the Merkle nodes the entry completes: its leaf,
        // and each subtree it closes.
        let jitter = self.rng.below(9) as usize;
        self.change(out, keys::event(&Digest(id)), 36 + jitter);
        let entry = self.rng.bytes(entry_len - 4 + jitter);
        self.entry_bytes += entry.len() as u64;
        index.push(keys::merkle(0, seq));
        let size = seq + 1;
        let mut level = 1;
        while size.is_multiple_of(1 << level) {
            index.push(keys::merkle(level, (size >> level) - 1));
            level += 1;
        }
        let mut put = |key: Vec<u8>, value: Vec<u8>| {
            self.written_bytes += (key.len() + value.len()) as u64;
            self.written_records += 1;
            out.writes.insert(key, value);
        };
        put(keys::entry(seq), entry);
        for key in index {
            let value = if key.starts_with(keys::MERKLE) {
                self.rng.bytes(32)
            } else {
                Vec::new()
            };
            put(key, value);
        }
        Ok(())
    }
}
