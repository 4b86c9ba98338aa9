//! `holdpoint run`: a command (an agent) in the OS sandbox, whose only way out is Holdpoint.
//!
//! This file gathers what the sandbox needs from Holdpoint's side — the workspace, the paths
//! that must never be shown, the environment with vault secrets turned into placeholders and
//! other secret-looking variables dropped, the bridge to the egress proxy — and hands it to
//! `holdpoint_sandbox`.

use std::ffi::OsString;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use holdpoint_policy::config::Config;
use holdpoint_proxy::CA_CERT_FILE;
use holdpoint_sandbox::background::Task;
use holdpoint_sandbox::checkpoint::Committing;
use holdpoint_sandbox::env::Outcome as EnvOutcome;
use holdpoint_sandbox::layout::DEFAULT_BRIDGE_PORT;
use holdpoint_sandbox::{Bridge, BridgeTarget, Error as SandboxError, Request};
use holdpoint_vault::scan::{Detector, RULES, assignment_kind};
use holdpoint_vault::{KeyHeader, SealedRecord, VaultKey, open_record};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::home::{Home, workspace_of};
use crate::settings_dir::SettingsDir;
use crate::state::State;
use crate::vault_cmd::key_file_from_env;

use crate::agent_socket::{ADDR_VAR, AGENT_SOCKET, DEFAULT_AGENT_PORT, PROXY_SOCKET};

/// How many times `run` looks for the gateway it started before giving up (50 ms apart).
const GATEWAY_TRIES: u32 = 400;

#[derive(clap::Args)]
pub struct RunArgs {
    /// The workspace, shown read-write (default: the git top level of the current directory,
    /// or the directory itself).
    #[arg(long, value_name = "DIR")]
    workspace: Option<PathBuf>,
    /// Also show PATH, read-only (repeatable).
    #[arg(long = "allow-read", value_name = "PATH")]
    allow_read: Vec<PathBuf>,
    /// When this kernel cannot give mount and network isolation, run anyway with Landlock and
    /// seccomp only: the network is then NOT cut, and paths the sandbox would hide are hidden
    /// only as far as Landlock reaches.
    #[arg(long)]
    dangerously_weaker: bool,
    /// The egress proxy the bridge relays to: a unix socket path or a loopback HOST:PORT
    /// (default: the running gateway's, found through the state directory or `[proxy] listen`;
    /// when no gateway runs, `run` starts one for as long as CMD runs).
    #[arg(long, value_name = "SOCKET|ADDR")]
    proxy: Option<String>,
    /// The PEM certificate of the CA the proxy signs with (default: the local CA of
    /// `holdpoint init`, when it exists).
    #[arg(long, value_name = "FILE")]
    proxy_ca: Option<PathBuf>,
    /// The port the bridge listens on inside the sandbox (127.0.0.1).
    #[arg(long, value_name = "PORT", default_value_t = DEFAULT_BRIDGE_PORT)]
    proxy_port: u16,
    /// The command and its arguments.
    #[arg(last = true, required = true, value_name = "CMD")]
    command: Vec<OsString>,
}

