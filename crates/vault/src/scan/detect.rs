//! The per-buffer detector: one multi-pattern search over the bytes, each match confirmed by
//! its rule's check, line numbers counted only for findings.

use std::ops::Range;

use regex_automata::util::captures::Captures;
use regex_automata::{Anchored, Input, PatternID, meta};
use sha2::{Digest, Sha256};

use super::kind::Kind;
use super::rules::{Check, Compiled, Rule};
use super::value::{
    Words, base64_decode, char_classes, contains_ignore_case, entropy, has_repeat, is_code_reference, is_mostly_digits,
    is_path, is_phrase, is_uuid, percent_escapes,
};

/// How far a PEM block's END line is looked for, and how many bytes of an assignment's name
/// and value are read.
const PEM_WINDOW: usize = 64 << 10;
const NAME_MAX: usize = 128;
const VALUE_MAX: usize = 4096;
/// A key body shorter than this (in base64 characters) is a placeholder (`...`).
const KEY_BODY_MIN: usize = 64;
/// A connection URL's password is at least this long; its scheme at most this long.
const URL_PASSWORD_MIN: usize = 4;
const SCHEME_MAX: usize = 16;
/// How far back a `.netrc` password looks for its entry's `login`.
const NETRC_ENTRY: usize = 512;

/// One secret found in a buffer. It never holds the secret: only where it is, what kind it
/// is, and a fingerprint.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hit {
    /// 1-based line of the secret's first byte.
    pub line: u64,
    /// What it is.
    pub kind: Kind,
    /// [`fingerprint`] of the secret.
    pub fingerprint: String,
}

/// A short, stable identifier of a secret: the first 16 hex digits of SHA-256 over a domain
/// prefix and the secret. It says whether two findings are the same secret without showing it
/// (no prefix of the secret, no way back from it for a random token; a short password could
/// still be guessed offline from it, like from any unsalted hash).
///
/// ```
/// let fp = holdpoint_vault::scan::fingerprint(b"hunter22");
/// assert_eq!(fp.len(), 16);
/// assert!(!fp.contains("hunter"));
/// ```
pub fn fingerprint(secret: &[u8]) -> String {
    let digest = Sha256::new().chain_update(b"holdpoint.scan.v1\0").chain_update(secret).finalize();
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// What a check decided about one match.
#[derive(Debug)]
enum Outcome {
    /// A secret of this kind at this range; the search resumes at `end`.
    Found { kind: Kind, secret: Range<usize>, end: usize },
    /// Recognised, and known not to be a secret (a documented fake, a public key).
    Fake { end: usize },
    /// Not what the rule looks for after all.
    Miss { end: usize },
}

/// What an assignment's name says (see [`Scanner::name_says`]).
#[derive(Clone, Copy)]
struct NameSays {
    secret_like: bool,
    password: bool,
}

/// What the value of an assignment is, by the other rules.
enum ValueClass {
    Secret(Kind, Range<usize>),
    Fake,
    Unknown,
}

/// What kind of text a buffer holds, which decides how a bare assignment value is read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Text {
    /// Configuration, `.env`, shell, prose, unknown: a bare value is data (`TOKEN=abc123`).
    #[default]
    Data,
    /// Program source: data is in string literals; a bare word after `name:` or `name =` is
    /// a type or an expression (`token: CancellationToken`, `key = cache_key(id)`).
    Program,
}

impl Text {
    /// By file extension: the usual program source extensions are [`Text::Program`].
    pub fn of(path: &std::path::Path) -> Text {
        const PROGRAM: &[&str] = &[
            "rs", "c", "h", "cc", "cpp", "cxx", "hpp", "hh", "cs", "java", "kt", "kts", "scala", "go", "swift", "m",
            "mm", "js", "jsx", "mjs", "cjs", "ts", "tsx", "mts", "cts", "py", "pyi", "rb", "php", "dart", "lua", "zig",
            "ex", "exs", "erl", "hs", "ml", "fs", "clj", "groovy", "jl", "nim", "v", "sol",
        ];
        match path.extension().and_then(|e| e.to_str()) {
            Some(ext) if PROGRAM.iter().any(|p| p.eq_ignore_ascii_case(ext)) => Text::Program,
            _ => Text::Data,
        }
    }
}

/// A compiled detector with its own search cache: one per thread.
pub struct Scanner<'d> {
    det: &'d Compiled,
    cache: meta::Cache,
    caps: Captures,
    text: Text,
}

