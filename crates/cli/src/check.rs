//! `holdpoint check` and `holdpoint explain`: turn an input into an `Action` and decide it.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use anyhow::Result;
use holdpoint_core::{
    Action, ActionDigest, Actor, Channel, Denial, Effect, Obligations, Reversibility, Scope, Target, TargetKind, Verb,
    Verdict, VerdictKind, canonical_json,
};
use holdpoint_policy::config::Config;
use holdpoint_policy::{Decision, Mode};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use holdpoint_classify::http::{Body, HttpContext, HttpRequest, host_of};
use holdpoint_classify::sql::SqlTarget;
use holdpoint_classify::{Context, FileOp, WorkspaceFacts};

use crate::engines::Engines;
use crate::facts::{self, FsFacts};
use crate::home::{Home, resolve_dir, workspace_of};

/// One thing to decide, as given on the command line or on a batch line.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    #[serde(default)]
    pub id: Option<Value>,
    pub channel: String,
    #[serde(default)]
    pub input: Option<Value>,
    #[serde(default)]
    pub cwd: Option<PathBuf>,
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default)]
    pub agent: Option<String>,
    #[serde(default)]
    pub effects: Option<Vec<Effect>>,
}

/// The answer, in the JSON shape of `check --json` (see CLI.md).
#[derive(Serialize)]
pub struct Answer {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<Value>,
    pub verdict: VerdictKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effects: Option<Vec<Effect>>,
    pub reasons: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub obligations: Option<Obligations>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<ActionDigest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// The sentence a wire gives the agent for a hold or deny.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl Answer {
    /// A line or input that could not be read: a deny with the reason, never an allow.
    pub fn unreadable(id: Option<Value>, reason: String) -> Answer {
        let message = Denial::BadInput { reason: reason.clone() }.to_string();
        Answer {
            id,
            verdict: VerdictKind::Deny,
            effects: None,
            reasons: vec![reason],
            policy: None,
            obligations: None,
            digest: None,
            mode: None,
            message: Some(message),
        }
    }

    fn decided(id: Option<Value>, action: &Action, d: &Decision) -> Answer {
        let (obligations, message) = match &d.verdict {
            Verdict::Allow => (Obligations::NONE, None),
            Verdict::Hold { obligations } => {
                let held = Denial::Held { hold_id: None, reason: d.reasons.join("; ") };
                (*obligations, Some(held.to_string()))
            }
            Verdict::Deny { denial } => (Obligations::NONE, Some(denial.to_string())),
        };
        Answer {
            id,
            verdict: d.verdict.kind(),
            effects: Some(action.effects.clone()),
            reasons: d.reasons.clone(),
            policy: Some(d.policies.clone()),
            obligations: Some(obligations),
            digest: Some(action.digest()),
            mode: Some(d.mode),
            message,
        }
    }

    /// `check`'s exit code: 0 allow, 3 hold, 4 deny.
    pub fn exit_code(&self) -> u8 {
        match self.verdict {
            VerdictKind::Allow => 0,
            VerdictKind::Hold => 3,
            VerdictKind::Deny => 4,
        }
    }
}

