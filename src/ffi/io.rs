//! Data transfer: `send`, `recv`, `write`, `read`. On a secure socket all of them go through TLS
//! (plaintext only in the deferred window), so no byte leaves in the clear by another door.

use std::ffi::{c_int, c_void};

use libc::{size_t, ssize_t};

use super::{guard, in_bytes, out_bytes, plain};
use crate::error::{Error, Result, WsaCode};
use crate::secure::{RecvFlags, SecureSocket};
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

// ---- scatter/gather, addresses, messages ----

/// The caller's iovec array (at most IOV_MAX entries).
///
/// # Safety
/// `iov` valid for `count` entries when non-NULL.
unsafe fn iovecs<'a>(
    iov: *const libc::iovec,
    count: c_int,
    what: &'static str,
) -> Result<&'a [libc::iovec]> {
    if !(0..=1024).contains(&count) {
        return Err(Error::new(
            WsaCode::EINVAL,
            format!("{what}: {count} iovecs (0 to IOV_MAX allowed)"),
        ));
    }
    // SAFETY: the caller vouches for `count` entries.
    unsafe {
        in_bytes(
            iov.cast(),
            count as usize * std::mem::size_of::<libc::iovec>(),
            what,
        )
    }
    .map(|bytes| {
        // SAFETY: the bytes are the caller's iovec array (aligned as the C array it is).
        unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<libc::iovec>(), count as usize) }
    })
}

