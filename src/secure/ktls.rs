//! Kernel TLS (kTLS), optional (`SSLSOCK_KTLS=1`): once a connection is established and quiet, its
//! record keys go to the kernel (`TCP_ULP` "tls", then `SOL_TLS` `TLS_TX`/`TLS_RX`), and from then on the
//! kernel encrypts what `send` gives it and decrypts what `recv` takes (phase `Kernel`).
//!
//! Detected at run time and used only when the kernel offers it: a kernel without the `tls` upper layer
//! answers the `TCP_ULP` probe with ENOENT (or ENOPROTOOPT / EOPNOTSUPP); that is remembered for the
//! process, logged once, and rustls keeps doing the records, as it always does with the setting off.
//!
//! The switch happens only when nothing is in flight inside sslsock: no ciphertext waiting for rustls
//! and the stream at a record boundary, no decrypted data unread, nothing to send. It is tried at the end
//! of the handshake and at the start of each `send`/`recv` until it happens (or is found impossible).
//! Whether the kernel takes the version and cipher is asked first on a throwaway loopback connection,
//! because once rustls has handed its secrets over the connection cannot go back to rustls: a refusal
//! after that fails the socket (WSAECONNABORTED).
//!
//! What kernel TLS cannot do here (why it is opt-in): rustls' buffered connection gives its secrets
//! away once, so TLS 1.3 session tickets that arrive after the switch are not stored (they are skipped),
//! and a server's TLS 1.3 KeyUpdate cannot be followed (the socket fails, saying so). rustls' own
//! key-update before the AES-GCM confidentiality limit does not happen either.

use std::ffi::c_int;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use rustls::{CipherSuite, ConnectionTrafficSecrets, ProtocolVersion};

use super::socket::{Inbound, Outbound, Phase, SecureSocket, Session, Step};
use crate::error::{Error, Result, WsaCode};
use crate::fork::lock;
use crate::log::log;
use crate::settings::{self, Level};
use crate::sys::fd;

/// `SOL_TLS` (linux/socket.h).
pub(crate) const SOL_TLS: c_int = 282;
/// `TLS_TX`: the send direction's keys (linux/tls.h).
pub(crate) const TLS_TX: c_int = 1;
/// `TLS_RX`: the receive direction's keys.
pub(crate) const TLS_RX: c_int = 2;
/// Control message naming the type of the record `sendmsg` makes.
pub(crate) const TLS_SET_RECORD_TYPE: c_int = 1;
/// Control message giving the type of the record `recvmsg` read.
pub(crate) const TLS_GET_RECORD_TYPE: c_int = 2;
/// `TLS_1_2_VERSION`.
pub(crate) const TLS_1_2_VERSION: u16 = 0x0303;
/// `TLS_1_3_VERSION`.
pub(crate) const TLS_1_3_VERSION: u16 = 0x0304;
/// `TLS_CIPHER_AES_GCM_128`.
pub(crate) const TLS_CIPHER_AES_GCM_128: u16 = 51;
/// `TLS_CIPHER_AES_GCM_256`.
pub(crate) const TLS_CIPHER_AES_GCM_256: u16 = 52;
/// `TLS_CIPHER_CHACHA20_POLY1305`.
pub(crate) const TLS_CIPHER_CHACHA20_POLY1305: u16 = 54;
/// `TCP_ULP` (linux/tcp.h).
const TCP_ULP: c_int = 31;

/// TLS record content types.
const RECORD_ALERT: u8 = 21;
const RECORD_HANDSHAKE: u8 = 22;
const RECORD_DATA: u8 = 23;

/// Largest plaintext of one record (2^14): a buffer this big takes any whole record.
const PLAINTEXT_MAX: usize = 16 * 1024;

/// `struct tls_crypto_info`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TlsCryptoInfo {
    /// TLS_1_2_VERSION or TLS_1_3_VERSION.
    pub version: u16,
    /// TLS_CIPHER_*.
    pub cipher_type: u16,
}

/// `struct tls12_crypto_info_aes_gcm_128`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AesGcm128Info {
    /// Version and cipher.
    pub info: TlsCryptoInfo,
    /// The last 8 bytes of the 12-byte nonce base (TLS 1.2: the first explicit nonce to send).
    pub iv: [u8; 8],
    /// The key.
    pub key: [u8; 16],
    /// The first 4 bytes of the nonce base.
    pub salt: [u8; 4],
    /// The sequence number of the next record, big-endian.
    pub rec_seq: [u8; 8],
}

/// `struct tls12_crypto_info_aes_gcm_256`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AesGcm256Info {
    /// Version and cipher.
    pub info: TlsCryptoInfo,
    /// As in [`AesGcm128Info`].
    pub iv: [u8; 8],
    /// The key.
    pub key: [u8; 32],
    /// As in [`AesGcm128Info`].
    pub salt: [u8; 4],
    /// As in [`AesGcm128Info`].
    pub rec_seq: [u8; 8],
}

/// `struct tls12_crypto_info_chacha20_poly1305`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Chacha20Poly1305Info {
    /// Version and cipher.
    pub info: TlsCryptoInfo,
    /// The whole 12-byte nonce base.
    pub iv: [u8; 12],
    /// The key.
    pub key: [u8; 32],
    /// `salt[TLS_CIPHER_CHACHA20_POLY1305_SALT_SIZE]`: no bytes.
    pub salt: [u8; 0],
    /// The sequence number of the next record, big-endian.
    pub rec_seq: [u8; 8],
}

/// The `TLS_TX` / `TLS_RX` argument for one direction. Zeroed when dropped (it holds a key).
#[derive(Debug, PartialEq, Eq)]
pub enum CryptoInfo {
    /// AES-128-GCM.
    AesGcm128(AesGcm128Info),
    /// AES-256-GCM.
    AesGcm256(AesGcm256Info),
    /// ChaCha20-Poly1305.
    Chacha20Poly1305(Chacha20Poly1305Info),
}

