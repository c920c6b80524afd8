//! Records in the kernel (kernel TLS, optional: `SSLSOCK_KTLS=1`). Once a connection is established
//! and quiet, its record keys go to the kernel (`TCP_ULP` "tls", then `SOL_TLS` `TLS_TX`/`TLS_RX`),
//! and from then on the kernel encrypts what `send` gives it and decrypts what `recv` takes.
//!
//! The switch is made with rustls' `dangerous_into_kernel_connection`, whose [`KernelConnection`] stays
//! with the socket: TLS 1.3 session tickets that come after the switch are stored as before, and a
//! server's key update is followed (new receive keys for the kernel, and our own update when the
//! server asks for one), where the kernel takes new keys (Linux 6.13 and later); an older kernel
//! refuses them and the socket fails, saying so.
//!
//! Detected at run time and used only when the kernel offers it: a kernel without the `tls` upper layer
//! answers the `TCP_ULP` probe with ENOENT (or ENOPROTOOPT / EOPNOTSUPP); that is remembered for the
//! process, logged once, and rustls keeps doing the records. Whether the kernel takes the version and
//! cipher is asked first on a throwaway loopback connection, because once rustls has handed its secrets
//! over the connection cannot go back to rustls: a refusal after that fails the socket.
//!
//! What the kernel does not do: rustls' own key update before the AES-GCM confidentiality limit
//! (2^24.5 full records under one key, about 380 GB) does not happen after the switch.

use std::ffi::c_int;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use rustls::client::ClientConnectionData;
use rustls::kernel::KernelConnection;

use super::keys::{crypto_info, kernel_cipher, kernel_version};
use super::outcome::{Failed, Got};
use super::user::UserRecords;
use crate::error::{Error, WsaCode};
use crate::locks::lock;
use crate::log::log;
use crate::secure::buffers::{Inbound, Outbound, PLAINTEXT_MAX};
use crate::secure::verify::{self, HandshakeContext};
use crate::secure::wire::Wire;
use crate::settings::{self, Level};
use crate::sys::ktls::{
    self, errno_name, Direction, RECORD_ALERT, RECORD_DATA, RECORD_HANDSHAKE, TLS_1_2_VERSION,
    TLS_1_3_VERSION,
};

// ---- the kernel's side, process-wide ----

/// Set once a `TCP_ULP` probe said the kernel has no `tls` upper layer.
static UNAVAILABLE: AtomicBool = AtomicBool::new(false);

/// Whether kernel TLS is wanted (`SSLSOCK_KTLS`) and not known to be missing.
pub fn wanted() -> bool {
    settings::get().ktls && !UNAVAILABLE.load(Ordering::Relaxed)
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
    let answer = ktls::probe_loopback(version, cipher);
    lock(&ASKED).push(Asked {
        pair,
        answer: answer.clone(),
    });
    answer
}

/// Why a switch did not happen.
pub enum NoSwitch {
    /// Not now (the connection is not quiet); try again at the next call.
    NotYet(Box<UserRecords>),
    /// Never for this socket: rustls keeps the records.
    Never(Box<UserRecords>),
    /// The secrets were handed over and the kernel refused them: the socket fails.
    Failed(Error),
}

/// A socket whose records the kernel does.
pub struct KernelRecords {
    conn: KernelConnection<ClientConnectionData>,
    /// TLS_1_2_VERSION or TLS_1_3_VERSION.
    version: u16,
    /// The server's close_notify (or the end of the stream) was read.
    peer_closed: bool,
    /// Bytes of a handshake message that go on in the next handshake record.
    handshake_left: usize,
    /// Our key update (the server asked for one) could not go yet.
    key_update_pending: bool,
    /// Our close_notify could not go yet.
    close_notify_pending: bool,
    tickets: Option<Arc<HandshakeContext>>,
}

/// What comes next in the kernel's stream of decrypted records.
enum Head {
    Data,
    End,
    Nothing,
}

