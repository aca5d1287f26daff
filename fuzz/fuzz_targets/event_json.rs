//! Supplier JSON events (`ledger_core::input::parse_event`): any bytes either parse into an
//! event that passes the structural checks and round-trips through the canonical codec, or
//! give a field error; never a panic.
#![no_main]

use ledger_core::codec;
use ledger_core::event::Event;
use ledger_core::input::{MAX_EVENT_JSON, NoContext, parse_event};
use ledger_core::validate::check_event;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() > MAX_EVENT_JSON {
        return;
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else {
        return;
    };
    let Ok(event) = parse_event(value, &NoContext, &mut || 0) else {
        return;
    };
    assert!(
        check_event(&event).is_ok(),
        "parse_event returned an event that fails check_event"
    );
    let bytes = codec::encode(&event).expect("a parsed event encodes");
    let back: Event = codec::decode(&bytes).expect("an encoded event decodes");
    assert_eq!(back, event);
});
