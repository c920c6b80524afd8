/*
 * matrix.c - the certificate matrix of docs/certificates.md (make certmatrix).
 *
 *   matrix --groups          the SSLSOCK_CRL_FILE groups: "GROUP <name> <files|->"
 *   matrix --certs           the server certificates the cases need, one per line
 *   matrix GROUP PORTSFILE   runs the cases of GROUP (SSLSOCK_CRL_FILE must be set
 *                            as --groups says: the library reads it once per process)
 *
 * PORTSFILE lines: "<cert> <s_server port> <python port>".  For each case of the
 * group, each peer serving the case's certificate:
 *   s_server  openssl s_server -www, immediate mode, name by SO_SSL_SET_PEERNAME
 *   ssl       tests/servers/starttls_server.py (Python's ssl), immediate mode
 *             (the ClientHello's 0x16), name by SO_SSL_SET_PEERNAME
 *   starttls  the same Python server, deferred mode: plaintext STARTTLS, then
 *             SO_SSL_PERFORM_HANDSHAKE with the name (or NULL, 0)
 * and each client mode (accept-all hook / strict hook (SSL_ERR_OKAY iff dwFlags
 * == 0) / no hook) x (no peer name / the certificate's own name (one its SAN
 * covers; its CN when it has no SAN) / another name), one connection: the flags
 * the hook received and the outcome
 * (connected and data exchanged, or SOCKET_ERROR + WSAECONNABORTED).
 *
 * The expectations are written below, case by case, from the contract (README,
 * docs/api.md "The hook"): dwFlags = SSL_CERT_FLAG_ISSUER_UNKNOWN when the chain
 * does not lead to a trusted root (untrusted, self-signed, intermediate missing),
 * is expired or not yet valid, is revoked per SSLSOCK_CRL_FILE, or when a peer
 * name was given and the certificate is not for it (RFC 9525 matching: subject-
 * AltName only, "*" only as a whole left-most label standing for exactly one
 * label); else 0.  accept-all: connected; strict hook and no hook: connected iff
 * the flags are 0.  Nothing here is derived from what the library returns.
 *
 * Output: "ok - " / "not ok - " lines, and "# CASE" / "# CELL" lines (tab-
 * separated) from which tests/certmatrix/mktable.py writes the table.
 */
#include <winsock2.h>
#include <sslsock.h>
#include "common.h"

#include <errno.h>

#define IU SSL_CERT_FLAG_ISSUER_UNKNOWN

struct crl_group {
    const char *name;
    const char *files;     /* SSLSOCK_CRL_FILE, files in T_PKI separated by ':'; NULL = unset */
};

static const struct crl_group groups[] = {
    {"none", NULL},
    {"crl-pem", "crl.pem"},
    {"crl-der", "crl.der"},
    {"crl-both", "crl.pem:crl.der"},
    {"crl-old-first", "crl-old.pem:crl.der"},
};
#define NGROUPS ((int)(sizeof groups / sizeof groups[0]))

enum { NAME_NONE, NAME_OWN, NAME_OTHER, NNAMES };

struct mcase {
    const char *id;
    const char *group;     /* which crl_group runs it */
    const char *cert;      /* the server's certificate (T_PKI/<cert>.pem/.key/.der) */
    const char *what;      /* for the table */
    const char *name_own;  /* the certificate's own name: one its SAN covers (its CN if no SAN) */
    const char *name_other;/* another name, one no rule lets it cover */
    DWORD expect[NNAMES];  /* dwFlags expected: no name, name_own, name_other */
};

