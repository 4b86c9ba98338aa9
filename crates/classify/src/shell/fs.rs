//! File-system commands: deleting, overwriting, moving, wiping disks, changing permissions.

use holdpoint_core::{Reversibility, Scope, Target, TargetKind, Verb};

use super::commands::{looks_like_path, run};
use super::effect;
use super::walk::{Simple, Stdin, Walker};
use super::words::Arg;
use crate::path;

/// Options of common file commands that take a value (so the value is not a path).
const VALUED: &[&str] = &[
    "-t",
    "--target-directory",
    "-S",
    "--suffix",
    "-m",
    "--mode",
    "-o",
    "--owner",
    "-g",
    "--group",
    "--reference",
    "-s",
    "--size",
    "-n",
    "--iterations",
    "-b",
    "--backup",
];

/// Positional (non-option) words, skipping the values of known valued options.
pub(crate) fn operands(args: &[Arg]) -> Vec<&Arg> {
    let mut out = Vec::new();
    let mut i = 0;
    let mut options_done = false;
    while let Some(a) = args.get(i) {
        i += 1;
        if !options_done && a.text == "--" {
            options_done = true;
        } else if !options_done && a.text.starts_with('-') && a.text.len() > 1 {
            if VALUED.contains(&a.text.as_str()) {
                i += 1;
            }
        } else {
            out.push(a);
        }
    }
    out
}

/// Whether a short or long flag is present (`-rf` has `r` and `f`).
pub(crate) fn has_flag(args: &[Arg], short: char, long: &[&str]) -> bool {
    args.iter().take_while(|a| a.text != "--").any(|a| {
        let t = a.text.as_str();
        long.iter().any(|l| t == *l || t.strip_prefix(l).is_some_and(|r| r.starts_with('=')))
            || (t.starts_with('-')
                && !t.starts_with("--")
                && t.len() > 1
                && t.get(1..).is_some_and(|f| f.chars().all(|c| c.is_ascii_alphanumeric()) && f.contains(short)))
    })
}

/// The file commands Holdpoint knows.
pub(crate) fn files(w: &mut Walker<'_>, name: &str, args: &[Arg]) {
    let ops = operands(args);
    match name {
        "rm" | "srm" | "trash-put" => {
            let recursive = has_flag(args, 'r', &["--recursive"]) || has_flag(args, 'R', &[]);
            for a in ops {
                w.path_effect(Verb::Delete, a, recursive, "fs-rm", "deletes files");
            }
        }
        "rmdir" | "unlink" => {
            for a in ops {
                w.path_effect(Verb::Delete, a, false, "fs-rm", "deletes a file or an empty directory");
            }
        }
        "shred" | "wipe" => {
            // Shredded data never comes back, whatever the file: judged as a recursive delete.
            for a in ops {
                w.path_effect(Verb::Delete, a, true, "fs-shred", "overwrites a file so it cannot be recovered");
            }
        }
        "truncate" => {
            for a in ops {
                w.path_effect(Verb::Delete, a, true, "fs-truncate", "truncates a file, losing its contents");
            }
        }
        "mv" => move_files(w, &ops),
        "cp" | "install" | "ln" | "rsync" | "scp" => copy_files(w, name, args, &ops),
        "tee" => ops.iter().for_each(|a| w.path_effect(Verb::Write, a, false, "fs-write", "writes this file")),
        "touch" | "mkdir" | "mkfifo" => {
            ops.iter().for_each(|a| w.path_effect(Verb::Write, a, false, "fs-write", "creates this file"))
        }
        "sed" | "perl" if args.iter().any(|a| in_place_flag(name, &a.text)) => {
            let script_given =
                args.iter().any(|a| a.text == "-e" || a.text == "-f" || a.text.starts_with("--expression"));
            in_place(w, name, &ops, script_given);
        }
        "dd" => dd(w, args),
        "chmod" | "chown" | "chgrp" | "chattr" | "setfacl" => permissions(w, name, args, &ops),
        n if n.starts_with("mkfs") || DISK_TOOLS.contains(&n) => wipe_disks(w, n, &ops),
        _ => {}
    }
}

/// Tools that wipe or repartition a disk.
const DISK_TOOLS: &[&str] = &[
    "mke2fs",
    "mkswap",
    "wipefs",
    "fdisk",
    "sfdisk",
    "cfdisk",
    "parted",
    "sgdisk",
    "gdisk",
    "blkdiscard",
    "cryptsetup",
    "zpool",
    "badblocks",
];

