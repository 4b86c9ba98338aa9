//! `assignment_kind` on `tests/data/scan/assignments.jsonl`: one `NAME=value` per line with
//! the kind it must be given, or `null` for no secret, and why where it is not obvious.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use holdpoint_vault::scan::{Kind, assignment_kind};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    value: String,
    kind: Option<Kind>,
    #[serde(default)]
    #[allow(dead_code)]
    why: Option<String>,
}

#[test]
fn assignment_cases() {
    let mut failures = Vec::new();
    let data = include_str!("data/scan/assignments.jsonl");
    for (n, line) in data.lines().enumerate() {
        let case: Case = serde_json::from_str(line).unwrap_or_else(|e| panic!("line {}: {e}", n + 1));
        let got = assignment_kind(&case.name, &case.value);
        if got != case.kind {
            failures.push(format!("line {}: {}: expected {:?}, got {got:?}", n + 1, case.name, case.kind));
        }
    }
    assert!(failures.is_empty(), "{} failing cases:\n{}", failures.len(), failures.join("\n"));
}
