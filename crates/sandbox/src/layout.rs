//! What the sandbox shows: the request (`holdpoint run`'s flags, resolved) and the mount
//! layout built from it by looking at the host's file system.

use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::Error;

/// System directories shown read-only (a symlink, as on merged-/usr systems, is copied).
pub const SYSTEM_DIRS: &[&str] = &["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt"];

/// Files under `/etc` covered even though `/etc` is shown: password hashes and host keys.
pub const HIDDEN_SYSTEM_FILES: &[&str] = &[
    "/etc/shadow",
    "/etc/shadow-",
    "/etc/gshadow",
    "/etc/gshadow-",
    "/etc/ssh/ssh_host_rsa_key",
    "/etc/ssh/ssh_host_ecdsa_key",
    "/etc/ssh/ssh_host_ed25519_key",
    "/etc/ssh/ssh_host_dsa_key",
    "/etc/ssl/private",
];

/// Credentials and private data under the home directory. The home directory inside is a
/// fresh tmpfs, so these are absent anyway; they are also covered wherever a shown directory
/// (a toolchain, an `--allow-read` path) contains them.
pub const HIDDEN_IN_HOME: &[&str] = &[
    ".ssh",
    ".aws",
    ".azure",
    ".kube",
    ".docker",
    ".gnupg",
    ".password-store",
    ".netrc",
    ".npmrc",
    ".pypirc",
    ".vault-token",
    ".git-credentials",
    ".terraform.d/credentials.tfrc.json",
    ".config/gcloud",
    ".config/gh",
    ".config/hub",
    ".config/op",
    ".config/google-chrome",
    ".config/chromium",
    ".mozilla",
    ".local/share/keyrings",
    ".cargo/credentials",
    ".cargo/credentials.toml",
    ".bash_history",
    ".zsh_history",
    ".python_history",
    ".node_repl_history",
    ".psql_history",
    ".mysql_history",
    ".lesshst",
    ".viminfo",
];

/// Files under the home directory copied in read-only when they exist (git's identity and
/// ignore rules; never shell start-up files, which often export secrets).
pub const HOME_FILES: &[&str] = &[".gitconfig", ".config/git/config", ".config/git/ignore", ".config/git/attributes"];

/// Toolchains and caches under the home directory that builds write to (registries, module
/// caches), shown when present through an overlay whose writes stay in memory.
pub const HOME_CACHES: &[&str] = &[".cargo", ".npm", "go"];

/// Toolchains under the home directory that builds only read, shown read-only when present.
pub const HOME_TOOLCHAINS: &[&str] =
    &[".rustup", ".npm-global", ".nvm", ".volta", ".bun", ".deno", ".pyenv", ".local/share/pnpm"];

/// Paths inside the workspace that tools run without asking (git hooks and config, direnv,
/// editor tasks, agents' settings and MCP servers, Holdpoint's project file): read-only inside
/// the sandbox, whether or not they exist yet, so the agent cannot plant a command the host
/// runs later. A `.git` that does not exist is not covered: `git init` inside must work.
pub const PROTECTED_IN_WORKSPACE: &[&str] = &[
    ".git/hooks",
    ".git/config",
    ".envrc",
    ".vscode/tasks.json",
    ".vscode/settings.json",
    ".claude/settings.json",
    ".claude/settings.local.json",
    ".mcp.json",
    ".cursor",
    ".gemini/settings.json",
    ".codex",
    ".holdpoint.toml",
];

/// The port the bridge listens on inside the sandbox unless told otherwise (the egress
/// proxy's default port).
pub const DEFAULT_BRIDGE_PORT: u16 = 8788;

/// Where the CA files are placed inside the sandbox.
pub const CA_DIR: &str = "/run/holdpoint";

/// Where the bridge relays to: the egress proxy on the host.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum BridgeTarget {
    /// A unix socket path.
    Unix(PathBuf),
    /// A TCP address (the host's loopback, where `holdpoint serve` listens).
    Tcp(std::net::SocketAddr),
}

impl std::fmt::Display for BridgeTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BridgeTarget::Unix(path) => write!(f, "{}", path.display()),
            BridgeTarget::Tcp(addr) => write!(f, "{addr}"),
        }
    }
}

/// The way out: connections to `127.0.0.1:port` inside the sandbox are relayed to `target`
/// on the host, where Holdpoint's egress proxy listens.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Bridge {
    /// The host side.
    pub target: BridgeTarget,
    /// The loopback port inside the sandbox.
    pub port: u16,
}

