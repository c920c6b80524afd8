/*
 * Non-blocking secure sockets, driven the POSIX way: POSIX fd_set, POSIX poll() and select()
 * (the library interposes both), O_NONBLOCK set by ioctlsocket(FIONBIO), fcntl or SOCK_NONBLOCK.
 *
 * Expected semantics (docs/api.md):
 * - connect on a non-blocking secure socket: SOCKET_ERROR, WSAEWOULDBLOCK, errno EINPROGRESS; the
 *   TCP connect and then the handshake go on inside the calls that follow (send, recv,
 *   SO_SSL_PERFORM_HANDSHAKE), each returning WSAEWOULDBLOCK (errno EAGAIN) while the handshake is
 *   not finished, and never blocking;
 * - poll/select report a socket whose handshake is pending ready (for the events asked) when the
 *   handshake can make progress, and only then (no busy loop);
 * - a second connect while the handshake is pending: WSAEALREADY; after it: WSAEISCONN;
 * - the hook runs exactly once; a failed handshake ends the call that advanced it with
 *   WSAECONNABORTED and every later call fails too;
 * - recv returns WSAEWOULDBLOCK while no plaintext is decrypted.
 *
 * Cases: (a) immediate mode, poll(POLLIN|POLLOUT) + send drives the handshake, O_NONBLOCK set
 * three ways; (b) the same driven by poll(POLLIN) + recv; (c) deferred mode: plaintext
 * EHLO/STARTTLS through poll, SO_SSL_PERFORM_HANDSHAKE until done, then BIG 200000 through poll
 * and non-blocking recv; (d) (a) with POSIX select() and a POSIX fd_set; (e) a refused
 * certificate (no hook, untrusted server) on a non-blocking socket; (f) a server that accepts TCP
 * and never answers (T_PORT_STALL), immediate and deferred: every call returns WSAEWOULDBLOCK at once
 * and poll times out (the one case where "the handshake cannot be done yet" is certain: against the
 * STARTTLS server a handshake may legitimately finish inside the first call).
 */
#define SSLSOCK_POSIX_FD_SET
#include <winsock2.h>
#include <sslsock.h>
#include <poll.h>
#include <fcntl.h>
#include <errno.h>
#include "common.h"

#define CALL_LIMIT_MS 200      /* no call on a non-blocking socket may take longer */
#define WAIT_MS 2000           /* poll/select timeout: reached only when readiness was missed */
#define CASE_LIMIT_MS 10000
#define MAX_ROUNDS 100         /* poll + call rounds for one handshake (a busy loop makes far more) */

static const unsigned char *g_der;
static size_t g_der_len;

/* ---- timing every call ----------------------------------------------------- */

struct calls {
    int n;
    long long max_ms;
    char slowest[48];
};

static void timed(struct calls *c, const char *name, long long t0)
{
    long long d = now_ms() - t0;
    c->n++;
    if (d > c->max_ms || c->slowest[0] == 0) {
        c->max_ms = d;
        snprintf(c->slowest, sizeof c->slowest, "%s", name);
    }
}

static void check_calls(const struct calls *c, const char *what)
{
    CHECK(c->max_ms < CALL_LIMIT_MS, "%s: none of the %d calls blocked (slowest: %s, %lld ms; limit %d ms)", what,
          c->n, c->slowest, c->max_ms, CALL_LIMIT_MS);
}

/* ---- readiness through POSIX poll or POSIX select -------------------------- */

static int wait_ready(SOCKET s, short events, int timeout_ms, int use_select, short *revents)
{
    int n;
    *revents = 0;
    if (!use_select) {
        struct pollfd p;
        p.fd = s;
        p.events = events;
        p.revents = 0;
        n = poll(&p, 1, timeout_ms);
        if (n > 0)
            *revents = p.revents;
    } else {
        fd_set r, w;
        struct timeval tv;
        tv.tv_sec = timeout_ms / 1000;
        tv.tv_usec = (timeout_ms % 1000) * 1000;
        FD_ZERO(&r);
        FD_ZERO(&w);
        if (events & POLLIN)
            FD_SET(s, &r);
        if (events & POLLOUT)
            FD_SET(s, &w);
        n = select(s + 1, (events & POLLIN) ? &r : NULL, (events & POLLOUT) ? &w : NULL, NULL, &tv);
        if (n > 0) {
            if ((events & POLLIN) && FD_ISSET(s, &r))
                *revents |= POLLIN;
            if ((events & POLLOUT) && FD_ISSET(s, &w))
                *revents |= POLLOUT;
        }
    }
    return n;
}

