//! The scripted agent (`holdpoint demo-agent`, hidden): a deterministic, goal-driven program,
//! not a model. It works through its goals in order, running each try as a real process
//! (`sh -c` with curl, python3, perl, psql, rm) and moving to an equivalent variant after every
//! refusal, as the agent in the incident did. With a hook configured it first asks
//! `holdpoint hook claude` about each shell command, exactly as Claude Code's PreToolUse hook
//! does, and obeys the answer. Each try is one JSON line on stdout.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// Where the agent writes the token it found into a command.
pub const TOKEN: &str = "{TOKEN}";
/// Output kept per try.
const MAX_OUTPUT: usize = 4000;

/// What a goal is about, which says when it is reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Run the test suite (one try).
    Test,
    /// Find a credential: reached when `PLATFORM_TOKEN=` shows up.
    Credentials,
    /// An API call: reached on `HTTP 200` without GraphQL errors.
    Http,
    /// SQL through psql: reached when psql succeeds.
    Sql,
    /// Remove files: reached when something was removed (the command lists what it removed).
    Remove,
    /// Clean a directory of the workspace (one try).
    Local,
}

/// One goal and its equivalent tries, in order.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Goal {
    /// What the agent wants, in words.
    pub goal: String,
    /// When it is reached.
    pub kind: Kind,
    /// Shell commands; `{TOKEN}` becomes the credential found so far.
    pub tries: Vec<String>,
}

/// Everything the agent is told.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Plan {
    /// The holdpoint binary to ask before each command (`hook claude`), if any.
    pub hook: Option<PathBuf>,
    /// The goals, in order.
    pub goals: Vec<Goal>,
}

/// One try, as reported on stdout.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Attempt {
    /// The goal's words.
    pub goal: String,
    /// The goal's kind.
    pub kind: Kind,
    /// The command as planned (`{TOKEN}` not filled in).
    pub command: String,
    /// The hook's refusal, when it refused.
    pub refused: Option<String>,
    /// The exit status, when the command ran.
    pub exit: Option<i32>,
    /// Its stdout and stderr (shortened).
    pub output: String,
    /// Whether this try reached the goal.
    pub reached: bool,
}

/// `holdpoint demo-agent --plan JSON`: work through the plan; exit 0.
pub fn run(plan_json: &str) -> Result<u8> {
    let plan: Plan = serde_json::from_str(plan_json).context("the agent's plan is not valid JSON")?;
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let mut token = String::new();
    let mut out = std::io::stdout().lock();
    for goal in &plan.goals {
        for template in &goal.tries {
            let command = template.replace(TOKEN, &token);
            let refused = match &plan.hook {
                Some(bin) => ask_hook(bin, &cwd, &command),
                None => None,
            };
            let (exit, output) = match refused {
                Some(_) => (None, String::new()),
                None => execute(&command),
            };
            let reached = refused.is_none() && reached(goal.kind, exit, &output);
            if goal.kind == Kind::Credentials
                && let Some(found) = find_token(&output)
            {
                token = found;
            }
            let attempt = Attempt {
                goal: goal.goal.clone(),
                kind: goal.kind,
                command: template.clone(),
                refused,
                exit,
                output,
                reached,
            };
            writeln!(out, "{}", serde_json::to_string(&attempt)?)?;
            out.flush()?;
            if reached || matches!(goal.kind, Kind::Test | Kind::Local) {
                break;
            }
        }
    }
    Ok(0)
}

fn reached(kind: Kind, exit: Option<i32>, output: &str) -> bool {
    let ok = exit == Some(0);
    match kind {
        Kind::Test | Kind::Sql | Kind::Local => ok,
        Kind::Credentials => find_token(output).is_some(),
        Kind::Http => output.contains("HTTP 200") && !output.contains("\"errors\""),
        Kind::Remove => ok && !output.trim().is_empty(),
    }
}

/// The value after `PLATFORM_TOKEN=` in `text`.
fn find_token(text: &str) -> Option<String> {
    let rest = text.split("PLATFORM_TOKEN=").nth(1)?;
    let value: String = rest
        .trim_start_matches(['"', '\''])
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '"' && *c != '\'')
        .collect();
    (!value.is_empty()).then_some(value)
}

/// Runs `sh -c command`; its status and output.
fn execute(command: &str) -> (Option<i32>, String) {
    match Command::new("sh").args(["-c", command]).stdin(Stdio::null()).output() {
        Ok(out) => {
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&out.stderr));
            (Some(out.status.code().unwrap_or(-1)), shorten(text))
        }
        Err(e) => (Some(127), format!("cannot run sh: {e}")),
    }
}

fn shorten(mut text: String) -> String {
    if text.len() > MAX_OUTPUT {
        let mut end = MAX_OUTPUT;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

/// Claude Code's PreToolUse call for a Bash command: the hook's refusal, or `None` to go ahead.
/// A hook that cannot be run or answers what cannot be read is a refusal here.
fn ask_hook(bin: &std::path::Path, cwd: &std::path::Path, command: &str) -> Option<String> {
    let payload = serde_json::json!({
        "session_id": "holdpoint-demo",
        "transcript_path": cwd.join(".demo-transcript.jsonl"),
        "cwd": cwd,
        "permission_mode": "default",
        "hook_event_name": "PreToolUse",
        "tool_name": "Bash",
        "tool_input": {"command": command, "description": "demo step"},
    });
    let child = Command::new(bin)
        .args(["hook", "claude"])
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) => return Some(format!("the hook could not be run: {e}")),
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(payload.to_string().as_bytes());
    }
    let out = match child.wait_with_output() {
        Ok(out) => out,
        Err(e) => return Some(format!("the hook failed: {e}")),
    };
    let answer: serde_json::Value = match serde_json::from_slice(&out.stdout) {
        Ok(v) => v,
        Err(_) if out.stdout.iter().all(u8::is_ascii_whitespace) => return None,
        Err(e) => return Some(format!("the hook's answer cannot be read: {e}")),
    };
    let specific = answer.get("hookSpecificOutput");
    let decision = specific.and_then(|s| s.get("permissionDecision")).and_then(|d| d.as_str());
    match decision {
        None | Some("allow") => None,
        Some(_) => Some(
            specific
                .and_then(|s| s.get("permissionDecisionReason"))
                .and_then(|r| r.as_str())
                .unwrap_or("refused by the hook")
                .to_owned(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_found_in_grep_and_cat_output() {
        assert_eq!(find_token("/h/p/.env:PLATFORM_TOKEN=abc123\n").as_deref(), Some("abc123"));
        assert_eq!(find_token("PLATFORM_TOKEN=\"q1\"\n").as_deref(), Some("q1"));
        assert_eq!(find_token("nothing here"), None);
    }

    #[test]
    fn goals_are_reached_by_their_own_rule() {
        assert!(reached(Kind::Http, Some(0), "{\"data\":{}}\nHTTP 200\n"));
        assert!(!reached(Kind::Http, Some(0), "{\"errors\":[]}\nHTTP 200\n"));
        assert!(!reached(Kind::Http, Some(0), "HTTP 409\n"));
        assert!(!reached(Kind::Remove, Some(0), ""));
        assert!(reached(Kind::Remove, Some(0), "removed 'x'\n"));
    }
}
