//! Data transfer: `send`, `recv`, `write`, `read`. On a secure socket all of them go through TLS
//! (plaintext only in the deferred window), so no byte leaves in the clear by another door.

use std::ffi::{c_int, c_void};

use libc::{size_t, ssize_t};

use super::{guard, in_bytes, on_secure, out_bytes, plain};
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
    match table::lookup(fd) {
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
    }
}

/// Implements Winsock/POSIX `recv`. On a secure socket: decrypted data; 0 at the end of the stream.
///
/// # Safety
/// As libc's `recv`: `buf` valid for writes of `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn recv(fd: c_int, buf: *mut c_void, len: size_t, flags: c_int) -> ssize_t {
    // SAFETY: the caller's arguments, passed through to libc.
    let libc_call = || unsafe { real::recv(fd, buf, len, flags) };
    match table::lookup(fd) {
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
    }
}

/// Implements POSIX `write`; on a secure socket, `send` with no flags.
///
/// # Safety
/// As libc's `write`.
#[no_mangle]
pub unsafe extern "C" fn write(fd: c_int, buf: *const c_void, len: size_t) -> ssize_t {
    // SAFETY: the caller's arguments, passed through to libc.
    let libc_call = || unsafe { real::write(fd, buf, len) };
    match table::lookup(fd) {
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
    }
}

/// Implements POSIX `read`; on a secure socket, `recv` with no flags.
///
/// # Safety
/// As libc's `read`.
#[no_mangle]
pub unsafe extern "C" fn read(fd: c_int, buf: *mut c_void, len: size_t) -> ssize_t {
    // SAFETY: the caller's arguments, passed through to libc.
    let libc_call = || unsafe { real::read(fd, buf, len) };
    match table::lookup(fd) {
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
    }
}

// ---- scatter/gather, addresses, messages ----

/// The most iovecs one call takes (Linux's UIO_MAXIOV, what `sysconf(_SC_IOV_MAX)` answers).
const IOV_MAX: usize = 1024;