/// A failure of the kernel's stream: the socket fails with it.
fn fail(code: WsaCode, why: String) -> Failed {
    Failed {
        data: 0,
        error: Error::new(code, why),
    }
}

/// A failed read of the kernel's stream.
fn read_error(errno: c_int) -> Failed {
    let why = match errno {
        libc::EBADMSG => "kernel TLS: a record failed to decrypt or authenticate (EBADMSG)",
        libc::EMSGSIZE => "kernel TLS: a record longer than TLS allows (EMSGSIZE)",
        libc::EIO => "kernel TLS: a record could not be delivered (EIO)",
        _ => {
            return Failed {
                data: 0,
                error: Error::os(errno, "recv"),
            }
        }
    };
    fail(WsaCode::ECONNABORTED, why.into())
}

/// Hand the records of `records` to the kernel if it takes them. The caller has checked that the
/// socket is established, quiet (nothing held in `inbound` or `out`) and not shut down.
pub fn switch(
    records: Box<UserRecords>,
    inbound: &Inbound,
    out: &Outbound,
    wire: &Wire,
) -> Result<KernelRecords, NoSwitch> {
    let fd = wire.fd();
    if inbound.has_ciphertext() || !inbound.held.is_empty() || inbound.eof || !out.is_empty() {
        return Err(NoSwitch::NotYet(records));
    }
    if records.peer_closed() {
        return Err(NoSwitch::Never(records));
    }
    let conn = records.conn();
    let version = conn.protocol_version().and_then(kernel_version);
    let suite = conn.negotiated_cipher_suite().map(|s| s.suite());
    let (Some(version), Some(cipher)) = (version, suite.and_then(kernel_cipher)) else {
        log!(
            Level::Debug,
            "fd {fd}: kernel TLS does not take {:?} {suite:?}: rustls does the records",
            conn.protocol_version()
        );
        return Err(NoSwitch::Never(records));
    };
    if let Err(errno) = wire.call(ktls::attach_ulp) {
        if ktls::means_unavailable(errno) {
            mark_unavailable(errno);
        } else {
            log!(
                Level::Debug,
                "fd {fd}: TCP_ULP tls: {}: rustls does the records",
                errno_name(errno)
            );
        }
        return Err(NoSwitch::Never(records));
    }
    if let Err(why) = kernel_takes(version, cipher) {
        // The upper layer is attached but has no keys: the socket passes bytes through as before.
        log!(
            Level::Debug,
            "fd {fd}: kernel TLS refuses {suite:?} ({why}): rustls does the records"
        );
        return Err(NoSwitch::Never(records));
    }
    // From here on there is no way back to rustls.
    let failed = |why: String| {
        let error = Error::new(
            WsaCode::ECONNABORTED,
            format!(
                "kernel TLS: {why}; the connection cannot continue (SSLSOCK_KTLS=0 avoids this)"
            ),
        );
        NoSwitch::Failed(error)
    };
    let (conn, tickets) = records.into_parts();
    let (secrets, conn) = match conn.dangerous_into_kernel_connection() {
        Ok(parts) => parts,
        Err(e) => return Err(failed(format!("rustls did not hand over the secrets: {e}"))),
    };
    for (name, direction, (seq, secret)) in [
        ("TLS_TX", Direction::Send, &secrets.tx),
        ("TLS_RX", Direction::Receive, &secrets.rx),
    ] {
        let Some(info) =
            crypto_info(version, secret, *seq, direction).filter(|i| i.cipher_type() == cipher)
        else {
            return Err(failed(format!(
                "{name}: the keys rustls gave do not match the cipher"
            )));
        };
        if let Err(e) = wire.call(|fd| ktls::set_keys(fd, direction, &info)) {
            return Err(failed(format!("{name}: {}", errno_name(e))));
        }
    }
    drop(secrets);
    log!(
        Level::Info,
        "fd {fd}: kernel TLS on ({} {suite:?}): the kernel does the records",
        if version == TLS_1_3_VERSION {
            "TLS 1.3"
        } else {
            "TLS 1.2"
        }
    );
    Ok(KernelRecords {
        conn,
        version,
        peer_closed: false,
        handshake_left: 0,
        key_update_pending: false,
        close_notify_pending: false,
        tickets,
    })
}

