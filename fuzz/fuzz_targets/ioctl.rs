//! WSAIoctl with every SO_SSL_* code (src/abi.rs), FIONBIO/FIONREAD and unknown codes, on a secure,
//! plain, non-socket or closed descriptor, with fuzzed input bytes and lengths, output lengths, NULL
//! or real pointers, a NULL or real lpcbBytesReturned, and overlapped arguments.
//!
//! Input (seeds.py writes examples): byte 0 the descriptor kind; then calls, each
//! `code selector (u8; >= 0xC0: a raw u32 follows) | pointer flags (u8) | in length (u16) | in bytes |
//! out length (u16)`.
//!
//! Checked: the result is 0 or SOCKET_ERROR with a known WSAE code; the known answers of docs/abi.md
//! (WSAEINVAL for unknown codes and for SSL codes on a plain socket, WSAENOTSOCK on a non-socket,
//! WSAEOPNOTSUPP with overlapped arguments); nothing is written past *lpcbBytesReturned, nor anything
//! on failure; a GET after a successful SET gives back what was set.
#![no_main]

use std::ffi::{c_int, c_void};

use libfuzzer_sys::fuzz_target;
use sslsock::abi::*;
use sslsock::ffi;
use sslsock::secure::Protocols;
use sslsock_fuzz::*;

const WINSOCK_FIONBIO: DWORD = 0x8004_667E;
const WINSOCK_FIONREAD: DWORD = 0x4004_667F;

/// Every control code of src/abi.rs, and the two Winsock FIO codes.
const CODES: &[DWORD] = &[
    SO_SSL_GET_CAPABILITIES,
    SO_SSL_SET_FLAGS,
    SO_SSL_GET_FLAGS,
    SO_SSL_SET_PROTOCOLS,
    SO_SSL_GET_PROTOCOLS,
    SO_SSL_SET_CIPHERS,
    SO_SSL_GET_CIPHERS,
    SO_SSL_SET_CLIENT_OPTS,
    SO_SSL_GET_CLIENT_OPTS,
    SO_SSL_SET_SERVER_OPTS,
    SO_SSL_GET_SERVER_OPTS,
    SO_SSL_SET_CLIENT_AUTH_OPTS,
    SO_SSL_GET_CLIENT_AUTH_OPTS,
    SO_SSL_SET_VALIDATE_CERT_HOOK,
    SO_SSL_GET_VALIDATE_CERT_HOOK,
    SO_SSL_SET_AUTH_REQUEST_HOOK,
    SO_SSL_GET_AUTH_REQUEST_HOOK,
    SO_SSL_SET_KEY_EXCH_HOOK,
    SO_SSL_GET_KEY_EXCH_HOOK,
    SO_SSL_SET_SIGNATURE_HOOK,
    SO_SSL_GET_SIGNATURE_HOOK,
    SO_SSL_PERFORM_HANDSHAKE,
    SO_SSL_GET_CONNECTION_INFO,
    SO_SSL_SET_PEERNAME,
    SO_SSL_SET_PEERNAME_IN,
    _SO_SSL,
    WINSOCK_FIONBIO,
    WINSOCK_FIONREAD,
];

const CANARY: u8 = 0xA5;

/// What a GET should give back after the SETs that succeeded.
#[derive(Default)]
struct Model {
    flags: Option<DWORD>,
    protocols: Option<Protocols>,
    hook: Option<[u8; 16]>,
    client_opts: Option<[u8; 8]>,
}

/// A completion routine (never called: overlapped I/O is refused).
unsafe extern "C" fn completion_c(_: DWORD, _: DWORD, _: *mut c_void, _: DWORD) {}

