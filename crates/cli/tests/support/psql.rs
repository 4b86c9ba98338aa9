//! psql (and pgbench) as the PostgreSQL tests run them: a connection string, a password, and
//! none of the environment's own `PG*` variables, which would otherwise pick another host, port,
//! user, database, service file or TLS mode than the test's (a developer's `PGSSLMODE=require`
//! or `PGSERVICE` must not change what a test connects to).

use std::io::Write;
use std::process::{Command, Output, Stdio};

/// A PostgreSQL client program (psql, pgbench) with `password` and none of the environment's
/// `PG*` variables.
pub fn client(program: &str, password: &str) -> Command {
    let mut cmd = Command::new(program);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("PG") {
            cmd.env_remove(name);
        }
    }
    cmd.env("PGPASSWORD", password).env("PGCONNECT_TIMEOUT", "20");
    cmd
}

/// psql on `conninfo` with `password`, without `~/.psqlrc` (`-X`): add its arguments and run it.
pub fn command(conninfo: &str, password: &str) -> Command {
    let mut cmd = client("psql", password);
    cmd.arg(conninfo).arg("-X");
    cmd
}

/// Runs psql on `conninfo` with `password` and `args`, and `script` on its standard input.
pub fn psql(conninfo: &str, password: &str, args: &[&str], script: &str) -> Output {
    let mut child = command(conninfo, password)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("psql runs (PostgreSQL's client, postgresql-client-15)");
    let mut stdin = child.stdin.take().expect("psql's stdin");
    // psql may exit before reading all of it (a connection refused): not the test's failure.
    let _ = stdin.write_all(script.as_bytes());
    drop(stdin);
    child.wait_with_output().expect("psql's output")
}

/// The same, stopping at the first error (`ON_ERROR_STOP`): (success, stdout, stderr).
pub fn psql_script(conninfo: &str, password: &str, args: &[&str], script: &str) -> (bool, String, String) {
    let args = [args, &["-v", "ON_ERROR_STOP=1"]].concat();
    let out = psql(conninfo, password, &args, script);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
