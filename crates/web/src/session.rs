//! Sign-in, sessions, CSRF tokens and the sign-in rate limit.
//!
//! A session lives only in this process's memory: its id (the cookie), its CSRF token, the
//! approver's name and their token, which signs the session's decisions and is wiped when the
//! session ends (sign-out, 30 minutes idle, 12 hours old, or the server stopping).
//!
//! Every API request needs both the cookie and the CSRF token (in `X-CSRF-Token`), reads too.
//! Browsers send a cookie of 127.0.0.1 to every port of 127.0.0.1, so a local server an agent
//! runs (a dev server the approver opens) would get the cookie; the CSRF token lives in the
//! console's own origin (its page's storage), which another port cannot read.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use holdpoint_store::ApproverToken;
use serde_json::json;

use crate::Console;
use crate::error::ApiError;

/// The session cookie's name.
pub(crate) const COOKIE: &str = "holdpoint_session";
/// The header a state change sends its CSRF token in.
pub(crate) const CSRF_HEADER: &str = "x-csrf-token";
/// A session unused this long ends.
const IDLE: Duration = Duration::from_secs(30 * 60);
/// A session this old ends, used or not.
const MAX_AGE: Duration = Duration::from_secs(12 * 3600);
/// Sessions kept at most; the least recently used goes first.
const MAX_SESSIONS: usize = 256;
/// Failed sign-ins allowed within [`LOGIN_WINDOW`] before sign-in is refused for a while.
pub(crate) const LOGIN_FAILURES: usize = 5;
/// The window failed sign-ins are counted in.
const LOGIN_WINDOW: Duration = Duration::from_secs(60);
/// The longest token text read (a token is 68 characters).
const MAX_TOKEN_BODY: usize = 4096;

struct Session {
    token: Arc<ApproverToken>,
    approver: String,
    csrf: String,
    created: Instant,
    seen: Instant,
}

/// The live sessions and the recent failed sign-ins.
#[derive(Default)]
pub(crate) struct Sessions {
    map: Mutex<HashMap<String, Session>>,
    failures: Mutex<VecDeque<Instant>>,
}

/// A signed-in request: who, and the token that signs their decisions.
#[derive(Clone)]
pub(crate) struct SignedIn {
    pub(crate) id: String,
    pub(crate) approver: String,
    pub(crate) csrf: String,
    pub(crate) token: Arc<ApproverToken>,
}

/// A signed-in request that may change state: it also came from the console's own origin.
pub(crate) struct Change(pub(crate) SignedIn);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Sessions {
    /// Seconds until sign-in is allowed again, when too many failed recently.
    fn limited(&self, now: Instant) -> Option<u64> {
        let mut failures = lock(&self.failures);
        while failures.front().is_some_and(|t| now.duration_since(*t) >= LOGIN_WINDOW) {
            failures.pop_front();
        }
        if failures.len() < LOGIN_FAILURES {
            return None;
        }
        let oldest = failures.front().copied().unwrap_or(now);
        Some(LOGIN_WINDOW.saturating_sub(now.duration_since(oldest)).as_secs().max(1))
    }

    fn failed(&self, now: Instant) {
        let mut failures = lock(&self.failures);
        failures.push_back(now);
        while failures.len() > LOGIN_FAILURES * 4 {
            failures.pop_front();
        }
    }

    fn create(&self, token: ApproverToken, approver: String, now: Instant) -> Result<(String, String), ApiError> {
        let id = random_hex()?;
        let csrf = random_hex()?;
        let mut map = lock(&self.map);
        map.retain(|_, s| live(s, now));
        while map.len() >= MAX_SESSIONS {
            let Some(oldest) = map.iter().min_by_key(|(_, s)| s.seen).map(|(k, _)| k.clone()) else { break };
            map.remove(&oldest);
        }
        let session = Session { token: Arc::new(token), approver, csrf: csrf.clone(), created: now, seen: now };
        map.insert(id.clone(), session);
        Ok((id, csrf))
    }

    /// The live session with this id (and it counts as used now).
    pub(crate) fn find(&self, id: &str, now: Instant) -> Option<SignedIn> {
        let mut map = lock(&self.map);
        let session = map.get_mut(id)?;
        if !live(session, now) {
            map.remove(id);
            return None;
        }
        session.seen = now;
        Some(SignedIn {
            id: id.to_owned(),
            approver: session.approver.clone(),
            csrf: session.csrf.clone(),
            token: Arc::clone(&session.token),
        })
    }

    /// Whether the session still exists (event streams end with their session).
    pub(crate) fn is_live(&self, id: &str) -> bool {
        lock(&self.map).get(id).is_some_and(|s| live(s, Instant::now()))
    }

    fn remove(&self, id: &str) {
        lock(&self.map).remove(id);
    }
}

fn live(s: &Session, now: Instant) -> bool {
    now.duration_since(s.seen) < IDLE && now.duration_since(s.created) < MAX_AGE
}

