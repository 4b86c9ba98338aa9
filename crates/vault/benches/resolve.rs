//! What the proxy pays per request: finding placeholders in a header value or URL, and
//! resolving one against its binding, in a vault of 1000 secrets.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

use divan::{Bencher, black_box};
use holdpoint_vault::{
    Binding, Credential, Injection, Kind, Part, Request, Vault, VaultKey, placeholders_in, seal_secret,
};

fn main() {
    divan::main();
}

/// A vault of `n` secrets, each bound to its own host and `/v1/**`; the placeholder of the last.
fn vault(n: usize) -> (Vault, String) {
    let key = VaultKey::generate().unwrap();
    let mut records = Vec::new();
    let mut last = String::new();
    for i in 0..n {
        let inject = Injection::Header { header: "Authorization".into(), format: "Bearer {}".into() };
        let binding = Binding::new(
            vec![format!("api{i}.example.com"), format!("*.svc{i}.example.net")],
            vec!["GET".into(), "POST".into()],
            vec!["/v1/**".into(), "/v2/models/*".into()],
            inject,
            vec!["production".into()],
        )
        .unwrap();
        let credential = Credential::parse(Kind::Header, &format!("sk-secret-{i}-0123456789abcdef")).unwrap();
        let (meta, record) = seal_secret(&key, &format!("s{i}"), binding, &credential, 0).unwrap();
        last = meta.placeholders[&Part::Value].clone();
        records.push(record);
    }
    (Vault::open(&key, records), last)
}

#[divan::bench]
fn resolve_in_scope(bencher: Bencher) {
    let (vault, placeholder) = vault(1000);
    let request = Request { host: "api999.example.com", method: "POST", path: "/v1/chat/completions?stream=true" };
    bencher.bench_local(|| vault.resolve(black_box(&placeholder), black_box(&request)).is_ok());
}

#[divan::bench]
fn resolve_out_of_scope(bencher: Bencher) {
    let (vault, placeholder) = vault(1000);
    let request = Request { host: "paste.example.org", method: "POST", path: "/upload" };
    bencher.bench_local(|| vault.resolve(black_box(&placeholder), black_box(&request)).is_err());
}

#[divan::bench]
fn find_in_authorization_header(bencher: Bencher) {
    let header = "Bearer hp_abcdefghijklmnopqrstuvwxyz";
    bencher.bench_local(|| placeholders_in(black_box(header)).count());
}

#[divan::bench]
fn find_in_url_without_placeholder(bencher: Bencher) {
    let url = format!("https://api.example.com/v1/search?q={}&page=2&hp=1", "word+".repeat(400));
    bencher.bench_local(|| placeholders_in(black_box(&url)).count());
}
