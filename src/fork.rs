//! `fork`: the child keeps working plain sockets; secure sockets it inherits belong to the parent.
//!
//! A TLS session cannot be continued by two processes (sequence numbers and keys would clash), so the
//! child's copies are "inherited": every call on them fails with WSAECONNABORTED and a reason, and
//! closing them closes the child's descriptor only (no close_notify, no TCP shutdown, which would end
//! the parent's connection). The parent is unaffected.
//!
//! The handlers are registered with `pthread_atfork` twice, and for each fork exactly one of the two
//! registrations acts:
//!
//! - **At load** (`REGISTER_AT_LOAD`, an `.init_array` entry; the one thing sslsock does at load: one
//!   `pthread_atfork` call, no allocation, no thread, no file). Registering only on first use left a
//!   window: glibc runs only the handlers registered when a `fork` began, so a thread using a lock for
//!   the first time while another thread forked could leave the child that lock held by a thread it
//!   does not have (seen: children hung for good in `WSAEventSelect`, c-tests/fork_first_use.c).
//! - **Before a thread first takes any lock of the list** (`arm`). glibc runs `prepare` handlers in
//!   the reverse order of registration and `parent`/`child` handlers in that order. An allocator with
//!   fork handlers of its own (jemalloc, tcmalloc; glibc's malloc locks itself after every handler)
//!   registers after the load, so with only the first registration its `prepare` would take the
//!   allocator's locks before ours take sslsock's, and a thread holding a lock of ours while it
//!   allocates would deadlock the fork. The second registration comes after the allocator's: its
//!   `prepare` runs before the allocator's.
//!
//! The first `prepare` to run for a fork takes the locks and records which registration it is
//! (`TAKEN_BY`) and the forking thread (`FORKING`); the other `prepare` sees the locks held by its own
//! thread and does nothing; only the `parent`/`child` handler of the registration that took them
//! releases them. The handlers make no allocator call (`locks::ForkSlot`; c-tests/fork_no_alloc.c). A
//! program that links the crate statically (the `staticlib` or the `rlib`) may lose the `.init_array`
//! entry to the linker; the second registration then acts alone, with the first-use window.
//!
//! The child must not inherit a process-wide lock held by a thread that does not exist there (its next
//! call would wait for it forever), so `prepare` takes them all, in this order, and `parent` and
//! `child` release them in the reverse order:
//!
//! 0. the event model's state (`ffi::events`), which is held while log lines are written (settings: lock
//!    1) and while the watcher's eventfd is numbered (lock 8);
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
//! to 8; 0 is taken with none of 1 to 8 held: the event model's hooks leave it alone inside an
//! initialisation, `locks::in_init`), so `prepare` cannot deadlock with a running thread.
//! Locks 0 to 5 are `std::sync::Mutex`: releasing one in the child is
//! an atomic swap and at most a futex wake, never a walk of a user-space queue that a vanished thread
//! may have been changing. Per-socket locks are not taken: a socket inherited by the child is never
//! locked there. The guards of 0 to 5 stay with the forking thread (the one thread that runs all
//! three handlers) between `prepare` and `parent`/`child`.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::MutexGuard;

/// Set (for good) by [`watch`], which runs before the first descriptor becomes secure.
static SECURE_SOCKETS_MADE: AtomicBool = AtomicBool::new(false);

/// A descriptor is about to become secure (`table::insert`): from now on the poll-family hooks look at
/// descriptors.
pub fn watch() {
    arm();
    SECURE_SOCKETS_MADE.store(true, Ordering::Release);
}

/// The first registration: when the library is loaded (glibc calls `.init_array` entries before
/// `main`, or when `dlopen` loads the library), before any thread can use sslsock's locks.
#[cfg(not(miri))]
#[used]
#[link_section = ".init_array"]
static REGISTER_AT_LOAD: extern "C" fn() = register_at_load;

extern "C" fn register_at_load() {
    static DONE: AtomicBool = AtomicBool::new(false);
    if !DONE.swap(true, Ordering::AcqRel) {
        // SAFETY: the three handlers are `extern "C" fn()` that stay valid for the life of the process.
        unsafe { libc::pthread_atfork(Some(prepare_early), Some(parent_early), Some(child_early)) };
    }
}

