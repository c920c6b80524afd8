/*
 * sslsock_client.c - the benchmark client on the Windows CE secure-socket API (sslsock).
 *
 * The workloads are bench/client_main.h's (identical in bench/openssl_client.c); this file is the
 * transport as a program ported from Windows CE writes it: WSAStartup, socket, setsockopt(SO_SECURE),
 * WSAIoctl(SO_SSL_SET_PEERNAME), connect (the handshake happens inside), send, recv, closesocket.
 * No validation hook: sslsock decides (trust anchors from SSL_CERT_FILE, the peer name checked), so
 * sessions are resumed by default; a connection that must not resume sets
 * SO_SSL_SET_CLIENT_OPTS {dwCacheSize 0, 0} (see docs/api.md).
 *
 *   cc -O2 -std=c99 -D_DEFAULT_SOURCE -I include bench/sslsock_client.c -L target/release -lsslsock \
 *      -lpthread -o sslsock_client
 *   SSL_CERT_FILE=ca.pem ./sslsock_client --port P WORKLOAD ARGS...     (see bench/client_main.h)
 */
#define _GNU_SOURCE
#include <winsock2.h>
#include <sslsock.h>

#include "client_main.h"

static const char *T_NAME = "sslsock_client";

struct conn {
    SOCKET s;
};

static int t_init(const struct peer *p)
{
    WSADATA wsa;
    (void)p;
    if (WSAStartup(MAKEWORD(2, 2), &wsa) != 0)
        return -1;
    return 0;
}

static struct conn *t_open(const struct peer *p, int resume)
{
    SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    DWORD secure = SO_SEC_SSL;
    if (s == INVALID_SOCKET) {
        fprintf(stderr, "%s: socket: %d\n", T_NAME, WSAGetLastError());
        return NULL;
    }
    if (setsockopt(s, SOL_SOCKET, SO_SECURE, (const char *)&secure, sizeof secure) != 0 ||
        WSAIoctl(s, SO_SSL_SET_PEERNAME, (LPVOID)p->name, (DWORD)strlen(p->name) + 1, NULL, 0, NULL,
                 NULL, NULL) != 0) {
        fprintf(stderr, "%s: SO_SECURE/SO_SSL_SET_PEERNAME: %d\n", T_NAME, WSAGetLastError());
        closesocket(s);
        return NULL;
    }
    if (!resume) {
        SSLCLIENTOPTS opts;
        opts.dwCacheSize = 0;
        opts.dwCacheLifetime = 0;
        if (WSAIoctl(s, SO_SSL_SET_CLIENT_OPTS, &opts, sizeof opts, NULL, 0, NULL, NULL, NULL) != 0) {
            fprintf(stderr, "%s: SO_SSL_SET_CLIENT_OPTS: %d\n", T_NAME, WSAGetLastError());
            closesocket(s);
            return NULL;
        }
    }
    if (p->nodelay) {
        int one = 1;
        setsockopt(s, IPPROTO_TCP, TCP_NODELAY, (const char *)&one, sizeof one);
    }
    if (connect(s, (const SOCKADDR *)&p->addr, sizeof p->addr) == SOCKET_ERROR) {
        fprintf(stderr, "%s: connect: %d (%s)\n", T_NAME, WSAGetLastError(),
                sslsock_last_error_reason());
        closesocket(s);
        return NULL;
    }
    struct conn *c = malloc(sizeof *c);
    c->s = s;
    return c;
}

static int t_send(struct conn *c, const void *buf, size_t len)
{
    const char *b = buf;
    while (len > 0) {
        int n = send(c->s, b, len > 0x40000000 ? 0x40000000 : (int)len, 0);
        if (n == SOCKET_ERROR) {
            fprintf(stderr, "%s: send: %d (%s)\n", T_NAME, WSAGetLastError(),
                    sslsock_last_error_reason());
            return -1;
        }
        b += n;
        len -= (size_t)n;
    }
    return 0;
}

static long t_recv(struct conn *c, void *buf, size_t len)
{
    int n = recv(c->s, buf, len > 0x40000000 ? 0x40000000 : (int)len, 0);
    if (n == SOCKET_ERROR) {
        fprintf(stderr, "%s: recv: %d (%s)\n", T_NAME, WSAGetLastError(), sslsock_last_error_reason());
        return -1;
    }
    return n;
}

static void t_close(struct conn *c)
{
    closesocket(c->s);
    free(c);
}

static void t_info(struct conn *c, char *out, size_t n)
{
    SSLCONNECTIONINFO info;
    DWORD got = 0;
    if (WSAIoctl(c->s, SO_SSL_GET_CONNECTION_INFO, NULL, 0, &info, sizeof info, &got, NULL, NULL) != 0) {
        snprintf(out, n, "proto=? (SO_SSL_GET_CONNECTION_INFO: %d)", WSAGetLastError());
        return;
    }
    snprintf(out, n, "proto=%s cipher=0x%x/%u hash=0x%x/%u exch=0x%x/%u",
             info.dwProtocol == SSL_PROT_TLS1_3_CLIENT   ? "TLSv1.3"
             : info.dwProtocol == SSL_PROT_TLS1_2_CLIENT ? "TLSv1.2"
                                                         : "?",
             (unsigned)info.aiCipher, (unsigned)info.dwCipherStrength, (unsigned)info.aiHash,
             (unsigned)info.dwHashStrength, (unsigned)info.aiExch, (unsigned)info.dwExchStrength);
}

static int t_resumed(struct conn *c)
{
    (void)c;
    return -1; /* the CE API does not say; the server's counters do (bench/run.sh) */
}
