//! Small pure helpers on candidate values: placeholders and documented fakes, Shannon entropy,
//! assignment names split into words, base64 decoding.

use serde::Deserialize;

/// `[fakes]` of the rule file: values that are never secrets.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFakes {
    values: Vec<String>,
    prefixes: Vec<String>,
    words: Vec<String>,
    defaults: Vec<String>,
}

/// [`RawFakes`] with its words compiled into searchers.
#[derive(Debug)]
pub(crate) struct Fakes {
    values: Vec<String>,
    prefixes: Vec<String>,
    words: Vec<memchr::memmem::Finder<'static>>,
    defaults: Vec<String>,
}

impl Fakes {
    pub(crate) fn new(raw: RawFakes) -> Fakes {
        let words =
            raw.words.iter().map(|w| memchr::memmem::Finder::new(&w.to_ascii_lowercase()).into_owned()).collect();
        Fakes { values: raw.values, prefixes: raw.prefixes, words, defaults: raw.defaults }
    }

    /// A documented fake, a test or public key, Holdpoint's own placeholder, a template
    /// reference, a run of one character, or a default word.
    pub(crate) fn is_fake(&self, value: &[u8]) -> bool {
        let trimmed = value.trim_ascii();
        if trimmed.is_empty() || self.values.iter().any(|v| v.as_bytes() == trimmed) {
            return true;
        }
        if self.prefixes.iter().any(|p| trimmed.starts_with(p.as_bytes())) {
            return true;
        }
        let lower = trimmed.to_ascii_lowercase();
        if self.words.iter().any(|w| w.find(&lower).is_some()) {
            return true;
        }
        if self.defaults.iter().any(|d| d.as_bytes() == lower.as_slice()) {
            return true;
        }
        // `$VAR`, `!vault |`, `%env%`: a reference or tag, not a value.
        if matches!(trimmed.first(), Some(b'$' | b'!' | b'%')) {
            return true;
        }
        few_distinct(trimmed)
    }
}

/// At most three distinct bytes in six or more: `aaaaaa`, `121212`, `-----`.
fn few_distinct(value: &[u8]) -> bool {
    if value.len() < 6 {
        return false;
    }
    let mut seen: Vec<u8> = Vec::with_capacity(4);
    for &b in value {
        if !seen.contains(&b) {
            seen.push(b);
            if seen.len() > 3 {
                return false;
            }
        }
    }
    true
}

/// Shannon entropy of the bytes, in bits per byte.
pub(crate) fn entropy(value: &[u8]) -> f64 {
    if value.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in value {
        if let Some(c) = counts.get_mut(usize::from(b)) {
            *c = c.saturating_add(1);
        }
    }
    let n = value.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

/// `8-4-4-4-12` hex digits.
pub(crate) fn is_uuid(value: &[u8]) -> bool {
    value.len() == 36
        && value.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// A file-system path, not a secret: `/run/secrets/db`, `./key.pem`, `.env`, `~/.ssh/id`,
/// `C:\keys`.
pub(crate) fn is_path(value: &[u8]) -> bool {
    value.starts_with(b"/")
        || value.starts_with(b".")
        || value.starts_with(b"../")
        || value.starts_with(b"~/")
        || (value.len() > 2 && value.get(1) == Some(&b':') && value.get(2) == Some(&b'\\'))
}

/// An unquoted value that reads as code rather than data: a call, an index, a path
/// (`std::io::Error`), a reference or pointer (`&key`, `*token`), a macro variable
/// (`#key`), or an identifier (`process.env.API_KEY`, `DEFAULT_TOKEN_VALUE`,
/// `CancellationToken`) — a random value is none of these.
pub(crate) fn is_code_reference(value: &[u8]) -> bool {
    let has = |needle: &[u8]| memchr::memmem::find(value, needle).is_some();
    if value.iter().any(|b| matches!(b, b'(' | b'[' | b'{' | b'<')) || has(b"::") || has(b"->") {
        return true;
    }
    if matches!(value.first(), Some(b'&' | b'*' | b'#' | b'@' | b':')) {
        return true;
    }
    let ident = value.first().is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_')
        && value.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'$'));
    if !ident || value.iter().any(u8::is_ascii_digit) {
        return false;
    }
    value.iter().any(|b| matches!(b, b'.' | b'_')) || is_camel_case(value)
}

/// `CancellationToken`, `keyManager`: two words or more, every capital starting a run of at
/// least two lower-case letters, and so does the start. Random letters almost never are.
fn is_camel_case(value: &[u8]) -> bool {
    if !value.iter().skip(1).any(u8::is_ascii_uppercase) {
        return false;
    }
    let mut run = 0usize;
    for (i, &b) in value.iter().enumerate() {
        if b.is_ascii_uppercase() {
            if i > 0 && run < 2 {
                return false;
            }
            run = 0;
        } else if b.is_ascii_lowercase() {
            run += 1;
        } else {
            return false;
        }
    }
    run >= 2
}

