//! The rustls side shared by all sockets: one crypto provider, one set of trust anchors, one
//! certificate verifier, and one `ClientConfig` per distinct protocol choice, so that sockets to the same
//! server share the session cache and resume. The per-socket hook does not force a config per socket:
//! the verifier finds it through the handshake context of the calling thread (see `verify`).

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer};
use rustls::{ClientConfig, RootCertStore};

use super::identity::{ClientIdentity, RecordingResolver};
use super::options::Protocols;
use super::sessions::ScopedSessionStore;
use super::verify::CeVerifier;
use crate::error::{Error, Result, WsaCode};
use crate::log::log;
use crate::settings::{self, Level};

/// The crypto provider: aws-lc-rs (the default feature: faster here, and offers the post-quantum
/// hybrid key exchange), or ring (`--no-default-features --features ring`); docs/benchmarks.md.
pub fn provider() -> &'static Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER.get_or_init(|| Arc::new(chosen_provider()))
}

#[cfg(feature = "aws-lc-rs")]
fn chosen_provider() -> CryptoProvider {
    rustls::crypto::aws_lc_rs::default_provider()
}

#[cfg(all(feature = "ring", not(feature = "aws-lc-rs")))]
fn chosen_provider() -> CryptoProvider {
    rustls::crypto::ring::default_provider()
}

#[cfg(not(any(feature = "aws-lc-rs", feature = "ring")))]
compile_error!("sslsock needs a crypto provider: the `aws-lc-rs` (default) or the `ring` feature");

/// The trust anchors: the system store, replaced by `SSL_CERT_FILE` / `SSL_CERT_DIR` when set.
/// Loaded on first use, outside every lock of the descriptor table.
pub fn roots() -> &'static Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS.get_or_init(|| Arc::new(load_roots()))
}

fn load_roots() -> RootCertStore {
    let mut store = RootCertStore::empty();
    let certs: Vec<CertificateDer<'static>> = if settings::get().secure_exec {
        // setuid: the environment is not trusted; only the distribution's bundle.
        CertificateDer::pem_file_iter("/etc/ssl/certs/ca-certificates.crt")
            .map(|iter| iter.filter_map(|c| c.ok()).collect())
            .unwrap_or_default()
    } else {
        let found = rustls_native_certs::load_native_certs();
        for error in &found.errors {
            log!(Level::Warn, "trust anchors: {error}");
        }
        found.certs
    };
    let (added, ignored) = store.add_parsable_certificates(certs);
    log!(
        Level::Info,
        "trust anchors: {added} loaded, {ignored} unusable (SSL_CERT_FILE={:?}, SSL_CERT_DIR={:?})",
        settings::env("SSL_CERT_FILE"),
        settings::env("SSL_CERT_DIR")
    );
    if added == 0 {
        log!(
            Level::Warn,
            "no trust anchors: every certificate will carry SSL_CERT_FLAG_ISSUER_UNKNOWN"
        );
    }
    store
}

/// The one verifier, shared by every config.
pub fn verifier() -> &'static Arc<CeVerifier> {
    static VERIFIER: OnceLock<Arc<CeVerifier>> = OnceLock::new();
    VERIFIER.get_or_init(|| Arc::new(CeVerifier::new(roots().clone(), crls(), provider())))
}

/// The one session store, shared by every config (its keys carry the policy).
fn sessions() -> &'static Arc<ScopedSessionStore> {
    static SESSIONS: OnceLock<Arc<ScopedSessionStore>> = OnceLock::new();
    SESSIONS.get_or_init(|| Arc::new(ScopedSessionStore::default()))
}

/// The shared client configuration for a protocol choice and client identity. Built outside the lock
/// (two threads may both build one; the first is kept).
pub fn client_config(
    protocols: Protocols,
    identity: Option<&Arc<ClientIdentity>>,
) -> Result<Arc<ClientConfig>> {
    type Key = (bool, bool, Option<String>, bool);
    static CONFIGS: Mutex<BTreeMap<Key, Arc<ClientConfig>>> = Mutex::new(BTreeMap::new());
    // Kernel TLS needs the traffic secrets handed over after the handshake (SSLSOCK_KTLS).
    let ktls = settings::get().ktls;
    let key: Key = (
        protocols.tls12,
        protocols.tls13,
        identity.map(|i| i.origin.clone()),
        ktls,
    );
    if let Some(config) = CONFIGS.lock().get(&key) {
        return Ok(config.clone());
    }
    let versions: &[&'static rustls::SupportedProtocolVersion] =
        match (protocols.tls12, protocols.tls13) {
            (true, true) => &[&rustls::version::TLS13, &rustls::version::TLS12],
            (true, false) => &[&rustls::version::TLS12],
            _ => &[&rustls::version::TLS13],
        };
    let builder = ClientConfig::builder_with_provider(provider().clone())
        .with_protocol_versions(versions)
        .map_err(|e| Error::new(WsaCode::EINVAL, format!("TLS configuration: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier().clone());
    let resolver = RecordingResolver::new(identity.map(|i| &**i), provider())?;
    let mut config = builder.with_client_cert_resolver(Arc::new(resolver));
    config.resumption = rustls::client::Resumption::store(sessions().clone());
    config.enable_secret_extraction = ktls;
    if settings::env("SSLKEYLOGFILE").is_some() {
        config.key_log = Arc::new(rustls::KeyLogFile::new());
    }
    let config = Arc::new(config);
    Ok(CONFIGS.lock().entry(key).or_insert(config).clone())
}

/// The certificate revocation lists of `SSLSOCK_CRL_FILE` (several files separated by ':'; each PEM
/// with one or more "X509 CRL" blocks, or DER). Loaded once.
pub fn crls() -> &'static [webpki::CertRevocationList<'static>] {
    static CRLS: OnceLock<Vec<webpki::CertRevocationList<'static>>> = OnceLock::new();
    CRLS.get_or_init(|| {
        let Some(files) = settings::env("SSLSOCK_CRL_FILE") else {
            return Vec::new();
        };
        let mut crls = Vec::new();
        for file in files.split(':').filter(|f| !f.is_empty()) {
            let ders: Vec<Vec<u8>> = match std::fs::read(file) {
                Ok(bytes)
                    if bytes.starts_with(b"-----")
                        || bytes.iter().take(64).all(|b| b.is_ascii()) =>
                {
                    CertificateRevocationListDer::pem_slice_iter(&bytes)
                        .filter_map(|c| c.ok())
                        .map(|c| c.as_ref().to_vec())
                        .collect()
                }
                Ok(bytes) => vec![bytes],
                Err(e) => {
                    log!(Level::Error, "SSLSOCK_CRL_FILE: cannot read '{file}': {e}");
                    continue;
                }
            };
            for der in ders {
                match webpki::OwnedCertRevocationList::from_der(&der) {
                    Ok(crl) => crls.push(webpki::CertRevocationList::Owned(crl)),
                    Err(e) => log!(
                        Level::Error,
                        "SSLSOCK_CRL_FILE: '{file}': unusable CRL: {e}"
                    ),
                }
            }
        }
        log!(
            Level::Info,
            "certificate revocation lists: {} loaded",
            crls.len()
        );
        crls
    })
}
