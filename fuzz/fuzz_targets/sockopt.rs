//! setsockopt/getsockopt with fuzzed level, name, value and length, on a plain or secure TCP socket,
//! a UDP socket, an AF_UNIX stream socket, a pipe, or a closed descriptor; SO_SECURE (at SOL_SOCKET and
//! Winsock's 0xFFFF), SO_RCVTIMEO/SO_SNDTIMEO (as a 4-byte millisecond DWORD or a timeval) and the
//! other options shipped CE code sets.
//!
//! Input: byte 0 the descriptor kind; then calls, each `op (u8: even set, odd get) | level selector
//! (u8; >= 0xF0: a raw i32 follows) | name selector (u8; same) | flags (u8) | length (u8) | bytes`.
//!
//! Checked: 0 or SOCKET_ERROR with a known WSAE code; SO_SECURE's answers (WSAEFAULT for a NULL or
//! short value, WSAENOTSOCK on a non-socket, WSAEINVAL on UDP, the value read back is what was set);
//! getsockopt never writes past the caller's *optlen nor raises it; a millisecond DWORD timeout reads
//! back as (about) the milliseconds that were set.
#![no_main]

use std::ffi::c_int;

use libfuzzer_sys::fuzz_target;
use sslsock::abi::*;
use sslsock::ffi;
use sslsock_fuzz::*;

const LEVELS: &[c_int] = &[
    libc::SOL_SOCKET,
    0xFFFF,
    libc::IPPROTO_TCP,
    libc::IPPROTO_IP,
    libc::IPPROTO_IPV6,
];
const NAMES: &[c_int] = &[
    SO_SECURE as c_int,
    libc::SO_RCVTIMEO,
    libc::SO_SNDTIMEO,
    libc::SO_KEEPALIVE,
    libc::SO_RCVBUF,
    libc::SO_SNDBUF,
    libc::SO_LINGER,
    libc::TCP_NODELAY,
    libc::SO_ERROR,
    libc::SO_TYPE,
    libc::SO_REUSEADDR,
];
const CANARY: u8 = 0x5A;

fn pick(input: &mut Cursor, table: &[c_int]) -> c_int {
    let sel = input.u8();
    if sel >= 0xF0 {
        input.u32() as c_int
    } else {
        table[sel as usize % table.len()]
    }
}

