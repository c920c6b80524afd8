/*
 * Pattern 1 - HTTP client (Azure IoT C SDK's Windows CE socket adapter).
 *
 * WSAStartup(2.2), insists on 2.2 back -> socket -> SO_SECURE -> hook(NULL)
 * with out and pcbReturned NULL -> SET_PROTOCOLS {SSL_PROTOCOL_TLS1,0,0} ->
 * connect (handshake inside) -> sends -> status line and headers one byte per
 * recv -> body until recv returns 0 -> closesocket -> WSACleanup.
 * Hook: SSL_ERR_OKAY iff dwFlags == 0. A trusted server works, an untrusted
 * one fails connect.
 */
#include <winsock2.h>
#include <sslsock.h>
#include "common.h"

static struct hook_record g_rec;

/* The adapter's hook: accept exactly when the library saw nothing wrong. */
static int CALLBACK azure_validate_cert(DWORD dwType, LPVOID pvArg, DWORD dwChainLen,
                                        LPBLOB pCertChain, DWORD dwFlags)
{
    hook_note(&g_rec, dwType, pvArg, dwChainLen, pCertChain, dwFlags);
    if (dwFlags != 0)
        return SSL_ERR_CERT_UNKNOWN;
    return SSL_ERR_OKAY;
}

/* The adapter's socket setup, exactly as it calls the API. */
static SOCKET azure_open(const char *what)
{
    SOCKET sock;
    DWORD secure = SO_SEC_SSL;
    SSLVALIDATECERTHOOK hook;
    SSLPROTOCOLS protocols;
    int rc;

    sock = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    CHECK(sock != INVALID_SOCKET, "%s: socket()", what);

    rc = setsockopt(sock, SOL_SOCKET, SO_SECURE, (const char *)&secure, sizeof(secure));
    CHECK(rc == 0, "%s: setsockopt(SO_SECURE, SO_SEC_SSL)", what);

    hook.HookFunc = azure_validate_cert;
    hook.pvArg = NULL;
    rc = WSAIoctl(sock, SO_SSL_SET_VALIDATE_CERT_HOOK, &hook, sizeof(hook), NULL, 0, NULL, NULL, NULL);
    CHECK(rc == 0, "%s: WSAIoctl(SET_VALIDATE_CERT_HOOK) with NULL out and NULL pcbReturned", what);

    memset(&protocols, 0, sizeof(protocols));
    protocols.dwCount = 1;
    protocols.ProtocolList[0].dwProtocol = SSL_PROTOCOL_TLS1;
    protocols.ProtocolList[0].dwVersion = 0;
    protocols.ProtocolList[0].dwFlags = 0;
    rc = WSAIoctl(sock, SO_SSL_SET_PROTOCOLS, &protocols, sizeof(protocols), NULL, 0, NULL, NULL, NULL);
    CHECK(rc == 0, "%s: WSAIoctl(SET_PROTOCOLS, one entry {SSL_PROTOCOL_TLS1,0,0})", what);
    return sock;
}

int main(void)
{
    WSADATA wsaData;
    SOCKADDR_IN addr;
    SOCKET sock;
    int rc, err;
    size_t good_len, untrusted_len;
    unsigned char *good = read_pki("good.der", &good_len);
    unsigned char *untrusted = read_pki("untrusted.der", &untrusted_len);
    char c;

    start_watchdog(55);

    rc = WSAStartup(MAKEWORD(2, 2), &wsaData);
    CHECK(rc == 0, "WSAStartup(2.2) returns 0 (got %d)", rc);
    CHECK(LOBYTE(wsaData.wVersion) == 2 && HIBYTE(wsaData.wVersion) == 2,
          "WSAStartup gives version 2.2 back (got 0x%04x)", (unsigned)wsaData.wVersion);

    /* 1. trusted server: the whole GET works */
    hook_reset(&g_rec, 0);
    sock = azure_open("trusted");
    connect_addr(&addr, env_port("T_PORT_HTTPS"));
    rc = connect(sock, (SOCKADDR *)&addr, sizeof(addr));
    CHECK(rc == 0, "trusted: connect returns 0 (handshake inside connect)");
    check_hook(&g_rec, 1, 0, NULL, good, good_len, "trusted");
    check_http_big(sock, 1024, "trusted");
    CHECK(closesocket(sock) == 0, "trusted: closesocket");

    /* 2. untrusted server: connect fails, the socket stays failed */
    hook_reset(&g_rec, 0);
    sock = azure_open("untrusted");
    connect_addr(&addr, env_port("T_PORT_UNTRUSTED"));
    rc = connect(sock, (SOCKADDR *)&addr, sizeof(addr));
    err = WSAGetLastError();
    CHECK(rc == SOCKET_ERROR, "untrusted: connect returns SOCKET_ERROR (got %d)", rc);
    CHECK(err == WSAECONNABORTED, "untrusted: WSAGetLastError() == WSAECONNABORTED (got %d)", err);
    check_hook(&g_rec, 1, SSL_CERT_FLAG_ISSUER_UNKNOWN, NULL, untrusted, untrusted_len, "untrusted");
    rc = send(sock, "GET / HTTP/1.0\r\n\r\n", 18, 0);
    CHECK(rc == SOCKET_ERROR, "untrusted: a later send fails (got %d)", rc);
    rc = recv(sock, &c, 1, 0);
    CHECK(rc == SOCKET_ERROR, "untrusted: a later recv fails (got %d)", rc);
    CHECK(closesocket(sock) == 0, "untrusted: closesocket");

    /* 3. several sends for one request, answer read one byte per recv
     *    (the STARTTLS test server in immediate mode: first byte 0x16) */
    hook_reset(&g_rec, 0);
    sock = azure_open("several sends");
    connect_addr(&addr, env_port("T_PORT_STARTTLS"));
    rc = connect(sock, (SOCKADDR *)&addr, sizeof(addr));
    CHECK(rc == 0, "several sends: connect returns 0");
    check_hook(&g_rec, 1, 0, NULL, good, good_len, "several sends");
    {
        static const char *parts[] = {"EC", "HO several", " sends in", " one line", "\r\n"};
        char line[256];
        size_t i;
        int all = 1;
        for (i = 0; i < sizeof parts / sizeof parts[0]; i++)
            all &= send(sock, parts[i], strlen(parts[i]), 0) == (int)strlen(parts[i]);
        CHECK(all, "several sends: each send returns its length");
        rc = recv_line(sock, line, sizeof line);
        CHECK(rc >= 0 && strcmp(line, "several sends in one line") == 0,
              "several sends: the echo comes back whole, one byte per recv (got '%s')", rc >= 0 ? line : "");
        CHECK(send(sock, "QUIT\r\n", 6, 0) == 6, "several sends: send QUIT");
        rc = recv_line(sock, line, sizeof line);
        CHECK(rc >= 0 && strcmp(line, "BYE") == 0, "several sends: BYE (got '%s')", rc >= 0 ? line : "");
        rc = recv(sock, &c, 1, 0);
        CHECK(rc == 0, "several sends: recv returns 0 after the server's close_notify (got %d)", rc);
    }
    CHECK(closesocket(sock) == 0, "several sends: closesocket");

    rc = WSACleanup();
    CHECK(rc == 0, "WSACleanup returns 0");

    free(good);
    free(untrusted);
    return finish();
}
