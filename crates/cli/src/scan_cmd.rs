//! `holdpoint scan`: plaintext secrets on disk. Exit 3 when any is found, 0 when none.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use holdpoint_policy::config::parse_size;
use holdpoint_vault::scan::{Detector, Progress, Report, ScanOptions, scan_paths};
use serde_json::json;

/// Unreadable paths listed in text output; `--json` lists them all.
const UNREADABLE_SHOWN: usize = 20;

#[derive(clap::Args)]
pub struct ScanArgs {
    /// Files or directories to scan (default: the home directory).
    paths: Vec<PathBuf>,
    /// Print one JSON object: {"findings":[{"path","line","kind","fingerprint"}],
    /// "counts":{"files","bytes","findings","binary","too_large","unreadable"},
    /// "unreadable":[{"path","error"}]}.
    #[arg(long)]
    json: bool,
    /// Honour .gitignore, .ignore and git's exclude files. Off by default: an ignored .env is
    /// exactly where secrets sit.
    #[arg(long)]
    respect_ignores: bool,
    /// Skip files larger than this (they are counted): B, KiB, MiB, GiB, KB, MB or GB.
    #[arg(long, value_name = "SIZE", default_value = "8MiB", value_parser = parse_size)]
    max_size: u64,
    /// Walker threads (default: one per core).
    #[arg(long, value_name = "N", default_value_t = 0, hide_default_value = true)]
    threads: usize,
    /// Print the detectors (id, kind, regex; with --json one object per line) and exit.
    #[arg(long)]
    list_rules: bool,
}

pub fn run(args: ScanArgs) -> Result<u8> {
    if args.list_rules {
        return list_rules(args.json);
    }
    let paths = if args.paths.is_empty() {
        let home = std::env::var_os("HOME").filter(|h| !h.is_empty());
        vec![PathBuf::from(home.context("HOME is not set; name the paths to scan: holdpoint scan PATH...")?)]
    } else {
        args.paths
    };
    let options = ScanOptions { respect_ignores: args.respect_ignores, max_size: args.max_size, threads: args.threads };
    let progress = Progress::default();
    let done = AtomicBool::new(false);
    let report = std::thread::scope(|s| {
        if std::io::stderr().is_terminal() {
            s.spawn(|| show_progress(&progress, &done));
        }
        let report = scan_paths(&paths, &options, &progress);
        done.store(true, Ordering::Relaxed);
        report
    })?;
    let code = if report.findings.is_empty() { 0 } else { 3 };
    match print(&report, args.json) {
        // A reader that stopped early (`| head`) has what it wanted; the exit code still says
        // whether anything was found.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(code),
        result => result?,
    }
    if !args.json {
        summary(&report, args.max_size);
    }
    Ok(code)
}

fn print(report: &Report, json: bool) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", report_json(report))?;
    } else {
        for f in &report.findings {
            writeln!(out, "{}:{}  {}  {}", f.path.display(), f.line, f.kind, f.fingerprint)?;
        }
    }
    out.flush()
}

fn report_json(report: &Report) -> serde_json::Value {
    json!({
        "findings": report.findings,
        "counts": {
            "files": report.files,
            "bytes": report.bytes,
            "findings": report.findings.len(),
            "binary": report.binary,
            "too_large": report.too_large,
            "unreadable": report.unreadable.len(),
        },
        "unreadable": report.unreadable,
    })
}

/// What was looked at and what was not, on stderr (stdout stays one finding per line).
fn summary(report: &Report, max_size: u64) {
    for u in report.unreadable.iter().take(UNREADABLE_SHOWN) {
        eprintln!("holdpoint: cannot read {}: {}", u.path.display(), u.error);
    }
    if report.unreadable.len() > UNREADABLE_SHOWN {
        eprintln!(
            "holdpoint: ... and {} more unreadable (--json lists all)",
            report.unreadable.len() - UNREADABLE_SHOWN
        );
    }
    let found = match report.findings.len() {
        0 => "no secrets".to_owned(),
        1 => "1 secret".to_owned(),
        n => format!("{n} secrets"),
    };
    eprintln!(
        "holdpoint: {found} in {} files ({}); skipped {} binary, {} over {}, {} unreadable",
        report.files,
        human_bytes(report.bytes),
        report.binary,
        report.too_large,
        human_bytes(max_size),
        report.unreadable.len()
    );
}

fn list_rules(json: bool) -> Result<u8> {
    let detector = Detector::builtin()?;
    let mut out = std::io::stdout().lock();
    for rule in detector.rules() {
        if json {
            let line = json!({"id": rule.id, "kind": rule.kind, "regex": rule.regex, "why": rule.why});
            writeln!(out, "{line}")?;
        } else {
            writeln!(out, "{}  {}  {}", rule.id, rule.kind, rule.regex)?;
        }
    }
    Ok(0)
}

/// A live count on the terminal once a scan has taken more than a second.
fn show_progress(progress: &Progress, done: &AtomicBool) {
    let start = Instant::now();
    let mut shown = false;
    while !done.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
        if start.elapsed() < Duration::from_secs(1) || done.load(Ordering::Relaxed) {
            continue;
        }
        eprint!(
            "\rscanning: {} files, {}, {} findings ",
            progress.files(),
            human_bytes(progress.bytes()),
            progress.findings()
        );
        shown = true;
    }
    if shown {
        eprint!("\r\x1b[K");
    }
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    let name = UNITS.get(unit).copied().unwrap_or("B");
    if unit == 0 { format!("{n} B") } else { format!("{value:.1} {name}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("8MiB"), Ok(8 << 20));
        assert_eq!(parse_size("512KiB"), Ok(512 << 10));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert_eq!(parse_size("10MB"), Ok(10_000_000));
        assert!(parse_size("8 parsecs").is_err());
        assert!(parse_size("MiB").is_err());
        assert_eq!(human_bytes(8 << 20), "8.0 MiB");
        assert_eq!(human_bytes(12), "12 B");
    }
}
