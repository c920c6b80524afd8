/*
 * Pattern 8 as written on CE: the MoSync runtime's secure connection (C++; docs/patterns.md 8).
 *
 * socket -> get/set TCP_NODELAY -> SO_SECURE -> hook -> SO_SSL_SET_PEERNAME(host, strlen+1) ->
 * connect (handshake inside) -> send must return exactly len -> recv 0 = closed -> shutdown(2) +
 * closesocket.  Hook: dwChainLen must be 1, CERT_UNKNOWN on ISSUER_UNKNOWN, CERT_EXPIRED outside
 * the certificate's dates.  A name mismatch must fail connect.
 *
 * Port edits (PORT: below):
 *   1. getsockopt's length was an int: socklen_t (g++ refuses int * for socklen_t *; gcc warns).
 */
#include <windows.h>
#include <winsock2.h>
#include <sslsock.h>
#include <schnlsp.h>
#include "legacy_test.h"

#define CONNERR_GENERIC -2
#define CONNERR_SSL -13

class SslConnection {
public:
    explicit SslConnection(const char *host) : mSock(INVALID_SOCKET), mHookCalls(0)
    {
        lstrcpynA(mHost, host, sizeof(mHost));
    }
    ~SslConnection() { close(); }

    int connect(const char *address, int port);
    int write(const void *src, int len);
    int read(void *dst, int max);
    void close();

    SOCKET mSock;
    int mHookCalls;

private:
    char mHost[256];
    static int CALLBACK verify(DWORD dwType, LPVOID pvArg, DWORD dwChainLen, LPBLOB pCertChain, DWORD dwFlags);
};

int CALLBACK SslConnection::verify(DWORD dwType, LPVOID pvArg, DWORD dwChainLen, LPBLOB pCertChain, DWORD dwFlags)
{
    SslConnection *conn = (SslConnection *)pvArg;
    PX509Certificate cert = NULL;
    SYSTEMTIME st;
    FILETIME now;
    int result = SSL_ERR_OKAY;

    conn->mHookCalls++;
    if (dwChainLen != 1 || dwType != SSL_CERT_X509)
        return SSL_ERR_BAD_DATA;
    if (dwFlags & SSL_CERT_FLAG_ISSUER_UNKNOWN)
        return SSL_ERR_CERT_UNKNOWN;
    if (!SslCrackCertificate(pCertChain->pBlobData, pCertChain->cbSize, 0, &cert))
        return SSL_ERR_BAD_DATA;
    GetSystemTime(&st);
    SystemTimeToFileTime(&st, &now);
    if (CompareFileTime(&now, &cert->ValidFrom) < 0 || CompareFileTime(&now, &cert->ValidUntil) > 0)
        result = SSL_ERR_CERT_EXPIRED;
    SslFreeCertificate(cert);
    return result;
}

int SslConnection::connect(const char *address, int port)
{
    DWORD secure = SO_SEC_SSL;
    SSLVALIDATECERTHOOK hook;
    sockaddr_in sin;
    BOOL nodelay = FALSE;
    socklen_t len = sizeof(nodelay); /* PORT: was int len */

    mSock = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    if (mSock == INVALID_SOCKET)
        return CONNERR_GENERIC;
    if (getsockopt(mSock, IPPROTO_TCP, TCP_NODELAY, (char *)&nodelay, &len) == SOCKET_ERROR || nodelay)
        return CONNERR_GENERIC;
    nodelay = TRUE;
    if (setsockopt(mSock, IPPROTO_TCP, TCP_NODELAY, (const char *)&nodelay, sizeof(nodelay)) == SOCKET_ERROR)
        return CONNERR_GENERIC;
    if (setsockopt(mSock, SOL_SOCKET, SO_SECURE, (const char *)&secure, sizeof(secure)) == SOCKET_ERROR)
        return CONNERR_SSL;
    hook.HookFunc = verify;
    hook.pvArg = this;
    if (WSAIoctl(mSock, SO_SSL_SET_VALIDATE_CERT_HOOK, &hook, sizeof(hook), NULL, 0, NULL, NULL, NULL) ==
        SOCKET_ERROR)
        return CONNERR_SSL;
    if (WSAIoctl(mSock, SO_SSL_SET_PEERNAME, mHost, lstrlenA(mHost) + 1, NULL, 0, NULL, NULL, NULL) ==
        SOCKET_ERROR)
        return CONNERR_SSL;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((u_short)port);
    sin.sin_addr.s_addr = inet_addr(address);
    if (::connect(mSock, (sockaddr *)&sin, sizeof(sin)) == SOCKET_ERROR)
        return WSAGetLastError() == WSAECONNABORTED ? CONNERR_SSL : CONNERR_GENERIC;
    return 1;
}

int SslConnection::write(const void *src, int len)
{
    int res = send(mSock, (const char *)src, len, 0);
    return res == len ? 1 : CONNERR_GENERIC;
}

int SslConnection::read(void *dst, int max)
{
    int res = recv(mSock, (char *)dst, max, 0);
    if (res == 0)
        return 0; /* closed */
    return res > 0 ? res : CONNERR_GENERIC;
}

void SslConnection::close()
{
    if (mSock != INVALID_SOCKET) {
        shutdown(mSock, 2);
        closesocket(mSock);
        mSock = INVALID_SOCKET;
    }
}

int main()
{
    static const char request[] = "GET /big.bin HTTP/1.0\r\n\r\n";
    static char buf[65536];
    long total = 0;
    int res;

    lt_watchdog(50); /* TEST: */
    {
        SslConnection conn("localhost");
        CHECK(conn.connect(lt_host(), lt_port("T_PORT_HTTPS")) == 1 && conn.mHookCalls == 1,
              "pattern 8: connect with SET_PEERNAME(host, strlen+1): handshake inside, hook once");
        CHECK(conn.write(request, sizeof(request) - 1) == 1, "pattern 8: send returns exactly len");
        while ((res = conn.read(buf, sizeof(buf))) > 0)
            total += res;
        CHECK(res == 0 && total > 1024 * 1024, "pattern 8: recv until 0 = closed (%ld bytes, last %d)", total, res);
    }
    {
        SslConnection conn("localhost");
        res = conn.connect(lt_host(), lt_port("T_PORT_WRONGNAME"));
        CHECK(res == CONNERR_SSL && strstr(lt_reason(), "SSL_ERR_CERT_UNKNOWN") != NULL,
              "pattern 8: name mismatch: connect fails, the hook saw ISSUER_UNKNOWN: %s",
              lt_reason());
    }
    {
        SslConnection conn("localhost");
        res = conn.connect(lt_host(), lt_port("T_PORT_EXPIRED"));
        CHECK(res == CONNERR_SSL, "pattern 8: expired certificate: connect fails");
    }
    return lt_finish();
}