impl CryptoInfo {
    /// The bytes `setsockopt` is given.
    fn as_bytes(&self) -> &[u8] {
        fn bytes<T>(value: &T) -> &[u8] {
            // SAFETY: `T` is one of the #[repr(C)] structs above: plain bytes and u16s with no padding
            // (their sizes are tested), so all `size_of::<T>()` bytes are initialised.
            unsafe { std::slice::from_raw_parts((value as *const T).cast::<u8>(), size_of::<T>()) }
        }
        match self {
            CryptoInfo::AesGcm128(i) => bytes(i),
            CryptoInfo::AesGcm256(i) => bytes(i),
            CryptoInfo::Chacha20Poly1305(i) => bytes(i),
        }
    }

    /// The cipher type it carries.
    pub fn cipher_type(&self) -> u16 {
        match self {
            CryptoInfo::AesGcm128(i) => i.info.cipher_type,
            CryptoInfo::AesGcm256(i) => i.info.cipher_type,
            CryptoInfo::Chacha20Poly1305(i) => i.info.cipher_type,
        }
    }
}

impl Drop for CryptoInfo {
    fn drop(&mut self) {
        fn wipe<T: Default>(value: &mut T) {
            // SAFETY: a valid, aligned &mut T; the volatile write keeps the wipe from being elided.
            unsafe { std::ptr::write_volatile(value, T::default()) }
        }
        match self {
            CryptoInfo::AesGcm128(i) => wipe(i),
            CryptoInfo::AesGcm256(i) => wipe(i),
            CryptoInfo::Chacha20Poly1305(i) => wipe(i),
        }
    }
}

/// The direction a [`CryptoInfo`] is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// `TLS_TX`.
    Send,
    /// `TLS_RX`.
    Receive,
}

/// The kernel's version number for a negotiated protocol version (None: not one the kernel takes).
pub fn kernel_version(version: ProtocolVersion) -> Option<u16> {
    match version {
        ProtocolVersion::TLSv1_2 => Some(TLS_1_2_VERSION),
        ProtocolVersion::TLSv1_3 => Some(TLS_1_3_VERSION),
        _ => None,
    }
}

/// The kernel's cipher type for a negotiated suite (None: not one the kernel takes).
pub fn kernel_cipher(suite: CipherSuite) -> Option<u16> {
    match suite {
        CipherSuite::TLS13_AES_128_GCM_SHA256
        | CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
        | CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => Some(TLS_CIPHER_AES_GCM_128),
        CipherSuite::TLS13_AES_256_GCM_SHA384
        | CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
        | CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => Some(TLS_CIPHER_AES_GCM_256),
        CipherSuite::TLS13_CHACHA20_POLY1305_SHA256
        | CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
        | CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 => {
            Some(TLS_CIPHER_CHACHA20_POLY1305)
        }
        _ => None,
    }
}

/// TLS 1.2 AES-GCM, sending: the kernel puts its `iv` in each record as the explicit nonce and adds one
/// per record, whereas rustls used `iv ^ seq` for the records `0..seq` it sent under the same key. So that
/// no nonce is used twice, the kernel starts past every one rustls used: those differ from `iv` only in
/// the low bits `seq - 1` spans, so the next block of that size is free, and counting up from there would
/// take about 2^64 records to come back to it.
pub fn tls12_gcm_send_start(explicit: u64, seq: u64) -> u64 {
    if seq == 0 {
        return explicit;
    }
    let bits = 64 - (seq - 1).leading_zeros();
    let low = if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    (explicit | low).wrapping_add(1)
}

/// The argument of `TLS_TX`/`TLS_RX` from its parts: `cipher` a `TLS_CIPHER_*`, `key` of the cipher's
/// length, `iv` the 12-byte nonce base, `seq` the next record's sequence number. None when they disagree.
pub fn crypto_info_from_parts(
    version: u16,
    cipher: u16,
    key: &[u8],
    iv: &[u8; 12],
    seq: u64,
    direction: Direction,
) -> Option<CryptoInfo> {
    let info = TlsCryptoInfo {
        version,
        cipher_type: cipher,
    };
    let rec_seq = seq.to_be_bytes();
    if version != TLS_1_2_VERSION && version != TLS_1_3_VERSION {
        return None;
    }
    let mut salt = [0u8; 4];
    salt.copy_from_slice(&iv[..4]);
    let mut explicit = [0u8; 8];
    explicit.copy_from_slice(&iv[4..]);
    if version == TLS_1_2_VERSION && direction == Direction::Send {
        // (Receiving, the kernel reads each record's explicit nonce from the record.)
        explicit = tls12_gcm_send_start(u64::from_be_bytes(explicit), seq).to_be_bytes();
    }
    match cipher {
        TLS_CIPHER_AES_GCM_128 => Some(CryptoInfo::AesGcm128(AesGcm128Info {
            info,
            iv: explicit,
            key: key.try_into().ok()?,
            salt,
            rec_seq,
        })),
        TLS_CIPHER_AES_GCM_256 => Some(CryptoInfo::AesGcm256(AesGcm256Info {
            info,
            iv: explicit,
            key: key.try_into().ok()?,
            salt,
            rec_seq,
        })),
        TLS_CIPHER_CHACHA20_POLY1305 => Some(CryptoInfo::Chacha20Poly1305(Chacha20Poly1305Info {
            info,
            iv: *iv,
            key: key.try_into().ok()?,
            salt: [],
            rec_seq,
        })),
        _ => None,
    }
}

/// The argument of `TLS_TX`/`TLS_RX` from what rustls hands over. The GCM variants are told apart by the
/// key's length (older rustls reported 256-bit TLS 1.2 keys as `Aes128Gcm`).
pub fn crypto_info(
    version: u16,
    secrets: &ConnectionTrafficSecrets,
    seq: u64,
    direction: Direction,
) -> Option<CryptoInfo> {
    let (cipher, key, iv) = match secrets {
        ConnectionTrafficSecrets::Aes128Gcm { key, iv }
        | ConnectionTrafficSecrets::Aes256Gcm { key, iv } => {
            let cipher = match key.as_ref().len() {
                16 => TLS_CIPHER_AES_GCM_128,
                32 => TLS_CIPHER_AES_GCM_256,
                _ => return None,
            };
            (cipher, key, iv)
        }
        ConnectionTrafficSecrets::Chacha20Poly1305 { key, iv } => {
            (TLS_CIPHER_CHACHA20_POLY1305, key, iv)
        }
        _ => return None,
    };
    let iv: &[u8; 12] = iv.as_ref().try_into().ok()?;
    crypto_info_from_parts(version, cipher, key.as_ref(), iv, seq, direction)
}

