/*
 * hostile.c - sslsock against a misbehaving TLS server (tests/servers/hostile_server.py,
 * T_PORT_HOSTILE; docs/testing.md "The hostile server").
 *
 * Each scenario is chosen by the client: in deferred mode by the plaintext line
 * "HOSTILE <scenario>" before SO_SSL_PERFORM_HANDSHAKE, in immediate mode by the SNI
 * "<scenario>.hostile.test" (SO_SSL_SET_PEERNAME; the server's certificate covers
 * *.hostile.test), and for a few on a non-blocking socket too. For each:
 *  - the call that meets the misbehaviour (connect, PERFORM_HANDSHAKE or recv) answers
 *    SOCKET_ERROR with the Winsock error of the scenario table below and a non-empty
 *    sslsock_last_error_reason() (or, where the contract says so, a clean 0);
 *  - every call returns within a bound (SO_RCVTIMEO, a 4-byte DWORD, is set on every socket
 *    as a safety net; the expected timeouts use 500 ms);
 *  - after a failure, send() of a marker fails, and the server (which checks every byte it
 *    receives: TLS records only, never the marker) reports no plaintext for this connection
 *    (its END line, found by our local port in T_HOSTILE_LOG);
 *  - resident memory grows little over the repetitions of a scenario (/proc/self/statm).
 * After a handshake the server sends "HELLO <scenario>" and "DATA line 1"; once we have read DATA
 * we send "GO", and only then does it misbehave (no timing guesses).
 * The truncation cases are run again in a child process with SSLSOCK_STRICT_EOF=1.
 */
#include <winsock2.h>
#include <sslsock.h>
#include "common.h"

#include <errno.h>
#include <poll.h>
#include <sys/wait.h>

#define SAFETY_RCVTIMEO 4000 /* ms: on every socket, so a hang shows as a wrong error */
#define STALL_RCVTIMEO 500
/* Upper time bounds are multiplied by T_TIME_SCALE (default 1; tests/asan.sh and tests/valgrind.sh
 * raise it: an instrumented library is several times slower, and a bound is about hanging, not speed). */
static long long g_time_scale = 1;
#define CALL_MAX_MS (2500 * g_time_scale)    /* bound on any call that is not an expected timeout */
#define TIMEOUT_MIN_MS 400
#define TIMEOUT_MAX_MS (2500 * g_time_scale)
/* A call on a non-blocking socket must not wait. A wait would last SAFETY_RCVTIMEO (4 s) or the rest
 * of the server's flood; the bound stays well below that, and well above a busy machine's hiccups. */
#define NONBLOCK_CALL_MS (g_time_scale > 1 ? 2000 : 1000)
#define REPS 3               /* each scenario and mode is run this many times (T_HOSTILE_REPS) */
#define RSS_GROWTH_KB 4096   /* allowed growth of resident memory over the REPS runs */
#define RSS_TOTAL_KB 16384   /* allowed growth over the whole program (after a warm-up) */
#define MARKER "SSLSOCK-MARKER plaintext that must never be on the wire\r\n"

enum mode { M_DEFERRED = 1, M_IMMEDIATE = 2, M_NONBLOCK = 4 };

struct scenario {
    const char *name;
    unsigned modes;       /* M_* set */
    int proto;            /* 0: TLS 1.2 and 1.3 offered; 12 or 13: that version only */
    int hook;             /* 1: a hook that accepts every certificate */
    int rcvtimeo;         /* 0: SAFETY_RCVTIMEO */
    int hs_err;           /* 0: the handshake succeeds; else its WSAE* code */
    const char *hs_why;   /* a word the failure's reason must contain (or NULL) */
    const char *lines[5]; /* after the handshake: the lines the server sends before misbehaving */
    int end_err;          /* then: 0 = recv returns 0 (end of data); else the recv's WSAE* code */
    const char *end_why;
    unsigned known;       /* KNOWN_*: a library bug seen here is reported, not failed (below) */
    int reps;             /* runs per mode; 0: REPS */
};

/* Library bugs this program found, all fixed in src/secure/socket.rs: the cases that met them are
 * marked, and a bug that comes back fails the run (T_HOSTILE_KNOWN_FAIL=0 turns such failures into
 * "# KNOWN-BUG" notes, for bisecting):
 *  B1: plaintext that arrived before a fatal record (alert, TLS error) in the same read is
 *      dropped: recv reports the error at once (src/secure/socket.rs, pull()).
 *  B2: a recv error for a truncated stream (FIN inside a record, or any FIN without close_notify
 *      under SSLSOCK_STRICT_EOF=1) does not fail the socket: a later send still goes out,
 *      encrypted (src/secure/socket.rs, unclean_end()).
 *  B3: records that carry no application data (here TLS 1.3 NewSessionTickets without pause) keep
 *      recv busy past SO_RCVTIMEO, and a non-blocking recv past "at once", for as long as they
 *      come (src/secure/socket.rs, recv(): a pull that made no plaintext loops without looking at
 *      the deadline). */
#define KNOWN_B1 1u
#define KNOWN_B2 2u
#define KNOWN_B3 4u

#define BOTH (M_DEFERRED | M_IMMEDIATE)
#define HELLO_DATA(n) {"HELLO " n, "DATA line 1"}

