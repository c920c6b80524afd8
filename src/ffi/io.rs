//! Data transfer: `send`, `recv`, `write`, `read`. On a secure socket all of them go through TLS
//! (plaintext only in the deferred window), so no byte leaves in the clear by another door.

use std::ffi::{c_int, c_void};

use libc::{size_t, ssize_t};

use super::{in_bytes, on_secure, out_bytes, plain};
use crate::error::{Error, Result, WsaCode};
use crate::secure::{RecvFlags, SecureSocket, SendFlags};
use crate::sys::real;
use crate::table;

/// Implements Winsock/POSIX `send`. On an established secure socket: encrypts the data and, on a
/// blocking socket, returns only when all of it is in the kernel (returns `len`).
///
/// # Safety
/// As libc's `send`: `buf` valid for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn send(fd: c_int, buf: *const c_void, len: size_t, flags: c_int) -> ssize_t {
    // SAFETY: the caller's arguments, passed through to libc.
    let libc_call = || unsafe { real::send(fd, buf, len, flags) };
    let n = match table::lookup(fd) {
        None => plain("send", libc_call()),
        Some(binding) => on_secure(
            "send",
            fd,
            binding,
            -1,
            |sock| {
                // SAFETY: the caller vouches for `len` readable bytes at `buf`.
                let data = unsafe { in_bytes(buf, len, "send") }?;
                sock.send(data, SendFlags::from_c(flags))
                    .map(|n| n as ssize_t)
            },
            libc_call,
        ),
    };
    super::events::after_send(fd, n < 0);
    n
}

/// Implements Winsock/POSIX `recv`. On a secure socket: decrypted data; 0 at the end of the stream.
///
/// # Safety
/// As libc's `recv`: `buf` valid for writes of `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn recv(fd: c_int, buf: *mut c_void, len: size_t, flags: c_int) -> ssize_t {
    // SAFETY: the caller's arguments, passed through to libc.
    let libc_call = || unsafe { real::recv(fd, buf, len, flags) };
    let n = match table::lookup(fd) {
        None => plain("recv", libc_call()),
        Some(binding) => on_secure(
            "recv",
            fd,
            binding,
            -1,
            |sock| {
                // SAFETY: the caller vouches for `len` writable bytes at `buf`.
                let data = unsafe { out_bytes(buf, len, "recv") }?;
                sock.recv(data, RecvFlags::from_c(flags))
                    .map(|n| n as ssize_t)
            },
            libc_call,
        ),
    };
    super::events::after_recv(fd);
    n
}

/// Implements POSIX `write`; on a secure socket, `send` with no flags.
///
/// # Safety
/// As libc's `write`.
#[no_mangle]
pub unsafe extern "C" fn write(fd: c_int, buf: *const c_void, len: size_t) -> ssize_t {
    // SAFETY: the caller's arguments, passed through to libc.
    let libc_call = || unsafe { real::write(fd, buf, len) };
    let n = match table::lookup(fd) {
        None => plain("write", libc_call()),
        Some(binding) => on_secure(
            "write",
            fd,
            binding,
            -1,
            |sock| {
                // SAFETY: the caller vouches for `len` readable bytes at `buf`.
                let data = unsafe { in_bytes(buf, len, "write") }?;
                sock.send(data, SendFlags::default()).map(|n| n as ssize_t)
            },
            libc_call,
        ),
    };
    super::events::after_send(fd, n < 0);
    n
}

/// Implements POSIX `read`; on a secure socket, `recv` with no flags.
///
/// # Safety
/// As libc's `read`.
#[no_mangle]
pub unsafe extern "C" fn read(fd: c_int, buf: *mut c_void, len: size_t) -> ssize_t {
    // SAFETY: the caller's arguments, passed through to libc.
    let libc_call = || unsafe { real::read(fd, buf, len) };
    let n = match table::lookup(fd) {
        None => plain("read", libc_call()),
        Some(binding) => on_secure(
            "read",
            fd,
            binding,
            -1,
            |sock| {
                // SAFETY: the caller vouches for `len` writable bytes at `buf`.
                let data = unsafe { out_bytes(buf, len, "read") }?;
                sock.recv(data, RecvFlags::default()).map(|n| n as ssize_t)
            },
            libc_call,
        ),
    };
    super::events::after_recv(fd);
    n
}

// ---- scatter/gather, addresses, messages ----

/// The most iovecs one call takes (Linux's UIO_MAXIOV, what `sysconf(_SC_IOV_MAX)` answers).
pub(super) const IOV_MAX: usize = 1024;

