//! One secure socket: its locks, its lifecycle (descriptors, calls in progress, closing) and the
//! close protocol. What it does is in `connect` (TCP and the handshake), `transfer` (send, recv,
//! readiness, shutdown) and `setup` (the settings before connect).
//!
//! Locks, and the order they are taken in (never the other way):
//! - `writers`, then `state`. `writers` makes writers take turns, so that one `send`'s records are
//!   never interleaved with another's; it is held across a writer's waits for room.
//! - `state` guards the session: its phase (with the record layer), settings and buffers. It is held
//!   for non-blocking work only (rustls, and non-blocking system calls), never while a thread waits in
//!   the kernel, and never while the program's certificate hook runs (the handshake's connection is
//!   then owned by the driving thread, and the phase says `Handshaking`).
//! - The I/O gate (`Wire`), shared, around each system call on the socket's descriptor.
//!
//! `close` may come from another thread at any time: it marks the socket closed and shuts the TCP
//! connection down, which wakes every waiting call (they fail with WSAEINTR). The descriptor itself is
//! closed by whoever leaves last, so a blocked call never touches a reused descriptor number.

use std::ffi::c_int;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::state::{Phase, Session};
use super::wire::Wire;
use crate::error::{Error, Result, WsaCode};
use crate::log::log;
use crate::settings::Level;
use crate::sys::fd;

/// How long a wait watches its number before checking that the number is still the socket's (`wait`).
const FIRST_WAIT_SLICE: Duration = Duration::from_millis(500);

/// The state of one secure descriptor.
pub struct SecureSocket {
    /// The descriptor the session's I/O uses (one of `descriptors`), behind the I/O gate.
    pub(super) wire: Wire,
    /// Every descriptor number that refers to this socket (`dup` shares the session).
    descriptors: Mutex<Vec<c_int>>,
    /// The fork generation the socket belongs to (see `fork`).
    generation: u64,
    /// The kernel object behind the descriptor (device, inode), to tell a number reused behind
    /// sslsock's back (`is_stale`).
    identity: Option<fd::Identity>,
    pub(super) state: Mutex<Session>,
    pub(super) handshake_done: Condvar,
    pub(super) writers: Mutex<()>,
    pub(super) closed: AtomicBool,
    in_flight: AtomicUsize,
    released: AtomicBool,
    /// Set once `release_descriptor` has closed the last descriptor in the kernel.
    descriptor_closed: AtomicBool,
}

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

impl SecureSocket {
    /// Secure state for a descriptor that just got `SO_SECURE`, in fork generation `generation` (the
    /// table's: see `table::generation`).
    pub fn new(fd: c_int, generation: u64) -> Arc<SecureSocket> {
        Self::with_identity(fd, generation, fd::identity(fd).ok())
    }