static const struct scenario scenarios[] = {
    /* 1. garbage instead of a ServerHello */
    {"garbage-random", BOTH | M_NONBLOCK, 0, 0, 0, WSAECONNABORTED, "corrupt", {0}, 0, 0},
    {"garbage-http", BOTH, 0, 0, 0, WSAECONNABORTED, "corrupt", {0}, 0, 0},
    {"garbage-record", BOTH, 0, 0, 0, WSAECONNABORTED, "corrupt", {0}, 0, 0},
    {"alert-hs", BOTH | M_NONBLOCK, 0, 0, 0, WSAECONNABORTED, "HandshakeFailure", {0}, 0, 0},
    /* 2. a handshake that stalls (closesocket from another thread: stall_close()) */
    {"stall", BOTH, 0, 0, STALL_RCVTIMEO, WSAETIMEDOUT, "timed out", {0}, 0, 0},
    {"drip-hs", BOTH, 0, 0, STALL_RCVTIMEO, WSAETIMEDOUT, "timed out", {0}, 0, 0},
    {"eof-hs", BOTH, 0, 0, 0, WSAECONNABORTED, "closed", {0}, 0, 0},
    /* 3. records larger than allowed, in the handshake and after it */
    {"oversize-hs", BOTH, 0, 1, 0, WSAECONNABORTED, "excess", {0}, 0, 0},
    /* rustls takes TLS 1.2 plaintext records up to 2^14+2048 bytes (RFC 5246 says 2^14): the
     * handshake completes (the hook accepts the long chain, every signature is checked) */
    {"oversize-hs", M_DEFERRED, 12, 1, 0, 0, 0, {"HELLO oversize-hs"}, 0, 0},
    {"oversize-hs-wire", BOTH, 0, 1, 0, WSAECONNABORTED, "MessageTooLarge", {0}, 0, 0},
    {"oversize-hs-wire", M_DEFERRED, 12, 1, 0, WSAECONNABORTED, "MessageTooLarge", {0}, 0, 0},
    {"oversize-hs-max", BOTH | M_NONBLOCK, 0, 0, 0, WSAECONNABORTED, "MessageTooLarge", {0}, 0, 0},
    {"oversize-app", BOTH, 0, 0, 0, 0, 0, HELLO_DATA("oversize-app"), WSAECONNABORTED, "excess"},
    {"oversize-app", M_DEFERRED, 12, 0, 0, 0, 0, HELLO_DATA("oversize-app"), WSAECONNABORTED, "excess"},
    {"oversize-app-header", BOTH, 0, 0, 0, 0, 0, HELLO_DATA("oversize-app-header"), WSAECONNABORTED,
     "MessageTooLarge"},
    {"drip-app", M_DEFERRED, 0, 0, STALL_RCVTIMEO, 0, 0, HELLO_DATA("drip-app"), WSAETIMEDOUT,
     "timed out"},
    {"flood-tickets", M_DEFERRED, 13, 0, STALL_RCVTIMEO, 0, 0, HELLO_DATA("flood-tickets"),
     WSAETIMEDOUT, "timed out", KNOWN_B3, 1},
    /* 4. truncation without close_notify (and the well-behaved control) */
    {"close-notify", BOTH, 0, 0, 0, 0, 0, HELLO_DATA("close-notify"), 0, 0},
    {"truncate", BOTH, 0, 0, 0, 0, 0, HELLO_DATA("truncate"), 0, 0},
    {"truncate", M_DEFERRED, 12, 0, 0, 0, 0, HELLO_DATA("truncate"), 0, 0},
    {"truncate-mid-record", BOTH, 0, 0, 0, 0, 0, HELLO_DATA("truncate-mid-record"), WSAECONNRESET,
     "middle of a TLS record", KNOWN_B2},
    {"truncate-mid-record", M_DEFERRED, 12, 0, 0, 0, 0, HELLO_DATA("truncate-mid-record"),
     WSAECONNRESET, "middle of a TLS record", KNOWN_B2},
    {"truncate-mid-header", BOTH, 0, 0, 0, 0, 0, HELLO_DATA("truncate-mid-header"), WSAECONNRESET,
     "middle of a TLS record", KNOWN_B2},
    /* 5. a fatal alert mid-stream */
    {"alert-fatal", BOTH, 0, 0, 0, 0, 0, HELLO_DATA("alert-fatal"), WSAECONNABORTED, "InternalError"},
    {"alert-fatal", M_DEFERRED, 12, 0, 0, 0, 0, HELLO_DATA("alert-fatal"), WSAECONNABORTED,
     "InternalError"},
    {"alert-fatal-same-write", BOTH, 0, 0, 0, 0, 0, HELLO_DATA("alert-fatal-same-write"),
     WSAECONNABORTED, "InternalError", KNOWN_B1},
    {"alert-fatal-same-write", M_DEFERRED, 12, 0, 0, 0, 0, HELLO_DATA("alert-fatal-same-write"),
     WSAECONNABORTED, "InternalError", KNOWN_B1},
    {"alert-plaintext", BOTH, 0, 0, 0, 0, 0, HELLO_DATA("alert-plaintext"), WSAECONNABORTED,
     "cannot decrypt"},
    /* 6. renegotiation: TLS 1.2 refuses the first HelloRequest with a warning no_renegotiation
     * alert (rustls) and goes on; a second one is fatal; in TLS 1.3 any is fatal. */
    {"reneg", BOTH, 12, 0, 0, 0, 0, {"HELLO reneg", "DATA line 1", "RENEG alert-1-100", "DATA after"},
     0, 0},
    {"reneg-twice", BOTH, 12, 0, 0, 0, 0, HELLO_DATA("reneg-twice"), WSAECONNABORTED,
     "TooManyRenegotiationRequests"},
    {"reneg", M_DEFERRED, 13, 0, 0, 0, 0, HELLO_DATA("reneg"), WSAECONNABORTED, "HelloRequest"},
    /* 7. a chain of 100 certificates: refused without a hook; a hook may accept it (CE) */
    {"cert-chain-100", BOTH, 0, 0, 0, WSAECONNABORTED, "refused", {0}, 0, 0},
    {"cert-chain-100", BOTH, 0, 1, 0, 0, 0, {"HELLO cert-chain-100"}, 0, 0},
    {"cert-chain-100", M_DEFERRED, 12, 1, 0, 0, 0, {"HELLO cert-chain-100"}, 0, 0},
    /* 8. a 1 MiB certificate; a Certificate message claiming a huge length */
    {"cert-1mib", BOTH | M_NONBLOCK, 0, 1, 0, WSAECONNABORTED, "HandshakePayloadTooLarge", {0}, 0, 0},
    {"cert-1mib", M_DEFERRED, 12, 1, 0, WSAECONNABORTED, "HandshakePayloadTooLarge", {0}, 0, 0},
    {"cert-huge-length", BOTH, 0, 1, 0, WSAECONNABORTED, "HandshakePayloadTooLarge", {0}, 0, 0},
    {"cert-huge-length", M_DEFERRED, 12, 1, 0, WSAECONNABORTED, "HandshakePayloadTooLarge", {0}, 0, 0},
    {"cert-list-overflow", BOTH, 0, 1, 0, WSAECONNABORTED, "CertificatePayloadTooLarge", {0}, 0, 0},
    {"cert-list-overflow", M_DEFERRED, 12, 1, 0, WSAECONNABORTED, "CertificatePayloadTooLarge", {0},
     0, 0},
    /* 9. a reset (SO_LINGER 0) in the middle of a record, and during the handshake */
    {"reset-mid-record", BOTH, 0, 0, 0, 0, 0, HELLO_DATA("reset-mid-record"), WSAECONNRESET, "reset"},
    {"reset-mid-record", M_DEFERRED, 12, 0, 0, 0, 0, HELLO_DATA("reset-mid-record"), WSAECONNRESET,
     "reset"},
    {"reset-hs", BOTH, 0, 0, 0, WSAECONNABORTED, "reset", {0}, 0, 0},
};

