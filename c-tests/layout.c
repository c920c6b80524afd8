/*
 * layout.c - the C side checks the headers against docs/abi.md §1: every structure's
 * size and offsets (CE layout: DWORD/ULONG/ALG_ID 32-bit, pointers 64 bits on LP64 and
 * 32 bits on 32-bit targets such as armv7, as on CE),
 * every constant's value, and the prototypes of the exported functions.
 *
 * The runner compiles with -std=c99 (no _Static_assert), so each fact is a
 * typedef of an array whose size is -1 when the fact is false: a wrong header
 * does not compile.  The same facts are checked again at run time and printed
 * as "ok - " lines.
 *
 * <sys/ioctl.h> comes first on purpose: Linux defines IOC_IN/IOC_OUT there
 * with other values, and the SO_SSL_* codes must not depend on them.  And
 * <sslsock.h> comes before <winsock2.h> (docs/api.md: either order works).
 */
#include <sys/ioctl.h>
#include <sslsock.h>
#include <winsock2.h>
#include "common.h"

#include <stddef.h>

/* ------------------------------------------------------------------ */
/* constants                                                           */

#define CONSTANTS(X)                                                                       \
    X(SO_SECURE, 0x2001)                                                                   \
    X(SO_SEC_NONE, 0x2002)                                                                 \
    X(SO_SEC_SSL, 0x2004)                                                                  \
    X(SO_SSL_FAMILY, 0x00730000)                                                           \
    X(_SO_SSL, 0x10730000)                                                                 \
    X(SO_SSL_GET_CAPABILITIES, 0x50730001)                                                 \
    X(SO_SSL_SET_FLAGS, 0x90730002)                                                        \
    X(SO_SSL_GET_FLAGS, 0x50730002)                                                        \
    X(SO_SSL_SET_PROTOCOLS, 0x90730003)                                                    \
    X(SO_SSL_GET_PROTOCOLS, 0x50730003)                                                    \
    X(SO_SSL_SET_CIPHERS, 0x90730004)                                                      \
    X(SO_SSL_GET_CIPHERS, 0xD0730004)                                                      \
    X(SO_SSL_SET_CLIENT_OPTS, 0x90730005)                                                  \
    X(SO_SSL_GET_CLIENT_OPTS, 0x50730005)                                                  \
    X(SO_SSL_SET_SERVER_OPTS, 0x90730006)                                                  \
    X(SO_SSL_GET_SERVER_OPTS, 0x50730006)                                                  \
    X(SO_SSL_SET_CLIENT_AUTH_OPTS, 0x90730007)                                             \
    X(SO_SSL_GET_CLIENT_AUTH_OPTS, 0x50730007)                                             \
    X(SO_SSL_SET_VALIDATE_CERT_HOOK, 0x90730008)                                           \
    X(SO_SSL_GET_VALIDATE_CERT_HOOK, 0x50730008)                                           \
    X(SO_SSL_SET_AUTH_REQUEST_HOOK, 0x90730009)                                            \
    X(SO_SSL_GET_AUTH_REQUEST_HOOK, 0x50730009)                                            \
    X(SO_SSL_SET_KEY_EXCH_HOOK, 0x9073000A)                                                \
    X(SO_SSL_GET_KEY_EXCH_HOOK, 0x5073000A)                                                \
    X(SO_SSL_SET_SIGNATURE_HOOK, 0x9073000B)                                               \
    X(SO_SSL_GET_SIGNATURE_HOOK, 0x5073000B)                                               \
    X(SO_SSL_PERFORM_HANDSHAKE, 0x1073000D)                                                \
    X(SO_SSL_GET_CONNECTION_INFO, 0x5073000E)                                              \
    X(SSL_ERR_OKAY, 0)                                                                     \
    X(SSL_ERR_FAILED, 2)                                                                   \
    X(SSL_ERR_BAD_LEN, 3)                                                                  \
    X(SSL_ERR_BAD_TYPE, 4)                                                                 \
    X(SSL_ERR_BAD_DATA, 5)                                                                 \
    X(SSL_ERR_NO_CERT, 6)                                                                  \
    X(SSL_ERR_BAD_SIG, 7)                                                                  \
    X(SSL_ERR_CERT_EXPIRED, 8)                                                             \
    X(SSL_ERR_CERT_REVOKED, 9)                                                             \
    X(SSL_ERR_CERT_UNKNOWN, 10)                                                            \
    X(SSL_ERR_SIGNATURE, 11)                                                               \
    X(SSL_CAP_CLIENT, 1)                                                                   \
    X(SSL_CAP_SERVER, 2)                                                                   \
    X(SSL_CAP_CLIENT_AUTH, 4)                                                              \
    X(SSL_CAP_CRYPTOAPI, 8)                                                                \
    X(SSL_FLAG_SERVER, 2)                                                                  \
    X(SSL_FLAG_AUTH_CLIENT, 4)                                                             \
    X(SSL_FLAG_DEFER_HANDSHAKE, 8)                                                         \
    X(SSL_PROTOCOL_PCT1, 1)                                                                \
    X(SSL_PROTOCOL_SSL2, 2)                                                                \
    X(SSL_PROTOCOL_SSL3, 3)                                                                \
    X(SSL_PROTOCOL_TLS1, 4)                                                                \
    X(SSLSOCK_PROTOCOL_TLS1_2, 0x0303)                                                     \
    X(SSLSOCK_PROTOCOL_TLS1_3, 0x0304)                                                     \
    X(SSL_PROT_PCT1_SERVER, 0x1)                                                           \
    X(SSL_PROT_PCT1_CLIENT, 0x2)                                                           \
    X(SSL_PROT_SSL2_SERVER, 0x4)                                                           \
    X(SSL_PROT_SSL2_CLIENT, 0x8)                                                           \
    X(SSL_PROT_SSL3_SERVER, 0x10)                                                          \
    X(SSL_PROT_SSL3_CLIENT, 0x20)                                                          \
    X(SSL_PROT_TLS1_SERVER, 0x40)                                                          \
    X(SSL_PROT_TLS1_CLIENT, 0x80)                                                          \
    X(SSL_PROT_TLS1_2_CLIENT, 0x800)                                                       \
    X(SSL_PROT_TLS1_3_CLIENT, 0x2000)                                                      \
    X(SSL_CERT_X509, 1)                                                                    \
    X(SSL_CERT_FLAG_ISSUER_UNKNOWN, 1)                                                     \
    X(SECURITY_PROTOCOL_SSL, 1)                                                            \
    X(CALG_AES_128, 0x660E)                                                                \
    X(CALG_AES_256, 0x6610)                                                                \
    X(CALG_SHA_256, 0x800C)                                                                \
    X(CALG_SHA_384, 0x800D)                                                                \
    X(CALG_ECDH_EPHEM, 0xAE06)                                                             \
    X(CALG_DH_EPHEM, 0xAA02)                                                               \
    X(CALG_RSA_KEYX, 0xA400)                                                               \
    X(SSLSOCK_CALG_CHACHA20_POLY1305, 0x6810)                                              \
    X(WSABASEERR, 10000)                                                                   \
    X(WSAEINTR, 10004)                                                                     \
    X(WSAEBADF, 10009)                                                                     \
    X(WSAEACCES, 10013)                                                                    \
    X(WSAEFAULT, 10014)                                                                    \
    X(WSAEINVAL, 10022)                                                                    \
    X(WSAEMFILE, 10024)                                                                    \
    X(WSAEWOULDBLOCK, 10035)                                                               \
    X(WSAEINPROGRESS, 10036)                                                               \
    X(WSAEALREADY, 10037)                                                                  \
    X(WSAENOTSOCK, 10038)                                                                  \
    X(WSAEDESTADDRREQ, 10039)                                                              \
    X(WSAEMSGSIZE, 10040)                                                                  \
    X(WSAEPROTOTYPE, 10041)                                                                \
    X(WSAENOPROTOOPT, 10042)                                                               \
    X(WSAEPROTONOSUPPORT, 10043)                                                           \
    X(WSAESOCKTNOSUPPORT, 10044)                                                           \
    X(WSAEOPNOTSUPP, 10045)                                                                \
    X(WSAEPFNOSUPPORT, 10046)                                                              \
    X(WSAEAFNOSUPPORT, 10047)                                                              \
    X(WSAEADDRINUSE, 10048)                                                                \
    X(WSAEADDRNOTAVAIL, 10049)                                                             \
    X(WSAENETDOWN, 10050)                                                                  \
    X(WSAENETUNREACH, 10051)                                                               \
    X(WSAENETRESET, 10052)                                                                 \
    X(WSAECONNABORTED, 10053)                                                              \
    X(WSAECONNRESET, 10054)                                                                \
    X(WSAENOBUFS, 10055)                                                                   \
    X(WSAEISCONN, 10056)                                                                   \
    X(WSAENOTCONN, 10057)                                                                  \
    X(WSAESHUTDOWN, 10058)                                                                 \
    X(WSAETOOMANYREFS, 10059)                                                              \
    X(WSAETIMEDOUT, 10060)                                                                 \
    X(WSAECONNREFUSED, 10061)                                                              \
    X(WSAELOOP, 10062)                                                                     \
    X(WSAENAMETOOLONG, 10063)                                                              \
    X(WSAEHOSTDOWN, 10064)                                                                 \
    X(WSAEHOSTUNREACH, 10065)                                                              \
    X(WSAENOTEMPTY, 10066)                                                                 \
    X(WSAEPROCLIM, 10067)                                                                  \
    X(WSAEUSERS, 10068)                                                                    \
    X(WSAEDQUOT, 10069)                                                                    \
    X(WSAESTALE, 10070)                                                                    \
    X(WSAEREMOTE, 10071)                                                                   \
    X(WSASYSNOTREADY, 10091)                                                               \
    X(WSAVERNOTSUPPORTED, 10092)                                                           \
    X(WSANOTINITIALISED, 10093)                                                            \
    X(WSAEDISCON, 10101)                                                                   \
    X(WSAHOST_NOT_FOUND, 11001)                                                            \
    X(WSATRY_AGAIN, 11002)                                                                 \
    X(WSANO_RECOVERY, 11003)                                                               \
    X(WSANO_DATA, 11004)                                                                   \
    X(SOCKET_ERROR, -1)                                                                    \
    X(INVALID_SOCKET, -1)                                                                  \
    X(SD_RECEIVE, 0)                                                                       \
    X(SD_SEND, 1)                                                                          \
    X(SD_BOTH, 2)                                                                          \
    X(FD_SETSIZE, 64)

