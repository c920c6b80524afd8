/*
 * protocols.c - SO_SSL_SET_PROTOCOLS / GET_PROTOCOLS and SO_SSL_GET_CONNECTION_INFO.
 *
 * SSL_PROTOCOL_TLS1 means "TLS 1.2 and 1.3"; SSLSOCK_PROTOCOL_TLS1_2/1_3 select
 * one; a set naming only obsolete protocols is WSAEINVAL; short input is
 * WSAEFAULT; GET_PROTOCOLS gives the effective set.  GET_CONNECTION_INFO gives
 * the Schannel protocol value and real ALG_IDs (checked against what the
 * STARTTLS server itself reports), WSAENOTCONN before a handshake and
 * WSAEFAULT for a buffer shorter than 28 bytes.
 */
#include <winsock2.h>
#include <sslsock.h>
#include "common.h"

#include <errno.h>

#define MASK_12 1u
#define MASK_13 2u

/* Captured error state of the last call made through CALL(). */
static int g_rc, g_wsa, g_errno;

/* Records the error state right after the call, before anything else can change it. */
static int call_done(int rc)
{
    g_errno = errno;
    g_wsa = WSAGetLastError();
    g_rc = rc;
    return rc;
}

/* CALL(expr): clears errno and the last error, evaluates expr, captures both. */
#define CALL(expr) call_done((errno = 0, WSASetLastError(0), (int)(expr)))

/* The last CALL failed with SOCKET_ERROR, Winsock code wsa and errno err. */
static void expect_error(int wsa, int err, const char *what)
{
    CHECK(g_rc == SOCKET_ERROR, "%s: fails with SOCKET_ERROR (got %d)", what, g_rc);
    CHECK(g_wsa == wsa, "%s: WSAGetLastError() == %d (got %d)", what, wsa, g_wsa);
    if (err)
        CHECK(g_errno == err, "%s: errno == %d %s (got %d %s)", what, err, strerror(err), g_errno,
              strerror(g_errno));
}

/* A SSLPROTOCOLS buffer of up to 8 entries. */
union protobuf {
    SSLPROTOCOLS p;
    DWORD words[1 + 3 * 8];
};

static DWORD fill_protocols(union protobuf *b, const DWORD *protos, int n)
{
    int i;
    memset(b, 0, sizeof *b);
    b->p.dwCount = (DWORD)n;
    for (i = 0; i < n; i++) {
        b->p.ProtocolList[i].dwProtocol = protos[i];
        b->p.ProtocolList[i].dwVersion = 0;
        b->p.ProtocolList[i].dwFlags = 0;
    }
    return (DWORD)(sizeof(DWORD) + (size_t)n * sizeof(SSLPROTOCOL));
}

static int set_protocols(SOCKET s, const DWORD *protos, int n)
{
    union protobuf b;
    DWORD cb = fill_protocols(&b, protos, n);
    return WSAIoctl(s, SO_SSL_SET_PROTOCOLS, &b, cb, NULL, 0, NULL, NULL, NULL);
}

/* Versions an SSLPROTOCOLS set stands for; *obsolete counts entries naming
 * PCT1/SSL2/SSL3, *unknown entries that are none of the known values. */
static unsigned protocols_mask(const SSLPROTOCOLS *p, int *obsolete, int *unknown)
{
    unsigned mask = 0;
    DWORD i;
    *obsolete = 0;
    *unknown = 0;
    for (i = 0; i < p->dwCount && i < 8; i++) {
        DWORD v = p->ProtocolList[i].dwProtocol;
        if (v == SSL_PROTOCOL_TLS1)
            mask |= MASK_12 | MASK_13;
        else if (v == SSLSOCK_PROTOCOL_TLS1_2)
            mask |= MASK_12;
        else if (v == SSLSOCK_PROTOCOL_TLS1_3)
            mask |= MASK_13;
        else if (v == SSL_PROTOCOL_PCT1 || v == SSL_PROTOCOL_SSL2 || v == SSL_PROTOCOL_SSL3)
            (*obsolete)++;
        else
            (*unknown)++;
    }
    return mask;
}