impl KernelRecords {
    /// Whether the server's close_notify (or the end of the stream) was read.
    pub fn peer_closed(&self) -> bool {
        self.peer_closed
    }

    /// Whether our close_notify waits for room.
    pub fn close_notify_pending(&self) -> bool {
        self.close_notify_pending || self.key_update_pending
    }

    /// New keys for one direction, from rustls' key schedule, to the kernel.
    fn rekey(&mut self, wire: &Wire, direction: Direction) -> Result<(), Failed> {
        let next = match direction {
            Direction::Send => self.conn.update_tx_secret(),
            Direction::Receive => self.conn.update_rx_secret(),
        };
        let (seq, secrets) =
            next.map_err(|e| fail(WsaCode::ECONNABORTED, format!("TLS error: key update: {e}")))?;
        let cipher = kernel_cipher(self.conn.negotiated_cipher_suite().suite());
        let info = crypto_info(self.version, &secrets, seq, direction)
            .filter(|i| Some(i.cipher_type()) == cipher)
            .ok_or_else(|| {
                fail(
                    WsaCode::ECONNABORTED,
                    "kernel TLS: the updated keys do not match the cipher".into(),
                )
            })?;
        wire.call(|fd| ktls::set_keys(fd, direction, &info)).map_err(|e| {
            fail(
                WsaCode::ECONNABORTED,
                format!(
                    "the server updated its keys and this kernel does not take new ones ({}); set SSLSOCK_KTLS=0",
                    errno_name(e)
                ),
            )
        })
    }

    /// Send our key update (update_not_requested) under the old keys, then switch to the new ones.
    fn send_key_update(&mut self, wire: &Wire) -> Result<(), Failed> {
        match wire.call(|fd| ktls::send_record(fd, &[24, 0, 0, 1, 0], RECORD_HANDSHAKE)) {
            Ok(_) => {
                self.key_update_pending = false;
                self.rekey(wire, Direction::Send)
            }
            Err(libc::EAGAIN) => {
                self.key_update_pending = true;
                Ok(())
            }
            Err(e) => Err(Failed {
                data: 0,
                error: Error::os(e, "send"),
            }),
        }
    }

    /// Act on one record that is not application data. Ok(true): the end of the data (close_notify).
    fn control(&mut self, wire: &Wire, record_type: u8, payload: &[u8]) -> Result<bool, Failed> {
        match record_type {
            RECORD_ALERT => match payload {
                [_, 0] => {
                    self.peer_closed = true;
                    log!(Level::Debug, "fd {}: close_notify (kernel TLS)", wire.fd());
                    Ok(true)
                }
                [1, 90] => Ok(false), // user_canceled, a warning: close_notify follows
                [level, description] => {
                    let alert = rustls::AlertDescription::from(*description);
                    Err(fail(
                        WsaCode::ECONNABORTED,
                        format!("TLS error: the server sent the alert {alert:?} (level {level}, kernel TLS)"),
                    ))
                }
                _ => Err(fail(
                    WsaCode::ECONNABORTED,
                    format!(
                        "kernel TLS: a malformed alert record ({} bytes)",
                        payload.len()
                    ),
                )),
            },
            RECORD_HANDSHAKE => {
                let mut rest = payload;
                let skip = self.handshake_left.min(rest.len());
                self.handshake_left -= skip;
                rest = &rest[skip..];
                while !rest.is_empty() {
                    let [kind, a, b, c, body @ ..] = rest else {
                        return Err(fail(
                            WsaCode::ECONNABORTED,
                            "kernel TLS: a handshake message header split across records".into(),
                        ));
                    };
                    let len = u32::from_be_bytes([0, *a, *b, *c]) as usize;
                    let here = len.min(body.len());
                    let whole = here == len;
                    match *kind {
                        4 if whole => {
                            let _current = self.tickets.clone().map(verify::enter);
                            if let Err(e) = self.conn.handle_new_session_ticket(&body[..len]) {
                                log!(Level::Debug, "fd {}: a session ticket (kernel TLS) not stored: {e}", wire.fd());
                            }
                        }
                        4 => log!(Level::Debug, "fd {}: a session ticket split across records (kernel TLS): not stored", wire.fd()),
                        0 if self.version == TLS_1_2_VERSION => log!(
                            Level::Debug,
                            "fd {}: the server asked for renegotiation: ignored",
                            wire.fd()
                        ),
                        24 if whole && self.version == TLS_1_3_VERSION && len == 1 && body[0] <= 1 => {
                            self.rekey(wire, Direction::Receive)?;
                            log!(Level::Debug, "fd {}: the server updated its keys (kernel TLS): followed", wire.fd());
                            if body[0] == 1 {
                                self.send_key_update(wire)?;
                            }
                        }
                        other => {
                            return Err(fail(
                                WsaCode::ECONNABORTED,
                                format!(
                                    "TLS error: an unexpected handshake message ({:?}) after the handshake (kernel TLS)",
                                    rustls::HandshakeType::from(other)
                                ),
                            ))
                        }
                    }
                    self.handshake_left = len - here;
                    rest = &body[here..];
                }
                Ok(false)
            }
            other => Err(fail(
                WsaCode::ECONNABORTED,
                format!(
                    "TLS error: an unexpected record ({:?}) after the handshake (kernel TLS)",
                    rustls::ContentType::from(other)
                ),
            )),
        }
    }

