//! A wait on a program epoll set that has an inner set (see the module's note in `epoll`):
//!
//! (a) members holding data inside sslsock are reported first (level-triggered: at every wait;
//!     edge-triggered: once per arrival; EPOLLONESHOT: once, then disarmed in the inner set too);
//! (b) the kernel's wait on the program set, for no time at all when (a) found something, else for
//!     the time left, with the program's sigmask;
//! (c) the inner set's event is replaced by the inner set's own events (as many as there is room
//!     for), each translated: EPOLLIN kept only when the ciphertext made data (a whole record, the
//!     end, a failure), the program's `data` restored, closed sockets dropped, a socket found by (a)
//!     too merged into one event;
//! (d) with nothing to report and time left, again.

use std::ffi::c_int;
use std::sync::Arc;
use std::time::Instant;

use super::sets::{self, Member, WAKE};
use crate::error::{Error, Result};
use crate::secure::SecureSocket;
use crate::sys::real;
use crate::table;

const IN: u32 = libc::EPOLLIN as u32 | libc::EPOLLRDNORM as u32;
const OUT: u32 = libc::EPOLLOUT as u32 | libc::EPOLLWRNORM as u32;
const TROUBLE: u32 = libc::EPOLLERR as u32 | libc::EPOLLHUP as u32;
const ET: u32 = libc::EPOLLET as u32;
const ONESHOT: u32 = libc::EPOLLONESHOT as u32;
const EXCLUSIVE: u32 = libc::EPOLLEXCLUSIVE as u32;

/// Which libc wait the program called (what (b) calls, with its sigmask).
#[derive(Clone, Copy)]
pub enum Flavor {
    /// `epoll_wait`.
    Wait,
    /// `epoll_pwait` with this sigmask.
    Pwait(*const libc::sigset_t),
    /// `epoll_pwait2` with this sigmask.
    Pwait2(*const libc::sigset_t),
}

/// The kernel's wait on `epfd` into `out`, for no time (`now`) or until `deadline`.
fn kernel_wait(
    flavor: Flavor,
    epfd: c_int,
    out: &mut [libc::epoll_event],
    deadline: Option<Instant>,
    now: bool,
) -> c_int {
    let max = out.len().min(c_int::MAX as usize) as c_int;
    let ms = if now {
        0
    } else {
        crate::ffi::poll::millis_until(deadline)
    };
    // SAFETY: `out` is valid for `max` entries; the sigmask is the caller's (NULL or valid).
    unsafe {
        match flavor {
            Flavor::Wait => real::epoll_wait(epfd, out.as_mut_ptr(), max, ms),
            Flavor::Pwait(mask) => real::epoll_pwait(epfd, out.as_mut_ptr(), max, ms, mask),
            Flavor::Pwait2(mask) => {
                let left = match (now, deadline) {
                    (true, _) => Some(std::time::Duration::ZERO),
                    (false, d) => d.map(|d| d.saturating_duration_since(Instant::now())),
                };
                let ts = left.map(|l| libc::timespec {
                    tv_sec: l.as_secs().min(libc::time_t::MAX as u64) as libc::time_t,
                    tv_nsec: l.subsec_nanos() as libc::c_long,
                });
                let ptr = ts.as_ref().map_or(std::ptr::null(), |t| t as *const _);
                real::epoll_pwait2(epfd, out.as_mut_ptr(), max, ptr, mask)
            }
        }
    }
}

/// Update member `fd` of `inner` in the registry with `f`, which sees the member as it is now (not as
/// the wait's snapshot had it) and returns the events to register the number with in the inner set, if
/// that changes (`EPOLL_CTL_MOD`; errors ignored: the number may be closed). Only while the member is
/// still the registration of `sock`: a socket closed and another registered at its number since the
/// snapshot keeps its own registration. The check, the change and the MOD are made under the
/// registry's lock, under which `epoll_ctl` changes the kernel's registration and the registry too.
fn update(
    inner: c_int,
    fd: c_int,
    sock: &Arc<SecureSocket>,
    f: impl FnOnce(&mut Member) -> Option<u32>,
) {
    sets::with(|r| {
        let Some(m) = r
            .inners
            .get_mut(&inner)
            .and_then(|st| st.members.get_mut(&fd))
            .filter(|m| Arc::ptr_eq(&m.sock, sock))
        else {
            return;
        };
        if let Some(events) = f(m) {
            let mut ev = libc::epoll_event {
                events,
                u64: fd as u64,
            };
            // SAFETY: plain integers and our own epoll_event.
            unsafe { real::epoll_ctl(inner, libc::EPOLL_CTL_MOD, fd, &mut ev) };
        }
    });
}

