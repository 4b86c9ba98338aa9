//! One secret: its credential (kept in secrecy types, never printed), its public description
//! (name, binding, placeholders) and the sealed record the store keeps.
//!
//! A record's associated data is the netstrings of (`holdpoint.vault.secret.v1`, name, meta
//! text), so a ciphertext opens only under its own name, binding and placeholders: a row
//! copied onto another, or a binding widened in the database, no longer opens.

use std::collections::BTreeMap;

use holdpoint_core::netstrings;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::Error;
use crate::binding::{Binding, Kind};
use crate::key::VaultKey;
use crate::placeholder::{is_placeholder, new_placeholder};
use crate::seal::{open, seal};

const SECRET_AAD: &str = "holdpoint.vault.secret.v1";
const BACKUP_AAD: &str = "holdpoint.vault.backup.v1";

/// Which value of a secret a placeholder stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    /// The secret (a token, or the password of a user and password).
    Value,
    /// An AWS access key id.
    AccessKeyId,
    /// An AWS secret access key.
    SecretAccessKey,
}

impl Part {
    /// The name used in JSON.
    pub const fn as_str(self) -> &'static str {
        match self {
            Part::Value => "value",
            Part::AccessKeyId => "access_key_id",
            Part::SecretAccessKey => "secret_access_key",
        }
    }
}

/// A secret's value. Its `Debug` never shows it, and it is zeroized when dropped.
#[derive(Clone)]
pub enum Credential {
    /// A token (header and query kinds).
    Token(SecretString),
    /// A user and password (basic and postgres kinds); the placeholder stands for the password.
    UserPassword {
        /// The user name.
        user: SecretString,
        /// The password.
        password: SecretString,
    },
    /// An AWS access key pair.
    AwsKeyPair {
        /// The access key id (`AKIA...`).
        access_key_id: SecretString,
        /// The secret access key.
        secret_access_key: SecretString,
    },
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shape = match self {
            Credential::Token(_) => "Token",
            Credential::UserPassword { .. } => "UserPassword",
            Credential::AwsKeyPair { .. } => "AwsKeyPair",
        };
        write!(f, "{shape}([REDACTED])")
    }
}

impl Credential {
    /// Reads a secret as given on stdin for `kind` (one trailing newline ignored): a token for
    /// `header` and `query`, `USER:PASSWORD` for `basic` and `postgres`, and
    /// `ACCESS_KEY_ID:SECRET_ACCESS_KEY` for `aws`.
    pub fn parse(kind: Kind, text: &str) -> Result<Credential, Error> {
        let text = text.strip_suffix('\n').unwrap_or(text);
        let text = text.strip_suffix('\r').unwrap_or(text);
        if text.is_empty() {
            return Err(Error::BadSecret("the secret is empty; give it on stdin".into()));
        }
        if text.chars().any(|c| c.is_control()) {
            return Err(Error::BadSecret(
                "the secret has control characters (a line break?); give it on one line on stdin".into(),
            ));
        }
        let pair = |shape: &str| {
            text.split_once(':')
                .filter(|(a, b)| !a.is_empty() && !b.is_empty())
                .map(|(a, b)| (SecretString::from(a), SecretString::from(b)))
                .ok_or_else(|| Error::BadSecret(format!("a {kind} secret is given as {shape} on stdin")))
        };
        Ok(match kind {
            Kind::Header | Kind::Query => Credential::Token(SecretString::from(text)),
            Kind::Basic | Kind::Postgres => {
                let (user, password) = pair("USER:PASSWORD")?;
                Credential::UserPassword { user, password }
            }
            Kind::Aws => {
                let (access_key_id, secret_access_key) = pair("ACCESS_KEY_ID:SECRET_ACCESS_KEY")?;
                Credential::AwsKeyPair { access_key_id, secret_access_key }
            }
        })
    }

    /// The value a placeholder of `part` stands for.
    pub fn value(&self, part: Part) -> Option<&SecretString> {
        match (self, part) {
            (Credential::Token(v), Part::Value) => Some(v),
            (Credential::UserPassword { password, .. }, Part::Value) => Some(password),
            (Credential::AwsKeyPair { access_key_id, .. }, Part::AccessKeyId) => Some(access_key_id),
            (Credential::AwsKeyPair { secret_access_key, .. }, Part::SecretAccessKey) => Some(secret_access_key),
            _ => None,
        }
    }

