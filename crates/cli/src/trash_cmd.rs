//! `holdpoint trash list|restore|purge`: what the PostgreSQL proxy's soft deletes kept, in the
//! `holdpoint_trash` schema of a `[[postgres]]` block's database, reached directly with the
//! block's vault credential. Restores are audited; a purge is itself held for approval.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use holdpoint_core::{
    Action, Actor, Channel, Denial, Effect, Obligations, Reversibility, Scope, Target, TargetKind, Verb, Verdict,
};
use holdpoint_policy::Engine;
use holdpoint_policy::config::{Config, PostgresProxy, StoreLocation};
use holdpoint_proxy::pg::{PgTrash, TRASH_SCHEMA, TrashBin, TrashEntry};
use holdpoint_store::{AuditEntry, NewHold, Settled, Store, unix_now};
use holdpoint_vault::{KeyHeader, SealedRecord, Vault, VaultKey};
use serde_json::json;

use crate::home::Home;

/// What a purge's hold needs when the policy would allow it: purges are always held.
const PURGE_HOLD: Obligations = Obligations { approvers: 1, delay_secs: 0, ttl_secs: 3600, soft_delete: false };

/// `holdpoint trash`.
#[derive(Args)]
pub struct TrashArgs {
    /// The `[[postgres]]` block (by name); default: the only one.
    #[arg(long, global = true, value_name = "NAME")]
    db: Option<String>,
    #[command(subcommand)]
    command: TrashCommand,
}

