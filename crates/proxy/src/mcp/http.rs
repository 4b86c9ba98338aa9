//! The streamable-HTTP transport: each `[[mcp]]` block of `holdpoint serve` listens on
//! loopback, and the agent's MCP client talks to it as it would to the server at `upstream`.
//!
//! - `POST`: the agent's messages (one, or a batch). A message the gateway cannot read refuses
//!   the whole request (`400`, a JSON-RPC error), nothing of it forwarded. Each `tools/call` is
//!   decided first; when one is refused, the request is answered there (`200`, the JSON-RPC
//!   errors, `-32001` held or `-32002` denied) and nothing of it is forwarded. A call that
//!   waits for a human, from a client that takes event streams and asked for progress, is
//!   answered with an event stream at once: progress notifications while it waits, then the
//!   refusal or the server's answer.
//! - `GET` (the server's own stream) and `DELETE` (the end of a session) are forwarded.
//! - Every answer the server gives — JSON or an event stream — is read message by message:
//!   tool lists are noted, `notifications/tools/list_changed` makes the gateway list the tools
//!   again before the next call, and everything is redacted. An event whose data is not
//!   JSON-RPC is dropped (it could not be redacted); any other body is redacted as text.
//! - Vault placeholders in the agent's headers (`Authorization: Bearer hp_...`) are replaced
//!   inside their binding, as the egress proxy does; the same session headers
//!   (`Mcp-Session-Id`, `MCP-Protocol-Version`) go with the gateway's own `tools/list`.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use http_body_util::channel::{Channel, Sender};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use super::gateway::{Answer, Ask, Gateway};
use super::message::{self, Call, FromAgent, INVALID_REQUEST, Invalid, MAX_LINE, id_key};
use super::sse::{Event, Reader};
use super::{LIST_WAIT, McpServer, PROGRESS_EVERY, WAITING};
use crate::body::{self, BoxError, ProxyBody};
use crate::inject::Outgoing;
use crate::{Error, Gate, Upstream};

/// How long the head of a request may take to arrive.
const HEAD_TIMEOUT: Duration = Duration::from_secs(30);
/// Events buffered between the server's stream and the agent's.
const STREAM_BUFFER: usize = 16;

/// One streamable-HTTP MCP server behind the gateway.
pub struct McpHttp {
    gw: Gateway,
    upstream: Arc<Upstream>,
    /// The real server's URL; every request goes there, whatever path the agent used.
    url: String,
}

impl std::fmt::Debug for McpHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpHttp").field("server", &self.gw.server.name).field("url", &self.url).finish_non_exhaustive()
    }
}

impl McpHttp {
    /// The gateway for `server`, whose real address is `url` (http or https), deciding
    /// through `gate` and sending through `upstream`.
    pub fn new(server: McpServer, gate: Arc<Gate>, upstream: Arc<Upstream>, url: &str) -> Result<McpHttp, Error> {
        let uri: Uri =
            url.parse().map_err(|e| Error::Config(format!("[[mcp]] {}: upstream {url:?}: {e}", server.name)))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(Error::Config(format!(
                "[[mcp]] {}: upstream {url:?} is not an http:// or https:// URL",
                server.name
            )));
        }
        Ok(McpHttp { gw: Gateway::new(server, gate), upstream, url: url.to_owned() })
    }
}

/// Serves agents on `listener` until `shutdown` completes, then lets requests (and streams)
/// in flight finish for up to `grace`.
pub async fn serve_mcp_http(
    listener: TcpListener,
    mcp: Arc<McpHttp>,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) {
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    // Events are small writes; Nagle would hold each back for the peer's ACK.
                    let _ = stream.set_nodelay(true);
                    let mcp = Arc::clone(&mcp);
                    let service = service_fn(move |req| {
                        let mcp = Arc::clone(&mcp);
                        async move { Ok::<_, Infallible>(mcp.handle(req).await) }
                    });
                    let mut builder = auto::Builder::new(TokioExecutor::new());
                    builder.http1().timer(TokioTimer::new()).header_read_timeout(HEAD_TIMEOUT);
                    let conn = builder.serve_connection(TokioIo::new(stream), service).into_owned();
                    tokio::spawn(graceful.watch(conn));
                }
                // Out of file descriptors and the like: wait a little rather than spin.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            },
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(grace, graceful.shutdown()).await;
}