    /// The placeholders a secret of this shape has.
    fn parts(&self) -> &'static [Part] {
        match self {
            Credential::Token(_) | Credential::UserPassword { .. } => &[Part::Value],
            Credential::AwsKeyPair { .. } => &[Part::AccessKeyId, Part::SecretAccessKey],
        }
    }

    fn fits(&self, kind: Kind) -> bool {
        matches!(
            (self, kind),
            (Credential::Token(_), Kind::Header | Kind::Query)
                | (Credential::UserPassword { .. }, Kind::Basic | Kind::Postgres)
                | (Credential::AwsKeyPair { .. }, Kind::Aws)
        )
    }

    /// The plaintext that is sealed: netstrings of the values.
    fn encode(&self) -> Zeroizing<Vec<u8>> {
        let fields: Vec<&str> = match self {
            Credential::Token(v) => vec![v.expose_secret()],
            Credential::UserPassword { user, password } => vec![user.expose_secret(), password.expose_secret()],
            Credential::AwsKeyPair { access_key_id, secret_access_key } => {
                vec![access_key_id.expose_secret(), secret_access_key.expose_secret()]
            }
        };
        Zeroizing::new(netstrings(&fields))
    }

    fn decode(kind: Kind, bytes: &[u8]) -> Option<Credential> {
        let fields = split_netstrings(bytes)?;
        let text = |i: usize| fields.get(i).map(|f| SecretString::from(f.as_str()));
        match (kind, fields.len()) {
            (Kind::Header | Kind::Query, 1) => Some(Credential::Token(text(0)?)),
            (Kind::Basic | Kind::Postgres, 2) => Some(Credential::UserPassword { user: text(0)?, password: text(1)? }),
            (Kind::Aws, 2) => Some(Credential::AwsKeyPair { access_key_id: text(0)?, secret_access_key: text(1)? }),
            _ => None,
        }
    }
}

fn split_netstrings(mut bytes: &[u8]) -> Option<Vec<Zeroizing<String>>> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let colon = bytes.iter().position(|&b| b == b':')?;
        let len: usize = std::str::from_utf8(bytes.get(..colon)?).ok()?.parse().ok()?;
        let end = colon.checked_add(1)?.checked_add(len)?;
        let field = bytes.get(colon + 1..end)?;
        if bytes.get(end) != Some(&b',') {
            return None;
        }
        out.push(Zeroizing::new(String::from_utf8(field.to_vec()).ok()?));
        bytes = bytes.get(end + 1..)?;
    }
    Some(out)
}

/// A secret's public description, stored in clear beside its ciphertext and bound to it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretMeta {
    /// Format version (1).
    pub v: u32,
    /// The secret's name.
    pub name: String,
    /// Where it may be used.
    pub binding: Binding,
    /// Its placeholders, by the value each stands for.
    pub placeholders: BTreeMap<Part, String>,
    /// When it was added, unix seconds.
    pub created: u64,
}

impl SecretMeta {
    /// The kind of secret.
    pub fn kind(&self) -> Kind {
        self.binding.inject.kind()
    }
}

/// A sealed secret as the store keeps it.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedRecord {
    /// The secret's name.
    pub name: String,
    /// The [`SecretMeta`] as JSON, exactly as sealed.
    pub meta: String,
    /// Nonce and ciphertext.
    pub sealed: Vec<u8>,
}

impl std::fmt::Debug for SealedRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedRecord").field("name", &self.name).field("meta", &self.meta).finish_non_exhaustive()
    }
}

/// Checks a secret name: 1 to 64 of letters, digits, `-`, `_`, `.`, `/`, starting with a
/// letter or digit.
pub fn check_name(name: &str) -> Result<(), Error> {
    let ok = (1..=64).contains(&name.len())
        && name.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/'));
    if ok { Ok(()) } else { Err(Error::BadName(name.to_owned())) }
}

fn aad(name: &str, meta: &str) -> Vec<u8> {
    netstrings(&[SECRET_AAD, name, meta])
}

