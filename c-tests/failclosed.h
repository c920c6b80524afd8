/*
 * failclosed.h - helpers shared by the issue 12 ("fail closed") programs, c-tests/failclosed_*.c.
 *
 * Include after common.h. Static functions only (unused ones are marked), so that each program
 * compiles under -Wall -Werror whatever subset it uses.
 *
 * The STARTTLS server (tests/servers/starttls_server.py) logs one line per event, "EVENT
 * 127.0.0.1:<client port> ...", to $T_STARTTLS_LOG; any non-TLS byte after its plaintext phase is
 * logged as PLAINTEXT-LEAK. The hostile server (tests/servers/hostile_server.py, $T_HOSTILE_LOG) logs
 * the same way and ends each connection with an END line. These helpers read that log from an offset taken when the program
 * started, so only this program's connections are seen, and attribute each line to a connection by
 * its client port.
 */
#ifndef SSLSOCK_CTESTS_FAILCLOSED_H
#define SSLSOCK_CTESTS_FAILCLOSED_H

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>

/* Every marker starts with 'P' (0x50): never the first byte of a TLS record (20..23). */
#define FC_MARKER "PLAINTEXT-MARKER"

/* what the server said about one client port */
#define FC_CLOSED 1      /* CLOSE or ERROR line: the server is done with the connection */
#define FC_LEAK 2        /* PLAINTEXT-LEAK */
#define FC_TLSERR 4      /* ERROR ... tls: a record that did not decrypt (bytes injected mid-record) */
#define FC_HS_OK 8       /* HANDSHAKE-OK */
#define FC_HS_FAIL 16    /* HANDSHAKE-FAIL */

static unsigned char fc_port_flags[65536] CT_UNUSED;
static char fc_leak_hex[65536][64] CT_UNUSED;   /* the start of the first leaked bytes, per port */

/* The log's size now (where this program's lines begin). */
static long fc_log_size(const char *path) CT_UNUSED;
static long fc_log_size(const char *path)
{
    struct stat st;
    if (!path || stat(path, &st) != 0)
        return 0;
    return (long)st.st_size;
}

static const char *fc_starttls_log(void) CT_UNUSED;
static const char *fc_starttls_log(void)
{
    const char *p = getenv("T_STARTTLS_LOG");
    return (p && *p) ? p : NULL;
}

/* Reads the log from `offset` into fc_port_flags (rebuilt at each call). Returns the number of
 * PLAINTEXT-LEAK lines seen, -1 when the log cannot be read. */
static int fc_scan_log(const char *path, long offset) CT_UNUSED;
static int fc_scan_log(const char *path, long offset)
{
    char line[1024];
    int leaks = 0;
    FILE *f;
    memset(fc_port_flags, 0, sizeof fc_port_flags);
    if (!path || !(f = fopen(path, "r")))
        return -1;
    if (fseek(f, offset, SEEK_SET) != 0) {
        fclose(f);
        return -1;
    }
    while (fgets(line, sizeof line, f)) {
        char ev[64], peer[64], rest[256];
        int port = 0;
        rest[0] = 0;
        if (sscanf(line, "%63s %63s %255[^\n]", ev, peer, rest) < 2)
            continue;
        if (strncmp(peer, "127.0.0.1:", 10) != 0)
            continue;
        port = atoi(peer + 10);
        if (port <= 0 || port > 65535)
            continue;
        if (strcmp(ev, "PLAINTEXT-LEAK") == 0) {
            leaks++;
            if (!(fc_port_flags[port] & FC_LEAK))
                snprintf(fc_leak_hex[port], sizeof fc_leak_hex[port], "%.60s", rest);
            fc_port_flags[port] |= FC_LEAK;
        } else if (strcmp(ev, "CLOSE") == 0) {
            fc_port_flags[port] |= FC_CLOSED;
        } else if (strcmp(ev, "END") == 0) {          /* hostile_server.py: the last line */
            fc_port_flags[port] |= FC_CLOSED;
            if (strstr(rest, "leak=yes"))
                fc_port_flags[port] |= FC_LEAK;
        } else if (strcmp(ev, "ERROR") == 0) {
            fc_port_flags[port] |= FC_CLOSED;
            if (strncmp(rest, "tls", 3) == 0)
                fc_port_flags[port] |= FC_TLSERR;
        } else if (strcmp(ev, "HANDSHAKE-OK") == 0) {
            fc_port_flags[port] |= FC_HS_OK;
        } else if (strcmp(ev, "HANDSHAKE-FAIL") == 0) {
            fc_port_flags[port] |= FC_HS_FAIL;
        }
    }
    fclose(f);
    return leaks;
}

/* Waits (at most timeout_ms) until the server has finished with every port of ports[0..n).
 * Leaves fc_port_flags scanned. Returns how many are still open at the server. */
