//! Linux `epoll` with secure sockets seen as sslsock sees them: `epoll_create`, `epoll_create1`,
//! `epoll_ctl`, `epoll_wait`, `epoll_pwait`, `epoll_pwait2`.
//!
//! A secure socket added to a program's set E goes into E's inner set I (`sets`), which is in E; the
//! kernel keeps doing EPOLLET, EPOLLONESHOT and EPOLLEXCLUSIVE per socket there, and a wait on E
//! (`wait`) reports, besides the kernel's events for plain descriptors:
//! - EPOLLIN for a secure socket holding decrypted data, the end of the stream or a failure: at every
//!   wait when level-triggered, once per arrival when edge-triggered, once until `EPOLL_CTL_MOD`
//!   with EPOLLONESHOT;
//! - not EPOLLIN for ciphertext that does not finish a record (taken in, not reported);
//! - EPOLLOUT and the rest as the kernel says, with what a parked non-blocking handshake or a
//!   pending flush needs watched besides, as `poll` does;
//! - nothing for a socket closed while registered (as the kernel drops a closed descriptor).
//!
//! Plain descriptors and sets that never got a secure socket go to libc after one or two bit tests;
//! every call does while no secure socket has been made in the process.

mod sets;
mod wait;

use std::ffi::c_int;
use std::sync::Arc;

use super::{guard, plain};
use crate::error::{Error, Result};
use crate::sys::real;
use crate::table;

pub use sets::{copied, forget, forget_range, lock_for_fork, unlock_for_fork};
pub use wait::Flavor;

/// A number the kernel just made (`epoll_create*`): whatever set had it before is forgotten.
fn made(rc: c_int) -> c_int {
    if rc >= 0 {
        sets::forget(rc);
    }
    rc
}

/// Implements Linux `epoll_create`: libc's; a reused number starts with no inner set.
#[no_mangle]
pub extern "C" fn epoll_create(size: c_int) -> c_int {
    // SAFETY: a plain integer.
    made(plain("epoll_create", unsafe { real::epoll_create(size) }))
}

/// Implements Linux `epoll_create1`, as `epoll_create`.
#[no_mangle]
pub extern "C" fn epoll_create1(flags: c_int) -> c_int {
    // SAFETY: a plain integer.
    made(plain("epoll_create1", unsafe {
        real::epoll_create1(flags)
    }))
}

/// The kernel's `epoll_ctl` on set `epfd`, as an sslsock result.
fn kernel_ctl(epfd: c_int, op: c_int, fd: c_int, event: *mut libc::epoll_event) -> Result<c_int> {
    // SAFETY: `event` is NULL or the caller's (or our own) epoll_event; the kernel checks it.
    match unsafe { real::epoll_ctl(epfd, op, fd, event) } {
        rc if rc < 0 => Err(Error::last_os("epoll_ctl")),
        rc => Ok(rc),
    }
}

/// The inner set of program set `epfd`, made (and registered in `epfd`) if it has none yet, kept
/// open while the caller holds it. Fails as the kernel's `epoll_ctl` on `epfd` would (EBADF, EINVAL
/// for a number that is not an epoll set).
fn inner_for(epfd: c_int) -> Result<Arc<sets::Fds>> {
    if let Some(fds) = sets::inner_kept(epfd) {
        return Ok(fds);
    }
    // Made under the registry's lock, so that two threads adding to one set make one inner set.
    let mut locked = sets::lock();
    let reg = locked.get_or_insert_with(sets::Registry::default);
    if let Some(st) = reg.outers.get(&epfd).and_then(|i| reg.inners.get(i)) {
        return Ok(st.fds.clone());
    }
    // SAFETY: plain integers.
    let inner = unsafe { real::epoll_create1(libc::EPOLL_CLOEXEC) };
    if inner < 0 {
        return Err(Error::last_os("epoll_ctl: epoll_create1 (inner set)"));
    }
    let inner = crate::hidden::hide(inner);
    // SAFETY: plain integers.
    let wake = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if wake < 0 {
        let e = Error::last_os("epoll_ctl: eventfd (inner set)");
        crate::hidden::close(inner);
        return Err(e);
    }
    // From here on both close with `fds` (sslsock's own: `crate::hidden`).
    let fds = Arc::new(sets::Fds {
        inner,
        wake: crate::hidden::hide(wake),
    });
    let mut wake_ev = libc::epoll_event {
        events: libc::EPOLLIN as u32,
        u64: sets::WAKE,
    };
    let mut inner_ev = libc::epoll_event {
        events: libc::EPOLLIN as u32,
        u64: sets::tag() | u64::from(inner as u32),
    };
    kernel_ctl(inner, libc::EPOLL_CTL_ADD, fds.wake, &mut wake_ev)?;
    kernel_ctl(epfd, libc::EPOLL_CTL_ADD, inner, &mut inner_ev)?;
    sets::add_outer(reg, epfd, fds.clone());
    Ok(fds)
}

