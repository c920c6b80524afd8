/*
 * time64.c - a program built with _TIME_BITS=64 (and _FILE_OFFSET_BITS=64), as Debian trixie and
 * Ubuntu build for armhf: on a 32-bit target glibc's headers turn setsockopt, getsockopt, sendmsg,
 * recvmsg, sendmmsg, recvmmsg, fcntl, select, pselect and ppoll into __setsockopt64, __getsockopt64,
 * __sendmsg64, __recvmsg64, __sendmmsg64, __recvmmsg64, __fcntl_time64, __select64, __pselect64 and
 * __ppoll64, and libsslsock must answer those names as it answers the others (src/ffi/time64.rs).
 * On a 64-bit target the macros change nothing: the same checks run on the plain API.
 *
 * Every connection goes through a relay in this program that records every byte the client sends
 * (the wire), to the STARTTLS server in immediate-TLS mode ($T_PORT_STARTTLS, "STREAM": an echo):
 *  1. setsockopt(SO_SECURE, SO_SEC_SSL) returns 0 and getsockopt(SO_SECURE) reads SO_SEC_SSL back.
 *     (If the program's setsockopt does not reach sslsock, the socket is made secure through the
 *     32-bit-time name `setsockopt`, so that the other checks still show what each call does.)
 *  2. A marker written through send, sendmsg, sendmmsg and write on a fcntl(F_DUPFD) copy comes back
 *     decrypted (through recv, recvmsg and recvmmsg with a 64-bit timespec timeout), and never
 *     appears raw on the wire; the copy reads SO_SECURE as SO_SEC_SSL.
 *  3. select with a (64-bit) timeval reports the socket readable when the rest of a record is
 *     waiting inside sslsock (the kernel has nothing), and gives back the time left; ppoll and
 *     pselect (libc's own, the kernel's readiness) report it readable when the echo arrives.
 *  4. SO_RCVTIMEO as a DWORD of milliseconds (CE style) and as a (64-bit) struct timeval: setsockopt
 *     returns 0, getsockopt reads it back, and a recv with nothing coming fails with WSAETIMEDOUT in
 *     about that time.
 *  5. The wire: every connection began with a TLS record, no marker is on it.
 */
#define _GNU_SOURCE
#define _FILE_OFFSET_BITS 64
#define _TIME_BITS 64
#define SSLSOCK_POSIX_FD_SET
#include <winsock2.h>
#include <sslsock.h>
#include "common.h"
#include "failclosed.h"

#include <poll.h>
#include <stdint.h>
#include <sys/select.h>
#include <sys/uio.h>

#if defined(__USE_TIME_BITS64) && __TIMESIZE == 32
#define REDIRECTED 1
#else
#define REDIRECTED 0
#endif

/* The 32-bit-time setsockopt under its own symbol (what a program built without _TIME_BITS=64 calls). */
extern int setsockopt_time32(int fd, int level, int name, const void *val, socklen_t len) __asm__("setsockopt");

#define TIMEOUT_MS 5000

static int g_server_port;

/* ---- the recording relay ----------------------------------------------------------------- */

static pthread_mutex_t g_rec_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned char g_rec[1 << 20];
static size_t g_rec_len;
static int g_rec_overflow;
static int g_relays;       /* connections being relayed */
static int g_conns;        /* connections relayed so far */
static int g_not_tls;      /* connections whose first byte was not a TLS handshake record (22) */

static void record(const void *p, size_t n)
{
    pthread_mutex_lock(&g_rec_lock);
    if (n > sizeof g_rec - g_rec_len) {
        n = sizeof g_rec - g_rec_len;
        g_rec_overflow = 1;
    }
    memcpy(g_rec + g_rec_len, p, n);
    g_rec_len += n;
    pthread_mutex_unlock(&g_rec_lock);
}

