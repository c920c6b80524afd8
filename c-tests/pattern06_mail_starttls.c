/*
 * Pattern 6 - Mail client with STARTTLS.
 *
 * WSAStartup(0x202) -> SO_SECURE -> hook(this) -> DEFER -> blocking connect ->
 * a timer calls select(0, NULL, &w, &e, {0,0}) on hand-built fd_sets and
 * expects "writable" at once -> WSASetLastError(0); zero-timeout select for
 * read; 0 with a non-zero last error is an error (a plain timeout must leave
 * it 0) -> recv with a 1007-byte buffer while select says ready ->
 * EHLO / STARTTLS -> PERFORM_HANDSHAKE(NULL, 0, ..., &br) -> over TLS ->
 * shutdown(SD_BOTH) + closesocket -> WSACleanup.
 * The client maps 10049-10065 and 11001 to messages: a refused connect must
 * give one of those codes.
 */
#include <winsock2.h>
#include <sslsock.h>
#include "common.h"

struct mail_client {
    SOCKET s;
    char inbuf[65536];
    int inlen;
    int timer_errors;          /* select returned 0 with a non-zero last error */
    int buffered_misses;       /* select said "not ready" while a record was half read */
};

static struct mail_client g_client;
static struct hook_record g_rec;

static int CALLBACK mail_cert_hook(DWORD dwType, LPVOID pvArg, DWORD dwChainLen, LPBLOB pCertChain,
                                   DWORD dwFlags)
{
    hook_note(&g_rec, dwType, pvArg, dwChainLen, pCertChain, dwFlags);
    if (dwType != SSL_CERT_X509 || dwChainLen < 1)
        return SSL_ERR_BAD_TYPE;
    if (dwFlags & SSL_CERT_FLAG_ISSUER_UNKNOWN)
        return SSL_ERR_CERT_UNKNOWN;
    return SSL_ERR_OKAY;
}

/* The client's error-to-message table. */
static const char *mail_error_text(int code)
{
    switch (code) {
    case 10049: return "Address not available";
    case 10050: return "Network is down";
    case 10051: return "Network unreachable";
    case 10052: return "Network dropped connection";
    case 10053: return "Connection aborted";
    case 10054: return "Connection reset by peer";
    case 10055: return "No buffer space";
    case 10056: return "Already connected";
    case 10057: return "Not connected";
    case 10058: return "Connection shut down";
    case 10059: return "Too many references";
    case 10060: return "Connection timed out";
    case 10061: return "Connection refused";
    case 10062: return "Too many levels of links";
    case 10063: return "Name too long";
    case 10064: return "Host is down";
    case 10065: return "No route to host";
    case 11001: return "Host not found";
    default: return NULL;
    }
}

/* Hand-built set with one socket. */
static void one_socket_set(fd_set *set, SOCKET s)
{
    set->fd_count = 1;
    set->fd_array[0] = s;
}

/* The timer's writability probe: select(0, NULL, &w, &e, {0,0}). */
static int timer_writable(SOCKET s)
{
    fd_set w, e;
    struct timeval tv = {0, 0};
    int n;
    one_socket_set(&w, s);
    one_socket_set(&e, s);
    n = select(0, NULL, &w, &e, &tv);
    return n == 1 && w.fd_count == 1 && w.fd_array[0] == s && e.fd_count == 0;
}

/* One timer tick: zero-timeout select for read; while ready, recv(1007).
 * record_left_hint: bytes of a single TLS record still to come (0: unknown).
 * Returns -1 when the connection ended or failed, else bytes read. */
