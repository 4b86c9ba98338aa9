//! Paths: where a path points (resolved against the cwd), what kind of place that is, and
//! what reading, writing or deleting it would do.

use std::collections::BTreeSet;

use holdpoint_core::{Effect, Reversibility, Scope, Target, TargetKind, Verb};

use crate::{Context, WorkspaceFacts};

/// A file tool's operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileOp {
    /// Read a file.
    Read,
    /// Create or change a file.
    Write,
    /// Remove a file.
    Delete,
}

/// What a resolved path is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathInfo {
    /// Absolute, with `~`, `.` and `..` resolved.
    pub abs: String,
    /// Workspace, scratch or host.
    pub scope: Scope,
    /// `secret`, `guard`, `root`, `regenerable`, `data`, `vcs`.
    pub tags: BTreeSet<String>,
}

/// Directories whose contents a build or install makes again.
const REGENERABLE_DIRS: &[&str] = &[
    "node_modules",
    "target",
    "dist",
    "build",
    "out",
    ".next",
    ".nuxt",
    ".svelte-kit",
    ".turbo",
    ".parcel-cache",
    ".cache",
    "__pycache__",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    ".tox",
    ".nox",
    ".gradle",
    "coverage",
    ".nyc_output",
    "htmlcov",
    ".angular",
    ".expo",
    "bower_components",
    ".eggs",
    "tmp",
    "temp",
    ".terraform",
    ".dart_tool",
    ".stack-work",
    "zig-cache",
    "zig-out",
    "_build",
    "deps",
    ".venv",
    "venv",
    ".direnv",
];

/// File suffixes of regenerable outputs.
const REGENERABLE_SUFFIXES: &[&str] = &[".pyc", ".pyo", ".o", ".a", ".so", ".class", ".log", ".tsbuildinfo"];

/// File suffixes of data that no build makes again.
const DATA_SUFFIXES: &[&str] =
    &[".sqlite", ".sqlite3", ".db", ".sql", ".dump", ".bak", ".parquet", ".sqlite-wal", ".sqlite-shm", ".db-wal"];

/// Directory names that hold data.
const DATA_DIRS: &[&str] = &["data", "db", "database", "databases", "backups", "backup", "dumps", "uploads", "storage"];

/// Top-level directories the system itself lives in.
const SYSTEM_DIRS: &[&str] = &[
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/home",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/opt",
    "/proc",
    "/root",
    "/run",
    "/sbin",
    "/srv",
    "/sys",
    "/usr",
    "/var",
    "/snap",
    "/mnt",
    "/media",
    "/Users",
    "/System",
    "/Library",
    "/Applications",
    "/private",
    "/Volumes",
    "/nix",
];

/// Secrets under the home directory (relative to it).
const HOME_SECRETS: &[&str] = &[
    ".ssh",
    ".aws",
    ".config/gcloud",
    ".azure",
    ".kube",
    ".docker/config.json",
    ".netrc",
    ".npmrc",
    ".pypirc",
    ".vault-token",
    ".gnupg",
    ".password-store",
    ".local/share/keyrings",
    ".git-credentials",
    ".config/gh/hosts.yml",
    ".bash_history",
    ".zsh_history",
    ".history",
    ".sh_history",
    ".local/share/fish/fish_history",
    ".python_history",
    ".psql_history",
    ".mysql_history",
    ".node_repl_history",
    ".config/op",
    ".terraform.d/credentials.tfrc.json",
    ".cargo/credentials",
    ".cargo/credentials.toml",
    ".gem/credentials",
    ".m2/settings.xml",
    ".pgpass",
    ".my.cnf",
    ".config/hub",
    ".fly",
    ".railway",
    ".config/doctl",
    ".config/heroku",
    ".netlify",
    ".vercel",
    ".supabase",
    ".config/stripe",
    ".wrangler",
    ".mozilla",
    ".config/google-chrome",
    ".config/chromium",
    "Library/Keychains",
];

/// System files that are secrets.
const SYSTEM_SECRETS: &[&str] = &["/etc/shadow", "/etc/gshadow", "/etc/sudoers", "/proc/1/environ", "/root"];

/// Agent permission and hook settings (relative to the home directory or the workspace).
const AGENT_SETTINGS: &[&str] = &[
    ".claude/settings.json",
    ".claude/settings.local.json",
    ".claude.json",
    ".codex",
    ".gemini/settings.json",
    ".cursor/hooks.json",
    ".cursor/cli-config.json",
    ".cursor/permissions.json",
];

/// Resolve a path as a shell would see it from `ctx.cwd`: `~`, `$HOME`, `.` and `..`.
pub fn resolve(path: &str, ctx: &Context) -> String {
    let expanded = expand_home(path, &ctx.home);
    let joined = if expanded.starts_with('/') { expanded } else { format!("{}/{}", ctx.cwd, expanded) };
    normalize(&joined)
}

