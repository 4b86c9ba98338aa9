//! Statements other than queries and DML: drops, truncates, ALTER TABLE, roles and
//! privileges, settings, procedural code, and the rest of the DDL.

use holdpoint_core::{Reversibility, TargetKind, Verb};
use pg_query::NodeEnum;
use pg_query::protobuf::{
    AlterTableCmd, AlterTableStmt, AlterTableType, DropStmt, Node, ObjectType, RoleSpec, RoleSpecType, RoleStmtType,
    TruncateStmt, VariableSetKind, VariableSetStmt, a_const,
};

use super::StatementKind as K;
use super::stmt::{CASCADE, DB_SERVER, NO_TRASH, Stmt, cascades, qualify, relation};
use super::{SoftDelete, TrashOp};

const IRREVERSIBLE: Reversibility = Reversibility::Irreversible;
const REVERSIBLE: Reversibility = Reversibility::Reversible;

impl Stmt<'_> {
    /// Every statement that is not a query or DML.
    pub fn other(&mut self, node: &Node) {
        let Some(n) = node.node.as_ref() else { return };
        match n {
            NodeEnum::DropStmt(s) => self.drop(s),
            NodeEnum::TruncateStmt(s) => self.truncate(s),
            NodeEnum::AlterTableStmt(s) => self.alter_table(s),
            NodeEnum::DropdbStmt(s) => self.dropped("database", &s.dbname, TargetKind::Database, false),
            NodeEnum::DropRoleStmt(s) => {
                for r in &s.roles {
                    self.dropped("role", &role_of(r), TargetKind::Table, false);
                }
            }
            NodeEnum::DropOwnedStmt(s) => {
                for r in &s.roles {
                    self.dropped("objects owned by", &role_of(r), TargetKind::Table, cascades(s.behavior));
                }
            }
            NodeEnum::DropSubscriptionStmt(s) => {
                self.dropped("subscription", &s.subname, TargetKind::Table, cascades(s.behavior));
            }
            NodeEnum::DropTableSpaceStmt(s) => {
                self.dropped("tablespace", &s.tablespacename, TargetKind::Database, false);
            }
            NodeEnum::DropUserMappingStmt(s) => {
                let user = s.user.as_ref().map_or_else(|| "?".to_owned(), role_name);
                self.dropped("user mapping", &format!("{user}@{}", s.servername), TargetKind::Table, false);
            }
            NodeEnum::VariableSetStmt(s) => self.set(s),
            NodeEnum::VariableShowStmt(s) => {
                self.kind(K::Read);
                self.push(
                    Verb::Read,
                    TargetKind::Database,
                    "setting",
                    &s.name,
                    REVERSIBLE,
                    "sql-read",
                    "shows a setting",
                    &[],
                );
            }
            NodeEnum::AlterSystemStmt(s) => {
                self.kind(K::Maintenance);
                let name = s.setstmt.as_ref().map_or("", |v| v.name.as_str());
                let why = "ALTER SYSTEM changes the database server's configuration file";
                self.push(
                    Verb::Write,
                    TargetKind::Database,
                    "setting",
                    name,
                    REVERSIBLE,
                    "sql-alter-system",
                    why,
                    &[DB_SERVER],
                );
            }
            NodeEnum::AlterDatabaseSetStmt(s) => self.stored_setting("database", &s.dbname, s.setstmt.as_ref()),
            NodeEnum::AlterRoleSetStmt(s) => {
                let role = s.role.as_ref().map_or_else(|| "all".to_owned(), role_name);
                self.stored_setting("role", &role, s.setstmt.as_ref());
            }
            NodeEnum::TransactionStmt(_) => self.session("controls a transaction"),
            NodeEnum::ListenStmt(_)
            | NodeEnum::UnlistenStmt(_)
            | NodeEnum::NotifyStmt(_)
            | NodeEnum::DiscardStmt(_)
            | NodeEnum::DeallocateStmt(_)
            | NodeEnum::ClosePortalStmt(_)
            | NodeEnum::ConstraintsSetStmt(_)
            | NodeEnum::LockStmt(_)
            | NodeEnum::CheckPointStmt(_) => self.session("session control; changes no stored data"),
            NodeEnum::FetchStmt(_) => {
                self.kind(K::Read);
                self.push(Verb::Read, TargetKind::Database, "", "", REVERSIBLE, "sql-read", "reads from a cursor", &[]);
            }
            NodeEnum::DoStmt(_) => self.procedural("DO runs a procedural code block Holdpoint does not see through"),
            NodeEnum::CallStmt(_) => self.procedural("CALL runs a procedure whose body Holdpoint does not see"),
            NodeEnum::ExecuteStmt(s) => {
                self.kind(K::Procedural);
                let why =
                    format!("EXECUTE runs the prepared statement {:?}, whose text is not part of this input", s.name);
                self.opaque("prepared statement", "sql-procedural", &why);
            }
            NodeEnum::CreateFunctionStmt(s) => {
                let what = if s.is_procedure { "procedure" } else { "function" };
                self.procedural(&format!("defines a {what} whose body runs later, unseen by Holdpoint"));
            }
            NodeEnum::CreateTrigStmt(_) => {
                self.procedural("a trigger runs its function on later writes, unseen by Holdpoint");
            }
            NodeEnum::RuleStmt(_) => self.procedural("a rule rewrites later statements, unseen by Holdpoint"),
            NodeEnum::CreateEventTrigStmt(_) => {
                self.procedural("an event trigger runs its function on later DDL, unseen by Holdpoint");
            }
            NodeEnum::CreatePlangStmt(_) => self.procedural("defines a procedural language"),
            NodeEnum::LoadStmt(_) => {
                self.kind(K::Procedural);
                let why = "LOAD loads a shared library into the database server";
                self.opaque("library", "sql-procedural", why);
            }
            NodeEnum::GrantStmt(s) => {
                let why = if s.is_grant { "grants privileges" } else { "revokes privileges" };
                for g in &s.grantees {
                    self.grant(&role_of(g), why);
                }
            }
            NodeEnum::GrantRoleStmt(s) => {
                let why = if s.is_grant { "grants role membership" } else { "revokes role membership" };
                for g in &s.grantee_roles {
                    self.grant(&role_of(g), why);
                }
            }
            NodeEnum::AlterRoleStmt(s) => {
                let role = s.role.as_ref().map_or_else(|| "?".to_owned(), role_name);
                self.grant(&role, "changes a role's attributes (privileges, password, login)");
            }
            NodeEnum::CreateRoleStmt(s) => self.create_role(s.stmt_type, &s.role, &s.options),
            NodeEnum::AlterDefaultPrivilegesStmt(_) => self.grant("default privileges", "changes default privileges"),
            NodeEnum::ReassignOwnedStmt(s) => {
                let to = s.newrole.as_ref().map_or_else(|| "?".to_owned(), role_name);
                self.grant(&to, "hands over the ownership of objects");
            }
            NodeEnum::AlterOwnerStmt(s) => {
                let to = s.newowner.as_ref().map_or_else(|| "?".to_owned(), role_name);
                self.grant(&to, "changes an object's owner");
            }
            NodeEnum::CreatePolicyStmt(s) => {
                self.grant(&format!("policy on {}", relation(s.table.as_ref())), "adds a row security policy")
            }
            NodeEnum::AlterPolicyStmt(s) => {
                self.grant(&format!("policy on {}", relation(s.table.as_ref())), "changes a row security policy")
            }
            NodeEnum::CreateUserMappingStmt(_) | NodeEnum::AlterUserMappingStmt(_) => {
                self.grant("user mapping", "stores credentials for a foreign server")
            }
            NodeEnum::SecLabelStmt(_) => self.grant("security label", "changes a security label"),
            NodeEnum::AlterFunctionStmt(s) => {
                let definer =
                    s.actions.iter().any(|a| matches!(&a.node, Some(NodeEnum::DefElem(d)) if d.defname == "security"));
                if definer {
                    self.grant("function", "changes whose privileges a function runs with");
                } else {
                    self.kind(K::Alter);
                    self.write("function", "", "changes a function's properties");
                }
            }
            NodeEnum::AlterDomainStmt(s) => {
                self.kind(K::Alter);
                // X: DROP CONSTRAINT, N: DROP NOT NULL.
                if s.subtype == "X" || s.subtype == "N" {
                    let why = "drops a constraint of a domain: a safeguard on the data";
                    self.push(
                        Verb::Disable,
                        TargetKind::Table,
                        "domain constraint",
                        &s.name,
                        REVERSIBLE,
                        "sql-alter-drop-constraint",
                        why,
                        &[],
                    );
                } else {
                    self.write("domain", "", "changes a domain");
                }
            }
            NodeEnum::CreateSchemaStmt(s) => {
                self.kind(K::Create);
                self.write("schema", &s.schemaname, "creates a schema");
                for e in &s.schema_elts {
                    self.node(e);
                }
            }
            NodeEnum::VacuumStmt(s) => {
                self.kind(K::Maintenance);
                let full =
                    s.options.iter().any(|o| matches!(&o.node, Some(NodeEnum::DefElem(d)) if d.defname == "full"));
                if full {
                    let why = "VACUUM FULL locks the table and rewrites it; no data is lost";
                    self.write("tables", "", why);
                } else {
                    let why = "maintenance (VACUUM, ANALYZE); changes no data";
                    self.push(Verb::Execute, TargetKind::Database, "", "", REVERSIBLE, "sql-maintenance", why, &[]);
                }
            }
            NodeEnum::ClusterStmt(_) | NodeEnum::ReindexStmt(_) | NodeEnum::RefreshMatViewStmt(_) => {
                self.kind(K::Maintenance);
                self.write("tables", "", "rebuilds a table, index or materialized view; no data is lost");
            }
            NodeEnum::RenameStmt(_)
            | NodeEnum::AlterObjectSchemaStmt(_)
            | NodeEnum::CommentStmt(_)
            | NodeEnum::AlterSeqStmt(_)
            | NodeEnum::AlterEnumStmt(_)
            | NodeEnum::AlterTypeStmt(_)
            | NodeEnum::AlterDatabaseStmt(_)
            | NodeEnum::AlterDatabaseRefreshCollStmt(_)
            | NodeEnum::AlterExtensionStmt(_)
            | NodeEnum::AlterExtensionContentsStmt(_)
            | NodeEnum::AlterCollationStmt(_)
            | NodeEnum::AlterOperatorStmt(_)
            | NodeEnum::AlterOpFamilyStmt(_)
            | NodeEnum::AlterStatsStmt(_)
            | NodeEnum::AlterTsconfigurationStmt(_)
            | NodeEnum::AlterTsdictionaryStmt(_)
            | NodeEnum::AlterEventTrigStmt(_)
            | NodeEnum::AlterObjectDependsStmt(_)
            | NodeEnum::AlterFdwStmt(_)
            | NodeEnum::AlterForeignServerStmt(_)
            | NodeEnum::AlterPublicationStmt(_)
            | NodeEnum::AlterSubscriptionStmt(_)
            | NodeEnum::AlterTableSpaceOptionsStmt(_)
            | NodeEnum::AlterTableMoveAllStmt(_)
            | NodeEnum::ReplicaIdentityStmt(_) => {
                self.kind(K::Alter);
                self.write("schema objects", "", "changes the definition of an object");
            }
            NodeEnum::CreateStmt(s) => self.create("table", &relation(s.relation.as_ref())),
            NodeEnum::ViewStmt(s) => self.create("view", &relation(s.view.as_ref())),
            NodeEnum::CreateSeqStmt(s) => self.create("sequence", &relation(s.sequence.as_ref())),
            NodeEnum::IndexStmt(s) => self.create("index on", &relation(s.relation.as_ref())),
            NodeEnum::CreatedbStmt(s) => self.create("database", &s.dbname),
            NodeEnum::CreateExtensionStmt(s) => self.create("extension", &s.extname),
            NodeEnum::CreateDomainStmt(_)
            | NodeEnum::CreateEnumStmt(_)
            | NodeEnum::CreateRangeStmt(_)
            | NodeEnum::CompositeTypeStmt(_)
            | NodeEnum::DefineStmt(_)
            | NodeEnum::CreateCastStmt(_)
            | NodeEnum::CreateConversionStmt(_)
            | NodeEnum::CreateOpClassStmt(_)
            | NodeEnum::CreateOpFamilyStmt(_)
            | NodeEnum::CreateStatsStmt(_)
            | NodeEnum::CreateAmStmt(_)
            | NodeEnum::CreateFdwStmt(_)
            | NodeEnum::CreateForeignServerStmt(_)
            | NodeEnum::CreateForeignTableStmt(_)
            | NodeEnum::ImportForeignSchemaStmt(_)
            | NodeEnum::CreatePublicationStmt(_)
            | NodeEnum::CreateSubscriptionStmt(_)
            | NodeEnum::CreateTableSpaceStmt(_)
            | NodeEnum::CreateTransformStmt(_) => {
                self.kind(K::Create);
                self.write("schema objects", "", "creates an object");
            }
            _ => {
                self.kind(K::Other);
                self.opaque("", "sql-unknown-statement", "a statement Holdpoint does not know");
            }
        }
    }

    /// A created object.
    fn create(&mut self, what: &str, name: &str) {
        self.kind(K::Create);
        self.write(what, name, &format!("creates {what} {name}"));
    }

    /// A dropped object that the trash cannot take back.
    fn dropped(&mut self, what: &str, name: &str, kind: TargetKind, cascade: bool) {
        self.kind(K::Drop);
        let mut tags = vec![NO_TRASH];
        let why = if cascade {
            tags.push(CASCADE);
            format!("drops {what} {name} and, with CASCADE, everything that depends on it")
        } else {
            format!("drops {what} {name}")
        };
        self.push(Verb::Delete, kind, what, name, IRREVERSIBLE, "sql-drop", &why, &tags);
    }

    fn drop(&mut self, s: &DropStmt) {
        self.kind(K::Drop);
        let ty = ObjectType::try_from(s.remove_type).unwrap_or(ObjectType::Undefined);
        let (what, qualified, rev) = drop_target(ty);
        let cascade = cascades(s.behavior);
        let mut trashed = Vec::new();
        for o in &s.objects {
            let name = object_name(o);
            let name = if qualified && !name.contains('.') { qualify("", &name) } else { name };
            let table = ty == ObjectType::ObjectTable;
            let mut tags = Vec::new();
            let why = if cascade {
                tags.extend([NO_TRASH, CASCADE]);
                format!(
                    "drops {what} {name} and, with CASCADE, everything that depends on it; the trash cannot take that back faithfully"
                )
            } else if table {
                trashed.push(name.clone());
                format!("drops {what} {name}")
            } else {
                tags.push(NO_TRASH);
                format!("drops {what} {name}")
            };
            self.push(Verb::Delete, TargetKind::Table, what, &name, rev, "sql-drop", &why, &tags);
        }
        if !trashed.is_empty() {
            self.soft_delete = Some(SoftDelete { op: TrashOp::DropTable, tables: trashed });
        }
    }

    fn truncate(&mut self, s: &TruncateStmt) {
        self.kind(K::Truncate);
        let cascade = cascades(s.behavior);
        let mut tables = Vec::new();
        for r in &s.relations {
            let Some(NodeEnum::RangeVar(rv)) = r.node.as_ref() else { continue };
            let name = qualify(&rv.schemaname, &rv.relname);
            let (why, tags): (String, &[&str]) = if cascade {
                (format!("empties {name} and, with CASCADE, every table that references it"), &[NO_TRASH, CASCADE])
            } else {
                tables.push(name.clone());
                (format!("empties {name}"), &[])
            };
            self.push(Verb::Delete, TargetKind::Table, "table", &name, IRREVERSIBLE, "sql-truncate", &why, tags);
        }
        if !tables.is_empty() {
            self.soft_delete = Some(SoftDelete { op: TrashOp::Truncate, tables });
        }
    }

    fn alter_table(&mut self, s: &AlterTableStmt) {
        self.kind(K::Alter);
        let table = relation(s.relation.as_ref());
        for c in &s.cmds {
            match c.node.as_ref() {
                Some(NodeEnum::AlterTableCmd(cmd)) => self.alter_cmd(&table, cmd),
                _ => self.opaque("", "sql-unknown-statement", "an ALTER TABLE action Holdpoint does not know"),
            }
        }
    }

    fn alter_cmd(&mut self, table: &str, c: &AlterTableCmd) {
        use AlterTableType as A;
        let column = format!("{table}.{}", c.name);
        let cascade = cascades(c.behavior);
        let Ok(ty) = AlterTableType::try_from(c.subtype) else {
            return self.opaque("", "sql-unknown-statement", "an ALTER TABLE action Holdpoint does not know");
        };
        match ty {
            A::AtDropColumn => {
                let mut tags = vec![NO_TRASH];
                let why = if cascade {
                    tags.push(CASCADE);
                    format!("drops column {column} and, with CASCADE, what depends on it")
                } else {
                    format!("drops column {column} and its data")
                };
                self.push(
                    Verb::Delete,
                    TargetKind::Table,
                    "column",
                    &column,
                    IRREVERSIBLE,
                    "sql-alter-drop-column",
                    &why,
                    &tags,
                );
            }
            A::AtDropConstraint | A::AtDropNotNull => {
                let (what, name) = if ty == A::AtDropNotNull {
                    ("not null", column)
                } else {
                    ("constraint", format!("{table}.{}", c.name))
                };
                let tags: &[&str] = if cascade { &[CASCADE] } else { &[] };
                let why = format!("drops {what} {name}: a safeguard on the data");
                self.push(
                    Verb::Disable,
                    TargetKind::Table,
                    what,
                    &name,
                    REVERSIBLE,
                    "sql-alter-drop-constraint",
                    &why,
                    tags,
                );
            }
            A::AtAlterColumnType => {
                let why = format!("changes the type of {column}, which can lose data");
                self.push(Verb::Write, TargetKind::Table, "column", &column, IRREVERSIBLE, "sql-alter-type", &why, &[]);
            }
            A::AtDisableTrig | A::AtDisableTrigAll | A::AtDisableTrigUser | A::AtDisableRule => {
                self.disable(table, "turns off triggers or rules of the table");
            }
            A::AtDisableRowSecurity | A::AtNoForceRowSecurity => self.disable(table, "turns off row security"),
            A::AtSetUnLogged => self.disable(table, "makes the table unlogged: not crash-safe, not replicated"),
            A::AtChangeOwner => {
                let to = c.newowner.as_ref().map_or_else(|| "?".to_owned(), role_name);
                self.grant(&to, "changes a table's owner");
            }
            A::Undefined => self.opaque("", "sql-unknown-statement", "an ALTER TABLE action Holdpoint does not know"),
            _ => self.write("table", table, "changes a table's definition"),
        }
    }

    fn disable(&mut self, table: &str, why: &str) {
        self.push(Verb::Disable, TargetKind::Table, "table", table, REVERSIBLE, "sql-alter-disable", why, &[]);
    }

    fn grant(&mut self, role: &str, why: &str) {
        self.kind(K::Grant);
        self.push(Verb::Grant, TargetKind::Table, "role", role, REVERSIBLE, "sql-grant", why, &[]);
    }

    fn create_role(&mut self, stmt_type: i32, role: &str, options: &[Node]) {
        // Any mention of a privilege counts, NOSUPERUSER too: the decision then does not
        // depend on the option's value.
        const PRIVILEGES: &[&str] = &[
            "superuser",
            "createrole",
            "createdb",
            "canlogin",
            "isreplication",
            "bypassrls",
            "addroleto",
            "rolemembers",
            "adminmembers",
        ];
        let privileged = stmt_type == RoleStmtType::RolestmtUser as i32
            || options
                .iter()
                .any(|o| matches!(&o.node, Some(NodeEnum::DefElem(d)) if PRIVILEGES.contains(&d.defname.as_str())));
        if privileged {
            self.grant(role, "creates a role that can log in or holds privileges");
        } else {
            self.kind(K::Create);
            self.write("role", role, "creates a role without privileges");
        }
    }

    fn procedural(&mut self, why: &str) {
        self.kind(K::Procedural);
        self.opaque("code", "sql-procedural", why);
    }

    /// `SET name = value`: `session_replication_role = replica` turns off triggers and
    /// foreign keys; every other setting lasts for the session only.
    fn set(&mut self, s: &VariableSetStmt) {
        if s.name != "session_replication_role" {
            return self.session("changes a session setting");
        }
        let value = set_value(s);
        // The value is a literal the fingerprint leaves out.
        self.literal = true;
        if matches!(value.as_deref(), Some("origin") | None) {
            return self.session("restores the default session_replication_role");
        }
        self.kind(K::Session);
        let why = "session_replication_role turns off triggers and foreign-key checks";
        self.push(
            Verb::Disable,
            TargetKind::Database,
            "setting",
            &s.name,
            REVERSIBLE,
            "sql-replication-role",
            why,
            &[],
        );
    }

    /// `ALTER DATABASE|ROLE ... SET`: stored, applied to later sessions.
    fn stored_setting(&mut self, what: &str, name: &str, set: Option<&VariableSetStmt>) {
        self.kind(K::Alter);
        let setting = set.map_or("", |s| s.name.as_str());
        if setting == "session_replication_role" {
            self.literal = true;
            let why = "stores a session_replication_role that turns off triggers and foreign-key checks";
            return self.push(
                Verb::Disable,
                TargetKind::Database,
                what,
                name,
                REVERSIBLE,
                "sql-replication-role",
                why,
                &[],
            );
        }
        self.write(what, name, "stores a setting for later sessions");
    }
}

