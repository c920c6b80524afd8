//! Raw descriptor operations sslsock performs for itself, all through [`super::real`] (or libc calls
//! sslsock does not export). Failures come back as the errno value.

use std::ffi::{c_int, c_void};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::real;
use crate::error::errno;

/// An errno value.
pub type Errno = c_int;

/// A system call's return value that says "failed, see errno" by being negative.
trait Negative: Copy {
    fn negative(self) -> bool;
}

impl Negative for c_int {
    fn negative(self) -> bool {
        self < 0
    }
}

impl Negative for isize {
    fn negative(self) -> bool {
        self < 0
    }
}

/// A system call's result as a `Result`: -1 becomes the errno, here and nowhere else (socket2's
/// `syscall!`).
fn check<T: Negative>(result: T) -> Result<T, Errno> {
    if result.negative() {
        Err(errno())
    } else {
        Ok(result)
    }
}

/// `call` again while it fails with EINTR: the one retry loop (waits recompute their timeout inside
/// `call`).
fn retry<T>(mut call: impl FnMut() -> Result<T, Errno>) -> Result<T, Errno> {
    loop {
        match call() {
            Err(libc::EINTR) => continue,
            other => return other,
        }
    }
}

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
    check(unsafe {
        real::connect(
            fd,
            (&addr.storage as *const libc::sockaddr_storage).cast(),
            addr.len,
        )
    })
    .map(drop)
}

/// `recv(fd, buf, MSG_DONTWAIT)`: whatever is there, never blocking.
pub fn recv_now(fd: c_int, buf: &mut [u8]) -> Result<usize, Errno> {
    retry(|| recv_flags(fd, buf, libc::MSG_DONTWAIT))
}

/// `send(fd, buf, MSG_DONTWAIT | MSG_NOSIGNAL)`: what the kernel takes now; a closed peer is an error,
/// never SIGPIPE (Windows programs do not expect signals).
pub fn send_now(fd: c_int, buf: &[u8]) -> Result<usize, Errno> {
    send_flags(fd, buf, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL)
}

/// `send(fd, buf, flags)`, EINTR retried: what the kernel takes (non-blocking when `flags` say so).
pub fn send_flags(fd: c_int, buf: &[u8], flags: c_int) -> Result<usize, Errno> {
    // SAFETY: `buf` is valid for reads of its length.
    retry(|| check(unsafe { real::send(fd, buf.as_ptr().cast(), buf.len(), flags) }))
        .map(|n| n as usize)
}

/// `recv(fd, buf, flags)` once (EINTR is the caller's to judge).
pub fn recv_flags(fd: c_int, buf: &mut [u8], flags: c_int) -> Result<usize, Errno> {
    // SAFETY: `buf` is valid for writes of its length.
    check(unsafe { real::recv(fd, buf.as_mut_ptr().cast(), buf.len(), flags) }).map(|n| n as usize)
}

/// Read and drop what the kernel holds for reading now (at most 1 MiB), never waiting: a close with
/// unread bytes makes TCP reset the connection instead of finishing it.
pub fn discard_pending(fd: c_int) -> Result<usize, Errno> {
    let mut scratch = [0u8; 16 * 1024];
    let mut total = 0;
    while total < 1 << 20 {
        match recv_now(fd, &mut scratch) {
            Ok(0) => break,
            Ok(n) => total += n,
            Err(libc::EAGAIN) if total > 0 => break,
            Err(e) => return if total > 0 { Ok(total) } else { Err(e) },
        }
    }
    Ok(total)
}

/// `ioctl(FIONREAD)`: the bytes the kernel holds for reading.
pub fn bytes_to_read(fd: c_int) -> Result<usize, Errno> {
    let mut n: c_int = 0;
    // SAFETY: FIONREAD writes one int at the pointer given; sslsock does not export ioctl.
    check(unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n) })?;
    Ok(n.max(0) as usize)
}

