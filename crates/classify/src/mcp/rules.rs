//! The MCP rule pack (`rules/mcp.toml`): which server and tool a rule applies to, when its
//! arguments match, the tool's own effect and what each argument holds.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use holdpoint_core::{Reversibility, Scope, TargetKind, Verb};
use serde::Deserialize;
use serde_json::Value;

use super::ArgKind;

/// The built-in MCP rule pack.
pub const MCP_RULES: &str = include_str!("../../rules/mcp.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Pack {
    rule: Vec<Rule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rule {
    id: String,
    #[serde(default)]
    servers: Vec<String>,
    tools: Vec<String>,
    #[serde(default)]
    when: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    effect: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    args: BTreeMap<String, String>,
    why: String,
}

/// A rule, its names checked and parsed.
#[derive(Debug)]
pub(crate) struct Compiled {
    pub id: String,
    servers: Vec<String>,
    tools: Vec<String>,
    when: BTreeMap<String, Vec<String>>,
    /// The tool's own effect: verb, target kind, reversibility, scope.
    pub effect: Option<(Verb, TargetKind, Reversibility, Scope)>,
    /// Argument name → what it holds.
    pub args: Vec<(String, ArgKind)>,
    pub why: String,
}

/// The compiled pack, or why it does not compile (a test keeps the built-in one valid).
pub(crate) fn pack() -> Result<&'static [Compiled], &'static str> {
    static PACK: OnceLock<Result<Vec<Compiled>, String>> = OnceLock::new();
    PACK.get_or_init(|| compile(MCP_RULES)).as_deref().map_err(String::as_str)
}

fn compile(text: &str) -> Result<Vec<Compiled>, String> {
    let pack: Pack = toml::from_str(text).map_err(|e| format!("rules/mcp.toml: {e}"))?;
    pack.rule.into_iter().map(compile_rule).collect()
}

fn compile_rule(rule: Rule) -> Result<Compiled, String> {
    let bad = |what: &str| format!("rules/mcp.toml: rule {}: {what}", rule.id);
    let scope = match &rule.scope {
        Some(s) => s.parse().map_err(|_| bad("unknown scope"))?,
        None => Scope::Remote,
    };
    let effect = match &rule.effect {
        None => None,
        Some(text) => {
            let parts: Vec<&str> = text.split_whitespace().collect();
            let [verb, kind, rev] = parts.as_slice() else {
                return Err(bad("effect must be VERB KIND REVERSIBILITY"));
            };
            Some((
                verb.parse().map_err(|_| bad("unknown verb"))?,
                kind.parse().map_err(|_| bad("unknown target kind"))?,
                rev.parse().map_err(|_| bad("unknown reversibility"))?,
                scope,
            ))
        }
    };
    let args = rule
        .args
        .iter()
        .map(|(name, kind)| Ok((name.clone(), ArgKind::parse(kind).ok_or_else(|| bad("unknown argument kind"))?)))
        .collect::<Result<Vec<_>, String>>()?;
    if effect.is_none() && args.is_empty() {
        return Err(bad("a rule needs an effect or args"));
    }
    Ok(Compiled { id: rule.id, servers: rule.servers, tools: rule.tools, when: rule.when, effect, args, why: rule.why })
}

impl Compiled {
    /// Whether the rule applies to this call.
    pub fn matches(&self, server: &str, tool: &str, arguments: &Value) -> bool {
        (self.servers.is_empty() || self.servers.iter().any(|g| glob(g, server)))
            && self.tools.iter().any(|g| glob(g, tool))
            && self.when.iter().all(|(name, globs)| {
                let text = match arguments.get(name) {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Null) | None => return false,
                    Some(other) => other.to_string(),
                };
                globs.iter().any(|g| glob(g, &text))
            })
    }
}

/// `*` matches any run of characters; everything else itself.
pub(crate) fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            let Some(rest) = text.strip_prefix(head) else { return false };
            (0..=rest.len()).filter(|i| rest.is_char_boundary(*i)).any(|i| rest.get(i..).is_some_and(|r| glob(tail, r)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_pack_compiles_with_unique_ids() {
        let rules = compile(MCP_RULES).unwrap();
        assert!(rules.len() > 10);
        let mut ids: Vec<&str> = rules.iter().map(|r| r.id.as_str()).collect();
        ids.sort_unstable();
        let before = ids.len();
        ids.dedup();
        assert_eq!(before, ids.len());
    }

    #[test]
    fn bad_rules_are_refused() {
        let no_effect = "[[rule]]\nid = \"x\"\ntools = [\"t\"]\nwhy = \"w\"\n";
        assert!(compile(no_effect).unwrap_err().contains("needs an effect"));
        let bad_kind = "[[rule]]\nid = \"x\"\ntools = [\"t\"]\nargs = { a = \"nope\" }\nwhy = \"w\"\n";
        assert!(compile(bad_kind).unwrap_err().contains("argument kind"));
    }

    #[test]
    fn globs() {
        assert!(glob("github*", "github"));
        assert!(glob("delete_*", "delete_file"));
        assert!(!glob("delete_*", "undelete_file"));
        assert!(glob("*", ""));
    }
}
