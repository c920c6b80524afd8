//! The message forms of data transfer: `sendmsg`, `recvmsg`, `sendmmsg`, `recvmmsg`. On a secure socket
//! the iovecs go through TLS as with `writev`/`readv`; control data, which TLS cannot carry, is refused,
//! and descriptors received over SCM_RIGHTS are recognised (a copy of a secure socket shares its session).

use std::ffi::c_int;

use libc::ssize_t;

use super::io::{iovecs, recv_vectored, send_vectored, IOV_MAX};
use super::{guard, on_secure, plain};
use crate::error::{Error, Result, WsaCode};
use crate::secure::SecureSocket;
use crate::sys::real;
use crate::table;

/// Implements POSIX `sendmsg`; on a secure socket the iovecs as with `writev` (control data, which TLS
/// cannot carry, → WSAEOPNOTSUPP).
///
/// # Safety
/// As libc's `sendmsg`.
#[no_mangle]
pub unsafe extern "C" fn sendmsg(fd: c_int, msg: *const libc::msghdr, flags: c_int) -> ssize_t {
    // SAFETY: the caller's arguments, passed through to libc.
    unsafe { sendmsg_with(fd, msg, flags, || real::sendmsg(fd, msg, flags)) }
}

/// `sendmsg` with `libc_call` as libc's function (`sendmsg`, or `__sendmsg64` for a 32-bit
/// `_TIME_BITS=64` program: the msghdr is the same).
///
/// # Safety
/// As libc's `sendmsg`; `libc_call` is libc's call with the same arguments.
pub unsafe fn sendmsg_with(
    fd: c_int,
    msg: *const libc::msghdr,
    flags: c_int,
    libc_call: impl FnOnce() -> ssize_t,
) -> ssize_t {
    let n = match table::lookup(fd) {
        None => plain("sendmsg", libc_call()),
        Some(binding) => on_secure(
            "sendmsg",
            fd,
            binding,
            -1,
            |sock| {
                // SAFETY: the caller vouches for the pointer it passed (a valid msghdr, or NULL / an off_t).
                unsafe { send_message(sock, msg, flags) }.map(|n| n as ssize_t)
            },
            libc_call,
        ),
    };
    super::events::after_send(fd, n < 0);
    n
}

/// # Safety
/// `msg` NULL or a valid msghdr.
unsafe fn send_message(
    sock: &SecureSocket,
    msg: *const libc::msghdr,
    flags: c_int,
) -> Result<usize> {
    // SAFETY: checked non-NULL; the caller's msghdr.
    let msg = unsafe { msg.as_ref() }.ok_or_else(|| super::fault("sendmsg"))?;
    if msg.msg_controllen > 0 {
        return Err(Error::new(
            WsaCode::EOPNOTSUPP,
            "sendmsg: control data cannot travel over TLS",
        ));
    }
    // SAFETY: the msghdr's iovec array.
    let iov = unsafe { iovecs(msg.msg_iov, msg.msg_iovlen, "sendmsg") }?;
    send_vectored(sock, &iov, flags, "sendmsg")
}

/// Implements POSIX `recvmsg`; on a secure socket the iovecs as with `readv`, no address, no control data.
///
/// # Safety
/// As libc's `recvmsg`.
#[no_mangle]
pub unsafe extern "C" fn recvmsg(fd: c_int, msg: *mut libc::msghdr, flags: c_int) -> ssize_t {
    // SAFETY: the caller's arguments, passed through to libc.
    unsafe { recvmsg_with(fd, msg, flags, || real::recvmsg(fd, msg, flags)) }
}

/// `recvmsg` with `libc_call` as libc's function (`recvmsg`, or `__recvmsg64`).
///
/// # Safety
/// As libc's `recvmsg`; `libc_call` is libc's call with the same arguments.
pub unsafe fn recvmsg_with(
    fd: c_int,
    msg: *mut libc::msghdr,
    flags: c_int,
    libc_call: impl FnOnce() -> ssize_t,
) -> ssize_t {
    let n = match table::lookup(fd) {
        None => {
            let n = plain("recvmsg", libc_call());
            if n >= 0 && table::any_secure() {
                // SAFETY: libc just filled the caller's msghdr.
                unsafe { adopt_received(msg) };
            }
            n
        }
        Some(binding) => on_secure(
            "recvmsg",
            fd,
            binding,
            -1,
            |sock| {
                // SAFETY: the caller vouches for the pointer it passed (a valid msghdr, or NULL / an off_t).
                unsafe { recv_message(sock, msg, flags) }.map(|n| n as ssize_t)
            },
            libc_call,
        ),
    };
    super::events::after_recv(fd);
    n
}

/// Descriptors received over SCM_RIGHTS (in a message libc just filled) are new numbers, possibly
/// copies of a secure socket: see `descriptors::adopt`.
///
/// # Safety
/// `msg` NULL or a msghdr libc has just filled.
unsafe fn adopt_received(msg: *const libc::msghdr) {
    // SAFETY: the caller's msghdr, as libc left it.
    let Some(msg) = (unsafe { msg.as_ref() }) else {
        return;
    };
    if msg.msg_control.is_null() || msg.msg_controllen == 0 {
        return;
    }
    guard("recvmsg", (), || {
        // SAFETY: walking the control data libc wrote, with libc's own CMSG macros.
        let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(msg) };
        while !cmsg.is_null() {
            // SAFETY: a header inside the control buffer (CMSG_FIRSTHDR/NXTHDR check the bounds).
            let header = unsafe { cmsg.read_unaligned() };
            if header.cmsg_level == libc::SOL_SOCKET && header.cmsg_type == libc::SCM_RIGHTS {
                // SAFETY: CMSG_LEN(0) is the header's size.
                let start = unsafe { libc::CMSG_LEN(0) } as usize;
                let count =
                    (header.cmsg_len as usize).saturating_sub(start) / std::mem::size_of::<c_int>();
                // SAFETY: the data of an SCM_RIGHTS message is `count` ints.
                let data = unsafe { libc::CMSG_DATA(cmsg) }.cast::<c_int>();
                for i in 0..count {
                    // SAFETY: within the message's data, read without alignment.
                    super::descriptors::adopt(unsafe { data.add(i).read_unaligned() });
                }
            }
            // SAFETY: the next header within the control buffer, or NULL.
            cmsg = unsafe { libc::CMSG_NXTHDR(msg, cmsg) };
        }
        Ok(())
    });
}

