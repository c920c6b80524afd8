//! The C library underneath us.
//!
//! sslsock exports `send`, `recv`, `close`, ... so inside this library those names resolve to our own
//! functions too (docs/architecture.md, "Why it is shaped this way"). Every descriptor call sslsock makes for itself therefore goes
//! through [`real`], which binds libc's function with `dlsym(RTLD_NEXT, ...)` on first use, caches it in an
//! atomic (no lock, no allocation of ours), and aborts with a message rather than bind our own symbol.

pub mod fd;
pub mod ktls;
pub mod real;
#[cfg(all(target_pointer_width = "32", target_env = "gnu"))]
pub mod time64;
