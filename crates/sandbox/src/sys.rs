//! The few system calls nix does not wrap safely. Every `unsafe` of the workspace lives here,
//! one small function each, with the reason it is sound.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::unistd::ForkResult;

/// `MOUNT_ATTR_RDONLY`: the mount is read-only.
pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
/// `MOUNT_ATTR_NOSUID`: set-user-ID bits and file capabilities are ignored.
pub const MOUNT_ATTR_NOSUID: u64 = 0x2;
/// `MOUNT_ATTR_NODEV`: device files cannot be opened.
pub const MOUNT_ATTR_NODEV: u64 = 0x4;

/// `struct mount_attr` of `mount_setattr(2)`.
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))
}

/// Forks. The caller must be single-threaded (the sandbox checks it before it starts), so the
/// child may allocate and run ordinary Rust code; the child never returns to the caller's
/// stack frames above the sandbox (it execs or `_exit`s).
#[allow(unsafe_code)]
pub fn fork() -> nix::Result<ForkResult> {
    // SAFETY: every caller runs single-threaded (supervisor: checked by `threads()`; init and
    // the probe: forked from a single-threaded process), so no lock is held by a thread that
    // does not exist in the child.
    unsafe { nix::unistd::fork() }
}

/// Sets (and clears) mount attributes on the mount at `path`, and on every mount below it when
/// `recursive` (Linux 5.12+; `ENOSYS` before).
#[allow(unsafe_code)]
pub fn mount_setattr(path: &Path, recursive: bool, set: u64, clear: u64) -> io::Result<()> {
    let path = c_path(path)?;
    let attr = MountAttr { attr_set: set, attr_clr: clear, propagation: 0, userns_fd: 0 };
    let flags = if recursive { libc::AT_RECURSIVE as libc::c_uint } else { 0 };
    // SAFETY: `path` is a NUL-terminated string and `attr` a properly laid out `mount_attr`,
    // both alive for the call; the size passed is the struct's size.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            path.as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// `struct __user_cap_header_struct`.
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

/// `struct __user_cap_data_struct`.
#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// Empties the effective, permitted and inheritable capability sets of the calling thread.
#[allow(unsafe_code)]
pub fn drop_all_capabilities() -> io::Result<()> {
    let mut header = CapHeader { version: LINUX_CAPABILITY_VERSION_3, pid: 0 };
    let data = [CapData { effective: 0, permitted: 0, inheritable: 0 }; 2];
    // SAFETY: version 3 takes a header and an array of two data structs, both valid for the
    // call's duration.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &mut header as *mut CapHeader, data.as_ptr()) };
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// Sets the nice value of thread `tid` of this process (0: the calling thread); raising it
/// needs no privilege.
#[allow(unsafe_code)]
pub fn set_nice(tid: libc::pid_t, nice: libc::c_int) -> io::Result<()> {
    let who = libc::id_t::try_from(tid).map_err(|_| io::Error::from_raw_os_error(libc::ESRCH))?;
    // SAFETY: plain integers in, no memory passed; for `PRIO_PROCESS` Linux takes `who` as one
    // thread (0: the caller), and a thread that is gone is ESRCH.
    let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, who, nice) };
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// mimalloc's `mi_option_purge_delay` (v2's `mi_option_e`, in declaration order; the build
/// takes mimalloc v2, see the workspace's Cargo.toml): how long, in milliseconds, memory freed
/// stays committed before it is given back to the kernel.
pub const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Sets one of mimalloc's numeric options. Call it before any thread starts: mimalloc reads its
/// options without synchronisation.
#[allow(unsafe_code)]
pub fn mimalloc_option_set(option: libmimalloc_sys::mi_option_t, value: std::ffi::c_long) {
    // SAFETY: plain integers in, no memory passed; an option outside mimalloc's range is
    // ignored by it. Callers set options while the process has one thread.
    unsafe { libmimalloc_sys::mi_option_set(option, value) }
}

/// A mimalloc option's value.
#[allow(unsafe_code)]
pub fn mimalloc_option_get(option: libmimalloc_sys::mi_option_t) -> std::ffi::c_long {
    // SAFETY: a plain integer in and out; an option outside the range reads as 0.
    unsafe { libmimalloc_sys::mi_option_get(option) }
}

/// `prctl(2)` with integer arguments (the options the sandbox uses take no pointers).
#[allow(unsafe_code)]
pub fn prctl(option: libc::c_int, arg2: libc::c_ulong, arg3: libc::c_ulong) -> io::Result<libc::c_int> {
    // SAFETY: only called with options whose arguments are plain integers
    // (PR_CAPBSET_DROP, PR_SET_SECUREBITS, PR_CAP_AMBIENT), so no memory is passed.
    let rc = unsafe { libc::prctl(option, arg2, arg3, 0 as libc::c_ulong, 0 as libc::c_ulong) };
    if rc >= 0 { Ok(rc) } else { Err(io::Error::last_os_error()) }
}

/// Brings a network interface up (`SIOCSIFFLAGS` with `IFF_UP`), as `ip link set lo up` does.
#[allow(unsafe_code)]
pub fn interface_up(name: &str) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").or_else(|_| std::net::UdpSocket::bind("[::]:0"))?;
    // SAFETY: `ifreq` is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    let bytes = name.as_bytes();
    if bytes.len() >= req.ifr_name.len() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "interface name too long"));
    }
    for (slot, byte) in req.ifr_name.iter_mut().zip(bytes) {
        *slot = *byte as libc::c_char;
    }
    // SAFETY: `req` is a valid `ifreq` naming the interface, the socket is open, and the
    // kernel writes the flags into the union's `ifru_flags` member.
    let rc = unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req as *mut libc::ifreq) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: SIOCGIFFLAGS filled `ifru_flags`, the member read and written here.
    unsafe {
        req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
    }
    // SAFETY: as above, with the flags to set.
    let rc = unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCSIFFLAGS, &req as *const libc::ifreq) };
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// The Landlock ABI version this kernel offers (0 when it has none or it is disabled).
#[allow(unsafe_code)]
pub fn landlock_abi() -> i32 {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: with the VERSION flag the kernel reads no attribute (NULL, size 0) and returns
    // the ABI version or an error.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    i32::try_from(rc).unwrap_or(0).max(0)
}

