//! Descriptors made, copied and destroyed: `dup`, `dup2`, `dup3`, `fcntl(F_DUPFD*)`, `close_range`,
//! `accept`, `accept4`, and the close path that `close`/`closesocket` share.
//!
//! Secure state lives and dies with descriptor numbers: a copy of a secure descriptor shares its TLS
//! session; the session ends (close_notify) when its last descriptor is closed; a number that is
//! reused by anything (`accept`, `dup2` onto it, a new `socket`) starts with no secure state.

use std::ffi::c_int;
use std::sync::Arc;

use super::{guard, plain, SOCKET_ERROR};
use crate::secure::SecureSocket;
use crate::sys::real;
use crate::table;

/// Close `fd`, which referred to `sock`: the session ends only with its last descriptor; an inherited
/// (post-fork) socket is closed in this process only.
pub fn close_secure(fd: c_int, sock: Arc<SecureSocket>, call: &'static str) -> c_int {
    if sock.is_inherited() || sock.detach(fd) {
        // SAFETY: plain integer; the session stays with the parent or the other descriptors.
        return plain(call, unsafe { real::close(fd) });
    }
    guard(call, SOCKET_ERROR, || sock.close().map(|()| 0))
}

/// `new` now refers to whatever `old` refers to.
fn share(old: c_int, new: c_int) {
    if let Some(sock) = table::lookup(old) {
        sock.attach(new);
        table::insert(new, sock);
    }
}

/// `new` is about to be replaced by `dup2`/`dup3`: end its secure state without closing the number.
fn forget_target(new: c_int) {
    if let Some(sock) = table::remove(new) {
        if !sock.is_inherited() && !sock.detach(new) {
            let _ = sock.end(false);
        }
    }
}

/// Implements POSIX `dup`: a copy of a secure socket shares its TLS session.
#[no_mangle]
pub extern "C" fn dup(fd: c_int) -> c_int {
    // SAFETY: plain integer.
    let new = plain("dup", unsafe { real::dup(fd) });
    if new >= 0 {
        table::remove(new);
        share(fd, new);
    }
    new
}

/// Implements POSIX `dup2`: the secure state of `new` ends, and `new` shares `old`'s.
#[no_mangle]
pub extern "C" fn dup2(old: c_int, new: c_int) -> c_int {
    if old == new || !(table::maybe_secure(old) || table::maybe_secure(new)) {
        // SAFETY: plain integers.
        return plain("dup2", unsafe { real::dup2(old, new) });
    }
    if crate::sys::fd::is_socket(old).is_err() {
        // SAFETY: plain integers; libc reports EBADF and nothing changes.
        return plain("dup2", unsafe { real::dup2(old, new) });
    }
    forget_target(new);
    // SAFETY: plain integers.
    let rc = plain("dup2", unsafe { real::dup2(old, new) });
    if rc >= 0 {
        share(old, new);
    }
    rc
}

/// Implements Linux `dup3`, as `dup2`.
#[no_mangle]
pub extern "C" fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int {
    if old == new || !(table::maybe_secure(old) || table::maybe_secure(new)) {
        // SAFETY: plain integers.
        return plain("dup3", unsafe { real::dup3(old, new, flags) });
    }
    if crate::sys::fd::is_socket(old).is_err() {
        // SAFETY: plain integers.
        return plain("dup3", unsafe { real::dup3(old, new, flags) });
    }
    forget_target(new);
    // SAFETY: plain integers.
    let rc = plain("dup3", unsafe { real::dup3(old, new, flags) });
    if rc >= 0 {
        share(old, new);
    }
    rc
}

fn fcntl_common(
    call: &'static str,
    fd: c_int,
    cmd: c_int,
    arg: usize,
    f: unsafe fn(c_int, c_int, usize) -> c_int,
) -> c_int {
    // SAFETY: the caller's arguments, passed through to libc's fcntl.
    let rc = plain(call, unsafe { f(fd, cmd, arg) });
    if rc >= 0 && (cmd == libc::F_DUPFD || cmd == libc::F_DUPFD_CLOEXEC) {
        table::remove(rc);
        share(fd, rc);
    }
    rc
}

/// Implements POSIX `fcntl`; `F_DUPFD`/`F_DUPFD_CLOEXEC` of a secure socket share its session.
/// (Declared with its optional argument as a machine word, which is how the x86-64 and AArch64 Linux
/// calling conventions pass it.)
///
/// # Safety
/// As libc's `fcntl`.
#[no_mangle]
pub unsafe extern "C" fn fcntl(fd: c_int, cmd: c_int, arg: usize) -> c_int {
    fcntl_common("fcntl", fd, cmd, arg, real::fcntl)
}

/// Implements glibc `fcntl64`, as `fcntl`.
///
/// # Safety
/// As libc's `fcntl64`.
#[no_mangle]
pub unsafe extern "C" fn fcntl64(fd: c_int, cmd: c_int, arg: usize) -> c_int {
    fcntl_common("fcntl64", fd, cmd, arg, real::fcntl64)
}

/// Implements Linux `close_range`: secure descriptors in the range are closed as by `close` first.
#[no_mangle]
pub extern "C" fn close_range(first: libc::c_uint, last: libc::c_uint, flags: c_int) -> c_int {
    if flags & libc::CLOSE_RANGE_CLOEXEC as c_int == 0 {
        let lo = first.min(c_int::MAX as u32) as c_int;
        let hi = last.min(c_int::MAX as u32) as c_int;
        for fd in table::secure_in_range(lo, hi) {
            if let Some(sock) = table::remove(fd) {
                close_secure(fd, sock, "close_range");
            }
        }
    }
    // SAFETY: plain integers.
    plain("close_range", unsafe {
        real::close_range(first, last, flags)
    })
}

/// Implements POSIX `accept`: a plain socket (sslsock is a client library); a reused number starts clean.
///
/// # Safety
/// As libc's `accept`.
#[no_mangle]
pub unsafe extern "C" fn accept(
    fd: c_int,
    addr: *mut libc::sockaddr,
    len: *mut libc::socklen_t,
) -> c_int {
    // SAFETY: the caller's arguments, passed through.
    let new = plain("accept", unsafe { real::accept(fd, addr, len) });
    if new >= 0 {
        table::remove(new);
    }
    new
}

/// Implements Linux `accept4`, as `accept`.
///
/// # Safety
/// As libc's `accept4`.
#[no_mangle]
pub unsafe extern "C" fn accept4(
    fd: c_int,
    addr: *mut libc::sockaddr,
    len: *mut libc::socklen_t,
    flags: c_int,
) -> c_int {
    // SAFETY: the caller's arguments, passed through.
    let new = plain("accept4", unsafe { real::accept4(fd, addr, len, flags) });
    if new >= 0 {
        table::remove(new);
    }
    new
}
