//! The PostgreSQL proxy, end to end with real processes: a PostgreSQL 15 cluster (the store
//! tests' harness), `holdpoint serve` with a `[[postgres]]` block and a vault key file, and
//! psql connecting through the proxy with the vault placeholder as its password.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[allow(dead_code, unused_macros, unused_imports)]
#[path = "../../store/tests/store/common.rs"]
mod common;
#[allow(dead_code)]
#[path = "support/psql.rs"]
mod pgclient;
#[path = "support/serve.rs"]
mod serve_support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;
use serve_support::Serve;
use tempfile::TempDir;

/// The real upstream password: nothing a client receives may contain it.
const REAL_PASSWORD: &str = "real-pw-Zq81x";

fn holdpoint(home: &Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("holdpoint").unwrap();
    cmd.env("HOLDPOINT_HOME", home).env_remove("HOLDPOINT_VAULT_KEY_FILE");
    cmd
}

/// psql with a connection string; stdin is `script` when given.
fn psql(conninfo: &str, password: &str, args: &[&str], script: Option<&str>) -> Output {
    pgclient::psql(
        conninfo,
        password,
        &[&["-q", "-tA", "-v", "VERBOSITY=verbose"], args].concat(),
        script.unwrap_or(""),
    )
}

/// pgbench through the proxy with a script file, no vacuum.
fn pgbench(host: &str, port: &str, password: &str, args: &[&str], script: &Path) -> Output {
    pgclient::client("pgbench", password)
        .args(["-n", "-h", host, "-p", port, "-U", "agent"])
        .args(args)
        .arg(script)
        .arg("app")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(out: &Output) -> (String, String) {
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

struct Gateway {
    serve: Serve,
    pg: String,
}

/// `holdpoint serve` with the vault key; the PostgreSQL proxy's address from its log.
fn serve(home: &Path, key: &Path) -> Gateway {
    const PG: &str = "PostgreSQL proxy prod listening on postgres://";
    let serve = Serve::start(home, key, |lines| lines.last().is_some_and(|l| l.contains(PG)));
    let pg = serve.after(PG, '/').unwrap();
    Gateway { serve, pg }
}

/// The scheduling policy (0 normal, 3 batch, 5 idle) and nice value of every thread of the
/// process named `name` (`/proc/PID/task/*/stat`, fields 41 and 19).
fn thread_scheduling(pid: u32, name: &str) -> Vec<(u32, i32)> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).unwrap();
    tasks
        .filter_map(|task| {
            let stat = std::fs::read_to_string(task.ok()?.path().join("stat")).ok()?;
            let (comm, rest) = stat.split_once(" (")?.1.rsplit_once(") ")?;
            // Fields from the third on.
            let field = |n: usize| rest.split(' ').nth(n - 3);
            (comm == name).then(|| Some((field(41)?.parse().ok()?, field(19)?.parse().ok()?)))?
        })
        .collect()
}

/// Sends a typed message.
fn send(stream: &mut TcpStream, tag: u8, body: &[u8]) {
    let mut m = vec![tag];
    m.extend_from_slice(&i32::try_from(body.len() + 4).unwrap().to_be_bytes());
    m.extend_from_slice(body);
    stream.write_all(&m).unwrap();
}

/// Reads a typed message.
fn receive(stream: &mut TcpStream, all: &mut Vec<u8>) -> (u8, Vec<u8>) {
    let mut head = [0u8; 5];
    stream.read_exact(&mut head).unwrap();
    let len = usize::try_from(i32::from_be_bytes(head[1..5].try_into().unwrap())).unwrap() - 4;
    let mut body = vec![0; len];
    stream.read_exact(&mut body).unwrap();
    all.extend_from_slice(&head);
    all.extend_from_slice(&body);
    (head[0], body)
}

