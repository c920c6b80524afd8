#!/usr/bin/env bash
# `make demo`: the deferred-handshake example (examples/deferred_handshake.c)
# against the STARTTLS test server, with a fresh test CA, all on 127.0.0.1.
# Assumes `make` built target/release/libsslsock.so.
set -u

cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
. tests/python-env.sh || exit 2   # PYTHON: a Python with cryptography (target/pyenv when needed)
CC=${CC:-cc}
LIBDIR=$ROOT/target/release

if [ ! -f "$LIBDIR/libsslsock.so" ]; then
    echo "demo: $LIBDIR/libsslsock.so is missing: run make first" >&2
    exit 2
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sslsock-demo.XXXXXX") || exit 2
SERVER_PID=
cleanup() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "== a fresh test CA and a server certificate for localhost / 127.0.0.1 (tests/pki/mkcerts.py)"
"$PYTHON" tests/pki/mkcerts.py "$WORK/pki" || {
    echo "demo: mkcerts.py failed" >&2
    exit 1
}

echo "== the STARTTLS server (tests/servers/starttls_server.py, Python's ssl) on 127.0.0.1"
"$PYTHON" tests/servers/starttls_server.py --port 0 --port-file "$WORK/port" \
    --cert "$WORK/pki/good.pem" --key "$WORK/pki/good.key" --log "$WORK/server.log" \
    </dev/null >"$WORK/server.out" 2>&1 &
SERVER_PID=$!
PORT=
for _ in $(seq 1 100); do
    PORT=$(cat "$WORK/port" 2>/dev/null)
    [ -n "$PORT" ] && break
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$PORT" ]; then
    echo "demo: the server did not start:" >&2
    cat "$WORK/server.out" >&2
    exit 1
fi
echo "   listening on 127.0.0.1:$PORT"

echo "== building examples/deferred_handshake.c against include/ and libsslsock.so"
"$CC" -std=c99 -D_DEFAULT_SOURCE -Wall -I include examples/deferred_handshake.c -o "$WORK/deferred_handshake" \
    -L "$LIBDIR" -lsslsock -Wl,-rpath,"$LIBDIR" || exit 1

echo "== SSL_CERT_FILE=<test CA> deferred_handshake 127.0.0.1 $PORT localhost"
echo
env -u SSL_CERT_DIR SSL_CERT_FILE="$WORK/pki/ca.pem" "$WORK/deferred_handshake" 127.0.0.1 "$PORT" localhost
rc=$?

sleep 0.3   # let the server log the end of the connection
echo
echo "== what the server logged for this connection ($WORK/server.log)"
grep -v '^LISTEN ' "$WORK/server.log" | sed 's/^/   /'
if grep -q 'PLAINTEXT-LEAK' "$WORK/server.log"; then
    echo "demo: the server saw plaintext after the handshake began" >&2
    rc=1
fi
exit $rc