static const struct mcase cases[] = {
    {"good", "none", "good", "ECDSA P-256 leaf (DNS localhost, IP 127.0.0.1), test CA",
     "localhost", "wrong.example", {0, 0, IU}},
    {"rsa-2048", "none", "good-rsa", "RSA 2048 leaf, test CA", "localhost", "wrong.example",
     {0, 0, IU}},
    {"rsa-4096", "none", "rsa4096", "RSA 4096 leaf, test CA", "localhost", "wrong.example",
     {0, 0, IU}},
    {"ecdsa-p384", "none", "p384", "ECDSA P-384 leaf, test CA", "localhost", "wrong.example",
     {0, 0, IU}},
    {"ed25519", "none", "ed25519", "Ed25519 leaf, test CA", "localhost", "wrong.example",
     {0, 0, IU}},
    {"wrong-name", "none", "wrongname", "leaf for wrong.example only, test CA", "wrong.example",
     "localhost", {0, 0, IU}},
    {"wildcard", "none", "wildcard", "*.localtest.example, test CA", "a.localtest.example",
     "a.b.localtest.example", {0, 0, IU}},
    {"wildcard-sub", "none", "wildcard-sub", "*.sub.localtest.example, test CA",
     "x.sub.localtest.example", "sub.localtest.example", {0, 0, IU}},
    {"wildcard-partial", "none", "wildcard-partial",
     "w*.localtest.example (partial-label wildcard) + localtest.example, test CA",
     "localtest.example", "www.localtest.example", {0, 0, IU}},
    {"cn-only", "none", "cn-only", "CN=localhost and no subjectAltName, test CA",
     "localhost", "wrong.example", {0, IU, IU}},
    {"ip-only", "none", "ip-only", "SAN IP 127.0.0.1 only (no DNS name), test CA", "127.0.0.1",
     "localhost", {0, 0, IU}},
    {"self-signed", "none", "selfsigned", "self-signed leaf for localhost", "localhost",
     "wrong.example", {IU, IU, IU}},
    {"untrusted-root", "none", "untrusted", "leaf for localhost under a root nobody trusts",
     "localhost", "wrong.example", {IU, IU, IU}},
    {"expired", "none", "expired", "leaf for localhost, valid 2020-01-01 .. 2021-01-01",
     "localhost", "wrong.example", {IU, IU, IU}},
    {"not-yet-valid", "none", "notyet", "leaf for localhost, valid from now + 30 days",
     "localhost", "wrong.example", {IU, IU, IU}},
    {"intermediate-supplied", "none", "inter",
     "leaf <- intermediate <- test CA; the server sends the intermediate", "localhost",
     "wrong.example", {0, 0, IU}},
    {"intermediate-missing", "none", "inter-missing",
     "the same leaf; the server sends the leaf alone", "localhost", "wrong.example",
     {IU, IU, IU}},
    {"long-chain", "none", "longchain",
     "leaf <- 4 intermediates <- test CA; the server sends all 4", "localhost", "wrong.example",
     {0, 0, IU}},
    {"revoked, no CRL", "none", "revoked", "leaf listed in crl.pem; SSLSOCK_CRL_FILE unset",
     "localhost", "wrong.example", {0, 0, IU}},
    {"revoked, CRL PEM", "crl-pem", "revoked", "the same; SSLSOCK_CRL_FILE=crl.pem",
     "localhost", "wrong.example", {IU, IU, IU}},
    {"revoked, CRL DER", "crl-der", "revoked", "the same; SSLSOCK_CRL_FILE=crl.der",
     "localhost", "wrong.example", {IU, IU, IU}},
    {"revoked, PEM+DER", "crl-both", "revoked", "the same; SSLSOCK_CRL_FILE=crl.pem:crl.der",
     "localhost", "wrong.example", {IU, IU, IU}},
    {"revoked, older CRL first", "crl-old-first", "revoked",
     "the same; SSLSOCK_CRL_FILE=crl-old.pem:crl.der (an older CRL of the CA, not listing it, "
     "comes first)",
     "localhost", "wrong.example", {IU, IU, IU}},
    {"good, CRL", "crl-both", "good",
     "good leaf; SSLSOCK_CRL_FILE=crl.pem:crl.der (CRLs of its CA that do not list it)",
     "localhost", "wrong.example", {0, 0, IU}},
    {"intermediate, CRL", "crl-pem", "inter",
     "intermediate-supplied; SSLSOCK_CRL_FILE=crl.pem (the CA's CRL; the intermediate is not "
     "listed)",
     "localhost", "wrong.example", {0, 0, IU}},
    {"intermediate revoked", "crl-pem", "inter-revoked",
     "leaf <- intermediate listed in crl.pem <- test CA; SSLSOCK_CRL_FILE=crl.pem", "localhost",
     "wrong.example", {IU, IU, IU}},
};
#define NCASES ((int)(sizeof cases / sizeof cases[0]))