/* ---- setup ----------------------------------------------------------------- */

enum nb_how { NB_FIONBIO, NB_FCNTL, NB_SOCKFLAG };

static const char *how_name(enum nb_how how)
{
    return how == NB_FIONBIO ? "ioctlsocket(FIONBIO)" : how == NB_FCNTL ? "fcntl(O_NONBLOCK)"
                                                                         : "socket(SOCK_NONBLOCK)";
}

/* socket -> SO_SECURE -> hook (when rec) -> [DEFER] -> O_NONBLOCK. */
static SOCKET nb_socket(enum nb_how how, struct hook_record *rec, int defer, const char *what)
{
    SOCKET s = socket(AF_INET, SOCK_STREAM | (how == NB_SOCKFLAG ? SOCK_NONBLOCK : 0), 0);
    CHECK(s != INVALID_SOCKET, "%s: socket()", what);
    CHECK(make_secure(s) == 0, "%s: SO_SECURE", what);
    if (rec) {
        hook_reset(rec, SSL_ERR_OKAY);
        CHECK(set_hook(s, record_hook, rec) == 0, "%s: SET_VALIDATE_CERT_HOOK", what);
    }
    if (defer) {
        DWORD f = SSL_FLAG_DEFER_HANDSHAKE;
        CHECK(WSAIoctl(s, SO_SSL_SET_FLAGS, &f, sizeof f, NULL, 0, NULL, NULL, NULL) == 0,
              "%s: SET_FLAGS(DEFER)", what);
    }
    if (how == NB_FIONBIO) {
        u_long on = 1;
        CHECK(ioctlsocket(s, FIONBIO, &on) == 0, "%s: ioctlsocket(FIONBIO, 1)", what);
    } else if (how == NB_FCNTL) {
        int fl = fcntl(s, F_GETFL);
        CHECK(fl >= 0 && fcntl(s, F_SETFL, fl | O_NONBLOCK) == 0, "%s: fcntl(F_SETFL, O_NONBLOCK)", what);
    }
    return s;
}

/* Non-blocking connect: SOCKET_ERROR, WSAEWOULDBLOCK, errno EINPROGRESS, at once. */
static int nb_connect(SOCKET s, int port, struct calls *c, const char *what)
{
    SOCKADDR_IN sa;
    long long t0;
    int r, err, e;
    connect_addr(&sa, port);
    errno = 0;
    WSASetLastError(0);
    t0 = now_ms();
    r = connect(s, (SOCKADDR *)&sa, sizeof sa);
    err = WSAGetLastError();
    e = errno;
    timed(c, "connect", t0);
    return CHECK(r == SOCKET_ERROR && err == WSAEWOULDBLOCK && e == EINPROGRESS,
                 "%s: connect returns SOCKET_ERROR, WSAEWOULDBLOCK, errno EINPROGRESS (rc %d, %d, errno %d)", what,
                 r, err, e);
}

/* A second connect: expected code and errno. */
static void connect_again(SOCKET s, int port, int want_wsa, int want_errno, const char *when, struct calls *c,
                          const char *what)
{
    SOCKADDR_IN sa;
    long long t0;
    int r, err, e;
    connect_addr(&sa, port);
    errno = 0;
    WSASetLastError(0);
    t0 = now_ms();
    r = connect(s, (SOCKADDR *)&sa, sizeof sa);
    err = WSAGetLastError();
    e = errno;
    timed(c, "second connect", t0);
    CHECK(r == SOCKET_ERROR && err == want_wsa && e == want_errno,
          "%s: a second connect %s fails with %d, errno %d (rc %d, %d, errno %d)", what, when, want_wsa,
          want_errno, r, err, e);
}

static int handshake_done(SOCKET s)
{
    SSLCONNECTIONINFO ci;
    DWORD cb = 0;
    return WSAIoctl(s, SO_SSL_GET_CONNECTION_INFO, NULL, 0, &ci, sizeof ci, &cb, NULL, NULL) == 0;
}

/* A second connect right after the first, against a live server: WSAEALREADY while the handshake is
 * pending. The call also moves the handshake on, so when the server answered within it, the
 * connection is made by the time it returns and WSAEISCONN is Winsock's answer (accepted only when
 * the handshake is then really done). Case (f) checks WSAEALREADY where nothing can finish. */
