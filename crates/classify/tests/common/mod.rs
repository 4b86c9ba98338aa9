//! The context and file system every classifier test runs against.
#![allow(dead_code)]

use std::collections::BTreeMap;

use holdpoint_classify::{Context, WorkspaceFacts, classify_shell};
use holdpoint_core::{Action, Actor, Channel, Effect, VerdictKind};
use holdpoint_policy::{Engine, Profile};

pub const HOME: &str = "/home/dev";
pub const WORKSPACE: &str = "/home/dev/project";

pub fn context() -> Context {
    Context {
        cwd: WORKSPACE.into(),
        workspace: WORKSPACE.into(),
        home: HOME.into(),
        temp_dirs: vec!["/tmp".into(), "/var/tmp".into()],
        guarded: vec![format!("{HOME}/.config/holdpoint"), format!("{HOME}/.local/state/holdpoint")],
        protected_branches: ["main", "master", "release/*", "prod*"].iter().map(|s| s.to_string()).collect(),
    }
}

/// A workspace with a package.json, a Makefile, one tracked file, on branch feature-x.
pub struct Files(pub BTreeMap<String, String>);

impl Files {
    pub fn workspace() -> Files {
        let mut files = BTreeMap::new();
        let mut add = |path: &str, text: &str| {
            files.insert(format!("{WORKSPACE}/{path}"), text.to_owned());
        };
        add(
            "package.json",
            r#"{"scripts":{"build":"tsc -p .","clean":"rm -rf dist","nuke":"rm -rf ~/","pretest":"rm -rf coverage","test":"jest","reset-db":"prisma migrate reset --force"}}"#,
        );
        add("Makefile", "BUILD := build\n\nall: build\n\nclean:\n\trm -rf $(BUILD)\n\nwipe:\n\t@rm -rf /var/lib/app\n");
        add(".git/HEAD", "ref: refs/heads/feature-x\n");
        add("scripts/setup.sh", "npm ci\nrm -rf ~/.cache/app\n");
        Files(files)
    }
}

impl WorkspaceFacts for Files {
    fn is_tracked(&self, path: &str) -> bool {
        path == format!("{WORKSPACE}/src/lib.rs")
    }
    fn read(&self, path: &str) -> Option<String> {
        self.0.get(path).cloned()
    }
}

pub fn effects(command: &str, facts: &dyn WorkspaceFacts) -> Vec<Effect> {
    classify_shell(command, &context(), facts)
}

pub fn verdict(engine: &Engine, command: &str, facts: &dyn WorkspaceFacts) -> (VerdictKind, Vec<Effect>) {
    let effects = effects(command, facts);
    let action = Action {
        channel: Channel::Shell,
        actor: Actor { agent: Some("claude".into()), session: None, workspace: WORKSPACE.into() },
        target: String::new(),
        input: command.to_owned(),
        effects: effects.clone(),
    };
    (engine.decide(&action).verdict.kind(), effects)
}

pub fn engine() -> Engine {
    Engine::new(Profile::Guarded, &[]).expect("the built-in policy loads")
}
