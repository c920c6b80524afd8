//! Readiness: POSIX `poll`, `select`, `ppoll` and `pselect`, and the engine the Winsock `select` shares.
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
//! `ppoll` and `pselect` go through the same engine, their signal mask installed by the kernel for
//! each of its waits (`wait_masked`). `epoll` has its own engine (`ffi::epoll`), with the same
//! readiness rules. A non-blocking `recv` after any report answers WSAEWOULDBLOCK rather than block.
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

pub(super) const READ_EVENTS: i16 = libc::POLLIN | libc::POLLRDNORM;
pub(super) const WRITE_EVENTS: i16 = libc::POLLOUT | libc::POLLWRNORM;
pub(super) const TROUBLE: i16 = libc::POLLERR | libc::POLLHUP;

/// What to do when a secure socket is closed by another thread during the wait.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum OnClosed {
    /// Report POLLNVAL for it (POSIX `poll`/`select`).
    Invalid,
    /// Fail the whole call with WSAEINTR (Winsock `select`).
    Interrupt,
}

/// The time left until `deadline`, in poll's milliseconds (rounded up; -1 for none).
pub(super) fn millis_until(deadline: Option<Instant>) -> c_int {
    match deadline {
        None => -1,
        Some(d) => d
            .saturating_duration_since(Instant::now())
            .as_micros()
            .div_ceil(1000)
            .min(c_int::MAX as u128) as c_int,
    }
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
    wait_masked(fds, deadline, on_closed, None)
}

/// [`wait`] with a signal mask for every kernel wait (`ppoll`, `pselect`): the kernel installs it
/// and waits in one step, as the program's own `ppoll` would, so a signal it unblocks ends the wait
/// (EINTR) and is never lost between two rounds of the engine (it stays pending, blocked by the
/// program's own mask, until the next kernel wait installs `mask` again).
pub fn wait_masked(
    fds: &mut [libc::pollfd],
    deadline: Option<Instant>,
    on_closed: OnClosed,
    mask: Option<&libc::sigset_t>,
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
        let n = match mask {
            None => {
                let timeout = if any_early { 0 } else { millis_until(deadline) };
                // SAFETY: `kernel` is a valid array of its length.
                unsafe { real::poll(kernel.as_mut_ptr(), kernel.len() as libc::nfds_t, timeout) }
            }
            Some(mask) => {
                let left = if any_early {
                    Some(Duration::ZERO)
                } else {
                    deadline.map(|d| d.saturating_duration_since(Instant::now()))
                };
                let ts = left.map(|left| libc::timespec {
                    tv_sec: left.as_secs().min(libc::time_t::MAX as u64) as libc::time_t,
                    tv_nsec: left.subsec_nanos() as _,
                });
                let ts_ptr = ts
                    .as_ref()
                    .map_or(std::ptr::null(), |t| t as *const libc::timespec);
                // SAFETY: `kernel` is a valid array of its length; `ts_ptr` NULL or a timespec on
                // the stack; `mask` a sigset_t the caller gave.
                unsafe {
                    real::ppoll(
                        kernel.as_mut_ptr(),
                        kernel.len() as libc::nfds_t,
                        ts_ptr,
                        mask,
                    )
                }
            }
        };
        let mut n = n;
        if n < 0 && any_early && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR)
        {
            // A signal the mask let in came while data waited inside sslsock: its handler ran, and
            // the data is reported (as the kernel does when a descriptor is ready).
            n = 0;
            kernel.iter_mut().for_each(|k| k.revents = 0);
        }
        if n < 0 {
            let e = Error::last_os(if mask.is_some() { "ppoll" } else { "poll" });
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

/// The program's `pollfd` array when one of its descriptors may be secure (None: libc's call
/// answers). `nfds` above the RLIMIT_NOFILE soft limit is EINVAL before any entry is read, as libc's.
///
/// # Safety
/// `fds` valid for `nfds` entries.
unsafe fn secure_entries<'a>(
    fds: *mut libc::pollfd,
    nfds: libc::nfds_t,
) -> Result<Option<&'a mut [libc::pollfd]>> {
    kernel_takes(nfds)?;
    let entries: &mut [libc::pollfd] = if fds.is_null() || nfds == 0 {
        &mut []
    } else {
        // SAFETY: the caller vouches for `nfds` entries at `fds`, and the kernel would read as many
        // (nfds is within RLIMIT_NOFILE).
        unsafe { std::slice::from_raw_parts_mut(fds, nfds as usize) }
    };
    Ok(entries
        .iter()
        .any(|p| table::maybe_secure(p.fd))
        .then_some(entries))
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
        // SAFETY: `fds` valid for `nfds` entries (the caller's promise to `poll`).
        let Some(entries) = (unsafe { secure_entries(fds, nfds) })? else {
            // SAFETY: the caller's arguments, passed through.
            return Ok(plain("poll", unsafe { real::poll(fds, nfds, timeout) }));
        };
        let deadline =
            (timeout >= 0).then(|| Instant::now() + Duration::from_millis(timeout as u64));
        wait(entries, deadline, OnClosed::Invalid).map(|n| n as c_int)
    })
}

