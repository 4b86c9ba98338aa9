//! Lower-case hex, the text form of digests, keys and signatures across Holdpoint.

/// Bytes as lower-case hex.
#[must_use]
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    let _ = write(&mut out, bytes);
    out
}

/// Each byte's two hex digits.
#[allow(clippy::indexing_slicing)] // evaluated when building: an index out of range fails the build
static PAIRS: [[u8; 2]; 256] = {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut pairs = [[0u8; 2]; 256];
    let mut i = 0;
    while i < 256 {
        pairs[i] = [DIGITS[i >> 4], DIGITS[i & 0x0f]];
        i += 1;
    }
    pairs
};

/// Writes bytes as lower-case hex, 32 bytes per write rather than a formatted write per byte,
/// each byte's digits from a table (a digest is written into every audit record, twice).
pub fn write(out: &mut impl std::fmt::Write, bytes: &[u8]) -> std::fmt::Result {
    let mut buf = [0u8; 64];
    for chunk in bytes.chunks(buf.len() / 2) {
        for (slot, byte) in buf.chunks_exact_mut(2).zip(chunk) {
            slot.copy_from_slice(PAIRS.get(usize::from(*byte)).unwrap_or(&[b'0'; 2]));
        }
        let text = buf.get(..chunk.len() * 2).and_then(|b| std::str::from_utf8(b).ok()).ok_or(std::fmt::Error)?;
        out.write_str(text)?;
    }
    Ok(())
}

/// Lower-case hex into bytes; `None` for an odd length or any other character.
#[must_use]
pub fn decode(s: &str) -> Option<Vec<u8>> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let bytes = s.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes
        .chunks_exact(2)
        .map(|p| if let [hi, lo] = p { Some((digit(*hi)? << 4) | digit(*lo)?) } else { None })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let bytes = vec![0u8, 1, 0x7f, 0xab, 0xff];
        assert_eq!(encode(&bytes), "00017fabff");
        assert_eq!(decode(&encode(&bytes)), Some(bytes));
        assert_eq!(decode(""), Some(vec![]));
        assert_eq!(decode("abc"), None);
        assert_eq!(decode("zz"), None);
        assert_eq!(decode("AB"), None, "upper case is not the canonical form");
    }

    #[test]
    fn long_inputs_are_written_whole() {
        let bytes: Vec<u8> = (0..=255u8).chain(0..=100).collect();
        let expected: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(encode(&bytes), expected);
        assert_eq!(decode(&expected), Some(bytes));
    }
}
