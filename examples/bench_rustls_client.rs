//! The "rustls used directly" client of `make bench` (bench/run.sh): the same workloads, command line
//! and output as bench/sslsock_client.c and bench/openssl_client.c (see bench/client_main.h), written
//! the straightforward way on rustls: a blocking `TcpStream`, one `ClientConnection` per socket in a
//! `rustls::StreamOwned`, the aws-lc-rs provider with rustls' defaults (the same provider, protocol
//! versions, cipher suites and key-exchange groups as sslsock: TLS 1.3 and 1.2, X25519MLKEM768
//! preferred, then X25519, ...), trust anchors from `--ca`, the server name checked.
//!
//! ```sh
//! cargo build --release --example bench_rustls_client
//! target/release/examples/bench_rustls_client --port P --ca ca.pem [--name localhost] [--plain]
//!     [--nodelay] [--unbuffered] WORKLOAD ARGS...
//! ```
//! With `--unbuffered` the TLS connections use rustls' unbuffered API instead
//! (`UnbufferedClientConnection`, the API sslsock is built on), driven the plain way: ciphertext read
//! into one growing buffer and decrypted there, records encrypted into one `Vec` and written. It
//! tells what rustls' two APIs cost apart from sslsock: `make bench` runs it as a fifth client in the
//! bulk, ping-pong and handshake rows, for the report's second table (docs/benchmarks.md).
//!
//! Workloads: `download BYTES CHUNK`, `upload BYTES CHUNK`, `pingpong COUNT`,
//! `handshake SECONDS full|resume`, `many COUNT`, `threads N BYTES CHUNK`. Output: one line
//! `RESULT key=value ...` (wall and CPU seconds of the timed part, counts) and `INFO ...` (what the
//! first connection negotiated).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Barrier};
use std::time::Instant;

use rustls::client::{Resumption, UnbufferedClientConnection};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::unbuffered::{ConnectionState, EncodeError, EncryptError};
use rustls::{ClientConfig, ClientConnection, HandshakeKind, RootCertStore, StreamOwned};

struct Opts {
    addr: SocketAddr,
    name: ServerName<'static>,
    plain: bool,
    nodelay: bool,
    unbuffered: bool,
    resume_cfg: Option<Arc<ClientConfig>>,
    full_cfg: Option<Arc<ClientConfig>>,
}

enum Conn {
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
    Unbuffered(Box<Unbuffered>),
    Plain(TcpStream),
}

/// A connection on rustls' unbuffered API over a blocking `TcpStream` (`--unbuffered`).
struct Unbuffered {
    conn: UnbufferedClientConnection,
    sock: TcpStream,
    /// Ciphertext received and not yet discarded (`used` bytes of it), decrypted in place.
    incoming: Vec<u8>,
    used: usize,
    /// Records made, the first `out_len` bytes not yet written. It only grows, so that no call zeroes it.
    outgoing: Vec<u8>,
    out_len: usize,
    /// Plaintext of a record that did not fit the caller's buffer, from `taken` on.
    rest: Vec<u8>,
    taken: usize,
    /// The server's close_notify came (rustls reports it once).
    peer_closed: bool,
}

