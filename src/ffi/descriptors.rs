//! Descriptors made, copied and destroyed: `dup`, `dup2`, `dup3`, `fcntl(F_DUPFD*)`, `close_range`,
//! `closefrom`, `accept`, `accept4`, and the close path that `close`/`closesocket` share. A copy of an
//! epoll set that holds secure sockets shares its inner set (`epoll::copied`).
//!
//! A copy of a secure descriptor shares its TLS session; the session ends (close_notify) when its last
//! descriptor is closed; a number that the kernel makes anew (`accept`, `dup`, a new `socket`) starts
//! with no secure state. Closing and replacing follow the table's rule (`table`, docs/security.md
//! "Closing and copying"): the number is marked as closing first, so that a concurrent call fails rather
//! than reach the secure connection through libc; the kernel socket is shut down; the number is closed
//! or replaced in the kernel; only then does its binding go.

use std::ffi::c_int;
use std::sync::Arc;

use super::{guard, plain, SOCKET_ERROR};
use crate::error::{Error, Result};
use crate::secure::SecureSocket;
use crate::sys::{fd, real};
use crate::table::{self, Binding};

/// Close `fd`, whose binding is `binding`: the session ends only with its last descriptor; an inherited
/// (post-fork) socket is closed in this process only. None when the number turned out to be stale
/// (closed behind sslsock's back and reused): its binding is gone and the caller closes it as libc would.
pub fn close_secure(fd: c_int, binding: &Arc<Binding>, call: &'static str) -> Option<c_int> {
    let sock = binding.socket_any().clone();
    if sock.is_stale(fd) {
        table::retire(fd, &sock);
        return None;
    }
    Some(guard(call, SOCKET_ERROR, || {
        if !binding.begin_close() {
            // Another call is closing this number (what libc answers a second close).
            return Err(table::closing().context(call));
        }
        if crate::table::is_inherited(&sock) || sock.detach(fd) {
            // The session stays with the parent or with the other descriptors.
            let closed = fd::close(fd);
            table::retire(fd, &sock);
            return closed.map(|()| 0).map_err(|e| Error::os(e, call));
        }
        // The last descriptor: the socket is shut down first, then the number is closed (now, or by
        // the last call in progress; `table::lookup` then retires the binding).
        let closed = sock.close();
        if !matches!(closed, Ok(false)) {
            table::retire(fd, &sock);
        }
        closed.map(|_| 0)
    }))
}

/// `new` now refers to whatever `old` refers to (the kernel just made it).
fn share(old: c_int, new: c_int) {
    table::forget(new);
    if let Some(binding) = table::lookup(old) {
        let sock = binding.socket_any().clone();
        // An inherited socket's descriptor list is the parent's (and its lock is never taken here).
        if !crate::table::is_inherited(&sock) {
            sock.attach(new);
        }
        table::insert(new, sock);
    }
}

/// Implements POSIX `dup`: a copy of a secure socket shares its TLS session.
#[no_mangle]
pub extern "C" fn dup(fd: c_int) -> c_int {
    // SAFETY: plain integer.
    let new = plain("dup", unsafe { real::dup(fd) });
    if new >= 0 {
        super::epoll::copied(fd, new);
    }
    if new >= 0 && (table::maybe_secure(fd) || table::maybe_secure(new)) {
        guard("dup", (), || {
            share(fd, new);
            Ok(())
        });
    }
    new
}

/// Implements POSIX `dup2`: the secure state of `new` ends (close_notify, shutdown), and `new` shares
/// `old`'s. Nothing changes when the call fails.
#[no_mangle]
pub extern "C" fn dup2(old: c_int, new: c_int) -> c_int {
    if old != new && crate::hidden::is_hidden(new) {
        return taken("dup2", new);
    }
    if old != new {
        super::events::before_close(new);
    }
    let rc = if old == new || !(table::maybe_secure(old) || table::maybe_secure(new)) {
        // SAFETY: plain integers.
        plain("dup2", unsafe { real::dup2(old, new) })
    } else {
        guard("dup2", -1, || {
            // SAFETY: plain integers.
            replace("dup2", old, new, || unsafe { real::dup2(old, new) })
        })
    };
    if rc >= 0 {
        super::epoll::copied(old, new);
    }
    rc
}