static int fc_wait_closed(const char *path, long offset, const int *ports, int n, int timeout_ms) CT_UNUSED;
static int fc_wait_closed(const char *path, long offset, const int *ports, int n, int timeout_ms)
{
    long long until = now_ms() + timeout_ms;
    for (;;) {
        int open = 0, i;
        fc_scan_log(path, offset);
        for (i = 0; i < n; i++)
            if (ports[i] > 0 && !(fc_port_flags[ports[i]] & FC_CLOSED))
                open++;
        if (open == 0 || now_ms() > until)
            return open;
        usleep(20 * 1000);
    }
}

/* The client port of a socket (its local port), 0 when unknown. getsockname is not interposed. */
static int fc_local_port(SOCKET s) CT_UNUSED;
static int fc_local_port(SOCKET s)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    if (getsockname(s, (struct sockaddr *)&sa, &len) != 0)
        return 0;
    return ntohs(sa.sin_port);
}

/* SO_RCVTIMEO and SO_SNDTIMEO as a timeval (given to the kernel as well). */
static void fc_set_timeouts(SOCKET s, int ms) CT_UNUSED;
static void fc_set_timeouts(SOCKET s, int ms)
{
    struct timeval tv;
    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, (const char *)&tv, sizeof tv);
    setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, (const char *)&tv, sizeof tv);
}

static int fc_set_flags(SOCKET s, DWORD flags) CT_UNUSED;
static int fc_set_flags(SOCKET s, DWORD flags)
{
    return WSAIoctl(s, SO_SSL_SET_FLAGS, &flags, sizeof flags, NULL, 0, NULL, NULL, NULL);
}

/* SO_SECURE as getsockopt reads it (0 when getsockopt fails). */
static DWORD fc_get_secure(SOCKET s) CT_UNUSED;
static DWORD fc_get_secure(SOCKET s)
{
    DWORD v = 0;
    socklen_t len = sizeof v;
    if (getsockopt(s, SOL_SOCKET, SO_SECURE, (char *)&v, &len) != 0)
        return 0;
    return v;
}

/* Up to 60 bytes of p[0..n) as C-escaped text in a per-thread buffer (one use per printf). */
static const char *fc_show(const void *p, long n) CT_UNUSED;
static const char *fc_show(const void *p, long n)
{
    static __thread char out[2][300];
    static __thread int which;
    const unsigned char *b = p;
    char *o = out[which ^= 1];
    size_t k = 0;
    long i;
    for (i = 0; i < n && i < 60 && k + 8 < sizeof out[0]; i++) {
        if (b[i] == '\n')
            k += (size_t)sprintf(o + k, "\\n");
        else if (b[i] == '\r')
            k += (size_t)sprintf(o + k, "\\r");
        else if (b[i] >= 0x20 && b[i] < 0x7f && b[i] != '"' && b[i] != '\\')
            o[k++] = (char)b[i];
        else
            k += (size_t)sprintf(o + k, "\\x%02x", b[i]);
    }
    if (n > 60)
        k += (size_t)sprintf(o + k, "...");
    o[k] = 0;
    return o;
}

/* What went wrong in the last helper call (for the failure detail). */
static __thread char fc_why[512];

static void fc_fail_note(const char *step) CT_UNUSED;
static void fc_fail_note(const char *step)
{
    int e = errno;
    snprintf(fc_why, sizeof fc_why, "%s: WSA %d, errno %d (%s), reason \"%s\"", step, WSAGetLastError(), e,
             strerror(e), sslsock_last_error_reason());
}

/* A connected secure socket to 127.0.0.1:port in immediate mode, timeouts of timeout_ms;
 * INVALID_SOCKET (and fc_why) on failure. *local gets the client port (may be NULL). */
static SOCKET fc_connect_immediate(int port, int timeout_ms, int *local) CT_UNUSED;
static SOCKET fc_connect_immediate(int port, int timeout_ms, int *local)
{
    SOCKADDR_IN sa;
    SOCKET s = socket(AF_INET, SOCK_STREAM, 0);
    if (local)
        *local = 0;
    if (s == INVALID_SOCKET) {
        fc_fail_note("socket");
        return s;
    }
    fc_set_timeouts(s, timeout_ms);
    if (make_secure(s) != 0) {
        fc_fail_note("SO_SECURE");
        closesocket(s);
        return INVALID_SOCKET;
    }
    connect_addr(&sa, port);
    if (connect(s, (SOCKADDR *)&sa, sizeof sa) != 0) {
        fc_fail_note("connect");
        if (local)
            *local = fc_local_port(s);
        closesocket(s);
        return INVALID_SOCKET;
    }
    if (local)
        *local = fc_local_port(s);
    return s;
}