static int relay_send(int fd, const char *p, long n)
{
    while (n > 0) {
        long k = (long)send(fd, p, (size_t)n, MSG_NOSIGNAL);
        if (k <= 0)
            return -1;
        p += k;
        n -= k;
    }
    return 0;
}

/* One client: the server is connected when the client has spoken (so that the server, which
 * greets a client that stays silent, sees it talk first), then bytes go both ways; the client's
 * are recorded. */
static void *relay_one(void *arg)
{
    int c = (int)(intptr_t)arg, u = -1, first = 1;
    char buf[16384];
    for (;;) {
        struct pollfd p[2];
        int n = 1;
        p[0].fd = c;
        p[0].events = POLLIN;
        p[0].revents = 0;
        if (u >= 0) {
            p[1].fd = u;
            p[1].events = POLLIN;
            p[1].revents = 0;
            n = 2;
        }
        if (poll(p, (nfds_t)n, 30000) <= 0)
            break;
        if (p[0].revents) {
            long k = (long)recv(c, buf, sizeof buf, 0);
            if (k <= 0)
                break;
            record(buf, (size_t)k);
            if (first) {
                SOCKADDR_IN sa;
                first = 0;
                if ((unsigned char)buf[0] != 22) {
                    pthread_mutex_lock(&g_rec_lock);
                    g_not_tls++;
                    pthread_mutex_unlock(&g_rec_lock);
                }
                connect_addr(&sa, g_server_port);
                u = socket(AF_INET, SOCK_STREAM, 0);
                if (u < 0 || connect(u, (struct sockaddr *)&sa, sizeof sa) != 0)
                    break;
            }
            if (relay_send(u, buf, k) != 0)
                break;
        }
        if (n == 2 && p[1].revents) {
            long k = (long)recv(u, buf, sizeof buf, 0);
            if (k <= 0 || relay_send(c, buf, k) != 0)
                break;
        }
    }
    close(c);
    if (u >= 0)
        close(u);
    pthread_mutex_lock(&g_rec_lock);
    g_relays--;
    pthread_mutex_unlock(&g_rec_lock);
    return NULL;
}

static void *relay_accept(void *arg)
{
    int l = (int)(intptr_t)arg;
    for (;;) {
        pthread_t t;
        int c = accept(l, NULL, NULL);
        if (c < 0) {
            if (errno == EINTR)
                continue;
            return NULL;
        }
        pthread_mutex_lock(&g_rec_lock);
        g_relays++;
        g_conns++;
        pthread_mutex_unlock(&g_rec_lock);
        if (pthread_create(&t, NULL, relay_one, (void *)(intptr_t)c) != 0) {
            close(c);
            pthread_mutex_lock(&g_rec_lock);
            g_relays--;
            pthread_mutex_unlock(&g_rec_lock);
            continue;
        }
        pthread_detach(t);
    }
}

/* The relay's port on 127.0.0.1, 0 on failure. */
static int start_relay(void)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    pthread_t t;
    int l = socket(AF_INET, SOCK_STREAM, 0);
    if (l < 0)
        return 0;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(l, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(l, 16) != 0 ||
        getsockname(l, (struct sockaddr *)&sa, &len) != 0)
        return 0;
    if (pthread_create(&t, NULL, relay_accept, (void *)(intptr_t)l) != 0)
        return 0;
    pthread_detach(t);
    return ntohs(sa.sin_port);
}

static int marker_on_wire(const char *marker)
{
    int found;
    pthread_mutex_lock(&g_rec_lock);
    found = memmem(g_rec, g_rec_len, marker, strlen(marker)) != NULL;
    pthread_mutex_unlock(&g_rec_lock);
    return found;
}

/* ---- secure connections through the relay ------------------------------------------------ */

static int g_relay_port;
static int g_fallback_noted;

static int set_timeval_timeout(SOCKET s, int name, long ms)
{
    struct timeval tv;
    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;
    return setsockopt(s, SOL_SOCKET, name, &tv, sizeof tv);
}