/// `epoll_ctl` with a secure socket or on a set that has an inner set.
fn control(epfd: c_int, op: c_int, fd: c_int, event: *mut libc::epoll_event) -> Result<c_int> {
    let sock = table::socket(fd);
    // Kept open until this call returns, even if another thread closes the program's set meanwhile.
    let kept = sets::inner_kept(epfd);
    let inner = kept.as_ref().map(|k| k.inner);
    // Whether `fd` is registered in the inner set with the socket it has now.
    let member = |inner: c_int| {
        sets::with(|r| {
            let st = r.inners.get_mut(&inner)?;
            let current = st.members.get(&fd).is_some_and(|m| {
                !m.sock.is_closed()
                    && sock
                        .as_ref()
                        .is_some_and(|s| std::sync::Arc::ptr_eq(s, &m.sock))
            });
            if !current {
                st.members.remove(&fd);
            }
            current.then_some(())
        })
        .is_some()
    };
    match op {
        libc::EPOLL_CTL_ADD => {
            let Some(sock) = sock.filter(|s| !table::is_inherited(s)) else {
                return kernel_ctl(epfd, op, fd, event);
            };
            if event.is_null() {
                return Err(Error::os(libc::EFAULT, "epoll_ctl"));
            }
            // SAFETY: non-NULL, the caller's epoll_event.
            let ev = unsafe { event.read_unaligned() };
            let kept = inner_for(epfd)?;
            let inner = kept.inner;
            // A socket the program put into E while it was plain (before SO_SECURE) is in E still: a
            // second ADD is EEXIST, as the kernel answers. Found by adding it to E for a moment (the
            // inner set's tag as data: a concurrent wait that sees it drains the inner set, harmlessly).
            let mut probe = libc::epoll_event {
                events: 0,
                u64: sets::tag() | u64::from(inner as u32),
            };
            kernel_ctl(epfd, libc::EPOLL_CTL_ADD, fd, &mut probe)?;
            kernel_ctl(epfd, libc::EPOLL_CTL_DEL, fd, &mut probe)?;
            let mut ours = libc::epoll_event {
                events: ev.events,
                u64: fd as u64,
            };
            // The kernel's registration and the registry's change under one hold of the registry's
            // lock, under which a wait changes a member too (`wait::update`): a wait never sees the
            // one without the other.
            sets::with(|r| {
                kernel_ctl(inner, op, fd, &mut ours)?;
                if let Some(st) = r.inners.get_mut(&inner) {
                    st.members.insert(
                        fd,
                        sets::Member {
                            data: ev.u64,
                            events: ev.events,
                            kernel_events: ev.events,
                            sock,
                            disarmed: false,
                            held_reported: false,
                        },
                    );
                }
                Ok(0)
            })
        }
        libc::EPOLL_CTL_MOD | libc::EPOLL_CTL_DEL => {
            let Some(inner) = inner.filter(|&i| member(i)) else {
                return kernel_ctl(epfd, op, fd, event);
            };
            if op == libc::EPOLL_CTL_DEL {
                return sets::with(|r| {
                    kernel_ctl(inner, op, fd, event)?;
                    r.inners.get_mut(&inner).map(|st| st.members.remove(&fd));
                    Ok(0)
                });
            }
            if event.is_null() {
                return Err(Error::os(libc::EFAULT, "epoll_ctl"));
            }
            // SAFETY: non-NULL, the caller's epoll_event.
            let ev = unsafe { event.read_unaligned() };
            let mut ours = libc::epoll_event {
                events: ev.events,
                u64: fd as u64,
            };
            sets::with(|r| {
                kernel_ctl(inner, op, fd, &mut ours)?;
                if let Some(m) = r
                    .inners
                    .get_mut(&inner)
                    .and_then(|st| st.members.get_mut(&fd))
                {
                    m.data = ev.u64;
                    m.events = ev.events;
                    m.kernel_events = ev.events;
                    m.disarmed = false;
                    m.held_reported = false;
                }
                Ok(0)
            })
        }
        _ => kernel_ctl(epfd, op, fd, event),
    }
}

