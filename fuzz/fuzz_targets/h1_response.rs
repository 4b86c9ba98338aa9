//! Untrusted bytes as an upstream's answer to the proxy's direct plain-HTTP path: never a
//! panic, and the same status and body (or a refusal) however the bytes arrive. The first byte
//! picks whether the request was a `HEAD` and the size of the pieces the rest arrives in.
#![no_main]

use holdpoint_proxy::read_response;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, bytes)) = data.split_first() else { return };
    let head_only = first & 0x80 != 0;
    let piece = usize::from(first & 0x7f);
    let whole = read_response(bytes, head_only, 0);
    let pieces = read_response(bytes, head_only, piece);
    match (&whole, &pieces) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "the same answer in pieces of {piece}"),
        // A body that ends early in one reading may be complete in none: both must refuse.
        (Err(_), Err(_)) => {}
        _ => panic!("whole {whole:?} but in pieces of {piece} {pieces:?}"),
    }
});
