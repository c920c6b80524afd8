/*
 * SO_RCVTIMEO / SO_SNDTIMEO on secure sockets, as shipped CE code sets them (a 4-byte DWORD of
 * milliseconds, pattern 14) and as Linux code does (a struct timeval). A call that times out fails
 * with SOCKET_ERROR and WSAETIMEDOUT (Winsock's meaning), after about the timeout.
 *
 *  - immediate connect to a server that accepts TCP and never answers (T_PORT_STALL), 500 ms
 *    receive timeout as a DWORD, then as a timeval: WSAETIMEDOUT in [0.4 s, 5 s);
 *  - deferred mode against the same server: connect (plain TCP) succeeds, PERFORM_HANDSHAKE times
 *    out the same way;
 *  - recv on an established, idle secure socket (STARTTLS server): WSAETIMEDOUT (DWORD, timeval);
 *    getsockopt(SO_RCVTIMEO) with a 4-byte buffer gives the milliseconds back;
 *  - send of 8 MiB on a secure socket whose peer stopped reading (STARTTLS server's STALL, small
 *    SO_SNDBUF) with a 500 ms send timeout: WSAETIMEDOUT (DWORD, timeval).
 * Each call runs in a helper thread; one that is still blocked after 8 s is reported and the
 * socket closed under it.
 */
#include <winsock2.h>
#include <sslsock.h>
#include "common.h"

#define TIMEOUT_MS 500
#define MIN_MS 400
#define MAX_MS 5000
#define GIVE_UP_MS 8000
#define SEND_BYTES (8u * 1024 * 1024)

enum op { OP_CONNECT, OP_PH, OP_RECV, OP_SEND };

struct call {
    enum op op;
    SOCKET s;
    int port;
    const char *buf;
    size_t len;
    pthread_mutex_t m;
    pthread_cond_t cv;
    int done, rc, err, err_no;
    long long ms;
};

static void *caller(void *p)
{
    struct call *c = p;
    static __thread char rbuf[4096];
    long long t0 = now_ms();
    int rc = 0, err, e;
    SOCKADDR_IN sa;
    DWORD cb = 0;

    WSASetLastError(0);
    errno = 0;
    switch (c->op) {
    case OP_CONNECT:
        connect_addr(&sa, c->port);
        rc = connect(c->s, (SOCKADDR *)&sa, sizeof sa);
        break;
    case OP_PH:
        rc = WSAIoctl(c->s, SO_SSL_PERFORM_HANDSHAKE, NULL, 0, NULL, 0, &cb, NULL, NULL);
        break;
    case OP_RECV:
        rc = (int)recv(c->s, rbuf, sizeof rbuf, 0);
        break;
    case OP_SEND:
        rc = (int)send(c->s, c->buf, c->len, 0);
        break;
    }
    err = WSAGetLastError();
    e = errno;
    pthread_mutex_lock(&c->m);
    c->rc = rc;
    c->err = err;
    c->err_no = e;
    c->ms = now_ms() - t0;
    c->done = 1;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->m);
    return NULL;
}

/* Runs the call in a thread and checks: SOCKET_ERROR, WSAETIMEDOUT, in [MIN_MS, MAX_MS). */
static void expect_timeout(enum op op, SOCKET s, int port, const char *buf, size_t len, const char *what)
{
    struct call *c = calloc(1, sizeof *c);
    pthread_t th;
    long long until = now_ms() + GIVE_UP_MS;
    int done;

    c->op = op;
    c->s = s;
    c->port = port;
    c->buf = buf;
    c->len = len;
    pthread_mutex_init(&c->m, NULL);
    pthread_cond_init(&c->cv, NULL);
    pthread_create(&th, NULL, caller, c);
    pthread_mutex_lock(&c->m);
    while (!c->done && now_ms() < until) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&c->cv, &c->m, &ts);
    }
    done = c->done;
    pthread_mutex_unlock(&c->m);
    if (!done) {
        CHECK(0, "%s: fails with WSAETIMEDOUT after about %d ms (still blocked after %d ms)", what, TIMEOUT_MS,
              GIVE_UP_MS);
        closesocket(s);   /* should wake it (close_wakes.c); the thread and c are left alone */
        return;
    }
    pthread_join(th, NULL);
    CHECK(c->rc == SOCKET_ERROR && c->err == WSAETIMEDOUT,
          "%s: fails with SOCKET_ERROR, WSAETIMEDOUT (rc %d, WSA %d, errno %d)", what, c->rc, c->err, c->err_no);
    CHECK(c->ms >= MIN_MS && c->ms < MAX_MS, "%s: after %d..%d ms (took %lld ms)", what, MIN_MS, MAX_MS, c->ms);
    pthread_mutex_destroy(&c->m);
    pthread_cond_destroy(&c->cv);
    free(c);
    CHECK(closesocket(s) == 0, "%s: closesocket", what);
}

/* SO_RCVTIMEO or SO_SNDTIMEO: a 4-byte DWORD of milliseconds, or a Linux struct timeval. */
static int set_timeout(SOCKET s, int name, int as_timeval, int ms)
{
    if (as_timeval) {
        struct timeval tv;
        tv.tv_sec = ms / 1000;
        tv.tv_usec = (ms % 1000) * 1000;
        return setsockopt(s, SOL_SOCKET, name, (const char *)&tv, sizeof tv);
    } else {
        DWORD v = (DWORD)ms;
        return setsockopt(s, SOL_SOCKET, name, (const char *)&v, sizeof v);
    }
}

