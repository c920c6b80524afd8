/*
 * legacy_ce.c - a Windows CE secure-socket client as a legacy port is written, linked against
 * a Winsock layer that knows nothing of sslsock (libwinsock_stub.so) and NOT against libsslsock.
 * tests/preload/stub.sh runs it twice:
 *   (a) as linked: the stub cannot make sockets secure, so the deferred handshake fails;
 *   (b) under tools/sslsock-run (LD_PRELOAD=libsslsock.so): everything below passes.
 *
 *   legacy_ce HOST STARTTLS_PORT ECHO_PORT
 *
 * STARTTLS_PORT runs tests/servers/starttls_server.py (certificate for localhost, trusted through
 * SSL_CERT_FILE), ECHO_PORT a plain TCP echo.  What it does, one "ok - " / "not ok - " line each:
 *  A  a secure socket with a hook and SSL_FLAG_DEFER_HANDSHAKE: plaintext greeting, EHLO, STARTTLS,
 *     SO_SSL_PERFORM_HANDSHAKE, an encrypted ECHO and INFO (the first secure step that fails ends
 *     the program with exit status 1, as a CE program would give up);
 *  B  a second secure socket, immediate handshake inside connect, an encrypted ECHO;
 *  then A is closed with closesocket and B with POSIX close;
 *  C, D  two new plain sockets, which get A's and B's descriptor numbers again: C talks plaintext
 *     to the echo server, D the plaintext line protocol of the STARTTLS server (NOOP, QUIT);
 *     getsockopt(SO_SECURE) says SO_SEC_NONE on both;
 *  and nothing is left behind: the descriptor count is what it was before A.
 * Lines "# port X=n" give each connection's local port, for the script to find it in server logs.
 */
#include <winsock2.h>
#include <sslsock.h>

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int g_fail;

/* The stub has no sslsock_last_error_reason: look it up, it exists only under the preload. */
static const char *Reason(void)
{
    const char *(*fn)(void) = (const char *(*)(void))dlsym(RTLD_DEFAULT, "sslsock_last_error_reason");
    const char *r = fn ? fn() : NULL;
    return r && *r ? r : "-";
}

static int Check(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int Check(int ok, const char *fmt, ...)
{
    int wsa = WSAGetLastError(), err = errno;
    va_list ap;
    printf(ok ? "ok - " : "not ok - ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    if (!ok) {
        printf(" (WSAGetLastError()=%d, errno=%d %s, reason=%s)", wsa, err, strerror(err), Reason());
        g_fail++;
    }
    printf("\n");
    fflush(stdout);
    return ok;
}

/* A secure step failed: a legacy program gives up here. */
static void GiveUp(SOCKET s)
{
    printf("# giving up: the secure socket cannot be used\n");
    fflush(stdout);
    if (s != INVALID_SOCKET)
        closesocket(s);
    exit(1);
}

static int CountFds(void)
{
    int n = 0;
    struct dirent *e;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

static int FdOpen(int fd)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    return access(path, F_OK) == 0;
}

static int LocalPort(SOCKET s)
{
    SOCKADDR_IN a;
    socklen_t len = sizeof a;
    if (getsockname(s, (SOCKADDR *)&a, &len) != 0)
        return -1;
    return ntohs(a.sin_port);
}

static int RecvLine(SOCKET s, char *buf, int cap)
{
    int n = 0;
    for (;;) {
        char c;
        int r = recv(s, &c, 1, 0);
        if (r == SOCKET_ERROR)
            return -1;
        if (r == 0)
            return n > 0 ? n : -2;
        if (c == '\n')
            break;
        if (c != '\r' && n < cap - 1)
            buf[n++] = c;
    }
    buf[n] = 0;
    return n;
}

static int SendLine(SOCKET s, const char *line)
{
    char buf[512];
    int len = snprintf(buf, sizeof buf, "%s\r\n", line);
    return send(s, buf, len, 0) == len;
}

/* Sends a line, reads one, checks its prefix. */
static int Ask(SOCKET s, const char *line, const char *prefix, const char *what)
{
    char got[512] = "";
    int ok = (line == NULL || SendLine(s, line)) && RecvLine(s, got, sizeof got) >= 0 &&
             strncmp(got, prefix, strlen(prefix)) == 0;
    return Check(ok, "%s (got \"%s\")", what, got);
}

static SOCKADDR_IN Addr(const char *host, int port)
{
    SOCKADDR_IN a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((u_short)port);
    a.sin_addr.s_addr = inet_addr(host);
    return a;
}

static void Timeouts(SOCKET s)
{
    DWORD ms = 10000;
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, (const char *)&ms, sizeof ms);
    setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, (const char *)&ms, sizeof ms);
}

typedef struct {
    int nCalls;
    DWORD dwFlags;
} HOOKSEEN;

