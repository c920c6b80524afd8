//! Configuration from the environment, read once on first use (never from a constructor).
//!
//! `SSLSOCK_LOG` (`error`/`warn`/`info`/`debug`), `SSLSOCK_LOG_FILE`, `SSLSOCK_STRICT_EOF`,
//! `SSLSOCK_KTLS`, and OpenSSL's `SSL_CERT_FILE` / `SSL_CERT_DIR` / `SSLKEYLOGFILE`. In a setuid or
//! setgid program (AT_SECURE) none of them is honoured.

use std::sync::OnceLock;

/// Log verbosity, least to most.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Nothing.
    Off,
    /// Failures.
    Error,
    /// Things that work but deserve attention (a missing close_notify).
    Warn,
    /// One line per secure connection.
    Info,
    /// Each step.
    Debug,
}

/// The settings of this process.
#[derive(Debug)]
pub struct Settings {
    /// `SSLSOCK_LOG`.
    pub log_level: Level,
    /// Where log lines go: stderr, or the descriptor of `SSLSOCK_LOG_FILE`.
    pub log_fd: i32,
    /// `SSLSOCK_STRICT_EOF=1`: a TCP close without close_notify is an error even at a record boundary.
    pub strict_eof: bool,
    /// `SSLSOCK_KTLS=1` (or `on`): hand the records to kernel TLS once a connection is established, when
    /// the kernel offers it (see `secure::ktls`). Off by default.
    pub ktls: bool,
    /// Whether this is a setuid/setgid program, where the environment is not trusted.
    pub secure_exec: bool,
}

/// The process's settings.
pub fn get() -> &'static Settings {
    static SETTINGS: OnceLock<Settings> = OnceLock::new();
    crate::locks::init_once(&SETTINGS, read)
}

/// An environment variable, unless the program is setuid.
pub fn env(name: &str) -> Option<String> {
    if get().secure_exec {
        return None;
    }
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn read() -> Settings {
    // SAFETY: getauxval only reads the auxiliary vector.
    let secure_exec = unsafe { libc::getauxval(libc::AT_SECURE) } != 0;
    let var = |name: &str| {
        if secure_exec {
            None
        } else {
            std::env::var(name).ok().filter(|v| !v.is_empty())
        }
    };
    let log_level = match var("SSLSOCK_LOG")
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("error") => Level::Error,
        Some("warn") | Some("warning") => Level::Warn,
        Some("info") => Level::Info,
        Some("debug") | Some("trace") | Some("1") => Level::Debug,
        _ => Level::Off,
    };
    let mut log_fd = 2;
    if log_level > Level::Off {
        if let Some(path) = var("SSLSOCK_LOG_FILE") {
            if let Ok(path) = std::ffi::CString::new(path) {
                // SAFETY: a NUL-terminated path; sslsock does not export open.
                let fd = unsafe {
                    libc::open(
                        path.as_ptr(),
                        libc::O_WRONLY | libc::O_CREAT | libc::O_APPEND | libc::O_CLOEXEC,
                        0o600,
                    )
                };
                if fd >= 0 {
                    log_fd = fd;
                }
            }
        }
    }
    Settings {
        log_level,
        log_fd,
        strict_eof: var("SSLSOCK_STRICT_EOF").is_some_and(|v| v != "0"),
        ktls: var("SSLSOCK_KTLS").is_some_and(|v| {
            matches!(v.to_ascii_lowercase().as_str(), "1" | "on" | "yes" | "true")
        }),
        secure_exec,
    }
}
