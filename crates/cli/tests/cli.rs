//! The real `holdpoint` binary: exit codes, JSON shapes, errors that name their line.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::Path;

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

    fn cmd(&self) -> Command {
        let mut cmd = Command::cargo_bin("holdpoint").unwrap();
        cmd.env("HOLDPOINT_HOME", self.home.path()).current_dir(self.work.path());
        cmd
    }

    fn write(&self, rel: &str, text: &str) {
        let path = self.home.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn batch(&self, lines: &[Value]) -> Vec<Value> {
        let input: String = lines.iter().map(|l| format!("{l}\n")).collect();
        let out = self.cmd().args(["check", "--batch", "--json"]).write_stdin(input).assert().success();
        let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
        stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    fn ws(&self) -> String {
        self.work.path().canonicalize().unwrap().display().to_string()
    }
}

fn effect(verb: &str, kind: &str, id: &str, tags: &[&str], rev: &str, scope: &str) -> Value {
    serde_json::json!({"verb": verb, "target": {"kind": kind, "id": id, "tags": tags}, "reversibility": rev, "scope": scope})
}

fn line(id: u32, effects: Vec<Value>) -> Value {
    serde_json::json!({"id": id, "channel": "shell", "input": "x", "effects": effects})
}

#[test]
fn check_exit_codes_follow_the_verdict() {
    let env = Env::new();
    let cases = [
        (effect("read", "path", "/w/a", &[], "reversible", "workspace"), 0, "allow"),
        (effect("delete", "cloud", "vol-1", &[], "irreversible", "remote"), 3, "hold"),
        (effect("delete", "path", "/", &["root"], "irreversible", "host"), 4, "deny"),
    ];
    for (e, code, verdict) in cases {
        let out = env
            .cmd()
            .args(["check", "shell", "--json", "--effects", &format!("[{e}]"), "--", "some", "command"])
            .assert()
            .code(code);
        let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        assert_eq!(v["verdict"], verdict);
        assert_eq!(v["mode"], "enforce");
        assert!(v["digest"].as_str().unwrap().starts_with("sha256:"));
    }
}

#[test]
fn check_json_has_the_documented_shape() {
    let env = Env::new();
    let e = effect("delete", "table", "postgres://prod/app/public.users", &["production"], "irreversible", "remote");
    let out = env
        .cmd()
        .args([
            "check",
            "sql",
            "--json",
            "--target",
            "postgres://prod/app",
            "--effects",
            &format!("[{e}]"),
            "--",
            "DROP TABLE users",
        ])
        .assert()
        .code(3);
    let mut v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    // The digest covers the workspace, which is a temp dir: check it, then pin it for the snapshot.
    let expected = holdpoint_core::ActionDigest::of(
        holdpoint_core::Channel::Sql,
        &env.ws(),
        "postgres://prod/app",
        "DROP TABLE users",
    );
    assert_eq!(v["digest"], expected.to_string());
    v["digest"] = "sha256:…".into();
    insta::with_settings!({sort_maps => true}, { insta::assert_json_snapshot!("check_hold_production_table", v) });
}

#[test]
fn batch_answers_every_line_and_denies_what_it_cannot_read() {
    let env = Env::new();
    let input = [
        line(1, vec![effect("read", "path", "/w/a", &[], "reversible", "workspace")]).to_string(),
        "this is not json".to_owned(),
        r#"{"id":3,"channel":"ftp","input":"x"}"#.to_owned(),
        r#"{"id":4,"channel":"shell"}"#.to_owned(),
        r#"{"id":5,"channel":"file","input":{"op":"explode","path":"/a"}}"#.to_owned(),
        r#"{"id":6,"channel":"shell","input":"ls","cwd":"/does/not/exist"}"#.to_owned(),
        r#"{"id":7,"channel":"shell","input":"ls","bogus":true}"#.to_owned(),
        line(8, vec![effect("delete", "path", "/", &["root"], "irreversible", "host")]).to_string(),
        r#"{"id":9,"channel":"shell","input":"rm -rf /"}"#.to_owned(),
    ];
    let out = env.cmd().args(["check", "--batch", "--json"]).write_stdin(input.join("\n")).assert().success();
    let answers: Vec<Value> =
        String::from_utf8_lossy(&out.get_output().stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(answers.len(), input.len(), "one answer per line");
    let verdicts: Vec<&str> = answers.iter().map(|a| a["verdict"].as_str().unwrap()).collect();
    assert_eq!(verdicts, ["allow", "deny", "deny", "deny", "deny", "deny", "deny", "deny", "deny"]);
    let reason = |i: usize| answers[i]["reasons"][0].as_str().unwrap().to_owned();
    assert!(reason(1).starts_with("line 2: not JSON"), "{}", reason(1));
    assert!(reason(2).contains("line 3: unknown channel \"ftp\""), "{}", reason(2));
    assert!(reason(3).contains("line 4") && reason(3).contains("no \"input\""), "{}", reason(3));
    assert!(reason(4).contains("line 5") && reason(4).contains("explode"), "{}", reason(4));
    assert!(reason(5).contains("line 6") && reason(5).contains("does not exist"), "{}", reason(5));
    assert!(reason(6).contains("line 7") && reason(6).contains("bogus"), "{}", reason(6));
    assert_eq!(answers[2]["id"], 3, "the id of a readable line is echoed");
    // Without "effects", the shell classifier reads the command itself.
    assert_eq!(answers[8]["policy"], serde_json::json!(["deny-delete-root"]));
}

#[test]
fn batch_lines_in_one_workspace_share_its_digest_identity() {
    let env = Env::new();
    let e = vec![effect("read", "path", "/w/a", &[], "reversible", "workspace")];
    let a = env.batch(&[line(1, e.clone()), line(2, e)]);
    assert_eq!(a[0]["digest"], a[1]["digest"], "same channel, workspace, target and input");
}

#[test]
fn explain_names_policies_and_reasons() {
    let env = Env::new();
    let e = effect("read", "path", "/home/u/.aws/credentials", &["secret"], "reversible", "host");
    let input = serde_json::json!({"channel": "file", "input": {"op": "read", "path": "/home/u/.aws/credentials"}, "effects": [e]});
    let answers = env.batch(&[input]);
    assert_eq!(answers[0]["verdict"], "deny");
    assert_eq!(answers[0]["policy"], serde_json::json!(["deny-secret-read"]));
    assert_eq!(answers[0]["reasons"], serde_json::json!(["it reads a secret outside the vault"]));

    let out = env.cmd().args(["explain", "shell", "--", "eval", "$CMD"]).assert().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout);
    assert!(text.contains("hold by hold-opaque (<guarded>:"), "{text}");
    assert!(text.contains("Holdpoint cannot see what it would do"), "{text}");
    assert!(text.contains("verdict: hold"), "{text}");
}

#[test]
fn observe_profile_reports_without_enforcing() {
    let env = Env::new();
    env.cmd().args(["init", "--profile", "observe"]).assert().success();
    let a = env.batch(&[line(1, vec![effect("delete", "path", "/", &["root"], "irreversible", "host")])]);
    assert_eq!(a[0]["verdict"], "deny", "the verdict that would have been enforced");
    assert_eq!(a[0]["mode"], "observe");
}

#[test]
fn strict_profile_holds_external_writes() {
    let env = Env::new();
    let write = vec![effect("write", "table", "postgres://db/app/public.t", &[], "reversible", "remote")];
    assert_eq!(env.batch(&[line(1, write.clone())])[0]["verdict"], "allow");
    env.cmd().args(["init", "--profile", "strict"]).assert().success();
    let a = env.batch(&[line(1, write)]);
    assert_eq!(a[0]["verdict"], "hold");
    assert_eq!(a[0]["policy"], serde_json::json!(["strict-hold-external-write"]));
}

#[test]
fn init_makes_private_directories_and_a_config_that_parses() {
    let env = Env::new();
    env.cmd().arg("init").assert().success();
    for dir in ["config", "state", "config/policies"] {
        let mode = std::fs::metadata(env.home.path().join(dir)).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(mode.permissions().mode() & 0o777, 0o700, "{dir}");
    }
    env.cmd().args(["policy", "validate"]).assert().success();
    // A second init keeps the file.
    env.write("config/config.toml", "profile = \"strict\"\n");
    env.cmd().arg("init").assert().success();
    assert_eq!(std::fs::read_to_string(env.home.path().join("config/config.toml")).unwrap(), "profile = \"strict\"\n");
}

fn stderr_of(cmd: &mut Command, code: i32) -> String {
    let out = cmd.assert().code(code);
    String::from_utf8_lossy(&out.get_output().stderr).into_owned()
}

#[test]
fn unknown_config_key_names_its_line() {
    let env = Env::new();
    env.write(
        "config/config.toml",
        "profile = \"guarded\"\n\n[proxy]\nlisten = \"127.0.0.1:9\"\nunknwon_hosts = \"deny\"\n",
    );
    let err = stderr_of(env.cmd().args(["check", "--batch"]).write_stdin(""), 1);
    assert!(err.contains("config.toml:5:1:") && err.contains("unknown field `unknwon_hosts`"), "{err}");
    let err = stderr_of(env.cmd().args(["policy", "validate"]), 1);
    assert!(err.contains("config.toml:5:1:"), "{err}");
}

#[test]
fn bad_config_values_name_their_line() {
    let env = Env::new();
    for (text, line, words) in [
        ("hold_wait = \"20 parsecs\"\n", 1, "no known unit"),
        ("\nprofile = \"reckless\"\n", 2, "reckless"),
        ("store = \"mysql://x\"\n", 1, "postgres://"),
        (
            "[[postgres]]\nname = \"a\"\nlisten = \"127.0.0.1:1\"\nupstream = \"x:1\"\ndatabase = \"d\"\ncredential = \"c\"\n[[postgres]]\nname = \"a\"\nlisten = \"127.0.0.1:2\"\nupstream = \"x:1\"\ndatabase = \"d\"\ncredential = \"c\"\n",
            7,
            "named \"a\"",
        ),
    ] {
        env.write("config/config.toml", text);
        let err = stderr_of(env.cmd().args(["policy", "validate"]), 1);
        assert!(err.contains(&format!("config.toml:{line}:")) && err.contains(words), "{text}: {err}");
    }
}

#[test]
fn invalid_cedar_names_file_line_and_column() {
    let env = Env::new();
    env.write("config/policies/team.cedar", "@id(\"ok\")\n@verdict(\"hold\")\nforbid (principal, action, resource)\nwhen { resource.tags.contains(\"x\") };\n\n@id(\"broken\")\npermit (principal, action, resource) when { resource.nope == 1 };\n");
    let err = stderr_of(env.cmd().args(["policy", "validate"]), 1);
    assert!(err.contains("team.cedar:7:"), "{err}");
    assert!(err.contains("schema"), "{err}");

    env.write("config/policies/team.cedar", "@id(\"x\")\npermit (principal, action, resource\n");
    let err = stderr_of(env.cmd().args(["check", "--batch"]).write_stdin(""), 1);
    assert!(err.contains("team.cedar:") && err.contains("syntax"), "{err}");

    env.write("config/policies/team.cedar", "@id(\"x\")\nforbid (principal, action, resource);\n");
    let err = stderr_of(env.cmd().args(["policy", "validate"]), 1);
    assert!(err.contains("team.cedar:1:1:") && err.contains("@verdict"), "{err}");

    env.write(
        "config/policies/team.cedar",
        "@id(\"deny-secret-read\")\n@verdict(\"deny\")\nforbid (principal, action, resource);\n",
    );
    let err = stderr_of(env.cmd().args(["policy", "validate"]), 1);
    assert!(err.contains("team.cedar:1:1:") && err.contains("unique"), "{err}");
}

#[test]
fn user_policies_add_rules() {
    let env = Env::new();
    env.write(
        "config/policies/team.cedar",
        "@id(\"hold-prod-reads\")\n@verdict(\"hold\")\n@reason(\"reads of billing data need a second look\")\nforbid (principal, action == Holdpoint::Action::\"read\", resource)\nwhen { resource.tags.contains(\"billing\") };\n",
    );
    let a = env.batch(&[line(
        1,
        vec![effect("read", "table", "postgres://db/app/public.invoices", &["billing"], "reversible", "remote")],
    )]);
    assert_eq!(a[0]["verdict"], "hold");
    assert_eq!(a[0]["policy"], serde_json::json!(["hold-prod-reads"]));
    assert_eq!(a[0]["reasons"], serde_json::json!(["reads of billing data need a second look"]));
    let out = env.cmd().args(["policy", "show", "--json"]).assert().success();
    let shown: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert!(
        shown["policies"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == "hold-prod-reads" && p["origin"].as_str().unwrap().ends_with("team.cedar:1"))
    );
}

fn write_project(work: &Path, text: &str) {
    std::fs::write(work.join(".holdpoint.toml"), text).unwrap();
}

#[test]
fn project_file_may_tighten() {
    let env = Env::new();
    write_project(
        env.work.path(),
        "profile = \"strict\"\n\npolicies = '''\n@id(\"project-hold-migrations\")\n@verdict(\"hold\")\n@reason(\"migrations are reviewed\")\nforbid (principal, action == Holdpoint::Action::\"write\", resource)\nwhen { resource.id like \"*/migrations/*\" };\n'''\n\n[git]\nprotected_branches = [\"staging\"]\n",
    );
    let a = env.batch(&[
        line(1, vec![effect("write", "path", "/w/db/migrations/001.sql", &[], "recoverable", "workspace")]),
        line(2, vec![effect("write", "table", "postgres://db/app/public.t", &[], "reversible", "remote")]),
        line(3, vec![effect("write", "path", "/w/src/lib.rs", &[], "recoverable", "workspace")]),
    ]);
    assert_eq!(a[0]["policy"], serde_json::json!(["project-hold-migrations"]));
    assert_eq!(a[1]["policy"], serde_json::json!(["strict-hold-external-write"]), "the project asked for strict");
    assert_eq!(a[2]["verdict"], "allow");
    env.cmd().args(["policy", "validate"]).assert().success();
}

#[test]
fn project_file_that_loosens_denies_everything_until_fixed() {
    let env = Env::new();
    let loosening = "# a project trying to wave its own deletes through\n\npolicies = '''\n@id(\"let-me\")\npermit (principal, action, resource);\n'''\n";
    write_project(env.work.path(), loosening);
    let err = stderr_of(env.cmd().args(["policy", "validate"]), 1);
    assert!(err.contains(".holdpoint.toml:4:1:") && err.contains("may only tighten"), "{err}");

    let a = env.batch(&[line(1, vec![effect("read", "path", "/w/a", &[], "reversible", "workspace")])]);
    assert_eq!(a[0]["verdict"], "deny", "every decision in that workspace is a deny");
    let reason = a[0]["reasons"][0].as_str().unwrap();
    assert!(reason.contains(".holdpoint.toml:4:1:") && reason.contains("may only tighten"), "{reason}");

    for (text, words) in [
        ("profile = \"observe\"\n", "only \"strict\""),
        ("[proxy]\nunknown_hosts = \"allow\"\n", "unknown field `proxy`"),
    ] {
        write_project(env.work.path(), text);
        let a = env.batch(&[line(1, vec![effect("read", "path", "/w/a", &[], "reversible", "workspace")])]);
        assert_eq!(a[0]["verdict"], "deny", "{text}");
        assert!(a[0]["reasons"][0].as_str().unwrap().contains(words), "{text}: {}", a[0]["reasons"][0]);
    }

    write_project(env.work.path(), "[git]\nprotected_branches = [\"staging\"]\n");
    let a = env.batch(&[line(1, vec![effect("read", "path", "/w/a", &[], "reversible", "workspace")])]);
    assert_eq!(a[0]["verdict"], "allow", "fixed: decisions are back");
}

#[test]
fn help_teaches_with_examples() {
    let env = Env::new();
    for args in [
        &["--help"][..],
        &["check", "--help"],
        &["explain", "--help"],
        &["init", "--help"],
        &["policy", "validate", "--help"],
    ] {
        let out = env.cmd().args(args).assert().success();
        let text = String::from_utf8_lossy(&out.get_output().stdout);
        assert!(text.contains("Example") || text.contains("holdpoint check"), "{args:?}: {text}");
    }
    env.cmd().args(["check"]).assert().code(2);
    env.cmd().args(["frobnicate"]).assert().code(2);
}

/// The policy cases of `crates/policy/tests/data/policy.jsonl`, through the real binary's
/// `check --batch --json`, one batch per profile.
#[test]
fn policy_cases_through_check_batch() {
    let data = include_str!("../../policy/tests/data/policy.jsonl");
    let cases: Vec<Value> = data.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let mut checked = 0;
    for profile in ["guarded", "strict", "observe"] {
        let env = Env::new();
        env.cmd().args(["init", "--profile", profile]).assert().success();
        let mine: Vec<&Value> =
            cases.iter().filter(|c| c.get("profile").and_then(Value::as_str).unwrap_or("guarded") == profile).collect();
        let lines: Vec<Value> = mine
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let effects: Vec<Value> = c["effects"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| {
                        let words: Vec<&str> = e.as_str().unwrap().split_whitespace().collect();
                        let (kind, id) = words[1].split_once(':').unwrap();
                        let tags: Vec<&str> = words.iter().filter_map(|w| w.strip_prefix('#')).collect();
                        let plain: Vec<&&str> = words[2..].iter().filter(|w| !w.starts_with('#')).collect();
                        effect(words[0], kind, id, &tags, plain[0], plain[1])
                    })
                    .collect();
                let channel = c.get("channel").and_then(Value::as_str).unwrap_or("shell");
                let input = match channel {
                    "file" => serde_json::json!({"op": "read", "path": "/x"}),
                    "http" => serde_json::json!({"method": "POST", "url": "https://x"}),
                    "mcp" => serde_json::json!({"server": "s", "tool": "t"}),
                    _ => Value::String(c["case"].as_str().unwrap().into()),
                };
                serde_json::json!({"id": i, "channel": channel, "input": input, "effects": effects})
            })
            .collect();
        let answers = env.batch(&lines);
        assert_eq!(answers.len(), mine.len());
        for (case, answer) in mine.iter().zip(&answers) {
            assert_eq!(answer["verdict"], case["verdict"], "{}: {answer}", case["case"]);
            assert_eq!(answer["policy"], case["policy"], "{}: {answer}", case["case"]);
            let mode = if profile == "observe" { "observe" } else { "enforce" };
            assert_eq!(answer["mode"], mode, "{}", case["case"]);
            if let Some(o) = case.get("obligations") {
                assert_eq!(&answer["obligations"], o, "{}", case["case"]);
            }
            checked += 1;
        }
    }
    assert_eq!(checked, cases.len(), "every case ran");
}

