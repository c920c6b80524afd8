#!/usr/bin/env bash
# tests/preload/cpython.sh - CPython's own socket-level test modules give the same result, test case
# by test case, without and with the preload (issue 3, item 5).
#
#   bash tests/preload/cpython.sh            (part of make test-preload; about 4-5 minutes)
#
# Runs `python3 -m test -j2 --junit-xml` over MODULES twice, first plain, then under
# tools/sslsock-run (every process of the run preloaded: the regrtest driver and its workers), and
# compares every test case's result: pass, skip, fail or error (tests/preload/compare_results.py).
# test_socketserver asks for the resource "network" at module level, so regrtest skips it whole unless
# -u network is given, which this suite never does (it would also let other cases reach the internet);
# its cases use only 127.0.0.1 and Unix sockets, so they are run, with and without the preload, by
# tests/preload/unittest_junit.py (plain unittest, where test.support allows every resource).
# Cases that fail or hang on this machine even without the preload, and cases that need the internet,
# are excluded below (EXCLUDE), each with its reason. A case that differs is re-run once in both modes
# (RERUN=0 turns that off); it counts as identical only if the re-run agrees with and without (shown
# as "flaky"). A test file that crashes or hangs with the preload is re-run alone, verbosely, to name
# the case.
# Prints one line per module and the final "N passed, N failed" (N passed = identical cases, N failed =
# differing cases plus test files that crash or hang); exit status 0 only if nothing differs.
# Environment: PYTHON (python3; must be 3.11, the version whose test suite EXCLUDE was made for),
# JOBS (2), CASE_TIMEOUT (120 s per test file, regrtest --timeout), RUN_TIMEOUT (900 s per whole run),
# MODULES (the list below), RERUN (1), T_KEEP=1 keeps the work directory (kept anyway on failure).
set -u
cd "$(dirname "$0")/../.." || exit 2
ROOT=$PWD
RUN=$ROOT/tools/sslsock-run
LIB=${SSLSOCK_LIB:-$ROOT/target/release/libsslsock.so}
PY=$(${PYTHON:-python3} -c 'import sys; print(sys.executable)') || { echo "cpython.sh: no python3" >&2; exit 2; }
JOBS=${JOBS:-2}
CASE_TIMEOUT=${CASE_TIMEOUT:-120}
RUN_TIMEOUT=${RUN_TIMEOUT:-900}
RERUN=${RERUN:-1}
MODULES=${MODULES:-"test_socket test_select test_poll test_epoll test_selectors test_ssl test_socketserver test_httplib test_smtplib test_imaplib test_ftplib test_urllib2_localnet test_asyncio"}
# Local resources the listed modules gate some cases on (never "network": see above).
USE=cpu,walltime

# ---- cases excluded (glob patterns on the test id, regrtest --ignorefile syntax) ----------------
EXCLUDE=$(cat <<'TXT'
# Hang on this machine without the preload: the machine is a virtual-machine guest with a vsock
# device (CID != 2), so test_socket runs these, but nothing can connect to the listener: setUp's
# accept() waits until regrtest's timeout kills the whole test_socket worker.
*.ThreadedVSOCKSocketStreamTest.*
# Need the internet (no network here but loopback); regrtest skips them without -u network, they
# are excluded so that the comparison counts only cases that really run or skip for local reasons.
test.test_socket.GeneralModuleTests.test_idna
test.test_httplib.HTTPSTest.test_networked*
test.test_imaplib.RemoteIMAPTest.*
test.test_imaplib.RemoteIMAP_SSLTest.*
test.test_imaplib.RemoteIMAP_STARTTLSTest.*
test.test_ssl.NetworkedTests.*
TXT
)

