//! The Windows CE secure-socket ABI: constants, structures and hook types exactly as the CE SDK's
//! `sslsock.h` had them (docs/api.md), plus sslsock's few extension values.
//!
//! cbindgen turns this file into `include/sslsock.h`. The Windows base types (`DWORD`, `LPVOID`, ...)
//! are declared here for Rust and excluded from the generated header, which takes them from the
//! hand-written `winsock2.h` it includes.
#![allow(non_camel_case_types, non_snake_case)]

use std::ffi::{c_char, c_int, c_void};

/// Windows `DWORD`: 32 bits on every platform.
pub type DWORD = u32;
/// Windows `ULONG`: 32 bits, as on Windows (LLP64).
pub type ULONG = u32;
/// Windows `BYTE`.
pub type BYTE = u8;
/// wincrypt `ALG_ID`.
pub type ALG_ID = u32;
/// Windows `LPVOID`.
pub type LPVOID = *mut c_void;
/// Windows `BOOL`: an `int`.
pub type BOOL = c_int;
/// Windows `LPSTR`: a `char *`.
pub type LPSTR = *mut c_char;

// ---- setsockopt(SOL_SOCKET, SO_SECURE, ...) ----

/// `setsockopt`/`getsockopt` option (level `SOL_SOCKET`, or Winsock's 0xFFFF) selecting the security mode.
pub const SO_SECURE: DWORD = 0x2001;
/// `SO_SECURE` value: no security.
pub const SO_SEC_NONE: DWORD = 0x2002;
/// `SO_SECURE` value: SSL/TLS.
pub const SO_SEC_SSL: DWORD = 0x2004;

// ---- WSAIoctl control codes: (direction bits) | SO_SSL_FAMILY | tag ----