#[test]
fn check_http_classifies_requests_with_the_hosts_tags() {
    let env = Env::new();
    let graphql = serde_json::json!({
        "method": "POST",
        "url": "https://backboard.railway.app/graphql/v2",
        "headers": {"Content-Type": "application/json"},
        "body": r#"{"query":"mutation { volumeDelete(volumeId: \"vol-1\") }"}"#,
    });
    let out = env.cmd().args(["check", "http", "--json", "--", &graphql.to_string()]).assert().code(3);
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v["effects"][0]["rule"], "graphql-delete-mutation");
    assert_eq!(v["obligations"]["approvers"], 1);
    // The short form, a read, and a write no rule knows.
    env.cmd().args(["check", "http", "--", "GET", "https://backboard.railway.app/health"]).assert().code(0);
    env.cmd().args(["check", "http", "--", "PUT", "https://backboard.railway.app/v1/things/1"]).assert().code(0);
    env.cmd().args(["check", "http", "--", "DELETE", "https://legacy.internal/volumes/1"]).assert().code(3);
    // `[[hosts]]` makes the host production: two approvers, and unknown writes are held.
    env.write("config/config.toml", "[[hosts]]\nmatch = \"*.railway.app\"\ntags = [\"production\"]\n");
    let out = env.cmd().args(["check", "http", "--json", "--", &graphql.to_string()]).assert().code(3);
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v["obligations"]["approvers"], 2);
    assert!(v["effects"][0]["target"]["tags"].as_array().unwrap().contains(&Value::from("production")));
    let out = env
        .cmd()
        .args(["check", "http", "--json", "--", "PUT", "https://backboard.railway.app/v1/things/1"])
        .assert()
        .code(3);
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert!(v["policy"].as_array().unwrap().contains(&Value::from("hold-production-unknown-write")), "{v}");
    // A body over max_body is not read: a mutating request is held.
    env.write("config/config.toml", "[proxy]\nmax_body = \"16B\"\n");
    let big = serde_json::json!({"method": "POST", "url": "https://api.example.com/v1/x", "body": "x".repeat(17)});
    env.cmd().args(["check", "http", "--", &big.to_string()]).assert().code(3);
}

