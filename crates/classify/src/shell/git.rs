//! git: the commands that lose work or rewrite shared history.

use holdpoint_core::{Reversibility, Scope, Target, TargetKind, Verb};

use super::effect;
use super::fs::has_flag;
use super::walk::Walker;
use super::words::Arg;
use crate::path;

/// git's global options that take a value.
const GLOBAL_VALUED: &[&str] = &["-C", "-c", "--git-dir", "--work-tree", "--namespace", "--exec-path", "--config-env"];

pub(crate) fn git(w: &mut Walker<'_>, args: &[Arg]) {
    let mut i = 0;
    let mut repo = w.ctx.workspace.clone();
    while let Some(a) = args.get(i).filter(|a| a.text.starts_with('-')) {
        if a.text == "-c"
            && let Some(setting) = args.get(i + 1)
            && runs_something(&setting.text)
        {
            let why = "a git setting given on the command line that runs commands or rewrites what a push sends";
            w.push(super::opaque(&setting.text, why, "git-config-runs"));
        }
        if a.text == "-C"
            && let Some(dir) = args.get(i + 1)
        {
            repo = path::resolve(&dir.text, &w.ctx);
        }
        i += if GLOBAL_VALUED.contains(&a.text.as_str()) { 2 } else { 1 };
    }
    let Some((sub, rest)) = args.get(i..).unwrap_or_default().split_first() else { return };
    // Words after `--` are paths or names, never options.
    let words: Vec<&str> = rest.iter().map(|a| a.text.as_str()).take_while(|t| *t != "--").collect();
    if words.iter().any(|w| *w == "--help" || *w == "-h") {
        return;
    }
    let all_words: Vec<&str> = rest.iter().map(|a| a.text.as_str()).collect();
    let sub_name = sub.text.to_lowercase();
    let local = |w: &mut Walker<'_>, verb: Verb, what: &str, rule: &str, why: &str| {
        let scope = scope_of(&repo, w);
        let target = Target::new(TargetKind::Git, format!("{repo} ({what})"));
        w.push(effect(verb, target, Reversibility::Irreversible, scope, rule, why));
    };
    if sub_name == "config" && all_words.iter().any(|w| runs_something(w)) {
        let why = "git configuration that runs commands later (aliases, hooks, pagers) or changes what a push sends";
        w.push(super::opaque(&all_words.join(" "), why, "git-config-runs"));
    }
    match sub_name.as_str() {
        "push" => push(w, rest, &repo),
        "reset" if words.iter().any(|w| matches!(w.to_lowercase().as_str(), "--hard" | "--merge" | "--keep")) => {
            local(
                w,
                Verb::Delete,
                "uncommitted changes",
                "git-reset-hard",
                "git reset --hard discards uncommitted changes",
            );
        }
        "clean" if has_flag(rest, 'f', &["--force"]) => {
            local(
                w,
                Verb::Delete,
                "untracked files",
                "git-clean",
                "git clean deletes untracked files, which git cannot restore",
            );
        }
        "checkout" if discards_checkout(&all_words) => {
            local(
                w,
                Verb::Delete,
                "uncommitted changes",
                "git-checkout-discard",
                "git checkout of paths discards their uncommitted changes",
            );
        }
        "restore"
            if !words.iter().any(|w| *w == "--staged" || *w == "-S")
                || words.iter().any(|w| *w == "--worktree" || *w == "-W") =>
        {
            local(w, Verb::Delete, "uncommitted changes", "git-restore", "git restore discards uncommitted changes");
        }
        "switch" if words.iter().any(|w| matches!(*w, "--discard-changes" | "--force") || has_short(w, 'f')) => {
            local(
                w,
                Verb::Delete,
                "uncommitted changes",
                "git-switch-discard",
                "git switch --discard-changes discards uncommitted changes",
            );
        }
        "branch"
            if has_flag(rest, 'D', &[])
                || (words.iter().any(|w| *w == "--delete" || has_short(w, 'd'))
                    && words.iter().any(|w| *w == "--force" || has_short(w, 'f'))) =>
        {
            local(
                w,
                Verb::Delete,
                "branch",
                "git-branch-force-delete",
                "git branch -D deletes a branch even if it is not merged",
            );
        }
        "stash" if matches!(words.first(), Some(&"drop" | &"clear")) => {
            local(w, Verb::Delete, "stash", "git-stash-drop", "dropping stashes loses their changes");
        }
        "filter-branch" | "filter-repo" => {
            local(w, Verb::Rewrite, "history", "git-history-rewrite", "rewrites the repository's history")
        }
        "reflog" if matches!(words.first(), Some(&"expire" | &"delete")) => {
            local(
                w,
                Verb::Rewrite,
                "reflog",
                "git-reflog-expire",
                "expiring the reflog removes the way back to lost commits",
            );
        }
        "gc" if words.iter().any(|w| w.starts_with("--prune=now") || *w == "--prune=all")
            || words.windows(2).any(|p| p == ["--prune", "now"]) =>
        {
            local(
                w,
                Verb::Rewrite,
                "unreachable objects",
                "git-gc-prune",
                "git gc --prune=now deletes unreachable commits for good",
            );
        }
        "prune" => local(
            w,
            Verb::Rewrite,
            "unreachable objects",
            "git-prune",
            "git prune deletes unreachable objects for good",
        ),
        "update-ref" if words.iter().any(|w| *w == "-d" || *w == "--delete") => {
            local(w, Verb::Delete, "ref", "git-update-ref-delete", "deletes a ref directly");
        }
        "worktree" if words.first() == Some(&"remove") && words.iter().any(|w| *w == "--force" || *w == "-f") => {
            local(
                w,
                Verb::Delete,
                "worktree",
                "git-worktree-remove",
                "removes a worktree with its uncommitted changes",
            );
        }
        "rm" if has_flag(rest, 'f', &["--force"]) => {
            local(
                w,
                Verb::Delete,
                "uncommitted changes",
                "git-rm-force",
                "git rm -f deletes files with uncommitted changes",
            );
        }
        _ => {}
    }
}

