//! The PostgreSQL proxy, one per `[[postgres]]` block: agents connect with the vault
//! placeholder of the block's `credential` as their password, Holdpoint connects upstream
//! with the real user and password, and every simple-protocol query is classified (with
//! PostgreSQL's own grammar), decided, audited and held through the same [`Gate`] as HTTP
//! requests.
//!
//! - Startup: `SSLRequest` and `GSSENCRequest` are answered `N` (loopback, no TLS); a
//!   `CancelRequest` is forwarded to the upstream (the client holds the upstream's own
//!   `BackendKeyData`, relayed unchanged).
//! - Upstream, the block's `tls` decides (`tls.rs`): plaintext, or `SSLRequest` and TLS
//!   (`require`: certificate unchecked; `verify-full`: chain and host name checked). A server
//!   that refuses TLS is refused in turn, never spoken to in plaintext; this holds for the
//!   sessions, the forwarded cancel requests and the trash's own connections alike.
//! - The agent authenticates with SCRAM-SHA-256 against the placeholder; upstream, Holdpoint
//!   answers SCRAM-SHA-256, md5 or a cleartext request with the real password. The agent never
//!   receives the real password or anything derived from it.
//! - A refused statement never reaches the server: in its place the proxy sends a `DO` block
//!   that raises the refusal (SQLSTATE `HP001` held / `HP002` denied, the denial's sentence as
//!   message), so the server itself answers `ErrorResponse` then `ReadyForQuery` in order with
//!   pipelined queries, and a refusal inside a transaction block aborts it as an error would.
//! - A simple query the policy holds with the `soft_delete` obligation, whose every held
//!   statement the trash can take back, is rewritten instead of held ([`trash`]): the client
//!   sees the original statement's command tags.
//! - The extended protocol is classified at `Parse` (the statement's text). A refused `Parse`
//!   is replaced by `Parse`/`Bind`/`Execute` of the refusal's `DO` block, whose `ParseComplete`
//!   and `BindComplete` the client never sees: the server answers the error where the `Parse`
//!   was and skips to `Sync` as it does after any error; the client's messages up to `Sync`
//!   are dropped. A later `Bind` of a refused statement name is refused the same way.
//!   Soft deletes are simple-query only: in a `Parse` they are held. `FunctionCall` is refused.
//! - The server's messages are relayed as they come; the proxy reads only their headers, to
//!   count cycles (`ReadyForQuery`) and to drop or retag the results of its own statements.

mod auth;
mod client;
pub mod shape;
mod tls;
pub mod trash;
mod wire;

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use holdpoint_classify::sql::{CacheKey, DecisionCache, SqlTarget, analyze, statement_key};
use holdpoint_core::{Action, Actor, Channel, Denial, Effect, Obligations, TargetKind, Verb, Verdict, VerdictKind};
use holdpoint_policy::config::PostgresProxy;
use holdpoint_policy::{Decision, Mode};
use holdpoint_vault::{Credential, Kind, Part, Request, Vault};
use secrecy::ExposeSecret;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use crate::Gate;
pub use client::ClientError;
use tls::{ServerStream, UpstreamTls};
pub use trash::{PgTrash, TRASH_SCHEMA, TrashBin, TrashEntry, TrashError};
use trash::{Rewrite, Step};
#[doc(hidden)]
pub use wire::whole_message;
use wire::{
    CANCEL_REQUEST, GSSENC_REQUEST, MESSAGE_MAX, PROTOCOL_3, SSL_REQUEST, auth, cstr, error_response, message,
    push_cstr, read_buffered, read_message, read_startup, startup_code,
};
pub use wire::{Frontend, Message, WireError, decode_frontend, startup_params};

/// The built-in policies whose hold of a table delete the trash answers (the obligations of
/// the default set among them, production's too: the soft delete is what makes the delete
/// recoverable). The soft delete is carried out instead of the hold only when no other policy
/// holds the delete (the `strict` profile's, a user's); a delete such a policy held is still
/// carried out as a soft delete once approved.
const TRASH_ANSWERS: &[&str] =
    &["hold-delete-remote", "hold-irreversible", "soft-delete-sql-tables", "production-two-approvers"];
/// Statement shapes whose effects are kept before the cache starts over.
const CACHE_MAX: usize = 16 * 1024;
/// Extended-protocol statement texts whose effects are kept before that cache starts over.
const PREPARED_MAX: usize = 4096;
/// The policy id of the refusal of function calls by OID.
const FUNCTION_CALL: &str = "pg-function-call";
/// Startup parameters passed on to the server; others (`options`, `search_path`,
/// `replication`...) could change what a statement means, and are left out.
const PASSED_PARAMS: &[&str] =
    &["application_name", "client_encoding", "DateStyle", "TimeZone", "IntervalStyle", "extra_float_digits"];

/// One `[[postgres]]` block's proxy.
pub struct PgProxy {
    block: PostgresProxy,
    target: SqlTarget,
    gate: Arc<Gate>,
    vault: Option<Arc<Vault>>,
    /// TLS to the server, set up once (or why it cannot be).
    tls: UpstreamTls,
    /// Shapes by statement key (literal-sensitive statements by exact text), so a shape is
    /// parsed once.
    cache: Mutex<DecisionCache<Arc<Shape>>>,
    /// Shapes of extended-protocol statement texts, by exact text.
    prepared: Mutex<HashMap<String, Arc<Shape>, foldhash::fast::RandomState>>,
    /// What each skeleton's texts are ([`shape`]): for a shape whose decision does not depend
    /// on literal values, that shape, so a repeat costs a scan of the text, not a parse.
    skeletons: Mutex<HashMap<String, Known, foldhash::fast::RandomState>>,
}

