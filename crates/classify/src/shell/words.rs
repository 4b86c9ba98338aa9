//! Words as the shell would see them after quote removal and the expansions Holdpoint can
//! know statically (`~`, `$HOME`, `$PWD`, `$TMPDIR`, brace expansion, `$'\x72m'`). Anything
//! else (`$VAR`, `$(...)`) leaves the word marked as not literal.

use brush_parser::ParserOptions;
use brush_parser::word::{
    self, BraceExpressionMember, BraceExpressionOrText, Parameter, ParameterExpr, TildeExpr, WordPiece,
};

/// Brace expansions beyond this many words are not expanded (the word stays as written).
const MAX_BRACE_WORDS: usize = 64;
/// Words with more `{` than this are not brace-expanded at all.
const MAX_BRACES: usize = 4;

/// One word after expansion.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Arg {
    /// The text; unknown expansions stay as written (`$X`, `$(cmd)`).
    pub text: String,
    /// No unknown expansion: the text is exactly what the command receives.
    pub literal: bool,
    /// Contains an unquoted glob character (`*`, `?`, `[`).
    pub glob: bool,
    /// Bodies of command substitutions inside the word (classified as commands of their own).
    pub substitutions: Vec<String>,
    /// Names of variables whose value is unknown here.
    pub unknown_vars: Vec<String>,
}

/// What the expansion knows about the environment.
pub struct Env<'a> {
    /// `~` and `$HOME`.
    pub home: &'a str,
    /// `$PWD`.
    pub cwd: &'a str,
    /// `$TMPDIR`.
    pub tmp: &'a str,
    /// Variables this input assigns, whose value Holdpoint then no longer knows.
    pub overridden: &'a [String],
    /// What literal `$(echo ...)` substitutions print, by body.
    pub echoes: &'a dyn Fn(&str) -> Option<String>,
}

/// Expand one raw word into the words the command receives (brace expansion can make several).
pub fn expand(raw: &str, env: &Env<'_>) -> Vec<Arg> {
    // Most words are plain: nothing to expand, nothing to remove.
    if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./=:,@%+".contains(&b)) {
        return vec![Arg { text: raw.to_owned(), literal: true, ..Arg::default() }];
    }
    let options = ParserOptions::default();
    // Brace expansion needs a `,` or `..` inside braces.
    if !raw.contains('{') || !(raw.contains(',') || raw.contains("..")) {
        return vec![expand_one(raw, env, &options)];
    }
    // brush-parser's brace grammar backtracks exponentially in the number of braces (found
    // by the `shell` fuzz target): beyond a few, the word is left unexpanded and not literal.
    if raw.matches('{').count() > MAX_BRACES {
        let mut arg = expand_one(raw, env, &options);
        arg.literal = false;
        arg.unknown_vars.push("{...}".into());
        return vec![arg];
    }
    let braced = match std::panic::catch_unwind(|| word::parse_brace_expansions(raw, &options)) {
        Ok(Ok(Some(parts))) => brace_words(&parts).filter(|w| w.len() <= MAX_BRACE_WORDS),
        _ => None,
    };
    match braced {
        Some(words) if words.len() > 1 => words.iter().map(|w| expand_one(w, env, &options)).collect(),
        _ => vec![expand_one(raw, env, &options)],
    }
}

fn expand_one(raw: &str, env: &Env<'_>, options: &ParserOptions) -> Arg {
    let mut arg = Arg { literal: true, ..Arg::default() };
    // brush-parser's parameter grammar crawls on `[` inside `${...}` (found by fuzzing): such
    // words are left unparsed and not literal.
    if raw.contains("${") && (raw.matches("${").count() > MAX_BRACES || raw.matches('[').count() > MAX_BRACES) {
        arg.text = raw.to_owned();
        arg.literal = false;
        arg.unknown_vars.push("${...}".into());
        return arg;
    }
    // Look-alike dashes (‐ ‑ ‒ – — ―, −) read as `-`: a flag must not hide behind one.
    let normalized: String =
        raw.chars().map(|c| if matches!(c, '\u{2010}'..='\u{2015}' | '\u{2212}') { '-' } else { c }).collect();
    let raw = normalized.as_str();
    // A panic in the word parser is a word Holdpoint cannot read.
    match std::panic::catch_unwind(|| word::parse(raw, options)) {
        Ok(Ok(pieces)) => pieces.iter().for_each(|p| piece(&p.piece, false, env, &mut arg)),
        _ => {
            arg.text = raw.to_owned();
            arg.literal = false;
        }
    }
    arg
}

