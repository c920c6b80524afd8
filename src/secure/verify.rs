//! The certificate decision, CE style: compute the CE flags (trust, validity, name), then let the
//! program's hook decide, or decide alone when there is none (accept exactly when the flags are 0).
//!
//! rustls calls the verifier inside `process_new_packets`, on the thread driving the handshake. The
//! per-socket facts (the hook, the name to check) reach the shared verifier through a per-thread stack
//! of handshake contexts, pushed by that thread for the length of the handshake. A hook that starts
//! another handshake on the same thread pushes its own context on top.

use std::any::Any;
use std::cell::RefCell;
use std::sync::Arc;

use parking_lot::Mutex;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{
    verify_tls12_signature, verify_tls13_signature, CryptoProvider, WebPkiSupportedAlgorithms,
};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::abi::{
    DWORD, SSL_CERT_FLAG_ISSUER_UNKNOWN, SSL_ERR_BAD_SIG, SSL_ERR_CERT_EXPIRED,
    SSL_ERR_CERT_REVOKED, SSL_ERR_CERT_UNKNOWN, SSL_ERR_OKAY, SSL_ERR_SIGNATURE,
};

/// Judges a server certificate, as the CE validation hook does: given the leaf's DER and the CE flags,
/// returns an `SSL_ERR_*` verdict. Implemented by the C hook wrapper in `ffi`.
pub trait CertJudge: Send + Sync + Any {
    /// The verdict: `SSL_ERR_OKAY` accepts.
    fn judge(&self, leaf_der: &[u8], flags: DWORD) -> i32;
    /// For reading the hook back (`SO_SSL_GET_VALIDATE_CERT_HOOK`).
    fn as_any(&self) -> &dyn Any;
}

/// What the certificate check found and decided, kept for the failure reason and the log.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The CE flags given to the hook.
    pub flags: DWORD,
    /// The verdict (`SSL_ERR_*`).
    pub verdict: i32,
    /// Whether a hook gave the verdict (else the library decided alone).
    pub by_hook: bool,
    /// What was wrong with the certificate, in words.
    pub problems: Vec<String>,
}

/// The per-handshake facts the shared verifier needs.
pub struct HandshakeContext {
    /// The program's hook.
    pub judge: Option<Arc<dyn CertJudge>>,
    /// The name to check (None: no name is checked).
    pub check_name: Option<ServerName<'static>>,
    /// Which sessions this handshake may resume and store (see `sessions`); None: no resumption.
    pub session_scope: Option<String>,
    /// Sessions older than this are not resumed by this handshake (`SO_SSL_SET_CLIENT_OPTS`).
    pub session_max_age: Option<std::time::Duration>,
    /// Filled in by the verifier.
    pub outcome: Mutex<Option<Outcome>>,
    /// Set when the server asked for a client certificate.
    pub client_cert_requested: std::sync::atomic::AtomicBool,
}

thread_local! {
    static CONTEXTS: RefCell<Vec<Arc<HandshakeContext>>> = const { RefCell::new(Vec::new()) };
}

/// Makes a context current on this thread until dropped.
pub struct ContextGuard(());

/// Push `context` for the handshake this thread is about to drive.
pub fn enter(context: Arc<HandshakeContext>) -> ContextGuard {
    let _ = CONTEXTS.try_with(|c| c.borrow_mut().push(context));
    ContextGuard(())
}

impl Drop for ContextGuard {
    fn drop(&mut self) {
        let _ = CONTEXTS.try_with(|c| c.borrow_mut().pop());
    }
}

/// The context of the handshake this thread is driving.
pub fn current() -> Option<Arc<HandshakeContext>> {
    CONTEXTS
        .try_with(|c| c.borrow().last().cloned())
        .ok()
        .flatten()
}

/// The verifier shared by every configuration.
#[derive(Debug)]
pub struct CeVerifier {
    roots: Arc<RootCertStore>,
    crls: &'static [webpki::CertRevocationList<'static>],
    algorithms: WebPkiSupportedAlgorithms,
}

