/*
 * Pattern 10 as written on CE: an XMPP client's connection (C++; docs/patterns.md 10).
 *
 * WSAStartup(0x202), requiring wVersion 0x202 -> SO_SECURE -> hook(this) -> DEFER -> connect ->
 * XMPP in plaintext -> STARTTLS: SO_SSL_PERFORM_HANDSHAKE(host, strlen) without the NUL ->
 * SO_SSL_GET_CONNECTION_INFO(NULL, 0, &info, 28, &n) for a status screen that switches on the
 * SSL_PROT_*_CLIENT and CALG_* values and prints unknown ones in hex -> a reader thread in
 * select(0, {1, [s]}, NULL, NULL, {200, 0}) then recv, while other threads send at the same time.
 * (The test server speaks EHLO/STARTTLS lines where a real server speaks XMPP's XML: TEST.)
 *
 * Port edits: none (CreateThread, WaitForMultipleObjects and GetExitCodeThread come from the compat
 * <windows.h>).
 */
#include <windows.h>
#include <tchar.h>
#include <winsock2.h>
#include <sslsock.h>
#include <wincrypt.h>
#include "legacy_test.h"

class CXmppConnection {
public:
    CXmppConnection() : m_s(INVALID_SOCKET), m_fStop(FALSE), m_cbRx(0), m_nHookCalls(0)
    {
        InitializeCriticalSection(&m_csRx);
    }
    ~CXmppConnection() { DeleteCriticalSection(&m_csRx); }

    BOOL Connect(LPCSTR pszAddress, int nPort);
    BOOL PlainCommand(LPCSTR pszCmd, LPCSTR pszExpect);
    BOOL StartTls(LPCSTR pszHost);
    void StatusText(LPTSTR psz);
    BOOL Send(LPCSTR psz);
    static DWORD WINAPI ReaderThread(LPVOID lpParameter);

    SOCKET m_s;
    volatile BOOL m_fStop;
    CRITICAL_SECTION m_csRx;
    char m_rx[65536];
    int m_cbRx;
    int m_nHookCalls;
    SSLCONNECTIONINFO m_info;

private:
    static int CALLBACK CertHook(DWORD dwType, LPVOID pvArg, DWORD dwChainLen, LPBLOB pCertChain, DWORD dwFlags);
};

int CALLBACK CXmppConnection::CertHook(DWORD dwType, LPVOID pvArg, DWORD dwChainLen, LPBLOB pCertChain,
                                       DWORD dwFlags)
{
    CXmppConnection *pThis = reinterpret_cast<CXmppConnection *>(pvArg);
    UNREFERENCED_PARAMETER(dwChainLen);
    UNREFERENCED_PARAMETER(pCertChain);
    pThis->m_nHookCalls++;
    if (dwType != SSL_CERT_X509 || (dwFlags & SSL_CERT_FLAG_ISSUER_UNKNOWN))
        return SSL_ERR_CERT_UNKNOWN;
    return SSL_ERR_OKAY;
}

