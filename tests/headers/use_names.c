/*
 * tests/headers/use_names.c - every name issue 14 added to the headers, used the way CE code uses it,
 * compiled (not run) with -Wall -Wextra -Werror as C and as C++ against the source tree
 * (tests/header-check.sh) and against an installed prefix (tests/install.sh).  Includes are spelled
 * as Windows code spells them (<Windows.h>, <WinSock2.h>, ...): the mixed-case files must exist.
 *
 * Names: BLOB/LPBLOB (from <winsock2.h> alone, under _tagBLOB_DEFINED), FILETIME, X509Certificate,
 * PX509Certificate, PctPublicKey, CF_CERT_FROM_FILE, SslCrackCertificate, SslFreeCertificate,
 * SSL_CRACK_CERTIFICATE_FN/_NAME, SSL_FREE_CERTIFICATE_FN/_NAME, LoadLibrary(A/W), GetProcAddress,
 * FreeLibrary, FARPROC, HMODULE, every wincrypt CALG_* the issue lists (and the ALG_* parts),
 * CreateThread, ExitThread, GetCurrentThreadId, GetExitCodeThread, CreateEvent(A/W), SetEvent,
 * ResetEvent, WaitForSingleObject, WaitForMultipleObjects, CloseHandle, Sleep, INFINITE, WAIT_*,
 * MAXIMUM_WAIT_OBJECTS.
 */
#include <WinSock2.h>

/* A hook declared in a header that includes only <winsock2.h> (issue 14's first gap). */
int CALLBACK UseNamesHook(DWORD dwType, LPVOID pvArg, DWORD dwChainLen, LPBLOB pCertChain, DWORD dwFlags);

#include <Windows.h>
#include <Winsock2.h>
#include <WinSock.h>
#include <Ws2tcpip.h>
#include <WS2tcpip.h>
#include <WinBase.h>
#include <WinCrypt.h>
#include <Wincrypt.h>
#include <Schnlsp.h>
#include <TChar.h>
#include <sslsock.h>

static const ALG_ID use_names_algs[] = {
    CALG_KEA_KEYX, CALG_NO_SIGN, CALG_AGREEDKEY_ANY, CALG_RC5, CALG_TLS1_MASTER, CALG_SSL3_MASTER,
    CALG_SCHANNEL_MASTER_HASH, CALG_SCHANNEL_MAC_KEY, CALG_SCHANNEL_ENC_KEY, CALG_TLS1PRF, CALG_NULLCIPHER,
    CALG_ECMQV, CALG_PCT1_MASTER, CALG_SSL2_MASTER, CALG_HUGHES_MD5, CALG_CYLINK_MEK, CALG_SKIPJACK, CALG_TEK,
    CALG_AES, CALG_AES_128, CALG_AES_192, CALG_AES_256, CALG_SHA_256, CALG_SHA_384, CALG_SHA_512, CALG_ECDH,
    CALG_ECDH_EPHEM, CALG_ECDSA, CALG_DH_SF, CALG_DH_EPHEM, CALG_RSA_KEYX, CALG_RSA_SIGN, CALG_DSS_SIGN,
    CALG_HASH_REPLACE_OWF, CALG_THIRDPARTY_CIPHER, CALG_MD5, CALG_SHA1, CALG_3DES, CALG_RC4,
    ALG_CLASS_ALL | ALG_TYPE_THIRDPARTY | ALG_SID_EXAMPLE,
};

int CALLBACK UseNamesHook(DWORD dwType, LPVOID pvArg, DWORD dwChainLen, LPBLOB pCertChain, DWORD dwFlags)
{
    PX509Certificate pCert = NULL;
    FILETIME now;
    int verdict = SSL_ERR_OKAY;
    (void)pvArg;
    (void)dwFlags;
    if (dwType != SSL_CERT_X509 || dwChainLen != 1)
        return SSL_ERR_BAD_TYPE;
    if (!SslCrackCertificate(pCertChain[0].pBlobData, pCertChain[0].cbSize, 0, &pCert))
        return SSL_ERR_BAD_DATA;
    GetSystemTimeAsFileTime(&now);
    if (CompareFileTime(&now, &pCert->ValidUntil) > 0 || strstr(pCert->pszSubject, "CN=") == NULL ||
        pCert->pPublicKey->cbKey == 0 || pCert->SerialNumber[0] == 0 || pCert->Version > 2)
        verdict = SSL_ERR_CERT_UNKNOWN;
    SslFreeCertificate(pCert);
    return verdict;
}

static DWORD WINAPI UseNamesThread(LPVOID lpParameter)
{
    if (lpParameter == NULL)
        ExitThread(3);
    SetEvent((HANDLE)lpParameter);
    return GetCurrentThreadId() != 0 ? 0u : 1u;
}

int use_names(void);
int use_names(void)
{
    HMODULE h = LoadLibrary(TEXT("schannel.dll"));
    HMODULE w = LoadLibraryW(L"ws2_32.dll");
    SSL_CRACK_CERTIFICATE_FN crack = (SSL_CRACK_CERTIFICATE_FN)GetProcAddress(h, SSL_CRACK_CERTIFICATE_NAME);
    SSL_FREE_CERTIFICATE_FN release = (SSL_FREE_CERTIFICATE_FN)GetProcAddress(h, SSL_FREE_CERTIFICATE_NAME);
    FARPROC any = GetProcAddress(h, "SslCrackCertificate");
    PX509Certificate cert = NULL;
    PctPublicKey *key = NULL;
    BLOB blob = {0, NULL};
    HANDLE hEvent = CreateEvent(NULL, TRUE, FALSE, NULL);
    HANDLE hEventA = CreateEventA(NULL, FALSE, TRUE, "a");
    HANDLE hEventW = CreateEventW(NULL, FALSE, FALSE, L"w");
    HANDLE hThread, both[2];
    DWORD id = 0, code = 0, rc;
    int sum = 0;
    unsigned i;

    if (crack && crack(blob.pBlobData, blob.cbSize, FALSE, &cert) && cert) {
        key = cert->pPublicKey;
        sum += (int)key->Type;
        release(cert);
    }
    if (SslCrackCertificate(blob.pBlobData, blob.cbSize, CF_CERT_FROM_FILE, &cert))
        SslFreeCertificate(cert);
    hThread = CreateThread(NULL, 0, UseNamesThread, hEvent, 0, &id);
    both[0] = hThread;
    both[1] = hEvent;
    rc = WaitForMultipleObjects(2, both, TRUE, INFINITE);
    if (rc == WAIT_OBJECT_0 || rc == WAIT_TIMEOUT || rc == WAIT_FAILED || rc == WAIT_OBJECT_0 + 1)
        sum++;
    if (WaitForSingleObject(hThread, 1000) == WAIT_OBJECT_0 && GetExitCodeThread(hThread, &code))
        sum += (int)code;
    ResetEvent(hEvent);
    Sleep(1);
    sum += MAXIMUM_WAIT_OBJECTS + (int)id;
    for (i = 0; i < sizeof use_names_algs / sizeof use_names_algs[0]; i++)
        sum += (int)GET_ALG_CLASS(use_names_algs[i]) + (int)GET_ALG_TYPE(use_names_algs[i]) +
               (int)GET_ALG_SID(use_names_algs[i]);
    CloseHandle(hThread);
    CloseHandle(hEvent);
    CloseHandle(hEventA);
    CloseHandle(hEventW);
    if (any)
        sum++;
    if (w)
        FreeLibrary(w);
    if (h)
        FreeLibrary(h);
    return sum;
}
