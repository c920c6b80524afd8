//! The watcher: one thread per process, started by the first `WSAEventSelect` (and again, lazily, in a
//! `fork` child, which has no thread of its parent's), that records the network events of every
//! selected socket.
//!
//! Each round it takes, under the state lock, what every selection still waits for (FD_READ: POLLIN;
//! FD_CLOSE: POLLRDHUP; FD_WRITE: POLLOUT; FD_OOB: POLLPRI, until the socket hung up; FD_ACCEPT: POLLIN
//! on a listening socket; a connect under way: POLLOUT, or what its handshake needs) and marks those
//! numbers as being watched (`State::polling`); then it waits, without the lock, with the readiness
//! engine of `poll` (`poll::wait`: a secure socket is readable when sslsock holds data, the end or a
//! failure, never for part of a record), on those sockets and on an eventfd that wakes it when
//! selections change. Once the wait is over no number is watched any more (`ROUND_DONE`); then each
//! socket with something found is looked at in turn (a peek tells data from the end of the stream; a
//! connect under way is moved on, handshake included, which may run the program's certificate hook
//! here), its number watched again during that look only, and only if its selection still exists;
//! what the look found is recorded under the lock into the selection it looked at, if that selection
//! still exists, and the socket's event is set.
//!
//! A `close` of a selected number ends the selection first and waits while the number is watched
//! (`before_close`): the watcher never touches a number after it was closed, and a close waits
//! neither for the watcher's looks at other sockets nor for their certificate hooks.

use std::cell::Cell;
use std::ffi::c_int;
use std::sync::MutexGuard;

use super::{remove_locked, state, state_for_fork, Phase, Selection, State, ROUND_DONE};
use super::{FD_ACCEPT, FD_CLOSE, FD_CONNECT, FD_OOB, FD_READ, FD_WRITE};
use crate::error::WsaCode;
use crate::ffi::poll::{self, OnClosed};
use crate::log::log;
use crate::secure::RecvFlags;
use crate::settings::Level;
use crate::sys::{fd, real};

const TROUBLE: i16 = libc::POLLERR | libc::POLLHUP;

/// The watcher of this process: the process it was started in, and its eventfd.
pub(crate) struct Running {
    pid: u32,
    wake_fd: c_int,
}

impl Running {
    /// Whether it runs in this process (false in a `fork` child until it is started again).
    pub fn is_ours(&self) -> bool {
        self.pid == std::process::id()
    }
}

/// The state lock, held by the forking thread between `prepare` and `parent`/`child`.
static HELD: crate::locks::ForkSlot<MutexGuard<'static, State>> = crate::locks::ForkSlot::new();

thread_local! {
    static IS_WATCHER: Cell<bool> = const { Cell::new(false) };
}

/// Whether the calling thread is the watcher (a certificate hook it runs may close a socket: that
/// close must not wait for the watcher's round).
pub fn is_current_thread() -> bool {
    IS_WATCHER.try_with(Cell::get).unwrap_or(false)
}

/// Let the watcher look again (starting it if this process has none).
pub fn wake(st: &mut State) {
    ensure(st);
    if let Some(w) = &st.watcher {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a u64 of ours to our eventfd.
        let _ = unsafe { real::write(w.wake_fd, (&one as *const u64).cast(), 8) };
    }
}

fn ensure(st: &mut State) {
    if st.watcher.as_ref().is_some_and(Running::is_ours) {
        return;
    }
    if let Some(inherited) = st.watcher.take() {
        // The parent's watcher: its eventfd here is the child's copy, closed; no thread runs.
        super::mark(inherited.wake_fd, false);
        crate::hidden::close(inherited.wake_fd);
    }
    st.polling.clear();
    // SAFETY: eventfd takes plain integers.
    let wake_fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if wake_fd < 0 {
        log!(
            Level::Error,
            "WSAEventSelect: no eventfd for the watcher: {}",
            std::io::Error::last_os_error()
        );
        return;
    }
    // sslsock's own (`crate::hidden`): no `close`, `close_range`, `closefrom` or `dup2` of the
    // program's can take its number while the watcher writes to it.
    let wake_fd = crate::hidden::hide(wake_fd);
    let spawned = std::thread::Builder::new()
        .name("sslsock-events".into())
        .spawn(move || run(wake_fd));
    match spawned {
        Ok(_) => {
            // Marked like a selected number, so that a `close` of it (`closefrom` in the program)
            // reaches `forget_number` first.
            super::mark(wake_fd, true);
            st.watcher = Some(Running {
                pid: std::process::id(),
                wake_fd,
            })
        }
        Err(e) => {
            log!(Level::Error, "WSAEventSelect: no watcher thread: {e}");
            crate::hidden::close(wake_fd);
        }
    }
}

