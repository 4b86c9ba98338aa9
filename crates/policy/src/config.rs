//! `config.toml`: a raw serde form that refuses unknown keys, then [`Config::parse`] into a
//! typed config. Every error names `file:line:col`.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use toml::Spanned;

use crate::{Error, Located, Profile};

/// What a hook answers on a hold.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldPrompt {
    /// Deny with the hold sentence; a human approves out of the agent's reach.
    #[default]
    Holdpoint,
    /// The agent's own ask prompt, in interactive permission modes only (weaker).
    Agent,
}

/// Where holds, audit records and vault ciphertexts are kept.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum StoreLocation {
    /// `holdpoint.db` in the state directory.
    #[default]
    Sqlite,
    /// A shared PostgreSQL database (team mode).
    Postgres(String),
}

/// What the egress proxy does with hosts no rule or secret knows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownHosts {
    /// Let requests through, classified as usual.
    #[default]
    Allow,
    /// Hold every request to them.
    Hold,
    /// Refuse every request to them.
    Deny,
}

/// Body format of the hold notification webhook.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyFormat {
    /// Holdpoint's own JSON.
    #[default]
    Json,
    /// An ntfy message.
    Ntfy,
    /// A Slack incoming-webhook message.
    Slack,
}

/// The typed configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The built-in policy profile.
    pub profile: Profile,
    /// How long a hook or proxy keeps the agent waiting for a decision.
    pub hold_wait: Duration,
    /// What a hook answers on a hold.
    pub hold_prompt: HoldPrompt,
    /// Where state is kept.
    pub store: StoreLocation,
    /// Branches whose force push or deletion is held.
    pub protected_branches: Vec<String>,
    /// Approvals API and web UI address.
    pub api_listen: SocketAddr,
    /// The HTTP(S) egress proxy.
    pub proxy: ProxyConfig,
    /// Tags for HTTP hosts.
    pub hosts: Vec<HostTags>,
    /// One PostgreSQL proxy per entry.
    pub postgres: Vec<PostgresProxy>,
    /// Streamable-HTTP MCP servers behind the gateway.
    pub mcp: Vec<McpUpstream>,
    /// Where new holds are announced.
    pub notify: Option<Notify>,
}

/// `[proxy]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyConfig {
    /// Listen address.
    pub listen: SocketAddr,
    /// Hosts tunnelled without interception.
    pub passthrough: Vec<String>,
    /// Hosts no rule or secret knows.
    pub unknown_hosts: UnknownHosts,
    /// Mutating bodies larger than this are held, in bytes.
    pub max_body: u64,
}

/// `[[hosts]]`: tags for HTTP hosts matching a glob.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostTags {
    /// Host glob such as `*.railway.app`.
    #[serde(rename = "match")]
    pub pattern: String,
    /// Tags given to matching hosts.
    pub tags: Vec<String>,
}

/// `[[postgres]]`: one PostgreSQL proxy.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresProxy {
    /// A name for trash, audit and `check sql` targets.
    pub name: String,
    /// Where agents connect.
    pub listen: SocketAddr,
    /// The real server, `host:port`.
    pub upstream: String,
    /// The database name.
    pub database: String,
    /// Vault secret of kind `postgres`.
    pub credential: String,
    /// Tags of the database, such as `production`.
    #[serde(default)]
    pub tags: Vec<String>,
    /// TLS to the real server.
    #[serde(default)]
    pub tls: PgTls,
    /// Extra trusted CA certificates (PEM, an absolute path) for `tls = "verify-full"`.
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
}

/// `tls` of a `[[postgres]]` block: how Holdpoint connects to the real server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PgTls {
    /// Plaintext (the server is never asked for TLS).
    #[default]
    Disable,
    /// TLS, the server's certificate not checked (libpq's `sslmode=require`).
    Require,
    /// TLS, the certificate chain checked against the Mozilla roots and `ca_file`, and its
    /// name against the upstream host (libpq's `sslmode=verify-full`).
    VerifyFull,
}

