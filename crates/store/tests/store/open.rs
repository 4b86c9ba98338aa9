//! Opening a store: a corrupted, foreign or emptied database is refused and never recreated;
//! the audit key must be there, private, and the store's own.

use std::os::unix::fs::PermissionsExt;

use holdpoint_store::{Error, Store};

#[tokio::test]
async fn corrupted_database_is_refused_not_recreated() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("holdpoint.db");
    let garbage: Vec<u8> = (0..8192u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(&db, &garbage).unwrap();
    let err = Store::open_sqlite(dir.path()).await.expect_err("a garbage file must not open");
    assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("holdpoint.db") && message.contains("will not recreate"), "{message}");
    assert_eq!(std::fs::read(&db).unwrap(), garbage, "the file is left as it was");
    assert!(Store::open_sqlite(dir.path()).await.is_err(), "and stays refused");
}

#[tokio::test]
async fn database_of_another_program_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("holdpoint.db").display());
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    sqlx::query("CREATE TABLE notes (body TEXT)").execute(&pool).await.unwrap();
    pool.close().await;
    let err = Store::open_sqlite(dir.path()).await.unwrap_err();
    assert!(matches!(err, Error::NotAStore { .. }), "{err:?}");
}

#[tokio::test]
async fn deleted_database_with_its_key_left_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(dir.path()).await.unwrap();
    store.add_approver("alice", 1).await.unwrap();
    store.close().await;
    for name in ["holdpoint.db", "holdpoint.db-wal", "holdpoint.db-shm"] {
        let _ = std::fs::remove_file(dir.path().join(name));
    }
    let err = Store::open_sqlite(dir.path()).await.unwrap_err();
    assert!(matches!(err, Error::StoreMissing { .. }), "{err:?}");
    std::fs::remove_file(dir.path().join("audit.key")).unwrap();
    Store::open_sqlite(dir.path()).await.unwrap();
}

#[tokio::test]
async fn audit_key_is_private_required_and_matching() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(dir.path()).await.unwrap();
    store.close().await;
    let key = dir.path().join("audit.key");
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    let original = std::fs::read_to_string(&key).unwrap();

    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = Store::open_sqlite(dir.path()).await.unwrap_err();
    assert!(matches!(err, Error::AuditKey { .. }) && err.to_string().contains("chmod 600"), "{err}");

    std::fs::write(&key, format!("{}\n", "5a".repeat(32))).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let err = Store::open_sqlite(dir.path()).await.unwrap_err();
    assert!(matches!(err, Error::AuditKey { .. }) && err.to_string().contains("not the key"), "{err}");

    std::fs::remove_file(&key).unwrap();
    let err = Store::open_sqlite(dir.path()).await.unwrap_err();
    assert!(matches!(err, Error::AuditKey { .. }) && err.to_string().contains("missing"), "{err}");

    std::fs::write(&key, original).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    Store::open_sqlite(dir.path()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_opens_agree() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = tokio::join!(Store::open_sqlite(dir.path()), Store::open_sqlite(dir.path()));
    let (a, b) = (a.unwrap(), b.unwrap());
    a.add_approver("alice", 1).await.unwrap();
    assert_eq!(b.approvers().await.unwrap().len(), 1);
    assert!(b.verify().await.unwrap().is_ok());
}

#[tokio::test]
async fn unreachable_postgres_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let err = Store::open_postgres(&format!("postgres://u:secret@127.0.0.1:{port}/db"), dir.path()).await.unwrap_err();
    assert!(matches!(err, Error::Open { .. }), "{err:?}");
    assert!(!err.to_string().contains("secret"), "no password in messages: {err}");
}
