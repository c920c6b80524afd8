/*
 * Pattern 7 - Telnet client.
 *
 * Mode "SSL": SO_SECURE -> hook -> connect (handshake inside).
 * Mode "telnet AUTH SSL": SO_SECURE -> hook -> GET_FLAGS into a DWORD, OR in
 * DEFER, SET_FLAGS -> connect -> plaintext negotiation -> PERFORM_HANDSHAKE
 * with all-zero arguments.
 * Reader thread: select(1, &r, 0, 0, NULL) forever, then lock, recv(200),
 * unlock; writer: select for write, lock, send, unlock.
 * Hook: pins the server certificate by comparing the blob's length and bytes
 * (the library's flags are not looked at: a pinned self-signed certificate is
 * accepted, an unpinned one refused).
 */
#include <winsock2.h>
#include <sslsock.h>
#include "common.h"

struct pin {
    const unsigned char *der;
    DWORD len;
};

static struct hook_record g_rec;

static int CALLBACK telnet_cert_hook(DWORD dwType, LPVOID pvArg, DWORD dwChainLen, LPBLOB pCertChain,
                                     DWORD dwFlags)
{
    const struct pin *pin = (const struct pin *)pvArg;
    hook_note(&g_rec, dwType, pvArg, dwChainLen, pCertChain, dwFlags);
    if (dwChainLen < 1 || pCertChain[0].cbSize != pin->len ||
        memcmp(pCertChain[0].pBlobData, pin->der, pin->len) != 0)
        return SSL_ERR_CERT_UNKNOWN;
    return SSL_ERR_OKAY;
}

/* ---- the session: reader thread + writer, one lock around recv and send ---- */

#define N_LINES 300

struct session {
    SOCKET s;
    pthread_mutex_t lock;
    char rx[65536];
    int rxlen;
    int reader_rc;       /* the recv result that ended the reader */
    int reader_err;
};

static void *telnet_reader(void *p)
{
    struct session *t = p;
    for (;;) {
        fd_set r;
        int n;
        char buf[200];
        FD_ZERO(&r);
        FD_SET(t->s, &r);
        n = select(1, &r, 0, 0, NULL);
        if (n == SOCKET_ERROR) {
            t->reader_rc = -100;
            t->reader_err = WSAGetLastError();
            return NULL;
        }
        pthread_mutex_lock(&t->lock);
        n = recv(t->s, buf, 200, 0);
        if (n > 0 && t->rxlen + n <= (int)sizeof t->rx) {
            memcpy(t->rx + t->rxlen, buf, (size_t)n);
            t->rxlen += n;
        }
        pthread_mutex_unlock(&t->lock);
        if (n <= 0) {
            t->reader_rc = n;
            t->reader_err = n < 0 ? WSAGetLastError() : 0;
            return NULL;
        }
    }
}

static int telnet_write(struct session *t, const char *data, int len)
{
    while (len > 0) {
        fd_set w;
        int n;
        FD_ZERO(&w);
        FD_SET(t->s, &w);
        if (select(1, NULL, &w, NULL, NULL) != 1)
            return -1;
        pthread_mutex_lock(&t->lock);
        n = send(t->s, data, len, 0);
        pthread_mutex_unlock(&t->lock);
        if (n == SOCKET_ERROR)
            return -1;
        data += n;
        len -= n;
    }
    return 0;
}

/* Runs the threaded session over an established secure socket: N_LINES echoes, QUIT. */
static void telnet_session(SOCKET s, const char *what)
{
    static struct session t;
    pthread_t th;
    char line[128], expect[65536];
    int i, ok = 1, elen = 0;

    memset(&t, 0, sizeof t);
    t.s = s;
    pthread_mutex_init(&t.lock, NULL);
    pthread_create(&th, NULL, telnet_reader, &t);
    usleep(100000);    /* the reader sits in select(NULL timeout) first */
    for (i = 0; i < N_LINES && ok; i++) {
        snprintf(line, sizeof line, "ECHO %s line %d of the telnet session\r\n", what, i);
        ok = telnet_write(&t, line, (int)strlen(line)) == 0;
        elen += snprintf(expect + elen, sizeof expect - (size_t)elen, "%s line %d of the telnet session\r\n",
                         what, i);
    }
    CHECK(ok, "%s: writer sent %d lines (select for write, lock, send, unlock)", what, N_LINES);
    CHECK(telnet_write(&t, "QUIT\r\n", 6) == 0, "%s: writer sent QUIT", what);
    elen += snprintf(expect + elen, sizeof expect - (size_t)elen, "BYE\r\n");
    pthread_join(th, NULL);
    CHECK(t.reader_rc == 0, "%s: reader ended with recv returning 0 (rc %d, err %d)", what, t.reader_rc,
          t.reader_err);
    CHECK(t.rxlen == elen && memcmp(t.rx, expect, (size_t)elen) == 0,
          "%s: reader got every echo, in order, byte-exact (%d of %d bytes)", what, t.rxlen, elen);
    pthread_mutex_destroy(&t.lock);
}

static SOCKET telnet_socket(struct pin *pin, const char *what)
{
    SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    DWORD secure = SO_SEC_SSL, cb;
    SSLVALIDATECERTHOOK hook;
    CHECK(s != INVALID_SOCKET, "%s: socket()", what);
    CHECK(setsockopt(s, SOL_SOCKET, SO_SECURE, (const char *)&secure, sizeof secure) == 0, "%s: SO_SECURE",
          what);
    hook.HookFunc = telnet_cert_hook;
    hook.pvArg = pin;
    CHECK(WSAIoctl(s, SO_SSL_SET_VALIDATE_CERT_HOOK, &hook, sizeof hook, NULL, 0, &cb, NULL, NULL) == 0,
          "%s: SET_VALIDATE_CERT_HOOK(pin)", what);
    return s;
}

