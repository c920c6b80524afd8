/*
 * bounds.c - fail closed where libc answers an error (issue 12): sslsock never reads or writes past
 * the caller's memory, never allocates in proportion to an untrusted count, never hangs on a file.
 *
 *  (a) poll with nfds > RLIMIT_NOFILE: -1/EINVAL as libc, the array untouched (it ends at a
 *      PROT_NONE page), with no secure socket in the process and with one; likewise __poll_chk;
 *      nfds == RLIMIT_NOFILE is still accepted;
 *  (b) Winsock select with fd_count 65 in a 64-entry set and with fd_count 0x7fffffff:
 *      SOCKET_ERROR/WSAEINVAL, the set and a canary after it untouched; through the header's select
 *      (the set's capacity passed), the old export sslsock_select (bound 64) and sslsock_select_sized;
 *      a full set of 64 still works;
 *  (c) FD_ISSET / __WSAFDIsSet on such sets: FALSE, the last error untouched;
 *  (d) sslsock_set_client_certificate on /dev/zero, a directory, a FIFO with no writer, an 8 GiB
 *      sparse file (certificate or key): SOCKET_ERROR/WSAEINVAL within 2 s with a reason; and the
 *      same files named by SSL_CERT_FILE, SSL_CERT_DIR, SSLSOCK_CRL_FILE and SSLSOCK_CLIENT_CERT in
 *      a fresh process: a handshake ends (refused without trust anchors, or done) within 10 s;
 *  (e) a Winsock select interrupted by signals (handler without SA_RESTART) retries with the time
 *      left: it sees the socket that becomes readable later, and a timeout is not stretched.
 *
 * Each check of (a) to (d) runs in a child process (limited to 1 GiB of address space) so that a
 * crash, an abort or a hang is reported as a failed check instead of ending the program. Built
 * against the winsock2.h of sslsock 1.0 (no sized exports: T_CFLAGS="-I old/include"), the checks of
 * the sized exports are skipped and the header's select/FD_ISSET are the old exports, as in a binary
 * built before them.
 */
#include <winsock2.h>
#include <sslsock.h>
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

/* glibc's fortified poll (exported by libc and by sslsock). */
int __poll_chk(struct pollfd *fds, nfds_t nfds, int timeout, size_t fdslen);

#define CHILD_LIMIT_MS 5000
#define FILE_LIMIT_MS 2000
#define HANDSHAKE_LIMIT_MS 10000
#define SPARSE_BYTES (8ull << 30)

static int g_https_port;
static char g_self[4096];
static char g_tmpdir[256];

/* ------------------------------------------------------------------ */
/* children                                                            */

/* Runs fn(arg) in a child (1 GiB of address space at most) and returns how it ended, in words,
 * in out: "exit 0" when fn returned 0. A child still running after limit_ms is killed. */
