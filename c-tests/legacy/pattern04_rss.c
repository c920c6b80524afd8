/*
 * Pattern 4 as written on CE: an RSS reader's feed download (docs/patterns.md 4).
 *
 * socket(AF_INET, SOCK_STREAM, 0) -> SO_SECURE -> hook(wide host string) -> DEFER -> SO_KEEPALIVE
 * -> connect -> optional SOCKS4 negotiation in plaintext -> SO_SSL_PERFORM_HANDSHAKE(NULL, 0) ->
 * one-byte recvs, each after select(1, &r, NULL, NULL, &tv) -> shutdown(s, 0) + closesocket.
 * Hook: dwChainLen must be 1; CN checked with "*." wildcards and dates; certificates the user
 * accepted are kept by their DER bytes and accepted again without asking.
 *
 * Port edits (PORT: below):
 *   1. MessageBox(hwnd, TEXT("Accept this certificate?"), ..., MB_YESNO) -> the port's own prompt
 *      (here a function answering from a setting);
 *   2. the build drops UNICODE: TCHAR strings are char now.  The host given to the hook stays a
 *      wide string (it was declared WCHAR, not TCHAR, so the hook's cast to LPCWSTR still holds).
 */
#include <windows.h>
#include <tchar.h>
#include <winsock2.h>
#include <sslsock.h>
#include <schnlsp.h>
#include "legacy_test.h"

#define MAX_ACCEPTED 4

typedef struct _ACCEPTED_CERT {
    DWORD cb;
    BYTE der[8192];
} ACCEPTED_CERT;

static ACCEPTED_CERT g_accepted[MAX_ACCEPTED];
static int g_cAccepted;
static int g_cPrompts;
static BOOL g_fUserSaysYes; /* TEST: what the "user" answers */

/* PORT: was MessageBox(g_hwndMain, msg, TEXT("Certificate"), MB_YESNO | MB_ICONWARNING) == IDYES */
static BOOL PortAskUser(LPCTSTR pszMessage)
{
    (void)pszMessage;
    g_cPrompts++;
    return g_fUserSaysYes;
}

static BOOL IsAccepted(const BYTE *pb, DWORD cb)
{
    int i;
    for (i = 0; i < g_cAccepted; i++)
        if (g_accepted[i].cb == cb && memcmp(g_accepted[i].der, pb, cb) == 0)
            return TRUE;
    return FALSE;
}

/* "*.example.com" matches one label; case-insensitive. */
static BOOL HostMatchesCN(LPCSTR pszHost, LPCSTR pszCN)
{
    if (pszCN[0] == '*' && pszCN[1] == '.') {
        LPCSTR dot = strchr(pszHost, '.');
        return dot && dot != pszHost && lstrcmpi(dot + 1, pszCN + 2) == 0;
    }
    return lstrcmpi(pszHost, pszCN) == 0;
}

