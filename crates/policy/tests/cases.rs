//! Data-driven policy cases: `tests/data/policy.jsonl`, one case per line.
//!
//! An effect is written `VERB KIND:ID [#TAG..] REVERSIBILITY SCOPE`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::BTreeSet;

use holdpoint_core::{Action, Actor, Channel, Effect, Obligations, Target, Verdict};
use holdpoint_policy::{Engine, Mode, Profile};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    case: String,
    #[serde(default)]
    profile: Option<String>,
    #[serde(default)]
    channel: Option<String>,
    effects: Vec<String>,
    verdict: String,
    policy: Vec<String>,
    #[serde(default)]
    obligations: Option<Obligations>,
    #[serde(default)]
    mode: Option<String>,
}

fn effect(text: &str) -> Effect {
    let words: Vec<&str> = text.split_whitespace().collect();
    let (verb, target, rest) = (words[0], words[1], &words[2..]);
    let (kind, id) = target.split_once(':').expect("KIND:ID");
    let tags: BTreeSet<String> = rest.iter().filter_map(|w| w.strip_prefix('#')).map(str::to_owned).collect();
    let plain: Vec<&&str> = rest.iter().filter(|w| !w.starts_with('#')).collect();
    let [reversibility, scope] = plain.as_slice() else { panic!("{text}: expected REVERSIBILITY SCOPE at the end") };
    Effect::new(
        verb.parse().unwrap(),
        Target { kind: kind.parse().unwrap(), id: id.to_owned(), tags },
        reversibility.parse().unwrap(),
        scope.parse().unwrap(),
    )
}

#[test]
fn policy_cases() {
    let engines: Vec<(Profile, Engine)> = [Profile::Guarded, Profile::Strict, Profile::Observe]
        .into_iter()
        .map(|p| (p, Engine::new(p, &[]).unwrap()))
        .collect();
    let data = include_str!("data/policy.jsonl");
    let mut failures = Vec::new();
    let mut profiles_seen = BTreeSet::new();
    let mut verdicts_seen = BTreeSet::new();
    for (n, line) in data.lines().enumerate() {
        let case: Case = serde_json::from_str(line).unwrap_or_else(|e| panic!("line {}: {e}", n + 1));
        let profile: Profile = case.profile.as_deref().unwrap_or("guarded").parse().unwrap();
        let engine = &engines.iter().find(|(p, _)| *p == profile).unwrap().1;
        let channel: Channel = case.channel.as_deref().unwrap_or("shell").parse().unwrap();
        let action = Action {
            channel,
            actor: Actor { workspace: "/w".into(), ..Actor::default() },
            target: String::new(),
            input: case.case.clone(),
            effects: case.effects.iter().map(|e| effect(e)).collect(),
        };
        let d = engine.decide(&action);
        let got_obligations = match &d.verdict {
            Verdict::Hold { obligations } => *obligations,
            _ => Obligations::NONE,
        };
        let mode = if d.mode == Mode::Observe { "observe" } else { "enforce" };
        let ok = d.verdict.kind().as_str() == case.verdict
            && d.policies == case.policy
            && case.obligations.is_none_or(|o| o == got_obligations)
            && case.mode.as_deref().unwrap_or("enforce") == mode;
        if !ok {
            failures.push(format!(
                "line {} ({}): expected {} {:?}, got {} {:?} {:?} mode {mode}",
                n + 1,
                case.case,
                case.verdict,
                case.policy,
                d.verdict.kind(),
                d.policies,
                got_obligations
            ));
        }
        profiles_seen.insert(profile.as_str());
        verdicts_seen.insert((profile.as_str(), case.verdict.clone()));
    }
    assert!(failures.is_empty(), "{} failing cases:\n{}", failures.len(), failures.join("\n"));
    assert_eq!(profiles_seen.len(), 3, "every profile has cases");
    assert!(verdicts_seen.len() >= 8, "allow, hold and deny are each covered per profile: {verdicts_seen:?}");
}

/// Every built-in policy is exercised by at least one case, so a policy nobody tests
/// cannot creep in.
#[test]
fn every_builtin_policy_has_a_case() {
    let data = include_str!("data/policy.jsonl");
    let engine = Engine::new(Profile::Strict, &[]).unwrap();
    let missing: Vec<&str> =
        engine.policies().into_iter().map(|p| p.0).filter(|id| !data.contains(&format!("\"{id}\""))).collect();
    assert!(missing.is_empty(), "policies without a case: {missing:?}");
}