fn move_files(w: &mut Walker<'_>, ops: &[&Arg]) {
    let Some((dest, sources)) = ops.split_last() else { return };
    let to_null = dest.text == "/dev/null";
    for s in sources {
        let verb = if to_null { Verb::Delete } else { Verb::Write };
        let info = path::info(&s.text, &w.ctx);
        // Moving a whole root-like directory away is deleting it from where it was.
        let verb = if info.tags.contains("root") { Verb::Delete } else { verb };
        w.path_effect(verb, s, true, "fs-mv", "moves this file away");
    }
    if !to_null {
        w.path_effect(Verb::Write, dest, false, "fs-mv", "moves files onto this path, replacing what is there");
    }
}

fn copy_files(w: &mut Walker<'_>, name: &str, args: &[Arg], ops: &[&Arg]) {
    let target_dir =
        args.iter().position(|a| a.text == "-t" || a.text == "--target-directory").and_then(|i| args.get(i + 1));
    let (dest, sources) = match target_dir {
        Some(t) => (Some(t), ops),
        None => match ops.split_last() {
            Some((d, s)) => (Some(*d), s),
            None => (None, ops),
        },
    };
    let deleting =
        name == "rsync" && args.iter().any(|a| a.text.starts_with("--del") || a.text == "--remove-source-files");
    let moves = args.iter().any(|a| a.text == "--remove-source-files" || a.text == "--remove-files");
    for s in sources {
        if !s.text.contains(':') || s.text.starts_with('/') {
            w.path_effect(Verb::Read, s, false, "fs-copy", "copies this file");
            if moves {
                w.path_effect(Verb::Delete, s, true, "fs-move-sources", "removes the source files once copied");
            }
        }
    }
    let Some(dest) = dest else { return };
    if let Some((host, remote_path)) = dest.text.split_once(':').filter(|_| !dest.text.starts_with('/')) {
        remote_copy(w, host, remote_path);
        return;
    }
    if deleting {
        w.path_effect(
            Verb::Delete,
            dest,
            true,
            "fs-rsync-delete",
            "rsync --delete removes every file here that the source lacks",
        );
    } else {
        w.path_effect(Verb::Write, dest, false, "fs-copy", "copies onto this path, replacing what is there");
    }
}

/// Copying onto another machine's system directories overwrites what it runs on.
fn remote_copy(w: &mut Walker<'_>, host: &str, remote_path: &str) {
    let path = if remote_path.is_empty() { "~" } else { remote_path };
    let system = path == "/"
        || ["/etc", "/usr", "/bin", "/sbin", "/lib", "/boot", "/var", "/root", "/opt", "/srv"]
            .iter()
            .any(|d| path::is_within(path.trim_end_matches('/'), d));
    let rev = if system { Reversibility::Irreversible } else { Reversibility::Recoverable };
    let target = Target::new(TargetKind::Path, format!("{host}:{path}"));
    w.push(effect(
        Verb::Write,
        target,
        rev,
        Scope::Remote,
        "fs-remote-copy",
        "copies files onto another machine, replacing what is there",
    ));
}

/// `-i`, `-i.bak`, `--in-place`, and perl's `-pi`/`-pi.bak`.
fn in_place_flag(name: &str, flag: &str) -> bool {
    flag.starts_with("-i")
        || flag.starts_with("--in-place")
        || (name == "perl" && flag.starts_with('-') && !flag.starts_with("--") && flag.contains('i'))
}

fn in_place(w: &mut Walker<'_>, name: &str, ops: &[&Arg], script_given: bool) {
    // The first operand is the script unless one came with -e or -f; the rest are files.
    for a in ops.iter().skip(usize::from(!script_given)) {
        w.path_effect(
            Verb::Write,
            a,
            false,
            if name == "sed" { "fs-sed-in-place" } else { "fs-perl-in-place" },
            "edits this file in place",
        );
    }
}

