//! Holdpoint's OS sandbox, behind `holdpoint run`: the command (an agent, and everything it
//! starts) sees its workspace read-write, the system and its toolchains read-only, an empty
//! home, and a network with nothing on it but a bridge to Holdpoint's egress proxy.
//!
//! Three processes: the **supervisor** (the caller) makes user, network, pid, ipc and uts
//! namespaces, maps its own uid and gid, brings `lo` up and listens for the bridge; **pid 1**
//! makes a mount namespace, builds a new root on a tmpfs ([`layout`]), `pivot_root`s into it,
//! and reaps; the **command** drops every capability, gets Landlock rules, no_new_privs and a
//! seccomp filter, and execs. The supervisor stays outside the sandbox's mount and pid
//! namespaces, relays bridge connections to the proxy's unix socket and forwards signals.
//!
//! ```no_run
//! use holdpoint_sandbox::{Request, run};
//!
//! let mut request = Request::new("/home/u/app".into(), "/home/u/app".into(), "/home/u".into(), vec!["make".into(), "test".into()]);
//! request.env = vec![("PATH".into(), "/usr/bin:/bin".into())];
//! let status = run(&request)?;
//! # Ok::<(), holdpoint_sandbox::Error>(())
//! ```
#![deny(unsafe_code)]

pub mod background;
mod bridge;
pub mod checkpoint;
mod confine;
pub mod env;
mod error;
mod init;
pub mod layout;
mod mounts;
pub mod probe;
mod seccomp;
mod supervisor;
mod sys;

use std::convert::Infallible;
use std::ffi::OsString;
use std::io::{Read, Write};

pub use error::Error;
pub use layout::{Bridge, BridgeTarget, Entry, Layout, Request};
use nix::sys::memfd::{MFdFlags, memfd_create};
use nix::sys::signal::SigSet;

/// Puts the calling thread under the `SCHED_BATCH` scheduling policy, for an event loop that
/// passes messages between other processes (the PostgreSQL proxy's sessions' thread).
///
/// Under the default policy each wake-up of such a thread preempts whatever is running, and
/// the peer it just woke preempts it in turn. A batch thread does not preempt on wake-up (the
/// scheduler's tick still shares the CPU fairly): it runs when a CPU comes free and finds more
/// messages ready at once, for fewer context switches. The cost is latency, and only while
/// every core is busy with other work: a wake-up waits for the running task's slice, a few
/// milliseconds at most. Needs no privilege.
pub fn batch_scheduling() -> std::io::Result<()> {
    sys::sched_batch()
}

/// Puts the calling thread under the `SCHED_IDLE` scheduling policy, for work that may wait
/// while anything else wants the CPU (the audit writer).
///
/// Such a thread runs on a core no other thread wants, and yields it at once to any thread that
/// wakes there, the batch-scheduled proxy threads included (which do not preempt ordinary
/// threads). Under the default policy the writer's bursts (a batch of records hashed, packed and
/// written every few milliseconds) hold a core until their slice ends while a proxy's thread
/// waits to relay a message, and a PostgreSQL session holding row locks holds them that much
/// longer. Should every core stay busy for long, the writer falls behind and its bounded queue
/// spills to the audit spool: nothing is lost. Needs no privilege.
pub fn idle_scheduling() -> std::io::Result<()> {
    sys::sched_idle(0)
}

/// Puts every thread of this process whose name starts with `prefix` under `SCHED_IDLE` (see
/// [`idle_scheduling`]): for threads a library starts, such as SQLite's connection workers.
/// Returns how many were.
pub fn idle_scheduling_of_threads(prefix: &str) -> std::io::Result<usize> {
    let mut done = 0;
    for entry in std::fs::read_dir("/proc/self/task")? {
        let path = entry?.path();
        let named = std::fs::read_to_string(path.join("comm")).is_ok_and(|comm| comm.starts_with(prefix));
        let tid = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.parse::<libc::pid_t>().ok());
        if let (true, Some(tid)) = (named, tid) {
            match sys::sched_idle(tid) {
                Ok(()) => done += 1,
                // Ended since it was listed.
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(done)
}

/// How long memory the process freed stays with it before the allocator gives it back to the
/// kernel, in milliseconds (mimalloc's own default is 10).
pub const FREED_MEMORY_KEPT_MS: std::ffi::c_long = 1000;

/// Has the allocator keep freed memory for [`FREED_MEMORY_KEPT_MS`] before giving it back to
/// the kernel. A long-running `serve` frees and makes again buffers of hundreds of kilobytes
/// every few milliseconds (the audit writer's batches); given back after mimalloc's default
/// 10 ms, each is faulted in and zeroed anew on its next use, and every give-back interrupts
/// every core running one of the process's threads to flush its TLB. Call it first in `main`,
/// before any thread starts (the allocator reads its options unsynchronised).
///
/// Left alone when `MIMALLOC_PURGE_DELAY` is set: whoever set it chose otherwise.
pub fn keep_freed_memory() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        sys::mimalloc_option_set(sys::MI_OPTION_PURGE_DELAY, FREED_MEMORY_KEPT_MS);
    }
}