/// The caller's iovec array: `count` entries (0 to IOV_MAX, else EINVAL as libc answers; `sendmsg`
/// and `recvmsg` answer EMSGSIZE). A count of 0 needs no array (NULL is fine, as with libc); an array
/// that is not aligned for `iovec` is copied rather than referenced.
///
/// # Safety
/// `iov` valid for `count` entries when non-NULL.
pub(super) unsafe fn iovecs<'a>(
    iov: *const libc::iovec,
    count: usize,
    what: &'static str,
) -> Result<std::borrow::Cow<'a, [libc::iovec]>> {
    if count > IOV_MAX {
        return Err(if what.ends_with("msg") {
            Error::os(libc::EMSGSIZE, what)
        } else {
            Error::new(
                WsaCode::EINVAL,
                format!("{what}: {count} iovecs (0 to IOV_MAX = {IOV_MAX} allowed)"),
            )
        });
    }
    if count == 0 {
        return Ok(std::borrow::Cow::Borrowed(&[]));
    }
    if iov.is_null() {
        return Err(super::fault(what));
    }
    let entries = if iov.is_aligned() {
        // SAFETY: non-NULL, aligned, and the caller vouches for `count` entries.
        std::borrow::Cow::Borrowed(unsafe { std::slice::from_raw_parts(iov, count) })
    } else {
        // SAFETY: as above, read entry by entry without the alignment the slice would need.
        std::borrow::Cow::Owned(
            (0..count)
                .map(|i| unsafe { iov.add(i).read_unaligned() })
                .collect(),
        )
    };
    // As the kernel: the lengths must add up to a count a call can return.
    let sum = entries
        .iter()
        .try_fold(0usize, |sum, v| sum.checked_add(v.iov_len));
    if sum.is_none_or(|n| n > isize::MAX as usize) {
        return Err(Error::new(
            WsaCode::EINVAL,
            format!("{what}: the iovec lengths add up to more than SSIZE_MAX"),
        ));
    }
    Ok(entries)
}

/// A C iovec count: negative is EINVAL, as libc answers.
pub(super) fn iov_count(count: c_int, what: &'static str) -> Result<usize> {
    usize::try_from(count).map_err(|_| {
        Error::new(
            WsaCode::EINVAL,
            format!("{what}: {count} iovecs (0 to IOV_MAX = {IOV_MAX} allowed)"),
        )
    })
}

/// Receive into several buffers: the first waits as `flags` say, the next ones take only what is
/// already there.
pub(super) fn recv_vectored(
    sock: &SecureSocket,
    iov: &[libc::iovec],
    flags: c_int,
    what: &'static str,
) -> Result<usize> {
    let mut total = 0;
    for (i, v) in iov.iter().enumerate() {
        if v.iov_len == 0 {
            continue;
        }
        // SAFETY: each iovec describes writable memory of the caller's.
        let buf = unsafe { out_bytes(v.iov_base, v.iov_len, what) }?;
        let mut f = RecvFlags::from_c(flags);
        f.dont_wait |= total > 0;
        match sock.recv(buf, f) {
            Ok(n) => {
                total += n;
                if n < buf.len() {
                    break;
                }
            }
            Err(e) if total > 0 && (e.is_would_block() || i > 0) => break,
            Err(e) => return Err(e),
        }
    }
    Ok(total)
}

/// Send several buffers as one stream of data: small pieces are gathered (up to one record) so that
/// they share records; a large piece is encrypted where it lies, never copied. Stops at the first piece
/// the socket does not take whole (a non-blocking socket with a full buffer).
pub(super) fn send_vectored(
    sock: &SecureSocket,
    iov: &[libc::iovec],
    flags: c_int,
    what: &'static str,
) -> Result<usize> {
    const GATHER: usize = 16 * 1024;
    let mut total = 0;
    // Ok(true): all of `bytes` was taken.
    let push = |bytes: &[u8], total: &mut usize| -> Result<bool> {
        if bytes.is_empty() {
            return Ok(true);
        }
        match sock.send(bytes, SendFlags::from_c(flags)) {
            Ok(n) => {
                *total += n;
                Ok(n == bytes.len())
            }
            Err(e) if *total > 0 && e.is_would_block() => Ok(false),
            Err(e) => Err(e),
        }
    };
    let mut gathered: Vec<u8> = Vec::new();
    for v in iov.iter().filter(|v| v.iov_len > 0) {
        // SAFETY: each iovec describes readable memory of the caller's.
        let piece = unsafe { in_bytes(v.iov_base, v.iov_len, what) }?;
        if gathered.len() + piece.len() <= GATHER {
            gathered.extend_from_slice(piece);
            continue;
        }
        if !push(&gathered, &mut total)? {
            return Ok(total);
        }
        gathered.clear();
        if piece.len() < GATHER {
            gathered.extend_from_slice(piece);
        } else if !push(piece, &mut total)? {
            return Ok(total);
        }
    }
    push(&gathered, &mut total)?;
    Ok(total)
}

