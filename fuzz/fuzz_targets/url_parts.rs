//! URLs through `UrlParts::parse`: its parts are exactly those `url::Url::parse` gives, and it
//! fails exactly when that fails, whether the text was taken as it is or parsed in full.
//! Input: the first byte picks the form; the rest is the URL, either the bytes as UTF-8 or each
//! byte mapped to a character of URLs (so that most inputs are nearly valid `http(s)` URLs).
#![no_main]

use holdpoint_classify::http::UrlParts;
use libfuzzer_sys::fuzz_target;

/// Characters that decide how a URL reads: host and port characters, separators, escapes, dot
/// segments, and what the standard rewrites (case, tabs, backslashes, quotes, non-ASCII).
const ALPHABET: &[&str] = &[
    "a", "b", "e", "x", "n", "-", ".", "0", "1", "2", "5", "9", ":", "/", "?", "%", "2e", "%2E", "@", "[", "]",
    "#", "\\", " ", "\t", "'", "^", "{", "`", "A", "E", "X", "é", "xn--", "0x", "..", "255", "256", "=", "&", "+",
    "~", "!", "$", ";", "|", "\"", "<", "\n", "\u{0}", "ß", "%zz", "65535", "80", "443", "127.0.0.1",
];

fuzz_target!(|data: &[u8]| {
    let Some((&form, rest)) = data.split_first() else { return };
    let url = match form % 4 {
        0 => match std::str::from_utf8(rest) {
            Ok(text) => text.to_owned(),
            Err(_) => return,
        },
        n => {
            let prefix = ["http://", "https://", ""][usize::from(n - 1)];
            let mapped = rest.iter().map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()]);
            std::iter::once(prefix).chain(mapped).collect()
        }
    };
    let ours = UrlParts::parse(&url);
    let theirs = url::Url::parse(&url);
    match (&ours, &theirs) {
        (Ok(ours), Ok(theirs)) => {
            assert_eq!(ours, &UrlParts::of(theirs), "{url:?}");
            let pairs: Vec<_> = ours.query_pairs().collect();
            assert_eq!(pairs, theirs.query_pairs().collect::<Vec<_>>(), "{url:?}");
        }
        (Err(ours), Err(theirs)) => assert_eq!(ours, theirs, "{url:?}"),
        _ => panic!("{url:?}: ours {ours:?}, the url crate's {theirs:?}"),
    }
});
