//! Walking the syntax tree: every simple command, with its redirections, what feeds its
//! stdin, and the cwd it runs in.

use brush_parser::ast::{
    AndOr, AndOrList, Command, CommandPrefixOrSuffixItem, CompoundCommand, CompoundList, IoFileRedirectKind,
    IoFileRedirectTarget, IoRedirect, Pipeline, SimpleCommand,
};
use brush_parser::{Parser, ParserOptions};
use holdpoint_core::{Effect, Reversibility, Scope, Target, TargetKind, Verb};

use super::words::{self, Arg, Env};
use super::{MAX_COMMANDS, MAX_DEPTH, commands, effect, opaque};
use crate::path;
use crate::{Context, WorkspaceFacts};

/// The cwd after a `cd` Holdpoint cannot follow: relative paths then resolve outside every
/// workspace, so they are judged as elsewhere on the machine.
pub(crate) const UNKNOWN_CWD: &str = "/(unknown cwd)";

/// What feeds a command's standard input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Stdin {
    /// Nothing Holdpoint sees (the terminal, or nothing).
    None,
    /// Known text: a here-document, a here-string, or `echo`/`printf` of literals.
    Text(String),
    /// The output of another command, by name (`curl`, `base64`, ...), with its args.
    From(String, Vec<Arg>),
}

/// A simple command, expanded.
pub(crate) struct Simple {
    /// `NAME=value` words before the command.
    pub assignments: Vec<(String, Arg)>,
    /// The command and its arguments.
    pub args: Vec<Arg>,
    /// What feeds its stdin.
    pub stdin: Stdin,
}

/// The classifier's state while it walks one input.
pub(crate) struct Walker<'a> {
    pub ctx: Context,
    pub facts: &'a dyn WorkspaceFacts,
    pub effects: Vec<Effect>,
    commands: usize,
    /// Paths this input writes before it reads them (a `source` of such a file is opaque).
    pub written: Vec<String>,
    /// Variables this input assigns, whose value is then unknown (`TMPDIR=/x rm -rf $TMPDIR`).
    pub overridden: Vec<String>,
}

impl<'a> Walker<'a> {
    pub fn new(ctx: &Context, facts: &'a dyn WorkspaceFacts) -> Self {
        Walker {
            ctx: ctx.clone(),
            facts,
            effects: Vec::new(),
            commands: 0,
            written: Vec::new(),
            overridden: Vec::new(),
        }
    }

    pub fn finish(mut self) -> Vec<Effect> {
        if self.effects.is_empty() {
            let target = Target::new(TargetKind::Process, "(nothing)");
            self.effects.push(effect(
                Verb::Execute,
                target,
                Reversibility::Reversible,
                Scope::Workspace,
                "shell-empty",
                "the input runs no command",
            ));
        }
        self.effects
    }

    pub fn push(&mut self, e: Effect) {
        if !self.effects.contains(&e) {
            self.effects.push(e);
        }
    }

