//! The agent's side of a connection to the egress proxy. Requests in the plainest form — an
//! absolute `http://` URL, HTTP/1.1, no body or one of a stated length that fits in memory, no
//! upgrade, no `Expect` — are read, decided and answered here, one after another on the
//! keep-alive connection. At the first request of any other form (a `CONNECT`, a chunked body,
//! an upgrade, a head too long or malformed) the connection goes to hyper's server for the rest
//! of its life, with every byte read from it and not yet used.
//!
//! How a request is framed is decided here only when it can be read one way: a head with
//! `Transfer-Encoding`, or with more than one `Content-Length`, or one that is not all digits,
//! is always hyper's (RFC 9112 §6.3), so a request cannot be read as one thing here and passed
//! on as another.
//!
//! A response is written with the framing its body gives: its exact length as
//! `Content-Length`, or else chunked; none for `HEAD`, 1xx, 204 and 304, whose headers pass as
//! they are. A body that ends short of its length, or fails, closes the connection.

use std::io::Write as _;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::SystemTime;

use bytes::{Buf, Bytes, BytesMut};
use hyper::body::Body as _;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::server::graceful::Watcher;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::time::Instant;

use crate::body::{self, ProxyBody};
use crate::listener::{HEAD_TIMEOUT, Live, Proxy};

/// The longest head read here; a longer one is hyper's (which has limits of its own).
const HEAD_MAX: usize = 16 * 1024;
/// The most header lines a head read here may have.
const HEADERS_MAX: usize = 64;
/// The space made for each read from the agent.
const READ_AT_LEAST: usize = 4 * 1024;
/// A response's bytes are written when this many are waiting (and whenever its body has no
/// more ready).
const WRITE_AT: usize = 64 * 1024;

/// A head at the start of the bytes read from an agent.
#[derive(Debug)]
#[allow(clippy::large_enum_variant, reason = "one per request, moved once: a box would cost an allocation")]
pub enum Head {
    /// Not all of it has come yet.
    Partial,
    /// A plain request, served here.
    Plain(Plain),
    /// Any other request, or bytes that are not one: hyper's to read.
    Other,
}

/// A plain request's head.
#[derive(Debug)]
pub struct Plain {
    /// Never `CONNECT`.
    pub method: Method,
    /// The absolute `http://` URL.
    pub uri: Uri,
    /// The header lines as sent, in order.
    pub headers: HeaderMap,
    /// The head's length in bytes.
    pub head: usize,
    /// The body's length (`Content-Length`, or 0 without one).
    pub body: usize,
    /// The agent asked for the connection to close after this exchange.
    pub close: bool,
}

/// Reads the head at the start of `buf`: a plain request whose body is at most `body_max`
/// bytes, one not complete yet, or anything else (see the module's doc).
pub fn read_head(buf: &[u8], body_max: usize) -> Head {
    // Left uninitialised: httparse fills what it parses.
    let mut lines = [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; HEADERS_MAX];
    let mut req = httparse::Request::new(&mut []);
    let head = match req.parse_with_uninit_headers(buf, &mut lines) {
        Ok(httparse::Status::Complete(n)) if n <= HEAD_MAX => n,
        Ok(httparse::Status::Partial) if buf.len() <= HEAD_MAX => return Head::Partial,
        _ => return Head::Other,
    };
    if req.version != Some(1) {
        return Head::Other;
    }
    let (Some(method), Some(path)) = (req.method, req.path) else { return Head::Other };
    let Ok(method) = Method::from_bytes(method.as_bytes()) else { return Head::Other };
    if method == Method::CONNECT || !path.starts_with("http://") {
        return Head::Other;
    }
    let Ok(uri) = Uri::try_from(path) else { return Head::Other };
    if uri.scheme_str() != Some("http") || uri.authority().is_none() {
        return Head::Other;
    }
    let mut headers = HeaderMap::with_capacity(req.headers.len());
    let mut length = None;
    let mut close = false;
    for line in req.headers.iter() {
        let (Ok(name), Ok(value)) = (HeaderName::from_bytes(line.name.as_bytes()), HeaderValue::from_bytes(line.value))
        else {
            return Head::Other;
        };
        if name == header::TRANSFER_ENCODING || name == header::UPGRADE || name == header::EXPECT {
            return Head::Other;
        }
        if name == header::CONTENT_LENGTH {
            if length.is_some() {
                return Head::Other;
            }
            match digits(line.value) {
                Some(n) if n <= body_max => length = Some(n),
                _ => return Head::Other,
            }
        } else if name == header::CONNECTION {
            for token in line.value.split(|b| *b == b',').map(<[u8]>::trim_ascii) {
                if token.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if token.eq_ignore_ascii_case(b"upgrade") {
                    return Head::Other;
                }
            }
        }
        headers.append(name, value);
    }
    Head::Plain(Plain { method, uri, headers, head, body: length.unwrap_or(0), close })
}