[ -f "$LIB" ] || { echo "cpython.sh: $LIB is missing: run make first" >&2; echo "0 passed, 1 failed"; exit 1; }
pyver=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
[ "$pyver" = 3.11 ] || echo "# warning: Python $pyver: the exclusion list was made for 3.11's test suite"
"$PY" -c 'import test.libregrtest, test.support' 2>/dev/null ||
    { echo "cpython.sh: $PY has no test package (Debian: apt-get install libpython3-testsuite)" >&2; echo "0 passed, 1 failed"; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sslsock-cpython.XXXXXX") || exit 2
FAILED_RUN=0
SAMPLER=
cleanup() {
    [ -n "$SAMPLER" ] && kill "$SAMPLER" 2>/dev/null
    if [ "${T_KEEP:-0}" = 1 ] || [ "$FAILED_RUN" -ne 0 ]; then echo "# work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
unset LD_PRELOAD SSLSOCK_LOG
printf '%s\n' "$EXCLUDE" >"$WORK/ignore.txt"
mkdir -p "$WORK/tmp"
export TMPDIR=$WORK/tmp  # regrtest's work directories (the workers' cwd) and the tests' temporary files
cd "$WORK" || exit 2

REGR_MODULES=() UT_MODULES=()
for m in $MODULES; do
    if [ "$m" = test_socketserver ]; then UT_MODULES+=("$m"); else REGR_MODULES+=("$m"); fi
done

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", b - a }'; }

# run_suite LABEL [WRAPPER]: both parts of one run; results in $WORK/LABEL.{xml,log,ut.xml,ut.log}
run_suite() {
    local label=$1 wrap=${2:-} t0 rc
    t0=$(now)
    if [ ${#REGR_MODULES[@]} -gt 0 ]; then
        timeout -k 30 -s INT "$RUN_TIMEOUT" ${wrap:+"$wrap"} "$PY" -m test -j"$JOBS" --timeout "$CASE_TIMEOUT" -u "$USE" \
            --ignorefile "$WORK/ignore.txt" --junit-xml "$WORK/$label.xml" "${REGR_MODULES[@]}" \
            </dev/null >"$WORK/$label.log" 2>&1
        rc=$?
        [ "$rc" -eq 124 ] && echo "# $label: the whole run passed RUN_TIMEOUT=$RUN_TIMEOUT s and was stopped"
    fi
    if [ ${#UT_MODULES[@]} -gt 0 ]; then
        timeout -k 10 "$RUN_TIMEOUT" ${wrap:+"$wrap"} "$PY" "$ROOT/tests/preload/unittest_junit.py" "$WORK/$label.ut.xml" \
            --ignorefile "$WORK/ignore.txt" --timeout "$CASE_TIMEOUT" "${UT_MODULES[@]}" \
            </dev/null >"$WORK/$label.ut.log" 2>&1
    fi
    echo "# $label run: $(secs "$t0" "$(now)") s ($(grep -m1 '^Total tests:' "$WORK/$label.log" 2>/dev/null | sed 's/^Total tests: //')$([ ${#UT_MODULES[@]} -gt 0 ] && echo "; ${UT_MODULES[*]}: $(grep -m1 '^Ran ' "$WORK/$label.ut.log" 2>/dev/null)"))"
}

T_START=$(now)
echo "# $("$PY" -VV | head -n 1); $MODULES; -j$JOBS, --timeout $CASE_TIMEOUT, -u $USE; $(grep -c '^[^#]' "$WORK/ignore.txt") exclusion patterns"
echo "# library: $LIB ($(stat -c %y "$LIB" | cut -d. -f1))"

run_suite without

# Sample the preloaded run's processes: is libsslsock.so mapped in the regrtest workers?
(
    while sleep 2; do
        for p in $(pgrep -f 'test.libregrtest.worker|unittest_junit.py' 2>/dev/null); do
            case $(readlink "/proc/$p/cwd" 2>/dev/null) in "$WORK"*) ;; *) continue ;; esac   # ours only
            # The same program before and after the maps are read: a worker's forked child matches
            # pgrep until it execs, and may exec a program run without the preload (a test's
            # subprocess with a clean environment) between pgrep and the read.
            before=$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null) || continue
            maps=$(cat "/proc/$p/maps" 2>/dev/null) || continue
            after=$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null) || continue
            [ "$before" = "$after" ] || continue
            case $after in *test.libregrtest.worker*|*unittest_junit.py*) ;; *) continue ;; esac
            # Judge only processes whose loading is complete: the dynamic loader maps LD_PRELOAD objects
            # before the program's dependencies, so once libc is mapped the preload must be too (a sample
            # taken between exec and the loader's work, or on an exiting process, says nothing).
            case $maps in *libc.so*) ;; *) continue ;; esac
            case $maps in *libsslsock*) echo "yes $p" ;; *) echo "no $p" ;; esac
        done
    done >"$WORK/sampled.txt" 2>/dev/null
) &
SAMPLER=$!
run_suite with "$RUN"
kill "$SAMPLER" 2>/dev/null; wait "$SAMPLER" 2>/dev/null; SAMPLER=
yes=$(grep -c '^yes' "$WORK/sampled.txt"); no=$(grep -c '^no' "$WORK/sampled.txt")
PRELOAD_SEEN=0
if [ "$yes" -gt 0 ] && [ "$no" -eq 0 ]; then
    echo "ok - the preload is in effect in the test workers (libsslsock.so mapped in $(cut -d' ' -f2 "$WORK/sampled.txt" | sort -u | wc -l) sampled processes)"
