/*
 * Pattern 9 - Navigation client (PAL layer).
 *
 * SO_SECURE -> hook(this), deliberately no SET_PEERNAME so the hook can tell
 * a trust failure (flags) from a name failure (its own CN check) -> connect ->
 * reader thread: hand-built fd_set, select(0, &r, NULL, NULL, NULL); recv
 * under a critical section; the writer loops on partial sends under the same
 * section. Hook: BAD_DATA unless X509 and dwChainLen == 1; the CN must equal
 * the configured name.
 */
#include <winsock2.h>
#include <sslsock.h>
#include "common.h"

struct nav_pal {
    const char *configured_name;
    SOCKET s;
    pthread_mutex_t cs;       /* the critical section */
    long body_total;
    int body_ok;
    int head_ok;
    int last_rc;
    int last_err;
    int select_errors;
    int trust_failures;       /* the hook saw ISSUER_UNKNOWN */
    int name_failures;        /* the hook's CN check failed */
};

static struct hook_record g_rec;

static int CALLBACK nav_cert_hook(DWORD dwType, LPVOID pvArg, DWORD dwChainLen, LPBLOB pCertChain,
                                  DWORD dwFlags)
{
    struct nav_pal *pal = pvArg;
    struct cert_facts facts;
    hook_note(&g_rec, dwType, pvArg, dwChainLen, pCertChain, dwFlags);
    if (dwType != SSL_CERT_X509 || dwChainLen != 1)
        return SSL_ERR_BAD_DATA;
    if (dwFlags & SSL_CERT_FLAG_ISSUER_UNKNOWN) {
        pal->trust_failures++;
        return SSL_ERR_CERT_UNKNOWN;
    }
    if (!der_cert_facts(pCertChain[0].pBlobData, pCertChain[0].cbSize, &facts) ||
        strcmp(facts.cn, pal->configured_name) != 0) {
        pal->name_failures++;
        return SSL_ERR_BAD_DATA;
    }
    return SSL_ERR_OKAY;
}

/* Reader thread: the response to GET /big.bin, head and body. */
static void *nav_reader(void *p)
{
    struct nav_pal *pal = p;
    static char buf[8192];
    char head[8192];
    int hlen = 0, in_body = 0;

    pal->body_ok = 1;
    for (;;) {
        fd_set r;
        int n;
        r.fd_count = 1;
        r.fd_array[0] = pal->s;
        n = select(0, &r, NULL, NULL, NULL);
        if (n != 1 || r.fd_count != 1 || r.fd_array[0] != pal->s) {
            pal->select_errors++;
            pal->last_rc = -100;
            pal->last_err = WSAGetLastError();
            return NULL;
        }
        pthread_mutex_lock(&pal->cs);
        n = recv(pal->s, buf, sizeof buf, 0);
        pal->last_err = n < 0 ? WSAGetLastError() : 0;
        pthread_mutex_unlock(&pal->cs);
        pal->last_rc = n;
        if (n <= 0)
            return NULL;
        if (in_body) {
            if (!expect_pattern(buf, (size_t)n, (size_t)pal->body_total))
                pal->body_ok = 0;
            pal->body_total += n;
            continue;
        }
        {
            /* collect the head up to the blank line, the rest is body */
            int i;
            for (i = 0; i < n; i++) {
                if (hlen < (int)sizeof head - 1)
                    head[hlen++] = buf[i];
                head[hlen] = 0;
                if (hlen >= 4 && memcmp(head + hlen - 4, "\r\n\r\n", 4) == 0) {
                    pal->head_ok = strncmp(head, "HTTP/1.0 200", 12) == 0;
                    in_body = 1;
                    if (!expect_pattern(buf + i + 1, (size_t)(n - i - 1), 0))
                        pal->body_ok = 0;
                    pal->body_total = n - i - 1;
                    break;
                }
            }
        }
    }
}

/* Writer: loops on partial sends under the critical section. */
static int nav_write(struct nav_pal *pal, const char *data, int len)
{
    while (len > 0) {
        int n;
        pthread_mutex_lock(&pal->cs);
        n = send(pal->s, data, len, 0);
        pthread_mutex_unlock(&pal->cs);
        if (n == SOCKET_ERROR)
            return -1;
        data += n;
        len -= n;
    }
    return 0;
}