/* A secure socket in STREAM mode through the relay, INVALID_SOCKET on failure. check: whether to
 * record the checks of step 1 (the first connection) or only report a failure. */
static SOCKET secure_stream(const char *what, int check)
{
    SOCKADDR_IN sa;
    DWORD v = SO_SEC_SSL;
    int rc, err;
    SOCKET s = socket(AF_INET, SOCK_STREAM, 0);
    if (!CHECK(s != INVALID_SOCKET, "%s: socket", what))
        return INVALID_SOCKET;
    errno = 0;
    rc = setsockopt(s, SOL_SOCKET, SO_SECURE, &v, sizeof v);
    err = errno;
    if (check || rc != 0)
        CHECK(rc == 0, "%s: setsockopt(SO_SECURE, SO_SEC_SSL) returns 0 (got %d, errno %d %s)", what, rc, err,
              rc ? strerror(err) : "");
    if (rc != 0 && REDIRECTED) {
        if (!g_fallback_noted++)
            note("SO_SECURE did not reach sslsock through the program's setsockopt: made secure through the "
                 "32-bit-time name instead, to test the other calls");
        rc = setsockopt_time32(s, SOL_SOCKET, SO_SECURE, &v, sizeof v);
    }
    if (rc != 0) {
        closesocket(s);
        return INVALID_SOCKET;
    }
    if (check) {
        DWORD got = 0;
        socklen_t len = sizeof got;
        errno = 0;
        rc = getsockopt(s, SOL_SOCKET, SO_SECURE, &got, &len);
        err = errno;
        CHECK(rc == 0 && got == SO_SEC_SSL && len == sizeof got,
              "%s: getsockopt(SO_SECURE) reads SO_SEC_SSL (rc %d, value %#lx, len %u, errno %d)", what, rc,
              (unsigned long)got, (unsigned)len, err);
    }
    /* Timeouts as the program's struct timeval (16 bytes under _TIME_BITS=64 on a 32-bit target). */
    rc = set_timeval_timeout(s, SO_RCVTIMEO, TIMEOUT_MS) | set_timeval_timeout(s, SO_SNDTIMEO, TIMEOUT_MS);
    if (check || rc != 0)
        CHECK(rc == 0, "%s: setsockopt(SO_RCVTIMEO/SO_SNDTIMEO) with a %u-byte struct timeval returns 0", what,
              (unsigned)sizeof(struct timeval));
    connect_addr(&sa, g_relay_port);
    if (!CHECK(connect(s, (SOCKADDR *)&sa, sizeof sa) == 0, "%s: connect (TLS handshake) through the relay",
               what)) {
        closesocket(s);
        return INVALID_SOCKET;
    }
    if (!CHECK(fc_stream(s), "%s: STREAM over TLS (%s)", what, fc_why)) {
        closesocket(s);
        return INVALID_SOCKET;
    }
    return s;
}

/* Reads len bytes through recv and compares them with text. */
static int check_echo(SOCKET s, const char *text, size_t len, const char *what)
{
    char buf[512];
    long got;
    memset(buf, 0, sizeof buf);
    got = recv_exact(s, buf, len);
    return CHECK(got == (long)len && memcmp(buf, text, len) == 0,
                 "%s: the echo comes back decrypted (got %ld of %lu: \"%s\")", what, got, (unsigned long)len,
                 fc_show(buf, got > 0 ? got : 0));
}

/* ---- 2. the write paths and the message reads --------------------------------------------- */

static void path_send(void)
{
    const char *m = FC_MARKER "-send\n";
    SOCKET s = secure_stream("send", 1);
    if (s == INVALID_SOCKET)
        return;
    CHECK(send(s, m, strlen(m), 0) == (ssize_t)strlen(m), "send: returns the length");
    check_echo(s, m, strlen(m), "send");
    closesocket(s);
}

