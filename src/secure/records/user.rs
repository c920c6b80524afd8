//! Records in userspace, on rustls' unbuffered client connection.
//!
//! Ciphertext is read into the socket's receive buffer ([`Inbound`]) and rustls decrypts it there, in
//! place; each record's plaintext goes once into the caller's buffer (or, for what does not fit, into
//! the socket's held plaintext). `send` encrypts straight into the socket's send buffer
//! ([`Outbound`]). rustls 0.23 hands each decrypted record over through a `Vec` of its own (its
//! `ReadTraffic` notes that in-place delivery is to come), so a record's plaintext is copied once
//! inside rustls and once into the caller's buffer: one copy fewer than rustls' buffered
//! `ClientConnection`, which also copies the ciphertext into a buffer of its own.
//!
//! Records that need an answer (a TLS 1.3 key update) are encoded into the send buffer by whoever
//! meets them, behind the records already there, so the order on the wire is the order of encoding.

use std::sync::Arc;

use rustls::client::UnbufferedClientConnection;
use rustls::unbuffered::{ConnectionState, EncodeError, EncryptError, InsufficientSizeError};

use super::outcome::{Failed, Got};
use crate::error::{Error, WsaCode};
use crate::log::log;
use crate::secure::buffers::{Held, Inbound, Outbound};
use crate::secure::buffers::{PLAINTEXT_MAX, RECORD_MAX};
use crate::secure::verify::{self, HandshakeContext};
use crate::secure::wire::Wire;
use crate::settings::{self, Level};

/// Reads from the kernel that made no data before a read gives up for now (a peer may send records
/// without data, such as session tickets, without end; the socket then checks its deadline).
const DATALESS_FILLS: u32 = 16;

/// Bytes encrypted per `send` call under the state lock at most (the rest in the next round).
const SEND_ROUND: usize = 256 * 1024;

/// Where a run of rustls over the ciphertext held stopped.
#[derive(Debug, PartialEq, Eq)]
enum Stop {
    /// Plaintext was given (to the sink, or held).
    Data,
    /// Nothing more can be done without more ciphertext.
    Idle,
    /// The server's close_notify.
    Closed,
}

/// What one state of the connection asked for, acted on once its borrows end.
enum Act {
    Data,
    Again,
    Idle,
    Closed,
    Write,
}

/// An established session whose records rustls does.
pub struct UserRecords {
    conn: UnbufferedClientConnection,
    peer_closed: bool,
    /// The handshake's context, when TLS 1.3 tickets that come later may be stored under its scope.
    tickets: Option<Arc<HandshakeContext>>,
}

/// Encode one pending handshake or alert record into `out`.
fn encode(
    e: &mut rustls::unbuffered::EncodeTlsData<'_, rustls::client::ClientConnectionData>,
    out: &mut Outbound,
) {
    let mut want = RECORD_MAX;
    loop {
        match e.encode(out.room(want)) {
            Ok(n) => return out.wrote(n),
            Err(EncodeError::InsufficientSize(InsufficientSizeError { required_size })) => {
                want = required_size
            }
            Err(EncodeError::AlreadyEncoded) => return,
        }
    }
}

/// The error a TLS failure gives the program.
pub fn tls_error(e: &rustls::Error) -> Error {
    Error::new(
        WsaCode::ECONNABORTED,
        format!("TLS error: {}", tls_words(e)),
    )
}

/// A rustls error in words a porting engineer can act on.
pub fn tls_words(e: &rustls::Error) -> String {
    match e {
        rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired) => {
            "the server requires a client certificate (give one with sslsock_set_client_certificate or \
             SSLSOCK_CLIENT_CERT / SSLSOCK_CLIENT_KEY)"
                .into()
        }
        rustls::Error::AlertReceived(alert) => format!("the server sent the alert {alert:?}"),
        rustls::Error::PeerIncompatible(why) => format!("the server is incompatible: {why:?}"),
        other => other.to_string(),
    }
}

/// After rustls failed: encode what it queued for the server (its alert) into `out`.
///
/// Only while rustls says it has records queued (`wants_write`): those come out before it looks at the
/// ciphertext again, and looking at it again after a failure would meet the same bad record and raise a
/// second alert.
pub fn queue_alerts(
    conn: &mut UnbufferedClientConnection,
    inbound: &mut Inbound,
    out: &mut Outbound,
) {
    for _ in 0..8 {
        if !conn.wants_write() {
            return;
        }
        let Inbound {
            buf,
            start,
            end,
            held,
            ..
        } = &mut *inbound;
        let status = conn.process_tls_records(&mut buf[*start..*end]);
        let mut discard = status.discard;
        let again = match status.state {
            Ok(ConnectionState::EncodeTlsData(mut e)) => {
                encode(&mut e, out);
                true
            }
            // Data decrypted before the failure comes out first: held for `recv`.
            Ok(ConnectionState::ReadTraffic(mut r)) => {
                take_records(&mut r, &mut [], &mut 0, held, &mut discard).is_ok()
            }
            _ => false,
        };
        *start += discard;
        if !again {
            return;
        }
    }
}

