//! Winsock 2's event model: `WSAEventSelect`, `WSAEnumNetworkEvents`, `WSACreateEvent`,
//! `WSACloseEvent`, `WSASetEvent`, `WSAResetEvent`, `WSAWaitForMultipleEvents`.
//!
//! - `object`: the event objects (the compat `<windows.h>`'s layout, shared with its
//!   `WaitForMultipleObjects`) and the waits on them.
//! - here: the selections (socket → event, events selected, events that may be recorded now, events
//!   recorded and their error codes) and the hooks of `recv`/`send`/`accept`/`connect`/`close`.
//! - `watcher`: the one thread per process that waits (with the readiness engine of `poll`, which sees
//!   secure sockets as sslsock does) on every selected socket for the events not yet recorded.
//!
//! Network events are recorded as on Windows: an event is recorded once, then not again until its
//! re-enabling call (FD_READ/FD_OOB: `recv`, `recvfrom`, `read`, ...; FD_WRITE: a `send` that failed
//! with WSAEWOULDBLOCK; FD_ACCEPT: `accept`); FD_CONNECT and FD_CLOSE once per connection.
//! `WSAEnumNetworkEvents` hands the recorded events over and clears them. Recording and handing over
//! happen under one lock, so that no event falls between them.

use std::collections::BTreeMap;
use std::ffi::{c_int, c_long, c_void};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use super::{guard, SOCKET_ERROR};
use crate::error::{self, Error, Result, WsaCode};
use crate::sys::fd;

pub mod object;
mod watcher;

use object::Handle;
pub use watcher::{forget_selections_after_fork, hold_for_fork, release_after_fork};

/// `FD_READ`.
pub const FD_READ: c_int = 1;
/// `FD_WRITE`.
pub const FD_WRITE: c_int = 2;
/// `FD_OOB`.
pub const FD_OOB: c_int = 4;
/// `FD_ACCEPT`.
pub const FD_ACCEPT: c_int = 8;
/// `FD_CONNECT`.
pub const FD_CONNECT: c_int = 16;
/// `FD_CLOSE`.
pub const FD_CLOSE: c_int = 32;
/// `FD_ALL_EVENTS`: the ten Windows events (the QOS and address-change ones are accepted and never
/// recorded: Linux has no such notifications for a socket).
const FD_ALL_EVENTS: c_int = 0x3ff;
/// `FD_MAX_EVENTS`.
pub const FD_MAX_EVENTS: usize = 10;

/// `WSANETWORKEVENTS`.
#[repr(C)]
pub struct WSANETWORKEVENTS {
    /// The recorded events (FD_*).
    pub lNetworkEvents: c_long,
    /// The error code of each, by FD_*_BIT.
    pub iErrorCode: [c_int; FD_MAX_EVENTS],
}

/// Where a selected socket is in its life, for the events it can have.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Phase {
    /// Neither connected nor connecting nor listening (or its connect failed).
    Unconnected,
    /// A non-blocking connect (and, on a secure socket, its handshake) is under way.
    Connecting,
    /// Connected (a secure socket: its handshake complete, or its deferred plaintext window open).
    Connected,
    /// Listening.
    Listening,
}

/// One socket's selection.
pub(crate) struct Selection {
    /// Unique per `WSAEventSelect`: the watcher records only into the selection it looked at.
    id: u64,
    event: Handle,
    /// The events selected (`lNetworkEvents`).
    mask: c_int,
    /// The events that may be recorded now (not recorded since their re-enabling call).
    enabled: c_int,
    /// Recorded, not yet handed over by `WSAEnumNetworkEvents`.
    recorded: c_int,
    errors: [c_int; FD_MAX_EVENTS],
    phase: Phase,
    /// The end of the stream (or a failure) has been seen: nothing more to read.
    at_end: bool,
    /// The socket hung up (poll reported POLLHUP or POLLERR, without POLLPRI, while FD_OOB was
    /// waited for): no urgent data can come any more, so FD_OOB is not waited for until its
    /// re-enabling call (poll would report the hang-up at once every round, recording nothing).
    hung_up: bool,
}