fn dd(w: &mut Walker<'_>, args: &[Arg]) {
    for a in args {
        if let Some(input) = a.text.strip_prefix("if=") {
            let arg = Arg { text: input.to_owned(), ..a.clone() };
            w.path_effect(Verb::Read, &arg, false, "fs-dd", "dd reads this file");
        }
        if let Some(output) = a.text.strip_prefix("of=") {
            let arg = Arg { text: output.to_owned(), ..a.clone() };
            let verb = if path::is_whole_disk(output) { Verb::Delete } else { Verb::Write };
            w.path_effect(verb, &arg, path::is_whole_disk(output), "fs-dd", "dd overwrites this file or device");
        }
    }
}

fn wipe_disks(w: &mut Walker<'_>, name: &str, ops: &[&Arg]) {
    let devices: Vec<&&Arg> = ops.iter().filter(|a| a.text.starts_with("/dev/")).collect();
    if devices.is_empty() {
        let target = Target::new(TargetKind::Path, format!("{name} (device)")).tagged("root");
        w.push(effect(
            Verb::Delete,
            target,
            Reversibility::Irreversible,
            Scope::Host,
            "fs-disk",
            "formats or repartitions a disk",
        ));
    }
    for d in devices {
        w.path_effect(Verb::Delete, d, true, "fs-disk", "formats, wipes or repartitions a disk");
    }
}

fn permissions(w: &mut Walker<'_>, name: &str, args: &[Arg], ops: &[&Arg]) {
    let recursive = has_flag(args, 'R', &["--recursive"]);
    // The mode or owner comes first.
    for a in ops.iter().skip(usize::from(name != "chattr" && name != "setfacl")) {
        if !a.literal {
            w.path_effect(Verb::Grant, a, recursive, "fs-permissions", "changes permissions");
            continue;
        }
        let info = path::info(&a.text, &w.ctx);
        let wide = recursive && (info.tags.contains("root") || info.scope == Scope::Host);
        if wide || info.tags.contains("guard") || info.tags.contains("secret") {
            let rev = if wide { Reversibility::Irreversible } else { Reversibility::Reversible };
            let target = Target { kind: TargetKind::Path, id: info.abs, tags: info.tags };
            w.push(effect(
                Verb::Grant,
                target,
                rev,
                info.scope,
                "fs-permissions",
                "changes permissions or ownership of many files outside the workspace",
            ));
        }
    }
}

/// find's tests that take a value (so `-name -delete` names a file, not an action).
const FIND_VALUED: &[&str] = &[
    "-name",
    "-iname",
    "-path",
    "-ipath",
    "-wholename",
    "-iwholename",
    "-regex",
    "-iregex",
    "-type",
    "-xtype",
    "-user",
    "-group",
    "-perm",
    "-size",
    "-mtime",
    "-mmin",
    "-atime",
    "-amin",
    "-ctime",
    "-cmin",
    "-newer",
    "-maxdepth",
    "-mindepth",
    "-fstype",
    "-inum",
    "-links",
    "-uid",
    "-gid",
    "-printf",
    "-fprintf",
    "-fprint",
    "-fls",
    "-samefile",
    "-lname",
    "-ilname",
    "-context",
];

/// `find ROOT ... -delete` and `find ROOT ... -exec CMD {} \;`.
pub(crate) fn find(w: &mut Walker<'_>, args: &[Arg], depth: usize) {
    let roots: Vec<Arg> =
        args.iter().take_while(|a| !a.text.starts_with('-') && a.text != "(" && a.text != "!").cloned().collect();
    let roots = if roots.is_empty() { vec![Arg { text: ".".into(), literal: true, ..Arg::default() }] } else { roots };
    let mut name_pattern = None;
    let mut delete = false;
    let mut execs: Vec<Vec<Arg>> = Vec::new();
    let mut i = roots.len().min(args.len());
    while let Some(a) = args.get(i) {
        let t = a.text.as_str();
        if FIND_VALUED.contains(&t) {
            if matches!(t, "-name" | "-iname") {
                name_pattern = args.get(i + 1).map(|p| p.text.clone());
            }
            i += 2;
            continue;
        }
        if matches!(t, "-exec" | "-execdir" | "-ok" | "-okdir") {
            let rest: Vec<Arg> =
                args.iter().skip(i + 1).take_while(|a| a.text != ";" && a.text != "+").cloned().collect();
            i += rest.len() + 2;
            execs.push(rest);
            continue;
        }
        delete |= t == "-delete";
        i += 1;
    }
    // What find hands on: the files it finds, known by their root and name pattern.
    let found = |root: &Arg| match &name_pattern {
        Some(pattern) => Arg {
            text: format!("{}/{pattern}", root.text.trim_end_matches('/')),
            glob: !is_data_pattern(pattern),
            ..root.clone()
        },
        None => root.clone(),
    };
    if delete {
        for root in &roots {
            let target = found(root);
            w.path_effect(
                Verb::Delete,
                &target,
                true,
                "fs-find-delete",
                "find -delete removes every matching file in the tree",
            );
        }
    }
    for rest in execs {
        let Some((cmd, cmd_args)) = rest.split_first() else { continue };
        for root in &roots {
            let target = found(root);
            let replaced: Vec<Arg> = cmd_args
                .iter()
                .map(|x| {
                    if x.text.contains("{}") {
                        Arg { text: x.text.replace("{}", &target.text), ..target.clone() }
                    } else {
                        x.clone()
                    }
                })
                .collect();
            let inner = Simple { assignments: vec![], args: vec![], stdin: Stdin::None };
            run(w, &super::walk::command_name(&cmd.text), &replaced, &inner, depth + 1);
        }
    }
}

