/*
 * Pattern 12 as written on CE: a browser's (Minimo's) secure socket layer (C++; docs/patterns.md 12).
 *
 * SO_SECURE -> hook(socket info) -> the descriptor is handed to NSPR, which makes it non-blocking,
 * connects, polls, sends and receives on it.  The hook checks the CN, with wildcards, against the
 * destination host.
 *
 * Port edits (PORT: below):
 *   1. the non-blocking flag given to ioctlsocket was a DWORD: u_long (8 bytes here).
 * NSPR's Windows CE I/O layer (select(), WSAGetLastError() == WSAEWOULDBLOCK) is kept as written:
 * the few calls the browser makes are written out below.
 */
#include <windows.h>
#include <winsock2.h>
#include <sslsock.h>
#include <schnlsp.h>
#include "legacy_test.h"

#define PR_SUCCESS 0
#define PR_FAILURE -1
#define NSPR_TIMEOUT_MS 10000

/* ---- the browser's SSL layer */

struct nsSSLSocketInfo {
    char mHostName[256];
    int mHookCalls;
};

static bool CNMatchesHost(const char *cn, const char *host)
{
    if (cn[0] == '*' && cn[1] == '.') {
        const char *dot = strchr(host, '.');
        return dot && dot != host && _stricmp(dot + 1, cn + 2) == 0;
    }
    return _stricmp(cn, host) == 0;
}

static int CALLBACK nsSSLCertHook(DWORD dwType, LPVOID pvArg, DWORD dwChainLen, LPBLOB pCertChain, DWORD dwFlags)
{
    nsSSLSocketInfo *info = static_cast<nsSSLSocketInfo *>(pvArg);
    PX509Certificate cert = NULL;
    char cn[256];
    int i, result;

    info->mHookCalls++;
    if (dwType != SSL_CERT_X509 || dwChainLen != 1)
        return SSL_ERR_BAD_TYPE;
    if (dwFlags & SSL_CERT_FLAG_ISSUER_UNKNOWN)
        return SSL_ERR_CERT_UNKNOWN;
    if (!SslCrackCertificate(pCertChain[0].pBlobData, pCertChain[0].cbSize, 0, &cert))
        return SSL_ERR_BAD_DATA;
    const char *p = strstr(cert->pszSubject, "CN=");
    for (i = 0; p && p[3 + i] && p[3 + i] != ',' && i < (int)sizeof(cn) - 1; i++)
        cn[i] = p[3 + i];
    cn[p ? i : 0] = 0;
    result = CNMatchesHost(cn, info->mHostName) ? SSL_ERR_OKAY : SSL_ERR_CERT_UNKNOWN;
    SslFreeCertificate(cert);
    return result;
}

static SOCKET nsSSLIOLayerNewSocket(nsSSLSocketInfo *info)
{
    SOCKET s = socket(AF_INET, SOCK_STREAM, 0);
    DWORD secure = SO_SEC_SSL;
    SSLVALIDATECERTHOOK hook;
    if (s == INVALID_SOCKET)
        return s;
    setsockopt(s, SOL_SOCKET, SO_SECURE, (char *)&secure, sizeof(secure));
    hook.HookFunc = nsSSLCertHook;
    hook.pvArg = info;
    WSAIoctl(s, SO_SSL_SET_VALIDATE_CERT_HOOK, &hook, sizeof(hook), NULL, 0, NULL, NULL, NULL);
    return s;
}

/* ---- NSPR: the calls the browser makes on the imported descriptor */