/* GET_PROTOCOLS must describe exactly the versions in `want`. */
static void check_get_protocols(SOCKET s, unsigned want, const char *what)
{
    union protobuf b;
    DWORD cb = 0;
    int obsolete, unknown;
    unsigned mask;

    memset(&b, 0xAB, sizeof b);
    if (!CHECK(CALL(WSAIoctl(s, SO_SSL_GET_PROTOCOLS, NULL, 0, &b, sizeof b, &cb, NULL, NULL)) ==
                   0,
               "%s: GET_PROTOCOLS returns 0", what))
        return;
    CHECK(b.p.dwCount >= 1 && b.p.dwCount <= 8, "%s: GET_PROTOCOLS dwCount in 1..8 (got %u)", what,
          (unsigned)b.p.dwCount);
    if (b.p.dwCount < 1 || b.p.dwCount > 8)
        return;
    CHECK(cb == sizeof(DWORD) + b.p.dwCount * sizeof(SSLPROTOCOL),
          "%s: GET_PROTOCOLS *pcbReturned == 4 + 12 * dwCount (got %u for %u)", what,
          (unsigned)cb, (unsigned)b.p.dwCount);
    mask = protocols_mask(&b.p, &obsolete, &unknown);
    CHECK(mask == want && obsolete == 0 && unknown == 0,
          "%s: GET_PROTOCOLS effective set is {%s%s} (got %u entries, first 0x%x, versions "
          "mask %u, %d obsolete, %d unknown)",
          what, (want & MASK_12) ? " 1.2" : "", (want & MASK_13) ? " 1.3" : "",
          (unsigned)b.p.dwCount, (unsigned)b.p.ProtocolList[0].dwProtocol, mask, obsolete,
          unknown);
}

/* A secure socket with an accept-all hook and peer name "localhost". */
static SOCKET new_secure(struct hook_record *rec, const char *what)
{
    SOCKET s = socket(AF_INET, SOCK_STREAM, 0);
    if (!CHECK(s != INVALID_SOCKET, "%s: socket", what))
        return INVALID_SOCKET;
    CHECK(make_secure(s) == 0, "%s: SO_SECURE", what);
    hook_reset(rec, SSL_ERR_OKAY);
    CHECK(set_hook(s, record_hook, rec) == 0, "%s: SET_VALIDATE_CERT_HOOK", what);
    CHECK(WSAIoctl(s, SO_SSL_SET_PEERNAME, "localhost", 10, NULL, 0, NULL, NULL, NULL) == 0,
          "%s: SET_PEERNAME localhost", what);
    return s;
}

/* Strict ALG_ID checks of one SSLCONNECTIONINFO (ECDHE only, as the test servers do). */
static void check_info_values(const SSLCONNECTIONINFO *ci, DWORD proto, const char *what)
{
    CHECK(ci->dwProtocol == proto, "%s: dwProtocol == 0x%x (got 0x%x)", what, (unsigned)proto,
          (unsigned)ci->dwProtocol);
    CHECK((ci->aiCipher == CALG_AES_128 && ci->dwCipherStrength == 128) ||
              (ci->aiCipher == CALG_AES_256 && ci->dwCipherStrength == 256) ||
              (ci->aiCipher == SSLSOCK_CALG_CHACHA20_POLY1305 && ci->dwCipherStrength == 256),
          "%s: aiCipher/dwCipherStrength AES_128/128, AES_256/256 or CHACHA20/256 (got 0x%x/%u)",
          what, (unsigned)ci->aiCipher, (unsigned)ci->dwCipherStrength);
    CHECK((ci->aiHash == CALG_SHA_256 && ci->dwHashStrength == 256) ||
              (ci->aiHash == CALG_SHA_384 && ci->dwHashStrength == 384),
          "%s: aiHash/dwHashStrength SHA_256/256 or SHA_384/384 (got 0x%x/%u)", what,
          (unsigned)ci->aiHash, (unsigned)ci->dwHashStrength);
    CHECK(ci->aiExch == CALG_ECDH_EPHEM &&
              (ci->dwExchStrength == 255 || ci->dwExchStrength == 256 ||
               ci->dwExchStrength == 384 || ci->dwExchStrength == 521),
          "%s: aiExch CALG_ECDH_EPHEM with strength 255/256/384/521 (got 0x%x/%u)", what,
          (unsigned)ci->aiExch, (unsigned)ci->dwExchStrength);
    CHECK(!(ci->aiCipher == SSLSOCK_CALG_CHACHA20_POLY1305 && ci->aiHash != CALG_SHA_256),
          "%s: ChaCha20-Poly1305 suites hash with SHA-256 (got 0x%x)", what,
          (unsigned)ci->aiHash);
}

