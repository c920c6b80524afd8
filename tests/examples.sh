#!/usr/bin/env bash
# `make test-examples`: runs the C examples of examples/ (built by `make examples` into
# target/examples-c/) against local servers with a fresh test CA, and checks what they print.
#
#   smtp_starttls     tests/servers/starttls_server.py --smtp (plaintext EHLO/STARTTLS, then TLS)
#   https_get         openssl s_server -WWW (a file of known size)
#   two_threads       the line server in immediate-TLS mode (ECHO lines, QUIT)
#   nonblocking_poll  the same
#   epoll_many        the same (several connections from one epoll loop)
#   deferred_handshake (the demo) the STARTTLS line server
#
# Also a refused certificate for smtp_starttls (wrong name) and https_get (another CA), and no
# plaintext after the handshake began in any server log. Ends with "N passed, N failed".
set -u

cd "$(dirname "$0")/.." || exit 2
. tests/python-env.sh || exit 2   # PYTHON: a Python with cryptography (target/pyenv when needed)
BIN=${EXAMPLES_BIN:-target/examples-c}

for e in smtp_starttls https_get two_threads nonblocking_poll epoll_many deferred_handshake; do
    if [ ! -x "$BIN/$e" ]; then
        echo "examples: $BIN/$e is missing: run make examples" >&2
        exit 2
    fi
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sslsock-examples.XXXXXX") || exit 2
PIDS=()
KEEP=0
cleanup() {
    local p
    for p in "${PIDS[@]+"${PIDS[@]}"}"; do kill "$p" 2>/dev/null; done
    for p in "${PIDS[@]+"${PIDS[@]}"}"; do wait "$p" 2>/dev/null; done
    if [ "$KEEP" = 1 ]; then echo "# work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

pass=0 fail=0
ok() { echo "ok - $*"; pass=$((pass + 1)); }
not_ok() { echo "not ok - $*"; fail=$((fail + 1)); KEEP=1; }
check() { # check DESCRIPTION COMMAND...
    local what=$1
    shift
    if "$@"; then ok "$what"; else not_ok "$what"; fi
}
has() { grep -qF -- "$2" "$1"; }   # has FILE TEXT
hasx() { grep -qx -- "$2" "$1"; }  # hasx FILE LINE

"$PYTHON" tests/pki/mkcerts.py "$WORK/pki" >/dev/null || { echo "examples: mkcerts.py failed" >&2; exit 2; }
PKI=$WORK/pki
mkdir -p "$WORK/docroot"
"$PYTHON" -c 'import sys; open(sys.argv[1], "wb").write(bytes(i % 251 for i in range(54321)))' "$WORK/docroot/file.bin"

# ---- servers ------------------------------------------------------------------
# line_server NAME [options]: tests/servers/starttls_server.py on a free port; the port in $WORK/NAME.port.
line_server() {
    local name=$1
    shift
    "$PYTHON" tests/servers/starttls_server.py --port 0 --port-file "$WORK/$name.port" \
        --cert "$PKI/good.pem" --key "$PKI/good.key" --log "$WORK/$name.log" "$@" \
        </dev/null >"$WORK/$name.out" 2>&1 &
    PIDS+=($!)
}
line_server smtp --smtp
line_server starttls
line_server immediate --greet-wait 5   # immediate TLS: the client's ClientHello comes first
(cd "$WORK/docroot" && exec openssl s_server -accept 127.0.0.1:0 -cert "$PKI/good.pem" -key "$PKI/good.key" -WWW) \
    </dev/null >"$WORK/https.log" 2>&1 &
PIDS+=($!)

port_of() { # port_of NAME: waits up to 15 s
    local p= i
    for i in $(seq 1 150); do
        if [ "$1" = https ]; then
            p=$(sed -n 's/^ACCEPT 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$WORK/https.log" 2>/dev/null | head -n 1)
        else
            p=$(cat "$WORK/$1.port" 2>/dev/null)
        fi
        [ -n "$p" ] && break
        sleep 0.1
    done
    echo "$p"
}
SMTP=$(port_of smtp)
STARTTLS=$(port_of starttls)
IMMEDIATE=$(port_of immediate)
HTTPS=$(port_of https)
if [ -z "$SMTP" ] || [ -z "$STARTTLS" ] || [ -z "$IMMEDIATE" ] || [ -z "$HTTPS" ]; then
    echo "examples: a server did not start" >&2
    cat "$WORK"/*.out "$WORK/https.log" >&2
    KEEP=1
    echo "0 passed, 1 failed"
    exit 1
fi
echo "# servers on 127.0.0.1: smtp=$SMTP starttls=$STARTTLS immediate=$IMMEDIATE https=$HTTPS"

# run NAME LABEL ARGS...: runs the example with the test CA as the only trust anchor; output in
# $WORK/LABEL.out (stdout and stderr), exit status in $WORK/LABEL.rc.
run() {
    local name=$1 label=$2
    shift 2
    echo "== $label: $name $*"
    env -u SSL_CERT_DIR SSL_CERT_FILE="${CA:-$PKI/ca.pem}" timeout -k 2 30 "$BIN/$name" "$@" \
        </dev/null >"$WORK/$label.out" 2>&1
    echo $? >"$WORK/$label.rc"
    sed 's/^/   | /' "$WORK/$label.out"
}
rc_is() { [ "$(cat "$WORK/$1.rc")" = "$2" ]; }
# in_order FILE LINE...: the lines occur in this order (each exactly, as whole lines; a CR at the end of
# a line of the file is ignored).
in_order() {
    local f=$1
    shift
    awk -v want="$(printf '%s\n' "$@")" 'BEGIN { n = split(want, w, "\n"); i = 1 }
        { sub(/\r$/, "") } i <= n && $0 == w[i] { i++ } END { exit !(i > n) }' "$f"
}

# ---- smtp_starttls --------------------------------------------------------------
run smtp_starttls smtp 127.0.0.1 "$SMTP" localhost
o=$WORK/smtp.out
check "smtp_starttls: exit 0" rc_is smtp 0
check "smtp_starttls: plaintext greeting, multi-line EHLO reply, STARTTLS, 220, then TLS, EHLO and QUIT" \
    in_order "$o" "S: 220 sslsock-test ready" "C: EHLO client.example" "S: 250-sslsock-test" "S: 250-8BITMIME" \
    "S: 250 STARTTLS" "C: STARTTLS" "S: 220 go ahead" "-- hook: server certificate, $(stat -c %s "$PKI/good.der") bytes of DER, flags 0x0" \
    "-- TLS 1.3 established with localhost" "C: EHLO client.example" "S: 250-sslsock-test" "S: 250 AUTH PLAIN" \
    "C: QUIT" "S: 221 bye" "-- done"
sleep 0.3   # the server logs the end of the connection
check "smtp_starttls: the server entered TLS by STARTTLS" grep -q '^MODE .* STARTTLS$' "$WORK/smtp.log"
check "smtp_starttls: the server completed the handshake" grep -q '^HANDSHAKE-OK .* TLSv1.3 ' "$WORK/smtp.log"
check "smtp_starttls: the server got our close_notify" has "$WORK/smtp.log" "CLOSE-NOTIFY"

run smtp_starttls smtp-wrongname 127.0.0.1 "$SMTP" wrong.example
o=$WORK/smtp-wrongname.out
check "smtp_starttls, wrong name: exit 1" rc_is smtp-wrongname 1
check "smtp_starttls, wrong name: the hook saw SSL_CERT_FLAG_ISSUER_UNKNOWN" has "$o" "flags 0x1"
check "smtp_starttls, wrong name: SO_SSL_PERFORM_HANDSHAKE failed with WSAECONNABORTED and a reason" \
    has "$o" "WSAIoctl(SO_SSL_PERFORM_HANDSHAKE) failed: error 10053"
check "smtp_starttls, wrong name: nothing sent after the refusal (one EHLO only)" \
    test "$(grep -c '^C: EHLO' "$o")" -eq 1

# ---- https_get --------------------------------------------------------------------
run https_get https 127.0.0.1 "$HTTPS" /file.bin
o=$WORK/https.out
check "https_get: exit 0" rc_is https 0
check "https_get: prints the status line" hasx "$o" "HTTP/1.0 200 ok"
check "https_get: prints the body length (54321 bytes)" hasx "$o" "body: 54321 bytes"

run https_get https-name localhost "$HTTPS" /file.bin
check "https_get by name (localhost): 200 and 54321 bytes" \
    in_order "$WORK/https-name.out" "HTTP/1.0 200 ok" "body: 54321 bytes"

CA=$PKI/other-ca.pem run https_get https-otherca 127.0.0.1 "$HTTPS" /file.bin
o=$WORK/https-otherca.out
check "https_get, untrusted CA: exit 1" rc_is https-otherca 1
check "https_get, untrusted CA: connect failed with WSAECONNABORTED (10053) and a reason" \
    has "$o" "connect failed: error 10053"
check "https_get, untrusted CA: no status printed" test "$(grep -c '^HTTP/' "$o")" -eq 0

# ---- two_threads --------------------------------------------------------------------
run two_threads threads 127.0.0.1 "$IMMEDIATE" 2000
o=$WORK/threads.out
check "two_threads: exit 0" rc_is threads 0
check "two_threads: 2000 echoes in order, BYE, end of stream, 2001 lines sent" \
    in_order "$o" "receiver: 2000 echoes, in order" 'receiver: the server answered QUIT with "BYE"' \
    "receiver: end of stream" "sender: 2001 lines sent"

# ---- nonblocking_poll -------------------------------------------------------------------
run nonblocking_poll nonblocking 127.0.0.1 "$IMMEDIATE" "ECHO polled hello" QUIT
o=$WORK/nonblocking.out
check "nonblocking_poll: exit 0" rc_is nonblocking 0
check "nonblocking_poll: connect answered WSAEWOULDBLOCK, then WSAEISCONN after poll rounds" \
    in_order "$o" "connect -> SOCKET_ERROR, WSAEWOULDBLOCK: under way" \
    "$(grep -m1 '^connect -> WSAEISCONN after [0-9]* poll rounds' "$o")"
check "nonblocking_poll: the echo, BYE and the end of the stream, through select" \
    in_order "$o" "protocol: TLS 1.3" "sent 25 bytes in 2 lines" "received:" "polled hello" "BYE" "(end of stream)"
run nonblocking_poll nonblocking-default localhost "$IMMEDIATE"
check "nonblocking_poll, default lines: the server's INFO answer and BYE" \
    in_order "$WORK/nonblocking-default.out" "$(grep -m1 '^TLSv1\.3 TLS_' "$WORK/nonblocking-default.out" | tr -d '\r')" "BYE" "(end of stream)"
check "nonblocking_poll, default lines: exit 0" rc_is nonblocking-default 0

# ---- epoll_many -----------------------------------------------------------------------------
run epoll_many epoll 127.0.0.1 "$IMMEDIATE" 5 4
o=$WORK/epoll.out
check "epoll_many: exit 0" rc_is epoll 0
check "epoll_many: every connection established" \
    bash -c '[ "$(grep -c "^connection [0-4]: TLS established$" "$1")" = 5 ]' _ "$o"
for c in 0 1 2 3 4; do
    check "epoll_many: connection $c: its 4 echoes in order, BYE, the end of the stream (7-byte recvs)" \
        in_order "$o" "connection $c: received:" "conn $c line 1" "conn $c line 2" "conn $c line 3" "conn $c line 4" \
        "BYE" "(end of stream)"
done
check "epoll_many: the loop ended" hasx "$o" "all 5 connections done ($(grep -o '([0-9]* wake-ups)' "$o" | tr -d '()'))"

# ---- deferred_handshake (make demo) ---------------------------------------------------------
run deferred_handshake deferred 127.0.0.1 "$STARTTLS" localhost
check "deferred_handshake: exit 0" rc_is deferred 0
check "deferred_handshake: all steps succeeded" grep -q '^Done: all [0-9]* steps succeeded\.$' "$WORK/deferred.out"

# ---- diagnostics: SSLSOCK_LOG=debug and SSLKEYLOGFILE (issue 8) ------------------------------------
echo "== SSLSOCK_LOG=debug SSLSOCK_LOG_FILE=... SSLKEYLOGFILE=... smtp_starttls"
env -u SSL_CERT_DIR SSL_CERT_FILE="$PKI/ca.pem" SSLSOCK_LOG=debug SSLSOCK_LOG_FILE="$WORK/debug.log" \
    SSLKEYLOGFILE="$WORK/keys.log" timeout -k 2 30 "$BIN/smtp_starttls" 127.0.0.1 "$SMTP" localhost \
    </dev/null >"$WORK/diag.out" 2>&1
echo $? >"$WORK/diag.rc"
sed 's/^/   | /' "$WORK/debug.log"
check "diagnostics: the program still succeeds" rc_is diag 0
check "diagnostics: the debug log traces the socket's life in order" \
    awk 'BEGIN { split("SO_SECURE|SO_SSL_SET_VALIDATE_CERT_HOOK|SO_SSL_SET_FLAGS|connected in plaintext|TLS handshake begins (SO_SSL_PERFORM_HANDSHAKE)|server certificate|TLS established with localhost|close_notify sent|closed", w, "|"); i = 1 }
         i in w && index($0, w[i]) { i++ } END { exit !(i > 9) }' "$WORK/debug.log"
check "diagnostics: the hook's flags and verdict are logged" grep -q 'flags 0x0; verdict 0 from the hook' "$WORK/debug.log"
check "diagnostics: the protocol, suite and key exchange are logged" \
    grep -q 'TLS established with localhost .*TLSv1_3.*TLS13_.*key exchange' "$WORK/debug.log"
check "diagnostics: SSLKEYLOGFILE holds the session's secrets" grep -q '^CLIENT_TRAFFIC_SECRET_0 ' "$WORK/keys.log"
no_secret_or_payload() {
    local secret
    for secret in $(awk '{ print $3 }' "$WORK/keys.log"); do
        grep -qi -- "$secret" "$WORK/debug.log" && return 1
    done
    ! grep -q 'EHLO\|AUTH PLAIN\|sslsock-test\|QUIT\|221 bye' "$WORK/debug.log"
}
check "diagnostics: no secret and no payload in the debug log" no_secret_or_payload

# ---- the servers' view ------------------------------------------------------------------------
sleep 0.3
for s in smtp starttls immediate; do
    check "$s server: no plaintext after the handshake began" test "$(grep -c 'PLAINTEXT-LEAK' "$WORK/$s.log")" -eq 0
done
check "immediate server: every connection entered TLS at once (8 immediate: 3, and epoll_many's 5; no greeting sent)" \
    test "$(grep -c '^MODE .* immediate$' "$WORK/immediate.log")" -eq 8

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