static void path_sendmsg(void)
{
    const char *m = FC_MARKER "-sendmsg\n";
    size_t n = strlen(m), half = n / 2;
    char a[64], b[64];
    struct iovec iov[2];
    struct msghdr mh;
    long got, rest;
    SOCKET s = secure_stream("sendmsg", 0);
    if (s == INVALID_SOCKET)
        return;
    iov[0].iov_base = (void *)m;
    iov[0].iov_len = half;
    iov[1].iov_base = (void *)(m + half);
    iov[1].iov_len = n - half;
    memset(&mh, 0, sizeof mh);
    mh.msg_iov = iov;
    mh.msg_iovlen = 2;
    CHECK(sendmsg(s, &mh, 0) == (ssize_t)n, "sendmsg: returns the length");
    /* read back through recvmsg into two buffers, the rest (if the echo came in pieces) through recv */
    memset(a, 0, sizeof a);
    memset(b, 0, sizeof b);
    iov[0].iov_base = a;
    iov[0].iov_len = half;
    iov[1].iov_base = b;
    iov[1].iov_len = n - half;
    memset(&mh, 0, sizeof mh);
    mh.msg_iov = iov;
    mh.msg_iovlen = 2;
    got = (long)recvmsg(s, &mh, 0);
    if (CHECK(got > 0 && got <= (long)n, "recvmsg: reads the echo (%ld bytes)", got)) {
        char all[128];
        memcpy(all, a, half);
        memcpy(all + half, b, n - half);
        rest = got < (long)n ? recv_exact(s, all + got, n - (size_t)got) : 0;
        CHECK(rest == (long)n - got && memcmp(all, m, n) == 0, "recvmsg: the data are decrypted (\"%s\")",
              fc_show(all, n));
    }
    closesocket(s);
}

static void path_sendmmsg(void)
{
    const char *m = FC_MARKER "-sendmmsg\n";
    size_t n = strlen(m);
    char buf[128];
    struct iovec iov;
    struct mmsghdr mm;
    struct timespec ts;
    long got;
    int rc;
    SOCKET s = secure_stream("sendmmsg", 0);
    if (s == INVALID_SOCKET)
        return;
    iov.iov_base = (void *)m;
    iov.iov_len = n;
    memset(&mm, 0, sizeof mm);
    mm.msg_hdr.msg_iov = &iov;
    mm.msg_hdr.msg_iovlen = 1;
    rc = sendmmsg(s, &mm, 1, 0);
    CHECK(rc == 1 && mm.msg_len == n, "sendmmsg: one message of %lu bytes (rc %d, msg_len %u)", (unsigned long)n,
          rc, mm.msg_len);
    memset(buf, 0, sizeof buf);
    iov.iov_base = buf;
    iov.iov_len = n;
    memset(&mm, 0, sizeof mm);
    mm.msg_hdr.msg_iov = &iov;
    mm.msg_hdr.msg_iovlen = 1;
    ts.tv_sec = 5;
    ts.tv_nsec = 0;
    rc = recvmmsg(s, &mm, 1, 0, &ts);
    got = rc == 1 ? (long)mm.msg_len : -1;
    if (CHECK(rc == 1 && got > 0 && got <= (long)n, "recvmmsg (a %u-byte timespec timeout): one message (rc %d, %ld bytes)",
              (unsigned)sizeof ts, rc, got)) {
        long rest = got < (long)n ? recv_exact(s, buf + got, n - (size_t)got) : 0;
        CHECK(rest == (long)n - got && memcmp(buf, m, n) == 0, "recvmmsg: the data are decrypted (\"%s\")",
              fc_show(buf, n));
    }
    closesocket(s);
}

