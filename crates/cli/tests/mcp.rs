//! The MCP gateway end to end: a JSON-RPC client speaking over the stdio of the real
//! `holdpoint mcp wrap`, in front of real MCP servers — the rmcp fixture
//! (`examples/mcp_fixture.rs`: read, write, destructive and schema-changing tools, logging every
//! call that reaches it) and the reference `@modelcontextprotocol/server-filesystem` from the
//! npm registry. Holds are released with `holdpoint approve` and a token file.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use serde_json::{Value, json};
use tempfile::TempDir;

/// How long a test waits for one answer before it fails (a guard, not a measurement).
const ANSWER_WAIT: Duration = Duration::from_secs(120);

fn holdpoint(home: &Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("holdpoint").unwrap();
    cmd.env("HOLDPOINT_HOME", home).env_remove("HOLDPOINT_VAULT_KEY_FILE");
    cmd
}

/// The fixture server, built (or found up to date) by cargo.
fn fixture() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--quiet", "-p", "holdpoint-cli", "--example", "mcp_fixture"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .unwrap();
    assert!(status.success(), "cannot build the fixture server");
    let exe = assert_cmd::cargo::cargo_bin("holdpoint");
    let path = exe.parent().unwrap().join("examples/mcp_fixture");
    assert!(path.is_file(), "{} is missing", path.display());
    path
}

/// A Holdpoint home (`hold_wait = "0s"`: a held call is answered at once) and a workspace.
struct World {
    home: TempDir,
    workspace: TempDir,
}

impl World {
    fn new() -> World {
        let home = TempDir::new().unwrap();
        holdpoint(home.path()).arg("init").assert().success();
        std::fs::write(home.path().join("config/config.toml"), "hold_wait = \"0s\"\n").unwrap();
        let workspace = TempDir::new().unwrap();
        std::fs::create_dir(workspace.path().join(".git")).unwrap();
        World { home, workspace }
    }

    fn log(&self) -> PathBuf {
        self.home.path().join("fixture.log")
    }

    /// Every call that reached the fixture.
    fn reached(&self) -> Vec<Value> {
        std::fs::read_to_string(self.log())
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn wrap(&self, name: &str, command: &[&str], env: &[(&str, &str)]) -> Wrapped {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("holdpoint"));
        cmd.args(["mcp", "wrap", name, "--"])
            .args(command)
            .current_dir(self.workspace.path())
            .env("HOLDPOINT_HOME", self.home.path())
            .env("FIXTURE_LOG", self.log())
            .env_remove("HOLDPOINT_VAULT_KEY_FILE")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(serde_json::from_str::<Value>(&line).unwrap()).is_err() {
                    return;
                }
            }
        });
        let mut w = Wrapped { child, stdin: Some(stdin), lines, next_id: 0, notes: Vec::new() };
        let init = w.request(
            "initialize",
            json!({"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"holdpoint-test","version":"1"}}),
        );
        assert!(init.get("result").is_some(), "{init}");
        w.send(json!({"jsonrpc":"2.0","method":"notifications/initialized"}));
        w
    }

    /// A vault (its key file made here) holding `secret` bound to `host`: the key file and the
    /// secret's placeholder.
    fn vault_secret(&self, name: &str, host: &str, secret: &str) -> (PathBuf, String) {
        let key = self.home.path().join("vault.key");
        std::fs::write(&key, format!("{}\n", "5a".repeat(32))).unwrap();
        std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        let out = holdpoint(self.home.path())
            .args(["vault", "add", name, "--host", host, "--json"])
            .env("HOLDPOINT_VAULT_KEY_FILE", &key)
            .write_stdin(secret.to_owned())
            .assert()
            .success();
        let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        (key, v["placeholders"]["value"].as_str().unwrap().to_owned())
    }

    fn approver(&self) -> PathBuf {
        let out = holdpoint(self.home.path()).args(["approver", "add", "alice", "--json"]).assert().success();
        let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        let file = self.home.path().join("alice.token");
        std::fs::write(&file, v["token"].as_str().unwrap()).unwrap();
        file
    }

    fn approve(&self, id: u64, token: &Path) {
        holdpoint(self.home.path()).args(["approve", &id.to_string(), "--token-file"]).arg(token).assert().success();
    }
}

