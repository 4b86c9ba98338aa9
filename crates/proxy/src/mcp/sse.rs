//! Server-sent events (the WHATWG event-stream format), read incrementally without IO: the
//! streamable-HTTP transport answers with them, and the gateway must see (and redact) every
//! message before the agent does.

/// One event of a stream.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Event {
    /// `id:`, the id a client resumes from.
    pub id: Option<String>,
    /// `event:`, the event type.
    pub event: Option<String>,
    /// `retry:`, the reconnection time the server asks for.
    pub retry: Option<String>,
    /// The `data:` lines joined with newlines; `None` for an event without data (a comment
    /// or a keep-alive).
    pub data: Option<String>,
}

impl Event {
    /// The event as it is written on the wire, ending with its blank line. An event with
    /// nothing in it is written as an empty comment (a keep-alive).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        for (name, value) in [("id", &self.id), ("event", &self.event), ("retry", &self.retry)] {
            if let Some(value) = value {
                out.push_str(name);
                out.push_str(": ");
                out.push_str(&single_line(value));
                out.push('\n');
            }
        }
        if let Some(data) = &self.data {
            for line in data.split('\n') {
                out.push_str("data: ");
                out.push_str(line.strip_suffix('\r').unwrap_or(line));
                out.push('\n');
            }
        }
        if out.is_empty() {
            out.push_str(":\n");
        }
        out.push('\n');
        out
    }
}

/// A field value without the line breaks that would end it early.
fn single_line(value: &str) -> String {
    value.replace(['\r', '\n'], " ")
}

/// An event larger than the reader takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooLong {
    /// The limit, in bytes.
    pub max: usize,
}

impl std::fmt::Display for TooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "an event longer than {} bytes", self.max)
    }
}

impl std::error::Error for TooLong {}

/// Reads events from the bytes of a stream as they arrive.
#[derive(Debug)]
pub struct Reader {
    max: usize,
    /// Bytes of a line not ended yet.
    pending: Vec<u8>,
    /// The event being read.
    current: Event,
    /// Whether the event being read has any field (a comment counts).
    started: bool,
    /// Bytes of the event being read.
    size: usize,
}

impl Reader {
    /// A reader that refuses events (or lines) longer than `max` bytes.
    pub fn new(max: usize) -> Reader {
        Reader { max, pending: Vec::new(), current: Event::default(), started: false, size: 0 }
    }

    /// Takes the next bytes of the stream; gives the events they complete. An event is
    /// complete at its blank line; what is left at the end of the stream is dropped, as the
    /// format says.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<Event>, TooLong> {
        let mut pending = std::mem::take(&mut self.pending);
        pending.extend_from_slice(bytes);
        let mut events = Vec::new();
        let mut at = 0;
        while let Some(rest) = pending.get(at..) {
            let Some(end) = rest.iter().position(|b| *b == b'\n' || *b == b'\r') else { break };
            let ending = match (rest.get(end), rest.get(end + 1)) {
                (Some(b'\r'), Some(b'\n')) => 2,
                // A carriage return at the end of what arrived may be half of CRLF.
                (Some(b'\r'), None) => break,
                _ => 1,
            };
            self.line(rest.get(..end).unwrap_or_default(), &mut events)?;
            at += end + ending;
        }
        pending.drain(..at.min(pending.len()));
        if pending.len() + self.size > self.max {
            return Err(TooLong { max: self.max });
        }
        self.pending = pending;
        Ok(events)
    }

    fn line(&mut self, line: &[u8], events: &mut Vec<Event>) -> Result<(), TooLong> {
        if line.is_empty() {
            if self.started {
                events.push(std::mem::take(&mut self.current));
            }
            self.started = false;
            self.size = 0;
            return Ok(());
        }
        self.size += line.len() + 1;
        if self.size > self.max {
            return Err(TooLong { max: self.max });
        }
        self.started = true;
        let line = String::from_utf8_lossy(line);
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_ref(), ""),
        };
        match field {
            "" => {} // a comment
            "data" => match &mut self.current.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.current.data = Some(value.to_owned()),
            },
            "id" if !value.contains('\0') => self.current.id = Some(value.to_owned()),
            "event" => self.current.event = Some(value.to_owned()),
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                self.current.retry = Some(value.to_owned());
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(chunks: &[&[u8]]) -> Vec<Event> {
        let mut reader = Reader::new(1 << 10);
        chunks.iter().flat_map(|c| reader.push(c).unwrap()).collect()
    }

    #[test]
    fn events_are_read_whatever_the_chunks_and_line_endings() {
        let whole: &[u8] = b"id: 1\nevent: message\ndata: {\"a\":\ndata: 1}\n\n: ping\n\nretry: 300\r\ndata:x\r\n\r\n";
        let expected = vec![
            Event {
                id: Some("1".into()),
                event: Some("message".into()),
                retry: None,
                data: Some("{\"a\":\n1}".into()),
            },
            Event::default(),
            Event { retry: Some("300".into()), data: Some("x".into()), ..Event::default() },
        ];
        assert_eq!(all(&[whole]), expected);
        let bytes: Vec<&[u8]> = whole.chunks(1).collect();
        assert_eq!(all(&bytes), expected);
        assert_eq!(
            all(&[b"data: a\r", b"\r", b"data: b\n\ndata: unfinished"]),
            vec![
                Event { data: Some("a".into()), ..Event::default() },
                Event { data: Some("b".into()), ..Event::default() },
            ]
        );
    }

    #[test]
    fn encoding_round_trips_and_keeps_fields_on_one_line() {
        let event = Event {
            id: Some("7\nevent: forged".into()),
            event: Some("message".into()),
            retry: None,
            data: Some("{\"x\":1}\nsecond".into()),
        };
        let read = all(&[event.encode().as_bytes()]);
        assert_eq!(read.len(), 1);
        assert_eq!(read[0].id.as_deref(), Some("7 event: forged"));
        assert_eq!(read[0].data, event.data);
        assert_eq!(Event::default().encode(), ":\n\n");
    }

    #[test]
    fn long_events_are_refused() {
        let mut reader = Reader::new(16);
        assert!(reader.push(b"data: 0123456789").is_ok());
        assert_eq!(reader.push(b"abcdef\n"), Err(TooLong { max: 16 }));
        let mut reader = Reader::new(16);
        assert!(reader.push(b"data: 01234\ndata: 56789\ndata: x\n").is_err());
    }
}
