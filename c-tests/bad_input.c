/*
 * bad_input.c - NULL and short buffers, unknown codes, wrong states, closed
 * and invalid sockets: each with its exact Winsock code (docs/api.md, docs/abi.md)
 * and the matching errno.  Also WSAStartup/WSACleanup negotiation, the two
 * encodings of FIONBIO/FIONREAD, plain sockets behaving as libc, and
 * SO_RCVTIMEO given as a 4-byte millisecond DWORD.
 */
#include <winsock2.h>
#include <sslsock.h>
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>

/* Captured error state of the last call made through CALL(). */
static int g_rc, g_wsa, g_errno;
static char g_reason[512];

/* Records the error state right after the call, before anything else can change it. */
static int call_done(int rc)
{
    g_errno = errno;
    g_wsa = WSAGetLastError();
    g_rc = rc;
    snprintf(g_reason, sizeof g_reason, "%s", sslsock_last_error_reason());
    errno = g_errno;
    return rc;
}

/* CALL(expr): clears errno and the last error, evaluates expr, captures both. */
#define CALL(expr) call_done((errno = 0, WSASetLastError(0), (int)(expr)))

/* The last CALL failed with SOCKET_ERROR, Winsock code wsa and errno err (0: not checked). */
static int expect_error(int wsa, int err, const char *what)
{
    int ok = 1;
    ok &= CHECK(g_rc == SOCKET_ERROR, "%s: fails with SOCKET_ERROR (got %d)", what, g_rc);
    ok &= CHECK(g_wsa == wsa, "%s: WSAGetLastError() == %d (got %d)", what, wsa, g_wsa);
    if (err)
        ok &= CHECK(g_errno == err, "%s: errno == %d %s (got %d %s)", what, err, strerror(err),
                    g_errno, strerror(g_errno));
    /* every failure path gives a readable reason (issue 8): at least a few words */
    ok &= CHECK(strlen(g_reason) >= 10 && strchr(g_reason, ' ') != NULL,
                "%s: sslsock_last_error_reason() says why (\"%s\")", what, g_reason);
    return ok;
}

/* The last CALL succeeded (0) and left the last error at 0. */
static int expect_ok(const char *what)
{
    int ok = CHECK(g_rc == 0, "%s: returns 0 (got %d, WSA %d, errno %d)", what, g_rc, g_wsa,
                   g_errno);
    ok &= CHECK(g_wsa == 0, "%s: WSASetLastError(0) before, WSAGetLastError() 0 after (got %d)",
                what, g_wsa);
    return ok;
}

static int CALLBACK accept_all(DWORD dwType, LPVOID pvArg, DWORD dwChainLen, LPBLOB pCertChain,
                               DWORD dwFlags)
{
    (void)dwType; (void)pvArg; (void)dwChainLen; (void)pCertChain; (void)dwFlags;
    return SSL_ERR_OKAY;
}

static SOCKET new_socket(void)
{
    SOCKET s = socket(AF_INET, SOCK_STREAM, 0);
    if (s == INVALID_SOCKET) {
        CHECK(0, "socket() (errno %d)", errno);
        exit(finish());
    }
    return s;
}

static SOCKET new_secure(void)
{
    SOCKET s = new_socket();
    CHECK(make_secure(s) == 0, "setsockopt SO_SECURE SO_SEC_SSL on a fresh socket");
    return s;
}

static int set_flags(SOCKET s, DWORD flags)
{
    return WSAIoctl(s, SO_SSL_SET_FLAGS, &flags, sizeof flags, NULL, 0, NULL, NULL, NULL);
}

/* A listening TCP socket on 127.0.0.1, its port in *port. */
static SOCKET local_listener(int *port)
{
    SOCKADDR_IN sa;
    socklen_t len = sizeof sa;
    SOCKET l = new_socket();
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(l, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(l, 8) != 0 ||
        getsockname(l, (struct sockaddr *)&sa, &len) != 0) {
        CHECK(0, "local listener (errno %d)", errno);
        exit(finish());
    }
    *port = ntohs(sa.sin_port);
    return l;
}

