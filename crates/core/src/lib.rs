//! Holdpoint's shared vocabulary.
//!
//! Every channel an agent acts through (shell commands, file tools, SQL, HTTP, MCP) is turned
//! into one [`Action`]: the raw input plus the [`Effect`]s a classifier found in it. The policy
//! turns effects into a [`Verdict`]; every refusal is one [`Denial`], mapped once per wire.
//! An approval is bound to an [`ActionDigest`], a hash over the action's canonical encoding.
//!
//! This crate does no IO: everything here is a pure function of its input.
#![forbid(unsafe_code)]

mod action;
mod canonical;
mod denial;
mod digest;
pub mod hex;
mod verdict;

pub use action::{Action, Actor, Channel, Effect, Reversibility, Scope, Target, TargetKind, Verb};
pub use canonical::{canonical_json, push_canonical, push_json_str};
pub use denial::Denial;
pub use digest::{ActionDigest, BadDigest, netstrings};
pub use verdict::{Obligations, Verdict, VerdictKind};

/// An input string that does not name a member of one of the closed enums.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {given:?}; expected one of: {expected}")]
pub struct UnknownName {
    /// Which enum was asked for (`channel`, `verb`, ...).
    pub what: &'static str,
    /// What was given.
    pub given: String,
    /// The accepted names, comma separated.
    pub expected: String,
}

/// Declares a closed, serde-named enum with `as_str`, `ALL` and `FromStr`.
macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal { $($(#[$vmeta:meta])* $variant:ident => $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant,)+
        }

        impl $name {
            /// Every member, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The stable lower-case name used in JSON, Cedar and the digest.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text,)+ }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::UnknownName;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err($crate::UnknownName {
                        what: $what,
                        given: s.to_owned(),
                        expected: [$($text,)+].join(", "),
                    }),
                }
            }
        }
    };
}
pub(crate) use named_enum;
