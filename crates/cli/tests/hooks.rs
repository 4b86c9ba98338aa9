//! `holdpoint hook <agent>` and `hook install|uninstall`, through the real binary.
//!
//! Payload fixtures live in `tests/data/hooks/<agent>/` (agent versions in each README there);
//! answers are pinned as insta snapshots wherever the verdict does not depend on the shell
//! classifier.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::{Value, json};
use tempfile::TempDir;

const AGENTS: [&str; 4] = ["claude", "codex", "gemini", "cursor"];

/// A Holdpoint home, a user home and a git workspace, all temporary.
struct Env {
    holdpoint: TempDir,
    home: TempDir,
    work: TempDir,
}

impl Env {
    fn new() -> Env {
        let env =
            Env { holdpoint: TempDir::new().unwrap(), home: TempDir::new().unwrap(), work: TempDir::new().unwrap() };
        std::fs::create_dir(env.work.path().join(".git")).unwrap();
        // An initialised home: holds go to its queue, and nobody waits for a decision.
        env.cmd().arg("init").assert().success();
        env.config("");
        env
    }

    /// Replace config.toml; holds never wait in these tests.
    fn config(&self, text: &str) -> &Env {
        let dir = self.holdpoint.path().join("config");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config.toml"), format!("hold_wait = \"0s\"\n{text}")).unwrap();
        self
    }

    fn cmd(&self) -> Command {
        let mut cmd = Command::cargo_bin("holdpoint").unwrap();
        cmd.env("HOLDPOINT_HOME", self.holdpoint.path())
            .env("HOME", self.home.path())
            .env_remove("HOLDPOINT_HOOK_TEST_FAULT")
            .current_dir(self.work.path());
        cmd
    }

    fn work_dir(&self) -> String {
        canonical(self.work.path())
    }

    fn home_dir(&self) -> String {
        canonical(self.home.path())
    }

    /// A fixture with `$WORK` and `$HOME` filled in.
    fn fixture(&self, agent: &str, name: &str) -> String {
        let text = std::fs::read_to_string(fixtures(agent).join(name)).unwrap();
        text.replace("$WORK", &self.work_dir()).replace("$HOME", &self.home_dir())
    }

    /// Run `hook <agent>`: it must exit 0 and print nothing on stdout but its answer.
    fn hook(&self, agent: &str, payload: &str, fault: Option<&str>) -> String {
        let mut cmd = self.cmd();
        if let Some(fault) = fault {
            cmd.env("HOLDPOINT_HOOK_TEST_FAULT", fault);
        }
        let out = cmd.args(["hook", agent]).write_stdin(payload).assert().code(0);
        String::from_utf8(out.get_output().stdout.clone()).unwrap()
    }

    /// Temp paths replaced, so snapshots are stable.
    fn redact(&self, text: &str) -> String {
        text.replace(&self.work_dir(), "[WORK]")
            .replace(&self.home_dir(), "[HOME]")
            .replace(&canonical(self.holdpoint.path()), "[HOLDPOINT_HOME]")
    }
}

fn canonical(path: &Path) -> String {
    path.canonicalize().unwrap().display().to_string()
}

fn fixtures(agent: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/hooks").join(agent)
}

/// The verdict an answer gives, read the way the agent reads it.
fn verdict(agent: &str, out: &str) -> String {
    if agent == "codex" && out.is_empty() {
        return "allow".into();
    }
    assert!(out.ends_with('\n') && out.lines().count() == 1, "{agent}: one JSON line: {out:?}");
    let v: Value = serde_json::from_str(out).unwrap_or_else(|e| panic!("{agent}: not JSON ({e}): {out:?}"));
    let field = match agent {
        "claude" | "codex" => v.pointer("/hookSpecificOutput/permissionDecision"),
        "gemini" => v.get("decision"),
        _ => v.get("permission"),
    };
    match (agent, field) {
        (_, Some(decision)) => decision.as_str().unwrap().to_owned(),
        // Claude, Codex and Gemini allow by giving no decision; Cursor must always give one.
        ("claude" | "codex" | "gemini", None) => "allow".into(),
        (_, None) => panic!("{agent}: no decision in {out}"),
    }
}

/// The reason an answer gives the agent.
fn reason(agent: &str, out: &str) -> String {
    let v: Value = serde_json::from_str(out).unwrap();
    let field = match agent {
        "claude" | "codex" => v.pointer("/hookSpecificOutput/permissionDecisionReason"),
        "gemini" => v.get("reason"),
        _ => v.get("user_message"),
    };
    field.and_then(Value::as_str).unwrap_or_default().to_owned()
}

fn fixture_names(agent: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixtures(agent))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    assert!(names.len() >= 10, "{agent} has its fixtures");
    names
}

