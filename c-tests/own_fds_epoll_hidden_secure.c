/* Regression test (issue 15, attack of session 5): sslsock's own descriptors (the event model's
 * wake-up eventfd, epoll inner sets and their eventfds, src/hidden.rs) against the program's close,
 * close_range, closefrom and dup2 over numbers it thinks free, races and fork. The line server logs
 * PLAINTEXT-LEAK for any foreign byte on a secure connection, which fails the run. */
#define SECURE_REUSE 1
/* The inner set and its eventfd are ordinary numbers the program can close (close_range/closefrom/close
 * over a range that does not include E). The registry keeps them; later the wait drains/raises the
 * reused numbers and close(E) closes them. */
#define _GNU_SOURCE
#include <winsock2.h>
#include <sslsock.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include "common.h"

static int g_port;
static SOCKET open_secure(void)
{
    SOCKADDR_IN sa;
    SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    make_secure(s);
    connect_addr(&sa, g_port);
    if (connect(s, (SOCKADDR *)&sa, sizeof sa) != 0) note("connect failed");
    return s;
}

int main(void)
{
    start_watchdog(30);
    g_port = env_port("T_PORT_STARTTLS");
    SOCKET s1 = open_secure();
    int ep = epoll_create1(0);
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 77 };
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, s1, &ev) == 0, "add secure socket");
    int probe = dup(0); close(probe);
    note("s1=%d ep=%d next free=%d (inner, wake are ep+1, ep+2)", (int)s1, ep, probe);
    /* The program closes numbers above its own (it knows of s1 and ep only). */
    int top = ep > (int)s1 ? ep : (int)s1;
#ifdef USE_CLOSE_LOOP
    for (int fd = top + 1; fd < top + 10; fd++) close(fd);
#else
    close_range((unsigned)top + 1, ~0U, 0);
#endif
    /* New objects at the freed numbers: a pipe (to see bytes written) and a secure socket. */
#ifdef SECURE_REUSE
    SOCKET s2 = open_secure();
    SOCKET s3 = open_secure();
    int p[2] = { s2, s3 };
#else
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    SOCKET s2 = open_secure();
#endif
    note("pipe = %d,%d; s2 = %d", p[0], p[1], (int)s2);
    /* Held data on s1 so that the wait raises "its" eventfd. */
    send_str(s1, "ECHO 0123456789012345678901234567890123456789\r\n");
    usleep(200000);
    char b[8];
    recv(s1, b, 4, 0);
    struct epoll_event out[4];
    int n = epoll_wait(ep, out, 4, 100);
    note("epoll_wait -> %d", n);
    n = epoll_wait(ep, out, 4, 100);
    note("epoll_wait -> %d", n);
#ifdef SECURE_REUSE
    CHECK(echo_roundtrip(s3, "s3 after the waits"), "s3 (at the hidden wake number) works");
    return finish();
#endif
    /* Anything written to the pipe's write end? (only if a number landed on it) */
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    char junk[64];
    ssize_t got = read(p[0], junk, sizeof junk);
    CHECK(got <= 0, "nothing written into the program's pipe by the library (got %zd)", got);
    /* close(ep): the library closes "its" inner and wake numbers. */
    close(ep);
    errno = 0;
    int fl1 = fcntl(p[0], F_GETFD), fl2 = fcntl(p[1], F_GETFD), fl3 = fcntl(s2, F_GETFD);
    CHECK(fl1 >= 0 && fl2 >= 0 && fl3 >= 0, "the program's pipe and socket still open after close(ep) (%d %d %d)", fl1, fl2, fl3);
    CHECK(echo_roundtrip(s2, "still alive"), "s2 works");
    return finish();
}
