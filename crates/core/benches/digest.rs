//! An action's digest: every audit record of a proxy's decision has one, made by the audit
//! writer, so a busy proxy makes tens of thousands a second. Inputs as the proxies give them: a
//! pgbench statement (SQL) and a canonical HTTP request.
#![allow(missing_docs)]

use holdpoint_core::{ActionDigest, Channel};

/// The allocator of the `holdpoint` binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    divan::main();
}

const SQL: &str = "UPDATE pgbench_accounts SET abalance = abalance + -4321 WHERE aid = 654321;";
const HTTP: &str = r#"{"headers":{"accept":"*/*","host":"api.example.com","user-agent":"curl/8.5.0"},"method":"GET","url":"http://api.example.com/v1/items/12345"}"#;

#[divan::bench]
fn digest_sql() -> ActionDigest {
    ActionDigest::of(Channel::Sql, divan::black_box(""), divan::black_box("postgres/bench"), divan::black_box(SQL))
}

#[divan::bench]
fn digest_http() -> ActionDigest {
    ActionDigest::of(Channel::Http, divan::black_box(""), divan::black_box("api.example.com"), divan::black_box(HTTP))
}
