/*
 * schnlsp.h - part of sslsock's compat set (docs/porting.md).  Desktop Windows code includes
 * <schnlsp.h> where CE code includes <sslsock.h>: this gives <sslsock.h>, plus the certificate
 * types that CE's SslCrackCertificate filled in, for the port's own replacement of it.
 *
 * SslCrackCertificate and SslFreeCertificate themselves are NOT provided (sslsock exports no
 * certificate parser): a port defines them, e.g. over OpenSSL's d2i_X509, as docs/porting.md shows,
 * and the hook's code that reads X509Certificate stays as it was.
 */
#ifndef SSLSOCK_COMPAT_SCHNLSP_H
#define SSLSOCK_COMPAT_SCHNLSP_H

#include "windows.h"
#include "../../sslsock.h"

/* dwFlags of SslCrackCertificate: the blob is a file's contents rather than a bare DER certificate. */
#define CF_CERT_FROM_FILE 0x0001

typedef struct _PctPublicKey {
    DWORD Type;
    DWORD cbKey;
    UCHAR pKey[1];
} PctPublicKey;

typedef struct _X509Certificate {
    DWORD Version;
    DWORD SerialNumber[4];
    ALG_ID SignatureAlgorithm;
    FILETIME ValidFrom;
    FILETIME ValidUntil;
    PSTR pszIssuer;
    PSTR pszSubject;
    PctPublicKey *pPublicKey;
} X509Certificate, *PX509Certificate;

#endif /* SSLSOCK_COMPAT_SCHNLSP_H */
