//! Holds end to end with the real binary: a hook call is held in the queue, a human approves
//! it with a signed token, and the same action passes once; audit records every step.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::PathBuf;

use assert_cmd::Command;
use serde_json::Value;
use tempfile::TempDir;

struct Env {
    holdpoint: TempDir,
    home: TempDir,
    work: TempDir,
}

impl Env {
    fn new(hold_wait: &str) -> Env {
        let env =
            Env { holdpoint: TempDir::new().unwrap(), home: TempDir::new().unwrap(), work: TempDir::new().unwrap() };
        std::fs::create_dir(env.work.path().join(".git")).unwrap();
        env.cmd().arg("init").assert().success();
        std::fs::write(env.holdpoint.path().join("config/config.toml"), format!("hold_wait = \"{hold_wait}\"\n"))
            .unwrap();
        env
    }

    fn cmd(&self) -> Command {
        let mut cmd = Command::cargo_bin("holdpoint").unwrap();
        cmd.env("HOLDPOINT_HOME", self.holdpoint.path()).env("HOME", self.home.path()).current_dir(self.work.path());
        cmd
    }

    fn hook(&self, command: &str) -> String {
        let payload = serde_json::json!({
            "session_id": "s", "transcript_path": "/tmp/t.jsonl", "cwd": self.work.path(),
            "permission_mode": "default", "hook_event_name": "PreToolUse", "tool_name": "Bash",
            "tool_input": {"command": command}
        });
        let out = self.cmd().args(["hook", "claude"]).write_stdin(payload.to_string()).assert().code(0);
        String::from_utf8(out.get_output().stdout.clone()).unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = self.cmd().args(args).assert().success();
        serde_json::from_slice(&out.get_output().stdout).unwrap()
    }

    fn approver(&self, name: &str) -> PathBuf {
        let v = self.json(&["approver", "add", name, "--json"]);
        let file = self.holdpoint.path().join(format!("{name}.token"));
        std::fs::write(&file, v["token"].as_str().unwrap()).unwrap();
        file
    }
}

const HELD: &str = "rm -rf /var/lib/app/data";

#[test]
fn approve_then_the_same_action_passes_once() {
    let env = Env::new("0s");
    let first = env.hook(HELD);
    assert!(first.contains("Holdpoint held this action as hold 1") && first.contains("holdpoint approve 1"), "{first}");

    let pending = env.json(&["pending", "--json"]);
    let hold = &pending["holds"][0];
    assert_eq!(hold["id"], 1);
    assert_eq!(hold["state"], "pending");
    assert_eq!(hold["channel"], "shell");
    assert!(hold["summary"].as_str().unwrap().contains("rm -rf /var/lib/app/data"));
    assert!(hold["reason"].as_str().unwrap().contains("outside the workspace"));

    // Asking again while it waits does not queue a second hold.
    assert!(env.hook(HELD).contains("as hold 1"));

    let alice = env.approver("alice");
    let out = env
        .cmd()
        .args(["approve", "1", "--json", "--note", "old data, archived"])
        .arg("--token-file")
        .arg(&alice)
        .assert()
        .success();
    let approved: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(approved["state"], "released");
    assert_eq!(approved["approvals"][0]["approver"], "alice");
    std::fs::write(env.work.path().join("notes.txt"), "before the release").unwrap();
    assert_eq!(env.hook(HELD).trim(), "{}", "released: this exact action runs");
    // Its workspace was checkpointed just before.
    let checkpoints = env.json(&["checkpoint", "list", "--json"]);
    let last = checkpoints["checkpoints"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["reason"], "before a released shell action ran");
    assert_eq!(last["workspace"], env.work.path().canonicalize().unwrap().display().to_string());
    assert_eq!(last["files"], 1, "{last}");
    let again = env.hook(HELD);
    assert!(again.contains("as hold 2"), "a release is used once: {again}");

    // A different action is not covered by that approval.
    assert!(env.hook("rm -rf /var/lib/app/logs").contains("as hold 3"));

    let audit = env.cmd().args(["audit", "show", "--json"]).assert().success();
    let kinds: Vec<String> = String::from_utf8_lossy(&audit.get_output().stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["kind"].as_str().unwrap().to_owned())
        .collect();
    for kind in ["held", "approver_added", "approved", "executed"] {
        assert!(kinds.iter().any(|k| k == kind), "audit has {kind}: {kinds:?}");
    }
    env.cmd().args(["audit", "verify"]).assert().success();
}

