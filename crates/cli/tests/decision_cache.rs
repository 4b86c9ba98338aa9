//! The hook's decision cache: a repeated decision is answered from `state/decisions.jsonl`,
//! and any change to the policy files is a miss, never a stale answer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use assert_cmd::Command;
use tempfile::TempDir;

fn hook(home: &TempDir, work: &TempDir, command: &str) -> String {
    let payload = serde_json::json!({
        "session_id": "s", "transcript_path": "/tmp/t.jsonl", "cwd": work.path(),
        "permission_mode": "default", "hook_event_name": "PreToolUse", "tool_name": "Bash",
        "tool_input": {"command": command}
    });
    let out = Command::cargo_bin("holdpoint")
        .unwrap()
        .env("HOLDPOINT_HOME", home.path())
        .args(["hook", "claude"])
        .write_stdin(payload.to_string())
        .assert()
        .code(0);
    String::from_utf8(out.get_output().stdout.clone()).unwrap()
}

#[test]
fn repeated_decisions_come_from_the_cache_and_policy_edits_invalidate_it() {
    let (home, work) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    std::fs::create_dir(work.path().join(".git")).unwrap();
    Command::cargo_bin("holdpoint").unwrap().env("HOLDPOINT_HOME", home.path()).arg("init").assert().success();
    let cache = home.path().join("state/decisions.jsonl");

    let first = hook(&home, &work, "git status");
    assert_eq!(first.trim(), "{}", "allowed: the user's own prompts apply");
    let lines = std::fs::read_to_string(&cache).unwrap();
    assert_eq!(lines.lines().count(), 1, "one decision was stored");
    assert_eq!(hook(&home, &work, "git status"), first);
    assert_eq!(std::fs::read_to_string(&cache).unwrap(), lines, "the second answer came from the cache");

    // A user policy that denies `git` executions changes every fingerprint: no stale allow.
    let policy = "@id(\"no-git\")\n@verdict(\"deny\")\n@reason(\"git is off limits here\")\nforbid (principal, action == Holdpoint::Action::\"execute\", resource)\nwhen { resource.id == \"git\" };\n";
    std::fs::write(home.path().join("config/policies/team.cedar"), policy).unwrap();
    let after = hook(&home, &work, "git status");
    assert!(after.contains("\"deny\"") && after.contains("git is off limits here"), "{after}");

    // A project file that loosens makes every decision there a deny, cached or not.
    std::fs::remove_file(home.path().join("config/policies/team.cedar")).unwrap();
    assert_eq!(hook(&home, &work, "git status").trim(), "{}");
    std::fs::write(work.path().join(".holdpoint.toml"), "profile = \"observe\"\n").unwrap();
    let broken = hook(&home, &work, "git status");
    assert!(broken.contains("\"deny\"") && broken.contains("may only tighten"), "{broken}");
}

#[test]
fn a_torn_cache_line_is_a_miss() {
    let (home, work) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    std::fs::create_dir(work.path().join(".git")).unwrap();
    Command::cargo_bin("holdpoint").unwrap().env("HOLDPOINT_HOME", home.path()).arg("init").assert().success();
    let cache = home.path().join("state/decisions.jsonl");
    let denied = hook(&home, &work, "cat ~/.aws/credentials");
    assert!(denied.contains("\"deny\""), "{denied}");
    // Cut the stored line in half, as a crash mid-write would.
    let text = std::fs::read_to_string(&cache).unwrap();
    std::fs::write(&cache, &text[..text.len() / 2]).unwrap();
    assert_eq!(hook(&home, &work, "cat ~/.aws/credentials"), denied);
}
