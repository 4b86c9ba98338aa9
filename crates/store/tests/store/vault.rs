//! Vault records: added and removed in audited transactions, refused on a taken name or a
//! changed key, re-keyed all at once or not at all, and a version-1 store migrated to carry them.

use holdpoint_store::{Error, VaultAddition, VaultRecord, VaultRekey};

use crate::common::{Env, kinds, on_both_backends};

fn record(name: &str, sealed: &[u8]) -> VaultRecord {
    VaultRecord {
        name: name.to_owned(),
        meta: format!("{{\"name\":\"{name}\"}}"),
        sealed: sealed.to_vec(),
        created: 100,
        last_used: None,
    }
}

fn addition(header: &str, records: Vec<VaultRecord>) -> VaultAddition {
    VaultAddition { header: header.to_owned(), records, backup: None }
}

async fn add_list_remove(env: Env) {
    let store = &env.store;
    assert_eq!(store.vault_header().await.unwrap(), None);
    assert!(store.vault_records().await.unwrap().is_empty());
    let added = addition("h1", vec![record("openai", &[1, 2, 3]), record("github", &[0, 255])]);
    assert_eq!(store.vault_add(added, 100).await.unwrap(), None);
    assert_eq!(store.vault_header().await.unwrap().as_deref(), Some("h1"));
    let records = store.vault_records().await.unwrap();
    assert_eq!(records.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["github", "openai"]);
    assert_eq!(records[1], record("openai", &[1, 2, 3]));

    // A taken name refuses the whole addition: the new name beside it is not written either.
    let err = store.vault_add(addition("h1", vec![record("stripe", &[9]), record("openai", &[9])]), 101).await;
    assert!(matches!(err, Err(Error::SecretExists(ref n)) if n == "openai"), "{err:?}");
    let err = store.vault_add(addition("h1", vec![record("twice", &[9]), record("twice", &[8])]), 101).await;
    assert!(matches!(err, Err(Error::SecretExists(ref n)) if n == "twice"), "{err:?}");
    assert_eq!(store.vault_records().await.unwrap().len(), 2);

    store.vault_remove("github", 102).await.unwrap();
    let err = store.vault_remove("github", 103).await.unwrap_err();
    assert!(matches!(err, Error::NoSuchSecret(_)) && err.to_string().contains("vault list"), "{err}");
    assert_eq!(store.vault_records().await.unwrap().len(), 1);

    store.vault_touch("openai", 150).await.unwrap();
    assert_eq!(store.vault_records().await.unwrap()[0].last_used, Some(150));
    assert_eq!(kinds(store).await, ["vault_added", "vault_removed"]);
    assert!(store.verify().await.unwrap().is_ok());
}

async fn another_key_header_is_refused(env: Env) {
    let store = &env.store;
    store.vault_add(addition("h1", vec![record("a", &[1])]), 100).await.unwrap();
    let err = store.vault_add(addition("h2", vec![record("b", &[1])]), 101).await.unwrap_err();
    assert!(matches!(err, Error::VaultChanged), "{err:?}");
    assert_eq!(store.vault_records().await.unwrap().len(), 1);
}

async fn backups_are_numbered_and_kept(env: Env) {
    let store = &env.store;
    let mut first = addition("h", vec![record("a", &[1])]);
    first.backup = Some(("/app/.env".into(), vec![7, 7]));
    assert_eq!(store.vault_add(first, 100).await.unwrap(), Some(1));
    let mut second = addition("h", vec![]);
    second.backup = Some(("/other/.env".into(), vec![8]));
    assert_eq!(store.vault_add(second, 101).await.unwrap(), Some(2));
    let backups = store.vault_backups().await.unwrap();
    assert_eq!(
        backups.iter().map(|b| (b.id, b.path.as_str(), b.sealed.clone())).collect::<Vec<_>>(),
        [(1, "/app/.env", vec![7, 7]), (2, "/other/.env", vec![8])]
    );
    let audit = store.export(holdpoint_store::ExportFrom::Seq(1)).await.unwrap();
    assert!(audit[0].contains("\"backup\":{\"id\":1,\"path\":\"/app/.env\"}"), "{}", audit[0]);
}