/// # Safety
/// `msg` NULL or a valid msghdr.
unsafe fn recv_message(sock: &SecureSocket, msg: *mut libc::msghdr, flags: c_int) -> Result<usize> {
    // SAFETY: checked non-NULL; the caller's msghdr.
    let msg = unsafe { msg.as_mut() }.ok_or_else(|| super::fault("recvmsg"))?;
    // SAFETY: the msghdr's iovec array.
    let iov = unsafe { iovecs(msg.msg_iov, msg.msg_iovlen, "recvmsg") }?;
    let n = recv_vectored(sock, &iov, flags, "recvmsg")?;
    msg.msg_namelen = 0;
    msg.msg_controllen = 0;
    msg.msg_flags = 0;
    Ok(n)
}

/// Implements Linux `sendmmsg`; on a secure socket, each message in turn as `sendmsg`.
///
/// # Safety
/// As libc's `sendmmsg`.
#[no_mangle]
pub unsafe extern "C" fn sendmmsg(
    fd: c_int,
    msgs: *mut libc::mmsghdr,
    count: libc::c_uint,
    flags: c_int,
) -> c_int {
    // SAFETY: the caller's arguments, passed through to libc.
    unsafe {
        sendmmsg_with(fd, msgs, count, flags, || {
            real::sendmmsg(fd, msgs, count, flags)
        })
    }
}

/// `sendmmsg` with `libc_call` as libc's function (`sendmmsg`, or `__sendmmsg64`).
///
/// # Safety
/// As libc's `sendmmsg`; `libc_call` is libc's call with the same arguments.
pub unsafe fn sendmmsg_with(
    fd: c_int,
    msgs: *mut libc::mmsghdr,
    count: libc::c_uint,
    flags: c_int,
    libc_call: impl FnOnce() -> c_int,
) -> c_int {
    let Some(binding) = table::lookup(fd) else {
        return plain("sendmmsg", libc_call());
    };
    on_secure(
        "sendmmsg",
        fd,
        binding,
        -1,
        |sock| {
            // The kernel sends at most UIO_MAXIOV messages per call, whatever the count says.
            let count = count.min(IOV_MAX as libc::c_uint);
            if msgs.is_null() && count > 0 {
                return Err(super::fault("sendmmsg"));
            }
            let mut done = 0;
            for i in 0..count as usize {
                // SAFETY: the caller vouches for `count` entries.
                let entry = unsafe { &mut *msgs.add(i) };
                // SAFETY: a valid msghdr inside the caller's entry.
                match unsafe { send_message(sock, &entry.msg_hdr, flags) } {
                    Ok(n) => {
                        entry.msg_len = n as libc::c_uint;
                        done += 1;
                    }
                    Err(_) if done > 0 => break,
                    Err(e) => return Err(e),
                }
            }
            Ok(done)
        },
        libc_call,
    )
}

/// Implements Linux `recvmmsg`; on a secure socket, one message (the stream has no boundaries).
///
/// # Safety
/// As libc's `recvmmsg`.
#[no_mangle]
pub unsafe extern "C" fn recvmmsg(
    fd: c_int,
    msgs: *mut libc::mmsghdr,
    count: libc::c_uint,
    flags: c_int,
    timeout: *mut libc::timespec,
) -> c_int {
    // SAFETY: the caller's arguments, passed through to libc.
    unsafe {
        recvmmsg_with(fd, msgs, count, flags, || {
            real::recvmmsg(fd, msgs, count, flags, timeout)
        })
    }
}

/// `recvmmsg` with `libc_call` as libc's function (`recvmmsg`, or `__recvmmsg64`, whose timeout is a
/// 64-bit timespec; on a secure socket the timeout plays no part either way: one message is read).
///
/// # Safety
/// As libc's `recvmmsg`; `libc_call` is libc's call with the same arguments.
pub unsafe fn recvmmsg_with(
    fd: c_int,
    msgs: *mut libc::mmsghdr,
    count: libc::c_uint,
    flags: c_int,
    libc_call: impl FnOnce() -> c_int,
) -> c_int {
    let Some(binding) = table::lookup(fd) else {
        let n = plain("recvmmsg", libc_call());
        if n > 0 && table::any_secure() {
            for i in 0..n as usize {
                // SAFETY: libc filled the first `n` of the caller's entries.
                unsafe { adopt_received(&(*msgs.add(i)).msg_hdr) };
            }
        }
        return n;
    };
    on_secure(
        "recvmmsg",
        fd,
        binding,
        -1,
        |sock| {
            if count == 0 {
                return Ok(0);
            }
            if msgs.is_null() {
                return Err(super::fault("recvmmsg"));
            }
            // SAFETY: at least one entry (count > 0), the caller's.
            let entry = unsafe { &mut *msgs };
            // SAFETY: a valid msghdr inside the caller's entry.
            let n =
                unsafe { recv_message(sock, &mut entry.msg_hdr, flags & !libc::MSG_WAITFORONE) }?;
            entry.msg_len = n as libc::c_uint;
            Ok(1)
        },
        libc_call,
    )
}
