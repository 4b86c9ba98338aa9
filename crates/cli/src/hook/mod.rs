//! `holdpoint hook <agent>`: answer an agent's pre-tool hook, and `hook install|uninstall`.
//!
//! Every agent lets a tool call through when its hook crashes, times out or prints what it
//! cannot parse, so the answer path fails closed by itself: it always exits 0 and prints the
//! agent's deny JSON when anything goes wrong. The decision runs in a worker thread under
//! `catch_unwind`; the main thread waits at most [`DEADLINE`] and is the only writer to stdout.

mod decide;
mod holds;
mod install;
mod wire;

use std::io::{Read, Write};
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::Duration;

use anyhow::Result;
use clap::{Args, Subcommand};
use holdpoint_core::Denial;

pub(crate) use install::{read_settings, write_settings, write_text};
pub use install::{sandboxed_settings, settings_file};
use wire::Outcome;
pub use wire::{Agent, shell_quote};

/// Hook payloads larger than this are refused unread.
const MAX_INPUT: u64 = 8 << 20;

/// How long a hook call may take: a held call waits up to `hold_wait` (at most
/// [`holds::MAX_WAIT`]) for a decision. Below every agent's hook timeout (Claude Code and
/// Codex 600 s, Gemini CLI 60 s by default), so Holdpoint's deny arrives before the agent
/// gives up on the hook and runs the tool.
const DEADLINE: Duration = Duration::from_secs(holds::MAX_WAIT.as_secs() + 10);

/// `holdpoint hook ...`.
#[derive(Subcommand)]
pub enum HookCommand {
    /// Answer a Claude Code PreToolUse hook (stdin: its JSON; stdout: its decision JSON; exit 0).
    Claude,
    /// Answer a Codex CLI PreToolUse hook.
    Codex,
    /// Answer a Gemini CLI BeforeTool hook.
    Gemini,
    /// Answer a Cursor hook (beforeShellExecution, beforeReadFile, beforeMCPExecution, preToolUse).
    Cursor,
    /// Add Holdpoint's hook to an agent's settings, keeping everything else and a backup.
    #[command(
        after_help = "Examples:\n  holdpoint hook install claude\n  holdpoint hook install cursor --project ~/app"
    )]
    Install(InstallArgs),
    /// Remove Holdpoint's hook from an agent's settings, leaving everything else.
    #[command(
        after_help = "Examples:\n  holdpoint hook uninstall claude\n  holdpoint hook uninstall gemini --project ."
    )]
    Uninstall(InstallArgs),
}