/// How long the allocator keeps freed memory before giving it back, in milliseconds.
pub fn freed_memory_kept_ms() -> std::ffi::c_long {
    sys::mimalloc_option_get(sys::MI_OPTION_PURGE_DELAY)
}

/// The hidden subcommand of the calling binary that [`run`] re-executes into when the caller
/// has more than one thread (namespaces need a single-threaded process); it must call
/// [`run_from_fd`] with the descriptor given after it.
pub const REEXEC_SUBCOMMAND: &str = "sandbox-exec";

/// Runs `request.argv` in the sandbox and returns its exit status (128 + N when a signal N
/// ended it). Fails with [`Error::Isolation`] when the kernel does not give the namespaces
/// the sandbox needs (nothing ran), [`Error::Command`] when the command could not be started.
///
/// From a multi-threaded caller this re-executes the current binary as
/// `<exe> sandbox-exec <fd>` (see [`REEXEC_SUBCOMMAND`]) and does not return on success.
pub fn run(request: &Request) -> Result<i32, Error> {
    let layout = Layout::build(request)?;
    if supervisor::threads() != 1 || forced_reexec() {
        return reexec(request).map(|never| match never {});
    }
    supervisor::run(request, &layout, None)
}

/// [`run`], with the command's environment worked out by `env` (instead of `request.env`)
/// while the sandbox is being built, so filtering a large environment (and whatever else
/// the caller must finish before the command starts, such as waiting for a checkpoint to
/// reach the disk) costs no start-up time. When `env` fails, the command does not run and
/// the error is an [`Error::Prepare`] with its message. `env` is not called when the
/// sandbox fails before it could be (an [`Error::Isolation`]), and may be called again by
/// the caller's fallback.
pub fn run_with_env(
    request: &Request,
    env: &mut dyn FnMut() -> Result<Vec<(OsString, OsString)>, String>,
) -> Result<i32, Error> {
    let layout = Layout::build(request)?;
    if supervisor::threads() != 1 || forced_reexec() {
        let mut request = request.clone();
        request.env = env().map_err(Error::Prepare)?;
        return reexec(&request).map(|never| match never {});
    }
    supervisor::run(request, &layout, Some(env))
}

/// Debug builds only: `HOLDPOINT_TEST_SANDBOX_REEXEC=1` takes the re-exec path from a
/// single-threaded caller too, so tests cover it.
fn forced_reexec() -> bool {
    cfg!(debug_assertions) && std::env::var_os("HOLDPOINT_TEST_SANDBOX_REEXEC").is_some_and(|v| v == "1")
}

/// The re-executed side of [`run`]: reads the request from descriptor `fd` and runs it.
pub fn run_from_fd(fd: i32) -> Result<i32, Error> {
    let path = format!("/proc/self/fd/{fd}");
    let mut text = Vec::new();
    std::fs::File::open(&path)
        .and_then(|mut f| f.read_to_end(&mut text))
        .map_err(|e| Error::setup(format!("read the sandbox request from {path}"), e))?;
    let _ = nix::unistd::close(fd);
    let request: Request = serde_json::from_slice(&text).map_err(|e| Error::setup("read the sandbox request", e))?;
    let layout = Layout::build(&request)?;
    supervisor::run(&request, &layout, None)
}

fn reexec(request: &Request) -> Result<Infallible, Error> {
    let json = serde_json::to_vec(request).map_err(|e| Error::setup("write the sandbox request", e))?;
    let fd = memfd_create("holdpoint-sandbox-request", MFdFlags::empty()).map_err(|e| Error::setup("memfd", e))?;
    let mut file = std::fs::File::from(fd);
    file.write_all(&json).map_err(|e| Error::setup("write the sandbox request", e))?;
    let number = std::os::fd::IntoRawFd::into_raw_fd(file);
    let argv0 = std::env::args_os().next().unwrap_or_else(|| OsString::from("holdpoint"));
    let args = [argv0, OsString::from(REEXEC_SUBCOMMAND), OsString::from(number.to_string())];
    let args: Vec<std::ffi::CString> = args
        .iter()
        .filter_map(|a| std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(a.as_os_str())).ok())
        .collect();
    let e = match nix::unistd::execv(c"/proc/self/exe", &args) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    Err(Error::setup("re-execute for the sandbox", e))
}

/// `--dangerously-weaker`: no namespaces. The calling process drops its privileges, confines
/// itself with Landlock (reads: system directories, toolchains, `--allow-read` paths and the
/// home files; writes: the workspace, `/tmp` and the terminal devices; the home directory is
/// not readable) and seccomp, and execs the command. The network is the host's, protected
/// paths inside the workspace are writable, and without Landlock in the kernel there is no
/// file fence at all. Returns only on failure.
pub fn run_weaker(request: &Request) -> Result<Infallible, Error> {
    let rules = confine::weaker_rules(request);
    let mask = SigSet::thread_get_mask().map_err(|e| Error::setup("read the signal mask", e))?;
    confine::exec(request, &rules, &mask, false).map_err(|(status, message)| match status {
        125 => Error::Setup(message),
        status => Error::Command { message, status },
    })
}
