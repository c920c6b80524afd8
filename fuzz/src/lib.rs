//! What the sslsock fuzz targets share: a byte cursor (so that seed inputs can be written by hand, see
//! `seeds.py`), the set of Winsock codes a failing call may leave, the certificate hook, and the local
//! peers the `sequence` target talks to (threads of this process on 127.0.0.1, never a real network).
//!
//! The targets call sslsock's exported functions as Rust functions (the crate is also an rlib). Those
//! exports are the executable's `send`, `recv`, `close`, ... so the peers' own std::net calls go
//! through sslsock's plain-descriptor path too, exactly as under the preload.
#![allow(clippy::missing_safety_doc)]

use std::ffi::{c_int, c_void};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use sslsock::abi::*;
use sslsock::ffi;

// ---- input ----

/// Reads the fuzz input front to back; past the end every read gives zeros.
pub struct Cursor<'a> {
    data: &'a [u8],
}

impl<'a> Cursor<'a> {
    /// A cursor over `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Cursor { data }
    }

    /// Whether the input is used up.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// One byte.
    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    /// A little-endian u16.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    /// A little-endian u32.
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    /// Up to `n` bytes (fewer at the end of the input).
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.data.len());
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        head
    }

    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }
}

// ---- Winsock codes ----

/// Every Winsock code sslsock's error table can produce (src/error.rs), except WSAENETDOWN: that is
/// what `ffi::guard` answers for a caught panic, so it must never be seen here.
pub const KNOWN_WSA_CODES: &[c_int] = &[
    10004, 10009, 10013, 10014, 10022, 10024, 10035, 10036, 10037, 10038, 10039, 10040, 10041,
    10042, 10043, 10044, 10045, 10046, 10047, 10048, 10049, 10051, 10052, 10053, 10054, 10055,
    10056, 10057, 10058, 10059, 10060, 10061, 10062, 10063, 10064, 10065, 10066, 10068, 10069,
    10070, 10071, 10091, 10092, 10093,
];

/// WSAEFAULT.
pub const WSAEFAULT: c_int = 10014;
/// WSAEINVAL.
pub const WSAEINVAL: c_int = 10022;
/// WSAENOTSOCK.
pub const WSAENOTSOCK: c_int = 10038;
/// WSAEOPNOTSUPP.
pub const WSAEOPNOTSUPP: c_int = 10045;
/// WSAEINPROGRESS.
pub const WSAEINPROGRESS: c_int = 10036;
/// WSAESHUTDOWN.
pub const WSAESHUTDOWN: c_int = 10058;
/// WSAENOTCONN.
pub const WSAENOTCONN: c_int = 10057;

/// The calling thread's Winsock last error.
pub fn last_error() -> c_int {
    ffi::winsock::WSAGetLastError()
}

/// Clear the last error (and errno) before a call.
pub fn clear_error() {
    ffi::winsock::WSASetLastError(0);
}

/// After a call that returned `rc`: a failure (-1) must leave a known, non-zero Winsock code; any
/// other negative value is a bug. Returns the code (0 when the call succeeded).
#[track_caller]
pub fn check_rc(call: &str, rc: i64) -> c_int {
    assert!(
        rc >= -1,
        "{call}: returned {rc}, neither a result nor SOCKET_ERROR"
    );
    if rc != -1 {
        return 0;
    }
    let code = last_error();
    assert!(
        KNOWN_WSA_CODES.contains(&code),
        "{call}: SOCKET_ERROR with last error {code}, which is not a known WSAE code ({})",
        reason()
    );
    code
}

/// sslsock's reason for the last failure, for assertion messages.
pub fn reason() -> String {
    // SAFETY: sslsock_last_error_reason returns a valid C string (never NULL).
    unsafe { std::ffi::CStr::from_ptr(ffi::winsock::sslsock_last_error_reason()) }
        .to_string_lossy()
        .into_owned()
}

/// Run one library call, asserting that it returns within `limit` (the sequence target's ~2 s rule).
#[track_caller]
pub fn timed<T>(call: &str, limit: Duration, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let value = f();
    let took = start.elapsed();
    assert!(took <= limit, "{call}: took {took:?} (more than {limit:?})");
    value
}

// ---- descriptors ----

/// A descriptor number nothing in the process has open (below sslsock's bitmap limit of 2^20).
pub const NOT_OPEN_FD: c_int = 1_000_000;

