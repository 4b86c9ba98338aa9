//! The egress proxy end to end: the real `holdpoint serve`, real curl through it, and
//! loopback upstreams (plain HTTP, and TLS with a test CA of their own) that record what
//! reached them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::convert::Infallible;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use serde_json::Value;
use tempfile::TempDir;
use tokio_rustls::TlsAcceptor;

/// A request as an upstream received it.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// A loopback HTTP/1.1 server that answers `upstream saw METHOD PATH` and records requests.
struct Upstream {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    _rt: tokio::runtime::Runtime,
}

impl Upstream {
    fn start(tls: Option<Arc<rustls::ServerConfig>>) -> Upstream {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&seen);
        rt.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let (record, tls) = (Arc::clone(&record), tls.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req| respond(Arc::clone(&record), req));
                    match tls {
                        Some(config) => {
                            let Ok(stream) = TlsAcceptor::from(config).accept(stream).await else { return };
                            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                        }
                        None => {
                            let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
                            let _ = conn.with_upgrades().await;
                        }
                    }
                });
            }
        });
        Upstream { addr, seen, _rt: rt }
    }

    fn port(&self) -> u16 {
        self.addr.port()
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn respond(
    record: Arc<Mutex<Vec<Seen>>>,
    mut req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.headers().contains_key(hyper::header::UPGRADE) {
        // A websocket-style upgrade: switch protocols, then echo every byte.
        let upgrade = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            if let Ok(upgraded) = upgrade.await {
                let (mut read, mut write) = tokio::io::split(TokioIo::new(upgraded));
                let _ = tokio::io::copy(&mut read, &mut write).await;
            }
        });
        let res = Response::builder()
            .status(101)
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .body(Full::new(Bytes::new()))
            .unwrap();
        return Ok(res);
    }
    let method = req.method().to_string();
    let path = req.uri().to_string();
    let headers = req
        .headers()
        .iter()
        .map(|(n, v)| (n.to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let text = format!("upstream saw {method} {path}");
    record.lock().unwrap().push(Seen { method, path, headers, body: String::from_utf8_lossy(&body).into_owned() });
    Ok(Response::new(Full::new(Bytes::from(text))))
}

/// A CA of the upstream's own and its certificate for `localhost` and `127.0.0.1`.
struct TestCa {
    pem: PathBuf,
    server: Arc<rustls::ServerConfig>,
}

fn test_ca(dir: &Path) -> TestCa {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "upstream test CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let pem = dir.join("upstream-ca.pem");
    std::fs::write(&pem, ca_cert.pem()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone(), ca_cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    TestCa { pem, server: Arc::new(server) }
}

/// A Holdpoint home with `holdpoint serve` running on a free loopback port.
struct Gateway {
    home: TempDir,
    serve: Child,
    addr: String,
    log: Arc<Mutex<String>>,
}

impl Gateway {
    /// `config` is the config file's text without `[proxy]`; `proxy` the lines of `[proxy]`.
    fn start(config: &str, proxy: &str, upstream_ca: &Path) -> Gateway {
        Gateway::spawn(Gateway::init(config, proxy), upstream_ca, &[])
    }

    /// A new home with this config, before `serve` runs.
    fn init(config: &str, proxy: &str) -> TempDir {
        let home = TempDir::new().unwrap();
        holdpoint(home.path()).arg("init").assert().success();
        let text = format!("{config}\n[api]\nlisten = \"127.0.0.1:0\"\n\n[proxy]\nlisten = \"127.0.0.1:0\"\n{proxy}\n");
        std::fs::write(home.path().join("config/config.toml"), text).unwrap();
        home
    }

    fn spawn(home: TempDir, upstream_ca: &Path, env: &[(&str, &Path)]) -> Gateway {
        let mut serve = Command::new(assert_cmd::cargo::cargo_bin("holdpoint"));
        serve
            .arg("serve")
            .env("HOLDPOINT_HOME", home.path())
            .env("SSL_CERT_FILE", upstream_ca)
            .env_remove("HOLDPOINT_VAULT_KEY_FILE")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (name, value) in env {
            serve.env(name, value);
        }
        // Owned by the guard from here on, so a failed start does not leave it running.
        let mut gw = Gateway {
            home,
            serve: serve.spawn().unwrap(),
            addr: String::new(),
            log: Arc::new(Mutex::new(String::new())),
        };
        let mut lines = BufReader::new(gw.serve.stderr.take().unwrap()).lines();
        // The proxy's line, after whatever else `serve` says first (the approvals console).
        let mut before = String::new();
        let first = lines
            .by_ref()
            .map_while(Result::ok)
            .inspect(|l| before.push_str(&format!("{l}\n")))
            .find(|l| l.contains("listening on http://") || l.contains("error"))
            .unwrap_or_default();
        gw.addr = first
            .split("listening on http://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no startup line: {first}"))
            .to_owned();
        gw.log.lock().unwrap().push_str(&before);
        let sink = Arc::clone(&gw.log);
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                sink.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        gw
    }

    fn cmd(&self) -> assert_cmd::Command {
        holdpoint(self.home.path())
    }

    fn ca(&self) -> PathBuf {
        self.home.path().join("state/proxy-ca.pem")
    }

    /// curl through the proxy.
    fn curl(&self, args: &[&str]) -> Reply {
        let out = Command::new("curl")
            .args(["-sS", "--proxy", &format!("http://{}", self.addr), "-w", "\n%{http_code} %{http_version}"])
            .args(args)
            .env_remove("NO_PROXY")
            .env_remove("no_proxy")
            .env_remove("HTTPS_PROXY")
            .env_remove("https_proxy")
            .env_remove("http_proxy")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, last) = stdout.rsplit_once('\n').unwrap_or(("", &stdout));
        let mut words = last.split_whitespace();
        let status = words.next().unwrap_or("0").parse().unwrap_or(0);
        let version = words.next().unwrap_or_default().to_owned();
        Reply {
            ok: out.status.success(),
            status,
            version,
            body: body.to_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn approver(&self, name: &str) -> PathBuf {
        let out = self.cmd().args(["approver", "add", name, "--json"]).assert().success();
        let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        let file = self.home.path().join(format!("{name}.token"));
        std::fs::write(&file, v["token"].as_str().unwrap()).unwrap();
        file
    }

    /// SIGTERM, and the exit status and log once it stopped.
    fn stop(&mut self) -> (std::process::ExitStatus, String) {
        Command::new("kill").args(["-TERM", &self.serve.id().to_string()]).status().unwrap();
        // Up to 1,500 looks 20 ms apart: a serve that never stops fails the test.
        let status = (0..1500)
            .find_map(|_| {
                let status = self.serve.try_wait().unwrap();
                if status.is_none() {
                    std::thread::sleep(Duration::from_millis(20));
                }
                status
            })
            .expect("holdpoint serve did not stop on SIGTERM");
        // The log thread reads until the pipe closes.
        std::thread::sleep(Duration::from_millis(100));
        let log = self.log.lock().unwrap().clone();
        (status, log)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.serve.kill();
        let _ = self.serve.wait();
    }
}

fn holdpoint(home: &Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("holdpoint").unwrap();
    cmd.env("HOLDPOINT_HOME", home);
    cmd
}

#[derive(Debug)]
struct Reply {
    ok: bool,
    status: u16,
    version: String,
    body: String,
    stderr: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }
}

/// The parts of a refusal body that are the same on every run.
fn pinned(reply: &Reply, port: u16) -> Value {
    let text = reply.body.replace(&port.to_string(), "PORT");
    serde_json::from_str(&text).unwrap()
}

struct Setup {
    _dir: TempDir,
    ca: TestCa,
    plain: Upstream,
    tls: Upstream,
}

fn setup() -> Setup {
    let dir = TempDir::new().unwrap();
    let ca = test_ca(dir.path());
    let plain = Upstream::start(None);
    let tls = Upstream::start(Some(Arc::clone(&ca.server)));
    Setup { _dir: dir, ca, plain, tls }
}

#[test]
fn allowed_requests_reach_the_upstream_as_sent() {
    let s = setup();
    let gw = Gateway::start("", "", &s.ca.pem);
    let port = s.plain.port();
    let get = gw.curl(&[&format!("http://127.0.0.1:{port}/v1/status?x=1"), "-H", "Proxy-Connection: keep-alive"]);
    assert_eq!((get.status, get.body.as_str()), (200, "upstream saw GET /v1/status?x=1"), "{get:?}");
    let post = gw.curl(&[
        &format!("http://127.0.0.1:{port}/v1/jobs"),
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"name":"x"}"#,
    ]);
    assert_eq!(post.status, 200, "{post:?}");
    let seen = s.plain.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].method, "GET");
    assert!(seen[0].header("proxy-connection").is_none(), "hop-by-hop headers stay behind: {:?}", seen[0]);
    assert_eq!(seen[0].header("host"), Some(format!("127.0.0.1:{port}").as_str()));
    assert_eq!((seen[1].method.as_str(), seen[1].body.as_str()), ("POST", r#"{"name":"x"}"#));

    let origin_form = Command::new("curl").args(["-sS", &format!("http://{}/", gw.addr)]).output().unwrap();
    let refused: Value = serde_json::from_slice(&origin_form.stdout).unwrap();
    assert_eq!(refused["verdict"], "deny", "a request to the proxy itself is not forwarded: {refused}");
    let looped = gw.curl(&[&format!("http://{}/again", gw.addr)]);
    assert_eq!(looped.status, 403, "a request addressed to the proxy is not sent round again: {looped:?}");
    // Nor is one to the approvals console, at the port it was given when it started.
    let log = gw.log.lock().unwrap().clone();
    let console = log.split("approvals console on http://").nth(1).and_then(|r| r.split('/').next()).unwrap();
    let approvals = gw.curl(&[&format!("http://{console}/api/holds")]);
    assert_eq!(approvals.status, 403, "{approvals:?}");
    assert!(approvals.body.contains("own listeners"), "{approvals:?}");
}

#[test]
fn a_held_request_passes_once_after_approval_then_is_held_again() {
    let s = setup();
    let gw = Gateway::start("hold_wait = \"0s\"", "", &s.ca.pem);
    let port = s.plain.port();
    let url = format!("http://127.0.0.1:{port}/v1/volumes/vol-1");
    let held = gw.curl(&["-X", "DELETE", &url]);
    assert_eq!(held.status, 409, "{held:?}");
    let body = held.json();
    assert_eq!(body["hold_id"], 1);
    assert!(body["reason"].as_str().unwrap().starts_with("Holdpoint held this action as hold 1: "), "{body}");
    insta::assert_json_snapshot!("proxy_hold_refusal", pinned(&held, port));
    assert!(s.plain.seen().is_empty(), "a held request never reaches the upstream");
    assert_eq!(gw.curl(&["-X", "DELETE", &url]).json()["hold_id"], 1, "the same request waits on the same hold");

    let alice = gw.approver("alice");
    gw.cmd().args(["approve", "1"]).arg("--token-file").arg(&alice).assert().success();
    let passed = gw.curl(&["-X", "DELETE", &url]);
    assert_eq!((passed.status, passed.body.as_str()), (200, "upstream saw DELETE /v1/volumes/vol-1"), "{passed:?}");
    assert_eq!(s.plain.seen().len(), 1);
    let again = gw.curl(&["-X", "DELETE", &url]);
    assert_eq!(
        (again.status, again.json()["hold_id"].clone()),
        (409, Value::from(2)),
        "a release is used once: {again:?}"
    );
    let other = gw.curl(&["-X", "DELETE", &format!("http://127.0.0.1:{port}/v1/volumes/vol-2")]);
    assert_eq!(other.json()["hold_id"], 3, "an approval covers that exact request only");
    assert_eq!(s.plain.seen().len(), 1);
}

#[test]
fn denials_are_403_and_destructive_graphql_and_large_bodies_are_held() {
    let s = setup();
    let gw = Gateway::start("hold_wait = \"0s\"", "max_body = \"1KiB\"", &s.ca.pem);
    let port = s.plain.port();
    let secret = gw.curl(&[
        &format!("http://127.0.0.1:{port}/"),
        "-H",
        "Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261125/us-east-1/secretsmanager/aws4_request, SignedHeaders=host, Signature=abc",
        "-H",
        "X-Amz-Target: secretsmanager.GetSecretValue",
        "-H",
        "Content-Type: application/x-amz-json-1.1",
        "-d",
        r#"{"SecretId":"prod/db"}"#,
    ]);
    assert_eq!(secret.status, 403, "{secret:?}");
    insta::assert_json_snapshot!("proxy_deny_refusal", pinned(&secret, port));

    let mutation = r#"{"query":"mutation { volumeDelete(volumeId: \"vol-1\") }"}"#;
    let graphql =
        gw.curl(&[&format!("http://127.0.0.1:{port}/graphql"), "-H", "Content-Type: application/json", "-d", mutation]);
    assert_eq!(graphql.status, 409, "{graphql:?}");
    let query = r#"{"query":"query { volumes { id } }"}"#;
    let read =
        gw.curl(&[&format!("http://127.0.0.1:{port}/graphql"), "-H", "Content-Type: application/json", "-d", query]);
    assert_eq!(read.status, 200, "{read:?}");

    let large = "x".repeat(4096);
    let upload = gw.curl(&[&format!("http://127.0.0.1:{port}/v1/files"), "-X", "PUT", "--data-binary", &large]);
    assert_eq!(upload.status, 409, "a mutating body over max_body is held: {upload:?}");
    insta::assert_json_snapshot!("proxy_large_body_refusal", pinned(&upload, port));
    let seen: Vec<String> = s.plain.seen().iter().map(|r| format!("{} {}", r.method, r.path)).collect();
    assert_eq!(seen, ["POST /graphql"], "only the query went through");
}

#[test]
fn tls_is_intercepted_over_http1_and_http2_and_passthrough_hosts_are_tunnelled() {
    let s = setup();
    let gw = Gateway::start("hold_wait = \"0s\"", "passthrough = [\"127.0.0.1\"]", &s.ca.pem);
    let port = s.tls.port();
    let ca = gw.ca().display().to_string();
    let upstream_ca = s.ca.pem.display().to_string();
    let url = format!("https://localhost:{port}/v1/status");

    let h1 = gw.curl(&["--cacert", &ca, "--http1.1", &url]);
    assert_eq!(
        (h1.status, h1.version.as_str(), h1.body.as_str()),
        (200, "1.1", "upstream saw GET /v1/status"),
        "{h1:?}"
    );
    let h2 = gw.curl(&["--cacert", &ca, "--http2", &url]);
    assert_eq!((h2.status, h2.version.as_str()), (200, "2"), "{h2:?}");
    let not_ours = gw.curl(&["--cacert", &upstream_ca, &url]);
    assert!(
        !not_ours.ok && not_ours.stderr.contains("certificate"),
        "an intercepted host shows Holdpoint's certificate, not the upstream's: {not_ours:?}"
    );
    let held =
        gw.curl(&["--cacert", &ca, "--http2", "-X", "DELETE", &format!("https://localhost:{port}/v1/volumes/1")]);
    assert_eq!(held.status, 409, "{held:?}");
    assert_eq!(held.json()["how_to_approve"], "holdpoint approve 1");

    // Passthrough: the agent talks TLS with the upstream itself, and nothing is decided.
    let direct = format!("https://127.0.0.1:{port}/v1/volumes/1");
    let tunnelled = gw.curl(&["--cacert", &upstream_ca, "-X", "DELETE", &direct]);
    assert_eq!(
        (tunnelled.status, tunnelled.body.as_str()),
        (200, "upstream saw DELETE /v1/volumes/1"),
        "{tunnelled:?}"
    );
    let with_ours = gw.curl(&["--cacert", &ca, &direct]);
    assert!(!with_ours.ok, "a passthrough host is not intercepted: {with_ours:?}");

    let seen: Vec<String> = s.tls.seen().iter().map(|r| format!("{} {}", r.method, r.path)).collect();
    assert_eq!(seen, ["GET /v1/status", "GET /v1/status", "DELETE /v1/volumes/1"]);
    assert_eq!(s.tls.seen()[1].header("host"), Some(format!("localhost:{port}").as_str()));
}

#[test]
fn unknown_hosts_deny_refuses_hosts_nothing_knows() {
    let s = setup();
    let hosts = "[[hosts]]\nmatch = \"127.0.0.1\"\ntags = []\n";
    // `[[hosts]]` must come after the top-level keys and before `[proxy]`.
    let gw = Gateway::start(hosts, "unknown_hosts = \"deny\"", &s.ca.pem);
    let port = s.plain.port();
    let unknown = gw.curl(&[&format!("http://localhost:{port}/v1/status")]);
    assert_eq!(unknown.status, 403, "{unknown:?}");
    insta::assert_json_snapshot!("proxy_unknown_host_refusal", pinned(&unknown, port));
    let known = gw.curl(&[&format!("http://127.0.0.1:{port}/v1/status")]);
    assert_eq!(known.status, 200, "{known:?}");
    assert_eq!(s.plain.seen().len(), 1);
}

#[test]
fn sigterm_stops_gracefully_and_every_decision_is_audited() {
    let s = setup();
    let mut gw = Gateway::start("hold_wait = \"0s\"", "", &s.ca.pem);
    let port = s.plain.port();
    assert_eq!(gw.curl(&[&format!("http://127.0.0.1:{port}/a")]).status, 200);
    assert_eq!(gw.curl(&["-X", "DELETE", &format!("http://127.0.0.1:{port}/b")]).status, 409);
    let home = gw.home.path().to_path_buf();
    let (status, log) = gw.stop();
    assert!(status.success(), "{log}");
    assert!(log.contains("holdpoint: stopped"), "{log}");
    let out = holdpoint(&home).args(["audit", "show", "--json"]).assert().success();
    let records: Vec<Value> =
        String::from_utf8_lossy(&out.get_output().stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let http: Vec<&str> = records
        .iter()
        .filter(|r| r["channel"] == "http" && r["kind"] == "decision")
        .map(|r| r["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(http, ["allow", "hold"], "{records:?}");
    assert!(records.iter().any(|r| r["kind"] == "held"));
    holdpoint(&home).args(["audit", "verify"]).assert().success();
}

#[test]
fn ca_export_prints_the_certificate_init_made() {
    let home = TempDir::new().unwrap();
    holdpoint(home.path()).arg("init").assert().success();
    let out = holdpoint(home.path()).args(["ca", "export"]).assert().success();
    let pem = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    assert_eq!(pem, std::fs::read_to_string(home.path().join("state/proxy-ca.pem")).unwrap());
    let key = std::fs::metadata(home.path().join("state/proxy-ca.key")).unwrap();
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&key.permissions()) & 0o777, 0o600);
    holdpoint(home.path()).arg("init").assert().success();
    let again = holdpoint(home.path()).args(["ca", "export"]).assert().success();
    assert_eq!(again.get_output().stdout, out.get_output().stdout, "a second init keeps the CA");
    let empty = TempDir::new().unwrap();
    holdpoint(empty.path()).args(["ca", "export"]).assert().failure();
}

#[test]
fn vault_placeholders_become_secrets_inside_their_binding_only() {
    let s = setup();
    let home = Gateway::init("hold_wait = \"0s\"", "");
    let key = home.path().join("vault.key");
    std::fs::write(&key, format!("{}\n", "5a".repeat(32))).unwrap();
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let add = |args: &[&str], secret: &str| -> String {
        let out = holdpoint(home.path())
            .args(["vault", "add"])
            .args(args)
            .arg("--json")
            .env("HOLDPOINT_VAULT_KEY_FILE", &key)
            .write_stdin(secret)
            .assert()
            .success();
        let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        v["placeholders"]["value"].as_str().unwrap().to_owned()
    };
    let token = add(&["api", "--host", "127.0.0.1", "--methods", "GET,POST", "--paths", "/v1/**"], "sk-real-123");
    let basic = add(&["db-admin", "--host", "127.0.0.1", "--kind", "basic"], "admin:pw-real-456");
    let query = add(
        &["maps", "--host", "127.0.0.1", "--kind", "query", "--param", "key", "--tags", "production"],
        "qs-real-789",
    );
    let gw = Gateway::spawn(home, &s.ca.pem, &[("HOLDPOINT_VAULT_KEY_FILE", &key)]);
    let base = format!("http://127.0.0.1:{}", s.plain.port());
    let bearer = format!("Authorization: Bearer {token}");

    assert_eq!(gw.curl(&[&format!("{base}/v1/me"), "-H", &bearer]).status, 200);
    assert_eq!(gw.curl(&["-u", &format!("someone:{basic}"), &format!("{base}/admin")]).status, 200);
    assert_eq!(gw.curl(&[&format!("{base}/geo?key={query}&q=x")]).status, 200);
    let seen = s.plain.seen();
    assert_eq!(seen[0].header("authorization"), Some("Bearer sk-real-123"));
    assert_eq!(seen[1].header("authorization"), Some("Basic YWRtaW46cHctcmVhbC00NTY="), "admin:pw-real-456");
    assert_eq!(seen[2].path, "/geo?key=qs-real-789&q=x");

    // Outside the binding: refused, and nothing reaches the upstream.
    let wrong_path = gw.curl(&[&format!("{base}/v2/me"), "-H", &bearer]);
    assert_eq!(wrong_path.status, 403, "{wrong_path:?}");
    insta::assert_json_snapshot!("proxy_secret_out_of_scope_refusal", pinned(&wrong_path, s.plain.port()));
    let wrong_header = gw.curl(&[&format!("{base}/v1/me"), "-H", &format!("X-Debug: {token}")]);
    assert_eq!(wrong_header.status, 403, "a placeholder outside the header its secret goes in: {wrong_header:?}");
    let unknown = gw.curl(&[&format!("{base}/v1/me"), "-H", "Authorization: Bearer hp_aaaaaaaaaaaaaaaaaaaaaaaaaa"]);
    assert_eq!(unknown.status, 403, "{unknown:?}");
    // A production secret makes the request a production action: a write no rule knows is held.
    let write = gw.curl(&[&format!("{base}/geo?key={query}"), "-d", "x=1"]);
    assert_eq!(write.status, 409, "{write:?}");
    assert_eq!(s.plain.seen().len(), 3);

    let audit = holdpoint(gw.home.path()).args(["audit", "export"]).assert().success();
    let audit = String::from_utf8_lossy(&audit.get_output().stdout).into_owned();
    assert!(audit.contains("secret_out_of_scope") || audit.contains("vault-scope"), "refusals are audited: {audit}");
    for secret in ["sk-real-123", "pw-real-456", "qs-real-789", "YWRtaW46cHctcmVhbC00NTY"] {
        assert!(!audit.contains(secret), "the audit log never holds a secret");
    }

    // `vault list` shows when the proxy last used each secret (written off the request path).
    let last_used = |name: &str| -> Value {
        let out = holdpoint(gw.home.path()).args(["vault", "list", "--json"]).assert().success();
        let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        let list = v["secrets"].as_array().unwrap().clone();
        list.into_iter().find(|s| s["name"] == name).unwrap()["last_used"].clone()
    };
    for _ in 0..200 {
        if !last_used("api").is_null() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(last_used("api").is_u64(), "the proxy injected it");
    assert!(last_used("db-admin").is_u64());
}

#[test]
fn websocket_upgrades_pass_through_once_the_handshake_is_allowed() {
    use std::io::{Read, Write};
    let s = setup();
    let gw = Gateway::start("", "", &s.ca.pem);
    let port = s.plain.port();
    let mut stream = std::net::TcpStream::connect(&gw.addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let handshake = format!(
        "GET http://127.0.0.1:{port}/socket HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: Upgrade\r\n\
         Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    stream.write_all(handshake.as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("upgrade: websocket"), "{head}");
    stream.write_all(b"frames both ways").unwrap();
    let mut echoed = [0u8; 16];
    stream.read_exact(&mut echoed).unwrap();
    assert_eq!(&echoed, b"frames both ways");
}

/// A loopback upstream that answers each request with the next of its scripted responses,
/// byte for byte (in small writes), and counts the connections it accepted.
struct Scripted {
    addr: SocketAddr,
    connections: Arc<Mutex<usize>>,
    requests: Arc<Mutex<Vec<String>>>,
}

/// One scripted answer: its bytes, and whether the upstream closes the connection after it.
type Answer = (Vec<u8>, bool);

impl Scripted {
    fn start(script: Vec<Answer>) -> Scripted {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let script = Arc::new(Mutex::new(std::collections::VecDeque::from(script)));
        let (connections, requests) = (Arc::new(Mutex::new(0)), Arc::new(Mutex::new(Vec::new())));
        let (count, record) = (Arc::clone(&connections), Arc::clone(&requests));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                *count.lock().unwrap() += 1;
                let (script, record) = (Arc::clone(&script), Arc::clone(&record));
                std::thread::spawn(move || {
                    loop {
                        let mut head = Vec::new();
                        let mut byte = [0u8; 1];
                        while !head.ends_with(b"\r\n\r\n") {
                            if stream.read(&mut byte).unwrap_or(0) == 0 {
                                return;
                            }
                            head.push(byte[0]);
                        }
                        let head = String::from_utf8_lossy(&head).into_owned();
                        let length = head
                            .lines()
                            .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(str::to_owned))
                            .map_or(0, |n| n.trim().parse::<usize>().unwrap());
                        let mut body = vec![0u8; length];
                        stream.read_exact(&mut body).unwrap();
                        record.lock().unwrap().push(format!("{head}{}", String::from_utf8_lossy(&body)));
                        let Some((answer, close)) = script.lock().unwrap().pop_front() else { return };
                        for piece in answer.chunks(1000) {
                            stream.write_all(piece).unwrap();
                            stream.flush().unwrap();
                        }
                        if close {
                            return;
                        }
                    }
                });
            }
        });
        Scripted { addr, connections, requests }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn connections(&self) -> usize {
        *self.connections.lock().unwrap()
    }
}

/// Plain-HTTP answers of every framing reach the agent intact, and the upstream connection is
/// kept between requests unless the upstream closes it.
#[test]
fn plain_http_answers_of_every_framing_pass_and_upstream_connections_are_kept() {
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let mut fixed = b"HTTP/1.1 200 OK\r\ncontent-length: 300000\r\n\r\n".to_vec();
    fixed.extend_from_slice(&big);
    let upstream = Scripted::start(vec![
        (
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=y\r\n world\r\n0\r\n\r\n".to_vec(),
            false,
        ),
        (b"HTTP/1.1 204 No Content\r\n\r\n".to_vec(), false),
        (fixed, false),
        (b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\nx-kind: head\r\n\r\n".to_vec(), false),
        (b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nruns to the close".to_vec(), true),
        (b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfresh".to_vec(), false),
    ]);
    let dir = TempDir::new().unwrap();
    let gw = Gateway::start("", "", &test_ca(dir.path()).pem);
    // One agent connection, so one worker and its pool serve these three requests.
    let out = dir.path().join("big");
    let three = gw.curl(&[
        "--max-time",
        "10",
        &upstream.url("/chunked"),
        &upstream.url("/empty"),
        &upstream.url("/big"),
        "-o",
        "/dev/stdout",
        "-o",
        "/dev/stdout",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(three.ok, "{three:?}");
    assert!(three.body.starts_with("hello world\n200 1.1\n204 1.1"), "{three:?}");
    assert_eq!(std::fs::read(&out).unwrap(), big, "the large body arrived byte for byte");
    assert_eq!(upstream.connections(), 1, "three requests, one upstream connection");

    let head = gw.curl(&["--max-time", "10", "-I", &upstream.url("/head")]);
    assert!(head.ok && head.status == 200, "a HEAD answer has no body, whatever its length says: {head:?}");
    assert!(head.body.contains("content-length: 1000") && head.body.contains("x-kind: head"), "{head:?}");
    let to_close = gw.curl(&["--max-time", "10", &upstream.url("/close")]);
    assert_eq!((to_close.status, to_close.body.as_str()), (200, "runs to the close"), "{to_close:?}");
    let after = gw.curl(&["--max-time", "10", &upstream.url("/after")]);
    assert_eq!((after.status, after.body.as_str()), (200, "fresh"), "{after:?}");
    let requests = upstream.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 6, "{requests:?}");
    assert!(requests[3].starts_with("HEAD /head HTTP/1.1\r\n"), "{requests:?}");
    assert!(requests[0].contains(&format!("host: {}\r\n", upstream.addr)), "{requests:?}");
    assert!(upstream.connections() >= 2, "a connection the upstream closed is not used again");
}

/// A pooled connection the upstream closed while it sat idle is not used: the next request
/// goes out on a new one.
#[test]
fn a_pooled_connection_the_upstream_closed_is_replaced() {
    let upstream = Scripted::start(vec![
        (b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfirst".to_vec(), true),
        (b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nsecond".to_vec(), false),
    ]);
    let dir = TempDir::new().unwrap();
    let gw = Gateway::start("", "", &test_ca(dir.path()).pem);
    // The first answer does not say it closes: the proxy keeps the connection until it sees
    // the close, before the second request.
    let both = gw.curl(&["--max-time", "10", &upstream.url("/1"), &upstream.url("/2")]);
    assert!(both.ok, "{both:?}");
    assert!(both.body.starts_with("first\n200 1.1second"), "{both:?}");
    assert_eq!(upstream.connections(), 2);
}

/// An answer that is not well-framed HTTP/1.1 is a bad gateway naming why, never passed on.
#[test]
fn a_malformed_upstream_answer_is_a_bad_gateway() {
    let upstream = Scripted::start(vec![
        (b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello!".to_vec(), true),
        (b"HTTP/1.1 200 OK\r\ncontent-length: 50\r\n\r\ncut short".to_vec(), true),
    ]);
    let dir = TempDir::new().unwrap();
    let gw = Gateway::start("", "", &test_ca(dir.path()).pem);
    let two = gw.curl(&["--max-time", "10", &upstream.url("/two-lengths")]);
    assert_eq!(two.status, 502, "{two:?}");
    assert!(two.json()["error"].as_str().unwrap().contains("two different content-lengths"), "{two:?}");
    let short = gw.curl(&["--max-time", "10", &upstream.url("/short")]);
    assert!(!short.ok, "a body cut short is not passed on as complete: {short:?}");
}
