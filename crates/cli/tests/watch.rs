//! `holdpoint watch` in a real terminal (tmux): it shows the held action, and approving from
//! it asks for the token and releases the hold.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::process::Command as Process;

use assert_cmd::Command;
use tempfile::TempDir;

fn tmux(socket: &std::path::Path, args: &[&str]) -> String {
    let out =
        Process::new("tmux").arg("-S").arg(socket).args(args).output().expect("tmux runs (scripts/test installs it)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Wait until the pane shows `text` (or fail after a generous bound: nothing here is timed).
fn wait_for(socket: &std::path::Path, text: &str) -> String {
    let mut screen = String::new();
    for _ in 0..200 {
        screen = tmux(socket, &["capture-pane", "-p", "-t", "w"]);
        if screen.contains(text) {
            return screen;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("the terminal never showed {text:?}:\n{screen}");
}

#[test]
fn watch_shows_holds_and_approves_with_a_token() {
    let (home, work) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    std::fs::create_dir(work.path().join(".git")).unwrap();
    let holdpoint = |args: &[&str]| {
        let mut c = Command::cargo_bin("holdpoint").unwrap();
        c.env("HOLDPOINT_HOME", home.path()).args(args);
        c
    };
    holdpoint(&["init"]).assert().success();
    std::fs::write(home.path().join("config/config.toml"), "hold_wait = \"0s\"\n").unwrap();
    let token = holdpoint(&["approver", "add", "alice"]).assert().success();
    let token = String::from_utf8(token.get_output().stdout.clone()).unwrap();
    let payload = serde_json::json!({
        "session_id": "s", "transcript_path": "/t", "cwd": work.path(), "permission_mode": "default",
        "hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": {"command": "rm -rf /var/lib/app/data"}
    });
    holdpoint(&["hook", "claude"]).write_stdin(payload.to_string()).assert().success();

    let socket = home.path().join("tmux.sock");
    let bin = assert_cmd::cargo::cargo_bin("holdpoint");
    let command = format!("HOLDPOINT_HOME={} {} watch", home.path().display(), bin.display());
    tmux(&socket, &["new-session", "-d", "-s", "w", "-x", "120", "-y", "30", &command]);
    let screen = wait_for(&socket, "rm -rf /var/lib/app/data");
    assert!(screen.contains("1 hold waiting"), "{screen}");
    assert!(screen.contains("0/1"), "{screen}");

    tmux(&socket, &["send-keys", "-t", "w", "a"]);
    wait_for(&socket, "approver token:");
    tmux(&socket, &["send-keys", "-t", "w", token.trim(), "Enter"]);
    let after = wait_for(&socket, "approve done");
    assert!(after.contains("released") && after.contains("1/1"), "approved, released, waiting to run once: {after}");
    tmux(&socket, &["send-keys", "-t", "w", "q"]);
    tmux(&socket, &["kill-server"]);

    let shown = holdpoint(&["show", "1", "--json"]).assert().success();
    let v: serde_json::Value = serde_json::from_slice(&shown.get_output().stdout).unwrap();
    assert_eq!(v["state"], "released");
}
