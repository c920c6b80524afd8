/*
 * Pattern 5 - POP3/SMTP client, TLS from the first byte through the deferred path.
 *
 * SO_SECURE -> hook(socket) -> DEFER -> connect -> PERFORM_HANDSHAKE(NULL, 0)
 * at once -> zero-timeout select(FD_SETSIZE, ...) polling for read and write,
 * recv with 4 KiB or 32 KiB buffers, sends of <= 4 KiB -> shutdown(s, 2) +
 * closesocket. Zero-timeout select must report buffered plaintext: one TLS
 * record (BIG 16000) is larger than the 4 KiB receive buffer.
 */
#include <winsock2.h>
#include <sslsock.h>
#include "common.h"

static struct hook_record g_rec;

static int CALLBACK pop_cert_hook(DWORD dwType, LPVOID pvArg, DWORD dwChainLen, LPBLOB pCertChain,
                                  DWORD dwFlags)
{
    hook_note(&g_rec, dwType, pvArg, dwChainLen, pCertChain, dwFlags);
    if (dwType != SSL_CERT_X509)
        return SSL_ERR_BAD_TYPE;
    if (dwFlags & SSL_CERT_FLAG_ISSUER_UNKNOWN)
        return SSL_ERR_CERT_UNKNOWN;
    return SSL_ERR_OKAY;
}

/* One zero-timeout select for read and write. Returns select's result, sets *rd and *wr. */
static int pop_poll(SOCKET s, int *rd, int *wr)
{
    fd_set r, w;
    struct timeval tv = {0, 0};
    int n;
    FD_ZERO(&r);
    FD_ZERO(&w);
    FD_SET(s, &r);
    FD_SET(s, &w);
    n = select(FD_SETSIZE, &r, &w, NULL, &tv);
    *rd = n > 0 && FD_ISSET(s, &r);
    *wr = n > 0 && FD_ISSET(s, &w);
    return n;
}

/* The client's main loop step: polls (1 ms sleeps) until readable, then one recv. */
static int pop_recv(SOCKET s, char *buf, int cap, long long deadline)
{
    int rd, wr;
    for (;;) {
        if (pop_poll(s, &rd, &wr) < 0)
            return SOCKET_ERROR;
        if (rd)
            return recv(s, buf, cap, 0);
        if (now_ms() > deadline)
            return -2;
        usleep(1000);
    }
}

/* Sends of at most 4 KiB, each after the poll said writable. */
static int pop_send(SOCKET s, const char *buf, int len, long long deadline)
{
    int rd, wr;
    while (len > 0) {
        int n = len > 4096 ? 4096 : len;
        if (pop_poll(s, &rd, &wr) < 0)
            return -1;
        if (!wr) {
            if (now_ms() > deadline)
                return -1;
            usleep(1000);
            continue;
        }
        n = send(s, buf, n, 0);
        if (n == SOCKET_ERROR)
            return -1;
        buf += n;
        len -= n;
    }
    return 0;
}

/* Reads a CRLF line through pop_recv with a small buffer (no over-read: lines are answers). */
static int pop_line(SOCKET s, char *line, int cap, long long deadline)
{
    int n = 0;
    for (;;) {
        char c;
        int r = pop_recv(s, &c, 1, deadline);
        if (r != 1)
            return -1;
        if (c == '\n')
            break;
        if (n < cap - 1)
            line[n++] = c;
    }
    if (n > 0 && line[n - 1] == '\r')
        n--;
    line[n] = 0;
    return n;
}

static SOCKET pop_open(int port, const char *what)
{
    SOCKET s;
    DWORD secure = SO_SEC_SSL, flags = SSL_FLAG_DEFER_HANDSHAKE, cb;
    SSLVALIDATECERTHOOK hook;
    SOCKADDR_IN addr;

    s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    CHECK(s != INVALID_SOCKET, "%s: socket()", what);
    CHECK(setsockopt(s, SOL_SOCKET, SO_SECURE, (const char *)&secure, sizeof secure) == 0, "%s: SO_SECURE",
          what);
    hook.HookFunc = pop_cert_hook;
    hook.pvArg = (LPVOID)(intptr_t)s;
    CHECK(WSAIoctl(s, SO_SSL_SET_VALIDATE_CERT_HOOK, &hook, sizeof hook, NULL, 0, &cb, NULL, NULL) == 0,
          "%s: SET_VALIDATE_CERT_HOOK(socket)", what);
    CHECK(WSAIoctl(s, SO_SSL_SET_FLAGS, &flags, sizeof flags, NULL, 0, &cb, NULL, NULL) == 0,
          "%s: SET_FLAGS(DEFER)", what);
    connect_addr(&addr, port);
    CHECK(connect(s, (SOCKADDR *)&addr, sizeof addr) == 0, "%s: connect", what);
    return s;
}

