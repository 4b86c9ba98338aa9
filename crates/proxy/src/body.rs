//! Request bodies: read up to `max_body` so the classifier sees them, and forwarded whole —
//! the part read first, then whatever of the stream was left unread.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
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

/// `body`, an aws-chunked S3 upload, with every `chunk-signature` signed again by `signer` as
/// the chunks stream through; the rest of each chunk is passed on byte for byte. A body that
/// is not well-formed aws-chunked ends in an error (the upstream sees a truncated request).
pub(crate) fn resign_chunks(body: ProxyBody, signer: crate::aws::ChunkSigner) -> ProxyBody {
    Rechunk { inner: body, signer, buf: BytesMut::new(), done: false, ended: false }.boxed()
}

struct Rechunk {
    inner: ProxyBody,
    signer: crate::aws::ChunkSigner,
    /// Bytes of the current chunk not yet complete.
    buf: BytesMut,
    /// The last (empty) chunk was signed: what follows passes unchanged.
    done: bool,
    /// The inner body ended.
    ended: bool,
}

impl hyper::body::Body for Rechunk {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        loop {
            if this.done {
                if !this.buf.is_empty() {
                    return Poll::Ready(Some(Ok(Frame::data(this.buf.split().freeze()))));
                }
                return Pin::new(&mut this.inner).poll_frame(cx);
            }
            match crate::aws::resign_chunk(&this.buf, &mut this.signer) {
                Err(e) => return Poll::Ready(Some(Err(e.into()))),
                Ok(Some(chunk)) => {
                    this.buf.advance(chunk.used);
                    this.done = chunk.last;
                    return Poll::Ready(Some(Ok(Frame::data(Bytes::from(chunk.bytes)))));
                }
                Ok(None) if this.ended => {
                    return Poll::Ready(Some(Err("the aws-chunked body ended inside a chunk".into())));
                }
                Ok(None) => {}
            }
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => this.ended = true,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        this.buf.extend_from_slice(&data);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body arriving in the given pieces.
    struct Pieces(std::collections::VecDeque<Bytes>);

    impl hyper::body::Body for Pieces {
        type Data = Bytes;
        type Error = BoxError;

        fn poll_frame(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
            Poll::Ready(self.0.pop_front().map(|p| Ok(Frame::data(p))))
        }
    }

    /// The documented example's body (placeholder signatures), split into odd pieces, comes out
    /// byte for byte the same but for the signatures, which are AWS's for the real key.
    #[tokio::test]
    async fn chunk_signatures_are_replaced_as_the_body_streams() {
        let placeholder = "0".repeat(64);
        let mut body = Vec::new();
        for size in [65536usize, 1024, 0] {
            body.extend_from_slice(format!("{size:x};chunk-signature={placeholder}\r\n").as_bytes());
            body.extend(std::iter::repeat_n(b'a', size));
            body.extend_from_slice(b"\r\n");
        }
        let inner = Pieces(body.chunks(7001).map(Bytes::copy_from_slice).collect()).boxed();
        let time = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_369_353_600);
        let seed = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
        let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        let signer = crate::aws::ChunkSigner::new(secret, time, "20130524T000000Z", "us-east-1", "s3", seed);
        let out = resign_chunks(inner, signer).collect().await.unwrap().to_bytes();
        assert_eq!(out.len(), body.len());
        let text = String::from_utf8_lossy(&out);
        for signature in [
            "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
            "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
            "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
        ] {
            assert!(text.contains(&format!(";chunk-signature={signature}\r\n")), "{signature}");
        }
        assert!(!text.contains(&placeholder));
    }

    #[tokio::test]
    async fn a_malformed_chunked_body_is_an_error() {
        for bad in ["zz;chunk-signature=00\r\n", "5\r\nhello\r\n", "5;chunk-signature=".to_owned().as_str()] {
            let inner = full(bad.to_owned());
            let signer =
                crate::aws::ChunkSigner::new("s", std::time::SystemTime::now(), "20260101T000000Z", "r", "s3", "00");
            assert!(resign_chunks(inner, signer).collect().await.is_err(), "{bad:?}");
        }
    }
}
