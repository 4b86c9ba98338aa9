//! The trash: soft deletes, and the library API that lists, restores and purges what they
//! kept.
//!
//! A statement the policy holds with the `soft_delete` obligation, and that the classifier
//! says can be rewritten faithfully, is sent rewritten instead of being held:
//!
//! - `DROP TABLE t` becomes one `DO` block that first runs the `DROP` itself in a
//!   subtransaction it rolls back (so every error and notice the client would get, such as
//!   dependent views or a missing table, is still the server's own), then renames the table's
//!   indexes and owned sequences to unique names, renames the table to `t_<time>_<id>` and moves
//!   it into the `holdpoint_trash` schema. The client sees `DROP TABLE`.
//! - `TRUNCATE t` and `DELETE FROM t` (no `WHERE`) are preceded by a `DO` block that locks the
//!   table against other writers and copies its rows into `holdpoint_trash.t_<time>_<id>`; the
//!   statement then runs as sent, in the same transaction, and its own result (`TRUNCATE
//!   TABLE`, `DELETE n`) is the client's.
//!
//! Each trashed table is a row of `holdpoint_trash."index"`: id, original name, trashed name,
//! op, time, row count, statement. What the trash cannot take back faithfully is refused with
//! SQLSTATE `HP002` by the block itself: a table with partitions or inheritance children (or a
//! dropped partition), and an unqualified name the session's `search_path` resolves elsewhere
//! than `public`.
//!
//! [`TrashBin`] is the API `holdpoint trash` (and a console) uses; [`PgTrash`] implements it
//! over a direct connection with the block's vault credential.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use holdpoint_classify::sql::{Statement, TrashOp};
use holdpoint_policy::config::PostgresProxy;
use holdpoint_vault::Vault;
use serde::Serialize;

use super::client::{Client, ClientError, Row};
use super::upstream_credential;

/// The schema trashed tables are kept in.
pub const TRASH_SCHEMA: &str = "holdpoint_trash";

/// What the client receives for one statement of a rewritten text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// The statement's own results.
    Pass,
    /// Holdpoint's statement: its `CommandComplete` is not relayed.
    Swallow,
    /// Holdpoint's statement in place of the client's: its `CommandComplete` carries this tag.
    Tag(&'static str),
}

/// A soft-deleting rewrite of a simple-query text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Rewrite {
    /// The text sent instead.
    pub text: String,
    /// One step per statement of `text`, in order.
    pub steps: Vec<Step>,
    /// The tables it trashes, schema-qualified.
    pub tables: Vec<String>,
}

/// The rewrite of `sql` whose statements are `statements`; `None` when some soft delete cannot
/// be rewritten (a name Holdpoint cannot split, a table of the trash itself).
pub(crate) fn rewrite(sql: &str, statements: &[Statement]) -> Option<Rewrite> {
    let mut parts = Vec::new();
    let mut steps = Vec::new();
    let mut trashed = Vec::new();
    for s in statements {
        let text = sql.get(s.span.clone())?;
        if text.trim().is_empty() {
            continue;
        }
        let Some(soft) = &s.soft_delete else {
            parts.push(text.to_owned());
            steps.push(Step::Pass);
            continue;
        };
        let tables: Vec<(String, String)> = soft.tables.iter().map(|t| split_table(t)).collect::<Option<_>>()?;
        if tables.iter().any(|(schema, _)| schema == TRASH_SCHEMA) {
            return None;
        }
        trashed.extend(soft.tables.iter().cloned());
        match soft.op {
            TrashOp::DropTable => {
                parts.push(drop_block(text, &tables));
                steps.push(Step::Tag("DROP TABLE"));
            }
            TrashOp::Truncate | TrashOp::DeleteAll => {
                parts.push(copy_block(soft.op, text, &tables));
                steps.push(Step::Swallow);
                parts.push(text.to_owned());
                steps.push(Step::Pass);
            }
        }
    }
    if trashed.is_empty() {
        return None;
    }
    // A newline first: a statement may end in a line comment.
    Some(Rewrite { text: parts.join("\n;\n"), steps, tables: trashed })
}

/// `schema.table` as its two names; `None` for anything else.
fn split_table(name: &str) -> Option<(String, String)> {
    let (schema, table) = name.split_once('.')?;
    if schema.is_empty() || table.is_empty() || table.contains('.') {
        return None;
    }
    Some((schema.to_owned(), table.to_owned()))
}

