#!/usr/bin/env bash
# tests/cross.sh - `make cross`: the library, headers and C tests for 32-bit and 64-bit ARM
# (docs/packaging.md "Cross-building for ARM"), run under qemu-user against the local servers.
#
#   bash tests/cross.sh [TRIPLE...]     # default: armv7-unknown-linux-gnueabihf aarch64-unknown-linux-gnu
#
# For each target: cargo builds target/TRIPLE/release/libsslsock.so with Debian's cross gcc as linker
# and C compiler (aws-lc's C code too); the ELF class and machine, the exports (tests/exports.sh) and
# the header cbindgen makes for the target (it must be include/sslsock.h) are checked; the Rust unit
# tests run under qemu (cargo's target runner); then the core
# C tests (CROSS_TESTS) and the fourteen legacy programs (tests/legacy.sh: its compile checks and its
# run) are cross-compiled and run with qemu-arm / qemu-aarch64 (QEMU_LD_PREFIX=/usr/<gnu triple>)
# by tests/run-c-tests.sh, whose servers run natively on 127.0.0.1.
#
# Needs (Debian): gcc-arm-linux-gnueabihf g++-arm-linux-gnueabihf gcc-aarch64-linux-gnu
# g++-aarch64-linux-gnu qemu-user, and `rustup target add TRIPLE`. CROSS_INSTALL=1 installs what is
# missing (as root; .ci/run sets it), else the script names it and fails.
# Ends with "N passed, N failed"; exit status 0 only if nothing failed.
set -u
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD

TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(armv7-unknown-linux-gnueabihf aarch64-unknown-linux-gnu)

# The core set (about a third of c-tests/, the rest is the native run's): the layout of every CE
# structure and constant on the target (layout), CE's hand-built 8-byte hook buffers (ce32_hook_buffers),
# argument checking (bad_input), the certificate decisions (certs_matrix),
# protocol sets (protocols), two threads on one socket (duplex), non-blocking sockets and readiness
# (nonblocking, readiness), the calls glibc's headers bind to their time64 names under _TIME_BITS=64
# on a 32-bit target (time64: SO_SECURE, the message calls, fcntl copies, select, timeouts; the plain names
# on a 64-bit one; epoll_time64: c-tests/epoll.c through __epoll_pwait2_time64), and the CE programs of docs/patterns.md that c-tests/ carries (pattern01-14).
# Left to the native run: the timing-heavy and load tests (hostile floods for 15 s, many_threads,
# timeouts, close_wakes, the failclosed races, fork_locks), which qemu slows several-fold and which
# test no 32/64-bit difference, and bounds, whose children exec /proc/self/exe (an ARM program the
# host cannot exec without binfmt_misc).
CROSS_TESTS=${CROSS_TESTS:-layout ce32_hook_buffers bad_input certs_matrix protocols duplex nonblocking
readiness time64 epoll_time64 pattern01_http pattern02_amqp pattern03_pockethttp pattern04_rss pattern05_pop3
pattern06_mail_starttls pattern07_telnet pattern08_mosync pattern09_nav pattern10_xmpp pattern11_irc
pattern13_netcf pattern14_ce6http}

passed=0
failed=0
ok()     { passed=$((passed + 1)); echo "ok - $1"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $1"; }

# add_counts FILE: adds the "N passed, N failed" line that ends FILE.
add_counts() {
    local last
    last=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$1" | tail -n 1)
    if [[ $last =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
        passed=$((passed + BASH_REMATCH[1]))
        failed=$((failed + BASH_REMATCH[2]))
    else
        not_ok "$2 ended with a count line (got '$last')"
    fi
}

# ---- what each target needs ---------------------------------------------------------
gnu_of() {
    case $1 in
        armv7-unknown-linux-gnueabihf) echo arm-linux-gnueabihf ;;
        aarch64-unknown-linux-gnu) echo aarch64-linux-gnu ;;
        *) return 1 ;;
    esac
}
qemu_of() {
    case $1 in
        armv7-*) echo qemu-arm ;;
        aarch64-*) echo qemu-aarch64 ;;
    esac
}
debarch_of() {
    case $1 in
        armv7-*) echo armhf ;;
        aarch64-*) echo arm64 ;;
    esac
}
machine_of() {   # what readelf -h says
    case $1 in
        armv7-*) echo "ELF32 ARM" ;;
        aarch64-*) echo "ELF64 AArch64" ;;
    esac
}

