//! Workspace checkpoints: content-addressed, deduplicated snapshots of a workspace, so that
//! whatever an agent does inside it can be undone exactly (bytes, modes, symlinks).
//!
//! Layout under the checkpoint directory (in Holdpoint's state dir, outside every sandbox):
//! `objects/ab/cdef…` holds each distinct file content once, named by its SHA-256;
//! `manifests/00000042.json` lists one snapshot's entries. Both are written to a temporary
//! name, synced and renamed, so a crash leaves either the old state or the new one. A file
//! whose size, mtime, ctime and inode match the previous snapshot of the same workspace is not
//! read again. Files ignored by the workspace's `.gitignore` (build outputs, dependencies) are
//! skipped; `.git` is kept.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::background::Task;

/// Everything that can go wrong with a checkpoint, with the path it happened at.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// Where.
        path: String,
        /// What the OS said.
        source: io::Error,
    },
    /// A manifest that does not parse, or an object whose content does not match its name.
    #[error("checkpoint data is damaged: {0}")]
    Damaged(String),
    /// No checkpoint with this id.
    #[error("there is no checkpoint {0}; `holdpoint checkpoint list` shows the ones there are")]
    NotFound(u64),
    /// The workspace is not a directory.
    #[error("{0} is not a directory")]
    NotADirectory(String),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> CheckpointError + '_ {
    move |source| CheckpointError::Io { path: path.display().to_string(), source }
}

/// One entry of a snapshot, by path relative to the workspace (`/`-separated).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Entry {
    /// A regular file.
    File {
        /// Permission bits (`0o755`).
        mode: u32,
        /// Length in bytes.
        size: u64,
        /// SHA-256 of the content, hex.
        hash: String,
        /// What the file looked like when it was hashed, to skip re-reading it next time.
        #[serde(default)]
        stat: Stat,
    },
    /// A directory.
    Dir {
        /// Permission bits.
        mode: u32,
    },
    /// A symbolic link and what it points at (not followed).
    Symlink {
        /// The link's text.
        target: String,
    },
}

/// The metadata that says a file has not changed since it was hashed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stat {
    mtime: i64,
    mtime_nsec: i64,
    ctime: i64,
    ctime_nsec: i64,
    ino: u64,
    dev: u64,
}

impl Stat {
    fn of(m: &fs::Metadata) -> Stat {
        Stat {
            mtime: m.mtime(),
            mtime_nsec: m.mtime_nsec(),
            ctime: m.ctime(),
            ctime_nsec: m.ctime_nsec(),
            ino: m.ino(),
            dev: m.dev(),
        }
    }
}

/// A snapshot: where it was taken, when, why, and its entries.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version.
    pub v: u32,
    /// Positive, increasing id.
    pub id: u64,
    /// The workspace (absolute path).
    pub workspace: String,
    /// Unix seconds.
    pub created: u64,
    /// Why it was taken (`run started`, `before hold 7 was released`, `before restore of 3`).
    pub reason: String,
    /// Entries by relative path.
    pub entries: BTreeMap<String, Entry>,
    /// Paths that could not be read (e.g. a directory with mode 000): not in the snapshot,
    /// and left alone by a restore.
    #[serde(default)]
    pub unreadable: Vec<String>,
}

/// A snapshot without its entries, for listings.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// Id.
    pub id: u64,
    /// The workspace.
    pub workspace: String,
    /// Unix seconds.
    pub created: u64,
    /// Why it was taken.
    pub reason: String,
    /// Number of files.
    pub files: u64,
    /// Their total size in bytes.
    pub bytes: u64,
    /// Bytes of content this snapshot added to the object store (0 when nothing changed).
    pub new_bytes: u64,
    /// Paths that could not be read, so are not in the snapshot.
    pub unreadable: Vec<String>,
}

/// One difference between a snapshot and the workspace now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Change {
    /// `added` (not in the snapshot), `removed` (only in the snapshot) or `modified`.
    pub change: &'static str,
    /// Relative path.
    pub path: String,
}

