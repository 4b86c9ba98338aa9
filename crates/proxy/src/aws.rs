//! AWS SigV4 re-signing: an agent holding the placeholder pair of an `aws` vault secret signs
//! its requests with them (access key id = the key-id placeholder, secret key = the secret
//! placeholder). The proxy finds the placeholder in the `Authorization` header's `Credential`
//! and signs the request again with the real pair (aws-sigv4): same region and service (from
//! the credential scope), same signed headers, the payload hash the client sent, a fresh
//! `X-Amz-Date`.
//!
//! S3 streaming uploads are re-signed too: `STREAMING-UNSIGNED-PAYLOAD-TRAILER` signs only the
//! headers; for `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` each chunk's signature is chained from the
//! new seed signature, so [`ChunkSigner`] signs every chunk of the aws-chunked body again as it
//! streams through (the body keeps its length: a signature is 64 hex digits either way).
//!
//! Not re-signed, and refused with the reason: presigned URLs (`X-Amz-Credential` in the
//! query), SigV4a, and the streaming forms with a signed trailer or ECDSA chunk signatures.

use std::time::SystemTime;

use aws_sigv4::http_request::{
    PercentEncodingMode, SignableBody, SignableRequest, SigningSettings, UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use holdpoint_core::Denial;
use secrecy::{ExposeSecret, SecretString};

/// The SigV4 algorithm this module re-signs.
const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// A SigV4 `Authorization` header, read.
#[derive(Debug, PartialEq, Eq)]
pub struct SigV4<'a> {
    /// The access key id of the credential (a placeholder, when the proxy re-signs).
    pub access_key_id: &'a str,
    /// The region of the credential scope.
    pub region: &'a str,
    /// The service of the credential scope.
    pub service: &'a str,
    /// The signed header names, lower-case, as the client listed them.
    pub signed_headers: Vec<&'a str>,
}

/// Reads `AWS4-HMAC-SHA256 Credential=KEY/DATE/REGION/SERVICE/aws4_request, SignedHeaders=a;b,
/// Signature=…`; `None` when the value is not such a header (another scheme, SigV4a, a
/// malformed credential).
pub fn parse_authorization(value: &str) -> Option<SigV4<'_>> {
    let rest = value.trim_start().strip_prefix(ALGORITHM)?;
    if !rest.starts_with(' ') {
        return None;
    }
    let mut credential = None;
    let mut signed = None;
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(c) = part.strip_prefix("Credential=") {
            credential = Some(c);
        } else if let Some(s) = part.strip_prefix("SignedHeaders=") {
            signed = Some(s);
        }
    }
    let scope: Vec<&str> = credential?.split('/').collect();
    let [access_key_id, _date, region, service, "aws4_request"] = scope.as_slice() else { return None };
    let signed_headers: Vec<&str> = signed?.split(';').map(str::trim).filter(|h| !h.is_empty()).collect();
    if access_key_id.is_empty() || region.is_empty() || service.is_empty() || signed_headers.is_empty() {
        return None;
    }
    Some(SigV4 { access_key_id, region, service, signed_headers })
}

/// The request parts a re-signing covers.
#[derive(Clone, Copy, Debug)]
pub struct ToSign<'a> {
    /// The method.
    pub method: &'a str,
    /// The absolute URL, as sent (already encoded).
    pub url: &'a str,
    /// The headers, as the client sent them.
    pub headers: &'a [(String, String)],
    /// The complete body, when the proxy has all of it.
    pub body: Option<&'a [u8]>,
}

/// The real key pair.
#[derive(Clone, Copy)]
pub struct KeyPair<'a> {
    /// The access key id.
    pub access_key_id: &'a SecretString,
    /// The secret access key.
    pub secret_access_key: &'a SecretString,
}

impl std::fmt::Debug for KeyPair<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyPair([redacted])")
    }
}

/// Why an S3 upload signed with a streaming form the proxy cannot sign again is refused: no
/// approval could make its signatures valid, so it is not queued as a hold.
pub const STREAMING_REFUSED: &str = "it is an S3 upload whose streaming payload signing (a signed trailer, or \
     ECDSA chunk signatures) the proxy cannot sign again; send it as STREAMING-AWS4-HMAC-SHA256-PAYLOAD, \
     STREAMING-UNSIGNED-PAYLOAD-TRAILER or a single payload instead (e.g. `aws s3api put-object`)";

