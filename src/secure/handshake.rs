//! The TLS handshake as its own state machine over the socket's buffers, on rustls' unbuffered client
//! connection.
//!
//! [`Handshake::run`] drives it as far as the kernel allows: it encodes what rustls has to send into
//! the send buffer, sends it, reads the server's flight into the receive buffer, and lets rustls take
//! it in (the certificate decision, and the program's hook, run there). On a non-blocking socket it
//! stops when the kernel has nothing to give or no room to take, and the socket parks it (phase
//! `Handshake`) until the next call; a blocking caller waits instead, bounded by SO_RCVTIMEO /
//! SO_SNDTIMEO. The engine knows nothing of the socket: waits and the "closed meanwhile" check come
//! in through [`Driver`].

use std::ffi::c_int;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use rustls::client::UnbufferedClientConnection;
use rustls::unbuffered::{ConnectionState, EncodeError, InsufficientSizeError};

use super::buffers::RECORD_MAX;
use super::buffers::{Inbound, Outbound};
use super::config;
use super::records::user::{queue_alerts, tls_words, UserRecords};
use super::verify::{self, HandshakeContext, Outcome};
use super::wire::Wire;
use crate::error::{Error, Result, WsaCode};
use crate::log::log;
use crate::settings::Level;

/// How long a blocking TLS 1.3 handshake waits for the server's verdict on the client certificate.
const CLIENT_AUTH_VERDICT_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// What the engine needs from the socket that drives it.
pub struct Driver<'a> {
    /// The socket's descriptor, behind the I/O gate.
    pub wire: &'a Wire,
    /// Whether the call may wait.
    pub blocking: bool,
    /// Wait for `events` until the deadline (fails when the socket is closed meanwhile).
    pub wait: &'a dyn Fn(i16, Option<Instant>) -> Result<()>,
    /// The deadline of SO_RCVTIMEO / SO_SNDTIMEO.
    pub deadline: &'a dyn Fn(c_int) -> Option<Instant>,
    /// Whether the socket was closed (by the hook, or another thread).
    pub closed: &'a dyn Fn() -> Option<Error>,
}

/// A handshake under way, with the socket's buffers (the driving thread owns them meanwhile).
pub struct Handshake {
    conn: UnbufferedClientConnection,
    /// The per-handshake facts of the certificate decision.
    pub context: Arc<HandshakeContext>,
    /// The call that began it (`connect`, `SO_SSL_PERFORM_HANDSHAKE`), for messages.
    pub what: &'static str,
    /// When it began.
    pub started: Instant,
    /// The server's flight, and any data that came with its last message.
    pub inbound: Inbound,
    /// Our flight.
    pub outbound: Outbound,
    /// Set when the handshake is complete and a blocking caller waits for the server's verdict on our
    /// client certificate (TLS 1.3).
    verdict_wait: Option<Instant>,
    /// The server's close_notify came right behind its last handshake message (data before it is
    /// held): the session is complete, and its data ends there.
    peer_closed: bool,
}

/// What the state of the connection asked for.
enum Act {
    Again,
    PeerClosed,
    Send,
    Read,
    Complete,
}

impl Handshake {
    /// A handshake on a new connection.
    pub fn new(
        conn: UnbufferedClientConnection,
        context: Arc<HandshakeContext>,
        what: &'static str,
    ) -> Handshake {
        Handshake {
            conn,
            context,
            what,
            started: Instant::now(),
            inbound: Inbound::default(),
            outbound: Outbound::default(),
            verdict_wait: None,
            peer_closed: false,
        }
    }

    /// What a `poll` on the socket must wait for: POLLOUT while our flight waits for the kernel, else
    /// POLLIN.
    pub fn interest(&self) -> i16 {
        if self.outbound.is_empty() {
            libc::POLLIN
        } else {
            libc::POLLOUT
        }
    }

