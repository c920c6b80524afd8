//! What a program configures on a secure socket before its handshake, parsed once at the edge into
//! typed values (the C buffers never reach the TLS code).

use std::sync::Arc;

use rustls::pki_types::ServerName;

use crate::abi::{
    DWORD, SSLSOCK_PROTOCOL_TLS1_2, SSLSOCK_PROTOCOL_TLS1_3, SSL_FLAG_AUTH_CLIENT,
    SSL_FLAG_DEFER_HANDSHAKE, SSL_FLAG_SERVER, SSL_PROTOCOL_PCT1, SSL_PROTOCOL_SSL2,
    SSL_PROTOCOL_SSL3, SSL_PROTOCOL_TLS1,
};
use crate::error::{Error, Result, WsaCode};

pub use super::verify::CertJudge;

/// The TLS versions a socket may negotiate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Protocols {
    /// TLS 1.2.
    pub tls12: bool,
    /// TLS 1.3.
    pub tls13: bool,
}

impl Protocols {
    /// TLS 1.2 and 1.3: the default and what `SSL_PROTOCOL_TLS1` means.
    pub const ALL: Protocols = Protocols {
        tls12: true,
        tls13: true,
    };

    /// Parse the `dwProtocol` values of an `SSLPROTOCOLS` list. PCT1/SSL2/SSL3 cannot be offered
    /// securely and are ignored; a list naming nothing else is refused.
    pub fn from_ce_list(list: &[DWORD]) -> Result<Protocols> {
        let mut chosen = Protocols {
            tls12: false,
            tls13: false,
        };
        for &value in list {
            match value {
                SSL_PROTOCOL_TLS1 => chosen = Protocols::ALL,
                SSLSOCK_PROTOCOL_TLS1_2 => chosen.tls12 = true,
                SSLSOCK_PROTOCOL_TLS1_3 => chosen.tls13 = true,
                SSL_PROTOCOL_PCT1 | SSL_PROTOCOL_SSL2 | SSL_PROTOCOL_SSL3 => {}
                other => {
                    return Err(Error::new(
                        WsaCode::EINVAL,
                        format!("SO_SSL_SET_PROTOCOLS: unknown protocol value {other:#x}"),
                    ))
                }
            }
        }
        if !chosen.tls12 && !chosen.tls13 {
            return Err(Error::new(
                WsaCode::EINVAL,
                "SO_SSL_SET_PROTOCOLS: only obsolete protocols (PCT1, SSL2, SSL3) were named; \
                 sslsock offers TLS 1.2 and 1.3 (SSL_PROTOCOL_TLS1)",
            ));
        }
        Ok(chosen)
    }

    /// In words, for the log.
    pub fn describe(self) -> &'static str {
        match (self.tls12, self.tls13) {
            (true, true) => "TLS 1.2 and 1.3",
            (true, false) => "TLS 1.2 only",
            _ => "TLS 1.3 only",
        }
    }

    /// The `dwProtocol` values that describe this set.
    pub fn to_ce_list(self) -> Vec<DWORD> {
        match (self.tls12, self.tls13) {
            (true, true) => vec![SSL_PROTOCOL_TLS1],
            (true, false) => vec![SSLSOCK_PROTOCOL_TLS1_2],
            _ => vec![SSLSOCK_PROTOCOL_TLS1_3],
        }
    }
}

/// `SSL_FLAG_*` bits sslsock accepts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flags(DWORD);

impl Flags {
    /// Validate a `SO_SSL_SET_FLAGS` value.
    pub fn from_ce(value: DWORD) -> Result<Flags> {
        if value & (SSL_FLAG_SERVER | SSL_FLAG_AUTH_CLIENT) != 0 {
            return Err(Error::new(
                WsaCode::EOPNOTSUPP,
                "SO_SSL_SET_FLAGS: SSL_FLAG_SERVER and SSL_FLAG_AUTH_CLIENT (server mode) are not supported",
            ));
        }
        if value & !SSL_FLAG_DEFER_HANDSHAKE != 0 {
            return Err(Error::new(
                WsaCode::EINVAL,
                format!(
                    "SO_SSL_SET_FLAGS: unknown flag bits {:#x}",
                    value & !SSL_FLAG_DEFER_HANDSHAKE
                ),
            ));
        }
        Ok(Flags(value))
    }

