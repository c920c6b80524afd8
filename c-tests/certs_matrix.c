/*
 * certs_matrix.c - the certificate matrix: every test server certificate
 * against every way a CE client configures validation.
 *
 * Servers: good, wrong name, self-signed, expired, untrusted issuer, wildcard
 * (docs/testing.md).  Client modes, in immediate mode (handshake inside
 * connect):
 *   a  accept-all hook, no peer name
 *   b  accept-all hook, SET_PEERNAME "localhost" (0x9073000F and 0x5073000F,
 *      length with and without the NUL)
 *   c  strict hook (SSL_ERR_OKAY iff dwFlags == 0), peer name "localhost"
 *   d  no hook, peer name "localhost"
 *   e  no hook, no peer name
 * and in deferred mode through the STARTTLS server (good certificate only),
 * where the name given to SO_SSL_PERFORM_HANDSHAKE is the one checked.
 *
 * For each connection: the flags the hook received (docs/abi.md §2: ISSUER_UNKNOWN
 * for an untrusted chain, self-signed, expired, and for a name mismatch only
 * when a name was given), the hook's other arguments, the number of hook
 * calls, and the outcome (0, or SOCKET_ERROR + WSAECONNABORTED + ECONNABORTED
 * + a reason; a failed socket then fails send and recv too).
 */
#include <winsock2.h>
#include <sslsock.h>
#include "common.h"

#include <errno.h>

#define FLAG_BAD SSL_CERT_FLAG_ISSUER_UNKNOWN

/* The two codes seen for SO_SSL_SET_PEERNAME (docs/abi.md §1: accept both). */
#define PEERNAME_IOW ((DWORD)0x9073000F)
#define PEERNAME_IOR ((DWORD)0x5073000F)

struct server {
    const char *label;
    const char *env;
    const char *der_file;
    DWORD flags_noname;     /* expected dwFlags without a peer name */
    DWORD flags_localhost;  /* expected dwFlags with peer name "localhost" */
    int port;
    unsigned char *der;
    size_t derlen;
};

static struct server servers[] = {
    {"good", "T_PORT_HTTPS", "good.der", 0, 0, 0, NULL, 0},
    {"wrongname", "T_PORT_WRONGNAME", "wrongname.der", 0, FLAG_BAD, 0, NULL, 0},
    {"selfsigned", "T_PORT_SELFSIGNED", "selfsigned.der", FLAG_BAD, FLAG_BAD, 0, NULL, 0},
    {"expired", "T_PORT_EXPIRED", "expired.der", FLAG_BAD, FLAG_BAD, 0, NULL, 0},
    {"untrusted", "T_PORT_UNTRUSTED", "untrusted.der", FLAG_BAD, FLAG_BAD, 0, NULL, 0},
    {"wildcard", "T_PORT_WILDCARD", "wildcard.der", 0, FLAG_BAD, 0, NULL, 0},
};
#define NSERVERS ((int)(sizeof servers / sizeof servers[0]))

enum hook_kind { HOOK_NONE, HOOK_ACCEPT_ALL, HOOK_STRICT, HOOK_VERDICT };

/* One client configuration. */
struct mode {
    const char *label;
    enum hook_kind hook;
    int verdict;           /* HOOK_VERDICT: what the hook returns */
    const char *peername;  /* SET_PEERNAME before connect, NULL for none */
    DWORD peercode;        /* which SET_PEERNAME code */
    int with_nul;          /* cbIn = strlen + 1 (else strlen) */
};

/* Strict hook: records its arguments, accepts iff dwFlags == 0. */
static int CALLBACK strict_hook(DWORD dwType, LPVOID pvArg, DWORD dwChainLen,
                                LPBLOB pCertChain, DWORD dwFlags)
{
    struct hook_record *r = pvArg;
    hook_note(r, dwType, pvArg, dwChainLen, pCertChain, dwFlags);
    return dwFlags == 0 ? SSL_ERR_OKAY : SSL_ERR_CERT_UNKNOWN;
}

static void print_row(const char *server, const char *mode, const struct hook_record *rec,
                      int hooked, int rc, int wsa)
{
    char flags[32];
    if (hooked)
        snprintf(flags, sizeof flags, "0x%x (%d call%s)", (unsigned)rec->flags, rec->calls,
                 rec->calls == 1 ? "" : "s");
    else
        snprintf(flags, sizeof flags, "(no hook)");
    if (rc == 0)
        note("%-10s | %-44s | flags %-16s | accepted", server, mode, flags);
    else
        note("%-10s | %-44s | flags %-16s | refused, WSA %d", server, mode, flags, wsa);
}

