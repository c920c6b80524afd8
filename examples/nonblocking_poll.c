/*
 * nonblocking_poll.c: a non-blocking secure socket. connect answers WSAEWOULDBLOCK at once; poll()
 * says when to call connect again, and each call moves the TCP connect and then the TLS handshake on
 * until connect answers WSAEISCONN. Then send (waiting with poll when it would block) and recv
 * (waiting with the Winsock select) until the server ends the stream. No call ever blocks.
 *
 *   nonblocking_poll HOST PORT [LINE...]
 *
 * Sends each LINE followed by CRLF (default: "INFO" and "QUIT", two commands of sslsock's test line
 * server, tests/servers/starttls_server.py) and prints everything the server answers. HOST is also
 * the name the certificate must carry; trust anchors: SSL_CERT_FILE / SSL_CERT_DIR, else the
 * system store.
 *
 * Build: cc -std=c99 -D_DEFAULT_SOURCE nonblocking_poll.c $(pkg-config --cflags --libs sslsock)
 */
#include <winsock2.h>   /* the Windows fd_set and select (sslsock_select); define SSLSOCK_POSIX_FD_SET
                           before it for the POSIX ones: sslsock interposes those too */
#include <sslsock.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WAIT_MS 10000

static void Fail(const char *szWhat)
{
    fprintf(stderr, "nonblocking_poll: %s failed: error %d %s\n", szWhat, WSAGetLastError(),
            sslsock_last_error_reason());
    exit(1);
}

/* Waits until the socket is ready for `events`. sslsock's poll knows secure sockets: during the
 * handshake it reports them ready when the handshake can move on, and afterwards readable when
 * decrypted data waits inside sslsock even if the kernel has nothing. */
static void WaitFor(SOCKET s, short events)
{
    struct pollfd pfd;
    int n;
    pfd.fd = s;
    pfd.events = events;
    pfd.revents = 0;
    n = poll(&pfd, 1, WAIT_MS);
    if (n == SOCKET_ERROR)
        Fail("poll");
    if (n == 0) {
        fprintf(stderr, "nonblocking_poll: nothing happened for %d ms\n", WAIT_MS);
        exit(1);
    }
}