/* Compile time: the constant equals the value, also when both are seen as a
 * 32-bit DWORD (the control codes are passed as DWORD). */
#define STATIC_CONST(name, value)                                                          \
    typedef char layout_const_##name[((name) == (value) &&                                 \
                                      (DWORD)(name) == (DWORD)(value)) ? 1 : -1];
CONSTANTS(STATIC_CONST)

/* SO_SSL_SET_PEERNAME: docs/abi.md §1 accepts both 0x9073000F and 0x5073000F. */
typedef char layout_const_SO_SSL_SET_PEERNAME
    [((DWORD)SO_SSL_SET_PEERNAME == 0x9073000Fu || (DWORD)SO_SSL_SET_PEERNAME == 0x5073000Fu)
         ? 1 : -1];

/* The codes are what Winsock's _WSAIO* macros give, built here from the Winsock
 * IOC_* values (not Linux's): IOC_OUT 0x40000000, IOC_IN 0x80000000. */
#define WS_IOC_OUT 0x40000000u
#define WS_IOC_IN 0x80000000u
#define WS_WSAIOR(x, y) (WS_IOC_OUT | (x) | (y))
#define WS_WSAIOW(x, y) (WS_IOC_IN | (x) | (y))
#define WS_WSAIORW(x, y) (WS_IOC_IN | WS_IOC_OUT | (x) | (y))
#define WS_SO_SSL ((2u << 27) | 0x00730000u)
typedef char layout_wsaio_family[(WS_SO_SSL == (DWORD)_SO_SSL) ? 1 : -1];
typedef char layout_wsaio_caps[(WS_WSAIOR(WS_SO_SSL, 1) == (DWORD)SO_SSL_GET_CAPABILITIES) ? 1 : -1];
typedef char layout_wsaio_setflags[(WS_WSAIOW(WS_SO_SSL, 2) == (DWORD)SO_SSL_SET_FLAGS) ? 1 : -1];
typedef char layout_wsaio_getciphers[(WS_WSAIORW(WS_SO_SSL, 4) == (DWORD)SO_SSL_GET_CIPHERS) ? 1 : -1];
/* PERFORM_HANDSHAKE is _SO_SSL | 13 with no direction bits at all (not _WSAIO's IOC_VOID). */
typedef char layout_wsaio_handshake[((WS_SO_SSL | 13u) == (DWORD)SO_SSL_PERFORM_HANDSHAKE) ? 1 : -1];
typedef char layout_wsaio_info[(WS_WSAIOR(WS_SO_SSL, 14) == (DWORD)SO_SSL_GET_CONNECTION_INFO) ? 1 : -1];

