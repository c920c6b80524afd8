//! The server of `make bench` (bench/run.sh): one fast rustls (aws-lc-rs) server, identical for every
//! client being compared (sslsock, the OpenSSL client, rustls-direct, plain TCP).
//!
//! ```sh
//! cargo build --release --example bench_server
//! target/release/examples/bench_server --cert good.pem --key good.key [--tls 13|12|both]
//!     [--mode app|handshake] [--workers 2] [--port 0] [--port-file F] [--stats-file F]
//!     [--group x25519|p256|x25519mlkem768|default] [--cipher aes256gcm|aes128gcm|chacha20|default]
//!     [--resumption auto|tickets|ids]
//! target/release/examples/bench_server --plain [--mode app|handshake] ...
//! ```
//!
//! Listens on 127.0.0.1 (`--port 0`: the kernel picks) and prints `PORT <n>` once it listens. Event
//! driven: `--workers` threads, each with its own epoll set (edge-triggered), all accepting from one
//! non-blocking listener, so ten thousand idle connections cost no threads. Every accepted socket gets
//! TCP_NODELAY. The key exchange group and cipher suites are pinned (default X25519 and AES-256-GCM:
//! what an OpenSSL 3.0 client and rustls both negotiate) so that every client does the same work.
//! Resumption (`--resumption auto`): stateless tickets for TLS 1.3, session IDs in a stateful cache
//! for a TLS 1.2-only server (the server's cheapest way for each; see `config`).
//!
//! Modes:
//! - `handshake`: the handshake, then close_notify at once (TLS 1.3: after the session tickets); the
//!   connection is closed when the client's close_notify or FIN arrives. Plain: a FIN right away.
//! - `app`: the client first sends a 9-byte request, an operation byte and a little-endian u64 N:
//!   - `U` (sink, an upload): read and discard N bytes, then reply the single byte `K`;
//!   - `D` (source, a download): send N bytes;
//!   - `E` (echo): send back every byte received (1-byte ping-pong, idle connections).
//!
//!   After that the server waits for the client to close (and answers close_notify with its own).
//!
//! `--stats-file F`: every 50 ms (when something changed) F is rewritten with the counters
//! `accepted`, `full` (full handshakes), `resumed`, `hrr` (full with HelloRetryRequest) and `open`.

use std::io::{self, Read, Write};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use rustls::crypto::aws_lc_rs;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::ServerSessionMemoryCache;

use rustls::{HandshakeKind, ServerConfig, ServerConnection};

// sslsock's heap (its `#[global_allocator]`, large blocks at half a page): rustls' copy of each record
// it decrypts otherwise meets 4K aliasing, which made this shared server the bottleneck of the
// uploads (docs/benchmarks.md, "Heap placement").
extern crate sslsock;

const LISTENER: u64 = u64::MAX;
const IN_EVENTS: u32 = (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLET) as u32;
const SOURCE_CHUNK: usize = 64 * 1024;
const PLAIN_CHUNK: usize = 256 * 1024;
static ZEROS: [u8; PLAIN_CHUNK] = [0u8; PLAIN_CHUNK];

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    App,
    Handshake,
}

struct Args {
    cert: Option<String>,
    key: Option<String>,
    plain: bool,
    tls: String,
    mode: Mode,
    workers: usize,
    port: u16,
    port_file: Option<String>,
    stats_file: Option<String>,
    group: String,
    cipher: String,
    resumption: String,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        cert: None,
        key: None,
        plain: false,
        tls: "13".into(),
        mode: Mode::App,
        workers: 2,
        port: 0,
        port_file: None,
        stats_file: None,
        group: "x25519".into(),
        cipher: "aes256gcm".into(),
        resumption: "auto".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--cert" => a.cert = Some(value()?),
            "--key" => a.key = Some(value()?),
            "--plain" => a.plain = true,
            "--tls" => a.tls = value()?,
            "--mode" => {
                a.mode = match value()?.as_str() {
                    "app" => Mode::App,
                    "handshake" => Mode::Handshake,
                    m => return Err(format!("unknown mode {m}")),
                }
            }
            "--workers" => a.workers = value()?.parse().map_err(|e| format!("--workers: {e}"))?,
            "--port" => a.port = value()?.parse().map_err(|e| format!("--port: {e}"))?,
            "--port-file" => a.port_file = Some(value()?),
            "--stats-file" => a.stats_file = Some(value()?),
            "--group" => a.group = value()?,
            "--cipher" => a.cipher = value()?,
            "--resumption" => a.resumption = value()?,
            _ => return Err(format!("unknown argument {arg}")),
        }
    }
    if !a.plain && (a.cert.is_none() || a.key.is_none()) {
        return Err("--cert and --key are required (or --plain)".into());
    }
    a.workers = a.workers.max(1);
    Ok(a)
}

