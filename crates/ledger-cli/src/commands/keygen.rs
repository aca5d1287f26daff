//! `custody keygen`: a new ed25519 key pair on disk.

use anyhow::Result;
use ledger_core::keys::SecretKey;

use crate::cli::KeygenArgs;
use crate::exit;
use crate::keyfile;

/// Writes FILE (mode 0600) and FILE.pub and prints the public key.
pub fn run(args: KeygenArgs) -> Result<u8> {
    let key = SecretKey::generate();
    keyfile::write_pair(&args.out, &key)?;
    println!("private key: {} (mode 0600)", args.out.display());
    println!("public key:  {}", keyfile::public_path(&args.out).display());
    println!("{}", key.public_key());
    Ok(exit::SUCCESS)
}
