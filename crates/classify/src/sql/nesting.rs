//! An upper bound on how deeply a SQL text nests, read from its tokens before it is parsed.
//!
//! libpg_query turns its tree into protobuf recursively, with no depth check: a statement such
//! as `SELECT 1+1+...+1` with a few thousand operators (the grammar builds that chain
//! left-deep without any bracket) overflows a thread's stack and aborts the process. Texts
//! whose bound is over [`MAX_NESTING`] are not parsed (they are opaque): nothing that deep
//! could be classified anyway, since the tree's decoder refuses more than 100 levels.
//!
//! The bound sums, over the open brackets (`(`, `[`, `CASE ... END`), one for the bracket plus
//! the tokens that nest without one: operators and expression keywords since the last list
//! separator (`,`, `AND`, `OR`, `WHEN`, `THEN`, `ELSE`), and set operations and joins
//! (never reset: they chain across commas). Strings, quoted identifiers, dollar quotes and
//! comments are skipped by PostgreSQL's own rules.

/// The largest bound that is parsed. At most about five tree levels come from each unit, so
/// the parse stays a few hundred levels deep: well within a 2 MiB thread stack.
pub(crate) const MAX_NESTING: usize = 100;

/// Expression keywords that nest their operands without brackets.
const NESTING_WORDS: &[&str] = &[
    "not", "is", "isnull", "notnull", "like", "ilike", "similar", "between", "in", "at", "collate", "operator",
    "escape", "overlaps", "unique", "exists", "any", "all", "some",
];

/// Words that chain statements or tables left-deep, across commas.
const CHAIN_WORDS: &[&str] = &["union", "intersect", "except", "join"];

/// Words that separate siblings: what came before them does not enclose what follows.
const SEPARATOR_WORDS: &[&str] = &["and", "or", "when", "then", "else"];

#[derive(Clone, Copy, Default)]
struct Level {
    chain: usize,
    sticky: usize,
}

/// The nesting bound of `sql` (see the module documentation); counting stops past
/// [`MAX_NESTING`].
pub(crate) fn estimate(sql: &str) -> usize {
    let b = sql.as_bytes();
    let mut levels = vec![Level::default()];
    // The sum over `levels` of 1 + chain + sticky.
    let mut total = 1usize;
    let mut max = total;
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let next = b.get(i + 1).copied();
        match c {
            b'-' if next == Some(b'-') => i = line_end(b, i),
            b'/' if next == Some(b'*') => i = block_comment_end(b, i),
            b'\'' => i = string_end(b, i + 1, false),
            b'"' => i = quoted_end(b, i + 1),
            b'$' if next.is_some_and(|n| n == b'$' || n.is_ascii_alphabetic() || n == b'_' || n >= 0x80) => {
                i = dollar_end(b, i);
            }
            b'(' | b'[' => {
                levels.push(Level::default());
                total += 1;
                i += 1;
            }
            b')' | b']' => {
                total -= pop(&mut levels);
                i += 1;
            }
            b',' => {
                total -= reset(&mut levels);
                i += 1;
            }
            b';' => {
                levels = vec![Level::default()];
                total = 1;
                i += 1;
            }
            c if c.is_ascii_whitespace() || c == b'.' || c.is_ascii_digit() => i += 1,
            c if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 => {
                let end = word_end(b, i);
                let word = sql.get(i..end).unwrap_or("").to_ascii_lowercase();
                // E'...' strings keep backslash escapes; U&'...', B'...', X'...', N'...' do not.
                if word == "e" && b.get(end) == Some(&b'\'') {
                    i = string_end(b, end + 1, true);
                    continue;
                }
                i = end;
                match word.as_str() {
                    "case" => {
                        levels.push(Level::default());
                        total += 1;
                    }
                    "end" => total -= pop(&mut levels),
                    w if SEPARATOR_WORDS.contains(&w) => total -= reset(&mut levels),
                    w if CHAIN_WORDS.contains(&w) => {
                        if let Some(l) = levels.last_mut() {
                            l.sticky += 1;
                            total += 1;
                        }
                    }
                    w if NESTING_WORDS.contains(&w) => total += count(&mut levels),
                    _ => {}
                }
            }
            // Operator characters (`+ - * / < > = ~ ! @ # % ^ & | ` ? :`) and anything else.
            _ => {
                total += count(&mut levels);
                i += 1;
            }
        }
        max = max.max(total);
        if max > MAX_NESTING {
            return max;
        }
    }
    max
}

/// Close the innermost bracket (never the outermost level); what it added to the total.
fn pop(levels: &mut Vec<Level>) -> usize {
    if levels.len() > 1 { levels.pop().map_or(0, |l| 1 + l.chain + l.sticky) } else { 0 }
}

/// A list separator: the innermost level's chain starts again; what it added to the total.
fn reset(levels: &mut [Level]) -> usize {
    levels.last_mut().map_or(0, |l| std::mem::take(&mut l.chain))
}

/// One more nesting token in the innermost level.
fn count(levels: &mut [Level]) -> usize {
    levels.last_mut().map_or(0, |l| {
        l.chain += 1;
        1
    })
}

fn word_end(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80) {
        i += 1;
    }
    i
}

fn line_end(b: &[u8], i: usize) -> usize {
    b.iter().skip(i).position(|&c| c == b'\n' || c == b'\r').map_or(b.len(), |p| i + p)
}

/// `/* ... */`, nested as PostgreSQL nests them.
fn block_comment_end(b: &[u8], mut i: usize) -> usize {
    let mut depth = 0usize;
    while let Some(&c) = b.get(i) {
        let next = b.get(i + 1).copied();
        if c == b'/' && next == Some(b'*') {
            depth += 1;
            i += 2;
        } else if c == b'*' && next == Some(b'/') {
            depth = depth.saturating_sub(1);
            i += 2;
            if depth == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    b.len()
}

/// After the opening quote: `''` is a quote; with `backslash`, `\x` escapes `x` too.
fn string_end(b: &[u8], mut i: usize, backslash: bool) -> usize {
    while let Some(&c) = b.get(i) {
        if backslash && c == b'\\' {
            i += 2;
        } else if c == b'\'' {
            if b.get(i + 1) == Some(&b'\'') {
                i += 2;
            } else {
                return i + 1;
            }
        } else {
            i += 1;
        }
    }
    b.len()
}

/// After the opening quote of a quoted identifier: a doubled quote is a quote.
fn quoted_end(b: &[u8], mut i: usize) -> usize {
    while let Some(&c) = b.get(i) {
        if c == b'"' {
            if b.get(i + 1) == Some(&b'"') {
                i += 2;
            } else {
                return i + 1;
            }
        } else {
            i += 1;
        }
    }
    b.len()
}

/// `$tag$ ... $tag$` from its first `$`; a `$` that does not open a dollar quote is skipped.
fn dollar_end(b: &[u8], i: usize) -> usize {
    let tag_end =
        (i + 1..b.len()).find(|&j| b.get(j).is_none_or(|&c| !(c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80)));
    let Some(close) = tag_end.filter(|&j| b.get(j) == Some(&b'$')) else { return i + 1 };
    let tag = b.get(i..=close).unwrap_or_default();
    let body = close + 1;
    b.get(body..)
        .and_then(|rest| rest.windows(tag.len()).position(|w| w == tag))
        .map_or(b.len(), |p| body + p + tag.len())
}
