//! What both transports share: one server's accepted tools, the decision of each
//! `tools/call`, and what is done with each message the server sends the agent.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use holdpoint_classify::mcp::McpCall;
use holdpoint_core::{Action, Actor, Channel, Denial, Effect, Reversibility, Scope, Target, TargetKind, Verb};
use serde_json::{Value, json};

use super::message::{self, Call, FromServer, id_key};
use super::tools::{ToolBook, ToolStatus};
use super::{McpServer, OWN_ID};
use crate::Gate;

/// Pages of `tools/list` read at most.
const LIST_PAGES: usize = 100;

/// The answer to one of the gateway's own requests to the server.
pub(crate) type Answer<'a> = Pin<Box<dyn Future<Output = Result<Value, String>> + Send + 'a>>;

/// How the gateway sends one of its own requests to the server (in the agent's session) and
/// gets the answer.
pub(crate) trait Ask: Sync {
    fn ask(&self, request: Value) -> Answer<'_>;
}

/// One server behind the gateway, whatever carries its messages.
pub(crate) struct Gateway {
    pub server: McpServer,
    pub gate: Arc<Gate>,
    book: Mutex<ToolBook>,
    /// The tools may have changed since the gateway last listed them.
    stale: AtomicBool,
    refreshing: tokio::sync::Mutex<()>,
    next_id: AtomicU64,
    /// Ids of the agent's `tools/list` requests not answered yet: their answers show the tools.
    agent_lists: Mutex<HashSet<String>>,
}

impl Gateway {
    pub fn new(mut server: McpServer, gate: Arc<Gate>) -> Gateway {
        let book = Mutex::new(std::mem::replace(&mut server.book, ToolBook::in_memory()));
        Gateway {
            server,
            gate,
            book,
            stale: AtomicBool::new(true),
            refreshing: tokio::sync::Mutex::new(()),
            next_id: AtomicU64::new(1),
            agent_lists: Mutex::default(),
        }
    }

    /// A fresh id for one of the gateway's own requests.
    pub fn own_id(&self) -> Value {
        json!(format!("{OWN_ID}{}", self.next_id.fetch_add(1, Ordering::SeqCst)))
    }

    /// The agent asked for the tools with request `id`.
    pub fn agent_lists(&self, id: &Value) {
        if let Ok(mut lists) = self.agent_lists.lock() {
            lists.insert(id_key(id));
        }
    }

    /// Notes what a message from the server shows (its tools, a change of them) and redacts
    /// it for the agent.
    pub fn note_server_message(&self, msg: &mut Value) {
        match message::from_server(msg) {
            FromServer::Response { id } => {
                let listed = self.agent_lists.lock().is_ok_and(|mut lists| lists.remove(&id_key(&id)));
                if listed && let Some(result) = msg.get("result") {
                    let (tools, _) = message::tools_of(result);
                    self.observe(&tools);
                }
            }
            FromServer::ToolsChanged => self.stale.store(true, Ordering::SeqCst),
            FromServer::Other => {}
        }
        self.server.redactor.redact_value(msg);
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

    /// Decides a `tools/call`. When the tools may have changed, they are listed first with
    /// `ask`, which sends one of the gateway's own requests to the server and gives its answer
    /// (`None` when the server cannot be asked yet).
    pub async fn decide(&self, call: &Call, ask: Option<&dyn Ask>) -> Result<(), Denial> {
        if let Some(ask) = ask
            && self.stale.load(Ordering::SeqCst)
            && let Err(e) = self.refresh(ask).await
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
            input: super::call_input(&self.server.name, &call.tool, &arguments),
            effects,
        }
    }

    /// Asks the server for its tools (every page) and notes them.
    async fn refresh(&self, ask: &dyn Ask) -> Result<(), String> {
        let _one = self.refreshing.lock().await;
        if !self.stale.swap(false, Ordering::SeqCst) {
            return Ok(());
        }
        match self.list_all(ask).await {
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

    async fn list_all(&self, ask: &dyn Ask) -> Result<Vec<Value>, String> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..LIST_PAGES {
            let params = cursor.as_ref().map_or_else(|| json!({}), |c| json!({ "cursor": c }));
            let request = json!({"jsonrpc": "2.0", "id": self.own_id(), "method": "tools/list", "params": params});
            let answer = ask.ask(request).await?;
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

/// One line an approver reads first.
fn summary(server: &str, call: &Call) -> String {
    let line = format!("MCP {server}/{} {}", call.tool, call.arguments);
    let short: String = line.chars().take(200).collect();
    if short.len() < line.len() { format!("{short}…") } else { short }
}