static void connect_again_pending(SOCKET s, int port, struct calls *c, const char *what)
{
    SOCKADDR_IN sa;
    long long t0;
    int r, err, e;
    connect_addr(&sa, port);
    errno = 0;
    WSASetLastError(0);
    t0 = now_ms();
    r = connect(s, (SOCKADDR *)&sa, sizeof sa);
    err = WSAGetLastError();
    e = errno;
    timed(c, "second connect", t0);
    if (r == SOCKET_ERROR && err == WSAEISCONN && e == EISCONN && handshake_done(s)) {
        note("%s: the handshake finished inside the second connect (the server answered at once): WSAEISCONN", what);
        return;
    }
    CHECK(r == SOCKET_ERROR && err == WSAEALREADY && e == EALREADY,
          "%s: a second connect while the handshake is pending fails with WSAEALREADY, errno EALREADY (rc %d, %d, "
          "errno %d)", what, r, err, e);
}

/* Non-blocking send of all of buf: poll(POLLOUT) after WSAEWOULDBLOCK. 0 on success. */
static int nb_send_all(SOCKET s, const char *buf, size_t len, int use_select, struct calls *c, long long deadline)
{
    while (len > 0) {
        long long t0 = now_ms();
        int r = (int)send(s, buf, len, 0);
        int err = WSAGetLastError();
        timed(c, "send", t0);
        if (r > 0) {
            buf += r;
            len -= (size_t)r;
            continue;
        }
        if (r == SOCKET_ERROR && err == WSAEWOULDBLOCK && now_ms() < deadline) {
            short rev;
            wait_ready(s, POLLOUT, WAIT_MS, use_select, &rev);
            continue;
        }
        return -1;
    }
    return 0;
}

/* Receives through poll(POLLIN) + non-blocking recv (`chunk` bytes at most per recv) until `want`
 * bytes are in buf. Returns the count, or -1 on a failure. *wouldblock counts WSAEWOULDBLOCKs. */
static long nb_recv_n(SOCKET s, char *buf, size_t want, size_t chunk, int use_select, struct calls *c,
                      long long deadline, int *wouldblock, int *poll_timeouts, int *fail_err)
{
    size_t got = 0;
    while (got < want && now_ms() < deadline) {
        short rev;
        long long t0;
        int r, err;
        if (wait_ready(s, POLLIN, WAIT_MS, use_select, &rev) == 0)
            ++*poll_timeouts;
        WSASetLastError(0);
        t0 = now_ms();
        r = (int)recv(s, buf + got, want - got < chunk ? want - got : chunk, 0);
        err = WSAGetLastError();
        timed(c, "recv", t0);
        if (r > 0) {
            got += (size_t)r;
            continue;
        }
        if (r == SOCKET_ERROR && err == WSAEWOULDBLOCK) {
            ++*wouldblock;
            continue;
        }
        *fail_err = r == 0 ? 0 : err;
        return -1;
    }
    return (long)got;
}

/* Reads one CRLF line (one byte per recv) through poll + non-blocking recv. Length or -1. */
static int nb_recv_line(SOCKET s, char *line, int cap, int use_select, struct calls *c, long long deadline)
{
    int n = 0, wb = 0, to = 0, fe = 0;
    for (;;) {
        char ch;
        if (nb_recv_n(s, &ch, 1, 1, use_select, c, deadline, &wb, &to, &fe) != 1)
            return -1;
        if (ch == '\n')
            break;
        if (n < cap - 1)
            line[n++] = ch;
    }
    if (n > 0 && line[n - 1] == '\r')
        n--;
    line[n] = 0;
    return n;
}

/* After the handshake: ECHO `text` (already sent by the caller or not) comes back intact through
 * poll(POLLIN) + non-blocking recv; recv never blocks. */
static void expect_echo(SOCKET s, const char *text, int use_select, struct calls *c, const char *what)
{
    char buf[512];
    size_t want = strlen(text) + 2;
    int wb = 0, to = 0, fe = 0;
    long n = nb_recv_n(s, buf, want, sizeof buf, use_select, c, now_ms() + CASE_LIMIT_MS, &wb, &to, &fe);
    CHECK(n == (long)want && memcmp(buf, text, want - 2) == 0 && memcmp(buf + want - 2, "\r\n", 2) == 0,
          "%s: the echo line arrives intact through poll(POLLIN) + non-blocking recv (%ld of %lu bytes, "
          "error %d)", what, n, (unsigned long)want, fe);
    CHECK(to == 0, "%s: poll(POLLIN) reported the echo without timing out (%d timeouts of %d ms)", what, to,
          WAIT_MS);
    note("%s: %d recv(s) returned WSAEWOULDBLOCK while waiting for the echo", what, wb);
}

