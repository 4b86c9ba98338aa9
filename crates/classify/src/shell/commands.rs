//! What each command does: wrappers are unwrapped, shells and interpreters are looked into,
//! and the command families (files, git, databases, cloud, infrastructure) are classified.

use holdpoint_core::{Reversibility, Scope, Target, TargetKind, Verb};

use super::walk::{Simple, Stdin, UNKNOWN_CWD, Walker, command_name};
use super::words::Arg;
use super::{cloud, db, effect, fs, git, interp, opaque, rules};
use crate::path;

/// Commands that only look at file metadata: their path arguments are not reads of content.
const METADATA_ONLY: &[&str] = &[
    "ls", "stat", "test", "[", "file", "du", "realpath", "readlink", "dirname", "basename", "cd", "pushd", "mkdir",
    "exa", "eza", "tree", "which", "type", "command", "echo", "printf", "touch", "df",
];

/// Shells whose `-c` string or stdin is a script.
const SHELLS: &[&str] = &["sh", "bash", "zsh", "dash", "ksh", "mksh", "fish", "ash", "busybox-sh"];

/// Programs that send data over the network.
const SENDERS: &[&str] = &[
    "curl", "wget", "nc", "ncat", "netcat", "socat", "telnet", "http", "https", "xh", "scp", "rsync", "ssh", "sftp",
    "ftp",
];

/// Commands that pass (a transform of) their input on to their output.
const FILTERS: &[&str] = &[
    "base64", "base32", "xxd", "od", "hexdump", "gzip", "bzip2", "xz", "zstd", "tee", "sed", "awk", "tr", "sort",
    "head", "tail", "grep", "cut", "rev", "openssl", "gpg", "jq", "cat", "uniq", "column",
];

/// Commands that print the environment.
fn env_dump(cmd: &str) -> bool {
    matches!(cmd.split_whitespace().next(), Some("env" | "printenv" | "set" | "export" | "declare"))
}

/// A variable whose name says it holds a credential.
fn secret_variable(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    ["TOKEN", "SECRET", "PASSWORD", "PASSWD", "API_KEY", "ACCESS_KEY", "PRIVATE_KEY", "CREDENTIAL"]
        .iter()
        .any(|w| upper.contains(w))
}

/// Dispatch one simple command; returns what it feeds the next pipeline stage.
pub(crate) fn dispatch(w: &mut Walker<'_>, s: Simple, depth: usize) -> Stdin {
    for (name, _) in &s.assignments {
        guard_variable(w, name);
    }
    let Some(first) = s.args.first() else { return Stdin::None };
    if !first.literal {
        w.push(opaque(&first.text, "the command name is held in a variable or substitution", "shell-dynamic-command"));
        return Stdin::None;
    }
    let name = command_name(&first.text);
    let args: Vec<Arg> = s.args.get(1..).unwrap_or_default().to_vec();
    if name == "unset" {
        args.iter().for_each(|a| guard_variable(w, &a.text));
    }
    if name == "export" || name == "declare" || name == "typeset" || name == "readonly" {
        for a in &args {
            if let Some((var, _)) = a.text.split_once('=') {
                w.overridden.push(var.to_owned());
                guard_variable(w, var);
            }
        }
    }
    let out = produced(&name, &args, &s.stdin);
    run(w, &name, &args, &s, depth);
    out
}

/// What a command feeds the next stage of a pipeline.
fn produced(name: &str, args: &[Arg], stdin: &Stdin) -> Stdin {
    match name {
        "echo" | "printf" if args.iter().all(|a| a.literal) => {
            let words: Vec<&str> = args.iter().map(|a| a.text.as_str()).filter(|t| !t.starts_with('-')).collect();
            Stdin::Text(words.join(" "))
        }
        "cat" if args.is_empty() => stdin.clone(),
        // Filters pass their input on: `env | base64 | curl` still sends the environment.
        _ if FILTERS.contains(&name) && matches!(stdin, Stdin::From(p, _) if env_dump(p)) => stdin.clone(),
        _ => Stdin::From(name.to_owned(), args.to_vec()),
    }
}