// ---- the kernel's side, process-wide ----

/// Set once a `TCP_ULP` probe said the kernel has no `tls` upper layer.
static UNAVAILABLE: AtomicBool = AtomicBool::new(false);

/// Whether kernel TLS is wanted (`SSLSOCK_KTLS`) and not known to be missing.
pub fn wanted() -> bool {
    settings::get().ktls && !UNAVAILABLE.load(Ordering::Relaxed)
}

fn errno_name(errno: c_int) -> String {
    let name = match errno {
        libc::ENOENT => "ENOENT",
        libc::ENOPROTOOPT => "ENOPROTOOPT",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::EINVAL => "EINVAL",
        libc::EEXIST => "EEXIST",
        libc::ENOTCONN => "ENOTCONN",
        libc::EBUSY => "EBUSY",
        libc::ENOMEM => "ENOMEM",
        libc::EPERM => "EPERM",
        _ => "",
    };
    let words = std::io::Error::from_raw_os_error(errno).to_string();
    let words = words.split(" (os error").next().unwrap_or_default();
    if name.is_empty() {
        format!("errno {errno}: {words}")
    } else {
        format!("{name}: {words}")
    }
}

/// Attach the `tls` upper layer to a connected TCP socket. Until keys are given the socket behaves as
/// before (the kernel's TLS_BASE mode passes everything through).
fn attach_ulp(fd: c_int) -> std::result::Result<(), c_int> {
    match fd::set_option(fd, libc::SOL_TCP, TCP_ULP, b"tls\0") {
        Err(libc::EEXIST) => Ok(()), // attached by an earlier attempt on this socket
        other => other,
    }
}

/// Whether an errno from the `TCP_ULP` probe means this kernel has no kernel TLS.
fn means_unavailable(errno: c_int) -> bool {
    matches!(errno, libc::ENOENT | libc::ENOPROTOOPT | libc::EOPNOTSUPP)
}

/// Record that the kernel has no kernel TLS; logs once per process.
fn mark_unavailable(errno: c_int) {
    if !UNAVAILABLE.swap(true, Ordering::Relaxed) {
        log!(
            Level::Info,
            "kernel TLS not offered by this kernel (TCP_ULP tls: {}): rustls does the records",
            errno_name(errno)
        );
    }
}

/// A (version, cipher) pair asked about, and the kernel's answer.
struct Asked {
    pair: (u16, u16),
    answer: std::result::Result<(), String>,
}

/// The pairs asked about so far (lock 4 of the order in `fork`'s note).
static ASKED: Mutex<Vec<Asked>> = Mutex::new(Vec::new());

/// The kernel's answers held locked across `fork` (see `hold_for_fork`).
pub struct HeldAnswers {
    _guard: MutexGuard<'static, Vec<Asked>>,
}

/// Lock the kernel's answers until the result is dropped (`fork`'s `prepare` to `parent`/`child`).
pub fn hold_for_fork() -> HeldAnswers {
    HeldAnswers {
        _guard: lock(&ASKED),
    }
}

/// Whether the kernel takes keys of this version and cipher: asked once per pair, on a throwaway
/// loopback connection given zero keys (so that a refusal never reaches a real connection).
fn kernel_takes(version: u16, cipher: u16) -> std::result::Result<(), String> {
    let pair = (version, cipher);
    if let Some(asked) = lock(&ASKED).iter().find(|a| a.pair == pair) {
        return asked.answer.clone();
    }
    let answer = probe_loopback(version, cipher);
    lock(&ASKED).push(Asked {
        pair,
        answer: answer.clone(),
    });
    answer
}

/// A connected loopback TCP socket given zero keys for `version`/`cipher` in both directions.
pub fn probe_loopback(version: u16, cipher: u16) -> std::result::Result<(), String> {
    let (client, _listener) =
        fd::loopback_connection().map_err(|(what, e)| format!("{what}: {}", errno_name(e)))?;
    attach_ulp(client.raw()).map_err(|e| format!("TCP_ULP tls: {}", errno_name(e)))?;
    let zero_key = [0u8; 32];
    let key_len = if cipher == TLS_CIPHER_AES_GCM_128 {
        16
    } else {
        32
    };
    for (name, option, direction) in [
        ("TLS_TX", TLS_TX, Direction::Send),
        ("TLS_RX", TLS_RX, Direction::Receive),
    ] {
        let info = crypto_info_from_parts(
            version,
            cipher,
            &zero_key[..key_len],
            &[0; 12],
            0,
            direction,
        )
        .ok_or_else(|| format!("no kernel structure for cipher {cipher}"))?;
        fd::set_option(client.raw(), SOL_TLS, option, info.as_bytes())
            .map_err(|e| format!("{name}: {}", errno_name(e)))?;
    }
    Ok(())
}

// ---- records on a kernel TLS socket ----

/// `recvmsg` on a kernel TLS socket, never waiting: the bytes read and the type of their record (None
/// when the kernel gave no record type: the end of the stream).
fn recv_record(
    fd: c_int,
    buf: &mut [u8],
    flags: c_int,
) -> std::result::Result<(usize, Option<u8>), c_int> {
    fd::recv_with_control(fd, buf, flags, SOL_TLS, TLS_GET_RECORD_TYPE)
}

/// Send a close_notify alert (warning level, description 0) as a record of type alert. Never waits.
pub fn send_close_notify(fd: c_int) -> std::result::Result<(), c_int> {
    fd::send_with_control(fd, &[1, 0], SOL_TLS, TLS_SET_RECORD_TYPE, RECORD_ALERT).map(|_| ())
}

/// A socket whose records the kernel does (phase `Kernel`).
#[derive(Debug)]
pub(super) struct KernelSession {
    /// TLS_1_2_VERSION or TLS_1_3_VERSION.
    version: u16,
    /// The server's close_notify was read: the end of the data.
    pub(super) peer_closed: bool,
    /// Bytes of a handshake message that go on in the next handshake record.
    handshake_left: usize,
}

