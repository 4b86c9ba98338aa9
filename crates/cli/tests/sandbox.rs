//! `holdpoint run` against real escape attempts (tests/data/sandbox/escapes.toml) and real
//! work (scripts, git, cargo, requests through the bridge), as root and as an unprivileged
//! user the harness creates. Each escape runs once outside the sandbox first, as the same
//! user with the same environment, so a failure inside is the sandbox's doing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde::Deserialize;

/// The unprivileged user the harness creates for the rootless path.
const USER: &str = "holdpoint-sbx";
/// A GitHub token (invented) in the environment of `holdpoint run` and of a host process.
const TOKEN: &str = "ghp_EscapeMarker0123456789abcdefghijklmnopq";
const PATH: &str = "/usr/local/bin:/usr/bin:/bin";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Root,
    User,
}

fn sh(cmd: &str) -> Output {
    Command::new("sh").args(["-c", cmd]).output().unwrap()
}

/// Creates the unprivileged user once (idempotent; several test processes may race).
fn ensure_user() -> (u32, u32) {
    for _ in 0..50 {
        let id = |flag: &str| {
            let out = Command::new("id").args([flag, USER]).output().unwrap();
            String::from_utf8_lossy(&out.stdout).trim().parse::<u32>().ok()
        };
        if let (Some(uid), Some(gid)) = (id("-u"), id("-g")) {
            return (uid, gid);
        }
        // Exit 9: created by a concurrent test; 10: /etc/passwd locked by one.
        let _ = Command::new("useradd").args(["--no-create-home", "--shell", "/bin/sh", USER]).status();
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("could not create the user {USER}");
}

/// Everything one test plants: a home with secrets, Holdpoint's files, a workspace beside
/// another project, a directory outside both, and the holdpoint binary.
struct World {
    _dir: tempfile::TempDir,
    root: PathBuf,
    who: Who,
    home: PathBuf,
    hp_home: PathBuf,
    ws: PathBuf,
    other: PathBuf,
    outside: PathBuf,
    bin: PathBuf,
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

impl World {
    fn new(who: Who, git: bool) -> World {
        let dir = tempfile::Builder::new().prefix("hp-sandbox-").tempdir_in("/var/tmp").unwrap();
        let root = dir.path().to_path_buf();
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
        let home = root.join("home");
        write(&home.join(".ssh/id_ed25519"), "-----BEGIN OPENSSH PRIVATE KEY-----\nSSH-KEY-MARKER\n");
        write(&home.join(".aws/credentials"), "[default]\naws_secret_access_key = AWS-CREDENTIALS-MARKER\n");
        write(&home.join(".local/state/holdpoint/marker"), "DEFAULT-STATE-MARKER\n");
        write(&home.join(".gitconfig"), "[user]\n\tname = Sandbox Test\n\temail = sandbox@example.invalid\n");
        // The user's Claude Code settings: inside, they carry Holdpoint's hook as well.
        write(&home.join(".claude/settings.json"), "{\"permissions\": {\"allow\": [\"Bash(ls:*)\"]}}\n");
        let ws = root.join("projects/app");
        let other = root.join("projects/other");
        write(&other.join(".env"), "API_KEY=OTHER-PROJECT-MARKER\n");
        write(&ws.join("hello.sh"), "#!/bin/sh\necho hello from the workspace\n");
        std::fs::set_permissions(ws.join("hello.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
        let outside = root.join("outside");
        write(&outside.join("victim"), "VICTIM\n");
        // Every directory up to the binary is world-readable, so the user can run it too.
        let bin = assert_cmd::cargo::cargo_bin("holdpoint");
        let hp_home = root.join("hp");
        let world = World { _dir: dir, root, who, home, hp_home, ws, other, outside, bin };
        if who == Who::User {
            let (uid, gid) = ensure_user();
            let out = sh(&format!("chown -R {uid}:{gid} '{}'", world.root.display()));
            assert!(out.status.success(), "{out:?}");
        }
        let init = world.as_who(&[world.bin.to_str().unwrap(), "init"], &world.env(&[]), &world.root);
        assert!(init.status.success(), "holdpoint init: {}", String::from_utf8_lossy(&init.stderr));
        write(&world.state().join("marker"), "HOLDPOINT-STATE-MARKER\n");
        if git {
            let out = world.as_who(&["git", "init", "-q"], &world.env(&[]), &world.ws);
            assert!(out.status.success(), "git init: {out:?}");
        }
        if who == Who::User {
            let (uid, gid) = ensure_user();
            sh(&format!("chown -R {uid}:{gid} '{}'", world.root.display()));
        }
        world
    }

    fn state(&self) -> PathBuf {
        self.hp_home.join("state")
    }

    /// The environment every command gets (outside and inside alike), plus `extra`.
    fn env(&self, extra: &[(&str, String)]) -> Vec<(String, String)> {
        let mut env = vec![
            ("PATH".into(), PATH.into()),
            ("HOME".into(), self.home.display().to_string()),
            ("HOLDPOINT_HOME".into(), self.hp_home.display().to_string()),
            ("HPHOME".into(), self.hp_home.display().to_string()),
            ("STATE".into(), self.state().display().to_string()),
            ("WS".into(), self.ws.display().to_string()),
            ("OTHER".into(), self.other.display().to_string()),
            ("OUTSIDE".into(), self.outside.display().to_string()),
            ("BIN".into(), self.bin.display().to_string()),
            ("LANG".into(), "C".into()),
            ("GITHUB_TOKEN".into(), TOKEN.into()),
        ];
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
        env
    }

    /// Runs `argv` as this world's user with exactly `env`, in `cwd`, for at most 3 minutes.
    fn as_who(&self, argv: &[&str], env: &[(String, String)], cwd: &Path) -> Output {
        let mut cmd = match self.who {
            Who::Root => {
                let mut c = Command::new("timeout");
                c.arg("180").arg("env").arg("-i");
                c
            }
            Who::User => {
                let mut c = Command::new("runuser");
                c.args(["-u", USER, "--", "timeout", "180", "env", "-i"]);
                c
            }
        };
        cmd.args(env.iter().map(|(k, v)| format!("{k}={v}"))).args(argv).current_dir(cwd).stdin(Stdio::null());
        cmd.output().unwrap()
    }

    /// Starts `argv` as this world's user; the child's pid is the command's own (setpriv
    /// execs, where runuser would stay as a parent).
    fn spawn_as_who(&self, argv: &[&str], env: &[(String, String)]) -> Child {
        let mut cmd = match self.who {
            Who::Root => Command::new("env"),
            Who::User => {
                let (uid, gid) = ensure_user();
                let mut c = Command::new("setpriv");
                c.args([format!("--reuid={uid}"), format!("--regid={gid}"), "--clear-groups".into(), "env".into()]);
                c
            }
        };
        cmd.arg("-i").args(env.iter().map(|(k, v)| format!("{k}={v}"))).args(argv);
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap()
    }

    /// `holdpoint run` with the escape tests' flags, then `args`.
    fn run(&self, flags: &[&str], script: &str, env: &[(String, String)]) -> Output {
        let bin_dir = self.bin.parent().unwrap().display().to_string();
        let mut argv = vec![self.bin.to_str().unwrap(), "run", "--allow-read", &bin_dir];
        argv.extend_from_slice(flags);
        argv.extend_from_slice(&["--", "bash", "-c", script]);
        self.as_who(&argv, env, &self.ws)
    }
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[derive(Deserialize)]
struct Cases {
    escape: Vec<Escape>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Escape {
    name: String,
    run: String,
    #[serde(default = "yes")]
    control: bool,
    #[serde(default = "yes")]
    inside_fails: bool,
    secret: Option<String>,
    absent: Option<String>,
    not_setuid: Option<String>,
    unchanged: Option<String>,
    error: Option<String>,
}

fn yes() -> bool {
    true
}

fn cases() -> Vec<Escape> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sandbox/escapes.toml");
    let cases: Cases = toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(cases.escape.len() >= 20);
    cases.escape
}

/// `$NAME` expanded from `vars`.
fn expand(template: &str, vars: &BTreeMap<String, String>) -> PathBuf {
    let mut out = template.to_owned();
    for (k, v) in vars.iter().rev() {
        out = out.replace(&format!("${k}"), v);
    }
    PathBuf::from(out)
}

fn setid(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o6000 != 0)
}

/// A host process of the world's user whose environment holds the token, killed on drop.
struct HostProcess(Child);

impl Drop for HostProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn escapes(who: Who) {
    let mut failures = Vec::new();
    for case in cases() {
        let world = World::new(who, true);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port().to_string();
        let host = HostProcess(world.spawn_as_who(&["sleep", "120"], &world.env(&[])));
        std::thread::sleep(Duration::from_millis(50));
        let env = world.env(&[("HOSTPORT", port), ("HOSTPID", host.0.id().to_string())]);
        let vars: BTreeMap<String, String> = env.iter().cloned().collect();
        let planted = |path: &Path| std::fs::read(path).ok();
        let unchanged_before = case.unchanged.as_ref().map(|p| planted(&expand(p, &vars)));

        if case.control {
            let out = world.as_who(&["bash", "-c", &case.run], &env, &world.ws);
            if !out.status.success() {
                failures.push(format!("{}: the control run outside the sandbox failed: {}", case.name, text(&out)));
                continue;
            }
            if let Some(absent) = &case.absent {
                let path = expand(absent, &vars);
                if !path.exists() {
                    failures.push(format!("{}: the control did not create {}", case.name, path.display()));
                }
                let _ = std::fs::remove_file(&path).or_else(|_| std::fs::remove_dir_all(&path));
            }
            for path in [&case.not_setuid, &case.absent].into_iter().flatten() {
                let _ = std::fs::remove_file(expand(path, &vars));
            }
            // Undo what the control changed.
            let _ = std::fs::remove_file(world.ws.join("link"));
            let _ = std::fs::remove_file(world.ws.join("hardlink"));
            write(&world.outside.join("victim"), "VICTIM\n");
            if who == Who::User {
                let (uid, gid) = ensure_user();
                sh(&format!("chown -R {uid}:{gid} '{}'", world.root.display()));
            }
            if let (Some(p), Some(before)) = (&case.unchanged, &unchanged_before) {
                let path = expand(p, &vars);
                if let Some(bytes) = before {
                    std::fs::write(&path, bytes).unwrap();
                }
            }
        }

        let out = world.run(&[], &case.run, &env);
        let shown = text(&out);
        let mut problems = Vec::new();
        if case.inside_fails && out.status.success() {
            problems.push("succeeded inside the sandbox".to_owned());
        }
        if let Some(secret) = &case.secret
            && shown.contains(secret.as_str())
        {
            problems.push(format!("the output holds {secret}"));
        }
        if let Some(error) = &case.error
            && !shown.contains(error.as_str())
        {
            problems.push(format!("the output does not say {error:?}"));
        }
        if let Some(absent) = &case.absent {
            let path = expand(absent, &vars);
            if path.exists() {
                problems.push(format!("{} exists on the host", path.display()));
            }
        }
        if let Some(path) = &case.not_setuid
            && setid(&expand(path, &vars))
        {
            problems.push(format!("{path} is set-user-ID on the host"));
        }
        if let (Some(p), Some(before)) = (&case.unchanged, &unchanged_before) {
            let after = planted(&expand(p, &vars));
            if &after != before {
                problems.push(format!("{p} changed on the host"));
            }
        }
        if shown.contains("could not set up the sandbox") || shown.contains("refusing to start") {
            problems.push("the sandbox did not start".to_owned());
        }
        if !problems.is_empty() {
            failures.push(format!("{} ({who:?}): {}\n--- output:\n{shown}", case.name, problems.join("; ")));
        }
        // Placeholders for protected paths are gone again.
        for name in [".envrc", ".vscode", ".claude", ".mcp.json", ".holdpoint.toml"] {
            if let Ok(m) = std::fs::symlink_metadata(world.ws.join(name))
                && m.is_dir()
                && m.permissions().mode() & 0o777 == 0
            {
                failures.push(format!("{}: the placeholder {name} was left in the workspace", case.name));
            }
        }
        drop(listener);
    }
    assert!(failures.is_empty(), "{} escape(s) not stopped:\n\n{}", failures.len(), failures.join("\n\n"));
}

#[test]
fn escapes_fail_as_root() {
    escapes(Who::Root);
}

#[test]
fn escapes_fail_as_an_unprivileged_user() {
    escapes(Who::User);
}

/// Work an agent does inside: a workspace script, git, the process's own limits, only
/// loopback, and the environment without the secret.
fn everyday_work(who: Who) {
    let world = World::new(who, false);
    let env = world.env(&[]);
    let script = r#"set -e
./hello.sh
git init -q && echo one > one.txt && git add one.txt && git commit -q -m first && git log --format=%s
echo two > two.txt && git add two.txt && git commit -q -m second && git rev-list --count HEAD
grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status | tr -s '\t' ' '
awk 'NR > 2 { print $1 }' /proc/net/dev
echo "token:${GITHUB_TOKEN:-none}"
ls -a "$HOME" | tr '\n' ' '; echo
echo scratch > /tmp/scratch && cat /tmp/scratch
"#;
    let out = world.run(&[], script, &env);
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    for expected in [
        "hello from the workspace",
        "first",
        "\n2\n",
        "CapEff: 0000000000000000",
        "NoNewPrivs: 1",
        "Seccomp: 2",
        "token:none",
        ".gitconfig",
        "scratch",
    ] {
        assert!(shown.contains(expected), "{expected:?} missing from:\n{shown}");
    }
    let interfaces: Vec<&str> = shown.lines().filter(|l| l.ends_with(':') && !l.contains(' ')).collect();
    assert_eq!(interfaces, vec!["lo:"], "only loopback inside:\n{shown}");
    assert!(!shown.contains(".ssh") && !shown.contains(".aws"), "{shown}");
    // The dropped variable is named, its value never shown.
    assert!(shown.contains("dropped GITHUB_TOKEN"), "{shown}");
    assert!(!shown.contains(TOKEN), "{shown}");
    // The commits are in the real workspace.
    let log = world.as_who(&["git", "log", "--format=%s"], &env, &world.ws);
    assert_eq!(String::from_utf8_lossy(&log.stdout), "second\nfirst\n");
    // The command's exit status comes back.
    let out = world.run(&[], "exit 7", &env);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    let out = world.run(&[], "kill -TERM $$", &env);
    assert_eq!(out.status.code(), Some(128 + 15), "{}", text(&out));
}

#[test]
fn everyday_work_runs_as_root() {
    everyday_work(Who::Root);
}

#[test]
fn everyday_work_runs_as_an_unprivileged_user() {
    everyday_work(Who::User);
}

/// A home file is shown while it holds nothing that looks like a secret. The scanner's answer
/// is kept in the state directory for the next run, and counts only while the file is
/// unchanged: a secret written into it later hides it again.
fn home_files_are_scanned_again_when_they_change(who: Who) {
    let world = World::new(who, false);
    let env = world.env(&[]);
    for _ in 0..2 {
        let out = world.run(&[], "cat \"$HOME/.gitconfig\"", &env);
        assert!(out.status.success() && text(&out).contains("Sandbox Test"), "{}", text(&out));
        let kept = std::fs::read_to_string(world.state().join("run-home-files.json")).unwrap();
        assert!(kept.contains(".gitconfig"), "{kept}");
    }
    let gitconfig = world.home.join(".gitconfig");
    let mut file = std::fs::OpenOptions::new().append(true).open(&gitconfig).unwrap();
    std::io::Write::write_all(&mut file, format!("[github]\n\ttoken = {TOKEN}\n").as_bytes()).unwrap();
    drop(file);
    let out = world.run(&[], "cat \"$HOME/.gitconfig\" || echo not-there", &env);
    let shown = text(&out);
    assert!(shown.contains("not showing") && shown.contains("not-there"), "{shown}");
    assert!(!shown.contains(TOKEN) && !shown.contains("Sandbox Test"), "{shown}");
}

#[test]
fn home_files_are_scanned_again_when_they_change_as_root() {
    home_files_are_scanned_again_when_they_change(Who::Root);
}

#[test]
fn home_files_are_scanned_again_when_they_change_as_an_unprivileged_user() {
    home_files_are_scanned_again_when_they_change(Who::User);
}

#[test]
fn a_missing_command_says_so() {
    let world = World::new(Who::Root, false);
    let bin = world.bin.to_str().unwrap();
    let out = world.as_who(&[bin, "run", "--", "no-such-command-anywhere"], &world.env(&[]), &world.ws);
    assert_eq!(out.status.code(), Some(127), "{}", text(&out));
    assert!(text(&out).contains("no-such-command-anywhere: command not found inside the sandbox"), "{}", text(&out));
}

/// The toolchain of the user running the tests (cargo and rustup under its real home).
#[test]
fn cargo_builds_inside_as_root() {
    let world = World::new(Who::Root, false);
    let real_home = PathBuf::from(std::env::var("HOME").unwrap());
    let cargo_home = std::env::var("CARGO_HOME").map(PathBuf::from).unwrap_or_else(|_| real_home.join(".cargo"));
    let rustup_home = std::env::var("RUSTUP_HOME").map(PathBuf::from).unwrap_or_else(|_| real_home.join(".rustup"));
    assert!(cargo_home.join("bin/cargo").exists(), "no toolchain at {}", cargo_home.display());
    let env = world.env(&[
        ("PATH", format!("{}:{PATH}", cargo_home.join("bin").display())),
        ("CARGO_HOME", cargo_home.display().to_string()),
        ("RUSTUP_HOME", rustup_home.display().to_string()),
    ]);
    let script = r#"set -e
cargo --version
mkdir -p hello/src
printf '[package]\nname = "hello"\nversion = "0.1.0"\nedition = "2021"\n' > hello/Cargo.toml
printf 'fn main() { println!("built inside"); }\n' > hello/src/main.rs
cd hello && cargo build --offline -q && ./target/debug/hello
"#;
    let out = world.run(&[], script, &env);
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains("cargo 1.") && shown.contains("built inside"), "{shown}");
    assert!(world.ws.join("hello/target/debug/hello").exists());
}

/// `npm test` with the system's node: package scripts run, and write only the workspace.
#[test]
fn npm_test_runs_inside() {
    let world = World::new(Who::Root, false);
    std::fs::write(
        world.ws.join("package.json"),
        r#"{"name":"app","version":"1.0.0","scripts":{"test":"node test.js"}}"#,
    )
    .unwrap();
    std::fs::write(
        world.ws.join("test.js"),
        "require('fs').writeFileSync('result.txt', 'passed');\nconsole.log('tests ran inside');\n",
    )
    .unwrap();
    let out = world.run(&[], "npm test --silent", &world.env(&[]));
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains("tests ran inside"), "{shown}");
    assert_eq!(std::fs::read_to_string(world.ws.join("result.txt")).unwrap(), "passed");
}

/// A host-side server standing in for the egress proxy: answers one request and reports the
/// request line it got.
fn proxy_stub(accept: impl FnOnce() -> Box<dyn ReadWrite> + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut conn = accept();
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            match conn.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        let line = String::from_utf8_lossy(&got).lines().next().unwrap_or_default().to_owned();
        let body = "through the bridge\n";
        let _ = write!(conn, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
        let _ = tx.send(line);
    });
    rx
}

trait ReadWrite: Read + Write + Send {}
impl<T: Read + Write + Send> ReadWrite for T {}

fn request_through_bridge(who: Who, unix: bool) {
    let world = World::new(who, false);
    let (target, rx) = if unix {
        let socket = world.root.join("proxy/proxy.sock");
        std::fs::create_dir_all(socket.parent().unwrap()).unwrap();
        std::fs::set_permissions(socket.parent().unwrap(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let listener = UnixListener::bind(&socket).unwrap();
        std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o777)).unwrap();
        let rx = proxy_stub(move || Box::new(listener.accept().unwrap().0));
        (socket.display().to_string(), rx)
    } else {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let rx = proxy_stub(move || Box::new(listener.accept().unwrap().0));
        (addr, rx)
    };
    let script = r#"set -e
echo "proxy=$HTTP_PROXY"
curl -sS --max-time 20 http://api.example.invalid/v1/volumes/7
"#;
    let out = world.run(&["--proxy", &target], script, &world.env(&[]));
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains("proxy=http://127.0.0.1:8788"), "{shown}");
    assert!(shown.contains("through the bridge"), "{shown}");
    let line = rx.recv_timeout(Duration::from_secs(20)).unwrap();
    assert_eq!(line, "GET http://api.example.invalid/v1/volumes/7 HTTP/1.1");
}

