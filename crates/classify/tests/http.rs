//! Data-driven HTTP cases: `tests/data/http.jsonl`, one request per line with the verdict the
//! default policy must give it and the classifier rule that finds it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::BTreeMap;

use holdpoint_classify::classify_http;
use holdpoint_classify::http::{Body, HttpContext, HttpRequest};
use holdpoint_core::{Action, Actor, Channel, Effect};
use holdpoint_policy::{Engine, Profile};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    method: String,
    url: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    too_large: bool,
    #[serde(default)]
    tags: Vec<String>,
    verdict: String,
    #[serde(default)]
    rule: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    why: Option<String>,
}

fn effects(case: &Case) -> Vec<Effect> {
    let headers: Vec<(String, String)> = case.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let body = match (&case.body, case.too_large) {
        (_, true) => Body::TooLarge,
        (Some(b), false) => Body::Full(b.as_bytes()),
        (None, false) => Body::Empty,
    };
    let req = HttpRequest { method: &case.method, url: &case.url, headers: &headers, body };
    let ctx = HttpContext { tags: case.tags.clone() };
    let effects = classify_http(&req, &ctx);
    // The proxy parses the URL once and hands it over: the same effects either way.
    if let Ok(url) = holdpoint_classify::http::UrlParts::parse(&case.url) {
        assert_eq!(holdpoint_classify::classify_http_url(&req, &url, &ctx), effects, "{}", case.url);
    }
    effects
}

fn decide(engine: &Engine, input: &str, effects: Vec<Effect>) -> String {
    let action = Action {
        channel: Channel::Http,
        actor: Actor { agent: None, session: None, workspace: "/w".into() },
        target: String::new(),
        input: input.to_owned(),
        effects,
    };
    engine.decide(&action).verdict.kind().to_string()
}

#[test]
fn http_cases() {
    let engine = Engine::new(Profile::Guarded, &[]).unwrap();
    let mut failures = Vec::new();
    for (n, line) in include_str!("data/http.jsonl").lines().enumerate() {
        let case: Case = serde_json::from_str(line).unwrap_or_else(|e| panic!("line {}: {e}", n + 1));
        let effects = effects(&case);
        let rules: Vec<&str> = effects.iter().filter_map(|e| e.rule.as_deref()).collect();
        let got = decide(&engine, &case.url, effects.clone());
        let rule_ok = case.rule.as_deref().is_none_or(|r| rules.contains(&r));
        if got != case.verdict || !rule_ok {
            let found: Vec<String> = effects.iter().map(|e| serde_json::to_string(e).unwrap()).collect();
            failures.push(format!(
                "line {}: {} {}: expected {} {:?}, got {got}\n    {}",
                n + 1,
                case.method,
                case.url,
                case.verdict,
                case.rule,
                found.join("\n    ")
            ));
        }
    }
    assert!(failures.is_empty(), "{} failing cases:\n{}", failures.len(), failures.join("\n"));
}

/// Every effect carries the host's tags, and nothing comes back empty.
#[test]
fn tags_reach_every_effect() {
    let engine = Engine::new(Profile::Guarded, &[]).unwrap();
    for line in include_str!("data/http.jsonl").lines() {
        let mut case: Case = serde_json::from_str(line).unwrap();
        case.tags = vec!["production".into()];
        let effects = effects(&case);
        assert!(!effects.is_empty(), "{}", case.url);
        for e in &effects {
            assert!(e.target.tags.contains("production"), "{} {e:?}", case.url);
        }
        // A production request is never less strict than the same request elsewhere.
        let order = |v: &str| ["allow", "hold", "deny"].iter().position(|x| *x == v).unwrap();
        let plain: Case = serde_json::from_str(line).unwrap();
        let before = decide(&engine, &plain.url, self::effects(&plain));
        let after = decide(&engine, &case.url, effects);
        assert!(order(&after) >= order(&before), "{}: {before} became {after}", case.url);
    }
}

/// The strict profile holds every write that leaves the machine, reads still pass.
#[test]
fn strict_holds_remote_writes() {
    let engine = Engine::new(Profile::Strict, &[]).unwrap();
    for (method, url, want) in [
        ("GET", "https://api.example.com/v1/x", "allow"),
        ("POST", "https://api.example.com/v1/x", "hold"),
        ("PATCH", "https://api.github.com/repos/a/b", "hold"),
    ] {
        let case: Case =
            serde_json::from_value(serde_json::json!({"method": method, "url": url, "verdict": want})).unwrap();
        assert_eq!(decide(&engine, url, effects(&case)), want, "{method} {url}");
    }
}

/// Odd input never panics and never comes back empty.
#[test]
fn hostile_input_is_classified() {
    let deep = format!("{{\"query\":\"mutation {}\"}}", "{".repeat(10_000));
    let bodies: Vec<String> = vec![
        deep,
        "[]".into(),
        "[1,2,3]".into(),
        "{\"query\":null}".into(),
        "{\"query\":\"\"}".into(),
        "\u{0}\u{1}".into(),
        Value::String("x".repeat(100_000)).to_string(),
    ];
    for body in bodies {
        let headers = vec![("Content-Type".to_owned(), "application/json".to_owned())];
        let req = HttpRequest {
            method: "POST",
            url: "https://api.example.com/graphql",
            headers: &headers,
            body: Body::Full(body.as_bytes()),
        };
        let effects = classify_http(&req, &HttpContext::default());
        assert!(!effects.is_empty());
    }
}