static void path_fcntl_dup(void)
{
    const char *m = FC_MARKER "-fcntl-dup-write\n";
    DWORD got = 0;
    socklen_t len = sizeof got;
    int d, rc;
    SOCKET s = secure_stream("fcntl(F_DUPFD)", 0);
    if (s == INVALID_SOCKET)
        return;
    CHECK(fcntl(s, F_GETFL) >= 0, "fcntl(F_GETFL) works");
    d = fcntl(s, F_DUPFD, 0);
    if (!CHECK(d >= 0, "fcntl(F_DUPFD) gives a copy (%d)", d)) {
        closesocket(s);
        return;
    }
    rc = getsockopt(d, SOL_SOCKET, SO_SECURE, &got, &len);
    CHECK(rc == 0 && got == SO_SEC_SSL, "fcntl(F_DUPFD): the copy reads SO_SECURE as SO_SEC_SSL (rc %d, %#lx)", rc,
          (unsigned long)got);
    CHECK(write(d, m, strlen(m)) == (ssize_t)strlen(m), "fcntl(F_DUPFD): write on the copy returns the length");
    check_echo(s, m, strlen(m), "fcntl(F_DUPFD) copy's write, read through the original");
    CHECK(close(d) == 0, "fcntl(F_DUPFD): the copy closes");
    {
        const char *m2 = FC_MARKER "-after-copy-closed\n";
        CHECK(send(s, m2, strlen(m2), 0) == (ssize_t)strlen(m2), "fcntl(F_DUPFD): the original still sends");
        check_echo(s, m2, strlen(m2), "fcntl(F_DUPFD): the original after the copy closed");
    }
    closesocket(s);
}

/* ---- 3. readiness ------------------------------------------------------------------------ */

static void readiness_select(void)
{
    const char *m = FC_MARKER "-select-0123456789\n";
    size_t n = strlen(m);
    char buf[128];
    fd_set r;
    struct timeval tv;
    long long t0;
    int rc;
    SOCKET s = secure_stream("select", 0);
    if (s == INVALID_SOCKET)
        return;
    CHECK(send(s, m, n, 0) == (ssize_t)n, "select: send returns the length");
    /* One byte: the rest of the echo's record stays inside sslsock (the kernel has none of it, unless the
     * echo came in several records). */
    memset(buf, 0, sizeof buf);
    CHECK(recv(s, buf, 1, 0) == 1 && buf[0] == m[0], "select: recv of 1 byte");
    FD_ZERO(&r);
    FD_SET(s, &r);
    tv.tv_sec = 3;
    tv.tv_usec = 0;
    t0 = now_ms();
    rc = select(s + 1, &r, NULL, NULL, &tv);
    CHECK(rc == 1 && FD_ISSET(s, &r), "select (a %u-byte timeval): readable with the record's rest inside sslsock "
          "(rc %d, after %lld ms)", (unsigned)sizeof tv, rc, now_ms() - t0);
    CHECK(rc < 0 || (tv.tv_sec >= 0 && tv.tv_sec <= 3 && tv.tv_usec >= 0 && tv.tv_usec < 1000000),
          "select: the timeval comes back holding the time left (%lld s %lld us)", (long long)tv.tv_sec,
          (long long)tv.tv_usec);
    CHECK(recv_exact(s, buf + 1, n - 1) == (long)n - 1 && memcmp(buf, m, n) == 0, "select: the rest is read (\"%s\")",
          fc_show(buf, n));
    /* with nothing to read, it times out after about the time asked for */
    FD_ZERO(&r);
    FD_SET(s, &r);
    tv.tv_sec = 0;
    tv.tv_usec = 300000;
    t0 = now_ms();
    rc = select(s + 1, &r, NULL, NULL, &tv);
    t0 = now_ms() - t0;
    CHECK(rc == 0 && t0 >= 250 && t0 < 3000, "select: {0 s, 300000 us} with nothing to read times out (rc %d, %lld ms)",
          rc, t0);
    closesocket(s);
}