    /// Drive the handshake: Ok(true) when complete, Ok(false) when a non-blocking socket must wait.
    pub fn run(&mut self, driver: &Driver<'_>) -> Result<bool> {
        let _current = verify::enter(self.context.clone());
        let mut read_deadline = None;
        let mut write_deadline = None;
        loop {
            if let Some(e) = (driver.closed)() {
                return Err(e);
            }
            let Inbound {
                buf,
                start,
                end,
                held,
                ..
            } = &mut self.inbound;
            let status = self.conn.process_tls_records(&mut buf[*start..*end]);
            let mut discard = status.discard;
            let act = match status.state {
                Ok(ConnectionState::EncodeTlsData(mut e)) => {
                    let mut want = RECORD_MAX;
                    loop {
                        match e.encode(self.outbound.room(want)) {
                            Ok(n) => break self.outbound.wrote(n),
                            Err(EncodeError::InsufficientSize(InsufficientSizeError {
                                required_size,
                            })) => want = required_size,
                            Err(EncodeError::AlreadyEncoded) => break,
                        }
                    }
                    Act::Again
                }
                Ok(ConnectionState::TransmitTlsData(t)) => {
                    // Sent before `done`: on a full kernel buffer the state comes back next time.
                    match self.outbound.send_now(driver.wire) {
                        Ok(true) => {
                            t.done();
                            Act::Again
                        }
                        Ok(false) => Act::Send,
                        Err(e) => {
                            return Err(aborted(format!(
                                "sending the handshake failed: {}",
                                os_words(e)
                            )))
                        }
                    }
                }
                Ok(ConnectionState::BlockedHandshake) => Act::Read,
                Ok(ConnectionState::ReadTraffic(mut r)) => {
                    // Data right behind the server's last handshake message: held for `recv`.
                    while let Some(record) = r.next_record() {
                        match record {
                            Ok(record) => {
                                discard += record.discard;
                                held.hold(record.payload);
                            }
                            Err(e) => {
                                *start += discard;
                                return Err(self.failed(&e, driver));
                            }
                        }
                    }
                    Act::Again
                }
                Ok(ConnectionState::WriteTraffic(_)) => Act::Complete,
                Ok(ConnectionState::PeerClosed | ConnectionState::Closed) => Act::PeerClosed,
                Ok(_) => Act::Read,
                Err(e) => {
                    *start += discard;
                    return Err(self.failed(&e, driver));
                }
            };
            *start += discard;
            match act {
                Act::Again => {}
                Act::PeerClosed if self.conn.is_handshaking() => {
                    return Err(aborted(
                        "the server closed the connection (close_notify) during the TLS handshake"
                            .into(),
                    ))
                }
                // Right behind the server's last handshake message: the session is complete.
                Act::PeerClosed => {
                    self.peer_closed = true;
                    return Ok(true);
                }
                Act::Send if !driver.blocking => return Ok(false),
                Act::Send => {
                    let until =
                        *write_deadline.get_or_insert_with(|| (driver.deadline)(libc::SO_SNDTIMEO));
                    (driver.wait)(libc::POLLOUT, until)?;
                }
                Act::Complete => {
                    // TLS 1.3: a server that asked for a client certificate judges it after our
                    // Finished. A blocking handshake waits (briefly) for its verdict, so that a refusal
                    // fails the handshake call itself rather than the first recv.
                    let awaiting = driver.blocking
                        && !self.peer_closed
                        && self.verdict_wait.is_none()
                        && self.context.client_cert_requested.load(Ordering::Relaxed)
                        && self.conn.protocol_version() == Some(rustls::ProtocolVersion::TLSv1_3);
                    if !awaiting {
                        return Ok(true);
                    }
                    let until = Instant::now() + CLIENT_AUTH_VERDICT_WAIT;
                    self.verdict_wait = Some(until);
                    match driver
                        .wire
                        .call(|fd| crate::sys::fd::wait(fd, libc::POLLIN, Some(until)))
                    {
                        Ok(0) | Err(_) => return Ok(true),
                        Ok(_) => match self.inbound.fill(driver.wire) {
                            Ok(_) => {} // taken in above; then complete
                            Err(_) => return Ok(true),
                        },
                    }
                }
                Act::Read => match self.inbound.fill(driver.wire) {
                    Ok(0) => {
                        return Err(aborted(
                            "the server closed the connection during the TLS handshake".into(),
                        ))
                    }
                    Ok(_) => {}
                    Err(libc::EAGAIN) if !driver.blocking => return Ok(false),
                    Err(libc::EAGAIN) => {
                        let until = *read_deadline
                            .get_or_insert_with(|| (driver.deadline)(libc::SO_RCVTIMEO));
                        (driver.wait)(libc::POLLIN, until)?;
                    }
                    Err(e) => {
                        return Err(aborted(format!(
                            "the TLS handshake failed: {}",
                            os_words(e)
                        )))
                    }
                },
            }
        }
    }

    /// rustls refused the handshake: its alert goes to the server (never anything else), and the
    /// error says why, with the CE certificate verdict when there was one.
    fn failed(&mut self, e: &rustls::Error, driver: &Driver<'_>) -> Error {
        queue_alerts(&mut self.conn, &mut self.inbound, &mut self.outbound);
        let _ = self.outbound.send_now(driver.wire);
        let outcome = self.context.outcome.lock().clone();
        let asked = self.context.client_cert_requested.load(Ordering::Relaxed);
        handshake_error(e, outcome.as_ref(), asked)
    }

    /// The complete handshake as a record layer, after the certificate decision of a resumed session.
    pub fn finish(
        mut self,
        wire: &Wire,
        closed: &dyn Fn() -> Option<Error>,
    ) -> Result<Established> {
        let judged = self.judge_resumed(closed);
        let info = super::info::connection_info(&self.conn);
        let tickets = self
            .context
            .session_scope
            .is_some()
            .then(|| self.context.clone());
        let mut records = Box::new(UserRecords::new(self.conn, tickets, self.peer_closed));
        if let Err(e) = judged {
            // The handshake is over on our side: end it with close_notify, never anything else.
            records.close_notify(&mut self.inbound, &mut self.outbound, wire);
            return Err(e);
        }
        Ok(Established {
            records,
            info,
            inbound: self.inbound,
            outbound: self.outbound,
        })
    }