impl CeVerifier {
    /// A verifier over these trust anchors and revocation lists with the provider's signature algorithms.
    pub fn new(
        roots: Arc<RootCertStore>,
        crls: &'static [webpki::CertRevocationList<'static>],
        provider: &CryptoProvider,
    ) -> CeVerifier {
        CeVerifier {
            roots,
            crls,
            algorithms: provider.signature_verification_algorithms,
        }
    }

    /// Whether a certificate of the (trusted) chain is revoked by one of the CRLs. Each CRL is consulted
    /// on its own: webpki looks only at the first CRL of an issuer, so an older CRL listed first could
    /// otherwise hide a newer one's revocation. A certificate no CRL covers is not held against the chain.
    fn revoked(
        &self,
        cert: &webpki::EndEntityCert<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> bool {
        self.crls.iter().any(|crl| {
            let one = [crl];
            let Ok(builder) = webpki::RevocationOptionsBuilder::new(&one) else {
                return false;
            };
            let options = builder
                .with_depth(webpki::RevocationCheckDepth::Chain)
                .with_status_policy(webpki::UnknownStatusPolicy::Allow)
                .with_expiration_policy(webpki::ExpirationPolicy::Ignore)
                .build();
            matches!(
                cert.verify_for_usage(
                    self.algorithms.all,
                    &self.roots.roots,
                    intermediates,
                    now,
                    webpki::KeyUsage::server_auth(),
                    Some(options),
                    None,
                ),
                Err(webpki::Error::CertRevoked)
            )
        })
    }

    /// The CE flags for a certificate, with the problems in words.
    pub fn flags(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        check_name: Option<&ServerName<'_>>,
        now: UnixTime,
    ) -> (DWORD, Vec<String>) {
        let mut problems = Vec::new();
        match webpki::EndEntityCert::try_from(end_entity) {
            Ok(cert) => {
                if !trusted::known(end_entity, intermediates, now) {
                    if let Err(e) = cert.verify_for_usage(
                        self.algorithms.all,
                        &self.roots.roots,
                        intermediates,
                        now,
                        webpki::KeyUsage::server_auth(),
                        None,
                        None,
                    ) {
                        problems.push(format!("chain not trusted: {}", describe(&e)));
                    } else if self.revoked(&cert, intermediates, now) {
                        problems.push("chain not trusted: revoked (SSLSOCK_CRL_FILE)".into());
                    } else {
                        trusted::remember(end_entity, intermediates);
                    }
                }
                if let Some(name) = check_name {
                    if cert.verify_is_valid_for_subject_name(name).is_err() {
                        problems.push(format!(
                            "certificate is not valid for the name '{}'",
                            name.to_str()
                        ));
                    }
                }
            }
            Err(e) => problems.push(format!("unparsable certificate: {}", describe(&e))),
        }
        let flags = if problems.is_empty() {
            0
        } else {
            SSL_CERT_FLAG_ISSUER_UNKNOWN
        };
        (flags, problems)
    }
}

fn describe(e: &webpki::Error) -> String {
    match e {
        webpki::Error::UnknownIssuer => "issuer unknown (no path to a trusted root)".into(),
        webpki::Error::CertExpired { .. } => "expired".into(),
        webpki::Error::CertNotValidYet { .. } => "not yet valid".into(),
        webpki::Error::CertRevoked => "revoked (SSLSOCK_CRL_FILE)".into(),
        other => format!("{other:?}"),
    }
}

/// The rustls error that ends a handshake for a verdict other than `SSL_ERR_OKAY` (chooses the alert).
fn refusal(verdict: i32) -> rustls::Error {
    rustls::Error::InvalidCertificate(match verdict {
        SSL_ERR_CERT_EXPIRED => CertificateError::Expired,
        SSL_ERR_CERT_REVOKED => CertificateError::Revoked,
        SSL_ERR_CERT_UNKNOWN => CertificateError::UnknownIssuer,
        SSL_ERR_BAD_SIG | SSL_ERR_SIGNATURE => CertificateError::BadSignature,
        _ => CertificateError::ApplicationVerificationFailure,
    })
}