static int CALLBACK ValidateCert(DWORD dwType, LPVOID pvArg, DWORD dwChainLen, LPBLOB pCertChain, DWORD dwFlags)
{
    HOOKSEEN *seen = (HOOKSEEN *)pvArg;
    seen->nCalls++;
    seen->dwFlags = dwFlags;
    if (dwType != SSL_CERT_X509)
        return SSL_ERR_BAD_TYPE;
    if (dwChainLen < 1 || !pCertChain || !pCertChain[0].pBlobData)
        return SSL_ERR_NO_CERT;
    if (dwFlags & SSL_CERT_FLAG_ISSUER_UNKNOWN)
        return SSL_ERR_CERT_UNKNOWN;
    return SSL_ERR_OKAY;
}

/* socket + SO_SECURE + hook (+ SSL_FLAG_DEFER_HANDSHAKE); gives up on a failed secure step only
 * after trying them all, so that run (a) shows each refusal. */
static SOCKET SecureSocket(const char *name, HOOKSEEN *seen, int defer)
{
    DWORD dwSecure = SO_SEC_SSL, dwFlags = SSL_FLAG_DEFER_HANDSHAKE, cb = 0;
    SSLVALIDATECERTHOOK hook;
    SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    int secure_ok = 1;
    if (!Check(s != INVALID_SOCKET, "%s: socket()", name))
        exit(1);
    Timeouts(s);
    secure_ok &= Check(setsockopt(s, SOL_SOCKET, SO_SECURE, (const char *)&dwSecure, sizeof dwSecure) == 0,
                       "%s: setsockopt(SO_SECURE, SO_SEC_SSL)", name);
    hook.HookFunc = ValidateCert;
    hook.pvArg = seen;
    secure_ok &= Check(WSAIoctl(s, SO_SSL_SET_VALIDATE_CERT_HOOK, &hook, sizeof hook, NULL, 0, &cb, NULL, NULL) == 0,
                       "%s: WSAIoctl(SO_SSL_SET_VALIDATE_CERT_HOOK)", name);
    if (defer)
        secure_ok &= Check(WSAIoctl(s, SO_SSL_SET_FLAGS, &dwFlags, sizeof dwFlags, NULL, 0, &cb, NULL, NULL) == 0,
                           "%s: WSAIoctl(SO_SSL_SET_FLAGS, SSL_FLAG_DEFER_HANDSHAKE)", name);
    else
        secure_ok &= Check(WSAIoctl(s, SO_SSL_SET_PEERNAME, (LPVOID) "localhost", 10, NULL, 0, &cb, NULL, NULL) == 0,
                           "%s: WSAIoctl(SO_SSL_SET_PEERNAME, \"localhost\")", name);
    (void)secure_ok;
    return s;
}

