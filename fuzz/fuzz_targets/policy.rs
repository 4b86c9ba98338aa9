//! Untrusted Cedar policy files through Holdpoint's loader: located errors, never a panic.
#![no_main]

use holdpoint_policy::{Engine, PolicyFile, Profile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let file = PolicyFile::new("fuzz.cedar", text);
    if let Err(e) = Engine::new(Profile::Guarded, &[file]) {
        let at = e.located();
        assert!(at.line >= 1 && at.col >= 1);
        assert!(at.line <= text.lines().count().max(1) + 1, "line {} beyond the text", at.line);
    }
});
