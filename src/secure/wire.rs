//! The socket's descriptor as its TLS code sees it: every system call a session makes goes through
//! [`Wire::call`], under the I/O gate.
//!
//! The gate is a read-write lock: calls hold it shared; moving the session's I/O to another of its
//! numbers (`move_to`) or sealing it (`seal`: `dup2`/`dup3` gave the socket's last number to another
//! object) holds it exclusively. So no call of a session ever touches a number that is no longer the
//! session's, and its TLS records never reach another connection (docs/security.md, "The I/O gate").
//! Only non-blocking calls are made through it (waits are not), so the exclusive side waits only for
//! calls that are about to return.

use std::ffi::c_int;
use std::sync::atomic::{AtomicI32, Ordering};

use parking_lot::RwLock;

use crate::sys::fd::{self, Errno};

/// The descriptor a session's I/O uses, behind the I/O gate.
pub struct Wire {
    fd: AtomicI32,
    /// `true` once sealed.
    gate: RwLock<bool>,
}

impl Wire {
    /// The wire of descriptor `fd`.
    pub fn new(fd: c_int) -> Wire {
        Wire {
            fd: AtomicI32::new(fd),
            gate: RwLock::new(false),
        }
    }

    /// The descriptor number (for logs and waits; system calls go through `call`).
    pub fn fd(&self) -> c_int {
        self.fd.load(Ordering::Relaxed)
    }

    /// One non-blocking system call on the descriptor, under the gate: EPIPE once sealed.
    pub fn call<T>(&self, call: impl FnOnce(c_int) -> Result<T, Errno>) -> Result<T, Errno> {
        let sealed = self.gate.read();
        if *sealed {
            return Err(libc::EPIPE);
        }
        call(self.fd())
    }

    /// Shut the kernel socket down (`SHUT_RD`, `SHUT_WR`, `SHUT_RDWR`).
    pub fn shutdown(&self, how: c_int) -> Result<(), Errno> {
        self.call(|fd| fd::shutdown(fd, how))
    }

    /// Send what the kernel takes now of `bytes`, never waiting.
    pub fn send_now(&self, bytes: &[u8]) -> Result<usize, Errno> {
        self.call(|fd| fd::send_now(fd, bytes))
    }

    /// Read what the kernel has now into `buf`, never waiting.
    pub fn recv_now(&self, buf: &mut [u8]) -> Result<usize, Errno> {
        self.call(|fd| fd::recv_now(fd, buf))
    }

    /// From now on the session's I/O uses `other`, another of its numbers.
    pub fn move_to(&self, other: c_int) {
        let _no_call_on_the_old_number = self.gate.write();
        self.fd.store(other, Ordering::Relaxed);
    }

    /// No call may touch the number from here on (`dup2`/`dup3` is giving it to another object).
    pub fn seal(&self) {
        *self.gate.write() = true;
    }

    /// Undo `seal` (the `dup2` failed: the number is still the session's).
    pub fn unseal(&self) {
        *self.gate.write() = false;
    }

    /// Whether the wire is sealed.
    pub fn is_sealed(&self) -> bool {
        *self.gate.read()
    }
}
