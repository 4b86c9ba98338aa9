//! The loopback listener: HTTP/1.1 connections from agents, each request either a `CONNECT`
//! (see `connect`) or an absolute-form request that is decided and forwarded; and the graceful
//! shutdown that lets requests in flight finish.

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
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

/// How long a client may take to send a request head: per head on hyper's server; on the
/// direct path (`front`) a connection that read no whole request in such a period is closed.
pub(crate) const HEAD_TIMEOUT: Duration = Duration::from_secs(30);

/// The proxy: the gate that decides, the CA that intercepts, the client that forwards.
pub struct Proxy {
    pub(crate) gate: Gate,
    pub(crate) ca: Ca,
    pub(crate) upstream: Upstream,
    passthrough: Vec<HostTags>,
    graceful: Mutex<Option<GracefulShutdown>>,
    /// Turns true when shutdown begins: connections served directly close once their request
    /// in flight is answered (hyper's are told by `graceful`).
    closing: tokio::sync::watch::Sender<bool>,
    /// Turns true once the connections of every listener have finished (or the grace period
    /// ran out), so a listener whose serving ends first does not stop its workers sooner.
    drained: tokio::sync::watch::Sender<bool>,
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
            closing: tokio::sync::watch::Sender::new(false),
            drained: tokio::sync::watch::Sender::new(false),
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
        // The port first: most requests are to none of Holdpoint's.
        let mut ports =
            self.listen.get().map(SocketAddr::port).into_iter().chain(self.own.iter().map(SocketAddr::port));
        if !ports.any(|p| p == port) {
            return false;
        }
        let host = host.trim_start_matches('[').trim_end_matches(']');
        host.eq_ignore_ascii_case("localhost")
            || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback() || ip.is_unspecified())
    }

    /// Turns true when shutdown begins.
    pub(crate) fn closing(&self) -> tokio::sync::watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// Whether shutdown has begun.
    pub(crate) fn is_closing(&self) -> bool {
        *self.closing.borrow()
    }

    /// A watcher for a connection, until shutdown has begun.
    pub(crate) fn watcher(&self) -> Option<Watcher> {
        self.graceful.lock().ok()?.as_ref().map(GracefulShutdown::watcher)
    }
}

/// Serves agents' connections on `listener` until `shutdown` completes, then waits up to
/// `grace` for requests in flight.
///
/// Connections are served thread-per-core: one single-threaded runtime per core, each
/// connection handed to the one serving the fewest, so a request, its decision and its
/// upstream connection stay on one thread and no core idles while another has a queue.
pub async fn serve(listener: TcpListener, proxy: Arc<Proxy>, shutdown: impl Future<Output = ()>, grace: Duration) {
    if let Ok(addr) = listener.local_addr() {
        let _ = proxy.listen.set(addr);
    }
    match listener.into_std() {
        Ok(listener) => serve_on(listener, proxy, shutdown, grace).await,
        Err(e) => eprintln!("holdpoint: the egress proxy cannot use its listen socket: {e}"),
    }
}

/// Serves agents' connections on a unix socket (the one `holdpoint run`'s bridge relays to)
/// until `shutdown` completes, then waits up to `grace` for requests in flight.
pub async fn serve_unix(
    listener: UnixListener,
    proxy: Arc<Proxy>,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) {
    match listener.into_std() {
        Ok(listener) => serve_on(listener, proxy, shutdown, grace).await,
        Err(e) => eprintln!("holdpoint: the egress proxy cannot use its unix socket: {e}"),
    }
}

/// A listen socket, registered with the runtime that accepts on it.
trait Listen: Sized + Send + 'static {
    type Async: Accept;
    /// The socket registered with the runtime this is called in.
    fn register(self) -> std::io::Result<Self::Async>;
}

impl Listen for std::net::TcpListener {
    type Async = TcpListener;
    fn register(self) -> std::io::Result<TcpListener> {
        self.set_nonblocking(true)?;
        TcpListener::from_std(self)
    }
}

impl Listen for std::os::unix::net::UnixListener {
    type Async = UnixListener;
    fn register(self) -> std::io::Result<UnixListener> {
        self.set_nonblocking(true)?;
        UnixListener::from_std(self)
    }
}

