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
use serde_json::{Value, json};

use crate::home::{Home, workspace_of};
use crate::hook::{read_settings, write_settings, write_text};

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
    /// A project's configuration under DIR (.mcp.json, .codex/config.toml, .gemini/settings.json,
    /// .cursor/mcp.json).
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
pub(crate) async fn vault_secrets(store: &Store) -> Result<Vec<(SecretString, String)>> {
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
    fn decided(&self, action: Action, decision: Arc<Decision>) {
        if let Err(e) = crate::spool::record(&self.state, &action, &decision) {
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
        ("codex", _) => ".codex/config.toml",
        ("gemini", _) => ".gemini/settings.json",
        ("cursor", _) => ".cursor/mcp.json",
        _ => bail!("unknown agent {agent:?}"),
    })
}

/// What `install` or `uninstall` did to a configuration.
struct Rewritten {
    done: Vec<String>,
    skipped: Vec<(String, String)>,
    backup: Option<PathBuf>,
    changed: bool,
}

fn install(args: &McpInstallArgs, install: bool) -> Result<u8> {
    let base = match &args.project {
        Some(dir) => dir.canonicalize().with_context(|| format!("directory {} does not exist", dir.display()))?,
        None => PathBuf::from(std::env::var_os("HOME").filter(|h| !h.is_empty()).context("HOME is not set")?),
    };
    let file = base.join(config_file(&args.agent, args.project.is_some())?);
    let exe = std::env::current_exe().context("cannot find the path of the running holdpoint binary")?;
    let out =
        if args.agent == "codex" { rewrite_toml(&file, &exe, install)? } else { rewrite_json(&file, &exe, install)? };
    if args.json {
        let report = json!({"file": file, "changed": out.changed, "backup": out.backup, "servers": out.done, "skipped": out.skipped});
        println!("{report}");
        return Ok(0);
    }
    let verb = if install { "through Holdpoint" } else { "restored" };
    for name in &out.done {
        println!("{name}: {verb}");
    }
    for (name, why) in &out.skipped {
        println!("{name}: left as it is ({why})");
    }
    match (&out.backup, out.changed) {
        (Some(backup), true) => println!("{} updated; the original is in {}", file.display(), backup.display()),
        (_, true) => println!("{} updated", file.display()),
        (_, false) => println!("{} unchanged", file.display()),
    }
    if install && out.changed {
        println!("restart the agent to start its MCP servers through Holdpoint");
    }
    Ok(0)
}

/// The JSON configurations (`mcpServers`).
fn rewrite_json(file: &Path, exe: &Path, install: bool) -> Result<Rewritten> {
    let Some(original) = read_settings(file)? else {
        bail!("{} does not exist: the agent has no MCP servers there", file.display());
    };
    let mut settings = original.clone();
    let servers = settings
        .get_mut("mcpServers")
        .and_then(Value::as_object_mut)
        .with_context(|| format!("{} has no \"mcpServers\" object", file.display()))?;
    let (mut done, mut skipped) = (Vec::new(), Vec::new());
    for (name, entry) in servers.iter_mut() {
        let command = entry.get("command").and_then(Value::as_str).map(str::to_owned);
        let args: Option<Vec<String>> = match entry.get("args") {
            None => Some(Vec::new()),
            Some(args) => args.as_array().and_then(|a| a.iter().map(|v| v.as_str().map(str::to_owned)).collect()),
        };
        let Some(object) = entry.as_object_mut() else { continue };
        match rewrite(name, command.as_deref(), args.as_deref(), exe, install) {
            Ok((command, args)) => {
                object.insert("command".into(), json!(command));
                if args.is_empty() {
                    object.shift_remove("args");
                } else {
                    object.insert("args".into(), json!(args));
                }
                done.push(name.clone());
            }
            Err(why) => skipped.push((name.clone(), why)),
        }
    }
    let changed = settings != original;
    let backup = if changed { write_settings(file, &settings, true)? } else { None };
    Ok(Rewritten { done, skipped, backup, changed })
}