/// Drop member `fd` of `inner` if it is still the registration of `sock` (a socket registered anew
/// at that number meanwhile stays).
fn remove(inner: c_int, fd: c_int, sock: &Arc<SecureSocket>) {
    sets::with(|r| {
        if let Some(st) = r.inners.get_mut(&inner) {
            if st
                .members
                .get(&fd)
                .is_some_and(|m| Arc::ptr_eq(&m.sock, sock))
            {
                st.members.remove(&fd);
            }
        }
    });
}

/// What `m` must be registered with in the inner set now: the program's events, plus what a parked
/// handshake needs or POLLOUT while records wait to be sent (as `poll` watches them).
fn wanted(m: &Member) -> u32 {
    if let Some(needed) = m.sock.handshake_interest() {
        m.events | needed as u16 as u32
    } else if m.sock.flush_pending() {
        m.events | libc::EPOLLOUT as u32
    } else {
        m.events
    }
}

/// The events to report for the kernel's `got` on member `m` (0: none).
fn translate(m: &Member, got: u32) -> u32 {
    let asked = m.events & !(ET | ONESHOT | EXCLUSIVE | libc::EPOLLWAKEUP as u32);
    if let Some(needed) = m.sock.handshake_interest() {
        // What the handshake waits for came: the program's next call moves it on.
        return if got & (needed as u16 as u32 | TROUBLE) != 0 {
            (asked & (IN | OUT)) | (got & TROUBLE)
        } else {
            0
        };
    }
    let mut r = got & (asked | TROUBLE);
    if r & IN != 0 && !m.sock.readable_after_input() {
        // Ciphertext that does not finish a record: taken in, not reported.
        r &= !IN;
    }
    r
}

fn drain(wake: c_int) {
    let mut v = 0u64;
    // SAFETY: our own non-blocking eventfd; reads 8 bytes into `v`.
    unsafe { real::read(wake, (&mut v as *mut u64).cast(), 8) };
}

fn raise(wake: c_int) {
    let v = 1u64;
    // SAFETY: our own non-blocking eventfd; writes 8 bytes from `v`.
    unsafe { real::write(wake, (&v as *const u64).cast(), 8) };
}

/// The eventfd and the members of `inner` (None: no such inner set any more).
fn snapshot(inner: c_int) -> Option<(c_int, Vec<(c_int, Member)>)> {
    sets::with(|r| {
        r.inners.get(&inner).map(|st| {
            let members = st.members.iter().map(|(k, v)| (*k, v.clone())).collect();
            (st.fds.wake, members)
        })
    })
}

/// Before a wait on a set that holds the program set whose inner set is `inner`: its eventfd is
/// raised if a level-triggered member holds data now (read into sslsock by a `recv` since the
/// last wait on the program set), lowered otherwise.
pub fn refresh(inner: c_int) {
    let Some((wake, members)) = snapshot(inner) else {
        return;
    };
    drain(wake);
    let holds = members.iter().any(|(_, m)| {
        m.events & IN != 0
            && m.events & ET == 0
            && !m.disarmed
            && !table::is_inherited(&m.sock)
            && !m.sock.is_closed()
            && m.sock.handshake_interest().is_none()
            && m.sock.readable_now()
    });
    raise_if(holds, wake);
}

