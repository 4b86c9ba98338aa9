//! Untrusted event streams from a streamable-HTTP MCP server, split into chunks at arbitrary
//! points: the reader never panics, gives the same events however the bytes arrive, refuses
//! events over its limit, and every event it gives encodes to bytes it reads back the same.
#![no_main]

use holdpoint_proxy::mcp::sse::Reader;
use libfuzzer_sys::fuzz_target;

const MAX: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, stream)) = data.split_first() else { return };
    let cut = usize::from(cut).min(stream.len());
    let (first, second) = stream.split_at(cut);
    let mut whole = Reader::new(MAX);
    let Ok(at_once) = whole.push(stream) else { return };
    let mut split = Reader::new(MAX);
    let mut in_two = split.push(first).unwrap_or_default();
    in_two.extend(split.push(second).unwrap_or_default());
    assert_eq!(at_once, in_two, "the chunking changed the events");
    for event in at_once {
        let encoded = event.encode();
        let mut again = Reader::new(usize::MAX);
        let read = again.push(encoded.as_bytes()).expect("no limit");
        assert_eq!(read.len(), 1, "{encoded:?}");
        assert_eq!(read[0].data, event.data.map(|d| d.replace('\r', "")), "{encoded:?}");
    }
});