fn config(a: &Args) -> Result<Arc<ServerConfig>, String> {
    let cert = a.cert.as_deref().unwrap_or_default();
    let keyf = a.key.as_deref().unwrap_or_default();
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{cert}: {e:?}"))?;
    let key = PrivateKeyDer::from_pem_file(keyf).map_err(|e| format!("{keyf}: {e:?}"))?;
    let mut provider = aws_lc_rs::default_provider();
    use aws_lc_rs::kx_group;
    provider.kx_groups = match a.group.as_str() {
        "x25519" => vec![kx_group::X25519],
        "p256" => vec![kx_group::SECP256R1],
        "x25519mlkem768" => vec![kx_group::X25519MLKEM768],
        "default" => provider.kx_groups,
        g => return Err(format!("unknown group {g}")),
    };
    let wanted = match a.cipher.as_str() {
        "aes256gcm" => Some("AES_256_GCM"),
        "aes128gcm" => Some("AES_128_GCM"),
        "chacha20" => Some("CHACHA20"),
        "default" => None,
        c => return Err(format!("unknown cipher {c}")),
    };
    if let Some(w) = wanted {
        provider
            .cipher_suites
            .retain(|s| format!("{:?}", s.suite()).contains(w));
    }
    let versions: &[&'static rustls::SupportedProtocolVersion] = match a.tls.as_str() {
        "13" => &[&rustls::version::TLS13],
        "12" => &[&rustls::version::TLS12],
        "both" => &[&rustls::version::TLS13, &rustls::version::TLS12],
        v => return Err(format!("unknown --tls {v}")),
    };
    let mut config = ServerConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(versions)
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| e.to_string())?;
    // Resumption, the server's fastest correct way per version (`--resumption auto`):
    // - TLS 1.3: stateless tickets. A stateful cache removes a taken TLS 1.3 ticket with a linear
    //   scan of its eviction queue, and full-handshake runs fill it with tickets nobody uses (with
    //   65536 entries, resumption fell below the full-handshake rate for every client).
    // - TLS 1.2: session IDs in a stateful cache (looked up, never scanned; no ticket crypto).
    let stateless = match a.resumption.as_str() {
        "tickets" => true,
        "ids" => false,
        "auto" => a.tls != "12",
        r => return Err(format!("unknown --resumption {r}")),
    };
    if stateless {
        config.ticketer = aws_lc_rs::Ticketer::new().map_err(|e| e.to_string())?;
        config.session_storage = ServerSessionMemoryCache::new(256);
    } else {
        config.session_storage = ServerSessionMemoryCache::new(4096);
    }
    Ok(Arc::new(config))
}

#[derive(Default)]
struct Stats {
    accepted: AtomicU64,
    full: AtomicU64,
    resumed: AtomicU64,
    hrr: AtomicU64,
    open: AtomicU64,
}

/// The descriptor as rustls' transport (non-blocking).
struct Fd(RawFd);

fn cvt(n: isize) -> io::Result<usize> {
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

impl Read for Fd {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: buf is valid for writes of its length.
        cvt(unsafe { libc::read(self.0, buf.as_mut_ptr().cast(), buf.len()) })
    }
}

