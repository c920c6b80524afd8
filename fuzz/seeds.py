#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (fuzz/corpus/<target>/), hand-made valid inputs in each
target's byte format (see the comment at the top of each fuzz_targets/*.rs). Run from anywhere:

    python3 fuzz/seeds.py

The files are committed; rerun after changing a target's format. Inputs the fuzzer finds go to
fuzz/target/corpus/<target>/ (not committed); crashes to fuzz/artifacts/<target>/.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def u16(v):
    return struct.pack("<H", v)


def u32(v):
    return struct.pack("<I", v)


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(bytes(data))


# ---- ioctl: kind | calls of sel [u32] | ptrs | in_len u16 | in | out_len u16 ----
CODE = {name: i for i, name in enumerate(
    "GET_CAPABILITIES SET_FLAGS GET_FLAGS SET_PROTOCOLS GET_PROTOCOLS SET_CIPHERS GET_CIPHERS "
    "SET_CLIENT_OPTS GET_CLIENT_OPTS SET_SERVER_OPTS GET_SERVER_OPTS SET_CLIENT_AUTH_OPTS "
    "GET_CLIENT_AUTH_OPTS SET_VALIDATE_CERT_HOOK GET_VALIDATE_CERT_HOOK SET_AUTH_REQUEST_HOOK "
    "GET_AUTH_REQUEST_HOOK SET_KEY_EXCH_HOOK GET_KEY_EXCH_HOOK SET_SIGNATURE_HOOK GET_SIGNATURE_HOOK "
    "PERFORM_HANDSHAKE GET_CONNECTION_INFO SET_PEERNAME SET_PEERNAME_IN _SO_SSL FIONBIO FIONREAD".split())}


def ioctl_call(code, data=b"", out=0, ptrs=0, raw=None):
    head = bytes([0xC0]) + u32(raw) if raw is not None else bytes([CODE[code]])
    return head + bytes([ptrs]) + u16(len(data)) + data + u16(out)


def protocols(*values):
    return u32(len(values)) + b"".join(u32(v) + u32(0) + u32(0) for v in values)


write("ioctl", "get-capabilities", [0] + list(ioctl_call("GET_CAPABILITIES", out=4)))
write("ioctl", "flags-roundtrip", b"\x00" + ioctl_call("SET_FLAGS", u32(8)) + ioctl_call("GET_FLAGS", out=4))
write("ioctl", "protocols-roundtrip", b"\x00" + ioctl_call("SET_PROTOCOLS", protocols(0x0304))
      + ioctl_call("GET_PROTOCOLS", out=16) + ioctl_call("SET_PROTOCOLS", protocols(3, 4))
      + ioctl_call("GET_PROTOCOLS", out=15))
write("ioctl", "hook-roundtrip", b"\x00" + ioctl_call("SET_VALIDATE_CERT_HOOK", bytes(8) + u32(7) + u32(0), ptrs=64)
      + ioctl_call("GET_VALIDATE_CERT_HOOK", out=16) + ioctl_call("GET_VALIDATE_CERT_HOOK", out=8))
write("ioctl", "peername-shapes", b"\x01" + ioctl_call("SET_PEERNAME", b"localhost\0")
      + ioctl_call("SET_PEERNAME_IN", b"localhost") + ioctl_call("PERFORM_HANDSHAKE"))
write("ioctl", "client-opts", b"\x00" + ioctl_call("SET_CLIENT_OPTS", u32(0) + u32(1000))
      + ioctl_call("GET_CLIENT_OPTS", out=8) + ioctl_call("GET_CONNECTION_INFO", out=28))
write("ioctl", "null-pointers", b"\x00" + ioctl_call("GET_FLAGS", out=4, ptrs=2 | 4)
      + ioctl_call("SET_FLAGS", ptrs=1 | 32) + ioctl_call("GET_CIPHERS", out=64, ptrs=8))
write("ioctl", "plain-socket", b"\x02" + ioctl_call("GET_FLAGS", out=4) + ioctl_call("FIONREAD", out=8)
      + ioctl_call("FIONBIO", u32(1)))
write("ioctl", "not-a-socket", b"\x03" + ioctl_call("GET_CAPABILITIES", out=4) + ioctl_call("FIONBIO", u32(0)))
write("ioctl", "unknown-code", b"\x00" + ioctl_call(None, raw=0x9073007F, out=4)
      + ioctl_call(None, raw=0x12345678) + ioctl_call("_SO_SSL"))

