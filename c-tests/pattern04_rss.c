/*
 * Pattern 4 - RSS reader.
 *
 * socket(AF_INET, SOCK_STREAM, 0) -> SO_SECURE -> hook(wide host string) ->
 * DEFER -> SO_KEEPALIVE -> connect -> SOCKS4 negotiation in plaintext ->
 * PERFORM_HANDSHAKE(NULL, 0) -> one-byte recvs, each after
 * select(1, &r, NULL, NULL, &tv) -> shutdown(s, 0) + closesocket.
 * Hook: asserts dwChainLen == 1, checks the CN (with "*." wildcard) and the
 * dates, keeps user-accepted certificates by their DER bytes.
 *
 * A single TLS record (BIG 16000) is much larger than the one-byte reads: the
 * select before every byte must see the plaintext the library has buffered.
 */
#include <winsock2.h>
#include <sslsock.h>
#include "common.h"
#include <wchar.h>

static struct hook_record g_rec;

/* certificates the "user" accepted, kept by their DER bytes */
static unsigned char g_accepted[4][8192];
static DWORD g_accepted_len[4];
static int g_accepted_count;
static int g_user_asked;
static int g_user_says_yes;

static int accepted_before(const BYTE *der, DWORD len)
{
    int i;
    for (i = 0; i < g_accepted_count; i++)
        if (g_accepted_len[i] == len && memcmp(g_accepted[i], der, len) == 0)
            return 1;
    return 0;
}

static int CALLBACK rss_cert_hook(DWORD dwType, LPVOID pvArg, DWORD dwChainLen, LPBLOB pCertChain,
                                  DWORD dwFlags)
{
    const wchar_t *whost = (const wchar_t *)pvArg;
    char host[256];
    struct cert_facts facts;
    size_t i;

    hook_note(&g_rec, dwType, pvArg, dwChainLen, pCertChain, dwFlags);
    if (dwChainLen != 1)       /* the reader asserts it */
        return SSL_ERR_BAD_DATA;
    if (dwType != SSL_CERT_X509)
        return SSL_ERR_BAD_TYPE;
    for (i = 0; whost[i] && i < sizeof host - 1; i++)
        host[i] = (char)whost[i];
    host[i] = 0;
    if (!der_cert_facts(pCertChain[0].pBlobData, pCertChain[0].cbSize, &facts))
        return SSL_ERR_BAD_DATA;
    if (!cn_matches(facts.cn, host))
        return SSL_ERR_CERT_UNKNOWN;
    if (!cert_valid_now(&facts))
        return SSL_ERR_CERT_EXPIRED;
    if (dwFlags & SSL_CERT_FLAG_ISSUER_UNKNOWN) {
        if (accepted_before(pCertChain[0].pBlobData, pCertChain[0].cbSize))
            return SSL_ERR_OKAY;
        g_user_asked++;                          /* "Accept this certificate?" */
        if (!g_user_says_yes || g_accepted_count == 4 || pCertChain[0].cbSize > 8192)
            return SSL_ERR_CERT_UNKNOWN;
        memcpy(g_accepted[g_accepted_count], pCertChain[0].pBlobData, pCertChain[0].cbSize);
        g_accepted_len[g_accepted_count++] = pCertChain[0].cbSize;
    }
    return SSL_ERR_OKAY;
}