/// Wait until `fd` has one of `events` (POLLIN / POLLOUT) or `deadline` passes. Returns the revents,
/// or 0 at the deadline. EINTR restarts the wait with the time left.
pub fn wait(fd: c_int, events: i16, deadline: Option<Instant>) -> Result<i16, Errno> {
    retry(|| {
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
        let n = check(unsafe { real::poll(&mut pfd, 1, timeout_ms) })?;
        Ok(if n > 0 { pfd.revents } else { 0 })
    })
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
    // SAFETY: F_GETFL takes no argument; the real fcntl, not sslsock's exported one (the name
    // `fcntl` inside this library would bind to that export).
    let flags = check(unsafe { real::fcntl(fd, libc::F_GETFL, 0) })?;
    let new = if on {
        flags | libc::O_NONBLOCK
    } else {
        flags & !libc::O_NONBLOCK
    };
    if new != flags {
        // SAFETY: F_SETFL with an int flag word, as above.
        check(unsafe { real::fcntl(fd, libc::F_SETFL, new as usize) })?;
    }
    Ok(())
}

/// What kind of object the descriptor is: Ok(true) for a socket, Ok(false) for something else,
/// Err(EBADF) for no open descriptor.
pub fn is_socket(fd: c_int) -> Result<bool, Errno> {
    socket_identity(fd).map(|identity| identity.is_some())
}

/// What `fstat` says of a descriptor, in one system call: Ok(Some(identity)) for a socket, Ok(None)
/// for something else, Err(EBADF) for no open descriptor.
pub fn socket_identity(fd: c_int) -> Result<Option<Identity>, Errno> {
    let st = fstat(fd)?;
    Ok((st.st_mode & libc::S_IFMT == libc::S_IFSOCK).then(|| identity_of(&st)))
}

#[allow(clippy::unnecessary_cast)] // dev_t and ino_t are 32 bits on some targets
fn identity_of(st: &libc::stat) -> Identity {
    (st.st_dev as u64, st.st_ino as u64)
}

fn fstat(fd: c_int) -> Result<libc::stat, Errno> {
    // SAFETY: fstat fills the stat buffer we own (all zeroes is a valid `stat`).
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        check(libc::fstat(fd, &mut st))?;
        Ok(st)
    }
}

/// The kernel object behind a descriptor: its device and inode numbers. Two descriptors with the same
/// identity reach the same open socket; a socket's inode number is not reused while it is open.
pub type Identity = (u64, u64);

/// The identity of the object `fd` refers to (Err(EBADF) when the number is not open).
pub fn identity(fd: c_int) -> Result<Identity, Errno> {
    fstat(fd).map(|st| identity_of(&st))
}

/// The process's limit on open descriptors (RLIMIT_NOFILE, soft): a descriptor number must be below it.
#[allow(clippy::unnecessary_cast)] // rlim_t is 32 bits on some targets
pub fn open_files_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills the rlimit we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return u64::MAX;
    }
    limit.rlim_cur as u64
}

/// An integer socket option through libc.
pub fn get_int_option(fd: c_int, level: c_int, name: c_int) -> Result<c_int, Errno> {
    let mut value: c_int = 0;
    let mut len = std::mem::size_of::<c_int>() as libc::socklen_t;
    // SAFETY: `value`/`len` valid for writes and sized.
    check(unsafe {
        real::getsockopt(fd, level, name, (&mut value as *mut c_int).cast(), &mut len)
    })?;
    Ok(value)
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
    check(unsafe { real::shutdown(fd, how) }).map(drop)
}

