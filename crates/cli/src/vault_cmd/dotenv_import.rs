//! `holdpoint vault import`: the secrets of a `.env` file into the vault, placeholders into
//! the file, the original kept sealed; nothing changes unless every step can be done.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result, bail};
use holdpoint_store::{VaultAddition, unix_now};
use holdpoint_vault::dotenv::Document;
use holdpoint_vault::import::{self, Found};
use holdpoint_vault::{Binding, check_name, scan, seal_backup, seal_secret};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::{ImportArgs, ask, header_of, meta_json, open_state, to_store, unlock, write_new};
use crate::home::Home;

/// The largest `.env` file import reads.
const MAX_DOTENV: u64 = 4 * 1024 * 1024;

pub(super) fn import_file(home: &Home, args: ImportArgs) -> Result<u8> {
    let path = std::path::absolute(&args.path).with_context(|| format!("cannot resolve {}", args.path.display()))?;
    let shown = args.path.display().to_string();
    let original = read_dotenv(&path)?;
    let mut doc = Document::parse_bytes(&original).map_err(|e| anyhow::anyhow!("{shown}:{}: {}", e.line, e.detail))?;
    let findings = import::find_secrets(&shown, &doc, |name, value| {
        scan::assignment_kind(name, value).map(|kind| kind.to_string())
    })?;
    let mut hosts_given = parse_host_flags(&args.host)?;
    if let Some(var) = hosts_given.keys().find(|var| !findings.found.iter().any(|f| f.vars.iter().any(|v| v == *var))) {
        let found: Vec<&str> = findings.found.iter().flat_map(|f| f.vars.iter().map(String::as_str)).collect();
        bail!(
            "--host {var}=...: {var} is not a secret Holdpoint found in {shown} (found: {}); nothing was changed",
            if found.is_empty() { "none".to_owned() } else { found.join(", ") }
        );
    }
    if findings.found.is_empty() {
        let mut left = findings.left;
        left.extend(still_in_file(&original, &left));
        report_left(&left);
        println!("no secret in {shown} that import can move; nothing changed");
        return Ok(0);
    }
    let state = open_state(home)?;
    let existing: Vec<String> = state.run(state.store.vault_records())?.into_iter().map(|r| r.name).collect();
    let planned = plan_hosts(&shown, findings.found, &mut hosts_given)?;
    let (moving, kept): (Vec<_>, Vec<_>) = planned.into_iter().partition(|(_, hosts)| !hosts.is_empty());
    check_names(&moving, &args.prefix, &existing)?;
    let (key, header) = unlock(header_of(&state)?.as_deref())?;
    let now = unix_now();
    let mut records = Vec::new();
    let mut moved = Vec::new();
    for (found, hosts) in &moving {
        let binding = Binding::new(hosts.clone(), vec![], vec![], found.inject.clone(), args.tags.clone())?;
        let (meta, record) = seal_secret(&key, &found.name(&args.prefix), binding, &found.credential, now)?;
        import::rewrite(&mut doc, found, &meta)?;
        records.push(to_store(record, now));
        moved.push((found, meta));
    }
    if moved.is_empty() {
        println!("every secret was left in {shown} as it was; nothing changed");
        return Ok(0);
    }
    let rewritten = doc.render();
    check_rewrite(&original, &rewritten, &moved.iter().flat_map(|(f, _)| f.positions().to_vec()).collect::<Vec<_>>())?;
    let path_text = path.display().to_string();
    let backup = seal_backup(&key, &path_text, &original)?;
    let addition = VaultAddition { header, records, backup: Some((path_text, backup)) };
    let backup_id = state.run(state.store.vault_add(addition, now))?.context("the store kept no backup")?;
    replace_file(&path, &original, rewritten.as_bytes()).with_context(|| {
        format!("the secrets are in the vault (backup {backup_id} holds the original), but {shown} was not rewritten")
    })?;
    let mut left: Vec<(String, usize, String)> = findings
        .left
        .into_iter()
        .chain(kept.iter().map(|(f, _)| (f.vars.join("+"), f.line, "you chose to leave it".to_owned())))
        .collect();
    left.extend(still_in_file(rewritten.as_bytes(), &left));
    if args.json {
        let moved: Vec<Value> = moved
            .iter()
            .map(|(f, meta)| json!({"vars": f.vars, "line": f.line, "why": f.why, "secret": meta_json(meta, None)}))
            .collect();
        let left: Vec<Value> = left.iter().map(|(v, l, w)| json!({"var": v, "line": l, "why": w})).collect();
        println!("{}", json!({"file": path, "backup": backup_id, "moved": moved, "left": left}));
        return Ok(0);
    }
    for (f, meta) in &moved {
        println!(
            "{}:{}: moved {} ({}) into the vault as {:?}, for {}",
            shown,
            f.line,
            f.vars.join(" and "),
            f.why,
            meta.name,
            meta.binding.hosts.join(", ")
        );
        if let Some(note) = &f.note {
            println!("  note: {note}");
        }
    }
    report_left(&left);
    println!(
        "{shown} now holds placeholders. The original is kept encrypted as vault backup {backup_id}: \
         `holdpoint vault restore {backup_id}` puts it back."
    );
    Ok(0)
}