impl Selection {
    /// Record `bits` (those selected and enabled) with their error codes; they are disabled until
    /// re-enabled. Returns whether anything was recorded (then the event is set).
    fn record(&mut self, bits: c_int, code: c_int) -> bool {
        let bits = bits & self.mask & self.enabled;
        if bits == 0 {
            return false;
        }
        for b in 0..FD_MAX_EVENTS {
            if bits & (1 << b) != 0 {
                self.errors[b] = code;
            }
        }
        self.recorded |= bits;
        self.enabled &= !bits;
        self.event.set();
        true
    }
}

/// The selections and the watcher's state, under one lock.
pub(crate) struct State {
    selections: BTreeMap<c_int, Selection>,
    next_id: u64,
    watcher: Option<watcher::Running>,
    /// The numbers the watcher is touching now: every number of its round while it waits on them,
    /// then only the one whose socket it is looking at (empty between two looks and between rounds).
    /// A `close` of a number waits while it is here, and only then.
    polling: Vec<c_int>,
}

static STATE: Mutex<State> = Mutex::new(State {
    selections: BTreeMap::new(),
    next_id: 1,
    watcher: None,
    polling: Vec::new(),
});

/// Signalled when numbers leave `State::polling` (a closing thread waits for it).
static ROUND_DONE: Condvar = Condvar::new();

/// The state. (No panic happens while it is held; the maps are consistent after every operation.)
/// `fork` takes it across (lock 0 of its list; `fork::arm` first, one atomic load).
fn state() -> MutexGuard<'static, State> {
    crate::fork::arm();
    state_for_fork()
}

/// The state, locked, as `fork`'s handlers take it (without `fork::arm`).
fn state_for_fork() -> MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(PoisonError::into_inner)
}

const BITMAP_FDS: usize = 1 << 20;
/// Which descriptor numbers have a selection: the hooks' one bit test.
static SELECTED: [AtomicU64; BITMAP_FDS / 64] = [const { AtomicU64::new(0) }; BITMAP_FDS / 64];
/// Selections on numbers at or above 2^20.
static HIGH_SELECTED: AtomicUsize = AtomicUsize::new(0);

/// Selections in the process (any number).
static COUNT: AtomicUsize = AtomicUsize::new(0);

fn mark(fd: c_int, on: bool) {
    let Ok(n) = usize::try_from(fd) else { return };
    if on {
        COUNT.fetch_add(1, Ordering::AcqRel);
    } else {
        COUNT.fetch_sub(1, Ordering::AcqRel);
    }
    match SELECTED.get(n / 64) {
        Some(word) if on => {
            word.fetch_or(1 << (n % 64), Ordering::Release);
        }
        Some(word) => {
            word.fetch_and(!(1 << (n % 64)), Ordering::Release);
        }
        None if on => {
            HIGH_SELECTED.fetch_add(1, Ordering::Release);
        }
        None => {
            HIGH_SELECTED.fetch_sub(1, Ordering::Release);
        }
    }
}

/// Whether `fd` may have a selection (false: certainly not). One atomic load.
#[inline]
pub fn selected(fd: c_int) -> bool {
    match usize::try_from(fd) {
        Ok(n) if n < BITMAP_FDS => SELECTED[n / 64].load(Ordering::Acquire) & (1 << (n % 64)) != 0,
        Ok(_) => HIGH_SELECTED.load(Ordering::Acquire) != 0,
        Err(_) => false,
    }
}

/// Remove `fd`'s selection (state locked); its event reference is dropped.
fn remove_locked(st: &mut State, fd: c_int) {
    if let Some(old) = st.selections.remove(&fd) {
        mark(fd, false);
        old.event.release();
    }
}

/// A new selection of `mask` on `fd` signalling `event` (which it holds a reference to), in place of
/// any earlier one (`WSAEventSelect`, and an accepted socket inheriting its listener's).
fn select_locked(st: &mut State, fd: c_int, event: Handle, mask: c_int, phase: Phase) {
    event.add_ref();
    remove_locked(st, fd);
    let id = st.next_id;
    st.next_id += 1;
    st.selections.insert(
        fd,
        Selection {
            id,
            event,
            mask,
            enabled: mask,
            recorded: 0,
            errors: [0; FD_MAX_EVENTS],
            phase,
            at_end: false,
            hung_up: false,
        },
    );
    mark(fd, true);
}