fuzz_target!(init: { init(); }, |data: &[u8]| {
    let mut input = Cursor::new(data);
    let kind = input.u8() % 5;
    let mut pipe = [-1; 2];
    let s: c_int = match kind {
        0 => tcp_socket(true),
        1 => {
            let s = tcp_socket(true);
            assert_eq!(ioctl_in(s, SO_SSL_SET_FLAGS, &SSL_FLAG_DEFER_HANDSHAKE.to_ne_bytes()), 0);
            s
        }
        2 => tcp_socket(false),
        3 => {
            // SAFETY: a two-int array.
            assert_eq!(unsafe { libc::pipe(pipe.as_mut_ptr()) }, 0);
            pipe[0]
        }
        _ => NOT_OPEN_FD,
    };
    let secure = kind <= 1;
    let mut model = Model::default();
    if kind == 1 {
        model.flags = Some(SSL_FLAG_DEFER_HANDSHAKE);
    }

    for _ in 0..16 {
        if input.is_empty() {
            break;
        }
        let sel = input.u8();
        let code = if sel >= 0xC0 { input.u32() } else { CODES[sel as usize % CODES.len()] };
        let ptrs = input.u8();
        let in_len = (input.u16() % 1100) as usize;
        let mut in_buf = input.bytes(in_len).to_vec();
        in_buf.resize(in_len, 0);
        let out_len = (input.u16() % 2100) as usize;
        let in_null = ptrs & 1 != 0;
        let out_null = ptrs & 2 != 0;
        let returned_null = ptrs & 4 != 0;
        let overlapped = ptrs & 8 != 0;
        let routine = ptrs & 16 != 0;
        let in_null_len = if in_null && ptrs & 32 != 0 { in_len.max(1) } else if in_null { 0 } else { in_len };

        // A hook's function pointer must be callable (the fuzzer may not invent one): ours or NULL.
        if code == SO_SSL_SET_VALIDATE_CERT_HOOK && in_buf.len() >= 16 {
            let mode = if ptrs & 64 != 0 { hook_mode::ACCEPT } else { 0 };
            let hook = hook_bytes(mode);
            in_buf[..8].copy_from_slice(&hook[..8]);
        }
        // FIONBIO on a plain socket would make the descriptor non-blocking: harmless here.

        let mut out_buf = vec![CANARY; out_len];
        let mut returned: DWORD = 0xDEAD_BEEF;
        let mut overlapped_area = [0u8; 64];
        clear_error();
        // SAFETY: every pointer is NULL or valid for the length passed with it (exact-size buffers,
        // so ASan sees any access past them).
        let rc = unsafe {
            ffi::ioctl::WSAIoctl(
                s,
                code,
                if in_null { std::ptr::null_mut() } else { in_buf.as_mut_ptr().cast() },
                in_null_len as DWORD,
                if out_null { std::ptr::null_mut() } else { out_buf.as_mut_ptr().cast() },
                out_len as DWORD,
                if returned_null { std::ptr::null_mut() } else { &mut returned },
                if overlapped { overlapped_area.as_mut_ptr().cast() } else { std::ptr::null_mut() },
                if routine { Some(completion_c) } else { None },
            )
        };
        assert!(rc == 0 || rc == -1, "WSAIoctl returned {rc}");
        let err = check_rc("WSAIoctl", rc.into());
        let what = format!("WSAIoctl({code:#010x}) on kind {kind}");

        if !returned_null && rc == 0 {
            assert_ne!(returned, 0xDEAD_BEEF, "{what}: lpcbBytesReturned not written");
        }
        // On failure *lpcbBytesReturned may hold the size a GET needs (WSAEFAULT), nothing written.
        let written = if rc == 0 && !returned_null { returned as usize } else { 0 };
        if rc == 0 && !returned_null {
            assert!(written <= out_len, "{what}: returned {written} > cbOutBuffer {out_len}");
        }
        if !out_null && (rc != 0 || !returned_null) {
            assert!(
                out_buf[written..].iter().all(|&b| b == CANARY),
                "{what}: wrote past the {written} bytes it reported (rc {rc})"
            );
        }

        // The answers docs/abi.md fixes.
        let input_fault = in_null && in_null_len > 0;
        if overlapped || routine {
            assert_eq!(err, WSAEOPNOTSUPP, "{what}: overlapped");
            continue;
        }
        if input_fault {
            assert_eq!(err, WSAEFAULT, "{what}: NULL input with a length");
            continue;
        }
        let fio = code == WINSOCK_FIONBIO || code == WINSOCK_FIONREAD;
        if !fio && code & 0x00FF_0000 != SO_SSL_FAMILY {
            assert_eq!(err, WSAEINVAL, "{what}: an unknown code");
            continue;
        }
        match kind {
            2 if !fio => assert_eq!(err, WSAEINVAL, "{what}: SSL code on a plain socket"),
            // FIONBIO reads its DWORD before it looks at the descriptor.
            3 | 4 if fio => assert!(err == WSAENOTSOCK || err == WSAEFAULT, "{what}: not a socket: {err}"),
            3 | 4 => assert_eq!(err, WSAENOTSOCK, "{what}: not a socket"),
            _ => {}
        }
        if !secure || fio {
            continue;
        }
        let in_now: &[u8] = if in_null { &[] } else { &in_buf };
        let out_now = if out_null { &[][..] } else { &out_buf[..written.min(out_buf.len())] };
        check_model(&mut model, code, in_now, rc, out_now, out_null || returned_null, &what);
    }

    if kind <= 2 {
        check_rc("closesocket", ffi::lifecycle::closesocket(s).into());
    }
    if kind == 3 {
        // SAFETY: our pipe.
        unsafe {
            libc::close(pipe[0]);
            libc::close(pipe[1]);
        }
    }
});