/// The SSL control-code family.
///
/// Value `0x00730000`.
pub const SO_SSL_FAMILY: DWORD = 0x00730000u32;
/// `(2 << 27) | SO_SSL_FAMILY`: the base every `SO_SSL_*` code is built on.
///
/// Value `0x10730000`.
pub const _SO_SSL: DWORD = 0x10730000u32;
/// Out: DWORD `SSL_CAP_*`.
///
/// Value `0x50730001`.
pub const SO_SSL_GET_CAPABILITIES: DWORD = 0x50730001u32;
/// In: DWORD `SSL_FLAG_*`.
///
/// Value `0x90730002`.
pub const SO_SSL_SET_FLAGS: DWORD = 0x90730002u32;
/// Out: DWORD `SSL_FLAG_*`.
///
/// Value `0x50730002`.
pub const SO_SSL_GET_FLAGS: DWORD = 0x50730002u32;
/// In: `SSLPROTOCOLS`.
///
/// Value `0x90730003`.
pub const SO_SSL_SET_PROTOCOLS: DWORD = 0x90730003u32;
/// Out: `SSLPROTOCOLS`.
///
/// Value `0x50730003`.
pub const SO_SSL_GET_PROTOCOLS: DWORD = 0x50730003u32;
/// In: `SSLCIPHERS` (not supported: WSAEOPNOTSUPP).
///
/// Value `0x90730004`.
pub const SO_SSL_SET_CIPHERS: DWORD = 0x90730004u32;
/// In/out: `SSLCIPHERS` (not supported: WSAEOPNOTSUPP).
///
/// Value `0xD0730004`.
pub const SO_SSL_GET_CIPHERS: DWORD = 0xD0730004u32;
/// In: `SSLCLIENTOPTS`: the socket's session cache (`{0, ...}` turns resumption off).
///
/// Value `0x90730005`.
pub const SO_SSL_SET_CLIENT_OPTS: DWORD = 0x90730005u32;
/// Out: `SSLCLIENTOPTS`: the socket's session cache settings.
///
/// Value `0x50730005`.
pub const SO_SSL_GET_CLIENT_OPTS: DWORD = 0x50730005u32;
/// In: `SSLSERVEROPTS` (server mode is not supported: WSAEOPNOTSUPP).
///
/// Value `0x90730006`.
pub const SO_SSL_SET_SERVER_OPTS: DWORD = 0x90730006u32;
/// Out: `SSLSERVEROPTS` (not supported: WSAEOPNOTSUPP).
///
/// Value `0x50730006`.
pub const SO_SSL_GET_SERVER_OPTS: DWORD = 0x50730006u32;
/// In: `SSLCLIENTAUTHOPTS` (not supported: WSAEOPNOTSUPP; a client certificate is given with
/// `sslsock_set_client_certificate` or `SSLSOCK_CLIENT_CERT`/`SSLSOCK_CLIENT_KEY`).
///
/// Value `0x90730007`.
pub const SO_SSL_SET_CLIENT_AUTH_OPTS: DWORD = 0x90730007u32;
/// Out: `SSLCLIENTAUTHOPTS` (not supported: WSAEOPNOTSUPP; see `SO_SSL_SET_CLIENT_AUTH_OPTS`).
///
/// Value `0x50730007`.
pub const SO_SSL_GET_CLIENT_AUTH_OPTS: DWORD = 0x50730007u32;
/// In: `SSLVALIDATECERTHOOK`.
///
/// Value `0x90730008`.
pub const SO_SSL_SET_VALIDATE_CERT_HOOK: DWORD = 0x90730008u32;
/// Out: `SSLVALIDATECERTHOOK`.
///
/// Value `0x50730008`.
pub const SO_SSL_GET_VALIDATE_CERT_HOOK: DWORD = 0x50730008u32;
/// In: `SSLAUTHREQUESTHOOK` (not supported: WSAEOPNOTSUPP).
///
/// Value `0x90730009`.
pub const SO_SSL_SET_AUTH_REQUEST_HOOK: DWORD = 0x90730009u32;
/// Out: `SSLAUTHREQUESTHOOK` (not supported: WSAEOPNOTSUPP).
///
/// Value `0x50730009`.
pub const SO_SSL_GET_AUTH_REQUEST_HOOK: DWORD = 0x50730009u32;
/// In: `SSLKEYEXCHANGEHOOK` (not supported: WSAEOPNOTSUPP).
///
/// Value `0x9073000A`.
pub const SO_SSL_SET_KEY_EXCH_HOOK: DWORD = 0x9073000Au32;
/// Out: `SSLKEYEXCHANGEHOOK` (not supported: WSAEOPNOTSUPP).
///
/// Value `0x5073000A`.
pub const SO_SSL_GET_KEY_EXCH_HOOK: DWORD = 0x5073000Au32;
/// In: `SSLSIGNATUREHOOK` (not supported: WSAEOPNOTSUPP).
///
/// Value `0x9073000B`.
pub const SO_SSL_SET_SIGNATURE_HOOK: DWORD = 0x9073000Bu32;
/// Out: `SSLSIGNATUREHOOK` (not supported: WSAEOPNOTSUPP).
///
/// Value `0x5073000B`.
pub const SO_SSL_GET_SIGNATURE_HOOK: DWORD = 0x5073000Bu32;
/// In (optional): the server name; runs the deferred handshake.
///
/// Value `0x1073000D`.
pub const SO_SSL_PERFORM_HANDSHAKE: DWORD = 0x1073000Du32;
/// Out: `SSLCONNECTIONINFO`.
///
/// Value `0x5073000E`.
pub const SO_SSL_GET_CONNECTION_INFO: DWORD = 0x5073000Eu32;
/// In: the peer name (char string). The value of the CE SDK's own C# copy; 0x9073000F is accepted too.
///
/// Value `0x5073000F`.
pub const SO_SSL_SET_PEERNAME: DWORD = 0x5073000Fu32;
/// The same as `SO_SSL_SET_PEERNAME`, with the IOC_IN direction bits the naming convention suggests.
///
/// Value `0x9073000F`.
pub const SO_SSL_SET_PEERNAME_IN: DWORD = 0x9073000Fu32;