/// What `Unbuffered::drive` runs the connection for.
enum Want<'a> {
    Handshake,
    Send(&'a [u8]),
    Recv(&'a mut [u8]),
    Close,
}

/// At least `len` bytes in `buf` (zeroed once, when it grows).
fn grow(buf: &mut Vec<u8>, len: usize) {
    if buf.len() < len {
        buf.resize(len, 0);
    }
}

impl Unbuffered {
    fn connect(
        cfg: Arc<ClientConfig>,
        name: ServerName<'static>,
        sock: TcpStream,
    ) -> io::Result<Self> {
        let mut u = Unbuffered {
            conn: UnbufferedClientConnection::new(cfg, name).map_err(io::Error::other)?,
            sock,
            incoming: vec![0; 16 * 1024 + 256],
            used: 0,
            outgoing: Vec::new(),
            out_len: 0,
            rest: Vec::new(),
            taken: 0,
            peer_closed: false,
        };
        u.drive(Want::Handshake)?;
        Ok(u)
    }

    /// Runs the connection until `want` is done: the handshake, `data` encrypted and written, or
    /// plaintext copied into the buffer (its length; 0 at the end of the stream).
    fn drive(&mut self, mut want: Want<'_>) -> io::Result<usize> {
        loop {
            if let Want::Recv(buf) = &mut want {
                if self.taken < self.rest.len() {
                    let n = buf.len().min(self.rest.len() - self.taken);
                    buf[..n].copy_from_slice(&self.rest[self.taken..self.taken + n]);
                    self.taken += n;
                    return Ok(n);
                }
                if self.peer_closed {
                    return Ok(0);
                }
            }
            let Unbuffered {
                conn,
                sock,
                incoming,
                used,
                outgoing,
                out_len,
                rest,
                taken,
                peer_closed,
            } = self;
            let status = conn.process_tls_records(&mut incoming[..*used]);
            let mut discard = status.discard;
            let (mut done, mut read, mut closed) = (None, false, false);
            match status.state.map_err(io::Error::other)? {
                ConnectionState::EncodeTlsData(mut e) => {
                    let mut room = 4096;
                    loop {
                        grow(outgoing, *out_len + room);
                        match e.encode(&mut outgoing[*out_len..]) {
                            Ok(n) => break *out_len += n,
                            Err(EncodeError::InsufficientSize(s)) => room = s.required_size,
                            Err(EncodeError::AlreadyEncoded) => break,
                        }
                    }
                }
                ConnectionState::TransmitTlsData(t) => {
                    sock.write_all(&outgoing[..*out_len])?;
                    *out_len = 0;
                    t.done();
                }
                ConnectionState::ReadTraffic(mut r) => {
                    if let Some(record) = r.next_record() {
                        let record = record.map_err(io::Error::other)?;
                        discard += record.discard;
                        // Straight into the caller's buffer; what does not fit, or comes while
                        // handshaking or sending, is kept for the next `Recv`.
                        let mut n = 0;
                        if let Want::Recv(buf) = &mut want {
                            n = buf.len().min(record.payload.len());
                            buf[..n].copy_from_slice(&record.payload[..n]);
                            done = (n > 0).then_some(n);
                        }
                        if *taken == rest.len() {
                            rest.clear();
                            *taken = 0;
                        }
                        rest.extend_from_slice(&record.payload[n..]);
                    }
                }
                ConnectionState::WriteTraffic(mut w) => match &mut want {
                    Want::Handshake => done = Some(0),
                    Want::Recv(_) => read = true,
                    Want::Send(data) => {
                        let mut room = data.len() + (data.len() / 16384 + 1) * 64;
                        let n = loop {
                            grow(outgoing, room);
                            match w.encrypt(data, outgoing) {
                                Ok(n) => break n,
                                Err(EncryptError::InsufficientSize(s)) => room = s.required_size,
                                Err(e) => return Err(io::Error::other(e)),
                            }
                        };
                        sock.write_all(&outgoing[..n])?;
                        done = Some(data.len());
                    }
                    Want::Close => {
                        grow(outgoing, 64);
                        let n = w.queue_close_notify(outgoing).map_err(io::Error::other)?;
                        sock.write_all(&outgoing[..n])?;
                        done = Some(0);
                    }
                },
                ConnectionState::PeerClosed | ConnectionState::Closed => closed = true,
                _ => read = true,
            }
            if discard > 0 {
                incoming.copy_within(discard..*used, 0);
                *used -= discard;
            }
            if closed {
                *peer_closed = true;
                // A TLS 1.2 server may end with close_notify right behind its Finished.
                return match want {
                    Want::Recv(_) | Want::Close => Ok(0),
                    Want::Handshake if !conn.is_handshaking() => Ok(0),
                    _ => Err(io::Error::other("the server closed the connection")),
                };
            }
            if let Some(n) = done {
                return Ok(n);
            }
            if read {
                if *used == incoming.len() {
                    incoming.resize(incoming.len() * 2, 0);
                }
                match sock.read(&mut incoming[*used..])? {
                    0 => {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "end of stream",
                        ))
                    }
                    n => *used += n,
                }
            }
        }
    }
}