/// What comes next in the kernel's stream of decrypted records.
enum Head {
    /// Application data.
    Data,
    /// The end of the data (close_notify, or the end of the TCP stream).
    End,
    /// Nothing yet.
    Nothing,
}

impl SecureSocket {
    /// Hand the connection's records to the kernel if kernel TLS is wanted, the socket is established and
    /// quiet, and the kernel takes it. Called with no lock held; never waits for a lock (tried later when
    /// a reader or writer is busy).
    pub(super) fn maybe_kernel(&self) {
        if !wanted() {
            return;
        }
        let Some(mut inbound) = self.inbound.try_lock() else {
            return;
        };
        let mut session = self.state.lock();
        if !session.kernel_wanted {
            return;
        }
        let Some(mut out) = self.outbound.try_lock() else {
            return;
        };
        self.switch_to_kernel(&mut inbound, &mut session, &mut out);
    }

    /// The switch itself, under the three locks.
    fn switch_to_kernel(&self, inbound: &mut Inbound, session: &mut Session, out: &mut Outbound) {
        let fd = self.fd();
        if session.read_shut || session.write_shut {
            session.kernel_wanted = false;
            return;
        }
        let Phase::Established(conn) = &mut session.phase else {
            if !matches!(session.phase, Phase::Handshake(_) | Phase::Handshaking(_)) {
                session.kernel_wanted = false;
            }
            return;
        };
        // Quiet: rustls holds no part of a record, no unread plaintext, nothing to send.
        let quiet_input =
            inbound.start == inbound.end && !inbound.eof && inbound.records.at_boundary();
        if !quiet_input || !out.is_empty() || conn.wants_write() || conn.is_handshaking() {
            return;
        }
        match conn.process_new_packets() {
            Ok(io) if io.peer_has_closed() => {
                session.kernel_wanted = false;
                return;
            }
            Ok(io) if io.plaintext_bytes_to_read() == 0 => {}
            _ => return,
        }
        let version = conn.protocol_version().and_then(kernel_version);
        let suite = conn.negotiated_cipher_suite().map(|s| s.suite());
        let (Some(version), Some(cipher)) = (version, suite.and_then(kernel_cipher)) else {
            session.kernel_wanted = false;
            log!(
                Level::Debug,
                "fd {fd}: kernel TLS does not take {:?} {:?}: rustls does the records",
                conn.protocol_version(),
                suite
            );
            return;
        };
        if let Err(errno) = attach_ulp(fd) {
            session.kernel_wanted = false;
            if means_unavailable(errno) {
                mark_unavailable(errno);
            } else {
                log!(
                    Level::Debug,
                    "fd {fd}: TCP_ULP tls: {}: rustls does the records",
                    errno_name(errno)
                );
            }
            return;
        }
        if let Err(why) = kernel_takes(version, cipher) {
            // The upper layer is attached but has no keys: the socket passes bytes through as before.
            session.kernel_wanted = false;
            log!(
                Level::Debug,
                "fd {fd}: kernel TLS refuses {:?} {:?} ({why}): rustls does the records",
                conn.protocol_version(),
                suite
            );
            return;
        }
        // From here on there is no way back to rustls.
        session.kernel_wanted = false;
        let placeholder = Error::new(WsaCode::ECONNABORTED, "kernel TLS: switching");
        let Phase::Established(conn) =
            std::mem::replace(&mut session.phase, Phase::Failed(placeholder))
        else {
            return;
        };
        let failed = |why: String| {
            let error = Error::new(
                WsaCode::ECONNABORTED,
                format!("kernel TLS: {why}; the connection cannot continue (SSLSOCK_KTLS=0 avoids this)"),
            );
            log!(Level::Error, "fd {fd}: {}", error.reason());
            Phase::Failed(error)
        };
        // (rustls' KernelConnection, which could store later tickets and follow key updates, exists only
        // for its unbuffered connection.)
        let secrets = match conn.dangerous_extract_secrets() {
            Ok(secrets) => secrets,
            Err(e) => {
                session.phase = failed(format!("rustls did not hand over the secrets: {e}"));
                let _ = self.io(|fd| fd::shutdown(fd, libc::SHUT_RDWR));
                return;
            }
        };
        for (name, option, direction, (seq, secret)) in [
            ("TLS_TX", TLS_TX, Direction::Send, &secrets.tx),
            ("TLS_RX", TLS_RX, Direction::Receive, &secrets.rx),
        ] {
            let Some(info) =
                crypto_info(version, secret, *seq, direction).filter(|i| i.cipher_type() == cipher)
            else {
                session.phase = failed(format!(
                    "{name}: the keys rustls gave do not match the cipher"
                ));
                let _ = self.io(|fd| fd::shutdown(fd, libc::SHUT_RDWR));
                return;
            };
            if let Err(e) = fd::set_option(fd, SOL_TLS, option, info.as_bytes()) {
                session.phase = failed(format!("{name}: {}", errno_name(e)));
                let _ = self.io(|fd| fd::shutdown(fd, libc::SHUT_RDWR));
                return;
            }
        }
        drop(secrets);
        log!(
            Level::Info,
            "fd {fd}: kernel TLS on ({} {:?}): the kernel does the records",
            if version == TLS_1_3_VERSION {
                "TLS 1.3"
            } else {
                "TLS 1.2"
            },
            suite
        );
        session.phase = Phase::Kernel(KernelSession {
            version,
            peer_closed: false,
            handshake_left: 0,
        });
    }

    /// Fail the socket with `why` (kernel TLS) and return the error.
    fn kernel_failure(&self, code: WsaCode, why: String) -> Error {
        let error = Error::new(code, why);
        log!(Level::Error, "fd {}: {}", self.fd(), error.reason());
        self.fail(error.clone());
        error
    }

