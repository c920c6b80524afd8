//! The TLS side of sslsock, knowing nothing of C: per-socket state machine, rustls configuration,
//! the CE certificate decision, and connection info. Safe Rust only: system calls go through `sys`.
#![forbid(unsafe_code)]

mod buffers;
mod config;
mod connect;
mod files;
mod handshake;
mod identity;
mod info;
pub mod options;
mod records;
mod sessions;
mod setup;
mod socket;
mod state;
mod transfer;
mod verify;
mod wire;

pub use config::{hold_for_fork, HeldForFork};
pub use identity::ClientIdentity;
pub use options::{
    parse_server_name, CacheOptions, CertJudge, Flags, Options, PeerName, Protocols,
};
pub use socket::{InFlight, SecureSocket};
pub use transfer::{RecvFlags, SendFlags, Shut};
