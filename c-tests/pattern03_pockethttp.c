/*
 * Pattern 3 - PocketHTTP.
 *
 * SO_SECURE -> hook(server name) with a 16-byte out buffer and non-NULL pcb ->
 * DEFER (16-byte out buffer too) -> connect -> proxy CONNECT in plaintext
 * (select for write with timeout, send; select for read, recv until a blank
 * line) -> PERFORM_HANDSHAKE(name, strlen+1) -> sends looped on partial writes
 * after select-for-write -> recv on a worker thread while the caller waits; on
 * timeout the caller calls closesocket from its own thread and expects the
 * blocked recv to end (SOCKET_ERROR, WSAEINTR).
 * (CreateThread replaced by pthread_create.)
 */
#include <winsock2.h>
#include <sslsock.h>
#include "common.h"

static struct hook_record g_rec;

/* PocketHTTP's hook: pvArg is the host name it connects to. */
static int CALLBACK pocket_cert_hook(DWORD dwType, LPVOID pvArg, DWORD dwChainLen,
                                     LPBLOB pCertChain, DWORD dwFlags)
{
    struct cert_facts facts;
    const char *host = (const char *)pvArg;

    hook_note(&g_rec, dwType, pvArg, dwChainLen, pCertChain, dwFlags);
    if (dwType != SSL_CERT_X509)
        return SSL_ERR_BAD_TYPE;
    if (dwFlags & SSL_CERT_FLAG_ISSUER_UNKNOWN)
        return SSL_ERR_CERT_UNKNOWN;
    if (dwChainLen < 1 || !der_cert_facts(pCertChain[0].pBlobData, pCertChain[0].cbSize, &facts))
        return SSL_ERR_BAD_DATA;
    if (!host || !cn_matches(facts.cn, host))
        return SSL_ERR_CERT_UNKNOWN;
    return SSL_ERR_OKAY;
}

/* select for write with a timeout, then send; loops on partial writes. */
static int pocket_send(SOCKET s, const char *buf, int len)
{
    while (len > 0) {
        fd_set w;
        struct timeval tv;
        int n;
        FD_ZERO(&w);
        FD_SET(s, &w);
        tv.tv_sec = 10;
        tv.tv_usec = 0;
        n = select(s + 1, NULL, &w, NULL, &tv);
        if (n != 1 || !FD_ISSET(s, &w))
            return -1;
        n = send(s, buf, len, 0);
        if (n == SOCKET_ERROR)
            return -1;
        buf += n;
        len -= n;
    }
    return 0;
}

/* ---- the worker thread doing the recv while the caller waits ---- */

struct recv_job {
    SOCKET s;
    int want_line;          /* 1: read one CRLF line; 0: a single recv(512) */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int done;
    int rc;
    int err;
    long long t_end;
    char line[512];
};

static void *recv_worker(void *p)
{
    struct recv_job *job = p;
    int rc, err;
    char buf[512];

    if (job->want_line) {
        rc = recv_line(job->s, job->line, sizeof job->line);
    } else {
        rc = recv(job->s, buf, sizeof buf, 0);
    }
    err = WSAGetLastError();
    pthread_mutex_lock(&job->lock);
    job->rc = rc;
    job->err = err;
    job->t_end = now_ms();
    job->done = 1;
    pthread_cond_signal(&job->cond);
    pthread_mutex_unlock(&job->lock);
    return NULL;
}

static void job_start(struct recv_job *job, pthread_t *th, SOCKET s, int want_line)
{
    memset(job, 0, sizeof *job);
    job->s = s;
    job->want_line = want_line;
    pthread_mutex_init(&job->lock, NULL);
    pthread_cond_init(&job->cond, NULL);
    pthread_create(th, NULL, recv_worker, job);
}

/* Waits up to ms for the worker; 1 if it finished. */
static int job_wait(struct recv_job *job, int ms)
{
    struct timespec ts;
    int done;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&job->lock);
    while (!job->done) {
        if (pthread_cond_timedwait(&job->cond, &job->lock, &ts) != 0)
            break;
    }
    done = job->done;
    pthread_mutex_unlock(&job->lock);
    return done;
}

/* ---- PocketHTTP's connection setup ---- */