/// `dup2`/`dup3` onto one of sslsock's own descriptors (`crate::hidden`): EBUSY, the kernel's answer
/// when the number is being taken at the same moment (the program never had it).
fn taken(call: &'static str, new: c_int) -> c_int {
    crate::error::record(
        &Error::os(libc::EBUSY, call)
            .context(&format!("descriptor {new} is in use by sslsock itself")),
    );
    -1
}

/// Implements glibc `__dup2`, as `dup2`.
#[no_mangle]
pub extern "C" fn __dup2(old: c_int, new: c_int) -> c_int {
    dup2(old, new)
}

/// Implements Linux `dup3`, as `dup2` (flags: O_CLOEXEC only; `old == new` is EINVAL).
#[no_mangle]
pub extern "C" fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int {
    if old != new && crate::hidden::is_hidden(new) {
        return taken("dup3", new);
    }
    if old != new {
        super::events::before_close(new);
    }
    let rc = if old == new
        || flags & !libc::O_CLOEXEC != 0
        || !(table::maybe_secure(old) || table::maybe_secure(new))
    {
        // SAFETY: plain integers; libc reports EINVAL and nothing changes.
        plain("dup3", unsafe { real::dup3(old, new, flags) })
    } else {
        guard("dup3", -1, || {
            // SAFETY: plain integers.
            replace("dup3", old, new, || unsafe { real::dup3(old, new, flags) })
        })
    };
    if rc >= 0 {
        super::epoll::copied(old, new);
    }
    rc
}

/// `dup2`/`dup3` with a secure descriptor on either side. The arguments are checked first, as the
/// kernel checks them, so that a call that will fail changes nothing. `new` is marked as closing (a
/// placeholder binding if it had none) for the whole call: a concurrent call on it fails rather than
/// reach either connection through libc.
fn replace(
    call: &'static str,
    old: c_int,
    new: c_int,
    kernel: impl FnOnce() -> c_int,
) -> Result<c_int> {
    fd::identity(old).map_err(|e| Error::os(e, call))?;
    if new < 0 || new as u64 >= fd::open_files_limit() {
        return Err(Error::os(libc::EBADF, call));
    }
    let source = table::lookup(old).map(|b| b.socket_any().clone());
    let target = match table::lookup(new) {
        Some(b) if b.socket_any().is_stale(new) => {
            table::retire(new, b.socket_any());
            None
        }
        other => other,
    };
    // What stood at `new`, and whether its session ends here.
    let ending: Option<(Arc<Binding>, Arc<SecureSocket>, bool)> = match target {
        Some(b) => {
            if !b.begin_close() {
                return Err(table::closing().context(call));
            }
            let sock = b.socket_any().clone();
            let last = !(crate::table::is_inherited(&sock) || sock.detach(new));
            if last {
                sock.shut_for_replace();
            }
            Some((b, sock, last))
        }
        None => None,
    };
    let placeholder = match (&ending, &source) {
        (None, Some(src)) => Some(table::insert_closing(new, src.clone())),
        _ => None,
    };
    let rc = kernel();
    if rc < 0 {
        let error = Error::last_os(call);
        if let Some((b, sock, last)) = ending {
            if last {
                sock.replaced(false);
            } else {
                sock.attach(new);
            }
            b.reopen();
        }
        if let Some(p) = placeholder {
            table::retire(new, p.socket_any());
        }
        return Err(error);
    }
    match source {
        Some(src) => {
            // One step from "closing" to `old`'s session: no moment without a binding.
            if !crate::table::is_inherited(&src) {
                src.attach(new);
            }
            table::replace(new, src);
        }
        None => {
            if let Some((_, sock, _)) = &ending {
                table::retire(new, sock);
            }
        }
    }
    // Only now: `table::lookup` drops a closing binding whose descriptor is closed, and until the new
    // binding stood there that would have let a call reach `old`'s connection through libc.
    if let Some((_, sock, true)) = &ending {
        sock.replaced(true);
    }
    Ok(rc)
}