/// The rewritten file must read as the original did, but for the moved variables, which now
/// hold placeholders: checked before anything is stored or written.
fn check_rewrite(original: &[u8], rewritten: &str, moved: &[usize]) -> Result<()> {
    let before = Document::parse_bytes(original).map_err(|e| anyhow::anyhow!("line {}: {}", e.line, e.detail))?;
    let after = Document::parse(rewritten).map_err(|e| {
        anyhow::anyhow!("the rewritten file does not parse (line {}: {}); nothing was changed", e.line, e.detail)
    })?;
    let (a, b): (Vec<_>, Vec<_>) = (before.assignments().collect(), after.assignments().collect());
    let same = a.len() == b.len()
        && a.iter().zip(&b).enumerate().all(|(i, (x, y))| {
            x.name == y.name
                && if moved.contains(&i) {
                    holdpoint_vault::contains_placeholder(&y.value())
                } else {
                    x.value() == y.value()
                }
        });
    if !same {
        bail!("the rewritten file would not read as the original does; nothing was changed (please report this)");
    }
    Ok(())
}

/// Secrets the scanner still finds in a file, on lines not already reported: values that are
/// not `NAME=value` assignments import can rewrite.
fn still_in_file(bytes: &[u8], reported: &[(String, usize, String)]) -> Vec<(String, usize, String)> {
    let hits = scan::Detector::builtin().map(|d| d.scan(bytes)).unwrap_or_default();
    hits.into_iter()
        .filter_map(|hit| {
            let line = usize::try_from(hit.line).ok()?;
            (!reported.iter().any(|(_, l, _)| *l == line)).then(|| {
                let what = format!("a {} (fingerprint {})", hit.kind, hit.fingerprint);
                (what, line, "not in a NAME=value assignment import can rewrite; move it by hand".to_owned())
            })
        })
        .collect()
}

fn report_left(left: &[(String, usize, String)]) {
    for (var, line, why) in left {
        println!("left as it is: {var} (line {line}): {why}");
    }
}

fn read_dotenv(path: &Path) -> Result<Zeroizing<Vec<u8>>> {
    let file = std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut bytes = Zeroizing::new(Vec::new());
    file.take(MAX_DOTENV + 1).read_to_end(&mut bytes).with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.len() as u64 > MAX_DOTENV {
        bail!("{} is larger than {} MiB; that is not a .env file", path.display(), MAX_DOTENV >> 20);
    }
    Ok(bytes)
}

