//! What the PostgreSQL proxy pays per statement to find its decision: the skeleton scan (the
//! key of its first cache, no parse), pg_query's fingerprint (the key of the second, a parse),
//! and the full classification a new statement shape costs, for the statements pgbench sends.
#![allow(clippy::unwrap_used, missing_docs)]

use divan::black_box;
use holdpoint_classify::sql::{SqlTarget, analyze, statement_key};
use holdpoint_proxy::pg::shape::skeleton;

fn main() {
    divan::main();
}

const SELECT: &str = "SELECT abalance FROM pgbench_accounts WHERE aid = 371234;";
const UPDATE: &str = "UPDATE pgbench_accounts SET abalance = abalance + -4711 WHERE aid = 371234;";
const INSERT: &str =
    "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (37, 4, 371234, -4711, CURRENT_TIMESTAMP);";

#[divan::bench(args = [SELECT, UPDATE, INSERT])]
fn skeleton_key(sql: &str) -> Option<String> {
    skeleton(black_box(sql))
}

#[divan::bench(args = [SELECT, UPDATE, INSERT])]
fn fingerprint_key(sql: &str) -> Option<u64> {
    statement_key(black_box(sql))
}

#[divan::bench(args = [SELECT, UPDATE, INSERT])]
fn classify_new_shape(bencher: divan::Bencher, sql: &str) {
    let target = SqlTarget::new("postgres://127.0.0.1:5432/bench");
    bencher.bench(|| analyze(black_box(sql), &target));
}
