//! Database command-line clients: the statements they are given (`-c`, `-e`, `--eval`,
//! stdin, here-documents, `-f FILE`). PostgreSQL's clients (`psql`, `pgcli`) go through the SQL
//! classifier (PostgreSQL's own grammar); the others are scanned for destructive statements.

use holdpoint_core::{Reversibility, Scope, Target, TargetKind, Verb};

use super::walk::{Stdin, Walker};
use super::words::Arg;
use super::{effect, opaque};
use crate::path;
use crate::sql::{self, SqlTarget};

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
    let postgres = matches!(name, "psql" | "pgcli").then(|| SqlTarget::new(psql_target(args)));
    for (text, known) in texts {
        if !known {
            w.push(opaque(
                &format!("{name}: {text}"),
                "statements Holdpoint cannot read are sent to a database",
                "db-dynamic-statement",
            ));
            continue;
        }
        if let Some(target) = &postgres {
            psql_input(w, &text, target);
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

/// psql's meta-commands that only show things or set the client up (besides `\d...`, which
/// describe objects).
const PSQL_READ_ONLY_META: &[&str] = &[
    "l",
    "list",
    "z",
    "conninfo",
    "echo",
    "qecho",
    "warn",
    "encoding",
    "errverbose",
    "h",
    "help",
    "?",
    "pset",
    "q",
    "quit",
    "timing",
    "x",
    "a",
    "t",
    "T",
    "C",
    "f",
    "H",
    "sf",
    "sv",
    "copyright",
    "getenv",
];

/// What psql is given: SQL through the SQL classifier; a meta-command (a line starting with a
/// backslash) that only shows things is nothing, any other (`\!`, `\i`, `\copy`, `\o`,
/// `\gexec`, ...) is opaque.
fn psql_input(w: &mut Walker<'_>, text: &str, target: &SqlTarget) {
    let mut statements = String::new();
    let mut lines: Vec<&str> = text.lines().rev().collect();
    while let Some(line) = lines.pop() {
        let Some(meta) = line.trim_start().strip_prefix('\\') else {
            statements.push_str(line);
            statements.push('\n');
            continue;
        };
        // `\\` separates a meta-command from what follows it on the line (SQL or another one).
        let (meta, rest) = meta.split_once("\\\\").unwrap_or((meta, ""));
        if !rest.trim().is_empty() {
            lines.push(rest);
        }
        let command: String = meta.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '?').collect();
        let base = command.trim_end_matches(['+', 'S']);
        // psql runs backquoted text in a meta-command's arguments as a shell command.
        let shows = command.starts_with('d') || PSQL_READ_ONLY_META.contains(&base);
        if !shows || meta.contains('`') {
            w.push(opaque(
                &format!("psql: \\{meta}"),
                "a psql meta-command that can run commands, read files or send output elsewhere",
                "db-psql-meta",
            ));
        }
        statements.push('\n');
    }
    if statements.trim().is_empty() {
        return;
    }
    for e in sql::classify(&statements, target) {
        w.push(e);
    }
}

/// `postgres://host/db` for psql's arguments: a connection URI (without its user and
/// password), or `-h`/`--host` and `-d`/`--dbname` or the first operand.
fn psql_target(args: &[Arg]) -> String {
    const TAKES_VALUE: &[&str] =
        &["-c", "-d", "-f", "-h", "-p", "-U", "-v", "-o", "-L", "-F", "-R", "-P", "-T", "--set", "--variable"];
    let uri = |t: &str| {
        let t = t.strip_prefix("--dbname=").unwrap_or(t);
        let rest = t.strip_prefix("postgres://").or_else(|| t.strip_prefix("postgresql://"))?;
        let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
        let rest = rest.split(['?', '#']).next().unwrap_or(rest);
        Some(format!("postgres://{rest}"))
    };
    let mut host = None;
    let mut db = None;
    let mut skip = false;
    for (i, a) in args.iter().enumerate() {
        let t = a.text.as_str();
        if skip {
            skip = false;
            continue;
        }
        if let Some(u) = uri(t) {
            return u;
        }
        let next = args.get(i + 1).map(|n| n.text.clone());
        match t {
            "-h" | "--host" => host = next,
            "-d" | "--dbname" => db = next,
            _ if t.starts_with("--host=") => host = t.get(7..).map(str::to_owned),
            _ if t.starts_with("--dbname=") => db = t.get(9..).map(str::to_owned),
            _ if !t.starts_with('-') && db.is_none() => db = Some(t.to_owned()),
            _ => {}
        }
        skip = TAKES_VALUE.contains(&t) || t == "--host" || t == "--dbname";
    }
    let host = host.unwrap_or_else(|| "localhost".to_owned());
    match db {
        Some(db) => format!("postgres://{host}/{db}"),
        None => format!("postgres://{host}"),
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