/// Keep every record of a `ReadTraffic` state: into `sink` at `*filled` first when nothing is held
/// (and `sink` has room), the rest into `held`.
fn take_records(
    r: &mut rustls::unbuffered::ReadTraffic<'_, '_, rustls::client::ClientConnectionData>,
    sink: &mut [u8],
    filled: &mut usize,
    held: &mut Held,
    discard: &mut usize,
) -> Result<(), rustls::Error> {
    while let Some(record) = r.next_record() {
        let record = record?;
        *discard += record.discard;
        let mut payload = record.payload;
        if held.is_empty() {
            let n = payload.len().min(sink.len() - *filled);
            sink[*filled..*filled + n].copy_from_slice(&payload[..n]);
            *filled += n;
            payload = &payload[n..];
        }
        held.hold(payload);
    }
    Ok(())
}

impl UserRecords {
    /// The record layer of a connection whose handshake is complete.
    pub fn new(
        conn: UnbufferedClientConnection,
        tickets: Option<Arc<HandshakeContext>>,
        peer_closed: bool,
    ) -> UserRecords {
        UserRecords {
            conn,
            peer_closed,
            tickets,
        }
    }

    /// The connection (what was negotiated).
    pub fn conn(&self) -> &UnbufferedClientConnection {
        &self.conn
    }

    /// The connection, for the switch to kernel TLS.
    pub fn into_parts(self) -> (UnbufferedClientConnection, Option<Arc<HandshakeContext>>) {
        (self.conn, self.tickets)
    }

    /// Whether the server's close_notify was read.
    pub fn peer_closed(&self) -> bool {
        self.peer_closed
    }

    /// Run rustls over the ciphertext held until it needs more, gave plaintext, or the server closed.
    /// Plaintext goes into `sink` from `*filled` on (when nothing is held), the rest is held. Records
    /// that need an answer are encoded into `out`. After an error, the alert is in `out`.
    fn process(
        &mut self,
        inbound: &mut Inbound,
        out: &mut Outbound,
        sink: &mut [u8],
        filled: &mut usize,
    ) -> Result<Stop, rustls::Error> {
        // TLS 1.3 tickets met here are stored under the handshake's scope.
        let _tickets = self.tickets.clone().map(verify::enter);
        loop {
            let Inbound {
                buf,
                start,
                end,
                held,
                ..
            } = &mut *inbound;
            let status = self.conn.process_tls_records(&mut buf[*start..*end]);
            let mut discard = status.discard;
            let act = match status.state {
                Ok(ConnectionState::ReadTraffic(mut r)) => {
                    match take_records(&mut r, sink, filled, held, &mut discard) {
                        Ok(()) => Act::Data,
                        Err(e) => {
                            *start += discard;
                            queue_alerts(&mut self.conn, inbound, out);
                            return Err(e);
                        }
                    }
                }
                Ok(ConnectionState::EncodeTlsData(mut e)) => {
                    encode(&mut e, out);
                    Act::Again
                }
                // Encoded records are in `out`: whoever holds the socket sends them.
                Ok(ConnectionState::TransmitTlsData(t)) => {
                    t.done();
                    Act::Again
                }
                Ok(ConnectionState::PeerClosed) => {
                    self.peer_closed = true;
                    Act::Closed
                }
                Ok(ConnectionState::Closed) => Act::Closed,
                Ok(_) => Act::Idle,
                Err(e) => {
                    *start += discard;
                    queue_alerts(&mut self.conn, inbound, out);
                    return Err(e);
                }
            };
            *start += discard;
            match act {
                Act::Data if *filled < sink.len() && inbound.held.is_empty() => continue,
                Act::Data => return Ok(Stop::Data),
                Act::Again | Act::Write => continue,
                Act::Idle => return Ok(if *filled > 0 { Stop::Data } else { Stop::Idle }),
                Act::Closed => return Ok(Stop::Closed),
            }
        }
    }