/* GET_CONNECTION_INFO into *ci: 0, and *pcbReturned 28. */
static int get_info(SOCKET s, SSLCONNECTIONINFO *ci, const char *what)
{
    DWORD cb = 0;
    int ok;
    memset(ci, 0xCD, sizeof *ci);
    ok = CHECK(CALL(WSAIoctl(s, SO_SSL_GET_CONNECTION_INFO, NULL, 0, ci, sizeof *ci, &cb, NULL,
                             NULL)) == 0,
               "%s: GET_CONNECTION_INFO returns 0", what);
    if (ok)
        CHECK(cb == 28, "%s: GET_CONNECTION_INFO *pcbReturned == 28 (got %u)", what, (unsigned)cb);
    return ok;
}

/* Immediate-mode connection to port with the protocol set protos[0..n) (n < 0:
 * no SET_PROTOCOLS).  expect_proto 0 means the handshake must fail. */
static void run(int port, const char *server, const DWORD *protos, int n, DWORD expect_proto,
                const char *what)
{
    struct hook_record rec;
    SOCKADDR_IN sa;
    SSLCONNECTIONINFO ci;
    char reason[512];
    SOCKET s = new_secure(&rec, what);
    int rc;

    if (s == INVALID_SOCKET)
        return;
    if (n >= 0)
        CHECK(CALL(set_protocols(s, protos, n)) == 0, "%s: SET_PROTOCOLS returns 0", what);
    connect_addr(&sa, port);
    rc = CALL(connect(s, (const struct sockaddr *)&sa, sizeof sa));
    snprintf(reason, sizeof reason, "%s", sslsock_last_error_reason());
    if (expect_proto == 0) {
        char buf[16];
        int k;
        expect_error(WSAECONNABORTED, ECONNABORTED, what);
        CHECK(reason[0] != 0, "%s: sslsock_last_error_reason() not empty (\"%s\")", what, reason);
        note("%s against %s: refused: %s", what, server, reason);
        k = (int)send(s, "x", 1, 0);
        CHECK(k == SOCKET_ERROR, "%s: send after the failed handshake fails (got %d)", what, k);
        k = (int)recv(s, buf, sizeof buf, 0);
        CHECK(k == SOCKET_ERROR, "%s: recv after the failed handshake fails (got %d)", what, k);
    } else {
        CHECK(rc == 0, "%s: connect returns 0 (WSA %d, reason \"%s\")", what, g_wsa, reason);
        if (rc == 0 && get_info(s, &ci, what)) {
            note("%s against %s: protocol 0x%x cipher 0x%x/%u hash 0x%x/%u exch 0x%x/%u", what,
                 server, (unsigned)ci.dwProtocol, (unsigned)ci.aiCipher,
                 (unsigned)ci.dwCipherStrength, (unsigned)ci.aiHash, (unsigned)ci.dwHashStrength,
                 (unsigned)ci.aiExch, (unsigned)ci.dwExchStrength);
            check_info_values(&ci, expect_proto, what);
            check_conn_info(&ci, what);
        }
        if (rc == 0) {
            char line[256];
            int k;
            CHECK(send_str(s, "GET /index.html HTTP/1.0\r\n\r\n") == 0, "%s: send request", what);
            k = recv_line(s, line, sizeof line);
            CHECK(k > 0 && strncmp(line, "HTTP/1.0 200", 12) == 0,
                  "%s: HTTP answer over TLS (got \"%s\")", what, k >= 0 ? line : "");
        }
    }
    closesocket(s);
}

/* Deferred mode through the STARTTLS server, whose INFO command tells the
 * version and cipher it negotiated: our GET_CONNECTION_INFO must agree. */
