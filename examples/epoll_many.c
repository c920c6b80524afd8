/*
 * epoll_many.c: several non-blocking secure sockets driven from one epoll loop (level-triggered).
 * Each connection: connect answers WSAEWOULDBLOCK, the loop calls connect again whenever epoll says
 * the socket is ready until it answers WSAEISCONN (TCP, then the TLS handshake); then it sends
 * "ECHO conn C line L" for L = 1..LINES and QUIT, and reads the answers with ONE small recv per
 * wake-up. The rest of each record waits decrypted inside sslsock, and sslsock's epoll_wait reports
 * the socket readable again for it (the kernel alone would not: its queue is empty by then).
 *
 *   epoll_many HOST PORT [CONNECTIONS [LINES]]     (defaults: 4 connections, 3 lines)
 *
 * For sslsock's test line server (tests/servers/starttls_server.py) in immediate-TLS mode. HOST is
 * also the name the certificate must carry; trust anchors: SSL_CERT_FILE / SSL_CERT_DIR, else the
 * system store. Prints each connection's answers and "all N connections done" at the end.
 *
 * Build: cc -std=c99 -D_DEFAULT_SOURCE epoll_many.c $(pkg-config --cflags --libs sslsock)
 */
#include <winsock2.h>
#include <sslsock.h>
#include <sys/epoll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_CONN 64
#define WAIT_MS 10000
#define RECV_CHUNK 7   /* small on purpose: most of each record stays inside sslsock */

struct conn {
    SOCKET s;
    int connected;       /* the handshake is done */
    char out[4096];      /* what is left to send */
    int cbOut, cbSent;
    char in[8192];       /* what came back */
    int cbIn;
    int done;            /* the server ended the stream */
};

static void Fail(const char *szWhat, int c)
{
    fprintf(stderr, "epoll_many: connection %d: %s failed: error %d %s\n", c, szWhat, WSAGetLastError(),
            sslsock_last_error_reason());
    exit(1);
}

/* The events a connection waits for: both during the handshake (it reads and writes), then
 * EPOLLIN, and EPOLLOUT too while a request is not all sent. */
static void Watch(int ep, struct conn *k, int c, int op)
{
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    if (!k->connected || k->cbSent < k->cbOut)
        ev.events |= EPOLLOUT;
    ev.data.u32 = (uint32_t)c;
    if (epoll_ctl(ep, op, k->s, &ev) != 0)
        Fail("epoll_ctl", c);
}

