/*
 * deferred_handshake.c - a Windows CE secure-socket client with a deferred
 * handshake (STARTTLS), written as a CE program is written, running on Linux
 * over libsslsock.
 *
 * It follows Microsoft's CE documentation "Using a Deferred Handshake":
 * make the socket secure, install the certificate-validation hook, set
 * SSL_FLAG_DEFER_HANDSHAKE, connect (plain TCP), talk in plaintext, then ask
 * for the TLS handshake with SO_SSL_PERFORM_HANDSHAKE; from there on send and
 * recv are encrypted.  Each of the thirteen steps is printed with the CE call
 * and what came back.
 *
 *   cc -std=c99 -D_DEFAULT_SOURCE -Wall -I include examples/deferred_handshake.c \
 *      -L target/release -lsslsock -Wl,-rpath,$PWD/target/release -o deferred_handshake
 *   SSL_CERT_FILE=ca.pem ./deferred_handshake 127.0.0.1 PORT [SERVER-NAME]
 *
 * The peer is tests/servers/starttls_server.py (`make demo` starts one):
 * it greets "220 ...", answers EHLO with "250 STARTTLS" and STARTTLS with
 * "220 go ahead", then speaks TLS (ECHO text, INFO, QUIT).
 * SERVER-NAME (default: the host argument) is the name the certificate must
 * carry; it is handed to SO_SSL_PERFORM_HANDSHAKE.
 */
#include <winsock2.h>
#include <sslsock.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STEPS 13

/* What the hook saw, for step 9 (the hook runs inside step 8). */
typedef struct {
    const char *szServerName;     /* the name the certificate must carry */
    int nCalls;
    DWORD dwType, dwChainLen, dwFlags;
    DWORD cbLeaf;
    BYTE abLeaf[8192];
    int nVerdict;
} HOOKREPORT;

/* ------------------------------------------------------------------------- */
/* printing                                                                  */

