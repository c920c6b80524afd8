//! Socket options: `setsockopt`, `getsockopt` — SO_SECURE, and the Windows millisecond timeouts.

use std::ffi::{c_int, c_void};

use libc::socklen_t;

use super::{fault, guard, plain, SOCKET_ERROR};
use crate::abi::{DWORD, SO_SECURE, SO_SEC_NONE, SO_SEC_SSL};
use crate::error::{Error, Result, WsaCode};
use crate::secure::SecureSocket;
use crate::sys::{fd, real};
use crate::table;

/// Winsock's `SOL_SOCKET` (Linux's is 1); accepted for SO_SECURE.
const WINSOCK_SOL_SOCKET: c_int = 0xFFFF;

fn is_socket_level(level: c_int) -> bool {
    level == libc::SOL_SOCKET || level == WINSOCK_SOL_SOCKET
}

fn is_timeout(level: c_int, name: c_int) -> bool {
    level == libc::SOL_SOCKET && (name == libc::SO_RCVTIMEO || name == libc::SO_SNDTIMEO)
}

/// Whether `setsockopt(level, name, optval, optlen)` is one sslsock answers itself (SO_SECURE, or a
/// timeout given as a Windows millisecond DWORD) rather than libc: what `__setsockopt64` (32-bit
/// `_TIME_BITS=64` programs) hands to [`setsockopt`].
pub fn set_here(level: c_int, name: c_int, optval: *const c_void, optlen: socklen_t) -> bool {
    (name == SO_SECURE as c_int && is_socket_level(level))
        || (is_timeout(level, name)
            && optlen as usize == std::mem::size_of::<DWORD>()
            && !optval.is_null())
}

/// Whether `getsockopt(level, name, optval, optlen)` is one sslsock answers itself (SO_SECURE, or a
/// timeout asked for as a Windows millisecond DWORD): what `__getsockopt64` hands to [`getsockopt`].
///
/// # Safety
/// `optlen` NULL or valid for reads.
pub unsafe fn get_here(
    level: c_int,
    name: c_int,
    optval: *const c_void,
    optlen: *const socklen_t,
) -> bool {
    if name == SO_SECURE as c_int && is_socket_level(level) {
        return true;
    }
    // SAFETY: optlen is checked non-NULL before it is read (the caller vouches for it then).
    is_timeout(level, name)
        && !optval.is_null()
        && !optlen.is_null()
        && unsafe { *optlen } as usize == std::mem::size_of::<DWORD>()
}

/// Implements Winsock/POSIX `setsockopt`.
/// - `SO_SECURE` (level SOL_SOCKET or 0xFFFF) with a DWORD: `SO_SEC_SSL` makes the socket secure,
///   `SO_SEC_NONE` undoes it before connect; NULL or `optlen < 4` → WSAEFAULT, other values → WSAEINVAL.
/// - `SO_RCVTIMEO`/`SO_SNDTIMEO` with `optlen == 4`: a Windows millisecond DWORD, given to Linux as a
///   timeval (libc itself would refuse that length).
/// - everything else: libc's.
///
/// # Safety
/// As libc's `setsockopt`: `optval` valid for `optlen` bytes.
#[no_mangle]
pub unsafe extern "C" fn setsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    optval: *const c_void,
    optlen: socklen_t,
) -> c_int {
    if name == SO_SECURE as c_int && is_socket_level(level) {
        return guard("setsockopt(SO_SECURE)", SOCKET_ERROR, || {
            // SAFETY: the caller vouches for `optlen` readable bytes at `optval`.
            unsafe { set_secure(fd, optval, optlen) }.map(|()| 0)
        });
    }
    if is_timeout(level, name)
        && optlen as usize == std::mem::size_of::<DWORD>()
        && !optval.is_null()
    {
        // SAFETY: four readable bytes (checked length, non-NULL).
        let ms = unsafe { optval.cast::<DWORD>().read_unaligned() };
        let tv = libc::timeval {
            tv_sec: (ms / 1000) as libc::time_t,
            tv_usec: ((ms % 1000) * 1000) as libc::suseconds_t,
        };
        let tv_len = std::mem::size_of::<libc::timeval>() as socklen_t;
        // SAFETY: a valid timeval of the stated size.
        return plain("setsockopt", unsafe {
            real::setsockopt(
                fd,
                level,
                name,
                (&tv as *const libc::timeval).cast(),
                tv_len,
            )
        });
    }
    // SAFETY: the caller's arguments, passed through.
    plain("setsockopt", unsafe {
        real::setsockopt(fd, level, name, optval, optlen)
    })
}