/// A new TCP socket of sslsock's (`socket`), optionally made secure.
pub fn tcp_socket(secure: bool) -> c_int {
    let s = ffi::lifecycle::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
    assert!(s >= 0, "socket: {}", reason());
    if secure {
        set_secure(s);
    }
    s
}

/// setsockopt(SO_SECURE, SO_SEC_SSL), which must succeed.
pub fn set_secure(s: c_int) {
    let v: DWORD = SO_SEC_SSL;
    // SAFETY: a DWORD and its size.
    let rc = unsafe {
        ffi::options::setsockopt(
            s,
            libc::SOL_SOCKET,
            SO_SECURE as c_int,
            (&v as *const DWORD).cast(),
            4,
        )
    };
    assert_eq!(rc, 0, "setsockopt(SO_SECURE): {}", reason());
}

/// WSAIoctl with an input and no output; returns the Winsock code (0: success).
pub fn ioctl_in(s: c_int, code: DWORD, input: &[u8]) -> c_int {
    clear_error();
    let ptr = if input.is_empty() {
        std::ptr::null_mut()
    } else {
        input.as_ptr() as *mut c_void
    };
    // SAFETY: `input` is readable for its length; no output.
    let rc = unsafe {
        ffi::ioctl::WSAIoctl(
            s,
            code,
            ptr,
            input.len() as DWORD,
            std::ptr::null_mut(),
            0,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            None,
        )
    };
    check_rc("WSAIoctl", rc.into())
}

/// WSAIoctl with an output buffer of `len` bytes; the bytes returned, or the Winsock code.
pub fn ioctl_out(s: c_int, code: DWORD, len: usize) -> Result<Vec<u8>, c_int> {
    clear_error();
    let mut out = vec![0u8; len];
    let mut returned: DWORD = 0;
    // SAFETY: `out` is writable for its length; `returned` is a DWORD.
    let rc = unsafe {
        ffi::ioctl::WSAIoctl(
            s,
            code,
            std::ptr::null_mut(),
            0,
            out.as_mut_ptr().cast(),
            len as DWORD,
            &mut returned,
            std::ptr::null_mut(),
            None,
        )
    };
    match check_rc("WSAIoctl", rc.into()) {
        0 => {
            assert!(
                returned as usize <= len,
                "WSAIoctl({code:#x}) returned {returned} > {len}"
            );
            out.truncate(returned as usize);
            Ok(out)
        }
        e => Err(e),
    }
}

// ---- the certificate hook ----

/// Hook modes, passed as the hook's `pvArg`.
pub mod hook_mode {
    /// Accept every certificate.
    pub const ACCEPT: usize = 1;
    /// Refuse with SSL_ERR_CERT_UNKNOWN.
    pub const REJECT: usize = 2;
    /// Call back into the library on the same socket (each call must fail with WSAEINPROGRESS or
    /// answer what it knows), then accept.
    pub const REENTER: usize = 3;
    /// closesocket() the socket from inside the hook, then accept.
    pub const CLOSE_INSIDE: usize = 4;
    /// Accept only when sslsock found nothing wrong (dwFlags == 0), as most shipped hooks do.
    pub const FLAGS_ZERO: usize = 5;
}

/// The descriptor of the call the target is making (the socket whose handshake runs the hook).
pub static CURRENT_FD: AtomicI32 = AtomicI32::new(-1);
/// Set when the hook closed CURRENT_FD.
pub static CLOSED_IN_HOOK: AtomicBool = AtomicBool::new(false);