// ---- hook return values ----

/// Accept the certificate.
pub const SSL_ERR_OKAY: c_int = 0;
/// Generic failure.
pub const SSL_ERR_FAILED: c_int = 2;
/// Bad length.
pub const SSL_ERR_BAD_LEN: c_int = 3;
/// Bad certificate type.
pub const SSL_ERR_BAD_TYPE: c_int = 4;
/// Bad data.
pub const SSL_ERR_BAD_DATA: c_int = 5;
/// No certificate.
pub const SSL_ERR_NO_CERT: c_int = 6;
/// Bad signature.
pub const SSL_ERR_BAD_SIG: c_int = 7;
/// Certificate expired.
pub const SSL_ERR_CERT_EXPIRED: c_int = 8;
/// Certificate revoked.
pub const SSL_ERR_CERT_REVOKED: c_int = 9;
/// Certificate unknown (untrusted).
pub const SSL_ERR_CERT_UNKNOWN: c_int = 10;
/// Signature failure.
pub const SSL_ERR_SIGNATURE: c_int = 11;

// ---- capabilities and flags ----

/// `SO_SSL_GET_CAPABILITIES`: client side.
pub const SSL_CAP_CLIENT: DWORD = 1;
/// `SO_SSL_GET_CAPABILITIES`: server side (not offered by sslsock).
pub const SSL_CAP_SERVER: DWORD = 2;
/// `SO_SSL_GET_CAPABILITIES`: client authentication (not offered by sslsock).
pub const SSL_CAP_CLIENT_AUTH: DWORD = 4;
/// `SO_SSL_GET_CAPABILITIES`: CryptoAPI (not offered by sslsock).
pub const SSL_CAP_CRYPTOAPI: DWORD = 8;
/// `SO_SSL_SET_FLAGS`: act as a server (not supported).
pub const SSL_FLAG_SERVER: DWORD = 2;
/// `SO_SSL_SET_FLAGS`: ask the client for a certificate (server side; not supported).
pub const SSL_FLAG_AUTH_CLIENT: DWORD = 4;
/// `SO_SSL_SET_FLAGS`: connect in plaintext; handshake on `SO_SSL_PERFORM_HANDSHAKE`.
pub const SSL_FLAG_DEFER_HANDSHAKE: DWORD = 8;

// ---- protocols ----

/// `SSLPROTOCOL.dwProtocol`: PCT 1 (obsolete, never offered).
pub const SSL_PROTOCOL_PCT1: DWORD = 1;
/// `SSLPROTOCOL.dwProtocol`: SSL 2 (obsolete, never offered).
pub const SSL_PROTOCOL_SSL2: DWORD = 2;
/// `SSLPROTOCOL.dwProtocol`: SSL 3 (obsolete, never offered).
pub const SSL_PROTOCOL_SSL3: DWORD = 3;
/// `SSLPROTOCOL.dwProtocol`: TLS. sslsock offers TLS 1.2 and 1.3 for it.
pub const SSL_PROTOCOL_TLS1: DWORD = 4;
/// sslsock extension for `SSLPROTOCOL.dwProtocol`: TLS 1.2 only.
pub const SSLSOCK_PROTOCOL_TLS1_2: DWORD = 0x0303;
/// sslsock extension for `SSLPROTOCOL.dwProtocol`: TLS 1.3 only.
pub const SSLSOCK_PROTOCOL_TLS1_3: DWORD = 0x0304;

