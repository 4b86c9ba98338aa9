//! Interpreters with inline code (`python -c`, `node -e`, ...): known destructive calls are
//! classified; code that reaches outside the workspace, the network or a subprocess in ways
//! Holdpoint cannot follow is opaque.

use holdpoint_core::Verb;

use super::commands::piped_script;
use super::opaque;
use super::walk::{Stdin, Walker};
use super::words::Arg;

/// Interpreter → the options that take inline code.
const INTERPRETERS: &[(&str, &[&str])] = &[
    ("python", &["-c"]),
    ("python3", &["-c"]),
    ("python2", &["-c"]),
    ("pypy", &["-c"]),
    ("pypy3", &["-c"]),
    ("node", &["-e", "--eval", "-p", "--print"]),
    ("nodejs", &["-e", "--eval", "-p"]),
    ("bun", &["-e", "--eval"]),
    ("deno", &["eval"]),
    ("perl", &["-e", "-E"]),
    ("ruby", &["-e"]),
    ("php", &["-r"]),
    ("lua", &["-e"]),
    ("Rscript", &["-e"]),
    ("osascript", &["-e"]),
    ("pwsh", &["-c", "-Command"]),
    ("powershell", &["-c", "-Command"]),
];

/// Calls that delete, keyed by how they look in code; each takes its target as first argument.
const DELETES: &[&str] = &[
    "shutil.rmtree(",
    "os.remove(",
    "os.unlink(",
    "os.rmdir(",
    "os.removedirs(",
    "pathlib.Path(",
    ".unlink(",
    ".rmdir(",
    ".rmSync(",
    "fs.rm(",
    ".rmdirSync(",
    ".unlinkSync(",
    "fs.unlink(",
    "fs.rmdir(",
    "fsPromises.rm(",
    "rimraf(",
    "FileUtils.rm_rf(",
    "FileUtils.rm_r(",
    "FileUtils.rm(",
    "File.delete(",
    "Dir.rmdir(",
    "unlink(",
    "rmtree(",
    "remove_tree(",
    "Remove-Item",
    "rm -",
    "unlink ",
];

/// Calls that run a shell or a subprocess.
const SUBPROCESS: &[&str] = &[
    "subprocess.",
    "os.system(",
    "os.popen(",
    "os.exec",
    "child_process",
    "execSync(",
    "spawnSync(",
    "exec(",
    "spawn(",
    "system(",
    "`",
    "%x(",
    "IO.popen(",
    "Open3.",
    "shell_exec(",
    "passthru(",
    "proc_open(",
    "Deno.run(",
    "Deno.Command(",
    "Bun.spawn(",
    "Bun.$",
    "qx(",
    "Process.Start(",
];

/// Calls that reach the network.
const NETWORK: &[&str] = &[
    "urllib",
    "requests.",
    "http.client",
    "httpx",
    "socket",
    "fetch(",
    "http.request(",
    "https.request(",
    "axios",
    "Net::HTTP",
    "open-uri",
    "LWP::",
    "HTTP::Tiny",
    "curl_exec(",
    "file_get_contents(\"http",
    "WebSocket",
];

pub(crate) fn is_interpreter(name: &str) -> bool {
    INTERPRETERS.iter().any(|(n, _)| *n == name || version_of(name, n))
}

/// `python3.12` is `python3`.
fn version_of(name: &str, base: &str) -> bool {
    name.strip_prefix(base).is_some_and(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_digit() || c == '.'))
}

pub(crate) fn interpreter(w: &mut Walker<'_>, name: &str, args: &[Arg], stdin: &Stdin, depth: usize) {
    let flags = INTERPRETERS.iter().find(|(n, _)| *n == name || version_of(name, n)).map_or(&[][..], |(_, f)| *f);
    let code_at = args.iter().position(|a| flags.contains(&a.text.as_str()));
    let Some(code) = code_at.and_then(|i| args.get(i + 1)) else {
        // No inline code: a script file (run as a program) or code on stdin.
        if args.iter().all(|a| a.text.starts_with('-')) {
            piped_script_code(w, name, stdin);
        }
        return;
    };
    if !code.literal {
        w.push(opaque(&code.text, "runs code held in a variable", "interp-dynamic-code"));
        return;
    }
    inline_code(w, name, &code.text, depth);
}