    /// The DWORD `SO_SSL_GET_FLAGS` returns.
    pub fn to_ce(self) -> DWORD {
        self.0
    }

    /// Whether the handshake waits for `SO_SSL_PERFORM_HANDSHAKE`.
    pub fn deferred(self) -> bool {
        self.0 & SSL_FLAG_DEFER_HANDSHAKE != 0
    }
}

/// Parse a server name as CE programs pass it (`SET_PEERNAME`, `PERFORM_HANDSHAKE`): bytes up to the
/// first NUL or the given length, narrow (UTF-8) or wide (UTF-16LE). Empty means "no name" (Ok(None)).
///
/// A name that is given is either one that can be checked, or refused with WSAEINVAL (docs/security.md,
/// "Names"): a UTF-8 name becomes its IDNA A-label (UTS 46, as browsers check it); a numeric name is
/// read as `inet_aton` reads it (`127.1` is 127.0.0.1) or refused; an IPv6 literal may be bracketed;
/// wildcards, names longer than 253 characters or with a label over 63, and anything else that is not
/// a host name are refused.
pub fn parse_server_name(bytes: &[u8]) -> Result<Option<ServerName<'static>>> {
    let owned;
    let text = if looks_wide(bytes) {
        // A CE program may pass a WCHAR (UTF-16LE) name, as its TCHAR strings are in a UNICODE build.
        let units: Vec<u16> = bytes
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .take_while(|&u| u != 0)
            .collect();
        owned = String::from_utf16(&units).map_err(|_| {
            Error::new(
                WsaCode::EINVAL,
                "the server name is not valid text (a wide name that is not UTF-16)",
            )
        })?;
        owned.as_str()
    } else {
        let bytes = bytes.split(|&b| b == 0).next().unwrap_or(&[]);
        std::str::from_utf8(bytes).map_err(|_| {
            Error::new(
                WsaCode::EINVAL,
                "the server name is not valid text (UTF-8/ASCII)",
            )
        })?
    };
    if text.is_empty() {
        return Ok(None);
    }
    host_name(text).map(Some)
}

/// The longest host name in text form (RFC 1035: 253 characters without the final dot).
const NAME_MAX: usize = 253;
/// The longest label (RFC 1035).
const LABEL_MAX: usize = 63;

/// A non-empty name as a name rustls can check, or the reason it cannot be one.
fn host_name(given: &str) -> Result<ServerName<'static>> {
    let refuse = |why: &str| {
        let mut shown: String = given.chars().take(64).collect();
        if shown.len() < given.len() {
            shown.push_str("...");
        }
        Error::new(
            WsaCode::EINVAL,
            format!(
                "the server name '{}' cannot be checked: {why}",
                shown.escape_debug()
            ),
        )
    };
    if given.contains('*') {
        return Err(refuse(
            "wildcards are not names (give the server's own host name)",
        ));
    }
    // One final dot is the root ("example.com." is "example.com"); any other empty label is not a name.
    let text = given.strip_suffix('.').unwrap_or(given);
    if text.is_empty() || text.split('.').any(str::is_empty) {
        return Err(refuse(
            "an empty label (two dots in a row, or a dot at the start)",
        ));
    }
    let unbracketed = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    if let Ok(ip) = unbracketed.parse::<std::net::Ipv6Addr>() {
        return Ok(ServerName::IpAddress(std::net::IpAddr::V6(ip).into()));
    }
    // A name whose last label starts with a digit is an address (no top-level domain does).
    let last_label = text.rsplit('.').next().unwrap_or("");
    if last_label.starts_with(|c: char| c.is_ascii_digit()) {
        return inet_aton(text)
            .map(|ip| ServerName::IpAddress(std::net::IpAddr::V4(ip).into()))
            .ok_or_else(|| {
                refuse("a numeric name that is not an IPv4 address as inet_aton reads it")
            });
    }
    if !text.is_ascii() {
        // The A-label is the name, and is judged as one: UTS 46 maps some characters to ASCII digits
        // ("²" is "2"), so the result may be numeric.
        let ascii = idna::domain_to_ascii_strict(text)
            .map_err(|_| refuse("not a valid internationalised host name (IDNA, UTS 46)"))?;
        return match ascii.is_ascii() && !ascii.is_empty() {
            true => host_name(&ascii),
            false => Err(refuse(
                "not a valid internationalised host name (IDNA, UTS 46)",
            )),
        };
    }
    let ascii = text.to_string();
    if ascii.len() > NAME_MAX {
        return Err(refuse("longer than 253 characters"));
    }
    if ascii.split('.').any(|label| label.len() > LABEL_MAX) {
        return Err(refuse("a label is longer than 63 characters"));
    }
    ServerName::try_from(ascii).map_err(|_| refuse("neither a valid host name nor an IP address"))
}

