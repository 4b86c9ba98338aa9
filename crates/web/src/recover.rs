//! Recovery: what the binary can bring back (workspace checkpoints, the SQL trash), reached
//! through the [`Recover`] trait it implements; every restore is audited here.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State, rejection::QueryRejection};
use axum::http::{HeaderMap, StatusCode};
use holdpoint_store::{AuditEntry, unix_now};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::Console;
use crate::error::ApiError;
use crate::session::{Change, SignedIn};

/// What kind of thing can be restored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecoverKind {
    /// A workspace checkpoint (`holdpoint checkpoint`).
    Checkpoint,
    /// A table or rows the SQL soft-delete rewrite kept in the trash schema.
    Trash,
}

impl RecoverKind {
    /// Every kind, in the order the console lists them.
    pub const ALL: [RecoverKind; 2] = [RecoverKind::Checkpoint, RecoverKind::Trash];

    /// The stable lower-case name used in paths and JSON.
    pub const fn as_str(self) -> &'static str {
        match self {
            RecoverKind::Checkpoint => "checkpoint",
            RecoverKind::Trash => "trash",
        }
    }

    /// The kind named `text`.
    pub fn parse(text: &str) -> Option<RecoverKind> {
        RecoverKind::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// One thing that can be restored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoverItem {
    /// Its kind.
    pub kind: RecoverKind,
    /// Its id within the kind (a checkpoint number, a trash entry's name).
    pub id: String,
    /// What it is of: the workspace, the table.
    pub title: String,
    /// More in plain words: why it was taken, sizes.
    pub detail: String,
    /// When it was made, unix seconds.
    pub created: u64,
}

/// What a restore did, as the binary reports it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Restored {
    /// One sentence for the approver (what was written, how to undo it).
    pub message: String,
    /// Facts for the audit record (counts, the safety checkpoint); never a secret.
    pub detail: Value,
}

/// Why a restore or a listing failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecoverError {
    /// There is no such item.
    #[error("{0}")]
    NotFound(String),
    /// Anything else, in plain words.
    #[error("{0}")]
    Failed(String),
}

/// What the binary can bring back. Calls may block (file system, database): the console runs
/// them on a blocking thread.
pub trait Recover: Send + Sync + 'static {
    /// The items of one kind, newest first; a kind this binary does not offer has none.
    fn list(&self, kind: RecoverKind) -> Result<Vec<RecoverItem>, RecoverError>;

    /// Restores one item.
    fn restore(&self, kind: RecoverKind, id: &str) -> Result<Restored, RecoverError>;
}

/// Offers nothing to restore.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoRecover;

impl Recover for NoRecover {
    fn list(&self, _: RecoverKind) -> Result<Vec<RecoverItem>, RecoverError> {
        Ok(Vec::new())
    }

    fn restore(&self, kind: RecoverKind, id: &str) -> Result<Restored, RecoverError> {
        Err(RecoverError::NotFound(format!("there is no {} {id:?} to restore", kind.as_str())))
    }
}

impl From<RecoverError> for ApiError {
    fn from(e: RecoverError) -> ApiError {
        match e {
            RecoverError::NotFound(m) => ApiError::new(StatusCode::NOT_FOUND, m),
            RecoverError::Failed(m) => ApiError::internal(m),
        }
    }
}

/// The filter of `GET /api/recover`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    kind: Option<String>,
}

fn kind_of(text: &str) -> Result<RecoverKind, ApiError> {
    RecoverKind::parse(text).ok_or_else(|| {
        let shown: String = text.chars().take(40).collect();
        ApiError::bad(format!("{shown:?} is not something to restore (checkpoint or trash)"))
    })
}

async fn items(console: &Console, kinds: Vec<RecoverKind>) -> Result<Vec<RecoverItem>, ApiError> {
    let recover = std::sync::Arc::clone(&console.inner.recover);
    let listed = tokio::task::spawn_blocking(move || {
        let mut all = Vec::new();
        for kind in kinds {
            all.extend(recover.list(kind)?);
        }
        Ok::<_, RecoverError>(all)
    })
    .await
    .map_err(|e| ApiError::internal(format!("the listing failed: {e}")))??;
    Ok(listed)
}

/// `GET /api/recover?kind=`: what can be restored.
pub(crate) async fn list(
    State(console): State<Console>,
    _: SignedIn,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(filter) = query.map_err(|e| ApiError::bad(e.body_text()))?;
    let kinds = match filter.kind.as_deref() {
        None | Some("") => RecoverKind::ALL.to_vec(),
        Some(k) => vec![kind_of(k)?],
    };
    Ok(Json(json!({ "items": items(&console, kinds).await? })))
}

/// `GET /api/checkpoints`: the workspace checkpoints.
pub(crate) async fn checkpoints(State(console): State<Console>, _: SignedIn) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "items": items(&console, vec![RecoverKind::Checkpoint]).await? })))
}

/// `POST /api/recover/{kind}/{id}/restore`.
pub(crate) async fn restore(
    State(console): State<Console>,
    Change(signed): Change,
    Path((kind, id)): Path<(String, String)>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    let _: Value = crate::api::body(&headers, &bytes)?;
    run_restore(&console, &signed.approver, kind_of(&kind)?, id).await
}

/// `POST /api/checkpoints/{id}/restore`.
pub(crate) async fn restore_checkpoint(
    State(console): State<Console>,
    Change(signed): Change,
    Path(id): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    let _: Value = crate::api::body(&headers, &bytes)?;
    run_restore(&console, &signed.approver, RecoverKind::Checkpoint, id).await
}

/// Restores, then audits the restore (`{"event": "<kind>-restore", "approver", "id", ...}`);
/// a restore that could not be audited is reported as an error.
async fn run_restore(
    console: &Console,
    approver: &str,
    kind: RecoverKind,
    id: String,
) -> Result<Json<Value>, ApiError> {
    if id.is_empty() || id.len() > 200 {
        return Err(ApiError::bad("not an item id"));
    }
    let recover = std::sync::Arc::clone(&console.inner.recover);
    let item = id.clone();
    let restored = tokio::task::spawn_blocking(move || recover.restore(kind, &item))
        .await
        .map_err(|e| ApiError::internal(format!("the restore failed: {e}")))??;
    let mut detail = json!({
        "event": format!("{}-restore", kind.as_str()),
        "id": id,
        "approver": approver,
        "via": "web",
    });
    if let (Some(map), Some(extra)) = (detail.as_object_mut(), restored.detail.as_object()) {
        for (k, v) in extra {
            map.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    let entry = AuditEntry { detail: detail.into(), ..AuditEntry::default() };
    let seq = console.inner.store.audit_decision(entry, unix_now()).await.map_err(|e| {
        ApiError::internal(format!("the {} was restored but the restore could not be audited: {e}", kind.as_str()))
    })?;
    Ok(Json(
        json!({ "kind": kind, "id": id, "message": restored.message, "detail": restored.detail, "audit_seq": seq }),
    ))
}
