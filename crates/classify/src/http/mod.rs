//! HTTP requests an agent sends through the egress proxy: cloud and platform APIs (AWS by its
//! SigV4 credential scope, the rest by rule packs of host, method and path), GraphQL
//! operations, and the fallbacks that close the legacy-endpoint hole — a `DELETE` of anything
//! is a remote delete, and a write no rule knows is tagged `unknown-endpoint` (the policy holds
//! it on a production host).

mod address;
mod aws;
mod graphql;
mod rules;

use std::borrow::Cow;

use holdpoint_core::{Effect, Reversibility, Scope, Target, TargetKind, Verb};

pub use address::UrlParts;
pub use rules::HTTP_RULES;

/// Tag on the target of a write that no rule recognised.
pub const UNKNOWN_ENDPOINT: &str = "unknown-endpoint";

/// One HTTP request, as the proxy (or `holdpoint check http`) sees it.
#[derive(Clone, Copy, Debug)]
pub struct HttpRequest<'a> {
    /// The method, any case (`GET`, `delete`).
    pub method: &'a str,
    /// The absolute URL (`https://api.example.com/v1/volumes/1?force=true`).
    pub url: &'a str,
    /// Header names (any case) and values.
    pub headers: &'a [(String, String)],
    /// What is known of the body.
    pub body: Body<'a>,
}

/// The body of a request, as far as the proxy read it.
#[derive(Clone, Copy, Debug)]
pub enum Body<'a> {
    /// No body, or an empty one.
    Empty,
    /// The whole body.
    Full(&'a [u8]),
    /// Larger than `max_body`: not read, so not classified.
    TooLarge,
}

/// What the caller knows about the request's destination.
#[derive(Clone, Debug, Default)]
pub struct HttpContext {
    /// Tags of the host (from `[[hosts]]` config) and of any vault secret the request uses
    /// (`production`); every effect's target carries them.
    pub tags: Vec<String>,
}

/// The parts of a request the classifiers look at, parsed once.
pub(crate) struct Parsed<'a> {
    /// Upper-case (borrowed when the request's already is).
    pub method: Cow<'a, str>,
    /// Lower-case, without a trailing dot.
    pub host: Cow<'a, str>,
    /// The path, percent-decoded, starting with `/`.
    pub path: Cow<'a, str>,
    /// Query pairs, percent-decoded.
    pub query: Vec<(String, String)>,
    /// `scheme://host[:port]/path`, without query or credentials.
    pub endpoint: String,
    pub headers: &'a [(String, String)],
    pub body: Body<'a>,
}

impl Parsed<'_> {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub(crate) fn query_value(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    pub(crate) fn has_query(&self, name: &str) -> bool {
        self.query.iter().any(|(n, _)| n == name)
    }

    pub(crate) fn body_bytes(&self) -> Option<&[u8]> {
        match self.body {
            Body::Full(b) => Some(b),
            Body::Empty => Some(&[]),
            Body::TooLarge => None,
        }
    }

    pub(crate) fn content_type(&self) -> String {
        self.header("content-type").unwrap_or_default().to_ascii_lowercase()
    }

    /// Form fields of an `application/x-www-form-urlencoded` body.
    pub(crate) fn form(&self) -> Vec<(String, String)> {
        match self.body {
            Body::Full(b) if self.content_type().starts_with("application/x-www-form-urlencoded") => {
                url::form_urlencoded::parse(b).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
            }
            _ => Vec::new(),
        }
    }

    fn reads(&self) -> bool {
        matches!(&*self.method, "GET" | "HEAD" | "OPTIONS")
    }
}

/// Classify one HTTP request.
pub fn classify(req: &HttpRequest<'_>, ctx: &HttpContext) -> Vec<Effect> {
    match UrlParts::parse(req.url) {
        Ok(url) => classify_url(req, &url, ctx),
        Err(e) => tagged(vec![opaque(req.url, &format!("the URL cannot be read ({e})"), "http-unreadable")], ctx),
    }
}

/// [`classify`], for a caller that has parsed `req.url` already (as `url`).
pub fn classify_url(req: &HttpRequest<'_>, url: &UrlParts<'_>, ctx: &HttpContext) -> Vec<Effect> {
    let effects = match parse(req, url) {
        Ok(parsed) => classify_parsed(&parsed),
        Err(why) => vec![opaque(req.url, &why, "http-unreadable")],
    };
    tagged(effects, ctx)
}

/// The effects, with the request's context tags on their targets.
fn tagged(mut effects: Vec<Effect>, ctx: &HttpContext) -> Vec<Effect> {
    for e in &mut effects {
        e.target.tags.extend(ctx.tags.iter().cloned());
    }
    effects
}

fn classify_parsed(p: &Parsed<'_>) -> Vec<Effect> {
    let mut effects = Vec::new();
    if let Some(found) = aws::classify(p) {
        effects.extend(found);
    } else if let Some(found) = graphql::classify(p) {
        effects.extend(found);
    } else {
        effects.extend(rules::classify(p));
    }
    if effects.is_empty() {
        effects.push(fallback(p));
    }
    if !p.reads() && matches!(p.body, Body::TooLarge) {
        effects.push(opaque(
            &p.endpoint,
            "the request body is larger than max_body, so Holdpoint did not read it",
            "http-body-too-large",
        ));
    }
    effects
}