    /// One non-blocking read into `buf`.
    pub fn recv(
        &mut self,
        inbound: &mut Inbound,
        out: &mut Outbound,
        wire: &Wire,
        buf: &mut [u8],
        peek: bool,
    ) -> Result<Got, Failed> {
        if buf.is_empty() {
            return Ok(Got::Data(0));
        }
        if !inbound.held.is_empty() {
            return Ok(Got::Data(inbound.held.give(buf, peek)));
        }
        if self.peer_closed {
            return Ok(Got::End(true));
        }
        let mut filled = 0;
        let mut fills = 0;
        loop {
            let sink: &mut [u8] = if peek { &mut [] } else { buf };
            let stop = self.process(inbound, out, sink, &mut filled);
            // Answers (a key update) and alerts go now; a busy kernel takes them with the next send.
            if !out.is_empty() {
                let _ = out.send_now(wire);
            }
            match stop {
                Err(e) => {
                    let error = tls_error(&e);
                    return Err(Failed {
                        data: filled,
                        error,
                    });
                }
                Ok(Stop::Data) => {
                    if peek {
                        filled = inbound.held.give(buf, true);
                    }
                    return Ok(Got::Data(filled));
                }
                Ok(Stop::Closed) if filled > 0 => return Ok(Got::Data(filled)),
                Ok(Stop::Closed) => {
                    log!(
                        Level::Debug,
                        "fd {}: close_notify from the server: end of data",
                        wire.fd()
                    );
                    return Ok(Got::End(true));
                }
                Ok(Stop::Idle) => {}
            }
            if inbound.eof {
                return self.end_of_stream(inbound, wire);
            }
            if fills == DATALESS_FILLS {
                return Ok(Got::Nothing(true));
            }
            match inbound.fill(wire) {
                Ok(_) => fills += 1,
                Err(libc::EAGAIN) => return Ok(Got::Nothing(fills > 0)),
                Err(e) => {
                    return Err(Failed {
                        data: 0,
                        error: Error::os(e, "recv"),
                    })
                }
            }
        }
    }

    /// The server closed TCP without close_notify (docs/api.md, `recv`): at a record boundary the end
    /// of the data (unless SSLSOCK_STRICT_EOF=1), inside a record a truncated stream.
    fn end_of_stream(&self, inbound: &Inbound, wire: &Wire) -> Result<Got, Failed> {
        let error = if inbound.has_ciphertext() {
            Error::new(
                WsaCode::ECONNRESET,
                "recv: the connection was closed in the middle of a TLS record (truncated stream)",
            )
        } else if settings::get().strict_eof {
            Error::new(
                WsaCode::ECONNABORTED,
                "recv: the server closed the connection without close_notify (SSLSOCK_STRICT_EOF=1)",
            )
        } else {
            log!(
                Level::Warn,
                "fd {}: the server closed without close_notify (at a record boundary: end of data)",
                wire.fd()
            );
            return Ok(Got::End(false));
        };
        Err(Failed { data: 0, error })
    }

    /// Take in the whole records already read (no system call but for sending answers).
    pub fn take_in(
        &mut self,
        inbound: &mut Inbound,
        out: &mut Outbound,
        wire: &Wire,
    ) -> Result<(), Failed> {
        if !inbound.held.is_empty() || !inbound.has_ciphertext() {
            return Ok(());
        }
        let stop = self.process(inbound, out, &mut [], &mut 0);
        if !out.is_empty() {
            let _ = out.send_now(wire);
        }
        stop.map(drop).map_err(|e| Failed {
            data: 0,
            error: tls_error(&e),
        })
    }

    /// Take in what the kernel has now; Ok(true) when a read would return at once.
    pub fn pull(
        &mut self,
        inbound: &mut Inbound,
        out: &mut Outbound,
        wire: &Wire,
    ) -> Result<bool, Failed> {
        let mut none = 0;
        let mut filled = 0;
        for _ in 0..DATALESS_FILLS {
            if !inbound.held.is_empty() || self.peer_closed || inbound.eof {
                return Ok(true);
            }
            let stop = self.process(inbound, out, &mut [], &mut none);
            if !out.is_empty() {
                let _ = out.send_now(wire);
            }
            match stop {
                Err(e) => {
                    return Err(Failed {
                        data: 0,
                        error: tls_error(&e),
                    })
                }
                Ok(Stop::Idle) => {}
                Ok(_) => return Ok(true),
            }
            match inbound.fill(wire) {
                Ok(n) => filled += n,
                Err(libc::EAGAIN) => return Ok(false),
                Err(e) => {
                    return Err(Failed {
                        data: 0,
                        error: Error::os(e, "recv"),
                    })
                }
            }
        }
        let _ = filled;
        Ok(!inbound.held.is_empty())
    }