static int timer_tick(struct mail_client *c, int record_left_hint)
{
    int got = 0;
    for (;;) {
        fd_set r;
        struct timeval tv = {0, 0};
        int n;
        char buf[1007];

        one_socket_set(&r, c->s);
        WSASetLastError(0);
        n = select(0, &r, NULL, NULL, &tv);
        if (n == 0 && WSAGetLastError() != 0)
            c->timer_errors++;
        if (n == SOCKET_ERROR)
            return -1;
        if (n == 0 || r.fd_count != 1 || r.fd_array[0] != c->s) {
            if (got > 0 && record_left_hint > 0)   /* part of a decrypted record is still buffered */
                c->buffered_misses++;
            return got;
        }
        n = recv(c->s, buf, sizeof buf, 0);
        if (n <= 0)
            return got ? got : -1;
        if (c->inlen + n > (int)sizeof c->inbuf)
            return -1;
        memcpy(c->inbuf + c->inlen, buf, (size_t)n);
        c->inlen += n;
        got += n;
        if (record_left_hint > 0)
            record_left_hint -= n;
    }
}

/* Runs the timer until inbuf holds `want` bytes (or a line when want == 0). */
static int mail_wait(struct mail_client *c, int want, int record_hint, int ms)
{
    long long deadline = now_ms() + ms;
    for (;;) {
        if (want > 0 ? c->inlen >= want : memchr(c->inbuf, '\n', (size_t)c->inlen) != NULL)
            return 1;
        if (now_ms() > deadline)
            return 0;
        if (timer_tick(c, record_hint) < 0)
            return 0;
        record_hint = 0;
        usleep(5000);
    }
}

/* Takes one line out of inbuf (CRLF stripped). */
static int mail_take_line(struct mail_client *c, char *line, int cap)
{
    char *nl = memchr(c->inbuf, '\n', (size_t)c->inlen);
    int n, len;
    if (!nl)
        return -1;
    len = (int)(nl - c->inbuf) + 1;
    n = len - 1;
    if (n > 0 && c->inbuf[n - 1] == '\r')
        n--;
    if (n > cap - 1)
        n = cap - 1;
    memcpy(line, c->inbuf, (size_t)n);
    line[n] = 0;
    memmove(c->inbuf, c->inbuf + len, (size_t)(c->inlen - len));
    c->inlen -= len;
    return n;
}

static int mail_command(struct mail_client *c, const char *cmd, char *line, int cap)
{
    if (send_str(c->s, cmd) != 0)
        return -1;
    if (!mail_wait(c, 0, 0, 10000))
        return -1;
    return mail_take_line(c, line, cap);
}

