//! Data-driven shell cases: `tests/data/shell.jsonl`, one command per line with the verdict
//! the default policy must give it and, where it matters, the classifier rule that finds it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    cmd: String,
    verdict: String,
    #[serde(default)]
    rule: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    why: Option<String>,
}

#[test]
fn shell_cases() {
    let engine = common::engine();
    let files = common::Files::workspace();
    let mut failures = Vec::new();
    let data = include_str!("data/shell.jsonl");
    for (n, line) in data.lines().enumerate() {
        let case: Case = serde_json::from_str(line).unwrap_or_else(|e| panic!("line {}: {e}", n + 1));
        let (got, effects) = common::verdict(&engine, &case.cmd, &files);
        let rules: Vec<&str> = effects.iter().filter_map(|e| e.rule.as_deref()).collect();
        let rule_ok = case.rule.as_deref().is_none_or(|r| rules.contains(&r));
        if got.as_str() != case.verdict || !rule_ok {
            let found: Vec<String> = effects
                .iter()
                .map(|e| {
                    format!(
                        "{} {} {:?} {:?} {} {} {:?}",
                        e.verb, e.target.kind, e.target.id, e.target.tags, e.reversibility, e.scope, e.rule
                    )
                })
                .collect();
            failures.push(format!(
                "line {}: {:?}: expected {} {:?}, got {got}\n    {}",
                n + 1,
                case.cmd,
                case.verdict,
                case.rule,
                found.join("\n    ")
            ));
        }
    }
    assert!(failures.is_empty(), "{} failing cases:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn classification_never_comes_back_empty() {
    let files = common::Files::workspace();
    for cmd in ["", "   ", "# just a comment", ";", "true"] {
        let effects = common::effects(cmd, &files);
        assert!(!effects.is_empty(), "{cmd:?}");
    }
}
