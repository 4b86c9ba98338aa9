//! Any bytes through the secret detector (as data and as program text) and, split at the first
//! `=`, through `assignment_kind`: never a panic, every finding on a line the input has, every
//! fingerprint 16 hex digits, and the same answer twice.
#![no_main]

use holdpoint_vault::scan::{Detector, Text, assignment_kind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(detector) = Detector::builtin() else { panic!("the built-in rules load") };
    let lines = data.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    let mut scanner = detector.scanner();
    for text in [Text::Data, Text::Program] {
        let hits = scanner.scan_text(data, text);
        for hit in &hits {
            assert!(hit.line >= 1 && hit.line <= lines, "line {} of {lines}", hit.line);
            assert!(hit.fingerprint.len() == 16 && hit.fingerprint.bytes().all(|b| b.is_ascii_hexdigit()));
        }
        assert_eq!(hits, scanner.scan_text(data, text), "a scanner keeps no state between buffers");
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let (name, value) = text.split_once('=').unwrap_or((text, ""));
        let _ = assignment_kind(name, value);
    }
});