/* The truncation cases again, in a child with SSLSOCK_STRICT_EOF=1: always an error. */
static const struct scenario strict_scenarios[] = {
    {"close-notify", BOTH, 0, 0, 0, 0, 0, HELLO_DATA("close-notify"), 0, 0},
    {"truncate", BOTH, 0, 0, 0, 0, 0, HELLO_DATA("truncate"), WSAECONNABORTED, "STRICT_EOF",
     KNOWN_B2},
    {"truncate", M_DEFERRED, 12, 0, 0, 0, 0, HELLO_DATA("truncate"), WSAECONNABORTED, "STRICT_EOF",
     KNOWN_B2},
    {"truncate-mid-record", BOTH, 0, 0, 0, 0, 0, HELLO_DATA("truncate-mid-record"), WSAECONNRESET,
     "middle of a TLS record", KNOWN_B2},
};

static int g_port;
static int g_reps = REPS;
static int g_known_fail; /* 1 unless T_HOSTILE_KNOWN_FAIL=0 */
static int g_known_seen;
static int g_quiet; /* repetitions after the first print failures only */
static char g_prefix[32] = "";

/* A check that, in quiet mode, prints only when it fails. */
static int hcheck(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int hcheck(int ok, const char *fmt, ...)
{
    char what[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (ok && g_quiet)
        return 1;
    return CHECK(ok, "%s%s", g_prefix, what);
}

/* A known bug (KNOWN_*) met: a note, or a failure (the default; a note under T_HOSTILE_KNOWN_FAIL=0). */
static void known_bug(const char *bug, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void known_bug(const char *bug, const char *fmt, ...)
{
    char what[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    g_known_seen++;
    if (g_known_fail)
        CHECK(0, "%s%s (known bug %s)", g_prefix, what, bug);
    else if (!g_quiet)
        note("KNOWN-BUG %s: %s%s", bug, g_prefix, what);
}

static long rss_kb(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return 0;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
        resident = 0;
    fclose(f);
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static int local_port(SOCKET s)
{
    SOCKADDR_IN sa;
    socklen_t len = sizeof sa;
    if (getsockname(s, (struct sockaddr *)&sa, &len) != 0)
        return 0;
    return ntohs(sa.sin_port);
}

/* The server's END line for the connection from our local port: 1 if it says leak=no, 0 if
 * leak=yes or a PLAINTEXT-LEAK line exists for it, -1 if it did not come within 15 s. */
static int server_verdict(int port, char *how, size_t cap)
{
    const char *path = getenv("T_HOSTILE_LOG");
    char needle[64], line[512];
    /* Generous: the server (one Python process) may still be flooding another connection, and a
     * busy machine slows it down; the usual answer comes within milliseconds. */
    long long until = now_ms() + 15000;
    snprintf(needle, sizeof needle, "127.0.0.1:%d ", port);
    how[0] = 0;
    if (!path)
        return -1;
    for (;;) {
        FILE *f = fopen(path, "r");
        int leak = 0, end = 0;
        if (f) {
            while (fgets(line, sizeof line, f)) {
                if (!strstr(line, needle))
                    continue;
                if (strncmp(line, "PLAINTEXT-LEAK ", 15) == 0)
                    leak = 1;
                if (strncmp(line, "END ", 4) == 0) {
                    end = 1;
                    if (strstr(line, "leak=yes"))
                        leak = 1;
                    line[strcspn(line, "\n")] = 0;
                    snprintf(how, cap, "%s", line + 4 + strlen(needle));
                }
            }
            fclose(f);
        }
        if (end || leak)
            return leak ? 0 : 1;
        if (now_ms() > until)
            return -1;
        usleep(20 * 1000);
    }
}

static int set_rcvtimeo(SOCKET s, DWORD ms)
{
    return setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, (const char *)&ms, sizeof ms);
}

static int set_protocol(SOCKET s, int proto)
{
    SSLPROTOCOLS p;
    p.dwCount = 1;
    p.ProtocolList[0].dwProtocol = proto == 12 ? SSLSOCK_PROTOCOL_TLS1_2 : SSLSOCK_PROTOCOL_TLS1_3;
    p.ProtocolList[0].dwVersion = 0;
    p.ProtocolList[0].dwFlags = 0;
    return WSAIoctl(s, SO_SSL_SET_PROTOCOLS, &p, sizeof p, NULL, 0, NULL, NULL, NULL);
}

/* Buffered line reading with every recv timed. */
struct reader {
    SOCKET s;
    char buf[66000];
    int len;
    long long max_ms; /* longest recv */
    int last_rc, last_err;
    char last_reason[512];
};

/* 1 and the line in out; 0 when recv returned 0 first; -1 when it failed. */
static int next_line(struct reader *r, char *out, size_t cap)
{
    for (;;) {
        char *nl = memchr(r->buf, '\n', (size_t)r->len);
        long long t0, dt;
        int n;
        if (nl) {
            size_t k = (size_t)(nl - r->buf);
            size_t c = k > 0 && r->buf[k - 1] == '\r' ? k - 1 : k;
            if (c >= cap)
                c = cap - 1;
            memcpy(out, r->buf, c);
            out[c] = 0;
            memmove(r->buf, nl + 1, (size_t)r->len - k - 1);
            r->len -= (int)k + 1;
            return 1;
        }
        if (r->len >= (int)sizeof r->buf - 1)
            return -1;
        WSASetLastError(0);
        t0 = now_ms();
        n = (int)recv(r->s, r->buf + r->len, sizeof r->buf - 1 - (size_t)r->len, 0);
        dt = now_ms() - t0;
        if (dt > r->max_ms)
            r->max_ms = dt;
        r->last_rc = n;
        r->last_err = n == SOCKET_ERROR ? WSAGetLastError() : 0;
        snprintf(r->last_reason, sizeof r->last_reason, "%s",
                 n == SOCKET_ERROR ? sslsock_last_error_reason() : "");
        if (n == 0)
            return 0;
        if (n < 0)
            return -1;
        r->len += n;
    }
}

static const char *mode_name(enum mode m)
{
    return m == M_DEFERRED ? "deferred" : m == M_IMMEDIATE ? "immediate" : "non-blocking";
}

/* Drives a non-blocking immediate connect by sending the marker until the handshake ends: every
 * send must fail (WSAEWOULDBLOCK while the handshake runs, then its error) and none may wait.
 * Returns the final error, 0 if a send succeeded. */
static int nonblocking_handshake(SOCKET s, const char *what, long long *max_ms)
{
    long long until = now_ms() + 4000;
    int err = WSAEWOULDBLOCK;
    for (;;) {
        long long t0 = now_ms(), dt;
        int n;
        struct pollfd p;
        WSASetLastError(0);
        n = (int)send(s, MARKER, sizeof MARKER - 1, 0);
        dt = now_ms() - t0;
        if (dt > *max_ms)
            *max_ms = dt;
        if (n != SOCKET_ERROR) {
            hcheck(0, "%s: send of the marker during the handshake fails (it returned %d)", what, n);
            return 0;
        }
        err = WSAGetLastError();
        if (err != WSAEWOULDBLOCK || now_ms() > until)
            return err;
        p.fd = s;
        p.events = POLLIN | POLLOUT;
        p.revents = 0;
        poll(&p, 1, 100);
    }
}

static struct hook_record g_hook;

/* One run of a scenario in one mode. */
static void run_once(const struct scenario *sc, enum mode mode)
{
    char what[160], line[512], reason[512], how[160];
    SOCKET s;
    SOCKADDR_IN sa;
    DWORD rcvtimeo = (DWORD)(sc->rcvtimeo ? sc->rcvtimeo : SAFETY_RCVTIMEO);
    int rc, err, port, v, i, r, failed;
    long long t0, dt, bound;
    static struct reader rd;

    snprintf(what, sizeof what, "%s [%s%s]", sc->name, mode_name(mode),
             sc->proto == 12 ? ", TLS 1.2" : sc->proto == 13 ? ", TLS 1.3" : "");
    s = socket(AF_INET, SOCK_STREAM, 0);
    if (!hcheck(s != INVALID_SOCKET && make_secure(s) == 0, "%s: secure socket", what))
        return;
    hcheck(set_rcvtimeo(s, rcvtimeo) == 0, "%s: SO_RCVTIMEO %u ms (DWORD)", what, (unsigned)rcvtimeo);
    if (sc->proto)
        hcheck(set_protocol(s, sc->proto) == 0, "%s: SET_PROTOCOLS TLS 1.%d", what, sc->proto - 10);
    hook_reset(&g_hook, SSL_ERR_OKAY);
    if (sc->hook)
        hcheck(set_hook(s, record_hook, &g_hook) == 0, "%s: accept-all hook set", what);
    connect_addr(&sa, g_port);

    if (mode == M_DEFERRED) {
        DWORD flags = SSL_FLAG_DEFER_HANDSHAKE;
        char sel[128], want[128];
        hcheck(WSAIoctl(s, SO_SSL_SET_FLAGS, &flags, sizeof flags, NULL, 0, NULL, NULL, NULL) == 0,
               "%s: SET_FLAGS(DEFER)", what);
        if (!hcheck(connect(s, (SOCKADDR *)&sa, sizeof sa) == 0, "%s: plaintext connect", what)) {
            closesocket(s);
            return;
        }
        snprintf(sel, sizeof sel, "HOSTILE %s\r\n", sc->name);
        snprintf(want, sizeof want, "OK %s", sc->name);
        if (!hcheck(send_str(s, sel) == 0 && recv_line(s, line, sizeof line) >= 0 &&
                        strcmp(line, want) == 0,
                    "%s: the server takes the selector in plaintext", what)) {
            closesocket(s);
            return;
        }
        WSASetLastError(0);
        t0 = now_ms();
        rc = WSAIoctl(s, SO_SSL_PERFORM_HANDSHAKE, NULL, 0, NULL, 0, NULL, NULL, NULL);
        dt = now_ms() - t0;
        err = rc == 0 ? 0 : WSAGetLastError();
    } else {
        char sni[128];
        snprintf(sni, sizeof sni, "%s.hostile.test", sc->name);
        hcheck(WSAIoctl(s, SO_SSL_SET_PEERNAME, sni, (DWORD)strlen(sni) + 1, NULL, 0, NULL, NULL,
                        NULL) == 0,
               "%s: SET_PEERNAME %s", what, sni);
        if (mode == M_NONBLOCK) {
            u_long on = 1;
            long long max_ms = 0;
            hcheck(ioctlsocket(s, FIONBIO, &on) == 0, "%s: FIONBIO", what);
            WSASetLastError(0);
            t0 = now_ms();
            rc = connect(s, (SOCKADDR *)&sa, sizeof sa);
            dt = now_ms() - t0;
            hcheck(rc == SOCKET_ERROR && WSAGetLastError() == WSAEWOULDBLOCK && dt < NONBLOCK_CALL_MS,
                   "%s: connect answers WSAEWOULDBLOCK at once (rc %d, WSA %d, %lld ms)", what, rc,
                   WSAGetLastError(), dt);
            t0 = now_ms();
            err = nonblocking_handshake(s, what, &max_ms);
            rc = err ? SOCKET_ERROR : 0;
            hcheck(max_ms < NONBLOCK_CALL_MS, "%s: no call waits (longest %lld ms)", what, max_ms);
            dt = now_ms() - t0;
        } else {
            WSASetLastError(0);
            t0 = now_ms();
            rc = connect(s, (SOCKADDR *)&sa, sizeof sa);
            dt = now_ms() - t0;
            err = rc == 0 ? 0 : WSAGetLastError();
        }
    }
    snprintf(reason, sizeof reason, "%s", rc == 0 ? "" : sslsock_last_error_reason());
    port = local_port(s);
    failed = 0;

    if (sc->hs_err) {
        bound = sc->hs_err == WSAETIMEDOUT ? TIMEOUT_MAX_MS : CALL_MAX_MS;
        hcheck(rc == SOCKET_ERROR && err == sc->hs_err,
               "%s: the handshake fails with WSA error %d (rc %d, got %d: %s)", what, sc->hs_err, rc,
               err, reason);
        hcheck(reason[0] != 0 && (!sc->hs_why || strstr(reason, sc->hs_why)),
               "%s: the reason is given%s%s%s (\"%s\")", what, sc->hs_why ? " and says '" : "",
               sc->hs_why ? sc->hs_why : "", sc->hs_why ? "'" : "", reason);
        hcheck(dt < bound && (sc->hs_err != WSAETIMEDOUT || dt >= TIMEOUT_MIN_MS),
               "%s: the handshake call ends in %s%lld ms (took %lld ms)",
               what, sc->hs_err == WSAETIMEDOUT ? "about the timeout, < " : "< ", bound, dt);
        failed = 1;
    } else {
        if (!hcheck(rc == 0 && dt < CALL_MAX_MS, "%s: the handshake succeeds (rc %d, WSA %d, %lld ms: %s)",
                    what, rc, err, dt, reason)) {
            closesocket(s);
            return;
        }
        if (sc->hook)
            hcheck(g_hook.calls == 1 && g_hook.chainlen == 1 &&
                       g_hook.flags == SSL_CERT_FLAG_ISSUER_UNKNOWN,
                   "%s: the hook ran once with the leaf alone and ISSUER_UNKNOWN (calls %d, chain %u, "
                   "flags 0x%x)",
                   what, g_hook.calls, (unsigned)g_hook.chainlen, (unsigned)g_hook.flags);
        rd.s = s;
        rd.len = 0;
        rd.max_ms = 0;
        r = 1;
        for (i = 0; i < 5 && sc->lines[i]; i++) {
            r = next_line(&rd, line, sizeof line);
            if (r != 1)
                break;
            hcheck(strcmp(line, sc->lines[i]) == 0, "%s: line %d is '%s' (got '%s')", what, i + 1,
                   sc->lines[i], line);
            /* the server waits for this before it misbehaves (hostile_server.py: GO) */
            if (strcmp(line, "DATA line 1") == 0)
                (void)send_str(s, "GO\r\n");
        }
        if (r != 1 && (sc->known & KNOWN_B1) && r == -1 && rd.last_err == sc->end_err)
            known_bug("B1", "%s: line %d ('%s') and after, sent before the fatal record, were lost: "
                      "recv failed at once (WSA %d: %s)", what, i + 1, sc->lines[i], rd.last_err,
                      rd.last_reason);
        else if (r != 1)
            hcheck(0, "%s: line %d is '%s' (the stream ended first: recv %d, WSA %d: %s)", what, i + 1,
                   sc->lines[i], rd.last_rc, rd.last_err, rd.last_reason);
        if (r == 1)
            r = next_line(&rd, line, sizeof line);
        if (sc->end_err) {
            hcheck(r == -1 && rd.last_rc == SOCKET_ERROR && rd.last_err == sc->end_err,
                   "%s: then recv fails with WSA error %d (got %s, rc %d, WSA %d: %s)", what,
                   sc->end_err, r == 1 ? "a line" : r == 0 ? "end of data" : "an error", rd.last_rc,
                   rd.last_err, rd.last_reason);
            hcheck(rd.last_reason[0] != 0 && (!sc->end_why || strstr(rd.last_reason, sc->end_why)),
                   "%s: the reason is given and says '%s' (\"%s\")", what,
                   sc->end_why ? sc->end_why : "", rd.last_reason);
            failed = 1;
        } else {
            hcheck(r == 0, "%s: then recv returns 0, end of data (got %s, rc %d, WSA %d: %s)", what,
                   r == 1 ? "a line" : r == 0 ? "end of data" : "an error", rd.last_rc, rd.last_err,
                   rd.last_reason);
        }
        bound = sc->end_err == WSAETIMEDOUT ? TIMEOUT_MAX_MS : CALL_MAX_MS;
        if (sc->known & KNOWN_B3)
            /* The timeout plus a busy machine's slack; the server floods for 15 s, so a recv that
             * ignored SO_RCVTIMEO would still be caught (CALL_MAX_MS is 10 s under ASan). */
            bound = (long long)rcvtimeo + CALL_MAX_MS;
        if (rd.max_ms >= bound && (sc->known & KNOWN_B3))
            known_bug("B3", "%s: a recv took %lld ms (SO_RCVTIMEO %u ms) while the server sent "
                      "records without data", what, rd.max_ms, (unsigned)rcvtimeo);
        else
            hcheck(rd.max_ms < bound, "%s: every recv returns in < %lld ms (longest %lld ms)", what,
                   bound, rd.max_ms);
    }

    if (failed) {
        int n;
        char b[16];
        WSASetLastError(0);
        t0 = now_ms();
        n = (int)send(s, MARKER, sizeof MARKER - 1, 0);
        dt = now_ms() - t0;
        if (n != SOCKET_ERROR && (sc->known & KNOWN_B2))
            known_bug("B2", "%s: send after the recv error still sends (encrypted; rc %d)", what, n);
        else if (sc->end_err == WSAETIMEDOUT)
            hcheck(dt < CALL_MAX_MS, "%s: send after a recv timeout returns at once (rc %d, WSA %d: "
                   "the session is intact, what it sends is encrypted)", what, n, WSAGetLastError());
        else
            hcheck(n == SOCKET_ERROR && dt < CALL_MAX_MS,
                   "%s: send of the marker after the failure fails (rc %d, WSA %d, %lld ms)", what, n,
                   WSAGetLastError(), dt);
        if (sc->end_err != WSAETIMEDOUT) {
            WSASetLastError(0);
            n = (int)recv(s, b, sizeof b, 0);
            hcheck(n == SOCKET_ERROR, "%s: recv after the failure fails too (rc %d, WSA %d)", what, n,
                   WSAGetLastError());
        }
    }
    hcheck(closesocket(s) == 0, "%s: closesocket", what);
    v = server_verdict(port, how, sizeof how);
    hcheck(v == 1, "%s: the server saw no plaintext and no marker (%s)", what,
           v == 1 ? how : v == 0 ? "PLAINTEXT-LEAK" : "no END line within 15 s");
}

static void run_scenario(const struct scenario *sc)
{
    static const enum mode modes[] = {M_DEFERRED, M_IMMEDIATE, M_NONBLOCK};
    size_t m;
    int rep, reps = sc->reps ? sc->reps : g_reps;
    for (m = 0; m < sizeof modes / sizeof modes[0]; m++) {
        long before, after;
        long long t0 = now_ms();
        if (!(sc->modes & modes[m]))
            continue;
        before = rss_kb();
        for (rep = 0; rep < reps; rep++) {
            g_quiet = rep > 0;
            run_once(sc, modes[m]);
        }
        g_quiet = 0;
        after = rss_kb();
        CHECK(after - before < RSS_GROWTH_KB,
              "%s%s [%s%s]: resident memory grows < %d KiB over %d run(s) (%ld -> %ld KiB)", g_prefix,
              sc->name, mode_name(modes[m]),
              sc->proto == 12 ? ", TLS 1.2" : sc->proto == 13 ? ", TLS 1.3" : "", RSS_GROWTH_KB,
              reps, before, after);
        if (getenv("T_HOSTILE_TIMES"))
            note("%s [%s]: %lld ms", sc->name, mode_name(modes[m]), now_ms() - t0);
    }
}

/* ---- stall: closesocket from another thread ends the waiting handshake ---------------------- */

struct closer {
    SOCKET s;
    int delay_ms;
    int rc;
};

static void *close_later(void *p)
{
    struct closer *c = p;
    usleep((useconds_t)c->delay_ms * 1000);
    c->rc = closesocket(c->s);
    return NULL;
}

static void stall_close(enum mode mode)
{
    char what[96], line[128];
    struct closer c;
    pthread_t th;
    SOCKADDR_IN sa;
    SOCKET s = socket(AF_INET, SOCK_STREAM, 0);
    long long t0, dt;
    int rc, err;

    snprintf(what, sizeof what, "stall [%s, closesocket from another thread]", mode_name(mode));
    if (!CHECK(s != INVALID_SOCKET && make_secure(s) == 0, "%s: secure socket", what))
        return;
    connect_addr(&sa, g_port);
    if (mode == M_DEFERRED) {
        DWORD flags = SSL_FLAG_DEFER_HANDSHAKE;
        WSAIoctl(s, SO_SSL_SET_FLAGS, &flags, sizeof flags, NULL, 0, NULL, NULL, NULL);
        if (!CHECK(connect(s, (SOCKADDR *)&sa, sizeof sa) == 0 && send_str(s, "HOSTILE stall\r\n") == 0 &&
                       recv_line(s, line, sizeof line) >= 0 && strcmp(line, "OK stall") == 0,
                   "%s: selector", what)) {
            closesocket(s);
            return;
        }
    } else {
        static const char sni[] = "stall.hostile.test";
        WSAIoctl(s, SO_SSL_SET_PEERNAME, (LPVOID)sni, sizeof sni, NULL, 0, NULL, NULL, NULL);
    }
    c.s = s;
    c.delay_ms = 300;
    c.rc = -2;
    pthread_create(&th, NULL, close_later, &c);
    WSASetLastError(0);
    t0 = now_ms();
    if (mode == M_DEFERRED)
        rc = WSAIoctl(s, SO_SSL_PERFORM_HANDSHAKE, NULL, 0, NULL, 0, NULL, NULL, NULL);
    else
        rc = connect(s, (SOCKADDR *)&sa, sizeof sa);
    err = WSAGetLastError();
    dt = now_ms() - t0;
    pthread_join(th, NULL);
    CHECK(rc == SOCKET_ERROR && err == WSAEINTR, "%s: the handshake call fails with WSAEINTR (rc %d, WSA %d)",
          what, rc, err);
    CHECK(dt >= 250 && dt < 2300, "%s: it returns soon after the close (%lld ms, closed at 300 ms)", what, dt);
    CHECK(c.rc == 0, "%s: closesocket returned 0 (%d)", what, c.rc);
}

/* ---- flood-tickets on a non-blocking socket: every recv must return at once ------------------- */

static void flood_nonblocking(void)
{
    static const char what[] = "flood-tickets [deferred, TLS 1.3, non-blocking recv]";
    static struct reader rd;
    DWORD flags = SSL_FLAG_DEFER_HANDSHAKE;
    SOCKADDR_IN sa;
    SOCKET s = socket(AF_INET, SOCK_STREAM, 0);
    char line[256];
    u_long on = 1;
    long long until, longest = 0;
    int calls = 0, bad = 0;

    if (!CHECK(s != INVALID_SOCKET && make_secure(s) == 0 && set_protocol(s, 13) == 0 &&
                   set_rcvtimeo(s, SAFETY_RCVTIMEO) == 0 &&
                   WSAIoctl(s, SO_SSL_SET_FLAGS, &flags, sizeof flags, NULL, 0, NULL, NULL, NULL) == 0,
               "%s: secure socket, TLS 1.3, deferred", what))
        return;
    connect_addr(&sa, g_port);
    if (!CHECK(connect(s, (SOCKADDR *)&sa, sizeof sa) == 0 && send_str(s, "HOSTILE flood-tickets\r\n") == 0 &&
                   recv_line(s, line, sizeof line) >= 0 && strcmp(line, "OK flood-tickets") == 0 &&
                   WSAIoctl(s, SO_SSL_PERFORM_HANDSHAKE, NULL, 0, NULL, 0, NULL, NULL, NULL) == 0,
               "%s: selector and handshake", what)) {
        closesocket(s);
        return;
    }
    rd.s = s;
    rd.len = 0;
    rd.max_ms = 0;
    CHECK(next_line(&rd, line, sizeof line) == 1 && next_line(&rd, line, sizeof line) == 1 &&
              strcmp(line, "DATA line 1") == 0 && send_str(s, "GO\r\n") == 0,
          "%s: HELLO and DATA read, GO sent", what);
    CHECK(ioctlsocket(s, FIONBIO, &on) == 0, "%s: FIONBIO", what);
    until = now_ms() + 1000;
    while (now_ms() < until) {
        char b[256];
        long long t0 = now_ms(), dt;
        int n;
        WSASetLastError(0);
        n = (int)recv(s, b, sizeof b, 0);
        dt = now_ms() - t0;
        calls++;
        if (dt > longest)
            longest = dt;
        if (n != SOCKET_ERROR || WSAGetLastError() != WSAEWOULDBLOCK)
            bad++;
        usleep(10 * 1000);
    }
    CHECK(bad == 0, "%s: each of %d recv calls answers WSAEWOULDBLOCK (%d did not)", what, calls, bad);
    if (longest >= NONBLOCK_CALL_MS && !g_known_fail)
        known_bug("B3", "%s: a non-blocking recv took %lld ms while the server sent records without data",
                  what, longest);
    else
        CHECK(longest < NONBLOCK_CALL_MS, "%s: no recv waits (longest %lld ms)", what, longest);
    CHECK(closesocket(s) == 0, "%s: closesocket", what);
}

/* ---- the strict-EOF child ---------------------------------------------------------------------- */

static void run_strict_child(const char *self)
{
    pid_t pid;
    int status = 0;
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        setenv("SSLSOCK_STRICT_EOF", "1", 1);
        execl(self, self, "strict", (char *)NULL);
        _exit(127);
    }
    if (!CHECK(pid > 0, "fork of the SSLSOCK_STRICT_EOF=1 run"))
        return;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "the SSLSOCK_STRICT_EOF=1 run passed (exit status %d)", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

int main(int argc, char **argv)
{
    size_t i;
    long start_rss, end_rss;
    long long t0 = now_ms();
    int strict = argc > 1 && strcmp(argv[1], "strict") == 0;

    start_watchdog(strict ? 20 : 55);
    g_port = env_port("T_PORT_HOSTILE");
    if (getenv("T_TIME_SCALE") && atoi(getenv("T_TIME_SCALE")) > 1)
        g_time_scale = atoi(getenv("T_TIME_SCALE"));
    g_known_fail = !(getenv("T_HOSTILE_KNOWN_FAIL") && strcmp(getenv("T_HOSTILE_KNOWN_FAIL"), "0") == 0);
    if (getenv("T_HOSTILE_REPS") && atoi(getenv("T_HOSTILE_REPS")) > 0)
        g_reps = atoi(getenv("T_HOSTILE_REPS"));

    /* warm-up: the first handshakes build the shared configuration and trust anchors */
    g_quiet = 1;
    run_once(&scenarios[0], M_DEFERRED);
    run_once(&strict_scenarios[0], M_IMMEDIATE);
    g_quiet = 0;
    start_rss = rss_kb();

    if (strict) {
        snprintf(g_prefix, sizeof g_prefix, "strict-EOF: ");
        for (i = 0; i < sizeof strict_scenarios / sizeof strict_scenarios[0]; i++)
            run_scenario(&strict_scenarios[i]);
        if (g_known_seen)
            note("known library bugs met %d time(s) (KNOWN-BUG notes above)", g_known_seen);
        return finish();
    }

    for (i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++)
        run_scenario(&scenarios[i]);
    stall_close(M_IMMEDIATE);
    stall_close(M_DEFERRED);
    flood_nonblocking();

    end_rss = rss_kb();
    CHECK(end_rss - start_rss < RSS_TOTAL_KB,
          "resident memory over all scenarios grows < %d KiB (%ld -> %ld KiB)", RSS_TOTAL_KB, start_rss,
          end_rss);
    note("all scenarios in %lld ms", now_ms() - t0);
    if (g_known_seen)
        note("known library bugs met %d time(s) (KNOWN-BUG notes above)", g_known_seen);
    run_strict_child("/proc/self/exe");
    return finish();
}
