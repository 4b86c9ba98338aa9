//! Untrusted HTTP requests through the HTTP classifier (rule packs, AWS, GraphQL): never a
//! panic, never an empty answer. Input: see `request_text.rs` (`!` means "body too large").
#![no_main]

use holdpoint_classify::classify_http;
use holdpoint_classify::http::{Body, HttpContext, HttpRequest};
use libfuzzer_sys::fuzz_target;

#[path = "request_text.rs"]
mod request_text;

fuzz_target!(|data: &[u8]| {
    let Some(r) = request_text::parse(data) else { return };
    let body = if r.partial { Body::TooLarge } else { Body::Full(r.body.as_bytes()) };
    let req = HttpRequest { method: r.method, url: r.url, headers: &r.headers, body };
    let effects = classify_http(&req, &HttpContext { tags: vec!["production".into()] });
    assert!(!effects.is_empty(), "every request yields at least one effect");
});
