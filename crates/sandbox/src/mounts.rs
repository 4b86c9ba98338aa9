//! Building the new root from a [`Layout`], in the sandbox's own mount namespace.
//!
//! As bubblewrap does: a tmpfs is mounted on `/tmp` and made the root with `pivot_root`, so
//! the host's root is reachable at `/oldroot` while the new root is assembled at `/newroot`
//! from `/oldroot/<path>`; then the old root is detached and `/newroot` becomes `/`, read-only.

use std::io::IsTerminal;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sys::statfs::{TMPFS_MAGIC, statfs};
use nix::unistd::{chdir, pivot_root};

use crate::layout::{Entry, Layout};
use crate::sys;

const BASE: &str = "/tmp";
const OLD: &str = "/oldroot";
const NEW: &str = "/newroot";

type Result<T> = std::result::Result<T, String>;

fn fail(what: impl std::fmt::Display, path: &Path, e: impl std::fmt::Display) -> String {
    format!("{what} {}: {e}", path.display())
}

/// `path` (absolute) under `root`.
fn under(root: &str, path: &Path) -> PathBuf {
    Path::new(root).join(path.strip_prefix("/").unwrap_or(path))
}

fn tmpfs(target: &Path, mode: u32, flags: MsFlags) -> Result<()> {
    let data = format!("mode={mode:o}");
    mount(Some("tmpfs"), target, Some("tmpfs"), flags | MsFlags::MS_NOSUID | MsFlags::MS_NODEV, Some(data.as_str()))
        .map_err(|e| fail("mount tmpfs on", target, e))
}

/// Builds the new root and makes it `/`. Runs as pid 1 of the sandbox, after
/// `unshare(CLONE_NEWNS)`.
pub fn build(layout: &Layout) -> Result<()> {
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>)
        .map_err(|e| format!("make the mounts private: {e}"))?;
    let base = Path::new(BASE);
    tmpfs(base, 0o755, MsFlags::empty())?;
    for dir in ["newroot", "oldroot", "overlays"] {
        std::fs::create_dir(base.join(dir)).map_err(|e| fail("create", &base.join(dir), e))?;
    }
    chdir(base).map_err(|e| fail("chdir", base, e))?;
    pivot_root(".", "oldroot").map_err(|e| format!("pivot_root into the staging tmpfs: {e}"))?;
    chdir("/").map_err(|e| format!("chdir /: {e}"))?;
    tmpfs(Path::new(NEW), 0o755, MsFlags::empty())?;

    let mut overlays = 0usize;
    for entry in &layout.entries {
        apply(entry, &mut overlays)?;
    }

    // Detach the host's root, then make /newroot the root.
    umount2(OLD, MntFlags::MNT_DETACH).map_err(|e| format!("detach the host's root: {e}"))?;
    chdir(NEW).map_err(|e| format!("chdir {NEW}: {e}"))?;
    pivot_root(".", ".").map_err(|e| format!("pivot_root into the new root: {e}"))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(|e| format!("detach the staging root: {e}"))?;
    chdir("/").map_err(|e| format!("chdir /: {e}"))?;
    // Nothing can be created outside the shown writable trees.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        None::<&str>,
    )
    .map_err(|e| format!("make the new root read-only: {e}"))?;
    Ok(())
}

fn apply(entry: &Entry, overlays: &mut usize) -> Result<()> {
    match entry {
        Entry::Bind { source, path, writable } => bind(&under(OLD, source), &under(NEW, path), *writable),
        Entry::Overlay { source, path } => {
            *overlays += 1;
            overlay(source, path, *overlays)
        }
        Entry::Tmpfs { path, mode } => {
            let target = under(NEW, path);
            mountpoint(&target, true)?;
            tmpfs(&target, *mode, MsFlags::empty())
        }
        Entry::Cover { path, dir } => cover(&under(NEW, path), *dir),
        Entry::Symlink { path, target } => {
            let link = under(NEW, path);
            parents(&link)?;
            std::os::unix::fs::symlink(target, &link).map_err(|e| fail("symlink", &link, e))
        }
        Entry::File { path, contents } => {
            let file = under(NEW, path);
            parents(&file)?;
            std::fs::write(&file, contents).map_err(|e| fail("write", &file, e))?;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o444)).map_err(|e| fail("chmod", &file, e))
        }
        Entry::Dev => dev(),
        Entry::Proc => proc(),
    }
}

