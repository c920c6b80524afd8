/*
 * Readiness of blocking secure sockets under POSIX poll() and POSIX select() (POSIX fd_set; the
 * library interposes both): they must see plaintext buffered inside the library, and must not
 * report a record that has only partly arrived.
 *
 * 1. Buffered plaintext: `ECHO <8000 chars>` comes back as ONE TLS record of 8002 bytes; a recv of
 *    1024 bytes makes the library decrypt all of it, so the kernel's queue is empty (checked with the
 *    raw FIONREAD system call, which the library cannot see) while 6978 bytes wait in the library.
 *    poll(POLLIN, 0) must report POLLIN, ioctlsocket(FIONREAD) (Linux and Winsock codes) must say
 *    6978; once everything is read, poll(POLLIN, 0) must report nothing and FIONREAD 0. The same
 *    with select({0, 0}).
 * 2. A record arriving in pieces: `SLOW 8000 100` (the STARTTLS server writes the record's
 *    ciphertext in 8 pieces, 100 ms apart). poll(POLLIN, 50 ms) must return 0 (after waiting its
 *    50 ms) while only part of the record is there, and POLLIN once all of it is, i.e. not before
 *    about 700 ms. The same with select(50 ms).
 * Both also through ppoll() and pselect() (the library interposes them too), and:
 * 3. Signal masks: with SIGUSR1 blocked by the program and pending, ppoll/pselect with a mask that
 *    unblocks it return -1 EINTR at once (the handler ran) while nothing is readable; with a mask that
 *    keeps it blocked they time out and the signal stays pending; while data is held in the library
 *    they report it readable. Bad timeouts (negative, nanoseconds >= 1e9) are EINVAL.
 */
#define _GNU_SOURCE
#define SSLSOCK_POSIX_FD_SET
#include <winsock2.h>
#include <sslsock.h>
#include <poll.h>
#include <signal.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include "common.h"

#define TEXT_LEN 8000
#define FIRST_READ 1024
#define SLOW_N 8000
#define SLOW_MS 100
#define SLOW_PIECES 8          /* tests/servers/starttls_server.py SLOW_PIECES */
#define WINSOCK_FIONREAD 0x4004667FL

static struct hook_record g_rec;

/* Bytes queued in the kernel for the descriptor, bypassing any interposition. */
static long kernel_queued(SOCKET s)
{
    int n = -1;
    if (syscall(SYS_ioctl, s, FIONREAD, &n) != 0)
        return -1;
    return n;
}

enum api { API_POLL, API_SELECT, API_PPOLL, API_PSELECT, API_COUNT };
static const char *api_name[API_COUNT] = {"poll", "select", "ppoll", "pselect"};

/* Readable now (timeout_ms 0) or within timeout_ms, through poll, POSIX select, ppoll or pselect
 * (these two with `mask` as their signal mask; NULL: none). Returns the call's result; *readable gets
 * POLLIN / FD_ISSET. */
static int readable_masked(SOCKET s, int timeout_ms, enum api api, const sigset_t *mask, int *readable)
{
    int n;
    *readable = 0;
    if (api == API_POLL || api == API_PPOLL) {
        struct pollfd p;
        struct timespec ts;
        p.fd = s;
        p.events = POLLIN;
        p.revents = 0;
        ts.tv_sec = timeout_ms / 1000;
        ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000L;
        n = api == API_POLL ? poll(&p, 1, timeout_ms) : ppoll(&p, 1, &ts, mask);
        *readable = n > 0 && (p.revents & POLLIN);
    } else {
        fd_set r;
        struct timeval tv;
        struct timespec ts;
        tv.tv_sec = timeout_ms / 1000;
        tv.tv_usec = (timeout_ms % 1000) * 1000;
        ts.tv_sec = tv.tv_sec;
        ts.tv_nsec = tv.tv_usec * 1000L;
        FD_ZERO(&r);
        FD_SET(s, &r);
        n = api == API_SELECT ? select(s + 1, &r, NULL, NULL, &tv) : pselect(s + 1, &r, NULL, NULL, &ts, mask);
        *readable = n > 0 && FD_ISSET(s, &r);
    }
    return n;
}

static int readable_within(SOCKET s, int timeout_ms, enum api api, int *readable)
{
    return readable_masked(s, timeout_ms, api, NULL, readable);
}

