//! Untrusted JSON-RPC lines through the MCP gateway's message handling, from either side: a
//! line parses into messages or is refused; a `tools/call` is read with exactly its
//! `params.name` or refused, and is classified into at least one effect; what the server sends
//! is redacted without leaving a vault secret in it; tool lists go through the integrity book.
#![no_main]

use holdpoint_classify::mcp::McpCall;
use holdpoint_classify::{Context, NoFacts};
use holdpoint_proxy::mcp::message::{self, FromAgent};
use holdpoint_proxy::mcp::{Redactor, ToolBook, ToolStatus};
use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;
use serde_json::Value;

const SECRET: &str = "fuzz-vault-secret-0123";

fuzz_target!(|data: &[u8]| {
    let Ok(messages) = message::parse_line(data) else { return };
    let ctx = Context {
        cwd: "/w".into(),
        workspace: "/w".into(),
        home: "/home/u".into(),
        temp_dirs: vec!["/tmp".into()],
        guarded: vec!["/home/u/.config/holdpoint".into()],
        protected_branches: vec!["main".into()],
    };
    let redactor = Redactor::new([SecretString::from(SECRET)]);
    let mut book = ToolBook::in_memory();
    for msg in messages {
        match message::from_agent(&msg) {
            Ok(FromAgent::Call(call)) => {
                assert_eq!(msg["params"]["name"].as_str(), Some(call.tool.as_str()));
                let status = book.status(&call.tool);
                let annotations = match &status {
                    ToolStatus::Accepted(t) | ToolStatus::Changed(t) => t.get("annotations").cloned(),
                    ToolStatus::Unlisted => None,
                }
                .unwrap_or(Value::Null);
                let mcp = McpCall {
                    server: "fuzz",
                    tool: &call.tool,
                    arguments: &call.arguments,
                    annotations: &annotations,
                    tags: &[],
                };
                assert!(!holdpoint_classify::classify_mcp(&mcp, &ctx, &NoFacts).is_empty());
                let _ =
                    message::refusal(&call.id, &holdpoint_core::Denial::Held { hold_id: Some(1), reason: "r".into() });
            }
            Ok(_) => {}
            Err(invalid) => {
                let _ = message::invalid(msg.get("id"), &invalid);
            }
        }
        let _ = message::from_server(&msg);
        if let Some(result) = msg.get("result") {
            let (tools, _) = message::tools_of(result);
            let _ = book.observe(&tools);
            for tool in &tools {
                let name = tool["name"].as_str().unwrap_or_default();
                assert!(matches!(book.status(name), ToolStatus::Accepted(_) | ToolStatus::Changed(_)));
            }
        }
        let mut redacted = msg.clone();
        redactor.redact_value(&mut redacted);
        assert!(!redacted.to_string().contains(SECRET), "a vault secret survived redaction");
    }
});
