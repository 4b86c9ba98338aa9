//! `holdpoint`: a braking system between AI coding agents and everything they can break.
#![forbid(unsafe_code)]

mod agent_socket;
mod approvals;
mod ca;
mod check;
mod checkpoint_cmd;
mod demo;
mod doctor;
mod engines;
mod facts;
mod home;
mod hook;
mod init;
mod mcp_cmd;
mod notify;
mod policy_cmd;
mod run;
mod scan_cmd;
mod serve;
mod settings_dir;
mod spool;
mod state;
mod trash_cmd;
mod vault_cmd;
mod watch;
mod web_recover;

/// mimalloc: per-thread free lists, cheap frees from another thread (see Cargo.toml).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand, ValueEnum};
use holdpoint_store::Decision;

use crate::check::Request;
use crate::engines::Engines;
use crate::home::Home;

#[derive(Parser)]
#[command(
    name = "holdpoint",
    version,
    about = "Holdpoint: holds an agent's destructive actions until a human approves them.",
    long_about = "Holdpoint stands between AI coding agents and everything they can break: shell \
commands, files, SQL, HTTP APIs and MCP tools all become one Action and meet one policy, \
which allows, holds for a human's approval, or denies.\n\n\
Files live in ~/.config/holdpoint and ~/.local/state/holdpoint, or in $HOLDPOINT_HOME/config \
and $HOLDPOINT_HOME/state when HOLDPOINT_HOME is set.",
    after_help = "Examples:\n  holdpoint init\n  holdpoint check shell -- rm -rf /\n  holdpoint explain file -- read ~/.aws/credentials\n  holdpoint check --batch --json < actions.jsonl"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The channels an action can arrive on.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum ChannelArg {
    Shell,
    File,
    Sql,
    Http,
    Mcp,
}

