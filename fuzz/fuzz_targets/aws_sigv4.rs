//! Untrusted SigV4 requests through the proxy's re-signing: the `Authorization` header read,
//! then the request signed again with a fixed key pair; never a panic, whatever the URL,
//! headers or body. Input: `METHOD URL` on the first line, `Name: value` header lines, a
//! blank line, then the body (a leading `!` on the first line means "body not read whole").
#![no_main]

use std::time::{Duration, SystemTime};

use holdpoint_proxy::{KeyPair, ToSign, parse_authorization, resign};
use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
    let mut lines = head.lines();
    let first = lines.next().unwrap_or_default();
    let (partial, first) = match first.strip_prefix('!') {
        Some(rest) => (true, rest),
        None => (false, first),
    };
    let (method, url) = first.split_once(' ').unwrap_or((first, ""));
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':')).map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned())).collect();
    let Some(auth) = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("authorization"))
        .find_map(|(_, v)| parse_authorization(v))
    else {
        return;
    };
    let (id, secret) = (SecretString::from("AKIDEXAMPLE"), SecretString::from("wJalrXUtnFEMI/K7MDENG"));
    let keys = KeyPair { access_key_id: &id, secret_access_key: &secret };
    let request = ToSign { method, url, headers: &headers, body: (!partial).then_some(body.as_bytes()) };
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000);
    if let Ok(signed) = resign(&request, &auth, keys, now) {
        assert!(signed.iter().any(|(n, _)| n == "authorization"), "a re-signed request has an Authorization header");
    }
});
