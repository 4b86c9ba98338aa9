//! Frames of the PostgreSQL frontend/backend protocol, version 3: the startup packet and
//! typed messages read with size limits, and the few backend messages the proxy writes itself.

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};

/// The startup packet's protocol code for version 3.0.
pub(crate) const PROTOCOL_3: i32 = 196_608;
/// `SSLRequest`'s code.
pub(crate) const SSL_REQUEST: i32 = 80_877_103;
/// `GSSENCRequest`'s code.
pub(crate) const GSSENC_REQUEST: i32 = 80_877_104;
/// `CancelRequest`'s code.
pub(crate) const CANCEL_REQUEST: i32 = 80_877_102;
/// The largest startup packet read (PostgreSQL's own limit).
const STARTUP_MAX: usize = 10_000;
/// The largest message read from a client or server.
pub(crate) const MESSAGE_MAX: usize = 256 << 20;

/// Why a connection's messages could not be read.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The socket failed or closed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The bytes are not the protocol.
    #[error("protocol violation: {0}")]
    Protocol(String),
}

/// One typed message: its tag and its body (without the length).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The tag byte (`Q`, `P`, `R`...).
    pub tag: u8,
    /// The body.
    pub body: Vec<u8>,
}

impl Message {
    /// The message as sent on the wire.
    pub fn encode(&self) -> Vec<u8> {
        message(self.tag, &self.body)
    }

    /// Appends the message as sent on the wire to `out`.
    pub(crate) fn write_to(&self, out: &mut Vec<u8>) {
        out.push(self.tag);
        out.extend_from_slice(&i32::try_from(self.body.len() + 4).unwrap_or(i32::MAX).to_be_bytes());
        out.extend_from_slice(&self.body);
    }
}

/// What a frontend message is, as far as the proxy cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frontend<'a> {
    /// `Q`: a simple query.
    Query(&'a str),
    /// `P`: a statement prepared under a name (`""`: the unnamed statement).
    Parse {
        /// The prepared statement's name.
        name: &'a str,
        /// The statement's text.
        query: &'a str,
    },
    /// `B`: a portal bound to a prepared statement.
    Bind {
        /// The portal's name.
        portal: &'a str,
        /// The prepared statement's name.
        statement: &'a str,
    },
    /// `E`, `D`, `C`: execute, describe or close a portal or statement.
    Extended,
    /// `F`: a function called by its OID, outside any statement.
    FunctionCall,
    /// `S`: the end of an extended-protocol batch.
    Sync,
    /// `X`: the client leaves.
    Terminate,
    /// `d`, `c`, `f`, `H`: COPY data and its end, flush: relayed as they are.
    Relay,
}

/// Reads what a frontend message is; a message that is not the protocol is an error.
pub fn decode_frontend(message: &Message) -> Result<Frontend<'_>, WireError> {
    let body = &message.body;
    match message.tag {
        b'Q' => {
            let mut at = 0;
            let text = cstr(body, &mut at)
                .ok_or_else(|| WireError::Protocol("a Query message without its terminating NUL".into()))?;
            if at != body.len() {
                return Err(WireError::Protocol("bytes after a Query message's text".into()));
            }
            Ok(Frontend::Query(text))
        }
        b'P' => {
            let bad = || WireError::Protocol("a Parse message without its name and text".into());
            let mut at = 0;
            let name = cstr(body, &mut at).ok_or_else(bad)?;
            let query = cstr(body, &mut at).ok_or_else(bad)?;
            let count: [u8; 2] = body.get(at..at + 2).and_then(|c| c.try_into().ok()).ok_or_else(bad)?;
            if body.len() != at + 2 + 4 * usize::from(u16::from_be_bytes(count)) {
                return Err(WireError::Protocol("a Parse message whose parameter types do not add up".into()));
            }
            Ok(Frontend::Parse { name, query })
        }
        b'B' => {
            let bad = || WireError::Protocol("a Bind message without its portal and statement names".into());
            let mut at = 0;
            let portal = cstr(body, &mut at).ok_or_else(bad)?;
            let statement = cstr(body, &mut at).ok_or_else(bad)?;
            Ok(Frontend::Bind { portal, statement })
        }
        b'E' | b'D' | b'C' => Ok(Frontend::Extended),
        b'F' => Ok(Frontend::FunctionCall),
        b'S' => Ok(Frontend::Sync),
        b'X' => Ok(Frontend::Terminate),
        b'd' | b'c' | b'f' | b'H' => Ok(Frontend::Relay),
        other => Err(WireError::Protocol(format!("unexpected frontend message {:?}", char::from(other)))),
    }
}

