//! The real `holdpoint scan`: text and JSON output, exit codes (3 found, 0 clean, 1 error,
//! 2 usage), what the walk skips and what it honours, and that no output ever holds a secret.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;
use tempfile::TempDir;

const GITHUB: &str = "ghp_Zq8rT2mK9vX4nB7cL1pW6yH3jD5sF0gA2eUi";
const STRIPE: &str = "sk_live_51Hq8rT2mK9vX4nB7cL1pW6yH3jD5sF";
const SESSION: &str = "Zr8Kq2Lm9Vx4Tb7Nc1Pw6Yh3Jd5Sf0Ga";

fn holdpoint() -> Command {
    let mut cmd = Command::cargo_bin("holdpoint").unwrap();
    // Nothing of the caller's leaks in: no Holdpoint home, no progress line.
    cmd.env_remove("HOLDPOINT_HOME");
    cmd
}

fn write(root: &Path, rel: &str, data: &[u8]) -> PathBuf {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, data).unwrap();
    path
}

/// A small tree: a `.env` with two secrets (line 2 and 4), a config file with one, a clean file.
fn tree() -> TempDir {
    let dir = TempDir::new().unwrap();
    write(
        dir.path(),
        "app/.env",
        format!("PORT=3000\nGITHUB_TOKEN={GITHUB}\nNODE_ENV=production\nSTRIPE_KEY={STRIPE}\n").as_bytes(),
    );
    write(
        dir.path(),
        "app/config/app.yaml",
        format!("server:\n  port: 8080\n  session_secret: \"{SESSION}\"\n").as_bytes(),
    );
    write(dir.path(), "app/src/main.rs", b"fn main() {\n    let key = std::env::var(\"API_KEY\").unwrap();\n}\n");
    dir
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(args: &[&str]) -> Run {
    let out = holdpoint().arg("scan").args(args).output().unwrap();
    Run {
        code: out.status.code().unwrap(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn json(args: &[&str]) -> (i32, Value) {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let r = run(&all);
    (r.code, serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout)))
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn text_output_is_one_finding_per_line_and_exit_3() {
    let dir = tree();
    let r = run(&[s(dir.path())]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    let root = s(dir.path());
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", r.stdout);
    let expect = [
        (format!("{root}/app/.env:2"), "github-token"),
        (format!("{root}/app/.env:4"), "stripe-key"),
        (format!("{root}/app/config/app.yaml:3"), "generic-secret"),
    ];
    for (line, (location, kind)) in lines.iter().zip(&expect) {
        let fields: Vec<&str> = line.split("  ").collect();
        assert_eq!(fields.len(), 3, "PATH:LINE  KIND  FINGERPRINT: {line}");
        assert_eq!(fields[0], location);
        assert_eq!(fields[1], *kind);
        assert!(fields[2].len() == 16 && fields[2].bytes().all(|b| b.is_ascii_hexdigit()), "{line}");
    }
    assert!(r.stderr.contains("3 secrets in 3 files"), "{}", r.stderr);
}

#[test]
fn json_output_has_findings_and_counts() {
    let dir = tree();
    let (code, v) = json(&[s(dir.path())]);
    assert_eq!(code, 3);
    let findings = v["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 3);
    let first = findings[0].as_object().unwrap();
    let mut keys: Vec<&str> = first.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["fingerprint", "kind", "line", "path"]);
    assert_eq!(first["kind"], "github-token");
    assert_eq!(first["line"], 2);
    assert_eq!(first["path"], format!("{}/app/.env", s(dir.path())));
    let counts = &v["counts"];
    assert_eq!(counts["files"], 3);
    assert_eq!(counts["findings"], 3);
    assert_eq!(counts["binary"], 0);
    assert_eq!(counts["too_large"], 0);
    assert_eq!(counts["unreadable"], 0);
    assert!(counts["bytes"].as_u64().unwrap() > 100);
    assert_eq!(v["unreadable"], Value::Array(vec![]));
}

#[test]
fn a_clean_tree_exits_0_with_nothing_on_stdout() {
    let dir = TempDir::new().unwrap();
    write(dir.path(), "README.md", b"# notes\nSee AKIAIOSFODNN7EXAMPLE in the AWS docs; API_KEY=${API_KEY}.\n");
    let r = run(&[s(dir.path())]);
    assert_eq!((r.code, r.stdout.as_str()), (0, ""), "{}", r.stderr);
    assert!(r.stderr.contains("no secrets in 1 files"), "{}", r.stderr);
    let (code, v) = json(&[s(dir.path())]);
    assert_eq!((code, v["counts"]["findings"].as_u64()), (0, Some(0)));
}

#[test]
fn the_same_secret_has_the_same_fingerprint_everywhere() {
    let dir = TempDir::new().unwrap();
    write(dir.path(), "a/.env", format!("GITHUB_TOKEN={GITHUB}\n").as_bytes());
    write(dir.path(), "b/notes.txt", format!("token for ci: {GITHUB}\n").as_bytes());
    write(dir.path(), "c/.env", b"GITHUB_TOKEN=ghp_Yq8rT2mK9vX4nB7cL1pW6yH3jD5sF0gA2eUi\n");
    let (_, v) = json(&[s(dir.path())]);
    let fps: Vec<&str> = v["findings"].as_array().unwrap().iter().map(|f| f["fingerprint"].as_str().unwrap()).collect();
    assert_eq!(fps.len(), 3);
    assert_eq!(fps[0], fps[1]);
    assert_ne!(fps[0], fps[2]);
}

#[test]
fn binaries_are_skipped_and_counted() {
    let dir = TempDir::new().unwrap();
    let mut data = b"\x7fELF\x02\x01\x01\x00\x00\x00".to_vec();
    data.extend_from_slice(format!("\nGITHUB_TOKEN={GITHUB}\n").as_bytes());
    write(dir.path(), "bin/tool", &data);
    // A NUL only after the first 8 KiB: searched as text.
    let mut late = vec![b'a'; 9000];
    late.extend_from_slice(format!("\nSTRIPE_KEY={STRIPE}\n\0").as_bytes());
    write(dir.path(), "logs/late.log", &late);
    let (code, v) = json(&[s(dir.path())]);
    assert_eq!(code, 3);
    assert_eq!(v["counts"]["binary"], 1);
    assert_eq!(v["counts"]["files"], 1);
    let kinds: Vec<&str> = v["findings"].as_array().unwrap().iter().map(|f| f["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["stripe-key"]);
}

#[test]
fn files_over_the_size_limit_are_skipped_and_counted() {
    let dir = TempDir::new().unwrap();
    let mut big = format!("GITHUB_TOKEN={GITHUB}\n").into_bytes();
    big.resize(64 << 10, b'#');
    write(dir.path(), "big/dump.sql", &big);
    write(dir.path(), "small/.env", format!("STRIPE_KEY={STRIPE}\n").as_bytes());
    let (code, v) = json(&["--max-size", "16KiB", s(dir.path())]);
    assert_eq!(code, 3);
    assert_eq!(v["counts"]["too_large"], 1);
    assert_eq!(v["findings"].as_array().unwrap().len(), 1);
    assert_eq!(v["findings"][0]["kind"], "stripe-key");
    // The default limit takes the same file in.
    let (_, v) = json(&[s(dir.path())]);
    assert_eq!(v["counts"]["too_large"], 0);
    assert_eq!(v["findings"].as_array().unwrap().len(), 2);
    // The default is said in --help.
    let help = holdpoint().args(["scan", "--help"]).output().unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    assert!(help.contains("[default: 8MiB]"), "{help}");
}

#[test]
fn ignore_files_count_only_with_respect_ignores() {
    let dir = TempDir::new().unwrap();
    write(dir.path(), "app/.gitignore", b".env\nsecrets/\n");
    write(dir.path(), "app/.env", format!("GITHUB_TOKEN={GITHUB}\n").as_bytes());
    write(dir.path(), "app/secrets/prod.yaml", format!("session_secret: \"{SESSION}\"\n").as_bytes());
    write(dir.path(), "app/config.yaml", format!("stripe_key: {STRIPE}\n").as_bytes());
    // Hidden files and ignored files are scanned by default.
    let (_, v) = json(&[s(dir.path())]);
    assert_eq!(v["findings"].as_array().unwrap().len(), 3, "{v}");
    let (code, v) = json(&["--respect-ignores", s(dir.path())]);
    assert_eq!(code, 3);
    let findings = v["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{v}");
    assert_eq!(findings[0]["path"], format!("{}/app/config.yaml", s(dir.path())));
}

#[test]
fn symlinks_are_not_followed_and_unreadable_files_are_reported() {
    let outside = TempDir::new().unwrap();
    let target = write(outside.path(), "keys/.env", format!("GITHUB_TOKEN={GITHUB}\n").as_bytes());
    let dir = TempDir::new().unwrap();
    std::os::unix::fs::symlink(&target, dir.path().join("linked.env")).unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.path().join("linked-dir")).unwrap();
    let (code, v) = json(&[s(dir.path())]);
    assert_eq!((code, v["counts"]["findings"].as_u64()), (0, Some(0)), "{v}");
    // A file the kernel refuses to read (as root too): counted and named, not fatal.
    let (code, v) = json(&[s(dir.path()), "/proc/self/mem"]);
    assert_eq!(code, 0);
    assert_eq!(v["counts"]["unreadable"], 1);
    assert_eq!(v["unreadable"][0]["path"], "/proc/self/mem");
    let r = run(&["/proc/self/mem"]);
    assert!(r.stderr.contains("cannot read /proc/self/mem"), "{}", r.stderr);
}

#[test]
fn errors_and_usage() {
    let r = run(&["/nonexistent/holdpoint-scan-test"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("cannot scan /nonexistent/holdpoint-scan-test"), "{}", r.stderr);
    let r = run(&["--max-size", "8 parsecs", "."]);
    assert_eq!(r.code, 2, "{}", r.stderr);
}

#[test]
fn the_default_path_is_the_home_directory() {
    let home = TempDir::new().unwrap();
    write(home.path(), ".aws/credentials", b"[default]\naws_access_key_id = AKIAZ7Q3RT2MK6VX4NB7\n");
    let out = holdpoint().env("HOME", home.path()).args(["scan", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["findings"][0]["path"], format!("{}/.aws/credentials", s(home.path())));
    assert_eq!(v["findings"][0]["kind"], "aws-access-key-id");
}

#[test]
fn list_rules_names_every_detector() {
    let out = holdpoint().args(["scan", "--list-rules", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let rules: Vec<Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(rules.len() > 20);
    assert!(rules.iter().all(|r| r["id"].is_string() && r["kind"].is_string() && r["regex"].is_string()));
}

/// Runs of token characters with a letter and a digit, 12 or more: what a secret looks like.
fn secret_like_tokens(line: &str) -> Vec<&str> {
    line.split(|c: char| !(c.is_ascii_alphanumeric() || "+/=_-".contains(c)))
        .filter(|t| t.len() >= 12)
        .filter(|t| t.bytes().any(|b| b.is_ascii_digit()) && t.bytes().any(|b| b.is_ascii_alphabetic()))
        .collect()
}

#[test]
fn no_output_ever_holds_a_secret() {
    // The vault crate's planted tree: a secret of every kind, on the lines its expected file names.
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../vault/tests/data/scan");
    let planted = data.join("tree");
    let mut secrets: Vec<String> = Vec::new();
    for line in std::fs::read_to_string(data.join("expected.jsonl")).unwrap().lines() {
        let e: Value = serde_json::from_str(line).unwrap();
        let text = std::fs::read_to_string(planted.join(e["path"].as_str().unwrap())).unwrap();
        let n = usize::try_from(e["line"].as_u64().unwrap()).unwrap();
        let found = text.lines().nth(n - 1).unwrap();
        secrets.extend(secret_like_tokens(found).into_iter().map(str::to_owned));
    }
    secrets.extend([GITHUB, STRIPE, SESSION].map(str::to_owned));
    assert!(secrets.len() > 40, "{}", secrets.len());
    let dir = tree();
    for args in [vec![s(&planted)], vec!["--json", s(&planted)], vec![s(dir.path())], vec!["--json", s(dir.path())]] {
        let r = run(&args);
        assert_eq!(r.code, 3, "{}", r.stderr);
        for secret in &secrets {
            let prefix = &secret[..10];
            for (name, out) in [("stdout", &r.stdout), ("stderr", &r.stderr)] {
                assert!(!out.contains(secret.as_str()), "{args:?}: {name} holds a secret");
                assert!(!out.contains(prefix), "{args:?}: {name} holds the start of a secret: {prefix}");
            }
        }
    }
}