    /// A line for the log: what was negotiated.
    pub fn describe(&self) -> String {
        let conn = &self.conn;
        format!(
            "{:?} {:?}, key exchange {:?}, {}",
            conn.protocol_version(),
            conn.negotiated_cipher_suite().map(|s| s.suite()),
            conn.negotiated_key_exchange_group().map(|g| g.name()),
            match conn.handshake_kind() {
                Some(rustls::HandshakeKind::Resumed) => "resumed session",
                Some(rustls::HandshakeKind::FullWithHelloRetryRequest) => {
                    "full handshake (after a HelloRetryRequest)"
                }
                _ => "full handshake",
            }
        )
    }

    /// A resumed handshake checks no certificate, so every resumed handshake gets the certificate
    /// decision of the moment on the certificate the session was made with (rustls keeps it with the
    /// session), exactly as on a full handshake: the flags are computed again now (a certificate that
    /// has expired or been revoked since is caught), the hook judges them if there is one, the library's
    /// own rule decides if not, and a refusal fails the handshake before the program can send anything.
    fn judge_resumed(&self, closed: &dyn Fn() -> Option<Error>) -> Result<()> {
        if self.conn.handshake_kind() != Some(rustls::HandshakeKind::Resumed) {
            return Ok(());
        }
        let decided = {
            let _current = verify::enter(self.context.clone());
            match self.conn.peer_certificates() {
                Some([end_entity, intermediates @ ..]) => config::verifier().decide(
                    end_entity,
                    intermediates,
                    &self.context,
                    rustls::pki_types::UnixTime::now(),
                ),
                _ => Err(rustls::Error::NoCertificatesPresented),
            }
        };
        // The hook may have closed the socket (as during a full handshake).
        if let Some(e) = closed() {
            return Err(e);
        }
        let Err(e) = decided else {
            return Ok(());
        };
        let outcome = self.context.outcome.lock().clone();
        let error = handshake_error(&e, outcome.as_ref(), false);
        Err(Error::new(
            error.code(),
            format!(
                "{} (a resumed session: the certificate of the session's first handshake)",
                error.reason()
            ),
        ))
    }
}

/// A complete handshake: the record layer, what was negotiated, and the buffers.
pub struct Established {
    pub records: Box<UserRecords>,
    pub info: crate::abi::SSLCONNECTIONINFO,
    pub inbound: Inbound,
    pub outbound: Outbound,
}

fn aborted(reason: String) -> Error {
    Error::new(WsaCode::ECONNABORTED, reason)
}

fn os_words(errno: c_int) -> String {
    std::io::Error::from_raw_os_error(errno).to_string()
}

/// A handshake failure in words, with the CE certificate verdict when there was one.
fn handshake_error(
    e: &rustls::Error,
    outcome: Option<&Outcome>,
    client_cert_requested: bool,
) -> Error {
    let reason = match (e, outcome) {
        (rustls::Error::InvalidCertificate(_), Some(o)) if o.verdict != 0 => {
            let who = if o.by_hook {
                "the certificate validation hook"
            } else {
                "sslsock (no hook set)"
            };
            let problems = if o.problems.is_empty() {
                "none".to_string()
            } else {
                o.problems.join("; ")
            };
            format!(
                "the server's certificate was refused by {who}: verdict {} ({}), flags {:#x}; problems: {problems}",
                o.verdict,
                verdict_name(o.verdict),
                o.flags
            )
        }
        (rustls::Error::AlertReceived(alert), _) if client_cert_requested => format!(
            "the server asked for a client certificate and refused the handshake (alert {alert:?}): give \
             one it trusts with sslsock_set_client_certificate or SSLSOCK_CLIENT_CERT / SSLSOCK_CLIENT_KEY"
        ),
        _ => format!("the TLS handshake failed: {}", tls_words(e)),
    };
    aborted(reason)
}

fn verdict_name(verdict: i32) -> &'static str {
    match verdict {
        0 => "SSL_ERR_OKAY",
        2 => "SSL_ERR_FAILED",
        3 => "SSL_ERR_BAD_LEN",
        4 => "SSL_ERR_BAD_TYPE",
        5 => "SSL_ERR_BAD_DATA",
        6 => "SSL_ERR_NO_CERT",
        7 => "SSL_ERR_BAD_SIG",
        8 => "SSL_ERR_CERT_EXPIRED",
        9 => "SSL_ERR_CERT_REVOKED",
        10 => "SSL_ERR_CERT_UNKNOWN",
        11 => "SSL_ERR_SIGNATURE",
        _ => "unknown verdict",
    }
}

/// Log what the handshake's certificate check decided.
pub fn log_outcome(fd: c_int, context: &HandshakeContext) {
    if let Some(o) = context.outcome.lock().as_ref() {
        log!(
            Level::Debug,
            "fd {fd}: certificate flags {:#x}, verdict {}",
            o.flags,
            o.verdict
        );
    }
}
