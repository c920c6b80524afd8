//! One error type for the whole library, the errno ↔ Winsock code table (the only place codes are
//! invented), and the calling thread's Winsock last error with its readable reason.
//!
//! Winsock codes are `10000 + the BSD errno`; Linux numbers its errno values differently, hence the table.
//! `errno` and the Winsock last error are kept apart: `errno` stays exactly as libc would set it for
//! plain sockets, while `WSAGetLastError` reads its own per-thread value.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::ffi::{c_int, CStr, CString};
use std::fmt;

/// A Winsock error code (`WSAE*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WsaCode(pub c_int);

macro_rules! wsa_codes {
    ($($name:ident = $value:expr, $errno:expr;)*) => {
        impl WsaCode {
            $(#[doc = concat!("`WSA", stringify!($name), "`")] pub const $name: WsaCode = WsaCode($value);)*
        }
        /// Winsock code ↔ Linux errno, one row a pair (Wine's `sock_get_error` idea).
        const TABLE: &[(WsaCode, c_int)] = &[$((WsaCode($value), $errno),)*];
    };
}

wsa_codes! {
    EINTR = 10004, libc::EINTR;
    EBADF = 10009, libc::EBADF;
    EACCES = 10013, libc::EACCES;
    EFAULT = 10014, libc::EFAULT;
    EINVAL = 10022, libc::EINVAL;
    EMFILE = 10024, libc::EMFILE;
    EWOULDBLOCK = 10035, libc::EWOULDBLOCK;
    EINPROGRESS = 10036, libc::EINPROGRESS;
    EALREADY = 10037, libc::EALREADY;
    ENOTSOCK = 10038, libc::ENOTSOCK;
    EDESTADDRREQ = 10039, libc::EDESTADDRREQ;
    EMSGSIZE = 10040, libc::EMSGSIZE;
    EPROTOTYPE = 10041, libc::EPROTOTYPE;
    ENOPROTOOPT = 10042, libc::ENOPROTOOPT;
    EPROTONOSUPPORT = 10043, libc::EPROTONOSUPPORT;
    ESOCKTNOSUPPORT = 10044, libc::ESOCKTNOSUPPORT;
    EOPNOTSUPP = 10045, libc::EOPNOTSUPP;
    EPFNOSUPPORT = 10046, libc::EPFNOSUPPORT;
    EAFNOSUPPORT = 10047, libc::EAFNOSUPPORT;
    EADDRINUSE = 10048, libc::EADDRINUSE;
    EADDRNOTAVAIL = 10049, libc::EADDRNOTAVAIL;
    ENETDOWN = 10050, libc::ENETDOWN;
    ENETUNREACH = 10051, libc::ENETUNREACH;
    ENETRESET = 10052, libc::ENETRESET;
    ECONNABORTED = 10053, libc::ECONNABORTED;
    ECONNRESET = 10054, libc::ECONNRESET;
    ENOBUFS = 10055, libc::ENOBUFS;
    EISCONN = 10056, libc::EISCONN;
    ENOTCONN = 10057, libc::ENOTCONN;
    ESHUTDOWN = 10058, libc::ESHUTDOWN;
    ETOOMANYREFS = 10059, libc::ETOOMANYREFS;
    ETIMEDOUT = 10060, libc::ETIMEDOUT;
    ECONNREFUSED = 10061, libc::ECONNREFUSED;
    ELOOP = 10062, libc::ELOOP;
    ENAMETOOLONG = 10063, libc::ENAMETOOLONG;
    EHOSTDOWN = 10064, libc::EHOSTDOWN;
    EHOSTUNREACH = 10065, libc::EHOSTUNREACH;
    ENOTEMPTY = 10066, libc::ENOTEMPTY;
    EUSERS = 10068, libc::EUSERS;
    EDQUOT = 10069, libc::EDQUOT;
    ESTALE = 10070, libc::ESTALE;
    EREMOTE = 10071, libc::EREMOTE;
    SYSNOTREADY = 10091, libc::EIO;
    VERNOTSUPPORTED = 10092, libc::EINVAL;
    NOTINITIALISED = 10093, libc::EINVAL;
}

impl WsaCode {
    /// Win32 `ERROR_INVALID_DATA` (not a Winsock code: for `SslCrackCertificate`, whose last error is
    /// `GetLastError`'s, the same per-thread value on Windows).
    pub const WIN32_INVALID_DATA: WsaCode = WsaCode(13);
    /// Win32 `ERROR_INVALID_PARAMETER` (as above).
    pub const WIN32_INVALID_PARAMETER: WsaCode = WsaCode(87);
    /// Win32 `ERROR_INVALID_HANDLE`, Winsock's `WSA_INVALID_HANDLE` (an event handle that is none).
    pub const WIN32_INVALID_HANDLE: WsaCode = WsaCode(6);
    /// Win32 `ERROR_NOT_ENOUGH_MEMORY`, Winsock's `WSA_NOT_ENOUGH_MEMORY`.
    pub const WIN32_NOT_ENOUGH_MEMORY: WsaCode = WsaCode(8);

    /// The Winsock code for a Linux errno. Errno values Winsock has no name for map to their nearest
    /// meaning (EAGAIN is EWOULDBLOCK; EPIPE is WSAESHUTDOWN; ENOMEM is WSAENOBUFS), the rest to WSAEINVAL.
    pub fn from_errno(errno: c_int) -> WsaCode {
        match errno {
            libc::EPIPE => return WsaCode::ESHUTDOWN,
            libc::ENOMEM => return WsaCode::ENOBUFS,
            libc::EPERM => return WsaCode::EACCES,
            libc::ENFILE => return WsaCode::EMFILE,
            _ => {}
        }
        // The startup codes (10091 and up) are never derived from an errno.
        TABLE
            .iter()
            .find(|(code, e)| *e == errno && code.0 < 10090)
            .map_or(WsaCode::EINVAL, |(code, _)| *code)
    }

    /// The errno that goes with this Winsock code when sslsock itself reports it.
    pub fn errno(self) -> c_int {
        TABLE
            .iter()
            .find(|(code, _)| *code == self)
            .map_or(libc::EINVAL, |(_, e)| *e)
    }
}

/// Every failure inside sslsock: a Winsock code, the errno that goes with it, and a readable reason.
#[derive(Clone, Debug)]
pub struct Error {
    code: WsaCode,
    errno: c_int,
    reason: Cow<'static, str>,
}

/// The result type of the whole library.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// A failure sslsock decided on, with its reason; errno follows from the code.
    pub fn new(code: WsaCode, reason: impl Into<Cow<'static, str>>) -> Error {
        Error {
            code,
            errno: code.errno(),
            reason: reason.into(),
        }
    }

    /// A failure the kernel reported through errno while doing `what`.
    pub fn os(errno: c_int, what: &'static str) -> Error {
        let text = std::io::Error::from_raw_os_error(errno);
        Error {
            code: WsaCode::from_errno(errno),
            errno,
            reason: format!("{what}: {text}").into(),
        }
    }

    /// The current errno, as left by the call that just failed.
    pub fn last_os(what: &'static str) -> Error {
        Error::os(errno(), what)
    }

    /// The same error with another errno (e.g. a non-blocking connect: WSAEWOULDBLOCK with EINPROGRESS).
    pub fn with_errno(mut self, errno: c_int) -> Error {
        self.errno = errno;
        self
    }

    /// The same error, its reason prefixed with the operation it happened in.
    pub fn context(mut self, what: &str) -> Error {
        self.reason = format!("{what}: {}", self.reason).into();
        self
    }

    /// The Winsock code.
    pub fn code(&self) -> WsaCode {
        self.code
    }

    /// The errno.
    pub fn errno(&self) -> c_int {
        self.errno
    }

    /// The readable reason.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// Whether this is a "try again" error (non-blocking socket with nothing to do yet).
    pub fn is_would_block(&self) -> bool {
        self.code == WsaCode::EWOULDBLOCK
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (WSA error {})", self.reason, self.code.0)
    }
}

