#!/usr/bin/env python3
"""HTTP server and client for tests/preload/tools.sh (Python's http.server, http.client, urllib, ssl).

    http_peer.py serve --docroot DIR --port-file FILE [--cert PEM --key KEY]
        a ThreadingHTTPServer on 127.0.0.1 (HTTP/1.1, keep-alive); GET serves DIR's files
        (SimpleHTTPRequestHandler), POST answers the SHA-256 (hex) of the request body.
        With --cert/--key its listening socket is wrapped by ssl (HTTPS).
    http_peer.py client --port N [--https --cafile CA] --docroot DIR
        runs the checks below and prints "ok - " / "not ok - " lines; exit 0 if all passed:
        http.client GET index.html and big.bin (content and SHA-256 compared with the files),
        three requests on one keep-alive connection, a 256 KiB POST (server's digest compared),
        urllib.request.urlopen GET, and a 404.
"""
import argparse
import hashlib
import http.client
import http.server
import os
import ssl
import sys
import urllib.error
import urllib.request


class Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = b""
        while len(body) < n:
            chunk = self.rfile.read(n - len(body))
            if not chunk:
                break
            body += chunk
        out = hashlib.sha256(body).hexdigest().encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)


def serve(args):
    os.chdir(args.docroot)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if args.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)
        httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    port = httpd.server_address[1]
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(port))
    os.replace(args.port_file + ".tmp", args.port_file)
    httpd.serve_forever()


def client(args):
    failed = 0

    def check(cond, what):
        nonlocal failed
        print(("ok - " if cond else "not ok - ") + what, flush=True)
        if not cond:
            failed += 1

    with open("/proc/self/maps") as f:
        check("libsslsock" in f.read(), "%s client: libsslsock.so is loaded in this Python process"
              % ("https" if args.https else "http"))
    scheme = "https" if args.https else "http"
    ctx = None
    if args.https:
        ctx = ssl.create_default_context(cafile=args.cafile)  # verifies chain and host name

    def conn():
        if args.https:
            return http.client.HTTPSConnection("localhost", args.port, timeout=20, context=ctx)
        return http.client.HTTPConnection("127.0.0.1", args.port, timeout=20)

    files = {name: open(os.path.join(args.docroot, name), "rb").read() for name in ("index.html", "big.bin")}
    tag = "%s http.client" % scheme
    try:
        c = conn()
        c.request("GET", "/index.html")
        r = c.getresponse()
        body = r.read()
        check(r.status == 200 and body == files["index.html"], "%s GET /index.html (%d, %d bytes)" % (tag, r.status, len(body)))
        if args.https:
            check(c.sock.version() in ("TLSv1.2", "TLSv1.3"), "%s negotiated %s %s" % (tag, c.sock.version(), c.sock.cipher()[0]))
        c.request("GET", "/big.bin")
        r = c.getresponse()
        body = r.read()
        check(r.status == 200 and hashlib.sha256(body).digest() == hashlib.sha256(files["big.bin"]).digest(),
              "%s GET /big.bin on the same keep-alive connection (%d bytes, SHA-256 equal)" % (tag, len(body)))
        payload = bytes((i * 13 + 5) & 0xFF for i in range(256 * 1024))
        c.request("POST", "/sum", body=payload, headers={"Content-Type": "application/octet-stream"})
        r = c.getresponse()
        body = r.read().decode()
        check(r.status == 200 and body == hashlib.sha256(payload).hexdigest(),
              "%s POST 256 KiB, third request on the connection (server's SHA-256 equal)" % tag)
        c.close()
    except Exception as e:  # noqa: BLE001 - any failure is a failed check
        check(False, "%s exchange (%s: %s)" % (tag, type(e).__name__, e))

    tag = "%s urllib" % scheme
    host = "localhost" if args.https else "127.0.0.1"
    try:
        with urllib.request.urlopen("%s://%s:%d/big.bin" % (scheme, host, args.port), timeout=20, context=ctx) as r:
            body = r.read()
        check(body == files["big.bin"], "%s urlopen GET /big.bin (%d bytes, equal)" % (tag, len(body)))
    except Exception as e:  # noqa: BLE001
        check(False, "%s urlopen GET (%s: %s)" % (tag, type(e).__name__, e))
    try:
        urllib.request.urlopen("%s://%s:%d/missing" % (scheme, host, args.port), timeout=20, context=ctx)
        check(False, "%s urlopen GET /missing raises HTTPError 404 (no error)" % tag)
    except urllib.error.HTTPError as e:
        check(e.code == 404, "%s urlopen GET /missing raises HTTPError 404 (%d)" % (tag, e.code))
    except Exception as e:  # noqa: BLE001
        check(False, "%s urlopen GET /missing (%s: %s)" % (tag, type(e).__name__, e))
    return 1 if failed else 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--docroot", required=True)
    s.add_argument("--port-file", required=True)
    s.add_argument("--cert")
    s.add_argument("--key")
    c = sub.add_parser("client")
    c.add_argument("--port", type=int, required=True)
    c.add_argument("--docroot", required=True)
    c.add_argument("--https", action="store_true")
    c.add_argument("--cafile")
    args = ap.parse_args()
    if args.cmd == "serve":
        serve(args)
        return 0
    return client(args)


if __name__ == "__main__":
    sys.exit(main())