/// Marks every file descriptor from `first` up close-on-exec (`close_range(2)` with
/// `CLOSE_RANGE_CLOEXEC`), so nothing the caller inherited reaches the command.
#[allow(unsafe_code)]
pub fn cloexec_from(first: u32) -> io::Result<()> {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: close_range takes plain integers; marking descriptors close-on-exec frees no
    // memory the process still uses.
    let rc = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, CLOSE_RANGE_CLOEXEC) };
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// Gives SIGPIPE its default action back (the Rust runtime ignores it, and an ignored signal
/// stays ignored across `execve`).
#[allow(unsafe_code)]
pub fn default_sigpipe() -> nix::Result<()> {
    use nix::sys::signal::{SigHandler, Signal, signal};
    // SAFETY: installing SIG_DFL runs no handler code, so no async-signal-safety rule applies.
    unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) }.map(|_| ())
}

/// Ends the process at once (`_exit(2)`): no destructor, no atexit handler, no flush of
/// buffers the parent also holds — what a forked child must do.
#[allow(unsafe_code)]
pub fn exit_now(code: i32) -> ! {
    // SAFETY: `_exit` takes an integer and does not return; skipping destructors is the point.
    unsafe { libc::_exit(code) }
}

/// Sends `fd` over the unix socket `channel` (`SCM_RIGHTS`).
pub fn send_fd(channel: &impl std::os::fd::AsRawFd, fd: &impl std::os::fd::AsRawFd) -> nix::Result<()> {
    use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
    let fds = [fd.as_raw_fd()];
    let iov = [io::IoSlice::new(b"L")];
    sendmsg::<()>(channel.as_raw_fd(), &iov, &[ControlMessage::ScmRights(&fds)], MsgFlags::empty(), None).map(drop)
}

/// Receives one descriptor sent with [`send_fd`]; `None` when the other side closed first.
#[allow(unsafe_code)]
pub fn recv_fd(channel: &impl std::os::fd::AsRawFd) -> nix::Result<Option<std::os::fd::OwnedFd>> {
    use std::os::fd::FromRawFd;

    use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
    let mut byte = [0u8; 1];
    let mut iov = [io::IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(channel.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)?;
    for cmsg in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = cmsg
            && let Some(&fd) = fds.first()
        {
            // SAFETY: the kernel just installed this descriptor in our table for this message;
            // nothing else owns it.
            return Ok(Some(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }));
        }
    }
    Ok(None)
}
