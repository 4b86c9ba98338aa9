//! The real `holdpoint` binary on SQL: `check sql`, `explain sql` and batch lines with channel
//! `sql` go through the SQL classifier, with the tags of the `[[postgres]]` block a target names.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use assert_cmd::Command;
use serde_json::Value;
use tempfile::TempDir;

struct Env {
    home: TempDir,
    work: TempDir,
}

impl Env {
    fn new() -> Env {
        let env = Env { home: TempDir::new().unwrap(), work: TempDir::new().unwrap() };
        std::fs::create_dir(env.work.path().join(".git")).unwrap();
        env
    }

    fn with_config(text: &str) -> Env {
        let env = Env::new();
        std::fs::create_dir_all(env.home.path().join("config")).unwrap();
        std::fs::write(env.home.path().join("config/config.toml"), text).unwrap();
        env
    }

    fn cmd(&self) -> Command {
        let mut cmd = Command::cargo_bin("holdpoint").unwrap();
        cmd.env("HOLDPOINT_HOME", self.home.path()).current_dir(self.work.path());
        cmd
    }

    /// `check sql --json [--target T] -- SQL`: the exit code and the JSON answer.
    fn check(&self, target: Option<&str>, sql: &str) -> (i32, Value) {
        let mut args = vec!["check", "sql", "--json"];
        if let Some(t) = target {
            args.extend(["--target", t]);
        }
        args.extend(["--", sql]);
        let out = self.cmd().args(&args).output().unwrap();
        let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{sql}: {e}"));
        (out.status.code().unwrap(), v)
    }
}

fn rules(v: &Value) -> Vec<String> {
    v["effects"].as_array().unwrap().iter().filter_map(|e| e["rule"].as_str().map(str::to_owned)).collect()
}

const PROD: &str = r#"
[[postgres]]
name = "prod"
listen = "127.0.0.1:6433"
upstream = "db.internal:5432"
database = "app"
credential = "prod-db"
tags = ["production"]
"#;

#[test]
fn check_sql_classifies_each_statement() {
    let env = Env::new();
    let cases = [
        ("SELECT * FROM users WHERE id = 1", 0, "allow", "sql-read"),
        ("UPDATE users SET name = 'a' WHERE id = 1", 0, "allow", "sql-write"),
        ("SELECT 1; DROP TABLE users", 3, "hold", "sql-drop"),
        ("DELETE FROM users WHERE 1 = 1", 3, "hold", "sql-delete-all"),
        ("SELECT pg_terminate_backend(pid) FROM pg_stat_activity", 3, "hold", "sql-function"),
        ("DO $$ BEGIN DELETE FROM users; END $$", 3, "hold", "sql-procedural"),
        ("DR/**/OP TABLE users", 3, "hold", "sql-unparsed"),
    ];
    for (sql, code, verdict, rule) in cases {
        let (got, v) = env.check(Some("postgres://db/app"), sql);
        assert_eq!((got, v["verdict"].as_str().unwrap()), (code, verdict), "{sql}: {v}");
        assert!(rules(&v).iter().any(|r| r == rule), "{sql}: {v}");
    }
}

#[test]
fn a_dropped_table_is_a_soft_delete_but_cascade_is_not() {
    let env = Env::new();
    let (_, v) = env.check(Some("postgres://db/app"), "DROP TABLE users");
    assert_eq!(v["effects"][0]["target"]["id"], "postgres://db/app/table public.users");
    assert_eq!(v["obligations"]["soft_delete"], true, "{v}");
    let (code, v) = env.check(Some("postgres://db/app"), "DROP TABLE users CASCADE");
    assert_eq!(code, 3);
    assert_eq!(v["obligations"]["soft_delete"], false, "{v}");
    let tags = v["effects"][0]["target"]["tags"].as_array().unwrap();
    assert!(tags.contains(&"cascade".into()), "{v}");
}