static void Step(int n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void Step(int n, const char *fmt, ...)
{
    va_list ap;
    printf("\n[%2d/%d] ", n, STEPS);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

static void Say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void Say(const char *fmt, ...)
{
    va_list ap;
    printf("        ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

static const char *WsaName(int err)
{
    switch (err) {
    case 0: return "no error";
    case WSAEINTR: return "WSAEINTR";
    case WSAEFAULT: return "WSAEFAULT";
    case WSAEINVAL: return "WSAEINVAL";
    case WSAEWOULDBLOCK: return "WSAEWOULDBLOCK";
    case WSAEINPROGRESS: return "WSAEINPROGRESS";
    case WSAENOTSOCK: return "WSAENOTSOCK";
    case WSAEOPNOTSUPP: return "WSAEOPNOTSUPP";
    case WSAECONNABORTED: return "WSAECONNABORTED (handshake failed or certificate refused)";
    case WSAECONNRESET: return "WSAECONNRESET";
    case WSAEISCONN: return "WSAEISCONN";
    case WSAENOTCONN: return "WSAENOTCONN";
    case WSAETIMEDOUT: return "WSAETIMEDOUT";
    case WSAECONNREFUSED: return "WSAECONNREFUSED (nothing listens there)";
    case WSAEHOSTUNREACH: return "WSAEHOSTUNREACH";
    case WSAVERNOTSUPPORTED: return "WSAVERNOTSUPPORTED";
    case WSANOTINITIALISED: return "WSANOTINITIALISED";
    case WSAHOST_NOT_FOUND: return "WSAHOST_NOT_FOUND";
    default: return "?";
    }
}

/* Any failure: what the call was, the Winsock code, sslsock's reason; exit 1. */
static void Fail(const char *call, int err)
{
    const char *reason = sslsock_last_error_reason();
    printf("        FAILED: %s\n", call);
    printf("        WSAGetLastError() = %d (%s)\n", err, WsaName(err));
    printf("        sslsock_last_error_reason(): %s\n", reason && *reason ? reason : "(none)");
    fflush(stdout);
    exit(1);
}

static void FailMsg(const char *what)
{
    printf("        FAILED: %s\n", what);
    fflush(stdout);
    exit(1);
}

/* ------------------------------------------------------------------------- */
/* a tiny DER walk: the subject's and the issuer's CN, the validity dates    */

/* Reads one TLV at *p (end at e): tag, content pointer and length; advances *p. */
static int DerNext(const BYTE **p, const BYTE *e, BYTE *tag, const BYTE **val, DWORD *len)
{
    const BYTE *q = *p;
    DWORD n;
    if (e - q < 2)
        return 0;
    *tag = *q++;
    n = *q++;
    if (n & 0x80) {
        int k = n & 0x7f;
        if (k < 1 || k > 3 || e - q < k)
            return 0;
        for (n = 0; k > 0; k--)
            n = (n << 8) | *q++;
    }
    if ((DWORD)(e - q) < n)
        return 0;
    *val = q;
    *len = n;
    *p = q + n;
    return 1;
}

/* CN of an X.501 Name (SEQUENCE OF SET OF SEQUENCE {OID, value}). */
static void DerFindCN(const BYTE *name, DWORD cb, char *out, size_t cap)
{
    const BYTE *p = name, *e = name + cb;
    BYTE tag;
    const BYTE *set;
    DWORD cbSet;
    snprintf(out, cap, "(no CN)");
    while (DerNext(&p, e, &tag, &set, &cbSet)) {
        const BYTE *q = set, *qe = set + cbSet, *atv, *a, *oid, *v;
        DWORD cbAtv, cbOid, cbV;
        BYTE t;
        while (DerNext(&q, qe, &t, &atv, &cbAtv)) {
            a = atv;
            if (!DerNext(&a, atv + cbAtv, &t, &oid, &cbOid) || t != 0x06)
                continue;
            if (!DerNext(&a, atv + cbAtv, &t, &v, &cbV))
                continue;
            if (cbOid == 3 && oid[0] == 0x55 && oid[1] == 0x04 && oid[2] == 0x03) {
                snprintf(out, cap, "%.*s", (int)cbV, (const char *)v);
                return;
            }
        }
    }
}

/* UTCTime (YYMMDDHHMMSSZ) or GeneralizedTime (YYYYMMDDHHMMSSZ) as "YYYY-MM-DD HH:MM:SS UTC". */
static void DerTime(BYTE tag, const BYTE *t, DWORD cb, char *out, size_t cap)
{
    const char *s = (const char *)t;
    if (tag == 0x17 && cb >= 12)
        snprintf(out, cap, "%s%.2s-%.2s-%.2s %.2s:%.2s:%.2s UTC", s[0] >= '5' ? "19" : "20", s, s + 2, s + 4,
                 s + 6, s + 8, s + 10);
    else if (tag == 0x18 && cb >= 14)
        snprintf(out, cap, "%.4s-%.2s-%.2s %.2s:%.2s:%.2s UTC", s, s + 4, s + 6, s + 8, s + 10, s + 12);
    else
        snprintf(out, cap, "%.*s", (int)cb, s);
}

/* The leaf's subject CN, issuer CN and validity, from the DER the hook got. */
static int DerDescribe(const BYTE *der, DWORD cb, char *subject, char *issuer, char *from, char *to,
                       size_t cap)
{
    const BYTE *p = der, *cert, *tbs, *v;
    DWORD cbCert, cbTbs, cbV;
    BYTE tag;
    int field;
    if (!DerNext(&p, der + cb, &tag, &cert, &cbCert) || tag != 0x30)
        return 0;
    p = cert;
    if (!DerNext(&p, cert + cbCert, &tag, &tbs, &cbTbs) || tag != 0x30)
        return 0;
    p = tbs;
    /* [0] version (optional), serial, signature, issuer, validity, subject */
    for (field = 0; field < 6; field++) {
        if (!DerNext(&p, tbs + cbTbs, &tag, &v, &cbV))
            return 0;
        if (field == 0 && tag != 0xA0)
            field++;                     /* no version field: this is the serial */
        if (field == 3)
            DerFindCN(v, cbV, issuer, cap);
        if (field == 4) {                /* validity: two times */
            const BYTE *q = v, *t;
            DWORD cbT;
            BYTE tt;
            if (DerNext(&q, v + cbV, &tt, &t, &cbT))
                DerTime(tt, t, cbT, from, cap);
            if (DerNext(&q, v + cbV, &tt, &t, &cbT))
                DerTime(tt, t, cbT, to, cap);
        }
        if (field == 5)
            DerFindCN(v, cbV, subject, cap);
    }
    return 1;
}

/* ------------------------------------------------------------------------- */
/* the certificate-validation hook (SSLVALIDATECERTFUNC)                     */

static int CALLBACK ValidateCert(DWORD dwType, LPVOID pvArg, DWORD dwChainLen, LPBLOB pCertChain,
                                 DWORD dwFlags)
{
    HOOKREPORT *pReport = (HOOKREPORT *)pvArg;
    int verdict;

    pReport->nCalls++;
    pReport->dwType = dwType;
    pReport->dwChainLen = dwChainLen;
    pReport->dwFlags = dwFlags;
    pReport->cbLeaf = 0;
    if (dwChainLen >= 1 && pCertChain && pCertChain[0].pBlobData &&
        pCertChain[0].cbSize <= sizeof pReport->abLeaf) {
        pReport->cbLeaf = pCertChain[0].cbSize;
        memcpy(pReport->abLeaf, pCertChain[0].pBlobData, pCertChain[0].cbSize);
    }

    /* What CE hooks do: refuse anything but an X.509 certificate, refuse
     * when sslsock could not chain it to a trusted root or the name did not
     * match (SSL_CERT_FLAG_ISSUER_UNKNOWN), accept otherwise. */
    if (dwType != SSL_CERT_X509)
        verdict = SSL_ERR_BAD_TYPE;
    else if (dwChainLen < 1 || pReport->cbLeaf == 0)
        verdict = SSL_ERR_NO_CERT;
    else if (dwFlags & SSL_CERT_FLAG_ISSUER_UNKNOWN)
        verdict = SSL_ERR_CERT_UNKNOWN;
    else
        verdict = SSL_ERR_OKAY;
    pReport->nVerdict = verdict;

    Say("  ... sslsock calls ValidateCert(dwType %u, pvArg, dwChainLen %u, pCertChain, dwFlags 0x%x)"
        " on this thread -> %s",
        (unsigned)dwType, (unsigned)dwChainLen, (unsigned)dwFlags,
        verdict == SSL_ERR_OKAY ? "SSL_ERR_OKAY" : "a refusal");
    return verdict;
}

static const char *VerdictName(int v)
{
    switch (v) {
    case SSL_ERR_OKAY: return "SSL_ERR_OKAY (accept)";
    case SSL_ERR_BAD_TYPE: return "SSL_ERR_BAD_TYPE (refuse)";
    case SSL_ERR_NO_CERT: return "SSL_ERR_NO_CERT (refuse)";
    case SSL_ERR_CERT_UNKNOWN: return "SSL_ERR_CERT_UNKNOWN (refuse)";
    default: return "(refuse)";
    }
}

/* ------------------------------------------------------------------------- */
/* plaintext and encrypted line I/O, CE style: one byte per recv             */

static int RecvLine(SOCKET s, char *buf, int cap)
{
    int n = 0;
    for (;;) {
        char c;
        int r = recv(s, &c, 1, 0);
        if (r == SOCKET_ERROR)
            return -1;
        if (r == 0)
            return n > 0 ? n : -2;
        if (c == '\n')
            break;
        if (c != '\r' && n < cap - 1)
            buf[n++] = c;
    }
    buf[n] = 0;
    return n;
}

static void SendLine(SOCKET s, const char *line, const char *how)
{
    char buf[512];
    int len = snprintf(buf, sizeof buf, "%s\r\n", line);
    int sent = send(s, buf, len, 0);
    if (sent != len)
        Fail("send", WSAGetLastError());
    Say("send(s, \"%s\\r\\n\", %d, 0) -> %d  %s", line, len, sent, how);
}

static void Expect(SOCKET s, const char *prefix, char *line, int cap, const char *how)
{
    int n = RecvLine(s, line, cap);
    if (n == -1)
        Fail("recv", WSAGetLastError());
    if (n == -2)
        FailMsg("recv returned 0: the server closed the connection");
    Say("recv -> \"%s\"  %s", line, how);
    if (strncmp(line, prefix, strlen(prefix)) != 0) {
        char what[256];
        snprintf(what, sizeof what, "expected a line starting with \"%s\"", prefix);
        FailMsg(what);
    }
}

/* ------------------------------------------------------------------------- */
/* connection info names (docs/api.md)                                       */

static const char *ProtocolName(DWORD p)
{
    switch (p) {
    case SSL_PROT_TLS1_3_CLIENT: return "TLS 1.3 (SSL_PROT_TLS1_3_CLIENT)";
    case SSL_PROT_TLS1_2_CLIENT: return "TLS 1.2 (SSL_PROT_TLS1_2_CLIENT)";
    case SSL_PROT_TLS1_1_CLIENT: return "TLS 1.1";
    case SSL_PROT_TLS1_CLIENT: return "TLS 1.0";
    default: return "unknown";
    }
}

static const char *CipherName(ALG_ID a)
{
    switch (a) {
    case CALG_AES_128: return "AES-128-GCM (CALG_AES_128)";
    case CALG_AES_256: return "AES-256-GCM (CALG_AES_256)";
    case SSLSOCK_CALG_CHACHA20_POLY1305: return "ChaCha20-Poly1305 (SSLSOCK_CALG_CHACHA20_POLY1305)";
    default: return "unknown";
    }
}

static const char *HashName(ALG_ID a)
{
    switch (a) {
    case CALG_SHA_256: return "SHA-256 (CALG_SHA_256)";
    case CALG_SHA_384: return "SHA-384 (CALG_SHA_384)";
    default: return "unknown";
    }
}

static const char *ExchName(ALG_ID a, DWORD strength)
{
    if (a == CALG_ECDH_EPHEM) {
        switch (strength) {
        case 255: return "ephemeral ECDH over X25519 or X25519MLKEM768 (CALG_ECDH_EPHEM)";
        case 256: return "ephemeral ECDH over P-256 (CALG_ECDH_EPHEM)";
        case 384: return "ephemeral ECDH over P-384 (CALG_ECDH_EPHEM)";
        case 521: return "ephemeral ECDH over P-521 (CALG_ECDH_EPHEM)";
        default: return "ephemeral ECDH (CALG_ECDH_EPHEM)";
        }
    }
    if (a == CALG_DH_EPHEM)
        return "ephemeral finite-field DH (CALG_DH_EPHEM)";
    return "unknown";
}

/* ------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    WSADATA wsaData;
    SOCKET s;
    SOCKADDR_IN addr;
    SSLVALIDATECERTHOOK hook;
    SSLCONNECTIONINFO info;
    HOOKREPORT report;
    DWORD dwSecure = SO_SEC_SSL, dwFlags = 0, cbReturned = 0;
    const char *szHost, *szServerName;
    char line[512];
    int port, rc;

    if (argc < 3) {
        fprintf(stderr, "usage: %s HOST PORT [SERVER-NAME]\n"
                        "  HOST:PORT runs tests/servers/starttls_server.py; SERVER-NAME (default HOST)\n"
                        "  is the name the server's certificate must carry. Trust anchors: SSL_CERT_FILE.\n",
                argv[0]);
        return 2;
    }
    szHost = argv[1];
    port = atoi(argv[2]);
    szServerName = argc > 3 ? argv[3] : szHost;
    memset(&report, 0, sizeof report);
    report.szServerName = szServerName;

    printf("A Windows CE secure socket with a deferred handshake (STARTTLS), on libsslsock.\n");
    printf("Server %s:%d, certificate name to check \"%s\", trust anchors %s.\n", szHost, port,
           szServerName, getenv("SSL_CERT_FILE") ? getenv("SSL_CERT_FILE") : "(the system's)");

    /* 1 */
    Step(1, "WSAStartup(MAKEWORD(2,2), &wsaData): start Winsock");
    rc = WSAStartup(MAKEWORD(2, 2), &wsaData);
    if (rc != 0)
        Fail("WSAStartup", rc);
    Say("-> 0; wVersion %d.%d, wHighVersion %d.%d, \"%s\"", LOBYTE(wsaData.wVersion),
        HIBYTE(wsaData.wVersion), LOBYTE(wsaData.wHighVersion), HIBYTE(wsaData.wHighVersion),
        wsaData.szDescription);

    /* 2 */
    Step(2, "socket(AF_INET, SOCK_STREAM, IPPROTO_TCP): an ordinary TCP socket");
    s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    if (s == INVALID_SOCKET)
        Fail("socket", WSAGetLastError());
    Say("-> SOCKET %d", (int)s);

    /* 3 */
    Step(3, "setsockopt(s, SOL_SOCKET, SO_SECURE, &dwSecure /* SO_SEC_SSL */, sizeof(DWORD)): make it secure");
    if (setsockopt(s, SOL_SOCKET, SO_SECURE, (const char *)&dwSecure, sizeof dwSecure) == SOCKET_ERROR)
        Fail("setsockopt(SO_SECURE)", WSAGetLastError());
    Say("-> 0; SO_SECURE 0x%x = SO_SEC_SSL 0x%x: from now on nothing leaves this socket in plaintext,",
        (unsigned)SO_SECURE, (unsigned)SO_SEC_SSL);
    Say("   except in the deferred window opened in step 5");

    /* 4 */
    Step(4, "WSAIoctl(s, SO_SSL_SET_VALIDATE_CERT_HOOK, &hook, sizeof hook, NULL, 0, &cbReturned, NULL, NULL)");
    hook.HookFunc = ValidateCert;
    hook.pvArg = &report;
    if (WSAIoctl(s, SO_SSL_SET_VALIDATE_CERT_HOOK, &hook, sizeof hook, NULL, 0, &cbReturned, NULL, NULL) ==
        SOCKET_ERROR)
        Fail("WSAIoctl(SO_SSL_SET_VALIDATE_CERT_HOOK)", WSAGetLastError());
    Say("-> 0; code 0x%08X; hook = { ValidateCert, pvArg = &report }: it will judge the server's certificate",
        (unsigned)SO_SSL_SET_VALIDATE_CERT_HOOK);

    /* 5 */
    Step(5, "WSAIoctl(SO_SSL_GET_FLAGS) then WSAIoctl(SO_SSL_SET_FLAGS, flags | SSL_FLAG_DEFER_HANDSHAKE)");
    if (WSAIoctl(s, SO_SSL_GET_FLAGS, NULL, 0, &dwFlags, sizeof dwFlags, &cbReturned, NULL, NULL) ==
        SOCKET_ERROR)
        Fail("WSAIoctl(SO_SSL_GET_FLAGS)", WSAGetLastError());
    Say("GET_FLAGS (0x%08X) -> 0; flags 0x%x, %u bytes returned", (unsigned)SO_SSL_GET_FLAGS,
        (unsigned)dwFlags, (unsigned)cbReturned);
    dwFlags |= SSL_FLAG_DEFER_HANDSHAKE;
    if (WSAIoctl(s, SO_SSL_SET_FLAGS, &dwFlags, sizeof dwFlags, NULL, 0, &cbReturned, NULL, NULL) ==
        SOCKET_ERROR)
        Fail("WSAIoctl(SO_SSL_SET_FLAGS)", WSAGetLastError());
    Say("SET_FLAGS (0x%08X) with 0x%x -> 0: connect will not start TLS; plaintext until step 8",
        (unsigned)SO_SSL_SET_FLAGS, (unsigned)dwFlags);

    /* 6 */
    Step(6, "connect(s, (SOCKADDR *)&addr, sizeof addr): plain TCP (the handshake is deferred)");
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((u_short)port);
    addr.sin_addr.s_addr = inet_addr(szHost);
    if (addr.sin_addr.s_addr == INADDR_NONE) {
        HOSTENT *he = gethostbyname(szHost);
        if (!he)
            FailMsg("gethostbyname: unknown host");
        memcpy(&addr.sin_addr, he->h_addr_list[0], sizeof addr.sin_addr);
    }
    if (connect(s, (SOCKADDR *)&addr, sizeof addr) == SOCKET_ERROR)
        Fail("connect", WSAGetLastError());
    Say("-> 0; connected to %s:%d, no TLS yet (the hook has been called %d times)",
        inet_ntoa(addr.sin_addr), port, report.nCalls);

    /* 7 */
    Step(7, "plaintext exchange with send/recv: greeting, EHLO, STARTTLS");
    Expect(s, "220", line, sizeof line, "(greeting, plaintext)");
    SendLine(s, "EHLO sslsock-demo", "(plaintext)");
    Expect(s, "250", line, sizeof line, "(the server offers STARTTLS)");
    SendLine(s, "STARTTLS", "(plaintext)");
    Expect(s, "220", line, sizeof line, "(the server now waits for our TLS handshake)");

    /* 8 */
    Step(8, "WSAIoctl(s, SO_SSL_PERFORM_HANDSHAKE, \"%s\", strlen+1, NULL, 0, &cbReturned, NULL, NULL)",
         szServerName);
    if (WSAIoctl(s, SO_SSL_PERFORM_HANDSHAKE, (LPVOID)szServerName, (DWORD)strlen(szServerName) + 1, NULL, 0,
                 &cbReturned, NULL, NULL) == SOCKET_ERROR)
        Fail("WSAIoctl(SO_SSL_PERFORM_HANDSHAKE)", WSAGetLastError());
    Say("-> 0; code 0x%08X: the TLS handshake completed and the hook accepted; the name \"%s\"",
        (unsigned)SO_SSL_PERFORM_HANDSHAKE, szServerName);
    Say("   was sent as SNI (unless it is an IP address) and checked against the certificate");

    /* 9 */
    Step(9, "what the hook was given during step 8");
    {
        char subject[256] = "?", issuer[256] = "?", from[64] = "?", to[64] = "?";
        Say("calls: %d (once per handshake, on the thread that asked for it)", report.nCalls);
        Say("dwType: %u%s", (unsigned)report.dwType,
            report.dwType == SSL_CERT_X509 ? " = SSL_CERT_X509" : "");
        Say("dwChainLen: %u (CE always passes one certificate: the server's own)", (unsigned)report.dwChainLen);
        Say("pCertChain[0]: %u bytes of DER, starting %02x %02x %02x %02x", (unsigned)report.cbLeaf,
            report.abLeaf[0], report.abLeaf[1], report.abLeaf[2], report.abLeaf[3]);
        if (DerDescribe(report.abLeaf, report.cbLeaf, subject, issuer, from, to, sizeof subject)) {
            Say("   subject CN \"%s\", issuer CN \"%s\"", subject, issuer);
            Say("   valid from %s to %s", from, to);
            Say("   (a CE hook compares that CN with the host: \"%s\" %s \"%s\")", subject,
                strcmp(subject, szServerName) == 0 ? "==" : "!=", szServerName);
        }
        Say("dwFlags: 0x%x = %s", (unsigned)report.dwFlags,
            report.dwFlags == 0 ? "0 (the chain leads to a trusted root and the name matches)"
            : (report.dwFlags & SSL_CERT_FLAG_ISSUER_UNKNOWN) ? "SSL_CERT_FLAG_ISSUER_UNKNOWN"
                                                                : "unknown bits");
        Say("verdict: %s", VerdictName(report.nVerdict));
    }

    /* 10 */
    Step(10, "WSAIoctl(s, SO_SSL_GET_CONNECTION_INFO, NULL, 0, &info, sizeof info, &cbReturned, NULL, NULL)");
    memset(&info, 0, sizeof info);
    if (WSAIoctl(s, SO_SSL_GET_CONNECTION_INFO, NULL, 0, &info, sizeof info, &cbReturned, NULL, NULL) ==
        SOCKET_ERROR)
        Fail("WSAIoctl(SO_SSL_GET_CONNECTION_INFO)", WSAGetLastError());
    Say("-> 0; %u bytes (SSLCONNECTIONINFO):", (unsigned)cbReturned);
    Say("dwProtocol  0x%-6x %s", (unsigned)info.dwProtocol, ProtocolName(info.dwProtocol));
    Say("aiCipher    0x%-6x %s, %u bits", (unsigned)info.aiCipher, CipherName(info.aiCipher),
        (unsigned)info.dwCipherStrength);
    Say("aiHash      0x%-6x %s, %u bits", (unsigned)info.aiHash, HashName(info.aiHash),
        (unsigned)info.dwHashStrength);
    Say("aiExch      0x%-6x %s, %u bits", (unsigned)info.aiExch, ExchName(info.aiExch, info.dwExchStrength),
        (unsigned)info.dwExchStrength);

    /* 11 */
    Step(11, "encrypted exchange with the same send/recv calls");
    SendLine(s, "ECHO hello from a CE program", "(encrypted)");
    Expect(s, "hello from a CE program", line, sizeof line, "(decrypted)");
    SendLine(s, "INFO", "(encrypted: what does the server see?)");
    Expect(s, "TLS", line, sizeof line, "(the server's view: version and cipher suite)");
    SendLine(s, "QUIT", "(encrypted)");
    Expect(s, "BYE", line, sizeof line, "(decrypted)");
    rc = recv(s, line, sizeof line, 0);
    if (rc == SOCKET_ERROR)
        Fail("recv", WSAGetLastError());
    Say("recv -> %d%s", rc, rc == 0 ? "  (end of stream: the server sent its close_notify)" : "");

    /* 12 */
    Step(12, "shutdown(s, SD_BOTH); closesocket(s)");
    if (shutdown(s, SD_BOTH) == SOCKET_ERROR)
        Fail("shutdown", WSAGetLastError());
    Say("shutdown -> 0 (sends our close_notify)");
    if (closesocket(s) == SOCKET_ERROR)
        Fail("closesocket", WSAGetLastError());
    Say("closesocket -> 0 (the socket and its TLS state are gone)");

    /* 13 */
    Step(13, "WSACleanup()");
    if (WSACleanup() == SOCKET_ERROR)
        Fail("WSACleanup", WSAGetLastError());
    Say("-> 0");

    printf("\nDone: all %d steps succeeded.\n", STEPS);
    return 0;
}