/// `fcntl` with `f` as libc's function (`fcntl`, `fcntl64`, or `__fcntl_time64` for a 32-bit
/// `_TIME_BITS=64` program): the call goes to libc, and an `F_DUPFD`/`F_DUPFD_CLOEXEC` copy of a secure
/// socket shares its session.
pub fn fcntl_common(
    call: &'static str,
    fd: c_int,
    cmd: c_int,
    arg: usize,
    f: unsafe fn(c_int, c_int, usize) -> c_int,
) -> c_int {
    // SAFETY: the caller's arguments, passed through to libc's fcntl.
    let rc = plain(call, unsafe { f(fd, cmd, arg) });
    if rc >= 0 && (cmd == libc::F_DUPFD || cmd == libc::F_DUPFD_CLOEXEC) {
        super::epoll::copied(fd, rc);
    }
    if rc >= 0
        && (cmd == libc::F_DUPFD || cmd == libc::F_DUPFD_CLOEXEC)
        && (table::maybe_secure(fd) || table::maybe_secure(rc))
    {
        guard(call, (), || {
            share(fd, rc);
            Ok(())
        });
    }
    rc
}

/// Implements POSIX `fcntl`; `F_DUPFD`/`F_DUPFD_CLOEXEC` of a secure socket share its session.
/// (Declared with its optional argument as a machine word, which is how the x86-64 and AArch64 Linux
/// calling conventions pass it.)
///
/// # Safety
/// As libc's `fcntl`.
#[no_mangle]
pub unsafe extern "C" fn fcntl(fd: c_int, cmd: c_int, arg: usize) -> c_int {
    fcntl_common("fcntl", fd, cmd, arg, real::fcntl)
}

/// Implements glibc `fcntl64`, as `fcntl`.
///
/// # Safety
/// As libc's `fcntl64`.
#[no_mangle]
pub unsafe extern "C" fn fcntl64(fd: c_int, cmd: c_int, arg: usize) -> c_int {
    fcntl_common("fcntl64", fd, cmd, arg, real::fcntl64)
}

/// Implements glibc `__fcntl`, as `fcntl`.
///
/// # Safety
/// As libc's `fcntl`.
#[no_mangle]
pub unsafe extern "C" fn __fcntl(fd: c_int, cmd: c_int, arg: usize) -> c_int {
    fcntl_common("fcntl", fd, cmd, arg, real::fcntl)
}

/// Close the secure descriptors from `first` to `last` as `close` does (close_range, closefrom).
fn close_secure_range(first: libc::c_uint, last: libc::c_uint, call: &'static str) {
    let lo = first.min(c_int::MAX as u32) as c_int;
    let hi = last.min(c_int::MAX as u32) as c_int;
    for fd in table::secure_in_range(lo, hi) {
        if let Some(binding) = table::lookup(fd) {
            close_secure(fd, &binding, call);
        }
    }
}

/// Implements Linux `close_range`: secure descriptors in the range are closed as by `close` first.
/// The arguments are checked as the kernel checks them (EINVAL for `first > last` or unknown flags).
#[no_mangle]
pub extern "C" fn close_range(first: libc::c_uint, last: libc::c_uint, flags: c_int) -> c_int {
    if flags & libc::CLOSE_RANGE_CLOEXEC as c_int == 0 && first <= last {
        super::events::before_close_range(first, last);
    }
    if !table::any_secure() && crate::hidden::in_range(first, last).is_empty() {
        // SAFETY: plain integers.
        return plain("close_range", unsafe {
            real::close_range(first, last, flags)
        });
    }
    guard("close_range", -1, || {
        let known = (libc::CLOSE_RANGE_CLOEXEC | libc::CLOSE_RANGE_UNSHARE) as c_int;
        if first > last || flags & !known != 0 {
            return Err(Error::os(libc::EINVAL, "close_range"));
        }
        if flags & libc::CLOSE_RANGE_CLOEXEC as c_int == 0 {
            close_secure_range(first, last, "close_range");
            // Before the kernel closes them: a set made at one of these numbers meanwhile is the
            // program's own race, never an inner set lost.
            super::epoll::forget_range(first, last);
        }
        kernel_close_range(first, last, flags)
    })
}

/// The kernel's `close_range` around sslsock's own descriptors (`crate::hidden`).
fn kernel_close_range(first: libc::c_uint, last: libc::c_uint, flags: c_int) -> Result<c_int> {
    for (a, b) in crate::hidden::pieces(first, last) {
        // SAFETY: plain integers.
        if unsafe { real::close_range(a, b, flags) } < 0 {
            return Err(Error::last_os("close_range"));
        }
    }
    Ok(0)
}

