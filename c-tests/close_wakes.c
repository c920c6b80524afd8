/*
 * closesocket from another thread wakes a thread blocked on the same secure socket (docs/api.md:
 * "A thread blocked in recv/send/select on the socket wakes and fails with WSAEINTR"; CE documents it
 * for recv and PocketHTTP relies on it). Written with the Windows fd_set and the Winsock select of
 * <winsock2.h> (SSLSOCK_POSIX_FD_SET is not defined).
 *
 * Each case runs 20 rounds, with varied delays between the call starting and the close, to catch
 * races (the descriptor number is reused by the next round's socket at once):
 *  (a) recv on an idle established socket (STARTTLS server, nothing asked);
 *  (b) send of 8 MiB on a socket whose peer stopped reading (the STARTTLS server's `STALL`, small
 *      SO_SNDBUF): the send is checked to be really blocked before the close;
 *  (c) Winsock select(0, {s}, NULL, NULL, NULL) for reading on an idle established socket;
 *  (d) connect in immediate mode, blocked in the handshake against a server that never answers
 *      (T_PORT_STALL).
 * In each round the woken call must return SOCKET_ERROR with WSAEINTR (in its own thread) within
 * 2 s of the closesocket, which itself returns 0. A round whose call stays blocked ends its case.
 */
#include <winsock2.h>
#include <sslsock.h>
#include "common.h"

#define ROUNDS 20
#define WAKE_LIMIT_MS 2000
#define GIVE_UP_MS 4000
#define SEND_BYTES (8u * 1024 * 1024)

enum kind { K_RECV, K_SEND, K_SELECT, K_CONNECT };

static const char *kind_name[] = {
    "(a) recv", "(b) send on a full pipe", "(c) Winsock select for read", "(d) connect (handshake pending)"};

struct blocked {
    enum kind kind;
    SOCKET s;
    int port;                 /* K_CONNECT */
    const char *sendbuf;
    size_t sendlen;
    pthread_mutex_t m;
    pthread_cond_t cv;
    int entered, done;
    int rc, err;
    long long t_done;
};

static void *blocker(void *p)
{
    struct blocked *b = p;
    static __thread char buf[4096];
    int rc = 0, err;

    pthread_mutex_lock(&b->m);
    b->entered = 1;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->m);

    WSASetLastError(0);
    switch (b->kind) {
    case K_RECV:
        rc = recv(b->s, buf, sizeof buf, 0);
        break;
    case K_SEND:
        rc = send(b->s, b->sendbuf, b->sendlen, 0);
        break;
    case K_SELECT: {
        fd_set r;
        FD_ZERO(&r);
        FD_SET(b->s, &r);
        rc = select(0, &r, NULL, NULL, NULL);
        break;
    }
    case K_CONNECT: {
        SOCKADDR_IN sa;
        connect_addr(&sa, b->port);
        rc = connect(b->s, (SOCKADDR *)&sa, sizeof sa);
        break;
    }
    }
    err = WSAGetLastError();

    pthread_mutex_lock(&b->m);
    b->rc = rc;
    b->err = err;
    b->t_done = now_ms();
    b->done = 1;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->m);
    return NULL;
}

/* Waits until b->done or `until` (monotonic ms). Returns b->done. */
static int wait_done(struct blocked *b, long long until)
{
    int done;
    pthread_mutex_lock(&b->m);
    while (!b->done && now_ms() < until) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 10 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&b->cv, &b->m, &ts);
    }
    done = b->done;
    pthread_mutex_unlock(&b->m);
    return done;
}

static SOCKET secure_socket(int small_sndbuf)
{
    SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    if (s == INVALID_SOCKET)
        return s;
    if (small_sndbuf) {
        int sz = 16 * 1024;
        setsockopt(s, SOL_SOCKET, SO_SNDBUF, (const char *)&sz, sizeof sz);
    }
    if (make_secure(s) != 0) {
        closesocket(s);
        return INVALID_SOCKET;
    }
    return s;
}

/* A connected secure socket (immediate handshake, no hook: the test CA is trusted). */
static SOCKET connected(int port, int small_sndbuf)
{
    SOCKADDR_IN sa;
    SOCKET s = secure_socket(small_sndbuf);
    if (s == INVALID_SOCKET)
        return s;
    connect_addr(&sa, port);
    if (connect(s, (SOCKADDR *)&sa, sizeof sa) != 0) {
        closesocket(s);
        return INVALID_SOCKET;
    }
    return s;
}