/* ---- (a) and (d): immediate mode, send drives the handshake ---------------- */

static void case_send_drives(int port, enum nb_how how, int use_select, const char *label)
{
    struct hook_record rec;
    struct calls c;
    char what[160], line[128];
    const char *text;
    SOCKET s;
    int rounds = 0, wouldblock = 0, wrong_errno = 0, poll_timeouts = 0, sent = 0, fail_rc = 0, fail_err = 0;
    int r, err, e;
    size_t len;
    long long t0, deadline;

    memset(&c, 0, sizeof c);
    snprintf(what, sizeof what, "%s [%s, %s]", label, how_name(how), use_select ? "POSIX select" : "poll");
    text = use_select ? "non-blocking echo through select" : "non-blocking echo through poll";
    snprintf(line, sizeof line, "ECHO %s\r\n", text);
    len = strlen(line);

    s = nb_socket(how, &rec, 0, what);
    if (!nb_connect(s, port, &c, what)) {
        closesocket(s);
        return;
    }
    connect_again_pending(s, port, &c, what);

    /* Right after connect, before any poll: the handshake cannot be done yet. */
    errno = 0;
    WSASetLastError(0);
    t0 = now_ms();
    r = (int)send(s, line, len, 0);
    err = WSAGetLastError();
    e = errno;
    timed(&c, "send", t0);
    /* The handshake cannot be done yet, unless the server answered while this very call ran
     * (the server's thread may run between our ClientHello and our read). */
    CHECK((r == SOCKET_ERROR && err == WSAEWOULDBLOCK && e == EAGAIN) || r == (int)len,
          "%s: send right after connect returns SOCKET_ERROR, WSAEWOULDBLOCK, errno EAGAIN, or (a quick server) "
          "the whole line (rc %d, %d, errno %d)", what, r, err, e);
    if (r == (int)len) {
        sent = 1;
        note("%s: the handshake finished inside the first send (the server answered at once)", what);
    }

    deadline = now_ms() + CASE_LIMIT_MS;
    while (!sent && rounds < MAX_ROUNDS * 10 && now_ms() < deadline) {
        short rev;
        int pr;
        rounds++;
        pr = wait_ready(s, POLLIN | POLLOUT, WAIT_MS, use_select, &rev);
        if (pr == 0)
            poll_timeouts++;
        else if (pr < 0) {
            fail_rc = -100;
            fail_err = WSAGetLastError();
            break;
        }
        errno = 0;
        WSASetLastError(0);
        t0 = now_ms();
        r = (int)send(s, line, len, 0);
        err = WSAGetLastError();
        e = errno;
        timed(&c, "send", t0);
        if (r == (int)len) {
            sent = 1;
            break;
        }
        if (r == SOCKET_ERROR && err == WSAEWOULDBLOCK) {
            wouldblock++;
            if (e != EAGAIN)
                wrong_errno++;
            continue;
        }
        fail_rc = r;
        fail_err = err;
        break;
    }
    CHECK(sent, "%s: after %s + send rounds, the send succeeds once the handshake finished (%d rounds, "
                "last failure rc %d err %d)", what, use_select ? "select" : "poll", rounds, fail_rc, fail_err);
    CHECK(wrong_errno == 0, "%s: every WSAEWOULDBLOCK came with errno EAGAIN (%d of %d did not)", what, wrong_errno,
          wouldblock);
    CHECK(poll_timeouts == 0, "%s: %s never timed out while the handshake was pending (%d timeouts of %d ms)",
          what, use_select ? "select" : "poll", poll_timeouts, WAIT_MS);
    CHECK(rounds <= MAX_ROUNDS, "%s: no busy loop: at most %d %s + send rounds (took %d)", what, MAX_ROUNDS,
          use_select ? "select" : "poll", rounds);
    note("%s: handshake done after %d round(s), %d send(s) returned WSAEWOULDBLOCK in the loop", what, rounds,
         wouldblock);
    check_hook(&rec, 1, 0, &rec, g_der, g_der_len, what);
    CHECK(handshake_done(s), "%s: GET_CONNECTION_INFO works after the handshake", what);
    connect_again(s, port, WSAEISCONN, EISCONN, "after the handshake", &c, what);
    if (sent)
        expect_echo(s, text, use_select, &c, what);
    check_calls(&c, what);
    CHECK(closesocket(s) == 0, "%s: closesocket", what);
}

