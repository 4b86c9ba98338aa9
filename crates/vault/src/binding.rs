//! A secret's binding: the hosts, methods and paths a request must have for the secret to be
//! injected, how it is injected, and the tags it gives the request.

use serde::{Deserialize, Serialize};

use crate::Error;

/// The request a placeholder arrived in, as a proxy sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request<'a> {
    /// The host the request goes to (a `:port` suffix is ignored), e.g. `api.openai.com`.
    pub host: &'a str,
    /// The HTTP method, e.g. `POST` (compared exactly: methods are case-sensitive).
    pub method: &'a str,
    /// The request target's path; a `?query` or `#fragment` after it is ignored.
    pub path: &'a str,
}

/// How a secret is handed to the service it is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// In a request header, e.g. `Authorization: Bearer {}`.
    Header,
    /// HTTP basic authentication (`user:password`).
    Basic,
    /// A query parameter.
    Query,
    /// An AWS access key pair; the proxy re-signs SigV4 requests.
    Aws,
    /// A PostgreSQL user and password, for the PostgreSQL proxy.
    Postgres,
}

impl Kind {
    /// Every kind, in the order `--help` lists them.
    pub const ALL: &'static [Kind] = &[Kind::Header, Kind::Basic, Kind::Query, Kind::Aws, Kind::Postgres];

    /// The name used on the command line and in JSON.
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::Header => "header",
            Kind::Basic => "basic",
            Kind::Query => "query",
            Kind::Aws => "aws",
            Kind::Postgres => "postgres",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Kind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Kind, Error> {
        Kind::ALL.iter().copied().find(|k| k.as_str() == s).ok_or_else(|| {
            Error::BadBinding(format!("unknown kind {s:?}; use one of header, basic, query, aws, postgres"))
        })
    }
}

/// How the proxy injects the secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Injection {
    /// In header `header`, as `format` with `{}` standing for the secret.
    Header {
        /// The header name, e.g. `Authorization`.
        header: String,
        /// The header value, e.g. `Bearer {}`.
        format: String,
    },
    /// HTTP basic authentication; the placeholder stands for the password.
    Basic,
    /// Query parameter `param`.
    Query {
        /// The parameter name.
        param: String,
    },
    /// An AWS access key pair (two placeholders); the proxy re-signs SigV4 requests.
    Aws,
    /// A PostgreSQL user and password; the placeholder is the password.
    Postgres,
}

impl Injection {
    /// The kind of injection.
    pub fn kind(&self) -> Kind {
        match self {
            Injection::Header { .. } => Kind::Header,
            Injection::Basic => Kind::Basic,
            Injection::Query { .. } => Kind::Query,
            Injection::Aws => Kind::Aws,
            Injection::Postgres => Kind::Postgres,
        }
    }
}

/// The tag that makes a request a production action.
pub const PRODUCTION: &str = "production";

/// Where a secret may be used: a request gets it only when its host, method and path all match.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Binding {
    /// Host names, exact (`api.openai.com`) or a suffix (`*.example.com`: any name under
    /// `example.com`, not `example.com` itself). At least one.
    pub hosts: Vec<String>,
    /// HTTP methods; empty means any.
    #[serde(default)]
    pub methods: Vec<String>,
    /// Path globs: `*` within one segment, `**` as a whole segment for any number of
    /// segments, `?` one byte. Empty means any path.
    #[serde(default)]
    pub paths: Vec<String>,
    /// How the secret is injected.
    pub inject: Injection,
    /// Tags the request gets (`production` makes it a production action).
    #[serde(default)]
    pub tags: Vec<String>,
}

impl Binding {
    /// A binding with its names normalised (hosts and tags lower-case, methods upper-case)
    /// and checked; the error says what to fix.
    pub fn new(
        hosts: Vec<String>,
        methods: Vec<String>,
        paths: Vec<String>,
        inject: Injection,
        tags: Vec<String>,
    ) -> Result<Binding, Error> {
        let binding = Binding {
            hosts: hosts.into_iter().map(|h| h.trim().trim_end_matches('.').to_ascii_lowercase()).collect(),
            methods: methods.into_iter().map(|m| m.trim().to_ascii_uppercase()).collect(),
            paths: paths.into_iter().map(|p| p.trim().to_owned()).collect(),
            inject,
            tags: tags.into_iter().map(|t| t.trim().to_ascii_lowercase()).collect(),
        };
        binding.validate()?;
        Ok(binding)
    }

