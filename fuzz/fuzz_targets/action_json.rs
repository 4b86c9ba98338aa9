//! Untrusted action JSON (batch lines, effects from other tools): parse, digest and decide
//! without panicking; whatever parses round-trips through JSON unchanged. Canonical JSON is
//! serde_json's own printing with keys sorted (digests and approvals depend on it not changing),
//! and so is a decision's audit detail rendered at once from the action's texts.
#![no_main]

use std::sync::OnceLock;

use holdpoint_core::{Action, canonical_json};
use holdpoint_policy::{Engine, Profile};
use holdpoint_store::{DecisionDetail, Detail};
use libfuzzer_sys::fuzz_target;

static ENGINE: OnceLock<Option<Engine>> = OnceLock::new();

/// `value` with every object's keys sorted (serde_json keeps insertion order in this build).
fn sorted(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let mut map: serde_json::Map<String, serde_json::Value> =
                map.into_iter().map(|(k, v)| (k, sorted(v))).collect();
            map.sort_keys();
            serde_json::Value::Object(map)
        }
        serde_json::Value::Array(items) => serde_json::Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        let text = canonical_json(&value);
        let printed = serde_json::to_string(&sorted(value.clone())).expect("a value prints");
        assert_eq!(text, printed, "canonical JSON is serde_json's printing, keys sorted");
        let again: serde_json::Value = serde_json::from_str(&text).expect("canonical JSON parses");
        assert_eq!(canonical_json(&again), text, "canonical JSON is a fixed point");
    }
    let Ok(action) = serde_json::from_slice::<Action>(data) else { return };
    let _ = action.digest();
    let texts = [action.input.clone(), action.target.clone()];
    let fields = DecisionDetail {
        agent: action.actor.agent.as_deref(),
        input: &action.input,
        mode: &action.target,
        policies: &texts,
        reasons: &texts[1..],
        session: action.actor.session.as_deref(),
        workspace: &action.actor.workspace,
    };
    let as_json = serde_json::to_value(fields).expect("a detail serialises");
    assert_eq!(Detail::decision(fields).canonical(), canonical_json(&as_json), "a decision's detail is canonical");
    let json = serde_json::to_string(&action).expect("an action serialises");
    let back: Action = serde_json::from_str(&json).expect("an action round-trips");
    assert_eq!(back, action);
    if let Some(engine) = ENGINE.get_or_init(|| Engine::new(Profile::Guarded, &[]).ok()) {
        let _ = engine.decide(&action);
    }
});
