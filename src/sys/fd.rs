//! Raw descriptor operations sslsock performs for itself, all through [`super::real`] (or libc calls
//! sslsock does not export). Failures come back as the errno value.

use std::ffi::{c_int, c_void};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::real;
use crate::error::errno;

/// An errno value.
pub type Errno = c_int;

/// A socket address copied out of the caller's memory.
pub struct SockAddr {
    storage: libc::sockaddr_storage,
    len: libc::socklen_t,
}

impl SockAddr {
    /// Copy `len` bytes of a C `sockaddr` (None if NULL or longer than any address).
    ///
    /// # Safety
    /// A non-NULL `addr` must be valid for reads of `len` bytes.
    pub unsafe fn copy_from(addr: *const libc::sockaddr, len: libc::socklen_t) -> Option<SockAddr> {
        if addr.is_null() || len as usize > std::mem::size_of::<libc::sockaddr_storage>() {
            return None;
        }
        // SAFETY: zeroed storage is a valid sockaddr_storage; `len` bytes are readable at `addr`
        // (caller) and fit in the storage (checked).
        unsafe {
            let mut storage: libc::sockaddr_storage = std::mem::zeroed();
            std::ptr::copy_nonoverlapping(
                addr.cast::<u8>(),
                (&mut storage as *mut libc::sockaddr_storage).cast::<u8>(),
                len as usize,
            );
            Some(SockAddr { storage, len })
        }
    }
}

/// `connect` through libc.
pub fn connect(fd: c_int, addr: &SockAddr) -> Result<(), Errno> {
    // SAFETY: the storage holds `len` bytes of the caller's address.
    let rc = unsafe {
        real::connect(
            fd,
            (&addr.storage as *const libc::sockaddr_storage).cast(),
            addr.len,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(errno())
    }
}

/// `recv(fd, buf, MSG_DONTWAIT)`: whatever is there, never blocking.
pub fn recv_now(fd: c_int, buf: &mut [u8]) -> Result<usize, Errno> {
    loop {
        // SAFETY: `buf` is valid for writes of its length.
        let n = unsafe { real::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
        if n >= 0 {
            return Ok(n as usize);
        }
        match errno() {
            libc::EINTR => continue,
            e => return Err(e),
        }
    }
}

/// `send(fd, buf, MSG_DONTWAIT | MSG_NOSIGNAL)`: what the kernel takes now; a closed peer is an error,
/// never SIGPIPE (Windows programs do not expect signals).
pub fn send_now(fd: c_int, buf: &[u8]) -> Result<usize, Errno> {
    loop {
        // SAFETY: `buf` is valid for reads of its length.
        let n = unsafe {
            real::send(
                fd,
                buf.as_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            )
        };
        if n >= 0 {
            return Ok(n as usize);
        }
        match errno() {
            libc::EINTR => continue,
            e => return Err(e),
        }
    }
}

/// Wait until `fd` has one of `events` (POLLIN / POLLOUT) or `deadline` passes. Returns the revents,
/// or 0 at the deadline. EINTR restarts the wait with the time left.
pub fn wait(fd: c_int, events: i16, deadline: Option<Instant>) -> Result<i16, Errno> {
    loop {
        let timeout_ms = match deadline {
            None => -1,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                // Round up so that a wait never ends a little before its deadline.
                left.as_micros().div_ceil(1000).min(c_int::MAX as u128) as c_int
            }
        };
        let mut pfd = libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let n = unsafe { real::poll(&mut pfd, 1, timeout_ms) };
        if n > 0 {
            return Ok(pfd.revents);
        }
        if n == 0 {
            return Ok(0);
        }
        match errno() {
            libc::EINTR => continue,
            e => return Err(e),
        }
    }
}

/// The socket's SO_RCVTIMEO or SO_SNDTIMEO as a deadline from now (None: wait forever).
pub fn deadline(fd: c_int, option: c_int) -> Option<Instant> {
    let mut tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 0,
    };
    let mut len = std::mem::size_of::<libc::timeval>() as libc::socklen_t;
    // SAFETY: `tv` and `len` are valid for writes and `len` gives tv's size.
    let rc = unsafe {
        real::getsockopt(
            fd,
            libc::SOL_SOCKET,
            option,
            (&mut tv as *mut libc::timeval).cast(),
            &mut len,
        )
    };
    if rc != 0 || (tv.tv_sec == 0 && tv.tv_usec == 0) {
        return None;
    }
    let span = Duration::from_secs(tv.tv_sec as u64) + Duration::from_micros(tv.tv_usec as u64);
    Some(Instant::now() + span)
}

