#!/usr/bin/env bash
# tests/preload/tools.sh - programs no one here wrote, under tools/sslsock-run (issue 3, item 5):
#   1. openssl s_client against openssl s_server (certificates from tests/pki/mkcerts.py, trust by
#      -CAfile), data both ways and a TLS 1.3 key update: client preloaded against a plain server,
#      both preloaded, and both preloaded with TLS 1.2;
#   2. Python's http.client and urllib against a local http.server (tests/preload/http_peer.py), over
#      plain HTTP and over an ssl-wrapped HTTPS server, server and client both preloaded;
#   3. psql against a local PostgreSQL (initdb/pg_ctl/postgres from /usr/local/bin, run as the
#      `postgres` user, data in a temporary folder, 127.0.0.1 only, ssl=on with the test certificate):
#      sslmode=require, verify-full and disable, a large result and a COPY FROM STDIN; first with the
#      server plain and psql preloaded, then with the server (postmaster and its forked backends)
#      preloaded too.
# Prints "ok - " / "not ok - " lines and "N passed, N failed"; exit status 0 only if all passed.
# Every server started here is stopped on exit. Environment: PYTHON (python3), T_KEEP=1 keeps the
# work directory (kept anyway on failure), PG_BINDIR (/usr/local/bin), PSQL (psql).
set -u
cd "$(dirname "$0")/../.." || exit 2
ROOT=$PWD
. tests/python-env.sh || exit 2   # PYTHON: a Python with cryptography (target/pyenv when needed)
PYTHON=$(command -v "$PYTHON")
RUN=$ROOT/tools/sslsock-run
LIB=${SSLSOCK_LIB:-$ROOT/target/release/libsslsock.so}
PG_BINDIR=${PG_BINDIR:-/usr/local/bin}
PSQL=${PSQL:-psql}

