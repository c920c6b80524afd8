//! The process-wide locks' helpers: poison-free locking of the caches `fork` holds across its
//! handlers, and one-time initialisation under the lock `fork` takes first (see `fork`'s note for the
//! order). Depends on nothing of sslsock but `fork::arm` (called before a lock is taken), so every
//! module may use it.

use std::cell::{Cell, UnsafeCell};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

/// Lock a `std::sync::Mutex` of the ones `prepare` takes, whether or not a panic poisoned it (the
/// data it guards are caches, consistent after every operation).
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    crate::fork::arm();
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Lock 1 of `fork`'s list: held while a one-time initialisation runs, and by `fork`'s `prepare`.
static INIT: Mutex<()> = Mutex::new(());

thread_local! {
    /// How many [`init_once`] calls this thread is inside (an initialisation may need another one).
    static INIT_DEPTH: Cell<u32> = const { Cell::new(0) };
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
    let _lock = (!nested).then(|| lock(&INIT)); // (`lock` arms `fork`'s second registration)
    let _depth = Depth::enter();
    cell.get_or_init(init)
}

/// Whether this thread is inside a one-time initialisation (and holds its lock, lock 1 of `fork`'s
/// list). The event model's hooks then leave its state alone: sslsock's own file reads (trust
/// anchors, CRLs) go through its `read` and `close` exports, and a number that once had a selection
/// must not make them take the event model's lock, which `fork` takes before this one.
pub fn in_init() -> bool {
    INIT_DEPTH.try_with(|d| d.get() > 0).unwrap_or(false)
}

/// Take the one-time initialisation lock (`fork`'s `prepare`).
pub fn hold_init() -> MutexGuard<'static, ()> {
    lock(&INIT)
}

/// Where `fork`'s `prepare` keeps a guard until `parent` or `child` releases it (src/fork.rs).
///
/// A static, not a thread-local: the fork handlers neither allocate nor touch a thread-local (whose
/// first use on a thread registers its destructor with `calloc`), because an allocator's own fork
/// handlers, registered after sslsock's, run before ours in `prepare` and after ours in `child`, with
/// the allocator's locks held. Only the forking thread touches a slot, between `prepare` and
/// `parent`/`child`, and it holds `prepare`'s first lock all that time (the event model's state, lock 0;
/// lock 1 where the C face is left out, under Miri), so no two threads ever do.
pub struct ForkSlot<T>(UnsafeCell<Option<T>>);

// SAFETY: one thread at a time, as the type's note says: the slot is only used by `fork`'s handlers,
// inside `prepare`'s first lock.
unsafe impl<T> Sync for ForkSlot<T> {}

impl<T> ForkSlot<T> {
    /// An empty slot.
    pub const fn new() -> ForkSlot<T> {
        ForkSlot(UnsafeCell::new(None))
    }

    /// Keep `value` (`prepare`). Called only by the forking thread, inside `prepare`'s first lock.
    pub fn put(&self, value: T) {
        // SAFETY: no other thread touches the slot now (the type's note), and no reference into it
        // outlives these calls.
        unsafe { *self.0.get() = Some(value) };
    }

    /// Take what was kept (`parent`, `child`). Called only by the forking thread, inside `prepare`'s
    /// first lock.
    pub fn take(&self) -> Option<T> {
        // SAFETY: as in `put`.
        unsafe { (*self.0.get()).take() }
    }

    /// Whether something is kept (tests).
    #[cfg(test)]
    pub fn is_full(&self) -> bool {
        // SAFETY: as in `put`.
        unsafe { (*self.0.get()).is_some() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initialisations_nest_and_run_once() {
        static OUTER: OnceLock<u32> = OnceLock::new();
        static INNER: OnceLock<u32> = OnceLock::new();
        let value = init_once(&OUTER, || *init_once(&INNER, || 20) + 1);
        assert_eq!(*value, 21);
        assert_eq!(*init_once(&OUTER, || 0), 21);
        assert_eq!(INIT_DEPTH.with(Cell::get), 0);
    }
}
