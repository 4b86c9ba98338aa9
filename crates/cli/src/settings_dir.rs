//! The temp dir a `holdpoint run` writes the agents' hook settings into, and the sweep of those
//! that killed runs left behind.
//!
//! A run holds an exclusive `flock` on the dir's `.lock` for as long as it lives; the kernel
//! drops the lock when the last holder exits, however it ends. The next run of the same user
//! removes every such dir whose lock it can take: nobody is using it any more.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};

/// What the dirs' names start with, in the temp directory.
pub const PREFIX: &str = "holdpoint-run-";
/// A dir's name until its lock is held: a sweep never takes a dir whose maker has not locked it
/// yet, because it only looks at dirs named with [`PREFIX`] for locks.
const MAKING: &str = ".holdpoint-run-making-";
const LOCK: &str = ".lock";
/// A dir whose lock cannot be looked at (one being made, or made by an older version without
/// a lock file) is left alone until it is this old.
const GRACE: Duration = Duration::from_secs(600);

/// A run's settings dir: removed when dropped (a normal end), swept by a later run otherwise.
pub struct SettingsDir {
    path: PathBuf,
    _lock: File,
}

impl SettingsDir {
    /// Makes a new dir in the temp directory, locks it, and removes the stale ones of this
    /// user.
    pub fn new() -> Result<Self> {
        let making = tempfile::Builder::new()
            .prefix(MAKING)
            .tempdir()
            .context("cannot make a temp dir for the sandbox's agent settings")?;
        let lock_path = making.path().join(LOCK);
        let lock = File::create(&lock_path).with_context(|| format!("cannot create {}", lock_path.display()))?;
        lock.try_lock().with_context(|| format!("cannot lock {}", lock_path.display()))?;
        let parent = making.path().parent().map(Path::to_path_buf).unwrap_or_else(std::env::temp_dir);
        let name = making.path().file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let path = parent.join(name.replacen(MAKING, PREFIX, 1));
        std::fs::rename(making.path(), &path)
            .with_context(|| format!("cannot rename a temp dir to {}", path.display()))?;
        // From here it is ours to remove.
        let _ = making.keep();
        let made = Self { path, _lock: lock };
        // A sweep that fails leaves litter, never stops the run.
        if let Ok(uid) = made.path.metadata().map(|m| m.uid()) {
            sweep(&parent, uid, &made.path);
        }
        Ok(made)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SettingsDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Removes the settings dirs in `parent` that `uid` owns, other than `keep`, whose run has
/// ended; returns those it removed.
pub fn sweep(parent: &Path, uid: u32, keep: &Path) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    let Ok(entries) = std::fs::read_dir(parent) else { return removed };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let made = name.starts_with(PREFIX);
        if !(made || name.starts_with(MAKING)) || path == keep {
            continue;
        }
        // Not followed: a link or another user's dir is never touched.
        let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
        if !meta.is_dir() || meta.uid() != uid {
            continue;
        }
        if ended(&path, made, &meta) && std::fs::remove_dir_all(&path).is_ok() {
            removed.push(path);
        }
    }
    removed
}

/// Whether the run that made `dir` has ended: its lock can be taken (and is let go at once),
/// or, when there is no lock to look at, it is older than the grace time.
fn ended(dir: &Path, made: bool, meta: &std::fs::Metadata) -> bool {
    let old =
        || meta.modified().ok().and_then(|m| SystemTime::now().duration_since(m).ok()).is_some_and(|age| age > GRACE);
    if !made {
        return old();
    }
    match File::open(dir.join(LOCK)) {
        Ok(lock) => lock.try_lock().is_ok(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => old(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uid(path: &Path) -> u32 {
        path.metadata().unwrap().uid()
    }

    #[test]
    fn a_locked_dir_stays_and_an_unlocked_one_goes() {
        let parent = tempfile::tempdir().unwrap();
        let at = |name: &str| parent.path().join(name);
        let (live, dead) = (at(&format!("{PREFIX}live")), at(&format!("{PREFIX}dead")));
        let (fresh, old) = (at(&format!("{PREFIX}fresh-without-lock")), at(&format!("{PREFIX}old-without-lock")));
        let (making, other) = (at(&format!("{MAKING}1")), at("something-else"));
        for dir in [&live, &dead, &fresh, &old, &making, &other] {
            std::fs::create_dir(dir).unwrap();
        }
        let held = File::create(live.join(LOCK)).unwrap();
        held.try_lock().unwrap();
        std::fs::write(dead.join(LOCK), "").unwrap();
        std::fs::write(dead.join("claude.json"), "{}").unwrap();
        let long_ago = SystemTime::now() - GRACE - Duration::from_secs(60);
        File::open(&old).unwrap().set_modified(long_ago).unwrap();

        let mut removed = sweep(parent.path(), uid(parent.path()), Path::new("/nonexistent"));
        removed.sort();
        assert_eq!(removed, vec![dead.clone(), old.clone()]);
        assert!(live.is_dir() && fresh.is_dir() && making.is_dir() && other.is_dir());

        drop(held);
        let removed = sweep(parent.path(), uid(parent.path()), &fresh);
        assert_eq!(removed, vec![live.clone()], "once its holder is gone the dir is stale");
        assert!(fresh.is_dir() && making.is_dir() && other.is_dir());
    }

    #[test]
    fn another_users_dir_and_links_are_not_touched() {
        let parent = tempfile::tempdir().unwrap();
        let target = tempfile::tempdir().unwrap();
        std::fs::write(target.path().join("keep"), "").unwrap();
        let link = parent.path().join(format!("{PREFIX}link"));
        std::os::unix::fs::symlink(target.path(), &link).unwrap();
        let dir = parent.path().join(format!("{PREFIX}dir"));
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join(LOCK), "").unwrap();

        let someone_else = uid(parent.path()).wrapping_add(1);
        assert!(sweep(parent.path(), someone_else, Path::new("/nonexistent")).is_empty());
        assert!(dir.is_dir());
        let removed = sweep(parent.path(), uid(parent.path()), Path::new("/nonexistent"));
        assert_eq!(removed, vec![dir]);
        assert!(target.path().join("keep").exists(), "a link is never followed");
    }

    #[test]
    fn a_new_dir_is_locked_and_removed_when_dropped() {
        let made = SettingsDir::new().unwrap();
        let path = made.path().to_path_buf();
        let parent = path.parent().unwrap();
        let mine = sweep(parent, uid(&path), Path::new("/nonexistent"));
        assert!(!mine.contains(&path) && path.is_dir(), "a live run's dir is never swept");
        drop(made);
        assert!(!path.exists());
    }
}
