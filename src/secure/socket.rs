//! One secure socket: its phase (setup → plaintext window → handshake → established, or failed), and
//! the reading, writing, handshake and closing paths.
//!
//! Locks, and the order they are taken in (never the other way):
//! - `outbound` (serialises writers and owns the ciphertext waiting for the kernel), then `state`;
//! - `inbound` (serialises readers and owns ciphertext read but not yet taken by rustls), then `state`,
//!   then at most a `try_lock` of `outbound`.
//!
//! No lock is held while a thread waits in the kernel (waits are `poll` with no lock, then a
//! non-blocking call under the lock) or while the program's hook runs (the handshake's connection is
//! owned by the driving thread, and the phase says `Handshaking` meanwhile). So one thread can block in
//! `recv` while another sends, and the hook may call back into the library.
//!
//! `close` may come from another thread at any time: it marks the socket closed and, if calls are in
//! progress, shuts the TCP connection down to wake them (they fail with WSAEINTR). The descriptor itself
//! is closed by whoever leaves last, so a blocked call never touches a reused descriptor number.

use std::ffi::c_int;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::ThreadId;
use std::time::Instant;

use parking_lot::{Condvar, Mutex, MutexGuard};
use rustls::pki_types::ServerName;
use rustls::ClientConnection;

use super::handshake::{Pending, RECORD_MAX};
use super::options::{CertJudge, Flags, Options, PeerName, Protocols};
use super::record::RecordTracker;
use crate::abi::SSLCONNECTIONINFO;
use crate::error::{Error, Result, WsaCode};
use crate::log::log;
use crate::settings::{self, Level};
use crate::sys::fd;

/// How long a wait watches its number before checking that the number is still the socket's (`wait`).
const FIRST_WAIT_SLICE: std::time::Duration = std::time::Duration::from_millis(500);

/// Plaintext handed to rustls per step of a large send.
const SEND_CHUNK: usize = 64 * 1024;

/// Reads from the kernel that made no data a non-blocking `recv` does before it answers
/// WSAEWOULDBLOCK (a peer may send records without data, such as session tickets, without end).
const MAX_DATALESS_PULLS: u32 = 16;

/// `recv` flags that matter on a secure socket.
#[derive(Clone, Copy, Debug, Default)]
pub struct RecvFlags {
    /// MSG_PEEK.
    pub peek: bool,
    /// MSG_WAITALL.
    pub wait_all: bool,
    /// MSG_DONTWAIT.
    pub dont_wait: bool,
    /// MSG_OOB.
    pub oob: bool,
}

impl RecvFlags {
    /// From the C flag word.
    pub fn from_c(flags: c_int) -> RecvFlags {
        RecvFlags {
            peek: flags & libc::MSG_PEEK != 0,
            wait_all: flags & libc::MSG_WAITALL != 0,
            dont_wait: flags & libc::MSG_DONTWAIT != 0,
            oob: flags & libc::MSG_OOB != 0,
        }
    }
}

/// Where the socket is in its life.
pub(super) enum Phase {
    /// SO_SECURE set, not connected.
    Setup,
    /// A non-blocking TCP connect is under way.
    Connecting,
    /// Connected in deferred mode, before `SO_SSL_PERFORM_HANDSHAKE`: plaintext.
    Plaintext,
    /// A handshake is under way, parked between steps (non-blocking socket).
    Handshake(Box<Pending>),
    /// A thread is driving the handshake.
    Handshaking(ThreadId),
    /// TLS is up.
    Established(Box<ClientConnection>),
    /// TLS is up and the kernel does the records (kernel TLS, `SSLSOCK_KTLS`; see `ktls`).
    Kernel(super::ktls::KernelSession),
    /// The handshake or the connection failed; every call fails with this.
    Failed(Error),
}

pub(super) struct Session {
    pub(super) options: Options,
    pub(super) phase: Phase,
    /// `connect` has started (settings are frozen from here on; docs/security.md "Settings").
    pub(super) connect_started: bool,
    /// `SO_SEC_NONE` came before connect: the socket is no longer secure (its binding is going).
    pub(super) switched_off: bool,
    pub(super) info: Option<SSLCONNECTIONINFO>,
    pub(super) read_shut: bool,
    pub(super) write_shut: bool,
    /// The handshake's context, kept when post-handshake session tickets may be stored.
    pub(super) tickets: Option<Arc<super::verify::HandshakeContext>>,
    /// Kernel TLS is wanted and the switch has not been made or ruled out yet (see `ktls`).
    pub(super) kernel_wanted: bool,
    /// Data decrypted before a fatal record (alert, TLS error) that failed the session: `recv`
    /// gives it before the error.
    pub(super) undelivered: Vec<u8>,
}

/// Ciphertext read from the kernel and not yet taken by rustls.
#[derive(Default)]
pub(super) struct Inbound {
    pub(super) buf: Vec<u8>,
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) records: RecordTracker,
    pub(super) eof: bool,
}

/// Ciphertext waiting for the kernel.
#[derive(Default)]
pub(super) struct Outbound {
    pub(super) buf: Vec<u8>,
    pub(super) sent: usize,
}

impl Outbound {
    pub(super) fn is_empty(&self) -> bool {
        self.sent == self.buf.len()
    }