/// `SSLCONNECTIONINFO.dwProtocol` values (Schannel's `SP_PROT_*`).
pub const SSL_PROT_PCT1_SERVER: DWORD = 0x1;
/// See `SSL_PROT_PCT1_SERVER`.
pub const SSL_PROT_PCT1_CLIENT: DWORD = 0x2;
/// See `SSL_PROT_PCT1_SERVER`.
pub const SSL_PROT_SSL2_SERVER: DWORD = 0x4;
/// See `SSL_PROT_PCT1_SERVER`.
pub const SSL_PROT_SSL2_CLIENT: DWORD = 0x8;
/// See `SSL_PROT_PCT1_SERVER`.
pub const SSL_PROT_SSL3_SERVER: DWORD = 0x10;
/// See `SSL_PROT_PCT1_SERVER`.
pub const SSL_PROT_SSL3_CLIENT: DWORD = 0x20;
/// See `SSL_PROT_PCT1_SERVER`.
pub const SSL_PROT_TLS1_SERVER: DWORD = 0x40;
/// See `SSL_PROT_PCT1_SERVER`.
pub const SSL_PROT_TLS1_CLIENT: DWORD = 0x80;
/// TLS 1.1 client (Schannel `SP_PROT_TLS1_1_CLIENT`; never negotiated by sslsock).
pub const SSL_PROT_TLS1_1_CLIENT: DWORD = 0x200;
/// TLS 1.2 client (Schannel `SP_PROT_TLS1_2_CLIENT`).
pub const SSL_PROT_TLS1_2_CLIENT: DWORD = 0x800;
/// TLS 1.3 client (Schannel `SP_PROT_TLS1_3_CLIENT`).
pub const SSL_PROT_TLS1_3_CLIENT: DWORD = 0x2000;

// ---- certificates ----

/// The hook's `dwType`: X.509 certificates.
pub const SSL_CERT_X509: DWORD = 1;
/// The hook's `dwFlags`: the chain does not lead to a trusted root, is out of its validity period, or does
/// not match the peer name that was given.
pub const SSL_CERT_FLAG_ISSUER_UNKNOWN: DWORD = 1;
/// Security protocol identifier.
pub const SECURITY_PROTOCOL_SSL: DWORD = 1;

// ---- wincrypt algorithm identifiers used by SSLCONNECTIONINFO ----

/// AES-128.
pub const CALG_AES_128: ALG_ID = 0x660E;
/// AES-256.
pub const CALG_AES_256: ALG_ID = 0x6610;
/// SHA-256.
pub const CALG_SHA_256: ALG_ID = 0x800C;
/// SHA-384.
pub const CALG_SHA_384: ALG_ID = 0x800D;
/// Ephemeral elliptic-curve Diffie-Hellman.
pub const CALG_ECDH_EPHEM: ALG_ID = 0xAE06;
/// Ephemeral finite-field Diffie-Hellman.
pub const CALG_DH_EPHEM: ALG_ID = 0xAA02;
/// RSA key exchange (never negotiated by sslsock: TLS 1.2 suites it offers are all ephemeral).
pub const CALG_RSA_KEYX: ALG_ID = 0xA400;
/// sslsock decision: ChaCha20-Poly1305, which wincrypt never named; a value of the stream-cipher class
/// that no wincrypt algorithm uses.
pub const SSLSOCK_CALG_CHACHA20_POLY1305: ALG_ID = 0x6810;

// ---- structures ----

/// A counted byte string (`pCertChain` entries).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct BLOB {
    /// Number of bytes at `pBlobData`.
    pub cbSize: ULONG,
    /// The bytes.
    pub pBlobData: *mut BYTE,
}

/// Pointer to `BLOB`.
pub type LPBLOB = *mut BLOB;

/// The certificate validation hook: returns `SSL_ERR_OKAY` to accept the server's certificate.
pub type SSLVALIDATECERTFUNC = Option<
    unsafe extern "C" fn(
        dwType: DWORD,
        pvArg: LPVOID,
        dwChainLen: DWORD,
        pCertChain: LPBLOB,
        dwFlags: DWORD,
    ) -> c_int,
>;

