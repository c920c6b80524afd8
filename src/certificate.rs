//! CE's certificate cracker (`SslCrackCertificate`): one DER X.509 certificate turned into the
//! fields of CE's `X509Certificate`, in safe Rust. The C face (`ffi::certificate`) lays the result out
//! in C memory; everything about what the fields hold is decided here.
//!
//! Parsed with `x509-parser` (rusticata): webpki, which the handshake uses, checks certificates but
//! does not expose their names, dates or serial numbers (docs/porting.md, "SslCrackCertificate").
//!
//! The forms are CE's (its schannel's X.509 decoder, which every CE hook was written against):
//! - names: the relative distinguished names in certificate order, each `PREFIX=value`, joined by
//!   `", "` (e.g. `"C=US, O=Example, CN=host"`), with CE's prefixes `CN`, `C`, `L`, `S`, `O`, `OU`; for
//!   the types CE did not know, CryptoAPI's X.500 names (`E`, `STREET`, `T`, `G`, `SN`, `I`, `DC`,
//!   `SERIALNUMBER`) or `OID.<dotted>`. Several values in one RDN are joined by `" + "`. Values are
//!   not quoted (CE never did: hooks search for `"CN="` and read to the next `','`); a control
//!   character (a NUL would cut the C string short) is written `\XX` in hex; a value that is no
//!   string is `#` and the hex of its DER.
//! - `Version`: the encoded value (0 for v1, 2 for v3), as CE decoded it.
//! - `SerialNumber`: the serial's least significant 16 bytes, least significant byte first (CE's
//!   integer order); longer serials (RFC 5280 allows 20 bytes) keep their low 128 bits.
//! - dates: FILETIME, 100 ns units since 1601-01-01 UTC.
//! - the public key: the `subjectPublicKey` BIT STRING's bytes (an RSA key's DER `RSAPublicKey`, an EC
//!   key's point), with the key algorithm's `CALG_*` as its type.

use x509_parser::der_parser::asn1_rs::{Any, Tag};
use x509_parser::oid_registry::{
    Oid, OID_KEY_TYPE_DSA, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_PKCS1_RSAENCRYPTION,
};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::time::ASN1Time;
use x509_parser::x509::X509Name;

pub use crate::abi::CF_CERT_FROM_FILE;
use crate::abi::{ALG_ID, DWORD};

/// wincrypt `CALG_RSA_SIGN`.
const CALG_RSA_SIGN: ALG_ID = 0x2400;
/// wincrypt `CALG_DSS_SIGN`.
const CALG_DSS_SIGN: ALG_ID = 0x2200;
/// wincrypt `CALG_ECDSA`.
const CALG_ECDSA: ALG_ID = 0x2203;
/// wincrypt `CALG_RSA_KEYX`.
const CALG_RSA_KEYX: ALG_ID = 0xa400;

/// Seconds from 1601-01-01 (FILETIME's epoch) to 1970-01-01.
const FILETIME_UNIX_OFFSET_SECS: i128 = 11_644_473_600;

/// The wrapper some CAs put around a certificate file: a 4-byte SEQUENCE header, then OCTET STRING
/// "certificate" (CE's schannel skipped it under `CF_CERT_FROM_FILE`).
const FILE_WRAPPER_TAG: &[u8; 13] = b"\x04\x0bcertificate";
const FILE_WRAPPER_LEN: usize = 17;

/// A cracked certificate: what CE's `X509Certificate` holds, as Rust values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrackedCertificate {
    /// The encoded version (0 = v1, 2 = v3).
    pub version: DWORD,
    /// The serial number's low 128 bits, least significant DWORD first (each DWORD native-endian).
    pub serial: [DWORD; 4],
    /// `CALG_RSA_SIGN`, `CALG_DSS_SIGN`, `CALG_ECDSA`, or 0 for signatures wincrypt never named (EdDSA).
    pub signature_algorithm: ALG_ID,
    /// notBefore as a FILETIME value.
    pub valid_from: u64,
    /// notAfter as a FILETIME value.
    pub valid_until: u64,
    /// The issuer in CE's form (no NUL inside).
    pub issuer: String,
    /// The subject in CE's form (no NUL inside).
    pub subject: String,
    /// The public key's algorithm (`CALG_RSA_KEYX`, `CALG_ECDSA`, `CALG_DSS_SIGN`, or 0).
    pub key_type: ALG_ID,
    /// The `subjectPublicKey` bytes.
    pub key: Vec<u8>,
}