static void run_starttls_info(int port, const DWORD *protos, int n, DWORD expect_proto,
                              const char *what)
{
    struct hook_record rec;
    SOCKADDR_IN sa;
    SSLCONNECTIONINFO ci;
    char line[256];
    DWORD flags = SSL_FLAG_DEFER_HANDSHAKE;
    SOCKET s = new_secure(&rec, what);
    int k;

    if (s == INVALID_SOCKET)
        return;
    if (n >= 0)
        CHECK(CALL(set_protocols(s, protos, n)) == 0, "%s: SET_PROTOCOLS returns 0", what);
    CHECK(WSAIoctl(s, SO_SSL_SET_FLAGS, &flags, 4, NULL, 0, NULL, NULL, NULL) == 0,
          "%s: SET_FLAGS(DEFER)", what);
    connect_addr(&sa, port);
    if (!CHECK(connect(s, (const struct sockaddr *)&sa, sizeof sa) == 0, "%s: connect", what)) {
        closesocket(s);
        return;
    }
    k = recv_line(s, line, sizeof line);
    CHECK(k > 0 && strncmp(line, "220", 3) == 0, "%s: greeting", what);

    /* Deferred window: no handshake yet. */
    CALL(WSAIoctl(s, SO_SSL_GET_CONNECTION_INFO, NULL, 0, &ci, sizeof ci, NULL, NULL, NULL));
    expect_error(WSAENOTCONN, ENOTCONN, "GET_CONNECTION_INFO in the deferred plaintext phase");

    CHECK(send_str(s, "STARTTLS\r\n") == 0 && recv_line(s, line, sizeof line) > 0,
          "%s: STARTTLS", what);
    if (!CHECK(CALL(WSAIoctl(s, SO_SSL_PERFORM_HANDSHAKE, NULL, 0, NULL, 0, NULL, NULL, NULL)) == 0,
               "%s: PERFORM_HANDSHAKE returns 0", what)) {
        closesocket(s);
        return;
    }
    if (get_info(s, &ci, what)) {
        check_info_values(&ci, expect_proto, what);
        CHECK(send_str(s, "INFO\r\n") == 0 && (k = recv_line(s, line, sizeof line)) > 0,
              "%s: INFO over TLS", what);
        if (k > 0) {
            const char *ver = expect_proto == SSL_PROT_TLS1_3_CLIENT ? "TLSv1.3 " : "TLSv1.2 ";
            int aes128 = strstr(line, "AES128") || strstr(line, "AES_128");
            int aes256 = strstr(line, "AES256") || strstr(line, "AES_256");
            int chacha = strstr(line, "CHACHA20") != NULL;
            ALG_ID cipher = aes128 ? CALG_AES_128 : aes256 ? CALG_AES_256
                          : chacha ? SSLSOCK_CALG_CHACHA20_POLY1305 : 0;
            ALG_ID hash = strstr(line, "SHA384") ? CALG_SHA_384 : CALG_SHA_256;
            note("%s: server says \"%s\"; we report protocol 0x%x cipher 0x%x hash 0x%x", what,
                 line, (unsigned)ci.dwProtocol, (unsigned)ci.aiCipher, (unsigned)ci.aiHash);
            CHECK(strncmp(line, ver, strlen(ver)) == 0,
                  "%s: server's version agrees with dwProtocol 0x%x (server: \"%s\")", what,
                  (unsigned)ci.dwProtocol, line);
            CHECK(cipher != 0 && ci.aiCipher == cipher,
                  "%s: aiCipher 0x%x agrees with the server's cipher \"%s\"", what,
                  (unsigned)ci.aiCipher, line);
            CHECK(ci.aiHash == hash, "%s: aiHash 0x%x agrees with the server's cipher \"%s\"",
                  what, (unsigned)ci.aiHash, line);
        }
    }
    send_str(s, "QUIT\r\n");
    recv_line(s, line, sizeof line);
    closesocket(s);
}

