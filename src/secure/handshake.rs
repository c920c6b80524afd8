//! Connecting and the TLS handshake of a secure socket.
//!
//! The handshake is a resumable engine: `begin` creates the rustls connection and parks it in the
//! socket's phase; `advance` takes it out, drives it as far as the kernel allows, and either finishes
//! (phase `Established`), fails (`Failed`), or — on a non-blocking socket with nothing to do yet —
//! parks it again and answers WSAEWOULDBLOCK. A blocking caller waits in the kernel instead (bounded by
//! SO_RCVTIMEO / SO_SNDTIMEO). Whoever calls next on a non-blocking socket (`connect` again, `send`,
//! `recv`, `SO_SSL_PERFORM_HANDSHAKE`) advances it further.
//!
//! While a thread drives it, the phase is `Handshaking(thread)` and that thread owns the connection and
//! the socket's buffers (taken out of their mutexes): no lock of the socket is held while the hook runs.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use rustls::pki_types::ServerName;
use rustls::ClientConnection;

use super::config;
use super::identity::ClientIdentity;
use super::info::connection_info;
use super::options::Options;
use super::socket::{fail_session, queued_tls, tls_words, Inbound, Outbound, Phase, SecureSocket};
use super::verify::{self, HandshakeContext, Outcome};
use crate::error::{Error, Result, WsaCode};
use crate::log::log;
use crate::settings::Level;
use crate::sys::fd;

/// How long a blocking TLS 1.3 handshake waits for the server's verdict on the client certificate.
const CLIENT_AUTH_VERDICT_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Largest TLS record on the wire (16 KiB of payload plus expansion and header).
pub(super) const RECORD_MAX: usize = 16 * 1024 + 2048 + 5;

/// A handshake between two steps.
pub(super) struct Pending {
    conn: ClientConnection,
    context: Arc<HandshakeContext>,
    what: &'static str,
    started: Instant,
}

/// Where a step left the handshake.
enum Step {
    Done,
    WouldBlock,
}

impl SecureSocket {
    /// `connect`: TCP, then (immediate mode) the handshake.
    pub fn connect(&self, addr: &fd::SockAddr) -> Result<()> {
        let _call = self.enter()?;
        let phase_now = {
            let mut session = self.state.lock();
            match &session.phase {
                // SO_SEC_NONE came first (this call had looked the socket up just before).
                Phase::Setup if session.switched_off => {
                    drop(session);
                    return match fd::connect(self.fd(), addr) {
                        Ok(()) => Ok(()),
                        Err(libc::EINPROGRESS) => {
                            Err(in_progress("connect: in progress on a non-blocking socket"))
                        }
                        Err(e) => Err(Error::os(e, "connect")),
                    };
                }
                // Another thread's blocking connect is waiting for TCP.
                Phase::Setup if session.connect_started => {
                    return Err(Error::new(
                        WsaCode::EALREADY,
                        "connect: another call is connecting this socket",
                    ))
                }
                Phase::Setup => {
                    // A peer name that was asked for and cannot be used stops an immediate handshake
                    // before a byte is sent; the socket stays as it is, for a valid name.
                    if !session.options.flags.deferred() {
                        session
                            .options
                            .peer_name
                            .for_handshake()
                            .map_err(|e| e.context("connect"))?;
                    }
                    // Settings freeze from here on (WSAEINPROGRESS, then WSAEISCONN).
                    session.connect_started = true;
                    None
                }
                Phase::Connecting | Phase::Handshake(_) | Phase::Handshaking(_) => Some(true),
                Phase::Plaintext | Phase::Established(_) | Phase::Kernel(_) => Some(false),
                Phase::Failed(e) => return Err(e.clone()),
            }
        };
        match phase_now {
            // Winsock: connect again while the connection is being made answers WSAEALREADY, after
            // it is made WSAEISCONN; calling it also moves a non-blocking handshake on.
            Some(true) => {
                return match self.progress(true) {
                    Ok(()) => Err(Error::new(
                        WsaCode::EISCONN,
                        "connect: the socket is already connected",
                    )),
                    Err(e) if e.is_would_block() => Err(Error::new(
                        WsaCode::EALREADY,
                        "connect: the connection and TLS handshake are under way",
                    )),
                    Err(e) => Err(e),
                };
            }
            Some(false) => {
                return Err(Error::new(
                    WsaCode::EISCONN,
                    "connect: the socket is already connected",
                ))
            }
            None => {}
        }
        if let Err(errno) = fd::connect(self.fd(), addr) {
            let mut session = self.state.lock();
            if errno == libc::EINPROGRESS {
                session.phase = Phase::Connecting;
                return Err(in_progress("connect: in progress on a non-blocking socket"));
            }
            // Nothing was sent: the socket is back where it was (a program may try again).
            session.connect_started = false;
            return Err(Error::os(errno, "connect"));
        }
        self.after_tcp_connect(false).map_err(|e| {
            if e.is_would_block() {
                in_progress("connect: TLS handshake in progress on a non-blocking socket")
            } else {
                e
            }
        })
    }

