//! The process-wide locks' helpers: poison-free locking of the caches `fork` holds across its
//! handlers, and one-time initialisation under the lock `fork` takes first (see `fork`'s note for the
//! order). Depends on nothing of sslsock, so every module may use it.

use std::cell::Cell;
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

/// Lock a `std::sync::Mutex` of the ones `prepare` takes, whether or not a panic poisoned it (the
/// data it guards are caches, consistent after every operation).
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
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
    let _lock = (!nested).then(|| lock(&INIT));
    let _depth = Depth::enter();
    cell.get_or_init(init)
}

/// Take the one-time initialisation lock (`fork`'s `prepare`).
pub fn hold_init() -> MutexGuard<'static, ()> {
    lock(&INIT)
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
