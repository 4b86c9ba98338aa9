//! Verdicts and the obligations a hold carries.

use serde::{Deserialize, Serialize};

use crate::{Denial, named_enum};

named_enum! {
    /// The three answers, without their details; ordered from mildest to strictest.
    VerdictKind, "verdict" {
        /// Go ahead.
        Allow => "allow",
        /// Wait for a human to approve this exact action.
        Hold => "hold",
        /// Refused.
        Deny => "deny",
    }
}

/// What must happen before a held action may run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Obligations {
    /// Distinct approvers needed (two-person rule when 2).
    pub approvers: u32,
    /// Cool-off delay between the last approval and release, in seconds; cancellable.
    pub delay_secs: u64,
    /// How long the hold waits for approval before it expires, in seconds.
    pub ttl_secs: u64,
    /// Whether the action is carried out as a soft delete (moved to trash) when it runs.
    pub soft_delete: bool,
}

impl Obligations {
    /// No obligations: what an allow or a deny carries.
    pub const NONE: Obligations = Obligations { approvers: 0, delay_secs: 0, ttl_secs: 0, soft_delete: false };

    /// The strictest of both: obligations from several policies add up this way, so a
    /// policy can only ever make a hold stricter.
    #[must_use]
    pub fn strictest(self, other: Obligations) -> Obligations {
        Obligations {
            approvers: self.approvers.max(other.approvers),
            delay_secs: self.delay_secs.max(other.delay_secs),
            ttl_secs: self.ttl_secs.max(other.ttl_secs),
            soft_delete: self.soft_delete || other.soft_delete,
        }
    }
}

/// The policy's answer for an action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case", deny_unknown_fields)]
pub enum Verdict {
    /// Go ahead.
    Allow,
    /// Wait for approval of this exact action, then meet the obligations.
    Hold {
        /// What approval and release need.
        obligations: Obligations,
    },
    /// Refused, for this reason.
    Deny {
        /// Why.
        denial: Denial,
    },
}

impl Verdict {
    /// The verdict without its details.
    pub fn kind(&self) -> VerdictKind {
        match self {
            Verdict::Allow => VerdictKind::Allow,
            Verdict::Hold { .. } => VerdictKind::Hold,
            Verdict::Deny { .. } => VerdictKind::Deny,
        }
    }
}
