//! Canonical JSON: the one text form of a structured input, so equal inputs hash equally.

use std::fmt::Write as _;

use serde_json::Value;

/// Compact JSON with object keys sorted by their UTF-8 bytes at every level.
///
/// serde_json's own map keeps insertion order when another crate turns on its
/// `preserve_order` feature, so the order is imposed here rather than assumed.
///
/// ```
/// let v: serde_json::Value = serde_json::from_str(r#"{"path":"/a","op":"read"}"#).unwrap();
/// assert_eq!(holdpoint_core::canonical_json(&v), r#"{"op":"read","path":"/a"}"#);
/// ```
#[must_use]
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    push_canonical(&mut out, value);
    out
}

/// Appends [`canonical_json`] of `value` to `out`.
pub fn push_canonical(out: &mut String, value: &Value) {
    match value {
        Value::Object(map) => {
            out.push('{');
            // Maps built in key order (most are) need no sorted copy.
            if map.keys().is_sorted() {
                push_members(out, map.iter());
            } else {
                let mut entries: Vec<_> = map.iter().collect();
                entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
                push_members(out, entries.into_iter());
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_canonical(out, v);
            }
            out.push(']');
        }
        Value::String(s) => push_json_str(out, s),
        // serde_json prints numbers the same way in `Display` and in its serializer.
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Null => out.push_str("null"),
    }
}

fn push_members<'a>(out: &mut String, members: impl Iterator<Item = (&'a String, &'a Value)>) {
    for (i, (k, v)) in members.enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_json_str(out, k);
        out.push(':');
        push_canonical(out, v);
    }
}

/// Appends `s` as a JSON string, escaped exactly as serde_json escapes (and so
/// [`canonical_json`]): `"`, `\\` and control characters, the common ones by their short forms.
pub fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    let mut plain = 0;
    for (i, byte) in s.bytes().enumerate() {
        let short = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        out.push_str(s.get(plain..i).unwrap_or_default());
        plain = i + 1;
        if short.is_empty() {
            out.push_str("\\u00");
            out.push(hex_digit(byte >> 4));
            out.push(hex_digit(byte & 0xf));
        } else {
            out.push_str(short);
        }
    }
    out.push_str(s.get(plain..).unwrap_or_default());
    out.push('"');
}

/// The lower-case hex digit of a nibble.
fn hex_digit(nibble: u8) -> char {
    char::from_digit(u32::from(nibble), 16).unwrap_or('0')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// What the canonical form was first defined as: serde_json's own printing of every key,
    /// string and number, keys sorted. Digests and the audit chain depend on it staying so.
    fn reference(value: &Value) -> String {
        match value {
            Value::Object(map) => {
                let mut entries: Vec<_> = map.iter().collect();
                entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
                let members: Vec<String> = entries
                    .into_iter()
                    .map(|(k, v)| format!("{}:{}", Value::String(k.clone()), reference(v)))
                    .collect();
                format!("{{{}}}", members.join(","))
            }
            Value::Array(items) => format!("[{}]", items.iter().map(reference).collect::<Vec<_>>().join(",")),
            scalar => scalar.to_string(),
        }
    }

    #[test]
    fn matches_serde_json_printing() {
        let every_ascii: String = (0u8..=127).map(char::from).collect();
        let values = [
            json!({"b": 1, "a": [true, false, null], "c": {"z": "x", "y": -3}}),
            json!({"ascii": every_ascii, every_ascii.clone(): every_ascii}),
            json!({"é": "ünïcødé ✓ \u{2028} \u{1F600}", "e": "plain"}),
            json!([1.5, -0.0, 1e300, 12345678901234567890u64, -9007199254740993i64, 0.1]),
            json!({"sorted": {"a": 1, "b": 2}, "unsorted": {"b": 2, "a": 1, "A": 0, "aa": 3, "": 4}}),
            json!("\u{0}\u{1f}\u{7f}\"\\/"),
            json!({}),
            json!([]),
        ];
        for value in &values {
            assert_eq!(canonical_json(value), reference(value), "{value:?}");
        }
    }
}
