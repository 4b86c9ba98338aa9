//! The upstream of `bench/http.sh`: a loopback HTTP/1.1 server answering every request with a
//! short body, as fast as hyper can. `--tls DIR` serves TLS with a certificate for `localhost`
//! from a CA it writes to `DIR/upstream-ca.pem` (give that to the proxy as `SSL_CERT_FILE`).
//!
//! ```text
//! cargo run --release -p holdpoint-proxy --example bench_upstream -- 127.0.0.1:9001
//! cargo run --release -p holdpoint-proxy --example bench_upstream -- 127.0.0.1:9002 --tls /tmp/bench
//! ```

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

type Error = Box<dyn std::error::Error + Send + Sync>;

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addr = args.first().ok_or("usage: bench_upstream ADDR [--tls DIR]")?.clone();
    let tls = match args.get(1).map(String::as_str) {
        Some("--tls") => Some(tls_config(std::path::Path::new(args.get(2).ok_or("--tls needs a directory")?))?),
        Some(other) => return Err(format!("unknown argument {other}").into()),
        None => None,
    };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(serve(&addr, tls))
}

async fn serve(addr: &str, tls: Option<Arc<rustls::ServerConfig>>) -> Result<(), Error> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    eprintln!("bench_upstream listening on {}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let tls = tls.clone();
        tokio::spawn(async move {
            let service = service_fn(|_: Request<hyper::body::Incoming>| async {
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"hello from upstream\n"))))
            });
            let http = hyper::server::conn::http1::Builder::new();
            match tls {
                Some(config) => {
                    if let Ok(stream) = tokio_rustls::TlsAcceptor::from(config).accept(stream).await {
                        let _ = http.serve_connection(TokioIo::new(stream), service).await;
                    }
                }
                None => {
                    let _ = http.serve_connection(TokioIo::new(stream), service).await;
                }
            }
        });
    }
}

/// A CA written to `dir/upstream-ca.pem`, and a certificate from it for localhost.
fn tls_config(dir: &std::path::Path) -> Result<Arc<rustls::ServerConfig>, Error> {
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "bench upstream CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate()?;
    let leaf =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?.signed_by(&key, &issuer)?;
    std::fs::write(dir.join("upstream-ca.pem"), ca_cert.pem())?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone(), ca_cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )?;
    Ok(Arc::new(config))
}
