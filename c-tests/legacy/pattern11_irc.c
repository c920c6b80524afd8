/*
 * Pattern 11 as written on CE: an IRC client (docs/patterns.md 11).
 *
 * WSAStartup(1.1) -> SO_SECURE -> hook(pvArg = the socket) -> connect -> SO_SSL_GET_CONNECTION_INFO
 * at once -> polling select(s + 1, &r, NULL, NULL, {0, 0}) -> recv / send -> closesocket +
 * WSACleanup.  (The test server echoes the client's lines where an IRC server would answer: TEST.)
 *
 * Port edits (PORT: below):
 *   1. the socket as the hook's pvArg and back: (LPVOID)(INT_PTR)s and (SOCKET)(INT_PTR)pvArg.
 */
#include <windows.h>
#include <winsock.h>
#include <sslsock.h>
#include "legacy_test.h"

typedef struct _IRCSERVER {
    SOCKET sock;
    SSLCONNECTIONINFO info;
    char inbuf[8192];
    int inlen;
    int lines;
    int hookSocketOk;
} IRCSERVER;

static IRCSERVER g_server;

static int CALLBACK IrcSslHook(DWORD dwType, LPVOID pvArg, DWORD dwChainLen, LPBLOB pCertChain, DWORD dwFlags)
{
    SOCKET s = (SOCKET)(INT_PTR)pvArg; /* PORT: was (SOCKET)pvArg */
    (void)dwChainLen;
    (void)pCertChain;
    g_server.hookSocketOk = (s == g_server.sock);
    if (dwType != SSL_CERT_X509)
        return SSL_ERR_BAD_TYPE;
    return dwFlags ? SSL_ERR_CERT_UNKNOWN : SSL_ERR_OKAY;
}

static BOOL IrcConnect(IRCSERVER *srv, LPCSTR address, int port)
{
    DWORD optval = SO_SEC_SSL, bytes = 0;
    SSLVALIDATECERTHOOK hook;
    struct sockaddr_in sa;

    srv->sock = socket(PF_INET, SOCK_STREAM, 0);
    if (srv->sock == INVALID_SOCKET)
        return FALSE;
    if (setsockopt(srv->sock, SOL_SOCKET, SO_SECURE, (char *)&optval, sizeof(optval)) == SOCKET_ERROR)
        return FALSE;
    hook.HookFunc = IrcSslHook;
    hook.pvArg = (LPVOID)(INT_PTR)srv->sock; /* PORT: was (LPVOID)srv->sock */
    if (WSAIoctl(srv->sock, SO_SSL_SET_VALIDATE_CERT_HOOK, &hook, sizeof(hook), NULL, 0, &bytes, NULL, NULL))
        return FALSE;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = inet_addr(address);
    sa.sin_port = htons((u_short)port);
    if (connect(srv->sock, (struct sockaddr *)&sa, sizeof(sa)) == SOCKET_ERROR)
        return FALSE;
    return WSAIoctl(srv->sock, SO_SSL_GET_CONNECTION_INFO, NULL, 0, &srv->info, sizeof(srv->info), &bytes, NULL,
                    NULL) == 0;
}

static BOOL IrcSend(IRCSERVER *srv, const char *fmt, const char *arg)
{
    char buf[512];
    int len = wsprintf(buf, fmt, arg);
    return send(srv->sock, buf, len, 0) == len;
}

/* One pass of the main loop: poll, read, count complete lines; -1 when the server closed. */
static int IrcPoll(IRCSERVER *srv)
{
    fd_set r;
    struct timeval tv;
    int n;
    char *eol;

    FD_ZERO(&r);
    FD_SET(srv->sock, &r);
    tv.tv_sec = 0;
    tv.tv_usec = 0;
    if (select(srv->sock + 1, &r, NULL, NULL, &tv) <= 0)
        return 0;
    n = recv(srv->sock, srv->inbuf + srv->inlen, sizeof(srv->inbuf) - srv->inlen - 1, 0);
    if (n <= 0)
        return -1;
    srv->inlen += n;
    srv->inbuf[srv->inlen] = 0;
    while ((eol = strchr(srv->inbuf, '\n')) != NULL) {
        srv->lines++;
        srv->inlen -= (int)(eol + 1 - srv->inbuf);
        MoveMemory(srv->inbuf, eol + 1, srv->inlen + 1);
    }
    return 1;
}

int main(void)
{
    WSADATA wsa;
    IRCSERVER *srv = &g_server;
    DWORD start;
    int i, r = 0;

    lt_watchdog(50); /* TEST: */

    CHECK(WSAStartup(MAKEWORD(1, 1), &wsa) == 0 && wsa.wVersion == MAKEWORD(1, 1), "pattern 11: WSAStartup(1.1)");
    CHECK(IrcConnect(srv, lt_host(), lt_port("T_PORT_STARTTLS")), /* TEST: address, port */
          "pattern 11: connect and SO_SSL_GET_CONNECTION_INFO at once");
    CHECK(srv->hookSocketOk, "pattern 11: the hook got the socket back from pvArg");
    CHECK(srv->info.dwProtocol == SSL_PROT_TLS1_2_CLIENT || srv->info.dwProtocol == SSL_PROT_TLS1_3_CLIENT,
          "pattern 11: connection info: protocol 0x%x", (unsigned)srv->info.dwProtocol);

    CHECK(IrcSend(srv, "ECHO NICK %s\r\n", "sslsock") && IrcSend(srv, "ECHO USER %s 0 * :test\r\n", "sslsock"),
          "pattern 11: NICK and USER sent");
    for (i = 0; i < 20; i++)
        IrcSend(srv, "ECHO PRIVMSG #%s :hello\r\n", "channel");
    IrcSend(srv, "%s\r\n", "QUIT");
    start = GetTickCount();
    while (GetTickCount() - start < 10000 && (r = IrcPoll(srv)) >= 0)
        if (r == 0)
            Sleep(1);
    CHECK(r == -1 && srv->lines == 23, "pattern 11: polling select read 22 echoes and BYE, then the close (%d lines)",
          srv->lines);
    CHECK(closesocket(srv->sock) == 0 && WSACleanup() == 0, "pattern 11: closesocket + WSACleanup");
    return lt_finish();
}