/// A socket agents connect to.
trait Accept: Send + 'static {
    type Stream: Connection;
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

/// An accepted connection, moved from the accepting runtime to the worker that serves it.
trait Connection: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + Sized + 'static {
    type Std: Send + 'static;
    fn into_std(self) -> std::io::Result<Self::Std>;
    /// The connection registered with the runtime this is called in.
    fn from_std(std: Self::Std) -> std::io::Result<Self>;
}

impl Connection for TcpStream {
    type Std = std::net::TcpStream;
    fn into_std(self) -> std::io::Result<Self::Std> {
        TcpStream::into_std(self)
    }
    fn from_std(std: Self::Std) -> std::io::Result<Self> {
        TcpStream::from_std(std)
    }
}

impl Connection for UnixStream {
    type Std = std::os::unix::net::UnixStream;
    fn into_std(self) -> std::io::Result<Self::Std> {
        UnixStream::into_std(self)
    }
    fn from_std(std: Self::Std) -> std::io::Result<Self> {
        UnixStream::from_std(std)
    }
}

async fn serve_on(listener: impl Listen, proxy: Arc<Proxy>, shutdown: impl Future<Output = ()>, grace: Duration) {
    let workers = Workers::start();
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let accepting = tokio::spawn(accept_loop(listener, Arc::clone(&proxy), workers.places(), stopping));
    shutdown.await;
    let _ = stop.send(true);
    let _ = accepting.await;
    // The one graceful shutdown watches the connections of every listener: the first listener
    // to stop waits for them all, the others for it, before their workers go.
    proxy.closing.send_replace(true);
    let graceful = proxy.graceful.lock().ok().and_then(|mut g| g.take());
    match graceful {
        Some(graceful) => {
            let _ = tokio::time::timeout(grace, graceful.shutdown()).await;
            proxy.drained.send_replace(true);
        }
        None => {
            let mut drained = proxy.drained.subscribe();
            let _ = tokio::time::timeout(grace, drained.wait_for(|done| *done)).await;
        }
    }
    workers.stop().await;
}

/// Accepts until `stopping` turns true (the listener is closed then), handing each connection
/// to the place serving the fewest.
async fn accept_loop(
    listener: impl Listen,
    proxy: Arc<Proxy>,
    places: Vec<Place>,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) {
    let listener = match listener.register() {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("holdpoint: the egress proxy cannot listen: {e}");
            return;
        }
    };
    let mut stop = std::pin::pin!(async move {
        let _ = stopping.wait_for(|stop| *stop).await;
    });
    loop {
        tokio::select! {
            accepted = listener.next() => match accepted {
                Ok(stream) => hand_off(&places, &proxy, stream),
                // Out of file descriptors and the like: wait a little rather than spin.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            },
            () = &mut stop => break,
        }
    }
}

/// Where connections are served: a runtime, and how many connections it serves now.
struct Place {
    handle: tokio::runtime::Handle,
    live: Arc<AtomicUsize>,
}

/// One connection counted at its place until dropped.
pub(crate) struct Live(Arc<AtomicUsize>);

thread_local! {
    /// The connection count of the worker this thread is (none on other threads).
    static HERE: std::cell::RefCell<Option<Arc<AtomicUsize>>> = const { std::cell::RefCell::new(None) };
}

impl Live {
    /// A connection that outlives its HTTP exchange (a `CONNECT` tunnel, a websocket), counted
    /// at this thread's worker while it lasts, so the hand-off sees where tunnels are.
    pub(crate) fn here() -> Option<Live> {
        HERE.with_borrow(|here| {
            here.as_ref().map(|live| {
                live.fetch_add(1, Ordering::Relaxed);
                Live(Arc::clone(live))
            })
        })
    }
}

