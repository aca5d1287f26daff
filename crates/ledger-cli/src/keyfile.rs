//! Key files: private keys as PKCS#8 PEM, created with mode 0600 and refused when group- or
//! world-readable (as ssh does); public keys as SPKI PEM in `FILE.pub`.
//!
//! A private key may be passphrase-protected: `-----BEGIN ENCRYPTED PRIVATE KEY-----`, PBES2
//! with scrypt (N = 2^14, r = 8, p = 1: OpenSSL's own `-scrypt` default, the largest its
//! 32 MiB scrypt memory cap accepts) and AES-256-CBC, so `openssl pkey -in FILE -passin
//! env:CUSTODY_PASSPHRASE` reads what `keygen --encrypt` writes, and the PBKDF2-SHA256
//! keys OpenSSL writes by default (`openssl genpkey ... -aes256`) are read here. The
//! passphrase comes from `$CUSTODY_PASSPHRASE`, else from a no-echo prompt on the
//! terminal; [`read_private`] asks only when the file is encrypted.
//!
//! Secrets (key text, decrypted DER, passphrases) are held in wiping buffers and never
//! printed: errors name the file and what went wrong, never its content.

use std::fs::{self, OpenOptions};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use ledger_core::keys::{PublicKey, SecretKey};
use pkcs8::der::pem::LineEnding;
use pkcs8::der::{Decode, SecretDocument};
use pkcs8::pkcs5::{self, pbes2};
use pkcs8::{EncryptedPrivateKeyInfo, PrivateKeyInfo};
use rand::RngCore;
use zeroize::Zeroizing;

/// Largest key file read, in bytes.
const MAX_KEY_FILE: u64 = 16 * 1024;

/// The environment variable that holds a private key's passphrase.
pub const PASSPHRASE_ENV: &str = "CUSTODY_PASSPHRASE";

/// PEM label of an unencrypted PKCS#8 private key.
const PLAIN_LABEL: &str = "PRIVATE KEY";
/// PEM label of a PKCS#8 `EncryptedPrivateKeyInfo`.
const ENCRYPTED_LABEL: &str = "ENCRYPTED PRIVATE KEY";

/// scrypt cost written by `keygen --encrypt`: log2(N) = 14, r = 8, p = 1 (16 MiB).
const SCRYPT_LOG_N: u8 = 14;
const SCRYPT_R: u32 = 8;
const SCRYPT_P: u32 = 1;

/// Most memory an encrypted key file may make scrypt use when it is read (OpenSSL allows
/// 32 MiB): a hostile file cannot make `custody` allocate without bound.
const MAX_SCRYPT_MEMORY: u64 = 256 << 20;
/// Most PBKDF2 iterations an encrypted key file may ask for when it is read.
const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;

/// `FILE.pub` beside `FILE`.
pub fn public_path(private: &Path) -> PathBuf {
    let mut name = private.as_os_str().to_owned();
    name.push(".pub");
    PathBuf::from(name)
}

/// Writes a new key pair, the private key unencrypted; refuses to overwrite either file.
pub fn write_pair(path: &Path, key: &SecretKey) -> Result<()> {
    let pem = key.to_pkcs8_pem()?;
    write_files(path, &pem, key)
}

/// Writes a new key pair, the private key encrypted under `passphrase`; refuses to overwrite
/// either file.
pub fn write_pair_encrypted(path: &Path, key: &SecretKey, passphrase: &[u8]) -> Result<()> {
    let pem = encrypt(key, passphrase)
        .with_context(|| format!("cannot encrypt private key for {}", path.display()))?;
    write_files(path, &pem, key)
}

/// `path` with `suffix` appended to its file name.
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The temporary files a key pair is written to before it is renamed into place.
const TEMP: &str = ".keygen-tmp";