/// A request no rule recognised: reads are reads, a `DELETE` deletes, anything else writes
/// something Holdpoint cannot name.
fn fallback(p: &Parsed<'_>) -> Effect {
    let target = || Target::new(TargetKind::Http, p.endpoint.clone());
    if p.reads() {
        return effect(Verb::Read, target(), Reversibility::Reversible, "http-read", "an HTTP read");
    }
    if p.method == "DELETE" {
        return effect(Verb::Delete, target(), Reversibility::Irreversible, "http-delete", "an HTTP DELETE request");
    }
    let mut t = target();
    t.tags.insert(UNKNOWN_ENDPOINT.to_owned());
    effect(Verb::Write, t, Reversibility::Recoverable, "http-write", "an HTTP write no rule recognises")
}

/// The host of an absolute URL, lower-cased, as the classifier sees it (for looking up the
/// host's tags before classifying).
pub fn host_of(url: &str) -> Option<String> {
    host_of_url(&UrlParts::parse(url).ok()?)
}

/// [`host_of`] of a URL already parsed.
pub fn host_of_url(url: &UrlParts<'_>) -> Option<String> {
    Some(url.host.as_deref()?.trim_end_matches('.').to_ascii_lowercase())
}

fn parse<'a>(req: &HttpRequest<'a>, url: &'a UrlParts<'_>) -> Result<Parsed<'a>, String> {
    let scheme = url.scheme.as_ref();
    if !matches!(scheme, "http" | "https") {
        return Err(format!("the URL scheme {scheme:?} is not http or https"));
    }
    let host = lower(url.host.as_deref().ok_or("the URL has no host")?.trim_end_matches('.'));
    let raw_path = url.path.as_ref();
    let path = percent_encoding::percent_decode_str(raw_path).decode_utf8_lossy();
    let query: Vec<(String, String)> = url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let mut endpoint = String::with_capacity(scheme.len() + 3 + host.len() + 6 + raw_path.len());
    endpoint.push_str(scheme);
    endpoint.push_str("://");
    endpoint.push_str(&host);
    if let Some(port) = url.port {
        endpoint.push(':');
        endpoint.push_str(itoa::Buffer::new().format(port));
    }
    endpoint.push_str(raw_path);
    let mut method = upper(req.method.trim());
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-' || b == b'_') {
        return Err(format!("the method {:?} is not an HTTP method", req.method));
    }
    // A method override turns a POST into whatever it names (frameworks honour these).
    let override_ = req
        .headers
        .iter()
        .find(|(n, _)| {
            ["x-http-method-override", "x-http-method", "x-method-override"].iter().any(|h| n.eq_ignore_ascii_case(h))
        })
        .map(|(_, v)| v.trim().to_ascii_uppercase())
        .or_else(|| query.iter().find(|(k, _)| k == "_method").map(|(_, v)| v.trim().to_ascii_uppercase()));
    if let Some(o) = override_.filter(|o| !o.is_empty()) {
        method = Cow::Owned(o);
    }
    Ok(Parsed { method, host, path, query, endpoint, headers: req.headers, body: req.body })
}

/// `s` lower-cased, borrowed when it already is.
fn lower(s: &str) -> Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) { Cow::Owned(s.to_ascii_lowercase()) } else { Cow::Borrowed(s) }
}

/// `s` upper-cased, borrowed when it already is.
fn upper(s: &str) -> Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_lowercase()) { Cow::Owned(s.to_ascii_uppercase()) } else { Cow::Borrowed(s) }
}

pub(crate) fn effect(verb: Verb, target: Target, rev: Reversibility, rule: &str, why: &str) -> Effect {
    let mut e = Effect::new(verb, target, rev, Scope::Remote);
    e.rule = Some(rule.to_owned());
    e.why = Some(why.to_owned());
    e
}

pub(crate) fn opaque(what: &str, why: &str, rule: &str) -> Effect {
    effect(Verb::Opaque, Target::new(TargetKind::Http, what), Reversibility::Irreversible, rule, why)
}

/// Splits an identifier into lower-case words: `volumeDelete`, `delete_volume`,
/// `DeleteDBInstance` and `purge-cache` all yield their words.
pub(crate) fn words(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let chars: Vec<char> = name.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        let prev = i.checked_sub(1).and_then(|j| chars.get(j)).copied();
        let next = chars.get(i + 1).copied();
        let boundary = c.is_uppercase()
            && prev.is_some_and(|p| {
                p.is_lowercase() || p.is_ascii_digit() || (p.is_uppercase() && next.is_some_and(char::is_lowercase))
            });
        if boundary && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        cur.extend(c.to_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Words that make an operation destructive wherever they appear in its name.
pub(crate) const DESTRUCTIVE_WORDS: &[&str] = &[
    "delete",
    "remove",
    "destroy",
    "drop",
    "purge",
    "wipe",
    "reset",
    "revoke",
    "terminate",
    "detach",
    "erase",
    "nuke",
    "truncate",
    "deregister",
    "decommission",
    "deprovision",
    "unlink",
    "expunge",
];

/// Whether an operation name (any case style) names a destructive operation.
pub(crate) fn destructive_name(name: &str) -> bool {
    words(name).iter().any(|w| DESTRUCTIVE_WORDS.contains(&w.as_str()) || w == "del" || w == "rm")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_every_case_style() {
        assert_eq!(words("volumeDelete"), ["volume", "delete"]);
        assert_eq!(words("DeleteDBInstance"), ["delete", "db", "instance"]);
        assert_eq!(words("delete_volume"), ["delete", "volume"]);
        assert_eq!(words("purge-cache"), ["purge", "cache"]);
        assert_eq!(words("S3Bucket"), ["s3", "bucket"]);
        assert!(!destructive_name("serviceInstanceRedeploy"));
        assert!(destructive_name("projectTokenRevoke"));
    }
}
