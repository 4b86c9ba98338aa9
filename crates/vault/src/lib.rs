//! Holdpoint's vault: real secrets encrypted at rest, placeholders that only Holdpoint's
//! proxies turn back into the real value for the host, methods and paths a secret is bound to,
//! `.env` import, and the plaintext secret scanner behind `holdpoint scan`.
#![forbid(unsafe_code)]

pub mod scan;