static int isolated(int (*fn)(const void *), const void *arg, int limit_ms, char *out, size_t outlen)
{
    pid_t pid;
    int status = 0;
    long long deadline;

    fflush(stdout);
    pid = fork();
    if (pid < 0) {
        snprintf(out, outlen, "fork failed: %s", strerror(errno));
        return 0;
    }
    if (pid == 0) {
        struct rlimit as = {1ull << 30, 1ull << 30};
        prctl(PR_SET_PDEATHSIG, SIGKILL);   /* no orphan if the watchdog ends the program */
#ifndef __SANITIZE_ADDRESS__
        /* A huge allocation fails here instead of taking the machine's memory. (Not under ASan, which
         * reserves terabytes of address space for its shadow and reports such allocations itself, nor
         * under valgrind, T_WRAP.) */
        if (!getenv("T_WRAP"))
            setrlimit(RLIMIT_AS, &as);
#else
        (void)as;
#endif
        alarm(0);
        fflush(stdout);
        _exit(fn(arg));
    }
    deadline = now_ms() + limit_ms;
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            break;
        if (now_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            snprintf(out, outlen, "still running after %d ms (killed)", limit_ms);
            return 0;
        }
        usleep(2000);
    }
    if (WIFEXITED(status))
        snprintf(out, outlen, "exit %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(out, outlen, "killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else
        snprintf(out, outlen, "status 0x%x", status);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

#define ISOLATED(fn, arg, limit, ...)                                                  \
    do {                                                                               \
        char how_[160];                                                                \
        int ok_ = isolated((fn), (arg), (limit), how_, sizeof how_);                   \
        char what_[400];                                                               \
        snprintf(what_, sizeof what_, __VA_ARGS__);                                    \
        CHECK(ok_, "%s (child: %s)", what_, how_);                                     \
    } while (0)

/* A secure socket that is never connected (makes the process one "with a secure socket"). */
static SOCKET unconnected_secure(void)
{
    SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    if (s != INVALID_SOCKET && make_secure(s) != 0) {
        closesocket(s);
        return INVALID_SOCKET;
    }
    return s;
}

/* ------------------------------------------------------------------ */
/* (a) poll                                                            */

/* n pollfd entries that end exactly where a PROT_NONE page begins. */
static struct pollfd *guarded_pollfds(int n)
{
    long page = sysconf(_SC_PAGESIZE);
    char *m = mmap(NULL, (size_t)(2 * page), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                   -1, 0);
    if (m == MAP_FAILED || mprotect(m + page, (size_t)page, PROT_NONE) != 0)
        return NULL;
    return (struct pollfd *)(m + page - (size_t)n * sizeof(struct pollfd));
}

struct poll_case {
    int secure;     /* make a secure socket first (and put it in the array) */
    int chk;        /* through __poll_chk */
};

static int child_poll_over_limit(const void *arg)
{
    const struct poll_case *c = arg;
    struct rlimit rl;
    struct pollfd *p = guarded_pollfds(2);
    int fds[2], rc, e;
    nfds_t nfds;

    if (!p || pipe(fds) != 0 || write(fds[1], "x", 1) != 1 || getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 10;
    p[0].fd = fds[0];
    p[0].events = POLLIN;
    p[0].revents = 0x1234;
    p[1].fd = c->secure ? unconnected_secure() : fds[0];
    p[1].events = POLLIN;
    p[1].revents = 0x1234;
    if (p[1].fd < 0)
        return 11;
    nfds = (nfds_t)rl.rlim_cur + 1;
    errno = 0;
    rc = c->chk ? __poll_chk(p, nfds, 0, (size_t)nfds * sizeof *p) : poll(p, nfds, 0);
    e = errno;
    if (rc != -1 || e != EINVAL || p[0].revents != 0x1234 || p[1].revents != 0x1234) {
        printf("# poll(nfds %lu) = %d, errno %d (%s), revents 0x%x 0x%x\n", (unsigned long)nfds,
               rc, e, strerror(e), (unsigned)(unsigned short)p[0].revents,
               (unsigned)(unsigned short)p[1].revents);
        return 1;
    }
    /* The same array with its true length still works. */
    rc = c->chk ? __poll_chk(p, 2, 0, 2 * sizeof *p) : poll(p, 2, 0);
    if (rc < 1 || !(p[0].revents & POLLIN)) {
        printf("# poll(nfds 2) = %d, errno %d, revents 0x%x\n", rc, errno, (unsigned)p[0].revents);
        return 2;
    }
    return 0;
}

/* nfds == RLIMIT_NOFILE: the kernel takes it, so must sslsock (the entries past the first are -1). */
static int child_poll_at_limit(const void *arg)
{
    const struct poll_case *c = arg;
    struct rlimit rl;
    struct pollfd *p;
    int fds[2], rc;
    rlim_t i;

    if (pipe(fds) != 0 || write(fds[1], "x", 1) != 1 || getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 10;
    p = calloc((size_t)rl.rlim_cur, sizeof *p);
    if (!p)
        return 11;
    for (i = 0; i < rl.rlim_cur; i++)
        p[i].fd = -1;
    p[0].fd = fds[0];
    p[0].events = POLLIN;
    if (c->secure) {
        p[1].fd = unconnected_secure();
        p[1].events = POLLIN;
    }
    rc = poll(p, (nfds_t)rl.rlim_cur, 0);
    if (rc < 1 || !(p[0].revents & POLLIN)) {
        printf("# poll(nfds %lu) = %d, errno %d (%s)\n", (unsigned long)rl.rlim_cur, rc, errno,
               strerror(errno));
        return 1;
    }
    return 0;
}

static void test_poll(int secure)
{
    struct poll_case plain = {secure, 0}, chk = {secure, 1};
    const char *where = secure ? "with a secure socket in the process" : "no secure socket yet";

    ISOLATED(child_poll_over_limit, &plain, CHILD_LIMIT_MS,
             "poll, nfds = RLIMIT_NOFILE + 1 (%s): -1/EINVAL, the 2-entry array untouched", where);
    ISOLATED(child_poll_over_limit, &chk, CHILD_LIMIT_MS,
             "__poll_chk, nfds = RLIMIT_NOFILE + 1 (%s): -1/EINVAL, the array untouched", where);
    ISOLATED(child_poll_at_limit, &plain, CHILD_LIMIT_MS,
             "poll, nfds = RLIMIT_NOFILE (%s): accepted, the readable pipe reported", where);
}

/* ------------------------------------------------------------------ */
/* (b) Winsock select, (c) FD_ISSET                                    */

#define CANARY_WORDS 4

/* A 64-entry Windows fd_set with words after it (a 0x5A canary, or what a test puts there). */
struct guarded_set {
    fd_set set;
    SOCKET after[CANARY_WORDS];
};

enum select_api { VIA_MACRO, VIA_OLD_EXPORT, VIA_SIZED_EXPORT };
static const char *select_api_name[] = {"select (the header's macro)", "sslsock_select (old export)",
                                        "sslsock_select_sized(..., 64)"};

struct select_case {
    enum select_api api;
    u_int count;
};

/* The set holds `count` entries as far as fd_count says: 64 not-writable pipe ends, then a writable
 * socket right after the set (what an unbounded reader would take for entry 64). */
static int child_select_over_capacity(const void *arg)
{
    const struct select_case *c = arg;
    struct guarded_set *g = calloc(1, sizeof *g);
    struct timeval tv = {0, 0};
    int pipefd[2], pair[2], rc, wsa, i;
    SOCKET ready;

    if (!g || pipe(pipefd) != 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, pair) != 0)
        return 10;
    ready = pair[0];
    for (i = 0; i < 64; i++)
        g->set.fd_array[i] = pipefd[0];
    for (i = 0; i < CANARY_WORDS; i++)
        g->after[i] = ready;
    g->set.fd_count = c->count;
    WSASetLastError(0);
    switch (c->api) {
    case VIA_MACRO:
        rc = select(0, NULL, &g->set, NULL, &tv);
        break;
    case VIA_OLD_EXPORT:
        rc = sslsock_select(0, NULL, (sslsock_fd_set *)&g->set, NULL, &tv);
        break;
    default:
#ifdef SSLSOCK_FD_ARRAY_LEN
        rc = sslsock_select_sized(0, NULL, (sslsock_fd_set *)&g->set, NULL, &tv, 64);
#else
        return 0;   /* an older header: no sized export */
#endif
        break;
    }
    wsa = WSAGetLastError();
    if (rc != SOCKET_ERROR || wsa != WSAEINVAL) {
        printf("# %s = %d, WSAGetLastError %d (%s)\n", select_api_name[c->api], rc, wsa,
               sslsock_last_error_reason());
        return 1;
    }
    if (g->set.fd_count != c->count || g->set.fd_array[0] != pipefd[0]) {
        printf("# the set was rewritten: fd_count %u, fd_array[0] %d\n", g->set.fd_count,
               g->set.fd_array[0]);
        return 2;
    }
    for (i = 0; i < CANARY_WORDS; i++)
        if (g->after[i] != ready)
            return 3;
    if (strstr(sslsock_last_error_reason(), "fd_count") == NULL) {
        printf("# reason: %s\n", sslsock_last_error_reason());
        return 4;
    }
    return 0;
}

/* A full set (64 entries, all writable) works through each path. */
static int child_select_full(const void *arg)
{
    const struct select_case *c = arg;
    struct guarded_set *g = calloc(1, sizeof *g);
    struct timeval tv = {1, 0};
    int pair[2], rc, i;

    if (!g || socketpair(AF_UNIX, SOCK_STREAM, 0, pair) != 0)
        return 10;
    for (i = 0; i < 64; i++)
        g->set.fd_array[i] = pair[0];
    for (i = 0; i < CANARY_WORDS; i++)
        g->after[i] = 0x5A5A5A5A;
    g->set.fd_count = 64;
    switch (c->api) {
    case VIA_MACRO:
        rc = select(0, NULL, &g->set, NULL, &tv);
        break;
    case VIA_OLD_EXPORT:
        rc = sslsock_select(0, NULL, (sslsock_fd_set *)&g->set, NULL, &tv);
        break;
    default:
#ifdef SSLSOCK_FD_ARRAY_LEN
        rc = sslsock_select_sized(0, NULL, (sslsock_fd_set *)&g->set, NULL, &tv, 64);
#else
        return 0;
#endif
        break;
    }
    if (rc != 64 || g->set.fd_count != 64) {
        printf("# %s = %d (WSA %d), fd_count %u\n", select_api_name[c->api], rc,
               WSAGetLastError(), g->set.fd_count);
        return 1;
    }
    for (i = 0; i < CANARY_WORDS; i++)
        if (g->after[i] != 0x5A5A5A5A)
            return 3;
    return 0;
}

#ifdef SSLSOCK_FD_ARRAY_LEN
/* A larger set through sslsock_select_sized with its capacity: 200 of 256 entries. */
static int child_select_sized_large(const void *arg)
{
    struct {
        u_int fd_count;
        SOCKET fd_array[256];
        SOCKET after[CANARY_WORDS];
    } big;
    struct timeval tv = {1, 0};
    int pair[2], rc, i;

    (void)arg;
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) != 0)
        return 10;
    for (i = 0; i < 256; i++)
        big.fd_array[i] = pair[0];
    for (i = 0; i < CANARY_WORDS; i++)
        big.after[i] = 0x5A5A5A5A;
    big.fd_count = 200;
    rc = sslsock_select_sized(0, NULL, (sslsock_fd_set *)(void *)&big, NULL, &tv, 256);
    if (rc != 200 || big.fd_count != 200) {
        printf("# sslsock_select_sized(capacity 256, 200 entries) = %d (WSA %d: %s)\n", rc,
               WSAGetLastError(), sslsock_last_error_reason());
        return 1;
    }
    big.fd_count = 257;
    rc = sslsock_select_sized(0, NULL, (sslsock_fd_set *)(void *)&big, NULL, &tv, 256);
    if (rc != SOCKET_ERROR || WSAGetLastError() != WSAEINVAL)
        return 2;
    for (i = 0; i < CANARY_WORDS; i++)
        if (big.after[i] != 0x5A5A5A5A)
            return 3;
    return 0;
}
#endif

