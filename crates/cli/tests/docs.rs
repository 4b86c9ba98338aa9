//! Every example config in the docs parses: TOML blocks in README.md and ARCHITECTURE.md are
//! project files when they begin with `# .holdpoint.toml` or hold `policies`, config files
//! otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::Path;

use holdpoint_policy::config::Config;
use holdpoint_policy::project::Project;
use holdpoint_policy::{Engine, Profile};

fn toml_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match (&mut current, line.trim_start()) {
            (None, "```toml") => current = Some(String::new()),
            (Some(block), "```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            _ => {}
        }
    }
    blocks
}

#[test]
fn example_configs_in_the_docs_parse() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).unwrap();
    let mut seen = 0;
    for doc in ["README.md", "ARCHITECTURE.md"] {
        let text = std::fs::read_to_string(root.join(doc)).unwrap();
        for block in toml_blocks(&text) {
            seen += 1;
            if block.starts_with("# .holdpoint.toml") || block.contains("policies = '''") {
                let project = Project::parse(doc, &block).unwrap_or_else(|e| panic!("{doc}: {e}\n{block}"));
                let mut engine = Engine::new(Profile::Guarded, &[]).unwrap();
                project.tighten(&mut engine).unwrap_or_else(|e| panic!("{doc}: {e}\n{block}"));
            } else {
                Config::parse(doc, &block).unwrap_or_else(|e| panic!("{doc}: {e}\n{block}"));
            }
        }
    }
    assert!(seen >= 3, "the docs' examples were found ({seen})");
}

#[test]
fn the_config_init_writes_parses_for_every_profile() {
    for profile in ["guarded", "strict", "observe"] {
        let dir = tempfile::TempDir::new().unwrap();
        let out = assert_cmd::Command::cargo_bin("holdpoint")
            .unwrap()
            .env("HOLDPOINT_HOME", dir.path())
            .args(["init", "--profile", profile])
            .assert()
            .success();
        assert!(String::from_utf8_lossy(&out.get_output().stdout).contains(profile));
        let text = std::fs::read_to_string(dir.path().join("config/config.toml")).unwrap();
        let config = Config::parse("config.toml", &text).unwrap();
        assert_eq!(config.profile.as_str(), profile);
        // Uncommenting every example line still parses.
        let uncommented: String = text
            .lines()
            .map(|l| l.strip_prefix("# ").filter(|_| l.contains('=') || l.contains('[')).unwrap_or(l))
            .map(|l| format!("{l}\n"))
            .collect();
        Config::parse("config.toml", &uncommented).unwrap_or_else(|e| panic!("{e}\n{uncommented}"));
    }
}