impl McpHttp {
    async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Response<ProxyBody> {
        let (parts, incoming) = req.into_parts();
        if let Some(why) = not_local(&parts.headers) {
            return jsonrpc(StatusCode::FORBIDDEN, &invalid_message(&why));
        }
        match parts.method {
            Method::POST => self.post(parts.headers, incoming).await,
            Method::GET | Method::DELETE => match self.outgoing(&parts.method, &parts.headers, Bytes::new()) {
                Ok(req) => {
                    let res = self.upstream.send(req, None).await;
                    self.relay(res).await
                }
                Err(refusal) => *refusal,
            },
            _ => {
                let mut res = jsonrpc(StatusCode::METHOD_NOT_ALLOWED, &invalid_message("use POST, GET or DELETE"));
                res.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST, GET, DELETE"));
                res
            }
        }
    }

    async fn post(self: Arc<Self>, headers: HeaderMap, incoming: Incoming) -> Response<ProxyBody> {
        let read = match body::read(incoming, MAX_LINE as u64).await {
            Ok(read) if read.complete() => read.head,
            Ok(_) => return jsonrpc(StatusCode::PAYLOAD_TOO_LARGE, &invalid_message("a body larger than 64 MiB")),
            Err(e) => {
                return jsonrpc(StatusCode::BAD_REQUEST, &invalid_message(&format!("the body ended early ({e})")));
            }
        };
        let messages = match message::parse_line(&read) {
            Ok(messages) => messages,
            Err(invalid) => return jsonrpc(StatusCode::BAD_REQUEST, &message::invalid(None, &invalid)),
        };
        let mut calls = Vec::new();
        for msg in &messages {
            match message::from_agent(msg) {
                Err(invalid) => return jsonrpc(StatusCode::BAD_REQUEST, &message::invalid(msg.get("id"), &invalid)),
                Ok(FromAgent::Call(call)) => calls.push(call),
                Ok(FromAgent::ListTools { id }) => self.gw.agent_lists(&id),
                Ok(FromAgent::Initialized | FromAgent::Other) => {}
            }
        }
        let forward = match self.outgoing(&Method::POST, &headers, read.clone()) {
            Ok(forward) => forward,
            Err(refusal) => return *refusal,
        };
        if calls.is_empty() {
            let res = self.upstream.send(forward, None).await;
            return self.relay(res).await;
        }
        let token = calls.iter().find_map(|c| c.progress_token.clone());
        if let Some(token) = token.filter(|_| takes_events(&headers)) {
            return self.post_streamed(headers, calls, messages.len(), forward, token);
        }
        match self.decide_all(&headers, &calls, messages.len()).await {
            Ok(()) => {
                let res = self.upstream.send(forward, None).await;
                self.relay(res).await
            }
            Err(refusals) => jsonrpc(StatusCode::OK, &refusals),
        }
    }

    /// Decides every call; the refusals to answer with when any is refused (one error, or a
    /// batch of them, one per call, as the agent sent them).
    async fn decide_all(&self, headers: &HeaderMap, calls: &[Call], sent: usize) -> Result<(), Value> {
        let mut refused = Vec::new();
        let ask = InSession { mcp: self, headers };
        for call in calls {
            if let Err(denial) = self.gw.decide(call, Some(&ask)).await {
                refused.push((call, message::refusal(&call.id, &denial)));
            }
        }
        if refused.is_empty() {
            return Ok(());
        }
        let mut answers = Vec::new();
        for call in calls {
            match refused.iter().find(|(c, _)| std::ptr::eq(*c, call)) {
                Some((_, refusal)) => answers.push(refusal.clone()),
                None => answers.push(json!({"jsonrpc": "2.0", "id": call.id, "error": {
                    "code": INVALID_REQUEST,
                    "message": "not sent: another call of the same request was refused by Holdpoint",
                }})),
            }
        }
        match answers.as_slice() {
            [one] if sent == 1 => Err(one.clone()),
            _ => Err(Value::Array(answers)),
        }
    }

