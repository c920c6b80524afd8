//! The time64 names of 32-bit glibc. A program built for a 32-bit target with `_TIME_BITS=64` (the
//! default build flags of Debian trixie and Ubuntu for armhf) has its headers redirect these calls to
//! glibc's 64-bit-time aliases: `setsockopt` → `__setsockopt64`, `getsockopt` → `__getsockopt64`,
//! `sendmsg` → `__sendmsg64`, `recvmsg` → `__recvmsg64`, `sendmmsg` → `__sendmmsg64`, `recvmmsg` →
//! `__recvmmsg64`, `fcntl`/`fcntl64` → `__fcntl_time64`, `select` → `__select64`, `pselect` →
//! `__pselect64`, `ppoll` → `__ppoll64`, `epoll_pwait2` →
//! `__epoll_pwait2_time64`. Unexported, they would bypass sslsock altogether (SO_SECURE
//! would reach the kernel, which refuses it; a `fcntl(F_DUPFD)` copy of a secure socket would write
//! plaintext through libc), so each is exported here and goes where its 32-bit-time name goes.
//!
//! What differs is only the layout of the time structures the program passes (`struct timeval` and
//! `struct timespec` with a 64-bit `tv_sec`, [`crate::sys::time64`]): what sslsock answers itself
//! (SO_SECURE, the Windows millisecond DWORD timeouts, everything on a secure descriptor) is the same,
//! and what goes to libc goes to libc's time64 function, which reads those structures.
//!
//! `__ioctl_time64` (`ioctl`) is not exported: sslsock does not interpose `ioctl` under any name
//! (Winsock's `ioctlsocket` is its own). `__pselect64` and `__ppoll64` go through the readiness engine
//! as `pselect` and `ppoll` do, their signal mask installed by the kernel for each of its waits.

use std::ffi::{c_int, c_void};

use libc::{socklen_t, ssize_t};

use super::descriptors::fcntl_common;
use super::messages::{recvmmsg_with, recvmsg_with, sendmmsg_with, sendmsg_with};
use super::options::{get_here, getsockopt, set_here, setsockopt};
use super::plain;
use super::poll::ppoll_with;
use super::sets::{pselect_with, select_with};
use crate::sys::real;
use crate::sys::time64::{Timespec64, Timeval64, SO_RCVTIMEO_NEW, SO_SNDTIMEO_NEW};

/// The option name sslsock's [`setsockopt`]/[`getsockopt`] know for `name`: under `_TIME_BITS=64` the
/// program's `SO_RCVTIMEO`/`SO_SNDTIMEO` are the kernel's `SO_RCVTIMEO_NEW`/`SO_SNDTIMEO_NEW`
/// (asm-generic/socket.h picks them when `time_t` is not a `long`), which are the library's
/// `SO_RCVTIMEO`/`SO_SNDTIMEO` when the value is a millisecond DWORD (no timeval to lay out).
fn library_name(level: c_int, name: c_int) -> c_int {
    match (level, name) {
        (libc::SOL_SOCKET, SO_RCVTIMEO_NEW) => libc::SO_RCVTIMEO,
        (libc::SOL_SOCKET, SO_SNDTIMEO_NEW) => libc::SO_SNDTIMEO,
        _ => name,
    }
}

/// Implements glibc `__setsockopt64` (`setsockopt` under `_TIME_BITS=64`): SO_SECURE and the Windows
/// millisecond DWORD of SO_RCVTIMEO/SO_SNDTIMEO (the program's, i.e. `SO_RCVTIMEO_NEW`/`SO_SNDTIMEO_NEW`,
/// or the old names) as [`setsockopt`]; everything else (a 64-bit `struct timeval` for
/// SO_RCVTIMEO/SO_SNDTIMEO among it, which the kernel keeps and a secure socket's blocking calls then
/// honour, as with `setsockopt`) to libc's `__setsockopt64`.
///
/// # Safety
/// As libc's `setsockopt`: `optval` valid for `optlen` bytes.
#[no_mangle]
pub unsafe extern "C" fn __setsockopt64(
    fd: c_int,
    level: c_int,
    name: c_int,
    optval: *const c_void,
    optlen: socklen_t,
) -> c_int {
    let ours = library_name(level, name);
    if set_here(level, ours, optval, optlen) {
        // SAFETY: the caller's arguments, per this function's contract.
        return unsafe { setsockopt(fd, level, ours, optval, optlen) };
    }
    // SAFETY: the caller's arguments, passed through to libc.
    plain("setsockopt", unsafe {
        real::__setsockopt64(fd, level, name, optval, optlen)
    })
}

