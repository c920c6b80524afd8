#!/usr/bin/env python3
"""The STARTTLS-style test server of docs/testing.md (Python's ssl, MemoryBIO).

    python3 tests/servers/starttls_server.py --port 0 --cert good.pem --key good.key \
        --log starttls.log [--port-file FILE] [--tls-min 1.2] [--tls-max 1.3]

Listens on 127.0.0.1 only. Prints `PORT <n>` on stdout once it accepts (and writes
<n> to --port-file when given). One thread per connection.

Plaintext phase (lines end in CRLF; a bare LF is accepted too):
  the greeting `220 sslsock-test ready` is sent unless the client speaks first
  (sends anything within --greet-wait seconds of connecting: an "early talker"
  such as a TLS ClientHello, a SOCKS4 request or a proxy CONNECT gets no greeting);
  EHLO x / HELO x   -> 250 STARTTLS
  STARTTLS          -> 220 go ahead, then TLS
  CONNECT h:p HTTP/1.x + header lines up to a blank line
                    -> HTTP/1.1 200 Connection established + blank line, then TLS
  first byte 0x04 (SOCKS4 / 4a CONNECT request)
                    -> 8-byte grant 00 5A port ip, then TLS
  AUTH SSL          -> AUTH OK, then TLS
  TLS               -> TLS at once, no answer
  first byte 0x16   -> TLS at once (the byte is the start of the ClientHello)
  NOOP              -> 250 OK;  QUIT -> 221 bye, close;  anything else -> 500 unknown command
Over TLS:
  ECHO text -> text;  BIG n -> n pattern bytes + "\r\nEND\r\n";  SUM n + n raw bytes ->
  sha256 hex;  INFO -> "<version> <cipher>";  QUIT -> BYE, close_notify, close;
  STREAM -> "STREAM OK", then every byte received is echoed verbatim until the client
            closes (close_notify is answered with ours);
  STALL  -> "STALL OK", then nothing is read or written any more until the client
            closes TCP (seen without reading, POLLRDHUP) or --idle seconds pass:
            the client can fill the pipe (no leak check on what it sends then);
  SLOW n ms -> ONE TLS record of n pattern bytes (1 <= n <= 16384, no CRLF), its
            ciphertext written to TCP in SLOW_PIECES pieces with ms milliseconds
            (0..5000) between pieces (TCP_NODELAY);
  anything else -> ERR unknown command
--smtp (the SMTP examples, examples/smtp_starttls.c): EHLO answers with a multi-line SMTP reply in
  both phases (`250-sslsock-test` ... `250 STARTTLS` in plaintext, `250-sslsock-test` `250 AUTH PLAIN`
  over TLS), and QUIT over TLS answers `221 bye` instead of BYE (then the same close).

Every byte received after the plaintext phase is checked to belong to a well-formed
TLS record (type 20-23, version 0x0301-0x0304, length <= 2^14 + 2048) before it is
given to TLS; otherwise `PLAINTEXT-LEAK <peer> <hex>` is logged and the connection
dropped. This check goes on after a failed handshake and after close_notify, until
the client closes (or stays idle for --idle seconds).

Log lines (one per event, first word the event):
  ACCEPT <peer> | MODE <peer> <how TLS was entered> | HANDSHAKE-OK <peer> <version> <cipher>
  HANDSHAKE-FAIL <peer> <reason> | CLOSE-NOTIFY <peer> <who> | PLAINTEXT-LEAK <peer> <hex>
  TIMEOUT <peer> <phase> | CLOSE <peer> <how> | ERROR <peer> <what>
  STREAM-END <peer> echoed <n> | STALL <peer> begin |
  SLOW <peer> <n> bytes <wire bytes> on the wire pieces of <size> every <ms> ms
"""

import argparse
import hashlib
import os
import select
import socket
import ssl
import sys
import threading
import time

PATTERN = bytes(((i * 7 + 3) & 0xFF) for i in range(256))
PATTERN_CHUNK = PATTERN * 256  # 64 KiB, a whole number of periods
MAX_RECORD = 16384 + 2048
MAX_LINE = 8192
MAX_SUM = 1 << 31
MAX_BIG = 1 << 34
SLOW_PIECES = 8          # SLOW n ms: the record's ciphertext goes out in this many pieces
SLOW_MAX_N = 16384       # one TLS record holds at most 2^14 bytes of plaintext
SLOW_MAX_MS = 5000


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


