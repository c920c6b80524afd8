/*
 * Pattern 10 - XMPP client.
 *
 * WSAStartup(0x202), requires wVersion 0x202 -> SO_SECURE -> hook(this) ->
 * DEFER -> connect -> plaintext phase -> STARTTLS: PERFORM_HANDSHAKE(host,
 * strlen) with no NUL -> GET_CONNECTION_INFO(NULL, 0, &info, 28, &n) for a
 * status screen -> reader thread in select(0, {1,[s]}, NULL, NULL, {200,0})
 * then recv, while two other threads send at the same time.
 */
#include <winsock2.h>
#include <sslsock.h>
#include "common.h"

#define LINES_PER_WRITER 200

struct xmpp_client {
    SOCKET s;
    int select_timeouts;
    int reader_rc;
    int reader_err;
    char *rx;
    size_t rxlen, rxcap;
};

static struct hook_record g_rec;

static int CALLBACK xmpp_cert_hook(DWORD dwType, LPVOID pvArg, DWORD dwChainLen, LPBLOB pCertChain,
                                   DWORD dwFlags)
{
    hook_note(&g_rec, dwType, pvArg, dwChainLen, pCertChain, dwFlags);
    if (dwType != SSL_CERT_X509)
        return SSL_ERR_BAD_TYPE;
    if (dwFlags & SSL_CERT_FLAG_ISSUER_UNKNOWN)
        return SSL_ERR_CERT_UNKNOWN;
    return SSL_ERR_OKAY;
}

static void *xmpp_reader(void *p)
{
    struct xmpp_client *x = p;
    char buf[4096];
    for (;;) {
        fd_set r;
        struct timeval tv = {200, 0};
        int n;
        r.fd_count = 1;
        r.fd_array[0] = x->s;
        n = select(0, &r, NULL, NULL, &tv);
        if (n == 0) {
            x->select_timeouts++;
            continue;
        }
        if (n != 1) {
            x->reader_rc = -100;
            x->reader_err = WSAGetLastError();
            return NULL;
        }
        n = recv(x->s, buf, sizeof buf, 0);
        if (n <= 0) {
            x->reader_rc = n;
            x->reader_err = n < 0 ? WSAGetLastError() : 0;
            return NULL;
        }
        if (x->rxlen + (size_t)n + 1 > x->rxcap) {
            x->rxcap = (x->rxlen + (size_t)n + 1) * 2;
            x->rx = realloc(x->rx, x->rxcap);
        }
        memcpy(x->rx + x->rxlen, buf, (size_t)n);
        x->rxlen += (size_t)n;
        x->rx[x->rxlen] = 0; /* sscanf below reads a line as a string: end it (valgrind) */
    }
}

struct writer {
    struct xmpp_client *x;
    int id;
    int failures;
};

/* The line writer `id` sends as number i: lengths vary from short to ~1.5 KiB. */
static int make_line(char *out, size_t cap, int id, int i)
{
    int pad = (i * 37 + id * 101) % 1500, n, k;
    n = snprintf(out, cap, "ECHO w%d #%d ", id, i);
    for (k = 0; k < pad && (size_t)n + 3 < cap; k++)
        out[n++] = (char)('a' + (i + k + id) % 26);
    out[n++] = '\r';
    out[n++] = '\n';
    out[n] = 0;
    return n;
}

static void *xmpp_writer(void *p)
{
    struct writer *w = p;
    char line[2048];
    int i;
    for (i = 0; i < LINES_PER_WRITER; i++) {
        int n = make_line(line, sizeof line, w->id, i);
        if (send(w->x->s, line, n, 0) != n)
            w->failures++;
    }
    return NULL;
}

static const char *prot_name(DWORD p)
{
    switch (p) {
    case SSL_PROT_TLS1_2_CLIENT: return "TLS 1.2";
    case SSL_PROT_TLS1_3_CLIENT: return "TLS 1.3";
    default: return NULL;
    }
}