/// Implements glibc `__getsockopt64` (`getsockopt` under `_TIME_BITS=64`): SO_SECURE and the Windows
/// millisecond DWORD of SO_RCVTIMEO/SO_SNDTIMEO (new or old names, as for `__setsockopt64`) as
/// [`getsockopt`]; everything else to libc's `__getsockopt64`.
///
/// # Safety
/// As libc's `getsockopt`.
#[no_mangle]
pub unsafe extern "C" fn __getsockopt64(
    fd: c_int,
    level: c_int,
    name: c_int,
    optval: *mut c_void,
    optlen: *mut socklen_t,
) -> c_int {
    let ours = library_name(level, name);
    // SAFETY: `optlen` is the caller's (NULL or valid).
    if unsafe { get_here(level, ours, optval, optlen) } {
        // SAFETY: the caller's arguments, per this function's contract.
        return unsafe { getsockopt(fd, level, ours, optval, optlen) };
    }
    // SAFETY: the caller's arguments, passed through to libc.
    plain("getsockopt", unsafe {
        real::__getsockopt64(fd, level, name, optval, optlen)
    })
}

/// Implements glibc `__sendmsg64` (`sendmsg` under `_TIME_BITS=64`), as `sendmsg`.
///
/// # Safety
/// As libc's `sendmsg`.
#[no_mangle]
pub unsafe extern "C" fn __sendmsg64(fd: c_int, msg: *const libc::msghdr, flags: c_int) -> ssize_t {
    // SAFETY: the caller's arguments; libc's time64 function for a plain descriptor.
    unsafe { sendmsg_with(fd, msg, flags, || real::__sendmsg64(fd, msg, flags)) }
}

/// Implements glibc `__recvmsg64` (`recvmsg` under `_TIME_BITS=64`), as `recvmsg`.
///
/// # Safety
/// As libc's `recvmsg`.
#[no_mangle]
pub unsafe extern "C" fn __recvmsg64(fd: c_int, msg: *mut libc::msghdr, flags: c_int) -> ssize_t {
    // SAFETY: the caller's arguments; libc's time64 function for a plain descriptor.
    unsafe { recvmsg_with(fd, msg, flags, || real::__recvmsg64(fd, msg, flags)) }
}

/// Implements glibc `__sendmmsg64` (`sendmmsg` under `_TIME_BITS=64`), as `sendmmsg`.
///
/// # Safety
/// As libc's `sendmmsg`.
#[no_mangle]
pub unsafe extern "C" fn __sendmmsg64(
    fd: c_int,
    msgs: *mut libc::mmsghdr,
    count: libc::c_uint,
    flags: c_int,
) -> c_int {
    // SAFETY: the caller's arguments; libc's time64 function for a plain descriptor.
    unsafe {
        sendmmsg_with(fd, msgs, count, flags, || {
            real::__sendmmsg64(fd, msgs, count, flags)
        })
    }
}

/// Implements glibc `__recvmmsg64` (`recvmmsg` under `_TIME_BITS=64`, its timeout a 64-bit
/// `struct timespec`), as `recvmmsg`.
///
/// # Safety
/// As libc's `recvmmsg`.
#[no_mangle]
pub unsafe extern "C" fn __recvmmsg64(
    fd: c_int,
    msgs: *mut libc::mmsghdr,
    count: libc::c_uint,
    flags: c_int,
    timeout: *mut Timespec64,
) -> c_int {
    // SAFETY: the caller's arguments; libc's time64 function for a plain descriptor.
    unsafe {
        recvmmsg_with(fd, msgs, count, flags, || {
            real::__recvmmsg64(fd, msgs, count, flags, timeout)
        })
    }
}

/// Implements glibc `__fcntl_time64` (`fcntl` and `fcntl64` under `_TIME_BITS=64`), as `fcntl`:
/// `F_DUPFD`/`F_DUPFD_CLOEXEC` of a secure socket share its session. (Declared with its optional
/// argument as a machine word, as `fcntl` is.)
///
/// # Safety
/// As libc's `fcntl`.
#[no_mangle]
pub unsafe extern "C" fn __fcntl_time64(fd: c_int, cmd: c_int, arg: usize) -> c_int {
    fcntl_common("fcntl", fd, cmd, arg, real::__fcntl_time64)
}

