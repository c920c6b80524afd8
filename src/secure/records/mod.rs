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
pub mod keys;
pub mod outcome;
pub mod user;

use super::buffers::{Inbound, Outbound};
use super::wire::Wire;
use crate::error::Error;
use outcome::{Failed, Got};

/// Where an attempt to hand the records to the kernel left them.
pub enum Switched {
    /// The kernel does the records now.
    Done(Records),
    /// Not now (something is in flight); asked again at the next call.
    NotYet(Records),
    /// Never for this socket: rustls keeps the records.
    Never(Records),
    /// The kernel refused keys it had been given: the socket fails with this.
    Failed(Error),
}

/// The record layer of an established session.
pub enum Records {
    /// rustls does the records in userspace.
    User(Box<user::UserRecords>),
    /// The kernel does them.
    Kernel(Box<kernel::KernelRecords>),
}

impl Records {
    /// Hand the records to the kernel if it takes them (`kernel::switch`; kernel TLS, `SSLSOCK_KTLS=1`).
    pub fn into_kernel(self, inbound: &Inbound, out: &Outbound, wire: &Wire) -> Switched {
        match self {
            Records::User(user) => match kernel::switch(user, inbound, out, wire) {
                Ok(k) => Switched::Done(Records::Kernel(Box::new(k))),
                Err(kernel::NoSwitch::NotYet(user)) => Switched::NotYet(Records::User(user)),
                Err(kernel::NoSwitch::Never(user)) => Switched::Never(Records::User(user)),
                Err(kernel::NoSwitch::Failed(error)) => Switched::Failed(error),
            },
            done @ Records::Kernel(_) => Switched::Never(done),
        }
    }

    /// For `select`/`poll` before the kernel is asked: whether a read would return at once (data held,
    /// the end, or a failure). Whole records a read left behind (its buffer was full) are taken in
    /// first; the kernel's own readiness is right for kernel TLS (it reports whole records only).
    pub fn ready_now(
        &mut self,
        inbound: &mut Inbound,
        out: &mut Outbound,
        wire: &Wire,
    ) -> Result<bool, Failed> {
        match self {
            Records::User(u) => {
                u.take_in(inbound, out, wire)?;
                Ok(!inbound.held.is_empty() || u.peer_closed() || inbound.eof)
            }
            Records::Kernel(k) => Ok(k.peer_closed()),
        }
    }

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