#[derive(Subcommand)]
enum TrashCommand {
    /// Every trashed table, oldest first.
    #[command(after_help = "Examples:\n  holdpoint trash list\n  holdpoint trash list --db prod --json")]
    List {
        /// Print JSON: {"trash":[{"id","original","trashed","op","at","row_count","statement"}]}.
        #[arg(long)]
        json: bool,
    },
    /// Put a trashed table back: a dropped table moves back under its name (refused while the
    /// name is taken); emptied tables get their rows inserted again.
    #[command(after_help = "Examples:\n  holdpoint trash restore 3")]
    Restore {
        /// The entry's id (`holdpoint trash list`).
        id: u64,
        /// Print the restored entry as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete a trashed table for good. Held for approval: run it again once approved.
    #[command(after_help = "Examples:\n  holdpoint trash purge 3\n  holdpoint approve 7\n  holdpoint trash purge 3")]
    Purge {
        /// The entry's id (`holdpoint trash list`).
        id: u64,
        /// Print the purged entry as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a `trash` command.
pub fn run(home: &Home, args: TrashArgs) -> Result<u8> {
    let config = home.load_config()?;
    let block = block(&config, args.db.as_deref())?.clone();
    if !home.state.is_dir() {
        bail!("{} does not exist; run `holdpoint init` first", home.state.display());
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the runtime")?;
    rt.block_on(async {
        let store = match &config.store {
            StoreLocation::Sqlite => Store::open_sqlite(&home.state).await?,
            StoreLocation::Postgres(url) => Store::open_postgres(url, &home.state).await?,
        };
        let vault = open_vault(&store).await?;
        let trash = PgTrash::new(block.clone(), vault);
        let code = match args.command {
            TrashCommand::List { json } => list(&trash, &block, json).await,
            TrashCommand::Restore { id, json } => restore(&trash, &store, &block, id, json).await,
            TrashCommand::Purge { id, json } => purge(home, &config, &trash, &store, &block, id, json).await,
        };
        store.close().await;
        code
    })
}

/// The block named `db`, or the only one.
fn block<'a>(config: &'a Config, db: Option<&str>) -> Result<&'a PostgresProxy> {
    let names = || config.postgres.iter().map(|b| b.name.as_str()).collect::<Vec<_>>().join(", ");
    match db {
        Some(name) => config
            .postgres
            .iter()
            .find(|b| b.name == name)
            .with_context(|| format!("no [[postgres]] block is named {name:?} (the blocks: {})", names())),
        None => match config.postgres.as_slice() {
            [only] => Ok(only),
            [] => bail!("the config has no [[postgres]] block; the trash belongs to a proxied database"),
            _ => bail!("the config has several [[postgres]] blocks ({}); name one with --db", names()),
        },
    }
}

/// The vault, opened with `HOLDPOINT_VAULT_KEY_FILE`.
async fn open_vault(store: &Store) -> Result<Arc<Vault>> {
    let file = crate::vault_cmd::key_file_from_env().context(
        "the trash is reached with the block's vault credential: set HOLDPOINT_VAULT_KEY_FILE to the vault key file",
    )?;
    let key = VaultKey::from_key_file(&file)?;
    if let Some(header) = store.vault_header().await? {
        KeyHeader::parse(&header)?
            .verify(&key)
            .with_context(|| format!("HOLDPOINT_VAULT_KEY_FILE={} is not this vault's key", file.display()))?;
    }
    let records = store.vault_records().await?;
    let sealed =
        records.iter().map(|r| SealedRecord { name: r.name.clone(), meta: r.meta.clone(), sealed: r.sealed.clone() });
    Ok(Arc::new(Vault::open(&key, sealed)))
}

async fn list(trash: &PgTrash, block: &PostgresProxy, json: bool) -> Result<u8> {
    let entries = trash.list().await?;
    if json {
        println!("{}", json!({ "trash": entries }));
        return Ok(0);
    }
    if entries.is_empty() {
        println!("the trash of {} is empty", block.name);
    }
    for e in &entries {
        println!("{}", line(e));
    }
    Ok(0)
}

fn line(e: &TrashEntry) -> String {
    let rows = e.row_count.map(|n| format!(", {n} row{}", if n == 1 { "" } else { "s" })).unwrap_or_default();
    format!(
        "{:>5}  {}  {:<10}  {} -> {TRASH_SCHEMA}.{}{rows}  ({})",
        e.id, e.at, e.op, e.original, e.trashed, e.statement
    )
}

async fn restore(trash: &PgTrash, store: &Store, block: &PostgresProxy, id: u64, json: bool) -> Result<u8> {
    let entry =
        trash.restore(id).await.with_context(|| format!("trash entry {id} of {} was not restored", block.name))?;
    let audit = AuditEntry {
        channel: Some(Channel::Sql),
        detail: json!({"event": "trash-restore", "db": block.name, "entry": entry}).into(),
        ..AuditEntry::default()
    };
    store.audit_decision(audit, unix_now()).await.context("the restore happened but could not be audited")?;
    if json {
        println!("{}", json!({ "restored": entry }));
    } else {
        let how = if entry.op == "drop_table" { "moved back" } else { "rows inserted again" };
        println!("restored trash entry {id}: {} ({how})", entry.original);
    }
    Ok(0)
}

/// Purges once a hold of this exact purge is approved; until then queues it and says so
/// (exit 3, as `check` does for a hold).
async fn purge(
    home: &Home,
    config: &Config,
    trash: &PgTrash,
    store: &Store,
    block: &PostgresProxy,
    id: u64,
    json: bool,
) -> Result<u8> {
    let entries = trash.list().await?;
    let entry = entries
        .iter()
        .find(|e| e.id == id)
        .with_context(|| format!("no trash entry {id} in {} (`holdpoint trash list`)", block.name))?;
    let target = format!("postgres://{}/{}", block.upstream, block.database);
    let mut effect = Effect::new(
        Verb::Delete,
        Target {
            kind: TargetKind::Table,
            id: format!("{target}/table {TRASH_SCHEMA}.{}", entry.trashed),
            tags: block.tags.iter().cloned().chain(["no_trash".to_owned()]).collect(),
        },
        Reversibility::Irreversible,
        Scope::Remote,
    );
    effect.rule = Some("trash-purge".into());
    effect.why = Some(format!("deletes the trashed copy of {} for good", entry.original));
    let action = Action {
        channel: Channel::Sql,
        actor: Actor { agent: None, session: None, workspace: String::new() },
        target,
        input: format!("holdpoint trash purge {id} ({TRASH_SCHEMA}.{})", entry.trashed),
        effects: vec![effect],
    };
    let engine = Engine::new(config.profile, &home.load_policies()?)?;
    let decision = engine.decide(&action);
    let (obligations, reason) = match &decision.verdict {
        Verdict::Deny { denial } => {
            eprintln!("holdpoint: {denial}");
            return Ok(4);
        }
        Verdict::Hold { obligations } => (*obligations, decision.reasons.join("; ")),
        Verdict::Allow => (PURGE_HOLD, "a purge deletes a trashed table for good".to_owned()),
    };
    let new = NewHold {
        digest: action.digest(),
        channel: Channel::Sql,
        summary: format!(
            "{}: purge trash entry {id} ({} as {TRASH_SCHEMA}.{})",
            block.name, entry.original, entry.trashed
        ),
        reason: reason.clone(),
        action_json: serde_json::to_string(&action)?,
        obligations,
    };
    let notify = config.notify.is_some();
    let settled = store
        .settle_held(new, Duration::ZERO, unix_now, |hold| {
            if notify {
                crate::notify::spawn(hold.id);
            }
        })
        .await?;
    match settled {
        Settled::Released(_) => {}
        Settled::Waiting(hold) => {
            eprintln!("{}", Denial::Held { hold_id: Some(hold.get()), reason });
            return Ok(3);
        }
        Settled::Closed(hold, state) => {
            eprintln!("{}", Denial::HoldClosed { hold_id: hold.get(), outcome: state.as_str().to_owned() });
            return Ok(4);
        }
    }
    let entry = trash.purge(id).await.with_context(|| format!("trash entry {id} of {} was not purged", block.name))?;
    let audit = AuditEntry {
        channel: Some(Channel::Sql),
        digest: Some(action.digest()),
        detail: json!({"event": "trash-purge", "db": block.name, "entry": entry}).into(),
        ..AuditEntry::default()
    };
    store.audit_decision(audit, unix_now()).await.context("the purge happened but could not be audited")?;
    if json {
        println!("{}", json!({ "purged": entry }));
    } else {
        println!("purged trash entry {id}: {TRASH_SCHEMA}.{} is gone", entry.trashed);
    }
    Ok(0)
}