/// The payload hash of S3 uploads whose every chunk is signed.
pub const STREAMING_SIGNED: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
/// The payload hash of S3 uploads with unsigned chunks and a checksum trailer.
pub const STREAMING_UNSIGNED_TRAILER: &str = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";

/// What re-signing a request gives.
pub struct Resigned {
    /// The headers (`authorization`, `x-amz-date`) that replace the client's.
    pub headers: Vec<(String, SecretString)>,
    /// For a body whose chunks are signed: the signer of those chunks, chained from the new
    /// seed signature.
    pub chunks: Option<ChunkSigner>,
}

/// Signs the chunks of an aws-chunked body, each chained from the one before (the first from
/// the seed signature of the request's `Authorization`).
#[derive(Clone)]
pub struct ChunkSigner {
    key: zeroize::Zeroizing<Vec<u8>>,
    /// `X-Amz-Date` of the request.
    date: String,
    /// `DATE/REGION/SERVICE/aws4_request`.
    scope: String,
    /// The signature of the chunk before (or the seed signature).
    previous: String,
}

impl std::fmt::Debug for ChunkSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkSigner").field("scope", &self.scope).finish_non_exhaustive()
    }
}

/// SHA-256 of nothing, hex: the "previous headers" hash of a chunk's string to sign.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

impl ChunkSigner {
    /// A signer for the request signed at `time` (`X-Amz-Date` `date`) by `secret` for
    /// `region`/`service`, whose seed signature is `seed`.
    pub fn new(secret: &str, time: SystemTime, date: &str, region: &str, service: &str, seed: &str) -> ChunkSigner {
        let key = zeroize::Zeroizing::new(v4::generate_signing_key(secret, time, region, service).as_ref().to_vec());
        let day = date.get(..8).unwrap_or(date);
        ChunkSigner {
            key,
            date: date.to_owned(),
            scope: format!("{day}/{region}/{service}/aws4_request"),
            previous: seed.to_owned(),
        }
    }

    /// The signature of the next chunk, whose data is `data` (empty for the last one).
    pub fn sign(&mut self, data: &[u8]) -> String {
        use sha2::Digest as _;
        let hash = holdpoint_core::hex::encode(&sha2::Sha256::digest(data));
        let to_sign = format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{}\n{EMPTY_SHA256}\n{hash}",
            self.date, self.scope, self.previous
        );
        let signature = v4::calculate_signature(&*self.key, to_sign.as_bytes());
        self.previous.clone_from(&signature);
        signature
    }
}

/// The longest chunk header (`SIZE;chunk-signature=SIG`) read before the body is refused.
const CHUNK_HEADER_MAX: usize = 1024;
/// The largest chunk of an aws-chunked body signed again (S3 clients send 8 KiB to 1 MiB).
const CHUNK_MAX: usize = 16 << 20;

/// One chunk of an aws-chunked body, signed again.
#[derive(Debug, PartialEq, Eq)]
pub struct SignedChunk {
    /// The chunk as it is sent on: its size as the client wrote it, the new signature, the data.
    pub bytes: Vec<u8>,
    /// How many bytes of the input it took.
    pub used: usize,
    /// It is the last (empty) chunk.
    pub last: bool,
}

