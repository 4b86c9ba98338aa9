//! Approver tokens, signed decisions, and the canonical byte strings every signature covers.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;
use std::sync::{Mutex, OnceLock};

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use holdpoint_core::ActionDigest;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::{Error, HoldId};

/// The prefix of every approver token.
const TOKEN_PREFIX: &str = "hpa_";

/// What an approver decides about a hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Let the action run (once enough approvers agree and the delay has passed).
    Approve,
    /// Refuse the action.
    Deny,
    /// Call off an approved action during its cool-off delay.
    Cancel,
}

impl Decision {
    /// The stable lower-case name used in signatures, the database and JSON.
    pub const fn as_str(self) -> &'static str {
        match self {
            Decision::Approve => "approve",
            Decision::Deny => "deny",
            Decision::Cancel => "cancel",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Decision> {
        match s {
            "approve" => Some(Decision::Approve),
            "deny" => Some(Decision::Deny),
            "cancel" => Some(Decision::Cancel),
            _ => None,
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An approver's public key: what the store keeps to check their signatures.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ApproverKey(pub(crate) [u8; 32]);

impl ApproverKey {
    /// The 32 key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub(crate) fn verifying(&self) -> Option<VerifyingKey> {
        VerifyingKey::from_bytes(&self.0).ok()
    }
}

impl fmt::Display for ApproverKey {
    /// 64 lower-case hex digits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex(&self.0))
    }
}

impl fmt::Debug for ApproverKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApproverKey({self})")
    }
}

impl FromStr for ApproverKey {
    type Err = Error;
    /// Parses 64 lower-case hex digits.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        unhex::<32>(s).map(ApproverKey).ok_or_else(|| Error::BadData(format!("not an approver key: {s:?}")))
    }
}

impl Serialize for ApproverKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ApproverKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// An approver's secret: the ed25519 seed, shown once by `holdpoint approver add`.
///
/// Its text form is `hpa_` followed by the 32-byte seed as 64 lower-case hex digits. It has no
/// `Display` (so it is not printed by accident) and its `Debug` hides the secret; the key is
/// wiped from memory when the token is dropped.
///
/// ```
/// use holdpoint_core::{ActionDigest, Channel};
/// use holdpoint_store::{ApproverToken, Decision, HoldId};
///
/// let token: ApproverToken = format!("hpa_{}", "07".repeat(32)).parse().unwrap();
/// let digest = ActionDigest::of(Channel::Shell, "/w", "", "rm -rf data");
/// let signed = token.sign(HoldId::new(7).unwrap(), &digest, Decision::Approve, 1_700_000_000);
/// assert_eq!(signed.approver, token.key());
/// assert!(signed.verify(HoldId::new(7).unwrap(), &digest));
/// assert!(!signed.verify(HoldId::new(8).unwrap(), &digest));
/// ```
pub struct ApproverToken {
    key: SigningKey,
}

impl ApproverToken {
    /// A fresh token from the operating system's random number generator.
    pub(crate) fn generate() -> Result<ApproverToken, Error> {
        Ok(ApproverToken { key: SigningKey::from_bytes(&*random_seed()?) })
    }

    /// The public half: what the store registers for this approver.
    pub fn key(&self) -> ApproverKey {
        ApproverKey(self.key.verifying_key().to_bytes())
    }

    /// The token's text (`hpa_<64 hex>`), to show once or write to a token file (mode 0600).
    /// The returned string is wiped when dropped.
    pub fn expose_secret(&self) -> Zeroizing<String> {
        let seed = Zeroizing::new(self.key.to_bytes());
        Zeroizing::new(format!("{TOKEN_PREFIX}{}", hex(seed.as_slice())))
    }

    /// Signs a decision about one hold; see [`decision_message`] for the exact bytes.
    pub fn sign(&self, hold: HoldId, digest: &ActionDigest, decision: Decision, time: u64) -> SignedDecision {
        let message = decision_message(hold, digest, decision, time);
        SignedDecision { approver: self.key(), decision, time, signature: self.key.sign(&message).to_bytes() }
    }
}

impl FromStr for ApproverToken {
    type Err = Error;
    /// Parses `hpa_` and 64 hex digits; surrounding whitespace (a token file's newline) is ignored.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex = s.trim().strip_prefix(TOKEN_PREFIX).ok_or(Error::BadToken)?;
        let seed = Zeroizing::new(unhex::<32>(hex).ok_or(Error::BadToken)?);
        Ok(ApproverToken { key: SigningKey::from_bytes(&seed) })
    }
}

impl fmt::Debug for ApproverToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApproverToken {{ key: {}, secret: <hidden> }}", self.key())
    }
}

/// One approver's signed decision about one hold, as given to `approve`, `deny` or `cancel`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedDecision {
    /// The public key of the approver who signed.
    pub approver: ApproverKey,
    /// What they decided.
    pub decision: Decision,
    /// When, in unix seconds (part of the signed message).
    pub time: u64,
    /// The ed25519 signature over [`decision_message`].
    #[serde(with = "hex_signature")]
    pub signature: [u8; 64],
}