/* ------------------------------------------------------------------ */
/* types and structures                                                */

/* WSADATA and WSAOVERLAPPED as Windows lays them out for the pointer size: its _WIN64 layout with
 * 8-byte pointers, its 32-bit one (CE's) with 4-byte pointers (armv7; docs/packaging.md). */
#define PTR sizeof(void *)
#if __SIZEOF_POINTER__ == 8
#define WSADATA_FACTS(X)                                                                   \
    X(sizeof_WSADATA, sizeof(WSADATA) == 408)                                              \
    X(offsetof_WSADATA_wVersion, offsetof(WSADATA, wVersion) == 0)                         \
    X(offsetof_WSADATA_wHighVersion, offsetof(WSADATA, wHighVersion) == 2)                 \
    X(offsetof_WSADATA_iMaxSockets, offsetof(WSADATA, iMaxSockets) == 4)                   \
    X(offsetof_WSADATA_iMaxUdpDg, offsetof(WSADATA, iMaxUdpDg) == 6)                       \
    X(offsetof_WSADATA_lpVendorInfo, offsetof(WSADATA, lpVendorInfo) == 8)                 \
    X(offsetof_WSADATA_szDescription, offsetof(WSADATA, szDescription) == 16)              \
    X(offsetof_WSADATA_szSystemStatus, offsetof(WSADATA, szSystemStatus) == 273)           \
    X(sizeof_WSAOVERLAPPED, sizeof(WSAOVERLAPPED) == 32)                                   \
    X(offsetof_WSAOVERLAPPED_Offset, offsetof(WSAOVERLAPPED, Offset) == 16)                \
    X(offsetof_WSAOVERLAPPED_hEvent, offsetof(WSAOVERLAPPED, hEvent) == 24)
