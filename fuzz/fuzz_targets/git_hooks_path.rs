//! Any text as a workspace's `.git/config` through the sandbox's `core.hooksPath` reader: never
//! a panic, and any answer is a relative path without `..` (so the read-only bind it gets stays
//! inside the workspace).
#![no_main]

use std::path::{Component, Path};

use holdpoint_sandbox::layout::hooks_path_in;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let ws = Path::new("/home/u/app");
    if let Some(rel) = hooks_path_in(text, ws) {
        assert!(rel.is_relative(), "{rel:?}");
        assert!(rel.components().all(|c| matches!(c, Component::Normal(_))), "{rel:?}");
        assert!(ws.join(&rel).starts_with(ws));
    }
});
