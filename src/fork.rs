//! `fork`: the child keeps working plain sockets; secure sockets it inherits belong to the parent.
//!
//! A TLS session cannot be continued by two processes (sequence numbers and keys would clash), so the
//! child's copies are "inherited": every call on them fails with WSAECONNABORTED and a reason, and
//! closing them closes the child's descriptor only (no close_notify, no TCP shutdown, which would end
//! the parent's connection). The parent is unaffected.
//!
//! The handlers are registered with `pthread_atfork` when the first secure socket is made (never from a
//! constructor). `prepare` takes every shard of the descriptor table so that the child never inherits a
//! table lock held by a thread that does not exist there; the child then moves to a new generation.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Once;

static GENERATION: AtomicU64 = AtomicU64::new(0);

/// Set (for good) by [`watch`], which runs before the first descriptor becomes secure.
static SECURE_SOCKETS_MADE: AtomicBool = AtomicBool::new(false);

/// The current fork generation of this process (0 until it is a child of a forking sslsock process).
pub fn generation() -> u64 {
    GENERATION.load(Ordering::Acquire)
}

/// Register the fork handlers (once). Called by `SecureSocket::new`, i.e. before any descriptor
/// becomes secure.
pub fn watch() {
    static REGISTER: Once = Once::new();
    SECURE_SOCKETS_MADE.store(true, Ordering::Release);
    REGISTER.call_once(|| {
        // SAFETY: the three handlers are `extern "C" fn()` that stay valid for the life of the process.
        unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) };
    });
}

/// Whether a secure socket has ever been made in this process (or in the parent it was forked from).
/// False: every descriptor is plain, and an interposed call can go to libc without looking at its
/// arguments. One atomic load.
#[inline]
pub fn secure_sockets_made() -> bool {
    SECURE_SOCKETS_MADE.load(Ordering::Acquire)
}

extern "C" fn prepare() {
    crate::table::lock_all();
}

extern "C" fn parent() {
    crate::table::unlock_all();
}

extern "C" fn child() {
    crate::table::unlock_all();
    GENERATION.fetch_add(1, Ordering::AcqRel);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secure_socket_is_seen_by_the_fast_path() {
        let _ = crate::secure::SecureSocket::new(-1);
        assert!(
            secure_sockets_made(),
            "SecureSocket::new must call fork::watch: poll and select skip every descriptor without it"
        );
    }
}
