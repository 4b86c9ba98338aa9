//! The MCP gateway: JSON-RPC between an agent and an MCP server, over stdio (one line per
//! message, `holdpoint mcp wrap`, [`serve_mcp`]) or streamable HTTP (the `[[mcp]]` blocks of
//! `holdpoint serve`, [`serve_mcp_http`]). Every `tools/call` becomes an
//! [`Action`](holdpoint_core::Action) on the `mcp` channel, classified with
//! `holdpoint_classify::classify_mcp` and decided through the [`Gate`]: allowed calls are
//! forwarded, refused ones answered with JSON-RPC error `-32001` (held) or `-32002` (denied)
//! carrying the hold sentence. Everything else passes through, but:
//!
//! - the server's tool list is checked against the definitions accepted before
//!   ([`ToolBook`]): a call to a tool whose description, schemas or annotations changed is held
//!   until approved, and the approved definition is accepted;
//! - the gateway asks the server for its tools itself (after `notifications/initialized`, and
//!   again after `notifications/tools/list_changed`), so annotations come from the server, not
//!   from the agent, and a change is seen before the next call is decided;
//! - whatever the server sends the agent is redacted ([`Redactor`]): vault secrets and lines
//!   with known key formats never reach the agent;
//! - a call waiting for approval gets progress notifications when the agent asked for them.
//!
//! Nothing unread is forwarded: a message from the agent that is not JSON-RPC, or a `tools/call`
//! without a readable name or arguments, is answered with an error; a message from the server
//! that is not JSON-RPC is dropped (it could not be redacted).

mod gateway;
mod http;
pub mod message;
mod redact;
pub mod sse;
mod tools;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use holdpoint_classify::Context;
use holdpoint_core::Denial;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, oneshot};

use crate::Gate;
use gateway::{Answer, Ask, Gateway};
use message::{Call, FromAgent, FromServer, id_key};

pub use http::{McpHttp, serve_mcp_http};

pub use redact::{Redactor, VAULT_MARK};
pub use tools::{ToolBook, ToolStatus, digest as tool_digest};

/// How long the gateway waits for the server's answer to its own `tools/list`.
const LIST_WAIT: Duration = Duration::from_secs(30);
/// How often a call waiting for a decision gets a progress notification.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);
/// Ids of the gateway's own requests to the server start with this.
const OWN_ID: &str = "holdpoint-gateway-";
/// What a progress notification for a waiting call says.
const WAITING: &str = "waiting for a Holdpoint decision";

/// One MCP server behind the gateway.
#[derive(Debug)]
pub struct McpServer {
    /// Its name in rules, actions and audit (`holdpoint mcp wrap NAME`).
    pub name: String,
    /// Where its calls happen (paths in arguments are resolved against it).
    pub context: Context,
    /// Tags every effect carries (such as `production`).
    pub tags: Vec<String>,
    /// What is redacted from what it sends the agent.
    pub redactor: Redactor,
    /// The tool definitions accepted for it.
    pub book: ToolBook,
}

/// One agent's session with one server over stdio.
struct Session {
    gw: Gateway,
    to_agent: Mutex<Option<mpsc::UnboundedSender<Value>>>,
    to_server: Mutex<Option<mpsc::UnboundedSender<Value>>>,
    initialized: AtomicBool,
    /// The gateway's own requests waiting for the server's answer.
    own: Mutex<HashMap<String, oneshot::Sender<Value>>>,
}

/// Runs the gateway between an agent (`agent_in`, `agent_out`) and a server (`server_in` is
/// what the server reads, `server_out` what it writes) until the server closes its output.
/// When the agent closes its input, the server's input is closed too.
pub async fn serve_mcp<AR, AW, SR, SW>(
    server: McpServer,
    gate: Arc<Gate>,
    agent_in: AR,
    agent_out: AW,
    server_out: SR,
    server_in: SW,
) -> std::io::Result<()>
where
    AR: AsyncRead + Unpin + Send + 'static,
    AW: AsyncWrite + Unpin + Send + 'static,
    SR: AsyncRead + Unpin + Send + 'static,
    SW: AsyncWrite + Unpin + Send + 'static,
{
    let (to_agent, agent_rx) = mpsc::unbounded_channel();
    let (to_server, server_rx) = mpsc::unbounded_channel();
    let session = Arc::new(Session {
        gw: Gateway::new(server, gate),
        to_agent: Mutex::new(Some(to_agent)),
        to_server: Mutex::new(Some(to_server)),
        initialized: AtomicBool::new(false),
        own: Mutex::default(),
    });
    let agent_writer = tokio::spawn(write_lines(agent_out, agent_rx));
    let server_writer = tokio::spawn(write_lines(server_in, server_rx));
    let agent_reader = tokio::spawn(Arc::clone(&session).read_agent(agent_in));
    let read = Arc::clone(&session).read_server(server_out).await;
    agent_reader.abort();
    session.close_server();
    if let Ok(mut to_agent) = session.to_agent.lock() {
        to_agent.take();
    }
    let _ = server_writer.await;
    let written = agent_writer.await.unwrap_or(Ok(()));
    read.and(written)
}

/// Writes each message as one line, flushed, until the channel closes.
async fn write_lines<W: AsyncWrite + Unpin>(mut out: W, mut rx: mpsc::UnboundedReceiver<Value>) -> std::io::Result<()> {
    while let Some(msg) = rx.recv().await {
        let mut line = serde_json::to_vec(&msg).map_err(std::io::Error::other)?;
        line.push(b'\n');
        out.write_all(&line).await?;
        out.flush().await?;
    }
    out.shutdown().await
}

