//! The PostgreSQL proxy, one per `[[postgres]]` block: agents connect with the vault
//! placeholder of the block's `credential` as their password, Holdpoint connects upstream
//! with the real user and password, and every simple-protocol query is classified (with
//! PostgreSQL's own grammar), decided, audited and held through the same [`Gate`] as HTTP
//! requests.
//!
//! - Startup: `SSLRequest` and `GSSENCRequest` are answered `N` (loopback, no TLS); a
//!   `CancelRequest` is forwarded to the upstream (the client holds the upstream's own
//!   `BackendKeyData`, relayed unchanged).
//! - The agent authenticates with SCRAM-SHA-256 against the placeholder; upstream, Holdpoint
//!   answers SCRAM-SHA-256, md5 or a cleartext request with the real password. The agent never
//!   receives the real password or anything derived from it.
//! - A refused statement never reaches the server: in its place the proxy sends a `DO` block
//!   that raises the refusal (SQLSTATE `HP001` held / `HP002` denied, the denial's sentence as
//!   message), so the server itself answers `ErrorResponse` then `ReadyForQuery` in order with
//!   pipelined queries, and a refusal inside a transaction block aborts it as an error would.
//! - The extended protocol (Parse/Bind/Execute, function calls) is refused, fail closed, until
//!   it is classified at Parse: the batch is discarded up to `Sync` and answered with `HP002`.

mod auth;
mod wire;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use holdpoint_classify::sql::{DecisionCache, SqlTarget, analyze};
use holdpoint_core::{Action, Actor, Channel, Denial, Effect};
use holdpoint_policy::config::PostgresProxy;
use holdpoint_vault::{Credential, Kind, Part, Request, Vault};
use secrecy::ExposeSecret;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use crate::Gate;
use wire::{
    CANCEL_REQUEST, GSSENC_REQUEST, MESSAGE_MAX, PROTOCOL_3, SSL_REQUEST, auth, cstr, error_response, message,
    push_cstr, read_message, read_startup, startup_code,
};
pub use wire::{Frontend, Message, WireError, decode_frontend, startup_params};

/// Statement shapes whose effects are kept before the cache starts over.
const CACHE_MAX: usize = 16 * 1024;
/// The policy id of the refusal of the extended protocol.
const EXTENDED: &str = "pg-extended-protocol";
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
    /// Effects by statement shape (literal-sensitive statements by exact text), so a shape is
    /// parsed once.
    cache: Mutex<DecisionCache<Vec<Effect>>>,
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
        PgProxy { block, target, gate, vault, cache: Mutex::new(DecisionCache::new(CACHE_MAX)) }
    }

    /// The block this proxy serves.
    pub fn block(&self) -> &PostgresProxy {
        &self.block
    }

    /// Decides one simple-protocol query text.
    async fn decide(&self, sql: &str) -> Result<(), Denial> {
        let action = Action {
            channel: Channel::Sql,
            actor: Actor { agent: None, session: None, workspace: String::new() },
            target: self.target.id.clone(),
            input: sql.to_owned(),
            effects: self.effects(sql),
        };
        self.gate.decide_action(&action, &summary(&self.block.name, sql)).await
    }

    /// The classifier's effects, from the cache when this statement shape was seen.
    fn effects(&self, sql: &str) -> Vec<Effect> {
        if let Some(hit) = self.cache.lock().ok().and_then(|cache| cache.get(sql).cloned()) {
            return hit;
        }
        let analysis = analyze(sql, &self.target);
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(sql, &analysis, analysis.effects.clone());
        }
        analysis.effects
    }

    /// The real user and password, and the placeholder agents give.
    fn upstream_credential(&self) -> Result<Upstream, String> {
        let name = &self.block.credential;
        let vault = self.vault.as_ref().ok_or("the vault is not open (HOLDPOINT_VAULT_KEY_FILE is not set)")?;
        let meta = vault
            .secrets()
            .find(|m| &m.name == name)
            .ok_or_else(|| format!("the vault has no secret {name:?} (`holdpoint vault list`)"))?;
        if meta.kind() != Kind::Postgres {
            return Err(format!("vault secret {name:?} is of kind {}, not postgres", meta.kind().as_str()));
        }
        let placeholder =
            meta.placeholders.get(&Part::Value).ok_or_else(|| format!("vault secret {name:?} has no placeholder"))?;
        let request = Request { host: &self.block.upstream, method: "", path: "" };
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
}