/// The program is closing `fd` (`closefrom`, `close_range`, a stray `close`): if it is the watcher's
/// eventfd, that watcher retires (it ends after its current wait, recording nothing more) and the
/// next `wake` starts another.
pub fn forget_number(st: &mut State, fd: c_int) {
    if st.watcher.as_ref().is_some_and(|w| w.wake_fd == fd) {
        super::mark(fd, false);
        st.watcher = None;
        st.polling.clear();
        // A close waiting for the retired watcher waits no more.
        ROUND_DONE.notify_all();
    }
}

/// Whether the watcher with `wake_fd` is still this process's watcher.
fn still_current(st: &State, wake_fd: c_int) -> bool {
    st.watcher
        .as_ref()
        .is_some_and(|w| w.wake_fd == wake_fd && w.is_ours())
}

/// Whether the selection `entry` was taken from still exists (not ended, not replaced).
fn still_selected(st: &State, entry: &Entry) -> bool {
    st.selections
        .get(&entry.fd)
        .is_some_and(|sel| sel.id == entry.id)
}

/// One socket the watcher waits on this round.
struct Entry {
    fd: c_int,
    id: u64,
    phase: Phase,
    events: i16,
}

/// What a round found on one socket.
#[derive(Default)]
struct Found {
    /// (events, error code) to record.
    records: Vec<(c_int, c_int)>,
    phase: Option<Phase>,
    at_end: bool,
    /// Poll reported a hang-up (or failure) without urgent data: FD_OOB is waited for no more.
    hung_up: bool,
    /// The number is no open socket any more: the selection ends.
    gone: bool,
}

/// What `sel` waits for now, as poll events (0: nothing).
fn interest(sel: &Selection) -> i16 {
    let on = sel.mask & sel.enabled;
    match sel.phase {
        Phase::Unconnected => 0,
        Phase::Listening if on & FD_ACCEPT != 0 => libc::POLLIN,
        Phase::Listening => 0,
        // The connect (and handshake) is moved on whatever is selected: the other events need it.
        Phase::Connecting => libc::POLLOUT,
        Phase::Connected => {
            let mut events = 0;
            if !sel.at_end && on & FD_READ != 0 {
                events |= libc::POLLIN;
            }
            if !sel.at_end && on & FD_CLOSE != 0 {
                events |= libc::POLLRDHUP;
            }
            if on & FD_WRITE != 0 {
                events |= libc::POLLOUT;
            }
            // POLLHUP/POLLERR come whatever is asked: a hung-up socket polled for urgent data it can
            // no longer get would wake the watcher at once every round.
            if !sel.hung_up && on & FD_OOB != 0 {
                events |= libc::POLLPRI;
            }
            events
        }
    }
}

