//! Descriptor → secure-socket state.
//!
//! Every interposed call asks "is this descriptor secure?" first, so the answer for a plain descriptor
//! costs one relaxed atomic load of a bit and no lock: a static bitmap covers descriptors below
//! 2^20 (128 KiB of zero pages until used), and a counter covers the rare higher numbers. Only secure
//! descriptors go on to the maps, sharded by descriptor number so that threads working on different
//! sockets do not meet on one lock.
//!
//! Each secure descriptor number has a [`Binding`]: the socket it refers to and where the number is in
//! its closing. The rule that keeps plaintext off the wire under races (docs/security.md, "Closing and
//! copying"): **the secure state outlives the descriptor number**. A number being closed (or replaced by
//! `dup2`/`dup3`) is first marked [`Binding::begin_close`], so that a concurrent call fails instead of
//! finding "no state" and going to libc with a descriptor that still reaches the secure connection; the
//! number is closed in the kernel; only then is the binding [`retire`]d, after which the number is
//! whatever the kernel makes of it next.

use std::collections::BTreeMap;
use std::ffi::c_int;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;

use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::error::{Error, Result, WsaCode};
use crate::secure::SecureSocket;

/// The fork generation of this process: 0, plus one in each child of a forking process (`fork`).
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// The current fork generation.
pub fn generation() -> u64 {
    GENERATION.load(Ordering::Acquire)
}

/// A new generation begins (`fork`'s child handler): every binding made before belongs to the parent.
pub fn next_generation() {
    GENERATION.fetch_add(1, Ordering::AcqRel);
}

/// Whether `socket` was inherited across `fork`: the parent owns its TLS session, so the child may only
/// close its descriptor (no close_notify, no shutdown) and every other call fails.
pub fn is_inherited(socket: &SecureSocket) -> bool {
    socket.generation() != generation()
}

const BITMAP_FDS: usize = 1 << 20;
static BITMAP: [AtomicU64; BITMAP_FDS / 64] = [const { AtomicU64::new(0) }; BITMAP_FDS / 64];
static HIGH_SECURE: AtomicUsize = AtomicUsize::new(0);
/// Secure descriptor numbers in the table now (any shard).
static COUNT: AtomicUsize = AtomicUsize::new(0);
const SHARDS: usize = 64;
type Shard = RwLock<BTreeMap<c_int, Arc<Binding>>>;
static MAPS: [Shard; SHARDS] = [const { RwLock::new(BTreeMap::new()) }; SHARDS];

/// The number refers to the socket.
const OPEN: u8 = 0;
/// The number is being closed or replaced: calls on it fail (it may still reach the connection).
const CLOSING: u8 = 1;
/// The number has been closed in the kernel: it no longer reaches the connection, and calls on it are
/// libc's (the kernel may already have given the number to something else).
const GONE: u8 = 2;

/// One secure descriptor number: the socket it refers to, and where the number is in its closing.
pub struct Binding {
    socket: Arc<SecureSocket>,
    state: AtomicU8,
}

impl Binding {
    /// The socket, for a call on this number: fails (EBADF) while the number is being closed.
    #[inline]
    pub fn socket(&self) -> Result<&Arc<SecureSocket>> {
        match self.state.load(Ordering::Acquire) {
            OPEN => Ok(&self.socket),
            _ => Err(closing()),
        }
    }

    /// The socket, whatever the number's state (closing paths).
    pub fn socket_any(&self) -> &Arc<SecureSocket> {
        &self.socket
    }