/// # Safety
/// `optval` valid for `optlen` bytes when non-NULL.
unsafe fn set_secure(fd: c_int, optval: *const c_void, optlen: socklen_t) -> Result<()> {
    if optval.is_null() || (optlen as usize) < std::mem::size_of::<DWORD>() {
        return Err(fault("setsockopt(SO_SECURE)"));
    }
    // SAFETY: at least four readable bytes.
    let value = unsafe { optval.cast::<DWORD>().read_unaligned() };
    let Ok(Some(identity)) = fd::socket_identity(fd) else {
        return Err(Error::new(
            WsaCode::ENOTSOCK,
            format!("setsockopt(SO_SECURE): descriptor {fd} is not a socket"),
        ));
    };
    let existing = match table::lookup(fd) {
        Some(b) => Some(b.socket()?.clone()),
        None => None,
    };
    if existing
        .as_ref()
        .is_some_and(|s| crate::table::is_inherited(s))
    {
        // Its locks are the parent's business (another thread may have held them at the fork).
        return Err(Error::new(
            WsaCode::ECONNABORTED,
            "setsockopt(SO_SECURE): this secure socket was inherited across fork(): its TLS session belongs to the parent",
        ));
    }
    match value {
        SO_SEC_SSL => {
            if let Some(sock) = existing {
                return sock.still_in_setup();
            }
            let ty = fd::get_int_option(fd, libc::SOL_SOCKET, libc::SO_TYPE).map_err(|e| Error::os(e, "setsockopt(SO_SECURE)"))?;
            if ty != libc::SOCK_STREAM {
                return Err(Error::new(WsaCode::EINVAL, "setsockopt(SO_SECURE): TLS needs a stream (SOCK_STREAM) socket"));
            }
            if fd::is_connected(fd) {
                return Err(Error::new(
                    WsaCode::EISCONN,
                    "setsockopt(SO_SECURE): the socket is already connected; set SO_SECURE before connect \
                     (use SSL_FLAG_DEFER_HANDSHAKE to start in plaintext)",
                ));
            }
            table::insert(
                fd,
                SecureSocket::with_identity(fd, table::generation(), Some(identity)),
            );
            crate::log::log!(
                crate::settings::Level::Debug,
                "fd {fd}: secure socket (setsockopt SO_SECURE = SO_SEC_SSL)"
            );
            Ok(())
        }
        SO_SEC_NONE => match existing {
            None => Ok(()),
            // Marked under the socket's lock, so that a connect either came first (and this fails) or
            // finds the socket switched off (and connects in plain TCP).
            Some(sock) => {
                sock.switch_off()?;
                table::retire(fd, &sock);
                Ok(())
            }
        },
        other => Err(Error::new(
            WsaCode::EINVAL,
            format!("setsockopt(SO_SECURE): {other:#x} is neither SO_SEC_SSL (0x2004) nor SO_SEC_NONE (0x2002)"),
        )),
    }
}

