//! The protected runs' machinery: the scripted approver, `holdpoint serve` as a child, and the
//! relay that carries both of the gateway's proxies over the sandbox's one bridge.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// The demo's child processes that an interrupt must stop.
static CHILDREN: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// Remembers a child process until [`forget`].
pub fn remember(pid: u32) {
    if let Ok(mut c) = CHILDREN.lock() {
        c.push(pid);
    }
}

/// The child has ended.
pub fn forget(pid: u32) {
    if let Ok(mut c) = CHILDREN.lock() {
        c.retain(|p| *p != pid);
    }
}

/// What an interrupt still has to do, once the world exists.
pub type Cleanup = Arc<Mutex<Option<Box<dyn FnOnce() + Send>>>>;

/// On SIGINT or SIGTERM: stop the children (SIGTERM), run `cleanup` once it is set, exit 130.
pub fn on_interrupt(cleanup: Cleanup) {
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
        rt.block_on(async {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
                return;
            };
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        });
        eprintln!("holdpoint demo: interrupted; stopping its processes and removing its temp dirs");
        let pids = CHILDREN.lock().map(|c| c.clone()).unwrap_or_default();
        for pid in pids {
            let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
        }
        std::thread::sleep(Duration::from_millis(300));
        if let Some(cleanup) = cleanup.lock().ok().and_then(|mut c| c.take()) {
            cleanup();
        }
        std::process::exit(130);
    });
}

/// A `holdpoint` command for one run's home.
pub fn holdpoint(bin: &Path, hp_home: &Path) -> Command {
    let mut cmd = Command::new(bin);
    cmd.env("HOLDPOINT_HOME", hp_home).env_remove("HOLDPOINT_VAULT_KEY_FILE").stdin(Stdio::null());
    cmd
}

