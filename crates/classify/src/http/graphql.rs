//! GraphQL over HTTP: the document is parsed with a real GraphQL parser, the operation chosen
//! by `operationName`, fragments followed and aliases seen through. A mutation field whose
//! name means delete (remove, destroy, drop, purge, wipe, reset, revoke, terminate, detach...)
//! is a remote delete; other mutation fields are writes; queries, subscriptions and
//! introspection are reads. A persisted-query id without a document is opaque.

use std::collections::{BTreeSet, HashMap};

use graphql_parser::query::{Definition, Document, OperationDefinition, Selection, SelectionSet, parse_query};
use holdpoint_core::{Effect, Reversibility, Target, TargetKind, Verb};
use serde_json::Value;

use super::{Body, Parsed, destructive_name, effect, opaque};

/// Deeper nesting than this is not parsed (the parser recurses): the document is opaque.
const MAX_NESTING: usize = 64;
/// Fragment spreads followed from one operation before the rest is opaque.
const MAX_SPREADS: usize = 256;
/// Operations in one batched request before the rest is opaque.
const MAX_BATCH: usize = 64;

/// One GraphQL request of a (possibly batched) HTTP request.
struct GraphqlRequest {
    document: Option<String>,
    operation_name: Option<String>,
    persisted: bool,
}

/// The effects of a GraphQL request, or `None` when the request is not GraphQL.
pub(crate) fn classify(p: &Parsed<'_>) -> Option<Vec<Effect>> {
    let requests = requests(p)?;
    let mut effects = Vec::new();
    for (i, r) in requests.iter().enumerate() {
        if i >= MAX_BATCH {
            effects.push(opaque(&p.endpoint, "a GraphQL batch this long is not classified", "graphql-batch-too-long"));
            break;
        }
        effects.extend(classify_one(p, r));
    }
    if effects.is_empty() {
        effects.push(opaque(&p.endpoint, "an empty GraphQL batch", "graphql-unreadable"));
    }
    Some(effects)
}

/// The GraphQL requests carried by an HTTP request, if it is one.
fn requests(p: &Parsed<'_>) -> Option<Vec<GraphqlRequest>> {
    let ctype = p.content_type();
    let looks_graphql = p.path.as_bytes().windows(7).any(|w| w.eq_ignore_ascii_case(b"graphql"));
    if p.method == "GET" {
        let document = p.query_value("query").map(str::to_owned);
        let persisted = p.query_value("extensions").is_some_and(|e| e.contains("persistedQuery"));
        let is_doc = document.as_deref().is_some_and(starts_like_graphql);
        if !(is_doc || (persisted && document.is_none())) {
            return None;
        }
        let operation_name = p.query_value("operationName").map(str::to_owned);
        return Some(vec![GraphqlRequest { document, operation_name, persisted }]);
    }
    if matches!(&*p.method, "HEAD" | "OPTIONS" | "DELETE") {
        return None;
    }
    let body = match p.body {
        Body::Full(b) => b,
        Body::Empty => return None,
        Body::TooLarge => return looks_graphql.then(Vec::new),
    };
    if ctype.starts_with("application/graphql") {
        let document = String::from_utf8_lossy(body).into_owned();
        return Some(vec![GraphqlRequest { document: Some(document), operation_name: None, persisted: false }]);
    }
    let parsed = serde_json::from_slice::<Value>(body).ok();
    let from_value = |v: &Value| -> Option<GraphqlRequest> {
        let obj = v.as_object()?;
        // Other APIs take a `query` too (SQL, search): it must look like GraphQL, or the
        // endpoint must say it is one.
        let document = obj
            .get("query")
            .and_then(Value::as_str)
            .filter(|q| looks_graphql || starts_like_graphql(q))
            .map(str::to_owned);
        let persisted = obj.get("extensions").is_some_and(|e| e.get("persistedQuery").is_some())
            || obj.contains_key("documentId")
            || obj.contains_key("doc_id")
            || (obj.contains_key("id") && obj.contains_key("variables"));
        if document.is_none() && !persisted {
            return None;
        }
        let operation_name = obj.get("operationName").and_then(Value::as_str).map(str::to_owned);
        Some(GraphqlRequest { document, operation_name, persisted })
    };
    match parsed {
        Some(Value::Array(items)) => {
            let found: Vec<GraphqlRequest> = items.iter().filter_map(from_value).collect();
            // A batch where some entries are not GraphQL requests is not something to guess at.
            (!found.is_empty() || looks_graphql).then_some(found).map(|f| {
                if f.len() == items.len() {
                    f
                } else {
                    let mut f = f;
                    f.push(GraphqlRequest { document: None, operation_name: None, persisted: true });
                    f
                }
            })
        }
        Some(v) => from_value(&v).map(|r| vec![r]).or_else(|| looks_graphql.then(Vec::new)),
        None => looks_graphql.then(Vec::new),
    }
}