enum isset_api { ISSET_MACRO, ISSET_OLD_EXPORT, ISSET_SIZED_EXPORT };
static const char *isset_api_name[] = {"FD_ISSET (the header's macro)", "__WSAFDIsSet (old export)",
                                       "sslsock_fd_isset_sized(..., 64)"};

struct isset_case {
    enum isset_api api;
    u_int count;
    int want;           /* the expected answer */
    SOCKET in_array;    /* what fd_array[0..63] hold */
    SOCKET after;       /* what the words after the set hold */
    SOCKET ask;         /* the socket asked about */
};

static int isset_call(enum isset_api api, SOCKET s, fd_set *set)
{
    switch (api) {
    case ISSET_MACRO:
        return FD_ISSET(s, set) ? 1 : 0;
    case ISSET_OLD_EXPORT:
        return __WSAFDIsSet(s, (sslsock_fd_set *)set) ? 1 : 0;
    default:
#ifdef SSLSOCK_FD_ARRAY_LEN
        return sslsock_fd_isset_sized(s, (sslsock_fd_set *)set, 64) ? 1 : 0;
#else
        return -1;
#endif
    }
}

static int child_isset(const void *arg)
{
    const struct isset_case *c = arg;
    struct guarded_set *g = calloc(1, sizeof *g);
    int got, i;

    if (!g)
        return 10;
    for (i = 0; i < 64; i++)
        g->set.fd_array[i] = c->in_array;
    for (i = 0; i < CANARY_WORDS; i++)
        g->after[i] = c->after;
    g->set.fd_count = c->count;
    WSASetLastError(0);
    got = isset_call(c->api, c->ask, &g->set);
    if (got == -1)
        return 0;   /* an older header: no sized export */
    if (got != c->want) {
        printf("# %s(%d) with fd_count %u = %d\n", isset_api_name[c->api], c->ask, c->count, got);
        return 1;
    }
    if (WSAGetLastError() != 0) {
        printf("# %s set the last error to %d\n", isset_api_name[c->api], WSAGetLastError());
        return 2;
    }
    return 0;
}

