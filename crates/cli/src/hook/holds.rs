//! A held hook call waits in the store: no daemon is needed in hook mode. The hook writes the
//! hold, waits up to `hold_wait` for a decision, and lets the same action through once after
//! a release.

use std::time::Duration;

use holdpoint_core::{Action, Denial, Verdict};
use holdpoint_policy::Decision;
use holdpoint_store::{self as store, NewHold, unix_now};

use crate::home::Home;
use crate::state::State;

/// The longest a hook waits for a decision, whatever `hold_wait` says: below the shortest
/// default hook timeout of the agents (Gemini CLI's 60 s) with room to answer.
pub const MAX_WAIT: Duration = Duration::from_secs(45);

/// What became of a held operation.
pub enum Settled {
    /// Released by approvers: this exact action may run, once.
    Released,
    /// Still waiting, as this hold.
    Waiting(String),
    /// Refused (denied, expired, cancelled), or the store could not be used.
    Refused(String),
}

/// Settle a held decision through the store.
pub fn settle(home: &Home, config: &holdpoint_policy::config::Config, action: &Action, decision: &Decision) -> Settled {
    let Verdict::Hold { obligations } = decision.verdict else { return Settled::Released };
    let reason = decision.reasons.join("; ");
    let state = match State::open(home, config) {
        Ok(state) => state,
        Err(e) => {
            let reason = format!("{reason}; and the approval queue cannot be used: {e:#}");
            return Settled::Refused(Denial::Held { hold_id: None, reason }.to_string());
        }
    };
    let new = NewHold {
        digest: action.digest(),
        channel: action.channel,
        summary: summary(&action.input),
        reason: reason.clone(),
        action_json: serde_json::to_string(action).unwrap_or_default(),
        obligations,
    };
    let announce = config.notify.is_some() || desktop();
    let wait = config.hold_wait.min(MAX_WAIT);
    let result = state.run(state.store.settle_held(new, wait, unix_now, |hold| {
        if announce {
            crate::notify::spawn(hold.id);
        }
    }));
    let result = result.map(|settled| match settled {
        store::Settled::Released(_) => Settled::Released,
        store::Settled::Closed(id, outcome) => {
            Settled::Refused(Denial::HoldClosed { hold_id: id.get(), outcome: outcome.as_str().to_owned() }.to_string())
        }
        store::Settled::Waiting(id) => {
            Settled::Waiting(Denial::Held { hold_id: Some(id.get()), reason: reason.clone() }.to_string())
        }
    });
    result.unwrap_or_else(|e| {
        Settled::Refused(
            Denial::Held { hold_id: None, reason: format!("{reason}; and the approval queue failed: {e}") }.to_string(),
        )
    })
}

fn desktop() -> bool {
    std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some()
}

/// One line an approver reads first.
fn summary(input: &str) -> String {
    let line: String = input.chars().take(200).collect();
    if line.len() < input.len() { format!("{line}…") } else { line }
}
