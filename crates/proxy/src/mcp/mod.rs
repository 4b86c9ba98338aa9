//! The MCP gateway: JSON-RPC between an agent and an MCP server, one line per message (the
//! stdio transport of `holdpoint mcp wrap`). Every `tools/call` becomes an
//! [`Action`] on the `mcp` channel, classified with
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
//! Nothing unread is forwarded: a line from the agent that is not JSON-RPC, or a `tools/call`
//! without a readable name or arguments, is answered with an error; a line from the server that
//! is not JSON-RPC is dropped (it could not be redacted).

pub mod message;
mod redact;
mod tools;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use holdpoint_classify::Context;
use holdpoint_classify::mcp::McpCall;
use holdpoint_core::{Action, Actor, Channel, Denial, Effect, Reversibility, Scope, Target, TargetKind, Verb};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, oneshot};

use crate::Gate;
use message::{Call, FromAgent, FromServer, id_key};

pub use redact::{Redactor, VAULT_MARK};
pub use tools::{ToolBook, ToolStatus, digest as tool_digest};

/// How long the gateway waits for the server's answer to its own `tools/list`.
const LIST_WAIT: Duration = Duration::from_secs(30);
/// Pages of `tools/list` read at most.
const LIST_PAGES: usize = 100;
/// How often a call waiting for a decision gets a progress notification.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);
/// Ids of the gateway's own requests to the server start with this.
const OWN_ID: &str = "holdpoint-gateway-";

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

