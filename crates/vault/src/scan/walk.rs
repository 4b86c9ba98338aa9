//! The parallel walk: every regular file under the given paths (hidden ones included,
//! symlinks not followed, ignore files honoured only when asked), binaries and files over the
//! size limit skipped, unreadable ones counted.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use ignore::{WalkBuilder, WalkState};
use serde::Serialize;

use super::detect::{Scanner, Text};
use super::{Detector, Error, Kind};

/// Files larger than this are skipped unless told otherwise (`--max-size`).
pub const DEFAULT_MAX_SIZE: u64 = 8 << 20;
/// A NUL byte in this much of a file's start makes it a binary.
const BINARY_PROBE: usize = 8 << 10;

/// How to walk.
#[derive(Clone, Debug)]
pub struct ScanOptions {
    /// Honour `.gitignore`, `.ignore`, git's exclude files and global gitignore (also outside
    /// git repositories). Off by default: an ignored `.env` is exactly where secrets sit.
    pub respect_ignores: bool,
    /// Skip (and count) files larger than this many bytes.
    pub max_size: u64,
    /// Walker threads; 0 means one per available core.
    pub threads: usize,
}

impl Default for ScanOptions {
    fn default() -> ScanOptions {
        ScanOptions { respect_ignores: false, max_size: DEFAULT_MAX_SIZE, threads: 0 }
    }
}

/// One secret in one file.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Finding {
    /// The file, as reached from the given path.
    pub path: PathBuf,
    /// 1-based line.
    pub line: u64,
    /// What it is.
    pub kind: Kind,
    /// [`super::fingerprint`] of the secret.
    pub fingerprint: String,
}

/// A file or directory that could not be read.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Unreadable {
    /// Where.
    pub path: PathBuf,
    /// Why, in the system's words.
    pub error: String,
}

/// What a scan found and what it looked at.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    /// Findings, ordered by path, line and kind.
    pub findings: Vec<Finding>,
    /// Files read and searched.
    pub files: u64,
    /// Bytes searched.
    pub bytes: u64,
    /// Files skipped as binaries (a NUL byte in their first 8 KiB).
    pub binary: u64,
    /// Files skipped for being larger than the size limit.
    pub too_large: u64,
    /// Files and directories that could not be read, ordered by path.
    pub unreadable: Vec<Unreadable>,
}

/// Live counters a caller can read from another thread while a scan runs.
#[derive(Debug, Default)]
pub struct Progress {
    files: AtomicU64,
    bytes: AtomicU64,
    findings: AtomicU64,
}

impl Progress {
    /// Files searched so far.
    pub fn files(&self) -> u64 {
        self.files.load(Ordering::Relaxed)
    }

    /// Bytes searched so far.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Findings so far.
    pub fn findings(&self) -> u64 {
        self.findings.load(Ordering::Relaxed)
    }
}

#[derive(Default)]
struct Shared {
    findings: Mutex<Vec<Finding>>,
    unreadable: Mutex<Vec<Unreadable>>,
    binary: AtomicU64,
    too_large: AtomicU64,
}

