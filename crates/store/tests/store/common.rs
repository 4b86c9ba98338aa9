//! The test harness: one `Env` per scenario, on SQLite or on a real PostgreSQL 15 that this
//! harness starts (initdb into a temp dir, loopback port, stopped on drop).

use std::path::PathBuf;
use std::process::Command;

use holdpoint_core::{ActionDigest, Channel, Obligations};
use holdpoint_store::{ApproverToken, Decision, HoldId, NewHold, SignedDecision, Store};
use sqlx::AnyPool;
use tempfile::TempDir;

/// Runs each scenario as its own SQLite test, and all of them in one PostgreSQL test that
/// starts one server and gives every scenario its own database. Call it as
/// `on_both_backends!(super; scenario_a, scenario_b)`.
macro_rules! on_both_backends {
    ($parent:tt; $($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $parent::$name(crate::common::Env::sqlite().await).await;
                }
            )*
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn postgres() {
            let server = crate::common::Postgres::start();
            $(
                eprintln!("postgres: {}", stringify!($name));
                $name(server.env(stringify!($name)).await).await;
            )*
        }
    };
}
pub(crate) use on_both_backends;

/// One scenario's store, with what a tamperer needs to reach the same data.
pub struct Env {
    pub store: Store,
    pub state: TempDir,
    /// A URL for a separate, raw connection to the same database.
    pub raw_url: String,
    pub postgres_url: Option<String>,
}

impl Env {
    pub async fn sqlite() -> Env {
        let state = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(state.path()).await.unwrap();
        let raw_url = format!("sqlite://{}", state.path().join("holdpoint.db").display());
        Env { store, state, raw_url, postgres_url: None }
    }

    /// Another `Store` on the same data (a second process, as far as the store can tell).
    pub async fn reopen(&self) -> Store {
        match &self.postgres_url {
            Some(url) => Store::open_postgres(url, self.state.path()).await.unwrap(),
            None => Store::open_sqlite(self.state.path()).await.unwrap(),
        }
    }

    /// A raw connection that goes around the store, as someone editing the database would.
    pub async fn raw(&self) -> AnyPool {
        sqlx::any::install_default_drivers();
        sqlx::any::AnyPoolOptions::new().max_connections(1).connect(&self.raw_url).await.unwrap()
    }

    pub async fn exec(&self, sql: &str) {
        let pool = self.raw().await;
        sqlx::query(sql).execute(&pool).await.unwrap();
        pool.close().await;
    }
}

pub fn digest(input: &str) -> ActionDigest {
    ActionDigest::of(Channel::Shell, "/w", "", input)
}

pub fn obligations(approvers: u32, delay_secs: u64, ttl_secs: u64) -> Obligations {
    Obligations { approvers, delay_secs, ttl_secs, soft_delete: false }
}

pub fn new_hold(input: &str, obligations: Obligations) -> NewHold {
    NewHold {
        digest: digest(input),
        channel: Channel::Shell,
        summary: input.to_owned(),
        reason: "irreversible delete".to_owned(),
        action_json: serde_json::json!({"channel": "shell", "input": input}).to_string(),
        obligations,
    }
}

pub fn sign(token: &ApproverToken, id: HoldId, input: &str, decision: Decision, time: u64) -> SignedDecision {
    token.sign(id, &digest(input), decision, time)
}

/// The kinds of the audit records, in order.
pub async fn kinds(store: &Store) -> Vec<String> {
    let lines = store.export(holdpoint_store::ExportFrom::Seq(1)).await.unwrap();
    lines
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["kind"].as_str().unwrap().to_owned())
        .collect()
}

/// A PostgreSQL server of our own, for the length of one test.
pub struct Postgres {
    dir: TempDir,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl Postgres {
    pub fn start() -> Postgres {
        let bin = find_postgres_bin().unwrap_or_else(|| {
            panic!(
                "PostgreSQL server binaries (initdb, pg_ctl) were not found under /usr/lib/postgresql/*/bin. \
                 These tests need a real PostgreSQL: install it with `apt-get install -y postgresql`"
            )
        });
        let dir = tempfile::tempdir().unwrap();
        let as_postgres = is_root();
        if as_postgres {
            run(Command::new("chown").args(["-R", "postgres:postgres"]).arg(dir.path()), "chown the temp dir");
        }
        let data = dir.path().join("data");
        let server = Postgres { dir, bin, port: free_port(), as_postgres };
        let mut initdb = server.command("initdb");
        initdb.arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
            "--no-instructions",
        ]);
        run(&mut initdb, "initdb");
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
             -c max_connections=300",
            server.port,
            server.dir.path().display()
        );
        let mut start = server.command("pg_ctl");
        start
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(server.dir.path().join("log"))
            .args(["-w", "-t", "60", "-o", &options, "start"]);
        run(&mut start, "pg_ctl start");
        server
    }

    fn command(&self, tool: &str) -> Command {
        let exe = self.bin.join(tool);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        }
    }

    /// Plaintext on loopback whatever `PGSSLMODE` the environment sets.
    fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}?sslmode=disable", self.port)
    }

    /// A fresh database and state dir for one scenario.
    pub async fn env(&self, name: &str) -> Env {
        let url = self.fresh_database(name).await;
        let state = tempfile::tempdir().unwrap();
        let store = Store::open_postgres(&url, state.path()).await.unwrap();
        Env { store, state, raw_url: url.clone(), postgres_url: Some(url) }
    }

    pub async fn fresh_database(&self, name: &str) -> String {
        sqlx::any::install_default_drivers();
        let admin = sqlx::any::AnyPoolOptions::new().max_connections(1).connect(&self.url("postgres")).await.unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&admin).await.unwrap();
        admin.close().await;
        self.url(name)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let mut stop = self.command("pg_ctl");
        stop.arg("-D").arg(self.dir.path().join("data")).args(["-m", "immediate", "-w", "stop"]);
        let _ = stop.output();
    }
}

fn find_postgres_bin() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists() && bin.join("pg_ctl").exists())
        .collect();
    found.sort();
    found.pop()
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn run(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
