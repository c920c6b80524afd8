#!/usr/bin/env bash
# Interoperability run of sslsock against real servers on loopback (docs/interop.md).
#
#   make interop                      # builds the library, then runs this script
#   bash tests/interop/run.sh         # the same, when target/release/libsslsock.so is built
#   bash tests/interop/run.sh CASE... # only the cases whose names start with one of the words
#                                     # (openssl, gnutls, nginx, exim, dovecot, postgres, redis, keylog)
#
# Installs what is missing from the distribution's packages (apt-get update once, then
# apt-get install -y: nginx-light or nginx, exim4-daemon-light, dovecot-imapd, redis-server,
# gnutls-bin, tshark, and python3-cryptography / iproute2 when missing), with services kept from
# starting while the packages install. Makes fresh certificates (tests/pki/mkcerts.py), starts each
# server on 127.0.0.1 only, on free ports (gnutls-serv, which cannot be told an address, runs in a
# private network namespace that holds nothing but loopback, with its clients), builds the C
# clients of tests/interop/ like tests/run-c-tests.sh builds c-tests/, and runs them. PostgreSQL
# (which refuses to run as root) runs as the `postgres` user, created when missing.
#
# Output: the clients' "ok - " / "not ok - " lines and the runner's own, a per-case summary, the
# total time, and last the line "N passed, N failed". Exit status 0 only when nothing failed.
# Every server is stopped on exit. Needs root (packages, server users, packet capture).
#
# Environment: CC (default cc), PYTHON (default python3), T_TIMEOUT (default 60 s per client),
# T_KEEP=1 keeps the work directory (kept anyway when something failed),
# T_NO_APT=1 never calls apt-get (missing servers then fail their cases).

set -u

START_TIME=$(date +%s)
cd "$(dirname "$0")/../.." || exit 2
ROOT=$PWD
CC=${CC:-cc}
. tests/python-env.sh || exit 2   # PYTHON: a Python with cryptography (target/pyenv when needed)
T_TIMEOUT=${T_TIMEOUT:-60}
LIBDIR=$ROOT/target/release
KEEP=${T_KEEP:-0}
ONLY=("$@")

PASS=0
FAIL=0
SKIPS=()
RESULTS=()

say() { echo "# $*"; }
pass() { echo "ok - $*"; PASS=$((PASS + 1)); }
fail() { echo "not ok - $*"; FAIL=$((FAIL + 1)); }
elapsed() { echo $(($(date +%s) - START_TIME)); }

finish_line() {
    echo
    echo "# results"
    local r
    for r in "${RESULTS[@]+"${RESULTS[@]}"}"; do
        echo "  $r"
    done
    for r in "${SKIPS[@]+"${SKIPS[@]}"}"; do
        echo "  skipped: $r"
    done
    [ "$FAIL" -gt 0 ] && KEEP=1
    if [ "$KEEP" = 1 ] && [ -n "${WORK:-}" ]; then
        echo "# work directory kept: $WORK"
    fi
    echo "# total time: $(elapsed) s"
    echo "$PASS passed, $FAIL failed"
}

die() {
    fail "$*"
    KEEP=1
    finish_line
    exit 1
}

