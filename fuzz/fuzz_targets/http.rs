//! Untrusted HTTP requests through the HTTP classifier (rule packs, AWS, GraphQL): never a
//! panic, never an empty answer. Input: `METHOD URL` on the first line, `Name: value` header
//! lines, a blank line, then the body (a leading `!` on the first line means "body too large").
#![no_main]

use holdpoint_classify::classify_http;
use holdpoint_classify::http::{Body, HttpContext, HttpRequest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
    let mut lines = head.lines();
    let first = lines.next().unwrap_or_default();
    let (too_large, first) = match first.strip_prefix('!') {
        Some(rest) => (true, rest),
        None => (false, first),
    };
    let (method, url) = first.split_once(' ').unwrap_or((first, ""));
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':')).map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned())).collect();
    let body = if too_large { Body::TooLarge } else { Body::Full(body.as_bytes()) };
    let req = HttpRequest { method, url, headers: &headers, body };
    let effects = classify_http(&req, &HttpContext { tags: vec!["production".into()] });
    assert!(!effects.is_empty(), "every request yields at least one effect");
});