#else
#define WSADATA_FACTS(X)                                                                   \
    X(sizeof_WSADATA, sizeof(WSADATA) == 400)                                              \
    X(offsetof_WSADATA_wVersion, offsetof(WSADATA, wVersion) == 0)                         \
    X(offsetof_WSADATA_wHighVersion, offsetof(WSADATA, wHighVersion) == 2)                 \
    X(offsetof_WSADATA_szDescription, offsetof(WSADATA, szDescription) == 4)               \
    X(offsetof_WSADATA_szSystemStatus, offsetof(WSADATA, szSystemStatus) == 261)           \
    X(offsetof_WSADATA_iMaxSockets, offsetof(WSADATA, iMaxSockets) == 390)                 \
    X(offsetof_WSADATA_iMaxUdpDg, offsetof(WSADATA, iMaxUdpDg) == 392)                     \
    X(offsetof_WSADATA_lpVendorInfo, offsetof(WSADATA, lpVendorInfo) == 396)               \
    X(sizeof_WSAOVERLAPPED, sizeof(WSAOVERLAPPED) == 20)                                   \
    X(offsetof_WSAOVERLAPPED_Offset, offsetof(WSAOVERLAPPED, Offset) == 8)                 \
    X(offsetof_WSAOVERLAPPED_hEvent, offsetof(WSAOVERLAPPED, hEvent) == 16)