impl PgTls {
    /// The value as written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            PgTls::Disable => "disable",
            PgTls::Require => "require",
            PgTls::VerifyFull => "verify-full",
        }
    }
}

impl<'de> Deserialize<'de> for PgTls {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.as_str() {
            "disable" => Ok(PgTls::Disable),
            "require" => Ok(PgTls::Require),
            "verify-full" => Ok(PgTls::VerifyFull),
            _ => Err(serde::de::Error::custom(format!(
                "tls {s:?} is not one of \"disable\", \"require\" or \"verify-full\""
            ))),
        }
    }
}

/// `[[mcp]]`: one streamable-HTTP MCP upstream.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpUpstream {
    /// Server name in rules and audit.
    pub name: String,
    /// Where agents connect.
    pub listen: SocketAddr,
    /// The real server's URL.
    pub upstream: String,
    /// Tags every call to it carries, such as `production`.
    #[serde(default)]
    pub tags: Vec<String>,
}

/// `[notify]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notify {
    /// URL posted to on every new hold.
    pub webhook: String,
    /// Body format.
    #[serde(default)]
    pub format: NotifyFormat,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    profile: Option<Profile>,
    hold_wait: Option<DurationText>,
    hold_prompt: Option<HoldPrompt>,
    store: Option<StoreText>,
    git: Option<RawGit>,
    api: Option<RawApi>,
    proxy: Option<RawProxy>,
    #[serde(default)]
    hosts: Vec<HostTags>,
    #[serde(default)]
    postgres: Vec<Spanned<PostgresProxy>>,
    #[serde(default)]
    mcp: Vec<Spanned<McpUpstream>>,
    notify: Option<Notify>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGit {
    pub(crate) protected_branches: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApi {
    listen: SocketAddr,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProxy {
    listen: Option<SocketAddr>,
    passthrough: Option<Vec<String>>,
    unknown_hosts: Option<UnknownHosts>,
    max_body: Option<SizeText>,
}

/// The defaults of every key, as `holdpoint init` writes them.
pub const DEFAULT_PROTECTED_BRANCHES: &[&str] = &["main", "master", "release/*", "prod*"];

impl Default for Config {
    fn default() -> Self {
        Config {
            profile: Profile::Guarded,
            hold_wait: Duration::from_secs(20),
            hold_prompt: HoldPrompt::Holdpoint,
            store: StoreLocation::Sqlite,
            protected_branches: DEFAULT_PROTECTED_BRANCHES.iter().map(|s| (*s).to_owned()).collect(),
            api_listen: SocketAddr::from(([127, 0, 0, 1], 8787)),
            proxy: ProxyConfig {
                listen: SocketAddr::from(([127, 0, 0, 1], 8788)),
                passthrough: vec![],
                unknown_hosts: UnknownHosts::Allow,
                max_body: 1 << 20,
            },
            hosts: vec![],
            postgres: vec![],
            mcp: vec![],
            notify: None,
        }
    }
}

impl HostTags {
    /// Whether `host` matches: the exact name, or for `*.suffix` any name under the suffix
    /// (not the suffix itself); case-insensitive, a trailing dot ignored.
    pub fn matches(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let pattern = self.pattern.to_ascii_lowercase();
        match pattern.strip_prefix('*') {
            Some(suffix) if suffix.starts_with('.') => host.ends_with(suffix) && host.len() > suffix.len(),
            Some("") => true,
            _ => host == pattern,
        }
    }
}

impl Config {
    /// The tags `[[hosts]]` gives a host (every matching block counts).
    pub fn host_tags(&self, host: &str) -> Vec<String> {
        let mut tags: Vec<String> =
            self.hosts.iter().filter(|h| h.matches(host)).flat_map(|h| h.tags.iter().cloned()).collect();
        tags.sort_unstable();
        tags.dedup();
        tags
    }

    /// Parse and validate `config.toml`; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Config, Error> {
        let raw: Raw = toml::from_str(text).map_err(|e| toml_error(file, text, &e, Error::Config))?;
        let d = Config::default();
        let proxy = raw.proxy.map_or(d.proxy.clone(), |p| ProxyConfig {
            listen: p.listen.unwrap_or(d.proxy.listen),
            passthrough: p.passthrough.unwrap_or_default(),
            unknown_hosts: p.unknown_hosts.unwrap_or_default(),
            max_body: p.max_body.map_or(d.proxy.max_body, |s| s.0),
        });
        let names = |items: Vec<(std::ops::Range<usize>, String)>, what: &str| -> Result<(), Error> {
            let mut seen = std::collections::HashSet::new();
            for (span, name) in items {
                if !seen.insert(name.clone()) {
                    let msg = format!("a second [[{what}]] block is named {name:?}; names must be unique");
                    return Err(Error::Config(Located::at(file, text, span.start, msg)));
                }
            }
            Ok(())
        };
        names(raw.postgres.iter().map(|p| (p.span(), p.get_ref().name.clone())).collect(), "postgres")?;
        for block in &raw.postgres {
            let p = block.get_ref();
            let why = match &p.ca_file {
                Some(_) if p.tls != PgTls::VerifyFull => Some(format!(
                    "[[postgres]] block {:?} has a ca_file but tls = {:?}; the ca_file is used with tls = \"verify-full\" only",
                    p.name,
                    p.tls.as_str()
                )),
                Some(path) if !path.is_absolute() => Some(format!(
                    "[[postgres]] block {:?}: ca_file {:?} must be an absolute path",
                    p.name,
                    path.display().to_string()
                )),
                _ => None,
            };
            if let Some(msg) = why {
                return Err(Error::Config(Located::at(file, text, block.span().start, msg)));
            }
        }
        names(raw.mcp.iter().map(|p| (p.span(), p.get_ref().name.clone())).collect(), "mcp")?;
        Ok(Config {
            profile: raw.profile.unwrap_or_default(),
            hold_wait: raw.hold_wait.map_or(d.hold_wait, |w| w.0),
            hold_prompt: raw.hold_prompt.unwrap_or_default(),
            store: raw.store.map_or(StoreLocation::Sqlite, |s| s.0),
            protected_branches: raw.git.map_or(d.protected_branches, |g| g.protected_branches),
            api_listen: raw.api.map_or(d.api_listen, |a| a.listen),
            proxy,
            hosts: raw.hosts,
            postgres: raw.postgres.into_iter().map(Spanned::into_inner).collect(),
            mcp: raw.mcp.into_iter().map(Spanned::into_inner).collect(),
            notify: raw.notify,
        })
    }
}

/// A TOML error as `file:line:col: message`.
pub(crate) fn toml_error(file: &str, text: &str, e: &toml::de::Error, wrap: fn(Located) -> Error) -> Error {
    let offset = e.span().map_or(0, |s| s.start);
    wrap(Located::at(file, text, offset, e.message().trim_end().to_owned()))
}

/// `"20s"`, `"500ms"`, `"10m"`, `"1h"`.
struct DurationText(Duration);

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_duration(&s).map(DurationText).map_err(serde::de::Error::custom)
    }
}

