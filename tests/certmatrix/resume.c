/*
 * resume.c - protocol sets and session resumption (make certmatrix).
 *
 * Peers (openssl s_server -www, which answers "GET /" with a status page whose
 * line "New, <version>, Cipher is ..." or "Reused, ..." is the server's own view
 * of the handshake), all with the `good` certificate unless said otherwise:
 *   T_PORT_R13        -tls1_3                 (TLS 1.3 PSK resumption, tickets)
 *   T_PORT_R12        -tls1_2                 (TLS 1.2 session tickets)
 *   T_PORT_R12_SID    -tls1_2 -no_ticket      (TLS 1.2 session ids)
 *   T_PORT_WN13, T_PORT_WN12  the `wrongname` certificate (wrong.example only,
 *                     no IP address), -tls1_3 / -tls1_2
 *   T_PORT_SL13, T_PORT_SL12  the `shortlived` certificate (localhost + 127.0.0.1,
 *                     test CA), -tls1_3 / -tls1_2 (session tickets); it expires at
 *                     T_SHORTLIVED_NOT_AFTER (Unix seconds), a few seconds after
 *                     this program starts (tests/pki/mkcerts.py --shortlived)
 *
 * The rules checked (README "The contract's decisions"):
 *   - SET_PROTOCOLS {SSL_PROTOCOL_TLS1} = TLS 1.2 and 1.3; SSLSOCK_PROTOCOL_TLS1_2
 *     / _TLS1_3 select one; a set of only obsolete protocols -> WSAEINVAL.
 *   - sockets without a hook resume sessions made by sockets of the same policy
 *     to the same address:port and name (the server says "Reused");
 *   - sockets with a hook resume sessions made by sockets with a hook (same
 *     address:port and name), and their hook is still called on every
 *     handshake: on a resumed one with the certificate the session was made
 *     with and the flags computed again; a refusal there fails connect();
 *   - resumption never skips a certificate decision: a socket whose name check
 *     would fail must not resume a session made by a socket that checked no name;
 *   - every handshake, resumed or not, hook or not, gets the certificate decision
 *     of the moment: sessions made while the shortlived certificate was valid
 *     (server says "New", then "Reused") are refused once it has expired
 *     (WSAECONNABORTED; a hook is called with SSL_CERT_FLAG_ISSUER_UNKNOWN), as
 *     is a full handshake (SO_SSL_SET_CLIENT_OPTS cache size 0). The sessions are
 *     made first; the other checks run while the certificate expires.
 * Handshake times (connect()) are reported, not asserted.
 */
#include <winsock2.h>
#include <sslsock.h>
#include "common.h"

#include <errno.h>

#define IU SSL_CERT_FLAG_ISSUER_UNKNOWN

enum hook_kind { HOOK_NONE, HOOK_ACCEPT_ALL, HOOK_STRICT, HOOK_REFUSE };

static int CALLBACK strict_hook(DWORD dwType, LPVOID pvArg, DWORD dwChainLen, LPBLOB pCertChain,
                                DWORD dwFlags)
{
    struct hook_record *r = pvArg;
    hook_note(r, dwType, pvArg, dwChainLen, pCertChain, dwFlags);
    return dwFlags == 0 ? SSL_ERR_OKAY : SSL_ERR_CERT_UNKNOWN;
}

static long long now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* One connection's result. */
struct conn {
    int rc, wsa;
    long long us;          /* connect() duration */
    int reused;            /* 1 "Reused", 0 "New", -1 no status page */
    char status[160];      /* the server's "New, ..." / "Reused, ..." line */
    DWORD protocol;        /* SSLCONNECTIONINFO.dwProtocol, 0 if none */
    struct hook_record rec;
    char reason[300];
};

/* protocols: NULL = leave the default; else count entries. cache_size: < 0 leaves the default;
 * else SO_SSL_SET_CLIENT_OPTS {cache_size, 0} (0: this socket neither resumes nor stores sessions). */
