//! Socket lifecycle: `socket`, `connect`, `shutdown`, `close`, `closesocket`.

use std::ffi::c_int;

use super::{guard, on_secure, plain, SOCKET_ERROR};
use crate::error::{Error, WsaCode};
use crate::secure::Shut;
use crate::sys::{fd, real};
use crate::table;

/// Implements Winsock/POSIX `socket`: a plain socket from libc. A descriptor number that still had
/// secure state (closed behind sslsock's back, e.g. by a raw system call) starts clean.
#[no_mangle]
pub extern "C" fn socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int {
    // SAFETY: libc's socket takes plain integers.
    let s = plain("socket", unsafe { real::socket(domain, ty, protocol) });
    if s >= 0 && table::maybe_secure(s) {
        guard("socket", (), || {
            table::forget(s);
            Ok(())
        });
    }
    s
}

/// Implements Winsock/POSIX `connect`. On a secure socket in immediate mode: the TCP connection and
/// the whole TLS handshake, returning 0 only if the handshake completed and the certificate was
/// accepted (else SOCKET_ERROR with WSAECONNABORTED). In deferred mode: the TCP connection only.
/// The socket's settings freeze when it starts.
///
/// # Safety
/// As libc's `connect`: `addr` valid for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn connect(
    fd: c_int,
    addr: *const libc::sockaddr,
    len: libc::socklen_t,
) -> c_int {
    // SAFETY: the caller's arguments, passed through to libc.
    let libc_call = || unsafe { real::connect(fd, addr, len) };
    let rc = match table::lookup(fd) {
        None => {
            let rc = libc_call();
            if rc < 0 && crate::error::errno() == libc::EINPROGRESS {
                // Windows: a non-blocking connect under way is WSAEWOULDBLOCK (CE code compares
                // WSAGetLastError() with it); errno stays EINPROGRESS, as POSIX code expects.
                crate::error::record_os_as("connect", crate::error::WsaCode::EWOULDBLOCK);
                rc
            } else {
                plain("connect", rc)
            }
        }
        Some(binding) => on_secure(
            "connect",
            fd,
            binding,
            SOCKET_ERROR,
            |sock| {
                // SAFETY: the caller vouches for `len` readable bytes at `addr`.
                let addr = unsafe { fd::SockAddr::copy_from(addr, len) }
                    .ok_or_else(|| super::fault("connect"))?;
                sock.connect(&addr).map(|()| 0)
            },
            libc_call,
        ),
    };
    super::events::after_connect(fd, rc);
    rc
}

/// Implements glibc `__connect`, as `connect`.
///
/// # Safety
/// As libc's `connect`.
#[no_mangle]
pub unsafe extern "C" fn __connect(
    fd: c_int,
    addr: *const libc::sockaddr,
    len: libc::socklen_t,
) -> c_int {
    // SAFETY: as `connect`.
    unsafe { connect(fd, addr, len) }
}

/// Implements Winsock/POSIX `shutdown`. On an established secure socket, SD_SEND and SD_BOTH send the
/// TLS close_notify before the TCP shutdown.
#[no_mangle]
pub extern "C" fn shutdown(fd: c_int, how: c_int) -> c_int {
    // SAFETY: plain integers.
    let libc_call = || unsafe { real::shutdown(fd, how) };
    match table::lookup(fd) {
        None => plain("shutdown", libc_call()),
        Some(binding) => on_secure(
            "shutdown",
            fd,
            binding,
            SOCKET_ERROR,
            |sock| {
                if !(0..=2).contains(&how) {
                    return Err(Error::new(
                        WsaCode::EINVAL,
                        format!(
                            "shutdown: 'how' must be SD_RECEIVE, SD_SEND or SD_BOTH, not {how}"
                        ),
                    ));
                }
                let how = match how {
                    libc::SHUT_RD => Shut::Read,
                    libc::SHUT_WR => Shut::Write,
                    _ => Shut::Both,
                };
                sock.shutdown(how).map(|()| 0)
            },
            libc_call,
        ),
    }
}

/// Implements POSIX `close`. A secure socket sends close_notify when it can without waiting, is shut
/// down in the kernel, loses all its state, and wakes any thread blocked on it (which then fails with
/// WSAEINTR). If other descriptors share the session (`dup`), only this number is closed.
#[no_mangle]
pub extern "C" fn close(fd: c_int) -> c_int {
    if crate::hidden::is_hidden(fd) {
        return not_the_programs(fd, "close");
    }
    super::events::before_close(fd);
    match table::lookup(fd) {
        None => {
            // An epoll set that holds secure sockets: its inner set goes with its last number.
            super::epoll::forget(fd);
            // SAFETY: plain integer.
            plain("close", unsafe { real::close(fd) })
        }
        Some(binding) => super::descriptors::close_secure(fd, &binding, "close")
            // SAFETY: plain integer (a stale number, now libc's).
            .unwrap_or_else(|| plain("close", unsafe { real::close(fd) })),
    }
}

/// One of sslsock's own descriptors (`crate::hidden`): not the program's to close, so the answer
/// is the one for a number it never opened (EBADF; WSAENOTSOCK to Winsock).
fn not_the_programs(fd: c_int, call: &'static str) -> c_int {
    crate::error::record(
        &Error::new(
            WsaCode::ENOTSOCK,
            format!("{call}: descriptor {fd} is not open (sslsock's own)"),
        )
        .with_errno(libc::EBADF),
    );
    -1
}

/// Implements glibc `__close`, as `close`.
#[no_mangle]
pub extern "C" fn __close(fd: c_int) -> c_int {
    close(fd)
}

/// Implements Winsock `closesocket`: `close` for sockets; WSAENOTSOCK (and nothing closed) for a
/// descriptor that is not a socket.
#[no_mangle]
pub extern "C" fn closesocket(s: c_int) -> c_int {
    if crate::hidden::is_hidden(s) {
        return not_the_programs(s, "closesocket");
    }
    super::events::before_close(s);
    if let Some(binding) = table::lookup(s) {
        if let Some(rc) = super::descriptors::close_secure(s, &binding, "closesocket") {
            return rc;
        }
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