/* A deferred secure socket connected to the STARTTLS server, STARTTLS said and "220 go ahead"
 * read, the handshake NOT yet performed. With ehlo, "EHLO" comes first ("250 STARTTLS"). hook:
 * a validate-cert hook set before connect (NULL: none). */
static SOCKET fc_connect_deferred_hook(int port, int timeout_ms, int ehlo, SSLVALIDATECERTFUNC hook, void *arg,
                                       int *local) CT_UNUSED;
static SOCKET fc_connect_deferred_hook(int port, int timeout_ms, int ehlo, SSLVALIDATECERTFUNC hook, void *arg,
                                       int *local)
{
    SOCKADDR_IN sa;
    char line[256];
    SOCKET s = socket(AF_INET, SOCK_STREAM, 0);
    if (local)
        *local = 0;
    if (s == INVALID_SOCKET) {
        fc_fail_note("socket");
        return s;
    }
    fc_set_timeouts(s, timeout_ms);
    if (make_secure(s) != 0 || fc_set_flags(s, SSL_FLAG_DEFER_HANDSHAKE) != 0 ||
        (hook && set_hook(s, hook, arg) != 0)) {
        fc_fail_note("SO_SECURE/SET_FLAGS(DEFER)/hook");
        closesocket(s);
        return INVALID_SOCKET;
    }
    connect_addr(&sa, port);
    if (connect(s, (SOCKADDR *)&sa, sizeof sa) != 0) {
        fc_fail_note("deferred connect");
        closesocket(s);
        return INVALID_SOCKET;
    }
    if (local)
        *local = fc_local_port(s);
    /* the client speaks first: no greeting */
    if (ehlo) {
        if (send_str(s, "EHLO client.example\r\n") != 0 || recv_line(s, line, sizeof line) < 0 ||
            strcmp(line, "250 STARTTLS") != 0) {
            fc_fail_note("EHLO");
            closesocket(s);
            return INVALID_SOCKET;
        }
    }
    if (send_str(s, "STARTTLS\r\n") != 0 || recv_line(s, line, sizeof line) < 0 ||
        strcmp(line, "220 go ahead") != 0) {
        fc_fail_note("STARTTLS");
        closesocket(s);
        return INVALID_SOCKET;
    }
    return s;
}

static SOCKET fc_connect_deferred(int port, int timeout_ms, int ehlo, int *local) CT_UNUSED;
static SOCKET fc_connect_deferred(int port, int timeout_ms, int ehlo, int *local)
{
    return fc_connect_deferred_hook(port, timeout_ms, ehlo, NULL, NULL, local);
}

/* SO_SSL_PERFORM_HANDSHAKE with no name. */
static int fc_perform_handshake(SOCKET s) CT_UNUSED;
static int fc_perform_handshake(SOCKET s)
{
    DWORD br = 0;
    return WSAIoctl(s, SO_SSL_PERFORM_HANDSHAKE, NULL, 0, NULL, 0, &br, NULL, NULL);
}

/* Over TLS: "STREAM" -> "STREAM OK"; from then on every byte is echoed. 1 on success. */
static int fc_stream(SOCKET s) CT_UNUSED;
static int fc_stream(SOCKET s)
{
    char line[64];
    if (send_str(s, "STREAM\r\n") != 0 || recv_line(s, line, sizeof line) < 0 || strcmp(line, "STREAM OK") != 0) {
        fc_fail_note("STREAM");
        return 0;
    }
    return 1;
}

/* A secure socket in STREAM mode: immediate (deferred == 0) or STARTTLS + PERFORM_HANDSHAKE. */
static SOCKET fc_stream_socket(int port, int deferred, int timeout_ms, int *local) CT_UNUSED;
static SOCKET fc_stream_socket(int port, int deferred, int timeout_ms, int *local)
{
    SOCKET s;
    if (deferred) {
        s = fc_connect_deferred(port, timeout_ms, 0, local);
        if (s != INVALID_SOCKET && fc_perform_handshake(s) != 0) {
            fc_fail_note("PERFORM_HANDSHAKE");
            closesocket(s);
            s = INVALID_SOCKET;
        }
    } else {
        s = fc_connect_immediate(port, timeout_ms, local);
    }
    if (s != INVALID_SOCKET && !fc_stream(s)) {
        closesocket(s);
        s = INVALID_SOCKET;
    }
    return s;
}

/* Waits for a child (at most timeout_ms, then kills it). Returns the wait status, -1 if killed. */
static int fc_wait_child(pid_t pid, int timeout_ms) CT_UNUSED;
static int fc_wait_child(pid_t pid, int timeout_ms)
{
    long long until = now_ms() + timeout_ms;
    int status = 0;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return status;
        if (r < 0)
            return -1;
        if (now_ms() > until) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        usleep(10 * 1000);
    }
}

#endif /* SSLSOCK_CTESTS_FAILCLOSED_H */