impl std::error::Error for Error {}

/// The calling thread's errno.
pub fn errno() -> c_int {
    // SAFETY: __errno_location returns the calling thread's errno slot, valid for the thread's life.
    unsafe { *libc::__errno_location() }
}

/// Set the calling thread's errno.
pub fn set_errno(value: c_int) {
    // SAFETY: as in `errno`.
    unsafe { *libc::__errno_location() = value }
}

/// Why the last call failed, kept cheaply: a plain-socket failure stores only the call and errno and is
/// put into words only when someone asks.
enum Reason {
    None,
    Os { what: &'static str, errno: c_int },
    Text(String),
}

thread_local! {
    static LAST_CODE: Cell<c_int> = const { Cell::new(0) };
    static LAST_REASON: RefCell<Reason> = const { RefCell::new(Reason::None) };
    /// Counts the failures recorded on this thread (see `last_reason_ptr`).
    static REASON_GENERATION: Cell<u64> = const { Cell::new(0) };
    /// The text handed out by `last_reason_ptr`, with the generation it was made for.
    static REASON_TEXT: RefCell<(u64, CString)> = RefCell::new((u64::MAX, CString::default()));
}

fn next_generation() {
    let _ = REASON_GENERATION.try_with(|g| g.set(g.get().wrapping_add(1)));
}

/// Record a failure for `WSAGetLastError` and `sslsock_last_error_reason`, and set errno.
/// Thread-locals are reached with `try_with`: late in thread or process exit they may be gone.
pub fn record(error: &Error) {
    next_generation();
    let _ = LAST_CODE.try_with(|c| c.set(error.code.0));
    let _ = LAST_REASON.try_with(|r| {
        if let Ok(mut r) = r.try_borrow_mut() {
            *r = Reason::Text(error.reason.to_string());
        }
    });
    set_errno(error.errno);
}

/// Record the failure of a libc call on a plain socket: the Winsock code from errno, errno untouched.
pub fn record_os(what: &'static str) {
    let e = errno();
    next_generation();
    let _ = LAST_CODE.try_with(|c| c.set(WsaCode::from_errno(e).0));
    let _ = LAST_REASON.try_with(|r| {
        if let Ok(mut r) = r.try_borrow_mut() {
            *r = Reason::Os { what, errno: e };
        }
    });
}

/// As [`record_os`], with the Winsock code given: a plain non-blocking `connect` that libc answers
/// with EINPROGRESS is WSAEWOULDBLOCK to Winsock (errno stays EINPROGRESS for POSIX code).
pub fn record_os_as(what: &'static str, code: WsaCode) {
    record_os(what);
    let _ = LAST_CODE.try_with(|c| c.set(code.0));
}

/// `WSAGetLastError`.
pub fn last_code() -> c_int {
    LAST_CODE.try_with(Cell::get).unwrap_or(0)
}

/// `WSASetLastError`: the code as given; the reason becomes the code's own description (none for 0).
pub fn set_last_code(code: c_int) {
    next_generation();
    let _ = LAST_CODE.try_with(|c| c.set(code));
    let _ = LAST_REASON.try_with(|r| {
        if let Ok(mut r) = r.try_borrow_mut() {
            *r = if code == 0 {
                Reason::None
            } else {
                Reason::Text(format!("WSASetLastError({code})"))
            };
        }
    });
}

static NO_REASON: &CStr = c"";

/// The reason for the calling thread's last failure, as a C string that stays valid until a later
/// failure has been recorded on that thread and this function is called again (or the thread exits):
/// asking twice about the same failure gives the same pointer.
pub fn last_reason_ptr() -> *const std::ffi::c_char {
    let generation = REASON_GENERATION.try_with(Cell::get).unwrap_or(0);
    let cached = REASON_TEXT
        .try_with(|slot| {
            let slot = slot.borrow();
            (slot.0 == generation).then(|| slot.1.as_ptr())
        })
        .ok()
        .flatten();
    if let Some(ptr) = cached {
        return ptr;
    }
    let text = LAST_REASON
        .try_with(|r| match &*r.borrow() {
            Reason::None => String::new(),
            Reason::Os { what, errno } => {
                format!("{what}: {}", std::io::Error::from_raw_os_error(*errno))
            }
            Reason::Text(t) => t.clone(),
        })
        .unwrap_or_default();
    let text = CString::new(text.replace('\0', " ")).unwrap_or_default();
    REASON_TEXT
        .try_with(|slot| {
            let mut slot = slot.borrow_mut();
            *slot = (generation, text);
            slot.1.as_ptr()
        })
        .unwrap_or(NO_REASON.as_ptr())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reason_pointer_is_stable_until_the_next_failure() {
        record(&Error::new(WsaCode::ECONNABORTED, "first"));
        let a = last_reason_ptr();
        let b = last_reason_ptr();
        assert_eq!(
            a, b,
            "asking again about the same failure gives the same text"
        );
        // SAFETY: `a` is still valid (no failure recorded since).
        assert_eq!(unsafe { std::ffi::CStr::from_ptr(a) }.to_str(), Ok("first"));
        record(&Error::new(WsaCode::ETIMEDOUT, "second"));
        // SAFETY: a new failure was recorded but the function not called again: `a` is still valid.
        assert_eq!(unsafe { std::ffi::CStr::from_ptr(a) }.to_str(), Ok("first"));
        let c = last_reason_ptr();
        // SAFETY: `c` was just returned.
        let second = unsafe { std::ffi::CStr::from_ptr(c) };
        assert_eq!(second.to_str(), Ok("second"));
    }

    #[test]
    fn winsock_codes_are_bsd_numbers() {
        assert_eq!(WsaCode::from_errno(libc::EAGAIN), WsaCode(10035));
        assert_eq!(WsaCode::from_errno(libc::EINPROGRESS), WsaCode(10036));
        assert_eq!(WsaCode::from_errno(libc::ECONNABORTED), WsaCode(10053));
        assert_eq!(WsaCode::from_errno(libc::ENOTSOCK), WsaCode(10038));
        assert_eq!(WsaCode::from_errno(libc::EPIPE), WsaCode::ESHUTDOWN);
        assert_eq!(WsaCode::from_errno(libc::EIO), WsaCode::EINVAL);
        assert_eq!(WsaCode::ECONNABORTED.errno(), libc::ECONNABORTED);
        assert_eq!(WsaCode::EWOULDBLOCK.errno(), libc::EAGAIN);
    }

    #[test]
    fn every_row_round_trips_but_the_aliases() {
        for (code, errno) in TABLE {
            if code.0 > 10090 {
                continue; // startup codes share errno values
            }
            assert_eq!(WsaCode::from_errno(*errno), *code, "{errno}");
        }
    }

    #[test]
    fn last_error_is_per_thread_and_reason_readable() {
        record(&Error::new(WsaCode::ECONNABORTED, "hook said no"));
        assert_eq!(last_code(), 10053);
        assert_eq!(errno(), libc::ECONNABORTED);
        // SAFETY: the pointer is valid until this thread's next call.
        let text = unsafe { CStr::from_ptr(last_reason_ptr()) };
        assert_eq!(text.to_str().unwrap(), "hook said no");
        std::thread::spawn(|| assert_eq!(last_code(), 0))
            .join()
            .unwrap();
        set_last_code(0);
        assert_eq!(last_code(), 0);
        // SAFETY: as above.
        assert!(unsafe { CStr::from_ptr(last_reason_ptr()) }
            .to_bytes()
            .is_empty());
    }
}