#[test]
fn a_request_reaches_a_unix_socket_proxy_through_the_bridge_as_root() {
    request_through_bridge(Who::Root, true);
}

#[test]
fn a_request_reaches_a_unix_socket_proxy_through_the_bridge_as_an_unprivileged_user() {
    request_through_bridge(Who::User, true);
}

#[test]
fn a_request_reaches_a_loopback_proxy_through_the_bridge() {
    request_through_bridge(Who::User, false);
}

#[test]
fn the_proxy_ca_is_placed_inside_and_named_by_the_usual_variables() {
    let world = World::new(Who::Root, false);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let ca = world.root.join("ca.pem");
    write(&ca, "-----BEGIN CERTIFICATE-----\nCA-MARKER\n-----END CERTIFICATE-----\n");
    let script = r#"set -e
for v in SSL_CERT_FILE REQUESTS_CA_BUNDLE AWS_CA_BUNDLE NODE_EXTRA_CA_CERTS NO_PROXY; do echo "$v=$(printenv $v)"; done
grep -c CA-MARKER "$NODE_EXTRA_CA_CERTS" "$SSL_CERT_FILE"
"#;
    let out = world.run(&["--proxy", &addr, "--proxy-ca", ca.to_str().unwrap()], script, &world.env(&[]));
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    for expected in [
        "SSL_CERT_FILE=/run/holdpoint/ca-bundle.pem",
        "REQUESTS_CA_BUNDLE=/run/holdpoint/ca-bundle.pem",
        "AWS_CA_BUNDLE=/run/holdpoint/ca-bundle.pem",
        "NODE_EXTRA_CA_CERTS=/run/holdpoint/ca.pem",
        "NO_PROXY=localhost,127.0.0.1,::1",
        "/run/holdpoint/ca.pem:1",
        "/run/holdpoint/ca-bundle.pem:1",
    ] {
        assert!(shown.contains(expected), "{expected:?} missing:\n{shown}");
    }
}

