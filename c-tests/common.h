/*
 * common.h - shared helpers for the sslsock C test programs (c-tests/).
 *
 * Static (inline) functions only, so that a program that uses a subset of
 * them still compiles under -Wall -Werror.  Output convention (docs/testing.md):
 * one line per check, "ok - what" or "not ok - what (detail)"; finish()
 * returns the exit code (0 only if every check passed).
 *
 * Names in here are stable: other test programs include this file.
 */
#ifndef SSLSOCK_CTESTS_COMMON_H
#define SSLSOCK_CTESTS_COMMON_H

#include <winsock2.h>
#include <sslsock.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#define CT_UNUSED __attribute__((unused))

/* ------------------------------------------------------------------ */
/* checks                                                              */

static int g_checks CT_UNUSED = 0;
static int g_failures CT_UNUSED = 0;
static pthread_mutex_t g_check_lock CT_UNUSED = PTHREAD_MUTEX_INITIALIZER;

/* Records one check.  Reads WSAGetLastError() and the failure reason of the
 * calling thread first thing, i.e. right after the condition was evaluated. */
static inline int check_impl(int ok, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline int check_impl(int ok, const char *fmt, ...)
{
    int wsa = WSAGetLastError();
    const char *reason = sslsock_last_error_reason();
    char what[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);

    pthread_mutex_lock(&g_check_lock);
    g_checks++;
    if (ok) {
        printf("ok - %s\n", what);
    } else {
        g_failures++;
        printf("not ok - %s (WSAGetLastError()=%d, reason=%s)\n", what, wsa,
               reason ? reason : "(null)");
    }
    fflush(stdout);
    pthread_mutex_unlock(&g_check_lock);
    return ok;
}

/* CHECK(cond, fmt, ...): an expression; yields 1 when cond held. */
#define CHECK(cond, ...) check_impl(!!(cond), __VA_ARGS__)

/* A diagnostic line that is not a check (the runner ignores '#'). */
static inline void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void note(const char *fmt, ...)
{
    va_list ap;
    pthread_mutex_lock(&g_check_lock);
    printf("# ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    pthread_mutex_unlock(&g_check_lock);
}

/* Exit code: 0 only if at least one check ran and none failed. */
static inline int finish(void)
{
    int failures, checks;
    pthread_mutex_lock(&g_check_lock);
    failures = g_failures;
    checks = g_checks;
    pthread_mutex_unlock(&g_check_lock);
    printf("# %d checks, %d failed\n", checks, failures);
    fflush(stdout);
    return (failures == 0 && checks > 0) ? 0 : 1;
}

static void watchdog_fired(int sig) CT_UNUSED;
static void watchdog_fired(int sig)
{
    static const char msg[] = "not ok - watchdog: program did not finish in time\n";
    (void)sig;
    if (write(1, msg, sizeof msg - 1) < 0) { /* nothing to do */ }
    _exit(1);
}

/* Kills the program with a "not ok" line after `seconds` (stays under the runner's 60 s). */
static inline void start_watchdog(unsigned seconds)
{
    signal(SIGALRM, watchdog_fired);
    alarm(seconds);
}

/* Monotonic milliseconds. */
static inline long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs `fn(arg)` in a forked child that counts its own checks (its "# N checks" line is its own), and
 * checks in the caller that the child passed them all. For variants of a test that each need a fresh
 * process: fork before the first sslsock call, so that each child starts as a new program would. */
static inline void run_in_child(const char *name, int (*fn)(const void *), const void *arg)
{
    note("-- %s, in a fresh child", name);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        g_checks = g_failures = 0;
        _exit(fn(arg));
    }
    int st = 0;
    CHECK(pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0,
          "%s: every check of the child passed (status 0x%x)", name, st);
}

/* A fork child's exit with status `code`, by exec of the shell: under valgrind an _exit would count
 * the memory of the parent's other threads (which the child does not have) as lost; an exec ends the
 * process image without a leak check. */
static inline void child_exit(int code)
{
    char cmd[32];
    snprintf(cmd, sizeof cmd, "exit %d", code);
    execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
    _exit(code);
}

/* One event selection on a fresh socket pair (the fork tests' churn and children): `mask` selected
 * with `ev` on one end, a byte written from the other, a wait of up to `ms` for the event, the recorded
 * events taken, both ends closed. Returns WSAWaitForMultipleEvents' answer (0: the event came), or
 * WSA_WAIT_FAILED when no socket pair could be made. */
static inline DWORD select_round(WSAEVENT ev, long mask, DWORD ms)
{
    int sp[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) != 0) return WSA_WAIT_FAILED;
    WSAEventSelect(sp[0], ev, mask);
    send(sp[1], "x", 1, 0);
    DWORD w = WSAWaitForMultipleEvents(1, &ev, FALSE, ms, FALSE);
    WSANETWORKEVENTS ne;
    WSAEnumNetworkEvents(sp[0], ev, &ne);
    close(sp[0]);
    close(sp[1]);
    return w;
}

