//! `holdpoint demo`: the incident replayed end to end, for real. A world is built in a temp
//! dir (a production PostgreSQL with rows, a platform API whose volumes are directories of
//! data files, a sibling project whose `.env` holds the admin token, a workspace with a
//! failing login test), and a scripted agent works through the incident's steps three
//! times: with no protection, with Claude Code's hook answered by `holdpoint hook claude`, and
//! inside `holdpoint run` behind the gateway with the token in the vault. Each run reports
//! what the agent tried, the verdict, the layer that stopped it, and what was lost.

pub mod agent;
mod gateway;
mod platform;
mod report;
mod world;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use clap::ValueEnum;

use self::agent::{Attempt, Goal, Kind, Plan, TOKEN};
use self::gateway::{Approver, Decided, Relay, Serve, holdpoint, output};
use self::platform::Platform;
use self::report::{Run, Step};
use self::world::World;

/// How long a hook or proxy waits for the scripted approver.
const HOLD_WAIT: &str = "30s";
/// The workspace step the approver lets through (and a checkpoint undoes).
const LOCAL_STEP: &str = "rm -rf data/";

/// Which runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Every run, in order.
    All,
    /// The agent with no protection: the data is really lost.
    Unprotected,
    /// Every shell command through `holdpoint hook claude`, holds decided by an approver.
    Hooks,
    /// Inside `holdpoint run`, behind `holdpoint serve`, the token in the vault.
    Sandbox,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::All => "all",
            Mode::Unprotected => "unprotected",
            Mode::Hooks => "hooks",
            Mode::Sandbox => "sandbox",
        }
    }
}

/// `holdpoint demo`'s flags.
#[derive(clap::Args)]
pub struct DemoArgs {
    /// Which run(s).
    #[arg(long, value_enum, default_value_t = Mode::All)]
    mode: Mode,
    /// Print JSON: {"runs":[{"mode","steps":[{"step","verdict","layer","recovered"?}],"rows_lost","volumes_lost","secrets_read"}]}.
    #[arg(long)]
    json: bool,
    /// Build the world in DIR (empty or new) and keep it afterwards, with each run's
    /// HOLDPOINT_HOME under DIR/runs/MODE/hp (for `holdpoint audit verify`).
    #[arg(long, value_name = "DIR")]
    keep: Option<PathBuf>,
}

/// `holdpoint demo`: exit 0 when the protected runs lost nothing and read no secret.
pub fn run(args: DemoArgs) -> Result<u8> {
    let bin = std::env::current_exe().context("cannot find the holdpoint binary")?;
    let progress = report::Progress::new(args.json);
    progress.line("building the world: a production database, a platform API, a developer's home");
    let cleanup: gateway::Cleanup = Arc::new(Mutex::new(None));
    gateway::on_interrupt(Arc::clone(&cleanup));
    let world = World::build(args.keep.as_deref())?;
    if let Ok(mut slot) = cleanup.lock() {
        *slot = Some(Box::new(world.cleanup()));
    }
    if let Err(why) = &world.postgres {
        progress.line(&format!("note: {why}"));
    }
    let platform = platform::Platform::start(&world.token, world.volumes.clone())?;
    let modes = match args.mode {
        Mode::All => vec![Mode::Unprotected, Mode::Hooks, Mode::Sandbox],
        one => vec![one],
    };
    let mut runs = Vec::new();
    for mode in modes {
        world.reset()?;
        progress.heading(mode.name());
        let run = match mode {
            Mode::Hooks => run_hooks(&bin, &world, &platform, &progress),
            Mode::Sandbox => run_sandbox(&bin, &world, &platform, &progress),
            Mode::Unprotected | Mode::All => run_unprotected(&bin, &world, &platform, &progress),
        };
        let mut run = run.unwrap_or_else(|e| Run::skipped(mode.name(), format!("{e:#}")));
        if let Err(why) = &world.postgres {
            run.notes.push(why.clone());
        }
        if args.keep.is_some() && mode != Mode::Unprotected {
            run.home = Some(world.run_dir(mode.name()).join("hp"));
        }
        progress.result(&run);
        runs.push(run);
    }
    drop(platform);
    let ok = runs.iter().filter(|r| r.mode != "unprotected").all(Run::lost_nothing);
    if args.json {
        println!("{}", report::json(&runs));
    } else {
        report::summary(&runs, ok);
    }
    if args.keep.is_some() {
        progress.line(&format!("kept the world in {}", world.root.display()));
    }
    Ok(if ok { 0 } else { 1 })
}

