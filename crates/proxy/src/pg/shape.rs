//! A statement's skeleton: its text with the digits of every numeric literal collapsed to one
//! `0`, found by a scan of PostgreSQL's lexical rules, with no parse. Texts that differ only in
//! the values of their numeric literals (`... WHERE aid = 17` and `... WHERE aid = 42`, what
//! pgbench and most applications send) share a skeleton, so a decision can be looked up
//! without the parse a fingerprint costs.
//!
//! Everything else is kept byte for byte: keywords, names, operators, white space, comments,
//! parameters, and string constants and quoted identifiers whole. Two texts with one skeleton
//! therefore lex to the same tokens but for the values of numeric constants, and parse to the
//! same tree but for those values; pg_query's fingerprint, under which decisions are already
//! shared, ignores constants too. The classifier reads a number only to evaluate a predicate,
//! and reports it (`literal_sensitive`): such statements are not kept by skeleton.
//!
//! Where the scan cannot be sure where a token ends, there is no skeleton and the caller
//! takes the parsing path: a string constant with a backslash (its end depends on
//! `standard_conforming_strings`), an unterminated string, identifier, comment or dollar
//! quote, a `$` that starts neither a parameter nor a dollar quote, a number glued to a
//! letter or a second dot (`0x1F`, `1_000`, `1..2`, which PostgreSQL versions lex
//! differently), and texts longer than [`SKELETON_MAX`].

/// The longest text given a skeleton: longer ones are parsed (and cached by fingerprint).
pub const SKELETON_MAX: usize = 8192;

/// The skeleton of `sql`, or `None` when the scan cannot be sure of it.
pub fn skeleton(sql: &str) -> Option<String> {
    let bytes = sql.as_bytes();
    if bytes.len() > SKELETON_MAX {
        return None;
    }
    let mut out = String::with_capacity(bytes.len());
    let mut at = 0;
    // Where the text not yet copied starts.
    let mut copied = 0;
    while let Some(&b) = bytes.get(at) {
        let next = bytes.get(at + 1).copied();
        let end = match b {
            b'-' if next == Some(b'-') => line_comment(bytes, at),
            b'/' if next == Some(b'*') => block_comment(bytes, at)?,
            b'\'' => string(bytes, at)?,
            b'"' => quoted_identifier(bytes, at)?,
            b'$' => dollar(bytes, at)?,
            b'0'..=b'9' => {
                out.push_str(sql.get(copied..at)?);
                let end = number(bytes, at, &mut out)?;
                copied = end;
                end
            }
            b'.' if next.is_some_and(|n| n.is_ascii_digit()) => {
                out.push_str(sql.get(copied..at)?);
                let end = number(bytes, at, &mut out)?;
                copied = end;
                end
            }
            b if ident_start(b) => identifier(bytes, at),
            _ => at + 1,
        };
        at = end;
    }
    out.push_str(sql.get(copied..)?);
    Some(out)
}

/// A letter, `_` or a byte of a multi-byte character: what starts a name.
fn ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

/// What continues a name (and what must not follow a number).
fn ident_cont(b: u8) -> bool {
    ident_start(b) || b.is_ascii_digit() || b == b'$'
}

/// A name or keyword from `at`: its end.
fn identifier(bytes: &[u8], at: usize) -> usize {
    let mut end = at + 1;
    while bytes.get(end).is_some_and(|b| ident_cont(*b)) {
        end += 1;
    }
    end
}

/// `-- ...` up to the end of the line: its end.
fn line_comment(bytes: &[u8], at: usize) -> usize {
    let mut end = at + 2;
    while bytes.get(end).is_some_and(|b| *b != b'\n' && *b != b'\r') {
        end += 1;
    }
    end
}

/// `/* ... */`, nested as PostgreSQL nests them: its end.
fn block_comment(bytes: &[u8], at: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = at;
    loop {
        match (bytes.get(i)?, bytes.get(i + 1)) {
            (b'/', Some(b'*')) => {
                depth += 1;
                i += 2;
            }
            (b'*', Some(b'/')) => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => i += 1,
        }
    }
}

/// `'...'` with `''` for a quote: its end. A backslash makes it uncertain (an `E'...'`
/// string, or `standard_conforming_strings` off, read it as an escape).
fn string(bytes: &[u8], at: usize) -> Option<usize> {
    let mut i = at + 1;
    loop {
        match bytes.get(i)? {
            b'\\' => return None,
            b'\'' if bytes.get(i + 1) == Some(&b'\'') => i += 2,
            b'\'' => return Some(i + 1),
            _ => i += 1,
        }
    }
}

