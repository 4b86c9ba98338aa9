//! The last steps before the command runs, in the process that becomes it: no capabilities
//! (and none to regain), Landlock, no_new_privs, seccomp, then `execve`.

use std::convert::Infallible;
use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use landlock::{
    ABI, Access, AccessFs, BitFlags, PathBeneath, PathFd, Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus,
    Scope,
};
use nix::errno::Errno;
use nix::sys::signal::SigSet;

use crate::layout::{Entry, Layout, Request, SYSTEM_DIRS};
use crate::{seccomp, sys};

/// The Landlock ABI the rules were written and tested against; older kernels get what they
/// support (best effort), newer ones are not asked for rights nobody vetted.
const LANDLOCK_ABI: ABI = ABI::V7;

/// Device files the command may read and write.
const DEVICES: &[&str] =
    &["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty", "/dev/console"];

/// Why the command did not start: the exit status to report, and the message.
pub type Failure = (u8, String);

/// What a Landlock rule allows beneath its path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Allow {
    /// Listing directories only (names, not contents).
    List,
    /// Reading and executing.
    Read,
    /// Everything.
    Write,
}

/// A Landlock rule.
pub type Rule = (PathBuf, Allow);

fn rule(path: impl Into<PathBuf>, write: bool) -> Rule {
    (path.into(), if write { Allow::Write } else { Allow::Read })
}

/// The Landlock rules of a sandbox: each shown path with the access its mount gives.
pub fn sandbox_rules(layout: &Layout) -> Vec<Rule> {
    // Every name the mounts show may be listed; contents need a rule of their own.
    let mut rules = vec![(PathBuf::from("/"), Allow::List)];
    for entry in &layout.entries {
        match entry {
            Entry::Bind { path, writable, .. } => rules.push(rule(path.clone(), *writable)),
            Entry::Overlay { path, .. } | Entry::Tmpfs { path, .. } => rules.push(rule(path.clone(), true)),
            Entry::File { path, .. } => rules.push(rule(path.clone(), false)),
            Entry::Dev => {
                rules.extend(DEVICES.iter().map(|d| rule(*d, true)));
                rules.push(rule("/dev/pts", true));
                rules.push(rule("/dev/shm", true));
            }
            Entry::Proc => rules.push(rule("/proc", false)),
            Entry::Cover { .. } | Entry::Symlink { .. } => {}
        }
    }
    rules
}

/// The Landlock rules without namespaces (`--dangerously-weaker`): the same trees, on the
/// host's own paths; the home directory itself is not readable.
pub fn weaker_rules(request: &Request) -> Vec<Rule> {
    let mut rules: Vec<Rule> = SYSTEM_DIRS.iter().map(|d| rule(*d, false)).collect();
    rules.extend(request.toolchains.iter().chain(&request.tools).map(|p| rule(p.clone(), false)));
    rules.extend(request.allow_read.iter().map(|p| rule(p.clone(), false)));
    rules.extend(request.home_files.iter().map(|p| rule(p.clone(), false)));
    rules.push(rule(request.workspace.clone(), true));
    rules.push(rule("/tmp", true));
    rules.extend(DEVICES.iter().map(|d| rule(*d, true)));
    rules.push(rule("/dev/pts", true));
    rules.push(rule("/dev/shm", true));
    rules.push(rule("/proc", false));
    rules
}

/// Confines the calling process and execs the request's command; returns only on failure.
/// `strict`: failing to drop privileges is fatal (inside the sandbox's user namespace the
/// process holds them all; outside, an unprivileged process has none to drop).
pub fn exec(request: &Request, rules: &[Rule], mask: &SigSet, strict: bool) -> Result<Infallible, Failure> {
    let setup = |what: &str, e: &dyn std::fmt::Display| (125u8, format!("{what}: {e}"));
    mask.thread_set_mask().map_err(|e| setup("restore the signal mask", &e))?;
    sys::default_sigpipe().map_err(|e| setup("reset SIGPIPE", &e))?;
    // Nothing the caller inherited reaches the command but stdin, stdout and stderr.
    sys::cloexec_from(3).map_err(|e| setup("close inherited files", &e))?;
    let cwd = if request.cwd.is_dir() { request.cwd.as_path() } else { request.workspace.as_path() };
    nix::unistd::chdir(cwd).map_err(|e| setup(&format!("chdir {}", cwd.display()), &e))?;
    let program = find_program(request)?;
    let argv = c_strings(request.argv.iter().map(|a| a.as_bytes().to_vec()))?;
    let env = c_strings(request.env.iter().map(|(k, v)| {
        let mut kv = k.as_bytes().to_vec();
        kv.push(b'=');
        kv.extend_from_slice(v.as_bytes());
        kv
    }))?;
    let filters = seccomp::filters().map_err(|e| setup("seccomp", &e))?;

    drop_privileges(strict).map_err(|e| setup("drop privileges", &e))?;
    landlock(rules).map_err(|e| setup("Landlock", &e))?;
    match sys::drop_all_capabilities() {
        Ok(()) => {}
        Err(e) if strict => return Err(setup("drop capabilities", &e)),
        Err(_) => {}
    }
    seccomp::install(&filters).map_err(|e| setup("seccomp", &e))?;

    let e = match nix::unistd::execve(&program, &argv, &env) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    let shown = Path::new(OsStr::from_bytes(program.as_bytes())).display().to_string();
    Err(match e {
        Errno::ENOENT => (127, format!("{shown}: not found inside the sandbox")),
        e => (126, format!("{shown}: cannot run it inside the sandbox: {e}")),
    })
}

