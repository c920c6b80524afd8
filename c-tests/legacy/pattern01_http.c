/*
 * Pattern 1 as written on CE: the HTTP client of an IoT SDK's Windows CE adapter (docs/patterns.md 1).
 *
 * WSAStartup(2.2), insisting on 2.2 back -> socket -> SO_SECURE -> hook (pvArg NULL, out and pcb
 * NULL) -> SO_SSL_SET_PROTOCOLS {SSL_PROTOCOL_TLS1} -> connect (handshake inside) -> the request in
 * several sends -> status line and headers one byte per recv -> body until recv returns 0 ->
 * closesocket -> WSACleanup.  Hook: OKAY iff dwFlags == 0.
 *
 * Port edits: none (only the test scaffolding marked TEST:).
 */
#include <windows.h>
#include <winsock2.h>
#include <sslsock.h>
#include "legacy_test.h"

#define HTTP_OK 0
#define HTTP_ERROR 1

static int CALLBACK tlsio_validate_cert(DWORD dwType, LPVOID pvArg, DWORD dwChainLen, LPBLOB pCertChain,
                                        DWORD dwFlags)
{
    (void)dwType;
    (void)pvArg;
    (void)dwChainLen;
    (void)pCertChain;
    return dwFlags == 0 ? SSL_ERR_OKAY : SSL_ERR_FAILED;
}

typedef struct HTTP_HANDLE_DATA_TAG {
    SOCKET sock;
    char host[256];
    int port;
} HTTP_HANDLE_DATA;

static int http_open(HTTP_HANDLE_DATA *h)
{
    SOCKADDR_IN addr;
    DWORD dwSecure = SO_SEC_SSL;
    SSLVALIDATECERTHOOK hook;
    SSLPROTOCOLS protocols;

    h->sock = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    if (h->sock == INVALID_SOCKET)
        return HTTP_ERROR;
    if (setsockopt(h->sock, SOL_SOCKET, SO_SECURE, (const char *)&dwSecure, sizeof(dwSecure)) == SOCKET_ERROR)
        return HTTP_ERROR;
    hook.HookFunc = tlsio_validate_cert;
    hook.pvArg = NULL;
    if (WSAIoctl(h->sock, SO_SSL_SET_VALIDATE_CERT_HOOK, &hook, sizeof(hook), NULL, 0, NULL, NULL, NULL) ==
        SOCKET_ERROR)
        return HTTP_ERROR;
    protocols.dwCount = 1;
    protocols.ProtocolList[0].dwProtocol = SSL_PROTOCOL_TLS1;
    protocols.ProtocolList[0].dwVersion = 0;
    protocols.ProtocolList[0].dwFlags = 0;
    if (WSAIoctl(h->sock, SO_SSL_SET_PROTOCOLS, &protocols, sizeof(protocols), NULL, 0, NULL, NULL, NULL) ==
        SOCKET_ERROR)
        return HTTP_ERROR;

    ZeroMemory(&addr, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((u_short)h->port);
    addr.sin_addr.s_addr = inet_addr(h->host);
    if (connect(h->sock, (SOCKADDR *)&addr, sizeof(addr)) == SOCKET_ERROR)
        return HTTP_ERROR;
    return HTTP_OK;
}

static int http_send_text(SOCKET s, const char *text)
{
    int len = (int)strlen(text);
    return send(s, text, len, 0) == len ? HTTP_OK : HTTP_ERROR;
}

/* One line, one byte per recv, CR LF stripped. */
static int http_read_line(SOCKET s, char *buf, int cap)
{
    int n = 0;
    char c;
    for (;;) {
        int r = recv(s, &c, 1, 0);
        if (r != 1)
            return -1;
        if (c == '\n')
            break;
        if (c != '\r' && n < cap - 1)
            buf[n++] = c;
    }
    buf[n] = 0;
    return n;
}

/* GET path: returns the status code, the body length in *body_len, the last recv's result in *last. */
static int http_get(HTTP_HANDLE_DATA *h, const char *path, long *body_len, int *last)
{
    char line[1024];
    char buf[4096];
    int status = 0, r;

    if (http_send_text(h->sock, "GET ") != HTTP_OK || http_send_text(h->sock, path) != HTTP_OK ||
        http_send_text(h->sock, " HTTP/1.0\r\n") != HTTP_OK || http_send_text(h->sock, "Host: ") != HTTP_OK ||
        http_send_text(h->sock, h->host) != HTTP_OK || http_send_text(h->sock, "\r\n\r\n") != HTTP_OK)
        return -1;
    if (http_read_line(h->sock, line, sizeof(line)) < 0 || sscanf(line, "HTTP/%*d.%*d %d", &status) != 1)
        return -1;
    while ((r = http_read_line(h->sock, line, sizeof(line))) > 0)
        ;
    if (r < 0)
        return -1;
    *body_len = 0;
    while ((r = recv(h->sock, buf, sizeof(buf), 0)) > 0)
        *body_len += r;
    *last = r;
    return status;
}

int main(void)
{
    WSADATA wsaData;
    HTTP_HANDLE_DATA h;
    long body = 0;
    int last = -1, status, err;

    lt_watchdog(50); /* TEST: */

    err = WSAStartup(MAKEWORD(2, 2), &wsaData);
    CHECK(err == 0 && LOBYTE(wsaData.wVersion) == 2 && HIBYTE(wsaData.wVersion) == 2,
          "pattern 1: WSAStartup(2.2) gives 2.2 (err %d, 0x%x)", err, wsaData.wVersion);

    /* A trusted server: the handshake happens inside connect. */
    ZeroMemory(&h, sizeof(h));
    lstrcpynA(h.host, lt_host(), sizeof(h.host)); /* TEST: the server's address */
    h.port = lt_port("T_PORT_HTTPS");             /* TEST: */
    CHECK(http_open(&h) == HTTP_OK, "pattern 1: trusted server: connect succeeds");
    status = http_get(&h, "/big.bin", &body, &last);
    CHECK(status == 200, "pattern 1: status 200 read one byte per recv (got %d)", status);
    CHECK(body == 1024 * 1024 && last == 0, "pattern 1: 1 MiB body until recv returns 0 (%ld bytes, last %d)",
          body, last);
    CHECK(closesocket(h.sock) == 0, "pattern 1: closesocket");

    /* An untrusted server: connect fails, the hook having seen ISSUER_UNKNOWN. */
    h.port = lt_port("T_PORT_UNTRUSTED"); /* TEST: */
    CHECK(http_open(&h) == HTTP_ERROR && WSAGetLastError() == WSAECONNABORTED,
          "pattern 1: untrusted server: connect fails with WSAECONNABORTED");
    CHECK(strstr(lt_reason(), "hook") != NULL, "pattern 1: the reason names the hook's verdict: %s",
          lt_reason());
    closesocket(h.sock);

    CHECK(WSACleanup() == 0, "pattern 1: WSACleanup");
    return lt_finish();
}
