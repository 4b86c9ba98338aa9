//! The policy in force in each workspace (the user's, tightened by the workspace's project
//! file), built on first use, and the decision cache that lets a hook answer a decision it
//! has made before without parsing Cedar again.

use std::cell::OnceCell;
use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::Result;
use holdpoint_core::{Action, Denial, Verdict, canonical_json};
use holdpoint_policy::config::Config;
use holdpoint_policy::project::{self, Project};
use holdpoint_policy::{Decision, Engine, GUARDED, Mode, PolicyFile, STRICT};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::home::Home;

/// The loaded config and policy files, and the engines built from them.
pub struct Engines {
    config: Config,
    user: Vec<PolicyFile>,
    base: OnceCell<Result<Engine, String>>,
    projects: HashMap<PathBuf, WorkspacePolicy>,
    cache: Option<DecisionCache>,
}

/// What a workspace's project file adds.
struct WorkspacePolicy {
    /// The project file's text, or why it cannot be read; `None` when there is none.
    project: Option<Result<String, String>>,
    /// The user's protected branches plus the project's.
    protected_branches: Vec<String>,
    /// The tightened engine, built on first use.
    engine: OnceCell<Engine>,
    /// Hash of everything the decisions in this workspace depend on.
    fingerprint: [u8; 32],
}

impl Engines {
    /// Load config and policy files and build the user's engine now, so that a policy file
    /// that does not parse is an error here (for `check`, `explain`, `policy`).
    pub fn load(home: &Home) -> Result<Engines> {
        let engines = Engines::load_lazy(home)?;
        engines.base().map_err(anyhow::Error::msg)?;
        Ok(engines)
    }

    /// Load config and policy files; engines are built when a decision needs one, and a
    /// policy that does not parse then makes that decision a deny (for hooks).
    pub fn load_lazy(home: &Home) -> Result<Engines> {
        let config = home.load_config()?;
        let user = home.load_policies()?;
        let engines = Engines { config, user, base: OnceCell::new(), projects: HashMap::new(), cache: None };
        Ok(engines)
    }

    /// Keep decisions in `state/decisions.jsonl` (only when the state directory exists).
    pub fn with_cache(mut self, home: &Home) -> Engines {
        if home.state.is_dir() {
            self.cache = Some(DecisionCache { path: home.state.join("decisions.jsonl"), text: None });
        }
        self
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The protected branches in force in a workspace: the user's and its project's.
    pub fn protected_branches(&mut self, workspace: &Path) -> Vec<String> {
        self.workspace_policy(workspace).protected_branches.clone()
    }

    /// The engine for a workspace. A broken project file makes it deny everything, naming
    /// the problem; a broken user policy is an error.
    pub fn for_workspace(&mut self, workspace: &Path) -> Result<&Engine, String> {
        self.base()?;
        let (config, user) = (&self.config, &self.user);
        let base = self.base.get().and_then(|b| b.as_ref().ok()).ok_or("the user's policy did not load")?;
        let policy =
            self.projects.entry(workspace.to_path_buf()).or_insert_with(|| load_project(config, user, workspace));
        let Some(text) = &policy.project else { return Ok(base) };
        Ok(policy.engine.get_or_init(|| project_engine(config, user, workspace, text)))
    }

    /// Decide an action, from the cache when this exact decision was made before under the
    /// same policy files.
    pub fn decide(&mut self, action: &Action) -> Decision {
        let workspace = PathBuf::from(&action.actor.workspace);
        let cached = self.cache.is_some();
        let key = cached.then(|| cache_key(&self.workspace_policy(&workspace).fingerprint, action));
        if let (Some(cache), Some(key)) = (self.cache.as_mut(), &key)
            && let Some(hit) = cache.get(key)
        {
            return hit;
        }
        let decision = match self.for_workspace(&workspace) {
            Ok(engine) => engine.decide(action),
            Err(reason) => refused(reason, self.config.profile == holdpoint_policy::Profile::Observe),
        };
        if let (Some(cache), Some(key)) = (self.cache.as_mut(), &key) {
            cache.put(key, &decision);
        }
        decision
    }

    /// The user's engine, built on first use.
    fn base(&self) -> Result<&Engine, String> {
        let (config, user) = (&self.config, &self.user);
        let base = self.base.get_or_init(|| Engine::new(config.profile, user).map_err(|e| e.to_string()));
        base.as_ref().map_err(Clone::clone)
    }

    fn workspace_policy(&mut self, workspace: &Path) -> &WorkspacePolicy {
        let (config, user) = (&self.config, &self.user);
        self.projects.entry(workspace.to_path_buf()).or_insert_with(|| load_project(config, user, workspace))
    }
}

fn refused(reason: String, observe: bool) -> Decision {
    let denial = Denial::Config { reason };
    Decision {
        reasons: vec![denial.to_string()],
        verdict: Verdict::Deny { denial },
        policies: vec![],
        mode: if observe { Mode::Observe } else { Mode::Enforce },
        effects: vec![],
    }
}

fn load_project(config: &Config, user: &[PolicyFile], workspace: &Path) -> WorkspacePolicy {
    let mut protected_branches = config.protected_branches.clone();
    let path = workspace.join(project::FILE_NAME);
    let project = match std::fs::read_to_string(&path) {
        Ok(text) => {
            // Protected branches are needed to classify, before any engine exists.
            if let Ok(p) = Project::parse(&path.display().to_string(), &text) {
                protected_branches.extend(p.protected_branches.iter().cloned());
            }
            Some(Ok(text))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        // A running sandbox keeps an empty mode-0 directory where the file does not exist yet,
        // so nothing inside can create it: there is no project file.
        Err(_) if holdpoint_sandbox::layout::is_placeholder(&path) => None,
        Err(e) => Some(Err(format!("cannot read {}: {e}", path.display()))),
    };
    let fingerprint = fingerprint(config, user, project.as_ref());
    WorkspacePolicy { project, protected_branches, engine: OnceCell::new(), fingerprint }
}

fn project_engine(config: &Config, user: &[PolicyFile], workspace: &Path, text: &Result<String, String>) -> Engine {
    let path = workspace.join(project::FILE_NAME).display().to_string();
    let mut engine = match Engine::new(config.profile, user) {
        Ok(engine) => engine,
        // The same inputs built the user's engine a moment ago; this cannot differ, but if it
        // did, nothing would be allowed.
        Err(e) => return refusing(config, e.to_string()),
    };
    let result = text.clone().and_then(|text| {
        let project = Project::parse(&path, &text).map_err(|e| e.to_string())?;
        project.tighten(&mut engine).map_err(|e| e.to_string())
    });
    if let Err(reason) = result {
        engine.refuse_all(format!(
            "{reason}. Fix or remove the project file; until then every action in {} is denied.",
            workspace.display()
        ));
    }
    engine
}

fn refusing(config: &Config, reason: String) -> Engine {
    let mut engine = match Engine::new(config.profile, &[]) {
        Ok(engine) => engine,
        Err(_) => return refusing(&Config::default(), reason),
    };
    engine.refuse_all(reason);
    engine
}

/// Everything a decision depends on besides the action itself.
fn fingerprint(config: &Config, user: &[PolicyFile], project: Option<&Result<String, String>>) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"holdpoint.decisions.v1\0");
    h.update(env!("CARGO_PKG_VERSION").as_bytes());
    h.update(config.profile.as_str().as_bytes());
    for text in [GUARDED, STRICT] {
        h.update(text.len().to_le_bytes());
        h.update(text.as_bytes());
    }
    for file in user {
        for part in [&file.name, &file.text] {
            h.update(part.len().to_le_bytes());
            h.update(part.as_bytes());
        }
    }
    match project {
        None => h.update(b"-"),
        Some(Ok(text)) => {
            h.update(b"p");
            h.update(text.as_bytes());
        }
        Some(Err(e)) => {
            h.update(b"e");
            h.update(e.as_bytes());
        }
    }
    h.finalize().into()
}