fn run_fixtures(agent: &str) {
    let env = Env::new();
    for name in fixture_names(agent) {
        let out = env.hook(agent, &env.fixture(agent, &name), None);
        let stem = name.trim_end_matches(".json");
        if stem.starts_with("shell-deny-") {
            assert_eq!(verdict(agent, &out), "deny", "{agent}/{name}: {out}");
            assert!(reason(agent, &out).starts_with("Holdpoint "), "{agent}/{name}: {out}");
        } else if stem.starts_with("shell-allow-") {
            assert_eq!(verdict(agent, &out), "allow", "{agent}/{name}: {out}");
        } else {
            verdict(agent, &out);
            insta::assert_snapshot!(format!("{agent}__{stem}"), env.redact(&out));
        }
    }
}

#[test]
fn claude_answers() {
    run_fixtures("claude");
}

#[test]
fn codex_answers() {
    run_fixtures("codex");
}

#[test]
fn gemini_answers() {
    run_fixtures("gemini");
}

#[test]
fn cursor_answers() {
    run_fixtures("cursor");
}

#[test]
fn a_file_read_never_echoes_the_file_content() {
    let env = Env::new();
    let out = env.hook("cursor", &env.fixture("cursor", "read-secret.json"), None);
    assert_eq!(verdict("cursor", &out), "deny");
    assert!(!out.contains("FAKEsecret"), "{out}");
    let mut bad = env.fixture("cursor", "read-secret.json");
    bad.push_str("FAKEsecret trailing garbage");
    let out = env.hook("cursor", &bad, None);
    assert_eq!(verdict("cursor", &out), "deny");
    assert!(!out.contains("FAKEsecret"), "{out}");
}

fn claude_write_etc_hosts(env: &Env, mode: &str) -> String {
    let mut payload: Value = serde_json::from_str(&env.fixture("claude", "write-etc-hosts.json")).unwrap();
    payload["permission_mode"] = mode.into();
    payload.to_string()
}

#[test]
fn hold_prompt_agent_asks_claude_only_in_interactive_modes() {
    let env = Env::new();
    env.config("hold_prompt = \"agent\"\n");
    let out = env.hook("claude", &claude_write_etc_hosts(&env, "default"), None);
    insta::assert_snapshot!("claude__ask_in_default_mode", env.redact(&out));
    assert_eq!(verdict("claude", &out), "ask");
    assert_eq!(verdict("claude", &env.hook("claude", &claude_write_etc_hosts(&env, "plan"), None)), "ask");
    for mode in ["bypassPermissions", "auto", "dontAsk", "acceptEdits"] {
        let out = env.hook("claude", &claude_write_etc_hosts(&env, mode), None);
        assert_eq!(verdict("claude", &out), "deny", "{mode}: {out}");
    }
    // A deny stays a deny, and agents without a working ask get the hold as a deny.
    let out = env.hook("claude", &env.fixture("claude", "read-secret.json").replace("acceptEdits", "default"), None);
    assert_eq!(verdict("claude", &out), "deny");
    for agent in ["codex", "gemini", "cursor"] {
        let name = if agent == "codex" { "patch-etc-hosts.json" } else { "write-etc-hosts.json" };
        let out = env.hook(agent, &env.fixture(agent, name).replace("bypassPermissions", "default"), None);
        assert_eq!(verdict(agent, &out), "deny", "{agent}: {out}");
    }
}

#[test]
fn without_hold_prompt_agent_a_hold_is_a_deny_with_the_hold_sentence() {
    let env = Env::new();
    let out = env.hook("claude", &claude_write_etc_hosts(&env, "default"), None);
    assert_eq!(verdict("claude", &out), "deny");
    assert!(
        reason("claude", &out)
            .starts_with("Holdpoint held this action as hold 1: it writes files outside the workspace."),
        "{out}"
    );
}

#[test]
fn observe_mode_allows_and_says_what_it_would_have_done() {
    let env = Env::new();
    env.config("profile = \"observe\"\n");
    let cases = [
        ("claude", "write-etc-hosts.json"),
        ("codex", "patch-etc-hosts.json"),
        ("gemini", "read-secret.json"),
        ("cursor", "write-etc-hosts.json"),
    ];
    for (agent, name) in cases {
        let out = env.hook(agent, &env.fixture(agent, name), None);
        assert_eq!(verdict(agent, &out), "allow", "{agent}: {out}");
        insta::assert_snapshot!(format!("{agent}__observe_{}", name.trim_end_matches(".json")), env.redact(&out));
    }
}