pub fn run(home: &Home, args: RunArgs) -> Result<u8> {
    // The vault is read first (its store may start threads, after which nothing below can
    // fork: the sandbox then re-executes, and the work below is done in line).
    let secrets = match vault_secrets(home) {
        Ok(secrets) => secrets,
        Err(e) => {
            eprintln!(
                "holdpoint run: the vault could not be opened, so no variable gets a placeholder ({e:#}); \
                 secret-looking variables are still dropped"
            );
            Vec::new()
        }
    };
    // Filtering the environment compiles the secret scanner's rules, the longest step of a
    // start: a forked child does it while the sandbox is prepared and built.
    let mut scan = Some(Task::start(|| Ok(filter_environment(&secrets).to_bytes())));
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let workspace = match &args.workspace {
        Some(dir) => absolute(dir, "the workspace")?,
        None => absolute(&workspace_of(&cwd), "the workspace")?,
    };
    // Whatever the command does to the workspace can be undone from here: the snapshot is
    // taken now and reaches the disk while the sandbox is being prepared and built; the
    // command starts only once it has.
    let mut start = Start::Syncing(
        crate::checkpoint_cmd::store(home)?
            .prepare(&workspace, "holdpoint run started", holdpoint_store::unix_now())
            .context("cannot take the workspace's checkpoint, so the run does not start")?
            .commit_in_background(),
    );
    // Made when an agent's settings are written into it; removed when the run ends.
    let mut settings_dir = None;
    let (request, plan, _gateway) = request(home, &args, cwd, workspace, &mut settings_dir)?;
    let mut cached: Option<Vec<(OsString, OsString)>> = None;
    let mut env = || {
        start.wait()?;
        if cached.is_none() {
            // Should the child have failed, the filter runs here: never unfiltered.
            let outcome = scan
                .take()
                .and_then(|task| task.wait().ok())
                .and_then(|bytes| EnvOutcome::from_bytes(&bytes))
                .unwrap_or_else(|| filter_environment(&secrets));
            cached = Some(environment(home, &plan, outcome));
        }
        Ok(cached.clone().unwrap_or_default())
    };
    match holdpoint_sandbox::run_with_env(&request, &mut env) {
        Ok(status) => Ok(u8::try_from(status).unwrap_or(125)),
        Err(SandboxError::Command { message, status }) => {
            eprintln!("holdpoint run: {message}");
            Ok(status)
        }
        Err(e @ SandboxError::Isolation { .. }) if args.dangerously_weaker => {
            let mut request = request;
            request.env = env().map_err(anyhow::Error::msg)?;
            weaker(&request, &e)
        }
        Err(e @ SandboxError::Isolation { .. }) => bail!("refusing to start: {e}"),
        Err(e) => Err(e.into()),
    }
}

/// The run's start checkpoint: reaching the disk, then taken (or failed, for good).
enum Start {
    Syncing(Committing),
    Taken,
    Failed(String),
}

impl Start {
    /// Waits for the checkpoint; the command must not start unless this is `Ok`.
    fn wait(&mut self) -> Result<(), String> {
        match std::mem::replace(self, Start::Taken) {
            Start::Taken => Ok(()),
            Start::Failed(why) => {
                *self = Start::Failed(why.clone());
                Err(why)
            }
            Start::Syncing(committing) => match committing.wait() {
                Ok(taken) => {
                    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
                        eprintln!(
                            "holdpoint run: checkpoint {} taken (undo with `holdpoint checkpoint restore {}`)",
                            taken.id, taken.id
                        );
                    }
                    Ok(())
                }
                Err(e) => {
                    let why = format!("cannot take the workspace's checkpoint, so the run does not start: {e}");
                    *self = Start::Failed(why.clone());
                    Err(why)
                }
            },
        }
    }
}

/// What the environment step needs besides the process's own variables.
struct EnvPlan {
    bridge: Option<Bridge>,
    /// The agent-side socket's port inside, when the gateway offers one.
    agent_port: Option<u16>,
    with_ca: bool,
    proxy_listen: SocketAddr,
}

fn weaker(request: &Request, why: &SandboxError) -> Result<u8> {
    let abi = holdpoint_sandbox::probe::probe().landlock_abi;
    eprintln!("holdpoint run: --dangerously-weaker: {why}");
    eprintln!(
        "holdpoint run: running with {} and seccomp only: the network is NOT isolated, /tmp is the host's, and \
         paths protected inside the workspace (.git/hooks, .envrc, ...) are writable",
        if abi > 0 {
            format!("Landlock (ABI {abi})")
        } else {
            "NO Landlock (this kernel has none: no file fence)".into()
        }
    );
    match holdpoint_sandbox::run_weaker(request) {
        Ok(never) => match never {},
        Err(SandboxError::Command { message, status }) => {
            eprintln!("holdpoint run: {message}");
            Ok(status)
        }
        Err(e) => Err(e.into()),
    }
}

fn absolute(path: &Path, what: &str) -> Result<PathBuf> {
    std::fs::canonicalize(path).with_context(|| format!("{what} {} does not exist", path.display()))
}