/// Creates `path` (0600) with `private_pem` and `path.pub` with the public key, all or
/// nothing: both are written to temporary files beside them and fsynced, then the public
/// key is renamed into place and the private key last, and the directory is fsynced. A run
/// killed on the way leaves at most temporary files and a `.pub` whose private key is still
/// temporary; the next run recognises those and starts over. Refuses to overwrite a private
/// key, and a public key file that no interrupted run left.
fn write_files(path: &Path, private_pem: &str, key: &SecretKey) -> Result<()> {
    let public = public_path(path);
    let private_temp = with_suffix(path, TEMP);
    let public_temp = with_suffix(&public, TEMP);
    if path.exists() {
        bail!("private key file {} already exists", path.display());
    }
    let interrupted = private_temp.exists();
    if public.exists() && !interrupted {
        bail!("public key file {} already exists", public.display());
    }
    for leftover in [&private_temp, &public_temp] {
        match fs::remove_file(leftover) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => bail!("cannot remove {}: {e}", leftover.display()),
        }
    }
    let write = |target: &Path, bytes: &[u8], mode: u32| -> Result<()> {
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(mode);
        }
        let _ = mode;
        let mut file = options
            .open(target)
            .with_context(|| format!("cannot create {}", target.display()))?;
        file.write_all(bytes)
            .and_then(|()| file.sync_all())
            .with_context(|| format!("cannot write {}", target.display()))
    };
    let written = write(&private_temp, private_pem.as_bytes(), 0o600)
        .and_then(|()| write(&public_temp, key.public_key().to_pem()?.as_bytes(), 0o644))
        .and_then(|()| {
            fs::rename(&public_temp, &public)
                .with_context(|| format!("cannot create {}", public.display()))
        })
        .and_then(|()| {
            fs::rename(&private_temp, path)
                .with_context(|| format!("cannot create {}", path.display()))
        });
    if let Err(e) = written {
        let _ = fs::remove_file(&private_temp);
        let _ = fs::remove_file(&public_temp);
        if !path.exists() {
            let _ = fs::remove_file(&public);
        }
        return Err(e);
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync {}", dir.display()))
}

/// Removes a key pair this run created (after a later step failed), ignoring files that
/// are already gone.
pub fn remove_pair(path: &Path) {
    let _ = fs::remove_file(path);
    let _ = fs::remove_file(public_path(path));
}

/// The `ENCRYPTED PRIVATE KEY` PEM of `key` under `passphrase`.
fn encrypt(key: &SecretKey, passphrase: &[u8]) -> Result<Zeroizing<String>> {
    let der = key.to_pkcs8_der()?;
    let info = PrivateKeyInfo::try_from(der.as_bytes())
        .map_err(|e| anyhow!("cannot encode the key: {e}"))?;
    let mut salt = [0u8; 16];
    let mut iv = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    rand::rngs::OsRng.fill_bytes(&mut iv);
    let cost = pkcs5::scrypt::Params::new(
        SCRYPT_LOG_N,
        SCRYPT_R,
        SCRYPT_P,
        pkcs5::scrypt::Params::RECOMMENDED_LEN,
    )
    .map_err(|e| anyhow!("scrypt parameters: {e}"))?;
    let params =
        pbes2::Parameters::scrypt_aes256cbc(cost, &salt, &iv).map_err(|e| anyhow!("{e}"))?;
    let encrypted = info
        .encrypt_with_params(params, passphrase)
        .map_err(|e| anyhow!("{e}"))?;
    encrypted
        .to_pem(ENCRYPTED_LABEL, LineEnding::LF)
        .map_err(|e| anyhow!("{e}"))
}