/// Implements glibc `__select64` (`select` under `_TIME_BITS=64`, its timeout a 64-bit
/// `struct timeval`), as `select`: a secure socket's readiness is sslsock's, `timeout` comes back
/// holding the time left.
///
/// # Safety
/// As libc's `select`.
#[no_mangle]
pub unsafe extern "C" fn __select64(
    nfds: c_int,
    readfds: *mut libc::fd_set,
    writefds: *mut libc::fd_set,
    exceptfds: *mut libc::fd_set,
    timeout: *mut Timeval64,
) -> c_int {
    // SAFETY: the caller's arguments; libc's time64 function where libc answers.
    unsafe {
        select_with(nfds, readfds, writefds, exceptfds, timeout, || {
            real::__select64(nfds, readfds, writefds, exceptfds, timeout)
        })
    }
}

/// Implements glibc `__pselect64` (`pselect` under `_TIME_BITS=64`, its timeout a 64-bit
/// `struct timespec`), as `pselect`.
///
/// # Safety
/// As libc's `pselect`.
#[no_mangle]
pub unsafe extern "C" fn __pselect64(
    nfds: c_int,
    readfds: *mut libc::fd_set,
    writefds: *mut libc::fd_set,
    exceptfds: *mut libc::fd_set,
    timeout: *const Timespec64,
    sigmask: *const libc::sigset_t,
) -> c_int {
    // SAFETY: the caller's arguments; libc's time64 function where libc answers.
    unsafe {
        pselect_with(nfds, readfds, writefds, exceptfds, timeout, sigmask, || {
            real::__pselect64(nfds, readfds, writefds, exceptfds, timeout, sigmask)
        })
    }
}

/// Implements glibc `__ppoll64` (`ppoll` under `_TIME_BITS=64`, its timeout a 64-bit
/// `struct timespec`), as `ppoll`.
///
/// # Safety
/// As libc's `ppoll`.
#[no_mangle]
pub unsafe extern "C" fn __ppoll64(
    fds: *mut libc::pollfd,
    nfds: libc::nfds_t,
    timeout: *const Timespec64,
    sigmask: *const libc::sigset_t,
) -> c_int {
    // SAFETY: the caller's arguments; libc's time64 function where libc answers.
    unsafe {
        ppoll_with(fds, nfds, timeout, sigmask, || {
            real::__ppoll64(fds, nfds, timeout, sigmask)
        })
    }
}

