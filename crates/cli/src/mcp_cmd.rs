//! `holdpoint mcp wrap NAME -- CMD ARGS..`: a stdio MCP server behind the gateway, and
//! `holdpoint mcp install|uninstall <agent>`: the agent's MCP server entries rewritten to go
//! through it (and back).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use holdpoint_core::Action;
use holdpoint_policy::config::StoreLocation;
use holdpoint_policy::{Decision, Engine};
use holdpoint_proxy::mcp::{McpServer, Redactor, ToolBook};
use holdpoint_proxy::{Gate, NoCredentials, Recorder};
use holdpoint_store::{Hold, Store};
use holdpoint_vault::{KeyHeader, SealedRecord, VaultKey, open_record, placeholders_in};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value, json};

use crate::home::{Home, workspace_of};
use crate::hook::{read_settings, write_settings};

/// How long the server may take to exit once the agent has gone.
const EXIT_WAIT: Duration = Duration::from_secs(5);

/// `holdpoint mcp ...`.
#[derive(Subcommand)]
pub enum McpCommand {
    /// Run a stdio MCP server behind the gateway: every tools/call is decided first; held
    /// calls get JSON-RPC error -32001, denied ones -32002, with the hold sentence. Vault
    /// placeholders in the server's environment are replaced with their secrets
    /// (HOLDPOINT_VAULT_KEY_FILE); secrets are redacted from what it sends back.
    #[command(
        after_help = "Examples:\n  holdpoint mcp wrap fs -- npx -y @modelcontextprotocol/server-filesystem ~/app\n  POSTGRES_URL=postgres://app:hp_...@db/app holdpoint mcp wrap db --tag production -- mcp-postgres"
    )]
    Wrap {
        /// The server's name in rules, holds and audit.
        name: String,
        /// A tag every call to this server carries (e.g. production); repeatable.
        #[arg(long = "tag", value_name = "TAG")]
        tags: Vec<String>,
        /// The server's command and its arguments.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Rewrite the agent's MCP server entries to run through `holdpoint mcp wrap` (backup kept).
    #[command(after_help = "Examples:\n  holdpoint mcp install claude\n  holdpoint mcp install cursor --project ~/app")]
    Install(McpInstallArgs),
    /// Put the agent's MCP server entries back as they were.
    #[command(after_help = "Examples:\n  holdpoint mcp uninstall claude")]
    Uninstall(McpInstallArgs),
}

/// Which agent's MCP configuration.
#[derive(Args)]
pub struct McpInstallArgs {
    /// The agent.
    #[arg(value_parser = ["claude", "codex", "gemini", "cursor"])]
    agent: String,
    /// The user's configuration in the home directory (the default).
    #[arg(long, conflicts_with = "project")]
    user: bool,
    /// A project's configuration under DIR (.mcp.json, .gemini/settings.json, .cursor/mcp.json).
    #[arg(long, value_name = "DIR")]
    project: Option<PathBuf>,
    /// Print JSON: {"file","changed","backup"?,"servers":[...],"skipped":[...]}.
    #[arg(long)]
    json: bool,
}

/// Run an `mcp` subcommand.
pub fn run(home: &Home, command: McpCommand) -> Result<u8> {
    match command {
        McpCommand::Wrap { name, tags, command } => wrap(home, &name, tags, &command),
        McpCommand::Install(args) => install(&args, true),
        McpCommand::Uninstall(args) => install(&args, false),
    }
}

