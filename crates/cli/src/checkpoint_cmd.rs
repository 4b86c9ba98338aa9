//! `holdpoint checkpoint create|list|diff|restore`: workspace snapshots kept in the state
//! directory, outside every sandbox; restores are audited.

use std::path::Path;

use anyhow::{Context, Result};
use holdpoint_sandbox::checkpoint::{Checkpoints, Summary};
use holdpoint_store::{AuditEntry, unix_now};
use serde_json::json;

use crate::home::{Home, resolve_dir, workspace_of};
use crate::state::State;

/// The checkpoint store of this Holdpoint home.
pub fn store(home: &Home) -> Result<Checkpoints> {
    let dir = home.state.join("checkpoints");
    Checkpoints::open(&dir).with_context(|| format!("cannot open the checkpoints in {}", dir.display()))
}

/// `checkpoint create`: snapshot a workspace now.
pub fn create(home: &Home, workspace: Option<&Path>, reason: Option<&str>, json: bool) -> Result<u8> {
    let dir = workspace_of(&resolve_dir(workspace)?);
    let summary = store(home)?.snapshot(&dir, reason.unwrap_or("taken by hand"), unix_now())?;
    if json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        println!("checkpoint {} of {}: {}", summary.id, summary.workspace, describe(&summary));
    }
    Ok(0)
}

/// `checkpoint list`.
pub fn list(home: &Home, json: bool) -> Result<u8> {
    let all = store(home)?.list()?;
    if json {
        println!("{}", json!({ "checkpoints": all }));
        return Ok(0);
    }
    if all.is_empty() {
        println!(
            "no checkpoints yet (`holdpoint run` takes one at start; `holdpoint checkpoint create` takes one now)"
        );
    }
    for s in &all {
        println!("{:>5}  {}  {}  {}  ({})", s.id, age(s.created), s.workspace, s.reason, describe(s));
    }
    Ok(0)
}

/// `checkpoint diff ID`: what changed in the workspace since.
pub fn diff(home: &Home, id: u64, json: bool) -> Result<u8> {
    let changes = store(home)?.diff(id)?;
    if json {
        println!("{}", json!({ "checkpoint": id, "changes": changes }));
        return Ok(0);
    }
    if changes.is_empty() {
        println!("nothing changed since checkpoint {id}");
    }
    for c in &changes {
        let mark = match c.change {
            "added" => "+",
            "removed" => "-",
            _ => "~",
        };
        println!("{mark} {}", c.path);
    }
    Ok(0)
}

/// `checkpoint restore ID`: the workspace becomes the snapshot; a snapshot of the state
/// before is taken first, and the restore is audited.
pub fn restore(home: &Home, id: u64, json: bool) -> Result<u8> {
    let config = home.load_config()?;
    let state = State::open(home, &config)?;
    let restored = store(home)?.restore(id, unix_now())?;
    let entry = AuditEntry {
        detail:
            json!({"event": "checkpoint-restore", "checkpoint": id, "safety_checkpoint": restored.safety_checkpoint,
            "written": restored.written, "removed": restored.removed})
            .into(),
        ..AuditEntry::default()
    };
    state
        .run(state.store.audit_decision(entry, unix_now()))
        .context("the restore happened but could not be audited")?;
    if json {
        println!("{}", serde_json::to_string(&restored)?);
    } else {
        println!(
            "restored checkpoint {id}: {} written, {} removed. To undo: holdpoint checkpoint restore {}",
            restored.written, restored.removed, restored.safety_checkpoint
        );
    }
    Ok(0)
}

fn describe(s: &Summary) -> String {
    let mut text = format!("{} files, {} bytes, {} bytes new", s.files, s.bytes, s.new_bytes);
    if !s.unreadable.is_empty() {
        text.push_str(&format!("; not saved, unreadable: {}", s.unreadable.join(", ")));
    }
    text
}

/// How long ago, in words a person reads at a glance.
fn age(created: u64) -> String {
    let secs = unix_now().saturating_sub(created);
    match secs {
        0..60 => format!("{secs:>3} s ago "),
        60..3600 => format!("{:>3} min ago", secs / 60),
        3600..86400 => format!("{:>3} h ago  ", secs / 3600),
        _ => format!("{:>3} d ago  ", secs / 86400),
    }
}