static void connect_www_cache(int port, enum hook_kind hook, const char *name,
                              const DWORD *protocols, int nprot, long cache_size, struct conn *c)
{
    static char page[65536];
    SOCKADDR_IN sa;
    SOCKET s;
    DWORD ms = 10000;
    long long t0;

    memset(c, 0, sizeof *c);
    c->reused = -1;
    hook_reset(&c->rec, SSL_ERR_OKAY);
    s = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, (const char *)&ms, sizeof ms);
    setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, (const char *)&ms, sizeof ms);
    make_secure(s);
    if (hook == HOOK_ACCEPT_ALL)
        set_hook(s, record_hook, &c->rec);
    else if (hook == HOOK_STRICT)
        set_hook(s, strict_hook, &c->rec);
    else if (hook == HOOK_REFUSE) {
        hook_reset(&c->rec, SSL_ERR_CERT_UNKNOWN);
        set_hook(s, record_hook, &c->rec);
    }
    if (name)
        WSAIoctl(s, SO_SSL_SET_PEERNAME, (LPVOID)name, (DWORD)strlen(name) + 1, NULL, 0, NULL,
                 NULL, NULL);
    if (protocols) {
        unsigned char buf[sizeof(DWORD) + 8 * sizeof(SSLPROTOCOL)];
        SSLPROTOCOLS *p = (SSLPROTOCOLS *)buf;
        int i;
        memset(buf, 0, sizeof buf);
        p->dwCount = (DWORD)nprot;
        for (i = 0; i < nprot; i++)
            p->ProtocolList[i].dwProtocol = protocols[i];
        WSAIoctl(s, SO_SSL_SET_PROTOCOLS, p, (DWORD)(sizeof(DWORD) + nprot * sizeof(SSLPROTOCOL)),
                 NULL, 0, NULL, NULL, NULL);
    }
    if (cache_size >= 0) {
        SSLCLIENTOPTS opts;
        opts.dwCacheSize = (DWORD)cache_size;
        opts.dwCacheLifetime = 0;
        if (WSAIoctl(s, SO_SSL_SET_CLIENT_OPTS, &opts, sizeof opts, NULL, 0, NULL, NULL, NULL) != 0)
            CHECK(0, "SO_SSL_SET_CLIENT_OPTS {%ld, 0} accepted", cache_size);
    }
    connect_addr(&sa, port);
    WSASetLastError(0);
    t0 = now_us();
    c->rc = connect(s, (const struct sockaddr *)&sa, sizeof sa);
    c->us = now_us() - t0;
    c->wsa = WSAGetLastError();
    snprintf(c->reason, sizeof c->reason, "%s", c->rc == 0 ? "" : sslsock_last_error_reason());
    if (c->rc == 0) {
        SSLCONNECTIONINFO ci;
        size_t got = 0;
        int r;
        char *line;
        memset(&ci, 0, sizeof ci);
        if (WSAIoctl(s, SO_SSL_GET_CONNECTION_INFO, NULL, 0, &ci, sizeof ci, NULL, NULL, NULL) == 0)
            c->protocol = ci.dwProtocol;
        if (send_str(s, "GET / HTTP/1.0\r\n\r\n") == 0) {
            while (got < sizeof page - 1 &&
                   (r = (int)recv(s, page + got, sizeof page - 1 - got, 0)) > 0)
                got += (size_t)r;
        }
        page[got] = 0;
        line = strstr(page, "\nReused, ");
        if (line)
            c->reused = 1;
        else if ((line = strstr(page, "\nNew, ")) != NULL)
            c->reused = 0;
        if (line) {
            size_t n = strcspn(line + 1, "\r\n");
            snprintf(c->status, sizeof c->status, "%.*s", (int)n, line + 1);
        }
    }
    closesocket(s);
}

static void connect_www(int port, enum hook_kind hook, const char *name, const DWORD *protocols,
                        int nprot, struct conn *c)
{
    connect_www_cache(port, hook, name, protocols, nprot, -1, c);
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

static long long median(long long *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_ll);
    return n ? v[n / 2] : 0;
}