static int CALLBACK RssCertHook(DWORD dwType, LPVOID pvArg, DWORD dwChainLen, LPBLOB pCertChain, DWORD dwFlags)
{
    LPCWSTR pwszHost = (LPCWSTR)pvArg;
    char szHost[256], szCN[256];
    TCHAR szMsg[512];
    PX509Certificate pCert = NULL;
    FILETIME ftNow;
    const char *cn;
    int i, verdict = SSL_ERR_OKAY;

    if (dwChainLen != 1)
        return SSL_ERR_BAD_DATA;
    if (dwType != SSL_CERT_X509)
        return SSL_ERR_BAD_TYPE;
    if (!WideCharToMultiByte(CP_ACP, 0, pwszHost, -1, szHost, sizeof(szHost), NULL, NULL))
        return SSL_ERR_FAILED;
    if (!SslCrackCertificate(pCertChain[0].pBlobData, pCertChain[0].cbSize, 0, &pCert))
        return SSL_ERR_BAD_DATA;
    cn = strstr(pCert->pszSubject, "CN=");
    for (i = 0; cn && cn[3 + i] && cn[3 + i] != ',' && i < (int)sizeof(szCN) - 1; i++)
        szCN[i] = cn[3 + i];
    szCN[cn ? i : 0] = 0;
    GetSystemTimeAsFileTime(&ftNow);
    if (!HostMatchesCN(szHost, szCN))
        verdict = SSL_ERR_CERT_UNKNOWN;
    else if (CompareFileTime(&ftNow, &pCert->ValidFrom) < 0 || CompareFileTime(&ftNow, &pCert->ValidUntil) > 0)
        verdict = SSL_ERR_CERT_EXPIRED;
    else if (dwFlags & SSL_CERT_FLAG_ISSUER_UNKNOWN) {
        if (!IsAccepted(pCertChain[0].pBlobData, pCertChain[0].cbSize)) {
            _stprintf(szMsg, _T("The certificate of %s is not trusted.\nAccept it?"), szHost);
            if (!PortAskUser(szMsg) || g_cAccepted == MAX_ACCEPTED || pCertChain[0].cbSize > sizeof(g_accepted[0].der))
                verdict = SSL_ERR_CERT_UNKNOWN;
            else {
                CopyMemory(g_accepted[g_cAccepted].der, pCertChain[0].pBlobData, pCertChain[0].cbSize);
                g_accepted[g_cAccepted++].cb = pCertChain[0].cbSize;
            }
        }
    }
    SslFreeCertificate(pCert);
    return verdict;
}

