//! The loopback listener: HTTP/1.1 connections from agents, each request either a `CONNECT`
//! (see `connect`) or an absolute-form request that is decided and forwarded; and the graceful
//! shutdown that lets requests in flight finish.

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use holdpoint_core::Denial;
use holdpoint_policy::config::HostTags;
use hyper::body::Incoming;
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use secrecy::ExposeSecret;
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

use crate::body::{self, ProxyBody};
use crate::decide::{Outcome, Seen, refusal_json};
use crate::{Ca, Error, Gate, Upstream};

/// How long a client may take to send a request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(30);

/// The proxy: the gate that decides, the CA that intercepts, the client that forwards.
pub struct Proxy {
    pub(crate) gate: Gate,
    pub(crate) ca: Ca,
    pub(crate) upstream: Upstream,
    passthrough: Vec<HostTags>,
    graceful: Mutex<Option<GracefulShutdown>>,
    /// Where it listens, so a request addressed to the proxy itself is not sent round again.
    listen: OnceLock<SocketAddr>,
    /// Holdpoint's other listeners on this machine (approvals API, PostgreSQL proxies, MCP
    /// gateway): never reached through the proxy, so an agent whose only way out is the proxy
    /// cannot call the approvals API.
    own: Vec<SocketAddr>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("gate", &self.gate)
            .field("passthrough", &self.passthrough)
            .finish_non_exhaustive()
    }
}

impl Proxy {
    /// A proxy deciding with `gate`, intercepting TLS with `ca`, forwarding with `upstream`.
    pub fn new(gate: Gate, ca: Ca, upstream: Upstream) -> Proxy {
        let passthrough = gate
            .config()
            .proxy
            .passthrough
            .iter()
            .map(|pattern| HostTags { pattern: pattern.clone(), tags: vec![] })
            .collect();
        Proxy {
            gate,
            ca,
            upstream,
            passthrough,
            graceful: Mutex::new(Some(GracefulShutdown::new())),
            listen: OnceLock::new(),
            own: Vec::new(),
        }
    }

    /// The proxy, refusing requests to `own`: Holdpoint's other listeners on this machine.
    pub fn with_own_listeners(mut self, own: impl IntoIterator<Item = SocketAddr>) -> Proxy {
        self.own.extend(own);
        self
    }

    /// Opens the listen socket of `[proxy] listen`, which must be a loopback address.
    pub async fn bind(addr: SocketAddr) -> Result<TcpListener, Error> {
        if !addr.ip().is_loopback() {
            return Err(Error::NotLoopback(addr));
        }
        TcpListener::bind(addr).await.map_err(|source| Error::Listen { addr, source })
    }

    /// The gate the proxy decides with.
    pub fn gate(&self) -> &Gate {
        &self.gate
    }

    /// Whether `host` is tunnelled without interception.
    pub(crate) fn is_passthrough(&self, host: &str) -> bool {
        self.passthrough.iter().any(|p| p.matches(host))
    }

    /// Whether `host:port` is this proxy (a request to it would loop) or another of
    /// Holdpoint's listeners (the approvals API above all), which agents never reach through it.
    pub(crate) fn is_itself(&self, host: &str, port: u16) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let local = host.eq_ignore_ascii_case("localhost")
            || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback() || ip.is_unspecified());
        let ports = self.listen.get().map(SocketAddr::port).into_iter().chain(self.own.iter().map(SocketAddr::port));
        local && ports.into_iter().any(|p| p == port)
    }

    /// A watcher for a connection, until shutdown has begun.
    pub(crate) fn watcher(&self) -> Option<Watcher> {
        self.graceful.lock().ok()?.as_ref().map(GracefulShutdown::watcher)
    }
}

/// Serves agents' connections on `listener` until `shutdown` completes, then waits up to
/// `grace` for requests in flight.
pub async fn serve(listener: TcpListener, proxy: Arc<Proxy>, shutdown: impl Future<Output = ()>, grace: Duration) {
    if let Ok(addr) = listener.local_addr() {
        let _ = proxy.listen.set(addr);
    }
    serve_on(listener, proxy, shutdown, grace).await;
}

/// Serves agents' connections on a unix socket (the one `holdpoint run`'s bridge relays to)
/// until `shutdown` completes, then waits up to `grace` for requests in flight.
pub async fn serve_unix(
    listener: UnixListener,
    proxy: Arc<Proxy>,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) {
    serve_on(listener, proxy, shutdown, grace).await;
}

/// A socket agents connect to.
trait Accept {
    type Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static;
    fn next(&self) -> impl Future<Output = std::io::Result<Self::Stream>> + Send;
}

impl Accept for TcpListener {
    type Stream = TcpStream;
    async fn next(&self) -> std::io::Result<TcpStream> {
        let (stream, _) = self.accept().await?;
        let _ = stream.set_nodelay(true);
        Ok(stream)
    }
}

impl Accept for UnixListener {
    type Stream = UnixStream;
    async fn next(&self) -> std::io::Result<UnixStream> {
        self.accept().await.map(|(stream, _)| stream)
    }
}