impl std::fmt::Debug for PgProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgProxy").field("block", &self.block).finish_non_exhaustive()
    }
}

/// The upstream credential of a block.
struct Upstream {
    user: String,
    password: String,
    placeholder: String,
}

impl PgProxy {
    /// The proxy of `block`, deciding with `gate`; `vault` is `None` when it is not open.
    pub fn new(block: PostgresProxy, gate: Arc<Gate>, vault: Option<Arc<Vault>>) -> PgProxy {
        let mut target = SqlTarget::new(format!("postgres://{}/{}", block.upstream, block.database));
        let secret_tags = vault
            .as_ref()
            .and_then(|v| v.secrets().find(|m| m.name == block.credential).map(|m| m.binding.tags.clone()))
            .unwrap_or_default();
        for tag in block.tags.iter().chain(&secret_tags) {
            target = target.tagged(tag.clone());
        }
        PgProxy {
            tls: tls::upstream_tls(&block),
            block,
            target,
            gate,
            vault,
            cache: Mutex::new(DecisionCache::new(CACHE_MAX)),
            prepared: Mutex::default(),
            skeletons: Mutex::default(),
        }
    }

    /// The block this proxy serves.
    pub fn block(&self) -> &PostgresProxy {
        &self.block
    }

    /// Judges one statement text: `simple` when it came in a simple query (where soft deletes
    /// can be rewritten). Every decision is audited here; holds are settled by the caller.
    fn judge(&self, sql: &str, simple: bool) -> Judged {
        let shape = self.shape(sql, !simple);
        let decision = match shape.decision.get() {
            Some(decision) => Arc::clone(decision),
            None => {
                let decision = self.gate.shared_policy(&self.action(sql, shape.effects.clone()));
                Arc::clone(shape.decision.get_or_init(|| decision))
            }
        };
        let obligations = match &decision.verdict {
            Verdict::Hold { obligations } if decision.mode == Mode::Enforce => *obligations,
            verdict => {
                let judged = match verdict {
                    Verdict::Deny { denial } if decision.mode == Mode::Enforce => Judged::Refuse(denial.clone()),
                    _ => Judged::Pass,
                };
                // The audit keeps no effects: an allowed statement copies none of them.
                self.gate.record(self.action(sql, Vec::new()), decision);
                return judged;
            }
        };
        let action = self.action(sql, shape.effects.clone());
        if simple
            && obligations.soft_delete
            && let Some(rewrite) = self.soft_delete(sql)
        {
            let reason = format!(
                "carried out as a soft delete: {} kept in the {} schema (`holdpoint trash list`)",
                rewrite.tables.join(", "),
                TRASH_SCHEMA
            );
            let done = Decision { verdict: Verdict::Allow, reasons: vec![reason], ..Decision::clone(&decision) };
            self.gate.record(action, Arc::new(done));
            return Judged::Rewrite(rewrite);
        }
        self.gate.record(action.clone(), Arc::clone(&decision));
        Judged::Settle(Box::new((action, Decision::clone(&decision), obligations)))
    }

    /// A statement of this proxy's database as an action.
    fn action(&self, sql: &str, effects: Vec<Effect>) -> Action {
        Action {
            channel: Channel::Sql,
            actor: Actor { agent: None, session: None, workspace: String::new() },
            target: self.target.id.clone(),
            input: sql.to_owned(),
            effects,
        }
    }

    /// The soft-deleting rewrite of a held text, when each of its statements is allowed but for
    /// the deletes of the tables the trash takes (held with the `soft_delete` obligation).
    fn soft_delete(&self, sql: &str) -> Option<Rewrite> {
        let analysis = analyze(sql, &self.target);
        for s in &analysis.statements {
            let text = sql.get(s.span.clone())?;
            let effects = analyze(text, &self.target).effects;
            let trashed: Vec<String> =
                s.soft_delete.iter().flat_map(|d| &d.tables).map(|t| format!("{}/table {t}", self.target.id)).collect();
            let action = self.action(text, effects);
            let d = self.gate.shared_policy(&action);
            if d.effects.len() != action.effects.len() || d.mode != Mode::Enforce {
                return None;
            }
            let recoverable = action.effects.iter().zip(&d.effects).all(|(e, ed)| match ed.verdict {
                VerdictKind::Allow => true,
                VerdictKind::Hold => {
                    ed.obligations.soft_delete
                        && e.verb == Verb::Delete
                        && e.target.kind == TargetKind::Table
                        && trashed.contains(&e.target.id)
                        && ed
                            .policies
                            .iter()
                            .all(|p| TRASH_ANSWERS.contains(&p.id.as_str()) && p.origin.starts_with("<guarded>"))
                }
                VerdictKind::Deny => false,
            });
            if !recoverable {
                return None;
            }
        }
        trash::rewrite(sql, &analysis.statements)
    }

    /// A released simple query whose hold asked for a soft delete: its rewrite, which keeps
    /// in the trash what the approved statement deletes (statements the trash cannot take run
    /// as they are).
    fn released_soft_delete(&self, sql: &str, held: &(Action, Decision, Obligations)) -> Option<Rewrite> {
        if !held.2.soft_delete {
            return None;
        }
        trash::rewrite(sql, &analyze(sql, &self.target).statements)
    }

    /// Queues a held statement, or uses its release.
    async fn settle(&self, sql: &str, held: &(Action, Decision, Obligations)) -> Result<(), Denial> {
        let (action, decision, obligations) = held;
        self.gate.settle(summary(&self.block.name, sql), action, decision, *obligations).await
    }