/// Implements Linux `epoll_ctl`. A secure socket is registered in the set's inner set (made at its
/// first); everything else, and every call while no secure socket has been made, is libc's. Errors
/// are the kernel's (made by the same call on the inner set where the socket is).
///
/// # Safety
/// As libc's `epoll_ctl`: `event` NULL or a valid epoll_event.
#[no_mangle]
pub unsafe extern "C" fn epoll_ctl(
    epfd: c_int,
    op: c_int,
    fd: c_int,
    event: *mut libc::epoll_event,
) -> c_int {
    if !crate::fork::secure_sockets_made()
        || !(table::maybe_secure(fd)
            || sets::is_outer(epfd)
            || sets::is_outer(fd)
            || sets::is_holder(epfd))
    {
        // SAFETY: the caller's arguments, passed through.
        return plain("epoll_ctl", unsafe { real::epoll_ctl(epfd, op, fd, event) });
    }
    guard("epoll_ctl", -1, || {
        let rc = control(epfd, op, fd, event)?;
        // A set holding a program set with an inner set (nested sets): see `wait::refresh`.
        if op == libc::EPOLL_CTL_ADD && sets::is_outer(fd) {
            sets::hold(epfd, fd, true);
        } else if op == libc::EPOLL_CTL_DEL && sets::is_holder(epfd) {
            sets::hold(epfd, fd, false);
        }
        Ok(rc)
    })
}

/// The three waits: libc's when `epfd` has no inner set (or the arguments are for the kernel to
/// refuse), else [`wait::wait`].
///
/// # Safety
/// As libc's `epoll_wait`; `flavor`'s sigmask NULL or valid.
unsafe fn wait_common(
    call: &'static str,
    epfd: c_int,
    events: *mut libc::epoll_event,
    maxevents: c_int,
    deadline: Option<std::time::Instant>,
    flavor: Flavor,
    libc_call: impl FnOnce() -> c_int,
) -> c_int {
    // The kernel's own checks (maxevents, a NULL or bad array) are the kernel's to answer.
    let max_events = (c_int::MAX as usize / std::mem::size_of::<libc::epoll_event>()) as c_int;
    if events.is_null() || maxevents <= 0 || maxevents > max_events {
        return plain(call, libc_call());
    }
    if sets::is_holder(epfd) {
        for held in sets::held_by(epfd) {
            if let Some(kept) = sets::inner_kept(held) {
                wait::refresh(kept.inner);
            }
        }
    }
    // Kept open for the whole wait, even if another thread closes the program's set meanwhile (as
    // Linux allows): the wait never touches a number closed and reused under it.
    let Some(kept) = sets::inner_kept(epfd) else {
        return plain(call, libc_call());
    };
    guard(call, -1, || {
        // SAFETY: the caller vouches for `maxevents` entries at `events` (the kernel writes as many).
        let out = unsafe { std::slice::from_raw_parts_mut(events, maxevents as usize) };
        wait::wait(epfd, kept.inner, out, deadline, flavor).map(|n| n as c_int)
    })
}

fn deadline_ms(timeout: c_int) -> Option<std::time::Instant> {
    (timeout >= 0)
        .then(|| std::time::Instant::now() + std::time::Duration::from_millis(timeout as u64))
}

