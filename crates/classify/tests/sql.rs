//! Data-driven SQL cases: `tests/data/sql.jsonl`, one SQL text per line with the verdict the
//! default (`guarded`) policy gives it, optionally the `strict` verdict, the rule that finds
//! it, an effect it must have, tags, the soft-delete rewrite and the literal flag. Then the
//! safety of the decision cache's keys over every case.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::BTreeMap;

use holdpoint_classify::sql::{self, Analysis, CacheKey, DecisionCache, SqlTarget, StatementKind, TrashOp};
use holdpoint_core::{Action, Actor, Channel, Effect, VerdictKind};
use holdpoint_policy::{Engine, Profile};
use serde::Deserialize;

const TARGET: &str = "postgres://db/app";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    sql: String,
    verdict: String,
    #[serde(default)]
    strict: Option<String>,
    #[serde(default)]
    rule: Option<String>,
    /// `VERB ID-BELOW-TARGET`, e.g. `delete table public.users`: an effect that must be found.
    #[serde(default)]
    effect: Option<String>,
    /// Tags the effect of `rule` (or `effect`) must carry.
    #[serde(default)]
    tags: Vec<String>,
    /// Tags no effect may carry.
    #[serde(default)]
    not_tags: Vec<String>,
    /// `drop_table`, `truncate`, `delete_all` or `none`.
    #[serde(default)]
    soft_delete: Option<String>,
    #[serde(default)]
    literal: Option<bool>,
    /// Statement kinds, in order.
    #[serde(default)]
    kinds: Option<Vec<String>>,
    #[serde(default)]
    production: bool,
    #[serde(default)]
    #[allow(dead_code)]
    why: Option<String>,
}

fn target(production: bool) -> SqlTarget {
    let t = SqlTarget::new(TARGET);
    if production { t.tagged("production") } else { t }
}

fn verdict(engine: &Engine, sql: &str, effects: &[Effect]) -> VerdictKind {
    let action = Action {
        channel: Channel::Sql,
        actor: Actor { agent: Some("claude".into()), session: None, workspace: "/home/dev/project".into() },
        target: TARGET.into(),
        input: sql.to_owned(),
        effects: effects.to_vec(),
    };
    engine.decide(&action).verdict.kind()
}

fn describe(a: &Analysis) -> String {
    let effects: Vec<String> = a
        .effects
        .iter()
        .map(|e| {
            format!(
                "{} {} {:?} {:?} {} {:?}",
                e.verb, e.target.kind, e.target.id, e.target.tags, e.reversibility, e.rule
            )
        })
        .collect();
    let statements: Vec<String> = a
        .statements
        .iter()
        .map(|s| format!("{:?} {:?} soft {:?} literal {}", s.kind, s.tables, s.soft_delete, s.literal_sensitive))
        .collect();
    format!("{}\n    {}", effects.join("\n    "), statements.join("\n    "))
}

fn kind_name(k: StatementKind) -> String {
    format!("{k:?}").to_lowercase()
}

fn cases() -> Vec<Case> {
    include_str!("data/sql.jsonl")
        .lines()
        .enumerate()
        .map(|(n, line)| serde_json::from_str(line).unwrap_or_else(|e| panic!("line {}: {e}", n + 1)))
        .collect()
}