/// The CE validation hook for the fuzz targets; checks what sslsock hands it, then does as
/// `pvArg` (a `hook_mode`) says.
pub unsafe extern "C" fn fuzz_hook(
    dw_type: DWORD,
    pv_arg: LPVOID,
    chain_len: DWORD,
    chain: LPBLOB,
    flags: DWORD,
) -> c_int {
    assert_eq!(dw_type, SSL_CERT_X509, "hook: dwType");
    assert_eq!(chain_len, 1, "hook: dwChainLen");
    assert!(!chain.is_null(), "hook: pCertChain is NULL");
    assert!(
        flags & !SSL_CERT_FLAG_ISSUER_UNKNOWN == 0,
        "hook: unknown flags {flags:#x}"
    );
    // SAFETY: sslsock passes one BLOB; reading every byte lets ASan check the buffer.
    let blob = unsafe { *chain };
    assert!(
        blob.cbSize > 0 && !blob.pBlobData.is_null(),
        "hook: empty certificate"
    );
    // SAFETY: cbSize bytes at pBlobData, per the hook's contract.
    let der = unsafe { std::slice::from_raw_parts_mut(blob.pBlobData, blob.cbSize as usize) };
    assert_eq!(der[0], 0x30, "hook: the certificate is not DER");
    der.fill(0); // CE's BLOB is the hook's to scribble on
    let s = CURRENT_FD.load(Ordering::SeqCst);
    match pv_arg as usize {
        hook_mode::REJECT => SSL_ERR_CERT_UNKNOWN,
        hook_mode::REENTER => {
            reenter(s);
            SSL_ERR_OKAY
        }
        hook_mode::CLOSE_INSIDE => {
            let rc = ffi::lifecycle::closesocket(s);
            check_rc("closesocket (in the hook)", rc.into());
            CLOSED_IN_HOOK.store(true, Ordering::SeqCst);
            SSL_ERR_OKAY
        }
        hook_mode::FLAGS_ZERO if flags != 0 => SSL_ERR_CERT_UNKNOWN,
        _ => SSL_ERR_OKAY,
    }
}

/// Calls on the socket whose handshake is running, from inside its hook (docs/architecture.md: they
/// fail with WSAEINPROGRESS; reading settings works).
fn reenter(s: c_int) {
    let busy = |call: &str, code: c_int, also: &[c_int]| {
        assert!(
            code == WSAEINPROGRESS || also.contains(&code),
            "{call} from inside the hook: WSA {code}, expected WSAEINPROGRESS ({})",
            reason()
        );
    };
    assert!(
        ioctl_out(s, SO_SSL_GET_FLAGS, 4).is_ok(),
        "GET_FLAGS from the hook: {}",
        reason()
    );
    clear_error();
    // SAFETY: one readable byte.
    let rc = unsafe { ffi::io::send(s, b"x".as_ptr().cast(), 1, 0) };
    assert_eq!(rc, -1, "send from inside the hook succeeded");
    busy("send", check_rc("send", rc as i64), &[WSAESHUTDOWN]);
    let mut b = [0u8; 4];
    clear_error();
    // SAFETY: four writable bytes.
    let rc = unsafe { ffi::io::recv(s, b.as_mut_ptr().cast(), 4, 0) };
    assert_eq!(rc, -1, "recv from inside the hook succeeded");
    busy("recv", check_rc("recv", rc as i64), &[WSAESHUTDOWN]);
    busy(
        "PERFORM_HANDSHAKE",
        ioctl_in(s, SO_SSL_PERFORM_HANDSHAKE, &[]),
        &[],
    );
    busy(
        "SET_PEERNAME",
        ioctl_in(s, SO_SSL_SET_PEERNAME, b"localhost\0"),
        &[],
    );
    busy(
        "GET_CONNECTION_INFO",
        ioctl_out(s, SO_SSL_GET_CONNECTION_INFO, 28).unwrap_err(),
        &[],
    );
}

/// The bytes of an `SSLVALIDATECERTHOOK` for `fuzz_hook` in `mode` (0: a NULL hook).
pub fn hook_bytes(mode: usize) -> [u8; 16] {
    let func: SSLVALIDATECERTFUNC = if mode == 0 { None } else { Some(fuzz_hook) };
    let raw = SSLVALIDATECERTHOOK {
        HookFunc: func,
        pvArg: mode as LPVOID,
    };
    // SAFETY: SSLVALIDATECERTHOOK is two pointers, 16 bytes, no padding.
    unsafe { std::mem::transmute::<SSLVALIDATECERTHOOK, [u8; 16]>(raw) }
}

// ---- the local peers ----

