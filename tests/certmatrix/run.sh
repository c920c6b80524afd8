#!/usr/bin/env bash
# The certificate matrix, protocol sets, session resumption and the key exchange (make certmatrix).
#
#   bash tests/certmatrix/run.sh                      # run, check docs/certificates.md is current
#   CERTMATRIX_UPDATE=1 bash tests/certmatrix/run.sh  # run, rewrite docs/certificates.md
#
# Assumes `make` built target/release/libsslsock.so and `cargo build --release --example
# pq_server` built target/release/examples/pq_server (the Makefile's certmatrix target does both).
# Makes fresh certificates (tests/pki/mkcerts.py), starts on 127.0.0.1 (ports picked by the
# kernel), for every certificate tests/certmatrix/matrix.c needs, an `openssl s_server -www` and a
# tests/servers/starttls_server.py; s_servers for resume.c; examples/pq_server and an s_server for
# pq.c. Right before resume.c, a `shortlived` certificate (mkcerts.py --shortlived: it expires
# T_SHORTLIVED_SECONDS, default 20, after it is made) and two s_servers with it. Then runs:
#   matrix GROUP   once per SSLSOCK_CRL_FILE group (the library reads the variable once per process)
#   resume         protocol sets, resumption (server's "New"/"Reused"), handshake times
#   pq             X25519MLKEM768 against pq_server, X25519 against OpenSSL 3.0
# writes the table (tests/certmatrix/mktable.py) and compares it with docs/certificates.md.
# Prints "ok - " / "not ok - " lines and finally "N passed, N failed"; exit status 0 only if
# nothing failed. Environment: PYTHON (python3), CC (cc), T_KEEP=1 keeps the work directory
# (kept anyway on failure), CERTMATRIX_UPDATE=1, T_LIBDIR (the directory of the libsslsock.so to
# test; default target/release), T_SHORTLIVED_SECONDS (20).

set -u

cd "$(dirname "$0")/../.." || exit 2
ROOT=$PWD
. tests/python-env.sh || exit 2   # PYTHON: a Python with cryptography (target/pyenv when needed)
CC=${CC:-cc}
LIBDIR=${T_LIBDIR:-$ROOT/target/release}
SHORTLIVED_SECONDS=${T_SHORTLIVED_SECONDS:-20}
PQ_SERVER=$ROOT/target/release/examples/pq_server
DOC=$ROOT/docs/certificates.md
STARTED=$(date +%s)

if [ ! -f "$LIBDIR/libsslsock.so" ]; then
    echo "certmatrix: $LIBDIR/libsslsock.so is missing: run make first" >&2
    echo "0 passed, 1 failed"
    exit 1
fi
if [ ! -x "$PQ_SERVER" ]; then
    echo "certmatrix: $PQ_SERVER is missing: cargo build --release --example pq_server" >&2
    echo "0 passed, 1 failed"
    exit 1
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sslsock-certmatrix.XXXXXX") || exit 2
PKI=$WORK/pki
LOGS=$WORK/logs
BIN=$WORK/bin
OUT=$WORK/out
mkdir -p "$PKI" "$LOGS" "$BIN" "$OUT"