/// The complete chunk at the front of `buf` (`HEX-SIZE;chunk-signature=SIG\r\nDATA\r\n`),
/// signed again with `signer`; `None` when `buf` holds only part of it. The output has the
/// input's length.
pub fn resign_chunk(buf: &[u8], signer: &mut ChunkSigner) -> Result<Option<SignedChunk>, &'static str> {
    let window = buf.get(..buf.len().min(CHUNK_HEADER_MAX)).unwrap_or(buf);
    let Some(end) = window.windows(2).position(|w| w == b"\r\n") else {
        return if buf.len() >= CHUNK_HEADER_MAX { Err("an aws-chunked header is too long") } else { Ok(None) };
    };
    let header =
        std::str::from_utf8(buf.get(..end).unwrap_or_default()).map_err(|_| "an aws-chunked header is not text")?;
    let no_signature = "an aws-chunked header has no chunk-signature";
    let (size_hex, extension) = header.split_once(';').ok_or(no_signature)?;
    let signature = extension.strip_prefix("chunk-signature=").ok_or(no_signature)?;
    if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("an aws-chunked chunk-signature is not 64 hex digits");
    }
    if size_hex.is_empty() || size_hex.len() > 8 || !size_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("an aws-chunked size is not hex");
    }
    let size = usize::from_str_radix(size_hex, 16).map_err(|_| "an aws-chunked size is not hex")?;
    if size > CHUNK_MAX {
        return Err("an aws-chunked chunk is larger than 16 MiB");
    }
    let data_start = end + 2;
    let total = data_start + size + 2;
    if buf.len() < total {
        return Ok(None);
    }
    let data = buf.get(data_start..data_start + size).unwrap_or_default();
    if buf.get(data_start + size..total) != Some(b"\r\n".as_slice()) {
        return Err("an aws-chunked chunk does not end with CRLF");
    }
    let mut bytes = Vec::with_capacity(total);
    bytes.extend_from_slice(format!("{size_hex};chunk-signature={}\r\n", signer.sign(data)).as_bytes());
    bytes.extend_from_slice(data);
    bytes.extend_from_slice(b"\r\n");
    Ok(Some(SignedChunk { bytes, used: total, last: size == 0 }))
}

/// Whether `body`, read whole, is a well-formed aws-chunked body (every chunk complete, the
/// last one empty, nothing after it); the reason when it is not.
pub fn check_chunked(body: &[u8], signer: &ChunkSigner) -> Result<(), &'static str> {
    let mut signer = signer.clone();
    let mut rest = body;
    loop {
        match resign_chunk(rest, &mut signer)? {
            None => return Err("the aws-chunked body ends inside a chunk"),
            Some(chunk) => {
                rest = rest.get(chunk.used..).unwrap_or_default();
                if chunk.last {
                    return if rest.is_empty() {
                        Ok(())
                    } else {
                        Err("the aws-chunked body goes on after its last chunk")
                    };
                }
            }
        }
    }
}