#endif

#define LAYOUT_FACTS(X)                                                                    \
    X(sizeof_DWORD, sizeof(DWORD) == 4)                                                    \
    X(sizeof_ULONG, sizeof(ULONG) == 4)                                                    \
    X(sizeof_LONG, sizeof(LONG) == 4)                                                      \
    X(sizeof_WORD, sizeof(WORD) == 2)                                                      \
    X(sizeof_BYTE, sizeof(BYTE) == 1)                                                      \
    X(sizeof_ALG_ID, sizeof(ALG_ID) == 4)                                                  \
    X(sizeof_BOOL, sizeof(BOOL) == 4)                                                      \
    X(sizeof_SOCKET, sizeof(SOCKET) == sizeof(int))                                        \
    X(sizeof_LPVOID, sizeof(LPVOID) == sizeof(void *))                                     \
    X(DWORD_unsigned, (DWORD)-1 > 0)                                                       \
    X(ALG_ID_unsigned, (ALG_ID)-1 > 0)                                                     \
    X(sizeof_BLOB, sizeof(BLOB) == 2 * PTR)                                                \
    X(offsetof_BLOB_cbSize, offsetof(BLOB, cbSize) == 0)                                   \
    X(offsetof_BLOB_pBlobData, offsetof(BLOB, pBlobData) == PTR)                           \
    X(sizeof_BLOB_cbSize, sizeof(((BLOB *)0)->cbSize) == 4)                                \
    X(sizeof_SSLVALIDATECERTHOOK, sizeof(SSLVALIDATECERTHOOK) == 2 * PTR)                  \
    X(offsetof_HOOK_HookFunc, offsetof(SSLVALIDATECERTHOOK, HookFunc) == 0)                \
    X(offsetof_HOOK_pvArg, offsetof(SSLVALIDATECERTHOOK, pvArg) == PTR)                    \
    X(sizeof_SSLPROTOCOL, sizeof(SSLPROTOCOL) == 12)                                       \
    X(offsetof_PROTOCOL_dwProtocol, offsetof(SSLPROTOCOL, dwProtocol) == 0)                \
    X(offsetof_PROTOCOL_dwVersion, offsetof(SSLPROTOCOL, dwVersion) == 4)                  \
    X(offsetof_PROTOCOL_dwFlags, offsetof(SSLPROTOCOL, dwFlags) == 8)                      \
    X(sizeof_SSLPROTOCOLS, sizeof(SSLPROTOCOLS) == 16)                                     \
    X(offsetof_PROTOCOLS_dwCount, offsetof(SSLPROTOCOLS, dwCount) == 0)                    \
    X(offsetof_PROTOCOLS_ProtocolList, offsetof(SSLPROTOCOLS, ProtocolList) == 4)          \
    X(sizeof_SSLCONNECTIONINFO, sizeof(SSLCONNECTIONINFO) == 28)                           \
    X(offsetof_INFO_dwProtocol, offsetof(SSLCONNECTIONINFO, dwProtocol) == 0)              \
    X(offsetof_INFO_aiCipher, offsetof(SSLCONNECTIONINFO, aiCipher) == 4)                  \
    X(offsetof_INFO_dwCipherStrength, offsetof(SSLCONNECTIONINFO, dwCipherStrength) == 8)  \
    X(offsetof_INFO_aiHash, offsetof(SSLCONNECTIONINFO, aiHash) == 12)                     \
    X(offsetof_INFO_dwHashStrength, offsetof(SSLCONNECTIONINFO, dwHashStrength) == 16)     \
    X(offsetof_INFO_aiExch, offsetof(SSLCONNECTIONINFO, aiExch) == 20)                     \
    X(offsetof_INFO_dwExchStrength, offsetof(SSLCONNECTIONINFO, dwExchStrength) == 24)     \
    X(sizeof_SSLCIPHERS_exists, sizeof(SSLCIPHERS) >= 8)                                   \
    X(sizeof_SSLCLIENTOPTS_exists, sizeof(SSLCLIENTOPTS) >= 8)                             \
    X(sizeof_SSLSERVEROPTS_exists, sizeof(SSLSERVEROPTS) >= 8)                             \
    X(sizeof_SSLCLIENTAUTHOPTS_exists, sizeof(SSLCLIENTAUTHOPTS) >= 8)                     \
    X(sizeof_SSLAUTHREQUESTHOOK, sizeof(SSLAUTHREQUESTHOOK) == 2 * PTR)                    \
    X(sizeof_SSLKEYEXCHANGEHOOK, sizeof(SSLKEYEXCHANGEHOOK) == 2 * PTR)                    \
    X(sizeof_SSLSIGNATUREHOOK, sizeof(SSLSIGNATUREHOOK) == 2 * PTR)                        \
    WSADATA_FACTS(X)                                                                       \
    X(sizeof_fd_set_windows, sizeof(fd_set) == 4 + 64 * sizeof(SOCKET))                    \
    X(offsetof_fd_set_fd_count, offsetof(fd_set, fd_count) == 0)                           \
    X(offsetof_fd_set_fd_array, offsetof(fd_set, fd_array) == 4)                           \
    X(MAKEWORD_2_2, MAKEWORD(2, 2) == 0x0202)                                              \
    X(MAKEWORD_1_2, MAKEWORD(1, 2) == 0x0201)                                              \
    X(LOBYTE_HIBYTE, LOBYTE(0x0102) == 2 && HIBYTE(0x0102) == 1)                           \
    X(LOWORD_HIWORD, LOWORD(0x00030004) == 4 && HIWORD(0x00030004) == 3)                   \
    X(SSL_ERR_is_int, sizeof(SSL_ERR_OKAY) == sizeof(int))

