/* Regression test (issue 15, attack of session 5): sslsock's own descriptors (the event model's
 * wake-up eventfd, epoll inner sets and their eventfds, src/hidden.rs) against the program's close,
 * close_range, closefrom and dup2 over numbers it thinks free, races and fork. The line server logs
 * PLAINTEXT-LEAK for any foreign byte on a secure connection, which fails the run. */
/* fork child: closefrom(3) (as children do), new descriptors, then WSAEventSelect: ensure() closes the
 * parent's watcher eventfd BY NUMBER in the child, now the child's own object. */
#define _GNU_SOURCE
#include <winsock2.h>
#include <sslsock.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include "common.h"

int main(void)
{
    start_watchdog(20);
    int sp[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sp);
    WSAEVENT ev = WSACreateEvent();
    CHECK(WSAEventSelect(sp[0], ev, FD_READ) == 0, "parent: WSAEventSelect (watcher started)");
    usleep(50000);
    pid_t pid = fork();
    if (pid == 0) {
        { char l[64]; for (int f = 3; f < 10; f++) { char p[32]; snprintf(p, 32, "/proc/self/fd/%d", f); ssize_t n = readlink(p, l, 63); if (n > 0) { l[n] = 0; fprintf(stderr, "# child before: %d -> %s\n", f, l); } } }
        closefrom(3);
        int a[2], b[2];
        socketpair(AF_UNIX, SOCK_STREAM, 0, a);   /* 3, 4 */
        socketpair(AF_UNIX, SOCK_STREAM, 0, b);   /* 5, 6: 5 was the parent's watcher eventfd */
        WSAEVENT e = WSACreateEvent();
        char before[64] = "", after[64] = "", p5[32];
        snprintf(p5, 32, "/proc/self/fd/%d", b[0]);
        readlink(p5, before, 63);
        int rcsel = WSAEventSelect(a[0], e, FD_READ);
        readlink(p5, after, 63);
        if (strcmp(before, after)) { fprintf(stderr, "# child: number %d was %s, is now %s\n", b[0], before, after); child_exit(9); }
        int open5 = fcntl(b[0], F_GETFD) >= 0;
        { char l[64]; for (int f = 3; f < 10; f++) { char p[32]; snprintf(p, 32, "/proc/self/fd/%d", f); ssize_t n = readlink(p, l, 63); if (n > 0) { l[n] = 0; fprintf(stderr, "# child after: %d -> %s (sel rc %d)\n", f, l, rcsel); } } }
        fprintf(stderr, "# child: b = %d,%d; after WSAEventSelect b[0] open: %d\n", b[0], b[1], open5);
        child_exit(open5 ? 0 : 9);
    }
    int st;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: its own descriptor survives WSAEventSelect (status 0x%x)", st);
    return finish();
}
