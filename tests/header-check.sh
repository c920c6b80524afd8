#!/usr/bin/env bash
# tests/header-check.sh - compile checks of the hand-written headers
# include/winsock2.h and include/winsock.h (and their use with include/sslsock.h).
#
# Run from the repository root.  Each small program below is compiled (-c) in
# every language mode that legacy code is built with; one line per program and
# mode: "ok - ..." or "not ok - ..." (with the compiler's output after it), then
# "N passed, N failed".  Exit status 0 only if nothing failed.
#
# Environment: CC (default cc), CXX (default g++), INCLUDE_DIR (default include).
# The cases that need <sslsock.h> use INCLUDE_DIR/sslsock.h and are skipped with a
# note while it does not exist.
set -eu

CC=${CC:-cc}
CXX=${CXX:-g++}
INCLUDE_DIR=${INCLUDE_DIR:-include}

if [ ! -f "$INCLUDE_DIR/winsock2.h" ]; then
    echo "header-check.sh: run from the repository root ($INCLUDE_DIR/winsock2.h not found)" >&2
    exit 2
fi
INC=$(cd "$INCLUDE_DIR" && pwd)

TMP=$(mktemp -d "${TMPDIR:-/tmp}/sslsock-header-check.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

passed=0
failed=0

ok()     { passed=$((passed + 1)); echo "ok - $1"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $1"; }

HAVE_SSLSOCK=0
if [ -f "$INC/sslsock.h" ]; then
    HAVE_SSLSOCK=1
else
    echo "# note: $INCLUDE_DIR/sslsock.h does not exist yet: the cases that include it are skipped"
fi

# Language modes: name|driver|flags
MODES=(
    "c99|$CC|-x c -std=c99 -D_DEFAULT_SOURCE -Wall -Wextra -Werror"
    "c99-strict|$CC|-x c -std=c99 -Wall -Wextra -Werror"
    "c11|$CC|-x c -std=c11 -Wall -Wextra -Werror"
    "gnu-default|$CC|-x c -Wall -Wextra -Werror"
    "c++11|$CXX|-x c++ -std=c++11 -Wall -Wextra -Werror"
    "c++17|$CXX|-x c++ -std=c++17 -Wall -Wextra -Werror"
)

# compile NAME FILE MODE...: compiles FILE in each MODE name given (all if none).
compile() {
    local name=$1 file=$2
    shift 2
    local m mname drv flags out
    for m in "${MODES[@]}"; do
        IFS='|' read -r mname drv flags <<<"$m"
        if [ $# -gt 0 ] && ! printf '%s\n' "$@" | grep -qx -- "$mname"; then
            continue
        fi
        # shellcheck disable=SC2086
        if out=$("$drv" $flags -I"$INC" -c "$file" -o "$TMP/out.o" 2>&1); then
            ok "$name [$mname]"
        else
            not_ok "$name [$mname]"
            printf '%s\n' "$out" | sed 's/^/#   /'
        fi
    done
}

# A use of the names both headers must provide, appended to the include lines.
cat >"$TMP/use.inc" <<'EOF'
int use_headers(void);
int use_headers(void)
{
    SOCKET s = INVALID_SOCKET;
    DWORD n = 0;
    WSADATA wd;
    if (WSAStartup(MAKEWORD(2, 2), &wd) != 0)
        return SOCKET_ERROR;
    (void)WSAIoctl(s, 0, NULL, 0, NULL, 0, &n, NULL, NULL);
    return WSAGetLastError() == WSAEWOULDBLOCK ? closesocket(s) : WSACleanup();
}
EOF

# ---- 1. include orders ------------------------------------------------------
if [ "$HAVE_SSLSOCK" = 1 ]; then
    { printf '#include <winsock2.h>\n#include <sslsock.h>\n'; cat "$TMP/use.inc"
      printf 'DWORD use_ssl(void) { BLOB b; b.cbSize = 0; (void)b; return SO_SEC_SSL; }\n'; } >"$TMP/order1.c"
    compile "<winsock2.h> then <sslsock.h>" "$TMP/order1.c"
    { printf '#include <sslsock.h>\n#include <winsock2.h>\n'; cat "$TMP/use.inc"
      printf 'DWORD use_ssl(void) { BLOB b; b.cbSize = 0; (void)b; return SO_SEC_SSL; }\n'; } >"$TMP/order2.c"
    compile "<sslsock.h> then <winsock2.h>" "$TMP/order2.c"
    { printf '#include <winsock.h>\n#include <sslsock.h>\n'; cat "$TMP/use.inc"; } >"$TMP/order3.c"
    compile "<winsock.h> then <sslsock.h>" "$TMP/order3.c"
else
    echo "# skip: <winsock2.h> then <sslsock.h>; <sslsock.h> then <winsock2.h>; <winsock.h> then <sslsock.h>"
fi
{ printf '#include <winsock.h>\n#include <winsock.h>\n#include <winsock2.h>\n'; cat "$TMP/use.inc"; } >"$TMP/winsock.c"
compile "<winsock.h> alone (and included twice)" "$TMP/winsock.c"

# ---- 2. winsock2.h leaves sslsock.h's names alone -----------------------------
cat >"$TMP/nossl.c" <<'EOF'
#include <winsock2.h>
#if defined(SO_SECURE) || defined(SO_SEC_SSL) || defined(SO_SSL_FAMILY) || defined(SSL_ERR_OKAY) \
    || defined(SSL_FLAG_DEFER_HANDSHAKE) || defined(IOC_VOID)
#error winsock2.h defines a name that belongs to sslsock.h
#endif
/* BLOB/LPBLOB and FILETIME are Windows' (declared as Windows does, under _tagBLOB_DEFINED/_FILETIME_). */
#if !defined(_tagBLOB_DEFINED) || !defined(_BLOB_DEFINED) || !defined(_LPBLOB_DEFINED) || !defined(_FILETIME_)
#error winsock2.h does not declare BLOB and FILETIME under the Windows guards
#endif
struct _BLOB tagged_blob;
LPBLOB blob_pointer = &tagged_blob;
int SO_SSL_GET_FLAGS = 0;                                           /* not a macro */
EOF
compile "winsock2.h declares BLOB/LPBLOB and FILETIME under Windows' guards, and no SO_SSL_*, SSL_*, SO_SECURE or IOC_VOID" "$TMP/nossl.c"

# ---- 3. the Windows fd_set idioms of legacy code -------------------------------
cat >"$TMP/idioms.c" <<'EOF'
#include <winsock2.h>
#include <stdlib.h>
#include <stdio.h>
#if FD_SETSIZE != 64
#error FD_SETSIZE should default to 64
#endif
typedef char check_fd_array_is_64[(sizeof(((fd_set *)0)->fd_array) / sizeof(SOCKET) == 64) ? 1 : -1];
int idioms(SOCKET s);
int idioms(SOCKET s)
{
    fd_set r, w;
    struct fd_set e;
    FD_SET *pf = &w;
    LPFD_SET lpf = &e;
    struct timeval tv;
    TIMEVAL tv2;
    WSADATA wsaData;
    u_long nb = 1;
    DWORD cb = 0;
    u_int i;
    int n, err;

    if (WSAStartup(MAKEWORD(2, 2), &wsaData) != 0 || LOBYTE(wsaData.wVersion) != 2
        || HIBYTE(wsaData.wVersion) != 2)
        return -1;
    printf("%s %s\n", wsaData.szDescription, wsaData.szSystemStatus);
    FD_ZERO(&r);
    FD_SET(s, &r);
    FD_SET((unsigned)s, &r);
    FD_CLR(s, &r);
    r.fd_count = 1;
    r.fd_array[0] = s;
    FD_ZERO(pf);
    FD_SET(s, pf);
    FD_ZERO(lpf);
    tv.tv_sec = 5;
    tv.tv_usec = 0;
    tv2 = tv;
    n = select(0, &r, NULL, NULL, &tv);
    if (n == SOCKET_ERROR)
        err = WSAGetLastError();
    else
        err = 0;
    n = select(FD_SETSIZE, &r, &w, &e, &tv2);
    n = select(s + 1, NULL, &w, NULL, NULL);
    if (FD_ISSET(s, &r) && !FD_ISSET(s, &w))
        n++;
    for (i = 0; i < r.fd_count; i++)
        if (r.fd_array[i] == s)
            n++;
    if (ioctlsocket(s, FIONBIO, &nb) == SOCKET_ERROR)
        return -1;
    nb = 0;
    if (ioctlsocket(s, FIONREAD, &nb) == SOCKET_ERROR)
        return -1;
    if (WSAIoctl(s, 0x1073000D, NULL, 0, NULL, 0, NULL, NULL, NULL) == SOCKET_ERROR)
        WSASetLastError(0);
    (void)WSAIoctl(s, 0x5073000E, NULL, 0, NULL, 0, &cb, NULL, NULL);
    if (shutdown(s, SD_BOTH) == SOCKET_ERROR || closesocket(s) == SOCKET_ERROR)
        return err;
    if (WSACleanup() != 0)
        return -1;
    return n + (int)nb;
}
/* select is sslsock_select, with the Windows fd_set. */
int (*select_fn)(int, fd_set *, fd_set *, fd_set *, const struct timeval *) = select;
EOF
compile "Windows fd_set idioms, WSAStartup, WSAIoctl, ioctlsocket" "$TMP/idioms.c"

# A system header first (it brings glibc's <sys/select.h> and FD_SETSIZE 1024).
cat >"$TMP/sysfirst.c" <<'EOF'
#include <stdlib.h>
#include <sys/select.h>
#include <winsock2.h>
#if FD_SETSIZE != 64
#error FD_SETSIZE should be 64 when the program did not set it
#endif
typedef char check_fd_array_is_64[(sizeof(((fd_set *)0)->fd_array) / sizeof(SOCKET) == 64) ? 1 : -1];
int sysfirst(SOCKET s) { fd_set r; FD_ZERO(&r); FD_SET(s, &r); return select(0, &r, NULL, NULL, NULL); }
EOF
compile "system headers before <winsock2.h>: Windows fd_set of 64" "$TMP/sysfirst.c"

# ---- 4. FD_SETSIZE chosen by the program ---------------------------------------
cat >"$TMP/setsize.c" <<'EOF'
#define FD_SETSIZE 256
#include <winsock2.h>
#include <stdio.h>
#if FD_SETSIZE != 256
#error FD_SETSIZE should stay 256
#endif
typedef char check_fd_array_is_256[(sizeof(((fd_set *)0)->fd_array) / sizeof(SOCKET) == 256) ? 1 : -1];
int setsize(SOCKET s);
int setsize(SOCKET s) { fd_set r; FD_ZERO(&r); FD_SET(s, &r); return select(0, &r, NULL, NULL, NULL) + FD_ISSET(s, &r); }
EOF
compile "#define FD_SETSIZE 256 before <winsock2.h>" "$TMP/setsize.c"

cat >"$TMP/setsize2.c" <<'EOF'
#define SSLSOCK_FD_SETSIZE 512
#include <stdlib.h>
#include <winsock2.h>
#if FD_SETSIZE != 512
#error FD_SETSIZE should follow SSLSOCK_FD_SETSIZE
#endif
typedef char check_fd_array_is_512[(sizeof(((fd_set *)0)->fd_array) / sizeof(SOCKET) == 512) ? 1 : -1];
EOF
compile "SSLSOCK_FD_SETSIZE 512 (after a system header)" "$TMP/setsize2.c"

# ---- 5. POSIX fd_set mode --------------------------------------------------------
cat >"$TMP/posix.c" <<'EOF'
#define SSLSOCK_POSIX_FD_SET
#include <winsock2.h>
#ifdef select
#error select must stay the select of libc
#endif
int posix_select(int s);
int posix_select(int s)
{
    fd_set r;
    PFD_SET pr = &r;
    struct timeval tv = { 1, 0 };
    sslsock_fd_set w;          /* the Windows layout is still there under its own name */
    FD_ZERO(pr);
    FD_SET(s, &r);
    if (select(s + 1, &r, NULL, NULL, &tv) > 0 && FD_ISSET(s, &r))
        return 1;
    w.fd_count = 1;
    w.fd_array[0] = s;
    return sslsock_select(0, NULL, &w, NULL, &tv) + __WSAFDIsSet(s, &w);
}
EOF
compile "SSLSOCK_POSIX_FD_SET: POSIX fd_set and select" "$TMP/posix.c"
if [ "$HAVE_SSLSOCK" = 1 ]; then
    { printf '#define SSLSOCK_POSIX_FD_SET\n#include <sslsock.h>\n#include <winsock2.h>\n'
      printf 'int f(int s) { fd_set r; FD_ZERO(&r); FD_SET(s, &r); return select(s + 1, &r, NULL, NULL, NULL); }\n'; } >"$TMP/posix2.c"
    compile "SSLSOCK_POSIX_FD_SET with <sslsock.h> first" "$TMP/posix2.c"
else
    echo "# skip: SSLSOCK_POSIX_FD_SET with <sslsock.h> first"
fi

# ---- 6. what FD_SET/FD_CLR/FD_ZERO do (run: they need no library) ----------------
cat >"$TMP/fdrun.c" <<'EOF'
#include <winsock2.h>
#include <stdio.h>
int main(void)
{
    fd_set r;
    SOCKET i;
    int bad = 0;
    FD_ZERO(&r);
    FD_SET(5, &r); FD_SET(7, &r); FD_SET(5, &r); FD_SET(9, &r);       /* no duplicates */
    bad |= !(r.fd_count == 3 && r.fd_array[0] == 5 && r.fd_array[1] == 7 && r.fd_array[2] == 9);
    FD_CLR(7, &r);                                                     /* order kept */
    bad |= !(r.fd_count == 2 && r.fd_array[0] == 5 && r.fd_array[1] == 9);
    FD_CLR(42, &r);                                                    /* absent: no change */
    bad |= !(r.fd_count == 2);
    FD_CLR(9, &r); FD_CLR(5, &r);
    bad |= !(r.fd_count == 0);
    for (i = 0; i < 100; i++)                                          /* full: no overflow */
        FD_SET(i, &r);
    bad |= !(r.fd_count == 64 && r.fd_array[63] == 63);
    if (bad)
        FD_SET(1000, &r);                                              /* statement-like */
    else
        FD_CLR(1000, &r);
    FD_ZERO(&r);
    bad |= !(r.fd_count == 0);
    return bad;
}
EOF
for m in "c99-strict|$CC|-x c -std=c99 -Wall -Wextra -Werror" "c++11|$CXX|-x c++ -std=c++11 -Wall -Wextra -Werror"; do
    IFS='|' read -r mname drv flags <<<"$m"
    what="FD_SET adds once and stops when full, FD_CLR keeps the order, FD_ZERO empties [$mname]"
    # shellcheck disable=SC2086
    if out=$("$drv" $flags -I"$INC" "$TMP/fdrun.c" -o "$TMP/fdrun" 2>&1 && "$TMP/fdrun" 2>&1); then
        ok "$what"
    else
        not_ok "$what"
        printf '%s\n' "$out" | sed 's/^/#   /'
    fi
done

# ---- 7. exact prototypes -----------------------------------------------------------
cat >"$TMP/protos.c" <<'EOF'
#include <winsock2.h>
int (*p_closesocket)(SOCKET) = closesocket;
int (*p_ioctlsocket)(SOCKET, long, u_long *) = ioctlsocket;
int (*p_wsaioctl)(SOCKET, DWORD, LPVOID, DWORD, LPVOID, DWORD, LPDWORD, LPWSAOVERLAPPED,
                  LPWSAOVERLAPPED_COMPLETION_ROUTINE) = WSAIoctl;
int (*p_startup)(WORD, LPWSADATA) = WSAStartup;
int (*p_cleanup)(void) = WSACleanup;
int (*p_getlast)(void) = WSAGetLastError;
void (*p_setlast)(int) = WSASetLastError;
int (*p_select)(int, sslsock_fd_set *, sslsock_fd_set *, sslsock_fd_set *, const struct timeval *) = sslsock_select;
int (*p_isset)(SOCKET, sslsock_fd_set *) = __WSAFDIsSet;
void CALLBACK completion(DWORD e, DWORD n, LPWSAOVERLAPPED o, DWORD f);
void CALLBACK completion(DWORD e, DWORD n, LPWSAOVERLAPPED o, DWORD f) { (void)e; (void)n; (void)o; (void)f; }
LPWSAOVERLAPPED_COMPLETION_ROUTINE p_completion = completion;
/* The POSIX-named functions keep libc's prototypes. */
int (*p_socket)(int, int, int) = socket;
int (*p_close)(int) = close;
EOF
compile "prototypes of the Winsock-only functions" "$TMP/protos.c"

# ---- 8. layout and values (C11 / C++17 static assertions) ----------------------------
{
cat <<'EOF'
#include <winsock2.h>
#ifdef __cplusplus
# define SA(c, m) static_assert(c, m)
#else
# define SA(c, m) _Static_assert(c, m)
#endif
SA(sizeof(WSADATA) == 408, "sizeof(WSADATA) is 408 (Windows _WIN64 layout)");
SA(offsetof(WSADATA, wVersion) == 0, "wVersion at 0");
SA(offsetof(WSADATA, wHighVersion) == 2, "wHighVersion at 2");
SA(offsetof(WSADATA, iMaxSockets) == 4, "iMaxSockets at 4");
SA(offsetof(WSADATA, iMaxUdpDg) == 6, "iMaxUdpDg at 6");
SA(offsetof(WSADATA, lpVendorInfo) == 8, "lpVendorInfo at 8");
SA(offsetof(WSADATA, szDescription) == 16, "szDescription at 16");
SA(offsetof(WSADATA, szSystemStatus) == 273, "szSystemStatus at 273");
SA(sizeof(((WSADATA *)0)->szDescription) == 257, "szDescription[257]");
SA(sizeof(((WSADATA *)0)->szSystemStatus) == 129, "szSystemStatus[129]");
SA(sizeof(WSAOVERLAPPED) == 32, "sizeof(WSAOVERLAPPED) is 32");
SA(offsetof(WSAOVERLAPPED, hEvent) == 24, "hEvent at 24");
SA(sizeof(BYTE) == 1 && sizeof(WORD) == 2, "BYTE, WORD");
SA(sizeof(DWORD) == 4 && sizeof(ULONG) == 4 && sizeof(LONG) == 4, "DWORD, ULONG, LONG are 32-bit");
SA(sizeof(ALG_ID) == 4 && sizeof(BOOL) == 4 && sizeof(UINT) == 4, "ALG_ID, BOOL, UINT");
SA(sizeof(ULONG_PTR) == sizeof(void *) && sizeof(DWORD_PTR) == sizeof(void *), "ULONG_PTR, DWORD_PTR");
SA(sizeof(SOCKET) == sizeof(int), "SOCKET is int");
SA(INVALID_SOCKET == -1 && SOCKET_ERROR == -1, "INVALID_SOCKET, SOCKET_ERROR");
SA(sizeof(u_long) == sizeof(unsigned long) && sizeof(u_int) == 4, "u_long is unsigned long");
SA(offsetof(sslsock_fd_set, fd_array) == 4, "fd_array follows the u_int count");
SA(sizeof(sslsock_fd_set) == 4 + 64 * sizeof(SOCKET), "sslsock_fd_set holds 64 sockets");
SA(FIONBIO == 0x5421 && FIONREAD == 0x541B, "FIONBIO/FIONREAD are Linux's");
SA(SD_RECEIVE == SHUT_RD && SD_SEND == SHUT_WR && SD_BOTH == SHUT_RDWR, "SD_* are SHUT_*");
SA(MAKEWORD(2, 2) == 0x0202 && MAKEWORD(1, 0x101) == 0x0101, "MAKEWORD");
SA(LOBYTE(0x0201) == 1 && HIBYTE(0x0201) == 2, "LOBYTE/HIBYTE");
SA(LOWORD(0x12345678) == 0x5678 && HIWORD(0x12345678) == 0x1234 && MAKELONG(0x5678, 0x1234) == 0x12345678,
   "LOWORD/HIWORD/MAKELONG");
SA(TRUE == 1 && FALSE == 0, "TRUE/FALSE");
SA(WSADESCRIPTION_LEN == 256 && WSASYS_STATUS_LEN == 128, "WSADESCRIPTION_LEN/WSASYS_STATUS_LEN");
EOF
# Windows' winerror.h numbers, written out independently of the header.
while read -r name value; do
    printf 'SA(%s == %s, "%s is %s");\n' "$name" "$value" "$name" "$value"
done <<'EOF'
WSABASEERR 10000
WSAEINTR 10004
WSAEBADF 10009
WSAEACCES 10013
WSAEFAULT 10014
WSAEINVAL 10022
WSAEMFILE 10024
WSAEWOULDBLOCK 10035
WSAEINPROGRESS 10036
WSAEALREADY 10037
WSAENOTSOCK 10038
WSAEDESTADDRREQ 10039
WSAEMSGSIZE 10040
WSAEPROTOTYPE 10041
WSAENOPROTOOPT 10042
WSAEPROTONOSUPPORT 10043
WSAESOCKTNOSUPPORT 10044
WSAEOPNOTSUPP 10045
WSAEPFNOSUPPORT 10046
WSAEAFNOSUPPORT 10047
WSAEADDRINUSE 10048
WSAEADDRNOTAVAIL 10049
WSAENETDOWN 10050
WSAENETUNREACH 10051
WSAENETRESET 10052
WSAECONNABORTED 10053
WSAECONNRESET 10054
WSAENOBUFS 10055
WSAEISCONN 10056
WSAENOTCONN 10057
WSAESHUTDOWN 10058
WSAETOOMANYREFS 10059
WSAETIMEDOUT 10060
WSAECONNREFUSED 10061
WSAELOOP 10062
WSAENAMETOOLONG 10063
WSAEHOSTDOWN 10064
WSAEHOSTUNREACH 10065
WSAENOTEMPTY 10066
WSAEPROCLIM 10067
WSAEUSERS 10068
WSAEDQUOT 10069
WSAESTALE 10070
WSAEREMOTE 10071
WSASYSNOTREADY 10091
WSAVERNOTSUPPORTED 10092
WSANOTINITIALISED 10093
WSAEDISCON 10101
WSAENOMORE 10102
WSAECANCELLED 10103
WSAEINVALIDPROCTABLE 10104
WSAEINVALIDPROVIDER 10105
WSAEPROVIDERFAILEDINIT 10106
WSASYSCALLFAILURE 10107
WSASERVICE_NOT_FOUND 10108
WSATYPE_NOT_FOUND 10109
WSA_E_NO_MORE 10110
WSA_E_CANCELLED 10111
WSAEREFUSED 10112
WSAHOST_NOT_FOUND 11001
WSATRY_AGAIN 11002
WSANO_RECOVERY 11003
WSANO_DATA 11004
WSANO_ADDRESS 11004
WSA_INVALID_HANDLE 6
WSA_NOT_ENOUGH_MEMORY 8
WSA_INVALID_PARAMETER 87
WSA_OPERATION_ABORTED 995
WSA_IO_INCOMPLETE 996
WSA_IO_PENDING 997
EOF
} >"$TMP/layout.c"
compile "layout of WSADATA/WSAOVERLAPPED/fd_set, type sizes, constants, Winsock error numbers" \
    "$TMP/layout.c" c11 c++17

# ---- 9. the header text itself ---------------------------------------------------------
if grep -Eq '^[[:space:]]*#[[:space:]]*define[[:space:]]+(IOC_|_IO[RW]?\(|FIONBIO|FIONREAD)' "$INC/winsock2.h"; then
    not_ok "winsock2.h defines no IOC_*/_IO* macros and keeps Linux's FIONBIO/FIONREAD"
else
    ok "winsock2.h defines no IOC_*/_IO* macros and keeps Linux's FIONBIO/FIONREAD"
fi

# ---- 10. the opt-in compat set (include/sslsock/compat: <windows.h>, <tchar.h>, ...) -------
# Every header of the set, used the way legacy code uses it, in every language mode; then what the set
# must refuse. The functions themselves run in c-tests/legacy/compat00_functions.c (tests/legacy.sh).
COMPAT="$INC/sslsock/compat"
if [ -d "$COMPAT" ] && [ "$HAVE_SSLSOCK" = 1 ]; then
    cat >"$TMP/compat.c" <<'EOF'
#include <windows.h>
#include <tchar.h>
#include <winsock2.h>
#include <winsock.h>
#include <sslsock.h>
#include <schnlsp.h>
#include <wincrypt.h>
#include <ws2tcpip.h>
#include <windef.h>
#include <winbase.h>
#include <winnt.h>
#include <winnls.h>
#include <winerror.h>
static CRITICAL_SECTION g_cs;
static LONG volatile g_refs;
int CALLBACK compat_hook(DWORD dwType, LPVOID pvArg, DWORD dwChainLen, LPBLOB pCertChain, DWORD dwFlags);
int CALLBACK compat_hook(DWORD dwType, LPVOID pvArg, DWORD dwChainLen, LPBLOB pCertChain, DWORD dwFlags)
{
    UNREFERENCED_PARAMETER(pvArg);
    UNREFERENCED_PARAMETER(pCertChain);
    return dwType == SSL_CERT_X509 && dwChainLen == 1 && dwFlags == 0 ? SSL_ERR_OKAY : SSL_ERR_CERT_UNKNOWN;
}
int compat_use(SOCKET s);
int compat_use(SOCKET s)
{
    TCHAR buf[MAX_PATH];
    _TCHAR t[16];
    WCHAR w[32];
    char a[32];
    LPCTSTR host = TEXT("localhost");
    SYSTEMTIME st;
    FILETIME ft, now;
    X509Certificate cert;
    SSLCONNECTIONINFO ci = {0, 0, 0, 0, 0, 0, 0};
    ADDRINFO *ai = NULL;
    fd_set r;
    DWORD tick = GetTickCount();
    int n = 0;
    ZeroMemory(buf, sizeof buf);
    FillMemory(t, sizeof t, 0);
    CopyMemory(buf, host, lstrlen(host) + 1);
    lstrcat(buf, _T(":443"));
    lstrcpyn(t, buf, (int)ARRAYSIZE(t));
    wsprintf(buf, TEXT("%s:%d"), host, 443);
    _stprintf(buf, _T("%u"), (unsigned)tick);
    n += lstrcmpi(buf, _T("X")) + (int)_tcslen(buf) + _tcsicmp(t, t);
    n += MultiByteToWideChar(CP_ACP, 0, "abc", -1, w, 32) + WideCharToMultiByte(CP_UTF8, 0, L"x", -1, a, 32, NULL, NULL);
    n += lstrlenW(L"abc") + lstrcmpiW(L"A", L"a");
    GetSystemTime(&st);
    GetLocalTime(&st);
    SystemTimeToFileTime(&st, &ft);
    GetSystemTimeAsFileTime(&now);
    n += (int)CompareFileTime(&ft, &now) + FileTimeToSystemTime(&ft, &st);
    InitializeCriticalSection(&g_cs);
    EnterCriticalSection(&g_cs);
    LeaveCriticalSection(&g_cs);
    DeleteCriticalSection(&g_cs);
    n += (int)InterlockedIncrement(&g_refs);
    SetLastError(ERROR_SUCCESS);
    Sleep(0);
    FD_ZERO(&r);
    FD_SET(s, &r);
    n += select(0, &r, NULL, NULL, NULL);
    cert.Version = 0;
    n += (int)cert.Version + (ci.aiCipher == CALG_RC4) + (ci.aiHash == CALG_SHA1) + (ci.aiExch == CALG_ECDH_EPHEM);
    n += getaddrinfo("localhost", "443", NULL, &ai);
    RETAILMSG(n < 0, (TEXT("n %d\n"), n));
    DEBUGMSG(1, (TEXT("n %d\n"), n));
    if (s == INVALID_SOCKET)
        return (int)GetLastError();
    return n + closesocket(s);
}
#ifdef __cplusplus
# ifdef min
#  error "no min() macro in C++"
# endif
#else
typedef char compat_minmax[(max(1, 2) == 2 && min(1, 2) == 1) ? 1 : -1];
#endif
EOF
    for m in "${MODES[@]}"; do
        IFS='|' read -r mname drv flags <<<"$m"
        # shellcheck disable=SC2086
        if out=$("$drv" $flags -pedantic -I"$INC" -I"$COMPAT" -c "$TMP/compat.c" -o "$TMP/out.o" 2>&1); then
            ok "compat set: every header, with <winsock2.h> and <sslsock.h> [$mname]"
        else
            not_ok "compat set: every header, with <winsock2.h> and <sslsock.h> [$mname]"
            printf '%s\n' "$out" | sed 's/^/#   /'
        fi
    done
    # must_fail WHAT EXPECTED-TEXT DRIVER FLAGS... < source: the compiler refuses it, saying EXPECTED-TEXT.
    must_fail() {
        local what=$1 want=$2 out
        shift 2
        cat >"$TMP/refuse.c"
        if out=$("$@" -I"$INC" -I"$COMPAT" -c "$TMP/refuse.c" -o "$TMP/out.o" 2>&1); then
            not_ok "$what (it compiled)"
        elif printf '%s\n' "$out" | grep -qF -- "$want"; then
            ok "$what"
        else
            not_ok "$what (another error)"
            printf '%s\n' "$out" | sed 's/^/#   /'
        fi
    }
    printf '#include <windows.h>\n#include <tchar.h>\nint x;\n' |
        must_fail "compat set: UNICODE is refused with a message" "build without -DUNICODE" "$CC" -DUNICODE -x c
    printf '#include <stdio.h>\n#include <windows.h>\nint x;\n' |
        must_fail "compat set: strict C99 without POSIX (a system header first) is refused with a message" \
            "needs POSIX 2008" "$CC" -x c -std=c99
    printf '#define NOMINMAX\n#include <windows.h>\nint f(void);\nint f(void) { return min(1, 2); }\n' |
        must_fail "compat set: NOMINMAX: no min()" "min" "$CC" -x c -std=gnu11 -Werror=implicit-function-declaration

    # Issue 14: every name added (tests/headers/use_names.c, includes spelled as Windows code spells
    # them), and the BLOB/FILETIME guards in any include order, C and C++, -Wall -Wextra -Werror.
    USE_NAMES=$(cd "$(dirname "$0")" && pwd)/headers/use_names.c
    for m in "c99|$CC|-x c -std=c99 -D_DEFAULT_SOURCE" "gnu11|$CC|-x c -std=gnu11" \
             "c++11|$CXX|-x c++ -std=c++11" "c++17|$CXX|-x c++ -std=c++17 -O2"; do
        IFS='|' read -r mname drv flags <<<"$m"
        # shellcheck disable=SC2086
        if out=$("$drv" $flags -Wall -Wextra -Werror -I"$INC" -I"$COMPAT" -c "$USE_NAMES" -o "$TMP/out.o" 2>&1); then
            ok "issue 14 names (tests/headers/use_names.c) [$mname]"
        else
            not_ok "issue 14 names (tests/headers/use_names.c) [$mname]"
            printf '%s\n' "$out" | sed 's/^/#   /'
        fi
    done
    FOREIGN_BLOB='#define _tagBLOB_DEFINED
#define _BLOB_DEFINED
#define _LPBLOB_DEFINED
typedef struct _BLOB { unsigned int cbSize; unsigned char *pBlobData; } BLOB, *LPBLOB;
#define _FILETIME_
typedef struct _FILETIME { unsigned int dwLowDateTime; unsigned int dwHighDateTime; } FILETIME, *PFILETIME, *LPFILETIME;'
    USE_BLOB='int order_use(LPBLOB b, PX509Certificate c, FILETIME *f);
int order_use(LPBLOB b, PX509Certificate c, FILETIME *f) { return (int)b->cbSize + (int)c->Version + (int)f->dwLowDateTime; }'
    for order in "winsock2.h sslsock.h" "sslsock.h winsock2.h" "windows.h schnlsp.h" "schnlsp.h windows.h" \
                 "wincrypt.h sslsock.h winsock.h" "sslsock.h windows.h wincrypt.h schnlsp.h" \
                 "foreign winsock2.h sslsock.h" "foreign windows.h schnlsp.h" "WinSock2.h Windows.h Schnlsp.h"; do
        {
            echo '#define _DEFAULT_SOURCE 1'
            for h in $order; do
                if [ "$h" = foreign ]; then printf '%s\n' "$FOREIGN_BLOB"; else echo "#include <$h>"; fi
            done
            printf '%s\n' "$USE_BLOB"
        } >"$TMP/order.c"
        for m in "c|$CC|-x c -std=c99" "c++|$CXX|-x c++ -std=c++11"; do
            IFS='|' read -r mname drv flags <<<"$m"
            # shellcheck disable=SC2086
            if out=$("$drv" $flags -Wall -Wextra -Werror -I"$INC" -I"$COMPAT" -c "$TMP/order.c" -o "$TMP/out.o" 2>&1); then
                ok "BLOB/FILETIME guards: include order $order [$mname]"
            else
                not_ok "BLOB/FILETIME guards: include order $order [$mname]"
                printf '%s\n' "$out" | sed 's/^/#   /'
            fi
        done
    done
else
    echo "# skip: the compat set (include/sslsock/compat or include/sslsock.h missing)"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
