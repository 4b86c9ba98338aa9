//! `holdpoint checkpoint` and `holdpoint run`'s start-up checkpoint, with the real binary: a
//! workspace an agent damaged comes back exactly, the restore is audited and can be undone.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::os::unix::fs::PermissionsExt;

use assert_cmd::Command;
use serde_json::Value;
use tempfile::TempDir;

struct Env {
    holdpoint: TempDir,
    work: TempDir,
}

impl Env {
    fn new() -> Env {
        let env = Env { holdpoint: TempDir::new().unwrap(), work: TempDir::new().unwrap() };
        std::fs::create_dir(env.work.path().join(".git")).unwrap();
        env.cmd().arg("init").assert().success();
        env
    }

    fn cmd(&self) -> Command {
        let mut cmd = Command::cargo_bin("holdpoint").unwrap();
        cmd.env("HOLDPOINT_HOME", self.holdpoint.path()).current_dir(self.work.path());
        cmd
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = self.cmd().args(args).assert().success();
        serde_json::from_slice(&out.get_output().stdout).unwrap()
    }

    fn path(&self, rel: &str) -> std::path::PathBuf {
        self.work.path().join(rel)
    }
}

#[test]
fn create_diff_restore_and_undo() {
    let env = Env::new();
    std::fs::create_dir(env.path("src")).unwrap();
    std::fs::write(env.path("src/app.py"), "print('hi')\n").unwrap();
    std::fs::write(env.path("deploy.sh"), "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(env.path("deploy.sh"), std::fs::Permissions::from_mode(0o750)).unwrap();
    std::os::unix::fs::symlink("src/app.py", env.path("main")).unwrap();
    let made = env.json(&["checkpoint", "create", "--reason", "before the agent", "--json"]);
    assert_eq!(made["id"], 1);
    assert_eq!(made["files"], 2);

    std::fs::remove_dir_all(env.path("src")).unwrap();
    std::fs::set_permissions(env.path("deploy.sh"), std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::write(env.path("stray.txt"), "new").unwrap();
    let diff = env.json(&["checkpoint", "diff", "1", "--json"]);
    let changes: Vec<(String, String)> = diff["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["change"].as_str().unwrap().to_owned(), c["path"].as_str().unwrap().to_owned()))
        .collect();
    for want in [("removed", "src/app.py"), ("modified", "deploy.sh"), ("added", "stray.txt")] {
        assert!(changes.contains(&(want.0.to_owned(), want.1.to_owned())), "{want:?} in {changes:?}");
    }
    let text = env.cmd().args(["checkpoint", "diff", "1"]).assert().success();
    assert!(String::from_utf8_lossy(&text.get_output().stdout).contains("- src/app.py"));

    let restored = env.json(&["checkpoint", "restore", "1", "--json"]);
    assert_eq!(std::fs::read_to_string(env.path("src/app.py")).unwrap(), "print('hi')\n");
    assert_eq!(std::fs::metadata(env.path("deploy.sh")).unwrap().permissions().mode() & 0o777, 0o750);
    assert_eq!(std::fs::read_link(env.path("main")).unwrap().to_str(), Some("src/app.py"));
    assert!(!env.path("stray.txt").exists());
    assert!(env.json(&["checkpoint", "diff", "1", "--json"])["changes"].as_array().unwrap().is_empty());

    // The restore is audited, and undone with the checkpoint it took first.
    let export = env.cmd().args(["audit", "export"]).assert().success();
    assert!(String::from_utf8_lossy(&export.get_output().stdout).contains("checkpoint-restore"));
    let safety = restored["safety_checkpoint"].as_u64().unwrap();
    env.cmd().args(["checkpoint", "restore", &safety.to_string()]).assert().success();
    assert!(env.path("stray.txt").exists());
    assert!(!env.path("src").exists());
    let list = env.json(&["checkpoint", "list", "--json"]);
    assert_eq!(list["checkpoints"].as_array().unwrap().len(), 3);
    env.cmd().args(["audit", "verify"]).assert().success();
}

#[test]
fn an_unknown_checkpoint_says_how_to_find_one() {
    let env = Env::new();
    let out = env.cmd().args(["checkpoint", "restore", "7"]).assert().code(1);
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(err.contains("no checkpoint 7") && err.contains("holdpoint checkpoint list"), "{err}");
}

#[test]
fn run_takes_a_checkpoint_before_the_command_starts() {
    let env = Env::new();
    std::fs::write(env.path("data.csv"), "a,b\n1,2\n").unwrap();
    env.cmd().args(["run", "--", "rm", "data.csv"]).assert().success();
    assert!(!env.path("data.csv").exists(), "the command ran in the workspace");
    let list = env.json(&["checkpoint", "list", "--json"]);
    let first = &list["checkpoints"][0];
    assert_eq!(first["reason"], "holdpoint run started");
    env.cmd().args(["checkpoint", "restore", &first["id"].to_string()]).assert().success();
    assert_eq!(std::fs::read_to_string(env.path("data.csv")).unwrap(), "a,b\n1,2\n");
}
