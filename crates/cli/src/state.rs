//! Opening the store: SQLite in the state directory, or the PostgreSQL database of `store =`.

use anyhow::{Context, Result, bail};
use holdpoint_policy::config::{Config, StoreLocation};
use holdpoint_store::Store;

use crate::home::Home;

/// The store and the runtime its calls run on.
pub struct State {
    rt: tokio::runtime::Runtime,
    pub store: Store,
}

impl State {
    /// Open the store. It must have been created by `holdpoint init`: a missing state
    /// directory is an error that says so, never a silently new store.
    pub fn open(home: &Home, config: &Config) -> Result<State> {
        if !home.state.is_dir() {
            bail!("{} does not exist; run `holdpoint init` first", home.state.display());
        }
        let rt =
            tokio::runtime::Builder::new_current_thread().enable_time().build().context("cannot start the runtime")?;
        let store = rt.block_on(async {
            let store = match &config.store {
                StoreLocation::Sqlite => Store::open_sqlite(&home.state).await?,
                StoreLocation::Postgres(url) => Store::open_postgres(url, &home.state).await?,
            };
            crate::spool::fold(&home.state, &store).await?;
            Ok::<_, holdpoint_store::Error>(store)
        })?;
        Ok(State { rt, store })
    }

    /// Run one store call to completion.
    pub fn run<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }
}