/// A JSON-RPC client on the stdio of `holdpoint mcp wrap`; stops it on drop.
struct Wrapped {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<Value>,
    next_id: u64,
    /// Notifications that arrived while waiting for answers.
    notes: Vec<Value>,
}

impl Wrapped {
    fn send(&mut self, msg: Value) {
        self.send_raw(&msg.to_string());
    }

    fn send_raw(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    /// The next message that is not a notification.
    fn answer(&mut self) -> Value {
        loop {
            let msg = self.lines.recv_timeout(ANSWER_WAIT).expect("an answer from the gateway");
            if msg.get("method").is_some() && msg.get("id").is_none() {
                self.notes.push(msg);
                continue;
            }
            return msg;
        }
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.send(json!({"jsonrpc":"2.0","id":id,"method":method,"params":params}));
        let answer = self.answer();
        assert_eq!(answer["id"], json!(id), "{answer}");
        answer
    }

    fn call(&mut self, tool: &str, arguments: Value) -> Value {
        self.request("tools/call", json!({"name": tool, "arguments": arguments}))
    }

    /// The text of a successful call's first content item.
    fn text(&mut self, tool: &str, arguments: Value) -> String {
        let answer = self.call(tool, arguments);
        answer["result"]["content"][0]["text"].as_str().unwrap_or_else(|| panic!("{answer}")).to_owned()
    }

    /// Closes the agent's side and waits for the gateway (and so the server) to exit.
    fn finish(mut self) -> std::process::ExitStatus {
        self.stdin.take();
        self.child.wait().unwrap()
    }
}

impl Drop for Wrapped {
    fn drop(&mut self) {
        self.stdin.take();
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The JSON-RPC error of a refused call, with the hold id (which depends on the order of
/// holds) checked and then left out of the snapshot.
fn refusal(answer: &Value, code: i64) -> Value {
    let error = answer.get("error").unwrap_or_else(|| panic!("not refused: {answer}"));
    assert_eq!(error["code"], code, "{answer}");
    assert_eq!(error["message"], error["data"]["reason"], "the sentence is in message and data");
    error.clone()
}

fn hold_id(answer: &Value) -> u64 {
    answer["error"]["data"]["hold_id"].as_u64().unwrap_or_else(|| panic!("no hold id: {answer}"))
}

#[test]
fn reads_pass_destructive_calls_are_held_and_pass_once_after_approval() {
    let world = World::new();
    let fixture = fixture();
    let mut agent = world.wrap("fixture", &[fixture.to_str().unwrap()], &[]);
    assert_eq!(agent.text("lookup", json!({"key":"a"})), "value of a");

    let held = agent.call("delete_records", json!({"table":"users"}));
    insta::assert_json_snapshot!("held_destructive_call", refusal(&held, -32001));
    assert!(!world.reached().iter().any(|c| c["tool"] == "delete_records"), "a held call never reaches the server");

    let token = world.approver();
    world.approve(hold_id(&held), &token);
    assert_eq!(agent.text("delete_records", json!({"table":"users"})), "deleted every record of users");
    let again = agent.call("delete_records", json!({"table":"users"}));
    refusal(&again, -32001);
    assert_ne!(hold_id(&again), hold_id(&held), "the release was used once");
    let deletes = world.reached().iter().filter(|c| c["tool"] == "delete_records").count();
    assert_eq!(deletes, 1);
    assert!(agent.finish().success());

    let audit = holdpoint(world.home.path()).args(["audit", "show", "--json"]).assert().success();
    let audit = String::from_utf8_lossy(&audit.get_output().stdout).into_owned();
    assert!(audit.contains("\"mcp\""), "MCP decisions are audited: {audit}");
}

#[test]
fn file_writes_follow_the_path_rules() {
    let world = World::new();
    let fixture = fixture();
    let mut agent = world.wrap("fixture", &[fixture.to_str().unwrap()], &[]);
    let inside = world.workspace.path().join("notes.md");
    let answer = agent.text("write_file", json!({"path": inside, "content": "hi"}));
    assert!(answer.starts_with("wrote "), "{answer}");
    assert_eq!(std::fs::read_to_string(&inside).unwrap(), "hi");

    // Outside the workspace and the temp dirs (scratch space, where writes are allowed).
    let elsewhere = PathBuf::from(format!("/srv/holdpoint-mcp-test-{}/x.txt", std::process::id()));
    refusal(&agent.call("write_file", json!({"path": elsewhere, "content": "x"})), -32001);
    assert!(!elsewhere.exists());

    let config = world.home.path().join("config/config.toml");
    let denied = agent.call("write_file", json!({"path": config, "content": "profile = \"observe\""}));
    let mut error = refusal(&denied, -32002);
    let text = error["message"].as_str().unwrap().replace(world.home.path().to_str().unwrap(), "$HOME");
    error["message"] = json!(text);
    error["data"]["reason"] = json!(text);
    insta::assert_json_snapshot!("denied_call", error);
    assert_eq!(std::fs::read_to_string(&config).unwrap(), "hold_wait = \"0s\"\n");
}

#[test]
fn a_tool_whose_schema_changes_is_held_until_approved() {
    let world = World::new();
    let fixture = fixture();
    let mut agent = world.wrap("fixture", &[fixture.to_str().unwrap()], &[]);
    assert_eq!(agent.text("toggle", json!({"on": true})), "switch read");
    // The fixture changed toggle's schema and said so; the gateway lists the tools again.
    let changed = agent.call("toggle", json!({"on": true}));
    refusal(&changed, -32001);
    let id = hold_id(&changed);
    let show = holdpoint(world.home.path()).args(["show", &id.to_string(), "--json"]).assert().success();
    let show = String::from_utf8_lossy(&show.get_output().stdout).into_owned();
    assert!(show.contains("mcp-tool-changed"), "{show}");
    assert!(agent.notes.iter().any(|n| n["method"] == "notifications/tools/list_changed"));

    let token = world.approver();
    world.approve(id, &token);
    assert_eq!(agent.text("toggle", json!({"on": true})), "switch read");
    // Approved once, the new definition is accepted.
    assert_eq!(agent.text("toggle", json!({"on": false})), "switch read");
    assert_eq!(world.reached().iter().filter(|c| c["tool"] == "toggle").count(), 3);
}

#[test]
fn vault_secrets_reach_the_server_and_never_come_back() {
    let world = World::new();
    let (key, placeholder) = world.vault_secret("fixture-token", "api.example.com", "sk-fixture-real-secret-77");
    let fixture = fixture();
    let mut agent = world.wrap(
        "fixture",
        &[fixture.to_str().unwrap()],
        &[("FIXTURE_TOKEN", &placeholder), ("HOLDPOINT_VAULT_KEY_FILE", key.to_str().unwrap())],
    );
    // The server got the real secret (what it answers is the secret, redacted on the way).
    assert_eq!(agent.text("env", json!({"name": "FIXTURE_TOKEN"})), "[redacted by holdpoint: vault secret]");
    assert_eq!(agent.text("env", json!({"name": "HOLDPOINT_VAULT_KEY_FILE"})), "<unset>");
    let secret = agent.text("lookup", json!({"key": "secret"}));
    assert!(
        secret.starts_with("token [redacted by holdpoint: vault secret]\n[redacted by holdpoint: github-token "),
        "{secret}"
    );
    assert!(!secret.contains("ghp_") && !secret.contains("sk-fixture"), "{secret}");
}

#[test]
fn unreadable_messages_are_refused_not_forwarded() {
    let world = World::new();
    let fixture = fixture();
    let mut agent = world.wrap("fixture", &[fixture.to_str().unwrap()], &[]);
    agent.send_raw("this is not json");
    let not_json = agent.answer();
    agent.send(json!({"jsonrpc":"2.0","id":"x","method":"tools/call","params":{"arguments":{}}}));
    let no_name = agent.answer();
    agent.send(json!({"jsonrpc":"2.0","id":"y","method":"tools/call","params":{"name":"lookup","arguments":[1]}}));
    let bad_arguments = agent.answer();
    insta::assert_json_snapshot!("unreadable_messages", json!([not_json, no_name, bad_arguments]));
    assert!(world.reached().is_empty());
    // The session goes on.
    assert_eq!(agent.text("lookup", json!({"key":"b"})), "value of b");
}

/// `@modelcontextprotocol/server-filesystem`, installed from the npm registry into the target
/// directory once.
fn filesystem_server() -> PathBuf {
    let target = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/mcp-npm");
    let script = target.join("node_modules/@modelcontextprotocol/server-filesystem/dist/index.js");
    if !script.is_file() {
        let status = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--loglevel=error", "--prefix"])
            .arg(&target)
            .arg("@modelcontextprotocol/server-filesystem@2026.8.31")
            .stdin(Stdio::null())
            .status()
            .expect("npm is installed (scripts/setup)");
        assert!(status.success(), "npm install of the reference filesystem server failed");
    }
    script
}

#[test]
fn the_reference_filesystem_server_behind_the_gateway() {
    let world = World::new();
    let script = filesystem_server();
    let ws = world.workspace.path().canonicalize().unwrap();
    std::fs::write(ws.join("README.md"), "hello from the workspace\n").unwrap();
    let mut agent = world.wrap("fs", &["node", script.to_str().unwrap(), ws.to_str().unwrap()], &[]);
    let listed = agent.request("tools/list", json!({}));
    let names: Vec<&str> =
        listed["result"]["tools"].as_array().unwrap().iter().filter_map(|t| t["name"].as_str()).collect();
    assert!(names.contains(&"read_text_file") && names.contains(&"write_file"), "{names:?}");

    let read = agent.text("read_text_file", json!({"path": ws.join("README.md")}));
    assert!(read.contains("hello from the workspace"), "{read}");
    let made = agent.call("create_directory", json!({"path": ws.join("made")}));
    assert!(made.get("result").is_some() && ws.join("made").is_dir(), "{made}");
    agent.text("list_allowed_directories", json!({}));

    // The server annotates write_file destructiveHint (it overwrites): held, then once approved.
    let tools = listed["result"]["tools"].as_array().unwrap();
    let write_tool = tools.iter().find(|t| t["name"] == "write_file").unwrap();
    assert_eq!(write_tool["annotations"]["destructiveHint"], true);
    let write = json!({"path": ws.join("new.txt"), "content": "made through the gateway"});
    let held = agent.call("write_file", write.clone());
    refusal(&held, -32001);
    assert!(!ws.join("new.txt").exists());
    let token = world.approver();
    world.approve(hold_id(&held), &token);
    let wrote = agent.call("write_file", write);
    assert!(wrote.get("result").is_some(), "{wrote}");
    assert_eq!(std::fs::read_to_string(ws.join("new.txt")).unwrap(), "made through the gateway");

    // Reading a credential file is denied before the server is asked.
    let home = std::env::var("HOME").unwrap();
    refusal(&agent.call("read_text_file", json!({"path": format!("{home}/.ssh/id_ed25519")})), -32002);
    // Moving a file from outside the workspace is held.
    refusal(
        &agent.call("move_file", json!({"source": "/srv/data/db.sqlite", "destination": ws.join("db.sqlite")})),
        -32001,
    );
}

#[test]
fn install_rewrites_mcp_servers_and_uninstall_restores_them() {
    let home = TempDir::new().unwrap();
    let original = json!({
        "theme": "dark",
        "mcpServers": {
            "fs": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "/w"], "env": {"A": "1"}},
            "remote": {"type": "http", "url": "https://mcp.example.com/mcp"},
            "bare": {"command": "my-server"}
        },
        "projects": {}
    });
    let file = home.path().join(".claude.json");
    std::fs::write(&file, serde_json::to_string_pretty(&original).unwrap()).unwrap();
    let run = |verb: &str| -> Value {
        let out =
            holdpoint(home.path()).env("HOME", home.path()).args(["mcp", verb, "claude", "--json"]).assert().success();
        serde_json::from_slice(&out.get_output().stdout).unwrap()
    };
    let report = run("install");
    assert_eq!(report["changed"], true);
    assert_eq!(report["servers"], json!(["fs", "bare"]));
    let now: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let exe = assert_cmd::cargo::cargo_bin("holdpoint").display().to_string();
    assert_eq!(now["mcpServers"]["fs"]["command"], json!(exe));
    assert_eq!(
        now["mcpServers"]["fs"]["args"],
        json!(["mcp", "wrap", "fs", "--", "npx", "-y", "@modelcontextprotocol/server-filesystem", "/w"])
    );
    assert_eq!(now["mcpServers"]["fs"]["env"], json!({"A": "1"}));
    assert_eq!(now["mcpServers"]["remote"], original["mcpServers"]["remote"]);
    let backup: Value =
        serde_json::from_str(&std::fs::read_to_string(home.path().join(".claude.json.holdpoint-backup")).unwrap())
            .unwrap();
    assert_eq!(backup, original);
    assert_eq!(run("install")["changed"], false, "installing twice changes nothing");
    assert_eq!(run("uninstall")["changed"], true);
    let restored: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(restored, original);
}

#[test]
fn check_and_explain_classify_mcp_calls_with_the_gateways_digest() {
    let world = World::new();
    let check = |input: &str| -> (i32, Value) {
        let out = holdpoint(world.home.path())
            .current_dir(world.workspace.path())
            .args(["check", "mcp", "--json", "--", input])
            .output()
            .unwrap();
        (out.status.code().unwrap(), serde_json::from_slice(&out.stdout).unwrap())
    };
    let (code, drop) = check(r#"{"server":"db","tool":"query","arguments":{"sql":"DROP TABLE users"}}"#);
    assert_eq!((code, drop["verdict"].as_str()), (3, Some("hold")), "{drop}");
    assert!(drop["effects"].as_array().unwrap().iter().any(|e| e["rule"] == "sql-drop"), "{drop}");
    let (code, read) =
        check(r#"{"server":"x","tool":"lookup","arguments":{"key":"a"},"annotations":{"readOnlyHint":true}}"#);
    assert_eq!(code, 0, "{read}");
    let (code, bad) = check(r#"{"server":"x","tool":"t","arguments":[1]}"#);
    assert_eq!((code, bad["verdict"].as_str()), (4, Some("deny")), "{bad}");

    let batch = holdpoint(world.home.path())
        .current_dir(world.workspace.path())
        .args(["check", "--batch", "--json"])
        .write_stdin(
            "{\"id\":1,\"channel\":\"mcp\",\"input\":{\"server\":\"fs\",\"tool\":\"read_text_file\",\"arguments\":{\"path\":\"README.md\"}}}\n",
        )
        .assert()
        .success();
    let line: Value = serde_json::from_slice(&batch.get_output().stdout).unwrap();
    assert_eq!(line["verdict"], "allow", "{line}");

    let explain = holdpoint(world.home.path())
        .current_dir(world.workspace.path())
        .args(["explain", "mcp", "--", r#"{"server":"fixture","tool":"delete_records","arguments":{"table":"users"}}"#])
        .assert()
        .success();
    let explain = String::from_utf8_lossy(&explain.get_output().stdout).into_owned();
    assert!(explain.contains("mcp-destructive-name") && explain.contains("target: fixture"), "{explain}");

    // The gateway's hold of the same call has the digest `check` computes.
    let fixture = fixture();
    let mut agent = world.wrap("fixture", &[fixture.to_str().unwrap()], &[]);
    let held = agent.call("delete_records", json!({"table":"users"}));
    let show = holdpoint(world.home.path()).args(["show", &hold_id(&held).to_string(), "--json"]).assert().success();
    let show: Value = serde_json::from_slice(&show.get_output().stdout).unwrap();
    let (_, checked) = check(r#"{"server":"fixture","tool":"delete_records","arguments":{"table":"users"}}"#);
    assert_eq!(show["digest"], checked["digest"], "{show}");
}

#[test]
fn a_waiting_call_gets_progress_notifications_when_it_asked_for_them() {
    let world = World::new();
    // Long enough for one progress notification (every 5 s) before the hold is answered.
    std::fs::write(world.home.path().join("config/config.toml"), "hold_wait = \"7s\"\n").unwrap();
    let fixture = fixture();
    let mut agent = world.wrap("fixture", &[fixture.to_str().unwrap()], &[]);
    let answer = agent.request(
        "tools/call",
        json!({"name":"delete_records","arguments":{"table":"t"},"_meta":{"progressToken":"wait-1"}}),
    );
    refusal(&answer, -32001);
    let progress: Vec<&Value> = agent.notes.iter().filter(|n| n["method"] == "notifications/progress").collect();
    assert!(!progress.is_empty(), "{:?}", agent.notes);
    assert_eq!(progress[0]["params"]["progressToken"], "wait-1");
}

#[test]
fn the_gateway_exits_with_the_server() {
    let world = World::new();
    // A "server" that answers initialize, reads `initialized` and exits: the agent's side is
    // still open.
    let script = world.home.path().join("server.sh");
    std::fs::write(
        &script,
        "read line\necho '{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{},\"serverInfo\":{\"name\":\"s\",\"version\":\"1\"}}}'\nread line\nexit 7\n",
    )
    .unwrap();
    let mut agent = world.wrap("short", &["sh", script.to_str().unwrap()], &[]);
    let status = (0..600)
        .find_map(|_| {
            let status = agent.child.try_wait().unwrap();
            if status.is_none() {
                std::thread::sleep(Duration::from_millis(50));
            }
            status
        })
        .expect("holdpoint mcp wrap exits when its server does");
    assert_eq!(status.code(), Some(7), "the server's exit status");
}

/// A child process killed when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The fixture served over streamable HTTP, `holdpoint serve` with an `[[mcp]]` block in front
/// of it, and a JSON-RPC client (curl) in one session with the gateway.
struct HttpAgent {
    _fixture: Killed,
    _serve: Killed,
    url: String,
    session: String,
    next_id: u64,
    /// Headers every request carries besides the session's.
    headers: Vec<String>,
}

/// What one POST got back: the HTTP status and the JSON-RPC messages of its body (JSON or an
/// event stream).
struct Posted {
    status: u16,
    messages: Vec<Value>,
}

impl World {
    /// `config` is the start of config.toml (the `[[mcp]]` block is added); `env` is for `serve`.
    fn serve_http(&self, config: &str, env: &[(&str, &str)], headers: &[&str]) -> HttpAgent {
        let mut fixture = Command::new(fixture());
        fixture
            .args(["--http", "127.0.0.1:0"])
            .env("FIXTURE_LOG", self.log())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut fixture = Killed(fixture.spawn().unwrap());
        let mut first = String::new();
        BufReader::new(fixture.0.stdout.take().unwrap()).read_line(&mut first).unwrap();
        let upstream = first.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("{first}")).to_owned();
        std::fs::write(
            self.home.path().join("config/config.toml"),
            format!(
                "{config}\n[api]\nlisten = \"127.0.0.1:0\"\n[proxy]\nlisten = \"127.0.0.1:0\"\n\
                 [[mcp]]\nname = \"fixture\"\nlisten = \"127.0.0.1:0\"\nupstream = \"{upstream}\"\n"
            ),
        )
        .unwrap();
        let mut serve = Command::new(assert_cmd::cargo::cargo_bin("holdpoint"));
        serve
            .arg("serve")
            .current_dir(self.workspace.path())
            .env("HOLDPOINT_HOME", self.home.path())
            .env_remove("HOLDPOINT_VAULT_KEY_FILE")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            serve.env(k, v);
        }
        let mut serve = Killed(serve.spawn().unwrap());
        let mut lines = BufReader::new(serve.0.stderr.take().unwrap()).lines();
        let url = loop {
            let line = lines.next().expect("holdpoint serve says where the MCP gateway listens").unwrap();
            if let Some(at) = line.find("MCP gateway fixture listening on ") {
                let rest = &line[at + "MCP gateway fixture listening on ".len()..];
                break rest.split_whitespace().next().unwrap().to_owned();
            }
        };
        std::thread::spawn(move || lines.for_each(drop));
        let mut agent = HttpAgent {
            _fixture: fixture,
            _serve: serve,
            url,
            session: String::new(),
            next_id: 0,
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
        };
        let (init, head) = agent.post_with_head(
            &json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
            "protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"holdpoint-test","version":"1"}}})
            .to_string(),
        );
        assert!(init.messages.iter().any(|m| m.get("result").is_some()), "{:?}", init.messages);
        agent.session = head
            .lines()
            .find_map(|l| l.split_once(':').filter(|(n, _)| n.eq_ignore_ascii_case("mcp-session-id")))
            .map(|(_, v)| v.trim().to_owned())
            .expect("the server gave a session id");
        let initialized = agent.post(&json!({"jsonrpc":"2.0","method":"notifications/initialized"}).to_string());
        assert_eq!(initialized.status, 202);
        agent
    }
}

impl HttpAgent {
    fn post(&mut self, body: &str) -> Posted {
        self.post_with_head(body).0
    }

    fn post_with_head(&mut self, body: &str) -> (Posted, String) {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "-i", "-N", "--max-time", "120", "-X", "POST"])
            .args(["-H", "content-type: application/json", "-H", "accept: application/json, text/event-stream"])
            .args(["-H", "mcp-protocol-version: 2025-06-18"]);
        if !self.session.is_empty() {
            cmd.args(["-H", &format!("mcp-session-id: {}", self.session)]);
        }
        for header in &self.headers {
            cmd.args(["-H", header]);
        }
        let out = cmd.args(["--data-binary", body, &self.url]).output().unwrap();
        assert!(out.status.success(), "curl: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8(out.stdout).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
        let streamed = head.to_ascii_lowercase().contains("content-type: text/event-stream");
        let messages = if streamed {
            body.split("\n\n")
                .flat_map(|event| event.lines().filter_map(|l| l.strip_prefix("data:")).map(str::trim))
                .filter(|data| !data.is_empty())
                .map(|data| serde_json::from_str(data).unwrap())
                .collect()
        } else if body.trim().is_empty() {
            Vec::new()
        } else {
            match serde_json::from_str(body).unwrap() {
                Value::Array(all) => all,
                one => vec![one],
            }
        };
        (Posted { status, messages }, head.to_owned())
    }

    /// The answer to one request (notifications before it left out).
    fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let posted = self.post(&json!({"jsonrpc":"2.0","id":id,"method":method,"params":params}).to_string());
        assert_eq!(posted.status, 200);
        posted.messages.into_iter().find(|m| m["id"] == json!(id)).expect("an answer")
    }

    fn call(&mut self, tool: &str, arguments: Value) -> Value {
        self.request("tools/call", json!({"name": tool, "arguments": arguments}))
    }

    fn text(&mut self, tool: &str, arguments: Value) -> String {
        let answer = self.call(tool, arguments);
        answer["result"]["content"][0]["text"].as_str().unwrap_or_else(|| panic!("{answer}")).to_owned()
    }
}

#[test]
fn streamable_http_servers_get_the_same_decisions_holds_and_redaction() {
    let world = World::new();
    let (key, placeholder) = world.vault_secret("fixture-api", "127.0.0.1", "sk-http-real-secret-42");
    let bearer = format!("authorization: Bearer {placeholder}");
    let mut agent = world.serve_http(
        "hold_wait = \"0s\"",
        &[("HOLDPOINT_VAULT_KEY_FILE", key.to_str().unwrap())],
        &[bearer.as_str()],
    );

    assert_eq!(agent.text("lookup", json!({"key":"a"})), "value of a");
    // The server got the real secret in place of the placeholder; it is redacted on the way back.
    assert_eq!(agent.text("authorization", json!({})), "Bearer [redacted by holdpoint: vault secret]");
    let secret = agent.text("lookup", json!({"key": "secret"}));
    assert!(secret.contains("[redacted by holdpoint: github-token ") && !secret.contains("ghp_"), "{secret}");

    let held = agent.call("delete_records", json!({"table":"users"}));
    // The same refusal as over stdio.
    insta::assert_json_snapshot!("held_destructive_call", refusal(&held, -32001));
    assert!(!world.reached().iter().any(|c| c["tool"] == "delete_records"), "a held call never reaches the server");
    let token = world.approver();
    world.approve(hold_id(&held), &token);
    assert_eq!(agent.text("delete_records", json!({"table":"users"})), "deleted every record of users");
    let again = agent.call("delete_records", json!({"table":"users"}));
    assert_ne!(hold_id(&again), hold_id(&held), "the release was used once");
    assert_eq!(world.reached().iter().filter(|c| c["tool"] == "delete_records").count(), 1);

    // What the gateway cannot read is refused whole, never forwarded.
    let not_json = agent.post("this is not json");
    assert_eq!(not_json.status, 400);
    assert_eq!(not_json.messages[0]["error"]["code"], -32700);
    let batch = json!([
        {"jsonrpc":"2.0","id":"r","method":"tools/call","params":{"name":"lookup","arguments":{"key":"z"}}},
        {"jsonrpc":"2.0","id":"d","method":"tools/call","params":{"name":"delete_records","arguments":{"table":"t"}}}
    ]);
    let refused = agent.post(&batch.to_string());
    assert_eq!(refused.status, 200);
    assert_eq!(refused.messages.len(), 2, "{:?}", refused.messages);
    assert_eq!(refused.messages[1]["error"]["code"], -32001);
    assert!(refused.messages[0]["error"]["message"].as_str().unwrap().contains("not sent"));
    assert!(!world.reached().iter().any(|c| c["arguments"]["key"] == "z"), "nothing of a refused batch is sent");
    // A web page's request (another origin) is refused before anything is read.
    agent.headers.push("origin: https://evil.example".into());
    let foreign = agent.post(
        &json!({"jsonrpc":"2.0","id":"o","method":"tools/call",
        "params":{"name":"lookup","arguments":{"key":"from-a-page"}}})
        .to_string(),
    );
    agent.headers.pop();
    assert_eq!(foreign.status, 403);
    assert!(!world.reached().iter().any(|c| c["arguments"]["key"] == "from-a-page"));

    // A tool whose definition changed is held until approved.
    assert_eq!(agent.text("toggle", json!({"on": true})), "switch read");
    let listed = agent.request("tools/list", json!({}));
    assert!(listed["result"]["tools"].as_array().unwrap().len() >= 5, "{listed}");
    let changed = agent.call("toggle", json!({"on": true}));
    let id = hold_id(&changed);
    let show = holdpoint(world.home.path()).args(["show", &id.to_string(), "--json"]).assert().success();
    assert!(String::from_utf8_lossy(&show.get_output().stdout).contains("mcp-tool-changed"));
    world.approve(id, &token);
    assert_eq!(agent.text("toggle", json!({"on": true})), "switch read");
    assert_eq!(agent.text("toggle", json!({"on": false})), "switch read");
}

#[test]
fn a_waiting_http_call_is_answered_with_progress_then_its_refusal() {
    let world = World::new();
    // Long enough for one progress notification (every 5 s) before the hold is answered.
    let mut agent = world.serve_http("hold_wait = \"7s\"", &[], &[]);
    let call = json!({"jsonrpc":"2.0","id":"w","method":"tools/call",
        "params":{"name":"delete_records","arguments":{"table":"t"},"_meta":{"progressToken":"wait-1"}}});
    let posted = agent.post(&call.to_string());
    assert_eq!(posted.status, 200);
    let progress: Vec<&Value> = posted.messages.iter().filter(|m| m["method"] == "notifications/progress").collect();
    assert!(!progress.is_empty(), "{:?}", posted.messages);
    assert_eq!(progress[0]["params"]["progressToken"], "wait-1");
    let answer = posted.messages.last().unwrap();
    assert_eq!(answer["id"], "w");
    refusal(answer, -32001);
    assert!(world.reached().is_empty());
}

#[test]
fn install_edits_codex_toml_keeping_its_comments() {
    let home = TempDir::new().unwrap();
    let original = "# my Codex settings\nmodel = \"o4\"\n\n[mcp_servers.fs]\n# the files of my app\ncommand = \"npx\"\nargs = [\"-y\", \"@modelcontextprotocol/server-filesystem\", \"/w\"]\nenv = { A = \"1\" }\n\n[mcp_servers.remote]\nurl = \"https://mcp.example.com/mcp\"\n";
    let file = home.path().join(".codex/config.toml");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, original).unwrap();
    let run = |verb: &str| -> Value {
        let out =
            holdpoint(home.path()).env("HOME", home.path()).args(["mcp", verb, "codex", "--json"]).assert().success();
        serde_json::from_slice(&out.get_output().stdout).unwrap()
    };
    let report = run("install");
    assert_eq!((report["changed"].clone(), report["servers"].clone()), (json!(true), json!(["fs"])));
    assert_eq!(report["skipped"][0][0], "remote");
    let now = std::fs::read_to_string(&file).unwrap();
    let parsed: toml::Table = toml::from_str(&now).unwrap();
    let fs = &parsed["mcp_servers"]["fs"];
    let exe = assert_cmd::cargo::cargo_bin("holdpoint").display().to_string();
    assert_eq!(fs["command"].as_str(), Some(exe.as_str()));
    let args: Vec<&str> = fs["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    assert_eq!(args, ["mcp", "wrap", "fs", "--", "npx", "-y", "@modelcontextprotocol/server-filesystem", "/w"]);
    assert!(now.contains("# my Codex settings") && now.contains("# the files of my app"), "{now}");
    assert_eq!(std::fs::read_to_string(home.path().join(".codex/config.toml.holdpoint-backup")).unwrap(), original);
    assert_eq!(run("install")["changed"], false, "installing twice changes nothing");
    assert_eq!(run("uninstall")["changed"], true);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), original);
}