#define STATIC_FACT(name, cond) typedef char layout_fact_##name[(cond) ? 1 : -1];
LAYOUT_FACTS(STATIC_FACT)

/* ------------------------------------------------------------------ */
/* prototypes: a function of the wrong type does not initialise these   */

static int CALLBACK layout_hook(DWORD dwType, LPVOID pvArg, DWORD dwChainLen, LPBLOB pCertChain,
                                DWORD dwFlags)
{
    (void)dwType; (void)pvArg; (void)dwChainLen; (void)pCertChain; (void)dwFlags;
    return SSL_ERR_OKAY;
}

static SSLVALIDATECERTFUNC const p_hook = layout_hook;
static int (*const p_wsaioctl)(SOCKET, DWORD, LPVOID, DWORD, LPVOID, DWORD, LPDWORD,
                               LPWSAOVERLAPPED, LPWSAOVERLAPPED_COMPLETION_ROUTINE) = WSAIoctl;
static int (*const p_ioctlsocket)(SOCKET, long, u_long *) = ioctlsocket;
static int (*const p_closesocket)(SOCKET) = closesocket;
static int (*const p_startup)(WORD, LPWSADATA) = WSAStartup;
static int (*const p_cleanup)(void) = WSACleanup;
static int (*const p_getlasterror)(void) = WSAGetLastError;
static void (*const p_setlasterror)(int) = WSASetLastError;
static const char *(*const p_reason)(void) = sslsock_last_error_reason;
static int (*const p_select)(int, fd_set *, fd_set *, fd_set *, const struct timeval *) = select;
static int (*const p_fdisset)(SOCKET, fd_set *) = __WSAFDIsSet;

/* ------------------------------------------------------------------ */

