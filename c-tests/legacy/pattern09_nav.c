/*
 * Pattern 9 as written on CE: a navigation client's platform layer (docs/patterns.md 9).
 *
 * SO_SECURE -> hook(this) and deliberately no SO_SSL_SET_PEERNAME, so that the hook can tell a trust
 * failure (ISSUER_UNKNOWN) from a name failure (its own CN check) -> connect -> a reader thread
 * waits in select(0, &r, NULL, NULL, NULL) on a hand-built fd_set and receives under a critical
 * section; the writer loops on partial sends under the same critical section.
 * Hook: BAD_DATA unless X509 and dwChainLen == 1; the CN must equal the configured name.
 *
 * Port edits: none (SslCrackCertificate is sslsock's, CreateThread and WaitForSingleObject come from
 * the compat <windows.h>).
 */
#include <windows.h>
#include <tchar.h>
#include <winsock2.h>
#include <sslsock.h>
#include <schnlsp.h>
#include "legacy_test.h"

typedef enum { PAL_CERT_OK, PAL_CERT_UNTRUSTED, PAL_CERT_WRONG_NAME, PAL_CERT_BAD } PAL_CERT_RESULT;

typedef struct _PAL_SOCKET {
    SOCKET s;
    CRITICAL_SECTION cs;
    TCHAR szExpectedName[128];
    PAL_CERT_RESULT certResult;
    char rx[131072];
    int cbRx;
    int nReaderResult;
} PAL_SOCKET;

static int CALLBACK PalCertHook(DWORD dwType, LPVOID pvArg, DWORD dwChainLen, LPBLOB pCertChain, DWORD dwFlags)
{
    PAL_SOCKET *pThis = (PAL_SOCKET *)pvArg;
    PX509Certificate pCert;
    LPCSTR cn;

    if (dwType != SSL_CERT_X509 || dwChainLen != 1) {
        pThis->certResult = PAL_CERT_BAD;
        return SSL_ERR_BAD_DATA;
    }
    if (dwFlags & SSL_CERT_FLAG_ISSUER_UNKNOWN) {
        pThis->certResult = PAL_CERT_UNTRUSTED;
        return SSL_ERR_CERT_UNKNOWN;
    }
    if (!SslCrackCertificate(pCertChain[0].pBlobData, pCertChain[0].cbSize, 0, &pCert)) {
        pThis->certResult = PAL_CERT_BAD;
        return SSL_ERR_BAD_DATA;
    }
    cn = strstr(pCert->pszSubject, "CN=");
    pThis->certResult = (cn && _tcsicmp(cn + 3, pThis->szExpectedName) == 0) ? PAL_CERT_OK : PAL_CERT_WRONG_NAME;
    SslFreeCertificate(pCert);
    return pThis->certResult == PAL_CERT_OK ? SSL_ERR_OKAY : SSL_ERR_CERT_UNKNOWN;
}

static BOOL PalConnect(PAL_SOCKET *p, LPCTSTR pszName, int nPort)
{
    DWORD dwSecure = SO_SEC_SSL;
    SSLVALIDATECERTHOOK hook;
    SOCKADDR_IN sin;

    _tcscpy(p->szExpectedName, pszName);
    p->certResult = PAL_CERT_BAD;
    p->s = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(p->s, SOL_SOCKET, SO_SECURE, (const char *)&dwSecure, sizeof(dwSecure));
    hook.HookFunc = PalCertHook;
    hook.pvArg = p;
    WSAIoctl(p->s, SO_SSL_SET_VALIDATE_CERT_HOOK, &hook, sizeof(hook), NULL, 0, NULL, NULL, NULL);
    ZeroMemory(&sin, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((u_short)nPort);
    sin.sin_addr.s_addr = inet_addr(lt_host()); /* TEST: */
    return connect(p->s, (SOCKADDR *)&sin, sizeof(sin)) == 0;
}

static DWORD WINAPI PalReaderThread(LPVOID lpParameter)
{
    PAL_SOCKET *p = (PAL_SOCKET *)lpParameter;
    char buf[1500];
    for (;;) {
        fd_set r;
        int n;
        r.fd_count = 1;
        r.fd_array[0] = p->s;
        if (select(0, &r, NULL, NULL, NULL) != 1) {
            p->nReaderResult = SOCKET_ERROR;
            break;
        }
        EnterCriticalSection(&p->cs);
        n = recv(p->s, buf, sizeof(buf), 0);
        if (n > 0 && p->cbRx + n <= (int)sizeof(p->rx)) {
            CopyMemory(p->rx + p->cbRx, buf, n);
            p->cbRx += n;
        }
        LeaveCriticalSection(&p->cs);
        if (n <= 0) {
            p->nReaderResult = n;
            break;
        }
    }
    return 0;
}

static BOOL PalWrite(PAL_SOCKET *p, const char *data, int len)
{
    while (len > 0) {
        int n;
        EnterCriticalSection(&p->cs);
        n = send(p->s, data, len, 0);
        LeaveCriticalSection(&p->cs);
        if (n == SOCKET_ERROR)
            return FALSE;
        data += n;
        len -= n;
    }
    return TRUE;
}

int main(void)
{
    static PAL_SOCKET pal;
    static char msg[1200], expect[131072];
    HANDLE hThread;
    int i, cbExpect = 0;
    BOOL ok = TRUE;

    lt_watchdog(50); /* TEST: */
    InitializeCriticalSection(&pal.cs);

    CHECK(PalConnect(&pal, _T("localhost"), lt_port("T_PORT_STARTTLS")) && pal.certResult == PAL_CERT_OK,
          "pattern 9: connect; the hook matched the CN itself (no peer name set)");
    hThread = CreateThread(NULL, 0, PalReaderThread, &pal, 0, NULL);
    for (i = 0; i < 60 && ok; i++) {
        int n = wsprintf(msg, "ECHO route %d ", i), j;
        for (j = 0; j < 1000; j++)
            msg[n++] = (char)('A' + (i + j) % 26);
        msg[n] = 0;
        cbExpect += wsprintf(expect + cbExpect, "%s\r\n", msg + 5);
        lstrcat(msg, "\r\n");
        ok = PalWrite(&pal, msg, lstrlen(msg));
    }
    ok = ok && PalWrite(&pal, "QUIT\r\n", 6);
    cbExpect += wsprintf(expect + cbExpect, "BYE\r\n");
    WaitForSingleObject(hThread, INFINITE);
    CloseHandle(hThread);
    CHECK(ok && pal.nReaderResult == 0 && pal.cbRx == cbExpect && memcmp(pal.rx, expect, cbExpect) == 0,
          "pattern 9: 60 messages echoed to the reader thread while the writer sent (%d of %d bytes)", pal.cbRx,
          cbExpect);
    closesocket(pal.s);

    CHECK(!PalConnect(&pal, _T("localhost"), lt_port("T_PORT_WRONGNAME")) && pal.certResult == PAL_CERT_WRONG_NAME,
          "pattern 9: a trusted certificate for another name: the hook tells a name failure");
    closesocket(pal.s);
    CHECK(!PalConnect(&pal, _T("localhost"), lt_port("T_PORT_UNTRUSTED")) && pal.certResult == PAL_CERT_UNTRUSTED,
          "pattern 9: an untrusted certificate: the hook tells a trust failure");
    closesocket(pal.s);
    DeleteCriticalSection(&pal.cs);
    return lt_finish();
}