# ---- sockopt: kind | op level name flags len bytes ----
LEVEL = {"SOL_SOCKET": 0, "WINSOCK": 1, "TCP": 2, "IP": 3, "IPV6": 4}
NAME = {n: i for i, n in enumerate(
    "SO_SECURE SO_RCVTIMEO SO_SNDTIMEO SO_KEEPALIVE SO_RCVBUF SO_SNDBUF SO_LINGER TCP_NODELAY "
    "SO_ERROR SO_TYPE SO_REUSEADDR".split())}


def opt(get, level, name, value=b"", flags=0, length=None):
    n = len(value) if length is None else length
    return bytes([1 if get else 0, LEVEL[level], NAME[name], flags, n]) + value


write("sockopt", "secure-roundtrip", b"\x00" + opt(0, "SOL_SOCKET", "SO_SECURE", u32(0x2004))
      + opt(1, "WINSOCK", "SO_SECURE", bytes(4)) + opt(0, "WINSOCK", "SO_SECURE", u32(0x2002))
      + opt(1, "SOL_SOCKET", "SO_SECURE", bytes(4)))
write("sockopt", "secure-faults", b"\x01" + opt(0, "SOL_SOCKET", "SO_SECURE", u32(0x2004)[:2])
      + opt(1, "SOL_SOCKET", "SO_SECURE", bytes(2)) + opt(0, "SOL_SOCKET", "SO_SECURE", u32(0x2004), flags=1)
      + opt(0, "SOL_SOCKET", "SO_SECURE", u32(0x1234)))
write("sockopt", "timeouts-dword", b"\x01" + opt(0, "SOL_SOCKET", "SO_RCVTIMEO", u32(250))
      + opt(1, "SOL_SOCKET", "SO_RCVTIMEO", bytes(4)) + opt(0, "SOL_SOCKET", "SO_SNDTIMEO", u32(1500))
      + opt(1, "SOL_SOCKET", "SO_SNDTIMEO", bytes(16)))
write("sockopt", "timeouts-timeval", b"\x00" + opt(0, "SOL_SOCKET", "SO_RCVTIMEO", struct.pack("<qq", 2, 500000))
      + opt(1, "SOL_SOCKET", "SO_RCVTIMEO", bytes(4)) + opt(1, "SOL_SOCKET", "SO_RCVTIMEO", bytes(16)))
write("sockopt", "timeouts-huge", b"\x00" + opt(0, "SOL_SOCKET", "SO_SNDTIMEO", struct.pack("<qq", 1 << 55, 0))
      + opt(1, "SOL_SOCKET", "SO_SNDTIMEO", bytes(4)))
write("sockopt", "ce-options", b"\x01" + opt(0, "SOL_SOCKET", "SO_KEEPALIVE", u32(1))
      + opt(0, "TCP", "TCP_NODELAY", u32(1)) + opt(0, "SOL_SOCKET", "SO_RCVBUF", u32(65536))
      + opt(1, "SOL_SOCKET", "SO_RCVBUF", bytes(4)) + opt(0, "SOL_SOCKET", "SO_LINGER", u32(1) + u32(0)))
write("sockopt", "udp-secure", b"\x02" + opt(0, "SOL_SOCKET", "SO_SECURE", u32(0x2004))
      + opt(1, "SOL_SOCKET", "SO_SECURE", bytes(4)))
write("sockopt", "pipe", b"\x05" + opt(0, "SOL_SOCKET", "SO_SECURE", u32(0x2004))
      + opt(1, "SOL_SOCKET", "SO_SECURE", bytes(4)) + opt(1, "SOL_SOCKET", "SO_RCVTIMEO", bytes(4)))

# ---- names: shape | adjust | name (also the SSLPROTOCOLS buffer) ----
for i, (shape, name) in enumerate([
        (1, b"localhost"), (0, b"localhost"), (2, b"localhost"), (5, b""), (4, b""), (6, b"x"),
        (7, b"mail.example.com"), (1, b"127.0.0.1"), (0, b"::1"), (1, b"mail.example.com."),
        (0, b"bad name!"), (1, b"\xff\xfe"), (0, b"localhost\0trailing")]):
    write("names", "name-%02d" % i, bytes([shape, 0]) + name)
