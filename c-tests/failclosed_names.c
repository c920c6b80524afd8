/*
 * failclosed_names.c - issue 12, "fail closed" for peer names: a name that was asked for is
 * checked, or the handshake fails.
 *
 *  1. SO_SSL_SET_PEERNAME with an unusable name - 300 bytes, a 64-byte label, "*.x", "mail server",
 *     "" (the NUL alone), "\0x" (3 bytes) - fails with WSAEINVAL; NULL with a length with WSAEFAULT;
 *     (NULL, 0) and ("", 0) fail too. After any of these the socket cannot complete a handshake:
 *     an immediate connect to T_PORT_WRONGNAME (trusted, for wrong.example) and to T_PORT_HTTPS
 *     (localhost / 127.0.0.1) fails, without a hook and with a hook that returns SSL_ERR_OKAY
 *     whatever the flags.
 *  2. A bad name after a good one ("localhost") does not clear the good one silently: the same four
 *     connects fail.
 *  3. A valid SET_PEERNAME after a bad one, before connect, makes the socket usable again:
 *     "localhost" to T_PORT_HTTPS succeeds (GET /index.html), to T_PORT_WRONGNAME fails.
 *  4. Numeric shorthand "127.1" and "127.000.000.001": refused (then, as in 1, T_PORT_HTTPS fails),
 *     or read as inet_aton reads them (127.0.0.1): then T_PORT_HTTPS (IP SAN 127.0.0.1) succeeds and
 *     T_PORT_WRONGNAME fails.
 *  5. The UTF-8 name "bücher.example" is accepted and checked as its A-label xn--bcher-kva.example:
 *     the ClientHello's SNI carries the A-label (a raw listener reads it), T_PORT_HTTPS fails (name
 *     mismatch), and a hook gets SSL_CERT_FLAG_ISSUER_UNKNOWN.
 *  6. Settings freeze at connect: while a blocking secure connect waits for TCP (a listener with
 *     backlog 0 whose accept queue is full drops the SYN), another thread's setsockopt(SO_SECURE,
 *     SO_SEC_NONE), SO_SSL_SET_FLAGS, SO_SSL_SET_PEERNAME, SO_SSL_SET_PROTOCOLS and
 *     SO_SSL_SET_VALIDATE_CERT_HOOK fail with WSAEINPROGRESS; then the listener takes the connection
 *     and relays it to T_PORT_HTTPS, connect succeeds, and the same calls fail with WSAEISCONN;
 *     getsockopt(SO_SECURE) says SO_SEC_SSL throughout and the session is TLS (GET /index.html).
 */
#define _GNU_SOURCE
#include <winsock2.h>
#include <sslsock.h>
#include "common.h"
#include "failclosed.h"

#include <poll.h>

#define TIMEOUT_MS 5000

static int g_https, g_wrong;

static int CALLBACK accept_all(DWORD t, LPVOID arg, DWORD n, LPBLOB chain, DWORD flags)
{
    (void)t; (void)n; (void)chain; (void)flags;
    if (arg)
        ++*(int *)arg;
    return SSL_ERR_OKAY;
}

static int set_peername(SOCKET s, const void *name, DWORD len)
{
    return WSAIoctl(s, SO_SSL_SET_PEERNAME, (void *)name, len, NULL, 0, NULL, NULL, NULL);
}

static int set_name(SOCKET s, const char *name)
{
    return set_peername(s, name, (DWORD)strlen(name) + 1);
}

/* A fresh secure socket with timeouts. */
static SOCKET secure_socket(void)
{
    SOCKET s = socket(AF_INET, SOCK_STREAM, 0);
    if (s == INVALID_SOCKET || make_secure(s) != 0) {
        CHECK(0, "a secure socket (errno %d, WSA %d)", errno, WSAGetLastError());
        exit(finish());
    }
    fc_set_timeouts(s, TIMEOUT_MS);
    return s;
}

