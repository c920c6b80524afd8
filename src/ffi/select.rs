//! Winsock-style `select` (`sslsock_select_sized`, what `select` means under the Windows `fd_set` of
//! `winsock2.h`) and `FD_ISSET` (`sslsock_fd_isset_sized`), and the exports of earlier headers that
//! take no capacity (`sslsock_select`, `__WSAFDIsSet`).
//!
//! Windows `fd_set`s are counted arrays of sockets, nfds is ignored, and the sets come back holding
//! only the ready sockets. A secure socket counts as readable when decrypted data (or the end of the
//! stream, or a failure to report) is waiting inside sslsock, even though the kernel has nothing; and
//! not when the kernel holds only part of a record, which would leave `recv` blocked.
//!
//! A set is read only as far as its array goes: `winsock2.h` passes the array's length
//! (`SSLSOCK_FD_ARRAY_LEN`), the older exports assume 64, and a larger `fd_count` is refused before
//! any entry is read (never an allocation in proportion to it).

use std::collections::HashMap;
use std::ffi::{c_int, c_uint};
use std::time::Instant;

use super::poll::{self, OnClosed};
use super::sets::deadline_from;
use super::{guard, SOCKET_ERROR};
use crate::error::{Error, Result, WsaCode};
use crate::log::log;
use crate::settings::Level;

/// The capacity the exports without one (`sslsock_select`, `__WSAFDIsSet`, what `winsock2.h` called
/// before `sslsock_select_sized` existed) assume: 64, the FD_SETSIZE of Windows and of `winsock2.h`
/// when the program does not choose one. A binary built with a larger `SSLSOCK_FD_SETSIZE` against
/// that header must be rebuilt to use more than 64 entries.
const DEFAULT_CAPACITY: c_uint = 64;

/// The largest capacity taken from a caller (a larger one counts as this): 2^20, the number of
/// descriptors Linux allows a process by default (`fs.nr_open`).
const MAX_CAPACITY: c_uint = 1 << 20;

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

/// `set`'s `fd_count`, checked against the `capacity` of its array: WSAEINVAL when it is larger
/// (a corrupt or foreign set), before any entry is read.
///
/// # Safety
/// `set` non-NULL and valid for reading its `fd_count`.
unsafe fn checked_count(set: *const WinFdSet, capacity: c_uint) -> Result<usize> {
    // SAFETY: the caller vouches for the head of the set.
    let count = unsafe { (*set).fd_count };
    let capacity = capacity.min(MAX_CAPACITY);
    if count > capacity {
        return Err(Error::new(
            WsaCode::EINVAL,
            format!("select: a set's fd_count is {count}, more than its {capacity} entries"),
        ));
    }
    Ok(count as usize)
}

/// # Safety
/// `ptr` NULL or a Windows fd_set whose array holds `capacity` entries.
unsafe fn read_set(ptr: *mut WinFdSet, capacity: c_uint) -> Result<Set> {
    let sockets = if ptr.is_null() {
        Vec::new()
    } else {
        // SAFETY: per the contract.
        let count = unsafe { checked_count(ptr, capacity) }?;
        // SAFETY: count <= capacity, so every entry read is inside the caller's array.
        unsafe {
            let array = std::ptr::addr_of!((*ptr).fd_array).cast::<c_int>();
            (0..count).map(|i| array.add(i).read()).collect()
        }
    };
    Ok(Set {
        ptr,
        sockets,
        ready: Vec::new(),
    })
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
        // SAFETY: ready.len() <= the original fd_count <= capacity, so every write is inside the
        // caller's array.
        unsafe {
            let array = std::ptr::addr_of_mut!((*self.ptr).fd_array).cast::<c_int>();
            for (i, s) in self.ready.iter().enumerate() {
                array.add(i).write(*s);
            }
            (*self.ptr).fd_count = self.ready.len() as c_uint;
        }
    }
}

/// Implements Winsock `select` over Windows `fd_set`s for programs built before
/// `sslsock_select_sized`: as that function with a capacity of 64 entries per set (Windows' default
/// FD_SETSIZE), so that a set whose `fd_count` is larger fails with WSAEINVAL instead of being read
/// past its end.
///
/// # Safety
/// Each set NULL or a valid Windows fd_set of at least 64 entries (or holding `fd_count` entries);
/// `timeout` NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn sslsock_select(
    nfds: c_int,
    readfds: *mut WinFdSet,
    writefds: *mut WinFdSet,
    exceptfds: *mut WinFdSet,
    timeout: *const libc::timeval,
) -> c_int {
    // SAFETY: the caller's arguments, per this function's contract.
    unsafe {
        sslsock_select_sized(
            nfds,
            readfds,
            writefds,
            exceptfds,
            timeout,
            DEFAULT_CAPACITY,
        )
    }
}

