#!/usr/bin/env bash
# bench/run.sh - `make bench`: sslsock against OpenSSL, rustls-direct and plain TCP, on loopback.
#
#   bash bench/run.sh                 the full run (about 15 minutes on 2 cores)
#   BENCH_QUICK=1 bash bench/run.sh   a smoke run (about 2 minutes): smaller sizes, 3 runs
#
# Builds the library, examples/bench_server.rs, examples/bench_rustls_client.rs and the C clients
# (bench/sslsock_client.c, bench/openssl_client.c, both on bench/client_main.h), makes fresh test
# certificates (tests/pki/mkcerts.py), starts its own servers on 127.0.0.1 (one bench_server per
# configuration, the same server for every client of a comparison), runs every workload RUNS times
# with the clients in rotating order (so drift cancels), runs bench/preload.sh when it exists, and
# prints one table (bench/report.py), also written as bench/results/results.csv, results.md and
# chart.png. The raw figures of every run are in bench/results/raw.tsv. See docs/benchmarks.md.
#
# Environment (defaults in brackets; BENCH_QUICK=1 changes the defaults to the second value):
#   BENCH_RUNS [5 | 3]            runs per client and workload (the median is reported, with min-max)
#   BENCH_BULK_BYTES [1 GiB | 128 MiB]   per bulk run (download, upload, threads)
#   BENCH_PINGPONG_N [20000 | 5000]      round trips per ping-pong run
#   BENCH_HS_SECONDS [2.5 | 0.5]           seconds per handshake loop
#   BENCH_IDLE_SOCKETS [1000 | 1000]     idle secure sockets for the memory figure
#   BENCH_CONC_SOCKETS [10000 | 2000]    secure sockets open at once
#   BENCH_NODELAY [1]             1: every client sets TCP_NODELAY (see docs/benchmarks.md); 0: none
#   BENCH_PRELOAD [1]             0: skip bench/preload.sh (run with RUNS, its PINGPONG_N set to
#                                 BENCH_PRELOAD_PINGPONG_N [100000 | BENCH_PINGPONG_N], quick: its
#                                 TRANSFER_BYTES set to BENCH_BULK_BYTES)
#   BENCH_ONLY                    a space-separated subset of: bulk pingpong handshake memory
#                                 concurrent threads soak sserver preload
#   BENCH_SOAK_N [100000 | 10000] cycles of the soak test
#   BENCH_UNBUFFERED [1]          1: rustls' unbuffered API used directly (bench_rustls_client --unbuffered)
#                                 runs too, in bulk, pingpong and handshake, for the report's second table
#   BENCH_PIN [1]                 1: servers on CPU 0, clients on CPU 1 (taskset), so that a ping-pong
#                                 does not flip between one-CPU and two-CPU schedules from run to run
#   CC [cc], CARGO [cargo]
set -u
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
START=$(date +%s)
QUICK=${BENCH_QUICK:-0}
if [ "$QUICK" = 1 ]; then
    RUNS=${BENCH_RUNS:-3}
    BULK=${BENCH_BULK_BYTES:-134217728}
    PINGPONG_N=${BENCH_PINGPONG_N:-5000}
    HS_SECONDS=${BENCH_HS_SECONDS:-0.5}
    IDLE_N=${BENCH_IDLE_SOCKETS:-1000}
    CONC_N=${BENCH_CONC_SOCKETS:-2000}
else
    RUNS=${BENCH_RUNS:-5}
    BULK=${BENCH_BULK_BYTES:-1073741824}
    PINGPONG_N=${BENCH_PINGPONG_N:-20000}
    HS_SECONDS=${BENCH_HS_SECONDS:-2.5}
    IDLE_N=${BENCH_IDLE_SOCKETS:-1000}
    CONC_N=${BENCH_CONC_SOCKETS:-10000}
fi
NODELAY=${BENCH_NODELAY:-1}
ONLY=${BENCH_ONLY:-bulk pingpong handshake memory concurrent threads soak sserver preload}
CC=${CC:-cc}
CARGO=${CARGO:-cargo}
OUT=$ROOT/bench/results
BIN=$ROOT/target/bench
EX=$ROOT/target/release/examples
LIB=$ROOT/target/release/libsslsock.so

