/* Regression test (issue 15, attack of session 5): sslsock's own descriptors (the event model's
 * wake-up eventfd, epoll inner sets and their eventfds, src/hidden.rs) against the program's close,
 * close_range, closefrom and dup2 over numbers it thinks free, races and fork. The line server logs
 * PLAINTEXT-LEAK for any foreign byte on a secure connection, which fails the run. */
/* close(E) by one thread while another waits on E (legal on Linux): the waiting thread drains/raises
 * the inner set's eventfd by number after forget() closed it; a number reused meanwhile gets 8 bytes. */
#define _GNU_SOURCE
#include <winsock2.h>
#include <sslsock.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include "common.h"

static int g_ep;
static volatile int g_stop;

static void *waiter(void *arg)
{
    (void)arg;
    struct epoll_event out[8];
    while (!g_stop)
        epoll_wait(g_ep, out, 8, 0);
    return NULL;
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 3000;
    start_watchdog(55);
    SOCKADDR_IN sa;
    SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    make_secure(s);
    connect_addr(&sa, env_port("T_PORT_STARTTLS"));
    CHECK(connect(s, (SOCKADDR *)&sa, sizeof sa) == 0, "connect");
    send_str(s, "ECHO 0123456789012345678901234567890123456789\r\n");
    usleep(200000);
    char b[4];
    CHECK(recv(s, b, 4, 0) == 4, "recv 4: the rest is held in the library");
    int hits = 0, stolen = 0;
    long long t0 = now_ms();
    int r;
    for (r = 0; r < rounds && now_ms() - t0 < 40000; r++) {
        g_ep = epoll_create1(0);
        struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 1 };
        epoll_ctl(g_ep, EPOLL_CTL_ADD, s, &ev);
        g_stop = 0;
        pthread_t t;
        pthread_create(&t, NULL, waiter, NULL);
        for (volatile int i = 0; i < (r % 50) * 20; i++) {}
        close(g_ep);
        int a[2], c[2];
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, a);
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, c);
        /* Bytes the program's peer sent, that the library could steal by draining. */
        send(a[1], "ABCDEFGH", 8, 0); send(c[1], "ABCDEFGH", 8, 0);
        send(a[0], "abcdefgh", 8, 0); send(c[0], "abcdefgh", 8, 0);
        usleep(200);
        g_stop = 1;
        pthread_join(t, NULL);
        char buf[64];
        int fds[4] = { a[0], a[1], c[0], c[1] };
        for (int k = 0; k < 4; k++) {
            ssize_t n = recv(fds[k], buf, sizeof buf, 0);
            if (n > 8) { hits++; if (hits < 4) note("round %d: %zd bytes at %d (8 expected)", r, n, fds[k]); }
            if (n < 8) { stolen++; if (stolen < 4) note("round %d: %zd bytes at %d: stolen", r, n, fds[k]); }
        }
        for (int k = 0; k < 4; k++) close(fds[k]);
    }
    note("%d rounds", r);
    CHECK(hits == 0, "no bytes written by the library into reused numbers (%d)", hits);
    CHECK(stolen == 0, "no bytes read by the library from reused numbers (%d)", stolen);
    return finish();
}