#[test]
fn a_broken_config_denies_with_the_reason() {
    let env = Env::new();
    env.config("profil = \"guarded\"\n");
    for agent in AGENTS {
        let name = if agent == "codex" { "patch-workspace.json" } else { "write-workspace.json" };
        let out = env.hook(agent, &env.fixture(agent, name), None);
        assert_eq!(verdict(agent, &out), "deny", "{agent}: {out}");
        let why = reason(agent, &out);
        assert!(why.contains("configuration is broken") && why.contains("config.toml:2:1"), "{agent}: {why}");
    }
    let out = env.hook("claude", &env.fixture("claude", "write-workspace.json"), None);
    insta::assert_snapshot!("claude__broken_config", env.redact(&out));
}

#[test]
fn a_panic_is_a_deny() {
    let env = Env::new();
    for agent in AGENTS {
        let name = if agent == "codex" { "patch-workspace.json" } else { "write-workspace.json" };
        let out = env.hook(agent, &env.fixture(agent, name), Some("panic"));
        assert_eq!(verdict(agent, &out), "deny", "{agent}: {out}");
        assert!(reason(agent, &out).contains("could not decide"), "{agent}: {out}");
    }
}

#[test]
fn the_deadline_is_a_deny() {
    let env = Env::new();
    for agent in ["claude", "cursor"] {
        let out = env.hook(agent, &env.fixture(agent, "write-workspace.json"), Some("hang"));
        assert_eq!(verdict(agent, &out), "deny", "{agent}: {out}");
        assert!(reason(agent, &out).contains("no answer within"), "{agent}: {out}");
    }
}

#[test]
fn an_oversized_payload_is_a_deny() {
    let env = Env::new();
    let payload = format!("{{\"pad\":\"{}\"}}", "x".repeat(9 << 20));
    for agent in AGENTS {
        let out = env.hook(agent, &payload, None);
        assert_eq!(verdict(agent, &out), "deny", "{agent}");
        assert!(reason(agent, &out).contains("larger than 8 MiB"), "{agent}: {out}");
    }
}

#[test]
fn a_hook_answers_even_without_any_home() {
    let env = Env::new();
    let mut cmd = Command::cargo_bin("holdpoint").unwrap();
    let out = cmd
        .env_remove("HOLDPOINT_HOME")
        .env_remove("HOME")
        .current_dir(env.work.path())
        .args(["hook", "gemini"])
        .write_stdin(env.fixture("gemini", "write-workspace.json"))
        .assert()
        .code(0);
    let out = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert_eq!(verdict("gemini", &out), "deny");
    assert!(reason("gemini", &out).contains("HOLDPOINT_HOME"), "{out}");
}

// ---- install / uninstall ----

fn settings_path(agent: &str) -> &'static str {
    match agent {
        "claude" => ".claude/settings.json",
        "codex" => ".codex/hooks.json",
        "gemini" => ".gemini/settings.json",
        _ => ".cursor/hooks.json",
    }
}