/// Every way a case can be wrong, in words.
fn check(case: &Case, guarded: &Engine, strict: &Engine) -> Vec<String> {
    let a = sql::analyze(&case.sql, &target(case.production));
    let mut wrong = Vec::new();
    let got = verdict(guarded, &case.sql, &a.effects);
    if got.as_str() != case.verdict {
        wrong.push(format!("guarded verdict {got}, expected {}", case.verdict));
    }
    if let Some(expected) = &case.strict {
        let got = verdict(strict, &case.sql, &a.effects);
        if got.as_str() != expected {
            wrong.push(format!("strict verdict {got}, expected {expected}"));
        }
    }
    let ruled: Vec<&Effect> = a.effects.iter().filter(|e| case.rule.is_none() || e.rule == case.rule).collect();
    if ruled.is_empty() {
        wrong.push(format!("no effect with rule {:?}", case.rule));
    }
    let mut candidates = ruled.clone();
    if let Some(want) = &case.effect {
        let (verb, below) = want.split_once(' ').unwrap();
        let id = format!("{TARGET}/{below}");
        candidates.retain(|e| e.verb.as_str() == verb && e.target.id == id);
        if candidates.is_empty() {
            wrong.push(format!("no effect {want:?} with rule {:?}", case.rule));
        }
    }
    if !case.tags.is_empty() && !candidates.iter().any(|e| case.tags.iter().all(|t| e.target.tags.contains(t))) {
        wrong.push(format!("no matching effect tagged {:?}", case.tags));
    }
    for t in &case.not_tags {
        if a.effects.iter().any(|e| e.target.tags.contains(t)) {
            wrong.push(format!("an effect is tagged {t}"));
        }
    }
    if let Some(expected) = &case.soft_delete {
        let ops: Vec<&str> = a
            .statements
            .iter()
            .filter_map(|s| s.soft_delete.as_ref())
            .map(|s| match s.op {
                TrashOp::DropTable => "drop_table",
                TrashOp::Truncate => "truncate",
                TrashOp::DeleteAll => "delete_all",
            })
            .collect();
        let ok = if expected == "none" { ops.is_empty() } else { ops.contains(&expected.as_str()) };
        if !ok {
            wrong.push(format!("soft delete {ops:?}, expected {expected}"));
        }
    }
    if let Some(expected) = case.literal
        && a.literal_sensitive != expected
    {
        wrong.push(format!("literal_sensitive {}, expected {expected}", a.literal_sensitive));
    }
    if let Some(kinds) = &case.kinds {
        let got: Vec<String> = a.statements.iter().map(|s| kind_name(s.kind)).collect();
        if &got != kinds {
            wrong.push(format!("kinds {got:?}, expected {kinds:?}"));
        }
    }
    if !wrong.is_empty() {
        wrong.push(describe(&a));
    }
    wrong
}

#[test]
fn sql_cases() {
    let guarded = Engine::new(Profile::Guarded, &[]).unwrap();
    let strict = Engine::new(Profile::Strict, &[]).unwrap();
    let mut failures = Vec::new();
    let all = cases();
    for (n, case) in all.iter().enumerate() {
        let wrong = check(case, &guarded, &strict);
        if !wrong.is_empty() {
            failures.push(format!("line {}: {:?}\n    {}", n + 1, case.sql, wrong.join("\n    ")));
        }
    }
    assert!(all.len() >= 120, "the case file keeps at least 120 cases, has {}", all.len());
    assert!(failures.is_empty(), "{} failing cases:\n{}", failures.len(), failures.join("\n"));
}

/// Texts with one fingerprint must get one decision, unless the classifier said the decision
/// depends on literal values (then the cache keys them by exact text).
#[test]
fn texts_sharing_a_shape_key_share_their_effects() {
    let t = target(false);
    let mut by_key: BTreeMap<u64, Vec<(String, Analysis)>> = BTreeMap::new();
    for case in cases() {
        let a = sql::analyze(&case.sql, &t);
        if let Some(k) = a.key {
            by_key.entry(k).or_default().push((case.sql.clone(), a));
        }
    }
    let mut shared = 0;
    for group in by_key.values().filter(|g| g.len() > 1) {
        shared += 1;
        let shape: Vec<&(String, Analysis)> = group.iter().filter(|(_, a)| !a.literal_sensitive).collect();
        for (sql, a) in &shape {
            for (other_sql, other) in group {
                assert!(
                    !other.literal_sensitive,
                    "{sql:?} is cached by shape but {other_sql:?}, same fingerprint, depends on literals"
                );
                assert_eq!(a.effects, other.effects, "{sql:?} and {other_sql:?} share a shape key");
            }
        }
    }
    assert!(shared >= 5, "the cases include texts that share a fingerprint ({shared} groups)");
}

#[test]
fn a_cached_decision_is_never_reused_across_literals_that_matter() {
    let t = target(false);
    let mut cache: DecisionCache<String> = DecisionCache::new(100);
    let decide = |sql: &str| {
        let a = sql::analyze(sql, &t);
        let v = verdict(&Engine::new(Profile::Guarded, &[]).unwrap(), sql, &a.effects).as_str().to_owned();
        (a, v)
    };
    let pairs = [
        ("DELETE FROM users WHERE 1 = 2", "DELETE FROM users WHERE 1 = 1"),
        ("DELETE FROM users WHERE false", "DELETE FROM users WHERE true"),
        ("UPDATE users SET admin = true WHERE 'a' = 'b'", "UPDATE users SET admin = true WHERE 'a' = 'a'"),
        ("DELETE FROM users WHERE id = 1 OR 1 = 0", "DELETE FROM users WHERE id = 1 OR 1 = 1"),
        ("SET session_replication_role = origin", "SET session_replication_role = replica"),
        ("DELETE FROM users WHERE name LIKE 'a%'", "DELETE FROM users WHERE name LIKE '%'"),
    ];
    for (allowed, held) in pairs {
        assert_eq!(
            sql::statement_key(allowed),
            sql::statement_key(held),
            "{allowed:?} and {held:?} share a fingerprint"
        );
        let (a, v) = decide(allowed);
        assert_eq!(v, "allow", "{allowed}");
        assert!(matches!(a.cache_key(allowed), Some(CacheKey::Exact(..))), "{allowed}");
        cache.insert(allowed, &a, v);
        assert_eq!(cache.get(allowed).map(String::as_str), Some("allow"));
        assert_eq!(cache.get(held), None, "{held:?} must not reuse the decision about {allowed:?}");
        let (b, w) = decide(held);
        assert_eq!(w, "hold", "{held}");
        cache.insert(held, &b, w);
        assert_eq!(cache.get(held).map(String::as_str), Some("hold"));
        assert_eq!(cache.get(allowed).map(String::as_str), Some("allow"));
    }
}