#define ROUNDS 5

/* Resumption against one server. */
static void resumption(const char *label, int port, DWORD want_protocol)
{
    struct conn c;
    long long full[ROUNDS + 1], resumed[ROUNDS + 1];
    int i, nfull = 0, nres = 0;

    /* 1. the first socket without a hook: a full handshake */
    connect_www(port, HOOK_NONE, "localhost", NULL, 0, &c);
    CHECK(c.rc == 0 && c.reused == 0 && c.protocol == want_protocol,
          "%s: first socket without a hook: full handshake, server says New (rc %d, \"%s\", "
          "protocol 0x%x) %s",
          label, c.rc, c.status, (unsigned)c.protocol, c.reason);
    note("%s: no hook #1: %lld us, server: %s", label, c.us, c.status);

    /* 2. later sockets without a hook, same address:port and name: resumed */
    for (i = 0; i < ROUNDS; i++) {
        connect_www(port, HOOK_NONE, "localhost", NULL, 0, &c);
        CHECK(c.rc == 0 && c.reused == 1 && c.protocol == want_protocol,
              "%s: socket without a hook #%d resumes: server says Reused (rc %d, \"%s\") %s",
              label, i + 2, c.rc, c.status, c.reason);
        note("%s: no hook #%d: %lld us, server: %s", label, i + 2, c.us, c.status);
        if (c.reused == 1)
            resumed[nres++] = c.us;
    }

    /* 3. sockets with a hook: the first one makes a session of the hook scope (a full handshake);
     *    later ones resume it, and the hook is still called once, with the session's certificate */
    for (i = 0; i < ROUNDS; i++) {
        connect_www(port, i % 2 ? HOOK_STRICT : HOOK_ACCEPT_ALL, "localhost", NULL, 0, &c);
        CHECK(c.rc == 0 && c.reused == (i > 0),
              "%s: socket with a %s hook #%d: %s, server says %s (rc %d, \"%s\") %s", label,
              i % 2 ? "strict" : "accept-all", i + 1, i ? "resumed" : "full handshake",
              i ? "Reused" : "New", c.rc, c.status, c.reason);
        CHECK(c.rec.calls == 1 && c.rec.flags == 0 && c.rec.chainlen == 1 && c.rec.derlen > 0,
              "%s: socket with a hook #%d: hook called once with the certificate, dwFlags 0 (got %d "
              "calls, 0x%x, chain %u, %u bytes)",
              label, i + 1, c.rec.calls, (unsigned)c.rec.flags, (unsigned)c.rec.chainlen,
              (unsigned)c.rec.derlen);
        note("%s: hook #%d: %lld us, server: %s", label, i + 1, c.us, c.status);
        if (c.reused == 0)
            full[nfull++] = c.us;
    }

    /* 3b. a hook that refuses, on a socket that resumes: connect fails, the hook was asked */
    connect_www(port, HOOK_REFUSE, "localhost", NULL, 0, &c);
    CHECK(c.rc == SOCKET_ERROR && c.wsa == WSAECONNABORTED && c.rec.calls == 1 &&
              strstr(c.reason, "resumed session") != NULL,
          "%s: a refusing hook on a resumed session fails connect with WSAECONNABORTED, hook "
          "called once, the reason says so (rc %d, WSA %d, %d calls: %s)",
          label, c.rc, c.wsa, c.rec.calls, c.reason);

    /* 4. the hooked sockets took nothing from the no-hook sockets' sessions (nor the reverse) */
    /* 5. another name to the same address:port: not the same scope */
    connect_www(port, HOOK_NONE, "127.0.0.1", NULL, 0, &c);
    CHECK(c.rc == 0 && c.reused == 0,
          "%s: a socket without a hook but with peer name 127.0.0.1 does not resume localhost's "
          "session (rc %d, \"%s\") %s",
          label, c.rc, c.status, c.reason);

    if (nres > 0) {
        note("%s: handshake time (connect): full with hook median %lld us (n=%d), resumed without "
             "hook median %lld us (n=%d)",
             label, median(full, nfull), nfull, median(resumed, nres), nres);
        printf("TIMING %s full_us=%lld resumed_us=%lld\n", label, median(full, nfull),
               median(resumed, nres));
    } else {
        note("%s: handshake time (connect): full with hook median %lld us (n=%d), no handshake "
             "was resumed",
             label, median(full, nfull), nfull);
        printf("TIMING %s full_us=%lld resumed_us=none\n", label, median(full, nfull));
    }
}

