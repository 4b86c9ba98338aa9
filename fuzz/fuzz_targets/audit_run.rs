//! Bytes read back as a packed audit run (a database may have been tampered with): never a
//! panic and no allocation beyond what LZ4 can expand the bytes to; and any text packed reads
//! back unchanged.
#![no_main]

use holdpoint_store::{pack_run, unpack_run};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(text) = unpack_run(data) {
        assert!(text.len() <= data.len().saturating_mul(255), "{} bytes from {}", text.len(), data.len());
    }
    if let Ok(text) = std::str::from_utf8(data) {
        assert_eq!(unpack_run(&pack_run(text)).as_deref(), Some(text));
    }
});
