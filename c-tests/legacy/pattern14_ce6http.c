/*
 * Pattern 14 as written on CE: a recent CE 6 HTTP client (docs/patterns.md 14).
 *
 * SO_RCVTIMEO / SO_SNDTIMEO as int milliseconds -> SO_RCVBUF 65536, SO_SNDBUF 32768 -> SO_SECURE ->
 * DEFER (a non-deferred connect failed on its device) -> SO_SSL_SET_PROTOCOLS {TLS1} -> hook(NULL)
 * that accepts everything, every WSAIoctl with a non-NULL pcb -> connect ->
 * SO_SSL_PERFORM_HANDSHAKE(NULL, 0, NULL, 0, &cb) -> a send-all loop -> recv until 0.
 *
 * Port edits: none (only the test scaffolding marked TEST:).
 */
#include <windows.h>
#include <tchar.h>
#include <winsock2.h>
#include <sslsock.h>
#include "legacy_test.h"

#define HTTP_TIMEOUT_MS 500

static int CALLBACK AcceptAllCertificates(DWORD dwType, LPVOID pvArg, DWORD dwChainLen, LPBLOB pCertChain,
                                          DWORD dwFlags)
{
    UNREFERENCED_PARAMETER(dwType);
    UNREFERENCED_PARAMETER(pvArg);
    UNREFERENCED_PARAMETER(dwChainLen);
    UNREFERENCED_PARAMETER(pCertChain);
    UNREFERENCED_PARAMETER(dwFlags);
    return SSL_ERR_OKAY;
}

static SOCKET HttpsOpen(LPCSTR pszAddress, int nPort, int *pnError)
{
    SOCKET s;
    int timeout = HTTP_TIMEOUT_MS, rcvbuf = 65536, sndbuf = 32768;
    DWORD dwSecure = SO_SEC_SSL, dwFlags = SSL_FLAG_DEFER_HANDSHAKE, cb = 0;
    SSLPROTOCOLS protocols;
    SSLVALIDATECERTHOOK hook;
    SOCKADDR_IN sin;

    *pnError = 0;
    s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    if (s == INVALID_SOCKET)
        goto fail;
    if (setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, (char *)&timeout, sizeof(timeout)) ||
        setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, (char *)&timeout, sizeof(timeout)) ||
        setsockopt(s, SOL_SOCKET, SO_RCVBUF, (char *)&rcvbuf, sizeof(rcvbuf)) ||
        setsockopt(s, SOL_SOCKET, SO_SNDBUF, (char *)&sndbuf, sizeof(sndbuf)) ||
        setsockopt(s, SOL_SOCKET, SO_SECURE, (char *)&dwSecure, sizeof(dwSecure)))
        goto fail;
    if (WSAIoctl(s, SO_SSL_SET_FLAGS, &dwFlags, sizeof(dwFlags), NULL, 0, &cb, NULL, NULL))
        goto fail;
    protocols.dwCount = 1;
    protocols.ProtocolList[0].dwProtocol = SSL_PROTOCOL_TLS1;
    protocols.ProtocolList[0].dwVersion = 0;
    protocols.ProtocolList[0].dwFlags = 0;
    if (WSAIoctl(s, SO_SSL_SET_PROTOCOLS, &protocols, sizeof(protocols), NULL, 0, &cb, NULL, NULL))
        goto fail;
    hook.HookFunc = AcceptAllCertificates;
    hook.pvArg = NULL;
    if (WSAIoctl(s, SO_SSL_SET_VALIDATE_CERT_HOOK, &hook, sizeof(hook), NULL, 0, &cb, NULL, NULL))
        goto fail;
    ZeroMemory(&sin, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((u_short)nPort);
    sin.sin_addr.s_addr = inet_addr(pszAddress);
    if (connect(s, (SOCKADDR *)&sin, sizeof(sin)))
        goto fail;
    if (WSAIoctl(s, SO_SSL_PERFORM_HANDSHAKE, NULL, 0, NULL, 0, &cb, NULL, NULL))
        goto fail;
    return s;
fail:
    *pnError = WSAGetLastError();
    if (s != INVALID_SOCKET)
        closesocket(s);
    return INVALID_SOCKET;
}

static BOOL SendAll(SOCKET s, const char *p, int len)
{
    while (len > 0) {
        int n = send(s, p, len, 0);
        if (n == SOCKET_ERROR)
            return FALSE;
        p += n;
        len -= n;
    }
    return TRUE;
}

int main(void)
{
    static char buf[16384];
    static const char request[] = "GET /big.bin HTTP/1.0\r\nUser-Agent: CE6\r\n\r\n";
    SOCKET s;
    long total = 0;
    int n, err;
    DWORD t0;

    lt_watchdog(50); /* TEST: */

    s = HttpsOpen(lt_host(), lt_port("T_PORT_HTTPS"), &err); /* TEST: address, port */
    CHECK(s != INVALID_SOCKET, "pattern 14: millisecond timeouts, buffers, deferred connect and handshake (%d)", err);
    CHECK(SendAll(s, request, sizeof(request) - 1), "pattern 14: request sent in a send-all loop");
    while ((n = recv(s, buf, sizeof(buf), 0)) > 0)
        total += n;
    CHECK(n == 0 && total > 1024 * 1024, "pattern 14: response until recv returns 0 (%ld bytes)", total);
    closesocket(s);

    /* A server that accepts and never answers: the handshake ends after the 500 ms receive timeout. */
    t0 = GetTickCount();
    s = HttpsOpen(lt_host(), lt_port("T_PORT_STALL"), &err); /* TEST: */
    CHECK(s == INVALID_SOCKET && err == WSAETIMEDOUT && GetTickCount() - t0 < 3000,
          "pattern 14: a silent server: WSAETIMEDOUT after %u ms", (unsigned)(GetTickCount() - t0));
    return lt_finish();
}