    pub fn env(&self) -> Env<'_> {
        let tmp = self.ctx.temp_dirs.first().map_or("/tmp", String::as_str);
        Env { home: &self.ctx.home, cwd: &self.ctx.cwd, tmp, overridden: &self.overridden, echoes: &echo_output }
    }

    /// Parse and walk a whole script (a command line, a `bash -c` string, a script body).
    pub fn script(&mut self, text: &str, depth: usize) {
        if depth > MAX_DEPTH {
            self.push(opaque(text, "commands nested deeper than Holdpoint follows", "shell-too-deep"));
            return;
        }
        // Control characters (a carriage return in a here-document delimiter made the parser
        // spin, found by the `shell` fuzz target) have no place in a command an agent means.
        if text.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
            self.push(opaque(text, "the command holds control characters", "shell-control-characters"));
            return;
        }
        // `[` inside `${...}` makes brush-parser crawl (found by fuzzing); array-heavy input is
        // held rather than parsed.
        if text.matches("${").count() > 3 && text.matches('[').count() > MAX_NESTING / 2 {
            self.push(opaque(text, "too many parameter expansions with subscripts to parse", "shell-too-deep"));
            return;
        }
        if nesting(text) > MAX_NESTING {
            self.push(opaque(text, "parentheses or braces nested deeper than Holdpoint parses", "shell-too-deep"));
            return;
        }
        // brush-parser panics on some inputs (an fd number that overflows, found by the
        // `shell` fuzz target): a panic there is input Holdpoint cannot read, not a crash.
        let parsed = std::panic::catch_unwind(|| {
            Parser::new(std::io::Cursor::new(text.as_bytes()), &ParserOptions::default()).parse_program()
        });
        match parsed {
            Ok(Ok(program)) => program.complete_commands.iter().for_each(|c| self.list(c, depth)),
            Ok(Err(e)) => {
                self.push(opaque(text, &format!("the shell syntax could not be parsed: {e}"), "shell-unparsable"))
            }
            Err(_) => self.push(opaque(text, "the shell parser failed on this input", "shell-unparsable")),
        }
    }

    fn list(&mut self, list: &CompoundList, depth: usize) {
        for item in &list.0 {
            self.and_or(&item.0, depth);
        }
    }

    fn and_or(&mut self, list: &AndOrList, depth: usize) {
        self.pipeline(&list.first, depth);
        for next in &list.additional {
            match next {
                AndOr::And(p) | AndOr::Or(p) => self.pipeline(p, depth),
            }
        }
    }

    fn pipeline(&mut self, pipeline: &Pipeline, depth: usize) {
        let mut stdin = Stdin::None;
        let stages = &pipeline.seq;
        for command in stages {
            stdin = self.command(command, stdin, depth);
        }
    }

    /// Walk one command; returns what it feeds the next stage of a pipeline.
    fn command(&mut self, command: &Command, stdin: Stdin, depth: usize) -> Stdin {
        self.commands += 1;
        if self.commands > MAX_COMMANDS {
            if self.commands == MAX_COMMANDS + 1 {
                self.push(opaque(
                    "(more commands)",
                    "more commands than Holdpoint reads in one input",
                    "shell-too-long",
                ));
            }
            return Stdin::None;
        }
        match command {
            Command::Simple(s) => return self.simple(s, stdin, depth),
            Command::Compound(c, redirects) => {
                if let Some(r) = redirects {
                    r.0.iter().for_each(|r| {
                        self.redirect(r, depth);
                    });
                }
                self.compound(c, depth);
            }
            Command::Function(f) => {
                self.compound(&f.body.0, depth);
            }
            Command::ExtendedTest(..) => {}
        }
        Stdin::None
    }

    fn compound(&mut self, c: &CompoundCommand, depth: usize) {
        match c {
            CompoundCommand::BraceGroup(b) => self.list(&b.list, depth),
            CompoundCommand::Subshell(s) => {
                let cwd = self.ctx.cwd.clone();
                self.list(&s.list, depth);
                self.ctx.cwd = cwd;
            }
            CompoundCommand::ForClause(f) => {
                for w in f.values.iter().flatten() {
                    self.word(&w.value, depth);
                }
                self.list(&f.body.list, depth);
            }
            CompoundCommand::ArithmeticForClause(f) => self.list(&f.body.list, depth),
            CompoundCommand::CaseClause(c) => {
                self.word(&c.value.value, depth);
                c.cases.iter().filter_map(|i| i.cmd.as_ref()).for_each(|l| self.list(l, depth));
            }
            CompoundCommand::IfClause(i) => {
                self.list(&i.condition, depth);
                self.list(&i.then, depth);
                for e in i.elses.iter().flatten() {
                    if let Some(c) = &e.condition {
                        self.list(c, depth);
                    }
                    self.list(&e.body, depth);
                }
            }
            CompoundCommand::WhileClause(w) | CompoundCommand::UntilClause(w) => {
                self.list(&w.0, depth);
                self.list(&w.1.list, depth);
            }
            CompoundCommand::Arithmetic(_) => {}
            CompoundCommand::Coprocess(c) => {
                self.command(&c.body, Stdin::None, depth);
            }
        }
    }

    /// Expand a word for its side effects only (its command substitutions run).
    fn word(&mut self, raw: &str, depth: usize) -> Vec<Arg> {
        let args = words::expand(raw, &self.env());
        for sub in args.iter().flat_map(|a| &a.substitutions) {
            self.script(sub, depth + 1);
        }
        args
    }

    fn simple(&mut self, s: &SimpleCommand, mut stdin: Stdin, depth: usize) -> Stdin {
        let mut simple = Simple { assignments: Vec::new(), args: Vec::new(), stdin: Stdin::None };
        let prefix_len = s.prefix.as_ref().map_or(0, |p| p.0.len());
        let items = s.prefix.iter().flat_map(|p| &p.0).chain(s.suffix.iter().flat_map(|p| &p.0));
        let mut redirects = Vec::new();
        for item in s.prefix.iter().flat_map(|p| &p.0) {
            if let CommandPrefixOrSuffixItem::AssignmentWord(a, _) = item {
                self.overridden.push(a.name.to_string());
            }
        }
        for item in s.prefix.iter().flat_map(|p| &p.0) {
            if let CommandPrefixOrSuffixItem::AssignmentWord(a, w) = item {
                let value = w.value.split_once('=').map_or("", |(_, v)| v);
                let arg = self.word(value, depth).into_iter().next().unwrap_or_default();
                simple.assignments.push((a.name.to_string(), arg));
            }
        }
        if let Some(w) = &s.word_or_name {
            simple.args.extend(self.word(&w.value, depth));
        }
        for (i, item) in items.enumerate() {
            match item {
                CommandPrefixOrSuffixItem::Word(w) => simple.args.extend(self.word(&w.value, depth)),
                // After the command name, `name=value` is an ordinary argument.
                CommandPrefixOrSuffixItem::AssignmentWord(_, w) if i >= prefix_len => {
                    simple.args.extend(self.word(&w.value, depth));
                }
                CommandPrefixOrSuffixItem::IoRedirect(r) => redirects.push(r),
                CommandPrefixOrSuffixItem::ProcessSubstitution(_, sub) => self.list(&sub.list, depth + 1),
                CommandPrefixOrSuffixItem::AssignmentWord(..) => {}
            }
        }
        for r in redirects {
            if let Some(text) = self.redirect(r, depth) {
                stdin = text;
            }
        }
        simple.stdin = stdin;
        commands::dispatch(self, simple, depth)
    }

    /// Effects of a redirection; returns the stdin it provides, if any.
    fn redirect(&mut self, r: &IoRedirect, depth: usize) -> Option<Stdin> {
        match r {
            IoRedirect::File(_, kind, IoFileRedirectTarget::Filename(w)) => {
                let arg = self.word(&w.value, depth).into_iter().next()?;
                let verb = match kind {
                    IoFileRedirectKind::Read => Verb::Read,
                    IoFileRedirectKind::Write
                    | IoFileRedirectKind::Append
                    | IoFileRedirectKind::Clobber
                    | IoFileRedirectKind::ReadAndWrite => Verb::Write,
                    IoFileRedirectKind::DuplicateInput | IoFileRedirectKind::DuplicateOutput => return None,
                };
                self.path_effect(verb, &arg, false, "shell-redirect", "a redirection reads or writes this file");
                if verb == Verb::Read {
                    let path = path::resolve(&arg.text, &self.ctx);
                    return Some(match self.facts.read(&path) {
                        Some(text) => Stdin::Text(text),
                        None => Stdin::From("cat".into(), vec![arg]),
                    });
                }
                None
            }
            IoRedirect::File(_, _, IoFileRedirectTarget::ProcessSubstitution(_, sub)) => {
                self.list(&sub.list, depth + 1);
                None
            }
            IoRedirect::File(..) => None,
            IoRedirect::HereDocument(_, doc) => Some(Stdin::Text(doc.doc.value.clone())),
            IoRedirect::HereString(_, w) => {
                let arg = self.word(&w.value, depth).into_iter().next()?;
                Some(if arg.literal { Stdin::Text(arg.text) } else { Stdin::From("$(...)".into(), vec![arg]) })
            }
            IoRedirect::OutputAndError(w, _) => {
                let arg = self.word(&w.value, depth).into_iter().next()?;
                self.path_effect(Verb::Write, &arg, false, "shell-redirect", "a redirection writes this file");
                None
            }
        }
    }

    /// The effect of a verb on a path argument; unknown paths are opaque for anything but reads.
    pub fn path_effect(&mut self, verb: Verb, arg: &Arg, recursive: bool, rule: &str, why: &str) {
        if is_device_sink(&arg.text) {
            return;
        }
        if !arg.literal && verb != Verb::Read {
            let what = format!("{} {}", verb, arg.text);
            self.push(opaque(&what, "the path is held in a variable or substitution Holdpoint cannot resolve", rule));
            return;
        }
        let info = path::info(&arg.text, &self.ctx);
        let info = if arg.glob { glob_info(info, &self.ctx) } else { info };
        let mut e = path::effect(verb, &info, recursive, self.facts);
        e.rule = Some(rule.to_owned());
        e.why = Some(why.to_owned());
        if verb == Verb::Write {
            self.written.push(info.abs);
        }
        self.push(e);
    }
}