SRV_PIN=()
CLI_PIN=()
if [ "${BENCH_PIN:-1}" = 1 ] && command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
    SRV_PIN=(taskset -c 0)
    CLI_PIN=(taskset -c 1)
fi
want() { case " $ONLY " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
elapsed() { local s=$(($(date +%s) - START)); printf '%d:%02d' $((s / 60)) $((s % 60)); }
say() { echo "# [$(elapsed)] $*"; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sslsock-bench.XXXXXX") || exit 2
PIDS=()
cleanup() {
    local p
    for p in ${PIDS[@]+"${PIDS[@]}"}; do kill "$p" 2>/dev/null; done
    for p in ${PIDS[@]+"${PIDS[@]}"}; do wait "$p" 2>/dev/null; done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
unset LD_PRELOAD SSLSOCK_LOG SSLSOCK_LOG_FILE SSLKEYLOGFILE SSL_CERT_DIR SSLSOCK_STRICT_EOF

# ---- build ----
say "building (release): library, bench_server, bench_rustls_client, C clients"
"$CARGO" build --release --quiet && ln -sfn libsslsock.so target/release/libsslsock.so.1 || exit 2   # the soname link, as make lib
"$CARGO" build --release --quiet --example bench_server --example bench_rustls_client || exit 2
mkdir -p "$BIN" "$OUT"
CFLAGS=(-O2 -g -std=c99 -D_DEFAULT_SOURCE -Wall -Wextra)
"$CC" "${CFLAGS[@]}" -I include bench/sslsock_client.c -L target/release -lsslsock \
    -Wl,-rpath,"$ROOT/target/release" -lpthread -o "$BIN/sslsock_client" || exit 2
"$CC" "${CFLAGS[@]}" bench/openssl_client.c -lssl -lcrypto -lpthread -o "$BIN/openssl_client" || {
    echo "bench/run.sh: building the OpenSSL client failed: install libssl-dev (apt-get install libssl-dev)" >&2
    exit 2
}
. tests/python-env.sh || exit 2   # PYTHON: a Python with cryptography (target/pyenv when needed)
"$PYTHON" tests/pki/mkcerts.py "$WORK/pki" >/dev/null || exit 2
PKI=$WORK/pki

# ---- servers ----
# start_server NAME ARGS...: an instance of bench_server; its port lands in the variable PORT_NAME.
start_server() {
    local name=$1 port=
    shift
    ${SRV_PIN[@]+"${SRV_PIN[@]}"} "$EX/bench_server" "$@" --workers 2 --port-file "$WORK/$name.port" --stats-file "$WORK/$name.stats" \
        >"$WORK/$name.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 1 200); do
        port=$(cat "$WORK/$name.port" 2>/dev/null)
        [ -n "$port" ] && break
        sleep 0.05
    done
    [ -n "$port" ] || { echo "bench/run.sh: server $name did not start" >&2; cat "$WORK/$name.log" >&2; exit 1; }
    printf -v "PORT_$name" '%s' "$port"
}
ECDSA=(--cert "$PKI/good.pem" --key "$PKI/good.key")
RSA=(--cert "$PKI/good-rsa.pem" --key "$PKI/good-rsa.key")
start_server app13 "${ECDSA[@]}" --tls 13 --mode app
start_server plain --plain --mode app
start_server hs13e "${ECDSA[@]}" --tls 13 --mode handshake
start_server hs13r "${RSA[@]}" --tls 13 --mode handshake
start_server hs12e "${ECDSA[@]}" --tls 12 --mode handshake
start_server hs12r "${RSA[@]}" --tls 12 --mode handshake
start_server hsplain --plain --mode handshake

# ---- clients ----
ND=()
[ "$NODELAY" = 1 ] && ND=(--nodelay)
# client NAME: the command line of a client (without --port)
client_cmd() {
    case $1 in
        sslsock) CMD=(env SSL_CERT_FILE="$PKI/ca.pem" "$BIN/sslsock_client" ${ND[@]+"${ND[@]}"}) ;;
        openssl) CMD=("$BIN/openssl_client" ${ND[@]+"${ND[@]}"} --ca "$PKI/ca.pem") ;;
        rustls) CMD=("$EX/bench_rustls_client" ${ND[@]+"${ND[@]}"} --ca "$PKI/ca.pem") ;;
        rustlsub) CMD=("$EX/bench_rustls_client" ${ND[@]+"${ND[@]}"} --unbuffered --ca "$PKI/ca.pem") ;;
        plain) CMD=("$BIN/openssl_client" ${ND[@]+"${ND[@]}"} --plain) ;;
    esac
}

