//! The agents' hook wire formats: a pre-tool hook payload in, Holdpoint's answer out.
//!
//! Sans-IO (no files, no clock, nothing but `std` and `serde_json`), so the fuzz target
//! `fuzz/fuzz_targets/hook_json.rs` compiles this file as it is. Formats, per agent, from the
//! research notes (agent versions in `crates/cli/tests/data/hooks/<agent>/README.md`):
//! Claude Code 2.1.x `PreToolUse`, Codex CLI 0.12x `PreToolUse`, Gemini CLI 0.2x-0.3x
//! `BeforeTool`, Cursor 1.7-3.9 `beforeShellExecution` / `beforeReadFile` /
//! `beforeMCPExecution` / `preToolUse`.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

/// The agents Holdpoint answers hooks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Agent {
    /// Claude Code.
    Claude,
    /// OpenAI Codex CLI.
    Codex,
    /// Google Gemini CLI.
    Gemini,
    /// Cursor.
    Cursor,
}

impl Agent {
    /// Every agent.
    pub const ALL: [Agent; 4] = [Agent::Claude, Agent::Codex, Agent::Gemini, Agent::Cursor];

    /// The name used on the command line and as the actor's agent.
    pub fn name(self) -> &'static str {
        match self {
            Agent::Claude => "claude",
            Agent::Codex => "codex",
            Agent::Gemini => "gemini",
            Agent::Cursor => "cursor",
        }
    }
}

/// One tool call, reduced to what Holdpoint decides.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    /// The agent's session (or conversation) id.
    pub session: Option<String>,
    /// The agent's working directory.
    pub cwd: PathBuf,
    /// Whether a human sits at the agent's own permission prompt (only Claude says so).
    pub interactive: bool,
    /// What to decide.
    pub work: Work,
}

/// What a tool call needs.
#[derive(Clone, Debug, PartialEq)]
pub enum Work {
    /// A tool that changes nothing and reads nothing secret (todo lists, plans, web search).
    Pass,
    /// One or more operations; the strictest verdict among them answers the call.
    Decide(Vec<Op>),
}

/// One operation to classify and decide.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// A shell command, run in `cwd`.
    Shell {
        /// The command line.
        command: String,
        /// Where it runs.
        cwd: PathBuf,
    },
    /// A file tool's operation on a path (absolute, or starting with `~`).
    File {
        /// `read`, `write` or `delete`.
        op: &'static str,
        /// The path.
        path: String,
    },
    /// An MCP tool, or a tool Holdpoint does not know (held: it cannot see what it does).
    Mcp {
        /// The MCP server, or the agent's name for one of its own tools.
        server: String,
        /// The tool.
        tool: String,
        /// The tool's arguments.
        arguments: Value,
    },
}

/// Holdpoint's answer to a call, before it is put in an agent's words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Go ahead; `note` is shown where the format has a message that does not block
    /// (observe mode says what would have been enforced).
    Allow {
        /// A message for the user.
        note: Option<String>,
    },
    /// The agent's own permission prompt, with the reason.
    Ask {
        /// Why.
        reason: String,
    },
    /// Refused, with the sentence the agent and user see.
    Deny {
        /// Why.
        reason: String,
    },
}

/// Read a hook payload. Errors say what is wrong without quoting the payload, which may carry
/// file contents or secrets.
pub fn parse(agent: Agent, payload: &[u8]) -> Result<Call, String> {
    let value: Value = serde_json::from_slice(payload).map_err(|e| {
        format!("the {} hook input is not JSON (line {}, column {})", agent.name(), e.line(), e.column())
    })?;
    if !value.is_object() {
        return Err(format!("the {} hook input is not a JSON object", agent.name()));
    }
    match agent {
        Agent::Claude => claude(&value),
        Agent::Codex => codex(&value),
        Agent::Gemini => gemini(&value),
        Agent::Cursor => cursor(&value),
    }
}

