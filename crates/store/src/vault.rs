//! Vault records: the vault's key header, sealed secrets and sealed backups of files that
//! `vault import` rewrote. The store keeps them as the vault crate made them: it holds no key,
//! decrypts nothing and reads nothing inside them. Every change is one transaction with its
//! audit record (names and counts, never a secret).

use std::collections::BTreeSet;

use serde_json::json;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::Error;
use crate::audit::Record;
use crate::keys::hex;
use crate::store::{Head, Store, Tx, col_str, col_u64, from_db, to_db};

/// One vault secret as stored: what the vault sealed, kept opaque.
#[derive(Clone, PartialEq, Eq)]
pub struct VaultRecord {
    /// The secret's name (unique).
    pub name: String,
    /// The secret's public description as the vault wrote it (binding, placeholders).
    pub meta: String,
    /// The nonce and ciphertext, bound by the vault to `name` and `meta`.
    pub sealed: Vec<u8>,
    /// When it was added, unix seconds.
    pub created: u64,
    /// When a proxy last resolved it, unix seconds.
    pub last_used: Option<u64>,
}

impl std::fmt::Debug for VaultRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultRecord")
            .field("name", &self.name)
            .field("sealed_len", &self.sealed.len())
            .finish_non_exhaustive()
    }
}

/// An encrypted copy of a file as it was before `vault import` rewrote it.
#[derive(Clone, PartialEq, Eq)]
pub struct VaultBackup {
    /// The backup's number, as `vault restore` takes it.
    pub id: u64,
    /// The file it is a copy of.
    pub path: String,
    /// When it was taken, unix seconds.
    pub created: u64,
    /// The nonce and ciphertext of the file's bytes.
    pub sealed: Vec<u8>,
}

impl std::fmt::Debug for VaultBackup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultBackup").field("id", &self.id).field("path", &self.path).finish_non_exhaustive()
    }
}

/// What [`Store::vault_add`] writes in one transaction.
#[derive(Clone, Debug, Default)]
pub struct VaultAddition {
    /// The key header every record is sealed under. The first addition stores it; later ones
    /// must carry the same header, or the vault's key changed meanwhile ([`Error::VaultChanged`]).
    pub header: String,
    /// The secrets to add; a name already in the vault refuses the whole addition.
    pub records: Vec<VaultRecord>,
    /// A backup to keep with them: the file's path and its sealed bytes.
    pub backup: Option<(String, Vec<u8>)>,
}

/// What [`Store::vault_rekey`] replaces in one transaction.
#[derive(Clone, Debug, Default)]
pub struct VaultRekey {
    /// The header the records are sealed under now; anything else means the vault changed.
    pub old_header: String,
    /// The new key's header.
    pub new_header: String,
    /// Every secret's name and its new sealed bytes: exactly the secrets in the vault.
    pub records: Vec<(String, Vec<u8>)>,
    /// Every backup's id and its new sealed bytes: exactly the backups in the vault.
    pub backups: Vec<(u64, Vec<u8>)>,
}

impl Store {
    /// The vault's key header, or `None` while the vault has never been written.
    pub async fn vault_header(&self) -> Result<Option<String>, Error> {
        let row = sqlx::query("SELECT header FROM vault_key WHERE id = 1")
            .fetch_optional(&self.inner.pool)
            .await
            .map_err(Error::db)?;
        row.map(|r| col_str(&r, 0)).transpose()
    }

    /// Every vault secret, by name.
    pub async fn vault_records(&self) -> Result<Vec<VaultRecord>, Error> {
        let rows = sqlx::query("SELECT name, meta, sealed, created, last_used FROM vault_secrets ORDER BY name")
            .fetch_all(&self.inner.pool)
            .await
            .map_err(Error::db)?;
        rows.iter().map(record_row).collect()
    }

    /// Every backup, oldest first.
    pub async fn vault_backups(&self) -> Result<Vec<VaultBackup>, Error> {
        let rows = sqlx::query("SELECT id, path, created, sealed FROM vault_backups ORDER BY id")
            .fetch_all(&self.inner.pool)
            .await
            .map_err(Error::db)?;
        rows.iter()
            .map(|row| {
                Ok(VaultBackup {
                    id: col_u64(row, 0)?,
                    path: col_str(row, 1)?,
                    created: col_u64(row, 2)?,
                    sealed: col_bytes(row, 3)?,
                })
            })
            .collect()
    }