    /// Answers with an event stream at once: progress while the calls wait, then the refusal
    /// or the server's answer.
    fn post_streamed(
        self: Arc<Self>,
        headers: HeaderMap,
        calls: Vec<Call>,
        sent: usize,
        forward: Request<ProxyBody>,
        token: Value,
    ) -> Response<ProxyBody> {
        let (mut tx, body) = Channel::<Bytes, BoxError>::new(STREAM_BUFFER);
        tokio::spawn(async move {
            let decided = self.decide_all(&headers, &calls, sent);
            tokio::pin!(decided);
            let mut step = 0;
            let outcome = loop {
                tokio::select! {
                    outcome = &mut decided => break outcome,
                    () = tokio::time::sleep(PROGRESS_EVERY) => {
                        step += 1;
                        if !send_message(&mut tx, &message::progress(&token, step, WAITING)).await {
                            return;
                        }
                    }
                }
            };
            if let Err(refusals) = outcome {
                let refusals = match refusals {
                    Value::Array(all) => all,
                    one => vec![one],
                };
                for refusal in refusals {
                    send_message(&mut tx, &refusal).await;
                }
                return;
            }
            let res = self.upstream.send(forward, None).await;
            if is_event_stream(res.headers()) {
                self.relay_events(res.into_body(), tx).await;
                return;
            }
            let status = res.status();
            match collect(res.into_body()).await.map(|bytes| message::parse_line(&bytes)) {
                Ok(Ok(messages)) => {
                    for mut msg in messages {
                        self.gw.note_server_message(&mut msg);
                        send_message(&mut tx, &msg).await;
                    }
                }
                _ => {
                    let why = format!("the MCP server answered {status} without JSON-RPC messages");
                    for call in &calls {
                        send_message(
                            &mut tx,
                            &json!({"jsonrpc": "2.0", "id": call.id, "error": {
                            "code": message::SERVER_ERROR, "message": why}}),
                        )
                        .await;
                    }
                }
            }
        });
        let mut res = Response::new(body.boxed());
        res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
        res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        res
    }

    /// The agent's request, as it goes to the real server: the agent's headers (hop-by-hop
    /// ones are dropped when sent), vault placeholders replaced within their binding.
    fn outgoing(
        &self,
        method: &Method,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<Request<ProxyBody>, Box<Response<ProxyBody>>> {
        let seen: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        let outgoing =
            Outgoing { method: method.as_str(), url: &self.url, headers: &seen, body: Some(&body), parsed: None };
        let refuse = |denial: &holdpoint_core::Denial| Box::new(crate::listener::refusal(denial));
        let injected = self.gw.gate.inject(&outgoing).map_err(|denial| refuse(&denial))?;
        let url = injected.url.as_ref().map_or(self.url.as_str(), |u| u.expose_secret());
        let uri: Uri = url.parse().map_err(|e| {
            refuse(&holdpoint_core::Denial::BadInput { reason: format!("the upstream URL cannot be used ({e})") })
        })?;
        let mut req = Request::new(body::full(body));
        *req.method_mut() = method.clone();
        *req.uri_mut() = uri;
        *req.headers_mut() = headers.clone();
        for (name, value) in &injected.headers {
            let (Ok(name), Ok(mut value)) =
                (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value.expose_secret()))
            else {
                return Err(refuse(&holdpoint_core::Denial::Internal {
                    reason: format!("the secret for header {name} is not a valid header value"),
                }));
            };
            value.set_sensitive(true);
            req.headers_mut().insert(name, value);
        }
        Ok(req)
    }