/// Without user namespaces (here: a namespace whose limit is 0, as `user.max_user_namespaces=0`
/// gives), `run` refuses; `--dangerously-weaker` runs with Landlock and seccomp and says so.
fn without_namespaces(who: Who) {
    let world = World::new(who, false);
    let bin = world.bin.to_str().unwrap();
    let limited = |args: &str| {
        let script = format!("echo 0 > /proc/sys/user/max_user_namespaces && exec {bin} run {args}");
        world.as_who(&["unshare", "--user", "--map-root-user", "sh", "-c", &script], &world.env(&[]), &world.ws)
    };
    let out = limited("-- true");
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(shown.contains("refusing to start") && shown.contains("--dangerously-weaker"), "{shown}");
    let out =
        limited(r#"--dangerously-weaker -- sh -c 'echo ran; cat "$HOME/.ssh/id_ed25519"; echo x > "$OUTSIDE/weaker"'"#);
    let shown = text(&out);
    assert!(shown.contains("ran") && shown.contains("the network is NOT isolated"), "{shown}");
    assert!(shown.contains("Landlock (ABI"), "{shown}");
    assert!(!shown.contains("SSH-KEY-MARKER"), "{shown}");
    assert!(!world.outside.join("weaker").exists());
}

#[test]
fn without_namespaces_run_refuses_unless_dangerously_weaker_as_root() {
    without_namespaces(Who::Root);
}

#[test]
fn without_namespaces_run_refuses_unless_dangerously_weaker_as_an_unprivileged_user() {
    without_namespaces(Who::User);
}

#[test]
fn a_workspace_holding_the_home_directory_is_refused() {
    let world = World::new(Who::Root, false);
    let bin = world.bin.to_str().unwrap();
    let out = world.as_who(
        &[bin, "run", "--workspace", world.root.to_str().unwrap(), "--", "true"],
        &world.env(&[]),
        &world.ws,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("would contain your home directory"), "{}", text(&out));
}

/// The host pids whose command line (arguments joined by spaces) is `line`, or starts with
/// it when `prefix`.
fn pids_of(line: &str, prefix: bool) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).trim_end_matches('\0').replace('\0', " ");
        if cmdline == line || (prefix && cmdline.starts_with(line)) {
            pids.push(pid);
        }
    }
    pids
}

