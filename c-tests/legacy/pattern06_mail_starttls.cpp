/*
 * Pattern 6 as written on CE: a mail client's connection with STARTTLS (C++; docs/patterns.md 6).
 *
 * WSAStartup(0x202) -> SO_SECURE -> hook(this) -> DEFER for STARTTLS-capable servers -> blocking
 * connect -> a timer calls select(0, NULL, &w, &e, {0, 0}) on hand-built fd_sets and expects
 * "writable" at once -> WSASetLastError(0); zero-timeout select for read; 0 with a non-zero last
 * error is an error (a plain timeout leaves the last error 0) -> recv with a 1007-byte buffer while
 * select says ready -> STARTTLS: SO_SSL_PERFORM_HANDSHAKE(NULL, 0, ..., &br) -> shutdown(SD_BOTH) +
 * closesocket.  Error codes 10049-10065 and 11001 are shown as messages.
 *
 * Port edits (PORT: below):
 *   1. SetTimer / WM_TIMER -> a loop calling OnTimer with Sleep between calls.
 */
#include <windows.h>
#include <winsock2.h>
#include <sslsock.h>
#include "legacy_test.h"

class CMailSocket {
public:
    CMailSocket() : m_s(INVALID_SOCKET), m_cbIn(0), m_nHookCalls(0), m_pHookThis(NULL), m_nError(0) {}

    BOOL Connect(LPCSTR pszAddress, int nPort, BOOL fStartTls);
    BOOL StartTls();
    BOOL SendLine(LPCSTR psz);
    BOOL ReadLine(char *pszLine, int cch, DWORD dwTimeout);
    BOOL IsWritableNow();
    void Close();
    static LPCTSTR ErrorText(int nError);

    SOCKET m_s;
    char m_in[4096];
    int m_cbIn;
    int m_nHookCalls;
    CMailSocket *m_pHookThis;
    int m_nError;

private:
    void OnTimer();
    static int CALLBACK CertHook(DWORD dwType, LPVOID pvArg, DWORD dwChainLen, LPBLOB pCertChain, DWORD dwFlags);
};

int CALLBACK CMailSocket::CertHook(DWORD dwType, LPVOID pvArg, DWORD dwChainLen, LPBLOB pCertChain, DWORD dwFlags)
{
    CMailSocket *pThis = static_cast<CMailSocket *>(pvArg);
    UNREFERENCED_PARAMETER(dwChainLen);
    UNREFERENCED_PARAMETER(pCertChain);
    pThis->m_nHookCalls++;
    pThis->m_pHookThis = pThis;
    if (dwType != SSL_CERT_X509)
        return SSL_ERR_BAD_TYPE;
    return (dwFlags & SSL_CERT_FLAG_ISSUER_UNKNOWN) ? SSL_ERR_CERT_UNKNOWN : SSL_ERR_OKAY;
}

