//! Opening a store (SQLite or PostgreSQL), its schema, the audit key file, and the write
//! transaction every state change goes through.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Once};
use std::time::Duration;

use ed25519_dalek::{SigningKey, VerifyingKey};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, Connection, Database, Row, TransactionManager};
use zeroize::Zeroizing;

use crate::Error;
use crate::audit::{AuditScratch, GENESIS};
use crate::error::is_corruption;
use crate::keys::{hex, netstrings, random_seed, sign_hex, unhex};

/// The schema version this build writes and reads: the last migration's.
const SCHEMA_VERSION: u64 = 4;
/// The schema of version 1, as plain SQL both backends accept.
const SCHEMA: &str = include_str!("schema.sql");
/// The version `schema.sql` creates; every later version is a migration.
const BASE_VERSION: u64 = 1;
/// Changes after version 1, in order: the version each brings the schema to, and its SQL. A
/// new store is created at version 1 and migrated like an old one, so every open runs this path.
const MIGRATIONS: &[(u64, &str)] = &[
    (2, include_str!("migrations/002_vault.sql")),
    (3, include_str!("migrations/003_audit_runs.sql")),
    (4, include_str!("migrations/004_packed_runs.sql")),
];
/// The database file in the state directory.
pub const DB_FILE: &str = "holdpoint.db";
/// The audit key file in the state directory.
pub const AUDIT_KEY_FILE: &str = "audit.key";
/// Records between two automatic checkpoints, unless changed with `with_checkpoint_every`.
pub const DEFAULT_CHECKPOINT_EVERY: u64 = 100;

/// An open Holdpoint store: holds, approvers and the audit log, in SQLite or PostgreSQL.
///
/// Cheap to clone; clones share one connection pool. Every method that changes anything runs
/// in one transaction that also appends its audit record(s), and writes are serialised on both
/// backends (SQLite `BEGIN IMMEDIATE` on the store's one write connection, PostgreSQL a row
/// lock on the store's head row).
#[derive(Clone)]
pub struct Store {
    pub(crate) inner: Arc<Inner>,
    pub(crate) checkpoint_every: u64,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.inner.backend)
            .field("checkpoint_every", &self.checkpoint_every)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    pub(crate) pool: AnyPool,
    pub(crate) backend: Backend,
    pub(crate) audit_key: SigningKey,
    pub(crate) audit_public: VerifyingKey,
    /// SQLite: the one connection every write transaction of this process runs on, which is
    /// also this process's write lock (writers queue here, not in SQLite's sleeping busy
    /// handler). It stays open, so a write pays no pool checkout and no liveness ping on
    /// return, and its prepared statements stay cached. `None` on PostgreSQL; holds `None`
    /// once the store is closed.
    writer: Option<tokio::sync::Mutex<Option<AnyConnection>>>,
    /// Commits made on `writer`, to start a background WAL checkpoint every
    /// [`WAL_CHECKPOINT_EVERY`] of them.
    commits: AtomicU64,
    /// Whether a background WAL checkpoint is running.
    wal_checkpointing: AtomicBool,
    /// Whether `writer` may still be inside a transaction that was given up (an error, or a
    /// caller that stopped waiting): whoever takes it next rolls back first.
    writer_dirty: AtomicBool,
    /// The buffers a batch of audit records is written and packed in, kept from one batch to
    /// the next (see [`AuditScratch`]).
    pub(crate) audit_scratch: std::sync::Mutex<AuditScratch>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
}

/// sqlx's transaction bookkeeping for a connection of any backend.
type Manager = <Any as Database>::TransactionManager;

/// An open write transaction. On SQLite it runs on the store's write connection (and holds
/// with it this process's write lock) and is begun and committed by statements of its own, each
/// in the same round trip to SQLite's thread as other statements: a hold enqueue is two round
/// trips. On PostgreSQL it is sqlx's transaction on a pooled connection.
///
/// Dropped before [`Store::commit`] succeeds, it is rolled back: sqlx queues the rollback on
/// the pooled connection; the write connection is marked so that whoever takes it next rolls
/// back first, and a task takes it at once, so SQLite's write lock is not kept.
pub(crate) struct Tx<'a> {
    conn: TxConn<'a>,
    inner: &'a Arc<Inner>,
    open: bool,
    queued: Vec<Queued>,
}

enum TxConn<'a> {
    Writer(tokio::sync::MappedMutexGuard<'a, AnyConnection>),
    Pooled(PoolConnection<Any>),
}

/// A value for a queued statement.
pub(crate) enum Arg {
    Int(i64),
    MaybeInt(Option<i64>),
    Text(String),
    Bytes(Vec<u8>),
}

/// A write queued until the commit; `$1`, `$2`, … are its own `args`.
struct Queued {
    sql: Cow<'static, str>,
    args: Vec<Arg>,
}

impl Tx<'_> {
    /// Queues a write (an insert or update whose result nobody reads) to run at commit, on
    /// SQLite in the commit's one round trip. Reads later in the same transaction do not see it.
    pub(crate) fn queue(&mut self, sql: impl Into<Cow<'static, str>>, args: Vec<Arg>) {
        self.queued.push(Queued { sql: sql.into(), args });
    }
}

