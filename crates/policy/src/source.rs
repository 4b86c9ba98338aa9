//! Reading Cedar policy files: syntax, schema validation, and Holdpoint's annotation scheme,
//! each error pointing at `file:line:col`.

use std::str::FromStr;

use cedar_policy::{Effect, Policy, PolicyId, PolicySet, Schema, ValidationMode, Validator};
use miette::Diagnostic;

use crate::{Error, Located};

/// A Cedar policy file handed in as text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyFile {
    /// Its path (or a built-in name), used in error messages and `explain`.
    pub name: String,
    /// The Cedar text.
    pub text: String,
}

impl PolicyFile {
    /// A file from its name and text.
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        PolicyFile { name: name.into(), text: text.into() }
    }
}

/// What a policy means to Holdpoint, read from its annotations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// A plain permit.
    Allow,
    /// A forbid with `@verdict("hold")`.
    Hold,
    /// A forbid with `@verdict("deny")`.
    Deny,
    /// A permit with `@verdict("obligation")`.
    Obligation,
}

/// Obligation annotations a policy sets; unset ones leave the defaults.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ObligationAnnotations {
    pub approvers: Option<u32>,
    pub delay_secs: Option<u64>,
    pub ttl_secs: Option<u64>,
    pub soft_delete: Option<bool>,
}

/// One checked policy.
#[derive(Clone, Debug)]
pub(crate) struct Checked {
    pub policy: Policy,
    pub id: String,
    pub role: Role,
    pub reason: String,
    pub obligations: ObligationAnnotations,
    /// `file:line` of the policy's first line.
    pub origin: String,
}

const ANNOTATIONS: &[&str] = &["id", "verdict", "reason", "approvers", "delay_secs", "ttl_secs", "soft_delete"];

/// Parse, validate and check one file; policies come back with their `@id` as their id.
/// `schema` is `None` only for the built-in files, which a test validates (validation is
/// most of the cost of loading, and a hook pays it on every call).
pub(crate) fn load(
    file: &PolicyFile,
    schema: Option<&Schema>,
    wrap: fn(Located) -> Error,
) -> Result<Vec<Checked>, Error> {
    let at = |offset: usize, msg: String| wrap(Located::at(&file.name, &file.text, offset, msg));
    let set = PolicySet::from_str(&file.text).map_err(|e| {
        let offset = first_label(&e).unwrap_or(0);
        at(offset, format!("Cedar syntax error: {}", diagnostic_text(&e)))
    })?;
    if let Some(t) = set.templates().next() {
        let offset = statement_offset(&file.text, t.id());
        return Err(at(offset, "templates (policies with ?principal or ?resource) are not supported".into()));
    }
    if let Some(schema) = schema {
        let validation = Validator::new(schema.clone()).validate(&set, ValidationMode::Strict);
        if let Some(e) = validation.validation_errors().next() {
            let offset = first_label(e).unwrap_or_else(|| statement_offset(&file.text, e.policy_id()));
            return Err(at(offset, format!("policy does not match Holdpoint's schema: {}", diagnostic_text(e))));
        }
    }
    let starts = statement_starts(&file.text);
    let mut out = Vec::new();
    for (index, start) in starts.iter().enumerate() {
        let pid = PolicyId::new(format!("policy{index}"));
        let Some(policy) = set.policy(&pid) else { continue };
        out.push(check(policy, &file.name, &file.text, *start).map_err(|m| at(*start, m))?);
    }
    if out.len() != set.policies().count() {
        return Err(at(0, "could not match every policy to its place in the file".into()));
    }
    Ok(out)
}

