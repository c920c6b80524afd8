//! Transfers that involve a file or a position: `sendfile`/`sendfile64` (the file is read and
//! encrypted, never sent raw), `splice` (refused on a secure socket: it would move raw bytes) and the
//! positioned scatter/gather calls (a socket has no file position: `*v2` with offset -1 is `writev`/
//! `readv`, any other offset gets the kernel's ESPIPE or EINVAL and nothing is sent).

use std::ffi::c_int;

use libc::{size_t, ssize_t};

use super::io::{iov_count, iovecs, recv_vectored, send_vectored};
use super::{guard, on_secure, plain};
use crate::error::{Error, Result, WsaCode};
use crate::secure::{SecureSocket, SendFlags};
use crate::sys::real;
use crate::table;

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
            Err(e) => {
                if position.is_none() {
                    unread(input, got as usize);
                }
                if total > 0 && e.is_would_block() {
                    break;
                }
                return Err(e);
            }
        };
        total += sent;
        if let Some(p) = position.as_mut() {
            *p += sent as i64;
        }
        if sent < got as usize {
            if position.is_none() {
                unread(input, got as usize - sent);
            }
            break;
        }
    }
    if let (Some(o), Some(p)) = (offset, position) {
        *o = p;
    }
    Ok(total)
}

/// Move the input's file position back over `n` bytes read but not sent: as the kernel's `sendfile`,
/// the position advances by what was sent only. (An input that cannot seek, a pipe, keeps them read.)
fn unread(input: c_int, n: usize) {
    let Ok(back) = i64::try_from(n) else {
        return;
    };
    // SAFETY: lseek64 on the caller's input descriptor takes plain integers; sslsock does not export it.
    unsafe { libc::lseek64(input, -back, libc::SEEK_CUR) };
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

/// `sendfile` and `sendfile64`, which differ only in the width of the offset `O`: libc's call for a
/// plain `out`, the file read and encrypted for a secure one.
///
/// # Safety
/// As libc's `sendfile`: `offset` NULL or a valid, writable `O`.
unsafe fn sendfile_any<O>(
    call: &'static str,
    out: c_int,
    input: c_int,
    offset: *mut O,
    limit: O,
    count: size_t,
    libc_call: impl FnOnce() -> ssize_t,
) -> ssize_t
where
    O: Copy + Into<i64> + TryFrom<i64>,
{
    match table::lookup(out) {
        None => plain(call, libc_call()),
        Some(binding) => on_secure(
            call,
            out,
            binding,
            -1,
            |sock| {
                // SAFETY: the caller vouches for the pointer it passed (NULL or a valid O).
                unsafe { sendfile_offset(sock, input, offset, limit, count) }.map(|n| n as ssize_t)
            },
            libc_call,
        ),
    }
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
    // SAFETY: the caller's arguments, passed through (to libc for a plain `out`).
    unsafe {
        sendfile_any(
            "sendfile",
            out,
            input,
            offset,
            libc::off_t::MAX,
            count,
            || real::sendfile(out, input, offset, count),
        )
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
    // SAFETY: the caller's arguments, passed through (to libc for a plain `out`).
    unsafe {
        sendfile_any(
            "sendfile64",
            out,
            input,
            offset,
            libc::off64_t::MAX,
            count,
            || real::sendfile64(out, input, offset, count),
        )
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