/// The next line (without its newline), `None` at the end of input.
async fn next_line<R: AsyncRead + Unpin>(reader: &mut BufReader<R>, buf: &mut Vec<u8>) -> std::io::Result<Option<()>> {
    buf.clear();
    let n = reader.read_until(b'\n', buf).await?;
    if n == 0 {
        return Ok(None);
    }
    while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        buf.pop();
    }
    Ok(Some(()))
}

impl Session {
    fn send_agent(&self, msg: Value) {
        if let Ok(guard) = self.to_agent.lock()
            && let Some(tx) = guard.as_ref()
        {
            let _ = tx.send(msg);
        }
    }

    fn send_server(&self, msg: Value) -> bool {
        match self.to_server.lock() {
            Ok(guard) => guard.as_ref().is_some_and(|tx| tx.send(msg).is_ok()),
            Err(_) => false,
        }
    }

    fn close_server(&self) {
        if let Ok(mut guard) = self.to_server.lock() {
            guard.take();
        }
    }

    async fn read_agent<R: AsyncRead + Unpin>(self: Arc<Self>, input: R) {
        let mut reader = BufReader::with_capacity(64 << 10, input);
        let mut buf = Vec::new();
        while let Ok(Some(())) = next_line(&mut reader, &mut buf).await {
            if buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let messages = match message::parse_line(&buf) {
                Ok(messages) => messages,
                Err(invalid) => {
                    self.send_agent(message::invalid(None, &invalid));
                    continue;
                }
            };
            for msg in messages {
                self.on_agent_message(msg);
            }
        }
        // The agent is gone: the server's input closes, and a stdio server exits.
        self.close_server();
    }

    fn on_agent_message(self: &Arc<Self>, msg: Value) {
        match message::from_agent(&msg) {
            Err(invalid) => self.send_agent(message::invalid(msg.get("id"), &invalid)),
            Ok(FromAgent::Call(call)) => {
                let session = Arc::clone(self);
                tokio::spawn(async move { session.call(call, msg).await });
            }
            Ok(FromAgent::ListTools { id }) => {
                self.gw.agent_lists(&id);
                self.send_server(msg);
            }
            Ok(FromAgent::Initialized) => {
                self.send_server(msg);
                self.initialized.store(true, Ordering::SeqCst);
            }
            Ok(FromAgent::Other) => {
                self.send_server(msg);
            }
        }
    }

    async fn read_server<R: AsyncRead + Unpin>(self: Arc<Self>, output: R) -> std::io::Result<()> {
        let mut reader = BufReader::with_capacity(64 << 10, output);
        let mut buf = Vec::new();
        while next_line(&mut reader, &mut buf).await?.is_some() {
            if buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match message::parse_line(&buf) {
                Ok(messages) => {
                    for msg in messages {
                        self.on_server_message(msg);
                    }
                }
                Err(invalid) => eprintln!(
                    "holdpoint: dropped a line from MCP server {} that is not JSON-RPC: {}",
                    self.gw.server.name, invalid.reason
                ),
            }
        }
        Ok(())
    }

    fn on_server_message(&self, mut msg: Value) {
        if let FromServer::Response { id } = message::from_server(&msg) {
            let own = self.own.lock().ok().and_then(|mut own| own.remove(&id_key(&id)));
            if let Some(tx) = own {
                let _ = tx.send(msg);
                return;
            }
        }
        self.gw.note_server_message(&mut msg);
        self.send_agent(msg);
    }

    /// Decides a `tools/call`, then forwards it or answers with the refusal.
    async fn call(self: Arc<Self>, call: Call, msg: Value) {
        let ask = self.initialized.load(Ordering::SeqCst).then_some(&*self as &dyn Ask);
        let decided = self.gw.decide(&call, ask);
        let outcome = match &call.progress_token {
            None => decided.await,
            Some(token) => {
                tokio::pin!(decided);
                let mut step = 0;
                loop {
                    tokio::select! {
                        outcome = &mut decided => break outcome,
                        () = tokio::time::sleep(PROGRESS_EVERY) => {
                            step += 1;
                            self.send_agent(message::progress(token, step, WAITING));
                        }
                    }
                }
            }
        };
        match outcome {
            Ok(()) => {
                if !self.send_server(msg) {
                    let denial = Denial::BadInput { reason: "the MCP server's input is closed".into() };
                    self.send_agent(message::refusal(&call.id, &denial));
                }
            }
            Err(denial) => self.send_agent(message::refusal(&call.id, &denial)),
        }
    }

    /// Sends one of the gateway's own requests to the server and waits for its answer.
    async fn own_request(&self, request: Value) -> Result<Value, String> {
        let key = id_key(request.get("id").unwrap_or(&Value::Null));
        let (tx, rx) = oneshot::channel();
        if let Ok(mut own) = self.own.lock() {
            own.insert(key.clone(), tx);
        }
        if !self.send_server(request) {
            return Err("the server's input is closed".into());
        }
        match tokio::time::timeout(LIST_WAIT, rx).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(_)) => Err("the server closed before answering".into()),
            Err(_) => {
                if let Ok(mut own) = self.own.lock() {
                    own.remove(&key);
                }
                Err(format!("no answer within {}s", LIST_WAIT.as_secs()))
            }
        }
    }
}

/// The action's input for a call: `{"arguments","server","tool"}` as canonical JSON, the same
/// as `holdpoint check mcp` makes of that input, so both give one digest.
pub fn call_input(server: &str, tool: &str, arguments: &Value) -> String {
    holdpoint_core::canonical_json(&json!({ "server": server, "tool": tool, "arguments": arguments }))
}

impl Ask for Session {
    fn ask(&self, request: Value) -> Answer<'_> {
        Box::pin(self.own_request(request))
    }
}