/// Scan every regular file under `paths` with the built-in detectors. A path that does not
/// exist is an error; a file or directory that cannot be read is reported in
/// [`Report::unreadable`] and the scan goes on.
pub fn scan_paths(paths: &[PathBuf], options: &ScanOptions, progress: &Progress) -> Result<Report, Error> {
    let detector = Detector::builtin()?;
    let mut roots = Vec::with_capacity(paths.len());
    for path in paths {
        let meta = std::fs::symlink_metadata(path).map_err(|source| Error::Path { path: path.clone(), source })?;
        // A root given as a symlink to a directory is walked (a trailing slash resolves it);
        // symlinks inside are never followed.
        let root = if meta.file_type().is_symlink() && path.is_dir() { path.join("") } else { path.clone() };
        roots.push(root);
    }
    let Some((first, rest)) = roots.split_first() else { return Ok(Report::default()) };
    let mut builder = WalkBuilder::new(first);
    for root in rest {
        builder.add(root);
    }
    builder
        .standard_filters(options.respect_ignores)
        .hidden(false)
        .require_git(false)
        .follow_links(false)
        .threads(options.threads);
    let shared = Shared::default();
    builder.build_parallel().run(|| {
        let mut worker = Worker { scanner: detector.scanner(), buf: Vec::new(), options, progress, shared: &shared };
        Box::new(move |entry| {
            match entry {
                Ok(entry) => worker.entry(&entry),
                Err(err) => worker.unreadable(err),
            }
            WalkState::Continue
        })
    });
    let mut findings = shared.findings.into_inner().unwrap_or_else(PoisonError::into_inner);
    findings.sort();
    let mut unreadable = shared.unreadable.into_inner().unwrap_or_else(PoisonError::into_inner);
    unreadable.sort();
    Ok(Report {
        findings,
        files: progress.files(),
        bytes: progress.bytes(),
        binary: shared.binary.into_inner(),
        too_large: shared.too_large.into_inner(),
        unreadable,
    })
}

struct Worker<'a> {
    scanner: Scanner<'static>,
    buf: Vec<u8>,
    options: &'a ScanOptions,
    progress: &'a Progress,
    shared: &'a Shared,
}

impl Worker<'_> {
    fn entry(&mut self, entry: &ignore::DirEntry) {
        let regular = if entry.depth() == 0 {
            // A root named on the command line: look through a symlink to a file.
            std::fs::metadata(entry.path()).is_ok_and(|m| m.is_file())
        } else {
            entry.file_type().is_some_and(|t| t.is_file())
        };
        if !regular {
            return;
        }
        if let Err(e) = self.file(entry.path()) {
            self.push_unreadable(entry.path(), e.to_string());
        }
    }

    fn file(&mut self, path: &Path) -> std::io::Result<()> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        if len > self.options.max_size {
            self.shared.too_large.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        self.buf.clear();
        // The size can change under us: read at most one byte past the limit to notice.
        self.buf.reserve(usize::try_from(len).unwrap_or(0).saturating_add(1));
        file.take(self.options.max_size.saturating_add(1)).read_to_end(&mut self.buf)?;
        if self.buf.len() as u64 > self.options.max_size {
            self.shared.too_large.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        let probe = self.buf.get(..BINARY_PROBE.min(self.buf.len())).unwrap_or_default();
        if memchr::memchr(0, probe).is_some() {
            self.shared.binary.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        let hits = self.scanner.scan_text(&self.buf, Text::of(path));
        self.progress.files.fetch_add(1, Ordering::Relaxed);
        self.progress.bytes.fetch_add(self.buf.len() as u64, Ordering::Relaxed);
        if !hits.is_empty() {
            self.progress.findings.fetch_add(hits.len() as u64, Ordering::Relaxed);
            let mut findings = self.shared.findings.lock().unwrap_or_else(PoisonError::into_inner);
            findings.extend(hits.into_iter().map(|h| Finding {
                path: path.to_path_buf(),
                line: h.line,
                kind: h.kind,
                fingerprint: h.fingerprint,
            }));
        }
        Ok(())
    }

    fn unreadable(&mut self, err: ignore::Error) {
        let (path, error) = split_error(err);
        self.push_unreadable(&path, error);
    }

    fn push_unreadable(&self, path: &Path, error: String) {
        let mut list = self.shared.unreadable.lock().unwrap_or_else(PoisonError::into_inner);
        list.push(Unreadable { path: path.to_path_buf(), error });
    }
}

/// The path an ignore error is about, and the error without it.
fn split_error(err: ignore::Error) -> (PathBuf, String) {
    match err {
        ignore::Error::WithPath { path, err } => (path, split_error(*err).1),
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => split_error(*err),
        ignore::Error::Loop { child, .. } => (child, "a symlink loop".into()),
        other => (PathBuf::new(), other.to_string()),
    }
}
