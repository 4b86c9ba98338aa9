//! Untrusted bytes as an agent's request head on the proxy's direct path: never a panic; a
//! head read as plain is framed one way only (no `Transfer-Encoding`, at most one
//! `Content-Length`, all digits, within the limit), reads the same on its own, every shorter
//! prefix of it is incomplete, and — body and all there — hyper's server reads the same
//! method, target, headers and body from the bytes. The first byte sets the body limit.
#![no_main]

use std::sync::OnceLock;

use holdpoint_proxy::{Head, hyper_reads, read_head};
use libfuzzer_sys::fuzz_target;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_current_thread().build().expect("a runtime"))
}

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
                Head::Plain(alone) => {
                    assert_eq!((alone.head, alone.body, alone.close), (plain.head, plain.body, plain.close))
                }
                other => panic!("the head alone reads as {other:?}"),
            }
            for cut in [plain.head - 1, plain.head / 2, 1] {
                let part = read_head(&bytes[..cut.min(plain.head - 1)], body_max);
                assert!(matches!(part, Head::Partial), "a prefix of {cut} bytes reads as {part:?}");
            }
            let Some(whole) = bytes.get(..plain.head + plain.body) else { return };
            let theirs = runtime().block_on(hyper_reads(whole)).expect("hyper refuses a head read as plain");
            let headers: Vec<_> =
                plain.headers.iter().map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec())).collect();
            assert_eq!(theirs.method, plain.method.as_str());
            assert_eq!(theirs.uri, plain.uri.to_string());
            assert_eq!(theirs.headers, headers);
            assert_eq!(theirs.body, &whole[plain.head..]);
        }
        Head::Partial => assert!(bytes.len() <= 16 * 1024),
        Head::Other => {}
    }
});
