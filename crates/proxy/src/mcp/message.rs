//! JSON-RPC messages between an agent and an MCP server, read without IO: what each line is,
//! and the refusals the gateway answers with.

use holdpoint_core::Denial;
use serde_json::{Value, json};

use crate::decide::refusal_json;

/// The longest line the gateway reads from either side (a tool result can be large).
pub const MAX_LINE: usize = 64 << 20;
/// JSON-RPC's parse error.
pub const PARSE_ERROR: i64 = -32700;
/// JSON-RPC's invalid request.
pub const INVALID_REQUEST: i64 = -32600;
/// JSON-RPC's internal error (the server's answer could not be passed on).
pub const SERVER_ERROR: i64 = -32603;

/// A message from the agent, as far as the gateway cares.
#[derive(Clone, Debug, PartialEq)]
pub enum FromAgent {
    /// `tools/call`: decided before it is forwarded.
    Call(Call),
    /// `tools/list`: its answer shows the server's tools.
    ListTools {
        /// The request's id.
        id: Value,
    },
    /// `notifications/initialized`: the server may now be asked for its tools.
    Initialized,
    /// Anything else: forwarded as it is.
    Other,
}

/// One `tools/call` request.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    /// The request's id.
    pub id: Value,
    /// `params.name`.
    pub tool: String,
    /// `params.arguments` (`null` when absent).
    pub arguments: Value,
    /// `params._meta.progressToken`, when the agent asked for progress.
    pub progress_token: Option<Value>,
}

/// A message from the server, as far as the gateway cares.
#[derive(Clone, Debug, PartialEq)]
pub enum FromServer {
    /// A response (result or error) to the request with this id.
    Response {
        /// The id it answers.
        id: Value,
    },
    /// `notifications/tools/list_changed`.
    ToolsChanged,
    /// Anything else (notifications, the server's own requests): forwarded as it is.
    Other,
}

/// Why a line is refused: the JSON-RPC error code and what was wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid {
    /// `-32700` (not JSON) or `-32600` (not a request the gateway can pass on).
    pub code: i64,
    /// In plain words.
    pub reason: String,
}

/// The messages of one line: a JSON object, or a batch (array) of them.
pub fn parse_line(line: &[u8]) -> Result<Vec<Value>, Invalid> {
    if line.len() > MAX_LINE {
        return Err(Invalid { code: INVALID_REQUEST, reason: format!("a message longer than {MAX_LINE} bytes") });
    }
    let value: Value = serde_json::from_slice(line)
        .map_err(|e| Invalid { code: PARSE_ERROR, reason: format!("the line is not JSON: {e}") })?;
    match value {
        Value::Object(_) => Ok(vec![value]),
        Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_object) => Ok(items),
        _ => Err(Invalid {
            code: INVALID_REQUEST,
            reason: "a JSON-RPC message is an object (or a batch of them)".into(),
        }),
    }
}

/// What a message from the agent is; a `tools/call` the gateway cannot read is refused, never
/// passed on undecided.
pub fn from_agent(msg: &Value) -> Result<FromAgent, Invalid> {
    let method = msg.get("method").and_then(Value::as_str);
    let id = msg.get("id").filter(|id| !id.is_null());
    match (method, id) {
        (Some("tools/call"), Some(id)) => {
            let params = msg.get("params");
            let tool = params.and_then(|p| p.get("name")).and_then(Value::as_str).ok_or_else(|| Invalid {
                code: INVALID_REQUEST,
                reason: "tools/call without a tool name (params.name)".into(),
            })?;
            let arguments = params.and_then(|p| p.get("arguments")).cloned().unwrap_or(Value::Null);
            if !arguments.is_object() && !arguments.is_null() {
                return Err(Invalid { code: INVALID_REQUEST, reason: "tools/call arguments must be an object".into() });
            }
            let progress_token = params
                .and_then(|p| p.get("_meta"))
                .and_then(|m| m.get("progressToken"))
                .filter(|t| !t.is_null())
                .cloned();
            Ok(FromAgent::Call(Call { id: id.clone(), tool: tool.to_owned(), arguments, progress_token }))
        }
        (Some("tools/call"), None) => {
            Err(Invalid { code: INVALID_REQUEST, reason: "tools/call sent as a notification (no id)".into() })
        }
        (Some("tools/list"), Some(id)) => Ok(FromAgent::ListTools { id: id.clone() }),
        (Some("notifications/initialized"), None) => Ok(FromAgent::Initialized),
        (Some(_), _) => Ok(FromAgent::Other),
        // A response to one of the server's requests (sampling, roots, elicitation).
        (None, Some(_)) if msg.get("result").is_some() || msg.get("error").is_some() => Ok(FromAgent::Other),
        (None, _) => Err(Invalid { code: INVALID_REQUEST, reason: "a message with neither method nor result".into() }),
    }
}

