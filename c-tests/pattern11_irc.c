/*
 * Pattern 11 - IRC client.
 *
 * WSAStartup(1.1) -> SO_SECURE -> hook(socket) -> connect (handshake inside)
 * -> GET_CONNECTION_INFO at once -> polling select(s + 1, &r, NULL, NULL,
 * {0, 0}) -> recv/send -> closesocket + WSACleanup.
 * The connection info is cross-checked against what the server saw (INFO),
 * and against servers restricted to TLS 1.2 and to TLS 1.3.
 */
#include <winsock2.h>
#include <sslsock.h>
#include "common.h"

static struct hook_record g_rec;

static int CALLBACK irc_cert_hook(DWORD dwType, LPVOID pvArg, DWORD dwChainLen, LPBLOB pCertChain,
                                  DWORD dwFlags)
{
    hook_note(&g_rec, dwType, pvArg, dwChainLen, pCertChain, dwFlags);
    return dwFlags == 0 && dwType == SSL_CERT_X509 ? SSL_ERR_OKAY : SSL_ERR_CERT_UNKNOWN;
}

struct irc_conn {
    SOCKET s;
    char rbuf[65536];
    int rlen;
};

/* The main loop's poll: select(s + 1, &r, NULL, NULL, {0, 0}) then recv(512). */
static int irc_poll(struct irc_conn *c)
{
    fd_set r;
    struct timeval tv = {0, 0};
    int n;
    FD_ZERO(&r);
    FD_SET(c->s, &r);
    n = select(c->s + 1, &r, NULL, NULL, &tv);
    if (n < 0)
        return -1;
    if (n == 0 || !FD_ISSET(c->s, &r))
        return 0;
    if (c->rlen + 512 > (int)sizeof c->rbuf)
        return -1;
    n = recv(c->s, c->rbuf + c->rlen, 512, 0);
    if (n <= 0)
        return n == 0 ? -2 : -1;
    c->rlen += n;
    return n;
}

/* Waits (polling) for `want` bytes or, when want == 0, a whole line. */
static int irc_wait(struct irc_conn *c, int want, int ms)
{
    long long deadline = now_ms() + ms;
    while (want > 0 ? c->rlen < want : memchr(c->rbuf, '\n', (size_t)c->rlen) == NULL) {
        int r = irc_poll(c);
        if (r < 0 || now_ms() > deadline)
            return 0;
        if (r == 0)
            usleep(2000);
    }
    return 1;
}

static int irc_line(struct irc_conn *c, char *line, int cap)
{
    char *nl;
    int len, n;
    if (!irc_wait(c, 0, 10000))
        return -1;
    nl = memchr(c->rbuf, '\n', (size_t)c->rlen);
    len = (int)(nl - c->rbuf) + 1;
    n = len - 1;
    if (n > 0 && c->rbuf[n - 1] == '\r')
        n--;
    if (n > cap - 1)
        n = cap - 1;
    memcpy(line, c->rbuf, (size_t)n);
    line[n] = 0;
    memmove(c->rbuf, c->rbuf + len, (size_t)(c->rlen - len));
    c->rlen -= len;
    return n;
}

static SOCKET irc_connect(int port, const char *what, int *rc_out)
{
    SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    DWORD secure = SO_SEC_SSL, cb;
    SSLVALIDATECERTHOOK hook;
    SOCKADDR_IN addr;
    CHECK(s != INVALID_SOCKET, "%s: socket()", what);
    CHECK(setsockopt(s, SOL_SOCKET, SO_SECURE, (const char *)&secure, sizeof secure) == 0, "%s: SO_SECURE",
          what);
    hook.HookFunc = irc_cert_hook;
    hook.pvArg = (LPVOID)(intptr_t)s;
    CHECK(WSAIoctl(s, SO_SSL_SET_VALIDATE_CERT_HOOK, &hook, sizeof hook, NULL, 0, &cb, NULL, NULL) == 0,
          "%s: SET_VALIDATE_CERT_HOOK(socket)", what);
    connect_addr(&addr, port);
    *rc_out = connect(s, (SOCKADDR *)&addr, sizeof addr);
    return s;
}

static int get_info(SOCKET s, SSLCONNECTIONINFO *info, const char *what)
{
    DWORD bytes = 0;
    int rc;
    memset(info, 0, sizeof *info);
    rc = WSAIoctl(s, SO_SSL_GET_CONNECTION_INFO, NULL, 0, info, sizeof *info, &bytes, NULL, NULL);
    CHECK(rc == 0 && bytes == sizeof *info, "%s: GET_CONNECTION_INFO right after connect (rc %d, %u bytes)", what,
          rc, (unsigned)bytes);
    return check_conn_info(info, what);
}

