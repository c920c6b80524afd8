/*
 * Pattern 2 as written on CE: an AMQP client's secure transport (.NET Compact Framework; docs/patterns.md 2),
 * transliterated to the C it P/Invokes into.
 *
 * SO_SECURE; the hook given as a raw {fn, host} buffer; every send under one lock and every receive
 * under another; a receive thread polls readability forever, then receives.  Hook: BAD_TYPE unless
 * X509, CERT_UNKNOWN on ISSUER_UNKNOWN, reads the certificate, checks its dates and "CN=host".
 *
 * The framework's X509Certificate is read here with CE's own SslCrackCertificate (<schnlsp.h>).
 *
 * Port edits (PORT: below):
 *   1. the hook buffer was built with 4-byte pointers ({fn, host} in 8 bytes): now 2 * sizeof(void *).
 */
#include <windows.h>
#include <winsock2.h>
#include <schnlsp.h>
#include "legacy_test.h"

#define FRAMES 50

typedef struct _AMQP_TRANSPORT {
    SOCKET s;
    CRITICAL_SECTION csSend;
    CRITICAL_SECTION csReceive;
    char rx[65536];
    int rxLen;
    int lastRecv;
    int lastError;
} AMQP_TRANSPORT;

static int CALLBACK AmqpCertificateHook(DWORD dwType, LPVOID pvArg, DWORD dwChainLen, LPBLOB pCertChain,
                                        DWORD dwFlags)
{
    LPCSTR host = (LPCSTR)pvArg;
    PX509Certificate pCert = NULL;
    FILETIME now;
    char expected[300];
    const char *cn;
    int verdict = SSL_ERR_OKAY;

    if (dwType != SSL_CERT_X509)
        return SSL_ERR_BAD_TYPE;
    if (dwFlags & SSL_CERT_FLAG_ISSUER_UNKNOWN)
        return SSL_ERR_CERT_UNKNOWN;
    if (dwChainLen < 1 || !SslCrackCertificate(pCertChain[0].pBlobData, pCertChain[0].cbSize, 0, &pCert))
        return SSL_ERR_BAD_DATA;
    GetSystemTimeAsFileTime(&now);
    if (CompareFileTime(&now, &pCert->ValidFrom) < 0 || CompareFileTime(&now, &pCert->ValidUntil) > 0)
        verdict = SSL_ERR_CERT_EXPIRED;
    wsprintf(expected, "CN=%s", host);
    cn = strstr(pCert->pszSubject, "CN=");
    if (verdict == SSL_ERR_OKAY && (!cn || lstrcmpi(cn, expected) != 0))
        verdict = SSL_ERR_CERT_UNKNOWN;
    SslFreeCertificate(pCert);
    return verdict;
}