fn wrap(home: &Home, name: &str, tags: Vec<String>, command: &[String]) -> Result<u8> {
    let Some((program, args)) = command.split_first() else { bail!("name the server's command after --") };
    let config = home.load_config()?;
    let engine = Engine::new(config.profile, &home.load_policies()?)?;
    if !home.state.is_dir() {
        bail!("{} does not exist; run `holdpoint init` first (held calls wait in its store)", home.state.display());
    }
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let workspace = workspace_of(&cwd);
    let context = crate::facts::context(&cwd, &workspace, home, config.protected_branches.clone());
    let book = ToolBook::open(&home.state.join("mcp-tools"), name)?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the runtime")?;
    let outcome = rt.block_on(async move {
        let store = match &config.store {
            StoreLocation::Sqlite => Store::open_sqlite(&home.state).await?,
            StoreLocation::Postgres(url) => Store::open_postgres(url, &home.state).await?,
        };
        crate::spool::fold(&home.state, &store).await?;
        let secrets = vault_secrets(&store).await?;
        let mut child = tokio::process::Command::new(program)
            .args(args)
            .env_clear()
            .envs(server_env(&secrets))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start the MCP server {program:?}"))?;
        let (Some(server_in), Some(server_out)) = (child.stdin.take(), child.stdout.take()) else {
            bail!("the MCP server's standard input and output are not pipes");
        };
        let redactor = Redactor::new(secrets.iter().map(|(secret, _)| secret.clone()));
        let server = McpServer { name: name.to_owned(), context, tags, redactor, book };
        let recorder: Arc<dyn Recorder> = Arc::new(SpoolRecorder { state: home.state.clone() });
        let gate = Arc::new(Gate::new(engine, config, store.clone(), recorder, Arc::new(NoCredentials)));
        let served =
            holdpoint_proxy::serve_mcp(server, gate, tokio::io::stdin(), tokio::io::stdout(), server_out, server_in)
                .await;
        let status = match tokio::time::timeout(EXIT_WAIT, child.wait()).await {
            Ok(status) => status.ok().and_then(|s| s.code()),
            Err(_) => {
                let _ = child.kill().await;
                None
            }
        };
        store.close().await;
        served.context("the MCP gateway's pipes failed")?;
        Ok(status.and_then(|c| u8::try_from(c).ok()).unwrap_or(1))
    });
    // A read of the agent's stdin may still be blocked in a thread of the runtime (the server
    // ended first); it must not keep the process alive.
    rt.shutdown_background();
    outcome
}

/// The server's environment: this process's, without Holdpoint's own variables, and with
/// every vault placeholder replaced by its secret (so no secret needs to live in the agent's
/// MCP configuration).
fn server_env(secrets: &[(SecretString, String)]) -> Vec<(String, String)> {
    let by_placeholder: HashMap<&str, &SecretString> = secrets.iter().map(|(s, p)| (p.as_str(), s)).collect();
    std::env::vars()
        .filter(|(name, _)| !name.starts_with("HOLDPOINT_"))
        .map(|(name, value)| {
            let found: Vec<(usize, &str)> = placeholders_in(&value).collect();
            if found.is_empty() {
                return (name, value);
            }
            let mut out = String::with_capacity(value.len());
            let mut at = 0;
            for (start, placeholder) in found {
                let Some(secret) = by_placeholder.get(placeholder) else { continue };
                out.push_str(value.get(at..start).unwrap_or_default());
                out.push_str(secret.expose_secret());
                at = start + placeholder.len();
            }
            out.push_str(value.get(at..).unwrap_or_default());
            (name, out)
        })
        .collect()
}

/// Every vault secret with its placeholder; none without `HOLDPOINT_VAULT_KEY_FILE`.
async fn vault_secrets(store: &Store) -> Result<Vec<(SecretString, String)>> {
    let Some(key_file) = crate::vault_cmd::key_file_from_env() else { return Ok(Vec::new()) };
    let Some(header) = store.vault_header().await? else { return Ok(Vec::new()) };
    let key = VaultKey::from_key_file(&key_file)?;
    KeyHeader::parse(&header)?.verify(&key).context("HOLDPOINT_VAULT_KEY_FILE is not this vault's key")?;
    let mut secrets = Vec::new();
    for record in store.vault_records().await? {
        let sealed = SealedRecord { name: record.name, meta: record.meta, sealed: record.sealed };
        let Ok((meta, credential)) = open_record(&key, &sealed) else { continue };
        for (part, placeholder) in &meta.placeholders {
            if let Some(value) = credential.value(*part) {
                secrets.push((SecretString::from(value.expose_secret().to_owned()), placeholder.clone()));
            }
        }
    }
    Ok(secrets)
}

/// Decisions go to the audit spool (folded into the log when the store is next opened), new
/// holds to the notifier, as a hook's do.
struct SpoolRecorder {
    state: PathBuf,
}

impl Recorder for SpoolRecorder {
    fn decided(&self, action: &Action, decision: &Decision) {
        if let Err(e) = crate::spool::record(&self.state, action, decision) {
            eprintln!("holdpoint: could not record a decision in the audit spool: {e}");
        }
    }

    fn held(&self, hold: &Hold) {
        crate::notify::spawn(hold.id);
    }
}

/// The agent's MCP configuration file, relative to the home or project directory.
fn config_file(agent: &str, project: bool) -> Result<&'static str> {
    Ok(match (agent, project) {
        ("claude", false) => ".claude.json",
        ("claude", true) => ".mcp.json",
        ("gemini", _) => ".gemini/settings.json",
        ("cursor", _) => ".cursor/mcp.json",
        ("codex", _) => bail!(
            "Codex keeps MCP servers in ~/.codex/config.toml (TOML), which `mcp install` does not edit yet; \
             change each [mcp_servers.NAME] to command = \"holdpoint\", args = [\"mcp\", \"wrap\", \"NAME\", \"--\", \
             <the old command and args>]"
        ),
        _ => bail!("unknown agent {agent:?}"),
    })
}