async fn rekey_is_all_or_nothing(env: Env) {
    let store = &env.store;
    let mut added = addition("old", vec![record("a", &[1]), record("b", &[2])]);
    added.backup = Some(("/app/.env".into(), vec![3]));
    store.vault_add(added, 100).await.unwrap();
    let rekey = |old: &str, records: Vec<(&str, u8)>, backups: Vec<(u64, u8)>| VaultRekey {
        old_header: old.to_owned(),
        new_header: "new".to_owned(),
        records: records.into_iter().map(|(n, b)| (n.to_owned(), vec![b])).collect(),
        backups: backups.into_iter().map(|(i, b)| (i, vec![b])).collect(),
    };
    // A missing record, an extra one, a stale header or a missing backup write nothing.
    for bad in [
        rekey("old", vec![("a", 10)], vec![(1, 30)]),
        rekey("old", vec![("a", 10), ("b", 20), ("c", 40)], vec![(1, 30)]),
        rekey("old", vec![("a", 10), ("a", 20)], vec![(1, 30)]),
        rekey("stale", vec![("a", 10), ("b", 20)], vec![(1, 30)]),
        rekey("old", vec![("a", 10), ("b", 20)], vec![]),
    ] {
        let err = store.vault_rekey(bad, 101).await.unwrap_err();
        assert!(matches!(err, Error::VaultChanged), "{err:?}");
        assert_eq!(store.vault_header().await.unwrap().as_deref(), Some("old"));
        assert_eq!(store.vault_records().await.unwrap()[0].sealed, [1]);
    }
    store.vault_rekey(rekey("old", vec![("a", 10), ("b", 20)], vec![(1, 30)]), 102).await.unwrap();
    assert_eq!(store.vault_header().await.unwrap().as_deref(), Some("new"));
    let sealed: Vec<Vec<u8>> = store.vault_records().await.unwrap().into_iter().map(|r| r.sealed).collect();
    assert_eq!(sealed, [vec![10], vec![20]]);
    assert_eq!(store.vault_backups().await.unwrap()[0].sealed, [30]);
    assert_eq!(kinds(store).await, ["vault_added", "vault_rekeyed"]);
}

/// A store written by a version-1 Holdpoint (no vault tables, no audit runs) is migrated when
/// opened, and keeps its holds and audit log.
async fn version_one_store_is_migrated(env: Env) {
    env.store.add_approver("alice", 1).await.unwrap();
    env.store.close().await;
    for table in ["vault_key", "vault_secrets", "vault_backups", "audit_runs"] {
        env.exec(&format!("DROP TABLE {table}")).await;
    }
    env.exec("UPDATE holdpoint_meta SET value = '1' WHERE key = 'schema_version'").await;
    let store = env.reopen().await;
    store.vault_add(addition("h", vec![record("a", &[1])]), 2).await.unwrap();
    let batch = vec![holdpoint_store::AuditEntry::default(), holdpoint_store::AuditEntry::default()];
    assert_eq!(store.audit_decisions(batch, 3).await.unwrap(), Some(4));
    assert_eq!(store.approvers().await.unwrap().len(), 1);
    assert!(store.verify().await.unwrap().is_ok());
    env.exec("UPDATE holdpoint_meta SET value = '99' WHERE key = 'schema_version'").await;
    let err = match &env.postgres_url {
        Some(url) => holdpoint_store::Store::open_postgres(url, env.state.path()).await.unwrap_err(),
        None => holdpoint_store::Store::open_sqlite(env.state.path()).await.unwrap_err(),
    };
    assert!(matches!(err, Error::SchemaTooNew { found: 99, .. }), "{err:?}");
}

on_both_backends!(super; add_list_remove, another_key_header_is_refused, backups_are_numbered_and_kept,
    rekey_is_all_or_nothing, version_one_store_is_migrated);