fn request(
    home: &Home,
    args: &RunArgs,
    cwd: PathBuf,
    workspace: PathBuf,
    settings_dir: &mut Option<SettingsDir>,
) -> Result<(Request, EnvPlan, Option<Gateway>)> {
    let user_home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .filter(|h| h.is_absolute())
        .context("HOME is not set to an absolute path; the sandbox needs it to know what to hide")?;
    let mut request = Request::new(workspace, cwd, user_home.clone(), args.command.clone());
    for path in &args.allow_read {
        request.allow_read.push(absolute(path, "--allow-read")?);
    }
    let toolchain_var = |var: &str| std::env::var_os(var).map(PathBuf::from).filter(|d| d.is_absolute() && d.is_dir());
    if let Some(dir) = toolchain_var("CARGO_HOME").filter(|d| !request.toolchains.contains(d)) {
        request.toolchains.push(dir);
    }
    if let Some(dir) = toolchain_var("RUSTUP_HOME").filter(|d| !request.tools.contains(d)) {
        request.tools.push(dir);
    }
    request.forbidden = forbidden(home, &user_home);
    request.home_files = clean_home_files(home, request.home_files);

    let config = home.load_config()?;
    let (bridge, gateway) = bridge(home, &config, args)?;
    let agent_socket = home.state.join(AGENT_SOCKET);
    let agent_port = (bridge.is_some() && UnixStream::connect(&agent_socket).is_ok()).then_some(DEFAULT_AGENT_PORT);
    if let Some(port) = agent_port.filter(|p| *p != args.proxy_port) {
        request.extra_bridges.push(Bridge { target: BridgeTarget::Unix(agent_socket), port });
    }
    if bridge.is_some() {
        request.extra_bridges.extend(postgres_bridges(&config, args.proxy_port));
    }
    let exe = std::env::current_exe().context("cannot find the path of the running holdpoint binary")?;
    request.home_overrides = hook_settings(&user_home, &exe, settings_dir, &args.command)?;
    let shown = exe.starts_with(&request.workspace) || request.allow_read.iter().any(|p| exe.starts_with(p));
    if !shown && !request.forbidden.iter().any(|f| exe.starts_with(f)) {
        // The hooks inside run this binary.
        request.allow_read.push(exe);
    }
    let ca = match (&bridge, ca_file(home, args)?) {
        (Some(_), Some(file)) => {
            Some(std::fs::read_to_string(&file).with_context(|| format!("cannot read the CA {}", file.display()))?)
        }
        _ => None,
    };
    let plan = EnvPlan { bridge: bridge.clone(), agent_port, with_ca: ca.is_some(), proxy_listen: config.proxy.listen };
    request.bridge = bridge;
    request.ca_pem = ca;
    Ok((request, plan, gateway))
}

/// The agents' settings inside the sandbox, each with Holdpoint's hook (which reaches the
/// gateway through the agent-side socket): written to `dir` (a temp dir, made for the first
/// one, which also sweeps those killed runs left) and shown read-only in the sandbox's home, so
/// the brake works inside the wall and the agent cannot take it out.
/// The agents are those the user has settings for (their directory exists under the home
/// directory) and the one the command names (`holdpoint run -- claude` on a fresh machine).
fn hook_settings(
    user_home: &Path,
    exe: &Path,
    dir: &mut Option<SettingsDir>,
    argv: &[OsString],
) -> Result<Vec<(PathBuf, PathBuf)>> {
    let command = format!("{} hook", crate::hook::shell_quote(&exe.display().to_string()));
    let program = argv.first().map(Path::new).and_then(Path::file_name).and_then(|n| n.to_str()).unwrap_or("");
    let named =
        |agent: crate::hook::Agent| program == agent.name() || program.starts_with(&format!("{}-", agent.name()));
    let used = |agent: crate::hook::Agent| {
        Path::new(crate::hook::settings_file(agent)).parent().is_some_and(|d| user_home.join(d).is_dir())
    };
    let mut shown = Vec::new();
    for agent in crate::hook::Agent::ALL.into_iter().filter(|a| named(*a) || used(*a)) {
        let (relative, text) =
            crate::hook::sandboxed_settings(agent, user_home, &format!("{command} {}", agent.name()))?;
        if dir.is_none() {
            *dir = Some(SettingsDir::new()?);
        }
        let file = dir.as_ref().map(|d| d.path().join(agent.name()).with_extension("json")).unwrap_or_default();
        std::fs::write(&file, text).with_context(|| format!("cannot write {}", file.display()))?;
        shown.push((user_home.join(relative), file));
    }
    Ok(shown)
}

