/*
 * Pattern 2 - AMQP client (.NET Compact Framework).
 *
 * SO_SECURE, hook given as a raw {fn, host} buffer (two pointers: 8 bytes on
 * the 32-bit device, 16 on LP64); send and receive each under one lock; the
 * receive side polls readability forever, then receives.
 * Hook: BAD_TYPE unless X509, CERT_UNKNOWN on ISSUER_UNKNOWN, parses the blob
 * as an X.509 certificate, checks the dates and "CN=host".
 */
#include <winsock2.h>
#include <sslsock.h>
#include "common.h"

#define N_FRAMES 100

static struct hook_record g_rec;

static int CALLBACK amqp_cert_hook(DWORD dwType, LPVOID pvArg, DWORD dwChainLen, LPBLOB pCertChain,
                                   DWORD dwFlags)
{
    const char *host = pvArg;
    struct cert_facts facts;
    char subject[300];
    hook_note(&g_rec, dwType, pvArg, dwChainLen, pCertChain, dwFlags);
    if (dwType != SSL_CERT_X509)
        return SSL_ERR_BAD_TYPE;
    if (dwFlags & SSL_CERT_FLAG_ISSUER_UNKNOWN)
        return SSL_ERR_CERT_UNKNOWN;
    if (dwChainLen < 1 || !der_cert_facts(pCertChain[0].pBlobData, pCertChain[0].cbSize, &facts))
        return SSL_ERR_BAD_DATA;
    if (!cert_valid_now(&facts))
        return SSL_ERR_CERT_EXPIRED;
    snprintf(subject, sizeof subject, "CN=%s", facts.cn);
    if (strncmp(subject, "CN=", 3) != 0 || strcmp(subject + 3, host) != 0)
        return SSL_ERR_CERT_UNKNOWN;
    return SSL_ERR_OKAY;
}

struct amqp_conn {
    SOCKET s;
    pthread_mutex_t send_lock, recv_lock;
    char rx[1 << 20];
    size_t rxlen;
    int done;
    int rc, err;
};

/* The receive loop: poll readability (forever), then recv under the receive lock. */
static void *amqp_receiver(void *p)
{
    struct amqp_conn *c = p;
    for (;;) {
        fd_set r;
        struct timeval tv = {0, 100000};
        int n;
        FD_ZERO(&r);
        FD_SET(c->s, &r);
        n = select(0, &r, NULL, NULL, &tv);
        if (n == 0)
            continue;
        if (n < 0) {
            c->rc = -100;
            c->err = WSAGetLastError();
            return NULL;
        }
        pthread_mutex_lock(&c->recv_lock);
        n = recv(c->s, c->rx + c->rxlen, sizeof c->rx - c->rxlen, 0);
        if (n > 0)
            c->rxlen += (size_t)n;
        pthread_mutex_unlock(&c->recv_lock);
        if (n <= 0) {
            c->rc = n;
            c->err = n < 0 ? WSAGetLastError() : 0;
            return NULL;
        }
    }
}

static int amqp_send(struct amqp_conn *c, const char *data, int len)
{
    int n;
    pthread_mutex_lock(&c->send_lock);
    n = send(c->s, data, len, 0);
    pthread_mutex_unlock(&c->send_lock);
    return n == len ? 0 : -1;
}

static SOCKET amqp_socket(const char *host, const char *what)
{
    SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    DWORD secure = SO_SEC_SSL, bytes;
    unsigned char in[2 * sizeof(void *)];
    SSLVALIDATECERTFUNC fn = amqp_cert_hook;
    CHECK(s != INVALID_SOCKET, "%s: socket()", what);
    CHECK(setsockopt(s, SOL_SOCKET, SO_SECURE, (const char *)&secure, sizeof secure) == 0, "%s: SO_SECURE", what);
    memcpy(in, &fn, sizeof(void *));
    memcpy(in + sizeof(void *), &host, sizeof(void *));
    CHECK(WSAIoctl(s, SO_SSL_SET_VALIDATE_CERT_HOOK, in, sizeof in, NULL, 0, &bytes, NULL, NULL) == 0,
          "%s: SET_VALIDATE_CERT_HOOK with a raw {fn, host} buffer of %u bytes", what, (unsigned)sizeof in);
    return s;
}

int main(void)
{
    static struct amqp_conn c;
    static const char host[] = "localhost";
    SOCKADDR_IN addr;
    pthread_t th;
    int rc, err, i, ok;
    size_t good_len, wrong_len;
    unsigned char *good = read_pki("good.der", &good_len);
    unsigned char *wrong = read_pki("wrongname.der", &wrong_len);
    char frame[512], expect[65536];
    size_t elen = 0;

    start_watchdog(55);

    memset(&c, 0, sizeof c);
    pthread_mutex_init(&c.send_lock, NULL);
    pthread_mutex_init(&c.recv_lock, NULL);
    hook_reset(&g_rec, 0);
    c.s = amqp_socket(host, "amqps");
    connect_addr(&addr, env_port("T_PORT_STARTTLS"));
    rc = connect(c.s, (SOCKADDR *)&addr, sizeof addr);
    CHECK(rc == 0, "amqps: connect returns 0 (handshake inside)");
    check_hook(&g_rec, 1, 0, (LPVOID)host, good, good_len, "amqps");

    pthread_create(&th, NULL, amqp_receiver, &c);
    ok = 1;
    for (i = 0; i < N_FRAMES && ok; i++) {
        int n = snprintf(frame, sizeof frame, "ECHO frame %d basic.publish %0*d\r\n", i, i % 300 + 1, i);
        ok = amqp_send(&c, frame, n) == 0;
        elen += (size_t)snprintf(expect + elen, sizeof expect - elen, "frame %d basic.publish %0*d\r\n", i,
                                 i % 300 + 1, i);
    }
    CHECK(ok, "amqps: %d frames sent under the send lock while the receiver polls", N_FRAMES);
    CHECK(amqp_send(&c, "QUIT\r\n", 6) == 0, "amqps: QUIT");
    elen += (size_t)snprintf(expect + elen, sizeof expect - elen, "BYE\r\n");
    pthread_join(th, NULL);
    CHECK(c.rc == 0, "amqps: receiver ended on recv returning 0 (rc %d, err %d)", c.rc, c.err);
    CHECK(c.rxlen == elen && memcmp(c.rx, expect, elen) == 0, "amqps: every frame echoed intact (%lu of %lu bytes)",
          (unsigned long)c.rxlen, (unsigned long)elen);
    CHECK(closesocket(c.s) == 0, "amqps: closesocket");

    /* the hook's own "CN=host" check refuses a trusted certificate for another name */
    hook_reset(&g_rec, 0);
    c.s = amqp_socket(host, "wrong CN");
    connect_addr(&addr, env_port("T_PORT_WRONGNAME"));
    rc = connect(c.s, (SOCKADDR *)&addr, sizeof addr);
    err = WSAGetLastError();
    CHECK(rc == SOCKET_ERROR && err == WSAECONNABORTED, "wrong CN: connect fails with WSAECONNABORTED (rc %d, err %d)",
          rc, err);
    check_hook(&g_rec, 1, 0, (LPVOID)host, wrong, wrong_len, "wrong CN");
    CHECK(recv(c.s, frame, sizeof frame, 0) == SOCKET_ERROR, "wrong CN: a later recv fails");
    closesocket(c.s);

    free(good);
    free(wrong);
    return finish();
}
