//! Socket lifecycle: `socket`, `connect`, `shutdown`, `close`, `closesocket`.

use std::ffi::c_int;

use super::{guard, plain, SOCKET_ERROR};
use crate::error::{Error, WsaCode};
use crate::sys::{fd, real};
use crate::table;

/// Implements Winsock/POSIX `socket`: a plain socket from libc. A descriptor number that still had
/// secure state (closed behind sslsock's back, e.g. by a raw system call) starts clean.
#[no_mangle]
pub extern "C" fn socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int {
    // SAFETY: libc's socket takes plain integers.
    let s = plain("socket", unsafe { real::socket(domain, ty, protocol) });
    if s >= 0 {
        table::remove(s);
    }
    s
}

/// Implements Winsock/POSIX `connect`. On a secure socket in immediate mode: the TCP connection and
/// the whole TLS handshake, returning 0 only if the handshake completed and the certificate was
/// accepted (else SOCKET_ERROR with WSAECONNABORTED). In deferred mode: the TCP connection only.
///
/// # Safety
/// As libc's `connect`: `addr` valid for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn connect(
    fd: c_int,
    addr: *const libc::sockaddr,
    len: libc::socklen_t,
) -> c_int {
    match table::lookup(fd) {
        // SAFETY: the caller's arguments, passed through.
        None => plain("connect", unsafe { real::connect(fd, addr, len) }),
        Some(sock) => guard("connect", SOCKET_ERROR, || {
            // SAFETY: the caller vouches for `len` readable bytes at `addr`.
            let addr = unsafe { fd::SockAddr::copy_from(addr, len) }
                .ok_or_else(|| super::fault("connect"))?;
            sock.connect(&addr).map(|()| 0)
        }),
    }
}

/// Implements Winsock/POSIX `shutdown`. On an established secure socket, SD_SEND and SD_BOTH send the
/// TLS close_notify before the TCP shutdown.
#[no_mangle]
pub extern "C" fn shutdown(fd: c_int, how: c_int) -> c_int {
    match table::lookup(fd) {
        // SAFETY: plain integers.
        None => plain("shutdown", unsafe { real::shutdown(fd, how) }),
        Some(sock) => guard("shutdown", SOCKET_ERROR, || {
            if !(0..=2).contains(&how) {
                return Err(Error::new(
                    WsaCode::EINVAL,
                    format!("shutdown: 'how' must be SD_RECEIVE, SD_SEND or SD_BOTH, not {how}"),
                ));
            }
            sock.shutdown(how).map(|()| 0)
        }),
    }
}

/// Implements POSIX `close`. A secure socket sends close_notify when it can without waiting, loses all
/// its state, and wakes any thread blocked on it (which then fails with WSAEINTR). If other descriptors
/// share the session (`dup`), only this number is closed.
#[no_mangle]
pub extern "C" fn close(fd: c_int) -> c_int {
    match table::remove(fd) {
        // SAFETY: plain integer.
        None => plain("close", unsafe { real::close(fd) }),
        Some(sock) => super::descriptors::close_secure(fd, sock, "close"),
    }
}

/// Implements Winsock `closesocket`: `close` for sockets; WSAENOTSOCK (and nothing closed) for a
/// descriptor that is not a socket.
#[no_mangle]
pub extern "C" fn closesocket(s: c_int) -> c_int {
    if let Some(sock) = table::remove(s) {
        return super::descriptors::close_secure(s, sock, "closesocket");
    }
    guard("closesocket", SOCKET_ERROR, || match fd::is_socket(s) {
        Ok(true) => fd::close(s)
            .map(|()| 0)
            .map_err(|e| Error::os(e, "closesocket")),
        _ => Err(Error::new(
            WsaCode::ENOTSOCK,
            format!("closesocket: descriptor {s} is not a socket"),
        )),
    })
}
