#!/usr/bin/env python3
"""A misbehaving TLS server for the hostile-server suite (docs/testing.md, c-tests/hostile.c).

    python3 tests/servers/hostile_server.py --port 0 --pki DIR --log FILE [--port-file FILE]
        [--idle 20]

Listens on 127.0.0.1 only; prints `PORT <n>` once it accepts. One thread per connection.
Certificates are made at start-up under the test CA of DIR (DIR/ca.pem, DIR/ca.key, made by
tests/pki/mkcerts.py), in a temporary folder deleted at exit:
  hostile   ECDSA P-256 leaf for *.hostile.test, localhost and 127.0.0.1
  chain100  a leaf under 99 intermediates (test CA -> I1 -> ... -> I99 -> leaf): 100 certificates
  big       a leaf carrying a 1 MiB non-critical extension (a certificate of about 1 MiB)

Choosing the misbehaviour (the scenario), either way:
  deferred: the client first sends the plaintext line `HOSTILE <scenario>` (CRLF); the server
            answers `OK <scenario>` (or `ERR unknown scenario`), then expects a ClientHello;
  immediate: the ClientHello's SNI is `<scenario>.hostile.test`.

Scenarios that misbehave in place of the handshake (after reading the ClientHello):
  garbage-random   4 KiB of random bytes (the first one not a TLS content type)
  garbage-http     a plausible HTTP/1.1 400 response, then FIN
  garbage-record   a well-formed handshake record header around 64 random bytes
  alert-hs         a plaintext fatal handshake_failure alert instead of the ServerHello
  stall            nothing at all (the server keeps reading)
  drip-hs          the real ServerHello flight, one byte every 50 ms
  eof-hs           half of the real ServerHello flight, then FIN
  reset-hs         half of the real ServerHello flight, then RST (SO_LINGER 0)
  oversize-hs      the real flight of cert-chain-100 in records of 2^14+257 bytes of handshake
                   data (TLS 1.3: each re-encrypted); should a client take them, the handshake
                   completes and `HELLO oversize-hs` CRLF, close_notify follow
  oversize-hs-wire the same in records of 2^14+2048+1 bytes (beyond any TLS 1.2 record)
  oversize-hs-max  a handshake record header announcing 65535 bytes, and those bytes
  cert-chain-100   a real handshake sending 100 certificates (leaf + 99 intermediates)
  cert-1mib        a real handshake sending the 1 MiB certificate
  cert-huge-length the real flight with its Certificate message replaced by one whose header
                   claims 2^24-1 bytes (followed by 32 KiB); TLS 1.3: re-encrypted
  cert-list-overflow the Certificate message's certificate_list length claims 2^24-1 bytes
                   inside an honest handshake length

Scenarios after a real handshake (TLS 1.2 or 1.3, whatever the client offers; the server then
writes its own records with the session keys, taken from OpenSSL's key log). Each first sends the
record `HELLO <scenario>` CRLF, then the record `DATA line 1` CRLF; most then wait for the client's
record `GO` CRLF (sent once it has read DATA: what follows then meets a client that has taken
everything before it, with no timing guess) and then:
  close-notify     (no GO) close_notify right after DATA, FIN: the well-behaved control
  truncate         FIN without close_notify (at a record boundary)
  truncate-mid-record  half of a record, FIN
  truncate-mid-header  3 bytes of a record header, FIN
  alert-fatal      an encrypted fatal internal_error alert
  alert-fatal-same-write  (no GO) DATA and the fatal alert in one TCP write
  alert-plaintext  an unencrypted fatal alert record
  oversize-app     an encrypted record of 2^14+1 plaintext bytes
  oversize-app-header  a record header announcing 65535 bytes, and the bytes
  drip-app         one record of 16 KiB dripped one byte every 50 ms
  flood-tickets    (TLS 1.3) NewSessionTicket messages without pause for 15 s: valid
                   records, none with application data
  reset-mid-record half of a record, RST (SO_LINGER 0)
  reneg            an encrypted HelloRequest; then the server reads the client's answer
                   (decrypting it) for up to 1 s and reports it as the record `RENEG <answer>`
                   CRLF, where answer is `alert-<level>-<description>` (e.g. alert-1-100: warning
                   no_renegotiation), `clienthello`, `data`, `eof` or `nothing`; then `DATA after`
                   CRLF, close_notify, FIN (if the client is still there)
  reneg-twice      as reneg, with two HelloRequests in a row

Every byte the client sends after the selector (the whole connection in immediate mode) must
belong to a TLS record (type 20-23, version 0x0301-0x0304, length <= 2^14+2048) and must not
contain the marker `SSLSOCK-MARKER`; otherwise `PLAINTEXT-LEAK <peer> <hex>` is logged (the
convention of starttls_server.py: tests/run-c-tests.sh fails on it). After its misbehaviour the
server goes on reading (and checking) until the client closes or --idle seconds pass.

Log lines: LISTEN <addr> | ACCEPT <peer> | SCENARIO <peer> <name> <line|sni> | TLS <peer> <version>
<cipher> | RENEG-ANSWER <peer> <answer> | FLOOD <peer> <n> tickets | PLAINTEXT-LEAK <peer> <hex> |
ERROR <peer> <what> | END <peer> <how> leak=<yes|no> bytes=<n>  (END: the last line of a connection)
"""