/// A `Content-Length` value: digits only (no sign, no space), not too many.
fn digits(value: &[u8]) -> Option<usize> {
    if value.is_empty() || value.len() > 12 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// Serves an agent's connection: its plain requests here, the rest of it by hyper's server
/// from the first request of another form. The connection closes when shutdown begins while
/// it waits between requests (a request read before is answered first, with `Connection:
/// close`), and when no request has been read whole for `HEAD_TIMEOUT` (checked once per
/// period, so an idle or trickling agent is closed within two).
pub(crate) async fn serve<S>(proxy: Arc<Proxy>, mut stream: S, live: Live, watcher: Watcher)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let max_body = proxy.gate.config().proxy.max_body.min(crate::h1::WHOLE_MAX);
    let body_max = usize::try_from(max_body).unwrap_or(0);
    let mut closing = proxy.closing();
    // One timer and one shutdown wait for the connection's life: arming either per request
    // costs more than the rest of reading a request head.
    let shutdown = std::pin::pin!(async move {
        let _ = closing.wait_for(|closing| *closing).await;
    });
    let timer = std::pin::pin!(tokio::time::sleep(HEAD_TIMEOUT));
    let mut waits = Waits { timer, shutdown, served: 0, armed: 0 };
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    loop {
        let plain = loop {
            match if buf.is_empty() { Head::Partial } else { read_head(&buf, body_max) } {
                Head::Plain(plain) => break plain,
                Head::Other => {
                    let io = Prefixed { read: buf.freeze(), inner: stream };
                    return crate::listener::serve_hyper(proxy, io, live, watcher).await;
                }
                Head::Partial => {}
            }
            let idle = buf.is_empty();
            if !waits.more(&mut stream, &mut buf, idle).await {
                return;
            }
        };
        let whole = plain.head.saturating_add(plain.body);
        while buf.len() < whole {
            if !waits.more(&mut stream, &mut buf, false).await {
                return;
            }
        }
        waits.served += 1;
        buf.advance(plain.head);
        let read = if plain.body == 0 {
            Bytes::new()
        } else {
            let body = Bytes::copy_from_slice(buf.get(..plain.body).unwrap_or_default());
            buf.advance(plain.body);
            body
        };
        let head_only = plain.method == Method::HEAD;
        let (mut parts, ()) = Request::new(()).into_parts();
        parts.method = plain.method;
        parts.uri = plain.uri;
        parts.headers = plain.headers;
        let res = match crate::listener::target(&proxy, &parts.uri) {
            Ok(url) => {
                let read = body::Read { head: read, rest: None };
                crate::listener::decide_and_send(&proxy, parts, read, None, url).await
            }
            Err(denial) => crate::listener::refusal(&denial),
        };
        let close = plain.close || proxy.is_closing();
        if respond(&mut stream, &mut out, res, head_only, close).await.is_err() || close {
            let _ = stream.shutdown().await;
            return;
        }
    }
}

