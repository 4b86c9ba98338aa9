//! The proxy's one error type: what went wrong while starting it, and what to do.

use std::path::PathBuf;

/// Why the proxy cannot start (requests never fail with an `Error`: they are refused).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The listen address is not a loopback address.
    #[error(
        "{0} is not a loopback address; the egress proxy listens on loopback only (set [proxy] listen to 127.0.0.1:PORT or [::1]:PORT)"
    )]
    NotLoopback(std::net::SocketAddr),
    /// The listen socket could not be opened.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The local CA is not there yet.
    #[error("the local CA ({0}) does not exist; run `holdpoint init` to make it")]
    NoCa(PathBuf),
    /// The local CA's files are there but unusable.
    #[error(
        "the local CA in {dir} cannot be used: {reason}; remove {key} and {cert} and run `holdpoint init` to make a new one (and trust it again)"
    )]
    BadCa {
        /// The state directory.
        dir: PathBuf,
        /// The key file name.
        key: &'static str,
        /// The certificate file name.
        cert: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A certificate could not be made.
    #[error("cannot make a certificate: {0}")]
    Certificate(String),
    /// TLS could not be set up.
    #[error("cannot set up TLS: {0}")]
    Tls(String),
    /// `SSL_CERT_FILE` names a file without usable certificates.
    #[error("SSL_CERT_FILE={path}: {reason}")]
    CertFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A block of the configuration cannot be served as written.
    #[error("{0}")]
    Config(String),
}