/// Whether O_NONBLOCK is set on the descriptor.
pub fn is_nonblocking(fd: c_int) -> bool {
    // SAFETY: F_GETFL takes no argument.
    let flags = unsafe { real::fcntl(fd, libc::F_GETFL, 0) };
    flags >= 0 && flags & libc::O_NONBLOCK != 0
}

/// Set or clear O_NONBLOCK.
pub fn set_nonblocking(fd: c_int, on: bool) -> Result<(), Errno> {
    // SAFETY: F_GETFL/F_SETFL with an int flag word; sslsock does not export fcntl.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 {
            return Err(errno());
        }
        let new = if on {
            flags | libc::O_NONBLOCK
        } else {
            flags & !libc::O_NONBLOCK
        };
        if new != flags && libc::fcntl(fd, libc::F_SETFL, new) < 0 {
            return Err(errno());
        }
    }
    Ok(())
}

/// What kind of object the descriptor is: Ok(true) for a socket, Ok(false) for something else,
/// Err(EBADF) for no open descriptor.
pub fn is_socket(fd: c_int) -> Result<bool, Errno> {
    // SAFETY: fstat fills the stat buffer we own.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(fd, &mut st) != 0 {
            return Err(errno());
        }
        Ok(st.st_mode & libc::S_IFMT == libc::S_IFSOCK)
    }
}

/// An integer socket option through libc.
pub fn get_int_option(fd: c_int, level: c_int, name: c_int) -> Result<c_int, Errno> {
    let mut value: c_int = 0;
    let mut len = std::mem::size_of::<c_int>() as libc::socklen_t;
    // SAFETY: `value`/`len` valid for writes and sized.
    let rc =
        unsafe { real::getsockopt(fd, level, name, (&mut value as *mut c_int).cast(), &mut len) };
    if rc == 0 {
        Ok(value)
    } else {
        Err(errno())
    }
}

/// The peer's raw address (None when the socket is not connected).
fn peer_storage(fd: c_int) -> Option<libc::sockaddr_storage> {
    // SAFETY: getpeername fills the storage we own up to `len`; sslsock does not export getpeername.
    unsafe {
        let mut storage: libc::sockaddr_storage = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        let rc = libc::getpeername(
            fd,
            (&mut storage as *mut libc::sockaddr_storage).cast(),
            &mut len,
        );
        (rc == 0).then_some(storage)
    }
}

/// The connected peer's IP address (None for a socket that is not connected or not IP).
pub fn peer_ip(fd: c_int) -> Option<IpAddr> {
    peer_storage(fd).and_then(|storage| sockaddr_ip(&storage))
}

/// The connected peer's address and port.
pub fn peer_addr(fd: c_int) -> Option<std::net::SocketAddr> {
    let storage = peer_storage(fd)?;
    let ip = sockaddr_ip(&storage)?;
    // SAFETY: sin_port and sin6_port sit at the same offset, in network order, and the family is IP.
    let port = u16::from_be(unsafe {
        (*(&storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>()).sin_port
    });
    Some(std::net::SocketAddr::new(ip, port))
}

/// Whether the socket is connected to a peer.
pub fn is_connected(fd: c_int) -> bool {
    peer_storage(fd).is_some()
}

fn sockaddr_ip(storage: &libc::sockaddr_storage) -> Option<IpAddr> {
    match storage.ss_family as c_int {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let sin =
                unsafe { &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Some(IpAddr::from(
                u32::from_be(sin.sin_addr.s_addr).to_be_bytes(),
            ))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let sin6 = unsafe {
                &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            Some(IpAddr::from(sin6.sin6_addr.s6_addr))
        }
        _ => None,
    }
}

/// `shutdown` through libc.
pub fn shutdown(fd: c_int, how: c_int) -> Result<(), Errno> {
    // SAFETY: shutdown takes plain integers.
    if unsafe { real::shutdown(fd, how) } == 0 {
        Ok(())
    } else {
        Err(errno())
    }
}

/// `close` through libc.
pub fn close(fd: c_int) -> Result<(), Errno> {
    // SAFETY: closes a descriptor sslsock owns at this point (its secure state is gone).
    if unsafe { real::close(fd) } == 0 {
        Ok(())
    } else {
        Err(errno())
    }
}

/// Write a whole buffer to stderr (logging), ignoring failures.
pub fn write_stderr(fd: c_int, mut buf: &[u8]) {
    while !buf.is_empty() {
        // SAFETY: `buf` is valid for reads of its length.
        let n = unsafe { real::write(fd, buf.as_ptr() as *const c_void, buf.len()) };
        if n <= 0 {
            if n < 0 && errno() == libc::EINTR {
                continue;
            }
            return;
        }
        buf = &buf[n as usize..];
    }
}
