//! The rustls side shared by all sockets: one crypto provider, one set of trust anchors, one
//! certificate verifier, and one `ClientConfig` per distinct protocol choice, so that sockets to the same
//! server share the session cache and resume. The per-socket hook does not force a config per socket:
//! the verifier finds it through the handshake context of the calling thread (see `verify`).

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer};
use rustls::{ClientConfig, RootCertStore};

use super::files::{self, MAX_CREDENTIAL_BYTES, MAX_CRL_BYTES};
use super::identity::{ClientIdentity, RecordingResolver};
use super::options::Protocols;
use super::sessions::{HeldSessions, ScopedSessionStore};
use super::verify::CeVerifier;
use crate::error::{Error, Result, WsaCode};
use crate::locks::{init_once, lock};
use crate::log::log;
use crate::settings::{self, Level};

/// The crypto provider: aws-lc-rs (the default feature: faster here, and offers the post-quantum
/// hybrid key exchange), or ring (`--no-default-features --features ring`); docs/benchmarks.md.
pub fn provider() -> &'static Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    init_once(&PROVIDER, || Arc::new(chosen_provider()))
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
    init_once(&ROOTS, || Arc::new(load_roots()))
}

/// The distribution's bundle, the only trust anchors of a setuid program.
const SYSTEM_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

fn load_roots() -> RootCertStore {
    let mut store = RootCertStore::empty();
    let certs: Vec<CertificateDer<'static>> = if settings::get().secure_exec {
        // setuid: the environment is not trusted; only the distribution's bundle.
        match files::read_bounded(SYSTEM_BUNDLE, "trust anchors", MAX_CREDENTIAL_BYTES) {
            Ok(pem) => CertificateDer::pem_slice_iter(&pem)
                .filter_map(|c| c.ok())
                .collect(),
            Err(e) => {
                log!(Level::Warn, "{}", e.reason());
                Vec::new()
            }
        }
    } else if let Some(certs) = anchors_from_environment() {
        certs
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

/// The certificates of `SSL_CERT_FILE` and of the files in the `SSL_CERT_DIR` directories (separated
/// by ':'), or None when neither variable is set: what rustls-native-certs reads from them (the file
/// if set; each directory's regular files, symbolic links followed, each file once, not recursively),
/// but every file read with a bound (`MAX_CREDENTIAL_BYTES`, `files::read_bounded`). A file that
/// cannot be used is logged and skipped, so a device, a FIFO or a huge file gives no anchors rather
/// than a hang or an exhausted memory.
fn anchors_from_environment() -> Option<Vec<CertificateDer<'static>>> {
    use std::os::unix::fs::MetadataExt;

    let file = std::env::var_os("SSL_CERT_FILE");
    let dirs = std::env::var_os("SSL_CERT_DIR");
    if file.is_none() && dirs.is_none() {
        return None;
    }
    let mut certs = Vec::new();
    let mut seen = HashSet::new();
    let load = |path: &str, certs: &mut Vec<CertificateDer<'static>>| match files::read_bounded(
        path,
        "trust anchors",
        MAX_CREDENTIAL_BYTES,
    ) {
        Ok(pem) => {
            for cert in CertificateDer::pem_slice_iter(&pem) {
                match cert {
                    Ok(cert) => certs.push(cert),
                    Err(e) => log!(Level::Warn, "trust anchors '{path}': {e}"),
                }
            }
        }
        Err(e) => log!(Level::Warn, "{}", e.reason()),
    };
    if let Some(file) = &file {
        let path = file.to_string_lossy();
        if let Ok(meta) = std::fs::metadata(file) {
            seen.insert((meta.dev(), meta.ino()));
        }
        load(&path, &mut certs);
    }
    for dir in dirs.iter().flat_map(std::env::split_paths) {
        if dir.as_os_str().is_empty() {
            continue;
        }
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) => {
                log!(Level::Warn, "trust anchors '{}': {e}", dir.display());
                continue;
            }
        };
        for entry in entries.flatten() {
            let path = entry.path();
            // Follows symbolic links (openssl rehash makes them); dangling ones are skipped.
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            if meta.is_file() && seen.insert((meta.dev(), meta.ino())) {
                load(&path.to_string_lossy(), &mut certs);
            }
        }
    }
    certs.sort_unstable_by(|a, b| a.as_ref().cmp(b.as_ref()));
    certs.dedup();
    Some(certs)
}