/* ---- (b): recv drives the handshake --------------------------------------- */

static void case_recv_drives(int port, enum nb_how how)
{
    struct hook_record rec;
    struct calls c;
    char what[160], buf[256], line[128];
    const char *text = "handshake driven by recv";
    SOCKET s;
    int rounds = 0, poll_timeouts = 0, done = 0, wrong_errno = 0, fail_rc = 0, fail_err = 0, r, err, e;
    long long t0, deadline;

    memset(&c, 0, sizeof c);
    snprintf(what, sizeof what, "(b) recv drives the handshake [%s, poll(POLLIN)]", how_name(how));
    s = nb_socket(how, &rec, 0, what);
    if (!nb_connect(s, port, &c, what)) {
        closesocket(s);
        return;
    }
    errno = 0;
    WSASetLastError(0);
    t0 = now_ms();
    r = (int)recv(s, buf, sizeof buf, 0);
    err = WSAGetLastError();
    e = errno;
    timed(&c, "recv", t0);
    CHECK(r == SOCKET_ERROR && err == WSAEWOULDBLOCK && e == EAGAIN,
          "%s: recv right after connect returns SOCKET_ERROR, WSAEWOULDBLOCK, errno EAGAIN (rc %d, %d, errno %d)",
          what, r, err, e);

    deadline = now_ms() + CASE_LIMIT_MS;
    while (!(done = handshake_done(s)) && rounds < MAX_ROUNDS * 10 && now_ms() < deadline) {
        short rev;
        rounds++;
        if (wait_ready(s, POLLIN, WAIT_MS, 0, &rev) == 0)
            poll_timeouts++;
        errno = 0;
        WSASetLastError(0);
        t0 = now_ms();
        r = (int)recv(s, buf, sizeof buf, 0);
        err = WSAGetLastError();
        e = errno;
        timed(&c, "recv", t0);
        if (r == SOCKET_ERROR && err == WSAEWOULDBLOCK) {
            if (e != EAGAIN)
                wrong_errno++;
            continue;
        }
        fail_rc = r;
        fail_err = err;
        break;
    }
    CHECK(done, "%s: poll(POLLIN) + recv (WSAEWOULDBLOCK each time: no data yet) completes the handshake "
                "(%d rounds, unexpected recv result rc %d err %d)", what, rounds, fail_rc, fail_err);
    CHECK(wrong_errno == 0, "%s: every WSAEWOULDBLOCK came with errno EAGAIN (%d did not)", what, wrong_errno);
    CHECK(poll_timeouts == 0, "%s: poll(POLLIN) never timed out while the handshake was pending (%d timeouts)",
          what, poll_timeouts);
    CHECK(rounds <= MAX_ROUNDS, "%s: no busy loop: at most %d poll + recv rounds (took %d)", what, MAX_ROUNDS,
          rounds);
    check_hook(&rec, 1, 0, &rec, g_der, g_der_len, what);
    connect_again(s, port, WSAEISCONN, EISCONN, "after the handshake", &c, what);
    snprintf(line, sizeof line, "ECHO %s\r\n", text);
    CHECK(nb_send_all(s, line, strlen(line), 0, &c, now_ms() + CASE_LIMIT_MS) == 0, "%s: send of the ECHO line",
          what);
    expect_echo(s, text, 0, &c, what);
    check_calls(&c, what);
    CHECK(closesocket(s) == 0, "%s: closesocket", what);
}

/* ---- (c): deferred mode ----------------------------------------------------- */

#define BIG_N 200000