/// What a peer does with a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    /// Echoes every byte until the client closes.
    Echo,
    /// Closes at once.
    CloseNow,
    /// Sends the bytes last given to `set_garbage`, then reads and discards until the client closes.
    Garbage,
    /// Reads and discards, never writes.
    Silent,
    /// Plaintext echo until a TLS ClientHello arrives, then TLS 1.2/1.3 (a certificate for localhost and
    /// 127.0.0.1 signed by the CA in SSL_CERT_FILE), echoing; answers close_notify with its own.
    Tls,
    /// As `Tls`, TLS 1.2 only.
    Tls12,
    /// As `Tls`, TLS 1.3 only.
    Tls13,
    /// As `Tls`, but after the first echo it closes TCP without close_notify.
    TlsNoNotify,
    /// As `Tls`, but the first echo is half a record, then TCP close.
    TlsTruncate,
}

/// Every peer kind, in a fixed order (the targets index it).
pub const PEERS: [Peer; 9] = [
    Peer::Echo,
    Peer::CloseNow,
    Peer::Garbage,
    Peer::Silent,
    Peer::Tls,
    Peer::Tls12,
    Peer::Tls13,
    Peer::TlsNoNotify,
    Peer::TlsTruncate,
];

/// The peers' ports, and a port where nothing listens.
pub struct Peers {
    ports: Vec<(Peer, u16)>,
    /// A port that was free a moment ago (connect → ECONNREFUSED).
    pub refused: u16,
}

impl Peers {
    /// The port of `peer`.
    pub fn port(&self, peer: Peer) -> u16 {
        self.ports
            .iter()
            .find(|(p, _)| *p == peer)
            .map(|(_, port)| *port)
            .unwrap_or(0)
    }
}

static GARBAGE: Mutex<Vec<u8>> = Mutex::new(Vec::new());

/// What the `Garbage` peer sends to its next connection.
pub fn set_garbage(bytes: &[u8]) {
    *GARBAGE.lock().unwrap_or_else(|e| e.into_inner()) = bytes.to_vec();
}

/// Prepare the process: make the test CA, point SSL_CERT_FILE at it (before sslsock reads its
/// settings), start the peers, install the SIGPIPE check. Call first, from the target's `init`.
pub fn init() -> &'static Peers {
    static PEERS_STARTED: OnceLock<Peers> = OnceLock::new();
    PEERS_STARTED.get_or_init(|| {
        install_sigpipe_check();
        start_peers()
    })
}

/// Set while the target calls the library on a secure socket.
pub static SECURE_CALL: AtomicBool = AtomicBool::new(false);

/// SIGPIPE (a send on a connection the peer closed) is libc's answer on a plain socket, which the
/// harness ignores; on a secure socket sslsock must never raise it (it sends with MSG_NOSIGNAL; a CE
/// program has no SIGPIPE handler): then the handler aborts, and libFuzzer reports the stack.
fn install_sigpipe_check() {
    extern "C" fn on_sigpipe(_: c_int) {
        if SECURE_CALL.load(Ordering::SeqCst) {
            const MSG: &[u8] = b"sslsock-fuzz: SIGPIPE raised during a call on a secure socket\n";
            // SAFETY: write(2) and abort(3) are async-signal-safe.
            unsafe {
                libc::syscall(libc::SYS_write, 2, MSG.as_ptr(), MSG.len());
                libc::abort();
            }
        }
    }
    // SAFETY: a handler that only reads an atomic and calls async-signal-safe functions.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigpipe as extern "C" fn(c_int) as usize;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGPIPE, &action, std::ptr::null_mut());
    }
}

struct Pki {
    chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    key: Vec<u8>,
    ca_pem: String,
}

fn make_pki() -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "sslsock fuzz CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = ca_params.self_signed(&ca_key).expect("CA certificate");
    let leaf_key = KeyPair::generate().expect("leaf key");
    let mut leaf_params =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .expect("leaf params");
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    leaf_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let leaf = leaf_params
        .signed_by(&leaf_key, &ca, &ca_key)
        .expect("leaf certificate");
    Pki {
        chain: vec![leaf.der().clone(), ca.der().clone()],
        key: leaf_key.serialize_der(),
        ca_pem: ca.pem(),
    }
}