enum peer_kind { PEER_SSERVER, PEER_SSL, PEER_STARTTLS, NPEERS };
static const char *const peer_names[NPEERS] = {"s_server", "ssl", "starttls"};

enum hook_kind { HOOK_ACCEPT_ALL, HOOK_STRICT, HOOK_NONE, NHOOKS };
static const char *const hook_names[NHOOKS] = {"accept-all", "strict", "none"};
static const char *const name_modes[NNAMES] = {"no-name", "own-name", "other-name"};

/* Strict hook: records, SSL_ERR_OKAY iff dwFlags == 0. */
static int CALLBACK strict_hook(DWORD dwType, LPVOID pvArg, DWORD dwChainLen, LPBLOB pCertChain,
                                DWORD dwFlags)
{
    struct hook_record *r = pvArg;
    hook_note(r, dwType, pvArg, dwChainLen, pCertChain, dwFlags);
    return dwFlags == 0 ? SSL_ERR_OKAY : SSL_ERR_CERT_UNKNOWN;
}

/* ------------------------------------------------------------------ */

struct ports {
    char cert[64];
    int port[2]; /* s_server, python */
};
static struct ports g_ports[64];
static int g_nports;

static int load_ports(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[256];
    if (!f)
        return -1;
    while (g_nports < (int)(sizeof g_ports / sizeof g_ports[0]) && fgets(line, sizeof line, f)) {
        struct ports *p = &g_ports[g_nports];
        if (sscanf(line, "%63s %d %d", p->cert, &p->port[0], &p->port[1]) == 3)
            g_nports++;
    }
    fclose(f);
    return 0;
}

static int port_of(const char *cert, enum peer_kind peer)
{
    int i;
    for (i = 0; i < g_nports; i++)
        if (strcmp(g_ports[i].cert, cert) == 0)
            return g_ports[i].port[peer == PEER_SSERVER ? 0 : 1];
    return 0;
}

static void set_timeouts(SOCKET s)
{
    DWORD ms = 10000;
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, (const char *)&ms, sizeof ms);
    setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, (const char *)&ms, sizeof ms);
}

/* After the handshake: one exchange with the peer. 1 when it answered right. */
static int exchange(SOCKET s, enum peer_kind peer)
{
    char line[512];
    if (peer == PEER_SSERVER) {
        char buf[4096];
        int n, r;
        if (send_str(s, "GET / HTTP/1.0\r\n\r\n") != 0)
            return 0;
        n = recv_line(s, line, sizeof line);
        if (n <= 0 || strncmp(line, "HTTP/1.0 200", 12) != 0)
            return 0;
        do { /* the rest of the status page, to s_server's close */
            r = (int)recv(s, buf, sizeof buf, 0);
        } while (r > 0);
        return r == 0;
    }
    if (!echo_roundtrip(s, "certmatrix"))
        return 0;
    if (send_str(s, "QUIT\r\n") != 0 || recv_line(s, line, sizeof line) <= 0)
        return 0;
    return strcmp(line, "BYE") == 0;
}

struct cell {
    int calls;
    DWORD flags;
    int hook_args_ok;   /* type X509, chain of 1, the leaf's DER, pvArg */
    const char *outcome;
    char detail[300];
};

