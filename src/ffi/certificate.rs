//! CE's certificate cracker, `SslCrackCertificate` / `SslFreeCertificate` (schannel.dll on CE;
//! declared in `sslsock.h`, reachable as on CE through the compat `LoadLibrary("schannel.dll")` +
//! `GetProcAddress`). What the fields hold is decided in `crate::certificate`; this file lays the
//! result out in memory the C program owns until it calls `SslFreeCertificate`.

use super::guard;
use crate::abi::{PX509Certificate, PctPublicKey, X509Certificate, BOOL, BYTE, DWORD, FILETIME};
use crate::certificate::{crack, CrackedCertificate};
use crate::error::{Error, WsaCode};

/// One block per cracked certificate. `cert` comes first, so the `X509Certificate *` handed out is
/// the block's own address; the strings and the key it points to are owned by the block.
#[repr(C)]
struct CrackedBlock {
    cert: X509Certificate,
    /// NUL-terminated (the program may write into the strings, as CE's were plain memory).
    _issuer: Vec<u8>,
    _subject: Vec<u8>,
    /// `PctPublicKey` header and key bytes, in DWORDs for the header's alignment.
    _key: Vec<u32>,
}

/// Implements CE's `SslCrackCertificate` (schannel): parse the DER X.509 certificate of
/// `cbCertificate` bytes at `pbCertificate` (e.g. a validation hook's `pCertChain[0]`) and set
/// `*ppCertificate` to an `X509Certificate` (issuer and subject as `"O=Example, CN=host"`, dates as
/// FILETIME, serial, key; docs/porting.md), freed with `SslFreeCertificate`. `dwFlags`:
/// `CF_CERT_FROM_FILE` or 0 (other bits are ignored: trust is the handshake's decision here).
///
/// Returns TRUE, or FALSE with `*ppCertificate` NULL and the last error (`GetLastError`/
/// `WSAGetLastError`) `ERROR_INVALID_PARAMETER` for NULL pointers or a length of 0, or
/// `ERROR_INVALID_DATA` for bytes that are not exactly one certificate (truncated, garbage, trailing
/// bytes without `CF_CERT_FROM_FILE`, a date before 1601); `sslsock_last_error_reason` says why.
///
/// # Safety
/// `pbCertificate` NULL or readable for `cbCertificate` bytes; `ppCertificate` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn SslCrackCertificate(
    pbCertificate: *mut BYTE,
    cbCertificate: DWORD,
    dwFlags: DWORD,
    ppCertificate: *mut PX509Certificate,
) -> BOOL {
    guard("SslCrackCertificate", 0, || {
        if ppCertificate.is_null() {
            return Err(Error::new(
                WsaCode::WIN32_INVALID_PARAMETER,
                "SslCrackCertificate: ppCertificate is NULL",
            ));
        }
        // SAFETY: non-NULL and writable by the caller's contract.
        unsafe { ppCertificate.write(std::ptr::null_mut()) };
        if pbCertificate.is_null() || cbCertificate == 0 {
            return Err(Error::new(
                WsaCode::WIN32_INVALID_PARAMETER,
                "SslCrackCertificate: no certificate bytes (NULL or length 0)",
            ));
        }
        // SAFETY: non-NULL, and the caller vouches for `cbCertificate` readable bytes.
        let der = unsafe { std::slice::from_raw_parts(pbCertificate, cbCertificate as usize) };
        let cracked = crack(der, dwFlags).map_err(|e| {
            Error::new(
                WsaCode::WIN32_INVALID_DATA,
                format!("SslCrackCertificate: {}", e.0),
            )
        })?;
        let block = Box::into_raw(lay_out(cracked));
        // SAFETY: as above; `block` points to a live `CrackedBlock` whose first field is the
        // certificate (repr(C)), so its address is the certificate's.
        unsafe { ppCertificate.write(block.cast::<X509Certificate>()) };
        Ok(1)
    })
}

/// Implements CE's `SslFreeCertificate` (schannel): frees what `SslCrackCertificate` gave. NULL is
/// ignored.
///
/// # Safety
/// `pCertificate` NULL or a pointer `SslCrackCertificate` returned and not yet freed.
#[no_mangle]
pub unsafe extern "C" fn SslFreeCertificate(pCertificate: PX509Certificate) {
    if pCertificate.is_null() {
        return;
    }
    guard("SslFreeCertificate", (), || {
        // SAFETY: made by `Box::into_raw` of a `CrackedBlock` in `SslCrackCertificate`, whose first
        // field is this certificate; the caller frees it once.
        drop(unsafe { Box::from_raw(pCertificate.cast::<CrackedBlock>()) });
        Ok(())
    })
}

fn lay_out(c: CrackedCertificate) -> Box<CrackedBlock> {
    // NUL-terminated; the names hold no NUL of their own (`crate::certificate` escapes control
    // characters), and one would only end the C string early.
    let text = |s: String| {
        let mut bytes = s.into_bytes();
        bytes.push(0);
        bytes
    };
    let issuer = text(c.issuer);
    let subject = text(c.subject);
    // Header (Type, cbKey) then the bytes, rounded up to whole DWORDs; at least the declared one byte.
    let words = 2 + c.key.len().max(1).div_ceil(4);
    let mut key = vec![0u32; words];
    key[0] = c.key_type;
    key[1] = c.key.len() as u32;
    for (i, chunk) in c.key.chunks(4).enumerate() {
        let mut w = [0u8; 4];
        w[..chunk.len()].copy_from_slice(chunk);
        // Native order: the bytes land in memory in their own order.
        key[2 + i] = u32::from_ne_bytes(w);
    }
    let filetime = |t: u64| FILETIME {
        dwLowDateTime: t as u32,
        dwHighDateTime: (t >> 32) as u32,
    };
    let mut block = Box::new(CrackedBlock {
        cert: X509Certificate {
            Version: c.version,
            SerialNumber: c.serial,
            SignatureAlgorithm: c.signature_algorithm,
            ValidFrom: filetime(c.valid_from),
            ValidUntil: filetime(c.valid_until),
            pszIssuer: std::ptr::null_mut(),
            pszSubject: std::ptr::null_mut(),
            pPublicKey: std::ptr::null_mut(),
        },
        _issuer: issuer,
        _subject: subject,
        _key: key,
    });
    // The heap buffers of the CString and Vec do not move with the box.
    block.cert.pszIssuer = block._issuer.as_mut_ptr().cast();
    block.cert.pszSubject = block._subject.as_mut_ptr().cast();
    block.cert.pPublicKey = block._key.as_mut_ptr().cast::<PctPublicKey>();
    block
}
