//! AWS SigV4 re-signing: an agent holding the placeholder pair of an `aws` vault secret signs
//! its requests with them (access key id = the key-id placeholder, secret key = the secret
//! placeholder). The proxy finds the placeholder in the `Authorization` header's `Credential`
//! and signs the request again with the real pair (aws-sigv4): same region and service (from
//! the credential scope), same signed headers, the payload hash the client sent, a fresh
//! `X-Amz-Date`.
//!
//! Not re-signed, and refused with the reason: presigned URLs (`X-Amz-Credential` in the
//! query), SigV4a, and S3 streaming payload signing (`STREAMING-*` payload hashes), whose chunk
//! signatures are chained from the seed signature over a body the proxy does not produce.

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

/// Why a request signed with S3 streaming payload signing is refused: no approval could make
/// its chunk signatures valid, so it is not queued as a hold.
pub const STREAMING_REFUSED: &str = "it is an S3 upload with streaming payload signing (x-amz-content-sha256: \
     STREAMING-…), whose chunk signatures are chained from the placeholder signature and cannot be signed again \
     by the proxy; send it with a signed or unsigned single payload instead (e.g. `aws s3api put-object`)";

/// The headers (`authorization`, `x-amz-date`) that replace the client's, signed at `now` with
/// `keys` over the same scope, signed headers and payload hash the client used.
pub fn resign(
    request: &ToSign<'_>,
    auth: &SigV4<'_>,
    keys: KeyPair<'_>,
    now: SystemTime,
) -> Result<Vec<(String, SecretString)>, Denial> {
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
    let (instructions, _signature) = sign(signable, &params).map_err(|e| failed(&e))?.into_parts();
    Ok(instructions.headers().map(|(n, v)| (n.to_owned(), SecretString::from(v.to_owned()))).collect())
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
        let out =
            resign(&req, &auth, keys, SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000)).unwrap();
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

    #[test]
    fn streaming_payloads_and_missing_signed_headers_are_refused() {
        let (id, secret) = (SecretString::from("AKIDREAL"), SecretString::from("realsecret"));
        let keys = KeyPair { access_key_id: &id, secret_access_key: &secret };
        let auth = parse_authorization(AUTH).unwrap();
        let streaming = headers(&[("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")]);
        let req = ToSign { method: "PUT", url: "http://h/b/k", headers: &streaming, body: Some(b"") };
        let err = resign(&req, &auth, keys, SystemTime::now()).unwrap_err();
        assert!(!err.is_hold() && err.to_string().contains("streaming payload signing"), "{err}");
        let none: Vec<(String, String)> = vec![];
        let req = ToSign { method: "PUT", url: "http://h/b/k", headers: &none, body: Some(b"") };
        let err = resign(&req, &auth, keys, SystemTime::now()).unwrap_err();
        assert!(err.to_string().contains("x-amz-content-sha256"), "{err}");
        // fuzz/regressions/aws_sigv4: the signer panics on a URL without scheme or path.
        let signed = headers(&[("x-amz-content-sha256", "UNSIGNED-PAYLOAD")]);
        for url in ["http:4T013000Z", "h:1", "/b/k", ""] {
            let req = ToSign { method: "PUT", url, headers: &signed, body: Some(b"") };
            assert!(resign(&req, &auth, keys, SystemTime::now()).is_err(), "{url}");
        }
    }
}