/// What a connection waits on besides the agent: the head timer and shutdown.
struct Waits<'a, F> {
    timer: Pin<&'a mut tokio::time::Sleep>,
    shutdown: Pin<&'a mut F>,
    /// Requests read whole so far.
    served: u64,
    /// `served` when the timer was last armed.
    armed: u64,
}

impl<F: std::future::Future<Output = ()>> Waits<'_, F> {
    /// Reads more of the agent's bytes into `buf`: false when the agent closed the connection,
    /// the read failed, a timer period passed with no request read or, while `idle` between
    /// requests, shutdown began.
    async fn more<S: AsyncRead + Unpin>(&mut self, stream: &mut S, buf: &mut BytesMut, idle: bool) -> bool {
        buf.reserve(READ_AT_LEAST);
        loop {
            tokio::select! {
                biased;
                read = stream.read_buf(buf) => return matches!(read, Ok(n) if n > 0),
                () = self.shutdown.as_mut(), if idle => return false,
                () = self.timer.as_mut() => {
                    if self.served == self.armed {
                        return false;
                    }
                    self.armed = self.served;
                    self.timer.as_mut().reset(Instant::now() + HEAD_TIMEOUT);
                }
            }
        }
    }
}

/// How a response's body is framed on the wire.
enum Framing {
    /// No body follows the head.
    None,
    /// This many bytes follow.
    Length(u64),
    Chunked,
}

/// Writes a response: its head, then its body as its framing says.
async fn respond<S: AsyncWrite + Unpin>(
    stream: &mut S,
    out: &mut Vec<u8>,
    res: Response<ProxyBody>,
    head_only: bool,
    close: bool,
) -> std::io::Result<()> {
    let (parts, mut body) = res.into_parts();
    let status = parts.status;
    let exact = body.size_hint().exact();
    let framing = if head_only
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        Framing::None
    } else {
        exact.map_or(Framing::Chunked, Framing::Length)
    };
    out.clear();
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("Unknown").as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in &parts.headers {
        let framing_header = name == header::CONTENT_LENGTH || name == header::TRANSFER_ENCODING;
        if name == header::CONNECTION || (framing_header && !matches!(framing, Framing::None)) {
            continue;
        }
        push_header(out, name.as_str().as_bytes(), value.as_bytes());
    }
    match framing {
        Framing::Length(n) => push_header(out, b"content-length", itoa::Buffer::new().format(n).as_bytes()),
        Framing::Chunked => push_header(out, b"transfer-encoding", b"chunked"),
        // A refusal of a `HEAD` request says how long its body would be, as hyper's does.
        Framing::None if head_only && !parts.headers.contains_key(header::CONTENT_LENGTH) => {
            if let Some(n) = exact.filter(|n| *n > 0) {
                push_header(out, b"content-length", itoa::Buffer::new().format(n).as_bytes());
            }
        }
        Framing::None => {}
    }
    if !parts.headers.contains_key(header::DATE) {
        push_header(out, b"date", httpdate::fmt_http_date(SystemTime::now()).as_bytes());
    }
    if close {
        push_header(out, b"connection", b"close");
    }
    out.extend_from_slice(b"\r\n");
    let mut left = match framing {
        Framing::None => return stream.write_all(out).await,
        Framing::Length(n) => Some(n),
        Framing::Chunked => None,
    };
    loop {
        // What the body has ready goes out with the head in one write; the bytes wait for no
        // more than that.
        let frame = match std::future::poll_fn(|cx| Poll::Ready(poll_frame(&mut body, cx))).await {
            Poll::Ready(frame) => frame,
            Poll::Pending => {
                stream.write_all(out).await?;
                out.clear();
                std::future::poll_fn(|cx| poll_frame(&mut body, cx)).await
            }
        };
        let data = match frame {
            None => break,
            Some(Err(e)) => return Err(std::io::Error::other(e)),
            // Trailers are dropped, as everywhere in the proxy.
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) if !data.is_empty() => data,
                _ => continue,
            },
        };
        let len = data.len() as u64;
        match &mut left {
            Some(left) if len > *left => return Err(short("the response body is longer than its length")),
            Some(left) => *left -= len,
            None => {
                let _ = write!(out, "{:x}\r\n", data.len());
            }
        }
        if data.len() >= WRITE_AT {
            stream.write_all(out).await?;
            out.clear();
            stream.write_all(&data).await?;
        } else {
            out.extend_from_slice(&data);
        }
        if left.is_none() {
            out.extend_from_slice(b"\r\n");
        }
        if out.len() >= WRITE_AT {
            stream.write_all(out).await?;
            out.clear();
        }
    }
    match left {
        Some(0) => {}
        Some(_) => return Err(short("the response body ended before its length")),
        None => out.extend_from_slice(b"0\r\n\r\n"),
    }
    stream.write_all(out).await?;
    out.clear();
    Ok(())
}

