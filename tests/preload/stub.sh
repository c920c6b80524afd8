#!/usr/bin/env bash
# tests/preload/stub.sh - a legacy CE program linked against a do-nothing Winsock (issue 3,
# "How it is checked"): tests/preload/stub_winsock/legacy_ce.c is built against include/ and
# linked with -lwinsock_stub only (never -lsslsock), then run
#   (a) as it is: the stub cannot make a socket secure, so its deferred handshake must fail
#       (and the program must give up cleanly, not crash);
#   (b) under tools/sslsock-run: every check of the program passes -- the deferred handshake,
#       an immediate one, a secure socket closed with closesocket and one with POSIX close, two
#       new plain sockets on the same descriptor numbers talking plaintext, nothing left behind --
#       and the servers' logs agree (handshakes, MODE, exact plaintext bytes, no PLAINTEXT-LEAK).
# Prints "ok - " / "not ok - " lines and "N passed, N failed"; exit status 0 only if all passed.
# Environment: PYTHON (python3), CC (cc), T_KEEP=1 keeps the work directory.
set -u
cd "$(dirname "$0")/../.." || exit 2
ROOT=$PWD
. tests/python-env.sh || exit 2   # PYTHON: a Python with cryptography (target/pyenv when needed)
CC=${CC:-cc}
RUN=$ROOT/tools/sslsock-run
LIB=${SSLSOCK_LIB:-$ROOT/target/release/libsslsock.so}

