//! Functions with effects beyond the rows a statement reads: ending other sessions, dropping
//! replication slots and large objects, reading and writing the server's files, changing its
//! configuration, running SQL elsewhere. A call anywhere in a statement (a select list, a
//! WHERE clause, a default, a FROM item) counts, under any schema.

use holdpoint_core::{Reversibility, TargetKind, Verb};

/// What calling a function does.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Call {
    pub verb: Verb,
    pub kind: TargetKind,
    pub reversibility: Reversibility,
    /// It acts on the database server itself (files, programs, configuration).
    pub server: bool,
    pub why: &'static str,
}

const fn call(verb: Verb, kind: TargetKind, reversibility: Reversibility, server: bool, why: &'static str) -> Call {
    Call { verb, kind, reversibility, server, why }
}

use Reversibility::{Irreversible, Reversible};
use TargetKind::{Database, Process, Table};
use Verb::{Delete, Disable, Opaque, Read, Write};

const TERMINATE: Call = call(Delete, Process, Irreversible, false, "ends another session and rolls back its work");
const CANCEL: Call = call(Delete, Process, Irreversible, false, "cancels another session's running statement");
const SLOT_DROP: Call =
    call(Delete, Database, Irreversible, true, "drops replication state that replicas or consumers rely on");
const SLOT_WRITE: Call = call(Write, Database, Reversible, true, "changes replication state on the server");
const LO_DELETE: Call = call(Delete, Table, Irreversible, false, "deletes a large object");
const LO_WRITE: Call = call(Write, Table, Reversible, false, "writes a large object");
const FILE_READ: Call = call(Read, Database, Reversible, true, "reads files on the database server's host");
const FILE_WRITE: Call = call(Write, Database, Irreversible, true, "writes files on the database server's host");
const FILE_DELETE: Call = call(Delete, Database, Irreversible, true, "deletes files on the database server's host");
const REMOTE_SQL: Call =
    call(Opaque, Database, Irreversible, false, "runs SQL on another database, which Holdpoint does not see");
const SET_CONFIG: Call = call(
    Disable,
    Database,
    Reversible,
    false,
    "changes a setting, which can turn off safeguards (triggers, row security, timeouts)",
);
const SERVER_ADMIN: Call = call(Write, Database, Reversible, true, "changes how the database server runs");
const SERVER_STATE: Call =
    call(Write, Database, Irreversible, true, "changes the database server's state (promotion, WAL, backups)");

/// Functions by name (lower case, without schema).
const CALLS: &[(&str, Call)] = &[
    ("pg_terminate_backend", TERMINATE),
    ("pg_cancel_backend", CANCEL),
    ("pg_drop_replication_slot", SLOT_DROP),
    ("pg_replication_origin_drop", SLOT_DROP),
    ("pg_replication_origin_session_reset", SLOT_WRITE),
    ("pg_replication_slot_advance", SLOT_WRITE),
    ("pg_replication_origin_advance", SLOT_WRITE),
    ("pg_create_physical_replication_slot", SLOT_WRITE),
    ("pg_create_logical_replication_slot", SLOT_WRITE),
    ("pg_copy_physical_replication_slot", SLOT_WRITE),
    ("pg_copy_logical_replication_slot", SLOT_WRITE),
    ("pg_replication_origin_create", SLOT_WRITE),
    ("pg_logical_emit_message", SLOT_WRITE),
    ("lo_unlink", LO_DELETE),
    ("lo_truncate", LO_DELETE),
    ("lo_truncate64", LO_DELETE),
    ("lo_create", LO_WRITE),
    ("lo_creat", LO_WRITE),
    ("lo_from_bytea", LO_WRITE),
    ("lo_put", LO_WRITE),
    ("lowrite", LO_WRITE),
    ("lo_import", FILE_READ),
    ("lo_export", FILE_WRITE),
    ("pg_read_file", FILE_READ),
    ("pg_read_binary_file", FILE_READ),
    ("pg_stat_file", FILE_READ),
    ("pg_ls_dir", FILE_READ),
    ("pg_ls_logdir", FILE_READ),
    ("pg_ls_waldir", FILE_READ),
    ("pg_ls_tmpdir", FILE_READ),
    ("pg_ls_archive_statusdir", FILE_READ),
    ("pg_ls_logicalsnapdir", FILE_READ),
    ("pg_ls_logicalmapdir", FILE_READ),
    ("pg_ls_replslotdir", FILE_READ),
    ("pg_ls_summariesdir", FILE_READ),
    ("pg_logdir_ls", FILE_READ),
    ("pg_current_logfile", FILE_READ),
    ("pg_file_write", FILE_WRITE),
    ("pg_file_rename", FILE_WRITE),
    ("pg_file_sync", FILE_WRITE),
    ("pg_file_unlink", FILE_DELETE),
    ("dblink", REMOTE_SQL),
    ("dblink_exec", REMOTE_SQL),
    ("dblink_send_query", REMOTE_SQL),
    ("dblink_open", REMOTE_SQL),
    ("dblink_connect", REMOTE_SQL),
    ("dblink_connect_u", REMOTE_SQL),
    ("set_config", SET_CONFIG),
    ("pg_reload_conf", SERVER_ADMIN),
    ("pg_rotate_logfile", SERVER_ADMIN),
    ("pg_log_backend_memory_contexts", SERVER_ADMIN),
    ("pg_wal_replay_pause", SERVER_ADMIN),
    ("pg_wal_replay_resume", SERVER_ADMIN),
    ("pg_promote", SERVER_STATE),
    ("pg_switch_wal", SERVER_STATE),
    ("pg_create_restore_point", SERVER_STATE),
    ("pg_backup_start", SERVER_STATE),
    ("pg_backup_stop", SERVER_STATE),
    ("pg_start_backup", SERVER_STATE),
    ("pg_stop_backup", SERVER_STATE),
    ("pg_import_system_collations", SERVER_STATE),
];

