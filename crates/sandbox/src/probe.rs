//! What this kernel and its configuration give the sandbox, for `holdpoint doctor`.
//!
//! Namespaces and overlay are tried for real in a throwaway child (an unprivileged user
//! namespace can be allowed by sysctl and still be stripped of its powers by AppArmor); the
//! child only makes system calls, so this works from any process.

use std::os::fd::OwnedFd;

use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};
use nix::sys::stat::Mode;
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, getegid, geteuid, mkdir, pipe, read, write};

use crate::sys;

/// What the sandbox can use here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Support {
    /// User, mount, network and pid namespaces, with a tmpfs mounted inside: the sandbox's
    /// minimum. `Err` says which step failed and why.
    pub namespaces: Result<(), String>,
    /// An overlay mounted inside a user namespace (toolchain caches stay in memory; without it
    /// toolchains are shown read-only).
    pub overlay: Result<(), String>,
    /// The Landlock ABI version (0: none).
    pub landlock_abi: i32,
    /// Seccomp filters with errno answers.
    pub seccomp: Result<(), String>,
}

/// Looks at this machine.
pub fn probe() -> Support {
    let (namespaces, overlay) = namespaces();
    Support { namespaces, overlay, landlock_abi: sys::landlock_abi(), seccomp: seccomp() }
}

fn seccomp() -> Result<(), String> {
    let status = std::fs::read_to_string("/proc/self/status").map_err(|e| format!("/proc/self/status: {e}"))?;
    if !status.lines().any(|l| l.starts_with("Seccomp:")) {
        return Err("the kernel is built without seccomp".into());
    }
    match std::fs::read_to_string("/proc/sys/kernel/seccomp/actions_avail") {
        Ok(actions) if actions.split_whitespace().any(|a| a == "errno") => Ok(()),
        Ok(_) => Err("seccomp cannot answer with an errno here".into()),
        Err(_) => Ok(()),
    }
}

const STEPS: &[&str] = &[
    "",
    "unshare(user, mount, network, pid)",
    "deny setgroups",
    "write the uid map",
    "write the gid map",
    "make mounts private",
    "mount a tmpfs",
];

fn namespaces() -> (Result<(), String>, Result<(), String>) {
    let Ok((r, w)) = pipe() else { return (Err("pipe failed".into()), Err("not tried".into())) };
    let uid = geteuid().as_raw();
    let gid = getegid().as_raw();
    match sys::fork() {
        Ok(ForkResult::Child) => {
            drop(r);
            child(&w, uid, gid)
        }
        Ok(ForkResult::Parent { child }) => {
            drop(w);
            let mut buf = [0u8; 10];
            let mut got = 0;
            while got < buf.len() {
                match buf.get_mut(got..).map(|b| read(&r, b)) {
                    Some(Ok(0)) | None | Some(Err(_)) => break,
                    Some(Ok(n)) => got += n,
                }
            }
            let _ = waitpid(child, None);
            decode(&buf, got)
        }
        Err(e) => (Err(format!("fork: {e}")), Err("not tried".into())),
    }
}

/// The two answers: `[step, errno (4 bytes)]` for namespaces, then for overlay.
fn decode(buf: &[u8; 10], got: usize) -> (Result<(), String>, Result<(), String>) {
    if got < buf.len() {
        return (Err("the probe died".into()), Err("not tried".into()));
    }
    let one = |b: &[u8]| -> Result<(), String> {
        let (step, errno) = match b {
            [step, e0, e1, e2, e3] => (*step as usize, i32::from_le_bytes([*e0, *e1, *e2, *e3])),
            _ => return Err("bad probe answer".into()),
        };
        if step == 0 {
            return Ok(());
        }
        let what = STEPS.get(step).copied().unwrap_or("mount an overlay");
        Err(format!("{what}: {}", Errno::from_raw(errno).desc()))
    };
    let ns = one(buf.get(..5).unwrap_or_default());
    let overlay = if ns.is_ok() { one(buf.get(5..).unwrap_or_default()) } else { Err("no namespaces".into()) };
    (ns, overlay)
}