fn install(args: &McpInstallArgs, install: bool) -> Result<u8> {
    let base = match &args.project {
        Some(dir) => dir.canonicalize().with_context(|| format!("directory {} does not exist", dir.display()))?,
        None => PathBuf::from(std::env::var_os("HOME").filter(|h| !h.is_empty()).context("HOME is not set")?),
    };
    let file = base.join(config_file(&args.agent, args.project.is_some())?);
    let exe = std::env::current_exe().context("cannot find the path of the running holdpoint binary")?;
    let Some(original) = read_settings(&file)? else {
        bail!("{} does not exist: the agent has no MCP servers there", file.display());
    };
    let mut settings = original.clone();
    let servers = settings
        .get_mut("mcpServers")
        .and_then(Value::as_object_mut)
        .with_context(|| format!("{} has no \"mcpServers\" object", file.display()))?;
    let (done, skipped) = if install { wrap_entries(servers, &exe) } else { unwrap_entries(servers) };
    let changed = settings != original;
    let backup = if changed { write_settings(&file, &settings, true)? } else { None };
    if args.json {
        let report = json!({"file": file, "changed": changed, "backup": backup, "servers": done, "skipped": skipped});
        println!("{report}");
        return Ok(0);
    }
    let verb = if install { "through Holdpoint" } else { "restored" };
    for name in &done {
        println!("{name}: {verb}");
    }
    for (name, why) in &skipped {
        println!("{name}: left as it is ({why})");
    }
    match (&backup, changed) {
        (Some(backup), true) => println!("{} updated; the original is in {}", file.display(), backup.display()),
        (_, true) => println!("{} updated", file.display()),
        (_, false) => println!("{} unchanged", file.display()),
    }
    if install && changed {
        println!("restart the agent to start its MCP servers through Holdpoint");
    }
    Ok(0)
}

/// Rewrites each stdio entry to `holdpoint mcp wrap NAME -- COMMAND ARGS..`.
fn wrap_entries(servers: &mut Map<String, Value>, exe: &Path) -> (Vec<String>, Vec<(String, String)>) {
    let (mut done, mut skipped) = (Vec::new(), Vec::new());
    for (name, entry) in servers.iter_mut() {
        if wrapped(entry).is_some() {
            skipped.push((name.clone(), "already through Holdpoint".to_owned()));
            continue;
        }
        let Some(command) = entry.get("command").and_then(Value::as_str).map(str::to_owned) else {
            let why = "not a stdio server; put an HTTP server behind an [[mcp]] block of `holdpoint serve`";
            skipped.push((name.clone(), why.to_owned()));
            continue;
        };
        let old_args: Vec<Value> = entry.get("args").and_then(Value::as_array).cloned().unwrap_or_default();
        let mut args = vec![json!("mcp"), json!("wrap"), json!(name), json!("--"), json!(command)];
        args.extend(old_args);
        if let Some(object) = entry.as_object_mut() {
            object.insert("command".into(), json!(exe.display().to_string()));
            object.insert("args".into(), Value::Array(args));
            done.push(name.clone());
        }
    }
    (done, skipped)
}

/// Puts wrapped entries back: the command and arguments after `--`.
fn unwrap_entries(servers: &mut Map<String, Value>) -> (Vec<String>, Vec<(String, String)>) {
    let (mut done, mut skipped) = (Vec::new(), Vec::new());
    for (name, entry) in servers.iter_mut() {
        let Some((command, args)) = wrapped(entry) else {
            skipped.push((name.clone(), "not through Holdpoint".to_owned()));
            continue;
        };
        if let Some(object) = entry.as_object_mut() {
            object.insert("command".into(), command);
            if args.is_empty() {
                object.shift_remove("args");
            } else {
                object.insert("args".into(), Value::Array(args));
            }
            done.push(name.clone());
        }
    }
    (done, skipped)
}

/// The original command and arguments of an entry `mcp install` rewrote.
fn wrapped(entry: &Value) -> Option<(Value, Vec<Value>)> {
    let command = entry.get("command")?.as_str()?;
    if Path::new(command).file_stem().is_none_or(|stem| stem != "holdpoint") {
        return None;
    }
    let args = entry.get("args")?.as_array()?;
    match args.as_slice() {
        [mcp, wrap, _name, dashes, original, rest @ ..]
            if mcp == "mcp" && wrap == "wrap" && dashes == "--" && original.is_string() =>
        {
            Some((original.clone(), rest.to_vec()))
        }
        _ => None,
    }
}
