//! What AWS re-signing adds to a request the proxy forwards: reading the SigV4
//! `Authorization` header, and signing the request again with the real pair (an S3 `PutObject`
//! with its payload hash given, and an EC2 query call whose 1 KiB body is hashed).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

use std::time::SystemTime;

use divan::black_box;
use holdpoint_proxy::{KeyPair, ToSign, parse_authorization, resign};
use secrecy::SecretString;

fn main() {
    divan::main();
}

const S3_AUTH: &str = "AWS4-HMAC-SHA256 Credential=hp_abcdefghijklmnopqrstuvwxyz/20261126/us-east-1/s3/aws4_request, \
     SignedHeaders=content-md5;content-type;host;x-amz-content-sha256;x-amz-date, Signature=00";
const EC2_AUTH: &str = "AWS4-HMAC-SHA256 Credential=hp_abcdefghijklmnopqrstuvwxyz/20261126/us-east-1/ec2/aws4_request, \
     SignedHeaders=content-type;host;x-amz-date, Signature=00";

fn headers(auth: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut out = vec![
        ("host".to_owned(), "127.0.0.1:5000".to_owned()),
        ("user-agent".to_owned(), "aws-cli/1.45.11".to_owned()),
        ("x-amz-date".to_owned(), "20261126T013000Z".to_owned()),
        ("authorization".to_owned(), auth.to_owned()),
    ];
    out.extend(extra.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())));
    out
}

#[divan::bench]
fn parse_header() -> usize {
    parse_authorization(black_box(S3_AUTH)).unwrap().signed_headers.len()
}

#[divan::bench]
fn resign_s3_put_object(bencher: divan::Bencher) {
    let hs = headers(
        S3_AUTH,
        &[
            ("content-md5", "1B2M2Y8AsgTpgAmY7PhCfg=="),
            ("content-type", "text/plain"),
            ("x-amz-content-sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ],
    );
    let (id, secret) = (SecretString::from("AKIAIOSFODNN7EXAMPLE"), SecretString::from("wJalrXUtnFEMI/K7MDENG"));
    let keys = KeyPair { access_key_id: &id, secret_access_key: &secret };
    let req = ToSign { method: "PUT", url: "http://127.0.0.1:5000/reports/q3.txt", headers: &hs, body: Some(b"") };
    bencher.bench_local(|| {
        let auth = parse_authorization(S3_AUTH).unwrap();
        resign(black_box(&req), &auth, keys, SystemTime::now()).unwrap().headers
    });
}

#[divan::bench]
fn resign_ec2_query_1kib_body(bencher: divan::Bencher) {
    let hs = headers(EC2_AUTH, &[("content-type", "application/x-www-form-urlencoded; charset=utf-8")]);
    let body = format!("Action=DescribeVolumes&Version=2016-11-15&{}", "Filter.1.Name=x&".repeat(64));
    let body = &body.as_bytes()[..1024];
    let (id, secret) = (SecretString::from("AKIAIOSFODNN7EXAMPLE"), SecretString::from("wJalrXUtnFEMI/K7MDENG"));
    let keys = KeyPair { access_key_id: &id, secret_access_key: &secret };
    let req = ToSign { method: "POST", url: "http://127.0.0.1:5000/", headers: &hs, body: Some(body) };
    bencher.bench_local(|| {
        let auth = parse_authorization(EC2_AUTH).unwrap();
        resign(black_box(&req), &auth, keys, SystemTime::now()).unwrap().headers
    });
}