/// Creates the missing parents of `path`, only ever on the sandbox's own tmpfs mounts: a
/// missing directory on a host-backed mount is an error, never created on the host.
fn parents(path: &Path) -> Result<()> {
    let Some(parent) = path.parent() else { return Ok(()) };
    if parent.is_dir() {
        return Ok(());
    }
    parents(parent)?;
    let grand = parent.parent().unwrap_or(Path::new("/"));
    let on_tmpfs = statfs(grand).map(|s| s.filesystem_type() == TMPFS_MAGIC).unwrap_or(false);
    if !on_tmpfs {
        return Err(fail("refusing to create a mount point on the host at", parent, "its parent is not the sandbox's"));
    }
    std::fs::DirBuilder::new().mode(0o755).create(parent).map_err(|e| fail("create", parent, e))
}

/// Makes sure a mount point of the right kind exists at `path`.
fn mountpoint(path: &Path, dir: bool) -> Result<()> {
    if let Ok(m) = std::fs::symlink_metadata(path) {
        if m.is_dir() == dir && !m.file_type().is_symlink() {
            return Ok(());
        }
        return Err(fail(
            "the mount point has the wrong kind:",
            path,
            if dir { "not a directory" } else { "a directory" },
        ));
    }
    parents(path)?;
    if dir {
        std::fs::DirBuilder::new().mode(0o755).create(path).map_err(|e| fail("create", path, e))
    } else {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o444)
            .open(path)
            .map(drop)
            .map_err(|e| fail("create", path, e))
    }
}

fn bind(source: &Path, target: &Path, writable: bool) -> Result<()> {
    let meta = std::fs::metadata(source).map_err(|e| fail("look at", source, e))?;
    mountpoint(target, meta.is_dir())?;
    mount(Some(source), target, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
        .map_err(|e| fail("bind", target, e))?;
    restrict(target, writable)
}

/// nosuid and nodev on the mount and everything below it, and read-only unless `writable`.
fn restrict(target: &Path, writable: bool) -> Result<()> {
    let mut set = sys::MOUNT_ATTR_NOSUID | sys::MOUNT_ATTR_NODEV;
    if !writable {
        set |= sys::MOUNT_ATTR_RDONLY;
    }
    match sys::mount_setattr(target, true, set, 0) {
        Ok(()) => Ok(()),
        // Before Linux 5.12: the top mount only, keeping the flags the kernel locked.
        Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
            let mut flags = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
            if !writable {
                flags |= MsFlags::MS_RDONLY;
            }
            if let Ok(s) = nix::sys::statvfs::statvfs(target)
                && s.flags().contains(nix::sys::statvfs::FsFlags::ST_NOEXEC)
            {
                flags |= MsFlags::MS_NOEXEC;
            }
            mount(None::<&str>, target, None::<&str>, flags, None::<&str>).map_err(|e| fail("remount", target, e))
        }
        Err(e) => Err(fail("restrict", target, e)),
    }
}

/// An overlay of the host directory with an in-memory upper layer; a read-only bind when the
/// kernel refuses the overlay (or the path cannot be given to it).
fn overlay(source: &Path, path: &Path, n: usize) -> Result<()> {
    let lower = under(OLD, source);
    let target = under(NEW, path);
    let scratch = Path::new("/overlays").join(n.to_string());
    let plain = lower.to_str().filter(|s| !s.contains([',', ':', '\\']));
    let attempt = |lower: &str| -> Result<()> {
        std::fs::create_dir(&scratch).map_err(|e| fail("create", &scratch, e))?;
        tmpfs(&scratch, 0o755, MsFlags::empty())?;
        for d in ["upper", "work"] {
            std::fs::create_dir(scratch.join(d)).map_err(|e| fail("create", &scratch.join(d), e))?;
        }
        mountpoint(&target, true)?;
        let data = format!(
            "lowerdir={lower},upperdir={},workdir={},userxattr",
            scratch.join("upper").display(),
            scratch.join("work").display()
        );
        mount(Some("overlay"), &target, Some("overlay"), MsFlags::MS_NOSUID | MsFlags::MS_NODEV, Some(data.as_str()))
            .map_err(|e| fail("mount overlay on", &target, e))
    };
    match plain.map(attempt) {
        Some(Ok(())) => Ok(()),
        _ => bind(&lower, &target, false),
    }
}

