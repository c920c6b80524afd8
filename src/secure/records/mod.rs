//! The record layer of an established session: two implementations behind one enum.
//!
//! - [`user::UserRecords`]: rustls' unbuffered connection does the records in userspace. Ciphertext is
//!   read into the socket's own receive buffer and decrypted there; `send` encrypts straight into the
//!   socket's send buffer.
//! - [`kernel::KernelRecords`]: the kernel does them (kernel TLS, `SSLSOCK_KTLS=1`); rustls'
//!   `KernelConnection` keeps storing TLS 1.3 tickets and following key updates.
//!
//! `send`, `recv`, readiness and close_notify live here. Every method makes non-blocking system
//! calls only (through [`Wire`]); the waits, deadlines and the failing of the socket are the socket's
//! (`transfer`). The caller holds the socket's state lock, which also guards the buffers.

pub mod kernel;
pub mod user;

use super::buffers::{self, RECEIVE_SIZE, SEND_SIZE};
use super::wire::Wire;
use crate::error::Error;
use crate::sys::fd::Errno;

/// Decrypted bytes not yet taken by the program, at `start..`.
#[derive(Default)]
pub struct Held {
    bytes: Vec<u8>,
    start: usize,
}

impl Held {
    /// The bytes held.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes[self.start..]
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.start == self.bytes.len()
    }

    /// Copy held bytes into `buf`; taken unless `peek`. Returns the count.
    pub fn give(&mut self, buf: &mut [u8], peek: bool) -> usize {
        let n = self.bytes().len().min(buf.len());
        buf[..n].copy_from_slice(&self.bytes[self.start..self.start + n]);
        if !peek {
            self.start += n;
            if self.is_empty() {
                self.bytes.clear();
                self.start = 0;
            }
        }
        n
    }

    /// Keep decrypted bytes for later, after those held.
    pub fn hold(&mut self, bytes: &[u8]) {
        self.bytes.extend_from_slice(bytes);
    }

    /// Give the memory back when nothing is held.
    fn release_if_empty(&mut self) {
        if self.is_empty() && self.bytes.capacity() > 0 {
            self.bytes = Vec::new();
            self.start = 0;
        }
    }
}

/// Ciphertext read from the kernel and not yet a whole record, and plaintext not yet taken by the
/// program. Both are held only while they have bytes in them (see `buffers`).
#[derive(Default)]
pub struct Inbound {
    /// Ciphertext at `start..end` (empty: no buffer held).
    pub buf: Vec<u8>,
    /// First byte not yet discarded by rustls.
    pub start: usize,
    /// End of what the kernel gave.
    pub end: usize,
    /// Decrypted bytes not yet taken by the program.
    pub held: Held,
    /// The kernel reported the end of the TCP stream.
    pub eof: bool,
}

impl Inbound {
    /// Whether ciphertext is held (part of a record, or records not yet processed).
    pub fn has_ciphertext(&self) -> bool {
        self.start < self.end
    }

    /// Read what the kernel has now after the ciphertext held. Ok(0): the end of the stream.
    pub fn fill(&mut self, wire: &Wire) -> Result<usize, Errno> {
        if self.buf.is_empty() {
            self.buf = buffers::take(RECEIVE_SIZE);
            (self.start, self.end) = (0, 0);
        } else if self.start == self.end {
            (self.start, self.end) = (0, 0);
        } else if self.buf.len() - self.end < RECEIVE_SIZE / 2 {
            // Keep the ciphertext not yet discarded at the front (rustls counts from its first byte).
            self.buf.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, self.end - self.start);
            if self.buf.len() - self.end < RECEIVE_SIZE / 2 {
                // A handshake message longer than a record: room for one more.
                self.buf.resize(self.buf.len() + RECEIVE_SIZE, 0);
            }
        }
        let n = wire.recv_now(&mut self.buf[self.end..])?;
        if n == 0 {
            self.eof = true;
        }
        self.end += n;
        Ok(n)
    }

    /// Give the buffers back when they hold nothing (the socket is idle).
    pub fn release_if_empty(&mut self) {
        if self.start == self.end && !self.buf.is_empty() {
            buffers::give(std::mem::take(&mut self.buf));
            (self.start, self.end) = (0, 0);
        }
        self.held.release_if_empty();
    }
}

/// Records waiting for the kernel, at `sent..end` of the send buffer.
#[derive(Default)]
pub struct Outbound {
    buf: Vec<u8>,
    sent: usize,
    end: usize,
}

