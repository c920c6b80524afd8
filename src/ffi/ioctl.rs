//! Control codes: `WSAIoctl` (the CE `SO_SSL_*` codes, in the CE header's order, one handler each)
//! and `ioctlsocket` (FIONBIO, FIONREAD).

use std::ffi::{c_int, c_long, c_ulong, c_void};
use std::mem::size_of;
use std::sync::Arc;

use super::hook::ValidateHook;
use super::{fault, guard, in_bytes, secure_socket, SOCKET_ERROR};
use crate::abi::*;
use crate::error::{Error, Result, WsaCode};
use crate::log::log;
use crate::secure::{parse_server_name, CacheOptions, Flags, Protocols, SecureSocket};
use crate::settings::Level;
use crate::sys::fd;

/// Winsock's `FIONBIO` (Linux's is 0x5421).
const WINSOCK_FIONBIO: u32 = 0x8004_667E;
/// Winsock's `FIONREAD` (Linux's is 0x541B).
const WINSOCK_FIONREAD: u32 = 0x4004_667F;
// Linux's FIONBIO and FIONREAD as the low 32 bits `ioctlsocket` compares (libc gives them as
// `c_ulong`: 64 bits on LP64, 32 bits on armv7, where the cast changes nothing).
#[allow(clippy::unnecessary_cast)]
const LINUX_FIONBIO: u32 = libc::FIONBIO as u32;
#[allow(clippy::unnecessary_cast)]
const LINUX_FIONREAD: u32 = libc::FIONREAD as u32;

/// `LPWSAOVERLAPPED_COMPLETION_ROUTINE`.
pub type CompletionRoutine = Option<unsafe extern "C" fn(DWORD, DWORD, *mut c_void, DWORD)>;

/// Where a GET code writes its answer.
struct Output {
    ptr: *mut c_void,
    len: usize,
    returned: *mut DWORD,
}

impl Output {
    /// Write `bytes`, or WSAEFAULT (with the size needed in `*lpcbBytesReturned`) if they do not fit.
    fn put(&self, bytes: &[u8]) -> Result<()> {
        if self.ptr.is_null() || self.len < bytes.len() {
            self.set_returned(bytes.len());
            return Err(fault("WSAIoctl output"));
        }
        // SAFETY: the caller vouches for `len` writable bytes at `ptr`; bytes.len() <= len.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.ptr.cast::<u8>(), bytes.len())
        };
        self.set_returned(bytes.len());
        Ok(())
    }

    fn set_returned(&self, n: usize) {
        if !self.returned.is_null() {
            // SAFETY: a non-NULL lpcbBytesReturned points to a DWORD the caller owns.
            unsafe { self.returned.write_unaligned(n as DWORD) };
        }
    }
}

/// A DWORD from the input buffer.
fn dword_in(input: &[u8], what: &'static str) -> Result<DWORD> {
    input
        .get(..4)
        .map(|b| DWORD::from_ne_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| fault(what))
}

/// Raw bytes of a `#[repr(C)]` plain-data value.
fn bytes_of<T: Copy>(value: &T) -> &[u8] {
    // SAFETY: T is a Copy repr(C) value read as its own bytes; every byte of the types used here is
    // initialised (no padding in SSLCONNECTIONINFO; SSLVALIDATECERTHOOK is two pointers).
    unsafe { std::slice::from_raw_parts((value as *const T).cast::<u8>(), size_of::<T>()) }
}

