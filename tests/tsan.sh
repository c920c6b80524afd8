#!/usr/bin/env bash
# ThreadSanitizer over the full-duplex path: examples/duplex_stress.rs (one secure socket, one thread
# sending, one receiving the echo) built with -Zsanitizer=thread on a nightly toolchain, against the
# line server's STREAM mode. Skips (exit 0 with a note) where no nightly toolchain with TSan exists.
set -u
cd "$(dirname "$0")/.."
if ! rustc +nightly --version >/dev/null 2>&1; then
    echo "# skip: no nightly Rust toolchain (ThreadSanitizer needs -Zsanitizer)"; exit 0
fi
WORK=$(mktemp -d /tmp/sslsock-tsan.XXXXXX)
trap 'kill $(cat "$WORK/pid" 2>/dev/null) 2>/dev/null; rm -rf "$WORK"' EXIT
RUSTFLAGS="-Zsanitizer=thread -Cunsafe-allow-abi-mismatch=sanitizer" \
    cargo +nightly build --release --example duplex_stress --target x86_64-unknown-linux-gnu \
    --target-dir target/tsan >"$WORK/build.log" 2>&1 || { tail -20 "$WORK/build.log"; echo "not ok - TSan build"; echo "0 passed, 1 failed"; exit 1; }
. tests/python-env.sh || exit 1   # PYTHON: a Python with cryptography (target/pyenv when needed)
"$PYTHON" tests/pki/mkcerts.py "$WORK/pki" >/dev/null
"$PYTHON" tests/servers/starttls_server.py --port 0 --port-file "$WORK/port" --cert "$WORK/pki/good.pem" \
    --key "$WORK/pki/good.key" --log "$WORK/server.log" --greet-wait 5 >/dev/null 2>&1 &
echo $! >"$WORK/pid"
for _ in $(seq 50); do [ -s "$WORK/port" ] && break; sleep 0.1; done
SSL_CERT_FILE=$WORK/pki/ca.pem TSAN_OPTIONS="halt_on_error=0" timeout 600 \
    target/tsan/x86_64-unknown-linux-gnu/release/examples/duplex_stress 127.0.0.1 "$(cat "$WORK/port")" "${TSAN_MIB:-8}" \
    >"$WORK/run.txt" 2>&1
rc=$?
warnings=$(grep -c "WARNING: ThreadSanitizer" "$WORK/run.txt")
cat "$WORK/run.txt" | grep -v "^ok - " | head -60
grep "^ok - " "$WORK/run.txt"
pass=0 fail=0
if [ "$rc" -eq 0 ]; then echo "ok - duplex_stress ran to the end under TSan"; pass=$((pass+1)); else echo "not ok - duplex_stress exited $rc"; fail=$((fail+1)); fi
if [ "$warnings" -eq 0 ]; then echo "ok - ThreadSanitizer reported no race"; pass=$((pass+1)); else echo "not ok - ThreadSanitizer: $warnings warnings"; fail=$((fail+1)); fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