/// Claude Code `PreToolUse`.
fn claude(v: &Value) -> Result<Call, String> {
    expect_event(v, &["PreToolUse"])?;
    let cwd = base_dir(required(v, "cwd")?)?;
    let tool = required(v, "tool_name")?;
    let input = v.get("tool_input").unwrap_or(&Value::Null);
    let work = match tool {
        "Bash" | "Monitor" => shell(required(input, "command")?, &cwd),
        "Read" => file("read", required(input, "file_path")?, &cwd)?,
        "Write" | "Edit" | "MultiEdit" => file("write", required(input, "file_path")?, &cwd)?,
        "NotebookEdit" => file("write", required(input, "notebook_path")?, &cwd)?,
        "Glob" => search(input, &["path"], Some("pattern"), &cwd),
        "Grep" | "LS" => search(input, &["path"], None, &cwd),
        // No effect of their own: planning, asking the user, reading the web. A subagent's
        // and a skill's own tool calls come through this hook one by one.
        "TodoWrite" | "Task" | "Agent" | "Skill" | "WebSearch" | "WebFetch" | "ExitPlanMode" | "AskUserQuestion" => {
            Work::Pass
        }
        _ => {
            let server = v.pointer("/mcp_server/name").and_then(Value::as_str);
            unknown_tool("claude", tool, input, server)
        }
    };
    // Only these modes put a human in front of Claude's own prompt; the others (auto,
    // acceptEdits, dontAsk, bypassPermissions) let an ask pass or refuse it unseen.
    let interactive = matches!(str_field(v, "permission_mode"), Some("default" | "plan"));
    Ok(Call { session: session(v, &["session_id"]), cwd, interactive, work })
}

/// Codex CLI `PreToolUse`.
fn codex(v: &Value) -> Result<Call, String> {
    expect_event(v, &["PreToolUse"])?;
    let cwd = base_dir(required(v, "cwd")?)?;
    let tool = required(v, "tool_name")?;
    let input = v.get("tool_input").unwrap_or(&Value::Null);
    let work = match tool {
        // Codex reports every shell tool as `Bash`; the others are accepted in case a
        // build reports the model-facing name.
        "Bash" | "shell" | "local_shell" | "exec_command" => {
            let command = input.get("command").or_else(|| input.get("cmd")).ok_or("the shell call has no command")?;
            shell(&command_text(command)?, &cwd)
        }
        "apply_patch" => Work::Decide(patch_ops(required(input, "command")?, &cwd)?),
        "spawn_agent" => Work::Pass,
        _ => unknown_tool("codex", tool, input, None),
    };
    // Codex has no ask on PreToolUse (an ask fails open there), so it is never interactive.
    Ok(Call { session: session(v, &["session_id"]), cwd, interactive: false, work })
}

/// Gemini CLI `BeforeTool`.
fn gemini(v: &Value) -> Result<Call, String> {
    expect_event(v, &["BeforeTool"])?;
    let cwd = base_dir(required(v, "cwd")?)?;
    let tool = required(v, "tool_name")?;
    let input = v.get("tool_input").unwrap_or(&Value::Null);
    let path = || first_str(input, &["file_path", "absolute_path", "path"]).ok_or("the file tool has no file_path");
    let work = match tool {
        "run_shell_command" => {
            let dir = first_str(input, &["dir_path", "directory"]).map_or_else(|| cwd.clone(), |d| cwd.join(d));
            shell(required(input, "command")?, &dir)
        }
        "read_file" => file("read", path()?, &cwd)?,
        "write_file" | "replace" => file("write", path()?, &cwd)?,
        "read_many_files" => read_many(input, &cwd)?,
        "glob" => search(input, &["dir_path", "path"], Some("pattern"), &cwd),
        "grep_search" | "search_file_content" | "list_directory" => search(input, &["dir_path", "path"], None, &cwd),
        "web_fetch" | "google_web_search" | "write_todos" | "save_memory" | "ask_user" | "activate_skill"
        | "enter_plan_mode" | "exit_plan_mode" => Work::Pass,
        _ => {
            let server = v.pointer("/mcp_context/server_name").and_then(Value::as_str);
            unknown_tool("gemini", tool, input, server)
        }
    };
    // The payload carries no approval mode, so nobody is known to be at Gemini's prompt.
    Ok(Call { session: session(v, &["session_id"]), cwd, interactive: false, work })
}