static SOCKET open_secure(int port, const char *what)
{
    SOCKADDR_IN sa;
    SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    CHECK(s != INVALID_SOCKET, "%s: socket()", what);
    CHECK(make_secure(s) == 0, "%s: SO_SECURE", what);
    hook_reset(&g_rec, SSL_ERR_OKAY);
    CHECK(set_hook(s, record_hook, &g_rec) == 0, "%s: SET_VALIDATE_CERT_HOOK", what);
    connect_addr(&sa, port);
    CHECK(connect(s, (SOCKADDR *)&sa, sizeof sa) == 0, "%s: connect (immediate handshake)", what);
    CHECK(g_rec.calls == 1, "%s: hook called once (got %d)", what, g_rec.calls);
    return s;
}

/* ---- 1. plaintext buffered in the library ----------------------------------------------- */

static void buffered(int port, enum api use)
{
    static char text[TEXT_LEN + 1], cmd[TEXT_LEN + 16], buf[TEXT_LEN + 16];
    const char *api = api_name[use];
    char what[96];
    size_t rest = TEXT_LEN + 2 - FIRST_READ;
    u_long avail = 12345, avail_ws = 12345;
    long got, kq;
    int n, rd, r1, r2;
    SOCKET s;

    snprintf(what, sizeof what, "buffered plaintext [%s]", api);
    s = open_secure(port, what);

    if (use == API_POLL) {
        struct pollfd p;
        p.fd = s;
        p.events = POLLOUT;
        p.revents = 0;
        n = poll(&p, 1, 0);
        CHECK(n == 1 && (p.revents & POLLOUT), "%s: poll(POLLOUT, 0) on the idle established socket reports "
              "POLLOUT (rc %d, revents 0x%x)", what, n, (unsigned)p.revents);
    }
    n = readable_within(s, 0, use, &rd);
    CHECK(n == 0 && !rd, "%s: nothing to read yet: %s with a zero timeout returns 0 (rc %d)", what, api, n);

    fill_text(text, TEXT_LEN, 5);
    snprintf(cmd, sizeof cmd, "ECHO %s\r\n", text);
    CHECK(send_str(s, cmd) == 0, "%s: send ECHO of %d characters (one TLS record of %d bytes back)", what,
          TEXT_LEN, TEXT_LEN + 2);
    got = recv_exact(s, buf, FIRST_READ);
    CHECK(got == FIRST_READ && memcmp(buf, text, FIRST_READ) == 0, "%s: recv of the first %d bytes (got %ld)", what,
          FIRST_READ, got);
    kq = kernel_queued(s);
    CHECK(kq == 0, "%s: (precondition) the kernel's receive queue is empty: the rest is only in the library "
                   "(kernel FIONREAD %ld)", what, kq);

    n = readable_within(s, 0, use, &rd);
    CHECK(n == 1 && rd, "%s: %s with a zero timeout reports the socket readable (rc %d, readable %d)", what, api, n,
          rd);
    r1 = ioctlsocket(s, FIONREAD, &avail);
    CHECK(r1 == 0 && avail == rest, "%s: ioctlsocket(FIONREAD) says %lu bytes (rc %d, got %lu)", what,
          (unsigned long)rest, r1, (unsigned long)avail);
    r2 = ioctlsocket(s, WINSOCK_FIONREAD, &avail_ws);
    CHECK(r2 == 0 && avail_ws == rest, "%s: ioctlsocket(Winsock FIONREAD 0x4004667F) says %lu bytes (rc %d, got %lu)",
          what, (unsigned long)rest, r2, (unsigned long)avail_ws);

    got = recv_exact(s, buf, rest);
    CHECK(got == (long)rest && memcmp(buf, text + FIRST_READ, TEXT_LEN - FIRST_READ) == 0 &&
              memcmp(buf + TEXT_LEN - FIRST_READ, "\r\n", 2) == 0,
          "%s: the remaining %lu bytes read back intact (got %ld)", what, (unsigned long)rest, got);
    n = readable_within(s, 0, use, &rd);
    CHECK(n == 0 && !rd, "%s: after reading everything, %s with a zero timeout reports nothing (rc %d, readable %d)",
          what, api, n, rd);
    avail = 12345;
    r1 = ioctlsocket(s, FIONREAD, &avail);
    CHECK(r1 == 0 && avail == 0, "%s: ioctlsocket(FIONREAD) says 0 (rc %d, got %lu)", what, r1, (unsigned long)avail);
    CHECK(echo_roundtrip(s, "still fine"), "%s: the socket still works (ECHO)", what);
    CHECK(closesocket(s) == 0, "%s: closesocket", what);
}

