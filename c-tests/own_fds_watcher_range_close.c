/* Regression test (issue 15, attack of session 5): sslsock's own descriptors (the event model's
 * wake-up eventfd, epoll inner sets and their eventfds, src/hidden.rs) against the program's close,
 * close_range, closefrom and dup2 over numbers it thinks free, races and fork. The line server logs
 * PLAINTEXT-LEAK for any foreign byte on a secure connection, which fails the run. */
/* closefrom() and close_range() over the watcher's hidden eventfd do not retire the watcher, and its
 * number, reused by the program, never gets the watcher's 8-byte wake-ups written into it or read out
 * of it. Each way of closing runs in a fresh child process (forked before any sslsock call), whose
 * watcher starts at the lowest free number. */
#define _GNU_SOURCE
#include <winsock2.h>
#include <sslsock.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include "common.h"

enum range_close { BY_CLOSEFROM, BY_CLOSE_RANGE };

static int variant(enum range_close how)
{
    start_watchdog(25);
    int port = env_port("T_PORT_STARTTLS");
    /* A selection starts the watcher; find its eventfd (at one of sslsock's own high numbers). */
    int sp[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sp);
    int probe = dup(0); close(probe); /* next free number */
    WSAEVENT ev = WSACreateEvent();
    CHECK(WSAEventSelect(sp[0], ev, FD_READ) == 0, "WSAEventSelect starts the watcher");
    usleep(100000);
    char path[64], link[64];
    int wake = -1;
    for (int fd = 3; fd < 65536; fd++) {
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(path, link, sizeof link - 1);
        if (n > 0) { link[n] = 0; if (strstr(link, "eventfd")) { wake = fd; break; } }
    }
    note("watcher eventfd = %d (next free number was %d)", wake, probe);
    CHECK(wake >= 3, "the watcher's eventfd is found (%d)", wake);
    if (wake < 3)
        return finish();
    WSAEventSelect(sp[0], ev, 0);
    /* The program closes everything from 3 up, the watcher's number included (a daemon's
     * close_range(3, ~0U)); sslsock's own descriptor must survive it. */
    int lo = 3;
    if (how == BY_CLOSEFROM)
        closefrom(lo);
    else
        CHECK(close_range((unsigned)lo, ~0U, 0) == 0, "close_range(%d, ~0U)", lo);
    snprintf(path, sizeof path, "/proc/self/fd/%d", wake);
    {
        ssize_t n = readlink(path, link, sizeof link - 1);
        link[n > 0 ? n : 0] = 0;
    }
    CHECK(strstr(link, "eventfd") != NULL, "the watcher's eventfd %d is still open after the range close (%s)", wake,
          link);
    /* A new connection at a freed number: a secure socket to the line server. */
    SOCKADDR_IN sa;
    SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    note("secure socket got number %d", (int)s);
    CHECK(make_secure(s) == 0, "SO_SECURE");
    connect_addr(&sa, port);
    CHECK(connect(s, (SOCKADDR *)&sa, sizeof sa) == 0, "connect (handshake)");
    /* A WSAEventSelect anywhere wakes "the watcher": 8 bytes (01 00 .. 00) written to number wake. */
    int sp2[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sp2);
    WSAEVENT ev2 = WSACreateEvent();
    CHECK(WSAEventSelect(sp2[0], ev2, FD_READ) == 0, "second WSAEventSelect");
    send(sp2[1], "z", 1, 0);
    CHECK(WSAWaitForMultipleEvents(1, &ev2, FALSE, 3000, FALSE) == 0, "FD_READ recorded for the second selection");
    /* Is the session still intact? */
    int ok = echo_roundtrip(s, "hello after the range close");
    CHECK(ok, "echo round trip on the secure socket at the reused number");
    CHECK(closesocket(s) == 0 && close(sp2[0]) == 0 && close(sp2[1]) == 0, "close");
    CHECK(WSACloseEvent(ev) && WSACloseEvent(ev2), "WSACloseEvent of both events");
    return finish();
}

static int variant_of(const void *how)
{
    return variant(*(const enum range_close *)how);
}

int main(void)
{
    static const enum range_close from = BY_CLOSEFROM, range = BY_CLOSE_RANGE;
    start_watchdog(58);
    run_in_child("closefrom(3)", variant_of, &from);
    run_in_child("close_range(3, ~0U, 0)", variant_of, &range);
    return finish();
}