/// Whether a short-option cluster (`-qf`) holds `c`; letters after an option that takes a
/// value (`-bfeature`: `b` takes `feature`) are that value, not options.
fn has_short(word: &str, c: char) -> bool {
    let Some(cluster) = word.strip_prefix('-').filter(|w| !w.starts_with('-')) else { return false };
    for letter in cluster.chars() {
        if letter == c {
            return true;
        }
        if matches!(letter, 'b' | 'B' | 'c' | 'C' | 'm' | 'o' | 'U') {
            return false;
        }
    }
    false
}

/// `git checkout` overwrites working-tree files when forced, or when given paths: after
/// `--`, from a pathspec file, or as more than one operand (a tree-ish, then paths).
/// Settings whose value git runs, or that change what `git push` sends.
fn runs_something(setting: &str) -> bool {
    let key = setting.split('=').next().unwrap_or("").to_ascii_lowercase();
    key.starts_with("alias.")
        || key.starts_with("filter.")
        || key.ends_with(".push")
        || key.ends_with(".pushurl")
        || matches!(
            key.as_str(),
            "core.hookspath"
                | "core.sshcommand"
                | "core.pager"
                | "core.editor"
                | "core.fsmonitor"
                | "sequence.editor"
                | "diff.external"
                | "credential.helper"
                | "remote.pushdefault"
        )
}

fn discards_checkout(words: &[&str]) -> bool {
    let options: Vec<&str> = words.iter().copied().take_while(|w| *w != "--").collect();
    let forced = options.iter().any(|w| *w == "--force" || has_short(w, 'f'));
    if forced {
        return true;
    }
    let dashdash = words.iter().position(|w| *w == "--").is_some_and(|i| words.len() > i + 1);
    let pathspec_file = options.iter().any(|w| w.starts_with("--pathspec-from-file"));
    let creates =
        options.iter().any(|w| matches!(*w, "-b" | "-B" | "--orphan") || has_short(w, 'b') || has_short(w, 'B'));
    let valued =
        ["-b", "-B", "--orphan", "--conflict", "--pathspec-from-file", "--unified", "-U", "--inter-hunk-context"];
    let mut operands = Vec::new();
    let mut i = 0;
    while let Some(w) = options.get(i) {
        if valued.contains(w) {
            i += 2;
            continue;
        }
        if !w.starts_with('-') {
            operands.push(*w);
        }
        i += 1;
    }
    let dot = operands.iter().any(|w| matches!(*w, "." | "*" | ":/"));
    dashdash || pathspec_file || dot || (!creates && operands.len() > 1)
}

fn scope_of(repo: &str, w: &Walker<'_>) -> Scope {
    path::info(repo, &w.ctx).scope
}