    /// Sends one of the gateway's own requests in the agent's session and reads its answer.
    async fn ask(&self, headers: &HeaderMap, request: Value) -> Result<Value, String> {
        let key = id_key(request.get("id").unwrap_or(&Value::Null));
        let mut own = HeaderMap::new();
        for (name, value) in headers {
            let name_str = name.as_str();
            if name == header::AUTHORIZATION || name_str == "mcp-session-id" || name_str == "mcp-protocol-version" {
                own.append(name.clone(), value.clone());
            }
        }
        own.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        own.insert(header::ACCEPT, HeaderValue::from_static("application/json, text/event-stream"));
        let body = Bytes::from(request.to_string());
        let req = self.outgoing(&Method::POST, &own, body).map_err(|_| "the vault refused the session's headers")?;
        let answer = async {
            let res = self.upstream.send(req, None).await;
            let status = res.status();
            if !status.is_success() {
                return Err(format!("the server answered {status}"));
            }
            if is_event_stream(res.headers()) {
                let mut reader = Reader::new(MAX_LINE);
                let mut stream = res.into_body();
                while let Some(frame) = stream.frame().await {
                    let Ok(data) = frame.map_err(|e| e.to_string())?.into_data() else { continue };
                    for event in reader.push(&data).map_err(|e| e.to_string())? {
                        let Some(data) = event.data else { continue };
                        for msg in message::parse_line(data.as_bytes()).unwrap_or_default() {
                            if msg.get("id").is_some_and(|id| id_key(id) == key) {
                                return Ok(msg);
                            }
                        }
                    }
                }
                return Err("the server's stream ended before its answer".into());
            }
            let bytes = collect(res.into_body()).await?;
            message::parse_line(&bytes)
                .map_err(|e| e.reason)?
                .into_iter()
                .find(|msg| msg.get("id").is_some_and(|id| id_key(id) == key))
                .ok_or_else(|| "the server's answer does not answer the request".to_owned())
        };
        tokio::time::timeout(LIST_WAIT, answer)
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {}s", LIST_WAIT.as_secs())))
    }

    /// The server's answer as the agent gets it: every message noted and redacted.
    async fn relay(self: Arc<Self>, res: Response<ProxyBody>) -> Response<ProxyBody> {
        let (mut parts, upstream) = res.into_parts();
        if is_event_stream(&parts.headers) {
            let (tx, body) = Channel::<Bytes, BoxError>::new(STREAM_BUFFER);
            tokio::spawn(async move { self.relay_events(upstream, tx).await });
            parts.headers.remove(header::CONTENT_LENGTH);
            return Response::from_parts(parts, body.boxed());
        }
        let bytes = match collect(upstream).await {
            Ok(bytes) => bytes,
            Err(e) => {
                let why = format!("the MCP server's answer could not be read ({e})");
                return jsonrpc(StatusCode::BAD_GATEWAY, &invalid_message(&why));
            }
        };
        parts.headers.remove(header::CONTENT_LENGTH);
        let out = match message::parse_line(&bytes) {
            Ok(mut messages) if !bytes.is_empty() => {
                for msg in &mut messages {
                    self.gw.note_server_message(msg);
                }
                let batch = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
                let value = match messages.as_mut_slice() {
                    [one] if !batch => std::mem::take(one),
                    _ => Value::Array(messages),
                };
                Bytes::from(value.to_string())
            }
            _ => {
                let text = String::from_utf8_lossy(&bytes);
                match self.gw.server.redactor.redact(&text) {
                    Some(clean) => Bytes::from(clean),
                    None => bytes,
                }
            }
        };
        Response::from_parts(parts, body::full(out))
    }

    /// Passes the server's event stream on, event by event, each message noted and redacted,
    /// until either side ends it.
    async fn relay_events(&self, mut upstream: ProxyBody, mut tx: Sender<Bytes, BoxError>) {
        let mut reader = Reader::new(MAX_LINE);
        while let Some(frame) = upstream.frame().await {
            let Ok(frame) = frame else { return };
            let Ok(data) = frame.into_data() else { continue };
            let events = match reader.push(&data) {
                Ok(events) => events,
                Err(e) => {
                    eprintln!("holdpoint: MCP server {}: stream ended: {e}", self.gw.server.name);
                    return;
                }
            };
            for event in events {
                let Some(event) = self.pass(event) else { continue };
                if tx.send_data(Bytes::from(event.encode())).await.is_err() {
                    return;
                }
            }
        }
    }