impl std::ops::Deref for Tx<'_> {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        match &self.conn {
            TxConn::Writer(conn) => conn,
            TxConn::Pooled(conn) => conn,
        }
    }
}

impl std::ops::DerefMut for Tx<'_> {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match &mut self.conn {
            TxConn::Writer(conn) => conn,
            TxConn::Pooled(conn) => conn,
        }
    }
}

impl Drop for Tx<'_> {
    fn drop(&mut self) {
        if !self.open {
            return;
        }
        match &mut self.conn {
            TxConn::Pooled(conn) => Manager::start_rollback(conn),
            TxConn::Writer(_) => {
                self.inner.writer_dirty.store(true, Ordering::Release);
                if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                    let inner = Arc::clone(self.inner);
                    runtime.spawn(async move {
                        let _ = lock_writer(&inner).await;
                    });
                }
            }
        }
    }
}

/// Takes the write connection, first rolling back a transaction given up on it.
async fn lock_writer(inner: &Inner) -> Result<tokio::sync::MappedMutexGuard<'_, AnyConnection>, Error> {
    let closed = || Error::db(sqlx::Error::PoolClosed);
    let writer = inner.writer.as_ref().ok_or_else(closed)?;
    let mut conn = tokio::sync::MutexGuard::try_map(writer.lock().await, Option::as_mut).map_err(|_| closed())?;
    if inner.writer_dirty.swap(false, Ordering::AcqRel) {
        // Fails only when no transaction is open (the failed statement ended it). Should a
        // transaction stay open anyway, the next `BEGIN` fails, and that write fails with it.
        let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
    }
    Ok(conn)
}

/// The statements of `queued` as one SQLite batch, each one's `$N` renumbered after those
/// before it, then `tail`; and all their arguments.
fn batch(queued: Vec<Queued>, tail: &str) -> (String, Vec<Arg>) {
    let mut sql = String::new();
    let mut args = Vec::new();
    for q in queued {
        renumber(&q.sql, args.len(), &mut sql);
        sql.push_str(";\n");
        args.extend(q.args);
    }
    sql.push_str(tail);
    (sql, args)
}

/// Queued writes sent as one batch at most; more are sent by [`coalesce`].
const ONE_BATCH: usize = 4;
/// Rows of the multi-row inserts [`coalesce`] makes, largest first; each size is one statement
/// text, prepared once. Their parameters are positional (`?`): SQLite finds a numbered one
/// (`$N`) by a scan of the statement's list, quadratic in a large insert's hundreds.
const ROWS: [usize; 4] = [64, 16, 4, 1];

/// The queued writes with each run of one single-row `INSERT ... VALUES (...)` merged into
/// multi-row inserts of the sizes in [`ROWS`] (so their texts are few and stay prepared).
fn coalesce(queued: Vec<Queued>) -> Vec<Queued> {
    let mut out: Vec<Queued> = Vec::new();
    let mut run: Vec<Queued> = Vec::new();
    for q in queued {
        if run.first().is_some_and(|first| first.sql != q.sql) {
            merge(std::mem::take(&mut run), &mut out);
        }
        if single_row_insert(&q.sql).is_some() {
            run.push(q);
        } else {
            out.push(q);
        }
    }
    merge(run, &mut out);
    out
}

/// `(head, row)` of `INSERT INTO t (..) VALUES (row)`.
fn single_row_insert(sql: &str) -> Option<(&str, &str)> {
    let (head, row) = sql.split_once(" VALUES ")?;
    (sql.starts_with("INSERT ") && row.starts_with('(') && row.ends_with(')') && !row.contains(";"))
        .then_some((head, row))
}

/// Appends a run of one insert's rows as inserts of [`ROWS`] rows each.
fn merge(run: Vec<Queued>, out: &mut Vec<Queued>) {
    let Some((head, row)) = run.first().and_then(|q| single_row_insert(&q.sql)) else {
        out.extend(run);
        return;
    };
    let (head, row) = (head.to_owned(), row.to_owned());
    let anonymous = positional(&row);
    let mut rows = run.into_iter().peekable();
    while rows.peek().is_some() {
        let left = rows.len();
        let size = ROWS.iter().copied().find(|size| *size <= left).unwrap_or(1);
        let mut sql = format!("{head} VALUES ");
        let mut args = Vec::new();
        for (i, q) in rows.by_ref().take(size).enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            match &anonymous {
                Some(row) => sql.push_str(row),
                None => renumber(&row, args.len(), &mut sql),
            }
            args.extend(q.args);
        }
        out.push(Queued { sql: Cow::Owned(sql), args });
    }
}

/// `row` with its parameters `$1`, `$2`, … written `?` when they appear in that order (SQLite
/// then binds them by position), else `None`.
fn positional(row: &str) -> Option<String> {
    let mut out = String::with_capacity(row.len());
    let mut rest = row;
    let mut next = 1;
    while let Some(at) = rest.find('$') {
        let (before, from) = rest.split_at(at);
        let digits = from.get(1..).map_or(0, |d| d.bytes().take_while(u8::is_ascii_digit).count());
        if from.get(1..=digits).and_then(|d| d.parse::<usize>().ok()) != Some(next) {
            return None;
        }
        out.push_str(before);
        out.push('?');
        next += 1;
        rest = from.get(1 + digits..).unwrap_or("");
    }
    out.push_str(rest);
    Some(out)
}