import argparse
import hmac
import os
import random
import shutil
import socket
import ssl
import struct
import sys
import tempfile
import threading
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pki"))
import mkcerts  # noqa: E402  (tests/pki/mkcerts.py: the same certificate recipes)

MARKER = b"SSLSOCK-MARKER"
MAX_RECORD = 16384 + 2048
SNI_SUFFIX = ".hostile.test"

HANDSHAKE_SCENARIOS = {
    "garbage-random", "garbage-http", "garbage-record", "alert-hs", "stall", "drip-hs", "eof-hs",
    "reset-hs", "oversize-hs", "oversize-hs-wire", "oversize-hs-max", "cert-chain-100", "cert-1mib",
    "cert-huge-length", "cert-list-overflow",
}
AFTER_SCENARIOS = {
    "close-notify", "truncate", "truncate-mid-record", "truncate-mid-header", "alert-fatal",
    "alert-fatal-same-write", "alert-plaintext", "oversize-app", "oversize-app-header",
    "drip-app", "flood-tickets", "reset-mid-record", "reneg", "reneg-twice",
}
SCENARIOS = HANDSHAKE_SCENARIOS | AFTER_SCENARIOS


class Logger:
    def __init__(self, path):
        self.lock = threading.Lock()
        self.f = open(path, "a", buffering=1) if path else sys.stderr

    def log(self, *words):
        line = " ".join(str(w) for w in words)
        with self.lock:
            self.f.write(line + "\n")
            self.f.flush()


class Leak(Exception):
    pass


class Gone(Exception):
    """The client closed (FIN or RST) or stayed silent too long."""


# ---- what the client sends: TLS records only, never the marker ------------------------------

class LeakChecker:
    """Follows the record layer over raw client bytes; raises Leak on anything else."""

    def __init__(self):
        self.hdr = b""
        self.body_left = 0
        self.tail = b""  # the last bytes seen, for a marker split across reads

    def check(self, data):
        joined = self.tail + data
        if MARKER in joined:
            i = joined.index(MARKER)
            raise Leak("marker " + joined[max(0, i - 8):i + 40].hex())
        self.tail = joined[-(len(MARKER) - 1):]
        i, n = 0, len(data)
        while i < n:
            if self.body_left:
                take = min(self.body_left, n - i)
                self.body_left -= take
                i += take
                continue
            prev = self.hdr
            need = 5 - len(prev)
            hdr = prev + data[i:i + need]
            if not header_ok(hdr):
                raise Leak((prev + data[i:])[:48].hex())
            i += need
            if len(hdr) < 5:
                self.hdr = hdr
                return
            self.hdr = b""
            self.body_left = int.from_bytes(hdr[3:5], "big")


def header_ok(hdr):
    """hdr: the first 1..5 bytes of a record header."""
    if not 20 <= hdr[0] <= 23:
        return False
    if len(hdr) >= 2 and hdr[1] != 3:
        return False
    if len(hdr) >= 3 and not 1 <= hdr[2] <= 4:
        return False
    if len(hdr) >= 5:
        length = int.from_bytes(hdr[3:5], "big")
        if length > MAX_RECORD or (length == 0 and hdr[0] != 23):
            return False
    return True


# ---- TLS pieces -------------------------------------------------------------------------------

def record(ctype, payload, version=b"\x03\x03"):
    return bytes([ctype]) + version + struct.pack(">H", len(payload)) + payload


def split_records(data):
    """[(type, payload)] of whole records in data (a trailing partial record is ignored)."""
    out, i = [], 0
    while i + 5 <= len(data):
        n = int.from_bytes(data[i + 3:i + 5], "big")
        if i + 5 + n > len(data):
            break
        out.append((data[i], data[i + 5:i + 5 + n]))
        i += 5 + n
    return out


def split_handshake(data):
    """[(type, body)] of handshake messages (the last one may be cut short)."""
    out, i = [], 0
    while i + 4 <= len(data):
        n = int.from_bytes(data[i + 1:i + 4], "big")
        out.append((data[i], data[i + 4:i + 4 + n]))
        i += 4 + n
    return out


def handshake_msg(htype, body, claimed=None):
    n = len(body) if claimed is None else claimed
    return bytes([htype]) + n.to_bytes(3, "big") + body


