/*
 * Pattern 3 as written on CE: PocketHTTP's secure connection through a proxy (docs/patterns.md 3).
 *
 * SO_SECURE -> hook(server name) with a 16-byte out buffer and a pcb -> DEFER (16-byte out buffer
 * too) -> connect -> proxy CONNECT in plaintext (select for write with a timeout, send; select for
 * read, recv up to the blank line) -> SO_SSL_PERFORM_HANDSHAKE(name, strlen+1) -> sends looped on
 * partial writes after select-for-write -> the response is received on a worker thread while the
 * caller waits with a timeout; on timeout the caller closes the socket from its own thread and
 * expects the worker's blocked recv to end.
 *
 * Port edits: none (CreateThread, CreateEvent, SetEvent, WaitForSingleObject and CloseHandle come from
 * the compat <windows.h>).
 */
#include <windows.h>
#include <winsock2.h>
#include <sslsock.h>
#include "legacy_test.h"

#define PH_TIMEOUT_MS 10000

typedef struct _CPocketHTTPRequest {
    SOCKET s;
    char szServer[256];
    HANDLE hDone;
    char response[512];
    int nResult;
    int nError;
} CPocketHTTPRequest;

static int CALLBACK PocketCertHook(DWORD dwType, LPVOID pvArg, DWORD dwChainLen, LPBLOB pCertChain, DWORD dwFlags)
{
    (void)pvArg; /* the server name, for the "certificate problem" dialog */
    (void)pCertChain;
    if (dwType != SSL_CERT_X509 || dwChainLen == 0)
        return SSL_ERR_BAD_TYPE;
    return (dwFlags & SSL_CERT_FLAG_ISSUER_UNKNOWN) ? SSL_ERR_CERT_UNKNOWN : SSL_ERR_OKAY;
}

static BOOL PocketWaitWritable(SOCKET s, long sec)
{
    fd_set w;
    struct timeval tv;
    FD_ZERO(&w);
    FD_SET(s, &w);
    tv.tv_sec = sec;
    tv.tv_usec = 0;
    return select(0, NULL, &w, NULL, &tv) == 1;
}

static BOOL PocketWaitReadable(SOCKET s, long sec)
{
    fd_set r;
    struct timeval tv;
    FD_ZERO(&r);
    FD_SET(s, &r);
    tv.tv_sec = sec;
    tv.tv_usec = 0;
    return select(0, &r, NULL, NULL, &tv) == 1;
}

static BOOL PocketSend(SOCKET s, const char *p, int len)
{
    while (len > 0) {
        int n;
        if (!PocketWaitWritable(s, 10))
            return FALSE;
        n = send(s, p, len, 0);
        if (n == SOCKET_ERROR || n == 0)
            return FALSE;
        p += n;
        len -= n;
    }
    return TRUE;
}

