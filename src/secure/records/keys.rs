//! rustls' traffic secrets as the kernel takes them (`TLS_TX`/`TLS_RX`, linux/tls.h): which versions
//! and ciphers it takes, and the structure for one direction.

use rustls::{CipherSuite, ConnectionTrafficSecrets, ProtocolVersion};

use crate::sys::ktls::{
    crypto_info_from_parts, CryptoInfo, Direction, TLS_1_2_VERSION, TLS_1_3_VERSION,
    TLS_CIPHER_AES_GCM_128, TLS_CIPHER_AES_GCM_256, TLS_CIPHER_CHACHA20_POLY1305,
};

/// The kernel's version number for a negotiated protocol version (None: not one the kernel takes).
pub fn kernel_version(version: ProtocolVersion) -> Option<u16> {
    match version {
        ProtocolVersion::TLSv1_2 => Some(TLS_1_2_VERSION),
        ProtocolVersion::TLSv1_3 => Some(TLS_1_3_VERSION),
        _ => None,
    }
}

/// The kernel's cipher type for a negotiated suite (None: not one the kernel takes).
pub fn kernel_cipher(suite: CipherSuite) -> Option<u16> {
    match suite {
        CipherSuite::TLS13_AES_128_GCM_SHA256
        | CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
        | CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => Some(TLS_CIPHER_AES_GCM_128),
        CipherSuite::TLS13_AES_256_GCM_SHA384
        | CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
        | CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => Some(TLS_CIPHER_AES_GCM_256),
        CipherSuite::TLS13_CHACHA20_POLY1305_SHA256
        | CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
        | CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 => {
            Some(TLS_CIPHER_CHACHA20_POLY1305)
        }
        _ => None,
    }
}