#[test]
fn check_http_refuses_malformed_input() {
    let env = Env::new();
    let lines = [
        serde_json::json!({"channel": "http", "input": {"method": "GET", "url": "https://x", "headers": {"A": 1}}}),
        serde_json::json!({"channel": "http", "input": {"method": "GET", "url": "https://x", "body": {"a": 1}}}),
        serde_json::json!({"channel": "http", "input": {"method": "GET", "url": "not a url"}}),
    ];
    let answers = env.batch(&lines);
    assert_eq!(answers[0]["verdict"], "deny");
    assert!(answers[0]["reasons"][0].as_str().unwrap().contains("headers"), "{}", answers[0]);
    assert_eq!(answers[1]["verdict"], "deny");
    assert!(answers[1]["reasons"][0].as_str().unwrap().contains("body"), "{}", answers[1]);
    assert_eq!(answers[2]["verdict"], "hold", "a URL that cannot be read is opaque: {}", answers[2]);
}

/// The incident the README's demo replays: every step through its real classifier, with the
/// demo's config making the platform and its database production.
#[test]
fn the_incident_replay_meets_the_verdicts_the_demo_shows() {
    let env = Env::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    env.write("config/config.toml", &std::fs::read_to_string(root.join("examples/incident-config.toml")).unwrap());
    let text = std::fs::read_to_string(root.join("examples/incident.jsonl")).unwrap().replace("@WORK@", &env.ws());
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let answers = env.batch(&lines);
    let verdicts: Vec<&str> = answers.iter().map(|a| a["verdict"].as_str().unwrap()).collect();
    assert_eq!(verdicts, ["allow", "deny", "deny", "hold", "hold", "hold", "hold", "hold", "allow"], "{answers:#?}");
    for step in [3, 4, 5] {
        assert_eq!(answers[step]["obligations"]["approvers"], 2, "production: {}", answers[step]);
    }
    assert_eq!(answers[5]["obligations"]["soft_delete"], true, "{}", answers[5]);
    assert!(answers[3]["effects"].as_array().unwrap().iter().any(|e| e["rule"] == "graphql-delete-mutation"));
}
