//! Shell commands, parsed with a real bash grammar (brush-parser) and classified over the
//! syntax tree: every simple command anywhere (pipelines, lists, subshells, substitutions,
//! function bodies, `bash -c` strings) is looked at after quote removal and expansion.

mod cloud;
mod commands;
mod db;
mod fs;
mod git;
mod interp;
mod rules;
mod walk;
pub mod words;

use holdpoint_core::{Effect, Reversibility, Scope, Target, TargetKind, Verb};

use crate::{Context, WorkspaceFacts};

pub use rules::RULE_PACKS;

/// How deep `bash -c "..."`, substitutions and scripts are followed.
pub(crate) const MAX_DEPTH: usize = 6;
/// How many simple commands one input may contain before the rest is opaque.
pub(crate) const MAX_COMMANDS: usize = 2_000;

/// Classify a shell command line.
pub fn classify(command: &str, ctx: &Context, facts: &dyn WorkspaceFacts) -> Vec<Effect> {
    let mut walker = walk::Walker::new(ctx, facts);
    walker.script(command, 0);
    walker.finish()
}

/// An effect the classifier cannot see through.
pub(crate) fn opaque(what: &str, why: &str, rule: &str) -> Effect {
    let mut e =
        Effect::new(Verb::Opaque, Target::new(TargetKind::Unknown, what), Reversibility::Irreversible, Scope::Host);
    e.rule = Some(rule.to_owned());
    e.why = Some(why.to_owned());
    e
}

/// An effect with its rule and reason.
pub(crate) fn effect(verb: Verb, target: Target, rev: Reversibility, scope: Scope, rule: &str, why: &str) -> Effect {
    let mut e = Effect::new(verb, target, rev, scope);
    e.rule = Some(rule.to_owned());
    e.why = Some(why.to_owned());
    e
}
