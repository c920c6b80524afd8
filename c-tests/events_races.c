/*
 * events_races.c - the WSAEventSelect watcher against a certificate hook that waits for the program,
 * and against sockets that hung up (docs/api.md, "The event model").
 *
 * 1. A certificate hook that runs on the watcher (a handshake the watcher moves on) takes a program
 *    mutex that another thread holds while it closes an unrelated selected socket: the close returns
 *    (it waits only while the watcher touches that very number), then the hook, FD_CONNECT (error 0).
 * 2. FD_OOB with nothing else to wait for on a socket whose peer hung up (a socketpair; a TCP
 *    connection reset after FD_CLOSE; a secure connection with FD_ALL_EVENTS after FD_CLOSE): the
 *    process stays idle (CPU time under a tenth of the wall time of a 1 s sleep: a watcher polling
 *    the hang-up again and again takes a whole core, or its share of one).
 * 3. FD_OOB is still recorded for urgent data on a TCP connection, and again for more urgent data
 *    after a recv(MSG_OOB) re-enabled it; once both sides ended, a recv that re-enables FD_OOB
 *    leaves the watcher idle still.
 *
 * Waits that must succeed are bounded by seconds; a close that does not return within 10 s fails the
 * program (the deadlock cannot be undone: it ends with _exit).
 */
#include <winsock2.h>
#include <sslsock.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/tcp.h>
#include "common.h"

#define LONG_WAIT 15000u /* ms: a bound for waits that must succeed */

/* ---- 1. a hook that waits for a thread that closes another selected socket ---- */

static pthread_mutex_t g_prog_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t g_flag_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_flag_cond = PTHREAD_COND_INITIALIZER;
static int g_locked, g_go, g_closed, g_in_hook, g_hook_done, g_close_rc = -2;
static int g_other = -1;

static void set_flag(int *flag)
{
    pthread_mutex_lock(&g_flag_lock);
    *flag = 1;
    pthread_cond_broadcast(&g_flag_cond);
    pthread_mutex_unlock(&g_flag_lock);
}

/* Waits up to ms for *flag; returns it. */
static int wait_flag(int *flag, long long ms)
{
    struct timespec until;
    int v;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&g_flag_lock);
    while (!*flag && pthread_cond_timedwait(&g_flag_cond, &g_flag_lock, &until) == 0) {
    }
    v = *flag;
    pthread_mutex_unlock(&g_flag_lock);
    return v;
}

static int CALLBACK program_hook(DWORD type, LPVOID arg, DWORD n, LPBLOB chain, DWORD flags)
{
    (void)type; (void)arg; (void)n; (void)chain; (void)flags;
    set_flag(&g_in_hook);
    pthread_mutex_lock(&g_prog_lock); /* e.g. the program's log or certificate-store lock */
    pthread_mutex_unlock(&g_prog_lock);
    set_flag(&g_hook_done);
    return SSL_ERR_OKAY;
}

/* Holds the program's lock while it closes the other selected socket. */
static void *closer(void *unused)
{
    (void)unused;
    pthread_mutex_lock(&g_prog_lock);
    set_flag(&g_locked);
    wait_flag(&g_go, LONG_WAIT);
    g_close_rc = close(g_other);
    set_flag(&g_closed);
    pthread_mutex_unlock(&g_prog_lock);
    return NULL;
}

