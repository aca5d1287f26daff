//! C2SP signed notes, checkpoints and verifier keys (`ledger_core::note`): never a panic; a
//! checkpoint that parses prints back to the same text.
//!
//! Input: the first byte picks what the rest is fed to.
#![no_main]

use ed25519_dalek::SigningKey;
use ledger_core::note::{Checkpoint, NoteSigner, NoteVerifier, open_note};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 3 {
        0 => {
            // A fixed log key, so notes in the corpus signed by it verify and the
            // signature-checking path is reached too.
            let key = SigningKey::from_bytes(&[7; 32]);
            let Ok(signer) = NoteSigner::new("fuzz.example/log", &key) else {
                return;
            };
            let _ = open_note(rest, &[signer.verifier()]);
        }
        1 => {
            let Ok(text) = std::str::from_utf8(rest) else {
                return;
            };
            if let Ok(checkpoint) = Checkpoint::parse(text, None) {
                assert_eq!(
                    checkpoint.to_text(),
                    text,
                    "a parsed checkpoint prints back differently"
                );
            }
        }
        _ => {
            let Ok(text) = std::str::from_utf8(rest) else {
                return;
            };
            if let Ok(verifier) = NoteVerifier::from_vkey(text) {
                let again = NoteVerifier::from_vkey(&verifier.vkey()).expect("our own vkey parses");
                assert_eq!(again.key_id(), verifier.key_id());
            }
        }
    }
});