/// What to run and what to show it: absolute paths, as the host sees them.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Request {
    /// The workspace, shown read-write at its own path.
    pub workspace: PathBuf,
    /// Where the command starts (the workspace if this is not shown inside).
    pub cwd: PathBuf,
    /// The home directory: a tmpfs inside.
    pub home: PathBuf,
    /// Extra paths shown read-only.
    pub allow_read: Vec<PathBuf>,
    /// Toolchain directories shown through an in-memory overlay (their caches are written).
    pub toolchains: Vec<PathBuf>,
    /// Toolchain directories shown read-only.
    pub tools: Vec<PathBuf>,
    /// Single files shown read-only (from the home directory).
    pub home_files: Vec<PathBuf>,
    /// Paths covered wherever a shown directory contains them.
    pub hidden: Vec<PathBuf>,
    /// Paths that must never be shown: a workspace or `--allow-read` path inside one of them
    /// is refused (Holdpoint's own config and state).
    pub forbidden: Vec<PathBuf>,
    /// Paths inside the workspace (relative) that are read-only inside.
    pub protected: Vec<PathBuf>,
    /// The bridge to the egress proxy; without it the sandbox has no network but loopback.
    pub bridge: Option<Bridge>,
    /// Further loopback ports relayed the same way: the gateway's agent-side socket (what a
    /// hook inside calls) and its PostgreSQL proxies.
    pub extra_bridges: Vec<Bridge>,
    /// Files generated for the sandbox, shown read-only at a path under the home directory:
    /// (path inside, host file). The agents' settings with Holdpoint's hooks go here.
    pub home_overrides: Vec<(PathBuf, PathBuf)>,
    /// The PEM of the CA the proxy signs with, placed inside when there is a bridge.
    pub ca_pem: Option<String>,
    /// The command's environment, exactly.
    pub env: Vec<(OsString, OsString)>,
    /// The command and its arguments.
    pub argv: Vec<OsString>,
}

impl Request {
    /// A request with the built-in lists filled in for `home` (protected workspace paths,
    /// hidden home paths, home files and toolchains that exist) and nothing else shown.
    pub fn new(workspace: PathBuf, cwd: PathBuf, home: PathBuf, argv: Vec<OsString>) -> Request {
        let in_home = |names: &[&str]| names.iter().map(|n| home.join(n)).collect::<Vec<_>>();
        let mut hidden = in_home(HIDDEN_IN_HOME);
        hidden.extend(HIDDEN_SYSTEM_FILES.iter().map(PathBuf::from));
        let home_files = in_home(HOME_FILES).into_iter().filter(|p| p.is_file()).collect();
        let toolchains = in_home(HOME_CACHES).into_iter().filter(|p| p.is_dir()).collect();
        let tools = in_home(HOME_TOOLCHAINS).into_iter().filter(|p| p.is_dir()).collect();
        Request {
            workspace,
            cwd,
            home,
            allow_read: Vec::new(),
            toolchains,
            tools,
            home_files,
            hidden,
            forbidden: Vec::new(),
            protected: PROTECTED_IN_WORKSPACE.iter().map(PathBuf::from).collect(),
            bridge: None,
            extra_bridges: Vec::new(),
            home_overrides: Vec::new(),
            ca_pem: None,
            env: Vec::new(),
            argv,
        }
    }
}

impl Request {
    /// Every bridge: the egress proxy's first, then the others, in the order pid 1 hands
    /// their listening sockets to the supervisor.
    pub fn bridges(&self) -> impl Iterator<Item = &Bridge> {
        self.bridge.iter().chain(&self.extra_bridges)
    }
}