    /// TCP is up: open the plaintext window (deferred mode) or start the handshake.
    fn after_tcp_connect(&self, dont_wait: bool) -> Result<()> {
        let (deferred, name) = {
            let mut session = self.state.lock();
            let deferred = session.options.flags.deferred();
            if deferred {
                session.phase = Phase::Plaintext;
            }
            (deferred, session.options.peer_name.for_handshake())
        };
        if deferred {
            log!(
                Level::Debug,
                "fd {}: connected in plaintext (deferred handshake)",
                self.fd()
            );
            return Ok(());
        }
        self.begin(name, "connect")?;
        self.advance(dont_wait)
    }

    /// Move a socket that is connecting or handshaking on; Ok once TLS (or the plaintext window) is up.
    /// Used by `send`, `recv` and a repeated `connect`.
    pub(super) fn progress(&self, dont_wait: bool) -> Result<()> {
        let connecting = matches!(self.state.lock().phase, Phase::Connecting);
        if connecting {
            self.settle_connect(dont_wait)?;
        }
        self.advance(dont_wait)
    }

    /// Finish a non-blocking TCP connect if the kernel has.
    fn settle_connect(&self, dont_wait: bool) -> Result<()> {
        let blocking = self.may_block(dont_wait);
        let deadline = if blocking {
            fd::deadline(self.fd(), libc::SO_SNDTIMEO)
        } else {
            Some(Instant::now())
        };
        match fd::wait(self.fd(), libc::POLLOUT, deadline) {
            Ok(0) if !blocking => {
                return Err(Error::new(
                    WsaCode::EWOULDBLOCK,
                    "the TCP connection is still being established",
                ))
            }
            Ok(0) => return Err(Error::new(WsaCode::ETIMEDOUT, "connect: timed out")),
            Ok(_) => {}
            Err(e) => return Err(Error::os(e, "connect")),
        }
        match fd::get_int_option(self.fd(), libc::SOL_SOCKET, libc::SO_ERROR) {
            Ok(0) => {}
            Ok(e) | Err(e) => {
                let mut session = self.state.lock();
                session.phase = Phase::Setup;
                session.connect_started = false;
                return Err(Error::os(e, "connect"));
            }
        }
        {
            let mut session = self.state.lock();
            if !matches!(session.phase, Phase::Connecting) {
                return Ok(()); // another thread settled it
            }
            session.phase = Phase::Setup;
        }
        self.after_tcp_connect(dont_wait)
    }