def parse_client_hello(body):
    """(client_random, sni or None) from a ClientHello body."""
    rnd = body[2:34]
    i = 34
    i += 1 + body[i]                                      # session id
    i += 2 + int.from_bytes(body[i:i + 2], "big")         # cipher suites
    i += 1 + body[i]                                      # compression methods
    if i + 2 > len(body):
        return rnd, None
    end = i + 2 + int.from_bytes(body[i:i + 2], "big")
    i += 2
    while i + 4 <= end:
        etype = int.from_bytes(body[i:i + 2], "big")
        elen = int.from_bytes(body[i + 2:i + 4], "big")
        ext = body[i + 4:i + 4 + elen]
        i += 4 + elen
        if etype == 0 and len(ext) >= 5 and ext[2] == 0:
            n = int.from_bytes(ext[3:5], "big")
            return rnd, ext[5:5 + n].decode("ascii", "replace")
    return rnd, None


def parse_server_hello(body):
    """(server_random, cipher suite, is TLS 1.3) from a ServerHello body."""
    rnd = body[2:34]
    i = 34
    i += 1 + body[i]
    suite = int.from_bytes(body[i:i + 2], "big")
    i += 3
    tls13 = False
    if i + 2 <= len(body):
        end = i + 2 + int.from_bytes(body[i:i + 2], "big")
        i += 2
        while i + 4 <= end:
            etype = int.from_bytes(body[i:i + 2], "big")
            elen = int.from_bytes(body[i + 2:i + 4], "big")
            if etype == 43 and body[i + 4:i + 6] == b"\x03\x04":
                tls13 = True
            i += 4 + elen
    return rnd, suite, tls13


# suite -> (AEAD, key length, hash)
SUITES = {
    0x1301: (AESGCM, 16, hashes.SHA256),
    0x1302: (AESGCM, 32, hashes.SHA384),
    0x1303: (ChaCha20Poly1305, 32, hashes.SHA256),
    0xC02B: (AESGCM, 16, hashes.SHA256),
    0xC02C: (AESGCM, 32, hashes.SHA384),
}


def hkdf_expand_label(secret, label, length, hash_cls):
    full = b"tls13 " + label
    info = struct.pack(">H", length) + bytes([len(full)]) + full + b"\x00"
    return HKDFExpand(hash_cls(), length, info).derive(secret)


def tls12_prf(secret, label, seed, length, hash_cls):
    name = hash_cls.name
    out, a = b"", label + seed
    while len(out) < length:
        a = hmac.new(secret, a, name).digest()
        out += hmac.new(secret, a + label + seed, name).digest()
    return out[:length]


class Protector:
    """One direction of a record layer (AEAD suites of TLS 1.2 and 1.3)."""

    def __init__(self, tls13, suite, key, iv, seq):
        aead_cls, _, _ = SUITES[suite]
        self.tls13 = tls13
        self.aead = aead_cls(key)
        self.iv = iv
        self.seq = seq

    @classmethod
    def tls13_from_secret(cls, suite, secret, seq=0):
        _, klen, h = SUITES[suite]
        return cls(True, suite, hkdf_expand_label(secret, b"key", klen, h),
                   hkdf_expand_label(secret, b"iv", 12, h), seq)

    def _nonce13(self):
        return bytes(a ^ b for a, b in zip(self.iv, self.seq.to_bytes(12, "big")))

    def seal(self, ctype, payload):
        if self.tls13:
            inner = payload + bytes([ctype])
            hdr = b"\x17\x03\x03" + struct.pack(">H", len(inner) + 16)
            ct = self.aead.encrypt(self._nonce13(), inner, hdr)
            out = hdr + ct
        else:
            explicit = self.seq.to_bytes(8, "big")
            aad = explicit + bytes([ctype]) + b"\x03\x03" + struct.pack(">H", len(payload))
            ct = self.aead.encrypt(self.iv + explicit, payload, aad)
            out = record(ctype, explicit + ct)
        self.seq += 1
        return out

    def open(self, ctype, body):
        """(inner type, plaintext) of one record's body."""
        if self.tls13:
            hdr = bytes([ctype]) + b"\x03\x03" + struct.pack(">H", len(body))
            inner = self.aead.decrypt(self._nonce13(), body, hdr)
            inner = inner.rstrip(b"\x00")
            result = (inner[-1], inner[:-1])
        else:
            explicit, ct = body[:8], body[8:]
            aad = self.seq.to_bytes(8, "big") + bytes([ctype]) + b"\x03\x03" + \
                struct.pack(">H", len(ct) - 16)
            result = (ctype, self.aead.decrypt(self.iv + explicit, ct, aad))
        self.seq += 1
        return result