PASS=0 FAIL=0
ok() { echo "ok - $*"; PASS=$((PASS + 1)); }
not_ok() { echo "not ok - $*"; FAIL=$((FAIL + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else not_ok "$what"; fi; }
finish() { echo "$PASS passed, $FAIL failed"; [ "$FAIL" -eq 0 ] && exit 0 || exit 1; }

[ -f "$LIB" ] || { echo "stub.sh: $LIB is missing: run make first" >&2; not_ok "library built"; finish; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sslsock-stub.XXXXXX") || exit 2
PIDS=()
KEEP=${T_KEEP:-0}
cleanup() {
    local p
    for p in "${PIDS[@]+"${PIDS[@]}"}"; do kill "$p" 2>/dev/null; done
    for p in "${PIDS[@]+"${PIDS[@]}"}"; do wait "$p" 2>/dev/null; done
    if [ "$KEEP" = 1 ] || [ "$FAIL" -ne 0 ]; then echo "# work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- build: the stub, and the program against it only -------------------------------------
SRC=$ROOT/tests/preload/stub_winsock
if "$CC" -std=c99 -D_DEFAULT_SOURCE -Wall -Wextra -Werror -shared -fPIC -o "$WORK/libwinsock_stub.so" \
        "$SRC/winsock_stub.c" 2>"$WORK/build-stub.log"; then
    ok "libwinsock_stub.so builds"
else
    cat "$WORK/build-stub.log"; not_ok "libwinsock_stub.so builds"; finish
fi
missing=$(for f in WSAStartup WSACleanup WSAIoctl closesocket ioctlsocket WSAGetLastError WSASetLastError; do
    nm -D --defined-only "$WORK/libwinsock_stub.so" | awk '{print $3}' | grep -qx "$f" || echo "$f"; done)
check "the stub exports the seven Winsock functions${missing:+ (missing: $missing)}" test -z "$missing"
if "$CC" -std=c99 -D_DEFAULT_SOURCE -Wall -Werror -I "$ROOT/include" -o "$WORK/legacy_ce" "$SRC/legacy_ce.c" \
        -L "$WORK" -lwinsock_stub -Wl,-rpath,"$WORK" 2>"$WORK/build-prog.log"; then
    ok "legacy_ce builds with -I include -lwinsock_stub"
else
    sed 's/^/# /' "$WORK/build-prog.log" | head -40; not_ok "legacy_ce builds with -I include -lwinsock_stub"; finish
fi
needed=$(readelf -d "$WORK/legacy_ce" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
check "legacy_ce needs libwinsock_stub.so and not libsslsock.so ($needed)" \
    bash -c '[[ " $1 " == *" libwinsock_stub.so "* && " $1 " != *libsslsock* ]]' _ "$needed"

# ---- peers ---------------------------------------------------------------------------------
"$PYTHON" tests/pki/mkcerts.py "$WORK/pki" >/dev/null || { not_ok "mkcerts.py"; finish; }
"$PYTHON" tests/servers/starttls_server.py --port 0 --port-file "$WORK/starttls.port" \
    --cert "$WORK/pki/good.pem" --key "$WORK/pki/good.key" --log "$WORK/starttls.log" \
    </dev/null >"$WORK/starttls.out" 2>&1 &
PIDS+=($!)
"$PYTHON" tests/preload/echo_server.py --port-file "$WORK/echo.port" --log "$WORK/echo.log" \
    </dev/null >"$WORK/echo.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do
    [ -s "$WORK/starttls.port" ] && [ -s "$WORK/echo.port" ] && break
    sleep 0.1
done
P_TLS=$(cat "$WORK/starttls.port" 2>/dev/null)
P_ECHO=$(cat "$WORK/echo.port" 2>/dev/null)
[ -n "$P_TLS" ] && [ -n "$P_ECHO" ] || { cat "$WORK"/*.out; not_ok "servers start"; finish; }
echo "# starttls_server on 127.0.0.1:$P_TLS, echo on 127.0.0.1:$P_ECHO, work directory $WORK"
export SSL_CERT_FILE=$WORK/pki/ca.pem
unset SSL_CERT_DIR LD_PRELOAD

port_of() { sed -n "s/^# port $1=\([0-9]*\).*/\1/p" "$2"; }
log_has() { grep -q "^$1 127\.0\.0\.1:$2\( \|\$\)" "$3"; }

# ---- (a) without the preload: the stub cannot do it ----------------------------------------
timeout 60 "$WORK/legacy_ce" 127.0.0.1 "$P_TLS" "$P_ECHO" >"$WORK/a.out" 2>&1
rc=$?
# shown as comments, "ok - "/"not ok - " renamed so that no runner counts them: here failures are expected
sed -e 's/^not ok - /FAILED: /' -e 's/^ok - /passed: /' -e 's/^/#   (a) /' "$WORK/a.out"
check "(a) without preload: legacy_ce gives up with status 1 (status $rc, no crash or hang)" test "$rc" -eq 1
check "(a) without preload: setsockopt(SO_SECURE) is refused (libc)" grep -q '^not ok - A: setsockopt(SO_SECURE' "$WORK/a.out"
check "(a) without preload: the plaintext phase works (greeting, EHLO, STARTTLS)" \
    grep -q '^ok - A: plaintext STARTTLS -> 220' "$WORK/a.out"
check "(a) without preload: SO_SSL_PERFORM_HANDSHAKE fails (stub)" \
    grep -q '^not ok - A: WSAIoctl(SO_SSL_PERFORM_HANDSHAKE' "$WORK/a.out"
pa=$(port_of A "$WORK/a.out")
sleep 0.3
check "(a) without preload: the server saw STARTTLS from port ${pa:-?} but no handshake" \
    bash -c 'grep -q "^MODE 127.0.0.1:$1 STARTTLS" "$2" && ! grep -q "^HANDSHAKE-OK 127.0.0.1:$1 " "$2"' _ "$pa" "$WORK/starttls.log"

# ---- (b) under sslsock-run: everything works ------------------------------------------------
timeout 60 "$RUN" "$WORK/legacy_ce" 127.0.0.1 "$P_TLS" "$P_ECHO" >"$WORK/b.out" 2>&1
rc=$?
while IFS= read -r line; do
    case $line in
        "ok - "*) ok "(b) sslsock-run: ${line#ok - }" ;;
        "not ok - "*) not_ok "(b) sslsock-run: ${line#not ok - }" ;;
        *) echo "#   (b) $line" ;;
    esac
done <"$WORK/b.out"
check "(b) sslsock-run: legacy_ce exits 0 (status $rc)" test "$rc" -eq 0
check "(b) sslsock-run: legacy_ce ran to its end" grep -q '^# all passed' "$WORK/b.out"
sleep 0.5   # let the servers log the closes
pA=$(port_of A "$WORK/b.out"); pB=$(port_of B "$WORK/b.out")
pC=$(port_of C "$WORK/b.out"); pD=$(port_of D "$WORK/b.out")
L=$WORK/starttls.log
check "(b) server log: A (port ${pA:-?}) entered TLS by STARTTLS and completed the handshake" \
    bash -c 'log_has() { grep -q "^$1 127\.0\.0\.1:$2\( \|\$\)" "$3"; }; log_has MODE "$1" "$2" && grep -q "^MODE 127.0.0.1:$1 STARTTLS" "$2" && log_has HANDSHAKE-OK "$1" "$2"' _ "$pA" "$L"
check "(b) server log: A's closesocket sent close_notify and closed" \
    bash -c 'grep -q "^CLOSE-NOTIFY 127.0.0.1:$1 client" "$2" && grep -q "^CLOSE 127.0.0.1:$1 " "$2"' _ "$pA" "$L"
check "(b) server log: B (port ${pB:-?}) handshake immediate and OK" \
    bash -c 'grep -q "^MODE 127.0.0.1:$1 immediate" "$2" && grep -q "^HANDSHAKE-OK 127.0.0.1:$1 " "$2"' _ "$pB" "$L"
check "(b) server log: B's POSIX close ended the connection" bash -c 'grep -q "^CLOSE 127.0.0.1:$1 " "$2"' _ "$pB" "$L"
check "(b) server log: D (port ${pD:-?}, reused descriptor) stayed plaintext (no MODE, no handshake, plaintext QUIT)" \
    bash -c '[ -n "$1" ] && grep -q "^ACCEPT 127.0.0.1:$1\$" "$2" && ! grep -Eq "^(MODE|HANDSHAKE-OK|HANDSHAKE-FAIL) 127.0.0.1:$1 " "$2" && grep -q "^CLOSE 127.0.0.1:$1 plaintext-quit" "$2"' _ "$pD" "$L"
want=$(printf 'plaintext on a reused descriptor\n' | od -An -tx1 | tr -d ' \n')
got=$(sed -n "s/^RECV 127\.0\.0\.1:$pC \([0-9a-f]*\)\$/\1/p" "$WORK/echo.log" | tr -d '\n')
check "(b) echo log: C (port ${pC:-?}, reused descriptor) sent exactly the plaintext (got ${got:0:80})" test -n "$pC" -a "$got" = "$want"
check "no PLAINTEXT-LEAK in the STARTTLS server's log" bash -c '! grep -q PLAINTEXT-LEAK "$1"' _ "$L"
if [ "$FAIL" -ne 0 ]; then echo "# --- starttls.log"; sed 's/^/# /' "$L"; echo "# --- echo.log"; sed 's/^/# /' "$WORK/echo.log"; fi
finish
