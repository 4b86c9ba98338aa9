//! An absolute URL's parts as the WHATWG URL standard reads them (the `url` crate's answers),
//! taken straight from the text when the text is already in the form the standard would write
//! it, so the common URL costs a scan instead of a full parse.
//!
//! The shortcut takes only text whose parse is the identity: `http` or `https` in lower case,
//! a host of lower-case letters, digits, `-` and `.` (no empty label, no punycode label, no
//! trailing dot, and when it ends in a number, a canonical dotted IPv4 address), a port without
//! leading zeros that is not the scheme's default, and a path and query of characters the
//! standard leaves as they are, with no dot segment. Anything else (upper case, user info,
//! IPv6, a fragment, a tab, `%2e`, a non-ASCII character, ...) goes through `url::Url::parse`.
//! The fuzz target `url_parts` checks that both ways agree.

use std::borrow::Cow;

/// The parts of an absolute URL that the classifier and the vault look at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrlParts<'a> {
    /// The scheme, lower-case.
    pub scheme: Cow<'a, str>,
    /// As `url::Url::host_str`: a domain lower-cased, an IPv4 address dotted, an IPv6 address in
    /// brackets; `None` when the URL has no host.
    pub host: Option<Cow<'a, str>>,
    /// The port, `None` when absent or the scheme's default.
    pub port: Option<u16>,
    /// The path (`/` at least, for `http` and `https`), percent-escapes as written.
    pub path: Cow<'a, str>,
    /// The query without its `?`, `None` when there is no `?`.
    pub query: Option<Cow<'a, str>>,
}

impl<'a> UrlParts<'a> {
    /// Reads an absolute URL as `url::Url::parse` does.
    ///
    /// ```
    /// use holdpoint_classify::http::UrlParts;
    /// let parts = UrlParts::parse("https://api.example.com/v1/volumes/7?force=true").unwrap();
    /// assert_eq!(parts.host.as_deref(), Some("api.example.com"));
    /// assert_eq!((parts.path.as_ref(), parts.query.as_deref()), ("/v1/volumes/7", Some("force=true")));
    /// let odd = UrlParts::parse("HTTPS://API.Example.com:443/a/../b").unwrap();
    /// assert_eq!((odd.host.as_deref(), odd.port, odd.path.as_ref()), (Some("api.example.com"), None, "/b"));
    /// ```
    pub fn parse(url: &'a str) -> Result<UrlParts<'a>, url::ParseError> {
        if let Some(parts) = Self::verbatim(url) {
            return Ok(parts);
        }
        let parsed = url::Url::parse(url)?;
        Ok(UrlParts::of(&parsed).into_owned())
    }

    /// The parts of a URL the `url` crate has parsed.
    pub fn of(url: &url::Url) -> UrlParts<'_> {
        UrlParts {
            scheme: Cow::Borrowed(url.scheme()),
            host: url.host_str().map(Cow::Borrowed),
            port: url.port(),
            path: Cow::Borrowed(url.path()),
            query: url.query().map(Cow::Borrowed),
        }
    }

    /// The parts, owning their text.
    pub fn into_owned(self) -> UrlParts<'static> {
        UrlParts {
            scheme: Cow::Owned(self.scheme.into_owned()),
            host: self.host.map(|h| Cow::Owned(h.into_owned())),
            port: self.port,
            path: Cow::Owned(self.path.into_owned()),
            query: self.query.map(|q| Cow::Owned(q.into_owned())),
        }
    }

    /// The query's pairs, percent-decoded, as `url::Url::query_pairs` gives them.
    pub fn query_pairs(&self) -> url::form_urlencoded::Parse<'_> {
        url::form_urlencoded::parse(self.query.as_deref().unwrap_or_default().as_bytes())
    }

    /// The parts when `url` is written as the standard would write it, borrowed from it.
    fn verbatim(url: &'a str) -> Option<UrlParts<'a>> {
        let (scheme, default_port, rest) = if let Some(rest) = url.strip_prefix("http://") {
            ("http", 80, rest)
        } else {
            ("https", 443, url.strip_prefix("https://")?)
        };
        let end = rest.bytes().position(|b| b == b'/' || b == b'?').unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let (host, port) = match authority.split_once(':') {
            Some((host, port)) => (host, Some(verbatim_port(port)?)),
            None => (authority, None),
        };
        if !verbatim_host(host) {
            return None;
        }
        let (path, query) = match tail.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (tail, None),
        };
        if !verbatim_path(path) || query.is_some_and(|q| !q.bytes().all(query_byte)) {
            return None;
        }
        Some(UrlParts {
            scheme: Cow::Borrowed(scheme),
            host: Some(Cow::Borrowed(host)),
            port: port.filter(|p| *p != default_port),
            path: Cow::Borrowed(if path.is_empty() { "/" } else { path }),
            query: query.map(Cow::Borrowed),
        })
    }
}

/// A port of one to five digits without a leading zero.
fn verbatim_port(port: &str) -> Option<u16> {
    let canonical = !port.is_empty() && port.len() <= 5 && !port.starts_with('0');
    if canonical && port.bytes().all(|b| b.is_ascii_digit()) { port.parse().ok() } else { None }
}