/// Cursor's hook events.
fn cursor(v: &Value) -> Result<Call, String> {
    let event = expect_event(v, &["beforeShellExecution", "beforeReadFile", "beforeMCPExecution", "preToolUse"])?;
    // Cursor was seen sending `"cwd": ""`; the first workspace root is the project.
    let cwd = str_field(v, "cwd")
        .filter(|c| !c.is_empty())
        .or_else(|| v.pointer("/workspace_roots/0").and_then(Value::as_str))
        .ok_or("the cursor hook input has neither a cwd nor a workspace root")?;
    let cwd = base_dir(cwd)?;
    let work = match event {
        "beforeShellExecution" => shell(required(v, "command")?, &cwd),
        "beforeReadFile" => file("read", required(v, "file_path")?, &cwd)?,
        "beforeMCPExecution" => {
            let tool = required(v, "tool_name")?;
            let server = first_str(v, &["url", "command"]).unwrap_or_default();
            // `tool_input` is documented as a JSON string and seen as an object.
            let arguments = match v.get("tool_input") {
                Some(Value::String(text)) => serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.clone())),
                Some(other) => other.clone(),
                None => Value::Null,
            };
            Work::Decide(vec![Op::Mcp { server: server.to_owned(), tool: tool.to_owned(), arguments }])
        }
        _ => cursor_tool(required(v, "tool_name")?, v.get("tool_input").unwrap_or(&Value::Null), &cwd)?,
    };
    // No run mode in the payload, and an ask acted like a deny when tried (Cursor 3.9.16).
    Ok(Call { session: session(v, &["conversation_id", "session_id"]), cwd, interactive: false, work })
}

/// Cursor `preToolUse`, by tool type. `StrReplace`, `Edit` and `Delete` are names seen in
/// other projects' configs, not in Cursor's docs; an unknown name is held.
fn cursor_tool(tool: &str, input: &Value, cwd: &Path) -> Result<Work, String> {
    let path = || first_str(input, &["file_path", "path"]).ok_or("the file tool has no file_path");
    Ok(match tool {
        "Shell" => {
            let dir =
                str_field(input, "cwd").filter(|c| !c.is_empty()).map_or_else(|| cwd.to_path_buf(), |d| cwd.join(d));
            shell(required(input, "command")?, &dir)
        }
        "Read" => file("read", path()?, cwd)?,
        "Write" | "StrReplace" | "Edit" => file("write", path()?, cwd)?,
        "Delete" => file("delete", path()?, cwd)?,
        "Grep" => search(input, &["path", "file_path"], None, cwd),
        "Task" => Work::Pass,
        _ => match tool.strip_prefix("MCP:") {
            Some(name) => {
                Work::Decide(vec![Op::Mcp { server: String::new(), tool: name.to_owned(), arguments: input.clone() }])
            }
            None => unknown_tool("cursor", tool, input, None),
        },
    })
}

/// The event name, which must be one this hook answers.
fn expect_event<'a>(v: &'a Value, known: &[&str]) -> Result<&'a str, String> {
    let event = required(v, "hook_event_name")?;
    if known.contains(&event) {
        Ok(event)
    } else {
        Err(format!("the hook event {event:?} is not one Holdpoint answers (expected {})", known.join(", ")))
    }
}

fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn first_str<'a>(v: &'a Value, keys: &[&str]) -> Option<&'a str> {
    keys.iter().find_map(|k| str_field(v, k))
}

fn required<'a>(v: &'a Value, key: &str) -> Result<&'a str, String> {
    str_field(v, key).ok_or_else(|| format!("the hook input has no string field {key:?}"))
}

fn session(v: &Value, keys: &[&str]) -> Option<String> {
    first_str(v, keys).filter(|s| !s.is_empty()).map(str::to_owned)
}

/// The agent's cwd, which must be absolute: relative paths in its tool calls are resolved
/// against it.
fn base_dir(cwd: &str) -> Result<PathBuf, String> {
    if cwd.starts_with('/') {
        Ok(PathBuf::from(cwd))
    } else {
        Err("the hook input's cwd is not an absolute path".into())
    }
}

