//! Kernel TLS at the system-call level (linux/tls.h): the `TLS_TX`/`TLS_RX` structures and the calls
//! that give them to the kernel, attach the `tls` upper layer, and read or write one record with its
//! type. What to hand over and when is decided in `secure::records::kernel`.

use std::ffi::c_int;

use super::fd;

/// `SOL_TLS` (linux/socket.h).
pub const SOL_TLS: c_int = 282;
/// `TLS_TX`: the send direction's keys (linux/tls.h).
pub const TLS_TX: c_int = 1;
/// `TLS_RX`: the receive direction's keys.
pub const TLS_RX: c_int = 2;
/// Control message naming the type of the record `sendmsg` makes.
pub const TLS_SET_RECORD_TYPE: c_int = 1;
/// Control message giving the type of the record `recvmsg` read.
pub const TLS_GET_RECORD_TYPE: c_int = 2;
/// `TLS_1_2_VERSION`.
pub const TLS_1_2_VERSION: u16 = 0x0303;
/// `TLS_1_3_VERSION`.
pub const TLS_1_3_VERSION: u16 = 0x0304;
/// `TLS_CIPHER_AES_GCM_128`.
pub const TLS_CIPHER_AES_GCM_128: u16 = 51;
/// `TLS_CIPHER_AES_GCM_256`.
pub const TLS_CIPHER_AES_GCM_256: u16 = 52;
/// `TLS_CIPHER_CHACHA20_POLY1305`.
pub const TLS_CIPHER_CHACHA20_POLY1305: u16 = 54;
/// `TCP_ULP` (linux/tcp.h).
const TCP_ULP: c_int = 31;

/// TLS record content type: alert.
pub const RECORD_ALERT: u8 = 21;
/// TLS record content type: handshake.
pub const RECORD_HANDSHAKE: u8 = 22;
/// TLS record content type: application data.
pub const RECORD_DATA: u8 = 23;

/// `struct tls_crypto_info`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TlsCryptoInfo {
    /// TLS_1_2_VERSION or TLS_1_3_VERSION.
    pub version: u16,
    /// TLS_CIPHER_*.
    pub cipher_type: u16,
}

/// `struct tls12_crypto_info_aes_gcm_128`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AesGcm128Info {
    /// Version and cipher.
    pub info: TlsCryptoInfo,
    /// The last 8 bytes of the 12-byte nonce base (TLS 1.2: the first explicit nonce to send).
    pub iv: [u8; 8],
    /// The key.
    pub key: [u8; 16],
    /// The first 4 bytes of the nonce base.
    pub salt: [u8; 4],
    /// The sequence number of the next record, big-endian.
    pub rec_seq: [u8; 8],
}

/// `struct tls12_crypto_info_aes_gcm_256`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AesGcm256Info {
    /// Version and cipher.
    pub info: TlsCryptoInfo,
    /// As in [`AesGcm128Info`].
    pub iv: [u8; 8],
    /// The key.
    pub key: [u8; 32],
    /// As in [`AesGcm128Info`].
    pub salt: [u8; 4],
    /// As in [`AesGcm128Info`].
    pub rec_seq: [u8; 8],
}

/// `struct tls12_crypto_info_chacha20_poly1305`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Chacha20Poly1305Info {
    /// Version and cipher.
    pub info: TlsCryptoInfo,
    /// The whole 12-byte nonce base.
    pub iv: [u8; 12],
    /// The key.
    pub key: [u8; 32],
    /// `salt[TLS_CIPHER_CHACHA20_POLY1305_SALT_SIZE]`: no bytes.
    pub salt: [u8; 0],
    /// The sequence number of the next record, big-endian.
    pub rec_seq: [u8; 8],
}

/// The `TLS_TX` / `TLS_RX` argument for one direction. Zeroed when dropped (it holds a key).
#[derive(Debug, PartialEq, Eq)]
pub enum CryptoInfo {
    /// AES-128-GCM.
    AesGcm128(AesGcm128Info),
    /// AES-256-GCM.
    AesGcm256(AesGcm256Info),
    /// ChaCha20-Poly1305.
    Chacha20Poly1305(Chacha20Poly1305Info),
}

impl CryptoInfo {
    /// The bytes `setsockopt` is given.
    pub fn as_bytes(&self) -> &[u8] {
        fn bytes<T>(value: &T) -> &[u8] {
            // SAFETY: `T` is one of the #[repr(C)] structs above: plain bytes and u16s with no padding
            // (their sizes are tested), so all `size_of::<T>()` bytes are initialised.
            unsafe { std::slice::from_raw_parts((value as *const T).cast::<u8>(), size_of::<T>()) }
        }
        match self {
            CryptoInfo::AesGcm128(i) => bytes(i),
            CryptoInfo::AesGcm256(i) => bytes(i),
            CryptoInfo::Chacha20Poly1305(i) => bytes(i),
        }
    }