/// Deeper nesting than this is not parsed: brush-parser's grammar backtracks exponentially
/// on unbalanced `(` (found by the `shell` fuzz target), and no real command nests this deep.
const MAX_NESTING: usize = 12;

/// The deepest nesting of `(`, `{` and `[` outside single quotes (unbalanced `[` inside
/// `${...}` made word parsing crawl, also found by fuzzing).
fn nesting(text: &str) -> usize {
    let (mut depth, mut max, mut quoted, mut escaped) = (0usize, 0usize, false, false);
    for c in text.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if !quoted => escaped = true,
            '\'' => quoted = !quoted,
            '(' | '{' | '[' if !quoted => {
                depth += 1;
                max = max.max(depth);
            }
            ')' | '}' | ']' if !quoted => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// A glob deletes what it matches: at a root-like directory, `*` means everything in it.
fn glob_info(mut info: path::PathInfo, ctx: &Context) -> path::PathInfo {
    let (dir, last) = info.abs.rsplit_once('/').unwrap_or(("", &info.abs));
    let dir = if dir.is_empty() { "/" } else { dir };
    if !last.chars().all(|c| matches!(c, '*' | '.' | '?')) {
        // `/*.log` is some files in `/`, not `/` itself.
        info.tags.remove("root");
    }
    if last.chars().all(|c| matches!(c, '*' | '.' | '?')) || dir.contains(['*', '?', '[']) {
        let parent = path::info(dir, ctx);
        info.tags.extend(parent.tags.iter().filter(|t| *t == "root" || *t == "secret" || *t == "guard").cloned());
        if parent.abs == ctx.workspace {
            info.tags.remove("regenerable");
        }
    }
    info
}

/// Writes to these go nowhere that matters.
fn is_device_sink(text: &str) -> bool {
    matches!(text, "/dev/null" | "/dev/stdout" | "/dev/stderr" | "/dev/tty" | "-") || text.starts_with("/dev/fd/")
}

/// `/usr/bin/rm` → `rm`.
pub(crate) fn basename(text: &str) -> &str {
    text.rsplit(['/', '\\']).next().unwrap_or(text)
}

/// The command name as the system finds it: case folded (case-insensitive file systems run
/// `RM` as `rm`) and without a Windows `.exe`.
pub(crate) fn command_name(text: &str) -> String {
    let name = basename(text).to_lowercase();
    name.strip_suffix(".exe").map_or(name.clone(), str::to_owned)
}

/// What `$(echo a b)` or `$(printf x)` prints, when every word is literal.
fn echo_output(body: &str) -> Option<String> {
    fn none(_: &str) -> Option<String> {
        None
    }
    let env = Env { home: "/(home)", cwd: "/(cwd)", tmp: "/tmp", overridden: &[], echoes: &none };
    let mut parts = body.split_whitespace();
    let cmd = parts.next()?;
    if cmd != "echo" && cmd != "printf" {
        return None;
    }
    let rest: Vec<&str> = parts.collect();
    let mut out = Vec::new();
    for raw in rest {
        for arg in words::expand(raw, &env) {
            if !arg.literal || arg.glob || arg.text.contains("/(") {
                return None;
            }
            out.push(arg.text);
        }
    }
    Some(out.join(" "))
}