    /// Checks a binding as stored (all names already normalised).
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |m: String| Err(Error::BadBinding(m));
        if self.hosts.is_empty() {
            return bad("a secret needs at least one host (--host api.example.com, or --host '*.example.com')".into());
        }
        for host in &self.hosts {
            check_host(host)?;
        }
        for method in &self.methods {
            if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
                return bad(format!("method {method:?} is not an HTTP method name (GET, POST, ...)"));
            }
        }
        for glob in &self.paths {
            check_glob(glob)?;
        }
        for tag in &self.tags {
            let ok = (1..=32).contains(&tag.len())
                && tag.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
            if !ok {
                return bad(format!("tag {tag:?}: use 1 to 32 letters, digits, '-' or '_'"));
            }
        }
        match &self.inject {
            Injection::Header { header, format } => {
                if header.is_empty() || !header.bytes().all(is_token_byte) {
                    return bad(format!("header name {header:?} is not a valid HTTP header name"));
                }
                if format.matches("{}").count() != 1 || format.chars().any(char::is_control) {
                    return bad(format!("header format {format:?} must hold `{{}}` exactly once, e.g. 'Bearer {{}}'"));
                }
            }
            Injection::Query { param } => {
                let ok = !param.is_empty()
                    && param.bytes().all(|b| b.is_ascii_graphic() && !matches!(b, b'&' | b'=' | b'#' | b'?' | b'%'));
                if !ok {
                    return bad(format!("query parameter {param:?}: give its name, e.g. --param api_key"));
                }
            }
            Injection::Postgres if !self.methods.is_empty() || !self.paths.is_empty() => {
                return bad("a postgres secret is bound to hosts only; leave out --methods and --paths".into());
            }
            Injection::Basic | Injection::Aws | Injection::Postgres => {}
        }
        Ok(())
    }

    /// Whether `request` may use the secret; otherwise which part of it is outside the
    /// binding, in plain words.
    pub fn check(&self, request: &Request<'_>) -> Result<(), String> {
        let host = request_host(request.host);
        if !self.hosts.iter().any(|pattern| host_matches(pattern, host)) {
            return Err(format!("host {host:?} is not {}", one_of(&self.hosts)));
        }
        if !self.methods.is_empty() && !self.methods.iter().any(|m| m == request.method) {
            return Err(format!("method {:?} is not {}", request.method, one_of(&self.methods)));
        }
        if !self.paths.is_empty() {
            let path = request.path.split(['?', '#']).next().unwrap_or_default();
            let path = if path.is_empty() { "/" } else { path };
            if is_ambiguous(path) {
                return Err(format!(
                    "path {path:?} has dot segments, empty segments or encoded separators, which a server may \
                     read as another path"
                ));
            }
            if !self.paths.iter().any(|glob| glob_matches(glob, path)) {
                return Err(format!("path {path:?} matches none of {}", self.paths.join(", ")));
            }
        }
        Ok(())
    }

    /// Whether requests that use this secret are production actions.
    pub fn is_production(&self) -> bool {
        self.tags.iter().any(|t| t == PRODUCTION)
    }
}

fn one_of(items: &[String]) -> String {
    match items {
        [one] => one.clone(),
        _ => format!("one of {}", items.join(", ")),
    }
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn check_host(host: &str) -> Result<(), Error> {
    let name = host.strip_prefix("*.").unwrap_or(host);
    let labels_ok = !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty() && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        });
    // A suffix needs two labels at least: `*.com` would cover a whole top-level domain.
    let wide = host.starts_with("*.") && !name.contains('.');
    let ipv6 = host.len() > 2
        && host.starts_with('[')
        && host.ends_with(']')
        && host
            .get(1..host.len() - 1)
            .is_some_and(|a| a.bytes().all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.'));
    if (labels_ok && !wide) || ipv6 {
        return Ok(());
    }
    Err(Error::BadBinding(format!(
        "host {host:?}: give a host name (api.example.com) or a suffix with at least two labels (*.example.com); \
         no ports, paths or schemes, and no wildcard that covers every host"
    )))
}

fn check_glob(glob: &str) -> Result<(), Error> {
    let bad = |why: &str| Err(Error::BadBinding(format!("path glob {glob:?}: {why}")));
    if !glob.starts_with('/') {
        return bad("it must start with '/', e.g. /v1/chat/**");
    }
    if glob.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control() || b == b'#') {
        return bad("no spaces, control characters or '#'");
    }
    if glob.split('/').any(|seg| seg.contains("**") && seg != "**") {
        return bad("use ** as a whole segment (/v1/**), or * within one segment (/v1/*.json)");
    }
    Ok(())
}

/// The request's host without a port or a trailing dot.
fn request_host(host: &str) -> &str {
    let host = if host.starts_with('[') {
        host.find(']').and_then(|end| host.get(..=end)).unwrap_or(host)
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host,
        }
    };
    host.strip_suffix('.').unwrap_or(host)
}