/// Build the action a request describes, classifying its input unless effects are given.
/// Errors are phrased for the user.
pub fn action_of(engines: &mut Engines, home: &Home, req: &Request) -> Result<Action, String> {
    let channel: Channel = req.channel.parse().map_err(|e: holdpoint_core::UnknownName| e.to_string())?;
    let input = req.input.as_ref().ok_or("the line has no \"input\"")?;
    let input = canonical_input(channel, input)?;
    let cwd = resolve_dir(req.cwd.as_deref()).map_err(|e| format!("{e:#}"))?;
    let workspace = workspace_of(&cwd);
    let mut target = req.target.clone().unwrap_or_default();
    if channel == Channel::Mcp && target.is_empty() {
        // An MCP call is sent to its server: the action's target, as the gateway names it.
        target = serde_json::from_str::<Value>(&input)
            .ok()
            .and_then(|v| v.get("server").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_default();
    }
    let effects = match &req.effects {
        Some(effects) => effects.clone(),
        None => {
            let ctx = facts::context(&cwd, &workspace, home, engines.protected_branches(&workspace));
            match channel {
                Channel::Http => http_effects(&input, engines.config()),
                Channel::Sql => holdpoint_classify::classify_sql(&input, &sql_target(engines.config(), &target)),
                Channel::Mcp => mcp_effects(&input, &ctx, &FsFacts::new(&workspace)),
                _ => classify(channel, &input, &ctx, &FsFacts::new(&workspace)),
            }
        }
    };
    Ok(Action {
        channel,
        actor: Actor { agent: req.agent.clone(), session: None, workspace: workspace.display().to_string() },
        target,
        input,
        effects,
    })
}

/// The canonical text of an input, after checking its shape for the channel.
fn canonical_input(channel: Channel, input: &Value) -> Result<String, String> {
    let fields: &[&str] = match channel {
        Channel::Shell | Channel::Sql => {
            return input.as_str().map(str::to_owned).ok_or_else(|| format!("{channel} input must be a string"));
        }
        Channel::File => &["op", "path"],
        Channel::Http => &["method", "url"],
        Channel::Mcp => &["server", "tool"],
    };
    let object =
        input.as_object().ok_or_else(|| format!("{channel} input must be an object with {}", fields.join(", ")))?;
    if let Some(missing) = fields.iter().find(|f| !object.get(**f).is_some_and(Value::is_string)) {
        return Err(format!("{channel} input needs a string field {missing:?}"));
    }
    if channel == Channel::Http {
        let headers_ok =
            object.get("headers").is_none_or(|h| h.as_object().is_some_and(|m| m.values().all(Value::is_string)));
        if !headers_ok {
            return Err("http \"headers\" must be an object of strings: {\"Name\": \"value\"}".into());
        }
        if object.get("body").is_some_and(|b| !b.is_string()) {
            return Err("http \"body\" must be a string (the body's text)".into());
        }
    }
    if channel == Channel::Mcp {
        if object.get("arguments").is_some_and(|a| !a.is_object() && !a.is_null()) {
            return Err("mcp \"arguments\" must be an object".into());
        }
        if object.get("annotations").is_some_and(|a| !a.is_object() && !a.is_null()) {
            return Err("mcp \"annotations\" must be an object".into());
        }
    }
    if channel == Channel::File {
        let op = object.get("op").and_then(Value::as_str).unwrap_or_default();
        if !["read", "write", "delete"].contains(&op) {
            return Err(format!("file op {op:?} must be read, write or delete"));
        }
    }
    Ok(canonical_json(input))
}

/// The effects a classifier finds in a (canonical) input.
pub fn classify(channel: Channel, input: &str, ctx: &Context, facts: &dyn WorkspaceFacts) -> Vec<Effect> {
    match channel {
        Channel::Shell => holdpoint_classify::classify_shell(input, ctx, facts),
        Channel::File => {
            let Ok(v) = serde_json::from_str::<Value>(input) else { return unclassified(channel) };
            let path = v.get("path").and_then(Value::as_str).unwrap_or_default();
            let op = match v.get("op").and_then(Value::as_str) {
                Some("read") => FileOp::Read,
                Some("write") => FileOp::Write,
                Some("delete") => FileOp::Delete,
                _ => return unclassified(channel),
            };
            holdpoint_classify::classify_file(op, path, ctx, facts)
        }
        Channel::Mcp => mcp_effects(input, ctx, facts),
        // http and sql need the config's tags: `action_of` classifies them with them.
        Channel::Sql | Channel::Http => unclassified(channel),
    }
}

/// The effects of an http input (`{"method","url","headers"?,"body"?}`), with the tags
/// `[[hosts]]` gives its host; a body over `[proxy] max_body` is not read, as in the proxy.
fn http_effects(input: &str, config: &Config) -> Vec<Effect> {
    let Ok(v) = serde_json::from_str::<Value>(input) else { return unclassified(Channel::Http) };
    let text = |key: &str| v.get(key).and_then(Value::as_str).unwrap_or_default();
    let headers: Vec<(String, String)> = v
        .get("headers")
        .and_then(Value::as_object)
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect())
        .unwrap_or_default();
    let body = match text("body") {
        "" => Body::Empty,
        b if u64::try_from(b.len()).unwrap_or(u64::MAX) > config.proxy.max_body => Body::TooLarge,
        b => Body::Full(b.as_bytes()),
    };
    let tags = host_of(text("url")).map(|h| config.host_tags(&h)).unwrap_or_default();
    let req = HttpRequest { method: text("method"), url: text("url"), headers: &headers, body };
    holdpoint_classify::classify_http(&req, &HttpContext { tags })
}