#[cfg(test)]
impl Live {
    /// A connection counted nowhere (tests serving one directly).
    pub(crate) fn detached() -> Live {
        Live(Arc::default())
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Moves `stream` to the place serving the fewest connections (the first of equals). Workers
/// racing on one listen socket split connections as the scheduler happens to wake them: 32
/// agents' connections could all go to one, the other core idling.
fn hand_off<S: Connection>(places: &[Place], proxy: &Arc<Proxy>, stream: S) {
    let Some(place) = places.iter().min_by_key(|p| p.live.load(Ordering::Relaxed)) else { return };
    let std = match stream.into_std() {
        Ok(std) => std,
        Err(e) => return eprintln!("holdpoint: the egress proxy cannot hand a connection to a worker: {e}"),
    };
    place.live.fetch_add(1, Ordering::Relaxed);
    let live = Live(Arc::clone(&place.live));
    let proxy = Arc::clone(proxy);
    place.handle.spawn(async move {
        match S::from_std(std) {
            Ok(stream) => accept(proxy, stream, live),
            Err(e) => eprintln!("holdpoint: the egress proxy cannot serve a connection on a worker: {e}"),
        }
    });
}

/// The worker threads of one listener: a single-threaded runtime each, one per core.
struct Workers {
    threads: Vec<Worker>,
}

struct Worker {
    handle: tokio::runtime::Handle,
    /// The connections it serves.
    live: Arc<AtomicUsize>,
    stop: tokio::sync::oneshot::Sender<()>,
    /// Sent once the worker's runtime is gone (with every task it still had).
    done: tokio::sync::oneshot::Receiver<()>,
}

impl Workers {
    /// One worker per core; none when no thread could be started (the caller's runtime serves).
    fn start() -> Workers {
        Workers::start_n(std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get))
    }

    fn start_n(n: usize) -> Workers {
        let mut threads = Vec::new();
        for i in 0..n {
            match Worker::start(i) {
                Ok(worker) => threads.push(worker),
                Err(e) => {
                    eprintln!("holdpoint: the egress proxy cannot start worker thread {i}: {e}");
                    break;
                }
            }
        }
        Workers { threads }
    }

    /// Where connections are served: the workers, or the caller's runtime when there are none.
    fn places(&self) -> Vec<Place> {
        if self.threads.is_empty() {
            return vec![Place { handle: tokio::runtime::Handle::current(), live: Arc::default() }];
        }
        self.threads.iter().map(|w| Place { handle: w.handle.clone(), live: Arc::clone(&w.live) }).collect()
    }

    /// Stops every worker: what is still running on them (connections past the grace period)
    /// is dropped.
    async fn stop(self) {
        for worker in self.threads {
            let _ = worker.stop.send(());
            let _ = worker.done.await;
        }
    }
}

impl Worker {
    fn start(i: usize) -> std::io::Result<Worker> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (finished, done) = tokio::sync::oneshot::channel();
        let live = Arc::new(AtomicUsize::new(0));
        let here = Arc::clone(&live);
        std::thread::Builder::new().name(format!("holdpoint-proxy-{i}")).spawn(move || {
            HERE.set(Some(here));
            crate::h1::pool_here();
            runtime.block_on(async {
                let _ = stopped.await;
            });
            crate::h1::drop_pool();
            drop(runtime);
            let _ = finished.send(());
        })?;
        Ok(Worker { handle, live, stop, done })
    }
}

/// Serves one connection on the runtime this is called in, counted in `live` until it ends:
/// plain requests directly (see `front`), the rest of the connection by hyper's server from
/// the first request of another form.
fn accept<S>(proxy: Arc<Proxy>, stream: S, live: Live)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let Some(watcher) = proxy.watcher() else { return };
    tokio::spawn(crate::front::serve(proxy, stream, live, watcher));
}

/// Serves a connection (or its rest: `io` gives back what was read of it already) with hyper's
/// HTTP/1.1 server, under graceful shutdown.
pub(crate) async fn serve_hyper<S>(proxy: Arc<Proxy>, io: S, live: Live, watcher: Watcher)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let _live = live;
    let service = service_fn(move |req| {
        let proxy = Arc::clone(&proxy);
        async move { Ok::<_, Infallible>(route(proxy, req).await) }
    });
    // Clients speak HTTP/1.1 to a proxy; HTTP/2 happens inside intercepted tunnels.
    let mut builder = auto::Builder::new(TokioExecutor::new()).http1_only();
    builder.http1().timer(TokioTimer::new()).header_read_timeout(HEAD_TIMEOUT);
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    let _ = watcher.watch(conn).await;
}