static int PR_Connect(SOCKET fd, const struct sockaddr *addr, socklen_t len)
{
    u_long nonblocking = 1; /* PORT: was DWORD */
    fd_set writable;
    struct timeval tv = {NSPR_TIMEOUT_MS / 1000, 0};
    int err = 0;
    socklen_t errlen = sizeof(err);

    if (ioctlsocket(fd, FIONBIO, &nonblocking) == SOCKET_ERROR)
        return PR_FAILURE;
    if (connect(fd, addr, len) == 0)
        return PR_SUCCESS;
    if (WSAGetLastError() != WSAEWOULDBLOCK)
        return PR_FAILURE;
    FD_ZERO(&writable);
    FD_SET(fd, &writable);
    if (select(0, NULL, &writable, NULL, &tv) != 1)
        return PR_FAILURE;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, (char *)&err, &errlen) == SOCKET_ERROR || err != 0)
        return PR_FAILURE;
    return PR_SUCCESS;
}

/* NSPR's wait for one socket (_PR_MD_WAIT on CE: select). */
static int PR_Wait(SOCKET fd, int write)
{
    fd_set set;
    struct timeval tv = {NSPR_TIMEOUT_MS / 1000, 0};
    FD_ZERO(&set);
    FD_SET(fd, &set);
    return select(0, write ? NULL : &set, write ? &set : NULL, NULL, &tv) == 1;
}

static int PR_Send(SOCKET fd, const char *buf, int amount)
{
    int sent = 0;
    while (sent < amount) {
        int n = send(fd, buf + sent, amount - sent, 0);
        if (n > 0) {
            sent += n;
            continue;
        }
        if (n == SOCKET_ERROR && WSAGetLastError() == WSAEWOULDBLOCK && PR_Wait(fd, 1))
            continue;
        return PR_FAILURE;
    }
    return sent;
}

static int PR_Recv(SOCKET fd, char *buf, int amount)
{
    for (;;) {
        int n = recv(fd, buf, amount, 0);
        if (n >= 0)
            return n;
        if (WSAGetLastError() == WSAEWOULDBLOCK && PR_Wait(fd, 0))
            continue;
        return PR_FAILURE;
    }
}

/* ---- a page load */

static int LoadPage(const char *host, int port, char *body, int cap, int *err)
{
    nsSSLSocketInfo info;
    sockaddr_in sin;
    char request[512];
    int got = 0, n, len;

    ZeroMemory(&info, sizeof(info));
    lstrcpynA(info.mHostName, host, sizeof(info.mHostName));
    SOCKET fd = nsSSLIOLayerNewSocket(&info);
    ZeroMemory(&sin, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((u_short)port);
    sin.sin_addr.s_addr = inet_addr(lt_host()); /* TEST: every name resolves to the test server */
    *err = 0;
    if (PR_Connect(fd, (sockaddr *)&sin, sizeof(sin)) != PR_SUCCESS) {
        *err = errno;
        closesocket(fd);
        return -1;
    }
    len = wsprintf(request, "GET /index.html HTTP/1.0\r\nHost: %s\r\n\r\n", host);
    if (PR_Send(fd, request, len) != len) {
        *err = errno;
        closesocket(fd);
        return -1;
    }
    while (got < cap - 1 && (n = PR_Recv(fd, body + got, cap - 1 - got)) > 0)
        got += n;
    body[got] = 0;
    closesocket(fd);
    return info.mHookCalls == 1 ? got : -1;
}

int main()
{
    static char body[65536];
    int n, err;

    lt_watchdog(50); /* TEST: */

    n = LoadPage("localhost", lt_port("T_PORT_HTTPS"), body, sizeof(body), &err);
    CHECK(n > 0 && strstr(body, "HTTP/1.0 200") == body && strstr(body, "sslsock test page"),
          "pattern 12: non-blocking connect, poll, send and recv: the page loads (%d bytes)", n);
    n = LoadPage("www.localtest.example", lt_port("T_PORT_WILDCARD"), body, sizeof(body), &err);
    CHECK(n > 0 && strstr(body, "sslsock test page"), "pattern 12: *.localtest.example matches www.localtest.example");
    n = LoadPage("other.example", lt_port("T_PORT_HTTPS"), body, sizeof(body), &err);
    CHECK(n == -1 && err == ECONNABORTED, "pattern 12: a CN for another host: the load fails with ECONNABORTED (%d)",
          err);
    return lt_finish();
}
