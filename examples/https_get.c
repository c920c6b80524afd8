/*
 * https_get.c: an HTTPS GET on a Windows CE secure socket (TLS from connect on).
 *
 *   https_get HOST PORT [PATH]
 *
 * Prints the status line and the length of the body; exits 0 for a 2xx status. HOST is also the
 * name the certificate must carry. Trust anchors come from SSL_CERT_FILE / SSL_CERT_DIR, else the
 * system store.
 *
 * Build: cc -std=c99 -D_DEFAULT_SOURCE https_get.c $(pkg-config --cflags --libs sslsock)
 */
#include <winsock2.h>
#include <sslsock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void Fail(const char *szWhat)
{
    fprintf(stderr, "https_get: %s failed: error %d %s\n", szWhat, WSAGetLastError(),
            sslsock_last_error_reason());
    exit(1);
}

int main(int argc, char **argv)
{
    WSADATA wsaData;
    SOCKET s;
    SOCKADDR_IN addr;
    DWORD dwSecure = SO_SEC_SSL, cb = 0;
    const char *szHost, *szPath;
    char szRequest[1024], head[16384], buf[4096];
    int cbRequest, cbHead = 0, fInBody = 0;
    long cbBody = 0;
    char *pEnd;

    if (argc < 3) {
        fprintf(stderr, "usage: %s HOST PORT [PATH]\n", argv[0]);
        return 2;
    }
    szHost = argv[1];
    szPath = argc > 3 ? argv[3] : "/";

    if (WSAStartup(MAKEWORD(2, 2), &wsaData) != 0)
        Fail("WSAStartup");

    s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    if (s == INVALID_SOCKET)
        Fail("socket");
    /* Secure before connect: connect itself will do the TLS handshake. */
    if (setsockopt(s, SOL_SOCKET, SO_SECURE, (const char *)&dwSecure, sizeof dwSecure) == SOCKET_ERROR)
        Fail("setsockopt(SO_SECURE)");
    /* The name to send as SNI and to check the certificate against. With no validation hook (as
     * here) sslsock accepts exactly the certificates that chain to a trust anchor and carry this
     * name; install SO_SSL_SET_VALIDATE_CERT_HOOK to decide yourself (see smtp_starttls.c). */
    if (WSAIoctl(s, SO_SSL_SET_PEERNAME, (LPVOID)szHost, (DWORD)strlen(szHost) + 1, NULL, 0, &cb, NULL, NULL) ==
        SOCKET_ERROR)
        Fail("WSAIoctl(SO_SSL_SET_PEERNAME)");

    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((u_short)atoi(argv[2]));
    addr.sin_addr.s_addr = inet_addr(szHost);
    if (addr.sin_addr.s_addr == INADDR_NONE) {
        HOSTENT *he = gethostbyname(szHost);
        if (he == NULL) {
            fprintf(stderr, "https_get: unknown host %s\n", szHost);
            return 1;
        }
        memcpy(&addr.sin_addr, he->h_addr_list[0], sizeof addr.sin_addr);
    }
    /* TCP connect and the whole handshake: 0 only once the certificate has been accepted. A refused
     * certificate or a TLS failure gives WSAECONNABORTED. */
    if (connect(s, (SOCKADDR *)&addr, sizeof addr) == SOCKET_ERROR)
        Fail("connect");

    /* A blocking secure send takes all of the buffer (encrypted) or fails. */
    cbRequest = snprintf(szRequest, sizeof szRequest,
                         "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: sslsock-https_get\r\nConnection: close\r\n\r\n",
                         szPath, szHost);
    if (send(s, szRequest, cbRequest, 0) != cbRequest)
        Fail("send");

    /* Decrypted data until the server ends the stream (recv returns 0). The head goes into head[],
     * the body is only counted. */
    for (;;) {
        int n = recv(s, buf, sizeof buf, 0), take;
        if (n == SOCKET_ERROR)
            Fail("recv");
        if (n == 0)
            break;
        if (fInBody) {
            cbBody += n;
            continue;
        }
        take = n < (int)sizeof head - 1 - cbHead ? n : (int)sizeof head - 1 - cbHead;
        memcpy(head + cbHead, buf, take);
        cbHead += take;
        head[cbHead] = 0;
        pEnd = strstr(head, "\r\n\r\n");
        if (pEnd != NULL) {
            fInBody = 1;
            cbBody = (long)(cbHead - (pEnd + 4 - head)) + (n - take);
        } else if (cbHead == (int)sizeof head - 1) {
            fprintf(stderr, "https_get: response head longer than %d bytes\n", (int)sizeof head - 1);
            return 1;
        }
    }
    closesocket(s);
    WSACleanup();

    if (!fInBody) {
        fprintf(stderr, "https_get: the response ended inside its head\n");
        return 1;
    }
    head[strcspn(head, "\r\n")] = 0;   /* the status line, e.g. "HTTP/1.1 200 OK" */
    printf("%s\n", head);
    printf("body: %ld bytes\n", cbBody);
    return strncmp(head + strcspn(head, " "), " 2", 2) == 0 ? 0 : 1;
}