    /// One event of the server's stream as the agent gets it: its message (or batch) noted and
    /// redacted; `None` when its data is not JSON-RPC.
    fn pass(&self, mut event: Event) -> Option<Event> {
        let Some(data) = event.data.take() else { return Some(event) };
        if data.is_empty() {
            event.data = Some(data);
            return Some(event);
        }
        let Ok(mut messages) = message::parse_line(data.as_bytes()) else {
            eprintln!("holdpoint: dropped an event from MCP server {} that is not JSON-RPC", self.gw.server.name);
            return None;
        };
        for msg in &mut messages {
            self.gw.note_server_message(msg);
        }
        let value = match messages.as_mut_slice() {
            [one] if !data.trim_start().starts_with('[') => std::mem::take(one),
            _ => Value::Array(messages),
        };
        event.data = Some(value.to_string());
        Some(event)
    }
}

/// The gateway's own requests, sent in the session of the agent's request.
struct InSession<'a> {
    mcp: &'a McpHttp,
    headers: &'a HeaderMap,
}

impl Ask for InSession<'_> {
    fn ask(&self, request: Value) -> Answer<'_> {
        Box::pin(self.mcp.ask(self.headers, request))
    }
}

/// Why a request does not come from a local client: its `Host` or `Origin` names another
/// site (a web page's request after DNS rebinding, or from a browser tab), which the gateway
/// refuses as the MCP specification asks of local servers.
fn not_local(headers: &HeaderMap) -> Option<String> {
    let local = |host: &str| {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    if let Some(host) = host
        && !host.parse::<hyper::http::uri::Authority>().is_ok_and(|a| local(a.host()))
    {
        return Some(format!("requests for host {host:?} are refused; the MCP gateway serves loopback clients"));
    }
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    if let Some(origin) = origin
        && !origin.parse::<Uri>().ok().and_then(|u| u.host().map(local)).unwrap_or(false)
    {
        return Some(format!("requests from origin {origin:?} are refused; the MCP gateway serves local clients"));
    }
    None
}

/// Whether the client takes an event stream as the answer.
fn takes_events(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("text/event-stream")))
}

fn is_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("text/event-stream"))
}

/// A whole body, up to the longest message the gateway reads.
async fn collect(mut body: ProxyBody) -> Result<Bytes, String> {
    let mut all = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = match frame {
            Ok(frame) => frame,
            Err(e) => return Err(e.to_string()),
        };
        if let Ok(data) = frame.into_data() {
            if all.len() + data.len() > MAX_LINE {
                return Err(format!("a body longer than {MAX_LINE} bytes"));
            }
            all.extend_from_slice(&data);
        }
    }
    Ok(all.freeze())
}

/// Writes one message as an event; false when the agent has gone.
async fn send_message(tx: &mut Sender<Bytes, BoxError>, msg: &Value) -> bool {
    let event = Event { data: Some(msg.to_string()), ..Event::default() };
    tx.send_data(Bytes::from(event.encode())).await.is_ok()
}

/// A JSON-RPC error for a request the gateway cannot pass on.
fn invalid_message(reason: &str) -> Value {
    message::invalid(None, &Invalid { code: INVALID_REQUEST, reason: reason.to_owned() })
}

/// A JSON answer.
fn jsonrpc(status: StatusCode, body: &Value) -> Response<ProxyBody> {
    crate::listener::json_response(status, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs.iter().map(|(n, v)| (HeaderName::from_static(n), HeaderValue::from_static(v))).collect()
    }

    #[test]
    fn only_local_hosts_and_origins_are_served() {
        for ok in [
            headers(&[("host", "127.0.0.1:8790")]),
            headers(&[("host", "localhost:8790"), ("origin", "http://localhost:3000")]),
            headers(&[("host", "[::1]:8790"), ("origin", "http://127.0.0.1")]),
            headers(&[]),
        ] {
            assert_eq!(not_local(&ok), None, "{ok:?}");
        }
        for refused in [
            headers(&[("host", "evil.example:8790")]),
            headers(&[("host", "127.0.0.1:8790"), ("origin", "https://evil.example")]),
            headers(&[("host", "127.0.0.1:8790"), ("origin", "null")]),
        ] {
            assert!(not_local(&refused).is_some(), "{refused:?}");
        }
    }
}