    /// Send what the kernel takes now: Ok(true) when nothing is left.
    pub(super) fn send_now(&mut self, fd: c_int) -> std::result::Result<bool, fd::Errno> {
        while !self.is_empty() {
            match fd::send_now(fd, &self.buf[self.sent..]) {
                Ok(n) => self.sent += n,
                Err(libc::EAGAIN) => return Ok(false),
                Err(e) => return Err(e),
            }
        }
        self.buf.clear();
        self.sent = 0;
        Ok(true)
    }
}

/// The state of one secure descriptor.
pub struct SecureSocket {
    /// The descriptor the socket's I/O uses (one of `descriptors`).
    io_fd: AtomicI32,
    /// Every descriptor number that refers to this socket (`dup` shares the session).
    descriptors: Mutex<Vec<c_int>>,
    /// The I/O gate: every system call on `io_fd` holds it shared (`io`); moving the socket's I/O to
    /// another of its numbers (`detach`) or sealing it (`true`: `dup2`/`dup3` gave the socket's last
    /// number to another object, `seal`) holds it exclusively. So no call of this socket ever touches a
    /// number that is no longer the socket's: its TLS records never reach another connection. Only
    /// non-blocking calls are made under it (waits are not), so the exclusive side waits for calls that
    /// are about to return.
    io_gate: parking_lot::RwLock<bool>,
    /// The fork generation the socket belongs to (see `fork`).
    generation: u64,
    /// The kernel object behind the descriptor (device, inode), to tell a number reused behind
    /// sslsock's back (`is_stale`).
    identity: Option<fd::Identity>,
    pub(super) state: Mutex<Session>,
    pub(super) handshake_done: Condvar,
    pub(super) inbound: Mutex<Inbound>,
    pub(super) outbound: Mutex<Outbound>,
    pub(super) closed: AtomicBool,
    in_flight: AtomicUsize,
    released: AtomicBool,
    /// Set once `release_descriptor` has closed the last descriptor in the kernel.
    descriptor_closed: AtomicBool,
}

/// A call in progress on the socket (see the module's note on closing).
/// A call in progress on the socket: while one exists, `close` wakes it and defers closing the descriptor.
pub struct InFlight<'a>(&'a SecureSocket);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::SeqCst) == 1
            && self.0.closed.load(Ordering::SeqCst)
        {
            let _ = self.0.release_descriptor();
        }
    }
}

/// What a step of `recv` found.
pub(super) enum Step {
    Data(usize),
    End,
    /// Nothing yet; `true` when more ciphertext must be read (TLS), `false` in the plaintext window.
    NeedInput(bool),
    /// The phase changed under us (connect settled, handshake finished): look again.
    Retry,
}

/// What reading ciphertext from the kernel gave.
enum Pulled {
    Some,
    Eof,
    Nothing,
}

impl SecureSocket {
    /// Secure state for a descriptor that just got `SO_SECURE`.
    pub fn new(fd: c_int) -> Arc<SecureSocket> {
        crate::fork::watch();
        Arc::new(SecureSocket {
            io_fd: AtomicI32::new(fd),
            descriptors: Mutex::new(vec![fd]),
            io_gate: parking_lot::RwLock::new(false),
            generation: crate::fork::generation(),
            identity: fd::identity(fd).ok(),
            state: Mutex::new(Session {
                options: Options::default(),
                phase: Phase::Setup,
                connect_started: false,
                switched_off: false,
                info: None,
                read_shut: false,
                write_shut: false,
                tickets: None,
                kernel_wanted: false,
                undelivered: Vec::new(),
            }),
            handshake_done: Condvar::new(),
            inbound: Mutex::new(Inbound::default()),
            outbound: Mutex::new(Outbound::default()),
            closed: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            released: AtomicBool::new(false),
            descriptor_closed: AtomicBool::new(false),
        })
    }

    /// Whether `close` has been called on the socket.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// The descriptor the socket's I/O uses.
    pub fn fd(&self) -> c_int {
        self.io_fd.load(Ordering::Relaxed)
    }

    /// The kernel object behind the socket's descriptors (device, inode), when it could be read.
    pub fn identity(&self) -> Option<fd::Identity> {
        self.identity
    }

    /// Whether the socket was inherited across `fork`: the parent owns its TLS session, so the child may
    /// only close its descriptor (no close_notify, no shutdown) and every other call fails.
    pub fn is_inherited(&self) -> bool {
        self.generation != crate::fork::generation()
    }

    /// Another descriptor now refers to this socket (`dup`, `dup2`, `fcntl(F_DUPFD)`).
    pub fn attach(&self, fd: c_int) {
        let mut fds = self.descriptors.lock();
        if !fds.contains(&fd) {
            fds.push(fd);
        }
    }

    /// `fd` no longer refers to this socket. Returns true when other descriptors still do (then the
    /// session lives on and only `fd` is to be closed), false when it was the last one.
    pub fn detach(&self, fd: c_int) -> bool {
        let mut fds = self.descriptors.lock();
        fds.retain(|&d| d != fd);
        match fds.first() {
            Some(&other) => {
                if self.fd() == fd {
                    let _no_call_on_the_old_number = self.io_gate.write();
                    self.io_fd.store(other, Ordering::Relaxed);
                }
                true
            }
            None => false,
        }
    }