/// One agent's session with one server.
struct Session {
    server: McpServer,
    gate: Arc<Gate>,
    book: Mutex<ToolBook>,
    to_agent: Mutex<Option<mpsc::UnboundedSender<Value>>>,
    to_server: Mutex<Option<mpsc::UnboundedSender<Value>>>,
    initialized: AtomicBool,
    /// The tools may have changed since the gateway last listed them.
    stale: AtomicBool,
    refreshing: tokio::sync::Mutex<()>,
    next_id: AtomicU64,
    own: Mutex<HashMap<String, oneshot::Sender<Value>>>,
    agent_lists: Mutex<HashSet<String>>,
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
    let mut server = server;
    let book = Mutex::new(std::mem::replace(&mut server.book, ToolBook::in_memory()));
    let session = Arc::new(Session {
        server,
        gate,
        book,
        to_agent: Mutex::new(Some(to_agent)),
        to_server: Mutex::new(Some(to_server)),
        initialized: AtomicBool::new(false),
        stale: AtomicBool::new(true),
        refreshing: tokio::sync::Mutex::new(()),
        next_id: AtomicU64::new(1),
        own: Mutex::default(),
        agent_lists: Mutex::default(),
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
                if let Ok(mut lists) = self.agent_lists.lock() {
                    lists.insert(id_key(&id));
                }
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
                    self.server.name, invalid.reason
                ),
            }
        }
        Ok(())
    }

    fn on_server_message(&self, mut msg: Value) {
        match message::from_server(&msg) {
            FromServer::Response { id } => {
                let key = id_key(&id);
                let own = self.own.lock().ok().and_then(|mut own| own.remove(&key));
                if let Some(tx) = own {
                    let _ = tx.send(msg);
                    return;
                }
                let listed = self.agent_lists.lock().is_ok_and(|mut lists| lists.remove(&key));
                if listed && let Some(result) = msg.get("result") {
                    let (tools, _) = message::tools_of(result);
                    self.observe(&tools);
                }
            }
            FromServer::ToolsChanged => self.stale.store(true, Ordering::SeqCst),
            FromServer::Other => {}
        }
        self.server.redactor.redact_value(&mut msg);
        self.send_agent(msg);
    }

    fn observe(&self, tools: &[Value]) {
        let saved = self
            .book
            .lock()
            .map_err(|_| "the tool book is poisoned".to_owned())
            .and_then(|mut book| book.observe(tools).map_err(|e| e.to_string()));
        if let Err(e) = saved {
            eprintln!("holdpoint: MCP server {}: the accepted tool list could not be saved: {e}", self.server.name);
        }
    }

    /// Decides a `tools/call`, then forwards it or answers with the refusal.
    async fn call(self: Arc<Self>, call: Call, msg: Value) {
        let decided = self.decide(&call);
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
                            self.send_agent(message::progress(token, step, "waiting for a Holdpoint decision"));
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

    async fn decide(&self, call: &Call) -> Result<(), Denial> {
        if self.initialized.load(Ordering::SeqCst)
            && self.stale.load(Ordering::SeqCst)
            && let Err(e) = self.refresh().await
        {
            eprintln!("holdpoint: MCP server {}: cannot list its tools: {e}", self.server.name);
        }
        let status = self.book.lock().map(|book| book.status(&call.tool)).unwrap_or(ToolStatus::Unlisted);
        let action = self.action(call, &status);
        let summary = summary(&self.server.name, call);
        let outcome = self.gate.decide_action(&action, &summary).await;
        if outcome.is_ok() && matches!(status, ToolStatus::Changed(_)) {
            let accepted = self
                .book
                .lock()
                .map_err(|_| "the tool book is poisoned".to_owned())
                .and_then(|mut book| book.accept(&call.tool).map_err(|e| e.to_string()));
            if let Err(e) = accepted {
                eprintln!("holdpoint: MCP server {}: the approved tool could not be saved: {e}", self.server.name);
            }
        }
        outcome
    }

    /// The call as an action: the classifier's effects, and for a tool whose definition
    /// changed since it was accepted, an opaque effect that holds it.
    fn action(&self, call: &Call, status: &ToolStatus) -> Action {
        let arguments = if call.arguments.is_null() { json!({}) } else { call.arguments.clone() };
        let annotations = match status {
            ToolStatus::Accepted(tool) | ToolStatus::Changed(tool) => tool.get("annotations").cloned(),
            ToolStatus::Unlisted => None,
        }
        .unwrap_or(Value::Null);
        let mcp = McpCall {
            server: &self.server.name,
            tool: &call.tool,
            arguments: &arguments,
            annotations: &annotations,
            tags: &self.server.tags,
        };
        let mut effects = holdpoint_classify::classify_mcp(&mcp, &self.server.context, &holdpoint_classify::NoFacts);
        if matches!(status, ToolStatus::Changed(_)) {
            let mut changed = Effect::new(
                Verb::Opaque,
                Target::new(TargetKind::Mcp, format!("mcp://{}/{}", self.server.name, call.tool)),
                Reversibility::Irreversible,
                Scope::Remote,
            );
            changed.rule = Some("mcp-tool-changed".into());
            changed.why = Some(
                "the server changed this tool's description, schemas or annotations since they were accepted".into(),
            );
            effects.push(changed);
        }
        Action {
            channel: Channel::Mcp,
            actor: Actor { agent: None, session: None, workspace: self.server.context.workspace.clone() },
            target: self.server.name.clone(),
            input: call_input(&self.server.name, &call.tool, &arguments),
            effects,
        }
    }

    /// Asks the server for its tools (every page) and notes them.
    async fn refresh(&self) -> Result<(), String> {
        let _one = self.refreshing.lock().await;
        if !self.stale.swap(false, Ordering::SeqCst) {
            return Ok(());
        }
        let listed = self.list_all().await;
        match listed {
            Ok(tools) => {
                self.observe(&tools);
                Ok(())
            }
            Err(e) => {
                self.stale.store(true, Ordering::SeqCst);
                Err(e)
            }
        }
    }

    async fn list_all(&self) -> Result<Vec<Value>, String> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..LIST_PAGES {
            let id = json!(format!("{OWN_ID}{}", self.next_id.fetch_add(1, Ordering::SeqCst)));
            let (tx, rx) = oneshot::channel();
            if let Ok(mut own) = self.own.lock() {
                own.insert(id_key(&id), tx);
            }
            let params = cursor.as_ref().map_or_else(|| json!({}), |c| json!({ "cursor": c }));
            if !self.send_server(json!({"jsonrpc": "2.0", "id": id, "method": "tools/list", "params": params})) {
                return Err("the server's input is closed".into());
            }
            let answer = match tokio::time::timeout(LIST_WAIT, rx).await {
                Ok(Ok(answer)) => answer,
                Ok(Err(_)) => return Err("the server closed before answering tools/list".into()),
                Err(_) => {
                    if let Ok(mut own) = self.own.lock() {
                        own.remove(&id_key(&id));
                    }
                    return Err(format!("no answer to tools/list within {}s", LIST_WAIT.as_secs()));
                }
            };
            let Some(result) = answer.get("result") else {
                return Err(format!("tools/list failed: {}", answer.get("error").unwrap_or(&Value::Null)));
            };
            let (tools, next) = message::tools_of(result);
            all.extend(tools);
            match next {
                Some(next) => cursor = Some(next),
                None => return Ok(all),
            }
        }
        Err(format!("tools/list has more than {LIST_PAGES} pages"))
    }
}

/// The action's input for a call: `{"arguments","server","tool"}` as canonical JSON, the same
/// as `holdpoint check mcp` makes of that input, so both give one digest.
pub fn call_input(server: &str, tool: &str, arguments: &Value) -> String {
    holdpoint_core::canonical_json(&json!({ "server": server, "tool": tool, "arguments": arguments }))
}

/// One line an approver reads first.
fn summary(server: &str, call: &Call) -> String {
    let line = format!("MCP {server}/{} {}", call.tool, call.arguments);
    let short: String = line.chars().take(200).collect();
    if short.len() < line.len() { format!("{short}…") } else { short }
}