int main(void)
{
    static struct irc_conn c;
    WSADATA wsa;
    SSLCONNECTIONINFO info;
    int rc, i, ok;
    size_t good_len;
    unsigned char *good = read_pki("good.der", &good_len);
    char line[1024];

    start_watchdog(55);

    rc = WSAStartup(MAKEWORD(1, 1), &wsa);
    CHECK(rc == 0 && wsa.wVersion == MAKEWORD(1, 1), "WSAStartup(1.1) gives 1.1 (rc %d, 0x%x)", rc,
          (unsigned)wsa.wVersion);

    /* ---- the IRC session (immediate TLS against the line server) ---- */
    hook_reset(&g_rec, 0);
    c.rlen = 0;
    c.s = irc_connect(env_port("T_PORT_STARTTLS"), "irc", &rc);
    CHECK(rc == 0, "irc: connect returns 0");
    check_hook(&g_rec, 1, 0, (LPVOID)(intptr_t)c.s, good, good_len, "irc");
    get_info(c.s, &info, "irc");

    /* what the server saw must agree with the connection info */
    CHECK(send_str(c.s, "INFO\r\n") == 0, "irc: send INFO");
    rc = irc_line(&c, line, sizeof line);
    {
        char version[64] = "", cipher[128] = "";
        int want_cipher, want_hash;
        DWORD want_prot;
        CHECK(rc > 0 && sscanf(line, "%63s %127s", version, cipher) == 2, "irc: INFO answered (got '%s')", line);
        want_prot = strcmp(version, "TLSv1.3") == 0 ? SSL_PROT_TLS1_3_CLIENT
                    : strcmp(version, "TLSv1.2") == 0 ? SSL_PROT_TLS1_2_CLIENT : 0;
        want_cipher = (strstr(cipher, "AES_256") || strstr(cipher, "AES256")) ? CALG_AES_256
                      : (strstr(cipher, "AES_128") || strstr(cipher, "AES128")) ? CALG_AES_128
                      : strstr(cipher, "CHACHA20") ? SSLSOCK_CALG_CHACHA20_POLY1305 : -1;
        want_hash = strstr(cipher, "SHA384") ? CALG_SHA_384 : CALG_SHA_256;
        CHECK(info.dwProtocol == want_prot, "irc: dwProtocol 0x%x agrees with the server's %s", (unsigned)info.dwProtocol,
              version);
        CHECK((int)info.aiCipher == want_cipher && (int)info.aiHash == want_hash,
              "irc: aiCipher 0x%x / aiHash 0x%x agree with the server's %s", (unsigned)info.aiCipher,
              (unsigned)info.aiHash, cipher);
    }

    ok = 1;
    for (i = 0; i < 50 && ok; i++) {
        char msg[128];
        snprintf(msg, sizeof msg, "ECHO PRIVMSG #sslsock :message %d\r\n", i);
        ok = send_str(c.s, msg) == 0 && irc_line(&c, line, sizeof line) >= 0;
        snprintf(msg, sizeof msg, "PRIVMSG #sslsock :message %d", i);
        ok = ok && strcmp(line, msg) == 0;
    }
    CHECK(ok, "irc: 50 lines echoed through the zero-timeout polling loop (stopped at %d)", i);

    /* a record larger than the 512-byte reads: polling must see the buffered rest */
    CHECK(send_str(c.s, "BIG 3000\r\n") == 0, "irc: send BIG 3000");
    ok = irc_wait(&c, 3007, 5000);
    CHECK(ok && expect_pattern(c.rbuf, 3000, 0) && memcmp(c.rbuf + 3000, "\r\nEND\r\n", 7) == 0,
          "irc: BIG 3000 through 512-byte recvs after zero-timeout selects (%d bytes)", c.rlen);
    c.rlen = 0;
    {
        /* one 3002-byte record and nothing behind it: after the first 512-byte
         * recv only the library's buffer can make select report readable */
        static char text[3001], cmd[3100];
        fill_text(text, 3000, 11);
        snprintf(cmd, sizeof cmd, "ECHO %s\r\n", text);
        CHECK(send_str(c.s, cmd) == 0, "irc: send ECHO of 3000 characters");
        ok = irc_wait(&c, 3002, 5000);
        CHECK(ok && memcmp(c.rbuf, text, 3000) == 0 && memcmp(c.rbuf + 3000, "\r\n", 2) == 0,
              "irc: single-record echo through 512-byte recvs after zero-timeout selects (%d bytes)", c.rlen);
        c.rlen = 0;
    }

    CHECK(send_str(c.s, "QUIT\r\n") == 0 && irc_line(&c, line, sizeof line) >= 0 && strcmp(line, "BYE") == 0,
          "irc: QUIT -> BYE");
    {
        long long deadline = now_ms() + 5000;
        do {
            rc = irc_poll(&c);
            if (rc == 0)
                usleep(2000);
        } while (rc >= 0 && now_ms() < deadline);
        CHECK(rc == -2, "irc: the poll loop sees recv return 0 after the server's close_notify");
    }
    CHECK(closesocket(c.s) == 0, "irc: closesocket");

    /* ---- version-restricted servers: dwProtocol follows ---- */
    {
        static const struct {
            const char *env;
            DWORD prot;
            const char *what;
        } v[] = {{"T_PORT_TLS12", SSL_PROT_TLS1_2_CLIENT, "TLS 1.2 server"},
                 {"T_PORT_TLS13", SSL_PROT_TLS1_3_CLIENT, "TLS 1.3 server"}};
        for (i = 0; i < 2; i++) {
            SOCKET s;
            hook_reset(&g_rec, 0);
            s = irc_connect(env_port(v[i].env), v[i].what, &rc);
            CHECK(rc == 0, "%s: connect returns 0", v[i].what);
            check_hook(&g_rec, 1, 0, (LPVOID)(intptr_t)s, good, good_len, v[i].what);
            get_info(s, &info, v[i].what);
            CHECK(info.dwProtocol == v[i].prot, "%s: dwProtocol 0x%x (got 0x%x)", v[i].what, (unsigned)v[i].prot,
                  (unsigned)info.dwProtocol);
            check_http_index(s, v[i].what);
            CHECK(closesocket(s) == 0, "%s: closesocket", v[i].what);
        }
    }

    CHECK(WSACleanup() == 0, "WSACleanup");
    free(good);
    return finish();
}