/// Code fed to an interpreter on stdin.
fn piped_script_code(w: &mut Walker<'_>, name: &str, stdin: &Stdin) {
    match stdin {
        Stdin::Text(text) => inline_code(w, name, text, 0),
        Stdin::From(..) => piped_script(w, stdin, 0, name),
        Stdin::None => {}
    }
}

fn inline_code(w: &mut Walker<'_>, name: &str, code: &str, depth: usize) {
    for call in DELETES {
        let mut rest = code;
        while let Some(pos) = rest.find(call) {
            let after = rest.get(pos + call.len()..).unwrap_or("");
            match first_string(after) {
                Some(path) => {
                    let arg = Arg { text: path, literal: true, ..Arg::default() };
                    w.path_effect(
                        Verb::Delete,
                        &arg,
                        call.contains("rmtree") || call.contains("rm") || call.contains("remove_tree"),
                        "interp-delete",
                        "inline code deletes this path",
                    );
                }
                None => {
                    w.push(opaque(code, "inline code deletes a path Holdpoint cannot read", "interp-delete-dynamic"))
                }
            }
            rest = after;
        }
    }
    for call in SUBPROCESS {
        if code.contains(call) {
            // A literal shell string handed to a subprocess is classified as a command.
            match code.split(call).nth(1).and_then(first_string) {
                Some(cmd) if matches!(*call, "os.system(" | "execSync(" | "system(" | "shell_exec(" | "os.popen(") => {
                    w.script(&cmd, depth + 1)
                }
                _ => w.push(opaque(code, &format!("inline {name} code starts a subprocess"), "interp-subprocess")),
            }
        }
    }
    if NETWORK.iter().any(|n| code.contains(n)) {
        w.push(opaque(code, &format!("inline {name} code reaches the network"), "interp-network"));
    }
    for lit in string_literals(code) {
        // Absolute, home and relative paths (`../other/.env` as much as `/etc/x`); not URLs.
        let pathlike = lit.starts_with('/')
            || lit.starts_with('~')
            || lit.starts_with("./")
            || lit.starts_with("../")
            || lit.starts_with(".env")
            || (lit.contains('/') && !lit.contains("://") && !lit.contains(char::is_whitespace));
        if pathlike {
            let info = crate::path::info(&lit, &w.ctx);
            if info.tags.contains("secret") {
                let arg = Arg { text: lit, literal: true, ..Arg::default() };
                w.path_effect(Verb::Read, &arg, false, "interp-secret", "inline code opens a secret file");
            } else if info.scope == holdpoint_core::Scope::Host && writes_files(code) {
                w.push(opaque(code, "inline code writes files outside the workspace", "interp-outside-write"));
            }
        }
    }
}

fn writes_files(code: &str) -> bool {
    ["open(", "write", "writeFile", "File.write", "Path(", "copy", "move", "rename"].iter().any(|c| code.contains(c))
}

/// The first string literal at the start of a call's arguments.
fn first_string(after: &str) -> Option<String> {
    let trimmed = after.trim_start();
    let quote = trimmed.chars().next().filter(|c| matches!(c, '"' | '\'' | '`'))?;
    let body = trimmed.get(1..)?;
    body.find(quote).and_then(|end| body.get(..end)).map(str::to_owned)
}

/// Every simple string literal in the code.
fn string_literals(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = code.char_indices();
    while let Some((i, c)) = chars.next() {
        if c == '"' || c == '\'' {
            let rest = code.get(i + 1..).unwrap_or("");
            if let Some(end) = rest.find(c) {
                out.extend(rest.get(..end).map(str::to_owned));
                for _ in 0..=end {
                    chars.next();
                }
            }
        }
    }
    out
}