/// What a restore did.
#[derive(Clone, Debug, Serialize)]
pub struct Restored {
    /// The snapshot taken of the workspace just before, so the restore can itself be undone.
    pub safety_checkpoint: u64,
    /// Files and links written back.
    pub written: u64,
    /// Paths removed because the snapshot did not have them.
    pub removed: u64,
}

/// The checkpoint store of one state directory.
#[derive(Clone, Debug)]
pub struct Checkpoints {
    dir: PathBuf,
}

impl Checkpoints {
    /// Opens (creating, mode 0700) the checkpoint store in `dir`.
    pub fn open(dir: &Path) -> Result<Checkpoints, CheckpointError> {
        for sub in ["objects", "manifests"] {
            let path = dir.join(sub);
            fs::create_dir_all(&path).map_err(io_err(&path))?;
        }
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io_err(dir))?;
        Ok(Checkpoints { dir: dir.to_owned() })
    }

    /// Snapshots `workspace` now.
    pub fn snapshot(&self, workspace: &Path, reason: &str, now: u64) -> Result<Summary, CheckpointError> {
        self.prepare(workspace, reason, now)?.commit()
    }

    /// Snapshots `workspace` now, all but the waits for the disk: the objects are stored and
    /// the manifest written under a temporary name; [`Pending::commit`] makes them durable and
    /// gives the manifest its name. Until then the snapshot is not listed, and dropping the
    /// [`Pending`] discards it.
    pub fn prepare(&self, workspace: &Path, reason: &str, now: u64) -> Result<Pending, CheckpointError> {
        let workspace = canonical_dir(workspace)?;
        let ids = self.ids()?;
        let previous = self.latest_among(&ids, &workspace)?;
        let previous = previous.as_ref().map(|m| &m.entries);
        let mut new_bytes = 0u64;
        let mut serial = 0u64;
        let (entries, unreadable) =
            scan(&workspace, previous, &mut |path| self.ingest(path, &mut serial, &mut new_bytes))?;
        // Objects reach the disk before the manifest that names them. When every file kept the
        // hash the previous manifest gave it, every object named was synced before that one.
        let objects = self.dir.join("objects");
        let objects = match serial {
            0 => None,
            _ => Some(File::open(&objects).map_err(io_err(&objects))?),
        };
        let id = ids.last().map_or(1, |last| last.saturating_add(1));
        let manifest = Manifest {
            v: 1,
            id,
            workspace: workspace.display().to_string(),
            created: now,
            reason: reason.to_owned(),
            entries,
            unreadable,
        };
        let mut pending = self.write_manifest(&manifest)?;
        pending.objects = objects;
        pending.summary.new_bytes = new_bytes;
        Ok(pending)
    }

    /// Every snapshot, oldest first.
    pub fn list(&self) -> Result<Vec<Summary>, CheckpointError> {
        self.ids()?.into_iter().map(|id| self.load(id).map(|m| summary(&m))).collect()
    }

    /// One snapshot with its entries.
    pub fn load(&self, id: u64) -> Result<Manifest, CheckpointError> {
        let path = self.manifest_path(id);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(CheckpointError::NotFound(id)),
            Err(e) => return Err(io_err(&path)(e)),
        };
        let m: Manifest =
            serde_json::from_str(&text).map_err(|e| CheckpointError::Damaged(format!("{}: {e}", path.display())))?;
        if m.id != id {
            return Err(CheckpointError::Damaged(format!("{} names checkpoint {}", path.display(), m.id)));
        }
        Ok(m)
    }

    /// What changed in the snapshot's workspace since snapshot `id`.
    pub fn diff(&self, id: u64) -> Result<Vec<Change>, CheckpointError> {
        let m = self.load(id)?;
        let workspace = canonical_dir(Path::new(&m.workspace))?;
        let latest = self.latest_for(&workspace)?;
        let cache = latest.as_ref().map(|l| &l.entries);
        let (now, _) = scan(&workspace, cache, &mut |path| hash_file(path))?;
        Ok(changes(&m.entries, &now))
    }

    /// Makes the workspace exactly what snapshot `id` recorded: every file's bytes and mode,
    /// every symlink, every directory; paths the snapshot did not have are removed (ignored
    /// files are left alone). A snapshot of the workspace is taken first, so a restore can be
    /// undone too.
    pub fn restore(&self, id: u64, now: u64) -> Result<Restored, CheckpointError> {
        let m = self.load(id)?;
        let workspace = canonical_dir(Path::new(&m.workspace))?;
        // Check every object before touching the workspace.
        for entry in m.entries.values() {
            if let Entry::File { hash, size, .. } = entry {
                let path = self.object_path(hash)?;
                if fs::metadata(&path).map(|m| m.len()).ok() != Some(*size) {
                    return Err(CheckpointError::Damaged(format!(
                        "object {hash} of checkpoint {id} is missing or damaged"
                    )));
                }
            }
        }
        let safety = self.snapshot(&workspace, &format!("before restore of checkpoint {id}"), now)?;
        let current = self.load(safety.id)?.entries;
        let mut written = 0u64;
        let mut removed = 0u64;
        // Nothing may be written through a symlink: an ignored link (not removed below) where
        // the snapshot has a directory would lead the restore outside the workspace. Checked
        // before anything changes.
        for rel in m.entries.keys() {
            let mut at = workspace.clone();
            let mut at_rel = PathBuf::new();
            for part in Path::new(rel).parent().into_iter().flat_map(Path::components) {
                at.push(part);
                at_rel.push(part);
                let kept = !at_rel.to_str().is_some_and(|r| current.contains_key(r));
                if kept && fs::symlink_metadata(&at).is_ok_and(|meta| meta.file_type().is_symlink()) {
                    return Err(CheckpointError::Io {
                        path: at.display().to_string(),
                        source: io::Error::other(
                            "is a symlink where the checkpoint has a directory, so the restore would write through \
                             it; move it away and restore again",
                        ),
                    });
                }
            }
        }
        // Remove what the snapshot does not have (or has as another kind), deepest first.
        for (rel, entry) in current.iter().rev() {
            let keep = matches!(
                (m.entries.get(rel), entry),
                (Some(Entry::Dir { .. }), Entry::Dir { .. })
                    | (Some(Entry::File { .. }), Entry::File { .. })
                    | (Some(Entry::Symlink { .. }), Entry::Symlink { .. })
            );
            if !keep {
                let path = workspace.join(rel);
                let result =
                    if matches!(entry, Entry::Dir { .. }) { fs::remove_dir_all(&path) } else { fs::remove_file(&path) };
                match result {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_err(&path)(e)),
                }
            }
        }
        // Directories first (writable while we fill them), then files and links.
        for (rel, entry) in &m.entries {
            if let Entry::Dir { .. } = entry {
                let path = workspace.join(rel);
                fs::create_dir_all(&path).map_err(io_err(&path))?;
                fs::set_permissions(&path, fs::Permissions::from_mode(0o700)).map_err(io_err(&path))?;
            }
        }
        for (rel, entry) in &m.entries {
            let path = workspace.join(rel);
            match entry {
                Entry::Dir { .. } => {}
                Entry::File { mode, hash, .. } => {
                    let same = matches!(current.get(rel), Some(Entry::File { hash: h, mode: md, .. }) if h == hash && md == mode);
                    if !same {
                        self.write_back(&path, hash, *mode)?;
                        written += 1;
                    }
                }
                Entry::Symlink { target } => {
                    let same = matches!(current.get(rel), Some(Entry::Symlink { target: t }) if t == target);
                    if !same {
                        let tmp = temp_name(&path);
                        symlink(target, &tmp).map_err(io_err(&tmp))?;
                        fs::rename(&tmp, &path).map_err(io_err(&path))?;
                        written += 1;
                    }
                }
            }
        }
        // Directory modes last, deepest first, so a read-only directory is filled before it
        // becomes read-only.
        for (rel, entry) in m.entries.iter().rev() {
            if let Entry::Dir { mode } = entry {
                let path = workspace.join(rel);
                fs::set_permissions(&path, fs::Permissions::from_mode(*mode)).map_err(io_err(&path))?;
            }
        }
        Ok(Restored { safety_checkpoint: safety.id, written, removed })
    }

    fn write_back(&self, path: &Path, hash: &str, mode: u32) -> Result<(), CheckpointError> {
        let object = self.object_path(hash)?;
        let tmp = temp_name(path);
        let result = (|| {
            fs::copy(&object, &tmp).map_err(io_err(&tmp))?;
            fs::set_permissions(&tmp, fs::Permissions::from_mode(mode)).map_err(io_err(&tmp))?;
            fs::rename(&tmp, path).map_err(io_err(path))
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// Copies a file's content into the object store, hashing it on the way (one read),
    /// and files it under its hash unless that content is there already; returns the hash.
    fn ingest(&self, source: &Path, serial: &mut u64, new_bytes: &mut u64) -> Result<String, CheckpointError> {
        *serial += 1;
        let tmp = self.dir.join("objects").join(format!(".tmp-{}-{serial}", std::process::id()));
        let result = (|| {
            let mut input = File::open(source).map_err(io_err(source))?;
            let mut output = File::create(&tmp).map_err(io_err(&tmp))?;
            let (copied, hash) = copy_hashing(&mut input, &mut output).map_err(io_err(source))?;
            drop(output);
            let object = self.object_path(&hash)?;
            if object.exists() {
                fs::remove_file(&tmp).map_err(io_err(&tmp))?;
                return Ok(hash);
            }
            let parent = object.parent().unwrap_or(&self.dir);
            fs::create_dir_all(parent).map_err(io_err(parent))?;
            fs::set_permissions(&tmp, fs::Permissions::from_mode(0o400)).map_err(io_err(&tmp))?;
            fs::rename(&tmp, &object).map_err(io_err(&object))?;
            *new_bytes = new_bytes.saturating_add(copied);
            Ok(hash)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    fn object_path(&self, hash: &str) -> Result<PathBuf, CheckpointError> {
        let valid = hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        match (valid, hash.get(..2), hash.get(2..)) {
            (true, Some(head), Some(tail)) => Ok(self.dir.join("objects").join(head).join(tail)),
            _ => Err(CheckpointError::Damaged(format!("{hash:?} is not a content hash"))),
        }
    }

    fn manifest_path(&self, id: u64) -> PathBuf {
        self.dir.join("manifests").join(format!("{id:08}.json"))
    }

    /// Writes the manifest under its temporary name; the [`Pending`] renames it.
    fn write_manifest(&self, m: &Manifest) -> Result<Pending, CheckpointError> {
        let path = self.manifest_path(m.id);
        let tmp = temp_name(&path);
        let dir = self.dir.join("manifests");
        let text = serde_json::to_vec(m).map_err(|e| CheckpointError::Damaged(e.to_string()))?;
        let file = File::create(&tmp).map_err(io_err(&tmp))?;
        let pending = Pending {
            summary: summary(m),
            tmp,
            path,
            file,
            dir: File::open(&dir).map_err(io_err(&dir))?,
            objects: None,
            open: true,
        };
        // From here on, a failure drops the Pending, which removes the temporary file.
        let mut file = &pending.file;
        file.write_all(&text).map_err(io_err(&pending.tmp))?;
        Ok(pending)
    }

    fn ids(&self) -> Result<Vec<u64>, CheckpointError> {
        let dir = self.dir.join("manifests");
        let mut ids: Vec<u64> = fs::read_dir(&dir)
            .map_err(io_err(&dir))?
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().to_str()?.strip_suffix(".json")?.parse().ok())
            .collect();
        ids.sort_unstable();
        Ok(ids)
    }

    fn latest_for(&self, workspace: &Path) -> Result<Option<Manifest>, CheckpointError> {
        self.latest_among(&self.ids()?, workspace)
    }

    /// The newest of the snapshots `ids` (ascending) taken of `workspace`.
    fn latest_among(&self, ids: &[u64], workspace: &Path) -> Result<Option<Manifest>, CheckpointError> {
        let want = workspace.display().to_string();
        for &id in ids.iter().rev() {
            let m = self.load(id)?;
            if m.workspace == want {
                return Ok(Some(m));
            }
        }
        Ok(None)
    }
}

/// A snapshot whose objects and manifest are written but not yet durable, its manifest still
/// under a temporary name (see [`Checkpoints::prepare`]).
#[derive(Debug)]
pub struct Pending {
    summary: Summary,
    tmp: PathBuf,
    path: PathBuf,
    file: File,
    dir: File,
    /// The object directory, when objects were stored that must be synced first.
    objects: Option<File>,
    /// Whether the temporary file is still this value's to commit or remove.
    open: bool,
}

impl Pending {
    /// The snapshot, as it will be listed once committed.
    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    /// Makes the snapshot durable and listed: the new objects and the manifest reach the disk,
    /// then the manifest gets its name (a crash leaves either no snapshot or the whole one).
    pub fn commit(mut self) -> Result<Summary, CheckpointError> {
        self.durable()?;
        self.open = false;
        Ok(self.summary.clone())
    }

    /// [`Pending::commit`] in a forked child while the caller goes on (see
    /// [`crate::background`]); [`Committing::wait`] gives the outcome.
    pub fn commit_in_background(mut self) -> Committing {
        let summary = self.summary.clone();
        // The temporary file is the task's now: it commits it or removes it.
        self.open = false;
        let task = Task::start(|| {
            self.durable().map(|()| Vec::new()).map_err(|e| {
                let _ = fs::remove_file(&self.tmp);
                e.to_string()
            })
        });
        Committing { summary, task }
    }

    fn durable(&self) -> Result<(), CheckpointError> {
        if let Some(objects) = &self.objects {
            let dir = self.dir_path("objects");
            nix::unistd::syncfs(objects).map_err(|e| io_err(&dir)(io::Error::from(e)))?;
        }
        self.file.sync_all().map_err(io_err(&self.tmp))?;
        fs::rename(&self.tmp, &self.path).map_err(io_err(&self.path))?;
        self.dir.sync_all().map_err(io_err(&self.dir_path("manifests")))
    }

    fn dir_path(&self, name: &str) -> PathBuf {
        self.path.parent().and_then(Path::parent).unwrap_or(Path::new("/")).join(name)
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if self.open {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// A snapshot being committed (see [`Pending::commit_in_background`]).
#[derive(Debug)]
pub struct Committing {
    summary: Summary,
    task: Task,
}

impl Committing {
    /// Waits until the snapshot is durable and listed; its summary, or why it is not.
    pub fn wait(self) -> Result<Summary, CheckpointError> {
        match self.task.wait() {
            Ok(_) => Ok(self.summary),
            Err(why) => Err(CheckpointError::Io { path: self.summary.workspace, source: io::Error::other(why) }),
        }
    }
}

fn canonical_dir(path: &Path) -> Result<PathBuf, CheckpointError> {
    let dir = fs::canonicalize(path).map_err(io_err(path))?;
    if dir.is_dir() { Ok(dir) } else { Err(CheckpointError::NotADirectory(dir.display().to_string())) }
}

fn summary(m: &Manifest) -> Summary {
    let (files, bytes) = m.entries.values().fold((0u64, 0u64), |(n, b), e| match e {
        Entry::File { size, .. } => (n + 1, b.saturating_add(*size)),
        _ => (n, b),
    });
    Summary {
        id: m.id,
        workspace: m.workspace.clone(),
        created: m.created,
        reason: m.reason.clone(),
        files,
        bytes,
        new_bytes: 0,
        unreadable: m.unreadable.clone(),
    }
}

fn temp_name(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.hp-tmp-{}", std::process::id()))
}

/// Walks the workspace (skipping what its ignore files ignore, keeping `.git`); a file whose
/// metadata matches `previous` keeps its hash, any other is given to `hash_of`. Returns the
/// entries and the paths that could not be read for lack of permission.
fn scan(
    workspace: &Path,
    previous: Option<&BTreeMap<String, Entry>>,
    hash_of: &mut dyn FnMut(&Path) -> Result<String, CheckpointError>,
) -> Result<(BTreeMap<String, Entry>, Vec<String>), CheckpointError> {
    let mut entries = BTreeMap::new();
    let mut unreadable = Vec::new();
    let walker = ignore::WalkBuilder::new(workspace)
        .hidden(false)
        .parents(false)
        .git_global(false)
        .git_exclude(true)
        .require_git(false)
        .follow_links(false)
        .sort_by_file_name(|a, b| a.cmp(b))
        .build();
    for item in walker {
        let item = match item {
            Ok(item) => item,
            Err(e) if e.io_error().is_some_and(|io| io.kind() == io::ErrorKind::PermissionDenied) => {
                unreadable.push(denied_path(&e, workspace));
                continue;
            }
            Err(e) => {
                return Err(CheckpointError::Io {
                    path: workspace.display().to_string(),
                    source: io::Error::other(e.to_string()),
                });
            }
        };
        let path = item.path();
        let Ok(rel) = path.strip_prefix(workspace) else { continue };
        if rel.as_os_str().is_empty() {
            continue;
        }
        let Some(rel) = rel.to_str().map(str::to_owned) else {
            return Err(CheckpointError::Io {
                path: path.display().to_string(),
                source: io::Error::other("the name is not UTF-8, so it cannot be checkpointed"),
            });
        };
        let meta = fs::symlink_metadata(path).map_err(io_err(path))?;
        let mode = meta.permissions().mode() & 0o7777;
        let ft = meta.file_type();
        let entry = if ft.is_symlink() {
            let target = fs::read_link(path).map_err(io_err(path))?;
            Entry::Symlink { target: target.display().to_string() }
        } else if ft.is_dir() {
            Entry::Dir { mode }
        } else if ft.is_file() {
            let stat = Stat::of(&meta);
            let known = match previous.and_then(|p| p.get(&rel)) {
                Some(Entry::File { size, hash, stat: s, .. }) if *size == meta.len() && *s == stat => {
                    Some(hash.clone())
                }
                _ => None,
            };
            let hash = match known {
                Some(h) => h,
                None => match hash_of(path) {
                    Ok(h) => h,
                    Err(CheckpointError::Io { source, .. }) if source.kind() == io::ErrorKind::PermissionDenied => {
                        unreadable.push(rel);
                        continue;
                    }
                    Err(e) => return Err(e),
                },
            };
            Entry::File { mode, size: meta.len(), hash, stat }
        } else {
            continue; // sockets, fifos and devices are not content
        };
        entries.insert(rel, entry);
    }
    Ok((entries, unreadable))
}

/// The workspace-relative path an unreadable-entry error is about.
fn denied_path(e: &ignore::Error, workspace: &Path) -> String {
    fn path_of(e: &ignore::Error) -> Option<&Path> {
        match e {
            ignore::Error::WithPath { path, .. } => Some(path),
            ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => path_of(err),
            _ => None,
        }
    }
    path_of(e).map(|p| p.strip_prefix(workspace).unwrap_or(p).display().to_string()).unwrap_or_else(|| e.to_string())
}

fn hash_file(path: &Path) -> Result<String, CheckpointError> {
    let mut file = File::open(path).map_err(io_err(path))?;
    let (_, hash) = copy_hashing(&mut file, &mut io::sink()).map_err(io_err(path))?;
    Ok(hash)
}

fn copy_hashing(input: &mut impl Read, output: &mut impl Write) -> io::Result<(u64, String)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = input.read(&mut buf)?;
        if n == 0 {
            break;
        }
        let chunk = buf.get(..n).unwrap_or_default();
        hasher.update(chunk);
        output.write_all(chunk)?;
        total += n as u64;
    }
    Ok((total, hex(&hasher.finalize())))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn changes(then: &BTreeMap<String, Entry>, now: &BTreeMap<String, Entry>) -> Vec<Change> {
    let paths: BTreeSet<&String> = then.keys().chain(now.keys()).collect();
    paths
        .into_iter()
        .filter_map(|p| {
            let change = match (then.get(p), now.get(p)) {
                (None, Some(_)) => "added",
                (Some(_), None) => "removed",
                (Some(Entry::Dir { mode: a }), Some(Entry::Dir { mode: b })) if a == b => return None,
                (Some(Entry::File { hash: a, mode: ma, .. }), Some(Entry::File { hash: b, mode: mb, .. }))
                    if a == b && ma == mb =>
                {
                    return None;
                }
                (Some(Entry::Symlink { target: a }), Some(Entry::Symlink { target: b })) if a == b => return None,
                _ => "modified",
            };
            Some(Change { change, path: p.clone() })
        })
        .collect()
}
