//! AWS SigV4 re-signing end to end: the real `aws` CLI, holding only the placeholder pair of an
//! `aws` vault secret, talks through the real `holdpoint serve` to `moto_server` on loopback.
//! moto runs with `INITIAL_NO_AUTH_ACTION_COUNT`, so after the three setup calls that make its
//! IAM user and access key it checks every request: an unknown access key id is refused
//! (`InvalidAccessKeyId` / `AuthFailure`) and a signature that does not verify against the
//! real secret is refused (`SignatureDoesNotMatch`). A call that succeeds through the proxy
//! therefore reached moto with the real access key id and a signature made with the real
//! secret; the same calls sent straight to moto with the placeholders fail, which shows moto
//! would have caught a forwarded placeholder or a wrong signature.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

/// moto_server on a free loopback port, checking signatures after its first three calls.
struct Moto {
    child: Child,
    port: u16,
}

impl Moto {
    fn start() -> Moto {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("python3")
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
            .env("INITIAL_NO_AUTH_ACTION_COUNT", "3")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server (pip install 'moto[server]'; scripts/setup installs it)");
        // Readiness, not speed: up to 600 tries a tenth of a second apart.
        let up = (0..600).any(|_| {
            let ready = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
            if !ready {
                std::thread::sleep(Duration::from_millis(100));
            }
            ready
        });
        assert!(up, "moto_server did not start on port {port}");
        Moto { child, port }
    }

    fn endpoint(&self, host: &str) -> String {
        format!("http://{host}:{}", self.port)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `holdpoint serve` with an opened vault.
struct Gateway {
    home: TempDir,
    serve: Child,
    addr: String,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.serve.kill();
        let _ = self.serve.wait();
    }
}

fn holdpoint(home: &Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("holdpoint").unwrap();
    cmd.env("HOLDPOINT_HOME", home).env_remove("HOLDPOINT_VAULT_KEY_FILE");
    cmd
}

/// The placeholder pair of an `aws` secret (the real pair on stdin), bound to 127.0.0.1.
struct Placeholders {
    access_key_id: String,
    secret_access_key: String,
}

fn gateway(real: &(String, String)) -> (Gateway, Placeholders) {
    let home = TempDir::new().unwrap();
    holdpoint(home.path()).arg("init").assert().success();
    std::fs::write(
        home.path().join("config/config.toml"),
        "hold_wait = \"0s\"\n[api]\nlisten = \"127.0.0.1:0\"\n[proxy]\nlisten = \"127.0.0.1:0\"\n",
    )
    .unwrap();
    let key = key_file(home.path());
    let out = holdpoint(home.path())
        .args(["vault", "add", "aws-dev", "--kind", "aws", "--host", "127.0.0.1", "--json"])
        .env("HOLDPOINT_VAULT_KEY_FILE", &key)
        .write_stdin(format!("{}:{}", real.0, real.1))
        .assert()
        .success();
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let placeholders = Placeholders {
        access_key_id: v["placeholders"]["access_key_id"].as_str().unwrap().to_owned(),
        secret_access_key: v["placeholders"]["secret_access_key"].as_str().unwrap().to_owned(),
    };
    let serve = Command::new(assert_cmd::cargo::cargo_bin("holdpoint"))
        .arg("serve")
        .env("HOLDPOINT_HOME", home.path())
        .env("HOLDPOINT_VAULT_KEY_FILE", &key)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Owned by the guard from here on, so a failed start does not leave it running.
    let mut gw = Gateway { home, serve, addr: String::new() };
    let mut lines = BufReader::new(gw.serve.stderr.take().unwrap()).lines();
    // The proxy's line, after whatever else `serve` says first (the approvals console).
    let first = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.contains("listening on http://") || l.contains("error"))
        .unwrap_or_default();
    gw.addr = first
        .split("listening on http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no startup line: {first}"))
        .to_owned();
    std::thread::spawn(move || for _ in lines.map_while(Result::ok) {});
    (gw, placeholders)
}

fn key_file(home: &Path) -> PathBuf {
    let key = home.join("vault.key");
    std::fs::write(&key, format!("{}\n", "5a".repeat(32))).unwrap();
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    key
}

/// What an `aws` run printed.
#[derive(Debug)]
struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