/// An IPv4 address written as `inet_aton` reads it: one to four parts separated by dots, each
/// decimal, octal (leading 0) or hexadecimal (0x); the last part fills the bytes left. Unlike glibc's,
/// nothing may follow the address.
fn inet_aton(text: &str) -> Option<std::net::Ipv4Addr> {
    let parts: Vec<&str> = text.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut values = Vec::with_capacity(4);
    for part in &parts {
        let (digits, radix) =
            if let Some(hex) = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")) {
                (hex, 16)
            } else if part.len() > 1 && part.starts_with('0') {
                (&part[1..], 8)
            } else {
                (*part, 10)
            };
        if digits.is_empty() && radix != 8 {
            return None;
        }
        if !digits.chars().all(|c| c.is_digit(radix)) {
            return None;
        }
        values.push(if digits.is_empty() {
            0
        } else {
            u32::from_str_radix(digits, radix).ok()?
        });
    }
    let (last, leading) = values.split_last()?;
    if leading.iter().any(|&v| v > 0xff) {
        return None;
    }
    let room = 8 * (4 - leading.len() as u32);
    if room < 32 && *last >> room != 0 {
        return None;
    }
    let mut address = *last;
    for (i, &v) in leading.iter().enumerate() {
        address |= v << (24 - 8 * i as u32);
    }
    Some(std::net::Ipv4Addr::from(address))
}

/// What `SO_SSL_SET_PEERNAME` left on a socket: no name, the name every handshake checks, or a name
/// that was asked for and cannot be used, which keeps the socket from completing a handshake until a
/// valid name is set (a name that was asked for is never dropped).
#[derive(Clone, Debug, Default)]
pub enum PeerName {
    /// No name was set: none is checked (the hook may check one).
    #[default]
    Unset,
    /// Sent as SNI and checked.
    Checked(ServerName<'static>),
    /// `SET_PEERNAME` failed with this error.
    Unusable(Error),
}

impl PeerName {
    /// The name a handshake checks (Ok(None): none was asked for), or why none can start.
    pub fn for_handshake(&self) -> Result<Option<ServerName<'static>>> {
        match self {
            PeerName::Unset => Ok(None),
            PeerName::Checked(name) => Ok(Some(name.clone())),
            PeerName::Unusable(e) => Err(Error::new(
                e.code(),
                format!(
                    "no handshake until a valid SO_SSL_SET_PEERNAME: the name set before could not be used ({})",
                    e.reason()
                ),
            )),
        }
    }
}

/// Whether a name buffer holds a wide (UTF-16LE) string: its first two units are non-zero characters
/// below U+0100 (every host name starts with two such), i.e. bytes `c 0 c 0`. A narrow name never has a
/// NUL as its second byte unless it is one character long, and then its buffer is 2 bytes.
fn looks_wide(bytes: &[u8]) -> bool {
    bytes.len() >= 4 && bytes[0] != 0 && bytes[1] == 0 && bytes[2] != 0 && bytes[3] == 0
}

