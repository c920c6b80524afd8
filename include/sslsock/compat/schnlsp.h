/*
 * schnlsp.h - part of sslsock's compat set (docs/porting.md).  Desktop Windows code includes
 * <schnlsp.h> where CE code includes <sslsock.h>: this gives <sslsock.h> (the secure-socket API, and
 * CE's certificate cracker SslCrackCertificate / SslFreeCertificate with X509Certificate,
 * PctPublicKey and CF_CERT_FROM_FILE, all exported by libsslsock), plus what CE code uses to load
 * the cracker at run time:
 *
 *     HMODULE h = LoadLibrary(TEXT("schannel.dll"));          (compat <windows.h>: sslsock itself)
 *     SSL_CRACK_CERTIFICATE_FN crack =
 *         (SSL_CRACK_CERTIFICATE_FN)GetProcAddress(h, SSL_CRACK_CERTIFICATE_NAME);
 *     SSL_FREE_CERTIFICATE_FN release =
 *         (SSL_FREE_CERTIFICATE_FN)GetProcAddress(h, SSL_FREE_CERTIFICATE_NAME);
 *
 * The function types are the SDK's: the third argument of SSL_CRACK_CERTIFICATE_FN is spelled
 * "BOOL VerifySignature" there (an int, passed where SslCrackCertificate takes its DWORD dwFlags).
 */
#ifndef SSLSOCK_COMPAT_SCHNLSP_H
#define SSLSOCK_COMPAT_SCHNLSP_H

#include "windows.h"
#include "../../sslsock.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The names GetProcAddress takes (TEXT() is plain "..." here: UNICODE is refused). */
#define SSL_CRACK_CERTIFICATE_NAME TEXT("SslCrackCertificate")
#define SSL_FREE_CERTIFICATE_NAME TEXT("SslFreeCertificate")

typedef BOOL (WINAPI *SSL_CRACK_CERTIFICATE_FN)(PUCHAR pbCertificate, DWORD cbCertificate,
                                                BOOL VerifySignature, PX509Certificate *ppCertificate);
typedef VOID (WINAPI *SSL_FREE_CERTIFICATE_FN)(PX509Certificate pCertificate);

#ifdef __cplusplus
}
#endif

#endif /* SSLSOCK_COMPAT_SCHNLSP_H */