fuzz_target!(init: { init(); }, |data: &[u8]| {
    let mut input = Cursor::new(data);
    let kind = input.u8() % 7;
    let mut pipe = [-1; 2];
    // SAFETY (all socket calls): plain integers.
    let s: c_int = match kind {
        0 => tcp_socket(false),
        1 => tcp_socket(true),
        2 => ffi::lifecycle::socket(libc::AF_INET, libc::SOCK_DGRAM, 0),
        3 => ffi::lifecycle::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0),
        4 => ffi::lifecycle::socket(libc::AF_INET6, libc::SOCK_STREAM, 0),
        5 => {
            // SAFETY: a two-int array.
            assert_eq!(unsafe { libc::pipe(pipe.as_mut_ptr()) }, 0);
            pipe[0]
        }
        _ => NOT_OPEN_FD,
    };
    assert!(kind >= 5 || s >= 0, "socket: {}", reason());
    let is_socket = kind < 5;
    let stream = matches!(kind, 0 | 1 | 3 | 4);
    let mut secure = kind == 1;

    for _ in 0..16 {
        if input.is_empty() {
            break;
        }
        let op = input.u8();
        let level = pick(&mut input, LEVELS);
        let name = pick(&mut input, NAMES);
        let flags = input.u8();
        let len = input.u8() as usize % 48;
        let mut value = input.bytes(len).to_vec();
        value.resize(len, 0);
        let secure_opt = name == SO_SECURE as c_int && (level == libc::SOL_SOCKET || level == 0xFFFF);
        let timeout_opt = level == libc::SOL_SOCKET && (name == libc::SO_RCVTIMEO || name == libc::SO_SNDTIMEO);
        let what = format!("level {level:#x} name {name:#x} len {len} flags {flags:#x} kind {kind}");
        // An SO_LINGER with a time would make close wait; these sockets never connect, but keep it 0.
        if level == libc::SOL_SOCKET && name == libc::SO_LINGER && len >= 8 {
            value[4..8].copy_from_slice(&0i32.to_ne_bytes());
        }

        if op.is_multiple_of(2) {
            let null = flags & 1 != 0;
            clear_error();
            // SAFETY: `value` is readable for `len` bytes (exact size) or NULL is passed.
            let rc = unsafe {
                ffi::options::setsockopt(
                    s,
                    level,
                    name,
                    if null { std::ptr::null() } else { value.as_ptr().cast() },
                    len as libc::socklen_t,
                )
            };
            let err = check_rc("setsockopt", rc.into());
            if secure_opt {
                if null || len < 4 {
                    assert_eq!(err, WSAEFAULT, "setsockopt(SO_SECURE) {what}");
                } else if !is_socket {
                    assert_eq!(err, WSAENOTSOCK, "setsockopt(SO_SECURE) {what}");
                } else {
                    let v = u32::from_ne_bytes(value[..4].try_into().unwrap());
                    match v {
                        SO_SEC_SSL if stream => {
                            assert_eq!(err, 0, "setsockopt(SO_SECURE, SSL) {what}: {}", reason());
                            secure = true;
                        }
                        SO_SEC_SSL => assert_eq!(err, WSAEINVAL, "SO_SECURE on a datagram socket"),
                        SO_SEC_NONE => {
                            assert_eq!(err, 0, "setsockopt(SO_SECURE, NONE) {what}: {}", reason());
                            secure = false;
                        }
                        _ => assert_eq!(err, WSAEINVAL, "setsockopt(SO_SECURE, {v:#x}) {what}"),
                    }
                }
            }
            if timeout_opt && len == 4 && !null && err == 0 && is_socket {
                let ms = u32::from_ne_bytes(value[..4].try_into().unwrap());
                let got = get_dword(s, name);
                // The kernel keeps the time in scheduler ticks (HZ 100..1000): rounded up by < 10 ms.
                assert!(got >= ms && got <= ms.saturating_add(10), "{what}: set {ms} ms, read back {got} ms");
            }
        } else {
            let optval_null = flags & 1 != 0;
            let optlen_null = flags & 2 != 0;
            let mut buf = vec![CANARY; len];
            let mut optlen = len as libc::socklen_t;
            clear_error();
            // SAFETY: `buf` is writable for `optlen` bytes, or NULL; `optlen` is a socklen_t or NULL.
            let rc = unsafe {
                ffi::options::getsockopt(
                    s,
                    level,
                    name,
                    if optval_null { std::ptr::null_mut() } else { buf.as_mut_ptr().cast() },
                    if optlen_null { std::ptr::null_mut() } else { &mut optlen },
                )
            };
            let err = check_rc("getsockopt", rc.into());
            if !optlen_null {
                assert!(optlen as usize <= len || err != 0, "getsockopt {what}: *optlen grew to {optlen}");
            }
            let written = if err == 0 && !optlen_null { (optlen as usize).min(len) } else { 0 };
            if err != 0 {
                // The kernel may have written before failing only for its own options; ours never do.
                if secure_opt {
                    assert!(buf.iter().all(|&b| b == CANARY), "getsockopt(SO_SECURE) wrote on failure");
                }
            } else {
                assert!(
                    buf[written..].iter().all(|&b| b == CANARY),
                    "getsockopt {what}: wrote past *optlen ({written})"
                );
            }
            if secure_opt {
                if optval_null || optlen_null || len < 4 {
                    assert_eq!(err, WSAEFAULT, "getsockopt(SO_SECURE) {what}");
                } else if !is_socket {
                    assert_eq!(err, WSAENOTSOCK, "getsockopt(SO_SECURE) {what}");
                } else {
                    assert_eq!(err, 0, "getsockopt(SO_SECURE) {what}: {}", reason());
                    let v = u32::from_ne_bytes(buf[..4].try_into().unwrap());
                    let want = if secure { SO_SEC_SSL } else { SO_SEC_NONE };
                    assert_eq!(v, want, "getsockopt(SO_SECURE) {what}");
                }
            }
        }
    }

    if is_socket {
        check_rc("closesocket", ffi::lifecycle::closesocket(s).into());
    } else if kind == 5 {
        // SAFETY: our pipe.
        unsafe {
            libc::close(pipe[0]);
            libc::close(pipe[1]);
        }
    }
});

/// getsockopt of a timeout as a millisecond DWORD.
fn get_dword(s: c_int, name: c_int) -> u32 {
    let mut v: u32 = 0;
    let mut len: libc::socklen_t = 4;
    // SAFETY: a DWORD and its size.
    let rc = unsafe {
        ffi::options::getsockopt(
            s,
            libc::SOL_SOCKET,
            name,
            (&mut v as *mut u32).cast(),
            &mut len,
        )
    };
    assert_eq!(rc, 0, "getsockopt(timeout as DWORD): {}", reason());
    assert_eq!(len, 4);
    v
}