/// One step of building the new root, applied in order (parents before children).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum Entry {
    /// A host path shown at `path` (with everything mounted below it).
    Bind {
        /// The host's path, resolved (no symlinks).
        source: PathBuf,
        /// The path inside.
        path: PathBuf,
        /// Read-write (the workspace) or read-only.
        writable: bool,
    },
    /// A host directory shown through an overlay whose writes stay in memory.
    Overlay {
        /// The host's path, resolved (no symlinks).
        source: PathBuf,
        /// The path inside.
        path: PathBuf,
    },
    /// A fresh, empty, writable tmpfs.
    Tmpfs {
        /// The path.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// An empty, unreadable, read-only directory or file laid over a path.
    Cover {
        /// The path.
        path: PathBuf,
        /// Whether the covered path is a directory.
        dir: bool,
    },
    /// A symlink, as on the host.
    Symlink {
        /// The path.
        path: PathBuf,
        /// Where it points.
        target: PathBuf,
    },
    /// A read-only file with the given contents.
    File {
        /// The path.
        path: PathBuf,
        /// The contents.
        contents: String,
    },
    /// A minimal `/dev`: null, zero, full, random, urandom, tty, a new pts instance, shm.
    Dev,
    /// A fresh `/proc` of the sandbox's pid namespace, with the kernel's knobs read-only.
    Proc,
}

impl Entry {
    /// A bind of the host path `path` at the same path inside (the source resolved).
    pub fn bind(path: PathBuf, writable: bool) -> Entry {
        Entry::Bind { source: resolved(&path), path, writable }
    }

    /// An overlay of the host directory `path` at the same path inside.
    pub fn overlay(path: PathBuf) -> Entry {
        Entry::Overlay { source: resolved(&path), path }
    }

    /// The path the entry is mounted at.
    pub fn path(&self) -> &Path {
        match self {
            Entry::Bind { path, .. }
            | Entry::Overlay { path, .. }
            | Entry::Tmpfs { path, .. }
            | Entry::Cover { path, .. }
            | Entry::Symlink { path, .. }
            | Entry::File { path, .. } => path,
            Entry::Dev => Path::new("/dev"),
            Entry::Proc => Path::new("/proc"),
        }
    }
}

/// The new root, step by step, and the empty directories to make on the host first (mount
/// points for protected paths that do not exist yet; removed again when the sandbox ends).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Layout {
    /// The steps, parents first.
    pub entries: Vec<Entry>,
    /// Host directories to create (empty, mode 0) before and remove after.
    pub placeholders: Vec<PathBuf>,
}

/// `path` normalised without touching the disk: absolute, no `.` or `..`.
fn normal(path: &Path) -> Option<PathBuf> {
    if !path.is_absolute() {
        return None;
    }
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    Some(out)
}