/// Classify a command by name, after wrappers.
pub(crate) fn run(w: &mut Walker<'_>, name: &str, args: &[Arg], s: &Simple, depth: usize) {
    if let Some(rest) = unwrap(name, args) {
        return match rest.split_first() {
            Some((cmd, rest)) if cmd.literal => run(w, &command_name(&cmd.text), rest, s, depth),
            Some((cmd, _)) => {
                w.push(opaque(&cmd.text, "the wrapped command is held in a variable", "shell-dynamic-command"))
            }
            None => {}
        };
    }
    execute(w, name);
    match name {
        "cd" | "pushd" => change_dir(w, args),
        "eval" => w.push(opaque(&join(args), "eval runs a string Holdpoint does not see through", "shell-eval")),
        "source" | "." => source(w, args),
        "holdpoint" => holdpoint(w, args),
        "kill" | "pkill" | "killall" => kill(w, args),
        "xargs" | "parallel" | "sem" => xargs(w, name, args, s, depth),
        "find" => fs::find(w, args, depth),
        "ssh" | "docker" | "podman" | "kubectl" | "oc" if remote_exec(w, name, args, depth) => {}
        "npm" | "pnpm" | "yarn" | "bun" if package_script(w, name, args, depth) => {}
        "make" | "gmake" => make(w, args, depth),
        "watch" => watch(w, args, depth),
        "git" => git::git(w, args),
        "awk" | "gawk" | "mawk" | "nawk" => awk(w, args, depth),
        "docker" | "podman" if args.first().is_some_and(|a| a.text == "run") => container_run(w, name, args),
        "nsupdate" => cloud::nsupdate(w, args, &s.stdin),
        n if SHELLS.contains(&n) => shell(w, args, &s.stdin, depth),
        n if interp::is_interpreter(n) => interp::interpreter(w, n, args, &s.stdin, depth),
        n if db::is_db_cli(n) => db::db_cli(w, n, args, &s.stdin),
        n if cloud::is_cloud_cli(n) => cloud::cloud(w, n, args),
        _ => {}
    }
    fs::files(w, name, args);
    rules::apply(w, name, args);
    if SENDERS.contains(&name) {
        network(w, name, args, &s.stdin);
    }
    secret_reads(w, name, args);
}

fn execute(w: &mut Walker<'_>, name: &str) {
    let target = Target::new(TargetKind::Process, name);
    w.push(effect(
        Verb::Execute,
        target,
        Reversibility::Reversible,
        Scope::Workspace,
        "shell-execute",
        "runs a program",
    ));
}

/// `sudo rm -rf x` → `rm -rf x`: the words after a wrapper and its options.
fn unwrap<'a>(name: &str, args: &'a [Arg]) -> Option<&'a [Arg]> {
    // (options that take a value, whether a bare first word is consumed as a value)
    let (valued, skip_first): (&[&str], usize) = match name {
        "sudo" | "doas" => (&["-u", "-g", "-h", "-p", "-C", "-r", "-t", "-U", "-T", "-D", "--user", "--group"], 0),
        "env" => (&["-u", "--unset", "-C", "--chdir", "-S", "--split-string", "-P"], 0),
        "timeout" => (&["-s", "--signal", "-k", "--kill-after"], 1),
        "nice" => (&["-n", "--adjustment"], 0),
        "ionice" => (&["-c", "-n", "-p", "--class", "--classdata"], 0),
        "nohup" | "time" | "exec" | "builtin" | "setsid" | "unbuffer" | "busybox" | "caffeinate" | "chronic" => {
            (&[], 0)
        }
        "command" => (&[], 0),
        "stdbuf" => (&["-i", "-o", "-e"], 0),
        "taskset" => (&[], 1),
        "chrt" => (&[], 1),
        "flock" => (&["-w", "--timeout", "-E", "-c"], 1),
        "npx" | "bunx" | "pnpx" => (&["-p", "--package", "-c", "--call"], 0),
        "uvx" | "pipx" => (&["--from", "--python"], 0),
        // `pnpm dlx pkg`, `yarn dlx pkg`, `npm exec -- pkg`, `bun x pkg`, `poetry run cmd`...
        "pnpm" | "yarn" | "npm" | "bun" | "poetry" | "uv" | "pdm" | "bundle" | "pipenv" | "hatch" | "rye" | "mise"
        | "asdf" => {
            let runner = ["dlx", "exec", "x", "run"];
            let first = args.iter().position(|a| !a.text.starts_with('-'))?;
            let word = args.get(first)?.text.as_str();
            let runs_programs = matches!(
                (name, word),
                ("pnpm" | "yarn", "dlx" | "exec")
                    | ("npm", "exec" | "x")
                    | ("bun", "x")
                    | ("poetry" | "uv" | "pdm" | "pipenv" | "hatch" | "rye", "run")
                    | ("bundle" | "mise" | "asdf", "exec")
            );
            if !runs_programs || !runner.contains(&word) {
                return None;
            }
            let rest = args.get(first + 1..).unwrap_or_default();
            let skip = rest.iter().take_while(|a| a.text.starts_with('-')).count();
            return rest
                .get(skip..)
                .map(|r| if r.first().is_some_and(|a| a.text == "--") { r.get(1..).unwrap_or_default() } else { r });
        }
        _ => return None,
    };
    let mut i = 0;
    while let Some(a) = args.get(i) {
        let t = a.text.as_str();
        if t == "--" {
            i += 1;
            break;
        }
        if name == "env" && t.contains('=') && !t.starts_with('-') {
            i += 1;
            continue;
        }
        if !t.starts_with('-') || (t == "-" && name != "env") {
            break;
        }
        i += if valued.contains(&t) { 2 } else { 1 };
    }
    let rest = args.get(i..).unwrap_or_default();
    let rest = rest.get(skip_first..).unwrap_or_default();
    // `pipx run pkg`, `pnpm dlx pkg`: the word after the subcommand is the program.
    let rest = match (name, rest.first().map(|a| a.text.as_str())) {
        ("pipx", Some("run")) => rest.get(1..).unwrap_or_default(),
        _ => rest,
    };
    Some(rest)
}