/// Where to install, for which agent.
#[derive(Args)]
pub struct InstallArgs {
    /// The agent.
    #[arg(value_parser = ["claude", "codex", "gemini", "cursor"])]
    agent: String,
    /// The user's settings in the home directory (the default).
    #[arg(long, conflicts_with = "project")]
    user: bool,
    /// A project's settings under DIR (weaker: the agent can edit files in its workspace).
    #[arg(long, value_name = "DIR")]
    project: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Run a `hook` subcommand.
pub fn run(command: HookCommand) -> Result<u8> {
    match command {
        HookCommand::Claude => Ok(respond(Agent::Claude)),
        HookCommand::Codex => Ok(respond(Agent::Codex)),
        HookCommand::Gemini => Ok(respond(Agent::Gemini)),
        HookCommand::Cursor => Ok(respond(Agent::Cursor)),
        HookCommand::Install(args) => install::run(&args.agent, args.project.as_deref(), args.json, true),
        HookCommand::Uninstall(args) => install::run(&args.agent, args.project.as_deref(), args.json, false),
    }
}

/// Read the payload on stdin, decide it and print the agent's answer; always 0.
fn respond(agent: Agent) -> u8 {
    let fault = test_fault();
    let deadline = if fault == Some(Fault::Hang) { Duration::from_secs(1) } else { DEADLINE };
    let (tx, rx) = mpsc::channel();
    let worker = thread::Builder::new().name("hook".into()).spawn(move || {
        let answer = panic::catch_unwind(AssertUnwindSafe(|| answer_stdin(agent, fault)))
            .unwrap_or_else(|_| wire::render(agent, &internal("it failed unexpectedly (a panic)")));
        // The receiver is gone only after the deadline, when a deny was already printed.
        let _ = tx.send(answer);
    });
    let answer = match worker {
        Err(e) => wire::render(agent, &internal(&format!("it could not start its worker thread: {e}"))),
        Ok(_) => match rx.recv_timeout(deadline) {
            Ok(answer) => answer,
            Err(RecvTimeoutError::Timeout) => {
                wire::render(agent, &internal(&format!("it found no answer within {} s", deadline.as_secs())))
            }
            Err(RecvTimeoutError::Disconnected) => {
                wire::render(agent, &internal("its worker thread ended without an answer"))
            }
        },
    };
    let mut out = std::io::stdout().lock();
    // Nothing is left to do if stdout is gone: the agent has stopped listening.
    let _ = out.write_all(answer.as_bytes()).and_then(|()| out.flush());
    0
}

/// The agent's answer to the payload on stdin, rendered: decided here, or — inside
/// `holdpoint run`'s sandbox, which cannot see the store — by the gateway through its
/// agent-side socket.
fn answer_stdin(agent: Agent, fault: Option<Fault>) -> String {
    let mut payload = Vec::new();
    if let Err(e) = std::io::stdin().lock().take(MAX_INPUT + 1).read_to_end(&mut payload) {
        let reason = format!("the hook input cannot be read: {e}");
        return wire::render(agent, &decide::deny(&Denial::BadInput { reason }));
    }
    if payload.len() as u64 > MAX_INPUT {
        let reason = format!("the hook input is larger than {} MiB", MAX_INPUT >> 20);
        return wire::render(agent, &decide::deny(&Denial::BadInput { reason }));
    }
    inject(fault);
    match std::env::var(crate::agent_socket::ADDR_VAR).ok().filter(|a| !a.is_empty()) {
        Some(addr) => crate::agent_socket::ask(&addr, agent, &payload, DEADLINE)
            .unwrap_or_else(|reason| wire::render(agent, &internal(&reason))),
        None => wire::render(agent, &decide::answer(agent, &payload)),
    }
}

/// The rendered answer to one payload, decided in this process (the gateway's agent-side
/// socket calls this for hooks inside a sandbox); a panic is a deny.
pub fn answer_payload(agent: Agent, payload: &[u8]) -> String {
    panic::catch_unwind(AssertUnwindSafe(|| decide::answer(agent, payload)))
        .map(|outcome| wire::render(agent, &outcome))
        .unwrap_or_else(|_| wire::render(agent, &internal("it failed unexpectedly (a panic)")))
}

fn internal(reason: &str) -> Outcome {
    decide::deny(&Denial::Internal { reason: reason.to_owned() })
}

/// A failure a debug build can be told to have, so tests reach the panic and deadline paths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    Panic,
    Hang,
}

/// `HOLDPOINT_HOOK_TEST_FAULT=panic|hang`, read only in debug builds: a release build has no
/// way to be told to fail.
fn test_fault() -> Option<Fault> {
    if !cfg!(debug_assertions) {
        return None;
    }
    match std::env::var("HOLDPOINT_HOOK_TEST_FAULT").as_deref() {
        Ok("panic") => Some(Fault::Panic),
        Ok("hang") => Some(Fault::Hang),
        _ => None,
    }
}

#[allow(clippy::panic)] // the test fault exists to panic; only debug builds reach it
fn inject(fault: Option<Fault>) {
    match fault {
        Some(Fault::Panic) => panic!("HOLDPOINT_HOOK_TEST_FAULT=panic"),
        Some(Fault::Hang) => loop {
            thread::sleep(Duration::from_secs(3600));
        },
        None => {}
    }
}
