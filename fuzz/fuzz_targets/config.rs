//! Untrusted config text: `config.toml` and a project's `.holdpoint.toml` either parse or
//! give a located error; never a panic.
#![no_main]

use holdpoint_policy::config::Config;
use holdpoint_policy::project::Project;
use holdpoint_policy::{Engine, Profile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Err(e) = Config::parse("config.toml", text) {
        assert!(e.located().line >= 1);
    }
    match Project::parse(".holdpoint.toml", text) {
        Ok(project) => {
            if let Ok(mut engine) = Engine::new(Profile::Guarded, &[]) {
                let _ = project.tighten(&mut engine);
            }
        }
        Err(e) => assert!(e.located().line >= 1),
    }
});
