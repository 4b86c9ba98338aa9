//! Placeholders: what an agent sees instead of a secret. `hp_` and 26 characters of
//! lower-case base32 (130 random bits), so they are recognisable, unique and cannot be guessed.

use crate::Error;

/// Every placeholder starts with this.
pub const PREFIX: &str = "hp_";
/// Characters after the prefix.
const BODY_LEN: usize = 26;
/// The length of a placeholder.
pub const PLACEHOLDER_LEN: usize = PREFIX.len() + BODY_LEN;
const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// A fresh random placeholder.
pub fn new_placeholder() -> Result<String, Error> {
    let mut random = [0u8; BODY_LEN];
    getrandom::fill(&mut random).map_err(|e| Error::Random(e.to_string()))?;
    let mut out = String::with_capacity(PLACEHOLDER_LEN);
    out.push_str(PREFIX);
    for b in random {
        out.push(char::from(ALPHABET.get(usize::from(b & 31)).copied().unwrap_or(b'a')));
    }
    Ok(out)
}

fn is_body_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b)
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Whether `s` is exactly a placeholder (its shape, not whether any vault issued it).
pub fn is_placeholder(s: &str) -> bool {
    s.len() == PLACEHOLDER_LEN
        && s.starts_with(PREFIX)
        && s.as_bytes().get(PREFIX.len()..).is_some_and(|body| body.iter().all(|&b| is_body_byte(b)))
}

/// The placeholders in `text` (a header value, a URL, a connection string), in order, with
/// their byte offsets. A placeholder is a whole word: `xhp_...` or one followed by more word
/// characters is not one.
///
/// ```
/// use holdpoint_vault::placeholders_in;
/// let found: Vec<_> = placeholders_in("Bearer hp_abcdefghijklmnopqrstuvwxyz").collect();
/// assert_eq!(found, [(7, "hp_abcdefghijklmnopqrstuvwxyz")]);
/// ```
pub fn placeholders_in(text: &str) -> impl Iterator<Item = (usize, &str)> + '_ {
    text.match_indices(PREFIX).filter_map(move |(start, _)| {
        let before = start.checked_sub(1).and_then(|i| text.as_bytes().get(i));
        if before.is_some_and(|&b| is_word_byte(b)) {
            return None;
        }
        let end = start + PLACEHOLDER_LEN;
        let candidate = text.get(start..end)?;
        let after = text.as_bytes().get(end);
        (is_placeholder(candidate) && !after.is_some_and(|&b| is_word_byte(b))).then_some((start, candidate))
    })
}

/// Whether `text` holds any placeholder.
pub fn contains_placeholder(text: &str) -> bool {
    placeholders_in(text).next().is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_placeholders_are_recognised_and_distinct() {
        let a = new_placeholder().unwrap();
        let b = new_placeholder().unwrap();
        assert!(is_placeholder(&a) && is_placeholder(&b) && a != b);
        assert_eq!(a.len(), 29);
    }

    #[test]
    fn placeholders_are_found_as_whole_words() {
        let p = "hp_abcdefghijklmnopqrstuv2345";
        assert!(is_placeholder(p));
        let url = format!("postgres://app:{p}@db:5432/x?key={p}");
        let found: Vec<usize> = placeholders_in(&url).map(|(at, _)| at).collect();
        assert_eq!(found, [15, 59]);
        for text in [format!("x{p}"), format!("{p}x"), format!("{p}_"), p.to_uppercase(), p[..28].to_owned()] {
            assert!(!contains_placeholder(&text), "{text}");
        }
        assert!(contains_placeholder(&format!("Bearer {p}")));
        assert!(contains_placeholder(&format!("{p}-")));
        assert!(!contains_placeholder("hp_"));
        assert!(!contains_placeholder("é hp_ é"));
    }
}