/// `id id 1\n` in `buf`, without allocating.
fn map_line(buf: &mut [u8; 40], id: u32) -> &[u8] {
    let mut digits = [0u8; 10];
    let mut n = id;
    let mut len = 0;
    loop {
        if let Some(d) = digits.get_mut(len) {
            *d = b'0' + (n % 10) as u8;
        }
        len += 1;
        n /= 10;
        if n == 0 || len == digits.len() {
            break;
        }
    }
    let mut at = 0;
    let mut put = |b: u8| {
        if let Some(slot) = buf.get_mut(at) {
            *slot = b;
        }
        at += 1;
    };
    for _ in 0..2 {
        for i in (0..len).rev() {
            put(digits.get(i).copied().unwrap_or(b'0'));
        }
        put(b' ');
    }
    put(b'1');
    put(b'\n');
    buf.get(..at).unwrap_or_default()
}

/// The throwaway child: only system calls, no allocation.
fn child(w: &OwnedFd, uid: u32, gid: u32) -> ! {
    let send = |step: u8, e: Errno| {
        let errno = (e as i32).to_le_bytes();
        let _ = write(w, &[step, errno[0], errno[1], errno[2], errno[3]]);
    };
    let write_file = |path: &str, bytes: &[u8]| -> Result<(), Errno> {
        let fd = open(path, OFlag::O_WRONLY | OFlag::O_CLOEXEC, Mode::empty())?;
        write(&fd, bytes).map(drop)
    };
    let steps = || -> Result<(), (u8, Errno)> {
        let flags =
            CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWNET | CloneFlags::CLONE_NEWPID;
        unshare(flags).map_err(|e| (1, e))?;
        write_file("/proc/self/setgroups", b"deny").map_err(|e| (2, e))?;
        let mut buf = [0u8; 40];
        write_file("/proc/self/uid_map", map_line(&mut buf, uid)).map_err(|e| (3, e))?;
        let mut buf = [0u8; 40];
        write_file("/proc/self/gid_map", map_line(&mut buf, gid)).map_err(|e| (4, e))?;
        mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>)
            .map_err(|e| (5, e))?;
        mount(Some("tmpfs"), "/tmp", Some("tmpfs"), MsFlags::empty(), None::<&str>).map_err(|e| (6, e))?;
        Ok(())
    };
    match steps() {
        Ok(()) => send(0, Errno::UnknownErrno),
        Err((step, e)) => {
            send(step, e);
            send(7, Errno::UnknownErrno);
            sys::exit_now(1);
        }
    }
    let overlay = || -> Result<(), Errno> {
        for d in ["/tmp/l", "/tmp/u", "/tmp/w", "/tmp/m"] {
            mkdir(d, Mode::S_IRWXU)?;
        }
        mount(
            Some("overlay"),
            "/tmp/m",
            Some("overlay"),
            MsFlags::empty(),
            Some("lowerdir=/tmp/l,upperdir=/tmp/u,workdir=/tmp/w,userxattr"),
        )
    };
    match overlay() {
        Ok(()) => send(0, Errno::UnknownErrno),
        Err(e) => send(7, e),
    }
    sys::exit_now(0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn map_lines_are_written_without_allocating() {
        let mut buf = [0u8; 40];
        assert_eq!(map_line(&mut buf, 0), b"0 0 1\n");
        let mut buf = [0u8; 40];
        assert_eq!(map_line(&mut buf, 4_294_967_295), b"4294967295 4294967295 1\n");
        let mut buf = [0u8; 40];
        assert_eq!(map_line(&mut buf, 1000), b"1000 1000 1\n");
    }

    #[test]
    fn this_machine_is_probed() {
        // The machines Holdpoint is built and tested on give every protection; the probe
        // must find them.
        let support = probe();
        assert_eq!(support.namespaces, Ok(()));
        assert_eq!(support.seccomp, Ok(()));
        assert!(support.landlock_abi >= 1);
    }
}