write("names", "protocols-tls1", bytes([0, 0]) + protocols(4))
write("names", "protocols-two", bytes([0, 0]) + protocols(0x0303, 0x0304))
write("names", "protocols-short", bytes([0, 4 * 4 + 1]) + protocols(4))
write("names", "protocols-count-huge", bytes([0, 0]) + u32(0xFFFFFFFF) + u32(4))
write("names", "protocols-made", bytes([0, 3, 0, 0, 1, 2, 3, 4, 5]))

# ---- sequence: opcodes and arguments (fuzz_targets/sequence.rs, `step`) ----
SOCKET, SECURE, FLAGS, PEERNAME, HANDSHAKE, PROTOCOLS, HOOK, GET, CONNECT, FIONBIO, FIONREAD, SEND, \
    RECV, SHUTDOWN, CLOSE, TIMEOUT, POLL, SELECT, SLEEP, DUP, GETOPT, LINGER, TARGET, CLIENTOPTS = range(24)
PEER = {n: i for i, n in enumerate(
    "echo close garbage silent tls tls12 tls13 tls_no_notify tls_truncate refused unspec badlen null other".split())}
GETS = {n: i for i, n in enumerate("caps flags protocols hook info clientopts ciphers unknown".split())}


def secure_socket(nonblocking=False, timeout=170):
    if nonblocking:
        return bytes([SOCKET, 1, timeout, SECURE, 0])
    return bytes([SOCKET, 5, timeout])


def connect(peer, garbage=b""):
    if peer == "garbage":
        return bytes([CONNECT, PEER[peer], len(garbage)]) + garbage
    return bytes([CONNECT, PEER[peer]])


def send(units):  # units * 257 bytes
    return bytes([SEND, units, 0, 0])


def recv(units, how=0):  # units * 129 bytes
    return bytes([RECV, units, 0, how])


