#!/usr/bin/env bash
# bench/preload.sh - what the preload costs plain sockets (issue 3, item 6).
#
#   bash bench/preload.sh          (make bench-preload)
#
# Two loopback benchmarks of bench/netbench.c, a program that knows nothing of sslsock, each run
# RUNS times without and with tools/sslsock-run (server and client both preloaded, or neither),
# alternating which goes first, after one untimed warm-up of each:
#   pingpong   PINGPONG_N round trips of a 1-byte message (send/recv, TCP_NODELAY)
#   epoll      PINGPONG_N round trips as pingpong, each side waiting in a level-triggered epoll_wait
#              before each recv (an epoll-driven plain echo: epoll is interposed)
#   transfer   TRANSFER_BYTES (1 GiB) one way in 128 KiB write(2)s, read(2) by the server
# Prints a table with the medians and the ratio preload / no preload (time; above 1 = slower) and
# writes bench/results/preload.csv. Goal: ping-pong and epoll ratios <= 1.02 (at most 2 % overhead).
# Environment: KINDS (pingpong epoll transfer), RUNS (5), PINGPONG_N (200000), TRANSFER_BYTES (1073741824), CC (cc),
# BENCH_PIN: same (default: server and client both on CPU 0), split (server on CPU 1, client on
# CPU 0) or none (taskset is not used).
set -u
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
RUN=$ROOT/tools/sslsock-run
LIB=${SSLSOCK_LIB:-$ROOT/target/release/libsslsock.so}
RUNS=${RUNS:-5}
PINGPONG_N=${PINGPONG_N:-200000}
TRANSFER_BYTES=${TRANSFER_BYTES:-1073741824}
CC=${CC:-cc}
OUT=$ROOT/bench/results/preload.csv

[ -f "$LIB" ] || { echo "bench/preload.sh: $LIB is missing: run make first" >&2; exit 2; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sslsock-bench.XXXXXX") || exit 2
SPID=
cleanup() { [ -n "$SPID" ] && kill "$SPID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
unset LD_PRELOAD SSLSOCK_LOG

"$CC" -O2 -Wall -o "$WORK/netbench" bench/netbench.c || exit 2
NB=$WORK/netbench
# CPU placement. On this class of machine (a 2-vCPU VM) a wake-up across CPUs costs ~60 us and
# unpinned runs land either way (3 to 12 s for the same 200 000 round trips), which drowns a 2 %
# effect; with both processes on one CPU a round trip is ~14 us and repeats within ~3 %.
BENCH_PIN=${BENCH_PIN:-same}
PIN_S=() PIN_C=()
if command -v taskset >/dev/null; then
    case $BENCH_PIN in
        same) PIN_S=(taskset -c 0); PIN_C=(taskset -c 0) ;;
        split) PIN_S=(taskset -c 1); PIN_C=(taskset -c 0) ;;
        none) ;;
        *) echo "bench/preload.sh: BENCH_PIN is same, split or none" >&2; exit 2 ;;
    esac
else
    BENCH_PIN=none
fi

# measure KIND WRAP: one run; prints the client's seconds.
measure() {
    local kind=$1 wrap=$2 server client arg port out
    case $kind in
        pingpong) server=pingpong-server client=pingpong-client arg=$PINGPONG_N ;;
        epoll) server=epoll-server client=epoll-client arg=$PINGPONG_N ;;
        transfer) server=sink-server client=source-client arg=$TRANSFER_BYTES ;;
    esac
    rm -f "$WORK/server.out"
    ${PIN_S[@]+"${PIN_S[@]}"} ${wrap:+"$wrap"} "$NB" "$server" >"$WORK/server.out" 2>&1 &
    SPID=$!
    port=
    for _ in $(seq 1 100); do
        port=$(sed -n 's/^PORT //p' "$WORK/server.out" 2>/dev/null)
        [ -n "$port" ] && break
        sleep 0.05
    done
    [ -n "$port" ] || { echo "bench/preload.sh: $kind server did not start" >&2; cat "$WORK/server.out" >&2; exit 1; }
    out=$(${PIN_C[@]+"${PIN_C[@]}"} ${wrap:+"$wrap"} "$NB" "$client" "$port" "$arg") ||
        { echo "bench/preload.sh: $kind client failed${wrap:+ (preloaded)}: $out" >&2; exit 1; }
    wait "$SPID" || { echo "bench/preload.sh: $kind server failed${wrap:+ (preloaded)}" >&2; cat "$WORK/server.out" >&2; exit 1; }
    SPID=
    sed -n 's/^SECONDS //p' <<<"$out"
}

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.6f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "# sslsock preload overhead on plain sockets: $RUNS runs each, alternating; $(nproc) CPUs, placement $BENCH_PIN; $(uname -r)"
echo "# library: $LIB ($(stat -c %y "$LIB" | cut -d. -f1))"
mkdir -p "$(dirname "$OUT")"
echo "benchmark,unit,runs,cpu_placement,no_preload_median_s,preload_median_s,ratio,no_preload_runs_s,preload_runs_s" >"$OUT"
printf '%-10s %-26s %14s %14s %8s %s\n' benchmark size "no preload" preload ratio note
for kind in ${KINDS:-pingpong epoll transfer}; do
    measure "$kind" "" >/dev/null
    measure "$kind" "$RUN" >/dev/null
    plain=() pre=()
    for i in $(seq 1 "$RUNS"); do
        if [ $((i % 2)) -eq 1 ]; then
            plain+=("$(measure "$kind" "")"); pre+=("$(measure "$kind" "$RUN")")
        else
            pre+=("$(measure "$kind" "$RUN")"); plain+=("$(measure "$kind" "")")
        fi
    done
    mp=$(median "${plain[@]}"); mq=$(median "${pre[@]}")
    ratio=$(awk -v a="$mp" -v b="$mq" 'BEGIN { printf "%.4f", b / a }')
    if [ "$kind" != transfer ]; then
        size="$PINGPONG_N round trips"
        a=$(awk -v t="$mp" -v n="$PINGPONG_N" 'BEGIN { printf "%.2f us/rt", t / n * 1e6 }')
        b=$(awk -v t="$mq" -v n="$PINGPONG_N" 'BEGIN { printf "%.2f us/rt", t / n * 1e6 }')
        note=$(awk -v r="$ratio" 'BEGIN { print (r <= 1.02 ? "goal <= 1.02 met" : "goal <= 1.02 NOT met") }')
        unit="seconds for $PINGPONG_N round trips"
    else
        size="$((TRANSFER_BYTES / 1048576)) MiB one way"
        a=$(awk -v t="$mp" -v n="$TRANSFER_BYTES" 'BEGIN { printf "%.0f MiB/s", n / t / 1048576 }')
        b=$(awk -v t="$mq" -v n="$TRANSFER_BYTES" 'BEGIN { printf "%.0f MiB/s", n / t / 1048576 }')
        note="(time ratio)"
        unit="seconds for $TRANSFER_BYTES bytes"
    fi
    printf '%-10s %-26s %14s %14s %8s %s\n' "$kind" "$size" "$a" "$b" "$ratio" "$note"
    echo "#   runs (s) no preload: ${plain[*]}; preload: ${pre[*]}"
    echo "$kind,$unit,$RUNS,$BENCH_PIN,$mp,$mq,$ratio,${plain[*]},${pre[*]}" >>"$OUT"
done
echo "# written: ${OUT#"$ROOT"/}"