impl Write for Fd {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // SAFETY: buf is valid for reads of its length.
        cvt(unsafe { libc::send(self.0, buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) })
    }
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        // SAFETY: IoSlice is ABI-compatible with iovec; SIGPIPE is ignored (main).
        cvt(unsafe {
            libc::writev(
                self.0,
                bufs.as_ptr().cast(),
                bufs.len().min(1024) as libc::c_int,
            )
        })
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

enum State {
    Request,
    Sink(u64),
    Source(u64),
    Echo,
    Closing,
}

struct Conn {
    fd: RawFd,
    tls: Option<Box<ServerConnection>>,
    state: State,
    req: [u8; 9],
    req_len: usize,
    out: Vec<u8>,
    eof: bool,
    counted: bool,
    sent_close: bool,
    /// A write would block in the last `drive`: EPOLLOUT is wanted.
    blocked: bool,
    /// EPOLLOUT is in the registered events.
    out_registered: bool,
}

fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

impl Conn {
    /// Application bytes from the client.
    fn on_data(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            match &mut self.state {
                State::Request => {
                    let n = (9 - self.req_len).min(data.len());
                    self.req[self.req_len..self.req_len + n].copy_from_slice(&data[..n]);
                    self.req_len += n;
                    data = &data[n..];
                    if self.req_len == 9 {
                        let count = u64::from_le_bytes(self.req[1..9].try_into().unwrap());
                        self.state = match self.req[0] {
                            b'U' if count > 0 => State::Sink(count),
                            b'U' => {
                                self.out.push(b'K');
                                State::Echo
                            }
                            b'D' => State::Source(count),
                            _ => State::Echo,
                        };
                    }
                }
                State::Sink(rem) => {
                    let n = (*rem).min(data.len() as u64);
                    *rem -= n;
                    data = &data[n as usize..];
                    if *rem == 0 {
                        self.out.push(b'K');
                        self.state = State::Echo;
                    }
                }
                State::Echo => {
                    self.out.extend_from_slice(data);
                    return;
                }
                State::Source(_) | State::Closing => return,
            }
        }
    }

    /// Move the connection on as far as the kernel allows (edge-triggered: until both directions
    /// would block). False when it is finished and must be closed.
    fn drive(&mut self, mode: Mode, stats: &Stats, buf: &mut [u8]) -> bool {
        self.blocked = false;
        if self.tls.is_some() {
            self.drive_tls(mode, stats, buf)
        } else {
            self.drive_plain(mode, buf)
        }
    }

    fn drive_tls(&mut self, mode: Mode, stats: &Stats, buf: &mut [u8]) -> bool {
        let fd = self.fd;
        let mut tls = self.tls.take().unwrap();
        let keep = loop {
            let mut progress = false;
            if !self.eof {
                match tls.read_tls(&mut Fd(fd)) {
                    Ok(0) => {
                        self.eof = true;
                        progress = true;
                    }
                    Ok(_) => progress = true,
                    Err(e) if would_block(&e) => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => progress = true,
                    Err(_) => break false,
                }
                if progress && tls.process_new_packets().is_err() {
                    let _ = tls.write_tls(&mut Fd(fd));
                    break false;
                }
            }
            let mut peer_closed = false;
            if !tls.is_handshaking() {
                if !self.counted {
                    self.counted = true;
                    match tls.handshake_kind() {
                        Some(HandshakeKind::Resumed) => &stats.resumed,
                        Some(HandshakeKind::FullWithHelloRetryRequest) => &stats.hrr,
                        _ => &stats.full,
                    }
                    .fetch_add(1, Ordering::Relaxed);
                    if mode == Mode::Handshake {
                        tls.send_close_notify();
                        self.sent_close = true;
                        self.state = State::Closing;
                    }
                }
                loop {
                    match tls.reader().read(buf) {
                        Ok(0) => {
                            peer_closed = true;
                            break;
                        }
                        Ok(n) => {
                            self.on_data(&buf[..n]);
                            progress = true;
                        }
                        Err(e) if would_block(&e) => break,
                        Err(_) => {
                            peer_closed = true;
                            break;
                        }
                    }
                }
                if !self.out.is_empty() {
                    let n = tls.writer().write(&self.out).unwrap_or(0);
                    if n > 0 {
                        self.out.drain(..n);
                        progress = true;
                    }
                }
                if let State::Source(rem) = &mut self.state {
                    if *rem > 0 {
                        let want = (*rem).min(SOURCE_CHUNK as u64) as usize;
                        let n = tls.writer().write(&ZEROS[..want]).unwrap_or(0);
                        if n > 0 {
                            *rem -= n as u64;
                            progress = true;
                        }
                    }
                    if *rem == 0 {
                        self.state = State::Echo;
                    }
                }
            }
            let mut write_failed = false;
            while tls.wants_write() {
                match tls.write_tls(&mut Fd(fd)) {
                    Ok(n) => progress |= n > 0,
                    Err(e) if would_block(&e) => {
                        self.blocked = true;
                        break;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => {
                        write_failed = true;
                        break;
                    }
                }
            }
            if write_failed {
                break false;
            }
            if self.eof || peer_closed {
                if !self.sent_close && !self.eof {
                    tls.send_close_notify();
                    self.sent_close = true;
                    let _ = tls.write_tls(&mut Fd(fd));
                }
                break false;
            }
            if !progress {
                break true;
            }
        };
        self.tls = Some(tls);
        keep
    }

    fn drive_plain(&mut self, mode: Mode, buf: &mut [u8]) -> bool {
        let fd = self.fd;
        if mode == Mode::Handshake && !self.sent_close {
            // SAFETY: plain descriptor call.
            unsafe { libc::shutdown(fd, libc::SHUT_WR) };
            self.sent_close = true;
            self.state = State::Closing;
        }
        loop {
            let mut progress = false;
            if !self.eof {
                match Fd(fd).read(buf) {
                    Ok(0) => {
                        self.eof = true;
                        progress = true;
                    }
                    Ok(n) => {
                        self.on_data(&buf[..n]);
                        progress = true;
                    }
                    Err(e) if would_block(&e) => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => progress = true,
                    Err(_) => return false,
                }
            }
            while !self.out.is_empty() {
                match Fd(fd).write(&self.out) {
                    Ok(n) => {
                        self.out.drain(..n);
                        progress = true;
                    }
                    Err(e) if would_block(&e) => {
                        self.blocked = true;
                        break;
                    }
                    Err(_) => return false,
                }
            }
            if self.out.is_empty() {
                if let State::Source(rem) = &mut self.state {
                    while *rem > 0 {
                        let want = (*rem).min(PLAIN_CHUNK as u64) as usize;
                        match Fd(fd).write(&ZEROS[..want]) {
                            Ok(n) => {
                                *rem -= n as u64;
                                progress = true;
                            }
                            Err(e) if would_block(&e) => {
                                self.blocked = true;
                                break;
                            }
                            Err(_) => return false,
                        }
                    }
                    if *rem == 0 {
                        self.state = State::Echo;
                    }
                }
            }
            if self.eof {
                return false;
            }
            if !progress {
                return true;
            }
        }
    }
}

