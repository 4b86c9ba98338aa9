//! Classifier throughput on a corpus of typical agent commands (target: ≥ 100,000 commands/s
//! on one core), and the cost of one long pipeline.
#![allow(clippy::unwrap_used, missing_docs)]

use holdpoint_classify::{Context, NoFacts, classify_shell};

fn main() {
    divan::main();
}

/// Commands of the kind agents run all day.
const TYPICAL: &[&str] = &[
    "git status",
    "git diff --stat",
    "ls -la src",
    "cargo test --workspace",
    "npm install",
    "npm run build",
    "cat package.json",
    "grep -rn TODO src",
    "rg -n 'fn main' crates",
    "python -m pytest -q tests/test_login.py",
    "git add -A && git commit -m 'fix login'",
    "git push origin feature/login",
    "rm -rf node_modules dist",
    "mkdir -p build && cd build && cmake ..",
    "docker compose up -d db",
    "psql -c 'SELECT count(*) FROM users'",
    "curl -s http://localhost:3000/health | jq .",
    "find . -name '*.rs' | xargs wc -l",
    "echo $PATH",
    "sed -n '1,40p' src/main.rs",
];

fn context() -> Context {
    Context {
        cwd: "/home/dev/project".into(),
        workspace: "/home/dev/project".into(),
        home: "/home/dev".into(),
        temp_dirs: vec!["/tmp".into()],
        guarded: vec!["/home/dev/.config/holdpoint".into()],
        protected_branches: vec!["main".into(), "master".into()],
    }
}

#[divan::bench(counter = divan::counter::ItemsCount::new(TYPICAL.len()))]
fn typical_commands(bencher: divan::Bencher) {
    let ctx = context();
    bencher.bench(|| {
        for cmd in TYPICAL {
            divan::black_box(classify_shell(divan::black_box(cmd), &ctx, &NoFacts));
        }
    });
}

#[divan::bench]
fn pipeline_of_60_commands(bencher: divan::Bencher) {
    let ctx = context();
    let long = (0..60).map(|i| format!("grep -v pattern{i} file{i}.txt")).collect::<Vec<_>>().join(" | ");
    bencher.bench(|| classify_shell(divan::black_box(&long), &ctx, &NoFacts));
}