/// Why a blob is not a certificate (the C face logs it and returns FALSE).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrackError(pub String);

/// Parse `der` (CE's `pbCertificate`/`cbCertificate`) under `flags` (`CF_CERT_FROM_FILE` or 0; other
/// bits are ignored, as signature checks are the handshake's job here).
///
/// Without `CF_CERT_FROM_FILE` the bytes must be exactly one certificate; with it, a leading wrapper
/// is skipped and bytes after the certificate are allowed.
pub fn crack(der: &[u8], flags: DWORD) -> Result<CrackedCertificate, CrackError> {
    let from_file = flags & CF_CERT_FROM_FILE != 0;
    let mut bytes = der;
    if from_file
        && bytes.len() > FILE_WRAPPER_LEN
        && bytes.get(4..4 + FILE_WRAPPER_TAG.len()) == Some(&FILE_WRAPPER_TAG[..])
    {
        bytes = &bytes[FILE_WRAPPER_LEN..];
    }
    if bytes.is_empty() {
        return Err(CrackError("no bytes".into()));
    }
    let (rest, cert) = X509Certificate::from_der(bytes)
        .map_err(|e| CrackError(format!("not a DER X.509 certificate ({e})")))?;
    if !rest.is_empty() && !from_file {
        return Err(CrackError(format!(
            "{} bytes follow the certificate",
            rest.len()
        )));
    }
    let tbs = &cert.tbs_certificate;
    let validity = tbs.validity();
    Ok(CrackedCertificate {
        version: tbs.version().0,
        serial: serial_dwords(tbs.raw_serial()),
        signature_algorithm: signature_calg(&cert.signature_algorithm.algorithm),
        valid_from: filetime(validity.not_before)?,
        valid_until: filetime(validity.not_after)?,
        issuer: ce_name(tbs.issuer()),
        subject: ce_name(tbs.subject()),
        key_type: key_calg(&tbs.subject_pki.algorithm.algorithm),
        key: tbs.subject_pki.subject_public_key.data.to_vec(),
    })
}

/// The serial's big-endian two's-complement bytes as CE's `DWORD[4]`: the low 16 bytes, least
/// significant first.
fn serial_dwords(raw: &[u8]) -> [DWORD; 4] {
    let mut le = [0u8; 16];
    for (i, b) in raw.iter().rev().take(16).enumerate() {
        le[i] = *b;
    }
    let mut out = [0; 4];
    for (i, chunk) in le.chunks_exact(4).enumerate() {
        out[i] = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
    }
    out
}

/// A time as FILETIME (whole seconds: RFC 5280 times have no fractions); one before 1601 cannot be
/// given.
fn filetime(t: ASN1Time) -> Result<u64, CrackError> {
    let ticks = (i128::from(t.timestamp()) + FILETIME_UNIX_OFFSET_SECS) * 10_000_000;
    u64::try_from(ticks).map_err(|_| CrackError(format!("the date {t} is not a FILETIME")))
}

fn signature_calg(oid: &Oid) -> ALG_ID {
    let s = oid.to_id_string();
    match s.as_str() {
        // md2/md4/md5/sha1/sha224/sha256/sha384/sha512 with RSA, RSASSA-PSS
        "1.2.840.113549.1.1.2"
        | "1.2.840.113549.1.1.3"
        | "1.2.840.113549.1.1.4"
        | "1.2.840.113549.1.1.5"
        | "1.2.840.113549.1.1.10"
        | "1.2.840.113549.1.1.11"
        | "1.2.840.113549.1.1.12"
        | "1.2.840.113549.1.1.13"
        | "1.2.840.113549.1.1.14" => CALG_RSA_SIGN,
        // dsa-with-sha1, dsa-with-sha224/256
        "1.2.840.10040.4.3" | "2.16.840.1.101.3.4.3.1" | "2.16.840.1.101.3.4.3.2" => CALG_DSS_SIGN,
        _ if s.starts_with("1.2.840.10045.4.") => CALG_ECDSA,
        _ => 0,
    }
}