    /// The statement's shape (its effects, and the policy's decision on them once asked), from
    /// the caches when it was seen: by skeleton (a scan, no parse) for shapes whose decision
    /// does not depend on literals, by fingerprint (a parse) for the others and for texts
    /// without a skeleton. The keys are computed outside the locks; `prepared` texts (a
    /// `Parse`'s, with `$n` parameters, sent again and again unchanged) are also kept by exact
    /// text, so a repeat costs no scan.
    fn shape(&self, sql: &str, prepared: bool) -> Arc<Shape> {
        if prepared && let Some(hit) = self.prepared.lock().ok().and_then(|m| m.get(sql).cloned()) {
            return hit;
        }
        let shape = match shape::skeleton(sql) {
            Some(skeleton) => {
                let known = self.skeletons.lock().ok().and_then(|m| m.get(skeleton.as_str()).cloned());
                match known {
                    Some(Known::Shape(hit)) => hit,
                    Some(Known::Literal) => self.shape_by_fingerprint(sql),
                    None => self.classify(sql, Some(skeleton)),
                }
            }
            None => self.shape_by_fingerprint(sql),
        };
        if prepared && let Ok(mut m) = self.prepared.lock() {
            if m.len() >= PREPARED_MAX {
                m.clear();
            }
            m.insert(sql.to_owned(), Arc::clone(&shape));
        }
        shape
    }

    /// The shape of a text from the fingerprint cache, or classified.
    fn shape_by_fingerprint(&self, sql: &str) -> Arc<Shape> {
        let key = statement_key(sql);
        let cached = key.and_then(|key| self.cache.lock().ok().and_then(|c| c.get_keyed(key, sql).cloned()));
        match cached {
            Some(hit) => hit,
            None => self.classify(sql, None),
        }
    }

    /// Classifies a text, keeping its shape by fingerprint, and by `skeleton` what its
    /// skeleton's texts are: one shape when the decision does not depend on literal values.
    /// Each skeleton is thus classified from a text of its own once.
    fn classify(&self, sql: &str, skeleton: Option<String>) -> Arc<Shape> {
        let analysis = analyze(sql, &self.target);
        let shape = Arc::new(Shape { effects: analysis.effects.clone(), decision: OnceLock::new() });
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(sql, &analysis, Arc::clone(&shape));
        }
        let known = match analysis.cache_key(sql) {
            Some(CacheKey::Shape(_)) => Some(Known::Shape(Arc::clone(&shape))),
            Some(CacheKey::Exact(..)) => Some(Known::Literal),
            // A text that does not parse is classified each time.
            None => None,
        };
        if let (Some(skeleton), Some(known)) = (skeleton, known)
            && let Ok(mut m) = self.skeletons.lock()
        {
            if m.len() >= CACHE_MAX {
                m.clear();
            }
            m.insert(skeleton, known);
        }
        shape
    }
}

/// A statement shape's effects and, once asked, the policy's decision on them. Equal effects
/// are decided equally for the gate's life (see [`Gate::shared_policy`]), so a repeat of the
/// shape costs neither a copy of its effects nor a policy lookup.
struct Shape {
    effects: Vec<Effect>,
    decision: OnceLock<Arc<Decision>>,
}

/// What a skeleton's texts are known to be.
#[derive(Clone)]
enum Known {
    /// One shape: every text of the skeleton has these effects.
    Shape(Arc<Shape>),
    /// Their decisions depend on literal values: looked up by fingerprint and exact text.
    Literal,
}

/// What to do with a statement text.
enum Judged {
    /// Send it.
    Pass,
    /// Send the refusal instead.
    Refuse(Denial),
    /// Send this instead.
    Rewrite(Rewrite),
    /// Held: settle it, then send it or its refusal.
    Settle(Box<(Action, Decision, Obligations)>),
}

/// The real user and password of `block`'s credential in `vault`, and the placeholder agents give.
fn upstream_credential(block: &PostgresProxy, vault: Option<&Vault>) -> Result<Upstream, String> {
    let name = &block.credential;
    let vault = vault.ok_or("the vault is not open (HOLDPOINT_VAULT_KEY_FILE is not set)")?;
    let meta = vault
        .secrets()
        .find(|m| &m.name == name)
        .ok_or_else(|| format!("the vault has no secret {name:?} (`holdpoint vault list`)"))?;
    if meta.kind() != Kind::Postgres {
        return Err(format!("vault secret {name:?} is of kind {}, not postgres", meta.kind().as_str()));
    }
    let placeholder =
        meta.placeholders.get(&Part::Value).ok_or_else(|| format!("vault secret {name:?} has no placeholder"))?;
    let request = Request { host: &block.upstream, method: "", path: "" };
    let resolved = vault.resolve(placeholder, &request).map_err(|d| d.to_string())?;
    match resolved.credential {
        Credential::UserPassword { user, password } => Ok(Upstream {
            user: user.expose_secret().to_owned(),
            password: password.expose_secret().to_owned(),
            placeholder: placeholder.clone(),
        }),
        Credential::Token(_) | Credential::AwsKeyPair { .. } => {
            Err(format!("vault secret {name:?} is not a user and password"))
        }
    }
}