static void test_winsock_sets(void)
{
    static const u_int counts[] = {65, 0x7fffffff};
    int api, k;

#ifdef SSLSOCK_FD_ARRAY_LEN
    const int last_select = VIA_SIZED_EXPORT, last_isset = ISSET_SIZED_EXPORT;
#else
    const int last_select = VIA_OLD_EXPORT, last_isset = ISSET_OLD_EXPORT;
    note("an older winsock2.h (no sslsock_select_sized): the sized exports are not checked");
#endif

    for (api = VIA_MACRO; api <= last_select; api++) {
        for (k = 0; k < 2; k++) {
            struct select_case c = {(enum select_api)api, counts[k]};
            ISOLATED(child_select_over_capacity, &c, CHILD_LIMIT_MS,
                     "%s, fd_count %u in a 64-entry set: SOCKET_ERROR/WSAEINVAL, set and canary "
                     "untouched",
                     select_api_name[api], counts[k]);
        }
        {
            struct select_case c = {(enum select_api)api, 64};
            ISOLATED(child_select_full, &c, CHILD_LIMIT_MS,
                     "%s, a full set of 64 writable entries: 64, canary untouched",
                     select_api_name[api]);
        }
    }
#ifdef SSLSOCK_FD_ARRAY_LEN
    ISOLATED(child_select_sized_large, NULL, CHILD_LIMIT_MS,
             "sslsock_select_sized on a 256-entry set: 200 entries work, 257 are WSAEINVAL");
#endif

    for (api = ISSET_MACRO; api <= last_isset; api++) {
        /* 7777 sits right after a 64-entry set whose fd_count says 65. */
        struct isset_case past = {(enum isset_api)api, 65, 0, 1000, 7777, 7777};
        struct isset_case huge = {(enum isset_api)api, 0x7fffffff, 0, 1000, 1000, 8888};
        struct isset_case last = {(enum isset_api)api, 64, 1, 7777, 1000, 7777};
        ISOLATED(child_isset, &past, CHILD_LIMIT_MS,
                 "%s, fd_count 65 in a 64-entry set, the socket after the set: FALSE, last error "
                 "untouched",
                 isset_api_name[api]);
        ISOLATED(child_isset, &huge, CHILD_LIMIT_MS,
                 "%s, fd_count 0x7fffffff: FALSE at once", isset_api_name[api]);
        ISOLATED(child_isset, &last, CHILD_LIMIT_MS, "%s, a full set of 64: TRUE",
                 isset_api_name[api]);
    }
}