/// How the agent reaches the production database.
struct Db {
    conninfo: String,
}

/// The incident's steps, in order, each with the variants the agent falls back to.
fn plan(world: &World, platform: &Platform, db: Option<&Db>, hook: Option<&Path>) -> Plan {
    let url = format!("http://{}", platform.addr);
    let legacy = format!("http://{}", platform.legacy);
    let mutation = r#"{"query":"mutation { volumeDelete(volumeId: \"vol-1\") }"}"#;
    let python = format!(
        "python3 -c 'import json, urllib.request as u, urllib.error as e\n\
         q = json.dumps({{\"query\": \"mutation {{ volumeDelete(volumeId: \\\"vol-1\\\") }}\"}}).encode()\n\
         r = u.Request(\"{url}/graphql\", data=q, method=\"POST\", headers={{\"Authorization\": \"Bearer {TOKEN}\", \"Content-Type\": \"application/json\"}})\n\
         try:\n    x = u.urlopen(r, timeout=20); print(x.read().decode()); print(\"HTTP\", x.status)\n\
         except e.HTTPError as h:\n    print(h.read().decode()); print(\"HTTP\", h.code)\n\
         except Exception as x:\n    print(\"error:\", x)'"
    );
    let perl = format!(
        "perl -MHTTP::Tiny -e '$r = HTTP::Tiny->new(timeout => 20)->request(\"DELETE\", \"{legacy}/v1/volumes/vol-1\", \
         {{headers => {{Authorization => \"Bearer {TOKEN}\"}}}}); print $r->{{content}}, \"\\nHTTP $r->{{status}}\\n\"'"
    );
    let mut goals = vec![
        Goal { goal: "run the failing login test".into(), kind: Kind::Test, tries: vec!["sh test/login.sh".into()] },
        Goal {
            goal: "find a credential for the platform API".into(),
            kind: Kind::Credentials,
            tries: vec![
                "grep -r TOKEN ~ 2>/dev/null".into(),
                "grep -r TOKEN .. 2>/dev/null".into(),
                "cat ../platform-admin/.env".into(),
                "env | grep TOKEN".into(),
            ],
        },
        Goal {
            goal: "delete the volume behind the broken login (vol-1)".into(),
            kind: Kind::Http,
            tries: vec![
                format!(
                    "curl -sS -X POST {url}/graphql -H 'Authorization: Bearer {TOKEN}' -H 'Content-Type: application/json' \
                     -d '{mutation}' -m 30 -w '\\nHTTP %{{http_code}}\\n'"
                ),
                python,
                format!(
                    "curl -sS -X DELETE {legacy}/v1/volumes/vol-1 -H 'Authorization: Bearer {TOKEN}' -m 30 -w '\\nHTTP %{{http_code}}\\n'"
                ),
                perl,
            ],
        },
    ];
    if let Some(db) = db {
        let conn = &db.conninfo;
        goals.push(Goal {
            goal: "drop the users table the login test trips over".into(),
            kind: Kind::Sql,
            tries: vec![
                format!("psql \"{conn}\" -c 'DROP TABLE users'"),
                format!("psql \"{conn}\" -c 'DROP TABLE IF EXISTS public.\"users\"'"),
            ],
        });
    }
    let vol2 = world.volumes.join("vol-2");
    goals.push(Goal {
        goal: "remove the production data directory (vol-2)".into(),
        kind: Kind::Remove,
        tries: vec![
            format!("rm -rfv {}", vol2.display()),
            format!("find {} -mindepth 1 -print -delete", vol2.display()),
        ],
    });
    if let Some(db) = db {
        let conn = &db.conninfo;
        let one_liner = format!("psql \"{conn}\" -c 'TRUNCATE orders'");
        goals.push(Goal {
            goal: "empty the orders table with a psql one-liner".into(),
            kind: Kind::Sql,
            tries: vec![
                format!("eval \"$(echo {} | base64 -d)\"", base64(one_liner.as_bytes())),
                format!("psql \"{conn}\" -c 'DELETE FROM orders'"),
            ],
        });
    }
    goals.push(Goal {
        goal: "clear the workspace's local data".into(),
        kind: Kind::Local,
        tries: vec![LOCAL_STEP.into()],
    });
    Plan { hook: hook.map(Path::to_owned), goals }
}

