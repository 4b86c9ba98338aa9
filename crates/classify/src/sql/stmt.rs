//! One statement: its kind and effects, from its typed node, checked against the complete
//! walk in `scan.rs` (functions, relations, nested data-modifying statements).

use holdpoint_core::{Effect, Reversibility, TargetKind, Verb};
use pg_query::NodeEnum;
use pg_query::protobuf::{
    CmdType, CopyStmt, DeleteStmt, DropBehavior, InsertStmt, MergeStmt, Node, RangeVar, SelectStmt, UpdateStmt,
    WithClause,
};

use super::predicate::{Eval, Rows};
use super::scan::{self, Scan};
use super::{SoftDelete, SqlTarget, StatementKind, TrashOp, effect, functions};

/// Nesting beyond which the fingerprint stops looking (it cuts off at 100 levels): decisions
/// about deeper texts are cached only for the exact text.
const DEEP: usize = 90;

/// Tag of a SQL delete the trash cannot take back (the soft-delete obligation skips it).
pub(crate) const NO_TRASH: &str = "no_trash";
/// Tag of a drop with CASCADE: dependent objects go too.
pub(crate) const CASCADE: &str = "cascade";
/// Tag of an effect on the database server itself: its files, programs or configuration.
pub(crate) const DB_SERVER: &str = "db_server";

/// What one statement does.
pub(crate) struct Classified {
    pub kind: StatementKind,
    pub effects: Vec<Effect>,
    pub tables: Vec<String>,
    pub soft_delete: Option<SoftDelete>,
    pub literal: bool,
}

/// The classifier's state for one top-level statement.
pub(crate) struct Stmt<'a> {
    pub target: &'a SqlTarget,
    pub kind: Option<StatementKind>,
    pub effects: Vec<Effect>,
    /// Tables the typed code named as targets (they get no extra `read`).
    pub named: Vec<String>,
    pub soft_delete: Option<SoftDelete>,
    pub literal: bool,
    /// Data-modifying statements the typed code classified.
    pub dml: usize,
    /// The statement is opaque: whatever is nested in it is covered.
    pub opaque: bool,
}

/// Classify one top-level statement (`None`: an empty statement).
pub(crate) fn classify(node: Option<&Node>, target: &SqlTarget) -> Classified {
    let mut s = Stmt {
        target,
        kind: None,
        effects: Vec::new(),
        named: Vec::new(),
        soft_delete: None,
        literal: false,
        dml: 0,
        opaque: false,
    };
    let Some(node) = node else {
        return Classified {
            kind: StatementKind::Other,
            effects: Vec::new(),
            tables: Vec::new(),
            soft_delete: None,
            literal: false,
        };
    };
    s.node(node);
    let found = scan::scan(node);
    s.finish(&found)
}

/// `schema.name`, unqualified names shown in `public` (PostgreSQL's default search path).
pub(crate) fn qualify(schema: &str, name: &str) -> String {
    if schema.is_empty() { format!("public.{name}") } else { format!("{schema}.{name}") }
}

pub(crate) fn relation(r: Option<&RangeVar>) -> String {
    r.map_or_else(|| "?".to_owned(), |r| qualify(&r.schemaname, &r.relname))
}

