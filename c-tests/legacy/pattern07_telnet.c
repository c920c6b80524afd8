/*
 * Pattern 7 as written on CE: a telnet client with "SSL" and "telnet AUTH SSL" modes (docs/patterns.md 7).
 *
 * SSL: SO_SECURE -> hook -> connect.  AUTH SSL: SO_SECURE -> hook -> GET_FLAGS into a DWORD, OR in
 * DEFER, SET_FLAGS -> connect -> plaintext negotiation -> SO_SSL_PERFORM_HANDSHAKE with all-zero
 * arguments.  A reader thread: select(1, &r, 0, 0, NULL) forever, then lock, recv(200), unlock;
 * the writer: select for write, lock, send, unlock.  The hook pins the server's certificate by
 * comparing the blob's length and bytes with the stored one.
 *
 * Port edits (PORT: below):
 *   1. the pinned certificate came from the registry (RegQueryValueEx, REG_BINARY): now a file.
 */
#include <windows.h>
#include <winsock2.h>
#include <sslsock.h>
#include "legacy_test.h"

typedef struct _TELNET {
    SOCKET s;
    CRITICAL_SECTION cs;
    char screen[32768];
    int cbScreen;
    int nLastRecv;
} TELNET;

static BYTE g_pinned[8192];
static DWORD g_cbPinned;

/* PORT: was RegQueryValueEx(hKey, TEXT("ServerCert"), NULL, &type, g_pinned, &g_cbPinned) */
static BOOL LoadPinnedCertificate(LPCSTR pszFile)
{
    FILE *f = fopen(pszFile, "rb");
    if (!f)
        return FALSE;
    g_cbPinned = (DWORD)fread(g_pinned, 1, sizeof(g_pinned), f);
    fclose(f);
    return g_cbPinned > 0;
}

static int CALLBACK TelnetCertHook(DWORD dwType, LPVOID pvArg, DWORD dwChainLen, LPBLOB pCertChain, DWORD dwFlags)
{
    (void)pvArg;
    (void)dwFlags; /* the pin decides, trusted or not */
    if (dwType != SSL_CERT_X509 || dwChainLen < 1)
        return SSL_ERR_BAD_TYPE;
    if (pCertChain[0].cbSize == g_cbPinned && memcmp(pCertChain[0].pBlobData, g_pinned, g_cbPinned) == 0)
        return SSL_ERR_OKAY;
    return SSL_ERR_CERT_UNKNOWN;
}

