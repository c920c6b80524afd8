//! Readiness: POSIX `poll` and `select`, and the engine the Winsock `select` shares.
//!
//! The kernel cannot see what sslsock holds, so a secure socket's readiness is sslsock's:
//! - readable at once when decrypted data, the end of the stream or a failure is waiting inside sslsock;
//! - not readable merely because ciphertext arrived that does not complete a record (the engine takes
//!   it in and keeps waiting);
//! - while a non-blocking handshake is parked, the kernel is asked for what TLS needs (POLLIN or
//!   POLLOUT), and when that comes the events the program asked for are reported, so that its next
//!   `send`/`recv`/`SO_SSL_PERFORM_HANDSHAKE` moves the handshake on;
//! - a socket closed by another thread during the wait ends it (POSIX: POLLNVAL; Winsock: WSAEINTR).
//!
//! `epoll` has its own engine (`ffi::epoll`), with the same readiness rules.
//!
//! Sets with no secure descriptor go straight to libc; so does every call while no secure socket has
//! been made in the process (not even the sets are looked at then).

use std::ffi::c_int;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{guard, plain, SOCKET_ERROR};
use crate::error::{Error, Result, WsaCode};
use crate::secure::SecureSocket;
use crate::sys::real;
use crate::table;

const READ_EVENTS: i16 = libc::POLLIN | libc::POLLRDNORM;
const WRITE_EVENTS: i16 = libc::POLLOUT | libc::POLLWRNORM;
const TROUBLE: i16 = libc::POLLERR | libc::POLLHUP;

/// What to do when a secure socket is closed by another thread during the wait.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum OnClosed {
    /// Report POLLNVAL for it (POSIX `poll`/`select`).
    Invalid,
    /// Fail the whole call with WSAEINTR (Winsock `select`).
    Interrupt,
}

/// The time left until `deadline`, in poll's milliseconds (rounded up; -1 for none).
fn millis_until(deadline: Option<Instant>) -> c_int {
    match deadline {
        None => -1,
        Some(d) => d
            .saturating_duration_since(Instant::now())
            .as_micros()
            .div_ceil(1000)
            .min(c_int::MAX as u128) as c_int,
    }
}

/// A `select` timeout as the program's `struct timeval` holds it: libc's, or the 64-bit one of a
/// 32-bit `_TIME_BITS=64` program (`__select64`).
pub trait SelectTimeout: Copy {
    /// Seconds and microseconds.
    fn parts(&self) -> (i64, i64);
    /// Store the time left.
    fn store(&mut self, left: Duration);
}

impl SelectTimeout for libc::timeval {
    // time_t and suseconds_t are 64 bits on LP64 (the casts change nothing there), 32 on armv7.
    #[allow(clippy::unnecessary_cast)]
    fn parts(&self) -> (i64, i64) {
        (self.tv_sec as i64, self.tv_usec as i64)
    }
    fn store(&mut self, left: Duration) {
        self.tv_sec = left.as_secs() as libc::time_t;
        self.tv_usec = left.subsec_micros() as libc::suseconds_t;
    }
}

#[cfg(all(target_pointer_width = "32", target_env = "gnu"))]
impl SelectTimeout for crate::sys::time64::Timeval64 {
    fn parts(&self) -> (i64, i64) {
        (self.tv_sec, self.tv_usec)
    }
    fn store(&mut self, left: Duration) {
        self.tv_sec = left.as_secs().min(i64::MAX as u64) as i64;
        self.tv_usec = left.subsec_micros().into();
    }
}

/// The deadline a `select` timeout means (None: wait forever); a negative one is WSAEINVAL.
///
/// # Safety
/// `timeout` NULL or a valid timeval.
pub unsafe fn deadline_from<T: SelectTimeout>(timeout: *const T) -> Result<Option<Instant>> {
    if timeout.is_null() {
        return Ok(None);
    }
    // SAFETY: non-NULL timeval from the caller.
    let (secs, micros) = unsafe { *timeout }.parts();
    if secs < 0 || micros < 0 {
        return Err(Error::new(WsaCode::EINVAL, "select: negative timeout"));
    }
    let span =
        Duration::from_secs(secs as u64).saturating_add(Duration::from_micros(micros as u64));
    // A timeout too far away to be a point in time (a program's LONG_MAX "forever") waits forever.
    Ok(Instant::now().checked_add(span))
}