impl SignedDecision {
    /// Whether the signature is valid for this hold and action digest under `self.approver`.
    /// (The store also checks that the key belongs to a registered approver.)
    pub fn verify(&self, hold: HoldId, digest: &ActionDigest) -> bool {
        let Some(key) = self.approver.verifying() else { return false };
        let message = decision_message(hold, digest, self.decision, self.time);
        verify_cached(&key, &message, &self.signature)
    }
}

/// The exact bytes an approver signs: five netstrings (`<byte length>:<bytes>,`), in order
/// `holdpoint.decision.v1`, the hold id in decimal, the action digest as `sha256:<hex>`,
/// the decision (`approve` | `deny` | `cancel`) and the time in decimal unix seconds.
///
/// ```
/// use holdpoint_core::{ActionDigest, Channel};
/// use holdpoint_store::{decision_message, Decision, HoldId};
/// let digest = ActionDigest::of(Channel::Shell, "/w", "", "ls");
/// let message = decision_message(HoldId::new(12).unwrap(), &digest, Decision::Approve, 1700000000);
/// assert_eq!(
///     String::from_utf8(message).unwrap(),
///     format!("21:holdpoint.decision.v1,2:12,71:{digest},7:approve,10:1700000000,")
/// );
/// ```
pub fn decision_message(hold: HoldId, digest: &ActionDigest, decision: Decision, time: u64) -> Vec<u8> {
    netstrings(&["holdpoint.decision.v1", &hold.to_string(), &digest.to_string(), decision.as_str(), &time.to_string()])
}

pub(crate) use holdpoint_core::netstrings;

/// 32 random bytes from the operating system, wiped when dropped.
pub(crate) fn random_seed() -> Result<Zeroizing<[u8; 32]>, Error> {
    let mut seed = Zeroizing::new([0u8; 32]);
    getrandom::fill(seed.as_mut_slice()).map_err(|e| Error::Random(e.to_string()))?;
    Ok(seed)
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    holdpoint_core::hex::encode(bytes)
}

/// Exactly `2 * N` lower-case hex digits into `N` bytes.
pub(crate) fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    holdpoint_core::hex::decode(s)?.try_into().ok()
}

/// Verifies a hex signature over `message` with `key`.
pub(crate) fn verify_hex(key: &VerifyingKey, message: &[u8], signature_hex: &str) -> bool {
    let Some(sig) = unhex::<64>(signature_hex) else { return false };
    verify_cached(key, message, &sig)
}

/// Signs `message` and returns the signature as hex.
pub(crate) fn sign_hex(key: &SigningKey, message: &[u8]) -> String {
    let signature = key.sign(message).to_bytes();
    remember_valid(&key.verifying_key(), message, &signature);
    hex(&signature)
}

/// Signatures already found valid, by SHA-256 of (key, signature, message). Holds and
/// approvals are re-derived on every read (and polled by waiting hooks), so each signature
/// would otherwise be checked again and again; a hit needs a SHA-256 collision to be wrong.
static VERIFIED: OnceLock<Mutex<HashSet<[u8; 32]>>> = OnceLock::new();
const VERIFIED_MAX: usize = 1 << 16;

fn verified_key(key: &VerifyingKey, message: &[u8], signature: &[u8; 64]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(key.as_bytes());
    h.update(signature);
    h.update(message);
    h.finalize().into()
}

fn verified_set() -> std::sync::MutexGuard<'static, HashSet<[u8; 32]>> {
    let set = VERIFIED.get_or_init(|| Mutex::new(HashSet::new()));
    set.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn remember_valid(key: &VerifyingKey, message: &[u8], signature: &[u8; 64]) {
    let entry = verified_key(key, message, signature);
    let mut set = verified_set();
    if set.len() >= VERIFIED_MAX {
        set.clear();
    }
    set.insert(entry);
}

/// `verify_strict`, remembering valid signatures.
pub(crate) fn verify_cached(key: &VerifyingKey, message: &[u8], signature: &[u8; 64]) -> bool {
    if verified_set().contains(&verified_key(key, message, signature)) {
        return true;
    }
    let ok = key.verify_strict(message, &Signature::from_bytes(signature)).is_ok();
    if ok {
        remember_valid(key, message, signature);
    }
    ok
}

mod hex_signature {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(sig: &[u8; 64], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::hex(sig))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 64], D::Error> {
        let text = String::deserialize(d)?;
        super::unhex::<64>(&text).ok_or_else(|| serde::de::Error::custom("signature: expected 128 hex digits"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips() {
        let bytes = [0u8, 1, 0xab, 0xff];
        assert_eq!(hex(&bytes), "0001abff");
        assert_eq!(unhex::<4>("0001abff"), Some(bytes));
        assert_eq!(unhex::<4>("0001ABFF"), None);
        assert_eq!(unhex::<4>("0001abf"), None);
    }

    #[test]
    fn token_text_round_trips_and_hides_in_debug() {
        let token = ApproverToken::generate().unwrap();
        let text = token.expose_secret();
        assert!(text.starts_with("hpa_") && text.len() == 68);
        let again: ApproverToken = text.parse().unwrap();
        assert_eq!(again.key(), token.key());
        assert!(!format!("{token:?}").contains(&text[4..]));
        assert!("hpa_xyz".parse::<ApproverToken>().is_err());
    }
}