/// Accepts agents on `listener` until `shutdown`, then ends the sessions.
///
/// The sessions run on a thread of their own with a single-threaded runtime, as pgbouncer runs
/// its event loop: a statement's few small messages each way then cost no wake-up of another
/// worker thread. Should that thread not start, the proxy says so and serves nobody.
pub async fn serve_postgres(listener: TcpListener, proxy: Arc<PgProxy>, shutdown: impl Future<Output = ()>) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (done, finished) = tokio::sync::oneshot::channel::<()>();
    let own = listener.into_std().ok().and_then(|std_listener| {
        let proxy = Arc::clone(&proxy);
        std::thread::Builder::new()
            .name(format!("holdpoint-pg-{}", proxy.block.name))
            .spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    rt.block_on(async move {
                        if let Ok(listener) = TcpListener::from_std(std_listener) {
                            accept(listener, proxy, async move {
                                let _ = stopped.await;
                            })
                            .await;
                        }
                    });
                }
                let _ = done.send(());
            })
            .ok()
    });
    if own.is_none() {
        eprintln!("holdpoint: the PostgreSQL proxy {} cannot start its thread", proxy.block.name);
        return;
    }
    if let Err(why) = &proxy.tls {
        eprintln!("holdpoint: the PostgreSQL proxy {} refuses every connection: {why}", proxy.block.name);
    }
    let mut finished = std::pin::pin!(finished);
    tokio::select! {
        () = shutdown => {
            let _ = stop.send(());
            let _ = finished.await;
        }
        _ = &mut finished => {}
    }
}

/// The accept loop of [`serve_postgres`].
async fn accept(listener: TcpListener, proxy: Arc<PgProxy>, shutdown: impl Future<Output = ()>) {
    let mut sessions = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let proxy = Arc::clone(&proxy);
                    sessions.spawn(async move {
                        let _ = session(stream, &proxy).await;
                    });
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
        }
    }
    sessions.shutdown().await;
}

/// Answers a fatal error and ends the connection.
async fn fatal(client: &mut TcpStream, code: &str, text: &str) -> Result<(), WireError> {
    client.write_all(&error_response("FATAL", code, text)).await?;
    client.shutdown().await?;
    Ok(())
}

/// One agent's connection, from its startup packet to its end.
async fn session(mut client: TcpStream, proxy: &PgProxy) -> Result<(), WireError> {
    client.set_nodelay(true)?;
    let body = loop {
        let body = read_startup(&mut client).await?;
        match startup_code(&body) {
            Some(SSL_REQUEST | GSSENC_REQUEST) => client.write_all(b"N").await?,
            Some(CANCEL_REQUEST) => return forward_cancel(&proxy.block, &proxy.tls, &body).await,
            Some(PROTOCOL_3) => break body,
            _ => {
                let why = "unsupported frontend protocol; Holdpoint's PostgreSQL proxy speaks protocol 3.0";
                return fatal(&mut client, "08P01", why).await;
            }
        }
    };
    let params = startup_params(&body)?;
    let param = |name: &str| params.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    let user = param("user").unwrap_or_default().to_owned();
    let database = param("database").filter(|d| !d.is_empty()).unwrap_or(&user);
    let block = &proxy.block;
    if database != block.database {
        let why = format!(
            "this Holdpoint proxy ({}) serves database \"{}\" only, not \"{database}\"",
            block.name, block.database
        );
        return fatal(&mut client, "3D000", &why).await;
    }
    if param("replication").is_some_and(|r| !matches!(r, "false" | "off" | "no" | "0")) {
        return fatal(&mut client, "28000", "replication connections are not proxied by Holdpoint").await;
    }
    let upstream = match upstream_credential(&proxy.block, proxy.vault.as_deref()) {
        Ok(upstream) => upstream,
        Err(why) => {
            let why =
                format!("Holdpoint cannot connect to {} with credential {:?}: {why}", block.name, block.credential);
            return fatal(&mut client, "28000", &why).await;
        }
    };
    if !authenticate(&mut client, &upstream.placeholder).await? {
        let why = format!(
            "password authentication failed for user \"{user}\" (the password is the placeholder of vault secret \"{}\")",
            block.credential
        );
        return fatal(&mut client, "28P01", &why).await;
    }
    let passed: Vec<(&str, &str)> = params
        .iter()
        .filter(|(n, _)| PASSED_PARAMS.contains(&n.as_str()))
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let (server, greeting) = match connect_upstream(block, &proxy.tls, &upstream, &passed).await {
        Ok(connected) => connected,
        Err(refusal) => {
            client.write_all(&refusal).await?;
            client.shutdown().await?;
            return Ok(());
        }
    };
    drop(upstream);
    let mut hello = auth(0, &[]);
    hello.extend_from_slice(&greeting);
    client.write_all(&hello).await?;
    match server {
        // A TCP stream splits into halves that need no lock between them.
        ServerStream::Plain(server) => {
            let (read, write) = server.into_split();
            relay(client, read, write, proxy).await
        }
        ServerStream::Tls(server) => {
            let (read, write) = tokio::io::split(server);
            relay(client, read, write, proxy).await
        }
    }
}

/// SCRAM-SHA-256 with the placeholder as the password; whether the client proved it.
async fn authenticate(client: &mut TcpStream, placeholder: &str) -> Result<bool, WireError> {
    let mut offer = Vec::new();
    push_cstr(&mut offer, auth::SCRAM);
    offer.push(0);
    client.write_all(&auth(10, &offer)).await?;
    let initial = read_message(client, 4096).await?;
    if initial.tag != b'p' {
        return Ok(false);
    }
    let mut at = 0;
    if cstr(&initial.body, &mut at) != Some(auth::SCRAM) {
        return Ok(false);
    }
    let Some(first) = initial.body.get(at + 4..).and_then(|d| std::str::from_utf8(d).ok()) else {
        return Ok(false);
    };
    let Ok((server, server_first)) = auth::ScramServer::start(placeholder, first) else {
        return Ok(false);
    };
    client.write_all(&auth(11, server_first.as_bytes())).await?;
    let last = read_message(client, 4096).await?;
    let Some(server_final) =
        std::str::from_utf8(&last.body).ok().filter(|_| last.tag == b'p').and_then(|l| server.finish(l))
    else {
        return Ok(false);
    };
    client.write_all(&auth(12, server_final.as_bytes())).await?;
    Ok(true)
}