fn host_matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(suffix) => {
            let Some(cut) = host.len().checked_sub(suffix.len()) else { return false };
            cut >= 2
                && host.get(cut..).is_some_and(|tail| tail.eq_ignore_ascii_case(suffix))
                && host.as_bytes().get(cut - 1) == Some(&b'.')
        }
        None => pattern.eq_ignore_ascii_case(host),
    }
}

/// Whether a path could name another path to the server than it does to a glob: dot
/// segments (also `..;` as some servers read it), empty segments, encoded dots or separators.
fn is_ambiguous(path: &str) -> bool {
    if !path.starts_with('/') || path.contains('\\') {
        return true;
    }
    let lower = path.to_ascii_lowercase();
    if ["%2e", "%2f", "%5c", "%00"].iter().any(|e| lower.contains(e)) {
        return true;
    }
    let inner = path.strip_prefix('/').unwrap_or(path);
    let inner = inner.strip_suffix('/').unwrap_or(inner);
    !inner.is_empty()
        && inner.split('/').any(|seg| {
            let seg = seg.split(';').next().unwrap_or(seg);
            seg.is_empty() || seg == "." || seg == ".."
        })
}

/// Glob match over path segments; `**` (a whole segment) matches any number of segments.
fn glob_matches(glob: &str, path: &str) -> bool {
    let path: Vec<&str> = path.split('/').collect();
    // reachable[j]: the glob segments so far can match the first j path segments.
    let mut reachable = vec![false; path.len() + 1];
    if let Some(first) = reachable.first_mut() {
        *first = true;
    }
    for seg in glob.split('/') {
        let mut next = vec![false; path.len() + 1];
        if seg == "**" {
            let mut any = false;
            for (j, slot) in next.iter_mut().enumerate() {
                any |= reachable.get(j).copied().unwrap_or(false);
                *slot = any;
            }
        } else {
            for (j, part) in path.iter().enumerate() {
                if reachable.get(j).copied().unwrap_or(false)
                    && segment_matches(seg.as_bytes(), part.as_bytes())
                    && let Some(slot) = next.get_mut(j + 1)
                {
                    *slot = true;
                }
            }
        }
        reachable = next;
    }
    reachable.last().copied().unwrap_or(false)
}

/// `*` and `?` within one segment (the classic two-pointer wildcard match).
fn segment_matches(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || Some(&c) == text.get(t) => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern.get(p..).is_some_and(|rest| rest.iter().all(|&c| c == b'*'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_segments() {
        let cases = [
            ("/v1/**", "/v1/chat/completions", true),
            ("/v1/**", "/v1", true),
            ("/v1/**", "/v2/x", false),
            ("/v1/*", "/v1/chat", true),
            ("/v1/*", "/v1/chat/x", false),
            ("/repos/*/*/issues", "/repos/a/b/issues", true),
            ("/repos/*/*/issues", "/repos/a/issues", false),
            ("/**/x.json", "/a/b/x.json", true),
            ("/**/x.json", "/x.json", true),
            ("/files/*.json", "/files/a.json", true),
            ("/files/*.json", "/files/a.jsonx", false),
            ("/a?c", "/abc", true),
            ("/", "/", true),
            ("/**", "/", true),
        ];
        for (glob, path, want) in cases {
            assert_eq!(glob_matches(glob, path), want, "{glob} {path}");
        }
    }

    #[test]
    fn ambiguous_paths_are_spotted() {
        for path in ["/a/../b", "/a/./b", "/a//b", "/a/%2e%2e/b", "/a%2Fb", "/a/..;/b", "a/b", "/a\\b"] {
            assert!(is_ambiguous(path), "{path}");
        }
        for path in ["/", "/a/b", "/a/b/", "/a.b/c..d"] {
            assert!(!is_ambiguous(path), "{path}");
        }
    }

    #[test]
    fn hosts_lose_ports_and_match_suffixes() {
        assert_eq!(request_host("api.openai.com:443"), "api.openai.com");
        assert_eq!(request_host("[::1]:8080"), "[::1]");
        assert_eq!(request_host("example.com."), "example.com");
        assert!(host_matches("*.example.com", "a.example.com"));
        assert!(host_matches("*.example.com", "A.b.Example.com"));
        assert!(!host_matches("*.example.com", "example.com"));
        assert!(!host_matches("*.example.com", "badexample.com"));
        assert!(!host_matches("*.example.com", ".example.com"));
        assert!(check_host("*").is_err() && check_host("*.com").is_err() && check_host("a.com:80").is_err());
    }
}