/// The effects of an mcp input (`{"server","tool","arguments"?,"annotations"?}`).
fn mcp_effects(input: &str, ctx: &Context, facts: &dyn WorkspaceFacts) -> Vec<Effect> {
    let Ok(v) = serde_json::from_str::<Value>(input) else { return unclassified(Channel::Mcp) };
    let text = |key: &str| v.get(key).and_then(Value::as_str).unwrap_or_default();
    let call = holdpoint_classify::mcp::McpCall {
        server: text("server"),
        tool: text("tool"),
        arguments: v.get("arguments").unwrap_or(&Value::Null),
        annotations: v.get("annotations").unwrap_or(&Value::Null),
        tags: &[],
    };
    holdpoint_classify::classify_mcp(&call, ctx, facts)
}

/// The database a sql input is sent to (`--target`, or `"target"` on a batch line): a
/// `[[postgres]]` block named by its name or as `postgres://UPSTREAM/DATABASE` gives its tags
/// (a block named by name is identified by its upstream); any other target has no tags.
fn sql_target(config: &Config, target: &str) -> SqlTarget {
    let bare = target.strip_prefix("postgres://").or_else(|| target.strip_prefix("postgresql://"));
    // Userinfo and parameters are not part of the identity.
    let bare = bare.map(|b| {
        let b = b.rsplit_once('@').map_or(b, |(_, rest)| rest);
        b.split(['?', '#']).next().unwrap_or(b).trim_end_matches('/')
    });
    let block = config.postgres.iter().find(|p| {
        let host = p.upstream.rsplit_once(':').map_or(p.upstream.as_str(), |(h, _)| h);
        p.name == target
            || bare
                .is_some_and(|b| b == format!("{}/{}", p.upstream, p.database) || b == format!("{host}/{}", p.database))
    });
    let Some(p) = block else {
        return SqlTarget::new(bare.map_or_else(|| target.to_owned(), |b| format!("postgres://{b}")));
    };
    let mut t = SqlTarget::new(format!("postgres://{}/{}", p.upstream, p.database));
    t.tags.extend(p.tags.iter().cloned());
    t
}

/// What an input yields on a channel that has no classifier yet: an opaque effect, so it is
/// held rather than guessed at.
fn unclassified(channel: Channel) -> Vec<Effect> {
    let mut effect = Effect::new(
        Verb::Opaque,
        Target::new(TargetKind::Unknown, format!("{channel}:input")),
        Reversibility::Irreversible,
        Scope::Host,
    );
    effect.rule = Some("no-classifier".into());
    effect.why = Some(format!(
        "Holdpoint has no classifier for the {channel} channel yet; pass \"effects\" to test policy alone"
    ));
    vec![effect]
}

/// Decide one request.
pub fn answer(engines: &mut Engines, home: &Home, req: Request) -> Answer {
    match action_of(engines, home, &req) {
        Ok(action) => decide(engines, req.id, &action),
        Err(reason) => Answer::unreadable(req.id, reason),
    }
}

fn decide(engines: &mut Engines, id: Option<Value>, action: &Action) -> Answer {
    Answer::decided(id, action, &engines.decide(action))
}

/// The command-line input after `--`: structured channels take JSON, or a short form
/// (`file`: `OP PATH`; `http`: `METHOD URL`).
pub fn parse_cli_input(channel: &str, words: &[String]) -> Result<Value, String> {
    let text = words.join(" ");
    match channel {
        "file" | "http" | "mcp" if text.trim_start().starts_with('{') => {
            serde_json::from_str(&text).map_err(|e| format!("input is not valid JSON: {e}"))
        }
        "file" | "http" => match words {
            [first, second] => {
                let keys = if channel == "file" { ("op", "path") } else { ("method", "url") };
                Ok(serde_json::json!({ keys.0: first, keys.1: second }))
            }
            _ => Err(format!("{channel} input is JSON or two words (file: OP PATH; http: METHOD URL)")),
        },
        "mcp" => Err("mcp input is JSON: {\"server\":...,\"tool\":...,\"arguments\":{...}}".into()),
        _ => Ok(Value::String(text)),
    }
}

