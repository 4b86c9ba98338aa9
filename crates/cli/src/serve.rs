//! `holdpoint serve`: the gateway. It runs the HTTP(S) egress proxy on `[proxy] listen`, the
//! approvals console on `[api] listen` (`web_recover.rs`), a PostgreSQL proxy per `[[postgres]]`
//! block and a streamable-HTTP MCP gateway per `[[mcp]]` block until SIGINT or SIGTERM, then
//! lets requests in flight finish and writes an audit checkpoint.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use holdpoint_core::Action;
use holdpoint_policy::config::{Config, StoreLocation};
use holdpoint_policy::{Decision, Engine};
use holdpoint_proxy::{
    Ca, Credentials, Gate, McpHttp, McpServer, NoCredentials, PgProxy, Proxy, Recorder, Upstream, VaultCredentials,
    serve_mcp_http, serve_postgres,
};
use holdpoint_store::{AuditEntry, Detail, Hold, Store, unix_now};
use holdpoint_vault::{KeyHeader, SealedRecord, Vault, VaultKey};

use crate::home::Home;

/// How long requests in flight may take to finish after a shutdown signal.
const GRACE: Duration = Duration::from_secs(10);
/// Decisions waiting for the audit log before a request writes its own to the spool.
const AUDIT_QUEUE: usize = 64 * 1024;
/// The largest emptied queue the audit writer keeps to swap in next time.
const AUDIT_SPARE_MAX: usize = 8192;
/// How often waiting decisions are appended to the audit log. Each batch is a transaction with
/// a signed head and round trips to the store's thread, a cost that does not shrink with the
/// batch: through the PostgreSQL proxy (pgbench TPC-B, 7 records a transaction, ~2,400 a
/// second, over 36 s) the writer and SQLite's threads took 22.9 µs a transaction at 25 ms and
/// 14.8 at 100 ms. The decisions of the last interval are lost when `serve` is killed; a clean
/// stop writes them.
const AUDIT_EVERY: Duration = Duration::from_millis(100);

pub fn run(home: &Home, config_file: Option<&Path>, for_run: bool) -> Result<u8> {
    let config = match config_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            Config::parse(&path.display().to_string(), &text)?
        }
        None => home.load_config()?,
    };
    let engine = Engine::new(config.profile, &home.load_policies()?)?;
    // The PostgreSQL proxies decide through a gate of their own (the same policies).
    let pg_engine =
        if config.postgres.is_empty() { None } else { Some(Engine::new(config.profile, &home.load_policies()?)?) };
    // So do the MCP gateways.
    let mcp_engine =
        if config.mcp.is_empty() { None } else { Some(Engine::new(config.profile, &home.load_policies()?)?) };
    if !home.state.is_dir() {
        bail!("{} does not exist; run `holdpoint init` first", home.state.display());
    }
    let ca = Ca::load(&home.state)?;
    let upstream = Upstream::new(ssl_cert_file().as_deref())?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the runtime")?;
    let engines = Engines { http: engine, pg: pg_engine, mcp: mcp_engine };
    rt.block_on(serve(home, config, engines, ca, upstream, for_run))?;
    Ok(0)
}

/// The policy engines of the gateway's parts (each decides through a gate of its own).
struct Engines {
    http: Engine,
    pg: Option<Engine>,
    mcp: Option<Engine>,
}