impl ChannelArg {
    fn name(self) -> &'static str {
        match self {
            ChannelArg::Shell => "shell",
            ChannelArg::File => "file",
            ChannelArg::Sql => "sql",
            ChannelArg::Http => "http",
            ChannelArg::Mcp => "mcp",
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Create the config and state directories (mode 0700) and a commented config file.
    #[command(
        after_help = "Examples:\n  holdpoint init\n  holdpoint init --profile strict\n  HOLDPOINT_HOME=/tmp/hp holdpoint init"
    )]
    Init {
        /// guarded (default), strict (hold every write that leaves the machine) or observe
        /// (decide and report, never block).
        #[arg(long, default_value = "guarded", value_parser = ["guarded", "strict", "observe"])]
        profile: String,
    },
    /// Decide an action without carrying it out. Exit code: 0 allow, 3 hold, 4 deny.
    #[command(
        after_help = "Input after `--`, per channel:\n  shell  the command:                 holdpoint check shell -- git push --force origin main\n  file   OP PATH or JSON:             holdpoint check file -- read ~/.ssh/id_ed25519\n  sql    the SQL text:                holdpoint check sql -- 'DROP TABLE users'\n  http   METHOD URL or JSON:          holdpoint check http -- DELETE https://api.example.com/v1/volumes/7\n  mcp    JSON:                        holdpoint check mcp -- '{\"server\":\"db\",\"tool\":\"query\"}'\n\n--batch reads JSON lines from stdin, each {\"id\"?, \"channel\", \"input\", \"cwd\"?, \"target\"?, \"effects\"?}\nand answers each on its own line; a line that cannot be read is answered with a deny:\n  echo '{\"id\":1,\"channel\":\"shell\",\"input\":\"ls\"}' | holdpoint check --batch --json"
    )]
    Check {
        /// The channel the input arrives on.
        #[arg(required_unless_present = "batch", conflicts_with = "batch")]
        channel: Option<ChannelArg>,
        /// Read JSON lines from stdin and answer each; exits 0 once every line is answered.
        #[arg(long)]
        batch: bool,
        /// The agent's working directory (default: the current one); its git top level is the workspace.
        #[arg(long)]
        cwd: Option<PathBuf>,
        /// The connection target (e.g. postgres://host/db for sql).
        #[arg(long)]
        target: Option<String>,
        /// Already-classified effects (a JSON array), to test the policy alone.
        #[arg(long, value_name = "JSON")]
        effects: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// The input.
        #[arg(last = true)]
        input: Vec<String>,
    },
    /// Show the facts found in an action, the policies that match and why.
    #[command(
        after_help = "Examples:\n  holdpoint explain shell -- rm -rf ~/projects\n  holdpoint explain file --cwd ~/app -- write /etc/hosts"
    )]
    Explain {
        /// The channel the input arrives on.
        channel: ChannelArg,
        /// The agent's working directory (default: the current one).
        #[arg(long)]
        cwd: Option<PathBuf>,
        /// The connection target (e.g. postgres://host/db for sql).
        #[arg(long)]
        target: Option<String>,
        /// The input.
        #[arg(last = true, required = true)]
        input: Vec<String>,
    },
    /// Print or validate the policy in force.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Register an approver; prints their token once.
    #[command(
        after_help = "Examples:\n  holdpoint approver add alice > ~/.holdpoint-alice.token && chmod 600 ~/.holdpoint-alice.token"
    )]
    Approver {
        #[command(subcommand)]
        command: ApproverCommand,
    },
    /// List the holds waiting for a decision.
    #[command(after_help = "Examples:\n  holdpoint pending\n  holdpoint pending --json")]
    Pending {
        /// Print JSON: {"holds":[{"id","channel","summary","reason","created","expires",...}]}.
        #[arg(long)]
        json: bool,
    },
    /// Show one hold: the exact action, why it is held, approvals, timers.
    #[command(after_help = "Examples:\n  holdpoint show 3\n  holdpoint show 3 --json")]
    Show {
        /// The hold id.
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Approve a hold (signed with the approver's token).
    #[command(
        after_help = "Examples:\n  holdpoint approve 3 --token-file ~/.holdpoint-alice.token\n  holdpoint approve 3 --note 'checked the target'"
    )]
    Approve {
        /// The hold id.
        id: String,
        /// A note kept in the audit log.
        #[arg(long)]
        note: Option<String>,
        /// The approver's token file (without it: typed at the terminal).
        #[arg(long)]
        token_file: Option<PathBuf>,
        /// Print the hold afterwards as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Deny a hold.
    #[command(
        after_help = "Examples:\n  holdpoint deny 3 --reason 'wrong database' --token-file ~/.holdpoint-alice.token"
    )]
    Deny {
        /// The hold id.
        id: String,
        /// Why, kept in the audit log.
        #[arg(long, required = true)]
        reason: String,
        /// The approver's token file (without it: typed at the terminal).
        #[arg(long)]
        token_file: Option<PathBuf>,
        /// Print the hold afterwards as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Cancel an approved hold during its cool-off delay.
    #[command(after_help = "Examples:\n  holdpoint cancel 3 --token-file ~/.holdpoint-bob.token")]
    Cancel {
        /// The hold id.
        id: String,
        /// The approver's token file (without it: typed at the terminal).
        #[arg(long)]
        token_file: Option<PathBuf>,
        /// Print the hold afterwards as JSON.
        #[arg(long)]
        json: bool,
    },
    /// A live terminal view of holds; keys approve, deny or cancel (asking for the token).
    #[command(after_help = "Examples:\n  holdpoint watch")]
    Watch,
    /// What the PostgreSQL proxy's soft deletes kept: list, restore (audited) or purge (held).
    #[command(
        after_help = "Examples:\n  holdpoint trash list\n  holdpoint trash restore 3\n  holdpoint trash --db prod purge 3"
    )]
    Trash(trash_cmd::TrashArgs),
    /// Snapshots of a workspace: take, list, compare and restore them (restores are audited).
    Checkpoint {
        #[command(subcommand)]
        command: CheckpointCommand,
    },
    /// Read, verify or export the audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Keep secrets in the encrypted vault; agents get placeholders that only Holdpoint's proxy
    /// turns back into the secret, for the hosts, methods and paths the secret is bound to.
    #[command(
        after_help = "The vault key: a passphrase typed at the terminal, or HOLDPOINT_VAULT_KEY_FILE=FILE for unattended\nuse (64 hex digits, mode 0600: `openssl rand -hex 32 > FILE && chmod 600 FILE`).\n\nExamples:\n  printenv OPENAI_API_KEY | holdpoint vault add openai --host api.openai.com\n  holdpoint vault import .env\n  holdpoint vault list"
    )]
    Vault {
        #[command(subcommand)]
        command: vault_cmd::VaultCommand,
    },
    /// Report what this machine and setup give Holdpoint: the store, the vault key source, ...
    #[command(after_help = "Examples:\n  holdpoint doctor\n  holdpoint doctor --json")]
    Doctor {
        /// Print JSON: {"checks":[{"name","status":"ok|warn|error|info","detail"}]}.
        #[arg(long)]
        json: bool,
    },
    /// Send the notices (webhook, desktop) for a new hold; started by the hook, detached.
    #[command(hide = true)]
    NotifyHold {
        /// The hold id.
        id: String,
    },
    /// Answer an agent's pre-tool hook (always exit 0, the agent's JSON on stdout), or install it.
    #[command(
        after_help = "Examples:\n  holdpoint hook install claude\n  echo '{...}' | holdpoint hook claude\n  holdpoint hook uninstall cursor --project ~/app"
    )]
    Hook {
        #[command(subcommand)]
        command: hook::HookCommand,
    },
    /// Find plaintext secrets on disk (default: the home directory); never prints a secret.
    /// Exit code: 3 when any is found, 0 when none.
    #[command(
        after_help = "Each finding is PATH:LINE  KIND  FINGERPRINT (a short hash of the secret).\nHidden files are scanned and symlinks are not followed; binaries (a NUL byte in the first\n8 KiB) and files over --max-size are skipped and counted.\n\nExamples:\n  holdpoint scan\n  holdpoint scan ~/projects/app --json\n  holdpoint scan . --respect-ignores --max-size 2MiB\n  holdpoint scan --list-rules"
    )]
    Scan(scan_cmd::ScanArgs),
    /// Run a command (an agent) in the OS sandbox: it sees its workspace read-write, the
    /// system and toolchains read-only, an empty home, and no network but the egress proxy.
    /// Exits with the command's status.
    #[command(
        after_help = "Hidden: the home directory (a fresh tmpfs inside, with ~/.gitconfig), every other project,\nHoldpoint's config and state. Read-only inside the workspace, even before they exist:\n.git/hooks, .git/config, .envrc, .vscode/tasks.json, agents' settings, .mcp.json, .holdpoint.toml.\nVariables holding vault secrets get their placeholders (with HOLDPOINT_VAULT_KEY_FILE); other\nsecret-looking variables are dropped.\n\nExamples:\n  holdpoint run -- claude\n  holdpoint run --workspace ~/app --allow-read ~/datasets -- make test\n  holdpoint run --proxy 127.0.0.1:8788 -- npm test"
    )]
    Run(run::RunArgs),
    /// The sandbox's re-executed supervisor (internal).
    #[command(name = holdpoint_sandbox::REEXEC_SUBCOMMAND, hide = true)]
    SandboxExec {
        /// The descriptor holding the request.
        fd: i32,
    },
    /// Run the gateway: the HTTP(S) egress proxy on `[proxy] listen` (loopback), until SIGINT
    /// or SIGTERM. Every request is classified and allowed, held (409) or denied (403).
    #[command(
        after_help = "Agents point at it with HTTP_PROXY and HTTPS_PROXY, and trust the local CA\n(`holdpoint ca export`). Held requests wait up to hold_wait, then get 409 with the hold id;\nafter `holdpoint approve ID` the same request passes once. Upstream TLS is checked against\nthe Mozilla roots plus the certificates in SSL_CERT_FILE; HOLDPOINT_VAULT_KEY_FILE opens the\nvault so placeholders are replaced with their secrets.\n\nExamples:\n  holdpoint serve\n  holdpoint serve --config ./gateway.toml\n  HTTPS_PROXY=http://127.0.0.1:8788 curl --cacert <(holdpoint ca export) https://api.github.com/"
    )]
    Serve {
        /// A config file to use instead of `config.toml`.
        #[arg(long, value_name = "F")]
        config: Option<PathBuf>,
        /// Started by `holdpoint run`: the HTTP proxy listens only on the state directory's
        /// socket, and the gateway stops when its standard input closes (when `run` ends).
        #[arg(long, hide = true)]
        for_run: bool,
    },
    /// Replay the incident end to end in a temp dir: a scripted agent against a real
    /// PostgreSQL and platform API, with no protection, with hooks, and in the sandbox.
    /// Exit 0 when the protected runs lost nothing.
    #[command(
        after_help = "Builds its own world (a PostgreSQL server, a loopback platform API, a developer's home) in a\ntemp dir under ~/.cache/holdpoint and removes it afterwards; needs no configuration. PostgreSQL's\nserver binaries come from /usr/lib/postgresql/*/bin, or HOLDPOINT_DEMO_PG_BIN=DIR.\n\nExamples:\n  holdpoint demo\n  holdpoint demo --mode hooks\n  holdpoint demo --json --keep ~/hp-demo"
    )]
    Demo(demo::DemoArgs),
    /// The demo's scripted agent (internal).
    #[command(name = "demo-agent", hide = true)]
    DemoAgent {
        /// The plan, as JSON.
        #[arg(long)]
        plan: String,
    },
    /// MCP servers behind the gateway: `wrap` a stdio server, `install` the gateway into an
    /// agent's MCP configuration.
    Mcp {
        #[command(subcommand)]
        command: mcp_cmd::McpCommand,
    },
    /// The local CA the egress proxy intercepts TLS with (made by `holdpoint init`).
    Ca {
        #[command(subcommand)]
        command: CaCommand,
    },
}

