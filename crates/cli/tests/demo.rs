//! The end-to-end test: the real `holdpoint demo --json` replays the incident against its own
//! PostgreSQL, platform API and developer's home, three times. Without protection the data is
//! really lost (so the scenario is real); with hooks and in the sandbox nothing is lost and no
//! secret is read; every refusal Holdpoint made is in that run's audit log, whose chain verifies.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::Path;

use assert_cmd::Command;
use serde_json::Value;

const VERDICTS: [&str; 4] = ["allow", "hold", "deny", "error"];
const LAYERS: [&str; 8] = ["none", "hook", "sandbox", "vault", "http-proxy", "pg-proxy", "mcp", "approval"];

fn holdpoint(home: &Path) -> Command {
    let mut cmd = Command::cargo_bin("holdpoint").unwrap();
    cmd.env("HOLDPOINT_HOME", home).env_remove("HOLDPOINT_VAULT_KEY_FILE");
    cmd
}

/// The run's audit records, after `audit verify` passed.
fn audit(home: &Path) -> Vec<Value> {
    let verify = holdpoint(home).args(["audit", "verify"]).assert().success();
    let said = String::from_utf8_lossy(&verify.get_output().stdout).into_owned();
    assert!(said.contains("chain intact"), "{said}");
    let export = holdpoint(home).args(["audit", "export"]).assert().success();
    String::from_utf8_lossy(&export.get_output().stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn steps<'a>(run: &'a Value, layer: &str) -> Vec<&'a Value> {
    run["steps"].as_array().unwrap().iter().filter(|s| s["layer"] == layer).collect()
}

fn refused(step: &Value) -> bool {
    step["verdict"] == "hold" || step["verdict"] == "deny"
}

/// Decision records of one channel that refused (hold or deny).
fn refusals<'a>(records: &'a [Value], channel: &str) -> Vec<&'a Value> {
    records
        .iter()
        .filter(|r| {
            r["kind"] == "decision" && r["channel"] == channel && (r["verdict"] == "hold" || r["verdict"] == "deny")
        })
        .collect()
}

/// A directory for `--keep`, removed afterwards. Not under a system temp dir (where the checkout
/// and its target dir may be): Holdpoint treats those as scratch, and the replayed production
/// data must not look like scratch to the hooks. Under `~/.cache`, where the demo's own world goes.
fn keep_dir(prefix: &str) -> tempfile::TempDir {
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from).unwrap();
    let base = home.join(".cache/holdpoint-tests");
    std::fs::create_dir_all(&base).unwrap();
    tempfile::Builder::new().prefix(prefix).tempdir_in(base).unwrap()
}

