/*
 * fork_no_alloc.c - sslsock's fork handlers neither allocate nor free, and take sslsock's locks before
 * an allocator with fork handlers of its own takes the allocator's.
 *
 * An allocator such as jemalloc or tcmalloc registers fork handlers that take its locks in `prepare`
 * and release them in `parent`/`child`. glibc runs `prepare` handlers in the reverse order of
 * registration. So (1) a malloc or free inside sslsock's handlers while the allocator's locks are held
 * would wait for its own thread, and (2) if the allocator's `prepare` ran before sslsock's, a thread
 * holding one of sslsock's locks while allocating would wait for the allocator, and sslsock's `prepare`
 * for that thread: the fork would never return. sslsock registers its handlers at load and again before
 * its locks are first used (src/fork.rs), and the later registration acts first.
 *
 * This program stands for such an allocator: it defines malloc, calloc, realloc, free and the aligned
 * variants (forwarding to glibc's), registers fork handlers of its own at the start of main (after
 * sslsock's load-time registration, before sslsock's locks are first used), whose `prepare` takes an
 * "allocator lock" that every other thread's allocation then waits for, and counts every allocator
 * call the forking thread makes between its own `prepare` and its own `parent`/`child` handler.
 * Meanwhile two threads hold sslsock's locks while they allocate (event selections on socket pairs:
 * the event model's state; secure sockets made and closed: the descriptor table; epoll sets holding a
 * secure socket: the registry of inner sets). The process forks from the main thread and from new
 * threads (whose first fork is their first use of anything thread-local); every child reports its count
 * through its exit status. A fork that never returns is caught by the watchdog.
 */
#define _GNU_SOURCE
#include <winsock2.h>
#include <sslsock.h>
#include "common.h"

#include <errno.h>
#include <malloc.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <string.h>
#include <sys/wait.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
extern void *__libc_memalign(size_t, size_t);

static atomic_int g_in_fork;
static pthread_t g_forker;
static atomic_int g_calls;
/* The allocator's lock: held by the forking thread from its `prepare` to its `parent`/`child`. */
static pthread_mutex_t g_alloc_lock = PTHREAD_MUTEX_INITIALIZER;

static void count(void)
{
    if (atomic_load(&g_in_fork) && pthread_equal(pthread_self(), g_forker)) {
        atomic_fetch_add(&g_calls, 1);
        return;
    }
    pthread_mutex_lock(&g_alloc_lock);
    pthread_mutex_unlock(&g_alloc_lock);
}

void *malloc(size_t n) { count(); return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { count(); return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { count(); return __libc_realloc(p, n); }
void free(void *p) { if (p) count(); __libc_free(p); }
void *memalign(size_t a, size_t n) { count(); return __libc_memalign(a, n); }
void *aligned_alloc(size_t a, size_t n) { count(); return __libc_memalign(a, n); }
int posix_memalign(void **out, size_t a, size_t n)
{
    count();
    void *p = __libc_memalign(a, n);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}

/* The program's own fork handlers, registered after sslsock's (which were registered at load). */
static int g_parent_calls = -1;
static void my_prepare(void)
{
    g_forker = pthread_self();
    atomic_store(&g_calls, 0);
    atomic_store(&g_in_fork, 1);
    pthread_mutex_lock(&g_alloc_lock);
}
static void my_parent(void)
{
    pthread_mutex_unlock(&g_alloc_lock);
    atomic_store(&g_in_fork, 0);
    g_parent_calls = atomic_load(&g_calls);
}
static void my_child(void)
{
    pthread_mutex_unlock(&g_alloc_lock);
    atomic_store(&g_in_fork, 0);
}

/* One fork: returns the calls counted in the parent (its handlers) and, through `child_calls`, in the
 * child (its exit status: the count, 250 for more than 50, 255 for an abnormal end). */
static int one_fork(int *child_calls)
{
    pid_t pid = fork();
    if (pid == 0) _exit(atomic_load(&g_calls) > 50 ? 250 : atomic_load(&g_calls));
    int st = 0;
    waitpid(pid, &st, 0);
    *child_calls = WIFEXITED(st) ? WEXITSTATUS(st) : 255;
    return g_parent_calls;
}

struct tally { int forks, parent, child; };
static pthread_mutex_t g_fork_lock = PTHREAD_MUTEX_INITIALIZER;

static void forks(struct tally *t, int n)
{
    for (int i = 0; i < n; i++) {
        usleep(1000); /* the churn threads run between two forks */
        pthread_mutex_lock(&g_fork_lock); /* one fork at a time: g_calls is the process's */
        int c = 0, p = one_fork(&c);
        pthread_mutex_unlock(&g_fork_lock);
        t->forks++;
        t->parent += p;
        t->child += c;
    }
}

static int g_thread_forks = 20;

static void *thread_forks(void *arg)
{
    forks(arg, g_thread_forks);
    return NULL;
}

static atomic_int g_stop;

/* Holds the event model's state while allocating and freeing: 40 selections made, then ended (the
 * selections' map grows and shrinks under the state lock). */
static void *select_churn(void *arg)
{
    (void)arg;
    enum { N = 40 };
    WSAEVENT ev = WSACreateEvent();
    while (!atomic_load(&g_stop)) {
        int sp[N][2], n = 0;
        for (; n < N; n++) {
            if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp[n]) != 0) break;
            WSAEventSelect(sp[n][0], ev, FD_READ | FD_CLOSE);
        }
        for (int i = 0; i < n; i++) {
            closesocket(sp[i][0]);
            close(sp[i][1]);
        }
    }
    WSACloseEvent(ev);
    return NULL;
}

