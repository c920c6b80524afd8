//! The TLS session cache, scoped so that resumption can never skip a certificate decision.
//!
//! rustls keys sessions by server name alone. sslsock keys them by the peer's address and port, the
//! name, and the validation policy of the socket that made them, read from the handshake context of
//! the calling thread. Sockets without a hook (where sslsock decides alone, accepting exactly when the
//! flags are 0) share sessions with sockets of the same policy to the same server. Sockets with a CE
//! validation hook share a scope of their own, and on every resumed handshake their hook judges the
//! certificate the session was made with (`handshake::judge_resumed`): the hook still decides every
//! connection. A socket whose cache size is 0 gets no scope and never resumes.

use rustls::client::{ClientSessionStore, Tls12ClientSessionValue, Tls13ClientSessionValue};
use rustls::pki_types::ServerName;
use rustls::NamedGroup;
use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use super::verify;
use crate::locks::lock;

/// Servers remembered at most.
const MAX_SERVERS: usize = 256;
/// TLS 1.3 tickets kept per server (each is single-use).
const MAX_TICKETS: usize = 4;

#[derive(Default)]
struct Entry {
    kx_hint: Option<NamedGroup>,
    /// The server's last full or resumed handshake was TLS 1.2 (it stored a TLS 1.2 session).
    tls12_server: bool,
    tls12: Option<(Instant, Tls12ClientSessionValue)>,
    tls13: VecDeque<(Instant, Tls13ClientSessionValue)>,
}

/// Whether a session stored at `at` is young enough for the current handshake.
fn fresh(at: Instant) -> bool {
    verify::current()
        .and_then(|c| c.session_max_age)
        .is_none_or(|max| at.elapsed() <= max)
}

/// The servers remembered, and their keys oldest first.
type Entries = (HashMap<String, Entry>, VecDeque<String>);

/// A session store keyed by (scope of the current handshake, server name).
///
/// Its lock is a `std::sync::Mutex`, lock 3 of the order in `fork`'s note.
#[derive(Default)]
pub struct ScopedSessionStore {
    entries: Mutex<Entries>,
}

/// The session store held locked across `fork` (see `ScopedSessionStore::hold_for_fork`).
pub struct HeldSessions {
    _guard: MutexGuard<'static, Entries>,
}

impl std::fmt::Debug for ScopedSessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScopedSessionStore")
            .field("servers", &lock(&self.entries).0.len())
            .finish()
    }
}

/// The cache key of `name` in the current handshake's scope: "scope|name". Made by hand (a handshake
/// looks keys up about six times; `format!` cost ten times as much).
fn key(name: &ServerName<'_>) -> Option<String> {
    let context = verify::current()?;
    let scope = context.session_scope.as_deref()?;
    let name = name.to_str();
    let mut key = String::with_capacity(scope.len() + 1 + name.len());
    key.push_str(scope);
    key.push('|');
    key.push_str(&name);
    Some(key)
}

impl ScopedSessionStore {
    fn with<R>(&self, name: &ServerName<'_>, f: impl FnOnce(&mut Entry) -> R) -> Option<R> {
        let key = key(name)?;
        let mut guard = lock(&self.entries);
        let (map, order) = &mut *guard;
        if !map.contains_key(&key) {
            if map.len() >= MAX_SERVERS {
                if let Some(oldest) = order.pop_front() {
                    map.remove(&oldest);
                }
            }
            order.push_back(key.clone());
        }
        Some(f(map.entry(key).or_default()))
    }

    fn peek<R>(&self, name: &ServerName<'_>, f: impl FnOnce(&mut Entry) -> Option<R>) -> Option<R> {
        let key = key(name)?;
        lock(&self.entries).0.get_mut(&key).and_then(f)
    }

    /// Lock the store until the result is dropped (`fork`'s `prepare` to its `parent`/`child`).
    pub fn hold_for_fork(&'static self) -> HeldSessions {
        HeldSessions {
            _guard: lock(&self.entries),
        }
    }
}

impl ClientSessionStore for ScopedSessionStore {
    /// Called by rustls after a TLS 1.3 handshake with the group the server took. Not kept when the
    /// handshake offered only the X25519 share because the server spoke TLS 1.2 before (see
    /// `kx_hint`): a server that now speaks TLS 1.3 gets the post-quantum share again next time.
    fn set_kx_hint(&self, name: ServerName<'static>, group: NamedGroup) {
        self.with(&name, |e| {
            let derived = e.tls12_server && e.kx_hint.is_none();
            e.tls12_server = false;
            if !(derived && group == NamedGroup::X25519) {
                e.kx_hint = Some(group);
            }
        });
    }

    /// The key share to send first. To a server that spoke TLS 1.2 last time the share is of no use
    /// (TLS 1.2 has its own key exchange), so only the cheapest one is made: X25519 rather than the
    /// X25519MLKEM768 hybrid, whose ML-KEM key generation is most of a resumed TLS 1.2 handshake's
    /// extra cost (docs/benchmarks.md, "Key share to TLS 1.2 servers").
    fn kx_hint(&self, name: &ServerName<'_>) -> Option<NamedGroup> {
        self.peek(name, |e| {
            e.kx_hint
                .or_else(|| e.tls12_server.then_some(NamedGroup::X25519))
        })
    }

    fn set_tls12_session(&self, name: ServerName<'static>, value: Tls12ClientSessionValue) {
        self.with(&name, |e| {
            e.tls12 = Some((Instant::now(), value));
            e.tls12_server = true;
        });
    }

    fn tls12_session(&self, name: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        self.peek(name, |e| {
            e.tls12
                .as_ref()
                .filter(|(at, _)| fresh(*at))
                .map(|(_, v)| v.clone())
        })
    }

    fn remove_tls12_session(&self, name: &ServerName<'static>) {
        self.peek(name, |e| e.tls12.take());
    }

    fn insert_tls13_ticket(&self, name: ServerName<'static>, value: Tls13ClientSessionValue) {
        self.with(&name, |e| {
            if e.tls13.len() >= MAX_TICKETS {
                e.tls13.pop_front();
            }
            e.tls13.push_back((Instant::now(), value));
        });
    }

    fn take_tls13_ticket(&self, name: &ServerName<'static>) -> Option<Tls13ClientSessionValue> {
        self.peek(name, |e| {
            e.tls13
                .pop_back()
                .filter(|(at, _)| fresh(*at))
                .map(|(_, v)| v)
        })
    }
}