static void run_cell(const struct mcase *c, enum peer_kind peer, int port, enum hook_kind hook,
                     int name_mode, const unsigned char *der, size_t derlen, struct cell *out)
{
    static char other[64];
    struct hook_record rec;
    const char *name = name_mode == NAME_OWN ? c->name_own
                       : name_mode == NAME_OTHER ? c->name_other
                                               : NULL;
    SOCKADDR_IN sa;
    SOCKET s;
    int rc, wsa;

    memset(out, 0, sizeof *out);
    hook_reset(&rec, SSL_ERR_OKAY);
    s = socket(AF_INET, SOCK_STREAM, 0);
    if (s == INVALID_SOCKET) {
        out->outcome = "no-socket";
        return;
    }
    set_timeouts(s);
    if (make_secure(s) != 0) {
        out->outcome = "SO_SECURE-failed";
        closesocket(s);
        return;
    }
    if (hook == HOOK_ACCEPT_ALL)
        set_hook(s, record_hook, &rec);
    else if (hook == HOOK_STRICT)
        set_hook(s, strict_hook, &rec);
    if (peer != PEER_STARTTLS && name &&
        WSAIoctl(s, SO_SSL_SET_PEERNAME, (LPVOID)name, (DWORD)strlen(name) + 1, NULL, 0, NULL,
                 NULL, NULL) != 0) {
        out->outcome = "SET_PEERNAME-failed";
        closesocket(s);
        return;
    }
    if (peer == PEER_STARTTLS) {
        DWORD flags = SSL_FLAG_DEFER_HANDSHAKE;
        WSAIoctl(s, SO_SSL_SET_FLAGS, &flags, sizeof flags, NULL, 0, NULL, NULL, NULL);
    }
    connect_addr(&sa, port);
    WSASetLastError(0);
    rc = connect(s, (const struct sockaddr *)&sa, sizeof sa);
    wsa = WSAGetLastError();
    if (peer == PEER_STARTTLS && rc == 0) {
        char line[256];
        /* Talking first skips the greeting: STARTTLS -> "220 go ahead". */
        if (send_str(s, "STARTTLS\r\n") != 0 || recv_line(s, line, sizeof line) <= 0 ||
            strncmp(line, "220", 3) != 0) {
            out->outcome = "no-STARTTLS-answer";
            closesocket(s);
            return;
        }
        WSASetLastError(0);
        rc = WSAIoctl(s, SO_SSL_PERFORM_HANDSHAKE, (LPVOID)name,
                      name ? (DWORD)strlen(name) + 1 : 0, NULL, 0, NULL, NULL, NULL);
        wsa = WSAGetLastError();
    }
    snprintf(out->detail, sizeof out->detail, "%s", rc == 0 ? "" : sslsock_last_error_reason());

    out->calls = rec.calls;
    out->flags = rec.flags;
    out->hook_args_ok = rec.calls == 0 ||
                        (rec.type == SSL_CERT_X509 && rec.chainlen == 1 && rec.arg == &rec &&
                         rec.derlen == derlen && memcmp(rec.der, der, derlen) == 0);
    if (rc == 0) {
        out->outcome = exchange(s, peer) ? "connected" : "connected-no-data";
    } else if (rc == SOCKET_ERROR && wsa == WSAECONNABORTED) {
        char buf[16];
        /* a failed socket stays failed */
        out->outcome = (send(s, "x", 1, 0) == SOCKET_ERROR && recv(s, buf, sizeof buf, 0) ==
                        SOCKET_ERROR) ? "aborted" : "aborted-not-dead";
    } else {
        snprintf(other, sizeof other, "failed-WSA-%d", wsa);
        out->outcome = other;
    }
    closesocket(s);
}