/// `HOLDPOINT_HOME=/tmp/x holdpoint ...` or `export HOLDPOINT_...`: turning the guard off.
fn guard_variable(w: &mut Walker<'_>, name: &str) {
    if name.starts_with("HOLDPOINT") || name == "CLAUDE_CODE_DISABLE_HOOKS" {
        let target = Target::new(TargetKind::Environment, name).tagged("guard");
        w.push(effect(
            Verb::Disable,
            target,
            Reversibility::Reversible,
            Scope::Host,
            "guard-variable",
            "sets a variable that changes or disables Holdpoint",
        ));
    }
}

fn change_dir(w: &mut Walker<'_>, args: &[Arg]) {
    let target = args.iter().find(|a| !a.text.starts_with('-') || a.text == "-");
    w.ctx.cwd = match target {
        None => w.ctx.home.clone(),
        Some(a) if a.literal && a.text != "-" => path::resolve(&a.text, &w.ctx),
        Some(_) => UNKNOWN_CWD.to_owned(),
    };
}

fn source(w: &mut Walker<'_>, args: &[Arg]) {
    let Some(file) = args.first() else { return };
    let abs = path::resolve(&file.text, &w.ctx);
    if !file.literal || w.written.contains(&abs) {
        w.push(opaque(
            &file.text,
            "sources a file this same command writes or names through a variable",
            "shell-source",
        ));
        return;
    }
    w.path_effect(Verb::Read, file, false, "shell-source", "sources this file");
}

/// The agent running Holdpoint's approver, vault or hook commands is weakening its own guard.
fn holdpoint(w: &mut Walker<'_>, args: &[Arg]) {
    let sub: Vec<&str> = args.iter().map(|a| a.text.as_str()).filter(|t| !t.starts_with('-')).take(2).collect();
    let weakening = matches!(
        sub.as_slice(),
        ["approve" | "deny" | "cancel" | "vault" | "approver" | "init" | "serve", ..]
            | ["hook" | "mcp", "install" | "uninstall", ..]
            | ["trash", "purge" | "restore", ..]
            | ["checkpoint", "restore", ..]
    );
    if weakening {
        let target = Target::new(TargetKind::Process, format!("holdpoint {}", sub.join(" "))).tagged("guard");
        w.push(effect(
            Verb::Disable,
            target,
            Reversibility::Irreversible,
            Scope::Host,
            "guard-holdpoint-command",
            "an agent may not approve, configure or uninstall its own guard",
        ));
    }
}

fn kill(w: &mut Walker<'_>, args: &[Arg]) {
    if args.iter().any(|a| a.text.contains("holdpoint")) {
        let target = Target::new(TargetKind::Process, "holdpoint").tagged("guard");
        w.push(effect(Verb::Disable, target, Reversibility::Reversible, Scope::Host, "guard-kill", "stops Holdpoint"));
    }
}