seq = {
    "immediate-hook-echo": secure_socket() + bytes([HOOK, 1]) + connect("tls") + send(1) + recv(2)
    + bytes([GET, GETS["info"], 28, GET, GETS["protocols"], 16]) + bytes([SHUTDOWN, 1]) + recv(4) + bytes([CLOSE, 0]),
    "immediate-trusted-name": secure_socket() + bytes([PEERNAME, 1, 0]) + connect("tls") + send(4) + recv(8)
    + bytes([CLOSE, 1]),
    "deferred-starttls": secure_socket() + bytes([FLAGS, 1, HOOK, 5]) + connect("tls") + send(1)
    + bytes([SLEEP, 20]) + recv(2) + bytes([HANDSHAKE, 1, 0]) + send(2) + recv(5) + bytes([GET, GETS["info"], 28]),
    "deferred-null-name": secure_socket() + bytes([FLAGS, 1, PEERNAME, 0, 1]) + connect("tls")
    + bytes([HANDSHAKE, 5, 0]) + send(1) + recv(2),
    "reject-hook": secure_socket() + bytes([HOOK, 2]) + connect("tls") + send(1) + recv(1),
    "reentrant-hook": secure_socket() + bytes([HOOK, 3]) + connect("tls") + send(1) + recv(2),
    "close-in-hook": secure_socket() + bytes([HOOK, 4]) + connect("tls") + send(1) + recv(1),
    "wrong-name": secure_socket() + bytes([PEERNAME, 1, 2]) + connect("tls") + recv(1),
    "nonblocking": secure_socket(nonblocking=True) + bytes([HOOK, 1]) + connect("tls")
    + bytes([POLL, 1, 30]) + connect("tls") + bytes([POLL, 0, 30]) + send(1) + bytes([SLEEP, 10]) + recv(2)
    + bytes([FIONREAD, 0]) + recv(2) + bytes([CLOSE, 0]),
    "fionbio": secure_socket() + bytes([HOOK, 1, FIONBIO, 3]) + connect("tls") + bytes([SELECT, 3, 30])
    + bytes([FIONBIO, 0]) + connect("tls") + send(1) + bytes([SELECT, 1, 30, FIONREAD, 1]) + recv(1),
    "silent-peer": secure_socket(timeout=40) + connect("silent") + send(1) + recv(1),
    "silent-deferred": secure_socket(timeout=40) + bytes([FLAGS, 1]) + connect("silent") + recv(1)
    + bytes([HANDSHAKE, 4, 3]),
    "garbage-peer": secure_socket() + connect("garbage", b"HTTP/1.0 200 OK\r\n\r\n") + recv(1),
    "garbage-alert": secure_socket() + connect("garbage", bytes([0x15, 3, 3, 0, 2, 2, 40])) + recv(1),
    "close-peer": secure_socket() + connect("close") + send(1) + recv(1),
    "echo-peer-tls": secure_socket() + connect("echo") + recv(1),
    "protocol-mismatch": secure_socket() + bytes([PROTOCOLS, 2, HOOK, 1]) + connect("tls12") + recv(1),
    "tls12": secure_socket() + bytes([PROTOCOLS, 1, HOOK, 1]) + connect("tls12") + send(1) + recv(2)
    + bytes([GET, GETS["info"], 28]),
    "tls13-only": secure_socket() + bytes([HOOK, 1]) + connect("tls13") + send(1) + recv(2),
    "no-close-notify": secure_socket() + bytes([HOOK, 1]) + connect("tls_no_notify") + send(1) + recv(2)
    + recv(2) + recv(2),
    "truncated": secure_socket() + bytes([HOOK, 1]) + connect("tls_truncate") + send(1) + recv(2) + recv(2),
    "refused": secure_socket() + connect("refused") + connect("tls") + send(1),
    "bad-addresses": secure_socket() + connect("null") + bytes([CONNECT, PEER["badlen"] + 14 * 3])
    + connect("other") + connect("unspec"),
    "dup": secure_socket() + bytes([HOOK, 1]) + connect("tls") + bytes([DUP, 1]) + send(1) + recv(2)
    + bytes([DUP, 0, TARGET, 0]) + bytes([CLOSE, 0, TARGET, 0]) + send(1) + recv(2),
    "plain-socket": bytes([SOCKET, 0, 100]) + connect("echo") + send(1) + recv(2) + bytes([SECURE, 0])
    + bytes([SHUTDOWN, 2]),
    "secure-off": secure_socket() + bytes([SECURE, 1, HOOK, 1, SECURE, 0]) + connect("tls") + bytes([SECURE, 1]),
    "after-close": secure_socket() + bytes([CLOSE, 0]) + send(1) + recv(1) + bytes([GET, GETS["flags"], 4])
    + bytes([SHUTDOWN, 1, SELECT, 1, 0, POLL, 0, 0]),
    "linger-reset": secure_socket() + bytes([HOOK, 1, LINGER]) + connect("tls") + send(1) + bytes([CLOSE, 0]),
    "timeouts-and-opts": secure_socket() + bytes([TIMEOUT, 0, 50, TIMEOUT, 3, 50, GETOPT, 0, GETOPT, 2])
    + bytes([CLIENTOPTS, 0, 0, HOOK, 6]) + connect("tls") + bytes([GETOPT, 1]),
    "udp-and-unix": bytes([SOCKET, 3, 100, SECURE, 0]) + connect("echo") + bytes([SOCKET, 4, 100, SECURE, 0])
    + connect("echo") + bytes([SOCKET, 2, 100, SECURE, 0, HOOK, 1]) + connect("tls") + send(1) + recv(2),
    "shutdown-then-handshake": secure_socket() + bytes([FLAGS, 1]) + connect("tls") + bytes([SHUTDOWN, 0])
    + bytes([HANDSHAKE, 1, 0]) + recv(1) + send(1),
    "waitall-peek": secure_socket() + bytes([HOOK, 1]) + connect("tls") + send(2) + recv(1, 1) + recv(3, 2)
    + recv(1, 5),
}
for name, data in seq.items():
    write("sequence", name, data)


# ---- crack: mode (even: raw bytes | odd: rcgen-made certificate) ----
# Mode 1: cn_len, o_len, serial_len - 1, year offset u16, years - 1, cut u16, cn, o, serial.
FIXED_DER = open(os.path.join(HERE, "..", "tests", "data", "crack-fixed.der"), "rb").read()
write("crack", "fixed-der", b"\x00" + FIXED_DER)
write("crack", "truncated-der", b"\x02" + FIXED_DER[:200])
write("crack", "made-17-byte-serial", b"\x01\x05\x07\x10" + struct.pack("<H", 423) + b"\x00"
      + struct.pack("<H", 144) + b"helloworldexa" + bytes(range(1, 18)))
write("crack", "made-short", b"\x03\x01\x01\x00" + struct.pack("<H", 0xffff) + b"\x00\x00\x00aab")