impl Conn {
    fn send_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Conn::Tls(s) => s.write_all(buf),
            Conn::Unbuffered(u) => u.drive(Want::Send(buf)).map(drop),
            Conn::Plain(s) => s.write_all(buf),
        }
    }
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Tls(s) => s.read(buf),
            Conn::Unbuffered(u) => u.drive(Want::Recv(buf)),
            Conn::Plain(s) => s.read(buf),
        }
    }
    fn close(self) {
        match self {
            Conn::Tls(mut s) => {
                s.conn.send_close_notify();
                let _ = s.conn.complete_io(&mut s.sock);
            }
            Conn::Unbuffered(mut u) => {
                let _ = u.drive(Want::Close);
            }
            Conn::Plain(s) => drop(s),
        }
    }
    fn info(&self) -> String {
        match self {
            Conn::Tls(s) => format!(
                "proto={:?} cipher={:?} group={}",
                s.conn.protocol_version().unwrap(),
                s.conn.negotiated_cipher_suite().unwrap().suite(),
                s.conn
                    .negotiated_key_exchange_group()
                    .map(|g| format!("{:?}", g.name()))
                    .unwrap_or_else(|| "none".into())
            ),
            Conn::Unbuffered(u) => format!(
                "proto={:?} cipher={:?} api=unbuffered",
                u.conn.protocol_version().unwrap(),
                u.conn.negotiated_cipher_suite().unwrap().suite()
            ),
            Conn::Plain(_) => "proto=plain".into(),
        }
    }
    fn resumed(&self) -> bool {
        match self {
            Conn::Tls(s) => s.conn.handshake_kind() == Some(HandshakeKind::Resumed),
            Conn::Unbuffered(u) => u.conn.handshake_kind() == Some(HandshakeKind::Resumed),
            Conn::Plain(_) => false,
        }
    }
}

fn open(o: &Opts, resume: bool) -> io::Result<Conn> {
    let tcp = TcpStream::connect(o.addr)?;
    if o.nodelay {
        tcp.set_nodelay(true)?;
    }
    if o.plain {
        return Ok(Conn::Plain(tcp));
    }
    let cfg = if resume { &o.resume_cfg } else { &o.full_cfg };
    if o.unbuffered {
        let u = Unbuffered::connect(cfg.clone().unwrap(), o.name.clone(), tcp)?;
        return Ok(Conn::Unbuffered(Box::new(u)));
    }
    let conn =
        ClientConnection::new(cfg.clone().unwrap(), o.name.clone()).map_err(io::Error::other)?;
    let mut s = StreamOwned::new(conn, tcp);
    while s.conn.is_handshaking() {
        s.conn.complete_io(&mut s.sock)?;
    }
    Ok(Conn::Tls(Box::new(s)))
}

fn request(c: &mut Conn, op: u8, n: u64) -> io::Result<()> {
    let mut req = [0u8; 9];
    req[0] = op;
    req[1..].copy_from_slice(&n.to_le_bytes());
    c.send_all(&req)
}

fn recv_exact(c: &mut Conn, buf: &mut [u8]) -> io::Result<()> {
    let mut got = 0;
    while got < buf.len() {
        match c.recv(&mut buf[got..])? {
            0 => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "end of stream",
                ))
            }
            n => got += n,
        }
    }
    Ok(())
}

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn rss_kib() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: f64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    // SAFETY: sysconf has no preconditions.
    pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as f64 / 1024.0
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