/// Implements Linux `epoll_wait`: secure sockets in the set are readable as sslsock sees them (see
/// the module's note); plain descriptors' events pass unchanged.
///
/// # Safety
/// As libc's `epoll_wait`.
#[no_mangle]
pub unsafe extern "C" fn epoll_wait(
    epfd: c_int,
    events: *mut libc::epoll_event,
    maxevents: c_int,
    timeout: c_int,
) -> c_int {
    // SAFETY: the caller's arguments, passed through.
    let libc_call = || unsafe { real::epoll_wait(epfd, events, maxevents, timeout) };
    if !crate::fork::secure_sockets_made() || !(sets::is_outer(epfd) || sets::is_holder(epfd)) {
        return plain("epoll_wait", libc_call());
    }
    let deadline = deadline_ms(timeout);
    // SAFETY: the caller's arguments.
    unsafe {
        wait_common(
            "epoll_wait",
            epfd,
            events,
            maxevents,
            deadline,
            Flavor::Wait,
            libc_call,
        )
    }
}

/// Implements Linux `epoll_pwait`: as `epoll_wait`, with `sigmask` in force during each wait in the
/// kernel.
///
/// # Safety
/// As libc's `epoll_pwait`.
#[no_mangle]
pub unsafe extern "C" fn epoll_pwait(
    epfd: c_int,
    events: *mut libc::epoll_event,
    maxevents: c_int,
    timeout: c_int,
    sigmask: *const libc::sigset_t,
) -> c_int {
    // SAFETY: the caller's arguments, passed through.
    let libc_call = || unsafe { real::epoll_pwait(epfd, events, maxevents, timeout, sigmask) };
    if !crate::fork::secure_sockets_made() || !(sets::is_outer(epfd) || sets::is_holder(epfd)) {
        return plain("epoll_pwait", libc_call());
    }
    let deadline = deadline_ms(timeout);
    // SAFETY: the caller's arguments.
    unsafe {
        wait_common(
            "epoll_pwait",
            epfd,
            events,
            maxevents,
            deadline,
            Flavor::Pwait(sigmask),
            libc_call,
        )
    }
}

/// Implements Linux `epoll_pwait2` (glibc 2.35): as `epoll_pwait`, with a `struct timespec` timeout
/// (NULL: wait forever). A negative or unnormalised timeout is the kernel's EINVAL.
///
/// # Safety
/// As libc's `epoll_pwait2`.
#[no_mangle]
pub unsafe extern "C" fn epoll_pwait2(
    epfd: c_int,
    events: *mut libc::epoll_event,
    maxevents: c_int,
    timeout: *const libc::timespec,
    sigmask: *const libc::sigset_t,
) -> c_int {
    // SAFETY: NULL or the caller's timespec. (time_t and c_long are i64 on LP64; the casts matter on
    // 32-bit targets.)
    #[allow(clippy::unnecessary_cast)]
    let parts = unsafe { timeout.as_ref() }.map(|t| (t.tv_sec as i64, t.tv_nsec as i64));
    // SAFETY: the caller's arguments, passed through.
    unsafe {
        pwait2_with(epfd, events, maxevents, parts, sigmask, || {
            real::epoll_pwait2(epfd, events, maxevents, timeout, sigmask)
        })
    }
}

/// `epoll_pwait2` with the program's timeout as (seconds, nanoseconds) (None: NULL, forever) and
/// `libc_call` as libc's function (`epoll_pwait2`, or `__epoll_pwait2_time64` for a 32-bit
/// `_TIME_BITS=64` program).
///
/// # Safety
/// As libc's `epoll_pwait2`; `libc_call` is libc's call with the same arguments.
pub unsafe fn pwait2_with(
    epfd: c_int,
    events: *mut libc::epoll_event,
    maxevents: c_int,
    timeout: Option<(i64, i64)>,
    sigmask: *const libc::sigset_t,
    libc_call: impl FnOnce() -> c_int,
) -> c_int {
    if !crate::fork::secure_sockets_made() || !(sets::is_outer(epfd) || sets::is_holder(epfd)) {
        return plain("epoll_pwait2", libc_call());
    }
    let deadline = match timeout {
        None => None,
        Some((secs, nanos)) => {
            if secs < 0 || !(0..1_000_000_000).contains(&nanos) {
                return plain("epoll_pwait2", libc_call());
            }
            let span = std::time::Duration::new(secs as u64, nanos as u32);
            std::time::Instant::now().checked_add(span)
        }
    };
    // SAFETY: the caller's arguments.
    unsafe {
        wait_common(
            "epoll_pwait2",
            epfd,
            events,
            maxevents,
            deadline,
            Flavor::Pwait2(sigmask),
            libc_call,
        )
    }
}