/// `SO_SSL_SET_CLIENT_OPTS`: how this socket uses the shared session cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheOptions {
    /// 0: this socket neither resumes nor stores sessions. Any other value: it uses the shared cache,
    /// whose capacity sslsock sets (256 servers).
    pub size: u32,
    /// Milliseconds: sessions older than this are not resumed by this socket (0: as long as the server
    /// allows).
    pub lifetime_ms: u32,
}

impl Default for CacheOptions {
    fn default() -> Self {
        CacheOptions {
            size: 256,
            lifetime_ms: 0,
        }
    }
}

/// Everything set on a secure socket before its handshake.
#[derive(Clone)]
pub struct Options {
    /// The certificate validation hook, if any.
    pub hook: Option<Arc<dyn CertJudge>>,
    /// `SO_SSL_SET_PEERNAME`: sent as SNI and checked.
    pub peer_name: PeerName,
    /// `SO_SSL_SET_FLAGS`.
    pub flags: Flags,
    /// `SO_SSL_SET_PROTOCOLS`.
    pub protocols: Protocols,
    /// `sslsock_set_client_certificate` (None: `SSLSOCK_CLIENT_CERT`, if set).
    pub client_identity: Option<Arc<super::identity::ClientIdentity>>,
    /// `SO_SSL_SET_CLIENT_OPTS`.
    pub cache: CacheOptions,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            hook: None,
            peer_name: PeerName::Unset,
            flags: Flags::default(),
            protocols: Protocols::ALL,
            client_identity: None,
            cache: CacheOptions::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_all_three_shapes() {
        assert!(parse_server_name(b"").unwrap().is_none());
        assert!(parse_server_name(b"\0").unwrap().is_none());
        let a = parse_server_name(b"mail.example.com\0").unwrap().unwrap();
        let b = parse_server_name(b"mail.example.com").unwrap().unwrap();
        assert_eq!(a, b);
        assert!(matches!(
            parse_server_name(b"127.0.0.1").unwrap(),
            Some(ServerName::IpAddress(_))
        ));
        assert_eq!(
            parse_server_name(b"bad name!").unwrap_err().code(),
            WsaCode::EINVAL
        );
        assert_eq!(
            parse_server_name(&[0xff, 0xfe]).unwrap_err().code(),
            WsaCode::EINVAL
        );
    }

    fn ip(text: &str) -> Option<String> {
        match parse_server_name(text.as_bytes()) {
            Ok(Some(ServerName::IpAddress(a))) => Some(std::net::IpAddr::from(a).to_string()),
            _ => None,
        }
    }

    #[test]
    fn names_that_cannot_be_checked_are_refused() {
        let long_label = format!("{}.example", "a".repeat(64));
        let long_name = format!("{}.example", "abcdefghi.".repeat(30));
        for bad in [
            "*.x",
            "*.example.com",
            "mail server",
            long_label.as_str(),
            long_name.as_str(),
            "127.0.0.256",
            "1.2.3.4.5",
            "08.1.1.1",
            "0x.1",
            "1..2",
            "exa mple.com",
            "xn--.com",
            "wrong.example..",
            "5zampleom..",
            ".example",
            ".",
        ] {
            let e = parse_server_name(bad.as_bytes()).unwrap_err();
            assert_eq!(e.code(), WsaCode::EINVAL, "{bad}");
        }
    }

    #[test]
    fn numbers_as_inet_aton_reads_them() {
        assert_eq!(ip("127.1").as_deref(), Some("127.0.0.1"));
        assert_eq!(ip("127.000.000.001").as_deref(), Some("127.0.0.1"));
        assert_eq!(ip("0x7f.1").as_deref(), Some("127.0.0.1"));
        assert_eq!(ip("2130706433").as_deref(), Some("127.0.0.1"));
        assert_eq!(ip("10.1.65535").as_deref(), Some("10.1.255.255"));
        assert_eq!(ip("10.1.65536"), None);
        assert_eq!(ip("::1").as_deref(), Some("::1"));
        assert_eq!(ip("[::1]").as_deref(), Some("::1"));
        assert_eq!(ip("localhost"), None);
    }

