//! Settling a held action: the one path every wire that holds an action shares (the hook,
//! the proxies). A release waiting for this exact action is used, once; otherwise the action
//! is queued and the caller waits a while for a human's decision.

use std::time::Duration;

use crate::{Error, Hold, HoldId, HoldState, NewHold, Store};

/// What became of a held action after [`Store::settle_held`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settled {
    /// Released by its approvers: this exact action may run now, once (the release is used).
    Released(HoldId),
    /// Still waiting for a decision (or for its cool-off delay) when the wait ran out.
    Waiting(HoldId),
    /// Closed without a release: denied, expired or cancelled.
    Closed(HoldId, HoldState),
}

impl Store {
    /// Settles a held action. A release of the same digest that nobody used yet is consumed
    /// and the action runs once. Otherwise the hold is queued (or the open hold of the same
    /// digest is found), `on_new` hears of a hold this call created (to announce it before the
    /// wait), and the call waits up to `wait` for a decision. `clock` gives unix seconds.
    pub async fn settle_held(
        &self,
        new: NewHold,
        wait: Duration,
        clock: impl Fn() -> u64,
        on_new: impl FnOnce(&Hold),
    ) -> Result<Settled, Error> {
        let digest = new.digest;
        if let Some(id) = self.consume(&digest, clock()).await? {
            return Ok(Settled::Released(id));
        }
        let (hold, created) = self.enqueue_new(new, clock()).await?;
        if created {
            on_new(&hold);
        }
        let hold = self.wait_decision(hold.id, wait, &clock).await?;
        Ok(match hold.state {
            HoldState::Released => match self.consume(&digest, clock()).await? {
                Some(id) => Settled::Released(id),
                // Another caller used this release first: this one waits for its own.
                None => Settled::Waiting(hold.id),
            },
            HoldState::Denied | HoldState::Expired | HoldState::Cancelled => Settled::Closed(hold.id, hold.state),
            HoldState::Pending | HoldState::Approved | HoldState::Executed => Settled::Waiting(hold.id),
        })
    }
}