static SOCKET AmqpOpen(LPCSTR host, LPCSTR address, int port)
{
    SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    DWORD secure = SO_SEC_SSL, bytes = 0;
    SSLVALIDATECERTFUNC fn = AmqpCertificateHook;
    /* PORT: was BYTE inBuf[8] with the two pointers at offsets 0 and 4 */
    BYTE inBuf[2 * sizeof(void *)];
    SOCKADDR_IN sin;

    if (s == INVALID_SOCKET)
        return INVALID_SOCKET;
    if (setsockopt(s, SOL_SOCKET, SO_SECURE, (const char *)&secure, sizeof(secure)) == SOCKET_ERROR)
        return s;
    CopyMemory(inBuf, &fn, sizeof(void *));
    CopyMemory(inBuf + sizeof(void *), &host, sizeof(void *)); /* PORT: offset was 4 */
    if (WSAIoctl(s, SO_SSL_SET_VALIDATE_CERT_HOOK, inBuf, sizeof(inBuf), NULL, 0, &bytes, NULL, NULL) ==
        SOCKET_ERROR)
        return s;
    ZeroMemory(&sin, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((u_short)port);
    sin.sin_addr.s_addr = inet_addr(address);
    connect(s, (SOCKADDR *)&sin, sizeof(sin));
    return s;
}

static int AmqpSend(AMQP_TRANSPORT *t, const char *data, int len)
{
    int n;
    EnterCriticalSection(&t->csSend);
    n = send(t->s, data, len, 0);
    LeaveCriticalSection(&t->csSend);
    return n == len ? 0 : -1;
}

/* Socket.Poll(-1, SelectRead), then Receive, until the connection ends. */
static DWORD WINAPI AmqpReceiveThread(LPVOID lpParameter)
{
    AMQP_TRANSPORT *t = (AMQP_TRANSPORT *)lpParameter;
    for (;;) {
        fd_set readSet;
        int n;
        FD_ZERO(&readSet);
        FD_SET(t->s, &readSet);
        if (select(0, &readSet, NULL, NULL, NULL) == SOCKET_ERROR) {
            t->lastRecv = SOCKET_ERROR;
            t->lastError = WSAGetLastError();
            return 1;
        }
        EnterCriticalSection(&t->csReceive);
        n = recv(t->s, t->rx + t->rxLen, (int)sizeof(t->rx) - t->rxLen, 0);
        if (n > 0)
            t->rxLen += n;
        LeaveCriticalSection(&t->csReceive);
        if (n <= 0) {
            t->lastRecv = n;
            t->lastError = n < 0 ? WSAGetLastError() : 0;
            return 0;
        }
    }
}

int main(void)
{
    static AMQP_TRANSPORT t;
    static char expect[65536];
    char frame[128];
    int i, ok, err, elen = 0;
    HANDLE hThread;

    lt_watchdog(50); /* TEST: */

    ZeroMemory(&t, sizeof(t));
    InitializeCriticalSection(&t.csSend);
    InitializeCriticalSection(&t.csReceive);
    t.s = AmqpOpen("localhost", lt_host(), lt_port("T_PORT_STARTTLS")); /* TEST: address and port */
    CHECK(t.s != INVALID_SOCKET && WSAGetLastError() == 0, "pattern 2: connect with the {fn, host} hook buffer");

    hThread = CreateThread(NULL, 0, AmqpReceiveThread, &t, 0, NULL);
    CHECK(hThread != NULL, "pattern 2: receive thread started");
    ok = 1;
    for (i = 0; i < FRAMES && ok; i++) {
        int n = wsprintf(frame, "ECHO frame %d basic.publish\r\n", i);
        ok = AmqpSend(&t, frame, n) == 0;
        elen += wsprintf(expect + elen, "frame %d basic.publish\r\n", i);
    }
    CHECK(ok, "pattern 2: %d frames sent under the send lock while the receiver polls", FRAMES);
    CHECK(AmqpSend(&t, "QUIT\r\n", 6) == 0, "pattern 2: QUIT");
    elen += wsprintf(expect + elen, "BYE\r\n");
    WaitForSingleObject(hThread, INFINITE);
    CloseHandle(hThread);
    CHECK(t.lastRecv == 0, "pattern 2: the receiver ended on recv returning 0 (rc %d, error %d)", t.lastRecv,
          t.lastError);
    CHECK(t.rxLen == elen && memcmp(t.rx, expect, (size_t)elen) == 0, "pattern 2: every frame echoed (%d of %d bytes)",
          t.rxLen, elen);
    closesocket(t.s);

    /* A trusted certificate for another name: the hook's own "CN=host" check refuses it. */
    WSASetLastError(0);
    t.s = AmqpOpen("localhost", lt_host(), lt_port("T_PORT_WRONGNAME")); /* TEST: */
    err = WSAGetLastError();
    CHECK(err == WSAECONNABORTED, "pattern 2: wrong CN: connect fails with WSAECONNABORTED (got %d)", err);
    CHECK(strstr(lt_reason(), "SSL_ERR_CERT_UNKNOWN") != NULL,
          "pattern 2: wrong CN: the reason names the verdict: %s", lt_reason());
    closesocket(t.s);

    DeleteCriticalSection(&t.csSend);
    DeleteCriticalSection(&t.csReceive);
    return lt_finish();
}
