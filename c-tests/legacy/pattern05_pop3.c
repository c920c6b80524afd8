/*
 * Pattern 5 as written on CE: a POP3/SMTP client with TLS from the first byte (docs/patterns.md 5).
 *
 * SO_SECURE -> hook(pvArg = the socket) -> DEFER -> connect -> SO_SSL_PERFORM_HANDSHAKE(NULL, 0) at
 * once -> a timer polls with zero-timeout select(FD_SETSIZE, ...) for read and write, receives
 * into a 4 KiB (or, for large messages, 32 KiB) buffer, and sends at most 4 KiB at a time ->
 * shutdown(s, 2) + closesocket.  The zero-timeout select must report plaintext the library has
 * already decrypted.
 *
 * Port edits (PORT: below):
 *   1. the socket passed as the hook's pvArg: (LPVOID)s -> (LPVOID)(INT_PTR)s, and back
 *      (SOCKET)pvArg -> (SOCKET)(INT_PTR)pvArg (SOCKET is an int here, pointers are 8 bytes:
 *      the plain casts are errors under -Werror);
 *   2. SetTimer / WM_TIMER -> a loop calling the timer procedure with Sleep between calls.
 */
#include <windows.h>
#include <winsock2.h>
#include <sslsock.h>
#include "legacy_test.h"

#define SMALL_BUF 4096
#define LARGE_BUF 32768
#define MAX_SEND 4096

typedef struct _MAILCONN {
    SOCKET s;
    BOOL fLarge;
    char inbox[262144];
    int cbInbox;
    const char *pOut;
    int cbOut;
    int nPolls, nReadable, nClosed;
    SOCKET hookSocket;
} MAILCONN;

static MAILCONN g_conn;

static int CALLBACK MailCertHook(DWORD dwType, LPVOID pvArg, DWORD dwChainLen, LPBLOB pCertChain, DWORD dwFlags)
{
    SOCKET s = (SOCKET)(INT_PTR)pvArg; /* PORT: was (SOCKET)pvArg */
    (void)dwChainLen;
    (void)pCertChain;
    g_conn.hookSocket = s;
    if (dwType != SSL_CERT_X509)
        return SSL_ERR_BAD_TYPE;
    return (dwFlags & SSL_CERT_FLAG_ISSUER_UNKNOWN) ? SSL_ERR_CERT_UNKNOWN : SSL_ERR_OKAY;
}