static int run_group(const char *group_name)
{
    const struct crl_group *g = NULL;
    const char *env = getenv("SSLSOCK_CRL_FILE");
    int i, p, h, n;

    for (i = 0; i < NGROUPS; i++)
        if (strcmp(groups[i].name, group_name) == 0)
            g = &groups[i];
    if (!CHECK(g != NULL, "group %s is known", group_name))
        return finish();
    /* The variable must name exactly the group's files (in T_PKI). */
    {
        char want[1024] = "";
        if (g->files) {
            const char *f = g->files;
            while (*f) {
                const char *colon = strchr(f, ':');
                size_t len = colon ? (size_t)(colon - f) : strlen(f);
                char one[128];
                snprintf(one, sizeof one, "%.*s", (int)len, f);
                if (want[0])
                    strncat(want, ":", sizeof want - strlen(want) - 1);
                strncat(want, pki_path(one), sizeof want - strlen(want) - 1);
                f += len + (colon ? 1 : 0);
            }
        }
        CHECK(g->files ? (env && strcmp(env, want) == 0) : (env == NULL || *env == 0),
              "group %s: SSLSOCK_CRL_FILE is %s (got %s)", g->name, g->files ? want : "unset",
              env ? env : "unset");
    }

    for (i = 0; i < NCASES; i++) {
        const struct mcase *c = &cases[i];
        char derfile[128];
        unsigned char *der;
        size_t derlen;

        if (strcmp(c->group, g->name) != 0)
            continue;
        note("CASE\t%d\t%s\t%s\t%s\t%s\t%s\t%s", i, c->id, c->what, c->cert, c->name_own,
             c->name_other, g->files ? g->files : "-");
        snprintf(derfile, sizeof derfile, "%s.der", c->cert);
        der = read_pki(derfile, &derlen);

        for (p = 0; p < NPEERS; p++) {
            int port = port_of(c->cert, (enum peer_kind)p);
            if (!CHECK(port > 0, "%s: a %s peer serves %s", c->id, peer_names[p], c->cert))
                continue;
            for (h = 0; h < NHOOKS; h++) {
                for (n = 0; n < NNAMES; n++) {
                    struct cell cell;
                    DWORD want_flags = c->expect[n];
                    const char *want_outcome =
                        (h == HOOK_ACCEPT_ALL || want_flags == 0) ? "connected" : "aborted";
                    const char *name = n == NAME_OWN ? c->name_own
                                       : n == NAME_OTHER ? c->name_other
                                                       : "-";
                    char what[256];

                    run_cell(c, (enum peer_kind)p, port, (enum hook_kind)h, n, der, derlen, &cell);
                    snprintf(what, sizeof what, "%s / %s / hook %s / %s %s", c->id, peer_names[p],
                             hook_names[h], name_modes[n], name);
                    if (h != HOOK_NONE)
                        CHECK(cell.calls == 1 && cell.hook_args_ok && cell.flags == want_flags,
                              "%s: hook called once (got %d) with SSL_CERT_X509, the leaf, "
                              "pvArg%s, dwFlags 0x%x (got 0x%x)",
                              what, cell.calls, cell.hook_args_ok ? "" : " (NOT as expected)",
                              (unsigned)want_flags, (unsigned)cell.flags);
                    CHECK(strcmp(cell.outcome, want_outcome) == 0, "%s: %s (got %s%s%s)", what,
                          want_outcome, cell.outcome, cell.detail[0] ? ": " : "", cell.detail);
                    if (h == HOOK_NONE)
                        note("CELL\t%d\t%s\t%s\t%s\t-\t0\t%s\t-\t%s", i, peer_names[p],
                             hook_names[h], name_modes[n], cell.outcome, want_outcome);
                    else
                        note("CELL\t%d\t%s\t%s\t%s\t0x%x\t%d\t%s\t0x%x\t%s", i, peer_names[p],
                             hook_names[h], name_modes[n], (unsigned)cell.flags, cell.calls,
                             cell.outcome, (unsigned)want_flags, want_outcome);
                }
            }
        }
        free(der);
    }
    return finish();
}

int main(int argc, char **argv)
{
    int i, j;
    WSADATA wsa;

    if (argc == 2 && strcmp(argv[1], "--groups") == 0) {
        for (i = 0; i < NGROUPS; i++)
            printf("GROUP %s %s\n", groups[i].name, groups[i].files ? groups[i].files : "-");
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "--certs") == 0) {
        for (i = 0; i < NCASES; i++) {
            for (j = 0; j < i; j++)
                if (strcmp(cases[j].cert, cases[i].cert) == 0)
                    break;
            if (j == i)
                printf("%s\n", cases[i].cert);
        }
        return 0;
    }
    if (argc != 3) {
        fprintf(stderr, "usage: matrix --groups | --certs | GROUP PORTSFILE\n");
        return 2;
    }
    start_watchdog(140);
    signal(SIGPIPE, SIG_IGN);
    WSAStartup(MAKEWORD(2, 2), &wsa);
    if (load_ports(argv[2]) != 0 || g_nports == 0) {
        CHECK(0, "read the ports file %s", argv[2]);
        return finish();
    }
    i = run_group(argv[1]);
    WSACleanup();
    return i;
}