impl<'d> Scanner<'d> {
    pub(crate) fn new(det: &'d Compiled) -> Scanner<'d> {
        Scanner { det, cache: det.search.create_cache(), caps: det.search.create_captures(), text: Text::Data }
    }

    /// Every secret in `buf` read as [`Text::Data`] (see [`Scanner::scan_text`]).
    pub fn scan(&mut self, buf: &[u8]) -> Vec<Hit> {
        self.scan_text(buf, Text::Data)
    }

    /// Every secret in `buf`, in order, each (line, kind, fingerprint) once.
    pub fn scan_text(&mut self, buf: &[u8], text: Text) -> Vec<Hit> {
        self.text = text;
        let mut hits = Vec::new();
        let mut lines = LineCounter::default();
        let mut pos = 0;
        while pos < buf.len() {
            let input = Input::new(buf).range(pos..);
            let Some(m) = self.det.search.search_with(&mut self.cache, &input) else { break };
            let outcome = self.confirm(buf, m.pattern(), m.range());
            let end = match outcome {
                Outcome::Found { kind, secret, end } => {
                    let hit = Hit {
                        line: lines.line_of(buf, secret.start),
                        kind,
                        fingerprint: fingerprint(buf.get(secret).unwrap_or_default()),
                    };
                    if !hits.contains(&hit) {
                        hits.push(hit);
                    }
                    end
                }
                Outcome::Fake { end } | Outcome::Miss { end } => end,
            };
            // A check may resume inside its match (an assignment whose value others should
            // see), never before it.
            pos = end.max(m.start() + 1);
        }
        hits
    }

    /// The kind of secret `NAME = value` holds, if any (see [`super::assignment_kind`]).
    pub fn assignment_kind(&mut self, name: &[u8], value: &[u8]) -> Option<Kind> {
        self.text = Text::Data;
        let value = unquote(value.trim_ascii());
        let words = Words::of(name);
        let says = self.name_says(&words);
        let outcome = if says.secret_like {
            self.assignment(value, &words, says, 0..value.len(), Form::Bare)
        } else {
            match self.classify_value(value, 0..value.len()) {
                ValueClass::Secret(kind, secret) => Outcome::Found { kind, secret, end: value.len() },
                ValueClass::Fake | ValueClass::Unknown => Outcome::Miss { end: value.len() },
            }
        };
        match outcome {
            Outcome::Found { kind, .. } => Some(kind),
            Outcome::Fake { .. } | Outcome::Miss { .. } => None,
        }
    }

    fn rule(&self, id: PatternID) -> Option<&'d Rule> {
        self.det.rules.get(id.as_usize())
    }

    fn confirm(&mut self, buf: &[u8], id: PatternID, span: Range<usize>) -> Outcome {
        let end = span.end;
        let Some(rule) = self.rule(id) else { return Outcome::Miss { end } };
        match rule.check {
            Check::Token | Check::Authorization => self.token(buf, rule, id, span),
            Check::Assignment => {
                let Some(head) = assignment_head(buf, span.start) else { return Outcome::Miss { end } };
                let words = Words::of(buf.get(head.name).unwrap_or_default());
                let says = self.name_says(&words);
                // A name that says nothing is given up before its value is read: the search
                // resumes at the value, where the other rules find what they know.
                if !says.secret_like {
                    return Outcome::Miss { end: head.value };
                }
                let (value, form) = assignment_value(buf, head.value);
                if head.path_name || form == Form::Code || (form == Form::Bare && self.text == Text::Program) {
                    return Outcome::Miss { end: value.start };
                }
                self.assignment(buf, &words, says, value, form)
            }
            Check::Pem => self.pem(buf, rule.kind, span),
            Check::Gcp => self.gcp(buf, span),
            Check::Jwt => self.jwt(buf, span),
            Check::Url => self.url(buf, rule, span),
            Check::Netrc | Check::DockerAuth => self.credential(buf, rule, id, span),
            Check::Base64Pem => self.base64_pem(buf, span),
        }
    }

    /// The `secret` group of pattern `id` matched at `span`, or the whole match.
    fn secret_group(&mut self, buf: &[u8], id: PatternID, span: Range<usize>) -> Range<usize> {
        let input = Input::new(buf).range(span.clone()).anchored(Anchored::Pattern(id));
        self.det.search.search_captures_with(&mut self.cache, &input, &mut self.caps);
        self.caps.get_group_by_name("secret").map(|s| s.range()).unwrap_or(span)
    }