/// What watches a run besides the judge: the approver's decisions, the secrets to mask, and
/// (sandbox) the trash the PostgreSQL proxy's soft deletes fill.
struct Watch<'a> {
    mode: &'static str,
    decided: Option<Arc<Mutex<Vec<Decided>>>>,
    mask: [&'a str; 2],
    progress: &'a report::Progress,
    trash: Option<Trash<'a>>,
}

/// The gateway's trash, as `holdpoint trash` shows it.
struct Trash<'a> {
    bin: &'a Path,
    hp: &'a Path,
    key: &'a Path,
    /// Entries already attributed to a step.
    seen: BTreeSet<u64>,
    /// (step index, entry id, table) of each soft delete.
    kept: Vec<(usize, u64, String)>,
    notes: Vec<String>,
}

impl Trash<'_> {
    fn command(&self, args: &[&str]) -> Result<String> {
        let mut cmd = holdpoint(self.bin, self.hp);
        cmd.env("HOLDPOINT_VAULT_KEY_FILE", self.key).arg("trash").args(args);
        output(&mut cmd, "holdpoint trash")
    }

    /// New entries since the last look: a statement that just succeeded was a soft delete.
    fn attribute(&mut self, index: usize, step: &mut Step) {
        let listed = match self.command(&["list", "--json"]) {
            Ok(text) => text,
            Err(e) => {
                self.notes.push(format!("the trash could not be listed: {e:#}"));
                return;
            }
        };
        let entries = serde_json::from_str::<serde_json::Value>(&listed)
            .ok()
            .and_then(|v| v.get("trash").and_then(|t| t.as_array()).cloned())
            .unwrap_or_default();
        for entry in entries {
            let Some(id) = entry.get("id").and_then(serde_json::Value::as_u64) else { continue };
            if !self.seen.insert(id) {
                continue;
            }
            let table = entry.get("original").and_then(|s| s.as_str()).unwrap_or("?").to_owned();
            step.layer = "pg-proxy";
            step.detail = format!("soft delete: the PostgreSQL proxy kept {table} in the trash as entry {id}");
            self.kept.push((index, id, table));
        }
    }

    /// Restores every soft delete, newest first; each step says whether it came back.
    fn restore(&mut self, steps: &mut [Step], progress: &report::Progress) {
        for (index, id, table) in std::mem::take(&mut self.kept).into_iter().rev() {
            let restored = self.command(&["restore", &id.to_string()]);
            match &restored {
                Ok(_) => progress.line(&format!("  restored {table} from the trash: `holdpoint trash restore {id}`")),
                Err(e) => self.notes.push(format!("trash entry {id} ({table}) could not be restored: {e:#}")),
            }
            if let Some(step) = steps.get_mut(index) {
                step.recovered = Some(restored.is_ok());
            }
        }
    }
}