static SOCKET PocketOpenSecure(CPocketHTTPRequest *req, int proxyPort)
{
    SOCKET s = socket(AF_INET, SOCK_STREAM, 0);
    DWORD dwSecure = SO_SEC_SSL, dwFlags = SSL_FLAG_DEFER_HANDSHAKE, cb = 0;
    BYTE out[16];
    SSLVALIDATECERTHOOK hook;
    SOCKADDR_IN sin;

    setsockopt(s, SOL_SOCKET, SO_SECURE, (const char *)&dwSecure, sizeof(dwSecure));
    hook.HookFunc = PocketCertHook;
    hook.pvArg = req->szServer;
    WSAIoctl(s, SO_SSL_SET_VALIDATE_CERT_HOOK, &hook, sizeof(hook), out, sizeof(out), &cb, NULL, NULL);
    WSAIoctl(s, SO_SSL_SET_FLAGS, &dwFlags, sizeof(dwFlags), out, sizeof(out), &cb, NULL, NULL);
    ZeroMemory(&sin, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((u_short)proxyPort);
    sin.sin_addr.s_addr = inet_addr(lt_host()); /* TEST: the proxy's address */
    if (connect(s, (SOCKADDR *)&sin, sizeof(sin)) == SOCKET_ERROR) {
        closesocket(s);
        return INVALID_SOCKET;
    }
    return s;
}

/* CONNECT host:443 through the proxy, in plaintext; TRUE on "200" and the blank line. */
static BOOL PocketProxyConnect(SOCKET s, LPCSTR server)
{
    char buf[1024];
    int len = wsprintf(buf, "CONNECT %s:443 HTTP/1.0\r\nHost: %s:443\r\n\r\n", server, server);
    int got = 0;
    if (!PocketSend(s, buf, len))
        return FALSE;
    while (got < (int)sizeof(buf) - 1) {
        int n;
        if (!PocketWaitReadable(s, 10))
            return FALSE;
        n = recv(s, buf + got, 1, 0);
        if (n != 1)
            return FALSE;
        got++;
        buf[got] = 0;
        if (got >= 4 && strcmp(buf + got - 4, "\r\n\r\n") == 0)
            break;
    }
    /* the test server greets first ("220 ...") when the client was slow: skip to the status line */
    return strstr(buf, "HTTP/1.1 200") != NULL || strstr(buf, "HTTP/1.0 200") != NULL;
}

static DWORD WINAPI PocketReceiveThread(LPVOID lpParameter)
{
    CPocketHTTPRequest *req = (CPocketHTTPRequest *)lpParameter;
    int got = 0;
    req->nResult = 0;
    req->nError = 0;
    for (;;) {
        int n = recv(req->s, req->response + got, (int)sizeof(req->response) - 1 - got, 0);
        if (n <= 0) {
            req->nResult = n;
            req->nError = n < 0 ? WSAGetLastError() : 0;
            break;
        }
        got += n;
        req->response[got] = 0;
        if (strstr(req->response, "\r\n")) {
            req->nResult = got;
            break;
        }
    }
    SetEvent(req->hDone);
    return 0;
}

int main(void)
{
    static CPocketHTTPRequest req;
    DWORD cb = 0, wait;
    HANDLE th;
    int rc, port;
    DWORD t0;

    lt_watchdog(50);                    /* TEST: */
    port = lt_port("T_PORT_STARTTLS"); /* TEST: the proxy (the test server answers CONNECT) */

    ZeroMemory(&req, sizeof(req));
    req.hDone = CreateEvent(NULL, FALSE, FALSE, NULL);
    lstrcpy(req.szServer, "localhost");
    req.s = PocketOpenSecure(&req, port);
    CHECK(req.s != INVALID_SOCKET, "pattern 3: connect to the proxy (deferred handshake)");
    CHECK(PocketProxyConnect(req.s, req.szServer), "pattern 3: CONNECT answered 200 in plaintext");
    rc = WSAIoctl(req.s, SO_SSL_PERFORM_HANDSHAKE, req.szServer, (DWORD)lstrlen(req.szServer) + 1, NULL, 0, &cb,
                  NULL, NULL);
    CHECK(rc == 0, "pattern 3: SO_SSL_PERFORM_HANDSHAKE(name, strlen+1)");

    th = CreateThread(NULL, 0, PocketReceiveThread, &req, 0, NULL);
    CHECK(PocketSend(req.s, "ECHO pockethttp\r\n", 17), "pattern 3: request sent in a select-for-write loop");
    wait = WaitForSingleObject(req.hDone, PH_TIMEOUT_MS);
    WaitForSingleObject(th, INFINITE);
    CloseHandle(th);
    CHECK(wait == WAIT_OBJECT_0 && strcmp(req.response, "pockethttp\r\n") == 0,
          "pattern 3: the worker received the response while the caller waited");

    /* The server goes silent: the caller's wait times out and it closes the socket under the worker. */
    CHECK(PocketSend(req.s, "STALL\r\n", 7), "pattern 3: STALL sent");
    th = CreateThread(NULL, 0, PocketReceiveThread, &req, 0, NULL);
    wait = WaitForSingleObject(req.hDone, PH_TIMEOUT_MS);
    CHECK(wait == WAIT_OBJECT_0 && strcmp(req.response, "STALL OK\r\n") == 0, "pattern 3: STALL OK");
    WaitForSingleObject(th, INFINITE);
    CloseHandle(th);
    ZeroMemory(req.response, sizeof(req.response));
    th = CreateThread(NULL, 0, PocketReceiveThread, &req, 0, NULL);
    wait = WaitForSingleObject(req.hDone, 1000);
    CHECK(wait == WAIT_TIMEOUT, "pattern 3: the wait for the worker times out");
    t0 = GetTickCount();
    CHECK(closesocket(req.s) == 0, "pattern 3: closesocket from the caller's thread");
    wait = WaitForSingleObject(req.hDone, 3000);
    WaitForSingleObject(th, INFINITE);
    CloseHandle(th);
    CHECK(wait == WAIT_OBJECT_0 && req.nResult == SOCKET_ERROR && req.nError == WSAEINTR,
          "pattern 3: the worker's recv ended with WSAEINTR after %u ms (rc %d, error %d)",
          (unsigned)(GetTickCount() - t0), req.nResult, req.nError);

    /* A name the certificate does not carry: the handshake fails, the socket only fails from then on. */
    lstrcpy(req.szServer, "other.example");
    req.s = PocketOpenSecure(&req, port);
    CHECK(PocketProxyConnect(req.s, req.szServer), "pattern 3: other name: CONNECT in plaintext");
    rc = WSAIoctl(req.s, SO_SSL_PERFORM_HANDSHAKE, req.szServer, (DWORD)lstrlen(req.szServer) + 1, NULL, 0, &cb,
                  NULL, NULL);
    CHECK(rc == SOCKET_ERROR && WSAGetLastError() == WSAECONNABORTED,
          "pattern 3: other name: the handshake fails with WSAECONNABORTED");
    CHECK(send(req.s, "x", 1, 0) == SOCKET_ERROR, "pattern 3: other name: a later send fails");
    closesocket(req.s);
    CloseHandle(req.hDone);
    return lt_finish();
}
