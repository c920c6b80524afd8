//! The buffers of secure sockets ([`Inbound`], [`Outbound`]), and where they go while a socket is idle.
//!
//! A socket holds a buffer only while it has bytes in it: ciphertext read and not yet a whole record,
//! plaintext not yet taken by the program, records not yet taken by the kernel. The rest of the time the
//! buffer goes back to a small per-thread stock (at most [`STOCK`] of each size), from which the next
//! read or write on that thread takes it again, so an idle socket costs no buffer memory and an active
//! one does not zero a fresh 18 KiB buffer per call. Per thread, so taking and giving back take no
//! lock (and nothing to hold across `fork`).

use std::cell::RefCell;

use super::wire::Wire;
use crate::sys::fd::Errno;

/// Largest TLS record on the wire: 2^14 bytes of plaintext, at most 2048 bytes of expansion, the
/// 5-byte header (RFC 8446 §5.2, RFC 5246 §6.2.3).
pub const RECORD_MAX: usize = 16 * 1024 + 2048 + 5;

/// Plaintext of one full record (2^14).
pub const PLAINTEXT_MAX: usize = 16 * 1024;

/// The size of a receive buffer: one whole record fits.
pub const RECEIVE_SIZE: usize = RECORD_MAX;

/// The size of a send buffer: four full records, so a large `send` makes one system call per 64 KiB.
pub const SEND_SIZE: usize = 4 * RECORD_MAX;

/// Buffers of each size kept per thread.
const STOCK: usize = 2;

thread_local! {
    static RECEIVE: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
    static SEND: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// A buffer of `size` bytes (`RECEIVE_SIZE` or `SEND_SIZE`), from the thread's stock if it has one.
pub fn take(size: usize) -> Vec<u8> {
    let stock = if size == SEND_SIZE { &SEND } else { &RECEIVE };
    stock
        .try_with(|s| s.borrow_mut().pop())
        .ok()
        .flatten()
        .filter(|b| b.len() == size)
        .unwrap_or_else(|| vec![0; size])
}

/// Give a buffer back: kept for the next call on this thread, or freed. A buffer that grew for an
/// unusual record is freed.
pub fn give(buffer: Vec<u8>) {
    let stock = match buffer.len() {
        SEND_SIZE => &SEND,
        RECEIVE_SIZE => &RECEIVE,
        _ => return,
    };
    let _ = stock.try_with(|s| {
        let mut s = s.borrow_mut();
        if s.len() < STOCK {
            s.push(buffer);
        }
    });
}

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
            self.buf = take(RECEIVE_SIZE);
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
            give(std::mem::take(&mut self.buf));
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
            self.buf = take(SEND_SIZE);
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
                // (A stream socket answers EAGAIN rather than 0; 0 is taken as "no room" all the same.)
                Ok(0) | Err(libc::EAGAIN) => return Ok(false),
                Ok(n) => self.sent += n,
                Err(e) => return Err(e),
            }
        }
        (self.sent, self.end) = (0, 0);
        if !self.buf.is_empty() {
            give(std::mem::take(&mut self.buf));
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back_once_and_keep_their_size() {
        let a = take(RECEIVE_SIZE);
        assert_eq!(a.len(), RECEIVE_SIZE);
        let ptr = a.as_ptr();
        give(a);
        let b = take(RECEIVE_SIZE);
        assert_eq!(b.as_ptr(), ptr, "the stock gives back the buffer given");
        let c = take(SEND_SIZE);
        assert_eq!(c.len(), SEND_SIZE);
        give(vec![0; 100]); // not a stock size: freed
        give(b);
        give(c);
        assert_eq!(take(RECEIVE_SIZE).len(), RECEIVE_SIZE);
    }
}
