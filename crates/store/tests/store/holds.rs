//! The hold state machine: transitions, two-person rule, delay and cancel, expiry, consuming a
//! release once, and many concurrent clients.

use std::collections::BTreeSet;
use std::time::Duration;

use holdpoint_store::{Decision, Error, HoldState, Store};

use crate::common::{Env, digest, kinds, new_hold, obligations, on_both_backends, sign};

on_both_backends!(
    super;
    pending_approved_released_executed,
    enqueue_is_idempotent_while_open,
    two_person_rule,
    delay_then_release,
    cancel_during_delay,
    deny_and_refused_decisions,
    expiry,
    consume_once_under_concurrency,
    thousand_holds_sixteen_clients,
    wait_decision_sees_approval,
    reopen_keeps_everything,
);

async fn pending_approved_released_executed(env: Env) {
    let s = &env.store;
    let alice = s.add_approver("alice", 10).await.unwrap();
    let hold = s.enqueue(new_hold("rm -rf data", obligations(1, 0, 3600)), 100).await.unwrap();
    assert_eq!(hold.id.get(), 1);
    assert_eq!((hold.state, hold.created, hold.expires), (HoldState::Pending, 100, 3700));
    assert_eq!(s.get(hold.id, 101).await.unwrap().state, HoldState::Pending);
    let listed = s.pending(101).await.unwrap();
    assert_eq!(listed.iter().map(|h| h.id).collect::<Vec<_>>(), vec![hold.id]);
    assert_eq!(s.consume(&digest("rm -rf data"), 102).await.unwrap(), None, "nothing released yet");

    let approved =
        s.approve(hold.id, &sign(&alice, hold.id, "rm -rf data", Decision::Approve, 110), None, 110).await.unwrap();
    assert_eq!(approved.state, HoldState::Released);
    assert_eq!(approved.release_at, Some(110));
    assert_eq!(approved.approvals.len(), 1);
    assert_eq!(approved.approvals[0].approver, "alice");

    assert_eq!(s.consume(&digest("other"), 111).await.unwrap(), None, "another action cannot use it");
    assert_eq!(s.consume(&digest("rm -rf data"), 111).await.unwrap(), Some(hold.id));
    assert_eq!(s.consume(&digest("rm -rf data"), 112).await.unwrap(), None, "a release is used once");
    assert_eq!(s.get(hold.id, 113).await.unwrap().state, HoldState::Executed);
    assert!(s.pending(113).await.unwrap().is_empty());
    assert_eq!(kinds(s).await, ["approver_added", "held", "approved", "executed"]);
    assert!(s.verify().await.unwrap().is_ok());
}

async fn enqueue_is_idempotent_while_open(env: Env) {
    let s = &env.store;
    let alice = s.add_approver("alice", 10).await.unwrap();
    let first = s.enqueue(new_hold("drop table users", obligations(1, 0, 3600)), 100).await.unwrap();
    let again = s.enqueue(new_hold("drop table users", obligations(1, 0, 3600)), 105).await.unwrap();
    assert_eq!(again.id, first.id);
    assert_eq!(again.created, 100);
    let other = s.enqueue(new_hold("drop table orders", obligations(1, 0, 3600)), 106).await.unwrap();
    assert_eq!(other.id.get(), 2);
    s.approve(first.id, &sign(&alice, first.id, "drop table users", Decision::Approve, 110), None, 110).await.unwrap();
    assert_eq!(s.enqueue(new_hold("drop table users", obligations(1, 0, 3600)), 111).await.unwrap().id, first.id);
    assert_eq!(s.consume(&digest("drop table users"), 112).await.unwrap(), Some(first.id));
    let later = s.enqueue(new_hold("drop table users", obligations(1, 0, 3600)), 120).await.unwrap();
    assert_eq!(
        (later.id.get(), later.state),
        (3, HoldState::Pending),
        "after it ran, the same action needs a new hold"
    );
    assert_eq!(kinds(s).await.iter().filter(|k| *k == "held").count(), 3);
}