/// How many of lower-case letters, capitals and digits the value has.
pub(crate) fn char_classes(value: &[u8]) -> usize {
    let lower = value.iter().any(u8::is_ascii_lowercase);
    let upper = value.iter().any(u8::is_ascii_uppercase);
    let digit = value.iter().any(u8::is_ascii_digit);
    usize::from(lower) + usize::from(upper) + usize::from(digit)
}

/// A run of six bytes that occurs twice in the first 256: a phrase (`hello-world-hello-world`),
/// not a random token.
pub(crate) fn has_repeat(value: &[u8]) -> bool {
    const RUN: usize = 6;
    let value = value.get(..value.len().min(256)).unwrap_or(value);
    value
        .windows(RUN)
        .enumerate()
        .any(|(i, w)| value.get(i + 1..).is_some_and(|rest| rest.windows(RUN).any(|x| x == w)))
}

/// Words joined by `-`, `_`, `.` or spaces, each all lower-case, all capitals or a short
/// number: `x-hello-world-64`, `CLIENT_TRAFFIC_SECRET_0`. A random token has mixed segments.
pub(crate) fn is_phrase(value: &[u8]) -> bool {
    let mut segments = value.split(|b| matches!(b, b'-' | b'_' | b'.' | b' ')).filter(|s| !s.is_empty());
    let word = |s: &[u8]| {
        s.iter().all(u8::is_ascii_lowercase)
            || s.iter().all(u8::is_ascii_uppercase)
            || (s.len() <= 4 && s.iter().all(u8::is_ascii_digit))
    };
    let mut count = 0;
    let all_words = segments.all(|s| {
        count += 1;
        word(s)
    });
    all_words && count >= 2
}

/// `%XX` escapes: URL-encoded text.
pub(crate) fn percent_escapes(value: &[u8]) -> usize {
    value.windows(3).filter(|w| matches!(w, [b'%', a, b] if a.is_ascii_hexdigit() && b.is_ascii_hexdigit())).count()
}

/// Fewer than three letters: a number, a date, a version, an address.
pub(crate) fn is_mostly_digits(value: &[u8]) -> bool {
    value.iter().filter(|b| b.is_ascii_alphabetic()).count() < 3
}

/// The words of a name, split at `_`, `-`, `.`, spaces and camelCase boundaries, compared
/// without regard to case: `OPENAI_API_KEY` → openai api key, `apiKey` → api key, `APIKey` →
/// api key. Only the last [`Words::MAX`] words are kept (no allocation: this runs on every
/// candidate assignment).
pub(crate) struct Words<'a> {
    items: [&'a [u8]; Words::MAX],
    len: usize,
}

impl<'a> Words<'a> {
    pub(crate) const MAX: usize = 12;

    pub(crate) fn of(name: &'a [u8]) -> Words<'a> {
        let mut words = Words { items: [&[]; Words::MAX], len: 0 };
        let mut start: Option<usize> = None;
        for (i, &b) in name.iter().enumerate() {
            if !b.is_ascii_alphanumeric() {
                if let Some(s) = start.take() {
                    words.push(name.get(s..i).unwrap_or_default());
                }
                continue;
            }
            let prev = i.checked_sub(1).and_then(|p| name.get(p)).copied().filter(u8::is_ascii_alphanumeric);
            let next = name.get(i + 1).copied();
            let boundary = match prev {
                Some(p) if b.is_ascii_uppercase() => {
                    p.is_ascii_lowercase()
                        || p.is_ascii_digit()
                        || (p.is_ascii_uppercase() && next.is_some_and(|n| n.is_ascii_lowercase()))
                }
                _ => false,
            };
            match start {
                Some(s) if boundary => {
                    words.push(name.get(s..i).unwrap_or_default());
                    start = Some(i);
                }
                Some(_) => {}
                None => start = Some(i),
            }
        }
        if let Some(s) = start {
            words.push(name.get(s..).unwrap_or_default());
        }
        words
    }

    fn push(&mut self, word: &'a [u8]) {
        if self.len == Words::MAX {
            self.items.rotate_left(1);
            self.len -= 1;
        }
        if let Some(slot) = self.items.get_mut(self.len) {
            *slot = word;
            self.len += 1;
        }
    }

    /// The words, in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        self.items.iter().take(self.len).copied()
    }

    /// Whether there is a word at all.
    pub(crate) fn len_nonzero(&self) -> bool {
        self.len > 0
    }

