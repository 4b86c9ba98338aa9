//! The vault key: 32 bytes, derived with argon2id from a passphrase or read from a key file,
//! and the key header stored beside the records (how the key is made, and a sealed known value
//! that tells a wrong key from the right one).

use std::path::Path;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::Error;
use crate::seal::{hex, open, seal, unhex};

/// Bytes in a vault key.
pub const KEY_LEN: usize = 32;
/// The shortest passphrase a new vault accepts.
pub const MIN_PASSPHRASE: usize = 12;
/// The environment variable naming a key file, for unattended use.
pub const KEY_FILE_ENV: &str = "HOLDPOINT_VAULT_KEY_FILE";

/// What the key check seals: a known value, so a wrong key is an error and never garbage.
const CHECK_PLAINTEXT: &[u8] = b"holdpoint vault key check";
const CHECK_AAD: &[u8] = b"holdpoint.vault.check.v1";
const SALT_LEN: usize = 16;

/// The key every vault record is sealed under. Zeroized when dropped; never printed.
pub struct VaultKey(Zeroizing<[u8; KEY_LEN]>);

impl std::fmt::Debug for VaultKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VaultKey([REDACTED])")
    }
}

impl VaultKey {
    /// A new random key (for a key file, or a test).
    pub fn generate() -> Result<VaultKey, Error> {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        getrandom::fill(key.as_mut_slice()).map_err(|e| Error::Random(e.to_string()))?;
        Ok(VaultKey(key))
    }

    /// The key argon2id derives from `passphrase` with `params`.
    pub fn derive(passphrase: &[u8], params: &KdfParams) -> Result<VaultKey, Error> {
        let salt = unhex(&params.salt).ok_or_else(|| Error::Kdf("the salt is not hex".into()))?;
        let cost = argon2::Params::new(params.m_kib, params.t, params.p, Some(KEY_LEN))
            .map_err(|e| Error::Kdf(e.to_string()))?;
        let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, cost);
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        argon.hash_password_into(passphrase, &salt, key.as_mut_slice()).map_err(|e| Error::Kdf(e.to_string()))?;
        Ok(VaultKey(key))
    }

    /// Reads a key file: 64 hex digits (32 bytes), surrounding whitespace ignored, readable by
    /// its owner only. `openssl rand -hex 32 > F && chmod 600 F` makes one.
    pub fn from_key_file(path: &Path) -> Result<VaultKey, Error> {
        let bad = |detail: String| Error::KeyFile { path: path.display().to_string(), detail };
        let text = std::fs::read(path).map(Zeroizing::new).map_err(|e| {
            bad(match e.kind() {
                std::io::ErrorKind::NotFound => {
                    "does not exist; create it with `openssl rand -hex 32 > FILE && chmod 600 FILE`".into()
                }
                _ => format!("cannot be read ({e}); check its owner and permissions"),
            })
        })?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path).map_err(|e| bad(e.to_string()))?.permissions().mode();
            if mode & 0o077 != 0 {
                return Err(bad(format!(
                    "is readable or writable by group or others (mode {:o}); run `chmod 600` on it",
                    mode & 0o777
                )));
            }
        }
        VaultKey::parse_key_file(&text).map_err(bad)
    }

    /// A key file's content: 64 hex digits, surrounding whitespace ignored.
    pub fn parse_key_file(text: &[u8]) -> Result<VaultKey, String> {
        let wrong =
            || "is not a vault key: it must hold 64 hex digits (32 bytes), as `openssl rand -hex 32` prints".to_owned();
        let text = std::str::from_utf8(text).map_err(|_| wrong())?.trim();
        let bytes = Zeroizing::new(unhex(text).ok_or_else(wrong)?);
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        if bytes.len() != KEY_LEN {
            return Err(wrong());
        }
        key.copy_from_slice(&bytes);
        Ok(VaultKey(key))
    }

    /// The text of a key file for this key (64 hex digits and a newline).
    pub fn key_file_text(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("{}\n", hex(self.0.as_slice())))
    }

    pub(crate) fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

/// argon2id parameters and salt of a passphrase-derived key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KdfParams {
    /// Always `argon2id`.
    pub algorithm: String,
    /// Memory, KiB.
    pub m_kib: u32,
    /// Passes.
    pub t: u32,
    /// Lanes.
    pub p: u32,
    /// 16 random bytes, hex.
    pub salt: String,
}

impl KdfParams {
    /// Parameters for a new passphrase (64 MiB, 3 passes, 1 lane: RFC 9106's second
    /// recommendation) with a fresh salt.
    pub fn new_random() -> Result<KdfParams, Error> {
        KdfParams::with_cost(64 * 1024, 3, 1)
    }

    /// Parameters of the given cost with a fresh salt (tests use a small cost).
    pub fn with_cost(m_kib: u32, t: u32, p: u32) -> Result<KdfParams, Error> {
        let mut salt = [0u8; SALT_LEN];
        getrandom::fill(&mut salt).map_err(|e| Error::Random(e.to_string()))?;
        Ok(KdfParams { algorithm: "argon2id".into(), m_kib, t, p, salt: hex(&salt) })
    }
}

/// Where a vault's key comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    /// Derived from a passphrase typed at a terminal.
    Passphrase,
    /// Read from a key file (`HOLDPOINT_VAULT_KEY_FILE`).
    KeyFile,
}

