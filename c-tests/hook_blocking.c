/*
 * hook_blocking.c - a certificate hook that blocks for seconds (issue 7, callbacks that misbehave).
 *
 * The hook runs on the thread driving the handshake, with no lock of sslsock held, so:
 *   1. while one socket's hook sleeps 2 s, other sockets on other threads keep working: echo
 *      round trips on an established socket and a whole new handshake (with its own hook) finish
 *      in well under the sleep; the sleeping socket's connect returns 0 after the hook returns,
 *      and the socket works;
 *   2. SO_RCVTIMEO bounds the waits for the network, not the program's own hook: a hook that
 *      sleeps longer than the timeout still lets the handshake complete;
 *   3. closesocket from another thread while the hook sleeps returns at once (it does not wait
 *      for the hook), and the handshake's connect then fails with WSAEINTR once the hook returns;
 *   4. a hook that refuses after sleeping fails connect with WSAECONNABORTED, and other sockets
 *      were not held up meanwhile.
 *
 * Peer: T_PORT_STARTTLS (tests/servers/starttls_server.py, threaded, immediate TLS accepted).
 */
#include <winsock2.h>
#include <sslsock.h>
#include "common.h"

#define HOOK_SLEEP_MS 2000

struct sleepy {
    int sleep_ms;
    int verdict;
    volatile int entered;  /* set when the hook starts sleeping */
    volatile int returned; /* set when it returns */
    long long entered_at, returned_at;
};

static int CALLBACK sleepy_hook(DWORD dwType, LPVOID pvArg, DWORD dwChainLen, LPBLOB pCertChain,
                                DWORD dwFlags)
{
    struct sleepy *s = (struct sleepy *)pvArg;
    (void)dwType; (void)dwChainLen; (void)pCertChain; (void)dwFlags;
    s->entered_at = now_ms();
    __atomic_store_n(&s->entered, 1, __ATOMIC_SEQ_CST);
    usleep((useconds_t)s->sleep_ms * 1000);
    s->returned_at = now_ms();
    __atomic_store_n(&s->returned, 1, __ATOMIC_SEQ_CST);
    return s->verdict;
}

static int CALLBACK quick_hook(DWORD dwType, LPVOID pvArg, DWORD dwChainLen, LPBLOB pCertChain,
                               DWORD dwFlags)
{
    (void)dwType; (void)dwChainLen; (void)pCertChain;
    (*(int *)pvArg)++;
    return dwFlags == 0 ? SSL_ERR_OKAY : SSL_ERR_CERT_UNKNOWN;
}

static int g_port;

/* A secure socket with the given hook, not connected. Cache size 0: a full handshake every time
 * (a resumed one would also call the hook, but this keeps the server's view simple). */
static SOCKET secure_socket(SSLVALIDATECERTFUNC fn, void *arg, DWORD rcvtimeo_ms)
{
    SOCKET s = socket(AF_INET, SOCK_STREAM, 0);
    SSLCLIENTOPTS opts = {0, 0};
    make_secure(s);
    set_hook(s, fn, arg);
    WSAIoctl(s, SO_SSL_SET_CLIENT_OPTS, &opts, sizeof opts, NULL, 0, NULL, NULL, NULL);
    if (rcvtimeo_ms)
        setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, (const char *)&rcvtimeo_ms, sizeof rcvtimeo_ms);
    return s;
}

struct connector {
    SOCKET s;
    int rc, err;
    long long took_ms;
    char reason[300];
};

static void *connect_thread(void *arg)
{
    struct connector *c = arg;
    SOCKADDR_IN sa;
    long long t0 = now_ms();
    connect_addr(&sa, g_port);
    WSASetLastError(0);
    c->rc = connect(c->s, (struct sockaddr *)&sa, sizeof sa);
    c->err = WSAGetLastError();
    snprintf(c->reason, sizeof c->reason, "%s", c->rc == 0 ? "" : sslsock_last_error_reason());
    c->took_ms = now_ms() - t0;
    return NULL;
}

static void wait_entered(struct sleepy *s)
{
    long long t0 = now_ms();
    while (!__atomic_load_n(&s->entered, __ATOMIC_SEQ_CST) && now_ms() - t0 < 10000)
        usleep(1000);
}