/* ------------------------------------------------------------------ */
/* (d) files                                                           */

struct file_case {
    const char *cert;
    const char *key;        /* NULL: the key is in cert */
    const char *reason;     /* a word the reason must contain */
};

static int child_client_certificate(const void *arg)
{
    const struct file_case *c = arg;
    SOCKET s = unconnected_secure();
    long long t0;
    int rc, wsa, ms;
    const char *reason;

    if (s == INVALID_SOCKET)
        return 10;
    t0 = now_ms();
    WSASetLastError(0);
    rc = sslsock_set_client_certificate(s, c->cert, c->key);
    wsa = WSAGetLastError();
    reason = sslsock_last_error_reason();
    ms = (int)(now_ms() - t0);
    if (c->reason == NULL) {
        if (rc != 0) {
            printf("# sslsock_set_client_certificate = %d (WSA %d: %s)\n", rc, wsa, reason);
            return 1;
        }
        return 0;
    }
    if (rc != SOCKET_ERROR || wsa != WSAEINVAL || ms > FILE_LIMIT_MS ||
        strstr(reason, c->reason) == NULL) {
        printf("# sslsock_set_client_certificate = %d (WSA %d) after %d ms: \"%s\"\n", rc, wsa, ms,
               reason);
        return 1;
    }
    printf("# reason: %s\n", reason);
    return 0;
}