    fn token(&mut self, buf: &[u8], rule: &Rule, id: PatternID, span: Range<usize>) -> Outcome {
        let (span_start, end) = (span.start, span.end);
        let secret = self.secret_group(buf, id, span);
        let bytes = buf.get(secret.clone()).unwrap_or_default();
        if self.det.fakes.is_fake(bytes) {
            return Outcome::Fake { end };
        }
        if rule.min_entropy.is_some_and(|min| entropy(bytes) < min) {
            return Outcome::Miss { end };
        }
        if rule.check == Check::Authorization {
            let basic = buf.get(span_start..secret.start).is_some_and(|h| contains_ignore_case(h, b"basic"));
            if basic {
                let decoded = base64_decode(bytes, VALUE_MAX).unwrap_or_default();
                let password = decoded.iter().position(|&b| b == b':').and_then(|c| decoded.get(c + 1..));
                if password.is_none_or(|p| self.det.fakes.is_fake(p)) {
                    return Outcome::Fake { end };
                }
            }
            // A header can carry a token of a known kind: name it.
            match self.classify_value(buf, secret.clone()) {
                ValueClass::Secret(kind, inner) => return Outcome::Found { kind, secret: inner, end },
                ValueClass::Fake => return Outcome::Fake { end },
                ValueClass::Unknown => {}
            }
        }
        Outcome::Found { kind: rule.kind, secret, end }
    }

    /// `.netrc` passwords and Docker `auth` values: the `secret` group, not a placeholder
    /// (and for Docker, base64 of `user:password`).
    fn credential(&mut self, buf: &[u8], rule: &Rule, id: PatternID, span: Range<usize>) -> Outcome {
        let (span_start, end) = (span.start, span.end);
        let secret = self.secret_group(buf, id, span);
        let bytes = buf.get(secret.clone()).unwrap_or_default();
        if rule.check == Check::Netrc && !netrc_login_before(buf, span_start) {
            return Outcome::Miss { end };
        }
        let password = if rule.check == Check::DockerAuth {
            let Some(decoded) = base64_decode(bytes, VALUE_MAX) else { return Outcome::Miss { end } };
            let Some(colon) = decoded.iter().position(|&b| b == b':') else { return Outcome::Miss { end } };
            decoded.get(colon + 1..).unwrap_or_default().to_vec()
        } else {
            bytes.to_vec()
        };
        if password.is_empty() || self.det.fakes.is_fake(&password) {
            return Outcome::Fake { end };
        }
        Outcome::Found { kind: rule.kind, secret, end }
    }

    /// What a name says: secret-like (`*_KEY`, `*_TOKEN`, `*_SECRET`, `*PASSWORD*` and the
    /// other words of the rule file, none of the public or index words), and whether it is a
    /// password (people choose those, so shorter and less random).
    fn name_says(&self, words: &Words<'_>) -> NameSays {
        let a = &self.det.assignment;
        let named = words.len_nonzero() && !words.any_in(&a.ignore_words) && !words.last_in(&a.ignore_last_words);
        let password = named && words.any_contains(&a.contains);
        let secret_like =
            named && (password || words.last_in(&a.last_words) || a.names.iter().any(|n| words.ends_with(n)));
        NameSays { secret_like, password }
    }

    /// A secret-like NAME = value: the value's own kind when another rule knows it, else a
    /// provider named by NAME with a value of its shape, else a generic secret when the value
    /// is long and random enough.
    fn assignment(
        &mut self,
        buf: &[u8],
        words: &Words<'_>,
        says: NameSays,
        value: Range<usize>,
        form: Form,
    ) -> Outcome {
        let end = value.end;
        match self.classify_value(buf, value.clone()) {
            ValueClass::Secret(kind, secret) => return Outcome::Found { kind, secret, end },
            ValueClass::Fake => return Outcome::Fake { end },
            ValueClass::Unknown => {}
        }
        let bytes = buf.get(value.clone()).unwrap_or_default();
        if self.det.fakes.is_fake(bytes) || is_path(bytes) || (form == Form::Bare && is_code_reference(bytes)) {
            return Outcome::Fake { end };
        }
        let a = &self.det.assignment;
        for n in &a.named {
            if n.names.iter().any(|name| words.ends_with(name)) && n.value.is_match(bytes) {
                return Outcome::Found { kind: n.kind, secret: value, end };
            }
        }
        // A key or token is machine-made: mixed classes, few escapes, no phrase. A password
        // need not be.
        let machine_made = !is_mostly_digits(bytes)
            && char_classes(bytes) >= 2
            && percent_escapes(bytes) < 2
            && memchr::memmem::find(bytes, b"::").is_none()
            && !has_repeat(bytes)
            && !is_phrase(bytes);
        let (min_len, min_entropy) =
            if says.password { (a.password_min_len, a.password_min_entropy) } else { (a.min_len, a.min_entropy) };
        if (!says.password && !machine_made) || is_uuid(bytes) || bytes.len() < min_len || entropy(bytes) < min_entropy
        {
            return Outcome::Miss { end };
        }
        Outcome::Found { kind: Kind::GenericSecret, secret: value, end }
    }

