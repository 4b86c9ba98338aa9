//! The PostgreSQL proxy's TLS to the upstream, and tokio-postgres as its client, end to end:
//! one PostgreSQL 15 cluster (the store tests' harness) whose `ssl` is turned on with a test
//! CA's certificate, `holdpoint serve` with one `[[postgres]]` block per `tls` mode in front of
//! it, and tokio-postgres and psql connecting through the proxies with the vault placeholder.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[allow(dead_code, unused_macros, unused_imports)]
#[path = "../../store/tests/store/common.rs"]
mod common;
#[path = "support/psql.rs"]
mod pgclient;
#[path = "support/serve.rs"]
mod serve_support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use serde_json::Value;
use serve_support::Serve;
use tempfile::TempDir;
use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;

const REAL_PASSWORD: &str = "real-pw-Tls42";

/// The `[[postgres]]` blocks `holdpoint serve` runs: name, upstream host, vault credential
/// and `tls` lines. The server's certificate names 127.0.0.1 only.
const BLOCKS: &[(&str, &str, &str, &str)] = &[
    ("plain", "127.0.0.1", "prod-db", ""),
    ("verify", "127.0.0.1", "prod-db", "tls = \"verify-full\"\nca_file = \"{ca}\"\n"),
    ("require", "127.0.0.1", "prod-db", "tls = \"require\"\n"),
    ("untrusted", "127.0.0.1", "prod-db", "tls = \"verify-full\"\n"),
    ("misnamed", "localhost", "local-db", "tls = \"verify-full\"\nca_file = \"{ca}\"\n"),
];

fn holdpoint(home: &Path, key: &Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("holdpoint").unwrap();
    cmd.env("HOLDPOINT_HOME", home).env("HOLDPOINT_VAULT_KEY_FILE", key);
    cmd
}

/// psql with stdin `script`, stopping at the first error; (success, stdout, stderr).
fn psql(conninfo: &str, password: &str, script: &str) -> (bool, String, String) {
    pgclient::psql_script(conninfo, password, &["-q", "-tA", "-v", "VERBOSITY=verbose"], script)
}

/// `holdpoint serve`, stopped on drop.
struct Gateway {
    _serve: Serve,
    /// Each block's listen address.
    pg: HashMap<String, String>,
}

fn serve(home: &Path, key: &Path) -> Gateway {
    let listening = |line: &str| -> Option<(String, String)> {
        let (name, addr) = line.split("PostgreSQL proxy ").nth(1)?.split_once(" listening on postgres://")?;
        Some((name.to_owned(), addr.split('/').next()?.to_owned()))
    };
    let serve = Serve::start(home, key, |lines| lines.iter().filter_map(|l| listening(l)).count() >= BLOCKS.len());
    let pg = serve.lines.iter().filter_map(|l| listening(l)).collect();
    Gateway { _serve: serve, pg }
}