fn check(policy: &Policy, file: &str, text: &str, start: usize) -> Result<Checked, String> {
    if let Some((key, _)) = policy.annotations().find(|(k, _)| !ANNOTATIONS.contains(k)) {
        return Err(format!("unknown annotation @{key}; Holdpoint reads @{}", ANNOTATIONS.join(", @")));
    }
    let id = policy
        .annotation("id")
        .filter(|id| !id.is_empty())
        .ok_or("every policy needs an @id(\"...\") annotation naming it")?
        .to_owned();
    let role = match (policy.effect(), policy.annotation("verdict")) {
        (Effect::Permit, None) => Role::Allow,
        (Effect::Permit, Some("obligation")) => Role::Obligation,
        (Effect::Forbid, Some("deny")) => Role::Deny,
        (Effect::Forbid, Some("hold")) => Role::Hold,
        (Effect::Forbid, None) => {
            return Err(format!("forbid policy {id:?} needs @verdict(\"deny\") or @verdict(\"hold\")"));
        }
        (Effect::Permit, Some(v)) => {
            return Err(format!(
                "permit policy {id:?} has @verdict({v:?}); a permit takes no @verdict, or @verdict(\"obligation\")"
            ));
        }
        (Effect::Forbid, Some(v)) => {
            return Err(format!("forbid policy {id:?} has @verdict({v:?}); use \"deny\" or \"hold\""));
        }
    };
    let obligations = ObligationAnnotations {
        approvers: number(policy, "approvers")?,
        delay_secs: number(policy, "delay_secs")?,
        ttl_secs: number(policy, "ttl_secs")?,
        soft_delete: match policy.annotation("soft_delete") {
            None => None,
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(v) => return Err(format!("@soft_delete({v:?}) must be \"true\" or \"false\"")),
        },
    };
    let obligation_keys = ["approvers", "delay_secs", "ttl_secs", "soft_delete"];
    if let Some(key) = obligation_keys.iter().find(|k| policy.annotation(k).is_some())
        && (role == Role::Allow || role == Role::Deny)
    {
        return Err(format!("@{key} only means something on a hold or obligation policy, not on {id:?}"));
    }
    let reason = policy.annotation("reason").map_or_else(|| format!("policy {id} matched"), str::to_owned);
    let line = Located::at(file, text, start, "").line;
    let policy = policy.new_id(PolicyId::new(&id));
    Ok(Checked { policy, id, role, reason, obligations, origin: format!("{file}:{line}") })
}

fn number<T: FromStr>(policy: &Policy, key: &str) -> Result<Option<T>, String> {
    policy.annotation(key).map(|v| v.parse().map_err(|_| format!("@{key}({v:?}) must be a whole number"))).transpose()
}

fn first_label(d: &dyn Diagnostic) -> Option<usize> {
    d.labels()?.next().map(|l| l.offset())
}

fn diagnostic_text(d: &dyn Diagnostic) -> String {
    let mut text = d.to_string();
    if let Some(help) = d.help() {
        text.push_str(&format!(" ({help})"));
    }
    text
}

fn statement_offset(text: &str, id: &PolicyId) -> usize {
    let index = id.to_string().strip_prefix("policy").and_then(|n| n.parse::<usize>().ok());
    index.and_then(|i| statement_starts(text).get(i).copied()).unwrap_or(0)
}

/// Byte offsets where each top-level Cedar statement starts (its first annotation or keyword),
/// skipping `//` comments and string literals.
pub(crate) fn statement_starts(text: &str) -> Vec<usize> {
    let bytes = text.as_bytes();
    let mut starts = Vec::new();
    let mut in_statement = false;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while bytes.get(i).is_some_and(|&c| c != b'\n') {
                    i += 1;
                }
                continue;
            }
            b'"' => {
                if !in_statement {
                    starts.push(i);
                    in_statement = true;
                }
                i += 1;
                while let Some(&c) = bytes.get(i) {
                    i += if c == b'\\' { 2 } else { 1 };
                    if c == b'"' {
                        break;
                    }
                }
                continue;
            }
            b';' => in_statement = false,
            c if c.is_ascii_whitespace() => {}
            _ if !in_statement => {
                starts.push(i);
                in_statement = true;
            }
            _ => {}
        }
        i += 1;
    }
    starts
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The engine skips validating the built-in files at run time; this is where they are.
    #[test]
    fn builtin_policies_validate_against_the_schema() {
        let schema = crate::engine::builtin_schema().unwrap();
        for (name, text) in [("<guarded>", crate::GUARDED), ("<strict>", crate::STRICT)] {
            let checked = load(&PolicyFile::new(name, text), Some(&schema), Error::Policy).unwrap();
            assert!(!checked.is_empty());
        }
    }

    #[test]
    fn statements_are_found_past_comments_and_strings() {
        let text = "// a; comment\n@id(\"a;b\")\npermit(principal, action, resource);\n\n  forbid(principal, action, resource) when { \"x;\" == \"y\" };\n";
        let starts = statement_starts(text);
        assert_eq!(starts.len(), 2);
        assert_eq!(text.get(starts[0]..starts[0] + 3), Some("@id"));
        assert_eq!(text.get(starts[1]..starts[1] + 6), Some("forbid"));
    }
}
