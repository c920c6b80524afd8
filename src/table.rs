//! Descriptor → secure-socket state.
//!
//! Every interposed call asks "is this descriptor secure?" first, so the answer for a plain descriptor
//! costs one relaxed atomic load of a bit and no lock: a static bitmap covers descriptors below
//! 2^20 (128 KiB of zero pages until used), and a counter covers the rare higher numbers. Only secure
//! descriptors go on to the maps, sharded by descriptor number so that threads working on different
//! sockets do not meet on one lock.

use std::collections::BTreeMap;
use std::ffi::c_int;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;

use crate::secure::SecureSocket;

const BITMAP_FDS: usize = 1 << 20;
static BITMAP: [AtomicU64; BITMAP_FDS / 64] = [const { AtomicU64::new(0) }; BITMAP_FDS / 64];
static HIGH_SECURE: AtomicUsize = AtomicUsize::new(0);
const SHARDS: usize = 64;
type Shard = RwLock<BTreeMap<c_int, Arc<SecureSocket>>>;
static MAPS: [Shard; SHARDS] = [const { RwLock::new(BTreeMap::new()) }; SHARDS];

fn shard(fd: c_int) -> &'static Shard {
    &MAPS[fd.unsigned_abs() as usize % SHARDS]
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

/// The secure state of `fd`, if it has one.
#[inline]
pub fn lookup(fd: c_int) -> Option<Arc<SecureSocket>> {
    if !maybe_secure(fd) {
        return None;
    }
    shard(fd).read().get(&fd).cloned()
}

/// Make `fd` secure with `socket` (replacing any stale state).
pub fn insert(fd: c_int, socket: Arc<SecureSocket>) {
    let mut map = shard(fd).write();
    if map.insert(fd, socket).is_none() {
        match bit(fd) {
            Some((word, mask)) => {
                word.fetch_or(mask, Ordering::Release);
            }
            None => {
                HIGH_SECURE.fetch_add(1, Ordering::Release);
            }
        }
    }
}

/// Forget `fd`'s secure state (the descriptor is being closed or reused).
pub fn remove(fd: c_int) -> Option<Arc<SecureSocket>> {
    if !maybe_secure(fd) {
        return None;
    }
    let mut map = shard(fd).write();
    let removed = map.remove(&fd);
    if removed.is_some() {
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

/// The secure descriptors between `first` and `last` inclusive (`close_range`).
pub fn secure_in_range(first: c_int, last: c_int) -> Vec<c_int> {
    MAPS.iter()
        .flat_map(|m| {
            m.read()
                .range(first..=last)
                .map(|(fd, _)| *fd)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Take every shard for writing (fork's `prepare`): released by `unlock_all` in parent and child.
pub fn lock_all() {
    for map in &MAPS {
        std::mem::forget(map.write());
    }
}

/// Release what `lock_all` took.
pub fn unlock_all() {
    for map in &MAPS {
        // SAFETY: `lock_all` took this write lock and forgot its guard; this is its only release.
        unsafe { map.force_unlock_write() };
    }
}

/// Number of secure descriptors (diagnostics and tests).
pub fn len() -> usize {
    MAPS.iter().map(|m| m.read().len()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_until_inserted_and_after_removal() {
        for fd in [7, 1_000_003, (1 << 20) + 5] {
            assert!(!maybe_secure(fd));
            assert!(lookup(fd).is_none());
            insert(fd, SecureSocket::new(fd));
            assert!(maybe_secure(fd));
            assert_eq!(lookup(fd).map(|s| s.fd()), Some(fd));
            insert(fd, SecureSocket::new(fd)); // replacing keeps one entry
            assert!(remove(fd).is_some());
            assert!(remove(fd).is_none());
            assert!(lookup(fd).is_none());
        }
        assert!(!maybe_secure(-1));
        assert_eq!(HIGH_SECURE.load(Ordering::Acquire), 0);
    }
}