/* Immediate connect to port; 0 on success, else the WSA code (reason in *reason). */
static int try_connect(SOCKET s, int port, char *reason, size_t cap)
{
    SOCKADDR_IN sa;
    int rc;
    connect_addr(&sa, port);
    WSASetLastError(0);
    rc = connect(s, (SOCKADDR *)&sa, sizeof sa);
    if (rc == 0) {
        snprintf(reason, cap, "connected");
        return 0;
    }
    rc = WSAGetLastError();
    snprintf(reason, cap, "%s", sslsock_last_error_reason());
    return rc ? rc : -1;
}

/* ------------------------------------------------------------------ */
/* 1, 2: bad names                                                      */

struct badname {
    const char *label;
    const void *buf;
    DWORD len;
    int want;          /* the WSA code required, 0: any failure */
};

/* Sets up a socket: [hook], [good name], the bad name (its result checked once, by the caller). */
static SOCKET socket_with_bad_name(const struct badname *b, int hook, const char *good_first, int *hook_calls,
                                   int *rc, int *wsa)
{
    SOCKET s = secure_socket();
    if (hook)
        set_hook(s, accept_all, hook_calls);
    if (good_first && set_name(s, good_first) != 0)
        CHECK(0, "SET_PEERNAME(\"%s\") before the bad name (WSA %d)", good_first, WSAGetLastError());
    WSASetLastError(0);
    *rc = set_peername(s, b->buf, b->len);
    *wsa = WSAGetLastError();
    return s;
}

static void bad_name_case(const struct badname *b, const char *good_first)
{
    static const struct {
        int hook;
        int which;      /* 0: WRONGNAME, 1: HTTPS */
    } runs[] = {{0, 0}, {1, 0}, {0, 1}, {1, 1}};
    char prefix[200];
    int i;

    snprintf(prefix, sizeof prefix, "%sSET_PEERNAME(%s)", good_first ? "SET_PEERNAME(\"localhost\"), then " : "",
             b->label);
    for (i = 0; i < 4; i++) {
        int calls = 0, rc, wsa, err;
        char reason[400];
        SOCKET s = socket_with_bad_name(b, runs[i].hook, good_first, &calls, &rc, &wsa);
        if (i == 0) {
            char why[400];
            snprintf(why, sizeof why, "%s", sslsock_last_error_reason());
            if (b->want)
                CHECK(rc == SOCKET_ERROR && wsa == b->want, "%s fails with SOCKET_ERROR and WSA %d (got %d, WSA %d, \"%s\")",
                      prefix, b->want, rc, wsa, why);
            else
                CHECK(rc == SOCKET_ERROR, "%s fails with SOCKET_ERROR (got %d, WSA %d, \"%s\")", prefix, rc, wsa, why);
        }
        err = try_connect(s, runs[i].which ? g_https : g_wrong, reason, sizeof reason);
        CHECK(err != 0, "%s: then connect to %s %s fails (got %s: WSA %d, \"%s\"; hook calls %d)", prefix,
              runs[i].which ? "T_PORT_HTTPS (localhost, 127.0.0.1)" : "T_PORT_WRONGNAME (wrong.example)",
              runs[i].hook ? "with a hook returning SSL_ERR_OKAY" : "without a hook", err ? "failure" : "success", err,
              reason, calls);
        closesocket(s);
    }
}

/* ------------------------------------------------------------------ */
/* 3: a valid name after a bad one                                      */

static void good_after_bad(void)
{
    const char *what = "SET_PEERNAME(\"mail server\"), then SET_PEERNAME(\"localhost\")";
    char reason[400];
    SOCKET s;
    int rc, err, i;

    for (i = 0; i < 2; i++) {
        s = secure_socket();
        set_name(s, "mail server");
        WSASetLastError(0);
        rc = set_name(s, "localhost");
        CHECK(rc == 0, "%s: the second returns 0 (WSA %d)", what, WSAGetLastError());
        err = try_connect(s, i == 0 ? g_https : g_wrong, reason, sizeof reason);
        if (i == 0) {
            if (CHECK(err == 0, "%s: connect to T_PORT_HTTPS succeeds (WSA %d, \"%s\")", what, err, reason))
                check_http_index(s, "the socket usable again after a bad name and a good one");
        } else {
            CHECK(err != 0, "%s: connect to T_PORT_WRONGNAME fails, the name is checked (WSA %d, \"%s\")", what, err,
                  reason);
        }
        closesocket(s);
    }
}

