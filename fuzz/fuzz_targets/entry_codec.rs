//! The canonical codec on log entries: bytes that decode must re-encode to exactly the same
//! bytes (one value, one encoding), and decoding never panics or over-allocates.
#![no_main]

use ledger_core::statement::Entry;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(entry) = Entry::decode(data) else {
        return;
    };
    let again = entry.encode().expect("a decoded entry encodes");
    assert_eq!(
        again.as_slice(),
        data,
        "decode then encode changed the bytes"
    );
    let _ = entry.statement.id();
});
