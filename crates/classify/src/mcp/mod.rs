//! MCP tool calls: what a `tools/call` would do, as effects.
//!
//! A call is classified by the first rule of `rules/mcp.toml` that matches its server, tool and
//! arguments: the rule gives the tool's own effect, and arguments that are commands, SQL, URLs
//! or paths go to the shell, SQL, HTTP and path classifiers. A tool no rule knows is
//! opaque unless the server annotates it `readOnlyHint: true`; either way its arguments are
//! looked at (commands, SQL, URLs and paths by their names, destructive words and flags), so a
//! read-only hint never hides what the arguments show. `destructiveHint: true` adds a delete.

mod rules;

use std::collections::BTreeSet;

use holdpoint_core::{Effect, Reversibility, Scope, Target, TargetKind, Verb};
use serde_json::Value;

use crate::http::{Body, HttpContext, HttpRequest, destructive_name};
use crate::sql::SqlTarget;
use crate::{Context, FileOp, WorkspaceFacts};

pub use rules::MCP_RULES;

/// How deep the argument scan goes into nested objects and arrays.
const SCAN_DEPTH: usize = 8;
/// How many argument values the scan looks at before it calls the rest opaque.
const SCAN_VALUES: usize = 512;
/// Longest string value read as a single word (an `action` or `mode` argument).
const WORD_MAX: usize = 64;

/// One `tools/call`: which server, which tool, its arguments, and the tool's annotations as
/// the server listed them.
#[derive(Clone, Copy, Debug)]
pub struct McpCall<'a> {
    /// The server's name (`holdpoint mcp wrap NAME`, the `[[mcp]]` block, the agent's config).
    pub server: &'a str,
    /// The tool's name.
    pub tool: &'a str,
    /// The call's `arguments` (an object; anything else counts as no arguments).
    pub arguments: &'a Value,
    /// The tool's `annotations` from `tools/list` (`readOnlyHint`, `destructiveHint`, ...),
    /// or `null`.
    pub annotations: &'a Value,
    /// Tags every effect's target carries (the server's, such as `production`).
    pub tags: &'a [String],
}

/// What an argument holds, as a rule names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ArgKind {
    Shell,
    Sql,
    Url,
    ReadPath,
    WritePath,
    DeletePath,
}

impl ArgKind {
    fn parse(name: &str) -> Option<ArgKind> {
        Some(match name {
            "shell" => ArgKind::Shell,
            "sql" => ArgKind::Sql,
            "url" => ArgKind::Url,
            "read-path" => ArgKind::ReadPath,
            "write-path" => ArgKind::WritePath,
            "delete-path" => ArgKind::DeletePath,
            _ => return None,
        })
    }
}

/// Classify one tool call; every call yields at least one effect.
pub fn classify(call: &McpCall<'_>, ctx: &Context, facts: &dyn WorkspaceFacts) -> Vec<Effect> {
    let mut effects = match rules::pack() {
        Err(why) => vec![
            tool_effect(call, Verb::Opaque, TargetKind::Mcp, Reversibility::Irreversible, Scope::Remote)
                .because("mcp-rules-invalid", why),
        ],
        Ok(pack) => match pack.iter().find(|r| r.matches(call.server, call.tool, call.arguments)) {
            Some(rule) => by_rule(rule, call, ctx, facts),
            None => unruled(call, ctx, facts),
        },
    };
    if hint(call, "destructiveHint") {
        effects.push(
            tool_effect(call, Verb::Delete, TargetKind::Mcp, Reversibility::Irreversible, Scope::Remote)
                .because("mcp-destructive-hint", "the server annotates the tool destructiveHint: true"),
        );
    }
    if effects.is_empty() {
        effects.push(
            tool_effect(call, Verb::Opaque, TargetKind::Mcp, Reversibility::Irreversible, Scope::Remote)
                .because("mcp-no-arguments", "the rule's arguments are missing, so what it would do is not known"),
        );
    }
    let tags: BTreeSet<String> = call.tags.iter().cloned().collect();
    for e in &mut effects {
        e.target.tags.extend(tags.iter().cloned());
    }
    effects
}

