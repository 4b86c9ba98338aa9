//! Untrusted bytes as an agent's request head on the proxy's direct path: never a panic; a
//! head read as plain is framed one way only (no `Transfer-Encoding`, at most one
//! `Content-Length`, all digits, within the limit), reads the same on its own, and every
//! shorter prefix of it is incomplete. The first byte sets the body limit.
#![no_main]

use holdpoint_proxy::{Head, read_head};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, bytes)) = data.split_first() else { return };
    let body_max = usize::from(first) * 16;
    match read_head(bytes, body_max) {
        Head::Plain(plain) => {
            assert!(plain.head <= bytes.len() && plain.body <= body_max);
            assert_ne!(plain.method.as_str(), "CONNECT");
            assert_eq!(plain.uri.scheme_str(), Some("http"));
            assert!(!plain.headers.contains_key("transfer-encoding"));
            let lengths: Vec<_> = plain.headers.get_all("content-length").iter().collect();
            match lengths.as_slice() {
                [] => assert_eq!(plain.body, 0),
                [one] => assert_eq!(one.to_str().ok().and_then(|v| v.parse().ok()), Some(plain.body)),
                more => panic!("{} lengths read as plain", more.len()),
            }
            match read_head(&bytes[..plain.head], body_max) {
                Head::Plain(alone) => assert_eq!((alone.head, alone.body, alone.close), (plain.head, plain.body, plain.close)),
                other => panic!("the head alone reads as {other:?}"),
            }
            for cut in [plain.head - 1, plain.head / 2, 1] {
                let part = read_head(&bytes[..cut.min(plain.head - 1)], body_max);
                assert!(matches!(part, Head::Partial), "a prefix of {cut} bytes reads as {part:?}");
            }
        }
        Head::Partial => assert!(bytes.len() <= 16 * 1024),
        Head::Other => {}
    }
});
