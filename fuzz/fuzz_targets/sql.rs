//! Untrusted SQL through the SQL classifier: never a panic or a stack overflow, never an
//! empty answer, every statement described within the text, a cache key whenever the text
//! parses, and the policy always decides what comes out.
#![no_main]

use std::sync::OnceLock;

use holdpoint_classify::sql::{SqlTarget, analyze};
use holdpoint_core::{Action, Actor, Channel};
use holdpoint_policy::{Engine, Profile};
use libfuzzer_sys::fuzz_target;

#[path = "support/small_stack.rs"]
mod small_stack;

static ENGINE: OnceLock<Option<Engine>> = OnceLock::new();

fuzz_target!(|data: &[u8]| small_stack::run_sql(data, check));

fn check(sql: &str) {
    let target = SqlTarget::new("postgres://db/app").tagged("production");
    let a = analyze(sql, &target);
    assert!(!a.effects.is_empty(), "every text yields at least one effect");
    for s in &a.statements {
        assert!(sql.get(s.span.clone()).is_some(), "a statement's span lies within the text");
    }
    if !a.statements.is_empty() {
        assert!(a.key.is_some(), "a text that parses has a fingerprint");
    }
    if let Some(engine) = ENGINE.get_or_init(|| Engine::new(Profile::Guarded, &[]).ok()) {
        let action = Action {
            channel: Channel::Sql,
            actor: Actor { workspace: "/home/dev/project".into(), ..Actor::default() },
            target: target.id.clone(),
            input: sql.to_owned(),
            effects: a.effects,
        };
        let _ = engine.decide(&action);
    }
    let _ = holdpoint_classify::sql::statement_key(sql);
}
