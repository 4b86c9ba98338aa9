//! SQL classification cost per statement (parse with libpg_query, walk, classify), and the
//! cost of the literal-insensitive key a decision cache looks statements up by.
#![allow(clippy::unwrap_used, missing_docs)]

use holdpoint_classify::sql::{self, SqlTarget};

fn main() {
    divan::main();
}

const SELECT: &str = "SELECT abalance FROM pgbench_accounts WHERE aid = $1";
const UPDATE: &str = "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2";

/// Ten statements of the kinds an application sends, in one simple-query string.
const TEN: &str = "BEGIN; \
    UPDATE pgbench_accounts SET abalance = abalance + 5 WHERE aid = 17; \
    SELECT abalance FROM pgbench_accounts WHERE aid = 17; \
    UPDATE pgbench_tellers SET tbalance = tbalance + 5 WHERE tid = 3; \
    UPDATE pgbench_branches SET bbalance = bbalance + 5 WHERE bid = 1; \
    INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (3, 1, 17, 5, CURRENT_TIMESTAMP); \
    SELECT u.name, count(*) FROM users u JOIN orders o ON o.user_id = u.id WHERE o.created > now() - interval '1 day' GROUP BY u.name; \
    DELETE FROM sessions WHERE expires_at < now(); \
    SELECT * FROM users WHERE email = 'a@example.com' LIMIT 1; \
    COMMIT";

fn target() -> SqlTarget {
    SqlTarget::new("postgres://db.internal/app").tagged("production")
}

#[divan::bench(args = [SELECT, UPDATE])]
fn classify_statement(bencher: divan::Bencher, sql: &str) {
    let t = target();
    bencher.bench(|| sql::analyze(divan::black_box(sql), &t));
}

#[divan::bench(counter = divan::counter::ItemsCount::new(10_usize))]
fn classify_ten_statements(bencher: divan::Bencher) {
    let t = target();
    assert_eq!(sql::analyze(TEN, &t).statements.len(), 10);
    bencher.bench(|| sql::analyze(divan::black_box(TEN), &t));
}

#[divan::bench(args = [SELECT, UPDATE, TEN])]
fn cache_key(bencher: divan::Bencher, sql: &str) {
    bencher.bench(|| sql::statement_key(divan::black_box(sql)));
}

#[divan::bench(args = [SELECT, UPDATE])]
fn cache_hit(bencher: divan::Bencher, sql: &str) {
    let t = target();
    let mut cache = sql::DecisionCache::new(1024);
    cache.insert(sql, &sql::analyze(sql, &t), "allow");
    bencher.bench(|| *cache.get(divan::black_box(sql)).unwrap());
}
