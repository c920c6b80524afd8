#!/usr/bin/env python3
"""A plain TCP echo server for tests/preload/ (127.0.0.1 only, one thread per connection).

    python3 tests/preload/echo_server.py --log FILE [--port-file FILE]

Prints `PORT <n>` once it listens. Echoes every byte back and logs one line per event:
`ACCEPT <peer>`, `RECV <peer> <hex of the bytes>`, `CLOSE <peer>`. A test finds its own
connection by its local port and checks that what arrived was plaintext.
"""
import argparse
import socket
import sys
import threading

lock = threading.Lock()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--log", required=True)
    ap.add_argument("--port-file")
    args = ap.parse_args()
    logf = open(args.log, "a", buffering=1)

    def log(*words):
        with lock:
            logf.write(" ".join(str(w) for w in words) + "\n")

    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", args.port))
    srv.listen(64)
    port = srv.getsockname()[1]
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(str(port))
        import os
        os.replace(args.port_file + ".tmp", args.port_file)
    print("PORT", port, flush=True)

    def serve(conn, peer):
        name = "%s:%d" % peer
        log("ACCEPT", name)
        conn.settimeout(30)
        try:
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                log("RECV", name, data.hex())
                conn.sendall(data)
        except OSError as e:
            log("ERROR", name, type(e).__name__)
        finally:
            conn.close()
            log("CLOSE", name)

    while True:
        conn, peer = srv.accept()
        threading.Thread(target=serve, args=(conn, peer), daemon=True).start()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