async fn serve_on(listener: impl Accept, proxy: Arc<Proxy>, shutdown: impl Future<Output = ()>, grace: Duration) {
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.next() => match accepted {
                Ok(stream) => accept(Arc::clone(&proxy), stream),
                // Out of file descriptors and the like: wait a little rather than spin.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            },
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    let graceful = proxy.graceful.lock().ok().and_then(|mut g| g.take());
    if let Some(graceful) = graceful {
        let _ = tokio::time::timeout(grace, graceful.shutdown()).await;
    }
}

fn accept<S>(proxy: Arc<Proxy>, stream: S)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let Some(watcher) = proxy.watcher() else { return };
    let service = service_fn(move |req| {
        let proxy = Arc::clone(&proxy);
        async move { Ok::<_, Infallible>(route(proxy, req).await) }
    });
    // Clients speak HTTP/1.1 to a proxy; HTTP/2 happens inside intercepted tunnels.
    let mut builder = auto::Builder::new(TokioExecutor::new()).http1_only();
    builder.http1().timer(TokioTimer::new()).header_read_timeout(HEAD_TIMEOUT);
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned();
    tokio::spawn(watcher.watch(conn));
}

async fn route(proxy: Arc<Proxy>, req: Request<Incoming>) -> Response<ProxyBody> {
    if req.method() == Method::CONNECT {
        return crate::connect::open(proxy, req).await;
    }
    let uri = req.uri();
    match (uri.scheme_str(), uri.authority()) {
        (Some(scheme @ ("http" | "https")), Some(authority))
            if proxy.is_itself(authority.host(), authority.port_u16().unwrap_or(default_port(scheme))) =>
        {
            refusal(&itself(&uri.to_string()))
        }
        (Some("http" | "https"), Some(_)) => {
            let url = uri.to_string();
            handle(&proxy, req, url).await
        }
        _ => refusal(&Denial::BadInput {
            reason: format!(
                "{uri} is not an absolute URL; this is Holdpoint's egress proxy: point the client's proxy setting \
                 (HTTP_PROXY, HTTPS_PROXY) at it"
            ),
        }),
    }
}

/// The refusal of a request addressed to Holdpoint itself through its own proxy.
pub(crate) fn itself(target: &str) -> Denial {
    Denial::Policy {
        policy: "deny-self-weakening".into(),
        reason: format!(
            "{target} is one of Holdpoint's own listeners (its proxies or its approvals API), which agents never \
             reach through the egress proxy"
        ),
    }
}

/// Decides one request (its absolute URL given) and forwards it or answers the refusal.
pub(crate) async fn handle(proxy: &Proxy, mut req: Request<Incoming>, url: String) -> Response<ProxyBody> {
    let upgrade = wants_upgrade(&req).then(|| hyper::upgrade::on(&mut req));
    let (mut parts, incoming) = req.into_parts();
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let read = match body::read(incoming, proxy.gate.config().proxy.max_body).await {
        Ok(read) => read,
        Err(e) => return refusal(&Denial::BadInput { reason: format!("the request body could not be read ({e})") }),
    };
    let seen = Seen {
        method: parts.method.as_str(),
        url: &url,
        headers: &headers,
        body: &read.head,
        complete: read.complete(),
    };
    let mut injected = match proxy.gate.decide(&seen).await {
        Outcome::Forward(injected) => injected,
        Outcome::Refuse(denial) => return refusal(&denial),
    };
    let target = injected.url.as_ref().map_or(url.as_str(), |u| u.expose_secret());
    parts.uri = match target.parse::<Uri>() {
        Ok(uri) => uri,
        Err(e) => return refusal(&Denial::BadInput { reason: format!("the URL cannot be sent on ({e})") }),
    };
    for (name, value) in &injected.headers {
        let (Ok(name), Ok(mut value)) =
            (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value.expose_secret()))
        else {
            return refusal(&Denial::Internal {
                reason: format!("the secret for header {name} is not a valid header value"),
            });
        };
        value.set_sensitive(true);
        parts.headers.insert(name, value);
    }
    let body = match injected.chunks.take() {
        Some(signer) => body::resign_chunks(read.into_body(), signer),
        None => read.into_body(),
    };
    proxy.upstream.send(Request::from_parts(parts, body), upgrade).await
}

fn default_port(scheme: &str) -> u16 {
    if scheme == "https" { 443 } else { 80 }
}

/// An HTTP/1.1 request asking to switch protocols (a websocket handshake).
fn wants_upgrade(req: &Request<Incoming>) -> bool {
    let connection_upgrade = req
        .headers()
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("upgrade")));
    req.version() == hyper::Version::HTTP_11 && connection_upgrade && req.headers().contains_key(header::UPGRADE)
}

/// The HTTP answer to a refusal: its status and JSON body.
pub(crate) fn refusal(denial: &Denial) -> Response<ProxyBody> {
    let status = StatusCode::from_u16(denial.http_status()).unwrap_or(StatusCode::FORBIDDEN);
    json_response(status, &refusal_json(denial))
}

/// A JSON response.
pub(crate) fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<ProxyBody> {
    let mut res = Response::new(body::full(format!("{body}\n")));
    *res.status_mut() = status;
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}
