//! Key files: private keys as PKCS#8 PEM created with mode 0600 and refused when group- or
//! world-readable (as ssh does); public keys as SPKI PEM in `FILE.pub`. Key text is held in
//! wiping buffers and never printed.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use ledger_core::keys::{PublicKey, SecretKey};
use zeroize::Zeroizing;

/// Largest key file read, in bytes.
const MAX_KEY_FILE: u64 = 16 * 1024;

/// `FILE.pub` beside `FILE`.
pub fn public_path(private: &Path) -> PathBuf {
    let mut name = private.as_os_str().to_owned();
    name.push(".pub");
    PathBuf::from(name)
}

/// Writes a new key pair; refuses to overwrite either file.
pub fn write_pair(path: &Path, key: &SecretKey) -> Result<()> {
    let pem = key.to_pkcs8_pem()?;
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create private key file {}", path.display()))?;
    file.write_all(pem.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    let public = public_path(path);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&public)
        .with_context(|| format!("cannot create public key file {}", public.display()))?;
    file.write_all(key.public_key().to_pem()?.as_bytes())
        .with_context(|| format!("cannot write {}", public.display()))?;
    Ok(())
}

fn read_small(path: &Path) -> Result<Zeroizing<String>> {
    let meta =
        fs::metadata(path).with_context(|| format!("cannot read key file {}", path.display()))?;
    if meta.len() > MAX_KEY_FILE {
        bail!(
            "key file {} is {} bytes; a key file is at most {MAX_KEY_FILE}",
            path.display(),
            meta.len()
        );
    }
    let text = fs::read_to_string(path)
        .with_context(|| format!("cannot read key file {}", path.display()))?;
    Ok(Zeroizing::new(text))
}

/// Reads a private key, refusing files that others can read.
pub fn read_private(path: &Path) -> Result<SecretKey> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(path)
            .with_context(|| format!("cannot read key file {}", path.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            bail!(
                "private key {} is readable by others (mode {:o}); run: chmod 600 {}",
                path.display(),
                mode & 0o777,
                path.display()
            );
        }
    }
    let text = read_small(path)?;
    SecretKey::from_pkcs8_pem(&text)
        .with_context(|| format!("cannot read private key {}", path.display()))
}

/// Reads a public key file.
pub fn read_public(path: &Path) -> Result<PublicKey> {
    let text = read_small(path)?;
    PublicKey::from_pem(&text).with_context(|| format!("cannot read public key {}", path.display()))
}