    /// Adds secrets (and a backup) in one transaction with one `vault_added` audit record;
    /// returns the backup's id. Nothing is written when a name is taken or the key changed.
    pub async fn vault_add(&self, addition: VaultAddition, now: u64) -> Result<Option<u64>, Error> {
        let (mut tx, mut head) = self.begin().await?;
        match header_in(&mut tx).await? {
            None => {
                sqlx::query("INSERT INTO vault_key (id, header) VALUES (1, $1)")
                    .bind(addition.header.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(Error::db)?;
            }
            Some(stored) if stored == addition.header => {}
            Some(_) => return Err(Error::VaultChanged),
        }
        let existing = names_in(&mut tx).await?;
        let mut names = Vec::with_capacity(addition.records.len());
        for record in &addition.records {
            if existing.contains(&record.name) || names.contains(&record.name.as_str()) {
                return Err(Error::SecretExists(record.name.clone()));
            }
            names.push(record.name.as_str());
            insert_record(&mut tx, record).await?;
        }
        let mut detail = serde_json::Map::new();
        detail.insert("names".into(), json!(names));
        let backup = match &addition.backup {
            Some((path, sealed)) => {
                let id = next_backup_id(&mut tx).await?;
                sqlx::query("INSERT INTO vault_backups (id, path, created, sealed) VALUES ($1, $2, $3, $4)")
                    .bind(to_db(id)?)
                    .bind(path.as_str())
                    .bind(to_db(now)?)
                    .bind(hex(sealed))
                    .execute(&mut *tx)
                    .await
                    .map_err(Error::db)?;
                detail.insert("backup".into(), json!({"id": id, "path": path}));
                Some(id)
            }
            None => None,
        };
        self.vault_audit(&mut tx, &mut head, "vault_added", detail.into(), now).await?;
        self.commit(tx, head).await?;
        Ok(backup)
    }

    /// Removes one secret, with a `vault_removed` audit record.
    pub async fn vault_remove(&self, name: &str, now: u64) -> Result<(), Error> {
        let (mut tx, mut head) = self.begin().await?;
        let done = sqlx::query("DELETE FROM vault_secrets WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(Error::db)?;
        if done.rows_affected() == 0 {
            return Err(Error::NoSuchSecret(name.to_owned()));
        }
        self.vault_audit(&mut tx, &mut head, "vault_removed", json!({"name": name}), now).await?;
        self.commit(tx, head).await
    }

    /// Replaces the key header and every sealed secret and backup at once (a key rotation),
    /// with a `vault_rekeyed` audit record. Refused with [`Error::VaultChanged`], writing
    /// nothing, unless `old_header` is the stored header and the records and backups given
    /// are exactly those stored: a secret added meanwhile would otherwise be left unreadable.
    pub async fn vault_rekey(&self, rekey: VaultRekey, now: u64) -> Result<(), Error> {
        let (mut tx, mut head) = self.begin().await?;
        if header_in(&mut tx).await?.as_deref() != Some(rekey.old_header.as_str()) {
            return Err(Error::VaultChanged);
        }
        let given: BTreeSet<&str> = rekey.records.iter().map(|(n, _)| n.as_str()).collect();
        let stored = names_in(&mut tx).await?;
        if given.len() != rekey.records.len() || given != stored.iter().map(String::as_str).collect() {
            return Err(Error::VaultChanged);
        }
        let rows = sqlx::query("SELECT id FROM vault_backups").fetch_all(&mut *tx).await.map_err(Error::db)?;
        let stored: BTreeSet<u64> = rows.iter().map(|r| col_u64(r, 0)).collect::<Result<_, _>>()?;
        let given: BTreeSet<u64> = rekey.backups.iter().map(|(id, _)| *id).collect();
        if given.len() != rekey.backups.len() || given != stored {
            return Err(Error::VaultChanged);
        }
        sqlx::query("UPDATE vault_key SET header = $1 WHERE id = 1")
            .bind(rekey.new_header.as_str())
            .execute(&mut *tx)
            .await
            .map_err(Error::db)?;
        for (name, sealed) in &rekey.records {
            sqlx::query("UPDATE vault_secrets SET sealed = $1 WHERE name = $2")
                .bind(hex(sealed))
                .bind(name.as_str())
                .execute(&mut *tx)
                .await
                .map_err(Error::db)?;
        }
        for (id, sealed) in &rekey.backups {
            sqlx::query("UPDATE vault_backups SET sealed = $1 WHERE id = $2")
                .bind(hex(sealed))
                .bind(to_db(*id)?)
                .execute(&mut *tx)
                .await
                .map_err(Error::db)?;
        }
        let detail = json!({"secrets": rekey.records.len(), "backups": rekey.backups.len()});
        self.vault_audit(&mut tx, &mut head, "vault_rekeyed", detail, now).await?;
        self.commit(tx, head).await
    }

    /// Records that a proxy used a secret now (for `vault list`); not an audit record, since
    /// the proxy audits the request itself.
    pub async fn vault_touch(&self, name: &str, now: u64) -> Result<(), Error> {
        sqlx::query("UPDATE vault_secrets SET last_used = $1 WHERE name = $2")
            .bind(to_db(now)?)
            .bind(name)
            .execute(&self.inner.pool)
            .await
            .map_err(Error::db)?;
        Ok(())
    }

    async fn vault_audit(
        &self,
        tx: &mut Tx<'_>,
        head: &mut Head,
        kind: &str,
        detail: serde_json::Value,
        now: u64,
    ) -> Result<u64, Error> {
        let record = Record { kind, hold: None, digest: None, channel: None, verdict: None, detail: detail.into() };
        self.append(tx, head, record, now).await
    }
}

async fn header_in(tx: &mut Tx<'_>) -> Result<Option<String>, Error> {
    let row =
        sqlx::query("SELECT header FROM vault_key WHERE id = 1").fetch_optional(&mut **tx).await.map_err(Error::db)?;
    row.map(|r| col_str(&r, 0)).transpose()
}

async fn names_in(tx: &mut Tx<'_>) -> Result<BTreeSet<String>, Error> {
    let rows = sqlx::query("SELECT name FROM vault_secrets").fetch_all(&mut **tx).await.map_err(Error::db)?;
    rows.iter().map(|r| col_str(r, 0)).collect()
}

async fn next_backup_id(tx: &mut Tx<'_>) -> Result<u64, Error> {
    let row = sqlx::query("SELECT MAX(id) FROM vault_backups").fetch_one(&mut **tx).await.map_err(Error::db)?;
    let max: Option<i64> = row.try_get(0).map_err(|e| Error::BadData(e.to_string()))?;
    let max = max.map(from_db).transpose()?.unwrap_or(0);
    max.checked_add(1).ok_or_else(|| Error::OutOfRange("backup id".into()))
}

async fn insert_record(tx: &mut Tx<'_>, record: &VaultRecord) -> Result<(), Error> {
    sqlx::query("INSERT INTO vault_secrets (name, meta, sealed, created, last_used) VALUES ($1, $2, $3, $4, $5)")
        .bind(record.name.as_str())
        .bind(record.meta.as_str())
        .bind(hex(&record.sealed))
        .bind(to_db(record.created)?)
        .bind(record.last_used.map(to_db).transpose()?)
        .execute(&mut **tx)
        .await
        .map_err(Error::db)?;
    Ok(())
}

fn record_row(row: &AnyRow) -> Result<VaultRecord, Error> {
    let last_used: Option<i64> = row.try_get(4).map_err(|e| Error::BadData(e.to_string()))?;
    Ok(VaultRecord {
        name: col_str(row, 0)?,
        meta: col_str(row, 1)?,
        sealed: col_bytes(row, 2)?,
        created: col_u64(row, 3)?,
        last_used: last_used.map(from_db).transpose()?,
    })
}

/// A hex column as bytes.
fn col_bytes(row: &AnyRow, i: usize) -> Result<Vec<u8>, Error> {
    let text = col_str(row, i)?;
    holdpoint_core::hex::decode(&text).ok_or_else(|| Error::BadData(format!("column {i} of a vault row is not hex")))
}