fn epoll_add(ep: RawFd, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
    let mut ev = libc::epoll_event { events, u64: token };
    // SAFETY: valid epoll descriptor and event.
    if unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, fd, &mut ev) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn worker(
    listen_fd: RawFd,
    config: Option<Arc<ServerConfig>>,
    mode: Mode,
    stats: Arc<Stats>,
) -> io::Result<()> {
    // SAFETY: plain system calls.
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if ep < 0 {
        return Err(io::Error::last_os_error());
    }
    epoll_add(
        ep,
        listen_fd,
        (libc::EPOLLIN | libc::EPOLLEXCLUSIVE) as u32,
        LISTENER,
    )?;
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 512];
    let mut buf = vec![0u8; PLAIN_CHUNK];
    loop {
        // SAFETY: events is a valid buffer of that many entries.
        let n = unsafe { libc::epoll_wait(ep, events.as_mut_ptr(), events.len() as i32, -1) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for ev in &events[..n as usize] {
            let token = ev.u64;
            if token == LISTENER {
                loop {
                    // SAFETY: accept4 with no address wanted.
                    let fd = unsafe {
                        libc::accept4(
                            listen_fd,
                            std::ptr::null_mut(),
                            std::ptr::null_mut(),
                            libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                        )
                    };
                    if fd < 0 {
                        let e = io::Error::last_os_error();
                        match e.raw_os_error() {
                            Some(libc::EAGAIN) | Some(libc::EINTR) | Some(libc::ECONNABORTED) => {}
                            _ => {
                                eprintln!("bench_server: accept: {e}");
                                thread::sleep(Duration::from_millis(10));
                            }
                        }
                        break;
                    }
                    let one: libc::c_int = 1;
                    // SAFETY: setting an int option.
                    unsafe {
                        libc::setsockopt(
                            fd,
                            libc::IPPROTO_TCP,
                            libc::TCP_NODELAY,
                            (&one as *const libc::c_int).cast(),
                            4,
                        )
                    };
                    stats.accepted.fetch_add(1, Ordering::Relaxed);
                    stats.open.fetch_add(1, Ordering::Relaxed);
                    let tls = match &config {
                        Some(c) => match ServerConnection::new(c.clone()) {
                            Ok(t) => Some(Box::new(t)),
                            Err(e) => {
                                eprintln!("bench_server: {e}");
                                // SAFETY: our descriptor.
                                unsafe { libc::close(fd) };
                                stats.open.fetch_sub(1, Ordering::Relaxed);
                                continue;
                            }
                        },
                        None => None,
                    };
                    let conn = Conn {
                        fd,
                        tls,
                        state: match mode {
                            Mode::App => State::Request,
                            Mode::Handshake => State::Closing,
                        },
                        req: [0; 9],
                        req_len: 0,
                        out: Vec::new(),
                        eof: false,
                        counted: false,
                        sent_close: false,
                        blocked: false,
                        out_registered: false,
                    };
                    let idx = match free.pop() {
                        Some(i) => {
                            conns[i] = Some(conn);
                            i
                        }
                        None => {
                            conns.push(Some(conn));
                            conns.len() - 1
                        }
                    };
                    if let Err(e) = epoll_add(ep, fd, IN_EVENTS, idx as u64) {
                        eprintln!("bench_server: epoll_ctl: {e}");
                        conns[idx] = None;
                        free.push(idx);
                        // SAFETY: our descriptor.
                        unsafe { libc::close(fd) };
                        stats.open.fetch_sub(1, Ordering::Relaxed);
                        continue;
                    }
                    // Drive it once now: EPOLLOUT is not registered, so a connection where the server
                    // speaks first (plain handshake mode) would otherwise never get an event.
                    service(ep, &mut conns, &mut free, idx, mode, &stats, &mut buf);
                }
                continue;
            }
            service(
                ep,
                &mut conns,
                &mut free,
                token as usize,
                mode,
                &stats,
                &mut buf,
            );
        }
    }
}