async fn serve(home: &Home, config: Config, engines: Engines, ca: Ca, upstream: Upstream, for_run: bool) -> Result<()> {
    let Engines { http: engine, pg: pg_engine, mcp: mcp_engine } = engines;
    let store = match &config.store {
        StoreLocation::Sqlite => Store::open_sqlite(&home.state).await?,
        StoreLocation::Postgres(url) => Store::open_postgres(url, &home.state).await?,
    };
    crate::spool::fold(&home.state, &store).await?;
    let (credentials, vault) = credentials(&store).await?;
    let announce = config.notify.is_some()
        || std::env::var_os("DISPLAY").is_some()
        || std::env::var_os("WAYLAND_DISPLAY").is_some();
    let pending = Arc::new(Mutex::new(Vec::new()));
    let (stop_audit, stopped) = tokio::sync::watch::channel(false);
    if matches!(config.store, StoreLocation::Sqlite) {
        // SQLite's connection workers do the writer's inserts: they run as background work
        // like it (see `start_audit_writer`). Not being able to is no reason not to serve.
        let _ = holdpoint_sandbox::background_priority_of_threads("sqlx-sqlite");
    }
    let writer = start_audit_writer(store.clone(), Arc::clone(&pending), stopped)?;
    let audit = Arc::new(StoreAudit { state: home.state.clone(), pending, announce });
    // The sockets in the state directory: the proxy's for `run`'s bridge, and the agent-side
    // calls of hooks inside sandboxes (never an approver call).
    let proxy_socket = crate::agent_socket::bind(&home.state, crate::agent_socket::PROXY_SOCKET)?;
    let agent_socket = crate::agent_socket::bind(&home.state, crate::agent_socket::AGENT_SOCKET)?;
    crate::agent_socket::serve(agent_socket);
    proxy_socket.set_nonblocking(true).context("cannot set up the proxy's socket")?;
    let proxy_socket = tokio::net::UnixListener::from_std(proxy_socket).context("cannot set up the proxy's socket")?;
    let listener = if for_run { None } else { Some(Proxy::bind(config.proxy.listen).await?) };
    let addr = match &listener {
        Some(l) => l.local_addr().context("cannot read the listen address")?.to_string(),
        None => home.state.join(crate::agent_socket::PROXY_SOCKET).display().to_string(),
    };
    // Holdpoint's other listeners, as bound (a port of 0 in the config is chosen at bind time):
    // the proxy refuses requests to them.
    let mut own: Vec<std::net::SocketAddr> = vec![config.api_listen];
    let profile = config.profile.as_str();
    let (stop_pg, pg_stopped) = tokio::sync::watch::channel(false);
    let mut pg_lines = Vec::new();
    let mut pg_tasks = Vec::new();
    if let Some(pg_engine) = pg_engine {
        let recorder: Arc<dyn Recorder> = audit.clone();
        let pg_gate = Arc::new(Gate::new(pg_engine, config.clone(), store.clone(), recorder, Arc::clone(&credentials)));
        for block in &config.postgres {
            let listener = Proxy::bind(block.listen).await.with_context(|| format!("[[postgres]] {}", block.name))?;
            let addr = listener.local_addr().context("cannot read the listen address")?;
            own.push(addr);
            pg_lines.push(format!(
                "holdpoint: PostgreSQL proxy {} listening on postgres://{addr}/{} (upstream {}); agents give the \
                 placeholder of vault secret {:?} as password",
                block.name, block.database, block.upstream, block.credential
            ));
            let pg = Arc::new(PgProxy::new(block.clone(), Arc::clone(&pg_gate), vault.clone()));
            let mut stopped = pg_stopped.clone();
            let stop = async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            };
            pg_tasks.push(tokio::spawn(serve_postgres(listener, pg, stop)));
        }
    }
    let (mcp_lines, mcp_tasks) = match mcp_engine {
        Some(mcp_engine) => {
            let recorder: Arc<dyn Recorder> = audit.clone();
            let gate =
                Arc::new(Gate::new(mcp_engine, config.clone(), store.clone(), recorder, Arc::clone(&credentials)));
            let mcp = start_mcp(home, &config, gate, &store, pg_stopped.clone()).await?;
            own.extend(mcp.iter().map(|(addr, _, _)| *addr));
            mcp.into_iter().map(|(_, line, task)| (line, task)).unzip()
        }
        None => (Vec::new(), Vec::new()),
    };
    // The approvals console (not for `run`, whose gateway serves only its own sandbox).
    let console = if for_run {
        None
    } else {
        let trash = match &vault {
            Some(vault) => config
                .postgres
                .iter()
                .map(|block| (block.name.clone(), holdpoint_proxy::pg::PgTrash::new(block.clone(), Arc::clone(vault))))
                .collect(),
            None => Vec::new(),
        };
        Some(crate::web_recover::start(home, &store, config.api_listen, trash).await?)
    };
    own.extend(console.as_ref().map(|c| c.addr));
    let gate = Gate::new(engine, config, store.clone(), audit, credentials);
    let proxy = Arc::new(Proxy::new(gate, ca, upstream).with_own_listeners(own));
    eprintln!(
        "holdpoint: HTTP egress proxy listening on http://{addr} (profile {profile}); \
         agents use HTTP_PROXY=http://{addr} HTTPS_PROXY=http://{addr} and trust `holdpoint ca export`"
    );
    for line in pg_lines.iter().chain(&mcp_lines) {
        eprintln!("{line}");
    }
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let on_socket =
        tokio::spawn(holdpoint_proxy::serve_unix(proxy_socket, Arc::clone(&proxy), stopped(stopping.clone()), GRACE));
    let on_port =
        listener.map(|l| tokio::spawn(holdpoint_proxy::serve(l, Arc::clone(&proxy), stopped(stopping.clone()), GRACE)));
    if for_run {
        tokio::select! {
            () = shutdown_signal() => {}
            () = stdin_closed() => {}
        }
    } else {
        shutdown_signal().await;
    }
    let _ = stop.send(true);
    if let Some(console) = console {
        console.stop().await;
    }
    let _ = on_socket.await;
    if let Some(task) = on_port {
        let _ = task.await;
    }
    for name in [crate::agent_socket::PROXY_SOCKET, crate::agent_socket::AGENT_SOCKET] {
        let _ = std::fs::remove_file(home.state.join(name));
    }
    let _ = stop_pg.send(true);
    for task in pg_tasks.into_iter().chain(mcp_tasks) {
        let _ = task.await;
    }
    // Every decision made is in the log before the checkpoint.
    drop(proxy);
    let _ = stop_audit.send(true);
    let _ = writer.await;
    store.checkpoint(unix_now()).await?;
    store.close().await;
    eprintln!("holdpoint: stopped");
    Ok(())
}