    /// `SO_SSL_PERFORM_HANDSHAKE`: the deferred handshake with the name given (or the peer name). On a
    /// non-blocking socket it answers WSAEWOULDBLOCK until the handshake is done; call it again.
    ///
    /// `name` is the name given, as parsed: Ok(None) for none (the name set by `SO_SSL_SET_PEERNAME`, or
    /// none, is used). A name that cannot be used fails the socket (nothing more can be sent on it, in
    /// plaintext or otherwise), as does anything that keeps the handshake from starting.
    pub fn perform_handshake(&self, name: Result<Option<ServerName<'static>>>) -> Result<()> {
        let _call = self.enter()?;
        if matches!(self.state.lock().phase, Phase::Connecting) {
            self.settle_connect(false)?;
        }
        let name = {
            let session = self.state.lock();
            match &session.phase {
                Phase::Plaintext => match name {
                    Ok(Some(given)) => Ok(Some(given)),
                    Ok(None) => session.options.peer_name.for_handshake(),
                    Err(e) => Err(e),
                },
                Phase::Handshake(_) | Phase::Handshaking(_) => {
                    drop(session);
                    return self.advance(false);
                }
                Phase::Setup | Phase::Connecting => {
                    return Err(Error::new(
                        WsaCode::ENOTCONN,
                        "SO_SSL_PERFORM_HANDSHAKE: the socket is not connected",
                    ))
                }
                Phase::Established(_) | Phase::Kernel(_) => {
                    return Err(Error::new(
                        WsaCode::EISCONN,
                        "SO_SSL_PERFORM_HANDSHAKE: the handshake has already taken place",
                    ))
                }
                Phase::Failed(e) => return Err(e.clone()),
            }
        };
        self.begin(name, "SO_SSL_PERFORM_HANDSHAKE")?;
        self.advance(false)
    }

    /// Create the TLS connection and park it. `name` is sent as SNI and checked; without one the peer's
    /// address is used for the connection and no name is checked.
    ///
    /// Anything that keeps the handshake from starting (a name that cannot be used, a client key that
    /// does not match its certificate, ...) fails the socket: the plaintext window is over either way.
    fn begin(&self, name: Result<Option<ServerName<'static>>>, what: &'static str) -> Result<()> {
        // Wait for a plaintext send in progress to finish before the phase changes.
        let _writers = self.outbound.lock();
        let mut session = self.state.lock();
        if !matches!(session.phase, Phase::Plaintext | Phase::Setup) {
            return Ok(()); // another thread began it
        }
        match name.and_then(|name| self.start(&session.options, name, what)) {
            Ok(pending) => {
                session.phase = Phase::Handshake(pending);
                Ok(())
            }
            Err(e) => {
                let e = e.context(what);
                log!(Level::Error, "fd {}: {}", self.fd(), e.reason());
                fail_session(&mut session, e.clone(), self);
                Err(e)
            }
        }
    }

    /// The TLS connection for a handshake with `options` and `name`, ready to be parked.
    fn start(
        &self,
        options: &Options,
        name: Option<ServerName<'static>>,
        what: &'static str,
    ) -> Result<Box<Pending>> {
        let options = options.clone();
        let identity = options
            .client_identity
            .clone()
            .or_else(ClientIdentity::from_environment);
        let config = config::client_config(options.protocols, identity.as_ref())?;
        let connect_name = match &name {
            Some(n) => n.clone(),
            None => ServerName::IpAddress(
                fd::peer_ip(self.fd())
                    .ok_or_else(|| Error::new(WsaCode::ENOTCONN, "the socket has no IP peer"))?
                    .into(),
            ),
        };
        // Sessions are shared only between sockets that would decide alike: the same peer address and
        // port, the same name checked (or none), the same client certificate (or none), a hook or none.
        // Sockets with a hook get a scope of their own: their resumed handshakes are judged again by
        // their hook, on the certificate the session was made with (see `judge_resumed`).
        let session_scope = match (fd::peer_addr(self.fd()), options.cache.size) {
            (Some(addr), 1..) => Some(format!(
                "{}|{addr}|checked:{}|client:{}",
                if options.hook.is_some() {
                    "hook"
                } else {
                    "nohook"
                },
                name.as_ref()
                    .map_or("-".into(), |n| n.to_str().into_owned()),
                identity.as_ref().map_or("-", |i| i.origin.as_str())
            )),
            _ => None,
        };
        let session_max_age = (options.cache.lifetime_ms > 0)
            .then(|| std::time::Duration::from_millis(options.cache.lifetime_ms.into()));
        let context = Arc::new(HandshakeContext {
            judge: options.hook.clone(),
            check_name: name,
            session_scope,
            session_max_age,
            outcome: parking_lot::Mutex::new(None),
            client_cert_requested: std::sync::atomic::AtomicBool::new(false),
        });
        // Current while the ClientHello is built: it consults the session store.
        let conn = {
            let _current = verify::enter(context.clone());
            ClientConnection::new(config, connect_name).map_err(|e| {
                Error::new(
                    WsaCode::ECONNABORTED,
                    format!("{what}: TLS setup failed: {e}"),
                )
            })?
        };
        let mut conn = conn;
        conn.set_buffer_limit(None);
        log!(
            Level::Debug,
            "fd {}: TLS handshake begins ({what}): peer name {}, {}, hook {}, resumption {}",
            self.fd(),
            context
                .check_name
                .as_ref()
                .map_or("none (no name checked)".into(), |n| format!(
                    "'{}'",
                    n.to_str()
                )),
            options.protocols.describe(),
            if context.judge.is_some() {
                "set"
            } else {
                "none"
            },
            if context.session_scope.is_some() {
                "allowed"
            } else {
                "off (cache size 0)"
            }
        );
        Ok(Box::new(Pending {
            conn,
            context,
            what,
            started: Instant::now(),
        }))
    }

