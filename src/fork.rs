//! `fork`: the child keeps working plain sockets; secure sockets it inherits belong to the parent.
//!
//! A TLS session cannot be continued by two processes (sequence numbers and keys would clash), so the
//! child's copies are "inherited": every call on them fails with WSAECONNABORTED and a reason, and
//! closing them closes the child's descriptor only (no close_notify, no TCP shutdown, which would end
//! the parent's connection). The parent is unaffected.
//!
//! The handlers are registered with `pthread_atfork` when the first secure socket is made (never from a
//! constructor). The child must not inherit a process-wide lock held by a thread that does not exist
//! there (its first secure socket would wait for it forever), so `prepare` takes them all, in this
//! order, and `parent` and `child` release them in the reverse order:
//!
//! 1. the one-time initialisation lock (`locks::init_once`: trust anchors, CRLs, the crypto provider, the
//!    settings, ...), so that no initialisation is inherited half done;
//! 2. the cache of shared client configurations (`secure::config`);
//! 3. the session cache (`secure::sessions`);
//! 4. kernel TLS's answers per protocol and cipher (`secure::records::kernel`);
//! 5. the chains found trusted (`secure::verify`);
//! 6. every shard of the descriptor table (`table::lock_all`);
//! 7. the registry of epoll sets holding secure sockets (`ffi::epoll`);
//! 8. the numbers of sslsock's own descriptors (`hidden`).
//!
//! None of these is ever held while taking one before it in this list (each of 2 to 8 is held only
//! around its own map operations, 7 also around the `epoll_create1`/`epoll_ctl` calls on an inner
//! set that go with them, system calls that take no lock of ours, and initialisations take none of 2
//! to 8), so `prepare` cannot
//! deadlock with a running thread. Locks 1 to 5 are `std::sync::Mutex`: releasing one in the child is
//! an atomic swap and at most a futex wake, never a walk of a user-space queue that a vanished thread
//! may have been changing. Per-socket locks are not taken: a socket inherited by the child is never
//! locked there. The guards of 1 to 5 stay with the forking thread (the one thread that runs all
//! three handlers) between `prepare` and `parent`/`child`.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{MutexGuard, Once};

/// Set (for good) by [`watch`], which runs before the first descriptor becomes secure.
static SECURE_SOCKETS_MADE: AtomicBool = AtomicBool::new(false);

/// Register the fork handlers (once). Called by `table::insert`, i.e. before any descriptor becomes
/// secure.
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

/// The guards `prepare` keeps. Fields drop in declaration order: the reverse of the taking order.
struct Held {
    _shared: crate::secure::HeldForFork,
    _init: MutexGuard<'static, ()>,
}

thread_local! {
    /// What `prepare` took on this thread, until `parent` or `child` releases it.
    static HELD: RefCell<Option<Held>> = const { RefCell::new(None) };
}

extern "C" fn prepare() {
    let init = crate::locks::hold_init();
    let shared = crate::secure::hold_for_fork();
    crate::table::lock_all();
    #[cfg(not(miri))]
    crate::ffi::epoll::lock_for_fork();
    crate::hidden::lock_for_fork();
    let held = Held {
        _shared: shared,
        _init: init,
    };
    // Without the thread-local (fork called from a thread-local destructor) the guards drop here:
    // the child is then no worse off than without them.
    let _ = HELD.try_with(|h| *h.borrow_mut() = Some(held));
}

/// Release what `prepare` took, in the reverse order.
fn release() {
    crate::hidden::unlock_for_fork();
    #[cfg(not(miri))]
    crate::ffi::epoll::unlock_for_fork();
    crate::table::unlock_all();
    let _ = HELD.try_with(|h| drop(h.borrow_mut().take()));
}

extern "C" fn parent() {
    release();
}

extern "C" fn child() {
    release();
    crate::table::next_generation();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secure_socket_is_seen_by_the_fast_path() {
        let fd = 1 << 20; // never a real descriptor here
        let socket = crate::secure::SecureSocket::new(fd, crate::table::generation());
        let _ = crate::table::insert(fd, socket);
        assert!(
            secure_sockets_made(),
            "table::insert must call fork::watch: poll and select skip every descriptor without it"
        );
        let _ = crate::table::forget(fd);
    }

    /// Another thread holds the configuration and session caches when the process forks: `prepare`
    /// waits for it, so the child finds them free (before, the child inherited them held by a thread
    /// it does not have, and its first secure socket waited forever).
    #[test]
    fn the_child_never_inherits_a_cache_lock_held_by_another_thread() {
        watch();
        let (taken, wait_taken) = std::sync::mpsc::channel();
        let holder = std::thread::spawn(move || {
            let held = crate::secure::hold_for_fork();
            taken.send(()).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(300));
            drop(held);
        });
        wait_taken.recv().unwrap();
        // SAFETY: the child only takes sslsock's locks (std mutexes) and leaves with _exit.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            drop(crate::secure::hold_for_fork());
            // SAFETY: ends the child at once, running nothing of the test harness.
            unsafe { libc::_exit(0) };
        }
        assert!(pid > 0, "fork failed");
        let start = std::time::Instant::now();
        let mut status = 0;
        loop {
            // SAFETY: waits for our own child; `status` is a valid int.
            if unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } == pid {
                break;
            }
            if start.elapsed() > std::time::Duration::from_secs(10) {
                // SAFETY: our own child.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                    libc::waitpid(pid, &mut status, 0);
                }
                panic!("the child waited 10 s for a lock held by a thread of its parent");
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        holder.join().unwrap();
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    }

    #[test]
    fn prepare_then_release_leaves_every_lock_free() {
        prepare();
        assert!(HELD.with(|h| h.borrow().is_some()));
        release();
        assert!(HELD.with(|h| h.borrow().is_none()));
        // The next fork's handlers take and release everything again (nothing was left held).
        prepare();
        release();
        assert!(HELD.with(|h| h.borrow().is_none()));
    }
}