/// Connects and authenticates to the server: the connection, and the server's greeting up to
/// its first `ReadyForQuery` (parameters, backend key). A failure is the `ErrorResponse` to
/// give the agent (the server's own, or Holdpoint's).
async fn connect_upstream(
    block: &PostgresProxy,
    tls: &UpstreamTls,
    upstream: &Upstream,
    params: &[(&str, &str)],
) -> Result<(ServerStream, Vec<u8>), Vec<u8>> {
    let fail = |why: String| error_response("FATAL", "08006", &format!("Holdpoint: {why}"));
    let mut server = tls::open(block, tls).await.map_err(fail)?;
    let io = |e: WireError| fail(format!("the server {} of {} failed: {e}", block.upstream, block.name));
    let mut body = PROTOCOL_3.to_be_bytes().to_vec();
    for (name, value) in [("user", upstream.user.as_str()), ("database", block.database.as_str())]
        .into_iter()
        .chain(params.iter().copied())
    {
        push_cstr(&mut body, name);
        push_cstr(&mut body, value);
    }
    body.push(0);
    let mut startup = i32::try_from(body.len() + 4).unwrap_or(i32::MAX).to_be_bytes().to_vec();
    startup.extend_from_slice(&body);
    tls::send(&mut server, &startup).await.map_err(|e| io(e.into()))?;
    let mut greeting = Vec::new();
    let mut scram: Option<auth::ScramClient> = None;
    loop {
        let m = read_message(&mut server, 1 << 20).await.map_err(io)?;
        match m.tag {
            b'R' => {
                let code = m.body.get(..4).and_then(|c| c.try_into().ok()).map(i32::from_be_bytes);
                let data = m.body.get(4..).unwrap_or_default();
                let reply = match code {
                    Some(0) => None,
                    Some(3) => {
                        let mut p = Vec::new();
                        push_cstr(&mut p, &upstream.password);
                        Some(p)
                    }
                    Some(5) => {
                        let mut p = Vec::new();
                        push_cstr(&mut p, &auth::md5_password(&upstream.user, &upstream.password, data));
                        Some(p)
                    }
                    Some(10) => {
                        if !data.split(|b| *b == 0).any(|m| m == auth::SCRAM.as_bytes()) {
                            return Err(fail("the server offers no SASL mechanism Holdpoint speaks".into()));
                        }
                        let (client, first) = auth::ScramClient::start(&upstream.password)
                            .ok_or_else(|| fail("no randomness for SCRAM".into()))?;
                        scram = Some(client);
                        let mut p = Vec::new();
                        push_cstr(&mut p, auth::SCRAM);
                        p.extend_from_slice(&i32::try_from(first.len()).unwrap_or(0).to_be_bytes());
                        p.extend_from_slice(first.as_bytes());
                        Some(p)
                    }
                    Some(11) => {
                        let server_first = std::str::from_utf8(data).unwrap_or_default();
                        let client = scram.as_mut().ok_or_else(|| fail("SCRAM out of order".into()))?;
                        Some(client.answer(server_first).map_err(fail)?.into_bytes())
                    }
                    Some(12) => {
                        let server_final = std::str::from_utf8(data).unwrap_or_default();
                        if !scram.as_ref().is_some_and(|c| c.verify(server_final)) {
                            return Err(fail("the server did not prove it knows the password".into()));
                        }
                        None
                    }
                    other => {
                        let why =
                            format!("the server asks for authentication {other:?}, which Holdpoint does not speak");
                        return Err(fail(why));
                    }
                };
                if let Some(reply) = reply {
                    tls::send(&mut server, &message(b'p', &reply)).await.map_err(|e| io(e.into()))?;
                }
            }
            b'E' => return Err(m.encode()),
            b'Z' => {
                greeting.extend_from_slice(&m.encode());
                return Ok((server, greeting));
            }
            _ => greeting.extend_from_slice(&m.encode()),
        }
    }
}

/// Forwards a cancel request to the server (over TLS when the block asks for it): the client
/// holds the server's own key.
async fn forward_cancel(block: &PostgresProxy, tls: &UpstreamTls, body: &[u8]) -> Result<(), WireError> {
    let mut server = tls::open(block, tls).await.map_err(WireError::Protocol)?;
    let mut packet = i32::try_from(body.len() + 4).unwrap_or(i32::MAX).to_be_bytes().to_vec();
    packet.extend_from_slice(body);
    tls::send(&mut server, &packet).await?;
    // The server closes the connection once it has read the request; waiting for that keeps
    // a TLS session from being cut before the request is through.
    let _ = tokio::time::timeout(Duration::from_secs(10), server.read(&mut [0u8; 1])).await;
    Ok(())
}

/// Plans for the server's answers, by cycle (one cycle ends with each `ReadyForQuery`): which
/// of Holdpoint's own results the client must not see.
#[derive(Debug, Default)]
struct Plans {
    queue: Mutex<VecDeque<Plan>>,
    /// How many plans are queued: the relay looks at the queue only when some are.
    queued: AtomicUsize,
}

impl Plans {
    fn push(&self, plan: Plan) {
        if let Ok(mut queue) = self.queue.lock() {
            queue.push_back(plan);
            self.queued.fetch_add(1, Ordering::Release);
        }
    }