/// Refuses key-derivation parameters that would take unbounded memory or time to try.
fn check_kdf_cost(info: &EncryptedPrivateKeyInfo<'_>) -> Result<(), String> {
    let pkcs5::EncryptionScheme::Pbes2(params) = &info.encryption_algorithm else {
        return Err("it uses PBES1, a legacy scheme; re-encrypt it with PBES2".into());
    };
    if let Some(scrypt) = params.kdf.scrypt() {
        let memory = 128u64
            .saturating_mul(u64::from(scrypt.block_size))
            .saturating_mul(
                scrypt
                    .cost_parameter
                    .saturating_add(u64::from(scrypt.parallelization)),
            );
        if memory > MAX_SCRYPT_MEMORY {
            return Err(format!(
                "its scrypt parameters need {memory} bytes, more than the {MAX_SCRYPT_MEMORY} allowed"
            ));
        }
    }
    if let Some(pbkdf2) = params.kdf.pbkdf2()
        && pbkdf2.iteration_count > MAX_PBKDF2_ITERATIONS
    {
        return Err(format!(
            "it asks for {} PBKDF2 iterations, more than the {MAX_PBKDF2_ITERATIONS} allowed",
            pbkdf2.iteration_count
        ));
    }
    Ok(())
}

/// Decrypts an `ENCRYPTED PRIVATE KEY` document into the unencrypted PKCS#8 PEM text.
fn decrypt(encrypted: &SecretDocument, passphrase: &[u8]) -> Result<Zeroizing<String>, String> {
    let info = EncryptedPrivateKeyInfo::from_der(encrypted.as_bytes())
        .map_err(|e| format!("not a PKCS#8 encrypted private key: {e}"))?;
    check_kdf_cost(&info)?;
    let plain = info.decrypt(passphrase).map_err(|e| match e {
        pkcs8::Error::EncryptedPrivateKey(
            e @ (pkcs5::Error::UnsupportedAlgorithm { .. }
            | pkcs5::Error::AlgorithmParametersInvalid { .. }
            | pkcs5::Error::NoPbes1CryptSupport),
        ) => format!("cannot decrypt: {e}"),
        // A wrong passphrase shows as bad padding (pkcs5 0.7 reports it as
        // `EncryptFailed`) or, 1 time in 256, as plaintext that is not DER.
        _ => "wrong passphrase (or a damaged file)".to_owned(),
    })?;
    plain
        .to_pem(PLAIN_LABEL, LineEnding::LF)
        .map_err(|e| format!("cannot decrypt: {e}"))
}

/// The passphrase: `$CUSTODY_PASSPHRASE`, else a no-echo prompt when there is a terminal.
fn passphrase(prompt: &str) -> Result<Zeroizing<String>> {
    if let Some(value) = std::env::var_os(PASSPHRASE_ENV) {
        return value
            .into_string()
            .map(Zeroizing::new)
            .map_err(|_| anyhow!("{PASSPHRASE_ENV} is not valid UTF-8"));
    }
    if std::io::stdin().is_terminal() || std::io::stderr().is_terminal() {
        // rpassword reads from the controlling terminal (/dev/tty), not stdin.
        return rpassword::prompt_password(prompt)
            .map(Zeroizing::new)
            .context("cannot read the passphrase from the terminal");
    }
    bail!("no passphrase: set {PASSPHRASE_ENV} or run on a terminal to be asked")
}

/// A new passphrase for `path`: `$CUSTODY_PASSPHRASE`, else asked twice on the terminal.
/// An empty passphrase is refused.
pub fn new_passphrase(path: &Path) -> Result<Zeroizing<String>> {
    let from_env = std::env::var_os(PASSPHRASE_ENV).is_some();
    let first = passphrase(&format!("passphrase for {}: ", path.display()))?;
    if first.is_empty() {
        bail!("the passphrase is empty; an encrypted key needs a passphrase");
    }
    if !from_env {
        let again = passphrase("same passphrase again: ")?;
        if *again != *first {
            bail!("the two passphrases differ");
        }
    }
    Ok(first)
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
    let bytes = Zeroizing::new(
        fs::read(path).with_context(|| format!("cannot read key file {}", path.display()))?,
    );
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| anyhow!("key file {} is not a PEM text file", path.display()))?;
    Ok(Zeroizing::new(text.to_owned()))
}

