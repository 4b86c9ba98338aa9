//! The connection to the real server: plain TCP, or TLS when the block's `tls` asks for it.
//!
//! With `tls = "require"` or `"verify-full"` the proxy sends `SSLRequest` first; a server that
//! answers `N` is refused (never a fallback to plaintext). `require` encrypts without checking
//! the certificate (libpq's `sslmode=require`); `verify-full` checks the chain against the
//! Mozilla roots and the block's `ca_file`, and the name against the upstream host.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use holdpoint_policy::config::{PgTls, PostgresProxy};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::wire::SSL_REQUEST;
use crate::forward::{certificates, provider};

/// A block's TLS to its server: `None` for plaintext, or why it cannot be set up (every
/// connection is then refused with that reason).
pub(crate) type UpstreamTls = Result<Option<Arc<ClientConfig>>, String>;

/// The TLS configuration `block` asks for.
pub(crate) fn upstream_tls(block: &PostgresProxy) -> UpstreamTls {
    let builder = || {
        ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("no TLS configuration for {}: {e}", block.name))
    };
    let mut config = match block.tls {
        PgTls::Disable => return Ok(None),
        PgTls::Require => builder()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Unchecked(provider())))
            .with_no_client_auth(),
        PgTls::VerifyFull => {
            let mut roots = RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
            if let Some(path) = &block.ca_file {
                let bad = |reason: String| format!("ca_file {} of {}: {reason}", path.display(), block.name);
                let certs = certificates(path).map_err(|e| match e {
                    crate::Error::CertFile { reason, .. } => bad(reason),
                    other => bad(other.to_string()),
                })?;
                for cert in certs {
                    roots.add(cert).map_err(|e| bad(e.to_string()))?;
                }
            }
            builder()?.with_root_certificates(roots).with_no_client_auth()
        }
    };
    // What PostgreSQL 17 asks of TLS clients; earlier servers ignore it.
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(Some(Arc::new(config)))
}

/// The connection to the server.
pub(crate) enum ServerStream {
    /// Plaintext.
    Plain(TcpStream),
    /// TLS.
    Tls(Box<TlsStream<TcpStream>>),
}

/// Connects to `block`'s server: TCP, then `SSLRequest` and the TLS handshake when `tls` is
/// given. The error says what failed, for the agent.
pub(crate) async fn open(block: &PostgresProxy, tls: &UpstreamTls) -> Result<ServerStream, String> {
    let tls = tls.as_ref().map_err(Clone::clone)?;
    let mut tcp = TcpStream::connect(&block.upstream)
        .await
        .map_err(|e| format!("cannot reach the server {} of {}: {e}", block.upstream, block.name))?;
    let _ = tcp.set_nodelay(true);
    let Some(config) = tls else {
        return Ok(ServerStream::Plain(tcp));
    };
    let failed = |what: String| format!("TLS to the server {} of {} failed: {what}", block.upstream, block.name);
    let mut request = 8i32.to_be_bytes().to_vec();
    request.extend_from_slice(&SSL_REQUEST.to_be_bytes());
    tcp.write_all(&request).await.map_err(|e| failed(e.to_string()))?;
    // One byte, read unbuffered: whatever follows it is the TLS handshake's.
    let answer = tcp.read_u8().await.map_err(|e| failed(e.to_string()))?;
    match answer {
        b'S' => {}
        b'N' => {
            return Err(format!(
                "the server {} of {} does not accept TLS (it answered N to SSLRequest) and tls = {:?} \
                 refuses plaintext; turn ssl on in the server, or set tls = \"disable\"",
                block.upstream,
                block.name,
                block.tls.as_str()
            ));
        }
        other => return Err(failed(format!("the server answered SSLRequest with {:?}", char::from(other)))),
    }
    let name = server_name(&block.upstream).map_err(failed)?;
    let stream =
        TlsConnector::from(Arc::clone(config)).connect(name, tcp).await.map_err(|e| failed(handshake_error(&e)))?;
    Ok(ServerStream::Tls(Box::new(stream)))
}

/// Writes `bytes` and flushes them: TLS keeps what it could not send yet until a flush.
pub(crate) async fn send<W: AsyncWrite + Unpin>(w: &mut W, bytes: &[u8]) -> io::Result<()> {
    w.write_all(bytes).await?;
    w.flush().await
}

/// A handshake error with its TLS cause (the certificate's problem, when that was it).
fn handshake_error(e: &io::Error) -> String {
    match e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
        Some(cert @ rustls::Error::InvalidCertificate(_)) => format!(
            "{cert}; with tls = \"verify-full\" the server's certificate must chain to the Mozilla roots or \
             to the block's ca_file, and name the upstream host"
        ),
        Some(tls) => tls.to_string(),
        None => e.to_string(),
    }
}

/// The host of a `host:port` upstream, as a TLS server name (a DNS name or an IP address).
fn server_name(upstream: &str) -> Result<ServerName<'static>, String> {
    let host = upstream.rsplit_once(':').map_or(upstream, |(host, _)| host);
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    ServerName::try_from(host.to_owned()).map_err(|e| format!("{host:?} is not a TLS server name: {e}"))
}

impl AsyncRead for ServerStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ServerStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            ServerStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ServerStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ServerStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            ServerStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ServerStream::Plain(s) => Pin::new(s).poll_flush(cx),
            ServerStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ServerStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            ServerStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// `tls = "require"`: any certificate is taken (the handshake's signatures are still checked,
/// so the session is encrypted to whoever holds the certificate's key).
#[derive(Debug)]
struct Unchecked(Arc<CryptoProvider>);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(tls: PgTls, ca_file: Option<&std::path::Path>) -> PostgresProxy {
        PostgresProxy {
            name: "prod".into(),
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            upstream: "127.0.0.1:5432".into(),
            database: "app".into(),
            credential: "prod-db".into(),
            tags: vec![],
            tls,
            ca_file: ca_file.map(std::path::Path::to_path_buf),
        }
    }

    #[test]
    fn each_mode_gets_its_configuration_and_a_bad_ca_file_is_a_reason_to_refuse() {
        assert!(upstream_tls(&block(PgTls::Disable, None)).unwrap().is_none());
        let required = upstream_tls(&block(PgTls::Require, None)).unwrap().unwrap();
        assert_eq!(required.alpn_protocols, [b"postgresql".to_vec()]);
        assert!(upstream_tls(&block(PgTls::VerifyFull, None)).unwrap().is_some());
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let why = upstream_tls(&block(PgTls::VerifyFull, Some(&missing))).unwrap_err();
        assert!(why.starts_with(&format!("ca_file {} of prod: ", missing.display())), "{why}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let why = upstream_tls(&block(PgTls::VerifyFull, Some(&empty))).unwrap_err();
        assert!(why.contains("no PEM certificate"), "{why}");
    }

    #[test]
    fn server_names_come_from_the_upstream_host() {
        assert_eq!(server_name("db.internal:5432").unwrap(), ServerName::try_from("db.internal").unwrap());
        assert_eq!(server_name("127.0.0.1:5432").unwrap(), ServerName::try_from("127.0.0.1").unwrap());
        assert_eq!(server_name("[::1]:5432").unwrap(), ServerName::try_from("::1").unwrap());
        assert!(server_name("bad host:5432").is_err());
    }
}
