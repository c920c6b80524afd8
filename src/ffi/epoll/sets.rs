//! The epoll sets that hold secure sockets: which program set (E) has which inner set (I), and what
//! each secure socket was registered with.
//!
//! A program's epoll set E gets an inner set I at the first `EPOLL_CTL_ADD` of a secure socket. The
//! secure sockets are registered in I (with the program's events and flags, `data` = their descriptor
//! number), I is registered once in E (level-triggered EPOLLIN, `data` = [`tag`] | I), and plain
//! descriptors stay in E. Every number of E (`dup`, `dup2`, `fcntl(F_DUPFD)`) maps to the same I; I
//! is closed with the last of them. One process-wide lock guards all of it (held only around map
//! operations; `fork`'s `prepare` takes it last).
//!
//! "Is this number an epoll set with an inner set?" is one relaxed atomic load of a bit, as the
//! descriptor table's `maybe_secure`.

use std::collections::HashMap;
use std::ffi::c_int;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::secure::SecureSocket;

const BITMAP_FDS: usize = 1 << 20;

/// A set of descriptor numbers, asked with one relaxed atomic load: a bitmap below 2^20 (zero pages
/// until used), a counter for the rare higher numbers.
struct Bits {
    words: [AtomicU64; BITMAP_FDS / 64],
    high: AtomicUsize,
    /// Numbers in the set.
    count: AtomicUsize,
}

impl Bits {
    const fn new() -> Bits {
        Bits {
            words: [const { AtomicU64::new(0) }; BITMAP_FDS / 64],
            high: AtomicUsize::new(0),
            count: AtomicUsize::new(0),
        }
    }

    #[inline]
    fn test(&self, fd: c_int) -> bool {
        match usize::try_from(fd) {
            Ok(i) if i < BITMAP_FDS => {
                self.words[i / 64].load(Ordering::Acquire) & (1 << (i % 64)) != 0
            }
            Ok(_) => self.high.load(Ordering::Acquire) != 0,
            Err(_) => false,
        }
    }

    /// Whether any number is in the set.
    fn any(&self) -> bool {
        self.count.load(Ordering::Acquire) != 0
    }

    /// Put `fd` in the set or take it out (numbers above the bitmap: counted, callers keep them
    /// balanced).
    fn set(&self, fd: c_int, on: bool) {
        let Ok(i) = usize::try_from(fd) else { return };
        let changed = match (i < BITMAP_FDS, on) {
            (true, true) => {
                self.words[i / 64].fetch_or(1 << (i % 64), Ordering::Release) & (1 << (i % 64)) == 0
            }
            (true, false) => {
                self.words[i / 64].fetch_and(!(1 << (i % 64)), Ordering::Release) & (1 << (i % 64))
                    != 0
            }
            (false, true) => {
                self.high.fetch_add(1, Ordering::Release);
                true
            }
            (false, false) => {
                self.high.fetch_sub(1, Ordering::Release);
                true
            }
        };
        if changed && on {
            self.count.fetch_add(1, Ordering::Release);
        } else if changed {
            self.count.fetch_sub(1, Ordering::Release);
        }
    }
}

/// Numbers of program sets that have an inner set.
static OUTER: Bits = Bits::new();
/// Numbers of epoll sets that hold such a set (nested sets).
static HOLDER: Bits = Bits::new();

/// The `data` of the wake-up eventfd in an inner set (a descriptor number is never this).
pub(super) const WAKE: u64 = u64::MAX;

/// What a secure socket was registered in an inner set with.
#[derive(Clone)]
pub struct Member {
    /// The program's `data`.
    pub data: u64,
    /// The program's events and flags (EPOLLET, EPOLLONESHOT, EPOLLEXCLUSIVE, ...).
    pub events: u32,
    /// The events registered in the inner set now (the program's, or what a parked handshake or
    /// a pending flush needs besides; `EPOLLONESHOT` alone once disarmed).
    pub kernel_events: u32,
    /// The socket the number had when it was registered.
    pub sock: Arc<SecureSocket>,
    /// EPOLLONESHOT: reported once, not again until `EPOLL_CTL_MOD` re-arms it.
    pub disarmed: bool,
    /// EPOLLET: the data held inside sslsock has been reported (not again until it is read or more
    /// comes).
    pub held_reported: bool,
}

/// The descriptors of one inner set (sslsock's own: `crate::hidden`), closed when the last user lets
/// go: the registry, or a wait or `epoll_ctl` still under way on another thread when the program
/// closed its set. So no call ever touches their numbers after they were closed and reused.
pub struct Fds {
    /// The inner epoll set.
    pub inner: c_int,
    /// Its eventfd, raised while a level-triggered member holds data the kernel cannot see, so that
    /// a set holding E (nested epoll sets, `poll` on E) sees E readable.
    pub wake: c_int,
}

