//! Winsock-style `select` (`sslsock_select`, what `select` means under the Windows `fd_set` of
//! `winsock2.h`) and `__WSAFDIsSet`.
//!
//! Windows `fd_set`s are counted arrays of sockets, nfds is ignored, and the sets come back holding
//! only the ready sockets. A secure socket counts as readable when decrypted data (or the end of the
//! stream, or a failure to report) is waiting inside sslsock, even though the kernel has nothing; and
//! not when the kernel holds only part of a record, which would leave `recv` blocked.

use std::ffi::{c_int, c_uint};
use std::time::Instant;

use super::poll::{self, deadline_from, OnClosed};
use super::{guard, SOCKET_ERROR};
use crate::error::{Error, WsaCode};

/// The head of a Windows `fd_set`: `fd_count` then `fd_array[fd_count]` (FD_SETSIZE is the program's).
#[repr(C)]
pub struct WinFdSet {
    /// Number of sockets in the array.
    pub fd_count: c_uint,
    /// The sockets (declared with one; the program's array is FD_SETSIZE long).
    pub fd_array: [c_int; 1],
}

/// One set of the call, read once.
struct Set {
    ptr: *mut WinFdSet,
    sockets: Vec<c_int>,
    ready: Vec<c_int>,
}

/// # Safety
/// `ptr` NULL or a Windows fd_set whose array holds `fd_count` entries.
unsafe fn read_set(ptr: *mut WinFdSet) -> Set {
    let sockets = if ptr.is_null() {
        Vec::new()
    } else {
        // SAFETY: per the contract, fd_count entries follow the count.
        unsafe {
            let count = (*ptr).fd_count as usize;
            let array = std::ptr::addr_of!((*ptr).fd_array).cast::<c_int>();
            (0..count).map(|i| array.add(i).read()).collect()
        }
    };
    Set {
        ptr,
        sockets,
        ready: Vec::new(),
    }
}

impl Set {
    /// Rewrite the caller's set to hold only the ready sockets.
    ///
    /// # Safety
    /// As for `read_set`; only the first `ready.len() <= fd_count` entries are written.
    unsafe fn write_back(&self) {
        if self.ptr.is_null() {
            return;
        }
        // SAFETY: ready.len() <= the original fd_count, so every write is inside the caller's array.
        unsafe {
            let array = std::ptr::addr_of_mut!((*self.ptr).fd_array).cast::<c_int>();
            for (i, s) in self.ready.iter().enumerate() {
                array.add(i).write(*s);
            }
            (*self.ptr).fd_count = self.ready.len() as c_uint;
        }
    }
}

/// Implements Winsock `select` over Windows `fd_set`s (reached as `select` through `winsock2.h`).
/// `nfds` is ignored; a NULL `timeout` waits forever, `{0, 0}` polls; signals do not end the wait (it
/// goes on for the time left). Returns the number of ready entries (a socket in two sets counts
/// twice), 0 at the timeout with the last error untouched, or SOCKET_ERROR: WSAEINVAL when every set
/// is empty, WSAENOTSOCK for a bad descriptor.
///
/// # Safety
/// Each set NULL or a valid Windows fd_set; `timeout` NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn sslsock_select(
    _nfds: c_int,
    readfds: *mut WinFdSet,
    writefds: *mut WinFdSet,
    exceptfds: *mut WinFdSet,
    timeout: *const libc::timeval,
) -> c_int {
    guard("select", SOCKET_ERROR, || {
        // SAFETY: the caller's sets and timeout, per this function's contract.
        let (mut r, mut w, mut e) =
            unsafe { (read_set(readfds), read_set(writefds), read_set(exceptfds)) };
        if r.sockets.is_empty() && w.sockets.is_empty() && e.sockets.is_empty() {
            return Err(Error::new(
                WsaCode::EINVAL,
                "select: all three sets are empty",
            ));
        }
        // SAFETY: `timeout` is NULL or the caller's timeval.
        let deadline = unsafe { deadline_from(timeout) }?;
        let total = wait_ready(&mut r, &mut w, &mut e, deadline)?;
        // SAFETY: as above.
        unsafe {
            r.write_back();
            w.write_back();
            e.write_back();
        }
        Ok(total)
    })
}

fn wait_ready(
    r: &mut Set,
    w: &mut Set,
    e: &mut Set,
    deadline: Option<Instant>,
) -> crate::error::Result<c_int> {
    let mut fds: Vec<libc::pollfd> = Vec::new();
    for (set, events) in [
        (&*r, libc::POLLIN),
        (&*w, libc::POLLOUT),
        (&*e, libc::POLLPRI),
    ] {
        for &fd in &set.sockets {
            match fds.iter_mut().find(|p| p.fd == fd) {
                Some(p) => p.events |= events,
                None => fds.push(libc::pollfd {
                    fd,
                    events,
                    revents: 0,
                }),
            }
        }
    }
    // Winsock's select is not ended by signals: `wait` goes on after one, until the same deadline.
    poll::wait(&mut fds, deadline, OnClosed::Interrupt)?;
    if fds.iter().any(|p| p.revents & libc::POLLNVAL != 0) {
        return Err(Error::new(
            WsaCode::ENOTSOCK,
            "select: a set holds a descriptor that is not an open socket",
        ));
    }
    let revents = |s: c_int| fds.iter().find(|p| p.fd == s).map_or(0, |p| p.revents);
    r.ready = r
        .sockets
        .iter()
        .copied()
        .filter(|&s| revents(s) & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0)
        .collect();
    w.ready = w
        .sockets
        .iter()
        .copied()
        .filter(|&s| revents(s) & (libc::POLLOUT | libc::POLLERR | libc::POLLHUP) != 0)
        .collect();
    e.ready = e
        .sockets
        .iter()
        .copied()
        .filter(|&s| revents(s) & (libc::POLLPRI | libc::POLLERR) != 0)
        .collect();
    Ok((r.ready.len() + w.ready.len() + e.ready.len()) as c_int)
}

/// Implements Winsock `__WSAFDIsSet` (what the Windows `FD_ISSET` expands to): whether `fd` is in `set`.
///
/// # Safety
/// `set` NULL or a valid Windows fd_set.
#[no_mangle]
pub unsafe extern "C" fn __WSAFDIsSet(fd: c_int, set: *mut WinFdSet) -> c_int {
    // SAFETY: per this function's contract.
    let set = unsafe { read_set(set) };
    set.sockets.contains(&fd) as c_int
}
