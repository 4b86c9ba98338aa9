//! The one error type of the vault; every message says what was wrong and what to do, and
//! none carries a secret.

/// Everything that can go wrong in the vault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The key file is missing, unreadable, too widely readable or not a key.
    #[error("vault key file {path}: {detail}")]
    KeyFile {
        /// The key file.
        path: String,
        /// What is wrong with it and what to do.
        detail: String,
    },
    /// The key does not open this vault: a wrong passphrase or another key file.
    #[error("this key does not open the vault (a wrong passphrase, or another vault's key file)")]
    WrongKey,
    /// The vault's key header cannot be read.
    #[error(
        "the vault's key header cannot be read ({0}); the store was edited or written by a newer Holdpoint. \
         Restore the database from a backup, or upgrade Holdpoint"
    )]
    BadHeader(String),
    /// A passphrase that is too short for a new vault.
    #[error("the passphrase is too short: use at least {0} characters (a few unrelated words are easy to type)")]
    WeakPassphrase(usize),
    /// Key derivation failed (parameters out of range).
    #[error("the key cannot be derived from the passphrase: {0}")]
    Kdf(String),
    /// The operating system's random number generator failed.
    #[error("no randomness available from the operating system: {0}")]
    Random(String),
    /// Encryption failed (a message too large for the cipher).
    #[error("the secret cannot be encrypted: {0}")]
    Seal(String),
    /// A stored secret does not open: its row was edited, swapped or sealed under another key.
    #[error(
        "vault secret {name:?} cannot be opened: {why}. Its row was changed in the database or sealed under \
         another key; remove it with `holdpoint vault rm {name}` and add it again"
    )]
    Unreadable {
        /// The secret's name.
        name: String,
        /// What failed.
        why: String,
    },
    /// A secret name outside the allowed set.
    #[error(
        "invalid secret name {0:?}: use 1 to 64 letters, digits, '-', '_', '.' or '/', starting with a letter or digit"
    )]
    BadName(String),
    /// A binding that cannot be used (no host, a bad glob, a header format without `{{}}`).
    #[error("invalid binding: {0}")]
    BadBinding(String),
    /// A secret value in the wrong shape for its kind (`aws` needs `ID:SECRET`).
    #[error("invalid secret: {0}")]
    BadSecret(String),
    /// A `.env` file that cannot be read safely.
    #[error("{path}:{line}: {detail}")]
    Dotenv {
        /// The file (as given).
        path: String,
        /// The 1-based line.
        line: usize,
        /// What is wrong there.
        detail: String,
    },
}
