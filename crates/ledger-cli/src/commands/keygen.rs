//! `custody keygen`: a new ed25519 key pair on disk, the private key optionally
//! passphrase-protected.

use anyhow::Result;
use ledger_core::keys::SecretKey;

use crate::cli::KeygenArgs;
use crate::exit;
use crate::keyfile;

/// Writes FILE (mode 0600) and FILE.pub and prints the public key (never the private one).
pub fn run(args: KeygenArgs) -> Result<u8> {
    let key = SecretKey::generate();
    if args.encrypt {
        let passphrase = keyfile::new_passphrase(&args.out)?;
        keyfile::write_pair_encrypted(&args.out, &key, passphrase.as_bytes())?;
        crate::outln!(
            "private key: {} (mode 0600, passphrase-protected)",
            args.out.display()
        );
    } else {
        keyfile::write_pair(&args.out, &key)?;
        crate::outln!("private key: {} (mode 0600)", args.out.display());
    }
    crate::outln!("public key:  {}", keyfile::public_path(&args.out).display());
    crate::outln!("{}", key.public_key());
    Ok(exit::SUCCESS)
}