static BOOL TelnetConnect(TELNET *t, int nPort, BOOL fAuthSsl)
{
    DWORD dwSecure = SO_SEC_SSL, dwFlags = 0, cb = 0;
    SSLVALIDATECERTHOOK hook;
    SOCKADDR_IN sin;

    t->s = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(t->s, SOL_SOCKET, SO_SECURE, (const char *)&dwSecure, sizeof(dwSecure));
    hook.HookFunc = TelnetCertHook;
    hook.pvArg = t;
    WSAIoctl(t->s, SO_SSL_SET_VALIDATE_CERT_HOOK, &hook, sizeof(hook), NULL, 0, &cb, NULL, NULL);
    if (fAuthSsl) {
        WSAIoctl(t->s, SO_SSL_GET_FLAGS, NULL, 0, &dwFlags, sizeof(dwFlags), &cb, NULL, NULL);
        dwFlags |= SSL_FLAG_DEFER_HANDSHAKE;
        WSAIoctl(t->s, SO_SSL_SET_FLAGS, &dwFlags, sizeof(dwFlags), NULL, 0, &cb, NULL, NULL);
    }
    ZeroMemory(&sin, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((u_short)nPort);
    sin.sin_addr.s_addr = inet_addr(lt_host()); /* TEST: */
    return connect(t->s, (SOCKADDR *)&sin, sizeof(sin)) == 0;
}

static DWORD WINAPI TelnetReader(LPVOID lpParameter)
{
    TELNET *t = (TELNET *)lpParameter;
    char buf[200];
    for (;;) {
        fd_set r;
        int n;
        FD_ZERO(&r);
        FD_SET(t->s, &r);
        if (select(1, &r, 0, 0, NULL) == SOCKET_ERROR)
            break;
        EnterCriticalSection(&t->cs);
        n = recv(t->s, buf, sizeof(buf), 0);
        if (n > 0 && t->cbScreen + n <= (int)sizeof(t->screen)) {
            CopyMemory(t->screen + t->cbScreen, buf, n);
            t->cbScreen += n;
        }
        t->nLastRecv = n;
        LeaveCriticalSection(&t->cs);
        if (n <= 0)
            break;
    }
    return 0;
}

static BOOL TelnetWrite(TELNET *t, const char *p, int len)
{
    fd_set w;
    int n;
    FD_ZERO(&w);
    FD_SET(t->s, &w);
    if (select(1, NULL, &w, NULL, NULL) != 1)
        return FALSE;
    EnterCriticalSection(&t->cs);
    n = send(t->s, p, len, 0);
    LeaveCriticalSection(&t->cs);
    return n == len;
}

/* One line in plaintext (negotiation), one byte per recv. */
static BOOL TelnetReadPlainLine(TELNET *t, char *psz, int cch)
{
    int n = 0;
    char c;
    while (recv(t->s, &c, 1, 0) == 1) {
        if (c == '\n') {
            psz[n > 0 && psz[n - 1] == '\r' ? n - 1 : n] = 0;
            return TRUE;
        }
        if (n < cch - 1)
            psz[n++] = c;
    }
    return FALSE;
}

/* A session: the reader thread collects while the writer sends lines, then QUIT. */
static BOOL TelnetSession(TELNET *t, int nLines)
{
    static char expect[32768];
    char line[64];
    int i, cbExpect = 0;
    BOOL ok = TRUE;
    HANDLE hReader;

    t->cbScreen = 0;
    hReader = CreateThread(NULL, 0, TelnetReader, t, 0, NULL);
    for (i = 0; i < nLines && ok; i++) {
        int n = wsprintf(line, "ECHO line %d\r\n", i);
        ok = TelnetWrite(t, line, n);
        cbExpect += wsprintf(expect + cbExpect, "line %d\r\n", i);
    }
    ok = ok && TelnetWrite(t, "QUIT\r\n", 6);
    cbExpect += wsprintf(expect + cbExpect, "BYE\r\n");
    WaitForSingleObject(hReader, INFINITE);
    CloseHandle(hReader);
    return ok && t->nLastRecv == 0 && t->cbScreen == cbExpect && memcmp(t->screen, expect, cbExpect) == 0;
}

int main(void)
{
    static TELNET t;
    char line[256];
    DWORD dwFlags = 0, cb = 0;

    lt_watchdog(50); /* TEST: */
    InitializeCriticalSection(&t.cs);

    CHECK(LoadPinnedCertificate(lt_pki("good.der")), "pattern 7: pinned certificate loaded"); /* TEST: path */
    CHECK(TelnetConnect(&t, lt_port("T_PORT_STARTTLS"), FALSE), "pattern 7: SSL mode: connect (handshake inside)");
    CHECK(TelnetSession(&t, 20), "pattern 7: SSL mode: reader thread in select/recv while the writer sends");
    closesocket(t.s);

    CHECK(TelnetConnect(&t, lt_port("T_PORT_STARTTLS"), TRUE), "pattern 7: AUTH SSL: connect (deferred)");
    WSAIoctl(t.s, SO_SSL_GET_FLAGS, NULL, 0, &dwFlags, sizeof(dwFlags), &cb, NULL, NULL);
    CHECK(dwFlags == SSL_FLAG_DEFER_HANDSHAKE, "pattern 7: AUTH SSL: GET_FLAGS | DEFER was set (0x%x)",
          (unsigned)dwFlags);
    CHECK(TelnetReadPlainLine(&t, line, sizeof(line)) && lstrcmp(line, "220 sslsock-test ready") == 0,
          "pattern 7: AUTH SSL: plaintext greeting");
    CHECK(send(t.s, "AUTH SSL\r\n", 10, 0) == 10 && TelnetReadPlainLine(&t, line, sizeof(line)) &&
              lstrcmp(line, "AUTH OK") == 0,
          "pattern 7: AUTH SSL: negotiated in plaintext");
    CHECK(WSAIoctl(t.s, SO_SSL_PERFORM_HANDSHAKE, 0, 0, 0, 0, 0, 0, 0) == 0,
          "pattern 7: AUTH SSL: SO_SSL_PERFORM_HANDSHAKE with all-zero arguments");
    CHECK(TelnetSession(&t, 5), "pattern 7: AUTH SSL: session over TLS");
    closesocket(t.s);

    /* A self-signed server whose certificate is the pinned one: the pin wins over ISSUER_UNKNOWN. */
    CHECK(LoadPinnedCertificate(lt_pki("selfsigned.der")), "pattern 7: pin the self-signed certificate");
    CHECK(TelnetConnect(&t, lt_port("T_PORT_SELFSIGNED"), FALSE), "pattern 7: pinned self-signed: connect");
    CHECK(send(t.s, "GET /index.html HTTP/1.0\r\n\r\n", 28, 0) == 28 && TelnetReadPlainLine(&t, line, sizeof(line)) &&
              strncmp(line, "HTTP/1.0 200", 12) == 0,
          "pattern 7: pinned self-signed: data flows");
    closesocket(t.s);

    /* Another certificate than the pinned one. */
    CHECK(!TelnetConnect(&t, lt_port("T_PORT_HTTPS"), FALSE) && WSAGetLastError() == WSAECONNABORTED,
          "pattern 7: pin mismatch: connect fails with WSAECONNABORTED");
    CHECK(send(t.s, "x", 1, 0) == SOCKET_ERROR, "pattern 7: pin mismatch: a later send fails");
    closesocket(t.s);
    DeleteCriticalSection(&t.cs);
    return lt_finish();
}