fn c_strings(items: impl Iterator<Item = Vec<u8>>) -> Result<Vec<CString>, Failure> {
    items
        .map(|bytes| CString::new(bytes).map_err(|_| (125, "an argument or variable holds a NUL byte".to_owned())))
        .collect()
}

/// The command's path: as given when it has a slash, else the first executable file of that
/// name on the command's own `PATH`.
fn find_program(request: &Request) -> Result<CString, Failure> {
    let Some(name) = request.argv.first() else { return Err((125, "no command given".into())) };
    let to_c = |p: &Path| CString::new(p.as_os_str().as_bytes()).map_err(|_| (125, "NUL in the command".to_owned()));
    if name.as_bytes().contains(&b'/') {
        return to_c(Path::new(name));
    }
    let path = request
        .env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| OsString::from("/usr/local/bin:/usr/bin:/bin"));
    for dir in path.as_bytes().split(|b| *b == b':') {
        let dir = if dir.is_empty() { Path::new(".") } else { Path::new(OsStr::from_bytes(dir)) };
        let candidate = dir.join(name);
        if candidate.is_file() && nix::unistd::access(&candidate, nix::unistd::AccessFlags::X_OK).is_ok() {
            return to_c(&candidate);
        }
    }
    Err((
        127,
        format!(
            "{}: command not found inside the sandbox (PATH={})",
            Path::new(name).display(),
            String::from_utf8_lossy(&path.into_vec())
        ),
    ))
}

/// Locks root out of its privileges for good (securebits), empties the bounding and ambient
/// sets, so no exec, set-user-ID file or file capability gives any back.
fn drop_privileges(strict: bool) -> std::io::Result<()> {
    const SECBIT_NOROOT: libc::c_ulong = 1 << 0;
    const SECBIT_NOROOT_LOCKED: libc::c_ulong = 1 << 1;
    const SECBIT_NO_SETUID_FIXUP: libc::c_ulong = 1 << 2;
    const SECBIT_NO_SETUID_FIXUP_LOCKED: libc::c_ulong = 1 << 3;
    const SECBIT_KEEP_CAPS_LOCKED: libc::c_ulong = 1 << 5;
    const SECBIT_NO_CAP_AMBIENT_RAISE: libc::c_ulong = 1 << 6;
    const SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED: libc::c_ulong = 1 << 7;
    let bits = SECBIT_NOROOT
        | SECBIT_NOROOT_LOCKED
        | SECBIT_NO_SETUID_FIXUP
        | SECBIT_NO_SETUID_FIXUP_LOCKED
        | SECBIT_KEEP_CAPS_LOCKED
        | SECBIT_NO_CAP_AMBIENT_RAISE
        | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
    let lenient = |r: std::io::Result<libc::c_int>| match r {
        Ok(_) => Ok(()),
        Err(e) if !strict && e.raw_os_error() == Some(libc::EPERM) => Ok(()),
        Err(e) => Err(e),
    };
    lenient(sys::prctl(libc::PR_SET_SECUREBITS, bits, 0))?;
    let last = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse::<libc::c_ulong>().ok())
        .unwrap_or(63);
    for cap in 0..=last {
        match sys::prctl(libc::PR_CAPBSET_DROP, cap, 0) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => break,
            Err(e) => lenient(Err(e))?,
        }
    }
    lenient(sys::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong, 0))
}

/// Applies the Landlock rules (best effort by the kernel's ABI); sets no_new_privs.
fn landlock(rules: &[Rule]) -> Result<RulesetStatus, landlock::RulesetError> {
    let abi = LANDLOCK_ABI;
    let mut ruleset =
        Ruleset::default().handle_access(AccessFs::from_all(abi))?.scope(Scope::from_all(abi))?.create()?;
    // The files the command was given as stdin, stdout and stderr may be opened again
    // (`> /dev/stdout`), wherever they live; pipes and sockets need no rule.
    let std_files =
        (0..3).map(|fd| (PathBuf::from(format!("/proc/self/fd/{fd}")), Allow::Write)).filter(|(path, _)| {
            std::fs::metadata(path).is_ok_and(|m| {
                use std::os::unix::fs::FileTypeExt;
                m.is_file() || m.file_type().is_char_device()
            })
        });
    let rules: Vec<Rule> = rules.iter().cloned().chain(std_files).collect();
    for (path, allowed) in &rules {
        let Ok(meta) = std::fs::metadata(path) else { continue };
        let Ok(fd) = PathFd::new(path) else { continue };
        let mut access: BitFlags<AccessFs> = match allowed {
            Allow::List => AccessFs::ReadDir.into(),
            Allow::Read => AccessFs::from_read(abi),
            Allow::Write => AccessFs::from_all(abi),
        };
        if !meta.is_dir() {
            access &= AccessFs::from_file(abi);
        }
        ruleset = ruleset.add_rule(PathBeneath::new(fd, access))?;
    }
    Ok(ruleset.restrict_self()?.ruleset)
}
