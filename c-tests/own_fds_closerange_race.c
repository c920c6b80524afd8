/* Regression test (issue 15, attack of session 5): sslsock's own descriptors (the event model's
 * wake-up eventfd, epoll inner sets and their eventfds, src/hidden.rs) against the program's close,
 * close_range, closefrom and dup2 over numbers it thinks free, races and fork. The line server logs
 * PLAINTEXT-LEAK for any foreign byte on a secure connection, which fails the run. */
/* close_range(E,E) forgets E's registry entry AFTER the kernel closed E: a set another thread makes at
 * that number in between loses its inner set (its secure sockets vanish from its waits). */
#define _GNU_SOURCE
#include <winsock2.h>
#include <sslsock.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include "common.h"

static SOCKET g_s1, g_s2;
static volatile int g_stop;

static SOCKET open_held(int port)
{
    SOCKADDR_IN sa;
    SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    make_secure(s);
    connect_addr(&sa, port);
    connect(s, (SOCKADDR *)&sa, sizeof sa);
    send_str(s, "ECHO 0123456789012345678901234567890123456789\r\n");
    usleep(200000);
    char b[4];
    recv(s, b, 4, 0);
    return s;
}

static void *closer(void *a)
{
    (void)a;
    while (!g_stop) {
        int ep = epoll_create1(0);
        struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 1 };
        epoll_ctl(ep, EPOLL_CTL_ADD, g_s1, &ev);
        close_range(ep, ep, 0);
    }
    return NULL;
}

int main(void)
{
    start_watchdog(50);
    int port = env_port("T_PORT_STARTTLS");
    g_s1 = open_held(port);
    g_s2 = open_held(port);
    pthread_t t;
    pthread_create(&t, NULL, closer, NULL);
    int lost = 0, rounds = 0, broken = 0;
    long long t0 = now_ms();
    while (now_ms() - t0 < 20000) {
        int ep = epoll_create1(0);
        struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 2 }, o[4];
        if (epoll_ctl(ep, EPOLL_CTL_ADD, g_s2, &ev) != 0) { broken++; if (broken < 3) note("ADD failed: errno %d", errno); close(ep); continue; }
        for (int k = 0; k < 20; k++) {
            int n = epoll_wait(ep, o, 4, 0);
            if (n != 1 || o[0].data.u64 != 2) { lost++; if (lost < 12) note("round %d: wait %d -> %d (errno %d) data %llx", rounds, k, n, errno, n > 0 ? (unsigned long long)o[0].data.u64 : 0ULL); break; }
        }
        close(ep);
        rounds++;
    }
    g_stop = 1;
    pthread_join(t, NULL);
    note("%d rounds", rounds);
    CHECK(lost == 0 && broken == 0, "the held data of a set at a reused number always reported (%d lost, %d broken)", lost, broken);
    return finish();
}