/// `xargs CMD` and `parallel CMD ::: ARGS`: the command runs once per item, the items
/// coming from stdin (known when it is literal text) or after `:::`.
fn xargs(w: &mut Walker<'_>, name: &str, args: &[Arg], s: &Simple, depth: usize) {
    let valued = [
        "-I",
        "-J",
        "-n",
        "-P",
        "-L",
        "-s",
        "-d",
        "-E",
        "-a",
        "-j",
        "-S",
        "--max-args",
        "--max-procs",
        "--delimiter",
        "--arg-file",
        "--jobs",
        "--sshlogin",
    ];
    let mut replace = None;
    let mut i = 0;
    while let Some(a) = args.get(i).filter(|a| a.text.starts_with('-')) {
        let t = a.text.as_str();
        if matches!(t, "-I" | "-J") {
            replace = args.get(i + 1).map(|r| r.text.clone());
        } else if t == "-i" || t == "--replace" || t.starts_with("--replace=") || t.starts_with("-i") {
            replace = Some(t.split_once('=').map(|(_, r)| r).filter(|r| !r.is_empty()).unwrap_or("{}").to_owned());
        } else if let Some(r) = t.strip_prefix("-I") {
            replace = Some(r.to_owned());
        }
        i += if valued.contains(&t) { 2 } else { 1 };
    }
    let rest = args.get(i..).unwrap_or_default();
    let explicit = rest.iter().position(|a| a.text == ":::");
    let (template, mut items): (Vec<Arg>, Vec<Arg>) = match explicit {
        Some(p) => (rest.get(..p).unwrap_or_default().to_vec(), rest.get(p + 1..).unwrap_or_default().to_vec()),
        None => (rest.to_vec(), Vec::new()),
    };
    if explicit.is_none() {
        items = match &s.stdin {
            Stdin::Text(text) if replace.is_some() || name == "parallel" => {
                text.lines().map(|l| Arg { text: l.to_owned(), literal: true, ..Arg::default() }).collect()
            }
            Stdin::Text(text) => {
                text.split_whitespace().map(|t| Arg { text: t.to_owned(), literal: true, ..Arg::default() }).collect()
            }
            // From `find ROOT`, the items are paths under ROOT.
            Stdin::From(producer, from) if producer == "find" => {
                from.iter().filter(|a| !a.text.starts_with('-')).take(1).cloned().collect()
            }
            _ => vec![Arg { text: "$(stdin)".into(), literal: false, ..Arg::default() }],
        };
    }
    let placeholder = replace.unwrap_or_else(|| "{}".to_owned());
    let inner = Simple { assignments: vec![], args: vec![], stdin: Stdin::None };
    for item in items {
        let mut command: Vec<Arg> = if template.is_empty() {
            // Each item is a whole command (`parallel ::: 'rm -rf /'`).
            w.script(&item.text, depth + 1);
            continue;
        } else if template.iter().any(|a| a.text.contains(&placeholder)) {
            template
                .iter()
                .map(|a| {
                    if a.text.contains(&placeholder) {
                        Arg {
                            text: a.text.replace(&placeholder, &item.text),
                            literal: a.literal && item.literal,
                            ..a.clone()
                        }
                    } else {
                        a.clone()
                    }
                })
                .collect()
        } else {
            let mut c = template.clone();
            c.push(item);
            c
        };
        let Some(cmd) = command.first().cloned() else { continue };
        command.remove(0);
        if cmd.literal {
            run(w, &command_name(&cmd.text), &command, &inner, depth + 1);
        } else {
            w.push(opaque(&cmd.text, "the command is held in a variable", "shell-dynamic-command"));
        }
    }
}

/// `watch "cmd"` runs its words as a shell command.
fn watch(w: &mut Walker<'_>, args: &[Arg], depth: usize) {
    let valued = ["-n", "--interval", "-d", "--differences"];
    let mut i = 0;
    while let Some(a) = args.get(i).filter(|a| a.text.starts_with('-')) {
        i += if valued.contains(&a.text.as_str()) { 2 } else { 1 };
    }
    let rest = args.get(i..).unwrap_or_default();
    if !rest.is_empty() {
        w.script(&join_plain(rest), depth + 1);
    }
}

