#!/usr/bin/env bash
# Resource limits (issue 7, item 4), as a test: one process holds 10 000 secure sockets open at once
# (RLIMIT_NOFILE raised by the client), each did a handshake and a round trip, and each answers once
# more while all are open; the memory per idle established socket stays <= 64 KiB; and a soak of
# connect/handshake/round trip/close cycles leaves neither memory growth (<= 1 MiB after the first
# tenth) nor a descriptor behind. The same programs as `make bench` (bench/sslsock_client.c against
# examples/bench_server.rs); the benchmark runs the soak with 100 000 cycles.
#
#   bash tests/resources.sh        # RES_SOCKETS (10000), RES_SOAK (10000)
set -u
cd "$(dirname "$0")/.." || exit 2
. tests/python-env.sh || exit 2   # PYTHON: a Python with cryptography (target/pyenv when needed)
ROOT=$PWD
CC=${CC:-cc}
SOCKETS=${RES_SOCKETS:-10000}
SOAK=${RES_SOAK:-10000}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sslsock-resources.XXXXXX") || exit 2
SERVER=
cleanup() {
    [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
unset LD_PRELOAD SSLSOCK_LOG SSLSOCK_LOG_FILE SSLKEYLOGFILE SSL_CERT_DIR

pass=0 fail=0
check() { # OK WHAT
    if [ "$1" = 1 ]; then echo "ok - $2"; pass=$((pass + 1)); else echo "not ok - $2"; fail=$((fail + 1)); fi
}
field() { sed -n "s/.*[ ]$1=\([^ ]*\).*/\1/p" <<<"$2"; }

cargo build --release --quiet --example bench_server || exit 2
"$CC" -O2 -std=c99 -D_DEFAULT_SOURCE -Wall -Wextra -Werror -I include bench/sslsock_client.c \
    -L target/release -lsslsock -lpthread -Wl,-rpath,"$ROOT/target/release" -o "$WORK/client" || exit 2
"$PYTHON" tests/pki/mkcerts.py "$WORK/pki" >/dev/null || exit 2
target/release/examples/bench_server --cert "$WORK/pki/good.pem" --key "$WORK/pki/good.key" --tls 13 \
    --mode app --workers 2 --port-file "$WORK/port" >"$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 200); do [ -s "$WORK/port" ] && break; sleep 0.05; done
PORT=$(cat "$WORK/port" 2>/dev/null)
[ -n "$PORT" ] || { echo "not ok - the server did not start"; cat "$WORK/server.log"; echo "0 passed, 1 failed"; exit 1; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null
echo "# RLIMIT_NOFILE hard limit $(ulimit -Hn); $SOCKETS sockets, soak $SOAK cycles"

client() { SSL_CERT_FILE=$WORK/pki/ca.pem timeout 300 "$WORK/client" --nodelay --port "$PORT" "$@" 2>"$WORK/client.err"; }

out=$(client many "$SOCKETS" | sed -n 's/^RESULT //p')
echo "# many: $out"
opened=$(field opened " $out") okn=$(field ok " $out") per=$(field kib_per_socket " $out")
check "$([ "${opened:-0}" = "$SOCKETS" ] && echo 1)" "$SOCKETS secure sockets open at once in one process (opened ${opened:-?})"
check "$([ "${okn:-0}" = "$SOCKETS" ] && echo 1)" "every one of them answers a round trip while all are open (${okn:-?})"
check "$(awk -v p="${per:-999}" 'BEGIN { print (p <= 64) ? 1 : 0 }')" \
    "memory per idle established secure socket ${per:-?} KiB <= 64 KiB"

out=$(client soak "$SOAK" | sed -n 's/^RESULT //p')
echo "# soak: $out"
growth=$(field growth_kib " $out") f0=$(field fds_before " $out") f1=$(field fds_after " $out")
check "$([ -n "$growth" ] && [ "$growth" -le 1024 ] && echo 1)" \
    "$SOAK connect/handshake/close cycles: RSS grew ${growth:-?} KiB after the first tenth (<= 1024)"
check "$([ -n "$f0" ] && [ "$f0" = "$f1" ] && echo 1)" "no descriptor left behind (${f0:-?} before, ${f1:-?} after)"
[ -s "$WORK/client.err" ] && sed 's/^/# client: /' "$WORK/client.err"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