async fn two_person_rule(env: Env) {
    let s = &env.store;
    let (alice, bob) = (s.add_approver("alice", 1).await.unwrap(), s.add_approver("bob", 1).await.unwrap());
    let input = "terraform destroy";
    let h = s.enqueue(new_hold(input, obligations(2, 0, 3600)), 100).await.unwrap();
    let one = s.approve(h.id, &sign(&alice, h.id, input, Decision::Approve, 110), None, 110).await.unwrap();
    assert_eq!((one.state, one.approvals.len(), one.release_at), (HoldState::Approved, 1, None));
    let twice = s.approve(h.id, &sign(&alice, h.id, input, Decision::Approve, 120), None, 120).await.unwrap();
    assert_eq!((twice.state, twice.approvals.len()), (HoldState::Approved, 1), "the same approver counts once");
    assert_eq!(s.consume(&digest(input), 121).await.unwrap(), None);
    let two = s.approve(h.id, &sign(&bob, h.id, input, Decision::Approve, 130), Some("checked"), 130).await.unwrap();
    assert_eq!((two.state, two.release_at), (HoldState::Released, Some(130)));
    assert_eq!(two.approvals.iter().map(|a| a.approver.as_str()).collect::<Vec<_>>(), ["alice", "bob"]);
    assert_eq!(s.consume(&digest(input), 131).await.unwrap(), Some(h.id));
}

async fn delay_then_release(env: Env) {
    let s = &env.store;
    let (alice, bob) = (s.add_approver("alice", 1).await.unwrap(), s.add_approver("bob", 1).await.unwrap());
    let input = "kubectl delete namespace prod";
    let h = s.enqueue(new_hold(input, obligations(2, 600, 60)), 100).await.unwrap();
    s.approve(h.id, &sign(&alice, h.id, input, Decision::Approve, 110), None, 110).await.unwrap();
    let a = s.approve(h.id, &sign(&bob, h.id, input, Decision::Approve, 150), None, 150).await.unwrap();
    assert_eq!((a.state, a.release_at), (HoldState::Approved, Some(750)), "delay counts from the last needed approval");
    assert_eq!(
        s.get(h.id, 749).await.unwrap().state,
        HoldState::Approved,
        "no expiry once approved, even past the TTL"
    );
    assert_eq!(s.consume(&digest(input), 749).await.unwrap(), None);
    assert_eq!(s.get(h.id, 750).await.unwrap().state, HoldState::Released);
    assert_eq!(kinds(s).await.last().map(String::as_str), Some("released"), "the lazy release is recorded");
    assert_eq!(s.get(h.id, 751).await.unwrap().state, HoldState::Released);
    assert_eq!(kinds(s).await.iter().filter(|k| *k == "released").count(), 1, "and recorded once");
    assert_eq!(s.consume(&digest(input), 752).await.unwrap(), Some(h.id));

    // A release nobody looked at is still consumable once its time has come.
    let input = "aws s3 rb s3://logs --force";
    let h = s.enqueue(new_hold(input, obligations(1, 30, 3600)), 1000).await.unwrap();
    s.approve(h.id, &sign(&alice, h.id, input, Decision::Approve, 1000), None, 1000).await.unwrap();
    assert_eq!(s.consume(&digest(input), 1029).await.unwrap(), None);
    assert_eq!(s.consume(&digest(input), 1030).await.unwrap(), Some(h.id));
}

async fn cancel_during_delay(env: Env) {
    let s = &env.store;
    let (alice, carol) = (s.add_approver("alice", 1).await.unwrap(), s.add_approver("carol", 1).await.unwrap());
    let input = "git push --force origin main";
    let h = s.enqueue(new_hold(input, obligations(1, 600, 3600)), 100).await.unwrap();
    let early = s.cancel(h.id, &sign(&carol, h.id, input, Decision::Cancel, 105), None, 105).await;
    assert!(matches!(early, Err(Error::WrongState { state: HoldState::Pending, .. })), "{early:?}");
    s.approve(h.id, &sign(&alice, h.id, input, Decision::Approve, 110), None, 110).await.unwrap();
    let c = s.cancel(h.id, &sign(&carol, h.id, input, Decision::Cancel, 200), Some("wrong branch"), 200).await.unwrap();
    assert_eq!(c.state, HoldState::Cancelled);
    assert_eq!(s.get(h.id, 800).await.unwrap().state, HoldState::Cancelled);
    assert_eq!(s.consume(&digest(input), 800).await.unwrap(), None);

    // After release it is too late to cancel.
    let input = "git push --force origin release";
    let h = s.enqueue(new_hold(input, obligations(1, 10, 3600)), 100).await.unwrap();
    s.approve(h.id, &sign(&alice, h.id, input, Decision::Approve, 100), None, 100).await.unwrap();
    let late = s.cancel(h.id, &sign(&carol, h.id, input, Decision::Cancel, 111), None, 111).await;
    assert!(matches!(late, Err(Error::WrongState { state: HoldState::Released, .. })), "{late:?}");
    assert_eq!(kinds(s).await.iter().filter(|k| *k == "cancelled").count(), 1);
}

