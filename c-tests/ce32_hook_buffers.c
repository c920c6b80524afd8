/*
 * ce32_hook_buffers.c - the hook buffers CE code builds by hand, as CE wrote them (issue 14).
 *
 * The .NET Compact Framework helpers (pattern 13) and the AMQP client (pattern 02) do not pass an
 * SSLVALIDATECERTHOOK: they fill an 8-byte buffer with the hook at offset 0 and its argument at
 * offset 4 (the AMQP client stores the argument, a host name pointer, through a DWORD), and their
 * hook reads the BLOB as {DWORD size at 0, pointer at 4}.  On 32-bit Linux (armv7, i386) pointers are
 * 4 bytes as on CE, so that code is right there unchanged: this program runs it against the STARTTLS
 * server and checks that the hook is called, gets its argument back and reads the server's
 * certificate through offset 4.  On LP64 the same 8-byte buffer is too short for the 16-byte
 * SSLVALIDATECERTHOOK: sslsock refuses it with WSAEFAULT and names the size it needs (the reason the
 * 64-bit ports of c-tests/legacy/pattern02_amqp.c and pattern13_netcf.c size the buffer as
 * 2 * sizeof(void *)), and nothing is sent in the clear.
 */
#include <winsock2.h>
#include <sslsock.h>
#include "common.h"

#include <stddef.h>
#include <stdint.h>

static struct {
    int calls;
    const void *arg;
    DWORD size;
    int same_as_server;
} g_seen;

static const unsigned char *g_leaf;
static size_t g_leaf_len;

#if UINTPTR_MAX == 0xFFFFFFFFu

static const char g_host[] = "localhost";

/* The hook as CE code wrote it: the BLOB read at fixed offsets 0 (size) and 4 (data pointer). */
static int CALLBACK ce_hook(DWORD dwType, LPVOID pvArg, DWORD dwChainLen, LPBLOB pCertChain, DWORD dwFlags)
{
    const BYTE *chain = (const BYTE *)pCertChain;
    DWORD size = *(const DWORD *)(chain + 0);        /* Marshal.ReadInt32(chain, 0) */
    const BYTE *data = *(BYTE *const *)(chain + 4);  /* Marshal.ReadIntPtr(chain, 4) */
    g_seen.calls++;
    g_seen.arg = pvArg;
    g_seen.size = size;
    g_seen.same_as_server = dwType == SSL_CERT_X509 && dwChainLen == 1 && size == g_leaf_len &&
                            memcmp(data, g_leaf, size) == 0;
    return dwFlags == 0 ? SSL_ERR_OKAY : SSL_ERR_CERT_UNKNOWN;
}

/* Pattern 13: byte[8], the delegate's pointer at 0 and a NULL IntPtr at 4; the code as a negative int. */
static SOCKET open_netcf(int port)
{
    SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    int optionValue = 0x2004;
    SSLVALIDATECERTFUNC fn = ce_hook;
    void *arg = NULL;
    BYTE hookBuffer[8];
    DWORD bytes = 0;
    SOCKADDR_IN sin;

    setsockopt(s, 0xFFFF, 0x2001, (const char *)&optionValue, sizeof(optionValue));
    memcpy(hookBuffer, &fn, 4);
    memcpy(hookBuffer + 4, &arg, 4);
    if (WSAIoctl(s, (int)0x90730008, hookBuffer, 8, NULL, 0, &bytes, NULL, NULL) != 0) {
        CHECK(0, "pattern 13: IOControl((int)0x90730008, byte[8]) accepted");
        closesocket(s);
        return INVALID_SOCKET;
    }
    CHECK(1, "pattern 13: IOControl((int)0x90730008, byte[8]) accepted");
    if (connect(s, (SOCKADDR *)&sin, connect_addr(&sin, port)) != 0) {
        closesocket(s);
        return INVALID_SOCKET;
    }
    return s;
}

/* Pattern 02: BYTE inBuf[8] = {fn, host}, the host pointer stored through a DWORD. */
static SOCKET open_amqp(int port)
{
    SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    DWORD secure = SO_SEC_SSL, bytes = 0;
    BYTE inBuf[8];
    SOCKADDR_IN sin;

    setsockopt(s, SOL_SOCKET, SO_SECURE, (const char *)&secure, sizeof(secure));
    *(DWORD *)(inBuf + 0) = (DWORD)ce_hook;
    *(DWORD *)(inBuf + 4) = (DWORD)g_host;
    if (WSAIoctl(s, SO_SSL_SET_VALIDATE_CERT_HOOK, inBuf, sizeof(inBuf), NULL, 0, &bytes, NULL, NULL) ==
        SOCKET_ERROR) {
        CHECK(0, "pattern 02: WSAIoctl(SO_SSL_SET_VALIDATE_CERT_HOOK, BYTE[8] {fn, (DWORD)host})");
        closesocket(s);
        return INVALID_SOCKET;
    }
    CHECK(1, "pattern 02: WSAIoctl(SO_SSL_SET_VALIDATE_CERT_HOOK, BYTE[8] {fn, (DWORD)host})");
    if (connect(s, (SOCKADDR *)&sin, connect_addr(&sin, port)) != 0) {
        closesocket(s);
        return INVALID_SOCKET;
    }
    return s;
}

