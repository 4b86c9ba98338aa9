//! The peer guards' own test suites (`../shared/corpus/peers/*.jsonl`) as test data for the
//! shell classifier and the default policy.
//!
//! Scored: dcg lines whose `level` is `binary/*` or `evaluator/*`, and cc-safety-net lines
//! without `context`; commands that appear with both verdicts are left out. Every scored case
//! a peer blocks must be held or denied here; at least 98% of those a peer allows must be
//! allowed. Deliberate disagreements are listed with their reason in
//! `tests/data/corpus-disagreements.jsonl` and not counted. No repository facts are given
//! (no tracked files, no current branch), as for a command checked outside any repository.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

mod common;

use holdpoint_classify::NoFacts;
use holdpoint_core::VerdictKind;
use serde_json::Value;

fn corpus_dir() -> std::path::PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).unwrap();
    root.join("../shared/corpus/peers")
}

/// (command, peer verdict) of every scored case.
fn scored_cases() -> Vec<(String, String, String)> {
    let mut verdicts: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut cases = Vec::new();
    for file in ["dcg.jsonl", "cc-safety-net.jsonl"] {
        let path = corpus_dir().join(file);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (the corpus ships in ../shared)", path.display()));
        for line in text.lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            let command = v["command"].as_str().unwrap().to_owned();
            let expected = v["expected"].as_str().unwrap().to_owned();
            verdicts.entry(command.clone()).or_default().insert(expected.clone());
            let scored = match v["source"].as_str().unwrap() {
                "dcg" => v["level"].as_str().is_some_and(|l| l.starts_with("binary/") || l.starts_with("evaluator/")),
                _ => v.get("context").is_none(),
            };
            if scored {
                cases.push((command, expected, v["source"].as_str().unwrap().to_owned()));
            }
        }
    }
    let mut seen = BTreeSet::new();
    cases.retain(|(c, e, _)| verdicts[c].len() == 1 && seen.insert((c.clone(), e.clone())));
    cases
}

fn disagreements() -> BTreeMap<String, (String, String)> {
    let text = include_str!("data/corpus-disagreements.jsonl");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            let why = v["why"].as_str().unwrap();
            assert!(why.len() > 20, "every disagreement says why: {l}");
            (v["command"].as_str().unwrap().to_owned(), (v["ours"].as_str().unwrap().to_owned(), why.to_owned()))
        })
        .collect()
}

#[test]
fn peer_corpora() {
    let engine = common::engine();
    let cases = scored_cases();
    let skip = disagreements();
    let (mut blocked_ok, mut blocked_missed, mut allowed_ok, mut allowed_missed) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut used = BTreeSet::new();
    for (command, expected, source) in &cases {
        let got = common::verdict(&engine, command, &NoFacts).0;
        if let Some((ours, _)) = skip.get(command) {
            assert_eq!(got.as_str(), ours, "the disagreement line for {command:?} says we answer {ours}");
            used.insert(command.clone());
            continue;
        }
        match (expected.as_str(), got) {
            ("block", VerdictKind::Allow) => blocked_missed.push(format!("{source}: {command}")),
            ("block", _) => blocked_ok.push(command),
            (_, VerdictKind::Allow) => allowed_ok.push(command),
            _ => allowed_missed.push(format!("{source}: {command} → {got}")),
        }
    }
    if std::env::var_os("HOLDPOINT_CORPUS_REPORT").is_some() {
        println!("MISSED BLOCKS\n{}\nMISSED ALLOWS\n{}", blocked_missed.join("\n"), allowed_missed.join("\n"));
    }
    let unused: Vec<&String> = skip.keys().filter(|c| !used.contains(*c)).collect();
    println!(
        "scored {} cases: peers block {} (we hold/deny {}), peers allow {} (we allow {}); {} deliberate disagreements",
        cases.len() - used.len(),
        blocked_ok.len() + blocked_missed.len(),
        blocked_ok.len(),
        allowed_ok.len() + allowed_missed.len(),
        allowed_ok.len(),
        used.len()
    );
    let allow_rate = allowed_ok.len() as f64 / (allowed_ok.len() + allowed_missed.len()).max(1) as f64;
    assert!(unused.is_empty(), "disagreement lines that match no scored case: {unused:?}");
    assert!(
        blocked_missed.is_empty(),
        "{} blocked cases we allow:\n{}",
        blocked_missed.len(),
        blocked_missed.join("\n")
    );
    assert!(
        allow_rate >= 0.98,
        "we allow only {:.1}% of what peers allow; held or denied:\n{}",
        allow_rate * 100.0,
        allowed_missed.join("\n")
    );
}