async fn deny_and_refused_decisions(env: Env) {
    let s = &env.store;
    let alice = s.add_approver("alice", 1).await.unwrap();
    let input = "dropdb app";
    let h = s.enqueue(new_hold(input, obligations(1, 0, 3600)), 100).await.unwrap();

    let wrong_kind = s.approve(h.id, &sign(&alice, h.id, input, Decision::Deny, 110), None, 110).await;
    assert!(matches!(wrong_kind, Err(Error::WrongDecision { .. })), "{wrong_kind:?}");
    let stale = s.approve(h.id, &sign(&alice, h.id, input, Decision::Approve, 100), None, 1000).await;
    assert!(matches!(stale, Err(Error::StaleDecision { .. })), "{stale:?}");
    let stranger: holdpoint_store::ApproverToken = format!("hpa_{}", "11".repeat(32)).parse().unwrap();
    let unknown = s.approve(h.id, &sign(&stranger, h.id, input, Decision::Approve, 110), None, 110).await;
    assert!(matches!(unknown, Err(Error::UnknownApprover)), "{unknown:?}");
    let other_action = s.approve(h.id, &sign(&alice, h.id, "dropdb other", Decision::Approve, 110), None, 110).await;
    assert!(matches!(other_action, Err(Error::BadSignature { .. })), "{other_action:?}");
    let missing = s
        .approve(
            holdpoint_store::HoldId::new(99).unwrap(),
            &sign(&alice, h.id, input, Decision::Approve, 110),
            None,
            110,
        )
        .await;
    assert!(matches!(missing, Err(Error::NoSuchHold(_))), "{missing:?}");
    assert_eq!(s.get(h.id, 111).await.unwrap().state, HoldState::Pending, "refused decisions change nothing");

    let d = s.deny(h.id, &sign(&alice, h.id, input, Decision::Deny, 120), Some("no"), 120).await.unwrap();
    assert_eq!(d.state, HoldState::Denied);
    let after = s.approve(h.id, &sign(&alice, h.id, input, Decision::Approve, 121), None, 121).await;
    assert!(matches!(after, Err(Error::WrongState { state: HoldState::Denied, .. })), "{after:?}");
    assert_eq!(s.consume(&digest(input), 122).await.unwrap(), None);
    assert_eq!(kinds(s).await, ["approver_added", "held", "denied"]);
}

async fn expiry(env: Env) {
    let s = &env.store;
    let alice = s.add_approver("alice", 1).await.unwrap();
    let input = "rm -rf ~/projects";
    let h = s.enqueue(new_hold(input, obligations(1, 0, 60)), 100).await.unwrap();
    assert_eq!(s.pending(159).await.unwrap().len(), 1);
    assert!(s.pending(160).await.unwrap().is_empty(), "past its TTL a hold is no longer open");
    assert_eq!(s.get(h.id, 161).await.unwrap().state, HoldState::Expired);
    let late = s.approve(h.id, &sign(&alice, h.id, input, Decision::Approve, 161), None, 161).await;
    assert!(matches!(late, Err(Error::WrongState { state: HoldState::Expired, .. })), "{late:?}");
    let fresh = s.enqueue(new_hold(input, obligations(1, 0, 60)), 162).await.unwrap();
    assert_ne!(fresh.id, h.id);
    assert_eq!(kinds(s).await.iter().filter(|k| *k == "expired").count(), 1);

    // An expired hold found by enqueue is recorded as expired before the new one is made.
    let input = "rm -rf /srv";
    let old = s.enqueue(new_hold(input, obligations(1, 0, 10)), 200).await.unwrap();
    let new = s.enqueue(new_hold(input, obligations(1, 0, 10)), 300).await.unwrap();
    assert_ne!(old.id, new.id);
    assert_eq!(s.get(old.id, 300).await.unwrap().state, HoldState::Expired);
    assert!(s.verify().await.unwrap().is_ok());
}