RAW=$OUT/raw.tsv
printf 'workload\tclient\trun\tresult\tserver\tinfo\n' >"$RAW"

stat_of() { sed -n "s/^$2 //p" "$WORK/$1.stats" 2>/dev/null | head -1; }

# measure WID CLIENT RUN SERVER WORKLOAD ARGS...: one run, one line of raw.tsv.
measure() {
    local wid=$1 cl=$2 run=$3 srv=$4 portvar port out result info f0 r0 f1 r1 sdelta=
    shift 4
    portvar=PORT_$srv
    port=${!portvar}
    client_cmd "$cl"
    if [ "${1:-}" = handshake ]; then f0=$(stat_of "$srv" full); r0=$(stat_of "$srv" resumed); fi
    out=$(timeout 180 ${CLI_PIN[@]+"${CLI_PIN[@]}"} "${CMD[@]}" --port "$port" "$@" 2>"$WORK/client.err")
    local rc=$?
    result=$(sed -n 's/^RESULT //p' <<<"$out")
    info=$(sed -n 's/^INFO //p' <<<"$out" | head -1)
    if [ $rc -ne 0 ] || [ -z "$result" ]; then
        echo "#   FAILED: $wid $cl run $run (exit $rc): $(tr '\n' ' ' <"$WORK/client.err" | cut -c1-300)" >&2
        result="failed=1"
    fi
    if [ "${1:-}" = handshake ]; then
        sleep 0.15
        f1=$(stat_of "$srv" full); r1=$(stat_of "$srv" resumed)
        sdelta="full=$((f1 - f0)) resumed=$((r1 - r0))"
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$wid" "$cl" "$run" "$result" "$sdelta" "$info" >>"$RAW"
}

# series WID "CLIENTS" SERVER_TLS SERVER_PLAIN WORKLOAD ARGS...: RUNS runs of each client, rotating.
series() {
    local wid=$1 clients=($2) stls=$3 splain=$4 n i k cl srv
    shift 4
    n=${#clients[@]}
    for i in $(seq 1 "$RUNS"); do
        for k in $(seq 0 $((n - 1))); do
            cl=${clients[$(((k + i - 1) % n))]}
            srv=$stls
            [ "$cl" = plain ] && srv=$splain
            measure "$wid" "$cl" "$i" "$srv" "$@"
        done
    done
}

ALL="sslsock openssl rustls plain"
TLS3="sslsock openssl rustls"
# rustls' unbuffered API as a fifth client (BENCH_UNBUFFERED=1), in the rows of the report's second table.
UB=
[ "${BENCH_UNBUFFERED:-1}" = 1 ] && UB=" rustlsub"
say "$(nproc) CPUs$([ ${#CLI_PIN[@]} -gt 0 ] && echo ' (servers pinned to CPU 0, clients to CPU 1)'), $(uname -r), $(openssl version), runs=$RUNS, bulk=$BULK bytes, nodelay=$NODELAY${QUICK:+, quick=$QUICK}"

if want bulk; then
    for spec in "dl16k download 16384" "dl1k download 1024" "ul16k upload 16384" "ul1k upload 1024"; do
        set -- $spec
        say "bulk: $2 $BULK bytes in $3-byte calls"
        series "$1" "$ALL$UB" app13 plain "$2" "$BULK" "$3"
    done
fi
if want pingpong; then
    say "ping-pong: $PINGPONG_N round trips of 1 byte"
    series pingpong "$ALL$UB" app13 plain pingpong "$PINGPONG_N"
fi
if want handshake; then
    for v in 13 12; do
        for k in e r; do
            for m in full resume; do
                say "handshakes: TLS 1.${v#1} $([ $k = e ] && echo ECDSA || echo RSA) $m, ${HS_SECONDS}s loops"
                series "hs_${m}_${v}_${k}" "$TLS3$UB" "hs$v$k" - handshake "$HS_SECONDS" "$m"
            done
        done
    done
    say "TCP connect/close: ${HS_SECONDS}s loops"
    series tcp_connect plain - hsplain handshake "$HS_SECONDS" full
fi
if want memory; then
    say "memory: $IDLE_N idle secure sockets"
    series memory "$ALL" app13 plain many "$IDLE_N"
fi
if want concurrent; then
    say "concurrency: $CONC_N secure sockets open at once"
    series concurrent "$ALL" app13 plain many "$CONC_N"
fi
if want threads; then
    for t in 2 8 64; do
        say "threads: $t threads, each its own socket, $BULK bytes in all, 16 KiB calls"
        series "threads$t" "$ALL" app13 plain threads "$t" "$BULK" 16384
    done
fi
if want soak; then
    # Issue 7: no growth over many connect/handshake/close cycles (one run per client: it is long).
    SOAK_N=${BENCH_SOAK_N:-$([ "$QUICK" = 1 ] && echo 10000 || echo 100000)}
    say "soak: $SOAK_N connect/handshake/round trip/close cycles"
    for cl in sslsock openssl; do
        measure soak "$cl" 1 app13 soak "$SOAK_N"
    done
fi
if want sserver; then
    # The issue's own check: the two C clients alternately against one `openssl s_server -WWW`.
    mkdir -p "$WORK/www"
    head -c 268435456 /dev/zero >"$WORK/www/big"
    printf 'hi\n' >"$WORK/www/small"
    PORT_sserver=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    (cd "$WORK/www" && exec ${SRV_PIN[@]+"${SRV_PIN[@]}"} openssl s_server -quiet -WWW -accept "127.0.0.1:$PORT_sserver" \
        -cert "$PKI/good.pem" -key "$PKI/good.key") >"$WORK/sserver.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$PORT_sserver") 2>/dev/null && break
        sleep 0.05
    done
    say "openssl s_server -WWW: GET 256 MiB in 16 KiB recv calls, ${HS_SECONDS}s loops"
    series ss_dl "$TLS3" sserver - www big 16384 "$HS_SECONDS" full
    say "openssl s_server -WWW: full handshakes (GET of 3 bytes), ${HS_SECONDS}s loops"
    series ss_hs "$TLS3" sserver - www small 4096 "$HS_SECONDS" full