/// Seals a new secret under `key`, issuing its placeholders.
pub fn seal_secret(
    key: &VaultKey,
    name: &str,
    binding: Binding,
    credential: &Credential,
    created: u64,
) -> Result<(SecretMeta, SealedRecord), Error> {
    check_name(name)?;
    binding.validate()?;
    if !credential.fits(binding.inject.kind()) {
        return Err(Error::BadSecret(format!(
            "the secret does not have the shape a {} secret needs",
            binding.inject.kind()
        )));
    }
    let mut placeholders = BTreeMap::new();
    for part in credential.parts() {
        placeholders.insert(*part, new_placeholder()?);
    }
    let meta = SecretMeta { v: 1, name: name.to_owned(), binding, placeholders, created };
    let text = serde_json::to_string(&meta).map_err(|e| Error::Seal(e.to_string()))?;
    let sealed = seal(key, &aad(name, &text), &credential.encode())?;
    Ok((meta, SealedRecord { name: name.to_owned(), meta: text, sealed }))
}

/// A record's description without opening it (what `vault list` shows); an error when the
/// description cannot be read.
pub fn read_meta(record: &SealedRecord) -> Result<SecretMeta, Error> {
    let unreadable = |why: String| Error::Unreadable { name: record.name.clone(), why };
    let meta: SecretMeta =
        serde_json::from_str(&record.meta).map_err(|e| unreadable(format!("its description is not valid ({e})")))?;
    if meta.v != 1 || meta.name != record.name {
        return Err(unreadable("its description belongs to another secret".into()));
    }
    meta.binding.validate().map_err(|e| unreadable(e.to_string()))?;
    let expected: Vec<Part> = match meta.kind() {
        Kind::Aws => vec![Part::AccessKeyId, Part::SecretAccessKey],
        _ => vec![Part::Value],
    };
    if meta.placeholders.keys().copied().collect::<Vec<_>>() != expected
        || !meta.placeholders.values().all(|p| is_placeholder(p))
    {
        return Err(unreadable("its placeholders are not the ones its kind has".into()));
    }
    Ok(meta)
}

/// Opens a record: its description and its credential, or [`Error::Unreadable`].
pub fn open_record(key: &VaultKey, record: &SealedRecord) -> Result<(SecretMeta, Credential), Error> {
    let meta = read_meta(record)?;
    let plain = open(key, &aad(&record.name, &record.meta), &record.sealed)
        .ok_or_else(|| Error::Unreadable { name: record.name.clone(), why: "its ciphertext does not verify".into() })?;
    let credential = Credential::decode(meta.kind(), &plain).ok_or_else(|| Error::Unreadable {
        name: record.name.clone(),
        why: "its plaintext has the wrong shape".into(),
    })?;
    Ok((meta, credential))
}

/// The record's ciphertext sealed again under `new` (a key rotation); the description and
/// placeholders stay as they are.
pub fn reseal_record(old: &VaultKey, new: &VaultKey, record: &SealedRecord) -> Result<Vec<u8>, Error> {
    let (_, credential) = open_record(old, record)?;
    seal(new, &aad(&record.name, &record.meta), &credential.encode())
}

/// Seals a copy of a file's bytes (a backup kept before `vault import` rewrites it), bound to
/// its path.
pub fn seal_backup(key: &VaultKey, path: &str, bytes: &[u8]) -> Result<Vec<u8>, Error> {
    seal(key, &netstrings(&[BACKUP_AAD, path]), bytes)
}

/// Opens a backup made by [`seal_backup`] for the same path.
pub fn open_backup(key: &VaultKey, path: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
    open(key, &netstrings(&[BACKUP_AAD, path]), sealed).ok_or_else(|| Error::Unreadable {
        name: format!("backup of {path}"),
        why: "its ciphertext does not verify".into(),
    })
}

