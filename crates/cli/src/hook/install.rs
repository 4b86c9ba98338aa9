//! `holdpoint hook install|uninstall <agent>`: merge Holdpoint's hook entry into an agent's
//! settings file, or take it out, leaving every other key and entry as it was.
//!
//! Holdpoint's entries are recognised by their command, `<path>/holdpoint hook <agent>`, so
//! installing twice (or from a moved binary) leaves one entry. Before the first change the
//! file is copied to `<file>.holdpoint-backup`, which is never overwritten: it keeps the
//! settings as they were before Holdpoint touched them.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value, json};

use super::wire::{Agent, shell_quote};

/// What an install or uninstall did.
struct Report {
    file: PathBuf,
    changed: bool,
    backup: Option<PathBuf>,
    entries: Vec<String>,
    notes: Vec<String>,
}

/// Install (or uninstall) the hook of the agent named `agent` in the user's settings, or in
/// the project under `project`.
pub fn run(agent: &str, project: Option<&Path>, json: bool, install: bool) -> Result<u8> {
    let agent = Agent::ALL.into_iter().find(|a| a.name() == agent).context("unknown agent")?;
    let base = match project {
        Some(dir) => dir.canonicalize().with_context(|| format!("directory {} does not exist", dir.display()))?,
        None => PathBuf::from(std::env::var_os("HOME").filter(|h| !h.is_empty()).context("HOME is not set")?),
    };
    let file = base.join(settings_file(agent));
    let exe = std::env::current_exe().context("cannot find the path of the running holdpoint binary")?;
    let command = format!("{} hook {}", shell_quote(&exe.display().to_string()), agent.name());
    let mut report = apply(agent, &file, &command, install)?;
    if project.is_some() {
        report.notes.push(
            "a project-level hook is weaker than a user-level one: the agent can edit files in its own workspace, \
             this settings file among them; prefer --user"
                .into(),
        );
    }
    if install {
        report.notes.extend(agent_notes(agent, project.is_some()));
    }
    print_report(&report, install, json)?;
    Ok(0)
}

/// The settings `agent` sees inside `holdpoint run`'s sandbox, whose home directory is a new
/// one: the user's own settings (when they are JSON Holdpoint can edit) with Holdpoint's hook
/// running `command`. Returns the file's path relative to the home directory, and its text.
pub fn sandboxed_settings(agent: Agent, home: &Path, command: &str) -> Result<(&'static str, String)> {
    let file = home.join(settings_file(agent));
    let mut settings = read_settings(&file).ok().flatten().unwrap_or_else(|| Value::Object(Map::new()));
    if remove_ours(&mut settings, agent).is_err() || add_ours(&mut settings, agent, command).is_err() {
        // Settings whose "hooks" Holdpoint cannot edit are not shown; the hook is.
        settings = Value::Object(Map::new());
        add_ours(&mut settings, agent, command)?;
    }
    Ok((settings_file(agent), serde_json::to_string_pretty(&settings)? + "\n"))
}

/// The settings file, relative to the home or project directory.
pub fn settings_file(agent: Agent) -> &'static str {
    match agent {
        Agent::Claude => ".claude/settings.json",
        Agent::Codex => ".codex/hooks.json",
        Agent::Gemini => ".gemini/settings.json",
        Agent::Cursor => ".cursor/hooks.json",
    }
}

/// What the user has to know for the hook to run at all.
fn agent_notes(agent: Agent, project: bool) -> Vec<String> {
    let mut notes = Vec::new();
    match agent {
        Agent::Claude => {}
        Agent::Codex => notes.push(
            "Codex runs a new hook only after you trust it: open /hooks in Codex and trust \"holdpoint hook codex\""
                .into(),
        ),
        Agent::Gemini if project => notes.push("Gemini CLI runs project hooks only in a trusted folder".into()),
        Agent::Gemini => {}
        Agent::Cursor => {
            notes.push("restart Cursor to load the hook".into());
            if project {
                notes.push("Cursor runs project hooks only in a trusted workspace".into());
            }
        }
    }
    notes
}

