//! Untrusted hook payloads, for every agent: parsing never panics and what it yields is
//! sound, and every answer renders as the agent's JSON (a Codex allow as nothing), with a
//! deny that says so and carries a non-empty reason.
#![no_main]

// The hook's wire module is sans-IO and depends only on std and serde_json, so it is compiled
// here as it is (the cli crate is a binary, not a library).
#[allow(dead_code)]
#[path = "../../crates/cli/src/hook/wire.rs"]
mod wire;

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use wire::{Agent, Op, Outcome, Work};

fuzz_target!(|data: &[u8]| {
    for agent in Agent::ALL {
        if let Ok(call) = wire::parse(agent, data) {
            assert!(call.cwd.is_absolute(), "the cwd is absolute");
            if let Work::Decide(ops) = &call.work {
                assert!(!ops.is_empty(), "a call to decide has something to decide");
                for op in ops {
                    if let Op::File { path, .. } = op {
                        assert!(path.starts_with('/') || path.starts_with('~') || path.starts_with('$'), "{path}");
                    }
                }
            }
        }
        let text = String::from_utf8_lossy(data).into_owned();
        let outcomes = [
            Outcome::Allow { note: None },
            Outcome::Allow { note: Some(text.clone()) },
            Outcome::Ask { reason: text.clone() },
            Outcome::Deny { reason: text.clone() },
        ];
        for outcome in outcomes {
            let answer = wire::render(agent, &outcome);
            if answer.is_empty() {
                assert!(
                    agent == Agent::Codex && outcome == Outcome::Allow { note: None },
                    "only a Codex allow is silent"
                );
                continue;
            }
            let v: Value = serde_json::from_str(&answer).expect("an answer is JSON");
            if let Outcome::Deny { .. } = outcome {
                let reason = match agent {
                    Agent::Claude | Agent::Codex => {
                        assert_eq!(v.pointer("/hookSpecificOutput/permissionDecision"), Some(&"deny".into()));
                        v.pointer("/hookSpecificOutput/permissionDecisionReason")
                    }
                    Agent::Gemini => {
                        assert_eq!(v.get("decision"), Some(&"deny".into()));
                        v.get("reason")
                    }
                    Agent::Cursor => {
                        assert_eq!(v.get("permission"), Some(&"deny".into()));
                        v.get("user_message")
                    }
                };
                let reason = reason.and_then(Value::as_str).expect("a deny has a reason");
                assert!(agent != Agent::Codex || !reason.trim().is_empty(), "Codex ignores an empty reason");
            }
        }
    }
});