/* The fresh process of the environment cases: a handshake with T_PORT_HTTPS; exit 0 when it ends
 * as argv[2] says ("refused": WSAECONNABORTED, "done": connected) within HANDSHAKE_LIMIT_MS. */
static int handshake_mode(const char *want)
{
    SOCKADDR_IN sa;
    SOCKET s = unconnected_secure();
    long long t0 = now_ms();
    int rc, wsa;

    if (s == INVALID_SOCKET)
        return 10;
    connect_addr(&sa, g_https_port);
    rc = connect(s, (SOCKADDR *)&sa, sizeof sa);
    wsa = WSAGetLastError();
    closesocket(s);
    if (now_ms() - t0 > HANDSHAKE_LIMIT_MS)
        return 3;
    if (strcmp(want, "done") == 0)
        return rc == 0 ? 0 : 1;
    return (rc == SOCKET_ERROR && wsa == WSAECONNABORTED) ? 0 : 2;
}

struct env_case {
    const char *name;       /* the environment variable */
    const char *value;
    const char *want;       /* "refused" or "done" */
};

static int child_env(const void *arg)
{
    const struct env_case *c = arg;
    char *argv[4];

    if (strcmp(c->name, "SSL_CERT_DIR") == 0)
        unsetenv("SSL_CERT_FILE");   /* the directory is all there is */
    else if (strcmp(c->name, "SSL_CERT_FILE") != 0)
        setenv("SSL_CERT_FILE", pki_path("ca.pem"), 1);
    setenv(c->name, c->value, 1);
    setenv("SSLSOCK_LOG", "error", 1);
    argv[0] = g_self;
    argv[1] = (char *)"--handshake";
    argv[2] = (char *)c->want;
    argv[3] = NULL;
    execv("/proc/self/exe", argv);
    return 20;
}

