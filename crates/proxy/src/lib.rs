//! Holdpoint's HTTP(S) egress proxy: every request an agent sends out becomes an
//! [`Action`](holdpoint_core::Action) on the `http` channel, is classified, meets the policy,
//! and is forwarded, refused (`403`) or held for a human (`409` after `hold_wait`).
//!
//! - `listener`: the loopback listener, HTTP/1.1 forward proxying (absolute-form requests),
//!   graceful shutdown.
//! - `front`: the agent's connection: plain `http://` requests read and answered directly,
//!   the connection handed to hyper's server at the first request of another form.
//! - `connect`: `CONNECT` — passthrough hosts are tunnelled untouched; every other host is
//!   intercepted with TLS (certificates from the local [`Ca`]) and served as HTTP/1.1 or
//!   HTTP/2 (ALPN).
//! - `ca`: the local CA made at `holdpoint init` and the leaf certificates minted per host.
//! - `decide`: request → action → classifier → policy → hold queue; the refusal bodies.
//! - `inject`: vault placeholders turned into secrets inside their binding ([`Credentials`]).
//! - `aws`: AWS requests SigV4-signed with placeholder keys, signed again with the real pair.
//! - `forward`: the pooled upstream client (TLS checked against the Mozilla roots plus
//!   `SSL_CERT_FILE`), hop-by-hop headers, websocket upgrades.
//! - `h1`: the direct path for plain-HTTP requests with small bodies: written and read on the
//!   request's own task over connections pooled per worker thread.
//! - [`mcp`]: the MCP gateway: JSON-RPC between an agent and an MCP server, every
//!   `tools/call` decided through the same [`Gate`], tool lists checked, results redacted.
//! - [`pg`]: the PostgreSQL proxy of each `[[postgres]]` block: placeholder authentication,
//!   the real credential upstream, every query decided through the same [`Gate`].
//!
//! Everything fails closed: a request that cannot be read, classified or decided, or whose
//! hold cannot be queued, is refused with a reason and never forwarded.
#![forbid(unsafe_code)]

mod aws;
mod body;
mod ca;
mod connect;
mod decide;
mod error;
mod forward;
mod front;
mod h1;
mod inject;
mod listener;
pub mod mcp;
pub mod pg;

pub use aws::{ChunkSigner, KeyPair, Resigned, SigV4, SignedChunk, ToSign, parse_authorization, resign, resign_chunk};
pub use ca::{CA_CERT_FILE, CA_KEY_FILE, Ca};
pub use decide::{Gate, Recorder, refusal_json};
pub use error::Error;
pub use forward::Upstream;
pub use front::{Head, HyperRead, Plain, hyper_reads, read_head};
pub use h1::read_response;
pub use inject::{Credentials, Injected, NoCredentials, Outgoing, VaultCredentials};
pub use listener::{Proxy, serve, serve_unix};
pub use mcp::{McpHttp, McpServer, serve_mcp, serve_mcp_http};
pub use pg::{PgProxy, serve_postgres};