PASS=0 FAIL=0
ok() { echo "ok - $*"; PASS=$((PASS + 1)); }
not_ok() { echo "not ok - $*"; FAIL=$((FAIL + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else not_ok "$what"; fi; }
finish() { echo "$PASS passed, $FAIL failed"; [ "$FAIL" -eq 0 ] && exit 0 || exit 1; }
show() { sed 's/^/#   /' "$@" | head -n 40; }

[ -f "$LIB" ] || { echo "tools.sh: $LIB is missing: run make first" >&2; not_ok "library built"; finish; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sslsock-tools.XXXXXX") || exit 2
chmod 755 "$WORK"
PIDS=()
PGDATA_STARTED=
PGBASE_OWN=
KEEP=${T_KEEP:-0}
cleanup() {
    local p
    if [ -n "$PGDATA_STARTED" ]; then
        runuser -u postgres -- "$PG_BINDIR/pg_ctl" -D "$PGDATA_STARTED" -m immediate -w stop >/dev/null 2>&1
    fi
    for p in "${PIDS[@]+"${PIDS[@]}"}"; do kill "$p" 2>/dev/null; done
    for p in "${PIDS[@]+"${PIDS[@]}"}"; do wait "$p" 2>/dev/null; done
    if [ "$KEEP" = 1 ] || [ "$FAIL" -ne 0 ]; then
        echo "# work directory kept: $WORK${PGBASE_OWN:+ and $PGBASE_OWN}"
    else
        rm -rf "$WORK" ${PGBASE_OWN:+"$PGBASE_OWN"}
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
unset LD_PRELOAD SSL_CERT_DIR
PKI=$WORK/pki
"$PYTHON" tests/pki/mkcerts.py "$PKI" >/dev/null || { not_ok "mkcerts.py"; finish; }
chmod 755 "$PKI"; chmod 644 "$PKI"/*
CA=$PKI/ca.pem

# wait_for SECONDS COMMAND...: polls every 0.1 s until COMMAND succeeds.
wait_for() {
    local n=$(($1 * 10)); shift
    while [ "$n" -gt 0 ]; do "$@" && return 0; sleep 0.1; n=$((n - 1)); done
    return 1
}
# preloaded PID: libsslsock.so is mapped in that process (the wrapper really preloaded it).
preloaded() { grep -q 'libsslsock' "/proc/$1/maps" 2>/dev/null; }
free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# ==== 1. openssl s_client <-> s_server ========================================================
# openssl_pair LABEL SERVER-WRAPPER CLIENT-WRAPPER [extra s_server options]
# A wrapper is "" (plain) or the sslsock-run path.
openssl_pair() {
    local label=$1 swrap=$2 cwrap=$3; shift 3
    local d=$WORK/openssl-$label spid cpid port rc tag
    mkdir -p "$d"
    mkfifo "$d/srv.in" "$d/cli.in"
    : >"$d/server.log"; : >"$d/client.log"
    ${swrap:+"$swrap"} openssl s_server -accept 127.0.0.1:0 -naccept 1 -cert "$PKI/good.pem" -key "$PKI/good.key" \
        -cert_chain "$PKI/good.issuers.pem" "$@" <"$d/srv.in" >"$d/server.log" 2>&1 &
    spid=$!; PIDS+=($spid)
    exec {SRV_IN}<>"$d/srv.in"
    port=
    wait_for 10 grep -q '^ACCEPT' "$d/server.log"
    port=$(sed -n 's/^ACCEPT 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$d/server.log" | head -n 1)
    if [ -z "$port" ]; then
        show "$d/server.log"; not_ok "openssl $label: s_server starts"; exec {SRV_IN}>&-; return
    fi
    ${cwrap:+"$cwrap"} openssl s_client -connect "127.0.0.1:$port" -servername localhost -verify_hostname localhost \
        -CAfile "$CA" -verify_return_error <"$d/cli.in" >"$d/client.log" 2>&1 &
    cpid=$!; PIDS+=($cpid)
    exec {CLI_IN}<>"$d/cli.in"
    tag="openssl $label"
    check "$tag: handshake, certificate verified by s_client (Verify return code: 0)" \
        wait_for 15 grep -q 'Verify return code: 0 (ok)' "$d/client.log"
    if [ -n "$cwrap" ]; then check "$tag: libsslsock.so is loaded in s_client" preloaded "$cpid"; fi
    if [ -n "$swrap" ]; then check "$tag: libsslsock.so is loaded in s_server" preloaded "$spid"; fi
    local c2s="client-to-server-$RANDOM-$$" s2c="server-to-client-$RANDOM-$$"
    echo "$c2s" >&"$CLI_IN"
    check "$tag: data client -> server" wait_for 10 grep -q "^$c2s\$" "$d/server.log"
    echo "$s2c" >&"$SRV_IN"
    check "$tag: data server -> client" wait_for 10 grep -q "^$s2c\$" "$d/client.log"
    if grep -q 'TLSv1.3' "$d/client.log"; then
        echo k >&"$CLI_IN"     # s_client command: TLS 1.3 KeyUpdate (update_requested)
        sleep 0.3
        echo "$c2s-after-keyupdate" >&"$CLI_IN"
        echo "$s2c-after-keyupdate" >&"$SRV_IN"
        check "$tag: data both ways after a TLS 1.3 key update" \
            bash -c 'for i in $(seq 1 100); do grep -q "^$1-after-keyupdate\$" "$3" && grep -q "^$2-after-keyupdate\$" "$4" && exit 0; sleep 0.1; done; exit 1' \
            _ "$c2s" "$s2c" "$d/server.log" "$d/client.log"
    fi
    # a larger message (64 lines of 1000 characters) client -> server
    "$PYTHON" -c 'import sys; [print(("%04d" % i) + "x" * 996) for i in range(64)]' >&"$CLI_IN"
    check "$tag: 64 KB client -> server" \
        wait_for 10 bash -c '[ "$(grep -c "^[0-9]\{4\}x\{996\}\$" "$1")" -eq 64 ]' _ "$d/server.log"
    exec {CLI_IN}>&-      # EOF on s_client's stdin: it closes the connection and exits
    rc=0
    wait_for 10 bash -c '! kill -0 "$1" 2>/dev/null' _ "$cpid" || { kill "$cpid" 2>/dev/null; rc=124; }
    [ "$rc" -eq 0 ] && { wait "$cpid"; rc=$?; }
    check "$tag: s_client exits 0 at end of input (status $rc)" test "$rc" -eq 0
    check "$tag: s_server (-naccept 1) sees the close and exits" \
        wait_for 10 bash -c '! kill -0 "$1" 2>/dev/null' _ "$spid"
    exec {SRV_IN}>&-
    grep -q 'Protocol *: TLSv1\.[23]' "$d/client.log" && echo "# $tag: $(grep -m1 -E '^ *Protocol *:' "$d/client.log" | tr -s ' ') $(grep -m1 -E '^ *Cipher *:' "$d/client.log" | tr -s ' ')"
    if [ "$FAIL" -ne 0 ]; then :; fi
}
openssl_pair client-preloaded "" "$RUN"
openssl_pair both-preloaded "$RUN" "$RUN"
openssl_pair both-preloaded-tls12 "$RUN" "$RUN" -tls1_2

# ==== 2. Python http.client / urllib <-> http.server ==========================================
DOC=$WORK/docroot
mkdir -p "$DOC"
printf '<html><body>sslsock preload test page</body></html>\n' >"$DOC/index.html"
"$PYTHON" -c 'import sys; open(sys.argv[1], "wb").write(bytes(((i * 7 + 3) & 0xFF) for i in range(256)) * 4096)' "$DOC/big.bin"
http_round() {
    local label=$1; shift
    local d=$WORK/http-$label pid port
    mkdir -p "$d"
    "$RUN" "$PYTHON" tests/preload/http_peer.py serve --docroot "$DOC" --port-file "$d/port" "$@" \
        </dev/null >"$d/server.log" 2>&1 &
    pid=$!; PIDS+=($pid)
    if ! wait_for 10 test -s "$d/port"; then show "$d/server.log"; not_ok "$label: http.server starts under sslsock-run"; return; fi
    port=$(cat "$d/port")
    check "$label: libsslsock.so is loaded in the http.server process" preloaded "$pid"
    local copt=()
    [ "$label" = https ] && copt=(--https --cafile "$CA")
    timeout 120 "$RUN" "$PYTHON" tests/preload/http_peer.py client --port "$port" --docroot "$DOC" "${copt[@]}" \
        >"$d/client.log" 2>&1
    local rc=$? line
    while IFS= read -r line; do
        case $line in
            "ok - "*) ok "${line#ok - } (sslsock-run on both sides)" ;;
            "not ok - "*) not_ok "${line#not ok - } (sslsock-run on both sides)" ;;
            *) echo "#   $line" ;;
        esac
    done <"$d/client.log"
    check "$label: the Python client exits 0 (status $rc)" test "$rc" -eq 0
    check "$label: the server is still serving" kill -0 "$pid"
    kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
}
http_round http
http_round https --cert "$PKI/good.pem" --key "$PKI/good.key"

# ==== 3. psql <-> PostgreSQL =================================================================
# The server runs as the postgres user, which must reach its folder and, when it is preloaded,
# sslsock-run and the library. The checkout may sit in a private directory (mode 0700, as mktemp -d
# makes, or under /root), so the wrapper and the library are copied to PGBASE/bin/sslsock-run and
# PGBASE/lib/libsslsock.so (the wrapper finds ../lib/libsslsock.so itself); PGBASE is the work
# directory when postgres can reach it, else a fresh directory under /tmp.
PGBASE=
pg_base() {
    [ -z "$PGBASE" ] || return 0
    if ! id postgres >/dev/null 2>&1; then
        useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres 2>/dev/null || return 1
    fi
    if runuser -u postgres -- test -x "$WORK"; then
        PGBASE=$WORK/pgbase
        mkdir -p "$PGBASE" || return 1
    else
        PGBASE=$(mktemp -d /tmp/sslsock-pg.XXXXXX) || return 1
        PGBASE_OWN=$PGBASE
    fi
    chmod 755 "$PGBASE" && mkdir -p "$PGBASE/bin" "$PGBASE/lib" &&
        install -m 0755 "$RUN" "$PGBASE/bin/sslsock-run" && install -m 0755 "$LIB" "$PGBASE/lib/libsslsock.so" &&
        runuser -u postgres -- test -r "$PGBASE/lib/libsslsock.so"
}
pg_round() {
    local label=$1 swrap=$2
    local PG port conn out want
    pg_base || { not_ok "psql $label: a postgres user and a folder it reaches with sslsock-run and the library"; return; }
    PG=$PGBASE/pg-$label
    [ -z "$swrap" ] || swrap=$PGBASE/bin/sslsock-run
    mkdir -p "$PG/sock"
    chown -R postgres "$PG"
    if ! (cd "$PG" && runuser -u postgres -- "$PG_BINDIR/initdb" -D "$PG/data" -U postgres --auth=trust -E UTF8 \
            --no-sync >"$PG/initdb.log" 2>&1); then
        show "$PG/initdb.log"; not_ok "psql $label: initdb"; return
    fi
    install -o postgres -m 0644 "$PKI/good.pem" "$PG/data/server.crt"
    install -o postgres -m 0600 "$PKI/good.key" "$PG/data/server.key"
    port=$(free_port)
    if ! (cd "$PG" && runuser -u postgres -- env -u SSLSOCK_LIB ${swrap:+"$swrap"} "$PG_BINDIR/pg_ctl" -D "$PG/data" -l "$PG/server.log" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -p $port -k $PG/sock -c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key -c fsync=off" \
            start >"$PG/pg_ctl.log" 2>&1); then
        show "$PG/pg_ctl.log" "$PG/server.log"; not_ok "psql $label: PostgreSQL starts (port $port)"; return
    fi
    PGDATA_STARTED=$PG/data
    if [ -n "$swrap" ]; then
        local pmpid; pmpid=$(head -n 1 "$PG/data/postmaster.pid")
        check "psql $label: libsslsock.so is loaded in the postmaster (pid $pmpid)" preloaded "$pmpid"
    fi
    ok "psql $label: PostgreSQL $("$PG_BINDIR/postgres" --version | awk '{print $3}') started on 127.0.0.1:$port${swrap:+ under sslsock-run}"
    local base="host=127.0.0.1 port=$port user=postgres dbname=postgres connect_timeout=10"
    psql_q() { # CONNINFO SQL [stdin]: psql under sslsock-run, unaligned tuples only
        env -u PGHOST -u PGPORT -u PGSSLMODE -u PGUSER timeout 60 "$RUN" "$PSQL" -X -A -t -v ON_ERROR_STOP=1 -d "$1" -c "$2" 2>&1
    }
    out=$(env -u PGHOST timeout 60 "$RUN" "$PSQL" -X -d "$base sslmode=require" -c '\! grep -c libsslsock /proc/$PPID/maps' 2>&1)
    check "psql $label: libsslsock.so is loaded in psql" test "${out:-0}" -gt 0 2>/dev/null
    out=$(psql_q "$base sslmode=require" "select ssl, version from pg_stat_ssl where pid = pg_backend_pid()")
    check "psql $label: sslmode=require gives a TLS session ($out)" bash -c '[[ $1 =~ ^t\|TLSv1\.[23]$ ]]' _ "$out"
    out=$(psql_q "host=localhost hostaddr=127.0.0.1 port=$port user=postgres dbname=postgres sslmode=verify-full sslrootcert=$CA" \
        "select ssl from pg_stat_ssl where pid = pg_backend_pid()")
    check "psql $label: sslmode=verify-full with the test CA ($out)" test "$out" = t
    out=$(psql_q "$base sslmode=disable" "select ssl from pg_stat_ssl where pid = pg_backend_pid()")
    check "psql $label: sslmode=disable stays plain ($out)" test "$out" = f
    want=$("$PYTHON" -c 'import hashlib; print(hashlib.md5(",".join(str(i) for i in range(1, 200001)).encode()).hexdigest())')
    for mode in require disable; do
        out=$(psql_q "$base sslmode=$mode" "select md5(string_agg(i::text, ',' order by i)) from generate_series(1, 200000) i")
        check "psql $label: sslmode=$mode: a computed result is right ($out)" test "$out" = "$want"
        out=$(env -u PGHOST timeout 60 "$RUN" "$PSQL" -X -A -t -d "$base sslmode=$mode" \
            -c "select repeat('0123456789', 300000)" 2>&1 | tr -d '\n' | wc -c)
        check "psql $label: sslmode=$mode: a 3 MB value arrives whole ($out bytes)" test "$out" -eq 3000000
        out=$(seq 1 100000 | env -u PGHOST timeout 60 "$RUN" "$PSQL" -X -A -t -v ON_ERROR_STOP=1 -d "$base sslmode=$mode" \
            -c "create temp table t (x int)" -c "copy t from stdin" -c "select count(*), sum(x) from t" 2>&1 | tail -n 1)
        check "psql $label: sslmode=$mode: COPY FROM STDIN of 100000 rows ($out)" test "$out" = "100000|5000050000"
    done
    out=$(runuser -u postgres -- "$PG_BINDIR/pg_ctl" -D "$PG/data" -m fast -w -t 30 stop 2>&1)
    check "psql $label: PostgreSQL stops cleanly" test $? -eq 0
    PGDATA_STARTED=
    if grep -Eq 'PANIC|server process .* was terminated|terminated by signal' "$PG/server.log"; then
        show "$PG/server.log"; not_ok "psql $label: no crash in the server log"
    else
        ok "psql $label: no crash in the server log"
    fi
}
pg_round client-preloaded ""
pg_round both-preloaded preload

finish