/* 1 and 4: other sockets keep working while a hook sleeps. */
static void others_progress(int verdict)
{
    const char *what = verdict == SSL_ERR_OKAY ? "accepting" : "refusing";
    struct sleepy sl = {HOOK_SLEEP_MS, verdict, 0, 0, 0, 0};
    struct connector c;
    pthread_t t;
    SOCKADDR_IN sa;
    SOCKET busy, fresh;
    int i, echoes_ok = 1, fresh_calls = 0, rc;
    long long worst = 0, t0, fresh_ms;

    /* an established socket for the echoes */
    busy = secure_socket(quick_hook, &fresh_calls, 0);
    connect_addr(&sa, g_port);
    CHECK(connect(busy, (struct sockaddr *)&sa, sizeof sa) == 0, "%s: a second socket connects", what);
    fresh_calls = 0;

    memset(&c, 0, sizeof c);
    c.s = secure_socket(sleepy_hook, &sl, 0);
    pthread_create(&t, NULL, connect_thread, &c);
    wait_entered(&sl);
    CHECK(sl.entered && !sl.returned, "%s: the sleeping hook was entered", what);

    /* echoes on the other socket while the hook sleeps */
    for (i = 0; i < 20 && !__atomic_load_n(&sl.returned, __ATOMIC_SEQ_CST); i++) {
        char text[32];
        t0 = now_ms();
        snprintf(text, sizeof text, "while-hook-sleeps-%d", i);
        if (!echo_roundtrip(busy, text))
            echoes_ok = 0;
        if (now_ms() - t0 > worst)
            worst = now_ms() - t0;
    }
    CHECK(echoes_ok && i > 0 && worst < 500,
          "%s: %d echo round trips on another socket while the hook slept, the slowest %lld ms",
          what, i, worst);

    /* a whole new handshake, with its own hook, while the first hook still sleeps */
    fresh = secure_socket(quick_hook, &fresh_calls, 0);
    t0 = now_ms();
    rc = connect(fresh, (struct sockaddr *)&sa, sizeof sa);
    fresh_ms = now_ms() - t0;
    CHECK(rc == 0 && fresh_calls == 1 && !__atomic_load_n(&sl.returned, __ATOMIC_SEQ_CST),
          "%s: a new handshake on another socket completes (its hook called once) in %lld ms "
          "while the first hook still sleeps (rc %d, calls %d)",
          what, fresh_ms, rc, fresh_calls);
    CHECK(rc == 0 && echo_roundtrip(fresh, "fresh"), "%s: and that socket works", what);
    closesocket(fresh);

    pthread_join(t, NULL);
    if (verdict == SSL_ERR_OKAY) {
        CHECK(c.rc == 0 && c.took_ms >= HOOK_SLEEP_MS - 50,
              "%s: the sleeping socket's connect returns 0 after the hook returns (%lld ms, rc %d, "
              "err %d %s)",
              what, c.took_ms, c.rc, c.err, c.reason);
        CHECK(c.rc == 0 && echo_roundtrip(c.s, "after-the-sleep"),
              "%s: the socket whose hook slept works", what);
    } else {
        CHECK(c.rc == SOCKET_ERROR && c.err == WSAECONNABORTED && strstr(c.reason, "hook") != NULL,
              "%s: the refusing hook fails connect with WSAECONNABORTED after %lld ms (rc %d, err "
              "%d: %s)",
              what, c.took_ms, c.rc, c.err, c.reason);
    }
    closesocket(c.s);
    closesocket(busy);
}

/* 2: SO_RCVTIMEO does not cut the program's own hook short. */
static void timeout_is_for_the_network(void)
{
    struct sleepy sl = {1500, SSL_ERR_OKAY, 0, 0, 0, 0};
    struct connector c;
    memset(&c, 0, sizeof c);
    c.s = secure_socket(sleepy_hook, &sl, 300);
    connect_thread(&c);
    CHECK(c.rc == 0 && sl.returned,
          "a hook sleeping 1500 ms under SO_RCVTIMEO 300 ms: the handshake completes (rc %d, err "
          "%d, %lld ms) %s",
          c.rc, c.err, c.took_ms, c.reason);
    CHECK(c.rc == 0 && echo_roundtrip(c.s, "after-timeout-test"), "and the socket works");
    closesocket(c.s);
}

/* 3: closesocket from another thread while the hook sleeps. */
static void close_during_hook(void)
{
    struct sleepy sl = {HOOK_SLEEP_MS, SSL_ERR_OKAY, 0, 0, 0, 0};
    struct connector c;
    pthread_t t;
    long long t0, close_ms;
    int rc;

    memset(&c, 0, sizeof c);
    c.s = secure_socket(sleepy_hook, &sl, 0);
    pthread_create(&t, NULL, connect_thread, &c);
    wait_entered(&sl);
    t0 = now_ms();
    rc = closesocket(c.s);
    close_ms = now_ms() - t0;
    CHECK(rc == 0 && close_ms < 500 && !__atomic_load_n(&sl.returned, __ATOMIC_SEQ_CST),
          "closesocket while the hook sleeps returns 0 at once (%lld ms, rc %d), not after the hook",
          close_ms, rc);
    pthread_join(t, NULL);
    CHECK(c.rc == SOCKET_ERROR && c.err == WSAEINTR && sl.returned,
          "the handshake's connect fails with WSAEINTR once the hook returns (rc %d, err %d, %lld "
          "ms: %s)",
          c.rc, c.err, c.took_ms, c.reason);
}

int main(void)
{
    WSADATA wsa;
    g_port = env_port("T_PORT_STARTTLS");
    start_watchdog(50);
    WSAStartup(MAKEWORD(2, 2), &wsa);

    others_progress(SSL_ERR_OKAY);
    others_progress(SSL_ERR_CERT_UNKNOWN);
    timeout_is_for_the_network();
    close_during_hook();

    WSACleanup();
    return finish();
}
