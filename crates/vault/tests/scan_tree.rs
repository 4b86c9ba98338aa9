//! The planted tree: `tests/data/scan/tree` holds invented secrets of every kind beside
//! look-alikes (documented fakes, test and public keys, placeholders, UUIDs, hashes, code), and
//! `tests/data/scan/expected.jsonl` lists every finding the scan must report, one
//! `{"path","line","kind"}` per line. The scan must report exactly those; precision and recall
//! are printed (`cargo test -p holdpoint-vault --test scan_tree -- --nocapture`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use holdpoint_vault::scan::{Kind, Progress, ScanOptions, scan_paths};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    path: String,
    line: u64,
    kind: Kind,
}

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/scan")
}

fn expected() -> BTreeSet<(String, u64, Kind)> {
    let text = std::fs::read_to_string(data().join("expected.jsonl")).unwrap();
    text.lines()
        .enumerate()
        .map(|(n, line)| {
            let e: Expected =
                serde_json::from_str(line).unwrap_or_else(|err| panic!("expected.jsonl:{}: {err}", n + 1));
            (e.path, e.line, e.kind)
        })
        .collect()
}

#[test]
fn planted_tree_findings_are_exactly_the_expected_ones() {
    let tree = data().join("tree");
    let report = scan_paths(std::slice::from_ref(&tree), &ScanOptions::default(), &Progress::default()).unwrap();
    let found: BTreeSet<(String, u64, Kind)> = report
        .findings
        .iter()
        .map(|f| (f.path.strip_prefix(&tree).unwrap().to_string_lossy().into_owned(), f.line, f.kind))
        .collect();
    let expected = expected();
    let hits = found.intersection(&expected).count();
    let precision = hits as f64 / found.len().max(1) as f64;
    let recall = hits as f64 / expected.len().max(1) as f64;
    println!(
        "planted tree: {} expected, {} found, {hits} right: precision {precision:.3}, recall {recall:.3}",
        expected.len(),
        found.len()
    );
    let missed: Vec<_> = expected.difference(&found).collect();
    let extra: Vec<_> = found.difference(&expected).collect();
    assert!(
        missed.is_empty() && extra.is_empty(),
        "missed (false negatives): {missed:#?}\nextra (false positives): {extra:#?}"
    );
    assert_eq!(report.findings.len(), found.len(), "one finding per (path, line, kind)");
    // Every kind is planted at least once.
    let kinds: BTreeSet<Kind> = expected.iter().map(|e| e.2).collect();
    let unplanted: Vec<&Kind> = Kind::ALL.iter().filter(|k| !kinds.contains(k)).collect();
    assert!(unplanted.is_empty(), "kinds without a planted secret: {unplanted:?}");
    // The binary with a token in it was skipped, not searched.
    assert_eq!(report.binary, 1);
    assert!(report.unreadable.is_empty(), "{:?}", report.unreadable);
}

#[test]
fn a_private_key_is_one_finding_however_many_lines_it_has() {
    let tree = data().join("tree/home/.ssh");
    let report = scan_paths(&[tree], &ScanOptions::default(), &Progress::default()).unwrap();
    let keys: Vec<_> = report.findings.iter().filter(|f| f.kind == Kind::PrivateKey).collect();
    assert_eq!(keys.len(), 2, "{keys:#?}");
    assert!(keys.iter().all(|f| f.line == 1));
}