/// The vault's key header: how its key is made and a sealed known value. Stored beside the
/// records as JSON `{"v":1,"kdf":{...}|null,"check":"<hex>"}`; `kdf` is null for a key-file key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyHeader {
    v: u32,
    kdf: Option<KdfParams>,
    check: String,
}

impl KeyHeader {
    /// The header of a vault sealed under `key` (`kdf`: how it was derived, or `None` for a
    /// key file).
    pub fn new(key: &VaultKey, kdf: Option<KdfParams>) -> Result<KeyHeader, Error> {
        Ok(KeyHeader { v: 1, kdf, check: hex(&seal(key, CHECK_AAD, CHECK_PLAINTEXT)?) })
    }

    /// Reads a stored header.
    pub fn parse(text: &str) -> Result<KeyHeader, Error> {
        let header: KeyHeader = serde_json::from_str(text).map_err(|e| Error::BadHeader(e.to_string()))?;
        if header.v != 1 {
            return Err(Error::BadHeader(format!("version {}", header.v)));
        }
        if let Some(kdf) = &header.kdf
            && kdf.algorithm != "argon2id"
        {
            return Err(Error::BadHeader(format!("unknown key derivation {:?}", kdf.algorithm)));
        }
        Ok(header)
    }

    /// The header as stored.
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Whether the vault's key is a passphrase's or a key file's.
    pub fn kind(&self) -> KeyKind {
        if self.kdf.is_some() { KeyKind::Passphrase } else { KeyKind::KeyFile }
    }

    /// The key derivation of a passphrase vault.
    pub fn kdf(&self) -> Option<&KdfParams> {
        self.kdf.as_ref()
    }

    /// Whether `key` is this vault's key: [`Error::WrongKey`] if not.
    pub fn verify(&self, key: &VaultKey) -> Result<(), Error> {
        let sealed = unhex(&self.check).ok_or_else(|| Error::BadHeader("the key check is not hex".into()))?;
        match open(key, CHECK_AAD, &sealed) {
            Some(plain) if plain.as_slice() == CHECK_PLAINTEXT => Ok(()),
            _ => Err(Error::WrongKey),
        }
    }

    /// Derives the key from `passphrase` with this header's parameters and checks it.
    pub fn unlock_with_passphrase(&self, passphrase: &[u8]) -> Result<VaultKey, Error> {
        let kdf = self.kdf.as_ref().ok_or(Error::WrongKey)?;
        let key = VaultKey::derive(passphrase, kdf)?;
        self.verify(&key)?;
        Ok(key)
    }
}

/// A new passphrase vault's key and header; the passphrase must have [`MIN_PASSPHRASE`]
/// characters at least.
pub fn new_passphrase_key(passphrase: &str, params: KdfParams) -> Result<(VaultKey, KeyHeader), Error> {
    if passphrase.chars().count() < MIN_PASSPHRASE {
        return Err(Error::WeakPassphrase(MIN_PASSPHRASE));
    }
    let key = VaultKey::derive(passphrase.as_bytes(), &params)?;
    let header = KeyHeader::new(&key, Some(params))?;
    Ok((key, header))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrong_key_is_an_error_not_garbage() {
        let key = VaultKey::generate().unwrap();
        let header = KeyHeader::new(&key, None).unwrap();
        let back = KeyHeader::parse(&header.to_text()).unwrap();
        back.verify(&key).unwrap();
        assert!(matches!(back.verify(&VaultKey::generate().unwrap()), Err(Error::WrongKey)));
        assert_eq!(back.kind(), KeyKind::KeyFile);
    }

    #[test]
    fn passphrase_keys_derive_the_same_key_from_the_same_words() {
        let params = KdfParams::with_cost(64, 1, 1).unwrap();
        let (key, header) = new_passphrase_key("correct horse battery", params).unwrap();
        let header = KeyHeader::parse(&header.to_text()).unwrap();
        assert_eq!(header.kind(), KeyKind::Passphrase);
        assert_eq!(header.unlock_with_passphrase(b"correct horse battery").unwrap().bytes(), key.bytes());
        assert!(matches!(header.unlock_with_passphrase(b"correct horse batterY"), Err(Error::WrongKey)));
        let params = KdfParams::with_cost(64, 1, 1).unwrap();
        assert!(matches!(new_passphrase_key("short", params), Err(Error::WeakPassphrase(_))));
    }

    #[test]
    fn key_files_are_64_hex_digits() {
        let key = VaultKey::generate().unwrap();
        let text = key.key_file_text();
        assert_eq!(VaultKey::parse_key_file(text.as_bytes()).unwrap().bytes(), key.bytes());
        assert!(VaultKey::parse_key_file(format!("  {}  \n", text.trim()).as_bytes()).is_ok());
        assert!(VaultKey::parse_key_file(b"abcd").is_err());
        assert!(VaultKey::parse_key_file(&[b'g'; 64]).is_err());
        assert!(VaultKey::parse_key_file(&[0xff; 64]).is_err());
        assert_eq!(format!("{key:?}"), "VaultKey([REDACTED])");
    }

    #[test]
    fn headers_of_other_versions_or_shapes_are_refused() {
        assert!(KeyHeader::parse("{\"v\":2,\"kdf\":null,\"check\":\"00\"}").is_err());
        assert!(KeyHeader::parse("{\"v\":1,\"kdf\":null,\"check\":\"00\",\"x\":1}").is_err());
        assert!(KeyHeader::parse("not json").is_err());
    }
}