/// Parse a duration such as `20s`, `500ms`, `10m` or `1h`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let (number, unit) = split_number(s);
    let n: u64 =
        number.parse().map_err(|_| format!("{s:?} is not a duration; write e.g. \"20s\", \"500ms\", \"10m\""))?;
    let ms = match unit {
        "ms" => Some(n),
        "s" => n.checked_mul(1_000),
        "m" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        _ => return Err(format!("{s:?} has no known unit; use ms, s, m or h (e.g. \"20s\")")),
    };
    ms.map(Duration::from_millis).ok_or_else(|| format!("{s:?} is too long"))
}

/// Parse a size such as `1MiB`, `512KiB`, `10MB` or `1000000` (bytes).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let (number, unit) = split_number(s);
    let n: u64 = number.parse().map_err(|_| format!("{s:?} is not a size; write e.g. \"1MiB\""))?;
    let scale: u64 = match unit {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        _ => return Err(format!("{s:?} has no known unit; use B, KiB, MiB, GiB, KB, MB or GB")),
    };
    n.checked_mul(scale).ok_or_else(|| format!("{s:?} is too large"))
}

/// `"1MiB"`, `"512KiB"`, `"1000000"`.
struct SizeText(u64);

impl<'de> Deserialize<'de> for SizeText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_size(&s).map(SizeText).map_err(serde::de::Error::custom)
    }
}

