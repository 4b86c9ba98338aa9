//! A `.env` file as a document that can be rewritten without losing a byte: comments, blank
//! lines, order, `export`, spacing, quoting and line endings stay as they were; only the values
//! that are replaced change.
//!
//! Accepted: `[export] NAME = value # comment`, where the value is unquoted (up to a `#` after
//! whitespace, trailing whitespace dropped), `'single'` or `` `backtick` `` quoted (literal), or
//! `"double"` quoted (`\\ \' \" \a \b \f \n \r \t \v` escapes, as python-dotenv reads them);
//! quoted values may span lines. A line that is not an assignment is kept as it is. An
//! unterminated quote is an error: where the value ends would be a guess.

use zeroize::{Zeroize, Zeroizing};

/// A parsed `.env` file. Zeroized when dropped (it holds the file's secrets).
#[derive(Clone, PartialEq, Eq)]
pub struct Document {
    items: Vec<Item>,
}

impl std::fmt::Debug for Document {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.assignments().map(|a| a.name.as_str()).collect();
        f.debug_struct("Document").field("assignments", &names).finish_non_exhaustive()
    }
}

impl Drop for Document {
    fn drop(&mut self) {
        for item in &mut self.items {
            match item {
                Item::Text(text) => text.zeroize(),
                Item::Assignment(a) => {
                    for s in [&mut a.lead, &mut a.name, &mut a.eq, &mut a.raw, &mut a.trail] {
                        s.zeroize();
                    }
                }
            }
        }
    }
}

#[derive(Clone, PartialEq, Eq)]
enum Item {
    /// A line that is not an assignment (comment, blank, anything else), with its line ending.
    Text(String),
    Assignment(Assignment),
}

/// How a value is quoted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quote {
    /// Not quoted.
    None,
    /// `'value'`.
    Single,
    /// `"value"`.
    Double,
    /// `` `value` ``.
    Backtick,
}

impl Quote {
    fn mark(self) -> &'static str {
        match self {
            Quote::None => "",
            Quote::Single => "'",
            Quote::Double => "\"",
            Quote::Backtick => "`",
        }
    }
}

/// One `NAME=value` assignment.
#[derive(Clone, PartialEq, Eq)]
pub struct Assignment {
    /// The 1-based line the assignment starts on.
    pub line: usize,
    /// The variable's name.
    pub name: String,
    /// How the value is quoted.
    pub quote: Quote,
    /// Indentation and `export `.
    lead: String,
    /// The spacing and `=` between name and value.
    eq: String,
    /// The value as written between its quotes.
    raw: String,
    /// Everything after the value (closing quote excluded) up to and including the line end.
    trail: String,
}

impl std::fmt::Debug for Assignment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Assignment").field("line", &self.line).field("name", &self.name).finish_non_exhaustive()
    }
}

impl Assignment {
    /// The value, with quotes removed and escapes of a double-quoted value decoded.
    pub fn value(&self) -> Zeroizing<String> {
        match self.quote {
            Quote::Double => unescape(&self.raw),
            Quote::None | Quote::Single | Quote::Backtick => Zeroizing::new(self.raw.clone()),
        }
    }

    /// Replaces the value, keeping the quoting where the new value allows it (otherwise it
    /// becomes double-quoted).
    pub fn set_value(&mut self, value: &str) {
        let plain =
            !value.is_empty() && !value.chars().any(|c| c.is_whitespace() || c.is_control() || "#'\"`\\$".contains(c));
        let fits = match self.quote {
            Quote::None => plain,
            Quote::Single => !value.contains(['\'', '\n', '\r']),
            Quote::Backtick => !value.contains(['`', '\n', '\r']),
            Quote::Double => true,
        };
        let mut raw = String::with_capacity(value.len());
        if fits && self.quote != Quote::Double {
            raw.push_str(value);
        } else {
            self.quote = Quote::Double;
            escape_into(value, &mut raw);
        }
        self.raw.zeroize();
        self.raw = raw;
    }

    fn render_into(&self, out: &mut String) {
        for part in
            [self.lead.as_str(), &self.name, &self.eq, self.quote.mark(), &self.raw, self.quote.mark(), &self.trail]
        {
            out.push_str(part);
        }
    }
}

