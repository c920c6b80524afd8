#!/usr/bin/env bash
# tests/legacy.sh - the fourteen CE programs of docs/patterns.md "as written" (c-tests/legacy/, docs/porting.md).
#
# 1. Compiles every c-tests/legacy/*.c as C (-std=c99 with no feature macro, and gnu11) and every
#    *.cpp as C++ (-std=c++11 and c++17), with -I include -I include/sslsock/compat -Wall -Wextra -Werror:
#    the compat <windows.h> set and the programs' port edits must be enough.
# 2. Checks that each pattern 01..14 has its program, and that every PORT: edit is listed in its header.
# 3. Builds and runs them all against the local servers of tests/run-c-tests.sh (which takes the directory),
#    linked with -lsslsock (and -lcrypto where a program says "needs: -lcrypto"; none does now).
#
# Run from anywhere; needs target/release/libsslsock.so (make lib). Prints "ok - " / "not ok - " lines and
# ends with "N passed, N failed" (the compile checks plus the programs' checks); exit status 0 only if
# nothing failed. Environment: CC (default cc), CXX (default g++), and what run-c-tests.sh reads (T_SKIP
# leaves programs out of the compile checks too).
set -u

cd "$(dirname "$0")/.." || exit 2
CC=${CC:-cc}
CXX=${CXX:-g++}
DIR=c-tests/legacy
INC=(-I include -I include/sslsock/compat)

passed=0
failed=0
ok()     { passed=$((passed + 1)); echo "ok - $1"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $1"; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/sslsock-legacy.XXXXXX") || exit 2
trap 'rm -rf "$TMP"' EXIT

# ---- 1. compile checks ------------------------------------------------------------
for src in "$DIR"/*.c "$DIR"/*.cpp; do
    [ -f "$src" ] || continue
    n=${src##*/}
    if [[ " ${T_SKIP:-} " == *" ${n%.*} "* ]]; then
        echo "# skipped $src: ${T_SKIP_WHY:-T_SKIP}"
        continue
    fi
    case $src in
        *.c) modes=("$CC -x c -std=c99" "$CC -x c -std=gnu11") ;;
        *) modes=("$CXX -x c++ -std=c++11" "$CXX -x c++ -std=c++17") ;;
    esac
    for m in "${modes[@]}"; do
        # shellcheck disable=SC2086
        if out=$($m -Wall -Wextra -Werror "${INC[@]}" -c "$src" -o "$TMP/out.o" 2>&1); then
            ok "compiles: $src [${m#* -x }]"
        else
            not_ok "compiles: $src [${m#* -x }]"
            printf '%s\n' "$out" | sed 's/^/#   /'
        fi
    done
done

# ---- 2. one program per pattern; every PORT: edit listed --------------------------
for n in 01 02 03 04 05 06 07 08 09 10 11 12 13 14; do
    set -- "$DIR"/pattern"$n"_*.c "$DIR"/pattern"$n"_*.cpp
    found=
    for f in "$@"; do [ -f "$f" ] && found=$f; done
    if [ -z "$found" ]; then
        not_ok "pattern $n has a program in $DIR"
        continue
    fi
    edits=$(grep -c 'PORT:' "$found")
    if grep -q 'Port edits: none' "$found"; then
        if [ "$edits" -eq 0 ]; then ok "$found: no port edit, none marked"; else not_ok "$found: says no port edit but marks $edits"; fi
    elif grep -q 'Port edits (PORT: below)' "$found" && [ "$edits" -gt 0 ]; then
        ok "$found: $edits PORT: marks, edits listed in its header"
    else
        not_ok "$found: its header lists the port edits ('Port edits: none' or 'Port edits (PORT: below)')"
    fi
done

# ---- 3. run them against the local servers ---------------------------------------
T_CSTD="-std=c99" T_CFLAGS="-Wextra -I include/sslsock/compat" bash tests/run-c-tests.sh "$DIR" | tee "$TMP/run.out"
last=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$TMP/run.out" | tail -n 1)
if [[ $last =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
    passed=$((passed + BASH_REMATCH[1]))
    failed=$((failed + BASH_REMATCH[2]))
else
    not_ok "tests/run-c-tests.sh $DIR ended with a count line (got '$last')"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
