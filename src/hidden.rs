//! Descriptors sslsock keeps for itself: the event model's wake-up eventfd, the inner epoll sets and
//! their eventfds. The program never opened them, so it must never close them, nor have their number
//! given to something else while sslsock still uses it: a write meant for an eventfd would otherwise
//! land on whatever took the number (a secure socket's kernel socket, in plaintext).
//!
//! So each one is moved to a high number at birth ([`hide`]), and the interposed calls that close or
//! replace numbers leave it alone: `close` of it answers EBADF (as for a number the program never
//! opened), `close_range` and `closefrom` close around it, and `dup2`/`dup3` onto it answer EBUSY (the
//! kernel's answer when a number is being taken at the same moment). Raw system calls cannot be
//! interposed (docs/api.md, "Waiting"). All of them are close-on-exec.
//!
//! "Is this number one of ours?" is one atomic load for a number below the lowest of them (a
//! program's numbers nearly always are). The numbers' lock is taken last by `fork`'s `prepare`
//! (src/fork.rs) and never held while taking another.

use std::ffi::c_int;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Mutex, MutexGuard};

use crate::sys::real;

/// The lowest hidden number open (`c_int::MAX`: none). Every check of a number below it (the
/// program's own, nearly always) is this one load.
static LOWEST: AtomicI32 = AtomicI32::new(c_int::MAX);
/// Their numbers. A `std` mutex (a futex): released in a `fork` child whatever other threads of the
/// parent were doing, which parking_lot's locks (a process-wide table of waiters) are not.
static NUMBERS: Mutex<Vec<c_int>> = Mutex::new(Vec::new());

fn numbers() -> MutexGuard<'static, Vec<c_int>> {
    crate::locks::lock(&NUMBERS)
}

/// The lock `lock_for_fork` took, until `unlock_for_fork`.
static HELD: crate::locks::ForkSlot<MutexGuard<'static, Vec<c_int>>> =
    crate::locks::ForkSlot::new();

/// `fork`'s `prepare` (lock 8 in src/fork.rs): hold the numbers, so that the child never inherits
/// them locked by a thread it does not have.
pub fn lock_for_fork() {
    HELD.put(numbers());
}

/// Release what `lock_for_fork` took (parent and child).
pub fn unlock_for_fork() {
    drop(HELD.take());
}

/// The lowest number a hidden descriptor takes: half the soft RLIMIT_NOFILE, at most 4096 (above
/// the numbers a program's first descriptors get, within what it may open).
fn base() -> c_int {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid rlimit to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return 3;
    }
    (limit.rlim_cur / 2).clamp(3, 4096) as c_int
}

/// Take `fd`, just made by sslsock, as a hidden descriptor: moved to a high number (close-on-exec)
/// when one is free there, and recorded. Returns the number to use from now on.
pub fn hide(fd: c_int) -> c_int {
    // SAFETY: F_DUPFD_CLOEXEC with an int argument on a descriptor we own.
    let high = unsafe { real::fcntl(fd, libc::F_DUPFD_CLOEXEC, base() as usize) };
    let fd = if high >= 0 {
        // SAFETY: our own descriptor, now also at `high`.
        unsafe { real::close(fd) };
        high
    } else {
        fd
    };
    let mut numbers = numbers();
    numbers.push(fd);
    set_lowest(&numbers);
    fd
}

/// Record the lowest of `numbers` (the numbers' lock held).
fn set_lowest(numbers: &[c_int]) {
    let lowest = numbers.iter().copied().min().unwrap_or(c_int::MAX);
    LOWEST.store(lowest, Ordering::Release);
}

/// Close hidden descriptor `fd` (ours: the program cannot have closed it through an interposed
/// call).
pub fn close(fd: c_int) {
    {
        let mut numbers = numbers();
        let Some(i) = numbers.iter().position(|&n| n == fd) else {
            return;
        };
        numbers.swap_remove(i);
        set_lowest(&numbers);
    }
    // SAFETY: our own descriptor, recorded until now.
    unsafe { real::close(fd) };
}

/// Whether `fd` is one of sslsock's own descriptors.
#[inline]
pub fn is_hidden(fd: c_int) -> bool {
    fd >= LOWEST.load(Ordering::Acquire) && numbers().contains(&fd)
}

/// The hidden numbers from `first` to `last`, in order.
pub fn in_range(first: libc::c_uint, last: libc::c_uint) -> Vec<c_int> {
    if (last.min(c_int::MAX as libc::c_uint) as c_int) < LOWEST.load(Ordering::Acquire) {
        return Vec::new();
    }
    let mut found: Vec<c_int> = numbers()
        .iter()
        .copied()
        .filter(|&n| (first..=last).contains(&(n as libc::c_uint)))
        .collect();
    found.sort_unstable();
    found
}

/// The pieces of `first..=last` without the hidden numbers in it (what `close_range` and `closefrom`
/// close instead of the whole range).
pub fn pieces(first: libc::c_uint, last: libc::c_uint) -> Vec<(libc::c_uint, libc::c_uint)> {
    let mut out = Vec::new();
    let mut from = first;
    for h in in_range(first, last) {
        let h = h as libc::c_uint;
        if h > from {
            out.push((from, h - 1));
        }
        from = h.saturating_add(1);
        if h == libc::c_uint::MAX {
            return out;
        }
    }
    if from <= last {
        out.push((from, last));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_numbers_are_high_recorded_and_left_out_of_ranges() {
        // SAFETY: plain integers.
        let fd = hide(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) });
        assert!(fd >= 3 && is_hidden(fd));
        assert!(!is_hidden(fd + 1));
        let n = fd as libc::c_uint;
        // (Other tests may hold hidden numbers too: only `fd` is known here.)
        let around = pieces(0, n + 5);
        assert!(!around.iter().any(|&(a, b)| a <= n && n <= b), "{around:?}");
        assert_eq!(around.first().map(|p| p.0), Some(0));
        assert!(around.iter().all(|&(a, b)| a <= b && b <= n + 5));
        assert_eq!(pieces(n, n), vec![]);
        close(fd);
        assert!(!is_hidden(fd));
        // SAFETY: F_GETFD on a closed number only answers EBADF.
        assert_eq!(unsafe { real::fcntl(fd, libc::F_GETFD, 0) }, -1);
    }
}