fn check_model(
    model: &mut Model,
    code: DWORD,
    input: &[u8],
    rc: c_int,
    out: &[u8],
    out_unknown: bool,
    what: &str,
) {
    let ok = rc == 0;
    match code {
        SO_SSL_SET_FLAGS if ok => {
            model.flags = Some(u32::from_ne_bytes(input[..4].try_into().unwrap()))
        }
        SO_SSL_SET_PROTOCOLS if ok => {
            let count = u32::from_ne_bytes(input[..4].try_into().unwrap()) as usize;
            let values: Vec<DWORD> = (0..count)
                .map(|i| u32::from_ne_bytes(input[4 + 12 * i..8 + 12 * i].try_into().unwrap()))
                .collect();
            model.protocols = Some(Protocols::from_ce_list(&values).expect("accepted list"));
        }
        SO_SSL_SET_VALIDATE_CERT_HOOK if ok => {
            let mut h = [0u8; 16];
            h.copy_from_slice(&input[..16]);
            if h[..8] == [0; 8] {
                h = [0; 16]; // removing the hook forgets pvArg too
            }
            model.hook = Some(h);
        }
        SO_SSL_SET_CLIENT_OPTS if ok => model.client_opts = Some(input[..8].try_into().unwrap()),
        SO_SSL_GET_CAPABILITIES if ok && !out_unknown => {
            assert_eq!(out, SSL_CAP_CLIENT.to_ne_bytes(), "{what}")
        }
        SO_SSL_GET_FLAGS if ok && !out_unknown => {
            assert_eq!(out, model.flags.unwrap_or(0).to_ne_bytes(), "{what}")
        }
        SO_SSL_GET_PROTOCOLS if ok && !out_unknown => {
            let list = model.protocols.unwrap_or(Protocols::ALL).to_ce_list();
            let mut want = (list.len() as DWORD).to_ne_bytes().to_vec();
            for p in list {
                want.extend_from_slice(&p.to_ne_bytes());
                want.extend_from_slice(&[0; 8]);
            }
            assert_eq!(out, &want[..], "{what}");
        }
        SO_SSL_GET_VALIDATE_CERT_HOOK if ok && !out_unknown => {
            assert_eq!(out, model.hook.unwrap_or([0; 16]), "{what}")
        }
        SO_SSL_GET_CLIENT_OPTS if ok && !out_unknown => {
            let mut want = 256u32.to_ne_bytes().to_vec();
            want.extend_from_slice(&0u32.to_ne_bytes());
            assert_eq!(
                out,
                model.client_opts.map_or(want, |o| o.to_vec()),
                "{what}"
            )
        }
        SO_SSL_GET_CONNECTION_INFO | SO_SSL_PERFORM_HANDSHAKE => {
            assert!(!ok, "{what}: succeeded on a socket that never connected")
        }
        _ => {}
    }
}
