//! Tool results, redacted before they reach the agent: the vault's secrets wherever they
//! appear, and every line in which the secret scanner finds a known key format.

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

/// What a vault secret is replaced with.
pub const VAULT_MARK: &str = "[redacted by holdpoint: vault secret]";
/// Secrets shorter than this are not searched for (they would match ordinary text).
const SECRET_MIN: usize = 6;

/// Replaces secrets in tool results.
pub struct Redactor {
    /// Longest first, so a secret containing another is replaced whole.
    secrets: Vec<SecretString>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor").field("secrets", &self.secrets.len()).finish()
    }
}

impl Redactor {
    /// A redactor for these vault secrets (and the scanner's key formats).
    pub fn new(secrets: impl IntoIterator<Item = SecretString>) -> Redactor {
        let mut secrets: Vec<SecretString> =
            secrets.into_iter().filter(|s| s.expose_secret().len() >= SECRET_MIN).collect();
        secrets.sort_by_key(|s| std::cmp::Reverse(s.expose_secret().len()));
        Redactor { secrets }
    }

    /// Redacts every string inside `value`; returns how many strings changed.
    pub fn redact_value(&self, value: &mut Value) -> usize {
        match value {
            Value::String(text) => match self.redact(text) {
                Some(clean) => {
                    *text = clean;
                    1
                }
                None => 0,
            },
            Value::Array(items) => items.iter_mut().map(|v| self.redact_value(v)).sum(),
            Value::Object(map) => {
                // Keys are text the agent reads too.
                let mut changed = 0;
                let entries = std::mem::take(map);
                for (key, mut v) in entries {
                    changed += self.redact_value(&mut v);
                    let key = match self.redact(&key) {
                        Some(clean) => {
                            changed += 1;
                            clean
                        }
                        None => key,
                    };
                    map.insert(key, v);
                }
                changed
            }
            _ => 0,
        }
    }

    /// The text with vault secrets and lines holding known key formats replaced, or `None`
    /// when there is nothing to redact.
    pub fn redact(&self, text: &str) -> Option<String> {
        let mut out: Option<String> = None;
        for secret in &self.secrets {
            let secret = secret.expose_secret();
            let current = out.as_deref().unwrap_or(text);
            if current.contains(secret) {
                out = Some(current.replace(secret, VAULT_MARK));
            }
        }
        let current = out.as_deref().unwrap_or(text);
        match scanned(current) {
            Some(clean) => Some(clean),
            None => out,
        }
    }
}

/// The text with each line the scanner finds a secret in replaced by a note naming its kind
/// and fingerprint; `None` when it finds none. A scanner that cannot load redacts everything.
fn scanned(text: &str) -> Option<String> {
    let hits = match holdpoint_vault::scan::Detector::builtin() {
        Ok(detector) => detector.scan(text.as_bytes()),
        Err(e) => return Some(format!("[redacted by holdpoint: the secret scanner cannot load: {e}]")),
    };
    if hits.is_empty() {
        return None;
    }
    let lines: Vec<String> = text
        .split('\n')
        .enumerate()
        .map(|(i, line)| {
            let n = u64::try_from(i).unwrap_or(u64::MAX).saturating_add(1);
            let found: Vec<String> =
                hits.iter().filter(|h| h.line == n).map(|h| format!("{} {}", h.kind, h.fingerprint)).collect();
            if found.is_empty() { line.to_owned() } else { format!("[redacted by holdpoint: {}]", found.join(", ")) }
        })
        .collect();
    Some(lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vault_secrets_and_key_formats_are_redacted() {
        let r = Redactor::new([SecretString::from("s3cr3t-value-42"), SecretString::from("abc")]);
        assert_eq!(r.redact("token s3cr3t-value-42 here").unwrap(), format!("token {VAULT_MARK} here"));
        assert_eq!(r.redact("abc is short"), None);
        let gh = format!("ok\nGITHUB_TOKEN=ghp_{}\nbye", "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8");
        let clean = r.redact(&gh).unwrap();
        assert!(clean.starts_with("ok\n[redacted by holdpoint: ") && clean.ends_with("\nbye"), "{clean}");
        assert!(!clean.contains("ghp_"));
        let mut v = serde_json::json!({"content":[{"type":"text","text":"s3cr3t-value-42"}],"isError":false});
        assert_eq!(r.redact_value(&mut v), 1);
        assert_eq!(v["content"][0]["text"], VAULT_MARK);
        // Found by the mcp_jsonrpc fuzz target: a secret as an object key.
        let mut v = serde_json::json!({"params": {"names3cr3t-value-42": {"x": "y"}}});
        assert_eq!(r.redact_value(&mut v), 1);
        assert!(!v.to_string().contains("s3cr3t-value-42"), "{v}");
    }
}