/// Implements Winsock `select` over Windows `fd_set`s whose arrays hold `capacity` entries (what
/// `select` means through `winsock2.h`, which passes `SSLSOCK_FD_ARRAY_LEN`). `nfds` is ignored; a
/// NULL `timeout` waits forever, `{0, 0}` polls; signals do not end the wait (it goes on for the time
/// left). Returns the number of ready entries (a socket in two sets counts twice), 0 at the timeout
/// with the last error untouched, or SOCKET_ERROR: WSAEINVAL when every set is empty or a set's
/// `fd_count` is larger than `capacity` (capacities above 2^20 count as 2^20) — then no set is
/// changed —, WSAENOTSOCK for a bad descriptor, WSAEINTR when another thread closes a socket of the
/// sets.
///
/// # Safety
/// Each set NULL or a valid Windows fd_set whose array holds `capacity` entries; `timeout` NULL or
/// valid.
#[no_mangle]
pub unsafe extern "C" fn sslsock_select_sized(
    _nfds: c_int,
    readfds: *mut WinFdSet,
    writefds: *mut WinFdSet,
    exceptfds: *mut WinFdSet,
    timeout: *const libc::timeval,
    capacity: c_uint,
) -> c_int {
    guard("select", SOCKET_ERROR, || {
        // SAFETY: the caller's sets and their capacity, per this function's contract.
        let (mut r, mut w, mut e) = unsafe {
            (
                read_set(readfds, capacity)?,
                read_set(writefds, capacity)?,
                read_set(exceptfds, capacity)?,
            )
        };
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

fn wait_ready(r: &mut Set, w: &mut Set, e: &mut Set, deadline: Option<Instant>) -> Result<c_int> {
    // One entry per descriptor, whatever the number of sets (and of times in a set) it is in.
    let mut fds: Vec<libc::pollfd> = Vec::new();
    let mut index: HashMap<c_int, usize> = HashMap::new();
    for (set, events) in [
        (&*r, libc::POLLIN),
        (&*w, libc::POLLOUT),
        (&*e, libc::POLLPRI),
    ] {
        for &fd in &set.sockets {
            let i = *index.entry(fd).or_insert_with(|| {
                fds.push(libc::pollfd {
                    fd,
                    events: 0,
                    revents: 0,
                });
                fds.len() - 1
            });
            fds[i].events |= events;
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
    let revents = |s: c_int| index.get(&s).map_or(0, |&i| fds[i].revents);
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

/// Implements Winsock `__WSAFDIsSet` (what `FD_ISSET` expanded to through `winsock2.h` before
/// `sslsock_fd_isset_sized` existed): as that function with a capacity of 64 entries.
///
/// # Safety
/// `set` NULL or a valid Windows fd_set of at least 64 entries (or holding `fd_count` entries).
#[no_mangle]
pub unsafe extern "C" fn __WSAFDIsSet(fd: c_int, set: *mut WinFdSet) -> c_int {
    // SAFETY: per this function's contract.
    unsafe { sslsock_fd_isset_sized(fd, set, DEFAULT_CAPACITY) }
}

/// Implements Winsock `FD_ISSET` (what it expands to through `winsock2.h`, with
/// `SSLSOCK_FD_ARRAY_LEN`): whether `fd` is among the `fd_count` entries of `set`, whose array holds
/// `capacity` entries. FALSE for a NULL set, and for a set whose `fd_count` is larger than
/// `capacity` (none of its entries is read then); the last error is left alone either way.
///
/// # Safety
/// `set` NULL or a valid Windows fd_set whose array holds `capacity` entries.
#[no_mangle]
pub unsafe extern "C" fn sslsock_fd_isset_sized(
    fd: c_int,
    set: *mut WinFdSet,
    capacity: c_uint,
) -> c_int {
    guard("FD_ISSET", 0, || {
        if set.is_null() {
            return Ok(0);
        }
        // SAFETY: a non-NULL set of the caller's.
        let count = match unsafe { checked_count(set, capacity) } {
            Ok(count) => count,
            Err(e) => {
                // FALSE, as for a socket not in the set; the program's last error stays its own.
                log!(Level::Debug, "FD_ISSET: {}", e.reason());
                return Ok(0);
            }
        };
        // SAFETY: count <= capacity: every entry read is inside the caller's array.
        let found = unsafe {
            let array = std::ptr::addr_of!((*set).fd_array).cast::<c_int>();
            (0..count).any(|i| array.add(i).read() == fd)
        };
        Ok(c_int::from(found))
    })
}