/// `SO_SSL_SET_VALIDATE_CERT_HOOK` input.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SSLVALIDATECERTHOOK {
    /// The hook; NULL removes it.
    pub HookFunc: SSLVALIDATECERTFUNC,
    /// Passed back to the hook as `pvArg`.
    pub pvArg: LPVOID,
}

/// Pointer to `SSLVALIDATECERTHOOK`.
pub type PSSLVALIDATECERTHOOK = *mut SSLVALIDATECERTHOOK;

/// One protocol of an `SSLPROTOCOLS` list.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SSLPROTOCOL {
    /// `SSL_PROTOCOL_*` (or `SSLSOCK_PROTOCOL_*`).
    pub dwProtocol: DWORD,
    /// Unused (0).
    pub dwVersion: DWORD,
    /// Unused (0).
    pub dwFlags: DWORD,
}

/// Pointer to `SSLPROTOCOL`.
pub type LPSSLPROTOCOL = *mut SSLPROTOCOL;

/// `SO_SSL_SET_PROTOCOLS` / `GET_PROTOCOLS` buffer: `dwCount` entries follow (variable length).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SSLPROTOCOLS {
    /// Number of entries in `ProtocolList`.
    pub dwCount: DWORD,
    /// The entries (declared with one; the buffer holds `dwCount`).
    pub ProtocolList: [SSLPROTOCOL; 1],
}

/// Pointer to `SSLPROTOCOLS`.
pub type LPSSLPROTOCOLS = *mut SSLPROTOCOLS;

/// `SO_SSL_GET_CONNECTION_INFO` output (28 bytes, Schannel's `SecPkgContext_ConnectionInfo`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SSLCONNECTIONINFO {
    /// `SSL_PROT_*_CLIENT`.
    pub dwProtocol: DWORD,
    /// Bulk cipher (`CALG_*`).
    pub aiCipher: ALG_ID,
    /// Bulk cipher key bits.
    pub dwCipherStrength: DWORD,
    /// Hash (`CALG_*`).
    pub aiHash: ALG_ID,
    /// Hash bits.
    pub dwHashStrength: DWORD,
    /// Key exchange (`CALG_*`).
    pub aiExch: ALG_ID,
    /// Key exchange strength in bits.
    pub dwExchStrength: DWORD,
}

/// Pointer to `SSLCONNECTIONINFO`.
pub type PSSLCONNECTIONINFO = *mut SSLCONNECTIONINFO;

/// `SO_SSL_SET_CIPHERS` input (kept for source compatibility; the code answers WSAEOPNOTSUPP).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SSLCIPHERS {
    /// Number of entries.
    pub dwCount: DWORD,
    /// `CALG_*` values (variable length).
    pub CipherList: [ALG_ID; 1],
}

/// `SO_SSL_SET_CLIENT_OPTS` input and `SO_SSL_GET_CLIENT_OPTS` output: the socket's session cache
/// (`dwCacheSize` 0 turns session resumption off for the socket).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SSLCLIENTOPTS {
    /// Session cache size.
    pub dwCacheSize: DWORD,
    /// Session cache lifetime in milliseconds.
    pub dwCacheLifetime: DWORD,
}

/// `SO_SSL_SET_SERVER_OPTS` input (kept for source compatibility; server mode is not supported).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SSLSERVEROPTS {
    /// Session cache size.
    pub dwCacheSize: DWORD,
    /// Session cache lifetime in milliseconds.
    pub dwCacheLifetime: DWORD,
    /// The server's certificate chain.
    pub pCertChain: LPBLOB,
    /// Number of certificates in `pCertChain`.
    pub dwChainLen: DWORD,
}

/// `SO_SSL_SET_CLIENT_AUTH_OPTS` input (kept for source compatibility; the code answers WSAEOPNOTSUPP:
/// client certificates are given with `sslsock_set_client_certificate` or `SSLSOCK_CLIENT_CERT`).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SSLCLIENTAUTHOPTS {
    /// The client's certificate chain.
    pub pCertChain: LPBLOB,
    /// Number of certificates in `pCertChain`.
    pub dwChainLen: DWORD,
}

