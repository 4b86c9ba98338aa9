//! SQL, parsed with PostgreSQL's own grammar (libpg_query through `pg_query`) and classified
//! statement by statement: drops, truncates, deletes and updates of every row, dropped columns
//! and constraints, data-modifying CTEs, `COPY ... PROGRAM`, functions with side effects
//! anywhere in an expression, procedural code (opaque), permission changes, settings that
//! turn safeguards off, and the reads and ordinary writes in between.
//!
//! Besides effects, [`analyze`] reports what a PostgreSQL proxy needs per statement: its kind,
//! the tables it touches, whether a soft-delete rewrite applies, and a literal-insensitive key
//! (pg_query's fingerprint) under which its decision can be cached, with a flag for the
//! statements whose decision depends on literal values (see [`DecisionCache`]).
//!
//! ```
//! use holdpoint_classify::sql::{SqlTarget, analyze};
//! use holdpoint_core::Verb;
//!
//! let target = SqlTarget::new("postgres://db.internal/app").tagged("production");
//! let a = analyze("SELECT 1; DELETE FROM users WHERE 1 = 1", &target);
//! assert_eq!(a.statements.len(), 2);
//! let delete = a.effects.iter().find(|e| e.verb == Verb::Delete).unwrap();
//! assert_eq!(delete.target.id, "postgres://db.internal/app/table public.users");
//! assert!(a.literal_sensitive, "1 = 1 and 1 = 2 share a fingerprint");
//! ```

mod cache;
mod ddl;
mod functions;
mod nesting;
mod predicate;
mod scan;
mod stmt;

use std::collections::BTreeSet;
use std::ops::Range;

use holdpoint_core::{Effect, Reversibility, Scope, Target, TargetKind, Verb};

pub use cache::{CacheKey, DecisionCache, statement_key};

/// The database a SQL text is sent to: its identity and its tags (from `[[postgres]]` config).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SqlTarget {
    /// `postgres://host/db`; effects name objects below it (`postgres://host/db/table public.users`).
    pub id: String,
    /// Tags every effect's target carries, such as `production`.
    pub tags: BTreeSet<String>,
}

impl SqlTarget {
    /// A target with no tags; an empty id becomes `postgres://unknown`.
    pub fn new(id: impl Into<String>) -> Self {
        let id = id.into();
        let id = if id.is_empty() { "postgres://unknown".to_owned() } else { id.trim_end_matches('/').to_owned() };
        SqlTarget { id, tags: BTreeSet::new() }
    }

    /// The same target with one more tag.
    #[must_use]
    pub fn tagged(mut self, tag: impl Into<String>) -> Self {
        self.tags.insert(tag.into());
        self
    }

    /// A target of this database: `kind` and `id` below it, with the database's tags.
    fn object(&self, kind: TargetKind, what: &str, name: &str) -> Target {
        let id = match (what, name) {
            ("", _) => self.id.clone(),
            (_, "") => format!("{}/{what}", self.id),
            _ => format!("{}/{what} {name}", self.id),
        };
        Target { kind, id, tags: self.tags.clone() }
    }
}

/// What kind of statement it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StatementKind {
    /// SELECT, VALUES, TABLE, SHOW, FETCH.
    Read,
    /// INSERT.
    Insert,
    /// UPDATE.
    Update,
    /// DELETE.
    Delete,
    /// MERGE.
    Merge,
    /// TRUNCATE.
    Truncate,
    /// DROP of any object (tables, schemas, databases, roles...).
    Drop,
    /// ALTER of a table or another object, RENAME, COMMENT.
    Alter,
    /// CREATE of any object (but functions, procedures, triggers and rules).
    Create,
    /// COPY.
    Copy,
    /// GRANT, REVOKE, role changes, ownership.
    Grant,
    /// Session and transaction control: SET, RESET, BEGIN, COMMIT, LISTEN, PREPARE...
    Session,
    /// EXPLAIN.
    Explain,
    /// Code Holdpoint does not see through: DO, CALL, EXECUTE, CREATE FUNCTION/TRIGGER/RULE.
    Procedural,
    /// VACUUM, ANALYZE, CLUSTER, REINDEX, REFRESH MATERIALIZED VIEW, ALTER SYSTEM.
    Maintenance,
    /// A statement Holdpoint does not know.
    Other,
}

/// The soft-delete rewrite a statement allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TrashOp {
    /// `DROP TABLE t` (without CASCADE): move the table into the trash schema.
    DropTable,
    /// `TRUNCATE t` (without CASCADE): copy the rows into the trash first.
    Truncate,
    /// `DELETE FROM t` with no WHERE: copy the rows into the trash first.
    DeleteAll,
}

/// A soft-delete rewrite that applies to a statement: what it does and to which tables.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SoftDelete {
    /// The rewrite.
    pub op: TrashOp,
    /// The tables, schema-qualified (`public.users`).
    pub tables: Vec<String>,
}