/* A session made without a name check must not satisfy a socket whose name check fails. */
static void name_scope(const char *label, int port)
{
    struct conn c;

    connect_www(port, HOOK_NONE, "127.0.0.1", NULL, 0, &c);
    CHECK(c.rc == SOCKET_ERROR && c.wsa == WSAECONNABORTED,
          "%s: control: no hook, peer name 127.0.0.1 (not in the certificate) is refused "
          "(rc %d, WSA %d)",
          label, c.rc, c.wsa);
    connect_www(port, HOOK_NONE, NULL, NULL, 0, &c);
    CHECK(c.rc == 0 && c.reused == 0,
          "%s: no hook, no peer name: connected, full handshake (rc %d, \"%s\") %s", label, c.rc,
          c.status, c.reason);
    connect_www(port, HOOK_NONE, NULL, NULL, 0, &c);
    CHECK(c.rc == 0 && c.reused == 1,
          "%s: no hook, no peer name again: resumed (rc %d, \"%s\") %s", label, c.rc, c.status,
          c.reason);
    connect_www(port, HOOK_NONE, "127.0.0.1", NULL, 0, &c);
    CHECK(c.rc == SOCKET_ERROR && c.wsa == WSAECONNABORTED,
          "%s: no hook, peer name 127.0.0.1 after the no-name sessions: still refused, no "
          "resumption of a session that checked no name (rc %d, WSA %d, server \"%s\")",
          label, c.rc, c.wsa, c.status);
    connect_www(port, HOOK_NONE, "localhost", NULL, 0, &c);
    CHECK(c.rc == SOCKET_ERROR && c.wsa == WSAECONNABORTED,
          "%s: no hook, peer name localhost (not in the certificate): refused (rc %d, WSA %d, "
          "server \"%s\")",
          label, c.rc, c.wsa, c.status);
    /* A session accepted by a lenient hook is judged again on resumption: a strict hook refuses. */
    connect_www(port, HOOK_ACCEPT_ALL, "localhost", NULL, 0, &c);
    CHECK(c.rc == 0 && c.rec.calls == 1 && c.rec.flags == IU,
          "%s: accept-all hook, peer name localhost: the hook accepts ISSUER_UNKNOWN (rc %d, %d "
          "calls, flags 0x%x) %s",
          label, c.rc, c.rec.calls, (unsigned)c.rec.flags, c.reason);
    connect_www(port, HOOK_ACCEPT_ALL, "localhost", NULL, 0, &c);
    CHECK(c.rc == 0 && c.reused == 1 && c.rec.calls == 1 && c.rec.flags == IU,
          "%s: accept-all hook again: resumed, and the hook saw ISSUER_UNKNOWN again (rc %d, "
          "\"%s\", %d calls, flags 0x%x) %s",
          label, c.rc, c.status, c.rec.calls, (unsigned)c.rec.flags, c.reason);
    connect_www(port, HOOK_STRICT, "localhost", NULL, 0, &c);
    CHECK(c.rc == SOCKET_ERROR && c.wsa == WSAECONNABORTED && c.rec.calls == 1 &&
              c.rec.flags == IU && strstr(c.reason, "resumed session") != NULL,
          "%s: strict hook after them: the resumed session's certificate is judged again and "
          "refused (rc %d, WSA %d, %d calls, flags 0x%x: %s)",
          label, c.rc, c.wsa, c.rec.calls, (unsigned)c.rec.flags, c.reason);
}