fn apply(agent: Agent, file: &Path, command: &str, install: bool) -> Result<Report> {
    let original = read_settings(file)?;
    let mut settings = original.clone().unwrap_or_else(|| Value::Object(Map::new()));
    remove_ours(&mut settings, agent).with_context(|| format!("cannot edit {}", file.display()))?;
    let mut entries = Vec::new();
    if install {
        entries = add_ours(&mut settings, agent, command).with_context(|| format!("cannot edit {}", file.display()))?;
    }
    let changed = match &original {
        Some(original) => *original != settings,
        None => install,
    };
    let mut backup = None;
    if changed {
        backup = write_settings(file, &settings, original.is_some())?;
    }
    Ok(Report { file: file.to_path_buf(), changed, backup, entries, notes: Vec::new() })
}

/// The settings as JSON; `None` when there is no file. An empty file is an empty object.
pub(crate) fn read_settings(file: &Path) -> Result<Option<Value>> {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", file.display())),
    };
    if text.trim().is_empty() {
        return Ok(Some(Value::Object(Map::new())));
    }
    let value: Value = serde_json::from_str(&text).with_context(|| {
        format!("{} is not JSON that Holdpoint can edit; add the hook by hand or fix the file", file.display())
    })?;
    if !value.is_object() {
        bail!("{} is not a JSON object; add the hook by hand or fix the file", file.display());
    }
    Ok(Some(value))
}

/// Write the settings (through a temporary file, keeping the old file's permissions), backing
/// the old file up first when there is one and no backup yet.
pub(crate) fn write_settings(file: &Path, settings: &Value, existed: bool) -> Result<Option<PathBuf>> {
    write_text(file, &(serde_json::to_string_pretty(settings)? + "\n"), existed)
}

/// Write a configuration file's new text (through a temporary file, keeping the old file's
/// permissions), backing the old file up first when there is one and no backup yet.
pub(crate) fn write_text(file: &Path, text: &str, existed: bool) -> Result<Option<PathBuf>> {
    let mut backup = None;
    if existed {
        let path = with_suffix(file, ".holdpoint-backup");
        if !path.exists() {
            std::fs::copy(file, &path).with_context(|| format!("cannot back {} up", file.display()))?;
        }
        backup = Some(path);
    } else if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let tmp = with_suffix(file, ".holdpoint-tmp");
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    if existed {
        let permissions = std::fs::metadata(file).with_context(|| format!("cannot read {}", file.display()))?;
        std::fs::set_permissions(&tmp, permissions.permissions())
            .with_context(|| format!("cannot set the permissions of {}", tmp.display()))?;
    }
    std::fs::rename(&tmp, file).with_context(|| format!("cannot replace {}", file.display()))?;
    Ok(backup)
}

fn with_suffix(file: &Path, suffix: &str) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Whether a hook command is Holdpoint's hook for this agent, from any install location.
fn is_ours(entry: &Value, agent: Agent) -> bool {
    let Some(command) = entry.get("command").and_then(Value::as_str) else { return false };
    let Some(program) = command.trim().strip_suffix(&format!(" hook {}", agent.name())) else { return false };
    Path::new(program.trim().trim_matches('\'')).file_stem().is_some_and(|stem| stem == "holdpoint")
}

/// Claude, Codex and Gemini nest handlers in matcher groups; Cursor lists them per event.
fn nested(agent: Agent) -> bool {
    agent != Agent::Cursor
}

/// Take Holdpoint's handlers out, and the groups, event lists and `hooks` object that only
/// held them. Containers that were empty before stay.
fn remove_ours(settings: &mut Value, agent: Agent) -> Result<()> {
    let Some(hooks) = settings.get_mut("hooks") else { return Ok(()) };
    let hooks = hooks.as_object_mut().context("\"hooks\" is not an object")?;
    let mut emptied = Vec::new();
    for (event, entries) in hooks.iter_mut() {
        let Some(entries) = entries.as_array_mut() else { continue };
        let before = entries.len();
        if nested(agent) {
            entries.retain_mut(|group| !remove_from_group(group, agent));
        } else {
            entries.retain(|entry| !is_ours(entry, agent));
        }
        if before > 0 && entries.is_empty() {
            emptied.push(event.clone());
        }
    }
    // `retain` and `shift_remove` keep the order of the keys that stay.
    hooks.retain(|event, _| !emptied.contains(event));
    if !emptied.is_empty()
        && hooks.is_empty()
        && let Some(object) = settings.as_object_mut()
    {
        object.shift_remove("hooks");
    }
    Ok(())
}