int main(void)
{
    static struct xmpp_client x;
    static const struct {
        char host[9];          /* "localhost" with no NUL ... */
        char junk[8];          /* ... followed by bytes that are not part of it */
    } target = {{'l', 'o', 'c', 'a', 'l', 'h', 'o', 's', 't'}, {'.', 'e', 'v', 'i', 'l', 'X', 'X', 'X'}};
    WSADATA wsa;
    DWORD secure = SO_SEC_SSL, flags = SSL_FLAG_DEFER_HANDSHAKE, n;
    SSLVALIDATECERTHOOK hook;
    SSLCONNECTIONINFO info;
    SOCKADDR_IN addr;
    struct writer w1, w2;
    pthread_t tr, t1, t2;
    int rc;
    size_t good_len;
    unsigned char *good = read_pki("good.der", &good_len);
    char line[256];

    start_watchdog(55);

    rc = WSAStartup(0x202, &wsa);
    CHECK(rc == 0 && wsa.wVersion == 0x202, "WSAStartup(0x202): wVersion 0x202 (rc %d, 0x%x)", rc,
          (unsigned)wsa.wVersion);

    memset(&x, 0, sizeof x);
    hook_reset(&g_rec, 0);
    x.s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    CHECK(x.s != INVALID_SOCKET, "socket()");
    CHECK(setsockopt(x.s, SOL_SOCKET, SO_SECURE, (const char *)&secure, sizeof secure) == 0, "SO_SECURE");
    hook.HookFunc = xmpp_cert_hook;
    hook.pvArg = &x;
    CHECK(WSAIoctl(x.s, SO_SSL_SET_VALIDATE_CERT_HOOK, &hook, sizeof hook, NULL, 0, &n, NULL, NULL) == 0,
          "SET_VALIDATE_CERT_HOOK(this)");
    CHECK(WSAIoctl(x.s, SO_SSL_SET_FLAGS, &flags, sizeof flags, NULL, 0, &n, NULL, NULL) == 0, "SET_FLAGS(DEFER)");
    connect_addr(&addr, env_port("T_PORT_STARTTLS"));
    CHECK(connect(x.s, (SOCKADDR *)&addr, sizeof addr) == 0, "connect (plain TCP)");

    /* plaintext phase: the client talks first (the server may or may not greet) */
    CHECK(send_str(x.s, "EHLO xmpp.client\r\n") == 0, "plaintext: send EHLO");
    rc = recv_line(x.s, line, sizeof line);
    if (rc >= 0 && strcmp(line, "220 sslsock-test ready") == 0)
        rc = recv_line(x.s, line, sizeof line);
    CHECK(rc >= 0 && strcmp(line, "250 STARTTLS") == 0, "plaintext: 250 STARTTLS (got '%s')", line);
    CHECK(send_str(x.s, "STARTTLS\r\n") == 0 && recv_line(x.s, line, sizeof line) >= 0 &&
              strcmp(line, "220 go ahead") == 0,
          "plaintext: STARTTLS -> 220 go ahead (got '%s')", line);

    rc = WSAIoctl(x.s, SO_SSL_PERFORM_HANDSHAKE, (LPVOID)target.host, sizeof target.host, NULL, 0, &n, NULL, NULL);
    CHECK(rc == 0, "STARTTLS: PERFORM_HANDSHAKE(host, strlen) with no NUL returns 0");
    /* flags 0 means the name checked was exactly the 9 bytes "localhost" */
    check_hook(&g_rec, 1, 0, &x, good, good_len, "STARTTLS");

    memset(&info, 0xEE, sizeof info);
    n = 0;
    rc = WSAIoctl(x.s, SO_SSL_GET_CONNECTION_INFO, NULL, 0, &info, sizeof info, &n, NULL, NULL);
    CHECK(rc == 0, "GET_CONNECTION_INFO(NULL, 0, &info, 28, &n) returns 0");
    CHECK(sizeof info == 28 && n == 28, "GET_CONNECTION_INFO: *pcbReturned == 28 (got %u)", (unsigned)n);
    check_conn_info(&info, "status screen");
    note("status screen: protocol %s, cipher 0x%x/%u, hash 0x%x/%u, exchange 0x%x/%u",
         prot_name(info.dwProtocol) ? prot_name(info.dwProtocol) : "unknown", (unsigned)info.aiCipher,
         (unsigned)info.dwCipherStrength, (unsigned)info.aiHash, (unsigned)info.dwHashStrength,
         (unsigned)info.aiExch, (unsigned)info.dwExchStrength);

    /* reader in select({200,0}) + recv; two writers at the same time */
    pthread_create(&tr, NULL, xmpp_reader, &x);
    usleep(50000);
    w1.x = &x; w1.id = 1; w1.failures = 0;
    w2.x = &x; w2.id = 2; w2.failures = 0;
    pthread_create(&t1, NULL, xmpp_writer, &w1);
    pthread_create(&t2, NULL, xmpp_writer, &w2);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    CHECK(w1.failures == 0 && w2.failures == 0, "writers: every concurrent send returned its length (%d, %d)",
          w1.failures, w2.failures);
    CHECK(send_str(x.s, "QUIT\r\n") == 0, "send QUIT");
    pthread_join(tr, NULL);
    CHECK(x.reader_rc == 0, "reader: ended on recv returning 0 (rc %d, err %d)", x.reader_rc, x.reader_err);

    /* every echo arrived intact: per-writer order kept, nothing lost, nothing mixed */
    {
        int next[3] = {0, 0, 0}, bad = 0, bye = 0, lines = 0;
        size_t pos = 0;
        char want[2048];
        while (pos < x.rxlen) {
            char *nl = memchr(x.rx + pos, '\n', x.rxlen - pos);
            size_t len;
            int id = 0, i = -1;
            if (!nl) {
                bad++;
                break;
            }
            len = (size_t)(nl - (x.rx + pos)) + 1;
            lines++;
            if (len == 5 && memcmp(x.rx + pos, "BYE\r\n", 5) == 0) {
                bye++;
            } else if (sscanf(x.rx + pos, "w%d #%d ", &id, &i) == 2 && (id == 1 || id == 2) && i == next[id]) {
                int wl = make_line(want, sizeof want, id, i);
                /* the echo is the line without "ECHO " */
                if ((size_t)(wl - 5) != len || memcmp(want + 5, x.rx + pos, len) != 0)
                    bad++;
                next[id]++;
            } else {
                bad++;
            }
            pos += len;
        }
        CHECK(bad == 0 && next[1] == LINES_PER_WRITER && next[2] == LINES_PER_WRITER && bye == 1,
              "echoes: %d + %d lines back intact and in per-writer order, then BYE (%d lines, %d bad)", next[1],
              next[2], lines, bad);
    }
    CHECK(x.select_timeouts == 0, "reader: select never timed out");
    CHECK(closesocket(x.s) == 0, "closesocket");
    CHECK(WSACleanup() == 0, "WSACleanup");
    free(x.rx);
    free(good);
    return finish();
}
