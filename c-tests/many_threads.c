/*
 * Many threads, each with its own secure sockets, at the same time.
 *
 * 64 threads start together (a barrier); each opens 4 secure sockets one after the other against
 * the STARTTLS server (immediate handshake inside connect, a validation hook whose pvArg is the
 * thread's own record), and on each: ECHO of a line naming thread and socket, SUM of up to 20 KB of
 * the thread's own bytes (the SHA-256 computed here must come back), QUIT (BYE, then recv 0) on odd
 * sockets or a plain closesocket on even ones. Every handshake must succeed; the hook must run
 * exactly once per handshake, on the thread that called connect, with that thread's pvArg, chain
 * length 1, the server's leaf and flags 0. RLIMIT_NOFILE is raised if it is low. Whole run < 15 s.
 */
#include <winsock2.h>
#include <sslsock.h>
#include <sys/resource.h>
#include "common.h"

#define N_THREADS 64
#define SOCKETS_PER_THREAD 4
#define TIME_LIMIT_MS 15000

static const unsigned char *g_der;
static size_t g_der_len;
static int g_port;
static pthread_barrier_t g_go;

struct worker {
    int id;
    pthread_t self;
    /* what the hook saw */
    int hook_calls;
    int hook_wrong_thread;
    int hook_wrong_arg;
    int hook_bad_args;     /* type, chain length, leaf bytes or flags not as expected */
    /* results */
    int handshakes;
    int failures;
    char first_failure[512];
    long long ms;
};

static int CALLBACK thread_hook(DWORD dwType, LPVOID pvArg, DWORD dwChainLen, LPBLOB pCertChain,
                                DWORD dwFlags)
{
    struct worker *w = (struct worker *)pvArg;
    w->hook_calls++;
    if (!pthread_equal(pthread_self(), w->self))
        w->hook_wrong_thread++;
    if (dwType != SSL_CERT_X509 || dwChainLen != 1 || !pCertChain || dwFlags != 0 ||
        pCertChain[0].cbSize != g_der_len || !pCertChain[0].pBlobData ||
        memcmp(pCertChain[0].pBlobData, g_der, g_der_len) != 0)
        w->hook_bad_args++;
    return SSL_ERR_OKAY;
}

static void fail(struct worker *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct worker *w, const char *fmt, ...)
{
    int wsa = WSAGetLastError();
    va_list ap;
    if (w->failures++ == 0) {
        char what[400];
        va_start(ap, fmt);
        vsnprintf(what, sizeof what, fmt, ap);
        va_end(ap);
        snprintf(w->first_failure, sizeof w->first_failure, "%s (WSAGetLastError()=%d, reason=%.80s)", what,
                 wsa, sslsock_last_error_reason());
    }
}

/* One socket's life. */
static void one_socket(struct worker *w, int j)
{
    static __thread unsigned char data[20000 + 64];
    SOCKADDR_IN sa;
    SOCKET s;
    char line[256], expect[128], cmd[64], hex[65];
    struct sha256 h;
    size_t n, i;
    int before = w->hook_calls;

    s = socket(AF_INET, SOCK_STREAM, 0);
    if (s == INVALID_SOCKET) {
        fail(w, "socket %d: socket()", j);
        return;
    }
    if (make_secure(s) != 0 || set_hook(s, thread_hook, w) != 0) {
        fail(w, "socket %d: SO_SECURE / SET_VALIDATE_CERT_HOOK", j);
        closesocket(s);
        return;
    }
    connect_addr(&sa, g_port);
    if (connect(s, (SOCKADDR *)&sa, sizeof sa) != 0) {
        fail(w, "socket %d: connect (immediate handshake)", j);
        closesocket(s);
        return;
    }
    w->handshakes++;
    if (w->hook_calls != before + 1)
        fail(w, "socket %d: hook called %d times during connect (expected 1)", j, w->hook_calls - before);

    /* ECHO */
    snprintf(expect, sizeof expect, "thread %d socket %d says hello", w->id, j);
    if (!echo_roundtrip(s, expect))
        fail(w, "socket %d: ECHO came back", j);

    /* SUM of this thread's own bytes */
    n = 1000 + (size_t)((w->id * 37 + j * 101) * 7 % 19000);
    for (i = 0; i < n; i++)
        data[i] = (unsigned char)((i * 31 + (size_t)w->id * 7 + (size_t)j * 13) ^ (i >> 5));
    sha256_init(&h);
    sha256_update(&h, data, n);
    sha256_hex(&h, hex);
    snprintf(cmd, sizeof cmd, "SUM %lu\r\n", (unsigned long)n);
    if (send_str(s, cmd) != 0 || send_all(s, data, n) != 0)
        fail(w, "socket %d: send of SUM %lu", j, (unsigned long)n);
    else if (recv_line(s, line, sizeof line) < 0 || strcmp(line, hex) != 0)
        fail(w, "socket %d: SUM %lu answer is the SHA-256 (got '%.70s')", j, (unsigned long)n, line);

    if (j % 2) {
        char c;
        int r;
        if (send_str(s, "QUIT\r\n") != 0 || recv_line(s, line, sizeof line) < 0 || strcmp(line, "BYE") != 0)
            fail(w, "socket %d: QUIT answered BYE", j);
        else if ((r = (int)recv(s, &c, 1, 0)) != 0)
            fail(w, "socket %d: recv returns 0 after BYE (got %d)", j, r);
    }
    if (closesocket(s) != 0)
        fail(w, "socket %d: closesocket", j);
}