    /// Run every rule but the assignment rule over one value.
    fn classify_value(&mut self, buf: &[u8], value: Range<usize>) -> ValueClass {
        let mut fake = false;
        let mut pos = value.start;
        while pos < value.end {
            let input = Input::new(buf).range(pos..value.end);
            let Some(m) = self.det.search.search_with(&mut self.cache, &input) else { break };
            let id = m.pattern();
            let nested = self.rule(id).is_none_or(|r| r.check == Check::Assignment);
            let outcome = if nested { Outcome::Miss { end: m.end() } } else { self.confirm(buf, id, m.range()) };
            match outcome {
                Outcome::Found { kind, secret, .. } => return ValueClass::Secret(kind, secret),
                Outcome::Fake { .. } => fake = true,
                Outcome::Miss { .. } => {}
            }
            pos = m.end().max(pos + 1);
        }
        if fake { ValueClass::Fake } else { ValueClass::Unknown }
    }

    /// A PEM block: one finding for the whole key, fingerprinted over its body.
    fn pem(&mut self, buf: &[u8], kind: Kind, span: Range<usize>) -> Outcome {
        let window = buf.get(span.end..buf.len().min(span.end.saturating_add(PEM_WINDOW))).unwrap_or_default();
        let (body_len, end) = match memchr::memmem::find(window, b"-----END ") {
            Some(i) => {
                let after = span.end + i + 9;
                let close = buf
                    .get(after..)
                    .and_then(|rest| memchr::memmem::find(rest, b"-----"))
                    .map_or(after, |j| after + j + 5);
                (i, close)
            }
            None => (window.len(), span.end + window.len()),
        };
        let body = span.end..span.end + body_len;
        let bytes = buf.get(body.clone()).unwrap_or_default();
        if base64_chars(bytes) < KEY_BODY_MIN {
            return Outcome::Fake { end };
        }
        Outcome::Found { kind, secret: body, end }
    }

    /// A service-account `private_key` string: the whole key is one finding, a GCP one when
    /// the file also names the account's `client_email`.
    fn gcp(&mut self, buf: &[u8], span: Range<usize>) -> Outcome {
        let key_start = span.end.saturating_sub("-----BEGIN".len());
        let close = json_string_end(buf, key_start);
        let secret = key_start..close;
        if base64_chars(buf.get(secret.clone()).unwrap_or_default()) < KEY_BODY_MIN {
            return Outcome::Fake { end: close };
        }
        let kind = if memchr::memmem::find(buf, b"\"client_email\"").is_some() {
            Kind::GcpServiceAccount
        } else {
            Kind::PrivateKey
        };
        Outcome::Found { kind, secret, end: close }
    }

    /// Three base64url parts whose first two decode to JSON objects. A Supabase `anon` key is
    /// public by design; a `service_role` key is a Supabase secret.
    fn jwt(&mut self, buf: &[u8], span: Range<usize>) -> Outcome {
        let end = span.end;
        let token = buf.get(span.clone()).unwrap_or_default();
        if self.det.fakes.is_fake(token) {
            return Outcome::Fake { end };
        }
        let mut parts = token.split(|&b| b == b'.');
        let (Some(header), Some(payload)) = (parts.next(), parts.next()) else { return Outcome::Miss { end } };
        let object = |part: &[u8]| {
            base64_decode(part, VALUE_MAX)
                .and_then(|json| serde_json::from_slice::<serde_json::Value>(&json).ok())
                .filter(serde_json::Value::is_object)
        };
        let (Some(header), Some(payload)) = (object(header), object(payload)) else {
            return Outcome::Miss { end };
        };
        if header.get("alg").and_then(serde_json::Value::as_str).is_none_or(|a| a.eq_ignore_ascii_case("none")) {
            return Outcome::Miss { end };
        }
        let claim = |k: &str| payload.get(k).and_then(serde_json::Value::as_str);
        let kind = match (claim("iss"), claim("role")) {
            (Some(iss), Some("anon")) if iss.contains("supabase") => return Outcome::Fake { end },
            (Some(iss), Some("service_role")) if iss.contains("supabase") => Kind::SupabaseKey,
            _ => Kind::Jwt,
        };
        Outcome::Found { kind, secret: span, end }
    }