fn starts_like_graphql(text: &str) -> bool {
    let t = text.trim_start();
    t.starts_with('{') || ["query", "mutation", "subscription", "fragment"].iter().any(|k| t.starts_with(k))
}

fn classify_one(p: &Parsed<'_>, r: &GraphqlRequest) -> Vec<Effect> {
    let Some(text) = r.document.as_deref() else {
        let why = if r.persisted {
            "a persisted GraphQL query: the server runs a stored document Holdpoint cannot see"
        } else {
            "a GraphQL request without a document"
        };
        return vec![opaque(&p.endpoint, why, "graphql-persisted")];
    };
    if nesting(text) > MAX_NESTING {
        return vec![opaque(&p.endpoint, "a GraphQL document nested too deeply to read", "graphql-unreadable")];
    }
    let doc: Document<'_, &str> = match parse_query(text) {
        Ok(d) => d,
        Err(e) => {
            let first = e.to_string().lines().next().unwrap_or_default().to_owned();
            return vec![opaque(
                &p.endpoint,
                &format!("the GraphQL document does not parse ({first})"),
                "graphql-unreadable",
            )];
        }
    };
    let fragments: HashMap<&str, &SelectionSet<'_, &str>> = doc
        .definitions
        .iter()
        .filter_map(|d| match d {
            Definition::Fragment(f) => Some((f.name, &f.selection_set)),
            Definition::Operation(_) => None,
        })
        .collect();
    let operations: Vec<(Kind, Option<&str>, &SelectionSet<'_, &str>)> = doc
        .definitions
        .iter()
        .filter_map(|d| match d {
            Definition::Operation(OperationDefinition::SelectionSet(s)) => Some((Kind::Query, None, s)),
            Definition::Operation(OperationDefinition::Query(q)) => Some((Kind::Query, q.name, &q.selection_set)),
            Definition::Operation(OperationDefinition::Mutation(m)) => Some((Kind::Mutation, m.name, &m.selection_set)),
            Definition::Operation(OperationDefinition::Subscription(s)) => {
                Some((Kind::Query, s.name, &s.selection_set))
            }
            Definition::Fragment(_) => None,
        })
        .collect();
    // The operation the server would run; when the name matches none (or is absent with
    // several operations), every operation is judged and the strictest wins.
    let chosen: Vec<_> = match &r.operation_name {
        Some(name) if operations.iter().any(|(_, n, _)| *n == Some(name.as_str())) => {
            operations.iter().filter(|(_, n, _)| *n == Some(name.as_str())).collect()
        }
        _ => operations.iter().collect(),
    };
    let mut effects = Vec::new();
    for (kind, name, selection) in chosen {
        let mut fields = BTreeSet::new();
        let mut spreads = 0;
        let complete = top_fields(selection, &fragments, &mut fields, &mut spreads, &mut BTreeSet::new());
        let label = name.map(|n| format!(" {n}")).unwrap_or_default();
        if !complete {
            effects.push(opaque(
                &p.endpoint,
                "a GraphQL operation whose fragments cannot be followed",
                "graphql-unreadable",
            ));
        }
        match kind {
            Kind::Query => {
                let target = Target::new(TargetKind::Http, format!("{} query{label}", p.endpoint));
                effects.push(effect(Verb::Read, target, Reversibility::Reversible, "graphql-query", "a GraphQL query"));
            }
            Kind::Mutation => {
                for field in &fields {
                    let target = Target::new(TargetKind::Http, format!("{} mutation {field}", p.endpoint));
                    if destructive_name(field) {
                        effects.push(effect(
                            Verb::Delete,
                            target,
                            Reversibility::Irreversible,
                            "graphql-delete-mutation",
                            "a GraphQL mutation that deletes, revokes or resets something",
                        ));
                    } else {
                        effects.push(effect(
                            Verb::Write,
                            target,
                            Reversibility::Recoverable,
                            "graphql-mutation",
                            "a GraphQL mutation",
                        ));
                    }
                }
                if fields.is_empty() {
                    effects.push(opaque(&p.endpoint, "a GraphQL mutation with no fields", "graphql-unreadable"));
                }
            }
        }
    }
    if effects.is_empty() {
        effects.push(opaque(&p.endpoint, "a GraphQL document with no operation", "graphql-unreadable"));
    }
    effects
}

