#!/usr/bin/env bash
# `make test-install`: `make install` and `make uninstall` into temporary directories (docs/packaging.md).
#
# 1. Staged (DESTDIR=<tmp>/stage PREFIX=/usr/local): exactly the expected files, the soname and links
#    (readelf), sslsock.pc's paths and version, the man page; `make uninstall` leaves no file behind.
# 2. A real prefix (PREFIX=<tmp>/prefix): examples/https_get.c built with nothing but
#    `cc $(pkg-config --cflags --libs sslsock)` (PKG_CONFIG_PATH at the prefix) records NEEDED
#    libsslsock.so.1, loads the installed library and fetches a page from openssl s_server; the same
#    program linked against libsslsock.a through `pkg-config --static --libs` needs no libsslsock at
#    run time and works too; the installed sslsock-run finds the installed library; uninstall empties
#    the prefix. Ends with "N passed, N failed".
set -u

cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
MAKE=${MAKE:-make}
CC=${CC:-cc}
. tests/python-env.sh || exit 2   # PYTHON: a Python with cryptography (target/pyenv when needed)
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
MAJOR=${VERSION%%.*}

for tool in readelf pkg-config openssl "$CC"; do
    command -v "$tool" >/dev/null || { echo "install: $tool is missing" >&2; exit 2; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sslsock-install.XXXXXX") || exit 2
SERVER_PID=
KEEP=0
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; fi
    if [ "$KEEP" = 1 ]; then echo "# work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

pass=0 fail=0
ok() { echo "ok - $*"; pass=$((pass + 1)); }
not_ok() { echo "not ok - $*"; fail=$((fail + 1)); KEEP=1; }
check() { # check DESCRIPTION COMMAND...
    local what=$1
    shift
    if "$@"; then ok "$what"; else not_ok "$what"; fi
}
same() { [ "$1" = "$2" ] || { echo "   | got:      $1" | head -20; echo "   | expected: $2" | head -20; false; }; }
# our_files DIR: every file and link under DIR (not directories), relative, sorted.
our_files() { (cd "$1" && find . ! -type d | sed 's|^\./||' | LC_ALL=C sort); }
soname() { readelf -d "$1" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p'; }
needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' '; }

# The headers: the API ones and the compat set, each with its mixed-case spellings (<WinSock2.h>, ...).
EXPECTED=$(LC_ALL=C sort <<EOF_EXPECTED
bin/sslsock-run
$(cd include && ls ./*.h ./*.H sslsock/compat/*.h sslsock/compat/*.H | sed 's|^\./||; s|^|include/|')
lib/libsslsock.a
lib/libsslsock.so
lib/libsslsock.so.$MAJOR
lib/libsslsock.so.$VERSION
lib/pkgconfig/sslsock.pc
share/man/man7/sslsock.7
EOF_EXPECTED
)

# ---- 1. staged install ------------------------------------------------------------------
echo "# version $VERSION (soname libsslsock.so.$MAJOR)"
STAGE=$WORK/stage
if $MAKE --no-print-directory install DESTDIR="$STAGE" PREFIX=/usr/local >"$WORK/install-staged.log" 2>&1; then
    ok "make install DESTDIR=<tmp> PREFIX=/usr/local"
else
    sed 's/^/   | /' "$WORK/install-staged.log"
    not_ok "make install DESTDIR=<tmp> PREFIX=/usr/local"
fi
L=$STAGE/usr/local/lib
check "staged: exactly the expected files under DESTDIR/usr/local" \
    same "$(our_files "$STAGE")" "$(sed 's|^|usr/local/|' <<<"$EXPECTED")"
check "staged: libsslsock.so.$VERSION is a regular file with DT_SONAME libsslsock.so.$MAJOR" \
    eval '[ -f "$L/libsslsock.so.$VERSION" ] && [ ! -L "$L/libsslsock.so.$VERSION" ] && [ "$(soname "$L/libsslsock.so.$VERSION")" = "libsslsock.so.$MAJOR" ]'
check "staged: libsslsock.so.$MAJOR -> libsslsock.so.$VERSION (relative link)" \
    same "$(readlink "$L/libsslsock.so.$MAJOR")" "libsslsock.so.$VERSION"
check "staged: libsslsock.so -> libsslsock.so.$MAJOR (relative link)" \
    same "$(readlink "$L/libsslsock.so")" "libsslsock.so.$MAJOR"
check "staged: libsslsock.a defines WSAIoctl and socket, without rustc's embedded bitcode" \
    eval 'nm --defined-only "$L/libsslsock.a" 2>/dev/null | grep -Eq " T WSAIoctl$" && nm --defined-only "$L/libsslsock.a" 2>/dev/null | grep -Eq " T socket$" && ! readelf -S -W "$L/libsslsock.a" | grep -q "\.llvmbc"'
check "staged: sslsock.pc names the real prefix (not DESTDIR) and version $VERSION" \
    eval 'grep -qx "prefix=/usr/local" "$L/pkgconfig/sslsock.pc" && grep -qx "libdir=/usr/local/lib" "$L/pkgconfig/sslsock.pc" && grep -qx "includedir=/usr/local/include" "$L/pkgconfig/sslsock.pc" && grep -qx "Version: $VERSION" "$L/pkgconfig/sslsock.pc"'
check "staged: the headers and sslsock-run are the source tree's" \
    eval 'cmp -s include/sslsock.h "$STAGE/usr/local/include/sslsock.h" && cmp -s include/winsock2.h "$STAGE/usr/local/include/winsock2.h" && cmp -s tools/sslsock-run "$STAGE/usr/local/bin/sslsock-run" && [ -x "$STAGE/usr/local/bin/sslsock-run" ]'
if command -v groff >/dev/null; then
    check "staged: the man page formats without warnings (groff -man -ww)" \
        eval '[ -z "$(groff -man -Tutf8 -ww -z "$STAGE/usr/local/share/man/man7/sslsock.7" 2>&1)" ]'
fi
check "staged: the man page names version $VERSION" grep -q "\"sslsock $VERSION\"" "$STAGE/usr/local/share/man/man7/sslsock.7"
$MAKE --no-print-directory uninstall DESTDIR="$STAGE" PREFIX=/usr/local >"$WORK/uninstall-staged.log" 2>&1
check "staged: make uninstall removes every file it installed" same "$(our_files "$STAGE")" ""

# ---- 2. a real prefix, used through pkg-config ---------------------------------------------
PREFIX=$WORK/prefix
if $MAKE --no-print-directory install PREFIX="$PREFIX" LDCONFIG=true >"$WORK/install.log" 2>&1; then
    ok "make install PREFIX=<tmp>/prefix"
else
    sed 's/^/   | /' "$WORK/install.log"
    not_ok "make install PREFIX=<tmp>/prefix"
fi
check "prefix: exactly the expected files" same "$(our_files "$PREFIX")" "$EXPECTED"
# The installed headers (API and compat set, mixed-case spellings included) compile every name issue 14
# added, as C and as C++, with -Wall -Wextra -Werror (tests/headers/use_names.c).
for lang in "c|$CC -x c -std=c99 -D_DEFAULT_SOURCE" "c++|${CXX:-g++} -x c++ -std=c++17"; do
    # shellcheck disable=SC2086
    check "prefix: the installed headers compile tests/headers/use_names.c [${lang%%|*}]" \
        ${lang#*|} -Wall -Wextra -Werror -I"$PREFIX/include" -I"$PREFIX/include/sslsock/compat" \
        -c tests/headers/use_names.c -o "$WORK/use_names.o"
done
export PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig
unset PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR
check "pkg-config --modversion sslsock is $VERSION" same "$(pkg-config --modversion sslsock)" "$VERSION"
check "pkg-config --cflags --libs sslsock names the prefix" \
    same "$(echo $(pkg-config --cflags --libs sslsock))" "-I$PREFIX/include -L$PREFIX/lib -lsslsock"

# A server: openssl s_server -WWW with a test CA (tests/pki/mkcerts.py).
"$PYTHON" tests/pki/mkcerts.py "$WORK/pki" >/dev/null || { echo "install: mkcerts.py failed" >&2; exit 2; }
mkdir -p "$WORK/docroot"
head -c 7777 /dev/zero | tr '\0' x >"$WORK/docroot/page.txt"
(cd "$WORK/docroot" && exec openssl s_server -accept 127.0.0.1:0 -cert "$WORK/pki/good.pem" \
    -key "$WORK/pki/good.key" -WWW) </dev/null >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
PORT=
for _ in $(seq 1 150); do
    PORT=$(sed -n 's/^ACCEPT 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$WORK/server.log" | head -n 1)
    [ -n "$PORT" ] && break
    sleep 0.1
done
[ -n "$PORT" ] || { cat "$WORK/server.log" >&2; echo "install: s_server did not start" >&2; KEEP=1; exit 1; }
export SSL_CERT_FILE=$WORK/pki/ca.pem
unset SSL_CERT_DIR

# Shared: only what pkg-config says. Nothing from the source tree may be found at run time.
DYN=$WORK/https_get
# shellcheck disable=SC2046
if "$CC" -o "$DYN" examples/https_get.c $(pkg-config --cflags --libs sslsock) >"$WORK/cc.log" 2>&1; then
    ok "cc examples/https_get.c \$(pkg-config --cflags --libs sslsock)"
else
    sed 's/^/   | /' "$WORK/cc.log"
    not_ok "cc examples/https_get.c \$(pkg-config --cflags --libs sslsock)"
fi
check "the program records NEEDED libsslsock.so.$MAJOR (the soname), not libsslsock.so" \
    eval '[[ " $(needed "$DYN")" == *" libsslsock.so.$MAJOR "* ]]'
LIBDIR_PC=$(pkg-config --variable=libdir sslsock)
check "at run time libsslsock.so.$MAJOR resolves to the installed library" \
    eval 'LD_LIBRARY_PATH="$LIBDIR_PC" ldd "$DYN" | grep -q "libsslsock.so.$MAJOR => $PREFIX/lib/libsslsock.so.$MAJOR"'
LD_LIBRARY_PATH=$LIBDIR_PC timeout 30 "$DYN" 127.0.0.1 "$PORT" /page.txt >"$WORK/dyn.out" 2>&1
rc=$?
sed 's/^/   | /' "$WORK/dyn.out"
check "https_get (shared) fetched the page: exit 0, 200, 7777 bytes" \
    eval '[ $rc -eq 0 ] && grep -qx "HTTP/1.0 200 ok" "$WORK/dyn.out" && grep -qx "body: 7777 bytes" "$WORK/dyn.out"'

# Static: the archive, and the system libraries of Libs.private.
STATIC=$WORK/https_get_static
STATIC_LIBS=$(pkg-config --static --libs sslsock | sed 's/-lsslsock\b/-l:libsslsock.a/')
check "pkg-config --static --libs sslsock adds Libs.private (-lgcc_s ... -ldl)" \
    eval '[[ "$(pkg-config --static --libs sslsock)" == *"-lsslsock -lgcc_s"*"-lpthread"*"-ldl"* ]]'
# shellcheck disable=SC2086
if "$CC" -o "$STATIC" examples/https_get.c $(pkg-config --cflags sslsock) $STATIC_LIBS >"$WORK/cc-static.log" 2>&1; then
    ok "cc examples/https_get.c \$(pkg-config --cflags sslsock) $STATIC_LIBS"
else
    sed 's/^/   | /' "$WORK/cc-static.log"
    not_ok "cc examples/https_get.c with \$(pkg-config --static --libs sslsock), -l:libsslsock.a"
fi
check "the static program needs no libsslsock at run time (NEEDED: $(needed "$STATIC"))" \
    eval '[[ "$(needed "$STATIC")" != *libsslsock* ]] && nm "$STATIC" | grep -q " T WSAIoctl$"'
timeout 30 "$STATIC" 127.0.0.1 "$PORT" /page.txt >"$WORK/static.out" 2>&1
rc=$?
sed 's/^/   | /' "$WORK/static.out"
check "https_get (static) fetched the page: exit 0, 200, 7777 bytes" \
    eval '[ $rc -eq 0 ] && grep -qx "HTTP/1.0 200 ok" "$WORK/static.out" && grep -qx "body: 7777 bytes" "$WORK/static.out"'
CA_STATIC_OUT=$(SSL_CERT_FILE=$WORK/pki/other-ca.pem timeout 30 "$STATIC" 127.0.0.1 "$PORT" /page.txt 2>&1)
check "https_get (static) refuses a server of another CA (WSAECONNABORTED)" \
    eval '[[ "$CA_STATIC_OUT" == *"connect failed: error 10053"* ]]'
echo "# sizes: libsslsock.a $(stat -c %s "$PREFIX/lib/libsslsock.a") bytes, libsslsock.so.$VERSION $(stat -c %s "$PREFIX/lib/libsslsock.so.$VERSION") bytes, static https_get $(stat -c %s "$STATIC") bytes"

# The installed sslsock-run preloads the installed library.
PRELOADED=$(env -u SSLSOCK_LIB -u LD_PRELOAD "$PREFIX/bin/sslsock-run" sh -c 'echo "$LD_PRELOAD"')
check "the installed sslsock-run preloads the installed library ($PRELOADED)" \
    same "$(readlink -f "$PRELOADED")" "$(readlink -f "$PREFIX/lib/libsslsock.so.$VERSION")"

$MAKE --no-print-directory uninstall PREFIX="$PREFIX" >"$WORK/uninstall.log" 2>&1
check "make uninstall PREFIX=<tmp>/prefix leaves no file in the prefix" same "$(our_files "$PREFIX")" ""

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
