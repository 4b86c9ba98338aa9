//! The audit log: the record format, checkpoints, export, and verification against real
//! tampering of the stored rows (edited, deleted, inserted, reordered records; forged
//! checkpoints and head), records stored one per row and in runs (a proxy's batch in one row).

use holdpoint_core::{Channel, VerdictKind, canonical_json};
use holdpoint_store::{AuditEntry, DecisionDetail, Detail, ExportFrom, ProblemKind, Store, VerifyReport};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::common::{Env, digest, on_both_backends};

on_both_backends!(
    super;
    record_format_is_versioned_canonical_json,
    chain_links_and_export,
    checkpoints_every_n_and_on_demand,
    edited_record,
    edited_record_with_its_hash,
    deleted_records,
    inserted_records,
    reordered_records,
    forged_checkpoint_and_head,
    runs_read_and_verify_as_single_records,
    a_run_of_alike_decisions_is_stored_packed,
);

/// Appends `n` allow decisions at times 1..=n.
async fn log(store: &Store, n: u64) {
    for t in 1..=n {
        let entry = AuditEntry {
            digest: Some(digest(&format!("ls {t}"))),
            channel: Some(Channel::Shell),
            verdict: Some(VerdictKind::Allow),
            detail: json!({"reasons": ["reads are allowed"], "n": t}).into(),
            ..AuditEntry::default()
        };
        assert_eq!(store.audit_decision(entry, t).await.unwrap(), t);
    }
}

fn sha(text: &str) -> String {
    format!("sha256:{}", Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect::<String>())
}

async fn stored(env: &Env, seq: i64) -> (String, String) {
    let pool = env.raw().await;
    let row = sqlx::query("SELECT record, hash FROM audit WHERE seq = $1").bind(seq).fetch_one(&pool).await.unwrap();
    (row.get(0), row.get(1))
}

fn first(report: &VerifyReport) -> (u64, ProblemKind) {
    let p = report.first_problem().unwrap_or_else(|| panic!("tampering went unnoticed: {report:?}"));
    (p.seq, p.kind)
}

async fn record_format_is_versioned_canonical_json(env: Env) {
    let entry = AuditEntry {
        digest: Some(digest("ls")),
        channel: Some(Channel::Shell),
        verdict: Some(VerdictKind::Allow),
        detail: json!({"reasons": ["reads are allowed"], "agent": "claude"}).into(),
        ..AuditEntry::default()
    };
    env.store.audit_decision(entry, 1_700_000_000).await.unwrap();
    let lines = env.store.export(ExportFrom::Seq(1)).await.unwrap();
    assert_eq!(
        lines,
        [concat!(
            r#"{"channel":"shell","detail":{"agent":"claude","reasons":["reads are allowed"]},"#,
            r#""digest":"sha256:b101fcc1301c3f8b1bb9a4aab36683bf7dca8dd3bee46d3313c6acab7186dd1d","kind":"decision","#,
            r#""prev":"sha256:0000000000000000000000000000000000000000000000000000000000000000","seq":1,"#,
            r#""time":1700000000,"v":1,"verdict":"allow"}"#
        )]
    );
    let (_, hash) = stored(&env, 1).await;
    assert_eq!(hash, sha(&lines[0]), "a record's hash is SHA-256 over its canonical JSON");
}

async fn chain_links_and_export(env: Env) {
    log(&env.store, 7).await;
    let lines = env.store.export(ExportFrom::Seq(1)).await.unwrap();
    assert_eq!(lines.len(), 7);
    for pair in lines.windows(2) {
        let next: Value = serde_json::from_str(&pair[1]).unwrap();
        let prev: Value = serde_json::from_str(&pair[0]).unwrap();
        assert_eq!(canonical_json(&prev), pair[0], "stored records are canonical");
        assert_eq!(next["prev"], sha(&pair[0]));
        assert_eq!(next["seq"].as_u64().unwrap(), prev["seq"].as_u64().unwrap() + 1);
    }
    assert_eq!(env.store.export(ExportFrom::Seq(5)).await.unwrap(), lines[4..]);
    assert_eq!(env.store.export(ExportFrom::Time(6)).await.unwrap(), lines[5..]);
    assert!(env.store.export(ExportFrom::Seq(8)).await.unwrap().is_empty());
    let report = env.store.verify().await.unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!((report.records, report.head_seq, report.first_bad()), (7, 7, None));
}

