//! What deciding one request costs the proxy, apart from moving its bytes: the vault's
//! injection alone, and `Gate::decide_request` — injection, classification, the canonical input,
//! the policy (memoised per effects, so the first of each request shape runs Cedar) and the
//! audit hand-off — for a plain GET, a GET whose placeholder is replaced by its secret, a new
//! path every time, and a JSON POST. Classification alone: `crates/classify/benches/http.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use divan::black_box;
use holdpoint_core::Action;
use holdpoint_policy::config::Config;
use holdpoint_policy::{Decision, Engine, Profile};
use holdpoint_proxy::{Credentials, Gate, Outgoing, Recorder, VaultCredentials};
use holdpoint_store::{Hold, Store};
use holdpoint_vault::{Binding, Credential, Injection, Kind, Part, Vault, VaultKey, seal_secret};

fn main() {
    divan::main();
}

/// Takes what the audit log needs of every decision, as the binary's recorder does: the action
/// and decision are queued, rendered by the writer; the digest stands for that work here.
#[derive(Default)]
struct Digests(AtomicU64);

impl Recorder for Digests {
    fn decided(&self, action: Action, decision: Arc<Decision>) {
        black_box((action.digest(), decision.verdict.kind()));
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    fn held(&self, _hold: &Hold) {}
}

struct Setup {
    rt: tokio::runtime::Runtime,
    gate: Gate,
    placeholder: String,
    credentials: Arc<VaultCredentials>,
    _dir: tempfile::TempDir,
}

const URL: &str = "http://127.0.0.1:9001/";

fn setup() -> Setup {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = rt.block_on(Store::open_sqlite(dir.path())).unwrap();
    let key = VaultKey::generate().unwrap();
    let inject = Injection::Header { header: "Authorization".into(), format: "Bearer {}".into() };
    let binding = Binding::new(vec!["127.0.0.1".into()], vec![], vec!["/**".into()], inject, vec![]).unwrap();
    let credential = Credential::parse(Kind::Header, "sk-bench-secret").unwrap();
    let (meta, record) = seal_secret(&key, "bench", binding, &credential, 0).unwrap();
    let placeholder = meta.placeholders[&Part::Value].clone();
    let credentials = Arc::new(VaultCredentials::new(Vault::open(&key, [record])));
    let engine = Engine::new(Profile::Guarded, &[]).unwrap();
    let config = Config::default();
    let gate = Gate::new(engine, config, store, Arc::new(Digests::default()), credentials.clone());
    Setup { rt, gate, placeholder, credentials, _dir: dir }
}

fn headers(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut out = vec![
        ("host".to_owned(), "127.0.0.1:9001".to_owned()),
        ("user-agent".to_owned(), "curl/8.5.0".to_owned()),
        ("accept".to_owned(), "*/*".to_owned()),
    ];
    out.extend(extra.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())));
    out
}

#[divan::bench]
fn inject_placeholder(bencher: divan::Bencher) {
    let s = setup();
    let hs = headers(&[("authorization", &format!("Bearer {}", s.placeholder))]);
    let request = Outgoing { method: "GET", url: URL, headers: &hs, body: Some(b""), parsed: None };
    bencher.bench_local(|| s.credentials.inject(black_box(&request)).unwrap().headers.len());
}

#[divan::bench]
fn decide_get(bencher: divan::Bencher) {
    let s = setup();
    let hs = headers(&[]);
    bencher.bench_local(|| s.rt.block_on(s.gate.decide_request("GET", black_box(URL), &hs, b"")).is_ok());
}

#[divan::bench]
fn decide_get_with_placeholder(bencher: divan::Bencher) {
    let s = setup();
    let hs = headers(&[("authorization", &format!("Bearer {}", s.placeholder))]);
    bencher.bench_local(|| {
        let injected = s.rt.block_on(s.gate.decide_request("GET", black_box(URL), &hs, b"")).unwrap();
        injected.headers.len()
    });
}

#[divan::bench]
fn decide_get_new_path(bencher: divan::Bencher) {
    let s = setup();
    let hs = headers(&[]);
    let mut n = 0u64;
    bencher.bench_local(|| {
        n += 1;
        let url = format!("http://127.0.0.1:9001/item/{n}");
        s.rt.block_on(s.gate.decide_request("GET", black_box(&url), &hs, b"")).is_ok()
    });
}

#[divan::bench]
fn decide_post_json(bencher: divan::Bencher) {
    let s = setup();
    let hs = headers(&[("content-type", "application/json")]);
    let body = br#"{"name":"build-42","labels":["ci","nightly"],"size":3}"#;
    bencher.bench_local(|| {
        s.rt.block_on(s.gate.decide_request("POST", black_box("http://127.0.0.1:9001/v1/jobs"), &hs, body)).is_ok()
    });
}
