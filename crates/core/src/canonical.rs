//! Canonical JSON: the one text form of a structured input, so equal inputs hash equally.

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
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write(value, &mut out);
    out
}

fn write(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(v, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}