/* Holds the session cache while allocating and freeing (each TLS 1.3 handshake stores the server's
 * tickets and drops old ones under its lock), and the descriptor table and the epoll registry: secure
 * connections made, put in an epoll set, and closed. */
static void *secure_churn(void *arg)
{
    int port = *(int *)arg;
    while (!atomic_load(&g_stop)) {
        SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
        make_secure(s);
        SOCKADDR_IN sa;
        connect_addr(&sa, port);
        connect(s, (SOCKADDR *)&sa, sizeof sa);
        int ep = epoll_create1(EPOLL_CLOEXEC);
        struct epoll_event e = { .events = EPOLLIN, .data.u64 = 2 };
        epoll_ctl(ep, EPOLL_CTL_ADD, s, &e);
        close(ep);
        closesocket(s);
    }
    return NULL;
}

int main(void)
{
    start_watchdog(50);
    /* Under valgrind (T_RACE_ROUNDS, tests/valgrind.sh) fewer forks: each is much slower there. */
    const char *rr = getenv("T_RACE_ROUNDS");
    int slow = rr && atoi(rr) > 0, first = slow ? 30 : 200, later = slow ? 5 : 20;
    g_thread_forks = later;
    /* First, as an allocator initialised before the program uses sslsock would. */
    CHECK(pthread_atfork(my_prepare, my_parent, my_child) == 0, "the program's fork handlers registered");
    /* Before sslsock reads its settings: the churn thread's first handshake loads the trust anchors under sslsock's one-time
     * initialisation lock, allocating all along: from a large bundle (the test CA repeated to about
     * 3.5 MiB), so that it lasts while the main thread forks every millisecond. */
    char bundle[512];
    const char *tmp = getenv("TMPDIR");
    size_t ca_len = 0, written = 0;
    unsigned char *ca = read_pki("ca.pem", &ca_len);
    snprintf(bundle, sizeof bundle, "%s/sslsock-fork-no-alloc.%d.pem", tmp && *tmp ? tmp : "/tmp",
             (int)getpid());
    FILE *out = fopen(bundle, "wb");
    CHECK(out != NULL && ca != NULL && ca_len > 0, "write the bundle %s", bundle);
    while (out && ca && ca_len > 0 && written + ca_len < 3500u * 1024) {
        fwrite(ca, 1, ca_len, out);
        written += ca_len;
    }
    if (out) fclose(out);
    free(ca);
    setenv("SSL_CERT_FILE", bundle, 1);
    SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    make_secure(s);
    SOCKADDR_IN sa;

    WSAEVENT ev = WSACreateEvent();
    int sp[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0, "socketpair");
    CHECK(WSAEventSelect(sp[0], ev, FD_READ) == 0, "WSAEventSelect");
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event e = { .events = EPOLLIN, .data.u64 = 1 };
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, s, &e) == 0, "epoll_ctl ADD of the secure socket");


    pthread_t churn[2];
    pthread_create(&churn[0], NULL, select_churn, NULL);
    int port = env_port("T_PORT_TLS13");
    pthread_create(&churn[1], NULL, secure_churn, &port);
    struct tally t = { 0, 0, 0 };
    forks(&t, first);
    /* (s_server answers one connection at a time: the churn thread has T_PORT_TLS13 to itself.) */
    connect_addr(&sa, env_port("T_PORT_HTTPS"));
    CHECK(connect(s, (SOCKADDR *)&sa, sizeof sa) == 0, "secure connect");
    forks(&t, later);
    pthread_t th[3];
    struct tally tt[3] = { { 0, 0, 0 }, { 0, 0, 0 }, { 0, 0, 0 } };
    for (int i = 0; i < 3; i++) pthread_create(&th[i], NULL, thread_forks, &tt[i]);
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        t.forks += tt[i].forks;
        t.parent += tt[i].parent;
        t.child += tt[i].child;
    }
    atomic_store(&g_stop, 1);
    pthread_join(churn[0], NULL);
    pthread_join(churn[1], NULL);
    unlink(bundle);
    note("every fork returned while two threads held sslsock's locks and allocated");
    note("%d forks: %d allocator calls in the parent's handlers, %d in the children's", t.forks, t.parent, t.child);
    CHECK(t.forks == first + 4 * later, "%d forks (%d)", first + 4 * later, t.forks);
    CHECK(t.parent == 0, "sslsock's prepare and parent handlers made no allocator call (%d)", t.parent);
    /* Under valgrind (tests/valgrind.sh) the children count calls that are valgrind's own, made after
     * the handlers (about 100 per child): only the parent's count is judged there. */
    const char *pre = getenv("LD_PRELOAD");
    if (pre && strstr(pre, "vgpreload"))
        note("under valgrind: the children's count (%d) is not judged", t.child);
    else
        CHECK(t.child == 0, "sslsock's prepare and child handlers made no allocator call (%d)", t.child);

    close(ep);
    WSAEventSelect(sp[0], ev, 0);
    WSACloseEvent(ev);
    close(sp[0]);
    close(sp[1]);
    closesocket(s);
    return finish();
}