/* ---- the shortlived certificate: sessions made while it is valid, refused once it has expired ---- */

static time_t g_not_after;   /* T_SHORTLIVED_NOT_AFTER */

static long secs_left(void)
{
    return (long)(g_not_after - time(NULL));
}

/* While the certificate is valid: full handshakes, then resumed ones, with no hook and with a strict
 * hook, no peer name; a socket with cache size 0 makes a full handshake although sessions exist. */
static void shortlived_valid(const char *label, int port, DWORD want_protocol)
{
    struct conn c;

    connect_www(port, HOOK_NONE, NULL, NULL, 0, &c);
    CHECK(c.rc == 0 && c.reused == 0 && c.protocol == want_protocol,
          "%s, valid: no hook, no peer name: full handshake, server says New (rc %d, \"%s\", "
          "protocol 0x%x, %ld s before not-after) %s",
          label, c.rc, c.status, (unsigned)c.protocol, secs_left(), c.reason);
    connect_www(port, HOOK_NONE, NULL, NULL, 0, &c);
    CHECK(c.rc == 0 && c.reused == 1,
          "%s, valid: no hook again: resumed, server says Reused (rc %d, \"%s\", %ld s before "
          "not-after) %s",
          label, c.rc, c.status, secs_left(), c.reason);
    connect_www(port, HOOK_STRICT, NULL, NULL, 0, &c);
    CHECK(c.rc == 0 && c.reused == 0 && c.rec.calls == 1 && c.rec.flags == 0,
          "%s, valid: strict hook: full handshake, server says New, hook called once with dwFlags "
          "0 (rc %d, \"%s\", %d calls, flags 0x%x, %ld s before not-after) %s",
          label, c.rc, c.status, c.rec.calls, (unsigned)c.rec.flags, secs_left(), c.reason);
    connect_www(port, HOOK_STRICT, NULL, NULL, 0, &c);
    CHECK(c.rc == 0 && c.reused == 1 && c.rec.calls == 1 && c.rec.flags == 0,
          "%s, valid: strict hook again: resumed, server says Reused, hook called once with dwFlags "
          "0 (rc %d, \"%s\", %d calls, flags 0x%x, %ld s before not-after) %s",
          label, c.rc, c.status, c.rec.calls, (unsigned)c.rec.flags, secs_left(), c.reason);
    connect_www_cache(port, HOOK_NONE, NULL, NULL, 0, 0, &c);
    CHECK(c.rc == 0 && c.reused == 0,
          "%s, valid: no hook, SO_SSL_SET_CLIENT_OPTS cache size 0: full handshake although "
          "sessions exist, server says New (rc %d, \"%s\", %ld s before not-after) %s",
          label, c.rc, c.status, secs_left(), c.reason);
}

/* Sleeps until the certificate has expired (time(), in whole seconds, is past not-after).
 * Returns 0 if not-after is too far away to wait for. */
static int shortlived_wait(void)
{
    const long bound = 300;
    long left = secs_left();
    long long t0 = now_ms();

    if (!CHECK(left < bound,
               "T_SHORTLIVED_NOT_AFTER is less than %ld s away (%ld s), the wait is bounded", bound,
               left))
        return 0;
    alarm((unsigned)(left > 0 ? left : 0) + 60);   /* the watchdog, past the wait */
    while (time(NULL) <= g_not_after)
        usleep(100000);
    note("shortlived: waited %.1f s for the certificate to expire", (now_ms() - t0) / 1000.0);
    return 1;
}

