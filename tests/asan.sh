#!/usr/bin/env bash
# AddressSanitizer and UndefinedBehaviorSanitizer over the C programs (docs/testing.md, "Sanitizers"):
# libsslsock.so built with nightly `-Zsanitizer=address` into target/asan (its own target dir: the
# release build in target/release is untouched), every c-tests/*.c program built with
# `-fsanitize=address,undefined` and run by tests/run-c-tests.sh against that library (T_LIBDIR).
# Passes when every program passes and no sanitizer report (ASan, LeakSanitizer, UBSan) was written.
#
#   bash tests/asan.sh [NAME...]        # every program, or only c-tests/NAME.c
#
# The C side brings the ASan runtime (gcc's libasan, first in the program's NEEDED list, so its
# interceptors come before sslsock's exports and forward to them); the Rust side is instrumented and
# calls into that runtime. Skips (exit 0 with a note) without a nightly toolchain.
set -u
cd "$(dirname "$0")/.." || exit 2
if ! rustc +nightly --version >/dev/null 2>&1; then
    echo "# skip: no nightly Rust toolchain (AddressSanitizer needs -Zsanitizer)"; exit 0
fi
TRIPLE=x86_64-unknown-linux-gnu
LIBDIR=$PWD/target/asan/$TRIPLE/release
REPORTS=$(mktemp -d /tmp/sslsock-asan.XXXXXX)
trap 'rm -rf "$REPORTS"' EXIT

start=$(date +%s)
# SSLSOCK_HEADER_OUT: the build script writes its header there, not over include/sslsock.h.
if ! RUSTFLAGS="-Zsanitizer=address -Cunsafe-allow-abi-mismatch=sanitizer -Cforce-frame-pointers=yes" \
    SSLSOCK_HEADER_OUT=$PWD/target/asan/sslsock.h \
    cargo +nightly build --release --lib --target "$TRIPLE" --target-dir target/asan \
    >"$REPORTS/build.log" 2>&1; then
    tail -30 "$REPORTS/build.log"
    echo "not ok - ASan build of libsslsock.so"
    echo "0 passed, 1 failed"
    exit 1
fi
# Programs record the soname (libsslsock.so.<major>): give it in the ASan directory too.
soname=$(readelf -d "$LIBDIR/libsslsock.so" 2>/dev/null | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
if [ -n "$soname" ] && [ "$soname" != libsslsock.so ]; then
    ln -sf libsslsock.so "$LIBDIR/$soname"
fi
echo "# ASan library built in $(( $(date +%s) - start )) s: $LIBDIR/libsslsock.so"

# halt_on_error: the first report ends the program (which then fails); log_path: reports also go to
# files, counted below. detect_leaks: LeakSanitizer at exit. UBSan: every runtime error is fatal.
ASAN_BASE="detect_leaks=1:halt_on_error=1:abort_on_error=0:exitcode=66:log_path=$REPORTS/asan:fast_unwind_on_malloc=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:exitcode=67:log_path=$REPORTS/ubsan"
SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined -g"
# The library is ~2x slower instrumented: give each program room.
# failclosed_race: 20 rounds per case here (200 in make test), each is several times slower.
export T_RACE_ROUNDS=${T_RACE_ROUNDS:-20}
export T_LIBDIR=$LIBDIR T_TIMEOUT=${T_TIMEOUT:-120} T_TIME_SCALE=${T_TIME_SCALE:-4}
rc=0
if [ $# -gt 0 ]; then
    ASAN_OPTIONS=$ASAN_BASE T_CFLAGS=$SAN bash tests/run-c-tests.sh "$@" || rc=1
else
    # 1. c-tests/*.c but hostile.c; 2. hostile.c, whose resident-memory checks (a flood must not grow
    # the heap) cannot hold while ASan keeps freed blocks in quarantine (256 MB): it runs with the
    # quarantine off (use-after-free is then caught only until the block is reused); 3. the CE
    # programs as written (c-tests/legacy, as tests/legacy.sh builds them).
    most=()
    for f in c-tests/*.c; do
        n=$(basename "$f" .c)
        # fork_first_use forks while another thread allocates, by design: gcc 12's libasan keeps no
        # allocator lock across fork, and the child's first thread then waits on it for good
        # (docs/testing.md, "Sanitizers"). It runs in make test and make valgrind.
        if [ "$n" = fork_first_use ]; then
            echo "# skipped fork_first_use: forks while another thread allocates (libasan's allocator is not fork-safe)"
            continue
        fi
        # fork_no_alloc defines malloc and free itself (it counts the calls): ASan's must be the only ones.
        if [ "$n" = fork_no_alloc ]; then
            echo "# skipped fork_no_alloc: defines its own malloc and free, which ASan's runtime must own"
            continue
        fi
        [ "$n" = hostile ] || most+=("$n")
    done
    ASAN_OPTIONS=$ASAN_BASE T_CFLAGS=$SAN bash tests/run-c-tests.sh "${most[@]}" || rc=1
    if [ -f c-tests/hostile.c ]; then
        ASAN_OPTIONS="$ASAN_BASE:quarantine_size_mb=0:thread_local_quarantine_size_kb=0:allocator_release_to_os_interval_ms=0" \
            T_CFLAGS=$SAN bash tests/run-c-tests.sh hostile || rc=1
    fi
    if [ -d c-tests/legacy ]; then
        ASAN_OPTIONS=$ASAN_BASE T_CSTD="-std=c99" T_CFLAGS="$SAN -Wextra -I include/sslsock/compat" \
            bash tests/run-c-tests.sh c-tests/legacy || rc=1
    fi
fi

reports=$(cat "$REPORTS"/asan.* "$REPORTS"/ubsan.* 2>/dev/null | grep -c -E "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:")
if [ "$reports" -gt 0 ]; then
    echo "# sanitizer reports:"
    cat "$REPORTS"/asan.* "$REPORTS"/ubsan.* 2>/dev/null | head -120
    echo "not ok - sanitizers: $reports report(s)"
    rc=1
else
    echo "ok - no AddressSanitizer, LeakSanitizer or UBSan report ($(( $(date +%s) - start )) s in all)"
fi
exit $rc