/// Implements POSIX `readv`; on a secure socket, decrypted data into the buffers in order.
///
/// # Safety
/// As libc's `readv`.
#[no_mangle]
pub unsafe extern "C" fn readv(fd: c_int, iov: *const libc::iovec, count: c_int) -> ssize_t {
    // SAFETY: the caller's arguments, passed through to libc.
    let libc_call = || unsafe { real::readv(fd, iov, count) };
    let n = match table::lookup(fd) {
        None => plain("readv", libc_call()),
        Some(binding) => on_secure(
            "readv",
            fd,
            binding,
            -1,
            |sock| {
                // SAFETY: the caller vouches for `count` iovecs.
                let iov = unsafe { iovecs(iov, iov_count(count, "readv")?, "readv") }?;
                recv_vectored(sock, &iov, 0, "readv").map(|n| n as ssize_t)
            },
            libc_call,
        ),
    };
    super::events::after_recv(fd);
    n
}

/// Implements POSIX `writev`; on a secure socket, the buffers' bytes encrypted as one stream.
///
/// # Safety
/// As libc's `writev`.
#[no_mangle]
pub unsafe extern "C" fn writev(fd: c_int, iov: *const libc::iovec, count: c_int) -> ssize_t {
    // SAFETY: the caller's arguments, passed through to libc.
    let libc_call = || unsafe { real::writev(fd, iov, count) };
    let n = match table::lookup(fd) {
        None => plain("writev", libc_call()),
        Some(binding) => on_secure(
            "writev",
            fd,
            binding,
            -1,
            |sock| {
                // SAFETY: the caller vouches for `count` iovecs.
                let iov = unsafe { iovecs(iov, iov_count(count, "writev")?, "writev") }?;
                send_vectored(sock, &iov, 0, "writev").map(|n| n as ssize_t)
            },
            libc_call,
        ),
    };
    super::events::after_send(fd, n < 0);
    n
}

/// Implements POSIX `sendto`; on a (connected) secure socket the address is ignored, as for TCP.
///
/// # Safety
/// As libc's `sendto`.
#[no_mangle]
pub unsafe extern "C" fn sendto(
    fd: c_int,
    buf: *const c_void,
    len: size_t,
    flags: c_int,
    addr: *const libc::sockaddr,
    alen: libc::socklen_t,
) -> ssize_t {
    // SAFETY: the caller's arguments, passed through to libc.
    let libc_call = || unsafe { real::sendto(fd, buf, len, flags, addr, alen) };
    let n = match table::lookup(fd) {
        None => plain("sendto", libc_call()),
        Some(binding) => on_secure(
            "sendto",
            fd,
            binding,
            -1,
            |sock| {
                // SAFETY: the caller vouches for `len` readable bytes at `buf`.
                let data = unsafe { in_bytes(buf, len, "sendto") }?;
                sock.send(data, SendFlags::from_c(flags))
                    .map(|n| n as ssize_t)
            },
            libc_call,
        ),
    };
    super::events::after_send(fd, n < 0);
    n
}

/// Implements POSIX `recvfrom`; on a secure socket as `recv`, with no address returned (`*alen` = 0).
///
/// # Safety
/// As libc's `recvfrom`.
#[no_mangle]
pub unsafe extern "C" fn recvfrom(
    fd: c_int,
    buf: *mut c_void,
    len: size_t,
    flags: c_int,
    addr: *mut libc::sockaddr,
    alen: *mut libc::socklen_t,
) -> ssize_t {
    // SAFETY: the caller's arguments, passed through to libc.
    let libc_call = || unsafe { real::recvfrom(fd, buf, len, flags, addr, alen) };
    let n = match table::lookup(fd) {
        None => plain("recvfrom", libc_call()),
        Some(binding) => on_secure(
            "recvfrom",
            fd,
            binding,
            -1,
            |sock| {
                // SAFETY: the caller vouches for `len` writable bytes at `buf`.
                let data = unsafe { out_bytes(buf, len, "recvfrom") }?;
                let n = sock.recv(data, RecvFlags::from_c(flags))?;
                if !alen.is_null() {
                    // SAFETY: a non-NULL socklen_t of the caller's.
                    unsafe { *alen = 0 };
                }
                Ok(n as ssize_t)
            },
            libc_call,
        ),
    };
    super::events::after_recv(fd);
    n
}

impl RecvFlags {
    /// From the C flag word of `recv`/`recvfrom`/`recvmsg`.
    pub fn from_c(flags: c_int) -> RecvFlags {
        RecvFlags {
            peek: flags & libc::MSG_PEEK != 0,
            wait_all: flags & libc::MSG_WAITALL != 0,
            dont_wait: flags & libc::MSG_DONTWAIT != 0,
            oob: flags & libc::MSG_OOB != 0,
        }
    }
}

impl SendFlags {
    /// From the C flag word of `send`/`sendto`/`sendmsg`.
    pub fn from_c(flags: c_int) -> SendFlags {
        SendFlags {
            dont_wait: flags & libc::MSG_DONTWAIT != 0,
            oob: flags & libc::MSG_OOB != 0,
            more: flags & libc::MSG_MORE != 0,
        }
    }
}
