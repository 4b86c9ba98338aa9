//! Pid 1 of the sandbox: builds the new root in its own mount namespace, starts the command,
//! reaps every orphan, forwards the signals the supervisor sends, and exits with the
//! command's status (which ends every other process of the sandbox).

use std::net::{Ipv4Addr, TcpListener};
use std::os::fd::OwnedFd;

use nix::errno::Errno;
use nix::sched::{CloneFlags, unshare};
use nix::sys::signal::{SigSet, Signal, kill};
use nix::sys::signalfd::SignalFd;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid};

use crate::layout::{Layout, Request};
use crate::{confine, mounts, sys};

/// What went wrong before the command ran, sent to the supervisor over the report pipe: a
/// kind byte (`I` isolation missing, `S` setup failed, `C` + status byte: the command could
/// not start) and the message.
pub fn report(pipe: &OwnedFd, kind: u8, status: u8, message: &str) {
    let mut bytes = vec![kind, status];
    bytes.extend_from_slice(message.as_bytes());
    let _ = nix::unistd::write(pipe, &bytes);
}

/// The descriptors pid 1 talks to the supervisor through.
pub struct Pipes {
    /// Where failures are reported (close-on-exec: it closes when the command starts).
    pub report: OwnedFd,
    /// Where the bridge's listening socket is sent.
    pub channel: OwnedFd,
    /// Where the command's environment arrives, when the supervisor works it out while the
    /// sandbox is built.
    pub env: Option<OwnedFd>,
}

/// The request with the environment the supervisor sends.
fn with_sent_env(request: &Request, pipe: Option<OwnedFd>) -> Result<Request, String> {
    let mut request = request.clone();
    if let Some(pipe) = pipe {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::fs::File::from(pipe), &mut bytes)
            .map_err(|e| format!("read the environment: {e}"))?;
        request.env = crate::env::decode(&bytes).ok_or("the environment arrived garbled")?;
    }
    Ok(request)
}

/// Runs as the supervisor's child, in the new pid namespace (pid 1). Never returns.
pub fn run(request: &Request, layout: &Layout, pipes: Pipes, mask: SigSet, blocked: SigSet) -> ! {
    // Dies with the supervisor; and not dumpable, so nothing in the sandbox may read this
    // process's memory or /proc/1/environ (the host's environment, before filtering).
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    let _ = nix::sys::prctl::set_dumpable(false);
    let pipe = pipes.report;
    let flags =
        CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWNET | CloneFlags::CLONE_NEWIPC | CloneFlags::CLONE_NEWUTS;
    if let Err(e) = unshare(flags) {
        report(&pipe, b'I', 0, &format!("mount and network namespaces ({e})"));
        sys::exit_now(125);
    }
    if let Err(e) = sys::interface_up("lo") {
        report(&pipe, b'S', 0, &format!("bring the loopback interface up: {e}"));
        sys::exit_now(125);
    }
    for bridge in request.bridges() {
        let sent = TcpListener::bind((Ipv4Addr::LOCALHOST, bridge.port))
            .map_err(|e| format!("listen on 127.0.0.1:{} for the bridge: {e}", bridge.port))
            .and_then(|l| sys::send_fd(&pipes.channel, &l).map_err(|e| format!("hand over the bridge: {e}")));
        if let Err(e) = sent {
            report(&pipe, b'S', 0, &e);
            sys::exit_now(125);
        }
    }
    drop(pipes.channel);
    if let Err(e) = mounts::build(layout) {
        report(&pipe, b'S', 0, &e);
        sys::exit_now(125);
    }
    let env_pipe = pipes.env;
    let command = match sys::fork() {
        Ok(ForkResult::Child) => {
            let rules = confine::sandbox_rules(layout);
            let outcome = with_sent_env(request, env_pipe)
                .map_err(|e| (125, e))
                .and_then(|request| confine::exec(&request, &rules, &mask, true));
            let (status, message) = match outcome {
                Ok(never) => match never {},
                Err(failure) => failure,
            };
            report(&pipe, b'C', status, &message);
            sys::exit_now(i32::from(status));
        }
        Ok(ForkResult::Parent { child }) => {
            drop(env_pipe);
            child
        }
        Err(e) => {
            report(&pipe, b'S', 0, &format!("fork the command: {e}"));
            sys::exit_now(125);
        }
    };
    drop(pipe);
    sys::exit_now(reap(command, &blocked))
}

/// Waits for the command, reaping every other child on the way; forwards signals sent by the
/// supervisor (not those the terminal sent: the command got its own copy).
fn reap(command: Pid, blocked: &SigSet) -> i32 {
    let Ok(signals) = SignalFd::new(blocked) else { return wait_only(command) };
    loop {
        let info = match signals.read_signal() {
            Ok(Some(info)) => info,
            Ok(None) | Err(_) => continue,
        };
        let Ok(signal) = Signal::try_from(info.ssi_signo as i32) else { continue };
        if signal == Signal::SIGCHLD {
            loop {
                match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                    Ok(WaitStatus::Exited(pid, code)) if pid == command => return code,
                    Ok(WaitStatus::Signaled(pid, sig, _)) if pid == command => return 128 + sig as i32,
                    Ok(WaitStatus::StillAlive) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        } else if info.ssi_code <= 0 {
            let _ = kill(command, signal);
        }
    }
}

fn wait_only(command: Pid) -> i32 {
    loop {
        match waitpid(None, None) {
            Ok(WaitStatus::Exited(pid, code)) if pid == command => return code,
            Ok(WaitStatus::Signaled(pid, sig, _)) if pid == command => return 128 + sig as i32,
            Err(Errno::ECHILD) => return 125,
            _ => {}
        }
    }
}
