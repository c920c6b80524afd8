/*
 * wincrypt.h - the subset of Windows' <wincrypt.h> that secure-socket code uses, part of sslsock's
 * compat set (docs/porting.md): ALG_ID (from <winsock2.h>) and the CALG_* values a program compares
 * SSLCONNECTIONINFO's aiCipher / aiHash / aiExch with.  <sslsock.h> comes first (it defines the
 * CALG_* values sslsock reports); the others are wincrypt's numbers.
 *
 * No CryptoAPI function (CertCreateCertificateContext, CryptDecodeObject, ...) is provided; a port
 * reads the hook's certificate with OpenSSL or its own parser (docs/porting.md).  Nor are wincrypt's
 * X509_NAME, X509_EXTENSIONS, PKCS7_SIGNER_INFO, OCSP_REQUEST or OCSP_RESPONSE macros defined, so
 * OpenSSL's types of those names stay usable next to this header.
 */
#ifndef SSLSOCK_COMPAT_WINCRYPT_H
#define SSLSOCK_COMPAT_WINCRYPT_H

#include "windows.h"
#include "../../sslsock.h"

#define GET_ALG_CLASS(x) ((x) & (7 << 13))
#define GET_ALG_TYPE(x) ((x) & (15 << 9))
#define GET_ALG_SID(x) ((x) & 511)

#define ALG_CLASS_ANY 0
#define ALG_CLASS_SIGNATURE (1 << 13)
#define ALG_CLASS_MSG_ENCRYPT (2 << 13)
#define ALG_CLASS_DATA_ENCRYPT (3 << 13)
#define ALG_CLASS_HASH (4 << 13)
#define ALG_CLASS_KEY_EXCHANGE (5 << 13)
#define ALG_CLASS_ALL (7 << 13)

#define ALG_TYPE_ANY 0
#define ALG_TYPE_DSS (1 << 9)
#define ALG_TYPE_RSA (2 << 9)
#define ALG_TYPE_BLOCK (3 << 9)
#define ALG_TYPE_STREAM (4 << 9)
#define ALG_TYPE_DH (5 << 9)
#define ALG_TYPE_SECURECHANNEL (6 << 9)
#define ALG_TYPE_ECDH (7 << 9)

/* Hashes. */
#define CALG_MD2 0x8001
#define CALG_MD4 0x8002
#define CALG_MD5 0x8003
#define CALG_SHA 0x8004
#define CALG_SHA1 0x8004
#define CALG_MAC 0x8005
#define CALG_SSL3_SHAMD5 0x8008
#define CALG_HMAC 0x8009
#ifndef CALG_SHA_256
# define CALG_SHA_256 0x800c
#endif
#ifndef CALG_SHA_384
# define CALG_SHA_384 0x800d
#endif
#define CALG_SHA_512 0x800e

/* Signatures. */
#define CALG_RSA_SIGN 0x2400
#define CALG_DSS_SIGN 0x2200
#define CALG_ECDSA 0x2203

/* Key exchange. */
#ifndef CALG_RSA_KEYX
# define CALG_RSA_KEYX 0xa400
#endif
#define CALG_DH_SF 0xaa01
#ifndef CALG_DH_EPHEM
# define CALG_DH_EPHEM 0xaa02
#endif
#define CALG_ECDH 0xaa05
#ifndef CALG_ECDH_EPHEM
# define CALG_ECDH_EPHEM 0xae06
#endif

/* Ciphers. */
#define CALG_DES 0x6601
#define CALG_RC2 0x6602
#define CALG_3DES 0x6603
#define CALG_DESX 0x6604
#define CALG_3DES_112 0x6609
#define CALG_SKIPJACK 0x660a
#define CALG_TEK 0x660b
#ifndef CALG_AES_128
# define CALG_AES_128 0x660e
#endif
#define CALG_AES_192 0x660f
#ifndef CALG_AES_256
# define CALG_AES_256 0x6610
#endif
#define CALG_AES 0x6611
#define CALG_RC4 0x6801
#define CALG_SEAL 0x6802

#endif /* SSLSOCK_COMPAT_WINCRYPT_H */