    /// Mark the number as being closed; false if another call already did.
    pub fn begin_close(&self) -> bool {
        self.state
            .compare_exchange(OPEN, CLOSING, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Undo `begin_close` (the kernel refused to close or replace the number: it still refers to the
    /// socket).
    pub fn reopen(&self) {
        let _ = self
            .state
            .compare_exchange(CLOSING, OPEN, Ordering::AcqRel, Ordering::Acquire);
    }

    /// Whether the number is being closed or is closed.
    pub fn is_closing(&self) -> bool {
        self.state.load(Ordering::Acquire) != OPEN
    }
}

/// The error of a call on a number that is being closed.
pub fn closing() -> Error {
    Error::new(
        WsaCode::ENOTSOCK,
        "the descriptor is being closed by another call (close, closesocket, dup2)",
    )
    .with_errno(libc::EBADF)
}

fn shard(fd: c_int) -> &'static Shard {
    &MAPS[fd.unsigned_abs() as usize % SHARDS]
}

type Map = BTreeMap<c_int, Arc<Binding>>;

/// A shard for reading. (A panic never happens while a shard is locked; if one did, the map is still
/// consistent after every operation, so the poison is ignored.)
fn read(shard: &'static Shard) -> RwLockReadGuard<'static, Map> {
    crate::fork::arm();
    shard.read().unwrap_or_else(PoisonError::into_inner)
}

/// A shard for writing (see `read`).
fn write(shard: &'static Shard) -> RwLockWriteGuard<'static, Map> {
    crate::fork::arm();
    shard.write().unwrap_or_else(PoisonError::into_inner)
}

fn bit(fd: c_int) -> Option<(&'static AtomicU64, u64)> {
    let fd = usize::try_from(fd).ok()?;
    BITMAP.get(fd / 64).map(|word| (word, 1u64 << (fd % 64)))
}

/// Whether `fd` may be secure (false: certainly plain). One atomic load.
#[inline]
pub fn maybe_secure(fd: c_int) -> bool {
    match bit(fd) {
        Some((word, mask)) => word.load(Ordering::Acquire) & mask != 0,
        None => fd >= 0 && HIGH_SECURE.load(Ordering::Acquire) != 0,
    }
}

/// Whether any descriptor of the process is secure now (one atomic load).
#[inline]
pub fn any_secure() -> bool {
    COUNT.load(Ordering::Acquire) != 0
}

/// The binding of `fd`, if it is (or is being closed as) a secure descriptor. A number whose closing
/// is finished in the kernel has none: it is libc's again.
#[inline]
pub fn lookup(fd: c_int) -> Option<Arc<Binding>> {
    if !maybe_secure(fd) {
        return None;
    }
    loop {
        let binding = read(shard(fd)).get(&fd).cloned()?;
        match binding.state.load(Ordering::Acquire) {
            OPEN => return Some(binding),
            // The socket's last descriptor was closed in the kernel (by the last call in progress, see
            // `SecureSocket::close`, or replaced by `dup2`): this binding goes, and whatever stands at
            // the number now (a new binding, or none: libc's) is the answer. Never "none" while another
            // binding stands there: the number may already reach that socket's connection.
            CLOSING if binding.socket.is_descriptor_closed() => retire(fd, &binding.socket),
            CLOSING => return Some(binding),
            _ => continue, // retired between the read and now: look again
        }
    }
}

/// The secure state of `fd` when the number is open (not being closed).
#[inline]
pub fn socket(fd: c_int) -> Option<Arc<SecureSocket>> {
    lookup(fd).and_then(|b| b.socket().ok().cloned())
}

/// Make `fd` secure with `socket` (replacing any stale binding).
pub fn insert(fd: c_int, socket: Arc<SecureSocket>) -> Arc<Binding> {
    insert_as(fd, socket, OPEN)
}

/// Bind `fd` to `socket` as closing (calls on it fail) before the kernel makes the number a copy of
/// the socket (`dup2` onto a plain number): then `replace` opens it, or `retire` drops it.
pub fn insert_closing(fd: c_int, socket: Arc<SecureSocket>) -> Arc<Binding> {
    insert_as(fd, socket, CLOSING)
}

fn insert_as(fd: c_int, socket: Arc<SecureSocket>, state: u8) -> Arc<Binding> {
    // Before the first descriptor becomes secure: the fork handlers.
    crate::fork::watch();
    let binding = Arc::new(Binding {
        socket,
        state: AtomicU8::new(state),
    });
    let mut map = write(shard(fd));
    if map.insert(fd, binding.clone()).is_none() {
        COUNT.fetch_add(1, Ordering::AcqRel);
        match bit(fd) {
            Some((word, mask)) => {
                word.fetch_or(mask, Ordering::Release);
            }
            None => {
                HIGH_SECURE.fetch_add(1, Ordering::Release);
            }
        }
    }
    binding
}

fn remove_locked(map: &mut BTreeMap<c_int, Arc<Binding>>, fd: c_int) -> Option<Arc<Binding>> {
    let removed = map.remove(&fd);
    if removed.is_some() {
        COUNT.fetch_sub(1, Ordering::AcqRel);
        match bit(fd) {
            Some((word, mask)) => {
                word.fetch_and(!mask, Ordering::Release);
            }
            None => {
                HIGH_SECURE.fetch_sub(1, Ordering::Release);
            }
        }
    }
    removed
}

/// Whether `binding` is (still) the one standing at `fd`: not replaced or retired by sslsock since it
/// was looked up.
pub fn is_current(fd: c_int, binding: &Arc<Binding>) -> bool {
    read(shard(fd))
        .get(&fd)
        .is_some_and(|b| Arc::ptr_eq(b, binding))
}

/// The kernel has just made `fd` (socket, accept, dup, ...): whatever binding the number had is stale
/// (its descriptor was closed behind sslsock's back). Returns it.
pub fn forget(fd: c_int) -> Option<Arc<Binding>> {
    if !maybe_secure(fd) {
        return None;
    }
    let removed = remove_locked(&mut write(shard(fd)), fd);
    if let Some(b) = &removed {
        b.state.store(GONE, Ordering::Release);
    }
    removed
}

/// `fd` has been closed (or replaced) in the kernel: its binding ends, if it still refers to `socket`
/// (the kernel may have reused the number, and a new binding may already stand there).
pub fn retire(fd: c_int, socket: &SecureSocket) {
    let mut map = write(shard(fd));
    if map
        .get(&fd)
        .is_some_and(|b| std::ptr::eq(Arc::as_ptr(&b.socket), socket))
    {
        if let Some(b) = remove_locked(&mut map, fd) {
            b.state.store(GONE, Ordering::Release);
        }
    }
}

/// `fd` now refers to `socket` (`dup2`/`dup3` onto a number that was closing): the new binding takes the
/// old one's place in one step. The old one stays "closing" for whoever still holds it (its calls fail);
/// marking it gone first would let a concurrent call find no binding and go to libc, with the number
/// already reaching `socket`'s connection.
pub fn replace(fd: c_int, socket: Arc<SecureSocket>) {
    insert(fd, socket);
}

/// The open secure socket behind the kernel object `identity`, if any: a descriptor made in a way
/// sslsock does not see (received over SCM_RIGHTS, `pidfd_getfd`) may be another copy of it. A walk of
/// the table: only asked for descriptors received that way.
pub fn find_by_identity(identity: crate::sys::fd::Identity) -> Option<Arc<SecureSocket>> {
    if !any_secure() {
        return None;
    }
    MAPS.iter().find_map(|m| {
        read(m)
            .values()
            .find(|b| {
                b.state.load(Ordering::Acquire) == OPEN
                    && !b.socket.is_closed()
                    && b.socket.identity() == Some(identity)
            })
            .map(|b| b.socket.clone())
    })
}

/// The secure descriptors between `first` and `last` inclusive (`close_range`, `closefrom`).
pub fn secure_in_range(first: c_int, last: c_int) -> Vec<c_int> {
    if first > last || !any_secure() {
        return Vec::new();
    }
    MAPS.iter()
        .flat_map(|m| {
            read(m)
                .range(first..=last)
                .map(|(fd, _)| *fd)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The shards `lock_all` took, until `unlock_all` (an array: the fork handlers do not allocate).
static HELD: crate::locks::ForkSlot<[RwLockWriteGuard<'static, Map>; SHARDS]> =
    crate::locks::ForkSlot::new();

/// Take every shard for writing (fork's `prepare`): released by `unlock_all` in parent and child.
/// The shards are `std::sync::RwLock`s: releasing one in the child is a few atomic operations and a
/// futex wake of nobody, leaving it unlocked with no waiter recorded. (A lock that hands itself over
/// to a waiting thread, as parking_lot's may, would be handed to a parent thread that does not exist
/// in the child and stay locked there: a child's first `socket` hung on that once in ~10 runs of
/// c-tests/fork_locks.c.)
pub fn lock_all() {
    HELD.put(std::array::from_fn(|i| write(&MAPS[i])));
}

/// Release what `lock_all` took.
pub fn unlock_all() {
    drop(HELD.take());
}

/// Number of secure descriptors (diagnostics and tests).
pub fn len() -> usize {
    MAPS.iter().map(|m| read(m).len()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_until_inserted_and_after_retirement() {
        for fd in [7, 1_000_003, (1 << 20) + 5] {
            assert!(!maybe_secure(fd));
            assert!(lookup(fd).is_none());
            let first = insert(fd, SecureSocket::new(fd, generation()));
            assert!(maybe_secure(fd));
            assert_eq!(socket(fd).map(|s| s.fd()), Some(fd));
            // A closing number is still found, but gives no socket to a call.
            assert!(first.begin_close());
            assert!(!first.begin_close());
            assert!(lookup(fd).is_some());
            assert!(socket(fd).is_none());
            first.reopen();
            assert!(socket(fd).is_some());
            // A new binding replaces the old one; retiring the old one leaves the new one alone.
            let second = insert(fd, SecureSocket::new(fd, generation()));
            retire(fd, first.socket_any());
            assert!(socket(fd).is_some());
            retire(fd, second.socket_any());
            assert!(lookup(fd).is_none());
            assert!(forget(fd).is_none());
        }
        assert!(!maybe_secure(-1));
        assert_eq!(HIGH_SECURE.load(Ordering::Acquire), 0);
    }
}