    /// The cipher type it carries.
    pub fn cipher_type(&self) -> u16 {
        match self {
            CryptoInfo::AesGcm128(i) => i.info.cipher_type,
            CryptoInfo::AesGcm256(i) => i.info.cipher_type,
            CryptoInfo::Chacha20Poly1305(i) => i.info.cipher_type,
        }
    }
}

impl Drop for CryptoInfo {
    fn drop(&mut self) {
        fn wipe<T: Default>(value: &mut T) {
            // SAFETY: a valid, aligned &mut T; the volatile write keeps the wipe from being elided.
            unsafe { std::ptr::write_volatile(value, T::default()) }
        }
        match self {
            CryptoInfo::AesGcm128(i) => wipe(i),
            CryptoInfo::AesGcm256(i) => wipe(i),
            CryptoInfo::Chacha20Poly1305(i) => wipe(i),
        }
    }
}

/// The direction a [`CryptoInfo`] is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// `TLS_TX`.
    Send,
    /// `TLS_RX`.
    Receive,
}

/// TLS 1.2 AES-GCM, sending: the kernel puts its `iv` in each record as the explicit nonce and adds one
/// per record, whereas rustls used `iv ^ seq` for the records `0..seq` it sent under the same key. So that
/// no nonce is used twice, the kernel starts past every one rustls used: those differ from `iv` only in
/// the low bits `seq - 1` spans, so the next block of that size is free, and counting up from there would
/// take about 2^64 records to come back to it.
pub fn tls12_gcm_send_start(explicit: u64, seq: u64) -> u64 {
    if seq == 0 {
        return explicit;
    }
    let bits = 64 - (seq - 1).leading_zeros();
    let low = if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    (explicit | low).wrapping_add(1)
}

/// The argument of `TLS_TX`/`TLS_RX` from its parts: `cipher` a `TLS_CIPHER_*`, `key` of the cipher's
/// length, `iv` the 12-byte nonce base, `seq` the next record's sequence number. None when they disagree.
pub fn crypto_info_from_parts(
    version: u16,
    cipher: u16,
    key: &[u8],
    iv: &[u8; 12],
    seq: u64,
    direction: Direction,
) -> Option<CryptoInfo> {
    let info = TlsCryptoInfo {
        version,
        cipher_type: cipher,
    };
    let rec_seq = seq.to_be_bytes();
    if version != TLS_1_2_VERSION && version != TLS_1_3_VERSION {
        return None;
    }
    let mut salt = [0u8; 4];
    salt.copy_from_slice(&iv[..4]);
    let mut explicit = [0u8; 8];
    explicit.copy_from_slice(&iv[4..]);
    if version == TLS_1_2_VERSION && direction == Direction::Send {
        // (Receiving, the kernel reads each record's explicit nonce from the record.)
        explicit = tls12_gcm_send_start(u64::from_be_bytes(explicit), seq).to_be_bytes();
    }
    match cipher {
        TLS_CIPHER_AES_GCM_128 => Some(CryptoInfo::AesGcm128(AesGcm128Info {
            info,
            iv: explicit,
            key: key.try_into().ok()?,
            salt,
            rec_seq,
        })),
        TLS_CIPHER_AES_GCM_256 => Some(CryptoInfo::AesGcm256(AesGcm256Info {
            info,
            iv: explicit,
            key: key.try_into().ok()?,
            salt,
            rec_seq,
        })),
        TLS_CIPHER_CHACHA20_POLY1305 => Some(CryptoInfo::Chacha20Poly1305(Chacha20Poly1305Info {
            info,
            iv: *iv,
            key: key.try_into().ok()?,
            salt: [],
            rec_seq,
        })),
        _ => None,
    }
}

/// An errno value in words, with its name for the ones kernel TLS answers.
pub fn errno_name(errno: c_int) -> String {
    let name = match errno {
        libc::ENOENT => "ENOENT",
        libc::ENOPROTOOPT => "ENOPROTOOPT",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::EINVAL => "EINVAL",
        libc::EEXIST => "EEXIST",
        libc::ENOTCONN => "ENOTCONN",
        libc::EBUSY => "EBUSY",
        libc::ENOMEM => "ENOMEM",
        libc::EPERM => "EPERM",
        _ => "",
    };
    let words = std::io::Error::from_raw_os_error(errno).to_string();
    let words = words.split(" (os error").next().unwrap_or_default();
    if name.is_empty() {
        format!("errno {errno}: {words}")
    } else {
        format!("{name}: {words}")
    }
}

