//! The local CA the proxy intercepts TLS with, and the leaf certificates it mints per host.
//!
//! `holdpoint init` makes the CA (an ECDSA P-256 key, mode 0600, and a self-signed
//! certificate) in the state directory; agents trust the certificate (`holdpoint ca export`).
//! Leaf certificates are minted on first use of a host, valid for 30 days, and kept in memory.

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PublicKeyData,
};
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::{Digest, Sha256};

use crate::Error;

/// The CA certificate (PEM) in the state directory.
pub const CA_CERT_FILE: &str = "proxy-ca.pem";
/// The CA's private key (PKCS#8 PEM, mode 0600) in the state directory.
pub const CA_KEY_FILE: &str = "proxy-ca.key";

/// How long a minted leaf certificate is valid, and how long it is used.
const LEAF_VALID: Duration = Duration::from_secs(30 * 24 * 3600);
const LEAF_REUSE: Duration = Duration::from_secs(20 * 24 * 3600);
/// Past this many hosts the leaf cache starts over.
const MAX_LEAVES: usize = 4096;

/// The local CA, loaded, with its cache of per-host TLS server configurations.
pub struct Ca {
    cert_pem: String,
    cert_der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
    leaves: Mutex<HashMap<String, (Instant, Arc<ServerConfig>)>>,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca").finish_non_exhaustive()
    }
}

impl Ca {
    /// Makes the CA in `state_dir` unless it is there; returns whether it made it. Half a CA
    /// (a key without a certificate, or the reverse) is an error, never overwritten.
    pub fn create(state_dir: &Path) -> Result<bool, Error> {
        let (key_path, cert_path) = (state_dir.join(CA_KEY_FILE), state_dir.join(CA_CERT_FILE));
        match (key_path.exists(), cert_path.exists()) {
            (true, true) => return Ok(false),
            (false, false) => {}
            _ => return Err(bad_ca(state_dir, "one of its two files is missing".into())),
        }
        let key = KeyPair::generate().map_err(cert_error)?;
        let mut params = ca_params(&key);
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(1);
        params.not_after = now + time::Duration::days(3650);
        let cert = params.self_signed(&key).map_err(cert_error)?;
        write_new(&key_path, key.serialize_pem().as_bytes(), 0o600)?;
        write_new(&cert_path, cert.pem().as_bytes(), 0o644)?;
        Ok(true)
    }

    /// Loads the CA from `state_dir`.
    pub fn load(state_dir: &Path) -> Result<Ca, Error> {
        let key_path = state_dir.join(CA_KEY_FILE);
        let cert_path = state_dir.join(CA_CERT_FILE);
        if !key_path.exists() && !cert_path.exists() {
            return Err(Error::NoCa(cert_path));
        }
        let key_pem = read(&key_path)?;
        let cert_pem = read(&cert_path)?;
        let key =
            KeyPair::from_pem(&key_pem).map_err(|e| bad_ca(state_dir, format!("its key does not parse ({e})")))?;
        let cert_der =
            pem_certificate(&cert_pem).ok_or_else(|| bad_ca(state_dir, "its certificate does not parse".into()))?;
        let issuer = Issuer::new(ca_params(&key), key);
        Ok(Ca { cert_pem, cert_der, issuer, leaves: Mutex::new(HashMap::new()) })
    }

    /// The CA certificate, PEM, as agents must trust it.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The TLS configuration that presents `host`'s certificate (minted on first use) with
    /// ALPN `h2` and `http/1.1`.
    pub(crate) fn server_config(&self, host: &str) -> Result<Arc<ServerConfig>, Error> {
        let host = host.to_ascii_lowercase();
        if let Some((made, config)) = self.leaves.lock().ok().as_ref().and_then(|m| m.get(&host).cloned())
            && made.elapsed() < LEAF_REUSE
        {
            return Ok(config);
        }
        let config = Arc::new(self.mint(&host)?);
        if let Ok(mut leaves) = self.leaves.lock() {
            if leaves.len() >= MAX_LEAVES {
                leaves.clear();
            }
            leaves.insert(host, (Instant::now(), Arc::clone(&config)));
        }
        Ok(config)
    }

    fn mint(&self, host: &str) -> Result<ServerConfig, Error> {
        let key = KeyPair::generate().map_err(cert_error)?;
        let mut params = CertificateParams::new(vec![host.to_owned()]).map_err(cert_error)?;
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, host);
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::hours(1);
        params.not_after = now + LEAF_VALID;
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params.signed_by(&key, &self.issuer).map_err(cert_error)?;
        let chain = vec![cert.der().clone(), self.cert_der.clone()];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let mut config = ServerConfig::builder_with_provider(crate::forward::provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Tls(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| Error::Tls(e.to_string()))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }
}

/// The CA's name and uses. The name carries a fingerprint of the key, so two machines' CAs
/// are told apart in a trust store, and the issuer can be rebuilt from the key alone.
fn ca_params(key: &KeyPair) -> CertificateParams {
    let mut params = CertificateParams::default();
    let fingerprint: String =
        Sha256::digest(key.subject_public_key_info()).iter().take(6).map(|b| format!("{b:02x}")).collect();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::OrganizationName, "Holdpoint");
    params.distinguished_name.push(DnType::CommonName, format!("Holdpoint local CA {fingerprint}"));
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    params
}

/// The first certificate of a PEM text.
pub(crate) fn pem_certificate(pem: &str) -> Option<CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::pem_slice_iter(pem.as_bytes()).next()?.ok()
}

fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|source| Error::File { path: path.to_path_buf(), source })
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), Error> {
    let file_error = |source| Error::File { path: path.to_path_buf(), source };
    let mut file =
        std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(path).map_err(file_error)?;
    file.write_all(bytes).and_then(|()| file.sync_all()).map_err(file_error)
}

fn bad_ca(dir: &Path, reason: String) -> Error {
    Error::BadCa { dir: PathBuf::from(dir), key: CA_KEY_FILE, cert: CA_CERT_FILE, reason }
}

fn cert_error(e: rcgen::Error) -> Error {
    Error::Certificate(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_loaded_and_mints_for_names_and_addresses() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Ca::create(dir.path()).unwrap());
        assert!(!Ca::create(dir.path()).unwrap(), "a second init keeps the CA");
        let mode = std::fs::metadata(dir.path().join(CA_KEY_FILE)).unwrap();
        assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777, 0o600);
        let ca = Ca::load(dir.path()).unwrap();
        assert!(ca.cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));
        let a = ca.server_config("api.example.com").unwrap();
        let b = ca.server_config("API.example.com").unwrap();
        assert!(Arc::ptr_eq(&a, &b), "one leaf per host");
        ca.server_config("127.0.0.1").unwrap();
        std::fs::remove_file(dir.path().join(CA_CERT_FILE)).unwrap();
        assert!(Ca::create(dir.path()).is_err(), "half a CA is not overwritten");
    }
}