/// Appends `sql` to `out` with every `$N` made `$(N + offset)`.
fn renumber(sql: &str, offset: usize, out: &mut String) {
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        let (before, from) = rest.split_at(at);
        out.push_str(before);
        let digits = from.get(1..).map_or(0, |d| d.bytes().take_while(u8::is_ascii_digit).count());
        match from.get(1..=digits).and_then(|d| d.parse::<usize>().ok()) {
            Some(n) => {
                out.push('$');
                out.push_str(&(n + offset).to_string());
            }
            None => out.push('$'),
        }
        rest = from.get(1 + digits..).unwrap_or("");
    }
    out.push_str(rest);
}

/// Runs one statement with its arguments.
async fn run(conn: &mut AnyConnection, sql: &str, args: Vec<Arg>) -> Result<(), sqlx::Error> {
    let mut query = sqlx::query(sql);
    for arg in args {
        query = match arg {
            Arg::Int(n) => query.bind(n),
            Arg::MaybeInt(n) => query.bind(n),
            Arg::Text(t) => query.bind(t),
            Arg::Bytes(b) => query.bind(b),
        };
    }
    query.execute(conn).await.map(|_| ())
}

/// The store's head row as read (and changed) inside one write transaction.
pub(crate) struct Head {
    pub(crate) next_hold: u64,
    pub(crate) seq: u64,
    pub(crate) hash: String,
    pub(crate) dirty: bool,
}