/// Name prefixes of function families (adminpack's and extensions' file writers).
const PREFIXES: &[(&str, Call)] = &[("pg_write_", FILE_WRITE), ("pg_file_", FILE_WRITE), ("dblink_", REMOTE_SQL)];

/// Common built-in functions that only compute a value: no effect is reported for them.
const PURE: &[&str] = &[
    "abs",
    "age",
    "array_agg",
    "array_length",
    "array_position",
    "array_remove",
    "array_to_string",
    "avg",
    "bool_and",
    "bool_or",
    "btrim",
    "cardinality",
    "ceil",
    "ceiling",
    "char_length",
    "clock_timestamp",
    "coalesce",
    "concat",
    "concat_ws",
    "count",
    "current_database",
    "current_schema",
    "current_setting",
    "current_user",
    "date_part",
    "date_trunc",
    "dense_rank",
    "encode",
    "decode",
    "exists",
    "extract",
    "first_value",
    "floor",
    "format",
    "gen_random_uuid",
    "generate_series",
    "greatest",
    "jsonb_agg",
    "jsonb_build_array",
    "jsonb_build_object",
    "jsonb_each",
    "jsonb_object_agg",
    "jsonb_set",
    "jsonb_array_elements",
    "json_agg",
    "json_build_array",
    "json_build_object",
    "json_each",
    "json_array_elements",
    "lag",
    "last_value",
    "lead",
    "least",
    "left",
    "length",
    "lower",
    "lpad",
    "ltrim",
    "make_interval",
    "max",
    "md5",
    "min",
    "mod",
    "now",
    "nullif",
    "percentile_cont",
    "position",
    "power",
    "random",
    "rank",
    "regexp_match",
    "regexp_matches",
    "regexp_replace",
    "repeat",
    "replace",
    "reverse",
    "right",
    "round",
    "row_number",
    "row_to_json",
    "rpad",
    "rtrim",
    "sign",
    "split_part",
    "sqrt",
    "statement_timestamp",
    "string_agg",
    "strpos",
    "substr",
    "substring",
    "sum",
    "timezone",
    "to_char",
    "to_date",
    "to_json",
    "to_jsonb",
    "to_number",
    "to_timestamp",
    "translate",
    "trim",
    "trunc",
    "unnest",
    "upper",
    "uuid_generate_v4",
    "version",
    "pg_sleep",
    "pg_typeof",
    "pg_backend_pid",
    "pg_is_in_recovery",
    "pg_postmaster_start_time",
    "pg_size_pretty",
    "pg_total_relation_size",
    "pg_relation_size",
    "pg_table_size",
    "pg_database_size",
    "pg_get_viewdef",
    "pg_get_indexdef",
    "pg_get_constraintdef",
    "pg_get_functiondef",
    "pg_get_serial_sequence",
    "pg_get_userbyid",
    "pg_has_role",
    "has_table_privilege",
    "has_schema_privilege",
    "has_database_privilege",
    "obj_description",
    "col_description",
    "format_type",
    "quote_ident",
    "quote_literal",
    "quote_nullable",
    "txid_current",
    "pg_current_xact_id",
    "to_regclass",
    "currval",
    "lastval",
    "nextval",
];

/// What calling `name` (lower-cased parts, schema first) does: `None` for a built-in that only
/// computes a value, otherwise the known effect, or an `execute` for a function Holdpoint
/// does not know.
pub(crate) fn lookup(parts: &[String]) -> Option<Call> {
    let name = parts.last().map_or("", String::as_str);
    if let Some((_, c)) = CALLS.iter().find(|(n, _)| *n == name) {
        return Some(*c);
    }
    if let Some((_, c)) = PREFIXES.iter().find(|(p, _)| name.starts_with(p)) {
        return Some(*c);
    }
    let catalog = parts.len() == 1 || parts.first().is_some_and(|s| s == "pg_catalog");
    if catalog && PURE.contains(&name) {
        return None;
    }
    Some(call(
        Verb::Execute,
        TargetKind::Table,
        Reversible,
        false,
        "calls a function; what it does inside the database is not seen",
    ))
}