/// Whether `fd` has a selection now (`ioctlsocket(FIONBIO, 0)` is refused then, as on Windows).
pub fn is_selected(fd: c_int) -> bool {
    selected(fd) && state().selections.contains_key(&fd)
}

// ---- hooks (each begins with `hooked`: one bit test) ----

/// Whether a hook has work on `fd`: it may have a selection, and the call is not sslsock's own file
/// I/O inside a one-time initialisation (`locks::in_init`: the state lock, lock 0 of `fork`'s list,
/// must not be taken under lock 1).
#[inline]
fn hooked(fd: c_int) -> bool {
    selected(fd) && !crate::locks::in_init()
}

/// Re-enable `bits` on `fd`'s selection and let the watcher look again.
fn reenable(fd: c_int, bits: c_int) {
    let mut st = state();
    if let Some(sel) = st.selections.get_mut(&fd) {
        sel.enabled |= bits & sel.mask;
        if bits & FD_OOB != 0 {
            sel.hung_up = false;
        }
        watcher::wake(&mut st);
    }
}

/// After `recv`, `recvfrom`, `read`, `readv`, `recvmsg`: FD_READ and FD_OOB are enabled again (and
/// recorded again at once if data remains).
#[inline]
pub fn after_recv(fd: c_int) {
    if hooked(fd) {
        reenable(fd, FD_READ | FD_OOB);
    }
}

/// After `send`, `sendto`, `write`, `writev`, `sendmsg`: a failure with WSAEWOULDBLOCK enables FD_WRITE
/// again (recorded once there is room).
#[inline]
pub fn after_send(fd: c_int, failed: bool) {
    if failed && hooked(fd) && error::last_code() == WsaCode::EWOULDBLOCK.0 {
        reenable(fd, FD_WRITE);
    }
}

/// After `accept`, `accept4` on a listening socket: FD_ACCEPT is enabled again, and the accepted
/// socket `new` (when there is one) gets the listening socket's selection, as on Windows: the same
/// events on the same event object, non-blocking, FD_WRITE recorded once there is room.
#[inline]
pub fn after_accept(fd: c_int, new: c_int) {
    if hooked(fd) {
        inherit(fd, new);
    }
}

fn inherit(fd: c_int, new: c_int) {
    if new >= 0 {
        let _ = fd::set_nonblocking(new, true);
    }
    let mut st = state();
    let Some(listener) = st.selections.get_mut(&fd) else {
        return;
    };
    listener.enabled |= listener.mask & FD_ACCEPT;
    let (event, mask) = (listener.event, listener.mask);
    if new >= 0 {
        select_locked(&mut st, new, event, mask, Phase::Connected);
    }
    watcher::wake(&mut st);
}

/// After `connect`: in progress (WSAEWOULDBLOCK), the watcher waits for its end (FD_CONNECT); done at
/// once, FD_CONNECT (and FD_WRITE) are recorded; failed at once with a connection error (a refusal
/// on loopback, a failed handshake), FD_CONNECT is recorded with it, as Windows reports every end
/// of a non-blocking connect through FD_CONNECT.
#[inline]
pub fn after_connect(fd: c_int, rc: c_int) {
    if !hooked(fd) {
        return;
    }
    let code = if rc == 0 { 0 } else { error::last_code() };
    let mut st = state();
    let Some(sel) = st.selections.get_mut(&fd) else {
        return;
    };
    sel.at_end = false;
    sel.hung_up = false;
    match WsaCode(code) {
        WsaCode(0) => {
            sel.phase = Phase::Connected;
            sel.enabled |= sel.mask & (FD_CONNECT | FD_WRITE | FD_READ | FD_CLOSE);
            sel.record(FD_CONNECT | FD_WRITE, 0);
        }
        WsaCode::EWOULDBLOCK | WsaCode::EINPROGRESS | WsaCode::EALREADY => {
            sel.phase = Phase::Connecting;
            sel.enabled |= sel.mask & (FD_CONNECT | FD_WRITE | FD_READ | FD_CLOSE);
        }
        WsaCode::ECONNREFUSED
        | WsaCode::ENETUNREACH
        | WsaCode::EHOSTUNREACH
        | WsaCode::ETIMEDOUT
        | WsaCode::ECONNRESET
        | WsaCode::ECONNABORTED => {
            sel.phase = Phase::Unconnected;
            sel.enabled |= sel.mask & FD_CONNECT;
            sel.record(FD_CONNECT, code);
        }
        _ => return,
    }
    watcher::wake(&mut st);
}

