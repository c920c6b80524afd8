#!/usr/bin/env bash
# Runs the C test programs of c-tests/ against real TLS peers on loopback (docs/testing.md).
#
#   bash tests/run-c-tests.sh            # every c-tests/*.c, sorted
#   bash tests/run-c-tests.sh NAME       # only c-tests/NAME.c (NAME, NAME.c or c-tests/NAME.c)
#   bash tests/run-c-tests.sh DIR        # every DIR/*.c and DIR/*.cpp (e.g. c-tests/legacy, see tests/legacy.sh)
#   bash tests/run-c-tests.sh PATH.cpp   # any program by its path (.cpp: built with $CXX -std=c++17)
#
# Assumes `make` built target/release/libsslsock.so. Makes fresh certificates
# (tests/pki/mkcerts.py) and a document root in a temporary directory, starts
# openssl s_server peers, tests/servers/starttls_server.py,
# tests/servers/stall_server.py and tests/servers/hostile_server.py on free
# 127.0.0.1 ports, exports T_HOST, T_PKI, SSL_CERT_FILE, T_DOCROOT, T_PORT_*,
# T_STARTTLS_LOG, T_STARTTLS_UNTRUSTED_LOG and T_HOSTILE_LOG, builds and
# runs each program (60 s limit each), counts its "ok - " / "not ok - " lines,
# fails the run on any PLAINTEXT-LEAK in the server logs, and ends with the
# line "N passed, N failed".
#
# Environment: PYTHON (default python3), CC (default cc), CXX (default g++), T_TIMEOUT (default 60),
# T_CSTD (C language flags, default "-std=c99 -D_DEFAULT_SOURCE"), T_CFLAGS (extra compiler flags), T_LIBDIR (the
# directory of the libsslsock.so to test, default target/release), T_SKIP (program names left out, with
# the line "# skipped NAME: $T_SKIP_WHY"; tests/cross.sh),
# T_KEEP=1 keeps the work directory (it is kept anyway when something failed).

set -u

cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
. tests/python-env.sh || exit 2   # PYTHON: a Python with cryptography (target/pyenv when needed)
CC=${CC:-cc}
CXX=${CXX:-g++}
T_CSTD=${T_CSTD:--std=c99 -D_DEFAULT_SOURCE}
T_CFLAGS=${T_CFLAGS:-}
T_TIMEOUT=${T_TIMEOUT:-60}
# How long the line server waits for a client to speak first (immediate TLS) before it greets; a
# program slowed down by T_WRAP (valgrind) needs longer.
GREET_WAIT=${T_GREET_WAIT:-$([ -n "${T_WRAP:-}" ] && echo 5 || echo 0.25)}
# T_LIBDIR: another build of the library (tests/asan.sh points it at target/asan/...).
LIBDIR=${T_LIBDIR:-$ROOT/target/release}

if [ ! -f "$LIBDIR/libsslsock.so" ]; then
    echo "run-c-tests: $LIBDIR/libsslsock.so is missing: run make first" >&2
    exit 2
fi
if ! "$PYTHON" -c 'import cryptography' 2>/dev/null; then
    echo "run-c-tests: $PYTHON does not import cryptography (tests/python-env.sh)" >&2
    exit 2
fi

