//! Untrusted PostgreSQL frontend bytes (what an agent sends the PostgreSQL proxy): startup
//! parameters and typed messages decode or fail without panicking, a decoded query is exactly
//! the message's text, a Parse or Bind names what its body starts with, and a message taken
//! whole from a read buffer is the one its header frames.
#![no_main]

use holdpoint_proxy::pg::{Frontend, Message, decode_frontend, startup_params, whole_message};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(params) = startup_params(data) {
        for (name, value) in params {
            assert!(!name.is_empty() && !name.contains('\0') && !value.contains('\0'));
        }
    }
    let mut rest = data;
    const MAX: usize = 1 << 12;
    match (rest, whole_message(rest, MAX)) {
        ([tag, a, b, c, d, tail @ ..], framed) => {
            let field = i32::from_be_bytes([*a, *b, *c, *d]);
            match usize::try_from(field).ok().and_then(|l| l.checked_sub(4)).filter(|l| *l <= MAX) {
                None => assert!(framed.is_err()),
                Some(len) if len > tail.len() => assert!(matches!(framed, Ok(None))),
                Some(len) => {
                    let (m, used) = framed.unwrap().unwrap();
                    assert_eq!((m.tag, m.body.as_slice(), used), (*tag, &tail[..len], 5 + len));
                }
            }
        }
        (_, framed) => assert!(matches!(framed, Ok(None))),
    }
    while let [tag, a, b, c, d, tail @ ..] = rest {
        let len = usize::try_from(i32::from_be_bytes([*a, *b, *c, *d])).unwrap_or(0).saturating_sub(4);
        let take = len.min(tail.len());
        let message = Message { tag: *tag, body: tail[..take].to_vec() };
        match decode_frontend(&message) {
            Ok(Frontend::Query(sql)) => assert_eq!(message.body, [sql.as_bytes(), &[0]].concat()),
            // A Parse is its name and text, each NUL-terminated, then the parameter types.
            Ok(Frontend::Parse { name, query }) => {
                let head = [name.as_bytes(), &[0], query.as_bytes(), &[0]].concat();
                assert!(message.body.starts_with(&head) && !name.contains('\0') && !query.contains('\0'));
            }
            Ok(Frontend::Bind { portal, statement }) => {
                let head = [portal.as_bytes(), &[0], statement.as_bytes(), &[0]].concat();
                assert!(message.body.starts_with(&head));
            }
            _ => {}
        }
        let _ = message.encode();
        rest = &tail[take..];
    }
});
