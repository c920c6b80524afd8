//! The C face: every exported function, grouped by family. Each export is thin: it checks its
//! arguments with the helpers here, calls into `secure`, and turns the result into the Winsock/POSIX
//! return convention through [`guard`], which also keeps panics from crossing into C.
//!
//! Plain (non-secure) descriptors take the fast path before any of that: one bit test in the table,
//! then libc's own function, with only the Winsock last error recorded on failure.

use std::ffi::{c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use crate::error::{self, Error, Result, WsaCode};
use crate::log::log;
use crate::secure::SecureSocket;
use crate::settings::Level;
use crate::sys::fd;
use crate::table::Binding;

pub mod aliases;
pub mod certificate;
pub mod descriptors;
pub mod epoll;
pub mod events;
pub mod extensions;
pub mod files;
mod hook;
pub mod io;
pub mod ioctl;
pub mod lifecycle;
pub mod messages;
pub mod options;
pub mod poll;
pub mod select;
pub mod sets;
#[cfg(all(target_pointer_width = "32", target_env = "gnu"))]
pub mod time64;
pub mod winsock;

/// Winsock's failure return.
pub const SOCKET_ERROR: i32 = -1;

/// Run the body of an export: an error is recorded (last error, errno, reason) and turned into
/// `failed`; a panic likewise, as WSAENETDOWN ("the network subsystem has failed").
pub fn guard<T>(call: &'static str, failed: T, body: impl FnOnce() -> Result<T>) -> T {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(value)) => value,
        Ok(Err(e)) => {
            if !e.is_would_block() {
                log!(Level::Debug, "{call}: {e}");
            }
            error::record(&e);
            failed
        }
        Err(_) => {
            let e = Error::new(
                WsaCode::ENETDOWN,
                format!("{call}: internal error in sslsock (panic caught)"),
            );
            log!(Level::Error, "{e}");
            error::record(&e);
            failed
        }
    }
}

/// The result of libc's function on a plain descriptor, with the Winsock last error recorded on
/// failure and errno left exactly as libc set it.
#[inline]
pub fn plain<T: Copy + PartialOrd + From<i8>>(call: &'static str, result: T) -> T {
    if result < T::from(0) {
        error::record_os(call);
    }
    result
}

/// Run a call on a descriptor that has a secure binding: `secure` with its socket, inside [`guard`]
/// (a number being closed fails with EBADF: it may still reach the secure connection, so libc must not
/// have it). If the call fails and the descriptor turns out to be stale — closed behind sslsock's back
/// (`fclose` of an `fdopen` stream, `closefrom`, a raw system call) and its number reused by `open`
/// or the like — the binding ends and `libc_call` runs instead, so that the number behaves as the new
/// object. Only a failing call pays for that check (one `fstat`).
pub fn on_secure<T: Copy + PartialOrd + From<i8>>(
    call: &'static str,
    fd: c_int,
    binding: Arc<Binding>,
    failed: T,
    secure: impl FnOnce(&SecureSocket) -> Result<T>,
    libc_call: impl FnOnce() -> T,
) -> T {
    let mut stale = None;
    // errno is left as it was on success (the calls made inside may have set it).
    let errno_before = crate::error::errno();
    let value = guard(call, failed, || {
        let sock = binding.socket()?;
        if crate::table::is_inherited(sock) {
            return Err(Error::new(
                WsaCode::ECONNABORTED,
                "this secure socket was inherited across fork(): its TLS session belongs to the parent; \
                 the child may only close it",
            ));
        }
        match secure(sock) {
            // Stale only if sslsock itself did not close or replace the number meanwhile (a `dup2`
            // onto it, while this call waited, gives the number to another socket: that is no reason
            // to hand the call to libc).
            Err(e)
                if !e.is_would_block()
                    && sock.is_stale(fd)
                    && crate::table::is_current(fd, &binding) =>
            {
                stale = Some(sock.clone());
                Ok(failed)
            }
            other => other,
        }
    });
    match stale {
        Some(sock) => {
            log!(
                Level::Debug,
                "fd {fd}: closed behind sslsock's back and reused: the secure state is dropped"
            );
            crate::table::retire(fd, &sock);
            plain(call, libc_call())
        }
        None => {
            if value != failed {
                crate::error::set_errno(errno_before);
            }
            value
        }
    }
}

/// The secure state a Winsock SSL call needs: WSAENOTSOCK for something that is not a socket,
/// WSAEINVAL for a socket without SO_SECURE, WSAECONNABORTED for one inherited across `fork` (its
/// locks are never taken in the child, where another thread may have held them at the fork).
pub fn secure_socket(s: i32, call: &'static str) -> Result<Arc<SecureSocket>> {
    if let Some(binding) = crate::table::lookup(s) {
        let sock = binding.socket()?.clone();
        if crate::table::is_inherited(&sock) {
            return Err(Error::new(
                WsaCode::ECONNABORTED,
                format!("{call}: this secure socket was inherited across fork(): its TLS session belongs to the parent"),
            ));
        }
        return Ok(sock);
    }
    match fd::is_socket(s) {
        Ok(true) => Err(Error::new(
            WsaCode::EINVAL,
            format!("{call}: the socket is not secure (setsockopt SO_SECURE = SO_SEC_SSL first)"),
        )),
        _ => Err(Error::new(
            WsaCode::ENOTSOCK,
            format!("{call}: descriptor {s} is not a socket"),
        )),
    }
}

/// A caller's input buffer: NULL is allowed only with length 0.
///
/// # Safety
/// A non-NULL `ptr` must be valid for reads of `len` bytes for the returned lifetime.
pub unsafe fn in_bytes<'a>(ptr: *const c_void, len: usize, what: &'static str) -> Result<&'a [u8]> {
    if ptr.is_null() || len > isize::MAX as usize {
        return if len == 0 { Ok(&[]) } else { Err(fault(what)) };
    }
    // SAFETY: non-NULL, and the caller vouches for `len` readable bytes.
    Ok(unsafe { std::slice::from_raw_parts(ptr.cast(), len) })
}

/// A caller's output buffer: NULL is allowed only with length 0.
///
/// # Safety
/// A non-NULL `ptr` must be valid for writes of `len` bytes for the returned lifetime.
pub unsafe fn out_bytes<'a>(
    ptr: *mut c_void,
    len: usize,
    what: &'static str,
) -> Result<&'a mut [u8]> {
    if ptr.is_null() || len > isize::MAX as usize {
        return if len == 0 {
            Ok(&mut [])
        } else {
            Err(fault(what))
        };
    }
    // SAFETY: non-NULL, and the caller vouches for `len` writable bytes.
    Ok(unsafe { std::slice::from_raw_parts_mut(ptr.cast(), len) })
}

/// WSAEFAULT for a bad buffer.
pub fn fault(what: &'static str) -> Error {
    Error::new(
        WsaCode::EFAULT,
        format!("{what}: a buffer is NULL or too small"),
    )
}