async fn checkpoints_every_n_and_on_demand(env: Env) {
    let store = env.store.clone().with_checkpoint_every(5);
    log(&store, 12).await;
    assert_eq!(store.verify().await.unwrap().checkpoints, 2, "at 5 and 10");
    assert_eq!(store.checkpoint(13).await.unwrap(), Some(12));
    assert_eq!(store.checkpoint(14).await.unwrap(), Some(12), "idempotent");
    let report = store.verify().await.unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.checkpoints, 3);
}

async fn edited_record(env: Env) {
    log(&env.store, 12).await;
    env.exec(r#"UPDATE audit SET record = REPLACE(record, '"verdict":"allow"', '"verdict":"deny"') WHERE seq = 5"#)
        .await;
    assert_eq!(first(&env.store.verify().await.unwrap()), (5, ProblemKind::Edited));
}

async fn edited_record_with_its_hash(env: Env) {
    log(&env.store, 12).await;
    for seq in [5, 12] {
        let (record, _) = stored(&env, seq).await;
        let edited = record.replace(r#""verdict":"allow""#, r#""verdict":"deny""#);
        let pool = env.raw().await;
        sqlx::query("UPDATE audit SET record = $1, hash = $2 WHERE seq = $3")
            .bind(&edited)
            .bind(sha(&edited))
            .bind(seq)
            .execute(&pool)
            .await
            .unwrap();
    }
    let report = env.store.verify().await.unwrap();
    assert_eq!(first(&report), (5, ProblemKind::Edited), "{report:?}");
}

async fn deleted_records(env: Env) {
    log(&env.store, 12).await;
    env.exec("DELETE FROM audit WHERE seq = 5").await;
    assert_eq!(first(&env.store.verify().await.unwrap()), (5, ProblemKind::Missing));
    env.exec("DELETE FROM audit WHERE seq >= 5").await;
    let report = env.store.verify().await.unwrap();
    assert_eq!(first(&report), (5, ProblemKind::Missing), "deleted from the end: {report:?}");
}

async fn inserted_records(env: Env) {
    log(&env.store, 12).await;
    // A forged record appended with a correct chain link: only the signed head exposes it.
    let (_, last_hash) = stored(&env, 12).await;
    let forged = canonical_json(
        &json!({"v":1,"seq":13,"time":13,"kind":"decision","verdict":"allow","detail":{},"prev":last_hash}),
    );
    let pool = env.raw().await;
    sqlx::query("INSERT INTO audit (seq, time, kind, hold_id, record, hash) VALUES (13, 13, 'decision', NULL, $1, $2)")
        .bind(&forged)
        .bind(sha(&forged))
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(first(&env.store.verify().await.unwrap()), (13, ProblemKind::Inserted));
    sqlx::query("DELETE FROM audit WHERE seq = 13").execute(&pool).await.unwrap();
    assert!(env.store.verify().await.unwrap().is_ok());

    // A forged record slipped in at seq 5, the later ones renumbered to make room.
    let (_, hash4) = stored(&env, 4).await;
    let forged =
        canonical_json(&json!({"v":1,"seq":5,"time":5,"kind":"decision","verdict":"allow","detail":{},"prev":hash4}));
    sqlx::query("UPDATE audit SET seq = -seq WHERE seq >= 5").execute(&pool).await.unwrap();
    sqlx::query("UPDATE audit SET seq = 1 - seq WHERE seq < 0").execute(&pool).await.unwrap();
    sqlx::query("INSERT INTO audit (seq, time, kind, hold_id, record, hash) VALUES (5, 5, 'decision', NULL, $1, $2)")
        .bind(&forged)
        .bind(sha(&forged))
        .execute(&pool)
        .await
        .unwrap();
    let report = env.store.verify().await.unwrap();
    assert_eq!(first(&report), (5, ProblemKind::Inserted), "{report:?}");
}

async fn reordered_records(env: Env) {
    log(&env.store, 12).await;
    let pool = env.raw().await;
    for sql in [
        "UPDATE audit SET seq = -1 WHERE seq = 3",
        "UPDATE audit SET seq = 3 WHERE seq = 8",
        "UPDATE audit SET seq = 8 WHERE seq = -1",
    ] {
        sqlx::query(sql).execute(&pool).await.unwrap();
    }
    let report = env.store.verify().await.unwrap();
    assert_eq!(first(&report), (3, ProblemKind::Moved), "{report:?}");
}

async fn forged_checkpoint_and_head(env: Env) {
    let store = env.store.clone().with_checkpoint_every(5);
    log(&store, 12).await;
    env.exec(&format!("UPDATE audit_checkpoints SET signature = '{}' WHERE seq = 5", "00".repeat(64))).await;
    let report = store.verify().await.unwrap();
    assert_eq!(first(&report), (5, ProblemKind::BadCheckpoint), "{report:?}");
    assert_eq!(report.checkpoints, 1);

    let env2 = env.reopen().await.with_checkpoint_every(5);
    env.exec("DELETE FROM audit_checkpoints WHERE seq = 5").await;
    env.exec("UPDATE store_head SET audit_seq = 11").await;
    let report = env2.verify().await.unwrap();
    assert_eq!(first(&report), (11, ProblemKind::BadHead), "after the last good checkpoint (10): {report:?}");
}

/// A proxy's batch is stored as one run; read back, its records are single records in seq
/// order among the others, and tampering inside a run is found like tampering with a row.
async fn runs_read_and_verify_as_single_records(env: Env) {
    let s = &env.store.clone().with_checkpoint_every(4);
    log(s, 2).await;
    let entry = |n: u64| AuditEntry {
        digest: Some(digest(&format!("GET /{n}"))),
        channel: Some(Channel::Http),
        verdict: Some(VerdictKind::Allow),
        detail: json!({"n": n}).into(),
        ..AuditEntry::default()
    };
    assert_eq!(s.audit_decisions((3..=8).map(entry).collect(), 10).await.unwrap(), Some(8));
    assert_eq!(s.audit_decision(entry(9), 11).await.unwrap(), 9);
    let seqs = |lines: &[String]| -> Vec<u64> {
        lines.iter().map(|l| serde_json::from_str::<Value>(l).unwrap()["seq"].as_u64().unwrap()).collect()
    };
    let all = s.export(ExportFrom::Seq(1)).await.unwrap();
    assert_eq!(seqs(&all), (1..=9).collect::<Vec<_>>());
    for line in &all {
        assert_eq!(&canonical_json(&serde_json::from_str::<Value>(line).unwrap()), line);
    }
    assert_eq!(seqs(&s.export(ExportFrom::Seq(5)).await.unwrap()), [5, 6, 7, 8, 9]);
    assert_eq!(seqs(&s.export(ExportFrom::Time(10)).await.unwrap()), [3, 4, 5, 6, 7, 8, 9]);
    assert_eq!(seqs(&s.export(ExportFrom::Time(11)).await.unwrap()), [9]);
    assert!(s.verify().await.unwrap().is_ok(), "runs chain and checkpoint like single records");

    let pool = env.raw().await;
    let row = sqlx::query("SELECT records, packed FROM audit_runs").fetch_one(&pool).await.unwrap();
    assert_eq!(row.get::<String, _>(0), "", "a new run keeps its records packed");
    let packed: Vec<u8> = row.get(1);
    let original = String::from_utf8(lz4_flex::decompress_size_prepended(&packed).unwrap()).unwrap();
    assert_eq!(original.lines().count(), 6);
    let set = |records: String| {
        let pool = pool.clone();
        async move {
            let packed = lz4_flex::compress_prepend_size(records.as_bytes());
            sqlx::query("UPDATE audit_runs SET packed = $1").bind(packed).execute(&pool).await.unwrap();
        }
    };
    // A record edited inside the run.
    set(original.replace(r#"{"n":5}"#, r#"{"n":50}"#)).await;
    assert_eq!(first(&s.verify().await.unwrap()), (5, ProblemKind::Edited));
    // Two records of the run swapped.
    let mut lines: Vec<&str> = original.lines().collect();
    lines.swap(1, 3);
    set(lines.iter().map(|l| format!("{l}\n")).collect()).await;
    assert_eq!(first(&s.verify().await.unwrap()), (4, ProblemKind::Moved));
    // The run's last record dropped.
    set(original.lines().take(5).map(|l| format!("{l}\n")).collect()).await;
    assert_eq!(first(&s.verify().await.unwrap()), (8, ProblemKind::Missing));
    // Bytes that do not unpack: reported where the run starts; export refuses to guess.
    sqlx::query("UPDATE audit_runs SET packed = $1").bind(vec![0xffu8; 12]).execute(&pool).await.unwrap();
    assert_eq!(first(&s.verify().await.unwrap()).0, 3);
    let err = s.export(ExportFrom::Seq(1)).await.unwrap_err().to_string();
    assert!(err.contains("seq 3") && err.contains("audit verify"), "{err}");
    // A run written before runs were packed (schema version 3) reads the same.
    sqlx::query("UPDATE audit_runs SET records = $1, packed = NULL").bind(&original).execute(&pool).await.unwrap();
    assert!(s.verify().await.unwrap().is_ok());
    assert_eq!(s.export(ExportFrom::Seq(1)).await.unwrap(), all);
    set(original).await;
    assert!(s.verify().await.unwrap().is_ok());
    assert_eq!(s.export(ExportFrom::Seq(1)).await.unwrap(), all);
    // The whole run deleted.
    sqlx::query("DELETE FROM audit_runs").execute(&pool).await.unwrap();
    assert_eq!(first(&s.verify().await.unwrap()), (3, ProblemKind::Missing));
}

/// A proxy's run is many alike decisions (one statement shape, other literals): packed, it
/// takes a fraction of its records' bytes, and reads back record for record.
async fn a_run_of_alike_decisions_is_stored_packed(env: Env) {
    let s = &env.store;
    let (policies, reasons) = (["allow-reads".to_owned()], ["reading is allowed".to_owned()]);
    let entries: Vec<AuditEntry> = (0..256)
        .map(|n| {
            let input = format!("SELECT abalance FROM pgbench_accounts WHERE aid = {};", n * 7919 % 100_000);
            let detail = DecisionDetail {
                agent: None,
                input: &input,
                mode: "enforce",
                policies: &policies,
                reasons: &reasons,
                session: None,
                workspace: "",
            };
            AuditEntry {
                digest: Some(digest(&input)),
                channel: Some(Channel::Sql),
                verdict: Some(VerdictKind::Allow),
                detail: Detail::decision(detail),
                ..AuditEntry::default()
            }
        })
        .collect();
    assert_eq!(s.audit_decisions(entries, 7).await.unwrap(), Some(256));
    let records = s.export(ExportFrom::Seq(1)).await.unwrap();
    assert_eq!(records.len(), 256);
    assert!(records.iter().all(|r| r.contains("pgbench_accounts")));
    let text: usize = records.iter().map(|r| r.len() + 1).sum();
    let pool = env.raw().await;
    let packed: Vec<u8> = sqlx::query("SELECT packed FROM audit_runs").fetch_one(&pool).await.unwrap().get(0);
    assert!(packed.len() * 2 < text, "{} bytes packed for {text} bytes of records", packed.len());
    assert!(s.verify().await.unwrap().is_ok());
}