BOOL CMailSocket::Connect(LPCSTR pszAddress, int nPort, BOOL fStartTls)
{
    DWORD dwSecure = SO_SEC_SSL, dwFlags = SSL_FLAG_DEFER_HANDSHAKE;
    SSLVALIDATECERTHOOK hook;
    SOCKADDR_IN sin;

    m_s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    if (m_s == INVALID_SOCKET)
        return FALSE;
    setsockopt(m_s, SOL_SOCKET, SO_SECURE, (const char *)&dwSecure, sizeof(dwSecure));
    hook.HookFunc = CertHook;
    hook.pvArg = this;
    WSAIoctl(m_s, SO_SSL_SET_VALIDATE_CERT_HOOK, &hook, sizeof(hook), NULL, 0, NULL, NULL, NULL);
    if (fStartTls)
        WSAIoctl(m_s, SO_SSL_SET_FLAGS, &dwFlags, sizeof(dwFlags), NULL, 0, NULL, NULL, NULL);
    ZeroMemory(&sin, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((u_short)nPort);
    sin.sin_addr.s_addr = inet_addr(pszAddress);
    if (connect(m_s, (SOCKADDR *)&sin, sizeof(sin)) == SOCKET_ERROR) {
        m_nError = WSAGetLastError();
        return FALSE;
    }
    return TRUE;
}

BOOL CMailSocket::StartTls()
{
    DWORD br = 0;
    if (WSAIoctl(m_s, SO_SSL_PERFORM_HANDSHAKE, NULL, 0, NULL, 0, &br, NULL, NULL) == SOCKET_ERROR) {
        m_nError = WSAGetLastError();
        return FALSE;
    }
    return TRUE;
}

BOOL CMailSocket::IsWritableNow()
{
    fd_set w, e;
    TIMEVAL tv = {0, 0};
    w.fd_count = 1;
    w.fd_array[0] = m_s;
    e.fd_count = 1;
    e.fd_array[0] = m_s;
    return select(0, NULL, &w, &e, &tv) == 1 && w.fd_count == 1 && e.fd_count == 0;
}

BOOL CMailSocket::SendLine(LPCSTR psz)
{
    int len = lstrlen(psz);
    return send(m_s, psz, len, 0) == len;
}

/* The WM_TIMER handler: read what is there. */
void CMailSocket::OnTimer()
{
    fd_set r;
    TIMEVAL tv = {0, 0};
    char buf[1007];
    int n;

    r.fd_count = 1;
    r.fd_array[0] = m_s;
    WSASetLastError(0);
    n = select(0, &r, NULL, NULL, &tv);
    if (n == 0) {
        if (WSAGetLastError() != 0)
            m_nError = WSAGetLastError(); /* a failed select, not a timeout */
        return;
    }
    if (n == SOCKET_ERROR) {
        m_nError = WSAGetLastError();
        return;
    }
    n = recv(m_s, buf, sizeof(buf), 0);
    if (n == SOCKET_ERROR)
        m_nError = WSAGetLastError();
    else if (n > 0 && m_cbIn + n <= (int)sizeof(m_in)) {
        CopyMemory(m_in + m_cbIn, buf, n);
        m_cbIn += n;
    }
}

/* PORT: SetTimer(m_hwnd, ID_POLL, 20, NULL) + the message loop -> OnTimer in a loop with Sleep */
BOOL CMailSocket::ReadLine(char *pszLine, int cch, DWORD dwTimeout)
{
    DWORD dwStart = GetTickCount();
    for (;;) {
        char *eol = (char *)memchr(m_in, '\n', m_cbIn);
        if (eol) {
            int len = (int)(eol - m_in) + 1;
            lstrcpyn(pszLine, m_in, min(len + 1, cch));
            MoveMemory(m_in, m_in + len, m_cbIn - len);
            m_cbIn -= len;
            return TRUE;
        }
        if (m_nError != 0 || GetTickCount() - dwStart > dwTimeout)
            return FALSE;
        OnTimer();
        Sleep(5);
    }
}

void CMailSocket::Close()
{
    shutdown(m_s, SD_BOTH);
    closesocket(m_s);
    m_s = INVALID_SOCKET;
}

LPCTSTR CMailSocket::ErrorText(int nError)
{
    switch (nError) {
    case WSAEADDRNOTAVAIL: return TEXT("The address is not available");
    case WSAENETDOWN: return TEXT("The network is down");
    case WSAENETUNREACH: return TEXT("The network is unreachable");
    case WSAENETRESET: return TEXT("The network dropped the connection");
    case WSAECONNABORTED: return TEXT("The connection was aborted");
    case WSAECONNRESET: return TEXT("The connection was reset by the server");
    case WSAENOBUFS: return TEXT("Out of buffers");
    case WSAEISCONN: return TEXT("Already connected");
    case WSAENOTCONN: return TEXT("Not connected");
    case WSAESHUTDOWN: return TEXT("The connection was shut down");
    case WSAETIMEDOUT: return TEXT("The connection timed out");
    case WSAECONNREFUSED: return TEXT("The server refused the connection");
    case WSAEHOSTDOWN: return TEXT("The server is down");
    case WSAEHOSTUNREACH: return TEXT("The server is unreachable");
    case WSAHOST_NOT_FOUND: return TEXT("The server was not found");
    default: return TEXT("Network error");
    }
}

/* TEST: a port on which nothing listens */
static int ClosedPort()
{
    SOCKADDR_IN sin;
    socklen_t len = sizeof(sin);
    SOCKET s = socket(AF_INET, SOCK_STREAM, 0);
    ZeroMemory(&sin, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = inet_addr("127.0.0.1");
    bind(s, (SOCKADDR *)&sin, sizeof(sin));
    getsockname(s, (SOCKADDR *)&sin, &len);
    closesocket(s);
    return ntohs(sin.sin_port);
}

int main()
{
    WSADATA wsaData;
    CMailSocket mail, refused;
    char line[1024];
    fd_set r;
    TIMEVAL tv = {0, 0};
    int n;

    lt_watchdog(50); /* TEST: */

    CHECK(WSAStartup(0x202, &wsaData) == 0 && wsaData.wVersion == 0x202, "pattern 6: WSAStartup(0x202)");
    CHECK(mail.Connect(lt_host(), lt_port("T_PORT_STARTTLS"), TRUE), "pattern 6: blocking connect (deferred)");
    CHECK(mail.IsWritableNow(), "pattern 6: hand-built fd_sets: writable at once, no exception");
    CHECK(mail.ReadLine(line, sizeof(line), 5000) && strcmp(line, "220 sslsock-test ready\r\n") == 0,
          "pattern 6: greeting through zero-timeout select and 1007-byte recvs");
    CHECK(mail.SendLine("EHLO client\r\n") && mail.ReadLine(line, sizeof(line), 5000) &&
              strcmp(line, "250 STARTTLS\r\n") == 0,
          "pattern 6: EHLO -> 250 STARTTLS in plaintext");
    CHECK(mail.SendLine("STARTTLS\r\n") && mail.ReadLine(line, sizeof(line), 5000) &&
              strncmp(line, "220", 3) == 0,
          "pattern 6: STARTTLS -> 220");
    CHECK(mail.StartTls(), "pattern 6: SO_SSL_PERFORM_HANDSHAKE(NULL, 0, ..., &br)");
    CHECK(mail.m_nHookCalls == 1 && mail.m_pHookThis == &mail, "pattern 6: the hook got this back");

    /* A plain timeout leaves the last error 0. */
    r.fd_count = 1;
    r.fd_array[0] = mail.m_s;
    WSASetLastError(0);
    n = select(0, &r, NULL, NULL, &tv);
    CHECK(n == 0 && WSAGetLastError() == 0, "pattern 6: zero-timeout select with nothing to read: 0, last error 0");

    CHECK(mail.SendLine("ECHO over tls\r\n") && mail.ReadLine(line, sizeof(line), 5000) &&
              strcmp(line, "over tls\r\n") == 0,
          "pattern 6: ECHO over TLS");
    CHECK(mail.SendLine("QUIT\r\n") && mail.ReadLine(line, sizeof(line), 5000) && strcmp(line, "BYE\r\n") == 0,
          "pattern 6: QUIT -> BYE");
    mail.Close();

    /* The error messages. */
    n = refused.Connect("127.0.0.1", ClosedPort(), FALSE);
    CHECK(!n && refused.m_nError == WSAECONNREFUSED, "pattern 6: nothing listening: WSAECONNREFUSED (%d): %s",
          refused.m_nError, CMailSocket::ErrorText(refused.m_nError));
    closesocket(refused.m_s);
    CHECK(WSACleanup() == 0, "pattern 6: WSACleanup");
    return lt_finish();
}