/// Wait on `fds` with secure sockets seen as sslsock sees them; fills `revents` and returns how many
/// entries have any. A signal (EINTR) ends the wait with WSAEINTR/EINTR under `OnClosed::Invalid`
/// (POSIX `poll` and `select` are never restarted on Linux, SA_RESTART or not); under
/// `OnClosed::Interrupt` (Winsock `select`, which signals do not end) the wait goes on until the same
/// deadline, i.e. with the time left.
pub fn wait(
    fds: &mut [libc::pollfd],
    deadline: Option<Instant>,
    on_closed: OnClosed,
) -> Result<usize> {
    // Sockets inherited across fork are the parent's: the kernel's view is all the child gets.
    let sockets: Vec<Option<Arc<SecureSocket>>> = fds
        .iter()
        .map(|p| table::socket(p.fd).filter(|s| !crate::table::is_inherited(s)))
        .collect();
    // While we wait, a close of one of these sockets wakes us instead of leaving us on a dead descriptor.
    let _watching: Vec<_> = sockets
        .iter()
        .flatten()
        .filter_map(|s| s.enter().ok())
        .collect();
    let requested: Vec<i16> = fds.iter().map(|p| p.events).collect();
    let mut kernel: Vec<libc::pollfd> = fds
        .iter()
        .map(|p| libc::pollfd {
            fd: p.fd,
            events: p.events,
            revents: 0,
        })
        .collect();
    loop {
        let mut early = vec![0i16; fds.len()];
        let mut handshake = vec![false; fds.len()];
        let mut flushing = vec![false; fds.len()];
        let mut any_early = false;
        for (i, sock) in sockets.iter().enumerate() {
            kernel[i].events = requested[i];
            kernel[i].revents = 0;
            let Some(sock) = sock else { continue };
            if sock.is_closed() {
                if on_closed == OnClosed::Interrupt {
                    return Err(Error::new(
                        WsaCode::EINTR,
                        "select: a socket in the sets was closed by another thread",
                    ));
                }
                early[i] = libc::POLLNVAL;
                any_early = true;
            } else if let Some(needed) = sock.handshake_interest() {
                kernel[i].events = needed;
                handshake[i] = true;
            } else {
                if sock.flush_pending() {
                    // Records a non-blocking send took wait for room: watched too, sent when it comes.
                    kernel[i].events |= libc::POLLOUT;
                    flushing[i] = true;
                }
                if requested[i] & READ_EVENTS != 0 && sock.readable_now() {
                    early[i] = requested[i] & READ_EVENTS;
                    any_early = true;
                }
            }
        }
        let timeout = if any_early { 0 } else { millis_until(deadline) };
        // SAFETY: `kernel` is a valid array of its length.
        let n = unsafe { real::poll(kernel.as_mut_ptr(), kernel.len() as libc::nfds_t, timeout) };
        if n < 0 {
            let e = Error::last_os("poll");
            if e.errno() == libc::EINTR && on_closed == OnClosed::Interrupt {
                // Winsock: a signal handler ran; wait again for what is left of the timeout (the
                // top of the loop looks at closed sockets and buffered data first).
                continue;
            }
            return Err(e);
        }
        // A close by another thread is what woke us, or happened meanwhile: it decides the outcome.
        for (i, sock) in sockets.iter().enumerate() {
            if sock.as_ref().is_some_and(|s| s.is_closed()) {
                if on_closed == OnClosed::Interrupt {
                    return Err(Error::new(
                        WsaCode::EINTR,
                        "select: a socket in the sets was closed by another thread",
                    ));
                }
                early[i] = libc::POLLNVAL;
            }
        }
        let mut ready = 0;
        for i in 0..fds.len() {
            let got = kernel[i].revents;
            let mut revents = got | early[i];
            if let Some(sock) = &sockets[i] {
                if early[i] & libc::POLLNVAL != 0 {
                    revents = libc::POLLNVAL;
                } else if handshake[i] {
                    revents = if got & (kernel[i].events | TROUBLE | libc::POLLNVAL) != 0 {
                        (requested[i] & (READ_EVENTS | WRITE_EVENTS))
                            | (got & (TROUBLE | libc::POLLNVAL))
                    } else {
                        0
                    };
                } else if early[i] == 0 && got & READ_EVENTS != 0 && !sock.readable_after_input() {
                    // Ciphertext that does not finish a record: taken in, not reported.
                    revents &= !READ_EVENTS;
                }
                if flushing[i] && requested[i] & libc::POLLOUT == 0 {
                    // Room for our own records (sent at the top of the next round), not the program's.
                    revents &= !libc::POLLOUT;
                }
            }
            fds[i].revents = revents;
            if revents != 0 {
                ready += 1;
            }
        }
        if ready > 0 || deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(ready);
        }
    }
}