/// A test CA and a server certificate it signed for 127.0.0.1: (CA PEM, server certificate
/// PEM, server key PEM).
fn certificates() -> (String, String, String) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "database test CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap().signed_by(&key, &issuer).unwrap();
    (ca_cert.pem(), leaf.pem(), key.serialize_pem())
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Turns the server's TLS on or off (a reload), and waits until new sessions see it.
fn set_ssl(direct: &str, on: bool) {
    let value = if on { "on" } else { "off" };
    let (ok, _, err) = psql(direct, "", &format!("ALTER SYSTEM SET ssl = {value};\nSELECT pg_reload_conf();\n"));
    assert!(ok, "{err}");
    let mut attempts = 0;
    while psql(direct, "", "SHOW ssl").1.trim() != value {
        attempts += 1;
        assert!(attempts < 400, "the server never turned ssl {value}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// A tokio-postgres client through the proxy at `addr`, its connection driven on the runtime.
async fn connect(addr: &str, password: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (host, port) = addr.rsplit_once(':').unwrap();
    let (client, connection) = tokio_postgres::Config::new()
        .host(host)
        .port(port.parse().unwrap())
        .user("agent")
        .password(password)
        .dbname("app")
        .connect_timeout(Duration::from_secs(20))
        .connect(NoTls)
        .await?;
    tokio::spawn(connection);
    Ok(client)
}

/// Whether the session's own connection to the server is encrypted.
async fn encrypted(client: &tokio_postgres::Client) -> bool {
    client.query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[]).await.unwrap().get(0)
}

#[test]
fn the_upstream_is_reached_over_tls_as_configured_and_tokio_postgres_is_served() {
    let server = common::Postgres::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = rt.block_on(server.fresh_database("app"));
    let port: u16 = url.rsplit(':').next().unwrap().split('/').next().unwrap().parse().unwrap();
    let direct = format!("host=127.0.0.1 port={port} user=postgres dbname=app sslmode=disable");
    let setup = format!(
        "CREATE ROLE app LOGIN PASSWORD '{REAL_PASSWORD}';
         CREATE TABLE users (id int PRIMARY KEY, name text NOT NULL);
         INSERT INTO users VALUES (1, 'ada'), (2, 'grace');
         CREATE TABLE scratch (id int);
         INSERT INTO scratch VALUES (1), (2), (3);
         CREATE TABLE marks (who text);
         CREATE TABLE doomed (id int);
         ALTER TABLE users OWNER TO app;
         ALTER TABLE scratch OWNER TO app;
         ALTER TABLE marks OWNER TO app;
         ALTER TABLE doomed OWNER TO app;
         GRANT CREATE ON DATABASE app TO app;
         GRANT CREATE ON SCHEMA public TO app;"
    );
    let (ok, _, err) = psql(&direct, "", &setup);
    assert!(ok, "{err}");
    // The role `app` proves its password with SCRAM-SHA-256 over TCP, with or without TLS.
    let hba = psql(&direct, "", "SHOW hba_file").1.trim().to_owned();
    let (ok, _, err) = psql(
        &direct,
        "",
        &format!(
            "COPY (SELECT l FROM (VALUES (1, 'host all app 127.0.0.1/32 scram-sha-256'), \
             (2, 'host all all 127.0.0.1/32 trust'), (3, 'local all all trust')) v(n, l) ORDER BY n) TO '{hba}';
             SELECT pg_reload_conf();"
        ),
    );
    assert!(ok, "{err}");

    // The server's certificate, signed by a test CA, in its data directory (0600, owned by the
    // user the server runs as); then ssl on.
    let (ca_pem, cert_pem, key_pem) = certificates();
    let data = PathBuf::from(psql(&direct, "", "SHOW data_directory").1.trim());
    let (cert, key_file) = (data.join("server.crt"), data.join("server.key"));
    std::fs::write(&cert, cert_pem).unwrap();
    std::fs::write(&key_file, key_pem).unwrap();
    std::fs::set_permissions(&key_file, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    if is_root() {
        let out = Command::new("chown").arg("postgres:postgres").arg(&cert).arg(&key_file).output().unwrap();
        assert!(out.status.success(), "{out:?}");
    }
    let (ok, _, err) = psql(
        &direct,
        "",
        &format!(
            "ALTER SYSTEM SET ssl_cert_file = '{}';\nALTER SYSTEM SET ssl_key_file = '{}';\n",
            cert.display(),
            key_file.display()
        ),
    );
    assert!(ok, "{err}");
    set_ssl(&direct, true);
    let certs = TempDir::new().unwrap();
    let ca = certs.path().join("ca.pem");
    std::fs::write(&ca, ca_pem).unwrap();

    // A Holdpoint home whose vault holds app's real password, with one block per tls mode.
    let home = TempDir::new().unwrap();
    let key: PathBuf = home.path().join("vault.key");
    std::fs::write(&key, format!("{}\n", "3e".repeat(32))).unwrap();
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    holdpoint(home.path(), &key).arg("init").assert().success();
    let add = |name: &str, host: &str| {
        let added = holdpoint(home.path(), &key)
            .args(["vault", "add", name, "--host", host, "--kind", "postgres", "--json"])
            .write_stdin(format!("app:{REAL_PASSWORD}"))
            .assert()
            .success();
        let v: Value = serde_json::from_slice(&added.get_output().stdout).unwrap();
        v["placeholders"]["value"].as_str().unwrap().to_owned()
    };
    let placeholder = add("prod-db", "127.0.0.1");
    let local_placeholder = add("local-db", "localhost");
    let mut config =
        "hold_wait = \"0s\"\n\n[api]\nlisten = \"127.0.0.1:0\"\n\n[proxy]\nlisten = \"127.0.0.1:0\"\n".to_owned();
    for (name, host, credential, tls) in BLOCKS {
        config.push_str(&format!(
            "\n[[postgres]]\nname = \"{name}\"\nlisten = \"127.0.0.1:0\"\nupstream = \"{host}:{port}\"\n\
             database = \"app\"\ncredential = \"{credential}\"\n{}",
            tls.replace("{ca}", &ca.display().to_string())
        ));
    }
    std::fs::write(home.path().join("config/config.toml"), config).unwrap();
    let gw = serve(home.path(), &key);
    let addr = |name: &str| gw.pg[name].clone();
    let through = |name: &str| {
        let (host, port) = gw.pg[name].rsplit_once(':').unwrap();
        format!("host={host} port={port} user=agent dbname=app sslmode=prefer")
    };
    let marks = || psql(&direct, "", "SELECT count(*) FROM marks").1.trim().to_owned();

    rt.block_on(async {
        // Without tls the upstream session is plaintext: the check below can tell.
        let plain = connect(&addr("plain"), &placeholder).await.unwrap();
        assert!(!encrypted(&plain).await);

        // verify-full with the CA: encrypted, and tokio-postgres is served in full.
        let client = connect(&addr("verify"), &placeholder).await.unwrap();
        assert!(encrypted(&client).await, "the upstream session is encrypted");
        // The simple query protocol.
        let rows = client.simple_query("SELECT name FROM users ORDER BY id").await.unwrap();
        let names: Vec<&str> = rows
            .iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0),
                _ => None,
            })
            .collect();
        assert_eq!(names, ["ada", "grace"]);
        // A prepared statement with parameters (Parse/Describe, then Bind/Execute), used twice.
        let by_id = client.prepare("SELECT name FROM users WHERE id = $1").await.unwrap();
        for (id, name) in [(1i32, "ada"), (2, "grace")] {
            let row = client.query_one(&by_id, &[&id]).await.unwrap();
            assert_eq!(row.get::<_, &str>(0), name);
        }
        // Two queries pipelined on one connection.
        let (a, b) = tokio::join!(
            client.query_one("SELECT count(*) FROM users WHERE id > $1", &[&0i32]),
            client.query_one("SELECT upper($1::text)", &[&"pipelined"]),
        );
        assert_eq!((a.unwrap().get::<_, i64>(0), b.unwrap().get::<_, String>(0).as_str()), (2, "PIPELINED"));

        // Large messages and many rows stream through the TLS relay whole.
        let big: String = client.query_one("SELECT repeat('x', 3000000)", &[]).await.unwrap().get(0);
        assert_eq!(big.len(), 3_000_000);
        let rows = client.query("SELECT g, md5(g::text) FROM generate_series(1, 20000) g", &[]).await.unwrap();
        assert_eq!(rows.len(), 20_000);
        assert_eq!(rows[19_999].get::<_, i32>(0), 20_000);

        // A DELETE whose WHERE is always true is held: HP001 with the hold sentence, nothing
        // deleted, and the session goes on.
        let held = client.execute("DELETE FROM scratch WHERE true", &[]).await.unwrap_err();
        let db = held.as_db_error().unwrap_or_else(|| panic!("{held}"));
        assert_eq!(db.code(), &SqlState::from_code("HP001"), "{held}");
        assert!(db.message().starts_with("Holdpoint held this action as hold 1: "), "{held}");
        assert!(db.message().contains("holdpoint approve 1"), "{held}");
        assert!(!db.message().contains(REAL_PASSWORD));
        let n: i64 = client.query_one("SELECT count(*) FROM scratch", &[]).await.unwrap().get(0);
        assert_eq!(n, 3);

        // A cancel request reaches the server over TLS: the proxy forwards it as the block says.
        let token = client.cancel_token();
        let sleeper = connect(&addr("verify"), &placeholder).await.unwrap();
        let sleeper_token = sleeper.cancel_token();
        let sleeping = tokio::spawn(async move { sleeper.simple_query("SELECT pg_sleep(60)").await });
        let mut attempts = 0;
        loop {
            let n: i64 = client
                .query_one("SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(60)'", &[])
                .await
                .unwrap()
                .get(0);
            if n == 1 {
                break;
            }
            attempts += 1;
            assert!(attempts < 400, "the sleep never started");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        sleeper_token.cancel_query(NoTls).await.unwrap();
        let cancelled = sleeping.await.unwrap().unwrap_err();
        assert_eq!(cancelled.code(), Some(&SqlState::QUERY_CANCELED), "{cancelled}");
        drop(token);

        // require, no CA: encrypted, the certificate taken unchecked.
        let required = connect(&addr("require"), &placeholder).await.unwrap();
        assert!(encrypted(&required).await);
        assert_eq!(required.query_one("SELECT current_user::text", &[]).await.unwrap().get::<_, String>(0), "app");

        // verify-full without the CA: the certificate is not trusted; the client is told so.
        let refused = connect(&addr("untrusted"), &placeholder).await.expect_err("an untrusted certificate is refused");
        let db = refused.as_db_error().unwrap_or_else(|| panic!("{refused:?}"));
        assert_eq!(db.code(), &SqlState::CONNECTION_FAILURE, "{db:?}");
        let text = db.message();
        assert!(text.contains("certificate") && text.contains("UnknownIssuer"), "{text}");
        assert!(!text.contains(REAL_PASSWORD));
        // verify-full checks the name too: the certificate is the CA's, but not for localhost.
        let refused =
            connect(&addr("misnamed"), &local_placeholder).await.expect_err("a misnamed certificate is refused");
        let text = refused.as_db_error().unwrap_or_else(|| panic!("{refused:?}")).message();
        assert!(text.contains("certificate not valid for name \"localhost\""), "{text}");

        // Approved, the held DELETE passes once; the next identical one is held again.
        let approver = holdpoint(home.path(), &key).args(["approver", "add", "alice", "--json"]).assert().success();
        let v: Value = serde_json::from_slice(&approver.get_output().stdout).unwrap();
        let token_file = home.path().join("alice.token");
        std::fs::write(&token_file, v["token"].as_str().unwrap()).unwrap();
        holdpoint(home.path(), &key).args(["approve", "1", "--token-file"]).arg(&token_file).assert().success();
        assert_eq!(client.execute("DELETE FROM scratch WHERE true", &[]).await.unwrap(), 3);
        let again = client.execute("DELETE FROM scratch WHERE true", &[]).await.unwrap_err();
        assert_eq!(again.code(), Some(&SqlState::from_code("HP001")), "{again}");
    });

    // Through the untrusted block, no statement reaches the server.
    let (ok, _, err) = psql(&through("untrusted"), &placeholder, "INSERT INTO marks VALUES ('untrusted')");
    assert!(!ok && err.contains("UnknownIssuer"), "{err}");
    assert_eq!(marks(), "0");

    // psql through verify-full; and the trash's own connection honours the block's tls too: a
    // soft delete through the proxy, listed by `holdpoint trash` over TLS.
    let (ok, out, err) = psql(
        &through("verify"),
        &placeholder,
        "INSERT INTO marks VALUES ('verify');\nSELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid();\nDROP TABLE doomed;\n",
    );
    assert!(ok, "{err}");
    assert_eq!(out, "t\n");
    assert_eq!(marks(), "1");
    let listed = holdpoint(home.path(), &key).args(["trash", "list", "--db", "verify", "--json"]).assert().success();
    let v: Value = serde_json::from_slice(&listed.get_output().stdout).unwrap();
    let trash = v["trash"].as_array().unwrap();
    assert_eq!(trash.len(), 1, "{v}");
    assert!(trash[0]["original"].as_str().unwrap().contains("doomed"), "{v}");
    let listed = holdpoint(home.path(), &key).args(["trash", "list", "--db", "untrusted", "--json"]).assert().failure();
    let err = String::from_utf8_lossy(&listed.get_output().stderr).into_owned();
    assert!(err.contains("UnknownIssuer"), "{err}");

    // The server turns TLS off: require and verify-full refuse to go on in plaintext, with a
    // clear error, in sessions and in the trash; nothing runs. tls = "disable" still works.
    set_ssl(&direct, false);
    for name in ["require", "verify"] {
        let (ok, _, err) = psql(&through(name), &placeholder, &format!("INSERT INTO marks VALUES ('{name}')"));
        assert!(!ok, "{name}");
        assert!(err.contains("does not accept TLS") && err.contains("refuses plaintext"), "{name}: {err}");
        assert!(!err.contains(REAL_PASSWORD));
    }
    assert_eq!(marks(), "1");
    let listed = holdpoint(home.path(), &key).args(["trash", "list", "--db", "verify"]).assert().failure();
    let err = String::from_utf8_lossy(&listed.get_output().stderr).into_owned();
    assert!(err.contains("does not accept TLS"), "{err}");
    let (ok, out, err) =
        psql(&through("plain"), &placeholder, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()");
    assert!(ok, "{err}");
    assert_eq!(out, "f\n");
    drop(gw);
}