/// The tool's own effect (when the rule gives one) and its arguments' effects.
fn by_rule(rule: &rules::Compiled, call: &McpCall<'_>, ctx: &Context, facts: &dyn WorkspaceFacts) -> Vec<Effect> {
    let mut effects = Vec::new();
    if let Some((verb, kind, rev, scope)) = rule.effect {
        effects.push(tool_effect(call, verb, kind, rev, scope).because(&rule.id, &rule.why));
    }
    for (name, kind) in &rule.args {
        let Some(value) = call.arguments.get(name).filter(|v| !v.is_null()) else { continue };
        let texts: Vec<&str> = match value {
            Value::String(s) => vec![s.as_str()],
            Value::Array(items) if items.iter().all(Value::is_string) => {
                items.iter().filter_map(Value::as_str).collect()
            }
            _ => {
                effects.push(
                    tool_effect(call, Verb::Opaque, TargetKind::Mcp, Reversibility::Irreversible, Scope::Remote)
                        .because(&rule.id, &format!("the argument {name:?} is not text, so it cannot be classified")),
                );
                continue;
            }
        };
        for text in texts {
            effects.extend(argument(*kind, text, call, ctx, facts));
        }
    }
    effects
}

/// A tool no rule knows: opaque unless annotated read-only (a destructive name is a delete),
/// plus whatever its arguments show.
fn unruled(call: &McpCall<'_>, ctx: &Context, facts: &dyn WorkspaceFacts) -> Vec<Effect> {
    let own = if destructive_name(call.tool) {
        tool_effect(call, Verb::Delete, TargetKind::Mcp, Reversibility::Irreversible, Scope::Remote)
            .because("mcp-destructive-name", "the tool's name says it deletes, and no rule knows it")
    } else if hint(call, "readOnlyHint") {
        tool_effect(call, Verb::Read, TargetKind::Mcp, Reversibility::Reversible, Scope::Remote)
            .because("mcp-read-only-hint", "no rule knows the tool; the server annotates it readOnlyHint: true")
    } else {
        tool_effect(call, Verb::Opaque, TargetKind::Mcp, Reversibility::Irreversible, Scope::Remote).because(
            "mcp-unknown-tool",
            "no rule knows the tool and the server does not annotate it readOnlyHint: true",
        )
    };
    let mut scan = Scan { call, ctx, facts, effects: vec![own], seen: 0 };
    scan.value(None, call.arguments, 0);
    scan.effects
}

/// Walks a tool's arguments for what their names and values show.
struct Scan<'a, 'c> {
    call: &'a McpCall<'c>,
    ctx: &'a Context,
    facts: &'a dyn WorkspaceFacts,
    effects: Vec<Effect>,
    seen: usize,
}

impl Scan<'_, '_> {
    fn value(&mut self, key: Option<&str>, value: &Value, depth: usize) {
        self.seen += 1;
        if self.seen == SCAN_VALUES + 1 || depth == SCAN_DEPTH + 1 {
            let e = tool_effect(self.call, Verb::Opaque, TargetKind::Mcp, Reversibility::Irreversible, Scope::Remote)
                .because("mcp-arguments-too-large", "the arguments are larger or deeper than Holdpoint looks");
            self.effects.push(e);
        }
        if self.seen > SCAN_VALUES || depth > SCAN_DEPTH {
            return;
        }
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    self.value(Some(k), v, depth + 1);
                }
            }
            Value::Array(items) => {
                for v in items {
                    self.value(key, v, depth + 1);
                }
            }
            Value::String(text) => self.text(key, text),
            Value::Bool(true) if key.is_some_and(destructive_name) => {
                let why = format!("the argument {:?} is set", key.unwrap_or_default());
                self.push_delete(&why);
            }
            _ => {}
        }
    }

    fn text(&mut self, key: Option<&str>, text: &str) {
        let kind = key.and_then(|k| named_kind(k, text));
        match kind {
            Some(kind) => {
                let found = argument(kind, text, self.call, self.ctx, self.facts);
                self.effects.extend(found);
            }
            None if text.len() <= WORD_MAX && !text.contains(char::is_whitespace) && destructive_name(text) => {
                self.push_delete(&format!("an argument says {text:?}"));
            }
            None => {}
        }
    }

    fn push_delete(&mut self, why: &str) {
        let e = tool_effect(self.call, Verb::Delete, TargetKind::Mcp, Reversibility::Irreversible, Scope::Remote)
            .because("mcp-destructive-argument", why);
        self.effects.push(e);
    }
}