/// Whether private key PEM text is passphrase-protected.
fn is_encrypted(text: &str) -> bool {
    text.trim_start()
        .starts_with(concat!("-----BEGIN ", "ENCRYPTED PRIVATE KEY", "-----"))
}

/// Reads a private key, refusing files that others can read; asks for the passphrase
/// (`$CUSTODY_PASSPHRASE`, else the terminal) when the file is encrypted.
pub fn read_private(path: &Path) -> Result<SecretKey> {
    // Before the mode check: a public key is readable by others, and `chmod 600` would
    // not make it a private key.
    refuse_public_key(path)?;
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
    if !is_encrypted(&text) {
        return SecretKey::from_pkcs8_pem(&text)
            .with_context(|| format!("cannot read private key {}", path.display()));
    }
    let (label, document) = SecretDocument::from_pem(text.trim()).map_err(|e| {
        anyhow!(
            "cannot read private key {}: not a PEM file: {e}",
            path.display()
        )
    })?;
    if label != ENCRYPTED_LABEL {
        bail!(
            "cannot read private key {}: unexpected PEM label {label:?}",
            path.display()
        );
    }
    let secret = passphrase(&format!("passphrase for {}: ", path.display()))?;
    let plain = decrypt(&document, secret.as_bytes())
        .map_err(|reason| anyhow!("cannot read private key {}: {reason}", path.display()))?;
    SecretKey::from_pkcs8_pem(&plain)
        .with_context(|| format!("cannot read private key {}", path.display()))
}

/// Refuses a public key file given where a private key is needed, naming the private key
/// file beside it when there is one (`kivu.pem` for `kivu.pem.pub`).
fn refuse_public_key(path: &Path) -> Result<()> {
    let text = read_small(path)?;
    if !text
        .trim_start()
        .starts_with(concat!("-----BEGIN ", "PUBLIC KEY", "-----"))
    {
        return Ok(());
    }
    let private = path
        .to_str()
        .and_then(|p| p.strip_suffix(".pub"))
        .map(Path::new)
        .filter(|p| p.exists());
    match private {
        Some(private) => bail!(
            "{} is a public key; give the private key file {} instead",
            path.display(),
            private.display()
        ),
        None => bail!(
            "{} is a public key; give the private key file instead (custody keygen --out FILE writes FILE, the private key, and FILE.pub)",
            path.display()
        ),
    }
}

/// Reads a public key file.
pub fn read_public(path: &Path) -> Result<PublicKey> {
    let text = read_small(path)?;
    PublicKey::from_pem(&text).with_context(|| format!("cannot read public key {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(pem: &str) -> SecretDocument {
        SecretDocument::from_pem(pem).unwrap().1
    }

    #[test]
    fn encrypted_key_round_trips_and_wrong_passphrase_is_named() {
        let key = SecretKey::from_seed(&[9; 32]);
        let pem = encrypt(&key, b"correct horse").unwrap();
        assert!(is_encrypted(&pem));
        let plain = decrypt(&doc(&pem), b"correct horse").unwrap();
        assert_eq!(
            SecretKey::from_pkcs8_pem(&plain).unwrap().public_key(),
            key.public_key()
        );
        let wrong = decrypt(&doc(&pem), b"battery staple").err().unwrap();
        assert!(wrong.contains("wrong passphrase"), "{wrong}");
    }

    #[test]
    fn scrypt_parameters_a_reader_cannot_afford_are_refused() {
        // log2(N) = 20 with r = 8 needs 1 GiB: the parameters are refused before any work.
        let cost = pkcs5::scrypt::Params::new(20, 8, 1, 32).unwrap();
        let params = pbes2::Parameters::scrypt_aes256cbc(cost, &[1; 16], &[2; 16]).unwrap();
        let fake = EncryptedPrivateKeyInfo {
            encryption_algorithm: params.into(),
            encrypted_data: &[0; 64],
        };
        let reason = check_kdf_cost(&fake).err().unwrap();
        assert!(reason.contains("scrypt parameters need"), "{reason}");
    }
}
