//! The supervisor: the `holdpoint run` process itself. It makes the user and pid namespaces,
//! maps its own uid and gid, starts pid 1 of the sandbox (which makes the mount, network, ipc
//! and uts namespaces and hands back the bridge's listening socket), relays the bridge,
//! forwards signals, and returns the command's exit status.
//!
//! It stays in the host's mount and network namespaces and outside the sandbox's pid
//! namespace, so it reaches the proxy while nothing inside can reach it through `/proc`.

use std::net::TcpListener;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;

use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sched::{CloneFlags, unshare};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, kill};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, getegid, geteuid, pipe2};

use crate::bridge::Relay;
use crate::layout::{Layout, Request};
use crate::{Error, init, sys};

/// Signals the supervisor and pid 1 take through a signalfd instead of dying of them.
fn blocked_signals() -> SigSet {
    let mut set = SigSet::empty();
    for s in [
        Signal::SIGINT,
        Signal::SIGQUIT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGALRM,
        Signal::SIGCHLD,
    ] {
        set.add(s);
    }
    set
}

/// Restores the signal mask when the supervisor returns early.
struct MaskGuard(SigSet);

impl Drop for MaskGuard {
    fn drop(&mut self) {
        let _ = self.0.thread_set_mask();
    }
}

/// Empty directories made on the host as mount points for protected paths that do not exist
/// yet; removed when the sandbox ends (only ever if still empty).
struct Placeholders(Vec<PathBuf>);

impl Placeholders {
    fn create(paths: &[PathBuf]) -> Result<Placeholders, Error> {
        let mut made = Placeholders(Vec::new());
        for path in paths {
            match std::fs::DirBuilder::new().mode(0o000).create(path) {
                Ok(()) => made.0.push(path.clone()),
                // A placeholder left by a run that was killed: ours to use and remove.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && crate::layout::is_placeholder(path) => {
                    made.0.push(path.clone());
                }
                Err(e) => return Err(Error::setup(format!("create the placeholder {}", path.display()), e)),
            }
        }
        Ok(made)
    }
}

impl Drop for Placeholders {
    fn drop(&mut self) {
        for path in self.0.iter().rev() {
            let _ = std::fs::remove_dir(path);
        }
    }
}

/// The number of threads of this process (unknown counts as many).
pub fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map(|d| d.count()).unwrap_or(usize::MAX)
}

fn write_maps(uid: u32, gid: u32) -> std::io::Result<()> {
    std::fs::write("/proc/self/setgroups", "deny")?;
    std::fs::write("/proc/self/uid_map", format!("{uid} {uid} 1\n"))?;
    std::fs::write("/proc/self/gid_map", format!("{gid} {gid} 1\n"))
}

/// Finishes what must be done before the command starts and works out its environment;
/// called in the supervisor while pid 1 builds the sandbox, so the two overlap. An error
/// stops the sandbox before the command runs.
pub type LateEnv<'a> = &'a mut dyn FnMut() -> Result<Vec<(std::ffi::OsString, std::ffi::OsString)>, String>;

