//! What the classifiers ask of the file system, answered here (the classifiers do no IO).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use holdpoint_classify::{Context, WorkspaceFacts, path::is_within};

use crate::home::Home;

/// Files larger than this are not read for scripts or recipes.
const MAX_READ: u64 = 1 << 20;

/// Answers from the real file system, limited to one workspace.
pub struct FsFacts {
    workspace: PathBuf,
}

impl FsFacts {
    pub fn new(workspace: &Path) -> FsFacts {
        FsFacts { workspace: workspace.to_path_buf() }
    }
}

impl WorkspaceFacts for FsFacts {
    fn is_tracked(&self, path: &str) -> bool {
        if !is_within(path, &self.workspace.display().to_string()) {
            return false;
        }
        Command::new("git")
            .args(["ls-files", "--error-unmatch", "--", path])
            .current_dir(&self.workspace)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    fn read(&self, path: &str) -> Option<String> {
        if !is_within(path, &self.workspace.display().to_string()) {
            return None;
        }
        let meta = std::fs::metadata(path).ok()?;
        if !meta.is_file() || meta.len() > MAX_READ {
            return None;
        }
        std::fs::read_to_string(path).ok()
    }
}

/// The classifier context of a cwd in a workspace.
pub fn context(cwd: &Path, workspace: &Path, home: &Home, protected_branches: Vec<String>) -> Context {
    let user_home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    // The first is what `$TMPDIR` expands to in the agent's commands: this process inherits
    // the agent's environment.
    let mut temp_dirs = vec![std::env::temp_dir().display().to_string()];
    for dir in ["/tmp", "/var/tmp"] {
        if !temp_dirs.iter().any(|t| t == dir) {
            temp_dirs.push(dir.to_owned());
        }
    }
    let mut guarded = vec![home.config.display().to_string(), home.state.display().to_string()];
    for default in [".config/holdpoint", ".local/state/holdpoint"] {
        let p = format!("{user_home}/{default}");
        if !guarded.contains(&p) {
            guarded.push(p);
        }
    }
    Context {
        cwd: cwd.display().to_string(),
        workspace: workspace.display().to_string(),
        home: user_home,
        temp_dirs,
        guarded,
        protected_branches,
    }
}