#[derive(Subcommand)]
enum CaCommand {
    /// Print the CA certificate (PEM), for agents' trust stores.
    #[command(
        after_help = "Examples:\n  holdpoint ca export > holdpoint-ca.pem\n  SSL_CERT_FILE=holdpoint-ca.pem NODE_EXTRA_CA_CERTS=holdpoint-ca.pem my-agent"
    )]
    Export,
}

#[derive(Subcommand)]
enum ApproverCommand {
    /// Add an approver; prints the token once.
    Add {
        /// The approver's name.
        name: String,
        /// Print JSON: {"name","token"}.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum CheckpointCommand {
    /// Snapshot a workspace now (`holdpoint run` takes one at start, and a hook one before a
    /// released hold runs). Unchanged files are not read again; content is stored once.
    #[command(
        after_help = "Examples:\n  holdpoint checkpoint create\n  holdpoint checkpoint create --workspace ~/app --reason \"before the migration\""
    )]
    Create {
        /// The workspace (default: the git top level of the current directory).
        #[arg(long, value_name = "DIR")]
        workspace: Option<PathBuf>,
        /// Why, shown in the list.
        #[arg(long)]
        reason: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Every checkpoint, oldest first.
    #[command(
        after_help = "Examples:\n  holdpoint checkpoint list\n  holdpoint checkpoint list --json | jq '.checkpoints[-1]'"
    )]
    List {
        /// Print JSON: {"checkpoints":[{"id","workspace","created","reason","files","bytes","new_bytes"}]}.
        #[arg(long)]
        json: bool,
    },
    /// What changed in the workspace since a checkpoint (+ added, - removed, ~ modified).
    #[command(after_help = "Examples:\n  holdpoint checkpoint diff 3")]
    Diff {
        /// The checkpoint id.
        id: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Make the workspace exactly what the checkpoint recorded: bytes, modes, symlinks; files
    /// it did not have are removed (ignored files are left alone). A checkpoint of the state
    /// before is taken first, so the restore can be undone the same way.
    #[command(after_help = "Examples:\n  holdpoint checkpoint restore 3")]
    Restore {
        /// The checkpoint id.
        id: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Print every record.
    #[command(after_help = "Examples:\n  holdpoint audit show\n  holdpoint audit show --json | jq .")]
    Show {
        /// Print the JSON records.
        #[arg(long)]
        json: bool,
    },
    /// Check the hash chain and signed checkpoints; names the first bad record (exit 1).
    #[command(after_help = "Examples:\n  holdpoint audit verify")]
    Verify {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write the records as JSON lines (for a SIEM).
    #[command(after_help = "Examples:\n  holdpoint audit export --since 1764000000 > audit.jsonl")]
    Export {
        /// Only records at or after this unix time.
        #[arg(long)]
        since: Option<u64>,
    },
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Print the policy set in force: the profile's built-in policies, then the user's.
    #[command(after_help = "Examples:\n  holdpoint policy show\n  holdpoint policy show --json")]
    Show {
        /// Print JSON: one object per policy with id, verdict, reason and origin.
        #[arg(long)]
        json: bool,
    },
    /// Check config.toml, policies/*.cedar and the project file of the current directory,
    /// or one file: a .cedar policy, a config.toml or a .holdpoint.toml.
    #[command(
        after_help = "Examples:\n  holdpoint policy validate\n  holdpoint policy validate ~/.config/holdpoint/policies/team.cedar\n  holdpoint policy validate .holdpoint.toml"
    )]
    Validate {
        /// A file to check instead of everything in force.
        path: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    holdpoint_sandbox::keep_freed_memory();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("holdpoint: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> Result<u8> {
    // Before anything that can fail: a hook answers the agent whatever happens.
    if let Command::Hook { command } = cli.command {
        return hook::run(command);
    }
    // Needs no Holdpoint directories.
    if let Command::Scan(args) = cli.command {
        return scan_cmd::run(args);
    }
    if let Command::SandboxExec { fd } = cli.command {
        return match holdpoint_sandbox::run_from_fd(fd) {
            Ok(status) => Ok(u8::try_from(status).unwrap_or(125)),
            Err(holdpoint_sandbox::Error::Command { message, status }) => {
                eprintln!("holdpoint run: {message}");
                Ok(status)
            }
            Err(e) => Err(e.into()),
        };
    }
    // The demo makes its own homes; its agent needs none.
    if let Command::Demo(args) = cli.command {
        return demo::run(args);
    }
    if let Command::DemoAgent { plan } = cli.command {
        return demo::agent::run(&plan);
    }
    let home = Home::locate()?;
    match cli.command {
        Command::Demo(_) | Command::DemoAgent { .. } => Ok(1),
        Command::Hook { command } => hook::run(command),
        Command::Scan(args) => scan_cmd::run(args),
        Command::SandboxExec { .. } => Ok(1),
        Command::Run(args) => run::run(&home, args),
        Command::Init { profile } => init::run(&home, &profile),
        Command::Check { channel, batch, cwd, target, effects, json, input } => {
            let mut engines = Engines::load(&home)?;
            if batch {
                let stdin = std::io::stdin().lock();
                check::batch(&mut engines, &home, stdin, std::io::stdout().lock(), json)?;
                return Ok(0);
            }
            let channel = channel.ok_or_else(|| anyhow::anyhow!("name a channel or pass --batch"))?;
            let effects = effects
                .map(|e| serde_json::from_str(&e))
                .transpose()
                .map_err(|e| anyhow::anyhow!("--effects is not a JSON array of effects: {e}"))?;
            let answer = match check::parse_cli_input(channel.name(), &input) {
                Ok(value) => {
                    let mut req = request(channel, value, cwd, target);
                    req.effects = effects;
                    check::answer(&mut engines, &home, req)
                }
                Err(reason) => check::Answer::unreadable(None, reason),
            };
            let mut out = std::io::stdout().lock();
            if json {
                writeln!(out, "{}", serde_json::to_string(&answer)?)?;
            } else {
                writeln!(out, "{}", check::human(&answer))?;
            }
            Ok(answer.exit_code())
        }
        Command::Explain { channel, cwd, target, input } => {
            let mut engines = Engines::load(&home)?;
            let value = check::parse_cli_input(channel.name(), &input).map_err(anyhow::Error::msg)?;
            let text = check::explain(&mut engines, &home, request(channel, value, cwd, target))
                .map_err(anyhow::Error::msg)?;
            print!("{text}");
            Ok(0)
        }
        Command::Approver { command: ApproverCommand::Add { name, json } } => {
            approvals::approver_add(&home, &name, json)
        }
        Command::Pending { json } => approvals::pending(&home, json),
        Command::NotifyHold { id } => notify::run(&home, &id),
        Command::Watch => watch::run(&home),
        Command::Vault { command } => vault_cmd::run(&home, command),
        Command::Doctor { json } => doctor::run(&home, json),
        Command::Serve { config, for_run } => serve::run(&home, config.as_deref(), for_run),
        Command::Mcp { command } => mcp_cmd::run(&home, command),
        Command::Ca { command: CaCommand::Export } => ca::export(&home),
        Command::Show { id, json } => approvals::show(&home, &id, json),
        Command::Approve { id, note, token_file, json } => {
            let ask = approvals::Ask { note: note.as_deref(), token_file: token_file.as_deref(), json };
            approvals::decide(&home, &id, Decision::Approve, ask)
        }
        Command::Deny { id, reason, token_file, json } => {
            let ask = approvals::Ask { note: Some(&reason), token_file: token_file.as_deref(), json };
            approvals::decide(&home, &id, Decision::Deny, ask)
        }
        Command::Cancel { id, token_file, json } => {
            let ask = approvals::Ask { note: None, token_file: token_file.as_deref(), json };
            approvals::decide(&home, &id, Decision::Cancel, ask)
        }
        Command::Trash(args) => trash_cmd::run(&home, args),
        Command::Checkpoint { command } => match command {
            CheckpointCommand::Create { workspace, reason, json } => {
                checkpoint_cmd::create(&home, workspace.as_deref(), reason.as_deref(), json)
            }
            CheckpointCommand::List { json } => checkpoint_cmd::list(&home, json),
            CheckpointCommand::Diff { id, json } => checkpoint_cmd::diff(&home, id, json),
            CheckpointCommand::Restore { id, json } => checkpoint_cmd::restore(&home, id, json),
        },
        Command::Audit { command: AuditCommand::Show { json } } => approvals::audit_show(&home, json),
        Command::Audit { command: AuditCommand::Verify { json } } => approvals::audit_verify(&home, json),
        Command::Audit { command: AuditCommand::Export { since } } => approvals::audit_export(&home, since),
        Command::Policy { command: PolicyCommand::Show { json } } => policy_cmd::show(&home, json),
        Command::Policy { command: PolicyCommand::Validate { path } } => policy_cmd::validate(&home, path.as_deref()),
    }
}

fn request(channel: ChannelArg, input: serde_json::Value, cwd: Option<PathBuf>, target: Option<String>) -> Request {
    Request { id: None, channel: channel.name().into(), input: Some(input), cwd, target, agent: None, effects: None }
}
