//! Write transactions that do not finish: a caller that stops waiting halfway, and a write that
//! fails at commit. Neither may leave part of itself behind, or keep other writers out.

use holdpoint_store::Error;

use crate::common::{Env, kinds, new_hold, obligations, on_both_backends};

on_both_backends!(
    super;
    abandoned_writes_leave_nothing_half_done,
    failed_commit_leaves_nothing,
);

/// Gives the other branch of a `select!` `k` more polls before this one is ready.
async fn yields(k: usize) {
    for _ in 0..k {
        tokio::task::yield_now().await;
    }
}

async fn abandoned_writes_leave_nothing_half_done(env: Env) {
    let s = &env.store;
    let other = env.reopen().await;
    for k in 0..12 {
        let input = format!("rm -rf /abandoned/{k}");
        // The enqueue is dropped after k + 1 polls: before, during or after its transaction.
        tokio::select! {
            biased;
            done = s.enqueue(new_hold(&input, obligations(1, 0, 3600)), 100) => { done.unwrap(); }
            () = yields(k) => {}
        }
        // Neither another store on the same data (another process) nor this one is locked out.
        other.enqueue(new_hold(&format!("rm -rf /other/{k}"), obligations(1, 0, 3600)), 100).await.unwrap();
        s.enqueue(new_hold(&format!("rm -rf /after/{k}"), obligations(1, 0, 3600)), 100).await.unwrap();
    }
    assert!(s.verify().await.unwrap().is_ok());
    // Every hold has its "held" record and every "held" record its hold: all or nothing.
    let held = kinds(s).await.iter().filter(|k| *k == "held").count();
    let holds = s.pending(101).await.unwrap();
    assert_eq!(held, holds.len());
    assert!(holds.len() >= 24, "the 24 enqueues that were waited for are there");
    let mut ids: Vec<u64> = holds.iter().map(|h| h.id.get()).collect();
    ids.sort_unstable();
    assert_eq!(ids, (1..=holds.len() as u64).collect::<Vec<_>>(), "ids are used only by holds that were written");
}

async fn failed_commit_leaves_nothing(env: Env) {
    let s = &env.store;
    // A record in the way of the enqueue's audit record: its insert fails after the hold's row
    // was written in the same transaction.
    env.exec("INSERT INTO audit (seq, time, kind, hold_id, record, hash) VALUES (1, 0, 'x', NULL, '{}', 'x')").await;
    let err = s.enqueue(new_hold("rm -rf a", obligations(1, 0, 3600)), 100).await.unwrap_err();
    assert!(matches!(err, Error::Database(_)), "{err}");
    env.exec("DELETE FROM audit WHERE seq = 1").await;

    let hold = s.enqueue(new_hold("rm -rf a", obligations(1, 0, 3600)), 101).await.unwrap();
    assert_eq!((hold.id.get(), hold.created), (1, 101), "the failed enqueue left no hold and used no id");
    let other = env.reopen().await;
    let second = other.enqueue(new_hold("rm -rf b", obligations(1, 0, 3600)), 102).await.unwrap();
    assert_eq!(second.id.get(), 2);
    assert_eq!(kinds(s).await, ["held", "held"]);
    assert!(s.verify().await.unwrap().is_ok());
}

/// SQLite's WAL is copied back by the store's background checkpoints and starts over, so it
/// stays shorter than the 8,000 pages at which SQLite would copy it back on a writer's commit (a
/// stall of tens of milliseconds on a decision): 3,000 commits of about five pages each reach
/// that mark without them (the file ends past 8,000 pages). The writer waits for each pass it
/// starts to end, as real writers pause between decisions; how long a pass takes is the
/// machine's, not the test's. (Not exercised here: the pass on the write connection for a WAL
/// that grew past 4,096 frames while writes never paused, whose timing no test controls.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_wal_is_copied_back_in_the_background() {
    let env = Env::sqlite().await;
    let entry = || holdpoint_store::AuditEntry {
        verdict: Some(holdpoint_core::VerdictKind::Allow),
        detail: serde_json::json!({"reasons": ["reads are allowed"]}).into(),
        ..Default::default()
    };
    for i in 0..3000 {
        env.store.audit_decision(entry(), i).await.unwrap();
        env.store.wal_copy_back_done().await;
    }
    let wal = std::fs::metadata(env.state.path().join("holdpoint.db-wal")).unwrap().len();
    let pages = wal / 4096;
    assert!(pages < 7000, "the WAL reached {pages} pages");
    assert!(env.store.verify().await.unwrap().is_ok());
}