/// Implements Winsock/POSIX `getsockopt`: `SO_SECURE` gives `SO_SEC_SSL` or `SO_SEC_NONE` as a DWORD;
/// `SO_RCVTIMEO`/`SO_SNDTIMEO` with `*optlen == 4` give Windows milliseconds; the rest is libc's.
///
/// # Safety
/// As libc's `getsockopt`.
#[no_mangle]
pub unsafe extern "C" fn getsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    optval: *mut c_void,
    optlen: *mut socklen_t,
) -> c_int {
    let dword = std::mem::size_of::<DWORD>() as socklen_t;
    if name == SO_SECURE as c_int && is_socket_level(level) {
        return guard("getsockopt(SO_SECURE)", SOCKET_ERROR, || {
            // SAFETY: optlen checked non-NULL before it is read; optval holds *optlen bytes per the caller.
            unsafe {
                if optval.is_null() || optlen.is_null() || *optlen < dword {
                    return Err(fault("getsockopt(SO_SECURE)"));
                }
                if !matches!(fd::is_socket(fd), Ok(true)) {
                    return Err(Error::new(
                        WsaCode::ENOTSOCK,
                        format!("getsockopt(SO_SECURE): descriptor {fd} is not a socket"),
                    ));
                }
                let value = if table::socket(fd).is_some() {
                    SO_SEC_SSL
                } else {
                    SO_SEC_NONE
                };
                optval.cast::<DWORD>().write_unaligned(value);
                *optlen = dword;
            }
            Ok(0)
        });
    }
    // SAFETY: optlen is checked non-NULL before it is read.
    let wants_dword = !optlen.is_null() && unsafe { *optlen } == dword;
    if is_timeout(level, name) && !optval.is_null() && wants_dword {
        let mut tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 0,
        };
        let mut tv_len = std::mem::size_of::<libc::timeval>() as socklen_t;
        // SAFETY: a timeval and its size, owned here.
        let rc = plain("getsockopt", unsafe {
            real::getsockopt(
                fd,
                level,
                name,
                (&mut tv as *mut libc::timeval).cast(),
                &mut tv_len,
            )
        });
        if rc == 0 {
            // Saturating: the kernel keeps timeouts of up to ~LONG_MAX/HZ seconds (fuzz/, sockopt).
            let ms = (tv.tv_sec as u64)
                .saturating_mul(1000)
                .saturating_add(tv.tv_usec as u64 / 1000)
                .min(u32::MAX as u64) as DWORD;
            // SAFETY: four writable bytes (the caller's *optlen).
            unsafe { optval.cast::<DWORD>().write_unaligned(ms) };
        }
        return rc;
    }
    // SAFETY: the caller's arguments, passed through.
    plain("getsockopt", unsafe {
        real::getsockopt(fd, level, name, optval, optlen)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A timeout the kernel keeps in more seconds than a u64 of milliseconds holds reads back as the
    /// largest DWORD, not as a wrapped value or a panic (found by fuzz/, target sockopt, seed
    /// timeouts-huge).
    #[test]
    fn huge_timeout_reads_back_saturated() {
        // 2^64 / 1000 seconds, rounded up: times 1000 wraps a u64 to a few hundred milliseconds. A
        // 32-bit time_t (armv7) holds at most 2^31 - 1 seconds, which is still past any DWORD of ms.
        const HUGE_SECONDS: libc::time_t = if std::mem::size_of::<libc::time_t>() == 8 {
            18_446_744_073_709_552_i64 as libc::time_t
        } else {
            libc::time_t::MAX
        };
        let tv = libc::timeval {
            tv_sec: HUGE_SECONDS,
            tv_usec: 0,
        };
        let tv_len = std::mem::size_of::<libc::timeval>() as socklen_t;
        // SAFETY: plain integers; a timeval, a DWORD and their sizes, all owned here.
        unsafe {
            let s = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
            assert!(s >= 0);
            let rc = setsockopt(
                s,
                libc::SOL_SOCKET,
                libc::SO_SNDTIMEO,
                (&tv as *const libc::timeval).cast(),
                tv_len,
            );
            assert_eq!(rc, 0);
            let mut kept = libc::timeval {
                tv_sec: 0,
                tv_usec: 0,
            };
            let mut len = tv_len;
            let rc = getsockopt(
                s,
                libc::SOL_SOCKET,
                libc::SO_SNDTIMEO,
                (&mut kept as *mut libc::timeval).cast(),
                &mut len,
            );
            assert_eq!(rc, 0);
            let mut ms: DWORD = 0;
            let mut len: socklen_t = 4;
            let rc = getsockopt(
                s,
                libc::SOL_SOCKET,
                libc::SO_SNDTIMEO,
                (&mut ms as *mut DWORD).cast(),
                &mut len,
            );
            assert_eq!(rc, 0);
            // A kernel with HZ 1000 keeps so long a time as "forever" (0): nothing to saturate.
            let want = if kept.tv_sec == 0 { 0 } else { u32::MAX };
            assert_eq!(ms, want, "kernel kept {}s", kept.tv_sec);
            libc::close(s);
        }
    }
}
