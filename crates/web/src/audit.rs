//! The audit part of the JSON API: a searchable timeline with the chain's verification, and
//! the export.

use axum::Json;
use axum::extract::{Query, State, rejection::QueryRejection};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use holdpoint_store::ExportFrom;
use serde_json::{Value, json};

use crate::Console;
use crate::error::ApiError;
use crate::session::SignedIn;

/// Records answered when no `limit` is given.
const DEFAULT_LIMIT: usize = 200;
/// The most records one answer holds.
const MAX_LIMIT: usize = 5000;

/// The filters of `GET /api/audit`.
#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditQuery {
    /// Words the record's text contains (case-insensitive).
    q: Option<String>,
    /// The record kind (`held`, `approved`, `denied`, `decision`, ...).
    kind: Option<String>,
    /// The hold id.
    hold: Option<u64>,
    /// The channel.
    channel: Option<String>,
    /// Records at this unix time or later.
    since: Option<u64>,
    /// At most this many records (newest first).
    limit: Option<usize>,
}

fn matches(filter: &AuditQuery, words: &[String], line: &str, record: &Value) -> bool {
    let field = |k: &str| record.get(k).and_then(Value::as_str);
    filter.kind.as_deref().is_none_or(|k| k.is_empty() || field("kind") == Some(k))
        && filter.channel.as_deref().is_none_or(|c| c.is_empty() || field("channel") == Some(c))
        && filter.hold.is_none_or(|h| record.get("hold_id").and_then(Value::as_u64) == Some(h))
        && filter.since.is_none_or(|t| record.get("time").and_then(Value::as_u64).is_some_and(|time| time >= t))
        && (words.is_empty() || {
            let lower = line.to_lowercase();
            words.iter().all(|w| lower.contains(w.as_str()))
        })
}

/// `GET /api/audit?q=&kind=&hold=&channel=&since=&limit=`: matching records, newest first,
/// and whether the chain verifies.
pub(crate) async fn search(
    State(console): State<Console>,
    _: SignedIn,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(filter) = query.map_err(|e| ApiError::bad(e.body_text()))?;
    let limit = filter.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let words: Vec<String> = filter.q.as_deref().unwrap_or("").split_whitespace().map(str::to_lowercase).collect();
    let store = &console.inner.store;
    let lines = store.export(ExportFrom::Seq(1)).await?;
    let total = lines.len();
    let mut matched = 0usize;
    let mut records = Vec::new();
    for line in lines.iter().rev() {
        let Ok(record) = serde_json::from_str::<Value>(line) else { continue };
        if matches(&filter, &words, line, &record) {
            matched += 1;
            if records.len() < limit {
                records.push(record);
            }
        }
    }
    let report = store.verify().await?;
    let first = report.first_problem();
    let verify = json!({
        "ok": report.is_ok(),
        "records": report.records,
        "head_seq": report.head_seq,
        "checkpoints": report.checkpoints,
        "first_bad": report.first_bad(),
        "problem": first.map(|p| format!("record {}: {}", p.seq, p.detail)),
    });
    Ok(Json(json!({ "total": total, "matched": matched, "records": records, "verify": verify })))
}

/// The filter of `GET /api/audit/export`.
#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExportQuery {
    /// Records at this unix time or later.
    since: Option<u64>,
}

/// `GET /api/audit/export?since=`: the records as JSON lines, oldest first, as `holdpoint
/// audit export` prints them.
pub(crate) async fn export(
    State(console): State<Console>,
    _: SignedIn,
    query: Result<Query<ExportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(filter) = query.map_err(|e| ApiError::bad(e.body_text()))?;
    let from = filter.since.map_or(ExportFrom::Seq(1), ExportFrom::Time);
    let lines = console.inner.store.export(from).await?;
    let mut text = lines.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    let headers = [
        (header::CONTENT_TYPE, "application/x-ndjson"),
        (header::CONTENT_DISPOSITION, "attachment; filename=\"holdpoint-audit.jsonl\""),
    ];
    Ok((headers, text).into_response())
}