/* After not-after: the sessions made while it was valid are refused, and so is a full handshake. */
static void shortlived_expired(const char *label, int port)
{
    struct conn c;

    connect_www(port, HOOK_NONE, NULL, NULL, 0, &c);
    CHECK(c.rc == SOCKET_ERROR && c.wsa == WSAECONNABORTED &&
              strstr(c.reason, "resumed session") != NULL,
          "%s, expired: no hook, no peer name: the resumed session's certificate has expired, "
          "connect fails with WSAECONNABORTED (rc %d, WSA %d, server \"%s\", %ld s past "
          "not-after: %s)",
          label, c.rc, c.wsa, c.status, -secs_left(), c.rc == 0 ? "connected" : c.reason);
    connect_www(port, HOOK_STRICT, NULL, NULL, 0, &c);
    CHECK(c.rc == SOCKET_ERROR && c.wsa == WSAECONNABORTED && c.rec.calls == 1 &&
              c.rec.flags == IU && strstr(c.reason, "resumed session") != NULL,
          "%s, expired: strict hook: called once on the resumed session with ISSUER_UNKNOWN, "
          "refuses, connect fails with WSAECONNABORTED (rc %d, WSA %d, %d calls, flags 0x%x, server "
          "\"%s\": %s)",
          label, c.rc, c.wsa, c.rec.calls, (unsigned)c.rec.flags, c.status,
          c.rc == 0 ? "connected" : c.reason);
    connect_www_cache(port, HOOK_NONE, NULL, NULL, 0, 0, &c);
    CHECK(c.rc == SOCKET_ERROR && c.wsa == WSAECONNABORTED &&
              strstr(c.reason, "resumed session") == NULL,
          "%s, expired: no hook, SO_SSL_SET_CLIENT_OPTS cache size 0: the full handshake fails "
          "with WSAECONNABORTED (rc %d, WSA %d, server \"%s\": %s)",
          label, c.rc, c.wsa, c.status, c.rc == 0 ? "connected" : c.reason);
}

/* SET_PROTOCOLS then GET_PROTOCOLS on a fresh secure socket. Returns SET's rc; *wsa its error;
 * got/ngot what GET wrote. */
static int set_get_protocols(const DWORD *list, int n, int *wsa, DWORD *got, int *ngot)
{
    unsigned char buf[sizeof(DWORD) + 8 * sizeof(SSLPROTOCOL)];
    SSLPROTOCOLS *p = (SSLPROTOCOLS *)buf;
    DWORD cb = 0;
    int rc, i;
    SOCKET s = socket(AF_INET, SOCK_STREAM, 0);

    make_secure(s);
    memset(buf, 0, sizeof buf);
    p->dwCount = (DWORD)n;
    for (i = 0; i < n; i++)
        p->ProtocolList[i].dwProtocol = list[i];
    WSASetLastError(0);
    rc = WSAIoctl(s, SO_SSL_SET_PROTOCOLS, p, (DWORD)(sizeof(DWORD) + n * sizeof(SSLPROTOCOL)), NULL,
                  0, NULL, NULL, NULL);
    *wsa = WSAGetLastError();
    memset(buf, 0, sizeof buf);
    *ngot = -1;
    if (WSAIoctl(s, SO_SSL_GET_PROTOCOLS, NULL, 0, buf, sizeof buf, &cb, NULL, NULL) == 0) {
        *ngot = (int)p->dwCount;
        for (i = 0; i < *ngot && i < 8; i++)
            got[i] = p->ProtocolList[i].dwProtocol;
    }
    closesocket(s);
    return rc;
}