/* The reader's socket setup, up to the plain TCP connect. */
static SOCKET rss_open(const wchar_t *whost, int port, const char *what)
{
    SOCKET s;
    DWORD secure = SO_SEC_SSL, flags = SSL_FLAG_DEFER_HANDSHAKE, cb;
    SSLVALIDATECERTHOOK hook;
    SOCKADDR_IN addr;
    int on = 1, rc;

    s = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(s != INVALID_SOCKET, "%s: socket(AF_INET, SOCK_STREAM, 0)", what);
    CHECK(setsockopt(s, SOL_SOCKET, SO_SECURE, (const char *)&secure, sizeof secure) == 0, "%s: SO_SECURE",
          what);
    hook.HookFunc = rss_cert_hook;
    hook.pvArg = (LPVOID)whost;
    rc = WSAIoctl(s, SO_SSL_SET_VALIDATE_CERT_HOOK, &hook, sizeof hook, NULL, 0, &cb, NULL, NULL);
    CHECK(rc == 0, "%s: SET_VALIDATE_CERT_HOOK(wide host string)", what);
    rc = WSAIoctl(s, SO_SSL_SET_FLAGS, &flags, sizeof flags, NULL, 0, &cb, NULL, NULL);
    CHECK(rc == 0, "%s: SET_FLAGS(SSL_FLAG_DEFER_HANDSHAKE)", what);
    CHECK(setsockopt(s, SOL_SOCKET, SO_KEEPALIVE, (const char *)&on, sizeof on) == 0,
          "%s: SO_KEEPALIVE on the secure socket", what);
    connect_addr(&addr, port);
    CHECK(connect(s, (SOCKADDR *)&addr, sizeof addr) == 0, "%s: connect (plain TCP)", what);
    return s;
}

/* recv one byte after a select(1, &r, NULL, NULL, &tv); returns the recv result,
 * and counts selects that did not report the socket readable. */
static int rss_getc(SOCKET s, char *c, int *select_misses)
{
    fd_set r;
    struct timeval tv;
    int n;
    FD_ZERO(&r);
    FD_SET(s, &r);
    tv.tv_sec = 5;
    tv.tv_usec = 0;
    n = select(1, &r, NULL, NULL, &tv);
    if (n != 1 || !FD_ISSET(s, &r))
        (*select_misses)++;
    return recv(s, c, 1, 0);
}

/* SOCKS4 CONNECT in plaintext; the test server may greet ("220 ...") before it. */
static int socks4_connect(SOCKET s)
{
    unsigned char req[9] = {0x04, 0x01, 0x01, 0xBB, 127, 0, 0, 1, 0};   /* port 443, userid "" */
    unsigned char grant[8];
    char c;
    int n;

    if (send(s, (const char *)req, sizeof req, 0) != (int)sizeof req)
        return 0;
    if (recv(s, &c, 1, 0) != 1)
        return 0;
    if (c == '2') {                       /* the greeting line: skip it */
        while (c != '\n')
            if (recv(s, &c, 1, 0) != 1)
                return 0;
        if (recv(s, &c, 1, 0) != 1)
            return 0;
    }
    grant[0] = (unsigned char)c;
    n = (int)recv_exact(s, grant + 1, 7);
    return n == 7 && grant[0] == 0x00 && grant[1] == 0x5A;
}