static const char *shape(int as_timeval)
{
    return as_timeval ? "struct timeval" : "4-byte DWORD";
}

static void connect_times_out(int stall, int as_timeval)
{
    char what[160];
    SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    snprintf(what, sizeof what, "immediate connect to a silent server, SO_RCVTIMEO %d ms as a %s", TIMEOUT_MS,
             shape(as_timeval));
    CHECK(make_secure(s) == 0, "%s: SO_SECURE", what);
    CHECK(set_timeout(s, SO_RCVTIMEO, as_timeval, TIMEOUT_MS) == 0, "%s: setsockopt(SO_RCVTIMEO)", what);
    expect_timeout(OP_CONNECT, s, stall, NULL, 0, what);
}

static void ph_times_out(int stall, int as_timeval)
{
    char what[160];
    SOCKADDR_IN sa;
    DWORD f = SSL_FLAG_DEFER_HANDSHAKE;
    SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    snprintf(what, sizeof what, "deferred PERFORM_HANDSHAKE with a silent server, SO_RCVTIMEO %d ms as a %s",
             TIMEOUT_MS, shape(as_timeval));
    CHECK(make_secure(s) == 0, "%s: SO_SECURE", what);
    CHECK(WSAIoctl(s, SO_SSL_SET_FLAGS, &f, sizeof f, NULL, 0, NULL, NULL, NULL) == 0, "%s: SET_FLAGS(DEFER)", what);
    CHECK(set_timeout(s, SO_RCVTIMEO, as_timeval, TIMEOUT_MS) == 0, "%s: setsockopt(SO_RCVTIMEO)", what);
    connect_addr(&sa, stall);
    CHECK(connect(s, (SOCKADDR *)&sa, sizeof sa) == 0, "%s: connect (plain TCP) succeeds", what);
    expect_timeout(OP_PH, s, stall, NULL, 0, what);
}

static SOCKET established(int port, const char *what, int small_sndbuf)
{
    SOCKADDR_IN sa;
    SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    if (small_sndbuf) {
        int sz = 16 * 1024;
        setsockopt(s, SOL_SOCKET, SO_SNDBUF, (const char *)&sz, sizeof sz);
    }
    CHECK(make_secure(s) == 0, "%s: SO_SECURE", what);
    connect_addr(&sa, port);
    CHECK(connect(s, (SOCKADDR *)&sa, sizeof sa) == 0, "%s: connect (immediate handshake)", what);
    return s;
}

static void recv_times_out(int port, int as_timeval)
{
    char what[160];
    DWORD back = 0;
    socklen_t len = sizeof back;
    SOCKET s;
    int r;

    snprintf(what, sizeof what, "recv on an idle established socket, SO_RCVTIMEO %d ms as a %s", TIMEOUT_MS,
             shape(as_timeval));
    s = established(port, what, 0);
    CHECK(echo_roundtrip(s, "before the timeout"), "%s: ECHO works", what);
    CHECK(set_timeout(s, SO_RCVTIMEO, as_timeval, TIMEOUT_MS) == 0, "%s: setsockopt(SO_RCVTIMEO) after connect",
          what);
    r = getsockopt(s, SOL_SOCKET, SO_RCVTIMEO, (char *)&back, &len);
    CHECK(r == 0 && len == 4 && back == TIMEOUT_MS,
          "%s: getsockopt(SO_RCVTIMEO) into a DWORD gives %d ms back (rc %d, len %u, got %u)", what, TIMEOUT_MS, r,
          (unsigned)len, (unsigned)back);
    expect_timeout(OP_RECV, s, port, NULL, 0, what);
}

static void send_times_out(int port, int as_timeval, const char *data)
{
    char what[160], line[64];
    SOCKET s;

    snprintf(what, sizeof what, "send of 8 MiB to a peer that stopped reading, SO_SNDTIMEO %d ms as a %s",
             TIMEOUT_MS, shape(as_timeval));
    s = established(port, what, 1);
    CHECK(send_str(s, "STALL\r\n") == 0 && recv_line(s, line, sizeof line) >= 0 && strcmp(line, "STALL OK") == 0,
          "%s: the server answers STALL OK (and stops reading)", what);
    CHECK(set_timeout(s, SO_SNDTIMEO, as_timeval, TIMEOUT_MS) == 0, "%s: setsockopt(SO_SNDTIMEO)", what);
    expect_timeout(OP_SEND, s, port, data, SEND_BYTES, what);
}

int main(void)
{
    int port = env_port("T_PORT_STARTTLS");
    int stall = env_port("T_PORT_STALL");
    char *data = malloc(SEND_BYTES);
    WSADATA wsa;
    size_t i;

    start_watchdog(55);
    CHECK(WSAStartup(MAKEWORD(2, 2), &wsa) == 0, "WSAStartup(2.2)");
    for (i = 0; i < SEND_BYTES; i++)
        data[i] = (char)pattern_byte(i);

    connect_times_out(stall, 0);
    connect_times_out(stall, 1);
    ph_times_out(stall, 0);
    ph_times_out(stall, 1);
    recv_times_out(port, 0);
    recv_times_out(port, 1);
    send_times_out(port, 0, data);
    send_times_out(port, 1, data);

    free(data);
    WSACleanup();
    return finish();
}