BOOL CXmppConnection::Connect(LPCSTR pszAddress, int nPort)
{
    DWORD dwSecure = SO_SEC_SSL, dwFlags = SSL_FLAG_DEFER_HANDSHAKE, cb = 0;
    SSLVALIDATECERTHOOK hook = {CertHook, this};
    SOCKADDR_IN sin;

    m_s = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(m_s, SOL_SOCKET, SO_SECURE, (const char *)&dwSecure, sizeof(dwSecure));
    WSAIoctl(m_s, SO_SSL_SET_VALIDATE_CERT_HOOK, &hook, sizeof(hook), NULL, 0, &cb, NULL, NULL);
    WSAIoctl(m_s, SO_SSL_SET_FLAGS, &dwFlags, sizeof(dwFlags), NULL, 0, &cb, NULL, NULL);
    ZeroMemory(&sin, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((u_short)nPort);
    sin.sin_addr.s_addr = inet_addr(pszAddress);
    return connect(m_s, (SOCKADDR *)&sin, sizeof(sin)) == 0;
}

/* Plaintext: send a line, read lines until one starts with pszExpect. */
BOOL CXmppConnection::PlainCommand(LPCSTR pszCmd, LPCSTR pszExpect)
{
    char line[512];
    int n = 0;
    char c;
    if (pszCmd && send(m_s, pszCmd, lstrlen(pszCmd), 0) != lstrlen(pszCmd))
        return FALSE;
    while (recv(m_s, &c, 1, 0) == 1) {
        if (c != '\n') {
            if (n < (int)sizeof(line) - 1)
                line[n++] = c;
            continue;
        }
        line[n] = 0;
        if (strncmp(line, pszExpect, lstrlen(pszExpect)) == 0)
            return TRUE;
        n = 0;
    }
    return FALSE;
}

BOOL CXmppConnection::StartTls(LPCSTR pszHost)
{
    DWORD cb = 0;
    if (WSAIoctl(m_s, SO_SSL_PERFORM_HANDSHAKE, (LPVOID)pszHost, lstrlen(pszHost), NULL, 0, &cb, NULL, NULL) != 0)
        return FALSE;
    return WSAIoctl(m_s, SO_SSL_GET_CONNECTION_INFO, NULL, 0, &m_info, sizeof(m_info), &cb, NULL, NULL) == 0 &&
           cb == sizeof(m_info);
}

/* The status screen, as the program knew the values of its time; others in hex. */
void CXmppConnection::StatusText(LPTSTR psz)
{
    TCHAR szProt[32], szCipher[32], szHash[32], szExch[32];
    switch (m_info.dwProtocol) {
    case SSL_PROT_SSL2_CLIENT: _tcscpy(szProt, _T("SSL 2.0")); break;
    case SSL_PROT_SSL3_CLIENT: _tcscpy(szProt, _T("SSL 3.0")); break;
    case SSL_PROT_TLS1_CLIENT: _tcscpy(szProt, _T("TLS 1.0")); break;
    default: _stprintf(szProt, _T("0x%x"), (unsigned)m_info.dwProtocol); break;
    }
    switch (m_info.aiCipher) {
    case CALG_RC4: _tcscpy(szCipher, _T("RC4")); break;
    case CALG_DES: _tcscpy(szCipher, _T("DES")); break;
    case CALG_3DES: _tcscpy(szCipher, _T("3DES")); break;
    case CALG_AES_128: _tcscpy(szCipher, _T("AES-128")); break;
    case CALG_AES_256: _tcscpy(szCipher, _T("AES-256")); break;
    default: _stprintf(szCipher, _T("0x%x"), (unsigned)m_info.aiCipher); break;
    }
    switch (m_info.aiHash) {
    case CALG_MD5: _tcscpy(szHash, _T("MD5")); break;
    case CALG_SHA1: _tcscpy(szHash, _T("SHA-1")); break;
    case CALG_SHA_256: _tcscpy(szHash, _T("SHA-256")); break;
    case CALG_SHA_384: _tcscpy(szHash, _T("SHA-384")); break;
    default: _stprintf(szHash, _T("0x%x"), (unsigned)m_info.aiHash); break;
    }
    switch (m_info.aiExch) {
    case CALG_RSA_KEYX: _tcscpy(szExch, _T("RSA")); break;
    case CALG_DH_EPHEM: _tcscpy(szExch, _T("DHE")); break;
    case CALG_ECDH_EPHEM: _tcscpy(szExch, _T("ECDHE")); break;
    default: _stprintf(szExch, _T("0x%x"), (unsigned)m_info.aiExch); break;
    }
    _stprintf(psz, _T("%s, %s %u bits, %s, %s %u bits"), szProt, szCipher, (unsigned)m_info.dwCipherStrength, szHash,
              szExch, (unsigned)m_info.dwExchStrength);
}

BOOL CXmppConnection::Send(LPCSTR psz)
{
    return send(m_s, psz, lstrlen(psz), 0) == lstrlen(psz);
}

DWORD WINAPI CXmppConnection::ReaderThread(LPVOID lpParameter)
{
    CXmppConnection *pThis = (CXmppConnection *)lpParameter;
    char buf[2048];
    while (!pThis->m_fStop) {
        fd_set r = {1, {pThis->m_s}};
        TIMEVAL tv = {200, 0};
        int n = select(0, &r, NULL, NULL, &tv);
        if (n == 0)
            continue;
        if (n == SOCKET_ERROR)
            return 1;
        n = recv(pThis->m_s, buf, sizeof(buf), 0);
        if (n <= 0)
            return n == 0 ? 0 : 1;
        EnterCriticalSection(&pThis->m_csRx);
        if (pThis->m_cbRx + n <= (int)sizeof(pThis->m_rx)) {
            CopyMemory(pThis->m_rx + pThis->m_cbRx, buf, n);
            pThis->m_cbRx += n;
        }
        LeaveCriticalSection(&pThis->m_csRx);
    }
    return 0;
}

struct SENDER {
    CXmppConnection *conn;
    char tag;
    BOOL ok;
};

static DWORD WINAPI SenderThread(LPVOID lpParameter)
{
    SENDER *s = (SENDER *)lpParameter;
    char line[64];
    s->ok = TRUE;
    for (int i = 0; i < 30 && s->ok; i++) {
        wsprintf(line, "ECHO <message from='%c' id='%d'/>\r\n", s->tag, i);
        s->ok = s->conn->Send(line);
    }
    return 0;
}

int main()
{
    WSADATA wsaData;
    CXmppConnection conn;
    TCHAR szStatus[256];
    HANDLE hReader, hSenders[2];
    SENDER s[2] = {{&conn, 'a', FALSE}, {&conn, 'b', FALSE}};
    DWORD readerResult = STILL_ACTIVE;
    int i, found = 0;
    char want[64];

    lt_watchdog(50); /* TEST: */

    CHECK(WSAStartup(0x202, &wsaData) == 0 && wsaData.wVersion == 0x202, "pattern 10: WSAStartup gives 0x202");
    CHECK(conn.Connect(lt_host(), lt_port("T_PORT_STARTTLS")), "pattern 10: connect (deferred)");
    CHECK(conn.PlainCommand("EHLO xmpp\r\n", "250 STARTTLS") && conn.PlainCommand("STARTTLS\r\n", "220"),
          "pattern 10: STARTTLS negotiated in plaintext");
    CHECK(conn.StartTls("localhost") && conn.m_nHookCalls == 1,
          "pattern 10: SO_SSL_PERFORM_HANDSHAKE(host, strlen) and GET_CONNECTION_INFO into 28 bytes");
    conn.StatusText(szStatus);
    CHECK(_tcsncmp(szStatus, _T("0x"), 2) == 0 && (_tcsstr(szStatus, _T("AES")) || _tcsstr(szStatus, _T("0x6810"))),
          "pattern 10: status screen: %s", szStatus);

    hReader = CreateThread(NULL, 0, CXmppConnection::ReaderThread, &conn, 0, NULL);
    for (i = 0; i < 2; i++)
        hSenders[i] = CreateThread(NULL, 0, SenderThread, &s[i], 0, NULL);
    WaitForMultipleObjects(2, hSenders, TRUE, INFINITE);
    for (i = 0; i < 2; i++)
        CloseHandle(hSenders[i]);
    CHECK(s[0].ok && s[1].ok, "pattern 10: two threads sent at the same time as the reader waited in select");
    conn.Send("QUIT\r\n");
    WaitForSingleObject(hReader, INFINITE);
    GetExitCodeThread(hReader, &readerResult);
    CloseHandle(hReader);
    conn.m_rx[conn.m_cbRx < (int)sizeof(conn.m_rx) ? conn.m_cbRx : (int)sizeof(conn.m_rx) - 1] = 0;
    for (i = 0; i < 60; i++) {
        wsprintf(want, "<message from='%c' id='%d'/>\r\n", i < 30 ? 'a' : 'b', i % 30);
        found += strstr(conn.m_rx, want) != NULL;
    }
    CHECK(readerResult == 0 && found == 60 && strstr(conn.m_rx, "BYE\r\n") != NULL,
          "pattern 10: the reader got all 60 stanzas whole, then BYE and the end of the stream (%d)", found);
    closesocket(conn.m_s);
    WSACleanup();
    return lt_finish();
}
