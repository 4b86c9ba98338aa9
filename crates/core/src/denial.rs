//! The one exhaustive list of refusals, and its mapping to every wire.
//!
//! Each wire (hook JSON, HTTP status, SQLSTATE, JSON-RPC error, audit record) maps a
//! `Denial` through the methods here, so adding a variant fails to compile until every
//! wire has an answer for it, and no wire invents its own wording.

use serde::{Deserialize, Serialize};

/// Why Holdpoint refused an action.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Denial {
    /// A policy denies this action.
    #[error("Holdpoint denied this action: {reason} (policy {policy}).")]
    Policy {
        /// The `@id` of the deciding policy.
        policy: String,
        /// The policy's reason, in plain words.
        reason: String,
    },
    /// The action waits for a human's approval.
    #[error("{}", held_sentence(*.hold_id, reason))]
    Held {
        /// The hold's id once it is queued; `None` where no queue is reachable.
        hold_id: Option<u64>,
        /// Why it is held, in plain words.
        reason: String,
    },
    /// The action's hold was closed without a release: denied, expired or cancelled.
    #[error(
        "Holdpoint refused this action: hold {hold_id} was {outcome}. Do not retry it unchanged; ask a human if it is still needed."
    )]
    HoldClosed {
        /// The hold's id.
        hold_id: u64,
        /// `denied`, `expired` or `cancelled`.
        outcome: String,
    },
    /// The input could not be read, so nothing could be decided.
    #[error("Holdpoint denied this action because it could not read it: {reason}.")]
    BadInput {
        /// What was wrong with the input.
        reason: String,
    },
    /// A configuration, policy or project file is broken; every action waits until it is fixed.
    #[error("Holdpoint denied this action because its configuration is broken: {reason}")]
    Config {
        /// What is broken, with file:line:col and what to do.
        reason: String,
    },
    /// A vault placeholder was sent somewhere its secret is not bound to (another host,
    /// method or path): the secret is not injected, and the attempt is audited.
    #[error(
        "Holdpoint denied this request: it uses the placeholder of vault secret {secret:?} outside the scope the \
         secret is bound to ({reason}). A placeholder only works for the hosts, methods and paths of its secret; \
         `holdpoint vault list` shows them."
    )]
    SecretOutOfScope {
        /// The vault secret's name (never its value).
        secret: String,
        /// Which part of the request is outside the binding, in plain words.
        reason: String,
    },
    /// Holdpoint itself failed (an error, a panic, a deadline); it fails closed.
    #[error("Holdpoint denied this action because it could not decide: {reason}.")]
    Internal {
        /// What went wrong.
        reason: String,
    },
}

/// The one sentence every wire gives an agent for a hold.
fn held_sentence(hold_id: Option<u64>, reason: &str) -> String {
    match hold_id {
        Some(id) => format!(
            "Holdpoint held this action as hold {id}: {reason}. Ask a human to approve it with \
             \"holdpoint approve {id}\", then retry the same action unchanged."
        ),
        None => format!(
            "Holdpoint held this action: {reason}. It needs a human's approval, and no approval \
             queue is set up here; ask a human to run it."
        ),
    }
}

impl Denial {
    /// Whether this is a hold (the action may pass after approval) rather than a refusal.
    pub fn is_hold(&self) -> bool {
        match self {
            Denial::Held { .. } => true,
            Denial::Policy { .. }
            | Denial::HoldClosed { .. }
            | Denial::BadInput { .. }
            | Denial::Config { .. }
            | Denial::SecretOutOfScope { .. }
            | Denial::Internal { .. } => false,
        }
    }

    /// The HTTP status of this refusal on the egress proxy and API.
    pub fn http_status(&self) -> u16 {
        if self.is_hold() { 409 } else { 403 }
    }

    /// The SQLSTATE of this refusal on the PostgreSQL proxy.
    pub fn sqlstate(&self) -> &'static str {
        if self.is_hold() { "HP001" } else { "HP002" }
    }

    /// The JSON-RPC error code of this refusal on the MCP gateway.
    pub fn jsonrpc_code(&self) -> i64 {
        if self.is_hold() { -32001 } else { -32002 }
    }
}