/* ------------------------------------------------------------------ */
/* 4: numeric shorthand                                                 */

static void numeric(const char *name)
{
    char reason[400];
    SOCKET s = secure_socket();
    int rc, wsa, err;

    WSASetLastError(0);
    rc = set_name(s, name);
    wsa = WSAGetLastError();
    if (rc == 0) {
        note("SET_PEERNAME(\"%s\") accepted: read as 127.0.0.1", name);
        err = try_connect(s, g_https, reason, sizeof reason);
        CHECK(err == 0, "SET_PEERNAME(\"%s\") accepted: connect to T_PORT_HTTPS (IP SAN 127.0.0.1) succeeds (WSA %d, \"%s\")",
              name, err, reason);
        closesocket(s);
        s = secure_socket();
        CHECK(set_name(s, name) == 0, "SET_PEERNAME(\"%s\") again", name);
        err = try_connect(s, g_wrong, reason, sizeof reason);
        CHECK(err != 0, "SET_PEERNAME(\"%s\") accepted: connect to T_PORT_WRONGNAME fails (WSA %d, \"%s\")", name, err,
              reason);
    } else {
        note("SET_PEERNAME(\"%s\") refused (WSA %d, \"%s\")", name, wsa, sslsock_last_error_reason());
        CHECK(rc == SOCKET_ERROR && wsa == WSAEINVAL, "SET_PEERNAME(\"%s\") refused: SOCKET_ERROR with WSAEINVAL (got %d, "
              "WSA %d)", name, rc, wsa);
        err = try_connect(s, g_https, reason, sizeof reason);
        CHECK(err != 0, "SET_PEERNAME(\"%s\") refused: the socket then cannot connect to T_PORT_HTTPS (got %s: WSA %d, "
              "\"%s\")", name, err ? "failure" : "success", err, reason);
    }
    closesocket(s);
}

/* ------------------------------------------------------------------ */
/* 5: a UTF-8 name                                                      */

struct capture {
    SOCKET l;
    unsigned char buf[8192];
    size_t len;
};

/* Accepts one connection, reads the first TLS record (or what comes in 3 s), closes. */
static void *capture_hello(void *p)
{
    struct capture *c = p;
    struct pollfd pf;
    long long until = now_ms() + 4000;
    SOCKET a;

    pf.fd = c->l;
    pf.events = POLLIN;
    if (poll(&pf, 1, 4000) <= 0)
        return NULL;
    a = accept(c->l, NULL, NULL);
    if (a == INVALID_SOCKET)
        return NULL;
    while (c->len < sizeof c->buf && now_ms() < until) {
        long n;
        pf.fd = a;
        pf.events = POLLIN;
        if (poll(&pf, 1, 200) <= 0)
            continue;
        n = (long)recv(a, (char *)c->buf + c->len, sizeof c->buf - c->len, 0);
        if (n <= 0)
            break;
        c->len += (size_t)n;
        if (c->len >= 5 && c->len >= 5 + (((size_t)c->buf[3] << 8) | c->buf[4]))
            break;   /* the whole first record */
    }
    closesocket(a);
    return NULL;
}

static int contains(const unsigned char *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle), i;
    for (i = 0; i + k <= n; i++)
        if (memcmp(hay + i, needle, k) == 0)
            return 1;
    return 0;
}