/// Attach the `tls` upper layer to a connected TCP socket. Until keys are given the socket behaves as
/// Attach the `tls` upper layer to a connected TCP socket. Until keys are given the socket behaves as
/// before (the kernel's TLS_BASE mode passes everything through).
pub fn attach_ulp(fd: c_int) -> Result<(), c_int> {
    match fd::set_option(fd, libc::SOL_TCP, TCP_ULP, b"tls\0") {
        Err(libc::EEXIST) => Ok(()), // attached by an earlier attempt on this socket
        other => other,
    }
}

/// Whether an errno from the `TCP_ULP` probe means this kernel has no kernel TLS.
pub fn means_unavailable(errno: c_int) -> bool {
    matches!(errno, libc::ENOENT | libc::ENOPROTOOPT | libc::EOPNOTSUPP)
}

/// Give the kernel the keys of one direction.
pub fn set_keys(fd: c_int, direction: Direction, info: &CryptoInfo) -> Result<(), c_int> {
    let option = match direction {
        Direction::Send => TLS_TX,
        Direction::Receive => TLS_RX,
    };
    fd::set_option(fd, SOL_TLS, option, info.as_bytes())
}

/// A connected loopback TCP socket given zero keys for `version`/`cipher` in both directions.
pub fn probe_loopback(version: u16, cipher: u16) -> std::result::Result<(), String> {
    let (client, _listener) =
        fd::loopback_connection().map_err(|(what, e)| format!("{what}: {}", errno_name(e)))?;
    attach_ulp(client.raw()).map_err(|e| format!("TCP_ULP tls: {}", errno_name(e)))?;
    let zero_key = [0u8; 32];
    let key_len = if cipher == TLS_CIPHER_AES_GCM_128 {
        16
    } else {
        32
    };
    for (name, direction) in [("TLS_TX", Direction::Send), ("TLS_RX", Direction::Receive)] {
        let info = crypto_info_from_parts(
            version,
            cipher,
            &zero_key[..key_len],
            &[0; 12],
            0,
            direction,
        )
        .ok_or_else(|| format!("no kernel structure for cipher {cipher}"))?;
        set_keys(client.raw(), direction, &info)
            .map_err(|e| format!("{name}: {}", errno_name(e)))?;
    }
    Ok(())
}

/// `recvmsg` on a kernel TLS socket, never waiting: the bytes read and the type of their record (None
/// when the kernel gave no record type: the end of the stream).
pub fn recv_record(fd: c_int, buf: &mut [u8], flags: c_int) -> Result<(usize, Option<u8>), c_int> {
    fd::recv_with_control(fd, buf, flags, SOL_TLS, TLS_GET_RECORD_TYPE)
}

/// Send `payload` as one record of type `record_type`. Never waits.
pub fn send_record(fd: c_int, payload: &[u8], record_type: u8) -> Result<usize, c_int> {
    fd::send_with_control(fd, payload, SOL_TLS, TLS_SET_RECORD_TYPE, record_type)
}