static void loopback_addr(SOCKADDR_IN *sa, int port)
{
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons((unsigned short)port);
    sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

/* ------------------------------------------------------------------ */

static void test_startup_cleanup(void)
{
    WSADATA d;
    int rc, i;

    /* Before any WSAStartup. */
    CALL(WSACleanup());
    expect_error(WSANOTINITIALISED, 0, "WSACleanup without WSAStartup");

    memset(&d, 0, sizeof d);
    rc = WSAStartup(MAKEWORD(2, 2), &d);
    CHECK(rc == 0, "WSAStartup(2.2) returns 0 (got %d)", rc);
    CHECK(d.wVersion == 0x0202, "WSAStartup(2.2): wVersion 0x0202 (got 0x%04x)", d.wVersion);
    CHECK(d.wHighVersion == 0x0202, "WSAStartup(2.2): wHighVersion 0x0202 (got 0x%04x)",
          d.wHighVersion);

    memset(&d, 0, sizeof d);
    rc = WSAStartup(MAKEWORD(1, 1), &d);
    CHECK(rc == 0 && d.wVersion == 0x0101, "WSAStartup(1.1): 0 and wVersion 0x0101 (got %d, 0x%04x)",
          rc, d.wVersion);

    memset(&d, 0, sizeof d);
    rc = WSAStartup(MAKEWORD(1, 0), &d);
    CHECK(rc == 0 && d.wVersion == 0x0101, "WSAStartup(1.0): 0 and wVersion 0x0101 (got %d, 0x%04x)",
          rc, d.wVersion);

    memset(&d, 0, sizeof d);
    rc = WSAStartup(MAKEWORD(2, 1), &d);
    CHECK(rc == 0 && d.wVersion == 0x0102, "WSAStartup(2.1): 0 and wVersion 0x0102 (got %d, 0x%04x)",
          rc, d.wVersion);

    /* Refused startups; they do not count. */
    rc = WSAStartup(MAKEWORD(0, 0), &d);
    CHECK(rc == WSAVERNOTSUPPORTED, "WSAStartup(0.0) returns WSAVERNOTSUPPORTED (got %d)", rc);
    rc = WSAStartup(MAKEWORD(2, 2), NULL);
    CHECK(rc == WSAEFAULT, "WSAStartup(2.2, NULL) returns WSAEFAULT (got %d)", rc);

    /* Balanced: four successful startups, four cleanups, then one too many. */
    for (i = 0; i < 4; i++) {
        CALL(WSACleanup());
        CHECK(g_rc == 0, "WSACleanup %d of 4 returns 0 (got %d, WSA %d)", i + 1, g_rc, g_wsa);
    }
    CALL(WSACleanup());
    expect_error(WSANOTINITIALISED, 0, "WSACleanup after the balanced cleanups");

    /* Leave one startup active for the rest, as programs do. */
    rc = WSAStartup(MAKEWORD(2, 2), &d);
    CHECK(rc == 0, "WSAStartup(2.2) again returns 0 (got %d)", rc);
}

static void test_so_secure(void)
{
    DWORD v, got;
    socklen_t len;
    SOCKET s = new_socket();

    CALL(setsockopt(s, SOL_SOCKET, SO_SECURE, NULL, 4));
    expect_error(WSAEFAULT, EFAULT, "setsockopt SO_SECURE with NULL value");
    v = SO_SEC_SSL;
    CALL(setsockopt(s, SOL_SOCKET, SO_SECURE, (const char *)&v, 2));
    expect_error(WSAEFAULT, EFAULT, "setsockopt SO_SECURE with optlen 2");
    v = 7;
    CALL(setsockopt(s, SOL_SOCKET, SO_SECURE, (const char *)&v, 4));
    expect_error(WSAEINVAL, EINVAL, "setsockopt SO_SECURE value 7");

    got = 0xdeadbeef;
    len = sizeof got;
    CALL(getsockopt(s, SOL_SOCKET, SO_SECURE, (char *)&got, &len));
    expect_ok("getsockopt SO_SECURE on a plain socket");
    CHECK(got == SO_SEC_NONE, "getsockopt SO_SECURE on a plain socket gives SO_SEC_NONE (got 0x%x)",
          (unsigned)got);

    v = SO_SEC_NONE;
    CALL(setsockopt(s, SOL_SOCKET, SO_SECURE, (const char *)&v, 4));
    expect_ok("setsockopt SO_SECURE SO_SEC_NONE on a plain socket (no-op)");

    v = SO_SEC_SSL;
    CALL(setsockopt(s, 0xFFFF, SO_SECURE, (const char *)&v, 4));
    expect_ok("setsockopt SO_SECURE at Winsock level 0xFFFF");
    got = 0;
    len = sizeof got;
    CALL(getsockopt(s, SOL_SOCKET, SO_SECURE, (char *)&got, &len));
    CHECK(g_rc == 0 && got == SO_SEC_SSL,
          "getsockopt SO_SECURE after setting it gives SO_SEC_SSL (rc %d, got 0x%x)", g_rc,
          (unsigned)got);
    closesocket(s);

    /* A reused descriptor number starts with no secure state. */
    {
        SOCKET s2 = new_socket();
        got = 0;
        len = sizeof got;
        getsockopt(s2, SOL_SOCKET, SO_SECURE, (char *)&got, &len);
        CHECK(s2 != s || got == SO_SEC_NONE,
              "a new socket on a reused number (%d) is not secure (got 0x%x)", s2, (unsigned)got);
        closesocket(s2);
    }
}

static void test_ioctl_not_secure_and_not_socket(void)
{
    static const struct { DWORD code; const char *name; } codes[] = {
        {SO_SSL_SET_VALIDATE_CERT_HOOK, "SET_VALIDATE_CERT_HOOK"},
        {SO_SSL_GET_VALIDATE_CERT_HOOK, "GET_VALIDATE_CERT_HOOK"},
        {SO_SSL_SET_FLAGS, "SET_FLAGS"},
        {SO_SSL_GET_FLAGS, "GET_FLAGS"},
        {SO_SSL_SET_PROTOCOLS, "SET_PROTOCOLS"},
        {SO_SSL_GET_PROTOCOLS, "GET_PROTOCOLS"},
        {SO_SSL_SET_PEERNAME, "SET_PEERNAME"},
        {SO_SSL_PERFORM_HANDSHAKE, "PERFORM_HANDSHAKE"},
        {SO_SSL_GET_CONNECTION_INFO, "GET_CONNECTION_INFO"},
    };
    /* Input good enough for every code above: a valid hook, flags 0, {TLS1}, a name. */
    union {
        SSLVALIDATECERTHOOK hook;
        DWORD words[16];
        char name[64];
    } in, out;
    char what[160];
    SOCKET s, closed;
    FILE *f;
    int fd, i;

    memset(&out, 0, sizeof out);

    s = new_socket();
    for (i = 0; i < (int)(sizeof codes / sizeof codes[0]); i++) {
        DWORD cb = 0;
        memset(&in, 0, sizeof in);
        if (codes[i].code == SO_SSL_SET_VALIDATE_CERT_HOOK) {
            in.hook.HookFunc = accept_all;
        } else if (codes[i].code == SO_SSL_SET_PROTOCOLS) {
            in.words[0] = 1;
            in.words[1] = SSL_PROTOCOL_TLS1;
        } else if (codes[i].code == SO_SSL_SET_PEERNAME) {
            strcpy(in.name, "localhost");
        }
        snprintf(what, sizeof what, "WSAIoctl %s on a socket without SO_SECURE", codes[i].name);
        CALL(WSAIoctl(s, codes[i].code, &in, codes[i].code == SO_SSL_SET_PEERNAME ? 10 :
                      codes[i].code == SO_SSL_PERFORM_HANDSHAKE ? 0 : 16,
                      &out, sizeof out, &cb, NULL, NULL));
        expect_error(WSAEINVAL, EINVAL, what);
    }
    closesocket(s);

    /* Not a socket: -1, a closed descriptor, a regular file. */
    CALL(WSAIoctl((SOCKET)-1, SO_SSL_GET_CAPABILITIES, NULL, 0, &out, 4, NULL, NULL, NULL));
    expect_error(WSAENOTSOCK, ENOTSOCK, "WSAIoctl GET_CAPABILITIES on socket -1");
    CALL(WSAIoctl(INVALID_SOCKET, SO_SSL_SET_FLAGS, &out, 4, NULL, 0, NULL, NULL, NULL));
    expect_error(WSAENOTSOCK, ENOTSOCK, "WSAIoctl SET_FLAGS on INVALID_SOCKET");

    closed = new_secure();
    CHECK(closesocket(closed) == 0, "closesocket of a secure socket returns 0");
    CALL(WSAIoctl(closed, SO_SSL_GET_CAPABILITIES, NULL, 0, &out, 4, NULL, NULL, NULL));
    expect_error(WSAENOTSOCK, ENOTSOCK, "WSAIoctl GET_CAPABILITIES on a closed descriptor");
    CALL(WSAIoctl(closed, SO_SSL_GET_FLAGS, NULL, 0, &out, 4, NULL, NULL, NULL));
    expect_error(WSAENOTSOCK, ENOTSOCK, "WSAIoctl GET_FLAGS on a closed (formerly secure) descriptor");
    CALL(closesocket(closed));
    expect_error(WSAENOTSOCK, ENOTSOCK, "closesocket on a closed descriptor");

    f = tmpfile();
    fd = f ? fileno(f) : -1;
    if (CHECK(fd >= 0, "a regular file for the not-a-socket checks")) {
        CALL(WSAIoctl(fd, SO_SSL_GET_CAPABILITIES, NULL, 0, &out, 4, NULL, NULL, NULL));
        expect_error(WSAENOTSOCK, ENOTSOCK, "WSAIoctl GET_CAPABILITIES on a regular file");
        CALL(WSAIoctl(fd, SO_SSL_SET_PEERNAME, "localhost", 10, NULL, 0, NULL, NULL, NULL));
        expect_error(WSAENOTSOCK, ENOTSOCK, "WSAIoctl SET_PEERNAME on a regular file");
        CALL(closesocket(fd));
        expect_error(WSAENOTSOCK, ENOTSOCK, "closesocket on a regular file");
    }
    if (f)
        fclose(f);

    CALL(closesocket((SOCKET)-1));
    expect_error(WSAENOTSOCK, ENOTSOCK, "closesocket(-1)");
}

static void test_ioctl_buffers(void)
{
    SSLVALIDATECERTHOOK hook, got;
    unsigned char out16[16];
    WSAOVERLAPPED ov;
    DWORD v, cb;
    SOCKET s = new_secure();
    int i;

    /* Unknown code. */
    v = 0;
    CALL(WSAIoctl(s, (DWORD)0x90739999, &v, 4, NULL, 0, NULL, NULL, NULL));
    expect_error(WSAEINVAL, EINVAL, "WSAIoctl unknown code 0x90739999");

    /* The validate hook. */
    CALL(WSAIoctl(s, SO_SSL_SET_VALIDATE_CERT_HOOK, NULL, sizeof hook, NULL, 0, NULL, NULL, NULL));
    expect_error(WSAEFAULT, EFAULT, "SET_VALIDATE_CERT_HOOK in NULL");
    hook.HookFunc = accept_all;
    hook.pvArg = &hook;
    cb = 0;
    CALL(WSAIoctl(s, SO_SSL_SET_VALIDATE_CERT_HOOK, &hook, 4, NULL, 0, &cb, NULL, NULL));
    expect_error(WSAEFAULT, EFAULT, "SET_VALIDATE_CERT_HOOK cbIn 4");
    CHECK(cb == sizeof(SSLVALIDATECERTHOOK), "SET_VALIDATE_CERT_HOOK cbIn 4: *pcbReturned gives sizeof(SSLVALIDATECERTHOOK), %u (got %u)",
          (unsigned)sizeof(SSLVALIDATECERTHOOK), (unsigned)cb);
    /* Pattern 3: a 16-byte output buffer and a non-NULL pcb on a SET code. */
    cb = 12345;
    CALL(WSAIoctl(s, SO_SSL_SET_VALIDATE_CERT_HOOK, &hook, sizeof hook, out16, sizeof out16, &cb,
                  NULL, NULL));
    expect_ok("SET_VALIDATE_CERT_HOOK with an output buffer and pcb");
    memset(&got, 0, sizeof got);
    CALL(WSAIoctl(s, SO_SSL_GET_VALIDATE_CERT_HOOK, NULL, 0, &got, sizeof got, &cb, NULL, NULL));
    expect_ok("GET_VALIDATE_CERT_HOOK");
    CHECK(got.HookFunc == accept_all && got.pvArg == &hook,
          "GET_VALIDATE_CERT_HOOK gives back the hook and its argument");

    /* GET_FLAGS. */
    CALL(WSAIoctl(s, SO_SSL_GET_FLAGS, NULL, 0, NULL, 4, NULL, NULL, NULL));
    expect_error(WSAEFAULT, EFAULT, "GET_FLAGS out NULL");
    cb = 0;
    CALL(WSAIoctl(s, SO_SSL_GET_FLAGS, NULL, 0, &v, 2, &cb, NULL, NULL));
    expect_error(WSAEFAULT, EFAULT, "GET_FLAGS cbOut 2");
    CHECK(cb == 4, "GET_FLAGS cbOut 2: *pcbReturned gives 4 (got %u)", (unsigned)cb);
    v = 0xdeadbeef;
    cb = 0;
    CALL(WSAIoctl(s, SO_SSL_GET_FLAGS, NULL, 0, &v, 4, &cb, NULL, NULL));
    expect_ok("GET_FLAGS on a fresh secure socket");
    CHECK(v == 0 && cb == 4, "GET_FLAGS gives 0 with *pcbReturned 4 (got 0x%x, %u)", (unsigned)v,
          (unsigned)cb);

    /* SET_FLAGS. */
    CALL(set_flags(s, SSL_FLAG_SERVER));
    expect_error(WSAEOPNOTSUPP, EOPNOTSUPP, "SET_FLAGS(SSL_FLAG_SERVER)");
    CALL(set_flags(s, SSL_FLAG_AUTH_CLIENT));
    expect_error(WSAEOPNOTSUPP, EOPNOTSUPP, "SET_FLAGS(SSL_FLAG_AUTH_CLIENT)");
    CALL(set_flags(s, 0x100));
    expect_error(WSAEINVAL, EINVAL, "SET_FLAGS(0x100, unknown bit)");
    CALL(set_flags(s, SSL_FLAG_DEFER_HANDSHAKE | 0x80000000u));
    expect_error(WSAEINVAL, EINVAL, "SET_FLAGS(DEFER | 0x80000000)");
    CALL(WSAIoctl(s, SO_SSL_SET_FLAGS, NULL, 4, NULL, 0, NULL, NULL, NULL));
    expect_error(WSAEFAULT, EFAULT, "SET_FLAGS in NULL");
    v = SSL_FLAG_DEFER_HANDSHAKE;
    CALL(WSAIoctl(s, SO_SSL_SET_FLAGS, &v, 2, NULL, 0, NULL, NULL, NULL));
    expect_error(WSAEFAULT, EFAULT, "SET_FLAGS cbIn 2");
    /* Pattern 7: GET, OR in DEFER, SET back (16-byte out buffer as pattern 3). */
    v = 0;
    WSAIoctl(s, SO_SSL_GET_FLAGS, NULL, 0, &v, 4, NULL, NULL, NULL);
    v |= SSL_FLAG_DEFER_HANDSHAKE;
    CALL(WSAIoctl(s, SO_SSL_SET_FLAGS, &v, 4, out16, sizeof out16, &cb, NULL, NULL));
    expect_ok("SET_FLAGS(GET_FLAGS | DEFER)");
    v = 0;
    CALL(WSAIoctl(s, SO_SSL_GET_FLAGS, NULL, 0, &v, 4, NULL, NULL, NULL));
    CHECK(g_rc == 0 && v == SSL_FLAG_DEFER_HANDSHAKE,
          "GET_FLAGS with NULL pcb gives SSL_FLAG_DEFER_HANDSHAKE (got 0x%x)", (unsigned)v);

    /* GET_CAPABILITIES. */
    v = 0;
    cb = 0;
    CALL(WSAIoctl(s, SO_SSL_GET_CAPABILITIES, NULL, 0, &v, 4, &cb, NULL, NULL));
    expect_ok("GET_CAPABILITIES");
    CHECK(v == SSL_CAP_CLIENT && cb == 4,
          "GET_CAPABILITIES gives SSL_CAP_CLIENT with *pcbReturned 4 (got 0x%x, %u)",
          (unsigned)v, (unsigned)cb);
    v = 0;
    CALL(WSAIoctl(s, SO_SSL_GET_CAPABILITIES, NULL, 0, &v, 4, NULL, NULL, NULL));
    CHECK(g_rc == 0 && v == SSL_CAP_CLIENT,
          "GET_CAPABILITIES with NULL pcbReturned gives SSL_CAP_CLIENT (rc %d, got 0x%x)", g_rc,
          (unsigned)v);
    CALL(WSAIoctl(s, SO_SSL_GET_CAPABILITIES, NULL, 0, &v, 2, NULL, NULL, NULL));
    expect_error(WSAEFAULT, EFAULT, "GET_CAPABILITIES cbOut 2");

    /* Overlapped I/O is not supported. */
    memset(&ov, 0, sizeof ov);
    CALL(WSAIoctl(s, SO_SSL_GET_CAPABILITIES, NULL, 0, &v, 4, &cb, &ov, NULL));
    expect_error(WSAEOPNOTSUPP, EOPNOTSUPP, "WSAIoctl with a non-NULL lpOverlapped");

    /* SET_PEERNAME buffers. */
    CALL(WSAIoctl(s, SO_SSL_SET_PEERNAME, NULL, 10, NULL, 0, NULL, NULL, NULL));
    expect_error(WSAEFAULT, EFAULT, "SET_PEERNAME in NULL with cbIn 10");

    /* SO_SSL_SET/GET_CLIENT_OPTS: the session-cache settings, honoured (docs/api.md). */
    {
        SSLCLIENTOPTS opts;
        memset(&opts, 0xee, sizeof opts);
        cb = 0;
        CALL(WSAIoctl(s, SO_SSL_GET_CLIENT_OPTS, NULL, 0, &opts, sizeof opts, &cb, NULL, NULL));
        CHECK(g_rc == 0 && cb == sizeof opts && opts.dwCacheSize == 256 && opts.dwCacheLifetime == 0,
              "GET_CLIENT_OPTS gives the defaults {256, 0} (rc %d, cb %u, {%u, %u})", g_rc, (unsigned)cb,
              (unsigned)opts.dwCacheSize, (unsigned)opts.dwCacheLifetime);
        opts.dwCacheSize = 0;
        opts.dwCacheLifetime = 60000;
        CALL(WSAIoctl(s, SO_SSL_SET_CLIENT_OPTS, &opts, sizeof opts, NULL, 0, NULL, NULL, NULL));
        CHECK(g_rc == 0, "SET_CLIENT_OPTS {0, 60000} returns 0 (WSA %d)", g_wsa);
        memset(&opts, 0xee, sizeof opts);
        CALL(WSAIoctl(s, SO_SSL_GET_CLIENT_OPTS, NULL, 0, &opts, sizeof opts, NULL, NULL, NULL));
        CHECK(g_rc == 0 && opts.dwCacheSize == 0 && opts.dwCacheLifetime == 60000,
              "GET_CLIENT_OPTS reads back {0, 60000} (got {%u, %u})", (unsigned)opts.dwCacheSize,
              (unsigned)opts.dwCacheLifetime);
        CALL(WSAIoctl(s, SO_SSL_SET_CLIENT_OPTS, &opts, 4, NULL, 0, NULL, NULL, NULL));
        expect_error(WSAEFAULT, EFAULT, "SET_CLIENT_OPTS with 4 of its 8 bytes");
        CALL(WSAIoctl(s, SO_SSL_GET_CLIENT_OPTS, NULL, 0, &opts, 7, NULL, NULL, NULL));
        expect_error(WSAEFAULT, EFAULT, "GET_CLIENT_OPTS into 7 bytes");
        opts.dwCacheSize = 256;
        opts.dwCacheLifetime = 0;
        CALL(WSAIoctl(s, SO_SSL_SET_CLIENT_OPTS, &opts, sizeof opts, NULL, 0, NULL, NULL, NULL));
    }

    /* The CE codes sslsock does not implement. */
    {
        static const struct { DWORD code; const char *name; } unsupported[] = {
            {SO_SSL_SET_CIPHERS, "SO_SSL_SET_CIPHERS"},
            {SO_SSL_GET_CIPHERS, "SO_SSL_GET_CIPHERS"},
            {SO_SSL_SET_SERVER_OPTS, "SO_SSL_SET_SERVER_OPTS"},
            {SO_SSL_GET_SERVER_OPTS, "SO_SSL_GET_SERVER_OPTS"},
            {SO_SSL_SET_CLIENT_AUTH_OPTS, "SO_SSL_SET_CLIENT_AUTH_OPTS"},
            {SO_SSL_GET_CLIENT_AUTH_OPTS, "SO_SSL_GET_CLIENT_AUTH_OPTS"},
            {SO_SSL_SET_AUTH_REQUEST_HOOK, "SO_SSL_SET_AUTH_REQUEST_HOOK"},
            {SO_SSL_GET_AUTH_REQUEST_HOOK, "SO_SSL_GET_AUTH_REQUEST_HOOK"},
            {SO_SSL_SET_KEY_EXCH_HOOK, "SO_SSL_SET_KEY_EXCH_HOOK"},
            {SO_SSL_GET_KEY_EXCH_HOOK, "SO_SSL_GET_KEY_EXCH_HOOK"},
            {SO_SSL_SET_SIGNATURE_HOOK, "SO_SSL_SET_SIGNATURE_HOOK"},
            {SO_SSL_GET_SIGNATURE_HOOK, "SO_SSL_GET_SIGNATURE_HOOK"},
        };
        unsigned char inbuf[256], outbuf[256];
        char what[160];
        memset(inbuf, 0, sizeof inbuf);
        for (i = 0; i < (int)(sizeof unsupported / sizeof unsupported[0]); i++) {
            cb = 0;
            snprintf(what, sizeof what, "%s (0x%08X) with 256-byte buffers", unsupported[i].name,
                     (unsigned)unsupported[i].code);
            CALL(WSAIoctl(s, unsupported[i].code, inbuf, sizeof inbuf, outbuf, sizeof outbuf, &cb,
                          NULL, NULL));
            expect_error(WSAEOPNOTSUPP, EOPNOTSUPP, what);
            snprintf(what, sizeof what, "%s with NULL buffers fails without a crash",
                     unsupported[i].name);
            CALL(WSAIoctl(s, unsupported[i].code, NULL, 0, NULL, 0, NULL, NULL, NULL));
            CHECK(g_rc == SOCKET_ERROR && g_wsa != 0, "%s (WSA %d)", what, g_wsa);
        }
    }

    /* PERFORM_HANDSHAKE before connect (this socket is deferred by now). */
    CALL(WSAIoctl(s, SO_SSL_PERFORM_HANDSHAKE, NULL, 0, NULL, 0, NULL, NULL, NULL));
    expect_error(WSAENOTCONN, ENOTCONN, "PERFORM_HANDSHAKE before connect (deferred)");
    closesocket(s);

    s = new_secure();
    CALL(WSAIoctl(s, SO_SSL_PERFORM_HANDSHAKE, "localhost", 10, NULL, 0, NULL, NULL, NULL));
    expect_error(WSAENOTCONN, ENOTCONN, "PERFORM_HANDSHAKE before connect (not deferred)");

    /* send/recv on a secure socket before connect. */
    {
        char buf[8];
        CALL(send(s, "x", 1, 0));
        expect_error(WSAENOTCONN, ENOTCONN, "send on a secure socket before connect");
        CALL(recv(s, buf, sizeof buf, 0));
        expect_error(WSAENOTCONN, ENOTCONN, "recv on a secure socket before connect");
    }

    /* FIONREAD on a fresh secure socket. */
    {
        u_long n = 12345;
        unsigned int wsfionread = 0x4004667Fu;
        CALL(ioctlsocket(s, FIONREAD, &n));
        CHECK(g_rc == 0 && n == 0, "ioctlsocket FIONREAD on a fresh secure socket gives 0 (rc %d, "
              "n %lu, WSA %d)", g_rc, (unsigned long)n, g_wsa);
        n = 12345;
        CALL(ioctlsocket(s, (long)wsfionread, &n));
        CHECK(g_rc == 0 && n == 0, "ioctlsocket Winsock FIONREAD 0x4004667F on a fresh secure "
              "socket gives 0 (rc %d, n %lu, WSA %d)", g_rc, (unsigned long)n, g_wsa);
        n = 12345;
        CALL(ioctlsocket(s, (long)(int)wsfionread, &n));
        CHECK(g_rc == 0 && n == 0, "ioctlsocket FIONREAD (long)(int)0x4004667F gives 0 (rc %d, "
              "n %lu)", g_rc, (unsigned long)n);
    }
    closesocket(s);
}

/* FIONBIO in its three encodings toggles O_NONBLOCK. */
static void test_fionbio(SOCKET s, const char *kind)
{
    unsigned int wsfionbio = 0x8004667Eu;
    struct { long cmd; const char *name; } cmds[3];
    int i;

    cmds[0].cmd = FIONBIO;
    cmds[0].name = "Linux FIONBIO";
    cmds[1].cmd = (long)wsfionbio;
    cmds[1].name = "Winsock FIONBIO 0x8004667E";
    cmds[2].cmd = (long)(int)wsfionbio;
    cmds[2].name = "Winsock FIONBIO (long)(int)0x8004667E";

    for (i = 0; i < 3; i++) {
        u_long on = 1, off = 0;
        int fl;
        CALL(ioctlsocket(s, cmds[i].cmd, &on));
        fl = fcntl(s, F_GETFL);
        CHECK(g_rc == 0 && fl >= 0 && (fl & O_NONBLOCK),
              "%s: ioctlsocket %s 1 sets O_NONBLOCK (rc %d, WSA %d, flags 0x%x)", kind,
              cmds[i].name, g_rc, g_wsa, fl);
        CALL(ioctlsocket(s, cmds[i].cmd, &off));
        fl = fcntl(s, F_GETFL);
        CHECK(g_rc == 0 && fl >= 0 && !(fl & O_NONBLOCK),
              "%s: ioctlsocket %s 0 clears O_NONBLOCK (rc %d, WSA %d, flags 0x%x)", kind,
              cmds[i].name, g_rc, g_wsa, fl);
    }
}

static void test_established_states(int https_port)
{
    SOCKADDR_IN sa;
    SOCKET s = new_secure();
    DWORD v;

    CHECK(set_hook(s, accept_all, NULL) == 0, "established: SET_VALIDATE_CERT_HOOK");
    connect_addr(&sa, https_port);
    if (!CHECK(connect(s, (struct sockaddr *)&sa, sizeof sa) == 0,
               "established: immediate connect to T_PORT_HTTPS returns 0")) {
        closesocket(s);
        return;
    }
    CALL(WSAIoctl(s, SO_SSL_PERFORM_HANDSHAKE, NULL, 0, NULL, 0, NULL, NULL, NULL));
    expect_error(WSAEISCONN, EISCONN, "PERFORM_HANDSHAKE on an established non-deferred socket");
    CALL(set_flags(s, SSL_FLAG_DEFER_HANDSHAKE));
    expect_error(WSAEISCONN, EISCONN, "SET_FLAGS(DEFER) after connect");
    CALL(WSAIoctl(s, SO_SSL_SET_PEERNAME, "localhost", 10, NULL, 0, NULL, NULL, NULL));
    expect_error(WSAEISCONN, EISCONN, "SET_PEERNAME after the handshake");
    v = SO_SEC_SSL;
    CALL(setsockopt(s, SOL_SOCKET, SO_SECURE, (const char *)&v, 4));
    expect_error(WSAEISCONN, EISCONN, "setsockopt SO_SECURE again on an established secure socket");
    v = 0;
    CALL(WSAIoctl(s, SO_SSL_GET_CAPABILITIES, NULL, 0, &v, 4, NULL, NULL, NULL));
    expect_ok("GET_CAPABILITIES on an established socket");
    closesocket(s);
}

static void test_deferred_states(int starttls_port)
{
    SOCKADDR_IN sa;
    char line[128];
    SOCKET s = new_secure();

    CHECK(set_hook(s, accept_all, NULL) == 0, "deferred: SET_VALIDATE_CERT_HOOK");
    CHECK(set_flags(s, SSL_FLAG_DEFER_HANDSHAKE) == 0, "deferred: SET_FLAGS(DEFER)");
    connect_addr(&sa, starttls_port);
    if (!CHECK(connect(s, (struct sockaddr *)&sa, sizeof sa) == 0, "deferred: connect returns 0")) {
        closesocket(s);
        return;
    }
    CALL(set_flags(s, 0));
    expect_error(WSAEISCONN, EISCONN, "SET_FLAGS(0) after a deferred connect");
    CHECK(recv_line(s, line, sizeof line) > 0, "deferred: greeting");
    CHECK(send_str(s, "TLS\r\n") == 0, "deferred: TLS command");
    CALL(WSAIoctl(s, SO_SSL_PERFORM_HANDSHAKE, "localhost", 9, NULL, 0, NULL, NULL, NULL));
    expect_ok("deferred: PERFORM_HANDSHAKE(\"localhost\", strlen)");
    CALL(WSAIoctl(s, SO_SSL_PERFORM_HANDSHAKE, NULL, 0, NULL, 0, NULL, NULL, NULL));
    expect_error(WSAEISCONN, EISCONN, "PERFORM_HANDSHAKE a second time");
    CHECK(echo_roundtrip(s, "still fine"), "deferred: ECHO after the refused second handshake");
    closesocket(s);
}

static void test_plain_sockets(void)
{
    SOCKADDR_IN sa;
    SOCKET s, l, c;
    int port, rc;
    char buf[16];

    /* A port nobody listens on: bound, never listening. */
    s = new_socket();
    {
        socklen_t len = sizeof sa;
        loopback_addr(&sa, 0);
        rc = bind(s, (struct sockaddr *)&sa, sizeof sa);
        getsockname(s, (struct sockaddr *)&sa, &len);
        port = ntohs(sa.sin_port);
        CHECK(rc == 0 && port > 0, "a bound, non-listening port for ECONNREFUSED");
    }
    c = new_socket();
    loopback_addr(&sa, port);
    CALL(connect(c, (struct sockaddr *)&sa, sizeof sa));
    expect_error(WSAECONNREFUSED, ECONNREFUSED, "plain connect to a closed port");
    closesocket(c);

    c = new_secure();
    CALL(connect(c, (struct sockaddr *)&sa, sizeof sa));
    expect_error(WSAECONNREFUSED, ECONNREFUSED, "secure connect to a closed port");
    closesocket(c);
    closesocket(s);

    /* Non-blocking recv on a plain socket with nothing to read. */
    l = local_listener(&port);
    c = new_socket();
    loopback_addr(&sa, port);
    CHECK(connect(c, (struct sockaddr *)&sa, sizeof sa) == 0, "plain connect to a local listener");
    test_fionbio(c, "plain socket");
    {
        DWORD v = SO_SEC_SSL;
        CALL(setsockopt(c, SOL_SOCKET, SO_SECURE, (const char *)&v, 4));
        expect_error(WSAEISCONN, EISCONN, "setsockopt SO_SECURE on a connected plain socket");
    }
    {
        u_long on = 1;
        CHECK(ioctlsocket(c, FIONBIO, &on) == 0, "plain: FIONBIO on");
    }
    CALL(recv(c, buf, sizeof buf, 0));
    expect_error(WSAEWOULDBLOCK, EAGAIN, "plain non-blocking recv on an empty socket");
    CALL(recv(c, buf, sizeof buf, MSG_DONTWAIT));
    expect_error(WSAEWOULDBLOCK, EAGAIN, "plain recv MSG_DONTWAIT on an empty socket");
    closesocket(c);

    /* Non-blocking plain connect: EINPROGRESS (or at once), never EAGAIN. */
    c = new_socket();
    {
        u_long on = 1;
        ioctlsocket(c, FIONBIO, &on);
    }
    CALL(connect(c, (struct sockaddr *)&sa, sizeof sa));
    CHECK(g_rc == 0 || (g_rc == -1 && g_errno == EINPROGRESS),
          "plain non-blocking connect: 0 or errno EINPROGRESS (rc %d, errno %d %s)", g_rc,
          g_errno, strerror(g_errno));
    closesocket(c);
    closesocket(l);

    /* FIONBIO on a secure (unconnected) socket too. */
    c = new_secure();
    test_fionbio(c, "secure socket");
    closesocket(c);
}

static void test_last_error_untouched(void)
{
    DWORD v;
    SOCKET s = new_secure();

    WSASetLastError(0);
    v = 0;
    WSAIoctl(s, SO_SSL_GET_CAPABILITIES, NULL, 0, &v, 4, NULL, NULL, NULL);
    CHECK(WSAGetLastError() == 0, "WSASetLastError(0) + GET_CAPABILITIES: last error stays 0");

    WSASetLastError(0);
    set_hook(s, accept_all, NULL);
    CHECK(WSAGetLastError() == 0, "WSASetLastError(0) + SET_VALIDATE_CERT_HOOK: last error stays 0");

    WSASetLastError(WSAEWOULDBLOCK);
    v = SO_SEC_SSL;
    setsockopt(s, SOL_SOCKET, SO_SECURE, (const char *)&v, 4);
    CHECK(WSAGetLastError() == WSAEWOULDBLOCK,
          "a successful setsockopt leaves an earlier last error alone (got %d)",
          WSAGetLastError());
    WSASetLastError(0);
    CHECK(WSAGetLastError() == 0, "WSASetLastError(0) then WSAGetLastError() is 0");
    closesocket(s);
}

/* SO_RCVTIMEO as a 4-byte millisecond DWORD makes a blocking recv time out. */
static void timed_recv(SOCKET s, const char *what)
{
    char buf[64];
    long long t0 = now_ms(), dt;
    CALL(recv(s, buf, sizeof buf, 0));
    dt = now_ms() - t0;
    note("%s: recv returned %d after %lld ms (WSA %d, errno %d)", what, g_rc, dt, g_wsa, g_errno);
    expect_error(WSAETIMEDOUT, 0, what);
    CHECK(dt >= 100 && dt < 5000, "%s: timed out after about 300 ms (%lld ms)", what, dt);
}

static void test_rcvtimeo(int https_port, int starttls_port)
{
    SOCKADDR_IN sa;
    char line[128];
    DWORD ms = 300, got;
    socklen_t len;
    SOCKET s;

    /* Deferred, plaintext phase; the timeout set before connect. */
    s = new_secure();
    set_hook(s, accept_all, NULL);
    set_flags(s, SSL_FLAG_DEFER_HANDSHAKE);
    CALL(setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, (const char *)&ms, 4));
    expect_ok("setsockopt SO_RCVTIMEO as a 4-byte DWORD 300");
    got = 0;
    len = 4;
    CALL(getsockopt(s, SOL_SOCKET, SO_RCVTIMEO, (char *)&got, &len));
    CHECK(g_rc == 0 && got == 300 && len == 4,
          "getsockopt SO_RCVTIMEO with len 4 gives 300 ms (rc %d, got %u, len %u)", g_rc,
          (unsigned)got, (unsigned)len);
    connect_addr(&sa, starttls_port);
    if (CHECK(connect(s, (struct sockaddr *)&sa, sizeof sa) == 0, "rcvtimeo deferred: connect")) {
        CHECK(recv_line(s, line, sizeof line) > 0, "rcvtimeo deferred: greeting");
        timed_recv(s, "SO_RCVTIMEO 300 ms, deferred plaintext phase, silent server");

        /* The same socket, now after the handshake with an idle server. */
        CHECK(send_str(s, "TLS\r\n") == 0, "rcvtimeo deferred: TLS command");
        CALL(WSAIoctl(s, SO_SSL_PERFORM_HANDSHAKE, NULL, 0, NULL, 0, NULL, NULL, NULL));
        if (expect_ok("rcvtimeo deferred: PERFORM_HANDSHAKE"))
            timed_recv(s, "SO_RCVTIMEO 300 ms, after a deferred handshake, idle server");
    }
    closesocket(s);

    /* Immediate mode; the timeout set after the handshake. */
    s = new_secure();
    set_hook(s, accept_all, NULL);
    connect_addr(&sa, https_port);
    if (CHECK(connect(s, (struct sockaddr *)&sa, sizeof sa) == 0, "rcvtimeo immediate: connect")) {
        CALL(setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, (const char *)&ms, 4));
        expect_ok("setsockopt SO_RCVTIMEO 300 on an established secure socket");
        timed_recv(s, "SO_RCVTIMEO 300 ms, after handshake, idle s_server");
    }
    closesocket(s);
}

int main(void)
{
    int https_port, starttls_port;

    start_watchdog(55);
    signal(SIGPIPE, SIG_IGN);
    https_port = env_port("T_PORT_HTTPS");
    starttls_port = env_port("T_PORT_STARTTLS");

    test_startup_cleanup();
    test_so_secure();
    test_ioctl_not_secure_and_not_socket();
    test_ioctl_buffers();
    test_established_states(https_port);
    test_deferred_states(starttls_port);
    test_plain_sockets();
    test_last_error_untouched();
    test_rcvtimeo(https_port, starttls_port);

    WSACleanup();
    return finish();
}