/* After a failed handshake: send and recv on the socket must fail. */
static void check_dead_socket(SOCKET s, const char *what)
{
    char buf[64];
    int n;

    n = (int)send(s, "GET / HTTP/1.0\r\n\r\n", 18, 0);
    CHECK(n == SOCKET_ERROR, "%s: send after the failed handshake fails (got %d)", what, n);
    n = (int)recv(s, buf, sizeof buf, 0);
    CHECK(n == SOCKET_ERROR, "%s: recv after the failed handshake fails (got %d)", what, n);
}

/* Checks a failing call's error state, captured right after the call. */
static void check_abort(int rc, int wsa, int err, const char *reason, const char *call,
                        const char *what)
{
    CHECK(rc == SOCKET_ERROR, "%s: %s fails with SOCKET_ERROR (got %d)", what, call, rc);
    CHECK(wsa == WSAECONNABORTED, "%s: WSAGetLastError() == WSAECONNABORTED (got %d)", what, wsa);
    CHECK(err == ECONNABORTED, "%s: errno == ECONNABORTED (got %d %s)", what, err, strerror(err));
    CHECK(reason[0] != 0, "%s: sslsock_last_error_reason() is not empty (\"%s\")", what, reason);
}

/* s_server -WWW: a request for /index.html must come back as "HTTP/1.0 200". */
static void check_http_works(SOCKET s, const char *what)
{
    char line[256];
    int n;
    int sent = send_str(s, "GET /index.html HTTP/1.0\r\n\r\n");
    CHECK(sent == 0, "%s: send of an HTTP request after the handshake", what);
    n = recv_line(s, line, sizeof line);
    CHECK(n > 0 && strncmp(line, "HTTP/1.0 200", 12) == 0,
          "%s: the server answers over TLS (got %d \"%s\")", what, n, n >= 0 ? line : "");
}

/* One immediate-mode connection of mode m to server sv.  expect_flags is what the
 * hook must see; the outcome follows from the hook kind. */
static void run_immediate(const struct server *sv, const struct mode *m, DWORD expect_flags)
{
    struct hook_record rec;
    SOCKADDR_IN sa;
    char what[256];
    char reason[512];
    int rc, wsa, err, expect_ok;
    SOCKET s;

    snprintf(what, sizeof what, "%s/%s", sv->label, m->label);
    hook_reset(&rec, m->hook == HOOK_VERDICT ? m->verdict : SSL_ERR_OKAY);

    s = socket(AF_INET, SOCK_STREAM, 0);
    if (!CHECK(s != INVALID_SOCKET, "%s: socket", what))
        return;
    CHECK(make_secure(s) == 0, "%s: setsockopt SO_SECURE", what);
    if (m->hook == HOOK_ACCEPT_ALL || m->hook == HOOK_VERDICT)
        CHECK(set_hook(s, record_hook, &rec) == 0, "%s: SET_VALIDATE_CERT_HOOK", what);
    else if (m->hook == HOOK_STRICT)
        CHECK(set_hook(s, strict_hook, &rec) == 0, "%s: SET_VALIDATE_CERT_HOOK", what);
    if (m->peername) {
        DWORD len = (DWORD)strlen(m->peername) + (m->with_nul ? 1 : 0);
        DWORD cb = 0;
        int prc = WSAIoctl(s, m->peercode, (LPVOID)m->peername, len, NULL, 0, &cb, NULL, NULL);
        CHECK(prc == 0, "%s: SET_PEERNAME 0x%08X \"%s\" cbIn %u", what, (unsigned)m->peercode,
              m->peername, (unsigned)len);
    }

    connect_addr(&sa, sv->port);
    errno = 0;
    WSASetLastError(0);
    rc = connect(s, (const struct sockaddr *)&sa, sizeof sa);
    err = errno;
    wsa = WSAGetLastError();
    snprintf(reason, sizeof reason, "%s", sslsock_last_error_reason());

    switch (m->hook) {
    case HOOK_ACCEPT_ALL: expect_ok = 1; break;
    case HOOK_VERDICT: expect_ok = (m->verdict == SSL_ERR_OKAY); break;
    default: expect_ok = (expect_flags == 0); break;
    }

    print_row(sv->label, m->label, &rec, m->hook != HOOK_NONE, rc, wsa);
    if (m->hook != HOOK_NONE)
        check_hook(&rec, 1, expect_flags, &rec, sv->der, sv->derlen, what);

    if (expect_ok) {
        CHECK(rc == 0, "%s: connect returns 0 (got %d, WSA %d, reason \"%s\")", what, rc, wsa,
              reason);
        if (rc == 0)
            check_http_works(s, what);
    } else {
        check_abort(rc, wsa, err, reason, "connect", what);
        check_dead_socket(s, what);
    }
    closesocket(s);
}

