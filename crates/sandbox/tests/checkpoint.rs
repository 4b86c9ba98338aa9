//! Workspace checkpoints on a real file system: snapshots deduplicate, diffs name every
//! change, and a restore brings back bytes, modes, symlinks and directories exactly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use holdpoint_sandbox::checkpoint::{CheckpointError, Checkpoints};

/// Everything a restore must bring back, read from the disk: path → (kind, mode, content).
fn picture(root: &Path) -> BTreeMap<String, (String, u32, Vec<u8>)> {
    let mut out = BTreeMap::new();
    for entry in walkdir(root) {
        let rel = entry.strip_prefix(root).unwrap().display().to_string();
        let meta = fs::symlink_metadata(&entry).unwrap();
        let mode = meta.permissions().mode() & 0o7777;
        let item = if meta.file_type().is_symlink() {
            ("link".into(), 0, fs::read_link(&entry).unwrap().display().to_string().into_bytes())
        } else if meta.is_dir() {
            ("dir".into(), mode, Vec::new())
        } else {
            ("file".into(), mode, fs::read(&entry).unwrap())
        };
        out.insert(rel, item);
    }
    out
}

fn walkdir(root: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let meta = fs::symlink_metadata(&p).unwrap();
            if meta.is_dir() && !meta.file_type().is_symlink() {
                stack.push(p.clone());
            }
            out.push(p);
        }
    }
    out
}

