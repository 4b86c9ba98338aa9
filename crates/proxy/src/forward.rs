//! Sending allowed requests on: one pooled client (HTTP/1.1 and, where the upstream offers it
//! by ALPN, HTTP/2), upstream TLS checked against the Mozilla roots plus `SSL_CERT_FILE`,
//! hop-by-hop headers dropped both ways, and websocket upgrades joined once the upstream
//! switches protocols.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use http_body_util::BodyExt;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::upgrade::OnUpgrade;
use hyper::{Request, Response, StatusCode, Version};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

use crate::Error;
use crate::body::ProxyBody;

/// The crypto provider every TLS configuration of the proxy is built with.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Headers that belong to one connection, never passed on (RFC 9110 §7.6.1).
const HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("proxy-connection"),
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

type Pooled = Client<HttpsConnector<HttpConnector>, ProxyBody>;

/// Connection pools per upstream side; a thread uses the one its slot picks.
const POOLS: usize = 16;

static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's pool: a pooled connection is driven by a task on the thread that opened
    /// it, so a thread that reuses only its own connections never wakes another thread.
    static SLOT: usize = NEXT_SLOT.fetch_add(1, Ordering::Relaxed) % POOLS;
}

/// The upstream side: where allowed requests go.
pub struct Upstream {
    /// The pools of each thread slot.
    pools: Vec<Pools>,
}

/// One slot's clients.
struct Pools {
    /// HTTP/1.1 or HTTP/2, as the upstream offers.
    client: Pooled,
    /// HTTP/1.1 only, for requests that upgrade the connection (websockets).
    h1: Pooled,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream").finish_non_exhaustive()
    }
}

impl Upstream {
    /// A client that trusts the Mozilla roots and, when given, the certificates of
    /// `extra_roots` (the `SSL_CERT_FILE` of the proxy's environment).
    pub fn new(extra_roots: Option<&Path>) -> Result<Upstream, Error> {
        let mut roots = RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        if let Some(path) = extra_roots {
            for cert in certificates(path)? {
                roots.add(cert).map_err(|e| Error::CertFile { path: path.to_path_buf(), reason: e.to_string() })?;
            }
        }
        let tls = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Tls(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let both =
            HttpsConnectorBuilder::new().with_tls_config(tls.clone()).https_or_http().enable_all_versions().build();
        let h1 = HttpsConnectorBuilder::new().with_tls_config(tls).https_or_http().enable_http1().build();
        let client = |connector| {
            Client::builder(TokioExecutor::new())
                .timer(TokioTimer::new())
                .pool_timer(TokioTimer::new())
                .pool_idle_timeout(std::time::Duration::from_secs(60))
                .build(connector)
        };
        let pools = (0..POOLS).map(|_| Pools { client: client(both.clone()), h1: client(h1.clone()) }).collect();
        Ok(Upstream { pools })
    }

    /// Sends an allowed request and answers with the upstream's response. `upgrade` is the
    /// agent's side of a connection upgrade (websocket); it is joined to the upstream's when
    /// the upstream switches protocols.
    pub(crate) async fn send(&self, mut req: Request<ProxyBody>, upgrade: Option<OnUpgrade>) -> Response<ProxyBody> {
        let upgrading = upgrade.is_some();
        strip_hop_by_hop(req.headers_mut(), upgrading);
        req.headers_mut().remove(header::HOST);
        // The agent's body was read (or is streamed) already: its expectation is met here.
        req.headers_mut().remove(header::EXPECT);
        *req.version_mut() = Version::HTTP_11;
        if !upgrading && crate::h1::applies(&req) {
            return crate::h1::send(req).await.unwrap_or_else(|cause| bad_gateway(&cause));
        }
        let Some(pools) = self.pools.get(SLOT.with(|slot| *slot)).or(self.pools.first()) else {
            return bad_gateway("no connection pool");
        };
        let client = if upgrading { &pools.h1 } else { &pools.client };
        let mut res = match client.request(req).await {
            Ok(res) => res,
            Err(e) => return bad_gateway(&cause(&e)),
        };
        if let Some(agent) = upgrade.filter(|_| res.status() == StatusCode::SWITCHING_PROTOCOLS) {
            let upstream = hyper::upgrade::on(&mut res);
            tokio::spawn(async move {
                let _live = crate::listener::Live::here();
                if let (Ok(agent), Ok(upstream)) = (agent.await, upstream.await) {
                    let _ = tokio::io::copy_bidirectional(&mut TokioIo::new(agent), &mut TokioIo::new(upstream)).await;
                }
            });
            return res.map(|_| crate::body::empty());
        }
        strip_hop_by_hop(res.headers_mut(), false);
        res.map(|b| b.map_err(|e| -> crate::body::BoxError { Box::new(e) }).boxed())
    }
}

/// Drops hop-by-hop headers and those the `Connection` header names; an upgrade keeps
/// `Connection: upgrade` and `Upgrade`.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap, upgrading: bool) {
    // One look at each header's name (a few, mostly standard: compared without hashing).
    if !headers.keys().any(|name| HOP_BY_HOP.contains(name)) {
        return;
    }
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    let upgrade = headers.get(header::UPGRADE).cloned();
    for name in named {
        headers.remove(name);
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
    if let (true, Some(upgrade)) = (upgrading, upgrade) {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, upgrade);
    }
}

/// An error with its chain of causes.
fn cause(e: &hyper_util::client::legacy::Error) -> String {
    let mut cause = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        cause.push_str(": ");
        cause.push_str(&s.to_string());
        source = s.source();
    }
    cause
}

/// The upstream could not be reached: a gateway error, not a refusal (nothing was decided
/// against the request).
fn bad_gateway(cause: &str) -> Response<ProxyBody> {
    let body = serde_json::json!({"error": format!("Holdpoint could not reach the upstream server: {cause}")});
    crate::listener::json_response(StatusCode::BAD_GATEWAY, &body)
}

/// The certificates of a PEM file.
pub(crate) fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    use rustls::pki_types::pem::PemObject;
    let bad = |reason: String| Error::CertFile { path: path.to_path_buf(), reason };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(bad("it holds no PEM certificate".into()));
    }
    Ok(certs)
}