/* ---- 2. a record that arrives in pieces ------------------------------------------------- */

static void slow_record(int port, enum api use)
{
    static char buf[SLOW_N + 16];
    const char *api = api_name[use];
    char what[96], cmd[64];
    long long t0, t_ready = -1, total_ms = (long long)(SLOW_PIECES - 1) * SLOW_MS;
    int zeros = 0, early = 0, errors = 0, n, rd;
    long kmax = 0, got;
    u_long avail = 0;
    SOCKET s;

    snprintf(what, sizeof what, "record in pieces [%s(50 ms)]", api);
    s = open_secure(port, what);
    snprintf(cmd, sizeof cmd, "SLOW %d %d\r\n", SLOW_N, SLOW_MS);
    CHECK(send_str(s, cmd) == 0, "%s: send %.*s", what, (int)strlen(cmd) - 2, cmd);
    t0 = now_ms();
    while (now_ms() - t0 < total_ms + 3000) {
        long long t1 = now_ms(), dt;
        long kq;
        n = readable_within(s, 50, use, &rd);
        dt = now_ms() - t1;
        if (n == 1 && rd) {
            t_ready = now_ms() - t0;
            break;
        }
        if (n < 0) {
            errors++;
            break;
        }
        zeros++;
        if (dt < 45)
            early++;
        kq = kernel_queued(s);
        if (kq > kmax)
            kmax = kq;
    }
    note("%s: %d zero returns; at most %ld ciphertext bytes waited in the kernel meanwhile; readable after %lld ms",
         what, zeros, kmax, t_ready);
    CHECK(errors == 0, "%s: %s never failed", what, api);
    CHECK(t_ready >= 0, "%s: the socket becomes readable once the whole record is there (within %lld ms)", what,
          total_ms + 3000);
    CHECK(t_ready < 0 || t_ready >= total_ms - SLOW_MS / 2,
          "%s: ... and not before its last piece was sent (~%lld ms): readable after %lld ms", what, total_ms,
          t_ready);
    CHECK(zeros >= 5, "%s: %s returned 0 (not readable) while the record was incomplete (%d times)", what, api,
          zeros);
    CHECK(early == 0, "%s: each of those waited its 50 ms (%d returned 0 early: a busy loop for the program)", what,
          early);
    if (ioctlsocket(s, FIONREAD, &avail) == 0)
        note("%s: FIONREAD when reported readable: %lu", what, (unsigned long)avail);
    got = recv_exact(s, buf, SLOW_N);
    CHECK(got == SLOW_N && expect_pattern(buf, SLOW_N, 0), "%s: the %d pattern bytes read back intact (got %ld)",
          what, SLOW_N, got);
    n = readable_within(s, 0, use, &rd);
    CHECK(n == 0 && !rd, "%s: then nothing more is readable (rc %d)", what, n);
    CHECK(closesocket(s) == 0, "%s: closesocket", what);
}

/* ---- 3. signal masks ---------------------------------------------------------------------- */

static volatile sig_atomic_t g_usr1;
static void on_usr1(int sig)
{
    (void)sig;
    g_usr1++;
}