/// A CE authentication-request, key-exchange or signature hook (kept for source compatibility; the
/// codes that install them answer WSAEOPNOTSUPP).
pub type SSLGENERICHOOKFUNC = Option<unsafe extern "C" fn(pvArg: LPVOID) -> c_int>;

/// `SO_SSL_SET_AUTH_REQUEST_HOOK` input.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SSLAUTHREQUESTHOOK {
    /// The hook.
    pub HookFunc: SSLGENERICHOOKFUNC,
    /// Its argument.
    pub pvArg: LPVOID,
}

/// `SO_SSL_SET_KEY_EXCH_HOOK` input.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SSLKEYEXCHANGEHOOK {
    /// The hook.
    pub HookFunc: SSLGENERICHOOKFUNC,
    /// Its argument.
    pub pvArg: LPVOID,
}

/// `SO_SSL_SET_SIGNATURE_HOOK` input.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SSLSIGNATUREHOOK {
    /// The hook.
    pub HookFunc: SSLGENERICHOOKFUNC,
    /// Its argument.
    pub pvArg: LPVOID,
}

// ---- SslCrackCertificate (CE's schnlsp.h) ----

/// Windows `FILETIME`: 100 ns units since 1601-01-01 UTC, in two DWORDs (declared by `winsock2.h`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FILETIME {
    /// Low 32 bits.
    pub dwLowDateTime: DWORD,
    /// High 32 bits.
    pub dwHighDateTime: DWORD,
}

/// The public key of an `X509Certificate`: `cbKey` bytes follow in `pKey` (variable length).
#[repr(C)]
pub struct PctPublicKey {
    /// The key's algorithm: `CALG_RSA_KEYX` (RSA), `CALG_ECDSA` (EC), `CALG_DSS_SIGN` (DSA), or 0.
    pub Type: DWORD,
    /// Number of bytes in `pKey`.
    pub cbKey: DWORD,
    /// The `subjectPublicKey` bytes (an RSA key's DER RSAPublicKey, an EC key's point); declared with
    /// one, holds `cbKey`.
    pub pKey: [BYTE; 1],
}

/// What `SslCrackCertificate` gives (CE's `schnlsp.h` layout; 64 bytes on LP64). Free it with
/// `SslFreeCertificate`.
#[repr(C)]
pub struct X509Certificate {
    /// The encoded X.509 version: 0 for v1, 2 for v3.
    pub Version: DWORD,
    /// The serial number's low 128 bits, least significant DWORD (and byte) first.
    pub SerialNumber: [DWORD; 4],
    /// `CALG_RSA_SIGN`, `CALG_DSS_SIGN`, `CALG_ECDSA`, or 0 (a signature wincrypt has no name for).
    pub SignatureAlgorithm: ALG_ID,
    /// notBefore (UTC).
    pub ValidFrom: FILETIME,
    /// notAfter (UTC).
    pub ValidUntil: FILETIME,
    /// The issuer as CE wrote it: `"C=US, O=Example CA, CN=Example Root"` (UTF-8).
    pub pszIssuer: LPSTR,
    /// The subject as CE wrote it: `"O=Example, CN=host.example"` (UTF-8).
    pub pszSubject: LPSTR,
    /// The subject's public key.
    pub pPublicKey: *mut PctPublicKey,
}

/// Pointer to `X509Certificate`.
pub type PX509Certificate = *mut X509Certificate;

/// `SslCrackCertificate`'s `dwFlags`: the bytes are a certificate file's contents (a leading
/// 17-byte "certificate" wrapper is skipped, bytes after the certificate are allowed).
pub const CF_CERT_FROM_FILE: DWORD = 0x0001;