/// The second registration, made before a thread first takes any lock of the list (`locks::lock`,
/// `locks::init_once`, the table's shards, the event model's state): after the allocator's own, so that
/// ours take sslsock's locks before the allocator takes its own. One atomic load once done. Never
/// waits (a `std::sync::Once` could be inherited "running" by a child forked meanwhile), and does
/// nothing inside sslsock's own handlers.
pub fn arm() {
    static DONE: AtomicBool = AtomicBool::new(false);
    if DONE.load(Ordering::Acquire)
        || cfg!(miri)
        || FORKING.load(Ordering::Acquire) == this_thread()
    {
        return;
    }
    if !DONE.swap(true, Ordering::AcqRel) {
        // SAFETY: the three handlers are `extern "C" fn()` that stay valid for the life of the process.
        unsafe { libc::pthread_atfork(Some(prepare_late), Some(parent_late), Some(child_late)) };
    }
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

/// What `prepare` took, until `parent` or `child` releases it.
static HELD: crate::locks::ForkSlot<Held> = crate::locks::ForkSlot::new();

/// Which registration's handlers took the locks for the fork in progress (`NONE`, `EARLY`, `LATE`).
/// Written only with lock 0 held.
static TAKEN_BY: AtomicU8 = AtomicU8::new(NONE);
const NONE: u8 = 0;
const EARLY: u8 = 1;
const LATE: u8 = 2;

/// The thread that holds the locks for a fork (`pthread_self`), 0 when none does. Written only with
/// lock 0 held.
static FORKING: AtomicUsize = AtomicUsize::new(0);

fn this_thread() -> usize {
    // SAFETY: pthread_self has no precondition (and is async-signal-safe).
    unsafe { libc::pthread_self() as usize }
}

extern "C" fn prepare_early() {
    prepare(EARLY);
}

extern "C" fn prepare_late() {
    prepare(LATE);
}

extern "C" fn parent_early() {
    release(EARLY, false);
}

extern "C" fn parent_late() {
    release(LATE, false);
}

extern "C" fn child_early() {
    release(EARLY, true);
}

extern "C" fn child_late() {
    release(LATE, true);
}

/// Take every lock of the list for a fork, unless this thread already holds them (the other
/// registration's `prepare` ran first for this fork). Glibc runs the late registration's `prepare`
/// first, the early one's `parent`/`child` first: the one that took the locks releases them.
fn prepare(by: u8) {
    let me = this_thread();
    if FORKING.load(Ordering::Acquire) == me {
        return;
    }
    #[cfg(not(miri))]
    crate::ffi::events::hold_for_fork();
    FORKING.store(me, Ordering::Release);
    TAKEN_BY.store(by, Ordering::Release);
    let init = crate::locks::hold_init();
    let shared = crate::secure::hold_for_fork();
    crate::table::lock_all();
    #[cfg(not(miri))]
    crate::ffi::epoll::lock_for_fork();
    crate::hidden::lock_for_fork();
    HELD.put(Held {
        _shared: shared,
        _init: init,
    });
}

/// Release what `prepare` took, in the reverse order, if registration `by` took it; in the child, the
/// parent's event selections are forgotten first and the fork generation moves on.
fn release(by: u8, child: bool) {
    if TAKEN_BY.load(Ordering::Acquire) != by || FORKING.load(Ordering::Acquire) != this_thread() {
        return;
    }
    #[cfg(not(miri))]
    if child {
        crate::ffi::events::forget_selections_after_fork();
    }
    crate::hidden::unlock_for_fork();
    #[cfg(not(miri))]
    crate::ffi::epoll::unlock_for_fork();
    crate::table::unlock_all();
    drop(HELD.take());
    TAKEN_BY.store(NONE, Ordering::Release);
    FORKING.store(0, Ordering::Release);
    #[cfg(not(miri))]
    crate::ffi::events::release_after_fork();
    if child {
        crate::table::next_generation();
    }
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
        prepare(EARLY);
        assert!(HELD.is_full());
        // The late registration's handlers leave alone what the early one's took, and the reverse.
        prepare(LATE);
        release(LATE, false);
        assert!(HELD.is_full());
        release(EARLY, false);
        // The next fork's handlers take and release everything again (nothing was left held).
        prepare(LATE);
        release(EARLY, false);
        release(LATE, false);
        let _lock_1 = crate::locks::hold_init(); // the slot is read with the lock that guards it
        assert!(!HELD.is_full());
    }
}
