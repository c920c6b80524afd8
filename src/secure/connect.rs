//! Connecting a secure socket: TCP, then the plaintext window (deferred mode) or the handshake, and
//! `SO_SSL_PERFORM_HANDSHAKE`. The handshake engine itself is `handshake`; this file creates it, parks
//! it between steps of a non-blocking socket, and installs the record layer when it completes.
//!
//! While a thread drives the handshake, the phase is `Handshaking(thread)` and that thread owns the
//! connection and the buffers: no lock of the socket is held while the hook runs.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use rustls::client::UnbufferedClientConnection;
use rustls::pki_types::ServerName;

use super::config;
use super::handshake::{log_outcome, Driver, Handshake};
use super::identity::ClientIdentity;
use super::options::Options;
use super::records::Records;
use super::socket::{fail_session, SecureSocket};
use super::state::Phase;
use super::verify::{self, HandshakeContext};
use crate::error::{Error, Result, WsaCode};
use crate::log::log;
use crate::settings::Level;
use crate::sys::fd;

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
                Phase::Plaintext | Phase::Records(_) => Some(false),
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
            self.deadline(libc::SO_SNDTIMEO)
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
                Phase::Records(_) => {
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
        let _writers = self.writers.lock();
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
    ) -> Result<Box<Handshake>> {
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
            UnbufferedClientConnection::new(config, connect_name).map_err(|e| {
                Error::new(
                    WsaCode::ECONNABORTED,
                    format!("{what}: TLS setup failed: {e}"),
                )
            })?
        };
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
        Ok(Box::new(Handshake::new(conn, context, what)))
    }

    /// Drive the parked handshake as far as possible; see the module's note.
    pub(super) fn advance(&self, dont_wait: bool) -> Result<()> {
        let me = thread::current().id();
        let mut handshake = {
            let mut session = self.state.lock();
            loop {
                match &session.phase {
                    Phase::Handshake(_) => {
                        let Phase::Handshake(h) =
                            std::mem::replace(&mut session.phase, Phase::Handshaking(me))
                        else {
                            unreachable!("matched just above")
                        };
                        break h;
                    }
                    Phase::Handshaking(owner) if *owner == me => {
                        return Err(Error::new(
                            WsaCode::EINPROGRESS,
                            "called from inside the handshake (the certificate hook) on the same socket",
                        ))
                    }
                    Phase::Handshaking(_) => {
                        if !self.may_block(dont_wait) {
                            return Err(Error::new(
                                WsaCode::EWOULDBLOCK,
                                "the TLS handshake is in progress",
                            ));
                        }
                        self.handshake_done.wait(&mut session);
                        if self.closed.load(Ordering::SeqCst) {
                            return Err(self.interrupted());
                        }
                    }
                    Phase::Records(_) | Phase::Plaintext => return Ok(()),
                    Phase::Failed(e) => return Err(e.clone()),
                    Phase::Setup | Phase::Connecting => {
                        return Err(Error::new(WsaCode::ENOTCONN, "the socket is not connected"))
                    }
                }
            }
        };
        let closed = || {
            self.closed
                .load(Ordering::SeqCst)
                .then(|| self.interrupted())
        };
        let wait = |events, until| self.wait(events, until, "handshake");
        let deadline = |option| self.deadline(option);
        let driver = Driver {
            wire: &self.wire,
            blocking: self.may_block(dont_wait),
            wait: &wait,
            deadline: &deadline,
            closed: &closed,
        };
        let step = handshake.run(&driver);
        let result = match step {
            Ok(true) => {
                let what = handshake.what;
                let elapsed = handshake.started.elapsed();
                // The Info line's parts, made only when it is written (`finish` consumes the
                // handshake).
                let established = crate::log::enabled(Level::Info).then(|| {
                    let name = handshake
                        .context
                        .check_name
                        .as_ref()
                        .map_or(String::new(), |n| format!(" with {}", n.to_str()));
                    (name, handshake.describe())
                });
                log_outcome(self.fd(), &handshake.context);
                match handshake.finish(&self.wire, &closed) {
                    Ok(done) => {
                        if let Some((name, line)) = established {
                            log!(
                                Level::Info,
                                "fd {}: TLS established{name} in {elapsed:?}: {line}",
                                self.fd()
                            );
                        }
                        let mut session = self.state.lock();
                        session.info = Some(done.info);
                        session.inbound = done.inbound;
                        session.outbound = done.outbound;
                        session.phase = Phase::Records(Records::User(done.records));
                        session.kernel_wanted = super::records::kernel::wanted();
                        Ok(())
                    }
                    Err(e) => Err(e.context(what)),
                }
            }
            Ok(false) => {
                self.state.lock().phase = Phase::Handshake(handshake);
                Err(Error::new(
                    WsaCode::EWOULDBLOCK,
                    "the TLS handshake is in progress (non-blocking socket)",
                ))
            }
            Err(e) => Err(e.context(handshake.what)),
        };
        if let Err(e) = &result {
            if !e.is_would_block() {
                let mut session = self.state.lock();
                fail_session(&mut session, e.clone(), self);
            }
        }
        self.handshake_done.notify_all();
        if result.is_ok() {
            // Kernel TLS (SSLSOCK_KTLS), if the connection is quiet already; else at the next send/recv.
            self.maybe_kernel();
        }
        result
    }

    /// For the Winsock event model's watcher (`WSAEventSelect`'s FD_CONNECT): move a non-blocking
    /// connect on without waiting: TCP, then the handshake (the certificate hook then runs on the
    /// watcher's thread). Ok(true) once it is complete (TLS up, or the deferred plaintext window open),
    /// Ok(false) while it is under way, Err with the reason it failed.
    pub fn connect_progress(&self) -> Result<bool> {
        let _call = self.enter()?;
        match self.progress(true) {
            Ok(()) => Ok(true),
            Err(e) if e.is_would_block() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// What a `poll` on a socket whose handshake is parked must wait for: POLLOUT while handshake
    /// bytes wait for the kernel, else POLLIN. None when no handshake is parked.
    pub fn handshake_interest(&self) -> Option<i16> {
        match &self.state.lock().phase {
            Phase::Handshake(h) => Some(h.interest()),
            Phase::Connecting => Some(libc::POLLOUT),
            _ => None,
        }
    }
}

fn in_progress(reason: &'static str) -> Error {
    Error::new(WsaCode::EWOULDBLOCK, reason).with_errno(libc::EINPROGRESS)
}
