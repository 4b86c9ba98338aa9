//! `holdpoint policy show|validate`.

use std::path::Path;

use anyhow::{Context, Result};
use holdpoint_policy::config::Config;
use holdpoint_policy::project::{self, Project};
use holdpoint_policy::{Engine, GUARDED, PolicyFile, Profile, STRICT};
use serde_json::json;

use crate::engines::Engines;
use crate::home::{Home, resolve_dir, workspace_of};

pub fn show(home: &Home, json: bool) -> Result<u8> {
    let config = home.load_config()?;
    let user = home.load_policies()?;
    let engine = Engine::new(config.profile, &user)?;
    if json {
        let policies: Vec<_> = engine
            .policies()
            .into_iter()
            .map(|(id, verdict, reason, origin)| json!({"id": id, "verdict": verdict, "reason": reason, "origin": origin}))
            .collect();
        println!("{}", json!({"profile": config.profile.as_str(), "policies": policies}));
        return Ok(0);
    }
    println!("// profile: {}\n// ---- <guarded> (built in)\n{GUARDED}", config.profile.as_str());
    if config.profile == Profile::Strict {
        println!("// ---- <strict> (built in)\n{STRICT}");
    }
    for file in &user {
        println!("// ---- {}\n{}", file.name, file.text);
    }
    Ok(0)
}

pub fn validate(home: &Home, path: Option<&Path>) -> Result<u8> {
    let Some(path) = path else {
        let mut engines = Engines::load(home)?;
        let profile = engines.config().profile;
        let n = Engine::new(profile, &home.load_policies()?)?.policies().len();
        println!("ok: {} (profile {}), {n} policies", home.config_file().display(), profile.as_str());
        let workspace = workspace_of(&resolve_dir(None)?);
        let project = workspace.join(project::FILE_NAME);
        if project.exists() {
            validate_project(home, &project)?;
        }
        engines.for_workspace(&workspace).map_err(anyhow::Error::msg)?;
        return Ok(0);
    };
    let name = path.display().to_string();
    let read = || std::fs::read_to_string(path).with_context(|| format!("cannot read {name}"));
    if path.is_dir() {
        return validate(home, Some(&path.join(project::FILE_NAME)));
    }
    if path.file_name().is_some_and(|f| f == project::FILE_NAME) {
        validate_project(home, path)?;
    } else if path.extension().is_some_and(|e| e == "cedar") {
        let config = home.load_config()?;
        let engine = Engine::new(config.profile, &[PolicyFile::new(&name, read()?)])?;
        println!("ok: {name} ({} policies in force with it)", engine.policies().len());
    } else {
        Config::parse(&name, &read()?)?;
        println!("ok: {name}");
    }
    Ok(0)
}

fn validate_project(home: &Home, path: &Path) -> Result<()> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {name}"))?;
    let config = home.load_config()?;
    let mut engine = Engine::new(config.profile, &home.load_policies()?)?;
    Project::parse(&name, &text)?.tighten(&mut engine)?;
    println!("ok: {name} ({} policies in force in this workspace)", engine.policies().len());
    Ok(())
}