/// Drive connection `idx` after an event (or right after accept), adjust its EPOLLOUT interest, and
/// close it when it is finished.
fn service(
    ep: RawFd,
    conns: &mut [Option<Conn>],
    free: &mut Vec<usize>,
    idx: usize,
    mode: Mode,
    stats: &Stats,
    buf: &mut [u8],
) {
    let keep = match conns.get_mut(idx).and_then(|c| c.as_mut()) {
        Some(c) => {
            let keep = c.drive(mode, stats, buf);
            // EPOLLOUT only while a write is blocked: a permanent edge-triggered EPOLLOUT
            // wakes the worker at every ACK (one more epoll_wait and read per round trip).
            if keep && c.blocked != c.out_registered {
                let events = if c.blocked {
                    IN_EVENTS | libc::EPOLLOUT as u32
                } else {
                    IN_EVENTS
                };
                let mut ev = libc::epoll_event {
                    events,
                    u64: idx as u64,
                };
                // SAFETY: valid epoll descriptor and event.
                unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_MOD, c.fd, &mut ev) };
                c.out_registered = c.blocked;
            }
            keep
        }
        None => return,
    };
    if !keep {
        if let Some(c) = conns[idx].take() {
            // SAFETY: our descriptor (closing removes it from the epoll set).
            unsafe { libc::close(c.fd) };
            stats.open.fetch_sub(1, Ordering::Relaxed);
        }
        free.push(idx);
    }
}