int main(void)
{
    static const DWORD tls1[] = {SSL_PROTOCOL_TLS1};
    static const DWORD tls12[] = {SSLSOCK_PROTOCOL_TLS1_2};
    static const DWORD tls13[] = {SSLSOCK_PROTOCOL_TLS1_3};
    static const DWORD ssl3[] = {SSL_PROTOCOL_SSL3};
    static const DWORD obsolete[] = {SSL_PROTOCOL_PCT1, SSL_PROTOCOL_SSL2, SSL_PROTOCOL_SSL3};
    static const DWORD ssl3_tls12[] = {SSL_PROTOCOL_SSL3, SSLSOCK_PROTOCOL_TLS1_2};
    static const DWORD both[] = {SSLSOCK_PROTOCOL_TLS1_2, SSLSOCK_PROTOCOL_TLS1_3};
    int p_https, p_12, p_13, p_starttls;
    struct hook_record rec;
    SSLCONNECTIONINFO ci;
    union protobuf b;
    DWORD cb;
    SOCKET s;

    start_watchdog(55);
    signal(SIGPIPE, SIG_IGN);
    p_https = env_port("T_PORT_HTTPS");
    p_12 = env_port("T_PORT_TLS12");
    p_13 = env_port("T_PORT_TLS13");
    p_starttls = env_port("T_PORT_STARTTLS");

    /* Shipped code's one entry {SSL_PROTOCOL_TLS1, 0, 0} against each version. */
    run(p_12, "TLS12 server", tls1, 1, SSL_PROT_TLS1_2_CLIENT, "{TLS1} vs 1.2-only");
    run(p_13, "TLS13 server", tls1, 1, SSL_PROT_TLS1_3_CLIENT, "{TLS1} vs 1.3-only");
    /* One version alone. */
    run(p_12, "TLS12 server", tls13, 1, 0, "{TLS1_3} vs 1.2-only");
    run(p_13, "TLS13 server", tls12, 1, 0, "{TLS1_2} vs 1.3-only");
    run(p_https, "HTTPS server", tls12, 1, SSL_PROT_TLS1_2_CLIENT, "{TLS1_2} vs 1.2+1.3");
    run(p_https, "HTTPS server", tls13, 1, SSL_PROT_TLS1_3_CLIENT, "{TLS1_3} vs 1.2+1.3");
    run(p_13, "TLS13 server", tls13, 1, SSL_PROT_TLS1_3_CLIENT, "{TLS1_3} vs 1.3-only");
    run(p_12, "TLS12 server", tls12, 1, SSL_PROT_TLS1_2_CLIENT, "{TLS1_2} vs 1.2-only");
    /* Default (no SET_PROTOCOLS): both versions, 1.3 preferred. */
    run(p_https, "HTTPS server", NULL, -1, SSL_PROT_TLS1_3_CLIENT, "default vs 1.2+1.3");
    run(p_12, "TLS12 server", NULL, -1, SSL_PROT_TLS1_2_CLIENT, "default vs 1.2-only");
    /* Obsolete entries next to a modern one are ignored. */
    run(p_https, "HTTPS server", ssl3_tls12, 2, SSL_PROT_TLS1_2_CLIENT, "{SSL3, TLS1_2} vs 1.2+1.3");
    run(p_https, "HTTPS server", both, 2, SSL_PROT_TLS1_3_CLIENT, "{TLS1_2, TLS1_3} vs 1.2+1.3");

    /* Agreement with what the server negotiated (STARTTLS server's INFO). */
    run_starttls_info(p_starttls, NULL, -1, SSL_PROT_TLS1_3_CLIENT, "starttls default INFO");
    run_starttls_info(p_starttls, tls12, 1, SSL_PROT_TLS1_2_CLIENT, "starttls {TLS1_2} INFO");
    run_starttls_info(p_starttls, tls1, 1, SSL_PROT_TLS1_3_CLIENT, "starttls {TLS1} INFO");

    /* Errors of SET_PROTOCOLS, and GET_PROTOCOLS's effective set. */
    s = new_secure(&rec, "protocol set errors");
    if (s != INVALID_SOCKET) {
        check_get_protocols(s, MASK_12 | MASK_13, "default set");

        CALL(set_protocols(s, ssl3, 1));
        expect_error(WSAEINVAL, EINVAL, "SET_PROTOCOLS {SSL3} only");
        CHECK(sslsock_last_error_reason()[0] != 0,
              "SET_PROTOCOLS {SSL3} only: a reason is given (\"%s\")",
              sslsock_last_error_reason());
        CALL(set_protocols(s, obsolete, 3));
        expect_error(WSAEINVAL, EINVAL, "SET_PROTOCOLS {PCT1, SSL2, SSL3}");

        fill_protocols(&b, both, 2);
        CALL(WSAIoctl(s, SO_SSL_SET_PROTOCOLS, &b, 4 + 12, NULL, 0, NULL, NULL, NULL));
        expect_error(WSAEFAULT, EFAULT, "SET_PROTOCOLS dwCount 2 with cbIn 16");
        CALL(WSAIoctl(s, SO_SSL_SET_PROTOCOLS, &b, 4 + 12 + 11, NULL, 0, NULL, NULL, NULL));
        expect_error(WSAEFAULT, EFAULT, "SET_PROTOCOLS dwCount 2 with cbIn 27");
        CALL(WSAIoctl(s, SO_SSL_SET_PROTOCOLS, &b, 3, NULL, 0, NULL, NULL, NULL));
        expect_error(WSAEFAULT, EFAULT, "SET_PROTOCOLS cbIn 3");
        CALL(WSAIoctl(s, SO_SSL_SET_PROTOCOLS, NULL, 16, NULL, 0, NULL, NULL, NULL));
        expect_error(WSAEFAULT, EFAULT, "SET_PROTOCOLS in NULL");
        check_get_protocols(s, MASK_12 | MASK_13, "set unchanged after refused SET_PROTOCOLS");

        /* A longer cbIn than needed and an output buffer on a SET code are tolerated. */
        fill_protocols(&b, tls13, 1);
        cb = 0;
        CHECK(CALL(WSAIoctl(s, SO_SSL_SET_PROTOCOLS, &b, sizeof b, &ci, sizeof ci, &cb, NULL,
                            NULL)) == 0,
              "SET_PROTOCOLS {TLS1_3} with a long cbIn and an output buffer returns 0");
        check_get_protocols(s, MASK_13, "after SET {TLS1_3}");

        CHECK(CALL(set_protocols(s, tls12, 1)) == 0, "SET_PROTOCOLS {TLS1_2} returns 0");
        check_get_protocols(s, MASK_12, "after SET {TLS1_2}");
        CHECK(CALL(set_protocols(s, ssl3_tls12, 2)) == 0, "SET_PROTOCOLS {SSL3, TLS1_2} returns 0");
        check_get_protocols(s, MASK_12, "after SET {SSL3, TLS1_2}");
        CHECK(CALL(set_protocols(s, both, 2)) == 0, "SET_PROTOCOLS {TLS1_2, TLS1_3} returns 0");
        check_get_protocols(s, MASK_12 | MASK_13, "after SET {TLS1_2, TLS1_3}");
        CHECK(CALL(set_protocols(s, tls1, 1)) == 0, "SET_PROTOCOLS {TLS1} returns 0");
        check_get_protocols(s, MASK_12 | MASK_13, "after SET {TLS1}");

        /* GET_PROTOCOLS with a short or missing buffer. */
        cb = 0;
        CALL(WSAIoctl(s, SO_SSL_GET_PROTOCOLS, NULL, 0, &b, 3, &cb, NULL, NULL));
        expect_error(WSAEFAULT, EFAULT, "GET_PROTOCOLS cbOut 3");
        CHECK(cb >= 16 && (cb - 4) % 12 == 0,
              "GET_PROTOCOLS cbOut 3: *pcbReturned gives the size needed (got %u)", (unsigned)cb);
        CALL(WSAIoctl(s, SO_SSL_GET_PROTOCOLS, NULL, 0, &b, 4, NULL, NULL, NULL));
        expect_error(WSAEFAULT, EFAULT, "GET_PROTOCOLS cbOut 4 (no room for an entry)");
        CALL(WSAIoctl(s, SO_SSL_GET_PROTOCOLS, NULL, 0, NULL, sizeof b, NULL, NULL, NULL));
        expect_error(WSAEFAULT, EFAULT, "GET_PROTOCOLS out NULL");

        /* GET_CONNECTION_INFO before any handshake (not even connected). */
        CALL(WSAIoctl(s, SO_SSL_GET_CONNECTION_INFO, NULL, 0, &ci, sizeof ci, &cb, NULL, NULL));
        expect_error(WSAENOTCONN, ENOTCONN, "GET_CONNECTION_INFO before connect");
        closesocket(s);
    }

    /* After a handshake: short buffers, and protocols can no longer change. */
    s = new_secure(&rec, "after handshake");
    if (s != INVALID_SOCKET) {
        SOCKADDR_IN sa;
        unsigned char small[27];
        connect_addr(&sa, p_https);
        if (CHECK(connect(s, (const struct sockaddr *)&sa, sizeof sa) == 0,
                  "after handshake: connect")) {
            cb = 0;
            CALL(WSAIoctl(s, SO_SSL_GET_CONNECTION_INFO, NULL, 0, small, sizeof small, &cb, NULL,
                          NULL));
            expect_error(WSAEFAULT, EFAULT, "GET_CONNECTION_INFO with a 27-byte buffer");
            CHECK(cb == 28, "GET_CONNECTION_INFO 27 bytes: *pcbReturned gives 28 (got %u)",
                  (unsigned)cb);
            CALL(WSAIoctl(s, SO_SSL_GET_CONNECTION_INFO, NULL, 0, NULL, 28, NULL, NULL, NULL));
            expect_error(WSAEFAULT, EFAULT, "GET_CONNECTION_INFO out NULL");
            CHECK(CALL(WSAIoctl(s, SO_SSL_GET_CONNECTION_INFO, NULL, 0, &ci, sizeof ci, NULL,
                                NULL, NULL)) == 0,
                  "GET_CONNECTION_INFO with NULL pcbReturned returns 0");
            CALL(set_protocols(s, tls12, 1));
            expect_error(WSAEISCONN, EISCONN, "SET_PROTOCOLS after the handshake");
        }
        closesocket(s);
    }

    return finish();
}