/// Remove Holdpoint's handlers from a matcher group; true when that emptied the group.
fn remove_from_group(group: &mut Value, agent: Agent) -> bool {
    let Some(handlers) = group.get_mut("hooks").and_then(Value::as_array_mut) else { return false };
    let before = handlers.len();
    handlers.retain(|h| !is_ours(h, agent));
    handlers.len() < before && handlers.is_empty()
}

/// Add Holdpoint's entries; returns them in words for the report.
fn add_ours(settings: &mut Value, agent: Agent, command: &str) -> Result<Vec<String>> {
    let object = settings.as_object_mut().context("the settings are not a JSON object")?;
    if agent == Agent::Cursor {
        object.entry("version").or_insert(json!(1));
    }
    let hooks = object.entry("hooks").or_insert_with(|| Value::Object(Map::new()));
    let hooks = hooks.as_object_mut().context("\"hooks\" is not an object")?;
    let mut described = Vec::new();
    for (event, entry) in entries(agent, command) {
        let list = hooks.entry(event).or_insert_with(|| Value::Array(Vec::new()));
        let list = list.as_array_mut().with_context(|| format!("\"hooks\".{event:?} is not a list"))?;
        let matcher = entry.get("matcher").and_then(Value::as_str).unwrap_or("all tools");
        described.push(format!("{event} ({matcher}): {command}"));
        list.push(entry);
    }
    Ok(described)
}

/// The entries Holdpoint adds, per event. Claude, Codex and Gemini match every tool, so a tool
/// Holdpoint does not know is held rather than let through unseen. Cursor gets its dedicated
/// events plus `preToolUse` for writes (which have no event of their own) and Grep;
/// `failClosed` makes Cursor block when the hook fails rather than run the tool.
fn entries(agent: Agent, command: &str) -> Vec<(&'static str, Value)> {
    let handler = match agent {
        Agent::Gemini => json!({ "name": "holdpoint", "type": "command", "command": command }),
        Agent::Claude | Agent::Codex | Agent::Cursor => json!({ "type": "command", "command": command }),
    };
    let group = json!({ "matcher": "*", "hooks": [handler] });
    let cursor = |matcher: Option<&str>| match matcher {
        Some(m) => json!({ "command": command, "matcher": m, "failClosed": true }),
        None => json!({ "command": command, "failClosed": true }),
    };
    match agent {
        Agent::Claude | Agent::Codex => vec![("PreToolUse", group)],
        Agent::Gemini => vec![("BeforeTool", group)],
        Agent::Cursor => vec![
            ("beforeShellExecution", cursor(None)),
            ("beforeReadFile", cursor(None)),
            ("beforeMCPExecution", cursor(None)),
            ("preToolUse", cursor(Some("Write"))),
            ("preToolUse", cursor(Some("Grep"))),
        ],
    }
}

fn print_report(report: &Report, install: bool, json: bool) -> Result<()> {
    if json {
        let value = json!({
            "file": report.file.display().to_string(),
            "changed": report.changed,
            "backup": report.backup.as_ref().map(|b| b.display().to_string()),
            "entries": report.entries,
            "notes": report.notes,
        });
        println!("{}", serde_json::to_string(&value)?);
        return Ok(());
    }
    let file = report.file.display();
    match (install, report.changed) {
        (true, true) => println!("installed Holdpoint's hook in {file}:"),
        (true, false) => println!("Holdpoint's hook is already installed in {file}; nothing changed:"),
        (false, true) => println!("removed Holdpoint's hook from {file}"),
        (false, false) => println!("no Holdpoint hook in {file}; nothing changed"),
    }
    for entry in &report.entries {
        println!("  {entry}");
    }
    if let Some(backup) = &report.backup {
        println!("the settings before Holdpoint's first change are in {}", backup.display());
    }
    for note in &report.notes {
        eprintln!("note: {note}");
    }
    Ok(())
}