static int nav_connect(struct nav_pal *pal, int port, const char *what)
{
    DWORD secure = SO_SEC_SSL, cb;
    SSLVALIDATECERTHOOK hook;
    SOCKADDR_IN addr;

    pal->s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    CHECK(pal->s != INVALID_SOCKET, "%s: socket()", what);
    CHECK(setsockopt(pal->s, SOL_SOCKET, SO_SECURE, (const char *)&secure, sizeof secure) == 0, "%s: SO_SECURE",
          what);
    hook.HookFunc = nav_cert_hook;
    hook.pvArg = pal;
    CHECK(WSAIoctl(pal->s, SO_SSL_SET_VALIDATE_CERT_HOOK, &hook, sizeof hook, NULL, 0, &cb, NULL, NULL) == 0,
          "%s: SET_VALIDATE_CERT_HOOK(this), no SET_PEERNAME", what);
    connect_addr(&addr, port);
    return connect(pal->s, (SOCKADDR *)&addr, sizeof addr);
}

static void nav_refused(int port, const char *der_file, DWORD want_flags, int want_trust, int want_name,
                        const char *what)
{
    static struct nav_pal pal;
    size_t der_len;
    unsigned char *der = read_pki(der_file, &der_len);
    int rc, err;
    char c;

    memset(&pal, 0, sizeof pal);
    pal.configured_name = "localhost";
    hook_reset(&g_rec, 0);
    rc = nav_connect(&pal, port, what);
    err = WSAGetLastError();
    CHECK(rc == SOCKET_ERROR && err == WSAECONNABORTED, "%s: connect fails with WSAECONNABORTED (rc %d, err %d)",
          what, rc, err);
    check_hook(&g_rec, 1, want_flags, &pal, der, der_len, what);
    CHECK(pal.trust_failures == want_trust && pal.name_failures == want_name,
          "%s: the hook told it apart: trust failures %d (want %d), name failures %d (want %d)", what,
          pal.trust_failures, want_trust, pal.name_failures, want_name);
    CHECK(send(pal.s, "x", 1, 0) == SOCKET_ERROR, "%s: a later send fails", what);
    CHECK(recv(pal.s, &c, 1, 0) == SOCKET_ERROR, "%s: a later recv fails", what);
    closesocket(pal.s);
    free(der);
}

int main(void)
{
    static struct nav_pal pal;
    static const char req[] = "GET /big.bin HTTP/1.0\r\n\r\n";
    pthread_t th;
    int rc;
    size_t good_len;
    unsigned char *good = read_pki("good.der", &good_len);

    start_watchdog(55);

    /* ---- good server: reader thread in select(NULL timeout) while the writer sends ---- */
    memset(&pal, 0, sizeof pal);
    pal.configured_name = "localhost";
    pthread_mutex_init(&pal.cs, NULL);
    hook_reset(&g_rec, 0);
    rc = nav_connect(&pal, env_port("T_PORT_HTTPS"), "good");
    CHECK(rc == 0, "good: connect returns 0");
    check_hook(&g_rec, 1, 0, &pal, good, good_len, "good");
    pthread_create(&th, NULL, nav_reader, &pal);
    usleep(100000);            /* the reader is in select(0, &r, NULL, NULL, NULL) */
    CHECK(nav_write(&pal, req, (int)sizeof req - 1) == 0, "good: writer sends the request under the section");
    pthread_join(th, NULL);
    CHECK(pal.select_errors == 0, "good: reader's select always returned {1,[s]}");
    CHECK(pal.head_ok, "good: status line HTTP/1.0 200");
    CHECK(pal.body_ok && pal.body_total == BIG_BIN_SIZE, "good: 1 MiB body byte-exact (%ld bytes)", pal.body_total);
    CHECK(pal.last_rc == 0, "good: reader ended on recv returning 0 (rc %d, err %d)", pal.last_rc, pal.last_err);
    CHECK(closesocket(pal.s) == 0, "good: closesocket");

    /* ---- wrong name: trusted, so flags are 0 (no peer name); the hook's CN check refuses ---- */
    nav_refused(env_port("T_PORT_WRONGNAME"), "wrongname.der", 0, 0, 1, "wrong name");

    /* ---- untrusted: the flags say so; the hook refuses on trust ---- */
    nav_refused(env_port("T_PORT_UNTRUSTED"), "untrusted.der", SSL_CERT_FLAG_ISSUER_UNKNOWN, 1, 0, "untrusted");

    free(good);
    return finish();
}