def read_keylog(path, client_random):
    """{label: secret} of the key log lines for this client random."""
    want = client_random.hex()
    out = {}
    with open(path) as f:
        for line in f:
            words = line.split()
            if len(words) == 3 and words[1] == want:
                out[words[0]] = bytes.fromhex(words[2])
    return out


# ---- certificates -----------------------------------------------------------------------------

def make_certificates(pki, outdir):
    """Writes hostile.pem/.key, chain100.pem/.key, big.pem/.key into outdir."""
    ca = x509.load_pem_x509_certificate(open(os.path.join(pki, "ca.pem"), "rb").read())
    ca_key = serialization.load_pem_private_key(open(os.path.join(pki, "ca.key"), "rb").read(),
                                                None)
    names = ["*.hostile.test", "localhost"]

    def save(fname, certs, key):
        with open(os.path.join(outdir, fname + ".pem"), "wb") as f:
            for c in certs:
                f.write(mkcerts.pem(c))
        with open(os.path.join(outdir, fname + ".key"), "wb") as f:
            f.write(mkcerts.key_pem(key))

    key = mkcerts.ec_key()
    save("hostile", [mkcerts.make_leaf("hostile.test", names, ["127.0.0.1"], key, ca, ca_key)],
         key)

    # test CA -> I1 -> ... -> I99 -> leaf: the server sends the leaf and the 99 intermediates.
    issuer, issuer_key, inters = ca, ca_key, []
    for n in range(1, 100):
        k = mkcerts.ec_key()
        c = mkcerts.make_intermediate("hostile chain CA %d" % n, k, issuer, issuer_key)
        inters.append(c)
        issuer, issuer_key = c, k
    key = mkcerts.ec_key()
    leaf = mkcerts.make_leaf("hostile.test", names, ["127.0.0.1"], key, issuer, issuer_key)
    save("chain100", [leaf] + list(reversed(inters)), key)

    # A leaf with one 1 MiB non-critical extension (an unknown OID holding an OCTET STRING).
    key = mkcerts.ec_key()
    huge = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.55555.1.1"),
                                      b"\x04\x83" + (1 << 20).to_bytes(3, "big") +
                                      bytes(1 << 20))
    builder = (
        x509.CertificateBuilder()
        .subject_name(mkcerts.name("hostile.test"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(mkcerts.NOW - mkcerts.DAY)
        .not_valid_after(mkcerts.NOW + 30 * mkcerts.DAY)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(d) for d in names]),
                       critical=False)
        .add_extension(huge, critical=False)
    )
    save("big", [builder.sign(ca_key, hashes.SHA256())], key)


# ---- one connection ---------------------------------------------------------------------------

