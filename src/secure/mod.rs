//! The TLS side of sslsock, knowing nothing of C: per-socket state machine, rustls configuration,
//! the CE certificate decision, and connection info. Safe Rust only.

mod config;
mod files;
mod handshake;
mod identity;
mod info;
mod ktls;
pub mod options;
mod record;
mod sessions;
mod socket;
mod verify;

pub use config::{hold_for_fork, HeldForFork};
pub use identity::ClientIdentity;
pub use options::{
    parse_server_name, CacheOptions, CertJudge, Flags, Options, PeerName, Protocols,
};
pub use socket::{InFlight, RecvFlags, SecureSocket};