/// One statement of a SQL text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    /// What kind of statement it is.
    pub kind: StatementKind,
    /// Where it is in the text (bytes), without the `;` that ends it.
    pub span: Range<usize>,
    /// The tables it names, schema-qualified (unqualified names are shown in `public`,
    /// PostgreSQL's default search path).
    pub tables: Vec<String>,
    /// The soft-delete rewrite that applies, when one does.
    pub soft_delete: Option<SoftDelete>,
    /// Its decision depends on literal values (`WHERE 1=1` vs `WHERE 1=2`), so a decision
    /// cached under its fingerprint must not be reused for another text.
    pub literal_sensitive: bool,
    /// Its fingerprint: the same for statements that differ only in literal values.
    pub key: Option<u64>,
}

/// Everything the classifier found in a SQL text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Analysis {
    /// The effects of every statement (at least one).
    pub effects: Vec<Effect>,
    /// The statements, in order; empty when the text does not parse.
    pub statements: Vec<Statement>,
    /// The whole text's fingerprint; `None` when it does not parse.
    pub key: Option<u64>,
    /// Some statement's decision depends on literal values.
    pub literal_sensitive: bool,
}

impl Analysis {
    /// The key a decision about this text may be cached under: its fingerprint, or, when the
    /// decision depends on literal values, the fingerprint and the exact text. `None` when
    /// the text does not parse (such decisions are not cached).
    pub fn cache_key(&self, sql: &str) -> Option<CacheKey> {
        let key = self.key?;
        Some(if self.literal_sensitive { CacheKey::Exact(key, sql.to_owned()) } else { CacheKey::Shape(key) })
    }
}

const TOO_DEEP: &str = "the text nests deeper than Holdpoint classifies";

/// Classify every statement of a SQL text sent to `target`.
pub fn classify(sql: &str, target: &SqlTarget) -> Vec<Effect> {
    analyze(sql, target).effects
}

/// Classify every statement of a SQL text and describe each one.
pub fn analyze(sql: &str, target: &SqlTarget) -> Analysis {
    // Checked before parsing: libpg_query recurses without limit on deep trees.
    if nesting::estimate(sql) > nesting::MAX_NESTING {
        return unparsed(target, "sql-too-deep", TOO_DEEP.to_owned());
    }
    let parsed = match pg_query::parse(sql) {
        Ok(p) => p,
        // The tree's decoder refuses more than 100 levels of nesting.
        Err(pg_query::Error::Decode(_)) => return unparsed(target, "sql-too-deep", TOO_DEEP.to_owned()),
        Err(e) => {
            let why = format!("PostgreSQL's grammar does not accept this text: {e}");
            return unparsed(target, "sql-unparsed", why);
        }
    };
    let raw = &parsed.protobuf.stmts;
    let key = statement_key(sql);
    let mut effects: Vec<Effect> = Vec::new();
    let mut statements = Vec::with_capacity(raw.len());
    for stmt in raw {
        let span = span(sql, stmt.stmt_location, stmt.stmt_len);
        let c = stmt::classify(stmt.stmt.as_deref(), target);
        for e in c.effects {
            if !effects.contains(&e) {
                effects.push(e);
            }
        }
        let key = if raw.len() == 1 { key } else { sql.get(span.clone()).and_then(statement_key) };
        statements.push(Statement {
            kind: c.kind,
            span,
            tables: c.tables,
            soft_delete: c.soft_delete,
            literal_sensitive: c.literal,
            key,
        });
    }
    if effects.is_empty() {
        effects.push(effect(
            Verb::Read,
            target.object(TargetKind::Database, "", ""),
            Reversibility::Reversible,
            "sql-empty",
            "the text holds no statement",
        ));
    }
    let literal_sensitive = statements.iter().any(|s| s.literal_sensitive);
    Analysis { effects, statements, key, literal_sensitive }
}

/// A text the grammar refuses, or one too deep to parse: opaque, so it is held rather than
/// guessed at.
fn unparsed(target: &SqlTarget, rule: &str, why: String) -> Analysis {
    let mut e =
        effect(Verb::Opaque, target.object(TargetKind::Database, "", ""), Reversibility::Irreversible, rule, "");
    e.why = Some(why);
    Analysis { effects: vec![e], statements: Vec::new(), key: None, literal_sensitive: false }
}

/// A statement's byte range (`len` 0 means "to the end"), clamped to the text.
fn span(sql: &str, location: i32, len: i32) -> Range<usize> {
    let start = usize::try_from(location).unwrap_or(0).min(sql.len());
    let end = match usize::try_from(len) {
        Ok(0) | Err(_) => sql.len(),
        Ok(n) => start.saturating_add(n).min(sql.len()),
    };
    // Leading whitespace and comments belong to the statement in libpg_query's ranges.
    let text = sql.get(start..end).unwrap_or("");
    let skipped = text.len() - text.trim_start().len();
    (start + skipped)..end
}

/// An effect on a database object, with its rule and reason; SQL targets are remote.
pub(crate) fn effect(verb: Verb, target: Target, rev: Reversibility, rule: &str, why: &str) -> Effect {
    let mut e = Effect::new(verb, target, rev, Scope::Remote);
    e.rule = Some(rule.to_owned());
    e.why = Some(why.to_owned());
    e
}