/// `--host VAR=HOST[,HOST..]` flags, by variable.
fn parse_host_flags(flags: &[String]) -> Result<BTreeMap<String, Vec<String>>> {
    let mut out = BTreeMap::new();
    for flag in flags {
        let (var, hosts) = flag.split_once('=').filter(|(v, h)| !v.is_empty() && !h.is_empty()).with_context(|| {
            format!("--host {flag:?}: write it as VAR=HOST, e.g. --host PAYMENTS_TOKEN=api.payments.example")
        })?;
        out.insert(var.to_owned(), hosts.split(',').map(|h| h.trim().to_owned()).collect());
    }
    Ok(out)
}

/// The hosts of every found secret: from --host, inferred, or asked at the terminal ('-' or
/// an empty answer leaves the secret in the file). Without a terminal, secrets with no host
/// are an error naming them, and nothing changes.
fn plan_hosts(
    shown: &str,
    found: Vec<Found>,
    given: &mut BTreeMap<String, Vec<String>>,
) -> Result<Vec<(Found, Vec<String>)>> {
    let mut planned = Vec::new();
    let mut unknown = Vec::new();
    for f in found {
        let flag = f.vars.iter().find_map(|v| given.remove(v));
        let hosts = flag.unwrap_or_else(|| f.hosts.clone());
        if hosts.is_empty() {
            unknown.push(planned.len());
        }
        planned.push((f, hosts));
    }
    for &i in &unknown {
        let Some((f, hosts)) = planned.get_mut(i) else { continue };
        let prompt = format!(
            "{shown}:{}: which host is {} for? (e.g. api.example.com or *.example.com; '-' leaves it in the file): ",
            f.line,
            f.vars.join("+")
        );
        let Some(answer) = ask(&prompt, false)? else {
            let names: Vec<String> = unknown
                .iter()
                .filter_map(|&i| planned.get(i))
                .map(|(f, _)| format!("{} (line {})", f.vars.join("+"), f.line))
                .collect();
            bail!(
                "cannot tell which host these secrets are for: {}. Pass --host VAR=HOST for each (e.g. --host {}=api.example.com), \
                 or run this at a terminal to be asked; nothing was changed",
                names.join(", "),
                planned
                    .get(unknown.first().copied().unwrap_or(0))
                    .and_then(|(f, _)| f.vars.first())
                    .map_or("VAR", String::as_str)
            );
        };
        let answer = answer.trim();
        if !answer.is_empty() && answer != "-" {
            *hosts = answer.split(',').map(|h| h.trim().to_owned()).collect();
        }
    }
    Ok(planned)
}

fn check_names(moving: &[(Found, Vec<String>)], prefix: &str, existing: &[String]) -> Result<()> {
    let mut names: Vec<String> = Vec::new();
    let mut taken = Vec::new();
    for (f, _) in moving {
        let name = f.name(prefix);
        check_name(&name)?;
        if existing.contains(&name) || names.contains(&name) {
            taken.push(name.clone());
        }
        names.push(name);
    }
    if !taken.is_empty() {
        bail!(
            "the vault already has secrets named {}; import under other names with --prefix (e.g. --prefix myapp/), \
             or remove the old ones with `holdpoint vault rm`. Nothing was changed",
            taken.join(", ")
        );
    }
    Ok(())
}

/// Replaces `path` with `new` through a temporary file and a rename, keeping its permissions,
/// after checking it still holds `expected` (so a concurrent edit is not lost).
fn replace_file(path: &Path, expected: &[u8], new: &[u8]) -> Result<()> {
    let dir = path.parent().context("the file has no directory")?;
    let name = path.file_name().context("the path has no file name")?.to_string_lossy();
    let tmp = dir.join(format!(".{name}.hp-import-{}", std::process::id()));
    let mode = std::fs::metadata(path)?.permissions();
    write_new(&tmp, new, 0o600)?;
    let result = (|| {
        std::fs::set_permissions(&tmp, mode)?;
        if std::fs::read(path)? != expected {
            bail!("{} changed while it was imported", path.display());
        }
        std::fs::rename(&tmp, path)?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