/// Codex's TOML configuration (`[mcp_servers.NAME]`), edited in place: comments, order and
/// layout are kept.
fn rewrite_toml(file: &Path, exe: &Path, install: bool) -> Result<Rewritten> {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("{} does not exist: the agent has no MCP servers there", file.display())
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", file.display())),
    };
    let mut doc: toml_edit::DocumentMut = text.parse().with_context(|| {
        format!("{} is not TOML that Holdpoint can edit; fix the file or edit it by hand", file.display())
    })?;
    let servers = doc
        .get_mut("mcp_servers")
        .and_then(toml_edit::Item::as_table_like_mut)
        .with_context(|| format!("{} has no [mcp_servers] table", file.display()))?;
    let (mut done, mut skipped) = (Vec::new(), Vec::new());
    for (name, entry) in servers.iter_mut() {
        let name = name.get().to_owned();
        let Some(entry) = entry.as_table_like_mut() else {
            skipped.push((name, "not a table".to_owned()));
            continue;
        };
        let command = entry.get("command").and_then(toml_edit::Item::as_str).map(str::to_owned);
        let args: Option<Vec<String>> = match entry.get("args") {
            None => Some(Vec::new()),
            Some(args) => args.as_array().and_then(|a| a.iter().map(|v| v.as_str().map(str::to_owned)).collect()),
        };
        match rewrite(&name, command.as_deref(), args.as_deref(), exe, install) {
            Ok((command, args)) => {
                set_toml(entry, "command", command.into());
                if args.is_empty() {
                    entry.remove("args");
                } else {
                    set_toml(entry, "args", args.into_iter().collect::<toml_edit::Array>().into());
                }
                done.push(name);
            }
            Err(why) => skipped.push((name, why)),
        }
    }
    let new = doc.to_string();
    let changed = new != text;
    let backup = if changed { write_text(file, &new, true)? } else { None };
    Ok(Rewritten { done, skipped, backup, changed })
}

/// Sets a key's value, keeping the comments and spacing around it.
fn set_toml(entry: &mut dyn toml_edit::TableLike, key: &str, value: toml_edit::Value) {
    match entry.get_mut(key).and_then(toml_edit::Item::as_value_mut) {
        Some(old) => {
            let decor = old.decor().clone();
            *old = value;
            *old.decor_mut() = decor;
        }
        None => {
            entry.insert(key, toml_edit::Item::Value(value));
        }
    }
}

/// One server entry: its new command and arguments (`holdpoint mcp wrap NAME -- COMMAND ARGS..`
/// to install, the original ones to uninstall), or why it is left as it is.
fn rewrite(
    name: &str,
    command: Option<&str>,
    args: Option<&[String]>,
    exe: &Path,
    install: bool,
) -> Result<(String, Vec<String>), String> {
    let Some(command) = command else {
        return Err(if install {
            "not a stdio server; put an HTTP server behind an [[mcp]] block of `holdpoint serve`".to_owned()
        } else {
            "not through Holdpoint".to_owned()
        });
    };
    let Some(args) = args else { return Err("its arguments are not a list of strings".to_owned()) };
    match (wrapped(command, args), install) {
        (Some(_), true) => Err("already through Holdpoint".to_owned()),
        (Some((original, rest)), false) => Ok((original.to_owned(), rest.to_vec())),
        (None, true) => {
            let mut new =
                vec!["mcp".to_owned(), "wrap".to_owned(), name.to_owned(), "--".to_owned(), command.to_owned()];
            new.extend(args.iter().cloned());
            Ok((exe.display().to_string(), new))
        }
        (None, false) => Err("not through Holdpoint".to_owned()),
    }
}

/// The original command and arguments of an entry `mcp install` rewrote.
fn wrapped<'a>(command: &str, args: &'a [String]) -> Option<(&'a str, &'a [String])> {
    if Path::new(command).file_stem().is_none_or(|stem| stem != "holdpoint") {
        return None;
    }
    match args {
        [mcp, wrap, _name, dashes, original, rest @ ..] if mcp == "mcp" && wrap == "wrap" && dashes == "--" => {
            Some((original.as_str(), rest))
        }
        _ => None,
    }
}