    /// Drive the parked handshake as far as possible; see the module's note.
    pub(super) fn advance(&self, dont_wait: bool) -> Result<()> {
        let me = thread::current().id();
        let mut pending = {
            let mut session = self.state.lock();
            loop {
                match &session.phase {
                    Phase::Handshake(_) => {
                        let Phase::Handshake(p) = std::mem::replace(&mut session.phase, Phase::Handshaking(me)) else {
                            unreachable!("matched just above")
                        };
                        break p;
                    }
                    Phase::Handshaking(owner) if *owner == me => {
                        return Err(Error::new(
                            WsaCode::EINPROGRESS,
                            "called from inside the handshake (the certificate hook) on the same socket",
                        ))
                    }
                    Phase::Handshaking(_) => {
                        if !self.may_block(dont_wait) {
                            return Err(Error::new(WsaCode::EWOULDBLOCK, "the TLS handshake is in progress"));
                        }
                        self.handshake_done.wait(&mut session);
                        if self.closed.load(Ordering::SeqCst) {
                            return Err(self.interrupted());
                        }
                    }
                    Phase::Established(_) | Phase::Kernel(_) | Phase::Plaintext => return Ok(()),
                    Phase::Failed(e) => return Err(e.clone()),
                    Phase::Setup | Phase::Connecting => {
                        return Err(Error::new(WsaCode::ENOTCONN, "the socket is not connected"))
                    }
                }
            }
        };
        let mut inbound = std::mem::take(&mut *self.inbound.lock());
        let mut outbound = std::mem::take(&mut *self.outbound.lock());
        let blocking = self.may_block(dont_wait);
        let step = self.step(&mut pending, &mut inbound, &mut outbound, blocking);
        *self.inbound.lock() = inbound;
        *self.outbound.lock() = outbound;

        let mut session = self.state.lock();
        let result = match step {
            Ok(Step::Done) => {
                let conn = pending.conn;
                log!(
                    Level::Info,
                    "fd {}: TLS established{} in {:?}: {:?} {:?}, key exchange {:?}, {}",
                    self.fd(),
                    pending
                        .context
                        .check_name
                        .as_ref()
                        .map_or(String::new(), |n| format!(" with {}", n.to_str())),
                    pending.started.elapsed(),
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
                );
                if let Some(o) = pending.context.outcome.lock().as_ref() {
                    log!(
                        Level::Debug,
                        "fd {}: certificate flags {:#x}, verdict {}",
                        self.fd(),
                        o.flags,
                        o.verdict
                    );
                }
                session.info = Some(connection_info(&conn));
                // TLS 1.3 tickets come after the handshake: the reading side stores them under this
                // context's scope.
                session.tickets = pending
                    .context
                    .session_scope
                    .is_some()
                    .then(|| pending.context.clone());
                session.phase = Phase::Established(Box::new(conn));
                session.kernel_wanted = SecureSocket::kernel_tls_wanted();
                Ok(())
            }
            Ok(Step::WouldBlock) => {
                session.phase = Phase::Handshake(pending);
                Err(Error::new(
                    WsaCode::EWOULDBLOCK,
                    "the TLS handshake is in progress (non-blocking socket)",
                ))
            }
            Err(e) => {
                let e = e.context(pending.what);
                log!(Level::Error, "fd {}: {}", self.fd(), e.reason());
                fail_session(&mut session, e.clone(), self);
                Err(e)
            }
        };
        drop(session);
        self.handshake_done.notify_all();
        if result.is_ok() {
            // Kernel TLS (SSLSOCK_KTLS), if the connection is quiet already; else at the next send/recv.
            self.maybe_kernel();
        }
        result
    }