/// A SQL string literal of `text` that is safe inside a `$holdpoint$` block whatever
/// `standard_conforming_strings` says: an escape string with no `$`.
pub(crate) fn literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 3);
    out.push_str("E'");
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '$' => out.push_str("\\x24"),
            '\0' => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// Creates the trash schema and its index when missing (no notice when present).
const SETUP: &str = r#"
  IF to_regnamespace('holdpoint_trash') IS NULL THEN
    CREATE SCHEMA holdpoint_trash;
  END IF;
  IF to_regclass('holdpoint_trash."index"') IS NULL THEN
    CREATE TABLE holdpoint_trash."index" (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      original text NOT NULL,
      trashed text NOT NULL,
      op text NOT NULL,
      at timestamptz NOT NULL DEFAULT now(),
      row_count bigint,
      statement text NOT NULL,
      source_schema text NOT NULL,
      source_table text NOT NULL,
      renames jsonb NOT NULL DEFAULT '[]'
    );
  END IF;"#;

/// The declarations and the per-table loop head every trashing block shares: `hp_rel` is the
/// table, or the loop goes on when it does not exist (`IF EXISTS`: the statement itself says
/// so). An unqualified name (the classifier shows it in `public`) that this session resolves
/// elsewhere (`search_path`, a temporary table) is refused: the trash would keep another table
/// than the one the statement names.
const LOOP_HEAD: &str = r#"
  FOR hp_i IN 1 .. coalesce(array_length(hp_tables, 1), 0) / 2 LOOP
    hp_s := hp_tables[2 * hp_i - 1];
    hp_t := hp_tables[2 * hp_i];
    hp_rel := to_regclass(format('%I.%I', hp_s, hp_t));
    IF hp_s = 'public' AND to_regclass(format('%I', hp_t)) IS DISTINCT FROM hp_rel THEN
      RAISE EXCEPTION USING ERRCODE = 'HP002', MESSAGE = format(
        'Holdpoint cannot move %I into its trash: this session finds another table of that name first '
        '(search_path, or a temporary table); name the table with its schema', hp_t);
    END IF;
    CONTINUE WHEN hp_rel IS NULL;"#;

fn declare(stmt: &str, tables: &[(String, String)]) -> String {
    let names: Vec<String> = tables.iter().flat_map(|(s, t)| [literal(s), literal(t)]).collect();
    format!(
        "DO $holdpoint$\nDECLARE\n  hp_stmt text := {};\n  hp_tables text[] := ARRAY[{}]::text[];\n  \
         hp_s text; hp_t text; hp_rel regclass; hp_id bigint; hp_name text; hp_count bigint;\n  \
         hp_renames jsonb; hp_n int; hp_obj record;\nBEGIN",
        literal(stmt),
        names.join(", ")
    )
}

/// The block that moves the tables of a `DROP TABLE` statement into the trash.
fn drop_block(stmt: &str, tables: &[(String, String)]) -> String {
    let mut sql = declare(stmt, tables);
    sql.push_str(
        r#"
  BEGIN
    EXECUTE hp_stmt;
    RAISE EXCEPTION USING ERRCODE = 'HP000';
  EXCEPTION WHEN SQLSTATE 'HP000' THEN NULL;
  END;"#,
    );
    sql.push_str(SETUP);
    sql.push_str(LOOP_HEAD);
    sql.push_str(
        r#"
    IF EXISTS (SELECT 1 FROM pg_inherits WHERE inhparent = hp_rel OR inhrelid = hp_rel) THEN
      RAISE EXCEPTION USING ERRCODE = 'HP002', MESSAGE = format(
        'Holdpoint cannot move %s into its trash: it has partitions or inheritance children, or is one', hp_rel);
    END IF;
    EXECUTE format('SELECT count(*) FROM %s', hp_rel) INTO hp_count;
    INSERT INTO holdpoint_trash."index" (original, trashed, op, row_count, statement, source_schema, source_table)
      VALUES (format('%I.%I', hp_s, hp_t), '', 'drop_table', hp_count, hp_stmt, hp_s, hp_t) RETURNING id INTO hp_id;
    hp_name := format('%s_%s_%s', left(hp_t, 30), to_char(now(), 'YYYYMMDD"T"HH24MISS'), hp_id);
    hp_renames := '[]';
    hp_n := 0;
    FOR hp_obj IN
      SELECT c.oid::regclass AS rel, c.relname::text AS relname,
             CASE WHEN c.relkind = 'S' THEN 'SEQUENCE' ELSE 'INDEX' END AS kind
      FROM pg_class c
      WHERE c.oid IN (SELECT i.indexrelid FROM pg_index i WHERE i.indrelid = hp_rel)
         OR (c.relkind = 'S' AND c.oid IN (
              SELECT d.objid FROM pg_depend d
              WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
                AND d.refobjid = hp_rel AND d.deptype IN ('a', 'i')))
      ORDER BY c.oid
    LOOP
      hp_n := hp_n + 1;
      EXECUTE format('ALTER %s %s RENAME TO %I', hp_obj.kind, hp_obj.rel, format('hp%s_%s', hp_id, hp_n));
      hp_renames := hp_renames || jsonb_build_array(jsonb_build_object(
        'name', format('hp%s_%s', hp_id, hp_n), 'was', hp_obj.relname, 'kind', hp_obj.kind));
    END LOOP;
    EXECUTE format('ALTER TABLE %s RENAME TO %I', hp_rel, hp_name);
    EXECUTE format('ALTER TABLE %I.%I SET SCHEMA holdpoint_trash', hp_s, hp_name);
    UPDATE holdpoint_trash."index" SET trashed = hp_name, renames = hp_renames WHERE id = hp_id;
  END LOOP;
END
$holdpoint$"#,
    );
    sql
}

