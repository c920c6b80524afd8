//! The settings of a secure socket (`SO_SSL_SET_*`, `SO_SSL_GET_*`, `sslsock_set_client_certificate`)
//! and when they may change: most freeze when `connect` starts (docs/security.md, "Settings").

use std::sync::Arc;

use parking_lot::MutexGuard;
use rustls::pki_types::ServerName;

use super::options::{CertJudge, Flags, PeerName, Protocols};
use super::socket::SecureSocket;
use super::state::{Phase, Session};
use crate::abi::SSLCONNECTIONINFO;
use crate::error::{Error, Result, WsaCode};
use crate::log::log;
use crate::settings::Level;

impl SecureSocket {
    /// The session, for a setting that freezes when `connect` starts (docs/security.md "Settings": SO_SECURE, flags, peer
    /// name, protocols, hook): WSAEINPROGRESS while connect (TCP or handshake) runs, WSAEISCONN after.
    fn frozen_settings(&self, what: &'static str) -> Result<MutexGuard<'_, Session>> {
        let session = self.state.lock();
        match session.phase {
            Phase::Setup if !session.connect_started => Ok(session),
            Phase::Setup | Phase::Connecting | Phase::Handshake(_) | Phase::Handshaking(_) => {
                Err(Error::new(
                    WsaCode::EINPROGRESS,
                    format!("{what}: connect has started (settings freeze when connect starts)"),
                ))
            }
            Phase::Plaintext | Phase::Records(_) | Phase::Failed(_) => Err(Error::new(
                WsaCode::EISCONN,
                format!("{what}: the socket is connected (set it before connect)"),
            )),
        }
    }

    /// `setsockopt(SO_SECURE, SO_SEC_NONE)`: allowed until connect starts. A `connect` that finds the
    /// socket switched off (it looked the socket up just before) makes a plain connection.
    pub fn switch_off(&self) -> Result<()> {
        self.frozen_settings("setsockopt(SO_SECURE, SO_SEC_NONE)")?
            .switched_off = true;
        Ok(())
    }

    /// `setsockopt(SO_SECURE, SO_SEC_SSL)` again: nothing to do until connect starts.
    pub fn still_in_setup(&self) -> Result<()> {
        self.frozen_settings("setsockopt(SO_SECURE, SO_SEC_SSL)")
            .map(drop)
    }

    fn settings(&self, what: &'static str) -> Result<MutexGuard<'_, Session>> {
        let session = self.state.lock();
        match session.phase {
            Phase::Setup | Phase::Connecting | Phase::Plaintext => Ok(session),
            Phase::Handshake(_) | Phase::Handshaking(_) => Err(Error::new(
                WsaCode::EINPROGRESS,
                format!("{what}: a handshake is running"),
            )),
            Phase::Records(_) | Phase::Failed(_) => Err(Error::new(
                WsaCode::EISCONN,
                format!("{what}: the handshake has already taken place"),
            )),
        }
    }

    /// `SO_SSL_SET_VALIDATE_CERT_HOOK`.
    pub fn set_hook(&self, hook: Option<Arc<dyn CertJudge>>) -> Result<()> {
        log!(
            Level::Debug,
            "fd {}: SO_SSL_SET_VALIDATE_CERT_HOOK: {}",
            self.fd(),
            if hook.is_some() {
                "hook set"
            } else {
                "hook removed"
            }
        );
        self.frozen_settings("SO_SSL_SET_VALIDATE_CERT_HOOK")?
            .options
            .hook = hook;
        Ok(())
    }

    /// `SO_SSL_GET_VALIDATE_CERT_HOOK`.
    pub fn hook(&self) -> Option<Arc<dyn CertJudge>> {
        self.state.lock().options.hook.clone()
    }

    /// `SO_SSL_SET_PEERNAME` with the name as parsed. A name that cannot be used (or none) is refused
    /// and also recorded: the socket then cannot complete a handshake until a valid name is set, so a
    /// name that was asked for is never silently dropped or replaced by "no name".
    pub fn set_peer_name(&self, name: Result<ServerName<'static>>) -> Result<()> {
        log!(
            Level::Debug,
            "fd {}: SO_SSL_SET_PEERNAME: {}",
            self.fd(),
            match &name {
                Ok(n) => format!("'{}'", n.to_str()),
                Err(e) => format!(
                    "refused ({}); no handshake until a valid name is set",
                    e.reason()
                ),
            }
        );
        let mut session = self.frozen_settings("SO_SSL_SET_PEERNAME")?;
        match name {
            Ok(n) => {
                session.options.peer_name = PeerName::Checked(n);
                Ok(())
            }
            Err(e) => {
                session.options.peer_name = PeerName::Unusable(e.clone());
                Err(e)
            }
        }
    }

    /// `SO_SSL_SET_FLAGS`: the deferral can change only before connect.
    pub fn set_flags(&self, flags: Flags) -> Result<()> {
        let mut session = self.state.lock();
        if session.options.flags != flags {
            drop(session);
            session = self.frozen_settings("SO_SSL_SET_FLAGS (SSL_FLAG_DEFER_HANDSHAKE)")?;
        }
        session.options.flags = flags;
        log!(
            Level::Debug,
            "fd {}: SO_SSL_SET_FLAGS: {flags:?}",
            self.fd()
        );
        Ok(())
    }

    /// `SO_SSL_GET_FLAGS`.
    pub fn flags(&self) -> Flags {
        self.state.lock().options.flags
    }

    /// `SO_SSL_SET_PROTOCOLS`.
    pub fn set_protocols(&self, protocols: Protocols) -> Result<()> {
        log!(
            Level::Debug,
            "fd {}: SO_SSL_SET_PROTOCOLS: {}",
            self.fd(),
            protocols.describe()
        );
        self.frozen_settings("SO_SSL_SET_PROTOCOLS")?
            .options
            .protocols = protocols;
        Ok(())
    }

    /// `sslsock_set_client_certificate`.
    pub fn set_client_identity(&self, identity: Option<Arc<super::ClientIdentity>>) -> Result<()> {
        log!(
            Level::Debug,
            "fd {}: client certificate: {}",
            self.fd(),
            identity.as_ref().map_or("none", |i| i.origin.as_str())
        );
        self.settings("sslsock_set_client_certificate")?
            .options
            .client_identity = identity;
        Ok(())
    }

    /// `SO_SSL_SET_CLIENT_OPTS`.
    pub fn set_cache(&self, cache: super::CacheOptions) -> Result<()> {
        log!(
            Level::Debug,
            "fd {}: SO_SSL_SET_CLIENT_OPTS: {cache:?}",
            self.fd()
        );
        self.settings("SO_SSL_SET_CLIENT_OPTS")?.options.cache = cache;
        Ok(())
    }

    /// `SO_SSL_GET_CLIENT_OPTS`.
    pub fn cache(&self) -> super::CacheOptions {
        self.state.lock().options.cache
    }

    /// `SO_SSL_GET_PROTOCOLS`.
    pub fn protocols(&self) -> Protocols {
        self.state.lock().options.protocols
    }

    /// `SO_SSL_GET_CONNECTION_INFO`.
    pub fn connection_info(&self) -> Result<SSLCONNECTIONINFO> {
        let session = self.state.lock();
        match (&session.phase, session.info) {
            (Phase::Records(_), Some(info)) => Ok(info),
            (Phase::Handshake(_) | Phase::Handshaking(_), _) => Err(Error::new(
                WsaCode::EINPROGRESS,
                "SO_SSL_GET_CONNECTION_INFO: the handshake is running",
            )),
            _ => Err(Error::new(
                WsaCode::ENOTCONN,
                "SO_SSL_GET_CONNECTION_INFO: no TLS session (no handshake yet)",
            )),
        }
    }
}