    /// The plan of `cycle`, when one is queued (older ones are dropped).
    fn take(&self, cycle: u64) -> Option<Plan> {
        if self.queued.load(Ordering::Acquire) == 0 {
            return None;
        }
        let mut queue = self.queue.lock().ok()?;
        while let Some(front) = queue.front() {
            if front.cycle > cycle {
                return None;
            }
            let plan = queue.pop_front();
            self.queued.fetch_sub(1, Ordering::Release);
            if plan.as_ref().is_some_and(|p| p.cycle == cycle) {
                return plan;
            }
        }
        None
    }
}

/// What to hide or retag in one cycle's answers.
#[derive(Debug, Default)]
struct Plan {
    cycle: u64,
    /// Per `CommandComplete` of the cycle, in order (a rewritten simple query).
    steps: Vec<Step>,
    /// The `ParseComplete` and `BindComplete` (by their index in the cycle) of an injected refusal.
    parse: Option<usize>,
    bind: Option<usize>,
}

/// The client side of a session: what has been sent in the current cycle.
#[derive(Debug, Default)]
struct Cycle {
    /// Cycles ended so far (messages sent that the server answers with `ReadyForQuery`).
    number: u64,
    /// `Parse` and `Bind` messages sent in this cycle.
    parses: usize,
    binds: usize,
    /// An extended-protocol batch is open (no `Sync` yet).
    batch: bool,
    /// A refusal was injected: the client's messages are dropped up to `Sync`.
    skipping: bool,
}

impl Cycle {
    fn end(&mut self) {
        *self = Cycle { number: self.number + 1, ..Cycle::default() };
    }
}

/// Relays the session: the server's messages back (see [`back`]), the client's decided first.
async fn relay<R, W>(client: TcpStream, server_read: R, mut server_write: W, proxy: &PgProxy) -> Result<(), WireError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (client_read, client_write) = client.into_split();
    let plans = Arc::new(Plans::default());
    // Both directions in this one task: no wake-up crosses threads per message.
    let back = back(server_read, client_write, Arc::clone(&plans));
    let mut client_read = BufReader::new(client_read);
    let forth = async {
        let mut cycle = Cycle::default();
        // Statement names whose Parse was refused, with the refusal.
        let mut refused: HashMap<String, Denial> = HashMap::new();
        let mut out: Vec<u8> = Vec::with_capacity(8192);
        loop {
            if client_read.buffer().is_empty() && !out.is_empty() {
                tls::send(&mut server_write, &out).await?;
                out.clear();
            }
            let m = read_buffered(&mut client_read, MESSAGE_MAX).await?;
            let frontend = decode_frontend(&m)?;
            if cycle.skipping && !matches!(frontend, Frontend::Sync | Frontend::Terminate) {
                continue;
            }
            match frontend {
                Frontend::Query(sql) => {
                    let judged = proxy.judge(sql, !cycle.batch);
                    match judged {
                        Judged::Pass => m.write_to(&mut out),
                        Judged::Refuse(denial) => out.extend_from_slice(&refusal(&denial)),
                        Judged::Rewrite(rewrite) => {
                            plans.push(Plan { cycle: cycle.number, steps: rewrite.steps, ..Plan::default() });
                            out.extend_from_slice(&query(&rewrite.text));
                        }
                        Judged::Settle(held) => {
                            tls::send(&mut server_write, &out).await?;
                            out.clear();
                            match proxy.settle(sql, &held).await {
                                Ok(()) => match proxy.released_soft_delete(sql, &held).filter(|_| !cycle.batch) {
                                    Some(rewrite) => {
                                        plans.push(Plan {
                                            cycle: cycle.number,
                                            steps: rewrite.steps,
                                            ..Plan::default()
                                        });
                                        out.extend_from_slice(&query(&rewrite.text));
                                    }
                                    None => m.write_to(&mut out),
                                },
                                Err(denial) => out.extend_from_slice(&refusal(&denial)),
                            }
                        }
                    }
                    cycle.end();
                }
                Frontend::Parse { name, query } => {
                    let denial = match proxy.judge(query, false) {
                        Judged::Pass | Judged::Rewrite(_) => None,
                        Judged::Refuse(denial) => Some(denial),
                        Judged::Settle(held) => {
                            tls::send(&mut server_write, &out).await?;
                            out.clear();
                            proxy.settle(query, &held).await.err()
                        }
                    };
                    match denial {
                        None => {
                            refused.remove(name);
                            m.write_to(&mut out);
                            cycle.parses += 1;
                            cycle.batch = true;
                        }
                        Some(denial) => {
                            inject(&mut out, &plans, &mut cycle, &denial);
                            refused.insert(name.to_owned(), denial);
                        }
                    }
                }
                Frontend::Bind { statement, .. } => match refused.get(statement) {
                    Some(denial) => {
                        let denial = denial.clone();
                        inject(&mut out, &plans, &mut cycle, &denial);
                    }
                    None => {
                        m.write_to(&mut out);
                        cycle.binds += 1;
                        cycle.batch = true;
                    }
                },
                Frontend::Extended => {
                    m.write_to(&mut out);
                    cycle.batch = true;
                }
                Frontend::FunctionCall => {
                    let reason = "a function call by OID (the FunctionCall message) cannot be classified; \
                                  call the function in a statement";
                    out.extend_from_slice(&refusal(&Denial::Policy {
                        policy: FUNCTION_CALL.into(),
                        reason: reason.into(),
                    }));
                    cycle.end();
                }
                Frontend::Sync => {
                    m.write_to(&mut out);
                    cycle.end();
                }
                Frontend::Terminate => {
                    m.write_to(&mut out);
                    tls::send(&mut server_write, &out).await?;
                    return Ok(());
                }
                Frontend::Relay => m.write_to(&mut out),
            }
        }
    };
    tokio::select! {
        result = forth => result,
        result = back => result,
    }
}

