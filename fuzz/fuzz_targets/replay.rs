//! Whole-ledger verification never panics: arbitrary entry bytes replayed in order through
//! `ledger_core::verify::Replay::push`, as `custody verify` does with what the store holds.
//!
//! Input: one flag byte, then a sequence of entries, each a 4-byte little-endian length and
//! that many bytes (`fuzz/seeds/replay/` holds the demo ledger in this form, so mutations
//! reach the rules). Flag bit 0 set: signatures are reported valid, as a batch verifier
//! passes its results in, which skips the slow checks and lets more inputs reach the rules.
#![no_main]

use ledger_core::verify::Replay;
use libfuzzer_sys::fuzz_target;

/// Entries replayed per input: enough for the demo scenario, bounded so inputs stay fast.
const MAX_ENTRIES: u64 = 256;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, mut rest)) = data.split_first() else {
        return;
    };
    let signature_ok = (flags & 1 == 1).then_some(true);
    let mut replay = Replay::default();
    let mut position = 0u64;
    while position < MAX_ENTRIES {
        let Some((len, tail)) = rest.split_first_chunk::<4>() else {
            break;
        };
        let len = u32::from_le_bytes(*len) as usize;
        let (bytes, tail) = tail.split_at(len.min(tail.len()));
        if replay.push(position, bytes, signature_ok).is_err() {
            break;
        }
        rest = tail;
        position += 1;
    }
    let _ = replay.findings.len();
});