    #[test]
    fn utf8_names_become_a_labels() {
        let n = parse_server_name("bücher.example".as_bytes())
            .unwrap()
            .unwrap();
        assert_eq!(n.to_str(), "xn--bcher-kva.example");
        let wide: Vec<u8> = "bücher.example\0"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        assert_eq!(parse_server_name(&wide).unwrap().unwrap(), n);
        // UTS 46 maps "²" to "2": the A-label "244a" is judged as a name, and is numeric.
        assert!(parse_server_name("²44a".as_bytes()).is_err());
        assert_eq!(
            ip("１２７.０.０.１").as_deref(),
            Some("127.0.0.1"),
            "full-width digits map to an address"
        );
    }

    #[test]
    fn a_bad_peer_name_keeps_the_handshake_from_starting() {
        assert!(PeerName::Unset.for_handshake().unwrap().is_none());
        let bad = PeerName::Unusable(parse_server_name(b"mail server").unwrap_err());
        assert_eq!(bad.for_handshake().unwrap_err().code(), WsaCode::EINVAL);
    }

    #[test]
    fn wide_names_are_read_as_utf16() {
        let wide: Vec<u8> = "mail.example.com\0"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        let narrow = parse_server_name(b"mail.example.com\0").unwrap().unwrap();
        assert_eq!(parse_server_name(&wide).unwrap().unwrap(), narrow);
        // without the terminator, and with trailing bytes after it
        assert_eq!(
            parse_server_name(&wide[..wide.len() - 2]).unwrap().unwrap(),
            narrow
        );
        let mut padded = wide.clone();
        padded.extend_from_slice(b"junk");
        assert_eq!(parse_server_name(&padded).unwrap().unwrap(), narrow);
        // a one-letter narrow name with its NUL is still narrow
        assert_eq!(
            parse_server_name(b"a\0").unwrap().unwrap(),
            parse_server_name(b"a").unwrap().unwrap()
        );
        // an unpaired surrogate is refused
        assert_eq!(
            parse_server_name(&[b'a', 0, b'b', 0, 0x00, 0xd8, 0, 0])
                .unwrap_err()
                .code(),
            WsaCode::EINVAL
        );
    }

    #[test]
    fn protocol_lists() {
        assert_eq!(
            Protocols::from_ce_list(&[SSL_PROTOCOL_TLS1]).unwrap(),
            Protocols::ALL
        );
        let only13 = Protocols::from_ce_list(&[SSLSOCK_PROTOCOL_TLS1_3]).unwrap();
        assert!(only13.tls13 && !only13.tls12);
        assert_eq!(only13.to_ce_list(), vec![SSLSOCK_PROTOCOL_TLS1_3]);
        assert_eq!(
            Protocols::from_ce_list(&[SSL_PROTOCOL_SSL3, SSL_PROTOCOL_SSL2])
                .unwrap_err()
                .code(),
            WsaCode::EINVAL
        );
        assert!(Protocols::from_ce_list(&[SSL_PROTOCOL_SSL3, SSL_PROTOCOL_TLS1]).is_ok());
        assert_eq!(
            Protocols::from_ce_list(&[77]).unwrap_err().code(),
            WsaCode::EINVAL
        );
        assert_eq!(
            Protocols::from_ce_list(&[]).unwrap_err().code(),
            WsaCode::EINVAL
        );
    }

    #[test]
    fn flags() {
        assert!(Flags::from_ce(SSL_FLAG_DEFER_HANDSHAKE).unwrap().deferred());
        assert!(!Flags::from_ce(0).unwrap().deferred());
        assert_eq!(
            Flags::from_ce(SSL_FLAG_SERVER).unwrap_err().code(),
            WsaCode::EOPNOTSUPP
        );
        assert_eq!(Flags::from_ce(0x100).unwrap_err().code(), WsaCode::EINVAL);
    }
}
