//! Reading and writing a secure socket: plaintext in the deferred window, records afterwards (through
//! the record layer, `records`), with the kernel's blocking behaviour: waits outside every lock,
//! bounded by SO_RCVTIMEO / SO_SNDTIMEO. Also readiness for `select`/`poll`, `FIONREAD`, `shutdown`,
//! and the switch to kernel TLS.

use std::time::Instant;

use super::records::kernel;
use super::records::outcome::Got;
use super::records::Switched;
use super::socket::{fail_session, SecureSocket};
use super::state::{Phase, Session};
use crate::error::{Error, Result, WsaCode};
use crate::log::log;
use crate::settings::Level;
use crate::sys::fd;

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

/// `send` flags that matter on a secure socket.
#[derive(Clone, Copy, Debug, Default)]
pub struct SendFlags {
    /// MSG_DONTWAIT.
    pub dont_wait: bool,
    /// MSG_OOB.
    pub oob: bool,
    /// MSG_MORE (passed on in the deferred window; records are sent as they are made).
    pub more: bool,
}

/// Which directions `shutdown` ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shut {
    /// SD_RECEIVE / SHUT_RD.
    Read,
    /// SD_SEND / SHUT_WR.
    Write,
    /// SD_BOTH / SHUT_RDWR.
    Both,
}

impl Shut {
    fn writes(self) -> bool {
        self != Shut::Read
    }

    fn reads(self) -> bool {
        self != Shut::Write
    }

    fn how(self) -> libc::c_int {
        match self {
            Shut::Read => libc::SHUT_RD,
            Shut::Write => libc::SHUT_WR,
            Shut::Both => libc::SHUT_RDWR,
        }
    }
}

/// What one non-blocking attempt of `recv` found.
enum Once {
    Data(usize),
    End,
    /// The phase changed under us (connect settled, handshake finished): look again.
    Retry,
    /// Nothing yet; `true` when records came that made no data.
    Wait(bool),
}