    /// The last word.
    pub(crate) fn last(&self) -> Option<&'a [u8]> {
        self.len.checked_sub(1).and_then(|i| self.items.get(i)).copied()
    }

    /// Whether one of the words is one of `list` (lower-case).
    pub(crate) fn any_in(&self, list: &[String]) -> bool {
        self.iter().any(|w| list.iter().any(|l| w.eq_ignore_ascii_case(l.as_bytes())))
    }

    /// Whether the last word is one of `list` (lower-case).
    pub(crate) fn last_in(&self, list: &[String]) -> bool {
        self.last().is_some_and(|w| list.iter().any(|l| w.eq_ignore_ascii_case(l.as_bytes())))
    }

    /// Whether a word contains one of `list` (lower-case).
    pub(crate) fn any_contains(&self, list: &[String]) -> bool {
        self.iter().any(|w| list.iter().any(|l| contains_ignore_case(w, l.as_bytes())))
    }

    /// Whether the words end with the `_`-separated sequence `suffix` (`secret_access_key`).
    pub(crate) fn ends_with(&self, suffix: &str) -> bool {
        let want = suffix.split('_');
        let n = want.clone().count();
        n <= self.len && self.iter().skip(self.len - n).zip(want).all(|(w, s)| w.eq_ignore_ascii_case(s.as_bytes()))
    }
}

/// `needle` (lower-case) in `haystack`, ignoring ASCII case.
pub(crate) fn contains_ignore_case(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle))
}

/// Standard or URL-safe base64, padding optional; `None` when a byte is outside both
/// alphabets. Decodes at most `limit` input bytes; a partial last quad gives what it holds.
pub(crate) fn base64_decode(text: &[u8], limit: usize) -> Option<Vec<u8>> {
    let text = text.get(..limit.min(text.len())).unwrap_or(text);
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for &b in text {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => break,
            _ => return None,
        };
        acc = ((acc << 6) | u32::from(v)) & 0x00ff_ffff;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(name: &str) -> Vec<String> {
        Words::of(name.as_bytes()).iter().map(|w| String::from_utf8_lossy(w).to_lowercase()).collect()
    }

    #[test]
    fn words_split_at_separators_and_case() {
        assert_eq!(words("OPENAI_API_KEY"), ["openai", "api", "key"]);
        assert_eq!(words("apiKey"), ["api", "key"]);
        assert_eq!(words("APIKey"), ["api", "key"]);
        assert_eq!(words("client-secret.v2"), ["client", "secret", "v2"]);
        assert_eq!(words("_authToken"), ["auth", "token"]);
        assert_eq!(words("export  DB_PASSWORD"), ["export", "db", "password"]);
        assert_eq!(words("a_b_c_d_e_f_g_h_i_j_k_l_m_n").len(), Words::MAX);
        assert_eq!(words("a_b_c_d_e_f_g_h_i_j_k_l_m_n").last().map(String::as_str), Some("n"));
        assert!(Words::of(b"PROD_AWS_SECRET_ACCESS_KEY").ends_with("aws_secret_access_key"));
        assert!(!Words::of(b"KEY").ends_with("secret_key_base"));
        assert!(Words::of(b"PGPASSWORD").any_contains(&["password".to_owned()]));
    }

    #[test]
    fn entropy_and_shapes() {
        assert!(entropy(b"aaaaaaaa") < 0.01);
        assert!((entropy(b"abcdefgh") - 3.0).abs() < 1e-9);
        assert!(is_uuid(b"123e4567-e89b-12d3-a456-426614174000"));
        assert!(!is_uuid(b"123e4567-e89b-12d3-a456-42661417400g"));
        assert!(is_code_reference(b"process.env.API_KEY"));
        assert!(is_code_reference(b"os.getenv"));
        assert!(is_code_reference(b"windows_sys::core::HRESULT"));
        assert!(is_code_reference(b"CancellationToken"));
        assert!(is_code_reference(b"&self.key"));
        assert!(!is_code_reference(b"Xk9_aP2mQ7"));
        assert!(!is_code_reference(b"QxZkPmWvLrTsNbHc"));
        assert!(!is_code_reference(b"correcthorsebattery"));
        assert!(is_mostly_digits(b"1979-05-27T07:32:00Z"));
        assert!(has_repeat(b"hello-world-hello-world-HELLO-zzz"));
        assert!(is_phrase(b"x-hello-world-64"));
        assert!(is_phrase(b"CLIENT_TRAFFIC_SECRET_0"));
        assert!(!is_phrase(b"Zr8K-q2Lm_9Vx4"));
        assert!(!is_phrase(b"correcthorsebattery"));
        assert!(!has_repeat(b"Zr8Kq2Lm9Vx4Tb7Nc1Pw6Yh3Jd5Sf0Ga"));
        assert!(!is_mostly_digits(b"9f86d081884c7d659a2f"));
        assert_eq!(base64_decode(b"dXNlcjpwYXNz", 64).as_deref(), Some(&b"user:pass"[..]));
        assert_eq!(base64_decode(b"LS0tLS1CRUdJTiBS", 64).as_deref(), Some(&b"-----BEGIN R"[..]));
    }
}
