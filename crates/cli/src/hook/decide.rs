//! Deciding a hook call: each operation becomes a `check::Request`, is classified and meets
//! the policy; the strictest verdict answers the call.

use holdpoint_core::{Denial, Verdict};
use holdpoint_policy::config::HoldPrompt;
use holdpoint_policy::{Decision, Mode};
use serde_json::json;

use super::holds::Settled;
use super::wire::{Agent, Call, Op, Outcome, Work};
use crate::check::{self, Request};
use crate::engines::Engines;
use crate::home::Home;

/// The answer to one hook payload. Every failure is a deny that says what went wrong.
pub fn answer(agent: Agent, payload: &[u8]) -> Outcome {
    let call = match super::wire::parse(agent, payload) {
        Ok(call) => call,
        Err(reason) => return deny(&Denial::BadInput { reason }),
    };
    let loaded = Home::locate().and_then(|home| {
        Engines::load_lazy(&home).map(|engines| (engines.with_cache(&home), home)).map(|(e, h)| (h, e))
    });
    let (home, mut engines) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => return deny(&Denial::Config { reason: format!("{e:#}") }),
    };
    match &call.work {
        Work::Pass => Outcome::Allow { note: None },
        Work::Decide(ops) => decide_ops(agent, &call, ops, &home, &mut engines),
    }
}

/// The combined verdict of a call's operations so far.
#[derive(Default)]
struct Tally {
    /// The first deny's sentence.
    denied: Option<String>,
    /// Reasons of held operations.
    held: Vec<String>,
    /// What observe mode would have enforced.
    observed: Vec<String>,
    /// The hold sentence, with its id, of the first operation left waiting in the queue.
    waiting: Option<String>,
}

fn decide_ops(agent: Agent, call: &Call, ops: &[Op], home: &Home, engines: &mut Engines) -> Outcome {
    let mut tally = Tally::default();
    let ask = engines.config().hold_prompt == HoldPrompt::Agent && call.interactive;
    for op in ops {
        let mut action = match check::action_of(engines, home, &request(agent, call, op)) {
            Ok(action) => action,
            Err(reason) => {
                tally.denied.get_or_insert(Denial::BadInput { reason }.to_string());
                continue;
            }
        };
        action.actor.session.clone_from(&call.session);
        let decision = engines.decide(&action);
        if let Err(e) = crate::spool::record(&home.state, &action, &decision) {
            // The decision stands; the operator learns the audit trail has a gap.
            eprintln!("holdpoint: could not record this decision in the audit spool: {e}");
        }
        let held = matches!(decision.verdict, Verdict::Hold { .. }) && decision.mode == Mode::Enforce;
        if held && !ask {
            match super::holds::settle(home, engines.config(), &action, &decision) {
                Settled::Released => checkpoint_before_release(home, &action),
                Settled::Waiting(sentence) => {
                    tally.waiting.get_or_insert(sentence);
                    tally.held.extend(decision.reasons.iter().cloned());
                }
                Settled::Refused(sentence) => {
                    tally.denied.get_or_insert(sentence);
                }
            }
            continue;
        }
        count(&mut tally, &decision);
    }
    outcome(tally, ask)
}

/// A released shell or file action is about to run: snapshot its workspace first, so what
/// the approvers let through can still be undone. A failed snapshot does not take back the
/// approval; it is reported on stderr (the agent's log).
fn checkpoint_before_release(home: &Home, action: &holdpoint_core::Action) {
    if !matches!(action.channel, holdpoint_core::Channel::Shell | holdpoint_core::Channel::File) {
        return;
    }
    let reason = format!("before a released {} action ran", action.channel);
    let taken = crate::checkpoint_cmd::store(home).and_then(|store| {
        Ok(store.snapshot(std::path::Path::new(&action.actor.workspace), &reason, holdpoint_store::unix_now())?)
    });
    if let Err(e) = taken {
        eprintln!("holdpoint: the released action runs without a checkpoint of its workspace: {e:#}");
    }
}

fn request(agent: Agent, call: &Call, op: &Op) -> Request {
    let (channel, input, cwd) = match op {
        Op::Shell { command, cwd } => ("shell", json!(command), cwd),
        Op::File { op, path } => ("file", json!({ "op": op, "path": path }), &call.cwd),
        Op::Mcp { server, tool, arguments } => {
            ("mcp", json!({ "server": server, "tool": tool, "arguments": arguments }), &call.cwd)
        }
    };
    Request {
        id: None,
        channel: channel.into(),
        input: Some(input),
        cwd: Some(cwd.clone()),
        target: None,
        agent: Some(agent.name().into()),
        effects: None,
    }
}

fn count(tally: &mut Tally, decision: &Decision) {
    let sentence = match &decision.verdict {
        Verdict::Allow => return,
        Verdict::Hold { .. } => held(&decision.reasons),
        Verdict::Deny { denial } => denial.to_string(),
    };
    if decision.mode == Mode::Observe {
        tally.observed.push(format!("Holdpoint observe mode, not enforced: {sentence}"));
        return;
    }
    match &decision.verdict {
        Verdict::Deny { .. } => {
            tally.denied.get_or_insert(sentence);
        }
        Verdict::Hold { .. } | Verdict::Allow => {
            for reason in &decision.reasons {
                if !tally.held.contains(reason) {
                    tally.held.push(reason.clone());
                }
            }
        }
    }
}

/// Deny beats hold beats allow. A hold is the agent's own ask only when the config asks for
/// that and a human is at the agent's prompt; otherwise it is a deny with the hold sentence.
fn outcome(tally: Tally, ask: bool) -> Outcome {
    if let Some(reason) = tally.denied {
        return Outcome::Deny { reason };
    }
    if let Some(sentence) = tally.waiting {
        return Outcome::Deny { reason: sentence };
    }
    if !tally.held.is_empty() {
        return if ask {
            Outcome::Ask { reason: format!("Holdpoint: {}.", tally.held.join("; ")) }
        } else {
            Outcome::Deny { reason: held(&tally.held) }
        };
    }
    let note = (!tally.observed.is_empty()).then(|| tally.observed.join(" "));
    Outcome::Allow { note }
}

fn held(reasons: &[String]) -> String {
    Denial::Held { hold_id: None, reason: reasons.join("; ") }.to_string()
}

/// A refusal, in the one wording every wire uses.
pub fn deny(denial: &Denial) -> Outcome {
    Outcome::Deny { reason: denial.to_string() }
}