fn run(wake_fd: c_int) {
    let _ = IS_WATCHER.try_with(|w| w.set(true));
    loop {
        let entries: Vec<Entry> = {
            let mut st = state();
            if !still_current(&st, wake_fd) {
                return;
            }
            let entries: Vec<Entry> = st
                .selections
                .iter()
                .filter_map(|(&fd, sel)| {
                    let events = interest(sel);
                    (events != 0).then_some(Entry {
                        fd,
                        id: sel.id,
                        phase: sel.phase,
                        events,
                    })
                })
                .collect();
            st.polling = entries.iter().map(|e| e.fd).collect();
            entries
        };
        let mut fds: Vec<libc::pollfd> = std::iter::once((wake_fd, libc::POLLIN))
            .chain(entries.iter().map(|e| (e.fd, e.events)))
            .map(|(fd, events)| libc::pollfd {
                fd,
                events,
                revents: 0,
            })
            .collect();
        if poll::wait(&mut fds, None, OnClosed::Invalid).is_err() {
            fds.iter_mut().for_each(|p| p.revents = 0);
        }
        {
            let mut st = state();
            if !still_current(&st, wake_fd) {
                return; // retired while it waited: its eventfd may be another object's number now
            }
            // The wait is over: a close waits no more, unless the watcher looks at its number below.
            st.polling.clear();
        }
        ROUND_DONE.notify_all();
        if fds[0].revents != 0 {
            let mut count = 0u64;
            // SAFETY: reads 8 bytes into a u64 of ours from our (non-blocking) eventfd.
            let _ = unsafe { real::read(wake_fd, (&mut count as *mut u64).cast(), 8) };
        }
        for (entry, p) in entries.iter().zip(&fds[1..]) {
            if p.revents == 0 {
                continue;
            }
            {
                let mut st = state();
                if !still_current(&st, wake_fd) {
                    return;
                }
                if !still_selected(&st, entry) {
                    continue; // ended (closed, perhaps) since the wait: the number is not touched
                }
                st.polling.push(entry.fd);
            }
            let found = look(entry, p.revents);
            let mut st = state();
            if !still_current(&st, wake_fd) {
                return;
            }
            st.polling.retain(|&n| n != entry.fd);
            record(&mut st, entry, found);
            drop(st);
            ROUND_DONE.notify_all();
        }
    }
}

/// Record what a look found on `entry`'s socket (state locked), into the selection it looked at if
/// that selection still exists.
fn record(st: &mut State, entry: &Entry, found: Found) {
    let Some(sel) = st.selections.get_mut(&entry.fd) else {
        return;
    };
    if sel.id != entry.id {
        return;
    }
    if found.gone {
        remove_locked(st, entry.fd);
        return;
    }
    if let Some(phase) = found.phase {
        sel.phase = phase;
        if phase == Phase::Connected {
            sel.enabled |= sel.mask & (FD_WRITE | FD_READ | FD_CLOSE | FD_OOB);
        }
    }
    sel.at_end |= found.at_end;
    sel.hung_up |= found.hung_up;
    for (bits, code) in found.records {
        sel.record(bits, code);
    }
}

/// The pending error of a socket (SO_ERROR) as a Winsock code (0 for none).
fn pending_error(fd: c_int) -> c_int {
    match fd::get_int_option(fd, libc::SOL_SOCKET, libc::SO_ERROR) {
        Ok(0) => 0,
        Ok(e) | Err(e) => WsaCode::from_errno(e).0,
    }
}