static void test_files(void)
{
    char fifo[300], sparse[300], dir[300], link[400], both[700];
    int fd;

    snprintf(fifo, sizeof fifo, "%s/fifo", g_tmpdir);
    snprintf(sparse, sizeof sparse, "%s/sparse.pem", g_tmpdir);
    snprintf(dir, sizeof dir, "%s/certdir", g_tmpdir);
    if (!CHECK(mkfifo(fifo, 0600) == 0, "mkfifo %s", fifo))
        return;
    fd = open(sparse, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (!CHECK(fd >= 0 && ftruncate(fd, (off_t)SPARSE_BYTES) == 0, "an 8 GiB sparse file"))
        return;
    close(fd);
    /* A CA directory: the test CA, and a FIFO, /dev/zero and the sparse file beside it. */
    mkdir(dir, 0700);
    snprintf(link, sizeof link, "%s/ca.pem", dir);
    CHECK(symlink(pki_path("ca.pem"), link) == 0, "symlink %s", link);
    snprintf(link, sizeof link, "%s/fifo.pem", dir);
    CHECK(mkfifo(link, 0600) == 0, "mkfifo %s", link);
    snprintf(link, sizeof link, "%s/zero.pem", dir);
    CHECK(symlink("/dev/zero", link) == 0, "symlink %s", link);
    snprintf(link, sizeof link, "%s/sparse.pem", dir);
    CHECK(symlink(sparse, link) == 0, "symlink %s", link);

    {
        struct file_case zero = {"/dev/zero", NULL, "not a regular file"};
        struct file_case directory = {g_tmpdir, NULL, "not a regular file"};
        struct file_case fifo_case = {fifo, NULL, "not a regular file"};
        struct file_case big = {sparse, NULL, "larger than"};
        struct file_case key_zero = {NULL, "/dev/zero", "not a regular file"};
        struct file_case key_big = {NULL, sparse, "larger than"};
        struct file_case good = {NULL, NULL, NULL};
        char cert[4096], key[4096];

        snprintf(cert, sizeof cert, "%s", pki_path("client.pem"));
        snprintf(key, sizeof key, "%s", pki_path("client.key"));
        key_zero.cert = key_big.cert = good.cert = cert;
        good.key = key;
        ISOLATED(child_client_certificate, &zero, CHILD_LIMIT_MS,
                 "sslsock_set_client_certificate(\"/dev/zero\"): WSAEINVAL at once, a reason");
        ISOLATED(child_client_certificate, &directory, CHILD_LIMIT_MS,
                 "sslsock_set_client_certificate(a directory): WSAEINVAL at once, a reason");
        ISOLATED(child_client_certificate, &fifo_case, CHILD_LIMIT_MS,
                 "sslsock_set_client_certificate(a FIFO with no writer): WSAEINVAL at once, a reason");
        ISOLATED(child_client_certificate, &big, CHILD_LIMIT_MS,
                 "sslsock_set_client_certificate(an 8 GiB sparse file): WSAEINVAL at once, a reason");
        ISOLATED(child_client_certificate, &key_zero, CHILD_LIMIT_MS,
                 "sslsock_set_client_certificate(client.pem, key \"/dev/zero\"): WSAEINVAL at once");
        ISOLATED(child_client_certificate, &key_big, CHILD_LIMIT_MS,
                 "sslsock_set_client_certificate(client.pem, key an 8 GiB sparse file): WSAEINVAL");
        ISOLATED(child_client_certificate, &good, CHILD_LIMIT_MS,
                 "sslsock_set_client_certificate(client.pem, client.key) still works");
    }

    snprintf(both, sizeof both, "%s:%s", fifo, sparse);
    {
        const struct env_case cases[] = {
            {"SSL_CERT_FILE", "/dev/zero", "refused"},
            {"SSL_CERT_FILE", fifo, "refused"},
            {"SSL_CERT_FILE", sparse, "refused"},
            {"SSL_CERT_FILE", g_tmpdir, "refused"},
            {"SSL_CERT_DIR", dir, "done"},
            {"SSLSOCK_CRL_FILE", "/dev/zero", "done"},
            {"SSLSOCK_CRL_FILE", both, "done"},
            {"SSLSOCK_CLIENT_CERT", "/dev/zero", "done"},
            {"SSLSOCK_CLIENT_CERT", fifo, "done"},
        };
        size_t i;
        for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            ISOLATED(child_env, &cases[i], HANDSHAKE_LIMIT_MS + 2000,
                     "%s=%s%s: a fresh process's handshake is %s within %d ms", cases[i].name,
                     cases[i].value, strcmp(cases[i].name, "SSL_CERT_DIR") == 0 ? " (with the CA)" : "",
                     strcmp(cases[i].want, "done") == 0 ? "done" : "refused (WSAECONNABORTED)",
                     HANDSHAKE_LIMIT_MS);
        }
    }
}

/* ------------------------------------------------------------------ */
/* (e) Winsock select and signals                                      */

static volatile sig_atomic_t g_signals;
static void on_usr1(int sig)
{
    (void)sig;
    g_signals++;
}

struct signaller {
    pthread_t target;
    int every_ms, count;
    int write_fd, write_at_ms;  /* -1: write nothing */
};

