//! Client certificates: a certificate chain and its private key, from PEM files named by the program
//! (`sslsock_set_client_certificate`) or by `SSLSOCK_CLIENT_CERT` / `SSLSOCK_CLIENT_KEY`.

use std::sync::{Arc, OnceLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::files::{self, MAX_CREDENTIAL_BYTES};
use crate::error::{Error, Result, WsaCode};
use crate::log::log;
use crate::settings::{self, Level};

/// A client certificate chain and key, loaded once.
#[derive(Debug)]
pub struct ClientIdentity {
    /// The chain, leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    /// The leaf's private key.
    pub key: PrivateKeyDer<'static>,
    /// Where it came from (also the key of the configuration cache).
    pub origin: String,
}

impl ClientIdentity {
    /// Load a PEM certificate chain and a PEM private key (PKCS#8, PKCS#1 or SEC1). Each file is read
    /// with a bound (`files::read_bounded`, `MAX_CREDENTIAL_BYTES`): a device, FIFO, directory or
    /// oversized file fails at once with WSAEINVAL.
    pub fn load(cert_file: &str, key_file: &str) -> Result<Arc<ClientIdentity>> {
        let invalid = |what: &str, file: &str, e: &dyn std::fmt::Display| {
            Error::new(WsaCode::EINVAL, format!("{what} '{file}': {e}"))
        };
        let cert_pem = files::read_bounded(cert_file, "client certificate", MAX_CREDENTIAL_BYTES)?;
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| invalid("client certificate", cert_file, &e))?;
        if chain.is_empty() {
            return Err(Error::new(
                WsaCode::EINVAL,
                format!("client certificate '{cert_file}': no CERTIFICATE in it"),
            ));
        }
        let key_pem = if key_file == cert_file {
            cert_pem
        } else {
            files::read_bounded(key_file, "client key", MAX_CREDENTIAL_BYTES)?
        };
        let key = PrivateKeyDer::from_pem_slice(&key_pem)
            .map_err(|e| invalid("client key", key_file, &e))?;
        Ok(Arc::new(ClientIdentity {
            chain,
            key,
            origin: format!("{cert_file}|{key_file}"),
        }))
    }

    /// The identity named by `SSLSOCK_CLIENT_CERT` and `SSLSOCK_CLIENT_KEY`, if both are set and load.
    pub fn from_environment() -> Option<Arc<ClientIdentity>> {
        static FROM_ENV: OnceLock<Option<Arc<ClientIdentity>>> = OnceLock::new();
        crate::locks::init_once(&FROM_ENV, || {
            let cert = settings::env("SSLSOCK_CLIENT_CERT")?;
            let key = settings::env("SSLSOCK_CLIENT_KEY").unwrap_or_else(|| cert.clone());
            match ClientIdentity::load(&cert, &key) {
                Ok(identity) => Some(identity),
                Err(e) => {
                    log!(
                        Level::Error,
                        "SSLSOCK_CLIENT_CERT/SSLSOCK_CLIENT_KEY ignored: {}",
                        e.reason()
                    );
                    None
                }
            }
        })
        .clone()
    }
}

/// Answers a server's certificate request with the socket's identity (or none), and records in the
/// handshake context that the server asked, so that a refusal can be explained.
#[derive(Debug)]
pub struct RecordingResolver {
    key: Option<Arc<rustls::sign::CertifiedKey>>,
}

impl RecordingResolver {
    /// A resolver for `identity`.
    pub fn new(
        identity: Option<&ClientIdentity>,
        provider: &rustls::crypto::CryptoProvider,
    ) -> Result<RecordingResolver> {
        let key = match identity {
            None => None,
            Some(id) => Some(Arc::new(
                rustls::sign::CertifiedKey::from_der(
                    id.chain.clone(),
                    id.key.clone_key(),
                    provider,
                )
                .map_err(|e| {
                    Error::new(
                        WsaCode::EINVAL,
                        format!("client certificate {}: {e}", id.origin),
                    )
                })?,
            )),
        };
        Ok(RecordingResolver { key })
    }
}

impl rustls::client::ResolvesClientCert for RecordingResolver {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        if let Some(context) = super::verify::current() {
            context
                .client_cert_requested
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        self.key.clone()
    }

    fn has_certs(&self) -> bool {
        self.key.is_some()
    }
}