fn resolved(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

fn depth(path: &Path) -> usize {
    path.components().count()
}

impl Layout {
    /// Builds the layout for `request`, looking at the host's file system (which paths exist,
    /// which are symlinks). Refuses a workspace that is `/`, contains the home directory or
    /// lies inside a forbidden path, and protected paths that are symlinks.
    pub fn build(request: &Request) -> Result<Layout, Error> {
        let refuse = |path: &Path, why: &str| Error::Refused { path: path.to_path_buf(), why: why.to_owned() };
        let ws =
            normal(&request.workspace).ok_or_else(|| refuse(&request.workspace, "the workspace must be absolute"))?;
        let home = normal(&request.home).ok_or_else(|| refuse(&request.home, "the home directory must be absolute"))?;
        if ws == Path::new("/") || home.starts_with(&ws) {
            return Err(refuse(
                &ws,
                "the workspace would contain your home directory, and with it every secret the sandbox hides; \
                 run from a project directory or pass --workspace DIR",
            ));
        }
        let forbidden: Vec<PathBuf> = request.forbidden.iter().filter_map(|p| normal(p)).collect();
        let mut shown: Vec<PathBuf> = vec![ws.clone()];
        for path in &request.allow_read {
            let path = normal(path).ok_or_else(|| refuse(path, "--allow-read takes an absolute path"))?;
            if !path.exists() {
                return Err(refuse(&path, "--allow-read names a path that does not exist"));
            }
            shown.push(path);
        }
        for path in &shown {
            if let Some(f) = forbidden.iter().find(|f| path.starts_with(f)) {
                return Err(refuse(
                    path,
                    &format!("it is inside {}, Holdpoint's own files, which no sandbox may see", f.display()),
                ));
            }
        }

        let mut layout = Layout::default();
        layout.system_dirs();
        layout.entries.push(Entry::Tmpfs { path: "/tmp".into(), mode: 0o1777 });
        layout.entries.push(Entry::Dev);
        layout.entries.push(Entry::Proc);
        if home != Path::new("/") {
            layout.entries.push(Entry::Tmpfs { path: home.clone(), mode: 0o700 });
        }
        for file in request.home_files.iter().filter_map(|p| normal(p)) {
            if file.is_file() {
                layout.entries.push(Entry::bind(file, false));
            }
        }
        for (inside, file) in &request.home_overrides {
            if let Some(inside) = normal(inside).filter(|p| p.starts_with(&home) && p != &home)
                && file.is_file()
            {
                layout.entries.push(Entry::Bind { source: resolved(file), path: inside, writable: false });
            }
        }
        for dir in request.toolchains.iter().filter_map(|p| normal(p)) {
            if dir.is_dir() && !dir.starts_with(&ws) && !forbidden.iter().any(|f| dir.starts_with(f)) {
                layout.entries.push(Entry::overlay(dir));
            }
        }
        for dir in request.tools.iter().filter_map(|p| normal(p)) {
            if dir.is_dir() && !dir.starts_with(&ws) && !forbidden.iter().any(|f| dir.starts_with(f)) {
                layout.entries.push(Entry::bind(dir, false));
            }
        }
        for path in shown.iter().skip(1) {
            layout.entries.push(Entry::bind(path.clone(), false));
        }
        layout.entries.push(Entry::bind(ws.clone(), true));
        layout.cover(request.hidden.iter().chain(&forbidden), &request.allow_read);
        layout.protect(&ws, &request.protected)?;
        if let (Some(_), Some(pem)) = (&request.bridge, &request.ca_pem) {
            layout.ca_files(pem);
        }
        // Parents before children; the sort is stable, so a cover laid over a path comes after
        // the bind of that same path.
        layout.entries.sort_by_key(|e| depth(e.path()));
        Ok(layout)
    }

    fn system_dirs(&mut self) {
        for dir in SYSTEM_DIRS {
            let path = PathBuf::from(dir);
            match std::fs::symlink_metadata(&path) {
                Ok(m) if m.file_type().is_symlink() => {
                    if let Ok(target) = std::fs::read_link(&path) {
                        self.entries.push(Entry::Symlink { path, target });
                    }
                }
                Ok(m) if m.is_dir() => self.entries.push(Entry::bind(path, false)),
                _ => {}
            }
        }
    }

    /// Read-only binds over the protected paths of the workspace; for one that does not exist,
    /// a placeholder directory at its first missing component.
    fn protect(&mut self, ws: &Path, protected: &[PathBuf]) -> Result<(), Error> {
        let mut protected: Vec<PathBuf> = protected.to_vec();
        protected.extend(hooks_path(ws));
        for rel in &protected {
            let Some(full) = normal(&ws.join(rel)) else { continue };
            if !full.starts_with(ws) || full == ws {
                continue;
            }
            // A repository that does not exist yet is the agent's to create.
            if rel.starts_with(".git") && std::fs::symlink_metadata(ws.join(".git")).is_err() {
                continue;
            }
            let Some(point) = first_missing_or_self(ws, &full)? else { continue };
            match point {
                Point::Exists(path) if !is_placeholder(&path) => self.push_unique(Entry::bind(path, false)),
                Point::Exists(path) | Point::Missing(path) => {
                    if !self.placeholders.contains(&path) {
                        self.placeholders.push(path.clone());
                    }
                    self.push_unique(Entry::bind(path, false));
                }
            }
        }
        Ok(())
    }

    fn push_unique(&mut self, entry: Entry) {
        if !self.entries.contains(&entry) {
            self.entries.push(entry);
        }
    }

    /// Covers each hidden path that exists strictly inside a shown tree, unless the user
    /// named it (or a path inside it) with `--allow-read`.
    fn cover<'a>(&mut self, hidden: impl Iterator<Item = &'a PathBuf>, allowed: &[PathBuf]) {
        let trees: Vec<PathBuf> = self
            .entries
            .iter()
            .filter_map(|e| match e {
                Entry::Bind { path, .. } | Entry::Overlay { path, .. } => Some(path.clone()),
                _ => None,
            })
            .collect();
        for path in hidden.filter_map(|p| normal(p)) {
            let inside = trees.iter().any(|t| path.starts_with(t) && &path != t);
            let named = allowed.iter().filter_map(|a| normal(a)).any(|a| a.starts_with(&path));
            if !inside || named {
                continue;
            }
            // What the user cannot read needs no cover (password hashes, for anyone but root).
            let readable = nix::unistd::access(&path, nix::unistd::AccessFlags::R_OK).is_ok();
            if let Ok(m) = std::fs::symlink_metadata(&path)
                && !m.file_type().is_symlink()
                && readable
            {
                self.push_unique(Entry::Cover { path, dir: m.is_dir() });
            }
        }
    }

    fn ca_files(&mut self, pem: &str) {
        let dir = PathBuf::from(CA_DIR);
        let system = ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"]
            .iter()
            .find_map(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default();
        let mut bundle = system;
        if !bundle.is_empty() && !bundle.ends_with('\n') {
            bundle.push('\n');
        }
        bundle.push_str(pem);
        self.entries.push(Entry::File { path: dir.join("ca.pem"), contents: pem.to_owned() });
        self.entries.push(Entry::File { path: dir.join("ca-bundle.pem"), contents: bundle });
    }
}

/// A placeholder a killed run left behind: an empty directory with no permission bits.
pub fn is_placeholder(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir() && m.permissions().mode() & 0o7777 == 0)
        && std::fs::read_dir(path).map_or(true, |mut d| d.next().is_none())
}

