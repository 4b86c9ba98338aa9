//! Plain-HTTP/1.1 upstream requests made on the agent's own connection task: the request
//! written and the response read there, over keep-alive connections pooled per worker thread.
//!
//! The general client (`forward`) hands each request to a task that drives its pooled
//! connection and hands the response back through channels; for the most common request —
//! plain `http`, a small body, no upgrade — that round trip between tasks, the shared pool's
//! lock and its bookkeeping cost more than the request's own parsing. This path is taken only
//! on the proxy's worker threads (each has its pool) and only for requests whose body is in
//! memory, so a stale pooled connection can be retried on a fresh one; everything else goes
//! through the general client.
//!
//! The response is framed as RFC 9112 §6.3 says: no body for `HEAD`, 1xx, 204 and 304; a
//! chunked transfer coding decoded; a `Content-Length`; or else the body runs to the close of
//! the connection. A connection goes back to the pool only when its response was read to its
//! end with nothing after it, and neither side asked to close.

use std::cell::RefCell;
use std::collections::HashMap;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::body::{BoxError, ProxyBody};

/// Bodies up to this size are sent from memory (and so can be sent again on a new connection).
pub(crate) const WHOLE_MAX: u64 = 64 * 1024;
/// The largest response head read.
const HEAD_MAX: usize = 64 * 1024;
/// The most header lines a response head may have.
const HEADERS_MAX: usize = 100;
/// The longest chunk-size line or trailer section accepted.
const LINE_MAX: usize = 8 * 1024;
/// How long a pooled connection may sit idle before it is closed.
const IDLE_FOR: Duration = Duration::from_secs(60);
/// Idle connections kept per upstream.
const IDLE_PER_UPSTREAM: usize = 64;

thread_local! {
    /// This thread's idle connections; `None` on threads that are not proxy workers.
    static POOL: RefCell<Option<Pool>> = const { RefCell::new(None) };
}

/// Gives this thread a pool: requests sent from it take the direct path from now on.
pub(crate) fn pool_here() {
    POOL.with(|pool| *pool.borrow_mut() = Some(Pool::default()));
}

/// Closes this thread's idle connections (before its runtime goes).
pub(crate) fn drop_pool() {
    POOL.with(|pool| pool.borrow_mut().take());
}

/// Whether a request with this body can take the direct path from this thread.
pub(crate) fn applies(req: &Request<ProxyBody>) -> bool {
    req.uri().scheme_str() == Some("http")
        && req.uri().authority().is_some()
        && req.body().size_hint().exact().is_some_and(|n| n <= WHOLE_MAX)
        && POOL.with(|pool| pool.borrow().is_some())
}

#[derive(Default)]
struct Pool {
    idle: HashMap<String, Vec<(TcpStream, Instant)>, foldhash::fast::RandomState>,
    swept: Option<Instant>,
}

/// A pooled connection, if one is still open.
fn take(key: &str) -> Option<TcpStream> {
    POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        let idle = pool.as_mut()?.idle.get_mut(key)?;
        while let Some((stream, since)) = idle.pop() {
            if since.elapsed() < IDLE_FOR && still_open(&stream) {
                return Some(stream);
            }
        }
        None
    })
}

/// Puts a connection whose exchange ended cleanly back in this thread's pool.
fn put(key: String, stream: TcpStream) {
    POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        let Some(pool) = pool.as_mut() else { return };
        let now = Instant::now();
        if pool.swept.is_none_or(|at| now.duration_since(at) > IDLE_FOR) {
            pool.swept = Some(now);
            pool.idle.retain(|_, idle| {
                idle.retain(|(_, since)| now.duration_since(*since) < IDLE_FOR);
                !idle.is_empty()
            });
        }
        let idle = pool.idle.entry(key).or_default();
        if idle.len() < IDLE_PER_UPSTREAM {
            idle.push((stream, now));
        }
    });
}