/// `close` through libc.
pub fn close(fd: c_int) -> Result<(), Errno> {
    // SAFETY: closes a descriptor sslsock owns at this point (its secure state is gone).
    check(unsafe { real::close(fd) }).map(drop)
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

/// `setsockopt` with a value of any layout, as bytes.
pub fn set_option(fd: c_int, level: c_int, name: c_int, value: &[u8]) -> Result<(), Errno> {
    // SAFETY: `value` is valid for reads of its length.
    check(unsafe {
        real::setsockopt(
            fd,
            level,
            name,
            value.as_ptr().cast::<c_void>(),
            value.len() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// Control-message room for one `cmsghdr` with a few bytes of data, aligned as `cmsghdr` wants.
type Control = [u64; 8];

/// `recvmsg(fd, buf, flags | MSG_DONTWAIT)` that also returns the one-byte control message
/// `level`/`kind` when the kernel gave one (kernel TLS: the record type).
pub fn recv_with_control(
    fd: c_int,
    buf: &mut [u8],
    flags: c_int,
    level: c_int,
    kind: c_int,
) -> Result<(usize, Option<u8>), Errno> {
    let mut control: Control = [0; 8];
    loop {
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // SAFETY: an all-zero msghdr is valid (no name, no buffers).
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of::<Control>() as _;
        // SAFETY: `msg` points at `buf` (writable for its length) and at `control` (writable for
        // msg_controllen bytes).
        let n = match check(unsafe { real::recvmsg(fd, &mut msg, flags | libc::MSG_DONTWAIT) }) {
            Err(libc::EINTR) => continue,
            other => other?,
        };
        let mut value = None;
        // SAFETY: the kernel filled msg_control up to msg_controllen; CMSG_FIRSTHDR/NXTHDR stay inside
        // it; a message of this level and kind carries at least one byte (checked by its length).
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
            while !cmsg.is_null() {
                if (*cmsg).cmsg_level == level
                    && (*cmsg).cmsg_type == kind
                    && (*cmsg).cmsg_len as usize >= libc::CMSG_LEN(1) as usize
                {
                    value = Some(*libc::CMSG_DATA(cmsg));
                }
                cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
            }
        }
        return Ok((n as usize, value));
    }
}

/// `sendmsg(fd, data, MSG_DONTWAIT | MSG_NOSIGNAL)` with the one-byte control message
/// `level`/`kind` = `value` (kernel TLS: the type of the record to make).
pub fn send_with_control(
    fd: c_int,
    data: &[u8],
    level: c_int,
    kind: c_int,
    value: u8,
) -> Result<usize, Errno> {
    let mut control: Control = [0; 8];
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut c_void,
        iov_len: data.len(),
    };
    // SAFETY: an all-zero msghdr is valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE only computes a size (24 on 64-bit Linux, within `Control`).
    msg.msg_controllen = unsafe { libc::CMSG_SPACE(1) } as _;
    // SAFETY: msg_control points at `control`, aligned and large enough for one cmsghdr with one byte;
    // the header and its byte are written inside it.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        if cmsg.is_null() {
            return Err(libc::EINVAL);
        }
        (*cmsg).cmsg_level = level;
        (*cmsg).cmsg_type = kind;
        (*cmsg).cmsg_len = libc::CMSG_LEN(1) as _;
        *libc::CMSG_DATA(cmsg) = value;
    }
    // SAFETY: `msg` points at `data` (only read: sendmsg does not write through iov_base) and at
    // `control`.
    retry(|| check(unsafe { real::sendmsg(fd, &msg, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) }))
        .map(|n| n as usize)
}

/// A descriptor sslsock opened for itself, closed when dropped.
pub struct OwnedFd(c_int);

impl OwnedFd {
    /// The descriptor number.
    pub fn raw(&self) -> c_int {
        self.0
    }
}

impl Drop for OwnedFd {
    fn drop(&mut self) {
        let _ = close(self.0);
    }
}

/// A TCP connection to ourselves on 127.0.0.1 (for probing what the kernel offers): the connected
/// client end, and the listener holding the (never accepted) server end. Err names the failed step.
pub fn loopback_connection() -> Result<(OwnedFd, OwnedFd), (&'static str, Errno)> {
    let stream = libc::SOCK_STREAM | libc::SOCK_CLOEXEC;
    // SAFETY: plain integer arguments.
    let listener = OwnedFd(unsafe { real::socket(libc::AF_INET, stream, 0) });
    if listener.0 < 0 {
        return Err(("socket", errno()));
    }
    let mut addr = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(std::net::Ipv4Addr::LOCALHOST).to_be(),
        },
        sin_zero: [0; 8],
    };
    let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    let addr_ptr = (&mut addr as *mut libc::sockaddr_in).cast::<libc::sockaddr>();
    // SAFETY: `addr` is a sockaddr_in of `len` bytes that we own; sslsock exports none of bind,
    // listen, getsockname.
    unsafe {
        if libc::bind(listener.0, addr_ptr, len) != 0 {
            return Err(("bind 127.0.0.1", errno()));
        }
        if libc::listen(listener.0, 1) != 0 {
            return Err(("listen", errno()));
        }
        if libc::getsockname(listener.0, addr_ptr, &mut len) != 0 {
            return Err(("getsockname", errno()));
        }
    }
    // SAFETY: plain integer arguments.
    let client = OwnedFd(unsafe { real::socket(libc::AF_INET, stream, 0) });
    if client.0 < 0 {
        return Err(("socket", errno()));
    }
    // SAFETY: `addr` holds the listener's address, `len` bytes.
    if unsafe { real::connect(client.0, addr_ptr, len) } != 0 {
        return Err(("connect to 127.0.0.1", errno()));
    }
    Ok((client, listener))
}