static void hook_vs_close(void)
{
    SOCKADDR_IN sa;
    int sp[2];
    WSAEVENT ev = WSACreateEvent(), ev2 = WSACreateEvent();
    SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    WSANETWORKEVENTS all;
    pthread_t t;
    int rc, got;

    connect_addr(&sa, env_port("T_PORT_STARTTLS"));
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0, "1: socketpair");
    g_other = sp[0];
    CHECK(WSAEventSelect(sp[0], ev2, FD_READ) == 0, "1: another socket selected (FD_READ, nothing to read)");
    CHECK(make_secure(s) == 0 && set_hook(s, program_hook, NULL) == 0, "1: secure socket with a hook");
    pthread_create(&t, NULL, closer, NULL);
    CHECK(wait_flag(&g_locked, LONG_WAIT), "1: the other thread holds the program's lock");
    CHECK(WSAEventSelect(s, ev, FD_CONNECT | FD_READ) == 0, "1: WSAEventSelect before connect");
    rc = connect(s, (SOCKADDR *)&sa, sizeof sa);
    CHECK(rc == SOCKET_ERROR && WSAGetLastError() == WSAEWOULDBLOCK,
          "1: connect under way (WSAEWOULDBLOCK): the watcher moves the handshake on");
    CHECK(wait_flag(&g_in_hook, LONG_WAIT), "1: the hook runs (on the watcher) and waits for the lock");
    set_flag(&g_go);
    if (!CHECK(wait_flag(&g_closed, 10000),
               "1: close of the other selected socket returns while the hook waits for its thread")) {
        finish();
        _exit(1); /* the watcher and the closing thread wait for each other for ever */
    }
    CHECK(g_close_rc == 0, "1: that close succeeded (%d)", g_close_rc);
    pthread_join(t, NULL);
    CHECK(wait_flag(&g_hook_done, LONG_WAIT), "1: the hook got the lock and returned");
    got = collect_events(s, ev, FD_CONNECT, LONG_WAIT, &all);
    CHECK(got && all.iErrorCode[FD_CONNECT_BIT] == 0,
          "1: FD_CONNECT recorded, error 0 (events 0x%lx, error %d)", all.lNetworkEvents,
          all.iErrorCode[FD_CONNECT_BIT]);
    CHECK(closesocket(s) == 0 && close(sp[1]) == 0, "1: the rest closed");
    WSACloseEvent(ev);
    WSACloseEvent(ev2);
}

/* ---- 2. hung-up sockets: the watcher sleeps ---- */

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* Sleeps about 1 s; checks the process used less CPU than a tenth of the wall time meanwhile. An idle
 * process uses next to none however loaded the machine; a spinning watcher takes a whole core, or on a
 * loaded machine what share of a core the scheduler gives it (a third, seen with two busy cores). */
static void check_idle(const char *what)
{
    long long t0 = now_ms();
    double c0 = cpu_seconds(), used, wall;
    usleep(1000000);
    used = cpu_seconds() - c0;
    wall = (now_ms() - t0) / 1000.0;
    CHECK(used < wall / 10, "%s: the watcher sleeps (%.3f s CPU in %.3f s)", what, used, wall);
}

/* A connected TCP pair on loopback: *client and *server. */
static int tcp_pair(SOCKET *client, SOCKET *server)
{
    SOCKADDR_IN sa;
    socklen_t len = sizeof sa;
    SOCKET l = socket(AF_INET, SOCK_STREAM, 0);
    connect_addr(&sa, 0);
    if (bind(l, (SOCKADDR *)&sa, sizeof sa) != 0 || listen(l, 1) != 0 ||
        getsockname(l, (SOCKADDR *)&sa, &len) != 0)
        return 0;
    *client = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(*client, (SOCKADDR *)&sa, sizeof sa) != 0)
        return 0;
    *server = accept(l, NULL, NULL);
    closesocket(l);
    return *server != INVALID_SOCKET;
}

static void hung_up_plain(void)
{
    int sp[2];
    WSAEVENT ev = WSACreateEvent();
    SOCKET c, s;
    WSANETWORKEVENTS all;
    struct linger lg = {1, 0};
    int got;

    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0, "2: socketpair");
    CHECK(WSAEventSelect(sp[0], ev, FD_OOB) == 0, "2: socketpair end selected for FD_OOB alone");
    close(sp[1]);
    usleep(100000);
    check_idle("2: FD_OOB on a socketpair whose peer closed");
    CHECK(closesocket(sp[0]) == 0, "2: closesocket of it");

    if (!CHECK(tcp_pair(&c, &s), "2: TCP pair on loopback"))
        return;
    CHECK(WSAEventSelect(c, ev, FD_ALL_EVENTS) == 0, "2: TCP client selected (FD_ALL_EVENTS)");
    setsockopt(s, SOL_SOCKET, SO_LINGER, (const char *)&lg, sizeof lg);
    closesocket(s); /* a reset */
    got = collect_events(c, ev, FD_CLOSE, LONG_WAIT, &all);
    CHECK(got, "2: FD_CLOSE after the peer's reset (error %d)", all.iErrorCode[FD_CLOSE_BIT]);
    check_idle("2: FD_ALL_EVENTS on a TCP socket reset, after FD_CLOSE");
    CHECK(closesocket(c) == 0, "2: closesocket of it");
    WSACloseEvent(ev);
}