/// Implements glibc `__epoll_pwait2_time64` (`epoll_pwait2` under `_TIME_BITS=64`, its timeout a
/// 64-bit `struct timespec`), as `epoll_pwait2`: secure sockets in the set are readable as sslsock
/// sees them.
///
/// # Safety
/// As libc's `epoll_pwait2`.
#[no_mangle]
pub unsafe extern "C" fn __epoll_pwait2_time64(
    epfd: c_int,
    events: *mut libc::epoll_event,
    maxevents: c_int,
    timeout: *const Timespec64,
    sigmask: *const libc::sigset_t,
) -> c_int {
    // SAFETY: NULL or the caller's 64-bit timespec.
    let parts = unsafe { timeout.as_ref() }.map(|t| (t.tv_sec, i64::from(t.tv_nsec)));
    // SAFETY: the caller's arguments; libc's time64 function where libc answers.
    unsafe {
        super::epoll::pwait2_with(epfd, events, maxevents, parts, sigmask, || {
            real::__epoll_pwait2_time64(epfd, events, maxevents, timeout, sigmask)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::{DWORD, SO_SECURE, SO_SEC_SSL};
    use crate::ffi::lifecycle::{closesocket, socket};

    const DWORD_LEN: socklen_t = std::mem::size_of::<DWORD>() as socklen_t;
    const TIMEVAL64_LEN: socklen_t = std::mem::size_of::<Timeval64>() as socklen_t;

    /// SO_SECURE through `__setsockopt64` makes the socket secure (`__getsockopt64` reads it back); a
    /// 64-bit timeval goes to the kernel and reads back as the millisecond DWORD, and a DWORD set
    /// through the time64 name is the kernel's timeout (c-tests/time64.c runs the same over TLS). The
    /// timeouts under their names in a `_TIME_BITS=64` program: SO_RCVTIMEO_NEW, SO_SNDTIMEO_NEW.
    #[test]
    fn so_secure_and_timeouts_through_the_time64_names() {
        let s = socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        assert!(s >= 0);
        let ssl: DWORD = SO_SEC_SSL;
        let sol = libc::SOL_SOCKET;
        // SAFETY: each call is given a value owned here and its size.
        unsafe {
            let on = (&ssl as *const DWORD).cast();
            assert_eq!(__setsockopt64(s, sol, SO_SECURE as c_int, on, DWORD_LEN), 0);
            assert!(crate::table::socket(s).is_some());
            let mut got: DWORD = 0;
            let mut len = DWORD_LEN;
            let rc = __getsockopt64(
                s,
                sol,
                SO_SECURE as c_int,
                (&mut got as *mut DWORD).cast(),
                &mut len,
            );
            assert_eq!((rc, got), (0, SO_SEC_SSL));

            let tv = Timeval64 {
                tv_sec: 2,
                tv_usec: 500_000,
            };
            let rc = __setsockopt64(
                s,
                sol,
                SO_RCVTIMEO_NEW,
                (&tv as *const Timeval64).cast(),
                TIMEVAL64_LEN,
            );
            assert_eq!(rc, 0);
            let mut ms: DWORD = 0;
            let mut len = DWORD_LEN;
            let rc = __getsockopt64(
                s,
                sol,
                SO_RCVTIMEO_NEW,
                (&mut ms as *mut DWORD).cast(),
                &mut len,
            );
            assert_eq!((rc, ms), (0, 2500));

            let ms: DWORD = 300;
            let rc = __setsockopt64(
                s,
                sol,
                SO_SNDTIMEO_NEW,
                (&ms as *const DWORD).cast(),
                DWORD_LEN,
            );
            assert_eq!(rc, 0);
            // Read back as the library's own timeval, as a secure socket's deadline reads it (a 16-byte
            // read goes to the kernel as SO_SNDTIMEO_NEW, which qemu-user 7.2 answers as an int).
            let mut back = libc::timeval {
                tv_sec: 0,
                tv_usec: 0,
            };
            let mut len = std::mem::size_of::<libc::timeval>() as socklen_t;
            let rc = getsockopt(
                s,
                sol,
                libc::SO_SNDTIMEO,
                (&mut back as *mut libc::timeval).cast(),
                &mut len,
            );
            assert_eq!((rc, back.tv_sec, back.tv_usec), (0, 0, 300_000));
        }
        assert_eq!(closesocket(s), 0);
    }

    /// `__select64` reads a 64-bit timeval: with a secure socket in the sets (sslsock's path) and
    /// nothing to read, `{0, 200000}` waits about 200 ms (read as a 32-bit timeval it would be `{0, 0}`)
    /// and comes back holding the time left, none.
    #[test]
    fn select64_waits_for_its_timeval() {
        let s = socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        assert!(s >= 0);
        let ssl: DWORD = SO_SEC_SSL;
        // SAFETY: a DWORD and its size; an fd_set and a timeval owned here.
        unsafe {
            let on = (&ssl as *const DWORD).cast();
            assert_eq!(
                __setsockopt64(s, libc::SOL_SOCKET, SO_SECURE as c_int, on, DWORD_LEN),
                0
            );
            // A listening socket with no connection waiting: nothing to read.
            let mut addr: libc::sockaddr_in = std::mem::zeroed();
            addr.sin_family = libc::AF_INET as libc::sa_family_t;
            addr.sin_addr.s_addr = u32::from(std::net::Ipv4Addr::LOCALHOST).to_be();
            let alen = std::mem::size_of::<libc::sockaddr_in>() as socklen_t;
            assert_eq!(
                libc::bind(s, (&addr as *const libc::sockaddr_in).cast(), alen),
                0
            );
            assert_eq!(libc::listen(s, 1), 0);
            let mut set: libc::fd_set = std::mem::zeroed();
            libc::FD_ZERO(&mut set);
            libc::FD_SET(s, &mut set);
            let mut tv = Timeval64 {
                tv_sec: 0,
                tv_usec: 200_000,
            };
            let start = std::time::Instant::now();
            let null = std::ptr::null_mut();
            let rc = __select64(s + 1, &mut set, null, null, &mut tv);
            let took = start.elapsed();
            assert_eq!(rc, 0);
            assert!(took >= std::time::Duration::from_millis(190), "{took:?}");
            assert_eq!((tv.tv_sec, tv.tv_usec), (0, 0));
        }
        assert_eq!(closesocket(s), 0);
    }
}