/// awk programs can run commands (`system()`, `| "sh"`) and write files (`print > "f"`).
fn awk(w: &mut Walker<'_>, args: &[Arg], depth: usize) {
    let Some(program) = args.iter().find(|a| !a.text.starts_with('-')) else { return };
    if args.iter().any(|a| a.text == "-f") {
        return;
    }
    let code = &program.text;
    if code.contains("system(") || code.contains("| \"") || code.contains("|\"") {
        let literal = code
            .split("system(")
            .nth(1)
            .and_then(|r| r.trim_start().strip_prefix('"'))
            .and_then(|r| r.split('"').next());
        match literal {
            Some(cmd) if program.literal && code.matches("system(").count() == 1 && !code.contains('|') => {
                w.script(cmd, depth + 1)
            }
            _ => w.push(opaque(code, "an awk program runs commands", "interp-awk-command")),
        }
    }
    if code.contains("> \"") || code.contains(">\"") {
        w.push(opaque(code, "an awk program writes files", "interp-awk-write"));
    }
}

/// `docker run -v /:/host ...` or `--privileged`: the container can change the host.
fn container_run(w: &mut Walker<'_>, name: &str, args: &[Arg]) {
    let host_root = args.windows(2).any(|p| {
        matches!(p.first().map(|a| a.text.as_str()), Some("-v" | "--volume" | "--mount"))
            && p.get(1).is_some_and(|v| {
                let source = v.text.split(':').next().unwrap_or("").trim_start_matches("type=bind,source=");
                let info = crate::path::info(source, &w.ctx);
                info.tags.contains("root") || info.tags.contains("secret") || info.tags.contains("guard")
            })
    });
    let privileged = args.iter().any(|a| a.text == "--privileged" || a.text == "--pid=host");
    if host_root || privileged {
        let why = "a container with the host's root, home or secrets mounted, or privileged, can change the host";
        w.push(opaque(&format!("{name} run"), why, "container-host-access"));
    }
}

/// `bash -c STRING`, `bash script.sh`, `curl ... | bash`.
fn shell(w: &mut Walker<'_>, args: &[Arg], stdin: &Stdin, depth: usize) {
    if let Some(pos) = args
        .iter()
        .position(|a| a.text == "-c" || (a.text.starts_with('-') && !a.text.starts_with("--") && a.text.contains('c')))
    {
        match args.get(pos + 1) {
            Some(script) if script.literal => w.script(&script.text, depth + 1),
            Some(script) => {
                w.push(opaque(&script.text, "runs a shell string Holdpoint cannot see", "shell-dynamic-script"))
            }
            None => {}
        }
        return;
    }
    if let Some(file) = args.iter().find(|a| !a.text.starts_with('-')) {
        run_script_file(w, file, depth);
        return;
    }
    piped_script(w, stdin, depth, "a shell");
}

/// Run what a file holds, when Holdpoint can read it; otherwise it is just a program.
pub(crate) fn run_script_file(w: &mut Walker<'_>, file: &Arg, depth: usize) {
    let abs = path::resolve(&file.text, &w.ctx);
    if !file.literal || w.written.contains(&abs) {
        w.push(opaque(
            &file.text,
            "runs a script this same command writes or names through a variable",
            "shell-script-file",
        ));
        return;
    }
    if let Some(text) = w.facts.read(&abs) {
        w.script(&text, depth + 1);
    }
}

/// A script fed on stdin: known text is classified; the output of a download or a decoder is not.
pub(crate) fn piped_script(w: &mut Walker<'_>, stdin: &Stdin, depth: usize, what: &str) {
    match stdin {
        Stdin::None => {}
        Stdin::Text(text) => w.script(text, depth + 1),
        Stdin::From(name, _) => {
            let why = format!("{what} runs whatever {name} prints, which Holdpoint cannot see");
            w.push(opaque(&format!("{name} | {what}"), &why, "shell-pipe-to-interpreter"));
        }
    }
}