static void run_case(enum kind kind, int port, int stall_port, const char *sendbuf)
{
    const char *what = kind_name[kind];
    char first_failure[400] = "";
    int round, passed = 0, stuck = 0;
    long long slowest = 0;

    for (round = 0; round < ROUNDS; round++) {
        struct blocked *b = calloc(1, sizeof *b);   /* leaked on purpose if its thread is lost */
        pthread_t th;
        long long t_close, wake;
        int delay = 20 + (round * 37) % 90, close_rc, close_err, ok;
        char line[64];

        pthread_mutex_init(&b->m, NULL);
        pthread_cond_init(&b->cv, NULL);
        b->kind = kind;
        b->port = stall_port;
        b->sendbuf = sendbuf;
        b->sendlen = SEND_BYTES;

        if (kind == K_CONNECT) {
            b->s = secure_socket(0);
        } else {
            b->s = connected(port, kind == K_SEND);
            if (b->s != INVALID_SOCKET && kind == K_SEND &&
                (send_str(b->s, "STALL\r\n") != 0 || recv_line(b->s, line, sizeof line) < 0 ||
                 strcmp(line, "STALL OK") != 0)) {
                snprintf(first_failure, sizeof first_failure, "round %d: STALL command not answered", round);
                closesocket(b->s);
                break;
            }
        }
        if (b->s == INVALID_SOCKET) {
            snprintf(first_failure, sizeof first_failure, "round %d: setup failed (%d, %s)", round,
                     WSAGetLastError(), sslsock_last_error_reason());
            break;
        }

        pthread_create(&th, NULL, blocker, b);
        pthread_mutex_lock(&b->m);
        while (!b->entered)
            pthread_cond_wait(&b->cv, &b->m);
        pthread_mutex_unlock(&b->m);
        if (kind == K_SEND)
            delay += 200;    /* let the send fill the pipe and block */
        usleep((useconds_t)delay * 1000);
        if (wait_done(b, 0)) {
            snprintf(first_failure, sizeof first_failure,
                     "round %d: the call was not blocked: it returned %d (WSA %d) before the close", round, b->rc,
                     b->err);
            pthread_join(th, NULL);
            closesocket(b->s);
            break;
        }

        t_close = now_ms();
        WSASetLastError(0);
        close_rc = closesocket(b->s);
        close_err = WSAGetLastError();
        if (!wait_done(b, t_close + GIVE_UP_MS)) {
            snprintf(first_failure, sizeof first_failure,
                     "round %d: still blocked %d ms after closesocket (closesocket rc %d, WSA %d; delay %d ms)", round,
                     GIVE_UP_MS, close_rc, close_err, delay);
            stuck = 1;
            break;   /* the thread is lost: leave it */
        }
        pthread_join(th, NULL);
        wake = b->t_done - t_close;
        if (wake > slowest)
            slowest = wake;
        ok = close_rc == 0 && b->rc == SOCKET_ERROR && b->err == WSAEINTR && wake < WAKE_LIMIT_MS;
        if (ok) {
            passed++;
        } else if (!first_failure[0]) {
            snprintf(first_failure, sizeof first_failure,
                     "round %d: closesocket rc %d (WSA %d); the call returned %d with WSA %d after %lld ms "
                     "(delay %d ms)", round, close_rc, close_err, b->rc, b->err, wake, delay);
        }
        pthread_mutex_destroy(&b->m);
        pthread_cond_destroy(&b->cv);
        free(b);
    }
    CHECK(passed == ROUNDS,
          "%s: closesocket from another thread wakes the blocked call with SOCKET_ERROR + WSAEINTR within %d ms, "
          "%d rounds (passed %d, slowest wake %lld ms%s%s)",
          what, WAKE_LIMIT_MS, ROUNDS, passed, slowest, first_failure[0] ? "; first failure: " : "", first_failure);
    if (stuck)
        note("%s: a thread is left blocked; later cases go on", what);
}

int main(void)
{
    int port = env_port("T_PORT_STARTTLS");
    int stall = env_port("T_PORT_STALL");
    char *sendbuf;
    WSADATA wsa;
    size_t i;

    start_watchdog(55);
    CHECK(WSAStartup(MAKEWORD(2, 2), &wsa) == 0, "WSAStartup(2.2)");
    sendbuf = malloc(SEND_BYTES);
    for (i = 0; i < SEND_BYTES; i++)
        sendbuf[i] = (char)pattern_byte(i);

    run_case(K_RECV, port, stall, sendbuf);
    run_case(K_SEND, port, stall, sendbuf);
    run_case(K_SELECT, port, stall, sendbuf);
    run_case(K_CONNECT, port, stall, sendbuf);

    free(sendbuf);
    WSACleanup();
    return finish();
}
