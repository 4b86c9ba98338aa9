//! Database command-line clients: the statements they are given (`-c`, `-e`, `--eval`,
//! stdin, here-documents, `-f FILE`) are scanned for destructive statements.

use holdpoint_core::{Reversibility, Scope, Target, TargetKind, Verb};

use super::walk::{Stdin, Walker};
use super::words::Arg;
use super::{effect, opaque};
use crate::path;

const CLIS: &[&str] = &[
    "psql",
    "mysql",
    "mariadb",
    "sqlite3",
    "sqlite",
    "duckdb",
    "mongosh",
    "mongo",
    "redis-cli",
    "valkey-cli",
    "cqlsh",
    "clickhouse-client",
    "clickhouse",
    "cockroach",
    "sqlcmd",
    "usql",
    "pgcli",
    "mycli",
    "litecli",
];

pub(crate) fn is_db_cli(name: &str) -> bool {
    CLIS.contains(&name)
}

pub(crate) fn db_cli(w: &mut Walker<'_>, name: &str, args: &[Arg], stdin: &Stdin) {
    let statement_flags: &[&str] = match name {
        "psql" | "pgcli" | "usql" => &["-c", "--command"],
        "mysql" | "mariadb" | "mycli" => &["-e", "--execute"],
        "mongosh" | "mongo" => &["--eval"],
        "clickhouse-client" | "clickhouse" => &["-q", "--query"],
        "cqlsh" => &["-e", "--execute"],
        "cockroach" => &["-e", "--execute"],
        "sqlcmd" => &["-Q", "-q"],
        _ => &[],
    };
    let target = target_of(name, args, w);
    let mut texts: Vec<(String, bool)> = Vec::new(); // (statement text, known)
    for (i, a) in args.iter().enumerate() {
        let inline = statement_flags.iter().find_map(|f| a.text.strip_prefix(&format!("{f}=")));
        if let Some(v) = inline {
            texts.push((v.to_owned(), a.literal));
        } else if statement_flags.contains(&a.text.as_str()) {
            if let Some(v) = args.get(i + 1) {
                texts.push((v.text.clone(), v.literal));
            }
        } else if (a.text == "-f" || a.text == "--file")
            && matches!(name, "psql" | "pgcli" | "cqlsh" | "mongosh" | "clickhouse-client")
            && let Some(f) = args.get(i + 1)
        {
            let abs = path::resolve(&f.text, &w.ctx);
            match w.facts.read(&abs) {
                Some(text) => texts.push((text, true)),
                None => texts.push((f.text.clone(), false)),
            }
        }
    }
    if matches!(name, "sqlite3" | "sqlite" | "duckdb") {
        // sqlite3 DB "SQL": the second operand is a statement.
        let ops: Vec<&Arg> = args.iter().filter(|a| !a.text.starts_with('-')).collect();
        if let Some(sql) = ops.get(1) {
            texts.push((sql.text.clone(), sql.literal));
        }
    }
    if matches!(name, "redis-cli" | "valkey-cli") {
        let ops: Vec<&str> = args.iter().map(|a| a.text.as_str()).filter(|t| !t.starts_with('-')).collect();
        texts.push((ops.join(" "), true));
    }
    match stdin {
        Stdin::Text(t) => texts.push((t.clone(), true)),
        // `cat drop.sql | psql`: the file's statements, when Holdpoint can read them.
        Stdin::From(producer, from) if producer == "cat" => {
            for f in from.iter().filter(|a| !a.text.starts_with('-')) {
                match w.facts.read(&path::resolve(&f.text, &w.ctx)) {
                    Some(text) => texts.push((text, true)),
                    None => texts.push((f.text.clone(), false)),
                }
            }
        }
        Stdin::From(producer, _) if producer != "cat" => texts.push((producer.clone(), false)),
        Stdin::From(..) | Stdin::None => {}
    }
    for (text, known) in texts {
        if !known {
            w.push(opaque(
                &format!("{name}: {text}"),
                "statements Holdpoint cannot read are sent to a database",
                "db-dynamic-statement",
            ));
            continue;
        }
        if let Some(why) = destructive(&text) {
            w.push(effect(
                Verb::Delete,
                target.0.clone(),
                Reversibility::Irreversible,
                target.1,
                "db-destructive-statement",
                why,
            ));
        }
    }
}

/// The database a client talks to, and where it is.
fn target_of(name: &str, args: &[Arg], w: &Walker<'_>) -> (Target, Scope) {
    if matches!(name, "sqlite3" | "sqlite" | "duckdb")
        && let Some(file) = args.iter().find(|a| !a.text.starts_with('-'))
    {
        let info = path::info(&file.text, &w.ctx);
        let target = Target { kind: TargetKind::Database, id: info.abs, tags: info.tags };
        return (target, info.scope);
    }
    let db = args.iter().find(|a| a.text.contains("://")).map_or_else(|| name.to_owned(), |a| a.text.clone());
    (Target::new(TargetKind::Database, db), Scope::Remote)
}

/// Why a statement text destroys data, if it does.
pub(crate) fn destructive(text: &str) -> Option<&'static str> {
    let upper = text.to_ascii_uppercase();
    let squashed: String = upper.split_whitespace().collect::<Vec<_>>().join(" ");
    let statements = squashed.split(';').map(str::trim);
    for s in statements {
        if s.starts_with("DROP ")
            || s.contains(" DROP TABLE")
            || s.contains(" DROP DATABASE")
            || s.contains(" DROP SCHEMA")
        {
            return Some("drops a database object");
        }
        if s.starts_with("TRUNCATE") {
            return Some("truncates a table");
        }
        if (s.starts_with("DELETE ") || s.contains(" DELETE FROM ")) && !s.contains(" WHERE ") {
            return Some("deletes every row of a table");
        }
        if s.starts_with("UPDATE ") && !s.contains(" WHERE ") {
            return Some("updates every row of a table");
        }
        if s.starts_with("ALTER ") && s.contains(" DROP ") {
            return Some("drops a column or constraint");
        }
        if s.starts_with("FLUSHALL") || s.starts_with("FLUSHDB") {
            return Some("deletes every key");
        }
    }
    let mongo =
        ["DROPDATABASE(", ".DROP(", "DELETEMANY({})", "DELETEMANY( {} )", ".REMOVE({})", "DROPALLUSERS", "DROPINDEXES"];
    mongo
        .iter()
        .any(|m| squashed.replace(' ', "").contains(&m.replace(' ', "")))
        .then_some("drops or empties a collection or database")
}