    /// Register a call in progress (fails if the socket is already closed).
    pub fn enter(&self) -> Result<InFlight<'_>> {
        if self.is_inherited() {
            return Err(Error::new(
                WsaCode::ECONNABORTED,
                "this secure socket was inherited across fork(): its TLS session belongs to the parent; \
                 the child may only close it",
            ));
        }
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        let guard = InFlight(self);
        if self.closed.load(Ordering::SeqCst) {
            return Err(
                Error::new(WsaCode::ENOTSOCK, "the socket has been closed").with_errno(libc::EBADF)
            );
        }
        Ok(guard)
    }

    /// Close the last descriptor in the kernel, then end its binding (in that order: until the number
    /// is closed, a call on it must find the socket, closed, and fail).
    fn release_descriptor(&self) -> Result<()> {
        if self.released.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let closed = fd::close(self.fd()).map_err(|e| Error::os(e, "close"));
        self.descriptor_closed.store(true, Ordering::SeqCst);
        closed
    }

    /// Whether kernel TLS is wanted for a session that has just been established (`ktls`).
    pub(super) fn kernel_tls_wanted() -> bool {
        super::ktls::wanted()
    }

    /// Whether the socket's last descriptor has been closed in the kernel (after `close` waited for the
    /// calls in progress): its number is libc's again.
    pub fn is_descriptor_closed(&self) -> bool {
        self.descriptor_closed.load(Ordering::SeqCst)
    }

    /// Whether descriptor `fd`, which had this socket, is now something else: closed behind sslsock's
    /// back (`fclose` of an `fdopen` stream, `closefrom`, a raw system call) and its number reused.
    /// Asked only after a call failed, so the fast path pays nothing.
    pub fn is_stale(&self, fd: c_int) -> bool {
        // A socket sslsock closed itself is not stale: its calls fail as closed (WSAEINTR, ...).
        if self.is_closed() {
            return false;
        }
        match (fd::identity(fd), self.identity) {
            (Ok(now), Some(then)) => now != then,
            (Err(_), _) => true,
            (Ok(_), None) => false,
        }
    }

    /// One non-blocking system call on the socket's descriptor, under the I/O gate (see `io_gate`):
    /// EPIPE once the socket's last number was given to another object.
    pub(super) fn io<T>(
        &self,
        call: impl FnOnce(c_int) -> std::result::Result<T, fd::Errno>,
    ) -> std::result::Result<T, fd::Errno> {
        let sealed = self.io_gate.read();
        if *sealed {
            return Err(libc::EPIPE);
        }
        call(self.fd())
    }

    /// `dup2`/`dup3` is about to give the socket's last number to another object (`shut_for_replace`):
    /// no call of this socket may touch the number from here on. Undone by `replaced(false)` if the
    /// kernel refuses.
    fn seal(&self) {
        *self.io_gate.write() = true;
    }

    pub(super) fn interrupted(&self) -> Error {
        Error::new(
            WsaCode::EINTR,
            "the socket was closed by another call (closesocket) while this one waited",
        )
    }

    /// Wait for the kernel with no lock held; fails at the deadline or if the socket is closed meanwhile.
    ///
    /// A wait is not under the I/O gate (it may last), so a wait that begins in the instant its number
    /// is given to another object (`dup2`) would watch that object. The first `FIRST_WAIT_SLICE` is
    /// therefore waited alone, and then the number is checked again; a number replaced later wakes the
    /// wait by itself (the socket is shut down first, and a wait in the kernel keeps the object it began
    /// on).
    pub(super) fn wait(
        &self,
        events: i16,
        deadline: Option<Instant>,
        what: &'static str,
    ) -> Result<()> {
        let mut slice_end = Some(Instant::now() + FIRST_WAIT_SLICE);
        loop {
            let fd = self.fd();
            if *self.io_gate.read() {
                return Err(self.interrupted());
            }
            let until = match (deadline, slice_end) {
                (Some(d), Some(s)) => Some(d.min(s)),
                (d, s) => d.or(s),
            };
            let ready = fd::wait(fd, events, until).map_err(|e| Error::os(e, what))?;
            if self.closed.load(Ordering::SeqCst) {
                return Err(self.interrupted());
            }
            if ready != 0 {
                return Ok(());
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(Error::new(
                    WsaCode::ETIMEDOUT,
                    format!("{what}: timed out (SO_RCVTIMEO/SO_SNDTIMEO)"),
                ));
            }
            if self.fd() == fd {
                slice_end = None; // still the socket's number: the rest in one wait
            }
        }
    }

    /// Whether a call may block: not with MSG_DONTWAIT, not on a non-blocking descriptor. Asked only
    /// when a call would have to wait, so the fast path makes no extra system call.
    pub(super) fn may_block(&self, dont_wait: bool) -> bool {
        !dont_wait && !fd::is_nonblocking(self.fd())
    }

    // ---- settings (before the handshake) ----

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
            Phase::Plaintext | Phase::Established(_) | Phase::Kernel(_) | Phase::Failed(_) => {
                Err(Error::new(
                    WsaCode::EISCONN,
                    format!("{what}: the socket is connected (set it before connect)"),
                ))
            }
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
            Phase::Established(_) | Phase::Kernel(_) | Phase::Failed(_) => Err(Error::new(
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
            (Phase::Established(_) | Phase::Kernel(_), Some(info)) => Ok(info),
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

    // ---- reading ----

    /// `recv`: plaintext in the deferred window, decrypted data afterwards.
    pub fn recv(&self, buf: &mut [u8], flags: RecvFlags) -> Result<usize> {
        let _call = self.enter()?;
        if flags.oob {
            return Err(Error::new(
                WsaCode::EOPNOTSUPP,
                "recv: MSG_OOB is not possible on a secure socket",
            ));
        }
        self.maybe_kernel();
        let mut filled = 0;
        let mut deadline = None;
        let mut dataless_pulls = 0;
        loop {
            let step = self.recv_step(&mut buf[filled..], flags)?;
            let need_tls = match step {
                Step::Data(n) => {
                    filled += n;
                    if !flags.wait_all || flags.peek || filled == buf.len() || n == 0 {
                        return Ok(filled);
                    }
                    continue;
                }
                Step::End => return Ok(filled),
                Step::Retry => continue,
                Step::NeedInput(need_tls) => need_tls,
            };
            if need_tls {
                match self.pull()? {
                    Pulled::Eof => continue,
                    Pulled::Some => {
                        // Records that make no data (session tickets, key updates) may come
                        // without end: the call's bounds hold for them too. Asked every
                        // MAX_DATALESS_PULLS such reads only: a read that ends inside a record
                        // (common with servers that write in small pieces) makes no data either,
                        // and two system calls for it each time cost a tenth of a download's CPU.
                        dataless_pulls += 1;
                        if dataless_pulls % MAX_DATALESS_PULLS != 0 {
                            continue;
                        }
                        let blocking = self.may_block(flags.dont_wait);
                        if blocking {
                            let until = *deadline
                                .get_or_insert_with(|| fd::deadline(self.fd(), libc::SO_RCVTIMEO));
                            if until.is_none_or(|d| Instant::now() < d) {
                                continue;
                            }
                        }
                        if filled > 0 {
                            return Ok(filled);
                        }
                        return Err(if blocking {
                            Error::new(
                                WsaCode::ETIMEDOUT,
                                "recv: timed out (SO_RCVTIMEO/SO_SNDTIMEO): the server sent only \
                                 records without data",
                            )
                        } else {
                            Error::new(
                                WsaCode::EWOULDBLOCK,
                                "recv: no data yet on a non-blocking socket",
                            )
                        });
                    }
                    Pulled::Nothing => {}
                }
            }
            if !self.may_block(flags.dont_wait) {
                if filled > 0 {
                    return Ok(filled);
                }
                return Err(Error::new(
                    WsaCode::EWOULDBLOCK,
                    "recv: no data yet on a non-blocking socket",
                ));
            }
            if deadline.is_none() {
                deadline = Some(fd::deadline(self.fd(), libc::SO_RCVTIMEO));
            }
            self.wait(libc::POLLIN, deadline.flatten(), "recv")?;
        }
    }

    /// One non-blocking attempt to hand data to the caller.
    fn recv_step(&self, buf: &mut [u8], flags: RecvFlags) -> Result<Step> {
        let mut session = self.state.lock();
        if session.read_shut {
            return Err(Error::new(
                WsaCode::ESHUTDOWN,
                "recv: the socket was shut down for reading",
            ));
        }
        // Data decrypted before the failure comes first.
        if matches!(session.phase, Phase::Failed(_))
            && !session.undelivered.is_empty()
            && !buf.is_empty()
        {
            let n = session.undelivered.len().min(buf.len());
            buf[..n].copy_from_slice(&session.undelivered[..n]);
            if !flags.peek {
                session.undelivered.drain(..n);
            }
            return Ok(Step::Data(n));
        }
        match &mut session.phase {
            Phase::Setup => Err(Error::new(
                WsaCode::ENOTCONN,
                "recv: the socket is not connected",
            )),
            Phase::Connecting | Phase::Handshake(_) | Phase::Handshaking(_) => {
                drop(session);
                self.progress(flags.dont_wait)?;
                Ok(Step::Retry)
            }
            Phase::Plaintext => {
                // The deferred window: the kernel's bytes as they are. Under the state lock, so a
                // handshake starting on another thread cannot lose its first bytes to this call.
                let mut c_flags = libc::MSG_DONTWAIT;
                if flags.peek {
                    c_flags |= libc::MSG_PEEK;
                }
                match self.io(|fd| fd::recv_flags(fd, buf, c_flags)) {
                    Ok(0) if !buf.is_empty() => Ok(Step::End),
                    Ok(n) => Ok(Step::Data(n)),
                    Err(libc::EAGAIN | libc::EINTR) => Ok(Step::NeedInput(false)),
                    Err(e) => Err(Error::os(e, "recv")),
                }
            }
            Phase::Failed(e) => Err(e.clone()),
            Phase::Kernel(_) => {
                drop(session);
                self.kernel_recv_step(buf, flags.peek)
            }
            Phase::Established(conn) => {
                if buf.is_empty() {
                    return Ok(Step::Data(0));
                }
                let got = if flags.peek {
                    conn.reader().into_first_chunk().map(|chunk| {
                        let n = chunk.len().min(buf.len());
                        buf[..n].copy_from_slice(&chunk[..n]);
                        n
                    })
                } else {
                    std::io::Read::read(&mut conn.reader(), buf)
                };
                match got {
                    Ok(0) if conn.is_handshaking() => Ok(Step::NeedInput(true)),
                    Ok(0) => {
                        log!(
                            Level::Debug,
                            "fd {}: close_notify from the server: end of data",
                            self.fd()
                        );
                        drop(session);
                        self.answer_close_notify();
                        Ok(Step::End)
                    }
                    Ok(n) => Ok(Step::Data(n)),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        Ok(Step::NeedInput(true))
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                        drop(session);
                        self.unclean_end()
                    }
                    Err(e) => Err(Error::new(WsaCode::ECONNABORTED, format!("recv: {e}"))),
                }
            }
        }
    }

    /// The server's close_notify is answered with ours, and the kernel socket is shut down for sending
    /// (RFC 5246 §7.2.1; TLS 1.3's half-close was never CE's): from here on `send` fails with
    /// WSAESHUTDOWN, and no path, interposed or not, can put a byte on the wire.
    fn answer_close_notify(&self) {
        match self.outbound.try_lock() {
            Some(mut out) => {
                let mut session = self.state.lock();
                if session.write_shut {
                    return;
                }
                session.write_shut = true;
                queue_close_notify(&mut session, &mut out);
                drop(session);
                let _ = self.io(|fd| out.send_now(fd));
            }
            // A writer is busy (perhaps waiting for room the server will never make): no close_notify
            // of ours, but the shutdown below ends its write as well.
            None => self.state.lock().write_shut = true,
        }
        let _ = self.io(|fd| fd::shutdown(fd, libc::SHUT_WR));
    }

    /// The server closed TCP without close_notify (docs/api.md, `recv`; README "The contract's decisions").
    fn unclean_end(&self) -> Result<Step> {
        let at_boundary = self.inbound.lock().records.at_boundary();
        // A truncated stream fails the socket, as any TLS failure does: nothing more is sent.
        if !at_boundary {
            let error = Error::new(
                WsaCode::ECONNRESET,
                "recv: the connection was closed in the middle of a TLS record (truncated stream)",
            );
            self.fail(error.clone());
            return Err(error);
        }
        if settings::get().strict_eof {
            let error = Error::new(
                WsaCode::ECONNABORTED,
                "recv: the server closed the connection without close_notify (SSLSOCK_STRICT_EOF=1)",
            );
            self.fail(error.clone());
            return Err(error);
        }
        log!(
            Level::Warn,
            "fd {}: the server closed without close_notify (at a record boundary: end of data)",
            self.fd()
        );
        Ok(Step::End)
    }

    /// Read ciphertext the kernel has now and hand it to rustls. Never waits.
    fn pull(&self) -> Result<Pulled> {
        let mut inbound = self.inbound.lock();
        // Before the handshake ends, the handshake engine alone reads the kernel; after a switch to
        // kernel TLS (made under the inbound lock), the kernel TLS paths do.
        if !matches!(self.state.lock().phase, Phase::Established(_)) {
            return Ok(Pulled::Nothing);
        }
        let mut eof = false;
        if inbound.start == inbound.end {
            if inbound.eof {
                return Ok(Pulled::Nothing);
            }
            if inbound.buf.len() < RECORD_MAX {
                inbound.buf.resize(RECORD_MAX, 0);
            }
            inbound.start = 0;
            inbound.end = 0;
            match self.io(|fd| fd::recv_now(fd, &mut inbound.buf)) {
                Ok(0) => {
                    eof = true;
                    inbound.eof = true;
                }
                Ok(n) => inbound.end = n,
                Err(libc::EAGAIN) => return Ok(Pulled::Nothing),
                Err(e) => {
                    let error = Error::os(e, "recv");
                    self.fail(error.clone());
                    return Err(error);
                }
            }
        }
        let mut session = self.state.lock();
        // New session tickets met here are stored under the handshake's scope.
        let _tickets = session.tickets.clone().map(super::verify::enter);
        let Phase::Established(conn) = &mut session.phase else {
            return Ok(Pulled::Some);
        };
        // rustls takes at most a few KiB per read_tls: feed until all of it is in (or rustls holds
        // back because the program has not read its plaintext yet), processing as we go, so that no
        // ciphertext waits here unseen by readiness checks.
        let fed = if eof {
            let _ = conn.read_tls(&mut &[][..]);
            conn.process_new_packets().map(|_| ())
        } else {
            let Inbound {
                buf,
                start,
                end,
                records,
                ..
            } = &mut *inbound;
            let mut fed = Ok(());
            while *start < *end && fed.is_ok() {
                let taken = conn.read_tls(&mut &buf[*start..*end]).unwrap_or(0);
                records.feed(&buf[*start..*start + taken]);
                *start += taken;
                fed = conn.process_new_packets().map(|_| ());
                if taken == 0 {
                    break;
                }
            }
            fed
        };
        if let Err(e) = fed {
            let alert = queued_tls(conn);
            let error = Error::new(
                WsaCode::ECONNABORTED,
                format!("TLS error: {}", tls_words(&e)),
            );
            // The alert goes first: the failure shuts the kernel socket down.
            let _ = self.io(|fd| fd::send_now(fd, &alert));
            fail_session(&mut session, error.clone(), self);
            let data_first = !session.undelivered.is_empty();
            drop(session);
            // Data that came before the fatal record is delivered first; the error comes after it.
            return if data_first {
                Ok(Pulled::Some)
            } else {
                Err(error)
            };
        }
        // Post-handshake messages may need an answer (TLS 1.3 key update): send it if no writer is busy;
        // a busy writer sends it after its own data.
        if conn.wants_write() {
            if let Some(mut out) = self.outbound.try_lock() {
                while conn.wants_write() {
                    if conn.write_tls(&mut out.buf).is_err() {
                        break;
                    }
                }
                drop(session);
                let _ = self.flush_now(&mut out);
            }
        }
        Ok(if eof { Pulled::Eof } else { Pulled::Some })
    }

    pub(super) fn fail(&self, error: Error) {
        let mut session = self.state.lock();
        if !matches!(session.phase, Phase::Failed(_)) {
            fail_session(&mut session, error, self);
        }
    }

    /// Decrypted bytes ready now (`FIONREAD`), after taking in what the kernel holds.
    pub fn readable_bytes(&self) -> Result<usize> {
        let _call = self.enter()?;
        let plaintext = matches!(self.state.lock().phase, Phase::Plaintext);
        if plaintext {
            let mut n: c_int = 0;
            // SAFETY: FIONREAD writes one int; sslsock does not export ioctl.
            if unsafe { libc::ioctl(self.fd(), libc::FIONREAD, &mut n) } != 0 {
                return Err(Error::last_os("ioctlsocket(FIONREAD)"));
            }
            return Ok(n.max(0) as usize);
        }
        if matches!(self.state.lock().phase, Phase::Kernel(_)) {
            return Ok(self.kernel_readable_bytes());
        }
        if self.inbound.try_lock().is_some() {
            let _ = self.pull();
        }
        Ok(self.plaintext_ready())
    }

    fn plaintext_ready(&self) -> usize {
        let mut session = self.state.lock();
        match &mut session.phase {
            Phase::Established(conn) => conn
                .process_new_packets()
                .map_or(0, |io| io.plaintext_bytes_to_read()),
            Phase::Failed(_) => session.undelivered.len(),
            _ => 0,
        }
    }

    /// For `select`: whether a read would return at once without the kernel's help (data already
    /// decrypted, the end reached, or a failure to report).
    pub fn readable_now(&self) -> bool {
        let mut session = self.state.lock();
        let read_shut = session.read_shut;
        match &mut session.phase {
            Phase::Failed(_) => true,
            Phase::Established(conn) => match conn.process_new_packets() {
                Ok(io) => io.plaintext_bytes_to_read() > 0 || io.peer_has_closed(),
                Err(_) => true,
            },
            // The kernel's own readiness is right for kernel TLS (a whole record decrypted).
            Phase::Kernel(k) => k.peer_closed || read_shut,
            _ => read_shut,
        }
    }

    /// For `select`, after the kernel said readable: whether that ciphertext makes data (or an end)
    /// now. A whole record is needed; part of one is not "readable".
    pub fn readable_after_input(&self) -> bool {
        match self.state.lock().phase {
            Phase::Established(_) => {}
            Phase::Kernel(_) => return self.kernel_readable(),
            _ => return true,
        }
        if self.inbound.is_locked() {
            return true; // another reader is taking it in; let the program's recv decide
        }
        match self.pull() {
            Ok(Pulled::Nothing) | Ok(Pulled::Some) => {
                self.readable_now() || self.inbound.lock().eof
            }
            Ok(Pulled::Eof) | Err(_) => true,
        }
    }

    // ---- writing ----

    /// `send`: plaintext in the deferred window, encrypted afterwards. A blocking socket sends it all.
    pub fn send(&self, data: &[u8], c_flags: c_int) -> Result<usize> {
        let _call = self.enter()?;
        if c_flags & libc::MSG_OOB != 0 {
            return Err(Error::new(
                WsaCode::EOPNOTSUPP,
                "send: MSG_OOB is not possible on a secure socket",
            ));
        }
        let dont_wait = c_flags & libc::MSG_DONTWAIT != 0;
        self.maybe_kernel();
        loop {
            let mut out = self.outbound.lock();
            let session = self.state.lock();
            if session.write_shut {
                return Err(Error::new(
                    WsaCode::ESHUTDOWN,
                    "send: the socket was shut down for sending (by shutdown, or after the server's close_notify)",
                ));
            }
            match &session.phase {
                Phase::Setup => {
                    return Err(Error::new(
                        WsaCode::ENOTCONN,
                        "send: the socket is not connected",
                    ))
                }
                Phase::Connecting | Phase::Handshake(_) | Phase::Handshaking(_) => {
                    drop(session);
                    drop(out);
                    self.progress(dont_wait)?;
                    continue;
                }
                Phase::Plaintext => {
                    drop(session);
                    // The outbound lock is held: a handshake cannot start until this plaintext is in
                    // the kernel.
                    let sent = self.send_plain(data, c_flags, dont_wait);
                    drop(out);
                    return sent;
                }
                Phase::Failed(e) => return Err(e.clone()),
                Phase::Established(_) => {
                    drop(session);
                    return self.send_tls(&mut out, data, dont_wait);
                }
                Phase::Kernel(_) => {
                    drop(session);
                    // The outbound lock is held: writers take turns, as on the rustls path.
                    return self.kernel_send(data, dont_wait);
                }
            }
        }
    }

    /// `send` in the deferred window: the bytes as they are, with the kernel's blocking behaviour (all
    /// of them on a blocking socket, bounded by SO_SNDTIMEO), each system call non-blocking under the
    /// I/O gate and the waits between them outside it.
    fn send_plain(&self, data: &[u8], c_flags: c_int, dont_wait: bool) -> Result<usize> {
        let flags = c_flags | libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT;
        let mut sent = 0;
        let mut deadline = None;
        loop {
            match self.io(|fd| fd::send_flags(fd, &data[sent..], flags)) {
                Ok(n) => {
                    sent += n;
                    if sent == data.len() {
                        return Ok(sent);
                    }
                }
                Err(libc::EAGAIN) => {}
                Err(_) if sent > 0 => return Ok(sent),
                Err(e) => return Err(Error::os(e, "send")),
            }
            if !self.may_block(dont_wait) {
                return match sent {
                    0 => Err(Error::new(
                        WsaCode::EWOULDBLOCK,
                        "send: the socket's send buffer is full",
                    )),
                    n => Ok(n),
                };
            }
            let until = *deadline.get_or_insert_with(|| fd::deadline(self.fd(), libc::SO_SNDTIMEO));
            match self.wait(libc::POLLOUT, until, "send") {
                Ok(()) => {}
                Err(e) if sent > 0 && e.code() == WsaCode::ETIMEDOUT => return Ok(sent),
                Err(e) => return Err(e),
            }
        }
    }

    fn send_tls(&self, out: &mut Outbound, data: &[u8], dont_wait: bool) -> Result<usize> {
        let mut accepted = 0;
        loop {
            if !out.is_empty() {
                match self.flush(out, dont_wait) {
                    Ok(()) => {}
                    Err(e) if e.is_would_block() && accepted > 0 => return Ok(accepted),
                    Err(e) => return Err(e),
                }
            }
            let mut session = self.state.lock();
            let Phase::Established(conn) = &mut session.phase else {
                return match &session.phase {
                    Phase::Failed(e) => Err(e.clone()),
                    _ => Err(Error::new(
                        WsaCode::ENOTCONN,
                        "send: the TLS session is gone",
                    )),
                };
            };
            if accepted < data.len() {
                let end = data.len().min(accepted + SEND_CHUNK);
                accepted += std::io::Write::write(&mut conn.writer(), &data[accepted..end])
                    .map_err(|e| Error::new(WsaCode::ECONNABORTED, format!("send: {e}")))?;
            }
            if !conn.wants_write() && accepted == data.len() {
                return Ok(accepted);
            }
            while conn.wants_write() {
                conn.write_tls(&mut out.buf)
                    .map_err(|e| Error::new(WsaCode::ECONNABORTED, format!("send: {e}")))?;
            }
        }
    }

    /// Send the pending ciphertext, waiting for room unless the call must not block.
    fn flush(&self, out: &mut Outbound, dont_wait: bool) -> Result<()> {
        let mut deadline = None;
        loop {
            match self.flush_now(out) {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(e) => return Err(e),
            }
            if !self.may_block(dont_wait) {
                return Err(Error::new(
                    WsaCode::EWOULDBLOCK,
                    "send: the socket's send buffer is full",
                ));
            }
            if deadline.is_none() {
                deadline = Some(fd::deadline(self.fd(), libc::SO_SNDTIMEO));
            }
            self.wait(libc::POLLOUT, deadline.flatten(), "send")?;
        }
    }

    /// Send what the kernel takes now; true when nothing is left.
    fn flush_now(&self, out: &mut Outbound) -> Result<bool> {
        self.io(|fd| out.send_now(fd)).map_err(|e| {
            // Part of a record may be gone: the stream cannot be continued.
            let error = Error::os(e, "send");
            self.fail(error.clone());
            error
        })
    }

    // ---- ending ----

    /// `shutdown`: close_notify first when sending stops.
    pub fn shutdown(&self, how: c_int) -> Result<()> {
        let _call = self.enter()?;
        if how == libc::SHUT_WR || how == libc::SHUT_RDWR {
            // A writer waiting for room (a peer that does not read) holds `outbound`: then no
            // close_notify of ours (it cannot be put between that writer's records), but the kernel
            // shutdown below wakes the writer, as libc's shutdown would.
            let Some(mut out) = self.outbound.try_lock() else {
                self.state.lock().write_shut = true;
                log!(
                    Level::Debug,
                    "fd {}: shutdown({how}) while a send waits: no close_notify, TCP shut down",
                    self.fd()
                );
                return self.shutdown_kernel(how);
            };
            let mut session = self.state.lock();
            if !session.write_shut {
                session.write_shut = true;
                let kernel = matches!(session.phase, Phase::Kernel(_));
                queue_close_notify(&mut session, &mut out);
                drop(session);
                log!(
                    Level::Debug,
                    "fd {}: shutdown({how}): close_notify sent, no more writing",
                    self.fd()
                );
                if kernel {
                    self.kernel_close_notify(true);
                } else {
                    let _ = self.flush(&mut out, false);
                }
            }
        }
        self.shutdown_kernel(how)
    }

    /// The end of `shutdown`: reading stops (SHUT_RD), then the kernel socket is shut down.
    fn shutdown_kernel(&self, how: c_int) -> Result<()> {
        if how == libc::SHUT_RD || how == libc::SHUT_RDWR {
            self.state.lock().read_shut = true;
        }
        let tls_up = matches!(
            self.state.lock().phase,
            Phase::Established(_) | Phase::Kernel(_)
        );
        match self.io(|fd| fd::shutdown(fd, how)) {
            Ok(()) => Ok(()),
            // The server had already closed and our close_notify met its reset: the connection is
            // shut down, which is what the program asked for (a plain socket in that state answers 0).
            Err(libc::ENOTCONN | libc::EPIPE | libc::ECONNRESET) if tls_up => Ok(()),
            Err(e) => Err(Error::os(e, "shutdown")),
        }
    }

    /// `close`/`closesocket` of the socket's last descriptor: the socket is marked closed (every call
    /// fails from here on), close_notify goes if it can without waiting, the kernel socket is shut down
    /// (so that nothing passes on any path, interposed or not, even while the number is still open) and
    /// every waiting call is woken. Then the descriptor is closed: now (Ok(true)), or by the last call
    /// in progress when it leaves (Ok(false)), so that no call ever touches a reused number.
    pub fn close(&self) -> Result<bool> {
        self.shut();
        if self.in_flight.load(Ordering::SeqCst) == 0 {
            self.release_descriptor().map(|()| true)
        } else {
            Ok(false)
        }
    }

    /// `dup2`/`dup3` is about to replace the socket's last descriptor: as `close`, except that the
    /// kernel closes the number (in the `dup2`), not sslsock; `replaced` says whether it did.
    pub fn shut_for_replace(&self) {
        self.released.store(true, Ordering::SeqCst);
        self.shut();
        self.seal();
    }

    /// After `shut_for_replace`: whether the kernel replaced the descriptor. If it did not (the `dup2`
    /// failed), the descriptor is still the socket's, closed, and a later `close` closes it.
    pub fn replaced(&self, done: bool) {
        if done {
            self.descriptor_closed.store(true, Ordering::SeqCst);
        } else {
            *self.io_gate.write() = false;
            self.released.store(false, Ordering::SeqCst);
        }
    }

    /// Mark the socket closed, send close_notify if it can go now, shut the kernel socket down and
    /// wake every waiting call. Idempotent.
    fn shut(&self) {
        if !self.closed.swap(true, Ordering::SeqCst) {
            log!(
                Level::Debug,
                "fd {}: closed (close_notify if the session was up and nothing else was sending)",
                self.fd()
            );
            if let Some(mut out) = self.outbound.try_lock() {
                if let Some(mut session) = self.state.try_lock() {
                    if !session.write_shut {
                        if matches!(session.phase, Phase::Kernel(_)) {
                            let _ = self.io(super::ktls::send_close_notify);
                        } else {
                            queue_close_notify(&mut session, &mut out);
                        }
                    }
                }
                let _ = self.io(|fd| out.send_now(fd));
            }
        }
        // Even with no call in progress: another process (a fork child, an exec'd program) or a path
        // sslsock does not interpose may hold the same kernel socket.
        let _ = self.io(|fd| fd::shutdown(fd, libc::SHUT_RDWR));
        self.handshake_done.notify_all();
    }
}