impl Outbound {
    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.sent == self.end
    }

    /// Room at the end of the buffer for at least `want` bytes (taking or growing the buffer).
    pub fn room(&mut self, want: usize) -> &mut [u8] {
        if self.buf.is_empty() {
            self.buf = buffers::take(SEND_SIZE);
        }
        if self.sent == self.end {
            (self.sent, self.end) = (0, 0);
        }
        if self.buf.len() - self.end < want {
            if self.sent > 0 {
                self.buf.copy_within(self.sent..self.end, 0);
                (self.sent, self.end) = (0, self.end - self.sent);
            }
            if self.buf.len() - self.end < want {
                self.buf.resize(self.end + want, 0);
            }
        }
        &mut self.buf[self.end..]
    }

    /// Bytes free at the end without growing (0 when no buffer is held).
    pub fn free(&self) -> usize {
        if self.buf.is_empty() {
            SEND_SIZE
        } else if self.sent == self.end {
            self.buf.len()
        } else {
            self.buf.len() - self.end
        }
    }

    /// `n` bytes were written at the start of `room`.
    pub fn wrote(&mut self, n: usize) {
        self.end += n;
    }

    /// Send what the kernel takes now: Ok(true) when nothing is left (the buffer then goes back).
    pub fn send_now(&mut self, wire: &Wire) -> Result<bool, Errno> {
        while self.sent < self.end {
            match wire.send_now(&self.buf[self.sent..self.end]) {
                Ok(n) => self.sent += n,
                Err(libc::EAGAIN) => return Ok(false),
                Err(e) => return Err(e),
            }
        }
        (self.sent, self.end) = (0, 0);
        if !self.buf.is_empty() {
            buffers::give(std::mem::take(&mut self.buf));
        }
        Ok(true)
    }
}

/// What one non-blocking read of the record layer gave.
#[derive(Debug)]
pub enum Got {
    /// Bytes were put in the caller's buffer.
    Data(usize),
    /// The end of the data: the server's close_notify (`true`), or a TCP close the socket accepts
    /// as an end (`false`).
    End(bool),
    /// No data now; `true` when records came that made none (session tickets, key updates).
    Nothing(bool),
}

/// A read that ended in a failure, perhaps after giving data first.
pub struct Failed {
    /// Bytes put in the caller's buffer before the failure (data before a fatal record).
    pub data: usize,
    /// What failed: the socket fails with it.
    pub error: Error,
}

/// The record layer of an established session.
pub enum Records {
    /// rustls does the records in userspace.
    User(Box<user::UserRecords>),
    /// The kernel does them.
    Kernel(Box<kernel::KernelRecords>),
}

impl Records {
    /// One non-blocking read into `buf` (`peek`: MSG_PEEK).
    pub fn recv(
        &mut self,
        inbound: &mut Inbound,
        out: &mut Outbound,
        wire: &Wire,
        buf: &mut [u8],
        peek: bool,
    ) -> Result<Got, Failed> {
        match self {
            Records::User(u) => u.recv(inbound, out, wire, buf, peek),
            Records::Kernel(k) => k.recv(wire, buf, peek),
        }
    }

    /// Take in what the kernel holds now (for readiness and `FIONREAD`), never waiting. Ok(true) when
    /// a read would now return at once (data, the end, or a failure to report).
    pub fn pull(
        &mut self,
        inbound: &mut Inbound,
        out: &mut Outbound,
        wire: &Wire,
    ) -> Result<bool, Failed> {
        match self {
            Records::User(u) => u.pull(inbound, out, wire),
            Records::Kernel(k) => k.readable(wire),
        }
    }

    /// Decrypted bytes a read would give now without the kernel (`FIONREAD`).
    pub fn readable_bytes(&mut self, inbound: &Inbound, wire: &Wire) -> usize {
        match self {
            Records::User(_) => inbound.held.bytes().len(),
            Records::Kernel(k) => k.readable_bytes(wire),
        }
    }

    /// Encrypt as much of `data` as the send buffer takes (at least one record when it is empty), and
    /// send what the kernel takes now. Returns the bytes taken from `data`.
    pub fn send(
        &mut self,
        inbound: &mut Inbound,
        out: &mut Outbound,
        wire: &Wire,
        data: &[u8],
    ) -> Result<usize, Error> {
        match self {
            Records::User(u) => u.send(inbound, out, wire, data),
            Records::Kernel(k) => k.send(wire, data),
        }
    }

    /// Queue our close_notify behind what waits, and send what the kernel takes now.
    pub fn close_notify(&mut self, inbound: &mut Inbound, out: &mut Outbound, wire: &Wire) {
        match self {
            Records::User(u) => u.close_notify(inbound, out, wire),
            Records::Kernel(k) => k.close_notify(wire),
        }
    }

    /// Whether records wait for the kernel (a blocking `shutdown`/`send` waits for room).
    pub fn waiting_to_send(&self, out: &Outbound) -> bool {
        match self {
            Records::User(_) => !out.is_empty(),
            Records::Kernel(k) => k.close_notify_pending(),
        }
    }
}
