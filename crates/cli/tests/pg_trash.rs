//! Soft deletes through the PostgreSQL proxy, against a real PostgreSQL 15 cluster (the store
//! tests' harness): `DROP TABLE`, `TRUNCATE` and `DELETE` without `WHERE` are rewritten into
//! the trash, `holdpoint trash restore` gives back exactly what was there (rows by checksum,
//! indexes, constraints, sequences), a purge is held then released once, and what the trash
//! cannot take back faithfully (CASCADE, dependent views) is held or fails as PostgreSQL would.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[allow(dead_code, unused_macros, unused_imports)]
#[path = "../../store/tests/store/common.rs"]
mod common;
#[path = "support/psql.rs"]
mod pgclient;
#[path = "support/serve.rs"]
mod serve_support;

use std::path::{Path, PathBuf};

use serde_json::Value;
use serve_support::Serve;
use tempfile::TempDir;

const REAL_PASSWORD: &str = "real-pw-Trash9";

fn holdpoint(home: &Path, key: &Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("holdpoint").unwrap();
    cmd.env("HOLDPOINT_HOME", home).env("HOLDPOINT_VAULT_KEY_FILE", key);
    cmd
}

/// psql (command tags printed), stdin `script`; (success, stdout, stderr).
fn psql(conninfo: &str, password: &str, script: &str) -> (bool, String, String) {
    pgclient::psql_script(conninfo, password, &["-tA", "-v", "VERBOSITY=verbose"], script)
}

struct Gateway {
    _serve: Serve,
    /// The PostgreSQL proxy's address.
    pg: String,
    /// The approvals console's base URL.
    console: String,
}

fn serve(home: &Path, key: &Path) -> Gateway {
    const PG: &str = "PostgreSQL proxy prod listening on postgres://";
    let serve = Serve::start(home, key, |lines| lines.last().is_some_and(|l| l.contains(PG)));
    let pg = serve.after(PG, '/').unwrap();
    let console = serve.after("approvals console on ", ' ').unwrap().trim_end_matches('/').to_owned();
    Gateway { _serve: serve, pg, console }
}

/// A Holdpoint home whose vault holds the database's real credential (`prod-db`, kind
/// postgres) and whose config has one `[[postgres]]` block, `prod`, in front of the server on
/// `port`; with the vault key file and the placeholder agents give as password.
fn gateway_home(port: u16) -> (TempDir, PathBuf, String) {
    let home = TempDir::new().unwrap();
    let key: PathBuf = home.path().join("vault.key");
    std::fs::write(&key, format!("{}\n", "7c".repeat(32))).unwrap();
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    holdpoint(home.path(), &key).arg("init").assert().success();
    let added = holdpoint(home.path(), &key)
        .args(["vault", "add", "prod-db", "--host", "127.0.0.1", "--kind", "postgres", "--json"])
        .write_stdin(format!("app:{REAL_PASSWORD}"))
        .assert()
        .success();
    let v: Value = serde_json::from_slice(&added.get_output().stdout).unwrap();
    let placeholder = v["placeholders"]["value"].as_str().unwrap().to_owned();
    let config = format!(
        "hold_wait = \"0s\"\n\n[api]\nlisten = \"127.0.0.1:0\"\n\n[proxy]\nlisten = \"127.0.0.1:0\"\n\n[[postgres]]\nname = \"prod\"\n\
         listen = \"127.0.0.1:0\"\nupstream = \"127.0.0.1:{port}\"\ndatabase = \"app\"\n\
         credential = \"prod-db\"\n"
    );
    std::fs::write(home.path().join("config/config.toml"), config).unwrap();
    (home, key, placeholder)
}

