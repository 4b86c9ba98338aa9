//! Editing the database behind the store's back releases nothing: release needs enough valid
//! signatures by enrolled approvers over this hold id and digest, on a hold whose seal holds.

use holdpoint_core::ActionDigest;
use holdpoint_store::{ApproverToken, Decision, Error, HoldState};

use crate::common::{Env, digest, new_hold, obligations, on_both_backends, sign};

on_both_backends!(
    super;
    state_flipped_to_released_releases_nothing,
    forged_approval_rows_count_for_nothing,
    weakened_obligations_break_the_seal,
    executed_flipped_back_is_not_run_again,
    retargeted_digest_breaks_the_seal,
);

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn state_flipped_to_released_releases_nothing(env: Env) {
    let s = &env.store;
    let input = "rm -rf /var/lib/postgresql";
    let h = s.enqueue(new_hold(input, obligations(1, 0, 3600)), 100).await.unwrap();
    env.exec("UPDATE holds SET state = 'released', release_at = 100").await;
    assert_eq!(s.get(h.id, 101).await.unwrap().state, HoldState::Pending);
    assert_eq!(s.consume(&digest(input), 101).await.unwrap(), None);
    env.exec("UPDATE holds SET state = 'approved'").await;
    assert_eq!(s.consume(&digest(input), 102).await.unwrap(), None);
    assert_eq!(s.get(h.id, 102).await.unwrap().approvals.len(), 0);
}

async fn forged_approval_rows_count_for_nothing(env: Env) {
    let s = &env.store;
    let alice = s.add_approver("alice", 1).await.unwrap();
    let input = "DROP DATABASE prod";
    let h = s.enqueue(new_hold(input, obligations(1, 0, 3600)), 100).await.unwrap();
    let other = s.enqueue(new_hold("SELECT 1", obligations(1, 0, 3600)), 100).await.unwrap();

    // A made-up signature under a real approver's name.
    let bogus = "ab".repeat(64);
    env.exec(&format!(
        "INSERT INTO decisions (hold_id, approver, decision, time, signature) VALUES ({}, 'alice', 'approve', 100, '{bogus}')",
        h.id
    ))
    .await;
    // Alice's real signature, but for another hold.
    let for_other = sign(&alice, other.id, "SELECT 1", Decision::Approve, 100);
    env.exec(&format!(
        "INSERT INTO decisions (hold_id, approver, decision, time, signature) VALUES ({}, 'alice', 'approve', 100, '{}')",
        h.id,
        hex(&for_other.signature)
    ))
    .await;
    // An approver the tamperer registered by hand, with a real signature by their own key.
    let mallory: ApproverToken = format!("hpa_{}", "42".repeat(32)).parse().unwrap();
    env.exec(&format!(
        "INSERT INTO approvers (name, public_key, created, enrollment) VALUES ('mallory', '{}', 1, '{}')",
        mallory.key(),
        "00".repeat(64)
    ))
    .await;
    let by_mallory = sign(&mallory, h.id, input, Decision::Approve, 100);
    env.exec(&format!(
        "INSERT INTO decisions (hold_id, approver, decision, time, signature) VALUES ({}, 'mallory', 'approve', 100, '{}')",
        h.id,
        hex(&by_mallory.signature)
    ))
    .await;
    env.exec("UPDATE holds SET state = 'released'").await;

    let seen = s.get(h.id, 101).await.unwrap();
    assert_eq!((seen.state, seen.approvals.len()), (HoldState::Pending, 0));
    assert_eq!(s.consume(&digest(input), 101).await.unwrap(), None);
    let refused = s.approve(h.id, &by_mallory, None, 101).await;
    assert!(matches!(refused, Err(Error::UnknownApprover)), "{refused:?}");
    assert_eq!(s.approvers().await.unwrap().len(), 1, "mallory is not an approver");

    // The real approval still works.
    let ok = s.approve(h.id, &sign(&alice, h.id, input, Decision::Approve, 102), None, 102).await.unwrap();
    assert_eq!(ok.state, HoldState::Released);
    assert_eq!(s.consume(&digest(input), 103).await.unwrap(), Some(h.id));
}

async fn weakened_obligations_break_the_seal(env: Env) {
    let s = &env.store;
    let alice = s.add_approver("alice", 1).await.unwrap();
    let input = "terraform destroy -auto-approve";
    let h = s.enqueue(new_hold(input, obligations(2, 600, 3600)), 100).await.unwrap();
    s.approve(h.id, &sign(&alice, h.id, input, Decision::Approve, 100), None, 100).await.unwrap();
    env.exec("UPDATE holds SET approvers = 1, delay_secs = 0").await;
    let seen = s.get(h.id, 101).await.unwrap();
    assert!(!seen.sealed);
    assert_ne!(seen.state, HoldState::Released);
    assert_eq!(s.consume(&digest(input), 101).await.unwrap(), None);
    let more = s.approve(h.id, &sign(&alice, h.id, input, Decision::Approve, 102), None, 102).await;
    assert!(matches!(more, Err(Error::Tampered(_))), "{more:?}");
    assert_eq!(s.consume(&digest(input), 10_000).await.unwrap(), None);
}

async fn executed_flipped_back_is_not_run_again(env: Env) {
    let s = &env.store;
    let alice = s.add_approver("alice", 1).await.unwrap();
    let input = "rm -rf /mnt/backups";
    let h = s.enqueue(new_hold(input, obligations(1, 0, 3600)), 100).await.unwrap();
    s.approve(h.id, &sign(&alice, h.id, input, Decision::Approve, 100), None, 100).await.unwrap();
    assert_eq!(s.consume(&digest(input), 101).await.unwrap(), Some(h.id));
    env.exec("UPDATE holds SET state = 'released'").await;
    assert_eq!(s.consume(&digest(input), 102).await.unwrap(), None, "the audit log says it ran");
}

async fn retargeted_digest_breaks_the_seal(env: Env) {
    let s = &env.store;
    let alice = s.add_approver("alice", 1).await.unwrap();
    let input = "ls";
    let h = s.enqueue(new_hold(input, obligations(1, 0, 3600)), 100).await.unwrap();
    s.approve(h.id, &sign(&alice, h.id, input, Decision::Approve, 100), None, 100).await.unwrap();
    let evil: ActionDigest = digest("rm -rf /");
    env.exec(&format!("UPDATE holds SET digest = '{evil}', state = 'released'")).await;
    assert_eq!(s.consume(&evil, 101).await.unwrap(), None);
    assert_eq!(s.consume(&digest(input), 101).await.unwrap(), None);
}