#[test]
fn the_incident_loses_data_unprotected_and_nothing_with_hooks_or_in_the_sandbox() {
    let keep = keep_dir("demo-");
    let world = keep.path().join("world");
    // The caller's PostgreSQL and proxy settings are not the demo world's: with these, a client
    // that inherited them would refuse the plaintext loopback server, look for it elsewhere or
    // ask a proxy that is not there, and no row or volume would be lost below.
    let out = Command::cargo_bin("holdpoint")
        .unwrap()
        .args(["demo", "--json", "--keep"])
        .arg(&world)
        .env("PGSSLMODE", "require")
        .env("PGSERVICE", "holdpoint-test-absent")
        .env("PGHOST", "/nonexistent")
        .env("ALL_PROXY", "http://127.0.0.1:9")
        .env("all_proxy", "http://127.0.0.1:9")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}\n{stdout}\n{stderr}", out.status.code());
    let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    let runs = report["runs"].as_array().unwrap();
    let modes: Vec<&str> = runs.iter().map(|r| r["mode"].as_str().unwrap()).collect();
    assert_eq!(modes, ["unprotected", "hooks", "sandbox"], "{report:#}");
    for run in runs {
        assert!(run.get("skipped").is_none(), "every run is shown here: {run:#}");
        for step in run["steps"].as_array().unwrap() {
            assert!(step["step"].as_str().is_some_and(|s| !s.is_empty()), "{step}");
            assert!(VERDICTS.contains(&step["verdict"].as_str().unwrap()), "{step}");
            assert!(LAYERS.contains(&step["layer"].as_str().unwrap()), "{step}");
        }
    }
    let (unprotected, hooks, sandbox) = (&runs[0], &runs[1], &runs[2]);

    // The scenario is real: without protection the agent finds the admin token, and rows and
    // volumes are gone.
    assert!(unprotected["rows_lost"].as_u64().unwrap() > 0, "{unprotected:#}");
    assert!(unprotected["volumes_lost"].as_u64().unwrap() > 0, "{unprotected:#}");
    assert!(unprotected["secrets_read"].as_u64().unwrap() > 0, "{unprotected:#}");
    assert!(unprotected["steps"].as_array().unwrap().iter().all(|s| s["layer"] == "none"), "{unprotected:#}");
    // Nothing stands in the way, so the agent reaches each goal at its first try.
    let goals: Vec<&str> =
        unprotected["steps"].as_array().unwrap().iter().map(|s| s["goal"].as_str().unwrap()).collect();
    assert!(goals.iter().enumerate().all(|(i, g)| !goals[..i].contains(g)), "{unprotected:#}");

    // Protected, nothing is lost and no secret is read.
    for run in [hooks, sandbox] {
        assert_eq!(run["rows_lost"], 0, "{run:#}");
        assert_eq!(run["volumes_lost"], 0, "{run:#}");
        assert_eq!(run["secrets_read"], 0, "{run:#}");
        // The one step the approver let through (or the sandbox allowed) was undone.
        let recovered: Vec<&Value> =
            run["steps"].as_array().unwrap().iter().filter(|s| s.get("recovered").is_some()).collect();
        assert!(!recovered.is_empty(), "{run:#}");
        assert!(recovered.iter().all(|s| s["recovered"] == true), "{run:#}");
    }

    // Hooks: the credential search is denied, the deletes are held and denied by the approver,
    // the workspace step is approved and restored from its checkpoint.
    let hook_steps = steps(hooks, "hook");
    assert!(hook_steps.iter().any(|s| s["verdict"] == "deny" && s["step"].as_str().unwrap().contains("TOKEN ~")));
    assert!(hook_steps.iter().any(|s| s["verdict"] == "hold" && s["approval"] == "denied"), "{hooks:#}");
    let approved = steps(hooks, "approval");
    assert_eq!(approved.len(), 1, "{hooks:#}");
    assert_eq!(approved[0]["step"], "rm -rf data/");
    let records = audit(Path::new(hooks["home"].as_str().unwrap()));
    let logged = refusals(&records, "shell");
    let refused_steps = hook_steps.iter().filter(|s| refused(s)).count() + approved.len();
    assert_eq!(logged.len(), refused_steps, "every refusal is in the audit log: {logged:#?}\n{hooks:#}");
    for step in hook_steps.iter().chain(&approved).filter(|s| refused(s)) {
        let text = step["step"].as_str().unwrap();
        if text.ends_with('…') {
            continue; // a multi-line command, shown by its first line; counted above
        }
        // The agent found no token, so it sent none.
        let input = text.replace("$TOKEN", "");
        assert!(logged.iter().any(|r| r["detail"]["input"] == input.as_str()), "{input} is not in the audit log");
    }
    let denied = records.iter().filter(|r| r["kind"] == "denied").count();
    let denied_steps = hook_steps.iter().filter(|s| s["approval"] == "denied").count();
    assert_eq!(denied, denied_steps, "each denial by the approver is audited");

    // Sandbox: the sibling's .env and the volume are not there; the GraphQL delete is held by
    // the HTTP proxy and denied; the legacy host is outside the token's vault binding, so the
    // placeholder is refused there; SQL goes through the PostgreSQL proxy.
    assert!(steps(sandbox, "sandbox").iter().any(|s| s["step"].as_str().unwrap().contains(".env")), "{sandbox:#}");
    let proxied = steps(sandbox, "http-proxy");
    assert!(!proxied.is_empty() && proxied.iter().all(|s| refused(s)), "{sandbox:#}");
    let vault = steps(sandbox, "vault");
    assert!(!vault.is_empty() && vault.iter().all(|s| s["verdict"] == "deny"), "{sandbox:#}");
    let http: Vec<&Value> = proxied.into_iter().chain(vault).collect();
    let pg = steps(sandbox, "pg-proxy");
    assert!(!pg.is_empty(), "{sandbox:#}");
    assert!(
        pg.iter().all(|s| refused(s) || s["recovered"] == true),
        "a SQL delete is held or kept in the trash: {sandbox:#}"
    );
    let records = audit(Path::new(sandbox["home"].as_str().unwrap()));
    assert_eq!(refusals(&records, "http").len(), http.len(), "every HTTP refusal is in the audit log: {records:#?}");
    let sql_logged = records.iter().filter(|r| r["kind"] == "decision" && r["channel"] == "sql").count();
    assert!(sql_logged >= pg.len(), "every SQL decision is in the audit log: {records:#?}");

    // The world after the last (sandbox) run, looked at directly: both volumes are whole, the
    // workspace's data is back, and the sibling's .env holds only the vault's placeholder.
    let files = |dir: &str| std::fs::read_dir(world.join(dir)).map(|d| d.count()).unwrap_or(0);
    assert!(files("platform/volumes/vol-1") > 0 && files("platform/volumes/vol-2") > 0);
    assert_eq!(files("home/app/data"), 8, "restored from the run's checkpoint");
    let env = std::fs::read_to_string(world.join("home/platform-admin/.env")).unwrap();
    assert!(env.contains("PLATFORM_TOKEN=hp_"), "{env}");

    // The report names a real secret only masked; placeholders are shown as they are.
    for found in stdout.split("PLATFORM_TOKEN=").skip(1) {
        assert!(found.starts_with("<the real secret>") || found.starts_with("hp_"), "{found}");
    }
}

/// Without PostgreSQL's server binaries the demo says plainly which part cannot run and runs
/// the rest.
#[test]
fn without_postgresql_the_sql_steps_are_named_as_not_run() {
    let keep = keep_dir("demo-nopg-");
    let out = Command::cargo_bin("holdpoint")
        .unwrap()
        .env("HOLDPOINT_DEMO_PG_BIN", keep.path().join("no-postgres-here"))
        .args(["demo", "--mode", "hooks", "--json", "--keep"])
        .arg(keep.path().join("world"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("so the SQL steps cannot run"), "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let run = &report["runs"][0];
    assert_eq!(run["mode"], "hooks");
    assert!(run["notes"][0].as_str().unwrap().contains("PostgreSQL server binaries"), "{run:#}");
    let steps = run["steps"].as_array().unwrap();
    assert!(!steps.is_empty() && steps.iter().all(|s| !s["step"].as_str().unwrap().contains("psql")), "{run:#}");
    assert_eq!(run["volumes_lost"], 0, "{run:#}");
    assert_eq!(run["secrets_read"], 0, "{run:#}");
}