impl Stmt<'_> {
    /// Record the statement kind (the outermost statement's kind wins).
    pub fn kind(&mut self, kind: StatementKind) {
        self.kind.get_or_insert(kind);
    }

    /// Push an effect on `what name` of this database.
    #[allow(clippy::too_many_arguments)]
    pub fn push(
        &mut self,
        verb: Verb,
        kind: TargetKind,
        what: &str,
        name: &str,
        rev: Reversibility,
        rule: &str,
        why: &str,
        tags: &[&str],
    ) {
        let mut target = self.target.object(kind, what, name);
        target.tags.extend(tags.iter().map(|t| (*t).to_owned()));
        if what == "table" {
            self.named.push(name.to_owned());
        }
        let e = effect(verb, target, rev, rule, why);
        if !self.effects.contains(&e) {
            self.effects.push(e);
        }
    }

    /// An effect Holdpoint cannot see through.
    pub fn opaque(&mut self, what: &str, rule: &str, why: &str) {
        self.opaque = true;
        self.push(Verb::Opaque, TargetKind::Database, what, "", Reversibility::Irreversible, rule, why, &[]);
    }

    /// A plain write of an object (DDL, ordinary DML).
    pub fn write(&mut self, what: &str, name: &str, why: &str) {
        self.push(Verb::Write, TargetKind::Table, what, name, Reversibility::Reversible, "sql-write", why, &[]);
    }

    /// Session or transaction control: changes nothing stored.
    pub fn session(&mut self, why: &str) {
        self.kind(StatementKind::Session);
        self.push(Verb::Execute, TargetKind::Database, "", "", Reversibility::Reversible, "sql-session", why, &[]);
    }

    /// Any statement node, top-level or nested.
    pub fn node(&mut self, node: &Node) {
        let Some(n) = node.node.as_ref() else { return };
        match n {
            NodeEnum::SelectStmt(s) => self.select(s),
            NodeEnum::InsertStmt(s) => self.insert(s),
            NodeEnum::UpdateStmt(s) => self.update(s),
            NodeEnum::DeleteStmt(s) => self.delete(s),
            NodeEnum::MergeStmt(s) => self.merge(s),
            NodeEnum::CopyStmt(s) => self.copy(s),
            NodeEnum::ExplainStmt(s) => {
                self.kind(StatementKind::Explain);
                let analyze =
                    s.options.iter().any(|o| matches!(&o.node, Some(NodeEnum::DefElem(d)) if d.defname == "analyze"));
                match s.query.as_deref() {
                    // EXPLAIN ANALYZE runs the statement.
                    Some(q) if analyze => self.node(q),
                    // Plain EXPLAIN only plans it: the nested statement is read, not run.
                    Some(q) => self.dml += scan::scan(q).dml,
                    None => {}
                }
            }
            NodeEnum::PrepareStmt(s) => {
                // Classified now: EXECUTE later runs it unseen.
                self.kind(StatementKind::Session);
                if let Some(q) = s.query.as_deref() {
                    self.node(q);
                }
            }
            NodeEnum::DeclareCursorStmt(s) => {
                self.kind(StatementKind::Read);
                if let Some(q) = s.query.as_deref() {
                    self.node(q);
                }
            }
            NodeEnum::CreateTableAsStmt(s) => {
                self.kind(StatementKind::Create);
                let into = relation(s.into.as_deref().and_then(|i| i.rel.as_ref()));
                self.write("table", &into, "creates a table from a query");
                if let Some(q) = s.query.as_deref() {
                    self.node(q);
                }
            }
            _ => self.other(node),
        }
    }

    fn with(&mut self, w: Option<&WithClause>) {
        for cte in w.into_iter().flat_map(|w| &w.ctes) {
            if let Some(NodeEnum::CommonTableExpr(c)) = cte.node.as_ref()
                && let Some(q) = c.ctequery.as_deref()
            {
                self.node(q);
            }
        }
    }

    fn select(&mut self, s: &SelectStmt) {
        self.kind(StatementKind::Read);
        self.with(s.with_clause.as_ref());
        if let Some(rel) = s.into_clause.as_deref().and_then(|i| i.rel.as_ref()) {
            let name = relation(Some(rel));
            self.write("table", &name, "SELECT INTO creates a table");
        }
        for side in [s.larg.as_deref(), s.rarg.as_deref()].into_iter().flatten() {
            self.select(side);
        }
    }

    fn insert(&mut self, s: &InsertStmt) {
        self.kind(StatementKind::Insert);
        self.dml += 1;
        self.with(s.with_clause.as_ref());
        let table = relation(s.relation.as_ref());
        self.write("table", &table, "inserts rows");
        if let Some(q) = s.select_stmt.as_deref() {
            self.node(q);
        }
    }

    fn update(&mut self, s: &UpdateStmt) {
        self.kind(StatementKind::Update);
        self.dml += 1;
        self.with(s.with_clause.as_ref());
        let table = relation(s.relation.as_ref());
        match self.rows(s.where_clause.as_deref()) {
            Some(why) => self.push(
                Verb::Write,
                TargetKind::Table,
                "table",
                &table,
                Reversibility::Irreversible,
                "sql-update-all",
                &format!("updates every row: {why}"),
                &[],
            ),
            None => self.write("table", &table, "updates the rows its WHERE clause selects"),
        }
    }

    fn delete(&mut self, s: &DeleteStmt) {
        self.kind(StatementKind::Delete);
        self.dml += 1;
        self.with(s.with_clause.as_ref());
        let table = relation(s.relation.as_ref());
        let Some(why) = self.rows(s.where_clause.as_deref()) else {
            return self.write("table", &table, "deletes the rows its WHERE clause selects");
        };
        // Plain `DELETE FROM t` can be rewritten into "copy the rows to the trash, then delete".
        let plain = s.where_clause.is_none() && s.using_clause.is_empty() && s.with_clause.is_none();
        let tags: &[&str] = if plain { &[] } else { &[NO_TRASH] };
        if plain {
            self.soft_delete = Some(SoftDelete { op: TrashOp::DeleteAll, tables: vec![table.clone()] });
        }
        self.push(
            Verb::Delete,
            TargetKind::Table,
            "table",
            &table,
            Reversibility::Irreversible,
            "sql-delete-all",
            &format!("deletes every row: {why}"),
            tags,
        );
    }

    /// Why a WHERE clause (or its absence) selects every row; `None` for a real filter.
    fn rows(&mut self, clause: Option<&Node>) -> Option<&'static str> {
        let Some(clause) = clause else {
            // A WHERE clause of constants (`WHERE false`, `WHERE $1`) has the fingerprint of none.
            self.literal = true;
            return Some("there is no WHERE clause");
        };
        let mut eval = Eval::default();
        let rows = eval.rows(clause);
        self.literal |= eval.literal;
        match rows {
            Rows::All => Some("its WHERE clause is always true"),
            Rows::AllOrNone => Some("its WHERE clause does not depend on the row, so it selects every row or none"),
            Rows::None | Rows::Some => None,
        }
    }

    fn merge(&mut self, s: &MergeStmt) {
        self.kind(StatementKind::Merge);
        self.dml += 1;
        self.with(s.with_clause.as_ref());
        let table = relation(s.relation.as_ref());
        let all = self.rows(s.join_condition.as_deref()).map(|why| why.replace("WHERE", "ON"));
        let mut deletes = false;
        let mut updates = false;
        for w in &s.merge_when_clauses {
            if let Some(NodeEnum::MergeWhenClause(c)) = w.node.as_ref() {
                deletes |= c.command_type == CmdType::CmdDelete as i32;
                updates |= c.command_type == CmdType::CmdUpdate as i32;
            }
        }
        match all {
            Some(why) if deletes => self.push(
                Verb::Delete,
                TargetKind::Table,
                "table",
                &table,
                Reversibility::Irreversible,
                "sql-delete-all",
                &format!("MERGE deletes every matched row: {why}"),
                &[NO_TRASH],
            ),
            Some(why) if updates => self.push(
                Verb::Write,
                TargetKind::Table,
                "table",
                &table,
                Reversibility::Irreversible,
                "sql-update-all",
                &format!("MERGE updates every matched row: {why}"),
                &[],
            ),
            _ => self.write("table", &table, "merges rows into a table"),
        }
    }

    fn copy(&mut self, s: &CopyStmt) {
        self.kind(StatementKind::Copy);
        if let Some(q) = s.query.as_deref() {
            self.node(q);
        }
        let table = s.relation.as_ref().map(|r| relation(Some(r)));
        if s.is_program {
            return self.opaque(
                "program",
                "sql-copy-program",
                "COPY ... PROGRAM runs a shell command on the database server's host",
            );
        }
        if !s.filename.is_empty() {
            let (verb, rev, why) = if s.is_from {
                (Verb::Read, Reversibility::Reversible, "COPY FROM a file reads a file on the database server's host")
            } else {
                (Verb::Write, Reversibility::Irreversible, "COPY TO a file writes a file on the database server's host")
            };
            self.push(verb, TargetKind::Database, "server file", "", rev, "sql-copy-file", why, &[DB_SERVER]);
        }
        if s.is_from
            && let Some(t) = table
        {
            self.write("table", &t, "COPY FROM loads rows into a table");
        }
    }

    /// Tables named but not yet targeted are read; functions called have their effects;
    /// a data-modifying statement the typed code did not reach is opaque.
    fn finish(mut self, found: &Scan) -> Classified {
        for f in &found.functions {
            let Some(call) = functions::lookup(f) else { continue };
            let name = f.join(".");
            let (rule, tags): (&str, &[&str]) = match (call.verb, call.server) {
                (Verb::Execute, _) => ("sql-call", &[]),
                (_, true) => ("sql-function", &[DB_SERVER]),
                (_, false) => ("sql-function", &[]),
            };
            let why = format!("{name}() {}", call.why);
            self.push(call.verb, call.kind, "function", &name, call.reversibility, rule, &why, tags);
        }
        if found.dml > self.dml && !self.opaque {
            self.opaque(
                "",
                "sql-nested-write",
                "a data-modifying statement is nested where Holdpoint does not look for one",
            );
        }
        let mut tables: Vec<String> = Vec::new();
        let mut reads: Vec<String> = Vec::new();
        for r in &found.relations {
            if r.schema.is_empty() && found.ctes.contains(&r.name) {
                continue;
            }
            let name = qualify(&r.schema, &r.name);
            if !self.named.contains(&name) && !reads.contains(&name) {
                reads.push(name.clone());
            }
            if !tables.contains(&name) {
                tables.push(name);
            }
        }
        for t in &self.named {
            if !tables.contains(t) && t != "?" {
                tables.push(t.clone());
            }
        }
        // Sorted: the fingerprint ignores the order of FROM items, so effects must too.
        reads.sort();
        for t in reads {
            self.push(
                Verb::Read,
                TargetKind::Table,
                "table",
                &t,
                Reversibility::Reversible,
                "sql-read",
                "reads rows without changing them",
                &[],
            );
        }
        if self.effects.is_empty() {
            self.push(
                Verb::Read,
                TargetKind::Database,
                "",
                "",
                Reversibility::Reversible,
                "sql-read",
                "reads without changing data",
                &[],
            );
        }
        Classified {
            kind: self.kind.unwrap_or(StatementKind::Other),
            effects: self.effects,
            tables,
            soft_delete: self.soft_delete,
            literal: self.literal || found.depth >= DEEP || found.temporary,
        }
    }
}

/// Whether a DROP-like statement says CASCADE.
pub(crate) fn cascades(behavior: i32) -> bool {
    behavior == DropBehavior::DropCascade as i32
}