static void protocols(int p13, int p12)
{
    static const DWORD tls1[] = {SSL_PROTOCOL_TLS1};
    static const DWORD only12[] = {SSLSOCK_PROTOCOL_TLS1_2};
    static const DWORD only13[] = {SSLSOCK_PROTOCOL_TLS1_3};
    static const DWORD ssl3[] = {SSL_PROTOCOL_SSL3};
    static const DWORD obsolete[] = {SSL_PROTOCOL_PCT1, SSL_PROTOCOL_SSL2, SSL_PROTOCOL_SSL3};
    static const DWORD mixed[] = {SSL_PROTOCOL_SSL3, SSL_PROTOCOL_TLS1};
    static const DWORD both[] = {SSLSOCK_PROTOCOL_TLS1_2, SSLSOCK_PROTOCOL_TLS1_3};
    struct conn c;
    DWORD got[8];
    int ngot, wsa, rc;

    rc = set_get_protocols(ssl3, 1, &wsa, got, &ngot);
    CHECK(rc == SOCKET_ERROR && wsa == WSAEINVAL,
          "SET_PROTOCOLS {SSL_PROTOCOL_SSL3}: WSAEINVAL (rc %d, WSA %d)", rc, wsa);
    rc = set_get_protocols(obsolete, 3, &wsa, got, &ngot);
    CHECK(rc == SOCKET_ERROR && wsa == WSAEINVAL,
          "SET_PROTOCOLS {PCT1, SSL2, SSL3}: WSAEINVAL (rc %d, WSA %d)", rc, wsa);
    rc = set_get_protocols(tls1, 1, &wsa, got, &ngot);
    CHECK(rc == 0 && ngot == 1 && got[0] == SSL_PROTOCOL_TLS1,
          "SET_PROTOCOLS {SSL_PROTOCOL_TLS1}: 0, GET gives {SSL_PROTOCOL_TLS1} (rc %d, WSA %d, "
          "%d entries, first %u)",
          rc, wsa, ngot, ngot > 0 ? (unsigned)got[0] : 0u);
    rc = set_get_protocols(mixed, 2, &wsa, got, &ngot);
    CHECK(rc == 0 && ngot == 1 && got[0] == SSL_PROTOCOL_TLS1,
          "SET_PROTOCOLS {SSL3, TLS1}: SSL3 ignored, GET gives {SSL_PROTOCOL_TLS1} (rc %d, WSA "
          "%d, %d entries, first %u)",
          rc, wsa, ngot, ngot > 0 ? (unsigned)got[0] : 0u);
    rc = set_get_protocols(only12, 1, &wsa, got, &ngot);
    CHECK(rc == 0 && ngot == 1 && got[0] == SSLSOCK_PROTOCOL_TLS1_2,
          "SET_PROTOCOLS {SSLSOCK_PROTOCOL_TLS1_2}: GET gives it back (rc %d, %d entries, first "
          "0x%x)",
          rc, ngot, ngot > 0 ? (unsigned)got[0] : 0u);
    rc = set_get_protocols(only13, 1, &wsa, got, &ngot);
    CHECK(rc == 0 && ngot == 1 && got[0] == SSLSOCK_PROTOCOL_TLS1_3,
          "SET_PROTOCOLS {SSLSOCK_PROTOCOL_TLS1_3}: GET gives it back (rc %d, %d entries, first "
          "0x%x)",
          rc, ngot, ngot > 0 ? (unsigned)got[0] : 0u);

    /* On the wire (strict hook: no resumption involved). */
    connect_www(p13, HOOK_STRICT, "localhost", tls1, 1, &c);
    CHECK(c.rc == 0 && c.protocol == SSL_PROT_TLS1_3_CLIENT,
          "{SSL_PROTOCOL_TLS1} to a TLS 1.3-only server: TLS 1.3 (rc %d, dwProtocol 0x%x) %s",
          c.rc, (unsigned)c.protocol, c.reason);
    connect_www(p12, HOOK_STRICT, "localhost", tls1, 1, &c);
    CHECK(c.rc == 0 && c.protocol == SSL_PROT_TLS1_2_CLIENT,
          "{SSL_PROTOCOL_TLS1} to a TLS 1.2-only server: TLS 1.2 (rc %d, dwProtocol 0x%x) %s",
          c.rc, (unsigned)c.protocol, c.reason);
    connect_www(p12, HOOK_STRICT, "localhost", both, 2, &c);
    CHECK(c.rc == 0 && c.protocol == SSL_PROT_TLS1_2_CLIENT,
          "{TLS1_2, TLS1_3} to a TLS 1.2-only server: TLS 1.2 (rc %d, dwProtocol 0x%x) %s", c.rc,
          (unsigned)c.protocol, c.reason);
    connect_www(p12, HOOK_STRICT, "localhost", only12, 1, &c);
    CHECK(c.rc == 0 && c.protocol == SSL_PROT_TLS1_2_CLIENT,
          "{SSLSOCK_PROTOCOL_TLS1_2} to a TLS 1.2-only server: TLS 1.2 (rc %d, 0x%x) %s", c.rc,
          (unsigned)c.protocol, c.reason);
    connect_www(p13, HOOK_STRICT, "localhost", only13, 1, &c);
    CHECK(c.rc == 0 && c.protocol == SSL_PROT_TLS1_3_CLIENT,
          "{SSLSOCK_PROTOCOL_TLS1_3} to a TLS 1.3-only server: TLS 1.3 (rc %d, 0x%x) %s", c.rc,
          (unsigned)c.protocol, c.reason);
    connect_www(p13, HOOK_STRICT, "localhost", only12, 1, &c);
    CHECK(c.rc == SOCKET_ERROR && c.wsa == WSAECONNABORTED && c.rec.calls == 0,
          "{SSLSOCK_PROTOCOL_TLS1_2} to a TLS 1.3-only server: WSAECONNABORTED before any "
          "certificate (rc %d, WSA %d, hook calls %d)",
          c.rc, c.wsa, c.rec.calls);
    connect_www(p12, HOOK_STRICT, "localhost", only13, 1, &c);
    CHECK(c.rc == SOCKET_ERROR && c.wsa == WSAECONNABORTED && c.rec.calls == 0,
          "{SSLSOCK_PROTOCOL_TLS1_3} to a TLS 1.2-only server: WSAECONNABORTED before any "
          "certificate (rc %d, WSA %d, hook calls %d)",
          c.rc, c.wsa, c.rec.calls);
}