    /// Drive the connection to its `WriteTraffic` state (taking in records already read on the way)
    /// and call `write` there.
    fn with_write_traffic<R>(
        &mut self,
        inbound: &mut Inbound,
        out: &mut Outbound,
        mut write: impl FnMut(
            &mut rustls::unbuffered::WriteTraffic<'_, rustls::client::ClientConnectionData>,
            &mut Outbound,
        ) -> R,
    ) -> Result<R, Error> {
        // Tickets can only come in ciphertext held here (none is read in this loop): without any, no
        // scope is needed (this is every `send` of a quiet connection).
        let _tickets = if inbound.has_ciphertext() {
            self.tickets.clone().map(verify::enter)
        } else {
            None
        };
        loop {
            let Inbound {
                buf,
                start,
                end,
                held,
                ..
            } = &mut *inbound;
            let status = self.conn.process_tls_records(&mut buf[*start..*end]);
            let mut discard = status.discard;
            let mut result = None;
            let act = match status.state {
                Ok(ConnectionState::WriteTraffic(mut w)) => {
                    result = Some(write(&mut w, out));
                    Act::Write
                }
                Ok(ConnectionState::ReadTraffic(mut r)) => {
                    match take_records(&mut r, &mut [], &mut 0, held, &mut discard) {
                        Ok(()) => Act::Again,
                        Err(e) => {
                            *start += discard;
                            queue_alerts(&mut self.conn, inbound, out);
                            return Err(tls_error(&e));
                        }
                    }
                }
                Ok(ConnectionState::EncodeTlsData(mut e)) => {
                    encode(&mut e, out);
                    Act::Again
                }
                Ok(ConnectionState::TransmitTlsData(t)) => {
                    t.done();
                    Act::Again
                }
                Ok(ConnectionState::PeerClosed) => {
                    self.peer_closed = true;
                    Act::Again
                }
                Ok(_) => Act::Closed,
                Err(e) => {
                    *start += discard;
                    queue_alerts(&mut self.conn, inbound, out);
                    return Err(tls_error(&e));
                }
            };
            *start += discard;
            match (act, result) {
                (_, Some(r)) => return Ok(r),
                (Act::Closed, _) => {
                    return Err(Error::new(
                        WsaCode::ESHUTDOWN,
                        "send: the TLS session is closed",
                    ))
                }
                _ => continue,
            }
        }
    }

    /// Encrypt from `data` into the send buffer and send what the kernel takes, for as long as it takes
    /// it (up to `SEND_ROUND`). Returns the bytes taken from `data`.
    pub fn send(
        &mut self,
        inbound: &mut Inbound,
        out: &mut Outbound,
        wire: &Wire,
        data: &[u8],
    ) -> Result<usize, Error> {
        let mut taken = 0;
        loop {
            let round_end = data.len().min(taken + SEND_ROUND);
            let encrypted = self.with_write_traffic(inbound, out, |w, out| {
                let mut n = 0;
                while taken + n < round_end && (out.is_empty() || out.free() >= RECORD_MAX) {
                    let chunk = &data[taken + n..round_end.min(taken + n + PLAINTEXT_MAX)];
                    let mut want = chunk.len() + 256;
                    loop {
                        match w.encrypt(chunk, out.room(want)) {
                            Ok(written) => {
                                out.wrote(written);
                                n += chunk.len();
                                break;
                            }
                            Err(EncryptError::InsufficientSize(s)) => want = s.required_size,
                            Err(e) => {
                                return Err(Error::new(
                                    WsaCode::ECONNABORTED,
                                    format!("send: TLS could not encrypt: {e}"),
                                ))
                            }
                        }
                    }
                }
                Ok(n)
            })??;
            taken += encrypted;
            match out.send_now(wire) {
                Ok(true) if taken < round_end => continue,
                Ok(_) => return Ok(taken),
                Err(e) => return Err(Error::os(e, "send")),
            }
        }
    }

    /// Queue our close_notify behind what waits, and send what the kernel takes now.
    pub fn close_notify(&mut self, inbound: &mut Inbound, out: &mut Outbound, wire: &Wire) {
        let queued = self.with_write_traffic(inbound, out, |w, out| {
            if let Ok(n) = w.queue_close_notify(out.room(64)) {
                out.wrote(n);
            }
        });
        if queued.is_ok() || !out.is_empty() {
            let _ = out.send_now(wire);
        }
    }
}