/// Implements Winsock `WSAIoctl` for the CE secure-socket control codes (docs/api.md), plus FIONBIO and
/// FIONREAD. `lpcbBytesReturned` may be NULL; an output buffer given with a SET code is ignored;
/// overlapped I/O is not supported (WSAEOPNOTSUPP).
///
/// # Safety
/// Buffers valid for the stated lengths, as Winsock requires.
#[no_mangle]
pub unsafe extern "C" fn WSAIoctl(
    s: c_int,
    dwIoControlCode: DWORD,
    lpvInBuffer: *mut c_void,
    cbInBuffer: DWORD,
    lpvOutBuffer: *mut c_void,
    cbOutBuffer: DWORD,
    lpcbBytesReturned: *mut DWORD,
    lpOverlapped: *mut c_void,
    lpCompletionRoutine: CompletionRoutine,
) -> c_int {
    guard("WSAIoctl", SOCKET_ERROR, || {
        if !lpOverlapped.is_null() || lpCompletionRoutine.is_some() {
            return Err(Error::new(
                WsaCode::EOPNOTSUPP,
                "WSAIoctl: overlapped I/O is not supported",
            ));
        }
        // SAFETY: the caller vouches for cbInBuffer readable bytes at lpvInBuffer.
        let input = match unsafe { in_bytes(lpvInBuffer, cbInBuffer as usize, "WSAIoctl input") } {
            Ok(input) => input,
            // A name that was asked for (NULL with a length) is never dropped: refused and recorded
            // (SET_PEERNAME), or the end of the plaintext window (PERFORM_HANDSHAKE).
            Err(e) => {
                if let Ok(sock) = secure_socket(s, "WSAIoctl") {
                    match dwIoControlCode {
                        SO_SSL_SET_PEERNAME | SO_SSL_SET_PEERNAME_IN => {
                            let _ = sock.set_peer_name(Err(e.clone()));
                        }
                        SO_SSL_PERFORM_HANDSHAKE => {
                            let _ = sock.perform_handshake(Err(e.clone()));
                        }
                        _ => {}
                    }
                }
                return Err(e);
            }
        };
        let out = Output {
            ptr: lpvOutBuffer,
            len: cbOutBuffer as usize,
            returned: lpcbBytesReturned,
        };
        out.set_returned(0);
        dispatch(s, dwIoControlCode, input, &out).map(|()| 0)
    })
}

fn dispatch(s: c_int, code: DWORD, input: &[u8], out: &Output) -> Result<()> {
    match code {
        WINSOCK_FIONBIO => return set_nonblocking(s, dword_in(input, "WSAIoctl(FIONBIO)")? != 0),
        WINSOCK_FIONREAD => return out.put(&(readable(s)? as c_ulong).to_ne_bytes()),
        _ => {}
    }
    if code & 0x00FF_0000 != SO_SSL_FAMILY {
        return Err(Error::new(
            WsaCode::EINVAL,
            format!("WSAIoctl: unknown control code {code:#010x}"),
        ));
    }
    let sock = secure_socket(s, "WSAIoctl")?;
    match code {
        SO_SSL_GET_CAPABILITIES => out.put(&SSL_CAP_CLIENT.to_ne_bytes()),
        SO_SSL_SET_FLAGS => sock.set_flags(Flags::from_ce(dword_in(input, "SO_SSL_SET_FLAGS")?)?),
        SO_SSL_GET_FLAGS => out.put(&sock.flags().to_ce().to_ne_bytes()),
        SO_SSL_SET_PROTOCOLS => sock.set_protocols(protocols_in(input)?),
        SO_SSL_GET_PROTOCOLS => out.put(&protocols_out(sock.protocols())),
        SO_SSL_SET_VALIDATE_CERT_HOOK => set_hook(&sock, input)
            .inspect_err(|_| out.set_returned(size_of::<SSLVALIDATECERTHOOK>())),
        SO_SSL_GET_VALIDATE_CERT_HOOK => out.put(bytes_of(&get_hook(&sock))),
        SO_SSL_PERFORM_HANDSHAKE => sock.perform_handshake(parse_server_name(input)),
        SO_SSL_GET_CONNECTION_INFO => out.put(bytes_of(&sock.connection_info()?)),
        SO_SSL_SET_PEERNAME | SO_SSL_SET_PEERNAME_IN => sock.set_peer_name(peer_name_in(input)),
        SO_SSL_SET_CIPHERS | SO_SSL_GET_CIPHERS => unsupported(
            "SO_SSL_SET/GET_CIPHERS",
            "rustls offers only modern AEAD suites, chosen by preference",
        ),
        SO_SSL_SET_CLIENT_OPTS => sock.set_cache(client_opts_in(input)?),
        SO_SSL_GET_CLIENT_OPTS => {
            let cache = sock.cache();
            out.put(bytes_of(&SSLCLIENTOPTS {
                dwCacheSize: cache.size,
                dwCacheLifetime: cache.lifetime_ms,
            }))
        }
        SO_SSL_SET_SERVER_OPTS | SO_SSL_GET_SERVER_OPTS => {
            unsupported("SO_SSL_SET/GET_SERVER_OPTS", "server mode is not supported")
        }
        SO_SSL_SET_CLIENT_AUTH_OPTS | SO_SSL_GET_CLIENT_AUTH_OPTS => unsupported(
            "SO_SSL_SET/GET_CLIENT_AUTH_OPTS",
            "a client certificate is given with its key by sslsock_set_client_certificate or \
             SSLSOCK_CLIENT_CERT/SSLSOCK_CLIENT_KEY",
        ),
        SO_SSL_SET_AUTH_REQUEST_HOOK | SO_SSL_GET_AUTH_REQUEST_HOOK => unsupported(
            "SO_SSL_SET/GET_AUTH_REQUEST_HOOK",
            "the client certificate is chosen before the handshake, by \
             sslsock_set_client_certificate or SSLSOCK_CLIENT_CERT/SSLSOCK_CLIENT_KEY",
        ),
        SO_SSL_SET_KEY_EXCH_HOOK | SO_SSL_GET_KEY_EXCH_HOOK => {
            unsupported("SO_SSL_SET/GET_KEY_EXCH_HOOK", "keys never leave rustls")
        }
        SO_SSL_SET_SIGNATURE_HOOK | SO_SSL_GET_SIGNATURE_HOOK => {
            unsupported("SO_SSL_SET/GET_SIGNATURE_HOOK", "keys never leave rustls")
        }
        other => Err(Error::new(
            WsaCode::EINVAL,
            format!("WSAIoctl: unknown SSL control code {other:#010x}"),
        )),
    }
}