static SOCKET pocket_open(const char *host, const char *what)
{
    SOCKET s;
    DWORD secure = SO_SEC_SSL, flags = SSL_FLAG_DEFER_HANDSHAKE, cb;
    SSLVALIDATECERTHOOK hook;
    char out[16];
    SOCKADDR_IN addr;
    int rc;

    s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    CHECK(s != INVALID_SOCKET, "%s: socket()", what);
    rc = setsockopt(s, SOL_SOCKET, SO_SECURE, (const char *)&secure, sizeof secure);
    CHECK(rc == 0, "%s: SO_SECURE", what);

    hook.HookFunc = pocket_cert_hook;
    hook.pvArg = (LPVOID)host;
    cb = 0xdeadbeef;
    rc = WSAIoctl(s, SO_SSL_SET_VALIDATE_CERT_HOOK, &hook, sizeof hook, out, sizeof out, &cb, NULL, NULL);
    CHECK(rc == 0, "%s: SET_VALIDATE_CERT_HOOK with a 16-byte out buffer and non-NULL pcb", what);
    CHECK(cb <= sizeof out, "%s: SET_VALIDATE_CERT_HOOK's *pcbReturned fits the out buffer (got %u)", what,
          (unsigned)cb);

    cb = 0xdeadbeef;
    rc = WSAIoctl(s, SO_SSL_SET_FLAGS, &flags, sizeof flags, out, sizeof out, &cb, NULL, NULL);
    CHECK(rc == 0, "%s: SET_FLAGS(SSL_FLAG_DEFER_HANDSHAKE) with a 16-byte out buffer", what);
    CHECK(cb <= sizeof out, "%s: SET_FLAGS's *pcbReturned fits the out buffer (got %u)", what, (unsigned)cb);

    connect_addr(&addr, env_port("T_PORT_STARTTLS"));
    rc = connect(s, (SOCKADDR *)&addr, sizeof addr);
    CHECK(rc == 0, "%s: connect (plain TCP, deferred handshake)", what);
    return s;
}

/* The proxy CONNECT in plaintext; returns 1 when "HTTP/1.1 200" and the blank line came. */
static int pocket_proxy_connect(SOCKET s, const char *host, int port)
{
    char req[256], resp[1024];
    int len = 0;
    char *status;

    snprintf(req, sizeof req, "CONNECT %s:%d HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: PocketHTTP\r\n\r\n", host,
             port, host, port);
    if (pocket_send(s, req, (int)strlen(req)) != 0)
        return 0;
    /* select for read, recv until a blank line (the test server greets first:
     * its "220" line comes before the proxy answer) */
    for (;;) {
        fd_set r;
        struct timeval tv;
        int n;
        FD_ZERO(&r);
        FD_SET(s, &r);
        tv.tv_sec = 10;
        tv.tv_usec = 0;
        n = select(s + 1, &r, NULL, NULL, &tv);
        if (n != 1)
            return 0;
        if (len >= (int)sizeof resp - 1)
            return 0;
        n = recv(s, resp + len, sizeof resp - 1 - len, 0);
        if (n <= 0)
            return 0;
        len += n;
        resp[len] = 0;
        status = strstr(resp, "HTTP/1.1 200");
        if (status && strstr(status, "\r\n\r\n"))
            return strstr(status, "\r\n\r\n") + 4 == resp + len;   /* nothing after the blank line */
    }
}

