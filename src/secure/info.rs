//! `SSLCONNECTIONINFO` from what rustls negotiated: Schannel protocol bits and wincrypt ALG_IDs.

use rustls::{CipherSuite, CommonState, NamedGroup, ProtocolVersion};

use crate::abi::{
    CALG_AES_128, CALG_AES_256, CALG_DH_EPHEM, CALG_ECDH_EPHEM, CALG_SHA_256, CALG_SHA_384,
    SSLCONNECTIONINFO, SSLSOCK_CALG_CHACHA20_POLY1305, SSL_PROT_TLS1_2_CLIENT,
    SSL_PROT_TLS1_3_CLIENT,
};

/// The connection info of a completed handshake.
pub fn connection_info(conn: &CommonState) -> SSLCONNECTIONINFO {
    let mut info = SSLCONNECTIONINFO {
        dwProtocol: match conn.protocol_version() {
            Some(ProtocolVersion::TLSv1_3) => SSL_PROT_TLS1_3_CLIENT,
            _ => SSL_PROT_TLS1_2_CLIENT,
        },
        ..Default::default()
    };
    if let Some(suite) = conn.negotiated_cipher_suite() {
        (
            info.aiCipher,
            info.dwCipherStrength,
            info.aiHash,
            info.dwHashStrength,
        ) = cipher(suite.suite());
    }
    if let Some(group) = conn.negotiated_key_exchange_group() {
        (info.aiExch, info.dwExchStrength) = exchange(group.name());
    }
    info
}

/// (cipher, bits, hash, bits) of a suite, read from its IANA name.
fn cipher(suite: CipherSuite) -> (u32, u32, u32, u32) {
    let name = format!("{suite:?}");
    let (alg, bits) = if name.contains("AES_128") {
        (CALG_AES_128, 128)
    } else if name.contains("AES_256") {
        (CALG_AES_256, 256)
    } else {
        (SSLSOCK_CALG_CHACHA20_POLY1305, 256)
    };
    let (hash, hash_bits) = if name.ends_with("SHA384") {
        (CALG_SHA_384, 384)
    } else {
        (CALG_SHA_256, 256)
    };
    (alg, bits, hash, hash_bits)
}

/// (exchange, strength) of a key-exchange group.
fn exchange(group: NamedGroup) -> (u32, u32) {
    match group {
        NamedGroup::X25519 | NamedGroup::X25519MLKEM768 => (CALG_ECDH_EPHEM, 255),
        NamedGroup::secp256r1 | NamedGroup::secp256r1MLKEM768 => (CALG_ECDH_EPHEM, 256),
        NamedGroup::secp384r1 => (CALG_ECDH_EPHEM, 384),
        NamedGroup::secp521r1 => (CALG_ECDH_EPHEM, 521),
        NamedGroup::FFDHE2048 => (CALG_DH_EPHEM, 2048),
        NamedGroup::FFDHE3072 => (CALG_DH_EPHEM, 3072),
        NamedGroup::FFDHE4096 => (CALG_DH_EPHEM, 4096),
        NamedGroup::FFDHE6144 => (CALG_DH_EPHEM, 6144),
        NamedGroup::FFDHE8192 => (CALG_DH_EPHEM, 8192),
        _ => (CALG_ECDH_EPHEM, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suites_map_to_wincrypt() {
        assert_eq!(
            cipher(CipherSuite::TLS13_AES_256_GCM_SHA384),
            (CALG_AES_256, 256, CALG_SHA_384, 384)
        );
        assert_eq!(
            cipher(CipherSuite::TLS13_AES_128_GCM_SHA256),
            (CALG_AES_128, 128, CALG_SHA_256, 256)
        );
        assert_eq!(
            cipher(CipherSuite::TLS13_CHACHA20_POLY1305_SHA256),
            (SSLSOCK_CALG_CHACHA20_POLY1305, 256, CALG_SHA_256, 256)
        );
        assert_eq!(
            cipher(CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384),
            (CALG_AES_256, 256, CALG_SHA_384, 384)
        );
        assert_eq!(exchange(NamedGroup::X25519MLKEM768), (CALG_ECDH_EPHEM, 255));
        assert_eq!(exchange(NamedGroup::secp384r1), (CALG_ECDH_EPHEM, 384));
    }
}