# wanted CASE: succeeds when no case was named on the command line or CASE starts with one of them.
wanted() {
    local w
    [ ${#ONLY[@]} -eq 0 ] && return 0
    for w in "${ONLY[@]}"; do
        case "$1" in "$w"*) return 0 ;; esac
    done
    return 1
}

if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        exec sudo -n -E bash "$ROOT/tests/interop/run.sh" "$@"
    fi
    echo "run.sh: needs root (package installation, the servers' own users, packet capture on lo)" >&2
    echo "0 passed, 1 failed"
    exit 1
fi
if [ ! -f "$LIBDIR/libsslsock.so" ]; then
    echo "run.sh: $LIBDIR/libsslsock.so is missing: run make first (make interop does)" >&2
    echo "0 passed, 1 failed"
    exit 2
fi

# ---- packages ----------------------------------------------------------------------------
export DEBIAN_FRONTEND=noninteractive
NEED=()
command -v nginx >/dev/null 2>&1 || NEED+=(nginx-light)
command -v exim4 >/dev/null 2>&1 || NEED+=(exim4-daemon-light)
command -v dovecot >/dev/null 2>&1 && [ -x /usr/lib/dovecot/imap ] || NEED+=(dovecot-imapd)
command -v redis-server >/dev/null 2>&1 || NEED+=(redis-server)
command -v gnutls-serv >/dev/null 2>&1 || NEED+=(gnutls-bin)
command -v tshark >/dev/null 2>&1 || NEED+=(tshark)
command -v unshare >/dev/null 2>&1 || NEED+=(util-linux)
command -v ip >/dev/null 2>&1 && command -v ss >/dev/null 2>&1 || NEED+=(iproute2)
command -v openssl >/dev/null 2>&1 || NEED+=(openssl)
command -v psql >/dev/null 2>&1 || NEED+=(postgresql-client)
"$PYTHON" -c 'import cryptography' 2>/dev/null || NEED+=(python3-cryptography)
if [ ${#NEED[@]} -gt 0 ]; then
    if [ "${T_NO_APT:-0}" = 1 ]; then
        say "missing packages (T_NO_APT=1, not installing): ${NEED[*]}"
    else
        say "installing: ${NEED[*]}"
        apt_start=$(date +%s)
        # Keep the packages' own services (exim on :25, dovecot on :143/:993, nginx on :80, redis on
        # :6379) from starting: only the servers started below, on loopback, may run.
        POLICY=/usr/sbin/policy-rc.d
        POLICY_MADE=0
        if [ ! -e "$POLICY" ]; then
            printf '#!/bin/sh\n# sslsock tests/interop/run.sh: no service starts during the install\nexit 101\n' >"$POLICY"
            chmod 755 "$POLICY"
            POLICY_MADE=1
        fi
        apt-get update -qq >/dev/null 2>&1 || say "apt-get update failed"
        apt_log=$(mktemp)
        if ! apt-get install -y -qq --no-install-recommends "${NEED[@]}" >"$apt_log" 2>&1; then
            # nginx-light is a transitional name in some releases: try nginx.
            NEED2=()
            for p in "${NEED[@]}"; do [ "$p" = nginx-light ] && NEED2+=(nginx) || NEED2+=("$p"); done
            apt-get install -y -qq --no-install-recommends "${NEED2[@]}" >"$apt_log" 2>&1 ||
                { tail -n 20 "$apt_log" | sed 's/^/#   /'; fail "apt-get install ${NEED2[*]}"; }
        fi
        rm -f "$apt_log"
        [ "$POLICY_MADE" = 1 ] && rm -f "$POLICY"
        # Stop whatever a package started anyway (systemd without policy-rc.d support).
        for svc in exim4 dovecot nginx redis-server; do
            if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
                systemctl stop "$svc" >/dev/null 2>&1
            fi
        done
        say "packages installed in $(($(date +%s) - apt_start)) s"
    fi
fi

# PostgreSQL 15 binaries: /usr/local/bin first, then the Debian layout.
PG_BIN=
for d in /usr/local/bin /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ]; then
        PG_BIN=$d
        break
    fi
done
if ! id postgres >/dev/null 2>&1; then
    useradd --system --user-group --home-dir /var/lib/postgresql --no-create-home --shell /usr/sbin/nologin \
        postgres 2>/dev/null || fail "create the postgres user"
fi

# ---- work directory, certificates, cleanup ----------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sslsock-interop.XXXXXX") || exit 2
chmod 755 "$WORK"   # the servers' users (nobody, Debian-exim, dovecot, postgres) reach their parts
PKI=$WORK/pki
LOGS=$WORK/logs
BIN=$WORK/bin
OUT=$WORK/out
mkdir -p "$PKI" "$LOGS" "$BIN" "$OUT"
chmod 755 "$PKI" "$LOGS"

SERVER_PIDS=()
SERVER_NAMES=()
PG_DATA=
NETNS_PID=
TSHARK_PID=
cleanup() {
    local i
    if [ -n "$TSHARK_PID" ]; then
        kill -INT "$TSHARK_PID" 2>/dev/null
        wait "$TSHARK_PID" 2>/dev/null
    fi
    if [ -n "$PG_DATA" ] && [ -f "$PG_DATA/postmaster.pid" ]; then
        runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 20 stop >/dev/null 2>&1
    fi
    for i in "${!SERVER_PIDS[@]}"; do
        kill "${SERVER_PIDS[$i]}" 2>/dev/null
    done
    for i in "${!SERVER_PIDS[@]}"; do
        local n=0
        while kill -0 "${SERVER_PIDS[$i]}" 2>/dev/null && [ $n -lt 50 ]; do
            sleep 0.1
            n=$((n + 1))
        done
        kill -9 "${SERVER_PIDS[$i]}" 2>/dev/null
        wait "${SERVER_PIDS[$i]}" 2>/dev/null
    done
    if [ -n "$NETNS_PID" ]; then
        kill "$NETNS_PID" 2>/dev/null
        wait "$NETNS_PID" 2>/dev/null
    fi
    # (finish_line has said whether the work directory is kept: the last line stays the count)
    [ "$KEEP" = 1 ] || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# add_server NAME PID: stopped (TERM, then KILL) on exit.
add_server() {
    SERVER_NAMES+=("$1")
    SERVER_PIDS+=("$2")
}

"$PYTHON" tests/pki/mkcerts.py "$PKI" || die "tests/pki/mkcerts.py failed"
[ -f "$PKI/client.pem" ] || die "mkcerts.py made no client certificate (client.pem)"
chmod 644 "$PKI"/*

export T_HOST=127.0.0.1
export T_PKI=$PKI
export SSL_CERT_FILE=$PKI/ca.pem
unset SSL_CERT_DIR SSLKEYLOGFILE SSLSOCK_CLIENT_CERT SSLSOCK_CLIENT_KEY

# A free port on 127.0.0.1 (the kernel's choice; the server binds it right after).
free_port() {
    "$PYTHON" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# wait_listen PORT PID [NSENTER...]: until something listens on 127.0.0.1:PORT (or, in the
# namespace, on PORT), up to 15 s, while PID lives. 0 when listening.
wait_listen() {
    local port=$1 pid=$2 n
    shift 2
    for n in $(seq 1 150); do
        if "$@" ss -Hltn "sport = :$port" 2>/dev/null | grep -q .; then
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# ---- the clients --------------------------------------------------------------------------
say "work directory $WORK"
BUILD_OK=1
for src in tests/interop/*.c; do
    name=$(basename "$src" .c)
    if ! "$CC" -std=c99 -D_DEFAULT_SOURCE -Wall -Werror -I include -I c-tests -I tests/interop "$src" \
        -o "$BIN/$name" -L "$LIBDIR" -lsslsock -lpthread -Wl,-rpath,"$LIBDIR" >"$OUT/$name.build" 2>&1; then
        sed 's/^/   | /' "$OUT/$name.build"
        fail "$name: does not compile"
        BUILD_OK=0
    fi
done
[ "$BUILD_OK" = 1 ] || KEEP=1

# run_client CASE PROGRAM ARGS...: one client run (T_TIMEOUT limit), its lines counted; the
# summary goes to RESULTS. Prefix the command with `env VAR=...` through RUN_ENV=(...).
RUN_ENV=()
RUN_PREFIX=()
run_client() {
    local case=$1 prog=$2
    shift 2
    local out=$OUT/$case.out start rc secs pass fail note=""
    echo "== $case"
    if [ ! -x "$BIN/$prog" ]; then
        fail "$case: client $prog was not built"
        RESULTS+=("$(printf '%-34s not run (client not built)' "$case")")
        return
    fi
    start=$(date +%s.%N)
    ${RUN_PREFIX[@]+"${RUN_PREFIX[@]}"} env ${RUN_ENV[@]+"${RUN_ENV[@]}"} \
        timeout -k 2 "$T_TIMEOUT" "$BIN/$prog" --name "$case" "$@" </dev/null >"$out" 2>&1
    rc=$?
    secs=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
    cat "$out"
    pass=$(grep -c '^ok - ' "$out")
    fail=$(grep -c '^not ok - ' "$out")
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        note="timed out after ${T_TIMEOUT}s"
    elif [ "$rc" -gt 128 ]; then
        note="crashed: signal $((rc - 128))"
    elif [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
        note="exit status $rc without a 'not ok' line"
    elif [ "$pass" -eq 0 ] && [ "$fail" -eq 0 ]; then
        note="printed no check"
    fi
    if [ -n "$note" ]; then
        echo "not ok - $case: $note"
        fail=$((fail + 1))
    fi
    PASS=$((PASS + pass))
    FAIL=$((FAIL + fail))
    RESULTS+=("$(printf '%-34s %3d passed, %d failed (%ss)%s' "$case" "$pass" "$fail" "$secs" "${note:+: $note}")")
}

# ================================================================================================
# OpenSSL s_server -rev: TLS 1.2 only, 1.3 only, both; ECDSA and RSA; chosen suites and groups;
# a server that requires a client certificate (-Verify 1).
# ================================================================================================
declare -A SS_PID=()
declare -A SS_LOG=()
start_s_server() {   # start_s_server CASE CERT [s_server options...]
    local case=$1 cert=$2
    shift 2
    local log=$LOGS/$case.log
    openssl s_server -accept 127.0.0.1:0 -cert "$PKI/$cert.pem" -key "$PKI/$cert.key" \
        -cert_chain "$PKI/$cert.issuers.pem" -rev "$@" </dev/null >"$log" 2>&1 &
    add_server "s_server $case" $!
    SS_LOG[$case]=$log
    SS_PID[$case]=$!
}

# case name | certificate | s_server options | client options
OPENSSL_CASES=(
    "openssl-tls12-ecdsa|good|-tls1_2|"
    "openssl-tls13-ecdsa|good|-tls1_3|"
    "openssl-both-ecdsa|good||"
    "openssl-tls12-rsa|good-rsa|-tls1_2|"
    "openssl-tls13-rsa|good-rsa|-tls1_3|"
    "openssl-both-rsa|good-rsa||"
    "openssl-both-client-tls12|good||--protocol 12"
    "openssl-both-client-tls13|good-rsa||--protocol 13"
    "openssl-tls13-aes128-p256|good|-tls1_3 -ciphersuites TLS_AES_128_GCM_SHA256 -groups P-256|--server-group P-256"
    "openssl-tls13-chacha-p384|good|-tls1_3 -ciphersuites TLS_CHACHA20_POLY1305_SHA256 -groups P-384|--server-group P-384"
    "openssl-tls12-rsa-aes128-p256|good-rsa|-tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256 -groups P-256|--server-group P-256"
    "openssl-tls12-ecdsa-chacha-x25519|good|-tls1_2 -cipher ECDHE-ECDSA-CHACHA20-POLY1305 -groups X25519|--server-group X25519"
    "openssl-clientcert-ext|good|-Verify 1 -CAfile $PKI/ca.pem|--client-cert ext"
    "openssl-clientcert-env|good|-Verify 1 -CAfile $PKI/ca.pem|--client-cert env"
    "openssl-clientcert-ext-tls12|good|-tls1_2 -Verify 1 -CAfile $PKI/ca.pem|--client-cert ext"
    "openssl-clientcert-none|good|-Verify 1 -CAfile $PKI/ca.pem|--client-cert none"
    "openssl-clientcert-none-tls12|good|-tls1_2 -Verify 1 -CAfile $PKI/ca.pem|--client-cert none"
)
SS_SELECTED=()
for spec in "${OPENSSL_CASES[@]}"; do
    IFS='|' read -r case cert sopts copts <<<"$spec"
    wanted "$case" || continue
    # shellcheck disable=SC2086
    start_s_server "$case" "$cert" $sopts
    SS_SELECTED+=("$spec")
done
for spec in "${SS_SELECTED[@]+"${SS_SELECTED[@]}"}"; do
    IFS='|' read -r case cert sopts copts <<<"$spec"
    pid=${SS_PID[$case]}
    port=
    for _ in $(seq 1 150); do
        port=$(sed -n 's/^ACCEPT 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "${SS_LOG[$case]}" 2>/dev/null | head -n 1)
        [ -n "$port" ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if [ -z "$port" ]; then
        sed 's/^/#   /' "${SS_LOG[$case]}"
        fail "$case: s_server did not start"
        continue
    fi
    RUN_ENV=()
    if [[ "$copts" == *"--client-cert env"* ]]; then
        RUN_ENV=(SSLSOCK_CLIENT_CERT="$PKI/client.pem" SSLSOCK_CLIENT_KEY="$PKI/client.key")
    fi
    leaf=$cert.der
    # shellcheck disable=SC2086
    run_client "$case" openssl_rev --port "$port" --log "${SS_LOG[$case]}" --leaf "$leaf" $copts
    RUN_ENV=()
done

# ================================================================================================
# GnuTLS gnutls-serv --echo. gnutls-serv always listens on every address, so it runs in a private
# network namespace that has only loopback; its clients join that namespace.
# ================================================================================================
if wanted gnutls; then
    # unshare execs the shell in the new namespace (same pid), which raises lo and sleeps
    unshare --net -- sh -c 'ip link set lo up && exec sleep 100000' </dev/null >/dev/null 2>&1 &
    NETNS_PID=$!
    NS=()
    for _ in $(seq 1 50); do
        if [ "$(readlink /proc/$NETNS_PID/ns/net 2>/dev/null)" != "$(readlink /proc/self/ns/net)" ] &&
            nsenter --net=/proc/$NETNS_PID/ns/net ip -br addr show lo 2>/dev/null | grep -q 127.0.0.1; then
            NS=(nsenter --net=/proc/$NETNS_PID/ns/net)
            break
        fi
        sleep 0.1
    done
    if [ ${#NS[@]} -eq 0 ]; then
        fail "gnutls: a private network namespace with only loopback (unshare --net) could not be made"
    else
        say "gnutls-serv runs in network namespace $(readlink /proc/$NETNS_PID/ns/net), interfaces: $("${NS[@]}" ip -br addr | tr -s ' ' | tr '\n' ';')"
        # case | certificate | priority string | client options
        GNUTLS_CASES=(
            "gnutls-default|good|NORMAL|"
            "gnutls-tls12-rsa-chacha-p384|good-rsa|NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+CHACHA20-POLY1305:-GROUP-ALL:+GROUP-SECP384R1|"
            "gnutls-tls13-aes128-p256|good|NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:-GROUP-ALL:+GROUP-SECP256R1|"
        )
        gport=5556
        for spec in "${GNUTLS_CASES[@]}"; do
            IFS='|' read -r case cert prio copts <<<"$spec"
            wanted "$case" || continue
            gport=$((gport + 1))   # the namespace is empty: any port is free
            log=$LOGS/$case.log
            "${NS[@]}" gnutls-serv --echo -p "$gport" --priority "$prio" \
                --x509certfile "$PKI/$cert.pem" --x509keyfile "$PKI/$cert.key" </dev/null >"$log" 2>&1 &
            gpid=$!
            add_server "gnutls-serv $case" $gpid
            if ! wait_listen "$gport" "$gpid" "${NS[@]}"; then
                sed 's/^/#   /' "$log"
                fail "$case: gnutls-serv did not start"
                continue
            fi
            RUN_PREFIX=("${NS[@]}")
            # shellcheck disable=SC2086
            run_client "$case" gnutls_echo --port "$gport" --log "$log" --leaf "$cert.der" $copts
            RUN_PREFIX=()
            kill "$gpid" 2>/dev/null
        done
    fi
fi

# ================================================================================================
# nginx: HTTPS GET of a file of known size and SHA-256; the access log names protocol, cipher, curve.
# Then the key-log session (SSLKEYLOGFILE) captured with tshark, decrypted with the key log.
# ================================================================================================
NGINX_PORT=
if wanted nginx || wanted keylog; then
    NG=$WORK/nginx
    WWW=$WORK/www
    mkdir -p "$NG/tmp" "$WWW"
    "$PYTHON" -c 'import os, sys, random
r = random.Random(20240611)
open(sys.argv[1], "wb").write(bytes(r.getrandbits(8) for _ in range(1234567)))' "$WWW/data.bin"
    KEYLOG_MARKER="sslsock-keylog-marker-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
    printf '%s\n' "$KEYLOG_MARKER" >"$WWW/keylog.txt"
    chmod -R a+rX "$WWW"
    NGINX_PORT=$(free_port)
    cat >"$NG/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 1;
user nobody nogroup;
pid $NG/nginx.pid;
error_log $LOGS/nginx-error.log info;
events { worker_connections 64; }
http {
    default_type application/octet-stream;
    log_format tls '\$remote_addr:\$remote_port "\$request" \$status \$body_bytes_sent proto=\$ssl_protocol cipher=\$ssl_cipher curve=\$ssl_curve';
    access_log $LOGS/nginx-access.log tls;
    client_body_temp_path $NG/tmp/body;
    proxy_temp_path $NG/tmp/proxy;
    fastcgi_temp_path $NG/tmp/fastcgi;
    uwsgi_temp_path $NG/tmp/uwsgi;
    scgi_temp_path $NG/tmp/scgi;
    server {
        listen 127.0.0.1:$NGINX_PORT ssl;
        server_name localhost;
        ssl_certificate $PKI/good.pem;
        ssl_certificate_key $PKI/good.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        root $WWW;
    }
}
EOF
    nginx -p "$NG" -c "$NG/nginx.conf" -e "$LOGS/nginx-error.log" </dev/null >"$LOGS/nginx.stdout" 2>&1 &
    add_server nginx $!
    if ! wait_listen "$NGINX_PORT" $!; then
        sed 's/^/#   /' "$LOGS/nginx-error.log" "$LOGS/nginx.stdout" 2>/dev/null
        fail "nginx did not start on 127.0.0.1:$NGINX_PORT"
        NGINX_PORT=
    fi
fi
if [ -n "$NGINX_PORT" ] && wanted nginx; then
    size=$(stat -c %s "$WWW/data.bin")
    sum=$(sha256sum "$WWW/data.bin" | cut -d' ' -f1)
    run_client nginx-https nginx_https --port "$NGINX_PORT" --log "$LOGS/nginx-access.log" --leaf good.der \
        --path /data.bin --size "$size" --sha256 "$sum"
    run_client nginx-https-tls12 nginx_https --port "$NGINX_PORT" --log "$LOGS/nginx-access.log" --leaf good.der \
        --path /data.bin --size "$size" --sha256 "$sum" --protocol 12
fi

if [ -n "$NGINX_PORT" ] && wanted keylog; then
    echo "== keylog"
    CAP=$WORK/keylog.pcapng
    KEYLOG=$WORK/keylog.txt
    tshark -i lo -f "tcp port $NGINX_PORT" -w "$CAP" </dev/null >"$LOGS/tshark.log" 2>&1 &
    TSHARK_PID=$!
    for _ in $(seq 1 100); do
        grep -q "Capturing on" "$LOGS/tshark.log" 2>/dev/null && break
        kill -0 "$TSHARK_PID" 2>/dev/null || break
        sleep 0.1
    done
    if ! grep -q "Capturing on" "$LOGS/tshark.log" 2>/dev/null; then
        sed 's/^/#   /' "$LOGS/tshark.log"
        fail "keylog: tshark capture on lo did not start"
    else
        sleep 0.5   # dumpcap has the filter in place once it says it captures; a margin anyway
        ksize=$(stat -c %s "$WWW/keylog.txt")
        ksum=$(sha256sum "$WWW/keylog.txt" | cut -d' ' -f1)
        RUN_ENV=(SSLKEYLOGFILE="$KEYLOG")
        run_client keylog-tls13 nginx_https --port "$NGINX_PORT" --log "$LOGS/nginx-access.log" --leaf good.der \
            --path /keylog.txt --size "$ksize" --sha256 "$ksum" --protocol 13
        run_client keylog-tls12 nginx_https --port "$NGINX_PORT" --log "$LOGS/nginx-access.log" --leaf good.der \
            --path /keylog.txt --size "$ksize" --sha256 "$ksum" --protocol 12
        RUN_ENV=()
        kl_pass0=$PASS
        kl_fail0=$FAIL
        sleep 1
        kill -INT "$TSHARK_PID" 2>/dev/null
        wait "$TSHARK_PID" 2>/dev/null
        TSHARK_PID=
        say "tshark: $(grep -i 'packets captured' "$LOGS/tshark.log" | tr -d '\n')"

        # the key log itself: NSS format, both TLS 1.3 secrets and the TLS 1.2 CLIENT_RANDOM
        if [ -s "$KEYLOG" ]; then
            pass "keylog: SSLKEYLOGFILE was written ($(wc -l <"$KEYLOG") lines)"
        else
            fail "keylog: SSLKEYLOGFILE was written"
        fi
        bad=$(grep -cvE '^(CLIENT_RANDOM|CLIENT_EARLY_TRAFFIC_SECRET|CLIENT_HANDSHAKE_TRAFFIC_SECRET|SERVER_HANDSHAKE_TRAFFIC_SECRET|CLIENT_TRAFFIC_SECRET_0|SERVER_TRAFFIC_SECRET_0|EXPORTER_SECRET) [0-9a-f]{64} [0-9a-f]{64,}$' "$KEYLOG" 2>/dev/null)
        [ "${bad:-1}" = 0 ] && pass "keylog: every line is NSS key-log format (LABEL <64 hex client random> <hex secret>)" ||
            fail "keylog: every line is NSS key-log format ($bad other lines)"
        for label in CLIENT_HANDSHAKE_TRAFFIC_SECRET SERVER_HANDSHAKE_TRAFFIC_SECRET CLIENT_TRAFFIC_SECRET_0 SERVER_TRAFFIC_SECRET_0 CLIENT_RANDOM; do
            grep -q "^$label " "$KEYLOG" 2>/dev/null && pass "keylog: has a $label line" || fail "keylog: has a $label line"
        done
        # the key-log lines belong to the captured handshakes (client randoms of the ClientHellos)
        randoms=$(tshark -r "$CAP" -Y 'tls.handshake.type == 1' -T fields -e tls.handshake.random 2>/dev/null | tr -d ':' | sort -u)
        nr=$(printf '%s\n' "$randoms" | grep -c .)
        missing=0
        for r in $randoms; do grep -q " $r " "$KEYLOG" || missing=$((missing + 1)); done
        [ "$nr" = 2 ] && [ "$missing" = 0 ] && pass "keylog: the capture holds 2 ClientHellos and the key log has lines for both client randoms" ||
            fail "keylog: the capture holds 2 ClientHellos and the key log has lines for both client randoms ($nr hellos, $missing without key-log lines)"
        # encrypted without the key log ...
        appdata=$(tshark -r "$CAP" -Y 'tls.app_data' 2>/dev/null | grep -c .)
        [ "$appdata" -gt 0 ] && pass "keylog: the capture has TLS application data records ($appdata packets)" ||
            fail "keylog: the capture has TLS application data records"
        grep -aqF "$KEYLOG_MARKER" "$CAP" && fail "keylog: the served text is not in the capture in clear" ||
            pass "keylog: the served text is not in the capture in clear"
        plain=$(tshark -r "$CAP" -Y http 2>/dev/null | grep -c .)
        [ "$plain" = 0 ] && pass "keylog: without the key log, tshark -Y http shows nothing" ||
            fail "keylog: without the key log, tshark -Y http shows nothing (got $plain packets)"
        # ... and decrypted with it
        tshark -r "$CAP" -o "tls.keylog_file:$KEYLOG" -Y http -T fields -e tcp.stream -e http.request.uri \
            -e http.response.code -e http.file_data 2>/dev/null >"$LOGS/tshark-decrypted.txt"
        sed 's/^/#   decrypted: /' "$LOGS/tshark-decrypted.txt"
        for stream in 0 1; do
            req=$(awk -F'\t' -v s="$stream" '$1 == s && $2 == "/keylog.txt"' "$LOGS/tshark-decrypted.txt" | grep -c .)
            resp=$(awk -F'\t' -v s="$stream" '$1 == s && $3 == "200"' "$LOGS/tshark-decrypted.txt" | grep -cF "$KEYLOG_MARKER")
            [ "$req" = 1 ] && [ "$resp" = 1 ] &&
                pass "keylog: with the key log, tshark decrypts session $stream: GET /keylog.txt and the 200 response carrying the served text" ||
                fail "keylog: with the key log, tshark decrypts session $stream: GET /keylog.txt and the 200 response carrying the served text ($req requests, $resp responses)"
        done
        # one session was TLS 1.3 (ServerHello supported_versions 0x0304), the other TLS 1.2
        vers=$(tshark -r "$CAP" -Y 'tls.handshake.type == 2' -T fields -e tcp.stream \
            -e tls.handshake.extensions.supported_version -e tls.handshake.version 2>/dev/null)
        n13=$(printf '%s\n' "$vers" | awk -F'\t' '$2 == "0x0304"' | grep -c .)
        n12=$(printf '%s\n' "$vers" | awk -F'\t' '$2 == "" && $3 == "0x0303"' | grep -c .)
        [ "$n13" = 1 ] && [ "$n12" = 1 ] &&
            pass "keylog: the capture's ServerHellos: one TLS 1.3 session and one TLS 1.2 session" ||
            fail "keylog: the capture's ServerHellos: one TLS 1.3 session and one TLS 1.2 session (got: $(printf '%s' "$vers" | tr '\t\n' ' ;'))"
        RESULTS+=("$(printf '%-34s %3d passed, %d failed (the runner: key log file and tshark on the capture)' \
            "keylog-tshark" $((PASS - kl_pass0)) $((FAIL - kl_fail0)))")
    fi
fi

# ================================================================================================
# Exim: SMTP with STARTTLS through the deferred handshake; delivery into a local mailbox.
# ================================================================================================
if wanted exim; then
    EX=$WORK/exim
    mkdir -p "$EX/spool" "$EX/log" "$EX/mail"
    EXIM_USER=$(exim4 -bP exim_user 2>/dev/null | sed 's/.*= *//')
    [ -n "$EXIM_USER" ] || EXIM_USER=Debian-exim
    # Exim gives up root for a configuration named with -C and runs as its own user.
    chown "$EXIM_USER" "$EX/spool" "$EX/log" "$EX/mail"
    EXIM_PORT=$(free_port)
    cat >"$EX/exim.conf" <<EOF
# sslsock interop: Exim on 127.0.0.1:$EXIM_PORT only, STARTTLS, local delivery to one mailbox.
keep_environment =
primary_hostname = localhost
qualify_domain = localhost
domainlist local_domains = localhost
local_interfaces = <; 127.0.0.1.$EXIM_PORT
daemon_smtp_ports = $EXIM_PORT
spool_directory = $EX/spool
log_file_path = $EX/log/%slog
pid_file_path = $EX/exim.pid
tls_advertise_hosts = *
tls_certificate = $PKI/good.pem
tls_privatekey = $PKI/good.key
log_selector = +tls_cipher +incoming_port +received_recipients +smtp_connection +tls_peerdn
message_size_limit = 10M
host_lookup =
rfc1413_hosts =
acl_smtp_mail = acl_mail
acl_smtp_rcpt = acl_rcpt

begin acl
acl_mail:
  deny    message = STARTTLS first
          !encrypted = *
  accept
acl_rcpt:
  accept  domains = +local_domains
          local_parts = test
  deny    message = unknown recipient

begin routers
local_mailbox:
  driver = accept
  domains = +local_domains
  local_parts = test
  transport = mailbox

begin transports
mailbox:
  driver = appendfile
  file = $EX/mail/test.mbox
  mode = 0644
  delivery_date_add
  envelope_to_add
  return_path_add
EOF
    exim4 -C "$EX/exim.conf" -bdf -q30m </dev/null >"$LOGS/exim.stdout" 2>&1 &
    add_server exim $!
    if wait_listen "$EXIM_PORT" $!; then
        run_client exim-smtp-starttls exim_smtp --port "$EXIM_PORT" --log "$EX/log/mainlog" \
            --mailbox "$EX/mail/test.mbox" --leaf good.der
        run_client exim-smtp-starttls-tls12 exim_smtp --port "$EXIM_PORT" --log "$EX/log/mainlog" \
            --mailbox "$EX/mail/test.mbox" --leaf good.der --protocol 12
        grep -q 'PLAINTEXT\|TLS error' "$EX/log/mainlog" && sed -n '/TLS error/s/^/#   exim: /p' "$EX/log/mainlog"
    else
        sed 's/^/#   /' "$LOGS/exim.stdout" "$EX/log/mainlog" "$EX/log/paniclog" 2>/dev/null
        fail "exim did not start on 127.0.0.1:$EXIM_PORT"
    fi
fi

# ================================================================================================
# Dovecot: IMAP with STARTTLS through the deferred handshake; passwd-file user.
# ================================================================================================
if wanted dovecot; then
    DV=$WORK/dovecot
    mkdir -p "$DV/run" "$DV/mail"
    chown nobody "$DV/mail"
    NOBODY_UID=$(id -u nobody)
    NOBODY_GID=$(id -g nobody)
    printf 'test:{PLAIN}interop-secret:%s:%s::%s\n' "$NOBODY_UID" "$NOBODY_GID" "$DV/mail/test" >"$DV/passwd"
    chmod 644 "$DV/passwd"
    DOVECOT_PORT=$(free_port)
    cat >"$DV/dovecot.conf" <<EOF
# sslsock interop: Dovecot IMAP on 127.0.0.1:$DOVECOT_PORT only, STARTTLS required.
protocols = imap
listen = 127.0.0.1
base_dir = $DV/run
instance_name = sslsock-interop-$$
log_path = $LOGS/dovecot.log
info_log_path = $LOGS/dovecot.log
login_log_format_elements = user=<%u> method=%m rip=%r rport=%{rport} lip=%l lport=%{lport} mpid=%e %c tls=[%k]
ssl = required
ssl_cert = <$PKI/good.pem
ssl_key = <$PKI/good.key
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes
auth_mechanisms = plain
passdb {
  driver = passwd-file
  args = scheme=PLAIN $DV/passwd
}
userdb {
  driver = passwd-file
  args = $DV/passwd
}
mail_location = maildir:$DV/mail/%u
first_valid_uid = 1
default_internal_user = dovecot
default_login_user = dovenull
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $DOVECOT_PORT
  }
  inet_listener imaps {
    port = 0
  }
}
service stats {
  inet_listener http {
    port = 0
  }
}
EOF
    dovecot -c "$DV/dovecot.conf" -F </dev/null >"$LOGS/dovecot.stdout" 2>&1 &
    add_server dovecot $!
    if wait_listen "$DOVECOT_PORT" $!; then
        run_client dovecot-imap-starttls dovecot_imap --port "$DOVECOT_PORT" --log "$LOGS/dovecot.log" \
            --leaf good.der --user test --password interop-secret
        run_client dovecot-imap-starttls-tls12 dovecot_imap --port "$DOVECOT_PORT" --log "$LOGS/dovecot.log" \
            --leaf good.der --user test --password interop-secret --protocol 12
    else
        sed 's/^/#   /' "$LOGS/dovecot.stdout" "$LOGS/dovecot.log" 2>/dev/null
        fail "dovecot did not start on 127.0.0.1:$DOVECOT_PORT"
    fi
fi

# ================================================================================================
# PostgreSQL 15, ssl=on, hostssl + trust on 127.0.0.1: SSLRequest, deferred handshake, protocol 3.0.
# ================================================================================================
if wanted postgres; then
    if [ -z "$PG_BIN" ]; then
        fail "postgres: no PostgreSQL binaries (initdb, pg_ctl, postgres) in /usr/local/bin or /usr/lib/postgresql"
    else
        PG=$WORK/pg
        PG_DATA=$PG/data
        mkdir -p "$PG/sock"
        install -o postgres -m 600 "$PKI/good.key" "$PG/server.key"
        install -o postgres -m 644 "$PKI/good.pem" "$PG/server.pem"
        chown -R postgres "$PG"
        PG_PORT=$(free_port)
        if ! (cd "$PG" && runuser -u postgres -- "$PG_BIN/initdb" -D "$PG_DATA" -A trust -U postgres -N \
            -E UTF8 --locale=C >"$LOGS/initdb.log" 2>&1); then
            sed 's/^/#   /' "$LOGS/initdb.log"
            fail "postgres: initdb"
            PG_DATA=
        else
            cat >>"$PG_DATA/postgresql.conf" <<EOF
# sslsock interop
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG/sock'
ssl = on
ssl_cert_file = '$PG/server.pem'
ssl_key_file = '$PG/server.key'
log_connections = on
log_disconnections = on
fsync = off
EOF
            cat >"$PG_DATA/pg_hba.conf" <<EOF
# sslsock interop: the socket for the set-up, TLS-only TCP from 127.0.0.1
local   all  all                 trust
hostssl all  all  127.0.0.1/32   trust
EOF
            if (cd "$PG" && runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG/server.log" -w -t 30 \
                start >"$LOGS/pg_ctl.log" 2>&1); then
                PGPID=$(head -n 1 "$PG_DATA/postmaster.pid")
                add_server postgres "$PGPID"
                (cd "$PG" && runuser -u postgres -- psql -X -q -h "$PG/sock" -p "$PG_PORT" -U postgres -d postgres \
                    -c "CREATE ROLE sslsock LOGIN" -c "CREATE DATABASE interop OWNER sslsock" \
                    -c "GRANT pg_read_all_settings TO sslsock") >"$LOGS/psql-setup.log" 2>&1 ||
                    { sed 's/^/#   /' "$LOGS/psql-setup.log"; fail "postgres: create role sslsock and database interop"; }
                run_client postgres-sslrequest postgres_ssl --port "$PG_PORT" --log "$PG/server.log" --leaf good.der \
                    --user sslsock --database interop
                run_client postgres-sslrequest-tls12 postgres_ssl --port "$PG_PORT" --log "$PG/server.log" \
                    --leaf good.der --user sslsock --database interop --protocol 12
                # The server's own tally: every connection of ours was TLS.
                n_ssl=$(grep -c 'connection authorized: user=sslsock database=interop application_name=sslsock-interop SSL enabled' "$PG/server.log")
                n_all=$(grep -c 'connection authorized: user=sslsock database=interop' "$PG/server.log")
                [ "$n_ssl" -ge 1 ] && [ "$n_ssl" = "$n_all" ] &&
                    pass "postgres: the server log shows all $n_all connections of sslsock over SSL" ||
                    fail "postgres: the server log shows all connections of sslsock over SSL ($n_ssl of $n_all)"
            else
                sed 's/^/#   /' "$LOGS/pg_ctl.log" "$PG/server.log" 2>/dev/null
                fail "postgres did not start on 127.0.0.1:$PG_PORT"
            fi
        fi
    fi
fi

# ================================================================================================
# Redis with TLS (tls-port), when the packaged redis-server was built with TLS.
# ================================================================================================
if wanted redis; then
    if ! command -v redis-server >/dev/null 2>&1; then
        fail "redis: redis-server is not installed"
    else
        RD=$WORK/redis
        mkdir -p "$RD"
        REDIS_PORT=$(free_port)
        cat >"$RD/redis.conf" <<EOF
# sslsock interop: TLS only (port 0), 127.0.0.1 only; one protocol and one TLS 1.3 suite allowed,
# so that what was negotiated is what the server's configuration (CONFIG GET) says.
bind 127.0.0.1
port 0
tls-port $REDIS_PORT
tls-cert-file $PKI/good.pem
tls-key-file $PKI/good.key
tls-ca-cert-file $PKI/ca.pem
tls-auth-clients no
tls-protocols "TLSv1.3"
tls-ciphersuites TLS_CHACHA20_POLY1305_SHA256
daemonize no
dir $RD
logfile $LOGS/redis.log
loglevel verbose
save ""
appendonly no
protected-mode yes
EOF
        redis_bin=$(command -v redis-server)
        if ldd "$redis_bin" 2>/dev/null | grep -q libssl; then redis_tls="links libssl"; else redis_tls="does not link libssl"; fi
        say "redis: $(redis-server --version | head -n 1); the binary $redis_tls"
        redis-server "$RD/redis.conf" </dev/null >"$LOGS/redis.stdout" 2>&1 &
        add_server redis $!
        if wait_listen "$REDIS_PORT" $!; then
            run_client redis-tls redis_tls --port "$REDIS_PORT" --leaf good.der
            grep -q "Accepted 127.0.0.1" "$LOGS/redis.log" &&
                pass "redis: the server logged TLS connections accepted on its tls-port" ||
                fail "redis: the server logged TLS connections accepted on its tls-port"
        elif grep -qiE 'TLS.*(not supported|not compiled|BUILD_TLS)|(not supported|not compiled).*TLS' \
            "$LOGS/redis.stdout" "$LOGS/redis.log" 2>/dev/null; then
            why=$(grep -hiE 'TLS' "$LOGS/redis.stdout" "$LOGS/redis.log" 2>/dev/null | head -n 1)
            SKIPS+=("redis: the packaged redis-server has no TLS support ($why)")
            echo "# skip - redis: the packaged redis-server was built without TLS: $why"
        else
            sed 's/^/#   /' "$LOGS/redis.stdout" "$LOGS/redis.log" 2>/dev/null
            fail "redis did not start on 127.0.0.1:$REDIS_PORT with tls-port (the binary $redis_tls)"
        fi
    fi
fi

# ---- every listener was on loopback -------------------------------------------------------
children_of() {   # the pids whose parent is $1 (from /proc: no procps needed)
    cat /proc/[0-9]*/stat 2>/dev/null |
        awk -v p="$1" '{ pid = $1; s = $0; sub(/^.*\) /, "", s); split(s, f, " "); if (f[2] == p) print pid }'
}
descendants() {   # descendants PID: PID and every process below it
    local c
    echo "$1"
    for c in $(children_of "$1"); do
        descendants "$c"
    done
}
bad_listen=""
for pid in "${SERVER_PIDS[@]+"${SERVER_PIDS[@]}"}"; do
    kill -0 "$pid" 2>/dev/null || continue
    # the server and its children, those in the host's network namespace
    for p in $(descendants "$pid"); do
        [ "$(readlink /proc/$p/ns/net 2>/dev/null)" = "$(readlink /proc/self/ns/net)" ] || continue
        l=$(ss -Hltnp 2>/dev/null | grep "pid=$p," | awk '{print $4}' | grep -v '^127\.0\.0\.1:' | tr '\n' ' ')
        [ -n "$l" ] && bad_listen="$bad_listen $p:$l"
    done
done
if [ -z "$bad_listen" ]; then
    pass "every server listened on 127.0.0.1 only (gnutls-serv inside its loopback-only namespace)"
else
    fail "every server listened on 127.0.0.1 only (also on:$bad_listen)"
fi

finish_line
[ "$FAIL" -eq 0 ]