int main(void)
{
    WSADATA wsa;
    struct mail_client *c = &g_client;
    DWORD secure = SO_SEC_SSL, flags = SSL_FLAG_DEFER_HANDSHAKE, br;
    SSLVALIDATECERTHOOK hook;
    SOCKADDR_IN addr;
    int rc, err;
    size_t good_len;
    unsigned char *good = read_pki("good.der", &good_len);
    char line[1024];

    start_watchdog(55);

    rc = WSAStartup(0x202, &wsa);
    CHECK(rc == 0 && wsa.wVersion == 0x202, "WSAStartup(0x202) gives 0x202 (rc %d, 0x%x)", rc,
          (unsigned)wsa.wVersion);

    hook_reset(&g_rec, 0);
    memset(c, 0, sizeof *c);
    c->s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    CHECK(c->s != INVALID_SOCKET, "socket()");
    CHECK(setsockopt(c->s, SOL_SOCKET, SO_SECURE, (const char *)&secure, sizeof secure) == 0, "SO_SECURE");
    hook.HookFunc = mail_cert_hook;
    hook.pvArg = c;
    CHECK(WSAIoctl(c->s, SO_SSL_SET_VALIDATE_CERT_HOOK, &hook, sizeof hook, NULL, 0, &br, NULL, NULL) == 0,
          "SET_VALIDATE_CERT_HOOK(this)");
    CHECK(WSAIoctl(c->s, SO_SSL_SET_FLAGS, &flags, sizeof flags, NULL, 0, &br, NULL, NULL) == 0,
          "SET_FLAGS(DEFER) for a STARTTLS-capable server");
    connect_addr(&addr, env_port("T_PORT_STARTTLS"));
    CHECK(connect(c->s, (SOCKADDR *)&addr, sizeof addr) == 0, "blocking connect");

    /* the timer, right after connect */
    CHECK(timer_writable(c->s), "timer: select(0, NULL, {1,[s]}, {1,[s]}, {0,0}) says writable at once");
    {
        fd_set r;
        struct timeval tv = {0, 0};
        one_socket_set(&r, c->s);
        WSASetLastError(0);
        rc = select(0, &r, NULL, NULL, &tv);
        err = WSAGetLastError();
        CHECK(rc >= 0 && (rc != 0 || (err == 0 && r.fd_count == 0)),
              "timer: zero-timeout read select before the greeting: %d, last error %d", rc, err);
    }

    /* greeting, read with a 1007-byte buffer while select says ready */
    CHECK(mail_wait(c, 0, 0, 10000) && mail_take_line(c, line, sizeof line) >= 0 &&
              strcmp(line, "220 sslsock-test ready") == 0,
          "plaintext: greeting '220 sslsock-test ready' (got '%s')", line);
    rc = mail_command(c, "EHLO client.example\r\n", line, sizeof line);
    CHECK(rc >= 0 && strcmp(line, "250 STARTTLS") == 0, "plaintext: EHLO answered 250 STARTTLS (got '%s')", line);
    {
        fd_set r;
        struct timeval tv = {0, 0};
        one_socket_set(&r, c->s);
        WSASetLastError(0);
        rc = select(0, &r, NULL, NULL, &tv);
        err = WSAGetLastError();
        CHECK(rc == 0 && r.fd_count == 0, "plaintext: nothing pending: zero-timeout select returns 0 (got %d)", rc);
        CHECK(err == 0, "plaintext: a plain select timeout leaves WSAGetLastError() == 0 (got %d)", err);
    }
    rc = mail_command(c, "STARTTLS\r\n", line, sizeof line);
    CHECK(rc >= 0 && strcmp(line, "220 go ahead") == 0, "plaintext: STARTTLS answered 220 (got '%s')", line);
    CHECK(c->inlen == 0, "plaintext: nothing left over before the handshake");

    br = 0xdeadbeef;
    rc = WSAIoctl(c->s, SO_SSL_PERFORM_HANDSHAKE, NULL, 0, NULL, 0, &br, NULL, NULL);
    CHECK(rc == 0, "STARTTLS: PERFORM_HANDSHAKE(NULL, 0, NULL, 0, &br) returns 0");
    check_hook(&g_rec, 1, 0, c, good, good_len, "STARTTLS");

    /* over TLS */
    CHECK(timer_writable(c->s), "TLS: hand-built select says writable at once");
    rc = mail_command(c, "ECHO mail over tls\r\n", line, sizeof line);
    CHECK(rc >= 0 && strcmp(line, "mail over tls") == 0, "TLS: ECHO (got '%s')", line);
    {
        fd_set r;
        struct timeval tv = {0, 0};
        one_socket_set(&r, c->s);
        WSASetLastError(0);
        rc = select(0, &r, NULL, NULL, &tv);
        err = WSAGetLastError();
        CHECK(rc == 0 && err == 0, "TLS: idle zero-timeout select returns 0, last error stays 0 (%d, %d)", rc, err);
    }
    /* BIG 5000: one record, read 1007 bytes at a time while select says ready */
    CHECK(send_str(c->s, "BIG 5000\r\n") == 0, "TLS: send BIG 5000");
    c->buffered_misses = 0;
    {
        long long deadline = now_ms() + 10000;
        while (c->inlen < 5007 && now_ms() < deadline) {
            if (timer_tick(c, 5000 - c->inlen) < 0)   /* the 5000 bytes are one record */
                break;
            usleep(2000);
        }
    }
    CHECK(c->inlen == 5007 && expect_pattern(c->inbuf, 5000, 0) && memcmp(c->inbuf + 5000, "\r\nEND\r\n", 7) == 0,
          "TLS: BIG 5000 received byte-exact through 1007-byte recvs (%d bytes)", c->inlen);
    CHECK(c->buffered_misses == 0,
          "TLS: select kept saying ready while the record's plaintext was buffered (%d misses)", c->buffered_misses);
    c->inlen = 0;
    {
        /* ECHO of 5000 characters: one record, nothing after it in the kernel */
        static char text[5001], cmd[5100];
        long long deadline = now_ms() + 5000;
        fill_text(text, 5000, 6);
        snprintf(cmd, sizeof cmd, "ECHO %s\r\n", text);
        CHECK(send_str(c->s, cmd) == 0, "TLS: send ECHO of 5000 characters");
        c->buffered_misses = 0;
        while (c->inlen < 5002 && now_ms() < deadline) {
            if (timer_tick(c, 5002 - c->inlen) < 0)
                break;
            usleep(2000);
        }
        CHECK(c->inlen == 5002, "TLS: single-record echo of 5002 bytes taken by the timer within 5 s (%d bytes)",
              c->inlen);
        while (c->inlen < 5002) {              /* take the rest (blocking) to stay in step */
            int r = recv(c->s, c->inbuf + c->inlen, 5002 - c->inlen, 0);
            if (r <= 0)
                break;
            c->inlen += r;
        }
        CHECK(c->inlen == 5002 && memcmp(c->inbuf, text, 5000) == 0 && memcmp(c->inbuf + 5000, "\r\n", 2) == 0,
              "TLS: single-record echo byte-exact (%d bytes)", c->inlen);
        CHECK(c->buffered_misses == 0,
              "TLS: select said ready from buffered plaintext alone, every time (%d misses)", c->buffered_misses);
        c->inlen = 0;
    }
    CHECK(c->timer_errors == 0, "timer: no select returned 0 with a non-zero last error (%d)", c->timer_errors);

    rc = mail_command(c, "QUIT\r\n", line, sizeof line);
    CHECK(rc >= 0 && strcmp(line, "BYE") == 0, "TLS: QUIT answered BYE (got '%s')", line);
    {
        char b;
        CHECK(recv(c->s, &b, 1, 0) == 0, "TLS: recv returns 0 after the server's close_notify");
    }
    CHECK(shutdown(c->s, SD_BOTH) == 0, "shutdown(SD_BOTH)");
    CHECK(closesocket(c->s) == 0, "closesocket");

    /* a refused connect maps to one of the client's messages */
    {
        SOCKET probe = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP), s;
        SOCKADDR_IN a;
        socklen_t alen = sizeof a;
        connect_addr(&a, 0);
        bind(probe, (SOCKADDR *)&a, sizeof a);
        getsockname(probe, (SOCKADDR *)&a, &alen);
        closesocket(probe);                          /* nobody listens on that port now */
        s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
        setsockopt(s, SOL_SOCKET, SO_SECURE, (const char *)&secure, sizeof secure);
        hook_reset(&g_rec, 0);
        WSAIoctl(s, SO_SSL_SET_VALIDATE_CERT_HOOK, &hook, sizeof hook, NULL, 0, &br, NULL, NULL);
        WSAIoctl(s, SO_SSL_SET_FLAGS, &flags, sizeof flags, NULL, 0, &br, NULL, NULL);
        rc = connect(s, (SOCKADDR *)&a, sizeof a);
        err = WSAGetLastError();
        CHECK(rc == SOCKET_ERROR && err == WSAECONNREFUSED,
              "refused: connect fails with WSAECONNREFUSED (rc %d, err %d)", rc, err);
        CHECK(mail_error_text(err) != NULL, "refused: the code maps to a message (%s)",
              mail_error_text(err) ? mail_error_text(err) : "none");
        CHECK(g_rec.calls == 0, "refused: hook not called");
        closesocket(s);
    }

    CHECK(WSACleanup() == 0, "WSACleanup");
    free(good);
    return finish();
}