impl Drop for Fds {
    fn drop(&mut self) {
        crate::hidden::close(self.inner);
        crate::hidden::close(self.wake);
    }
}

/// One inner set.
pub struct Inner {
    /// Members by descriptor number.
    pub members: HashMap<c_int, Member>,
    /// Its descriptors, shared with the calls using them now.
    pub fds: Arc<Fds>,
}

/// The registry.
#[derive(Default)]
pub struct Registry {
    /// Program set number -> inner set number.
    pub outers: HashMap<c_int, c_int>,
    /// Inner set number -> its state.
    pub inners: HashMap<c_int, Inner>,
    /// Epoll set number -> the program sets with inner sets it holds (nested sets).
    pub holders: HashMap<c_int, Vec<c_int>>,
}

static REGISTRY: Mutex<Option<Registry>> = Mutex::new(None);

/// The lock `lock_for_fork` took, until `unlock_for_fork`.
static HELD: crate::locks::ForkSlot<MutexGuard<'static, Option<Registry>>> =
    crate::locks::ForkSlot::new();

/// The registry, locked.
pub fn lock() -> MutexGuard<'static, Option<Registry>> {
    crate::locks::lock(&REGISTRY)
}

/// Run `f` on the locked registry.
pub fn with<T>(f: impl FnOnce(&mut Registry) -> T) -> T {
    let mut guard = lock();
    f(guard.get_or_insert_with(Registry::default))
}

/// `fork`'s `prepare`: hold the registry until `unlock_for_fork`.
pub fn lock_for_fork() {
    HELD.put(lock());
}

/// Release what `lock_for_fork` took.
pub fn unlock_for_fork() {
    drop(HELD.take());
}

/// Whether `epfd` may be a program epoll set with an inner set (false: certainly not). One load.
#[inline]
pub fn is_outer(epfd: c_int) -> bool {
    OUTER.test(epfd)
}

/// Whether `epfd` may be an epoll set that holds a program set with an inner set. One load.
#[inline]
pub fn is_holder(epfd: c_int) -> bool {
    HOLDER.test(epfd)
}

fn mark(fd: c_int, on: bool) {
    OUTER.set(fd, on);
}

/// The numbers from `first` to `last` were closed (`close_range`, `closefrom`): the program sets
/// among them are forgotten.
pub fn forget_range(first: libc::c_uint, last: libc::c_uint) {
    if !OUTER.any() && !HOLDER.any() {
        return;
    }
    let numbers: Vec<c_int> = with(|r| {
        r.outers
            .keys()
            .chain(r.holders.keys())
            .copied()
            .filter(|&fd| fd >= 0 && (first..=last).contains(&(fd as libc::c_uint)))
            .collect()
    });
    for fd in numbers {
        forget(fd);
    }
}

/// Set `holder` now holds program set `held` (`EPOLL_CTL_ADD`), or no longer (`EPOLL_CTL_DEL`).
pub fn hold(holder: c_int, held: c_int, on: bool) {
    with(|r| {
        let was = r.holders.contains_key(&holder);
        let list = r.holders.entry(holder).or_default();
        list.retain(|&e| e != held);
        if on {
            list.push(held);
        }
        let any = !list.is_empty();
        if !any {
            r.holders.remove(&holder);
        }
        if any != was {
            HOLDER.set(holder, any);
        }
    });
}

/// The program sets that set `holder` holds.
pub fn held_by(holder: c_int) -> Vec<c_int> {
    with(|r| r.holders.get(&holder).cloned().unwrap_or_default())
}

/// The per-process tag of inner-set events in a program set: random upper 32 bits (a program's own
/// `data` equal to it and to a known inner set's number is a 2^-32 accident).
pub fn tag() -> u64 {
    static TAG: AtomicU64 = AtomicU64::new(0);
    let t = TAG.load(Ordering::Relaxed);
    if t != 0 {
        return t;
    }
    let mut bytes = [0u8; 4];
    // SAFETY: getrandom fills at most 4 bytes of our array.
    let got = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), 4, libc::GRND_NONBLOCK) };
    let mut high = u32::from_ne_bytes(bytes);
    if got != 4 {
        // SAFETY: getpid has no preconditions.
        high = (unsafe { libc::getpid() } as u32).wrapping_mul(0x9E37_79B9) ^ 0x5A17_C0DE;
    }
    // Never 0 (unset here) nor all ones (WAKE's upper half).
    let high = u64::from(high.clamp(1, u32::MAX - 1)) << 32;
    match TAG.compare_exchange(0, high, Ordering::Relaxed, Ordering::Relaxed) {
        Ok(_) => high,
        Err(other) => other,
    }
}

/// The inner set of program set `epfd`, if it has one.
pub fn inner_of(epfd: c_int) -> Option<c_int> {
    if !is_outer(epfd) {
        return None;
    }
    with(|r| r.outers.get(&epfd).copied())
}

