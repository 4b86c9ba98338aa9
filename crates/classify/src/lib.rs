//! Holdpoint's classifiers: what an input would do, as [`Effect`]s.
//!
//! Sans-IO: a classifier takes text and a [`Context`] (where the workspace, home and temp
//! dirs are) and returns effects. What only the file system knows (is this file tracked by
//! git? what does `npm run build` run?) is asked through [`WorkspaceFacts`], which the
//! caller implements.
#![forbid(unsafe_code)]

pub mod http;
pub mod mcp;
pub mod path;
pub mod scripts;
pub mod shell;
pub mod sql;

use holdpoint_core::Effect;

pub use path::FileOp;

/// Where an action happens.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Context {
    /// The agent's working directory (absolute).
    pub cwd: String,
    /// The workspace root: the git top level of `cwd`, or `cwd` (absolute).
    pub workspace: String,
    /// The user's home directory (absolute).
    pub home: String,
    /// Scratch directories (the system temp dir, `$TMPDIR`).
    pub temp_dirs: Vec<String>,
    /// Holdpoint's own config and state directories, and other guarded paths.
    pub guarded: Vec<String>,
    /// Branch globs whose force push or deletion is a history rewrite (`[git] protected_branches`).
    pub protected_branches: Vec<String>,
}

/// What only the file system knows, asked by the classifiers; every answer defaults to the
/// cautious one.
pub trait WorkspaceFacts {
    /// Whether git tracks this file (absolute path), so a deleted copy can be restored.
    fn is_tracked(&self, _path: &str) -> bool {
        false
    }
    /// The text of a workspace file (e.g. `package.json`, `Makefile`), when it exists.
    fn read(&self, _path: &str) -> Option<String> {
        None
    }
}

/// Knows nothing: every file is untracked, every read fails.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoFacts;

impl WorkspaceFacts for NoFacts {}

/// Classify a shell command.
pub fn classify_shell(command: &str, ctx: &Context, facts: &dyn WorkspaceFacts) -> Vec<Effect> {
    shell::classify(command, ctx, facts)
}

/// Classify a file tool's operation on a path.
pub fn classify_file(op: FileOp, path: &str, ctx: &Context, facts: &dyn WorkspaceFacts) -> Vec<Effect> {
    path::classify(op, path, ctx, facts)
}

/// Classify every statement of a SQL text sent to a database (PostgreSQL's grammar); see
/// [`sql::analyze`] for what a PostgreSQL proxy needs besides the effects.
pub fn classify_sql(sql: &str, target: &sql::SqlTarget) -> Vec<Effect> {
    sql::classify(sql, target)
}

/// Classify an MCP tool call (the MCP gateway, `holdpoint check mcp`, agents' MCP hooks).
pub fn classify_mcp(call: &mcp::McpCall<'_>, ctx: &Context, facts: &dyn WorkspaceFacts) -> Vec<Effect> {
    mcp::classify(call, ctx, facts)
}

/// Classify an HTTP request (egress proxy, `holdpoint check http`).
pub fn classify_http(req: &http::HttpRequest<'_>, ctx: &http::HttpContext) -> Vec<Effect> {
    http::classify(req, ctx)
}

/// [`classify_http`], for a caller that has parsed the request's URL already (`url` is
/// `req.url` parsed): the egress proxy parses each URL once for the vault, the host's tags and
/// the classifier.
pub fn classify_http_url(
    req: &http::HttpRequest<'_>,
    url: &http::UrlParts<'_>,
    ctx: &http::HttpContext,
) -> Vec<Effect> {
    http::classify_url(req, url, ctx)
}