#[test]
fn a_denied_hold_is_refused_and_a_wrong_token_is_not_an_approval() {
    let env = Env::new("0s");
    assert!(env.hook(HELD).contains("as hold 1"));
    let alice = env.approver("alice");
    let forged = env.holdpoint.path().join("forged.token");
    std::fs::write(&forged, format!("hpa_{}", "ab".repeat(32))).unwrap();
    let out = env.cmd().args(["approve", "1"]).arg("--token-file").arg(&forged).assert().failure();
    assert!(!String::from_utf8_lossy(&out.get_output().stderr).is_empty());
    env.cmd().args(["approve", "1", "--token-file", "/nonexistent"]).assert().failure();
    assert_eq!(env.json(&["show", "1", "--json"])["state"], "pending", "no valid signature, no approval");

    env.cmd().args(["deny", "1", "--reason", "not today"]).arg("--token-file").arg(&alice).assert().success();
    assert_eq!(env.json(&["show", "1", "--json"])["state"], "denied");
    assert!(env.hook(HELD).contains("as hold 2"), "a denied action asked again waits again");
}

#[test]
fn a_waiting_hook_returns_as_soon_as_the_hold_is_approved() {
    let env = Env::new("40s");
    let alice = env.approver("alice");
    std::thread::scope(|s| {
        let waiting = s.spawn(|| env.hook(HELD));
        // Approve as soon as the hold shows up in the queue.
        let approved = (0..400).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(100));
            let pending = env.json(&["pending", "--json"]);
            let Some(id) = pending["holds"][0]["id"].as_u64() else { return false };
            env.cmd().args(["approve", &id.to_string()]).arg("--token-file").arg(&alice).assert().success();
            true
        });
        assert!(approved, "the hold appeared in the queue");
        assert_eq!(waiting.join().unwrap().trim(), "{}", "the waiting hook saw the approval and allowed the action");
    });
}

#[test]
fn without_init_a_hold_is_refused_with_a_clear_reason() {
    let (holdpoint, work) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let payload = serde_json::json!({
        "session_id": "s", "transcript_path": "/t", "cwd": work.path(), "permission_mode": "default",
        "hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": {"command": HELD}
    });
    let out = Command::cargo_bin("holdpoint")
        .unwrap()
        .env("HOLDPOINT_HOME", holdpoint.path())
        .args(["hook", "claude"])
        .write_stdin(payload.to_string())
        .assert()
        .code(0);
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(text.contains("\"deny\"") && text.contains("holdpoint init"), "{text}");
}

/// Hook processes killed with SIGKILL at arbitrary points while holds are queued and approved:
/// nothing is lost or doubled, every release runs at most once, and the audit chain verifies.
#[test]
fn hooks_killed_at_random_points_lose_and_double_nothing() {
    let env = Env::new("2s");
    let alice = env.approver("alice");
    let payload = |i: usize| {
        serde_json::json!({
            "session_id": "s", "transcript_path": "/t", "cwd": env.work.path(), "permission_mode": "default",
            "hook_event_name": "PreToolUse", "tool_name": "Bash",
            "tool_input": {"command": format!("rm -rf /var/lib/app/data{}", i % 4)}
        })
        .to_string()
    };
    let bin = assert_cmd::cargo::cargo_bin("holdpoint");
    // A fixed pseudo-random sequence: the same kill points on every run.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..40 {
        let mut child = std::process::Command::new(&bin)
            .args(["hook", "claude"])
            .env("HOLDPOINT_HOME", env.holdpoint.path())
            .env("HOME", env.home.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        use std::io::Write;
        let _ = child.stdin.take().unwrap().write_all(payload(i).as_bytes());
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(std::time::Duration::from_millis(seed % 120));
        child.kill().unwrap(); // SIGKILL
        let _ = child.wait();
        if i % 7 == 3 {
            // Open holds include released ones no hook has run yet: approve one still waiting.
            let pending = env.json(&["pending", "--json"]);
            let waiting = pending["holds"].as_array().unwrap().iter().find(|h| h["state"] == "pending");
            if let Some(id) = waiting.and_then(|h| h["id"].as_u64()) {
                env.cmd().args(["approve", &id.to_string()]).arg("--token-file").arg(&alice).assert().success();
            }
        }
    }
    // Every action asked once more, without interruption.
    for i in 0..4 {
        let out = env.hook(&format!("rm -rf /var/lib/app/data{i}"));
        assert!(out.trim() == "{}" || out.contains("as hold"), "{out}");
    }
    let pending = env.json(&["pending", "--json"]);
    let mut digests: Vec<String> =
        pending["holds"].as_array().unwrap().iter().map(|h| h["digest"].as_str().unwrap().to_owned()).collect();
    let open = digests.len();
    digests.sort();
    digests.dedup();
    assert_eq!(digests.len(), open, "at most one open hold per action");

    let export = env.cmd().args(["audit", "export"]).assert().success();
    let mut executed = std::collections::BTreeMap::<u64, usize>::new();
    for line in String::from_utf8_lossy(&export.get_output().stdout).lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        if v["kind"] == "executed" {
            *executed.entry(v["hold_id"].as_u64().unwrap()).or_default() += 1;
        }
    }
    assert!(!executed.is_empty(), "approved holds were released and run");
    assert!(executed.values().all(|n| *n == 1), "each release ran at most once: {executed:?}");
    env.cmd().args(["audit", "verify"]).assert().success();
}