/// The argument of `TLS_TX`/`TLS_RX` from what rustls hands over. The GCM variants are told apart by the
/// key's length (older rustls reported 256-bit TLS 1.2 keys as `Aes128Gcm`).
pub fn crypto_info(
    version: u16,
    secrets: &ConnectionTrafficSecrets,
    seq: u64,
    direction: Direction,
) -> Option<CryptoInfo> {
    let (cipher, key, iv) = match secrets {
        ConnectionTrafficSecrets::Aes128Gcm { key, iv }
        | ConnectionTrafficSecrets::Aes256Gcm { key, iv } => {
            let cipher = match key.as_ref().len() {
                16 => TLS_CIPHER_AES_GCM_128,
                32 => TLS_CIPHER_AES_GCM_256,
                _ => return None,
            };
            (cipher, key, iv)
        }
        ConnectionTrafficSecrets::Chacha20Poly1305 { key, iv } => {
            (TLS_CIPHER_CHACHA20_POLY1305, key, iv)
        }
        _ => return None,
    };
    let iv: &[u8; 12] = iv.as_ref().try_into().ok()?;
    crypto_info_from_parts(version, cipher, key.as_ref(), iv, seq, direction)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::ktls::TlsCryptoInfo;
    use rustls::crypto::cipher::{AeadKey, Iv};
    fn iv12() -> [u8; 12] {
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
    }

    #[test]
    fn tls13_aes_256_gcm_from_rustls_secrets() {
        let secrets = ConnectionTrafficSecrets::Aes256Gcm {
            key: AeadKey::from([0xAB; 32]),
            iv: Iv::new(iv12()),
        };
        let info = crypto_info(
            TLS_1_3_VERSION,
            &secrets,
            0x0102_0304_0506_0708,
            Direction::Send,
        );
        let Some(CryptoInfo::AesGcm256(i)) = &info else {
            panic!("expected AES-256-GCM, got {info:?}");
        };
        assert_eq!(
            i.info,
            TlsCryptoInfo {
                version: 0x0304,
                cipher_type: 52
            }
        );
        assert_eq!(i.key, [0xAB; 32]);
        assert_eq!(
            i.salt,
            [1, 2, 3, 4],
            "salt: the first 4 bytes of the nonce base"
        );
        assert_eq!(i.iv, [5, 6, 7, 8, 9, 10, 11, 12], "iv: the last 8");
        assert_eq!(i.rec_seq, [1, 2, 3, 4, 5, 6, 7, 8], "rec_seq: big-endian");
        let bytes = info.as_ref().map(CryptoInfo::as_bytes).unwrap_or_default();
        assert_eq!(bytes.len(), 56);
        assert_eq!(
            &bytes[..4],
            &[0x04, 0x03, 52, 0],
            "u16s in host (little-endian) order"
        );
        assert_eq!(&bytes[4..12], &[5, 6, 7, 8, 9, 10, 11, 12]);
        assert_eq!(&bytes[44..48], &[1, 2, 3, 4]);
        assert_eq!(&bytes[48..], &[1, 2, 3, 4, 5, 6, 7, 8]);
        // TLS 1.3 receiving: the same split.
        let rx = crypto_info(TLS_1_3_VERSION, &secrets, 3, Direction::Receive);
        let Some(CryptoInfo::AesGcm256(r)) = &rx else {
            panic!("expected AES-256-GCM");
        };
        assert_eq!(r.iv, [5, 6, 7, 8, 9, 10, 11, 12]);
        assert_eq!(r.rec_seq, 3u64.to_be_bytes());
    }

    #[test]
    fn chacha20_poly1305_from_rustls_secrets() {
        let secrets = ConnectionTrafficSecrets::Chacha20Poly1305 {
            key: AeadKey::from([0x5A; 32]),
            iv: Iv::new(iv12()),
        };
        for version in [TLS_1_2_VERSION, TLS_1_3_VERSION] {
            let info = crypto_info(version, &secrets, 7, Direction::Send);
            let Some(CryptoInfo::Chacha20Poly1305(i)) = &info else {
                panic!("expected ChaCha20-Poly1305");
            };
            assert_eq!(
                i.info,
                TlsCryptoInfo {
                    version,
                    cipher_type: 54
                }
            );
            assert_eq!(
                i.iv,
                iv12(),
                "ChaCha20-Poly1305: the whole 12-byte nonce base, no salt"
            );
            assert_eq!(i.key, [0x5A; 32]);
            assert_eq!(i.rec_seq, 7u64.to_be_bytes());
        }
    }

    #[test]
    fn gcm_variant_follows_the_key_length() {
        // rustls' public AeadKey is 32 bytes: an "Aes128Gcm" with a 32-byte key is AES-256 to the kernel
        // (older rustls reported TLS 1.2 AES-256 keys that way).
        let secrets = ConnectionTrafficSecrets::Aes128Gcm {
            key: AeadKey::from([1; 32]),
            iv: Iv::new(iv12()),
        };
        let info = crypto_info(TLS_1_3_VERSION, &secrets, 0, Direction::Send);
        assert!(matches!(info, Some(CryptoInfo::AesGcm256(_))));
        // AES-128 from its parts.
        let info = crypto_info_from_parts(
            TLS_1_3_VERSION,
            TLS_CIPHER_AES_GCM_128,
            &[9; 16],
            &iv12(),
            1,
            Direction::Receive,
        );
        let Some(CryptoInfo::AesGcm128(i)) = &info else {
            panic!("expected AES-128-GCM");
        };
        assert_eq!(i.info.cipher_type, 51);
        assert_eq!(i.key, [9; 16]);
        assert_eq!(i.salt, [1, 2, 3, 4]);
        assert_eq!(i.iv, [5, 6, 7, 8, 9, 10, 11, 12]);
        assert_eq!(info.as_ref().map(|i| i.as_bytes().len()), Some(40));
        // Wrong key lengths and unknown versions or ciphers give nothing.
        let wrong = |v, c, k: &[u8]| crypto_info_from_parts(v, c, k, &iv12(), 0, Direction::Send);
        assert!(wrong(TLS_1_3_VERSION, TLS_CIPHER_AES_GCM_128, &[0; 32]).is_none());
        assert!(wrong(TLS_1_3_VERSION, TLS_CIPHER_AES_GCM_256, &[0; 16]).is_none());
        assert!(wrong(0x0302, TLS_CIPHER_AES_GCM_128, &[0; 16]).is_none());
        assert!(wrong(TLS_1_3_VERSION, 53, &[0; 16]).is_none());
    }

    #[test]
    fn suites_and_versions_the_kernel_takes() {
        assert_eq!(
            kernel_cipher(CipherSuite::TLS13_AES_128_GCM_SHA256),
            Some(51)
        );
        assert_eq!(
            kernel_cipher(CipherSuite::TLS13_AES_256_GCM_SHA384),
            Some(52)
        );
        assert_eq!(
            kernel_cipher(CipherSuite::TLS13_CHACHA20_POLY1305_SHA256),
            Some(54)
        );
        assert_eq!(
            kernel_cipher(CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384),
            Some(52)
        );
        assert_eq!(
            kernel_cipher(CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256),
            Some(54)
        );
        assert_eq!(
            kernel_cipher(CipherSuite::TLS_RSA_WITH_AES_128_CBC_SHA),
            None
        );
        assert_eq!(kernel_version(ProtocolVersion::TLSv1_3), Some(0x0304));
        assert_eq!(kernel_version(ProtocolVersion::TLSv1_2), Some(0x0303));
        assert_eq!(kernel_version(ProtocolVersion::TLSv1_1), None);
    }
}
