//! Untrusted SigV4 requests through the proxy's re-signing: the `Authorization` header read,
//! then the request signed again with a fixed key pair; never a panic, whatever the URL,
//! headers or body. Input: see `request_text.rs`.
#![no_main]

use std::time::{Duration, SystemTime};

use holdpoint_proxy::{KeyPair, ToSign, parse_authorization, resign, resign_chunk};
use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;

#[path = "request_text.rs"]
mod request_text;

fuzz_target!(|data: &[u8]| {
    let Some(r) = request_text::parse(data) else { return };
    let headers = r.headers;
    let Some(auth) = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("authorization"))
        .find_map(|(_, v)| parse_authorization(v))
    else {
        return;
    };
    let (id, secret) = (SecretString::from("AKIDEXAMPLE"), SecretString::from("wJalrXUtnFEMI/K7MDENG"));
    let keys = KeyPair { access_key_id: &id, secret_access_key: &secret };
    let request =
        ToSign { method: r.method, url: r.url, headers: &headers, body: (!r.partial).then_some(r.body.as_bytes()) };
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000);
    if let Ok(signed) = resign(&request, &auth, keys, now) {
        assert!(
            signed.headers.iter().any(|(n, _)| n == "authorization"),
            "a re-signed request has an Authorization header"
        );
        // The body as an aws-chunked upload: every chunk keeps its length.
        if let Some(mut signer) = signed.chunks {
            let mut rest = r.body.as_bytes();
            while let Ok(Some(chunk)) = resign_chunk(rest, &mut signer) {
                assert_eq!(chunk.bytes.len(), chunk.used);
                rest = rest.get(chunk.used..).unwrap_or_default();
                if chunk.last {
                    break;
                }
            }
        }
    }
});