    /// The TCP stream ended without close_notify. The kernel does not say whether that was at a record
    /// boundary, so it counts as one (as with rustls between records), unless SSLSOCK_STRICT_EOF=1.
    fn eof(&mut self, wire: &Wire) -> Result<Head, Failed> {
        if settings::get().strict_eof {
            return Err(fail(
                WsaCode::ECONNABORTED,
                "recv: the server closed the connection without close_notify (SSLSOCK_STRICT_EOF=1)".into(),
            ));
        }
        log!(
            Level::Warn,
            "fd {}: the server closed without close_notify (kernel TLS: end of data)",
            wire.fd()
        );
        self.peer_closed = true;
        Ok(Head::End)
    }

    /// What comes next, after taking in and acting on any records that are not application data.
    fn head(&mut self, wire: &Wire) -> Result<Head, Failed> {
        if self.key_update_pending {
            self.send_key_update(wire)?;
        }
        let mut scratch = Vec::new();
        loop {
            if self.peer_closed {
                return Ok(Head::End);
            }
            let mut first = [0u8; 1];
            match wire.call(|fd| ktls::recv_record(fd, &mut first, libc::MSG_PEEK)) {
                Err(libc::EAGAIN) => return Ok(Head::Nothing),
                Err(e) => return Err(read_error(e)),
                Ok((0, None)) => return self.eof(wire),
                Ok((_, None | Some(RECORD_DATA))) => return Ok(Head::Data),
                Ok((_, Some(_))) => {}
            }
            // A record that is not data: take all of it (no more than one comes per read).
            scratch.resize(PLAINTEXT_MAX + 256, 0);
            let (n, record_type) = match wire.call(|fd| ktls::recv_record(fd, &mut scratch, 0)) {
                Ok((n, Some(t))) => (n, t),
                Ok((_, None)) => return self.eof(wire),
                Err(libc::EAGAIN) => return Ok(Head::Nothing),
                Err(e) => return Err(read_error(e)),
            };
            if record_type == RECORD_DATA {
                // Cannot happen: the peek said otherwise and readers hold the socket's lock.
                return Err(fail(
                    WsaCode::ECONNABORTED,
                    "kernel TLS: the record changed type between two reads".into(),
                ));
            }
            if self.control(wire, record_type, &scratch[..n])? {
                return Ok(Head::End);
            }
        }
    }