/// Why a `.env` file cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {detail}")]
pub struct ParseError {
    /// The 1-based line.
    pub line: usize,
    /// What is wrong.
    pub detail: String,
}

impl Document {
    /// Parses a `.env` file's bytes (UTF-8 required).
    pub fn parse_bytes(bytes: &[u8]) -> Result<Document, ParseError> {
        let text = std::str::from_utf8(bytes).map_err(|e| ParseError {
            line: 1 + bytes.get(..e.valid_up_to()).map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count()),
            detail: "not UTF-8 text; Holdpoint only rewrites text files".into(),
        })?;
        Document::parse(text)
    }

    /// Parses a `.env` file.
    pub fn parse(text: &str) -> Result<Document, ParseError> {
        let mut items = Vec::new();
        let (mut pos, mut line) = (0, 1);
        while pos < text.len() {
            let rest = text.get(pos..).unwrap_or_default();
            let line_len = rest.find('\n').map_or(rest.len(), |i| i + 1);
            let (item, used) = match assignment(rest, line, pos == 0)? {
                Some((a, used)) => (Item::Assignment(a), used),
                None => (Item::Text(rest.get(..line_len).unwrap_or_default().to_owned()), line_len),
            };
            line += rest.get(..used).map_or(0, |s| s.matches('\n').count());
            pos += used.max(1);
            items.push(item);
        }
        Ok(Document { items })
    }

    /// The file's text, as parsed and with any values replaced since.
    pub fn render(&self) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::new());
        for item in &self.items {
            match item {
                Item::Text(text) => out.push_str(text),
                Item::Assignment(a) => a.render_into(&mut out),
            }
        }
        out
    }

    /// The assignments, in file order.
    pub fn assignments(&self) -> impl Iterator<Item = &Assignment> {
        self.items.iter().filter_map(|i| match i {
            Item::Assignment(a) => Some(a),
            Item::Text(_) => None,
        })
    }

    /// The assignments, in file order, to change.
    pub fn assignments_mut(&mut self) -> impl Iterator<Item = &mut Assignment> {
        self.items.iter_mut().filter_map(|i| match i {
            Item::Assignment(a) => Some(a),
            Item::Text(_) => None,
        })
    }
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Reads an assignment at the start of `rest`; `None` when the line is not one.
fn assignment(rest: &str, line: usize, first: bool) -> Result<Option<(Assignment, usize)>, ParseError> {
    let mut i = if first && rest.starts_with('\u{feff}') { '\u{feff}'.len_utf8() } else { 0 };
    let skip_blanks =
        |from: usize| from + rest.get(from..).map_or(0, |s| s.len() - s.trim_start_matches(is_blank).len());
    i = skip_blanks(i);
    if let Some(after) = rest.get(i..).and_then(|s| s.strip_prefix("export"))
        && after.starts_with(is_blank)
    {
        i = skip_blanks(i + "export".len());
    }
    let lead_end = i;
    let name_len = rest.get(i..).map_or(0, |s| {
        let mut chars = s.char_indices();
        match chars.next() {
            Some((_, c)) if c.is_ascii_alphabetic() || c == '_' => chars
                .find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
                .map_or(s.len(), |(at, _)| at),
            _ => 0,
        }
    });
    if name_len == 0 {
        return Ok(None);
    }
    let name_end = lead_end + name_len;
    let eq_at = skip_blanks(name_end);
    if !rest.get(eq_at..).is_some_and(|s| s.starts_with('=')) {
        return Ok(None);
    }
    let value_at = skip_blanks(eq_at + 1);
    let piece = |a: usize, b: usize| rest.get(a..b).unwrap_or_default().to_owned();
    let (quote, raw_range, after) = match rest.get(value_at..).and_then(|s| s.chars().next()) {
        Some(q @ ('\'' | '`' | '"')) => {
            let close = closing_quote(rest.get(value_at + 1..).unwrap_or_default(), q).ok_or_else(|| ParseError {
                line,
                detail: format!("the value is opened with {q} and never closed; close it or remove the quote"),
            })?;
            let quote = match q {
                '\'' => Quote::Single,
                '`' => Quote::Backtick,
                _ => Quote::Double,
            };
            (quote, (value_at + 1, value_at + 1 + close), value_at + 2 + close)
        }
        _ => {
            let line_end = rest.get(value_at..).and_then(|s| s.find('\n')).map_or(rest.len(), |i| value_at + i);
            let text = rest.get(value_at..line_end).unwrap_or_default();
            let comment = text
                .char_indices()
                .find(|&(at, c)| c == '#' && at > 0 && text.get(..at).is_some_and(|before| before.ends_with(is_blank)));
            let value = comment.map_or(text, |(at, _)| text.get(..at).unwrap_or_default());
            let value = value.trim_end_matches([' ', '\t', '\r']);
            (Quote::None, (value_at, value_at + value.len()), value_at + value.len())
        }
    };
    let end = rest.get(after..).and_then(|s| s.find('\n')).map_or(rest.len(), |i| after + i + 1);
    let assignment = Assignment {
        line,
        name: piece(lead_end, name_end),
        quote,
        lead: piece(0, lead_end),
        eq: piece(name_end, value_at),
        raw: piece(raw_range.0, raw_range.1),
        trail: piece(after, end),
    };
    Ok(Some((assignment, end)))
}