/// The value of `SET x = value` (lower-cased); `None` for DEFAULT and RESET.
fn set_value(s: &VariableSetStmt) -> Option<String> {
    if s.kind != VariableSetKind::VarSetValue as i32 {
        return None;
    }
    match s.args.first().and_then(|a| a.node.as_ref()) {
        Some(NodeEnum::AConst(c)) => match c.val.as_ref() {
            Some(a_const::Val::Sval(v)) => Some(v.sval.to_lowercase()),
            _ => Some(String::new()),
        },
        _ => Some(String::new()),
    }
}

/// What a DROP of this object type removes: the word for it, whether its name is
/// schema-qualified, and whether anything is lost for good.
fn drop_target(ty: ObjectType) -> (&'static str, bool, Reversibility) {
    use ObjectType as O;
    match ty {
        O::ObjectTable => ("table", true, IRREVERSIBLE),
        O::ObjectView => ("view", true, IRREVERSIBLE),
        O::ObjectMatview => ("materialized view", true, IRREVERSIBLE),
        // An index holds no data of its own: it can be built again.
        O::ObjectIndex => ("index", true, Reversibility::Recoverable),
        O::ObjectSequence => ("sequence", true, IRREVERSIBLE),
        O::ObjectForeignTable => ("foreign table", true, IRREVERSIBLE),
        O::ObjectSchema => ("schema", false, IRREVERSIBLE),
        O::ObjectExtension => ("extension", false, IRREVERSIBLE),
        O::ObjectFunction | O::ObjectProcedure | O::ObjectRoutine | O::ObjectAggregate => {
            ("function", true, IRREVERSIBLE)
        }
        O::ObjectType | O::ObjectDomain => ("type", true, IRREVERSIBLE),
        O::ObjectTrigger => ("trigger", false, IRREVERSIBLE),
        O::ObjectRule => ("rule", false, IRREVERSIBLE),
        O::ObjectPolicy => ("policy", false, IRREVERSIBLE),
        O::ObjectPublication => ("publication", false, IRREVERSIBLE),
        O::ObjectCollation => ("collation", true, IRREVERSIBLE),
        O::ObjectStatisticExt => ("statistics", true, Reversibility::Recoverable),
        O::ObjectLanguage => ("language", false, IRREVERSIBLE),
        O::ObjectForeignServer => ("server", false, IRREVERSIBLE),
        O::ObjectFdw => ("foreign data wrapper", false, IRREVERSIBLE),
        O::ObjectEventTrigger => ("event trigger", false, IRREVERSIBLE),
        O::ObjectCast => ("cast", false, IRREVERSIBLE),
        _ => ("object", false, IRREVERSIBLE),
    }
}