impl Store {
    /// Opens (or, on first use, creates) the SQLite store `holdpoint.db` in `state_dir`, with
    /// the audit key `audit.key` beside it (created with mode 0600 on first open).
    ///
    /// A file that is not a readable SQLite database, or a database without Holdpoint's
    /// tables, is an error and is never recreated; so is an emptied or deleted database whose
    /// audit key is still there.
    pub async fn open_sqlite(state_dir: &Path) -> Result<Store, Error> {
        make_state_dir(state_dir)?;
        let file = state_dir.join(DB_FILE);
        let place = file.display().to_string();
        let path = file.to_str().ok_or_else(|| Error::Open {
            place: place.clone(),
            detail: "the path is not valid UTF-8; choose a state directory with a UTF-8 path".into(),
        })?;
        let url = format!("sqlite://{}?mode=rwc", encode_path(path));
        let options = AnyPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(60))
            // A local file needs no liveness ping before each use: it would be one more round
            // trip to SQLite's worker thread on every decision.
            .test_before_acquire(false)
            .after_connect(|conn, _| Box::pin(async move { sqlite_pragmas(conn).await }));
        Self::open_url(options, &url, Backend::Sqlite, &place, state_dir).await
    }

    /// Opens (or, on first use, initialises) the store in a PostgreSQL database, e.g.
    /// `postgres://holdpoint@db.internal/holdpoint`. The audit key lives in `state_dir`;
    /// every replica sharing the database needs the same `audit.key` (copy it from the first).
    pub async fn open_postgres(url: &str, state_dir: &Path) -> Result<Store, Error> {
        make_state_dir(state_dir)?;
        let options = AnyPoolOptions::new().max_connections(8).acquire_timeout(Duration::from_secs(60));
        Self::open_url(options, url, Backend::Postgres, &redact_url(url), state_dir).await
    }

    /// Writes a signed audit checkpoint every `n` records (at least 1) instead of every 100.
    #[must_use]
    pub fn with_checkpoint_every(mut self, n: u64) -> Store {
        self.checkpoint_every = n.max(1);
        self
    }

    /// Closes the connection pool, waiting for connections in use to be returned.
    /// Call [`Store::checkpoint`] first at shutdown.
    pub async fn close(&self) {
        if let Some(writer) = &self.inner.writer {
            // Waits for a write in progress, then closes the write connection.
            if let Some(conn) = writer.lock().await.take() {
                let _ = conn.close().await;
            }
        }
        self.inner.pool.close().await;
    }

    /// Checks (and on first use initialises) the database over one connection, so that
    /// errors surface at once instead of as pool retries, then opens the pool.
    async fn open_url(
        options: AnyPoolOptions,
        url: &str,
        backend: Backend,
        place: &str,
        state_dir: &Path,
    ) -> Result<Store, Error> {
        static DRIVERS: Once = Once::new();
        DRIVERS.call_once(sqlx::any::install_default_drivers);
        let key_path = state_dir.join(AUDIT_KEY_FILE);
        let mut tries = 0;
        let (created_key, version, public, conn) = loop {
            let mut conn = AnyConnection::connect(url).await.map_err(|e| open_error(&e, place))?;
            let checked = match prepare(&mut conn, backend, &key_path, place).await {
                Ok(done) => Ok((done, conn)),
                Err(e) => {
                    let _ = conn.close().await;
                    Err(e)
                }
            };
            match checked {
                // Two first opens of one new SQLite file race while it becomes a WAL database;
                // SQLite answers the loser "database is locked" at once, without its busy
                // handler. Preparing is idempotent (the schema is created under the write lock),
                // so the loser tries again.
                Err(Error::Open { detail, .. })
                    if backend == Backend::Sqlite && detail.contains("database is locked") && tries < BUSY_TRIES =>
                {
                    tries += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                other => {
                    let ((key, version, public), conn) = other?;
                    break (key, version, public, conn);
                }
            }
        };
        // The checked SQLite connection (with its pragmas) becomes the write connection.
        let writer = match backend {
            Backend::Sqlite => Some(tokio::sync::Mutex::new(Some(conn))),
            Backend::Postgres => {
                let _ = conn.close().await;
                None
            }
        };
        if version > SCHEMA_VERSION {
            return Err(Error::SchemaTooNew { found: version, supported: SCHEMA_VERSION });
        }
        let audit_key = match created_key {
            Some(k) => k,
            None => load_key(&key_path)?.ok_or_else(|| Error::AuditKey {
                path: key_path.display().to_string(),
                detail: "missing, but this store was created with an audit key. Restore audit.key from a backup \
                         (for a shared PostgreSQL store, copy it from the first replica's state directory)"
                    .into(),
            })?,
        };
        let audit_public = audit_key.verifying_key();
        if hex(audit_public.as_bytes()) != public {
            return Err(Error::AuditKey {
                path: key_path.display().to_string(),
                detail: "is not the key this store was created with; restore the right audit.key".into(),
            });
        }
        let pool = options.connect_lazy(url).map_err(|e| open_error(&e, place))?;
        let inner = Inner {
            pool,
            backend,
            audit_key,
            audit_public,
            writer,
            commits: AtomicU64::new(0),
            wal_checkpointing: AtomicBool::new(false),
            writer_dirty: AtomicBool::new(false),
            audit_scratch: std::sync::Mutex::default(),
        };
        Ok(Store { inner: Arc::new(inner), checkpoint_every: DEFAULT_CHECKPOINT_EVERY })
    }

    /// Starts a write transaction and locks the head row.
    pub(crate) async fn begin(&self) -> Result<(Tx<'_>, Head), Error> {
        let sql = "SELECT h.next_hold, h.audit_seq, h.audit_hash FROM store_head h WHERE h.id = 1";
        let (tx, head, _) = self.begin_select(sql, None).await?;
        Ok((tx, head))
    }

    /// Starts a write transaction and reads the locked head row with `select`: a query of
    /// `store_head h` (and whatever it joins) whose first columns are `h.next_hold`,
    /// `h.audit_seq` and `h.audit_hash`, with `bind` as its `$1`. On SQLite the `BEGIN` and
    /// the query are one round trip. Returns the transaction, the head and the query's rows.
    pub(crate) async fn begin_select(
        &self,
        select: &str,
        bind: Option<String>,
    ) -> Result<(Tx<'_>, Head, Vec<AnyRow>), Error> {
        let inner = &self.inner;
        let (mut tx, sql) = match inner.backend {
            Backend::Sqlite => {
                let conn = TxConn::Writer(lock_writer(inner).await?);
                // Open from here on: however this ends, a BEGIN that ran is rolled back.
                (Tx { conn, inner, open: true, queued: Vec::new() }, format!("BEGIN IMMEDIATE;\n{select}"))
            }
            Backend::Postgres => {
                let mut conn = inner.pool.acquire().await.map_err(Error::db)?;
                Manager::begin(&mut conn, None).await.map_err(Error::db)?;
                (
                    Tx { conn: TxConn::Pooled(conn), inner, open: true, queued: Vec::new() },
                    format!("{select} FOR UPDATE OF h"),
                )
            }
        };
        let query = match bind {
            Some(value) => sqlx::query(&sql).bind(value),
            None => sqlx::query(&sql),
        };
        let rows = query.fetch_all(&mut *tx).await.map_err(Error::db)?;
        let first = rows.first().ok_or_else(|| Error::BadData("the store's head row is missing".into()))?;
        let head =
            Head { next_hold: col_u64(first, 0)?, seq: col_u64(first, 1)?, hash: col_str(first, 2)?, dirty: false };
        Ok((tx, head, rows))
    }

    /// Writes what was queued and the (signed) head if it changed, and commits; on SQLite in
    /// one round trip.
    pub(crate) async fn commit(&self, mut tx: Tx<'_>, head: Head) -> Result<(), Error> {
        if head.dirty {
            let signature = sign_hex(&self.inner.audit_key, &head_message(head.seq, &head.hash));
            let args = vec![
                Arg::Int(to_db(head.next_hold)?),
                Arg::Int(to_db(head.seq)?),
                Arg::Text(head.hash),
                Arg::Text(signature),
            ];
            tx.queue(
                "UPDATE store_head SET next_hold = $1, audit_seq = $2, audit_hash = $3, signature = $4 WHERE id = 1",
                args,
            );
        }
        let queued = std::mem::take(&mut tx.queued);
        match tx.conn {
            // A few statements go as one batch (its text is one of a few, so SQLite's prepared
            // form is cached). More (a long batch's checkpoints, several holds' records) go one
            // by one, a run of one insert as multi-row inserts of a few fixed sizes, each
            // prepared once per connection: a batch text of its own would be parsed anew on
            // every commit.
            TxConn::Writer(_) if queued.len() <= ONE_BATCH => {
                let (sql, args) = batch(queued, "COMMIT");
                run(&mut tx, &sql, args).await.map_err(Error::db)?;
            }
            TxConn::Writer(_) => {
                for q in coalesce(queued) {
                    run(&mut tx, &q.sql, q.args).await.map_err(Error::db)?;
                }
                run(&mut tx, "COMMIT", Vec::new()).await.map_err(Error::db)?;
            }
            TxConn::Pooled(_) => {
                for q in queued {
                    run(&mut tx, &q.sql, q.args).await.map_err(Error::db)?;
                }
                Manager::commit(&mut tx).await.map_err(Error::db)?;
            }
        }
        tx.open = false;
        drop(tx);
        self.after_commit();
        Ok(())
    }

    /// Returns once no background WAL copy-back (see [`Store::after_commit`]) is running: for
    /// tests, whose writers would otherwise never leave one the time it takes on a loaded
    /// machine.
    #[doc(hidden)]
    pub async fn wal_copy_back_done(&self) {
        while self.inner.wal_checkpointing.load(Ordering::Acquire) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// SQLite: every [`WAL_CHECKPOINT_EVERY`] commits, copies the WAL back into the database
    /// from a background task (see [`copy_back_wal`]), so that the write connection's own
    /// automatic checkpoint (the WAL's fsync and copy: tens of milliseconds at 8,000 pages)
    /// does not fall on a decision.
    fn after_commit(&self) {
        let inner = &self.inner;
        if inner.writer.is_none()
            || !(inner.commits.fetch_add(1, Ordering::Relaxed) + 1).is_multiple_of(WAL_CHECKPOINT_EVERY)
        {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        if inner.wal_checkpointing.swap(true, Ordering::AcqRel) {
            return;
        }
        let inner = Arc::clone(inner);
        runtime.spawn(async move {
            let running = Running(&inner.wal_checkpointing);
            let _ = copy_back_wal(&inner).await;
            drop(running);
        });
    }
}

/// Commits between two background WAL checkpoints (see [`Store::after_commit`]): about 2,500
/// WAL pages of hold enqueues (a pass and its `fsync`s slow the writes beside it a little, so
/// fewer, longer passes disturb fewer writes; SQLite's own checkpoint starts at 8,000 pages).
const WAL_CHECKPOINT_EVERY: u64 = 256;

/// At most this many checkpoint passes while writers go on.
const WAL_PASSES: usize = 6;

/// A WAL this long (frames, about 16 MB) has not started over since the last passes (under
/// steady writes a commit always lands between a pass and the next write, and only a write that
/// begins with the whole WAL copied back starts it over): it is copied back once more on the
/// write connection, so the next write starts it over.
const WAL_BIG: i64 = 4096;

/// Copies the WAL back into the database without holding up writers. PASSIVE checkpoints
/// never block a writer or a reader and are crash-safe like any checkpoint; one that fails or
/// is cut short leaves its work to the next. Passes on a pool connection run while writers go
/// on, until one copies every frame it saw or copies nothing new. Only a WAL that has grown to
/// [`WAL_BIG`] frames is then copied back on the write connection, holding this process's
/// writers off for that pass and its two `fsync`s (a write waiting on it takes ~0.5 ms longer:
/// doing it on every run put that on one write in a hundred), so that it starts over instead
/// of growing on to SQLite's own checkpoint on a commit.
async fn copy_back_wal(inner: &Inner) -> Result<(), sqlx::Error> {
    let mut last: Option<WalPass> = None;
    for _ in 0..WAL_PASSES {
        let Some(pass) = passive_checkpoint(&mut *inner.pool.acquire().await?).await? else {
            return Ok(());
        };
        let done = pass.copied >= pass.frames || last.as_ref().is_some_and(|l| l.copied == pass.copied);
        last = Some(pass);
        if done {
            break;
        }
    }
    match last {
        Some(pass) => finish_big_wal(inner, pass).await,
        None => Ok(()),
    }
}

/// The last step of [`copy_back_wal`]: a write-connection pass if the WAL is long.
async fn finish_big_wal(inner: &Inner, pass: WalPass) -> Result<(), sqlx::Error> {
    if pass.frames >= WAL_BIG
        && let Ok(mut conn) = lock_writer(inner).await
    {
        passive_checkpoint(&mut conn).await?;
    }
    Ok(())
}

/// What a checkpoint pass found: the WAL's frames, and how many of them are copied back.
struct WalPass {
    frames: i64,
    copied: i64,
}

/// Runs a PASSIVE checkpoint, or returns `None` when it could not run (another connection is
/// checkpointing).
async fn passive_checkpoint(conn: &mut AnyConnection) -> Result<Option<WalPass>, sqlx::Error> {
    let row = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(conn).await?;
    let (busy, frames, copied) = (row.try_get::<i64, _>(0)?, row.try_get::<i64, _>(1)?, row.try_get::<i64, _>(2)?);
    Ok((busy == 0 && frames >= 0 && copied >= 0).then_some(WalPass { frames, copied }))
}

/// Clears a "running" flag when dropped, also when the task holding it is cancelled.
struct Running<'a>(&'a AtomicBool);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// What the audit key signs for the head: the last record's seq and hash.
pub(crate) fn head_message(seq: u64, hash: &str) -> Vec<u8> {
    netstrings(&["holdpoint.audit.head.v1", &seq.to_string(), hash])
}

/// How often a first open that found the new SQLite file locked tries again (20 ms apart).
const BUSY_TRIES: u32 = 250;

async fn sqlite_pragmas(conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
    sqlx::query("PRAGMA busy_timeout = 60000").execute(&mut *conn).await?;
    sqlx::query("PRAGMA synchronous = NORMAL").execute(&mut *conn).await?;
    sqlx::query("PRAGMA wal_autocheckpoint = 8000").execute(&mut *conn).await?;
    Ok(())
}

/// Checks the database, initialising it when it has no tables at all. Returns the audit key
/// if it was created (or adopted) now, the schema version and the registered audit key.
async fn prepare(
    conn: &mut AnyConnection,
    backend: Backend,
    key_path: &Path,
    place: &str,
) -> Result<(Option<SigningKey>, u64, String), Error> {
    let fail = |e: sqlx::Error| open_error(&e, place);
    if backend == Backend::Sqlite {
        sqlite_pragmas(conn).await.map_err(fail)?;
        sqlx::query("PRAGMA journal_mode = WAL").fetch_optional(&mut *conn).await.map_err(fail)?;
    }
    let (ours, _) = table_counts(conn, backend).await.map_err(fail)?;
    let key = if ours { None } else { initialise(conn, backend, key_path, place).await? };
    let (mut version, mut public) = read_meta(conn).await.map_err(fail)?;
    if version < SCHEMA_VERSION {
        migrate(conn, backend, place).await?;
        (version, public) = read_meta(conn).await.map_err(fail)?;
    }
    Ok((key, version, public))
}

fn open_error(err: &sqlx::Error, place: &str) -> Error {
    if is_corruption(err) {
        Error::Corrupt { place: place.to_owned(), detail: err.to_string() }
    } else {
        Error::Open { place: place.to_owned(), detail: err.to_string() }
    }
}

/// Whether Holdpoint's meta table exists, and how many other tables there are.
async fn table_counts(conn: &mut AnyConnection, backend: Backend) -> Result<(bool, i64), sqlx::Error> {
    let sql = match backend {
        Backend::Sqlite => {
            "SELECT COUNT(*), SUM(CASE WHEN name = 'holdpoint_meta' THEN 1 ELSE 0 END) \
             FROM sqlite_master WHERE type = 'table'"
        }
        Backend::Postgres => {
            "SELECT COUNT(*), CAST(COALESCE(SUM(CASE WHEN table_name = 'holdpoint_meta' THEN 1 ELSE 0 END), 0) AS BIGINT) \
             FROM information_schema.tables WHERE table_schema = current_schema()"
        }
    };
    let row = sqlx::query(sql).fetch_one(&mut *conn).await?;
    let all: i64 = row.try_get(0)?;
    let ours: Option<i64> = row.try_get(1)?;
    let ours = ours.unwrap_or(0) > 0;
    Ok((ours, all - i64::from(ours)))
}

/// Creates the schema, under the write lock, unless another process did so first. The audit
/// key is created inside the lock too, so an audit key beside an empty SQLite database means
/// the database was deleted or emptied: that is refused, never silently recreated.
async fn initialise(
    conn: &mut AnyConnection,
    backend: Backend,
    key_path: &Path,
    place: &str,
) -> Result<Option<SigningKey>, Error> {
    let fail = |e: sqlx::Error| open_error(&e, place);
    let mut tx = begin_schema_change(conn, backend).await.map_err(fail)?;
    let (ours, others) = table_counts(&mut tx, backend).await.map_err(fail)?;
    if ours {
        return Ok(None);
    }
    if others > 0 {
        return Err(Error::NotAStore { place: place.to_owned() });
    }
    if key_path.exists() && backend == Backend::Sqlite {
        return Err(Error::StoreMissing { place: place.to_owned(), key: key_path.display().to_string() });
    }
    let key = load_or_create_key(key_path)?;
    for statement in statements(SCHEMA) {
        sqlx::query(&statement).execute(&mut *tx).await.map_err(fail)?;
    }
    let public = hex(key.verifying_key().as_bytes());
    for (k, v) in [("schema_version", BASE_VERSION.to_string()), ("audit_public_key", public)] {
        sqlx::query("INSERT INTO holdpoint_meta (key, value) VALUES ($1, $2)")
            .bind(k)
            .bind(v)
            .execute(&mut *tx)
            .await
            .map_err(fail)?;
    }
    let signature = sign_hex(&key, &head_message(0, GENESIS));
    sqlx::query("INSERT INTO store_head (id, next_hold, audit_seq, audit_hash, signature) VALUES (1, 1, 0, $1, $2)")
        .bind(GENESIS)
        .bind(signature)
        .execute(&mut *tx)
        .await
        .map_err(fail)?;
    tx.commit().await.map_err(fail)?;
    Ok(Some(key))
}

/// Starts a transaction that may change the schema: SQLite's write lock, or on PostgreSQL an
/// advisory lock, so two processes opening one database at once take turns.
async fn begin_schema_change(
    conn: &mut AnyConnection,
    backend: Backend,
) -> Result<sqlx::Transaction<'_, sqlx::Any>, sqlx::Error> {
    match backend {
        Backend::Sqlite => conn.begin_with("BEGIN IMMEDIATE").await,
        Backend::Postgres => {
            let mut tx = conn.begin().await?;
            sqlx::query("SELECT 1 FROM (SELECT pg_advisory_xact_lock(4851234)) AS l").execute(&mut *tx).await?;
            Ok(tx)
        }
    }
}