static void utf8_name(void)
{
    static const char name[] = "b\xc3\xbc" "cher.example";
    const char *what = "SET_PEERNAME(\"b\\xc3\\xbccher.example\")";
    static struct capture cap;
    struct hook_record rec;
    char reason[400];
    SOCKADDR_IN sa;
    socklen_t alen = sizeof sa;
    pthread_t th;
    SOCKET s;
    int rc, wsa, err;

    s = secure_socket();
    WSASetLastError(0);
    rc = set_name(s, name);
    wsa = WSAGetLastError();
    CHECK(rc == 0, "%s returns 0 (got %d, WSA %d, \"%s\")", what, rc, wsa, rc ? sslsock_last_error_reason() : "");
    err = try_connect(s, g_https, reason, sizeof reason);
    CHECK(err != 0, "%s: connect to T_PORT_HTTPS (localhost) fails, a name mismatch (got %s: WSA %d, \"%s\")", what,
          err ? "failure" : "success", err, reason);
    closesocket(s);

    s = secure_socket();
    set_name(s, name);
    hook_reset(&rec, SSL_ERR_CERT_UNKNOWN);
    set_hook(s, record_hook, &rec);
    err = try_connect(s, g_https, reason, sizeof reason);
    CHECK(rec.calls == 1 && (rec.flags & SSL_CERT_FLAG_ISSUER_UNKNOWN),
          "%s: a hook gets dwFlags with SSL_CERT_FLAG_ISSUER_UNKNOWN against T_PORT_HTTPS (calls %d, flags 0x%x)", what,
          rec.calls, (unsigned)rec.flags);
    CHECK(err != 0, "%s: the refusing hook fails the connect (WSA %d)", what, err);
    closesocket(s);

    /* the SNI the ClientHello carries */
    memset(&cap, 0, sizeof cap);
    cap.l = socket(AF_INET, SOCK_STREAM, 0);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (!CHECK(bind(cap.l, (SOCKADDR *)&sa, sizeof sa) == 0 && listen(cap.l, 4) == 0 &&
                   getsockname(cap.l, (SOCKADDR *)&sa, &alen) == 0,
               "a raw listener for the ClientHello")) {
        closesocket(cap.l);
        return;
    }
    pthread_create(&th, NULL, capture_hello, &cap);
    s = secure_socket();
    fc_set_timeouts(s, 3000);
    set_name(s, name);
    connect(s, (SOCKADDR *)&sa, sizeof sa);
    pthread_join(th, NULL);
    closesocket(s);
    closesocket(cap.l);
    CHECK(cap.len > 5 && cap.buf[0] == 0x16, "%s: a ClientHello reached the raw listener (%lu bytes, first 0x%02x)",
          what, (unsigned long)cap.len, cap.len ? cap.buf[0] : 0);
    CHECK(contains(cap.buf, cap.len, "xn--bcher-kva.example"),
          "%s: the ClientHello's SNI is the A-label xn--bcher-kva.example", what);
    CHECK(!contains(cap.buf, cap.len, name), "%s: the raw UTF-8 bytes are not sent as SNI", what);
}

/* ------------------------------------------------------------------ */
/* 6: settings freeze at connect                                        */

struct connector {
    SOCKET s;
    SOCKADDR_IN sa;
    int done, rc, wsa;
    char reason[300];
};

