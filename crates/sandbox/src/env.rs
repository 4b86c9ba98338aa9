//! The command's environment: secrets the vault knows become their placeholders, other
//! secret-looking variables are dropped (by name, never showing the value), and the bridge's
//! proxy and CA variables are set.
//!
//! The vault and the scanner live in another crate; they come in as functions, so this is a
//! pure function of the variables and those answers.
//!
//! ```
//! use holdpoint_sandbox::env::{filter, Outcome};
//!
//! let vars = vec![("PATH".into(), "/usr/bin".into()), ("OPENAI_API_KEY".into(), "sk-real".into()),
//!                 ("GITHUB_TOKEN".into(), "ghp_unknown".into())];
//! let out = filter(vars,
//!     |value| (value == "sk-real").then(|| "hp_placeholder".to_owned()),
//!     |name, _value| name.ends_with("_TOKEN").then(|| "token".to_owned()));
//! assert_eq!(out.vars, vec![("PATH".into(), "/usr/bin".into()), ("OPENAI_API_KEY".into(), "hp_placeholder".into())]);
//! assert_eq!(out.replaced, vec!["OPENAI_API_KEY".to_owned()]);
//! assert_eq!(out.dropped, vec![("GITHUB_TOKEN".to_owned(), "token".to_owned())]);
//! ```

use std::ffi::OsString;

#[cfg(test)]
use crate::layout::BridgeTarget;
use crate::layout::{Bridge, CA_DIR};

/// What [`filter`] made of an environment.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The variables the command gets.
    pub vars: Vec<(OsString, OsString)>,
    /// Names whose value had vault secrets, now placeholders.
    pub replaced: Vec<String>,
    /// Names dropped because they look like secrets, with the kind of secret.
    pub dropped: Vec<(String, String)>,
}

/// Variables that only point at Holdpoint's own files or the host's agents; never passed in.
fn is_holdpoint_own(name: &str) -> bool {
    name.starts_with("HOLDPOINT_")
}

/// Filters `vars`: `vault(value)` returns the value with every vault secret in it replaced by
/// its placeholder (`None` when it holds none); `secret_kind(name, value)` says whether a
/// variable (after that replacement) still looks like a secret, and of which kind.
/// `HOLDPOINT_*` variables are dropped silently (they point at Holdpoint's own files).
pub fn filter(
    vars: impl IntoIterator<Item = (OsString, OsString)>,
    vault: impl Fn(&str) -> Option<String>,
    secret_kind: impl Fn(&str, &str) -> Option<String>,
) -> Outcome {
    let mut out = Outcome::default();
    for (name, value) in vars {
        let shown_name = name.to_string_lossy().into_owned();
        if is_holdpoint_own(&shown_name) {
            continue;
        }
        let text = value.to_string_lossy();
        let (value, text) = match vault(&text) {
            Some(replaced) => {
                out.replaced.push(shown_name.clone());
                (OsString::from(replaced.clone()), replaced)
            }
            None => (value.clone(), text.into_owned()),
        };
        if let Some(kind) = secret_kind(&shown_name, &text) {
            out.dropped.push((shown_name.clone(), kind));
            out.replaced.retain(|n| n != &shown_name);
            continue;
        }
        out.vars.push((name, value));
    }
    out
}

impl Outcome {
    /// The outcome as bytes, to hand it from one process to another (see
    /// [`crate::background`]).
    pub fn to_bytes(&self) -> Vec<u8> {
        let names = |names: &mut dyn Iterator<Item = (&String, &str)>| -> Vec<(OsString, OsString)> {
            names.map(|(a, b)| (OsString::from(a), OsString::from(b))).collect()
        };
        let mut out = encode(&self.vars);
        out.extend(encode(&names(&mut self.replaced.iter().map(|n| (n, "")))));
        out.extend(encode(&names(&mut self.dropped.iter().map(|(n, k)| (n, k.as_str())))));
        out
    }