#[test]
fn literals_that_do_not_matter_share_one_cached_decision() {
    let t = target(false);
    let mut cache: DecisionCache<&str> = DecisionCache::new(100);
    let first = "UPDATE pgbench_accounts SET abalance = abalance + 17 WHERE aid = 42";
    let a = sql::analyze(first, &t);
    assert!(!a.literal_sensitive, "{}", describe(&a));
    assert!(matches!(a.cache_key(first), Some(CacheKey::Shape(_))));
    cache.insert(first, &a, "allow");
    for same in [
        "UPDATE pgbench_accounts SET abalance = abalance + -3 WHERE aid = 9000",
        "update pgbench_accounts set abalance = abalance + $1 where aid = $2",
        "UPDATE pgbench_accounts SET abalance = abalance + 1 /* retry */ WHERE aid = 7",
    ] {
        assert_eq!(cache.get(same), Some(&"allow"), "{same}");
    }
    assert_eq!(cache.get("UPDATE pgbench_accounts SET abalance = 0"), None, "another shape");
    assert_eq!(cache.get("DELETE FROM pgbench_accounts WHERE aid = 42"), None, "another shape");
    assert_eq!(cache.len(), 1);
}

#[test]
fn names_are_part_of_the_shape_key() {
    for (a, b) in [
        ("DROP TABLE users", "DROP TABLE sessions"),
        ("ALTER TABLE users DROP COLUMN email", "ALTER TABLE users DROP COLUMN nickname"),
        ("DROP DATABASE app", "DROP DATABASE scratch"),
        ("DROP ROLE alice", "DROP ROLE bob"),
        ("SELECT pg_terminate_backend(1)", "SELECT pg_cancel_backend(1)"),
        ("SET statement_timeout = 0", "SET session_replication_role = 0"),
        ("DELETE FROM users WHERE id = id", "DELETE FROM users WHERE id = uid"),
        ("GRANT SELECT ON users TO alice", "GRANT SELECT ON users TO bob"),
    ] {
        assert_ne!(sql::statement_key(a), sql::statement_key(b), "{a:?} vs {b:?}");
    }
}

#[test]
fn the_cache_is_bounded_and_skips_what_does_not_parse() {
    let t = target(false);
    let mut cache: DecisionCache<u32> = DecisionCache::new(3);
    for (i, table) in ["a", "b", "c", "d"].iter().enumerate() {
        let sql = format!("SELECT * FROM {table}");
        cache.insert(&sql, &sql::analyze(&sql, &t), u32::try_from(i).unwrap());
    }
    assert_eq!(cache.len(), 1, "full at three: it started again");
    assert_eq!(cache.get("SELECT * FROM d"), Some(&3));
    let bad = "DELETE FROM WHERE";
    cache.insert(bad, &sql::analyze(bad, &t), 9);
    assert_eq!(cache.get(bad), None);
    assert_eq!(cache.len(), 1);
}