int main(void)
{
    SOCKET s;
    SOCKADDR_IN addr;
    DWORD dwFlags, cb;
    int rc, err;
    size_t good_len, self_len;
    unsigned char *good = read_pki("good.der", &good_len);
    unsigned char *self = read_pki("selfsigned.der", &self_len);
    struct pin pin_good = {good, (DWORD)good_len};
    struct pin pin_self = {self, (DWORD)self_len};
    char line[256];

    start_watchdog(55);

    /* ---- mode "SSL": handshake inside connect ---- */
    hook_reset(&g_rec, 0);
    s = telnet_socket(&pin_good, "SSL mode");
    connect_addr(&addr, env_port("T_PORT_STARTTLS"));
    rc = connect(s, (SOCKADDR *)&addr, sizeof addr);
    CHECK(rc == 0, "SSL mode: connect returns 0");
    check_hook(&g_rec, 1, 0, &pin_good, good, good_len, "SSL mode");
    telnet_session(s, "SSL mode");
    CHECK(closesocket(s) == 0, "SSL mode: closesocket");

    /* ---- mode "telnet AUTH SSL": deferred ---- */
    hook_reset(&g_rec, 0);
    s = telnet_socket(&pin_good, "AUTH SSL");
    dwFlags = 0xdeadbeef;
    rc = WSAIoctl(s, SO_SSL_GET_FLAGS, NULL, 0, &dwFlags, sizeof dwFlags, &cb, NULL, NULL);
    CHECK(rc == 0 && dwFlags == 0, "AUTH SSL: GET_FLAGS gives 0 on a fresh secure socket (rc %d, 0x%x)", rc,
          (unsigned)dwFlags);
    dwFlags |= SSL_FLAG_DEFER_HANDSHAKE;
    rc = WSAIoctl(s, SO_SSL_SET_FLAGS, &dwFlags, sizeof dwFlags, NULL, 0, &cb, NULL, NULL);
    CHECK(rc == 0, "AUTH SSL: SET_FLAGS(flags | DEFER)");
    dwFlags = 0;
    rc = WSAIoctl(s, SO_SSL_GET_FLAGS, NULL, 0, &dwFlags, sizeof dwFlags, &cb, NULL, NULL);
    CHECK(rc == 0 && dwFlags == SSL_FLAG_DEFER_HANDSHAKE, "AUTH SSL: GET_FLAGS now gives DEFER (0x%x)",
          (unsigned)dwFlags);
    rc = connect(s, (SOCKADDR *)&addr, sizeof addr);
    CHECK(rc == 0, "AUTH SSL: connect (plain TCP)");
    CHECK(g_rec.calls == 0, "AUTH SSL: no handshake yet, hook not called");
    rc = recv_line(s, line, sizeof line);
    CHECK(rc >= 0 && strcmp(line, "220 sslsock-test ready") == 0, "AUTH SSL: plaintext greeting (got '%s')", line);
    CHECK(send_str(s, "NOOP\r\n") == 0 && recv_line(s, line, sizeof line) >= 0 && strcmp(line, "250 OK") == 0,
          "AUTH SSL: plaintext option negotiation (NOOP -> 250 OK)");
    CHECK(send_str(s, "AUTH SSL\r\n") == 0 && recv_line(s, line, sizeof line) >= 0 && strcmp(line, "AUTH OK") == 0,
          "AUTH SSL: AUTH SSL -> AUTH OK (got '%s')", line);
    rc = WSAIoctl(s, SO_SSL_PERFORM_HANDSHAKE, 0, 0, 0, 0, 0, 0, 0);
    CHECK(rc == 0, "AUTH SSL: PERFORM_HANDSHAKE with all-zero arguments returns 0");
    check_hook(&g_rec, 1, 0, &pin_good, good, good_len, "AUTH SSL");
    telnet_session(s, "AUTH SSL");
    CHECK(closesocket(s) == 0, "AUTH SSL: closesocket");

    /* ---- pinned self-signed certificate: accepted although untrusted ---- */
    hook_reset(&g_rec, 0);
    s = telnet_socket(&pin_self, "pinned self-signed");
    connect_addr(&addr, env_port("T_PORT_SELFSIGNED"));
    rc = connect(s, (SOCKADDR *)&addr, sizeof addr);
    CHECK(rc == 0, "pinned self-signed: connect returns 0 (the hook's OKAY wins)");
    check_hook(&g_rec, 1, SSL_CERT_FLAG_ISSUER_UNKNOWN, &pin_self, self, self_len, "pinned self-signed");
    check_http_index(s, "pinned self-signed");
    CHECK(closesocket(s) == 0, "pinned self-signed: closesocket");

    /* ---- pin mismatch: refused ---- */
    hook_reset(&g_rec, 0);
    s = telnet_socket(&pin_good, "pin mismatch");
    rc = connect(s, (SOCKADDR *)&addr, sizeof addr);
    err = WSAGetLastError();
    CHECK(rc == SOCKET_ERROR && err == WSAECONNABORTED,
          "pin mismatch: connect fails with WSAECONNABORTED (rc %d, err %d)", rc, err);
    check_hook(&g_rec, 1, SSL_CERT_FLAG_ISSUER_UNKNOWN, &pin_good, self, self_len, "pin mismatch");
    CHECK(send(s, "x", 1, 0) == SOCKET_ERROR, "pin mismatch: a later send fails");
    CHECK(recv(s, line, sizeof line, 0) == SOCKET_ERROR, "pin mismatch: a later recv fails");
    closesocket(s);

    free(good);
    free(self);
    return finish();
}
