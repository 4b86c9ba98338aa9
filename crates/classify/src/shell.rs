//! Shell commands, parsed with a real bash grammar.

use holdpoint_core::{Effect, Reversibility, Scope, Target, TargetKind, Verb};

use crate::{Context, WorkspaceFacts};

/// Classify a shell command line.
pub fn classify(command: &str, _ctx: &Context, _facts: &dyn WorkspaceFacts) -> Vec<Effect> {
    let mut e =
        Effect::new(Verb::Opaque, Target::new(TargetKind::Unknown, command), Reversibility::Irreversible, Scope::Host);
    e.rule = Some("shell-unparsed".into());
    vec![e]
}