fn start_peers() -> Peers {
    let pki = make_pki();
    let ca_file = std::env::temp_dir().join(format!("sslsock-fuzz-ca-{}.pem", std::process::id()));
    std::fs::write(&ca_file, &pki.ca_pem).expect("write the test CA");
    remove_at_exit(&ca_file);
    std::env::set_var("SSL_CERT_FILE", &ca_file);
    std::env::remove_var("SSL_CERT_DIR");

    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = |versions: &[&'static rustls::SupportedProtocolVersion]| {
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(pki.key.clone().into());
        Arc::new(
            rustls::ServerConfig::builder_with_provider(provider.clone())
                .with_protocol_versions(versions)
                .expect("versions")
                .with_no_client_auth()
                .with_single_cert(pki.chain.clone(), key)
                .expect("server certificate"),
        )
    };
    let both = config(&[&rustls::version::TLS12, &rustls::version::TLS13]);
    let tls12 = config(&[&rustls::version::TLS12]);
    let tls13 = config(&[&rustls::version::TLS13]);

    let mut ports = Vec::new();
    for peer in PEERS {
        let listener = TcpListener::bind("127.0.0.1:0").expect("listen on 127.0.0.1");
        ports.push((peer, listener.local_addr().expect("port").port()));
        let cfg = match peer {
            Peer::Tls12 => Some(tls12.clone()),
            Peer::Tls13 => Some(tls13.clone()),
            Peer::Tls | Peer::TlsNoNotify | Peer::TlsTruncate => Some(both.clone()),
            _ => None,
        };
        std::thread::Builder::new()
            .name(format!("peer {peer:?}"))
            .spawn(move || accept_loop(listener, peer, cfg))
            .expect("peer thread");
    }
    let refused = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    Peers { ports, refused }
}

/// Delete `path` when the process exits normally (libFuzzer ends a timed run with exit()).
fn remove_at_exit(path: &std::path::Path) {
    static PATH: OnceLock<std::ffi::CString> = OnceLock::new();
    extern "C" fn remove() {
        if let Some(p) = PATH.get() {
            // SAFETY: a NUL-terminated path.
            unsafe { libc::unlink(p.as_ptr()) };
        }
    }
    use std::os::unix::ffi::OsStrExt;
    if let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) {
        if PATH.set(c).is_ok() {
            // SAFETY: registering a function that only reads a static.
            unsafe { libc::atexit(remove) };
        }
    }
}