static SOCKET RssConnect(LPCWSTR pwszHost, LPCSTR pszAddress, int nPort)
{
    SOCKET s = socket(AF_INET, SOCK_STREAM, 0);
    DWORD dwSecure = SO_SEC_SSL, dwFlags = SSL_FLAG_DEFER_HANDSHAKE, cb;
    SSLVALIDATECERTHOOK hook;
    BOOL fKeepAlive = TRUE;
    SOCKADDR_IN sin;

    if (s == INVALID_SOCKET)
        return INVALID_SOCKET;
    setsockopt(s, SOL_SOCKET, SO_SECURE, (const char *)&dwSecure, sizeof(dwSecure));
    hook.HookFunc = RssCertHook;
    hook.pvArg = (LPVOID)pwszHost;
    WSAIoctl(s, SO_SSL_SET_VALIDATE_CERT_HOOK, &hook, sizeof(hook), NULL, 0, &cb, NULL, NULL);
    WSAIoctl(s, SO_SSL_SET_FLAGS, &dwFlags, sizeof(dwFlags), NULL, 0, &cb, NULL, NULL);
    setsockopt(s, SOL_SOCKET, SO_KEEPALIVE, (const char *)&fKeepAlive, sizeof(fKeepAlive));
    ZeroMemory(&sin, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((u_short)nPort);
    sin.sin_addr.s_addr = inet_addr(pszAddress);
    if (connect(s, (SOCKADDR *)&sin, sizeof(sin)) == SOCKET_ERROR) {
        closesocket(s);
        return INVALID_SOCKET;
    }
    return s;
}

/* SOCKS4 CONNECT to 127.0.0.1:443 in plaintext. */
static BOOL RssSocks4(SOCKET s)
{
    BYTE req[9] = {4, 1, 0x01, 0xBB, 127, 0, 0, 1, 0};
    BYTE grant[8];
    int got = 0;
    if (send(s, (const char *)req, sizeof(req), 0) != (int)sizeof(req))
        return FALSE;
    while (got < 8) {
        int n = recv(s, (char *)grant + got, 8 - got, 0);
        if (n <= 0)
            return FALSE;
        got += n;
    }
    return grant[0] == 0 && grant[1] == 0x5A;
}

/* One byte, after select(1, ...) says readable (the reader's 5-second timeout). */
static int RssGetChar(SOCKET s, char *pc)
{
    fd_set r;
    struct timeval tv;
    FD_ZERO(&r);
    FD_SET(s, &r);
    tv.tv_sec = 5;
    tv.tv_usec = 0;
    if (select(1, &r, NULL, NULL, &tv) != 1)
        return 0;
    return recv(s, pc, 1, 0);
}

static void RssClose(SOCKET s)
{
    shutdown(s, 0);
    closesocket(s);
}

int main(void)
{
    static const WCHAR wszHost[] = L"localhost";
    LPCSTR pszAddress;
    SOCKET s;
    DWORD cb;
    char c, line[256];
    int i, n, bad;

    lt_watchdog(50);        /* TEST: */
    pszAddress = lt_host(); /* TEST: */

    /* SOCKS4 in plaintext, then TLS, then one byte per recv after select. */
    s = RssConnect(wszHost, pszAddress, lt_port("T_PORT_STARTTLS")); /* TEST: port */
    CHECK(s != INVALID_SOCKET, "pattern 4: connect (deferred)");
    CHECK(RssSocks4(s), "pattern 4: SOCKS4 CONNECT granted in plaintext");
    CHECK(WSAIoctl(s, SO_SSL_PERFORM_HANDSHAKE, NULL, 0, NULL, 0, &cb, NULL, NULL) == 0,
          "pattern 4: SO_SSL_PERFORM_HANDSHAKE(NULL, 0)");
    CHECK(send(s, "BIG 16000\r\n", 11, 0) == 11, "pattern 4: send BIG 16000");
    bad = 0;
    for (i = 0; i < 16000 + 7 && !bad; i++) {
        static const char trailer[] = "\r\nEND\r\n";
        char want = i < 16000 ? (char)((i * 7 + 3) & 0xff) : trailer[i - 16000];
        if (RssGetChar(s, &c) != 1 || c != want)
            bad = 1;
    }
    CHECK(!bad, "pattern 4: 16007 one-byte recvs, each after select(1, ...) said readable (stopped at %d)", i);
    RssClose(s);
    CHECK(g_cPrompts == 0, "pattern 4: a trusted certificate needs no prompt");

    /* A self-signed server: the user accepts once; the second time the stored DER suffices. */
    g_fUserSaysYes = TRUE;
    for (i = 0; i < 2; i++) {
        s = RssConnect(wszHost, pszAddress, lt_port("T_PORT_SELFSIGNED")); /* TEST: */
        CHECK(WSAIoctl(s, SO_SSL_PERFORM_HANDSHAKE, NULL, 0, NULL, 0, &cb, NULL, NULL) == 0,
              "pattern 4: self-signed, connection %d: handshake succeeds", i + 1);
        CHECK(send(s, "GET /index.html HTTP/1.0\r\n\r\n", 28, 0) == 28, "pattern 4: self-signed: GET");
        for (n = 0; n < (int)sizeof(line) - 1 && RssGetChar(s, &c) == 1 && c != '\n'; n++)
            line[n] = c;
        line[n] = 0;
        CHECK(strncmp(line, "HTTP/1.0 200", 12) == 0, "pattern 4: self-signed: status line one byte at a time");
        RssClose(s);
    }
    CHECK(g_cPrompts == 1 && g_cAccepted == 1, "pattern 4: the user was asked once (%d prompts)", g_cPrompts);

    /* An expired certificate: the hook's own date check refuses it. */
    s = RssConnect(wszHost, pszAddress, lt_port("T_PORT_EXPIRED")); /* TEST: */
    CHECK(WSAIoctl(s, SO_SSL_PERFORM_HANDSHAKE, NULL, 0, NULL, 0, &cb, NULL, NULL) == SOCKET_ERROR &&
              WSAGetLastError() == WSAECONNABORTED && strstr(lt_reason(), "SSL_ERR_CERT_EXPIRED"),
          "pattern 4: expired: the handshake fails with the hook's SSL_ERR_CERT_EXPIRED");
    RssClose(s);
    return lt_finish();
}
