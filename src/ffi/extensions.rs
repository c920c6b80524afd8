//! sslsock's own extensions to the CE API (declared in `sslsock.h`).

use std::ffi::{c_char, c_int, CStr};

use super::{fault, guard, secure_socket, SOCKET_ERROR};
use crate::error::{Error, WsaCode};
use crate::secure::ClientIdentity;

/// sslsock extension (CE had client certificates only through its CryptoAPI hooks): use the PEM
/// certificate chain in `cert_file` and the PEM private key in `key_file` (PKCS#8, PKCS#1 or SEC1; NULL:
/// the key is in `cert_file`) when a server asks this secure socket for a client certificate. Call it
/// before the handshake. `cert_file` NULL returns to the default, `SSLSOCK_CLIENT_CERT` /
/// `SSLSOCK_CLIENT_KEY`. Returns 0, or SOCKET_ERROR with WSAEINVAL (unreadable files),
/// WSAENOTSOCK, WSAEINVAL (not a secure socket) or WSAEISCONN (after the handshake).
///
/// # Safety
/// `cert_file` and `key_file` NULL or NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn sslsock_set_client_certificate(
    s: c_int,
    cert_file: *const c_char,
    key_file: *const c_char,
) -> c_int {
    guard("sslsock_set_client_certificate", SOCKET_ERROR, || {
        let sock = secure_socket(s, "sslsock_set_client_certificate")?;
        let text = |p: *const c_char| -> Result<Option<String>, Error> {
            if p.is_null() {
                return Ok(None);
            }
            // SAFETY: a non-NULL NUL-terminated string of the caller's.
            let c = unsafe { CStr::from_ptr(p) };
            c.to_str().map(|t| Some(t.to_string())).map_err(|_| {
                Error::new(
                    WsaCode::EINVAL,
                    "sslsock_set_client_certificate: the path is not UTF-8",
                )
            })
        };
        let identity = match (text(cert_file)?, text(key_file)?) {
            (None, None) => None,
            (None, Some(_)) => {
                return Err(fault(
                    "sslsock_set_client_certificate (key without certificate)",
                ))
            }
            (Some(cert), key) => {
                let key = key.unwrap_or_else(|| cert.clone());
                Some(ClientIdentity::load(&cert, &key)?)
            }
        };
        sock.set_client_identity(identity).map(|()| 0)
    })
}