/// Everything a restore must give back, read directly: rows (count and checksum), indexes,
/// constraints, the serial sequence's next value.
fn fingerprint(direct: &str, table: &str) -> String {
    let sql = format!(
        "SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {table} t;
         SELECT indexname || ': ' || regexp_replace(indexdef, ' ON public\\.', ' ON ') FROM pg_indexes
           WHERE schemaname = 'public' AND tablename = '{table}' ORDER BY 1;
         SELECT conname || ': ' || pg_get_constraintdef(oid) FROM pg_constraint
           WHERE conrelid = 'public.{table}'::regclass ORDER BY 1;
         SELECT coalesce(pg_get_serial_sequence('public.{table}', 'id'), 'no sequence');"
    );
    let (ok, out, err) = psql(direct, "", &sql);
    assert!(ok, "{err}");
    out
}

fn trash_list(home: &Path, key: &Path) -> Vec<Value> {
    let out = holdpoint(home, key).args(["trash", "list", "--json"]).assert().success();
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    v["trash"].as_array().unwrap().clone()
}

#[test]
fn soft_deletes_are_restored_exactly_purges_are_held_and_cascades_are_held() {
    let server = common::Postgres::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = rt.block_on(server.fresh_database("app"));
    let port: u16 = url.rsplit(':').next().unwrap().split('/').next().unwrap().parse().unwrap();
    let direct = format!("host=127.0.0.1 port={port} user=postgres dbname=app");
    let as_app = format!("host=127.0.0.1 port={port} user=app dbname=app");
    let (ok, _, err) = psql(
        &direct,
        "",
        &format!(
            "\\set ON_ERROR_STOP 1
             CREATE ROLE app LOGIN PASSWORD '{REAL_PASSWORD}';
             GRANT CREATE ON DATABASE app TO app;
             GRANT CREATE ON SCHEMA public TO app;"
        ),
    );
    assert!(ok, "{err}");
    let tables = "\\set ON_ERROR_STOP 1
        CREATE TABLE kept (id serial PRIMARY KEY, name text NOT NULL UNIQUE, qty int CHECK (qty >= 0),
                           at timestamptz DEFAULT '2026-01-01');
        CREATE INDEX kept_qty ON kept (qty) WHERE qty > 10;
        INSERT INTO kept (name, qty) SELECT 'n' || g, g % 50 FROM generate_series(1, 1000) g;
        CREATE TABLE emptied (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, body text, n numeric,
                              twice int GENERATED ALWAYS AS (length(body) * 2) STORED);
        INSERT INTO emptied (body, n) SELECT md5(g::text), g / 7.0 FROM generate_series(1, 500) g;
        INSERT INTO emptied (body, n) VALUES (NULL, NULL), ('it''s \\ $x$', -0.5);
        CREATE TABLE owner (id int PRIMARY KEY);
        INSERT INTO owner SELECT generate_series(1, 300);
        CREATE TABLE deleted (id bigserial PRIMARY KEY, owner_id int REFERENCES owner (id), note text);
        INSERT INTO deleted (owner_id, note) SELECT g, repeat('x', g % 9) FROM generate_series(1, 300) g;
        CREATE TABLE base (id int PRIMARY KEY);
        CREATE VIEW base_view AS SELECT id FROM base;
        INSERT INTO base VALUES (1), (2);";
    let (ok, _, err) = psql(&as_app, "", tables);
    assert!(ok, "{err}");
    let before_kept = fingerprint(&direct, "kept");
    let before_emptied = fingerprint(&direct, "emptied");
    let before_deleted = fingerprint(&direct, "deleted");
    assert!(before_kept.starts_with("1000|"), "{before_kept}");

    let (home, key, placeholder) = gateway_home(port);
    let gw = serve(home.path(), &key);
    let (host, pg_port) = gw.pg.rsplit_once(':').unwrap();
    let proxy = format!("host={host} port={pg_port} user=agent dbname=app");
    let run = |script: &str| psql(&proxy, &placeholder, script);
    let exists = |table: &str| psql(&direct, "", &format!("SELECT to_regclass('public.{table}') IS NOT NULL")).1;

    // The trash is empty before anything was trashed.
    assert!(trash_list(home.path(), &key).is_empty());

    // DROP TABLE: the client sees DROP TABLE; the table is in the trash, not in public.
    let (ok, out, err) = run("DROP TABLE kept;\n");
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "DROP TABLE", "{err}");
    assert_eq!(exists("kept").trim(), "f");
    // TRUNCATE and DELETE without WHERE: their own tags, rows copied first.
    let (ok, out, err) = run("TRUNCATE emptied;\nDELETE FROM deleted;\n");
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "TRUNCATE TABLE\nDELETE 300", "{err}");
    let count = |t: &str| psql(&direct, "", &format!("SELECT count(*) FROM {t}")).1.trim().to_owned();
    assert_eq!((count("emptied"), count("deleted")), ("0".into(), "0".into()));

    // A table of the same name, trashed again: index and sequence names do not collide.
    let (ok, out, err) = run("CREATE TABLE kept (id serial PRIMARY KEY, name text UNIQUE);\nDROP TABLE kept;\n");
    assert!(ok && out.trim().ends_with("DROP TABLE"), "{out} {err}");
    let list = trash_list(home.path(), &key);
    let ops: Vec<(&str, &str, u64)> = list
        .iter()
        .map(|e| (e["op"].as_str().unwrap(), e["original"].as_str().unwrap(), e["row_count"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        ops,
        vec![
            ("drop_table", "public.kept", 1000),
            ("truncate", "public.emptied", 502),
            ("delete_all", "public.deleted", 300),
            ("drop_table", "public.kept", 0),
        ]
    );
    assert!(list.iter().all(|e| e["trashed"].as_str().unwrap().contains('_')), "{list:?}");
    let id = |i: usize| list[i]["id"].as_u64().unwrap().to_string();

    // Restoring the first kept while the name is taken is refused, clearly.
    let (ok, _, err) = run("CREATE TABLE kept (x int);\n");
    assert!(ok, "{err}");
    let taken = holdpoint(home.path(), &key).args(["trash", "restore", &id(0)]).assert().failure();
    let taken_err = String::from_utf8_lossy(&taken.get_output().stderr).into_owned();
    assert!(taken_err.contains("public.kept is taken"), "{taken_err}");
    psql(&direct, "", "DROP TABLE kept");

    // Restores give back exactly what was there.
    for i in [0, 1, 2] {
        holdpoint(home.path(), &key).args(["trash", "restore", &id(i)]).assert().success();
    }
    assert_eq!(fingerprint(&direct, "kept"), before_kept);
    assert_eq!(fingerprint(&direct, "emptied"), before_emptied);
    assert_eq!(fingerprint(&direct, "deleted"), before_deleted);
    // The serial sequence came back with the table and goes on where it was.
    let (ok, out, err) = run("INSERT INTO kept (name, qty) VALUES ('new', 1) RETURNING id;\n");
    assert!(ok, "{err}");
    assert!(out.starts_with("1001\n"), "{out}");
    assert_eq!(trash_list(home.path(), &key).len(), 1);

    // A purge is held, then passes once when approved.
    let held = holdpoint(home.path(), &key).args(["trash", "purge", &id(3)]).assert().code(3);
    let held_err = String::from_utf8_lossy(&held.get_output().stderr).into_owned();
    assert!(held_err.contains("Holdpoint held this action as hold 1"), "{held_err}");
    assert_eq!(trash_list(home.path(), &key).len(), 1, "nothing purged while held");
    let approver = holdpoint(home.path(), &key).args(["approver", "add", "alice", "--json"]).assert().success();
    let v: Value = serde_json::from_slice(&approver.get_output().stdout).unwrap();
    let token = home.path().join("alice.token");
    std::fs::write(&token, v["token"].as_str().unwrap()).unwrap();
    holdpoint(home.path(), &key).args(["approve", "1", "--token-file"]).arg(&token).assert().success();
    holdpoint(home.path(), &key).args(["trash", "purge", &id(3)]).assert().success();
    assert!(trash_list(home.path(), &key).is_empty());
    let (_, left, _) = psql(
        &direct,
        "",
        "SELECT count(*) FROM pg_class WHERE relnamespace = 'holdpoint_trash'::regnamespace AND relname LIKE 'kept%'",
    );
    assert_eq!(left.trim(), "0");

    // CASCADE cannot be taken back faithfully: held, nothing dropped.
    let (ok, _, err) = run("DROP TABLE base CASCADE;\n");
    assert!(!ok && err.contains("HP001"), "{err}");
    assert_eq!(exists("base").trim(), "t");
    // Without CASCADE, a dependent view makes PostgreSQL's own error; nothing is trashed.
    let (ok, _, err) = run("DROP TABLE base;\n");
    assert!(!ok && err.contains("2BP01"), "{err}");
    assert_eq!(exists("base").trim(), "t");
    assert!(trash_list(home.path(), &key).is_empty());
    // IF EXISTS of a missing table: PostgreSQL's notice, no entry.
    let (ok, out, err) = run("DROP TABLE IF EXISTS nothing_here;\n");
    assert!(ok && out.trim() == "DROP TABLE" && err.contains("does not exist, skipping"), "{out} {err}");
    // A name this session resolves to another table than public's (here a temporary table)
    // cannot be trashed faithfully: refused, nothing dropped.
    let (ok, _, err) = run("CREATE TEMP TABLE scratch (x int);\nDROP TABLE scratch;\n");
    assert!(!ok && err.contains("HP002") && err.contains("temporary table"), "{err}");
    // A soft delete inside a transaction that rolls back leaves no entry and no change.
    let (ok, _, err) = run("BEGIN;\nDELETE FROM deleted;\nROLLBACK;\n");
    assert!(ok, "{err}");
    assert_eq!(count("deleted"), "300");
    assert!(trash_list(home.path(), &key).is_empty());

    // In the strict profile a delete is held first (its policy asks for approval, which the trash
    // does not answer); approved, it is still carried out as a soft delete.
    drop(gw);
    let config = std::fs::read_to_string(home.path().join("config/config.toml")).unwrap();
    std::fs::write(home.path().join("config/config.toml"), format!("profile = \"strict\"\n{config}")).unwrap();
    let gw = serve(home.path(), &key);
    let (host, pg_port) = gw.pg.rsplit_once(':').unwrap();
    let proxy = format!("host={host} port={pg_port} user=agent dbname=app");
    let (ok, _, err) = psql(&proxy, &placeholder, "DELETE FROM deleted;\n");
    assert!(!ok && err.contains("HP001") && err.contains("as hold 3"), "{err}");
    assert_eq!(count("deleted"), "300");
    holdpoint(home.path(), &key).args(["approve", "3", "--token-file"]).arg(&token).assert().success();
    let (ok, out, err) = psql(&proxy, &placeholder, "DELETE FROM deleted;\n");
    assert!(ok && out.trim() == "DELETE 300", "{out} {err}");
    let list = trash_list(home.path(), &key);
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!((list[0]["op"].as_str(), list[0]["row_count"].as_u64()), (Some("delete_all"), Some(300)));
    holdpoint(home.path(), &key).args(["trash", "restore", &list[0]["id"].to_string()]).assert().success();
    assert_eq!(fingerprint(&direct, "deleted"), before_deleted);

    // Soft deletes and restores are audited.
    drop(gw);
    let audit = holdpoint(home.path(), &key).args(["audit", "export"]).assert().success();
    let audit = String::from_utf8_lossy(&audit.get_output().stdout).into_owned();
    assert!(audit.contains("carried out as a soft delete"), "{audit}");
    assert!(audit.contains("trash-restore") && audit.contains("trash-purge"), "{audit}");
}

/// The approvals console lists what the PostgreSQL proxy trashed and puts it back, with the
/// restore in the audit log under the approver's name.
#[test]
fn the_console_lists_the_sql_trash_and_restores_from_it() {
    let server = common::Postgres::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = rt.block_on(server.fresh_database("app"));
    let port: u16 = url.rsplit(':').next().unwrap().split('/').next().unwrap().parse().unwrap();
    let direct = format!("host=127.0.0.1 port={port} user=postgres dbname=app");
    let setup = format!(
        "\\set ON_ERROR_STOP 1
         CREATE ROLE app LOGIN PASSWORD '{REAL_PASSWORD}';
         GRANT CREATE ON SCHEMA public TO app;
         GRANT CREATE ON DATABASE app TO app;
         SET ROLE app;
         CREATE TABLE invoices (id int PRIMARY KEY, total numeric NOT NULL);
         INSERT INTO invoices SELECT g, g * 1.5 FROM generate_series(1, 250) g;"
    );
    let (ok, _, err) = psql(&direct, "", &setup);
    assert!(ok, "{err}");
    let (home, key, placeholder) = gateway_home(port);
    let out = holdpoint(home.path(), &key).args(["approver", "add", "alice", "--json"]).assert().success();
    let token =
        serde_json::from_slice::<Value>(&out.get_output().stdout).unwrap()["token"].as_str().unwrap().to_owned();
    let gw = serve(home.path(), &key);
    let (host, pg_port) = gw.pg.rsplit_once(':').unwrap();
    let (ok, out, err) =
        psql(&format!("host={host} port={pg_port} user=agent dbname=app"), &placeholder, "DROP TABLE invoices;\n");
    assert!(ok && out.trim() == "DROP TABLE", "{out}{err}");
    let count = || psql(&direct, "", "SELECT count(*) FROM invoices").1.trim().to_owned();
    assert_ne!(count(), "250", "the table is in the trash");

    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut signed = agent
        .post(format!("{}/api/session", gw.console))
        .header("Content-Type", "application/json")
        .send(serde_json::json!({ "token": token }).to_string())
        .unwrap();
    assert_eq!(signed.status(), 200);
    let cookie = signed.headers().get("set-cookie").unwrap().to_str().unwrap().split(';').next().unwrap().to_owned();
    let csrf = serde_json::from_str::<Value>(&signed.body_mut().read_to_string().unwrap()).unwrap()["csrf"]
        .as_str()
        .unwrap()
        .to_owned();
    let call = |method: &str, path: &str| {
        let url = format!("{}{path}", gw.console);
        let mut answer = match method {
            "GET" => agent.get(&url).header("Cookie", &cookie).header("X-CSRF-Token", &csrf).call(),
            _ => agent
                .post(&url)
                .header("Cookie", &cookie)
                .header("X-CSRF-Token", &csrf)
                .header("Origin", &gw.console)
                .header("Content-Type", "application/json")
                .send("{}"),
        }
        .unwrap();
        let status = answer.status().as_u16();
        (status, serde_json::from_str::<Value>(&answer.body_mut().read_to_string().unwrap()).unwrap_or(Value::Null))
    };
    let (status, listed) = call("GET", "/api/recover?kind=trash");
    assert_eq!(status, 200, "{listed}");
    let item = &listed["items"][0];
    assert_eq!((item["kind"].as_str(), item["title"].as_str()), (Some("trash"), Some("public.invoices")), "{listed}");
    assert!(item["detail"].as_str().unwrap().contains("DROP TABLE invoices"), "{listed}");
    let id = item["id"].as_str().unwrap().to_owned();
    assert_eq!(call("POST", "/api/recover/trash/prod%2F99/restore").0, 404);
    let (status, restored) = call("POST", &format!("/api/recover/trash/{}/restore", id.replace('/', "%2F")));
    assert_eq!(status, 200, "{restored}");
    assert_eq!(count(), "250", "the table is back with its rows");
    let (_, audit) = call("GET", "/api/audit?q=trash-restore");
    assert_eq!(audit["records"][0]["detail"]["approver"], "alice", "{audit}");
    drop(gw);
}
