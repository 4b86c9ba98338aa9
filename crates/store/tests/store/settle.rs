//! `settle_held`, the path every wire settles a held action by (queue once, announce once,
//! run a release once, report a closed hold), and `audit_decisions`, the proxy's batches.

use std::cell::Cell;
use std::time::Duration;

use holdpoint_core::{Channel, VerdictKind};
use holdpoint_store::{AuditEntry, Decision, DecisionDetail, Detail, ExportFrom, HoldState, Settled};

use crate::common::{Env, digest, kinds, new_hold, obligations, on_both_backends, sign};

on_both_backends!(
    super;
    queued_released_once_then_queued_again,
    a_denied_hold_is_closed,
    a_batch_of_decisions_joins_the_chain,
);

async fn queued_released_once_then_queued_again(env: Env) {
    let s = &env.store;
    let alice = s.add_approver("alice", 10).await.unwrap();
    let clock = || 100;
    let announced = Cell::new(0);
    let settle = || {
        s.settle_held(new_hold("rm -rf data", obligations(1, 0, 3600)), Duration::ZERO, clock, |_| {
            announced.set(announced.get() + 1);
        })
    };
    let first = settle().await.unwrap();
    let Settled::Waiting(id) = first else { panic!("{first:?}") };
    assert_eq!(settle().await.unwrap(), Settled::Waiting(id), "the same action waits on the same hold");
    assert_eq!(announced.get(), 1, "a hold is announced once, when it is queued");

    s.approve(id, &sign(&alice, id, "rm -rf data", Decision::Approve, 100), None, 100).await.unwrap();
    assert_eq!(settle().await.unwrap(), Settled::Released(id));
    assert_eq!(s.get(id, 100).await.unwrap().state, HoldState::Executed);
    let again = settle().await.unwrap();
    assert!(matches!(again, Settled::Waiting(next) if next != id), "a release runs once: {again:?}");
    assert_eq!(announced.get(), 2);
}

async fn a_denied_hold_is_closed(env: Env) {
    let s = &env.store;
    let alice = s.add_approver("alice", 10).await.unwrap();
    let hold = s.enqueue(new_hold("drop db", obligations(1, 0, 3600)), 100).await.unwrap();
    s.deny(hold.id, &sign(&alice, hold.id, "drop db", Decision::Deny, 101), Some("no"), 101).await.unwrap();
    // A denied hold is closed, so the same action is queued anew and waits on the new hold.
    let settled =
        s.settle_held(new_hold("drop db", obligations(1, 0, 3600)), Duration::ZERO, || 102, |_| {}).await.unwrap();
    assert!(matches!(settled, Settled::Waiting(id) if id != hold.id), "{settled:?}");
    // Waiting while an approver denies it: the wait reports the closed hold.
    let Settled::Waiting(id) = settled else { unreachable!() };
    let store = s.clone();
    let token = alice;
    let denier = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        store.deny(id, &sign(&token, id, "drop db", Decision::Deny, 103), None, 103).await.unwrap();
    });
    let closed = s
        .settle_held(new_hold("drop db", obligations(1, 0, 3600)), Duration::from_secs(20), || 103, |_| {})
        .await
        .unwrap();
    denier.await.unwrap();
    assert_eq!(closed, Settled::Closed(id, HoldState::Denied));
}

async fn a_batch_of_decisions_joins_the_chain(env: Env) {
    let s = &env.store.clone().with_checkpoint_every(7);
    assert_eq!(s.audit_decisions(vec![], 100).await.unwrap(), None);
    let reasons = ["reads are allowed".to_owned()];
    // Every other entry's detail rendered where the decision was made, as proxies do.
    let entry = |i: usize| AuditEntry {
        hold_id: None,
        digest: Some(digest(&format!("GET /{i}"))),
        channel: Some(Channel::Http),
        verdict: Some(VerdictKind::Allow),
        detail: if i.is_multiple_of(2) {
            serde_json::json!({"input": format!("GET /{i}")}).into()
        } else {
            Detail::decision(DecisionDetail {
                agent: None,
                input: &format!("GET /{i}"),
                mode: "enforce",
                policies: &[],
                reasons: &reasons,
                session: None,
                workspace: "",
            })
        },
    };
    let last = s.audit_decisions((0..20).map(entry).collect(), 100).await.unwrap();
    assert_eq!(last, Some(20));
    assert_eq!(kinds(s).await, vec!["decision"; 20]);
    let report = s.verify().await.unwrap();
    assert!(report.is_ok(), "the batch is chained and signed like single records: {report:?}");
    assert_eq!(report.checkpoints, 1, "one checkpoint for a batch past 7 and 14, at its end");
    assert_eq!(s.checkpoint(101).await.unwrap(), Some(20));
    assert_eq!(s.verify().await.unwrap().checkpoints, 1, "the batch's checkpoint is at its last record");
    let exported = s.export(ExportFrom::Seq(1)).await.unwrap();
    let second: serde_json::Value = serde_json::from_str(&exported[1]).unwrap();
    assert_eq!(second["detail"]["input"], "GET /1");
    assert_eq!(second["detail"]["reasons"][0], "reads are allowed");
}