/// A bridge per `[[postgres]]` proxy that listens: inside, its own port on 127.0.0.1.
fn postgres_bridges(config: &Config, proxy_port: u16) -> Vec<Bridge> {
    let mut ports = vec![proxy_port, DEFAULT_AGENT_PORT];
    let mut bridges = Vec::new();
    for block in &config.postgres {
        let port = block.listen.port();
        if ports.contains(&port) || TcpStream::connect_timeout(&block.listen, Duration::from_millis(200)).is_err() {
            continue;
        }
        ports.push(port);
        bridges.push(Bridge { target: BridgeTarget::Tcp(block.listen), port });
    }
    bridges
}

/// The gateway `run` started because none was running: it lives as long as the run (it stops
/// when its standard input, held here, closes).
struct Gateway {
    child: Child,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        for _ in 0..GATEWAY_TRIES {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `holdpoint serve --for-run` and waits until its proxy socket answers. Its log goes
/// to `gateway.log` in the state directory.
fn start_gateway(home: &Home) -> Result<Gateway> {
    let exe = std::env::current_exe().context("cannot find the path of the running holdpoint binary")?;
    let log_path = home.state.join("gateway.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("cannot open {}", log_path.display()))?;
    let child = std::process::Command::new(exe)
        .args(["serve", "--for-run"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(log)
        // Its own process group: a Ctrl-C meant for the agent does not stop its gateway first.
        .process_group(0)
        .spawn()
        .context("cannot start the gateway (holdpoint serve)")?;
    let mut gateway = Gateway { child };
    let socket = home.state.join(PROXY_SOCKET);
    for _ in 0..GATEWAY_TRIES {
        if UnixStream::connect(&socket).is_ok() {
            return Ok(gateway);
        }
        if gateway.child.try_wait().ok().flatten().is_some() {
            let text = std::fs::read_to_string(&log_path).unwrap_or_default();
            let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no message");
            bail!("the gateway stopped at once: {last} (log: {})", log_path.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("the gateway did not open {} in time (log: {})", socket.display(), log_path.display())
}

/// Holdpoint's own files: the config and state in use, the default ones, and the vault key
/// file. None of them is ever shown.
fn forbidden(home: &Home, user_home: &Path) -> Vec<PathBuf> {
    let mut paths = vec![home.config.clone(), home.state.clone()];
    paths.push(user_home.join(".config/holdpoint"));
    paths.push(user_home.join(".local/state/holdpoint"));
    if let Some(dir) = std::env::var_os("HOLDPOINT_HOME").filter(|d| !d.is_empty()) {
        paths.push(PathBuf::from(dir));
    }
    if let Some(file) = key_file_from_env() {
        paths.push(file);
    }
    paths.into_iter().map(|p| std::fs::canonicalize(&p).unwrap_or(p)).collect()
}

/// The home files to show, without any that holds something that looks like a secret.
/// A file found clean before is not read again while it is the same file (path, device,
/// inode, size, modification and change times; see [`Verdicts`]).
fn clean_home_files(home: &Home, files: Vec<PathBuf>) -> Vec<PathBuf> {
    let mut verdicts = Verdicts::load(home, HOME_FILES_VERDICTS);
    let mut shown = Vec::new();
    for file in files {
        // Taken before the read: a file changed after it is read again next time.
        let Ok(meta) = std::fs::metadata(&file) else { continue };
        let stamp = FileStamp::of(&file, &meta);
        if verdicts.known_clean(&stamp) {
            shown.push(file);
            continue;
        }
        let Ok(detector) = Detector::builtin() else { continue };
        match std::fs::read(&file) {
            Ok(bytes) if detector.scan(&bytes).is_empty() => {
                verdicts.clean(stamp);
                shown.push(file);
            }
            Ok(_) => eprintln!(
                "holdpoint run: not showing {} inside the sandbox: it holds something that looks like a secret",
                file.display()
            ),
            Err(_) => {}
        }
    }
    verdicts.save();
    shown
}

/// The state file that keeps the scanner's earlier "not a secret" answers about home files.
const HOME_FILES_VERDICTS: &str = "run-home-files.json";

/// The secret scanner's "not a secret" answers of the last run, kept in the state directory
/// (which no sandbox sees) so that a run whose home files did not change does not compile
/// the scanner's rules before the sandbox can be built: what was clean under the same rules
/// is clean again. Only clean answers are kept; a file that cannot be read is no answer; each
/// run keeps exactly the answers it used.
struct Verdicts {
    path: PathBuf,
    rules: String,
    known: Vec<FileStamp>,
    used: Vec<FileStamp>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct VerdictsFile {
    /// SHA-256 of the scanner's rules the answers were given under.
    rules: String,
    clean: Vec<FileStamp>,
}

impl Verdicts {
    fn load(home: &Home, name: &str) -> Verdicts {
        let path = home.state.join(name);
        let rules = hex(&Sha256::digest(RULES.as_bytes()));
        let known = std::fs::read(&path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<VerdictsFile>(&bytes).ok())
            .filter(|f| f.rules == rules)
            .map(|f| f.clean)
            .unwrap_or_default();
        Verdicts { path, rules, known, used: Vec::new() }
    }

    /// Whether the scanner found `item` clean before (under the same rules).
    fn known_clean(&mut self, item: &FileStamp) -> bool {
        let known = self.known.contains(item);
        if known {
            self.used.push(item.clone());
        }
        known
    }

    /// The scanner found `item` clean now.
    fn clean(&mut self, item: FileStamp) {
        self.used.push(item);
    }

    /// Keeps this run's answers when they differ from the last run's (best effort: without
    /// them the next run asks the scanner again).
    fn save(self) {
        let Some(dir) = self.path.parent().filter(|d| d.is_dir()) else { return };
        if self.used == self.known {
            return;
        }
        let tmp =
            dir.join(format!(".{}.tmp-{}", self.path.file_name().unwrap_or_default().display(), std::process::id()));
        let Ok(text) = serde_json::to_vec(&VerdictsFile { rules: self.rules, clean: self.used }) else { return };
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .and_then(|mut f| std::io::Write::write_all(&mut f, &text))
            .and_then(|()| std::fs::rename(&tmp, &self.path));
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What says a file is the one scanned before.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct FileStamp {
    path: PathBuf,
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileStamp {
    fn of(path: &Path, m: &std::fs::Metadata) -> FileStamp {
        use std::os::unix::fs::MetadataExt;
        FileStamp {
            path: path.to_owned(),
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }
}

/// The bridge to the egress proxy: the one given, else the running gateway's, else a gateway
/// started for this run (when Holdpoint is set up; without one the sandbox has no network).
fn bridge(home: &Home, config: &Config, args: &RunArgs) -> Result<(Option<Bridge>, Option<Gateway>)> {
    let bridge = |target| Some(Bridge { target, port: args.proxy_port });
    if let Some(given) = &args.proxy {
        let target = match given.parse::<SocketAddr>() {
            Ok(addr) if addr.ip().is_loopback() => BridgeTarget::Tcp(addr),
            Ok(addr) => bail!("--proxy {addr}: the egress proxy must listen on this machine's loopback"),
            Err(_) => BridgeTarget::Unix(absolute(Path::new(given), "--proxy")?),
        };
        return Ok((bridge(target), None));
    }
    let socket = home.state.join(PROXY_SOCKET);
    if UnixStream::connect(&socket).is_ok() {
        return Ok((bridge(BridgeTarget::Unix(socket)), None));
    }
    let listen = config.proxy.listen;
    if TcpStream::connect_timeout(&listen, Duration::from_millis(200)).is_ok() {
        return Ok((bridge(BridgeTarget::Tcp(listen)), None));
    }
    if !home.state.join(CA_CERT_FILE).is_file() {
        eprintln!(
            "holdpoint run: no gateway runs and Holdpoint is not set up here ({} has no CA; run `holdpoint init`), \
             so none is started",
            home.state.display()
        );
        return Ok((None, None));
    }
    match start_gateway(home) {
        Ok(gateway) => Ok((bridge(BridgeTarget::Unix(socket)), Some(gateway))),
        Err(e) => {
            eprintln!("holdpoint run: {e:#}");
            Ok((None, None))
        }
    }
}

fn ca_file(home: &Home, args: &RunArgs) -> Result<Option<PathBuf>> {
    match &args.proxy_ca {
        Some(path) => Ok(Some(absolute(path, "--proxy-ca")?)),
        None => Ok(Some(home.state.join(CA_CERT_FILE)).filter(|p| p.is_file())),
    }
}

/// This process's variables, with vault secrets turned into their placeholders and other
/// secret-looking variables dropped.
fn filter_environment(secrets: &[(Zeroizing<String>, String)]) -> EnvOutcome {
    holdpoint_sandbox::env::filter(
        std::env::vars_os(),
        |value| replace_secrets(value, secrets),
        |name, value| assignment_kind(name, value).map(|kind| kind.name().to_owned()),
    )
}

/// The environment for the command: the filtered variables (one line for each dropped one:
/// the name, never the value), with the bridge's proxy and CA variables set.
fn environment(home: &Home, plan: &EnvPlan, outcome: EnvOutcome) -> Vec<(OsString, OsString)> {
    for (name, kind) in &outcome.dropped {
        eprintln!(
            "holdpoint run: dropped {name} from the environment: it looks like a secret ({kind}) the vault does not \
             hold; `holdpoint vault add` it to use it through the proxy"
        );
    }
    let mut env = outcome.vars;
    match &plan.bridge {
        Some(b) => holdpoint_sandbox::env::bridge_vars(&mut env, b, plan.with_ca),
        None => eprintln!(
            "holdpoint run: no egress proxy to bridge to (nothing listens on {} or {}, and none could be started; \
             start `holdpoint serve` or pass --proxy): the sandbox has no network but its own loopback",
            plan.proxy_listen,
            home.state.join(PROXY_SOCKET).display()
        ),
    }
    if let Some(port) = plan.agent_port {
        holdpoint_sandbox::env::set(&mut env, ADDR_VAR, format!("127.0.0.1:{port}"));
    }
    holdpoint_sandbox::env::set(&mut env, "HOLDPOINT_SANDBOX", "1");
    let tmp_shown = env.iter().any(|(k, v)| k == "TMPDIR" && Path::new(v).starts_with("/tmp"));
    if !tmp_shown && env.iter().any(|(k, _)| k == "TMPDIR") {
        holdpoint_sandbox::env::set(&mut env, "TMPDIR", "/tmp");
    }
    env
}

/// `value` with every vault secret in it replaced by its placeholder, or `None`.
fn replace_secrets(value: &str, secrets: &[(Zeroizing<String>, String)]) -> Option<String> {
    let mut out: Option<String> = None;
    for (secret, placeholder) in secrets {
        let current = out.as_deref().unwrap_or(value);
        if secret.len() >= 6 && current.contains(secret.as_str()) {
            out = Some(current.replace(secret.as_str(), placeholder));
        }
    }
    out
}

/// Every vault secret with its placeholder, longest first; empty without a key file (the
/// vault cannot be opened without its key, and `run` asks for no passphrase).
fn vault_secrets(home: &Home) -> Result<Vec<(Zeroizing<String>, String)>> {
    let Some(key_file) = key_file_from_env() else { return Ok(Vec::new()) };
    if !home.state.is_dir() {
        return Ok(Vec::new());
    }
    let config = home.load_config()?;
    let state = State::open(home, &config)?;
    let Some(header) = state.run(state.store.vault_header())? else { return Ok(Vec::new()) };
    let key = VaultKey::from_key_file(&key_file)?;
    KeyHeader::parse(&header)?.verify(&key).context("HOLDPOINT_VAULT_KEY_FILE is not this vault's key")?;
    let mut secrets = Vec::new();
    for record in state.run(state.store.vault_records())? {
        let sealed = SealedRecord { name: record.name, meta: record.meta, sealed: record.sealed };
        let Ok((meta, credential)) = open_record(&key, &sealed) else { continue };
        for (part, placeholder) in &meta.placeholders {
            if let Some(value) = credential.value(*part) {
                secrets.push((Zeroizing::new(value.expose_secret().to_owned()), placeholder.clone()));
            }
        }
    }
    secrets.sort_by_key(|(secret, _)| std::cmp::Reverse(secret.len()));
    Ok(secrets)
}