enum Point {
    Exists(PathBuf),
    Missing(PathBuf),
}

/// The protected path itself when it exists, else its first missing component below the
/// workspace; `None` when an existing component is a file (nothing can be created below it).
/// A symlink anywhere on the way is refused: a mount cannot be laid over one, and the agent
/// could swap it.
fn first_missing_or_self(ws: &Path, full: &Path) -> Result<Option<Point>, Error> {
    let Ok(rel) = full.strip_prefix(ws) else { return Ok(None) };
    let mut at = ws.to_path_buf();
    let mut components = rel.components().peekable();
    while let Some(c) = components.next() {
        at.push(c);
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(Error::Refused {
                    path: at,
                    why: "this path is a symlink, and Holdpoint keeps it read-only inside the sandbox (tools run it \
                          without asking); replace the symlink with the file or directory it points to"
                        .into(),
                });
            }
            // The path itself, or a placeholder a killed run left on the way.
            Ok(_) if components.peek().is_none() || is_placeholder(&at) => return Ok(Some(Point::Exists(at))),
            Ok(m) if !m.is_dir() => return Ok(None),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Some(Point::Missing(at))),
            // Not searchable: the command, with the same user, cannot create anything there either.
            Err(_) => return Ok(None),
        }
    }
    Ok(None)
}

/// The hooks directory named by `core.hooksPath` in the workspace's `.git/config`, when it is
/// inside the workspace (relative to it).
fn hooks_path(ws: &Path) -> Option<PathBuf> {
    hooks_path_in(&std::fs::read_to_string(ws.join(".git/config")).ok()?, ws)
}