/// The session fails with `error`, and the kernel socket is shut down before the failing call
/// returns: no path, interposed or not (a raw system call, `dprintf`, an exec'd child), can put a byte
/// on the wire after a failure (docs/security.md, "Failures"). Send any last record (an alert) before
/// calling this. Data already decrypted (it came before whatever failed the session) is kept for
/// `recv`, which gives it before the error.
pub(super) fn fail_session(session: &mut Session, error: Error, sock: &SecureSocket) {
    if let Phase::Established(conn) = &mut session.phase {
        // The reader ends in WouldBlock (or UnexpectedEof) once empty; what it gave is kept.
        let _ = std::io::Read::read_to_end(&mut conn.reader(), &mut session.undelivered);
    }
    session.phase = Phase::Failed(error);
    let _ = sock.io(|fd| fd::shutdown(fd, libc::SHUT_RDWR));
}

/// Queue our close_notify (rustls' userspace records) behind what `out` already holds.
fn queue_close_notify(session: &mut Session, out: &mut Outbound) {
    if let Phase::Established(conn) = &mut session.phase {
        conn.send_close_notify();
        while conn.wants_write() {
            if conn.write_tls(&mut out.buf).is_err() {
                break;
            }
        }
    }
}

/// The records rustls has queued (its last words on a failing connection: an alert, close_notify),
/// taken out to be sent with no lock held.
pub(super) fn queued_tls(conn: &mut ClientConnection) -> Vec<u8> {
    let mut bytes = Vec::new();
    while conn.wants_write() && conn.write_tls(&mut bytes).is_ok() {}
    bytes
}

pub(super) fn tls_words(e: &rustls::Error) -> String {
    match e {
        rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired) => {
            "the server requires a client certificate (give one with sslsock_set_client_certificate or \
             SSLSOCK_CLIENT_CERT / SSLSOCK_CLIENT_KEY)"
                .into()
        }
        rustls::Error::AlertReceived(alert) => format!("the server sent the alert {alert:?}"),
        rustls::Error::PeerIncompatible(why) => format!("the server is incompatible: {why:?}"),
        other => other.to_string(),
    }
}