    /// One run of the handshake engine, with no lock held.
    fn step(
        &self,
        pending: &mut Pending,
        inbound: &mut Inbound,
        out: &mut Outbound,
        blocking: bool,
    ) -> Result<Step> {
        let _current = verify::enter(pending.context.clone());
        let step = self.run(pending, inbound, out, blocking)?;
        if matches!(step, Step::Done) {
            self.judge_resumed(pending)?;
        }
        Ok(step)
    }

    /// A resumed handshake checks no certificate, so every resumed handshake gets the certificate
    /// decision of the moment on the certificate the session was made with (rustls keeps it with the
    /// session), exactly as on a full handshake: the flags are computed again now (a certificate that
    /// has expired or been revoked since is caught), the hook judges them if there is one, the library's
    /// own rule decides if not, and a refusal fails the handshake before the program can send anything.
    fn judge_resumed(&self, pending: &mut Pending) -> Result<()> {
        let Pending { conn, context, .. } = pending;
        if conn.handshake_kind() != Some(rustls::HandshakeKind::Resumed) {
            return Ok(());
        }
        let decided = match conn.peer_certificates() {
            Some([end_entity, intermediates @ ..]) => config::verifier().decide(
                end_entity,
                intermediates,
                context,
                rustls::pki_types::UnixTime::now(),
            ),
            _ => Err(rustls::Error::NoCertificatesPresented),
        };
        // The hook may have closed the socket (as during a full handshake).
        if self.closed.load(Ordering::SeqCst) {
            return Err(self.interrupted());
        }
        let Err(e) = decided else {
            log!(
                Level::Debug,
                "fd {}: resumed session: the session's certificate was accepted again ({})",
                self.fd(),
                if context.judge.is_some() {
                    "by the hook"
                } else {
                    "no hook: flags 0"
                }
            );
            return Ok(());
        };
        // The handshake is over on our side: end it with close_notify, never anything else.
        conn.send_close_notify();
        let _ = self.io(|fd| fd::send_now(fd, &queued_tls(conn)));
        let outcome = context.outcome.lock().clone();
        let error = handshake_error(&e, outcome.as_ref(), false);
        Err(Error::new(
            error.code(),
            format!(
                "{} (a resumed session: the certificate of the session's first handshake)",
                error.reason()
            ),
        ))
    }