struct Timer {
    wall: Instant,
    cpu: f64,
}

impl Timer {
    fn start() -> Timer {
        Timer {
            cpu: cpu_seconds(),
            wall: Instant::now(),
        }
    }
    fn stop(&self) -> (f64, f64) {
        (self.wall.elapsed().as_secs_f64(), cpu_seconds() - self.cpu)
    }
}

fn num(s: Option<&String>, what: &str) -> u64 {
    s.and_then(|v| v.parse().ok()).unwrap_or_else(|| {
        eprintln!("bench_rustls_client: {what}: a number is needed");
        std::process::exit(2)
    })
}

fn run(o: &Opts, work: &[String]) -> io::Result<String> {
    let arg = |i: usize, what: &str| num(work.get(i), what);
    match work.first().map(String::as_str) {
        Some("download") | Some("upload") => {
            let (bytes, chunk) = (arg(1, "BYTES"), arg(2, "CHUNK") as usize);
            let download = work[0] == "download";
            let mut c = open(o, true)?;
            println!("INFO {}", c.info());
            let mut buf = vec![0u8; chunk];
            request(&mut c, if download { b'D' } else { b'U' }, bytes)?;
            let t = Timer::start();
            let mut done = 0u64;
            if download {
                while done < bytes {
                    let want = chunk.min((bytes - done) as usize);
                    match c.recv(&mut buf[..want])? {
                        0 => return Err(io::Error::other("download: early end of stream")),
                        n => done += n as u64,
                    }
                }
            } else {
                while done < bytes {
                    let n = chunk.min((bytes - done) as usize);
                    c.send_all(&buf[..n])?;
                    done += n as u64;
                }
                let mut k = [0u8; 1];
                recv_exact(&mut c, &mut k)?;
            }
            let (wall, cpu) = t.stop();
            c.close();
            Ok(format!("wall={wall:.6} cpu={cpu:.6} bytes={done}"))
        }
        Some("www") => {
            // One GET per connection against `openssl s_server -WWW`, as the C clients do.
            let path = work.get(1).cloned().unwrap_or_default();
            let chunk = arg(2, "CHUNK") as usize;
            let seconds: f64 = work.get(3).and_then(|v| v.parse().ok()).unwrap_or(1.0);
            let resume = work.get(4).map(String::as_str) == Some("resume");
            let mut buf = vec![0u8; chunk];
            let mut once = || -> io::Result<u64> {
                let mut c = open(o, resume)?;
                c.send_all(format!("GET /{path} HTTP/1.0\r\n\r\n").as_bytes())?;
                let mut got = 0u64;
                // s_server ends with close_notify (0); an error after data counts as the end.
                while let Ok(n @ 1..) = c.recv(&mut buf) {
                    got += n as u64;
                }
                c.close();
                Ok(got)
            };
            if once()? == 0 {
                return Err(io::Error::other("www: the first GET failed"));
            }
            let started = std::time::Instant::now();
            let t = Timer::start();
            let (mut bytes, mut n) = (0u64, 0u64);
            loop {
                let got = once()?;
                if got == 0 {
                    return Err(io::Error::other("www: a GET failed"));
                }
                bytes += got;
                n += 1;
                if started.elapsed().as_secs_f64() >= seconds {
                    break;
                }
            }
            let (wall, cpu) = t.stop();
            Ok(format!("wall={wall:.6} cpu={cpu:.6} n={n} bytes={bytes}"))
        }
        Some("pingpong") => {
            let count = arg(1, "COUNT");
            let mut c = open(o, true)?;
            println!("INFO {}", c.info());
            request(&mut c, b'E', 0)?;
            let mut b = [b'x'; 1];
            for _ in 0..10 {
                c.send_all(&b)?;
                recv_exact(&mut c, &mut b)?;
            }
            let t = Timer::start();
            for _ in 0..count {
                c.send_all(&b)?;
                recv_exact(&mut c, &mut b)?;
            }
            let (wall, cpu) = t.stop();
            c.close();
            Ok(format!("wall={wall:.6} cpu={cpu:.6} n={count}"))
        }
        Some("handshake") => {
            let seconds: f64 = work.get(1).and_then(|v| v.parse().ok()).unwrap_or(1.0);
            let resume = work.get(2).map(String::as_str) == Some("resume");
            let once = |o: &Opts| -> io::Result<bool> {
                let mut c = open(o, resume)?;
                let mut b = [0u8; 64];
                while c.recv(&mut b)? > 0 {}
                let r = c.resumed();
                c.close();
                Ok(r)
            };
            {
                let c = open(o, resume)?;
                println!("INFO {}", c.info());
                c.close();
            }
            once(o)?; // primes the session cache
            let t = Timer::start();
            let (mut n, mut resumed) = (0u64, 0u64);
            while t.wall.elapsed().as_secs_f64() < seconds {
                resumed += once(o)? as u64;
                n += 1;
            }
            let (wall, cpu) = t.stop();
            Ok(format!(
                "wall={wall:.6} cpu={cpu:.6} n={n} resumed={resumed}"
            ))
        }
        Some("many") => {
            let count = arg(1, "COUNT") as usize;
            raise_nofile();
            {
                let mut c = open(o, true)?;
                println!("INFO {}", c.info());
                request(&mut c, b'E', 0)?;
                let mut b = [b'x'; 1];
                c.send_all(&b)?;
                recv_exact(&mut c, &mut b)?;
                c.close();
            }
            let rss0 = rss_kib();
            let t = Timer::start();
            let mut conns = Vec::with_capacity(count);
            let mut failure = None;
            for _ in 0..count {
                let r = open(o, true).and_then(|mut c| {
                    request(&mut c, b'E', 0)?;
                    let mut b = [b'x'; 1];
                    c.send_all(&b)?;
                    recv_exact(&mut c, &mut b)?;
                    Ok(c)
                });
                match r {
                    Ok(c) => conns.push(c),
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                }
            }
            let opened = conns.len();
            let rss1 = rss_kib();
            let mut ok = 0;
            for c in conns.iter_mut() {
                let mut b = [b'y'; 1];
                if c.send_all(&b).is_ok() && recv_exact(c, &mut b).is_ok() {
                    ok += 1;
                }
            }
            let (wall, cpu) = t.stop();
            for c in conns {
                c.close();
            }
            if let Some(e) = failure {
                eprintln!(
                    "bench_rustls_client: many: connection {} failed: {e}",
                    opened + 1
                );
            }
            Ok(format!(
                "wall={wall:.6} cpu={cpu:.6} n={count} opened={opened} ok={ok} rss_kib={:.1} \
                 kib_per_socket={:.3}",
                rss1 - rss0,
                (rss1 - rss0) / opened.max(1) as f64
            ))
        }
        Some("threads") => {
            let (nthreads, bytes, chunk) = (
                arg(1, "N") as usize,
                arg(2, "BYTES"),
                arg(3, "CHUNK") as usize,
            );
            let share = bytes / nthreads as u64;
            let barrier = Arc::new(Barrier::new(nthreads + 1));
            let mut conns = Vec::new();
            for _ in 0..nthreads {
                conns.push(open(o, true)?);
            }
            println!("INFO {}", conns[0].info());
            let handles: Vec<_> = conns
                .into_iter()
                .map(|mut c| {
                    let barrier = barrier.clone();
                    std::thread::spawn(move || -> io::Result<(u64, Instant, Instant)> {
                        let mut buf = vec![0u8; chunk];
                        barrier.wait();
                        let start = Instant::now();
                        request(&mut c, b'D', share)?;
                        let mut done = 0u64;
                        while done < share {
                            let want = chunk.min((share - done) as usize);
                            match c.recv(&mut buf[..want])? {
                                0 => return Err(io::Error::other("early end of stream")),
                                n => done += n as u64,
                            }
                        }
                        let end = Instant::now();
                        c.close();
                        Ok((done, start, end))
                    })
                })
                .collect();
            // The wall time is from the first thread's start to the last one's end (with 64 threads
            // on 2 CPUs the main thread may run late: its clock would miss part of the transfer).
            let cpu0 = cpu_seconds();
            barrier.wait();
            let (mut total, mut first, mut last) = (0, None::<Instant>, None::<Instant>);
            for h in handles {
                let (done, start, end) = h.join().unwrap()?;
                total += done;
                first = Some(first.map_or(start, |f| f.min(start)));
                last = Some(last.map_or(end, |l| l.max(end)));
            }
            let wall = (last.unwrap() - first.unwrap()).as_secs_f64();
            let cpu = cpu_seconds() - cpu0;
            Ok(format!(
                "wall={wall:.6} cpu={cpu:.6} bytes={total} threads={nthreads}"
            ))
        }
        _ => {
            eprintln!("bench_rustls_client: unknown workload {work:?}");
            std::process::exit(2)
        }
    }
}

