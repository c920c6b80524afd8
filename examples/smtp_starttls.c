/*
 * smtp_starttls.c: SMTP with STARTTLS on a Windows CE secure socket (the deferred handshake).
 *
 *   smtp_starttls HOST PORT [SERVER-NAME]
 *
 * The socket is made secure before connect, but with SSL_FLAG_DEFER_HANDSHAKE: connect is plain
 * TCP, the greeting, EHLO and STARTTLS go in plaintext, then SO_SSL_PERFORM_HANDSHAKE turns the same
 * socket into TLS and the session goes on (EHLO again, QUIT) with the same send/recv calls.
 * SERVER-NAME (default HOST) is the name the certificate must carry; trust anchors come from
 * SSL_CERT_FILE / SSL_CERT_DIR, else the system store.
 *
 * Build: cc -std=c99 -D_DEFAULT_SOURCE smtp_starttls.c $(pkg-config --cflags --libs sslsock)
 * This is the code of a CE program, unchanged but for the includes: only sslsock is Linux-specific.
 */
#include <winsock2.h>
#include <sslsock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void Fail(const char *szWhat)
{
    /* WSAGetLastError() is the Winsock code; sslsock_last_error_reason() says why in words. */
    fprintf(stderr, "smtp_starttls: %s failed: error %d %s\n", szWhat, WSAGetLastError(),
            sslsock_last_error_reason());
    exit(1);
}

/* The certificate hook a CE program installs. sslsock has already checked the chain against the
 * trust anchors and the certificate against the server name: SSL_CERT_FLAG_ISSUER_UNKNOWN in dwFlags
 * means that check failed. Anything but SSL_ERR_OKAY aborts the handshake. */
static int CALLBACK ValidateCert(DWORD dwType, LPVOID pvArg, DWORD dwChainLen, LPBLOB pCertChain,
                                 DWORD dwFlags)
{
    (void)pvArg;
    if (dwType != SSL_CERT_X509 || dwChainLen < 1)
        return SSL_ERR_BAD_TYPE;
    printf("-- hook: server certificate, %u bytes of DER, flags 0x%x\n", (unsigned)pCertChain[0].cbSize,
           (unsigned)dwFlags);
    if (dwFlags & SSL_CERT_FLAG_ISSUER_UNKNOWN)
        return SSL_ERR_CERT_UNKNOWN;
    return SSL_ERR_OKAY;
}

static void SendLine(SOCKET s, const char *szLine)
{
    char buf[512];
    int len = snprintf(buf, sizeof buf, "%s\r\n", szLine);
    if (send(s, buf, len, 0) != len)
        Fail("send");
    printf("C: %s\n", szLine);
}

/* Reads one SMTP reply (every line of a multi-line "250-..." reply) and returns its code. One byte
 * per recv: before STARTTLS nothing may be read beyond the reply, or bytes the server sends after it
 * would be taken as plaintext (the STARTTLS injection problem). */
static int ReadReply(SOCKET s)
{
    char line[512];
    for (;;) {
        int n = 0;
        for (;;) {
            char c;
            int r = recv(s, &c, 1, 0);
            if (r == SOCKET_ERROR)
                Fail("recv");
            if (r == 0) {
                fprintf(stderr, "smtp_starttls: the server closed the connection\n");
                exit(1);
            }
            if (c == '\n')
                break;
            if (c != '\r' && n < (int)sizeof line - 1)
                line[n++] = c;
        }
        line[n] = 0;
        printf("S: %s\n", line);
        if (n < 4 || line[3] != '-')    /* "250 ..." ends the reply, "250-..." does not */
            return atoi(line);
    }
}

static void Expect(SOCKET s, int code)
{
    int got = ReadReply(s);
    if (got != code) {
        fprintf(stderr, "smtp_starttls: expected a %d reply, got %d\n", code, got);
        exit(1);
    }
}

