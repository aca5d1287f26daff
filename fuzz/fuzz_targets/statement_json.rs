//! Signed statements as `custody append` reads them (`StatementJson`, then the carried id
//! checked against the recomputed one, then the signature): never a panic, and a statement
//! that parses prints back to JSON that parses to the same statement.
#![no_main]

use ledger_core::statement::{Origin, Statement, StatementJson};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(parsed) = serde_json::from_str::<StatementJson>(text) else {
        return;
    };
    let statement = Statement {
        event: parsed.event,
        signer: parsed.signer,
        signature: parsed.signature,
    };
    let Ok(id) = statement.id() else { return };
    if id != parsed.id {
        return;
    }
    if let Ok(origin) = Origin::new("fuzz.custody.example/log") {
        let _ = statement.verify_signature(&origin, &id);
    }
    let json = serde_json::to_string(&StatementJson::new(&statement).expect("re-encodes"))
        .expect("serializes");
    let again: StatementJson = serde_json::from_str(&json).expect("our own output parses");
    assert_eq!(again.id, id);
    assert_eq!(again.event, statement.event);
    assert_eq!(again.signer, statement.signer);
    assert_eq!(again.signature, statement.signature);
});
