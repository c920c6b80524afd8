/*
 * failclosed_bounds.c - issue 12: out-of-range arguments to the interposed calls, once a secure
 * socket exists, answer as the kernel does and never abort the program:
 *   close_range(10, 5, 0)      -> -1, EINVAL (first > last)
 *   close_range(~0U, 0, 0)     -> -1, EINVAL
 *   poll(fds, nfds, 0) with nfds > RLIMIT_NOFILE -> -1, EINVAL: with an array of nfds entries, and
 *     with a one-entry array that ends at a PROT_NONE page (nothing past the entry may be read
 *     before nfds is checked).
 * Each call is made first in a forked child (a crash there is reported with its signal and does not
 * end this program), then, when the child survived, in this process. Afterwards the secure sockets
 * are still open and the connected one still works.
 */
#define _GNU_SOURCE
#include <winsock2.h>
#include <sslsock.h>
#include "common.h"
#include "failclosed.h"

#include <poll.h>
#include <sys/mman.h>
#include <sys/resource.h>

enum call { C_CLOSE_RANGE_REVERSED, C_CLOSE_RANGE_MAX, C_POLL_FULL, C_POLL_GUARDED };
static const char *call_name[] = {"close_range(10, 5, 0)", "close_range(~0U, 0, 0)",
                                  "poll(fds, RLIMIT_NOFILE + 1, 0), an array of that many entries",
                                  "poll(fds, RLIMIT_NOFILE + 1, 0), one entry before a PROT_NONE page"};

static SOCKET g_secure;
static nfds_t g_nfds;

/* Makes the call; *err gets errno. */
static long make_call(enum call c, int *err)
{
    long rc = 0;
    switch (c) {
    case C_CLOSE_RANGE_REVERSED:
        errno = 0;
        rc = close_range(10, 5, 0);
        break;
    case C_CLOSE_RANGE_MAX:
        errno = 0;
        rc = close_range(~0U, 0, 0);
        break;
    case C_POLL_FULL: {
        struct pollfd *fds = calloc(g_nfds, sizeof *fds);
        nfds_t i;
        if (!fds) {
            *err = ENOMEM;
            return -2;
        }
        for (i = 0; i < g_nfds; i++)
            fds[i].fd = -1;
        fds[0].fd = g_secure;
        fds[0].events = POLLIN | POLLOUT;
        errno = 0;
        rc = poll(fds, g_nfds, 0);
        *err = errno;
        free(fds);
        return rc;
    }
    case C_POLL_GUARDED: {
        long page = sysconf(_SC_PAGESIZE);
        unsigned char *m = mmap(NULL, (size_t)page * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        struct pollfd *fds;
        if (m == MAP_FAILED) {
            *err = errno;
            return -2;
        }
        mprotect(m + page, (size_t)page, PROT_NONE);
        fds = (struct pollfd *)(m + page - sizeof *fds);
        fds->fd = g_secure;
        fds->events = POLLIN | POLLOUT;
        fds->revents = 0;
        errno = 0;
        rc = poll(fds, g_nfds, 0);
        *err = errno;
        munmap(m, (size_t)page * 2);
        return rc;
    }
    }
    *err = errno;
    return rc;
}

/* A sanitizer or valgrind checks poll's whole array itself, before sslsock or the kernel see it: the
 * guarded case would be reported there whatever sslsock does. */
static const char *checked_by_a_tool(void)
{
    const char *pre = getenv("LD_PRELOAD");
#if defined(__SANITIZE_ADDRESS__)
    return "AddressSanitizer's poll interceptor reads the whole array";
#endif
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
    return "AddressSanitizer's poll interceptor reads the whole array";
#endif
#endif
    if (pre && strstr(pre, "vgpreload"))
        return "valgrind checks the whole array at the system call";
    return NULL;
}

static void bounds_case(enum call c)
{
    const char *what = call_name[c];
    int status, err = 0;
    long rc;
    pid_t pid;

    if (c == C_POLL_GUARDED && checked_by_a_tool()) {
        CHECK(1, "# skip %s: %s", what, checked_by_a_tool());
        return;
    }

    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        rc = make_call(c, &err);
        _exit(rc == -1 && err == EINVAL ? 0 : 1);
    }
    if (!CHECK(pid > 0, "%s: fork", what))
        return;
    status = fc_wait_child(pid, 10000);
    if (!CHECK(status != -1 && WIFEXITED(status),
               "%s: does not abort or crash (in a child: %s %d)", what,
               status == -1 ? "killed after 10 s, status" : WIFSIGNALED(status) ? "killed by signal" : "exit status",
               status == -1 ? -1 : WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status)))
        return;   /* not again in this process */
    rc = make_call(c, &err);
    CHECK(rc == -1 && err == EINVAL, "%s: returns -1 with EINVAL, as the kernel does (got %ld, errno %d %s)", what, rc,
          err, strerror(err));
}

int main(void)
{
    WSADATA wsa;
    struct rlimit rl;
    SOCKET connected;
    int lp;

    start_watchdog(55);
    signal(SIGPIPE, SIG_IGN);
    CHECK(WSAStartup(MAKEWORD(2, 2), &wsa) == 0, "WSAStartup(2.2)");

    /* a small soft limit keeps the full poll array small */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur > 1024) {
        rl.rlim_cur = 1024;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0, "getrlimit(RLIMIT_NOFILE)");
    g_nfds = (nfds_t)rl.rlim_cur + 1;
    note("RLIMIT_NOFILE %lu: nfds %lu", (unsigned long)rl.rlim_cur, (unsigned long)g_nfds);

    g_secure = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(g_secure != INVALID_SOCKET && make_secure(g_secure) == 0, "a secure socket");
    connected = fc_stream_socket(env_port("T_PORT_STARTTLS"), 0, 5000, &lp);
    CHECK(connected != INVALID_SOCKET, "a connected secure socket (STREAM) (%s)",
          connected == INVALID_SOCKET ? fc_why : "ok");

    bounds_case(C_CLOSE_RANGE_REVERSED);
    bounds_case(C_CLOSE_RANGE_MAX);
    bounds_case(C_POLL_FULL);
    bounds_case(C_POLL_GUARDED);

    CHECK(fc_get_secure(g_secure) == SO_SEC_SSL, "afterwards the unconnected secure socket is still open and secure");
    if (connected != INVALID_SOCKET) {
        CHECK(fc_get_secure(connected) == SO_SEC_SSL, "afterwards the connected secure socket is still secure");
        CHECK(send(connected, "bounds\n", 7, 0) == 7, "afterwards send on the connected socket");
        {
            char buf[16];
            long got;
            memset(buf, 0, sizeof buf);
            got = recv_exact(connected, buf, 7);
            CHECK(got == 7 && memcmp(buf, "bounds\n", 7) == 0,
                  "afterwards the connected socket's echo comes back (%ld bytes: \"%s\")", got, fc_show(buf, got));
        }
        closesocket(connected);
    }
    closesocket(g_secure);
    WSACleanup();
    return finish();
}
