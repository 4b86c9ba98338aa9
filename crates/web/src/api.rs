//! The router, and the holds part of the JSON API: list, show, approve, deny, cancel.

use std::collections::BTreeMap;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::{MethodRouter, delete, get, post};
use holdpoint_store::{Decision, Hold, HoldId, Store, unix_now};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::session::{Change, SignedIn};
use crate::{Console, Inner, assets, audit, events, recover, session};

/// Every API route as (method, path); the router is built from this table and the OpenAPI
/// document must describe exactly these.
pub(crate) const ROUTES: &[(&str, &str)] = &[
    ("POST", "/api/session"),
    ("GET", "/api/session"),
    ("DELETE", "/api/session"),
    ("GET", "/api/holds"),
    ("GET", "/api/holds/{id}"),
    ("POST", "/api/holds/{id}/approve"),
    ("POST", "/api/holds/{id}/deny"),
    ("POST", "/api/holds/{id}/cancel"),
    ("GET", "/api/events"),
    ("GET", "/api/audit"),
    ("GET", "/api/audit/export"),
    ("GET", "/api/recover"),
    ("POST", "/api/recover/{kind}/{id}/restore"),
    ("GET", "/api/checkpoints"),
    ("POST", "/api/checkpoints/{id}/restore"),
    ("GET", "/api/openapi.json"),
];

/// The longest note or reason kept with a decision, in characters.
const MAX_NOTE: usize = 2000;
/// The largest request body read.
const MAX_BODY: usize = 64 * 1024;

fn handler(method: &str, path: &str) -> Option<MethodRouter<Console>> {
    Some(match (method, path) {
        ("POST", "/api/session") => post(session::sign_in),
        ("GET", "/api/session") => get(session::current),
        ("DELETE", "/api/session") => delete(session::sign_out),
        ("GET", "/api/holds") => get(list),
        ("GET", "/api/holds/{id}") => get(show),
        ("POST", "/api/holds/{id}/approve") => post(approve),
        ("POST", "/api/holds/{id}/deny") => post(deny),
        ("POST", "/api/holds/{id}/cancel") => post(cancel),
        ("GET", "/api/events") => get(events::events),
        ("GET", "/api/audit") => get(audit::search),
        ("GET", "/api/audit/export") => get(audit::export),
        ("GET", "/api/recover") => get(recover::list),
        ("POST", "/api/recover/{kind}/{id}/restore") => post(recover::restore),
        ("GET", "/api/checkpoints") => get(recover::checkpoints),
        ("POST", "/api/checkpoints/{id}/restore") => post(recover::restore_checkpoint),
        ("GET", "/api/openapi.json") => get(assets::openapi),
        _ => return None,
    })
}

/// The page, its assets and the API, behind the host check and the security headers.
pub(crate) fn router(console: Console) -> Router {
    let mut router = Router::new();
    for (method, path) in ROUTES {
        if let Some(h) = handler(method, path) {
            router = router.route(path, h);
        }
    }
    router
        .route("/", get(assets::index))
        .route("/holds/{id}", get(assets::index))
        .route("/audit", get(assets::index))
        .route("/recover", get(assets::index))
        .route("/assets/{file}", get(assets::file))
        .fallback(assets::not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn_with_state(console.clone(), assets::guard))
        .with_state(console)
}

/// A JSON body: `application/json`, an empty body read as `{}`.
pub(crate) fn body<T: DeserializeOwned>(headers: &HeaderMap, bytes: &[u8]) -> Result<T, ApiError> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json")));
    if !json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send a JSON body (Content-Type: application/json)",
        ));
    }
    let bytes = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}".as_slice() } else { bytes };
    serde_json::from_slice(bytes).map_err(|e| ApiError::bad(format!("bad JSON body: {e}")))
}

/// A hold id from the path.
pub(crate) fn hold_id(text: &str) -> Result<HoldId, ApiError> {
    text.parse().map_err(|_| {
        let shown: String = text.chars().take(40).collect();
        ApiError::bad(format!("{shown:?} is not a hold id (a positive integer)"))
    })
}

/// The open holds, newest first, as the API shows them.
pub(crate) async fn open_holds(inner: &Inner, now: u64) -> Result<Vec<Value>, ApiError> {
    let holds = inner.store.pending(now).await?;
    let known = Known::read(inner).await;
    Ok(holds.iter().map(|h| view(h, &known)).collect())
}

/// Which policies held each action, by digest, from the audit log's `decision` records (a hold
/// keeps only the reasons). Read incrementally: each call reads only the records added since.
#[derive(Default)]
pub(crate) struct PolicyIndex {
    next_seq: u64,
    by_digest: BTreeMap<String, Vec<String>>,
}

impl PolicyIndex {
    async fn update(&mut self, store: &Store) {
        let from = self.next_seq.max(1);
        let Ok(lines) = store.export(holdpoint_store::ExportFrom::Seq(from)).await else { return };
        for line in lines {
            let Ok(record) = serde_json::from_str::<Value>(&line) else { continue };
            if let Some(seq) = record.get("seq").and_then(Value::as_u64) {
                self.next_seq = self.next_seq.max(seq.saturating_add(1));
            }
            let held = record.get("kind").and_then(Value::as_str) == Some("decision")
                && record.get("verdict").and_then(Value::as_str) == Some("hold");
            let digest = record.get("digest").and_then(Value::as_str);
            let policies = record.pointer("/detail/policies").and_then(Value::as_array);
            if let (true, Some(digest), Some(policies)) = (held, digest, policies) {
                let ids = policies.iter().filter_map(Value::as_str).map(str::to_owned).collect();
                self.by_digest.insert(digest.to_owned(), ids);
            }
        }
    }
}