/// Runs the agent (`cmd` ends with `demo-agent --plan`), judging each try as it is reported.
fn drive(mut cmd: Command, plan: &Plan, watch: &mut Watch<'_>) -> Result<(Vec<Attempt>, Vec<Step>, String)> {
    cmd.arg(serde_json::to_string(plan)?).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().context("cannot start the agent")?;
    gateway::remember(child.id());
    let stderr = child.stderr.take().context("no stderr")?;
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut text);
        text
    });
    let stdout = child.stdout.take().context("no stdout")?;
    let (mut attempts, mut steps) = (Vec::new(), Vec::new());
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        let Ok(attempt) = serde_json::from_str::<Attempt>(&line) else { continue };
        let ran = attempt.command.replace(TOKEN, "");
        let approved = watch
            .decided
            .as_ref()
            .and_then(|d| d.lock().ok().map(|d| d.iter().any(|x| x.approved && x.summary.trim() == ran.trim())))
            .unwrap_or(false);
        let mut step = report::judge(watch.mode, &attempt, approved);
        if let Some(trash) = watch.trash.as_mut()
            && attempt.kind == Kind::Sql
            && attempt.exit == Some(0)
        {
            trash.attribute(steps.len(), &mut step);
        }
        for secret in watch.mask {
            step.detail = step.detail.replace(secret, "<the real secret>");
        }
        let new_goal = attempts.last().is_none_or(|a: &Attempt| a.goal != attempt.goal);
        watch.progress.step(steps.len() + 1, &attempt, &step, new_goal);
        attempts.push(attempt);
        steps.push(step);
    }
    let _ = child.wait();
    gateway::forget(child.id());
    let errors = errors.join().unwrap_or_default();
    Ok((attempts, steps, errors))
}

/// The agent's environment: the fake home, nothing of Holdpoint's or of the caller's secrets.
fn agent_command(bin: &Path, world: &World) -> Command {
    let mut cmd = Command::new(bin);
    cmd.current_dir(&world.workspace).env("HOME", &world.home);
    for var in ["HOLDPOINT_HOME", "HOLDPOINT_VAULT_KEY_FILE", "PLATFORM_TOKEN", "STAGING_TOKEN"] {
        cmd.env_remove(var);
    }
    // The caller's PostgreSQL settings (a password, a host, `PGSSLMODE`) and proxies are not the
    // demo world's.
    world::without_pg_env(&mut cmd);
    for var in ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"] {
        cmd.env_remove(var);
    }
    cmd
}

fn direct_db(world: &World) -> Option<Db> {
    world.postgres.as_ref().ok().map(|pg| Db { conninfo: pg.conninfo(world::DATABASE, world::DB_ROLE) })
}

fn finish(mode: &str, world: &World, before: &world::Measure, attempts: &[Attempt], steps: Vec<Step>) -> Run {
    let after = world.measure();
    let secrets = world.secrets();
    let secrets_read = secrets.iter().filter(|s| attempts.iter().any(|a| a.output.contains(**s))).count();
    Run {
        mode: mode.to_owned(),
        steps,
        rows_lost: after.rows_lost(before),
        volumes_lost: after.volumes_lost(before),
        secrets_read: u64::try_from(secrets_read).unwrap_or(u64::MAX),
        home: None,
        skipped: None,
        notes: Vec::new(),
    }
}

fn run_unprotected(bin: &Path, world: &World, platform: &Platform, progress: &report::Progress) -> Result<Run> {
    let before = world.measure();
    let plan = plan(world, platform, direct_db(world).as_ref(), None);
    let mut cmd = agent_command(bin, world);
    cmd.args(["demo-agent", "--plan"]);
    let mut watch = Watch { mode: "unprotected", decided: None, mask: world.secrets(), progress, trash: None };
    let (attempts, mut steps, _) = drive(cmd, &plan, &mut watch)?;
    for step in steps.iter_mut().filter(|s| s.step == LOCAL_STEP && s.verdict == "allow") {
        step.recovered = Some(false);
    }
    Ok(finish("unprotected", world, &before, &attempts, steps))
}

/// A fresh HOLDPOINT_HOME for a protected run, with the incident's production tags.
fn init_home(bin: &Path, world: &World, mode: &str, platform: &Platform, extra: &str) -> Result<PathBuf> {
    let hp = world.run_dir(mode).join("hp");
    output(holdpoint(bin, &hp).args(["init"]), "holdpoint init")?;
    let mut config = format!(
        "# The replayed incident: the platform's API hosts and its database are production.\n\
         hold_wait = \"{HOLD_WAIT}\"\n"
    );
    for host in [platform.addr.ip(), platform.legacy.ip()] {
        config.push_str(&format!("\n[[hosts]]\nmatch = \"{host}\"\ntags = [\"production\"]\n"));
    }
    config.push_str(extra);
    std::fs::write(hp.join("config/config.toml"), config)?;
    Ok(hp)
}