/// Refuses at this point of an extended-protocol batch: `Parse`, `Bind` and `Execute` of the
/// refusal's `DO` block (unnamed), whose first two answers the client does not see; then the
/// client's messages are dropped up to `Sync`, as the server drops them after the error.
fn inject(out: &mut Vec<u8>, plans: &Plans, cycle: &mut Cycle, denial: &Denial) {
    plans.push(Plan { cycle: cycle.number, steps: Vec::new(), parse: Some(cycle.parses), bind: Some(cycle.binds) });
    let mut parse = Vec::new();
    push_cstr(&mut parse, "");
    push_cstr(&mut parse, &refusal_sql(denial));
    parse.extend_from_slice(&0i16.to_be_bytes());
    out.extend_from_slice(&message(b'P', &parse));
    // Portal "", statement "", no parameter formats, no parameters, no result formats.
    out.extend_from_slice(&message(b'B', &[0, 0, 0, 0, 0, 0, 0, 0]));
    // Portal "", no row limit.
    out.extend_from_slice(&message(b'E', &[0, 0, 0, 0, 0]));
    cycle.parses += 1;
    cycle.binds += 1;
    cycle.batch = true;
    cycle.skipping = true;
}

/// What to do with one server message.
enum Act {
    Pass,
    Skip,
    Retag(&'static str),
}

/// The server side of a session: counts what it answered in the current cycle.
#[derive(Default)]
struct Answers {
    cycle: u64,
    completes: usize,
    parses: usize,
    binds: usize,
    plan: Option<Plan>,
}

impl Answers {
    /// Decides a message by its tag.
    fn on(&mut self, tag: u8, plans: &Plans) -> Act {
        if self.plan.is_none() {
            self.plan = plans.take(self.cycle);
        }
        let act = match (tag, &self.plan) {
            (b'C', Some(plan)) => match plan.steps.get(self.completes) {
                Some(Step::Swallow) => Act::Skip,
                Some(Step::Tag(tag)) => Act::Retag(tag),
                Some(Step::Pass) | None => Act::Pass,
            },
            (b'1', Some(plan)) if plan.parse == Some(self.parses) => Act::Skip,
            (b'2', Some(plan)) if plan.bind == Some(self.binds) => Act::Skip,
            _ => Act::Pass,
        };
        match tag {
            b'C' => self.completes += 1,
            b'1' => self.parses += 1,
            b'2' => self.binds += 1,
            b'Z' => *self = Answers { cycle: self.cycle + 1, ..Answers::default() },
            _ => {}
        }
        act
    }
}

/// Relays the server's messages to the client as they come, reading only their headers:
/// bodies stream through (a large row is never held whole), and the answers to Holdpoint's own
/// statements are dropped or retagged as the cycle's [`Plan`] says.
async fn back(
    mut server: impl AsyncRead + Unpin,
    mut client: tokio::net::tcp::OwnedWriteHalf,
    plans: Arc<Plans>,
) -> Result<(), WireError> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut out: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut answers = Answers::default();
    let mut head = [0u8; 5];
    let mut head_len = 0usize;
    let mut pass = 0usize;
    let mut skip = 0usize;
    loop {
        let n = server.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        let mut chunk = buf.get(..n).unwrap_or_default();
        while !chunk.is_empty() {
            if pass > 0 || skip > 0 {
                let (left, keep) = if pass > 0 { (&mut pass, true) } else { (&mut skip, false) };
                let take = (*left).min(chunk.len());
                let (now, rest) = chunk.split_at(take);
                if keep {
                    out.extend_from_slice(now);
                }
                *left -= take;
                chunk = rest;
                continue;
            }
            let take = (5 - head_len).min(chunk.len());
            let (now, rest) = chunk.split_at(take);
            if let Some(slot) = head.get_mut(head_len..head_len + take) {
                slot.copy_from_slice(now);
            }
            head_len += take;
            chunk = rest;
            if head_len < 5 {
                break;
            }
            head_len = 0;
            let [tag, a, b, c, d] = head;
            let body =
                usize::try_from(i32::from_be_bytes([a, b, c, d])).ok().and_then(|l| l.checked_sub(4)).ok_or_else(
                    || WireError::Protocol(format!("the server sent a {:?} message of a bad length", char::from(tag))),
                )?;
            match answers.on(tag, &plans) {
                Act::Pass => {
                    out.extend_from_slice(&head);
                    pass = body;
                }
                Act::Skip => skip = body,
                Act::Retag(text) => {
                    let mut tag_body = Vec::new();
                    push_cstr(&mut tag_body, text);
                    out.extend_from_slice(&message(b'C', &tag_body));
                    skip = body;
                }
            }
        }
        if !out.is_empty() {
            client.write_all(&out).await?;
            out.clear();
        }
    }
}

/// A simple `Query` message.
fn query(sql: &str) -> Vec<u8> {
    let mut body = Vec::with_capacity(sql.len() + 1);
    push_cstr(&mut body, sql);
    message(b'Q', &body)
}

/// The query sent in place of a refused one: a `DO` block raising the refusal, so the server
/// answers the error and the transaction state itself, in order.
fn refusal(denial: &Denial) -> Vec<u8> {
    query(&refusal_sql(denial))
}

/// The refusal's `DO` block. The message is an escape string with no `$`, so it cannot end
/// the block.
fn refusal_sql(denial: &Denial) -> String {
    format!(
        "DO $holdpoint$BEGIN RAISE EXCEPTION USING ERRCODE = '{}', MESSAGE = {}; END$holdpoint$",
        denial.sqlstate(),
        trash::literal(&denial.to_string())
    )
}