/// The byte offset of the quote closing a value that starts right after the opening `q`.
fn closing_quote(s: &str, q: char) -> Option<usize> {
    let mut chars = s.char_indices();
    while let Some((at, c)) = chars.next() {
        if c == q {
            return Some(at);
        }
        if c == '\\' && q == '"' {
            chars.next();
        }
    }
    None
}

fn unescape(raw: &str) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(raw.len()));
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(e @ ('\\' | '\'' | '"')) => out.push(e),
            Some('a') => out.push('\u{7}'),
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('v') => out.push('\u{b}'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

fn escape_into(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(text: &str) -> Vec<(String, String, usize)> {
        let doc = Document::parse(text).unwrap();
        assert_eq!(doc.render().as_str(), text, "renders back byte for byte");
        doc.assignments().map(|a| (a.name.clone(), a.value().to_string(), a.line)).collect()
    }

    #[test]
    fn values_are_read_like_dotenv_reads_them() {
        let text = "# top\n\nexport A=1\nB = two words # note\r\nC='x # y'\nD=\"l1\\nl2 \\\"q\\\"\"\nE=\"multi\nline\"\nF=\nG=a#b\n  H=`bt`\nnot an assignment\nI=last";
        assert_eq!(
            values(text),
            [
                ("A".into(), "1".into(), 3),
                ("B".into(), "two words".into(), 4),
                ("C".into(), "x # y".into(), 5),
                ("D".into(), "l1\nl2 \"q\"".into(), 6),
                ("E".into(), "multi\nline".into(), 7),
                ("F".into(), "".into(), 9),
                ("G".into(), "a#b".into(), 10),
                ("H".into(), "bt".into(), 11),
                ("I".into(), "last".into(), 13),
            ]
        );
    }

    #[test]
    fn unterminated_quotes_are_errors_with_their_line() {
        let err = Document::parse("A=1\nB=\"open\nC=2\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(Document::parse("A='x").is_err());
        assert_eq!(Document::parse_bytes(b"A=1\nB=\xff\n").unwrap_err().line, 2);
    }

    #[test]
    fn replacing_keeps_everything_else() {
        let text = "\u{feff}# c\nexport KEY = \"sk-1\"  # main\nURL='pg://u:p@h/d'\nRAW=abc\r\nQ='it''s'\n";
        let mut doc = Document::parse(text).unwrap();
        for a in doc.assignments_mut() {
            let new = match a.name.as_str() {
                "KEY" => "hp_x".to_owned(),
                "URL" => a.value().replace(":p@", ":hp_y@"),
                "RAW" => "needs quotes".to_owned(),
                _ => continue,
            };
            a.set_value(&new);
        }
        assert_eq!(
            doc.render().as_str(),
            "\u{feff}# c\nexport KEY = \"hp_x\"  # main\nURL='pg://u:hp_y@h/d'\nRAW=\"needs quotes\"\r\nQ='it''s'\n"
        );
    }
}