static BOOL MailConnect(MAILCONN *c, LPCSTR pszAddress, int nPort)
{
    DWORD dwSecure = SO_SEC_SSL, dwFlags = SSL_FLAG_DEFER_HANDSHAKE, cb;
    SSLVALIDATECERTHOOK hook;
    SOCKADDR_IN sin;

    c->s = socket(AF_INET, SOCK_STREAM, 0);
    if (c->s == INVALID_SOCKET)
        return FALSE;
    setsockopt(c->s, SOL_SOCKET, SO_SECURE, (const char *)&dwSecure, sizeof(dwSecure));
    hook.HookFunc = MailCertHook;
    hook.pvArg = (LPVOID)(INT_PTR)c->s; /* PORT: was (LPVOID)c->s */
    WSAIoctl(c->s, SO_SSL_SET_VALIDATE_CERT_HOOK, &hook, sizeof(hook), NULL, 0, &cb, NULL, NULL);
    WSAIoctl(c->s, SO_SSL_SET_FLAGS, &dwFlags, sizeof(dwFlags), NULL, 0, &cb, NULL, NULL);
    ZeroMemory(&sin, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((u_short)nPort);
    sin.sin_addr.s_addr = inet_addr(pszAddress);
    if (connect(c->s, (SOCKADDR *)&sin, sizeof(sin)) == SOCKET_ERROR)
        return FALSE;
    return WSAIoctl(c->s, SO_SSL_PERFORM_HANDSHAKE, NULL, 0, NULL, 0, &cb, NULL, NULL) == 0;
}

/* The WM_TIMER handler: one zero-timeout poll, one recv and/or one send. */
static void MailOnTimer(MAILCONN *c)
{
    static char buf[LARGE_BUF];
    fd_set r, w;
    struct timeval tv = {0, 0};
    int n;

    c->nPolls++;
    FD_ZERO(&r);
    FD_ZERO(&w);
    FD_SET(c->s, &r);
    FD_SET(c->s, &w);
    if (select(FD_SETSIZE, &r, &w, NULL, &tv) <= 0)
        return;
    if (FD_ISSET(c->s, &r)) {
        c->nReadable++;
        n = recv(c->s, buf, c->fLarge ? LARGE_BUF : SMALL_BUF, 0);
        if (n > 0 && c->cbInbox + n <= (int)sizeof(c->inbox)) {
            CopyMemory(c->inbox + c->cbInbox, buf, n);
            c->cbInbox += n;
        } else if (n == 0) {
            c->nClosed = 1;
        }
    }
    if (FD_ISSET(c->s, &w) && c->cbOut > 0) {
        n = send(c->s, c->pOut, min(c->cbOut, MAX_SEND), 0);
        if (n > 0) {
            c->pOut += n;
            c->cbOut -= n;
        }
    }
}

/* PORT: SetTimer(hwnd, 1, 10, NULL) and the message loop -> call the timer procedure in a loop */
static void MailRunTimerUntil(MAILCONN *c, int cbWanted, DWORD dwTimeout)
{
    DWORD start = GetTickCount();
    while ((c->cbInbox < cbWanted || c->cbOut > 0) && !c->nClosed && GetTickCount() - start < dwTimeout) {
        int before = c->nReadable;
        MailOnTimer(c);
        if (c->nReadable == before)
            Sleep(1);
    }
}

int main(void)
{
    MAILCONN *c = &g_conn;
    static char cmd[9000], text[8001];
    int i, ok, polls;

    lt_watchdog(50); /* TEST: */

    ZeroMemory(c, sizeof(*c));
    CHECK(MailConnect(c, lt_host(), lt_port("T_PORT_STARTTLS")), /* TEST: address, port */
          "pattern 5: deferred connect and SO_SSL_PERFORM_HANDSHAKE(NULL, 0) at once");
    CHECK(c->hookSocket == c->s, "pattern 5: the hook got the socket back from pvArg");

    /* One 8002-byte TLS record read 4 KiB at a time: the second and third polls can only be
     * answered from the plaintext the library holds. */
    for (i = 0; i < 8000; i++)
        text[i] = (char)('a' + i % 26);
    text[8000] = 0;
    c->cbOut = wsprintf(cmd, "ECHO %s\r\n", text);
    c->pOut = cmd;
    MailRunTimerUntil(c, 8002, 10000);
    CHECK(c->cbInbox == 8002 && memcmp(c->inbox, text, 8000) == 0,
          "pattern 5: an 8000-character line sent in 4 KiB sends came back through 4 KiB recvs (%d bytes)",
          c->cbInbox);
    CHECK(c->nReadable == 2 || c->nReadable == 3, "pattern 5: zero-timeout select saw the buffered rest (%d reads)",
          c->nReadable);

    /* A large message into the 32 KiB buffer. */
    c->fLarge = TRUE;
    c->cbInbox = 0;
    polls = c->nPolls;
    c->cbOut = wsprintf(cmd, "BIG 100000\r\n");
    c->pOut = cmd;
    MailRunTimerUntil(c, 100007, 20000);
    ok = c->cbInbox == 100007;
    for (i = 0; ok && i < 100000; i++)
        ok = (unsigned char)c->inbox[i] == (unsigned char)((i * 7 + 3) & 0xff);
    CHECK(ok && memcmp(c->inbox + 100000, "\r\nEND\r\n", 7) == 0,
          "pattern 5: 100000 bytes through 32 KiB recvs, byte-exact (%d bytes, %d polls)", c->cbInbox,
          c->nPolls - polls);

    /* QUIT: the server says BYE and closes with close_notify. */
    c->cbInbox = 0;
    c->cbOut = wsprintf(cmd, "QUIT\r\n");
    c->pOut = cmd;
    MailRunTimerUntil(c, 1 << 20, 10000);
    CHECK(c->nClosed && c->cbInbox == 5 && memcmp(c->inbox, "BYE\r\n", 5) == 0,
          "pattern 5: QUIT -> BYE, then recv returns 0");
    CHECK(shutdown(c->s, 2) == 0 || WSAGetLastError() == WSAENOTCONN, "pattern 5: shutdown(s, 2)");
    CHECK(closesocket(c->s) == 0, "pattern 5: closesocket");

    /* An untrusted server: the handshake right after connect fails. */
    ZeroMemory(c, sizeof(*c));
    CHECK(!MailConnect(c, lt_host(), lt_port("T_PORT_UNTRUSTED")) && WSAGetLastError() == WSAECONNABORTED,
          "pattern 5: untrusted: SO_SSL_PERFORM_HANDSHAKE fails with WSAECONNABORTED");
    closesocket(c->s);
    return lt_finish();
}