/// Brings the schema up to [`SCHEMA_VERSION`], one migration at a time, in one transaction;
/// a process that finds the work done by another while it waited for the lock does nothing.
async fn migrate(conn: &mut AnyConnection, backend: Backend, place: &str) -> Result<(), Error> {
    let fail = |e: sqlx::Error| open_error(&e, place);
    let mut tx = begin_schema_change(conn, backend).await.map_err(fail)?;
    let (version, _) = read_meta(&mut tx).await.map_err(fail)?;
    for (to, sql) in MIGRATIONS.iter().filter(|(to, _)| *to > version) {
        for statement in statements(sql) {
            sqlx::query(&statement).execute(&mut *tx).await.map_err(fail)?;
        }
        sqlx::query("UPDATE holdpoint_meta SET value = $1 WHERE key = 'schema_version'")
            .bind(to.to_string())
            .execute(&mut *tx)
            .await
            .map_err(fail)?;
    }
    tx.commit().await.map_err(fail)
}

/// The statements of a schema file: separated by ';' at the end of a line, comments removed.
fn statements(sql: &str) -> impl Iterator<Item = String> + '_ {
    sql.split(";\n").map(strip_comments).filter(|s| !s.is_empty())
}

fn strip_comments(statement: &str) -> String {
    let lines: Vec<&str> = statement.lines().filter(|l| !l.trim_start().starts_with("--")).collect();
    lines.join("\n").trim().trim_end_matches(';').to_owned()
}

