//! Untrusted shell commands through the classifier: never a panic, never an empty answer,
//! and the policy always decides what comes out.
#![no_main]

use std::sync::OnceLock;

use holdpoint_classify::{Context, NoFacts, classify_shell};
use holdpoint_core::{Action, Actor, Channel};
use holdpoint_policy::{Engine, Profile};
use libfuzzer_sys::fuzz_target;

static ENGINE: OnceLock<Option<Engine>> = OnceLock::new();
static QUIET_PANICS: OnceLock<()> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    // The classifier catches brush-parser's own panics and holds such input; libfuzzer-sys's
    // panic hook would abort on those caught panics too. A panic that escapes the classifier
    // still aborts: libfuzzer-sys catches it around this closure.
    QUIET_PANICS.get_or_init(|| std::panic::set_hook(Box::new(|_| {})));
    let Ok(command) = std::str::from_utf8(data) else { return };
    let ctx = Context {
        cwd: "/home/dev/project".into(),
        workspace: "/home/dev/project".into(),
        home: "/home/dev".into(),
        temp_dirs: vec!["/tmp".into()],
        guarded: vec!["/home/dev/.config/holdpoint".into()],
        protected_branches: vec!["main".into()],
    };
    let effects = classify_shell(command, &ctx, &NoFacts);
    assert!(!effects.is_empty(), "every command yields at least one effect");
    if let Some(engine) = ENGINE.get_or_init(|| Engine::new(Profile::Guarded, &[]).ok()) {
        let action = Action {
            channel: Channel::Shell,
            actor: Actor { workspace: ctx.workspace.clone(), ..Actor::default() },
            target: String::new(),
            input: command.to_owned(),
            effects,
        };
        let _ = engine.decide(&action);
    }
});