int main(void)
{
    static char buf[32768];
    static char data[50000];
    SOCKET s;
    DWORD cb;
    int rc, err, r, i;
    size_t good_len, untr_len;
    unsigned char *good = read_pki("good.der", &good_len);
    unsigned char *untr = read_pki("untrusted.der", &untr_len);
    long long deadline;
    char line[256];

    start_watchdog(55);

    hook_reset(&g_rec, 0);
    s = pop_open(env_port("T_PORT_STARTTLS"), "pop3s");
    cb = 0;
    rc = WSAIoctl(s, SO_SSL_PERFORM_HANDSHAKE, NULL, 0, NULL, 0, &cb, NULL, NULL);
    CHECK(rc == 0, "pop3s: PERFORM_HANDSHAKE(NULL, 0) right after connect returns 0");
    check_hook(&g_rec, 1, 0, (LPVOID)(intptr_t)s, good, good_len, "pop3s");

    /* ---- BIG 16000 (one record) through a 4 KiB buffer ---- */
    deadline = now_ms() + 10000;
    CHECK(pop_send(s, "BIG 16000\r\n", 11, deadline) == 0, "4 KiB: send BIG 16000 after a writable poll");
    {
        long total = 0;
        int ok = 1, immediate_ok = 1, rd, wr;
        while (total < 16000) {
            int want = 16000 - total < 4096 ? (int)(16000 - total) : 4096;
            r = pop_recv(s, buf, want, deadline);
            if (r <= 0) {
                ok = 0;
                break;
            }
            if (!expect_pattern(buf, (size_t)r, (size_t)total))
                ok = 0;
            total += r;
            /* right after a 4 KiB read from a 16000-byte record, the rest is buffered:
             * a zero-timeout select must say readable at once */
            if (total <= 12288 && (pop_poll(s, &rd, &wr) != 2 || !rd))
                immediate_ok = 0;
        }
        CHECK(ok && total == 16000, "4 KiB: 16000 pattern bytes received through 4 KiB recvs (got %ld)", total);
        CHECK(immediate_ok,
              "4 KiB: zero-timeout select reports readable (and writable) while plaintext is buffered");
        CHECK(pop_line(s, line, sizeof line, deadline) == 0, "4 KiB: CRLF after the data");
        CHECK(pop_line(s, line, sizeof line, deadline) == 3 && strcmp(line, "END") == 0, "4 KiB: END trailer");
    }

    /* ---- one 8002-byte record through a 4 KiB buffer, nothing else in flight ---- */
    {
        static char text[8001], cmd[8100], got[8002];
        int rd, wr, n1, total;
        fill_text(text, 8000, 5);
        snprintf(cmd, sizeof cmd, "ECHO %s\r\n", text);
        deadline = now_ms() + 5000;
        CHECK(pop_send(s, cmd, (int)strlen(cmd), deadline) == 0, "single record: send ECHO of 8000 characters");
        n1 = pop_recv(s, got, 4096, deadline);
        CHECK(n1 == 4096, "single record: polling select reported the 8002-byte record, recv(4096) gives 4096 "
                          "(got %d; -2 = select never said readable in 5 s)", n1);
        rc = pop_poll(s, &rd, &wr);
        CHECK(n1 == 4096 && rc == 2 && rd && wr,
              "single record: then zero-timeout select says readable from the buffered rest (select %d, r%d w%d)",
              rc, rd, wr);
        total = n1 > 0 ? n1 : 0;
        while (total < 8002) {                     /* take the rest (blocking) to stay in step */
            r = recv(s, got + total, 8002 - total, 0);
            if (r <= 0)
                break;
            total += r;
        }
        CHECK(total == 8002 && memcmp(got, text, 8000) == 0 && memcmp(got + 8000, "\r\n", 2) == 0,
              "single record: echo byte-exact (%d bytes)", total);
        rc = pop_poll(s, &rd, &wr);
        CHECK(rc == 1 && !rd && wr, "single record: all taken, zero-timeout select says writable only (%d, r%d)", rc,
              rd);
    }

    /* ---- BIG 300000 through a 4 KiB buffer: bursts of full-size records ---- */
    deadline = now_ms() + 10000;
    CHECK(pop_send(s, "BIG 300000\r\n", 12, deadline) == 0, "4 KiB burst: send BIG 300000");
    {
        static const char trailer[] = "\r\nEND\r\n";
        long total = 0, want_total = 300000 + 7;
        int ok = 1;
        while (total < want_total) {
            int want = want_total - total < 4096 ? (int)(want_total - total) : 4096;
            r = pop_recv(s, buf, want, deadline);
            if (r <= 0) {
                ok = 0;
                break;
            }
            for (i = 0; i < r; i++) {
                long pos = total + i;
                unsigned char want_c = pos < 300000 ? pattern_byte((size_t)pos)
                                                    : (unsigned char)trailer[pos - 300000];
                if ((unsigned char)buf[i] != want_c)
                    ok = 0;
            }
            total += r;
        }
        CHECK(ok && total == want_total,
              "4 KiB burst: 300000 bytes + trailer through zero-timeout polls, byte-exact (got %ld)", total);
        while (total < want_total) {               /* take the rest (blocking) to stay in step */
            r = recv(s, buf, 4096, 0);
            if (r <= 0)
                break;
            total += r;
        }
    }

    /* ---- BIG 100000 through a 32 KiB buffer ---- */
    deadline = now_ms() + 15000;
    CHECK(pop_send(s, "BIG 100000\r\n", 12, deadline) == 0, "32 KiB: send BIG 100000");
    {
        static const char trailer[] = "\r\nEND\r\n";
        long total = 0, want_total = 100000 + 7;
        int ok = 1;
        while (total < want_total) {
            int want = want_total - total < (long)sizeof buf ? (int)(want_total - total) : (int)sizeof buf;
            r = pop_recv(s, buf, want, deadline);
            if (r <= 0) {
                ok = 0;
                break;
            }
            for (i = 0; i < r; i++) {
                long pos = total + i;
                unsigned char want_c = pos < 100000 ? pattern_byte((size_t)pos)
                                                    : (unsigned char)trailer[pos - 100000];
                if ((unsigned char)buf[i] != want_c)
                    ok = 0;
            }
            total += r;
        }
        CHECK(ok && total == want_total, "32 KiB: 100000 pattern bytes + trailer, byte-exact (got %ld)", total);
    }

    /* ---- sends of <= 4 KiB: SUM of 50000 bytes ---- */
    {
        struct sha256 sha;
        char digest[65];
        for (i = 0; i < (int)sizeof data; i++)
            data[i] = (char)(i * 31 + 7);
        sha256_init(&sha);
        sha256_update(&sha, data, sizeof data);
        sha256_hex(&sha, digest);
        deadline = now_ms() + 15000;
        CHECK(pop_send(s, "SUM 50000\r\n", 11, deadline) == 0, "sends: SUM command");
        CHECK(pop_send(s, data, sizeof data, deadline) == 0, "sends: 50000 bytes in sends of at most 4 KiB");
        r = pop_line(s, line, sizeof line, deadline);
        CHECK(r == 64 && strcmp(line, digest) == 0, "sends: server's SHA-256 matches (got '%s')", line);
    }

    /* ---- a zero-timeout select with nothing buffered says not readable ---- */
    {
        int rd, wr;
        rc = pop_poll(s, &rd, &wr);
        CHECK(rc == 1 && !rd && wr, "idle: zero-timeout select reports writable only (got %d, r%d w%d)", rc, rd,
              wr);
    }

    /* ---- QUIT, end of stream, shutdown(2) + closesocket ---- */
    deadline = now_ms() + 10000;
    CHECK(pop_send(s, "QUIT\r\n", 6, deadline) == 0, "quit: send QUIT");
    CHECK(pop_line(s, line, sizeof line, deadline) >= 0 && strcmp(line, "BYE") == 0, "quit: BYE");
    r = pop_recv(s, buf, 4096, deadline);
    CHECK(r == 0, "quit: recv returns 0 after close_notify (got %d)", r);
    CHECK(shutdown(s, 2) == 0, "quit: shutdown(s, 2)");
    CHECK(closesocket(s) == 0, "quit: closesocket");

    /* ---- untrusted server: the hook refuses, the handshake fails ---- */
    hook_reset(&g_rec, 0);
    s = pop_open(env_port("T_PORT_UNTRUSTED"), "untrusted");
    rc = WSAIoctl(s, SO_SSL_PERFORM_HANDSHAKE, NULL, 0, NULL, 0, &cb, NULL, NULL);
    err = WSAGetLastError();
    CHECK(rc == SOCKET_ERROR && err == WSAECONNABORTED,
          "untrusted: PERFORM_HANDSHAKE fails with WSAECONNABORTED (rc %d, err %d)", rc, err);
    check_hook(&g_rec, 1, SSL_CERT_FLAG_ISSUER_UNKNOWN, (LPVOID)(intptr_t)s, untr, untr_len, "untrusted");
    CHECK(send(s, "USER x\r\n", 8, 0) == SOCKET_ERROR, "untrusted: a later send fails");
    CHECK(recv(s, buf, 4096, 0) == SOCKET_ERROR, "untrusted: a later recv fails");
    shutdown(s, 2);
    closesocket(s);

    free(good);
    free(untr);
    return finish();
}