async fn read_meta(conn: &mut AnyConnection) -> Result<(u64, String), sqlx::Error> {
    let rows = sqlx::query("SELECT key, value FROM holdpoint_meta").fetch_all(&mut *conn).await?;
    let (mut version, mut public) = (0, String::new());
    for row in rows {
        let key: String = row.try_get(0)?;
        let value: String = row.try_get(1)?;
        match key.as_str() {
            "schema_version" => version = value.parse().unwrap_or(u64::MAX),
            "audit_public_key" => public = value,
            _ => {}
        }
    }
    Ok((version, public))
}

fn make_state_dir(dir: &Path) -> Result<(), Error> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|e| Error::Open {
        place: dir.display().to_string(),
        detail: format!("cannot create the state directory: {e}"),
    })
}

/// Loads the audit key, or `None` when the file does not exist.
fn load_key(path: &Path) -> Result<Option<SigningKey>, Error> {
    let bad = |detail: String| Error::AuditKey { path: path.display().to_string(), detail };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => Zeroizing::new(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(bad(format!("cannot be read ({e}); check its owner and permissions"))),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).map_err(|e| bad(e.to_string()))?.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(bad(format!("is readable by others (mode {:o}); run `chmod 600` on it", mode & 0o777)));
        }
    }
    let seed = Zeroizing::new(unhex::<32>(text.trim()).ok_or_else(|| bad("is not 64 hex digits".into()))?);
    Ok(Some(SigningKey::from_bytes(&seed)))
}

