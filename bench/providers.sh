#!/usr/bin/env bash
# The crypto-provider choice, measured (docs/benchmarks.md, "Crypto provider"): the same sslsock
# benchmark client (bench/sslsock_client.c) run against libsslsock built on aws-lc-rs (the default
# feature) and on ring (`--no-default-features --features ring`, built into target/ring), alternately,
# against one bench_server per configuration. Prints a Markdown table and writes
# bench/results/providers.md.
#
#   bash bench/providers.sh              # BENCH_RUNS (5) runs each, 512 MiB transfers, 1.5 s handshake loops
#   BENCH_QUICK=1 bash bench/providers.sh
set -u
cd "$(dirname "$0")/.." || exit 2
. tests/python-env.sh || exit 2   # PYTHON: a Python with cryptography (target/pyenv when needed)
ROOT=$PWD
CARGO=${CARGO:-cargo}
CC=${CC:-cc}
if [ -n "${BENCH_QUICK:-}" ]; then
    RUNS=${BENCH_RUNS:-3} BULK=${BENCH_BULK_BYTES:-134217728} HS=${BENCH_HS_SECONDS:-0.5}
else
    RUNS=${BENCH_RUNS:-5} BULK=${BENCH_BULK_BYTES:-536870912} HS=${BENCH_HS_SECONDS:-1.5}
fi
OUT=$ROOT/bench/results
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sslsock-providers.XXXXXX") || exit 2
PIDS=()
cleanup() {
    local p
    for p in ${PIDS[@]+"${PIDS[@]}"}; do kill "$p" 2>/dev/null; done
    for p in ${PIDS[@]+"${PIDS[@]}"}; do wait "$p" 2>/dev/null; done
    rm -rf "$WORK"
}
trap cleanup EXIT
unset LD_PRELOAD SSLSOCK_LOG SSLSOCK_LOG_FILE SSLKEYLOGFILE SSL_CERT_DIR

echo "# building: aws-lc-rs (target/release) and ring (target/ring)" >&2
"$CARGO" build --release --quiet || exit 2
"$CARGO" build --release --quiet --example bench_server || exit 2
CARGO_TARGET_DIR=$ROOT/target/ring "$CARGO" build --release --quiet --no-default-features --features ring || exit 2
for p in aws-lc-rs ring; do
    mkdir -p "$WORK/$p"
    src=$ROOT/target/release/libsslsock.so
    [ $p = ring ] && src=$ROOT/target/ring/release/libsslsock.so
    cp "$src" "$WORK/$p/libsslsock.so.1"
    ln -s libsslsock.so.1 "$WORK/$p/libsslsock.so"
done
"$CC" -O2 -std=c99 -D_DEFAULT_SOURCE -I include bench/sslsock_client.c -L "$WORK/aws-lc-rs" -lsslsock -lpthread \
    -o "$WORK/client" || exit 2
"$PYTHON" tests/pki/mkcerts.py "$WORK/pki" >/dev/null || exit 2

start() { # NAME ARGS...
    local name=$1 port=
    shift
    "$ROOT/target/release/examples/bench_server" "$@" --workers 2 --port-file "$WORK/$name.port" >"$WORK/$name.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 1 200); do
        port=$(cat "$WORK/$name.port" 2>/dev/null) && [ -n "$port" ] && break
        sleep 0.05
    done
    [ -n "$port" ] || { echo "server $name did not start" >&2; exit 1; }
    printf -v "PORT_$name" '%s' "$port"
}
E=(--cert "$WORK/pki/good.pem" --key "$WORK/pki/good.key")
R=(--cert "$WORK/pki/good-rsa.pem" --key "$WORK/pki/good-rsa.key")
start app "${E[@]}" --tls 13 --mode app
start h13e "${E[@]}" --tls 13 --mode handshake
start h13r "${R[@]}" --tls 13 --mode handshake
start h12e "${E[@]}" --tls 12 --mode handshake

RAW=$WORK/raw
: >"$RAW"
# run ROW SERVER ARGS...: RUNS alternating runs of both builds, one line each: ROW PROVIDER RESULT
run() {
    local row=$1 srv=$2 i p order port
    shift 2
    port=PORT_$srv
    for i in $(seq 1 "$RUNS"); do
        order="aws-lc-rs ring"
        [ $((i % 2)) = 0 ] && order="ring aws-lc-rs"
        for p in $order; do
            r=$(LD_LIBRARY_PATH=$WORK/$p SSL_CERT_FILE=$WORK/pki/ca.pem timeout 120 "$WORK/client" --nodelay \
                --port "${!port}" "$@" 2>/dev/null | sed -n 's/^RESULT //p')
            echo "$row $p ${r:-failed=1}" >>"$RAW"
        done
    done
}
echo "# runs=$RUNS bulk=$BULK hs=${HS}s" >&2
run download app download "$BULK" 16384
run upload app upload "$BULK" 16384
run "hs13e_full" h13e handshake "$HS" full
run "hs13e_resumed" h13e handshake "$HS" resume
run "hs13r_full" h13r handshake "$HS" full
run "hs12e_full" h12e handshake "$HS" full
run "hs12e_resumed" h12e handshake "$HS" resume

python3 - "$RAW" "$OUT/providers.md" "$RUNS" <<'EOF'
import statistics, sys
raw, out, runs = sys.argv[1], sys.argv[2], sys.argv[3]
rows = {}
for line in open(raw):
    row, prov, *kv = line.split()
    d = dict(x.split("=", 1) for x in kv)
    if "failed" in d:
        continue
    wall, cpu = float(d["wall"]), float(d["cpu"])
    if "bytes" in d:
        gb = int(d["bytes"]) / 1e9
        vals = (int(d["bytes"]) / wall / 1e6, cpu * 1000 / gb)   # MB/s, client CPU ms/GB
    else:
        n = int(d["n"])
        vals = (n / wall, cpu * 1e6 / n)                          # handshakes/s, client CPU us/hs
    rows.setdefault(row, {}).setdefault(prov, []).append(vals)
names = {"download": "download 16 KiB recv", "upload": "upload 16 KiB send",
         "hs13e_full": "TLS 1.3 ECDSA full", "hs13e_resumed": "TLS 1.3 ECDSA resumed",
         "hs13r_full": "TLS 1.3 RSA full", "hs12e_full": "TLS 1.2 ECDSA full",
         "hs12e_resumed": "TLS 1.2 ECDSA resumed"}
lines = [f"sslsock on aws-lc-rs vs ring: median of {runs} alternating runs, client CPU beside the rate", "",
         "| workload | unit | aws-lc-rs | ring | aws-lc-rs/ring | CPU unit | aws-lc-rs CPU | ring CPU |",
         "|---|---|---|---|---|---|---|---|"]
for row, name in names.items():
    r = rows.get(row, {})
    if "aws-lc-rs" not in r or "ring" not in r:
        lines.append(f"| {name} | - | failed | failed | - | - | - | - |")
        continue
    med = {p: (statistics.median(v[0] for v in r[p]), statistics.median(v[1] for v in r[p])) for p in r}
    bulk = row in ("download", "upload")
    unit, cunit = ("MB/s", "ms/GB") if bulk else ("/s", "us/hs")
    a, g = med["aws-lc-rs"], med["ring"]
    lines.append(f"| {name} | {unit} | {a[0]:.0f} | {g[0]:.0f} | {a[0]/g[0]:.2f} | {cunit} | {a[1]:.0f} | {g[1]:.0f} |")
text = "\n".join(lines) + "\n"
open(out, "w").write(text)
print(text)
EOF
