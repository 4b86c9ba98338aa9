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

pub use wire::Agent;
use wire::Outcome;

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
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| answer_stdin(agent, fault)))
            .unwrap_or_else(|_| internal("it failed unexpectedly (a panic)"));
        // The receiver is gone only after the deadline, when a deny was already printed.
        let _ = tx.send(outcome);
    });
    let outcome = match worker {
        Err(e) => internal(&format!("it could not start its worker thread: {e}")),
        Ok(_) => match rx.recv_timeout(deadline) {
            Ok(outcome) => outcome,
            Err(RecvTimeoutError::Timeout) => internal(&format!("it found no answer within {} s", deadline.as_secs())),
            Err(RecvTimeoutError::Disconnected) => internal("its worker thread ended without an answer"),
        },
    };
    let mut out = std::io::stdout().lock();
    // Nothing is left to do if stdout is gone: the agent has stopped listening.
    let _ = out.write_all(wire::render(agent, &outcome).as_bytes()).and_then(|()| out.flush());
    0
}

fn answer_stdin(agent: Agent, fault: Option<Fault>) -> Outcome {
    let mut payload = Vec::new();
    if let Err(e) = std::io::stdin().lock().take(MAX_INPUT + 1).read_to_end(&mut payload) {
        return decide::deny(&Denial::BadInput { reason: format!("the hook input cannot be read: {e}") });
    }
    if payload.len() as u64 > MAX_INPUT {
        let reason = format!("the hook input is larger than {} MiB", MAX_INPUT >> 20);
        return decide::deny(&Denial::BadInput { reason });
    }
    inject(fault);
    decide::answer(agent, &payload)
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