/* ------------------------------------------------------------------ */
/* deferred mode against the STARTTLS server                           */

struct deferred {
    const char *label;
    enum hook_kind hook;
    int verdict;
    const char *peername;    /* SET_PEERNAME before connect, or NULL */
    const char *ph_name;     /* PERFORM_HANDSHAKE input, NULL = (NULL, 0) */
    int ph_with_nul;
    DWORD expect_flags;
};

static void run_deferred(int port, const unsigned char *der, size_t derlen,
                         const struct deferred *d)
{
    struct hook_record rec;
    SOCKADDR_IN sa;
    char what[256];
    char reason[512];
    char line[256];
    DWORD flags = SSL_FLAG_DEFER_HANDSHAKE;
    DWORD cb = 0;
    int rc, wsa, err, expect_ok, n;
    LPVOID in = NULL;
    DWORD cbin = 0;
    SOCKET s;

    snprintf(what, sizeof what, "starttls/%s", d->label);
    hook_reset(&rec, d->hook == HOOK_VERDICT ? d->verdict : SSL_ERR_OKAY);

    s = socket(AF_INET, SOCK_STREAM, 0);
    if (!CHECK(s != INVALID_SOCKET, "%s: socket", what))
        return;
    CHECK(make_secure(s) == 0, "%s: setsockopt SO_SECURE", what);
    if (d->hook == HOOK_ACCEPT_ALL || d->hook == HOOK_VERDICT)
        CHECK(set_hook(s, record_hook, &rec) == 0, "%s: SET_VALIDATE_CERT_HOOK", what);
    else if (d->hook == HOOK_STRICT)
        CHECK(set_hook(s, strict_hook, &rec) == 0, "%s: SET_VALIDATE_CERT_HOOK", what);
    if (d->peername)
        CHECK(WSAIoctl(s, SO_SSL_SET_PEERNAME, (LPVOID)d->peername,
                       (DWORD)strlen(d->peername) + 1, NULL, 0, NULL, NULL, NULL) == 0,
              "%s: SET_PEERNAME \"%s\"", what, d->peername);
    CHECK(WSAIoctl(s, SO_SSL_SET_FLAGS, &flags, sizeof flags, NULL, 0, NULL, NULL, NULL) == 0,
          "%s: SET_FLAGS(SSL_FLAG_DEFER_HANDSHAKE)", what);

    connect_addr(&sa, port);
    rc = connect(s, (const struct sockaddr *)&sa, sizeof sa);
    if (!CHECK(rc == 0, "%s: deferred connect (plain TCP) returns 0", what)) {
        closesocket(s);
        return;
    }
    CHECK(rec.calls == 0, "%s: no hook call before the handshake (got %d)", what, rec.calls);
    n = recv_line(s, line, sizeof line);
    CHECK(n > 0 && strncmp(line, "220", 3) == 0, "%s: plaintext greeting (got \"%s\")", what,
          n >= 0 ? line : "");
    CHECK(send_str(s, "STARTTLS\r\n") == 0, "%s: plaintext STARTTLS sent", what);
    n = recv_line(s, line, sizeof line);
    CHECK(n > 0 && strncmp(line, "220", 3) == 0, "%s: plaintext \"220 go ahead\" (got \"%s\")",
          what, n >= 0 ? line : "");

    if (d->ph_name) {
        in = (LPVOID)d->ph_name;
        cbin = (DWORD)strlen(d->ph_name) + (d->ph_with_nul ? 1 : 0);
    }
    errno = 0;
    WSASetLastError(0);
    rc = WSAIoctl(s, SO_SSL_PERFORM_HANDSHAKE, in, cbin, NULL, 0, &cb, NULL, NULL);
    err = errno;
    wsa = WSAGetLastError();
    snprintf(reason, sizeof reason, "%s", sslsock_last_error_reason());

    switch (d->hook) {
    case HOOK_ACCEPT_ALL: expect_ok = 1; break;
    case HOOK_VERDICT: expect_ok = (d->verdict == SSL_ERR_OKAY); break;
    default: expect_ok = (d->expect_flags == 0); break;
    }

    print_row("starttls", d->label, &rec, d->hook != HOOK_NONE, rc, wsa);
    if (d->hook != HOOK_NONE)
        check_hook(&rec, 1, d->expect_flags, &rec, der, derlen, what);

    if (expect_ok) {
        CHECK(rc == 0, "%s: PERFORM_HANDSHAKE returns 0 (got %d, WSA %d, reason \"%s\")", what,
              rc, wsa, reason);
        if (rc == 0) {
            CHECK(echo_roundtrip(s, "matrix"), "%s: ECHO over TLS", what);
            CHECK(send_str(s, "QUIT\r\n") == 0 && recv_line(s, line, sizeof line) > 0 &&
                      strcmp(line, "BYE") == 0,
                  "%s: QUIT -> BYE over TLS", what);
        }
    } else {
        check_abort(rc, wsa, err, reason, "PERFORM_HANDSHAKE", what);
        check_dead_socket(s, what);
    }
    closesocket(s);
}

