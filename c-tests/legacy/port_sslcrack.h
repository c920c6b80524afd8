/*
 * port_sslcrack.h - PORT: the replacement of CE's SslCrackCertificate / SslFreeCertificate that a
 * port adds to its build (docs/porting.md, "SslCrackCertificate").  sslsock exports no certificate
 * parser; this one is OpenSSL's (link -lcrypto).  It fills CE's X509Certificate (from the compat
 * <schnlsp.h>) so that the hooks that read pszSubject / pszIssuer / ValidFrom / ValidUntil stay as
 * they were.  Strings are "O=..., CN=..." (OpenSSL's one-line form with ", " between the parts, the
 * shape CE hooks search for "CN=" in).  pPublicKey is not filled (NULL): no shipped hook read it.
 *
 * In a real port this is one .c file; it is a header of static functions here so that each program
 * of c-tests/legacy stays one file.
 */
#ifndef PORT_SSLCRACK_H
#define PORT_SSLCRACK_H

#include <windows.h>
#include <schnlsp.h>
#include <wincrypt.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

/* An ASN1_TIME as a FILETIME. */
static inline BOOL port_asn1_to_filetime(const ASN1_TIME *t, FILETIME *ft)
{
    struct tm tm;
    SYSTEMTIME st;
    if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
        return FALSE;
    ZeroMemory(&st, sizeof st);
    st.wYear = (WORD)(tm.tm_year + 1900);
    st.wMonth = (WORD)(tm.tm_mon + 1);
    st.wDay = (WORD)tm.tm_mday;
    st.wHour = (WORD)tm.tm_hour;
    st.wMinute = (WORD)tm.tm_min;
    st.wSecond = (WORD)tm.tm_sec;
    return SystemTimeToFileTime(&st, ft);
}

/* A name as "O=..., CN=..." in malloc'd memory. */
static inline PSTR port_name_string(const X509_NAME *name)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL, *out = NULL;
    long len;
    if (!bio)
        return NULL;
    if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_SEP_CPLUS_SPC) >= 0) {
        len = BIO_get_mem_data(bio, &data);
        out = (char *)malloc((size_t)len + 1);
        if (out) {
            memcpy(out, data, (size_t)len);
            out[len] = 0;
        }
    }
    BIO_free(bio);
    return out;
}

static inline VOID SslFreeCertificate(PX509Certificate pCertificate)
{
    if (!pCertificate)
        return;
    free(pCertificate->pszIssuer);
    free(pCertificate->pszSubject);
    free(pCertificate);
}

/* CE: BOOL SslCrackCertificate(PUCHAR pbCertificate, DWORD cbCertificate, DWORD dwFlags,
 *                              PX509Certificate *ppCertificate) */
static inline BOOL SslCrackCertificate(PUCHAR pbCertificate, DWORD cbCertificate, DWORD dwFlags,
                                       PX509Certificate *ppCertificate)
{
    const unsigned char *p = pbCertificate;
    PX509Certificate c;
    X509 *x;
    const ASN1_INTEGER *serial;
    BIGNUM *bn;
    unsigned char sn[16];
    int snlen, i;
    (void)dwFlags;
    if (!pbCertificate || !ppCertificate) {
        SetLastError(ERROR_INVALID_PARAMETER);
        return FALSE;
    }
    *ppCertificate = NULL;
    x = d2i_X509(NULL, &p, (long)cbCertificate);
    if (!x) {
        SetLastError(ERROR_INVALID_PARAMETER);
        return FALSE;
    }
    c = (PX509Certificate)calloc(1, sizeof *c);
    if (!c) {
        X509_free(x);
        SetLastError(ERROR_NOT_ENOUGH_MEMORY);
        return FALSE;
    }
    c->Version = (DWORD)X509_get_version(x);
    serial = X509_get0_serialNumber(x);
    bn = ASN1_INTEGER_to_BN(serial, NULL);
    snlen = bn ? BN_bn2lebinpad(bn, sn, (int)sizeof sn) : -1;
    BN_free(bn);
    for (i = 0; snlen > 0 && i < snlen; i++)
        c->SerialNumber[i / 4] |= (DWORD)sn[i] << (8 * (i % 4));
    switch (X509_get_signature_nid(x)) {
    case NID_sha256WithRSAEncryption:
    case NID_sha384WithRSAEncryption:
    case NID_sha512WithRSAEncryption:
    case NID_sha1WithRSAEncryption:
        c->SignatureAlgorithm = CALG_RSA_SIGN;
        break;
    case NID_ecdsa_with_SHA256:
    case NID_ecdsa_with_SHA384:
    case NID_ecdsa_with_SHA512:
        c->SignatureAlgorithm = CALG_ECDSA;
        break;
    default:
        c->SignatureAlgorithm = 0;
    }
    if (!port_asn1_to_filetime(X509_get0_notBefore(x), &c->ValidFrom) ||
        !port_asn1_to_filetime(X509_get0_notAfter(x), &c->ValidUntil) ||
        !(c->pszIssuer = port_name_string(X509_get_issuer_name(x))) ||
        !(c->pszSubject = port_name_string(X509_get_subject_name(x)))) {
        SslFreeCertificate(c);
        X509_free(x);
        SetLastError(ERROR_INVALID_PARAMETER);
        return FALSE;
    }
    X509_free(x);
    *ppCertificate = c;
    return TRUE;
}

#endif /* PORT_SSLCRACK_H */