    /// Act on one record that is not application data. Ok(true): the end of the data (close_notify).
    fn kernel_control(&self, record_type: u8, payload: &[u8]) -> Result<bool> {
        let mut session = self.state.lock();
        let Phase::Kernel(kernel) = &mut session.phase else {
            return Ok(false);
        };
        match record_type {
            RECORD_ALERT => match payload {
                [_, 0] => {
                    kernel.peer_closed = true;
                    log!(Level::Debug, "fd {}: close_notify (kernel TLS)", self.fd());
                    Ok(true)
                }
                [1, 90] => Ok(false), // user_canceled, a warning: close_notify follows
                [level, description] => {
                    drop(session);
                    let alert = rustls::AlertDescription::from(*description);
                    Err(self.kernel_failure(
                        WsaCode::ECONNABORTED,
                        format!("TLS error: the server sent the alert {alert:?} (level {level}, kernel TLS)"),
                    ))
                }
                _ => {
                    drop(session);
                    Err(self.kernel_failure(
                        WsaCode::ECONNABORTED,
                        format!(
                            "kernel TLS: a malformed alert record ({} bytes)",
                            payload.len()
                        ),
                    ))
                }
            },
            RECORD_HANDSHAKE => {
                let mut rest = payload;
                let skip = kernel.handshake_left.min(rest.len());
                kernel.handshake_left -= skip;
                rest = &rest[skip..];
                while !rest.is_empty() {
                    let [kind, a, b, c, body @ ..] = rest else {
                        drop(session);
                        return Err(self.kernel_failure(
                            WsaCode::ECONNABORTED,
                            "kernel TLS: a handshake message header split across records".into(),
                        ));
                    };
                    let len = u32::from_be_bytes([0, *a, *b, *c]) as usize;
                    match *kind {
                        4 => log!(
                            Level::Debug,
                            "fd {}: a session ticket after the switch to kernel TLS: not stored",
                            self.fd()
                        ),
                        0 if kernel.version == TLS_1_2_VERSION => log!(
                            Level::Debug,
                            "fd {}: the server asked for renegotiation: ignored",
                            self.fd()
                        ),
                        24 => {
                            drop(session);
                            return Err(self.kernel_failure(
                                WsaCode::ECONNABORTED,
                                "the server updated its keys; kernel TLS cannot follow (set SSLSOCK_KTLS=0)"
                                    .into(),
                            ));
                        }
                        other => {
                            drop(session);
                            return Err(self.kernel_failure(
                                WsaCode::ECONNABORTED,
                                format!(
                                    "TLS error: an unexpected handshake message ({:?}) after the handshake (kernel TLS)",
                                    rustls::HandshakeType::from(other)
                                ),
                            ));
                        }
                    }
                    let here = len.min(body.len());
                    kernel.handshake_left = len - here;
                    rest = &body[here..];
                }
                Ok(false)
            }
            other => {
                drop(session);
                Err(self.kernel_failure(
                    WsaCode::ECONNABORTED,
                    format!(
                        "TLS error: an unexpected record ({:?}) after the handshake (kernel TLS)",
                        rustls::ContentType::from(other)
                    ),
                ))
            }
        }
    }

    /// A failed read of the kernel's stream: the socket fails (except for EAGAIN, which is not here).
    fn kernel_read_error(&self, errno: c_int) -> Error {
        let why = match errno {
            libc::EBADMSG => {
                "kernel TLS: a record failed to decrypt or authenticate (EBADMSG)".to_string()
            }
            libc::EMSGSIZE => "kernel TLS: a record longer than TLS allows (EMSGSIZE)".into(),
            libc::EIO => "kernel TLS: a record could not be delivered (EIO)".into(),
            _ => {
                let error = Error::os(errno, "recv");
                self.fail(error.clone());
                return error;
            }
        };
        self.kernel_failure(WsaCode::ECONNABORTED, why)
    }

    /// The TCP stream ended without close_notify. The kernel does not say whether that was at a record
    /// boundary, so it counts as one (as with rustls between records), unless SSLSOCK_STRICT_EOF=1.
    fn kernel_eof(&self) -> Result<Head> {
        if settings::get().strict_eof {
            return Err(Error::new(
                WsaCode::ECONNABORTED,
                "recv: the server closed the connection without close_notify (SSLSOCK_STRICT_EOF=1)",
            ));
        }
        log!(
            Level::Warn,
            "fd {}: the server closed without close_notify (kernel TLS: end of data)",
            self.fd()
        );
        if let Phase::Kernel(k) = &mut self.state.lock().phase {
            k.peer_closed = true;
        }
        Ok(Head::End)
    }

    /// Whether the phase is still `Kernel` and not at its end: Some(step) to answer at once otherwise.
    fn kernel_settled(&self) -> Option<Result<Step>> {
        let session = self.state.lock();
        match &session.phase {
            Phase::Kernel(k) if k.peer_closed => Some(Ok(Step::End)),
            Phase::Kernel(_) => None,
            Phase::Failed(e) => Some(Err(e.clone())),
            _ => Some(Ok(Step::Retry)),
        }
    }

    /// What comes next, after taking in and acting on any records that are not application data.
    /// Never waits. The caller holds the inbound lock (readers one at a time).
    fn kernel_head(&self) -> Result<Head> {
        let mut scratch = Vec::new();
        loop {
            match self.kernel_settled() {
                None => {}
                Some(Ok(Step::End)) => return Ok(Head::End),
                Some(Ok(_)) => return Ok(Head::Data), // no longer kernel TLS: let recv decide
                Some(Err(e)) => return Err(e),
            }
            let mut first = [0u8; 1];
            match self.io(|fd| recv_record(fd, &mut first, libc::MSG_PEEK)) {
                Err(libc::EAGAIN) => return Ok(Head::Nothing),
                Err(e) => return Err(self.kernel_read_error(e)),
                Ok((0, None)) => return self.kernel_eof(),
                Ok((_, None | Some(RECORD_DATA))) => return Ok(Head::Data),
                Ok((_, Some(_))) => {}
            }
            // A record that is not data: take all of it (no more than one comes per read).
            scratch.resize(PLAINTEXT_MAX + 256, 0);
            let (n, record_type) = match self.io(|fd| recv_record(fd, &mut scratch, 0)) {
                Ok((n, Some(t))) => (n, t),
                Ok((_, None)) => return self.kernel_eof(),
                Err(libc::EAGAIN) => return Ok(Head::Nothing),
                Err(e) => return Err(self.kernel_read_error(e)),
            };
            if record_type == RECORD_DATA {
                // Cannot happen (the peek said otherwise and readers take turns).
                return Err(self.kernel_failure(
                    WsaCode::ECONNABORTED,
                    "kernel TLS: the record changed type between two reads".into(),
                ));
            }
            if self.kernel_control(record_type, &scratch[..n])? {
                return Ok(Head::End);
            }
        }
    }

