/*
 * two_threads.c: one thread sends while another receives, on the same secure socket.
 *
 *   two_threads HOST PORT [COUNT]
 *
 * Speaks the line protocol of sslsock's test server (tests/servers/starttls_server.py, which takes
 * TLS at once when the client starts with a handshake): the sender thread sends COUNT (default 200)
 * "ECHO message N" lines and then QUIT; the main thread, meanwhile blocked in recv, checks that the
 * COUNT echoes come back in order, then the server's BYE and the end of the stream. The sender does
 * not wait for the receiver: sslsock lets one thread block in recv while another sends (on CE the
 * threads would come from CreateThread; here from pthread_create).
 *
 * Build: cc -std=c99 -D_DEFAULT_SOURCE two_threads.c $(pkg-config --cflags --libs sslsock) -lpthread
 */
#include <winsock2.h>
#include <sslsock.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    SOCKET s;
    int nCount;
    int nSent;      /* lines sent, QUIT included */
    int nError;     /* WSAGetLastError() of a failed send, else 0 */
} SENDER;

static void Fail(const char *szWhat)
{
    fprintf(stderr, "two_threads: %s failed: error %d %s\n", szWhat, WSAGetLastError(),
            sslsock_last_error_reason());
    exit(1);
}

static int CALLBACK ValidateCert(DWORD dwType, LPVOID pvArg, DWORD dwChainLen, LPBLOB pCertChain,
                                 DWORD dwFlags)
{
    (void)pvArg;
    (void)pCertChain;
    if (dwType != SSL_CERT_X509 || dwChainLen < 1)
        return SSL_ERR_BAD_TYPE;
    return (dwFlags & SSL_CERT_FLAG_ISSUER_UNKNOWN) ? SSL_ERR_CERT_UNKNOWN : SSL_ERR_OKAY;
}

/* The sender thread: COUNT lines, then QUIT, each with one send. */
static void *SenderThread(void *pv)
{
    SENDER *p = (SENDER *)pv;
    char line[64];
    int i, len;
    for (i = 1; i <= p->nCount + 1; i++) {
        if (i <= p->nCount)
            len = snprintf(line, sizeof line, "ECHO message %d\r\n", i);
        else
            len = snprintf(line, sizeof line, "QUIT\r\n");
        if (send(p->s, line, len, 0) != len) {
            p->nError = WSAGetLastError();   /* the last error belongs to this thread */
            break;
        }
        p->nSent++;
    }
    return NULL;
}

/* A buffered line reader for the receiving thread. Returns the line length, -1 at the end of the
 * stream. */
typedef struct {
    char buf[4096];
    int nStart, nEnd;
} LINEREADER;

static int ReadLine(SOCKET s, LINEREADER *r, char *line, int cap)
{
    int n = 0;
    for (;;) {
        char c;
        if (r->nStart == r->nEnd) {
            int got = recv(s, r->buf, sizeof r->buf, 0);   /* blocks while the other thread sends */
            if (got == SOCKET_ERROR)
                Fail("recv");
            if (got == 0) {
                line[n] = 0;
                return -1;
            }
            r->nStart = 0;
            r->nEnd = got;
        }
        c = r->buf[r->nStart++];
        if (c == '\n')
            break;
        if (c != '\r' && n < cap - 1)
            line[n++] = c;
    }
    line[n] = 0;
    return n;
}

int main(int argc, char **argv)
{
    WSADATA wsaData;
    SOCKET s;
    SOCKADDR_IN addr;
    SSLVALIDATECERTHOOK hook = { ValidateCert, NULL };
    DWORD dwSecure = SO_SEC_SSL, cb = 0;
    SENDER sender;
    LINEREADER reader;
    pthread_t thread;
    char line[256], expected[64];
    int i, nCount;

    if (argc < 3) {
        fprintf(stderr, "usage: %s HOST PORT [COUNT]\n", argv[0]);
        return 2;
    }
    nCount = argc > 3 ? atoi(argv[3]) : 200;

    if (WSAStartup(MAKEWORD(2, 2), &wsaData) != 0)
        Fail("WSAStartup");
    s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    if (s == INVALID_SOCKET)
        Fail("socket");
    if (setsockopt(s, SOL_SOCKET, SO_SECURE, (const char *)&dwSecure, sizeof dwSecure) == SOCKET_ERROR)
        Fail("setsockopt(SO_SECURE)");
    if (WSAIoctl(s, SO_SSL_SET_VALIDATE_CERT_HOOK, &hook, sizeof hook, NULL, 0, &cb, NULL, NULL) == SOCKET_ERROR)
        Fail("WSAIoctl(SO_SSL_SET_VALIDATE_CERT_HOOK)");
    if (WSAIoctl(s, SO_SSL_SET_PEERNAME, argv[1], (DWORD)strlen(argv[1]) + 1, NULL, 0, &cb, NULL, NULL) ==
        SOCKET_ERROR)
        Fail("WSAIoctl(SO_SSL_SET_PEERNAME)");

    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((u_short)atoi(argv[2]));
    addr.sin_addr.s_addr = inet_addr(argv[1]);
    if (addr.sin_addr.s_addr == INADDR_NONE) {
        HOSTENT *he = gethostbyname(argv[1]);
        if (he == NULL) {
            fprintf(stderr, "two_threads: unknown host %s\n", argv[1]);
            return 1;
        }
        memcpy(&addr.sin_addr, he->h_addr_list[0], sizeof addr.sin_addr);
    }
    if (connect(s, (SOCKADDR *)&addr, sizeof addr) == SOCKET_ERROR)   /* TCP and the handshake */
        Fail("connect");

    /* The sender starts; this thread receives at the same time. */
    memset(&sender, 0, sizeof sender);
    sender.s = s;
    sender.nCount = nCount;
    if (pthread_create(&thread, NULL, SenderThread, &sender) != 0) {
        fprintf(stderr, "two_threads: pthread_create failed\n");
        return 1;
    }
    memset(&reader, 0, sizeof reader);
    for (i = 1; i <= nCount; i++) {
        snprintf(expected, sizeof expected, "message %d", i);
        if (ReadLine(s, &reader, line, sizeof line) < 0 || strcmp(line, expected) != 0) {
            fprintf(stderr, "two_threads: echo %d: expected \"%s\", got \"%s\"\n", i, expected, line);
            return 1;
        }
    }
    printf("receiver: %d echoes, in order\n", nCount);
    if (ReadLine(s, &reader, line, sizeof line) < 0) {
        fprintf(stderr, "two_threads: the stream ended before the answer to QUIT\n");
        return 1;
    }
    printf("receiver: the server answered QUIT with \"%s\"\n", line);
    if (ReadLine(s, &reader, line, sizeof line) != -1) {
        fprintf(stderr, "two_threads: more after the answer to QUIT: \"%s\"\n", line);
        return 1;
    }
    printf("receiver: end of stream\n");

    pthread_join(thread, NULL);
    if (sender.nError != 0) {
        fprintf(stderr, "two_threads: send failed on the sender thread: error %d\n", sender.nError);
        return 1;
    }
    printf("sender: %d lines sent\n", sender.nSent);
    closesocket(s);
    WSACleanup();
    return 0;
}
