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
//! 1. the one-time initialisation lock ([`init_once`]: trust anchors, CRLs, the crypto provider, the
//!    settings, ...), so that no initialisation is inherited half done;
//! 2. the cache of shared client configurations (`secure::config`);
//! 3. the session cache (`secure::sessions`);
//! 4. kernel TLS's answers per protocol and cipher (`secure::ktls`);
//! 5. every shard of the descriptor table (`table::lock_all`).
//!
//! None of these is ever held while taking one before it in this list (each of 2 to 5 is held only
//! around its own map operations, and initialisations take none of 2 to 5), so `prepare` cannot
//! deadlock with a running thread. Locks 1 to 4 are `std::sync::Mutex`: releasing one in the child is
//! an atomic swap and at most a futex wake, never a walk of a user-space queue that a vanished thread
//! may have been changing. Per-socket locks are not taken: a socket inherited by the child is never
//! locked there. The guards of 1 to 4 stay with the forking thread (the one thread that runs all
//! three handlers) between `prepare` and `parent`/`child`.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, Once, OnceLock, PoisonError};

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

/// Lock a `std::sync::Mutex` of the ones `prepare` takes, whether or not a panic poisoned it (the
/// data it guards are caches, consistent after every operation).
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Lock 1 of the module's list: held while a one-time initialisation runs, and by `prepare`.
static INIT: Mutex<()> = Mutex::new(());

thread_local! {
    /// How many [`init_once`] calls this thread is inside (an initialisation may need another one).
    static INIT_DEPTH: Cell<u32> = const { Cell::new(0) };
    /// What `prepare` took on this thread, until `parent` or `child` releases it.
    static HELD: RefCell<Option<Held>> = const { RefCell::new(None) };
}

/// The guards `prepare` keeps. Fields drop in declaration order: the reverse of the taking order.
struct Held {
    _shared: crate::secure::HeldForFork,
    _init: MutexGuard<'static, ()>,
}

/// Counts this thread into an initialisation for as long as it lives.
struct Depth;

impl Depth {
    fn enter() -> Depth {
        INIT_DEPTH.with(|d| d.set(d.get() + 1));
        Depth
    }
}

impl Drop for Depth {
    fn drop(&mut self) {
        INIT_DEPTH.with(|d| d.set(d.get() - 1));
    }
}

/// `cell.get_or_init(init)`, with `init` run under the one-time initialisation lock (lock 1), so that
/// `fork` waits for it to finish instead of leaving the child a cell that stays "being initialised"
/// forever. Initialisations may nest (on the same thread the lock is taken once). Costs one atomic
/// load once the cell is set.
pub fn init_once<T>(cell: &'static OnceLock<T>, init: impl FnOnce() -> T) -> &'static T {
    if let Some(value) = cell.get() {
        return value;
    }
    // `INIT_DEPTH` is a const-initialised `Cell` (no destructor), so it is there until the thread ends.
    let nested = INIT_DEPTH.with(|d| d.get() > 0);
    let _lock = (!nested).then(|| lock(&INIT));
    let _depth = Depth::enter();
    cell.get_or_init(init)
}

extern "C" fn prepare() {
    let init = lock(&INIT);
    let shared = crate::secure::hold_for_fork();
    crate::table::lock_all();
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
    crate::table::unlock_all();
    let _ = HELD.try_with(|h| drop(h.borrow_mut().take()));
}

extern "C" fn parent() {
    release();
}

extern "C" fn child() {
    release();
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

    #[test]
    fn initialisations_nest_and_run_once() {
        static OUTER: OnceLock<u32> = OnceLock::new();
        static INNER: OnceLock<u32> = OnceLock::new();
        let value = init_once(&OUTER, || *init_once(&INNER, || 20) + 1);
        assert_eq!(*value, 21);
        assert_eq!(*init_once(&OUTER, || 0), 21);
        assert_eq!(INIT_DEPTH.with(Cell::get), 0);
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
