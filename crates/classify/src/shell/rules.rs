//! Rule packs as data (`rules/*.toml`, one file per family): a command, the subcommand words
//! it must contain, the flags it must carry, and the effect it yields.

use std::sync::OnceLock;

use holdpoint_core::{Reversibility, Scope, Target, TargetKind, Verb};
use serde::Deserialize;

use super::effect;
use super::walk::Walker;
use super::words::Arg;

/// The built-in rule packs, by family name.
pub const RULE_PACKS: &[(&str, &str)] = &[
    ("infrastructure", include_str!("../../rules/infrastructure.toml")),
    ("migrations", include_str!("../../rules/migrations.toml")),
    ("containers", include_str!("../../rules/containers.toml")),
    ("secrets", include_str!("../../rules/secrets.toml")),
];

/// A subcommand word must be among the first positionals to count (so a value like
/// `--label delete` later on does not).
const SUBCOMMAND_WINDOW: usize = 3;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Pack {
    rule: Vec<Rule>,
}

/// One rule of a pack.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Stable id, reported as the effect's rule.
    pub id: String,
    /// Command names it applies to.
    pub commands: Vec<String>,
    /// Positional words that must appear in this order (the first one early).
    #[serde(default)]
    pub words: Vec<String>,
    /// Flags that must all be present; each entry lists alternatives separated by `|`.
    #[serde(default)]
    pub flags: Vec<String>,
    /// `VERB KIND REVERSIBILITY SCOPE`.
    pub effect: String,
    /// Tags of the target (`secret` for commands that print a credential).
    #[serde(default)]
    pub tags: Vec<String>,
    /// Why, in plain words.
    pub why: String,
}

struct Compiled {
    rule: Rule,
    verb: Verb,
    kind: TargetKind,
    reversibility: Reversibility,
    scope: Scope,
}

/// Parse every built-in pack; an error names the pack and the rule.
pub fn load() -> Result<Vec<(String, Rule)>, String> {
    let mut out = Vec::new();
    for (family, text) in RULE_PACKS {
        let pack: Pack = toml::from_str(text).map_err(|e| format!("rules/{family}.toml: {e}"))?;
        for rule in pack.rule {
            compile_effect(&rule.effect).map_err(|e| format!("rules/{family}.toml rule {}: {e}", rule.id))?;
            out.push(((*family).to_owned(), rule));
        }
    }
    Ok(out)
}

fn compile_effect(text: &str) -> Result<(Verb, TargetKind, Reversibility, Scope), String> {
    let parts: Vec<&str> = text.split_whitespace().collect();
    let [verb, kind, rev, scope] = parts.as_slice() else {
        return Err(format!("effect {text:?} must be VERB KIND REVERSIBILITY SCOPE"));
    };
    Ok((
        verb.parse().map_err(|e: holdpoint_core::UnknownName| e.to_string())?,
        kind.parse().map_err(|e: holdpoint_core::UnknownName| e.to_string())?,
        rev.parse().map_err(|e: holdpoint_core::UnknownName| e.to_string())?,
        scope.parse().map_err(|e: holdpoint_core::UnknownName| e.to_string())?,
    ))
}

fn compiled() -> &'static [Compiled] {
    static RULES: OnceLock<Vec<Compiled>> = OnceLock::new();
    RULES.get_or_init(|| {
        // The packs are compiled into the binary and checked by a test, so a bad one here
        // means a build that was never tested: its rules are skipped, not guessed at.
        load()
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(_, rule)| {
                let (verb, kind, reversibility, scope) = compile_effect(&rule.effect).ok()?;
                Some(Compiled { rule, verb, kind, reversibility, scope })
            })
            .collect()
    })
}

/// Add the effects of every rule that matches.
pub(crate) fn apply(w: &mut Walker<'_>, name: &str, args: &[Arg]) {
    for c in compiled().iter().filter(|c| c.rule.commands.iter().any(|n| n == name)) {
        if matches(&c.rule, args) {
            let positionals: Vec<&str> =
                args.iter().map(|a| a.text.as_str()).filter(|t| !t.starts_with('-')).take(4).collect();
            let mut target = Target::new(c.kind, format!("{name} {}", positionals.join(" ")).trim_end().to_owned());
            target.tags.extend(c.rule.tags.iter().cloned());
            w.push(effect(c.verb, target, c.reversibility, c.scope, &c.rule.id, &c.rule.why));
        }
    }
}

fn matches(rule: &Rule, args: &[Arg]) -> bool {
    let positionals: Vec<&str> = args.iter().map(|a| a.text.as_str()).filter(|t| !t.starts_with('-')).collect();
    let mut at = 0;
    for (i, word) in rule.words.iter().enumerate() {
        let window = if i == 0 { SUBCOMMAND_WINDOW } else { positionals.len() };
        match positionals.iter().skip(at).take(window).position(|p| p == word) {
            Some(found) => at += found + 1,
            None => return false,
        }
    }
    rule.flags.iter().all(|alternatives| alternatives.split('|').any(|flag| has(args, flag)))
}

/// `-f` matches `-f` and `-rf`; `--force` matches `--force` and `--force=...`.
fn has(args: &[Arg], flag: &str) -> bool {
    args.iter().any(|a| {
        let t = a.text.as_str();
        if let Some(long) = flag.strip_prefix("--") {
            t.strip_prefix("--").is_some_and(|r| r == long || r.strip_prefix(long).is_some_and(|v| v.starts_with('=')))
        } else if let Some(short) = flag.strip_prefix('-') {
            t == flag || (short.len() == 1 && t.starts_with('-') && !t.starts_with("--") && t.contains(short))
        } else {
            t == flag
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_pack_loads() {
        let rules = super::load().unwrap();
        assert!(rules.len() > 20);
        let mut ids: Vec<&str> = rules.iter().map(|(_, r)| r.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), rules.len(), "rule ids are unique");
    }
}
