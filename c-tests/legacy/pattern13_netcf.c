/*
 * Pattern 13 as written on CE: the secure-socket helpers of .NET Compact Framework projects
 * (docs/patterns.md 13), transliterated from their C# to the calls they make.
 *
 * Socket.SetSocketOption((SocketOptionLevel)0xFFFF, (SocketOptionName)0x2001, 0x2004);
 * Socket.IOControl with the codes written as negative 32-bit ints ((int)0x90730008); the hook
 * (a delegate) reads the BLOB as {int32 size, pointer}; optionally DEFER and a handshake with
 * IOControl(0x1073000D, null, null).
 *
 * Port edits (PORT: below):
 *   1. the hook buffer held two 4-byte IntPtrs in 8 bytes: now 2 * sizeof(void *);
 *   2. the hook read BLOB.pBlobData at offset 4 (Marshal.ReadIntPtr(pCertChain, 4)): the pointer is
 *      at offset sizeof(void *) on LP64 (offsetof(BLOB, pBlobData)).
 */
#include <windows.h>
#include <winsock2.h>
#include <sslsock.h>
#include <stddef.h>
#include "legacy_test.h"

/* The constants as the C# source spells them. */
#define SocketOptionLevel_Socket 0xFFFF
#define SO_SECURE_NAME 0x2001
#define SO_SEC_SSL_VALUE 0x2004
static const int SO_SSL_SET_VALIDATE_CERT_HOOK_CODE = -1871511544; /* (int)0x90730008 */
static const int SO_SSL_SET_FLAGS_CODE = -1871511550;              /* (int)0x90730002 */
static const int SO_SSL_PERFORM_HANDSHAKE_CODE = 0x1073000D;
static const int SSL_FLAG_DEFER_HANDSHAKE_VALUE = 8;

static BYTE g_certBytes[8192]; /* the managed byte[] the delegate built */
static int g_certLength;

/* The delegate: SslValidateCertHook(uint type, IntPtr arg, uint chainLen, IntPtr chain, uint flags) */
static int CALLBACK ManagedCertHook(DWORD dwType, LPVOID pvArg, DWORD dwChainLen, LPBLOB pCertChain, DWORD dwFlags)
{
    BYTE *chain = (BYTE *)pCertChain;
    int size = *(int *)(chain + 0);                                   /* Marshal.ReadInt32(chain, 0) */
    BYTE *data = *(BYTE **)(chain + offsetof(BLOB, pBlobData));      /* PORT: was Marshal.ReadIntPtr(chain, 4) */
    (void)pvArg;
    if (dwType != 1 || dwChainLen != 1 || size <= 0 || size > (int)sizeof(g_certBytes))
        return 4; /* SSL_ERR_BAD_TYPE */
    CopyMemory(g_certBytes, data, size);                             /* Marshal.Copy(data, bytes, 0, size) */
    g_certLength = size;
    return dwFlags == 0 ? 0 : 10;
}

/* Socket.IOControl(int code, byte[] in, byte[] out): returns the byte count or -1. */
static int IOControl(SOCKET s, int ioControlCode, void *optionInValue, int inLength, void *optionOutValue,
                     int outLength)
{
    DWORD bytes = 0;
    if (WSAIoctl(s, ioControlCode, optionInValue, inLength, optionOutValue, outLength, &bytes, NULL, NULL) != 0)
        return -1;
    return (int)bytes;
}

static SOCKET SecureSocketOpen(BOOL fDefer, int port)
{
    SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    int optionValue = SO_SEC_SSL_VALUE;
    SSLVALIDATECERTFUNC fn = ManagedCertHook;   /* Marshal.GetFunctionPointerForDelegate */
    void *arg = NULL;
    BYTE hookBuffer[2 * sizeof(void *)];        /* PORT: was new byte[8] */
    SOCKADDR_IN sin;

    setsockopt(s, SocketOptionLevel_Socket, SO_SECURE_NAME, (const char *)&optionValue, sizeof(optionValue));
    CopyMemory(hookBuffer, &fn, sizeof(void *));
    CopyMemory(hookBuffer + sizeof(void *), &arg, sizeof(void *)); /* PORT: offset was 4 */
    if (IOControl(s, SO_SSL_SET_VALIDATE_CERT_HOOK_CODE, hookBuffer, sizeof(hookBuffer), NULL, 0) < 0)
        return INVALID_SOCKET;
    if (fDefer) {
        int flags = SSL_FLAG_DEFER_HANDSHAKE_VALUE;
        if (IOControl(s, SO_SSL_SET_FLAGS_CODE, &flags, sizeof(flags), NULL, 0) < 0)
            return INVALID_SOCKET;
    }
    ZeroMemory(&sin, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((u_short)port);
    sin.sin_addr.s_addr = inet_addr(lt_host()); /* TEST: */
    if (connect(s, (SOCKADDR *)&sin, sizeof(sin)) != 0)
        return INVALID_SOCKET;
    if (fDefer && IOControl(s, SO_SSL_PERFORM_HANDSHAKE_CODE, NULL, 0, NULL, 0) < 0)
        return INVALID_SOCKET;
    return s;
}

static BOOL EchoOnce(SOCKET s, LPCSTR text)
{
    char buf[256], cmd[256];
    int len = wsprintf(cmd, "ECHO %s\r\n", text), got = 0, n;
    if (send(s, cmd, len, 0) != len)
        return FALSE;
    while (got < lstrlen(text) + 2 && (n = recv(s, buf + got, sizeof(buf) - 1 - got, 0)) > 0)
        got += n;
    buf[got] = 0;
    return got == lstrlen(text) + 2 && strncmp(buf, text, lstrlen(text)) == 0;
}

int main(void)
{
    BYTE leaf[8192];
    int leafLen = 0;
    FILE *f;
    SOCKET s;
    int mode;

    lt_watchdog(50); /* TEST: */
    f = fopen(lt_pki("good.der"), "rb"); /* TEST: the certificate the server sends */
    if (f) {
        leafLen = (int)fread(leaf, 1, sizeof(leaf), f);
        fclose(f);
    }

    for (mode = 0; mode < 2; mode++) {
        g_certLength = 0;
        s = SecureSocketOpen(mode == 1, lt_port("T_PORT_STARTTLS"));
        CHECK(s != INVALID_SOCKET, "pattern 13: %s: option 0x2001 = 0x2004, codes as negative ints, connect",
              mode ? "deferred, IOControl(0x1073000D, null, null)" : "immediate");
        CHECK(g_certLength == leafLen && leafLen > 0 && memcmp(g_certBytes, leaf, leafLen) == 0,
              "pattern 13: the delegate read the BLOB and got the server's certificate (%d bytes)", g_certLength);
        CHECK(EchoOnce(s, "netcf"), "pattern 13: data over TLS");
        closesocket(s);
    }
    return lt_finish();
}