/// Wait on program set `epfd`, whose inner set is `inner`, filling `out` (non-empty); returns how
/// many events it holds. A failure of the kernel's wait (EINTR, EBADF, ...) is returned as it is,
/// unless held data was already found (then that is reported).
pub fn wait(
    epfd: c_int,
    inner: c_int,
    out: &mut [libc::epoll_event],
    deadline: Option<Instant>,
    flavor: Flavor,
) -> Result<usize> {
    let tagged = sets::tag() | u64::from(inner as u32);
    loop {
        let Some((wake, members)) = snapshot(inner) else {
            // The set lost its inner set meanwhile (its last number closed): the kernel's answer.
            let n = kernel_wait(flavor, epfd, out, deadline, false);
            return if n < 0 {
                Err(Error::last_os("epoll_wait"))
            } else {
                Ok(n as usize)
            };
        };
        drain(wake);
        // (a) data held inside sslsock.
        let mut n = 0;
        let mut found: Vec<c_int> = Vec::new();
        let mut held_level = false;
        for (fd, m) in &members {
            let (fd, m) = (*fd, m);
            if table::is_inherited(&m.sock) {
                continue; // the parent's session: the kernel's readiness only
            }
            if m.sock.is_closed() {
                remove(inner, fd, &m.sock);
                continue;
            }
            if m.disarmed {
                continue;
            }
            let want = wanted(m);
            if want != m.kernel_events && m.events & EXCLUSIVE == 0 {
                // Only over the registration the snapshot saw (another thread's wait or the program's
                // EPOLL_CTL_MOD may have changed it since). `wanted` asks the socket, whose lock is
                // never taken under the registry's.
                let (seen_events, seen_kernel) = (m.events, m.kernel_events);
                update(inner, fd, &m.sock, |x| {
                    let unchanged =
                        x.events == seen_events && x.kernel_events == seen_kernel && !x.disarmed;
                    unchanged.then(|| {
                        x.kernel_events = want;
                        want
                    })
                });
            }
            if n == out.len() || m.events & IN == 0 || m.sock.handshake_interest().is_some() {
                continue;
            }
            if !m.sock.readable_now() {
                if m.held_reported {
                    update(inner, fd, &m.sock, |x| {
                        x.held_reported = false;
                        None
                    });
                }
                continue;
            }
            if m.events & ET != 0 && m.held_reported {
                continue;
            }
            out[n] = libc::epoll_event {
                events: m.events & IN,
                u64: m.data,
            };
            n += 1;
            found.push(fd);
            if m.events & ET == 0 {
                held_level = true;
            }
            report(inner, fd, m);
        }
        if n == out.len() {
            raise_if(held_level, wake);
            return Ok(n);
        }
        // (b) the kernel.
        let rc = kernel_wait(flavor, epfd, &mut out[n..], deadline, n > 0);
        if rc < 0 {
            let e = Error::last_os("epoll_wait");
            // (A kernel without epoll_pwait2 says so whatever is held: as libc's call would.)
            if n > 0 && e.errno() != libc::ENOSYS {
                raise_if(held_level, wake);
                return Ok(n);
            }
            return Err(e);
        }
        // (c) plain events stay; the inner set's is replaced by its members' events.
        let mut k = n;
        let mut inner_ready = false;
        for j in n..n + rc as usize {
            let ev = out[j];
            if ev.u64 == tagged {
                inner_ready = true;
            } else {
                out[k] = ev;
                k += 1;
            }
        }
        if inner_ready && k < out.len() {
            let room = &mut out[k..];
            let max = room.len().min(c_int::MAX as usize) as c_int;
            // SAFETY: `room` is valid for `max` entries.
            let got = unsafe { real::epoll_wait(inner, room.as_mut_ptr(), max, 0) }.max(0) as usize;
            let end = k + got;
            let mut w = k;
            for j in k..end {
                let ev = out[j];
                let (data, events) = (ev.u64, ev.events);
                if data == WAKE {
                    continue;
                }
                let fd = data as c_int;
                let Some(m) = sets::with(|r| {
                    r.inners
                        .get(&inner)
                        .and_then(|st| st.members.get(&fd).cloned())
                }) else {
                    continue; // deleted meanwhile
                };
                let r = if table::is_inherited(&m.sock) {
                    events
                } else if m.sock.is_closed() {
                    remove(inner, fd, &m.sock);
                    0
                } else if m.disarmed {
                    0
                } else {
                    let r = translate(&m, events);
                    if m.events & ONESHOT != 0 {
                        if r != 0 {
                            // The kernel disarmed it in reporting it.
                            update(inner, fd, &m.sock, |x| {
                                if x.events & ONESHOT != 0 {
                                    x.disarmed = true;
                                    x.kernel_events = ONESHOT;
                                }
                                None
                            });
                        } else {
                            // The kernel disarmed it for an event not reported: armed again.
                            update(inner, fd, &m.sock, |x| {
                                (x.events & ONESHOT != 0 && !x.disarmed).then_some(x.kernel_events)
                            });
                        }
                    }
                    if r & IN != 0 {
                        if m.events & ET != 0 {
                            update(inner, fd, &m.sock, |x| {
                                x.held_reported = true;
                                None
                            });
                        } else {
                            held_level = true;
                        }
                    }
                    r
                };
                if r == 0 {
                    continue;
                }
                if let Some(i) = found.iter().position(|&f| f == fd) {
                    out[i].events |= r;
                } else {
                    out[w] = libc::epoll_event {
                        events: r,
                        u64: m.data,
                    };
                    w += 1;
                }
            }
            k = w;
        }
        raise_if(held_level, wake);
        if k > 0 || deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(k);
        }
    }
}

/// After (a) reported member `fd`: edge-triggered, the held data counts as reported; one-shot, the
/// member is disarmed (in the inner set too: only EPOLLONESHOT left, so that the kernel reports it
/// at most once more, for an error, and that report is dropped).
fn report(inner: c_int, fd: c_int, m: &Member) {
    update(inner, fd, &m.sock, |x| {
        if x.events & ET != 0 {
            x.held_reported = true;
        }
        (x.events & ONESHOT != 0).then(|| {
            x.disarmed = true;
            x.kernel_events = ONESHOT;
            ONESHOT
        })
    });
}

/// While a level-triggered member holds data the kernel cannot see, the inner set's eventfd keeps
/// the program set readable for whatever waits on it (a set holding it, `poll`).
fn raise_if(held: bool, wake: c_int) {
    if held {
        raise(wake);
    }
}