fn shell(command: &str, cwd: &Path) -> Work {
    Work::Decide(vec![Op::Shell { command: command.to_owned(), cwd: cwd.to_path_buf() }])
}

fn file(op: &'static str, path: &str, cwd: &Path) -> Result<Work, String> {
    Ok(Work::Decide(vec![file_op(op, path, cwd)?]))
}

fn file_op(op: &'static str, path: &str, cwd: &Path) -> Result<Op, String> {
    if path.trim().is_empty() {
        return Err("the file tool names an empty path".into());
    }
    Ok(Op::File { op, path: absolute(path, cwd) })
}

/// A path as the tool sees it: relative paths are relative to the cwd; `~` and `$HOME` are
/// left for the path classifier, which knows the home directory.
fn absolute(path: &str, cwd: &Path) -> String {
    if path.starts_with('/') || path.starts_with('~') || path.starts_with('$') {
        path.to_owned()
    } else {
        cwd.join(path).display().to_string()
    }
}

/// A search or listing tool reads the directory it searches (default: the cwd), and, for an
/// absolute glob pattern, the directory the pattern starts in.
fn search(input: &Value, dir_keys: &[&str], pattern_key: Option<&str>, cwd: &Path) -> Work {
    let dir = first_str(input, dir_keys).filter(|d| !d.trim().is_empty());
    let mut ops =
        vec![Op::File { op: "read", path: dir.map_or_else(|| cwd.display().to_string(), |d| absolute(d, cwd)) }];
    if let Some(pattern) = pattern_key.and_then(|k| str_field(input, k))
        && (pattern.starts_with('/') || pattern.starts_with('~'))
    {
        ops.push(Op::File { op: "read", path: literal_prefix(pattern) });
    }
    Work::Decide(ops)
}

/// Gemini `read_many_files`: every path (or glob) it was given.
fn read_many(input: &Value, cwd: &Path) -> Result<Work, String> {
    let paths = input.get("paths").and_then(Value::as_array).ok_or("read_many_files has no \"paths\" list")?;
    let ops = paths
        .iter()
        .map(|p| p.as_str().ok_or_else(|| "read_many_files has a path that is not a string".to_owned()))
        .map(|p| p.and_then(|p| file_op("read", &literal_prefix(p), cwd)))
        .collect::<Result<Vec<_>, _>>()?;
    if ops.is_empty() {
        return Err("read_many_files names no path".into());
    }
    Ok(Work::Decide(ops))
}

/// The part of a glob before its first wildcard component: the directory it reads under.
fn literal_prefix(pattern: &str) -> String {
    let wild = |c: &&str| c.contains(['*', '?', '[', '{']);
    let literal: Vec<&str> = pattern.split('/').take_while(|c| !wild(c)).collect();
    match literal.join("/") {
        prefix if prefix.is_empty() && pattern.starts_with('/') => "/".to_owned(),
        prefix if prefix.is_empty() => ".".to_owned(),
        prefix => prefix,
    }
}

/// An MCP tool (`mcp__<server>__<tool>`), or a tool this hook does not know: both go to the
/// policy as MCP calls, which it holds until MCP tools have a classifier.
fn unknown_tool(agent: &str, tool: &str, input: &Value, server: Option<&str>) -> Work {
    let (server, name) = match tool.strip_prefix("mcp__") {
        Some(rest) => {
            let (s, t) = rest.split_once("__").unwrap_or((rest, ""));
            (server.unwrap_or(s).to_owned(), t.to_owned())
        }
        None => (agent.to_owned(), tool.to_owned()),
    };
    Work::Decide(vec![Op::Mcp { server, tool: name, arguments: input.clone() }])
}

/// A command given as a string, or as an argv array joined with shell quoting.
fn command_text(command: &Value) -> Result<String, String> {
    match command {
        Value::String(s) => Ok(s.clone()),
        Value::Array(items) => {
            let words = items
                .iter()
                .map(|w| {
                    w.as_str().map(shell_quote).ok_or_else(|| "the command has a word that is not a string".to_owned())
                })
                .collect::<Result<Vec<_>, _>>()?;
            if words.is_empty() { Err("the command is empty".into()) } else { Ok(words.join(" ")) }
        }
        _ => Err("the command is neither a string nor a list of strings".into()),
    }
}