static void case_deferred(int port)
{
    struct hook_record rec;
    struct calls c;
    const char *what = "(c) deferred handshake on a non-blocking socket [ioctlsocket(FIONBIO), poll]";
    static char big[BIG_N + 7];
    char line[256];
    SOCKET s;
    short rev;
    int soerr = -1, rounds = 0, poll_timeouts = 0, wouldblock = 0, fail_rc = 0, fail_err = 0, r, err, e, ok, pr;
    int wb = 0, to = 0, fe = 0;
    socklen_t sl = sizeof soerr;
    DWORD cb = 0;
    long long t0, deadline = now_ms() + CASE_LIMIT_MS;
    long n;

    memset(&c, 0, sizeof c);
    s = nb_socket(NB_FIONBIO, &rec, 1, what);
    if (!nb_connect(s, port, &c, what)) {
        closesocket(s);
        return;
    }
    pr = wait_ready(s, POLLOUT, WAIT_MS, 0, &rev);
    CHECK(pr == 1 && (rev & POLLOUT), "%s: poll(POLLOUT) reports the TCP connect done (rc %d, revents 0x%x)", what,
          pr, (unsigned)rev);
    r = getsockopt(s, SOL_SOCKET, SO_ERROR, (char *)&soerr, &sl);
    CHECK(r == 0 && soerr == 0, "%s: getsockopt(SO_ERROR) is 0 (rc %d, got %d)", what, r, soerr);

    /* plaintext: EHLO, STARTTLS (a greeting may come first if we were slow) */
    CHECK(nb_send_all(s, "EHLO nonblocking\r\n", 18, 0, &c, deadline) == 0, "%s: plaintext send of EHLO", what);
    do {
        r = nb_recv_line(s, line, sizeof line, 0, &c, deadline);
    } while (r >= 0 && strncmp(line, "220 sslsock-test", 16) == 0);
    CHECK(r >= 0 && strcmp(line, "250 STARTTLS") == 0, "%s: plaintext answer 250 STARTTLS (got '%s')", what,
          r >= 0 ? line : "");
    CHECK(nb_send_all(s, "STARTTLS\r\n", 10, 0, &c, deadline) == 0, "%s: plaintext send of STARTTLS", what);
    r = nb_recv_line(s, line, sizeof line, 0, &c, deadline);
    CHECK(r >= 0 && strcmp(line, "220 go ahead") == 0, "%s: plaintext answer 220 go ahead (got '%s')", what,
          r >= 0 ? line : "");

    /* SO_SSL_PERFORM_HANDSHAKE: WSAEWOULDBLOCK until done, called again after each poll */
    errno = 0;
    WSASetLastError(0);
    t0 = now_ms();
    r = WSAIoctl(s, SO_SSL_PERFORM_HANDSHAKE, NULL, 0, NULL, 0, &cb, NULL, NULL);
    err = WSAGetLastError();
    e = errno;
    timed(&c, "PERFORM_HANDSHAKE", t0);
    CHECK((r == SOCKET_ERROR && err == WSAEWOULDBLOCK && e == EAGAIN) || r == 0,
          "%s: the first PERFORM_HANDSHAKE returns SOCKET_ERROR, WSAEWOULDBLOCK, errno EAGAIN, or (a quick server) 0 "
          "(rc %d, %d, errno %d)", what, r, err, e);
    if (r == 0)
        note("%s: the handshake finished inside the first PERFORM_HANDSHAKE (the server answered at once)", what);
    while (r != 0 && rounds < MAX_ROUNDS * 10 && now_ms() < deadline) {
        rounds++;
        if (wait_ready(s, POLLIN | POLLOUT, WAIT_MS, 0, &rev) == 0)
            poll_timeouts++;
        WSASetLastError(0);
        t0 = now_ms();
        r = WSAIoctl(s, SO_SSL_PERFORM_HANDSHAKE, NULL, 0, NULL, 0, &cb, NULL, NULL);
        err = WSAGetLastError();
        timed(&c, "PERFORM_HANDSHAKE", t0);
        if (r == 0)
            break;
        if (r == SOCKET_ERROR && err == WSAEWOULDBLOCK) {
            wouldblock++;
            continue;
        }
        fail_rc = r;
        fail_err = err;
        break;
    }
    CHECK(r == 0, "%s: PERFORM_HANDSHAKE returns 0 once the handshake is done (%d poll rounds, failure rc %d err %d)",
          what, rounds, fail_rc, fail_err);
    CHECK(poll_timeouts == 0, "%s: poll never timed out while the handshake was pending (%d timeouts)", what,
          poll_timeouts);
    CHECK(rounds <= MAX_ROUNDS, "%s: no busy loop: at most %d poll + PERFORM_HANDSHAKE rounds (took %d)", what,
          MAX_ROUNDS, rounds);
    note("%s: %d poll round(s), %d PERFORM_HANDSHAKE call(s) returned WSAEWOULDBLOCK after the first", what, rounds,
         wouldblock);
    check_hook(&rec, 1, 0, &rec, g_der, g_der_len, what);
    if (r != 0) {
        closesocket(s);
        return;
    }

    /* BIG 200000 through poll + non-blocking recv */
    CHECK(nb_send_all(s, "BIG 200000\r\n", 12, 0, &c, deadline) == 0, "%s: send BIG 200000 over TLS", what);
    n = nb_recv_n(s, big, sizeof big, 16384, 0, &c, now_ms() + CASE_LIMIT_MS, &wb, &to, &fe);
    ok = n == (long)sizeof big && expect_pattern(big, BIG_N, 0) && memcmp(big + BIG_N, "\r\nEND\r\n", 7) == 0;
    CHECK(ok, "%s: BIG 200000 arrives byte-exact with its END trailer through poll + recv (%ld of %lu bytes, "
              "error %d)", what, n, (unsigned long)sizeof big, fe);
    CHECK(to == 0, "%s: poll(POLLIN) never timed out during the download (%d timeouts)", what, to);
    note("%s: %d recv(s) returned WSAEWOULDBLOCK during the download", what, wb);
    check_calls(&c, what);
    CHECK(closesocket(s) == 0, "%s: closesocket", what);
}