    /// `scheme://user:password@`: the password, unless it is a placeholder or a default.
    fn url(&mut self, buf: &[u8], rule: &Rule, span: Range<usize>) -> Outcome {
        // Anything short of a finding resumes after `://`: the userinfo may hold a token
        // another rule knows (`https://user:ghp_...@github.com`).
        let (miss, end) = (Outcome::Miss { end: span.start + 3 }, span.end);
        let is_scheme = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'.' | b'-');
        let floor = span.start.saturating_sub(SCHEME_MAX);
        let before = buf.get(floor..span.start).unwrap_or_default();
        let scheme = before.get(before.iter().rposition(|b| !is_scheme(b)).map_or(0, |i| i + 1)..).unwrap_or_default();
        if !rule.schemes.iter().any(|s| s.as_bytes().eq_ignore_ascii_case(scheme)) {
            return miss;
        }
        let text = buf.get(span.clone()).unwrap_or_default();
        let Some(scheme_end) = memchr::memmem::find(text, b"://") else { return Outcome::Miss { end } };
        let userinfo = scheme_end + 3;
        let Some(colon) = text.get(userinfo..).and_then(|u| memchr::memchr(b':', u)) else {
            return miss;
        };
        let password = span.start + userinfo + colon + 1..end.saturating_sub(1);
        let bytes = buf.get(password.clone()).unwrap_or_default();
        // A real password in a URL has `[]` percent-encoded (`[user[:password]@]` is grammar),
        // and is not one to three characters (`p@ssw0rd@` unencoded ends the userinfo early).
        if bytes.len() < URL_PASSWORD_MIN
            || bytes.iter().any(|b| matches!(b, b'[' | b']'))
            || self.det.fakes.is_fake(bytes)
        {
            return Outcome::Fake { end: span.start + 3 };
        }
        Outcome::Found { kind: Kind::ConnectionUrl, secret: password, end }
    }

    /// A base64 PEM block: only a private key counts (a certificate is public).
    fn base64_pem(&mut self, buf: &[u8], span: Range<usize>) -> Outcome {
        let end = span.end;
        let text = buf.get(span.clone()).unwrap_or_default();
        let Some(head) = base64_decode(text, 80) else { return Outcome::Miss { end } };
        if memchr::memmem::find(&head, b"PRIVATE KEY").is_none() {
            return Outcome::Miss { end };
        }
        Outcome::Found { kind: Kind::PrivateKey, secret: span, end }
    }
}

/// Whether `login NAME` comes right before `at` (a `.netrc` entry:
/// `machine HOST login NAME password VALUE`, on one line or several).
fn netrc_login_before(buf: &[u8], at: usize) -> bool {
    let window = buf.get(at.saturating_sub(NETRC_ENTRY)..at).unwrap_or_default();
    let mut words = window.split(u8::is_ascii_whitespace).filter(|w| !w.is_empty()).rev();
    words.next().is_some() && words.next() == Some(b"login".as_slice())
}

/// Count newlines only between findings, moving forward.
#[derive(Default)]
struct LineCounter {
    offset: usize,
    line: u64,
}

impl LineCounter {
    fn line_of(&mut self, buf: &[u8], offset: usize) -> u64 {
        if offset < self.offset {
            *self = LineCounter::default();
        }
        let newlines = buf.get(self.offset..offset).map_or(0, |s| memchr::memchr_iter(b'\n', s).count());
        self.line += newlines as u64;
        self.offset = offset;
        self.line + 1
    }
}