    /// The inverse of [`Outcome::to_bytes`]; `None` for bytes it did not make.
    pub fn from_bytes(mut bytes: &[u8]) -> Option<Outcome> {
        let text = |s: OsString| s.into_string().ok();
        let vars = decode_prefix(&mut bytes)?;
        let replaced = decode_prefix(&mut bytes)?
            .into_iter()
            .map(|(n, v)| if v.is_empty() { text(n) } else { None })
            .collect::<Option<_>>()?;
        let dropped =
            decode_prefix(&mut bytes)?.into_iter().map(|(n, k)| Some((text(n)?, text(k)?))).collect::<Option<_>>()?;
        bytes.is_empty().then_some(Outcome { vars, replaced, dropped })
    }
}

/// Sets `name` to `value`, replacing any earlier value.
pub fn set(vars: &mut Vec<(OsString, OsString)>, name: &str, value: impl Into<OsString>) {
    vars.retain(|(k, _)| k != name);
    vars.push((name.into(), value.into()));
}

/// The variables that send clients through the bridge and make them trust the proxy's CA
/// (the CA alone for Node, which adds it to its own roots; the system roots plus the CA for
/// the others, since tunnelled hosts present their real certificates).
pub fn bridge_vars(vars: &mut Vec<(OsString, OsString)>, bridge: &Bridge, with_ca: bool) {
    let proxy = format!("http://127.0.0.1:{}", bridge.port);
    for name in ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"] {
        set(vars, name, proxy.as_str());
    }
    for name in ["NO_PROXY", "no_proxy"] {
        set(vars, name, "localhost,127.0.0.1,::1");
    }
    for name in ["ALL_PROXY", "all_proxy"] {
        vars.retain(|(k, _)| k != name);
    }
    if with_ca {
        let bundle = format!("{CA_DIR}/ca-bundle.pem");
        for name in ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "AWS_CA_BUNDLE", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO"] {
            set(vars, name, bundle.as_str());
        }
        set(vars, "NODE_EXTRA_CA_CERTS", format!("{CA_DIR}/ca.pem"));
    }
}

/// The environment as bytes for the pipe from the supervisor to the command: the number of
/// variables, then each name and value, each as a little-endian u32 length and the bytes.
/// Nothing at all (a supervisor that gave up) is not an environment.
pub(crate) fn encode(vars: &[(OsString, OsString)]) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    let mut out = Vec::new();
    out.extend_from_slice(&u32::try_from(vars.len()).unwrap_or(u32::MAX).to_le_bytes());
    for (k, v) in vars {
        for part in [k.as_bytes(), v.as_bytes()] {
            out.extend_from_slice(&u32::try_from(part.len()).unwrap_or(u32::MAX).to_le_bytes());
            out.extend_from_slice(part);
        }
    }
    out
}

/// The inverse of [`encode`]; `None` for bytes it did not make.
pub(crate) fn decode(mut bytes: &[u8]) -> Option<Vec<(OsString, OsString)>> {
    let vars = decode_prefix(&mut bytes)?;
    bytes.is_empty().then_some(vars)
}

