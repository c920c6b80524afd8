/* Regression test (issue 15, attack of session 5): sslsock's own descriptors (the event model's
 * wake-up eventfd, epoll inner sets and their eventfds, src/hidden.rs) against the program's close,
 * close_range, closefrom and dup2 over numbers it thinks free, races and fork. The line server logs
 * PLAINTEXT-LEAK for any foreign byte on a secure connection, which fails the run. */
/* An epoll set's inner set and its eventfd (sslsock's, at hidden numbers) against a program that closes
 * the numbers above its own (it knows of its secure socket and its set only): by close_range, or by a
 * close loop over every number listed in /proc/self/fd (sslsock's own refuse: EBADF); then new objects
 * take the freed numbers: a pipe (no byte of sslsock's may be written into it) or two secure sockets
 * (their sessions must stay intact: the line server's PLAINTEXT-LEAK check). The waits that follow
 * drain and raise the set's own eventfd; close(E) closes only sslsock's numbers. Each case runs in a
 * fresh child process (forked before any sslsock call). */
#define _GNU_SOURCE
#include <winsock2.h>
#include <sslsock.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include "common.h"

enum closing { BY_CLOSE_RANGE, BY_CLOSE_LOOP };
enum reuse { BY_PIPE, BY_SECURE };

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

static int variant(enum closing closing, enum reuse reuse)
{
    start_watchdog(18);
    g_port = env_port("T_PORT_STARTTLS");
    SOCKET s1 = open_secure();
    int ep = epoll_create1(0);
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 77 };
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, s1, &ev) == 0, "add secure socket");
    int probe = dup(0); close(probe);
    note("s1=%d ep=%d next free=%d", (int)s1, ep, probe);
    /* The program closes numbers above its own. */
    int top = ep > (int)s1 ? ep : (int)s1;
    if (closing == BY_CLOSE_LOOP) {
        /* As a daemon that closes every open number it did not open: listed in /proc/self/fd
         * (sslsock's own, at high numbers, among them: their close answers EBADF). */
        int open_fds[256], count = 0;
        DIR *d = opendir("/proc/self/fd");
        struct dirent *e;
        while (d && (e = readdir(d)) && count < 256) {
            int fd = atoi(e->d_name);
            if (fd > top && fd != dirfd(d)) open_fds[count++] = fd;
        }
        if (d) closedir(d);
        int refused = 0;
        for (int i = 0; i < count; i++)
            if (close(open_fds[i]) != 0 && errno == EBADF) refused++;
        CHECK(count >= 2 && refused >= 2, "the close loop met sslsock's own numbers (%d open above %d, %d refused)",
              count, top, refused);
    } else
        close_range((unsigned)top + 1, ~0U, 0);
    /* New objects at the freed numbers. */
    int p[2] = { -1, -1 };
    SOCKET s2, s3 = INVALID_SOCKET;
    if (reuse == BY_SECURE) {
        s2 = open_secure();
        s3 = open_secure();
        note("s2 = %d, s3 = %d", (int)s2, (int)s3);
    } else {
        CHECK(pipe(p) == 0, "pipe");
        s2 = open_secure();
        note("pipe = %d,%d; s2 = %d", p[0], p[1], (int)s2);
    }
    /* Held data on s1, so that the wait raises the set's own eventfd. */
    send_str(s1, "ECHO 0123456789012345678901234567890123456789\r\n");
    usleep(200000);
    char b[8];
    recv(s1, b, 4, 0);
    struct epoll_event out[4];
    int n = epoll_wait(ep, out, 4, 100);
    CHECK(n == 1 && out[0].data.u64 == 77, "epoll_wait reports the held data of s1 (%d)", n);
    n = epoll_wait(ep, out, 4, 100);
    CHECK(n == 1 && out[0].data.u64 == 77, "and again, level-triggered (%d)", n);
    if (reuse == BY_SECURE) {
        CHECK(echo_roundtrip(s2, "s2 after the waits"), "s2 works");
        CHECK(echo_roundtrip(s3, "s3 after the waits"), "s3 works");
    } else {
        /* Anything written into the pipe? */
        fcntl(p[0], F_SETFL, O_NONBLOCK);
        char junk[64];
        ssize_t got = read(p[0], junk, sizeof junk);
        CHECK(got <= 0, "nothing written into the program's pipe by the library (got %zd)", got);
    }
    /* close(ep): the library closes its own numbers only. */
    close(ep);
    int fl1 = reuse == BY_PIPE ? fcntl(p[0], F_GETFD) : 0, fl2 = reuse == BY_PIPE ? fcntl(p[1], F_GETFD) : 0;
    int fl3 = fcntl(s2, F_GETFD), fl4 = reuse == BY_SECURE ? fcntl(s3, F_GETFD) : 0;
    CHECK(fl1 >= 0 && fl2 >= 0 && fl3 >= 0 && fl4 >= 0, "the program's descriptors still open after close(ep) (%d %d %d %d)",
          fl1, fl2, fl3, fl4);
    CHECK(echo_roundtrip(s2, "still alive"), "s2 works after close(ep)");
    return finish();
}

struct way {
    enum closing closing;
    enum reuse reuse;
};

static int variant_of(const void *way)
{
    const struct way *w = way;
    return variant(w->closing, w->reuse);
}

int main(void)
{
    static const struct way range_pipe = { BY_CLOSE_RANGE, BY_PIPE }, range_secure = { BY_CLOSE_RANGE, BY_SECURE },
                            loop_pipe = { BY_CLOSE_LOOP, BY_PIPE };
    start_watchdog(58);
    run_in_child("close_range, then a pipe and a secure socket", variant_of, &range_pipe);
    run_in_child("close_range, then two secure sockets", variant_of, &range_secure);
    run_in_child("a close loop, then a pipe and a secure socket", variant_of, &loop_pipe);
    return finish();
}
