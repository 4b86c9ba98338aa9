//! Holdpoint's approvals console: the JSON API under `/api/` and the page that uses it, which
//! `holdpoint serve` offers on `[api] listen` (loopback only).
//!
//! An approver signs in once with their approver token (`hpa_...`, from `holdpoint approver
//! add`). The token is checked against the store's registered approvers and kept in this
//! process's memory for that browser session only, to sign the session's decisions; the
//! browser gets an opaque session cookie (`HttpOnly`, `SameSite=Strict`, `Secure` when served
//! over TLS) and a CSRF token that every state change must send back in `X-CSRF-Token`.
//! Failed sign-ins are rate limited. Every response carries strict security headers (a CSP
//! without inline script, `frame-ancestors 'none'`, `nosniff`, `no-referrer`), and requests
//! whose `Host` is not the console's own address are refused (DNS rebinding).
//!
//! The page (HTML, CSS, JS) is embedded in the binary. Restores of workspace checkpoints and
//! of the SQL trash reach the binary's code through the [`Recover`] trait; every restore is
//! audited here, with the approver's name.
//!
//! ```no_run
//! # async fn demo(store: holdpoint_store::Store) -> Result<(), holdpoint_web::Error> {
//! use std::sync::Arc;
//! use holdpoint_web::{Console, NoRecover};
//!
//! let listener = holdpoint_web::bind(std::net::SocketAddr::from(([127, 0, 0, 1], 8787))).await?;
//! let console = Console::new(store, Arc::new(NoRecover));
//! holdpoint_web::serve(listener, console, std::future::pending::<()>()).await?;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

mod api;
mod assets;
mod audit;
mod error;
mod events;
mod recover;
mod session;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use holdpoint_store::Store;
use tokio::net::TcpListener;

pub use error::Error;
pub use recover::{NoRecover, Recover, RecoverError, RecoverItem, RecoverKind, Restored};

/// The OpenAPI document of the JSON API, as served at `/api/openapi.json`.
pub const OPENAPI: &str = include_str!("openapi.json");

/// The console: the store it decides through, the restores it offers, and its sessions.
/// Cheap to clone (one shared state).
#[derive(Clone)]
pub struct Console {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) store: Store,
    pub(crate) recover: Arc<dyn Recover>,
    pub(crate) sessions: session::Sessions,
    pub(crate) secure_cookies: bool,
    pub(crate) hosts: std::sync::RwLock<Vec<String>>,
    pub(crate) changes: events::Changes,
    pub(crate) policies: tokio::sync::Mutex<api::PolicyIndex>,
}

impl Console {
    /// A console over `store`, restoring through `recover`.
    pub fn new(store: Store, recover: Arc<dyn Recover>) -> Console {
        Console::build(store, recover, false)
    }

    /// The same console for a server behind TLS: its session cookie is `Secure`.
    pub fn with_tls(store: Store, recover: Arc<dyn Recover>) -> Console {
        Console::build(store, recover, true)
    }

    fn build(store: Store, recover: Arc<dyn Recover>, secure_cookies: bool) -> Console {
        Console {
            inner: Arc::new(Inner {
                store,
                recover,
                sessions: session::Sessions::default(),
                secure_cookies,
                hosts: std::sync::RwLock::new(Vec::new()),
                changes: events::Changes::default(),
                policies: tokio::sync::Mutex::new(api::PolicyIndex::default()),
            }),
        }
    }

    /// The axum router of the page and the API. [`serve`] uses it; tests may too.
    pub fn router(&self) -> axum::Router {
        api::router(self.clone())
    }

    /// Accept requests whose `Host` header names this address (as an IP literal or as
    /// `localhost`); [`serve`] calls it with the listener's address.
    pub fn allow_host(&self, addr: SocketAddr) {
        let mut names = vec![addr.to_string(), format!("localhost:{}", addr.port())];
        if addr.port() == 80 {
            names.push(addr.ip().to_string());
            names.push("localhost".into());
        }
        if let Ok(mut hosts) = self.inner.hosts.write() {
            hosts.extend(names);
        }
    }
}

/// The JSON API's routes as (method, path) pairs in axum's path syntax, the same table the
/// router is built from (the OpenAPI document must describe exactly these).
pub fn api_routes() -> Vec<(&'static str, &'static str)> {
    api::ROUTES.iter().map(|r| (r.0, r.1)).collect()
}

/// Binds the console's listener. Only a loopback address is accepted: the console has no TLS
/// of its own, and an approver's token must not cross a network in clear.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, Error> {
    if !addr.ip().is_loopback() {
        return Err(Error::NotLoopback(addr));
    }
    TcpListener::bind(addr).await.map_err(|e| Error::Bind(addr, e.to_string()))
}

/// Serves the console on `listener` until `shutdown` completes; open event streams are ended
/// then.
pub async fn serve(
    listener: TcpListener,
    console: Console,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let addr = listener.local_addr().map_err(|e| Error::Bind(SocketAddr::from(([127, 0, 0, 1], 0)), e.to_string()))?;
    console.allow_host(addr);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let watcher = tokio::spawn(events::watch(Arc::downgrade(&console.inner), stopped.clone()));
    console.inner.changes.set_stop(stopped);
    let router = console.router();
    drop(console);
    let shutdown = async move {
        shutdown.await;
        let _ = stop.send(true);
    };
    let result = axum::serve(listener, router).with_graceful_shutdown(shutdown).await;
    watcher.abort();
    result.map_err(|e| Error::Serve(e.to_string()))
}