fn expand_home(path: &str, home: &str) -> String {
    for prefix in ["~", "$HOME", "${HOME}"] {
        if let Some(rest) = path.strip_prefix(prefix)
            && (rest.is_empty() || rest.starts_with('/'))
        {
            return format!("{home}{rest}");
        }
    }
    path.to_owned()
}

/// Collapse `//`, `/./` and `/../` without touching the file system.
pub fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// `path` below `base`, without the leading `/` (`Some("")` for `base` itself).
fn relative_to<'a>(path: &'a str, base: &str) -> Option<&'a str> {
    let base = base.trim_end_matches('/');
    let rest = path.strip_prefix(base)?;
    if rest.is_empty() { Some("") } else { rest.strip_prefix('/') }
}

/// Whether `path` is `dir` or inside it.
pub fn is_within(path: &str, dir: &str) -> bool {
    let dir = dir.trim_end_matches('/');
    dir.is_empty() || path == dir || path.strip_prefix(dir).is_some_and(|rest| rest.starts_with('/'))
}

/// What a path is, seen from `ctx`.
pub fn info(path: &str, ctx: &Context) -> PathInfo {
    let abs = resolve(path, ctx);
    let scope = scope_of(&abs, ctx);
    let mut tags = BTreeSet::new();
    let mut tag = |t: &str| {
        tags.insert(t.to_owned());
    };
    if is_root_like(&abs, ctx) {
        tag("root");
    }
    if ctx.guarded.iter().any(|g| is_within(&abs, g)) {
        tag("guard");
        tag("secret");
    }
    let in_agent_settings =
        |base: &str| relative_to(&abs, base).is_some_and(|rel| AGENT_SETTINGS.iter().any(|s| is_within(rel, s)));
    // A directory that holds a guarded file guards it too: moving or deleting `~/.claude` or
    // the parent of Holdpoint's state removes what is inside.
    let holds_guarded = |base: &str| {
        abs != base
            && abs != "/"
            && relative_to(&abs, base).is_some_and(|rel| AGENT_SETTINGS.iter().any(|s| is_within(s, rel)))
    };
    let holds_state = ctx.guarded.iter().any(|g| is_within(g, &abs) && abs != "/" && abs != ctx.home);
    if in_agent_settings(&ctx.home)
        || in_agent_settings(&ctx.workspace)
        || holds_guarded(&ctx.home)
        || holds_guarded(&ctx.workspace)
        || holds_state
        || is_holdpoint_binary(&abs)
    {
        tag("guard");
    }
    if is_secret(&abs, scope, ctx) {
        tag("secret");
    }
    let name = abs.rsplit('/').next().unwrap_or("");
    let components = relative_components(&abs, ctx);
    if scope == Scope::Workspace {
        if components.contains(&".git") {
            tag("vcs");
        } else if components.iter().any(|c| REGENERABLE_DIRS.contains(c))
            || REGENERABLE_SUFFIXES.iter().any(|s| name.ends_with(s))
        {
            tag("regenerable");
        }
    }
    if DATA_SUFFIXES.iter().any(|s| name.ends_with(s)) || components.iter().any(|c| DATA_DIRS.contains(c)) {
        tags.remove("regenerable");
        tags.insert("data".to_owned());
    }
    PathInfo { abs, scope, tags }
}

fn relative_components<'a>(abs: &'a str, ctx: &Context) -> Vec<&'a str> {
    let rest = abs.strip_prefix(ctx.workspace.trim_end_matches('/')).unwrap_or(abs);
    rest.split('/').filter(|c| !c.is_empty()).collect()
}

fn scope_of(abs: &str, ctx: &Context) -> Scope {
    if is_within(abs, &ctx.workspace) && ctx.workspace != "/" && ctx.workspace != ctx.home {
        Scope::Workspace
    } else if ctx.temp_dirs.iter().any(|t| is_within(abs, t) && abs != t.trim_end_matches('/'))
        && !is_within(&ctx.workspace, abs)
    {
        Scope::Scratch
    } else {
        Scope::Host
    }
}

/// `/`, a home directory or its parent, a top-level system directory, or a whole disk.
fn is_root_like(abs: &str, ctx: &Context) -> bool {
    let depth = abs.split('/').filter(|c| !c.is_empty()).count();
    let home_parent = ctx.home.rsplit_once('/').map_or("/", |(p, _)| if p.is_empty() { "/" } else { p });
    abs == "/"
        || abs == ctx.home
        || abs == home_parent
        || (depth == 1 && SYSTEM_DIRS.contains(&abs))
        || (depth == 2 && (abs.starts_with("/home/") || abs.starts_with("/Users/")))
        || is_whole_disk(abs)
}