int main(int argc, char **argv)
{
    static const char *aszDefault[] = { "INFO", "QUIT" };
    WSADATA wsaData;
    SOCKET s;
    SOCKADDR_IN addr;
    SSLCONNECTIONINFO info;
    DWORD dwSecure = SO_SEC_SSL, cb = 0;
    u_long ulNonBlocking = 1;   /* a real u_long (8 bytes here): ioctlsocket writes through it */
    const char **aszLines;
    char szRequest[4096], buf[4096];
    int nLines, i, err, nRounds, cbRequest = 0, cbSent = 0;

    if (argc < 3) {
        fprintf(stderr, "usage: %s HOST PORT [LINE...]\n", argv[0]);
        return 2;
    }
    aszLines = argc > 3 ? (const char **)argv + 3 : aszDefault;
    nLines = argc > 3 ? argc - 3 : 2;
    for (i = 0; i < nLines; i++) {
        int len = snprintf(szRequest + cbRequest, sizeof szRequest - cbRequest, "%s\r\n", aszLines[i]);
        if (len < 0 || len >= (int)sizeof szRequest - cbRequest) {
            fprintf(stderr, "nonblocking_poll: the lines are too long\n");
            return 2;
        }
        cbRequest += len;
    }

    if (WSAStartup(MAKEWORD(2, 2), &wsaData) != 0)
        Fail("WSAStartup");
    s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    if (s == INVALID_SOCKET)
        Fail("socket");
    if (setsockopt(s, SOL_SOCKET, SO_SECURE, (const char *)&dwSecure, sizeof dwSecure) == SOCKET_ERROR)
        Fail("setsockopt(SO_SECURE)");
    if (WSAIoctl(s, SO_SSL_SET_PEERNAME, argv[1], (DWORD)strlen(argv[1]) + 1, NULL, 0, &cb, NULL, NULL) ==
        SOCKET_ERROR)
        Fail("WSAIoctl(SO_SSL_SET_PEERNAME)");
    if (ioctlsocket(s, FIONBIO, &ulNonBlocking) == SOCKET_ERROR)
        Fail("ioctlsocket(FIONBIO)");

    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((u_short)atoi(argv[2]));
    addr.sin_addr.s_addr = inet_addr(argv[1]);
    if (addr.sin_addr.s_addr == INADDR_NONE) {
        HOSTENT *he = gethostbyname(argv[1]);
        if (he == NULL) {
            fprintf(stderr, "nonblocking_poll: unknown host %s\n", argv[1]);
            return 1;
        }
        memcpy(&addr.sin_addr, he->h_addr_list[0], sizeof addr.sin_addr);
    }

    /* 1. connect returns at once. */
    if (connect(s, (SOCKADDR *)&addr, sizeof addr) == 0) {
        printf("connect -> 0 (connected and handshaken at once)\n");
    } else {
        if (WSAGetLastError() != WSAEWOULDBLOCK)
            Fail("connect");
        printf("connect -> SOCKET_ERROR, WSAEWOULDBLOCK: under way\n");

        /* 2. Drive it: wait for readiness (a handshake reads and writes, so ask for both), then call
         *    connect again: WSAEALREADY (or WSAEWOULDBLOCK) while under way, WSAEISCONN when done. */
        for (nRounds = 1;; nRounds++) {
            WaitFor(s, POLLIN | POLLOUT);
            if (connect(s, (SOCKADDR *)&addr, sizeof addr) == 0)
                break;
            err = WSAGetLastError();
            if (err == WSAEISCONN)
                break;
            if (err != WSAEALREADY && err != WSAEWOULDBLOCK)
                Fail("connect (handshake)");   /* e.g. WSAECONNABORTED: certificate refused */
        }
        printf("connect -> WSAEISCONN after %d poll rounds: TCP and the TLS handshake are done\n", nRounds);
    }
    if (WSAIoctl(s, SO_SSL_GET_CONNECTION_INFO, NULL, 0, &info, sizeof info, &cb, NULL, NULL) == SOCKET_ERROR)
        Fail("WSAIoctl(SO_SSL_GET_CONNECTION_INFO)");
    printf("protocol: TLS %s\n",
           info.dwProtocol == SSL_PROT_TLS1_3_CLIENT ? "1.3" : info.dwProtocol == SSL_PROT_TLS1_2_CLIENT ? "1.2" : "?");

    /* 3. Send: a non-blocking send takes what it returns; wait for POLLOUT when it takes nothing. */
    while (cbSent < cbRequest) {
        int n = send(s, szRequest + cbSent, cbRequest - cbSent, 0);
        if (n == SOCKET_ERROR) {
            if (WSAGetLastError() != WSAEWOULDBLOCK)
                Fail("send");
            WaitFor(s, POLLOUT);
            continue;
        }
        cbSent += n;
    }
    printf("sent %d bytes in %d lines\n", cbSent, nLines);

    /* 4. Receive, CE style: select with the Winsock fd_set, then recv until WSAEWOULDBLOCK. recv
     *    answers WSAEWOULDBLOCK, never blocks, while no whole TLS record has arrived. */
    printf("received:\n");
    for (;;) {
        fd_set fdsRead;
        TIMEVAL tv;
        int n;
        FD_ZERO(&fdsRead);
        FD_SET(s, &fdsRead);
        tv.tv_sec = WAIT_MS / 1000;
        tv.tv_usec = 0;
        n = select(0, &fdsRead, NULL, NULL, &tv);
        if (n == SOCKET_ERROR)
            Fail("select");
        if (n == 0) {
            fprintf(stderr, "nonblocking_poll: no answer for %d ms\n", WAIT_MS);
            return 1;
        }
        for (;;) {
            int got = recv(s, buf, sizeof buf, 0);
            if (got > 0) {
                fwrite(buf, 1, (size_t)got, stdout);
                continue;
            }
            if (got == 0) {   /* the server's close_notify: the end of the stream */
                printf("(end of stream)\n");
                closesocket(s);
                WSACleanup();
                return 0;
            }
            if (WSAGetLastError() != WSAEWOULDBLOCK)
                Fail("recv");
            break;   /* nothing more decrypted yet: back to select */
        }
    }
}
