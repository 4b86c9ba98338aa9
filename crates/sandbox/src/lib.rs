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

/// The nice value of background work: the audit writer and SQLite's connection workers.
///
/// A share of the CPU small beside a proxy's but never nothing: at nice 10 a thread weighs a
/// ninth of an ordinary one, so a proxy's thread that wakes is run before it, while the writer
/// still keeps up under a load that keeps every core busy (38,000 proxied requests a second on
/// two cores, wrk and the upstream beside it, 30 s: every record written, none spilled). Under
/// `SCHED_IDLE`, which it had before, the writer got next to nothing then: a quarter to two
/// fifths of the decisions went to the audit spool, a file opened per record.
pub const BACKGROUND_NICE: libc::c_int = 10;

/// Gives the calling thread the nice value of background work ([`BACKGROUND_NICE`]). Needs no
/// privilege.
pub fn background_priority() -> std::io::Result<()> {
    sys::set_nice(0, BACKGROUND_NICE)
}

/// Gives every thread of this process whose name starts with `prefix` the nice value of
/// background work (see [`background_priority`]): for threads a library starts, such as
/// SQLite's connection workers. Returns how many it did.
pub fn background_priority_of_threads(prefix: &str) -> std::io::Result<usize> {
    let mut done = 0;
    for entry in std::fs::read_dir("/proc/self/task")? {
        let path = entry?.path();
        let named = std::fs::read_to_string(path.join("comm")).is_ok_and(|comm| comm.starts_with(prefix));
        let tid = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.parse::<libc::pid_t>().ok());
        if let (true, Some(tid)) = (named, tid) {
            match sys::set_nice(tid, BACKGROUND_NICE) {
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

#[cfg(test)]
mod tests {
    use super::{BACKGROUND_NICE, background_priority, background_priority_of_threads};

    /// The nice value of this process's thread `tid` (`/proc/self/task/TID/stat`, field 19).
    fn nice_of(tid: &str) -> i32 {
        let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap();
        let fields = stat.rsplit_once(") ").unwrap().1;
        fields.split(' ').nth(19 - 3).unwrap().parse().unwrap()
    }

    fn own_tid() -> String {
        std::fs::read_link("/proc/thread-self").unwrap().file_name().unwrap().to_str().unwrap().to_owned()
    }

    #[test]
    fn background_threads_are_niced_and_others_are_not() {
        let (tid, nice) = std::thread::spawn(|| {
            background_priority().unwrap();
            let tid = own_tid();
            let nice = nice_of(&tid);
            (tid, nice)
        })
        .join()
        .unwrap();
        assert_eq!(nice, BACKGROUND_NICE, "thread {tid}");

        let (named, go) = std::sync::mpsc::channel();
        let (done, wait) = std::sync::mpsc::channel::<()>();
        let worker = std::thread::Builder::new()
            .name("bg-test-worker".into())
            .spawn(move || {
                named.send(own_tid()).unwrap();
                let _ = wait.recv();
            })
            .unwrap();
        let tid = go.recv().unwrap();
        let before = nice_of(&own_tid());
        assert_eq!(nice_of(&tid), before);
        assert_eq!(background_priority_of_threads("bg-test-wor").unwrap(), 1);
        assert_eq!(nice_of(&tid), BACKGROUND_NICE);
        assert_eq!(nice_of(&own_tid()), before, "the caller keeps its own");
        done.send(()).unwrap();
        worker.join().unwrap();
    }
}