/// Whether the kernel would take `nfds` entries: Linux's poll refuses more than the RLIMIT_NOFILE
/// soft limit (EINVAL) before reading any. Asked again on every call: the limit can change at any
/// time (setrlimit, prlimit from another process).
fn kernel_takes(nfds: libc::nfds_t) -> Result<()> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid rlimit to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(Error::last_os("poll: getrlimit(RLIMIT_NOFILE)"));
    }
    if nfds > limit.rlim_cur {
        return Err(Error::new(
            WsaCode::EINVAL,
            format!(
                "poll: nfds {nfds} is more than the RLIMIT_NOFILE limit of {}",
                limit.rlim_cur
            ),
        ));
    }
    Ok(())
}

/// Implements POSIX `poll`. While no secure socket has been made in the process, and whenever none is
/// among `fds`: libc's `poll` itself. Otherwise the secure sockets' readiness is sslsock's (see the
/// module's note). `fds` is read only as far as the kernel would: `nfds` above the RLIMIT_NOFILE soft
/// limit fails with EINVAL (WSAEINVAL) before any entry is looked at, as libc's does.
///
/// # Safety
/// As libc's `poll`: `fds` valid for `nfds` entries.
#[no_mangle]
pub unsafe extern "C" fn poll(fds: *mut libc::pollfd, nfds: libc::nfds_t, timeout: c_int) -> c_int {
    if !crate::fork::secure_sockets_made() {
        // SAFETY: the caller's arguments, passed through.
        return plain("poll", unsafe { real::poll(fds, nfds, timeout) });
    }
    guard("poll", SOCKET_ERROR, || {
        kernel_takes(nfds)?;
        let entries: &mut [libc::pollfd] = if fds.is_null() || nfds == 0 {
            &mut []
        } else {
            // SAFETY: the caller vouches for `nfds` entries at `fds`, and the kernel would read as
            // many (nfds is within RLIMIT_NOFILE).
            unsafe { std::slice::from_raw_parts_mut(fds, nfds as usize) }
        };
        if !entries.iter().any(|p| table::maybe_secure(p.fd)) {
            // SAFETY: the caller's arguments, passed through.
            return Ok(plain("poll", unsafe { real::poll(fds, nfds, timeout) }));
        }
        let deadline =
            (timeout >= 0).then(|| Instant::now() + Duration::from_millis(timeout as u64));
        wait(entries, deadline, OnClosed::Invalid).map(|n| n as c_int)
    })
}

/// Implements POSIX `select` (the `fd_set` bit arrays of `<sys/select.h>`). While no secure socket has
/// been made in the process, and with no secure descriptor in the sets: libc's `select` itself. Otherwise as `poll`; the sets come back holding the ready
/// descriptors and `timeout` the time left, as on Linux.
///
/// # Safety
/// As libc's `select`.
#[no_mangle]
pub unsafe extern "C" fn select(
    nfds: c_int,
    readfds: *mut libc::fd_set,
    writefds: *mut libc::fd_set,
    exceptfds: *mut libc::fd_set,
    timeout: *mut libc::timeval,
) -> c_int {
    // SAFETY: the caller's arguments, passed through to libc.
    unsafe {
        select_with(nfds, readfds, writefds, exceptfds, timeout, || {
            real::select(nfds, readfds, writefds, exceptfds, timeout)
        })
    }
}