/// One word for a POSIX shell: left as is when it has nothing a shell would read, otherwise
/// single-quoted.
pub fn shell_quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// The files a Codex `apply_patch` touches, from its `*** Add File:`, `*** Update File:`,
/// `*** Delete File:` and `*** Move to:` headers. A move deletes its source.
pub fn patch_ops(patch: &str, cwd: &Path) -> Result<Vec<Op>, String> {
    let mut ops = Vec::new();
    for line in patch.lines().map(str::trim_end) {
        let header = [("*** Add File: ", "write"), ("*** Update File: ", "write"), ("*** Delete File: ", "delete")]
            .into_iter()
            .find_map(|(prefix, op)| line.strip_prefix(prefix).map(|path| (op, path)));
        if let Some((op, path)) = header {
            ops.push(file_op(op, path.trim(), cwd)?);
        } else if let Some(path) = line.strip_prefix("*** Move to: ") {
            if let Some(Op::File { op, .. }) = ops.last_mut() {
                *op = "delete";
            }
            ops.push(file_op("write", path.trim(), cwd)?);
        }
    }
    if ops.is_empty() {
        return Err("the patch names no file".into());
    }
    Ok(ops)
}

/// The agent's answer JSON (with a newline), or nothing where silence is the answer.
pub fn render(agent: Agent, outcome: &Outcome) -> String {
    answer_json(agent, outcome).map(|v| format!("{v}\n")).unwrap_or_default()
}

fn answer_json(agent: Agent, outcome: &Outcome) -> Option<Value> {
    match (agent, outcome) {
        // Claude: `{}` is "no decision", so the user's own permission rules and prompts still
        // apply; an explicit "allow" would skip them. Gemini: the same, as a hook "allow" is
        // not needed to proceed.
        (Agent::Claude | Agent::Gemini, Outcome::Allow { note: None }) => Some(json!({})),
        // Codex: an "allow" without `updatedInput` is an invalid output; silence is the allow.
        (Agent::Codex, Outcome::Allow { note: None }) => None,
        (Agent::Claude | Agent::Codex | Agent::Gemini, Outcome::Allow { note: Some(note) }) => {
            Some(json!({ "systemMessage": note }))
        }
        // Cursor: a hook installed with `failClosed` blocks on empty output, so an allow is
        // spelled out.
        (Agent::Cursor, Outcome::Allow { note }) => Some(match note {
            Some(note) => json!({ "permission": "allow", "user_message": note }),
            None => json!({ "permission": "allow" }),
        }),
        (Agent::Claude, Outcome::Ask { reason }) => Some(claude_style("ask", reason)),
        // Only Claude has a working ask; anywhere else an ask is a deny.
        (Agent::Claude | Agent::Codex, Outcome::Deny { reason }) | (Agent::Codex, Outcome::Ask { reason }) => {
            Some(claude_style("deny", reason))
        }
        (Agent::Gemini, Outcome::Deny { reason } | Outcome::Ask { reason }) => {
            Some(json!({ "decision": "deny", "reason": reason }))
        }
        // Cursor 3.9.16 passed only `user_message` on to the model, so both carry the reason.
        (Agent::Cursor, Outcome::Deny { reason } | Outcome::Ask { reason }) => {
            Some(json!({ "permission": "deny", "user_message": reason, "agent_message": reason }))
        }
    }
}

/// Claude's and Codex's shared `hookSpecificOutput` form. Codex refuses an empty reason (and
/// then lets the tool run), so the reason is never empty.
fn claude_style(decision: &str, reason: &str) -> Value {
    let reason = if reason.trim().is_empty() { "Holdpoint refused this action." } else { reason };
    json!({ "hookSpecificOutput": {
        "hookEventName": "PreToolUse",
        "permissionDecision": decision,
        "permissionDecisionReason": reason,
    } })
}
