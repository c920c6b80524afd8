//! Event objects (`WSAEVENT`) and waits on them: the object layout and wait protocol of the compat
//! `<windows.h>` (include/sslsock/compat/windows.h, "Threads, events and waits"), owned here too.
//!
//! A `WSAEVENT` is a `HANDLE` pointing to a `sslsock_compat_object`: a magic word, a kind, a pthread
//! mutex, the signaled state, manual/auto reset, a reference count and the list of threads waiting on
//! it. A wait registers a waiter (its own mutex, condition variable and "fired" flag) with every object
//! it waits on, under each object's mutex; setting an event fires every registered waiter, which then
//! looks again. The library mirrors that layout exactly (`Object`, `Waiter`, `WaitNode`, `#[repr(C)]`),
//! so that an event `WSACreateEvent` makes is waitable by the header's `WaitForMultipleObjects`, and an
//! event (or thread) the header's `CreateEvent` (`CreateThread`) makes is usable with `WSAEventSelect`
//! and `WSAWaitForMultipleEvents`. A program that includes only `<winsock2.h>` sees an opaque pointer.
//! Objects are allocated with libc's `calloc` and freed with `free`, by whichever side drops the last
//! reference (`CloseHandle`, `WSACloseEvent`, or the end of a `WSAEventSelect` selection, which holds
//! one).

use std::ffi::{c_int, c_void};

use crate::error::{Error, Result, WsaCode};

/// `SSLSOCK_COMPAT_OBJECT_MAGIC` ("WinO").
const MAGIC: u32 = 0x5769_6E4F;
/// `SSLSOCK_COMPAT_EVENT`.
const KIND_EVENT: c_int = 2;
/// `WSA_MAXIMUM_WAIT_EVENTS` (and `MAXIMUM_WAIT_OBJECTS`).
pub const MAXIMUM_WAIT_EVENTS: u32 = 64;
/// `WSA_WAIT_TIMEOUT`.
pub const WAIT_TIMEOUT: u32 = 258;
/// `WSA_WAIT_FAILED`.
pub const WAIT_FAILED: u32 = 0xFFFF_FFFF;
/// `WSA_INFINITE`.
pub const INFINITE: u32 = 0xFFFF_FFFF;

/// `struct sslsock_compat_waiter`.
#[repr(C)]
struct Waiter {
    mutex: libc::pthread_mutex_t,
    cond: libc::pthread_cond_t,
    fired: c_int,
}

/// `struct sslsock_compat_wait_node`.
#[repr(C)]
struct WaitNode {
    prev: *mut WaitNode,
    next: *mut WaitNode,
    waiter: *mut Waiter,
}

/// `sslsock_compat_object` (the thread fields are the header's; the library never runs threads).
#[repr(C)]
pub struct Object {
    magic: u32,
    kind: c_int,
    mutex: libc::pthread_mutex_t,
    signaled: c_int,
    manual_reset: c_int,
    refs: c_int,
    waiters: *mut WaitNode,
    start: *mut c_void,
    parameter: *mut c_void,
    exit_code: u32,
    thread_id: u32,
    started: c_int,
    started_cond: libc::pthread_cond_t,
}

/// A pointer to a live object (checked by [`object_of`]); the selections keep one (with a reference).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Handle(*mut Object);

// SAFETY: the object is shared by design: every field a thread changes is changed under its mutex.
unsafe impl Send for Handle {}

fn invalid_handle(what: &'static str) -> Error {
    Error::new(
        WsaCode::WIN32_INVALID_HANDLE,
        format!("{what}: the handle is not an event (WSA_INVALID_HANDLE)"),
    )
    .with_errno(libc::EINVAL)
}