/// `"sqlite"` or a `postgres://` URL.
struct StoreText(StoreLocation);

impl<'de> Deserialize<'de> for StoreText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s == "sqlite" {
            Ok(StoreText(StoreLocation::Sqlite))
        } else if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            Ok(StoreText(StoreLocation::Postgres(s)))
        } else {
            Err(serde::de::Error::custom(format!("store {s:?} must be \"sqlite\" or a postgres://user@host/db URL")))
        }
    }
}

fn split_number(s: &str) -> (&str, &str) {
    let s = s.trim();
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    (s.get(..end).unwrap_or(""), s.get(end..).unwrap_or("").trim())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::Config;

    #[test]
    fn host_tags_match_exact_names_and_suffixes() {
        let config = Config::parse(
            "config.toml",
            "[[hosts]]\nmatch = \"*.railway.app\"\ntags = [\"production\"]\n\n[[hosts]]\nmatch = \"api.example.com\"\ntags = [\"billing\", \"production\"]\n",
        )
        .unwrap();
        assert_eq!(config.host_tags("backboard.railway.app"), ["production"]);
        assert_eq!(config.host_tags("Backboard.Railway.App."), ["production"]);
        assert!(config.host_tags("railway.app").is_empty());
        assert!(config.host_tags("evilrailway.app").is_empty());
        assert_eq!(config.host_tags("api.example.com"), ["billing", "production"]);
        assert!(config.host_tags("x.api.example.com").is_empty());
    }

    const BLOCK: &str = "[[postgres]]\nname = \"prod\"\nlisten = \"127.0.0.1:6432\"\nupstream = \"db.internal:5432\"\n\
                         database = \"app\"\ncredential = \"prod-db\"\n";

    #[test]
    fn postgres_tls_defaults_to_disable_and_takes_the_three_modes() {
        use super::PgTls;
        let config = Config::parse("config.toml", BLOCK).unwrap();
        assert_eq!((config.postgres[0].tls, config.postgres[0].ca_file.as_deref()), (PgTls::Disable, None));
        for (value, mode) in
            [("disable", PgTls::Disable), ("require", PgTls::Require), ("verify-full", PgTls::VerifyFull)]
        {
            let config = Config::parse("config.toml", &format!("{BLOCK}tls = \"{value}\"\n")).unwrap();
            assert_eq!(config.postgres[0].tls, mode);
            assert_eq!(mode.as_str(), value);
        }
        let config =
            Config::parse("config.toml", &format!("{BLOCK}tls = \"verify-full\"\nca_file = \"/etc/db/ca.pem\"\n"))
                .unwrap();
        assert_eq!(config.postgres[0].ca_file.as_deref(), Some(std::path::Path::new("/etc/db/ca.pem")));
    }

    #[test]
    fn postgres_tls_errors_name_the_valid_values_and_the_place() {
        let e = Config::parse("config.toml", &format!("{BLOCK}tls = \"verify-ca\"\n")).unwrap_err().to_string();
        assert!(e.contains("config.toml:7:") && e.contains("\"verify-ca\""), "{e}");
        assert!(e.contains("\"disable\", \"require\" or \"verify-full\""), "{e}");
        let e = Config::parse("config.toml", &format!("{BLOCK}tls = \"require\"\nca_file = \"/ca.pem\"\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("config.toml:1:") && e.contains("verify-full\" only"), "{e}");
        let e = Config::parse("config.toml", &format!("{BLOCK}ca_file = \"/ca.pem\"\n")).unwrap_err().to_string();
        assert!(e.contains("tls = \"disable\""), "{e}");
        let e = Config::parse("config.toml", &format!("{BLOCK}tls = \"verify-full\"\nca_file = \"ca.pem\"\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("absolute path"), "{e}");
    }
}
