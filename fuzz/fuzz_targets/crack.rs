//! `SslCrackCertificate` / `SslFreeCertificate` (src/ffi/certificate.rs, src/certificate.rs).
//!
//! Input: byte 0 chooses the mode.
//! - Even: the rest is handed to `SslCrackCertificate` as it is (with and without `CF_CERT_FROM_FILE`).
//!   Checked: no crash; TRUE exactly when `certificate::crack` accepts the bytes, and then every field
//!   of the C structure equals the Rust one (names NUL-terminated with no NUL inside, key bytes, dates,
//!   serial); FALSE leaves `*ppCertificate` NULL with ERROR_INVALID_DATA (87 for no bytes).
//! - Odd: a certificate is made with rcgen from the input (CN and O text, a 1-20 byte serial, the
//!   notBefore/notAfter years), then cut at an input-chosen length. Checked: the whole certificate
//!   cracks to exactly what was put in (subject "O=<o>, CN=<cn>" for printable text, the serial's low 128
//!   bits least significant first, the dates as FILETIME computed by the `time` crate), and every
//!   shorter prefix is refused.
#![no_main]

use std::ffi::CStr;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sslsock::abi::{PX509Certificate, CF_CERT_FROM_FILE};
use sslsock::certificate::crack;
use sslsock::ffi::certificate::{SslCrackCertificate, SslFreeCertificate};
use sslsock_fuzz::Cursor;

fn key() -> &'static rcgen::KeyPair {
    static KEY: OnceLock<rcgen::KeyPair> = OnceLock::new();
    KEY.get_or_init(|| rcgen::KeyPair::generate().expect("key"))
}

/// SslCrackCertificate through its C signature; the cracked structure read back, then freed.
fn crack_c(bytes: &[u8], flags: u32) -> Option<(String, String, [u32; 4], u64, u64, Vec<u8>)> {
    let mut out: PX509Certificate = 1usize as PX509Certificate;
    let mut copy = bytes.to_vec();
    let ptr = if copy.is_empty() {
        std::ptr::null_mut()
    } else {
        copy.as_mut_ptr()
    };
    // SAFETY: `copy` is readable for its length; `out` is writable.
    let ok = unsafe { SslCrackCertificate(ptr, copy.len() as u32, flags, &mut out) };
    if ok == 0 {
        assert!(out.is_null(), "FALSE leaves *ppCertificate NULL");
        let want = if bytes.is_empty() { 87 } else { 13 };
        assert_eq!(sslsock::error::last_code(), want, "last error after FALSE");
        return None;
    }
    assert_eq!(ok, 1);
    assert!(!out.is_null());
    // SAFETY: TRUE gave a live structure whose strings are NUL-terminated and whose key holds cbKey bytes.
    let fields = unsafe {
        let c = &*out;
        let key = &*c.pPublicKey;
        let key_bytes = std::slice::from_raw_parts(key.pKey.as_ptr(), key.cbKey as usize).to_vec();
        let ft = |f: sslsock::abi::FILETIME| {
            (u64::from(f.dwHighDateTime) << 32) | u64::from(f.dwLowDateTime)
        };
        (
            CStr::from_ptr(c.pszSubject)
                .to_str()
                .expect("UTF-8 subject")
                .to_string(),
            CStr::from_ptr(c.pszIssuer)
                .to_str()
                .expect("UTF-8 issuer")
                .to_string(),
            c.SerialNumber,
            ft(c.ValidFrom),
            ft(c.ValidUntil),
            key_bytes,
        )
    };
    // SAFETY: what SslCrackCertificate gave, freed once.
    unsafe { SslFreeCertificate(out) };
    Some(fields)
}

fn check_agreement(bytes: &[u8], flags: u32) {
    let rust = crack(bytes, flags);
    let c = crack_c(bytes, flags);
    match (&rust, &c) {
        (Ok(r), Some((subject, issuer, serial, from, until, key))) => {
            assert_eq!(&r.subject, subject);
            assert_eq!(&r.issuer, issuer);
            assert!(!subject.contains('\0') && !issuer.contains('\0'));
            assert_eq!(&r.serial, serial);
            assert_eq!((r.valid_from, r.valid_until), (*from, *until));
            assert_eq!(&r.key, key);
        }
        (Err(_), None) => {}
        _ => panic!(
            "Rust and C disagree: {:?} vs {}",
            rust.as_ref().map(|_| ()),
            c.is_some()
        ),
    }
}

fn text(raw: &[u8]) -> String {
    let t: String = raw.iter().map(|&b| char::from(b'a' + b % 26)).collect();
    if t.is_empty() {
        "x".into()
    } else {
        t
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Cursor::new(data);
    let mode = input.u8();
    if mode % 2 == 0 {
        let rest = input.rest();
        check_agreement(rest, 0);
        check_agreement(rest, CF_CERT_FROM_FILE);
        return;
    }
    let cn_len = (input.u8() % 24) as usize;
    let o_len = (input.u8() % 24) as usize;
    let serial_len = 1 + (input.u8() % 20) as usize;
    let year_from = 1601 + i32::from(input.u16() % 8000);
    let years = i32::from(input.u8() % 50) + 1;
    let cut = input.u16() as usize;
    let cn = text(input.bytes(cn_len));
    let o = text(input.bytes(o_len));
    let mut serial = input.bytes(serial_len).to_vec();
    serial.resize(serial_len, 0x5a);
    serial[0] &= 0x7f; // a positive serial, as RFC 5280 wants
    if serial[0] == 0 {
        serial[0] = 1;
    }

    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, o.clone());
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn.clone());
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
    params.not_before = rcgen::date_time_ymd(year_from, 1, 2);
    params.not_after = rcgen::date_time_ymd(year_from + years, 12, 31);
    let (from_unix, until_unix) = (
        params.not_before.unix_timestamp(),
        params.not_after.unix_timestamp(),
    );
    let Ok(cert) = params.self_signed(key()) else {
        return;
    };
    let der = cert.der().to_vec();

    let got = crack(&der, 0).expect("a certificate rcgen made cracks");
    assert_eq!(got.subject, format!("O={o}, CN={cn}"));
    assert_eq!(got.issuer, got.subject);
    assert_eq!(got.version, 2);
    let mut le = [0u8; 16];
    for (i, b) in serial.iter().rev().take(16).enumerate() {
        le[i] = *b;
    }
    let want: Vec<u32> = le
        .chunks(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    assert_eq!(&got.serial[..], &want[..], "serial {serial:02x?}");
    let filetime = |t: i64| ((t + 11_644_473_600) as u64) * 10_000_000;
    assert_eq!(got.valid_from, filetime(from_unix));
    assert_eq!(got.valid_until, filetime(until_unix));
    check_agreement(&der, 0);

    let cut = cut % der.len();
    assert!(
        crack(&der[..cut], 0).is_err(),
        "a prefix of {cut} of {} bytes cracked",
        der.len()
    );
    assert!(crack_c(&der[..cut], 0).is_none());
});