/// Runs the request's command in the sandbox and returns its exit status; with `late_env`,
/// the command's environment is that function's answer instead of `request.env`. The caller
/// must be single-threaded.
pub fn run(request: &Request, layout: &Layout, late_env: Option<LateEnv<'_>>) -> Result<i32, Error> {
    if threads() != 1 {
        return Err(Error::Setup("the sandbox must be started from a single-threaded process".into()));
    }
    let uid = geteuid().as_raw();
    let gid = getegid().as_raw();
    let blocked = blocked_signals();
    let mut old = SigSet::empty();
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&blocked), Some(&mut old))
        .map_err(|e| Error::setup("block signals", e))?;
    let _mask = MaskGuard(old);
    let signals = SignalFd::with_flags(&blocked, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(|e| Error::setup("signalfd", e))?;
    let placeholders = Placeholders::create(&layout.placeholders)?;
    let (report_r, report_w) = pipe2(OFlag::O_CLOEXEC).map_err(|e| Error::setup("pipe", e))?;

    let (env_r, env_w) = match late_env {
        Some(_) => pipe2(OFlag::O_CLOEXEC).map(|(r, w)| (Some(r), Some(w))).map_err(|e| Error::setup("pipe", e))?,
        None => (None, None),
    };
    let (channel, channel_child) = socketpair(AddressFamily::Unix, SockType::Stream, None, SockFlag::SOCK_CLOEXEC)
        .map_err(|e| Error::setup("socketpair", e))?;

    unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWPID).map_err(|e| Error::Isolation {
        what: "an unprivileged user namespace (with a pid namespace)".into(),
        why: format!("unshare: {e}"),
    })?;
    write_maps(uid, gid).map_err(|e| Error::Isolation {
        what: "a user namespace that maps your own user".into(),
        why: format!("writing the uid/gid map: {e}"),
    })?;

    let child = match sys::fork().map_err(|e| Error::setup("fork", e))? {
        ForkResult::Child => {
            drop(signals);
            drop(report_r);
            drop(channel);
            drop(env_w);
            std::mem::forget(placeholders);
            let pipes = init::Pipes { report: report_w, channel: channel_child, env: env_r };
            init::run(request, layout, pipes, old, blocked)
        }
        ForkResult::Parent { child } => child,
    };
    drop(report_w);
    drop(channel_child);
    drop(env_r);
    if let (Some(make), Some(pipe)) = (late_env, env_w) {
        let vars = match make() {
            Ok(vars) => vars,
            Err(message) => {
                // The command waits for its environment: it never starts.
                let _ = kill(child, Signal::SIGKILL);
                drop(pipe);
                let _ = waitpid(child, None);
                return Err(Error::Prepare(message));
            }
        };
        let bytes = crate::env::encode(&vars);
        // The command reads it before anything else; if it died first, the report says why.
        let _ = std::io::Write::write_all(&mut std::fs::File::from(pipe), &bytes);
    }
    let mut listeners = Vec::new();
    for bridge in request.bridges() {
        let Some(listener) = sys::recv_fd(&channel).ok().flatten().map(TcpListener::from) else { break };
        listener.set_nonblocking(true).map_err(|e| Error::setup("bridge listener", e))?;
        listeners.push((listener, bridge.target.clone()));
    }
    drop(channel);
    let outcome = supervise(child, &signals, report_r, Relay::new(listeners));
    drop(placeholders);
    outcome
}

/// Relays, forwards signals and waits for pid 1; then reads what went wrong, if anything.
fn supervise(child: Pid, signals: &SignalFd, report: OwnedFd, mut relay: Relay) -> Result<i32, Error> {
    let mut report = Some(report);
    let mut message = Vec::new();
    let mut status: Option<i32> = None;
    while status.is_none() || report.is_some() {
        let interest = relay.interest();
        let mut fds = vec![PollFd::new(signals.as_fd(), PollFlags::POLLIN)];
        if let Some(r) = &report {
            fds.push(PollFd::new(r.as_fd(), PollFlags::POLLIN));
        }
        let first_relay = fds.len();
        if status.is_none() {
            fds.extend(interest.iter().map(|(fd, flags)| PollFd::new(*fd, *flags)));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(Error::setup("poll", e)),
        }
        let ready: Vec<PollFlags> = fds.iter().map(|f| f.revents().unwrap_or_else(PollFlags::empty)).collect();
        drop(fds);
        drop(interest);
        if ready.first().is_some_and(|r| !r.is_empty()) {
            status = status.or(on_signals(child, signals));
        }
        if report.is_some() && ready.get(1).is_some_and(|r| !r.is_empty()) {
            let mut chunk = [0u8; 4096];
            match report.as_ref().map(|r| nix::unistd::read(r, &mut chunk)) {
                Some(Ok(0)) | Some(Err(_)) | None => report = None,
                Some(Ok(n)) => message.extend_from_slice(chunk.get(..n).unwrap_or_default()),
            }
        }
        if status.is_none() {
            relay.handle(ready.get(first_relay..).unwrap_or_default());
        }
    }
    let code = status.unwrap_or(125);
    match message.split_first() {
        None => Ok(code),
        Some((kind, rest)) => {
            let (status, text) = rest.split_first().map_or((0, &[][..]), |(s, t)| (*s, t));
            let text = String::from_utf8_lossy(text).into_owned();
            Err(match kind {
                b'I' => Error::Isolation { what: "the sandbox's isolation".into(), why: text },
                b'C' => Error::Command { message: text, status },
                _ => Error::Setup(text),
            })
        }
    }
}

/// Handles pending signals: pid 1's exit gives the status; signals someone sent to the
/// supervisor go on to the sandbox (those from the terminal reached the command already).
fn on_signals(child: Pid, signals: &SignalFd) -> Option<i32> {
    let mut status = None;
    while let Ok(Some(info)) = signals.read_signal() {
        let Ok(signal) = Signal::try_from(info.ssi_signo as i32) else { continue };
        if signal == Signal::SIGCHLD {
            match waitpid(child, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(_, code)) => status = Some(code),
                Ok(WaitStatus::Signaled(_, sig, _)) => status = Some(128 + sig as i32),
                _ => {}
            }
        } else if info.ssi_code <= 0 {
            let _ = kill(child, signal);
        }
    }
    status
}