/// `ssh host CMD`, `docker exec c CMD`, `kubectl exec p -- CMD`: the command runs elsewhere.
fn remote_exec(w: &mut Walker<'_>, name: &str, args: &[Arg], depth: usize) -> bool {
    let (host, rest): (String, &[Arg]) = match name {
        "ssh" => {
            let valued = [
                "-p", "-i", "-l", "-o", "-F", "-J", "-L", "-R", "-D", "-b", "-c", "-E", "-m", "-S", "-W", "-w", "-O",
                "-Q", "-B", "-e", "-I",
            ];
            let mut i = 0;
            while let Some(a) = args.get(i).filter(|a| a.text.starts_with('-')) {
                i += if valued.contains(&a.text.as_str()) { 2 } else { 1 };
            }
            let Some(host) = args.get(i) else { return false };
            (host.text.clone(), args.get(i + 1..).unwrap_or_default())
        }
        _ => {
            let Some(pos) = args.iter().position(|a| a.text == "exec") else { return false };
            let after = args.get(pos + 1..).unwrap_or_default();
            if let Some(dd) = after.iter().position(|a| a.text == "--") {
                let host = after.iter().find(|a| !a.text.starts_with('-')).map_or("?".into(), |a| a.text.clone());
                (host, after.get(dd + 1..).unwrap_or_default())
            } else {
                let valued =
                    ["-u", "--user", "-w", "--workdir", "-e", "--env", "-c", "--container", "-n", "--namespace"];
                let mut i = 0;
                while let Some(a) = after.get(i).filter(|a| a.text.starts_with('-')) {
                    i += if valued.contains(&a.text.as_str()) { 2 } else { 1 };
                }
                let Some(host) = after.get(i) else { return false };
                (host.text.clone(), after.get(i + 1..).unwrap_or_default())
            }
        }
    };
    if rest.is_empty() {
        return true;
    }
    let remote_ctx = crate::Context {
        cwd: "/".into(),
        workspace: "/(remote workspace)".into(),
        home: "/root".into(),
        temp_dirs: vec!["/tmp".into()],
        guarded: vec![],
        protected_branches: w.ctx.protected_branches.clone(),
    };
    // ssh hands its words to a remote shell, which parses them again; exec passes argv as is.
    let command = if name == "ssh" { join_plain(rest) } else { join(rest) };
    let inner = super::classify(&command, &remote_ctx, &crate::NoFacts);
    for mut e in inner {
        if e.scope != Scope::Remote && e.verb != Verb::Execute {
            e.scope = Scope::Remote;
            e.target.id = format!("{name}://{host}{}", e.target.id);
        }
        w.push(e);
    }
    let _ = depth;
    true
}

/// `npm run build`, `yarn test`: classify the script from `package.json`.
fn package_script(w: &mut Walker<'_>, tool: &str, args: &[Arg], depth: usize) -> bool {
    let words: Vec<&str> = args.iter().map(|a| a.text.as_str()).filter(|t| !t.starts_with('-')).collect();
    let script = match (tool, words.as_slice()) {
        (_, ["run" | "run-script", name, ..]) => *name,
        (_, [name @ ("test" | "start" | "stop" | "restart"), ..]) => *name,
        ("yarn" | "pnpm" | "bun", [name, ..]) if !BUILTIN_PM.contains(name) => *name,
        _ => return false,
    };
    let manifest = format!("{}/package.json", w.ctx.cwd);
    let Some(text) = w.facts.read(&manifest) else { return true };
    if let Some(body) = crate::scripts::npm_script(&text, script) {
        w.script(&body, depth + 1)
    }
    true
}

/// Package-manager subcommands that are not script names.
const BUILTIN_PM: &[&str] = &[
    "install", "add", "remove", "i", "ci", "update", "upgrade", "exec", "dlx", "x", "create", "init", "publish",
    "link", "unlink", "outdated", "audit", "why", "list", "ls", "info", "view", "config", "set", "cache", "build",
    "pack",
];

/// `make TARGET`: classify the target's recipe from the Makefile.
fn make(w: &mut Walker<'_>, args: &[Arg], depth: usize) {
    let mut dir = w.ctx.cwd.clone();
    let mut file = None;
    let mut targets = Vec::new();
    let mut i = 0;
    while let Some(a) = args.get(i) {
        match a.text.as_str() {
            "-C" | "--directory" => dir = args.get(i + 1).map_or(dir, |d| path::resolve(&d.text, &w.ctx)),
            "-f" | "--file" | "--makefile" => file = args.get(i + 1).map(|f| f.text.clone()),
            t if t.starts_with('-') || t.contains('=') => {
                i += 1;
                continue;
            }
            t => targets.push(t.to_owned()),
        }
        i += if matches!(a.text.as_str(), "-C" | "--directory" | "-f" | "--file" | "--makefile") { 2 } else { 1 };
    }
    let makefile =
        file.map_or_else(|| format!("{dir}/Makefile"), |f| if f.starts_with('/') { f } else { format!("{dir}/{f}") });
    let Some(text) = w.facts.read(&makefile) else { return };
    for line in crate::scripts::make_recipe(&text, targets.first().map(String::as_str)) {
        w.script(&line, depth + 1);
    }
}

