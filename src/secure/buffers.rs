//! The ciphertext buffers of secure sockets, and where they go while a socket is idle.
//!
//! A socket holds a buffer only while it has bytes in it: ciphertext read and not yet a whole record,
//! plaintext not yet taken by the program, records not yet taken by the kernel. The rest of the time the
//! buffer goes back to a small per-thread stock (at most [`STOCK`] of each size), from which the next
//! read or write on that thread takes it again, so an idle socket costs no buffer memory and an active
//! one does not zero a fresh 18 KiB buffer per call. Per thread, so taking and giving back take no
//! lock (and nothing to hold across `fork`).

use std::cell::RefCell;

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