/// The object behind `h`: WSA_INVALID_HANDLE for NULL, INVALID_HANDLE_VALUE and the pseudo-handles,
/// and for what does not carry the magic word (a closed or foreign pointer is undefined, as on
/// Windows and in the header). `events_only`: threads are refused too.
///
/// # Safety
/// `h` NULL, a small negative pseudo-handle, or a pointer to readable memory of an object's size.
pub unsafe fn object_of(h: *mut c_void, events_only: bool, what: &'static str) -> Result<Handle> {
    if h.is_null() || (h as usize) >= usize::MAX - 15 {
        return Err(invalid_handle(what));
    }
    let o = h.cast::<Object>();
    // SAFETY: per the contract, `h` points to an object's worth of readable memory.
    let (magic, kind) = unsafe { ((*o).magic, (*o).kind) };
    if magic != MAGIC || (events_only && kind != KIND_EVENT) {
        return Err(invalid_handle(what));
    }
    Ok(Handle(o))
}

impl Handle {
    /// The `HANDLE` value.
    pub fn as_ptr(self) -> *mut c_void {
        self.0.cast()
    }

    /// `WSACreateEvent`: a new manual-reset, non-signaled event with one reference.
    pub fn create() -> Result<Handle> {
        // SAFETY: calloc of one object; zeroed memory is a valid starting point for every field, and
        // the mutex and condition variable are initialised before the pointer is handed out.
        unsafe {
            let o = libc::calloc(1, std::mem::size_of::<Object>()).cast::<Object>();
            if o.is_null() {
                return Err(Error::new(
                    WsaCode::WIN32_NOT_ENOUGH_MEMORY,
                    "WSACreateEvent: out of memory",
                )
                .with_errno(libc::ENOMEM));
            }
            (*o).magic = MAGIC;
            (*o).kind = KIND_EVENT;
            (*o).refs = 1;
            (*o).manual_reset = 1;
            libc::pthread_mutex_init(std::ptr::addr_of_mut!((*o).mutex), std::ptr::null());
            libc::pthread_cond_init(std::ptr::addr_of_mut!((*o).started_cond), std::ptr::null());
            Ok(Handle(o))
        }
    }

    fn lock(self) {
        // SAFETY: a live object (the Handle's invariant); its mutex was initialised.
        unsafe { libc::pthread_mutex_lock(std::ptr::addr_of_mut!((*self.0).mutex)) };
    }

    fn unlock(self) {
        // SAFETY: as `lock`, held by this thread.
        unsafe { libc::pthread_mutex_unlock(std::ptr::addr_of_mut!((*self.0).mutex)) };
    }

    /// One more reference (a selection holds the event while it lasts).
    pub fn add_ref(self) {
        self.lock();
        // SAFETY: under the object's mutex.
        unsafe { (*self.0).refs += 1 };
        self.unlock();
    }

    /// Drop one reference (`WSACloseEvent`, `CloseHandle`, the end of a selection); the last frees the
    /// object, as the header's `sslsock_compat_release_locked`.
    pub fn release(self) {
        self.lock();
        // SAFETY: under the object's mutex; after the last reference nobody else holds the pointer.
        unsafe {
            (*self.0).refs -= 1;
            let last = (*self.0).refs == 0;
            self.unlock();
            if last {
                (*self.0).magic = 0;
                libc::pthread_mutex_destroy(std::ptr::addr_of_mut!((*self.0).mutex));
                libc::pthread_cond_destroy(std::ptr::addr_of_mut!((*self.0).started_cond));
                libc::free(self.0.cast());
            }
        }
    }

    /// `WSASetEvent`: signaled, and every waiting thread woken (`sslsock_compat_fire_locked`).
    pub fn set(self) {
        self.lock();
        // SAFETY: under the object's mutex, the wait list holds live nodes of waiting threads (each
        // unlinks its node under this mutex before it returns); each waiter's mutex is initialised.
        unsafe {
            (*self.0).signaled = 1;
            let mut n = (*self.0).waiters;
            while !n.is_null() {
                let w = (*n).waiter;
                libc::pthread_mutex_lock(std::ptr::addr_of_mut!((*w).mutex));
                (*w).fired = 1;
                libc::pthread_cond_signal(std::ptr::addr_of_mut!((*w).cond));
                libc::pthread_mutex_unlock(std::ptr::addr_of_mut!((*w).mutex));
                n = (*n).next;
            }
        }
        self.unlock();
    }

    /// `WSAResetEvent`: not signaled.
    pub fn reset(self) {
        self.lock();
        // SAFETY: under the object's mutex.
        unsafe { (*self.0).signaled = 0 };
        self.unlock();
    }

