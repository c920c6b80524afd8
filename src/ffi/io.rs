//! Data transfer: `send`, `recv`, `write`, `read`. On a secure socket all of them go through TLS
//! (plaintext only in the deferred window), so no byte leaves in the clear by another door.

use std::ffi::{c_int, c_void};

use libc::{size_t, ssize_t};

use super::{guard, in_bytes, out_bytes, plain};
use crate::secure::RecvFlags;
use crate::sys::real;
use crate::table;

/// Implements Winsock/POSIX `send`. On an established secure socket: encrypts the data and, on a
/// blocking socket, returns only when all of it is in the kernel (returns `len`).
///
/// # Safety
/// As libc's `send`: `buf` valid for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn send(fd: c_int, buf: *const c_void, len: size_t, flags: c_int) -> ssize_t {
    match table::lookup(fd) {
        // SAFETY: the caller's arguments, passed through.
        None => plain("send", unsafe { real::send(fd, buf, len, flags) }),
        Some(sock) => guard("send", -1, || {
            // SAFETY: the caller vouches for `len` readable bytes at `buf`.
            let data = unsafe { in_bytes(buf, len, "send") }?;
            sock.send(data, flags).map(|n| n as ssize_t)
        }),
    }
}

/// Implements Winsock/POSIX `recv`. On a secure socket: decrypted data; 0 at the end of the stream.
///
/// # Safety
/// As libc's `recv`: `buf` valid for writes of `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn recv(fd: c_int, buf: *mut c_void, len: size_t, flags: c_int) -> ssize_t {
    match table::lookup(fd) {
        // SAFETY: the caller's arguments, passed through.
        None => plain("recv", unsafe { real::recv(fd, buf, len, flags) }),
        Some(sock) => guard("recv", -1, || {
            // SAFETY: the caller vouches for `len` writable bytes at `buf`.
            let data = unsafe { out_bytes(buf, len, "recv") }?;
            sock.recv(data, RecvFlags::from_c(flags))
                .map(|n| n as ssize_t)
        }),
    }
}

/// Implements POSIX `write`; on a secure socket, `send` with no flags.
///
/// # Safety
/// As libc's `write`.
#[no_mangle]
pub unsafe extern "C" fn write(fd: c_int, buf: *const c_void, len: size_t) -> ssize_t {
    match table::lookup(fd) {
        // SAFETY: the caller's arguments, passed through.
        None => plain("write", unsafe { real::write(fd, buf, len) }),
        Some(sock) => guard("write", -1, || {
            // SAFETY: the caller vouches for `len` readable bytes at `buf`.
            let data = unsafe { in_bytes(buf, len, "write") }?;
            sock.send(data, 0).map(|n| n as ssize_t)
        }),
    }
}

/// Implements POSIX `read`; on a secure socket, `recv` with no flags.
///
/// # Safety
/// As libc's `read`.
#[no_mangle]
pub unsafe extern "C" fn read(fd: c_int, buf: *mut c_void, len: size_t) -> ssize_t {
    match table::lookup(fd) {
        // SAFETY: the caller's arguments, passed through.
        None => plain("read", unsafe { real::read(fd, buf, len) }),
        Some(sock) => guard("read", -1, || {
            // SAFETY: the caller vouches for `len` writable bytes at `buf`.
            let data = unsafe { out_bytes(buf, len, "read") }?;
            sock.recv(data, RecvFlags::default()).map(|n| n as ssize_t)
        }),
    }
}