/* ---- (e): a refused certificate --------------------------------------------- */

static void case_failed(int port)
{
    struct calls c;
    const char *what = "(e) refused certificate on a non-blocking socket [no hook, untrusted server, poll]";
    const char *line = "GET / HTTP/1.0\r\n\r\n";
    char buf[64];
    SOCKET s;
    short rev;
    int rounds = 0, r = 0, err = 0, e = 0, pr;
    long long t0, deadline = now_ms() + CASE_LIMIT_MS;
    const char *reason;

    memset(&c, 0, sizeof c);
    s = nb_socket(NB_FIONBIO, NULL, 0, what);
    if (!nb_connect(s, port, &c, what)) {
        closesocket(s);
        return;
    }
    for (;;) {
        errno = 0;
        WSASetLastError(0);
        t0 = now_ms();
        r = (int)send(s, line, strlen(line), 0);
        err = WSAGetLastError();
        e = errno;
        timed(&c, "send", t0);
        if (!(r == SOCKET_ERROR && err == WSAEWOULDBLOCK) || rounds >= MAX_ROUNDS * 10 || now_ms() > deadline)
            break;
        rounds++;
        wait_ready(s, POLLIN | POLLOUT, WAIT_MS, 0, &rev);
    }
    reason = sslsock_last_error_reason();
    CHECK(r == SOCKET_ERROR && err == WSAECONNABORTED && e == ECONNABORTED,
          "%s: the send that meets the refused certificate fails with WSAECONNABORTED, errno ECONNABORTED "
          "(rc %d, %d, errno %d, after %d rounds)", what, r, err, e, rounds);
    CHECK(reason && reason[0], "%s: sslsock_last_error_reason() says why ('%s')", what, reason ? reason : "(null)");

    WSASetLastError(0);
    t0 = now_ms();
    r = (int)send(s, line, strlen(line), 0);
    err = WSAGetLastError();
    timed(&c, "send after failure", t0);
    CHECK(r == SOCKET_ERROR && err == WSAECONNABORTED, "%s: a later send fails with WSAECONNABORTED (rc %d, %d)",
          what, r, err);
    WSASetLastError(0);
    t0 = now_ms();
    r = (int)recv(s, buf, sizeof buf, 0);
    err = WSAGetLastError();
    timed(&c, "recv after failure", t0);
    CHECK(r == SOCKET_ERROR && err == WSAECONNABORTED, "%s: a later recv fails with WSAECONNABORTED (rc %d, %d)",
          what, r, err);
    t0 = now_ms();
    pr = wait_ready(s, POLLIN | POLLOUT, WAIT_MS, 0, &rev);
    t0 = now_ms() - t0;
    CHECK(pr == 1 && t0 < CALL_LIMIT_MS,
          "%s: poll on the failed socket reports it at once, so that a poll loop sees the error (rc %d, revents "
          "0x%x, %lld ms)", what, pr, (unsigned)rev, t0);
    check_calls(&c, what);
    CHECK(closesocket(s) == 0, "%s: closesocket", what);
}

/* ---- (f): a server that never answers: the handshake can never finish ------------- */

#define SILENT_POLL_MS 300

/* One call that must return at once with WSAEWOULDBLOCK / EAGAIN. */
static void expect_wouldblock(int r, int err, int e, long long ms, const char *call, const char *what)
{
    CHECK(r == SOCKET_ERROR && err == WSAEWOULDBLOCK && e == EAGAIN && ms < CALL_LIMIT_MS,
          "%s: %s returns SOCKET_ERROR, WSAEWOULDBLOCK, errno EAGAIN at once (rc %d, %d, errno %d, %lld ms)", what,
          call, r, err, e, ms);
}