int main(void)
{
    WSADATA wsa;
    int r13, r12, r12sid, wn13, wn12, sl13, sl12;
    const char *na;

    start_watchdog(100);
    signal(SIGPIPE, SIG_IGN);
    WSAStartup(MAKEWORD(2, 2), &wsa);
    r13 = env_port("T_PORT_R13");
    r12 = env_port("T_PORT_R12");
    r12sid = env_port("T_PORT_R12_SID");
    wn13 = env_port("T_PORT_WN13");
    wn12 = env_port("T_PORT_WN12");
    sl13 = env_port("T_PORT_SL13");
    sl12 = env_port("T_PORT_SL12");
    na = getenv("T_SHORTLIVED_NOT_AFTER");
    g_not_after = na ? (time_t)atoll(na) : 0;
    if (!CHECK(g_not_after > 0, "T_SHORTLIVED_NOT_AFTER holds the shortlived certificate's not-after"))
        return finish();

    /* Sessions with the shortlived certificate first; the rest runs while it expires. */
    note("shortlived: %ld s before not-after", secs_left());
    shortlived_valid("shortlived TLS 1.3", sl13, SSL_PROT_TLS1_3_CLIENT);
    shortlived_valid("shortlived TLS 1.2 (session tickets)", sl12, SSL_PROT_TLS1_2_CLIENT);

    protocols(r13, r12);
    resumption("TLS 1.3 (PSK)", r13, SSL_PROT_TLS1_3_CLIENT);
    resumption("TLS 1.2 (session tickets)", r12, SSL_PROT_TLS1_2_CLIENT);
    resumption("TLS 1.2 (session ids, -no_ticket)", r12sid, SSL_PROT_TLS1_2_CLIENT);
    name_scope("wrongname TLS 1.3", wn13);
    name_scope("wrongname TLS 1.2", wn12);

    if (shortlived_wait()) {
        shortlived_expired("shortlived TLS 1.3", sl13);
        shortlived_expired("shortlived TLS 1.2 (session tickets)", sl12);
    }

    WSACleanup();
    return finish();
}