/// `select` over the program's `timeout` type, with `libc_call` as libc's function (`select`, or
/// `__select64` for a 32-bit `_TIME_BITS=64` program).
///
/// # Safety
/// As libc's `select`; `libc_call` is libc's call with the same arguments.
pub unsafe fn select_with<T: SelectTimeout>(
    nfds: c_int,
    readfds: *mut libc::fd_set,
    writefds: *mut libc::fd_set,
    exceptfds: *mut libc::fd_set,
    timeout: *mut T,
    libc_call: impl FnOnce() -> c_int,
) -> c_int {
    if !crate::fork::secure_sockets_made() {
        return plain("select", libc_call());
    }
    let limit = nfds.clamp(0, libc::FD_SETSIZE as c_int);
    let sets = [readfds, writefds, exceptfds];
    // SAFETY: each non-NULL set is a valid fd_set (caller); FD_ISSET only reads it, below FD_SETSIZE.
    let is_set =
        |set: *mut libc::fd_set, fd: c_int| !set.is_null() && unsafe { libc::FD_ISSET(fd, set) };
    if !(0..limit).any(|fd| table::maybe_secure(fd) && sets.iter().any(|&s| is_set(s, fd))) {
        return plain("select", libc_call());
    }
    guard("select", SOCKET_ERROR, || {
        let mut fds = Vec::new();
        for fd in 0..limit {
            let mut events = 0;
            if is_set(readfds, fd) {
                events |= libc::POLLIN;
            }
            if is_set(writefds, fd) {
                events |= libc::POLLOUT;
            }
            if is_set(exceptfds, fd) {
                events |= libc::POLLPRI;
            }
            if events != 0 {
                fds.push(libc::pollfd {
                    fd,
                    events,
                    revents: 0,
                });
            }
        }
        // SAFETY: `timeout` is NULL or the caller's timeval.
        let deadline = unsafe { deadline_from(timeout.cast_const()) }?;
        wait(&mut fds, deadline, OnClosed::Invalid)?;
        if fds.iter().any(|p| p.revents & libc::POLLNVAL != 0) {
            return Err(Error::new(
                WsaCode::ENOTSOCK,
                "select: a descriptor in the sets is not open",
            )
            .with_errno(libc::EBADF));
        }
        let mut count = 0;
        for &set in &sets {
            if !set.is_null() {
                // SAFETY: a valid fd_set (caller).
                unsafe { libc::FD_ZERO(set) };
            }
        }
        for p in &fds {
            let marks = [
                (readfds, READ_EVENTS | TROUBLE),
                (writefds, WRITE_EVENTS | libc::POLLERR),
                (exceptfds, libc::POLLPRI),
            ];
            for (set, bits) in marks {
                if !set.is_null() && p.revents & bits != 0 && p.events & bits != 0 {
                    // SAFETY: a valid fd_set and fd < FD_SETSIZE.
                    unsafe { libc::FD_SET(p.fd, set) };
                    count += 1;
                }
            }
        }
        if let (false, Some(d)) = (timeout.is_null(), deadline) {
            let left = d.saturating_duration_since(Instant::now());
            // SAFETY: non-NULL timeval from the caller.
            unsafe { (*timeout).store(left) };
        }
        Ok(count)
    })
}

/// Implements glibc `__poll_chk` (fortified `poll`): libc's own when `fdslen` is too small for
/// `nfds` entries (it reports the overflow), else `poll` (so `nfds` above RLIMIT_NOFILE is EINVAL
/// before any entry is read).
///
/// # Safety
/// As libc's `__poll_chk`.
#[no_mangle]
pub unsafe extern "C" fn __poll_chk(
    fds: *mut libc::pollfd,
    nfds: libc::nfds_t,
    timeout: c_int,
    fdslen: usize,
) -> c_int {
    if (nfds as usize).saturating_mul(std::mem::size_of::<libc::pollfd>()) > fdslen {
        // SAFETY: the caller's arguments: libc's own check reports the overflow.
        return unsafe { real::__poll_chk(fds, nfds, timeout, fdslen) };
    }
    // SAFETY: as `poll`.
    unsafe { poll(fds, nfds, timeout) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A select timeout of LONG_MAX seconds (a program's "forever") waits; it used to overflow
    /// `Instant` (a panic caught by `guard`: SOCKET_ERROR with WSAENETDOWN). Found by review while
    /// fuzzing (fuzz/).
    #[test]
    fn select_with_a_huge_timeout() {
        let forever = libc::timeval {
            tv_sec: libc::time_t::MAX,
            tv_usec: 999_999,
        };
        // SAFETY: a valid timeval.
        let deadline = unsafe { deadline_from(&forever) }.unwrap();
        // With a 64-bit time_t it is past what an Instant holds (None: forever); a 32-bit time_t's
        // MAX (armv7: 2^31 - 1 s, 68 years) is a point in time that far away.
        let floor = Instant::now() + Duration::from_secs((1 << 31) - 2);
        assert!(deadline.is_none_or(|d| d >= floor), "{deadline:?}");
        let s = crate::ffi::lifecycle::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        assert!(s >= 0);
        // An unconnected TCP socket is ready for writing at once (POLLOUT | POLLHUP).
        let mut w = crate::ffi::select::WinFdSet {
            fd_count: 1,
            fd_array: [s],
        };
        // SAFETY: one Windows fd_set holding its one entry, and a timeval.
        let rc = unsafe {
            crate::ffi::select::sslsock_select(
                0,
                std::ptr::null_mut(),
                &mut w,
                std::ptr::null_mut(),
                &forever,
            )
        };
        assert_eq!(rc, 1, "WSA error {}", crate::error::last_code());
        assert_eq!(crate::ffi::lifecycle::closesocket(s), 0);
    }
}
