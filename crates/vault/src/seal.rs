//! XChaCha20-Poly1305 with a random 24-byte nonce: `sealed = nonce || ciphertext || tag`.

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

use crate::Error;
use crate::key::VaultKey;

/// Bytes of the nonce at the start of every sealed value.
pub(crate) const NONCE_LEN: usize = 24;

/// Encrypts `plaintext` under `key`, bound to `aad`.
pub(crate) fn seal(key: &VaultKey, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, Error> {
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(|e| Error::Random(e.to_string()))?;
    let cipher = XChaCha20Poly1305::new(key.bytes().into());
    let body = cipher
        .encrypt(XNonce::from_slice(&nonce), Payload { msg: plaintext, aad })
        .map_err(|_| Error::Seal("the cipher refused the message".into()))?;
    let mut out = Vec::with_capacity(NONCE_LEN + body.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&body);
    Ok(out)
}

/// Decrypts what [`seal`] made with the same key and `aad`; `None` for any other input.
pub(crate) fn open(key: &VaultKey, aad: &[u8], sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    let (nonce, body) = sealed.split_at_checked(NONCE_LEN)?;
    let cipher = XChaCha20Poly1305::new(key.bytes().into());
    cipher.decrypt(XNonce::from_slice(nonce), Payload { msg: body, aad }).ok().map(Zeroizing::new)
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    holdpoint_core::hex::encode(bytes)
}

/// Hex (either case) into bytes; `None` for anything else.
pub(crate) fn unhex(s: &str) -> Option<Vec<u8>> {
    holdpoint_core::hex::decode(&s.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key_and_aad() {
        let key = VaultKey::generate().unwrap();
        let sealed = seal(&key, b"aad", b"secret").unwrap();
        assert_eq!(open(&key, b"aad", &sealed).unwrap().as_slice(), b"secret");
        assert!(open(&key, b"other", &sealed).is_none());
        assert!(open(&VaultKey::generate().unwrap(), b"aad", &sealed).is_none());
        let mut flipped = sealed.clone();
        if let Some(b) = flipped.last_mut() {
            *b ^= 1;
        }
        assert!(open(&key, b"aad", &flipped).is_none());
        assert!(open(&key, b"aad", &sealed[..10]).is_none());
        assert_ne!(seal(&key, b"aad", b"secret").unwrap(), sealed, "a fresh nonce every time");
    }

    #[test]
    fn hex_round_trips() {
        assert_eq!(unhex(&hex(&[0, 0xab, 0xff])), Some(vec![0, 0xab, 0xff]));
        assert_eq!(unhex("ABff"), Some(vec![0xab, 0xff]));
        assert_eq!(unhex("abc"), None);
        assert_eq!(unhex("zz"), None);
    }
}