static void run(int port)
{
    SOCKET s;
    BYTE got[8];
    DWORD bytes = 0;

    CHECK(sizeof(void *) == 4 && sizeof(SSLVALIDATECERTHOOK) == 8 && offsetof(SSLVALIDATECERTHOOK, pvArg) == 4,
          "32-bit: SSLVALIDATECERTHOOK is CE's {fn at 0, pvArg at 4}, 8 bytes (%u)",
          (unsigned)sizeof(SSLVALIDATECERTHOOK));
    CHECK(sizeof(BLOB) == 8 && offsetof(BLOB, pBlobData) == 4, "32-bit: BLOB is CE's {cbSize at 0, pBlobData at 4}");

    memset(&g_seen, 0, sizeof g_seen);
    s = open_netcf(port);
    CHECK(s != INVALID_SOCKET && echo_roundtrip(s, "netcf over TLS"),
          "pattern 13: connect and echo over TLS with the hand-built hook");
    CHECK(g_seen.calls == 1 && g_seen.arg == NULL && g_seen.same_as_server,
          "pattern 13: the hook ran once and read the server's certificate (%u bytes) at BLOB offset 4",
          (unsigned)g_seen.size);
    if (s != INVALID_SOCKET)
        closesocket(s);

    memset(&g_seen, 0, sizeof g_seen);
    s = open_amqp(port);
    CHECK(s != INVALID_SOCKET && echo_roundtrip(s, "amqp over TLS"),
          "pattern 02: connect and echo over TLS with the hand-built hook");
    CHECK(g_seen.calls == 1 && g_seen.arg == g_host && strcmp((const char *)g_seen.arg, "localhost") == 0 &&
              g_seen.same_as_server,
          "pattern 02: the hook got the host pointer from the DWORD at offset 4 and the server's certificate");
    if (s != INVALID_SOCKET) {
        memset(got, 0, sizeof got);
        CHECK(WSAIoctl(s, SO_SSL_GET_VALIDATE_CERT_HOOK, NULL, 0, got, sizeof got, &bytes, NULL, NULL) == 0 &&
                  bytes == 8 && *(DWORD *)(got + 0) == (DWORD)ce_hook && *(DWORD *)(got + 4) == (DWORD)g_host,
              "pattern 02: SO_SSL_GET_VALIDATE_CERT_HOOK gives the same 8 bytes back");
        closesocket(s);
    }
}

#else

static int CALLBACK never_hook(DWORD dwType, LPVOID pvArg, DWORD dwChainLen, LPBLOB pCertChain, DWORD dwFlags)
{
    (void)dwType, (void)pvArg, (void)dwChainLen, (void)pCertChain, (void)dwFlags;
    g_seen.calls++;
    return SSL_ERR_OKAY;
}

/* LP64: CE's 8-byte buffer holds only the hook's low half: refused, and the socket stays unusable. */
static void run(int port)
{
    SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    SSLVALIDATECERTFUNC fn = never_hook;
    BYTE inBuf[8];
    DWORD bytes = 0;
    int rc, err;
    SOCKADDR_IN sin;

    CHECK(sizeof(SSLVALIDATECERTHOOK) == 16 && offsetof(SSLVALIDATECERTHOOK, pvArg) == 8,
          "64-bit: SSLVALIDATECERTHOOK is {fn at 0, pvArg at 8}, 16 bytes");
    memset(&g_seen, 0, sizeof g_seen);
    CHECK(make_secure(s) == 0, "SO_SECURE");
    memcpy(inBuf, &fn, 4);
    memset(inBuf + 4, 0, 4);
    rc = WSAIoctl(s, SO_SSL_SET_VALIDATE_CERT_HOOK, inBuf, sizeof inBuf, NULL, 0, &bytes, NULL, NULL);
    err = WSAGetLastError();
    CHECK(rc == SOCKET_ERROR && err == WSAEFAULT && bytes == sizeof(SSLVALIDATECERTHOOK),
          "CE's 8-byte hook buffer is refused with WSAEFAULT, the needed size (%u) in *lpcbBytesReturned",
          (unsigned)bytes);
    CHECK(strstr(sslsock_last_error_reason(), "16") != NULL, "the reason names the 16 bytes needed: %s",
          sslsock_last_error_reason());
    /* No hook was installed: the default decision applies (the test CA is trusted), never half a pointer. */
    CHECK(connect(s, (SOCKADDR *)&sin, connect_addr(&sin, port)) == 0 && echo_roundtrip(s, "no hook"),
          "the socket then connects with the default certificate decision");
    CHECK(g_seen.calls == 0, "the half-written hook was never called");
    closesocket(s);
}

#endif

int main(void)
{
    int port = env_port("T_PORT_STARTTLS");
    start_watchdog(50);
    g_leaf = read_pki("good.der", &g_leaf_len);
    run(port);
    return finish();
}