/// Reads a startup packet's body (after its length), at most [`STARTUP_MAX`] bytes.
pub(crate) async fn read_startup<R: AsyncRead + Unpin>(r: &mut R) -> Result<Vec<u8>, WireError> {
    let len = r.read_i32().await?;
    let len = usize::try_from(len)
        .ok()
        .filter(|l| (8..=STARTUP_MAX).contains(l))
        .ok_or_else(|| WireError::Protocol(format!("a startup packet of {len} bytes")))?;
    let mut body = vec![0; len - 4];
    r.read_exact(&mut body).await?;
    Ok(body)
}

/// The code at the start of a startup packet's body.
pub(crate) fn startup_code(body: &[u8]) -> Option<i32> {
    body.get(..4).and_then(|b| b.try_into().ok()).map(i32::from_be_bytes)
}

/// The parameters of a version-3 startup packet's body (after the code).
pub fn startup_params(body: &[u8]) -> Result<Vec<(String, String)>, WireError> {
    let bad = || WireError::Protocol("a startup packet whose parameters are not NUL-terminated pairs".into());
    let rest = body.get(4..).ok_or_else(bad)?;
    let mut at = 0;
    let mut params = Vec::new();
    loop {
        let name = cstr(rest, &mut at).ok_or_else(bad)?;
        if name.is_empty() {
            break;
        }
        let value = cstr(rest, &mut at).ok_or_else(bad)?;
        params.push((name.to_owned(), value.to_owned()));
    }
    if at != rest.len() {
        return Err(bad());
    }
    Ok(params)
}

/// Reads one typed message of at most `max` bytes.
pub(crate) async fn read_message<R: AsyncRead + Unpin>(r: &mut R, max: usize) -> Result<Message, WireError> {
    let tag = r.read_u8().await?;
    let len = body_len(tag, r.read_i32().await?, max)?;
    let mut body = vec![0; len];
    r.read_exact(&mut body).await?;
    Ok(Message { tag, body })
}

/// Reads one typed message as [`read_message`] does, taken straight from the reader's buffer
/// when it holds the whole message (a statement usually comes in one read): one copy instead
/// of a read for its tag, its length and its body, and no zeroed buffer.
pub(crate) async fn read_buffered<R: AsyncRead + Unpin>(
    r: &mut BufReader<R>,
    max: usize,
) -> Result<Message, WireError> {
    if r.buffer().is_empty() {
        r.fill_buf().await?;
    }
    if let Some((message, used)) = whole_message(r.buffer(), max)? {
        r.consume(used);
        return Ok(message);
    }
    read_message(r, max).await
}

/// The first message of `buf` and the bytes it takes, when `buf` holds all of it; an error for
/// a length [`read_message`] refuses. Public for the fuzz target only.
#[doc(hidden)]
pub fn whole_message(buf: &[u8], max: usize) -> Result<Option<(Message, usize)>, WireError> {
    let [tag, a, b, c, d, rest @ ..] = buf else { return Ok(None) };
    let len = body_len(*tag, i32::from_be_bytes([*a, *b, *c, *d]), max)?;
    Ok(rest.get(..len).map(|body| (Message { tag: *tag, body: body.to_vec() }, 5 + len)))
}

/// The body length a message's length field gives (it counts itself), if at most `max`.
fn body_len(tag: u8, len: i32, max: usize) -> Result<usize, WireError> {
    usize::try_from(len)
        .ok()
        .and_then(|l| l.checked_sub(4))
        .filter(|l| *l <= max)
        .ok_or_else(|| WireError::Protocol(format!("a {:?} message of {len} bytes", char::from(tag))))
}

/// A NUL-terminated UTF-8 string at `*at`; `*at` moves past its NUL.
pub(crate) fn cstr<'a>(body: &'a [u8], at: &mut usize) -> Option<&'a str> {
    let rest = body.get(*at..)?;
    let end = rest.iter().position(|b| *b == 0)?;
    let text = std::str::from_utf8(rest.get(..end)?).ok()?;
    *at += end + 1;
    Some(text)
}