int main(int argc, char **argv)
{
    WSADATA wsaData;
    SOCKET s;
    SOCKADDR_IN addr;
    SSLVALIDATECERTHOOK hook;
    SSLCONNECTIONINFO info;
    DWORD dwSecure = SO_SEC_SSL, dwFlags = 0, cb = 0;
    const char *szHost, *szServerName;

    if (argc < 3) {
        fprintf(stderr, "usage: %s HOST PORT [SERVER-NAME]\n", argv[0]);
        return 2;
    }
    szHost = argv[1];
    szServerName = argc > 3 ? argv[3] : szHost;

    if (WSAStartup(MAKEWORD(2, 2), &wsaData) != 0)
        Fail("WSAStartup");

    /* A TCP socket, made secure before connect: nothing will leave it in plaintext except in the
     * deferred window that SSL_FLAG_DEFER_HANDSHAKE opens below. */
    s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    if (s == INVALID_SOCKET)
        Fail("socket");
    if (setsockopt(s, SOL_SOCKET, SO_SECURE, (const char *)&dwSecure, sizeof dwSecure) == SOCKET_ERROR)
        Fail("setsockopt(SO_SECURE)");

    hook.HookFunc = ValidateCert;
    hook.pvArg = NULL;
    if (WSAIoctl(s, SO_SSL_SET_VALIDATE_CERT_HOOK, &hook, sizeof hook, NULL, 0, &cb, NULL, NULL) == SOCKET_ERROR)
        Fail("WSAIoctl(SO_SSL_SET_VALIDATE_CERT_HOOK)");

    /* Defer the handshake: connect will be plain TCP. */
    if (WSAIoctl(s, SO_SSL_GET_FLAGS, NULL, 0, &dwFlags, sizeof dwFlags, &cb, NULL, NULL) == SOCKET_ERROR)
        Fail("WSAIoctl(SO_SSL_GET_FLAGS)");
    dwFlags |= SSL_FLAG_DEFER_HANDSHAKE;
    if (WSAIoctl(s, SO_SSL_SET_FLAGS, &dwFlags, sizeof dwFlags, NULL, 0, &cb, NULL, NULL) == SOCKET_ERROR)
        Fail("WSAIoctl(SO_SSL_SET_FLAGS)");

    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((u_short)atoi(argv[2]));
    addr.sin_addr.s_addr = inet_addr(szHost);
    if (addr.sin_addr.s_addr == INADDR_NONE) {
        HOSTENT *he = gethostbyname(szHost);
        if (he == NULL) {
            fprintf(stderr, "smtp_starttls: unknown host %s\n", szHost);
            return 1;
        }
        memcpy(&addr.sin_addr, he->h_addr_list[0], sizeof addr.sin_addr);
    }
    if (connect(s, (SOCKADDR *)&addr, sizeof addr) == SOCKET_ERROR)
        Fail("connect");

    /* Plaintext: greeting, EHLO, STARTTLS. */
    Expect(s, 220);
    SendLine(s, "EHLO client.example");
    Expect(s, 250);
    SendLine(s, "STARTTLS");
    Expect(s, 220);

    /* The TLS handshake, now, on this thread. The name is sent as SNI and checked against the
     * certificate; the hook is called during this call. */
    if (WSAIoctl(s, SO_SSL_PERFORM_HANDSHAKE, (LPVOID)szServerName, (DWORD)strlen(szServerName) + 1, NULL, 0,
                 &cb, NULL, NULL) == SOCKET_ERROR)
        Fail("WSAIoctl(SO_SSL_PERFORM_HANDSHAKE)");
    if (WSAIoctl(s, SO_SSL_GET_CONNECTION_INFO, NULL, 0, &info, sizeof info, &cb, NULL, NULL) == SOCKET_ERROR)
        Fail("WSAIoctl(SO_SSL_GET_CONNECTION_INFO)");
    printf("-- TLS %s established with %s\n",
           info.dwProtocol == SSL_PROT_TLS1_3_CLIENT ? "1.3" : info.dwProtocol == SSL_PROT_TLS1_2_CLIENT ? "1.2" : "?",
           szServerName);

    /* Encrypted from here on, through the same calls. SMTP forgets the session state at STARTTLS:
     * EHLO again. */
    SendLine(s, "EHLO client.example");
    Expect(s, 250);
    SendLine(s, "QUIT");
    Expect(s, 221);

    shutdown(s, SD_BOTH);   /* sends our close_notify */
    closesocket(s);
    WSACleanup();
    printf("-- done\n");
    return 0;
}