impl SecureSocket {
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
        let mut deadline: Option<Option<Instant>> = None;
        loop {
            let dataless = match self.recv_once(&mut buf[filled..], flags) {
                Ok(Once::Data(n)) => {
                    filled += n;
                    if !flags.wait_all || flags.peek || filled == buf.len() || n == 0 {
                        return Ok(filled);
                    }
                    continue;
                }
                Ok(Once::End) => return Ok(filled),
                Ok(Once::Retry) => continue,
                Ok(Once::Wait(dataless)) => dataless,
                Err(_) if filled > 0 => return Ok(filled),
                Err(e) => return Err(e),
            };
            let blocking = self.may_block(flags.dont_wait);
            if !blocking {
                return match filled {
                    0 => Err(Error::new(
                        WsaCode::EWOULDBLOCK,
                        "recv: no data yet on a non-blocking socket",
                    )),
                    n => Ok(n),
                };
            }
            let until = *deadline.get_or_insert_with(|| self.deadline(libc::SO_RCVTIMEO));
            // Records that make no data (session tickets, key updates) may come without end, and
            // the kernel then never lets the wait below time out: the deadline holds for them too.
            if dataless && until.is_some_and(|d| Instant::now() >= d) {
                return match filled {
                    0 => Err(Error::new(
                        WsaCode::ETIMEDOUT,
                        "recv: timed out (SO_RCVTIMEO/SO_SNDTIMEO): the server sent only records \
                         without data",
                    )),
                    n => Ok(n),
                };
            }
            match self.wait(libc::POLLIN, until, "recv") {
                Ok(()) => {}
                Err(_) if filled > 0 => return Ok(filled),
                Err(e) => return Err(e),
            }
        }
    }

    /// One non-blocking attempt to hand data to the caller.
    fn recv_once(&self, buf: &mut [u8], flags: RecvFlags) -> Result<Once> {
        let mut session = self.state.lock();
        if session.read_shut {
            return Err(Error::new(
                WsaCode::ESHUTDOWN,
                "recv: the socket was shut down for reading",
            ));
        }
        let s = &mut *session;
        // Records an earlier non-blocking send left waiting go first.
        if !s.outbound.is_empty() && s.tls_up() {
            let _ = self.flush_out(s);
        }
        match &mut s.phase {
            // Data decrypted before the failure comes first.
            Phase::Failed(_) if !s.inbound.held.is_empty() && !buf.is_empty() => {
                Ok(Once::Data(s.inbound.held.give(buf, flags.peek)))
            }
            Phase::Failed(e) => Err(e.clone()),
            Phase::Setup => Err(Error::new(
                WsaCode::ENOTCONN,
                "recv: the socket is not connected",
            )),
            Phase::Connecting | Phase::Handshake(_) | Phase::Handshaking(_) => {
                drop(session);
                self.progress(flags.dont_wait)?;
                Ok(Once::Retry)
            }
            Phase::Plaintext => {
                // The deferred window: the kernel's bytes as they are. Under the state lock, so a
                // handshake starting on another thread cannot lose its first bytes to this call.
                let mut c_flags = libc::MSG_DONTWAIT;
                if flags.peek {
                    c_flags |= libc::MSG_PEEK;
                }
                match self.wire.call(|fd| fd::recv_flags(fd, buf, c_flags)) {
                    Ok(0) if !buf.is_empty() => Ok(Once::End),
                    Ok(n) => Ok(Once::Data(n)),
                    Err(libc::EAGAIN | libc::EINTR) => Ok(Once::Wait(false)),
                    Err(e) => Err(Error::os(e, "recv")),
                }
            }
            Phase::Records(records) => {
                let got =
                    records.recv(&mut s.inbound, &mut s.outbound, &self.wire, buf, flags.peek);
                s.inbound.release_if_empty();
                match got {
                    Ok(Got::Data(n)) => Ok(Once::Data(n)),
                    Ok(Got::End(true)) => {
                        self.answer_close_notify(s);
                        Ok(Once::End)
                    }
                    Ok(Got::End(false)) => Ok(Once::End),
                    Ok(Got::Nothing(dataless)) => Ok(Once::Wait(dataless)),
                    Err(failed) => {
                        fail_session(s, failed.error.clone(), self);
                        match failed.data {
                            0 => Err(failed.error),
                            // The data that came before the fatal record first; the error next time.
                            n => Ok(Once::Data(n)),
                        }
                    }
                }
            }
        }
    }

    /// The server's close_notify is answered with ours, and the kernel socket is shut down for sending
    /// (RFC 5246 §7.2.1; TLS 1.3's half-close was never CE's): from here on `send` fails with
    /// WSAESHUTDOWN, and no path, interposed or not, can put a byte on the wire.
    fn answer_close_notify(&self, s: &mut Session) {
        if !s.write_shut {
            s.write_shut = true;
            if let Phase::Records(records) = &mut s.phase {
                records.close_notify(&mut s.inbound, &mut s.outbound, &self.wire);
            }
        }
        let _ = self.wire.shutdown(libc::SHUT_WR);
    }

    /// Decrypted bytes ready now (`FIONREAD`), after taking in what the kernel holds.
    pub fn readable_bytes(&self) -> Result<usize> {
        let _call = self.enter()?;
        let mut session = self.state.lock();
        let s = &mut *session;
        match &mut s.phase {
            Phase::Plaintext => self
                .wire
                .call(fd::bytes_to_read)
                .map_err(|e| Error::os(e, "ioctlsocket(FIONREAD)")),
            Phase::Records(records) => {
                if let Err(failed) = records.pull(&mut s.inbound, &mut s.outbound, &self.wire) {
                    fail_session(s, failed.error, self);
                    return Ok(s.inbound.held.bytes().len());
                }
                Ok(records.readable_bytes(&s.inbound, &self.wire))
            }
            Phase::Failed(_) => Ok(s.inbound.held.bytes().len()),
            _ => Ok(0),
        }
    }

    /// For `select`: whether a read would return at once without the kernel's help (data already
    /// decrypted, the end reached, or a failure to report).
    pub fn readable_now(&self) -> bool {
        let mut session = self.state.lock();
        let s = &mut *session;
        match &mut s.phase {
            Phase::Failed(_) => true,
            Phase::Records(records) => {
                match records.ready_now(&mut s.inbound, &mut s.outbound, &self.wire) {
                    Ok(ready) => ready || s.read_shut,
                    Err(failed) => {
                        fail_session(s, failed.error, self);
                        true
                    }
                }
            }
            _ => s.read_shut,
        }
    }

    /// For `select`, after the kernel said readable: whether that ciphertext makes data (or an end)
    /// now. A whole record is needed; part of one is not "readable".
    pub fn readable_after_input(&self) -> bool {
        let mut session = self.state.lock();
        let s = &mut *session;
        let Phase::Records(records) = &mut s.phase else {
            return true;
        };
        let ready = records.pull(&mut s.inbound, &mut s.outbound, &self.wire);
        s.inbound.release_if_empty();
        match ready {
            Ok(ready) => ready,
            Err(failed) => {
                fail_session(s, failed.error, self);
                true
            }
        }
    }

    /// Send what waits in the send buffer, never waiting; Ok(true) when nothing is left. Then a
    /// `shutdown(SD_SEND)` that was waiting for that reaches the kernel.
    pub(super) fn flush_out(&self, s: &mut Session) -> std::result::Result<bool, fd::Errno> {
        let done = s.outbound.send_now(&self.wire)?;
        let waiting = matches!(&s.phase, Phase::Records(r) if r.waiting_to_send(&s.outbound));
        if done && !waiting && s.kernel_shut_wr_pending {
            s.kernel_shut_wr_pending = false;
            let _ = self.wire.shutdown(libc::SHUT_WR);
        }
        Ok(done)
    }

    /// For `poll`/`select`: send what an earlier non-blocking `send` left waiting (records it took
    /// whole but the kernel had no room for). True while some still wait: the wait then watches POLLOUT
    /// too, so that a program that waits for the answer to a request never waits for its own request.
    pub fn flush_pending(&self) -> bool {
        let Some(mut session) = self.state.try_lock() else {
            return false;
        };
        let s = &mut *session;
        if (s.outbound.is_empty() && !s.kernel_shut_wr_pending) || !s.tls_up() {
            return false;
        }
        if let Phase::Records(records) = &mut s.phase {
            if records.waiting_to_send(&s.outbound) && s.outbound.is_empty() {
                // Kernel TLS: our close_notify waited for room.
                records.close_notify(&mut s.inbound, &mut s.outbound, &self.wire);
            }
        }
        match self.flush_out(s) {
            Ok(done) => !done,
            Err(e) => {
                fail_session(s, Error::os(e, "send"), self);
                false
            }
        }
    }

    // ---- writing ----

    /// `send`: plaintext in the deferred window, encrypted afterwards. A blocking socket sends it all.
    pub fn send(&self, data: &[u8], flags: SendFlags) -> Result<usize> {
        let _call = self.enter()?;
        if flags.oob {
            return Err(Error::new(
                WsaCode::EOPNOTSUPP,
                "send: MSG_OOB is not possible on a secure socket",
            ));
        }
        self.maybe_kernel();
        loop {
            let writers = self.writers.lock();
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
                    drop(writers);
                    self.progress(flags.dont_wait)?;
                }
                // Writers take turns (`writers` is held): a handshake cannot start until this
                // plaintext is in the kernel.
                Phase::Plaintext => {
                    drop(session);
                    return self.send_plain(data, flags);
                }
                Phase::Failed(e) => return Err(e.clone()),
                Phase::Records(_) => {
                    drop(session);
                    return self.send_records(data, flags.dont_wait);
                }
            }
        }
    }

    /// `send` in the deferred window: the bytes as they are, with the kernel's blocking behaviour (all
    /// of them on a blocking socket, bounded by SO_SNDTIMEO), each system call non-blocking under the
    /// I/O gate and the waits between them outside it.
    fn send_plain(&self, data: &[u8], flags: SendFlags) -> Result<usize> {
        let mut c_flags = libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT;
        if flags.more {
            c_flags |= libc::MSG_MORE;
        }
        let mut sent = 0;
        let mut deadline = None;
        loop {
            match self
                .wire
                .call(|fd| fd::send_flags(fd, &data[sent..], c_flags))
            {
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
            if !self.may_block(flags.dont_wait) {
                return match sent {
                    0 => Err(Error::new(
                        WsaCode::EWOULDBLOCK,
                        "send: the socket's send buffer is full",
                    )),
                    n => Ok(n),
                };
            }
            let until = *deadline.get_or_insert_with(|| self.deadline(libc::SO_SNDTIMEO));
            match self.wait(libc::POLLOUT, until, "send") {
                Ok(()) => {}
                Err(e) if sent > 0 && e.code() == WsaCode::ETIMEDOUT => return Ok(sent),
                Err(e) => return Err(e),
            }
        }
    }

    /// `send` once TLS is up, holding `writers`: the record layer takes the data; a blocking socket
    /// waits for room until all of it is in the kernel.
    fn send_records(&self, data: &[u8], dont_wait: bool) -> Result<usize> {
        let mut taken = 0;
        let mut deadline = None;
        loop {
            {
                let mut session = self.state.lock();
                let s = &mut *session;
                if s.write_shut {
                    return match taken {
                        0 => Err(Error::new(
                            WsaCode::ESHUTDOWN,
                            "send: the socket was shut down for sending",
                        )),
                        n => Ok(n),
                    };
                }
                let records = match &mut s.phase {
                    Phase::Records(records) => records,
                    Phase::Failed(e) => return Err(e.clone()),
                    _ => {
                        return Err(Error::new(
                            WsaCode::ENOTCONN,
                            "send: the TLS session is gone",
                        ))
                    }
                };
                let flushed = match s.outbound.send_now(&self.wire) {
                    Ok(flushed) => flushed,
                    Err(e) => {
                        // Part of a record may be gone: the stream cannot be continued.
                        let error = Error::os(e, "send");
                        fail_session(s, error.clone(), self);
                        return Err(error);
                    }
                };
                if flushed && taken < data.len() {
                    match records.send(&mut s.inbound, &mut s.outbound, &self.wire, &data[taken..])
                    {
                        Ok(n) => taken += n,
                        Err(error) => {
                            fail_session(s, error.clone(), self);
                            return Err(error);
                        }
                    }
                }
                if taken == data.len() && s.outbound.is_empty() {
                    return Ok(taken);
                }
            }
            if !self.may_block(dont_wait) {
                return match taken {
                    0 => Err(Error::new(
                        WsaCode::EWOULDBLOCK,
                        "send: the socket's send buffer is full",
                    )),
                    n => Ok(n),
                };
            }
            // A blocking send that cannot finish fails (WSAETIMEDOUT at SO_SNDTIMEO), as Winsock's does.
            let until = *deadline.get_or_insert_with(|| self.deadline(libc::SO_SNDTIMEO));
            self.wait(libc::POLLOUT, until, "send")?;
        }
    }

    // ---- ending ----

    /// `shutdown`: close_notify first when sending stops; a blocking socket waits (bounded by
    /// SO_SNDTIMEO) for it to leave.
    pub fn shutdown(&self, how: Shut) -> Result<()> {
        let _call = self.enter()?;
        let mut writer_busy = false;
        if how.writes() {
            // A writer waiting for room (a peer that does not read) holds `writers`: then no
            // close_notify of ours behind its records, but the kernel shutdown below wakes the writer,
            // as libc's shutdown would.
            let writers = self.writers.try_lock();
            let mut session = self.state.lock();
            let s = &mut *session;
            if writers.is_none() {
                writer_busy = true;
                s.write_shut = true;
                log!(
                    Level::Debug,
                    "fd {}: shutdown({how:?}) while a send waits: no close_notify, TCP shut down",
                    self.fd()
                );
            } else if !s.write_shut {
                s.write_shut = true;
                let mut waiting = false;
                if let Phase::Records(records) = &mut s.phase {
                    records.close_notify(&mut s.inbound, &mut s.outbound, &self.wire);
                    waiting = records.waiting_to_send(&s.outbound);
                }
                drop(session);
                log!(
                    Level::Debug,
                    "fd {}: shutdown({how:?}): close_notify sent, no more writing",
                    self.fd()
                );
                if waiting && self.may_block(false) {
                    self.finish_sending();
                }
            }
        }
        let how = {
            let mut session = self.state.lock();
            if how.reads() {
                session.read_shut = true;
            }
            // Records sendable only later (a non-blocking socket, or SO_SNDTIMEO ran out): the
            // kernel's SHUT_WR waits for them, as TCP's own shutdown never drops queued data.
            let waiting =
                matches!(&session.phase, Phase::Records(r) if r.waiting_to_send(&session.outbound));
            // (Not under a writer that waits for room: the kernel shutdown is what wakes it.)
            if how.writes() && waiting && !writer_busy && !self.is_closed() {
                session.kernel_shut_wr_pending = true;
                if !how.reads() {
                    return Ok(());
                }
                Shut::Read
            } else {
                how
            }
        };
        let tls_up = self.state.lock().tls_up();
        match self.wire.shutdown(how.how()) {
            Ok(()) => Ok(()),
            // The server had already closed and our close_notify met its reset: the connection is
            // shut down, which is what the program asked for (a plain socket in that state answers 0).
            Err(libc::ENOTCONN | libc::EPIPE | libc::ECONNRESET) if tls_up => Ok(()),
            Err(e) => Err(Error::os(e, "shutdown")),
        }
    }

    /// Wait (bounded by SO_SNDTIMEO) until the records waiting, our close_notify last, are in the kernel.
    fn finish_sending(&self) {
        let until = self.deadline(libc::SO_SNDTIMEO);
        loop {
            if self.wait(libc::POLLOUT, until, "shutdown").is_err() {
                return;
            }
            let mut session = self.state.lock();
            let s = &mut *session;
            let Phase::Records(records) = &mut s.phase else {
                return;
            };
            if !s.outbound.is_empty() {
                if s.outbound.send_now(&self.wire).is_err() {
                    return;
                }
            } else if records.waiting_to_send(&s.outbound) {
                records.close_notify(&mut s.inbound, &mut s.outbound, &self.wire);
            }
            if !records.waiting_to_send(&s.outbound) {
                return;
            }
        }
    }

    // ---- kernel TLS ----

    /// Hand the connection's records to the kernel if kernel TLS is wanted, the socket is established and
    /// quiet, and the kernel takes it (`records::kernel`). Never waits for a lock (tried again at the
    /// next call when the socket is busy).
    pub(super) fn maybe_kernel(&self) {
        if !kernel::wanted() {
            return;
        }
        let Some(mut session) = self.state.try_lock() else {
            return;
        };
        let s = &mut *session;
        if !s.kernel_wanted {
            return;
        }
        match &s.phase {
            Phase::Records(_) if !s.read_shut && !s.write_shut => {}
            Phase::Handshake(_) | Phase::Handshaking(_) => return,
            _ => {
                s.kernel_wanted = false;
                return;
            }
        }
        let placeholder = Error::new(WsaCode::ECONNABORTED, "kernel TLS: switching");
        let Phase::Records(records) = std::mem::replace(&mut s.phase, Phase::Failed(placeholder))
        else {
            return;
        };
        match records.into_kernel(&s.inbound, &s.outbound, &self.wire) {
            Switched::Done(records) => {
                s.kernel_wanted = false;
                s.phase = Phase::Records(records);
                s.inbound.release_if_empty();
            }
            Switched::NotYet(records) => s.phase = Phase::Records(records),
            Switched::Never(records) => {
                s.kernel_wanted = false;
                s.phase = Phase::Records(records);
            }
            Switched::Failed(error) => {
                s.kernel_wanted = false;
                fail_session(s, error, self);
            }
        }
    }
}