static void masks(int port, enum api use)
{
    static char text[200], cmd[260], buf[256];
    const char *api = api_name[use];
    char what[96];
    sigset_t block, open_mask, keep_mask, pending;
    struct sigaction sa;
    long long t0, dt;
    int n, rd, err;
    long got;
    SOCKET s;

    snprintf(what, sizeof what, "signal masks [%s]", api);
    s = open_secure(port, what);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    sigprocmask(SIG_BLOCK, &block, NULL);
    sigprocmask(SIG_BLOCK, NULL, &open_mask);
    sigdelset(&open_mask, SIGUSR1);
    sigprocmask(SIG_BLOCK, NULL, &keep_mask);

    /* A pending signal the call's mask unblocks ends it at once, with nothing readable. */
    g_usr1 = 0;
    raise(SIGUSR1);
    t0 = now_ms();
    errno = 0;
    n = readable_masked(s, 5000, use, &open_mask, &rd);
    err = errno;
    dt = now_ms() - t0;
    CHECK(n == -1 && err == EINTR && g_usr1 == 1,
          "%s: SIGUSR1 pending and unblocked by the mask: -1 EINTR and the handler ran (rc %d, errno %d, handler "
          "%d, after %lld ms)", what, n, err, (int)g_usr1, dt);
    CHECK(dt < 4000, "%s: ... at once, not after the 5 s timeout (%lld ms)", what, dt);

    /* A mask that keeps it blocked: the call times out and the signal stays pending. */
    g_usr1 = 0;
    raise(SIGUSR1);
    n = readable_masked(s, 100, use, &keep_mask, &rd);
    sigpending(&pending);
    CHECK(n == 0 && g_usr1 == 0 && sigismember(&pending, SIGUSR1),
          "%s: SIGUSR1 kept blocked by the mask: the call times out (rc %d), the signal still pending (%d), no "
          "handler (%d)", what, n, sigismember(&pending, SIGUSR1), (int)g_usr1);
    /* deliver it now, so that it does not linger */
    n = readable_masked(s, 0, use, &open_mask, &rd);
    CHECK(g_usr1 == 1, "%s: the pending SIGUSR1 is delivered by the next call that unblocks it (rc %d)", what, n);

    /* Data held in the library is reported under a mask too. */
    fill_text(text, sizeof text - 1, 3);
    snprintf(cmd, sizeof cmd, "ECHO %s\r\n", text);
    CHECK(send_str(s, cmd) == 0, "%s: send ECHO", what);
    got = recv_exact(s, buf, 10);
    CHECK(got == 10 && kernel_queued(s) == 0, "%s: recv of 10 bytes leaves the rest of the record in the library "
          "(got %ld)", what, got);
    n = readable_masked(s, 2000, use, &keep_mask, &rd);
    CHECK(n == 1 && rd, "%s: the held plaintext is reported readable at once (rc %d, readable %d)", what, n, rd);
    got = recv_exact(s, buf, sizeof text - 1 + 2 - 10);
    CHECK(got == (long)(sizeof text - 1 + 2 - 10) && memcmp(buf, text + 10, sizeof text - 1 - 10) == 0,
          "%s: the rest reads back intact (got %ld)", what, got);

    /* Bad timeouts: EINVAL, as the kernel answers. */
    {
        struct pollfd p = {s, POLLIN, 0};
        struct timespec bad1 = {-1, 0}, bad2 = {0, 1000000000L};
        fd_set r;
        FD_ZERO(&r);
        FD_SET(s, &r);
        errno = 0;
        n = use == API_PPOLL ? ppoll(&p, 1, &bad1, NULL) : pselect(s + 1, &r, NULL, NULL, &bad1, NULL);
        CHECK(n == -1 && errno == EINVAL, "%s: a negative timeout is EINVAL (rc %d, errno %d)", what, n, errno);
        FD_SET(s, &r);
        errno = 0;
        n = use == API_PPOLL ? ppoll(&p, 1, &bad2, NULL) : pselect(s + 1, &r, NULL, NULL, &bad2, NULL);
        CHECK(n == -1 && errno == EINVAL, "%s: tv_nsec of 1e9 is EINVAL (rc %d, errno %d)", what, n, errno);
    }
    sigprocmask(SIG_UNBLOCK, &block, NULL);
    CHECK(closesocket(s) == 0, "%s: closesocket", what);
}

int main(void)
{
    int port = env_port("T_PORT_STARTTLS");
    WSADATA wsa;

    start_watchdog(50);
    CHECK(WSAStartup(MAKEWORD(2, 2), &wsa) == 0, "WSAStartup(2.2)");
    for (int a = 0; a < API_COUNT; a++)
        buffered(port, (enum api)a);
    for (int a = 0; a < API_COUNT; a++)
        slow_record(port, (enum api)a);
    for (int a = API_PPOLL; a < API_COUNT; a++)
        masks(port, (enum api)a);
    WSACleanup();
    return finish();
}