/// The descriptors of program set `epfd`'s inner set, kept open for as long as the caller holds them.
pub fn inner_kept(epfd: c_int) -> Option<Arc<Fds>> {
    if !is_outer(epfd) {
        return None;
    }
    with(|r| {
        let inner = r.outers.get(&epfd)?;
        r.inners.get(inner).map(|st| st.fds.clone())
    })
}

/// Record in the locked registry `r` that program set `epfd` now has the inner set of `fds`.
pub fn add_outer(r: &mut Registry, epfd: c_int, fds: Arc<Fds>) {
    let inner = fds.inner;
    r.inners.entry(inner).or_insert_with(|| Inner {
        members: HashMap::new(),
        fds,
    });
    if r.outers.insert(epfd, inner).is_none() {
        mark(epfd, true);
    }
}

/// Number `epfd` is no longer a program set (closed, replaced, or made anew by the kernel): its
/// inner set is closed when no other number has it.
pub fn forget(epfd: c_int) {
    if is_holder(epfd) && with(|r| r.holders.remove(&epfd)).is_some() {
        HOLDER.set(epfd, false);
    }
    if !is_outer(epfd) {
        return;
    }
    let closing = with(|r| {
        let inner = r.outers.remove(&epfd)?;
        mark(epfd, false);
        if r.outers.values().any(|&i| i == inner) {
            return None;
        }
        r.inners.remove(&inner)
    });
    // Its descriptors close here, outside the lock, unless a call on another thread still uses them
    // (then when it lets go).
    drop(closing);
}

/// `new` is now a copy of `old` (`dup`, `dup2`, `dup3`, `fcntl(F_DUPFD*)`, made by the kernel): what
/// `new` was is forgotten, and if `old` is a program set with an inner set, `new` shares it. Two bit
/// tests when neither is a program set.
pub fn copied(old: c_int, new: c_int) {
    if old == new || !(is_outer(old) || is_outer(new) || is_holder(old) || is_holder(new)) {
        return;
    }
    forget(new);
    for held in held_by(old) {
        hold(new, held, true);
    }
    if let Some(inner) = inner_of(old) {
        with(|r| {
            if r.inners.contains_key(&inner) && r.outers.insert(new, inner).is_none() {
                mark(new, true);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::real;

    #[test]
    fn bits_count_what_they_hold() {
        let bits = Bits::new();
        assert!(!bits.any() && !bits.test(5) && !bits.test(-1));
        bits.set(5, true);
        bits.set(5, true); // already in: counted once
        bits.set(1 << 21, true);
        assert!(bits.test(5) && bits.test(1 << 21) && !bits.test(6));
        assert_eq!(bits.count.load(Ordering::Acquire), 2);
        bits.set(5, false);
        bits.set(1 << 21, false);
        assert!(!bits.any() && !bits.test(5) && !bits.test(1 << 21));
    }

    #[test]
    fn the_tag_is_stable_and_never_a_wake_or_a_descriptor() {
        let t = tag();
        assert_eq!(t, tag());
        assert_ne!(t >> 32, 0);
        assert_ne!(t >> 32, u64::from(u32::MAX));
        assert_eq!(t & 0xFFFF_FFFF, 0);
    }

    /// A copy of a program set shares its inner set; the inner set is closed with the last number.
    #[test]
    fn program_sets_follow_copies_and_closes() {
        // SAFETY: plain integers; descriptors this test owns.
        let (e, inner, wake) = unsafe {
            (
                real::epoll_create1(libc::EPOLL_CLOEXEC),
                crate::hidden::hide(real::epoll_create1(libc::EPOLL_CLOEXEC)),
                crate::hidden::hide(libc::eventfd(0, libc::EFD_CLOEXEC)),
            )
        };
        assert!(e >= 0 && inner >= 0 && wake >= 0);
        with(|r| add_outer(r, e, Arc::new(Fds { inner, wake })));
        assert!(is_outer(e));
        assert_eq!(inner_of(e), Some(inner));
        // SAFETY: a plain integer.
        let copy = unsafe { real::dup(e) };
        copied(e, copy);
        assert_eq!(inner_of(copy), Some(inner));
        hold(copy + 1000, e, true);
        assert!(is_holder(copy + 1000));
        assert_eq!(held_by(copy + 1000), vec![e]);
        forget(e);
        assert!(!is_outer(e));
        // SAFETY: F_GETFD on a plain integer.
        let open = |fd: c_int| unsafe { real::fcntl(fd, libc::F_GETFD, 0) } >= 0;
        assert!(
            open(inner) && open(wake),
            "another number still has the inner set"
        );
        forget_range(copy as libc::c_uint, (copy + 1000) as libc::c_uint);
        assert!(!is_outer(copy) && !is_holder(copy + 1000));
        assert!(!open(inner) && !open(wake), "closed with the last number");
        // SAFETY: plain integers.
        unsafe {
            real::close(e);
            real::close(copy);
        }
    }
}