/// Binds and starts the gateway of each `[[mcp]]` block; for each, the address bound, the line
/// that says so, and its task (which ends once `stopped` turns true and its streams end).
async fn start_mcp(
    home: &Home,
    config: &Config,
    gate: Arc<Gate>,
    store: &Store,
    stopped: tokio::sync::watch::Receiver<bool>,
) -> Result<Vec<(std::net::SocketAddr, String, tokio::task::JoinHandle<()>)>> {
    let upstream = Arc::new(Upstream::new(ssl_cert_file().as_deref())?);
    let secrets = crate::mcp_cmd::vault_secrets(store).await?;
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let workspace = crate::home::workspace_of(&cwd);
    let mut started = Vec::new();
    for block in &config.mcp {
        let server = McpServer {
            name: block.name.clone(),
            context: crate::facts::context(&cwd, &workspace, home, config.protected_branches.clone()),
            tags: block.tags.clone(),
            redactor: holdpoint_proxy::mcp::Redactor::new(secrets.iter().map(|(secret, _)| secret.clone())),
            book: holdpoint_proxy::mcp::ToolBook::open(&home.state.join("mcp-tools"), &block.name)?,
        };
        let mcp = Arc::new(McpHttp::new(server, Arc::clone(&gate), Arc::clone(&upstream), &block.upstream)?);
        let listener = Proxy::bind(block.listen).await.with_context(|| format!("[[mcp]] {}", block.name))?;
        let addr = listener.local_addr().context("cannot read the listen address")?;
        let line = format!(
            "holdpoint: MCP gateway {} listening on http://{addr}/mcp (upstream {}); agents use that URL as the \
             server's",
            block.name, block.upstream
        );
        let mut stopped = stopped.clone();
        let stop = async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        };
        started.push((addr, line, tokio::spawn(serve_mcp_http(listener, mcp, stop, GRACE))));
    }
    Ok(started)
}

/// The upstream trust additions of this environment.
fn ssl_cert_file() -> Option<PathBuf> {
    std::env::var_os("SSL_CERT_FILE").filter(|v| !v.is_empty()).map(PathBuf::from)
}

/// The vault, opened with `HOLDPOINT_VAULT_KEY_FILE`, for the HTTP proxy and for the PostgreSQL
/// proxies; without it no placeholder is replaced.
async fn credentials(store: &Store) -> Result<(Arc<dyn Credentials>, Option<Arc<Vault>>)> {
    let records = store.vault_records().await?;
    let Some(file) = crate::vault_cmd::key_file_from_env() else {
        if !records.is_empty() {
            eprintln!(
                "holdpoint: the vault holds {} secret(s) but HOLDPOINT_VAULT_KEY_FILE is not set: \
                 placeholders are passed on unreplaced",
                records.len()
            );
        }
        return Ok((Arc::new(NoCredentials), None));
    };
    let key = VaultKey::from_key_file(&file)?;
    if let Some(header) = store.vault_header().await? {
        KeyHeader::parse(&header)?
            .verify(&key)
            .with_context(|| format!("HOLDPOINT_VAULT_KEY_FILE={} is not this vault's key", file.display()))?;
    }
    let sealed = || {
        records.iter().map(|r| SealedRecord { name: r.name.clone(), meta: r.meta.clone(), sealed: r.sealed.clone() })
    };
    let vault = Vault::open(&key, sealed());
    for problem in vault.problems() {
        eprintln!("holdpoint: a vault secret is refused: {problem}");
    }
    let pg_vault = Arc::new(Vault::open(&key, sealed()));
    Ok((Arc::new(VaultCredentials::new(vault)), Some(pg_vault)))
}