/* poll(POLLIN|POLLOUT, 300 ms) on a socket whose handshake waits for the server: nothing can
 * progress, so it must time out (0) after about its timeout: not at once (a busy loop) and not
 * with POLLOUT just because the kernel could take more bytes. */
static void expect_silent_poll(SOCKET s, const char *what)
{
    short rev;
    long long t0 = now_ms(), ms;
    int pr = wait_ready(s, POLLIN | POLLOUT, SILENT_POLL_MS, 0, &rev);
    ms = now_ms() - t0;
    CHECK(pr == 0 && ms >= SILENT_POLL_MS - 50,
          "%s: poll(POLLIN|POLLOUT, %d ms) times out while the handshake waits for the server (rc %d, revents 0x%x, "
          "%lld ms)", what, SILENT_POLL_MS, pr, (unsigned)rev, ms);
}

static void case_silent(int stall, int deferred)
{
    const char *what = deferred ? "(f) deferred handshake with a server that never answers [FIONBIO, poll]"
                                : "(f) immediate handshake with a server that never answers [FIONBIO, poll]";
    struct hook_record rec;
    struct calls c;
    char buf[64];
    DWORD guard = 2000, cb = 0;   /* a blocking implementation would wait this long, not forever */
    SOCKET s;
    short rev;
    long long t0;
    int r, err, e, i;

    memset(&c, 0, sizeof c);
    s = nb_socket(NB_FIONBIO, &rec, deferred, what);
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, (const char *)&guard, sizeof guard);
    setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, (const char *)&guard, sizeof guard);
    if (!nb_connect(s, stall, &c, what)) {
        closesocket(s);
        return;
    }
    if (deferred) {
        r = wait_ready(s, POLLOUT, WAIT_MS, 0, &rev);
        CHECK(r == 1 && (rev & POLLOUT), "%s: poll(POLLOUT) reports the TCP connect done (rc %d)", what, r);
    }
    for (i = 0; i < 2; i++) {
        const char *call = deferred ? (i ? "PERFORM_HANDSHAKE again" : "PERFORM_HANDSHAKE")
                                    : (i ? "send again" : "send");
        errno = 0;
        WSASetLastError(0);
        t0 = now_ms();
        if (deferred)
            r = WSAIoctl(s, SO_SSL_PERFORM_HANDSHAKE, NULL, 0, NULL, 0, &cb, NULL, NULL);
        else
            r = (int)send(s, "ECHO x\r\n", 8, 0);
        err = WSAGetLastError();
        e = errno;
        expect_wouldblock(r, err, e, now_ms() - t0, call, what);
        expect_silent_poll(s, what);
    }
    errno = 0;
    WSASetLastError(0);
    t0 = now_ms();
    r = (int)recv(s, buf, sizeof buf, 0);
    err = WSAGetLastError();
    e = errno;
    expect_wouldblock(r, err, e, now_ms() - t0, "recv", what);
    if (!deferred)
        connect_again(s, stall, WSAEALREADY, EALREADY, "while the handshake waits for the server", &c, what);
    CHECK(rec.calls == 0, "%s: the hook was not called (got %d calls)", what, rec.calls);
    check_calls(&c, what);
    t0 = now_ms();
    CHECK(closesocket(s) == 0 && now_ms() - t0 < CALL_LIMIT_MS, "%s: closesocket, at once", what);
}

int main(void)
{
    int port = env_port("T_PORT_STARTTLS");
    int untrusted = env_port("T_PORT_UNTRUSTED");
    int stall = env_port("T_PORT_STALL");
    WSADATA wsa;

    start_watchdog(55);
    g_der = read_pki("good.der", &g_der_len);
    CHECK(WSAStartup(MAKEWORD(2, 2), &wsa) == 0, "WSAStartup(2.2)");

    case_send_drives(port, NB_FIONBIO, 0, "(a) send drives the handshake");
    case_send_drives(port, NB_FCNTL, 0, "(a) send drives the handshake");
    case_send_drives(port, NB_SOCKFLAG, 0, "(a) send drives the handshake");
    case_recv_drives(port, NB_FCNTL);
    case_deferred(port);
    case_send_drives(port, NB_FIONBIO, 1, "(d) send drives the handshake");
    case_failed(untrusted);
    case_silent(stall, 0);
    case_silent(stall, 1);

    WSACleanup();
    return finish();
}