fn accept_loop(listener: TcpListener, peer: Peer, cfg: Option<Arc<rustls::ServerConfig>>) {
    loop {
        let Ok((stream, _)) = listener.accept() else {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        let cfg = cfg.clone();
        let garbage = (peer == Peer::Garbage)
            .then(|| GARBAGE.lock().unwrap_or_else(|e| e.into_inner()).clone());
        let _ = std::thread::Builder::new()
            .name("peer connection".into())
            .spawn(move || serve(stream, peer, cfg, garbage));
    }
}

fn discard_until_eof(mut stream: TcpStream) {
    let mut buf = [0u8; 16384];
    while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
}

fn serve(
    mut stream: TcpStream,
    peer: Peer,
    cfg: Option<Arc<rustls::ServerConfig>>,
    garbage: Option<Vec<u8>>,
) {
    // No connection outlives a forgotten client by much.
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    match peer {
        Peer::CloseNow => {}
        Peer::Silent => discard_until_eof(stream),
        Peer::Garbage => {
            let _ = stream.write_all(&garbage.unwrap_or_default());
            discard_until_eof(stream);
        }
        Peer::Echo => {
            let mut buf = [0u8; 16384];
            while let Ok(n @ 1..) = stream.read(&mut buf) {
                if stream.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
        _ => {
            if let Some(cfg) = cfg {
                serve_tls(stream, peer, cfg);
            }
        }
    }
}

/// Where a TLS record header (handshake, TLS 1.0-1.3 record version) starts in `buf`.
fn client_hello_at(buf: &[u8]) -> Option<usize> {
    buf.windows(3)
        .position(|w| w[0] == 0x16 && w[1] == 3 && (1..=4).contains(&w[2]))
}

/// The TCP stream with bytes already read in front of it.
struct Prefixed {
    front: Vec<u8>,
    stream: TcpStream,
}

impl Read for Prefixed {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.front.is_empty() {
            return self.stream.read(buf);
        }
        let n = self.front.len().min(buf.len());
        buf[..n].copy_from_slice(&self.front[..n]);
        self.front.drain(..n);
        Ok(n)
    }
}

impl Write for Prefixed {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.stream.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.stream.flush()
    }
}

fn serve_tls(mut stream: TcpStream, peer: Peer, cfg: Arc<rustls::ServerConfig>) {
    let mut buf = vec![0u8; 32768];
    // The deferred window: echo plaintext until the ClientHello.
    let front = loop {
        let n = match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        match client_hello_at(&buf[..n]) {
            Some(at) => {
                if stream.write_all(&buf[..at]).is_err() {
                    return;
                }
                break buf[at..n].to_vec();
            }
            None => {
                if stream.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    };
    let Ok(conn) = rustls::ServerConnection::new(cfg) else {
        return;
    };
    let raw = stream.try_clone();
    let mut tls = rustls::StreamOwned::new(conn, Prefixed { front, stream });
    loop {
        let n = match tls.read(&mut buf) {
            Ok(0) => {
                tls.conn.send_close_notify();
                let _ = tls.flush();
                return;
            }
            Ok(n) => n,
            Err(_) => return,
        };
        match peer {
            Peer::TlsNoNotify => {
                let _ = tls.write_all(&buf[..n]);
                let _ = tls.flush();
                if let Ok(raw) = &raw {
                    let _ = raw.shutdown(Shutdown::Both);
                }
                return;
            }
            Peer::TlsTruncate => {
                let _ = tls.conn.writer().write_all(&buf[..n]);
                let mut records = Vec::new();
                while tls.conn.wants_write() {
                    if tls.conn.write_tls(&mut records).is_err() {
                        break;
                    }
                }
                if let Ok(raw) = &raw {
                    let mut raw: &TcpStream = raw;
                    let _ = raw.write_all(&records[..records.len() / 2]);
                    let _ = raw.shutdown(Shutdown::Both);
                }
                return;
            }
            _ => {
                if tls.write_all(&buf[..n]).is_err() || tls.flush().is_err() {
                    return;
                }
            }
        }
    }
}

// ---- name shapes (names and sequence targets) ----

/// The shapes in which CE programs pass a server name to SET_PEERNAME / PERFORM_HANDSHAKE, plus
/// wrong ones. Returns the buffer and the length to pass (`None` buffer: a NULL pointer).
pub fn name_shape(shape: u8, name: &[u8]) -> (Option<Vec<u8>>, usize) {
    let wide = |terminated: bool| {
        let mut w: Vec<u8> = name.iter().flat_map(|&b| [b, 0]).collect();
        if terminated {
            w.extend_from_slice(&[0, 0]);
        }
        w
    };
    match shape % 8 {
        0 => (Some(name.to_vec()), name.len()), // (name, strlen): not terminated
        1 => {
            let mut v = name.to_vec();
            v.push(0);
            let n = v.len();
            (Some(v), n) // (name, strlen + 1)
        }
        2 => {
            let w = wide(true);
            let n = w.len();
            (Some(w), n) // a wide (UTF-16LE) string
        }
        3 => {
            let w = wide(false);
            let n = w.len();
            (Some(w), n)
        }
        4 => (Some(Vec::new()), 0),     // empty, non-NULL
        5 => (None, 0),                 // (NULL, 0)
        6 => (None, name.len().max(1)), // NULL with a length: WSAEFAULT
        _ => {
            // The length stops inside the name (a caller's strlen of another string).
            let n = name.len() / 2;
            (Some(name.to_vec()), n)
        }
    }
}

/// WSAIoctl with a name in the given shape; the Winsock code.
pub fn ioctl_name(s: c_int, code: DWORD, shape: u8, name: &[u8]) -> c_int {
    let (buf, len) = name_shape(shape, name);
    let ptr = buf
        .as_ref()
        .map_or(std::ptr::null_mut(), |b| b.as_ptr() as *mut c_void);
    // An exact-size copy so that ASan sees any read past `len`.
    let exact: Option<Vec<u8>> = buf.as_ref().map(|b| b[..len.min(b.len())].to_vec());
    let ptr = match &exact {
        Some(e) if !e.is_empty() => e.as_ptr() as *mut c_void,
        Some(_) => ptr,
        None => std::ptr::null_mut(),
    };
    clear_error();
    // SAFETY: `ptr` is NULL or readable for `len` bytes (exact copy).
    let rc = unsafe {
        ffi::ioctl::WSAIoctl(
            s,
            code,
            ptr,
            len as DWORD,
            std::ptr::null_mut(),
            0,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            None,
        )
    };
    check_rc("WSAIoctl(name)", rc.into())
}
