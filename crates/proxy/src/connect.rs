//! `CONNECT host:port`. A passthrough host is tunnelled byte for byte (the agent talks TLS
//! with the real server). Every other host is intercepted: the agent's TLS ends here with a
//! certificate for the host minted by the local CA, and the requests inside — HTTP/1.1 or
//! HTTP/2, as ALPN chose — are decided one by one like plain ones.

use std::convert::Infallible;
use std::sync::Arc;

use holdpoint_core::Denial;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use crate::Proxy;
use crate::body::{self, ProxyBody};
use crate::listener::{handle, json_response, refusal};

/// Answers a `CONNECT` and starts the tunnel or the interception behind it.
pub(crate) async fn open(proxy: Arc<Proxy>, req: Request<Incoming>) -> Response<ProxyBody> {
    let Some(authority) = req.uri().authority().cloned() else {
        return refusal(&Denial::BadInput { reason: format!("CONNECT {} does not name host:port", req.uri()) });
    };
    let host =
        authority.host().trim_start_matches('[').trim_end_matches(']').trim_end_matches('.').to_ascii_lowercase();
    let port = authority.port_u16().unwrap_or(443);
    if proxy.is_itself(&host, port) {
        return refusal(&crate::listener::itself(&format!("CONNECT {authority}")));
    }
    if proxy.is_passthrough(&host) {
        let upstream = match TcpStream::connect((host.as_str(), port)).await {
            Ok(upstream) => upstream,
            Err(e) => {
                let body = serde_json::json!({"error": format!("Holdpoint could not reach {authority}: {e}")});
                return json_response(StatusCode::BAD_GATEWAY, &body);
            }
        };
        tokio::spawn(tunnel(req, upstream));
    } else {
        tokio::spawn(intercept(proxy, req, host, port));
    }
    Response::new(body::empty())
}

/// Passthrough: the bytes go both ways untouched.
async fn tunnel(req: Request<Incoming>, mut upstream: TcpStream) {
    let _live = crate::listener::Live::here();
    let _ = upstream.set_nodelay(true);
    if let Ok(agent) = hyper::upgrade::on(req).await {
        let _ = tokio::io::copy_bidirectional(&mut TokioIo::new(agent), &mut upstream).await;
    }
}

/// Interception: TLS with the host's minted certificate, then HTTP/1.1 or HTTP/2 inside.
async fn intercept(proxy: Arc<Proxy>, req: Request<Incoming>, host: String, port: u16) {
    let _live = crate::listener::Live::here();
    let Ok(agent) = hyper::upgrade::on(req).await else { return };
    let config = match proxy.ca.server_config(&host) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("holdpoint: cannot intercept TLS to {host}: {e}");
            return;
        }
    };
    // A client that does not speak TLS here gets a closed connection: nothing unread passes.
    let Ok(tls) = TlsAcceptor::from(config).accept(TokioIo::new(agent)).await else { return };
    let Some(watcher) = proxy.watcher() else { return };
    let shown = if host.contains(':') { format!("[{host}]") } else { host };
    let origin = if port == 443 { format!("https://{shown}") } else { format!("https://{shown}:{port}") };
    let service = service_fn(move |req: Request<Incoming>| {
        let proxy = Arc::clone(&proxy);
        // The tunnel's host is the one classified and connected to, whatever the request
        // says its host is.
        let url = format!("{origin}{}", req.uri().path_and_query().map_or("/", |p| p.as_str()));
        async move { Ok::<_, Infallible>(handle(&proxy, req, url).await) }
    });
    let builder = auto::Builder::new(TokioExecutor::new());
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), service).into_owned();
    let _ = watcher.watch(conn).await;
}