/// Accepts agents on `listener` until `shutdown`, then ends the sessions.
pub async fn serve_postgres(listener: TcpListener, proxy: Arc<PgProxy>, shutdown: impl Future<Output = ()>) {
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
            Some(CANCEL_REQUEST) => return forward_cancel(&proxy.block.upstream, &body).await,
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
    let upstream = match proxy.upstream_credential() {
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
    let (server, greeting) = match connect_upstream(block, &upstream, &passed).await {
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
    relay(client, server, proxy).await
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
    upstream: &Upstream,
    params: &[(&str, &str)],
) -> Result<(TcpStream, Vec<u8>), Vec<u8>> {
    let fail = |why: String| error_response("FATAL", "08006", &format!("Holdpoint: {why}"));
    let mut server = TcpStream::connect(&block.upstream)
        .await
        .map_err(|e| fail(format!("cannot reach the server {} of {}: {e}", block.upstream, block.name)))?;
    let io = |e: WireError| fail(format!("the server {} of {} failed: {e}", block.upstream, block.name));
    let _ = server.set_nodelay(true);
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
    server.write_all(&startup).await.map_err(|e| io(e.into()))?;
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
                    server.write_all(&message(b'p', &reply)).await.map_err(|e| io(e.into()))?;
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

/// Forwards a cancel request to the server: the client holds the server's own key.
async fn forward_cancel(upstream: &str, body: &[u8]) -> Result<(), WireError> {
    let mut server = TcpStream::connect(upstream).await?;
    let mut packet = i32::try_from(body.len() + 4).unwrap_or(i32::MAX).to_be_bytes().to_vec();
    packet.extend_from_slice(body);
    server.write_all(&packet).await?;
    Ok(())
}

/// Relays the session: the server's messages back unchanged, the client's decided first.
async fn relay(client: TcpStream, server: TcpStream, proxy: &PgProxy) -> Result<(), WireError> {
    let (client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let mut back = tokio::spawn(async move { tokio::io::copy(&mut server_read, &mut client_write).await });
    let mut client_read = BufReader::new(client_read);
    let forth = async {
        loop {
            let m = read_message(&mut client_read, MESSAGE_MAX).await?;
            let out = match decode_frontend(&m)? {
                Frontend::Query(sql) => match proxy.decide(sql).await {
                    Ok(()) => m.encode(),
                    Err(denial) => refusal(&denial),
                },
                Frontend::Extended => {
                    // Discarded up to Sync, as the server does after an error.
                    loop {
                        let next = read_message(&mut client_read, MESSAGE_MAX).await?;
                        match next.tag {
                            b'S' => break,
                            b'X' => return Ok(()),
                            _ => {}
                        }
                    }
                    let reason = "the extended query protocol (Parse/Bind/Execute) is not supported by Holdpoint's \
                                  PostgreSQL proxy yet; use the simple query protocol";
                    refusal(&Denial::Policy { policy: EXTENDED.into(), reason: reason.into() })
                }
                Frontend::Terminate => {
                    server_write.write_all(&m.encode()).await?;
                    return Ok(());
                }
                Frontend::Sync | Frontend::Relay => m.encode(),
            };
            server_write.write_all(&out).await?;
        }
    };
    tokio::select! {
        result = forth => {
            back.abort();
            result
        }
        _ = &mut back => Ok(()),
    }
}

/// The query sent in place of a refused one: a `DO` block raising the refusal, so the server
/// answers the error and the transaction state itself, in order. The message is an escape
/// string with no `$`, so it cannot end the block.
fn refusal(denial: &Denial) -> Vec<u8> {
    let mut text = String::new();
    for c in denial.to_string().chars() {
        match c {
            '\\' => text.push_str("\\\\"),
            '\'' => text.push_str("\\'"),
            '$' => text.push_str("\\x24"),
            '\0' => text.push(' '),
            c => text.push(c),
        }
    }
    let sql = format!(
        "DO $holdpoint$BEGIN RAISE EXCEPTION USING ERRCODE = '{}', MESSAGE = E'{text}'; END$holdpoint$",
        denial.sqlstate()
    );
    let mut body = Vec::new();
    push_cstr(&mut body, &sql);
    message(b'Q', &body)
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