/// Runs `cmd` and returns its stdout; an error carries its stderr.
pub fn output(cmd: &mut Command, what: &str) -> Result<String> {
    let out = cmd.output().with_context(|| format!("cannot run {what}"))?;
    if !out.status.success() {
        bail!("{what} failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A decision the approver made.
#[derive(Clone, Debug)]
pub struct Decided {
    /// The hold's summary (the action's input).
    pub summary: String,
    /// Approved (else denied).
    pub approved: bool,
}

/// The scripted approver: it watches `holdpoint pending` and approves the one action it was
/// told to let through, denying everything else, each with `--token-file` like a human would.
pub struct Approver {
    stop: Arc<AtomicBool>,
    decided: Arc<Mutex<Vec<Decided>>>,
    thread: Option<JoinHandle<()>>,
}

impl Approver {
    /// Registers an approver in `hp_home` and starts watching.
    pub fn start(bin: &Path, hp_home: &Path, approve: Vec<String>) -> Result<Approver> {
        let added =
            output(holdpoint(bin, hp_home).args(["approver", "add", "demo-approver", "--json"]), "approver add")?;
        let v: serde_json::Value = serde_json::from_str(&added).context("approver add printed no JSON")?;
        let token = v.get("token").and_then(|t| t.as_str()).context("approver add printed no token")?;
        let token_file = hp_home.join("approver.token");
        std::fs::write(&token_file, token)?;
        std::fs::set_permissions(&token_file, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
        let stop = Arc::new(AtomicBool::new(false));
        let decided = Arc::new(Mutex::new(Vec::new()));
        let (bin, home) = (bin.to_owned(), hp_home.to_owned());
        let (stop2, decided2) = (Arc::clone(&stop), Arc::clone(&decided));
        let thread = std::thread::spawn(move || watch(&bin, &home, &token_file, &approve, &stop2, &decided2));
        Ok(Approver { stop, decided, thread: Some(thread) })
    }

    /// What was decided so far (a decision is listed before it is signed).
    pub fn decided(&self) -> Arc<Mutex<Vec<Decided>>> {
        Arc::clone(&self.decided)
    }

    /// Stops watching; what was decided.
    pub fn finish(mut self) -> Vec<Decided> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.decided.lock().map(|d| d.clone()).unwrap_or_default()
    }
}

impl Drop for Approver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn watch(bin: &Path, home: &Path, token: &Path, approve: &[String], stop: &AtomicBool, decided: &Mutex<Vec<Decided>>) {
    let mut seen = BTreeSet::new();
    while !stop.load(Ordering::SeqCst) {
        let pending = output(holdpoint(bin, home).args(["pending", "--json"]), "pending")
            .ok()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok());
        let holds =
            pending.as_ref().and_then(|v| v.get("holds")).and_then(|h| h.as_array()).cloned().unwrap_or_default();
        for hold in holds {
            let Some(id) = hold.get("id").and_then(serde_json::Value::as_u64) else { continue };
            if !seen.insert(id) {
                continue;
            }
            let summary = hold.get("summary").and_then(|s| s.as_str()).unwrap_or("").to_owned();
            let approved = approve.iter().any(|a| summary.trim() == a.trim());
            let id_text = id.to_string();
            let mut cmd = holdpoint(bin, home);
            if approved {
                cmd.args(["approve", &id_text, "--note", "the workspace's own files: a checkpoint can undo it"]);
            } else {
                cmd.args(["deny", &id_text, "--reason", "not on production, and not without a ticket"]);
            }
            cmd.arg("--token-file").arg(token).stdout(Stdio::null()).stderr(Stdio::null());
            if let Ok(mut d) = decided.lock() {
                d.push(Decided { summary, approved });
            }
            if !cmd.status().is_ok_and(|s| s.success()) {
                eprintln!("holdpoint demo: the approver could not decide hold {id}");
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `holdpoint serve` as a child: its proxies' addresses, stopped with SIGTERM on drop.
pub struct Serve {
    child: Child,
    /// The HTTP egress proxy.
    pub http: SocketAddr,
    /// The PostgreSQL proxy, when one is configured.
    pub pg: Option<SocketAddr>,
    log: Arc<Mutex<String>>,
}

impl Serve {
    /// Starts the gateway and waits for its listen lines.
    pub fn start(bin: &Path, hp_home: &Path, key_file: &Path, want_pg: bool) -> Result<Serve> {
        let mut child = holdpoint(bin, hp_home)
            .arg("serve")
            .env("HOLDPOINT_VAULT_KEY_FILE", key_file)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("cannot start holdpoint serve")?;
        remember(child.id());
        let stderr = child.stderr.take().context("serve has no stderr")?;
        let mut lines = BufReader::new(stderr).lines();
        let mut seen = String::new();
        let (mut http, mut pg) = (None, None);
        while http.is_none() || (want_pg && pg.is_none()) {
            let Some(Ok(line)) = lines.next() else {
                let _ = child.kill();
                let _ = child.wait();
                bail!("holdpoint serve ended before listening: {seen}");
            };
            seen.push_str(&line);
            seen.push('\n');
            if let Some(rest) = line.split("proxy listening on http://").nth(1) {
                http = rest.split([' ', ';']).next().and_then(|a| a.parse().ok());
            }
            if let Some(rest) = line.split("listening on postgres://").nth(1) {
                pg = rest.split('/').next().and_then(|a| a.parse().ok());
            }
        }
        let log = Arc::new(Mutex::new(seen));
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if let Ok(mut l) = sink.lock() {
                    l.push_str(&line);
                    l.push('\n');
                }
            }
        });
        let http = http.context("no HTTP proxy address")?;
        Ok(Serve { child, http, pg, log })
    }

    /// Stops it (SIGTERM, so it writes its audit checkpoint) and waits.
    pub fn stop(mut self) -> String {
        self.terminate();
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    fn terminate(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let mut ended = false;
        for _ in 0..300 {
            if self.child.try_wait().ok().flatten().is_some() {
                ended = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if !ended {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        forget(self.child.id());
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.terminate();
        }
    }
}

/// A loopback relay in front of the gateway: a connection that opens with a PostgreSQL
/// startup or SSL request goes to the PostgreSQL proxy, anything else to the HTTP proxy. The
/// sandbox's bridge carries one address, so this lets the agent inside reach both.
pub struct Relay {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

impl Relay {
    /// Starts relaying to `http` and `pg`.
    pub fn start(http: SocketAddr, pg: Option<SocketAddr>) -> Result<Relay> {
        let listener = TcpListener::bind("127.0.0.1:0").context("cannot listen on loopback")?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                std::thread::spawn(move || relay(stream, http, pg));
            }
        });
        Ok(Relay { addr, stop })
    }
}

/// PostgreSQL's first message: a length, then the protocol version 3.0 or an SSL or GSSAPI
/// encryption request code.
fn is_postgres(head: &[u8]) -> bool {
    let code = head.get(4..8).and_then(|c| <[u8; 4]>::try_from(c).ok()).map(u32::from_be_bytes);
    matches!(code, Some(196_608 | 80_877_103 | 80_877_104))
}

fn relay(agent: TcpStream, http: SocketAddr, pg: Option<SocketAddr>) {
    let _ = agent.set_read_timeout(Some(Duration::from_secs(10)));
    let mut head = [0u8; 8];
    let Ok(n) = agent.peek(&mut head) else { return };
    let _ = agent.set_read_timeout(None);
    let target = match pg {
        Some(pg) if is_postgres(head.get(..n).unwrap_or(&[])) => pg,
        _ => http,
    };
    let Ok(upstream) = TcpStream::connect(target) else { return };
    let (Ok(agent2), Ok(upstream2)) = (agent.try_clone(), upstream.try_clone()) else { return };
    let one = std::thread::spawn(move || pipe(agent, upstream));
    pipe(upstream2, agent2);
    let _ = one.join();
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(buf.get(..n).unwrap_or(&[])).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// The vault key file of a run (64 hex digits, mode 0600).
pub fn key_file(dir: &Path) -> Result<PathBuf> {
    let path = dir.join("vault.key");
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("cannot read /dev/urandom for the run's vault key")?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(&path, format!("{hex}\n"))?;
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    Ok(path)
}