/// An idle connection is still usable when nothing can be read from it: a close or stray
/// bytes from the upstream make it unusable. Costs no system call unless the socket has
/// signalled something since it was last read.
fn still_open(stream: &TcpStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(stream.try_read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

/// Sends the request (see `applies`) and reads the response head; the body follows as the
/// response's body. An error is the cause of a bad gateway.
pub(crate) async fn send(req: Request<ProxyBody>) -> Result<Response<ProxyBody>, String> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map_err(|e| format!("the request body failed ({e})"))?.to_bytes();
    let authority = parts.uri.authority().ok_or("the URL has no host")?;
    let (host, port) = crate::listener::host_port(authority);
    let port = port.unwrap_or(80);
    let mut key = String::with_capacity(host.len() + 6);
    key.push_str(host);
    key.push(':');
    key.push_str(itoa::Buffer::new().format(port));
    let out = request_bytes(&parts, &key, port == 80, &body);
    let head_only = parts.method == Method::HEAD;
    // Idempotent requests are sent again once when a pooled connection turns out closed or
    // broken before any of the response came (RFC 9110 §9.2.2).
    let retry = parts.method.is_idempotent();
    let mut pooled = take(&key);
    loop {
        let reused = pooled.is_some();
        let mut stream = match pooled.take() {
            Some(stream) => stream,
            None => connect(host, port).await?,
        };
        match exchange(&mut stream, &out, head_only).await {
            Ok((response, framing, buf)) => return Ok(respond(response, framing, buf, stream, key)),
            Err(Failed::Unanswered(_)) if reused && retry => continue,
            Err(Failed::Unanswered(None)) => {
                return Err("the upstream server closed the connection without answering".into());
            }
            Err(Failed::Unanswered(Some(e)) | Failed::Io(e)) => return Err(e.to_string()),
        }
    }
}

async fn connect(host: &str, port: u16) -> Result<TcpStream, String> {
    let name = host.trim_start_matches('[').trim_end_matches(']');
    let stream = TcpStream::connect((name, port)).await.map_err(|e| format!("tcp connect error: {e}"))?;
    // Each message is written whole: no reason to wait for more.
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// The request as sent: origin-form target, `Host`, the headers given (hop-by-hop ones were
/// taken out before), the body's length and the body.
fn request_bytes(parts: &hyper::http::request::Parts, authority: &str, default_port: bool, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + body.len());
    out.extend_from_slice(parts.method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(parts.uri.path_and_query().map_or("/", |p| p.as_str()).as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    // The port only when it is not the scheme's (as clients write it).
    let host = if default_port { authority.strip_suffix(":80").unwrap_or(authority) } else { authority };
    out.extend_from_slice(host.as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in &parts.headers {
        if name == header::CONTENT_LENGTH || name == header::HOST {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    // The length is the body's own; none for an empty body of a method that has none.
    let bodiless = matches!(parts.method, Method::GET | Method::HEAD | Method::CONNECT | Method::TRACE);
    if !body.is_empty() || !bodiless || parts.headers.contains_key(header::CONTENT_LENGTH) {
        out.extend_from_slice(b"content-length: ");
        out.extend_from_slice(itoa::Buffer::new().format(body.len()).as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

enum Failed {
    /// Not a byte of the response came: the connection closed (`None`) or failed.
    Unanswered(Option<std::io::Error>),
    /// The response began and then failed or was malformed.
    Io(std::io::Error),
}

/// Writes the request and reads the response head (1xx interim responses skipped).
async fn exchange(
    stream: &mut TcpStream,
    out: &[u8],
    head_only: bool,
) -> Result<(Response<()>, Framing, BytesMut), Failed> {
    stream.write_all(out).await.map_err(|e| Failed::Unanswered(Some(e)))?;
    let mut buf = BytesMut::with_capacity(8 * 1024);
    let mut answered = false;
    loop {
        if !buf.is_empty() {
            answered = true;
            if let Some((len, response, framing)) = parse_head(&buf, head_only).map_err(Failed::Io)? {
                buf.advance(len);
                match framing {
                    Some(framing) => return Ok((response, framing, buf)),
                    None => continue,
                }
            }
        }
        match stream.read_buf(&mut buf).await {
            Ok(0) if answered => {
                return Err(Failed::Io(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the upstream server closed the connection in the middle of its response head",
                )));
            }
            Ok(0) => return Err(Failed::Unanswered(None)),
            Ok(_) => {}
            Err(e) if answered => return Err(Failed::Io(e)),
            Err(e) => return Err(Failed::Unanswered(Some(e))),
        }
    }
}

fn invalid(what: impl Into<String>) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.into())
}

/// A response head's length, the response, and its body's framing (`None`: interim 1xx).
type Head = (usize, Response<()>, Option<Framing>);

/// A complete response head at the start of `buf`: its length, the response and how its body
/// is framed (`None` for an interim 1xx response, which has no body and is followed by the
/// real one). `Ok(None)` when the head is not complete yet.
pub(crate) fn parse_head(buf: &[u8], head_only: bool) -> Result<Option<Head>, std::io::Error> {
    // Left uninitialised: httparse fills what it parses, and a head has a few of the hundred.
    let mut lines = [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; HEADERS_MAX];
    let mut parsed = httparse::Response::new(&mut []);
    let len = match httparse::ParserConfig::default().parse_response_with_uninit_headers(&mut parsed, buf, &mut lines) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() > HEAD_MAX => {
            return Err(invalid(format!("the upstream's response head is longer than {HEAD_MAX} bytes")));
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(invalid(format!("the upstream's response head is not HTTP/1.1 ({e})"))),
    };
    let code = parsed.code.unwrap_or(0);
    let status = StatusCode::from_u16(code).map_err(|_| invalid(format!("the upstream answered status {code}")))?;
    if status == StatusCode::SWITCHING_PROTOCOLS {
        return Err(invalid("the upstream switched protocols, which the request did not ask for"));
    }
    let mut headers = HeaderMap::with_capacity(parsed.headers.len());
    let mut length: Option<u64> = None;
    let mut chunked = None;
    let mut close = parsed.version != Some(1);
    for line in parsed.headers.iter() {
        let name = HeaderName::from_bytes(line.name.as_bytes())
            .map_err(|_| invalid(format!("the upstream sent a bad header name {:?}", line.name)))?;
        let value = HeaderValue::from_bytes(line.value)
            .map_err(|_| invalid(format!("the upstream sent a bad value for header {name}")))?;
        if name == header::CONTENT_LENGTH {
            let n = std::str::from_utf8(line.value)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| invalid("the upstream sent a bad content-length"))?;
            if length.is_some_and(|first| first != n) {
                return Err(invalid("the upstream sent two different content-lengths"));
            }
            length = Some(n);
        } else if name == header::TRANSFER_ENCODING {
            // Only the last coding decides whether the body is chunked.
            let last = line.value.rsplit(|b| *b == b',').next().unwrap_or_default();
            chunked = Some(last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if name == header::CONNECTION {
            close |= line.value.split(|b| *b == b',').any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"));
        }
        headers.append(name, value);
    }
    let mut response = Response::new(());
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    if status.is_informational() {
        return Ok(Some((len, response, None)));
    }
    let framing = if head_only || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
        Framing::new(Kind::Length(0), close)
    } else {
        match (chunked, length) {
            // A body framed both ways is read as chunked, and the connection not kept
            // (RFC 9112 §6.3, item 3).
            (Some(true), length) => Framing::new(Kind::Chunked(Chunk::Size), close || length.is_some()),
            (Some(false), _) | (None, None) => Framing::new(Kind::Close, true),
            (None, Some(n)) => Framing::new(Kind::Length(n), close),
        }
    };
    Ok(Some((len, response, Some(framing))))
}

/// How a response body is delimited, and where its reading is.
#[derive(Debug)]
pub(crate) struct Framing {
    kind: Kind,
    /// The connection is closed after this response.
    close: bool,
}

#[derive(Debug, PartialEq)]
enum Kind {
    /// This many bytes still to come.
    Length(u64),
    Chunked(Chunk),
    /// Everything until the upstream closes.
    Close,
}

#[derive(Debug, PartialEq)]
enum Chunk {
    /// Expecting a chunk-size line.
    Size,
    /// Inside a chunk, this many bytes left.
    Data(u64),
    /// Expecting the CRLF after a chunk's data.
    DataEnd,
    /// After the last chunk: trailer lines until an empty one (`usize`: bytes of trailers seen).
    Trailers(usize),
    Done,
}

/// The next step of a body's reading.
#[derive(Debug, PartialEq)]
pub(crate) enum Step {
    Data(Bytes),
    /// More input is needed.
    More,
    Done,
}

impl Framing {
    fn new(kind: Kind, close: bool) -> Framing {
        Framing { kind, close }
    }

    /// Whether the body has been read to its end.
    fn done(&self) -> bool {
        matches!(self.kind, Kind::Length(0) | Kind::Chunked(Chunk::Done))
    }

    /// Takes the next piece of body out of `buf`.
    pub(crate) fn next(&mut self, buf: &mut BytesMut) -> Result<Step, std::io::Error> {
        match &mut self.kind {
            Kind::Length(0) => Ok(Step::Done),
            Kind::Length(left) => {
                if buf.is_empty() {
                    return Ok(Step::More);
                }
                let n = buf.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                *left -= n as u64;
                Ok(Step::Data(buf.split_to(n).freeze()))
            }
            Kind::Close if buf.is_empty() => Ok(Step::More),
            Kind::Close => Ok(Step::Data(buf.split().freeze())),
            Kind::Chunked(chunk) => loop {
                match chunk {
                    Chunk::Size => match httparse::parse_chunk_size(buf) {
                        Ok(httparse::Status::Complete((len, 0))) => {
                            buf.advance(len);
                            *chunk = Chunk::Trailers(0);
                        }
                        Ok(httparse::Status::Complete((len, size))) => {
                            buf.advance(len);
                            *chunk = Chunk::Data(size);
                        }
                        Ok(httparse::Status::Partial) if buf.len() > LINE_MAX => {
                            return Err(invalid("the upstream sent a chunk-size line too long"));
                        }
                        Ok(httparse::Status::Partial) => return Ok(Step::More),
                        Err(_) => return Err(invalid("the upstream sent a bad chunk size")),
                    },
                    Chunk::Data(left) => {
                        if buf.is_empty() {
                            return Ok(Step::More);
                        }
                        let n = buf.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                        *left -= n as u64;
                        if *left == 0 {
                            *chunk = Chunk::DataEnd;
                        }
                        return Ok(Step::Data(buf.split_to(n).freeze()));
                    }
                    Chunk::DataEnd => {
                        if buf.len() < 2 {
                            return Ok(Step::More);
                        }
                        if !buf.starts_with(b"\r\n") {
                            return Err(invalid("the upstream's chunk is longer than its size"));
                        }
                        buf.advance(2);
                        *chunk = Chunk::Size;
                    }
                    Chunk::Trailers(seen) => {
                        // Trailers are dropped: they are not passed on either way.
                        let Some(end) = buf.windows(2).position(|w| w == b"\r\n") else {
                            if *seen + buf.len() > LINE_MAX {
                                return Err(invalid("the upstream's trailers are too long"));
                            }
                            return Ok(Step::More);
                        };
                        buf.advance(end + 2);
                        *seen += end + 2;
                        if end == 0 {
                            *chunk = Chunk::Done;
                        } else if *seen > LINE_MAX {
                            return Err(invalid("the upstream's trailers are too long"));
                        }
                    }
                    Chunk::Done => return Ok(Step::Done),
                }
            },
        }
    }

    /// The end of input: the body is complete only if it runs to the close.
    fn eof(&mut self) -> Result<Step, std::io::Error> {
        match self.kind {
            Kind::Close => {
                self.kind = Kind::Length(0);
                Ok(Step::Done)
            }
            _ if self.done() => Ok(Step::Done),
            _ => Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the upstream server closed the connection before its response was complete",
            )),
        }
    }
}

/// The response to hand back: a body already in `buf` whole is handed over as it is and the
/// connection goes straight back to the pool; otherwise the body reads on from the connection.
fn respond(
    response: Response<()>,
    mut framing: Framing,
    mut buf: BytesMut,
    stream: TcpStream,
    key: String,
) -> Response<ProxyBody> {
    let mut response = response.map(|()| crate::body::empty());
    crate::forward::strip_hop_by_hop(response.headers_mut(), false);
    if let Kind::Length(n) = framing.kind
        && u64::try_from(buf.len()).is_ok_and(|len| len >= n)
    {
        let body = buf.split_to(usize::try_from(n).unwrap_or(0)).freeze();
        framing.kind = Kind::Length(0);
        if !framing.close && buf.is_empty() {
            put(key, stream);
        }
        if !body.is_empty() {
            *response.body_mut() = crate::body::full(body);
        }
        return response;
    }
    let body = Streamed { stream: Some(stream), buf, framing, key };
    response.map(|_| body.boxed())
}

/// A response body read from its connection as the agent takes it.
struct Streamed {
    /// `None` once the connection was given back or dropped.
    stream: Option<TcpStream>,
    buf: BytesMut,
    framing: Framing,
    key: String,
}

impl Streamed {
    /// The body ended: the connection goes back to the pool if it can carry another exchange.
    fn finish(&mut self) {
        if let Some(stream) = self.stream.take()
            && !self.framing.close
            && self.buf.is_empty()
        {
            put(std::mem::take(&mut self.key), stream);
        }
    }
}

impl Body for Streamed {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        loop {
            match this.framing.next(&mut this.buf) {
                Ok(Step::Data(data)) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                Ok(Step::Done) => {
                    this.finish();
                    return Poll::Ready(None);
                }
                Ok(Step::More) => {}
                Err(e) => {
                    this.stream = None;
                    return Poll::Ready(Some(Err(Box::new(e))));
                }
            }
            let Some(stream) = this.stream.as_mut() else {
                return Poll::Ready(None);
            };
            if this.buf.capacity() - this.buf.len() < 4096 {
                this.buf.reserve(16 * 1024);
            }
            let read = ready!(tokio_util::io::poll_read_buf(Pin::new(stream), cx, &mut this.buf));
            match read {
                Ok(0) => match this.framing.eof() {
                    Ok(_) => {
                        this.stream = None;
                        return Poll::Ready(None);
                    }
                    Err(e) => {
                        this.stream = None;
                        return Poll::Ready(Some(Err(Box::new(e))));
                    }
                },
                Ok(_) => {}
                Err(e) => {
                    this.stream = None;
                    return Poll::Ready(Some(Err(Box::new(e))));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.framing.done()
    }

    fn size_hint(&self) -> SizeHint {
        match self.framing.kind {
            Kind::Length(n) => SizeHint::with_exact(n),
            _ => SizeHint::default(),
        }
    }
}

/// Reads a response as the direct path does — the head, then the body's pieces in order —
/// from `bytes` arriving `piece` bytes at a time (all at once when 0), for tests and the fuzz
/// target: the status and body, or why the bytes are refused.
pub fn read_response(bytes: &[u8], head_only: bool, piece: usize) -> Result<(u16, Vec<u8>), String> {
    let mut pieces = bytes.chunks(if piece == 0 { bytes.len().max(1) } else { piece });
    let mut buf = BytesMut::new();
    let mut more = |buf: &mut BytesMut| pieces.next().map(|p| buf.extend_from_slice(p)).is_some();
    let (status, mut framing) = loop {
        match parse_head(&buf, head_only).map_err(|e| e.to_string())? {
            Some((len, _, None)) => buf.advance(len),
            Some((len, response, Some(framing))) => {
                buf.advance(len);
                break (response.status().as_u16(), framing);
            }
            None if more(&mut buf) => {}
            None => return Err("the head is incomplete".into()),
        }
    };
    let mut body = Vec::new();
    loop {
        match framing.next(&mut buf).map_err(|e| e.to_string())? {
            Step::Data(data) => body.extend_from_slice(&data),
            Step::Done => return Ok((status, body)),
            Step::More if more(&mut buf) => {}
            Step::More => match framing.eof().map_err(|e| e.to_string())? {
                Step::Done => return Ok((status, body)),
                _ => return Err("the body is incomplete".into()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_framed_by_length_chunks_or_close() {
        let fixed = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA";
        assert_eq!(read_response(fixed, false, 0).unwrap(), (200, b"hello".to_vec()));
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nx-trailer: 1\r\n\r\n";
        assert_eq!(read_response(chunked, false, 0).unwrap(), (200, b"hello world".to_vec()));
        let close = b"HTTP/1.1 200 OK\r\n\r\nto the end";
        assert_eq!(read_response(close, false, 0).unwrap(), (200, b"to the end".to_vec()));
        for piece in 1..chunked.len() {
            assert_eq!(read_response(chunked, false, piece).unwrap().1, b"hello world", "in pieces of {piece}");
        }
        let interim = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nok";
        assert_eq!(read_response(interim, false, 0).unwrap(), (201, b"ok".to_vec()));
    }

    #[test]
    fn head_204_and_304_have_no_body_whatever_their_length_says() {
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n";
        assert_eq!(read_response(head, true, 0).unwrap(), (200, vec![]));
        for status in ["204 No Content", "304 Not Modified"] {
            let res = format!("HTTP/1.1 {status}\r\nContent-Length: 7\r\n\r\n");
            assert_eq!(read_response(res.as_bytes(), false, 0).unwrap().1, Vec::<u8>::new(), "{status}");
        }
    }

    #[test]
    fn malformed_framing_is_refused() {
        let cases: [&[u8]; 6] = [
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhello\r\n0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
            b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
        ];
        for case in cases {
            assert!(read_response(case, false, 0).is_err(), "{}", String::from_utf8_lossy(case));
        }
    }

    #[test]
    fn a_connection_is_kept_only_when_both_sides_may_keep_it() {
        let kept = |res: &[u8]| parse_head(res, false).unwrap().unwrap().2.is_some_and(|f| !f.close);
        assert!(kept(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"));
        assert!(kept(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"));
        assert!(!kept(b"HTTP/1.1 200 OK\r\nconnection: keep-alive, close\r\ncontent-length: 0\r\n\r\n"));
        assert!(!kept(b"HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n"));
        assert!(!kept(b"HTTP/1.1 200 OK\r\n\r\n"));
        assert!(!kept(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: 3\r\n\r\n"));
        assert!(!kept(b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\n"));
    }
}
