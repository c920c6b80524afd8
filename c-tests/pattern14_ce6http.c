/*
 * Pattern 14 - CE 6 HTTP client (recent).
 *
 * SO_RCVTIMEO/SO_SNDTIMEO as int milliseconds -> SO_RCVBUF 65536,
 * SO_SNDBUF 32768 -> SO_SECURE -> DEFER (non-deferred connect failed on its
 * device) -> SET_PROTOCOLS {TLS1} -> hook(NULL) accept-all, every WSAIoctl
 * with a non-NULL pcbReturned -> connect -> PERFORM_HANDSHAKE(NULL, 0, NULL,
 * 0, &cb) -> send-all loop -> recv until 0.
 */
#include <winsock2.h>
#include <sslsock.h>
#include "common.h"

static struct hook_record g_rec;

/* accept-all: whatever the library says */
static int CALLBACK ce6_accept_all(DWORD dwType, LPVOID pvArg, DWORD dwChainLen, LPBLOB pCertChain,
                                   DWORD dwFlags)
{
    hook_note(&g_rec, dwType, pvArg, dwChainLen, pCertChain, dwFlags);
    return SSL_ERR_OKAY;
}

static int ce6_send_all(SOCKET s, const char *buf, int len)
{
    int sent = 0;
    while (sent < len) {
        int n = send(s, buf + sent, len - sent, 0);
        if (n == SOCKET_ERROR || n == 0)
            return -1;
        sent += n;
    }
    return 0;
}

/* The client's socket setup, through the handshake. Returns the socket; *hs gets PH's result. */
static SOCKET ce6_open(int port, int timeout_ms, const char *what, int *hs)
{
    SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    DWORD secure = SO_SEC_SSL, flags = SSL_FLAG_DEFER_HANDSHAKE, cb;
    SSLPROTOCOLS prot;
    SSLVALIDATECERTHOOK hook;
    SOCKADDR_IN addr;
    int v, got = 0;
    socklen_t len;

    CHECK(s != INVALID_SOCKET, "%s: socket()", what);
    v = timeout_ms;
    CHECK(setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, (const char *)&v, sizeof v) == 0,
          "%s: SO_RCVTIMEO as int milliseconds (%d)", what, v);
    CHECK(setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, (const char *)&v, sizeof v) == 0,
          "%s: SO_SNDTIMEO as int milliseconds (%d)", what, v);
    len = sizeof got;
    CHECK(getsockopt(s, SOL_SOCKET, SO_RCVTIMEO, (char *)&got, &len) == 0 && len == 4 && got == timeout_ms,
          "%s: getsockopt(SO_RCVTIMEO, int) gives the milliseconds back (%d, len %u)", what, got, (unsigned)len);
    v = 65536;
    CHECK(setsockopt(s, SOL_SOCKET, SO_RCVBUF, (const char *)&v, sizeof v) == 0, "%s: SO_RCVBUF 65536", what);
    v = 32768;
    CHECK(setsockopt(s, SOL_SOCKET, SO_SNDBUF, (const char *)&v, sizeof v) == 0, "%s: SO_SNDBUF 32768", what);

    CHECK(setsockopt(s, SOL_SOCKET, SO_SECURE, (const char *)&secure, sizeof secure) == 0, "%s: SO_SECURE", what);
    cb = 0xdeadbeef;
    CHECK(WSAIoctl(s, SO_SSL_SET_FLAGS, &flags, sizeof flags, NULL, 0, &cb, NULL, NULL) == 0,
          "%s: SET_FLAGS(DEFER) with &cb", what);
    memset(&prot, 0, sizeof prot);
    prot.dwCount = 1;
    prot.ProtocolList[0].dwProtocol = SSL_PROTOCOL_TLS1;
    CHECK(WSAIoctl(s, SO_SSL_SET_PROTOCOLS, &prot, sizeof prot, NULL, 0, &cb, NULL, NULL) == 0,
          "%s: SET_PROTOCOLS {TLS1} with &cb", what);
    hook.HookFunc = ce6_accept_all;
    hook.pvArg = NULL;
    CHECK(WSAIoctl(s, SO_SSL_SET_VALIDATE_CERT_HOOK, &hook, sizeof hook, NULL, 0, &cb, NULL, NULL) == 0,
          "%s: SET_VALIDATE_CERT_HOOK(NULL) accept-all with &cb", what);
    connect_addr(&addr, port);
    CHECK(connect(s, (SOCKADDR *)&addr, sizeof addr) == 0, "%s: connect (plain TCP)", what);
    *hs = WSAIoctl(s, SO_SSL_PERFORM_HANDSHAKE, NULL, 0, NULL, 0, &cb, NULL, NULL);
    CHECK(*hs == 0, "%s: PERFORM_HANDSHAKE(NULL, 0, NULL, 0, &cb) returns 0", what);
    return s;
}