/// Receive into several buffers: the first waits as `flags` say, the next ones take only what is
/// already there.
fn recv_vectored(
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

/// Send several buffers as one stream of data (gathered, so small pieces share records).
fn send_vectored(
    sock: &SecureSocket,
    iov: &[libc::iovec],
    flags: c_int,
    what: &'static str,
) -> Result<usize> {
    const CHUNK: usize = 256 * 1024;
    let mut total = 0;
    let mut gathered: Vec<u8> = Vec::new();
    let mut pieces = iov.iter().filter(|v| v.iov_len > 0).peekable();
    while pieces.peek().is_some() {
        gathered.clear();
        while let Some(v) = pieces.peek() {
            if !gathered.is_empty() && gathered.len() + v.iov_len > CHUNK {
                break;
            }
            // SAFETY: each iovec describes readable memory of the caller's.
            gathered.extend_from_slice(unsafe { in_bytes(v.iov_base, v.iov_len, what) }?);
            pieces.next();
        }
        match sock.send(&gathered, flags) {
            Ok(n) => {
                total += n;
                if n < gathered.len() {
                    break;
                }
            }
            Err(e) if total > 0 && e.is_would_block() => break,
            Err(e) => return Err(e),
        }
    }
    Ok(total)
}

/// Implements POSIX `readv`; on a secure socket, decrypted data into the buffers in order.
///
/// # Safety
/// As libc's `readv`.
#[no_mangle]
pub unsafe extern "C" fn readv(fd: c_int, iov: *const libc::iovec, count: c_int) -> ssize_t {
    match table::lookup(fd) {
        // SAFETY: the caller's arguments, passed through.
        None => plain("readv", unsafe { real::readv(fd, iov, count) }),
        Some(sock) => guard("readv", -1, || {
            // SAFETY: the caller vouches for `count` iovecs.
            let iov = unsafe { iovecs(iov, count, "readv") }?;
            recv_vectored(&sock, iov, 0, "readv").map(|n| n as ssize_t)
        }),
    }
}

/// Implements POSIX `writev`; on a secure socket, the buffers' bytes encrypted as one stream.
///
/// # Safety
/// As libc's `writev`.
#[no_mangle]
pub unsafe extern "C" fn writev(fd: c_int, iov: *const libc::iovec, count: c_int) -> ssize_t {
    match table::lookup(fd) {
        // SAFETY: the caller's arguments, passed through.
        None => plain("writev", unsafe { real::writev(fd, iov, count) }),
        Some(sock) => guard("writev", -1, || {
            // SAFETY: the caller vouches for `count` iovecs.
            let iov = unsafe { iovecs(iov, count, "writev") }?;
            send_vectored(&sock, iov, 0, "writev").map(|n| n as ssize_t)
        }),
    }
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
    match table::lookup(fd) {
        // SAFETY: the caller's arguments, passed through.
        None => plain("sendto", unsafe {
            real::sendto(fd, buf, len, flags, addr, alen)
        }),
        Some(sock) => guard("sendto", -1, || {
            // SAFETY: the caller vouches for `len` readable bytes at `buf`.
            let data = unsafe { in_bytes(buf, len, "sendto") }?;
            sock.send(data, flags).map(|n| n as ssize_t)
        }),
    }
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
    match table::lookup(fd) {
        // SAFETY: the caller's arguments, passed through.
        None => plain("recvfrom", unsafe {
            real::recvfrom(fd, buf, len, flags, addr, alen)
        }),
        Some(sock) => guard("recvfrom", -1, || {
            // SAFETY: the caller vouches for `len` writable bytes at `buf`.
            let data = unsafe { out_bytes(buf, len, "recvfrom") }?;
            let n = sock.recv(data, RecvFlags::from_c(flags))?;
            if !alen.is_null() {
                // SAFETY: a non-NULL socklen_t of the caller's.
                unsafe { *alen = 0 };
            }
            Ok(n as ssize_t)
        }),
    }
}

/// Implements POSIX `sendmsg`; on a secure socket the iovecs as with `writev` (control data, which TLS
/// cannot carry, → WSAEOPNOTSUPP).
///
/// # Safety
/// As libc's `sendmsg`.
#[no_mangle]
pub unsafe extern "C" fn sendmsg(fd: c_int, msg: *const libc::msghdr, flags: c_int) -> ssize_t {
    match table::lookup(fd) {
        // SAFETY: the caller's arguments, passed through.
        None => plain("sendmsg", unsafe { real::sendmsg(fd, msg, flags) }),
        // SAFETY: the caller vouches for a valid msghdr.
        Some(sock) => guard("sendmsg", -1, || {
            // SAFETY: the caller vouches for the pointer it passed (a valid msghdr, or NULL / an off_t).
            unsafe { send_message(&sock, msg, flags) }.map(|n| n as ssize_t)
        }),
    }
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
    let iov = unsafe { iovecs(msg.msg_iov, msg.msg_iovlen as c_int, "sendmsg") }?;
    send_vectored(sock, iov, flags, "sendmsg")
}

/// Implements POSIX `recvmsg`; on a secure socket the iovecs as with `readv`, no address, no control data.
///
/// # Safety
/// As libc's `recvmsg`.
#[no_mangle]
pub unsafe extern "C" fn recvmsg(fd: c_int, msg: *mut libc::msghdr, flags: c_int) -> ssize_t {
    match table::lookup(fd) {
        // SAFETY: the caller's arguments, passed through.
        None => plain("recvmsg", unsafe { real::recvmsg(fd, msg, flags) }),
        // SAFETY: the caller vouches for a valid msghdr.
        Some(sock) => guard("recvmsg", -1, || {
            // SAFETY: the caller vouches for the pointer it passed (a valid msghdr, or NULL / an off_t).
            unsafe { recv_message(&sock, msg, flags) }.map(|n| n as ssize_t)
        }),
    }
}

/// # Safety
/// `msg` NULL or a valid msghdr.
unsafe fn recv_message(sock: &SecureSocket, msg: *mut libc::msghdr, flags: c_int) -> Result<usize> {
    // SAFETY: checked non-NULL; the caller's msghdr.
    let msg = unsafe { msg.as_mut() }.ok_or_else(|| super::fault("recvmsg"))?;
    // SAFETY: the msghdr's iovec array.
    let iov = unsafe { iovecs(msg.msg_iov, msg.msg_iovlen as c_int, "recvmsg") }?;
    let n = recv_vectored(sock, iov, flags, "recvmsg")?;
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
    let Some(sock) = table::lookup(fd) else {
        // SAFETY: the caller's arguments, passed through.
        return plain("sendmmsg", unsafe {
            real::sendmmsg(fd, msgs, count, flags)
        });
    };
    guard("sendmmsg", -1, || {
        if msgs.is_null() && count > 0 {
            return Err(super::fault("sendmmsg"));
        }
        let mut done = 0;
        for i in 0..count as usize {
            // SAFETY: the caller vouches for `count` entries.
            let entry = unsafe { &mut *msgs.add(i) };
            // SAFETY: a valid msghdr inside the caller's entry.
            match unsafe { send_message(&sock, &entry.msg_hdr, flags) } {
                Ok(n) => {
                    entry.msg_len = n as libc::c_uint;
                    done += 1;
                }
                Err(_) if done > 0 => break,
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    })
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
    let Some(sock) = table::lookup(fd) else {
        // SAFETY: the caller's arguments, passed through.
        return plain("recvmmsg", unsafe {
            real::recvmmsg(fd, msgs, count, flags, timeout)
        });
    };
    guard("recvmmsg", -1, || {
        if count == 0 {
            return Ok(0);
        }
        if msgs.is_null() {
            return Err(super::fault("recvmmsg"));
        }
        // SAFETY: at least one entry (count > 0), the caller's.
        let entry = unsafe { &mut *msgs };
        // SAFETY: a valid msghdr inside the caller's entry.
        let n = unsafe { recv_message(&sock, &mut entry.msg_hdr, flags & !libc::MSG_WAITFORONE) }?;
        entry.msg_len = n as libc::c_uint;
        Ok(1)
    })
}

/// `sendfile` onto a secure socket: the file's bytes are read and encrypted (never sent raw).
fn sendfile_secure(
    sock: &SecureSocket,
    input: c_int,
    offset: Option<&mut i64>,
    count: usize,
) -> Result<usize> {
    let mut buf = vec![0u8; count.clamp(1, 256 * 1024)];
    let mut total = 0;
    let mut position = offset.as_ref().map(|o| **o);
    while total < count {
        let want = (count - total).min(buf.len());
        // SAFETY: `buf` is valid for `want` bytes; pread/read on the caller's input descriptor
        // (sslsock does not export pread; read goes to libc's own).
        let got = unsafe {
            match position {
                Some(at) => libc::pread(input, buf.as_mut_ptr().cast(), want, at),
                None => real::read(input, buf.as_mut_ptr().cast(), want),
            }
        };
        if got < 0 {
            if total > 0 {
                break;
            }
            return Err(Error::last_os("sendfile (reading the input)"));
        }
        if got == 0 {
            break;
        }
        let sent = match sock.send(&buf[..got as usize], 0) {
            Ok(n) => n,
            Err(e) if total > 0 && e.is_would_block() => break,
            Err(e) => return Err(e),
        };
        total += sent;
        if let Some(p) = position.as_mut() {
            *p += sent as i64;
        }
        if sent < got as usize {
            break;
        }
    }
    if let (Some(o), Some(p)) = (offset, position) {
        *o = p;
    }
    Ok(total)
}

/// Implements Linux `sendfile`. Onto a secure socket the file is read and encrypted; from one,
/// sendfile is not possible (as for any socket input).
///
/// # Safety
/// As libc's `sendfile`.
#[no_mangle]
pub unsafe extern "C" fn sendfile(
    out: c_int,
    input: c_int,
    offset: *mut libc::off_t,
    count: size_t,
) -> ssize_t {
    match table::lookup(out) {
        // SAFETY: the caller's arguments, passed through.
        None => plain("sendfile", unsafe {
            real::sendfile(out, input, offset, count)
        }),
        // SAFETY: a non-NULL offset is the caller's off_t.
        Some(sock) => guard("sendfile", -1, || {
            // SAFETY: the caller vouches for the pointer it passed (a valid msghdr, or NULL / an off_t).
            sendfile_secure(&sock, input, unsafe { offset.as_mut() }, count).map(|n| n as ssize_t)
        }),
    }
}

/// Implements glibc `sendfile64`, as `sendfile`.
///
/// # Safety
/// As libc's `sendfile64`.
#[no_mangle]
pub unsafe extern "C" fn sendfile64(
    out: c_int,
    input: c_int,
    offset: *mut libc::off64_t,
    count: size_t,
) -> ssize_t {
    match table::lookup(out) {
        // SAFETY: the caller's arguments, passed through.
        None => plain("sendfile64", unsafe {
            real::sendfile64(out, input, offset, count)
        }),
        // SAFETY: a non-NULL offset is the caller's off64_t.
        Some(sock) => guard("sendfile64", -1, || {
            // SAFETY: the caller vouches for the pointer it passed (a valid msghdr, or NULL / an off_t).
            sendfile_secure(&sock, input, unsafe { offset.as_mut() }, count).map(|n| n as ssize_t)
        }),
    }
}

/// Implements Linux `splice`. Splicing into or out of a secure socket would move raw bytes past TLS,
/// so it fails with WSAEINVAL (EINVAL), which programs answer by falling back to read/write.
///
/// # Safety
/// As libc's `splice`.
#[no_mangle]
pub unsafe extern "C" fn splice(
    fd_in: c_int,
    off_in: *mut libc::loff_t,
    fd_out: c_int,
    off_out: *mut libc::loff_t,
    len: size_t,
    flags: libc::c_uint,
) -> ssize_t {
    if table::lookup(fd_in).is_some() || table::lookup(fd_out).is_some() {
        return guard("splice", -1, || {
            Err(Error::new(
                WsaCode::EINVAL,
                "splice: not possible on a secure socket (it would bypass TLS)",
            ))
        });
    }
    // SAFETY: the caller's arguments, passed through.
    plain("splice", unsafe {
        real::splice(fd_in, off_in, fd_out, off_out, len, flags)
    })
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
