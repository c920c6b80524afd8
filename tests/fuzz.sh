#!/usr/bin/env bash
# The cargo-fuzz targets of fuzz/ (docs/testing.md, "Fuzzing"): builds them (cargo +nightly fuzz build,
# AddressSanitizer, target dir fuzz/target) and runs each for SECONDS, printing executions per target.
#
#   bash tests/fuzz.sh [SECONDS] [TARGET...]     # default 20 s, every target
#
# FUZZ_CORPUS=fresh (the default for `make fuzz-smoke`) starts each run from the committed seeds in a
# temporary corpus; FUZZ_CORPUS=keep (`make fuzz`) grows fuzz/target/corpus/<target>/ across runs.
# A crash (panic, failed assertion, sanitizer report, a call over 2 s, a timeout, out of memory) fails
# the run; its input is kept in fuzz/artifacts/<target>/ and replayed with
#   fuzz/target/x86_64-unknown-linux-gnu/release/<target> fuzz/artifacts/<target>/<file>
# Skips (exit 0 with a note) where no nightly toolchain or no cargo-fuzz exists.
set -u
cd "$(dirname "$0")/.." || exit 2
SECS=${1:-20}
shift $(( $# > 0 ? 1 : 0 ))
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(ioctl sockopt names sequence crack)
MODE=${FUZZ_CORPUS:-fresh}

if ! rustc +nightly --version >/dev/null 2>&1; then
    echo "# skip: no nightly Rust toolchain (cargo fuzz needs one)"; exit 0
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "# skip: cargo-fuzz is not installed (cargo install cargo-fuzz --locked)"; exit 0
fi

WORK=$(mktemp -d /tmp/sslsock-fuzz.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
start=$(date +%s)
if ! cargo +nightly fuzz build --fuzz-dir fuzz >"$WORK/build.log" 2>&1; then
    tail -30 "$WORK/build.log"
    echo "not ok - cargo fuzz build"
    echo "0 passed, 1 failed"
    exit 1
fi
echo "# fuzz targets built in $(( $(date +%s) - start )) s"

BIN=fuzz/target/x86_64-unknown-linux-gnu/release
pass=0 fail=0
for t in "${TARGETS[@]}"; do
    seeds=fuzz/corpus/$t
    if [ "$MODE" = keep ]; then
        corpus=fuzz/target/corpus/$t
    else
        corpus=$WORK/corpus-$t
    fi
    mkdir -p "$corpus" "fuzz/artifacts/$t"
    # -timeout: one input (the sequence target's longest is ~40 calls of at most 2 s each).
    "$BIN/$t" -max_total_time="$SECS" -timeout=90 -rss_limit_mb=3072 -print_final_stats=1 \
        -artifact_prefix="fuzz/artifacts/$t/" "$corpus" "$seeds" >"$WORK/$t.log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$WORK/$t.log" | tail -1)
    secs=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$WORK/$t.log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$WORK/$t.log" | tail -1)
    if [ "$rc" -eq 0 ]; then
        echo "ok - fuzz $t: ${runs:-?} executions in ${SECS} s (${secs:-?}/s, ${cov:-cov ?}), no crash"
        pass=$((pass + 1))
    else
        grep -E -A25 "panicked at|ERROR: AddressSanitizer|ERROR: libFuzzer|SUMMARY|sslsock-fuzz:" "$WORK/$t.log" | head -60
        echo "not ok - fuzz $t: exit $rc after ${runs:-?} executions; input kept in fuzz/artifacts/$t/:"
        ls -t "fuzz/artifacts/$t" | head -3 | sed 's/^/#   /'
        fail=$((fail + 1))
    fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