/// A backup sealed again under `new` (a key rotation).
pub fn reseal_backup(old: &VaultKey, new: &VaultKey, path: &str, sealed: &[u8]) -> Result<Vec<u8>, Error> {
    let plain = open_backup(old, path, sealed)?;
    seal_backup(new, path, &plain)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binding::Injection;

    fn binding(kind: Kind) -> Binding {
        let inject = match kind {
            Kind::Header => Injection::Header { header: "Authorization".into(), format: "Bearer {}".into() },
            Kind::Query => Injection::Query { param: "key".into() },
            Kind::Basic => Injection::Basic,
            Kind::Aws => Injection::Aws,
            Kind::Postgres => Injection::Postgres,
        };
        Binding::new(vec!["api.example.com".into()], vec![], vec![], inject, vec![]).unwrap()
    }

    #[test]
    fn every_kind_round_trips_and_never_prints() {
        let key = VaultKey::generate().unwrap();
        for (kind, text, parts) in [
            (Kind::Header, "sk-live-1\n", 1),
            (Kind::Query, "k", 1),
            (Kind::Basic, "user:pa:ss", 1),
            (Kind::Postgres, "app:pgS3cretZ\r\n", 1),
            (Kind::Aws, "AKIAEXAMPLE:wJalr/XUtnFEMI", 2),
        ] {
            let credential = Credential::parse(kind, text).unwrap();
            let (meta, record) = seal_secret(&key, "s", binding(kind), &credential, 7).unwrap();
            assert_eq!(meta.placeholders.len(), parts);
            let (back, opened) = open_record(&key, &record).unwrap();
            assert_eq!(back, meta);
            assert_eq!(opened.encode().as_slice(), credential.encode().as_slice());
            let shown = format!("{opened:?} {record:?}");
            assert!(!shown.contains("pgS3cretZ") && !shown.contains("wJalr") && !shown.contains("sk-live"), "{shown}");
        }
        assert_eq!(
            Credential::parse(Kind::Basic, "user:pa:ss").unwrap().value(Part::Value).unwrap().expose_secret(),
            "pa:ss"
        );
    }

    #[test]
    fn wrong_shapes_are_refused() {
        assert!(Credential::parse(Kind::Aws, "no-colon").is_err());
        assert!(Credential::parse(Kind::Postgres, ":pw").is_err());
        assert!(Credential::parse(Kind::Header, "").is_err());
        assert!(Credential::parse(Kind::Header, "two\nlines").is_err());
        let key = VaultKey::generate().unwrap();
        let token = Credential::parse(Kind::Header, "t").unwrap();
        assert!(seal_secret(&key, "s", binding(Kind::Aws), &token, 0).is_err());
        assert!(seal_secret(&key, "-s", binding(Kind::Header), &token, 0).is_err());
        assert!(seal_secret(&key, "a b", binding(Kind::Header), &token, 0).is_err());
    }

    #[test]
    fn swapped_or_edited_rows_do_not_open() {
        let key = VaultKey::generate().unwrap();
        let token = Credential::parse(Kind::Header, "t").unwrap();
        let (_, a) = seal_secret(&key, "a", binding(Kind::Header), &token, 0).unwrap();
        let (_, b) = seal_secret(&key, "b", binding(Kind::Header), &token, 0).unwrap();
        let swapped = SealedRecord { sealed: b.sealed.clone(), ..a.clone() };
        assert!(matches!(open_record(&key, &swapped), Err(Error::Unreadable { .. })));
        let widened = SealedRecord { meta: a.meta.replace("api.example.com", "evil.example.com"), ..a.clone() };
        assert!(matches!(open_record(&key, &widened), Err(Error::Unreadable { .. })));
        let renamed = SealedRecord { name: "c".into(), meta: a.meta.replace("\"a\"", "\"c\""), ..a.clone() };
        assert!(matches!(open_record(&key, &renamed), Err(Error::Unreadable { .. })));
        let other_key = VaultKey::generate().unwrap();
        assert!(matches!(open_record(&other_key, &a), Err(Error::Unreadable { .. })));
        let resealed = SealedRecord { sealed: reseal_record(&key, &other_key, &a).unwrap(), ..a.clone() };
        assert!(open_record(&other_key, &resealed).is_ok());
    }

    #[test]
    fn backups_open_for_their_path_only() {
        let key = VaultKey::generate().unwrap();
        let sealed = seal_backup(&key, "/app/.env", b"A=1\n").unwrap();
        assert_eq!(open_backup(&key, "/app/.env", &sealed).unwrap().as_slice(), b"A=1\n");
        assert!(open_backup(&key, "/other/.env", &sealed).is_err());
    }

    #[test]
    fn netstrings_split_back() {
        let fields = split_netstrings(&netstrings(&["a:b", "", "é"])).unwrap();
        assert_eq!(fields.iter().map(|f| f.as_str()).collect::<Vec<_>>(), ["a:b", "", "é"]);
        for bad in [&b"3:ab,"[..], b"1:a", b"x:a,", b"1:a;"] {
            assert!(split_netstrings(bad).is_none());
        }
    }
}