int main(void)
{
    static char data[300000];
    SOCKET s;
    int hs, i, r;
    size_t good_len, untr_len;
    unsigned char *good = read_pki("good.der", &good_len);
    unsigned char *untr = read_pki("untrusted.der", &untr_len);
    char line[256];

    start_watchdog(55);

    /* ---- HTTPS download: send-all, recv until 0 ---- */
    hook_reset(&g_rec, 0);
    s = ce6_open(env_port("T_PORT_HTTPS"), 10000, "https", &hs);
    check_hook(&g_rec, 1, 0, NULL, good, good_len, "https");
    {
        static const char req[] = "GET /big.bin HTTP/1.0\r\n\r\n";
        static char resp[BIG_BIN_SIZE + 4096];
        long total = 0;
        char *body;
        CHECK(ce6_send_all(s, req, (int)sizeof req - 1) == 0, "https: send-all of the request");
        for (;;) {
            r = recv(s, resp + total, (int)(sizeof resp - (size_t)total) < 16384 ? (int)(sizeof resp - (size_t)total)
                                                                                  : 16384, 0);
            if (r <= 0)
                break;
            total += r;
            if ((size_t)total == sizeof resp)
                break;
        }
        CHECK(r == 0, "https: recv until 0 (last %d)", r);
        body = NULL;
        for (i = 0; i + 3 < total; i++)
            if (memcmp(resp + i, "\r\n\r\n", 4) == 0) {
                body = resp + i + 4;
                break;
            }
        CHECK(total > 12 && strncmp(resp, "HTTP/1.0 200", 12) == 0, "https: status HTTP/1.0 200");
        CHECK(body && resp + total - body == BIG_BIN_SIZE && expect_pattern(body, BIG_BIN_SIZE, 0),
              "https: 1 MiB body byte-exact (%ld bytes)", body ? (long)(resp + total - body) : -1L);
    }
    CHECK(closesocket(s) == 0, "https: closesocket");

    /* ---- the line server, TLS from the first byte: send-all of a big upload ---- */
    hook_reset(&g_rec, 0);
    s = ce6_open(env_port("T_PORT_STARTTLS"), 10000, "upload", &hs);
    check_hook(&g_rec, 1, 0, NULL, good, good_len, "upload");
    {
        struct sha256 sha;
        char digest[65], cmd[64];
        for (i = 0; i < (int)sizeof data; i++)
            data[i] = (char)pattern_byte((size_t)i * 3 + 1);
        sha256_init(&sha);
        sha256_update(&sha, data, sizeof data);
        sha256_hex(&sha, digest);
        snprintf(cmd, sizeof cmd, "SUM %d\r\n", (int)sizeof data);
        CHECK(ce6_send_all(s, cmd, (int)strlen(cmd)) == 0 && ce6_send_all(s, data, (int)sizeof data) == 0,
              "upload: send-all of 300000 bytes");
        r = recv_line(s, line, sizeof line);
        CHECK(r == 64 && strcmp(line, digest) == 0, "upload: server's SHA-256 matches (got '%s')", line);
    }
    CHECK(ce6_send_all(s, "QUIT\r\n", 6) == 0 && recv_line(s, line, sizeof line) >= 0 && strcmp(line, "BYE") == 0,
          "upload: QUIT -> BYE");
    r = recv(s, line, sizeof line, 0);
    CHECK(r == 0, "upload: recv returns 0 at the end (got %d)", r);
    CHECK(closesocket(s) == 0, "upload: closesocket");

    /* ---- accept-all: an untrusted server is accepted by the hook ---- */
    hook_reset(&g_rec, 0);
    s = ce6_open(env_port("T_PORT_UNTRUSTED"), 10000, "untrusted, accept-all", &hs);
    check_hook(&g_rec, 1, SSL_CERT_FLAG_ISSUER_UNKNOWN, NULL, untr, untr_len, "untrusted, accept-all");
    check_http_index(s, "untrusted, accept-all");
    CHECK(closesocket(s) == 0, "untrusted, accept-all: closesocket");

    /* ---- SO_RCVTIMEO in milliseconds really bounds a recv on a secure socket ---- */
    hook_reset(&g_rec, 0);
    s = ce6_open(env_port("T_PORT_STARTTLS"), 500, "receive timeout", &hs);
    {
        long long t0 = now_ms(), dt;
        int err;
        r = recv(s, line, sizeof line, 0);
        err = WSAGetLastError();
        dt = now_ms() - t0;
        CHECK(r == SOCKET_ERROR && (err == WSAETIMEDOUT || err == WSAEWOULDBLOCK),
              "receive timeout: idle recv fails with WSAETIMEDOUT or WSAEWOULDBLOCK (rc %d, err %d)", r, err);
        CHECK(dt >= 400 && dt < 3000, "receive timeout: after about 500 ms (%lld ms)", dt);
    }
    CHECK(closesocket(s) == 0, "receive timeout: closesocket");

    free(good);
    free(untr);
    return finish();
}