/// The `aws` CLI with this key pair, through `proxy` when given.
fn aws(dir: &Path, keys: (&str, &str), proxy: Option<&str>, endpoint: &str, args: &[&str]) -> Run {
    let mut cmd = Command::new("aws");
    cmd.args(args)
        .args(["--endpoint-url", endpoint, "--output", "json"])
        .env("AWS_ACCESS_KEY_ID", keys.0)
        .env("AWS_SECRET_ACCESS_KEY", keys.1)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", dir.join("no-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("no-credentials"))
        .env("AWS_MAX_ATTEMPTS", "1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .env_remove("http_proxy")
        .stdin(Stdio::null());
    match proxy {
        Some(addr) => cmd.env("HTTP_PROXY", format!("http://{addr}")),
        None => cmd.env_remove("HTTP_PROXY"),
    };
    let Output { status, stdout, stderr } = cmd.output().expect("the aws CLI (scripts/setup installs awscli)");
    Run {
        ok: status.success(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// An IAM user with full access and its access key, made with moto's unauthenticated calls.
fn real_key(dir: &Path, moto: &Moto) -> (String, String) {
    let endpoint = moto.endpoint("127.0.0.1");
    let direct = |args: &[&str]| {
        let run = aws(dir, ("AKIASETUP", "setup"), None, &endpoint, args);
        assert!(run.ok, "{run:?}");
        run
    };
    direct(&["iam", "create-user", "--user-name", "agent"]);
    direct(&[
        "iam",
        "put-user-policy",
        "--user-name",
        "agent",
        "--policy-name",
        "all",
        "--policy-document",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
    ]);
    let key: Value =
        serde_json::from_str(&direct(&["iam", "create-access-key", "--user-name", "agent"]).stdout).unwrap();
    let key = &key["AccessKey"];
    (key["AccessKeyId"].as_str().unwrap().to_owned(), key["SecretAccessKey"].as_str().unwrap().to_owned())
}

fn approver(gw: &Gateway) -> PathBuf {
    let out = holdpoint(gw.home.path()).args(["approver", "add", "alice", "--json"]).assert().success();
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let file = gw.home.path().join("alice.token");
    std::fs::write(&file, v["token"].as_str().unwrap()).unwrap();
    file
}

/// curl through the proxy: `STATUS BODY`.
fn curl(proxy: &str, args: &[&str]) -> String {
    let out = Command::new("curl")
        .args(["-sS", "--proxy", &format!("http://{proxy}"), "-w", "%{http_code}", "-o", "-"])
        .args(args)
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.split_at(text.len().saturating_sub(3));
    format!("{status} {body}")
}

const HOLD_SENTENCE: &str = "Holdpoint held this action as hold";

/// `PUT /notes/streamed.bin` with streaming payload signing through the gateway to
/// `endpoint`; the HTTP status.
fn put_streaming(gw: &Gateway, endpoint: &str, keys: (&str, &str), dir: &Path) -> String {
    let (url, headers, body) = streaming_upload(endpoint, keys, "notes", "streamed.bin");
    let mut put = Command::new("curl");
    put.args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT", "--proxy", &format!("http://{}", gw.addr)]);
    for (name, value) in &headers {
        put.args(["-H", &format!("{name}: {value}")]);
    }
    let body_file = dir.join("streamed.body");
    std::fs::write(&body_file, &body).unwrap();
    put.args(["--data-binary", &format!("@{}", body_file.display()), &url]).env_remove("NO_PROXY");
    String::from_utf8_lossy(&put.output().unwrap().stdout).into_owned()
}

/// A loopback upstream answering one request with 200; its address and what it received (the
/// head as text, the body).
fn capture_one() -> (String, std::sync::mpsc::Receiver<(String, Vec<u8>)>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 16384];
        let head_end = loop {
            if let Some(at) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            let n = conn.read(&mut buf).unwrap();
            assert!(n > 0, "the request ended inside its head");
            got.extend_from_slice(&buf[..n]);
        };
        let head = String::from_utf8_lossy(&got[..head_end]).into_owned();
        let length: usize = head
            .lines()
            .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
            .unwrap();
        while got.len() < head_end + length {
            let n = conn.read(&mut buf).unwrap();
            assert!(n > 0, "the request ended inside its body");
            got.extend_from_slice(&buf[..n]);
        }
        conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").unwrap();
        tx.send((head, got[head_end..].to_vec())).unwrap();
    });
    (addr, rx)
}

