//! `custody passport-request`: the `Custody-*` headers of a battery passport request signed
//! with an enrolled party's key, for the restricted tier (`docs/passport.md`). The key
//! never leaves this machine; the headers are good for one path for 300 s.

use anyhow::{Result, bail};

use crate::cli::PassportRequestArgs;
use crate::keyfile;

/// Runs `custody passport-request`.
pub fn run(args: &PassportRequestArgs) -> Result<u8> {
    if !args.path.starts_with("/01/") || args.path.contains(['?', '#', ' ']) {
        bail!(
            "{:?} is not a passport path: give /01/{{gtin}}/21/{{serial}}",
            args.path
        );
    }
    if args.origin.is_empty() || args.origin.len() > usize::from(u16::MAX) {
        bail!("--origin: 1 to 65535 bytes");
    }
    let key = keyfile::read_private(&args.key)?;
    let time = ledger::now()?.unix();
    let message = ledger_server::passport::signed_message(&args.origin, "GET", &args.path, time);
    crate::outln!("Custody-Party: {}", args.party);
    crate::outln!("Custody-Key: {}", key.public_key().to_hex());
    crate::outln!("Custody-Time: {time}");
    crate::outln!("Custody-Signature: {}", hex::encode(key.sign(&message).0));
    Ok(crate::exit::SUCCESS)
}