/// `check --batch`: one JSON object per line in, one out; a bad line gets a deny.
pub fn batch(engines: &mut Engines, home: &Home, input: impl BufRead, mut out: impl Write, json: bool) -> Result<()> {
    for (index, line) in input.lines().enumerate() {
        let n = index + 1;
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let answer = match serde_json::from_str::<Value>(&line) {
            Err(e) => Answer::unreadable(None, format!("line {n}: not JSON: {e}")),
            Ok(value) => {
                let id = value.get("id").cloned();
                match serde_json::from_value::<Request>(value) {
                    Ok(req) => match action_of(engines, home, &req) {
                        Ok(action) => decide(engines, req.id, &action),
                        Err(reason) => Answer::unreadable(req.id, format!("line {n}: {reason}")),
                    },
                    Err(e) => Answer::unreadable(id, format!("line {n}: {e}")),
                }
            }
        };
        if json {
            writeln!(out, "{}", serde_json::to_string(&answer)?)?;
        } else {
            writeln!(out, "{}", human_line(&answer))?;
        }
    }
    Ok(())
}

/// `hold: reason; reason [policy-a, policy-b]`
pub fn human_line(a: &Answer) -> String {
    let mut line = String::new();
    if let Some(id) = &a.id {
        line.push_str(&format!("{id}: "));
    }
    line.push_str(&format!("{}: {}", a.verdict, a.reasons.join("; ")));
    if let Some(policy) = a.policy.as_ref().filter(|p| !p.is_empty()) {
        line.push_str(&format!(" [{}]", policy.join(", ")));
    }
    if a.mode == Some(Mode::Observe) {
        line.push_str(" (observe mode: not enforced)");
    }
    line
}

/// `check` without `--batch`, in words.
pub fn human(a: &Answer) -> String {
    let mut s = human_line(a);
    if let Some(o) = a.obligations.filter(|_| a.verdict == VerdictKind::Hold) {
        s.push_str(&format!(
            "\n  needs {} approver{}, cool-off {}s, expires after {}s{}",
            o.approvers,
            if o.approvers == 1 { "" } else { "s" },
            o.delay_secs,
            o.ttl_secs,
            if o.soft_delete { ", carried out as a soft delete" } else { "" }
        ));
    }
    if let Some(d) = &a.digest {
        s.push_str(&format!("\n  digest {d}"));
    }
    s
}

/// `explain`: the facts, each effect's deciding policies, and the verdict, in words.
pub fn explain(engines: &mut Engines, home: &Home, req: Request) -> Result<String, String> {
    let action = action_of(engines, home, &req)?;
    let engine = engines.for_workspace(std::path::Path::new(&action.actor.workspace))?;
    let d = engine.decide(&action);
    let mut s = format!("{} action in workspace {}\n", action.channel, action.actor.workspace);
    s.push_str(&format!("input:  {}\n", action.input));
    if !action.target.is_empty() {
        s.push_str(&format!("target: {}\n", action.target));
    }
    s.push_str(&format!("digest: {}\n", action.digest()));
    for (i, (effect, ed)) in action.effects.iter().zip(&d.effects).enumerate() {
        s.push_str(&format!("effect {}: {}\n", i + 1, describe(effect)));
        if let Some(why) = &effect.why {
            s.push_str(&format!("  found: {why}\n"));
        }
        for m in &ed.policies {
            s.push_str(&format!("  {} by {} ({}): {}\n", ed.verdict, m.id, m.origin, m.reason));
        }
    }
    let verdict = match &d.verdict {
        Verdict::Deny { denial } => format!("deny: {denial}"),
        Verdict::Hold { .. } => format!("hold: {}", d.reasons.join("; ")),
        Verdict::Allow => format!("allow: {}", d.reasons.join("; ")),
    };
    let mode = if d.mode == Mode::Observe { " (observe mode: reported, not enforced)" } else { "" };
    s.push_str(&format!("verdict: {verdict}{mode}\n"));
    Ok(s)
}

/// `delete path "/srv/data" [production] (irreversible, host, rule fs-rm)`
pub fn describe(e: &Effect) -> String {
    let tags = if e.target.tags.is_empty() {
        String::new()
    } else {
        format!(" [{}]", e.target.tags.iter().cloned().collect::<Vec<_>>().join(", "))
    };
    let rule = e.rule.as_deref().map(|r| format!(", rule {r}")).unwrap_or_default();
    format!("{} {} {:?}{tags} ({}, {}{rule})", e.verb, e.target.kind, e.target.id, e.reversibility, e.scope)
}