/// The block that copies the rows of a `TRUNCATE` or `DELETE` statement's tables into the
/// trash before it runs.
fn copy_block(op: TrashOp, stmt: &str, tables: &[(String, String)]) -> String {
    let op = if op == TrashOp::Truncate { "truncate" } else { "delete_all" };
    let mut sql = declare(stmt, tables);
    sql.push_str(SETUP);
    sql.push_str(LOOP_HEAD);
    sql.push_str(&format!(
        r#"
    IF EXISTS (SELECT 1 FROM pg_inherits WHERE inhparent = hp_rel) THEN
      RAISE EXCEPTION USING ERRCODE = 'HP002', MESSAGE = format(
        'Holdpoint cannot copy %s into its trash: it has partitions or inheritance children; name them one by one', hp_rel);
    END IF;
    EXECUTE format('LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE', hp_rel);
    INSERT INTO holdpoint_trash."index" (original, trashed, op, statement, source_schema, source_table)
      VALUES (format('%I.%I', hp_s, hp_t), '', '{op}', hp_stmt, hp_s, hp_t) RETURNING id INTO hp_id;
    hp_name := format('%s_%s_%s', left(hp_t, 30), to_char(now(), 'YYYYMMDD"T"HH24MISS'), hp_id);
    EXECUTE format('CREATE TABLE holdpoint_trash.%I AS SELECT * FROM %s', hp_name, hp_rel);
    EXECUTE format('SELECT count(*) FROM holdpoint_trash.%I', hp_name) INTO hp_count;
    UPDATE holdpoint_trash."index" SET trashed = hp_name, row_count = hp_count WHERE id = hp_id;
  END LOOP;
END
$holdpoint$"#
    ));
    sql
}