    /// The handshake engine's loop (see `step`).
    fn run(
        &self,
        pending: &mut Pending,
        inbound: &mut Inbound,
        out: &mut Outbound,
        blocking: bool,
    ) -> Result<Step> {
        let Pending { conn, context, .. } = pending;
        let mut read_deadline = None;
        // TLS 1.3: a server that asked for a client certificate judges it after our Finished. A
        // blocking handshake waits (briefly) for its verdict, so that a refusal fails the handshake call
        // itself rather than the first recv.
        let mut verdict_wait: Option<Instant> = None;
        let mut write_deadline = None;
        loop {
            while conn.wants_write() {
                conn.write_tls(&mut out.buf)
                    .map_err(|e| Error::new(WsaCode::ECONNABORTED, e.to_string()))?;
            }
            match self.io(|fd| out.send_now(fd)) {
                Ok(true) => {}
                Ok(false) if !blocking => return Ok(Step::WouldBlock),
                Ok(false) => {
                    let deadline = *write_deadline
                        .get_or_insert_with(|| fd::deadline(self.fd(), libc::SO_SNDTIMEO));
                    self.wait(libc::POLLOUT, deadline, "handshake")?;
                    continue;
                }
                Err(e) => {
                    return Err(aborted(format!(
                        "sending the handshake failed: {}",
                        os_words(e)
                    )))
                }
            }
            if !conn.is_handshaking() {
                let awaiting_verdict = blocking
                    && context.client_cert_requested.load(Ordering::Relaxed)
                    && conn.protocol_version() == Some(rustls::ProtocolVersion::TLSv1_3);
                match verdict_wait {
                    None if awaiting_verdict => {
                        verdict_wait = Some(Instant::now() + CLIENT_AUTH_VERDICT_WAIT)
                    }
                    None => return Ok(Step::Done),
                    Some(_) => {} // still waiting: read below
                }
            }
            if inbound.start == inbound.end {
                if let Some(until) = verdict_wait {
                    // Waiting for the server's verdict: the end of the wait is not an error.
                    match fd::wait(self.fd(), libc::POLLIN, Some(until)) {
                        Ok(0) | Err(_) => return Ok(Step::Done),
                        Ok(_) => {}
                    }
                }
                if inbound.buf.len() < RECORD_MAX {
                    inbound.buf.resize(RECORD_MAX, 0);
                }
                match self.io(|fd| fd::recv_now(fd, &mut inbound.buf)) {
                    Ok(0) => {
                        return Err(aborted(
                            "the server closed the connection during the TLS handshake".into(),
                        ))
                    }
                    Ok(n) => (inbound.start, inbound.end) = (0, n),
                    Err(libc::EAGAIN) if !blocking => return Ok(Step::WouldBlock),
                    Err(libc::EAGAIN) => {
                        let deadline = *read_deadline
                            .get_or_insert_with(|| fd::deadline(self.fd(), libc::SO_RCVTIMEO));
                        self.wait(libc::POLLIN, deadline, "handshake")?;
                        continue;
                    }
                    Err(e) => {
                        return Err(aborted(format!(
                            "the TLS handshake failed: {}",
                            os_words(e)
                        )))
                    }
                }
            }
            let Inbound {
                buf,
                start,
                end,
                records,
                ..
            } = inbound;
            let taken = conn.read_tls(&mut &buf[*start..*end]).unwrap_or(0);
            records.feed(&buf[*start..*start + taken]);
            *start += taken;
            if let Err(e) = conn.process_new_packets() {
                // rustls queued an alert for the server: send it, never anything else.
                let _ = self.io(|fd| fd::send_now(fd, &queued_tls(conn)));
                let outcome = context.outcome.lock().clone();
                let asked = context.client_cert_requested.load(Ordering::Relaxed);
                return Err(handshake_error(&e, outcome.as_ref(), asked));
            }
            if verdict_wait.is_some() && taken > 0 {
                return Ok(Step::Done);
            }
            if self.closed.load(Ordering::SeqCst) {
                return Err(self.interrupted());
            }
        }
    }

    /// What a `poll` on a socket whose handshake is parked must wait for: POLLOUT while handshake
    /// bytes wait for the kernel, else POLLIN. None when no handshake is parked.
    pub fn handshake_interest(&self) -> Option<i16> {
        let session = self.state.lock();
        match &session.phase {
            Phase::Handshake(p) => {
                let waiting =
                    p.conn.wants_write() || self.outbound.try_lock().is_none_or(|o| !o.is_empty());
                Some(if waiting { libc::POLLOUT } else { libc::POLLIN })
            }
            Phase::Connecting => Some(libc::POLLOUT),
            _ => None,
        }
    }
}

fn in_progress(reason: &'static str) -> Error {
    Error::new(WsaCode::EWOULDBLOCK, reason).with_errno(libc::EINPROGRESS)
}

fn aborted(reason: String) -> Error {
    Error::new(WsaCode::ECONNABORTED, reason)
}

fn os_words(errno: fd::Errno) -> String {
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
