//! Holdpoint's policy: the Cedar schema, the default policy set, configuration files, and the
//! evaluation of an action's effects into one [`Decision`].
//!
//! Cedar only permits or forbids; Holdpoint reads three verdicts out of policy annotations
//! (see `policies/guarded.cedar` and ARCHITECTURE.md, "Policy"):
//!
//! ```
//! use holdpoint_core::*;
//! use holdpoint_policy::{Engine, Profile};
//!
//! let engine = Engine::new(Profile::Guarded, &[]).unwrap();
//! let effect = Effect::new(
//!     Verb::Delete,
//!     Target::new(TargetKind::Path, "/").tagged("root"),
//!     Reversibility::Irreversible,
//!     Scope::Host,
//! );
//! let action = Action {
//!     channel: Channel::Shell,
//!     actor: Actor { workspace: "/w".into(), ..Actor::default() },
//!     target: String::new(),
//!     input: "rm -rf /".into(),
//!     effects: vec![effect],
//! };
//! let decision = engine.decide(&action);
//! assert_eq!(decision.verdict.kind(), VerdictKind::Deny);
//! assert_eq!(decision.policies, ["deny-delete-root"]);
//! ```
//!
//! Nothing here does IO: files are handed in as text.
#![forbid(unsafe_code)]

pub mod config;
mod engine;
mod error;
pub mod project;
mod source;

pub use engine::{Decision, EffectDecision, Engine, Mode, PolicyMatch};
pub use error::{Error, Located};
pub use source::PolicyFile;

use holdpoint_core::UnknownName;

/// The Cedar schema every policy is validated against.
pub const SCHEMA: &str = include_str!("../policies/schema.cedarschema");
/// The default policy set (`guarded` profile).
pub const GUARDED: &str = include_str!("../policies/guarded.cedar");
/// What the `strict` profile adds to the default set.
pub const STRICT: &str = include_str!("../policies/strict.cedar");

/// A named set of built-in policies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Profile {
    /// The default: deny the dangerous, hold the irreversible, allow routine work.
    #[default]
    Guarded,
    /// `guarded`, and every write that leaves the machine is held.
    Strict,
    /// `guarded` decisions, reported and audited but never enforced.
    Observe,
}

impl Profile {
    /// The profile's name in config files and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Guarded => "guarded",
            Profile::Strict => "strict",
            Profile::Observe => "observe",
        }
    }
}

impl std::str::FromStr for Profile {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "guarded" => Ok(Profile::Guarded),
            "strict" => Ok(Profile::Strict),
            "observe" => Ok(Profile::Observe),
            _ => Err(UnknownName { what: "profile", given: s.to_owned(), expected: "guarded, strict, observe".into() }),
        }
    }
}