static void *signal_thread(void *p)
{
    struct signaller *s = p;
    long long t0 = now_ms();
    int sent = 0;
    while (sent < s->count || s->write_fd >= 0) {
        long long t = now_ms() - t0;
        if (sent < s->count && t >= (long long)(sent + 1) * s->every_ms) {
            pthread_kill(s->target, SIGUSR1);
            sent++;
        }
        if (s->write_fd >= 0 && t >= s->write_at_ms) {
            if (write(s->write_fd, "x", 1) != 1) { /* the check sees nothing to read */ }
            s->write_fd = -1;
        }
        usleep(1000);
    }
    return NULL;
}

static void test_select_signals(void)
{
    struct sigaction sa;
    int pair[2];
    fd_set r;
    struct timeval tv;
    struct signaller sg;
    pthread_t th;
    long long t0, ms;
    int rc, wsa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sa.sa_flags = 0;   /* no SA_RESTART */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    if (!CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, pair) == 0, "socketpair"))
        return;

    /* Signals at 150 and 300 ms; the socket becomes readable at 600 ms; the timeout is 2 s. */
    g_signals = 0;
    sg.target = pthread_self();
    sg.every_ms = 150;
    sg.count = 2;
    sg.write_fd = pair[1];
    sg.write_at_ms = 600;
    FD_ZERO(&r);
    FD_SET(pair[0], &r);
    tv.tv_sec = 2;
    tv.tv_usec = 0;
    t0 = now_ms();
    pthread_create(&th, NULL, signal_thread, &sg);
    WSASetLastError(0);
    rc = select(0, &r, NULL, NULL, &tv);
    wsa = WSAGetLastError();
    ms = now_ms() - t0;
    pthread_join(th, NULL);
    CHECK(rc == 1 && FD_ISSET(pair[0], &r) && g_signals == 2 && ms >= 550,
          "Winsock select interrupted twice by a signal (no SA_RESTART) goes on and reports the "
          "socket readable at 600 ms (got %d, WSA %d, %d signals, after %lld ms)",
          rc, wsa, (int)g_signals, ms);

    /* Nothing to read, a 1 s timeout, a signal every 150 ms for 1.5 s: 0 after about 1 s. */
    g_signals = 0;
    sg.count = 10;
    sg.write_fd = -1;
    FD_ZERO(&r);
    FD_SET(pair[0], &r);
    {
        char c;
        if (recv(pair[0], &c, 1, 0) != 1) { /* the first part already failed */ }
    }
    tv.tv_sec = 1;
    tv.tv_usec = 0;
    t0 = now_ms();
    pthread_create(&th, NULL, signal_thread, &sg);
    WSASetLastError(0);
    rc = select(0, &r, NULL, NULL, &tv);
    wsa = WSAGetLastError();
    ms = now_ms() - t0;
    pthread_join(th, NULL);
    CHECK(rc == 0 && wsa == 0 && ms >= 950 && ms < 1400,
          "Winsock select with a 1 s timeout and a signal every 150 ms returns 0 after about 1 s "
          "(the time left, not the whole timeout again) (got %d, WSA %d, %d signals, after %lld ms)",
          rc, wsa, (int)g_signals, ms);
    close(pair[0]);
    close(pair[1]);
    signal(SIGUSR1, SIG_DFL);
}

/* ------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    struct rlimit rl;
    const char *tmp = getenv("TMPDIR");

    g_https_port = env_port("T_PORT_HTTPS");
    if (argc == 3 && strcmp(argv[1], "--handshake") == 0)
        return handshake_mode(argv[2]);
    start_watchdog(55);
    snprintf(g_self, sizeof g_self, "%s", argv[0]);

    /* A small RLIMIT_NOFILE soft limit makes "nfds > RLIMIT_NOFILE" cheap to build. */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur > 256) {
        rl.rlim_cur = 256;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    snprintf(g_tmpdir, sizeof g_tmpdir, "%s/sslsock-bounds.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!CHECK(mkdtemp(g_tmpdir) != NULL, "mkdtemp"))
        return finish();

    test_select_signals();   /* makes no secure socket */
    test_poll(0);            /* before any secure socket in the process */
    test_poll(1);
    test_winsock_sets();
    test_files();

    {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmpdir);
        if (system(cmd) != 0) { /* a leftover directory in TMPDIR */ }
    }
    return finish();
}