/// Loads the audit key, creating it (mode 0600, atomically) when it does not exist yet.
fn load_or_create_key(path: &Path) -> Result<SigningKey, Error> {
    if let Some(key) = load_key(path)? {
        return Ok(key);
    }
    let bad = |e: std::io::Error| Error::AuditKey {
        path: path.display().to_string(),
        detail: format!("cannot be created: {e}"),
    };
    let seed = random_seed()?;
    let tmp = temp_sibling(path);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&tmp).and_then(|mut file| {
        use std::io::Write;
        file.write_all(format!("{}\n", hex(seed.as_slice())).as_bytes())?;
        file.sync_all()
    });
    // A hard link never replaces: if another process created the key first, theirs wins.
    let linked = written.and_then(|()| std::fs::hard_link(&tmp, path));
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(SigningKey::from_bytes(&seed)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            load_key(path)?.ok_or_else(|| bad(std::io::Error::other("vanished while being created")))
        }
        Err(e) => Err(bad(e)),
    }
}

fn temp_sibling(path: &Path) -> PathBuf {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    path.with_extension(format!("key.{}.{nanos}.tmp", std::process::id()))
}

/// Percent-encodes what a SQLite URL's path cannot carry literally.
fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        match c {
            '%' | '?' | '#' => out.push_str(&format!("%{:02X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

/// A connection URL without its password, for messages.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let (authority, tail) = rest.split_once('/').map_or((rest, ""), |(a, t)| (a, t));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            format!("{scheme}://{user}@{host}/{tail}")
        }
        None => url.to_owned(),
    }
}

