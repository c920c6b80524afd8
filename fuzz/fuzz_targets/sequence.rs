//! The secure socket's state machine driven by a fuzzed sequence of calls, in any order: socket,
//! setsockopt (SO_SECURE, timeouts, SO_LINGER 0), the SO_SSL_* codes (flags incl.
//! SSL_FLAG_DEFER_HANDSHAKE, peer name, protocols, hook, PERFORM_HANDSHAKE, the GETs), connect to one of
//! the local peers of src/lib.rs (echo, close at once, garbage, silent, TLS with plaintext first, TLS
//! 1.2 or 1.3 only, TLS closing without close_notify, TLS truncating a record; a refused port;
//! AF_UNSPEC; bad addresses), FIONBIO/FIONREAD, send/recv and their variants with assorted flags,
//! poll, Winsock select, dup, shutdown, close/closesocket, and sleeps.
//!
//! Input: opcodes (u8) each followed by its arguments; see `step`. seeds.py writes examples.
//!
//! Checked: every call returns a result or SOCKET_ERROR (-1) with a known WSAE code (never the
//! WSAENETDOWN of a caught panic); no call takes longer than 2 s (every socket gets SO_RCVTIMEO and
//! SO_SNDTIMEO of at most 300 ms); recv never reports more than it was given room for; the hook gets
//! one DER certificate of type X509 (and, in its re-entrant mode, the calls it makes from inside the
//! handshake fail with WSAEINPROGRESS).
#![no_main]

use std::ffi::{c_int, c_void};
use std::sync::atomic::Ordering;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use sslsock::abi::*;
use sslsock::ffi;
use sslsock::ffi::select::WinFdSet;
use sslsock_fuzz::*;

const LIMIT: Duration = Duration::from_secs(2);
const MAX_FDS: usize = 6;
const MAX_STEPS: usize = 40;
const WINSOCK_FIONBIO: libc::c_long = 0x8004_667E;
const WINSOCK_FIONREAD: libc::c_long = 0x4004_667F;

/// The descriptors this input owns (never one it closed: a peer thread may have it now).
struct Fds {
    open: Vec<(c_int, c_int)>, // (descriptor, address family)
    current: Option<usize>,
}

impl Fds {
    fn target(&self) -> (c_int, c_int) {
        self.current
            .and_then(|i| self.open.get(i).copied())
            .unwrap_or((NOT_OPEN_FD, libc::AF_INET))
    }

    fn forget(&mut self, fd: c_int) {
        self.open.retain(|&(f, _)| f != fd);
        self.current = if self.open.is_empty() {
            None
        } else {
            Some(self.open.len() - 1)
        };
    }

    fn add(&mut self, fd: c_int, family: c_int) {
        if self.open.len() >= MAX_FDS {
            let (old, _) = self.open[0];
            call("closesocket", || ffi::lifecycle::closesocket(old).into());
            self.forget(old);
        }
        self.open.push((fd, family));
        self.current = Some(self.open.len() - 1);
    }
}

/// One library call: the last error cleared before, the result checked after, at most 2 s.
fn call(what: &str, f: impl FnOnce() -> i64) -> i64 {
    clear_error();
    let rc = timed(what, LIMIT, f);
    check_rc(what, rc);
    rc
}

/// A WSAIoctl helper's Winsock code as the call's return value.
fn rc_of(code: c_int) -> i64 {
    if code == 0 {
        0
    } else {
        -1
    }
}

fn set_dword_option(s: c_int, level: c_int, name: c_int, value: u32, len: u32) -> i64 {
    let bytes = value.to_ne_bytes();
    call("setsockopt", || {
        // SAFETY: `len` <= 4 readable bytes.
        unsafe { ffi::options::setsockopt(s, level, name, bytes.as_ptr().cast(), len) }.into()
    })
}