    /// A satisfied wait's effect: an auto-reset event (the header's) is reset. Mutex held.
    fn consume_locked(self) {
        // SAFETY: under the object's mutex.
        unsafe {
            if (*self.0).kind == KIND_EVENT && (*self.0).manual_reset == 0 {
                (*self.0).signaled = 0;
            }
        }
    }

    fn signaled_locked(self) -> bool {
        // SAFETY: under the object's mutex.
        unsafe { (*self.0).signaled != 0 }
    }

    /// Link `node` (for `waiter`) at the head of the wait list. Mutex held.
    fn link_locked(self, node: *mut WaitNode, waiter: *mut Waiter) {
        // SAFETY: under the object's mutex; `node` stays valid until `unlink` (the waiting call owns it).
        unsafe {
            (*node).waiter = waiter;
            (*node).prev = std::ptr::null_mut();
            (*node).next = (*self.0).waiters;
            if !(*self.0).waiters.is_null() {
                (*(*self.0).waiters).prev = node;
            }
            (*self.0).waiters = node;
        }
    }

    fn unlink(self, node: *mut WaitNode) {
        self.lock();
        // SAFETY: under the object's mutex; `node` was linked by `link_locked`.
        unsafe {
            if (*node).prev.is_null() {
                (*self.0).waiters = (*node).next;
            } else {
                (*(*node).prev).next = (*node).next;
            }
            if !(*node).next.is_null() {
                (*(*node).next).prev = (*node).prev;
            }
        }
        self.unlock();
    }
}

/// The waiting thread's side: its mutex, its CLOCK_MONOTONIC condition variable, its flag.
struct OwnWaiter(Box<Waiter>);

impl OwnWaiter {
    fn new() -> OwnWaiter {
        // SAFETY: zeroed memory is overwritten by the init calls before any use; the Box never moves
        // its contents, so the pointers handed to the objects stay valid.
        unsafe {
            let mut w: Box<Waiter> = Box::new(std::mem::zeroed());
            let mut attr: libc::pthread_condattr_t = std::mem::zeroed();
            libc::pthread_mutex_init(&mut w.mutex, std::ptr::null());
            libc::pthread_condattr_init(&mut attr);
            libc::pthread_condattr_setclock(&mut attr, libc::CLOCK_MONOTONIC);
            libc::pthread_cond_init(&mut w.cond, &attr);
            libc::pthread_condattr_destroy(&mut attr);
            OwnWaiter(w)
        }
    }

    fn ptr(&mut self) -> *mut Waiter {
        &mut *self.0
    }

    /// Wait until fired or `deadline` (None: forever); false on timeout. The flag is cleared.
    fn block(&mut self, deadline: Option<&libc::timespec>) -> bool {
        let w = self.ptr();
        // SAFETY: our own initialised waiter; the objects only lock it, set `fired` and signal.
        unsafe {
            libc::pthread_mutex_lock(std::ptr::addr_of_mut!((*w).mutex));
            while (*w).fired == 0 {
                match deadline {
                    None => {
                        libc::pthread_cond_wait(
                            std::ptr::addr_of_mut!((*w).cond),
                            std::ptr::addr_of_mut!((*w).mutex),
                        );
                    }
                    Some(d) => {
                        if libc::pthread_cond_timedwait(
                            std::ptr::addr_of_mut!((*w).cond),
                            std::ptr::addr_of_mut!((*w).mutex),
                            d,
                        ) == libc::ETIMEDOUT
                        {
                            break;
                        }
                    }
                }
            }
            let fired = (*w).fired != 0;
            (*w).fired = 0;
            libc::pthread_mutex_unlock(std::ptr::addr_of_mut!((*w).mutex));
            fired
        }
    }
}

impl Drop for OwnWaiter {
    fn drop(&mut self) {
        // SAFETY: no object links this waiter any more (every node was unlinked).
        unsafe {
            libc::pthread_cond_destroy(&mut self.0.cond);
            libc::pthread_mutex_destroy(&mut self.0.mutex);
        }
    }
}