/// Settings a user already has: other keys, and another tool's hook on the same event.
fn existing_settings(agent: &str) -> Value {
    let other = json!({ "type": "command", "command": "/usr/local/bin/other-guard" });
    match agent {
        "claude" => json!({
            "model": "opus",
            "permissions": { "allow": ["Bash(ls:*)"] },
            "hooks": {
                "PreToolUse": [{ "matcher": "Bash", "hooks": [other] }],
                "Stop": [{ "hooks": [{ "type": "command", "command": "notify-send done" }] }]
            },
            "statusLine": { "type": "command", "command": "echo hi" }
        }),
        "codex" => json!({ "hooks": { "SessionStart": [{ "hooks": [other] }] } }),
        "gemini" => json!({
            "theme": "GitHub",
            "hooksConfig": { "enabled": true },
            "hooks": { "BeforeTool": [{ "matcher": "write_file", "hooks": [{ "name": "fmt", "type": "command", "command": "fmt-hook" }] }] }
        }),
        _ => json!({ "version": 1, "hooks": { "afterFileEdit": [{ "command": "./hooks/format.sh" }] } }),
    }
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn holdpoint_entries(agent: &str, settings: &Value) -> usize {
    let text = settings.to_string();
    text.matches(&format!(" hook {agent}\"")).count()
}

fn exe() -> String {
    canonical(&assert_cmd::cargo::cargo_bin("holdpoint"))
}

#[test]
fn install_merges_idempotently_and_uninstall_restores() {
    for agent in AGENTS {
        let env = Env::new();
        let file = env.home.path().join(settings_path(agent));
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        let original = existing_settings(agent);
        std::fs::write(&file, serde_json::to_string_pretty(&original).unwrap()).unwrap();
        let original_text = std::fs::read_to_string(&file).unwrap();

        let out = env.cmd().args(["hook", "install", agent]).assert().success();
        let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
        assert!(stdout.starts_with("installed Holdpoint's hook in "), "{stdout}");
        let installed = read_json(&file);
        insta::assert_snapshot!(
            format!("install__{agent}"),
            serde_json::to_string_pretty(&installed).unwrap().replace(&exe(), "[HOLDPOINT]")
        );
        let backup = PathBuf::from(format!("{}.holdpoint-backup", file.display()));
        assert_eq!(std::fs::read_to_string(&backup).unwrap(), original_text, "{agent}: the backup is the original");
        let expected_entries = if agent == "cursor" { 5 } else { 1 };
        assert_eq!(holdpoint_entries(agent, &installed), expected_entries, "{agent}");
        assert!(installed.to_string().contains(&format!("{} hook {agent}", exe())), "{agent}: the absolute path");

        let out = env.cmd().args(["hook", "install", agent, "--user", "--json"]).assert().success();
        let report: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        assert_eq!(report["changed"], false, "{agent}: {report}");
        assert_eq!(read_json(&file), installed, "{agent}: installing twice changes nothing");

        let out = env.cmd().args(["hook", "uninstall", agent]).assert().success();
        assert!(String::from_utf8_lossy(&out.get_output().stdout).starts_with("removed Holdpoint's hook from "));
        assert_eq!(read_json(&file), original, "{agent}: uninstall restores the settings");
        assert_eq!(std::fs::read_to_string(&backup).unwrap(), original_text, "{agent}: the backup is kept");

        let out = env.cmd().args(["hook", "uninstall", agent, "--json"]).assert().success();
        let report: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        assert_eq!(report["changed"], false, "{agent}");
    }
}

#[test]
fn install_keeps_the_key_order_of_the_settings() {
    let env = Env::new();
    let file = env.home.path().join(".claude/settings.json");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, "{\"zeta\": 1, \"alpha\": {\"y\": 1, \"b\": 2}, \"hooks\": {}, \"mid\": true}\n").unwrap();
    env.cmd().args(["hook", "install", "claude"]).assert().success();
    let text = std::fs::read_to_string(&file).unwrap();
    let order: Vec<usize> = ["\"zeta\"", "\"alpha\"", "\"y\"", "\"b\"", "\"hooks\"", "\"mid\""]
        .iter()
        .map(|k| text.find(k).unwrap())
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
    env.cmd().args(["hook", "uninstall", "claude"]).assert().success();
    // A `hooks` object left empty by the uninstall goes, whether or not it was there empty before.
    assert_eq!(read_json(&file), json!({"zeta": 1, "alpha": {"y": 1, "b": 2}, "mid": true}));
}

#[test]
fn install_into_a_project_warns_and_creates_the_file() {
    let env = Env::new();
    for agent in AGENTS {
        let out = env.cmd().args(["hook", "install", agent, "--project"]).arg(env.work.path()).assert().success();
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert!(stderr.contains("a project-level hook is weaker"), "{agent}: {stderr}");
        let file = env.work.path().join(settings_path(agent));
        assert!(holdpoint_entries(agent, &read_json(&file)) >= 1, "{agent}");
        assert!(!PathBuf::from(format!("{}.holdpoint-backup", file.display())).exists(), "nothing to back up");
        env.cmd().args(["hook", "uninstall", agent, "--project"]).arg(env.work.path()).assert().success();
        assert_eq!(holdpoint_entries(agent, &read_json(&file)), 0, "{agent}");
    }
    assert!(!env.home.path().join(".claude").exists(), "the user's settings were not touched");
}

#[test]
fn install_refuses_a_file_it_cannot_read_and_leaves_it() {
    let env = Env::new();
    let file = env.home.path().join(".gemini/settings.json");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let text = "{ // comments are not JSON\n \"theme\": \"x\" }\n";
    std::fs::write(&file, text).unwrap();
    let out = env.cmd().args(["hook", "install", "gemini"]).assert().code(1);
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("is not JSON that Holdpoint can edit"));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
}

#[test]
fn installed_command_runs_the_hook() {
    let env = Env::new();
    env.cmd().args(["hook", "install", "claude"]).assert().success();
    let settings = read_json(&env.home.path().join(".claude/settings.json"));
    let command = settings["hooks"]["PreToolUse"][0]["hooks"][0]["command"].as_str().unwrap().to_owned();
    let out = Command::new("sh")
        .args(["-c", &command])
        .env("HOLDPOINT_HOME", env.holdpoint.path())
        .env("HOME", env.home.path())
        .write_stdin(env.fixture("claude", "todo.json"))
        .assert()
        .code(0);
    assert_eq!(String::from_utf8(out.get_output().stdout.clone()).unwrap(), "{}\n");
}
