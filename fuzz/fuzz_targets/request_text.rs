//! The text form of an HTTP request the request fuzz targets share: `METHOD URL` on the first
//! line (a leading `!` means "body not read whole"), `Name: value` header lines, a blank line,
//! then the body.

pub struct RequestText<'a> {
    pub method: &'a str,
    pub url: &'a str,
    pub headers: Vec<(String, String)>,
    pub body: &'a str,
    pub partial: bool,
}

pub fn parse(data: &[u8]) -> Option<RequestText<'_>> {
    let text = std::str::from_utf8(data).ok()?;
    let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
    let mut lines = head.lines();
    let first = lines.next().unwrap_or_default();
    let (partial, first) = match first.strip_prefix('!') {
        Some(rest) => (true, rest),
        None => (false, first),
    };
    let (method, url) = first.split_once(' ').unwrap_or((first, ""));
    let headers =
        lines.filter_map(|l| l.split_once(':')).map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned())).collect();
    Some(RequestText { method, url, headers, body, partial })
}
