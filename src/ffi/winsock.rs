//! Winsock housekeeping: `WSAStartup`, `WSACleanup`, `WSAGetLastError`, `WSASetLastError`, and the
//! readable-reason extension.

use std::ffi::{c_char, c_int};
use std::sync::atomic::{AtomicI32, Ordering};

use super::{guard, SOCKET_ERROR};
use crate::error::{self, Error, WsaCode};

/// Windows' `WSADATA`, its `_WIN64` layout on 64-bit targets (`include/winsock2.h` declares the same,
/// 408 bytes).
#[cfg(target_pointer_width = "64")]
#[repr(C)]
pub struct WSADATA {
    /// The version the program will use.
    pub wVersion: u16,
    /// The highest version sslsock supports (2.2).
    pub wHighVersion: u16,
    /// Obsolete (0).
    pub iMaxSockets: u16,
    /// Obsolete (0).
    pub iMaxUdpDg: u16,
    /// Obsolete (NULL).
    pub lpVendorInfo: *mut c_char,
    /// "sslsock ...".
    pub szDescription: [c_char; 257],
    /// "Running".
    pub szSystemStatus: [c_char; 129],
}

/// Windows' `WSADATA`, its 32-bit layout (CE's) on 32-bit targets (`include/winsock2.h` declares the
/// same, 400 bytes).
#[cfg(not(target_pointer_width = "64"))]
#[repr(C)]
pub struct WSADATA {
    /// The version the program will use.
    pub wVersion: u16,
    /// The highest version sslsock supports (2.2).
    pub wHighVersion: u16,
    /// "sslsock ...".
    pub szDescription: [c_char; 257],
    /// "Running".
    pub szSystemStatus: [c_char; 129],
    /// Obsolete (0).
    pub iMaxSockets: u16,
    /// Obsolete (0).
    pub iMaxUdpDg: u16,
    /// Obsolete (NULL).
    pub lpVendorInfo: *mut c_char,
}

// The layouts include/winsock2.h declares (c-tests/layout.c checks the C side).
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<WSADATA>() == 408);
#[cfg(not(target_pointer_width = "64"))]
const _: () = assert!(std::mem::size_of::<WSADATA>() == 400);

static STARTUPS: AtomicI32 = AtomicI32::new(0);

fn copy_text(dst: &mut [c_char], text: &str) {
    for (d, s) in dst.iter_mut().zip(text.bytes().chain(std::iter::once(0))) {
        *d = s as c_char;
    }
}

/// Implements Winsock `WSAStartup`: version negotiation as Winsock 2.2 (2.x asks get the lower of the
/// ask and 2.2; 1.x asks get 1.1; 0.x → WSAVERNOTSUPPORTED), reference-counted. Returns 0 or the
/// error code itself, as Winsock does. Socket calls work without it too.
///
/// # Safety
/// `lpWSAData` must be NULL or point to a writable `WSADATA`.
#[no_mangle]
pub unsafe extern "C" fn WSAStartup(wVersionRequested: u16, lpWSAData: *mut WSADATA) -> c_int {
    let result = guard("WSAStartup", -1, || {
        let (major, minor) = (wVersionRequested & 0xff, wVersionRequested >> 8);
        let version = match major {
            0 => {
                return Err(Error::new(
                    WsaCode::VERNOTSUPPORTED,
                    format!(
                        "WSAStartup: version {major}.{minor} is not supported (1.1 to 2.2 are)"
                    ),
                ))
            }
            1 => 0x0101u16,
            2 => (minor.min(2) << 8) | 2,
            _ => 0x0202,
        };
        if lpWSAData.is_null() {
            return Err(super::fault("WSAStartup"));
        }
        // SAFETY: non-NULL, and the caller vouches for a writable WSADATA.
        let data = unsafe { &mut *lpWSAData };
        data.wVersion = version;
        data.wHighVersion = 0x0202;
        data.iMaxSockets = 0;
        data.iMaxUdpDg = 0;
        data.lpVendorInfo = std::ptr::null_mut();
        copy_text(
            &mut data.szDescription,
            concat!(
                "sslsock ",
                env!("CARGO_PKG_VERSION"),
                " (Windows CE secure sockets over rustls)"
            ),
        );
        copy_text(&mut data.szSystemStatus, "Running");
        STARTUPS.fetch_add(1, Ordering::SeqCst);
        Ok(0)
    });
    if result == 0 {
        0
    } else {
        error::last_code()
    }
}

/// Implements Winsock `WSACleanup`: one startup fewer; SOCKET_ERROR with WSANOTINITIALISED when
/// there was none.
#[no_mangle]
pub extern "C" fn WSACleanup() -> c_int {
    guard("WSACleanup", SOCKET_ERROR, || {
        STARTUPS
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                if n > 0 {
                    Some(n - 1)
                } else {
                    None
                }
            })
            .map(|_| 0)
            .map_err(|_| {
                Error::new(
                    WsaCode::NOTINITIALISED,
                    "WSACleanup: WSAStartup was not called (or already cleaned up)",
                )
            })
    })
}

/// Implements Winsock `WSAGetLastError`: the calling thread's last Winsock error.
#[no_mangle]
pub extern "C" fn WSAGetLastError() -> c_int {
    guard("WSAGetLastError", WsaCode::ENETDOWN.0, || {
        Ok(error::last_code())
    })
}

/// Implements Winsock `WSASetLastError`: sets the calling thread's last Winsock error (errno is left alone).
#[no_mangle]
pub extern "C" fn WSASetLastError(iError: c_int) {
    guard("WSASetLastError", (), || {
        error::set_last_code(iError);
        Ok(())
    })
}

/// sslsock extension: a readable sentence on why the calling thread's last call failed (never NULL;
/// empty when nothing failed). The same pointer is returned until a later failure is recorded on the
/// thread; it stays valid until the function is called after that failure.
#[no_mangle]
pub extern "C" fn sslsock_last_error_reason() -> *const c_char {
    guard("sslsock_last_error_reason", c"".as_ptr(), || {
        Ok(error::last_reason_ptr())
    })
}