/// Allows are audited too: the hook spools them, the next store user folds them into the chain.
#[test]
fn every_hook_decision_reaches_the_audit_log() {
    let env = Env::new("0s");
    assert_eq!(env.hook("git status").trim(), "{}");
    assert!(env.hook("cat ~/.aws/credentials").contains("\"deny\""));
    assert!(env.hook(HELD).contains("as hold 1"));
    let export = env.cmd().args(["audit", "export"]).assert().success();
    let records: Vec<Value> = String::from_utf8_lossy(&export.get_output().stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let decision = |verdict: &str, input: &str| {
        records.iter().any(|r| r["kind"] == "decision" && r["verdict"] == verdict && r["detail"]["input"] == input)
    };
    assert!(decision("allow", "git status"), "{records:?}");
    assert!(decision("deny", "cat ~/.aws/credentials"));
    assert!(decision("hold", HELD));
    assert!(records.iter().any(|r| r["kind"] == "held"));
    env.cmd().args(["audit", "verify"]).assert().success();
    // Folded once: reading again adds nothing.
    let again = env.cmd().args(["audit", "export"]).assert().success();
    assert_eq!(String::from_utf8_lossy(&again.get_output().stdout).lines().count(), records.len());
}

#[test]
fn a_waiting_hook_is_refused_when_the_hold_is_denied() {
    let env = Env::new("40s");
    let alice = env.approver("alice");
    std::thread::scope(|s| {
        let waiting = s.spawn(|| env.hook(HELD));
        let denied = (0..400).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(100));
            let pending = env.json(&["pending", "--json"]);
            let Some(id) = pending["holds"][0]["id"].as_u64() else { return false };
            env.cmd()
                .args(["deny", &id.to_string(), "--reason", "no"])
                .arg("--token-file")
                .arg(&alice)
                .assert()
                .success();
            true
        });
        assert!(denied, "the hold appeared in the queue");
        let out = waiting.join().unwrap();
        assert!(out.contains("\"deny\"") && out.contains("hold 1 was denied"), "{out}");
    });
}

/// A cool-off delay from a user policy: approved, not yet released, and cancelled by an
/// approver during the delay; the agent's retry is held anew.
#[test]
fn an_approval_can_be_cancelled_during_its_cool_off() {
    let env = Env::new("0s");
    let policy = "@id(\"cool-off-var-lib\")\n@verdict(\"hold\")\n@delay_secs(\"600\")\n@reason(\"data under /var/lib waits ten minutes after approval\")\nforbid (principal, action == Holdpoint::Action::\"delete\", resource)\nwhen { resource.id like \"/var/lib/*\" };\n";
    std::fs::write(env.holdpoint.path().join("config/policies/cool-off.cedar"), policy).unwrap();
    assert!(env.hook(HELD).contains("as hold 1"));
    let (alice, bob) = (env.approver("alice"), env.approver("bob"));
    let out = env.cmd().args(["approve", "1", "--json"]).arg("--token-file").arg(&alice).assert().success();
    let approved: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(approved["state"], "approved", "waiting out the cool-off");
    assert!(approved["release_at"].as_u64().unwrap() > approved["created"].as_u64().unwrap() + 500);
    assert!(env.hook(HELD).contains("as hold 1"), "not released during the delay");
    let out = env.cmd().args(["cancel", "1", "--json"]).arg("--token-file").arg(&bob).assert().success();
    let cancelled: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(cancelled["state"], "cancelled");
    assert!(env.hook(HELD).contains("as hold 2"), "a cancelled approval releases nothing");
}