static void readiness_ppoll(void)
{
    const char *m = FC_MARKER "-ppoll\n";
    const char *m2 = FC_MARKER "-pselect\n";
    char buf[128];
    struct pollfd p;
    struct timespec ts;
    fd_set r;
    int rc;
    SOCKET s = secure_stream("ppoll/pselect", 0);
    if (s == INVALID_SOCKET)
        return;
    CHECK(send(s, m, strlen(m), 0) == (ssize_t)strlen(m), "ppoll: send returns the length");
    p.fd = s;
    p.events = POLLIN;
    p.revents = 0;
    ts.tv_sec = 5;
    ts.tv_nsec = 0;
    rc = ppoll(&p, 1, &ts, NULL);
    CHECK(rc == 1 && (p.revents & POLLIN), "ppoll (a %u-byte timespec): readable when the echo arrives (rc %d, "
          "revents %#x)", (unsigned)sizeof ts, rc, (unsigned)p.revents);
    memset(buf, 0, sizeof buf);
    check_echo(s, m, strlen(m), "ppoll");
    CHECK(send(s, m2, strlen(m2), 0) == (ssize_t)strlen(m2), "pselect: send returns the length");
    FD_ZERO(&r);
    FD_SET(s, &r);
    ts.tv_sec = 5;
    ts.tv_nsec = 0;
    rc = pselect(s + 1, &r, NULL, NULL, &ts, NULL);
    CHECK(rc == 1 && FD_ISSET(s, &r), "pselect: readable when the echo arrives (rc %d)", rc);
    check_echo(s, m2, strlen(m2), "pselect");
    closesocket(s);
}

/* ---- 4. receive timeouts ----------------------------------------------------------------- */

/* A recv with nothing coming: fails with WSAETIMEDOUT after about ms milliseconds. */
static void check_recv_times_out(SOCKET s, long ms, const char *what)
{
    char c;
    long long t0 = now_ms(), took;
    int rc, wsa;
    rc = (int)recv(s, &c, 1, 0);
    wsa = WSAGetLastError();
    took = now_ms() - t0;
    CHECK(rc == SOCKET_ERROR && wsa == WSAETIMEDOUT && took >= ms - 50 && took < ms + 3000,
          "%s: a recv with nothing coming fails with WSAETIMEDOUT after about %ld ms (rc %d, WSA %d, %lld ms)", what,
          ms, rc, wsa, took);
}

static void timeouts(void)
{
    DWORD ms = 300, got = 0;
    socklen_t len = sizeof got;
    struct timeval tv;
    int rc, err;
    SOCKET s = secure_stream("SO_RCVTIMEO", 0);
    if (s == INVALID_SOCKET)
        return;
    errno = 0;
    rc = setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &ms, sizeof ms);
    err = errno;
    CHECK(rc == 0, "SO_RCVTIMEO as a DWORD of 300 ms: setsockopt returns 0 (rc %d, errno %d)", rc, err);
    rc = getsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &got, &len);
    CHECK(rc == 0 && got == 300 && len == sizeof got, "SO_RCVTIMEO as a DWORD: getsockopt reads 300 back (rc %d, %lu)",
          rc, (unsigned long)got);
    check_recv_times_out(s, 300, "SO_RCVTIMEO as a DWORD");

    tv.tv_sec = 0;
    tv.tv_usec = 400000;
    errno = 0;
    rc = setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    err = errno;
    CHECK(rc == 0, "SO_RCVTIMEO as a %u-byte struct timeval of 400 ms: setsockopt returns 0 (rc %d, errno %d)",
          (unsigned)sizeof tv, rc, err);
    memset(&tv, 0, sizeof tv);
    len = sizeof tv;
    rc = getsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, &len);
    if (REDIRECTED && rc == 0 && len == 4)
        /* libc's __getsockopt64 asks the kernel for SO_RCVTIMEO_NEW; qemu-user 7.2 answers that as an int
         * option (4 bytes, no timeval), with or without sslsock: the DWORD read-back below checks the value. */
        note("SO_RCVTIMEO as a struct timeval: libc's __getsockopt64 got a 4-byte answer (qemu-user's "
             "SO_RCVTIMEO_NEW): not checked here");
    else
        CHECK(rc == 0 && len == sizeof tv && tv.tv_sec == 0 && tv.tv_usec >= 350000 && tv.tv_usec <= 450000,
              "SO_RCVTIMEO as a struct timeval: getsockopt reads 400 ms back (rc %d, len %u, %lld s %lld us)", rc,
              (unsigned)len, (long long)tv.tv_sec, (long long)tv.tv_usec);
    got = 0;
    len = sizeof got;
    rc = getsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &got, &len);
    CHECK(rc == 0 && got == 400 && len == sizeof got,
          "SO_RCVTIMEO as a struct timeval: getsockopt as a DWORD reads 400 back (rc %d, %lu)", rc,
          (unsigned long)got);
    check_recv_times_out(s, 400, "SO_RCVTIMEO as a struct timeval");
    {
        const char *m = FC_MARKER "-after-timeouts\n";
        CHECK(send(s, m, strlen(m), 0) == (ssize_t)strlen(m), "after the timeouts: send returns the length");
        check_echo(s, m, strlen(m), "after the timeouts");
    }
    closesocket(s);
}