#[test]
fn a_postgres_block_gives_its_tags_by_name_or_url() {
    let env = Env::with_config(PROD);
    for target in ["prod", "postgres://db.internal:5432/app", "postgresql://agent:pw@db.internal/app?sslmode=require"] {
        let (code, v) = env.check(Some(target), "TRUNCATE orders");
        assert_eq!(code, 3, "{target}: {v}");
        let effect = &v["effects"][0];
        assert_eq!(effect["target"]["id"], "postgres://db.internal:5432/app/table public.orders", "{target}");
        assert_eq!(effect["target"]["tags"], serde_json::json!(["production"]), "{target}");
        assert_eq!(v["obligations"]["approvers"], 2, "{target}: production needs two approvers");
        assert_eq!(v["obligations"]["soft_delete"], true);
    }
    // Another database: no tags.
    let (_, v) = env.check(Some("postgres://other/app"), "TRUNCATE orders");
    assert!(v["effects"][0]["target"].get("tags").is_none(), "{v}");
    assert_eq!(v["obligations"]["approvers"], 1);
}

#[test]
fn the_strict_profile_holds_sql_writes_and_passes_reads() {
    let env = Env::with_config("profile = \"strict\"\n");
    assert_eq!(env.check(None, "UPDATE users SET name = 'a' WHERE id = 1").0, 3);
    assert_eq!(env.check(None, "DELETE FROM users WHERE id = $1").0, 3);
    assert_eq!(env.check(None, "SELECT count(*) FROM users").0, 0);
    assert_eq!(env.check(None, "BEGIN; SET LOCAL statement_timeout = '1s'; COMMIT").0, 0);
}

#[test]
fn batch_lines_with_channel_sql_take_an_optional_target() {
    let env = Env::with_config(PROD);
    let input = [
        r#"{"id":1,"channel":"sql","input":"SELECT 1"}"#,
        r#"{"id":2,"channel":"sql","input":"DELETE FROM users","target":"prod"}"#,
        r#"{"id":3,"channel":"sql","input":"ALTER TABLE users DROP COLUMN email","target":"postgres://db/app"}"#,
        r#"{"id":4,"channel":"sql","input":{"not":"text"}}"#,
    ]
    .join("\n");
    let out = env.cmd().args(["check", "--batch", "--json"]).write_stdin(input).assert().success();
    let lines: Vec<Value> =
        String::from_utf8_lossy(&out.get_output().stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0]["verdict"], "allow");
    assert_eq!(lines[0]["effects"][0]["target"]["id"], "postgres://unknown");
    assert_eq!(lines[1]["verdict"], "hold");
    assert_eq!(lines[1]["effects"][0]["target"]["id"], "postgres://db.internal:5432/app/table public.users");
    assert_eq!(lines[1]["obligations"]["soft_delete"], true);
    assert_eq!(lines[2]["verdict"], "hold");
    assert_eq!(lines[2]["effects"][0]["rule"], "sql-alter-drop-column");
    assert_eq!(lines[3]["verdict"], "deny", "an input that is not text cannot be read");
    // The digest binds the target the SQL goes to.
    let digest = |target: &str| {
        let line = format!(r#"{{"channel":"sql","input":"DELETE FROM users","target":"{target}"}}"#);
        let out = env.cmd().args(["check", "--batch", "--json"]).write_stdin(line).assert().success();
        let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        v["digest"].as_str().unwrap().to_owned()
    };
    assert_ne!(digest("prod"), digest("postgres://other/app"));
}

#[test]
fn explain_sql_names_each_effect_and_why() {
    let env = Env::new();
    let out = env
        .cmd()
        .args(["explain", "sql", "--target", "postgres://db/app", "--", "SELECT lo_unlink(1); TRUNCATE t CASCADE"])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(text.contains("target: postgres://db/app"), "{text}");
    assert!(text.contains("delete table \"postgres://db/app/function lo_unlink\""), "{text}");
    assert!(text.contains("lo_unlink() deletes a large object"), "{text}");
    assert!(text.contains("with CASCADE, every table that references it"), "{text}");
    assert!(text.contains("verdict: hold"), "{text}");
}

#[test]
fn shell_commands_hand_psql_sql_to_the_same_classifier() {
    let env = Env::new();
    let out = env
        .cmd()
        .args(["check", "shell", "--json", "--", "psql -h db -d app -c 'DELETE FROM users WHERE true'"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let delete = v["effects"].as_array().unwrap().iter().find(|e| e["rule"] == "sql-delete-all").unwrap();
    assert_eq!(delete["target"]["id"], "postgres://db/app/table public.users", "{v}");
}
