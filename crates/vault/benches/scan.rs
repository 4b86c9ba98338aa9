//! Per-buffer detector throughput: source-like text without secrets (the common case: the
//! search never leaves its prefilter), the same text with secrets planted every few KiB, and a
//! `.env` file dense with assignments.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use divan::counter::BytesCount;
use divan::{Bencher, black_box};
use holdpoint_vault::scan::{Detector, assignment_kind};

fn main() {
    divan::main();
}

/// About 1 MiB of Rust/JS/YAML-like lines, deterministic.
fn source(planted: bool) -> Vec<u8> {
    let lines = [
        "fn handle_request(req: &Request, state: &State) -> Result<Response, Error> {\n",
        "    let key = cache_key(&req.path, req.method);\n",
        "    if let Some(hit) = state.cache.get(&key) { return Ok(hit.clone()); }\n",
        "const options = { timeout: 3000, retries: 3, keyPrefix: 'sess:' };\n",
        "  database:\n    host: db.internal\n    port: 5432\n",
        "export function tokenize(input: string): Token[] { return lexer.run(input); }\n",
        "# The secret of a good test is a small input; see docs/testing.md\n",
        "    assert_eq!(parse(\"a=b\").unwrap().key, \"a\");\n",
        "import { createHash } from 'node:crypto'; // sha256 of the password hash\n",
        "    password_min_length: 12\n",
    ];
    let secrets = [
        "GITHUB_TOKEN=ghp_Zq8rT2mK9vX4nB7cL1pW6yH3jD5sF0gA2eUi\n",
        "DATABASE_URL=postgres://app:Vt9#kQ2xLm7pR4@db.internal:5432/app\n",
        "api_key: \"Xk9aP2mQ7vR4tL8wZ3nB6cY1dF5hJ0sG\"\n",
    ];
    let mut out = Vec::with_capacity(1 << 20);
    let mut i = 0usize;
    while out.len() < 1 << 20 {
        out.extend_from_slice(lines[i % lines.len()].as_bytes());
        if planted && i % 64 == 63 {
            out.extend_from_slice(secrets[(i / 64) % secrets.len()].as_bytes());
        }
        i += 1;
    }
    out
}

#[divan::bench]
fn source_clean(bencher: Bencher) {
    let detector = Detector::builtin().unwrap();
    let buf = source(false);
    let mut scanner = detector.scanner();
    bencher.counter(BytesCount::of_slice(&buf)).bench_local(|| {
        assert!(scanner.scan(black_box(&buf)).is_empty());
    });
}

#[divan::bench]
fn source_planted(bencher: Bencher) {
    let detector = Detector::builtin().unwrap();
    let buf = source(true);
    let mut scanner = detector.scanner();
    bencher.counter(BytesCount::of_slice(&buf)).bench_local(|| {
        assert!(!scanner.scan(black_box(&buf)).is_empty());
    });
}

#[divan::bench]
fn dotenv(bencher: Bencher) {
    let detector = Detector::builtin().unwrap();
    let mut buf = Vec::new();
    for i in 0..2000 {
        buf.extend_from_slice(
            format!(
                "SERVICE_{i}_URL=https://svc{i}.internal\nSERVICE_{i}_TOKEN=t0k{i}Qz8rT2mK9vX4nB7cL1pW\nPORT_{i}={i}\n"
            )
            .as_bytes(),
        );
    }
    let mut scanner = detector.scanner();
    bencher.counter(BytesCount::of_slice(&buf)).bench_local(|| {
        assert!(!scanner.scan(black_box(&buf)).is_empty());
    });
}

#[divan::bench]
fn one_assignment() -> Option<holdpoint_vault::scan::Kind> {
    assignment_kind(black_box("STRIPE_SECRET_KEY"), black_box("sk_live_51Hq8rT2mK9vX4nB7cL1pW6yH3j"))
}