#define RUNTIME_CONST(name, value)                                                         \
    CHECK((name) == (value) && (DWORD)(name) == (DWORD)(value), "%s == %s (got %lld = 0x%X)", \
          #name, #value, (long long)(name), (unsigned)(DWORD)(name));
#define RUNTIME_FACT(name, cond) CHECK(cond, "layout: %s", #cond);

int main(void)
{
    SSLVALIDATECERTHOOK hook;
    DWORD peer = (DWORD)SO_SSL_SET_PEERNAME;
    unsigned a, b;

    CONSTANTS(RUNTIME_CONST)
    CHECK(peer == 0x9073000Fu || peer == 0x5073000Fu,
          "SO_SSL_SET_PEERNAME is 0x9073000F or 0x5073000F (got 0x%08X)", (unsigned)peer);

    CHECK(WS_SO_SSL == (DWORD)_SO_SSL, "_SO_SSL == (2 << 27) | SO_SSL_FAMILY");
    CHECK(WS_WSAIOR(WS_SO_SSL, 1) == (DWORD)SO_SSL_GET_CAPABILITIES,
          "SO_SSL_GET_CAPABILITIES == _WSAIOR(_SO_SSL, 1) with Winsock's IOC_OUT");
    CHECK(WS_WSAIOW(WS_SO_SSL, 2) == (DWORD)SO_SSL_SET_FLAGS,
          "SO_SSL_SET_FLAGS == _WSAIOW(_SO_SSL, 2) with Winsock's IOC_IN");
    CHECK(WS_WSAIORW(WS_SO_SSL, 4) == (DWORD)SO_SSL_GET_CIPHERS,
          "SO_SSL_GET_CIPHERS == _WSAIORW(_SO_SSL, 4)");
    CHECK((WS_SO_SSL | 13u) == (DWORD)SO_SSL_PERFORM_HANDSHAKE,
          "SO_SSL_PERFORM_HANDSHAKE == _SO_SSL | 13 (no direction bits)");
    CHECK(WS_WSAIOR(WS_SO_SSL, 14) == (DWORD)SO_SSL_GET_CONNECTION_INFO,
          "SO_SSL_GET_CONNECTION_INFO == _WSAIOR(_SO_SSL, 14)");

    LAYOUT_FACTS(RUNTIME_FACT)

    /* The hook type takes a CE hook, and the structure holds it. */
    hook.HookFunc = p_hook;
    hook.pvArg = &hook;
    CHECK(hook.HookFunc == layout_hook && hook.pvArg == &hook,
          "SSLVALIDATECERTFUNC has the CE hook's signature and fits SSLVALIDATECERTHOOK");
    CHECK(hook.HookFunc(SSL_CERT_X509, NULL, 0, NULL, 0) == SSL_ERR_OKAY,
          "a hook called through SSLVALIDATECERTFUNC returns its value");
    CHECK(p_wsaioctl != NULL && p_ioctlsocket != NULL && p_closesocket != NULL &&
              p_startup != NULL && p_cleanup != NULL && p_getlasterror != NULL &&
              p_setlasterror != NULL && p_reason != NULL && p_select != NULL && p_fdisset != NULL,
          "WSAIoctl, ioctlsocket, closesocket, WSAStartup, WSACleanup, WSAGetLastError, "
          "WSASetLastError, sslsock_last_error_reason, select, __WSAFDIsSet have the documented "
          "prototypes");

    /* The variable-length SSLPROTOCOLS: entry i sits at 4 + 12 * i. */
    {
        DWORD words[1 + 3 * 3];
        SSLPROTOCOLS *p = (SSLPROTOCOLS *)words;
        memset(words, 0, sizeof words);
        p->dwCount = 3;
        p->ProtocolList[2].dwProtocol = SSL_PROTOCOL_TLS1;
        CHECK(words[0] == 3 && words[1 + 3 * 2] == SSL_PROTOCOL_TLS1,
              "SSLPROTOCOLS: dwCount then 12-byte entries, entry 2 at byte 28");
    }

    /* sslsock_last_error_reason: never NULL, "" with no failure yet. */
    CHECK(sslsock_last_error_reason() != NULL, "sslsock_last_error_reason() is not NULL");
    CHECK(sslsock_last_error_reason()[0] == 0,
          "sslsock_last_error_reason() is \"\" before any failure (got \"%s\")",
          sslsock_last_error_reason());

    /* Winsock codes are 10000 + the BSD errno, not the Linux one. */
    a = WSAEWOULDBLOCK - WSABASEERR;
    b = WSAECONNABORTED - WSABASEERR;
    CHECK(a == 35 && b == 53, "WSAEWOULDBLOCK/WSAECONNABORTED are 10000 + BSD EWOULDBLOCK 35 / "
          "ECONNABORTED 53 (not Linux's %d / %d)", EWOULDBLOCK, ECONNABORTED);

    return finish();
}
