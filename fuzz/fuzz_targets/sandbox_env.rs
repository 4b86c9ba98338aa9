//! The environment as the sandbox hands it from process to process (the filtered outcome from
//! the child that scanned it, the variables from the supervisor to the command): bytes either
//! decode or are refused, never a panic, and what decodes encodes back to the same bytes.
#![no_main]

use holdpoint_sandbox::env::Outcome;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(outcome) = Outcome::from_bytes(data) {
        assert_eq!(outcome.to_bytes(), data, "encodes back byte for byte");
    }
});