#[derive(Clone, Copy)]
enum Kind {
    Query,
    Mutation,
}

/// The real (not aliased) names of an operation's top-level fields, following fragment
/// spreads and inline fragments; false when a spread is unknown, cyclic or too many.
fn top_fields<'d>(
    set: &SelectionSet<'d, &'d str>,
    fragments: &HashMap<&'d str, &SelectionSet<'d, &'d str>>,
    out: &mut BTreeSet<&'d str>,
    spreads: &mut usize,
    seen: &mut BTreeSet<&'d str>,
) -> bool {
    let mut complete = true;
    for item in &set.items {
        match item {
            Selection::Field(f) => {
                out.insert(f.name);
            }
            Selection::InlineFragment(i) => complete &= top_fields(&i.selection_set, fragments, out, spreads, seen),
            Selection::FragmentSpread(s) => {
                *spreads += 1;
                let Some(body) = fragments.get(s.fragment_name) else { return false };
                if *spreads > MAX_SPREADS || !seen.insert(s.fragment_name) {
                    return false;
                }
                complete &= top_fields(body, fragments, out, spreads, seen);
                seen.remove(s.fragment_name);
            }
        }
    }
    complete
}

/// The deepest nesting of brackets outside strings, block strings and comments, lexed as
/// GraphQL does (so a bracket hidden in a string neither hides nor fakes depth).
fn nesting(text: &str) -> usize {
    let b = text.as_bytes();
    let (mut i, mut depth, mut max) = (0usize, 0usize, 0usize);
    while let Some(&c) = b.get(i) {
        match c {
            b'#' => {
                while b.get(i).is_some_and(|&c| c != b'\n' && c != b'\r') {
                    i += 1;
                }
            }
            b'"' if b.get(i + 1) == Some(&b'"') && b.get(i + 2) == Some(&b'"') => {
                i += 3;
                while i < b.len() && !(b.get(i..i + 3) == Some(b"\"\"\"") && b.get(i.wrapping_sub(1)) != Some(&b'\\')) {
                    i += 1;
                }
                i += 2;
            }
            b'"' => {
                i += 1;
                while let Some(&c) = b.get(i) {
                    match c {
                        b'\\' => i += 1,
                        b'"' | b'\n' | b'\r' => break,
                        _ => {}
                    }
                    i += 1;
                }
            }
            b'{' | b'(' | b'[' => {
                depth += 1;
                max = max.max(depth);
            }
            b'}' | b')' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    max
}

#[cfg(test)]
mod tests {
    use super::nesting;

    #[test]
    fn nesting_skips_strings_and_comments() {
        assert_eq!(nesting("{ a { b } }"), 2);
        assert_eq!(nesting(r#"{ a(x: "}}}}") { b { c } } }"#), 3);
        assert_eq!(nesting("{ a # }}}}\n { b } }"), 2);
        assert_eq!(nesting(r#"{ a(x: """ }}} \""" }}} """) { b { c } } }"#), 3);
        assert_eq!(nesting(&"{".repeat(100)), 100);
    }
}