int main(void)
{
    static const char *const peer_mode_labels[4] = {
        "b accept-all, peername 0x9073000F +NUL",
        "b accept-all, peername 0x9073000F no NUL",
        "b accept-all, peername 0x5073000F +NUL",
        "b accept-all, peername 0x5073000F no NUL",
    };
    int i, k;
    int starttls;
    unsigned char *good_der;
    size_t good_len;

    start_watchdog(55);
    signal(SIGPIPE, SIG_IGN);

    for (i = 0; i < NSERVERS; i++) {
        servers[i].port = env_port(servers[i].env);
        servers[i].der = read_pki(servers[i].der_file, &servers[i].derlen);
    }
    starttls = env_port("T_PORT_STARTTLS");
    good_der = servers[0].der;
    good_len = servers[0].derlen;

    note("server     | client mode                                  | hook flags             | outcome");

    for (i = 0; i < NSERVERS; i++) {
        const struct server *sv = &servers[i];
        struct mode m;

        /* a: accept-all hook, no peer name */
        memset(&m, 0, sizeof m);
        m.label = "a accept-all, no peername";
        m.hook = HOOK_ACCEPT_ALL;
        run_immediate(sv, &m, sv->flags_noname);

        /* b: accept-all hook, peer name "localhost", both codes, with and without NUL */
        for (k = 0; k < 4; k++) {
            memset(&m, 0, sizeof m);
            m.label = peer_mode_labels[k];
            m.hook = HOOK_ACCEPT_ALL;
            m.peername = "localhost";
            m.peercode = k < 2 ? PEERNAME_IOW : PEERNAME_IOR;
            m.with_nul = (k % 2 == 0);
            run_immediate(sv, &m, sv->flags_localhost);
        }

        /* c: strict hook, peer name */
        memset(&m, 0, sizeof m);
        m.label = "c strict hook, peername localhost";
        m.hook = HOOK_STRICT;
        m.peername = "localhost";
        m.peercode = SO_SSL_SET_PEERNAME;
        m.with_nul = 1;
        run_immediate(sv, &m, sv->flags_localhost);

        /* d: no hook, peer name */
        memset(&m, 0, sizeof m);
        m.label = "d no hook, peername localhost";
        m.hook = HOOK_NONE;
        m.peername = "localhost";
        m.peercode = SO_SSL_SET_PEERNAME;
        m.with_nul = 1;
        run_immediate(sv, &m, sv->flags_localhost);

        /* e: no hook, no peer name */
        memset(&m, 0, sizeof m);
        m.label = "e no hook, no peername";
        m.hook = HOOK_NONE;
        run_immediate(sv, &m, sv->flags_noname);
    }

    /* Names that do match the wrong-name and wildcard certificates, and one that does not. */
    {
        struct mode m;
        memset(&m, 0, sizeof m);
        m.hook = HOOK_STRICT;
        m.peercode = SO_SSL_SET_PEERNAME;
        m.with_nul = 1;

        m.label = "c strict hook, peername wrong.example";
        m.peername = "wrong.example";
        run_immediate(&servers[1], &m, 0);

        m.label = "c strict hook, peername a.localtest.example";
        m.peername = "a.localtest.example";
        run_immediate(&servers[5], &m, 0);

        m.label = "c strict hook, peername a.b.localtest.example";
        m.peername = "a.b.localtest.example";
        run_immediate(&servers[5], &m, FLAG_BAD);

        m.label = "c strict hook, peername 127.0.0.1 (IP SAN)";
        m.peername = "127.0.0.1";
        run_immediate(&servers[0], &m, 0);

        m.label = "c strict hook, peername wrong.example";
        m.peername = "wrong.example";
        run_immediate(&servers[0], &m, FLAG_BAD);
    }

    /* Only SSL_ERR_OKAY completes a handshake; SSL_ERR_OKAY accepts a bad chain. */
    {
        static const int refusals[] = {SSL_ERR_CERT_UNKNOWN, SSL_ERR_FAILED, SSL_ERR_CERT_EXPIRED,
                                       SSL_ERR_BAD_TYPE, 1, -1};
        static const char *const labels[] = {
            "hook returns SSL_ERR_CERT_UNKNOWN", "hook returns SSL_ERR_FAILED",
            "hook returns SSL_ERR_CERT_EXPIRED", "hook returns SSL_ERR_BAD_TYPE",
            "hook returns 1", "hook returns -1"};
        struct mode m;
        memset(&m, 0, sizeof m);
        m.hook = HOOK_VERDICT;
        m.peername = "localhost";
        m.peercode = SO_SSL_SET_PEERNAME;
        m.with_nul = 1;
        for (k = 0; k < (int)(sizeof refusals / sizeof refusals[0]); k++) {
            m.label = labels[k];
            m.verdict = refusals[k];
            run_immediate(&servers[0], &m, 0);
        }
        m.label = "hook returns SSL_ERR_OKAY";
        m.verdict = SSL_ERR_OKAY;
        run_immediate(&servers[3], &m, FLAG_BAD);
        m.peername = NULL;
        m.label = "hook returns SSL_ERR_OKAY, no peername";
        run_immediate(&servers[3], &m, FLAG_BAD);
    }

    /* Deferred mode: the name given to PERFORM_HANDSHAKE is the one checked. */
    {
        static const struct deferred cases[] = {
            {"strict, PH(\"localhost\", strlen+1)", HOOK_STRICT, 0, NULL, "localhost", 1, 0},
            {"strict, PH(\"localhost\", strlen)", HOOK_STRICT, 0, NULL, "localhost", 0, 0},
            {"strict, PH(\"wrong.example\", strlen+1)", HOOK_STRICT, 0, NULL, "wrong.example", 1,
             FLAG_BAD},
            {"strict, PH(\"wrong.example\", strlen)", HOOK_STRICT, 0, NULL, "wrong.example", 0,
             FLAG_BAD},
            {"accept-all, PH(\"wrong.example\")", HOOK_ACCEPT_ALL, 0, NULL, "wrong.example", 1,
             FLAG_BAD},
            {"strict, no peername, PH(NULL, 0)", HOOK_STRICT, 0, NULL, NULL, 0, 0},
            {"accept-all, no peername, PH(NULL, 0)", HOOK_ACCEPT_ALL, 0, NULL, NULL, 0, 0},
            {"strict, peername localhost, PH(NULL, 0)", HOOK_STRICT, 0, "localhost", NULL, 0, 0},
            {"strict, peername localhost, PH(\"wrong.example\")", HOOK_STRICT, 0, "localhost",
             "wrong.example", 1, FLAG_BAD},
            {"strict, peername wrong.example, PH(NULL, 0)", HOOK_STRICT, 0, "wrong.example", NULL,
             0, FLAG_BAD},
            {"no hook, PH(\"localhost\")", HOOK_NONE, 0, NULL, "localhost", 1, 0},
            {"no hook, no peername, PH(NULL, 0)", HOOK_NONE, 0, NULL, NULL, 0, 0},
            {"no hook, PH(\"wrong.example\")", HOOK_NONE, 0, NULL, "wrong.example", 1, FLAG_BAD},
            {"hook returns SSL_ERR_CERT_UNKNOWN, PH(\"localhost\")", HOOK_VERDICT,
             SSL_ERR_CERT_UNKNOWN, NULL, "localhost", 1, 0},
        };
        for (k = 0; k < (int)(sizeof cases / sizeof cases[0]); k++)
            run_deferred(starttls, good_der, good_len, &cases[k]);
    }

    for (i = 0; i < NSERVERS; i++)
        free(servers[i].der);
    return finish();
}