/// Send a close_notify alert (warning level, description 0) as a record of type alert. Never waits.
pub fn send_close_notify(fd: c_int) -> Result<(), c_int> {
    send_record(fd, &[1, 0], RECORD_ALERT).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_match_linux_tls_h() {
        assert_eq!(SOL_TLS, 282);
        assert_eq!(TLS_TX, 1);
        assert_eq!(TLS_RX, 2);
        assert_eq!(TLS_SET_RECORD_TYPE, 1);
        assert_eq!(TLS_GET_RECORD_TYPE, 2);
        assert_eq!(TLS_1_2_VERSION, 0x0303);
        assert_eq!(TLS_1_3_VERSION, 0x0304);
        assert_eq!(TLS_CIPHER_AES_GCM_128, 51);
        assert_eq!(TLS_CIPHER_AES_GCM_256, 52);
        assert_eq!(TLS_CIPHER_CHACHA20_POLY1305, 54);
        assert_eq!(TCP_ULP, 31);
        // The libc crate's copy of the same headers agrees.
        assert_eq!(SOL_TLS, libc::SOL_TLS);
        assert_eq!(TCP_ULP, libc::TCP_ULP);
    }

    #[test]
    fn struct_layouts_match_linux_tls_h() {
        assert_eq!(size_of::<TlsCryptoInfo>(), 4);
        assert_eq!(size_of::<AesGcm128Info>(), 40);
        assert_eq!(size_of::<AesGcm256Info>(), 56);
        assert_eq!(size_of::<Chacha20Poly1305Info>(), 56);
        assert_eq!(std::mem::align_of::<AesGcm128Info>(), 2);
        // Field offsets: info, iv, key, salt, rec_seq.
        assert_eq!(std::mem::offset_of!(AesGcm128Info, iv), 4);
        assert_eq!(std::mem::offset_of!(AesGcm128Info, key), 12);
        assert_eq!(std::mem::offset_of!(AesGcm128Info, salt), 28);
        assert_eq!(std::mem::offset_of!(AesGcm128Info, rec_seq), 32);
        assert_eq!(std::mem::offset_of!(AesGcm256Info, key), 12);
        assert_eq!(std::mem::offset_of!(AesGcm256Info, salt), 44);
        assert_eq!(std::mem::offset_of!(AesGcm256Info, rec_seq), 48);
        assert_eq!(std::mem::offset_of!(Chacha20Poly1305Info, iv), 4);
        assert_eq!(std::mem::offset_of!(Chacha20Poly1305Info, key), 16);
        assert_eq!(std::mem::offset_of!(Chacha20Poly1305Info, rec_seq), 48);
        assert_eq!(
            size_of::<AesGcm128Info>(),
            size_of::<libc::tls12_crypto_info_aes_gcm_128>()
        );
        assert_eq!(
            size_of::<AesGcm256Info>(),
            size_of::<libc::tls12_crypto_info_aes_gcm_256>()
        );
        assert_eq!(
            size_of::<Chacha20Poly1305Info>(),
            size_of::<libc::tls12_crypto_info_chacha20_poly1305>()
        );
    }

    fn iv12() -> [u8; 12] {
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
    }

    #[test]
    fn tls12_gcm_sending_never_reuses_a_nonce_rustls_used() {
        // rustls sent records 0..seq with explicit nonces iv ^ seq; the kernel sends start, start + 1, ...
        for explicit in [
            0u64,
            1,
            2,
            3,
            0xFF,
            0x8000_0000_0000_0001,
            u64::MAX,
            u64::MAX - 1,
            0x1234_5678_9ABC_DEF1,
        ] {
            for seq in (0u64..300).chain([1023, 1024, 1025, 65_537]) {
                let start = tls12_gcm_send_start(explicit, seq);
                let used: std::collections::HashSet<u64> = (0..seq).map(|s| explicit ^ s).collect();
                for k in 0..2048u64 {
                    assert!(
                        !used.contains(&start.wrapping_add(k)),
                        "explicit {explicit:#x} seq {seq}: kernel record {k} reuses a nonce"
                    );
                }
            }
        }
        // The naive continuation (start at iv ^ seq, count up) would reuse one: with iv 1 and seq 1,
        // rustls sent record 0 with nonce 1, and the kernel's second record would have nonce 1 too.
        let (explicit, seq) = (1u64, 1u64);
        assert_eq!((explicit ^ seq).wrapping_add(1), explicit);
        assert_ne!(tls12_gcm_send_start(explicit, seq), explicit);
        // seq 0: nothing used yet, rustls' own first nonce.
        assert_eq!(tls12_gcm_send_start(42, 0), 42);
        // Through crypto_info: TLS 1.2 GCM sending moves the iv, receiving keeps it.
        let parts = |d| {
            crypto_info_from_parts(
                TLS_1_2_VERSION,
                TLS_CIPHER_AES_GCM_128,
                &[0; 16],
                &iv12(),
                1,
                d,
            )
        };
        let (Some(CryptoInfo::AesGcm128(tx)), Some(CryptoInfo::AesGcm128(rx))) =
            (parts(Direction::Send), parts(Direction::Receive))
        else {
            panic!("expected AES-128-GCM");
        };
        let base = u64::from_be_bytes([5, 6, 7, 8, 9, 10, 11, 12]);
        assert_eq!(tx.iv, (base + 1).to_be_bytes());
        assert_eq!(rx.iv, base.to_be_bytes());
        assert_eq!(tx.salt, [1, 2, 3, 4]);
    }

    #[test]
    fn loopback_probe_answers_either_way() {
        // Here (no `tls` upper layer) the probe fails at TCP_ULP with ENOENT; with kernel TLS it succeeds.
        // Either way it must answer, and a missing upper layer must be reported as such.
        let offered = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_available_ulp")
            .map(|s| s.split_whitespace().any(|u| u == "tls"));
        match probe_loopback(TLS_1_3_VERSION, TLS_CIPHER_AES_GCM_128) {
            Ok(()) => eprintln!("kernel TLS probe: the kernel takes TLS 1.3 AES-128-GCM"),
            Err(why) => {
                eprintln!("kernel TLS probe: {why}");
                if offered.ok() == Some(false) && why.starts_with("TCP_ULP") {
                    assert!(
                        why.contains("ENOENT")
                            || why.contains("ENOPROTOOPT")
                            || why.contains("EOPNOTSUPP"),
                        "{why}"
                    );
                }
            }
        }
    }
}