/// The block that puts trash entry `id` back: a dropped table moves back under its name (its
/// indexes and sequences too); copied rows are inserted again. Custom SQLSTATEs: `HPT01` no
/// such entry, `HPT02` the name is taken, `HPT03` the table to refill is gone.
fn restore_block(id: u64) -> String {
    format!(
        r#"DO $holdpoint$
DECLARE
  hp_e record; hp_r jsonb; hp_src regclass; hp_dst regclass; hp_cols text;
BEGIN
  IF to_regclass('holdpoint_trash."index"') IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'HPT01', MESSAGE = 'the trash is empty';
  END IF;
  SELECT * INTO hp_e FROM holdpoint_trash."index" WHERE id = {id} FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'HPT01', MESSAGE = 'no trash entry {id}';
  END IF;
  hp_src := to_regclass(format('holdpoint_trash.%I', hp_e.trashed));
  IF hp_src IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'HPT03', MESSAGE = format('the trashed table holdpoint_trash.%I is gone', hp_e.trashed);
  END IF;
  hp_dst := to_regclass(format('%I.%I', hp_e.source_schema, hp_e.source_table));
  IF hp_e.op = 'drop_table' THEN
    IF hp_dst IS NOT NULL THEN
      RAISE EXCEPTION USING ERRCODE = 'HPT02', MESSAGE = format(
        '%s is taken by another table; rename or drop that one first, then restore', hp_e.original);
    END IF;
    IF to_regnamespace(quote_ident(hp_e.source_schema)) IS NULL THEN
      RAISE EXCEPTION USING ERRCODE = 'HPT03', MESSAGE = format(
        'the schema %I is gone; create it again, then restore', hp_e.source_schema);
    END IF;
    EXECUTE format('ALTER TABLE holdpoint_trash.%I SET SCHEMA %I', hp_e.trashed, hp_e.source_schema);
    FOR hp_r IN SELECT * FROM jsonb_array_elements(hp_e.renames) LOOP
      EXECUTE format('ALTER %s %I.%I RENAME TO %I', CASE WHEN hp_r->>'kind' = 'SEQUENCE' THEN 'SEQUENCE' ELSE 'INDEX' END,
        hp_e.source_schema, hp_r->>'name', hp_r->>'was');
    END LOOP;
    EXECUTE format('ALTER TABLE %I.%I RENAME TO %I', hp_e.source_schema, hp_e.trashed, hp_e.source_table);
  ELSE
    IF hp_dst IS NULL THEN
      RAISE EXCEPTION USING ERRCODE = 'HPT03', MESSAGE = format(
        '%s is gone; create it again, then restore its rows', hp_e.original);
    END IF;
    SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO hp_cols
      FROM pg_attribute a
      WHERE a.attrelid = hp_dst AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated <> 's'
        AND EXISTS (SELECT 1 FROM pg_attribute b
                    WHERE b.attrelid = hp_src AND b.attname = a.attname AND b.attnum > 0 AND NOT b.attisdropped);
    EXECUTE format('INSERT INTO %s (%s) OVERRIDING SYSTEM VALUE SELECT %s FROM %s', hp_dst, hp_cols, hp_cols, hp_src);
    EXECUTE format('DROP TABLE %s', hp_src);
  END IF;
  DELETE FROM holdpoint_trash."index" WHERE id = hp_e.id;
END
$holdpoint$"#
    )
}

/// The block that deletes trash entry `id` for good.
fn purge_block(id: u64) -> String {
    format!(
        r#"DO $holdpoint$
DECLARE
  hp_e record;
BEGIN
  IF to_regclass('holdpoint_trash."index"') IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'HPT01', MESSAGE = 'the trash is empty';
  END IF;
  SELECT * INTO hp_e FROM holdpoint_trash."index" WHERE id = {id} FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'HPT01', MESSAGE = 'no trash entry {id}';
  END IF;
  EXECUTE format('DROP TABLE IF EXISTS holdpoint_trash.%I', hp_e.trashed);
  DELETE FROM holdpoint_trash."index" WHERE id = hp_e.id;
END
$holdpoint$"#
    )
}

/// The trash index's rows, oldest first.
const LIST: &str = r#"SELECT id, original, trashed, op,
  to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), row_count, statement
  FROM holdpoint_trash."index" ORDER BY id"#;

/// One trashed table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TrashEntry {
    /// Its id in the trash index.
    pub id: u64,
    /// The table it was, `schema.table`.
    pub original: String,
    /// Its name in the `holdpoint_trash` schema.
    pub trashed: String,
    /// `drop_table`, `truncate` or `delete_all`.
    pub op: String,
    /// When, RFC 3339 in UTC.
    pub at: String,
    /// The rows it kept.
    pub row_count: Option<u64>,
    /// The statement that trashed it.
    pub statement: String,
}

/// Why a trash operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TrashError {
    /// No such entry.
    #[error("{0}")]
    NotFound(String),
    /// A dropped table's name is taken again.
    #[error("{0}")]
    NameTaken(String),
    /// The credential, the connection or the server failed.
    #[error("{0}")]
    Database(String),
}

impl From<ClientError> for TrashError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Server { code, message } if code == "HPT01" => TrashError::NotFound(message),
            ClientError::Server { code, message } if code == "HPT02" => TrashError::NameTaken(message),
            other => TrashError::Database(other.to_string()),
        }
    }
}

/// A boxed future of a trash operation.
pub type TrashFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, TrashError>> + Send + 'a>>;

/// The trash of one database.
pub trait TrashBin: Send + Sync {
    /// Every entry, oldest first.
    fn list(&self) -> TrashFuture<'_, Vec<TrashEntry>>;
    /// Puts entry `id` back; the entry it was.
    fn restore(&self, id: u64) -> TrashFuture<'_, TrashEntry>;
    /// Deletes entry `id` for good (callers hold this for approval first); the entry it was.
    fn purge(&self, id: u64) -> TrashFuture<'_, TrashEntry>;
}

