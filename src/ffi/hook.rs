//! The program's CE certificate validation hook, as a `CertJudge` for the TLS side.

use std::any::Any;

use crate::abi::{BLOB, DWORD, SSLVALIDATECERTHOOK, SSL_CERT_X509, SSL_ERR_FAILED};
use crate::secure::CertJudge;

/// A hook set with `SO_SSL_SET_VALIDATE_CERT_HOOK`.
pub struct ValidateHook {
    /// As the program gave it (read back by `SO_SSL_GET_VALIDATE_CERT_HOOK`).
    pub raw: SSLVALIDATECERTHOOK,
}

// SAFETY: `pvArg` is an opaque value the program asked to get back; sslsock never dereferences it,
// and CE calls the hook from whichever thread drives the handshake, as sslsock does.
unsafe impl Send for ValidateHook {}
// SAFETY: as above; the struct is never mutated after creation.
unsafe impl Sync for ValidateHook {}

impl CertJudge for ValidateHook {
    fn judge(&self, leaf_der: &[u8], flags: DWORD) -> i32 {
        let Some(func) = self.raw.HookFunc else {
            return SSL_ERR_FAILED;
        };
        // The hook gets its own copy: CE's BLOB is mutable, and the program may scribble on it.
        let mut der = leaf_der.to_vec();
        let mut blob = BLOB {
            cbSize: der.len() as u32,
            pBlobData: der.as_mut_ptr(),
        };
        // SAFETY: `func` is the program's function with the CE hook prototype; `blob` and the bytes it
        // points to live until the call returns; `pvArg` is passed back untouched.
        unsafe { func(SSL_CERT_X509, self.raw.pvArg, 1, &mut blob, flags) }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