impl CeVerifier {
    /// The CE decision on a chain: the flags, then the context's hook (or sslsock alone when there
    /// is none); records the outcome in the context.
    pub fn decide(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        context: &HandshakeContext,
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let (flags, problems) =
            self.flags(end_entity, intermediates, context.check_name.as_ref(), now);
        // The hook runs with no lock of ours held: it may call back into the library.
        let (verdict, by_hook) = match &context.judge {
            Some(judge) => (judge.judge(end_entity.as_ref(), flags), true),
            None if flags == 0 => (SSL_ERR_OKAY, false),
            None => (SSL_ERR_CERT_UNKNOWN, false),
        };
        crate::log::log!(
            crate::settings::Level::Debug,
            "server certificate ({} in the chain): flags {flags:#x}{}; verdict {verdict} from {}",
            1 + intermediates.len(),
            if problems.is_empty() {
                String::new()
            } else {
                format!(" ({})", problems.join("; "))
            },
            if by_hook {
                "the hook"
            } else {
                "sslsock (no hook)"
            }
        );
        *context.outcome.lock() = Some(Outcome {
            flags,
            verdict,
            by_hook,
            problems,
        });
        if verdict == SSL_ERR_OKAY {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(refusal(verdict))
        }
    }
}

impl ServerCertVerifier for CeVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(context) = current() else {
            return Err(rustls::Error::General(
                "sslsock: handshake without a context".into(),
            ));
        };
        self.decide(end_entity, intermediates, &context, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Chains found trusted (a path to a trust anchor, every signature good, nothing revoked), so that the
/// same chain is not verified again at every handshake: resumed handshakes are judged on the
/// certificate of the session (`handshake::judge_resumed`), and a server presents the same chain to
/// every full handshake. The trust anchors and the CRLs are read once per process, so the answer for a
/// chain can change only with the time: an entry holds while every certificate of the chain is within
/// its validity, and the exact DER bytes of the chain are compared. The name is checked at every
/// handshake, and the hook judges every handshake; only the path's signatures are not computed again.
mod trusted {
    use std::collections::VecDeque;
    use std::sync::{Mutex, MutexGuard};

    use rustls::pki_types::{CertificateDer, UnixTime};

    use crate::locks::lock;

    /// Chains remembered at most (the oldest goes first).
    const MAX: usize = 32;

    struct Entry {
        chain: Vec<Vec<u8>>,
        /// Unix seconds: the latest notBefore and the earliest notAfter of the chain.
        from: u64,
        until: u64,
    }

    /// The chains (lock 5 of the order in `fork`'s note).
    static CHAINS: Mutex<VecDeque<Entry>> = Mutex::new(VecDeque::new());

    /// The cache held locked across `fork` (`config::hold_for_fork`).
    pub struct Held {
        _guard: MutexGuard<'static, VecDeque<Entry>>,
    }

    /// Lock the cache until the result is dropped.
    pub fn hold_for_fork() -> Held {
        Held {
            _guard: lock(&CHAINS),
        }
    }

    fn same(
        entry: &Entry,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
    ) -> bool {
        entry.chain.len() == 1 + intermediates.len()
            && std::iter::once(end_entity)
                .chain(intermediates)
                .zip(&entry.chain)
                .all(|(c, e)| c.as_ref() == e.as_slice())
    }

    /// Whether this exact chain was found trusted and every certificate of it is still within its
    /// validity at `now`.
    pub fn known(
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> bool {
        let now = now.as_secs();
        lock(&CHAINS)
            .iter()
            .any(|e| e.from <= now && now < e.until && same(e, end_entity, intermediates))
    }

    /// Remember a chain just found trusted (not when a validity cannot be read).
    pub fn remember(end_entity: &CertificateDer<'_>, intermediates: &[CertificateDer<'_>]) {
        let mut from = 0u64;
        let mut until = u64::MAX;
        for cert in std::iter::once(end_entity).chain(intermediates) {
            let Ok((_, parsed)) = x509_parser::parse_x509_certificate(cert.as_ref()) else {
                return;
            };
            let validity = parsed.validity();
            let (Ok(nb), Ok(na)) = (
                u64::try_from(validity.not_before.timestamp()),
                u64::try_from(validity.not_after.timestamp()),
            ) else {
                return;
            };
            from = from.max(nb);
            until = until.min(na);
        }
        let mut chains = lock(&CHAINS);
        if chains.iter().any(|e| same(e, end_entity, intermediates)) {
            return;
        }
        if chains.len() == MAX {
            chains.pop_front();
        }
        chains.push_back(Entry {
            chain: std::iter::once(end_entity)
                .chain(intermediates)
                .map(|c| c.as_ref().to_vec())
                .collect(),
            from,
            until,
        });
    }
}

pub use trusted::{hold_for_fork, Held as HeldTrusted};
