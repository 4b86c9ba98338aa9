//! The one error type of the store; every message says what was wrong and what to do.

use crate::{HoldId, HoldState};

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database could not be reached or opened at all.
    #[error("cannot open the Holdpoint store at {place}: {detail}. Check the path or URL and its permissions")]
    Open {
        /// The database file or (password-free) URL.
        place: String,
        /// What the database driver said.
        detail: String,
    },
    /// The database file exists but is not a readable SQLite database.
    #[error(
        "the Holdpoint store {place} is corrupted or unreadable ({detail}). Holdpoint will not recreate it: \
         move it aside and restore it from a backup, or remove it (and audit.key) to start a new, empty store"
    )]
    Corrupt {
        /// The database file.
        place: String,
        /// What the database driver said.
        detail: String,
    },
    /// The database holds tables, but not Holdpoint's.
    #[error("{place} is a database but not a Holdpoint store. Point Holdpoint at its own database or an empty one")]
    NotAStore {
        /// The database file or URL.
        place: String,
    },
    /// The store was written by a newer Holdpoint.
    #[error(
        "the store's schema version {found} is newer than this Holdpoint understands ({supported}); upgrade Holdpoint"
    )]
    SchemaTooNew {
        /// Version found in the database.
        found: u64,
        /// Newest version this build knows.
        supported: u64,
    },
    /// The state directory has an audit key but the database is empty: the store was deleted.
    #[error(
        "{key} exists but the store {place} is empty, so the store was deleted or replaced. Holdpoint will not \
         recreate it silently: restore the database from a backup, or remove {key} to start a new store"
    )]
    StoreMissing {
        /// The database file.
        place: String,
        /// The audit key file.
        key: String,
    },
    /// The audit key file is missing, unreadable, too widely readable or not this store's key.
    #[error("audit key {path}: {detail}")]
    AuditKey {
        /// The key file.
        path: String,
        /// What is wrong with it and what to do.
        detail: String,
    },
    /// A database operation failed after the store was opened.
    #[error("store database error: {0}. Retry; if it persists, run `holdpoint audit verify` and check the database")]
    Database(String),
    /// A stored value could not be read back (a column edited by hand, or a bug).
    #[error("unreadable data in the store: {0}. Run `holdpoint audit verify`")]
    BadData(String),
    /// No hold has this id.
    #[error("there is no hold {0}; `holdpoint pending` lists the open ones")]
    NoSuchHold(HoldId),
    /// The hold is in a state that does not allow this decision.
    #[error("hold {id} is {state}, so it can no longer be {action}")]
    WrongState {
        /// The hold.
        id: HoldId,
        /// Its current state.
        state: HoldState,
        /// What was asked (`approved`, `denied`, `cancelled`).
        action: &'static str,
    },
    /// The hold's stored fields no longer match the seal the store put on them.
    #[error(
        "hold {0} was changed in the database after it was created (its seal does not verify), so it can never be \
         released. Run `holdpoint audit verify` and investigate who can write to the store"
    )]
    Tampered(HoldId),
    /// The signing key of a decision belongs to no registered approver.
    #[error("the token does not belong to a registered approver; add one with `holdpoint approver add NAME`")]
    UnknownApprover,
    /// An approver of that name already exists.
    #[error("an approver named {0:?} already exists; choose another name")]
    ApproverExists(String),
    /// The approver name is empty, too long or has characters outside the allowed set.
    #[error("invalid approver name {0:?}: use 1 to 64 letters, digits, '-', '_', '.' or '@'")]
    BadApproverName(String),
    /// A decision's signature does not verify for this hold and digest.
    #[error(
        "the signature of approver {approver:?} does not verify for hold {id}; sign the decision again for this hold"
    )]
    BadSignature {
        /// The approver whose key was used.
        approver: String,
        /// The hold.
        id: HoldId,
    },
    /// A signed decision of one kind was given to an operation for another.
    #[error("the signed decision says {given:?}, but this operation needs {expected:?}")]
    WrongDecision {
        /// What the decision says.
        given: &'static str,
        /// What the operation needs.
        expected: &'static str,
    },
    /// The decision's signed time is too far from the store's clock.
    #[error(
        "the decision was signed for time {signed}, more than {max_skew} s from the store's time {now}; \
         check the clock and sign it again"
    )]
    StaleDecision {
        /// The time in the decision.
        signed: u64,
        /// The store's time.
        now: u64,
        /// The allowed difference, in seconds.
        max_skew: u64,
    },
    /// A token string that is not an approver token.
    #[error("not an approver token: expected \"hpa_\" and 64 hex digits, as `holdpoint approver add` printed it")]
    BadToken,
    /// A vault secret of that name already exists.
    #[error(
        "the vault already has a secret named {0:?}; choose another name, or remove it first with `holdpoint vault rm {0}`"
    )]
    SecretExists(String),
    /// No vault secret has that name.
    #[error("the vault has no secret named {0:?}; `holdpoint vault list` shows the names")]
    NoSuchSecret(String),
    /// The vault's key or its set of records changed while this change was being prepared.
    #[error(
        "the vault changed while this command ran (another command rotated its key or changed secrets); run it again"
    )]
    VaultChanged,
    /// The operating system's random number generator failed.
    #[error("no randomness available from the operating system: {0}")]
    Random(String),
    /// A value is out of the range the store can keep (e.g. a time past year 292 billion).
    #[error("value out of range: {0}")]
    OutOfRange(String),
}

impl Error {
    /// Wraps a database error that happened during normal operation.
    pub(crate) fn db(err: sqlx::Error) -> Error {
        Error::Database(err.to_string())
    }
}

/// Whether a driver error means "this file is not a (sane) SQLite database".
pub(crate) fn is_corruption(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => {
            let code = db.code();
            let code = code.as_deref().unwrap_or("");
            // SQLITE_CORRUPT (11) and SQLITE_NOTADB (26), with or without extended bits.
            let primary = code.parse::<i64>().map(|c| c & 0xff).unwrap_or(-1);
            primary == 11 || primary == 26 || db.message().contains("not a database")
        }
        _ => false,
    }
}