/// A typed message's bytes.
pub(crate) fn message(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 5);
    out.push(tag);
    let len = i32::try_from(body.len() + 4).unwrap_or(i32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// An `AuthenticationRequest` (`R`) with its code and data.
pub(crate) fn auth(code: i32, data: &[u8]) -> Vec<u8> {
    let mut body = code.to_be_bytes().to_vec();
    body.extend_from_slice(data);
    message(b'R', &body)
}

/// An `ErrorResponse` with severity, SQLSTATE and message.
pub(crate) fn error_response(severity: &str, code: &str, text: &str) -> Vec<u8> {
    let mut body = Vec::new();
    for (field, value) in [(b'S', severity), (b'V', severity), (b'C', code), (b'M', text)] {
        body.push(field);
        body.extend_from_slice(value.replace('\0', " ").as_bytes());
        body.push(0);
    }
    body.push(0);
    message(b'E', &body)
}

/// A NUL-terminated string's bytes.
pub(crate) fn push_cstr(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(text.as_bytes());
    out.push(0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frontend_messages_decode_and_bad_ones_are_errors() {
        let q = Message { tag: b'Q', body: b"SELECT 1\0".to_vec() };
        assert_eq!(decode_frontend(&q).unwrap(), Frontend::Query("SELECT 1"));
        assert!(decode_frontend(&Message { tag: b'Q', body: b"SELECT 1".to_vec() }).is_err());
        assert!(decode_frontend(&Message { tag: b'Q', body: b"A\0B\0".to_vec() }).is_err());
        assert!(decode_frontend(&Message { tag: b'P', body: vec![] }).is_err());
        let parse = Message { tag: b'P', body: b"s1\0SELECT $1\0\0\x01\0\0\0\x17".to_vec() };
        assert_eq!(decode_frontend(&parse).unwrap(), Frontend::Parse { name: "s1", query: "SELECT $1" });
        assert!(decode_frontend(&Message { tag: b'P', body: b"s1\0SELECT $1\0\0\x01".to_vec() }).is_err());
        let bind = Message { tag: b'B', body: b"\0s1\0\0\0\0\0\0\0".to_vec() };
        assert_eq!(decode_frontend(&bind).unwrap(), Frontend::Bind { portal: "", statement: "s1" });
        assert_eq!(decode_frontend(&Message { tag: b'E', body: vec![] }).unwrap(), Frontend::Extended);
        assert!(decode_frontend(&Message { tag: b'z', body: vec![] }).is_err());
        let mut startup = PROTOCOL_3.to_be_bytes().to_vec();
        startup.extend_from_slice(b"user\0agent\0database\0app\0\0");
        assert_eq!(
            startup_params(&startup).unwrap(),
            vec![("user".into(), "agent".into()), ("database".into(), "app".into())]
        );
        assert!(startup_params(&startup[..startup.len() - 1]).is_err());
    }

    /// Messages read from the reader's buffer are the ones read field by field, however the
    /// bytes are split between reads, and a bad length is refused alike.
    #[tokio::test]
    async fn buffered_reads_give_the_messages_read_field_by_field() {
        let sent = [
            Message { tag: b'Q', body: b"SELECT 1\0".to_vec() },
            Message { tag: b'P', body: b"s1\0SELECT $1\0\0\x01\0\0\0\x17".to_vec() },
            Message { tag: b'S', body: Vec::new() },
            Message { tag: b'Q', body: [b"SELECT '".as_slice(), &[b'x'; 300], b"'\0"].concat() },
        ];
        let bytes: Vec<u8> = sent.iter().flat_map(Message::encode).collect();
        for capacity in [1, 2, 5, 6, 9, 17, 64, 8192] {
            let mut r = BufReader::with_capacity(capacity, bytes.as_slice());
            let mut read = Vec::new();
            loop {
                match read_buffered(&mut r, MESSAGE_MAX).await {
                    Ok(m) => read.push(m),
                    Err(WireError::Io(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                    Err(e) => panic!("capacity {capacity}: {e}"),
                }
            }
            assert_eq!(read, sent, "capacity {capacity}");
        }
        for (len, max) in [(3, MESSAGE_MAX), (-1, MESSAGE_MAX), (4 + 11, 10)] {
            let mut bad = vec![b'Q'];
            bad.extend_from_slice(&i32::to_be_bytes(len));
            bad.extend_from_slice(&[b'x'; 16]);
            let buffered = read_buffered(&mut BufReader::new(bad.as_slice()), max).await.unwrap_err();
            let fielded = read_message(&mut bad.as_slice(), max).await.unwrap_err();
            assert!(matches!(buffered, WireError::Protocol(_)), "{buffered}");
            assert_eq!(buffered.to_string(), fielded.to_string());
        }
    }
}