/// Base64 alphabet bytes in a key body (escaped `\n`s in JSON count their `n`, which is
/// harmless at this threshold).
fn base64_chars(body: &[u8]) -> usize {
    body.iter().filter(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')).count()
}

/// Where a JSON string whose content starts at `start` ends: its closing `"`, or the end of
/// the line (or of the window) for a string left open.
fn json_string_end(buf: &[u8], start: usize) -> usize {
    let rest = buf.get(start..).unwrap_or_default();
    let mut escaped = false;
    for (i, &b) in rest.iter().enumerate().take(PEM_WINDOW) {
        match b {
            b'\\' if !escaped => escaped = true,
            b'"' if !escaped => return start + i,
            b'\n' => return start + i,
            _ => escaped = false,
        }
    }
    start + rest.len().min(PEM_WINDOW)
}

/// Strip one pair of matching quotes.
fn unquote(value: &[u8]) -> &[u8] {
    match (value.first(), value.last()) {
        (Some(&a), Some(&b)) if value.len() >= 2 && a == b && matches!(a, b'"' | b'\'' | b'`') => {
            value.get(1..value.len() - 1).unwrap_or(value)
        }
        _ => value,
    }
}

/// How an assignment's value is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Form {
    /// A string literal in `"` or `'`: data.
    Literal,
    /// Bare (`.env`, YAML) or in backticks (Markdown code): data or code.
    Bare,
    /// Plainly code: a bare word followed by `=`, `(`, `)` or `?` — a type annotation
    /// (`key: Type = ...`), a call (`key = f (x)`), a parameter, a ternary.
    Code,
}

/// The parts of an assignment before its value.
struct Head {
    /// The name, with the words before it on the same line (`export NAME`, `# public key`).
    name: Range<usize>,
    /// Where the value starts.
    value: usize,
    /// The name follows `::` (`Enum::Key => ...`): a match arm, not an assignment.
    path_name: bool,
}

/// Given the start of an assignment match (inside the name): the name and where the value
/// starts. Handles `NAME=v`, `NAME: v`, `"NAME": "v"`, `NAME := v`, `'NAME' => 'v'`,
/// `export NAME="v"`; not `NAME == v`.
fn assignment_head(buf: &[u8], at: usize) -> Option<Head> {
    let is_name = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.');
    let at_byte = |i: usize| buf.get(i).copied();
    let floor = at.saturating_sub(NAME_MAX);
    let name_start = buf
        .get(floor..at)?
        .iter()
        .rposition(|b| !is_name(b) && !matches!(b, b' ' | b'\t'))
        .map_or(floor, |i| floor + i + 1);
    let path_name = name_start >= 2 && buf.get(name_start - 2..name_start) == Some(b"::");
    let name_end = at + buf.get(at..)?.iter().take_while(|b| is_name(b)).count();
    let mut i = name_end;
    if matches!(at_byte(i), Some(b'"' | b'\'' | b'`')) {
        i += 1;
    }
    while matches!(at_byte(i), Some(b' ' | b'\t')) {
        i += 1;
    }
    i += match (at_byte(i), at_byte(i + 1)) {
        (Some(b'='), Some(b'=')) => return None,
        (Some(b'='), Some(b'>')) | (Some(b':'), Some(b'=')) => 2,
        (Some(b'=' | b':'), _) => 1,
        _ => return None,
    };
    while matches!(at_byte(i), Some(b' ' | b'\t')) {
        i += 1;
    }
    Some(Head { name: name_start..name_end, value: i, path_name })
}

/// The value starting at `start` (at most [`VALUE_MAX`] bytes, never past its line) and how
/// it is written.
fn assignment_value(buf: &[u8], start: usize) -> (Range<usize>, Form) {
    let at_byte = |i: usize| buf.get(i).copied();
    let limit = buf.len().min(start.saturating_add(VALUE_MAX));
    match at_byte(start) {
        Some(q @ (b'"' | b'\'' | b'`')) => {
            let first = start + 1;
            let mut j = first;
            let mut escaped = false;
            while j < limit {
                match at_byte(j) {
                    Some(b'\\') if !escaped && q != b'\'' => escaped = true,
                    Some(b) if b == q && !escaped => break,
                    Some(b'\n') | None => break,
                    _ => escaped = false,
                }
                j += 1;
            }
            (first..j.max(first), if q == b'`' { Form::Bare } else { Form::Literal })
        }
        _ => {
            let len = buf
                .get(start..limit)
                .unwrap_or_default()
                .iter()
                .take_while(|b| {
                    !b.is_ascii_whitespace()
                        && !matches!(b, b',' | b';' | b'&' | b')' | b']' | b'}' | b'"' | b'\'' | b'`' | b'\\')
                })
                .count();
            let mut k = start + len;
            while matches!(at_byte(k), Some(b' ' | b'\t')) {
                k += 1;
            }
            let form = if matches!(at_byte(k), Some(b'(' | b'=' | b')' | b'?')) { Form::Code } else { Form::Bare };
            (start..start + len, form)
        }
    }
}
