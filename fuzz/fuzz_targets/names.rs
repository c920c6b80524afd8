//! The server-name and protocol-list parsers (src/secure/options.rs: `parse_server_name`,
//! `Protocols::from_ce_list`; src/ffi/ioctl.rs: the SSLPROTOCOLS buffer), directly and through
//! WSAIoctl: SO_SSL_SET_PEERNAME (both code values) and SO_SSL_PERFORM_HANDSHAKE with the name in every
//! shape CE programs use (narrow with or without the NUL, wide, empty, NULL) and wrong ones, and
//! SO_SSL_SET_PROTOCOLS with any dwCount against any buffer length.
//!
//! Input: byte 0 chooses the name shape for the WSAIoctl calls (all shapes are parsed directly);
//! byte 1 the protocol-buffer length adjustment; the rest is the name, and also the SSLPROTOCOLS
//! buffer (dwCount first).
//!
//! Checked: no panic; a parsed name is non-empty, has no NUL and parses again to itself; WSAIoctl
//! agrees with the direct parse (the same WSAE code) and PERFORM_HANDSHAKE on an unconnected socket
//! answers WSAENOTCONN once the name is good; a protocol list is accepted by WSAIoctl exactly when
//! the buffer holds dwCount entries and the parser accepts their values, and GET_PROTOCOLS then
//! gives the set back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sslsock::abi::*;
use sslsock::secure::{parse_server_name, Protocols};
use sslsock_fuzz::*;

fuzz_target!(init: { init(); }, |data: &[u8]| {
    let mut input = Cursor::new(data);
    let shape = input.u8();
    let adjust = input.u8();
    let name = input.rest();

    // Directly, every shape.
    for sh in 0..8u8 {
        let (buf, len) = name_shape(sh, name);
        let bytes = buf.as_deref().map_or(&[][..], |b| &b[..len.min(b.len())]);
        if let Ok(Some(n)) = parse_server_name(bytes) {
            let text = n.to_str();
            assert!(!text.is_empty() && !text.contains('\0'), "parsed name {text:?}");
            let again = parse_server_name(text.as_bytes())
                .unwrap_or_else(|e| panic!("{text:?} does not parse again: {}", e.reason()))
                .expect("non-empty");
            assert_eq!(again, n, "re-parse of {text:?}");
        }
    }

    // Through WSAIoctl on a fresh secure socket.
    let s = tcp_socket(true);
    let (buf, len) = name_shape(shape, name);
    let direct = match &buf {
        None if len > 0 => Err(WSAEFAULT),
        None => Ok(None),
        Some(b) => parse_server_name(&b[..len.min(b.len())]).map_err(|e| e.code().0),
    };
    // SET_PEERNAME refuses no name (NULL or no bytes: WSAEFAULT) and an empty one (WSAEINVAL), as well as
    // what the parser refuses (docs/security.md, "Names").
    let given = buf.as_deref().map_or(0, |b| len.min(b.len()));
    let set_want = match &direct {
        _ if given == 0 => WSAEFAULT,
        Err(e) => *e,
        Ok(None) => WSAEINVAL,
        Ok(Some(_)) => 0,
    };
    for code in [SO_SSL_SET_PEERNAME, SO_SSL_SET_PEERNAME_IN] {
        let got = ioctl_name(s, code, shape, name);
        assert_eq!(got, set_want, "SET_PEERNAME({code:#x}) shape {} of {name:?}: {}", shape % 8, reason());
    }
    // On a socket that is not connected, PERFORM_HANDSHAKE answers WSAENOTCONN whatever the name (a NULL
    // buffer with a length is WSAEFAULT, as for any code).
    let got = ioctl_name(s, SO_SSL_PERFORM_HANDSHAKE, shape, name);
    let want = if buf.is_none() && len > 0 { WSAEFAULT } else { WSAENOTCONN };
    assert_eq!(got, want, "PERFORM_HANDSHAKE shape {} of {name:?}: {}", shape % 8, reason());

    // SSLPROTOCOLS: dwCount and entries from the same bytes, the buffer shortened or lengthened.
    let mut protocols = name.to_vec();
    match adjust % 4 {
        0 => {}
        1 => protocols.truncate(protocols.len().saturating_sub(adjust as usize / 4)),
        2 => protocols.resize(protocols.len() + adjust as usize / 4, 0),
        _ => {
            // A well-formed list of the values that follow the first byte.
            let values: Vec<u32> = name.iter().skip(1).take(8).map(|&b| match b % 6 {
                0 => SSL_PROTOCOL_TLS1,
                1 => SSLSOCK_PROTOCOL_TLS1_2,
                2 => SSLSOCK_PROTOCOL_TLS1_3,
                3 => SSL_PROTOCOL_SSL3,
                4 => SSL_PROTOCOL_PCT1,
                _ => b as u32,
            }).collect();
            protocols = (values.len() as u32).to_ne_bytes().to_vec();
            for v in values {
                protocols.extend_from_slice(&v.to_ne_bytes());
                protocols.extend_from_slice(&[0; 8]);
            }
        }
    }
    let want = if protocols.len() < 4 {
        Err(WSAEFAULT)
    } else {
        let count = u32::from_ne_bytes(protocols[..4].try_into().unwrap()) as usize;
        match count.checked_mul(12).and_then(|n| n.checked_add(4)) {
            Some(n) if n <= protocols.len() => {
                let values: Vec<u32> = (0..count)
                    .map(|i| u32::from_ne_bytes(protocols[4 + 12 * i..8 + 12 * i].try_into().unwrap()))
                    .collect();
                Protocols::from_ce_list(&values).map_err(|e| e.code().0)
            }
            _ => Err(WSAEFAULT),
        }
    };
    let got = ioctl_in(s, SO_SSL_SET_PROTOCOLS, &protocols);
    assert_eq!(got, want.as_ref().map_or_else(|&e| e, |_| 0), "SET_PROTOCOLS {protocols:?}: {}", reason());
    if let Ok(p) = want {
        let out = ioctl_out(s, SO_SSL_GET_PROTOCOLS, 64).expect("GET_PROTOCOLS");
        let list = p.to_ce_list();
        assert_eq!(u32::from_ne_bytes(out[..4].try_into().unwrap()) as usize, list.len());
        assert_eq!(Protocols::from_ce_list(&[u32::from_ne_bytes(out[4..8].try_into().unwrap())]).ok(), Some(p));
    }
    check_rc("closesocket", sslsock::ffi::lifecycle::closesocket(s).into());
});