/// Before `close`/`closesocket`/`dup2` onto `fd`: the selection ends, and once this returns the
/// watcher no longer looks at the number (it is woken from its wait, and this waits until it no
/// longer touches the number: the end of its wait, or of its look at this very socket; never for its
/// look at another socket, whose certificate hook may wait for the closing thread), so it never
/// touches a number that was closed or given to something else.
#[inline]
pub fn before_close(fd: c_int) {
    if hooked(fd) {
        cancel(fd, true);
    }
}

/// Before `close_range`/`closefrom`: the selections of the numbers from `first` to `last` end, as
/// for `before_close`.
pub fn before_close_range(first: libc::c_uint, last: libc::c_uint) {
    if COUNT.load(Ordering::Acquire) == 0 {
        return;
    }
    let numbers: Vec<c_int> = state()
        .selections
        .keys()
        .copied()
        .filter(|&fd| (first..=last).contains(&(fd as libc::c_uint)))
        .collect();
    for fd in numbers {
        cancel(fd, true);
    }
}

fn cancel(fd: c_int, wait_for_watcher: bool) {
    let mut st = state();
    remove_locked(&mut st, fd);
    watcher::forget_number(&mut st, fd);
    if !wait_for_watcher || watcher::is_current_thread() {
        return;
    }
    while st.polling.contains(&fd) && st.watcher.as_ref().is_some_and(|w| w.is_ours()) {
        watcher::wake(&mut st);
        st = ROUND_DONE.wait(st).unwrap_or_else(PoisonError::into_inner);
    }
}

// ---- the exports ----

/// What the socket is now, for a new selection.
fn phase_now(fd: c_int) -> Phase {
    if fd::get_int_option(fd, libc::SOL_SOCKET, libc::SO_ACCEPTCONN) == Ok(1) {
        return Phase::Listening;
    }
    if let Some(sock) = crate::table::socket(fd).filter(|s| !crate::table::is_inherited(s)) {
        if sock.handshake_interest().is_some() {
            return Phase::Connecting;
        }
    }
    if fd::get_int_option(fd, libc::SOL_SOCKET, libc::SO_TYPE) != Ok(libc::SOCK_STREAM)
        || fd::is_connected(fd)
    {
        return Phase::Connected;
    }
    // A plain TCP connect under way (SYN sent): TCP_INFO's first byte is the state.
    let mut info = [0u8; 8];
    let mut len = info.len() as libc::socklen_t;
    // SAFETY: `info`/`len` valid for writes and sized; the kernel copies at most `len` bytes.
    let rc = unsafe {
        crate::sys::real::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            info.as_mut_ptr().cast(),
            &mut len,
        )
    };
    const TCP_SYN_SENT: u8 = 2;
    if rc == 0 && len > 0 && info[0] == TCP_SYN_SENT {
        Phase::Connecting
    } else {
        Phase::Unconnected
    }
}

/// Implements Winsock 2 `WSAEventSelect`: from now on the network events `lNetworkEvents` (FD_READ,
/// FD_WRITE, FD_OOB, FD_ACCEPT, FD_CONNECT, FD_CLOSE) of socket `s` are recorded and signalled on
/// `hEventObject` (see the module's note and docs/api.md). The socket becomes non-blocking; a previous
/// selection and its recorded events end; events whose condition already holds (data to read, room to
/// send on a connected socket, a connection to accept) are recorded at once. `lNetworkEvents` 0 only
/// cancels the selection (the socket stays non-blocking, as on Windows). SOCKET_ERROR with
/// WSAENOTSOCK for what is not a socket, WSAEINVAL for an unknown event bit or an event handle that is
/// none.
///
/// # Safety
/// `hEventObject` NULL or a `WSAEVENT`/`HANDLE` (an undefined pointer is undefined, as on Windows).
#[no_mangle]
pub unsafe extern "C" fn WSAEventSelect(
    s: c_int,
    hEventObject: *mut c_void,
    lNetworkEvents: c_long,
) -> c_int {
    guard("WSAEventSelect", SOCKET_ERROR, || {
        if fd::is_socket(s) != Ok(true) {
            return Err(Error::new(
                WsaCode::ENOTSOCK,
                format!("WSAEventSelect: descriptor {s} is not a socket"),
            ));
        }
        if lNetworkEvents == 0 {
            cancel(s, false);
            return Ok(0);
        }
        if lNetworkEvents & !(FD_ALL_EVENTS as c_long) != 0 {
            return Err(Error::new(
                WsaCode::EINVAL,
                format!("WSAEventSelect: unknown network events 0x{lNetworkEvents:x}"),
            ));
        }
        // SAFETY: the caller's handle, per this function's contract.
        let event = unsafe { object::object_of(hEventObject, true, "WSAEventSelect") }
            .map_err(|e| Error::new(WsaCode::EINVAL, e.reason().to_string()))?;
        fd::set_nonblocking(s, true).map_err(|e| Error::os(e, "WSAEventSelect"))?;
        let phase = phase_now(s);
        let mask = lNetworkEvents as c_int;
        let mut st = state();
        select_locked(&mut st, s, event, mask, phase);
        watcher::wake(&mut st);
        Ok(0)
    })
}