int main(int argc, char **argv)
{
    static struct conn conns[MAX_CONN];
    WSADATA wsaData;
    SOCKADDR_IN addr;
    DWORD dwSecure = SO_SEC_SSL, cb = 0;
    int nConn = 4, nLines = 3, nDone = 0, nWakeups = 0, ep, c, l;

    if (argc < 3) {
        fprintf(stderr, "usage: %s HOST PORT [CONNECTIONS [LINES]]\n", argv[0]);
        return 2;
    }
    if (argc > 3)
        nConn = atoi(argv[3]);
    if (argc > 4)
        nLines = atoi(argv[4]);
    if (nConn < 1 || nConn > MAX_CONN || nLines < 0 || nLines > 50) {
        fprintf(stderr, "epoll_many: 1 to %d connections, 0 to 50 lines\n", MAX_CONN);
        return 2;
    }
    if (WSAStartup(MAKEWORD(2, 2), &wsaData) != 0)
        Fail("WSAStartup", -1);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((u_short)atoi(argv[2]));
    addr.sin_addr.s_addr = inet_addr(argv[1]);
    if (addr.sin_addr.s_addr == INADDR_NONE) {
        HOSTENT *he = gethostbyname(argv[1]);
        if (he == NULL) {
            fprintf(stderr, "epoll_many: unknown host %s\n", argv[1]);
            return 1;
        }
        memcpy(&addr.sin_addr, he->h_addr_list[0], sizeof addr.sin_addr);
    }
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        Fail("epoll_create1", -1);

    /* 1. Every connection starts at once: non-blocking, secure, connect → WSAEWOULDBLOCK. */
    for (c = 0; c < nConn; c++) {
        struct conn *k = &conns[c];
        u_long ulNonBlocking = 1;
        k->s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
        if (k->s == INVALID_SOCKET)
            Fail("socket", c);
        if (setsockopt(k->s, SOL_SOCKET, SO_SECURE, (const char *)&dwSecure, sizeof dwSecure) == SOCKET_ERROR)
            Fail("setsockopt(SO_SECURE)", c);
        if (WSAIoctl(k->s, SO_SSL_SET_PEERNAME, argv[1], (DWORD)strlen(argv[1]) + 1, NULL, 0, &cb, NULL, NULL) ==
            SOCKET_ERROR)
            Fail("WSAIoctl(SO_SSL_SET_PEERNAME)", c);
        if (ioctlsocket(k->s, FIONBIO, &ulNonBlocking) == SOCKET_ERROR)
            Fail("ioctlsocket(FIONBIO)", c);
        for (l = 1; l <= nLines; l++)
            k->cbOut += snprintf(k->out + k->cbOut, sizeof k->out - (size_t)k->cbOut, "ECHO conn %d line %d\r\n",
                                 c, l);
        k->cbOut += snprintf(k->out + k->cbOut, sizeof k->out - (size_t)k->cbOut, "QUIT\r\n");
        if (connect(k->s, (SOCKADDR *)&addr, sizeof addr) == 0)
            k->connected = 1;
        else if (WSAGetLastError() != WSAEWOULDBLOCK)
            Fail("connect", c);
        /* Registered after SO_SECURE: the epoll set sees it as sslsock does. */
        Watch(ep, k, c, EPOLL_CTL_ADD);
    }
    printf("%d connections under way, one epoll set\n", nConn);

    /* 2. The loop. */
    while (nDone < nConn) {
        struct epoll_event evs[MAX_CONN];
        int n = epoll_wait(ep, evs, MAX_CONN, WAIT_MS), i;
        if (n < 0)
            Fail("epoll_wait", -1);
        if (n == 0) {
            fprintf(stderr, "epoll_many: nothing happened for %d ms\n", WAIT_MS);
            return 1;
        }
        nWakeups++;
        for (i = 0; i < n; i++) {
            struct conn *k;
            c = (int)evs[i].data.u32;
            k = &conns[c];
            if (k->done)
                continue;
            if (!k->connected) {
                int err;
                if (connect(k->s, (SOCKADDR *)&addr, sizeof addr) == 0 || (err = WSAGetLastError()) == WSAEISCONN) {
                    k->connected = 1;
                    printf("connection %d: TLS established\n", c);
                    Watch(ep, k, c, EPOLL_CTL_MOD);
                } else if (err != WSAEALREADY && err != WSAEWOULDBLOCK) {
                    Fail("connect (handshake)", c);
                }
                continue;
            }
            if (k->cbSent < k->cbOut && (evs[i].events & EPOLLOUT)) {
                int sent = send(k->s, k->out + k->cbSent, k->cbOut - k->cbSent, 0);
                if (sent == SOCKET_ERROR && WSAGetLastError() != WSAEWOULDBLOCK)
                    Fail("send", c);
                if (sent > 0) {
                    k->cbSent += sent;
                    if (k->cbSent == k->cbOut)
                        Watch(ep, k, c, EPOLL_CTL_MOD);   /* all sent: EPOLLIN only */
                }
            }
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                /* One small recv per wake-up: level-triggered epoll reports the rest again. */
                int room = (int)sizeof k->in - k->cbIn - 1;
                int got = recv(k->s, k->in + k->cbIn, room < RECV_CHUNK ? room : RECV_CHUNK, 0);
                if (got > 0) {
                    k->cbIn += got;
                } else if (got == 0) {
                    k->in[k->cbIn] = '\0';
                    printf("connection %d: received:\n%s(end of stream)\n", c, k->in);
                    k->done = 1;
                    nDone++;
                    if (epoll_ctl(ep, EPOLL_CTL_DEL, k->s, NULL) != 0)
                        Fail("epoll_ctl(DEL)", c);
                    closesocket(k->s);
                } else if (WSAGetLastError() != WSAEWOULDBLOCK) {
                    Fail("recv", c);
                }
            }
        }
    }
    printf("all %d connections done (%d wake-ups)\n", nConn, nWakeups);
    close(ep);
    WSACleanup();
    return 0;
}