/* Waits (up to `ms` in all) until the events in `want` have all been recorded on s (WSAEventSelect
 * with event `ev`), collecting what WSAEnumNetworkEvents hands over into *all (error codes kept by
 * bit). Returns 1 if they came. */
static inline int collect_events(SOCKET s, WSAEVENT ev, long want, unsigned ms, WSANETWORKEVENTS *all)
{
    long long deadline = now_ms() + ms;
    memset(all, 0, sizeof *all);
    while ((all->lNetworkEvents & want) != want) {
        long long left = deadline - now_ms();
        WSANETWORKEVENTS ne = {0, {0}};
        int b;
        if (left <= 0)
            return 0;
        if (WSAWaitForMultipleEvents(1, &ev, FALSE, (DWORD)left, FALSE) != WSA_WAIT_EVENT_0)
            return 0;
        if (WSAEnumNetworkEvents(s, ev, &ne) != 0)
            return 0;
        for (b = 0; b < FD_MAX_EVENTS; b++)
            if (ne.lNetworkEvents & (1L << b))
                all->iErrorCode[b] = ne.iErrorCode[b];
        all->lNetworkEvents |= ne.lNetworkEvents;
    }
    return 1;
}

/* ------------------------------------------------------------------ */
/* environment, addresses, files                                       */

/* The port in environment variable `name`; exits with a failed check if unset. */
static inline int env_port(const char *name)
{
    const char *v = getenv(name);
    int port = v ? atoi(v) : 0;
    if (port <= 0 || port > 65535) {
        CHECK(0, "environment variable %s holds a port", name);
        exit(finish());
    }
    return port;
}

static inline const char *test_host(void)
{
    const char *h = getenv("T_HOST");
    return (h && *h) ? h : "127.0.0.1";
}

/* Fills *sa with T_HOST:port; returns sizeof(SOCKADDR_IN). */
static inline int connect_addr(SOCKADDR_IN *sa, int port)
{
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons((unsigned short)port);
    if (inet_pton(AF_INET, test_host(), &sa->sin_addr) != 1)
        sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return (int)sizeof *sa;
}

/* "$T_PKI/<file>" in a static buffer. */
static inline const char *pki_path(const char *file)
{
    static char path[4096];
    const char *dir = getenv("T_PKI");
    snprintf(path, sizeof path, "%s/%s", dir ? dir : ".", file);
    return path;
}

/* Whole file in malloc'd memory (NUL-terminated for convenience), NULL on error. */
static inline unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    size_t cap = 0, n = 0;
    if (!f)
        return NULL;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            unsigned char *nb;
            cap = cap ? cap * 2 : 8192;
            nb = realloc(buf, cap);
            if (!nb) { free(buf); fclose(f); return NULL; }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, 4096, f);
        n += got;
        if (got == 0)
            break;
    }
    fclose(f);
    buf[n] = 0;
    *len = n;
    return buf;
}