fn short_timeouts(s: c_int, ms: u32) {
    set_dword_option(s, libc::SOL_SOCKET, libc::SO_RCVTIMEO, ms, 4);
    set_dword_option(s, libc::SOL_SOCKET, libc::SO_SNDTIMEO, ms, 4);
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed))
        .collect()
}

fn sockaddr_for(family: c_int, port: u16) -> Vec<u8> {
    if family == libc::AF_INET6 {
        // SAFETY: sockaddr_in6 is plain data; all zeros is valid.
        let mut a: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
        a.sin6_family = libc::AF_INET6 as libc::sa_family_t;
        a.sin6_port = port.to_be();
        a.sin6_addr.s6_addr = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1];
        // SAFETY: reading the struct's own bytes.
        unsafe {
            std::slice::from_raw_parts(
                (&a as *const libc::sockaddr_in6).cast::<u8>(),
                std::mem::size_of_val(&a),
            )
        }
        .to_vec()
    } else {
        // SAFETY: as above.
        let mut a: libc::sockaddr_in = unsafe { std::mem::zeroed() };
        a.sin_family = libc::AF_INET as libc::sa_family_t;
        a.sin_port = port.to_be();
        a.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 1]);
        // SAFETY: as above.
        unsafe {
            std::slice::from_raw_parts(
                (&a as *const libc::sockaddr_in).cast::<u8>(),
                std::mem::size_of_val(&a),
            )
        }
        .to_vec()
    }
}

fn connect_to(s: c_int, addr: Option<&[u8]>, len: usize) -> i64 {
    // An exact-size copy, so that ASan sees any read past `len`.
    let exact = addr.map(|a| a[..len.min(a.len())].to_vec());
    let ptr = exact
        .as_ref()
        .map_or(std::ptr::null(), |a| a.as_ptr().cast::<libc::sockaddr>());
    call("connect", || {
        // SAFETY: `ptr` is NULL or readable for `len` bytes.
        unsafe { ffi::lifecycle::connect(s, ptr, len as libc::socklen_t) }.into()
    })
}

fuzz_target!(init: { init(); }, |data: &[u8]| {
    let peers = init();
    let mut input = Cursor::new(data);
    let mut fds = Fds { open: Vec::new(), current: None };
    for _ in 0..MAX_STEPS {
        if input.is_empty() {
            break;
        }
        step(&mut input, &mut fds, peers);
    }
    for (fd, _) in std::mem::take(&mut fds.open) {
        CURRENT_FD.store(fd, Ordering::SeqCst);
        call("closesocket (end)", || ffi::lifecycle::closesocket(fd).into());
    }
});