fn workspace() -> tempfile::TempDir {
    let w = tempfile::tempdir().unwrap();
    let root = w.path();
    fs::create_dir_all(root.join("src/nested")).unwrap();
    fs::write(root.join("src/main.rs"), "fn main() {}\n").unwrap();
    fs::write(root.join("src/nested/data.bin"), (0..=255u8).cycle().take(300_000).collect::<Vec<_>>()).unwrap();
    fs::write(root.join("run.sh"), "#!/bin/sh\necho hi\n").unwrap();
    fs::set_permissions(root.join("run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(root.join("secret.txt"), "only me\n").unwrap();
    fs::set_permissions(root.join("secret.txt"), fs::Permissions::from_mode(0o600)).unwrap();
    fs::write(root.join("copy.rs"), "fn main() {}\n").unwrap();
    symlink("src/main.rs", root.join("link-to-main")).unwrap();
    symlink("/does/not/exist", root.join("dangling")).unwrap();
    fs::create_dir(root.join("empty")).unwrap();
    fs::write(root.join(".gitignore"), "target/\n*.log\n").unwrap();
    fs::create_dir(root.join("target")).unwrap();
    fs::write(root.join("target/out.o"), "build output").unwrap();
    fs::write(root.join("debug.log"), "log").unwrap();
    w
}

#[test]
fn restore_brings_back_exactly_what_was_there() {
    let state = tempfile::tempdir().unwrap();
    let w = workspace();
    let store = Checkpoints::open(state.path()).unwrap();
    let before = picture(w.path());
    let first = store.snapshot(w.path(), "run started", 100).unwrap();
    assert_eq!(first.id, 1);
    assert_eq!(first.files, 6, "ignored build outputs and logs are skipped: {first:?}");

    // An agent's damage: deletes, overwrites, mode changes, a replaced link, new files.
    let root = w.path();
    fs::remove_dir_all(root.join("src")).unwrap();
    fs::write(root.join("run.sh"), "rm -rf /\n").unwrap();
    fs::set_permissions(root.join("secret.txt"), fs::Permissions::from_mode(0o644)).unwrap();
    fs::remove_file(root.join("link-to-main")).unwrap();
    fs::write(root.join("link-to-main"), "now a file").unwrap();
    fs::remove_dir(root.join("empty")).unwrap();
    fs::write(root.join("empty"), "was a dir").unwrap();
    fs::create_dir_all(root.join("new/dir")).unwrap();
    fs::write(root.join("new/dir/file"), "added").unwrap();
    fs::write(root.join("target/out.o"), "rebuilt").unwrap();

    let changes = store.diff(1).unwrap();
    let named: Vec<(&str, &str)> = changes.iter().map(|c| (c.change, c.path.as_str())).collect();
    for expected in [
        ("removed", "src/main.rs"),
        ("removed", "src/nested/data.bin"),
        ("modified", "run.sh"),
        ("modified", "secret.txt"),
        ("modified", "link-to-main"),
        ("modified", "empty"),
        ("added", "new/dir/file"),
    ] {
        assert!(named.contains(&expected), "{expected:?} missing from {named:?}");
    }
    assert!(!named.iter().any(|(_, p)| p.starts_with("target")), "ignored paths are not in the diff: {named:?}");

    let restored = store.restore(1, 200).unwrap();
    assert!(restored.safety_checkpoint > 1);
    let mut after = picture(root);
    // Ignored files are left as they are.
    assert_eq!(after.remove("target/out.o").unwrap().2, b"rebuilt");
    let mut expected = before.clone();
    expected.remove("target/out.o");
    assert_eq!(after, expected);
    assert!(store.diff(1).unwrap().is_empty());

    // The restore can itself be undone.
    store.restore(restored.safety_checkpoint, 300).unwrap();
    assert_eq!(fs::read_to_string(root.join("run.sh")).unwrap(), "rm -rf /\n");
    assert!(root.join("new/dir/file").exists());
}

#[test]
fn unchanged_content_is_stored_once() {
    let state = tempfile::tempdir().unwrap();
    let w = workspace();
    let store = Checkpoints::open(state.path()).unwrap();
    let first = store.snapshot(w.path(), "a", 1).unwrap();
    assert!(first.new_bytes > 300_000);
    assert!(first.new_bytes < first.bytes, "copy.rs and main.rs share one object");
    let second = store.snapshot(w.path(), "b", 2).unwrap();
    assert_eq!(second.new_bytes, 0);
    assert_eq!(second.bytes, first.bytes);
    fs::write(w.path().join("run.sh"), "changed").unwrap();
    let third = store.snapshot(w.path(), "c", 3).unwrap();
    assert_eq!(third.new_bytes, 7);
    let ids: Vec<u64> = store.list().unwrap().iter().map(|s| s.id).collect();
    assert_eq!(ids, [1, 2, 3]);
}

#[test]
fn a_damaged_checkpoint_is_refused_before_the_workspace_is_touched() {
    let state = tempfile::tempdir().unwrap();
    let w = workspace();
    let store = Checkpoints::open(state.path()).unwrap();
    store.snapshot(w.path(), "a", 1).unwrap();
    fs::write(w.path().join("run.sh"), "changed").unwrap();
    // Truncate every stored object.
    for dir in fs::read_dir(state.path().join("objects")).unwrap() {
        for obj in fs::read_dir(dir.unwrap().path()).unwrap() {
            let p = obj.unwrap().path();
            fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
            fs::write(&p, "").unwrap();
        }
    }
    assert!(matches!(store.restore(1, 2), Err(CheckpointError::Damaged(_))));
    assert_eq!(fs::read_to_string(w.path().join("run.sh")).unwrap(), "changed");
    assert!(matches!(store.restore(99, 2), Err(CheckpointError::NotFound(99))));
    fs::write(state.path().join("manifests/00000001.json"), "{not json").unwrap();
    assert!(matches!(store.load(1), Err(CheckpointError::Damaged(_))));
}

#[test]
fn a_prepared_snapshot_is_listed_only_once_committed() {
    let state = tempfile::tempdir().unwrap();
    let w = workspace();
    let store = Checkpoints::open(state.path()).unwrap();
    let pending = store.prepare(w.path(), "dropped", 1).unwrap();
    let files = pending.summary().files;
    assert!(files > 0);
    assert!(store.list().unwrap().is_empty(), "not listed before it is committed");
    drop(pending);
    assert!(store.list().unwrap().is_empty());
    assert_eq!(fs::read_dir(state.path().join("manifests")).unwrap().count(), 0, "nothing left behind");
    // Committed in a forked child (or here, from a multi-threaded test): listed once waited for.
    let taken = store.prepare(w.path(), "kept", 2).unwrap().commit_in_background().wait().unwrap();
    let listed: Vec<(u64, String, u64)> =
        store.list().unwrap().into_iter().map(|s| (s.id, s.reason, s.files)).collect();
    assert_eq!(listed, [(taken.id, "kept".to_owned(), files)]);
    assert_eq!(fs::read_dir(state.path().join("manifests")).unwrap().count(), 1);
}

#[test]
fn a_restore_never_writes_through_a_symlink() {
    let state = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let w = workspace();
    let store = Checkpoints::open(state.path()).unwrap();
    store.snapshot(w.path(), "a", 1).unwrap();
    // The directory is replaced by a link to somewhere else, and the link is ignored.
    fs::write(w.path().join(".gitignore"), "target/\n*.log\nsrc\n").unwrap();
    fs::remove_dir_all(w.path().join("src")).unwrap();
    symlink(outside.path(), w.path().join("src")).unwrap();
    let err = store.restore(1, 2).unwrap_err();
    assert!(err.to_string().contains("symlink"), "{err}");
    assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 0, "nothing was written outside");
    assert_eq!(fs::read_to_string(w.path().join(".gitignore")).unwrap(), "target/\n*.log\nsrc\n", "nor inside");
    // A link the walk sees (not ignored) is removed and the directory restored in its place.
    fs::write(w.path().join(".gitignore"), "target/\n*.log\n").unwrap();
    store.restore(1, 3).unwrap();
    assert!(fs::symlink_metadata(w.path().join("src")).unwrap().is_dir());
    assert_eq!(fs::read_to_string(w.path().join("src/main.rs")).unwrap(), "fn main() {}\n");
    assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 0);
}
