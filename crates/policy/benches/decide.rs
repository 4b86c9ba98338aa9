//! What a hook pays per call: loading the policy set, and deciding one action.
#![allow(clippy::unwrap_used, missing_docs)]

use holdpoint_core::{Action, Actor, Channel, Effect, Reversibility, Scope, Target, TargetKind, Verb};
use holdpoint_policy::{Engine, Profile};

fn main() {
    divan::main();
}

fn action(effects: Vec<Effect>) -> Action {
    Action {
        channel: Channel::Shell,
        actor: Actor { agent: Some("claude".into()), session: None, workspace: "/w".into() },
        target: String::new(),
        input: "bench".into(),
        effects,
    }
}

fn read() -> Effect {
    Effect::new(
        Verb::Read,
        Target::new(TargetKind::Path, "/w/src/main.rs"),
        Reversibility::Reversible,
        Scope::Workspace,
    )
}

fn drop_production_table() -> Effect {
    Effect::new(
        Verb::Delete,
        Target::new(TargetKind::Table, "postgres://prod/app/public.users").tagged("production"),
        Reversibility::Irreversible,
        Scope::Remote,
    )
}

#[divan::bench(args = [Profile::Guarded, Profile::Strict])]
fn load(profile: Profile) -> Engine {
    Engine::new(profile, &[]).unwrap()
}

#[divan::bench]
fn decide_allow(bencher: divan::Bencher) {
    let engine = Engine::new(Profile::Guarded, &[]).unwrap();
    let a = action(vec![read()]);
    bencher.bench(|| engine.decide(divan::black_box(&a)));
}

#[divan::bench]
fn decide_hold_with_obligations(bencher: divan::Bencher) {
    let engine = Engine::new(Profile::Guarded, &[]).unwrap();
    let a = action(vec![drop_production_table()]);
    bencher.bench(|| engine.decide(divan::black_box(&a)));
}

#[divan::bench]
fn decide_ten_effects(bencher: divan::Bencher) {
    let engine = Engine::new(Profile::Guarded, &[]).unwrap();
    let a = action((0..10).map(|_| read()).collect());
    bencher.bench(|| engine.decide(divan::black_box(&a)));
}