/// A SCRAM exchange with a wrong proof, on the raw protocol: the error's SQLSTATE, and every
/// byte the client received.
fn wrong_password_raw(addr: &str) -> (String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut startup = 196_608i32.to_be_bytes().to_vec();
    startup.extend_from_slice(b"user\0agent\0database\0app\0\0");
    let mut packet = i32::try_from(startup.len() + 4).unwrap().to_be_bytes().to_vec();
    packet.extend_from_slice(&startup);
    s.write_all(&packet).unwrap();
    let mut all = Vec::new();
    let (tag, body) = receive(&mut s, &mut all);
    assert_eq!((tag, &body[..4]), (b'R', &10i32.to_be_bytes()[..]), "SCRAM is offered");
    let first = b"n,,n=,r=clientnonce0123456789";
    let mut initial = b"SCRAM-SHA-256\0".to_vec();
    initial.extend_from_slice(&i32::try_from(first.len()).unwrap().to_be_bytes());
    initial.extend_from_slice(first);
    send(&mut s, b'p', &initial);
    let (tag, body) = receive(&mut s, &mut all);
    assert_eq!(tag, b'R');
    let server_first = String::from_utf8(body[4..].to_vec()).unwrap();
    let nonce = server_first.split(',').find_map(|a| a.strip_prefix("r=")).unwrap();
    let last = format!("c=biws,r={nonce},p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    send(&mut s, b'p', last.as_bytes());
    let (tag, body) = receive(&mut s, &mut all);
    assert_eq!(tag, b'E', "{}", String::from_utf8_lossy(&body));
    let code = body
        .split(|b| *b == 0)
        .find_map(|f| f.strip_prefix(b"C"))
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .unwrap();
    (code, all)
}

#[test]
fn statements_are_decided_held_released_once_and_the_real_password_stays_hidden() {
    let server = common::Postgres::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = rt.block_on(server.fresh_database("app"));
    let port: u16 = url.rsplit(':').next().unwrap().split('/').next().unwrap().parse().unwrap();
    let direct = format!("host=127.0.0.1 port={port} user=postgres dbname=app");
    let setup = format!(
        "CREATE ROLE app LOGIN PASSWORD '{REAL_PASSWORD}';
         CREATE TABLE users (id int PRIMARY KEY, name text NOT NULL);
         INSERT INTO users VALUES (1, 'ada'), (2, 'grace');
         ALTER TABLE users OWNER TO app;
         GRANT CREATE ON SCHEMA public TO app;"
    );
    let out = psql(&direct, "", &["-v", "ON_ERROR_STOP=1"], Some(&setup));
    assert!(out.status.success(), "{:?}", text(&out));
    // The role `app` must now prove its password with SCRAM-SHA-256 over TCP.
    let hba = text(&psql(&direct, "", &["-c", "SHOW hba_file"], None)).0.trim().to_owned();
    let rewrite = format!(
        "COPY (SELECT l FROM (VALUES (1, 'host all app 127.0.0.1/32 scram-sha-256'), \
         (2, 'host all all 127.0.0.1/32 trust'), (3, 'local all all trust')) v(n, l) ORDER BY n) TO '{hba}';
         SELECT pg_reload_conf();"
    );
    let out = psql(&direct, "", &["-v", "ON_ERROR_STOP=1"], Some(&rewrite));
    assert!(out.status.success(), "{:?}", text(&out));
    let as_app = format!("host=127.0.0.1 port={port} user=app dbname=app");
    let refused = psql(&as_app, "not-the-password", &["-c", "SELECT 1"], None);
    assert!(!refused.status.success(), "the server asks app for its password: {:?}", text(&refused));
    let count = || text(&psql(&direct, "", &["-c", "SELECT count(*) FROM users"], None)).0.trim().to_owned();

    let home = TempDir::new().unwrap();
    holdpoint(home.path()).arg("init").assert().success();
    let key: PathBuf = home.path().join("vault.key");
    std::fs::write(&key, format!("{}\n", "5a".repeat(32))).unwrap();
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let added = holdpoint(home.path())
        .args(["vault", "add", "prod-db", "--host", "127.0.0.1", "--kind", "postgres", "--json"])
        .env("HOLDPOINT_VAULT_KEY_FILE", &key)
        .write_stdin(format!("app:{REAL_PASSWORD}"))
        .assert()
        .success();
    let v: Value = serde_json::from_slice(&added.get_output().stdout).unwrap();
    let placeholder = v["placeholders"]["value"].as_str().unwrap().to_owned();
    assert!(placeholder.starts_with("hp_"), "{v}");
    let config = format!(
        "hold_wait = \"0s\"\n\n[api]\nlisten = \"127.0.0.1:0\"\n\n[proxy]\nlisten = \"127.0.0.1:0\"\n\n[[postgres]]\nname = \"prod\"\n\
         listen = \"127.0.0.1:0\"\nupstream = \"127.0.0.1:{port}\"\ndatabase = \"app\"\n\
         credential = \"prod-db\"\n"
    );
    std::fs::write(home.path().join("config/config.toml"), config).unwrap();
    let gw = serve(home.path(), &key);
    let (host, pg_port) = gw.pg.rsplit_once(':').unwrap();
    let proxy = format!("host={host} port={pg_port} user=agent dbname=app sslmode=prefer");
    let mut received = String::new();
    let mut run = |args: &[&str], script: Option<&str>| -> (bool, String, String) {
        let out = psql(&proxy, &placeholder, args, script);
        let (stdout, stderr) = text(&out);
        received.push_str(&stdout);
        received.push_str(&stderr);
        (out.status.success(), stdout, stderr)
    };

    // A read passes, with its rows; several result sets and notices are relayed.
    let (ok, rows, err) = run(&["-c", "SELECT name FROM users ORDER BY id"], None);
    assert!(ok, "{err}");
    assert_eq!(rows, "ada\ngrace\n");
    // The sessions' thread (its name cut to 15 bytes) is an ordinary one, which preempts
    // background work when it wakes; the audit writer and SQLite's connection workers are
    // background work: ordinary threads at nice 10, never starved as `SCHED_IDLE` ones are
    // (the workers open when `serve` starts; the pool may open more later).
    let pid = gw.serve.pid();
    assert_eq!(thread_scheduling(pid, "holdpoint-pg-pr"), [(0, 0)], "SCHED_OTHER");
    assert_eq!(thread_scheduling(pid, "holdpoint-audit"), [(0, 10)], "SCHED_OTHER, nice 10");
    let sqlite = thread_scheduling(pid, "sqlx-sqlite-wor");
    assert!(sqlite.contains(&(0, 10)), "SCHED_OTHER, nice 10: {sqlite:?}");
    let (ok, rows, err) = run(&["-c", "SELECT 1; SELECT 'two'"], None);
    assert!(ok, "{err}");
    assert_eq!(rows, "1\ntwo\n");
    let (ok, _, err) = run(&["-c", "CREATE TABLE IF NOT EXISTS users (id int)"], None);
    assert!(ok && err.contains("already exists, skipping"), "{err}");
    // The session is the upstream's own user, not the agent's.
    let (_, who, _) = run(&["-c", "SELECT current_user"], None);
    assert_eq!(who, "app\n");

    // A DELETE whose WHERE is always true is held: HP001 with the hold sentence, and nothing is
    // deleted. (A plain DELETE FROM users would be a soft delete: tests/pg_trash.rs.)
    let (ok, _, err) = run(&["-c", "DELETE FROM users WHERE true"], None);
    assert!(!ok, "{err}");
    assert!(err.contains("HP001") && err.contains("Holdpoint held this action as hold 1"), "{err}");
    assert!(err.contains("holdpoint approve 1"), "{err}");
    assert_eq!(count(), "2");

    // DROP TABLE ... CASCADE cannot go to the trash: held; the table is still there.
    let (ok, _, err) = run(&["-c", "DROP TABLE users CASCADE"], None);
    assert!(!ok && err.contains("HP001") && err.contains("as hold 2"), "{err}");
    assert_eq!(count(), "2");

    // A soft delete whose trash cannot be made (app may not create schemas) fails as a whole:
    // PostgreSQL's own error, and nothing is deleted.
    let (ok, _, err) = run(&["-c", "DELETE FROM users"], None);
    assert!(!ok && err.contains("42501"), "{err}");
    assert_eq!(count(), "2");

    // A refusal inside a transaction block aborts it, as an error would.
    let (_, out, err) = run(
        &[],
        Some("BEGIN;\nINSERT INTO users VALUES (3, 'linus');\nDROP TABLE users CASCADE;\nSELECT 42;\nCOMMIT;\n"),
    );
    assert!(err.contains("HP001") && err.contains("25P02"), "{err}");
    assert!(!out.contains("42"), "{out}");
    assert_eq!(count(), "2", "the transaction was rolled back");

    // The extended protocol is classified at Parse. psql's \gdesc prepares with Parse and
    // Describe: an allowed statement is described, a held one refused at Parse, and the session
    // goes on.
    let (_, out, err) = run(&[], Some("SELECT 1 AS a \\gdesc\nDROP TABLE users CASCADE \\gdesc\nSELECT 'after';\n"));
    assert!(err.contains("HP001"), "{err}");
    assert_eq!(out, "a|integer\nafter\n");
    // pgbench: extended and prepared statements, pipelined.
    let bench_dir = TempDir::new().unwrap();
    let script = |name: &str, text: &str| {
        let path = bench_dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let reads = script("reads.sql", "\\set id random(1, 2)\nSELECT name FROM users WHERE id = :id;\n");
    let piped = script(
        "piped.sql",
        "\\set id random(1, 2)\n\\startpipeline\nSELECT 1;\nSELECT name FROM users WHERE id = :id;\n\
         UPDATE users SET name = name WHERE id = :id;\n\\endpipeline\n",
    );
    let held =
        script("held.sql", "\\startpipeline\nSELECT 1;\nDELETE FROM users WHERE true;\nSELECT 2;\n\\endpipeline\n");
    for (mode, file) in [("extended", &reads), ("prepared", &reads), ("extended", &piped), ("prepared", &piped)] {
        let out = pgbench(host, pg_port, &placeholder, &["-M", mode, "-c", "2", "-t", "20", "-f"], file);
        assert!(out.status.success(), "{mode} {}: {:?}", file.display(), text(&out));
        assert!(text(&out).0.contains("number of transactions actually processed: 40/40"), "{:?}", text(&out));
    }
    for mode in ["extended", "prepared"] {
        let out = pgbench(host, pg_port, &placeholder, &["-M", mode, "-c", "1", "-t", "1", "-f"], &held);
        let (stdout, stderr) = text(&out);
        assert!(!out.status.success(), "{stdout}");
        assert!(stderr.contains("Holdpoint held this action as hold"), "{mode}: {stderr}");
        assert!(!stdout.contains(REAL_PASSWORD) && !stderr.contains(REAL_PASSWORD));
    }
    assert_eq!(count(), "2");

    // sqlx, a driver that prepares every statement (named, Parse/Describe/Sync then
    // Bind/Execute/Sync): reads pass with their parameters; a held statement is refused with
    // HP001 at its Parse and the connection goes on, in and out of a transaction.
    rt.block_on(async {
        let options = sqlx::postgres::PgConnectOptions::new()
            .host(host)
            .port(pg_port.parse().unwrap())
            .username("agent")
            .password(&placeholder)
            .database("app")
            // The agent's side is plaintext on loopback, whatever PGSSLMODE says.
            .ssl_mode(sqlx::postgres::PgSslMode::Disable);
        let mut conn = sqlx::ConnectOptions::connect(&options).await.unwrap();
        let name: String =
            sqlx::query_scalar("SELECT name FROM users WHERE id = $1").bind(2).fetch_one(&mut conn).await.unwrap();
        assert_eq!(name, "grace");
        let held = sqlx::query("DELETE FROM users WHERE id = $1 OR true").bind(1).execute(&mut conn).await.unwrap_err();
        let db = held.as_database_error().unwrap();
        assert_eq!(db.code().as_deref(), Some("HP001"), "{held}");
        assert!(db.message().contains("Holdpoint held this action as hold"), "{held}");
        let mut tx = sqlx::Connection::begin(&mut conn).await.unwrap();
        sqlx::query("INSERT INTO users VALUES ($1, $2)").bind(4).bind("edsger").execute(&mut *tx).await.unwrap();
        let held = sqlx::query("DROP TABLE users CASCADE").execute(&mut *tx).await.unwrap_err();
        assert_eq!(held.as_database_error().and_then(|e| e.code()).as_deref(), Some("HP001"), "{held}");
        tx.rollback().await.unwrap();
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM users").fetch_one(&mut conn).await.unwrap();
        assert_eq!(n, 2, "the transaction was rolled back");
        sqlx::Connection::close(conn).await.unwrap();
    });

    // COPY both ways goes through (the CopyData of either side is relayed).
    let (ok, rows, err) = run(&["-c", "COPY (SELECT id, name FROM users ORDER BY id) TO STDOUT"], None);
    assert!(ok, "{err}");
    assert_eq!(rows, "1\tada\n2\tgrace\n");
    let (ok, _, err) = run(&["-v", "ON_ERROR_STOP=1"], Some("COPY users FROM STDIN;\n3\tlinus\n\\.\n"));
    assert!(ok, "{err}");
    assert_eq!(count(), "3");
    let (ok, _, err) = run(&["-c", "DELETE FROM users WHERE id = 3"], None);
    assert!(ok, "{err}");

    // A cancel request reaches the server: psql sends it on SIGINT, to the proxy's address.
    let mut sleeper = pgclient::command(&proxy, &placeholder)
        .args(["-q", "-v", "VERBOSITY=verbose", "-c", "SELECT pg_sleep(60)"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let sleeping = || {
        text(&psql(
            &direct,
            "",
            &["-c", "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(60)'"],
            None,
        ))
        .0
    };
    let mut attempts = 0;
    while sleeping().trim() != "1" {
        attempts += 1;
        assert!(attempts < 400, "the sleep never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    Command::new("kill").args(["-INT", &sleeper.id().to_string()]).status().unwrap();
    let mut err = String::new();
    sleeper.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    sleeper.wait().unwrap();
    assert!(err.contains("57014"), "{err}");

    // Approved, the same DROP passes once; the next identical one is held again.
    let approver = holdpoint(home.path()).args(["approver", "add", "alice", "--json"]).assert().success();
    let v: Value = serde_json::from_slice(&approver.get_output().stdout).unwrap();
    let token = home.path().join("alice.token");
    std::fs::write(&token, v["token"].as_str().unwrap()).unwrap();
    holdpoint(home.path()).args(["approve", "2", "--token-file"]).arg(&token).assert().success();
    let (ok, _, err) = run(&["-c", "DROP TABLE users CASCADE"], None);
    assert!(ok, "{err}");
    let exists = text(&psql(&direct, "", &["-c", "SELECT to_regclass('public.users') IS NULL"], None)).0;
    assert_eq!(exists.trim(), "t", "the table was dropped");
    let (ok, _, err) = run(&["-c", "DROP TABLE users CASCADE"], None);
    assert!(!ok && err.contains("HP001"), "{err}");

    // Another database, or a wrong password, is refused.
    let other = psql(
        &format!("host={host} port={pg_port} user=agent dbname=postgres"),
        &placeholder,
        &["-c", "SELECT 1"],
        None,
    );
    assert!(!other.status.success() && text(&other).1.contains("serves database \"app\" only"), "{:?}", text(&other));
    let wrong = psql(&proxy, "hp_not_the_placeholder", &["-c", "SELECT 1"], None);
    let (_, wrong_err) = text(&wrong);
    assert!(!wrong.status.success() && wrong_err.contains("password authentication failed"), "{wrong_err}");
    received.push_str(&wrong_err);
    let (code, bytes) = wrong_password_raw(&gw.pg);
    assert_eq!(code, "28P01");

    // Every decision is in the audit log on the sql channel.
    drop(gw);
    let audit = holdpoint(home.path()).args(["audit", "export"]).assert().success();
    let audit = String::from_utf8_lossy(&audit.get_output().stdout).into_owned();
    assert!(audit.contains("\"sql\"") && audit.contains("DROP TABLE users"), "{audit}");
    assert!(!audit.contains(REAL_PASSWORD));

    // The real password never reached the client.
    assert!(!received.contains(REAL_PASSWORD));
    assert!(!String::from_utf8_lossy(&bytes).contains(REAL_PASSWORD));
}
