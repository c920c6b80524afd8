//! The 64-bit time structures of 32-bit glibc under `_TIME_BITS=64` (`__USE_TIME_BITS64`): what a
//! program built so passes to `__select64`, `__pselect64`, `__ppoll64`, `__recvmmsg64` and, for
//! SO_RCVTIMEO/SO_SNDTIMEO, to `__setsockopt64`. Defined here rather than taken from the `libc` crate,
//! whose `timeval`/`timespec` follow the crate's own build (32-bit `time_t` on these targets unless it
//! is built with `gnu_time_bits64`), while these follow the program's.

/// The kernel's `SO_RCVTIMEO_NEW`: what `SO_RCVTIMEO` is in a program built with `_TIME_BITS=64` on a
/// 32-bit target (its `time_t` is no longer a `long`; asm-generic/socket.h), taking a 64-bit timeval.
#[cfg(not(target_arch = "sparc"))]
pub const SO_RCVTIMEO_NEW: libc::c_int = 66;
/// The kernel's `SO_SNDTIMEO_NEW` (`SO_SNDTIMEO` under `_TIME_BITS=64`).
#[cfg(not(target_arch = "sparc"))]
pub const SO_SNDTIMEO_NEW: libc::c_int = 67;
/// SPARC's `SO_RCVTIMEO_NEW`.
#[cfg(target_arch = "sparc")]
pub const SO_RCVTIMEO_NEW: libc::c_int = 0x44;
/// SPARC's `SO_SNDTIMEO_NEW`.
#[cfg(target_arch = "sparc")]
pub const SO_SNDTIMEO_NEW: libc::c_int = 0x45;

/// glibc's `struct timeval` under `_TIME_BITS=64` on a 32-bit target: two 64-bit fields (16 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timeval64 {
    /// Seconds (`__time64_t`).
    pub tv_sec: i64,
    /// Microseconds (`__suseconds64_t`).
    pub tv_usec: i64,
}

/// glibc's `struct timespec` under `_TIME_BITS=64` on a 32-bit target: a 64-bit `tv_sec`, a 32-bit
/// `tv_nsec` and 32 bits of padding on the side the byte order puts them (16 bytes, 8-aligned).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timespec64 {
    /// Seconds (`__time64_t`).
    pub tv_sec: i64,
    #[cfg(target_endian = "big")]
    _pad: i32,
    /// Nanoseconds (`long int`, 32 bits here).
    pub tv_nsec: i32,
    #[cfg(target_endian = "little")]
    _pad: i32,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The layouts glibc's headers give them with `_TIME_BITS=64` on armv7 (c-tests/time64.c checks
    /// the C side: sizeof(struct timeval) and sizeof(struct timespec) are 16).
    #[test]
    fn layouts() {
        assert_eq!(std::mem::size_of::<Timeval64>(), 16);
        assert_eq!(std::mem::size_of::<Timespec64>(), 16);
        assert_eq!(std::mem::align_of::<Timespec64>(), 8);
        assert_eq!(std::mem::offset_of!(Timeval64, tv_usec), 8);
    }
}