/// What `revents` means for the socket of `entry` (the number is still the selection's: a close
/// waits while it is in `State::polling`, i.e. for the end of this look).
fn look(entry: &Entry, revents: i16) -> Found {
    let mut found = Found::default();
    if revents & libc::POLLNVAL != 0 {
        found.gone = true;
        return found;
    }
    let secure = crate::table::socket(entry.fd).filter(|s| !crate::table::is_inherited(s));
    match entry.phase {
        Phase::Unconnected => {}
        Phase::Listening => found.records.push((FD_ACCEPT, 0)),
        Phase::Connecting => {
            let outcome = match &secure {
                Some(sock) => match sock.connect_progress() {
                    Ok(true) => Some(0),
                    Ok(false) => None,
                    Err(e) => Some(e.code().0),
                },
                None if revents & (libc::POLLOUT | TROUBLE) != 0 => Some(pending_error(entry.fd)),
                None => None,
            };
            match outcome {
                Some(0) => {
                    found.phase = Some(Phase::Connected);
                    found.records.push((FD_CONNECT | FD_WRITE, 0));
                }
                Some(code) => {
                    found.phase = Some(Phase::Unconnected);
                    found.records.push((FD_CONNECT, code));
                }
                None => {}
            }
        }
        Phase::Connected => {
            if entry.events & libc::POLLIN != 0 && revents & (libc::POLLIN | TROUBLE) != 0 {
                match peek(entry.fd, secure.as_deref()) {
                    Peeked::Data => found.records.push((FD_READ, 0)),
                    Peeked::End(code) => {
                        found.at_end = true;
                        found.records.push((FD_CLOSE, code));
                    }
                    Peeked::Nothing if revents & TROUBLE != 0 => {
                        found.at_end = true;
                        found.records.push((FD_CLOSE, pending_error(entry.fd)));
                    }
                    Peeked::Nothing => {}
                }
            }
            if entry.events & libc::POLLRDHUP != 0 && revents & (libc::POLLRDHUP | TROUBLE) != 0 {
                let code = if revents & libc::POLLERR != 0 {
                    pending_error(entry.fd)
                } else {
                    0
                };
                found.records.push((FD_CLOSE, code));
            }
            if entry.events & libc::POLLOUT != 0 && revents & (libc::POLLOUT | TROUBLE) != 0 {
                found.records.push((FD_WRITE, 0));
            }
            if entry.events & libc::POLLPRI != 0 {
                if revents & libc::POLLPRI != 0 {
                    found.records.push((FD_OOB, 0));
                } else if revents & TROUBLE != 0 {
                    found.hung_up = true;
                }
            }
        }
    }
    found
}

enum Peeked {
    Data,
    /// The end of the stream (0) or the failure that ended it.
    End(c_int),
    Nothing,
}

/// Whether data or the end waits on a connected socket, without taking any of it.
fn peek(fd: c_int, secure: Option<&crate::secure::SecureSocket>) -> Peeked {
    let mut byte = [0u8; 1];
    match secure {
        Some(sock) => {
            let flags = RecvFlags {
                peek: true,
                wait_all: false,
                dont_wait: true,
                oob: false,
            };
            match sock.recv(&mut byte, flags) {
                Ok(0) => Peeked::End(0),
                Ok(_) => Peeked::Data,
                Err(e) if e.is_would_block() => Peeked::Nothing,
                Err(e) => Peeked::End(e.code().0),
            }
        }
        None => {
            let stream =
                fd::get_int_option(fd, libc::SOL_SOCKET, libc::SO_TYPE) == Ok(libc::SOCK_STREAM);
            match fd::recv_flags(fd, &mut byte, libc::MSG_PEEK | libc::MSG_DONTWAIT) {
                Ok(0) if stream => Peeked::End(0),
                Ok(_) => Peeked::Data,
                Err(libc::EAGAIN | libc::EINTR) => Peeked::Nothing,
                Err(e) => Peeked::End(WsaCode::from_errno(e).0),
            }
        }
    }
}

// ---- fork ----

/// Before `fork` (lock 0 of `fork`'s list): the state lock is taken, so that the child never inherits
/// it held by a thread it does not have. (The child starts its own watcher when it next needs one:
/// `Running::is_ours`.)
pub fn hold_for_fork() {
    HELD.put(state_for_fork());
}

/// After `fork`, in parent and child: the state lock is released (the last of `fork`'s locks).
pub fn release_after_fork() {
    drop(HELD.take());
}

/// After `fork`, in the child (before `release_after_fork`): the parent's selections are the parent's,
/// so the child starts with none (it makes its own). Their event objects are not touched, not even
/// released: a thread of the parent's, which the child does not have, may have held one's mutex at the
/// fork, and setting it would hang the child.
pub fn forget_selections_after_fork() {
    let Some(mut st) = HELD.take() else {
        return;
    };
    for &fd in st.selections.keys() {
        super::mark(fd, false);
    }
    // Forgotten, not freed: the fork handlers do not allocate or free (`locks::ForkSlot`).
    std::mem::forget(std::mem::take(&mut st.selections));
    st.polling.clear();
    HELD.put(st);
}