/// `git push`: force pushes, deletions and mirrors of protected branches rewrite shared history.
fn push(w: &mut Walker<'_>, rest: &[Arg], repo: &str) {
    let words: Vec<&str> = rest.iter().map(|a| a.text.as_str()).collect();
    let force = words.iter().any(|w| w.starts_with("--force") || has_short(w, 'f'));
    let delete = words.iter().any(|w| *w == "--delete" || has_short(w, 'd'));
    let mirror = words.iter().any(|w| *w == "--mirror" || *w == "--prune");
    let all = words.iter().any(|w| *w == "--all" || *w == "--branches");
    let valued = ["--repo", "-o", "--push-option", "--receive-pack", "--exec"];
    let mut positionals = Vec::new();
    let mut i = 0;
    while let Some(word) = words.get(i) {
        if valued.contains(word) {
            i += 2;
            continue;
        }
        if !word.starts_with('-') {
            positionals.push(*word);
        }
        i += 1;
    }
    let refspecs: Vec<&str> = positionals.iter().skip(1).copied().collect();
    let remote = positionals.first().copied().unwrap_or("origin");
    let mut branches: Vec<(String, bool, bool)> = Vec::new(); // (branch, forced, deleted)
    for spec in &refspecs {
        let plus = spec.starts_with('+');
        let spec = spec.trim_start_matches('+');
        let (src, dst) = spec.split_once(':').unwrap_or((spec, spec));
        let dst = dst.trim_start_matches("refs/heads/");
        branches.push((dst.to_owned(), force || plus, delete || src.is_empty()));
    }
    if branches.is_empty() {
        let current = current_branch(w, repo);
        branches.push((current.unwrap_or_else(|| "(current branch)".into()), force, delete));
    }
    if mirror || (all && force) {
        let target = Target::new(TargetKind::Git, format!("{remote} (every ref)")).tagged("protected_branch");
        w.push(effect(
            Verb::Rewrite,
            target,
            Reversibility::Irreversible,
            Scope::Remote,
            "git-push-mirror",
            "a mirror or pruning push can overwrite or delete every branch on the remote",
        ));
        return;
    }
    for (branch, forced, deleted) in branches {
        // A wildcard refspec (`refs/heads/*`) takes every branch, protected ones included.
        let protected =
            branch == "(current branch)" || branch.contains('*') || is_protected(&branch, &w.ctx.protected_branches);
        let mut target = Target::new(TargetKind::Git, format!("{remote}/{branch}"));
        if protected {
            target = target.tagged("protected_branch");
        }
        let (verb, rev, rule, why) = match (deleted, forced, protected) {
            (true, _, true) => (
                Verb::Delete,
                Reversibility::Irreversible,
                "git-push-delete-protected",
                "deletes a protected branch on the remote",
            ),
            (true, _, false) => {
                (Verb::Write, Reversibility::Recoverable, "git-push-delete", "deletes a branch on the remote")
            }
            (false, true, true) => (
                Verb::Rewrite,
                Reversibility::Irreversible,
                "git-push-force-protected",
                "force-pushes a protected branch, overwriting shared history",
            ),
            (false, true, false) => (
                Verb::Write,
                Reversibility::Recoverable,
                "git-push-force",
                "force-pushes a branch that is not protected",
            ),
            (false, false, _) => (Verb::Write, Reversibility::Reversible, "git-push", "pushes commits"),
        };
        w.push(effect(verb, target, rev, Scope::Remote, rule, why));
    }
}

/// The branch `.git/HEAD` points at.
fn current_branch(w: &Walker<'_>, repo: &str) -> Option<String> {
    let head = w.facts.read(&format!("{repo}/.git/HEAD"))?;
    head.trim().strip_prefix("ref: refs/heads/").map(str::to_owned)
}

/// Whether a branch matches one of the protected globs (`*` matches any run of characters).
pub fn is_protected(branch: &str, globs: &[String]) -> bool {
    globs.iter().any(|g| glob_match(g, branch))
}

fn glob_match(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            let Some(rest) = text.strip_prefix(head) else { return false };
            (0..=rest.len())
                .filter(|i| rest.is_char_boundary(*i))
                .any(|i| rest.get(i..).is_some_and(|r| glob_match(tail, r)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protected_globs() {
        let globs: Vec<String> = ["main", "release/*", "prod*"].iter().map(|s| s.to_string()).collect();
        assert!(is_protected("main", &globs));
        assert!(is_protected("release/1.2", &globs));
        assert!(is_protected("production", &globs));
        assert!(!is_protected("feature/x", &globs));
        assert!(!is_protected("mainline", &globs));
    }
}