/// The one verifier, shared by every config.
pub fn verifier() -> &'static Arc<CeVerifier> {
    static VERIFIER: OnceLock<Arc<CeVerifier>> = OnceLock::new();
    init_once(&VERIFIER, || {
        Arc::new(CeVerifier::new(roots().clone(), crls(), provider()))
    })
}

/// The one session store, shared by every config (its keys carry the policy).
static SESSIONS: OnceLock<Arc<ScopedSessionStore>> = OnceLock::new();

fn sessions() -> &'static Arc<ScopedSessionStore> {
    init_once(&SESSIONS, || Arc::new(ScopedSessionStore::default()))
}

/// What selects a shared configuration: TLS 1.2 allowed, TLS 1.3 allowed, the client identity's
/// origin, kernel TLS.
type ConfigKey = (bool, bool, Option<String>, bool);

/// The shared configurations (lock 2 of the order in `fork`'s note).
static CONFIGS: Mutex<BTreeMap<ConfigKey, Arc<ClientConfig>>> = Mutex::new(BTreeMap::new());

/// The configuration cache, the session cache, kernel TLS's answers and the trusted chains, locked in
/// that order for `fork` (locks 2 to 5 of `fork`'s note); the fields drop in the reverse order.
pub struct HeldForFork {
    _trusted: super::verify::HeldTrusted,
    _ktls: super::records::kernel::HeldAnswers,
    _sessions: Option<HeldSessions>,
    _configs: MutexGuard<'static, BTreeMap<ConfigKey, Arc<ClientConfig>>>,
}

/// Lock the configuration cache, then the session cache (when there is one yet), then kernel TLS's
/// answers, for `fork`.
pub fn hold_for_fork() -> HeldForFork {
    let configs = lock(&CONFIGS);
    let sessions = SESSIONS.get().map(|s| s.hold_for_fork());
    let ktls = super::records::kernel::hold_for_fork();
    HeldForFork {
        _trusted: super::verify::hold_for_fork(),
        _ktls: ktls,
        _sessions: sessions,
        _configs: configs,
    }
}

/// The shared client configuration for a protocol choice and client identity. Built outside the lock
/// (two threads may both build one; the first is kept).
pub fn client_config(
    protocols: Protocols,
    identity: Option<&Arc<ClientIdentity>>,
) -> Result<Arc<ClientConfig>> {
    // Kernel TLS needs the traffic secrets handed over after the handshake (SSLSOCK_KTLS).
    let ktls = settings::get().ktls;
    let key: ConfigKey = (
        protocols.tls12,
        protocols.tls13,
        identity.map(|i| i.origin.clone()),
        ktls,
    );
    if let Some(config) = lock(&CONFIGS).get(&key) {
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
    Ok(lock(&CONFIGS).entry(key).or_insert(config).clone())
}

/// The certificate revocation lists of `SSLSOCK_CRL_FILE` (several files separated by ':'; each PEM
/// with one or more "X509 CRL" blocks, or DER). Loaded once; each file read with a bound
/// (`MAX_CRL_BYTES`, `files::read_bounded`): one that cannot be used is logged and skipped.
pub fn crls() -> &'static [webpki::CertRevocationList<'static>] {
    static CRLS: OnceLock<Vec<webpki::CertRevocationList<'static>>> = OnceLock::new();
    init_once(&CRLS, || {
        let Some(list) = settings::env("SSLSOCK_CRL_FILE") else {
            return Vec::new();
        };
        let mut crls = Vec::new();
        for file in list.split(':').filter(|f| !f.is_empty()) {
            let ders: Vec<Vec<u8>> =
                match files::read_bounded(file, "SSLSOCK_CRL_FILE", MAX_CRL_BYTES) {
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
                        log!(Level::Error, "{}: ignored", e.reason());
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
    .as_slice()
}