/// The name `SO_SSL_SET_PEERNAME` sets: none (NULL or no bytes: WSAEFAULT), an empty one (WSAEINVAL)
/// and one that cannot be checked (WSAEINVAL) are refused; `set_peer_name` records the refusal.
fn peer_name_in(input: &[u8]) -> Result<rustls::pki_types::ServerName<'static>> {
    if input.is_empty() {
        return Err(fault("SO_SSL_SET_PEERNAME (no name given)"));
    }
    parse_server_name(input)?.ok_or_else(|| {
        Error::new(
            WsaCode::EINVAL,
            "SO_SSL_SET_PEERNAME: the name is empty (to check no name, set none)",
        )
    })
}

fn unsupported(code: &'static str, why: &'static str) -> Result<()> {
    log!(Level::Warn, "WSAIoctl({code}): not supported: {why}");
    Err(Error::new(
        WsaCode::EOPNOTSUPP,
        format!("WSAIoctl({code}): not supported: {why}"),
    ))
}

/// Parse `SSLPROTOCOLS`: a DWORD count, then that many 12-byte `SSLPROTOCOL`s.
fn protocols_in(input: &[u8]) -> Result<Protocols> {
    let count = dword_in(input, "SO_SSL_SET_PROTOCOLS")? as usize;
    let need = count
        .checked_mul(size_of::<SSLPROTOCOL>())
        .and_then(|n| n.checked_add(4));
    let entries = need
        .and_then(|n| input.get(4..n))
        .ok_or_else(|| fault("SO_SSL_SET_PROTOCOLS (shorter than dwCount entries)"))?;
    let values: Vec<DWORD> = entries
        .chunks_exact(size_of::<SSLPROTOCOL>())
        .map(|e| DWORD::from_ne_bytes([e[0], e[1], e[2], e[3]]))
        .collect();
    Protocols::from_ce_list(&values)
}

/// Parse `SSLCLIENTOPTS` {dwCacheSize, dwCacheLifetime}.
fn client_opts_in(input: &[u8]) -> Result<CacheOptions> {
    let size = dword_in(input, "SO_SSL_SET_CLIENT_OPTS")?;
    let lifetime = dword_in(
        input.get(4..).unwrap_or(&[]),
        "SO_SSL_SET_CLIENT_OPTS (needs 8 bytes)",
    )?;
    Ok(CacheOptions {
        size,
        lifetime_ms: lifetime,
    })
}

fn protocols_out(protocols: Protocols) -> Vec<u8> {
    let list = protocols.to_ce_list();
    let mut bytes = (list.len() as DWORD).to_ne_bytes().to_vec();
    for p in list {
        bytes.extend_from_slice(bytes_of(&SSLPROTOCOL {
            dwProtocol: p,
            dwVersion: 0,
            dwFlags: 0,
        }));
    }
    bytes
}

/// Why a short `SO_SSL_SET_VALIDATE_CERT_HOOK` buffer is refused: two pointers, 16 bytes on 64-bit
/// targets (a CE program's hand-built 8-byte buffer is too short there), 8 on 32-bit ones as on CE.
const HOOK_TOO_SHORT: &str = if size_of::<SSLVALIDATECERTHOOK>() == 16 {
    "SO_SSL_SET_VALIDATE_CERT_HOOK (needs a 16-byte SSLVALIDATECERTHOOK)"
} else {
    "SO_SSL_SET_VALIDATE_CERT_HOOK (needs an 8-byte SSLVALIDATECERTHOOK)"
};