/// Sending the environment or a secret over the network.
fn network(w: &mut Walker<'_>, name: &str, args: &[Arg], stdin: &Stdin) {
    let piped_vars = match stdin {
        Stdin::From(_, from) => from.iter().flat_map(|a| &a.unknown_vars).any(|v| secret_variable(v)),
        _ => false,
    };
    let from_env = match stdin {
        Stdin::From(producer, _) => env_dump(producer),
        _ => false,
    } || args.iter().flat_map(|a| &a.substitutions).any(|s| env_dump(s))
        || args.iter().flat_map(|a| &a.unknown_vars).any(|v| secret_variable(v))
        || piped_vars;
    if from_env {
        let target = Target::new(TargetKind::Environment, "environment").tagged("secret");
        w.push(effect(
            Verb::Send,
            target,
            Reversibility::Irreversible,
            Scope::Remote,
            "exfiltrate-environment",
            &format!("sends the environment through {name}"),
        ));
    }
    if name == "curl" || name == "wget" || name == "http" || name == "xh" {
        cloud::http_client(w, name, args);
    }
}

/// Commands that read files without changing them.
const READ_ONLY: &[&str] = &[
    "cat",
    "less",
    "more",
    "head",
    "tail",
    "grep",
    "egrep",
    "fgrep",
    "rg",
    "ag",
    "diff",
    "wc",
    "bat",
    "view",
    "jq",
    "yq",
    "md5sum",
    "sha256sum",
    "sha1sum",
    "cksum",
    "od",
    "xxd",
    "hexdump",
    "strings",
    "cmp",
    "column",
    "sort",
    "uniq",
    "nl",
];

/// Any argument naming a secret file is a read of it (a copy, an archive, an upload...),
/// except for commands that only look at metadata; any argument naming a guarded file, for a
/// command not known to only read, may change it.
fn secret_reads(w: &mut Walker<'_>, name: &str, args: &[Arg]) {
    if METADATA_ONLY.contains(&name) {
        return;
    }
    if !READ_ONLY.contains(&name) {
        for a in args.iter().filter(|a| looks_like_path(&a.text)) {
            if path::info(&a.text, &w.ctx).tags.contains("guard") {
                w.path_effect(
                    Verb::Write,
                    a,
                    false,
                    "guard-file",
                    "a program that may change Holdpoint's or the agent's settings",
                );
            }
        }
    }
    for a in args {
        let text = a
            .text
            .split_once('=')
            .map_or(a.text.as_str(), |(k, v)| if k.starts_with('-') { v } else { a.text.as_str() });
        let text = text.strip_prefix('@').unwrap_or(text);
        // Bare names count too: after `cd ~/.ssh`, `id_rsa` is a key.
        if text.starts_with('-') || text.is_empty() || text.contains("://") {
            continue;
        }
        let info = path::info(text, &w.ctx);
        if info.tags.contains("secret") {
            let arg = Arg { text: text.to_owned(), literal: true, ..Arg::default() };
            w.path_effect(Verb::Read, &arg, false, "secret-read", "reads, copies or sends a secret file");
        }
    }
    fs::recursive_search(w, name, args);
}

pub(crate) fn looks_like_path(text: &str) -> bool {
    text.starts_with('/') || text.starts_with('.') || text.starts_with('~') || text.contains('/')
}

/// Words joined with spaces, as `ssh` and `watch` hand them to a shell.
pub(crate) fn join_plain(args: &[Arg]) -> String {
    args.iter().map(|a| a.text.as_str()).collect::<Vec<_>>().join(" ")
}

/// Words joined so that a shell reads them back as the same words.
pub(crate) fn join(args: &[Arg]) -> String {
    args.iter().map(|a| quote(&a.text)).collect::<Vec<_>>().join(" ")
}

/// Quote a word so that the shell reads it back as the same word.
fn quote(text: &str) -> String {
    if !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:@%+,".contains(c)) {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}