#[test]
fn every_statement_is_described() {
    let text = "BEGIN; DROP TABLE a; TRUNCATE b, c; DELETE FROM d; DELETE FROM e WHERE id = 1; COMMIT";
    let a = sql::analyze(text, &target(false));
    let kinds: Vec<String> = a.statements.iter().map(|s| kind_name(s.kind)).collect();
    assert_eq!(kinds, ["session", "drop", "truncate", "delete", "delete", "session"]);
    let spans: Vec<&str> = a.statements.iter().map(|s| &text[s.span.clone()]).collect();
    assert_eq!(
        spans,
        ["BEGIN", "DROP TABLE a", "TRUNCATE b, c", "DELETE FROM d", "DELETE FROM e WHERE id = 1", "COMMIT"]
    );
    let soft: Vec<Option<(TrashOp, Vec<String>)>> =
        a.statements.iter().map(|s| s.soft_delete.as_ref().map(|d| (d.op, d.tables.clone()))).collect();
    assert_eq!(
        soft,
        [
            None,
            Some((TrashOp::DropTable, vec!["public.a".into()])),
            Some((TrashOp::Truncate, vec!["public.b".into(), "public.c".into()])),
            Some((TrashOp::DeleteAll, vec!["public.d".into()])),
            None,
            None
        ]
    );
    assert_eq!(a.statements[4].tables, ["public.e"]);
    // Each statement has its own key; a one-statement text's key is the whole text's.
    assert_eq!(a.statements[1].key, sql::statement_key("DROP TABLE a"));
    assert_ne!(a.statements[1].key, a.statements[3].key);
    let one = sql::analyze("DROP TABLE a", &target(false));
    assert_eq!(one.key, one.statements[0].key);
}

#[test]
fn tables_of_a_statement_exclude_common_table_expressions() {
    let text = "WITH gone AS (DELETE FROM app.orders WHERE id = 3 RETURNING *) INSERT INTO archive SELECT * FROM gone JOIN customers c ON c.id = gone.customer";
    let a = sql::analyze(text, &target(false));
    let mut tables = a.statements[0].tables.clone();
    tables.sort();
    assert_eq!(tables, ["app.orders", "public.archive", "public.customers"], "{}", describe(&a));
}

#[test]
fn classification_never_comes_back_empty() {
    for text in ["", "   ", "-- only a comment", ";", ";;", "/* c */ ;", "\0", "DROP"] {
        let effects = holdpoint_classify::classify_sql(text, &target(false));
        assert!(!effects.is_empty(), "{text:?}");
    }
}

#[test]
fn deep_and_long_texts_are_decided_without_a_crash() {
    // Run on a 2 MiB stack, the size of a spawned thread's (tokio workers, the hook's worker).
    std::thread::Builder::new().stack_size(2 << 20).spawn(deep_and_long).unwrap().join().unwrap();
}

fn deep_and_long() {
    let t = target(false);
    let guarded = Engine::new(Profile::Guarded, &[]).unwrap();
    let texts = [
        format!("SELECT {}1{}", "(".repeat(50_000), ")".repeat(50_000)),
        format!("DELETE FROM users WHERE {}true", "NOT ".repeat(10_000)),
        format!("DELETE FROM users WHERE id = {}", vec!["1"; 50_000].join(" + ")),
        format!("DELETE FROM users WHERE id = {}", vec!["1"; 5_000].join(" + ")),
        format!("SELECT {}", vec!["x"; 5_000].join("::text::")),
        vec!["SELECT 1, 2"; 5_000].join(" UNION "),
        format!("SELECT * FROM a {}", vec!["JOIN b ON b.x = a.x AND b.y = a.y"; 3_000].join(" ")),
        format!("SELECT {} 1 {}", "CASE WHEN a AND b THEN 1 ELSE ".repeat(3_000), "END ".repeat(3_000)),
        format!("DELETE FROM users WHERE {}id = 1{} OR true", "(".repeat(60), ")".repeat(60)),
        "SELECT 1;".repeat(20_000),
    ];
    for text in &texts {
        let head: String = text.chars().take(40).collect();
        let a = sql::analyze(text, &t);
        assert!(!a.effects.is_empty(), "{head}");
        let v = verdict(&guarded, text, &a.effects);
        let refused = a.effects.iter().any(|e| matches!(e.rule.as_deref(), Some("sql-unparsed" | "sql-too-deep")));
        if refused || text.starts_with("DELETE") {
            assert_eq!(v, VerdictKind::Hold, "{head}: {}", describe(&a));
        }
        // The cache's key is computed for any text, deep or not.
        let _ = sql::statement_key(text);
    }
    assert_eq!(sql::analyze(&texts[9], &t).statements.len(), 20_000);
    let ten_joins = format!("SELECT * FROM a {}", ["JOIN b ON b.x = a.x AND b.y = a.y"; 10].join(" "));
    let wide = format!(
        "SELECT CASE {} END FROM t WHERE id IN ({})",
        "WHEN a = 1 AND b = 2 THEN 'x' ".repeat(200),
        vec!["7"; 5000].join(",")
    );
    for ordinary in [ten_joins, wide] {
        let a = sql::analyze(&ordinary, &t);
        assert_eq!(a.effects[0].rule.as_deref(), Some("sql-read"), "{}", describe(&a));
    }
}