int main(void)
{
    static const char *markers[] = {"-send\n", "-sendmsg\n", "-sendmmsg\n", "-fcntl-dup-write\n",
                                    "-after-copy-closed\n", "-select-0123456789\n", "-ppoll\n", "-pselect\n",
                                    "-after-timeouts\n"};
    size_t i;
    long long until;
    int conns, busy, not_tls, overflow;
    size_t bytes;

    start_watchdog(100);
    g_server_port = env_port("T_PORT_STARTTLS");
    note("%s: sizeof(time_t) %u, sizeof(struct timeval) %u, sizeof(struct timespec) %u",
         REDIRECTED ? "32-bit target, _TIME_BITS=64: the time64 names are called"
                    : "time_t is the target's own: the plain names are called",
         (unsigned)sizeof(time_t), (unsigned)sizeof(struct timeval), (unsigned)sizeof(struct timespec));
    if (REDIRECTED)
        CHECK(sizeof(time_t) == 8 && sizeof(struct timeval) == 16 && sizeof(struct timespec) == 16,
              "_TIME_BITS=64: time_t, struct timeval and struct timespec have 64-bit seconds");
    g_relay_port = start_relay();
    if (!CHECK(g_relay_port > 0, "the recording relay listens (port %d)", g_relay_port))
        return finish();

    path_send();
    path_sendmsg();
    path_sendmmsg();
    path_fcntl_dup();
    readiness_select();
    readiness_ppoll();
    timeouts();

    /* 5. the wire, once every relayed connection has ended */
    until = now_ms() + 5000;
    do {
        pthread_mutex_lock(&g_rec_lock);
        busy = g_relays;
        pthread_mutex_unlock(&g_rec_lock);
        if (busy)
            usleep(20 * 1000);
    } while (busy && now_ms() < until);
    pthread_mutex_lock(&g_rec_lock);
    conns = g_conns;
    not_tls = g_not_tls;
    overflow = g_rec_overflow;
    bytes = g_rec_len;
    pthread_mutex_unlock(&g_rec_lock);
    CHECK(busy == 0, "the wire: every relayed connection ended (%d still open)", busy);
    CHECK(conns == 7 && not_tls == 0 && !overflow,
          "the wire: %d connections, each began with a TLS handshake record (%d did not; %lu bytes recorded)", conns,
          not_tls, (unsigned long)bytes);
    for (i = 0; i < sizeof markers / sizeof markers[0]; i++) {
        char m[96];
        snprintf(m, sizeof m, "%s%s", FC_MARKER, markers[i]);
        CHECK(!marker_on_wire(m), "the wire: the marker \"%s\" never appears raw", fc_show(m, (long)strlen(m)));
    }
    CHECK(!marker_on_wire(FC_MARKER), "the wire: no byte of any marker travelled in the clear");
    return finish();
}
