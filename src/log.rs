//! Diagnostics to stderr or `SSLSOCK_LOG_FILE`, off by default. Never logs secrets or payload.

use crate::settings::{self, Level};

/// Whether lines of `level` are wanted.
pub fn enabled(level: Level) -> bool {
    level != Level::Off && settings::get().log_level >= level
}

/// Write one line (used through the `log!` macro).
pub fn write(level: Level, args: std::fmt::Arguments<'_>) {
    let tag = match level {
        Level::Error => "error",
        Level::Warn => "warn",
        Level::Info => "info",
        Level::Debug | Level::Off => "debug",
    };
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() };
    let line = format!("sslsock[{pid}] {tag}: {args}\n");
    crate::sys::fd::write_stderr(settings::get().log_fd, line.as_bytes());
}

/// `log!(Level::Warn, "...", args)`: formats only when the level is enabled.
macro_rules! log {
    ($level:expr, $($arg:tt)*) => {
        if $crate::log::enabled($level) {
            $crate::log::write($level, format_args!($($arg)*));
        }
    };
}
pub(crate) use log;