int main(int argc, char **argv)
{
    WSADATA wsa;
    HOOKSEEN seenA = {0, 0}, seenB = {0, 0};
    SSLCONNECTIONINFO info;
    SOCKADDR_IN starttls, echo;
    SOCKET a, b, c, d;
    DWORD cb = 0, sec = 0xFFFF;
    socklen_t len;
    char buf[512];
    int fds0, r;

    if (argc < 4) {
        fprintf(stderr, "usage: %s HOST STARTTLS_PORT ECHO_PORT\n", argv[0]);
        return 2;
    }
    starttls = Addr(argv[1], atoi(argv[2]));
    echo = Addr(argv[1], atoi(argv[3]));

    Check(WSAStartup(MAKEWORD(2, 2), &wsa) == 0, "WSAStartup (%s)", wsa.szDescription);
    fds0 = CountFds();

    /* ---- A: deferred handshake (STARTTLS) ---- */
    a = SecureSocket("A", &seenA, 1);
    if (!Check(connect(a, (SOCKADDR *)&starttls, sizeof starttls) == 0, "A: connect (plain TCP, handshake deferred)"))
        GiveUp(a);
    printf("# port A=%d fd=%d\n", LocalPort(a), (int)a);
    Check(seenA.nCalls == 0, "A: the hook was not called by connect");
    Ask(a, NULL, "220", "A: plaintext greeting 220");
    Ask(a, "EHLO legacy-ce", "250", "A: plaintext EHLO -> 250");
    Ask(a, "STARTTLS", "220", "A: plaintext STARTTLS -> 220");
    if (!Check(WSAIoctl(a, SO_SSL_PERFORM_HANDSHAKE, (LPVOID) "localhost", 10, NULL, 0, &cb, NULL, NULL) == 0,
               "A: WSAIoctl(SO_SSL_PERFORM_HANDSHAKE, \"localhost\")"))
        GiveUp(a);
    Check(seenA.nCalls == 1 && seenA.dwFlags == 0, "A: the hook ran once with dwFlags 0 (calls %d, flags 0x%x)",
          seenA.nCalls, (unsigned)seenA.dwFlags);
    memset(&info, 0, sizeof info);
    r = WSAIoctl(a, SO_SSL_GET_CONNECTION_INFO, NULL, 0, &info, sizeof info, &cb, NULL, NULL);
    Check(r == 0 && (info.dwProtocol == SSL_PROT_TLS1_2_CLIENT || info.dwProtocol == SSL_PROT_TLS1_3_CLIENT),
          "A: SO_SSL_GET_CONNECTION_INFO (protocol 0x%x)", (unsigned)info.dwProtocol);
    Ask(a, "ECHO over TLS on A", "over TLS on A", "A: encrypted ECHO");
    Ask(a, "INFO", "TLS", "A: encrypted INFO (server sees TLS)");

    /* ---- B: immediate handshake inside connect ---- */
    b = SecureSocket("B", &seenB, 0);
    if (!Check(connect(b, (SOCKADDR *)&starttls, sizeof starttls) == 0, "B: connect (TLS handshake inside)"))
        GiveUp(b);
    printf("# port B=%d fd=%d\n", LocalPort(b), (int)b);
    Check(seenB.nCalls == 1 && seenB.dwFlags == 0, "B: the hook ran once with dwFlags 0");
    Ask(b, "ECHO over TLS on B", "over TLS on B", "B: encrypted ECHO");

    /* ---- close A with closesocket, B with POSIX close ---- */
    Check(closesocket(a) == 0, "A: closesocket");
    Check(close(b) == 0, "B: POSIX close");
    Check(!FdOpen(a), "A's descriptor %d is closed", (int)a);
    Check(!FdOpen(b), "B's descriptor %d is closed", (int)b);

    /* ---- C, D: new plain sockets on the same numbers ---- */
    c = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    d = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    Check((c == a && d == b) || (c == b && d == a), "C and D reuse A's and B's descriptors (C=%d D=%d, A=%d B=%d)",
          (int)c, (int)d, (int)a, (int)b);
    Timeouts(c);
    Timeouts(d);
    len = sizeof sec;
    Check(getsockopt(c, SOL_SOCKET, SO_SECURE, (char *)&sec, &len) == 0 && sec == SO_SEC_NONE,
          "C: getsockopt(SO_SECURE) = SO_SEC_NONE");
    sec = 0xFFFF;
    len = sizeof sec;
    Check(getsockopt(d, SOL_SOCKET, SO_SECURE, (char *)&sec, &len) == 0 && sec == SO_SEC_NONE,
          "D: getsockopt(SO_SECURE) = SO_SEC_NONE");
    Check(WSAIoctl(c, SO_SSL_GET_CONNECTION_INFO, NULL, 0, &info, sizeof info, &cb, NULL, NULL) == SOCKET_ERROR &&
              WSAGetLastError() == WSAEINVAL,
          "C: SO_SSL_GET_CONNECTION_INFO fails with WSAEINVAL (not secure)");

    Check(connect(c, (SOCKADDR *)&echo, sizeof echo) == 0, "C: connect to the plain echo server");
    printf("# port C=%d fd=%d\n", LocalPort(c), (int)c);
    {
        static const char msg[] = "plaintext on a reused descriptor\n";
        int got = 0;
        Check(send(c, msg, sizeof msg - 1, 0) == (int)sizeof msg - 1, "C: send plaintext");
        while (got < (int)sizeof msg - 1 && (r = recv(c, buf + got, sizeof buf - 1 - got, 0)) > 0)
            got += r;
        buf[got] = 0;
        Check(got == (int)sizeof msg - 1 && memcmp(buf, msg, got) == 0, "C: the echo gives back the same plaintext");
        Check(shutdown(c, SD_SEND) == 0 && recv(c, buf, sizeof buf, 0) == 0, "C: shutdown, end of stream");
    }
    Check(close(c) == 0, "C: close");

    Check(connect(d, (SOCKADDR *)&starttls, sizeof starttls) == 0, "D: connect to the STARTTLS server (plain)");
    printf("# port D=%d fd=%d\n", LocalPort(d), (int)d);
    Ask(d, NULL, "220", "D: plaintext greeting 220");
    Ask(d, "NOOP", "250 OK", "D: plaintext NOOP -> 250 OK");
    Ask(d, "QUIT", "221", "D: plaintext QUIT -> 221");
    Check(recv(d, buf, sizeof buf, 0) == 0, "D: end of stream");
    Check(closesocket(d) == 0, "D: closesocket");

    Check(CountFds() == fds0, "no descriptor left behind (%d open, %d before A)", CountFds(), fds0);
    Check(WSACleanup() == 0, "WSACleanup");
    printf("# %s\n", g_fail ? "FAILED" : "all passed");
    return g_fail ? 1 : 0;
}