    /// `recv_step` in phase `Kernel`: one non-blocking attempt, with no lock held by the caller.
    pub(super) fn kernel_recv_step(&self, buf: &mut [u8], peek: bool) -> Result<Step> {
        let _readers = self.inbound.lock();
        loop {
            if let Some(step) = self.kernel_settled() {
                return step;
            }
            if buf.is_empty() {
                return Ok(Step::Data(0));
            }
            let flags = if peek { libc::MSG_PEEK } else { 0 };
            if buf.len() < PLAINTEXT_MAX {
                // Small buffer: look at the record's type first, so that a record that is not data
                // never lands (in part) in the program's buffer.
                match self.kernel_head()? {
                    Head::Data => {}
                    Head::End => return Ok(Step::End),
                    Head::Nothing => return Ok(Step::NeedInput(false)),
                }
            }
            match self.io(|fd| recv_record(fd, buf, flags)) {
                Err(libc::EAGAIN) => return Ok(Step::NeedInput(false)),
                Err(e) => return Err(self.kernel_read_error(e)),
                Ok((0, None)) => {
                    return match self.kernel_eof()? {
                        Head::End => Ok(Step::End),
                        _ => Ok(Step::NeedInput(false)),
                    }
                }
                // An empty record: read, it is gone (look again); peeked, it stays at the head, and
                // only a read takes it away (which could take data arriving meanwhile): no data yet.
                Ok((0, Some(RECORD_DATA))) if peek => return Ok(Step::NeedInput(false)),
                Ok((0, Some(RECORD_DATA))) => continue,
                Ok((n, None | Some(RECORD_DATA))) => return Ok(Step::Data(n)),
                Ok((n, Some(record_type))) => {
                    // A whole record that is not data (the buffer takes any): act on it, then wipe it
                    // from the program's buffer.
                    let mut n = n;
                    if peek {
                        n = match self.io(|fd| recv_record(fd, buf, 0)) {
                            Ok((n, _)) => n,
                            Err(e) => return Err(self.kernel_read_error(e)),
                        };
                    }
                    let record = buf[..n].to_vec();
                    buf[..n].fill(0);
                    if self.kernel_control(record_type, &record)? {
                        return Ok(Step::End);
                    }
                }
            }
        }
    }

    /// For `select`/`poll` after the kernel said readable (kernel TLS says so only for whole records):
    /// whether a read would now give data, the end, or an error, once records that are not data (session
    /// tickets) are taken in.
    pub(super) fn kernel_readable(&self) -> bool {
        let Some(_readers) = self.inbound.try_lock() else {
            return true; // another reader is at it; let the program's recv decide
        };
        !matches!(self.kernel_head(), Ok(Head::Nothing))
    }

    /// `FIONREAD` in phase `Kernel`: the decrypted bytes one read would give now (at most a record's).
    pub(super) fn kernel_readable_bytes(&self) -> usize {
        let Some(_readers) = self.inbound.try_lock() else {
            return 0;
        };
        if !matches!(self.kernel_head(), Ok(Head::Data)) {
            return 0;
        }
        let mut scratch = vec![0u8; PLAINTEXT_MAX];
        match self.io(|fd| recv_record(fd, &mut scratch, libc::MSG_PEEK)) {
            Ok((n, None | Some(RECORD_DATA))) => n,
            _ => 0,
        }
    }

    /// `send` in phase `Kernel`, holding the outbound lock: the kernel encrypts. A blocking socket sends
    /// it all (bounded by SO_SNDTIMEO), like the rustls path.
    pub(super) fn kernel_send(&self, data: &[u8], dont_wait: bool) -> Result<usize> {
        let mut sent = 0;
        let mut deadline = None;
        while sent < data.len() {
            match self.io(|fd| fd::send_now(fd, &data[sent..])) {
                Ok(n) => {
                    sent += n;
                    continue;
                }
                Err(libc::EAGAIN) => {}
                Err(_) if sent > 0 => return Ok(sent),
                Err(e) => return Err(Error::os(e, "send")),
            }
            if !self.may_block(dont_wait) {
                if sent > 0 {
                    return Ok(sent);
                }
                return Err(Error::new(
                    WsaCode::EWOULDBLOCK,
                    "send: the socket's send buffer is full",
                ));
            }
            let until = *deadline.get_or_insert_with(|| fd::deadline(self.fd(), libc::SO_SNDTIMEO));
            match self.wait(libc::POLLOUT, until, "send") {
                Ok(()) => {}
                Err(_) if sent > 0 => return Ok(sent),
                Err(e) => return Err(e),
            }
        }
        Ok(sent)
    }

