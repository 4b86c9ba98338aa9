//! Data-driven MCP cases: `tests/data/mcp.jsonl`, one tool call per line (server, tool,
//! arguments, the tool's annotations, the server's tags) with the verdict the `guarded` policy
//! gives it, the `strict` one where it differs, and the classifier rule that finds it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use holdpoint_classify::classify_mcp;
use holdpoint_classify::mcp::McpCall;
use holdpoint_core::{Action, Actor, Channel, Effect};
use holdpoint_policy::{Engine, Profile};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    server: String,
    tool: String,
    #[serde(default)]
    arguments: Value,
    #[serde(default)]
    annotations: Value,
    #[serde(default)]
    tags: Vec<String>,
    verdict: String,
    #[serde(default)]
    strict: Option<String>,
    #[serde(default)]
    rule: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    why: Option<String>,
}

fn effects(case: &Case) -> Vec<Effect> {
    let call = McpCall {
        server: &case.server,
        tool: &case.tool,
        arguments: &case.arguments,
        annotations: &case.annotations,
        tags: &case.tags,
    };
    classify_mcp(&call, &common::context(), &common::Files::workspace())
}

fn decide(engine: &Engine, case: &Case, effects: Vec<Effect>) -> String {
    let action = Action {
        channel: Channel::Mcp,
        actor: Actor { agent: None, session: None, workspace: common::WORKSPACE.into() },
        target: case.server.clone(),
        input: case.tool.clone(),
        effects,
    };
    engine.decide(&action).verdict.kind().to_string()
}

#[test]
fn mcp_cases() {
    let guarded = Engine::new(Profile::Guarded, &[]).unwrap();
    let strict = Engine::new(Profile::Strict, &[]).unwrap();
    let mut failures = Vec::new();
    for (n, line) in include_str!("data/mcp.jsonl").lines().enumerate() {
        let case: Case = serde_json::from_str(line).unwrap_or_else(|e| panic!("line {}: {e}", n + 1));
        let effects = effects(&case);
        assert!(!effects.is_empty(), "line {}: no effects", n + 1);
        let rules: Vec<&str> = effects.iter().filter_map(|e| e.rule.as_deref()).collect();
        let got = decide(&guarded, &case, effects.clone());
        let got_strict = decide(&strict, &case, effects.clone());
        let rule_ok = case.rule.as_deref().is_none_or(|r| rules.contains(&r));
        let strict_ok = case.strict.as_deref().is_none_or(|s| s == got_strict);
        if got != case.verdict || !rule_ok || !strict_ok {
            let found: Vec<String> = effects.iter().map(|e| serde_json::to_string(e).unwrap()).collect();
            failures.push(format!(
                "line {}: {}/{}: expected {} (strict {:?}) {:?}, got {got} (strict {got_strict})\n    {}",
                n + 1,
                case.server,
                case.tool,
                case.verdict,
                case.strict,
                case.rule,
                found.join("\n    ")
            ));
        }
    }
    assert!(failures.is_empty(), "{} failing cases:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn annotations_never_relax_what_a_rule_or_the_arguments_show() {
    let relaxed = serde_json::json!({"readOnlyHint": true, "destructiveHint": false});
    for (server, tool, arguments) in [
        ("pg", "query", serde_json::json!({"sql": "DROP TABLE users"})),
        ("fs", "write_file", serde_json::json!({"path": "/etc/passwd", "content": "x"})),
        ("x", "unknown", serde_json::json!({"command": "rm -rf /srv/data"})),
        ("x", "unknown", serde_json::json!({"action": "delete"})),
    ] {
        let call = McpCall { server, tool, arguments: &arguments, annotations: &serde_json::Value::Null, tags: &[] };
        let plain = classify_mcp(&call, &common::context(), &common::Files::workspace());
        let call = McpCall { annotations: &relaxed, ..call };
        let hinted = classify_mcp(&call, &common::context(), &common::Files::workspace());
        let engine = Engine::new(Profile::Guarded, &[]).unwrap();
        let verdict = |effects: Vec<Effect>| {
            let action = Action {
                channel: Channel::Mcp,
                actor: Actor { agent: None, session: None, workspace: common::WORKSPACE.into() },
                target: server.into(),
                input: tool.into(),
                effects,
            };
            engine.decide(&action).verdict.kind()
        };
        assert_eq!(verdict(plain), verdict(hinted.clone()), "{server}/{tool}");
        assert_ne!(verdict(hinted).as_str(), "allow", "{server}/{tool}");
    }
}