/// A lower-case domain whose labels the standard's IDNA step leaves alone, or a canonical
/// dotted IPv4 address. The standard reads a host whose last label is a number as IPv4.
fn verbatim_host(host: &str) -> bool {
    let host = host.as_bytes();
    let domain_byte = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-';
    let plain_label = |label: &[u8]| !label.is_empty() && !label.starts_with(b"xn--") && label.iter().all(domain_byte);
    if !host.split(|b| *b == b'.').all(plain_label) {
        return false;
    }
    match host.rsplit(|b| *b == b'.').next() {
        Some(last) if last.iter().all(u8::is_ascii_digit) => canonical_ipv4(host),
        Some(last) => !last.starts_with(b"0x"),
        None => false,
    }
}

/// Four decimal parts of at most 255, without leading zeros.
fn canonical_ipv4(host: &[u8]) -> bool {
    let mut parts = 0;
    for part in host.split(|b| *b == b'.') {
        parts += 1;
        if part.is_empty() || part.len() > 3 || (part.len() > 1 && part.starts_with(b"0")) {
            return false;
        }
        let value = part.iter().try_fold(0u16, |n, b| b.is_ascii_digit().then(|| n * 10 + u16::from(b - b'0')));
        if value.is_none_or(|v| v > 255) {
            return false;
        }
    }
    parts == 4
}

/// Empty, or `/` and path characters with no `.` or `..` segment (also not percent-escaped).
fn verbatim_path(path: &str) -> bool {
    let path = path.as_bytes();
    if path.is_empty() {
        return true;
    }
    let plain = |(i, b): (usize, &u8)| match b {
        b'%' => !matches!(path.get(i + 1..i + 3), Some([b'2', b'e' | b'E'])),
        b'\'' => true,
        b => plain_byte(*b),
    };
    path.starts_with(b"/")
        && path.iter().enumerate().all(plain)
        && !path.split(|b| *b == b'/').any(|segment| matches!(segment, b"." | b".."))
}

/// A byte the standard keeps as it is in a query of an `http(s)` URL.
fn query_byte(b: u8) -> bool {
    plain_byte(b) || b == b'?'
}

/// Letters, digits and the punctuation both paths and queries keep as written.
fn plain_byte(b: u8) -> bool {
    matches!(b,
        b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9'
        | b'-' | b'.' | b'_' | b'~' | b'!' | b'$' | b'&' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
        | b':' | b'@' | b'/' | b'%')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every case reads the same as `url::Url::parse` reads it; the first group are taken as
    /// they are, the second need the full parse.
    #[test]
    fn parts_agree_with_the_url_crate() {
        let verbatim = [
            "http://127.0.0.1:8080/item/1/2",
            "https://api.github.com/repos/o/r/issues?state=open&per_page=100",
            "http://example.com",
            "http://example.com?x",
            "http://example.com/?",
            "https://a-b.c0.example/p/%41b;v=1/q@x:y?a=%zz&b=/?c",
            "http://0.0.0.0/",
            "http://255.255.255.255:65535/",
            "http://x.io:8443/it's",
            "http://1.2.3.com/",
            "http://example.com:80/a",
            "https://example.com:443",
        ];
        let parsed_in_full = [
            "HTTP://Example.COM/",
            "http://example.com:0080/",
            "http://example.com:/",
            "http://example.com:65536/",
            "http://user:pw@example.com/",
            "http://[::1]:8080/",
            "http://127.1/",
            "http://0x7f.0.0.1/",
            "http://127.0.0.01/",
            "http://256.0.0.1/",
            "http://1.2.3.4.5/",
            "http://1.2.3.99999999999/",
            "http://a.0x1/",
            "http://example.com./",
            "http://a..b/",
            "http://xn--nxasmq6b.com/",
            "http://bücher.example/",
            "http://example.com/a/../b",
            "http://example.com/a/./b",
            "http://example.com/a/%2e%2E/b",
            "http://example.com/a/%2E/b",
            "http://example.com\\a\\b",
            "http://example.com/a b",
            "http://example.com/a\tb",
            "http://example.com/a#frag",
            "http://example.com/?q='x'",
            "http://example.com/{x}",
            "http://example.com/a^b",
            "http:///example.com/",
            "http:/example.com/",
            " http://example.com/",
            "ftp://example.com/",
            "http://exa%6dple.com/",
        ];
        for url in verbatim.iter().chain(&parsed_in_full) {
            let expected = url::Url::parse(url).map(|u| UrlParts::of(&u).into_owned());
            assert_eq!(UrlParts::parse(url), expected, "{url}");
        }
        for url in verbatim {
            assert!(UrlParts::verbatim(url).is_some(), "{url} should be taken as it is");
        }
        for url in parsed_in_full {
            assert!(UrlParts::verbatim(url).is_none(), "{url} needs the full parse");
        }
    }

    #[test]
    fn query_pairs_are_decoded_as_the_url_crate_decodes_them() {
        let url = "http://h/p?a=1&b=%20x+y&c&=d&e=%zz";
        let ours: Vec<_> =
            UrlParts::parse(url).unwrap().query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        let theirs: Vec<_> =
            url::Url::parse(url).unwrap().query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        assert_eq!(ours, theirs);
    }
}