    /// One non-blocking read into `buf`.
    pub fn recv(&mut self, wire: &Wire, buf: &mut [u8], peek: bool) -> Result<Got, Failed> {
        loop {
            if self.peer_closed {
                return Ok(Got::End(true));
            }
            if buf.is_empty() {
                return Ok(Got::Data(0));
            }
            if buf.len() < PLAINTEXT_MAX || self.key_update_pending {
                // Small buffer: look at the record's type first, so that a record that is not data
                // never lands (in part) in the program's buffer.
                match self.head(wire)? {
                    Head::Data => {}
                    Head::End => return Ok(Got::End(true)),
                    Head::Nothing => return Ok(Got::Nothing(false)),
                }
            }
            let flags = if peek { libc::MSG_PEEK } else { 0 };
            match wire.call(|fd| ktls::recv_record(fd, buf, flags)) {
                Err(libc::EAGAIN) => return Ok(Got::Nothing(false)),
                Err(e) => return Err(read_error(e)),
                Ok((0, None)) => {
                    self.eof(wire)?;
                    return Ok(Got::End(false));
                }
                // An empty record: read, it is gone (look again); peeked, it stays at the head, and
                // only a read takes it away (which could take data arriving meanwhile): no data yet.
                Ok((0, Some(RECORD_DATA))) if peek => return Ok(Got::Nothing(false)),
                Ok((0, Some(RECORD_DATA))) => continue,
                Ok((n, None | Some(RECORD_DATA))) => return Ok(Got::Data(n)),
                Ok((n, Some(record_type))) => {
                    // A whole record that is not data (the buffer takes any): act on it, then wipe
                    // it from the program's buffer.
                    let mut n = n;
                    if peek {
                        n = match wire.call(|fd| ktls::recv_record(fd, buf, 0)) {
                            Ok((n, _)) => n,
                            Err(e) => return Err(read_error(e)),
                        };
                    }
                    let record = buf[..n].to_vec();
                    buf[..n].fill(0);
                    if self.control(wire, record_type, &record)? {
                        return Ok(Got::End(true));
                    }
                }
            }
        }
    }

    /// For readiness: whether a read would now give data, the end, or an error, once records that are
    /// not data (session tickets) are taken in.
    pub fn readable(&mut self, wire: &Wire) -> Result<bool, Failed> {
        Ok(!matches!(self.head(wire)?, Head::Nothing))
    }

    /// `FIONREAD`: the decrypted bytes one read would give now (at most a record's).
    pub fn readable_bytes(&mut self, wire: &Wire) -> usize {
        if !matches!(self.head(wire), Ok(Head::Data)) {
            return 0;
        }
        let mut scratch = vec![0u8; PLAINTEXT_MAX];
        match wire.call(|fd| ktls::recv_record(fd, &mut scratch, libc::MSG_PEEK)) {
            Ok((n, None | Some(RECORD_DATA))) => n,
            _ => 0,
        }
    }

    /// What the kernel takes now of `data` (it encrypts).
    pub fn send(&mut self, wire: &Wire, data: &[u8]) -> Result<usize, Error> {
        if self.key_update_pending {
            self.send_key_update(wire).map_err(|f| f.error)?;
            if self.key_update_pending {
                return Ok(0);
            }
        }
        match wire.send_now(data) {
            Ok(n) => Ok(n),
            Err(libc::EAGAIN) => Ok(0),
            Err(e) => Err(Error::os(e, "send")),
        }
    }

    /// Our close_notify, if the kernel takes it now (else `close_notify_pending`).
    pub fn close_notify(&mut self, wire: &Wire) {
        match wire.call(ktls::send_close_notify) {
            Ok(()) => self.close_notify_pending = false,
            Err(libc::EAGAIN) => self.close_notify_pending = true,
            Err(e) => {
                self.close_notify_pending = false;
                log!(
                    Level::Debug,
                    "fd {}: close_notify (kernel TLS) not sent: {}",
                    wire.fd(),
                    errno_name(e)
                );
            }
        }
    }
}
