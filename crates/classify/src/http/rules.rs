//! The HTTP rule pack (`rules/http.toml`): hosts, methods, path globs and body words, and the
//! effect a matching request has.

use std::sync::OnceLock;

use holdpoint_core::{Effect, Reversibility, Target, TargetKind, Verb};
use serde::Deserialize;

use super::{Parsed, effect, opaque};

/// The built-in HTTP rule pack.
pub const HTTP_RULES: &str = include_str!("../../rules/http.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Pack {
    rule: Vec<Rule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rule {
    id: String,
    hosts: Vec<String>,
    methods: Vec<String>,
    paths: Vec<String>,
    #[serde(default)]
    body: Vec<String>,
    effect: String,
    why: String,
}

struct Compiled {
    rule: Rule,
    verb: Verb,
    kind: TargetKind,
    reversibility: Reversibility,
}

/// The compiled pack, or why it does not compile (a test keeps the built-in one valid).
fn pack() -> Result<&'static [Compiled], &'static str> {
    static PACK: OnceLock<Result<Vec<Compiled>, String>> = OnceLock::new();
    PACK.get_or_init(|| compile(HTTP_RULES)).as_deref().map_err(String::as_str)
}

fn compile(text: &str) -> Result<Vec<Compiled>, String> {
    let pack: Pack = toml::from_str(text).map_err(|e| format!("rules/http.toml: {e}"))?;
    pack.rule
        .into_iter()
        .map(|rule| {
            let parts: Vec<&str> = rule.effect.split_whitespace().collect();
            let [verb, kind, rev] = parts.as_slice() else {
                return Err(format!("rule {}: effect must be VERB KIND REVERSIBILITY", rule.id));
            };
            let bad = |what: &str| format!("rule {}: unknown {what}", rule.id);
            Ok(Compiled {
                verb: verb.parse().map_err(|_| bad("verb"))?,
                kind: kind.parse().map_err(|_| bad("target kind"))?,
                reversibility: rev.parse().map_err(|_| bad("reversibility"))?,
                rule,
            })
        })
        .collect()
}

/// The effect of the first rule that matches, if any.
pub(crate) fn classify(p: &Parsed<'_>) -> Vec<Effect> {
    let rules = match pack() {
        Ok(rules) => rules,
        Err(why) => return vec![opaque(&p.endpoint, why, "http-rules-invalid")],
    };
    let body = p
        .body_bytes()
        .map(|b| String::from_utf8_lossy(b).chars().filter(|c| !c.is_whitespace()).collect::<String>().to_lowercase())
        .unwrap_or_default();
    let path = p.path.trim_end_matches('/');
    let found = rules.iter().find(|c| {
        let r = &c.rule;
        r.methods.iter().any(|m| m.eq_ignore_ascii_case(&p.method))
            && r.hosts.iter().any(|h| host_matches(h, &p.host))
            && r.paths.iter().any(|g| path_matches(g, path))
            && (r.body.is_empty() || r.body.iter().any(|w| body.contains(w.as_str())))
    });
    found
        .map(|c| {
            let target = Target::new(c.kind, p.endpoint.clone());
            effect(c.verb, target, c.reversibility, &c.rule.id, &c.rule.why)
        })
        .into_iter()
        .collect()
}

fn host_matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix('*') {
        None => pattern == host,
        Some("") => true,
        Some(suffix) => host.ends_with(suffix) && host.len() > suffix.len(),
    }
}

/// `*` matches within one segment, `**` any number of segments.
fn path_matches(pattern: &str, path: &str) -> bool {
    let pat: Vec<&str> = pattern.trim_matches('/').split('/').collect();
    let segs: Vec<&str> = path.trim_matches('/').split('/').filter(|s| !s.is_empty()).collect();
    segments_match(&pat, &segs)
}

fn segments_match(pat: &[&str], segs: &[&str]) -> bool {
    match pat.split_first() {
        None => segs.is_empty(),
        Some((&"**", rest)) => (0..=segs.len()).any(|i| segs.get(i..).is_some_and(|tail| segments_match(rest, tail))),
        Some((first, rest)) => match segs.split_first() {
            Some((seg, tail)) => glob(first, seg) && segments_match(rest, tail),
            None => false,
        },
    }
}

/// A glob within one segment: `*` matches any run of characters.
fn glob(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let Some(first) = parts.next() else { return true };
    let Some(mut rest) = text.strip_prefix(first) else { return false };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else { return rest.is_empty() };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = rest.get(i + part.len()..).unwrap_or_default(),
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_pack_compiles() {
        let rules = compile(HTTP_RULES).unwrap();
        assert!(rules.len() > 20);
        let mut ids: Vec<&str> = rules.iter().map(|r| r.rule.id.as_str()).collect();
        ids.sort_unstable();
        let before = ids.len();
        ids.dedup();
        assert_eq!(before, ids.len(), "rule ids are unique");
    }

    #[test]
    fn globs() {
        assert!(path_matches("/repos/*/*", "/repos/a/b"));
        assert!(!path_matches("/repos/*/*", "/repos/a/b/c"));
        assert!(path_matches("/**", "/"));
        assert!(path_matches("/api/v1/**", "/api/v1/namespaces/x/pods/y"));
        assert!(path_matches("/**/*:setIamPolicy", "/v1/projects/p:setIamPolicy"));
        assert!(path_matches("/v*/liens/**", "/v3/liens/abc"));
        assert!(!path_matches("/v*/liens/**", "/x3/liens/abc"));
        assert!(host_matches("*.googleapis.com", "storage.googleapis.com"));
        assert!(!host_matches("*.googleapis.com", "googleapis.com"));
        assert!(!host_matches("*.googleapis.com", "evilgoogleapis.com.example"));
        assert!(glob("a*b*c", "aXXbYYc"));
        assert!(!glob("a*b*c", "aXXbYY"));
    }
}