/// What a message from the server is.
pub fn from_server(msg: &Value) -> FromServer {
    match (msg.get("method").and_then(Value::as_str), msg.get("id")) {
        (Some("notifications/tools/list_changed"), _) => FromServer::ToolsChanged,
        (None, Some(id)) if msg.get("result").is_some() || msg.get("error").is_some() => {
            FromServer::Response { id: id.clone() }
        }
        _ => FromServer::Other,
    }
}

/// The tools of a `tools/list` result and its `nextCursor`.
pub fn tools_of(result: &Value) -> (Vec<Value>, Option<String>) {
    let tools = result.get("tools").and_then(Value::as_array).cloned().unwrap_or_default();
    let tools = tools.into_iter().filter(|t| t.get("name").is_some_and(Value::is_string)).collect();
    let next = result.get("nextCursor").and_then(Value::as_str).map(str::to_owned);
    (tools, next)
}

/// The key a request id is remembered by (ids are numbers or strings; compared as JSON).
pub fn id_key(id: &Value) -> String {
    id.to_string()
}

/// The JSON-RPC error the agent gets for a refused call: code `-32001` (held) or `-32002`
/// (denied), the denial's one sentence as `message`, and in `data` the same refusal body the
/// HTTP proxy answers with (`verdict`, `reason`, `hold_id`, `how_to_approve`).
pub fn refusal(id: &Value, denial: &Denial) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": { "code": denial.jsonrpc_code(), "message": denial.to_string(), "data": refusal_json(denial) },
    })
}

/// The JSON-RPC error for a line that cannot be passed on.
pub fn invalid(id: Option<&Value>, invalid: &Invalid) -> Value {
    let denial = Denial::BadInput { reason: invalid.reason.clone() };
    json!({
        "jsonrpc": "2.0",
        "id": id.cloned().unwrap_or(Value::Null),
        "error": { "code": invalid.code, "message": denial.to_string() },
    })
}

/// A progress notification that keeps a waiting call alive.
pub fn progress(token: &Value, step: u64, message: &str) -> Value {
    json!({
        "jsonrpc": "2.0",
        "method": "notifications/progress",
        "params": { "progressToken": token, "progress": step, "message": message },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_read_and_malformed_calls_refused() {
        let call = json!({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"t","arguments":{"a":1},"_meta":{"progressToken":"p"}}});
        let FromAgent::Call(c) = from_agent(&call).unwrap() else { panic!() };
        assert_eq!((c.tool.as_str(), c.progress_token), ("t", Some(json!("p"))));
        let no_name = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}});
        assert_eq!(from_agent(&no_name).unwrap_err().code, INVALID_REQUEST);
        let bad_args = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":[1]}});
        assert!(from_agent(&bad_args).is_err());
        let notification = json!({"jsonrpc":"2.0","method":"tools/call","params":{"name":"t"}});
        assert!(from_agent(&notification).is_err());
        assert_eq!(parse_line(b"{not json").unwrap_err().code, PARSE_ERROR);
        assert_eq!(parse_line(b"[]").unwrap_err().code, INVALID_REQUEST);
        assert_eq!(parse_line(br#"[{"a":1},{"b":2}]"#).unwrap().len(), 2);
    }

    #[test]
    fn refusals_carry_the_hold_sentence() {
        let denial = Denial::Held { hold_id: Some(4), reason: "it cannot be undone".into() };
        let r = refusal(&json!(1), &denial);
        assert_eq!(r["error"]["code"], -32001);
        assert_eq!(r["error"]["message"], denial.to_string());
        assert_eq!(r["error"]["data"]["hold_id"], 4);
    }
}