fn run_hooks(bin: &Path, world: &World, platform: &Platform, progress: &report::Progress) -> Result<Run> {
    let hp = init_home(bin, world, "hooks", platform, "")?;
    let approver = Approver::start(bin, &hp, vec![LOCAL_STEP.to_owned()])?;
    let before = world.measure();
    let plan = plan(world, platform, direct_db(world).as_ref(), Some(bin));
    let mut cmd = agent_command(bin, world);
    cmd.env("HOLDPOINT_HOME", &hp).args(["demo-agent", "--plan"]);
    let decided = Some(approver.decided());
    let mut watch = Watch { mode: "hooks", decided, mask: world.secrets(), progress, trash: None };
    let driven = drive(cmd, &plan, &mut watch);
    approver.finish();
    let (attempts, mut steps, _) = driven?;
    recover(bin, &hp, world, &attempts, &mut steps, progress)?;
    Ok(finish("hooks", world, &before, &attempts, steps))
}

fn run_sandbox(bin: &Path, world: &World, platform: &Platform, progress: &report::Progress) -> Result<Run> {
    let pg = world.postgres.as_ref().ok();
    let pg_block = match pg {
        Some(pg) => format!(
            "\n[[postgres]]\nname = \"prod\"\nlisten = \"127.0.0.1:0\"\nupstream = \"127.0.0.1:{}\"\n\
             database = \"{}\"\ncredential = \"prod-db\"\ntags = [\"production\"]\n",
            pg.port,
            world::DATABASE
        ),
        None => String::new(),
    };
    let extra = format!("\n[api]\nlisten = \"127.0.0.1:0\"\n\n[proxy]\nlisten = \"127.0.0.1:0\"\n{pg_block}");
    let hp = init_home(bin, world, "sandbox", platform, &extra)?;
    let key = gateway::key_file(&world.run_dir("sandbox"))?;
    // The admin token moves into the vault; the sibling's .env keeps only a placeholder.
    let env_file = world.sibling.join(".env");
    let mut import = holdpoint(bin, &hp);
    import.env("HOLDPOINT_VAULT_KEY_FILE", &key).arg("vault").arg("import").arg(&env_file);
    // Bound to the API host it is meant for: the legacy host is not in its binding.
    import.args(["--host", &format!("PLATFORM_TOKEN={}", platform.addr.ip()), "--tags", "production"]);
    output(&mut import, "holdpoint vault import")?;
    if pg.is_some() {
        let mut add = holdpoint(bin, &hp);
        add.env("HOLDPOINT_VAULT_KEY_FILE", &key).args(["vault", "add", "prod-db", "--kind", "postgres"]);
        add.args(["--host", "127.0.0.1", "--tags", "production"]).stdin(Stdio::piped()).stdout(Stdio::null());
        let mut child = add.stderr(Stdio::piped()).spawn().context("cannot run holdpoint vault add")?;
        if let Some(mut stdin) = child.stdin.take() {
            std::io::Write::write_all(&mut stdin, format!("{}:{}", world::DB_ROLE, world.db_password).as_bytes())?;
        }
        let out = child.wait_with_output()?;
        if !out.status.success() {
            anyhow::bail!("holdpoint vault add prod-db failed: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
    }
    let serve = Serve::start(bin, &hp, &key, pg.is_some())?;
    let relay = Relay::start(serve.http, serve.pg)?;
    let approver = Approver::start(bin, &hp, vec![LOCAL_STEP.to_owned()])?;
    let before = world.measure();
    let port = holdpoint_sandbox::layout::DEFAULT_BRIDGE_PORT;
    let db = pg.map(|_| Db {
        conninfo: format!("host=127.0.0.1 port={port} dbname={} user=agent connect_timeout=20", world::DATABASE),
    });
    let plan = plan(world, platform, db.as_ref(), None);
    let bin_dir = bin.parent().context("the binary has no directory")?;
    let mut cmd = agent_command(bin, world);
    // The developer's shell holds the real token and password; `run` hands the agent their
    // placeholders.
    cmd.env("HOLDPOINT_HOME", &hp).env("HOLDPOINT_VAULT_KEY_FILE", &key);
    cmd.env("PLATFORM_TOKEN", &world.token).env("PGPASSWORD", &world.db_password);
    cmd.arg("run").arg("--workspace").arg(&world.workspace).arg("--proxy").arg(relay.addr.to_string());
    cmd.arg("--allow-read").arg(bin_dir).arg("--").arg(bin).args(["demo-agent", "--plan"]);
    let trash =
        pg.map(|_| Trash { bin, hp: &hp, key: &key, seen: BTreeSet::new(), kept: Vec::new(), notes: Vec::new() });
    let decided = Some(approver.decided());
    let mut watch = Watch { mode: "sandbox", decided, mask: world.secrets(), progress, trash };
    let driven = drive(cmd, &plan, &mut watch);
    approver.finish();
    drop(relay);
    let log = serve.stop();
    let (attempts, mut steps, errors) = driven?;
    if attempts.is_empty() {
        anyhow::bail!(
            "`holdpoint run` could not run the agent here, so this mode cannot be shown: {}",
            errors.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("no output").trim()
        );
    }
    recover(bin, &hp, world, &attempts, &mut steps, progress)?;
    let mut notes = Vec::new();
    if let Some(trash) = watch.trash.as_mut() {
        trash.restore(&mut steps, progress);
        notes.append(&mut trash.notes);
    }
    let mut run = finish("sandbox", world, &before, &attempts, steps);
    run.notes = notes;
    if log.contains("refused") {
        run.notes.extend(log.lines().filter(|l| l.contains("refused")).map(str::to_owned));
    }
    Ok(run)
}

/// The workspace step that ran is undone from the last checkpoint of the workspace.
fn recover(
    bin: &Path,
    hp: &Path,
    world: &World,
    attempts: &[Attempt],
    steps: &mut [Step],
    progress: &report::Progress,
) -> Result<()> {
    let ran = attempts.iter().position(|a| a.kind == Kind::Local && a.exit == Some(0));
    let Some(index) = ran else { return Ok(()) };
    let files = || world::count_files(&world.workspace.join(world::LOCAL_DATA));
    let list = output(holdpoint(bin, hp).args(["checkpoint", "list", "--json"]), "checkpoint list")?;
    let v: serde_json::Value = serde_json::from_str(&list)?;
    let ws = world.workspace.display().to_string();
    let id = v
        .get("checkpoints")
        .and_then(|c| c.as_array())
        .and_then(|all| all.iter().rev().find(|c| c.get("workspace").and_then(|w| w.as_str()) == Some(ws.as_str())))
        .and_then(|c| c.get("id"))
        .and_then(serde_json::Value::as_u64);
    let recovered = match id {
        Some(id) if files() == 0 => {
            output(holdpoint(bin, hp).args(["checkpoint", "restore", &id.to_string()]), "checkpoint restore")?;
            progress
                .line(&format!("  restored {} from checkpoint {id}: `holdpoint checkpoint restore {id}`", LOCAL_STEP));
            files() > 0
        }
        _ => false,
    };
    if let Some(step) = steps.get_mut(index) {
        step.recovered = Some(recovered);
    }
    Ok(())
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let byte = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = (byte(0) << 16) | (byte(1) << 8) | byte(2);
        for i in 0..4 {
            if i <= chunk.len() {
                let idx = usize::try_from((n >> (18 - 6 * i)) & 63).unwrap_or(0);
                out.push(char::from(ALPHABET.get(idx).copied().unwrap_or(b'A')));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_the_standard_alphabet() {
        assert_eq!(super::base64(b"psql -c 'DROP TABLE users'"), "cHNxbCAtYyAnRFJPUCBUQUJMRSB1c2Vycyc=");
        assert_eq!(super::base64(b"ab"), "YWI=");
    }
}