/// Implements Winsock 2 `WSAEnumNetworkEvents`: the network events recorded on `s` since the last
/// call (with their error codes by FD_*_BIT), which are cleared; `hEventObject`, when not NULL, is
/// reset in the same step. A socket with no selection has none recorded. SOCKET_ERROR with
/// WSAENOTSOCK, WSAEFAULT (`lpNetworkEvents` NULL) or WSAEINVAL (an event handle that is none).
///
/// # Safety
/// `lpNetworkEvents` NULL or writable; `hEventObject` as for `WSAEventSelect`.
#[no_mangle]
pub unsafe extern "C" fn WSAEnumNetworkEvents(
    s: c_int,
    hEventObject: *mut c_void,
    lpNetworkEvents: *mut WSANETWORKEVENTS,
) -> c_int {
    guard("WSAEnumNetworkEvents", SOCKET_ERROR, || {
        if fd::is_socket(s) != Ok(true) {
            return Err(Error::new(
                WsaCode::ENOTSOCK,
                format!("WSAEnumNetworkEvents: descriptor {s} is not a socket"),
            ));
        }
        if lpNetworkEvents.is_null() {
            return Err(super::fault("WSAEnumNetworkEvents"));
        }
        let event = if hEventObject.is_null() {
            None
        } else {
            // SAFETY: the caller's handle, per this function's contract.
            Some(
                unsafe { object::object_of(hEventObject, true, "WSAEnumNetworkEvents") }
                    .map_err(|e| Error::new(WsaCode::EINVAL, e.reason().to_string()))?,
            )
        };
        let mut out = WSANETWORKEVENTS {
            lNetworkEvents: 0,
            iErrorCode: [0; FD_MAX_EVENTS],
        };
        let mut st = state();
        if let Some(sel) = st.selections.get_mut(&s) {
            out.lNetworkEvents = sel.recorded as c_long;
            for b in 0..FD_MAX_EVENTS {
                if sel.recorded & (1 << b) != 0 {
                    out.iErrorCode[b] = sel.errors[b];
                }
            }
            sel.recorded = 0;
            sel.errors = [0; FD_MAX_EVENTS];
        }
        if let Some(e) = event {
            e.reset();
        }
        drop(st);
        // SAFETY: non-NULL, and the caller vouches for a writable WSANETWORKEVENTS.
        unsafe { lpNetworkEvents.write(out) };
        Ok(0)
    })
}

/// Implements Winsock 2 `WSACreateEvent`: a new manual-reset, non-signaled event (also a `HANDLE` of
/// the compat `<windows.h>`: `WaitForSingleObject`, `SetEvent`, `CloseHandle` take it).
/// `WSA_INVALID_EVENT` (NULL) with WSA_NOT_ENOUGH_MEMORY when memory is short.
#[no_mangle]
pub extern "C" fn WSACreateEvent() -> *mut c_void {
    guard("WSACreateEvent", std::ptr::null_mut(), || {
        Handle::create().map(Handle::as_ptr)
    })
}

