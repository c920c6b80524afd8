#!/usr/bin/env bash
# Kernel TLS (SSLSOCK_KTLS=1, docs/benchmarks.md "Kernel TLS"): the optional path and its fallback.
#
#   bash tests/ktls.sh        (make test-ktls)
#
# 1. Asks this kernel whether it offers the `tls` upper layer (setsockopt TCP_ULP "tls" on a connected
#    loopback socket) and says which path the rest exercises.
# 2. The Rust unit tests of src/sys/ktls.rs and src/secure/records/keys.rs (struct layouts against linux/tls.h, crypto_info built from
#    rustls' ConnectionTrafficSecrets, TLS 1.2 nonces, the loopback probe).
# 3. A set of C tests with SSLSOCK_KTLS=1 and SSLSOCK_LOG=debug (the log to a file): everything must pass,
#    on the kernel path where the kernel offers it, on the rustls fallback where it does not.
# 4. The log: without kernel TLS it must say, once per process, "kernel TLS not offered by this kernel
#    (TCP_ULP tls: <errno>): rustls does the records"; with it, "kernel TLS on (...)".
# 5. With the setting off, no kernel TLS line at all (no probe is made).
#
# Ends with "N passed, N failed". Environment: PYTHON (default python3), KTLS_TESTS (the C tests to run).

set -u
cd "$(dirname "$0")/.." || exit 2
. tests/python-env.sh || exit 2   # PYTHON: a Python with cryptography (target/pyenv when needed)
KTLS_TESTS=${KTLS_TESTS:-duplex nonblocking readiness pattern06_mail_starttls pattern01_http hostile protocols}
PASS=0
FAIL=0
ok() { echo "ok - $*"; PASS=$((PASS + 1)); }
not_ok() { echo "not ok - $*"; FAIL=$((FAIL + 1)); }

if [ ! -f target/release/libsslsock.so ]; then
    echo "ktls: target/release/libsslsock.so is missing: run make lib first" >&2
    exit 2
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sslsock-ktls.XXXXXX") || exit 2
trap 'rm -rf "$WORK"' EXIT

# ---- 1. what this kernel offers ---------------------------------------------
probe=$("$PYTHON" - <<'EOF'
import errno, socket
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(1)
c = socket.create_connection(l.getsockname())
try:
    c.setsockopt(socket.IPPROTO_TCP, 31, b"tls\0")   # TCP_ULP
    print("offered")
except OSError as e:
    print("absent %s" % errno.errorcode.get(e.errno, e.errno))
EOF
)
echo "# kernel $(uname -r); tcp_available_ulp: $(cat /proc/sys/net/ipv4/tcp_available_ulp 2>/dev/null || echo '?')"
case $probe in
offered)
    echo "# TCP_ULP tls attaches: the C tests below run on the kernel TLS path"
    ;;
absent*)
    echo "# TCP_ULP tls fails with ${probe#absent }: kernel TLS is not offered here; the C tests below run"
    echo "# on the rustls fallback, and the kernel TLS path itself is NOT exercised on this machine"
    ;;
*)
    not_ok "the TCP_ULP probe did not answer: $probe"
    ;;
esac

# ---- 2. unit tests ------------------------------------------------------------
if cargo test --release --lib -- ktls records::keys >"$WORK/unit.out" 2>&1; then
    ok "unit tests of src/sys/ktls.rs and src/secure/records/keys.rs: $(grep -o '[0-9]* passed' "$WORK/unit.out" | tail -n 1)"
else
    sed 's/^/   | /' "$WORK/unit.out" | tail -n 30
    not_ok "unit tests of src/sys/ktls.rs and src/secure/records/keys.rs"
fi

# ---- 3. the C tests with SSLSOCK_KTLS=1 ------------------------------------------
# shellcheck disable=SC2086
SSLSOCK_KTLS=1 SSLSOCK_LOG=debug SSLSOCK_LOG_FILE="$WORK/on.log" \
    bash tests/run-c-tests.sh $KTLS_TESTS >"$WORK/c.out" 2>&1
rc=$?
summary=$(tail -n 1 "$WORK/c.out")
if [ "$rc" -eq 0 ]; then
    ok "C tests with SSLSOCK_KTLS=1 ($KTLS_TESTS): $summary"
else
    grep -E '^(not ok|==)|passed, ' "$WORK/c.out" | sed 's/^/   | /'
    not_ok "C tests with SSLSOCK_KTLS=1: $summary"
fi

# ---- 4. what the log says -------------------------------------------------------
established=$(grep -c 'TLS established' "$WORK/on.log" 2>/dev/null)
if [ "${established:-0}" -gt 0 ]; then
    ok "the C tests established $established TLS connections with SSLSOCK_KTLS=1"
else
    not_ok "no TLS connection in the log of the SSLSOCK_KTLS=1 run"
fi
case $probe in
absent*)
    errno=${probe#absent }
    lines=$(grep -c "kernel TLS not offered by this kernel (TCP_ULP tls: $errno" "$WORK/on.log")
    if [ "$lines" -gt 0 ]; then
        ok "the log says kernel TLS was not offered ($lines processes): $(grep -m 1 -o 'kernel TLS not offered.*' "$WORK/on.log")"
    else
        not_ok "the log does not say kernel TLS was not offered (TCP_ULP tls: $errno)"
    fi
    most=$(sed -n 's/^sslsock\[\([0-9]*\)\] info: kernel TLS not offered.*/\1/p' "$WORK/on.log" | sort | uniq -c |
        sort -rn | awk 'NR == 1 { print $1 }')
    if [ "${most:-0}" -eq 1 ]; then
        ok "it says so once per process"
    else
        not_ok "it says so $most times in one process (once expected)"
    fi
    if grep -q 'kernel TLS on (' "$WORK/on.log"; then
        not_ok "a socket went to kernel TLS on a kernel without it"
    else
        ok "no socket went to kernel TLS"
    fi
    ;;
offered)
    lines=$(grep -c 'kernel TLS on (' "$WORK/on.log")
    if [ "$lines" -gt 0 ]; then
        ok "$lines sockets went to kernel TLS: $(grep -m 1 -o 'kernel TLS on (.*' "$WORK/on.log")"
    else
        not_ok "kernel TLS is offered but no socket went to it"
    fi
    ;;
esac

# ---- 5. setting off: no probe ---------------------------------------------------
env -u SSLSOCK_KTLS SSLSOCK_LOG=debug SSLSOCK_LOG_FILE="$WORK/off.log" \
    bash tests/run-c-tests.sh duplex >"$WORK/off.out" 2>&1
rc=$?
if [ "$rc" -eq 0 ] && grep -q 'TLS established' "$WORK/off.log" && ! grep -q 'kernel TLS' "$WORK/off.log"; then
    ok "with SSLSOCK_KTLS unset: duplex passes and nothing about kernel TLS is logged"
else
    not_ok "with SSLSOCK_KTLS unset: duplex exit $rc, kernel TLS lines: $(grep -c 'kernel TLS' "$WORK/off.log")"
fi

echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