fn cache_key(fingerprint: &[u8; 32], action: &Action) -> String {
    let mut h = Sha256::new();
    h.update(fingerprint);
    let effects = serde_json::to_value(&action.effects).map(|v| canonical_json(&v)).unwrap_or_default();
    let agent = action.actor.agent.as_deref().unwrap_or("");
    for part in [action.channel.as_str(), &action.actor.workspace, agent, &effects] {
        h.update(part.len().to_le_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Past this size the cache starts over.
const MAX_CACHE: u64 = 2 << 20;

/// Decisions by key, one JSON line each, appended by every hook process.
struct DecisionCache {
    path: PathBuf,
    text: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct Line {
    k: String,
    verdict: Verdict,
    reasons: Vec<String>,
    policies: Vec<String>,
    observe: bool,
}

impl DecisionCache {
    fn get(&mut self, key: &str) -> Option<Decision> {
        let text = self.text.get_or_insert_with(|| {
            let fits = std::fs::metadata(&self.path).is_ok_and(|m| m.len() <= MAX_CACHE);
            if fits { std::fs::read_to_string(&self.path).unwrap_or_default() } else { String::new() }
        });
        let prefix = format!("{{\"k\":\"{key}\"");
        let line = text.lines().find(|l| l.starts_with(&prefix))?;
        // A line that does not parse (a torn write) is a miss, never a guess.
        let l: Line = serde_json::from_str(line).ok()?;
        Some(Decision {
            verdict: l.verdict,
            reasons: l.reasons,
            policies: l.policies,
            mode: if l.observe { Mode::Observe } else { Mode::Enforce },
            effects: vec![],
        })
    }

    /// Append a decision; failing to is only a slower next time, so errors are dropped.
    fn put(&mut self, key: &str, d: &Decision) {
        let line = Line {
            k: key.to_owned(),
            verdict: d.verdict.clone(),
            reasons: d.reasons.clone(),
            policies: d.policies.clone(),
            observe: d.mode == Mode::Observe,
        };
        let Ok(mut text) = serde_json::to_string(&line) else { return };
        text.push('\n');
        if std::fs::metadata(&self.path).is_ok_and(|m| m.len() > MAX_CACHE) {
            let _ = std::fs::remove_file(&self.path);
        }
        let file = std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(&self.path);
        // One write of one line: appends from concurrent hooks do not interleave.
        let _ = file.and_then(|mut f| f.write_all(text.as_bytes()));
    }
}