async fn consume_once_under_concurrency(env: Env) {
    let s = &env.store;
    let other = env.reopen().await;
    let alice = s.add_approver("alice", 1).await.unwrap();
    for round in 0..3 {
        let input = format!("psql -c 'DELETE FROM jobs' #{round}");
        let h = s.enqueue(new_hold(&input, obligations(1, 0, 3600)), 100).await.unwrap();
        s.approve(h.id, &sign(&alice, h.id, &input, Decision::Approve, 100), None, 100).await.unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..16 {
            let store = if i % 2 == 0 { s.clone() } else { other.clone() };
            let d = digest(&input);
            tasks.spawn(async move { store.consume(&d, 101).await.unwrap() });
        }
        let winners: Vec<_> = tasks.join_all().await.into_iter().flatten().collect();
        assert_eq!(winners, vec![h.id], "exactly one of 16 racing callers consumes the release");
    }
    assert_eq!(kinds(s).await.iter().filter(|k| *k == "executed").count(), 3);
}

async fn thousand_holds_sixteen_clients(env: Env) {
    const CLIENTS: usize = 16;
    const HOLDS: usize = 1000;
    let alice = env.store.add_approver("alice", 1).await.unwrap();
    let alice_text = alice.expose_secret();
    let second = env.reopen().await;
    let mut tasks = tokio::task::JoinSet::new();
    for client in 0..CLIENTS {
        let store = if client % 2 == 0 { env.store.clone() } else { second.clone() };
        let token: holdpoint_store::ApproverToken = alice_text.parse().unwrap();
        tasks.spawn(async move {
            let mut ids = Vec::new();
            for n in (client..HOLDS).step_by(CLIENTS) {
                let input = format!("rm -rf /data/{n}");
                let h = store.enqueue(new_hold(&input, obligations(1, 0, 3600)), 1000).await.unwrap();
                let approved = store
                    .approve(h.id, &sign(&token, h.id, &input, Decision::Approve, 1001), None, 1001)
                    .await
                    .unwrap();
                assert_eq!(approved.state, HoldState::Released);
                assert_eq!(store.consume(&digest(&input), 1002).await.unwrap(), Some(h.id));
                ids.push(h.id.get());
            }
            ids
        });
    }
    let ids: Vec<u64> = tasks.join_all().await.into_iter().flatten().collect();
    let unique: BTreeSet<u64> = ids.iter().copied().collect();
    assert_eq!(ids.len(), HOLDS);
    assert_eq!(unique, (1..=HOLDS as u64).collect::<BTreeSet<_>>(), "ids are 1..=1000, none lost or doubled");
    assert!(env.store.pending(1003).await.unwrap().is_empty());
    let kinds = kinds(&env.store).await;
    for kind in ["held", "approved", "executed"] {
        assert_eq!(kinds.iter().filter(|k| *k == kind).count(), HOLDS, "{kind} records");
    }
    let report = env.store.verify().await.unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.records, 3 * HOLDS as u64 + 1);
    assert_eq!(report.checkpoints, 30, "one signed checkpoint per 100 records");
}

async fn wait_decision_sees_approval(env: Env) {
    let s = &env.store;
    let alice = s.add_approver("alice", 1).await.unwrap();
    let input = "rm -rf build-cache";
    let h = s.enqueue(new_hold(input, obligations(1, 0, 3600)), 100).await.unwrap();
    let timed_out = s.wait_decision(h.id, Duration::from_millis(120), || 101).await.unwrap();
    assert_eq!(timed_out.state, HoldState::Pending);
    let approver = s.clone();
    let signed = sign(&alice, h.id, input, Decision::Approve, 102);
    let id = h.id;
    let approving = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(150)).await;
        approver.approve(id, &signed, None, 102).await.unwrap();
    });
    let decided = s.wait_decision(h.id, Duration::from_secs(20), || 102).await.unwrap();
    approving.await.unwrap();
    assert_eq!(decided.state, HoldState::Released);
}

async fn reopen_keeps_everything(env: Env) {
    let alice = env.store.add_approver("alice", 1).await.unwrap();
    let input = "helm uninstall prod";
    let h = env.store.enqueue(new_hold(input, obligations(2, 0, 3600)), 100).await.unwrap();
    env.store.approve(h.id, &sign(&alice, h.id, input, Decision::Approve, 100), None, 100).await.unwrap();
    env.store.checkpoint(101).await.unwrap();
    env.store.close().await;
    let again: Store = env.reopen().await;
    let seen = again.get(h.id, 102).await.unwrap();
    assert_eq!((seen.state, seen.approvals.len()), (HoldState::Approved, 1));
    assert_eq!(again.approvers().await.unwrap().iter().map(|a| a.name.as_str()).collect::<Vec<_>>(), ["alice"]);
    let next = again.enqueue(new_hold("another", obligations(1, 0, 60)), 103).await.unwrap();
    assert_eq!(next.id.get(), 2);
    assert!(again.verify().await.unwrap().is_ok());
}
