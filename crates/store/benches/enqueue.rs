//! What a held action and a logged decision cost on SQLite, through the public API a hook or
//! proxy calls: one hold enqueued (a transaction with its sealed hold, its audit record and a
//! signed head), one audit record appended, and a proxy's batch of 256 decision records (what
//! its audit writer appends every few milliseconds under load; divide by 256 for one record). After divan's table, prints p50, p95, p99,
//! p99.9 and max latencies over 2,000 sequential calls of each, on one store that stays open
//! (as in the proxy), so its background WAL checkpoints are part of what is measured.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, missing_docs)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use holdpoint_core::{ActionDigest, Channel, Obligations, VerdictKind};
use holdpoint_store::{AuditEntry, DecisionDetail, Detail, NewHold, Store};

/// The allocator of the `holdpoint` binary, whose hooks and proxies call the store.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

static N: AtomicU64 = AtomicU64::new(0);

fn main() {
    divan::main();
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--list" || a == "--test") {
        percentiles();
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

fn hold() -> NewHold {
    let n = N.fetch_add(1, Ordering::Relaxed);
    let input = format!("rm -rf /data/{n}");
    NewHold {
        digest: ActionDigest::of(Channel::Shell, "/w", "", &input),
        channel: Channel::Shell,
        summary: input.clone(),
        reason: "deletes a tree".into(),
        action_json: format!(r#"{{"channel":"shell","input":"{input}"}}"#),
        obligations: Obligations { approvers: 1, delay_secs: 0, ttl_secs: 3600, soft_delete: false },
    }
}

/// A fresh store in a temp dir (kept as long as the store is used).
fn open(rt: &tokio::runtime::Runtime) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = rt.block_on(Store::open_sqlite(dir.path())).unwrap();
    (dir, store)
}

/// An allowed decision on `channel` about `input`.
fn allowed(channel: Channel, target: &str, input: &str, detail: Detail) -> AuditEntry {
    AuditEntry {
        digest: Some(ActionDigest::of(channel, "/w", target, input)),
        channel: Some(channel),
        verdict: Some(VerdictKind::Allow),
        detail,
        ..AuditEntry::default()
    }
}

fn allow() -> AuditEntry {
    allowed(Channel::Shell, "", "ls", serde_json::json!({"reasons": ["reads are allowed"]}).into())
}

#[divan::bench(sample_count = 200)]
fn enqueue(bencher: divan::Bencher) {
    let rt = runtime();
    let (_dir, store) = open(&rt);
    bencher.bench_local(|| rt.block_on(store.enqueue(hold(), 1000)).unwrap());
}

/// A decision as a proxy logs it: the detail `serve` renders (agent, request input, reasons).
fn proxied(n: u64) -> AuditEntry {
    let input = format!(
        r#"{{"headers":{{"accept":"*/*","host":"api.example.com","user-agent":"curl/8.5.0"}},"method":"GET","url":"http://api.example.com/v1/items/{n}"}}"#
    );
    let detail = Detail::decision(DecisionDetail {
        agent: Some("proxy"),
        input: &input,
        mode: "enforce",
        policies: &["default.allow-reads".to_owned()],
        reasons: &["reads are allowed".to_owned()],
        session: None,
        workspace: "/w",
    });
    allowed(Channel::Http, "api.example.com", &input, detail)
}

#[divan::bench(sample_count = 100)]
fn audit_batch_256(bencher: divan::Bencher) {
    let rt = runtime();
    let (_dir, store) = open(&rt);
    bencher
        .with_inputs(|| (0..256).map(|_| proxied(N.fetch_add(1, Ordering::Relaxed))).collect::<Vec<_>>())
        .bench_local_values(|batch| rt.block_on(store.audit_decisions(batch, 1000)).unwrap());
}

#[divan::bench(sample_count = 200)]
fn audit_append(bencher: divan::Bencher) {
    let rt = runtime();
    let (_dir, store) = open(&rt);
    bencher.bench_local(|| rt.block_on(store.audit_decision(allow(), 1000)).unwrap());
}

fn percentiles() {
    let rt = runtime();
    let (_dir, store) = open(&rt);
    let report = |name: &str, f: &mut dyn FnMut()| {
        let mut times: Vec<Duration> = (0..2000)
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed()
            })
            .collect();
        times.sort();
        println!(
            "{name:<14} p50 {:>9.1?}   p95 {:>9.1?}   p99 {:>9.1?}   p99.9 {:>9.1?}   max {:>9.1?}",
            times[1000], times[1900], times[1980], times[1998], times[1999]
        );
    };
    report("enqueue", &mut || {
        rt.block_on(store.enqueue(hold(), 1000)).unwrap();
    });
    report("audit_append", &mut || {
        rt.block_on(store.audit_decision(allow(), 1000)).unwrap();
    });
}