fn deadline_after(ms: u32) -> libc::timespec {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: fills our timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    now.tv_sec += (ms / 1000) as libc::time_t;
    now.tv_nsec += ((ms % 1000) * 1_000_000) as libc::c_long;
    if now.tv_nsec >= 1_000_000_000 {
        now.tv_sec += 1;
        now.tv_nsec -= 1_000_000_000;
    }
    now
}

/// `WSAWaitForMultipleEvents` over checked handles, as the header's `WaitForMultipleObjects`: wait-any
/// returns the lowest index of a signaled object (an auto-reset event among them is reset); wait-all
/// returns 0 once all are signaled at the same time (their mutexes taken in address order; a handle
/// given twice is WSA_INVALID_PARAMETER). `WAIT_TIMEOUT` after `timeout_ms` (`INFINITE`: never).
pub fn wait(objects: &[Handle], all: bool, timeout_ms: u32) -> Result<u32> {
    let mut sorted = objects.to_vec();
    if all {
        sorted.sort_by_key(|h| h.0 as usize);
        if sorted.windows(2).any(|p| p[0] == p[1]) {
            return Err(Error::new(
                WsaCode::WIN32_INVALID_PARAMETER,
                "WSAWaitForMultipleEvents: a handle is given twice to a wait for all",
            ));
        }
    }
    let deadline = (timeout_ms != INFINITE).then(|| deadline_after(timeout_ms));
    let mut waiter = OwnWaiter::new();
    let w = waiter.ptr();
    let mut nodes: Vec<WaitNode> = (0..objects.len())
        .map(|_| WaitNode {
            prev: std::ptr::null_mut(),
            next: std::ptr::null_mut(),
            waiter: w,
        })
        .collect();
    let list = if all { &sorted } else { objects };
    loop {
        let mut linked = 0;
        let mut result = None;
        if all {
            list.iter().for_each(|h| h.lock());
            if list.iter().all(|h| h.signaled_locked()) {
                list.iter().for_each(|h| h.consume_locked());
                result = Some(0);
            } else if timeout_ms != 0 {
                for (h, node) in list.iter().zip(nodes.iter_mut()) {
                    h.link_locked(node, w);
                }
                linked = list.len();
            }
            list.iter().rev().for_each(|h| h.unlock());
        } else {
            for (i, (h, node)) in list.iter().zip(nodes.iter_mut()).enumerate() {
                h.lock();
                if h.signaled_locked() {
                    h.consume_locked();
                    result = Some(i as u32);
                } else if timeout_ms != 0 {
                    h.link_locked(node, w);
                    linked = i + 1;
                }
                h.unlock();
                if result.is_some() {
                    break;
                }
            }
        }
        let timed_out = result.is_none() && linked > 0 && !waiter.block(deadline.as_ref());
        for (h, node) in list.iter().zip(nodes.iter_mut()).take(linked) {
            h.unlink(node);
        }
        if let Some(i) = result {
            return Ok(i);
        }
        if timed_out || timeout_ms == 0 {
            return Ok(WAIT_TIMEOUT);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_wait_reset_and_close() {
        let a = Handle::create().unwrap();
        let b = Handle::create().unwrap();
        assert_eq!(wait(&[a, b], false, 0).unwrap(), WAIT_TIMEOUT);
        b.set();
        assert_eq!(wait(&[a, b], false, 10).unwrap(), 1);
        // Manual reset: still signaled.
        assert_eq!(wait(&[b], false, 0).unwrap(), 0);
        assert_eq!(wait(&[a, b], true, 20).unwrap(), WAIT_TIMEOUT);
        assert!(wait(&[a, a], true, 0).is_err());
        let setter = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(50));
            a.set();
        });
        assert_eq!(wait(&[a, b], true, 10_000).unwrap(), 0);
        setter.join().unwrap();
        b.reset();
        assert_eq!(wait(&[b], false, 0).unwrap(), WAIT_TIMEOUT);
        // SAFETY: a live handle of ours, and NULL.
        assert!(unsafe { object_of(a.as_ptr(), true, "test") }.is_ok());
        // SAFETY: NULL is never read.
        assert!(unsafe { object_of(std::ptr::null_mut(), true, "test") }.is_err());
        a.release();
        b.release();
    }
}
