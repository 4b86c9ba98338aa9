//! Holdpoint's vault: real secrets encrypted at rest, placeholders that only Holdpoint's
//! proxies turn back into the real value for the host, methods and paths a secret is bound to,
//! `.env` import, and the plaintext secret scanner behind `holdpoint scan`.
//!
//! - [`VaultKey`]: 32 bytes from argon2id over a passphrase (salt and cost in the
//!   [`KeyHeader`]) or from a key file (`HOLDPOINT_VAULT_KEY_FILE`: 64 hex digits, mode 0600).
//!   The header also holds a sealed known value, so a wrong key is [`Error::WrongKey`], never
//!   garbage.
//! - [`seal_secret`]: a [`Credential`] sealed with XChaCha20-Poly1305 (random 24-byte nonce)
//!   into a [`SealedRecord`] whose associated data is the secret's name and its public
//!   [`SecretMeta`] (binding and placeholders), so rows cannot be swapped or widened.
//! - [`Vault::resolve`]: the secret a placeholder stands for, only for a [`Request`] inside
//!   the secret's [`Binding`]; otherwise a [`holdpoint_core::Denial`] naming the secret.
//!   [`placeholders_in`] finds placeholders in a header value or URL.
//! - [`dotenv`] and [`import`]: `.env` files parsed so they can be rewritten byte for byte
//!   with placeholders where the secrets were.
//!
//! The store keeps the records as opaque text. This crate's only IO is reading a key file and
//! the scanner's ([`scan`]) walk over the paths it is given.
#![forbid(unsafe_code)]

mod binding;
pub mod dotenv;
mod error;
pub mod import;
mod key;
mod placeholder;
pub mod scan;
mod seal;
mod secret;
mod vault;

pub use binding::{Binding, Injection, Kind, PRODUCTION, Request};
pub use error::Error;
pub use key::{KEY_FILE_ENV, KEY_LEN, KdfParams, KeyHeader, KeyKind, MIN_PASSPHRASE, VaultKey, new_passphrase_key};
pub use placeholder::{
    PLACEHOLDER_LEN, PREFIX, contains_placeholder, is_placeholder, new_placeholder, placeholders_in,
};
pub use secret::{
    Credential, Part, SealedRecord, SecretMeta, check_name, open_backup, open_record, read_meta, reseal_backup,
    reseal_record, seal_backup, seal_secret,
};
pub use vault::{Resolved, Vault};
