//! Tidy: the code map in ARCHITECTURE.md, crate roots and dependency rules, checked
//! against `cargo metadata` and the sources.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).unwrap().to_path_buf()
}

fn metadata() -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// crate dir name → (internal deps, all direct deps), from cargo.
fn workspace_crates() -> BTreeMap<String, (BTreeSet<String>, BTreeSet<String>, PathBuf)> {
    let meta = metadata();
    let mut out = BTreeMap::new();
    for pkg in meta["packages"].as_array().unwrap() {
        let name = pkg["name"].as_str().unwrap();
        let short = name.strip_prefix("holdpoint-").unwrap_or_else(|| panic!("package {name} is not holdpoint-*"));
        let deps: BTreeSet<String> = pkg["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["kind"].is_null())
            .map(|d| d["name"].as_str().unwrap().to_owned())
            .collect();
        let internal = deps.iter().filter_map(|d| d.strip_prefix("holdpoint-")).map(str::to_owned).collect();
        let dir = Path::new(pkg["manifest_path"].as_str().unwrap()).parent().unwrap().to_path_buf();
        out.insert(short.to_owned(), (internal, deps, dir));
    }
    out
}

/// crate → allowed internal deps, from the code map table in ARCHITECTURE.md.
fn code_map() -> BTreeMap<String, BTreeSet<String>> {
    let text = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let start = text.find("<!-- tidy:crates").expect("ARCHITECTURE.md has a tidy:crates table");
    let end = text.find("<!-- /tidy:crates -->").expect("the table is closed");
    let mut map = BTreeMap::new();
    for line in text[start..end].lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        let name = cells[0].trim_matches('`').to_owned();
        let deps = cells.last().unwrap();
        let allowed = deps
            .split(',')
            .map(|d| d.trim().trim_matches('`'))
            .filter(|d| !d.is_empty() && *d != "—" && *d != "-" && *d != "all")
            .map(str::to_owned)
            .collect();
        map.insert(name, allowed);
    }
    map
}

#[test]
fn code_map_matches_cargo_metadata() {
    let crates = workspace_crates();
    let map = code_map();
    let actual: BTreeSet<&String> = crates.keys().collect();
    let documented: BTreeSet<&String> = map.keys().collect();
    assert_eq!(actual, documented, "every crate has a row in ARCHITECTURE.md's code map, and every row a crate");
    for (name, (internal, _, _)) in &crates {
        let extra: Vec<&String> = internal.difference(&map[name]).collect();
        assert!(extra.is_empty(), "crate {name} depends on {extra:?}, which ARCHITECTURE.md does not allow");
    }
}

#[test]
fn external_dependencies_stay_where_the_design_puts_them() {
    let only_in = [("cedar-policy", "policy"), ("sqlx", "store"), ("anyhow", "cli")];
    for (name, (_, deps, _)) in workspace_crates() {
        for (dep, owner) in only_in {
            assert!(!deps.contains(dep) || name == owner, "crate {name} depends on {dep}; only {owner} may");
        }
    }
}

#[test]
fn every_crate_root_forbids_unsafe_but_sandbox() {
    let mut checked = 0;
    for (name, (_, _, dir)) in workspace_crates() {
        for root in ["src/lib.rs", "src/main.rs"] {
            let path = dir.join(root);
            let Ok(text) = std::fs::read_to_string(&path) else { continue };
            checked += 1;
            if name == "sandbox" {
                assert!(text.contains("#![deny(unsafe_code)]"), "{} lacks #![deny(unsafe_code)]", path.display());
                continue;
            }
            assert!(text.contains("#![forbid(unsafe_code)]"), "{} lacks #![forbid(unsafe_code)]", path.display());
        }
    }
    assert!(checked >= 3, "crate roots were found");
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// In `sandbox`, the one crate with `unsafe`: no module or crate opts out of the lint
/// wholesale, every `#[allow(unsafe_code)]` sits on one item, and every `unsafe` block or
/// function has a `// SAFETY:` comment just above it.
#[test]
fn sandbox_unsafe_is_allowed_item_by_item_with_a_safety_comment() {
    // The keyword is spelt in two halves, so this file holds no text that reads as an unsafe
    // block, function or impl to a search of the source.
    const KEYWORD: &str = concat!("un", "safe");
    const OPENERS: [&str; 3] = [" {", " fn ", " impl "];
    let crates = workspace_crates();
    let (_, _, dir) = crates.get("sandbox").expect("the sandbox crate exists");
    let mut files = Vec::new();
    rust_files(&dir.join("src"), &mut files);
    let mut blocks = 0;
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(!text.contains("#![allow(unsafe_code)]"), "{} allows unsafe for a whole module", file.display());
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            if !OPENERS.iter().any(|o| code.contains(&format!("{KEYWORD}{o}"))) {
                continue;
            }
            blocks += 1;
            let comment_above = lines[..i].iter().rev().take_while(|l| l.trim_start().starts_with("//"));
            assert!(
                comment_above.clone().any(|l| l.trim_start().starts_with("// SAFETY:")),
                "{}:{}: `unsafe` without a `// SAFETY:` comment above it",
                file.display(),
                i + 1
            );
            let item_allows = lines[..i]
                .iter()
                .rev()
                .take_while(|l| !l.starts_with('}'))
                .any(|l| l.trim_start().starts_with("#[allow(unsafe_code)]"));
            assert!(item_allows, "{}:{}: `unsafe` outside an item marked #[allow(unsafe_code)]", file.display(), i + 1);
        }
    }
    assert!(blocks > 0, "the sandbox's unsafe blocks were found");
}

#[test]
fn workspace_lints_deny_panics_and_unsafe() {
    let text = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    for lint in [
        "unsafe_code = \"deny\"",
        "unwrap_used = \"deny\"",
        "expect_used = \"deny\"",
        "panic = \"deny\"",
        "indexing_slicing = \"deny\"",
        "overflow-checks = true",
    ] {
        assert!(text.contains(lint), "root Cargo.toml lacks {lint}");
    }
    for (name, (_, _, dir)) in workspace_crates() {
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        assert!(manifest.contains("[lints]\nworkspace = true"), "crate {name} does not use the workspace lints");
    }
}