fn poll_frame(
    body: &mut ProxyBody,
    cx: &mut Context<'_>,
) -> Poll<Option<Result<hyper::body::Frame<Bytes>, crate::body::BoxError>>> {
    Pin::new(body).poll_frame(cx)
}

fn short(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::UnexpectedEof, what)
}

fn push_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// A connection handed to hyper: the bytes read from it already, then the rest.
struct Prefixed<S> {
    read: Bytes,
    inner: S,
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if this.read.is_empty() {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        let n = this.read.len().min(buf.remaining());
        buf.put_slice(&this.read.split_to(n));
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// How hyper's server reads a request: what it hands a service.
#[derive(Debug, PartialEq, Eq)]
pub struct HyperRead {
    /// As sent.
    pub method: String,
    /// As `Uri` displays it.
    pub uri: String,
    /// Names in lower case, values as sent, in order.
    pub headers: Vec<(String, Vec<u8>)>,
    /// Decoded from its framing.
    pub body: Vec<u8>,
}

/// The first request hyper's HTTP/1.1 server reads from `bytes` (the agent's side then closes),
/// or `None` when it refuses them: for tests and the fuzz target, which check that a head read
/// as plain here is read the same way there.
pub async fn hyper_reads(bytes: &[u8]) -> Option<HyperRead> {
    use http_body_util::BodyExt;
    let (mut agent, server) = tokio::io::duplex(bytes.len().max(1024));
    let (tx, rx) = tokio::sync::oneshot::channel();
    let tx = std::sync::Mutex::new(Some(tx));
    let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
        let tx = tx.lock().ok().and_then(|mut tx| tx.take());
        async move {
            let (parts, body) = req.into_parts();
            let body = body.collect().await?.to_bytes().to_vec();
            let headers = parts.headers.iter().map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec())).collect();
            if let Some(tx) = tx {
                let read = HyperRead { method: parts.method.to_string(), uri: parts.uri.to_string(), headers, body };
                let _ = tx.send(read);
            }
            Ok::<_, hyper::Error>(Response::new(http_body_util::Empty::<Bytes>::new()))
        }
    });
    // Reading on after the agent's end: a request complete in the bytes is served, one that
    // is not ends in an error.
    let conn = hyper::server::conn::http1::Builder::new()
        .half_close(true)
        .serve_connection(hyper_util::rt::TokioIo::new(server), service);
    let served = async move {
        agent.write_all(bytes).await.ok()?;
        agent.shutdown().await.ok()?;
        rx.await.ok()
    };
    let (_, read) = tokio::join!(conn, served);
    read
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;

    fn plain(text: &str) -> Plain {
        match read_head(text.as_bytes(), 1024) {
            Head::Plain(plain) => plain,
            other => panic!("{text:?} read as {other:?}"),
        }
    }

    fn other(text: &str) {
        let head = read_head(text.as_bytes(), 1024);
        assert!(matches!(head, Head::Other), "{text:?} read as {head:?}");
    }

    #[test]
    fn plain_heads_are_read_and_every_other_form_is_left_to_hyper() {
        let get = "GET http://example.com/a?b=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n";
        let p = plain(get);
        assert_eq!(
            (p.method, p.uri.to_string(), p.head, p.body, p.close),
            (Method::GET, "http://example.com/a?b=1".into(), get.len(), 0, false)
        );
        assert_eq!(p.headers.get("accept").unwrap(), "*/*");
        let post = plain(
            "POST http://example.com/ HTTP/1.1\r\nContent-Length: 5\r\nConnection: keep-alive, close\r\n\r\nhello",
        );
        assert_eq!((post.body, post.close), (5, true));
        // Every prefix of a head is a partial one, and what follows a head is not part of it.
        for end in 0..get.len() {
            assert!(matches!(read_head(&get.as_bytes()[..end], 1024), Head::Partial), "{end}");
        }
        assert_eq!(plain(&format!("{get}GET http://next/ HTTP/1.1\r\n")).head, get.len());
        for text in [
            "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
            "GET /origin-form HTTP/1.1\r\nHost: example.com\r\n\r\n",
            "GET https://example.com/ HTTP/1.1\r\n\r\n",
            "GET http://example.com/ HTTP/1.0\r\n\r\n",
            "GET http:///nohost HTTP/1.1\r\n\r\n",
            "POST http://example.com/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST http://example.com/ HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST http://example.com/ HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
            "POST http://example.com/ HTTP/1.1\r\nContent-Length: +5\r\n\r\n",
            "POST http://example.com/ HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n",
            "POST http://example.com/ HTTP/1.1\r\nContent-Length: 1025\r\n\r\n",
            "POST http://example.com/ HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
            "GET http://example.com/ HTTP/1.1\r\nConnection: Upgrade\r\n\r\n",
            "GET http://example.com/ HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
            "GET http://example.com/ HTTP/1.1\r\nBad Name: x\r\n\r\n",
            "GET http://example.com/ HTTP/1.1\r\nFolded: a\r\n b\r\n\r\n",
            "NOT HTTP AT ALL\r\n\r\n",
        ] {
            other(text);
        }
        // A head longer than this path reads is hyper's, complete or not.
        let long = format!("GET http://example.com/ HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(HEAD_MAX));
        other(&long);
        other(&long[..HEAD_MAX + 1]);
    }

    /// A loopback upstream answering each request with its method, target and body, and
    /// `/stream` with a body of no stated length (the connection closes after it).
    async fn upstream() -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (mut conn, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    loop {
                        let (head, len, line) = loop {
                            let mut lines = [httparse::EMPTY_HEADER; 32];
                            let mut req = httparse::Request::new(&mut lines);
                            if let httparse::Status::Complete(head) = req.parse(&buf).unwrap() {
                                let len = req
                                    .headers
                                    .iter()
                                    .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                                    .map_or(0, |h| std::str::from_utf8(h.value).unwrap().parse::<usize>().unwrap());
                                break (head, len, format!("{} {}", req.method.unwrap(), req.path.unwrap()));
                            }
                            let mut more = [0u8; 4096];
                            match conn.read(&mut more).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&more[..n]),
                            }
                        };
                        while buf.len() < head + len {
                            let mut more = [0u8; 4096];
                            let n = conn.read(&mut more).await.unwrap();
                            buf.extend_from_slice(&more[..n]);
                        }
                        let body = String::from_utf8(buf[head..head + len].to_vec()).unwrap();
                        buf.drain(..head + len);
                        if line.ends_with("/stream") {
                            conn.write_all(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nstreamed without a length")
                                .await
                                .unwrap();
                            return;
                        }
                        let text = format!("{line} {body}");
                        let answer = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{text}", text.len());
                        conn.write_all(answer.as_bytes()).await.unwrap();
                    }
                });
            }
        });
        addr
    }

    /// A proxy serving on loopback, and its address.
    async fn proxy(dir: &std::path::Path) -> std::net::SocketAddr {
        let proxy = crate::listener::test_proxy(dir).await;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(crate::serve(listener, proxy, std::future::pending(), Duration::from_millis(100)));
        addr
    }

    /// Responses read off a connection until it closes: status, headers (lower-case names) and
    /// body, each framed as its head says (`HEAD` requests given by index).
    async fn responses(conn: &mut TcpStream, heads: &[usize]) -> Vec<(u16, Vec<(String, String)>, String)> {
        let mut all = Vec::new();
        conn.read_to_end(&mut all).await.unwrap();
        let mut out = Vec::new();
        let mut rest = &all[..];
        while !rest.is_empty() {
            let mut lines = [httparse::EMPTY_HEADER; 32];
            let mut res = httparse::Response::new(&mut lines);
            let httparse::Status::Complete(head) = res.parse(rest).unwrap() else { panic!("partial response") };
            let headers: Vec<(String, String)> = res
                .headers
                .iter()
                .map(|h| (h.name.to_ascii_lowercase(), String::from_utf8(h.value.to_vec()).unwrap()))
                .collect();
            let code = res.code.unwrap();
            rest = &rest[head..];
            let find = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
            let body = if heads.contains(&out.len()) {
                String::new()
            } else if let Some(len) = find("content-length") {
                let len: usize = len.parse().unwrap();
                let body = String::from_utf8(rest[..len].to_vec()).unwrap();
                rest = &rest[len..];
                body
            } else {
                assert_eq!(find("transfer-encoding").as_deref(), Some("chunked"), "{headers:?}");
                let mut body = String::new();
                loop {
                    let httparse::Status::Complete((at, size)) = httparse::parse_chunk_size(rest).unwrap() else {
                        panic!("partial chunk")
                    };
                    let size = usize::try_from(size).unwrap();
                    body.push_str(std::str::from_utf8(&rest[at..at + size]).unwrap());
                    rest = &rest[at + size + 2..];
                    if size == 0 {
                        break;
                    }
                }
                body
            };
            out.push((code, headers, body));
        }
        out
    }

    /// One connection, its requests sent at once: plain ones answered here in order, a chunked
    /// upload (hyper's from there on, with the bytes already read) and the rest after it.
    #[tokio::test]
    async fn pipelined_requests_are_answered_in_order_across_the_hand_over_to_hyper() {
        let dir = tempfile::tempdir().unwrap();
        let (up, addr) = (upstream().await, proxy(dir.path()).await);
        let mut conn = TcpStream::connect(addr).await.unwrap();
        let requests = format!(
            "GET http://{up}/a HTTP/1.1\r\nHost: {up}\r\n\r\n\
             POST http://{up}/b HTTP/1.1\r\nHost: {up}\r\nContent-Length: 5\r\n\r\nhello\
             HEAD http://{up}/c HTTP/1.1\r\nHost: {up}\r\n\r\n\
             GET http://{addr}/itself HTTP/1.1\r\nHost: {addr}\r\n\r\n\
             POST http://{up}/d HTTP/1.1\r\nHost: {up}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nworld\r\n0\r\n\r\n\
             GET http://{up}/e HTTP/1.1\r\nHost: {up}\r\nConnection: close\r\n\r\n"
        );
        conn.write_all(requests.as_bytes()).await.unwrap();
        let answers = responses(&mut conn, &[2]).await;
        let bodies: Vec<(u16, &str)> = answers.iter().map(|(code, _, body)| (*code, body.as_str())).collect();
        assert_eq!(bodies[..3], [(200, "GET /a "), (200, "POST /b hello"), (200, "")]);
        // The HEAD answer keeps the length the body would have.
        assert!(answers[2].1.contains(&("content-length".into(), "8".into())), "{:?}", answers[2].1);
        // The proxy itself is refused, with a length and a date.
        let (code, headers, body) = &answers[3];
        assert_eq!(*code, 403, "{body}");
        assert!(body.contains("deny-self-weakening"), "{body}");
        assert!(headers.iter().any(|(n, _)| n == "date"), "{headers:?}");
        assert_eq!(bodies[4..], [(200, "POST /d world"), (200, "GET /e ")]);
        assert!(answers[5].1.contains(&("connection".into(), "close".into())), "{:?}", answers[5].1);
    }

    /// A request whose length could be read two ways is read as hyper reads it: with both a
    /// length and the chunked coding, as chunked and the connection closed after it (RFC 9112
    /// §6.3), so what follows cannot pass as a request of its own; two lengths, or a last
    /// coding that is not chunked, refused.
    #[tokio::test]
    async fn a_request_framed_two_ways_is_read_one_way_or_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (up, addr) = (upstream().await, proxy(dir.path()).await);
        for (framing, code, body) in [
            ("Content-Length: 5\r\nTransfer-Encoding: chunked", 200, "POST / hello"),
            ("Content-Length: 5\r\nContent-Length: 6", 400, ""),
            ("Transfer-Encoding: chunked, identity", 400, ""),
        ] {
            let mut conn = TcpStream::connect(addr).await.unwrap();
            let request = format!(
                "POST http://{up}/ HTTP/1.1\r\nHost: {up}\r\n{framing}\r\n\r\n5\r\nhello\r\n0\r\n\r\n\
                 GET http://{up}/smuggled HTTP/1.1\r\nHost: {up}\r\n\r\n"
            );
            conn.write_all(request.as_bytes()).await.unwrap();
            let answers = responses(&mut conn, &[]).await;
            assert_eq!(answers.len(), 1, "{framing}: {answers:?}");
            let (got, headers, text) = &answers[0];
            assert_eq!((*got, text.as_str()), (code, body), "{framing}");
            assert!(headers.contains(&("connection".into(), "close".into())), "{framing}: {headers:?}");
        }
    }

    /// A response body of no stated length goes to the agent chunked, and the agent's
    /// connection stays open for the next request.
    #[tokio::test]
    async fn a_body_of_no_stated_length_is_sent_chunked_on_a_connection_kept_open() {
        let dir = tempfile::tempdir().unwrap();
        let (up, addr) = (upstream().await, proxy(dir.path()).await);
        let mut conn = TcpStream::connect(addr).await.unwrap();
        let requests = format!(
            "GET http://{up}/stream HTTP/1.1\r\nHost: {up}\r\n\r\n\
             GET http://{up}/after HTTP/1.1\r\nHost: {up}\r\nConnection: close\r\n\r\n"
        );
        conn.write_all(requests.as_bytes()).await.unwrap();
        let answers = responses(&mut conn, &[]).await;
        assert_eq!(answers.len(), 2, "{answers:?}");
        assert!(answers[0].1.contains(&("transfer-encoding".into(), "chunked".into())), "{:?}", answers[0].1);
        assert_eq!(answers[0].2, "streamed without a length");
        assert_eq!(answers[1].2, "GET /after ");
    }

    /// At shutdown a connection waiting between requests closes at once: serving ends long
    /// before the grace period would.
    #[tokio::test]
    async fn a_connection_between_requests_closes_when_shutdown_begins() {
        let dir = tempfile::tempdir().unwrap();
        let up = upstream().await;
        let proxy = crate::listener::test_proxy(dir.path()).await;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let stopped = async move {
            let _ = stopped.await;
        };
        let serving = tokio::spawn(crate::serve(listener, proxy, stopped, Duration::from_secs(600)));
        let mut conn = TcpStream::connect(addr).await.unwrap();
        conn.write_all(format!("GET http://{up}/kept HTTP/1.1\r\nHost: {up}\r\n\r\n").as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        while !answer.ends_with(b"GET /kept ") {
            let mut more = [0u8; 1024];
            let n = conn.read(&mut more).await.unwrap();
            assert!(n > 0, "closed after {}", String::from_utf8_lossy(&answer));
            answer.extend_from_slice(&more[..n]);
        }
        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(60), serving)
            .await
            .expect("shutdown waited for an idle connection")
            .unwrap();
        let mut rest = Vec::new();
        assert_eq!(conn.read_to_end(&mut rest).await.unwrap(), 0, "{}", String::from_utf8_lossy(&rest));
    }

    /// A head read as plain here is read the same by hyper's server: method, target, every
    /// header and the body's bytes — on a table of heads near the edges of the grammar.
    #[tokio::test]
    async fn a_plain_head_is_read_as_hyper_reads_it() {
        let many: String = (0..60).map(|i| format!("X-{i}: {i}\r\n")).collect();
        let heads = [
            "GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n".to_owned(),
            "\r\nGET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n".to_owned(),
            "GET http://a/ HTTP/1.1\nHost: a\n\n".to_owned(),
            "POST http://a/p HTTP/1.1\r\ncontent-length:   5  \r\n\r\nhello".to_owned(),
            "POST http://a/p HTTP/1.1\r\nContent-Length: 005\r\n\r\nhelloGET http://a/next HTTP/1.1\r\n\r\n".to_owned(),
            "PUT http://user:pw@a:8080/x%20y?q=1&r=%2F HTTP/1.1\r\nContent-Length: 0\r\n\r\n".to_owned(),
            "GET http://a/ HTTP/1.1\r\nX!#$%&'*+-.^_`|~: v\r\nTab:\tin\tvalue\r\n\r\n".to_owned(),
            "GET http://a/ HTTP/1.1\r\nObs: caf\u{e9}\r\nConnection: keep-alive, close\r\nTE: trailers\r\n\r\n"
                .to_owned(),
            "OPTIONS http://a:1/ HTTP/1.1\r\nEmpty:\r\n\r\n".to_owned(),
            format!("GET http://a/ HTTP/1.1\r\n{many}\r\n"),
        ];
        for text in &heads {
            let bytes = text.as_bytes();
            let Head::Plain(plain) = read_head(bytes, 1024) else { panic!("{text:?} is not read as plain") };
            let ours = (
                plain.method.clone(),
                plain.uri.to_string(),
                plain.headers.iter().map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec())).collect::<Vec<_>>(),
                bytes[plain.head..plain.head + plain.body].to_vec(),
            );
            let theirs = hyper_reads(bytes).await.unwrap_or_else(|| panic!("hyper refuses {text:?}"));
            assert_eq!(
                (ours.0.as_str(), ours.1, ours.2, ours.3),
                (theirs.method.as_str(), theirs.uri, theirs.headers, theirs.body),
                "{text:?}"
            );
        }
    }

    /// An agent that sends part of a head and then nothing, or one request and then nothing, is
    /// closed after one or two periods of `HEAD_TIMEOUT` (on a paused clock: no real waiting).
    #[tokio::test(start_paused = true)]
    async fn an_agent_that_sends_no_whole_request_is_closed_within_two_periods() {
        let dir = tempfile::tempdir().unwrap();
        let proxy = crate::listener::test_proxy(dir.path()).await;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // Port 1 on loopback refuses at once: the answer is a 502, and the request is whole.
        for (sent, periods) in
            [("GET http://127.0.0.1:1/ HTTP/1.1\r\nHo", 1), ("GET http://127.0.0.1:1/ HTTP/1.1\r\n\r\n", 2)]
        {
            let mut agent = TcpStream::connect(addr).await.unwrap();
            let (conn, _) = listener.accept().await.unwrap();
            let start = Instant::now();
            let watcher = proxy.watcher().unwrap();
            tokio::spawn(serve(Arc::clone(&proxy), conn, Live::detached(), watcher));
            agent.write_all(sent.as_bytes()).await.unwrap();
            let mut answer = Vec::new();
            agent.read_to_end(&mut answer).await.unwrap();
            let waited = start.elapsed();
            assert!(
                waited >= HEAD_TIMEOUT * periods && waited < HEAD_TIMEOUT * (periods + 1),
                "{sent:?}: closed after {waited:?}"
            );
            let answered = String::from_utf8_lossy(&answer);
            assert_eq!(answered.starts_with("HTTP/1.1 502"), periods == 2, "{sent:?}: {answered}");
        }
    }
}
