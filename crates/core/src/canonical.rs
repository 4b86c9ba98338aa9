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
/// Eight bytes are looked at a time, for the first that needs escaping, and the bytes between
/// copied in runs: the audit writer escapes every decision's input (often JSON itself, a quote
/// every few bytes), detail and record.
pub fn push_json_str(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    let bytes = s.as_bytes();
    let mut plain = 0;
    let mut i = 0;
    while i < bytes.len() {
        if let Some(word) = bytes.get(i..i + 8).and_then(|w| <[u8; 8]>::try_from(w).ok()) {
            match first_to_escape(u64::from_le_bytes(word)) {
                None => {
                    i += 8;
                    continue;
                }
                Some(at) => i += at,
            }
        }
        let byte = bytes.get(i).copied().unwrap_or_default();
        i += 1;
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
        out.push_str(s.get(plain..i - 1).unwrap_or_default());
        plain = i;
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

/// The index of the first of eight bytes (a little-endian word) that is `"`, `\\` or a control
/// character, if any. Each test below sets the high bit of every byte it looks for, and may
/// also set it in bytes above one (a borrow), never below: the lowest bit set is a true one.
const fn first_to_escape(word: u64) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    const fn below(word: u64, n: u64) -> u64 {
        word.wrapping_sub(ONES * n) & !word & HIGHS
    }
    let quote = word ^ (ONES * b'"' as u64);
    let backslash = word ^ (ONES * b'\\' as u64);
    let found = below(word, 0x20) | below(quote, 1) | below(backslash, 1);
    if found == 0 { None } else { Some(found.trailing_zeros() as usize / 8) }
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

    /// Strings are looked at eight bytes at a time: every character that is escaped, and some
    /// that look close to one (0x20, 0x21, 0x7f, 0x80 and up, `#`, `[`, `]`), is escaped as
    /// serde_json escapes it wherever it falls in a word, beside others or alone, and in the
    /// bytes after the last whole word.
    #[test]
    fn escapes_as_serde_json_wherever_a_character_falls() {
        let specials: Vec<char> = (0u8..=0x22)
            .chain([b'#', b'[', b'\\', b']', 0x7f])
            .map(char::from)
            .chain(['é', '\u{2028}', '😀'])
            .collect();
        for len in 0..=20 {
            for at in 0..=len {
                for &c in &specials {
                    let mut text: String = "abcdefghijklmnopqrstu".chars().take(len).collect();
                    text.insert(at.min(text.len()), c);
                    let mut out = String::new();
                    push_json_str(&mut out, &text);
                    assert_eq!(out, serde_json::to_string(&text).unwrap(), "{text:?}");
                    let doubled = format!("{c}{text}{c}{c}");
                    out.clear();
                    push_json_str(&mut out, &doubled);
                    assert_eq!(out, serde_json::to_string(&doubled).unwrap(), "{doubled:?}");
                }
            }
        }
    }
}