    /// close_notify on a kernel TLS socket (`shutdown(SD_SEND)`, `closesocket`); `wait`: a blocking
    /// caller may wait for room (bounded by SO_SNDTIMEO).
    pub(super) fn kernel_close_notify(&self, wait: bool) {
        let mut deadline = None;
        loop {
            match self.io(send_close_notify) {
                Err(libc::EAGAIN) if wait && self.may_block(false) => {
                    let until =
                        *deadline.get_or_insert_with(|| fd::deadline(self.fd(), libc::SO_SNDTIMEO));
                    if self.wait(libc::POLLOUT, until, "shutdown").is_err() {
                        return;
                    }
                }
                Ok(()) => return,
                Err(e) => {
                    log!(
                        Level::Debug,
                        "fd {}: close_notify (kernel TLS) not sent: {}",
                        self.fd(),
                        errno_name(e)
                    );
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::crypto::cipher::{AeadKey, Iv};

    #[test]
    fn constants_match_linux_tls_h() {
        assert_eq!(SOL_TLS, 282);
        assert_eq!(TLS_TX, 1);
        assert_eq!(TLS_RX, 2);
        assert_eq!(TLS_SET_RECORD_TYPE, 1);
        assert_eq!(TLS_GET_RECORD_TYPE, 2);
        assert_eq!(TLS_1_2_VERSION, 0x0303);
        assert_eq!(TLS_1_3_VERSION, 0x0304);
        assert_eq!(TLS_CIPHER_AES_GCM_128, 51);
        assert_eq!(TLS_CIPHER_AES_GCM_256, 52);
        assert_eq!(TLS_CIPHER_CHACHA20_POLY1305, 54);
        assert_eq!(TCP_ULP, 31);
        // The libc crate's copy of the same headers agrees.
        assert_eq!(SOL_TLS, libc::SOL_TLS);
        assert_eq!(TCP_ULP, libc::TCP_ULP);
    }

    #[test]
    fn struct_layouts_match_linux_tls_h() {
        assert_eq!(size_of::<TlsCryptoInfo>(), 4);
        assert_eq!(size_of::<AesGcm128Info>(), 40);
        assert_eq!(size_of::<AesGcm256Info>(), 56);
        assert_eq!(size_of::<Chacha20Poly1305Info>(), 56);
        assert_eq!(std::mem::align_of::<AesGcm128Info>(), 2);
        // Field offsets: info, iv, key, salt, rec_seq.
        assert_eq!(std::mem::offset_of!(AesGcm128Info, iv), 4);
        assert_eq!(std::mem::offset_of!(AesGcm128Info, key), 12);
        assert_eq!(std::mem::offset_of!(AesGcm128Info, salt), 28);
        assert_eq!(std::mem::offset_of!(AesGcm128Info, rec_seq), 32);
        assert_eq!(std::mem::offset_of!(AesGcm256Info, key), 12);
        assert_eq!(std::mem::offset_of!(AesGcm256Info, salt), 44);
        assert_eq!(std::mem::offset_of!(AesGcm256Info, rec_seq), 48);
        assert_eq!(std::mem::offset_of!(Chacha20Poly1305Info, iv), 4);
        assert_eq!(std::mem::offset_of!(Chacha20Poly1305Info, key), 16);
        assert_eq!(std::mem::offset_of!(Chacha20Poly1305Info, rec_seq), 48);
        assert_eq!(
            size_of::<AesGcm128Info>(),
            size_of::<libc::tls12_crypto_info_aes_gcm_128>()
        );
        assert_eq!(
            size_of::<AesGcm256Info>(),
            size_of::<libc::tls12_crypto_info_aes_gcm_256>()
        );
        assert_eq!(
            size_of::<Chacha20Poly1305Info>(),
            size_of::<libc::tls12_crypto_info_chacha20_poly1305>()
        );
    }

    fn iv12() -> [u8; 12] {
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
    }

    #[test]
    fn tls13_aes_256_gcm_from_rustls_secrets() {
        let secrets = ConnectionTrafficSecrets::Aes256Gcm {
            key: AeadKey::from([0xAB; 32]),
            iv: Iv::new(iv12()),
        };
        let info = crypto_info(
            TLS_1_3_VERSION,
            &secrets,
            0x0102_0304_0506_0708,
            Direction::Send,
        );
        let Some(CryptoInfo::AesGcm256(i)) = &info else {
            panic!("expected AES-256-GCM, got {info:?}");
        };
        assert_eq!(
            i.info,
            TlsCryptoInfo {
                version: 0x0304,
                cipher_type: 52
            }
        );
        assert_eq!(i.key, [0xAB; 32]);
        assert_eq!(
            i.salt,
            [1, 2, 3, 4],
            "salt: the first 4 bytes of the nonce base"
        );
        assert_eq!(i.iv, [5, 6, 7, 8, 9, 10, 11, 12], "iv: the last 8");
        assert_eq!(i.rec_seq, [1, 2, 3, 4, 5, 6, 7, 8], "rec_seq: big-endian");
        let bytes = info.as_ref().map(CryptoInfo::as_bytes).unwrap_or_default();
        assert_eq!(bytes.len(), 56);
        assert_eq!(
            &bytes[..4],
            &[0x04, 0x03, 52, 0],
            "u16s in host (little-endian) order"
        );
        assert_eq!(&bytes[4..12], &[5, 6, 7, 8, 9, 10, 11, 12]);
        assert_eq!(&bytes[44..48], &[1, 2, 3, 4]);
        assert_eq!(&bytes[48..], &[1, 2, 3, 4, 5, 6, 7, 8]);
        // TLS 1.3 receiving: the same split.
        let rx = crypto_info(TLS_1_3_VERSION, &secrets, 3, Direction::Receive);
        let Some(CryptoInfo::AesGcm256(r)) = &rx else {
            panic!("expected AES-256-GCM");
        };
        assert_eq!(r.iv, [5, 6, 7, 8, 9, 10, 11, 12]);
        assert_eq!(r.rec_seq, 3u64.to_be_bytes());
    }

    #[test]
    fn chacha20_poly1305_from_rustls_secrets() {
        let secrets = ConnectionTrafficSecrets::Chacha20Poly1305 {
            key: AeadKey::from([0x5A; 32]),
            iv: Iv::new(iv12()),
        };
        for version in [TLS_1_2_VERSION, TLS_1_3_VERSION] {
            let info = crypto_info(version, &secrets, 7, Direction::Send);
            let Some(CryptoInfo::Chacha20Poly1305(i)) = &info else {
                panic!("expected ChaCha20-Poly1305");
            };
            assert_eq!(
                i.info,
                TlsCryptoInfo {
                    version,
                    cipher_type: 54
                }
            );
            assert_eq!(
                i.iv,
                iv12(),
                "ChaCha20-Poly1305: the whole 12-byte nonce base, no salt"
            );
            assert_eq!(i.key, [0x5A; 32]);
            assert_eq!(i.rec_seq, 7u64.to_be_bytes());
        }
    }

    #[test]
    fn gcm_variant_follows_the_key_length() {
        // rustls' public AeadKey is 32 bytes: an "Aes128Gcm" with a 32-byte key is AES-256 to the kernel
        // (older rustls reported TLS 1.2 AES-256 keys that way).
        let secrets = ConnectionTrafficSecrets::Aes128Gcm {
            key: AeadKey::from([1; 32]),
            iv: Iv::new(iv12()),
        };
        let info = crypto_info(TLS_1_3_VERSION, &secrets, 0, Direction::Send);
        assert!(matches!(info, Some(CryptoInfo::AesGcm256(_))));
        // AES-128 from its parts.
        let info = crypto_info_from_parts(
            TLS_1_3_VERSION,
            TLS_CIPHER_AES_GCM_128,
            &[9; 16],
            &iv12(),
            1,
            Direction::Receive,
        );
        let Some(CryptoInfo::AesGcm128(i)) = &info else {
            panic!("expected AES-128-GCM");
        };
        assert_eq!(i.info.cipher_type, 51);
        assert_eq!(i.key, [9; 16]);
        assert_eq!(i.salt, [1, 2, 3, 4]);
        assert_eq!(i.iv, [5, 6, 7, 8, 9, 10, 11, 12]);
        assert_eq!(info.as_ref().map(|i| i.as_bytes().len()), Some(40));
        // Wrong key lengths and unknown versions or ciphers give nothing.
        let wrong = |v, c, k: &[u8]| crypto_info_from_parts(v, c, k, &iv12(), 0, Direction::Send);
        assert!(wrong(TLS_1_3_VERSION, TLS_CIPHER_AES_GCM_128, &[0; 32]).is_none());
        assert!(wrong(TLS_1_3_VERSION, TLS_CIPHER_AES_GCM_256, &[0; 16]).is_none());
        assert!(wrong(0x0302, TLS_CIPHER_AES_GCM_128, &[0; 16]).is_none());
        assert!(wrong(TLS_1_3_VERSION, 53, &[0; 16]).is_none());
    }

    #[test]
    fn tls12_gcm_sending_never_reuses_a_nonce_rustls_used() {
        // rustls sent records 0..seq with explicit nonces iv ^ seq; the kernel sends start, start + 1, ...
        for explicit in [
            0u64,
            1,
            2,
            3,
            0xFF,
            0x8000_0000_0000_0001,
            u64::MAX,
            u64::MAX - 1,
            0x1234_5678_9ABC_DEF1,
        ] {
            for seq in (0u64..300).chain([1023, 1024, 1025, 65_537]) {
                let start = tls12_gcm_send_start(explicit, seq);
                let used: std::collections::HashSet<u64> = (0..seq).map(|s| explicit ^ s).collect();
                for k in 0..2048u64 {
                    assert!(
                        !used.contains(&start.wrapping_add(k)),
                        "explicit {explicit:#x} seq {seq}: kernel record {k} reuses a nonce"
                    );
                }
            }
        }
        // The naive continuation (start at iv ^ seq, count up) would reuse one: with iv 1 and seq 1,
        // rustls sent record 0 with nonce 1, and the kernel's second record would have nonce 1 too.
        let (explicit, seq) = (1u64, 1u64);
        assert_eq!((explicit ^ seq).wrapping_add(1), explicit);
        assert_ne!(tls12_gcm_send_start(explicit, seq), explicit);
        // seq 0: nothing used yet, rustls' own first nonce.
        assert_eq!(tls12_gcm_send_start(42, 0), 42);
        // Through crypto_info: TLS 1.2 GCM sending moves the iv, receiving keeps it.
        let parts = |d| {
            crypto_info_from_parts(
                TLS_1_2_VERSION,
                TLS_CIPHER_AES_GCM_128,
                &[0; 16],
                &iv12(),
                1,
                d,
            )
        };
        let (Some(CryptoInfo::AesGcm128(tx)), Some(CryptoInfo::AesGcm128(rx))) =
            (parts(Direction::Send), parts(Direction::Receive))
        else {
            panic!("expected AES-128-GCM");
        };
        let base = u64::from_be_bytes([5, 6, 7, 8, 9, 10, 11, 12]);
        assert_eq!(tx.iv, (base + 1).to_be_bytes());
        assert_eq!(rx.iv, base.to_be_bytes());
        assert_eq!(tx.salt, [1, 2, 3, 4]);
    }

    #[test]
    fn suites_and_versions_the_kernel_takes() {
        assert_eq!(
            kernel_cipher(CipherSuite::TLS13_AES_128_GCM_SHA256),
            Some(51)
        );
        assert_eq!(
            kernel_cipher(CipherSuite::TLS13_AES_256_GCM_SHA384),
            Some(52)
        );
        assert_eq!(
            kernel_cipher(CipherSuite::TLS13_CHACHA20_POLY1305_SHA256),
            Some(54)
        );
        assert_eq!(
            kernel_cipher(CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384),
            Some(52)
        );
        assert_eq!(
            kernel_cipher(CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256),
            Some(54)
        );
        assert_eq!(
            kernel_cipher(CipherSuite::TLS_RSA_WITH_AES_128_CBC_SHA),
            None
        );
        assert_eq!(kernel_version(ProtocolVersion::TLSv1_3), Some(0x0304));
        assert_eq!(kernel_version(ProtocolVersion::TLSv1_2), Some(0x0303));
        assert_eq!(kernel_version(ProtocolVersion::TLSv1_1), None);
    }

    #[test]
    fn loopback_probe_answers_either_way() {
        // Here (no `tls` upper layer) the probe fails at TCP_ULP with ENOENT; with kernel TLS it succeeds.
        // Either way it must answer, and a missing upper layer must be reported as such.
        let offered = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_available_ulp")
            .map(|s| s.split_whitespace().any(|u| u == "tls"));
        match probe_loopback(TLS_1_3_VERSION, TLS_CIPHER_AES_GCM_128) {
            Ok(()) => eprintln!("kernel TLS probe: the kernel takes TLS 1.3 AES-128-GCM"),
            Err(why) => {
                eprintln!("kernel TLS probe: {why}");
                if offered.ok() == Some(false) && why.starts_with("TCP_ULP") {
                    assert!(
                        why.contains("ENOENT")
                            || why.contains("ENOPROTOOPT")
                            || why.contains("EOPNOTSUPP"),
                        "{why}"
                    );
                }
            }
        }
    }
}
