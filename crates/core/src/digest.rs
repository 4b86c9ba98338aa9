//! `ActionDigest`: the identity an approval is bound to.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::Channel;

/// The domain separator that starts every encoding; bumped if the encoding ever changes.
const DOMAIN: &str = "holdpoint.action.v1";

/// SHA-256 over the canonical encoding of an action's channel, workspace, target and raw input.
///
/// The encoding is five netstrings (`<byte length in decimal>:<bytes>,`) in this order:
/// the domain `holdpoint.action.v1`, the channel name, the workspace, the target and the
/// input. Length prefixes make the encoding unambiguous: no two different field tuples
/// encode to the same bytes.
///
/// ```
/// use holdpoint_core::{ActionDigest, Channel};
/// let d = ActionDigest::of(Channel::Shell, "/w", "", "ls");
/// assert_eq!(
///     ActionDigest::canonical_encoding(Channel::Shell, "/w", "", "ls"),
///     b"19:holdpoint.action.v1,5:shell,2:/w,0:,2:ls,"
/// );
/// assert!(d.to_string().starts_with("sha256:"));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ActionDigest([u8; 32]);

impl ActionDigest {
    /// The digest of one action's identity: its encoding gathered, then hashed in one pass
    /// (SHA-256 takes whole blocks straight from one slice; ten small updates each copied into
    /// its buffer cost more than the copy). Every audit record of a proxy's decision has one.
    pub fn of(channel: Channel, workspace: &str, target: &str, input: &str) -> Self {
        ActionDigest(Sha256::digest(netstrings(&[DOMAIN, channel.as_str(), workspace, target, input])).into())
    }

    /// The exact bytes that are hashed.
    pub fn canonical_encoding(channel: Channel, workspace: &str, target: &str, input: &str) -> Vec<u8> {
        netstrings(&[DOMAIN, channel.as_str(), workspace, target, input])
    }

    /// The 32 digest bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for ActionDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sha256:")?;
        crate::hex::write(f, &self.0)
    }
}

impl fmt::Debug for ActionDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Netstrings (`<byte length in decimal>:<bytes>,`) of a field list: unambiguous, so no two
/// different lists encode to the same bytes. Every signed or hashed message of Holdpoint is
/// built this way.
///
/// ```
/// assert_eq!(holdpoint_core::netstrings(&["ab", ""]), b"2:ab,0:,");
/// ```
pub fn netstrings(fields: &[&str]) -> Vec<u8> {
    let mut out = Vec::with_capacity(fields.iter().map(|f| f.len() + 22).sum());
    for field in fields {
        out.extend_from_slice(itoa::Buffer::new().format(field.len()).as_bytes());
        out.push(b':');
        out.extend_from_slice(field.as_bytes());
        out.push(b',');
    }
    out
}

/// A string that is not `sha256:` followed by 64 lower-case hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an action digest: expected \"sha256:\" and 64 lower-case hex digits")]
pub struct BadDigest;

impl FromStr for ActionDigest {
    type Err = BadDigest;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex = s.strip_prefix("sha256:").ok_or(BadDigest)?;
        let bytes = crate::hex::decode(hex).ok_or(BadDigest)?;
        bytes.try_into().map(ActionDigest).map_err(|_| BadDigest)
    }
}

impl Serialize for ActionDigest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ActionDigest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}
