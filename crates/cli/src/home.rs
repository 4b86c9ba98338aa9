//! Where Holdpoint keeps its files, and loading them: config, user policies, project files.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use holdpoint_policy::config::Config;
use holdpoint_policy::project::{self, Project};
use holdpoint_policy::{Engine, PolicyFile};

/// The config and state directories.
#[derive(Clone, Debug)]
pub struct Home {
    pub config: PathBuf,
    pub state: PathBuf,
}

impl Home {
    /// `HOLDPOINT_HOME=DIR` gives `DIR/config` and `DIR/state`; otherwise the XDG defaults.
    pub fn locate() -> Result<Home> {
        if let Some(dir) = std::env::var_os("HOLDPOINT_HOME").filter(|d| !d.is_empty()) {
            let dir = PathBuf::from(dir);
            return Ok(Home { config: dir.join("config"), state: dir.join("state") });
        }
        let home = std::env::var_os("HOME").filter(|h| !h.is_empty()).context(
            "neither HOLDPOINT_HOME nor HOME is set; set HOLDPOINT_HOME=DIR to say where Holdpoint keeps its files",
        )?;
        let home = PathBuf::from(home);
        Ok(Home { config: home.join(".config/holdpoint"), state: home.join(".local/state/holdpoint") })
    }

    pub fn config_file(&self) -> PathBuf {
        self.config.join("config.toml")
    }

    pub fn policies_dir(&self) -> PathBuf {
        self.config.join("policies")
    }

    /// The config file, or the built-in defaults when there is none. A file that does not
    /// parse is an error, never a silent fallback.
    pub fn load_config(&self) -> Result<Config> {
        let path = self.config_file();
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Config::parse(&path.display().to_string(), &text)?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    /// `policies/*.cedar`, in name order.
    pub fn load_policies(&self) -> Result<Vec<PolicyFile>> {
        let dir = self.policies_dir();
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
        };
        let mut paths = Vec::new();
        for entry in entries {
            let path = entry.with_context(|| format!("cannot read {}", dir.display()))?.path();
            if path.extension().is_some_and(|e| e == "cedar") {
                paths.push(path);
            }
        }
        paths.sort();
        paths
            .into_iter()
            .map(|p| {
                let text = std::fs::read_to_string(&p).with_context(|| format!("cannot read {}", p.display()))?;
                Ok(PolicyFile::new(p.display().to_string(), text))
            })
            .collect()
    }
}

/// The workspace of a directory: its git top level, or the directory itself.
pub fn workspace_of(dir: &Path) -> PathBuf {
    dir.ancestors().find(|d| d.join(".git").exists()).unwrap_or(dir).to_path_buf()
}

/// An absolute, resolved directory, or an error saying what is wrong with it.
pub fn resolve_dir(dir: Option<&Path>) -> Result<PathBuf> {
    let dir = match dir {
        Some(d) => d.to_path_buf(),
        None => std::env::current_dir().context("cannot read the current directory")?,
    };
    let resolved = dir.canonicalize().with_context(|| format!("directory {} does not exist", dir.display()))?;
    if !resolved.is_dir() {
        bail!("{} is not a directory", dir.display());
    }
    Ok(resolved)
}

/// The loaded user policy, and one engine per workspace that has a project file.
pub struct Engines {
    config: Config,
    user: Vec<PolicyFile>,
    base: Engine,
    projects: HashMap<PathBuf, WorkspacePolicy>,
}

/// What a workspace's project file adds.
struct WorkspacePolicy {
    /// The tightened engine, when the workspace has a project file.
    engine: Option<Engine>,
    /// The user's protected branches plus the project's.
    protected_branches: Vec<String>,
}

impl Engines {
    pub fn load(home: &Home) -> Result<Engines> {
        let config = home.load_config()?;
        let user = home.load_policies()?;
        let base = Engine::new(config.profile, &user)?;
        Ok(Engines { config, user, base, projects: HashMap::new() })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The engine for a workspace: the user's, tightened by the workspace's project file.
    /// A broken project file makes every decision there a deny naming the problem.
    pub fn for_workspace(&mut self, workspace: &Path) -> &Engine {
        self.workspace_policy(workspace);
        match self.projects.get(workspace).and_then(|p| p.engine.as_ref()) {
            Some(engine) => engine,
            None => &self.base,
        }
    }

    /// The protected branches in force in a workspace: the user's and its project's.
    pub fn protected_branches(&mut self, workspace: &Path) -> Vec<String> {
        self.workspace_policy(workspace).protected_branches.clone()
    }

    fn workspace_policy(&mut self, workspace: &Path) -> &WorkspacePolicy {
        let (config, user) = (&self.config, &self.user);
        self.projects.entry(workspace.to_path_buf()).or_insert_with(|| load_project(config, user, workspace))
    }
}

fn load_project(config: &Config, user: &[PolicyFile], workspace: &Path) -> WorkspacePolicy {
    let mut protected_branches = config.protected_branches.clone();
    let path = workspace.join(project::FILE_NAME);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return WorkspacePolicy { engine: None, protected_branches };
        }
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    };
    let mut engine = match Engine::new(config.profile, user) {
        Ok(engine) => engine,
        // The same inputs already built the user's engine, and loading is deterministic.
        Err(_) => return WorkspacePolicy { engine: None, protected_branches },
    };
    let result = text.and_then(|text| {
        let project = Project::parse(&path.display().to_string(), &text).map_err(|e| e.to_string())?;
        protected_branches.extend(project.protected_branches.iter().cloned());
        project.tighten(&mut engine).map_err(|e| e.to_string())
    });
    if let Err(reason) = result {
        engine.refuse_all(format!(
            "{reason}. Fix or remove the project file; until then every action in {} is denied.",
            workspace.display()
        ));
    }
    WorkspacePolicy { engine: Some(engine), protected_branches }
}