fn pids_with(line: &str) -> Vec<u32> {
    pids_of(line, false)
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..200 {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

#[test]
fn signals_sent_to_holdpoint_run_reach_the_command() {
    let world = World::new(Who::Root, false);
    let marker = format!("{}", 900_000 + std::process::id() % 90_000);
    let mut child = Command::new(&world.bin)
        .args(["run", "--", "sleep", &marker])
        .env_clear()
        .envs(world.env(&[]))
        .current_dir(&world.ws)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the command to start", || pids_with(&format!("sleep {marker}")).len() == 1);
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(128 + 15));
}

/// SIGKILL cannot be forwarded: everything inside dies with `holdpoint run`, and the
/// placeholders it left are cleaned up by the next run.
#[test]
fn killing_holdpoint_run_ends_the_sandbox_and_the_next_run_cleans_up() {
    let world = World::new(Who::User, true);
    let marker = format!("{}", 800_000 + std::process::id() % 90_000);
    let mut child = Command::new("runuser")
        .args(["-u", USER, "--", "env", "-i"])
        .args(world.env(&[]).iter().map(|(k, v)| format!("{k}={v}")))
        .args([world.bin.to_str().unwrap(), "run", "--", "sh", "-c", &format!("sleep {marker} & sleep {marker}")])
        .current_dir(&world.ws)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the commands to start", || pids_with(&format!("sleep {marker}")).len() == 2);
    let envrc = world.ws.join(".envrc");
    assert!(envrc.is_dir(), "a placeholder stands at .envrc while the sandbox runs");
    // runuser's child is `holdpoint run`: kill it, not runuser.
    let ppid = |pid: u32| {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        stat.rsplit(')').next().and_then(|rest| rest.split_whitespace().nth(1)).and_then(|p| p.parse::<u32>().ok())
    };
    // runuser's child is `holdpoint run` (its own child, pid 1 inside, has the same command line).
    let holdpoint = pids_of(&format!("{} run -- sh -c", world.bin.display()), true)
        .into_iter()
        .find(|p| ppid(*p) == Some(child.id()))
        .unwrap();
    // The temp dir with the agents' settings, found by the lock the run holds in it.
    let settings = std::fs::read_dir(format!("/proc/{holdpoint}/fd"))
        .unwrap()
        .filter_map(|fd| std::fs::read_link(fd.unwrap().path()).ok())
        .find(|target| target.ends_with(".lock") && target.to_string_lossy().contains("/holdpoint-run-"))
        .and_then(|lock| lock.parent().map(Path::to_path_buf))
        .expect("the run holds the lock of its settings dir");
    assert!(settings.join("claude.json").is_file(), "{}", settings.display());
    assert!(Command::new("kill").args(["-KILL", &holdpoint.to_string()]).status().unwrap().success());
    let _ = child.wait();
    wait_for("every process of the sandbox to end", || pids_with(&format!("sleep {marker}")).is_empty());
    assert!(envrc.is_dir(), "a killed run cannot remove its placeholder");
    assert!(settings.is_dir(), "a killed run cannot remove its settings dir");
    let out = world.run(&[], "true", &world.env(&[]));
    assert!(out.status.success(), "{}", text(&out));
    assert!(!envrc.exists(), "the next run removed the placeholder");
    assert!(!settings.exists(), "the next run removed the killed run's settings dir");
}

#[test]
fn doctor_reports_the_sandbox_protections() {
    for who in [Who::Root, Who::User] {
        let world = World::new(who, false);
        let out = world.as_who(&[world.bin.to_str().unwrap(), "doctor", "--json"], &world.env(&[]), &world.ws);
        let doctor: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        for name in ["namespaces", "landlock", "seccomp", "overlay"] {
            let check = doctor["checks"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap();
            assert_eq!(check["status"], "ok", "{who:?}: {check}");
        }
    }
}

/// A caller with threads re-executes itself (`holdpoint sandbox-exec FD`) before it makes
/// namespaces; debug builds can be told to take that path.
#[test]
fn the_re_executed_supervisor_runs_the_same_sandbox() {
    let world = World::new(Who::User, false);
    let env = world.env(&[("HOLDPOINT_TEST_SANDBOX_REEXEC", "1".into())]);
    let out = world.run(
        &[],
        r#"echo "args:$*"; cat "$HOME/.ssh/id_ed25519"; printenv HOLDPOINT_TEST_SANDBOX_REEXEC; exit 3"#,
        &env,
    );
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(3), "{shown}");
    assert!(shown.contains("args:") && shown.contains("No such file or directory"), "{shown}");
    assert!(!shown.contains("SSH-KEY-MARKER"), "{shown}");
}

/// A variable holding a vault secret gets the secret's placeholder (inside a URL too); one the
/// vault does not hold but that looks like a secret is dropped, named, never shown.
#[test]
fn vault_secrets_in_the_environment_become_placeholders() {
    let world = World::new(Who::Root, false);
    let key = world.root.join("vault.key");
    write(&key, &format!("{}\n", "ab".repeat(32)));
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let secret = "sk-proj-SandboxVaultSecret0123456789abcdefXYZ";
    let key_env = ("HOLDPOINT_VAULT_KEY_FILE", key.display().to_string());
    let mut add = Command::new(&world.bin)
        .args(["vault", "add", "openai", "--host", "api.openai.com", "--json"])
        .env_clear()
        .envs(world.env(std::slice::from_ref(&key_env)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    add.stdin.take().unwrap().write_all(secret.as_bytes()).unwrap();
    let added = add.wait_with_output().unwrap();
    assert!(added.status.success());
    let added: serde_json::Value = serde_json::from_slice(&added.stdout).unwrap();
    let placeholder = added["placeholders"]["value"].as_str().unwrap().to_owned();
    let env = world.env(&[
        key_env,
        ("OPENAI_API_KEY", secret.into()),
        ("OPENAI_URL", format!("https://user:{secret}@api.openai.com/v1")),
    ]);
    let out = world.run(&[], "echo key=$OPENAI_API_KEY; echo url=$OPENAI_URL; echo gh=${GITHUB_TOKEN:-none}", &env);
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains(&format!("key={placeholder}")), "{shown}");
    assert!(shown.contains(&format!("url=https://user:{placeholder}@api.openai.com/v1")), "{shown}");
    assert!(shown.contains("gh=none") && shown.contains("dropped GITHUB_TOKEN"), "{shown}");
    assert!(!shown.contains(secret) && !shown.contains(TOKEN), "{shown}");
}

/// On a terminal (here a pty from `script`), the command has its terminal and may open it
/// again; pushing input into it is refused.
#[test]
fn the_terminal_works_inside() {
    let world = World::new(Who::Root, false);
    let inner = r#"tty; echo via-stdout > /dev/stdout; echo via-tty > /dev/tty; perl -e 'open(T, "+<", "/dev/tty") or die; my $c = "x"; ioctl(T, 0x5412, $c) or print "TIOCSTI: $!\n"'"#;
    let command = format!("{} run -- bash -c '{}'", world.bin.display(), inner.replace('\'', r"'\''"));
    let out = world.as_who(&["script", "-qec", &command, "/dev/null"], &world.env(&[]), &world.ws);
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    for expected in ["/dev/console", "via-stdout", "via-tty", "TIOCSTI: Operation not permitted"] {
        assert!(shown.contains(expected), "{expected:?} missing:\n{shown}");
    }
}

/// With no gateway running, `run` starts one for as long as the command runs: requests leave
/// through Holdpoint's own proxy, and the gateway is gone afterwards.
fn run_starts_the_gateway(who: Who) {
    let world = World::new(who, false);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let rx = proxy_stub(move || Box::new(listener.accept().unwrap().0));
    let script = format!("curl -sS --max-time 20 --noproxy '' -x \"$HTTP_PROXY\" http://{addr}/v1/volumes");
    let out = world.run(&[], &script, &world.env(&[]));
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains("through the bridge"), "{shown}");
    assert_eq!(rx.recv_timeout(Duration::from_secs(20)).unwrap(), "GET /v1/volumes HTTP/1.1");
    let log = std::fs::read_to_string(world.state().join("gateway.log")).unwrap();
    assert!(log.contains("HTTP egress proxy listening on"), "{log}");
    assert!(!world.state().join("proxy.sock").exists(), "the gateway stops with the run");
    assert!(!world.state().join("agent.sock").exists(), "the gateway stops with the run");
    // The request is in the audit log like every decision.
    let audit = world.as_who(&[world.bin.to_str().unwrap(), "audit", "export"], &world.env(&[]), &world.root);
    let audit = text(&audit);
    assert!(audit.contains("/v1/volumes"), "{audit}");
}

#[test]
fn run_starts_the_gateway_when_none_runs_as_root() {
    run_starts_the_gateway(Who::Root);
}

#[test]
fn run_starts_the_gateway_when_none_runs_as_an_unprivileged_user() {
    run_starts_the_gateway(Who::User);
}

/// The brake inside the wall: the agent's settings inside the sandbox carry Holdpoint's hook,
/// which reaches the gateway through the agent-side socket; a held command is queued in the
/// store outside, approved outside, and then passes once.
#[test]
fn a_hook_inside_the_sandbox_holds_and_passes_once_after_approval_outside() {
    let world = World::new(Who::Root, true);
    write(&world.hp_home.join("config/config.toml"), "hold_wait = \"0s\"\n");
    let bin = world.bin.to_str().unwrap();
    let added = world.as_who(&[bin, "approver", "add", "alice", "--json"], &world.env(&[]), &world.root);
    assert!(added.status.success(), "{}", text(&added));
    let added: serde_json::Value = serde_json::from_slice(&added.stdout).unwrap();
    let token = world.root.join("alice.token");
    write(&token, added["token"].as_str().unwrap());
    let payload = serde_json::json!({
        "session_id": "s", "transcript_path": "/tmp/t.jsonl", "cwd": world.ws,
        "permission_mode": "default", "hook_event_name": "PreToolUse", "tool_name": "Bash",
        "tool_input": {"command": "rm -rf /var/lib/app/data"}
    });
    let env = world.env(&[("PAYLOAD", payload.to_string())]);
    // What the agent runs: the hook command written in its settings inside the sandbox.
    let script = r#"set -e
hook=$(sed -n 's/.*"command": "\(.* hook claude\)".*/\1/p' ~/.claude/settings.json)
echo "hook=$hook"
printf '%s' "$PAYLOAD" | sh -c "$hook"
"#;
    let first = world.run(&[], script, &env);
    let shown = text(&first);
    assert!(first.status.success(), "{shown}");
    // The user's own settings are kept beside the hook.
    let kept = world.run(&[], "grep -c 'Bash(ls:\\*)' ~/.claude/settings.json; test ! -e ~/.codex", &env);
    assert!(kept.status.success() && text(&kept).starts_with('1'), "{}", text(&kept));
    assert!(shown.contains(&format!("hook={bin} hook claude")), "{shown}");
    assert!(shown.contains("Holdpoint held this action as hold 1"), "{shown}");
    assert!(shown.contains("\"permissionDecision\":\"deny\""), "{shown}");

    // The hold is in the store outside, where a human approves it with their own token.
    let pending = world.as_who(&[bin, "pending", "--json"], &world.env(&[]), &world.root);
    let pending: serde_json::Value = serde_json::from_slice(&pending.stdout).unwrap();
    assert_eq!(pending["holds"][0]["id"], 1, "{pending}");
    assert!(pending["holds"][0]["summary"].as_str().unwrap().contains("rm -rf /var/lib/app/data"));
    let approve = world.as_who(&[bin, "approve", "1", "--token-file", token.to_str().unwrap()], &env, &world.root);
    assert!(approve.status.success(), "{}", text(&approve));

    let second = world.run(&[], script, &env);
    let shown = text(&second);
    // Claude Code's allow is `{}`: the user's own permission rules still apply.
    assert!(shown.lines().any(|l| l == "{}") && !shown.contains("deny"), "the approved action passes: {shown}");
    let third = world.run(&[], script, &env);
    let shown = text(&third);
    assert!(shown.contains("Holdpoint held this action as hold 2"), "and only once: {shown}");
}