/// What an argument of a tool no rule knows holds, by its name (and for SQL, its first word).
fn named_kind(key: &str, text: &str) -> Option<ArgKind> {
    let key = key.to_ascii_lowercase();
    match key.as_str() {
        "command" | "cmd" | "script" | "shell_command" => Some(ArgKind::Shell),
        "sql" | "statement" | "statements" => Some(ArgKind::Sql),
        "query" if looks_like_sql(text) => Some(ArgKind::Sql),
        "url" | "uri" | "endpoint" | "href" => Some(ArgKind::Url),
        "path" | "paths" | "file" | "filepath" | "file_path" | "filename" | "directory" | "dir" | "source"
        | "destination" => Some(ArgKind::ReadPath),
        _ => None,
    }
}

/// Whether a text starts with a SQL statement's first word.
fn looks_like_sql(text: &str) -> bool {
    const FIRST: &[&str] = &[
        "select", "insert", "update", "delete", "drop", "truncate", "alter", "create", "grant", "revoke", "with",
        "copy", "do", "call", "execute", "vacuum", "begin", "set", "reset", "comment", "merge", "explain", "analyze",
        "refresh", "reindex", "cluster", "lock", "prepare", "discard", "show", "table", "values",
    ];
    let first: String = text.trim_start().chars().take_while(|c| c.is_ascii_alphabetic()).collect();
    FIRST.contains(&first.to_ascii_lowercase().as_str())
}

/// The effects of one argument's text handed to its classifier.
fn argument(kind: ArgKind, text: &str, call: &McpCall<'_>, ctx: &Context, facts: &dyn WorkspaceFacts) -> Vec<Effect> {
    match kind {
        ArgKind::Shell => crate::shell::classify(text, ctx, facts),
        ArgKind::Sql => {
            let mut target = SqlTarget::new(format!("mcp://{}", call.server));
            target.tags.extend(call.tags.iter().cloned());
            crate::sql::classify(text, &target)
        }
        ArgKind::Url => {
            let text_of = |name: &str| call.arguments.get(name).and_then(Value::as_str);
            let method = text_of("method").unwrap_or("GET");
            let headers: Vec<(String, String)> = call
                .arguments
                .get("headers")
                .and_then(Value::as_object)
                .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect())
                .unwrap_or_default();
            let body = text_of("body").map_or(Body::Empty, |b| Body::Full(b.as_bytes()));
            let req = HttpRequest { method, url: text, headers: &headers, body };
            crate::http::classify(&req, &HttpContext { tags: call.tags.to_vec() })
        }
        ArgKind::ReadPath => crate::path::classify(FileOp::Read, text, ctx, facts),
        ArgKind::WritePath => crate::path::classify(FileOp::Write, text, ctx, facts),
        ArgKind::DeletePath => crate::path::classify(FileOp::Delete, text, ctx, facts),
    }
}

/// Whether the tool's annotations set this hint to `true`.
fn hint(call: &McpCall<'_>, name: &str) -> bool {
    call.annotations.get(name).and_then(Value::as_bool) == Some(true)
}

fn tool_effect(call: &McpCall<'_>, verb: Verb, kind: TargetKind, rev: Reversibility, scope: Scope) -> Effect {
    Effect::new(verb, Target::new(kind, format!("mcp://{}/{}", call.server, call.tool)), rev, scope)
}

trait Because {
    fn because(self, rule: &str, why: &str) -> Effect;
}

impl Because for Effect {
    fn because(mut self, rule: &str, why: &str) -> Effect {
        self.rule = Some(rule.to_owned());
        self.why = Some(why.to_owned());
        self
    }
}
