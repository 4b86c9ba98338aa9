//! The approvals console in real Chromium: the real `holdpoint serve`, holds made by real
//! `holdpoint hook claude` calls that wait for a decision, and `tests/ui/console.mjs`
//! (playwright-core driving Debian's /usr/bin/chromium) signing in, approving, denying, two
//! approvers, cancelling during a cool-off, searching the audit log, restoring a checkpoint and
//! a table the PostgreSQL proxy soft-deleted (a real PostgreSQL 15 from the store tests'
//! harness), and being refused with a wrong token or without the CSRF token. The hooks'
//! answers, the restored file and table and the audit log are checked here afterwards.
//! `scripts/setup` installs chromium and the script's node modules.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[allow(dead_code, unused_macros, unused_imports)]
#[path = "../../store/tests/store/common.rs"]
mod common;
#[path = "support/psql.rs"]
mod pgclient;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::{Value, json};
use tempfile::TempDir;

/// Kills a started process when the test ends, however it ends.
struct Guard(Option<Child>);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Guard {
    fn output(mut self) -> Output {
        self.0.take().unwrap().wait_with_output().unwrap()
    }
}

struct Env {
    holdpoint: TempDir,
    home: TempDir,
    work: TempDir,
}

impl Env {
    fn cmd(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_holdpoint"));
        cmd.env("HOLDPOINT_HOME", self.holdpoint.path())
            .env("HOME", self.home.path())
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .current_dir(self.work.path());
        cmd
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = self.cmd().args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn approver(&self, name: &str) -> PathBuf {
        let v = self.json(&["approver", "add", name, "--json"]);
        let file = self.holdpoint.path().join(format!("{name}.token"));
        std::fs::write(&file, v["token"].as_str().unwrap()).unwrap();
        file
    }

    /// A `holdpoint hook claude` call that waits for a decision (it answers when it ends).
    fn hook(&self, command: &str) -> Guard {
        let payload = json!({
            "session_id": "web-ui", "transcript_path": "/tmp/t.jsonl", "cwd": self.work.path(),
            "permission_mode": "default", "hook_event_name": "PreToolUse", "tool_name": "Bash",
            "tool_input": {"command": command}
        });
        let mut child = self
            .cmd()
            .args(["hook", "claude"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(payload.to_string().as_bytes()).unwrap();
        Guard(Some(child))
    }

    /// The open holds' ids, newest first.
    fn pending(&self) -> Vec<u64> {
        let v = self.json(&["pending", "--json"]);
        v["holds"].as_array().unwrap().iter().map(|h| h["id"].as_u64().unwrap()).collect()
    }

    /// Starts a hook and waits until its hold is queued; returns the guard and the hold id.
    fn held(&self, command: &str) -> (Guard, u64) {
        self.held_by(command, || self.hook(command))
    }

    /// Starts whatever makes a hold and waits until the hold is queued.
    fn held_by(&self, what: &str, start: impl FnOnce() -> Guard) -> (Guard, u64) {
        let before = self.pending();
        let process = start();
        for _ in 0..300 {
            let now = self.pending();
            if let Some(id) = now.iter().find(|id| !before.contains(id)) {
                return (process, *id);
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("no hold appeared for {what}");
    }

    /// A `holdpoint hook claude` call of an MCP tool.
    fn mcp_hook(&self, tool: &str, input: Value) -> Guard {
        let payload = json!({
            "session_id": "web-ui", "transcript_path": "/tmp/t.jsonl", "cwd": self.work.path(),
            "permission_mode": "default", "hook_event_name": "PreToolUse", "tool_name": tool, "tool_input": input
        });
        let mut child = self
            .cmd()
            .args(["hook", "claude"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(payload.to_string().as_bytes()).unwrap();
        Guard(Some(child))
    }
}

/// Two free loopback ports (both bound at once, so they differ).
fn free_ports() -> (u16, u16) {
    let a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let b = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    (a.local_addr().unwrap().port(), b.local_addr().unwrap().port())
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

const POLICIES: &str = r#"@id("web-two-person")
@verdict("hold")
@approvers("2")
@reason("shared data needs two approvers")
forbid (principal, action == Holdpoint::Action::"delete", resource)
when { resource.id like "/srv/two*" };

@id("web-cool-off")
@verdict("hold")
@delay_secs("600")
@reason("data under /srv/cool waits ten minutes after approval")
forbid (principal, action == Holdpoint::Action::"delete", resource)
when { resource.id like "/srv/cool*" };
"#;

#[test]
fn the_console_in_chromium_decides_real_holds() {
    let ui = repo().join("tests/ui");
    assert!(
        ui.join("node_modules/playwright-core").is_dir() && Path::new("/usr/bin/chromium").exists(),
        "the browser tests need chromium and tests/ui/node_modules: run scripts/setup"
    );
    let env = Env { holdpoint: TempDir::new().unwrap(), home: TempDir::new().unwrap(), work: TempDir::new().unwrap() };
    std::fs::create_dir(env.work.path().join(".git")).unwrap();
    assert!(env.cmd().arg("init").output().unwrap().status.success());
    let (api, proxy) = free_ports();
    let (pg_listen, _) = free_ports();
    // A production database behind the PostgreSQL proxy: the agent's DROP TABLE is soft-deleted.
    let server = common::Postgres::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = rt.block_on(server.fresh_database("app"));
    let pg_port: u16 = url.rsplit(':').next().unwrap().split('/').next().unwrap().parse().unwrap();
    let direct = format!("host=127.0.0.1 port={pg_port} user=postgres dbname=app");
    let setup = "CREATE ROLE app LOGIN PASSWORD 'app-real-pw'; GRANT CREATE ON SCHEMA public TO app; \
                 GRANT CREATE ON DATABASE app TO app; SET ROLE app; \
                 CREATE TABLE invoices (id int PRIMARY KEY, total numeric); \
                 INSERT INTO invoices SELECT g, g * 2 FROM generate_series(1, 40) g;";
    assert!(psql(&direct, "", setup).0, "setting up the database");
    std::fs::write(
        env.holdpoint.path().join("config/config.toml"),
        format!(
            "hold_wait = \"45s\"\n\n[api]\nlisten = \"127.0.0.1:{api}\"\n\n[proxy]\nlisten = \"127.0.0.1:{proxy}\"\n\n\
             [[postgres]]\nname = \"prod\"\nlisten = \"127.0.0.1:{pg_listen}\"\nupstream = \"127.0.0.1:{pg_port}\"\n\
             database = \"app\"\ncredential = \"prod-db\"\n"
        ),
    )
    .unwrap();
    std::fs::write(env.holdpoint.path().join("config/policies/web.cedar"), POLICIES).unwrap();
    let alice = env.approver("alice");
    let bob = env.approver("bob");
    // A vault secret handed out as a query parameter: the console shows its placeholder by name.
    let key = env.holdpoint.path().join("vault.key");
    std::fs::write(&key, format!("{}\n", "5a".repeat(32))).unwrap();
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let mut add = env.cmd();
    add.args(["vault", "add", "graph-api", "--host", "127.0.0.1", "--kind", "query", "--param", "key", "--json"])
        .env("HOLDPOINT_VAULT_KEY_FILE", &key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    let mut adding = add.spawn().unwrap();
    adding.stdin.take().unwrap().write_all(b"gq-real-secret-1").unwrap();
    let added = adding.wait_with_output().unwrap();
    assert!(added.status.success());
    let placeholder =
        serde_json::from_slice::<Value>(&added.stdout).unwrap()["placeholders"]["value"].as_str().unwrap().to_owned();
    let mut add = env.cmd();
    add.args(["vault", "add", "prod-db", "--host", "127.0.0.1", "--kind", "postgres", "--json"])
        .env("HOLDPOINT_VAULT_KEY_FILE", &key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    let mut adding = add.spawn().unwrap();
    adding.stdin.take().unwrap().write_all(b"app:app-real-pw").unwrap();
    let added = adding.wait_with_output().unwrap();
    assert!(added.status.success());
    let db_placeholder =
        serde_json::from_slice::<Value>(&added.stdout).unwrap()["placeholders"]["value"].as_str().unwrap().to_owned();

    // A checkpoint to restore from the browser, then the agent changes the file.
    let notes = env.work.path().join("notes.txt");
    std::fs::write(&notes, "original").unwrap();
    let checkpoint = env.json(&["checkpoint", "create", "--json"])["id"].as_u64().unwrap();
    std::fs::write(&notes, "changed by the agent").unwrap();

    let log = env.holdpoint.path().join("serve.log");
    let serve = Guard(Some(
        env.cmd()
            .arg("serve")
            .env("HOLDPOINT_VAULT_KEY_FILE", &key)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    ));
    let ready = (0..300).any(|_| {
        let up = std::net::TcpStream::connect(("127.0.0.1", api)).is_ok();
        if !up {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        up
    });
    assert!(ready, "the console did not start: {}", std::fs::read_to_string(&log).unwrap_or_default());

    // The agent drops a table through the proxy: it lands in the trash, restorable from the page.
    let through_proxy = format!("host=127.0.0.1 port={pg_listen} user=agent dbname=app");
    let (ok, out, err) = psql(&through_proxy, &db_placeholder, "DROP TABLE invoices");
    assert!(ok && out.trim() == "DROP TABLE", "{out}{err}");
    let rows = || psql(&direct, "", "SELECT count(*) FROM invoices").1.trim().to_owned();
    assert_ne!(rows(), "40", "the table is in the trash");

    let (approve_hook, approve) = env.held("rm -rf /var/lib/app/data");
    let (deny_hook, deny) = env.held("rm -rf /var/lib/app/logs");
    let (two_hook, two) = env.held("rm -rf /srv/two/shared");
    let (cool_hook, cool) = env.held("rm -rf /srv/cool/cache");
    // Other channels: a GraphQL mutation through the egress proxy (held before it is sent
    // anywhere), and an MCP tool call from the hook.
    let graphql = r#"{"query":"mutation Wipe { volumeDelete(id: \"vol-1\") }","operationName":"Wipe"}"#;
    let (curl, http) = env.held_by("a GraphQL mutation", || {
        Guard(Some(
            Command::new("curl")
                .args(["-s", "-o", "/dev/null", "--max-time", "60", "-x", &format!("http://127.0.0.1:{proxy}")])
                .args(["-X", "POST", "-H", "Content-Type: application/json", "-d", graphql])
                .arg(format!("http://127.0.0.1:1/graphql?key={placeholder}"))
                .stdin(Stdio::null())
                .spawn()
                .unwrap(),
        ))
    });
    let (_mcp_hook, mcp) = env.held_by("an MCP tool call", || {
        env.mcp_hook("mcp__github__delete_repository", json!({"owner": "acme", "repo": "billing"}))
    });
    let holds = json!({
        "http": {"id": http, "placeholder": placeholder},
        "mcp": {"id": mcp},
        "approve": {"id": approve, "command": "rm -rf /var/lib/app/data"},
        "deny": {"id": deny, "command": "rm -rf /var/lib/app/logs"},
        "two": {"id": two, "command": "rm -rf /srv/two/shared"},
        "cool": {"id": cool, "command": "rm -rf /srv/cool/cache"},
    });

    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("web_ui");
    let _ = std::fs::remove_dir_all(&shots);
    std::fs::create_dir_all(&shots).unwrap();
    let profile = TempDir::new().unwrap();
    let node = Command::new("node")
        .arg(ui.join("console.mjs"))
        .current_dir(&ui)
        .env("HP_URL", format!("http://127.0.0.1:{api}/"))
        .env("HP_ALICE", &alice)
        .env("HP_BOB", &bob)
        .env("HP_SHOTS", &shots)
        .env("HP_PROFILE", profile.path())
        .env("HP_HOLDS", holds.to_string())
        .env("HP_CHECKPOINT", checkpoint.to_string())
        .env("HP_TRASH", "prod/1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&node.stdout);
    let stderr = String::from_utf8_lossy(&node.stderr);
    println!("{stdout}");
    assert!(node.status.success(), "browser flows failed (screenshots in {}):\n{stdout}\n{stderr}", shots.display());
    for step in [
        "wrong token refused",
        "signed in",
        "inbox shows the hold",
        "channels",
        "approved",
        "denied",
        "two-person",
        "cancelled during cool-off",
        "hold page",
        "audit search",
        "restored a checkpoint",
        "restored from the trash",
        "csrf refused",
        "no console errors",
    ] {
        assert!(stdout.lines().any(|l| l == format!("ok {step}")), "step {step:?} did not pass:\n{stdout}");
    }
    for shot in ["inbox.png", "channels.png", "two-person.png", "cool-off.png", "audit.png", "recover.png"] {
        let len = std::fs::metadata(shots.join(shot)).map(|m| m.len()).unwrap_or(0);
        assert!(len > 1000, "screenshot {shot} was taken");
    }

    // The waiting hooks got the decisions at once.
    let answer = |g: Guard| String::from_utf8(g.output().stdout).unwrap();
    assert_eq!(answer(approve_hook).trim(), "{}", "approved in the browser: the hook allows");
    let denied = answer(deny_hook);
    assert!(denied.contains("\"permissionDecision\":\"deny\""), "{denied}");
    assert_eq!(answer(two_hook).trim(), "{}", "released by the second approver");
    let cancelled = answer(cool_hook);
    assert!(cancelled.contains("\"permissionDecision\":\"deny\""), "{cancelled}");

    // The checkpoint and the table came back, and the restores are in the audit log with their
    // approver.
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "original");
    assert_eq!(rows(), "40", "the table is back with its rows");
    let out = env.cmd().args(["audit", "show", "--json"]).output().unwrap();
    let records: Vec<Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let restore = records.iter().find(|r| r["detail"]["event"] == "checkpoint-restore").expect("restore audited");
    assert_eq!(restore["detail"]["approver"], "bob", "bob is signed in by then");
    assert_eq!(restore["detail"]["checkpoint"], checkpoint);
    let kinds: Vec<&str> = records.iter().filter_map(|r| r["kind"].as_str()).collect();
    for kind in ["approved", "denied", "cancelled", "executed"] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    assert!(env.cmd().args(["audit", "verify"]).output().unwrap().status.success());

    // SIGTERM with a live event stream open: the stream ends and serve stops.
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let token = std::fs::read_to_string(&alice).unwrap();
    let mut signed = agent
        .post(format!("http://127.0.0.1:{api}/api/session"))
        .header("Content-Type", "application/json")
        .send(json!({ "token": token.trim() }).to_string())
        .unwrap();
    let cookie = signed.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let csrf = serde_json::from_str::<Value>(&signed.body_mut().read_to_string().unwrap()).unwrap()["csrf"]
        .as_str()
        .unwrap()
        .to_owned();
    let stream = agent
        .get(format!("http://127.0.0.1:{api}/api/events"))
        .header("Cookie", &cookie)
        .header("X-CSRF-Token", &csrf)
        .call()
        .unwrap();
    assert_eq!(stream.status().as_u16(), 200);
    let mut reader = std::io::BufReader::new(stream.into_body().into_reader());
    let mut first = String::new();
    while !first.starts_with("data:") {
        first.clear();
        assert!(std::io::BufRead::read_line(&mut reader, &mut first).unwrap() > 0, "an event arrives");
    }
    // (The held curl request would keep the proxy's graceful shutdown waiting.)
    drop(curl);
    let pid = serve.0.as_ref().unwrap().id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let mut rest = String::new();
    let _ = std::io::Read::read_to_string(&mut reader, &mut rest);
    let mut serve = serve;
    let stopped = (0..300).any(|_| {
        let done = serve.0.as_mut().unwrap().try_wait().unwrap().is_some();
        if !done {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        done
    });
    assert!(stopped, "serve stops on SIGTERM with an event stream open");
    drop(serve);
    let served = std::fs::read_to_string(&log).unwrap();
    assert!(served.contains("holdpoint: stopped"), "{served}");
    for token in [&alice, &bob] {
        let token = std::fs::read_to_string(token).unwrap();
        assert!(!served.contains(token.trim()), "no token in the server's output");
    }
}

/// psql with a connection string and a password: (success, stdout, stderr).
fn psql(conninfo: &str, password: &str, sql: &str) -> (bool, String, String) {
    pgclient::psql_script(conninfo, password, &["-tA", "-c", sql], "")
}