/// A u64 as a database integer.
pub(crate) fn to_db(n: u64) -> Result<i64, Error> {
    i64::try_from(n).map_err(|_| Error::OutOfRange(format!("{n} does not fit in a signed 64-bit column")))
}

/// A database integer that must be non-negative.
pub(crate) fn from_db(n: i64) -> Result<u64, Error> {
    u64::try_from(n).map_err(|_| Error::BadData(format!("negative value {n} where a count or time belongs")))
}

pub(crate) fn col_u64(row: &AnyRow, i: usize) -> Result<u64, Error> {
    from_db(row.try_get::<i64, _>(i).map_err(|e| Error::BadData(e.to_string()))?)
}

pub(crate) fn col_str(row: &AnyRow, i: usize) -> Result<String, Error> {
    row.try_get::<String, _>(i).map_err(|e| Error::BadData(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted_and_paths_encoded() {
        assert_eq!(redact_url("postgres://u:secret@h:5432/db"), "postgres://u@h:5432/db");
        assert_eq!(redact_url("postgres://h/db"), "postgres://h/db");
        assert_eq!(encode_path("/a b/c?d#e%f"), "/a b/c%3Fd%23e%25f");
    }

    #[test]
    fn runs_of_one_insert_become_multi_row_inserts_of_a_few_sizes() {
        let insert = "INSERT INTO audit (seq, hash) VALUES ($1, $2)";
        let mut queued: Vec<Queued> = (0..70)
            .map(|i| Queued { sql: Cow::Borrowed(insert), args: vec![Arg::Int(i), Arg::Text(format!("h{i}"))] })
            .collect();
        queued.push(Queued { sql: Cow::Borrowed("UPDATE store_head SET audit_seq = $1"), args: vec![Arg::Int(70)] });
        let out = coalesce(queued);
        let sizes: Vec<usize> = out.iter().map(|q| q.args.len() / 2).collect();
        assert_eq!(sizes, [64, 4, 1, 1, 0]);
        assert!(out[0].sql.starts_with("INSERT INTO audit (seq, hash) VALUES (?, ?), (?, ?), "));
        assert_eq!(out[0].sql.matches('?').count(), 128);
        assert_eq!(out[2].sql, "INSERT INTO audit (seq, hash) VALUES (?, ?)");
        assert!(matches!(out[1].args[0], Arg::Int(64)));
        assert!(matches!(out[3].args[1], Arg::Text(ref h) if h == "h69"));
        assert_eq!(out[4].sql, "UPDATE store_head SET audit_seq = $1");
    }

    #[test]
    fn rows_out_of_order_keep_their_numbers() {
        assert_eq!(positional("($1, $2, 'a', $3)").as_deref(), Some("(?, ?, 'a', ?)"));
        assert_eq!(positional("($2, $1)"), None);
        assert_eq!(positional("($1, '$')"), None, "a `$` it cannot read keeps the numbered form");
        let insert = "INSERT INTO t (a, b) VALUES ($2, $1)";
        let queued = (0..4).map(|i| Queued { sql: Cow::Borrowed(insert), args: vec![Arg::Int(i), Arg::Int(i)] });
        let out = coalesce(queued.collect());
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].sql, "INSERT INTO t (a, b) VALUES ($2, $1), ($4, $3), ($6, $5), ($8, $7)");
    }

    #[test]
    fn queued_statements_are_renumbered_into_one_batch() {
        let mut out = String::new();
        renumber("UPDATE t SET a = $1, b = $2 WHERE c = $10 AND d = '$'", 4, &mut out);
        assert_eq!(out, "UPDATE t SET a = $5, b = $6 WHERE c = $14 AND d = '$'");
        let queued = vec![
            Queued { sql: "INSERT INTO a VALUES ($1, $2)".into(), args: vec![Arg::Int(1), Arg::Text("x".into())] },
            Queued { sql: "INSERT INTO b VALUES ($2, $1)".into(), args: vec![Arg::Int(2), Arg::MaybeInt(None)] },
        ];
        let (sql, args) = batch(queued, "COMMIT");
        assert_eq!(sql, "INSERT INTO a VALUES ($1, $2);\nINSERT INTO b VALUES ($4, $3);\nCOMMIT");
        assert_eq!(args.len(), 4);
    }

    #[test]
    fn schema_splits_into_statements() {
        let all: Vec<String> = statements(SCHEMA).collect();
        assert!(all.len() >= 10);
        assert!(all.iter().all(|s| s.starts_with("CREATE")));
        // Migrations only add: tables, indexes, columns.
        for (_, sql) in MIGRATIONS {
            let additive =
                |s: &str| s.starts_with("CREATE") || s.starts_with("ALTER TABLE") && s.contains(" ADD COLUMN ");
            assert!(statements(sql).all(|s| additive(&s)), "{sql}");
        }
        assert_eq!(MIGRATIONS.last().map(|(v, _)| *v), Some(SCHEMA_VERSION));
    }
}