fn step(input: &mut Cursor, fds: &mut Fds, peers: &Peers) {
    let (s, family) = fds.target();
    CURRENT_FD.store(s, Ordering::SeqCst);
    CLOSED_IN_HOOK.store(false, Ordering::SeqCst);
    SECURE_CALL.store(sslsock::table::lookup(s).is_some(), Ordering::SeqCst);
    let op = input.u8() % 24;
    match op {
        // socket(): kind, then the sockets' timeouts (1..=300 ms)
        0 => {
            let kind = input.u8();
            let (family, ty) = match kind % 6 {
                0 | 5 => (libc::AF_INET, libc::SOCK_STREAM),
                1 => (libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_NONBLOCK),
                2 => (libc::AF_INET6, libc::SOCK_STREAM),
                3 => (libc::AF_INET, libc::SOCK_DGRAM),
                _ => (libc::AF_UNIX, libc::SOCK_STREAM),
            };
            let fd = call("socket", || ffi::lifecycle::socket(family, ty, 0).into()) as c_int;
            if fd >= 0 {
                short_timeouts(fd, 1 + (input.u8() as u32 * 300 / 256));
                if kind % 6 == 5 {
                    set_dword_option(fd, libc::SOL_SOCKET, SO_SECURE as c_int, SO_SEC_SSL, 4);
                }
                fds.add(fd, family);
            }
        }
        // setsockopt(SO_SECURE)
        1 => {
            let v = input.u8();
            let level = if v & 0x80 != 0 {
                0xFFFF
            } else {
                libc::SOL_SOCKET
            };
            let (value, len) = match v % 5 {
                0 | 4 => (SO_SEC_SSL, 4),
                1 => (SO_SEC_NONE, 4),
                2 => (input.u32(), 4),
                _ => (SO_SEC_SSL, 2),
            };
            set_dword_option(s, level, SO_SECURE as c_int, value, len);
        }
        // SO_SSL_SET_FLAGS
        2 => {
            let v = input.u8();
            let flags = match v % 4 {
                0 => 0,
                1 => SSL_FLAG_DEFER_HANDSHAKE,
                2 => SSL_FLAG_SERVER,
                _ => input.u32(),
            };
            call("SET_FLAGS", || {
                rc_of(ioctl_in(s, SO_SSL_SET_FLAGS, &flags.to_ne_bytes()))
            });
        }
        // SO_SSL_SET_PEERNAME / PERFORM_HANDSHAKE with a name in a CE shape
        3 | 4 => {
            let shape = input.u8();
            let which = input.u8();
            let name: Vec<u8> = match which % 5 {
                0 => b"localhost".to_vec(),
                1 => b"127.0.0.1".to_vec(),
                2 => b"wrong.example".to_vec(),
                3 => b"".to_vec(),
                _ => input.bytes(which as usize / 5).to_vec(),
            };
            let code = if op == 3 {
                if shape & 0x80 != 0 {
                    SO_SSL_SET_PEERNAME_IN
                } else {
                    SO_SSL_SET_PEERNAME
                }
            } else {
                SO_SSL_PERFORM_HANDSHAKE
            };
            call("WSAIoctl(name)", || {
                rc_of(ioctl_name(s, code, shape, &name))
            });
        }
        // SO_SSL_SET_PROTOCOLS
        5 => {
            let list: &[u32] = match input.u8() % 6 {
                0 => &[SSL_PROTOCOL_TLS1],
                1 => &[SSLSOCK_PROTOCOL_TLS1_2],
                2 => &[SSLSOCK_PROTOCOL_TLS1_3],
                3 => &[SSL_PROTOCOL_SSL3],
                4 => &[SSLSOCK_PROTOCOL_TLS1_2, SSLSOCK_PROTOCOL_TLS1_3],
                _ => &[],
            };
            let mut buf = (list.len() as u32).to_ne_bytes().to_vec();
            for v in list {
                buf.extend_from_slice(&v.to_ne_bytes());
                buf.extend_from_slice(&[0; 8]);
            }
            call("SET_PROTOCOLS", || {
                rc_of(ioctl_in(s, SO_SSL_SET_PROTOCOLS, &buf))
            });
        }
        // SO_SSL_SET_VALIDATE_CERT_HOOK
        6 => {
            let mode = input.u8() % 7;
            let bytes = hook_bytes(mode as usize % 6);
            let len = if mode == 6 { 8 } else { 16 };
            call("SET_VALIDATE_CERT_HOOK", || {
                rc_of(ioctl_in(s, SO_SSL_SET_VALIDATE_CERT_HOOK, &bytes[..len]))
            });
        }
        // a GET code
        7 => {
            let code = match input.u8() % 8 {
                0 => SO_SSL_GET_CAPABILITIES,
                1 => SO_SSL_GET_FLAGS,
                2 => SO_SSL_GET_PROTOCOLS,
                3 => SO_SSL_GET_VALIDATE_CERT_HOOK,
                4 => SO_SSL_GET_CONNECTION_INFO,
                5 => SO_SSL_GET_CLIENT_OPTS,
                6 => SO_SSL_GET_CIPHERS,
                _ => 0x5073_00FF,
            };
            let len = input.u8() as usize % 40;
            call("WSAIoctl(GET)", || match ioctl_out(s, code, len) {
                Ok(out) => {
                    if code == SO_SSL_GET_CONNECTION_INFO {
                        assert_eq!(out.len(), 28, "SSLCONNECTIONINFO size");
                        let proto = u32::from_ne_bytes(out[..4].try_into().unwrap());
                        assert!(
                            proto == SSL_PROT_TLS1_2_CLIENT || proto == SSL_PROT_TLS1_3_CLIENT,
                            "dwProtocol {proto:#x}"
                        );
                    }
                    0
                }
                Err(_) => -1,
            });
        }
        // connect
        8 => {
            let which = input.u8();
            let addr;
            let (a, len): (Option<&[u8]>, usize) = match which % 14 {
                k @ 0..=8 => {
                    let peer = PEERS[k as usize];
                    if peer == Peer::Garbage {
                        let n = input.u8() as usize;
                        set_garbage(input.bytes(n));
                    }
                    addr = sockaddr_for(family, peers.port(peer));
                    (Some(&addr), addr.len())
                }
                9 => {
                    addr = sockaddr_for(family, peers.refused);
                    (Some(&addr), addr.len())
                }
                10 => {
                    // AF_UNSPEC: "disconnect" on Linux
                    addr = vec![0u8; 16];
                    (Some(&addr), 16)
                }
                11 => {
                    addr = sockaddr_for(family, peers.port(Peer::Tls));
                    (Some(&addr), (which as usize / 14) % addr.len())
                }
                12 => (None, 16),
                _ => {
                    // the other family's address
                    let other = if family == libc::AF_INET6 {
                        libc::AF_INET
                    } else {
                        libc::AF_INET6
                    };
                    addr = sockaddr_for(other, peers.port(Peer::Tls));
                    (Some(&addr), addr.len())
                }
            };
            connect_to(s, a, len);
        }
        // ioctlsocket(FIONBIO)
        9 => {
            let v = input.u8();
            let mut arg: libc::c_ulong = (v & 1) as libc::c_ulong;
            let cmd = if v & 2 != 0 {
                WINSOCK_FIONBIO
            } else {
                libc::FIONBIO as libc::c_long
            };
            call("ioctlsocket(FIONBIO)", || {
                // SAFETY: a u_long.
                unsafe { ffi::ioctl::ioctlsocket(s, cmd, &mut arg) }.into()
            });
        }
        // FIONREAD (ioctlsocket, both values, or WSAIoctl)
        10 => {
            let v = input.u8() % 3;
            let mut arg: libc::c_ulong = 0;
            if v == 2 {
                call("WSAIoctl(FIONREAD)", || {
                    -(ioctl_out(s, WINSOCK_FIONREAD as DWORD, 8).is_err() as i64)
                });
            } else {
                let cmd = if v == 1 {
                    WINSOCK_FIONREAD
                } else {
                    libc::FIONREAD as libc::c_long
                };
                call("ioctlsocket(FIONREAD)", || {
                    // SAFETY: a u_long.
                    unsafe { ffi::ioctl::ioctlsocket(s, cmd, &mut arg) }.into()
                });
            }
        }
        // send and its variants
        11 => {
            let len = input.u8() as usize * 257 + input.u8() as usize % 4;
            let how = input.u8();
            let flags = [
                0,
                libc::MSG_DONTWAIT,
                libc::MSG_OOB,
                libc::MSG_NOSIGNAL,
                libc::MSG_MORE,
            ][how as usize % 5];
            let data = pattern(len, how);
            let rc = call("send", || {
                // SAFETY: `data` is readable for its length (a NULL-free pointer even when empty).
                unsafe {
                    match how / 5 % 4 {
                        0 => ffi::io::send(s, data.as_ptr().cast(), len, flags) as i64,
                        1 => ffi::io::write(s, data.as_ptr().cast(), len) as i64,
                        2 => {
                            let half = len / 2;
                            let iov = [
                                libc::iovec {
                                    iov_base: data.as_ptr() as *mut c_void,
                                    iov_len: half,
                                },
                                libc::iovec {
                                    iov_base: data[half..].as_ptr() as *mut c_void,
                                    iov_len: len - half,
                                },
                            ];
                            ffi::io::writev(s, iov.as_ptr(), 2) as i64
                        }
                        _ => ffi::io::sendto(
                            s,
                            data.as_ptr().cast(),
                            len,
                            flags,
                            std::ptr::null(),
                            0,
                        ) as i64,
                    }
                }
            });
            assert!(rc <= len as i64, "send of {len} returned {rc}");
        }
        // recv and its variants
        12 => {
            let len = input.u8() as usize * 129 + input.u8() as usize % 3;
            let how = input.u8();
            let flags = [
                0,
                libc::MSG_PEEK,
                libc::MSG_WAITALL,
                libc::MSG_DONTWAIT,
                libc::MSG_OOB,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            ][how as usize % 6];
            let mut buf = vec![0u8; len];
            let rc = call("recv", || {
                // SAFETY: `buf` is writable for its length.
                unsafe {
                    match how / 6 % 4 {
                        0 => ffi::io::recv(s, buf.as_mut_ptr().cast(), len, flags) as i64,
                        1 => ffi::io::read(s, buf.as_mut_ptr().cast(), len) as i64,
                        2 => {
                            let half = len / 2;
                            let iov = [
                                libc::iovec {
                                    iov_base: buf.as_mut_ptr().cast(),
                                    iov_len: half,
                                },
                                libc::iovec {
                                    iov_base: buf[half..].as_mut_ptr().cast(),
                                    iov_len: len - half,
                                },
                            ];
                            ffi::io::readv(s, iov.as_ptr(), 2) as i64
                        }
                        _ => {
                            let mut alen: libc::socklen_t = 0;
                            ffi::io::recvfrom(
                                s,
                                buf.as_mut_ptr().cast(),
                                len,
                                flags,
                                std::ptr::null_mut(),
                                &mut alen,
                            ) as i64
                        }
                    }
                }
            });
            assert!(rc <= len as i64, "recv into {len} returned {rc}");
        }
        // shutdown
        13 => {
            let how = (input.u8() % 4) as c_int;
            call("shutdown", || ffi::lifecycle::shutdown(s, how).into());
        }
        // closesocket / close
        14 => {
            let v = input.u8();
            if v & 1 == 0 {
                call("closesocket", || ffi::lifecycle::closesocket(s).into());
            } else {
                call("close", || ffi::lifecycle::close(s).into());
            }
            fds.forget(s);
        }
        // timeouts: which, ms (1..=300), as a DWORD or a timeval
        15 => {
            let v = input.u8();
            let ms = 1 + (input.u8() as u32 * 300 / 256);
            let name = if v & 1 == 0 {
                libc::SO_RCVTIMEO
            } else {
                libc::SO_SNDTIMEO
            };
            if v & 2 == 0 {
                set_dword_option(s, libc::SOL_SOCKET, name, ms, 4);
            } else {
                let tv = libc::timeval {
                    tv_sec: 0,
                    tv_usec: (ms * 1000) as libc::suseconds_t,
                };
                call("setsockopt(timeval)", || {
                    // SAFETY: a timeval and its size.
                    unsafe {
                        ffi::options::setsockopt(
                            s,
                            libc::SOL_SOCKET,
                            name,
                            (&tv as *const libc::timeval).cast(),
                            std::mem::size_of::<libc::timeval>() as u32,
                        )
                    }
                    .into()
                });
            }
        }
        // poll
        16 => {
            let v = input.u8();
            let events = [
                libc::POLLIN,
                libc::POLLOUT,
                libc::POLLIN | libc::POLLOUT,
                libc::POLLPRI,
            ][v as usize % 4];
            let timeout = (input.u8() % 40) as c_int;
            let mut pfd = libc::pollfd {
                fd: s,
                events,
                revents: 0,
            };
            call("poll", || {
                // SAFETY: one pollfd.
                unsafe { ffi::poll::poll(&mut pfd, 1, timeout) }.into()
            });
        }
        // Winsock select
        17 => {
            let v = input.u8();
            let ms = (input.u8() % 40) as i64;
            #[repr(C)]
            struct Set {
                count: u32,
                array: [c_int; 4],
            }
            let mk = |on: bool| Set {
                count: on as u32,
                array: [s, 0, 0, 0],
            };
            let (mut r, mut w, mut e) = (mk(v & 1 != 0), mk(v & 2 != 0), mk(v & 4 != 0));
            let tv = libc::timeval {
                tv_sec: 0,
                tv_usec: (ms * 1000) as libc::suseconds_t,
            };
            let rc = call("select", || {
                // SAFETY: three Windows fd_sets with room for their counts, and a timeval.
                unsafe {
                    ffi::select::sslsock_select(
                        0,
                        (&mut r as *mut Set).cast::<WinFdSet>(),
                        (&mut w as *mut Set).cast::<WinFdSet>(),
                        (&mut e as *mut Set).cast::<WinFdSet>(),
                        &tv,
                    )
                }
                .into()
            });
            assert!(rc <= 3, "select returned {rc}");
            assert!(
                r.count <= 1 && w.count <= 1 && e.count <= 1,
                "select grew a set"
            );
        }
        // sleep (let the peer answer)
        18 => std::thread::sleep(Duration::from_millis((input.u8() % 30) as u64)),
        // dup (and maybe close the original)
        19 => {
            let v = input.u8();
            let d = call("dup", || ffi::descriptors::dup(s).into()) as c_int;
            if d >= 0 {
                if v & 1 != 0 {
                    call("closesocket (after dup)", || {
                        ffi::lifecycle::closesocket(s).into()
                    });
                    fds.forget(s);
                }
                fds.add(d, family);
            }
        }
        // getsockopt
        20 => {
            let v = input.u8() % 3;
            let name = [SO_SECURE as c_int, libc::SO_ERROR, libc::SO_RCVTIMEO][v as usize];
            let mut out: u32 = 0;
            let mut len: libc::socklen_t = 4;
            call("getsockopt", || {
                // SAFETY: four writable bytes.
                unsafe {
                    ffi::options::getsockopt(
                        s,
                        libc::SOL_SOCKET,
                        name,
                        (&mut out as *mut u32).cast(),
                        &mut len,
                    )
                }
                .into()
            });
        }
        // SO_LINGER {1, 0}: close resets
        21 => {
            let l = libc::linger {
                l_onoff: 1,
                l_linger: 0,
            };
            call("setsockopt(SO_LINGER)", || {
                // SAFETY: a linger and its size.
                unsafe {
                    ffi::options::setsockopt(
                        s,
                        libc::SOL_SOCKET,
                        libc::SO_LINGER,
                        (&l as *const libc::linger).cast(),
                        std::mem::size_of::<libc::linger>() as u32,
                    )
                }
                .into()
            });
        }
        // which descriptor the next calls use (past the end: one that is not open)
        22 => {
            let v = input.u8() as usize % (MAX_FDS + 2);
            fds.current = (v < fds.open.len()).then_some(v);
        }
        // SO_SSL_SET_CLIENT_OPTS
        _ => {
            let size = input.u8() as u32 % 2;
            let life = input.u8() as u32 * 10;
            let mut buf = size.to_ne_bytes().to_vec();
            buf.extend_from_slice(&life.to_ne_bytes());
            call("SET_CLIENT_OPTS", || {
                rc_of(ioctl_in(s, SO_SSL_SET_CLIENT_OPTS, &buf))
            });
        }
    }
    SECURE_CALL.store(false, Ordering::SeqCst);
    if CLOSED_IN_HOOK.swap(false, Ordering::SeqCst) {
        fds.forget(s);
    }
}
