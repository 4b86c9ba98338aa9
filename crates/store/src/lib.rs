//! Holdpoint's store: the hold state machine, approvers with ed25519-signed decisions, and the
//! tamper-evident audit log, in SQLite (the default, one file in the state directory) or
//! PostgreSQL (for teams), behind one API and one schema.
//!
//! A held action becomes a [`Hold`] (`pending`). Registered approvers sign decisions with their
//! [`ApproverToken`]; once enough distinct approvers approved and the cool-off delay passed, the
//! hold is `released`, and [`Store::consume`] lets exactly one caller run the action with that
//! [`ActionDigest`](holdpoint_core::ActionDigest). Times are unix seconds given by the caller:
//! the state machine never reads a clock.
//!
//! What a hold's state is comes from what cannot be forged without a key: the store's seal
//! (an audit-key signature over the hold's fields) and the approvers' signatures over
//! ([`decision_message`]) the hold id, digest, decision and time. Editing a database row to
//! say `released` releases nothing.
//!
//! Every change is one transaction that appends its audit record(s) to a hash chain. A record
//! is canonical JSON (keys sorted at every level, compact), version 1:
//! `{"v":1,"seq":N,"time":T,"kind":K,"hold_id"?,"digest"?,"channel"?,"verdict"?,"detail":{..},"prev":"sha256:<hex>"}`
//! where `prev` is the SHA-256 of the previous record's canonical JSON (64 zeros before the
//! first) and `kind` is one of `held`, `approved`, `denied`, `cancelled`, `released`,
//! `expired`, `executed`, `approver_added`, `decision` (from [`Store::audit_decision`]),
//! `vault_added`, `vault_removed`, `vault_rekeyed` (names and counts, never a secret). The
//! audit key (`audit.key` in the state directory) signs the head (last seq and hash) in every
//! transaction and a checkpoint every N records and on [`Store::checkpoint`];
//! [`Store::verify`] names the first edited, deleted, inserted or reordered record.
//!
//! ```no_run
//! # async fn demo() -> Result<(), holdpoint_store::Error> {
//! use holdpoint_core::{ActionDigest, Channel, Obligations};
//! use holdpoint_store::{Decision, NewHold, Store};
//!
//! let store = Store::open_sqlite(std::path::Path::new("/var/lib/holdpoint/state")).await?;
//! let alice = store.add_approver("alice", 100).await?; // shown once: alice.expose_secret()
//! let digest = ActionDigest::of(Channel::Shell, "/w", "", "terraform destroy");
//! let obligations = Obligations { approvers: 1, delay_secs: 0, ttl_secs: 3600, soft_delete: false };
//! let hold = store
//!     .enqueue(NewHold { digest, channel: Channel::Shell, summary: "terraform destroy".into(),
//!         reason: "destroys infrastructure".into(), action_json: "{}".into(), obligations }, 100)
//!     .await?;
//! let signed = alice.sign(hold.id, &digest, Decision::Approve, 110);
//! store.approve(hold.id, &signed, None, 110).await?;
//! assert_eq!(store.consume(&digest, 111).await?, Some(hold.id)); // once
//! assert_eq!(store.consume(&digest, 112).await?, None);
//! store.checkpoint(113).await?;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

mod audit;
mod error;
mod hold;
mod keys;
mod machine;
mod settle;
mod store;
mod vault;

pub use audit::{
    AuditEntry, AuditProblem, DecisionDetail, Detail, ExportFrom, ProblemKind, VerifyReport, pack_run, unpack_run,
};
pub use error::Error;
pub use hold::{Approval, Hold, HoldId, HoldState, NewHold};
pub use keys::{ApproverKey, ApproverToken, Decision, SignedDecision, decision_message};
pub use machine::{ApproverInfo, MAX_DECISION_SKEW};
pub use settle::Settled;
pub use store::{AUDIT_KEY_FILE, DB_FILE, DEFAULT_CHECKPOINT_EVERY, Store};
pub use vault::{VaultAddition, VaultBackup, VaultRecord, VaultRekey};

/// The current time in unix seconds, for callers that have no clock of their own to pass in
/// (the state machine itself never reads a clock).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