/// The `core.hooksPath` of a git config text, relative to `ws`, when it lies strictly inside
/// `ws` (normalised: never absolute, never with `..`); `None` otherwise. The text is the
/// workspace's, so anyone may have written it.
///
/// ```
/// use std::path::Path;
/// use holdpoint_sandbox::layout::hooks_path_in;
///
/// let ws = Path::new("/w");
/// assert_eq!(hooks_path_in("[core]\n\thooksPath = .husky/_\n", ws), Some(".husky/_".into()));
/// assert_eq!(hooks_path_in("[core]\nhookspath = \"/w/tools/../hooks\"\n", ws), Some("hooks".into()));
/// assert_eq!(hooks_path_in("[core]\nhooksPath = ../elsewhere\n", ws), None);
/// ```
pub fn hooks_path_in(config: &str, ws: &Path) -> Option<PathBuf> {
    let mut in_core = false;
    let mut found = None;
    for line in config.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_core = line.trim_start_matches('[').trim_end_matches(']').trim().eq_ignore_ascii_case("core");
            continue;
        }
        let Some((key, value)) = line.split_once('=') else { continue };
        if in_core && key.trim().eq_ignore_ascii_case("hookspath") {
            // The last one wins, as in git.
            found = Some(value.trim().trim_matches('"').to_owned());
        }
    }
    let value = found?;
    let path = if Path::new(&value).is_absolute() { PathBuf::from(&value) } else { ws.join(&value) };
    let path = normal(&path)?;
    path.strip_prefix(ws).ok().filter(|r| !r.as_os_str().is_empty()).map(Path::to_path_buf)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use super::*;

    fn request(root: &Path) -> Request {
        let ws = root.join("proj");
        let home = root.join("home");
        std::fs::create_dir_all(&ws).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        Request::new(ws.clone(), ws, home, vec!["true".into()])
    }

    #[test]
    fn a_workspace_holding_the_home_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut req = request(dir.path());
        req.workspace = dir.path().to_path_buf();
        assert!(matches!(Layout::build(&req), Err(Error::Refused { .. })));
        req.workspace = "/".into();
        assert!(matches!(Layout::build(&req), Err(Error::Refused { .. })));
    }

    #[test]
    fn holdpoint_files_are_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        let mut req = request(dir.path());
        let state = dir.path().join("hp/state");
        std::fs::create_dir_all(&state).unwrap();
        req.forbidden = vec![dir.path().join("hp")];
        req.allow_read = vec![state];
        assert!(matches!(Layout::build(&req), Err(Error::Refused { .. })));
        // Shown around: covered.
        req.allow_read = vec![dir.path().to_path_buf()];
        let layout = Layout::build(&req).unwrap();
        assert!(layout.entries.contains(&Entry::Cover { path: dir.path().join("hp"), dir: true }));
    }

    #[test]
    fn missing_protected_paths_get_placeholders_existing_ones_read_only_binds() {
        let dir = tempfile::tempdir().unwrap();
        let req = request(dir.path());
        let ws = req.workspace.clone();
        std::fs::create_dir_all(ws.join(".git/hooks")).unwrap();
        std::fs::write(ws.join(".git/config"), "[core]\n\thooksPath = tools/hooks\n").unwrap();
        std::fs::create_dir_all(ws.join(".vscode")).unwrap();
        let layout = Layout::build(&req).unwrap();
        let ro = |p: &str| Entry::bind(ws.join(p), false);
        for p in [".git/hooks", ".git/config", ".envrc", ".vscode/tasks.json", ".claude", "tools"] {
            assert!(layout.entries.contains(&ro(p)), "{p} is read-only: {:#?}", layout.entries);
        }
        for p in [".envrc", ".vscode/tasks.json", ".claude", "tools"] {
            assert!(layout.placeholders.contains(&ws.join(p)), "{p} gets a placeholder");
        }
        assert!(!layout.placeholders.contains(&ws.join(".git/hooks")));
        // The workspace comes before what is laid over it.
        let at = |e: &Entry| layout.entries.iter().position(|x| x == e).unwrap();
        assert!(at(&Entry::bind(ws.clone(), true)) < at(&ro(".envrc")));
    }

    #[test]
    fn a_placeholder_left_by_a_killed_run_is_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let req = request(dir.path());
        let left = req.workspace.join(".vscode");
        std::fs::create_dir(&left).unwrap();
        std::fs::set_permissions(&left, std::fs::Permissions::from_mode(0o000)).unwrap();
        let layout = Layout::build(&req).unwrap();
        assert!(layout.placeholders.contains(&left), "{:?}", layout.placeholders);
        assert!(!layout.placeholders.iter().any(|p| p.starts_with(&left) && p != &left));
    }

    #[test]
    fn a_missing_repository_is_left_to_git_init() {
        let dir = tempfile::tempdir().unwrap();
        let req = request(dir.path());
        let layout = Layout::build(&req).unwrap();
        assert!(!layout.placeholders.iter().any(|p| p.ends_with(".git") || p.starts_with(req.workspace.join(".git"))));
    }

    #[test]
    fn a_protected_symlink_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let req = request(dir.path());
        std::os::unix::fs::symlink("/etc/hostname", req.workspace.join(".envrc")).unwrap();
        assert!(matches!(Layout::build(&req), Err(Error::Refused { .. })));
    }

    #[test]
    fn secrets_inside_shown_trees_are_covered_unless_named() {
        let dir = tempfile::tempdir().unwrap();
        let mut req = request(dir.path());
        let cargo = req.home.join(".cargo");
        std::fs::create_dir_all(&cargo).unwrap();
        std::fs::write(cargo.join("credentials.toml"), "token").unwrap();
        req.toolchains = vec![cargo.clone()];
        let layout = Layout::build(&req).unwrap();
        assert!(layout.entries.contains(&Entry::overlay(cargo.clone())));
        assert!(layout.entries.contains(&Entry::Cover { path: cargo.join("credentials.toml"), dir: false }));
        req.allow_read = vec![cargo.join("credentials.toml")];
        let layout = Layout::build(&req).unwrap();
        assert!(!layout.entries.contains(&Entry::Cover { path: cargo.join("credentials.toml"), dir: false }));
    }
}