static void hung_up_secure(void)
{
    SOCKADDR_IN sa;
    SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    WSAEVENT ev = WSACreateEvent();
    long got = 0;
    long long deadline = now_ms() + LONG_WAIT;

    CHECK(make_secure(s) == 0, "2: secure socket");
    connect_addr(&sa, env_port("T_PORT_STARTTLS"));
    CHECK(connect(s, (SOCKADDR *)&sa, sizeof sa) == 0, "2: secure connect");
    CHECK(WSAEventSelect(s, ev, FD_ALL_EVENTS) == 0, "2: secure socket selected (FD_ALL_EVENTS)");
    send_str(s, "QUIT\r\n");
    while (!(got & FD_CLOSE) && now_ms() < deadline) {
        WSANETWORKEVENTS ne = {0, {0}};
        char b[256];
        WSAWaitForMultipleEvents(1, &ev, FALSE, 1000, FALSE);
        WSAEnumNetworkEvents(s, ev, &ne);
        got |= ne.lNetworkEvents;
        while (recv(s, b, sizeof b, 0) > 0) {
        }
    }
    CHECK(got & FD_CLOSE, "2: FD_CLOSE after QUIT (events 0x%lx)", got);
    check_idle("2: FD_ALL_EVENTS on a secure socket, after FD_CLOSE");
    CHECK(closesocket(s) == 0, "2: closesocket of it");
    WSACloseEvent(ev);
}

/* ---- 3. FD_OOB is still recorded ---- */

static void oob_recorded(void)
{
    SOCKET c, s;
    WSAEVENT ev = WSACreateEvent();
    WSANETWORKEVENTS all;
    char b[16];
    int got;

    if (!CHECK(tcp_pair(&c, &s), "3: TCP pair on loopback"))
        return;
    CHECK(WSAEventSelect(c, ev, FD_OOB) == 0, "3: TCP client selected for FD_OOB");
    CHECK(send(s, "x", 1, MSG_OOB) == 1, "3: the peer sends an urgent byte");
    got = collect_events(c, ev, FD_OOB, LONG_WAIT, &all);
    CHECK(got, "3: FD_OOB recorded (events 0x%lx)", all.lNetworkEvents);
    CHECK(recv(c, b, 1, MSG_OOB) == 1 && b[0] == 'x', "3: the urgent byte read (FD_OOB re-enabled)");
    CHECK(send(s, "y", 1, MSG_OOB) == 1, "3: the peer sends another urgent byte");
    got = collect_events(c, ev, FD_OOB, LONG_WAIT, &all);
    CHECK(got, "3: FD_OOB recorded again (events 0x%lx)", all.lNetworkEvents);
    CHECK(recv(c, b, 1, MSG_OOB) == 1 && b[0] == 'y', "3: that urgent byte read");
    CHECK(closesocket(s) == 0 && shutdown(c, SHUT_WR) == 0, "3: the peer closes, the client shuts its side");
    usleep(100000);
    check_idle("3: FD_OOB on a TCP socket ended both ways");
    CHECK(recv(c, b, sizeof b, 0) == 0, "3: a recv sees the end (FD_OOB re-enabled)");
    check_idle("3: FD_OOB on that socket after the recv");
    CHECK(closesocket(c) == 0, "3: closed");
    WSACloseEvent(ev);
}

int main(void)
{
    start_watchdog(55);
    hook_vs_close();
    hung_up_plain();
    hung_up_secure();
    oob_recorded();
    return finish();
}