fn key_calg(oid: &Oid) -> ALG_ID {
    if *oid == OID_PKCS1_RSAENCRYPTION {
        CALG_RSA_KEYX
    } else if *oid == OID_KEY_TYPE_EC_PUBLIC_KEY {
        CALG_ECDSA
    } else if *oid == OID_KEY_TYPE_DSA {
        CALG_DSS_SIGN
    } else {
        0
    }
}

/// A name in CE's form (module docs).
pub fn ce_name(name: &X509Name) -> String {
    let rdns: Vec<String> = name
        .iter_rdn()
        .map(|rdn| {
            rdn.iter()
                .map(|atv| {
                    format!(
                        "{}={}",
                        attribute_prefix(atv.attr_type()),
                        attribute_value(atv.attr_value())
                    )
                })
                .collect::<Vec<_>>()
                .join(" + ")
        })
        .collect();
    rdns.join(", ")
}

fn attribute_prefix(oid: &Oid) -> String {
    let id = oid.to_id_string();
    let known = match id.as_str() {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "S",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "1.2.840.113549.1.9.1" => "E",
        "2.5.4.9" => "STREET",
        "2.5.4.12" => "T",
        "2.5.4.42" => "G",
        "2.5.4.4" => "SN",
        "2.5.4.43" => "I",
        "0.9.2342.19200300.100.1.25" => "DC",
        "2.5.4.5" => "SERIALNUMBER",
        _ => return format!("OID.{id}"),
    };
    known.to_string()
}

/// An attribute value as text: the string types decoded, anything else `#` + hex of its DER.
fn attribute_value(value: &Any) -> String {
    let data = value.data;
    let text: Option<String> = match value.tag() {
        Tag::PrintableString
        | Tag::Utf8String
        | Tag::Ia5String
        | Tag::NumericString
        | Tag::VisibleString => std::str::from_utf8(data).ok().map(str::to_string),
        // T.61: in practice Latin-1.
        Tag::TeletexString => Some(data.iter().map(|&b| char::from(b)).collect()),
        Tag::BmpString => {
            if data.len() % 2 != 0 {
                None
            } else {
                let units = data
                    .chunks_exact(2)
                    .map(|c| u16::from_be_bytes([c[0], c[1]]));
                char::decode_utf16(units)
                    .collect::<Result<String, _>>()
                    .ok()
            }
        }
        Tag::UniversalString => {
            if data.len() % 4 != 0 {
                None
            } else {
                data.chunks_exact(4)
                    .map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
                    .collect::<Option<String>>()
            }
        }
        _ => None,
    };
    match text {
        Some(t) => escape_controls(&t),
        None => {
            let mut out = String::from("#");
            // The whole DER of the value: tag, length, contents.
            let header_tag = value.header.tag().0;
            out.push_str(&hex(&der_of(
                header_tag,
                value.class() as u8,
                value.header.is_constructed(),
                data,
            )));
            out
        }
    }
}

/// Rebuild a value's DER (tag, definite length, contents) for the `#hex` form.
fn der_of(tag: u32, class: u8, constructed: bool, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 8);
    let first = (class << 6) | if constructed { 0x20 } else { 0 };
    if tag < 31 {
        out.push(first | tag as u8);
    } else {
        out.push(first | 0x1f);
        let mut groups = Vec::new();
        let mut t = tag;
        loop {
            groups.push((t & 0x7f) as u8);
            t >>= 7;
            if t == 0 {
                break;
            }
        }
        for (i, g) in groups.iter().rev().enumerate() {
            out.push(if i + 1 < groups.len() { g | 0x80 } else { *g });
        }
    }
    let len = data.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(data);
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