fn piece(p: &WordPiece, quoted: bool, env: &Env<'_>, arg: &mut Arg) {
    match p {
        WordPiece::Text(t) => {
            if !quoted && t.contains(['*', '?', '[']) {
                arg.glob = true;
            }
            arg.text.push_str(t);
        }
        WordPiece::SingleQuotedText(t) => arg.text.push_str(t),
        WordPiece::AnsiCQuotedText(t) => arg.text.push_str(&ansi_c(t)),
        WordPiece::DoubleQuotedSequence(inner) | WordPiece::GettextDoubleQuotedSequence(inner) => {
            inner.iter().for_each(|p| piece(&p.piece, true, env, arg));
        }
        WordPiece::TildeExpansion(t) => match t {
            TildeExpr::Home => arg.text.push_str(env.home),
            TildeExpr::UserHome(user) if user == "root" => arg.text.push_str("/root"),
            TildeExpr::UserHome(user) => arg.text.push_str(&format!("/home/{user}")),
            TildeExpr::WorkingDir => arg.text.push_str(env.cwd),
            _ => unknown(arg, "~", "DIRSTACK"),
        },
        WordPiece::ParameterExpansion(expr) => parameter(expr, env, arg),
        WordPiece::CommandSubstitution(body) | WordPiece::BackquotedCommandSubstitution(body) => {
            arg.substitutions.push(body.clone());
            match (env.echoes)(body) {
                Some(printed) => arg.text.push_str(&printed),
                None => unknown(arg, &format!("$({body})"), "$(...)"),
            }
        }
        WordPiece::EscapeSequence(s) => arg.text.push_str(s.strip_prefix('\\').unwrap_or(s)),
        WordPiece::ArithmeticExpression(expr) => {
            arg.substitutions.extend(substitutions_in(&expr.value));
            unknown(arg, "$((...))", "$((...))");
        }
    }
}

fn parameter(expr: &ParameterExpr, env: &Env<'_>, arg: &mut Arg) {
    // `${TMPDIR:-/tmp}`: a known variable is set, so the default does not apply.
    let name = match expr {
        ParameterExpr::Parameter { parameter: Parameter::Named(name), indirect: false }
        | ParameterExpr::UseDefaultValues { parameter: Parameter::Named(name), indirect: false, .. } => Some(name),
        _ => None,
    };
    if let Some(name) = name {
        let known = match name.as_str() {
            _ if env.overridden.contains(name) => None,
            "HOME" => Some(env.home),
            "PWD" => Some(env.cwd),
            "TMPDIR" => Some(env.tmp),
            _ => None,
        };
        if let Some(value) = known {
            arg.text.push_str(value);
            return;
        }
        unknown(arg, &format!("${name}"), name);
        return;
    }
    unknown(arg, "${...}", "${...}");
}

fn unknown(arg: &mut Arg, shown: &str, name: &str) {
    arg.text.push_str(shown);
    arg.literal = false;
    arg.unknown_vars.push(name.to_owned());
}

/// The `$(...)` and backquoted commands inside an arithmetic expression.
fn substitutions_in(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'`'
            && let Some(end) = text.get(i + 1..).and_then(|r| r.find('`'))
        {
            out.extend(text.get(i + 1..i + 1 + end).map(str::to_owned));
            i += end + 2;
            continue;
        }
        if b == b'$' && bytes.get(i + 1) == Some(&b'(') && bytes.get(i + 2) != Some(&b'(') {
            let mut depth = 0usize;
            let start = i + 2;
            let mut j = start;
            while let Some(&c) = bytes.get(j) {
                match c {
                    b'(' => depth += 1,
                    b')' if depth == 0 => break,
                    b')' => depth -= 1,
                    _ => {}
                }
                j += 1;
            }
            out.extend(text.get(start..j).map(str::to_owned));
            i = j;
        }
        i += 1;
    }
    out
}

/// Decode the body of `$'...'`.
fn ansi_c(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(e) = chars.next() else {
            out.push('\\');
            break;
        };
        let mut digits = |radix: u32, max: usize, first: Option<char>| {
            let mut v = String::new();
            v.extend(first);
            while v.len() < max && chars.peek().is_some_and(|d| d.is_digit(radix)) {
                v.extend(chars.next());
            }
            u32::from_str_radix(&v, radix).ok().and_then(char::from_u32)
        };
        let decoded = match e {
            'n' => Some('\n'),
            't' => Some('\t'),
            'r' => Some('\r'),
            'a' => Some('\u{7}'),
            'b' => Some('\u{8}'),
            'e' | 'E' => Some('\u{1b}'),
            'f' => Some('\u{c}'),
            'v' => Some('\u{b}'),
            'x' => digits(16, 2, None),
            'u' => digits(16, 4, None),
            'U' => digits(16, 8, None),
            '0'..='7' => digits(8, 3, Some(e)),
            other => Some(other),
        };
        out.extend(decoded);
    }
    out
}