/// Options of grep and its kin that take a value.
const SEARCH_VALUED: &[&str] = &[
    "-e",
    "--regexp",
    "-f",
    "--file",
    "-m",
    "--max-count",
    "-A",
    "-B",
    "-C",
    "-g",
    "--glob",
    "-t",
    "--type",
    "-T",
    "--type-not",
    "-M",
    "--max-columns",
    "-j",
    "--threads",
    "-d",
    "--max-depth",
    "--include",
    "--exclude",
    "--exclude-dir",
];

/// The paths a grep-like search reads: its operands after the pattern (none is the pattern
/// when `-e` or `-f` gives it).
fn search_paths(args: &[Arg]) -> Vec<&Arg> {
    let mut out = Vec::new();
    let mut pattern_given = false;
    let mut options_done = false;
    let mut i = 0;
    while let Some(a) = args.get(i) {
        i += 1;
        if !options_done && a.text == "--" {
            options_done = true;
        } else if !options_done && a.text.starts_with('-') && a.text.len() > 1 {
            if matches!(a.text.as_str(), "-e" | "--regexp" | "-f" | "--file")
                || a.text.starts_with("--regexp=")
                || a.text.starts_with("--file=")
            {
                pattern_given = true;
            }
            if SEARCH_VALUED.contains(&a.text.as_str()) {
                i += 1;
            }
        } else {
            out.push(a);
        }
    }
    if !pattern_given && !out.is_empty() {
        out.remove(0);
    }
    out
}

fn is_data_pattern(pattern: &str) -> bool {
    !pattern.contains(['*', '?', '['])
}

/// `grep -r KEY ~`, `rg token /` or `grep -r TOKEN ..` from the workspace: a recursive search
/// through the home directory, the whole disk or any directory above the workspace (which holds
/// the other projects beside it) reads every secret there.
pub(crate) fn recursive_search(w: &mut Walker<'_>, name: &str, args: &[Arg]) {
    let recursive = match name {
        "rg" | "ag" | "ack" | "ripgrep" | "ugrep" => true,
        "grep" | "egrep" | "fgrep" | "zgrep" => {
            has_flag(args, 'r', &["--recursive", "--dereference-recursive"]) || has_flag(args, 'R', &[])
        }
        _ => false,
    };
    if !recursive {
        return;
    }
    for a in search_paths(args).into_iter().filter(|a| looks_like_path(&a.text) || a.text == "~") {
        let info = path::info(&a.text, &w.ctx);
        let above_workspace =
            !w.ctx.workspace.is_empty() && info.abs != w.ctx.workspace && path::is_within(&w.ctx.workspace, &info.abs);
        let wide =
            info.abs == "/" || info.abs == w.ctx.home || path::is_within(&w.ctx.home, &info.abs) || above_workspace;
        if wide {
            let target = Target { kind: TargetKind::Path, id: info.abs, tags: info.tags }.tagged("secret");
            w.push(effect(
                Verb::Read,
                target,
                Reversibility::Reversible,
                info.scope,
                "secret-recursive-search",
                "searches the home directory, the whole disk or the directories beside the workspace, reading every secret there",
            ));
        }
    }
}