/// One line an approver reads first: the database and the statement.
fn summary(name: &str, sql: &str) -> String {
    let line = format!("{name}: {}", sql.trim());
    let short: String = line.chars().take(200).collect();
    if short.len() < line.len() { format!("{short}…") } else { short }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_to_holdpoints_own_statements_are_hidden_or_retagged_in_their_cycle_only() {
        let plans = Plans::default();
        plans.push(Plan {
            cycle: 1,
            steps: vec![Step::Swallow, Step::Pass, Step::Tag("DROP TABLE")],
            ..Plan::default()
        });
        plans.push(Plan { cycle: 2, steps: vec![], parse: Some(1), bind: Some(0) });
        let mut a = Answers::default();
        let acts = |a: &mut Answers, tags: &[u8]| -> String {
            tags.iter()
                .map(|t| match a.on(*t, &plans) {
                    Act::Pass => "p".to_owned(),
                    Act::Skip => "s".to_owned(),
                    Act::Retag(tag) => format!("<{tag}>"),
                })
                .collect()
        };
        // Cycle 0 has no plan; cycle 1 is a rewritten query; cycle 2 an injected refusal after
        // one Parse of the client's.
        assert_eq!(acts(&mut a, b"TDCZ"), "pppp");
        assert_eq!(acts(&mut a, b"NCCTDCZ"), "psppp<DROP TABLE>p");
        assert_eq!(acts(&mut a, b"1122EZ"), "pssppp");
        assert_eq!(acts(&mut a, b"1Z"), "pp");
        assert_eq!(plans.queued.load(Ordering::Acquire), 0);
    }

    struct Discard;

    impl crate::Recorder for Discard {
        fn decided(&self, _: Action, _: Arc<Decision>) {}
        fn held(&self, _: &holdpoint_store::Hold) {}
    }

    /// Texts of one skeleton get the effects of the first of them classified, unless the
    /// classifier says those depend on literal values; in every order, each text gets exactly
    /// its own classification.
    #[tokio::test]
    async fn statements_of_one_skeleton_share_effects_unless_they_depend_on_literals() {
        let dir = tempfile::tempdir().unwrap();
        let store = holdpoint_store::Store::open_sqlite(dir.path()).await.unwrap();
        let engine = holdpoint_policy::Engine::new(holdpoint_policy::Profile::Guarded, &[]).unwrap();
        let gate = Gate::new(engine, Default::default(), store, Arc::new(Discard), Arc::new(crate::NoCredentials));
        let block = PostgresProxy {
            name: "app".into(),
            listen: "127.0.0.1:0".parse().unwrap(),
            upstream: "127.0.0.1:5432".into(),
            database: "app".into(),
            credential: "app-db".into(),
            tags: vec!["production".into()],
            tls: Default::default(),
            ca_file: None,
        };
        let proxy = PgProxy::new(block, Arc::new(gate), None);
        // (text, prepared, what its skeleton is known as afterwards)
        let texts = [
            ("SELECT abalance FROM pgbench_accounts WHERE aid = 17", false, "shape"),
            ("SELECT abalance FROM pgbench_accounts WHERE aid = 90210", false, "shape"),
            ("DELETE FROM t WHERE 1 = 2", false, "literal"),
            ("DELETE FROM t WHERE 1 = 1", false, "literal"),
            ("DELETE FROM t WHERE 1 = 2", false, "literal"),
            ("DELETE FROM t WHERE id = 1 OR 2 = 2", false, "literal"),
            ("DELETE FROM t WHERE id = 1 OR 2 = 3", false, "literal"),
            ("UPDATE t SET a = a + 5 WHERE id = 9", true, "shape"),
            ("UPDATE t SET a = a + 6 WHERE id = 10", true, "shape"),
            ("SELECT pg_terminate_backend(4242)", false, "shape"),
            ("SELECT pg_terminate_backend(17)", false, "shape"),
            ("SELECT 'a\\' FROM t WHERE 1 = 1", false, "none"),
            ("SELEC 1", false, "none"),
            ("SELEC 2", false, "none"),
        ];
        let effects = |sql: &str| analyze(sql, &proxy.target).effects;
        assert_ne!(effects("DELETE FROM t WHERE 1 = 2"), effects("DELETE FROM t WHERE 1 = 1"));
        assert_ne!(effects("DELETE FROM t WHERE id = 1 OR 2 = 3"), effects("DELETE FROM t WHERE id = 1 OR 2 = 2"));
        for (sql, prepared, known) in texts {
            assert_eq!(proxy.shape(sql, prepared).effects, analyze(sql, &proxy.target).effects, "{sql}");
            let skeleton = shape::skeleton(sql).unwrap_or_default();
            let got = match proxy.skeletons.lock().unwrap().get(&skeleton) {
                Some(Known::Shape(_)) => "shape",
                Some(Known::Literal) => "literal",
                None => "none",
            };
            assert_eq!(got, known, "{sql}");
        }
    }

    #[test]
    fn a_refusal_cannot_leave_its_do_block() {
        let denial = Denial::Held { hold_id: Some(3), reason: "x$holdpoint$; DROP TABLE t; --'\\".into() };
        let q = refusal(&denial);
        let sql = std::str::from_utf8(&q[5..q.len() - 1]).unwrap();
        assert_eq!(sql.matches('$').count(), 4, "{sql}");
        assert!(sql.contains("ERRCODE = 'HP001'"), "{sql}");
        let parsed = holdpoint_classify::sql::analyze(sql, &SqlTarget::new("postgres://h/d"));
        assert_eq!(parsed.statements.len(), 1, "{sql}");
    }
}