class Conn:
    def __init__(self, sock, peer, args, logger):
        self.sock = sock
        self.peer = peer
        self.args = args
        self.log = lambda *w: logger.log(w[0], peer, *w[1:])
        self.buf = b""              # client bytes read, not yet consumed
        self.checker = None         # set once the TLS phase starts
        self.checked_bytes = 0
        self.eof = False
        self.keylog = os.path.join(args.workdir, "keylog-%s.txt" % peer.replace(":", "-"))
        self.client_hello = b""     # the raw record(s)
        self.client_random = b""

    # raw I/O

    def recv_some(self, timeout=None):
        """Reads more client bytes into buf; False at EOF. Raises Gone on reset or timeout."""
        if self.eof:
            return False
        self.sock.settimeout(self.args.idle if timeout is None else timeout)
        try:
            d = self.sock.recv(65536)
        except socket.timeout:
            raise Gone("idle")
        except OSError as e:
            self.eof = True
            raise Gone(type(e).__name__)
        if not d:
            self.eof = True
            return False
        if self.checker is not None:
            self.checked_bytes += len(d)
            self.checker.check(d)
        self.buf += d
        return True

    def send(self, data):
        self.sock.settimeout(self.args.idle)
        try:
            self.sock.sendall(data)
        except OSError as e:
            raise Gone("send: " + type(e).__name__)

    def start_checking(self):
        self.checker = LeakChecker()
        if self.buf:
            self.checked_bytes += len(self.buf)
            self.checker.check(self.buf)

    def read_record(self, timeout=None):
        """One whole client record (raw bytes), or None at EOF."""
        while True:
            if len(self.buf) >= 5:
                n = 5 + int.from_bytes(self.buf[3:5], "big")
                if len(self.buf) >= n:
                    rec, self.buf = self.buf[:n], self.buf[n:]
                    return rec
            if not self.recv_some(timeout):
                return None

    def fin(self):
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def rst(self):
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    # selecting the scenario

    def select(self):
        while not self.buf:
            if not self.recv_some(10.0):
                raise Gone("eof before a selector")
        if self.buf[0] == 0x16:
            self.start_checking()
            self.read_client_hello()
            if not self.sni or not self.sni.endswith(SNI_SUFFIX) or \
                    self.sni[:-len(SNI_SUFFIX)] not in SCENARIOS:
                return None, "sni %s" % self.sni
            return self.sni[:-len(SNI_SUFFIX)], "sni"
        while b"\n" not in self.buf:
            if len(self.buf) > 4096 or not self.recv_some(10.0):
                raise Gone("no selector line")
        line, _, self.buf = self.buf.partition(b"\n")
        words = line.decode("latin-1").strip().split()
        if len(words) != 2 or words[0] != "HOSTILE" or words[1] not in SCENARIOS:
            self.send(b"ERR unknown scenario\r\n")
            return None, "line"
        self.start_checking()
        self.send(b"OK " + words[1].encode() + b"\r\n")
        self.read_client_hello()
        return words[1], "line"

    def read_client_hello(self):
        hs = b""
        raw = b""
        while len(hs) < 4 or len(hs) < 4 + int.from_bytes(hs[1:4], "big"):
            rec = self.read_record()
            if rec is None:
                raise Gone("eof before the ClientHello")
            if rec[0] != 22:
                raise Gone("not a handshake record: %d" % rec[0])
            raw += rec
            hs += rec[5:]
        if hs[0] != 1:
            raise Gone("not a ClientHello")
        self.client_hello = raw
        self.client_random, self.sni = parse_client_hello(hs[4:])

    # a real TLS session (OpenSSL through Python's ssl, memory BIOs)

    def context(self, cert="hostile", max_version=None):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(self.args.workdir, cert + ".pem"),
                            os.path.join(self.args.workdir, cert + ".key"))
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if max_version:
            ctx.maximum_version = max_version
        ctx.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384")
        ctx.num_tickets = 0
        ctx.keylog_filename = self.keylog
        return ctx

    def server_flight(self, ctx):
        """Starts the server side: (SSLObject, in BIO, out BIO, the first flight's bytes)."""
        inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = ctx.wrap_bio(inc, out, server_side=True)
        inc.write(self.client_hello)
        try:
            tls.do_handshake()
        except ssl.SSLWantReadError:
            pass
        flight = out.read()
        for ctype, payload in split_records(flight):
            if ctype == 22 and payload[0] == 2:
                self.server_random, self.suite, self.tls13 = parse_server_hello(payload[4:])
                break
        return tls, inc, out, flight

    def finish_handshake(self, tls, inc, out, flight):
        """Sends the flight and completes the handshake, feeding one client record at a time
        (so that nothing after the client's Finished reaches OpenSSL). False if the client
        gave up (its alert or EOF)."""
        self.send(flight)
        while True:
            try:
                tls.do_handshake()
                self.send(out.read())
                return True
            except ssl.SSLWantReadError:
                self.send(out.read())
            except ssl.SSLError as e:
                self.send(out.read())
                self.log("HANDSHAKE-FAIL", (e.reason or "SSL_ERROR").replace(" ", "_"))
                return False
            rec = self.read_record()
            if rec is None:
                self.log("HANDSHAKE-FAIL", "EOF")
                return False
            inc.write(rec)

    def take_over(self, tls):
        """Our own record layer for both directions, from OpenSSL's key log."""
        secrets = read_keylog(self.keylog, self.client_random)
        if self.tls13:
            self.out = Protector.tls13_from_secret(self.suite, secrets["SERVER_TRAFFIC_SECRET_0"])
            self.inn = Protector.tls13_from_secret(self.suite, secrets["CLIENT_TRAFFIC_SECRET_0"])
        else:
            _, klen, h = SUITES[self.suite]
            kb = tls12_prf(secrets["CLIENT_RANDOM"], b"key expansion",
                           self.server_random + self.client_random, 2 * klen + 8, h)
            ck, sk, civ, siv = kb[:klen], kb[klen:2 * klen], kb[2 * klen:2 * klen + 4], \
                kb[2 * klen + 4:]
            # The Finished messages were sequence number 0 in each direction.
            self.out = Protector(False, self.suite, sk, siv, 1)
            self.inn = Protector(False, self.suite, ck, civ, 1)
        self.log("TLS", tls.version(), tls.cipher()[0])

    def established(self, name, cert="hostile"):
        tls, inc, out, flight = self.server_flight(self.context(cert))
        if not self.finish_handshake(tls, inc, out, flight):
            return False
        self.take_over(tls)
        self.send(self.out.seal(23, b"HELLO " + name.encode() + b"\r\n"))
        return True

    def handshake_key(self):
        secret = read_keylog(self.keylog, self.client_random)["SERVER_HANDSHAKE_TRAFFIC_SECRET"]
        return Protector.tls13_from_secret(self.suite, secret)

    def rewrite_flight(self, flight, change, frag=16384):
        """The server's first flight with its handshake messages passed through change(list),
        in records of `frag` bytes of handshake data."""
        recs = split_records(flight)
        if self.tls13:
            hello = [r for r in recs if r[0] in (20, 22)]
            key = self.handshake_key()
            hs = b"".join(key.open(23, body)[1] for ctype, body in recs if ctype == 23)
            msgs = change(split_handshake(hs))
            data = b"".join(handshake_msg(t, b) if c is None else handshake_msg(t, b, c)
                            for t, b, c in msgs)
            key = self.handshake_key()
            out = b"".join(record(t, p) for t, p in hello)
            for i in range(0, len(data), frag):
                out += key.seal(22, data[i:i + frag])
            return out
        hs = b"".join(p for t, p in recs if t == 22)
        msgs = change(split_handshake(hs))
        data = b"".join(handshake_msg(t, b) if c is None else handshake_msg(t, b, c)
                        for t, b, c in msgs)
        return b"".join(record(22, data[i:i + frag]) for i in range(0, len(data), frag))

    # the scenarios

    def run(self):
        self.log("ACCEPT")
        name, how = self.select()
        if name is None:
            self.log("ERROR", "no scenario (%s)" % how)
            return "no-scenario"
        self.log("SCENARIO", name, how)
        return getattr(self, "s_" + name.replace("-", "_"))(name)

    def drain(self, why):
        """Reads (and checks) what the client sends until it closes."""
        deadline = time.monotonic() + self.args.idle
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return why + "-idle"
            try:
                if not self.recv_some(left):
                    return why + "-client-closed"
            except Gone as e:
                return why + "-" + str(e)
            self.buf = b""

    def s_garbage_random(self, name):
        rnd = random.Random(7)
        junk = bytearray(rnd.randbytes(4096))
        junk[0] = 0x9C  # no content type
        self.send(bytes(junk))
        return self.drain(name)

    def s_garbage_http(self, name):
        body = b"<html><body><h1>400 Bad Request</h1>The plain HTTP request was sent to HTTPS " \
            b"port</body></html>\r\n"
        self.send(b"HTTP/1.1 400 Bad Request\r\nServer: nginx\r\nContent-Type: text/html\r\n"
                  b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
        self.fin()
        return self.drain(name)

    def s_garbage_record(self, name):
        self.send(record(22, random.Random(8).randbytes(64)))
        return self.drain(name)

    def s_alert_hs(self, name):
        self.send(record(21, b"\x02\x28"))
        return self.drain(name)

    def s_stall(self, name):
        return self.drain(name)

    def s_drip_hs(self, name):
        _, _, _, flight = self.server_flight(self.context())
        for i in range(len(flight)):
            self.send(flight[i:i + 1])
            time.sleep(0.05)
            if self.client_gone():
                return name + "-client-closed"
        return self.drain(name)

    def client_gone(self):
        """Whether the client has closed (or sent something), without blocking."""
        try:
            self.sock.setblocking(False)
            d = self.sock.recv(65536)
        except BlockingIOError:
            return False
        except OSError:
            return True
        finally:
            self.sock.setblocking(True)
        if not d:
            self.eof = True
            return True
        self.checked_bytes += len(d)
        self.checker.check(d)
        return False

    def s_eof_hs(self, name):
        _, _, _, flight = self.server_flight(self.context())
        self.send(flight[:len(flight) // 2])
        self.fin()
        return self.drain(name)

    def s_reset_hs(self, name):
        _, _, _, flight = self.server_flight(self.context())
        self.send(flight[:len(flight) // 2])
        time.sleep(0.1)
        self.rst()
        return name + "-rst"

    def s_oversize_hs(self, name, frag=16384 + 257):
        # The real flight of the 100-certificate chain (about 45 KiB of handshake messages),
        # framed in records of `frag` bytes (TLS 1.3: each re-encrypted).
        tls, inc, out, flight = self.server_flight(self.context("chain100"))
        flight = self.rewrite_flight(flight, lambda msgs: [(t, b, None) for t, b in msgs], frag)
        if self.finish_handshake(tls, inc, out, flight):  # a client that took it
            self.take_over(tls)
            self.send(self.out.seal(23, b"HELLO " + name.encode() + b"\r\n"))
            self.send(self.out.seal(21, b"\x01\x00"))
            self.fin()
        return self.drain(name)

    def s_oversize_hs_wire(self, name):
        return self.s_oversize_hs(name, 16384 + 2048 + 1)

    def s_oversize_hs_max(self, name):
        self.send(record(22, handshake_msg(2, bytes(65535 - 4))))
        return self.drain(name)

    def s_cert_chain_100(self, name):
        if self.established(name, "chain100"):
            self.send(self.out.seal(21, b"\x01\x00"))  # close_notify
            self.fin()
        return self.drain(name)

    def s_cert_1mib(self, name):
        if self.established(name, "big"):
            self.send(self.out.seal(21, b"\x01\x00"))
            self.fin()
        return self.drain(name)

    def s_cert_huge_length(self, name):
        def change(msgs):
            out = []
            for t, b in msgs:
                if t == 11:
                    out.append((11, (b + bytes(32768))[:32768], (1 << 24) - 1))
                    break
                out.append((t, b, None))
            return out
        _, _, _, flight = self.server_flight(self.context())
        self.send(self.rewrite_flight(flight, change))
        return self.drain(name)

    def s_cert_list_overflow(self, name):
        def change(msgs):
            out = []
            for t, b in msgs:
                if t == 11:
                    # TLS 1.3: request context <0..255>, then the list's 24-bit length.
                    at = 1 + b[0] if self.tls13 else 0
                    b = b[:at] + b"\xff\xff\xff" + b[at + 3:]
                out.append((t, b, None))
            return out
        _, _, _, flight = self.server_flight(self.context())
        self.send(self.rewrite_flight(flight, change))
        return self.drain(name)

    # after a real handshake

    def data_line(self):
        return self.out.seal(23, b"DATA line 1\r\n")

    def await_go(self):
        """Waits for the client's `GO` record (sent once it has read the DATA line), so that what
        follows reaches a client that has taken everything before it. False if it never came."""
        try:
            rec = self.read_record(timeout=5.0)
        except Gone:
            return False
        if rec is None:
            return False
        try:
            ctype, plain = self.inn.open(rec[0], rec[5:])
        except Exception:  # not a record of this session
            self.log("ERROR", "undecryptable record from the client instead of GO")
            return False
        if ctype != 23 or plain != b"GO\r\n":
            self.log("ERROR", "expected GO, got type %d %r" % (ctype, plain[:40]))
            return False
        return True

    def after_go(self, name, data):
        """DATA line, the client's GO, then `data`; the server goes on reading."""
        if self.established(name):
            self.send(self.data_line())
            if self.await_go():
                self.send(data)
        return self.drain(name)

    def s_close_notify(self, name):
        if self.established(name):
            self.send(self.data_line() + self.out.seal(21, b"\x01\x00"))
            self.fin()
        return self.drain(name)

    def s_truncate(self, name):
        if self.established(name):
            self.send(self.data_line())
            if self.await_go():
                self.fin()
        return self.drain(name)

    def s_truncate_mid_record(self, name):
        if self.established(name):
            self.send(self.data_line())
            if self.await_go():
                rec = self.out.seal(23, b"DATA line 2, never whole\r\n")
                self.send(rec[:len(rec) // 2])
                self.fin()
        return self.drain(name)

    def s_truncate_mid_header(self, name):
        if self.established(name):
            self.send(self.data_line())
            if self.await_go():
                self.send(b"\x17\x03\x03")
                self.fin()
        return self.drain(name)

    def s_alert_fatal(self, name):
        if self.established(name):
            self.send(self.data_line())
            if self.await_go():
                self.send(self.out.seal(21, b"\x02\x50"))  # fatal internal_error
        return self.drain(name)

    def s_alert_fatal_same_write(self, name):
        if self.established(name):
            self.send(self.data_line() + self.out.seal(21, b"\x02\x50"))
        return self.drain(name)

    def s_alert_plaintext(self, name):
        if self.established(name):
            self.send(self.data_line())
            if self.await_go():
                self.send(record(21, b"\x02\x50"))
        return self.drain(name)

    def s_oversize_app(self, name):
        if self.established(name):
            self.send(self.data_line())
            if self.await_go():
                self.send(self.out.seal(23, b"x" * (16384 + 1)))
        return self.drain(name)

    def s_oversize_app_header(self, name):
        if self.established(name):
            self.send(self.data_line())
            if self.await_go():
                self.send(b"\x17\x03\x03\xff\xff" + bytes(65535))
        return self.drain(name)

    def s_drip_app(self, name):
        if self.established(name):
            self.send(self.data_line())
            if not self.await_go():
                return self.drain(name)
            rec = self.out.seal(23, b"d" * 16384)
            for i in range(len(rec)):
                self.send(rec[i:i + 1])
                time.sleep(0.05)
                if self.client_gone():
                    return name + "-client-closed"
        return self.drain(name)

    def s_flood_tickets(self, name):
        # TLS 1.3 only (with TLS 1.2 the server just stops): NewSessionTicket messages, 190 to a
        # record (about 16 KiB: cheap to seal, dear to take in), as fast as the client takes
        # them, for 15 s (or until the client is gone): a stream of valid records that never carry
        # application data. Long enough that a client ignoring SO_RCVTIMEO is told from a slow one.
        if not self.established(name):
            return self.drain(name)
        self.send(self.data_line())
        if not self.await_go() or not self.tls13:
            return self.drain(name)
        deadline = time.monotonic() + 15.0
        n = 0
        while time.monotonic() < deadline:
            msgs = b""
            for _ in range(190):
                n += 1
                body = struct.pack(">II", 7200, n) + b"\x01" + bytes([n & 0xFF]) + \
                    struct.pack(">H", 64) + n.to_bytes(64, "big") + b"\x00\x00"
                msgs += handshake_msg(4, body)
            self.send(self.out.seal(22, msgs))
            if self.client_gone():
                self.log("FLOOD", "%d tickets" % n)
                return name + "-client-closed"
        self.log("FLOOD", "%d tickets" % n)
        return self.drain(name)

    def s_reset_mid_record(self, name):
        if self.established(name):
            self.send(self.data_line())
            if self.await_go():
                rec = self.out.seal(23, b"DATA line 2, never whole\r\n")
                self.send(rec[:len(rec) // 2])
                time.sleep(0.05)
                self.rst()
                return name + "-rst"
        return self.drain(name)

    def reneg(self, name, count):
        if not self.established(name):
            return self.drain(name)
        self.send(self.data_line())
        if not self.await_go():
            return self.drain(name)
        self.send(b"".join(self.out.seal(22, b"\x00\x00\x00\x00") for _ in range(count)))
        answer = "nothing"
        try:
            rec = self.read_record(timeout=1.0)
        except Gone as e:
            rec, answer = None, "nothing" if str(e) == "idle" else "reset"
        if rec is not None:
            try:
                ctype, plain = self.inn.open(rec[0], rec[5:])
            except Exception:  # a record we cannot open
                ctype, plain = -1, b""
            if ctype == 21 and len(plain) == 2:
                answer = "alert-%d-%d" % (plain[0], plain[1])
            elif ctype == 22 and plain[:1] == b"\x01":
                answer = "clienthello"
            elif ctype == 23:
                answer = "data"
            else:
                answer = "record-%d" % ctype
        elif self.eof:
            answer = "eof"
        self.log("RENEG-ANSWER", answer)
        try:
            self.send(self.out.seal(23, b"RENEG " + answer.encode() + b"\r\n") +
                      self.out.seal(23, b"DATA after\r\n") + self.out.seal(21, b"\x01\x00"))
            self.fin()
        except Gone:
            pass
        return self.drain(name)

    def s_reneg(self, name):
        return self.reneg(name, 1)

    def s_reneg_twice(self, name):
        return self.reneg(name, 2)


def handle(sock, addr, args, logger):
    peer = "%s:%d" % addr[:2]
    c = Conn(sock, peer, args, logger)
    how, leak = "?", "no"
    try:
        how = c.run()
    except Leak as e:
        c.log("PLAINTEXT-LEAK", e.args[0])
        how, leak = "leak", "yes"
    except Gone as e:
        how = "gone-" + str(e).replace(" ", "_")
    except Exception as e:  # never kill the server for one connection
        c.log("ERROR", "%s: %s" % (type(e).__name__, str(e).replace("\n", " ")))
        how = "error"
    finally:
        try:
            sock.close()
        except OSError:
            pass
        try:
            os.unlink(c.keylog)
        except OSError:
            pass
    c.log("END", how, "leak=" + leak, "bytes=%d" % c.checked_bytes)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--pki", required=True, help="folder with ca.pem and ca.key (mkcerts.py)")
    ap.add_argument("--log")
    ap.add_argument("--idle", type=float, default=20.0, help="seconds a silent client is kept")
    args = ap.parse_args()
    logger = Logger(args.log)
    args.workdir = tempfile.mkdtemp(prefix="hostile-server.")
    try:
        make_certificates(args.pki, args.workdir)
        lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsock.bind(("127.0.0.1", args.port))
        lsock.listen(128)
        port = lsock.getsockname()[1]
        if args.port_file:
            tmp = args.port_file + ".tmp"
            with open(tmp, "w") as f:
                f.write("%d\n" % port)
            os.replace(tmp, args.port_file)
        sys.stdout.write("PORT %d\n" % port)
        sys.stdout.flush()
        logger.log("LISTEN", "127.0.0.1:%d" % port)
        while True:
            try:
                sock, addr = lsock.accept()
            except InterruptedError:
                continue
            except OSError as e:
                logger.log("ERROR", "-", "accept: %s" % e)
                time.sleep(0.05)
                continue
            threading.Thread(target=handle, args=(sock, addr, args, logger), daemon=True).start()
    finally:
        shutil.rmtree(args.workdir, ignore_errors=True)


if __name__ == "__main__":
    import signal
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        main()
    except KeyboardInterrupt:
        pass
