/* Regression test (issue 15, attack of session 5): sslsock's own descriptors (the event model's
 * wake-up eventfd, epoll inner sets and their eventfds, src/hidden.rs) against the program's close,
 * close_range, closefrom and dup2 over numbers it thinks free, races and fork. The line server logs
 * PLAINTEXT-LEAK for any foreign byte on a secure connection, which fails the run. */
/* fork while threads churn epoll sets and event selections: the child must not hang on any lock. */
#define _GNU_SOURCE
#include <winsock2.h>
#include <sslsock.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include "common.h"

/* A fork child's exit with status `code`, by exec of the shell: under valgrind an _exit would count
 * the memory of the parent's other threads (which the child does not have) as lost; an exec ends the
 * process image without a leak check. */
static void child_exit(int code)
{
    char cmd[32];
    snprintf(cmd, sizeof cmd, "exit %d", code);
    execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
    _exit(code);
}

static SOCKET g_s;
static volatile int g_stop;

static void *epoll_churn(void *a)
{
    (void)a;
    while (!g_stop) {
        int ep = epoll_create1(EPOLL_CLOEXEC);
        struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 1 }, o[4];
        epoll_ctl(ep, EPOLL_CTL_ADD, g_s, &ev);
        epoll_wait(ep, o, 4, 0);
        int d = dup(ep);
        close(ep);
        epoll_wait(d, o, 4, 0);
        close(d);
    }
    return NULL;
}

static void *event_churn(void *a)
{
    (void)a;
    WSAEVENT ev = WSACreateEvent();
    while (!g_stop) {
        int sp[2];
        socketpair(AF_UNIX, SOCK_STREAM, 0, sp);
        WSAEventSelect(sp[0], ev, FD_READ | FD_CLOSE | FD_WRITE);
        send(sp[1], "x", 1, 0);
        WSAWaitForMultipleEvents(1, &ev, FALSE, 5, FALSE);
        WSANETWORKEVENTS ne;
        WSAEnumNetworkEvents(sp[0], ev, &ne);
        close(sp[0]);
        close(sp[1]);
    }
    WSACloseEvent(ev);
    return NULL;
}

int main(int argc, char **argv)
{
    /* 2000 forks (200 under valgrind, whose tests/valgrind.sh sets T_RACE_ROUNDS=20) */
    const char *rr = getenv("T_RACE_ROUNDS");
    int rounds = argc > 1 ? atoi(argv[1]) : (rr && atoi(rr) > 0 ? 10 * atoi(rr) : 2000);
    start_watchdog(58);
    SOCKADDR_IN sa;
    g_s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    make_secure(g_s);
    connect_addr(&sa, env_port("T_PORT_STARTTLS"));
    CHECK(connect(g_s, (SOCKADDR *)&sa, sizeof sa) == 0, "connect");
    send_str(g_s, "ECHO 0123456789012345678901234567890123456789\r\n");
    usleep(200000);
    char b[4];
    recv(g_s, b, 4, 0);
    pthread_t t[3];
    pthread_create(&t[0], NULL, epoll_churn, NULL);
    pthread_create(&t[1], NULL, event_churn, NULL);
    pthread_create(&t[2], NULL, epoll_churn, NULL);
    int hung = 0, bad = 0;
    long long t0 = now_ms();
    int r;
    for (r = 0; r < rounds && now_ms() - t0 < 40000; r++) {
        pid_t pid = fork();
        if (pid == 0) {
            alarm(30); /* generous: a loaded machine, ASan or valgrind slow the child down */
            int ep = epoll_create1(0);
            struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 1 }, o[4];
            epoll_ctl(ep, EPOLL_CTL_ADD, g_s, &ev);
            epoll_wait(ep, o, 4, 0);
            close(ep);
            int sp[2];
            socketpair(AF_UNIX, SOCK_STREAM, 0, sp);
            WSAEVENT e = WSACreateEvent();
            WSAEventSelect(sp[0], e, FD_READ);
            send(sp[1], "x", 1, 0);
            DWORD w = WSAWaitForMultipleEvents(1, &e, FALSE, 20000, FALSE);
            close(sp[0]);
            /* 7: FD_READ not recorded within 20 s; 8: the wait failed */
            child_exit(w == 0 ? 0 : w == WSA_WAIT_TIMEOUT ? 7 : 8);
        }
        int st;
        waitpid(pid, &st, 0);
        if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM) { hung++; if (hung < 3) note("round %d: child hung", r); }
        else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) { bad++; if (bad < 3) note("round %d: child status 0x%x", r, st); }
    }
    g_stop = 1;
    for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);
    note("%d forks", r);
    CHECK(hung == 0, "no child hung (%d)", hung);
    CHECK(bad == 0, "no child failed (%d)", bad);
    return finish();
}
