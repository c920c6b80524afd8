//! glibc's exported aliases of the data calls (`__write`, `__read`, `__send`) and the
//! `_FORTIFY_SOURCE` forms (`__read_chk`, `__recv_chk`, `__recvfrom_chk`): a program (or a library) may
//! call these names directly, so they go where `write`, `read`, `send` and `recv` go.

use std::ffi::{c_int, c_void};

use libc::{size_t, ssize_t};

use super::io::{read, recv, recvfrom, send, write};
use super::plain;
use crate::sys::real;
use crate::table;

// ---- glibc's exported aliases: a program (or a library) may call these names directly ----

/// Implements glibc `__write`, as `write`.
///
/// # Safety
/// As libc's `write`.
#[no_mangle]
pub unsafe extern "C" fn __write(fd: c_int, buf: *const c_void, len: size_t) -> ssize_t {
    // SAFETY: as `write`.
    unsafe { write(fd, buf, len) }
}

/// Implements glibc `__read`, as `read`.
///
/// # Safety
/// As libc's `read`.
#[no_mangle]
pub unsafe extern "C" fn __read(fd: c_int, buf: *mut c_void, len: size_t) -> ssize_t {
    // SAFETY: as `read`.
    unsafe { read(fd, buf, len) }
}

/// Implements glibc `__send`, as `send`.
///
/// # Safety
/// As libc's `send`.
#[no_mangle]
pub unsafe extern "C" fn __send(
    fd: c_int,
    buf: *const c_void,
    len: size_t,
    flags: c_int,
) -> ssize_t {
    // SAFETY: as `send`.
    unsafe { send(fd, buf, len, flags) }
}

// ---- _FORTIFY_SOURCE variants: glibc turns read/recv/recvfrom into these when it knows the buffer size ----

fn overflow() -> ! {
    crate::log::write(
        crate::settings::Level::Error,
        format_args!("buffer overflow detected (_FORTIFY_SOURCE)"),
    );
    std::process::abort()
}

/// Implements glibc `__read_chk` (fortified `read`).
///
/// # Safety
/// As libc's `__read_chk`.
#[no_mangle]
pub unsafe extern "C" fn __read_chk(
    fd: c_int,
    buf: *mut c_void,
    len: size_t,
    buflen: size_t,
) -> ssize_t {
    if !table::maybe_secure(fd) {
        // SAFETY: the caller's arguments, passed through.
        return plain("read", unsafe { real::__read_chk(fd, buf, len, buflen) });
    }
    if len > buflen {
        overflow();
    }
    // SAFETY: as `read`.
    unsafe { read(fd, buf, len) }
}

/// Implements glibc `__recv_chk` (fortified `recv`).
///
/// # Safety
/// As libc's `__recv_chk`.
#[no_mangle]
pub unsafe extern "C" fn __recv_chk(
    fd: c_int,
    buf: *mut c_void,
    len: size_t,
    buflen: size_t,
    flags: c_int,
) -> ssize_t {
    if !table::maybe_secure(fd) {
        // SAFETY: the caller's arguments, passed through.
        return plain("recv", unsafe {
            real::__recv_chk(fd, buf, len, buflen, flags)
        });
    }
    if len > buflen {
        overflow();
    }
    // SAFETY: as `recv`.
    unsafe { recv(fd, buf, len, flags) }
}

/// Implements glibc `__recvfrom_chk` (fortified `recvfrom`).
///
/// # Safety
/// As libc's `__recvfrom_chk`.
#[no_mangle]
pub unsafe extern "C" fn __recvfrom_chk(
    fd: c_int,
    buf: *mut c_void,
    len: size_t,
    buflen: size_t,
    flags: c_int,
    addr: *mut libc::sockaddr,
    alen: *mut libc::socklen_t,
) -> ssize_t {
    if !table::maybe_secure(fd) {
        // SAFETY: the caller's arguments, passed through.
        return plain("recvfrom", unsafe {
            real::__recvfrom_chk(fd, buf, len, buflen, flags, addr, alen)
        });
    }
    if len > buflen {
        overflow();
    }
    // SAFETY: as `recvfrom`.
    unsafe { recvfrom(fd, buf, len, flags, addr, alen) }
}