class PeerGone(Exception):
    """TCP end of stream or reset."""


class Idle(Exception):
    pass


class HandshakeEOF(Exception):
    """The client closed TCP before the handshake completed."""


class RecordChecker:
    """Follows the TLS record layer over raw bytes; raises Leak on anything else."""

    def __init__(self):
        self.hdr = b""
        self.body_left = 0

    def check(self, data):
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
            if not self.header_ok(hdr):
                raise Leak((prev + data[i:])[:48].hex())
            i += need
            if len(hdr) < 5:
                self.hdr = hdr  # a partial header, completed by the next read
                return
            self.hdr = b""
            self.body_left = int.from_bytes(hdr[3:5], "big")

    @staticmethod
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


class Conn:
    def __init__(self, sock, peer, args, ctx, logger):
        self.sock = sock
        self.peer = peer
        self.args = args
        self.ctx = ctx
        self.log = lambda *w: logger.log(w[0], peer, *w[1:])
        self.plainbuf = b""      # received in the plaintext phase, not yet consumed
        self.tlsbuf = b""        # decrypted, not yet consumed
        self.checker = RecordChecker()
        self.inc = ssl.MemoryBIO()
        self.out = ssl.MemoryBIO()
        self.tls = None
        self.eof = False         # TCP end of stream seen
        self.peer_notified = False  # client's close_notify seen

    # ---- raw socket -------------------------------------------------------

    def raw_recv(self, timeout=None):
        self.sock.settimeout(self.args.idle if timeout is None else timeout)
        try:
            d = self.sock.recv(65536)
        except socket.timeout:
            raise Idle()
        except (ConnectionResetError, BrokenPipeError, OSError) as e:
            self.eof = True
            raise PeerGone(type(e).__name__)
        if not d:
            self.eof = True
        return d

    def raw_send(self, data):
        if not data:
            return
        self.sock.settimeout(self.args.idle)
        try:
            self.sock.sendall(data)
        except socket.timeout:
            raise Idle()
        except OSError as e:
            raise PeerGone(type(e).__name__)

    # ---- plaintext phase --------------------------------------------------

    def plain_fill(self):
        d = self.raw_recv()
        if not d:
            raise PeerGone("eof")
        self.plainbuf += d

    def plain_line(self):
        while b"\n" not in self.plainbuf:
            if len(self.plainbuf) > MAX_LINE:
                raise PeerGone("line too long")
            self.plain_fill()
        line, _, self.plainbuf = self.plainbuf.partition(b"\n")
        return line.rstrip(b"\r").decode("latin-1")

    def plain_send(self, text):
        self.raw_send(text.encode("latin-1") + b"\r\n")

    # ---- TLS plumbing -----------------------------------------------------

    def feed(self, data):
        """Checks raw bytes of the TLS phase and gives them to TLS."""
        self.checker.check(data)
        self.inc.write(data)

    def flush(self):
        data = self.out.read()
        if data:
            self.raw_send(data)

    def pull(self):
        """Reads more ciphertext from the socket into TLS. False at TCP EOF."""
        self.flush()
        d = self.raw_recv()
        if not d:
            self.inc.write_eof()
            return False
        self.feed(d)
        return True

    def handshake(self, mode):
        self.log("MODE", mode)
        self.tls = self.ctx.wrap_bio(self.inc, self.out, server_side=True)
        leftover, self.plainbuf = self.plainbuf, b""
        if leftover:
            self.feed(leftover)
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                if not self.pull():
                    raise HandshakeEOF()
        self.flush()
        self.log("HANDSHAKE-OK", self.tls.version(), self.tls.cipher()[0])

    def tls_more(self):
        """Adds decrypted bytes to tlsbuf. False at the client's close_notify."""
        while True:
            try:
                d = self.tls.read(65536)
                if d:
                    self.tlsbuf += d
                    return True
                return False
            except ssl.SSLWantReadError:
                if not self.pull():
                    raise PeerGone("eof without close_notify")
            except ssl.SSLZeroReturnError:
                self.peer_notified = True
                return False
            finally:
                self.flush()

    def tls_line(self):
        while b"\n" not in self.tlsbuf:
            if len(self.tlsbuf) > MAX_LINE:
                raise PeerGone("line too long")
            if not self.tls_more():
                return None
        line, _, self.tlsbuf = self.tlsbuf.partition(b"\n")
        return line.rstrip(b"\r").decode("latin-1")

    def tls_send(self, data):
        view = memoryview(data)
        while view:
            n = self.tls.write(view[:65536])
            view = view[n:]
            self.flush()

    def tls_sendline(self, text):
        self.tls_send(text.encode("latin-1") + b"\r\n")

    def drain(self, timeout):
        """After TLS ended: keep checking what the client sends until it closes."""
        deadline = time.monotonic() + timeout
        while not self.eof:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                d = self.raw_recv(timeout=left)
            except (Idle, PeerGone):
                return
            if not d:
                return
            self.checker.check(d)
            if self.tls is not None:
                try:
                    self.inc.write(d)
                    self.tls.read(65536)
                except ssl.SSLZeroReturnError:
                    if not self.peer_notified:
                        self.peer_notified = True
                        self.log("CLOSE-NOTIFY", "client")
                except ssl.SSLError:
                    pass

    def close_notify(self):
        """Sends our close_notify (SSLObject.unwrap) without waiting for the client's."""
        try:
            self.tls.unwrap()
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLError:
            pass
        self.flush()

    # ---- the protocol ----------------------------------------------------

    def run(self):
        self.log("ACCEPT")
        # the greeting, unless the client talks first
        try:
            first = self.raw_recv(timeout=self.args.greet_wait)
        except Idle:
            first = None
        if first is None:
            self.plain_send("220 sslsock-test ready")
        elif not first:
            raise PeerGone("eof")
        else:
            self.plainbuf += first
        mode = self.plaintext_phase()
        if mode is None:
            return
        try:
            self.handshake(mode)
        except (ssl.SSLError, HandshakeEOF, PeerGone) as e:
            if isinstance(e, ssl.SSLError):
                reason, detail = (e.reason or "SSL_ERROR"), str(e)
            elif isinstance(e, HandshakeEOF):
                reason, detail = "EOF", "client closed TCP during the handshake"
            else:
                reason, detail = "RESET", "connection lost during the handshake"
            try:
                self.flush()  # our alert
            except (PeerGone, Idle):
                pass
            self.log("HANDSHAKE-FAIL", str(reason).replace(" ", "_"), "(" + detail + ")")
            self.drain(self.args.idle)
            self.log("CLOSE", "after-handshake-failure")
            return
        self.tls_phase()

    def plaintext_phase(self):
        """Returns how TLS is entered, or None when the connection ended."""
        while True:
            while not self.plainbuf:
                self.plain_fill()
            first = self.plainbuf[0]
            if first == 0x16:
                return "immediate"
            if first == 0x04:
                return self.socks4()
            line = self.plain_line()
            words = line.split(None, 1)
            cmd = words[0].upper() if words else ""
            if cmd in ("EHLO", "HELO") and self.args.smtp:
                self.plain_send("250-sslsock-test\r\n250-8BITMIME\r\n250 STARTTLS")
            elif cmd in ("EHLO", "HELO"):
                self.plain_send("250 STARTTLS")
            elif cmd == "STARTTLS":
                self.plain_send("220 go ahead")
                return "STARTTLS"
            elif cmd == "CONNECT":
                while True:
                    h = self.plain_line()
                    if h == "":
                        break
                self.raw_send(b"HTTP/1.1 200 Connection established\r\n\r\n")
                return "CONNECT-proxy"
            elif line.strip().upper() == "AUTH SSL":
                self.plain_send("AUTH OK")
                return "AUTH-SSL"
            elif line.strip().upper() == "TLS":
                return "TLS-command"
            elif cmd == "NOOP":
                self.plain_send("250 OK")
            elif cmd == "QUIT":
                self.plain_send("221 bye")
                self.log("CLOSE", "plaintext-quit")
                return None
            else:
                self.plain_send("500 unknown command")

    def socks4(self):
        # VN=4 CD=1 DSTPORT(2) DSTIP(4) USERID NUL [HOST NUL for 4a]
        while len(self.plainbuf) < 9 or b"\0" not in self.plainbuf[8:]:
            if len(self.plainbuf) > MAX_LINE:
                raise PeerGone("bad SOCKS4 request")
            self.plain_fill()
        req = self.plainbuf
        end = req.index(b"\0", 8) + 1
        ip = req[4:8]
        if ip[:3] == b"\0\0\0" and ip[3] != 0:  # SOCKS4a: a host name follows
            while b"\0" not in self.plainbuf[end:]:
                if len(self.plainbuf) > MAX_LINE:
                    raise PeerGone("bad SOCKS4a request")
                self.plain_fill()
            end = self.plainbuf.index(b"\0", end) + 1
        self.plainbuf = self.plainbuf[end:]
        if req[1] != 1:
            self.raw_send(b"\x00\x5b" + req[2:4] + ip)
            self.log("CLOSE", "socks4-rejected")
            return None
        self.raw_send(b"\x00\x5a" + req[2:4] + ip)
        return "SOCKS4"

    def tls_phase(self):
        while True:
            line = self.tls_line()
            if line is None:  # client's close_notify
                self.log("CLOSE-NOTIFY", "client")
                self.close_notify()
                self.log("CLOSE-NOTIFY", "server")
                self.drain(2.0)
                self.log("CLOSE", "client-close-notify")
                return
            words = line.split(" ", 1)
            cmd = words[0].upper()
            arg = words[1] if len(words) > 1 else ""
            if cmd == "ECHO":
                self.tls_sendline(arg)
            elif cmd == "BIG":
                n = self.number(arg, MAX_BIG)
                if n is None:
                    continue
                while n > 0:
                    chunk = PATTERN_CHUNK[:min(n, len(PATTERN_CHUNK))]
                    self.tls_send(chunk)
                    n -= len(chunk)
                self.tls_send(b"\r\nEND\r\n")
            elif cmd == "SUM":
                n = self.number(arg, MAX_SUM)
                if n is None:
                    continue
                h = hashlib.sha256()
                while n > 0:
                    if not self.tlsbuf and not self.tls_more():
                        self.log("ERROR", "close_notify inside SUM data")
                        self.close_notify()
                        self.drain(2.0)
                        return
                    take = self.tlsbuf[:n]
                    self.tlsbuf = self.tlsbuf[len(take):]
                    h.update(take)
                    n -= len(take)
                self.tls_sendline(h.hexdigest())
            elif cmd == "INFO":
                self.tls_sendline("%s %s" % (self.tls.version(), self.tls.cipher()[0]))
            elif cmd == "STREAM" and not arg.strip():
                self.tls_sendline("STREAM OK")
                self.stream()
                return
            elif cmd == "SINK":
                ms = self.number(arg, 10000)
                if ms is None:
                    continue
                self.tls_sendline("SINK OK")
                self.sink(ms)
                return
            elif cmd == "STALL" and not arg.strip():
                self.tls_sendline("STALL OK")
                self.stall()
                return
            elif cmd == "SLOW":
                self.slow(arg)
            elif cmd in ("EHLO", "HELO") and self.args.smtp:
                self.tls_sendline("250-sslsock-test\r\n250 AUTH PLAIN")
            elif cmd == "QUIT":
                self.tls_sendline("221 bye" if self.args.smtp else "BYE")
                self.close_notify()
                self.log("CLOSE-NOTIFY", "server")
                try:
                    self.sock.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                self.drain(2.0)
                self.log("CLOSE", "quit")
                return
            else:
                self.tls_sendline("ERR unknown command")

    def stream(self):
        """STREAM: echo every decrypted byte verbatim until the client's close_notify or EOF."""
        total = 0
        while True:
            if self.tlsbuf:
                data, self.tlsbuf = self.tlsbuf, b""
                self.tls_send(data)
                total += len(data)
                continue
            if not self.tls_more():  # the client's close_notify
                self.log("CLOSE-NOTIFY", "client")
                self.log("STREAM-END", "echoed", total)
                self.close_notify()
                self.log("CLOSE-NOTIFY", "server")
                self.drain(2.0)
                self.log("CLOSE", "stream-close-notify")
                return

    def sink(self, ms):
        """SINK ms: read nothing for ms milliseconds, then take every decrypted byte until the client's
        close_notify or the end of TCP; log SINK-END with the count, the offset of the first byte off
        the pattern (-1: none) and how the stream ended."""
        time.sleep(ms / 1000.0)
        total, bad, end = 0, -1, "eof"
        while True:
            if self.tlsbuf:
                data, self.tlsbuf = self.tlsbuf, b""
                if bad < 0:
                    for k, b in enumerate(data):
                        if b != ((total + k) * 7 + 3) & 0xFF:
                            bad = total + k
                            break
                total += len(data)
                continue
            try:
                more = self.tls_more()
            except PeerGone:
                end = "eof"
                break
            except (ssl.SSLError, Idle, OSError):
                end = "error"
                break
            if not more:  # (TCP's end without close_notify raises PeerGone above)
                end = "close_notify"
                break
        self.log("SINK-END", total, bad, end)
        self.log("CLOSE", "sink")

    def stall(self):
        """STALL: neither read nor write; wait (without reading) until the client closes TCP."""
        self.log("STALL", "begin")
        p = select.poll()
        p.register(self.sock, select.POLLRDHUP | select.POLLHUP | select.POLLERR)
        deadline = time.monotonic() + self.args.idle
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.log("TIMEOUT", "stall %gs" % self.args.idle)
                self.log("CLOSE", "stall-timeout")
                return
            try:
                events = p.poll(left * 1000.0)
            except InterruptedError:
                continue
            if events:
                self.log("CLOSE", "stall-client-closed")
                return

    def slow(self, arg):
        """SLOW n ms: one record of n pattern bytes, its ciphertext sent in pieces, ms apart."""
        words = arg.split()
        try:
            n, ms = int(words[0]), int(words[1])
            if len(words) != 2 or not 1 <= n <= SLOW_MAX_N or not 0 <= ms <= SLOW_MAX_MS:
                raise ValueError()
        except (ValueError, IndexError):
            self.tls_sendline("ERR bad number")
            return
        self.flush()
        view = memoryview(PATTERN_CHUNK[:n])
        while view:  # one write: at most 2^14 bytes make one record
            k = self.tls.write(view)
            view = view[k:]
        wire = self.out.read()
        try:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        size = max(1, -(-len(wire) // SLOW_PIECES))
        self.log("SLOW", n, "bytes", len(wire), "on the wire", "pieces of", size, "every", ms, "ms")
        for i in range(0, len(wire), size):
            if i:
                time.sleep(ms / 1000.0)
            self.raw_send(wire[i:i + size])

    def number(self, arg, limit):
        try:
            n = int(arg.strip())
            if 0 <= n <= limit:
                return n
        except ValueError:
            pass
        self.tls_sendline("ERR bad number")
        return None


def handle(sock, addr, args, ctx, logger):
    peer = "%s:%d" % addr[:2]
    c = Conn(sock, peer, args, ctx, logger)
    try:
        c.run()
    except Leak as e:
        c.log("PLAINTEXT-LEAK", e.args[0])
        c.log("CLOSE", "leak")
    except Idle:
        c.log("TIMEOUT", "idle %gs" % args.idle)
        c.log("CLOSE", "timeout")
    except PeerGone as e:
        c.log("CLOSE", "peer-gone", e.args[0] if e.args else "")
    except ssl.SSLError as e:
        c.log("ERROR", "tls", str(e))
        c.log("CLOSE", "tls-error")
    except Exception as e:  # never kill the server for one connection
        c.log("ERROR", "%s: %s" % (type(e).__name__, e))
    finally:
        try:
            sock.close()
        except OSError:
            pass


VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--log")
    ap.add_argument("--tls-min", choices=sorted(VERSIONS))
    ap.add_argument("--tls-max", choices=sorted(VERSIONS))
    ap.add_argument("--idle", type=float, default=30.0, help="idle timeout, seconds")
    ap.add_argument("--greet-wait", type=float, default=0.25,
                    help="how long the client may talk first before the greeting")
    ap.add_argument("--smtp", action="store_true",
                    help="multi-line SMTP replies to EHLO, 221 to QUIT over TLS")
    args = ap.parse_args()

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    ctx.minimum_version = VERSIONS[args.tls_min or "1.2"]
    ctx.maximum_version = VERSIONS[args.tls_max or "1.3"]
    logger = Logger(args.log)

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
        t = threading.Thread(target=handle, args=(sock, addr, args, ctx, logger), daemon=True)
        t.start()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