/// 32 random bytes as hex.
fn random_hex() -> Result<String, ApiError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| ApiError::internal(format!("no randomness for a session: {e}")))?;
    Ok(holdpoint_core::hex::encode(&bytes))
}

/// Equal, comparing every byte whatever the first difference.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The session cookie's value, if the request has one.
fn cookie(headers: &HeaderMap) -> Option<String> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|c| {
        let (name, value) = c.trim().split_once('=')?;
        (name == COOKIE).then(|| value.to_owned())
    })
}

/// A request that changes state came from the console's own page: its `Origin` (when sent)
/// is the `Host` it was sent to, and `Sec-Fetch-Site` (when sent) says same-origin.
pub(crate) fn same_origin(headers: &HeaderMap) -> bool {
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text(header::HeaderName::from_static("sec-fetch-site"))
        && site != "same-origin"
        && site != "none"
    {
        return false;
    }
    match (text(header::ORIGIN), text(header::HOST)) {
        (None, _) => true,
        (Some(origin), Some(host)) => origin == format!("http://{host}") || origin == format!("https://{host}"),
        (Some(_), None) => false,
    }
}

impl FromRequestParts<Console> for SignedIn {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, console: &Console) -> Result<Self, Self::Rejection> {
        let id = cookie(&parts.headers).ok_or_else(ApiError::unauthenticated)?;
        let signed = console.inner.sessions.find(&id, Instant::now()).ok_or_else(ApiError::unauthenticated)?;
        let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
        if !same_secret(sent, &signed.csrf) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "missing or wrong CSRF token: the API answers only the console's own page",
            ));
        }
        Ok(signed)
    }
}

impl FromRequestParts<Console> for Change {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, console: &Console) -> Result<Self, Self::Rejection> {
        let signed = SignedIn::from_request_parts(parts, console).await?;
        if !same_origin(&parts.headers) {
            return Err(ApiError::new(StatusCode::FORBIDDEN, "cross-origin request refused"));
        }
        Ok(Change(signed))
    }
}

/// `POST /api/session` with `{"token": "hpa_..."}`: sign in.
pub(crate) async fn sign_in(State(console): State<Console>, headers: HeaderMap, body: Bytes) -> Response {
    match sign_in_inner(&console, &headers, &body).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn sign_in_inner(console: &Console, headers: &HeaderMap, body: &[u8]) -> Result<Response, ApiError> {
    let now = Instant::now();
    let sessions = &console.inner.sessions;
    if let Some(wait) = sessions.limited(now) {
        let mut response =
            ApiError::new(StatusCode::TOO_MANY_REQUESTS, format!("too many failed sign-ins; try again in {wait} s"))
                .into_response();
        if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return Ok(response);
    }
    if !same_origin(headers) {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "cross-origin request refused"));
    }
    let json_body = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json")));
    if !json_body {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the token as JSON: {\"token\": \"hpa_...\"}",
        ));
    }
    // Parsed here, not by an extractor, so that no error message can quote the token.
    let text = (body.len() <= MAX_TOKEN_BODY)
        .then(|| serde_json::from_slice::<serde_json::Value>(body).ok())
        .flatten()
        .and_then(|v| v.get("token").and_then(|t| t.as_str()).map(str::to_owned));
    let Some(text) = text else {
        return Err(ApiError::bad("send the token as JSON: {\"token\": \"hpa_...\"}"));
    };
    let refused = || {
        sessions.failed(now);
        ApiError::new(StatusCode::UNAUTHORIZED, "that token is not the token of a registered approver")
    };
    let Ok(token) = text.parse::<ApproverToken>() else { return Err(refused()) };
    let approvers = console.inner.store.approvers().await?;
    let key = token.key();
    let Some(approver) = approvers.into_iter().find(|a| a.key == key).map(|a| a.name) else {
        return Err(refused());
    };
    let (id, csrf) = sessions.create(token, approver.clone(), now)?;
    let secure = if console.inner.secure_cookies { "; Secure" } else { "" };
    let cookie = format!("{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict{secure}");
    let cookie = HeaderValue::from_str(&cookie).map_err(|e| ApiError::internal(e.to_string()))?;
    let mut response = Json(json!({ "approver": approver, "csrf": csrf })).into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(response)
}

/// `GET /api/session`: who is signed in (the page checks its stored CSRF token with it).
pub(crate) async fn current(signed: SignedIn) -> Json<serde_json::Value> {
    Json(json!({ "approver": signed.approver, "csrf": signed.csrf }))
}

/// `DELETE /api/session`: sign out; the token is forgotten.
pub(crate) async fn sign_out(State(console): State<Console>, Change(signed): Change) -> Response {
    console.inner.sessions.remove(&signed.id);
    let secure = if console.inner.secure_cookies { "; Secure" } else { "" };
    let expired = format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}");
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Ok(v) = HeaderValue::from_str(&expired) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}
