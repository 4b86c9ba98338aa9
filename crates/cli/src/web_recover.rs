//! The approvals console in `holdpoint serve`: started on `[api] listen`, and its restores
//! (`holdpoint_web::Recover`): the sandbox's workspace checkpoints, the way `holdpoint
//! checkpoint restore` does them, and the SQL trash of each `[[postgres]]` block, the way
//! `holdpoint trash restore` does (the console audits each one with the approver).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use holdpoint_proxy::pg::{PgTrash, TrashBin, TrashEntry, TrashError};
use holdpoint_sandbox::checkpoint::{CheckpointError, Checkpoints};
use holdpoint_store::{Store, unix_now};
use holdpoint_web::{Console, Recover, RecoverError, RecoverItem, RecoverKind, Restored};
use serde_json::json;

use crate::home::Home;

/// The running console: stop it with [`WebConsole::stop`].
pub struct WebConsole {
    /// Where it listens (the port chosen when `[api] listen` gives 0).
    pub addr: SocketAddr,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// Binds `[api] listen` and serves the console there; `trash` is each `[[postgres]]` block's
/// trash, by block name.
pub async fn start(
    home: &Home,
    store: &Store,
    listen: SocketAddr,
    trash: Vec<(String, PgTrash)>,
) -> Result<WebConsole> {
    let listener = holdpoint_web::bind(listen).await?;
    let addr = listener.local_addr().context("cannot read the console's address")?;
    let recover = Arc::new(CheckpointRecover { dir: home.state.join("checkpoints"), trash });
    let console = Console::new(store.clone(), recover);
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.wait_for(|s| *s).await;
        };
        if let Err(e) = holdpoint_web::serve(listener, console, shutdown).await {
            eprintln!("holdpoint: {e}");
        }
    });
    eprintln!("holdpoint: approvals console on http://{addr}/ (sign in with an approver token)");
    Ok(WebConsole { addr, stop, task })
}

impl WebConsole {
    /// Stops the console and waits for it.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Workspace checkpoints in the state directory, and the SQL trash of each `[[postgres]]`
/// block (trash ids are `BLOCK/ID`).
struct CheckpointRecover {
    dir: PathBuf,
    trash: Vec<(String, PgTrash)>,
}

impl CheckpointRecover {
    fn open(&self) -> Result<Checkpoints, RecoverError> {
        Checkpoints::open(&self.dir)
            .map_err(|e| RecoverError::Failed(format!("cannot open the checkpoints in {}: {e}", self.dir.display())))
    }
}

impl CheckpointRecover {
    /// The trashed tables of every block, newest first. The console calls this on a blocking
    /// thread of the runtime, which may wait on the database.
    fn trash_items(&self) -> Result<Vec<RecoverItem>, RecoverError> {
        let runtime = tokio::runtime::Handle::current();
        let mut items = Vec::new();
        for (name, bin) in &self.trash {
            let entries = runtime
                .block_on(bin.list())
                .map_err(|e| RecoverError::Failed(format!("cannot read the trash of [[postgres]] {name}: {e}")))?;
            items.extend(entries.into_iter().map(|entry| trash_item(name, &entry)));
        }
        items.sort_by_key(|item| std::cmp::Reverse(item.created));
        Ok(items)
    }

    fn restore_trash(&self, id: &str) -> Result<Restored, RecoverError> {
        let missing = || RecoverError::NotFound(format!("there is no trash entry {id:?}"));
        let (name, number) = id.split_once('/').ok_or_else(missing)?;
        let number: u64 = number.parse().map_err(|_| missing())?;
        let (_, bin) = self.trash.iter().find(|(n, _)| n == name).ok_or_else(missing)?;
        let entry = tokio::runtime::Handle::current().block_on(bin.restore(number)).map_err(|e| match e {
            TrashError::NotFound(_) => missing(),
            other => RecoverError::Failed(format!("trash entry {id} could not be restored: {other}")),
        })?;
        Ok(Restored {
            message: format!("restored {} from the trash of [[postgres]] {name} (entry {number})", entry.original),
            detail: json!({"db": name, "entry": number, "table": entry.original, "op": entry.op,
                "rows": entry.row_count}),
        })
    }
}

/// A trash entry as the console lists it.
fn trash_item(block: &str, entry: &TrashEntry) -> RecoverItem {
    let rows = entry.row_count.map_or_else(String::new, |n| format!("; {n} rows"));
    RecoverItem {
        kind: RecoverKind::Trash,
        id: format!("{block}/{}", entry.id),
        title: entry.original.clone(),
        detail: format!("{} in [[postgres]] {block}{rows}: {}", entry.op, entry.statement),
        created: unix_seconds(&entry.at).unwrap_or(0),
    }
}

/// `YYYY-MM-DDTHH:MM:SS…` (UTC) as unix seconds.
fn unix_seconds(at: &str) -> Option<u64> {
    let n = |from: usize, to: usize| at.get(from..to).and_then(|t| t.parse::<i64>().ok());
    let (y, m, d) = (n(0, 4)?, n(5, 7)?, n(8, 10)?);
    let (h, mi, s) = (n(11, 13)?, n(14, 16)?, n(17, 19)?);
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    u64::try_from(days * 86_400 + h * 3600 + mi * 60 + s).ok()
}

impl Recover for CheckpointRecover {
    fn list(&self, kind: RecoverKind) -> Result<Vec<RecoverItem>, RecoverError> {
        if kind == RecoverKind::Trash {
            return self.trash_items();
        }
        if kind != RecoverKind::Checkpoint {
            return Ok(Vec::new());
        }
        let mut all = self.open()?.list().map_err(|e| RecoverError::Failed(e.to_string()))?;
        all.reverse();
        Ok(all
            .into_iter()
            .map(|s| RecoverItem {
                kind,
                id: s.id.to_string(),
                title: s.workspace,
                detail: format!("{}; {} files, {} bytes", s.reason, s.files, s.bytes),
                created: s.created,
            })
            .collect())
    }

    fn restore(&self, kind: RecoverKind, id: &str) -> Result<Restored, RecoverError> {
        let missing = || RecoverError::NotFound(format!("there is no {} {id:?}", kind.as_str()));
        if kind == RecoverKind::Trash {
            return self.restore_trash(id);
        }
        if kind != RecoverKind::Checkpoint {
            return Err(missing());
        }
        let number: u64 = id.parse().map_err(|_| missing())?;
        let restored = self.open()?.restore(number, unix_now()).map_err(|e| match e {
            CheckpointError::NotFound(_) => missing(),
            other => RecoverError::Failed(format!("checkpoint {number} could not be restored: {other}")),
        })?;
        Ok(Restored {
            message: format!(
                "restored checkpoint {number}: {} written, {} removed. To undo it, restore checkpoint {}",
                restored.written, restored.removed, restored.safety_checkpoint
            ),
            detail: json!({"checkpoint": number, "safety_checkpoint": restored.safety_checkpoint,
                "written": restored.written, "removed": restored.removed}),
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn trash_times_read_as_unix_seconds() {
        assert_eq!(super::unix_seconds("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(super::unix_seconds("2026-11-26T03:04:05Z"), Some(1_795_662_245));
        assert_eq!(super::unix_seconds("2000-02-29T12:00:00.5Z"), Some(951_825_600));
        assert_eq!(super::unix_seconds("yesterday"), None);
    }
}
