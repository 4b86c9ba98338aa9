//! Untrusted SQL through the PostgreSQL proxy's skeleton scan (its decision cache's key): never
//! a panic, a skeleton is its own skeleton, and a text and its skeleton (the text with every
//! numeric literal's digits collapsed) share their classification whenever the classifier
//! says the decision does not depend on literal values (what the proxy's cache by skeleton
//! relies on).
#![no_main]

use holdpoint_classify::sql::{CacheKey, SqlTarget, analyze, statement_key};
use holdpoint_proxy::pg::shape::skeleton;
use libfuzzer_sys::fuzz_target;

#[path = "support/small_stack.rs"]
mod small_stack;

fuzz_target!(|data: &[u8]| small_stack::run_sql(data, check));

fn check(sql: &str) {
    let Some(shape) = skeleton(sql) else { return };
    assert_eq!(skeleton(&shape).as_deref(), Some(shape.as_str()), "a skeleton is its own skeleton");
    let target = SqlTarget::new("postgres://db/app").tagged("production");
    let a = analyze(sql, &target);
    let b = analyze(&shape, &target);
    if a.statements.is_empty() || b.statements.is_empty() {
        return;
    }
    if matches!(a.cache_key(sql), Some(CacheKey::Shape(_))) {
        assert_eq!(a.effects, b.effects, "one skeleton, one classification: {sql:?} and {shape:?}");
    }
    if !a.literal_sensitive {
        assert!(!b.literal_sensitive, "{sql:?} does not depend on literals, but {shape:?} does");
    }
    let _ = statement_key(sql);
}