/// The body arrived byte for byte but for its chunk signatures, which chain from the seed
/// signature in the request's `Authorization` under the real secret.
fn check_chunks(head: &str, body: &[u8], secret: &str) {
    let header = |name: &str| {
        head.lines()
            .find_map(|l| l.split_once(':').filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim()))
            .unwrap_or_else(|| panic!("no {name} in {head}"))
            .to_owned()
    };
    let authorization = header("authorization");
    let seed = authorization.rsplit("Signature=").next().unwrap();
    let date = header("x-amz-date");
    let mut signer = holdpoint_proxy::ChunkSigner::new(secret, amz_time(&date), &date, "us-east-1", "s3", seed);
    let (mut rest, mut data) = (body, Vec::new());
    loop {
        let chunk = holdpoint_proxy::resign_chunk(rest, &mut signer).unwrap().unwrap();
        assert_eq!(chunk.bytes, rest[..chunk.used], "each chunk signature verifies under the real secret");
        let text = &rest[..chunk.used];
        let start = text.windows(2).position(|w| w == b"\r\n").unwrap() + 2;
        data.extend_from_slice(&text[start..text.len() - 2]);
        rest = &rest[chunk.used..];
        if chunk.last {
            break;
        }
    }
    assert!(rest.is_empty() && data == streamed_content(), "the chunks arrive whole and in order");
}

/// `X-Amz-Date` (`YYYYMMDDTHHMMSSZ`) as a time.
fn amz_time(date: &str) -> std::time::SystemTime {
    let n = |range: std::ops::Range<usize>| date[range].parse::<i64>().unwrap();
    let (y, m, d) = (n(0..4), n(4..6), n(6..8));
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    let secs = days * 86_400 + n(9..11) * 3600 + n(11..13) * 60 + n(13..15);
    std::time::UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap())
}

/// 70,000 bytes: one full 64 KiB chunk and a short one.
fn streamed_content() -> Vec<u8> {
    (0..70_000u32).map(|i| (i % 251) as u8).collect()
}