/// The caller's iovec array: `count` entries (0 to IOV_MAX, else EINVAL as libc answers; `sendmsg`
/// and `recvmsg` answer EMSGSIZE). A count of 0 needs no array (NULL is fine, as with libc); an array
/// that is not aligned for `iovec` is copied rather than referenced.
///
/// # Safety
/// `iov` valid for `count` entries when non-NULL.
unsafe fn iovecs<'a>(
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
fn iov_count(count: c_int, what: &'static str) -> Result<usize> {
    usize::try_from(count).map_err(|_| {
        Error::new(
            WsaCode::EINVAL,
            format!("{what}: {count} iovecs (0 to IOV_MAX = {IOV_MAX} allowed)"),
        )
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

/// Send several buffers as one stream of data: small pieces are gathered (up to one record) so that
/// they share records; a large piece is encrypted where it lies, never copied. Stops at the first piece
/// the socket does not take whole (a non-blocking socket with a full buffer).
fn send_vectored(
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
    match table::lookup(fd) {
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
    }
}

/// Implements POSIX `writev`; on a secure socket, the buffers' bytes encrypted as one stream.
///
/// # Safety
/// As libc's `writev`.
#[no_mangle]
pub unsafe extern "C" fn writev(fd: c_int, iov: *const libc::iovec, count: c_int) -> ssize_t {
    // SAFETY: the caller's arguments, passed through to libc.
    let libc_call = || unsafe { real::writev(fd, iov, count) };
    match table::lookup(fd) {
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
    // SAFETY: the caller's arguments, passed through to libc.
    let libc_call = || unsafe { real::sendto(fd, buf, len, flags, addr, alen) };
    match table::lookup(fd) {
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
    // SAFETY: the caller's arguments, passed through to libc.
    let libc_call = || unsafe { real::recvfrom(fd, buf, len, flags, addr, alen) };
    match table::lookup(fd) {
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
    }
}

/// Implements POSIX `sendmsg`; on a secure socket the iovecs as with `writev` (control data, which TLS
/// cannot carry, → WSAEOPNOTSUPP).
///
/// # Safety
/// As libc's `sendmsg`.
#[no_mangle]
pub unsafe extern "C" fn sendmsg(fd: c_int, msg: *const libc::msghdr, flags: c_int) -> ssize_t {
    // SAFETY: the caller's arguments, passed through to libc.
    let libc_call = || unsafe { real::sendmsg(fd, msg, flags) };
    match table::lookup(fd) {
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
    let libc_call = || unsafe { real::recvmsg(fd, msg, flags) };
    match table::lookup(fd) {
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
    }
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
    let libc_call = || unsafe { real::sendmmsg(fd, msgs, count, flags) };
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
    let libc_call = || unsafe { real::recvmmsg(fd, msgs, count, flags, timeout) };
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

/// `sendfile` onto a secure socket: the file's bytes are read and encrypted (never sent raw).
/// `offset` is the caller's offset widened to 64 bits (None: the input's own file position);
/// `limit` is the largest offset the caller's offset type holds (`off_t` is 32 bits on 32-bit
/// targets unless the program was built with `_FILE_OFFSET_BITS=64`): as the kernel's `sendfile`,
/// EOVERFLOW when the offset is already there, and no more than reaches it.
fn sendfile_secure(
    sock: &SecureSocket,
    input: c_int,
    offset: Option<&mut i64>,
    limit: i64,
    count: usize,
) -> Result<usize> {
    let mut position = offset.as_ref().map(|o| **o);
    let mut count = count;
    if let Some(at) = position {
        if at < 0 {
            return Err(Error::os(libc::EINVAL, "sendfile"));
        }
        if at >= limit {
            return Err(Error::os(libc::EOVERFLOW, "sendfile"));
        }
        count = count.min(usize::try_from(limit - at).unwrap_or(usize::MAX));
    }
    let mut buf = vec![0u8; count.clamp(1, 256 * 1024)];
    let mut total = 0;
    while total < count {
        let want = (count - total).min(buf.len());
        // SAFETY: `buf` is valid for `want` bytes; pread64/read on the caller's input descriptor
        // (sslsock exports neither pread nor pread64; read goes to libc's own). pread64 takes a
        // 64-bit offset on every target.
        let got = unsafe {
            match position {
                Some(at) => libc::pread64(input, buf.as_mut_ptr().cast(), want, at),
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
        let sent = match sock.send(&buf[..got as usize], SendFlags::default()) {
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

/// `sendfile_secure` for an offset of type `O` (`off_t` or `off64_t`): widened to 64 bits for the
/// call, and the advanced offset written back (it fits: `sendfile_secure` stops at `O`'s maximum).
///
/// # Safety
/// `offset` NULL or valid for reads and writes of an `O`.
unsafe fn sendfile_offset<O>(
    sock: &SecureSocket,
    input: c_int,
    offset: *mut O,
    limit: O,
    count: usize,
) -> Result<usize>
where
    O: Copy + Into<i64> + TryFrom<i64>,
{
    // SAFETY: the caller vouches for `offset` (NULL or a valid, writable O).
    let slot = unsafe { offset.as_mut() };
    let mut position = slot.as_ref().map(|o| wide(**o));
    let sent = sendfile_secure(sock, input, position.as_mut(), wide(limit), count)?;
    if let (Some(slot), Some(p)) = (slot, position) {
        match O::try_from(p) {
            Ok(v) => *slot = v,
            // Unreachable: sendfile_secure never moves the offset past `limit`.
            Err(_) => return Err(Error::os(libc::EOVERFLOW, "sendfile")),
        }
    }
    Ok(sent)
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
    // SAFETY: the caller's arguments, passed through to libc.
    let libc_call = || unsafe { real::sendfile(out, input, offset, count) };
    match table::lookup(out) {
        None => plain("sendfile", libc_call()),
        Some(binding) => on_secure(
            "sendfile",
            out,
            binding,
            -1,
            |sock| {
                // SAFETY: the caller vouches for the pointer it passed (NULL or a valid off_t).
                unsafe { sendfile_offset(sock, input, offset, libc::off_t::MAX, count) }
                    .map(|n| n as ssize_t)
            },
            libc_call,
        ),
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
    // SAFETY: the caller's arguments, passed through to libc.
    let libc_call = || unsafe { real::sendfile64(out, input, offset, count) };
    match table::lookup(out) {
        None => plain("sendfile64", libc_call()),
        Some(binding) => on_secure(
            "sendfile64",
            out,
            binding,
            -1,
            |sock| {
                // SAFETY: the caller vouches for the pointer it passed (NULL or a valid off64_t).
                unsafe { sendfile_offset(sock, input, offset, libc::off64_t::MAX, count) }
                    .map(|n| n as ssize_t)
            },
            libc_call,
        ),
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

// ---- positioned scatter/gather: a socket has no file position ----

/// What `pwritev2`/`preadv2` flags (`RWF_*`) mean on a socket: RWF_NOWAIT is MSG_DONTWAIT; the
/// others (HIPRI, DSYNC, SYNC, APPEND) change nothing for a stream; unknown bits are EOPNOTSUPP, as the
/// kernel answers.
fn rwf_flags(flags: c_int, what: &'static str) -> Result<c_int> {
    const RWF_HIPRI: c_int = 0x1;
    const RWF_DSYNC: c_int = 0x2;
    const RWF_SYNC: c_int = 0x4;
    const RWF_NOWAIT: c_int = 0x8;
    const RWF_APPEND: c_int = 0x10;
    if flags & !(RWF_HIPRI | RWF_DSYNC | RWF_SYNC | RWF_NOWAIT | RWF_APPEND) != 0 {
        return Err(Error::os(libc::EOPNOTSUPP, what));
    }
    Ok(if flags & RWF_NOWAIT != 0 {
        libc::MSG_DONTWAIT
    } else {
        0
    })
}

/// An offset (`off_t`, 32 bits on 32-bit targets without `_FILE_OFFSET_BITS=64`, or `off64_t`) as
/// 64 bits.
fn wide(offset: impl Into<i64>) -> i64 {
    offset.into()
}

/// The kernel's answer to a positioned call on a socket: EINVAL for a negative offset, else ESPIPE
/// (a socket cannot seek). (Offset -1 with the `*v2` calls means "the current position": see
/// `pwrite_secure`.)
fn no_position(offset: i64, what: &'static str) -> Error {
    Error::os(
        if offset < 0 {
            libc::EINVAL
        } else {
            libc::ESPIPE
        },
        what,
    )
}

/// `pwritev2` on a secure socket: `writev` through TLS for the current position (offset -1), else the
/// kernel's error for a socket, and nothing sent.
///
/// # Safety
/// `iov` valid for `count` entries when non-NULL.
unsafe fn pwrite_secure(
    sock: &SecureSocket,
    iov: *const libc::iovec,
    count: c_int,
    offset: i64,
    flags: c_int,
    what: &'static str,
) -> Result<ssize_t> {
    if offset != -1 {
        return Err(no_position(offset, what));
    }
    let flags = rwf_flags(flags, what)?;
    // SAFETY: the caller vouches for `count` iovecs.
    let iov = unsafe { iovecs(iov, iov_count(count, what)?, what) }?;
    send_vectored(sock, &iov, flags, what).map(|n| n as ssize_t)
}

/// `preadv2` on a secure socket, as `pwrite_secure`.
///
/// # Safety
/// `iov` valid for `count` entries when non-NULL.
unsafe fn pread_secure(
    sock: &SecureSocket,
    iov: *const libc::iovec,
    count: c_int,
    offset: i64,
    flags: c_int,
    what: &'static str,
) -> Result<ssize_t> {
    if offset != -1 {
        return Err(no_position(offset, what));
    }
    let flags = rwf_flags(flags, what)?;
    // SAFETY: the caller vouches for `count` iovecs.
    let iov = unsafe { iovecs(iov, iov_count(count, what)?, what) }?;
    recv_vectored(sock, &iov, flags, what).map(|n| n as ssize_t)
}

/// Defines one export of the positioned scatter/gather family: libc's function of that name on a plain
/// descriptor. On a secure socket: without flags, the kernel's answer for a socket (a socket has no
/// file position: EINVAL for a negative offset, else ESPIPE) and nothing moves; with flags (the `*v2`
/// calls), `$secure`, which takes offset -1 as the current position.
macro_rules! positioned {
    ($(#[$doc:meta])* fn $name:ident(offset: $off:ty)) => {
        $(#[$doc])*
        ///
        /// # Safety
        #[doc = concat!("As libc's `", stringify!($name), "`.")]
        #[no_mangle]
        pub unsafe extern "C" fn $name(
            fd: c_int,
            iov: *const libc::iovec,
            count: c_int,
            offset: $off,
        ) -> ssize_t {
            // SAFETY: the caller's arguments, passed through to libc.
            let libc_call = || unsafe { real::$name(fd, iov, count, offset) };
            match table::lookup(fd) {
                None => plain(stringify!($name), libc_call()),
                Some(binding) => on_secure(
                    stringify!($name),
                    fd,
                    binding,
                    -1,
                    |_| Err(no_position(wide(offset), stringify!($name))),
                    libc_call,
                ),
            }
        }
    };
    ($(#[$doc:meta])* fn $name:ident(offset: $off:ty, flags) => $secure:ident) => {
        $(#[$doc])*
        ///
        /// # Safety
        #[doc = concat!("As libc's `", stringify!($name), "`.")]
        #[no_mangle]
        pub unsafe extern "C" fn $name(
            fd: c_int,
            iov: *const libc::iovec,
            count: c_int,
            offset: $off,
            flags: c_int,
        ) -> ssize_t {
            // SAFETY: the caller's arguments, passed through to libc.
            let libc_call = || unsafe { real::$name(fd, iov, count, offset, flags) };
            match table::lookup(fd) {
                None => plain(stringify!($name), libc_call()),
                Some(binding) => on_secure(
                    stringify!($name),
                    fd,
                    binding,
                    -1,
                    // SAFETY: the caller vouches for `count` iovecs.
                    |sock| unsafe {
                        $secure(sock, iov, count, wide(offset), flags, stringify!($name))
                    },
                    libc_call,
                ),
            }
        }
    };
}

positioned! {
    /// Implements POSIX `pwritev`. A socket has no file position: on a secure socket the answer is the
    /// kernel's (EINVAL for a negative offset, else ESPIPE) and nothing is sent.
    fn pwritev(offset: libc::off_t)
}
positioned! {
    /// Implements glibc `pwritev64`, as `pwritev`.
    fn pwritev64(offset: libc::off64_t)
}
positioned! {
    /// Implements Linux `pwritev2`. On a secure socket, offset -1 (the current position) is `writev`
    /// through TLS (RWF_NOWAIT: without waiting); any other offset fails as the kernel fails it for a
    /// socket (ESPIPE, or EINVAL when negative), and nothing is sent.
    fn pwritev2(offset: libc::off_t, flags) => pwrite_secure
}
positioned! {
    /// Implements glibc `pwritev64v2`, as `pwritev2`.
    fn pwritev64v2(offset: libc::off64_t, flags) => pwrite_secure
}
positioned! {
    /// Implements POSIX `preadv`: on a secure socket, EINVAL for a negative offset, else ESPIPE (a
    /// socket cannot seek), and nothing is read.
    fn preadv(offset: libc::off_t)
}
positioned! {
    /// Implements glibc `preadv64`, as `preadv`.
    fn preadv64(offset: libc::off64_t)
}
positioned! {
    /// Implements Linux `preadv2`: on a secure socket, offset -1 is `readv` of decrypted data
    /// (RWF_NOWAIT: without waiting); other offsets fail as for `preadv`.
    fn preadv2(offset: libc::off_t, flags) => pread_secure
}
positioned! {
    /// Implements glibc `preadv64v2`, as `preadv2`.
    fn preadv64v2(offset: libc::off64_t, flags) => pread_secure
}

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