static void *worker_main(void *p)
{
    struct worker *w = p;
    long long t0;
    int j;
    w->self = pthread_self();
    pthread_barrier_wait(&g_go);
    t0 = now_ms();
    for (j = 0; j < SOCKETS_PER_THREAD; j++)
        one_socket(w, j);
    w->ms = now_ms() - t0;
    return NULL;
}

int main(void)
{
    static struct worker workers[N_THREADS];
    pthread_t th[N_THREADS];
    struct rlimit rl;
    WSADATA wsa;
    long long t0, elapsed, slowest = 0;
    int i, started = 0, handshakes = 0, hook_calls = 0;

    start_watchdog(50);
    g_port = env_port("T_PORT_STARTTLS");
    g_der = read_pki("good.der", &g_der_len);
    CHECK(WSAStartup(MAKEWORD(2, 2), &wsa) == 0, "WSAStartup(2.2)");

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 1024) {
        rlim_t want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= 1024 ? 1024 : rl.rlim_max;
        rl.rlim_cur = want;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    note("RLIMIT_NOFILE soft limit %lu", (unsigned long)rl.rlim_cur);

    pthread_barrier_init(&g_go, NULL, N_THREADS + 1);
    for (i = 0; i < N_THREADS; i++) {
        workers[i].id = i;
        if (pthread_create(&th[i], NULL, worker_main, &workers[i]) == 0)
            started++;
    }
    CHECK(started == N_THREADS, "%d threads started (got %d)", N_THREADS, started);
    if (started != N_THREADS)
        return finish();
    t0 = now_ms();
    pthread_barrier_wait(&g_go);
    for (i = 0; i < N_THREADS; i++)
        pthread_join(th[i], NULL);
    elapsed = now_ms() - t0;

    for (i = 0; i < N_THREADS; i++) {
        struct worker *w = &workers[i];
        int ok = w->failures == 0 && w->handshakes == SOCKETS_PER_THREAD &&
                 w->hook_calls == SOCKETS_PER_THREAD && !w->hook_wrong_thread && !w->hook_bad_args;
        handshakes += w->handshakes;
        hook_calls += w->hook_calls;
        if (w->ms > slowest)
            slowest = w->ms;
        CHECK(ok,
              "thread %d: %d sockets, each: handshake, hook once on this thread with its pvArg and the leaf, "
              "ECHO, SUM, close (handshakes %d, hook calls %d, on another thread %d, bad hook arguments %d, "
              "failures %d%s%s)",
              i, SOCKETS_PER_THREAD, w->handshakes, w->hook_calls, w->hook_wrong_thread, w->hook_bad_args,
              w->failures, w->failures ? ": first: " : "", w->first_failure);
    }
    CHECK(handshakes == N_THREADS * SOCKETS_PER_THREAD, "%d handshakes in all (got %d)",
          N_THREADS * SOCKETS_PER_THREAD, handshakes);
    CHECK(hook_calls == N_THREADS * SOCKETS_PER_THREAD, "%d hook calls in all, one per handshake (got %d)",
          N_THREADS * SOCKETS_PER_THREAD, hook_calls);
    CHECK(elapsed < TIME_LIMIT_MS, "all %d threads done in under %d ms (took %lld ms, slowest thread %lld ms)",
          N_THREADS, TIME_LIMIT_MS, elapsed, slowest);
    WSACleanup();
    return finish();
}