/// The headers (`authorization`, `x-amz-date`) that replace the client's, signed at `now` with
/// `keys` over the same scope, signed headers and payload hash the client used; and for a body
/// whose chunks are signed, the signer of its chunks.
pub fn resign(request: &ToSign<'_>, auth: &SigV4<'_>, keys: KeyPair<'_>, now: SystemTime) -> Result<Resigned, Denial> {
    let bad = |reason: String| Denial::BadInput { reason };
    // The signer needs an absolute URL: it signs its host as `host` and its path (and it
    // panics on a URL without them).
    let absolute = request.url.parse::<hyper::Uri>().is_ok_and(|uri| {
        uri.scheme().is_some() && uri.host().is_some_and(|h| !h.is_empty()) && uri.path().starts_with('/')
    });
    if !absolute {
        return Err(bad(format!("the AWS request's URL {:?} is not an absolute URL to sign", request.url)));
    }
    let header = |name: &str| request.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v);
    let payload = header("x-amz-content-sha256").map(String::as_str);
    let body = match (payload, request.body) {
        (Some(hash @ (STREAMING_SIGNED | STREAMING_UNSIGNED_TRAILER)), _) => SignableBody::Precomputed(hash.to_owned()),
        (Some(hash), _) if hash.starts_with("STREAMING-") => {
            return Err(Denial::Policy { policy: "proxy-aws-streaming".into(), reason: STREAMING_REFUSED.to_owned() });
        }
        (Some("UNSIGNED-PAYLOAD"), _) => SignableBody::UnsignedPayload,
        (Some(hash), _) => SignableBody::Precomputed(hash.to_owned()),
        (None, Some(body)) => SignableBody::Bytes(body),
        (None, None) => {
            return Err(bad(
                "the AWS request's body is larger than [proxy] max_body and it carries no x-amz-content-sha256, \
                 so it cannot be signed again"
                    .into(),
            ));
        }
    };
    let mut headers: Vec<(&str, &str)> = Vec::with_capacity(auth.signed_headers.len());
    for name in &auth.signed_headers {
        // The signer adds these itself: the host from the URL the request goes to, a fresh date.
        if matches!(*name, "host" | "x-amz-date" | "authorization") {
            continue;
        }
        let mut found = false;
        for (n, v) in request.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)) {
            headers.push((n.as_str(), v.as_str()));
            found = true;
        }
        if !found {
            return Err(bad(format!("the AWS request signs header {name:?}, which it does not carry")));
        }
    }
    let mut settings = SigningSettings::default();
    // Exactly the headers the client signed, no fewer.
    settings.excluded_headers = Some(vec![]);
    if auth.service.starts_with("s3") {
        // S3 signs the path as sent: encoded once, not normalised.
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    }
    let identity = aws_credential_types::Credentials::new(
        keys.access_key_id.expose_secret(),
        keys.secret_access_key.expose_secret(),
        None,
        None,
        "holdpoint-vault",
    )
    .into();
    let failed = |e: &dyn std::fmt::Display| Denial::Internal { reason: format!("AWS re-signing failed ({e})") };
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(auth.region)
        .name(auth.service)
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| failed(&e))?
        .into();
    let signable = SignableRequest::new(request.method, request.url, headers.into_iter(), body)
        .map_err(|e| bad(format!("the AWS request cannot be signed again ({e})")))?;
    let (instructions, seed) = sign(signable, &params).map_err(|e| failed(&e))?.into_parts();
    let headers: Vec<(String, SecretString)> =
        instructions.headers().map(|(n, v)| (n.to_owned(), SecretString::from(v.to_owned()))).collect();
    let chunks = (payload == Some(STREAMING_SIGNED)).then(|| {
        let date = headers.iter().find(|(n, _)| n == "x-amz-date").map(|(_, v)| v.expose_secret()).unwrap_or_default();
        ChunkSigner::new(keys.secret_access_key.expose_secret(), now, date, auth.region, auth.service, &seed)
    });
    Ok(Resigned { headers, chunks })
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUTH: &str = "AWS4-HMAC-SHA256 Credential=hp_abcdefghijklmnopqrstuvwxyz/20261126/us-east-1/s3/aws4_request, \
                        SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=00";

    #[test]
    fn reads_the_credential_scope_and_signed_headers() {
        let got = parse_authorization(AUTH).unwrap();
        assert_eq!(got.access_key_id, "hp_abcdefghijklmnopqrstuvwxyz");
        assert_eq!((got.region, got.service), ("us-east-1", "s3"));
        assert_eq!(got.signed_headers, ["host", "x-amz-content-sha256", "x-amz-date"]);
        for other in [
            "Bearer x",
            "AWS4-HMAC-SHA256Credential=a/b/c/d/aws4_request, SignedHeaders=host",
            "AWS4-ECDSA-P256-SHA256 Credential=a/b/s3/aws4_request, SignedHeaders=host",
            "AWS4-HMAC-SHA256 Credential=a/b/c/aws4_request, SignedHeaders=host",
            "AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request",
        ] {
            assert_eq!(parse_authorization(other), None, "{other}");
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn re_signs_with_the_real_key_and_the_same_scope() {
        let (id, secret) = (SecretString::from("AKIDREAL"), SecretString::from("realsecret"));
        let keys = KeyPair { access_key_id: &id, secret_access_key: &secret };
        let hs = headers(&[("Host", "127.0.0.1:9"), ("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD"), ("X-Amz-Date", "x")]);
        let req = ToSign { method: "GET", url: "http://127.0.0.1:9/b/k", headers: &hs, body: None };
        let auth = parse_authorization(AUTH).unwrap();
        let out = resign(&req, &auth, keys, SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000))
            .unwrap()
            .headers;
        let get = |n: &str| out.iter().find(|(k, _)| k == n).map(|(_, v)| v.expose_secret().to_owned()).unwrap();
        assert_eq!(get("x-amz-date"), "20270115T080000Z");
        let authorization = get("authorization");
        assert!(
            authorization.starts_with(
                "AWS4-HMAC-SHA256 Credential=AKIDREAL/20270115/us-east-1/s3/aws4_request, \
                 SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature="
            ),
            "{authorization}"
        );
    }

    /// The example of AWS's documentation "Signature Calculations for the Authorization Header:
    /// Transferring Payload in Multiple Chunks": its seed signature, then its three chunk
    /// signatures (64 KiB of `a`, 1 KiB of `a`, the empty last chunk).
    #[test]
    fn streaming_uploads_are_signed_as_aws_documents() {
        let (id, secret) = (
            SecretString::from("AKIAIOSFODNN7EXAMPLE"),
            SecretString::from("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        );
        let keys = KeyPair { access_key_id: &id, secret_access_key: &secret };
        let hs = headers(&[
            ("content-encoding", "aws-chunked"),
            ("content-length", "66824"),
            ("host", "s3.amazonaws.com"),
            ("x-amz-content-sha256", STREAMING_SIGNED),
            ("x-amz-date", "20130524T000000Z"),
            ("x-amz-decoded-content-length", "66560"),
            ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        ]);
        let auth = "AWS4-HMAC-SHA256 Credential=hp_placeholder/20130524/us-east-1/s3/aws4_request, \
                    SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;\
                    x-amz-decoded-content-length;x-amz-storage-class, Signature=00";
        let auth = parse_authorization(auth).unwrap();
        let url = "https://s3.amazonaws.com/examplebucket/chunkObject.txt";
        let req = ToSign { method: "PUT", url, headers: &hs, body: None };
        let time = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_369_353_600);
        let out = resign(&req, &auth, keys, time).unwrap();
        let authorization = out.headers.iter().find(|(n, _)| n == "authorization").unwrap().1.expose_secret();
        assert!(
            authorization.ends_with("Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"),
            "{authorization}"
        );
        let mut chunks = out.chunks.unwrap();
        assert_eq!(chunks.sign(&[b'a'; 65536]), "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648");
        assert_eq!(chunks.sign(&[b'a'; 1024]), "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497");
        assert_eq!(chunks.sign(b""), "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9");

        // Unsigned chunks with a trailer: only the headers are signed again.
        let trailer = headers(&[("host", "s3.amazonaws.com"), ("x-amz-content-sha256", STREAMING_UNSIGNED_TRAILER)]);
        let auth = parse_authorization(AUTH).unwrap();
        let req = ToSign { method: "PUT", url, headers: &trailer, body: None };
        let out = resign(&req, &auth, keys, time).unwrap();
        assert!(out.chunks.is_none() && out.headers.iter().any(|(n, _)| n == "authorization"));
    }

    #[test]
    fn other_streaming_forms_and_missing_signed_headers_are_refused() {
        let (id, secret) = (SecretString::from("AKIDREAL"), SecretString::from("realsecret"));
        let keys = KeyPair { access_key_id: &id, secret_access_key: &secret };
        let auth = parse_authorization(AUTH).unwrap();
        let streaming = headers(&[("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER")]);
        let req = ToSign { method: "PUT", url: "http://h/b/k", headers: &streaming, body: Some(b"") };
        let err = resign(&req, &auth, keys, SystemTime::now()).err().unwrap();
        assert!(!err.is_hold() && err.to_string().contains("streaming payload signing"), "{err}");
        let none: Vec<(String, String)> = vec![];
        let req = ToSign { method: "PUT", url: "http://h/b/k", headers: &none, body: Some(b"") };
        let err = resign(&req, &auth, keys, SystemTime::now()).err().unwrap();
        assert!(err.to_string().contains("x-amz-content-sha256"), "{err}");
        // fuzz/regressions/aws_sigv4: the signer panics on a URL without scheme or path.
        let signed = headers(&[("x-amz-content-sha256", "UNSIGNED-PAYLOAD")]);
        for url in ["http:4T013000Z", "h:1", "/b/k", ""] {
            let req = ToSign { method: "PUT", url, headers: &signed, body: Some(b"") };
            assert!(resign(&req, &auth, keys, SystemTime::now()).is_err(), "{url}");
        }
    }
}