/// `"..."` with `""` for a quote: its end.
fn quoted_identifier(bytes: &[u8], at: usize) -> Option<usize> {
    let mut i = at + 1;
    loop {
        match bytes.get(i)? {
            b'"' if bytes.get(i + 1) == Some(&b'"') => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
}

/// A parameter (`$1`) or a dollar-quoted string (`$$...$$`, `$tag$...$tag$`), kept whole: its
/// end. A `$` that starts neither has no certain reading.
fn dollar(bytes: &[u8], at: usize) -> Option<usize> {
    let mut i = at + 1;
    if bytes.get(i).is_some_and(u8::is_ascii_digit) {
        while bytes.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        // `$1a`: a trailing-junk error in newer servers, two tokens in older ones.
        return (!bytes.get(i).is_some_and(|b| ident_cont(*b))).then_some(i);
    }
    // The tag: a name without `$`.
    if bytes.get(i).is_some_and(|b| ident_start(*b)) {
        i += 1;
        while bytes.get(i).is_some_and(|b| ident_start(*b) || b.is_ascii_digit()) {
            i += 1;
        }
    }
    if bytes.get(i) != Some(&b'$') {
        return None;
    }
    let tag = bytes.get(at..=i)?;
    let body = i + 1;
    let close = bytes.get(body..)?.windows(tag.len()).position(|w| w == tag)?;
    Some(body + close + tag.len())
}

/// A numeric constant (`17`, `1.5`, `.5`, `1.`, `2e-3`) from `at`, written to `out` with each
/// run of digits as one `0`: its end. A number glued to a name, a second dot or a malformed
/// exponent has no certain reading.
fn number(bytes: &[u8], at: usize, out: &mut String) -> Option<usize> {
    let digits = |i: &mut usize, out: &mut String| {
        if bytes.get(*i).is_some_and(u8::is_ascii_digit) {
            out.push('0');
            while bytes.get(*i).is_some_and(u8::is_ascii_digit) {
                *i += 1;
            }
        }
    };
    let mut i = at;
    digits(&mut i, out);
    if bytes.get(i) == Some(&b'.') {
        if bytes.get(i + 1) == Some(&b'.') {
            return None;
        }
        out.push('.');
        i += 1;
        digits(&mut i, out);
    }
    if let Some(e @ (b'e' | b'E')) = bytes.get(i).copied() {
        out.push(char::from(e));
        i += 1;
        if let Some(sign @ (b'+' | b'-')) = bytes.get(i).copied() {
            out.push(char::from(sign));
            i += 1;
        }
        if !bytes.get(i).is_some_and(u8::is_ascii_digit) {
            return None;
        }
        digits(&mut i, out);
    }
    match bytes.get(i) {
        Some(b) if ident_cont(*b) || *b == b'.' => None,
        _ => Some(i),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_collapse_and_everything_else_is_kept() {
        let cases = [
            (
                "SELECT abalance FROM pgbench_accounts WHERE aid = 12345;",
                Some("SELECT abalance FROM pgbench_accounts WHERE aid = 0;"),
            ),
            (
                "UPDATE t SET b = b + -42 WHERE id = 7 AND x > 1.5e-3",
                Some("UPDATE t SET b = b + -0 WHERE id = 0 AND x > 0.0e-0"),
            ),
            (
                "SELECT .5, 1., t1.c2, \"x1\", 'a1''2', $1 -- 42\n",
                Some("SELECT .0, 0., t1.c2, \"x1\", 'a1''2', $1 -- 42\n"),
            ),
            ("SELECT /* 1 /* 2 */ 3 */ 4", Some("SELECT /* 1 /* 2 */ 3 */ 0")),
            ("DO $x$ SELECT 1 $x$; SELECT $$2$$", Some("DO $x$ SELECT 1 $x$; SELECT $$2$$")),
            ("SELECT a$1 FROM t", Some("SELECT a$1 FROM t")),
            ("SELECT 'a\\' ; DROP TABLE t; --'", None),
            ("SELECT E'\\''", None),
            ("SELECT 0x1F", None),
            ("SELECT 1_000", None),
            ("SELECT 123abc", None),
            ("SELECT 1..2", None),
            ("SELECT 1e", None),
            ("SELECT 'open", None),
            ("SELECT \"open", None),
            ("SELECT /* open", None),
            ("SELECT $tag$ open", None),
            ("SELECT $1a", None),
            ("SELECT $", None),
        ];
        for (sql, want) in cases {
            assert_eq!(skeleton(sql).as_deref(), want, "{sql}");
        }
        assert_eq!(skeleton(&"x".repeat(SKELETON_MAX + 1)), None);
    }

    #[test]
    fn a_skeleton_is_its_own_skeleton() {
        for sql in ["SELECT 17", "UPDATE t SET b = b + -42 WHERE id = 7", "SELECT 1.5e10, .25"] {
            let s = skeleton(sql).unwrap();
            assert_eq!(skeleton(&s).as_deref(), Some(s.as_str()));
        }
    }
}

#[cfg(test)]
mod pgbench {
    use holdpoint_classify::sql::{CacheKey, SqlTarget, analyze};

    use super::skeleton;

    /// pgbench's statements (select-only and TPC-B), two draws of each (the sign of a delta
    /// is part of the skeleton, so each signed statement has two): one skeleton per statement,
    /// and decisions that do not depend on the literals, so kept by skeleton.
    #[test]
    fn pgbench_statements_share_a_skeleton_and_are_kept_by_it() {
        let target = SqlTarget::new("postgres://127.0.0.1:5432/bench");
        let draws = [
            ["BEGIN;", "BEGIN;"],
            [
                "SELECT abalance FROM pgbench_accounts WHERE aid = 17;",
                "SELECT abalance FROM pgbench_accounts WHERE aid = 90210;",
            ],
            [
                "UPDATE pgbench_accounts SET abalance = abalance + -4711 WHERE aid = 17;",
                "UPDATE pgbench_accounts SET abalance = abalance + -12 WHERE aid = 5;",
            ],
            [
                "UPDATE pgbench_tellers SET tbalance = tbalance + 3 WHERE tid = 8;",
                "UPDATE pgbench_tellers SET tbalance = tbalance + 1 WHERE tid = 10;",
            ],
            [
                "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (8, 1, 17, -4711, CURRENT_TIMESTAMP);",
                "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (10, 2, 5, -12, CURRENT_TIMESTAMP);",
            ],
            ["END;", "END;"],
        ];
        for [a, b] in draws {
            assert_eq!(skeleton(a), skeleton(b), "{a} / {b}");
            let analysis = analyze(a, &target);
            assert!(matches!(analysis.cache_key(a), Some(CacheKey::Shape(_))), "{a}: {:?}", analysis.cache_key(a));
        }
    }
}