fn listen(port: u16) -> io::Result<(RawFd, u16)> {
    // SAFETY: plain socket calls on a descriptor we own.
    unsafe {
        let fd = libc::socket(
            libc::AF_INET,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        );
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let one: libc::c_int = 1;
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_REUSEADDR,
            (&one as *const libc::c_int).cast(),
            4,
        );
        let mut addr: libc::sockaddr_in = std::mem::zeroed();
        addr.sin_family = libc::AF_INET as libc::sa_family_t;
        addr.sin_port = port.to_be();
        addr.sin_addr.s_addr = u32::from_be_bytes([127, 0, 0, 1]).to_be();
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        if libc::bind(fd, (&addr as *const libc::sockaddr_in).cast(), len) != 0
            || libc::listen(fd, 65535) != 0
        {
            return Err(io::Error::last_os_error());
        }
        let mut len = len;
        libc::getsockname(fd, (&mut addr as *mut libc::sockaddr_in).cast(), &mut len);
        Ok((fd, u16::from_be(addr.sin_port)))
    }
}

fn raise_nofile() {
    // SAFETY: plain rlimit calls.
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 {
            r.rlim_cur = r.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
    }
}

fn stats_writer(file: String, stats: Arc<Stats>) {
    let mut last = String::new();
    loop {
        let now = format!(
            "accepted {}\nfull {}\nresumed {}\nhrr {}\nopen {}\n",
            stats.accepted.load(Ordering::Relaxed),
            stats.full.load(Ordering::Relaxed),
            stats.resumed.load(Ordering::Relaxed),
            stats.hrr.load(Ordering::Relaxed),
            stats.open.load(Ordering::Relaxed)
        );
        if now != last {
            let tmp = format!("{file}.tmp");
            if std::fs::write(&tmp, &now).is_ok() {
                let _ = std::fs::rename(&tmp, &file);
            }
            last = now;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

fn main() {
    let args = parse_args().unwrap_or_else(|e| {
        eprintln!("bench_server: {e}");
        std::process::exit(2);
    });
    // SAFETY: ignoring SIGPIPE (writes to closed sockets give EPIPE instead).
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    raise_nofile();
    let config = if args.plain {
        None
    } else {
        Some(config(&args).unwrap_or_else(|e| {
            eprintln!("bench_server: {e}");
            std::process::exit(2);
        }))
    };
    let (fd, port) = listen(args.port).unwrap_or_else(|e| {
        eprintln!("bench_server: listen on 127.0.0.1:{}: {e}", args.port);
        std::process::exit(2);
    });
    let stats = Arc::new(Stats::default());
    if let Some(file) = args.stats_file.clone() {
        let stats = stats.clone();
        thread::spawn(move || stats_writer(file, stats));
    }
    let mut handles = Vec::new();
    for _ in 0..args.workers {
        let config = config.clone();
        let stats = stats.clone();
        let mode = args.mode;
        handles.push(thread::spawn(move || {
            if let Err(e) = worker(fd, config, mode, stats) {
                eprintln!("bench_server: worker: {e}");
                std::process::exit(1);
            }
        }));
    }
    if let Some(file) = &args.port_file {
        if let Err(e) = std::fs::write(file, format!("{port}\n")) {
            eprintln!("bench_server: {file}: {e}");
            std::process::exit(2);
        }
    }
    println!("PORT {port}");
    let _ = io::stdout().flush();
    for h in handles {
        let _ = h.join();
    }
}