fi
rm -f "$OUT/preload.csv.used"
if want preload && [ "${BENCH_PRELOAD:-1}" = 1 ]; then
    if [ -f bench/preload.sh ]; then
        say "preload overhead on plain sockets: bench/preload.sh"
        if [ "$QUICK" = 1 ]; then
            RUNS=$RUNS PINGPONG_N=${PINGPONG_N:-20000} TRANSFER_BYTES=$BULK bash bench/preload.sh >"$OUT/preload.log" 2>&1
        else
            RUNS=$RUNS PINGPONG_N=${BENCH_PRELOAD_PINGPONG_N:-100000} bash bench/preload.sh >"$OUT/preload.log" 2>&1
        fi
        rc=$?
        sed 's/^/#   /' "$OUT/preload.log"
        [ $rc -eq 0 ] && [ -f "$OUT/preload.csv" ] && touch "$OUT/preload.csv.used"
    else
        say "bench/preload.sh not present: no preload rows"
    fi
fi

for s in hs13e hs13r hs12e hs12r; do
    h=$(stat_of "$s" hrr)
    [ "${h:-0}" != 0 ] && say "warning: server $s saw $h HelloRetryRequests"
done
say "measurements done; report"
{
    echo "cpus=$(nproc)"
    echo "kernel=$(uname -r)"
    echo "openssl=$(openssl version)"
    echo "rustc=$(rustc --version 2>/dev/null)"
    echo "runs=$RUNS"
    echo "bulk_bytes=$BULK"
    echo "pingpong_n=$PINGPONG_N"
    echo "hs_seconds=$HS_SECONDS"
    echo "idle_sockets=$IDLE_N"
    echo "conc_sockets=$CONC_N"
    echo "soak_n=${SOAK_N:-0}"
    echo "nodelay=$NODELAY"
    echo "pinned=$([ ${#CLI_PIN[@]} -gt 0 ] && echo 'servers CPU 0, clients CPU 1' || echo no)"
    echo "quick=$QUICK"
    echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "library=$(stat -c %y "$LIB" | cut -d. -f1)"
    echo "git=$(git describe --always --dirty 2>/dev/null)"
} >"$OUT/meta.txt"
python3 bench/report.py "$OUT" || exit 1
echo "# total time $(elapsed)"