fn set_hook(sock: &SecureSocket, input: &[u8]) -> Result<()> {
    if input.len() < size_of::<SSLVALIDATECERTHOOK>() {
        return Err(fault(HOOK_TOO_SHORT));
    }
    // SAFETY: at least size_of::<SSLVALIDATECERTHOOK>() bytes; read unaligned; a function pointer and
    // a data pointer, for which every bit pattern of the caller's struct is what it meant.
    let raw = unsafe {
        input
            .as_ptr()
            .cast::<SSLVALIDATECERTHOOK>()
            .read_unaligned()
    };
    let hook: Option<Arc<dyn crate::secure::CertJudge>> = match raw.HookFunc {
        Some(_) => Some(Arc::new(ValidateHook { raw })),
        None => None,
    };
    sock.set_hook(hook)
}

fn get_hook(sock: &SecureSocket) -> SSLVALIDATECERTHOOK {
    sock.hook()
        .and_then(|h| h.as_any().downcast_ref::<ValidateHook>().map(|v| v.raw))
        .unwrap_or(SSLVALIDATECERTHOOK {
            HookFunc: None,
            pvArg: std::ptr::null_mut(),
        })
}

fn set_nonblocking(s: c_int, on: bool) -> Result<()> {
    match fd::is_socket(s) {
        Ok(true) => fd::set_nonblocking(s, on).map_err(|e| Error::os(e, "FIONBIO")),
        _ => Err(Error::new(
            WsaCode::ENOTSOCK,
            format!("FIONBIO: descriptor {s} is not a socket"),
        )),
    }
}

fn readable(s: c_int) -> Result<usize> {
    if let Some(sock) = crate::table::lookup(s) {
        return sock.socket()?.readable_bytes();
    }
    if !matches!(fd::is_socket(s), Ok(true)) {
        return Err(Error::new(
            WsaCode::ENOTSOCK,
            format!("FIONREAD: descriptor {s} is not a socket"),
        ));
    }
    let mut n: c_int = 0;
    // SAFETY: FIONREAD writes one int; sslsock does not export ioctl.
    if unsafe { libc::ioctl(s, libc::FIONREAD, &mut n) } != 0 {
        return Err(Error::last_os("FIONREAD"));
    }
    Ok(n.max(0) as usize)
}

/// Implements Winsock `ioctlsocket`: FIONBIO (Linux 0x5421 or Winsock 0x8004667E: the low 32 bits
/// of `cmd` are compared, so a sign-extended Winsock value works) and FIONREAD (0x541B or
/// 0x4004667F; decrypted bytes ready on a secure socket). Other commands go to libc's `ioctl`.
///
/// # Safety
/// `argp` valid for a `u_long` (FIONBIO reads its low 32 bits only).
#[no_mangle]
pub unsafe extern "C" fn ioctlsocket(s: c_int, cmd: c_long, argp: *mut c_ulong) -> c_int {
    let low = cmd as u64 as u32;
    guard("ioctlsocket", SOCKET_ERROR, || {
        if argp.is_null() {
            return Err(fault("ioctlsocket"));
        }
        match low {
            WINSOCK_FIONBIO | LINUX_FIONBIO | WINSOCK_FIONREAD | LINUX_FIONREAD => {}
            _ => {
                // SAFETY: an ioctl the program asked for, passed through to libc.
                let rc = unsafe { libc::ioctl(s, cmd as libc::c_ulong as _, argp) };
                return if rc < 0 {
                    Err(Error::last_os("ioctlsocket"))
                } else {
                    Ok(rc)
                };
            }
        }
        if low == WINSOCK_FIONBIO || low == LINUX_FIONBIO {
            // SAFETY: argp is non-NULL and points to at least 4 bytes (u_long or a DWORD).
            let on = unsafe { argp.cast::<u32>().read_unaligned() } != 0;
            if !on && super::events::is_selected(s) {
                // Winsock: a socket under WSAEventSelect cannot be made blocking until it is cancelled.
                return Err(Error::new(
                    WsaCode::EINVAL,
                    "ioctlsocket(FIONBIO, 0): the socket has a WSAEventSelect selection (cancel it \
                     with lNetworkEvents 0 first)",
                ));
            }
            set_nonblocking(s, on)?;
        } else {
            let n = readable(s)?;
            // SAFETY: argp points to a u_long, as the prototype says.
            unsafe { argp.write_unaligned(n as c_ulong) };
        }
        Ok(0)
    })
}
