//! What classifying one HTTP request costs: a plain read, a REST delete matched by the rule
//! pack, an AWS query-protocol call and a GraphQL mutation; and reading a URL's parts, taken as
//! written and through the full WHATWG parse.
#![allow(clippy::unwrap_used, missing_docs)]

use holdpoint_classify::classify_http;
use holdpoint_classify::http::{Body, HttpContext, HttpRequest, UrlParts};

fn main() {
    divan::main();
}

fn run(method: &str, url: &str, headers: &[(&str, &str)], body: &str) -> usize {
    let headers: Vec<(String, String)> = headers.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    let body = if body.is_empty() { Body::Empty } else { Body::Full(body.as_bytes()) };
    let req = HttpRequest { method, url, headers: &headers, body };
    classify_http(divan::black_box(&req), &HttpContext::default()).len()
}

#[divan::bench]
fn get() -> usize {
    run("GET", "https://api.example.com/v1/projects/42/status?verbose=1", &[("Accept", "application/json")], "")
}

#[divan::bench]
fn rest_delete() -> usize {
    run("DELETE", "https://api.github.com/repos/acme/web/branches/main/protection", &[], "")
}

#[divan::bench]
fn aws_query() -> usize {
    run(
        "POST",
        "https://ec2.us-east-1.amazonaws.com/",
        &[
            (
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=AKID/20261125/us-east-1/ec2/aws4_request, SignedHeaders=host;x-amz-date, Signature=0123",
            ),
            ("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"),
        ],
        "Action=DeleteVolume&Version=2016-11-15&VolumeId=vol-049df61146c4d7901",
    )
}

#[divan::bench]
fn graphql_mutation() -> usize {
    run(
        "POST",
        "https://backboard.railway.app/graphql/v2",
        &[("Content-Type", "application/json")],
        r#"{"query":"mutation volumeDelete($id: String!) { volumeDelete(volumeId: $id) }","variables":{"id":"v1"},"operationName":"volumeDelete"}"#,
    )
}

/// URLs as agents and the benchmarks send them, each read as written.
const URLS: &[&str] =
    &["http://127.0.0.1:8080/item/1/2", "https://api.github.com/repos/acme/web/issues?state=open&per_page=100"];

#[divan::bench(args = URLS)]
fn url_parts(url: &str) -> bool {
    UrlParts::parse(divan::black_box(url)).is_ok()
}

#[divan::bench(args = URLS)]
fn url_crate_parse(url: &str) -> bool {
    url::Url::parse(divan::black_box(url)).is_ok()
}