/// The trash of a `[[postgres]]` block's database, reached directly with its vault credential.
pub struct PgTrash {
    block: PostgresProxy,
    vault: Arc<Vault>,
}

impl std::fmt::Debug for PgTrash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgTrash").field("block", &self.block).finish_non_exhaustive()
    }
}

impl PgTrash {
    /// The trash of `block`'s database, connecting with its credential in `vault`.
    pub fn new(block: PostgresProxy, vault: Arc<Vault>) -> PgTrash {
        PgTrash { block, vault }
    }

    async fn connect(&self) -> Result<Client, TrashError> {
        let upstream = upstream_credential(&self.block, Some(&self.vault)).map_err(TrashError::Database)?;
        Ok(Client::connect(&self.block, &upstream).await?)
    }

    async fn entries(client: &mut Client) -> Result<Vec<TrashEntry>, TrashError> {
        let exists = client.query("SELECT to_regclass('holdpoint_trash.\"index\"') IS NOT NULL").await?;
        if exists.first().and_then(|r| r.first()).and_then(Option::as_deref) != Some("t") {
            return Ok(Vec::new());
        }
        client.query(LIST).await?.into_iter().map(entry).collect()
    }

    async fn one(client: &mut Client, id: u64) -> Result<TrashEntry, TrashError> {
        Self::entries(client)
            .await?
            .into_iter()
            .find(|e| e.id == id)
            .ok_or_else(|| TrashError::NotFound(format!("no trash entry {id} (`holdpoint trash list`)")))
    }

    async fn run(&self, id: u64, block: String) -> Result<TrashEntry, TrashError> {
        let mut client = self.connect().await?;
        let result = async {
            let entry = Self::one(&mut client, id).await?;
            client.query(&block).await?;
            Ok(entry)
        }
        .await;
        client.close().await;
        result
    }
}

impl TrashBin for PgTrash {
    fn list(&self) -> TrashFuture<'_, Vec<TrashEntry>> {
        Box::pin(async move {
            let mut client = self.connect().await?;
            let entries = Self::entries(&mut client).await;
            client.close().await;
            entries
        })
    }

    fn restore(&self, id: u64) -> TrashFuture<'_, TrashEntry> {
        Box::pin(self.run(id, restore_block(id)))
    }

    fn purge(&self, id: u64) -> TrashFuture<'_, TrashEntry> {
        Box::pin(self.run(id, purge_block(id)))
    }
}

/// A row of [`LIST`].
fn entry(row: Row) -> Result<TrashEntry, TrashError> {
    let bad = || TrashError::Database("the trash index has an unexpected shape".into());
    let text = |i: usize| row.get(i).cloned().flatten();
    Ok(TrashEntry {
        id: text(0).and_then(|v| v.parse().ok()).ok_or_else(bad)?,
        original: text(1).ok_or_else(bad)?,
        trashed: text(2).ok_or_else(bad)?,
        op: text(3).ok_or_else(bad)?,
        at: text(4).unwrap_or_default(),
        row_count: text(5).and_then(|v| v.parse().ok()),
        statement: text(6).unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use holdpoint_classify::sql::{SqlTarget, analyze};

    #[test]
    fn literals_never_hold_a_dollar_or_an_unescaped_quote() {
        assert_eq!(literal("a'b\\c$d"), "E'a\\'b\\\\c\\x24d'");
    }

    #[test]
    fn rewrites_keep_other_statements_and_say_what_the_client_sees() {
        let sql = "SELECT 1; DROP TABLE a; TRUNCATE b -- why\n; DELETE FROM c";
        let a = analyze(sql, &SqlTarget::new("postgres://h/d"));
        let r = rewrite(sql, &a.statements).unwrap();
        assert_eq!(
            r.steps,
            vec![Step::Pass, Step::Tag("DROP TABLE"), Step::Swallow, Step::Pass, Step::Swallow, Step::Pass]
        );
        assert_eq!(r.tables, vec!["public.a", "public.b", "public.c"]);
        let again = analyze(&r.text, &SqlTarget::new("postgres://h/d"));
        assert_eq!(again.statements.len(), 6, "{}", r.text);
        assert!(!r.text.contains("$$"));
        let trash = analyze("DROP TABLE holdpoint_trash.x", &SqlTarget::new("postgres://h/d"));
        assert!(rewrite("DROP TABLE holdpoint_trash.x", &trash.statements).is_none());
    }
}