# ---- which programs ---------------------------------------------------------
PROGRAMS=()
if [ $# -ge 1 ]; then
    for arg in "$@"; do
        if [ -d "$arg" ]; then
            while IFS= read -r f; do
                PROGRAMS+=("$f")
            done < <(LC_ALL=C ls "${arg%/}"/*.c "${arg%/}"/*.cpp 2>/dev/null | LC_ALL=C sort)
            continue
        elif [ -f "$arg" ] && [[ $arg == */* ]]; then
            PROGRAMS+=("$arg")
            continue
        fi
        n=${arg##*/}
        n=${n%.c}
        if [ ! -f "c-tests/$n.c" ]; then
            echo "run-c-tests: no such program: c-tests/$n.c" >&2
            exit 2
        fi
        PROGRAMS+=("c-tests/$n.c")
    done
else
    while IFS= read -r f; do
        PROGRAMS+=("$f")
    done < <(LC_ALL=C ls c-tests/*.c 2>/dev/null | LC_ALL=C sort)
fi
if [ ${#PROGRAMS[@]} -eq 0 ]; then
    echo "run-c-tests: no C test programs in c-tests/" >&2
    echo "0 passed, 1 failed"
    exit 1
fi

# ---- work directory and cleanup -------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sslsock-ctests.XXXXXX") || exit 2
PKI=$WORK/pki
DOCROOT=$WORK/docroot
LOGS=$WORK/logs
BIN=$WORK/bin
OUT=$WORK/out
mkdir -p "$PKI" "$DOCROOT" "$LOGS" "$BIN" "$OUT"

SERVER_PIDS=()
KEEP=${T_KEEP:-0}
cleanup() {
    local p
    for p in "${SERVER_PIDS[@]+"${SERVER_PIDS[@]}"}"; do
        kill "$p" 2>/dev/null
    done
    for p in "${SERVER_PIDS[@]+"${SERVER_PIDS[@]}"}"; do
        wait "$p" 2>/dev/null
    done
    if [ "$KEEP" = 1 ]; then
        echo "run-c-tests: work directory kept: $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

die() {
    echo "run-c-tests: $*" >&2
    KEEP=1
    echo "0 passed, 1 failed"
    exit 1
}

# ---- certificates and document root ----------------------------------------
"$PYTHON" tests/pki/mkcerts.py "$PKI" || die "mkcerts.py failed"
printf '<html><body>sslsock test page</body></html>\n' > "$DOCROOT/index.html"
"$PYTHON" -c '
import sys
pattern = bytes(((i * 7 + 3) & 0xFF) for i in range(256))
open(sys.argv[1], "wb").write(pattern * 4096)
' "$DOCROOT/big.bin" || die "cannot write big.bin"

# ---- peers ------------------------------------------------------------------
# start_s_server VAR CERTNAME [s_server options...]: openssl s_server -WWW on a
# port the kernel picks (127.0.0.1:0); the port is read from its ACCEPT line.
declare -A PORT_LOG=()
start_s_server() {
    local var=$1 cert=$2
    shift 2
    local log=$LOGS/$var.log
    local chain=()
    if [ -f "$PKI/$cert.issuers.pem" ]; then
        chain=(-cert_chain "$PKI/$cert.issuers.pem")
    fi
    (cd "$DOCROOT" && exec openssl s_server -accept 127.0.0.1:0 \
        -cert "$PKI/$cert.pem" -key "$PKI/$cert.key" ${chain[@]+"${chain[@]}"} -WWW "$@") \
        </dev/null >"$log" 2>&1 &
    SERVER_PIDS+=($!)
    PORT_LOG[$var]="$!:$log:s_server"
}

start_starttls() {
    local var=$1 cert=$2
    local log=$LOGS/$var.log
    "$PYTHON" tests/servers/starttls_server.py --port 0 --port-file "$WORK/$var.port" \
        --cert "$PKI/$cert.pem" --key "$PKI/$cert.key" --log "$log" --greet-wait "$GREET_WAIT" \
        </dev/null >"$LOGS/$var.stdout" 2>&1 &
    SERVER_PIDS+=($!)
    PORT_LOG[$var]="$!:$WORK/$var.port:starttls"
}

# start_stall VAR: tests/servers/stall_server.py (accepts, never reads nor writes).
start_stall() {
    local var=$1
    local log=$LOGS/$var.log
    "$PYTHON" tests/servers/stall_server.py --port 0 --port-file "$WORK/$var.port" --log "$log" \
        </dev/null >"$LOGS/$var.stdout" 2>&1 &
    SERVER_PIDS+=($!)
    PORT_LOG[$var]="$!:$WORK/$var.port:stall"
}

# start_hostile VAR: tests/servers/hostile_server.py (misbehaving TLS server, certificates under the test CA).
start_hostile() {
    local var=$1
    local log=$LOGS/$var.log
    "$PYTHON" tests/servers/hostile_server.py --port 0 --port-file "$WORK/$var.port" --pki "$PKI" \
        --log "$log" </dev/null >"$LOGS/$var.stdout" 2>&1 &
    SERVER_PIDS+=($!)
    PORT_LOG[$var]="$!:$WORK/$var.port:hostile"
}

start_s_server T_PORT_HTTPS good
start_s_server T_PORT_TLS12 good -tls1_2
start_s_server T_PORT_TLS13 good -tls1_3
start_s_server T_PORT_RSA good-rsa
start_s_server T_PORT_WRONGNAME wrongname
start_s_server T_PORT_SELFSIGNED selfsigned
start_s_server T_PORT_EXPIRED expired
start_s_server T_PORT_UNTRUSTED untrusted
start_s_server T_PORT_WILDCARD wildcard
start_starttls T_PORT_STARTTLS good
start_starttls T_PORT_STARTTLS_UNTRUSTED untrusted
start_stall T_PORT_STALL
start_hostile T_PORT_HOSTILE

# Wait (up to 15 s) until every peer listens, and export its port.
for var in "${!PORT_LOG[@]}"; do
    IFS=: read -r pid file kind <<<"${PORT_LOG[$var]}"
    port=
    for _ in $(seq 1 150); do
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
        echo "--- log of $var:" >&2
        cat "$LOGS/$var.log" "$LOGS/$var.stdout" 2>/dev/null >&2
        die "peer $var did not start"
    fi
    export "$var=$port"
done

export T_HOST=127.0.0.1
export T_PKI=$PKI
export T_DOCROOT=$DOCROOT
export SSL_CERT_FILE=$PKI/ca.pem
export T_STARTTLS_LOG=$LOGS/T_PORT_STARTTLS.log
export T_STARTTLS_UNTRUSTED_LOG=$LOGS/T_PORT_STARTTLS_UNTRUSTED.log
export T_HOSTILE_LOG=$LOGS/T_PORT_HOSTILE.log
unset SSL_CERT_DIR

echo "# peers on 127.0.0.1:$(for v in $(printf '%s\n' "${!PORT_LOG[@]}" | sort); do printf ' %s=%s' "${v#T_PORT_}" "${!v}"; done)"
echo "# work directory $WORK"

# ---- build and run each program ---------------------------------------------
TOTAL_PASS=0
TOTAL_FAIL=0
RESULTS=()

for src in "${PROGRAMS[@]}"; do
    name=$(basename "$src")
    name=${name%.c}
    name=${name%.cpp}
    bin=$BIN/$name
    out=$OUT/$name.out
    if [[ " ${T_SKIP:-} " == *" $name "* ]]; then
        echo "# skipped $name: ${T_SKIP_WHY:-T_SKIP}"
        continue
    fi
    extra=()
    if head -n 20 "$src" | grep -qF '/* needs: -lcrypto */'; then
        extra=(-lcrypto)
    fi
    echo "== $name"
    if [[ $src == *.cpp ]]; then
        compile=("$CXX" -std=c++17)
    else
        # shellcheck disable=SC2206
        compile=("$CC" $T_CSTD)
    fi
    # shellcheck disable=SC2086
    if ! "${compile[@]}" -Wall -Werror $T_CFLAGS -I include -I c-tests "$src" -o "$bin" \
        -L "$LIBDIR" -lsslsock -lpthread "${extra[@]+"${extra[@]}"}" -Wl,-rpath,"$LIBDIR" \
        >"$OUT/$name.build" 2>&1; then
        sed 's/^/   | /' "$OUT/$name.build"
        echo "not ok - $name: does not compile"
        TOTAL_FAIL=$((TOTAL_FAIL + 1))
        RESULTS+=("$(printf '%-32s 0 passed, 1 failed (does not compile)' "$name")")
        continue
    fi

    start=$(date +%s.%N)
    # T_WRAP runs each program under a tool, e.g. T_WRAP="valgrind --tool=helgrind --error-exitcode=99".
    # shellcheck disable=SC2086
    timeout -k 2 "$T_TIMEOUT" ${T_WRAP:-} "$bin" </dev/null >"$out" 2>&1
    rc=$?
    secs=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
    cat "$out"

    pass=$(grep -c '^ok - ' "$out")
    fail=$(grep -c '^not ok - ' "$out")
    note=""
    timed_out=0
    if [ "$rc" -eq 124 ]; then
        timed_out=1
    elif [ "$rc" -eq 137 ] && awk -v s="$secs" -v t="$T_TIMEOUT" 'BEGIN { exit !(s >= t) }'; then
        timed_out=1   # did not stop on SIGTERM: timeout -k sent SIGKILL
    fi
    if [ "$timed_out" -eq 1 ]; then
        note="timed out after ${T_TIMEOUT}s"
    elif [ "$rc" -gt 128 ]; then
        note="crashed: killed by signal $((rc - 128)) (SIG$(kill -l $((rc - 128)) 2>/dev/null))"
    elif [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
        note="exited with status $rc without a 'not ok' line"
    elif [ "$pass" -eq 0 ] && [ "$fail" -eq 0 ]; then
        note="printed no check"
    fi
    if [ -n "$note" ]; then
        echo "not ok - $name: $note"
        fail=$((fail + 1))
    fi
    TOTAL_PASS=$((TOTAL_PASS + pass))
    TOTAL_FAIL=$((TOTAL_FAIL + fail))
    RESULTS+=("$(printf '%-32s %d passed, %d failed (%ss, exit %d)%s' "$name" "$pass" "$fail" "$secs" "$rc" "${note:+: $note}")")
done

# ---- plaintext leaks seen by the servers -----------------------------------
sleep 0.2   # let the servers log what the last program sent
LEAKS=0
while IFS= read -r line; do
    [ -n "$line" ] || continue
    echo "not ok - server saw plaintext after the handshake began: $line"
    LEAKS=$((LEAKS + 1))
done < <(grep -h 'PLAINTEXT-LEAK' "$LOGS"/*.log 2>/dev/null)
TOTAL_FAIL=$((TOTAL_FAIL + LEAKS))

echo
echo "# results"
for r in "${RESULTS[@]}"; do
    echo "  $r"
done
if [ "$LEAKS" -gt 0 ]; then
    echo "  PLAINTEXT-LEAK in server logs: $LEAKS"
fi
if [ "$TOTAL_FAIL" -gt 0 ]; then
    KEEP=1
fi
echo "$TOTAL_PASS passed, $TOTAL_FAIL failed"
[ "$TOTAL_FAIL" -eq 0 ]
