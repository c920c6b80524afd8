#!/usr/bin/env python3
"""Make the test certificates of docs/testing.md into OUTDIR.

    python3 tests/pki/mkcerts.py OUTDIR

Everything is made fresh at each run (nothing is committed): a test root CA
(ca.pem, the only trust anchor of the tests), another root CA that nobody
trusts (other-ca.pem), and these leaves, each as

    NAME.pem          the chain the server sends, leaf first (then its issuer)
    NAME.key          the leaf's private key, PKCS#8 PEM, unencrypted
    NAME.der          the leaf alone, DER (what the validate-cert hook receives)
    NAME.issuers.pem  the chain without the leaf (for `s_server -cert_chain`);
                      not written for the self-signed leaf

    good        localhost, SAN DNS:localhost + IP:127.0.0.1, ECDSA P-256, test CA
    good-rsa    the same names, RSA 2048, test CA
    wrongname   wrong.example only, test CA
    selfsigned  localhost + 127.0.0.1, self-signed (CA:FALSE)
    expired     localhost + 127.0.0.1, test CA, valid 2020-01-01 .. 2021-01-01
    untrusted   localhost + 127.0.0.1, signed by other-ca (chain includes other-ca)
    wildcard    *.localtest.example (CN the same), test CA

Leaves: basicConstraints CA:FALSE (critical), keyUsage digitalSignature
(+ keyEncipherment for RSA), extendedKeyUsage serverAuth, SKI, AKI.
CAs: CA:TRUE (critical), keyUsage keyCertSign + cRLSign, SKI (+ AKI = SKI).
ca.key / other-ca.key are written too, for tests that want to sign more.

Needs the `cryptography` package (tests/requirements.txt).
"""

import datetime
import ipaddress
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

UTC = datetime.timezone.utc
NOW = datetime.datetime.now(UTC).replace(microsecond=0)
DAY = datetime.timedelta(days=1)


def ec_key():
    return ec.generate_private_key(ec.SECP256R1())


def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def name(cn, org="sslsock tests"):
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
        x509.NameAttribute(NameOID.COMMON_NAME, cn),
    ])


def pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key):
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def make_ca(cn, key):
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    builder = (
        x509.CertificateBuilder()
        .subject_name(name(cn))
        .issuer_name(name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - DAY)
        .not_valid_after(NOW + 3650 * DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False),
            critical=True)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
                       critical=False)
    )
    return builder.sign(key, hashes.SHA256())


def make_leaf(cn, dns, ips, key, issuer_cert, issuer_key,
              not_before=None, not_after=None):
    """issuer_cert None = self-signed."""
    is_rsa = isinstance(key, rsa.RSAPrivateKey)
    subject = name(cn)
    sans = [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    if issuer_cert is None:
        issuer_name, signer = subject, key
        aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
    else:
        issuer_name, signer = issuer_cert.subject, issuer_key
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key())
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or NOW - DAY)
        .not_valid_after(not_after or NOW + 365 * DAY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=is_rsa,
                data_encipherment=False, key_agreement=False, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False),
            critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(ski, critical=False)
        .add_extension(aki, critical=False)
    )
    return builder.sign(signer, hashes.SHA256())


def write(outdir, fname, data):
    path = os.path.join(outdir, fname)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: mkcerts.py OUTDIR\n")
        return 2
    outdir = argv[1]
    os.makedirs(outdir, exist_ok=True)

    ca_key = ec_key()
    ca = make_ca("sslsock test CA", ca_key)
    other_key = ec_key()
    other = make_ca("sslsock other (untrusted) CA", other_key)

    write(outdir, "ca.pem", pem(ca))
    write(outdir, "ca.key", key_pem(ca_key))
    write(outdir, "other-ca.pem", pem(other))
    write(outdir, "other-ca.key", key_pem(other_key))

    local = (["localhost"], ["127.0.0.1"])
    leaves = [
        # name, CN, (dns, ips), key maker, issuer (cert, key) or None, validity
        ("good", "localhost", local, ec_key, (ca, ca_key), None),
        ("good-rsa", "localhost", local, rsa_key, (ca, ca_key), None),
        ("wrongname", "wrong.example", (["wrong.example"], []), ec_key, (ca, ca_key), None),
        ("selfsigned", "localhost", local, ec_key, None, None),
        ("expired", "localhost", local, ec_key, (ca, ca_key),
         (datetime.datetime(2020, 1, 1, tzinfo=UTC), datetime.datetime(2021, 1, 1, tzinfo=UTC))),
        ("untrusted", "localhost", local, ec_key, (other, other_key), None),
        ("wildcard", "*.localtest.example", (["*.localtest.example"], []), ec_key,
         (ca, ca_key), None),
    ]
    for fname, cn, (dns, ips), mkkey, issuer, validity in leaves:
        key = mkkey()
        nb, na = validity if validity else (None, None)
        if issuer is None:
            cert = make_leaf(cn, dns, ips, key, None, None, nb, na)
            chain = []
        else:
            cert = make_leaf(cn, dns, ips, key, issuer[0], issuer[1], nb, na)
            chain = [issuer[0]]
        write(outdir, fname + ".pem", pem(cert) + b"".join(pem(c) for c in chain))
        write(outdir, fname + ".key", key_pem(key))
        write(outdir, fname + ".der", cert.public_bytes(serialization.Encoding.DER))
        if chain:
            write(outdir, fname + ".issuers.pem", b"".join(pem(c) for c in chain))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