/// An empty, read-only, mode-0 directory or file over `target`.
fn cover(target: &Path, dir: bool) -> Result<()> {
    if dir {
        mountpoint(target, true)?;
        tmpfs(target, 0o000, MsFlags::MS_RDONLY)
    } else {
        let empty = Path::new("/overlays/empty");
        if !empty.exists() {
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o000)
                .open(empty)
                .map(drop)
                .map_err(|e| fail("create", empty, e))?;
        }
        mountpoint(target, false)?;
        mount(Some(empty), target, None::<&str>, MsFlags::MS_BIND, None::<&str>)
            .map_err(|e| fail("cover", target, e))?;
        restrict(target, false)
    }
}

fn dev() -> Result<()> {
    let dev = under(NEW, Path::new("/dev"));
    mountpoint(&dev, true)?;
    tmpfs(&dev, 0o755, MsFlags::MS_NOEXEC)?;
    for node in ["null", "zero", "full", "random", "urandom", "tty"] {
        let source = Path::new(OLD).join("dev").join(node);
        if source.exists() {
            let target = dev.join(node);
            mountpoint(&target, false)?;
            mount(Some(&source), &target, None::<&str>, MsFlags::MS_BIND, None::<&str>)
                .map_err(|e| fail("bind", &target, e))?;
        }
    }
    // The terminal the command was started on (a host pts the new devpts does not hold),
    // shown as /dev/console so ttyname() finds it; the host's other terminals stay out.
    let terminal = [0, 1, 2].into_iter().find(|fd| match fd {
        0 => std::io::stdin().is_terminal(),
        1 => std::io::stdout().is_terminal(),
        _ => std::io::stderr().is_terminal(),
    });
    // The descriptor's own mount belongs to the host's namespace: bind the copy at its path.
    let source = terminal
        .and_then(|fd| std::fs::read_link(format!("{OLD}/proc/self/fd/{fd}")).ok())
        .filter(|p| p.starts_with("/dev/"))
        .map(|p| under(OLD, &p))
        .filter(|p| p.exists());
    if let Some(source) = source {
        let target = dev.join("console");
        mountpoint(&target, false)?;
        mount(Some(&source), &target, None::<&str>, MsFlags::MS_BIND, None::<&str>)
            .map_err(|e| fail("bind the terminal to", &target, e))?;
    }
    let pts = dev.join("pts");
    mountpoint(&pts, true)?;
    mount(
        Some("devpts"),
        &pts,
        Some("devpts"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=620"),
    )
    .map_err(|e| fail("mount devpts on", &pts, e))?;
    let shm = dev.join("shm");
    mountpoint(&shm, true)?;
    tmpfs(&shm, 0o1777, MsFlags::MS_NOEXEC)?;
    for (link, target) in [
        ("ptmx", "pts/ptmx"),
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        let link = dev.join(link);
        std::os::unix::fs::symlink(target, &link).map_err(|e| fail("symlink", &link, e))?;
    }
    Ok(())
}

/// Kernel knobs a root-mapped process without capabilities could still write through
/// permission bits alone (sysrq, sysctls): read-only.
const PROC_READ_ONLY: &[&str] = &["sys", "sysrq-trigger", "irq", "bus", "fs"];
/// The kernel keyrings' descriptions: covered (the rest of /proc that tells the kernel's secrets
/// needs capabilities the command does not have).
const PROC_COVERED: &[&str] = &["keys", "key-users"];

fn proc() -> Result<()> {
    let proc = under(NEW, Path::new("/proc"));
    mountpoint(&proc, true)?;
    mount(Some("proc"), &proc, Some("proc"), MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC, None::<&str>)
        .map_err(|e| fail("mount proc on", &proc, e))?;
    for name in PROC_READ_ONLY {
        let path = proc.join(name);
        if path.exists() {
            mount(Some(&path), &path, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
                .map_err(|e| fail("bind", &path, e))?;
            restrict(&path, false)?;
        }
    }
    for name in PROC_COVERED {
        let path = proc.join(name);
        if let Ok(m) = std::fs::symlink_metadata(&path) {
            cover(&path, m.is_dir())?;
        }
    }
    Ok(())
}
