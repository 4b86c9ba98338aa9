//! SQL given to `psql` in shell commands (`-c`, here-documents, pipes, `-f FILE` read through
//! `WorkspaceFacts`) goes through the SQL classifier: `tests/data/sql-psql.jsonl`, one command
//! per line with the verdict the default policy gives it, the rule that finds it, and
//! optionally the id of an effect's target.
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
    target: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    why: Option<String>,
}

#[test]
fn psql_cases() {
    let engine = common::engine();
    let mut files = common::Files::workspace();
    files.0.insert(format!("{}/db/wipe.sql", common::WORKSPACE), "BEGIN;\nTRUNCATE sessions;\nCOMMIT;\n".into());
    files.0.insert(format!("{}/db/report.sql", common::WORKSPACE), "\\timing on\nSELECT count(*) FROM users;\n".into());
    let data = include_str!("data/sql-psql.jsonl");
    let mut failures = Vec::new();
    for (n, line) in data.lines().enumerate() {
        let case: Case = serde_json::from_str(line).unwrap_or_else(|e| panic!("line {}: {e}", n + 1));
        let (got, effects) = common::verdict(&engine, &case.cmd, &files);
        let matching: Vec<_> = effects.iter().filter(|e| case.rule.is_none() || e.rule == case.rule).collect();
        let target_ok = case.target.as_ref().is_none_or(|t| matching.iter().any(|e| &e.target.id == t));
        if got.as_str() != case.verdict || matching.is_empty() || !target_ok {
            let found: Vec<String> = effects
                .iter()
                .map(|e| format!("{} {:?} {:?} {:?}", e.verb, e.target.id, e.target.tags, e.rule))
                .collect();
            failures.push(format!(
                "line {}: {:?}: expected {} {:?} {:?}, got {got}\n    {}",
                n + 1,
                case.cmd,
                case.verdict,
                case.rule,
                case.target,
                found.join("\n    ")
            ));
        }
    }
    assert!(failures.is_empty(), "{} failing cases:\n{}", failures.len(), failures.join("\n"));
}