else
    echo "not ok - the preload is in effect in the test workers (mapped: $yes samples, not mapped: $no)"
    PRELOAD_SEEN=1
fi

compare() {
    "$PY" "$ROOT/tests/preload/compare_results.py" --modules "$MODULES" \
        --base $(ls "$WORK"/without.xml "$WORK"/without.ut.xml 2>/dev/null) \
        --pre $(ls "$WORK"/with.xml "$WORK"/with.ut.xml 2>/dev/null) \
        --base-log "$WORK/without.log" --pre-log "$WORK/with.log" "$@"
}
compare --diff-out "$WORK/diffs.txt" --crashed-out "$WORK/crashed.txt" >"$WORK/compare1.txt"
ndiff=$(wc -l <"$WORK/diffs.txt")

# Re-run differing cases once, both ways (flaky timing tests), unless there are too many to be flakes.
RERUN_ARGS=()
if [ "$RERUN" = 1 ] && [ "$ndiff" -gt 0 ] && [ "$ndiff" -le 60 ]; then
    echo "# $ndiff case(s) differ: re-running them once without and with the preload"
    files=$(sed -n 's/^test\.\(test_[a-z0-9_]*\)\..*/\1/p' "$WORK/diffs.txt" | sort -u)
    regr=() ut=()
    for f in $files; do
        if [ "$f" = test_socketserver ]; then ut+=("$f"); else regr+=("$f"); fi
    done
    for label in rerun-without rerun-with; do
        wrap=; [ "$label" = rerun-with ] && wrap=$RUN
        if [ ${#regr[@]} -gt 0 ]; then
            timeout -k 30 -s INT "$RUN_TIMEOUT" ${wrap:+"$wrap"} "$PY" -m test -j"$JOBS" --timeout "$CASE_TIMEOUT" -u "$USE" \
                --matchfile "$WORK/diffs.txt" --junit-xml "$WORK/$label.xml" "${regr[@]}" </dev/null >"$WORK/$label.log" 2>&1
        fi
        if [ ${#ut[@]} -gt 0 ]; then
            timeout -k 10 "$RUN_TIMEOUT" ${wrap:+"$wrap"} "$PY" "$ROOT/tests/preload/unittest_junit.py" "$WORK/$label.ut.xml" \
                --ignorefile "$WORK/ignore.txt" --matchfile "$WORK/diffs.txt" --timeout "$CASE_TIMEOUT" "${ut[@]}" </dev/null >"$WORK/$label.ut.log" 2>&1
        fi
    done
    RERUN_ARGS=(--rerun-base $(ls "$WORK"/rerun-without.xml "$WORK"/rerun-without.ut.xml 2>/dev/null)
                --rerun-pre $(ls "$WORK"/rerun-with.xml "$WORK"/rerun-with.ut.xml 2>/dev/null))
fi

# A test file that crashed or hung with the preload: run it alone, verbosely, to name the case.
if [ -s "$WORK/crashed.txt" ]; then
    while IFS= read -r f; do
        echo "# $f crashed or hung with the preload: running it alone, verbosely ($WORK/crash-$f.log)"
        timeout -k 10 $((CASE_TIMEOUT + 60)) "$RUN" "$PY" -m test -v --timeout "$CASE_TIMEOUT" -u "$USE" \
            --ignorefile "$WORK/ignore.txt" "$f" </dev/null >"$WORK/crash-$f.log" 2>&1
        last=$(grep -E '^test\w* \(.*\) \.\.\. ' "$WORK/crash-$f.log" | tail -n 1)
        echo "#   last case started: ${last:-?}"
        grep -E -A12 '^(Timeout|Fatal Python error|Segmentation|Current thread|Thread 0x)' "$WORK/crash-$f.log" | head -n 30 | sed 's/^/#   /'
    done <"$WORK/crashed.txt"
fi

compare ${RERUN_ARGS[@]+"${RERUN_ARGS[@]}"} >"$WORK/compare.txt"
rc=$?
if [ "$PRELOAD_SEEN" -ne 0 ]; then
    # the comparison means nothing if the preload was not there: count it as a failure
    sed -i 's/^\([0-9]*\) passed, \([0-9]*\) failed$/echo "\1 passed, $((\2 + 1)) failed"/e' "$WORK/compare.txt"
    rc=1
fi
cat "$WORK/compare.txt"
echo "# total time (both runs$([ ${#RERUN_ARGS[@]} -gt 0 ] && echo ", re-runs")): $(secs "$T_START" "$(now)") s"
[ "$rc" -eq 0 ] || FAILED_RUN=1
exit "$rc"