SERVER_PIDS=()
KEEP=${T_KEEP:-0}
PASS=0
FAIL=0
cleanup() {
    local p
    for p in "${SERVER_PIDS[@]+"${SERVER_PIDS[@]}"}"; do
        kill "$p" 2>/dev/null
    done
    for p in "${SERVER_PIDS[@]+"${SERVER_PIDS[@]}"}"; do
        wait "$p" 2>/dev/null
    done
    if [ "$KEEP" = 1 ]; then
        echo "certmatrix: work directory kept: $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ok() { echo "ok - $*"; PASS=$((PASS + 1)); }
notok() { echo "not ok - $*"; FAIL=$((FAIL + 1)); KEEP=1; }
die() {
    notok "$*"
    echo "$PASS passed, $FAIL failed"
    exit 1
}

# ---- certificates and programs ------------------------------------------------
"$PYTHON" tests/pki/mkcerts.py "$PKI" || die "tests/pki/mkcerts.py"
for prog in matrix resume pq; do
    if ! "$CC" -std=c99 -D_DEFAULT_SOURCE -Wall -Werror -I include -I c-tests \
        "tests/certmatrix/$prog.c" -o "$BIN/$prog" -L "$LIBDIR" -lsslsock -lpthread \
        -Wl,-rpath,"$LIBDIR" >"$OUT/$prog.build" 2>&1; then
        sed 's/^/   | /' "$OUT/$prog.build"
        die "tests/certmatrix/$prog.c compiles"
    fi
done

# ---- peers ----------------------------------------------------------------------
# Servers get neither SSL_CERT_FILE nor a default trust store (-no-CAfile ...): what they send
# is exactly the -cert (+ -cert_chain) given, so "intermediate missing" really is missing.
declare -A WAIT_FOR=()
start_s_server() {   # VAR CERT [s_server options...]
    local var=$1 cert=$2
    shift 2
    local chain=()
    [ -f "$PKI/$cert.issuers.pem" ] && chain=(-cert_chain "$PKI/$cert.issuers.pem")
    env -u SSL_CERT_FILE -u SSL_CERT_DIR openssl s_server -accept 127.0.0.1:0 \
        -cert "$PKI/$cert.pem" -key "$PKI/$cert.key" ${chain[@]+"${chain[@]}"} \
        -no-CAfile -no-CApath -no-CAstore -www "$@" </dev/null >"$LOGS/$var.log" 2>&1 &
    SERVER_PIDS+=($!)
    WAIT_FOR[$var]="$!:$LOGS/$var.log:s_server"
}
start_python() {     # VAR CERT
    local var=$1 cert=$2
    env -u SSL_CERT_FILE -u SSL_CERT_DIR "$PYTHON" tests/servers/starttls_server.py --port 0 \
        --port-file "$WORK/$var.port" --cert "$PKI/$cert.pem" --key "$PKI/$cert.key" \
        --log "$LOGS/$var.log" </dev/null >"$LOGS/$var.stdout" 2>&1 &
    SERVER_PIDS+=($!)
    WAIT_FOR[$var]="$!:$WORK/$var.port:file"
}
start_pq() {         # VAR CERT
    local var=$1 cert=$2
    "$PQ_SERVER" --port 0 --port-file "$WORK/$var.port" --cert "$PKI/$cert.pem" \
        --key "$PKI/$cert.key" </dev/null >"$LOGS/$var.log" 2>&1 &
    SERVER_PIDS+=($!)
    WAIT_FOR[$var]="$!:$WORK/$var.port:file"
}

CERTS=()
while IFS= read -r c; do CERTS+=("$c"); done < <("$BIN/matrix" --certs)
i=0
for c in "${CERTS[@]}"; do
    start_s_server "M_S_$i" "$c"
    start_python "M_P_$i" "$c"
    i=$((i + 1))
done
start_s_server T_PORT_R13 good -tls1_3
start_s_server T_PORT_R12 good -tls1_2
start_s_server T_PORT_R12_SID good -tls1_2 -no_ticket
start_s_server T_PORT_WN13 wrongname -tls1_3
start_s_server T_PORT_WN12 wrongname -tls1_2
start_s_server T_PORT_OSSL good
start_pq T_PORT_PQ good

declare -A PORT=()
await_peers() {   # fills PORT[VAR] for every peer started so far
    local var
    for var in "${!WAIT_FOR[@]}"; do
        [ -n "${PORT[$var]+set}" ] || await_peer "$var"
    done
}
await_peer() {    # VAR
    local var=$1 pid file kind port
    IFS=: read -r pid file kind <<<"${WAIT_FOR[$var]}"
    port=
    for _ in $(seq 1 200); do
        if [ "$kind" = s_server ]; then
            port=$(sed -n 's/^ACCEPT 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$file" 2>/dev/null | head -n 1)
        else
            port=$(cat "$file" 2>/dev/null)
        fi
        [ -n "$port" ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if [ -z "$port" ]; then
        cat "$LOGS/$var.log" "$LOGS/$var.stdout" 2>/dev/null | sed 's/^/   | /' >&2
        die "peer $var started"
    fi
    PORT[$var]=$port
}
await_peers
i=0
for c in "${CERTS[@]}"; do
    echo "$c ${PORT[M_S_$i]} ${PORT[M_P_$i]}"
    i=$((i + 1))
done >"$WORK/ports"
echo "# ${#CERTS[@]} certificates, $((${#CERTS[@]} * 2 + 7)) peers on 127.0.0.1; work directory $WORK"

export T_HOST=127.0.0.1
export T_PKI=$PKI
export SSL_CERT_FILE=$PKI/ca.pem
unset SSL_CERT_DIR SSLSOCK_CRL_FILE SSLSOCK_CLIENT_CERT SSLSOCK_CLIENT_KEY

# run_prog NAME OUTFILE CMD...: runs, echoes and counts its ok / not ok lines; RUN_TIMEOUT
# seconds at most (150).
run_prog() {
    local name=$1 out=$2
    shift 2
    local start rc pass fail secs
    start=$(date +%s.%N)
    timeout -k 2 "${RUN_TIMEOUT:-150}" "$@" </dev/null >"$out" 2>&1
    rc=$?
    secs=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
    grep -v -E '^# (CASE|CELL)	' "$out"
    pass=$(grep -c '^ok - ' "$out")
    fail=$(grep -c '^not ok - ' "$out")
    PASS=$((PASS + pass))
    FAIL=$((FAIL + fail))
    [ "$fail" -gt 0 ] && KEEP=1
    if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
        notok "$name: exited with status $rc without a 'not ok' line"
    elif [ "$pass" -eq 0 ]; then
        notok "$name: printed no check"
    fi
    echo "# $name: $pass passed, $fail failed (${secs}s, exit $rc)"
}

# ---- the matrix, one process per SSLSOCK_CRL_FILE group -------------------------
MATRIX_OUTS=()
while read -r _ group files; do
    crl=
    if [ "$files" != "-" ]; then
        IFS=: read -r -a parts <<<"$files"
        for f in "${parts[@]}"; do
            crl=${crl:+$crl:}$PKI/$f
        done
    fi
    echo "== matrix $group${crl:+ (SSLSOCK_CRL_FILE=$files)}"
    if [ -n "$crl" ]; then
        SSLSOCK_CRL_FILE=$crl run_prog "matrix $group" "$OUT/matrix-$group.out" \
            "$BIN/matrix" "$group" "$WORK/ports"
    else
        run_prog "matrix $group" "$OUT/matrix-$group.out" "$BIN/matrix" "$group" "$WORK/ports"
    fi
    MATRIX_OUTS+=("$OUT/matrix-$group.out")
done < <("$BIN/matrix" --groups)

# ---- protocols and resumption; key exchange ------------------------------------
echo "== resume"
# The shortlived certificate is made now (the matrix took its time): resume.c makes sessions with
# it first, runs its other checks, then waits until it has expired and connects again.
"$PYTHON" tests/pki/mkcerts.py --shortlived "$SHORTLIVED_SECONDS" "$PKI" ||
    die "tests/pki/mkcerts.py --shortlived $SHORTLIVED_SECONDS"
start_s_server T_PORT_SL13 shortlived -tls1_3
start_s_server T_PORT_SL12 shortlived -tls1_2
await_peers
T_PORT_R13=${PORT[T_PORT_R13]} T_PORT_R12=${PORT[T_PORT_R12]} \
T_PORT_R12_SID=${PORT[T_PORT_R12_SID]} T_PORT_WN13=${PORT[T_PORT_WN13]} \
T_PORT_WN12=${PORT[T_PORT_WN12]} T_PORT_SL13=${PORT[T_PORT_SL13]} \
T_PORT_SL12=${PORT[T_PORT_SL12]} T_SHORTLIVED_NOT_AFTER=$(cat "$PKI/shortlived.notafter") \
    RUN_TIMEOUT=$((150 + SHORTLIVED_SECONDS)) run_prog resume "$OUT/resume.out" "$BIN/resume"

echo "== pq"
T_PORT_PQ=${PORT[T_PORT_PQ]} T_PORT_OSSL=${PORT[T_PORT_OSSL]} T_PQ_LOG=$LOGS/T_PORT_PQ.log \
    run_prog pq "$OUT/pq.out" "$BIN/pq"

# ---- what the Python servers saw --------------------------------------------------
sleep 0.2
leaks=$(grep -h 'PLAINTEXT-LEAK' "$LOGS"/*.log 2>/dev/null | head -n 5)
if [ -z "$leaks" ]; then
    ok "no PLAINTEXT-LEAK in the Python servers' logs"
else
    notok "the Python servers saw plaintext after the handshake began: $leaks"
fi

# ---- the table ------------------------------------------------------------------------
if "$PYTHON" tests/certmatrix/mktable.py "${MATRIX_OUTS[@]}" >"$WORK/certificates.md"; then
    if [ "${CERTMATRIX_UPDATE:-0}" = 1 ]; then
        if cmp -s "$WORK/certificates.md" "$DOC"; then
            ok "docs/certificates.md is up to date (CERTMATRIX_UPDATE=1: nothing to write)"
        else
            cp "$WORK/certificates.md" "$DOC"
            ok "docs/certificates.md rewritten from this run (CERTMATRIX_UPDATE=1)"
        fi
    elif [ ! -f "$DOC" ]; then
        notok "docs/certificates.md exists (make it with CERTMATRIX_UPDATE=1 make certmatrix)"
    elif cmp -s "$WORK/certificates.md" "$DOC"; then
        ok "docs/certificates.md equals the table this run generated"
    else
        diff -u "$DOC" "$WORK/certificates.md" | head -n 60 | sed 's/^/   | /'
        notok "docs/certificates.md is stale: the run generated another table (CERTMATRIX_UPDATE=1 make certmatrix rewrites it; generated copy in $WORK/certificates.md)"
    fi
else
    notok "tests/certmatrix/mktable.py wrote the table"
fi

echo "# certmatrix took $(($(date +%s) - STARTED))s"
echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