/// Implements glibc `closefrom`: secure descriptors from `lowfd` on are closed as by `close` first.
#[no_mangle]
pub extern "C" fn closefrom(lowfd: c_int) {
    super::events::before_close_range(lowfd.max(0) as libc::c_uint, libc::c_uint::MAX);
    if table::any_secure() {
        guard("closefrom", (), || {
            close_secure_range(lowfd.max(0) as libc::c_uint, libc::c_uint::MAX, "closefrom");
            Ok(())
        });
    }
    let first = lowfd.max(0) as libc::c_uint;
    if crate::fork::secure_sockets_made() {
        super::epoll::forget_range(first, libc::c_uint::MAX);
    }
    if crate::hidden::in_range(first, libc::c_uint::MAX).is_empty() {
        // SAFETY: a plain integer.
        unsafe { real::closefrom(lowfd) };
    } else {
        // Around sslsock's own descriptors; closefrom reports nothing.
        let _ = kernel_close_range(first, libc::c_uint::MAX, 0);
    }
}

/// A descriptor the kernel just made in a way that may copy another one sslsock did not see copied
/// (received over SCM_RIGHTS, `pidfd_getfd`): whatever binding its number had is stale, and if it
/// reaches a secure socket (the same kernel object), it shares that socket's session, as `dup` would —
/// so its `send`/`write` encrypt rather than go to libc.
pub fn adopt(new: c_int) {
    if !table::any_secure() {
        return;
    }
    table::forget(new);
    if let Some(sock) = fd::identity(new).ok().and_then(table::find_by_identity) {
        if !crate::table::is_inherited(&sock) {
            sock.attach(new);
        }
        table::insert(new, sock);
    }
}

/// Implements POSIX `socketpair`: two plain sockets; numbers that still had secure state start clean.
///
/// # Safety
/// As libc's `socketpair`: `sv` valid for two ints.
#[no_mangle]
pub unsafe extern "C" fn socketpair(
    domain: c_int,
    ty: c_int,
    protocol: c_int,
    sv: *mut c_int,
) -> c_int {
    // SAFETY: the caller's arguments, passed through.
    let rc = plain("socketpair", unsafe {
        real::socketpair(domain, ty, protocol, sv)
    });
    if rc == 0 && table::any_secure() {
        guard("socketpair", (), || {
            // SAFETY: on success libc wrote two descriptors to `sv`.
            let pair = unsafe { [*sv, *sv.add(1)] };
            for fd in pair {
                table::forget(fd);
            }
            Ok(())
        });
    }
    rc
}

/// Implements Linux `pidfd_getfd` (glibc 2.36): a copy of another process's descriptor, or of one of
/// this process's own; a copy of a secure socket shares its session (`adopt`).
#[no_mangle]
pub extern "C" fn pidfd_getfd(pidfd: c_int, target: c_int, flags: libc::c_uint) -> c_int {
    // SAFETY: the raw system call with plain integers (glibc's wrapper is the same call; using it
    // directly keeps sslsock working with a glibc that has no wrapper).
    let rc = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd, target, flags) } as c_int;
    let new = plain("pidfd_getfd", rc);
    if new >= 0 {
        guard("pidfd_getfd", (), || {
            adopt(new);
            Ok(())
        });
    }
    new
}

/// A descriptor the kernel just made by `accept`: whatever binding its number had is stale.
fn accepted(listener: c_int, new: c_int, call: &'static str) -> c_int {
    super::events::after_accept(listener, new);
    if new >= 0 && table::maybe_secure(new) {
        guard(call, (), || {
            table::forget(new);
            Ok(())
        });
    }
    new
}

/// Implements POSIX `accept`: a plain socket (sslsock is a client library); a reused number starts clean.
///
/// # Safety
/// As libc's `accept`.
#[no_mangle]
pub unsafe extern "C" fn accept(
    fd: c_int,
    addr: *mut libc::sockaddr,
    len: *mut libc::socklen_t,
) -> c_int {
    // SAFETY: the caller's arguments, passed through.
    accepted(
        fd,
        plain("accept", unsafe { real::accept(fd, addr, len) }),
        "accept",
    )
}

/// Implements Linux `accept4`, as `accept`.
///
/// # Safety
/// As libc's `accept4`.
#[no_mangle]
pub unsafe extern "C" fn accept4(
    fd: c_int,
    addr: *mut libc::sockaddr,
    len: *mut libc::socklen_t,
    flags: c_int,
) -> c_int {
    accepted(
        fd,
        // SAFETY: the caller's arguments, passed through.
        plain("accept4", unsafe { real::accept4(fd, addr, len, flags) }),
        "accept4",
    )
}
