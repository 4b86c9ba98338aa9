//! The hold types: what is waiting for a human, and in which state.

use std::fmt;
use std::str::FromStr;

use holdpoint_core::{ActionDigest, Channel, Obligations};
use serde::{Deserialize, Serialize};

/// A hold's id: a positive integer, as `holdpoint approve <ID>` takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HoldId(u64);

impl HoldId {
    /// The id `n`, or `None` for 0 (ids start at 1).
    pub const fn new(n: u64) -> Option<HoldId> {
        if n == 0 { None } else { Some(HoldId(n)) }
    }

    /// The number.
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for HoldId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for HoldId {
    type Err = std::num::ParseIntError;
    /// Parses a decimal id; `0` is refused like any other non-id.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let n: std::num::NonZeroU64 = s.parse()?;
        Ok(HoldId(n.get()))
    }
}

/// Where a hold is in its life.
///
/// `Pending → Approved → (cool-off delay) → Released → Executed`, or `Denied`, `Expired`,
/// `Cancelled`. The first three are open; the last four are final.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldState {
    /// Waiting for its first approval.
    Pending,
    /// Approved by some approvers: waiting for more, or for the cool-off delay to pass.
    Approved,
    /// Enough approvals and the delay has passed: the action may run once.
    Released,
    /// The released action ran (its release was consumed).
    Executed,
    /// An approver refused it.
    Denied,
    /// Nobody approved it before its TTL ran out.
    Expired,
    /// An approver called it off during the cool-off delay.
    Cancelled,
}

impl HoldState {
    /// The stable lower-case name used in the database and JSON.
    pub const fn as_str(self) -> &'static str {
        match self {
            HoldState::Pending => "pending",
            HoldState::Approved => "approved",
            HoldState::Released => "released",
            HoldState::Executed => "executed",
            HoldState::Denied => "denied",
            HoldState::Expired => "expired",
            HoldState::Cancelled => "cancelled",
        }
    }

    /// Pending, approved or released: the hold can still lead to the action running.
    pub const fn is_open(self) -> bool {
        matches!(self, HoldState::Pending | HoldState::Approved | HoldState::Released)
    }

    /// Pending or approved: a human still has to act (or the delay still has to pass).
    pub const fn is_waiting(self) -> bool {
        matches!(self, HoldState::Pending | HoldState::Approved)
    }

    pub(crate) fn parse(s: &str) -> Option<HoldState> {
        Some(match s {
            "pending" => HoldState::Pending,
            "approved" => HoldState::Approved,
            "released" => HoldState::Released,
            "executed" => HoldState::Executed,
            "denied" => HoldState::Denied,
            "expired" => HoldState::Expired,
            "cancelled" => HoldState::Cancelled,
            _ => return None,
        })
    }
}

impl fmt::Display for HoldState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the policy held, as given to [`Store::enqueue`](crate::Store::enqueue).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewHold {
    /// The identity an approval is bound to.
    pub digest: ActionDigest,
    /// The channel the action came through.
    pub channel: Channel,
    /// One line saying what the action is (shown to approvers).
    pub summary: String,
    /// Why it was held, in plain words (the policy's reasons).
    pub reason: String,
    /// The action itself, as JSON, so an approver sees exactly what would run.
    pub action_json: String,
    /// What approval and release need.
    pub obligations: Obligations,
}

/// One registered approver's valid approval of a hold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    /// The approver's name.
    pub approver: String,
    /// The signed time of the approval, unix seconds.
    pub time: u64,
}

/// A hold as the store sees it now.
///
/// `state`, `approvals` and `release_at` are derived from the verified signatures, not taken
/// from the database row: a row edited to say `released` still reads as `pending`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    /// The hold's id.
    pub id: HoldId,
    /// The digest of the held action.
    pub digest: ActionDigest,
    /// The channel the action came through.
    pub channel: Channel,
    /// One line saying what the action is.
    pub summary: String,
    /// Why it was held.
    pub reason: String,
    /// The action, as JSON.
    pub action_json: String,
    /// What approval and release need.
    pub obligations: Obligations,
    /// Where the hold is now.
    pub state: HoldState,
    /// When it was created, unix seconds.
    pub created: u64,
    /// When it expires if not approved by enough approvers, unix seconds.
    pub expires: u64,
    /// The distinct registered approvers whose signed approvals verify, earliest first.
    pub approvals: Vec<Approval>,
    /// When it is (or was) released: the last needed approval's time plus the delay.
    pub release_at: Option<u64>,
    /// Whether the hold's stored fields still match the store's seal; an unsealed hold was
    /// edited in the database and is never released.
    pub sealed: bool,
}

impl Hold {
    /// How many distinct approvers this hold needs (at least one).
    pub fn approvers_needed(&self) -> u32 {
        self.obligations.approvers.max(1)
    }
}
