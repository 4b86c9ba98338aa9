//! Where Holdpoint keeps its files, and loading them: config, user policies, project files.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use holdpoint_policy::PolicyFile;
use holdpoint_policy::config::Config;

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
