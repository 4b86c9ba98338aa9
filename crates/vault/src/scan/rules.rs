//! The rule file (`rules.toml`): read, checked and compiled into one multi-pattern search.

use regex::bytes::Regex;
use regex_automata::util::prefilter::Prefilter;
use regex_automata::util::syntax;
use regex_automata::{MatchKind, meta};
use regex_syntax::ParserBuilder;
use regex_syntax::hir::literal::{ExtractKind, Extractor};
use serde::Deserialize;

use super::Error;
use super::kind::Kind;
use super::value::{Fakes, RawFakes};

/// The built-in rule file.
pub const RULES: &str = include_str!("rules.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    rule: Vec<RawRule>,
    fakes: RawFakes,
    assignment: RawAssignment,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: String,
    kind: String,
    #[serde(default)]
    check: Check,
    prefixes: Vec<String>,
    regex: String,
    #[serde(default)]
    schemes: Vec<String>,
    min_entropy: Option<f64>,
    why: String,
}

/// How a match of a rule is confirmed (see the comment at the top of `rules.toml`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Check {
    #[default]
    Token,
    Assignment,
    Pem,
    Gcp,
    Jwt,
    Url,
    Netrc,
    DockerAuth,
    Base64Pem,
    Authorization,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAssignment {
    last_words: Vec<String>,
    contains: Vec<String>,
    names: Vec<String>,
    ignore_words: Vec<String>,
    ignore_last_words: Vec<String>,
    min_len: usize,
    min_entropy: f64,
    password_min_len: usize,
    password_min_entropy: f64,
    named: Vec<RawNamed>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNamed {
    names: Vec<String>,
    kind: String,
    value: String,
}

/// One compiled rule; its index is its pattern id in the search.
#[derive(Debug)]
pub(crate) struct Rule {
    pub(crate) id: String,
    pub(crate) kind: Kind,
    pub(crate) check: Check,
    pub(crate) min_entropy: Option<f64>,
    pub(crate) schemes: Vec<String>,
    pub(crate) why: String,
}

/// The `[assignment]` section, compiled.
#[derive(Debug)]
pub(crate) struct Assignment {
    pub(crate) last_words: Vec<String>,
    pub(crate) contains: Vec<String>,
    pub(crate) names: Vec<String>,
    pub(crate) ignore_words: Vec<String>,
    pub(crate) ignore_last_words: Vec<String>,
    pub(crate) min_len: usize,
    pub(crate) min_entropy: f64,
    pub(crate) password_min_len: usize,
    pub(crate) password_min_entropy: f64,
    pub(crate) named: Vec<Named>,
}

/// A provider known by its variable name.
#[derive(Debug)]
pub(crate) struct Named {
    pub(crate) names: Vec<String>,
    pub(crate) kind: Kind,
    pub(crate) value: Regex,
}

/// Everything the detector needs, compiled from a rule file.
#[derive(Debug)]
pub(crate) struct Compiled {
    pub(crate) search: meta::Regex,
    pub(crate) patterns: Vec<String>,
    pub(crate) rules: Vec<Rule>,
    pub(crate) fakes: Fakes,
    pub(crate) assignment: Assignment,
}

/// Read and compile a rule file; an error names the rule.
pub(crate) fn compile(text: &str) -> Result<Compiled, Error> {
    let file: RuleFile = toml::from_str(text).map_err(|e| Error::Rules(e.to_string()))?;
    let mut rules = Vec::with_capacity(file.rule.len());
    let mut patterns = Vec::with_capacity(file.rule.len());
    let mut needles: Vec<String> = Vec::new();
    for raw in file.rule {
        let fail = |e: &dyn std::fmt::Display| Error::Rules(format!("rule {}: {e}", raw.id));
        let kind: Kind = raw.kind.parse().map_err(|e: String| fail(&e))?;
        // Each pattern alone first, so an error names its rule.
        search_builder(None).build(&raw.regex).map_err(|e| fail(&e))?;
        check_prefixes(&raw.regex, &raw.prefixes).map_err(|e| fail(&e))?;
        needles.extend(raw.prefixes.iter().filter(|p| !needles.contains(p)).cloned().collect::<Vec<_>>());
        patterns.push(raw.regex);
        let (min_entropy, schemes) = (raw.min_entropy, raw.schemes);
        rules.push(Rule { id: raw.id, kind, check: raw.check, min_entropy, schemes, why: raw.why });
    }
    let prefilter = Prefilter::new(MatchKind::LeftmostFirst, &needles)
        .ok_or_else(|| Error::Rules("the rules' prefixes make no prefilter".into()))?;
    let search = search_builder(Some(prefilter)).build_many(&patterns).map_err(|e| Error::Rules(e.to_string()))?;
    let a = file.assignment;
    let mut named = Vec::with_capacity(a.named.len());
    for n in a.named {
        let kind: Kind = n.kind.parse().map_err(Error::Rules)?;
        let value = regex::bytes::RegexBuilder::new(&format!("^(?:{})$", n.value))
            .unicode(false)
            .build()
            .map_err(|e| Error::Rules(format!("assignment.named {kind}: {e}")))?;
        named.push(Named { names: n.names, kind, value });
    }
    let assignment = Assignment {
        last_words: a.last_words,
        contains: a.contains,
        names: a.names,
        ignore_words: a.ignore_words,
        ignore_last_words: a.ignore_last_words,
        min_len: a.min_len,
        min_entropy: a.min_entropy,
        password_min_len: a.password_min_len,
        password_min_entropy: a.password_min_entropy,
        named,
    };
    Ok(Compiled { search, patterns, rules, fakes: Fakes::new(file.fakes), assignment })
}

fn search_builder(prefilter: Option<Prefilter>) -> meta::Builder {
    let mut builder = meta::Regex::builder();
    builder
        .syntax(syntax::Config::new().unicode(false).utf8(false))
        .configure(meta::Config::new().utf8_empty(false).hybrid_cache_capacity(8 << 20).prefilter(prefilter));
    builder
}

/// Every match of `regex` must start with one of `prefixes`, or the prefilter would skip it:
/// each literal the regex can start with must itself start with a declared prefix.
fn check_prefixes(regex: &str, prefixes: &[String]) -> Result<(), String> {
    if prefixes.iter().any(String::is_empty) || prefixes.is_empty() {
        return Err("needs non-empty prefixes".into());
    }
    let hir = ParserBuilder::new().unicode(false).utf8(false).build().parse(regex).map_err(|e| e.to_string())?;
    let seq = Extractor::new().kind(ExtractKind::Prefix).extract(&hir);
    let literals = seq.literals().ok_or("its matches can start with anything; give it a literal start")?;
    for literal in literals {
        let bytes = literal.as_bytes();
        let covered = prefixes.iter().any(|p| bytes.starts_with(p.as_bytes()));
        if !covered {
            let shown = String::from_utf8_lossy(bytes);
            return Err(format!("a match can start with {shown:?}, which none of its prefixes {prefixes:?} begins"));
        }
    }
    Ok(())
}