    /// As [`SecureSocket::new`], with the identity of the kernel object already read
    /// (`fd::socket_identity`), so that `SO_SECURE` makes one `fstat`, not two.
    pub fn with_identity(
        fd: c_int,
        generation: u64,
        identity: Option<fd::Identity>,
    ) -> Arc<SecureSocket> {
        Arc::new(SecureSocket {
            wire: Wire::new(fd),
            descriptors: Mutex::new(vec![fd]),
            generation,
            identity,
            state: Mutex::new(Session::new()),
            handshake_done: Condvar::new(),
            writers: Mutex::new(()),
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
        self.wire.fd()
    }

    /// The kernel object behind the socket's descriptors (device, inode), when it could be read.
    pub fn identity(&self) -> Option<fd::Identity> {
        self.identity
    }

    /// The fork generation the socket was made in (`table::is_inherited` compares it).
    pub fn generation(&self) -> u64 {
        self.generation
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
                    self.wire.move_to(other);
                }
                true
            }
            None => false,
        }
    }

    /// Register a call in progress (fails if the socket is already closed).
    pub fn enter(&self) -> Result<InFlight<'_>> {
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
        // Bytes the program never read (a TLS 1.3 server's session tickets, which it never sees) would
        // make the kernel answer the close with a reset and drop everything it has not sent yet: they
        // are read and dropped first, so that what `send` accepted still reaches the peer. Not once
        // the peer's end of the stream was read (nothing can come after it): the usual orderly close
        // then costs no read.
        let at_end = self.state.try_lock().is_some_and(|s| s.inbound.eof);
        if !at_end {
            let _ = self.wire.call(fd::discard_pending);
        }
        let closed = fd::close(self.fd()).map_err(|e| Error::os(e, "close"));
        self.descriptor_closed.store(true, Ordering::SeqCst);
        closed
    }

    /// Whether the socket's last descriptor has been closed in the kernel (after `close` waited for the
    /// calls in progress): its number is libc's again.
    pub fn is_descriptor_closed(&self) -> bool {
        self.descriptor_closed.load(Ordering::SeqCst)
    }

    /// Whether descriptor `fd`, which had this socket, is now something else: closed behind sslsock's
    /// back (`fclose` of an `fdopen` stream, `closefrom`, a raw system call) and its number reused.
    /// Asked after a call failed, by `close` and by `dup2` onto the number (one `fstat`: closing a
    /// reused number must not shut down the socket that now has it), so `send` and `recv` pay nothing.
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
            if self.wire.is_sealed() {
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

    /// The deadline of a blocking call from the socket's SO_RCVTIMEO or SO_SNDTIMEO.
    pub(super) fn deadline(&self, option: c_int) -> Option<Instant> {
        fd::deadline(self.fd(), option)
    }

    // ---- closing ----

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
        self.wire.seal();
    }

    /// After `shut_for_replace`: whether the kernel replaced the descriptor. If it did not (the `dup2`
    /// failed), the descriptor is still the socket's, closed, and a later `close` closes it.
    pub fn replaced(&self, done: bool) {
        if done {
            self.descriptor_closed.store(true, Ordering::SeqCst);
        } else {
            self.wire.unseal();
            self.released.store(false, Ordering::SeqCst);
        }
    }

    /// Mark the socket closed, send close_notify if it can go now, shut the kernel socket down and
    /// wake every waiting call. Idempotent.
    fn shut(&self) {
        if !self.closed.swap(true, Ordering::SeqCst) {
            log!(
                Level::Debug,
                "fd {}: closed (close_notify if the session was up and the socket was free)",
                self.fd()
            );
            if let Some(mut session) = self.state.try_lock() {
                let session = &mut *session;
                if !session.write_shut {
                    session.write_shut = true;
                    // Behind what waits in the send buffer, which goes first as far as the kernel takes it.
                    if let Phase::Records(records) = &mut session.phase {
                        records.close_notify(
                            &mut session.inbound,
                            &mut session.outbound,
                            &self.wire,
                        );
                    }
                } else if !session.outbound.is_empty() {
                    // Records (our close_notify last) a `shutdown(SD_SEND)` left waiting for room.
                    let _ = session.outbound.send_now(&self.wire);
                }
            }
        }
        // Even with no call in progress: another process (a fork child, an exec'd program) or a path
        // sslsock does not interpose may hold the same kernel socket.
        let _ = self.wire.shutdown(libc::SHUT_RDWR);
        self.handshake_done.notify_all();
    }
}

/// The session fails with `error`, and the kernel socket is shut down before the failing call
/// returns: no path, interposed or not (a raw system call, `dprintf`, an exec'd child), can put a byte
/// on the wire after a failure (docs/security.md, "Failures"). Any last record (an alert) is sent
/// first. Data already decrypted (it came before whatever failed the session) stays held for `recv`,
/// which gives it before the error.
pub(super) fn fail_session(session: &mut Session, error: Error, sock: &SecureSocket) {
    log!(Level::Error, "fd {}: {}", sock.fd(), error.reason());
    if !session.outbound.is_empty() {
        let _ = session.outbound.send_now(&sock.wire);
    }
    session.phase = Phase::Failed(error);
    session.outbound = Default::default();
    let _ = sock.wire.shutdown(libc::SHUT_RDWR);
}