fn main() {
    let mut port = None;
    let mut host = "127.0.0.1".to_string();
    let mut name = "localhost".to_string();
    let mut ca = None;
    let mut plain = false;
    let mut nodelay = false;
    let mut unbuffered = false;
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < argv.len() && argv[i].starts_with("--") {
        let value = |i: usize| {
            argv.get(i + 1).cloned().unwrap_or_else(|| {
                eprintln!("bench_rustls_client: {} needs a value", argv[i]);
                std::process::exit(2)
            })
        };
        match argv[i].as_str() {
            "--port" => {
                port = Some(num(Some(&value(i)), "--port") as u16);
                i += 1
            }
            "--host" => {
                host = value(i);
                i += 1
            }
            "--name" => {
                name = value(i);
                i += 1
            }
            "--ca" => {
                ca = Some(value(i));
                i += 1
            }
            "--plain" => plain = true,
            "--nodelay" => nodelay = true,
            "--unbuffered" => unbuffered = true,
            a => {
                eprintln!("bench_rustls_client: unknown option {a}");
                std::process::exit(2)
            }
        }
        i += 1;
    }
    let port = port.unwrap_or_else(|| {
        eprintln!("bench_rustls_client: --port is required");
        std::process::exit(2)
    });
    let addr: SocketAddr = format!("{host}:{port}").parse().unwrap_or_else(|e| {
        eprintln!("bench_rustls_client: address: {e}");
        std::process::exit(2)
    });
    let (resume_cfg, full_cfg) = if plain {
        (None, None)
    } else {
        let ca = ca.unwrap_or_else(|| {
            eprintln!("bench_rustls_client: --ca is required");
            std::process::exit(2)
        });
        let mut roots = RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(&ca).unwrap_or_else(|e| {
            eprintln!("bench_rustls_client: {ca}: {e:?}");
            std::process::exit(2)
        }) {
            roots
                .add(c.expect("CA certificate"))
                .expect("CA certificate");
        }
        let roots = Arc::new(roots);
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let make = |resumption: Resumption| {
            let mut cfg = ClientConfig::builder_with_provider(provider.clone())
                .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
                .expect("versions")
                .with_root_certificates(roots.clone())
                .with_no_client_auth();
            cfg.resumption = resumption;
            Arc::new(cfg)
        };
        (
            Some(make(Resumption::default())),
            Some(make(Resumption::disabled())),
        )
    };
    let o = Opts {
        addr,
        name: ServerName::try_from(name).expect("server name"),
        plain,
        nodelay,
        unbuffered,
        resume_cfg,
        full_cfg,
    };
    match run(&o, &argv[i..]) {
        Ok(line) => println!("RESULT {line}"),
        Err(e) => {
            eprintln!("bench_rustls_client: {e}");
            std::process::exit(1)
        }
    }
}