missing_apt=()
missing_rust=()
for t in "${TARGETS[@]}"; do
    gnu=$(gnu_of "$t") || { echo "cross: unknown target $t (armv7-unknown-linux-gnueabihf, aarch64-unknown-linux-gnu)" >&2; exit 2; }
    command -v "$gnu-gcc" >/dev/null || missing_apt+=("gcc-$gnu")
    command -v "$gnu-g++" >/dev/null || missing_apt+=("g++-$gnu")
    command -v "$(qemu_of "$t")" >/dev/null || missing_apt+=(qemu-user)
    rustup target list --installed 2>/dev/null | grep -qx "$t" || missing_rust+=("$t")
done
if [ ${#missing_apt[@]} -gt 0 ] || [ ${#missing_rust[@]} -gt 0 ]; then
    mapfile -t missing_apt < <(printf '%s\n' "${missing_apt[@]+"${missing_apt[@]}"}" | sed '/^$/d' | sort -u)
    if [ "${CROSS_INSTALL:-0}" = 1 ]; then
        if [ ${#missing_apt[@]} -gt 0 ]; then
            export DEBIAN_FRONTEND=noninteractive
            apt-get update -qq && apt-get install -y -qq "${missing_apt[@]}" >/dev/null || exit 2
        fi
        if [ ${#missing_rust[@]} -gt 0 ]; then
            rustup target add "${missing_rust[@]}" || exit 2
        fi
    else
        [ ${#missing_apt[@]} -eq 0 ] || echo "cross: missing: apt-get install ${missing_apt[*]}" >&2
        [ ${#missing_rust[@]} -eq 0 ] || echo "cross: missing: rustup target add ${missing_rust[*]}" >&2
        echo "cross: (or CROSS_INSTALL=1 bash tests/cross.sh, as root)" >&2
        echo "0 passed, 1 failed"
        exit 1
    fi
fi

LOG=$(mktemp -d "${TMPDIR:-/tmp}/sslsock-cross.XXXXXX") || exit 2
trap 'rm -rf "$LOG"' EXIT

for t in "${TARGETS[@]}"; do
    gnu=$(gnu_of "$t")
    qemu=$(qemu_of "$t")
    libdir=$ROOT/target/$t/release
    up=$(tr 'a-z-' 'A-Z_' <<<"$t")
    low=${t//-/_}
    echo "== $t: cargo build --release --lib --target $t (linker and CC $gnu-gcc)"
    start=$(date +%s)
    # SSLSOCK_HEADER_OUT: the header the build script makes for this target goes beside the library.
    if env "CARGO_TARGET_${up}_LINKER=$gnu-gcc" "CC_$low=$gnu-gcc" "CXX_$low=$gnu-g++" "AR_$low=$gnu-ar" \
        SSLSOCK_HEADER_OUT="$ROOT/target/$t/sslsock.h" \
        cargo build --release --lib --target "$t" >"$LOG/build-$t.log" 2>&1; then
        ok "$t: libsslsock.so builds ($(($(date +%s) - start)) s)"
    else
        tail -40 "$LOG/build-$t.log"
        not_ok "$t: libsslsock.so builds"
        continue
    fi
    ln -sfn libsslsock.so "$libdir/libsslsock.so.1"   # the soname, as `make lib` does

    hdr=$(readelf -h "$libdir/libsslsock.so" 2>/dev/null)
    set -- $(machine_of "$t")
    if grep -q "Class:.*$1" <<<"$hdr" && grep -q "Machine:.*$2" <<<"$hdr"; then
        ok "$t: the library is $1 $2"
    else
        not_ok "$t: the library is $1 $2"
    fi
    if cmp -s "$ROOT/target/$t/sslsock.h" include/sslsock.h; then
        ok "$t: the header generated for the target is include/sslsock.h"
    else
        not_ok "$t: the header generated for the target is include/sslsock.h"
        diff "$ROOT/target/$t/sslsock.h" include/sslsock.h | head -20 | sed 's/^/#   /'
    fi
    echo "== $t: tests/exports.sh"
    bash tests/exports.sh "$libdir/libsslsock.so" >"$LOG/exports-$t.out" 2>&1
    grep '^not ok' "$LOG/exports-$t.out"
    tail -n 1 "$LOG/exports-$t.out"
    add_counts "$LOG/exports-$t.out" "$t: exports.sh"

    echo "== $t: the Rust unit tests under $qemu (cargo test --release --lib)"
    if env "CARGO_TARGET_${up}_LINKER=$gnu-gcc" "CC_$low=$gnu-gcc" "CXX_$low=$gnu-g++" "AR_$low=$gnu-ar" \
        "CARGO_TARGET_${up}_RUNNER=$qemu -L /usr/$gnu" SSLSOCK_HEADER_OUT="$ROOT/target/$t/sslsock.h" \
        cargo test --release --lib --target "$t" >"$LOG/unit-$t.log" 2>&1; then
        ok "$t: $(grep -E '^test result:' "$LOG/unit-$t.log" | tail -n 1)"
    else
        grep -E '^test .* FAILED|panicked|^error' "$LOG/unit-$t.log" | head -20 | sed 's/^/#   /'
        not_ok "$t: the Rust unit tests under $qemu"
    fi

    # The legacy programs that link libcrypto (their port's SslCrackCertificate over OpenSSL) need the
    # target's libcrypto, which the cross toolchain does not bring: left out when it cannot link them.
    skip=
    if ! printf 'int main(void){return 0;}\n' | "$gnu-gcc" -x c - -lcrypto -o "$LOG/crypto-$t" 2>/dev/null; then
        for f in c-tests/legacy/*.c c-tests/legacy/*.cpp; do
            if head -n 20 "$f" | grep -qF '/* needs: -lcrypto */'; then
                n=${f##*/}
                skip="$skip ${n%.*}"
            fi
        done
    fi
    export QEMU_LD_PREFIX=/usr/$gnu
    # T_GREET_WAIT: the line server's wait for an immediate-TLS client to speak first, as natively
    # (bad_input's 300 ms SO_RCVTIMEO must see the greeting of a deferred socket in time).
    common=(CC="$gnu-gcc" CXX="$gnu-g++" T_LIBDIR="$libdir" T_WRAP="$qemu" T_GREET_WAIT=0.25 T_TIMEOUT=120)
    echo "== $t: the core C tests under $qemu: $(echo $CROSS_TESTS)"
    # shellcheck disable=SC2086
    env "${common[@]}" bash tests/run-c-tests.sh $CROSS_TESTS >"$LOG/c-$t.out" 2>&1
    sed -n '/^# results/,$p' "$LOG/c-$t.out"
    grep -E '^not ok' "$LOG/c-$t.out" | sed 's/^/   /'
    add_counts "$LOG/c-$t.out" "$t: run-c-tests.sh"
    echo "== $t: the legacy programs (tests/legacy.sh) under $qemu"
    env "${common[@]}" T_SKIP="$skip" T_SKIP_WHY="needs the target's libcrypto (libssl-dev:$(debarch_of "$t"))" \
        bash tests/legacy.sh >"$LOG/legacy-$t.out" 2>&1
    grep -E '^# skipped' "$LOG/legacy-$t.out" | sort -u
    sed -n '/^# results/,/^[0-9]* passed/p' "$LOG/legacy-$t.out"
    grep -E '^not ok' "$LOG/legacy-$t.out" | sed 's/^/   /'
    add_counts "$LOG/legacy-$t.out" "$t: legacy.sh"
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
