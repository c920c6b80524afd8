#!/usr/bin/env python3
"""Make the test certificates of docs/testing.md into OUTDIR.

    python3 tests/pki/mkcerts.py OUTDIR
    python3 tests/pki/mkcerts.py --shortlived [SECONDS] OUTDIR

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

More leaves for the certificate matrix (tests/certmatrix, docs/certificates.md);
all ECDSA P-256 under the test CA unless said otherwise:

    rsa4096          localhost + 127.0.0.1, RSA 4096
    p384             localhost + 127.0.0.1, ECDSA P-384
    ed25519          localhost + 127.0.0.1, Ed25519
    wildcard-sub     *.sub.localtest.example only
    wildcard-partial w*.localtest.example (a partial-label wildcard) + localtest.example
    cn-only          CN=localhost, no subjectAltName at all
    ip-only          SAN IP:127.0.0.1 only (no DNS name), CN=127.0.0.1
    notyet           localhost + 127.0.0.1, valid from now + 30 days
    inter            localhost + 127.0.0.1, signed by inter-ca.pem (an intermediate CA
                     signed by the test CA); inter.pem = leaf + intermediate
    inter-missing    the same leaf, key and DER as inter, but inter-missing.pem is the
                     leaf alone and there is no inter-missing.issuers.pem
    longchain        localhost + 127.0.0.1 under test CA -> chain-ca-1 -> ... -> chain-ca-4;
                     longchain.pem = leaf + the 4 intermediates (nearest first)
    revoked          localhost + 127.0.0.1, listed in crl.pem / crl.der
    inter-revoked    localhost + 127.0.0.1, signed by revoked-inter-ca.pem, an intermediate
                     that crl.pem / crl.der list; the .pem carries the intermediate

CRLs, all signed by the test CA (the issuer of the listed certificates), with
authorityKeyIdentifier and cRLNumber:

    crl.pem, crl.der  CRL number 2, lists revoked and revoked-inter-ca (never good,
                      inter-ca or any other certificate); PEM "X509 CRL" block and DER
    crl-old.pem       CRL number 1, an hour older, lists one unrelated serial only

A client certificate (for servers that ask for one; tests/interop, docs/interop.md):

    client      CN "sslsock test client", no subjectAltName, ECDSA P-256, test CA,
                extendedKeyUsage clientAuth (not serverAuth); client.pem = leaf + test CA

A leaf that expires while a test runs (only with --shortlived, into an OUTDIR
that already holds ca.pem and ca.key from a full run; nothing else is touched):

    shortlived  localhost + 127.0.0.1, ECDSA P-256, test CA, valid from a day ago
                until now + SECONDS (default: $T_SHORTLIVED_SECONDS, else 20);
                shortlived.notafter holds its not-after as Unix seconds (a line)

Make it right before its server starts (tests/certmatrix/run.sh does): a test
needs the time to make a session while it is valid, then waits past not-after.

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
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

UTC = datetime.timezone.utc
NOW = datetime.datetime.now(UTC).replace(microsecond=0)
DAY = datetime.timedelta(days=1)


def ec_key():
    return ec.generate_private_key(ec.SECP256R1())


def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def rsa4096_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=4096)


def p384_key():
    return ec.generate_private_key(ec.SECP384R1())


def ed25519_key():
    return ed25519.Ed25519PrivateKey.generate()


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


def make_intermediate(cn, key, issuer_cert, issuer_key):
    """A CA certificate (CA:TRUE, keyCertSign + cRLSign) signed by issuer."""
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    builder = (
        x509.CertificateBuilder()
        .subject_name(name(cn))
        .issuer_name(issuer_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - DAY)
        .not_valid_after(NOW + 1825 * DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False),
            critical=True)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                       critical=False)
    )
    return builder.sign(issuer_key, hashes.SHA256())


def make_crl(issuer_cert, issuer_key, serials, number, this_update):
    """A v2 CRL by issuer listing `serials` (revoked a day before this_update)."""
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer_cert.subject)
        .last_update(this_update)
        .next_update(this_update + 30 * DAY)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                       critical=False)
        .add_extension(x509.CRLNumber(number), critical=False)
    )
    for serial in serials:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(serial)
            .revocation_date(this_update - DAY)
            .add_extension(x509.CRLReason(x509.ReasonFlags.key_compromise), critical=False)
            .build())
    return builder.sign(issuer_key, hashes.SHA256())


def make_leaf(cn, dns, ips, key, issuer_cert, issuer_key,
              not_before=None, not_after=None):
    """issuer_cert None = self-signed; dns and ips both empty = no subjectAltName."""
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
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    builder = builder.add_extension(ski, critical=False).add_extension(aki, critical=False)
    return builder.sign(signer, None if isinstance(signer, ed25519.Ed25519PrivateKey)
                        else hashes.SHA256())


def write(outdir, fname, data):
    path = os.path.join(outdir, fname)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def make_shortlived(outdir, seconds):
    """shortlived.*: a leaf under the CA of an earlier full run, expiring in `seconds`."""
    with open(os.path.join(outdir, "ca.pem"), "rb") as f:
        ca = x509.load_pem_x509_certificate(f.read())
    with open(os.path.join(outdir, "ca.key"), "rb") as f:
        ca_key = serialization.load_pem_private_key(f.read(), password=None)
    now = datetime.datetime.now(UTC).replace(microsecond=0)
    not_after = now + datetime.timedelta(seconds=seconds)
    key = ec_key()
    cert = make_leaf("localhost", ["localhost"], ["127.0.0.1"], key, ca, ca_key,
                     now - DAY, not_after)
    write_leaf(outdir, "shortlived", cert, key, [ca])
    write(outdir, "shortlived.notafter", b"%d\n" % int(not_after.timestamp()))
    return 0


def main(argv):
    if len(argv) >= 2 and argv[1] == "--shortlived":
        rest = argv[2:]
        seconds = os.environ.get("T_SHORTLIVED_SECONDS", "20")
        if len(rest) == 2:
            seconds = rest[0]
        if len(rest) not in (1, 2) or not seconds.isdigit() or int(seconds) < 1:
            sys.stderr.write("usage: mkcerts.py --shortlived [SECONDS] OUTDIR\n")
            return 2
        return make_shortlived(rest[-1], int(seconds))
    if len(argv) != 2:
        sys.stderr.write("usage: mkcerts.py OUTDIR\n"
                         "       mkcerts.py --shortlived [SECONDS] OUTDIR\n")
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

    make_matrix_set(outdir, ca, ca_key, local)
    make_client_set(outdir, ca, ca_key)
    return 0


def write_leaf(outdir, fname, cert, key, chain):
    """NAME.pem (leaf + chain), NAME.key, NAME.der, NAME.issuers.pem (when chain)."""
    write(outdir, fname + ".pem", pem(cert) + b"".join(pem(c) for c in chain))
    write(outdir, fname + ".key", key_pem(key))
    write(outdir, fname + ".der", cert.public_bytes(serialization.Encoding.DER))
    if chain:
        write(outdir, fname + ".issuers.pem", b"".join(pem(c) for c in chain))


def make_matrix_set(outdir, ca, ca_key, local):
    """The extra leaves, intermediates and CRLs of the certificate matrix (see the top)."""
    dns, ips = local
    simple = [
        # name, CN, dns, ips, key maker, validity
        ("rsa4096", "localhost", dns, ips, rsa4096_key, None),
        ("p384", "localhost", dns, ips, p384_key, None),
        ("ed25519", "localhost", dns, ips, ed25519_key, None),
        ("wildcard-sub", "*.sub.localtest.example", ["*.sub.localtest.example"], [], ec_key, None),
        ("wildcard-partial", "w*.localtest.example",
         ["w*.localtest.example", "localtest.example"], [], ec_key, None),
        ("cn-only", "localhost", [], [], ec_key, None),
        ("ip-only", "127.0.0.1", [], ips, ec_key, None),
        ("notyet", "localhost", dns, ips, ec_key, (NOW + 30 * DAY, NOW + 395 * DAY)),
        ("revoked", "localhost", dns, ips, ec_key, None),
    ]
    certs = {}
    for fname, cn, d, i, mkkey, validity in simple:
        key = mkkey()
        nb, na = validity if validity else (None, None)
        cert = make_leaf(cn, d, i, key, ca, ca_key, nb, na)
        write_leaf(outdir, fname, cert, key, [ca])
        certs[fname] = cert

    # One intermediate: the leaf served with it (inter) and without it (inter-missing).
    inter_key = ec_key()
    inter = make_intermediate("sslsock test intermediate CA", inter_key, ca, ca_key)
    write(outdir, "inter-ca.pem", pem(inter))
    key = ec_key()
    cert = make_leaf("localhost", dns, ips, key, inter, inter_key)
    write_leaf(outdir, "inter", cert, key, [inter])
    write_leaf(outdir, "inter-missing", cert, key, [])

    # A long chain: test CA -> chain-ca-1 -> chain-ca-2 -> chain-ca-3 -> chain-ca-4 -> leaf.
    issuer, issuer_key, cas = ca, ca_key, []
    for n in range(1, 5):
        k = ec_key()
        c = make_intermediate("sslsock test chain CA %d" % n, k, issuer, issuer_key)
        write(outdir, "chain-ca-%d.pem" % n, pem(c))
        cas.append(c)
        issuer, issuer_key = c, k
    key = ec_key()
    cert = make_leaf("localhost", dns, ips, key, issuer, issuer_key)
    write_leaf(outdir, "longchain", cert, key, list(reversed(cas)))

    # A leaf under an intermediate that the test CA revoked.
    rinter_key = ec_key()
    rinter = make_intermediate("sslsock revoked intermediate CA", rinter_key, ca, ca_key)
    write(outdir, "revoked-inter-ca.pem", pem(rinter))
    key = ec_key()
    cert = make_leaf("localhost", dns, ips, key, rinter, rinter_key)
    write_leaf(outdir, "inter-revoked", cert, key, [rinter])

    # CRLs of the test CA.
    crl = make_crl(ca, ca_key, [certs["revoked"].serial_number, rinter.serial_number], 2,
                   NOW - datetime.timedelta(hours=1))
    write(outdir, "crl.pem", crl.public_bytes(serialization.Encoding.PEM))
    write(outdir, "crl.der", crl.public_bytes(serialization.Encoding.DER))
    old = make_crl(ca, ca_key, [x509.random_serial_number()], 1,
                   NOW - datetime.timedelta(hours=2))
    write(outdir, "crl-old.pem", old.public_bytes(serialization.Encoding.PEM))



def make_client_set(outdir, ca, ca_key):
    """client.*: a TLS client certificate under the test CA (see the top)."""
    key = ec_key()
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("sslsock test client"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - DAY)
        .not_valid_after(NOW + 365 * DAY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False),
            critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    write(outdir, "client.pem", pem(cert) + pem(ca))
    write(outdir, "client.key", key_pem(key))
    write(outdir, "client.der", cert.public_bytes(serialization.Encoding.DER))
    write(outdir, "client.issuers.pem", pem(ca))

if __name__ == "__main__":
    sys.exit(main(sys.argv))
