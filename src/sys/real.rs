//! libc's own socket functions, bound once with `dlsym(RTLD_NEXT, name)`.
//!
//! Each wrapper is named and typed as the C function it calls. The first call resolves the symbol;
//! concurrent first calls may both resolve it, which is harmless (same answer). Resolution never takes
//! a lock of ours and never allocates in Rust, so it is safe during early process start.

use std::ffi::{c_int, c_void, CStr};
use std::sync::atomic::{AtomicPtr, Ordering};

use libc::{size_t, sockaddr, socklen_t, ssize_t};

/// Write a message straight to stderr with the raw system call and abort: used when libc cannot be
/// bound, where calling any of our exported names could recurse.
fn die(name: &CStr, why: &str) -> ! {
    let mut msg = [0u8; 256];
    let parts: [&[u8]; 4] = [
        b"sslsock: cannot bind libc's ",
        name.to_bytes(),
        why.as_bytes(),
        b"\n",
    ];
    let mut len = 0;
    for part in parts {
        let take = part.len().min(msg.len() - len);
        msg[len..len + take].copy_from_slice(&part[..take]);
        len += take;
    }
    // SAFETY: writes `len` initialised bytes of `msg` to fd 2 with the raw system call; abort never returns.
    unsafe {
        libc::syscall(libc::SYS_write, 2, msg.as_ptr(), len);
        libc::abort()
    }
}

/// Resolve `name` in the objects loaded after ours (libc), refusing to return a symbol of our own.
fn resolve(name: &CStr) -> *mut c_void {
    // SAFETY: dlsym with RTLD_NEXT and a NUL-terminated name is always sound to call.
    let found = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr()) };
    if found.is_null() {
        die(
            name,
            ": not found after libsslsock (is the program static?)",
        );
    }
    let mut theirs: libc::Dl_info = unsafe_zeroed_dl_info();
    let mut ours: libc::Dl_info = unsafe_zeroed_dl_info();
    // SAFETY: dladdr only reads the address and fills the Dl_info we own.
    let known = unsafe {
        libc::dladdr(found, &mut theirs) != 0
            && libc::dladdr(resolve as *const c_void, &mut ours) != 0
    };
    if known && theirs.dli_fbase == ours.dli_fbase {
        die(
            name,
            ": dlsym returned sslsock's own symbol (recursion refused)",
        );
    }
    found
}

fn unsafe_zeroed_dl_info() -> libc::Dl_info {
    libc::Dl_info {
        dli_fname: std::ptr::null(),
        dli_fbase: std::ptr::null_mut(),
        dli_sname: std::ptr::null(),
        dli_saddr: std::ptr::null_mut(),
    }
}

