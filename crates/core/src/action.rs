//! The `Action` model: what an agent wants done, normalised.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::{ActionDigest, named_enum};

named_enum! {
    /// The way an action reached Holdpoint.
    Channel, "channel" {
        /// A shell command, from an agent hook or `holdpoint check shell`.
        Shell => "shell",
        /// A file tool (read, write, edit, delete) of an agent.
        File => "file",
        /// A SQL statement, through the PostgreSQL proxy.
        Sql => "sql",
        /// An HTTP request, through the egress proxy.
        Http => "http",
        /// An MCP tool call, through the MCP gateway.
        Mcp => "mcp",
    }
}

named_enum! {
    /// What an effect does to its target.
    Verb, "verb" {
        /// Looks at data without changing it.
        Read => "read",
        /// Creates or changes data.
        Write => "write",
        /// Removes data or a resource.
        Delete => "delete",
        /// Runs a program (builds, tests, tools) whose own effects are listed separately.
        Execute => "execute",
        /// Sends local data off the machine.
        Send => "send",
        /// Widens permissions or access (chmod, GRANT, IAM).
        Grant => "grant",
        /// Turns off a safeguard (deletion protection, versioning, a guard itself).
        Disable => "disable",
        /// Rewrites history (force push, reset of a protected ref).
        Rewrite => "rewrite",
        /// Something the classifier cannot see through (`eval`, `curl | sh`, an unknown tool).
        Opaque => "opaque",
    }
}

named_enum! {
    /// What kind of thing a target is.
    TargetKind, "target kind" {
        /// A file or directory on this machine.
        Path => "path",
        /// A git repository, branch or ref.
        Git => "git",
        /// A whole database (or database server).
        Database => "database",
        /// A table, view, schema or other object inside a database.
        Table => "table",
        /// An HTTP endpoint.
        Http => "http",
        /// A cloud resource (volume, bucket, instance, IAM entity, DNS record...).
        Cloud => "cloud",
        /// An MCP server's tool.
        Mcp => "mcp",
        /// A process or program.
        Process => "process",
        /// The process environment (variables).
        Environment => "environment",
        /// Not known: what an opaque effect points at.
        Unknown => "unknown",
    }
}

named_enum! {
    /// Whether the change an effect makes can be undone.
    Reversibility, "reversibility" {
        /// Nothing is lost: a read, or a change that is trivially undone.
        Reversible => "reversible",
        /// Lost data can be brought back (git, checkpoint, trash, regenerable output).
        Recoverable => "recoverable",
        /// Lost data cannot be brought back by Holdpoint or the tools it knows.
        Irreversible => "irreversible",
    }
}

named_enum! {
    /// Where the target lives, seen from the agent's workspace.
    Scope, "scope" {
        /// Inside the agent's workspace (the git top level of its cwd, or the cwd).
        Workspace => "workspace",
        /// Inside the system temp dir: scratch space.
        Scratch => "scratch",
        /// Elsewhere on this machine.
        Host => "host",
        /// On another system: a database, a cloud API, a remote host.
        Remote => "remote",
    }
}

/// The thing an effect acts on.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// What kind of thing it is.
    pub kind: TargetKind,
    /// Its identity: an absolute path, a URL, `postgres://host/db/table`, a tool name.
    pub id: String,
    /// Labels the policy can test: built-in ones such as `secret`, `guard`, `root`,
    /// `regenerable`, `protected_branch`, and the user's own from config (`production`).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub tags: BTreeSet<String>,
}

impl Target {
    /// A target with no tags.
    pub fn new(kind: TargetKind, id: impl Into<String>) -> Self {
        Target { kind, id: id.into(), tags: BTreeSet::new() }
    }

    /// The same target with one more tag.
    #[must_use]
    pub fn tagged(mut self, tag: impl Into<String>) -> Self {
        self.tags.insert(tag.into());
        self
    }
}

/// One thing an action would do: a verb on a target, with how reversible it is and where.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Effect {
    /// What it does.
    pub verb: Verb,
    /// What it does it to.
    pub target: Target,
    /// Whether it can be undone.
    pub reversibility: Reversibility,
    /// Where the target lives.
    pub scope: Scope,
    /// Which classifier rule found it, when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Why the classifier saw it this way, in plain words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

impl Effect {
    /// An effect with no rule and no explanation.
    pub fn new(verb: Verb, target: Target, reversibility: Reversibility, scope: Scope) -> Self {
        Effect { verb, target, reversibility, scope, rule: None, why: None }
    }
}

/// Who asked for an action.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Actor {
    /// The agent (`claude`, `codex`, ...), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// The agent's session id, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// The absolute path of the workspace the agent works in.
    pub workspace: String,
}

/// What an agent wants done: channel, actor, raw input and the effects found in it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Action {
    /// How it arrived.
    pub channel: Channel,
    /// Who asked.
    pub actor: Actor,
    /// The connection target the input is sent to, when the channel has one
    /// (`postgres://host/db` for SQL, the origin for HTTP, the server for MCP); empty otherwise.
    #[serde(default)]
    pub target: String,
    /// The raw input in canonical text form: the command or SQL text as given, or the
    /// compact JSON (keys sorted) of a structured input.
    pub input: String,
    /// What the classifier found.
    pub effects: Vec<Effect>,
}

impl Action {
    /// The digest an approval of this action is bound to.
    pub fn digest(&self) -> ActionDigest {
        ActionDigest::of(self.channel, &self.actor.workspace, &self.target, &self.input)
    }
}