/// A block device that is a whole disk or partition.
pub fn is_whole_disk(abs: &str) -> bool {
    [
        "/dev/sd",
        "/dev/hd",
        "/dev/vd",
        "/dev/xvd",
        "/dev/nvme",
        "/dev/mmcblk",
        "/dev/disk",
        "/dev/md",
        "/dev/dm-",
        "/dev/mapper/",
    ]
    .iter()
    .any(|p| abs.starts_with(p))
}

fn is_holdpoint_binary(abs: &str) -> bool {
    abs.ends_with("/bin/holdpoint")
}

fn is_secret(abs: &str, scope: Scope, ctx: &Context) -> bool {
    if relative_to(abs, &ctx.home).is_some_and(|rel| HOME_SECRETS.iter().any(|s| is_within(rel, s))) {
        return true;
    }
    if SYSTEM_SECRETS.iter().any(|s| is_within(abs, s)) && !is_within(&ctx.home, "/root") {
        return true;
    }
    // Any process's environment (`/proc/self/environ`, `/proc/$$/environ`, `/proc/1234/environ`).
    if abs.starts_with("/proc/") && abs.ends_with("/environ") {
        return true;
    }
    let name = abs.rsplit('/').next().unwrap_or("");
    let env_file = name == ".env" || (name.starts_with(".env.") && !is_env_template(name));
    let key_file = name.starts_with("id_rsa")
        || name.starts_with("id_ed25519")
        || name.starts_with("id_ecdsa")
        || name.ends_with(".pem")
        || name.ends_with(".key")
        || name.ends_with(".p12")
        || name.ends_with(".pfx")
        || name == "credentials.json"
        || name == "service-account.json";
    // Inside the workspace the agent's own project files are its business; anywhere else a
    // credential file is someone else's.
    scope != Scope::Workspace && (env_file || key_file)
}

/// `.env.example` and friends are documentation, not secrets.
fn is_env_template(name: &str) -> bool {
    [".example", ".sample", ".template", ".dist", ".defaults"].iter().any(|s| name.ends_with(s))
}

/// The effect of a file operation. `recursive` deletes take the whole tree.
pub fn effect(verb: Verb, info: &PathInfo, recursive: bool, facts: &dyn WorkspaceFacts) -> Effect {
    let reversibility = match verb {
        Verb::Read | Verb::Execute | Verb::Send => Reversibility::Reversible,
        Verb::Delete | Verb::Write | Verb::Grant | Verb::Rewrite | Verb::Disable | Verb::Opaque => {
            reversibility(verb, info, recursive, facts)
        }
    };
    Effect::new(
        verb,
        Target { kind: TargetKind::Path, id: info.abs.clone(), tags: info.tags.clone() },
        reversibility,
        info.scope,
    )
}

fn reversibility(verb: Verb, info: &PathInfo, recursive: bool, facts: &dyn WorkspaceFacts) -> Reversibility {
    let has = |t: &str| info.tags.contains(t);
    if has("root") || has("data") || has("vcs") {
        return Reversibility::Irreversible;
    }
    if has("regenerable") {
        return Reversibility::Recoverable;
    }
    match (verb, info.scope) {
        (Verb::Write, Scope::Workspace) => Reversibility::Recoverable,
        (Verb::Write, _) if !recursive => Reversibility::Recoverable,
        // Individual files in the workspace (not trees, not data, not .git) are routine work:
        // git restores tracked ones, and sandbox mode checkpoints the rest.
        (_, Scope::Workspace) if !recursive && !info.abs.ends_with("/.git") => Reversibility::Recoverable,
        (_, Scope::Workspace) if facts.is_tracked(&info.abs) => Reversibility::Recoverable,
        _ => Reversibility::Irreversible,
    }
}

/// Classify a file tool's operation.
pub fn classify(op: FileOp, path: &str, ctx: &Context, facts: &dyn WorkspaceFacts) -> Vec<Effect> {
    let info = info(path, ctx);
    let verb = match op {
        FileOp::Read => Verb::Read,
        FileOp::Write => Verb::Write,
        FileOp::Delete => Verb::Delete,
    };
    let mut info = info;
    // A file tool reading `/` or the home directory is a search tool going through every
    // file there, secrets included.
    if op == FileOp::Read && (info.abs == "/" || is_within(&ctx.home, &info.abs)) {
        info.tags.insert("secret".to_owned());
    }
    let mut effect = effect(verb, &info, false, facts);
    effect.rule = Some(format!("file-{}", verb.as_str()));
    vec![effect]
}
