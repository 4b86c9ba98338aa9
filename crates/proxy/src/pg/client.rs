//! A small simple-query client of the upstream server, for Holdpoint's own statements (the
//! trash's list, restore and purge): text results only, one statement text at a time.

use tokio::io::AsyncWriteExt;

use super::tls::{self, ServerStream};
use super::wire::message;
use super::wire::{MESSAGE_MAX, cstr, push_cstr, read_message};
use super::{Upstream, WireError, connect_upstream};
use holdpoint_policy::config::PostgresProxy;

/// Why a statement of Holdpoint's own failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server could not be reached, or the connection failed.
    #[error("{0}")]
    Connect(String),
    /// The connection broke or spoke something else than the protocol.
    #[error("{0}")]
    Wire(#[from] WireError),
    /// The server answered an error.
    #[error("{message} (SQLSTATE {code})")]
    Server {
        /// Its SQLSTATE.
        code: String,
        /// Its message.
        message: String,
    },
}

/// One row: its columns' text, `None` for NULL.
pub type Row = Vec<Option<String>>;

/// An authenticated connection to a block's server (over TLS when the block asks for it).
pub(crate) struct Client {
    stream: ServerStream,
}

impl Client {
    /// Connects to `block`'s server as `upstream`'s user.
    pub(crate) async fn connect(block: &PostgresProxy, upstream: &Upstream) -> Result<Client, ClientError> {
        let tls = tls::upstream_tls(block);
        match connect_upstream(block, &tls, upstream, &[("application_name", "holdpoint")]).await {
            Ok((stream, _)) => Ok(Client { stream }),
            Err(refusal) => {
                let body = refusal.get(5..).unwrap_or_default();
                let (_, text) = fields(body);
                Err(ClientError::Connect(text.strip_prefix("Holdpoint: ").map(str::to_owned).unwrap_or(text)))
            }
        }
    }

    /// Runs a simple-query text; the rows of its last result set. The first error ends it.
    pub(crate) async fn query(&mut self, sql: &str) -> Result<Vec<Row>, ClientError> {
        let mut body = Vec::new();
        push_cstr(&mut body, sql);
        tls::send(&mut self.stream, &message(b'Q', &body)).await.map_err(WireError::from)?;
        let mut rows = Vec::new();
        let mut error = None;
        loop {
            let m = read_message(&mut self.stream, MESSAGE_MAX).await?;
            match m.tag {
                b'T' => rows.clear(),
                b'D' => rows.push(data_row(&m.body)?),
                b'E' => {
                    let (code, message) = fields(&m.body);
                    error.get_or_insert(ClientError::Server { code, message });
                }
                b'Z' => break,
                // COPY is never asked for; refuse it rather than hang.
                b'G' | b'H' | b'W' => {
                    return Err(ClientError::Wire(WireError::Protocol("the server started a COPY".into())));
                }
                _ => {}
            }
        }
        match error {
            Some(e) => Err(e),
            None => Ok(rows),
        }
    }

    /// Ends the session.
    pub(crate) async fn close(mut self) {
        let _ = tls::send(&mut self.stream, &message(b'X', &[])).await;
        let _ = self.stream.shutdown().await;
    }
}

/// A `DataRow`'s columns.
fn data_row(body: &[u8]) -> Result<Row, WireError> {
    let bad = || WireError::Protocol("a DataRow whose columns do not add up".into());
    let count: [u8; 2] = body.get(..2).and_then(|c| c.try_into().ok()).ok_or_else(bad)?;
    let mut at = 2;
    let mut row = Vec::new();
    for _ in 0..u16::from_be_bytes(count) {
        let len: [u8; 4] = body.get(at..at + 4).and_then(|c| c.try_into().ok()).ok_or_else(bad)?;
        at += 4;
        let len = i32::from_be_bytes(len);
        if len < 0 {
            row.push(None);
            continue;
        }
        let len = usize::try_from(len).map_err(|_| bad())?;
        let value = body.get(at..at + len).ok_or_else(bad)?;
        at += len;
        row.push(Some(String::from_utf8_lossy(value).into_owned()));
    }
    Ok(row)
}

/// An `ErrorResponse`'s fields the client reads: SQLSTATE and message.
pub(crate) fn fields(body: &[u8]) -> (String, String) {
    let mut code = String::new();
    let mut text = String::new();
    let mut at = 0;
    while let Some(field) = body.get(at).copied().filter(|f| *f != 0) {
        at += 1;
        let Some(value) = cstr(body, &mut at) else { break };
        match field {
            b'C' => value.clone_into(&mut code),
            b'M' => value.clone_into(&mut text),
            _ => {}
        }
    }
    (code, text)
}
