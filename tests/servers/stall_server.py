#!/usr/bin/env python3
"""A peer that accepts TCP and then never answers (docs/testing.md, T_PORT_STALL).

    python3 tests/servers/stall_server.py --port 0 [--port-file FILE] [--log FILE] [--hold 60]

Listens on 127.0.0.1 only and prints `PORT <n>` on stdout once it accepts (and
writes <n> to --port-file when given). Every accepted connection is held open
without reading or writing a single byte, until the client closes it (seen
without reading, through POLLRDHUP/POLLHUP) or --hold seconds pass; then it is
closed. A client waiting for a TLS ServerHello, or for any answer, waits in
vain: what its timeouts are for.

Log lines: LISTEN <addr> | ACCEPT <peer> | CLOSE <peer> client-closed|held-<n>s
"""

import argparse
import os
import select
import socket
import sys
import threading
import time


class Logger:
    def __init__(self, path):
        self.lock = threading.Lock()
        self.f = open(path, "a", buffering=1) if path else sys.stderr

    def log(self, *words):
        line = " ".join(str(w) for w in words)
        with self.lock:
            self.f.write(line + "\n")
            self.f.flush()


def hold(sock, peer, seconds, logger):
    """Keeps the connection open, reading nothing, until the client closes or time is up."""
    try:
        p = select.poll()
        p.register(sock, select.POLLRDHUP | select.POLLHUP | select.POLLERR)
        deadline = time.monotonic() + seconds
        how = "held-%gs" % seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                if p.poll(left * 1000.0):
                    how = "client-closed"
                    break
            except InterruptedError:
                continue
        logger.log("CLOSE", peer, how)
    finally:
        try:
            sock.close()
        except OSError:
            pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--log")
    ap.add_argument("--hold", type=float, default=60.0, help="seconds a connection is held at most")
    args = ap.parse_args()
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
        peer = "%s:%d" % addr[:2]
        logger.log("ACCEPT", peer)
        threading.Thread(target=hold, args=(sock, peer, args.hold, logger), daemon=True).start()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