/// A `ppoll`/`pselect` timeout as the program's `struct timespec` holds it: libc's, or the 64-bit
/// one of a 32-bit `_TIME_BITS=64` program (`__ppoll64`, `__pselect64`).
pub trait WaitTimespec: Copy {
    /// Seconds and nanoseconds.
    fn parts(&self) -> (i64, i64);
}

impl WaitTimespec for libc::timespec {
    // time_t and the nanoseconds' long are 64 bits on LP64 (the casts change nothing there).
    #[allow(clippy::unnecessary_cast)]
    fn parts(&self) -> (i64, i64) {
        (self.tv_sec as i64, self.tv_nsec as i64)
    }
}

#[cfg(all(target_pointer_width = "32", target_env = "gnu"))]
impl WaitTimespec for crate::sys::time64::Timespec64 {
    fn parts(&self) -> (i64, i64) {
        (self.tv_sec, self.tv_nsec.into())
    }
}

/// The deadline a `ppoll`/`pselect` timeout means (None: wait forever); a negative one, or
/// nanoseconds outside 0..=999 999 999, is EINVAL, as the kernel answers.
///
/// # Safety
/// `timeout` NULL or a valid timespec.
pub unsafe fn deadline_from_timespec<T: WaitTimespec>(
    timeout: *const T,
    call: &'static str,
) -> Result<Option<Instant>> {
    // SAFETY: NULL or a valid timespec (caller).
    let Some(t) = (unsafe { timeout.as_ref() }) else {
        return Ok(None);
    };
    let (secs, nanos) = t.parts();
    if secs < 0 || !(0..1_000_000_000).contains(&nanos) {
        return Err(
            Error::new(WsaCode::EINVAL, format!("{call}: invalid timeout"))
                .with_errno(libc::EINVAL),
        );
    }
    let span = Duration::from_secs(secs as u64).saturating_add(Duration::from_nanos(nanos as u64));
    Ok(Instant::now().checked_add(span))
}

/// `ppoll` over the program's `timeout` type, with `libc_call` as libc's function (`ppoll`, or
/// `__ppoll64` for a 32-bit `_TIME_BITS=64` program).
///
/// # Safety
/// As libc's `ppoll`; `libc_call` is libc's call with the same arguments.
pub unsafe fn ppoll_with<T: WaitTimespec>(
    fds: *mut libc::pollfd,
    nfds: libc::nfds_t,
    timeout: *const T,
    sigmask: *const libc::sigset_t,
    libc_call: impl Fn() -> c_int,
) -> c_int {
    if !crate::fork::secure_sockets_made() {
        return plain("ppoll", libc_call());
    }
    guard("ppoll", SOCKET_ERROR, || {
        // SAFETY: `fds` valid for `nfds` entries (the caller's promise to `ppoll`).
        let Some(entries) = (unsafe { secure_entries(fds, nfds) })? else {
            return Ok(plain("ppoll", libc_call()));
        };
        // SAFETY: NULL or the caller's timespec.
        let deadline = unsafe { deadline_from_timespec(timeout, "ppoll") }?;
        // SAFETY: NULL or the caller's sigset_t.
        let mask = unsafe { sigmask.as_ref() };
        wait_masked(entries, deadline, OnClosed::Invalid, mask).map(|n| n as c_int)
    })
}

/// Implements Linux `ppoll`: as `poll` (secure sockets seen as sslsock sees them), with a
/// nanosecond timeout (NULL: none) and the signal mask installed atomically for each kernel wait, as
/// libc's does; the timeout is not written back (glibc's wrapper does not either).
///
/// # Safety
/// As libc's `ppoll`.
#[no_mangle]
pub unsafe extern "C" fn ppoll(
    fds: *mut libc::pollfd,
    nfds: libc::nfds_t,
    timeout: *const libc::timespec,
    sigmask: *const libc::sigset_t,
) -> c_int {
    // SAFETY: the caller's arguments, passed through to libc where libc answers.
    unsafe {
        ppoll_with(fds, nfds, timeout, sigmask, || {
            real::ppoll(fds, nfds, timeout, sigmask)
        })
    }
}

/// Implements glibc `__ppoll_chk` (fortified `ppoll`): libc's own when `fdslen` is too small for
/// `nfds` entries (it reports the overflow), else `ppoll`.
///
/// # Safety
/// As libc's `__ppoll_chk`.
#[no_mangle]
pub unsafe extern "C" fn __ppoll_chk(
    fds: *mut libc::pollfd,
    nfds: libc::nfds_t,
    timeout: *const libc::timespec,
    sigmask: *const libc::sigset_t,
    fdslen: usize,
) -> c_int {
    if (nfds as usize).saturating_mul(std::mem::size_of::<libc::pollfd>()) > fdslen {
        // SAFETY: the caller's arguments: libc's own check reports the overflow.
        return unsafe { real::__ppoll_chk(fds, nfds, timeout, sigmask, fdslen) };
    }
    // SAFETY: as `ppoll`.
    unsafe { ppoll(fds, nfds, timeout, sigmask) }
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
