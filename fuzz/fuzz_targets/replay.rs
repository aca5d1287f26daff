//! Whole-ledger verification never panics: arbitrary entry bytes replayed in order, as
//! `custody verify` does with what the store holds (`ledger_core::verify::prepare`, then
//! `Replay::push_prepared`).
//!
//! Input: one flag byte, then a sequence of entries, each a 4-byte little-endian length and
//! that many bytes (`fuzz/seeds/replay/` holds the demo ledger in this form, so mutations
//! reach the rules). Flag bit 0 set: every signature is taken as valid, which skips the slow
//! checks and lets mutated entries reach the rules as if they were signed.
#![no_main]

use ledger_core::check::Checked;
use ledger_core::statement::{Entry, Origin, entry_hash};
use ledger_core::verify::{KeyCache, Prepared, PreparedEntry, Replay, prepare};
use libfuzzer_sys::fuzz_target;

/// Entries replayed per input: enough for the demo scenario, bounded so inputs stay fast.
const MAX_ENTRIES: u64 = 256;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, mut rest)) = data.split_first() else {
        return;
    };
    let assume_signed = flags & 1 == 1;
    let keys = KeyCache::default();
    let Ok(origin) = Origin::new("fuzz.custody.example/log") else {
        return;
    };
    let mut replay = Replay::default();
    let mut position = 0u64;
    while position < MAX_ENTRIES {
        let Some((len, tail)) = rest.split_first_chunk::<4>() else {
            break;
        };
        let len = u32::from_le_bytes(*len) as usize;
        let (bytes, tail) = tail.split_at(len.min(tail.len()));
        let prepared = if assume_signed {
            Prepared {
                hash: entry_hash(bytes),
                decoded: Entry::decode(bytes).and_then(|entry| {
                    Ok(PreparedEntry {
                        seq: entry.seq,
                        prev: entry.prev,
                        recorded_at: entry.recorded_at,
                        subjects: entry.subjects,
                        statement: Checked::assume_signed(entry.statement)?,
                    })
                }),
            }
        } else {
            prepare(bytes, &origin, &keys)
        };
        if replay.push_prepared(position, &prepared).is_err() {
            break;
        }
        rest = tail;
        position += 1;
    }
    let _ = replay.findings.len();
});