int main(void)
{
    static char data[200000];
    const char *host = "localhost";
    SOCKET s;
    DWORD cb;
    int rc, err, i;
    size_t good_len;
    unsigned char *good = read_pki("good.der", &good_len);
    pthread_t th;
    struct recv_job job;
    char digest[65], cmd[64];
    struct sha256 sha;

    start_watchdog(55);

    /* ---- the good path ---- */
    hook_reset(&g_rec, 0);
    s = pocket_open(host, "proxy");
    CHECK(pocket_proxy_connect(s, host, 443), "proxy: CONNECT answered with 200 and a blank line, in plaintext");

    cb = 0xdeadbeef;
    rc = WSAIoctl(s, SO_SSL_PERFORM_HANDSHAKE, (LPVOID)host, (DWORD)strlen(host) + 1, NULL, 0, &cb, NULL, NULL);
    CHECK(rc == 0, "proxy: PERFORM_HANDSHAKE(name, strlen+1) returns 0");
    check_hook(&g_rec, 1, 0, (LPVOID)host, good, good_len, "proxy");

    /* request: SUM of 200000 bytes, sent with select-for-write + partial-write loop */
    for (i = 0; i < (int)sizeof data; i++)
        data[i] = (char)pattern_byte((size_t)i * 13 + 5);
    sha256_init(&sha);
    sha256_update(&sha, data, sizeof data);
    sha256_hex(&sha, digest);
    snprintf(cmd, sizeof cmd, "SUM %d\r\n", (int)sizeof data);
    CHECK(pocket_send(s, cmd, (int)strlen(cmd)) == 0, "proxy: send SUM command");
    CHECK(pocket_send(s, data, (int)sizeof data) == 0, "proxy: send 200000 bytes in a partial-write loop");

    /* the answer is read by a worker thread while the caller waits */
    job_start(&job, &th, s, 1);
    CHECK(job_wait(&job, 10000), "proxy: worker's recv finished within the wait");
    pthread_join(th, NULL);
    CHECK(job.rc == 64 && strcmp(job.line, digest) == 0,
          "proxy: server's SHA-256 of the sent bytes matches (got '%s')", job.line);

    job_start(&job, &th, s, 1);
    CHECK(pocket_send(s, "ECHO worker\r\n", 13) == 0, "proxy: send ECHO while the worker waits in recv");
    CHECK(job_wait(&job, 10000) && job.rc >= 0 && strcmp(job.line, "worker") == 0,
          "proxy: worker receives the echo (got '%s')", job.line);
    pthread_join(th, NULL);

    /* ---- timeout: the server stays silent, the worker blocks in recv ---- */
    job_start(&job, &th, s, 0);
    CHECK(!job_wait(&job, 1000), "timeout: worker is still blocked in recv after 1 s (server idle)");
    {
        long long t0 = now_ms();
        rc = closesocket(s);
        CHECK(rc == 0, "timeout: closesocket from the caller's thread returns 0");
        CHECK(job_wait(&job, 3000), "timeout: the blocked recv ended after closesocket");
        pthread_join(th, NULL);
        CHECK(job.rc == SOCKET_ERROR, "timeout: the blocked recv returned SOCKET_ERROR (got %d)", job.rc);
        CHECK(job.err == WSAEINTR, "timeout: the worker's WSAGetLastError() == WSAEINTR (got %d)", job.err);
        CHECK(job.done && job.t_end - t0 < 2000, "timeout: recv ended within 2 s of closesocket (%lld ms)",
              job.done ? job.t_end - t0 : -1LL);
    }

    /* ---- the name given to PERFORM_HANDSHAKE is the name checked ---- */
    {
        const char *other = "other.example";
        char c;
        hook_reset(&g_rec, 0);
        s = pocket_open(other, "other name");
        CHECK(pocket_proxy_connect(s, other, 443), "other name: CONNECT answered in plaintext");
        rc = WSAIoctl(s, SO_SSL_PERFORM_HANDSHAKE, (LPVOID)other, (DWORD)strlen(other) + 1, NULL, 0, &cb, NULL,
                      NULL);
        err = WSAGetLastError();
        CHECK(rc == SOCKET_ERROR, "other name: PERFORM_HANDSHAKE fails when the hook refuses (got %d)", rc);
        CHECK(err == WSAECONNABORTED, "other name: WSAGetLastError() == WSAECONNABORTED (got %d)", err);
        check_hook(&g_rec, 1, SSL_CERT_FLAG_ISSUER_UNKNOWN, (LPVOID)other, good, good_len, "other name");
        rc = send(s, "ECHO x\r\n", 8, 0);
        CHECK(rc == SOCKET_ERROR, "other name: later send fails (got %d)", rc);
        rc = recv(s, &c, 1, 0);
        CHECK(rc == SOCKET_ERROR, "other name: later recv fails (got %d)", rc);
        CHECK(closesocket(s) == 0, "other name: closesocket");
    }

    free(good);
    return finish();
}
