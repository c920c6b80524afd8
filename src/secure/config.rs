//! The rustls side shared by all sockets: one crypto provider, one set of trust anchors, one
//! certificate verifier, and one `ClientConfig` per distinct protocol choice, so that sockets to the same
//! server share the session cache and resume. The per-socket hook does not force a config per socket:
//! the verifier finds it through the handshake context of the calling thread (see `verify`).

use std::sync::{Arc, OnceLock};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

use super::options::Protocols;
use super::sessions::ScopedSessionStore;
use super::verify::CeVerifier;
use crate::error::{Error, Result, WsaCode};
use crate::log::log;
use crate::settings::{self, Level};

/// The crypto provider (aws-lc-rs: fastest here, and offers the post-quantum hybrid key exchange).
pub fn provider() -> &'static Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER.get_or_init(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
}

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
    VERIFIER.get_or_init(|| Arc::new(CeVerifier::new(roots().clone(), provider())))
}

/// The one session store, shared by every config (its keys carry the policy).
fn sessions() -> &'static Arc<ScopedSessionStore> {
    static SESSIONS: OnceLock<Arc<ScopedSessionStore>> = OnceLock::new();
    SESSIONS.get_or_init(|| Arc::new(ScopedSessionStore::default()))
}

/// The shared client configuration for a protocol choice.
pub fn client_config(protocols: Protocols) -> Result<Arc<ClientConfig>> {
    static CONFIGS: [OnceLock<Arc<ClientConfig>>; 3] = [const { OnceLock::new() }; 3];
    let (slot, versions): (usize, &[&'static rustls::SupportedProtocolVersion]) =
        match (protocols.tls12, protocols.tls13) {
            (true, true) => (0, &[&rustls::version::TLS13, &rustls::version::TLS12]),
            (true, false) => (1, &[&rustls::version::TLS12]),
            _ => (2, &[&rustls::version::TLS13]),
        };
    if let Some(config) = CONFIGS[slot].get() {
        return Ok(config.clone());
    }
    let verifier = verifier().clone();
    let mut config = ClientConfig::builder_with_provider(provider().clone())
        .with_protocol_versions(versions)
        .map_err(|e| Error::new(WsaCode::EINVAL, format!("TLS configuration: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.resumption = rustls::client::Resumption::store(sessions().clone());
    if settings::env("SSLKEYLOGFILE").is_some() {
        config.key_log = Arc::new(rustls::KeyLogFile::new());
    }
    let config = Arc::new(config);
    // Two threads may build at once; both get a working config and the first one is kept.
    Ok(CONFIGS[slot].get_or_init(|| config).clone())
}