/// A dotted name out of the shapes DROP uses for names (strings, lists, type names,
/// functions with arguments).
fn object_name(n: &Node) -> String {
    match n.node.as_ref() {
        Some(NodeEnum::String(s)) => s.sval.clone(),
        Some(NodeEnum::List(l)) => l.items.iter().map(object_name).collect::<Vec<_>>().join("."),
        Some(NodeEnum::TypeName(t)) => t.names.iter().map(object_name).collect::<Vec<_>>().join("."),
        Some(NodeEnum::ObjectWithArgs(o)) => o.objname.iter().map(object_name).collect::<Vec<_>>().join("."),
        Some(NodeEnum::RoleSpec(r)) => role_name(r),
        _ => "?".to_owned(),
    }
}

fn role_of(n: &Node) -> String {
    match n.node.as_ref() {
        Some(NodeEnum::RoleSpec(r)) => role_name(r),
        Some(NodeEnum::AccessPriv(p)) => p.priv_name.clone(),
        _ => object_name(n),
    }
}

fn role_name(r: &RoleSpec) -> String {
    match RoleSpecType::try_from(r.roletype) {
        Ok(RoleSpecType::RolespecCstring) => r.rolename.clone(),
        Ok(RoleSpecType::RolespecCurrentRole) => "current_role".to_owned(),
        Ok(RoleSpecType::RolespecCurrentUser) => "current_user".to_owned(),
        Ok(RoleSpecType::RolespecSessionUser) => "session_user".to_owned(),
        Ok(RoleSpecType::RolespecPublic) => "public".to_owned(),
        _ => "?".to_owned(),
    }
}