/// Standard input reached its end: `holdpoint run`, which holds the other end, is gone.
async fn stdin_closed() {
    let _ = tokio::task::spawn_blocking(|| {
        let mut sink = [0u8; 256];
        let mut stdin = std::io::stdin().lock();
        while matches!(std::io::Read::read(&mut stdin, &mut sink), Ok(n) if n > 0) {}
    })
    .await;
}

/// SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Every decision goes to the audit log as a `decision` record, as hook decisions do; the
/// proxy holds the store open, so it appends them itself, every [`AUDIT_EVERY`] in one
/// transaction, and no request waits for the database: a request only queues its action and
/// the shared decision, and the writer renders the records. Should the log fall behind (64 Ki
/// records waiting), a request's decision goes to the audit spool instead. New holds start the
/// notifier.
struct StoreAudit {
    state: PathBuf,
    pending: Arc<Mutex<Vec<Decided>>>,
    announce: bool,
}

/// A decision waiting for the audit writer. The record keeps no effects, so none are queued:
/// they are freed where they were made.
type Decided = (Action, Arc<Decision>);

impl Recorder for StoreAudit {
    fn decided(&self, mut action: Action, decision: Arc<Decision>) {
        drop(std::mem::take(&mut action.effects));
        if let Ok(mut pending) = self.pending.lock()
            && pending.len() < AUDIT_QUEUE
        {
            pending.push((action, decision));
            return;
        }
        if let Err(e) = crate::spool::record(&self.state, &action, &decision) {
            eprintln!("holdpoint: could not record a decision in the audit spool: {e}");
        }
    }

    fn held(&self, hold: &Hold) {
        if self.announce {
            crate::notify::spawn(hold.id);
        }
    }
}

/// The audit entry of a decision.
fn audit_entry(action: &Action, decision: &Decision) -> AuditEntry {
    AuditEntry {
        hold_id: None,
        digest: Some(action.digest()),
        channel: Some(action.channel),
        verdict: Some(decision.verdict.kind()),
        detail: Detail::decision(crate::spool::detail(action, decision)),
    }
}

/// Starts [`write_audit`] on a thread of its own at the nice value of background work
/// (`holdpoint_sandbox::background_priority`): a proxy's thread that wakes runs before it, and
/// it still gets the share it needs when every core is busy. Against `SCHED_IDLE`, which it had
/// before, with runtime switches of the same build (`wrk -t2 -c32` for 8 s, three rounds): no
/// decision spilled to the audit spool instead of 25–41% of them, 33–35k requests a second
/// instead of 32–35k, 27–29 µs of `serve`'s CPU a request instead of 29–32; `pgbench` through
/// the PostgreSQL proxy alike within the rounds' noise (select-only 0.98 against 1.02 of
/// pgbouncer on average over 4 rounds, TPC-B 0.94 against 0.94). The sessions' thread had to
/// become an ordinary thread for that: a batch thread does not preempt on waking, and waited
/// behind the writer's bursts (select-only 0.89–0.94). The receiver hears once the writer is
/// done.
fn start_audit_writer(
    store: Store,
    pending: Arc<Mutex<Vec<Decided>>>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Result<tokio::sync::oneshot::Receiver<()>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the audit writer's runtime")?;
    let (done, finished) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("holdpoint-audit".into())
        .spawn(move || {
            // Not being able to is no reason not to keep the log.
            let _ = holdpoint_sandbox::background_priority();
            rt.block_on(write_audit(store, pending, stop));
            let _ = done.send(());
        })
        .context("cannot start the audit writer's thread")?;
    Ok(finished)
}

/// Appends the waiting decisions to the audit log every [`AUDIT_EVERY`] until `stop`, then
/// once more.
///
/// The queue is swapped for the previous batch's emptied one, so the proxies that fill it find
/// room already there instead of growing a new queue from nothing each time (copying it on the
/// way); one that grew past [`AUDIT_SPARE_MAX`] in a burst is not kept.
async fn write_audit(store: Store, pending: Arc<Mutex<Vec<Decided>>>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut spare = Vec::new();
    loop {
        let stopping = *stop.borrow();
        let mut decided = match pending.lock() {
            Ok(mut p) => std::mem::replace(&mut *p, std::mem::take(&mut spare)),
            Err(_) => Vec::new(),
        };
        let count = decided.len();
        let batch = decided.iter().map(|(action, decision)| audit_entry(action, decision)).collect();
        decided.clear();
        if decided.capacity() <= AUDIT_SPARE_MAX {
            spare = decided;
        }
        if let Err(e) = store.audit_decisions(batch, unix_now()).await {
            eprintln!("holdpoint: {count} decision(s) could not be written to the audit log: {e}");
        }
        if stopping {
            return;
        }
        let _ = tokio::time::timeout(AUDIT_EVERY, stop.changed()).await;
    }
}