/// What a hold's view adds to the store's fields: secret names and policy ids.
pub(crate) struct Known {
    names: BTreeMap<String, String>,
    policies: BTreeMap<String, Vec<String>>,
}

impl Known {
    pub(crate) async fn read(inner: &Inner) -> Known {
        let names = secret_names(&inner.store).await;
        let mut index = inner.policies.lock().await;
        index.update(&inner.store).await;
        Known { names, policies: index.by_digest.clone() }
    }
}

/// Vault placeholders and the names of their secrets, so an action shows `hp_...` as the
/// secret it stands for (names only; the store holds no secret in clear).
async fn secret_names(store: &Store) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    for record in store.vault_records().await.unwrap_or_default() {
        let Ok(meta) = serde_json::from_str::<Value>(&record.meta) else { continue };
        let mut found = Vec::new();
        collect_strings(meta.get("placeholders").unwrap_or(&Value::Null), &mut found);
        for placeholder in found {
            names.insert(placeholder, record.name.clone());
        }
    }
    names
}

fn collect_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|i| collect_strings(i, out)),
        Value::Object(map) => map.values().for_each(|i| collect_strings(i, out)),
        _ => {}
    }
}

/// One hold as the API shows it: the store's fields, the action itself, and the vault names
/// of the placeholders it carries.
pub(crate) fn view(h: &Hold, known: &Known) -> Value {
    let action: Value = serde_json::from_str(&h.action_json).unwrap_or(Value::Null);
    let secrets: BTreeMap<&String, &String> =
        known.names.iter().filter(|(p, _)| h.action_json.contains(p.as_str())).collect();
    let policies = known.policies.get(&h.digest.to_string()).cloned().unwrap_or_default();
    json!({
        "id": h.id.get(),
        "channel": h.channel.as_str(),
        "summary": h.summary,
        "reason": h.reason,
        "state": h.state.as_str(),
        "created": h.created,
        "expires": h.expires,
        "approvals": h.approvals,
        "approvers_needed": h.approvers_needed(),
        "delay_secs": h.obligations.delay_secs,
        "ttl_secs": h.obligations.ttl_secs,
        "soft_delete": h.obligations.soft_delete,
        "release_at": h.release_at,
        "digest": h.digest.to_string(),
        "sealed": h.sealed,
        "action": action,
        "secrets": secrets,
        "policies": policies,
    })
}

/// `GET /api/holds`: the open holds, newest first.
async fn list(State(console): State<Console>, signed: SignedIn) -> Result<Json<Value>, ApiError> {
    let now = unix_now();
    let holds = open_holds(&console.inner, now).await?;
    Ok(Json(json!({ "now": now, "approver": signed.approver, "holds": holds })))
}

/// `GET /api/holds/{id}`: one hold, open or not.
async fn show(State(console): State<Console>, _: SignedIn, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let id = hold_id(&id)?;
    let now = unix_now();
    let hold = console.inner.store.get(id, now).await?;
    let known = Known::read(&console.inner).await;
    Ok(Json(json!({ "now": now, "hold": view(&hold, &known) })))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Note {
    note: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Reason {
    reason: Option<String>,
}

fn words(text: Option<String>, what: &str, required: bool) -> Result<Option<String>, ApiError> {
    let text = text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
    match text {
        None if required => Err(ApiError::bad(format!("a {what} is required"))),
        Some(t) if t.chars().count() > MAX_NOTE => {
            Err(ApiError::bad(format!("the {what} is longer than {MAX_NOTE} characters")))
        }
        t => Ok(t),
    }
}

/// `POST /api/holds/{id}/approve` with `{"note"?}`.
async fn approve(
    State(console): State<Console>,
    Change(signed): Change,
    Path(id): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    let Note { note } = body(&headers, &bytes)?;
    let note = words(note, "note", false)?;
    decide(&console, &signed, &id, Decision::Approve, note).await
}

/// `POST /api/holds/{id}/deny` with `{"reason"}`.
async fn deny(
    State(console): State<Console>,
    Change(signed): Change,
    Path(id): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    let Reason { reason } = body(&headers, &bytes)?;
    let reason = words(reason, "reason", true)?;
    decide(&console, &signed, &id, Decision::Deny, reason).await
}

/// `POST /api/holds/{id}/cancel` with `{"reason"?}`.
async fn cancel(
    State(console): State<Console>,
    Change(signed): Change,
    Path(id): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    let Reason { reason } = body(&headers, &bytes)?;
    let reason = words(reason, "reason", false)?;
    decide(&console, &signed, &id, Decision::Cancel, reason).await
}

/// Signs the decision with the session's token and gives it to the store, as `holdpoint
/// approve|deny|cancel` does.
async fn decide(
    console: &Console,
    signed: &SignedIn,
    id: &str,
    decision: Decision,
    note: Option<String>,
) -> Result<Json<Value>, ApiError> {
    let id = hold_id(id)?;
    let store = &console.inner.store;
    let now = unix_now();
    let hold = store.get(id, now).await?;
    let already = decision == Decision::Approve && hold.approvals.iter().any(|a| a.approver == signed.approver);
    let signature = signed.token.sign(id, &hold.digest, decision, now);
    let after = match decision {
        Decision::Approve => store.approve(id, &signature, note.as_deref(), now).await,
        Decision::Deny => store.deny(id, &signature, note.as_deref(), now).await,
        Decision::Cancel => store.cancel(id, &signature, note.as_deref(), now).await,
    };
    console.inner.changes.poke();
    let after = after?;
    let known = Known::read(&console.inner).await;
    Ok(Json(json!({ "now": now, "already_approved": already, "hold": view(&after, &known) })))
}
