#!/usr/bin/env bash
# Valgrind memcheck over the C programs (docs/testing.md, "Sanitizers"), against the normal release
# library (target/release/libsslsock.so): tests/run-c-tests.sh with T_WRAP=valgrind. Passes when
# valgrind reports no error and no definitely or indirectly lost block in any program
# (--error-exitcode, --leak-check=full); suppressions (tests/valgrind.supp) cover only code outside
# sslsock, each with its reason.
#
#   bash tests/valgrind.sh              # every c-tests/*.c, then c-tests/legacy (~4 min)
#   bash tests/valgrind.sh NAME...      # only these c-tests/NAME.c (or a directory/path, as run-c-tests.sh)
#
# The programs' own checks still run and are listed, but a timing check (a deadline of a few hundred
# milliseconds, "under 15 s") may fail under valgrind's 20-50x slowdown without any memory error:
# only valgrind's verdict decides this script's result.
set -u
cd "$(dirname "$0")/.." || exit 2
if ! command -v valgrind >/dev/null; then
    echo "# skip: valgrind is not installed (apt-get install valgrind)"; exit 0
fi
if [ ! -f target/release/libsslsock.so ]; then
    echo "valgrind.sh: target/release/libsslsock.so is missing: run make first" >&2; exit 2
fi
if [ $# -gt 0 ]; then
    RUNS=("$*") # one run-c-tests.sh invocation with these arguments
else
    # Every c-tests/*.c (~3.5 min under valgrind), then the CE programs as written (c-tests/legacy, built as
    # tests/legacy.sh builds them).
    RUNS=("")
    [ -d c-tests/legacy ] && RUNS+=("c-tests/legacy")
fi

LOGS=$(mktemp -d /tmp/sslsock-valgrind.XXXXXX)
KEEP=0
trap '[ "$KEEP" = 1 ] && echo "# valgrind logs kept in $LOGS" || rm -rf "$LOGS"' EXIT
# failclosed_race: 20 rounds per case under valgrind (200 in make test; each is 20-50x slower here).
export T_RACE_ROUNDS=${T_RACE_ROUNDS:-20}
start=$(date +%s)
# --trace-children: a program that re-executes itself (hostile.c's SSLSOCK_STRICT_EOF=1 run) stays
# under valgrind; the log of the process before its exec then holds no summary and is skipped.
VG="valgrind --tool=memcheck --error-exitcode=99 --leak-check=full --trace-children=yes \
--show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
--num-callers=40 --suppressions=$PWD/tests/valgrind.supp --gen-suppressions=all \
--log-file=$LOGS/vg.%p"
for run in "${RUNS[@]}"; do
    if [ "$run" = c-tests/legacy ]; then
        T_WRAP=$VG T_TIMEOUT=${T_TIMEOUT:-900} T_CSTD="-std=c99" T_CFLAGS="-Wextra -I include/sslsock/compat" \
            bash tests/run-c-tests.sh c-tests/legacy >>"$LOGS/run.txt" 2>&1 || :
    else
        # shellcheck disable=SC2086
        T_WRAP=$VG T_TIMEOUT=${T_TIMEOUT:-900} bash tests/run-c-tests.sh $run >>"$LOGS/run.txt" 2>&1 || :
    fi
done
sed -n '/^# results/,/^[0-9]* passed, [0-9]* failed$/p' "$LOGS/run.txt"

errors=0 leaked=0 logs=0
for f in "$LOGS"/vg.*; do
    [ -f "$f" ] || continue
    logs=$((logs + 1))
    prog=$(sed -n 's/^==[0-9]*== Command: \([^ ]*\).*/\1/p' "$f" | head -1)
    # The system's own tools a test runs (crack.c reads certificates with openssl and sed through
    # popen) are traced too (--trace-children) but are not sslsock's to judge: sed leaks a block itself.
    case $prog in /usr/* | /bin/* | /sbin/*) continue ;; esac
    e=$(sed -n 's/^==[0-9]*== ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$f" | tail -1)
    d=$(sed -n 's/^==[0-9]*==    definitely lost: \([0-9,]*\) bytes.*/\1/p' "$f" | tail -1 | tr -d ,)
    i=$(sed -n 's/^==[0-9]*==    indirectly lost: \([0-9,]*\) bytes.*/\1/p' "$f" | tail -1 | tr -d ,)
    # A process forked (not exec'd) from a test program ends holding what the parent's other threads
    # had allocated (their stacks are gone in the child), which memcheck counts as lost: in such a child
    # only real errors count, not leaks. (fork_locks.c and bounds.c fork while threads work.)
    ppid=$(sed -n 's/^==[0-9]*== Parent PID: \([0-9]*\)$/\1/p' "$f" | head -1)
    if [ -n "$ppid" ] && [ -f "$LOGS/vg.$ppid" ] &&
        [ "$(sed -n 's/^==[0-9]*== Command: \([^ ]*\).*/\1/p' "$LOGS/vg.$ppid" | head -1)" = "$prog" ]; then
        records=$(grep -c -E "are (definitely|indirectly) lost in loss record" "$f")
        [ -n "$e" ] && e=$((e - records))
        d=0 i=0
    fi
    if [ -z "$e" ] && ! grep -q -E "Invalid|uninitialised|Process terminating|lost in" "$f"; then
        continue # replaced by an exec before it ended (its successor has its own log)
    fi
    if [ "${e:-0}" != 0 ] || [ "${d:-0}" != 0 ] || [ "${i:-0}" != 0 ] || [ -z "$e" ]; then
        echo "not ok - valgrind: $(basename "${prog:-?}"): ${e:-?} errors, ${d:-0} bytes definitely and ${i:-0} indirectly lost"
        grep -v "^==[0-9]*== *$" "$f" | sed -n '/Invalid\|uninitialised\|lost in\|Mismatched\|overlap\|Process terminating/,+25p' | head -60
        errors=$((errors + 1))
        KEEP=1
    fi
    [ "${d:-0}" != 0 ] && leaked=$((leaked + 1))
done
# run-c-tests keeps its work directory when a check failed (timing checks do under valgrind).
if [ "$errors" -eq 0 ]; then
    sed -n 's/^run-c-tests: work directory kept: //p' "$LOGS/run.txt" | while IFS= read -r kept; do
        case $kept in /tmp/sslsock-ctests.*) rm -rf "$kept" ;; esac
    done
fi
secs=$(( $(date +%s) - start ))
if [ "$logs" -eq 0 ]; then
    echo "not ok - valgrind wrote no log (did the programs run?)"; tail -20 "$LOGS/run.txt"; exit 1
fi
echo "# the programs' own checks under valgrind: $(grep -E "^[0-9]+ passed, [0-9]+ failed$" "$LOGS/run.txt" | paste -sd ';') (timing checks may fail)"
if [ "$errors" -eq 0 ]; then
    echo "ok - valgrind memcheck: no error and no leak in $logs processes ($secs s)"
else
    echo "not ok - valgrind memcheck: $errors of $logs processes with errors or leaks ($secs s)"
fi
[ "$errors" -eq 0 ]