/// A PutObject with streaming payload signing, signed with `keys` (the placeholders) as an SDK
/// would: the seed signature over the headers, then each chunk's signature chained from it.
fn streaming_upload(
    endpoint: &str,
    keys: (&str, &str),
    bucket: &str,
    key: &str,
) -> (String, Vec<(String, String)>, Vec<u8>) {
    use holdpoint_proxy::{KeyPair, ToSign, parse_authorization, resign};
    use secrecy::SecretString;
    let content = streamed_content();
    let sizes = [65_536, content.len() - 65_536, 0];
    let encoded_len: usize =
        sizes.iter().map(|n| format!("{n:x}").len() + ";chunk-signature=".len() + 64 + 4 + n).sum();
    let url = format!("{endpoint}/{bucket}/{key}");
    let host = endpoint.trim_start_matches("http://").to_owned();
    let now = std::time::SystemTime::now();
    let mut headers = vec![
        ("host".to_owned(), host),
        ("content-encoding".to_owned(), "aws-chunked".to_owned()),
        ("content-length".to_owned(), encoded_len.to_string()),
        ("x-amz-content-sha256".to_owned(), "STREAMING-AWS4-HMAC-SHA256-PAYLOAD".to_owned()),
        ("x-amz-decoded-content-length".to_owned(), content.len().to_string()),
    ];
    let listed = "AWS4-HMAC-SHA256 Credential=x/20260101/us-east-1/s3/aws4_request, SignedHeaders=content-encoding;\
                  content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length, Signature=0";
    let auth = parse_authorization(listed).unwrap();
    let (id, secret) = (SecretString::from(keys.0.to_owned()), SecretString::from(keys.1.to_owned()));
    let pair = KeyPair { access_key_id: &id, secret_access_key: &secret };
    let to_sign = ToSign { method: "PUT", url: &url, headers: &headers, body: None };
    let signed = resign(&to_sign, &auth, pair, now).unwrap();
    let mut chunks = signed.chunks.unwrap();
    for (name, value) in signed.headers {
        headers.push((name, secrecy::ExposeSecret::expose_secret(&value).to_owned()));
    }
    let mut body = Vec::new();
    let mut at = 0;
    for size in sizes {
        let data = &content[at..at + size];
        at += size;
        body.extend_from_slice(format!("{size:x};chunk-signature={}\r\n", chunks.sign(data)).as_bytes());
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    assert_eq!(body.len(), encoded_len);
    headers.retain(|(n, _)| n != "host" && n != "content-length");
    (url, headers, body)
}

#[test]
fn s3_requests_signed_with_placeholders_are_re_signed_with_the_real_key() {
    let dir = TempDir::new().unwrap();
    let moto = Moto::start();
    let real = real_key(dir.path(), &moto);
    let (gw, ph) = gateway(&real);
    let endpoint = moto.endpoint("127.0.0.1");
    let placeholders = (ph.access_key_id.as_str(), ph.secret_access_key.as_str());
    let via = |args: &[&str]| aws(dir.path(), placeholders, Some(&gw.addr), &endpoint, args);

    // moto checks: the placeholders straight to moto are refused, and so is the real key id
    // signed with the placeholder secret.
    let direct = aws(dir.path(), placeholders, None, &endpoint, &["s3api", "create-bucket", "--bucket", "direct"]);
    assert!(!direct.ok && direct.stderr.contains("InvalidAccessKeyId"), "{direct:?}");
    let wrong_signature = aws(
        dir.path(),
        (&real.0, &ph.secret_access_key),
        None,
        &endpoint,
        &["s3api", "create-bucket", "--bucket", "direct"],
    );
    assert!(!wrong_signature.ok && wrong_signature.stderr.contains("SignatureDoesNotMatch"), "{wrong_signature:?}");

    // Through the proxy: re-signed with the real pair, so moto accepts them.
    let created = via(&["s3api", "create-bucket", "--bucket", "reports"]);
    assert!(created.ok, "{created:?}");
    let file = dir.path().join("q3.txt");
    std::fs::write(&file, "quarterly numbers\n").unwrap();
    let put = via(&["s3api", "put-object", "--bucket", "reports", "--key", "q3.txt", "--body", file.to_str().unwrap()]);
    assert!(put.ok, "{put:?}");
    let listed = via(&["s3api", "list-objects-v2", "--bucket", "reports"]);
    assert!(listed.ok && listed.stdout.contains("\"q3.txt\""), "{listed:?}");
    // A key that needs percent-encoding: S3 signs the path as sent, encoded once.
    assert!(via(&["s3api", "create-bucket", "--bucket", "notes"]).ok);
    let spaced =
        via(&["s3api", "put-object", "--bucket", "notes", "--key", "q3 notes.txt", "--body", file.to_str().unwrap()]);
    assert!(spaced.ok, "{spaced:?}");
    let got = via(&[
        "s3api",
        "get-object",
        "--bucket",
        "notes",
        "--key",
        "q3 notes.txt",
        dir.path().join("got").to_str().unwrap(),
    ]);
    assert!(got.ok, "{got:?}");
    assert_eq!(std::fs::read_to_string(dir.path().join("got")).unwrap(), "quarterly numbers\n");
    // The high-level `aws s3 cp`, which sends its body aws-chunked with a checksum trailer.
    let copied = via(&["s3", "cp", file.to_str().unwrap(), "s3://notes/copy.txt", "--debug"]);
    assert!(copied.ok, "{copied:?}");
    let back = via(&["s3", "cp", "s3://notes/copy.txt", dir.path().join("back").to_str().unwrap()]);
    assert!(back.ok, "{back:?}");
    assert_eq!(std::fs::read_to_string(dir.path().join("back")).unwrap(), "quarterly numbers\n");

    // An upload with streaming payload signing (STREAMING-AWS4-HMAC-SHA256-PAYLOAD), every chunk
    // signed with the placeholder secret: the proxy signs the headers and each chunk again.
    // moto checks the new seed signature against the real secret (it stores aws-chunked bodies
    // as zeros, so their content is checked below at a loopback upstream instead).
    assert_eq!(put_streaming(&gw, &endpoint, placeholders, dir.path()), "200");
    let (upstream, received) = capture_one();
    assert_eq!(put_streaming(&gw, &upstream, placeholders, dir.path()), "200");
    let (head, body) = received.recv_timeout(Duration::from_secs(20)).unwrap();
    check_chunks(&head, &body, &real.1);

    // Deleting is held (409, the hold sentence in the refusal body); after approval the same
    // request passes once.
    let alice = approver(&gw);
    let delete_object = ["s3api", "delete-object", "--bucket", "reports", "--key", "q3.txt"];
    let delete_bucket = ["s3api", "delete-bucket", "--bucket", "reports"];
    // Hold 2 is the second delete-object, held again after its release was used.
    for (id, args) in [(1, &delete_object[..]), (3, &delete_bucket[..])] {
        // The CLI's S3 error parser shows only the status; its --debug log shows the body.
        let held = via(&[args, &["--debug"]].concat());
        let sentence = format!("{HOLD_SENTENCE} {id}: ");
        assert!(!held.ok && held.stderr.contains("409") && held.stderr.contains(&sentence), "{held:?}");
        holdpoint(gw.home.path()).args(["approve", &id.to_string(), "--token-file"]).arg(&alice).assert().success();
        let passed = via(args);
        assert!(passed.ok, "approved hold {id}: {passed:?}");
        let again = via(args);
        assert!(!again.ok && again.stderr.contains("409"), "a release is used once: {again:?}");
    }
    let buckets = via(&["s3api", "list-buckets"]);
    assert!(buckets.ok && !buckets.stdout.contains("reports"), "{buckets:?}");

    // A host outside the binding: refused by the proxy (its scope denial in the body), the
    // secret never handed out.
    let elsewhere = aws(
        dir.path(),
        placeholders,
        Some(&gw.addr),
        &moto.endpoint("localhost"),
        &["s3api", "list-buckets", "--debug"],
    );
    assert!(
        !elsewhere.ok
            && elsewhere.stderr.contains("403")
            && elsewhere.stderr.contains(r#"placeholder of vault secret \\"aws-dev\\" outside the scope"#),
        "{}",
        elsewhere.stderr.lines().filter(|l| l.contains("Response body") || l.contains("403")).collect::<String>()
    );

    // What is not re-signed: a presigned URL (refused, with the reason) and S3 streaming
    // payload signing with a signed trailer (refused too: no approval could make it valid).
    let presigned = via(&["s3", "presign", "s3://kept/q3.txt"]);
    assert!(presigned.ok && presigned.stdout.contains(&ph.access_key_id), "{presigned:?}");
    let fetched = curl(&gw.addr, &[presigned.stdout.trim()]);
    assert!(fetched.starts_with("403 ") && fetched.contains("presigned URLs are not re-signed"), "{fetched}");
    let streaming_put = |payload_hash: &str| {
        let authorization = format!(
            "Authorization: AWS4-HMAC-SHA256 Credential={}/20261126/us-east-1/s3/aws4_request, \
             SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=00",
            ph.access_key_id
        );
        let hash = format!("x-amz-content-sha256: {payload_hash}");
        let url = format!("{endpoint}/kept/big.bin");
        let args = ["-X", "PUT", &url, "-H", &authorization, "-H", &hash, "-H", "x-amz-date: 20261126T000000Z"];
        curl(&gw.addr, &[&args[..], &["--data-binary", "0;chunk-signature=00\r\n\r\n"]].concat())
    };
    let streaming = streaming_put("STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER");
    assert!(streaming.starts_with("403 ") && streaming.contains("streaming payload signing"), "{streaming}");
    // A signed-chunks body that is not well-formed aws-chunked is refused before anything is sent.
    let malformed = streaming_put("STREAMING-AWS4-HMAC-SHA256-PAYLOAD");
    assert!(malformed.starts_with("403 ") && malformed.contains("aws-chunked chunk-signature"), "{malformed}");

    let audit = holdpoint(gw.home.path()).args(["audit", "export"]).assert().success();
    let audit = String::from_utf8_lossy(&audit.get_output().stdout).into_owned();
    assert!(!audit.contains(&real.1), "the audit log never holds the secret");
}

#[test]
fn ec2_query_requests_are_re_signed_over_their_body_and_deletes_are_held() {
    let dir = TempDir::new().unwrap();
    let moto = Moto::start();
    let real = real_key(dir.path(), &moto);
    let (gw, ph) = gateway(&real);
    let endpoint = moto.endpoint("127.0.0.1");
    let placeholders = (ph.access_key_id.as_str(), ph.secret_access_key.as_str());
    let via = |args: &[&str]| aws(dir.path(), placeholders, Some(&gw.addr), &endpoint, args);

    let direct = aws(dir.path(), placeholders, None, &endpoint, &["ec2", "describe-volumes"]);
    assert!(!direct.ok && direct.stderr.contains("AuthFailure"), "moto checks credentials: {direct:?}");
    // The query protocol sends no x-amz-content-sha256: the proxy signs the body's hash.
    let described = via(&["ec2", "describe-volumes"]);
    assert!(described.ok && described.stdout.contains("\"Volumes\""), "{described:?}");
    let created = via(&["ec2", "create-volume", "--availability-zone", "us-east-1a", "--size", "8"]);
    assert!(created.ok, "{created:?}");
    let volume: Value = serde_json::from_str(&created.stdout).unwrap();
    let id = volume["VolumeId"].as_str().unwrap();

    let held = via(&["ec2", "delete-volume", "--volume-id", id, "--debug"]);
    assert!(!held.ok && held.stderr.contains("409") && held.stderr.contains(HOLD_SENTENCE), "{held:?}");
    let still = via(&["ec2", "describe-volumes", "--volume-ids", id]);
    assert!(still.ok && still.stdout.contains(id), "a held delete never reaches moto: {still:?}");
}
