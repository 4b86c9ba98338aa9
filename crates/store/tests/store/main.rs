//! The store against real databases: every scenario runs on SQLite and on a PostgreSQL 15
//! server the harness starts itself.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

mod common;

mod audit;
mod holds;
mod open;
mod settle;
mod tamper;
mod vault;
mod writes;