int main(void)
{
    static const wchar_t host_w[] = L"localhost";
    SOCKET s;
    DWORD cb;
    int rc, err, i, misses, bad;
    size_t good_len, wrong_len, wild_len, self_len;
    unsigned char *good = read_pki("good.der", &good_len);
    unsigned char *wrong = read_pki("wrongname.der", &wrong_len);
    unsigned char *wild = read_pki("wildcard.der", &wild_len);
    unsigned char *self = read_pki("selfsigned.der", &self_len);
    char c, line[64];

    start_watchdog(55);

    /* ---- SOCKS4 in plaintext, then TLS, then one byte per recv ---- */
    hook_reset(&g_rec, 0);
    s = rss_open(host_w, env_port("T_PORT_STARTTLS"), "socks4");
    CHECK(socks4_connect(s), "socks4: CONNECT request granted (0x00 0x5A) in plaintext");
    rc = WSAIoctl(s, SO_SSL_PERFORM_HANDSHAKE, NULL, 0, NULL, 0, &cb, NULL, NULL);
    CHECK(rc == 0, "socks4: PERFORM_HANDSHAKE(NULL, 0) returns 0");
    check_hook(&g_rec, 1, 0, (LPVOID)host_w, good, good_len, "socks4");

    CHECK(send(s, "BIG 16000\r\n", 11, 0) == 11, "socks4: send BIG 16000");
    misses = 0;
    bad = 0;
    for (i = 0; i < 16000; i++) {
        rc = rss_getc(s, &c, &misses);
        if (rc != 1 || (unsigned char)c != pattern_byte((size_t)i)) {
            bad = 1;
            break;
        }
    }
    CHECK(!bad, "socks4: 16000 one-byte recvs give the pattern (stopped at %d)", i);
    CHECK(misses == 0, "socks4: every select before a one-byte recv reported the socket readable (%d misses)",
          misses);
    {
        /* the trailer, still byte by byte after select */
        static const char trailer[] = "\r\nEND\r\n";
        int j, tr_ok = 1;
        for (j = 0; j < 7; j++)
            if (rss_getc(s, &c, &misses) != 1 || c != trailer[j])
                tr_ok = 0;
        CHECK(tr_ok && misses == 0, "socks4: the \\r\\nEND\\r\\n trailer, one byte per recv after select");
    }
    CHECK(echo_roundtrip(s, "rss feed"), "socks4: ECHO over TLS");
    {
        /* a longer feed: several full-size records in a burst, still one byte per recv */
        static const char trailer[] = "\r\nEND\r\n";
        CHECK(send(s, "BIG 100000\r\n", 12, 0) == 12, "burst: send BIG 100000");
        misses = 0;
        bad = 0;
        for (i = 0; i < 100007 && misses <= 1; i++) {
            unsigned char want_c = i < 100000 ? pattern_byte((size_t)i) : (unsigned char)trailer[i - 100000];
            rc = rss_getc(s, &c, &misses);
            if (rc != 1 || (unsigned char)c != want_c) {
                bad = 1;
                break;
            }
        }
        for (; !bad && i < 100007; i++) {     /* gave up on select: take the rest to stay in step */
            unsigned char want_c = i < 100000 ? pattern_byte((size_t)i) : (unsigned char)trailer[i - 100000];
            if (recv(s, &c, 1, 0) != 1 || (unsigned char)c != want_c)
                bad = 1;
        }
        CHECK(!bad, "burst: 100000 bytes + trailer, one byte per recv, byte-exact (stopped at %d)", i);
        CHECK(misses == 0, "burst: every select before a one-byte recv said readable (%d misses)", misses);
    }
    {
        /* one 8002-byte record and nothing after it: every select after the
         * first byte can only be answered from the library's buffer */
        static char text[8001], cmd[8100];
        fill_text(text, 8000, 4);
        snprintf(cmd, sizeof cmd, "ECHO %s\r\n", text);
        CHECK(send_str(s, cmd) == 0, "single record: send ECHO of 8000 characters");
        misses = 0;
        bad = 0;
        for (i = 0; i < 8002 && misses <= 1; i++) {
            char want_c = i < 8000 ? text[i] : (i == 8000 ? '\r' : '\n');
            rc = rss_getc(s, &c, &misses);
            if (rc != 1 || c != want_c) {
                bad = 1;
                break;
            }
        }
        if (!bad && i < 8002) {            /* gave up on select: take the rest to stay in step */
            for (; i < 8002; i++) {
                char want_c = i < 8000 ? text[i] : (i == 8000 ? '\r' : '\n');
                if (recv(s, &c, 1, 0) != 1 || c != want_c) {
                    bad = 1;
                    break;
                }
            }
        }
        CHECK(!bad && i == 8002, "single record: 8002 one-byte recvs give the echo (stopped at %d)", i);
        CHECK(misses == 0, "single record: every select(1, &r, ...) before a one-byte recv said readable (%d misses)",
              misses);
    }
    CHECK(shutdown(s, 0) == 0, "socks4: shutdown(s, 0)");
    CHECK(closesocket(s) == 0, "socks4: closesocket");

    /* ---- CN with "*." wildcard: accepted by the hook ---- */
    {
        static const wchar_t wild_host[] = L"feed.localtest.example";
        hook_reset(&g_rec, 0);
        s = rss_open(wild_host, env_port("T_PORT_WILDCARD"), "wildcard");
        rc = WSAIoctl(s, SO_SSL_PERFORM_HANDSHAKE, NULL, 0, NULL, 0, &cb, NULL, NULL);
        CHECK(rc == 0, "wildcard: PERFORM_HANDSHAKE(NULL, 0) at once returns 0");
        check_hook(&g_rec, 1, 0, (LPVOID)wild_host, wild, wild_len, "wildcard");
        check_http_index(s, "wildcard");
        CHECK(shutdown(s, 0) == 0 && closesocket(s) == 0, "wildcard: shutdown(s, 0) + closesocket");
    }

    /* ---- CN mismatch: no peer name was set, so flags are 0 and the hook refuses ---- */
    hook_reset(&g_rec, 0);
    s = rss_open(host_w, env_port("T_PORT_WRONGNAME"), "wrong CN");
    rc = WSAIoctl(s, SO_SSL_PERFORM_HANDSHAKE, NULL, 0, NULL, 0, &cb, NULL, NULL);
    err = WSAGetLastError();
    CHECK(rc == SOCKET_ERROR, "wrong CN: PERFORM_HANDSHAKE fails (got %d)", rc);
    CHECK(err == WSAECONNABORTED, "wrong CN: WSAGetLastError() == WSAECONNABORTED (got %d)", err);
    check_hook(&g_rec, 1, 0, (LPVOID)host_w, wrong, wrong_len, "wrong CN");
    CHECK(recv(s, &c, 1, 0) == SOCKET_ERROR, "wrong CN: a later recv fails");
    CHECK(send(s, "x", 1, 0) == SOCKET_ERROR, "wrong CN: a later send fails");
    closesocket(s);

    /* ---- self-signed: the user accepts once, the DER is remembered ---- */
    hook_reset(&g_rec, 0);
    g_user_says_yes = 1;
    g_user_asked = 0;
    s = rss_open(host_w, env_port("T_PORT_SELFSIGNED"), "self-signed, user accepts");
    rc = WSAIoctl(s, SO_SSL_PERFORM_HANDSHAKE, NULL, 0, NULL, 0, &cb, NULL, NULL);
    CHECK(rc == 0, "self-signed, user accepts: PERFORM_HANDSHAKE returns 0");
    check_hook(&g_rec, 1, SSL_CERT_FLAG_ISSUER_UNKNOWN, (LPVOID)host_w, self, self_len,
               "self-signed, user accepts");
    CHECK(g_user_asked == 1, "self-signed, user accepts: user asked once");
    check_http_index(s, "self-signed, user accepts");
    shutdown(s, 0);
    closesocket(s);

    hook_reset(&g_rec, 0);
    g_user_says_yes = 0;
    s = rss_open(host_w, env_port("T_PORT_SELFSIGNED"), "self-signed, remembered");
    rc = WSAIoctl(s, SO_SSL_PERFORM_HANDSHAKE, NULL, 0, NULL, 0, &cb, NULL, NULL);
    CHECK(rc == 0, "self-signed, remembered: accepted again by its DER bytes without asking");
    CHECK(g_user_asked == 1, "self-signed, remembered: user not asked again");
    check_hook(&g_rec, 1, SSL_CERT_FLAG_ISSUER_UNKNOWN, (LPVOID)host_w, self, self_len,
               "self-signed, remembered");
    check_http_index(s, "self-signed, remembered");
    shutdown(s, 0);
    closesocket(s);

    /* ---- expired: the hook's date check refuses ---- */
    hook_reset(&g_rec, 0);
    s = rss_open(host_w, env_port("T_PORT_EXPIRED"), "expired");
    rc = WSAIoctl(s, SO_SSL_PERFORM_HANDSHAKE, NULL, 0, NULL, 0, &cb, NULL, NULL);
    err = WSAGetLastError();
    CHECK(rc == SOCKET_ERROR && err == WSAECONNABORTED,
          "expired: PERFORM_HANDSHAKE fails with WSAECONNABORTED (rc %d, err %d)", rc, err);
    CHECK(g_rec.calls == 1 && g_rec.flags == SSL_CERT_FLAG_ISSUER_UNKNOWN,
          "expired: hook called once with ISSUER_UNKNOWN (calls %d, flags 0x%x)", g_rec.calls,
          (unsigned)g_rec.flags);
    CHECK(recv(s, line, sizeof line, 0) == SOCKET_ERROR, "expired: a later recv fails");
    closesocket(s);

    free(good);
    free(wrong);
    free(wild);
    free(self);
    return finish();
}