/// All words a brace expression makes, or `None` when there are too many.
fn brace_words(parts: &[BraceExpressionOrText]) -> Option<Vec<String>> {
    let mut words = vec![String::new()];
    for part in parts {
        let alternatives: Vec<String> = match part {
            BraceExpressionOrText::Text(t) => vec![t.clone()],
            BraceExpressionOrText::Expr(members) => {
                let mut alts = Vec::new();
                for m in members {
                    alts.extend(member_words(m)?);
                }
                alts
            }
        };
        if words.len().saturating_mul(alternatives.len()) > MAX_BRACE_WORDS {
            return None;
        }
        words = words.iter().flat_map(|w| alternatives.iter().map(move |a| format!("{w}{a}"))).collect();
    }
    Some(words)
}

fn member_words(m: &BraceExpressionMember) -> Option<Vec<String>> {
    match m {
        BraceExpressionMember::Child(parts) => brace_words(parts),
        BraceExpressionMember::NumberSequence { start, end, increment } => {
            let step = usize::try_from(increment.unsigned_abs()).ok()?.max(1);
            let (lo, hi) = (*start.min(end), *start.max(end));
            let n = usize::try_from(hi.checked_sub(lo)?).ok()? / step + 1;
            if n > MAX_BRACE_WORDS {
                return None;
            }
            Some((lo..=hi).step_by(step).map(|i| i.to_string()).collect())
        }
        BraceExpressionMember::CharSequence { start, end, .. } => {
            let (lo, hi) = (*start.min(end), *start.max(end));
            let words: Vec<String> = (lo..=hi).map(String::from).collect();
            (words.len() <= MAX_BRACE_WORDS).then_some(words)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_echo(_: &str) -> Option<String> {
        None
    }

    fn words(raw: &str) -> Vec<String> {
        let env = Env { home: "/home/u", cwd: "/w", tmp: "/tmp", overridden: &[], echoes: &no_echo };
        expand(raw, &env).into_iter().map(|a| a.text).collect()
    }

    #[test]
    fn quotes_and_escapes_are_removed() {
        assert_eq!(words(r"r\m"), ["rm"]);
        assert_eq!(words("'r'm"), ["rm"]);
        assert_eq!(words("\"rm\""), ["rm"]);
        assert_eq!(words(r"$'\x72m'"), ["rm"]);
        assert_eq!(words(r"$'\162\155'"), ["rm"]);
    }

    #[test]
    fn home_and_braces_expand() {
        assert_eq!(words("~/.ssh"), ["/home/u/.ssh"]);
        assert_eq!(words("$HOME/x"), ["/home/u/x"]);
        assert_eq!(words("${HOME}"), ["/home/u"]);
        assert_eq!(words("/{a,b}/c"), ["/a/c", "/b/c"]);
        assert_eq!(words("x{1..3}"), ["x1", "x2", "x3"]);
    }

    /// Found by the `shell` fuzz target: this took seconds in brace parsing.
    #[test]
    fn many_braces_are_not_expanded() {
        let env = Env { home: "/home/u", cwd: "/w", tmp: "/tmp", overridden: &[], echoes: &no_echo };
        let raw = format!("x{},a+", "{".repeat(40));
        let args = expand(&raw, &env);
        assert_eq!(args.len(), 1);
        assert!(!args[0].literal);
        assert_eq!(words("{a,b}{c,d}"), ["ac", "ad", "bc", "bd"]);
    }

    #[test]
    fn unknown_expansions_are_marked() {
        let env = Env { home: "/home/u", cwd: "/w", tmp: "/tmp", overridden: &[], echoes: &no_echo };
        let a = &expand("$DIR/x", &env)[0];
        assert!(!a.literal);
        let a = &expand("$(echo rm)", &env)[0];
        assert_eq!(a.substitutions, ["echo rm"]);
        assert!(expand("'*'", &env)[0].glob.eq(&false));
        assert!(expand("*", &env)[0].glob);
    }
}
