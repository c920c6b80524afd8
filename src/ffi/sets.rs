//! POSIX `select` and `pselect` (the `fd_set` bit arrays of `<sys/select.h>`): the sets become
//! `pollfd`s for the readiness engine of [`super::poll`], so that a secure socket is ready as sslsock
//! sees it; with no secure descriptor in the sets (or none made in the process), libc's own call.

use std::ffi::c_int;
use std::time::{Duration, Instant};

use super::poll::{deadline_from_timespec, wait_masked, OnClosed, WaitTimespec};
use super::poll::{READ_EVENTS, TROUBLE, WRITE_EVENTS};
use super::{guard, plain, SOCKET_ERROR};
use crate::error::{Error, Result, WsaCode};
use crate::sys::real;
use crate::table;

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
    libc_call: impl Fn() -> c_int,
) -> c_int {
    let sets = Sets {
        nfds,
        readfds,
        writefds,
        exceptfds,
    };
    let store_left = |deadline: Option<Instant>| {
        if let (false, Some(d)) = (timeout.is_null(), deadline) {
            let left = d.saturating_duration_since(Instant::now());
            // SAFETY: non-NULL timeval from the caller.
            unsafe { (*timeout).store(left) };
        }
    };
    // SAFETY: the caller's sets and timeout (NULL or a valid timeval).
    let deadline = || unsafe { deadline_from(timeout.cast_const()) };
    // SAFETY: the caller's sets.
    unsafe { sets.wait("select", deadline, None, libc_call, store_left) }
}

/// `pselect` over the program's `timeout` type (`struct timespec`, or the 64-bit one of
/// `__pselect64`): as `select`, the signal mask installed for every kernel wait (see
/// [`wait_masked`]); the timeout is not written back, as POSIX says.
///
/// # Safety
/// As libc's `pselect`; `libc_call` is libc's call with the same arguments.
pub unsafe fn pselect_with<T: WaitTimespec>(
    nfds: c_int,
    readfds: *mut libc::fd_set,
    writefds: *mut libc::fd_set,
    exceptfds: *mut libc::fd_set,
    timeout: *const T,
    sigmask: *const libc::sigset_t,
    libc_call: impl Fn() -> c_int,
) -> c_int {
    let sets = Sets {
        nfds,
        readfds,
        writefds,
        exceptfds,
    };
    // SAFETY: the caller's sets; `sigmask` NULL or a valid sigset_t (caller).
    let mask = unsafe { sigmask.as_ref() };
    // SAFETY: NULL or the caller's timespec.
    let deadline = || unsafe { deadline_from_timespec(timeout, "pselect") };
    // SAFETY: the caller's sets.
    unsafe { sets.wait("pselect", deadline, mask, libc_call, |_| {}) }
}

/// The three `fd_set`s of a `select`-family call.
struct Sets {
    nfds: c_int,
    readfds: *mut libc::fd_set,
    writefds: *mut libc::fd_set,
    exceptfds: *mut libc::fd_set,
}

impl Sets {
    /// Whether `fd` is in `set`.
    ///
    /// # Safety
    /// `set` NULL or a valid fd_set; `fd` below FD_SETSIZE.
    unsafe fn has(set: *mut libc::fd_set, fd: c_int) -> bool {
        // SAFETY: a valid fd_set (caller); FD_ISSET only reads it, below FD_SETSIZE.
        !set.is_null() && unsafe { libc::FD_ISSET(fd, set) }
    }

    /// The call: libc's own while no secure descriptor is in the sets, else the engine; the sets
    /// come back holding the ready descriptors; `done` is given the deadline at the end.
    ///
    /// # Safety
    /// Each non-NULL set a valid fd_set; `deadline` reads only the caller's timeout.
    unsafe fn wait(
        &self,
        call: &'static str,
        deadline: impl FnOnce() -> Result<Option<Instant>>,
        mask: Option<&libc::sigset_t>,
        libc_call: impl Fn() -> c_int,
        done: impl FnOnce(Option<Instant>),
    ) -> c_int {
        if !crate::fork::secure_sockets_made() {
            return plain(call, libc_call());
        }
        let limit = self.nfds.clamp(0, libc::FD_SETSIZE as c_int);
        let sets = [self.readfds, self.writefds, self.exceptfds];
        // SAFETY: valid sets (caller), fd below FD_SETSIZE.
        let is_set = |set: *mut libc::fd_set, fd: c_int| unsafe { Self::has(set, fd) };
        if !(0..limit).any(|fd| table::maybe_secure(fd) && sets.iter().any(|&s| is_set(s, fd))) {
            return plain(call, libc_call());
        }
        guard(call, SOCKET_ERROR, || {
            let mut fds = Vec::new();
            for fd in 0..limit {
                let mut events = 0;
                if is_set(self.readfds, fd) {
                    events |= libc::POLLIN;
                }
                if is_set(self.writefds, fd) {
                    events |= libc::POLLOUT;
                }
                if is_set(self.exceptfds, fd) {
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
            let deadline = deadline()?;
            wait_masked(&mut fds, deadline, OnClosed::Invalid, mask)?;
            if fds.iter().any(|p| p.revents & libc::POLLNVAL != 0) {
                return Err(Error::new(
                    WsaCode::ENOTSOCK,
                    format!("{call}: a descriptor in the sets is not open"),
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
                    (self.readfds, READ_EVENTS | TROUBLE),
                    (self.writefds, WRITE_EVENTS | libc::POLLERR),
                    (self.exceptfds, libc::POLLPRI),
                ];
                for (set, bits) in marks {
                    if !set.is_null() && p.revents & bits != 0 && p.events & bits != 0 {
                        // SAFETY: a valid fd_set and fd < FD_SETSIZE.
                        unsafe { libc::FD_SET(p.fd, set) };
                        count += 1;
                    }
                }
            }
            done(deadline);
            Ok(count)
        })
    }
}

/// Implements POSIX `pselect`: as `select` (secure sockets seen as sslsock sees them), with the
/// signal mask installed atomically for each kernel wait, as libc's does.
///
/// # Safety
/// As libc's `pselect`.
#[no_mangle]
pub unsafe extern "C" fn pselect(
    nfds: c_int,
    readfds: *mut libc::fd_set,
    writefds: *mut libc::fd_set,
    exceptfds: *mut libc::fd_set,
    timeout: *const libc::timespec,
    sigmask: *const libc::sigset_t,
) -> c_int {
    // SAFETY: the caller's arguments, passed through to libc where libc answers.
    unsafe {
        pselect_with(nfds, readfds, writefds, exceptfds, timeout, sigmask, || {
            real::pselect(nfds, readfds, writefds, exceptfds, timeout, sigmask)
        })
    }
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
