/* Regression test (issue 15, attack of session 5): sslsock's own descriptors (the event model's
 * wake-up eventfd, epoll inner sets and their eventfds, src/hidden.rs) against the program's close,
 * close_range, closefrom and dup2 over numbers it thinks free, races and fork. The line server logs
 * PLAINTEXT-LEAK for any foreign byte on a secure connection, which fails the run. */
/* fork while threads churn epoll sets and event selections: the child must not hang on any lock. */
#define _GNU_SOURCE
#include <winsock2.h>
#include <sslsock.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "common.h"

static SOCKET g_s;
static volatile int g_stop;

/* Under AddressSanitizer the parent forks only while every other thread sleeps in the kernel. gcc's
 * libasan (12) takes no allocator lock across fork: a parent thread refilling its allocation cache at
 * the fork leaves the child a size-class lock held for good, and the child's first new thread (the
 * watcher, whose cache is empty) waits on it forever inside the runtime (seen under `make asan`, about
 * one child in 600, stack in __sanitizer::SizeClassAllocator64::GetFromAllocator). So the churn
 * threads park between two iterations, and the parent waits until each thread but itself (the churn
 * threads, sslsock's watcher) is in a sleeping system call (nanosleep, poll, ppoll): none then holds
 * a runtime lock. glibc's malloc takes its own locks across fork: the full race runs in `make test` and
 * `make valgrind`. */
#if defined(__SANITIZE_ADDRESS__)
#define PARK_AT_FORK 1
#else
#define PARK_AT_FORK 0
#endif
static atomic_int g_park, g_parked;

/* Whether every thread of the process but the caller sleeps in nanosleep, clock_nanosleep, poll or
 * ppoll (/proc/self/task/TID/syscall starts with the system call's number). */
static int others_asleep(void)
{
    char path[64], line[64];
    int me = (int)syscall(SYS_gettid), quiet = 1;
    DIR *d = opendir("/proc/self/task");
    if (!d) return 0;
    struct dirent *e;
    while (quiet && (e = readdir(d))) {
        int tid = atoi(e->d_name);
        if (tid <= 0 || tid == me) continue;
        snprintf(path, sizeof path, "/proc/self/task/%d/syscall", tid);
        FILE *f = fopen(path, "r");
        if (!f) {
            if (errno == ENOENT) continue; /* the thread ended */
            quiet = 0;                     /* cannot tell */
            break;
        }
        long nr = -1;
        if (fgets(line, sizeof line, f)) nr = isdigit((unsigned char)line[0]) ? atol(line) : -1;
        fclose(f);
        quiet = nr == SYS_clock_nanosleep || nr == SYS_ppoll;
#ifdef SYS_nanosleep
        quiet = quiet || nr == SYS_nanosleep;
#endif
#ifdef SYS_poll
        quiet = quiet || nr == SYS_poll;
#endif
#ifdef SYS_clock_nanosleep_time64 /* 32-bit targets with a 64-bit time_t */
        quiet = quiet || nr == SYS_clock_nanosleep_time64;
#endif
#ifdef SYS_ppoll_time64
        quiet = quiet || nr == SYS_ppoll_time64;
#endif
    }
    closedir(d);
    return quiet;
}

/* Between two iterations of a churn thread: wait while the parent asks the threads to park. */
static void park_point(void)
{
    if (!PARK_AT_FORK || !atomic_load(&g_park)) return;
    atomic_fetch_add(&g_parked, 1);
    while (atomic_load(&g_park)) usleep(100);
    atomic_fetch_sub(&g_parked, 1);
}

static void *epoll_churn(void *a)
{
    (void)a;
    while (!g_stop) {
        park_point();
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
        park_point();
        select_round(ev, FD_READ | FD_CLOSE | FD_WRITE, 5);
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
        if (PARK_AT_FORK) {
            atomic_store(&g_park, 1);
            /* Bounded (10 s): a thread that never sleeps where others_asleep() looks fails the run. One
             * sample suffices: a parked thread that wakes before the fork only reads an atomic and
             * sleeps again (no allocation), and the watcher has nothing to wake it. */
            long long since = now_ms();
            int ready = 0;
            while (!(ready = atomic_load(&g_parked) == 3 && others_asleep()) && now_ms() - since < 10000)
                usleep(100);
            if (!ready) {
                atomic_store(&g_park, 0);
                g_stop = 1;
                CHECK(0, "round %d: the other threads did not all sleep within 10 s (ASan parking)", r);
                break;
            }
        }
        pid_t pid = fork();
        if (PARK_AT_FORK) atomic_store(&g_park, 0);
        if (pid == 0) {
            /* The watchdog's handler is the parent's: the child's alarm must kill it (counted as hung). */
            signal(SIGALRM, SIG_DFL);
            alarm(30); /* generous: a loaded machine, ASan or valgrind slow the child down */
            int ep = epoll_create1(0);
            struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 1 }, o[4];
            epoll_ctl(ep, EPOLL_CTL_ADD, g_s, &ev);
            epoll_wait(ep, o, 4, 0);
            close(ep);
            DWORD w = select_round(WSACreateEvent(), FD_READ, 20000);
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