/// The BOOL functions on one event: TRUE, or FALSE with WSA_INVALID_HANDLE.
///
/// # Safety
/// As for `WSAEventSelect`'s handle.
unsafe fn on_event(h: *mut c_void, what: &'static str, action: fn(Handle)) -> c_int {
    guard(what, 0, || {
        // SAFETY: the caller's handle, per the contract.
        let e = unsafe { object::object_of(h, true, what) }?;
        action(e);
        Ok(1)
    })
}

/// Implements Winsock 2 `WSACloseEvent`: the handle is closed (the object lives on while a
/// `WSAEventSelect` selection still uses it). FALSE with WSA_INVALID_HANDLE for what is no event.
///
/// # Safety
/// `hEvent` NULL or a `WSAEVENT` not closed yet.
#[no_mangle]
pub unsafe extern "C" fn WSACloseEvent(hEvent: *mut c_void) -> c_int {
    // SAFETY: per this function's contract.
    unsafe { on_event(hEvent, "WSACloseEvent", Handle::release) }
}

/// Implements Winsock 2 `WSASetEvent`: the event becomes signaled (every wait on it wakes). FALSE with
/// WSA_INVALID_HANDLE for what is no event.
///
/// # Safety
/// `hEvent` NULL or a `WSAEVENT`.
#[no_mangle]
pub unsafe extern "C" fn WSASetEvent(hEvent: *mut c_void) -> c_int {
    // SAFETY: per this function's contract.
    unsafe { on_event(hEvent, "WSASetEvent", Handle::set) }
}

/// Implements Winsock 2 `WSAResetEvent`: the event becomes non-signaled. FALSE with
/// WSA_INVALID_HANDLE for what is no event.
///
/// # Safety
/// `hEvent` NULL or a `WSAEVENT`.
#[no_mangle]
pub unsafe extern "C" fn WSAResetEvent(hEvent: *mut c_void) -> c_int {
    // SAFETY: per this function's contract.
    unsafe { on_event(hEvent, "WSAResetEvent", Handle::reset) }
}

/// Implements Winsock 2 `WSAWaitForMultipleEvents`: waits until one (`fWaitAll` FALSE) or all
/// (TRUE) of the `cEvents` events are signaled, or `dwTimeout` milliseconds pass (`WSA_INFINITE`:
/// never; 0: a look). Returns `WSA_WAIT_EVENT_0` + the lowest index of a signaled event (wait-all:
/// `WSA_WAIT_EVENT_0`), `WSA_WAIT_TIMEOUT`, or `WSA_WAIT_FAILED` with WSA_INVALID_PARAMETER (0 or more
/// than `WSA_MAXIMUM_WAIT_EVENTS` events, a NULL array, a handle twice in a wait-all) or
/// WSA_INVALID_HANDLE. Auto-reset events of the compat `CreateEvent` are reset by the wait that
/// takes them; thread handles of its `CreateThread` are waitable too. `fAlertable` is ignored (Linux
/// has no APCs).
///
/// # Safety
/// `lphEvents` NULL or valid for `cEvents` handles, each NULL or a `WSAEVENT`/`HANDLE`.
#[no_mangle]
pub unsafe extern "C" fn WSAWaitForMultipleEvents(
    cEvents: u32,
    lphEvents: *const *mut c_void,
    fWaitAll: c_int,
    dwTimeout: u32,
    _fAlertable: c_int,
) -> u32 {
    guard("WSAWaitForMultipleEvents", object::WAIT_FAILED, || {
        if cEvents == 0 || cEvents > object::MAXIMUM_WAIT_EVENTS || lphEvents.is_null() {
            return Err(Error::new(
                WsaCode::WIN32_INVALID_PARAMETER,
                format!(
                    "WSAWaitForMultipleEvents: {cEvents} events (1 to WSA_MAXIMUM_WAIT_EVENTS = 64, \
                     in a non-NULL array)"
                ),
            ));
        }
        // SAFETY: the caller vouches for `cEvents` (<= 64) handles at `lphEvents`.
        let handles = unsafe { std::slice::from_raw_parts(lphEvents, cEvents as usize) };
        let objects = handles
            .iter()
            // SAFETY: each handle per the contract.
            .map(|&h| unsafe { object::object_of(h, false, "WSAWaitForMultipleEvents") })
            .collect::<Result<Vec<_>>>()?;
        object::wait(&objects, fWaitAll != 0, dwTimeout)
    })
}
