//! Where a secure socket is in its life, and what its state lock guards.

use std::thread::ThreadId;

use super::buffers::{Inbound, Outbound};
use super::handshake::Handshake;
use super::options::Options;
use super::records::Records;
use crate::abi::SSLCONNECTIONINFO;
use crate::error::Error;

/// Where the socket is in its life. Only `Records` says which record layer a socket has.
pub enum Phase {
    /// SO_SECURE set, not connected.
    Setup,
    /// A non-blocking TCP connect is under way.
    Connecting,
    /// Connected in deferred mode, before `SO_SSL_PERFORM_HANDSHAKE`: plaintext.
    Plaintext,
    /// A handshake is under way, parked between steps (non-blocking socket).
    Handshake(Box<Handshake>),
    /// A thread is driving the handshake (it owns the connection and the buffers meanwhile).
    Handshaking(ThreadId),
    /// TLS is up.
    Records(Records),
    /// The handshake or the connection failed; every call fails with this.
    Failed(Error),
}

/// Everything the socket's state lock guards.
pub struct Session {
    pub options: Options,
    pub phase: Phase,
    /// `connect` has started (settings are frozen from here on; docs/security.md "Settings").
    pub connect_started: bool,
    /// `SO_SEC_NONE` came before connect: the socket is no longer secure (its binding is going).
    pub switched_off: bool,
    pub info: Option<SSLCONNECTIONINFO>,
    pub read_shut: bool,
    pub write_shut: bool,
    /// `shutdown(SD_SEND)` came while records (our close_notify last) waited for room: the kernel's
    /// SHUT_WR follows once they are in the kernel (`SecureSocket::flush_out`), so that none is lost.
    pub kernel_shut_wr_pending: bool,
    /// Kernel TLS is wanted and the switch has not been made or ruled out yet (`records::kernel`).
    pub kernel_wanted: bool,
    /// Ciphertext read and plaintext held (also data decrypted before a failure: `recv` gives it
    /// before the error).
    pub inbound: Inbound,
    /// Records waiting for the kernel.
    pub outbound: Outbound,
}

impl Session {
    /// A socket that just got SO_SECURE.
    pub fn new() -> Session {
        Session {
            options: Options::default(),
            phase: Phase::Setup,
            connect_started: false,
            switched_off: false,
            info: None,
            read_shut: false,
            write_shut: false,
            kernel_shut_wr_pending: false,
            kernel_wanted: false,
            inbound: Inbound::default(),
            outbound: Outbound::default(),
        }
    }

    /// Whether TLS is up (records are being done, by rustls or the kernel).
    pub fn tls_up(&self) -> bool {
        matches!(self.phase, Phase::Records(_))
    }
}