fn escape_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if (c as u32) < 0x20 || c == '\u{7f}' {
            out.push_str(&format!("\\{:02X}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_is_least_significant_first() {
        assert_eq!(
            serial_dwords(&[0x01, 0x02, 0x03, 0x04, 0x05]),
            [0x02030405, 0x01, 0, 0]
        );
        assert_eq!(serial_dwords(&[0x00, 0x80]), [0x80, 0, 0, 0]);
        let twenty: Vec<u8> = (1..=20).collect();
        // Low 16 bytes: 5..=20; the least significant DWORD is bytes 17..=20.
        assert_eq!(serial_dwords(&twenty)[0], 0x11121314);
        assert_eq!(serial_dwords(&twenty)[3], 0x05060708);
    }

    #[test]
    fn controls_are_escaped() {
        assert_eq!(escape_controls("a\0b,c"), "a\\00b,c");
        assert_eq!(escape_controls("x\ny"), "x\\0Ay");
    }

    #[test]
    fn der_rebuilt_for_hex_values() {
        assert_eq!(der_of(4, 0, false, &[1, 2]), vec![0x04, 0x02, 1, 2]);
        let long = vec![0u8; 200];
        let d = der_of(16, 0, true, &long);
        assert_eq!(&d[..3], &[0x30, 0x81, 200]);
    }

    /// tests/data/crack-fixed.der: made once with Python's cryptography (serial
    /// 0x0102030405060708090a0b0c0d0e0f1011, 2024-01-02T03:04:05Z .. 2034-01-02T03:04:05Z, ECDSA P-256
    /// key, a two-value RDN, an e-mail attribute, a non-ASCII issuer); the expected FILETIMEs were
    /// computed there too.
    const FIXED: &[u8] = include_bytes!("../tests/data/crack-fixed.der");

    #[test]
    fn fixed_certificate_cracks_to_ce_fields() {
        let c = crack(FIXED, 0).expect("cracks");
        assert_eq!(c.version, 2);
        // Low 16 bytes of 01 02 .. 11, least significant first.
        assert_eq!(c.serial, [0x0e0f1011, 0x0a0b0c0d, 0x06070809, 0x02030405]);
        assert_eq!(c.signature_algorithm, CALG_ECDSA);
        assert_eq!(c.valid_from, 133_486_382_450_000_000);
        assert_eq!(c.valid_until, 136_642_574_450_000_000);
        assert_eq!(
            c.subject,
            "C=US, OU=Ops + O=Acme, Inc., E=a@b.example, CN=crack.example"
        );
        assert_eq!(c.issuer, "CN=Test CA \u{e9}");
        assert_eq!(c.key_type, CALG_ECDSA);
        assert_eq!(c.key.len(), 65);
        assert_eq!(&c.key[..4], &[0x04, 0x56, 0xf8, 0xf4]);
    }

    #[test]
    fn truncations_and_trailing_bytes_are_refused() {
        for n in 0..FIXED.len() {
            assert!(crack(&FIXED[..n], 0).is_err(), "{n} bytes");
        }
        let mut longer = FIXED.to_vec();
        longer.push(0);
        assert!(crack(&longer, 0).is_err());
        // A file may have bytes after the certificate, and the 17-byte wrapper before it.
        assert_eq!(crack(&longer, CF_CERT_FROM_FILE), crack(FIXED, 0));
        let mut wrapped = vec![0x30, 0x82, 0x01, 0x00];
        wrapped.extend_from_slice(FILE_WRAPPER_TAG);
        wrapped.extend_from_slice(FIXED);
        assert_eq!(crack(&wrapped, CF_CERT_FROM_FILE), crack(FIXED, 0));
        assert!(crack(&wrapped, 0).is_err());
    }

    #[test]
    fn garbage_and_empty_are_refused() {
        assert!(crack(&[], 0).is_err());
        assert!(crack(&[0x30], 0).is_err());
        assert!(crack(b"not a certificate at all", 0).is_err());
        assert!(crack(&[0x30, 0x82, 0xff, 0xff, 0x00], 0).is_err());
        assert!(crack(&[0u8; 40], CF_CERT_FROM_FILE).is_err());
    }
}