async fn route(proxy: Arc<Proxy>, req: Request<Incoming>) -> Response<ProxyBody> {
    if req.method() == Method::CONNECT {
        return crate::connect::open(proxy, req).await;
    }
    match target(&proxy, req.uri()) {
        Ok(url) => handle(&proxy, req, url).await,
        Err(denial) => refusal(&denial),
    }
}

/// The absolute URL an agent's request is for, or why it is refused: it is addressed to
/// Holdpoint itself, or its target is not an absolute `http(s)` URL.
pub(crate) fn target(proxy: &Proxy, uri: &Uri) -> Result<String, Denial> {
    let (Some(scheme @ ("http" | "https")), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
        return Err(Denial::BadInput {
            reason: format!(
                "{uri} is not an absolute URL; this is Holdpoint's egress proxy: point the client's proxy setting \
                 (HTTP_PROXY, HTTPS_PROXY) at it"
            ),
        });
    };
    let (host, port) = host_port(authority);
    if proxy.is_itself(host, port.unwrap_or(default_port(scheme))) {
        return Err(itself(&uri.to_string()));
    }
    Ok(absolute(scheme, authority.as_str(), uri.path(), uri.query()))
}

/// An absolute URL's text as its `Uri` displays it, put together without the formatting
/// machinery (every proxied request's URL is).
fn absolute(scheme: &str, authority: &str, path: &str, query: Option<&str>) -> String {
    let mut url =
        String::with_capacity(scheme.len() + 3 + authority.len() + path.len() + query.map_or(0, |q| q.len() + 1));
    url.push_str(scheme);
    url.push_str("://");
    url.push_str(authority);
    url.push_str(path);
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    url
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

/// A proxy for tests: a CA in `dir`, the guarded profile, no vault, decisions not recorded.
#[cfg(test)]
pub(crate) async fn test_proxy(dir: &std::path::Path) -> Arc<Proxy> {
    struct Discard;
    impl crate::Recorder for Discard {
        fn decided(&self, _: holdpoint_core::Action, _: Arc<holdpoint_policy::Decision>) {}
        fn held(&self, _: &holdpoint_store::Hold) {}
    }
    Ca::create(dir).unwrap();
    let store = holdpoint_store::Store::open_sqlite(dir).await.unwrap();
    let engine = holdpoint_policy::Engine::new(holdpoint_policy::Profile::Guarded, &[]).unwrap();
    let gate = Gate::new(engine, Default::default(), store, Arc::new(Discard), Arc::new(crate::NoCredentials));
    Arc::new(Proxy::new(gate, Ca::load(dir).unwrap(), Upstream::new(None).unwrap()))
}

/// Decides one request (its absolute URL given) and forwards it or answers the refusal.
pub(crate) async fn handle(proxy: &Proxy, mut req: Request<Incoming>, url: String) -> Response<ProxyBody> {
    let upgrade = wants_upgrade(&req).then(|| hyper::upgrade::on(&mut req));
    let (parts, incoming) = req.into_parts();
    let read = match body::read(incoming, proxy.gate.config().proxy.max_body).await {
        Ok(read) => read,
        Err(e) => return refusal(&Denial::BadInput { reason: format!("the request body could not be read ({e})") }),
    };
    decide_and_send(proxy, parts, read, upgrade, url).await
}

/// Decides a request whose body was read (up to `max_body`) and forwards it or answers the
/// refusal; `upgrade` is the agent's side of a websocket handshake.
pub(crate) async fn decide_and_send(
    proxy: &Proxy,
    mut parts: hyper::http::request::Parts,
    read: body::Read,
    upgrade: Option<hyper::upgrade::OnUpgrade>,
    url: String,
) -> Response<ProxyBody> {
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
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
    // The URL decided is the one sent: the request's own, or its tunnel's origin and path.
    let target = injected.url.as_ref().map_or(url.as_str(), |u| u.expose_secret());
    if injected.url.is_some() || parts.uri != *url.as_str() {
        parts.uri = match target.parse::<Uri>() {
            Ok(uri) => uri,
            Err(e) => return refusal(&Denial::BadInput { reason: format!("the URL cannot be sent on ({e})") }),
        };
    }
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

/// An authority's host and port as `Authority::host` and `Authority::port_u16` give them, read
/// in one pass when the text is a plain name or address with an optional port of digits (no
/// user info, no IPv6 brackets): every proxied request's URL is looked at this way more than once.
pub(crate) fn host_port(authority: &hyper::http::uri::Authority) -> (&str, Option<u16>) {
    let text = authority.as_str();
    if !text.bytes().any(|b| b == b'@' || b == b'[') {
        match text.bytes().rposition(|b| b == b':') {
            None => return (text, None),
            Some(colon) => {
                let (host, port) = (text.get(..colon).unwrap_or_default(), text.get(colon + 1..).unwrap_or_default());
                if (1..=5).contains(&port.len())
                    && port.bytes().all(|b| b.is_ascii_digit())
                    && let Ok(port) = port.parse::<u16>()
                {
                    return (host, Some(port));
                }
            }
        }
    }
    (authority.host(), authority.port_u16())
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn proxy(dir: &std::path::Path) -> Arc<Proxy> {
        test_proxy(dir).await
    }

    /// A proxied request's URL is its `Uri` as displayed: with and without a path, a query, an
    /// empty query, a port, user info, percent-escapes.
    #[test]
    fn absolute_urls_read_as_their_uri_displays() {
        for text in [
            "http://example.com",
            "http://example.com/",
            "https://example.com:8443/a/b?x=1&y=%20",
            "http://user:pw@example.com/p?",
            "http://127.0.0.1:9/item/1/2",
            "http://[::1]:8080/?q",
        ] {
            let uri: Uri = text.parse().unwrap();
            let (scheme, authority) = (uri.scheme_str().unwrap(), uri.authority().unwrap());
            assert_eq!(absolute(scheme, authority.as_str(), uri.path(), uri.query()), uri.to_string(), "{text}");
        }
    }

    /// Host and port read in one pass are what `Authority` gives.
    #[test]
    fn host_and_port_read_as_the_authority_gives_them() {
        for text in [
            "example.com",
            "example.com:8080",
            "127.0.0.1:9",
            "EXAMPLE.com:080",
            "example.com:",
            "example.com:65535",
            "user:pw@example.com:81",
            "user@example.com",
            "[::1]:8080",
            "[::1]",
            "a.b.c:0",
        ] {
            let authority: hyper::http::uri::Authority = text.parse().unwrap();
            assert_eq!(host_port(&authority), (authority.host(), authority.port_u16()), "{text}");
        }
    }

    /// Connections are answered whichever worker accepted them; at shutdown the listen socket
    /// closes, and a connection still busy after the grace period is closed with its worker.
    #[tokio::test]
    async fn workers_answer_every_connection_and_stop_after_the_grace_period() {
        let dir = tempfile::tempdir().unwrap();
        let proxy = proxy(dir.path()).await;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(serve(
            listener,
            proxy,
            async move {
                let _ = stopped.await;
            },
            Duration::from_millis(200),
        ));
        let mut clients = Vec::new();
        for _ in 0..16 {
            let mut conn = TcpStream::connect(addr).await.unwrap();
            conn.write_all(b"GET /relative HTTP/1.1\r\nHost: example.com\r\n\r\n").await.unwrap();
            clients.push(conn);
        }
        for conn in &mut clients {
            let mut head = [0u8; 12];
            conn.read_exact(&mut head).await.unwrap();
            assert_eq!(&head, b"HTTP/1.1 403", "{}", String::from_utf8_lossy(&head));
        }
        // A request whose upstream never answers: graceful shutdown waits for it, the grace
        // period does not.
        let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let silent_addr = silent.local_addr().unwrap();
        let mut slow = TcpStream::connect(addr).await.unwrap();
        slow.write_all(format!("GET http://{silent_addr}/ HTTP/1.1\r\nHost: {silent_addr}\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let (_upstream, _) = silent.accept().await.unwrap();
        stop.send(()).unwrap();
        serving.await.unwrap();
        let mut rest = Vec::new();
        let closed = slow.read_to_end(&mut rest).await;
        assert!(closed.is_err() || rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
        assert!(TcpStream::connect(addr).await.is_err(), "the listen socket is still open");
    }

    /// Each connection goes to the worker serving the fewest (the first of equals), and one
    /// that ends frees its place; a tunnel outliving its HTTP exchange counts where it runs.
    #[tokio::test]
    async fn connections_go_to_the_worker_serving_the_fewest() {
        let dir = tempfile::tempdir().unwrap();
        let proxy = proxy(dir.path()).await;
        let workers = Workers::start_n(2);
        let places = workers.places();
        let counts = || places.iter().map(|p| p.live.load(Ordering::Relaxed)).collect::<Vec<_>>();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut clients = Vec::new();
        let connect = async || {
            let client = TcpStream::connect(addr).await.unwrap();
            let (accepted, _) = listener.accept().await.unwrap();
            hand_off(&places, &proxy, accepted);
            client
        };
        for _ in 0..4 {
            clients.push(connect().await);
        }
        assert_eq!(counts(), [2, 2]);
        // Worker 0 took the first and third; both answer, then close.
        for i in [0, 2] {
            let mut conn = clients.remove(i - i / 2);
            conn.write_all(b"GET /relative HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n").await.unwrap();
            let mut answer = Vec::new();
            conn.read_to_end(&mut answer).await.unwrap();
            assert!(answer.starts_with(b"HTTP/1.1 403"), "{}", String::from_utf8_lossy(&answer));
        }
        for _ in 0..1000 {
            if counts() == [0, 2] {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(counts(), [0, 2], "a closed connection still counts");
        clients.push(connect().await);
        clients.push(connect().await);
        clients.push(connect().await);
        assert_eq!(counts(), [3, 2]);

        // A tunnel counts at its worker while it lasts; elsewhere nothing counts.
        let live = places[1].handle.spawn(async { Live::here() }).await.unwrap();
        assert_eq!(counts(), [3, 3]);
        drop(live);
        assert_eq!(counts(), [3, 2]);
        assert!(Live::here().is_none(), "the test's thread is no worker");
        drop(clients);
        workers.stop().await;
    }

    /// Two listeners of one proxy stopping together: a request still in flight on either is
    /// given the grace period, whichever listener's serving ends first.
    #[tokio::test]
    async fn a_request_in_flight_on_either_listener_gets_the_grace_period() {
        let dir = tempfile::tempdir().unwrap();
        let proxy = proxy(dir.path()).await;
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let path = dir.path().join("proxy.sock");
        let unix = UnixListener::bind(&path).unwrap();
        let (stop, stopping) = tokio::sync::watch::channel(false);
        let until_stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|stop| *stop).await;
        };
        let grace = Duration::from_secs(30);
        let on_port = tokio::spawn(serve(tcp, Arc::clone(&proxy), until_stopped(stopping.clone()), grace));
        let on_socket = tokio::spawn(serve_unix(unix, proxy, until_stopped(stopping), grace));
        let upstream = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let up = upstream.local_addr().unwrap();
        let mut agents = Vec::new();
        for _ in 0..2 {
            let request = format!("GET http://{up}/ HTTP/1.1\r\nHost: {up}\r\n\r\n");
            let mut agent: Box<dyn Stream> = if agents.is_empty() {
                Box::new(TcpStream::connect(addr).await.unwrap())
            } else {
                Box::new(UnixStream::connect(&path).await.unwrap())
            };
            agent.write_all(request.as_bytes()).await.unwrap();
            agents.push(agent);
        }
        let mut held = Vec::new();
        for _ in 0..2 {
            let (mut conn, _) = upstream.accept().await.unwrap();
            let mut head = Vec::new();
            while !head.ends_with(b"\r\n\r\n") {
                let mut byte = [0u8; 1];
                conn.read_exact(&mut byte).await.unwrap();
                head.push(byte[0]);
            }
            held.push(conn);
        }
        stop.send(true).unwrap();
        // Both listeners closed: both have stopped accepting and are shutting down.
        let mut closed = false;
        for _ in 0..10_000 {
            if TcpStream::connect(addr).await.is_err() && UnixStream::connect(&path).await.is_err() {
                closed = true;
                break;
            }
            tokio::task::yield_now().await;
        }
        assert!(closed, "the listeners never closed");
        for mut conn in held {
            conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").await.unwrap();
        }
        for mut agent in agents {
            let mut answer = String::new();
            agent.read_to_string(&mut answer).await.unwrap();
            assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("ok"), "{answer:?}");
        }
        on_port.await.unwrap();
        on_socket.await.unwrap();
    }

    trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
    impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Stream for T {}
}
