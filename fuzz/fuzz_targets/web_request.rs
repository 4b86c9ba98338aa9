//! Untrusted HTTP requests through the approvals console's router, without a session: the first
//! byte picks the method, then the path line, header lines (`name: value`) up to an empty line,
//! and the body. Every answer carries the CSP; nothing under `/api/` but the OpenAPI document
//! answers 2xx without a session (the store has no approvers, so no sign-in can succeed), and no
//! request panics.
#![no_main]

use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{Method, Request};
use holdpoint_store::Store;
use holdpoint_web::{Console, NoRecover};
use libfuzzer_sys::fuzz_target;
use tower_service::Service;

const HOST: &str = "127.0.0.1:8787";

fn console() -> &'static (tokio::runtime::Runtime, axum::Router) {
    static CONSOLE: OnceLock<(tokio::runtime::Runtime, axum::Router)> = OnceLock::new();
    CONSOLE.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let dir = std::env::temp_dir().join(format!("holdpoint-fuzz-web-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = rt.block_on(Store::open_sqlite(&dir)).unwrap();
        let console = Console::new(store, Arc::new(NoRecover));
        console.allow_host(HOST.parse().unwrap());
        let router = console.router();
        (rt, router)
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else { return };
    let methods = [Method::GET, Method::POST, Method::DELETE, Method::PUT, Method::HEAD, Method::OPTIONS];
    let method = methods[usize::from(first) % methods.len()].clone();
    let text = String::from_utf8_lossy(rest);
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let path = lines.next().unwrap_or("/");
    let mut builder = Request::builder().method(method.clone()).uri(path).header("host", HOST);
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            builder = builder.header(name.trim(), value.trim());
        }
    }
    let Ok(request) = builder.body(Body::from(body.to_owned())) else { return };
    let path = request.uri().path().to_owned();
    let host_kept = request.headers().get_all("host").iter().count() == 1;
    let (rt, router) = console();
    let mut router = router.clone();
    let response = rt.block_on(router.call(request)).unwrap();
    let csp = response.headers().get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or("");
    assert!(csp.contains("frame-ancestors 'none'"), "{path}: no CSP");
    let public = path == "/api/openapi.json" && method == Method::GET;
    if path.starts_with("/api/") && !public && host_kept {
        assert!(!response.status().is_success(), "{method} {path} answered {} without a session", response.status());
    }
});