macro_rules! real_functions {
    ($( $(#[$doc:meta])* fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty; )*) => {$(
        $(#[$doc])*
        ///
        /// # Safety
        /// The same contract as the C function of that name.
        pub unsafe fn $name($($arg: $ty),*) -> $ret {
            static SLOT: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());
            let mut ptr = SLOT.load(Ordering::Relaxed);
            if ptr.is_null() {
                ptr = resolve(const { match CStr::from_bytes_with_nul(concat!(stringify!($name), "\0").as_bytes()) {
                    Ok(name) => name,
                    Err(_) => panic!("symbol name"),
                } });
                SLOT.store(ptr, Ordering::Relaxed);
            }
            // SAFETY: `ptr` is libc's function of this name (checked non-null and not ours), whose C
            // prototype is exactly this signature.
            let f: unsafe extern "C" fn($($ty),*) -> $ret = unsafe { std::mem::transmute(ptr) };
            // SAFETY: the caller upholds the C function's contract.
            unsafe { f($($arg),*) }
        }
    )*};
}

real_functions! {
    /// libc `socket`.
    fn socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int;
    /// libc `connect`.
    fn connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int;
    /// libc `send`.
    fn send(fd: c_int, buf: *const c_void, len: size_t, flags: c_int) -> ssize_t;
    /// libc `recv`.
    fn recv(fd: c_int, buf: *mut c_void, len: size_t, flags: c_int) -> ssize_t;
    /// libc `read`.
    fn read(fd: c_int, buf: *mut c_void, len: size_t) -> ssize_t;
    /// libc `write`.
    fn write(fd: c_int, buf: *const c_void, len: size_t) -> ssize_t;
    /// libc `setsockopt`.
    fn setsockopt(fd: c_int, level: c_int, name: c_int, val: *const c_void, len: socklen_t) -> c_int;
    /// libc `getsockopt`.
    fn getsockopt(fd: c_int, level: c_int, name: c_int, val: *mut c_void, len: *mut socklen_t) -> c_int;
    /// libc `shutdown`.
    fn shutdown(fd: c_int, how: c_int) -> c_int;
    /// libc `close`.
    fn close(fd: c_int) -> c_int;
    /// libc `poll`.
    fn poll(fds: *mut libc::pollfd, nfds: libc::nfds_t, timeout: c_int) -> c_int;
    /// libc `ppoll`.
    fn ppoll(fds: *mut libc::pollfd, nfds: libc::nfds_t, timeout: *const libc::timespec, sigmask: *const libc::sigset_t) -> c_int;
    /// libc `pselect`.
    fn pselect(
        nfds: c_int,
        readfds: *mut libc::fd_set,
        writefds: *mut libc::fd_set,
        exceptfds: *mut libc::fd_set,
        timeout: *const libc::timespec,
        sigmask: *const libc::sigset_t
    ) -> c_int;
    /// libc `__ppoll_chk`.
    fn __ppoll_chk(fds: *mut libc::pollfd, nfds: libc::nfds_t, timeout: *const libc::timespec, sigmask: *const libc::sigset_t, fdslen: size_t) -> c_int;
    /// libc `epoll_create`.
    fn epoll_create(size: c_int) -> c_int;
    /// libc `epoll_create1`.
    fn epoll_create1(flags: c_int) -> c_int;
    /// libc `epoll_ctl`.
    fn epoll_ctl(epfd: c_int, op: c_int, fd: c_int, event: *mut libc::epoll_event) -> c_int;
    /// libc `epoll_wait`.
    fn epoll_wait(epfd: c_int, events: *mut libc::epoll_event, maxevents: c_int, timeout: c_int) -> c_int;
    /// libc `epoll_pwait`.
    fn epoll_pwait(epfd: c_int, events: *mut libc::epoll_event, maxevents: c_int, timeout: c_int, sigmask: *const libc::sigset_t) -> c_int;
    /// libc `epoll_pwait2` (glibc 2.35).
    fn epoll_pwait2(epfd: c_int, events: *mut libc::epoll_event, maxevents: c_int, timeout: *const libc::timespec, sigmask: *const libc::sigset_t) -> c_int;
    /// libc `dup`.
    fn dup(fd: c_int) -> c_int;
    /// libc `dup2`.
    fn dup2(old: c_int, new: c_int) -> c_int;
    /// libc `dup3`.
    fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int;
    /// libc `fcntl`, called with its one optional argument as a machine word: on the x86-64,
    /// AArch64 and 32-bit ARM (AAPCS) Linux calling conventions a variadic int or pointer argument
    /// travels exactly like a fixed one.
    fn fcntl(fd: c_int, cmd: c_int, arg: usize) -> c_int;
    /// libc `fcntl64` (the same, under the large-file name).
    fn fcntl64(fd: c_int, cmd: c_int, arg: usize) -> c_int;
    /// libc `close_range`.
    fn close_range(first: libc::c_uint, last: libc::c_uint, flags: c_int) -> c_int;
    /// libc `accept`.
    fn accept(fd: c_int, addr: *mut libc::sockaddr, len: *mut socklen_t) -> c_int;
    /// libc `accept4`.
    fn accept4(fd: c_int, addr: *mut libc::sockaddr, len: *mut socklen_t, flags: c_int) -> c_int;
    /// libc `readv`.
    fn readv(fd: c_int, iov: *const libc::iovec, count: c_int) -> ssize_t;
    /// libc `writev`.
    fn writev(fd: c_int, iov: *const libc::iovec, count: c_int) -> ssize_t;
    /// libc `sendto`.
    fn sendto(fd: c_int, buf: *const c_void, len: size_t, flags: c_int, addr: *const sockaddr, alen: socklen_t) -> ssize_t;
    /// libc `recvfrom`.
    fn recvfrom(fd: c_int, buf: *mut c_void, len: size_t, flags: c_int, addr: *mut sockaddr, alen: *mut socklen_t) -> ssize_t;
    /// libc `sendmsg`.
    fn sendmsg(fd: c_int, msg: *const libc::msghdr, flags: c_int) -> ssize_t;
    /// libc `recvmsg`.
    fn recvmsg(fd: c_int, msg: *mut libc::msghdr, flags: c_int) -> ssize_t;
    /// libc `sendmmsg`.
    fn sendmmsg(fd: c_int, msgs: *mut libc::mmsghdr, count: libc::c_uint, flags: c_int) -> c_int;
    /// libc `recvmmsg`.
    fn recvmmsg(fd: c_int, msgs: *mut libc::mmsghdr, count: libc::c_uint, flags: c_int, timeout: *mut libc::timespec) -> c_int;
    /// libc `sendfile`.
    fn sendfile(out: c_int, input: c_int, offset: *mut libc::off_t, count: size_t) -> ssize_t;
    /// libc `sendfile64`.
    fn sendfile64(out: c_int, input: c_int, offset: *mut libc::off64_t, count: size_t) -> ssize_t;
    /// libc `splice`.
    fn splice(fd_in: c_int, off_in: *mut libc::loff_t, fd_out: c_int, off_out: *mut libc::loff_t, len: size_t, flags: libc::c_uint) -> ssize_t;
    /// libc `pwritev`.
    fn pwritev(fd: c_int, iov: *const libc::iovec, count: c_int, offset: libc::off_t) -> ssize_t;
    /// libc `pwritev64`.
    fn pwritev64(fd: c_int, iov: *const libc::iovec, count: c_int, offset: libc::off64_t) -> ssize_t;
    /// libc `pwritev2`.
    fn pwritev2(fd: c_int, iov: *const libc::iovec, count: c_int, offset: libc::off_t, flags: c_int) -> ssize_t;
    /// libc `pwritev64v2`.
    fn pwritev64v2(fd: c_int, iov: *const libc::iovec, count: c_int, offset: libc::off64_t, flags: c_int) -> ssize_t;
    /// libc `preadv`.
    fn preadv(fd: c_int, iov: *const libc::iovec, count: c_int, offset: libc::off_t) -> ssize_t;
    /// libc `preadv64`.
    fn preadv64(fd: c_int, iov: *const libc::iovec, count: c_int, offset: libc::off64_t) -> ssize_t;
    /// libc `preadv2`.
    fn preadv2(fd: c_int, iov: *const libc::iovec, count: c_int, offset: libc::off_t, flags: c_int) -> ssize_t;
    /// libc `preadv64v2`.
    fn preadv64v2(fd: c_int, iov: *const libc::iovec, count: c_int, offset: libc::off64_t, flags: c_int) -> ssize_t;
    /// libc `socketpair`.
    fn socketpair(domain: c_int, ty: c_int, protocol: c_int, sv: *mut c_int) -> c_int;
    /// libc `closefrom` (glibc 2.34).
    fn closefrom(lowfd: c_int) -> ();
    /// libc `__read_chk` (what `read` becomes under _FORTIFY_SOURCE).
    fn __read_chk(fd: c_int, buf: *mut c_void, len: size_t, buflen: size_t) -> ssize_t;
    /// libc `__recv_chk`.
    fn __recv_chk(fd: c_int, buf: *mut c_void, len: size_t, buflen: size_t, flags: c_int) -> ssize_t;
    /// libc `__recvfrom_chk`.
    fn __recvfrom_chk(fd: c_int, buf: *mut c_void, len: size_t, buflen: size_t, flags: c_int, addr: *mut sockaddr, alen: *mut socklen_t) -> ssize_t;
    /// libc `__poll_chk`.
    fn __poll_chk(fds: *mut libc::pollfd, nfds: libc::nfds_t, timeout: c_int, fdslen: size_t) -> c_int;
    /// libc `select`.
    fn select(
        nfds: c_int,
        readfds: *mut libc::fd_set,
        writefds: *mut libc::fd_set,
        exceptfds: *mut libc::fd_set,
        timeout: *mut libc::timeval
    ) -> c_int;
    /// libc `__setsockopt64` (what `setsockopt` becomes on 32-bit glibc under `_TIME_BITS=64`).
    #[cfg(all(target_pointer_width = "32", target_env = "gnu"))]
    fn __setsockopt64(fd: c_int, level: c_int, name: c_int, val: *const c_void, len: socklen_t) -> c_int;
    /// libc `__getsockopt64` (`getsockopt` under `_TIME_BITS=64`).
    #[cfg(all(target_pointer_width = "32", target_env = "gnu"))]
    fn __getsockopt64(fd: c_int, level: c_int, name: c_int, val: *mut c_void, len: *mut socklen_t) -> c_int;
    /// libc `__sendmsg64` (`sendmsg` under `_TIME_BITS=64`).
    #[cfg(all(target_pointer_width = "32", target_env = "gnu"))]
    fn __sendmsg64(fd: c_int, msg: *const libc::msghdr, flags: c_int) -> ssize_t;
    /// libc `__recvmsg64` (`recvmsg` under `_TIME_BITS=64`).
    #[cfg(all(target_pointer_width = "32", target_env = "gnu"))]
    fn __recvmsg64(fd: c_int, msg: *mut libc::msghdr, flags: c_int) -> ssize_t;
    /// libc `__sendmmsg64` (`sendmmsg` under `_TIME_BITS=64`).
    #[cfg(all(target_pointer_width = "32", target_env = "gnu"))]
    fn __sendmmsg64(fd: c_int, msgs: *mut libc::mmsghdr, count: libc::c_uint, flags: c_int) -> c_int;
    /// libc `__recvmmsg64` (`recvmmsg` under `_TIME_BITS=64`: the timeout is a 64-bit timespec).
    #[cfg(all(target_pointer_width = "32", target_env = "gnu"))]
    fn __recvmmsg64(fd: c_int, msgs: *mut libc::mmsghdr, count: libc::c_uint, flags: c_int, timeout: *mut super::time64::Timespec64) -> c_int;
    /// libc `__fcntl_time64` (`fcntl` and `fcntl64` under `_TIME_BITS=64`), its optional argument as a
    /// machine word as for `fcntl`.
    #[cfg(all(target_pointer_width = "32", target_env = "gnu"))]
    fn __fcntl_time64(fd: c_int, cmd: c_int, arg: usize) -> c_int;
    /// libc `__select64` (`select` under `_TIME_BITS=64`: the timeout is a 64-bit timeval).
    #[cfg(all(target_pointer_width = "32", target_env = "gnu"))]
    fn __select64(
        nfds: c_int,
        readfds: *mut libc::fd_set,
        writefds: *mut libc::fd_set,
        exceptfds: *mut libc::fd_set,
        timeout: *mut super::time64::Timeval64
    ) -> c_int;
    /// libc `__pselect64` (`pselect` under `_TIME_BITS=64`).
    #[cfg(all(target_pointer_width = "32", target_env = "gnu"))]
    fn __pselect64(
        nfds: c_int,
        readfds: *mut libc::fd_set,
        writefds: *mut libc::fd_set,
        exceptfds: *mut libc::fd_set,
        timeout: *const super::time64::Timespec64,
        sigmask: *const libc::sigset_t
    ) -> c_int;
    /// libc `__epoll_pwait2_time64` (`epoll_pwait2` under `_TIME_BITS=64`, glibc 2.35).
    #[cfg(all(target_pointer_width = "32", target_env = "gnu"))]
    fn __epoll_pwait2_time64(epfd: c_int, events: *mut libc::epoll_event, maxevents: c_int, timeout: *const super::time64::Timespec64, sigmask: *const libc::sigset_t) -> c_int;
    /// libc `__ppoll64` (`ppoll` under `_TIME_BITS=64`).
    #[cfg(all(target_pointer_width = "32", target_env = "gnu"))]
    fn __ppoll64(fds: *mut libc::pollfd, nfds: libc::nfds_t, timeout: *const super::time64::Timespec64, sigmask: *const libc::sigset_t) -> c_int;
}