/* $T_PKI/<file> loaded; exits with a failed check when missing. */
static inline unsigned char *read_pki(const char *file, size_t *len)
{
    unsigned char *b = read_file(pki_path(file), len);
    if (!b) {
        CHECK(0, "read %s", pki_path(file));
        exit(finish());
    }
    return b;
}

/* ------------------------------------------------------------------ */
/* I/O                                                                 */

/* Sends all of buf, looping on partial sends. 0 on success, -1 on failure. */
static inline int send_all(SOCKET s, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        int n = (int)send(s, p, len, 0);
        if (n == SOCKET_ERROR || n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static inline int send_str(SOCKET s, const char *str)
{
    return send_all(s, str, strlen(str));
}

/* Reads one line, one byte per recv. CR and LF are stripped, buf NUL-terminated.
 * Returns the line length, -1 when recv failed, -2 at end of stream before a LF
 * (an over-long line is truncated to cap-1 and the rest discarded). */
static inline int recv_line(SOCKET s, char *buf, int cap)
{
    int n = 0;
    for (;;) {
        char c;
        int r = (int)recv(s, &c, 1, 0);
        if (r == SOCKET_ERROR)
            return -1;
        if (r == 0) {
            if (cap > 0) buf[n < cap ? n : cap - 1] = 0;
            return -2;
        }
        if (c == '\n')
            break;
        if (n < cap - 1)
            buf[n++] = c;
    }
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    buf[n] = 0;
    return n;
}

/* Receives exactly len bytes (loops). Returns len, or what was received
 * before end of stream, or -1 on failure. */
static inline long recv_exact(SOCKET s, void *buf, size_t len)
{
    char *p = buf;
    size_t got = 0;
    while (got < len) {
        int r = (int)recv(s, p + got, len - got, 0);
        if (r == SOCKET_ERROR)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (long)got;
}

/* The test data pattern (big.bin, BIG n): byte i = (i * 7 + 3) & 0xff. */
static inline unsigned char pattern_byte(size_t i)
{
    return (unsigned char)((i * 7 + 3) & 0xff);
}

/* 1 if buf[0..len) is the pattern starting at stream offset `offset`. */
static inline int expect_pattern(const void *buf, size_t len, size_t offset)
{
    const unsigned char *p = buf;
    size_t i;
    for (i = 0; i < len; i++)
        if (p[i] != pattern_byte(offset + i))
            return 0;
    return 1;
}

#define BIG_BIN_SIZE (1024 * 1024)

/* Reads the body until recv returns 0 (or fails), `chunk` bytes per recv,
 * checking the pattern. *last_rc gets the final recv's return value,
 * *ok 1 if every byte matched. Returns the byte count. */
static inline long recv_pattern_to_eof(SOCKET s, size_t chunk, int *ok, int *last_rc)
{
    static __thread unsigned char buf[65536];
    long total = 0;
    if (chunk > sizeof buf)
        chunk = sizeof buf;
    *ok = 1;
    for (;;) {
        int r = (int)recv(s, (char *)buf, chunk, 0);
        *last_rc = r;
        if (r <= 0)
            break;
        if (!expect_pattern(buf, (size_t)r, (size_t)total))
            *ok = 0;
        total += r;
    }
    return total;
}

/* n printable characters (no CR/LF), NUL-terminated: the text of a long ECHO.
 * "ECHO <up to ~8000 chars>" comes back as ONE TLS record with nothing after
 * it, so a reader that takes less than a record at a time sees the rest only
 * in the library's buffer, never in the kernel's. */
static inline void fill_text(char *buf, size_t n, unsigned seed)
{
    size_t i;
    for (i = 0; i < n; i++)
        buf[i] = (char)('a' + (i * 7 + seed) % 26);
    buf[n] = 0;
}

/* STARTTLS server over TLS: "ECHO text" -> "text". 1 when the echo came back. */
static inline int echo_roundtrip(SOCKET s, const char *text)
{
    char line[2048];
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "ECHO %s\r\n", text);
    if (send_str(s, cmd) != 0)
        return 0;
    if (recv_line(s, line, sizeof line) < 0)
        return 0;
    return strcmp(line, text) == 0;
}

/* STARTTLS server over TLS: "BIG n", received `chunk` bytes per recv, pattern
 * and the "\r\nEND\r\n" trailer verified. 1 when everything was right. */
static inline int big_roundtrip(SOCKET s, size_t n, size_t chunk)
{
    static __thread unsigned char buf[65536];
    char cmd[64];
    char line[64];
    size_t got = 0;
    if (chunk > sizeof buf)
        chunk = sizeof buf;
    snprintf(cmd, sizeof cmd, "BIG %lu\r\n", (unsigned long)n);
    if (send_str(s, cmd) != 0)
        return 0;
    while (got < n) {
        size_t want = n - got < chunk ? n - got : chunk;
        int r = (int)recv(s, (char *)buf, want, 0);
        if (r <= 0)
            return 0;
        if (!expect_pattern(buf, (size_t)r, got))
            return 0;
        got += (size_t)r;
    }
    if (recv_line(s, line, sizeof line) != 0)   /* the CRLF right after the data */
        return 0;
    if (recv_line(s, line, sizeof line) < 0 || strcmp(line, "END") != 0)
        return 0;
    return 1;
}

/* ------------------------------------------------------------------ */
/* HTTP against s_server -WWW (T_PORT_HTTPS and the certificate ports)  */

/* Reads the status line and header lines (one byte per recv) up to the blank
 * line; the status line goes to status[cap]. Returns the number of header
 * lines, or -1 on failure/end of stream. */
static inline int http_read_head(SOCKET s, char *status, int cap)
{
    char line[1024];
    int n = 0;
    if (recv_line(s, status, cap) < 0)
        return -1;
    for (;;) {
        int r = recv_line(s, line, sizeof line);
        if (r < 0)
            return -1;
        if (r == 0)
            return n;
        n++;
    }
}

/* The whole GET of /big.bin on a connected secure socket: the request in one
 * send, status line "HTTP/1.0 200 ..." and headers one byte per recv, then the
 * 1 MiB body `chunk` bytes per recv until recv returns 0, checked byte-exact. */
static inline int check_http_big(SOCKET s, size_t chunk, const char *what)
{
    static const char req[] = "GET /big.bin HTTP/1.0\r\n\r\n";
    char status[256];
    int ok = 1, match = 0, last = -1, heads;
    long total;

    ok &= CHECK(send(s, req, sizeof req - 1, 0) == (int)(sizeof req - 1),
                "%s: send of the GET request returns its length", what);
    heads = http_read_head(s, status, sizeof status);
    ok &= CHECK(heads >= 0 && strncmp(status, "HTTP/1.0 200", 12) == 0,
                "%s: status line is HTTP/1.0 200 (got '%s')", what, heads >= 0 ? status : "");
    ok &= CHECK(heads >= 1, "%s: at least one header line before the blank line (got %d)", what, heads);
    total = recv_pattern_to_eof(s, chunk, &match, &last);
    ok &= CHECK(total == BIG_BIN_SIZE, "%s: body is %d bytes (got %ld)", what, BIG_BIN_SIZE, total);
    ok &= CHECK(match, "%s: body matches the big.bin pattern byte for byte", what);
    ok &= CHECK(last == 0, "%s: recv returns 0 at the end of the body (got %d)", what, last);
    return ok;
}

/* GET /index.html: status 200, body byte-equal to $T_DOCROOT/index.html, then recv 0. */
static inline int check_http_index(SOCKET s, const char *what)
{
    static const char req[] = "GET /index.html HTTP/1.0\r\n\r\n";
    char status[256], path[4096], buf[4096];
    const char *docroot = getenv("T_DOCROOT");
    unsigned char *want;
    size_t want_len = 0, got = 0;
    int ok = 1, same = 1, heads, r;

    snprintf(path, sizeof path, "%s/index.html", docroot ? docroot : ".");
    want = read_file(path, &want_len);
    ok &= CHECK(want != NULL, "%s: read %s", what, path);
    ok &= CHECK(send(s, req, sizeof req - 1, 0) == (int)(sizeof req - 1),
                "%s: send of the GET /index.html request returns its length", what);
    heads = http_read_head(s, status, sizeof status);
    ok &= CHECK(heads >= 0 && strncmp(status, "HTTP/1.0 200", 12) == 0,
                "%s: status line is HTTP/1.0 200 (got '%s')", what, heads >= 0 ? status : "");
    for (;;) {
        r = (int)recv(s, buf, sizeof buf, 0);
        if (r <= 0)
            break;
        if (!want || got + (size_t)r > want_len || memcmp(want + got, buf, (size_t)r) != 0)
            same = 0;
        got += (size_t)r;
    }
    ok &= CHECK(same && got == want_len, "%s: body equals index.html (%lu bytes, got %lu)", what,
                (unsigned long)want_len, (unsigned long)got);
    ok &= CHECK(r == 0, "%s: recv returns 0 at the end of the body (got %d)", what, r);
    free(want);
    return ok;
}

/* ------------------------------------------------------------------ */
/* minimal X.509 reading for the hooks (subject CN, validity)          */

struct cert_facts {
    char cn[256];
    char not_before[16];   /* "YYYYMMDDHHMMSS" (UTC) */
    char not_after[16];
};

static inline const unsigned char *der_tlv(const unsigned char *p, const unsigned char *e, int *tag,
                                           const unsigned char **val, size_t *vlen)
{
    size_t len;
    if (!p || e - p < 2)
        return NULL;
    *tag = p[0];
    len = p[1];
    p += 2;
    if (len & 0x80) {
        int n = (int)(len & 0x7f);
        if (n == 0 || n > 4 || e - p < n)
            return NULL;
        len = 0;
        while (n--)
            len = (len << 8) | *p++;
    }
    if ((size_t)(e - p) < len)
        return NULL;
    *val = p;
    *vlen = len;
    return p + len;
}

static inline int der_time(int tag, const unsigned char *v, size_t n, char out[16])
{
    if (tag == 0x17 && n >= 12) {            /* UTCTime YYMMDDHHMMSSZ */
        int yy = (v[0] - '0') * 10 + (v[1] - '0');
        memcpy(out, yy >= 50 ? "19" : "20", 2);
        memcpy(out + 2, v, 12);
    } else if (tag == 0x18 && n >= 14) {     /* GeneralizedTime YYYYMMDDHHMMSSZ */
        memcpy(out, v, 14);
    } else {
        return 0;
    }
    out[14] = 0;
    return 1;
}

/* Subject CN and validity of a DER certificate. 1 on success. */
static inline int der_cert_facts(const unsigned char *der, size_t len, struct cert_facts *f)
{
    const unsigned char *e = der + len, *v, *tbs, *tbs_end, *p, *q;
    size_t n;
    int tag, i;

    memset(f, 0, sizeof *f);
    if (!der_tlv(der, e, &tag, &v, &n) || tag != 0x30)
        return 0;
    if (!der_tlv(v, v + n, &tag, &tbs, &n) || tag != 0x30)
        return 0;
    tbs_end = tbs + n;
    p = tbs;
    if (p < tbs_end && *p == 0xA0) {         /* [0] version */
        p = der_tlv(p, tbs_end, &tag, &v, &n);
    }
    for (i = 0; i < 3 && p; i++)             /* serial, signature, issuer */
        p = der_tlv(p, tbs_end, &tag, &v, &n);
    p = der_tlv(p, tbs_end, &tag, &v, &n);   /* validity */
    if (!p || tag != 0x30)
        return 0;
    {
        const unsigned char *ve = v + n, *tv;
        size_t tn;
        q = der_tlv(v, ve, &tag, &tv, &tn);
        if (!q || !der_time(tag, tv, tn, f->not_before))
            return 0;
        q = der_tlv(q, ve, &tag, &tv, &tn);
        if (!q || !der_time(tag, tv, tn, f->not_after))
            return 0;
    }
    p = der_tlv(p, tbs_end, &tag, &v, &n);   /* subject */
    if (!p || tag != 0x30)
        return 0;
    {
        const unsigned char *se = v + n, *rdn = v, *set, *atv, *a;
        size_t setn, atvn, an;
        while (rdn && rdn < se) {
            rdn = der_tlv(rdn, se, &tag, &set, &setn);
            if (!rdn || tag != 0x31)
                break;
            a = der_tlv(set, set + setn, &tag, &atv, &atvn);
            if (!a || tag != 0x30)
                continue;
            q = der_tlv(atv, atv + atvn, &tag, &a, &an);
            if (q && tag == 0x06 && an == 3 && a[0] == 0x55 && a[1] == 0x04 && a[2] == 0x03) {
                if (der_tlv(q, atv + atvn, &tag, &a, &an) && an < sizeof f->cn) {
                    memcpy(f->cn, a, an);
                    f->cn[an] = 0;
                }
            }
        }
    }
    return 1;
}

/* 1 when now (UTC) lies within [not_before, not_after]. */
static inline int cert_valid_now(const struct cert_facts *f)
{
    char now[32];
    time_t t = time(NULL);
    struct tm tmv;
    gmtime_r(&t, &tmv);
    strftime(now, sizeof now, "%Y%m%d%H%M%S", &tmv);
    return strcmp(f->not_before, now) <= 0 && strcmp(now, f->not_after) <= 0;
}

/* CN match as shipped hooks do it: case-insensitive, "*." matches one label. */
static inline int cn_matches(const char *cn, const char *host)
{
    if (cn[0] == '*' && cn[1] == '.') {
        const char *dot = strchr(host, '.');
        if (!dot || dot == host)
            return 0;
        return strcasecmp(dot + 1, cn + 2) == 0;
    }
    return strcasecmp(cn, host) == 0;
}

/* ------------------------------------------------------------------ */
/* the certificate hook                                                */

struct hook_record {
    int calls;
    DWORD type, chainlen, flags;
    LPVOID arg;
    unsigned char der[8192];
    DWORD derlen;
    int verdict;          /* what record_hook returns (SSL_ERR_OKAY, ...) */
};

static inline void hook_reset(struct hook_record *r, int verdict)
{
    memset(r, 0, sizeof *r);
    r->verdict = verdict;
}

/* Stores one hook call's arguments in r (the first chain entry's bytes). */
static inline void hook_note(struct hook_record *r, DWORD dwType, LPVOID pvArg,
                             DWORD dwChainLen, LPBLOB pCertChain, DWORD dwFlags)
{
    r->calls++;
    r->type = dwType;
    r->arg = pvArg;
    r->chainlen = dwChainLen;
    r->flags = dwFlags;
    r->derlen = 0;
    if (dwChainLen >= 1 && pCertChain && pCertChain[0].pBlobData &&
        pCertChain[0].cbSize <= sizeof r->der) {
        memcpy(r->der, pCertChain[0].pBlobData, pCertChain[0].cbSize);
        r->derlen = pCertChain[0].cbSize;
    } else if (dwChainLen >= 1 && pCertChain) {
        r->derlen = (DWORD)-1;   /* marks "unusable blob" */
    }
}

/* A hook whose pvArg is a struct hook_record *: records and returns r->verdict. */
static int CALLBACK record_hook(DWORD dwType, LPVOID pvArg, DWORD dwChainLen,
                                LPBLOB pCertChain, DWORD dwFlags) CT_UNUSED;
static int CALLBACK record_hook(DWORD dwType, LPVOID pvArg, DWORD dwChainLen,
                                LPBLOB pCertChain, DWORD dwFlags)
{
    struct hook_record *r = pvArg;
    hook_note(r, dwType, pvArg, dwChainLen, pCertChain, dwFlags);
    return r->verdict;
}

/* Checks everything recorded: `calls` calls, type X509, chain of 1, leaf equal
 * to der/derlen (skipped when der is NULL), flags, pvArg. Returns 1 if all held. */
static inline int check_hook(const struct hook_record *r, int calls, DWORD flags,
                             LPVOID arg, const unsigned char *der, size_t derlen,
                             const char *what)
{
    int ok = 1;
    ok &= CHECK(r->calls == calls, "%s: hook called %d time(s) (got %d)", what, calls, r->calls);
    if (calls == 0 || r->calls == 0)
        return ok;
    ok &= CHECK(r->type == SSL_CERT_X509, "%s: hook dwType == SSL_CERT_X509 (got %u)", what,
                (unsigned)r->type);
    ok &= CHECK(r->chainlen == 1, "%s: hook dwChainLen == 1 (got %u)", what, (unsigned)r->chainlen);
    if (der)
        ok &= CHECK(r->derlen == derlen && memcmp(r->der, der, derlen) == 0,
                    "%s: hook pCertChain[0] is the server's leaf DER (%lu bytes, got %ld)", what,
                    (unsigned long)derlen, (long)(int)r->derlen);
    ok &= CHECK(r->flags == flags, "%s: hook dwFlags == 0x%x (got 0x%x)", what, (unsigned)flags,
                (unsigned)r->flags);
    ok &= CHECK(r->arg == arg, "%s: hook pvArg is the value passed (%p, got %p)", what, arg, r->arg);
    return ok;
}

/* Installs a validate-cert hook with full WSAIoctl argument shape (NULL out, NULL pcb). */
static inline int set_hook(SOCKET s, SSLVALIDATECERTFUNC fn, LPVOID arg)
{
    SSLVALIDATECERTHOOK h;
    h.HookFunc = fn;
    h.pvArg = arg;
    return WSAIoctl(s, SO_SSL_SET_VALIDATE_CERT_HOOK, &h, sizeof h, NULL, 0, NULL, NULL, NULL);
}

/* SECURE: setsockopt(s, SOL_SOCKET, SO_SECURE, &(DWORD)SO_SEC_SSL, 4). */
static inline int make_secure(SOCKET s)
{
    DWORD v = SO_SEC_SSL;
    return setsockopt(s, SOL_SOCKET, SO_SECURE, (const char *)&v, sizeof v);
}

/* ------------------------------------------------------------------ */
/* connection info                                                     */

/* Checks an SSLCONNECTIONINFO for TLS 1.2/1.3 with consistent ALG_IDs and strengths. */
static inline int check_conn_info(const SSLCONNECTIONINFO *ci, const char *what)
{
    int ok = 1;
    ok &= CHECK(ci->dwProtocol == SSL_PROT_TLS1_3_CLIENT || ci->dwProtocol == SSL_PROT_TLS1_2_CLIENT,
                "%s: dwProtocol is TLS 1.3 (0x2000) or TLS 1.2 (0x800) client (got 0x%x)", what,
                (unsigned)ci->dwProtocol);
    ok &= CHECK((ci->aiCipher == CALG_AES_128 && ci->dwCipherStrength == 128) ||
                (ci->aiCipher == CALG_AES_256 && ci->dwCipherStrength == 256) ||
                (ci->aiCipher == SSLSOCK_CALG_CHACHA20_POLY1305 && ci->dwCipherStrength == 256),
                "%s: aiCipher/strength a known pair (got 0x%x/%u)", what, (unsigned)ci->aiCipher,
                (unsigned)ci->dwCipherStrength);
    ok &= CHECK((ci->aiHash == CALG_SHA_256 && ci->dwHashStrength == 256) ||
                (ci->aiHash == CALG_SHA_384 && ci->dwHashStrength == 384),
                "%s: aiHash/strength a known pair (got 0x%x/%u)", what, (unsigned)ci->aiHash,
                (unsigned)ci->dwHashStrength);
    ok &= CHECK((ci->aiExch == CALG_ECDH_EPHEM &&
                 (ci->dwExchStrength == 255 || ci->dwExchStrength == 256 ||
                  ci->dwExchStrength == 384 || ci->dwExchStrength == 521)) ||
                (ci->aiExch == CALG_DH_EPHEM && ci->dwExchStrength >= 2048),
                "%s: aiExch/strength a known pair (got 0x%x/%u)", what, (unsigned)ci->aiExch,
                (unsigned)ci->dwExchStrength);
    return ok;
}

/* ------------------------------------------------------------------ */
/* SHA-256 (for the STARTTLS server's "SUM n")                         */

struct sha256 {
    uint32_t h[8];
    uint64_t len;
    unsigned char buf[64];
    size_t used;
};

static inline uint32_t sha256_ror(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

static inline void sha256_block(struct sha256 *c, const unsigned char *p)
{
    static const uint32_t k[64] = {
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};
    uint32_t w[64], a, b, cc, d, e, f, g, h;
    int i;
    for (i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 |
               p[4 * i + 3];
    for (i = 16; i < 64; i++) {
        uint32_t s0 = sha256_ror(w[i - 15], 7) ^ sha256_ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = sha256_ror(w[i - 2], 17) ^ sha256_ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    a = c->h[0]; b = c->h[1]; cc = c->h[2]; d = c->h[3];
    e = c->h[4]; f = c->h[5]; g = c->h[6]; h = c->h[7];
    for (i = 0; i < 64; i++) {
        uint32_t t1 = h + (sha256_ror(e, 6) ^ sha256_ror(e, 11) ^ sha256_ror(e, 25)) +
                      ((e & f) ^ (~e & g)) + k[i] + w[i];
        uint32_t t2 = (sha256_ror(a, 2) ^ sha256_ror(a, 13) ^ sha256_ror(a, 22)) +
                      ((a & b) ^ (a & cc) ^ (b & cc));
        h = g; g = f; f = e; e = d + t1; d = cc; cc = b; b = a; a = t1 + t2;
    }
    c->h[0] += a; c->h[1] += b; c->h[2] += cc; c->h[3] += d;
    c->h[4] += e; c->h[5] += f; c->h[6] += g; c->h[7] += h;
}

static inline void sha256_init(struct sha256 *c)
{
    static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(c->h, iv, sizeof iv);
    c->len = 0;
    c->used = 0;
}

static inline void sha256_update(struct sha256 *c, const void *data, size_t len)
{
    const unsigned char *p = data;
    c->len += len;
    while (len > 0) {
        size_t take = 64 - c->used < len ? 64 - c->used : len;
        memcpy(c->buf + c->used, p, take);
        c->used += take;
        p += take;
        len -= take;
        if (c->used == 64) {
            sha256_block(c, c->buf);
            c->used = 0;
        }
    }
}

/* Finishes into 64 lowercase hex digits + NUL. */
static inline void sha256_hex(struct sha256 *c, char out[65])
{
    uint64_t bits = c->len * 8;
    unsigned char pad = 0x80, lenbuf[8];
    int i;
    sha256_update(c, &pad, 1);
    pad = 0;
    while (c->used != 56)
        sha256_update(c, &pad, 1);
    for (i = 0; i < 8; i++)
        lenbuf[i] = (unsigned char)(bits >> (56 - 8 * i));
    sha256_update(c, lenbuf, 8);
    for (i = 0; i < 8; i++)
        sprintf(out + 8 * i, "%08x", (unsigned)c->h[i]);
    out[64] = 0;
}

#endif /* SSLSOCK_CTESTS_COMMON_H */
