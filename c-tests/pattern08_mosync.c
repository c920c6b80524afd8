/*
 * Pattern 8 - MoSync runtime.
 *
 * socket -> get/set TCP_NODELAY -> SO_SECURE -> hook -> SET_PEERNAME(host,
 * strlen+1) -> connect (handshake inside) -> send must return exactly len ->
 * recv 0 = closed -> shutdown(2) + closesocket.
 * Hook: asserts dwChainLen == 1, CERT_UNKNOWN on ISSUER_UNKNOWN, CERT_EXPIRED
 * outside the dates. A name mismatch must fail connect.
 */
#include <winsock2.h>
#include <sslsock.h>
#include "common.h"

struct mosync_conn {
    SOCKET sock;
    const char *host;
};

static struct hook_record g_rec;

static int CALLBACK mosync_cert_hook(DWORD dwType, LPVOID pvArg, DWORD dwChainLen, LPBLOB pCertChain,
                                     DWORD dwFlags)
{
    struct cert_facts facts;
    hook_note(&g_rec, dwType, pvArg, dwChainLen, pCertChain, dwFlags);
    if (dwChainLen != 1)   /* MoSync asserts this */
        return SSL_ERR_BAD_DATA;
    if (dwType != SSL_CERT_X509)
        return SSL_ERR_BAD_TYPE;
    if (dwFlags & SSL_CERT_FLAG_ISSUER_UNKNOWN)
        return SSL_ERR_CERT_UNKNOWN;
    if (!der_cert_facts(pCertChain[0].pBlobData, pCertChain[0].cbSize, &facts))
        return SSL_ERR_BAD_DATA;
    if (!cert_valid_now(&facts))
        return SSL_ERR_CERT_EXPIRED;
    return SSL_ERR_OKAY;
}

/* MoSync's connect path; peername_code is the SET_PEERNAME control code used. */
static int mosync_connect(struct mosync_conn *c, int port, DWORD peername_code, const char *what)
{
    DWORD secure = SO_SEC_SSL;
    SSLVALIDATECERTHOOK hook;
    SOCKADDR_IN addr;
    int nodelay = -1, rc;
    socklen_t len = sizeof nodelay;

    c->sock = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    CHECK(c->sock != INVALID_SOCKET, "%s: socket()", what);
    rc = getsockopt(c->sock, IPPROTO_TCP, TCP_NODELAY, (char *)&nodelay, &len);
    CHECK(rc == 0 && nodelay == 0, "%s: getsockopt(TCP_NODELAY) gives 0 (rc %d, %d)", what, rc, nodelay);
    nodelay = 1;
    CHECK(setsockopt(c->sock, IPPROTO_TCP, TCP_NODELAY, (const char *)&nodelay, sizeof nodelay) == 0,
          "%s: setsockopt(TCP_NODELAY, 1)", what);
    nodelay = 0;
    len = sizeof nodelay;
    rc = getsockopt(c->sock, IPPROTO_TCP, TCP_NODELAY, (char *)&nodelay, &len);
    CHECK(rc == 0 && nodelay != 0, "%s: getsockopt(TCP_NODELAY) now non-zero", what);

    CHECK(setsockopt(c->sock, SOL_SOCKET, SO_SECURE, (const char *)&secure, sizeof secure) == 0,
          "%s: SO_SECURE", what);
    hook.HookFunc = mosync_cert_hook;
    hook.pvArg = c;
    CHECK(WSAIoctl(c->sock, SO_SSL_SET_VALIDATE_CERT_HOOK, &hook, sizeof hook, NULL, 0, NULL, NULL, NULL) == 0,
          "%s: SET_VALIDATE_CERT_HOOK", what);
    rc = WSAIoctl(c->sock, peername_code, (LPVOID)c->host, (DWORD)strlen(c->host) + 1, NULL, 0, NULL, NULL, NULL);
    CHECK(rc == 0, "%s: SET_PEERNAME(0x%08x, \"%s\", strlen+1)", what, (unsigned)peername_code, c->host);
    connect_addr(&addr, port);
    return connect(c->sock, (SOCKADDR *)&addr, sizeof addr);
}

int main(void)
{
    struct mosync_conn c;
    int rc, err;
    size_t good_len, wrong_len;
    unsigned char *good = read_pki("good.der", &good_len);
    unsigned char *wrong = read_pki("wrongname.der", &wrong_len);
    char buf[64];

    start_watchdog(55);

    /* ---- matching name ---- */
    hook_reset(&g_rec, 0);
    c.host = "localhost";
    rc = mosync_connect(&c, env_port("T_PORT_HTTPS"), SO_SSL_SET_PEERNAME, "localhost");
    CHECK(rc == 0, "localhost: connect returns 0");
    check_hook(&g_rec, 1, 0, &c, good, good_len, "localhost");
    check_http_big(c.sock, 4096, "localhost");
    CHECK(shutdown(c.sock, 2) == 0, "localhost: shutdown(2)");
    CHECK(closesocket(c.sock) == 0, "localhost: closesocket");

    /* ---- name mismatch: the library flags it, the hook refuses, connect fails ---- */
    hook_reset(&g_rec, 0);
    c.host = "localhost";
    rc = mosync_connect(&c, env_port("T_PORT_WRONGNAME"), SO_SSL_SET_PEERNAME, "mismatch");
    err = WSAGetLastError();
    CHECK(rc == SOCKET_ERROR, "mismatch: connect returns SOCKET_ERROR (got %d)", rc);
    CHECK(err == WSAECONNABORTED, "mismatch: WSAGetLastError() == WSAECONNABORTED (got %d)", err);
    check_hook(&g_rec, 1, SSL_CERT_FLAG_ISSUER_UNKNOWN, &c, wrong, wrong_len, "mismatch");
    rc = send(c.sock, "GET / HTTP/1.0\r\n\r\n", 18, 0);
    CHECK(rc == SOCKET_ERROR, "mismatch: a later send fails (got %d)", rc);
    rc = recv(c.sock, buf, sizeof buf, 0);
    CHECK(rc == SOCKET_ERROR, "mismatch: a later recv fails (got %d)", rc);
    shutdown(c.sock, 2);
    closesocket(c.sock);

    /* ---- the peer name, not the address, is what is checked; the other
     *      spelling of the control code (0x9073000F) is accepted too ---- */
    hook_reset(&g_rec, 0);
    c.host = "wrong.example";
    rc = mosync_connect(&c, env_port("T_PORT_WRONGNAME"), (DWORD)0x9073000F, "wrong.example by name");
    CHECK(rc == 0, "wrong.example by name: connect to 127.0.0.1 with peer name wrong.example returns 0");
    check_hook(&g_rec, 1, 0, &c, wrong, wrong_len, "wrong.example by name");
    check_http_index(c.sock, "wrong.example by name");
    shutdown(c.sock, 2);
    closesocket(c.sock);

    free(good);
    free(wrong);
    return finish();
}