/// Decodes what [`encode`] made at the start of `bytes`, leaving the rest there.
fn decode_prefix(bytes: &mut &[u8]) -> Option<Vec<(OsString, OsString)>> {
    use std::os::unix::ffi::OsStringExt;
    let take = |bytes: &mut &[u8]| -> Option<OsString> {
        let (len, rest) = bytes.split_first_chunk::<4>()?;
        let len = usize::try_from(u32::from_le_bytes(*len)).ok()?;
        let (part, rest) = rest.split_at_checked(len)?;
        *bytes = rest;
        Some(OsString::from_vec(part.to_vec()))
    };
    let (count, rest) = bytes.split_first_chunk::<4>()?;
    let count = u32::from_le_bytes(*count);
    *bytes = rest;
    let mut vars = Vec::new();
    for _ in 0..count {
        let k = take(bytes)?;
        let v = take(bytes)?;
        vars.push((k, v));
    }
    Some(vars)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs.iter().map(|(k, v)| (OsString::from(k), OsString::from(v))).collect()
    }

    #[test]
    fn a_url_holding_a_vault_password_keeps_its_shape() {
        let out = filter(
            v(&[("DATABASE_URL", "postgres://app:s3cr3t-pw@db/app")]),
            |value| value.contains("s3cr3t-pw").then(|| value.replace("s3cr3t-pw", "hp_x")),
            |_, value| value.contains("s3cr3t").then(|| "url".to_owned()),
        );
        assert_eq!(out.vars, v(&[("DATABASE_URL", "postgres://app:hp_x@db/app")]));
        assert_eq!(out.replaced, vec!["DATABASE_URL".to_owned()]);
    }

    #[test]
    fn a_value_still_secret_after_replacement_is_dropped() {
        let out = filter(
            v(&[("PAIR", "known other-secret")]),
            |value| Some(value.replace("known", "hp_x")),
            |_, value| value.contains("other-secret").then(|| "generic".to_owned()),
        );
        assert!(out.vars.is_empty());
        assert!(out.replaced.is_empty());
        assert_eq!(out.dropped, vec![("PAIR".to_owned(), "generic".to_owned())]);
    }

    #[test]
    fn the_wire_form_round_trips() {
        let vars = v(&[("A", "1"), ("EMPTY", ""), ("UTF", "é=x")]);
        assert_eq!(decode(&encode(&vars)), Some(vars.clone()));
        assert_eq!(decode(&encode(&[])), Some(Vec::new()));
        assert_eq!(decode(&[]), None, "a supervisor that wrote nothing sent no environment");
        assert_eq!(decode(&[1, 0, 0]), None);
        assert_eq!(decode(&[1, 0, 0, 0, 5, 0, 0, 0, b'a']), None);
        let mut long = encode(&vars);
        long.push(0);
        assert_eq!(decode(&long), None);
    }

    #[test]
    fn an_outcome_round_trips() {
        let outcome = Outcome {
            vars: v(&[("A", "1"), ("KEY", "hp_x")]),
            replaced: vec!["KEY".into()],
            dropped: vec![("TOKEN".into(), "generic secret".into())],
        };
        assert_eq!(Outcome::from_bytes(&outcome.to_bytes()), Some(outcome));
        assert_eq!(Outcome::from_bytes(&Outcome::default().to_bytes()), Some(Outcome::default()));
        assert_eq!(Outcome::from_bytes(&encode(&v(&[("A", "1")]))), None);
        assert_eq!(Outcome::from_bytes(&[]), None);
        let mut odd = encode(&[]);
        odd.extend(encode(&v(&[("KEY", "a value where none goes")])));
        odd.extend(encode(&[]));
        assert_eq!(Outcome::from_bytes(&odd), None);
    }

    #[test]
    fn holdpoint_variables_never_pass() {
        let out = filter(v(&[("HOLDPOINT_HOME", "/x"), ("TERM", "xterm")]), |_| None, |_, _| None);
        assert_eq!(out.vars, v(&[("TERM", "xterm")]));
    }

    #[test]
    fn the_bridge_sets_proxies_and_the_ca() {
        let mut vars = v(&[("HTTPS_PROXY", "http://corp:3128"), ("ALL_PROXY", "socks5://x")]);
        bridge_vars(&mut vars, &Bridge { target: BridgeTarget::Unix("/s".into()), port: 8788 }, true);
        let get = |n: &str| vars.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        assert_eq!(get("HTTPS_PROXY"), Some("http://127.0.0.1:8788".into()));
        assert_eq!(get("ALL_PROXY"), None);
        assert_eq!(get("NODE_EXTRA_CA_CERTS"), Some("/run/holdpoint/ca.pem".into()));
        assert_eq!(get("SSL_CERT_FILE"), Some("/run/holdpoint/ca-bundle.pem".into()));
    }
}