static void *do_connect(void *p)
{
    struct connector *c = p;
    int rc, wsa;
    WSASetLastError(0);
    rc = connect(c->s, (SOCKADDR *)&c->sa, sizeof c->sa);
    wsa = WSAGetLastError();
    snprintf(c->reason, sizeof c->reason, "%s", rc ? sslsock_last_error_reason() : "");
    c->rc = rc;
    c->wsa = wsa;
    __atomic_store_n(&c->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static int wait_flag(int *flag, int ms)
{
    long long until = now_ms() + ms;
    while (!__atomic_load_n(flag, __ATOMIC_SEQ_CST) && now_ms() < until)
        usleep(5000);
    return __atomic_load_n(flag, __ATOMIC_SEQ_CST);
}

struct relay {
    SOCKET l;
    int want_port;       /* the secure socket's client port (set before go) */
    int https;
    int go, stop, accepted;
};

/* Takes the secure socket's connection from the listener and relays it to T_PORT_HTTPS. */
static void *relay_main(void *p)
{
    struct relay *r = p;
    long long until = now_ms() + 15000;
    SOCKET a = INVALID_SOCKET, b;
    SOCKADDR_IN sa;
    char buf[16384];
    int open_a = 1, open_b = 1;

    while (!__atomic_load_n(&r->go, __ATOMIC_SEQ_CST) && !__atomic_load_n(&r->stop, __ATOMIC_SEQ_CST) &&
           now_ms() < until)
        usleep(5000);
    while (a == INVALID_SOCKET && now_ms() < until && !__atomic_load_n(&r->stop, __ATOMIC_SEQ_CST)) {
        struct pollfd pf;
        SOCKADDR_IN peer;
        socklen_t plen = sizeof peer;
        SOCKET c;
        pf.fd = r->l;
        pf.events = POLLIN;
        if (poll(&pf, 1, 100) <= 0)
            continue;
        c = accept(r->l, (SOCKADDR *)&peer, &plen);
        if (c == INVALID_SOCKET)
            continue;
        if (ntohs(peer.sin_port) == r->want_port)
            a = c;
        else
            closesocket(c);   /* a filler */
    }
    if (a == INVALID_SOCKET)
        return NULL;
    __atomic_store_n(&r->accepted, 1, __ATOMIC_SEQ_CST);
    b = socket(AF_INET, SOCK_STREAM, 0);
    connect_addr(&sa, r->https);
    if (connect(b, (SOCKADDR *)&sa, sizeof sa) != 0) {
        closesocket(a);
        closesocket(b);
        return NULL;
    }
    while ((open_a || open_b) && now_ms() < until && !__atomic_load_n(&r->stop, __ATOMIC_SEQ_CST)) {
        struct pollfd pf[2];
        int i;
        pf[0].fd = open_a ? a : -1;
        pf[0].events = POLLIN;
        pf[1].fd = open_b ? b : -1;
        pf[1].events = POLLIN;
        if (poll(pf, 2, 100) <= 0)
            continue;
        for (i = 0; i < 2; i++) {
            SOCKET from = i ? b : a, to = i ? a : b;
            long n;
            if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            n = (long)recv(from, buf, sizeof buf, 0);
            if (n <= 0) {
                shutdown(to, SHUT_WR);
                if (i)
                    open_b = 0;
                else
                    open_a = 0;
            } else if (send(to, buf, (size_t)n, MSG_NOSIGNAL) != n) {
                open_a = open_b = 0;
            }
        }
    }
    closesocket(a);
    closesocket(b);
    return NULL;
}

/* The five settings calls; each must fail with `want`. SO_SEC_NONE comes last, so that a build that
 * took it does not hide what the four others do. */
static void settings_calls(SOCKET s, int want, const char *when)
{
    const char *wname = want == WSAEINPROGRESS ? "WSAEINPROGRESS" : "WSAEISCONN";
    DWORD none = SO_SEC_NONE, flags = SSL_FLAG_DEFER_HANDSHAKE;
    SSLPROTOCOLS prot;
    int rc, wsa, calls = 0;

    WSASetLastError(0);
    rc = fc_set_flags(s, flags);
    wsa = WSAGetLastError();
    CHECK(rc == SOCKET_ERROR && wsa == want, "%s: SO_SSL_SET_FLAGS(DEFER) fails with %s (got %d, WSA %d)", when, wname,
          rc, wsa);
    WSASetLastError(0);
    rc = set_name(s, "localhost");
    wsa = WSAGetLastError();
    CHECK(rc == SOCKET_ERROR && wsa == want, "%s: SO_SSL_SET_PEERNAME(\"localhost\") fails with %s (got %d, WSA %d)",
          when, wname, rc, wsa);
    memset(&prot, 0, sizeof prot);
    prot.dwCount = 1;
    prot.ProtocolList[0].dwProtocol = SSL_PROTOCOL_TLS1;
    WSASetLastError(0);
    rc = WSAIoctl(s, SO_SSL_SET_PROTOCOLS, &prot, sizeof prot, NULL, 0, NULL, NULL, NULL);
    wsa = WSAGetLastError();
    CHECK(rc == SOCKET_ERROR && wsa == want, "%s: SO_SSL_SET_PROTOCOLS({TLS1}) fails with %s (got %d, WSA %d)", when,
          wname, rc, wsa);
    WSASetLastError(0);
    rc = set_hook(s, accept_all, &calls);
    wsa = WSAGetLastError();
    CHECK(rc == SOCKET_ERROR && wsa == want, "%s: SO_SSL_SET_VALIDATE_CERT_HOOK fails with %s (got %d, WSA %d)", when,
          wname, rc, wsa);
    WSASetLastError(0);
    rc = setsockopt(s, SOL_SOCKET, SO_SECURE, (const char *)&none, sizeof none);
    wsa = WSAGetLastError();
    CHECK(rc == SOCKET_ERROR && wsa == want, "%s: setsockopt(SO_SECURE, SO_SEC_NONE) fails with %s (got %d, WSA %d)",
          when, wname, rc, wsa);
    {
        DWORD sec = fc_get_secure(s);
        CHECK(sec == SO_SEC_SSL, "%s: getsockopt(SO_SECURE) still gives SO_SEC_SSL (got 0x%x)", when, (unsigned)sec);
    }
}

struct settings_job {
    SOCKET s;
    int done;
};

static void *settings_job_main(void *p)
{
    struct settings_job *j = p;
    settings_calls(j->s, WSAEINPROGRESS, "during connect");
    __atomic_store_n(&j->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void settings_freeze(void)
{
    const char *what = "settings while a blocking secure connect waits for TCP";
    static struct connector c;
    static struct relay r;
    static struct settings_job job;
    SOCKET l, fillers[16];
    SOCKADDR_IN sa;
    socklen_t alen = sizeof sa;
    pthread_t tc, tr, tj;
    int nfill = 0, full = 0, i, waiting = 0, job_started = 0;

    l = socket(AF_INET, SOCK_STREAM, 0);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (!CHECK(bind(l, (SOCKADDR *)&sa, sizeof sa) == 0 && listen(l, 0) == 0 &&
                   getsockname(l, (SOCKADDR *)&sa, &alen) == 0,
               "%s: a listener with backlog 0", what)) {
        closesocket(l);
        return;
    }
    /* fill its accept queue until a SYN goes unanswered */
    for (i = 0; i < 16 && !full; i++) {
        SOCKET f = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        struct pollfd pf;
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        connect(f, (SOCKADDR *)&sa, sizeof sa);
        pf.fd = f;
        pf.events = POLLOUT;
        if (poll(&pf, 1, 300) == 1 && getsockopt(f, SOL_SOCKET, SO_ERROR, (char *)&soerr, &sl) == 0 && soerr == 0) {
            fillers[nfill++] = f;
        } else {
            full = 1;
            closesocket(f);
        }
    }
    if (!CHECK(full, "%s: the listener's accept queue is full, a SYN goes unanswered (%d fillers)", what, nfill)) {
        for (i = 0; i < nfill; i++)
            closesocket(fillers[i]);
        closesocket(l);
        return;
    }

    /* the relay waits for r.go before it accepts anything */
    memset(&r, 0, sizeof r);
    r.l = l;
    r.https = g_https;
    pthread_create(&tr, NULL, relay_main, &r);

    memset(&c, 0, sizeof c);
    c.s = secure_socket();
    fc_set_timeouts(c.s, 12000);
    c.sa = sa;
    pthread_create(&tc, NULL, do_connect, &c);

    /* wait until the kernel sent the SYN (TCP_INFO: SYN_SENT), so that connect is surely under way */
    {
        long long until = now_ms() + 5000;
        int state = -1;
        while (now_ms() < until && !__atomic_load_n(&c.done, __ATOMIC_SEQ_CST)) {
            struct tcp_info ti;
            socklen_t tl = sizeof ti;
            memset(&ti, 0, sizeof ti);
            if (getsockopt(c.s, IPPROTO_TCP, TCP_INFO, (char *)&ti, &tl) == 0 && ti.tcpi_state == 2 /* SYN_SENT */) {
                state = 2;
                break;
            }
            usleep(2000);
        }
        usleep(50 * 1000);
        waiting = CHECK(state == 2 && !__atomic_load_n(&c.done, __ATOMIC_SEQ_CST),
                        "%s: connect is waiting for TCP (SYN_SENT seen: %s; connect returned: %s, rc %d, WSA %d)",
                        what, state == 2 ? "yes" : "no", c.done ? "yes" : "no", c.rc, c.wsa);
    }
    if (waiting) {
        /* from another thread, bounded: a call that waited for the connect would keep it waiting */
        memset(&job, 0, sizeof job);
        job.s = c.s;
        pthread_create(&tj, NULL, settings_job_main, &job);
        job_started = 1;
        if (CHECK(wait_flag(&job.done, 4000), "during connect: the settings calls return within 4 s, none waits for "
                  "the connect"))
            CHECK(!__atomic_load_n(&c.done, __ATOMIC_SEQ_CST),
                  "during connect: the calls did not end the connect (rc %d, WSA %d, \"%s\")", c.rc, c.wsa, c.reason);
    }

    /* let the SYN in (its next retransmission), take it and relay it to the HTTPS server */
    r.want_port = fc_local_port(c.s);
    listen(l, 16);
    __atomic_store_n(&r.go, 1, __ATOMIC_SEQ_CST);
    for (i = 0; i < nfill; i++)
        closesocket(fillers[i]);
    if (!wait_flag(&c.done, 12000)) {
        CHECK(0, "%s: connect returned within 12 s once the listener took connections (relay accepted: %d)", what,
              r.accepted);
        closesocket(c.s);           /* give up: closing it ends the connect */
        wait_flag(&c.done, 3000);
    } else {
        if (CHECK(c.rc == 0, "%s: connect then succeeds through the relay to T_PORT_HTTPS (rc %d, WSA %d, \"%s\")",
                  what, c.rc, c.wsa, c.reason)) {
            settings_calls(c.s, WSAEISCONN, "after connect");
            check_http_index(c.s, "after the frozen settings: the session is TLS");
        }
        closesocket(c.s);
    }
    if (job_started && wait_flag(&job.done, 3000))
        pthread_join(tj, NULL);
    __atomic_store_n(&r.stop, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&c.done, __ATOMIC_SEQ_CST))
        pthread_join(tc, NULL);
    pthread_join(tr, NULL);
    closesocket(l);
}

int main(void)
{
    WSADATA wsa;
    static char name300[301], label64[80], empty[1] = "";
    static const char nul_x[3] = {0, 'x', 0};
    struct badname bad[9];
    int i, n = 0;

    start_watchdog(57);
    signal(SIGPIPE, SIG_IGN);
    g_https = env_port("T_PORT_HTTPS");
    g_wrong = env_port("T_PORT_WRONGNAME");
    CHECK(WSAStartup(MAKEWORD(2, 2), &wsa) == 0, "WSAStartup(2.2)");

    for (i = 0; i < 300; i++)
        name300[i] = (i % 10 == 9) ? '.' : 'a';
    name300[300] = 0;
    memset(label64, 'a', 64);
    strcpy(label64 + 64, ".example");

    bad[n].label = "a 300-byte name"; bad[n].buf = name300; bad[n].len = 301; bad[n++].want = WSAEINVAL;
    bad[n].label = "a name with a 64-byte label"; bad[n].buf = label64; bad[n].len = (DWORD)strlen(label64) + 1;
    bad[n++].want = WSAEINVAL;
    bad[n].label = "\"*.x\""; bad[n].buf = "*.x"; bad[n].len = 4; bad[n++].want = WSAEINVAL;
    bad[n].label = "\"mail server\""; bad[n].buf = "mail server"; bad[n].len = 12; bad[n++].want = WSAEINVAL;
    bad[n].label = "\"\" (the NUL alone)"; bad[n].buf = empty; bad[n].len = 1; bad[n++].want = WSAEINVAL;
    bad[n].label = "\"\\0x\" (3 bytes)"; bad[n].buf = nul_x; bad[n].len = 3; bad[n++].want = WSAEINVAL;
    bad[n].label = "NULL, 10"; bad[n].buf = NULL; bad[n].len = 10; bad[n++].want = WSAEFAULT;
    bad[n].label = "NULL, 0"; bad[n].buf = NULL; bad[n].len = 0; bad[n++].want = 0;
    bad[n].label = "\"\", 0 (a pointer, length 0)"; bad[n].buf = empty; bad[n].len = 0; bad[n++].want = 0;

    for (i = 0; i < n; i++)
        bad_name_case(&bad[i], NULL);
    bad_name_case(&bad[3], "localhost");    /* "mail server" after "localhost" */
    bad_name_case(&bad[0], "localhost");    /* 300 bytes after "localhost" */
    good_after_bad();
    numeric("127.1");
    numeric("127.000.000.001");
    utf8_name();
    settings_freeze();

    WSACleanup();
    return finish();
}
