//! Every hook decision, allows too, goes to the audit log. A hook must answer fast, so it
//! appends one line to `state/audit-spool.jsonl` (under a shared lock) instead of opening the
//! store; whoever opens the store next folds the spool into the hash chain (under an exclusive
//! lock, so no line is written while it is read and emptied).
//!
//! Until folded, spooled lines are protected like the rest of the state directory (hidden
//! from sandboxes, denied to agents' commands), not by the hash chain.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use holdpoint_core::{Action, ActionDigest, Channel, VerdictKind};
use holdpoint_policy::{Decision, Mode};
use holdpoint_store::{AuditEntry, DecisionDetail, Store, unix_now};
use serde::{Deserialize, Serialize};

const FILE: &str = "audit-spool.jsonl";

/// One spooled decision: its detail written as the decision's fields, read back as JSON.
#[derive(Serialize, Deserialize)]
struct Line<D> {
    time: u64,
    channel: Channel,
    digest: ActionDigest,
    verdict: VerdictKind,
    detail: D,
}

fn path(state: &Path) -> PathBuf {
    state.join(FILE)
}

/// Spool one decision; a failure to is reported, never an allow by itself (the caller's
/// verdict stands either way).
pub fn record(state: &Path, action: &Action, decision: &Decision) -> std::io::Result<()> {
    if !state.is_dir() {
        return Ok(());
    }
    let line = Line {
        time: unix_now(),
        channel: action.channel,
        digest: action.digest(),
        verdict: decision.verdict.kind(),
        detail: detail(action, decision),
    };
    let mut text = serde_json::to_string(&line).map_err(std::io::Error::other)?;
    text.push('\n');
    let mut file = OpenOptions::new().create(true).append(true).mode(0o600).open(path(state))?;
    file.lock_shared()?;
    file.write_all(text.as_bytes())
}

/// What the audit record of a decision keeps besides digest, channel and verdict.
pub fn detail<'a>(action: &'a Action, decision: &'a Decision) -> DecisionDetail<'a> {
    DecisionDetail {
        agent: action.actor.agent.as_deref(),
        input: first_chars(&action.input, 2000),
        mode: if decision.mode == Mode::Observe { "observe" } else { "enforce" },
        policies: &decision.policies,
        reasons: &decision.reasons,
        session: action.actor.session.as_deref(),
        workspace: &action.actor.workspace,
    }
}

/// The first `n` characters of `s` (no counting when it has no more than `n` bytes).
fn first_chars(s: &str, n: usize) -> &str {
    if s.len() <= n {
        return s;
    }
    s.char_indices().nth(n).and_then(|(end, _)| s.get(..end)).unwrap_or(s)
}

/// Spooled decisions folded per transaction, one run of the audit log each: 144,120 lines that
/// a `serve` falling behind spilled fold in well under a second (`audit verify` on that store,
/// fold included: 2.4 s) instead of a transaction and its commit per line (36 s).
const FOLD_BATCH: usize = 4096;

/// Fold the spool into the store's audit chain, then empty it. Lines keep their order and
/// their times: consecutive lines of one second go in together, up to [`FOLD_BATCH`].
pub async fn fold(state: &Path, store: &Store) -> Result<usize, holdpoint_store::Error> {
    let Ok(mut file) = OpenOptions::new().read(true).write(true).open(path(state)) else { return Ok(0) };
    if file.lock().is_err() {
        return Ok(0);
    }
    let mut text = String::new();
    if file.read_to_string(&mut text).is_err() {
        return Ok(0);
    }
    let mut folded = 0;
    let mut batch = Vec::new();
    let mut batch_time = 0;
    for raw in text.lines() {
        // A torn line from a killed hook carries nothing that can be trusted to be whole.
        let Ok(line) = serde_json::from_str::<Line<serde_json::Value>>(raw) else { continue };
        if !batch.is_empty() && (line.time != batch_time || batch.len() == FOLD_BATCH) {
            folded += batch.len();
            store.audit_decisions(std::mem::take(&mut batch), batch_time).await?;
        }
        batch_time = line.time;
        batch.push(AuditEntry {
            hold_id: None,
            digest: Some(line.digest),
            channel: Some(line.channel),
            verdict: Some(line.verdict),
            detail: line.detail.into(),
        });
    }
    folded += batch.len();
    store.audit_decisions(batch, batch_time).await?;
    truncate(&mut file);
    Ok(folded)
}

fn truncate(file: &mut File) {
    // Failing to empty it only means the same lines are folded again next time.
    let _ = file.set_len(0).and_then(|()| file.rewind());
}

#[cfg(test)]
mod tests {
    use holdpoint_core::{ActionDigest, Channel, VerdictKind};
    use holdpoint_store::{ExportFrom, Store};

    use super::{FOLD_BATCH, Line, first_chars, fold, path};

    /// A spool line as `record` writes it, for command `input` at `time`.
    fn line(time: u64, input: &str) -> String {
        let line = Line {
            time,
            channel: Channel::Shell,
            digest: ActionDigest::of(Channel::Shell, "", "", input),
            verdict: VerdictKind::Allow,
            detail: serde_json::json!({ "input": input }),
        };
        serde_json::to_string(&line).unwrap() + "\n"
    }

    /// Lines fold in order, each with its own time, also past a batch at one second, and a torn
    /// line is left out; the spool is emptied, so a second fold adds nothing.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_spool_folds_in_order_with_each_line_s_time() {
        let state = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(state.path()).await.unwrap();
        let mut expected: Vec<(u64, String)> = [(100, "a"), (100, "b"), (101, "c"), (250, "d")]
            .iter()
            .map(|&(time, input)| (time, input.to_owned()))
            .collect();
        expected.extend((0..=FOLD_BATCH).map(|i| (300, format!("burst {i}"))));
        expected.push((301, "e".to_owned()));
        let mut text = String::new();
        for (i, (time, input)) in expected.iter().enumerate() {
            text += &line(*time, input);
            if i == 2 {
                text += "{\"time\":101,\"chan\n";
            }
        }
        std::fs::write(path(state.path()), text).unwrap();

        assert_eq!(fold(state.path(), &store).await.unwrap(), expected.len());
        let folded: Vec<(u64, String)> = store
            .export(ExportFrom::Seq(1))
            .await
            .unwrap()
            .iter()
            .map(|text| {
                let record: serde_json::Value = serde_json::from_str(text).unwrap();
                (record["time"].as_u64().unwrap(), record["detail"]["input"].as_str().unwrap().to_owned())
            })
            .collect();
        assert_eq!(folded, expected);
        assert!(store.verify().await.unwrap().is_ok());
        assert_eq!(std::fs::metadata(path(state.path())).unwrap().len(), 0);
        assert_eq!(fold(state.path(), &store).await.unwrap(), 0);
    }

    #[test]
    fn inputs_are_cut_at_a_character_count() {
        assert_eq!(first_chars("abc", 2), "ab");
        assert_eq!(first_chars("abc", 3), "abc");
        assert_eq!(first_chars("abc", 9), "abc");
        assert_eq!(first_chars("éü✓x", 3), "éü✓");
        assert_eq!(first_chars("", 0), "");
        assert_eq!(first_chars("éü✓", 5), "éü✓");
    }
}
