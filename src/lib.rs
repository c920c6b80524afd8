//! sslsock: the Windows CE Winsock secure-socket API (`SO_SECURE`, the `SO_SSL_*` control codes, the
//! deferred handshake) for Linux programs, over rustls.
//!
//! Layout (see `docs/architecture.md`):
//! - [`ffi`]: the C face, every export; thin wrappers.
//! - [`secure`]: the TLS side, safe Rust, knows nothing of C.
//! - [`table`]: descriptor → secure state, one atomic load for plain descriptors.
//! - [`sys`]: libc's real functions (our exports shadow them) and raw descriptor operations.
//! - [`error`]: the one error type, the Winsock code table, the per-thread last error.
//! - [`abi`]: the CE constants and structures; the source of the generated `include/sslsock.h`.
//! - [`certificate`]: `SslCrackCertificate`'s parsing (safe Rust, x509-parser).
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks, missing_docs)]
#![allow(non_snake_case, clippy::missing_safety_doc)]
// Under Miri (`make miri`) the C face is left out: its exports (`fcntl`, `close`, ...) would clash with
// Miri's own shims of those libc functions, which std calls. Nothing outside `ffi` uses it.
#![cfg_attr(miri, allow(dead_code, unused_imports))]

pub mod abi;
pub mod certificate;
pub mod error;
#[cfg(not(miri))]
pub mod ffi;
mod fork;
mod hidden;
mod locks;
mod log;
pub mod secure;
mod settings;
pub mod sys;
pub mod table;
