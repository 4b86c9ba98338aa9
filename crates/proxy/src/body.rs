//! Request bodies: read up to `max_body` so the classifier sees them, and forwarded whole —
//! the part read first, then whatever of the stream was left unread.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Body as _, Frame, Incoming};

/// Errors of the bodies the proxy passes on.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// Every body the proxy sends, either way.
pub(crate) type ProxyBody = BoxBody<Bytes, BoxError>;

/// A request body after the proxy looked at it.
pub(crate) struct Read {
    /// What was read: the whole body, or its first `max_body + 1` bytes.
    pub head: Bytes,
    /// The rest of the stream when the body is larger than `max_body`.
    pub rest: Option<Incoming>,
}

impl Read {
    /// Whether the whole body was read.
    pub fn complete(&self) -> bool {
        self.rest.is_none()
    }

    /// The body to forward: what was read, then the unread rest.
    pub fn into_body(self) -> ProxyBody {
        match self.rest {
            None if self.head.is_empty() => empty(),
            None => full(self.head),
            Some(rest) => Prefixed { head: Some(self.head), rest }.boxed(),
        }
    }
}

/// Reads a body until it ends or holds more than `max_body` bytes.
pub(crate) async fn read(mut body: Incoming, max_body: u64) -> Result<Read, hyper::Error> {
    let limit = usize::try_from(max_body).unwrap_or(usize::MAX);
    let mut head = BytesMut::new();
    if body.is_end_stream() {
        return Ok(Read { head: Bytes::new(), rest: None });
    }
    while let Some(frame) = body.frame().await {
        // Trailers are dropped: nothing upstream of an agent's request depends on them.
        if let Ok(data) = frame?.into_data() {
            head.extend_from_slice(&data);
            if head.len() > limit {
                return Ok(Read { head: head.freeze(), rest: Some(body) });
            }
        }
    }
    Ok(Read { head: head.freeze(), rest: None })
}

/// An empty body.
pub(crate) fn empty() -> ProxyBody {
    Empty::new().map_err(|never| match never {}).boxed()
}

/// A body of these bytes.
pub(crate) fn full(bytes: impl Into<Bytes>) -> ProxyBody {
    Full::new(bytes.into()).map_err(|never| match never {}).boxed()
}

/// The bytes read first, then the rest of the stream.
struct Prefixed {
    head: Option<Bytes>,
    rest: Incoming,
}

impl hyper::body::Body for Prefixed {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some(head) = self.head.take() {
            return Poll::Ready(Some(Ok(Frame::data(head))));
        }
        Pin::new(&mut self.rest).poll_frame(cx).map_err(|e| -> BoxError { Box::new(e) })
    }
}
