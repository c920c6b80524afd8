/*
 * failclosed_failure.c - issue 12, "fail closed": after every kind of failure the kernel socket is
 * shut down before the failing call returns, so that even the paths sslsock cannot interpose carry
 * nothing.
 *
 * Right after the failing call (before any other call on the socket) the program writes
 * "PLAINTEXT-MARKER" with a raw syscall(SYS_write): it must fail (EPIPE; ECONNRESET is accepted
 * too, the kernel reports a reset once before EPIPE). Then dprintf(fd, ...) must fail, a forked
 * /bin/sh running `printf PLAINTEXT-MARKER... >&N` on the inherited descriptor (FD_CLOEXEC cleared)
 * must fail to write, and an interposed send("AUTH PLAIN ...") must fail with SOCKET_ERROR. SIGPIPE
 * is ignored. At the end every connection's client port is looked up in its server's log: no
 * PLAINTEXT-LEAK (the s_server and stall peers keep no such log: only the kernel checks apply there).
 *
 * Failures:
 *  (i)   a refused certificate: a hook returning SSL_ERR_CERT_UNKNOWN, immediate mode (connect fails)
 *        and deferred (SO_SSL_PERFORM_HANDSHAKE after STARTTLS fails);
 *  (ii)  a TLS error, an untrusted server, no hook: s_server with the untrusted and the self-signed
 *        certificates; the STARTTLS server with the untrusted certificate (T_PORT_STARTTLS_UNTRUSTED),
 *        immediate and deferred; the hostile server's plaintext fatal alert instead of a ServerHello;
 *  (iii) SO_SSL_PERFORM_HANDSHAKE with an unusable name after EHLO, STARTTLS, "220 go ahead":
 *        "mail server", a 300-byte name, "*.x" - SOCKET_ERROR with WSAEINVAL;
 *  (iv)  a client key that does not match its certificate (sslsock_set_client_certificate with
 *        client.pem and good.key), then PERFORM_HANDSHAKE (and, immediate, connect): whichever call
 *        fails, nothing goes out in plaintext afterwards; when nothing fails the session is TLS;
 *  (v)   our own shutdown(fd, SD_SEND) (close_notify), and SD_BOTH;
 *  (vi)  a fatal alert from the server after the handshake (hostile `alert-fatal`): recv fails;
 *  (vii) a handshake that times out (SO_RCVTIMEO 500 ms against the stall server).
 */
#define _GNU_SOURCE
#include <winsock2.h>
#include <sslsock.h>
#include "common.h"
#include "failclosed.h"

#include <sys/syscall.h>

#define TIMEOUT_MS 5000

static int g_port;                 /* STARTTLS server, good certificate */
static int g_port_untrusted;       /* STARTTLS server, untrusted certificate (0: the runner has none) */
static const char *g_log, *g_log_untrusted, *g_log_hostile;

/* Connections whose server keeps a log, checked at the end. */
#define MAX_CONNS 64
static struct {
    const char *log;
    int port;
    char what[128];
} g_conns[MAX_CONNS];
static int g_nconns;
static struct {
    const char *path;
    long off;
} g_logs[3];

static long log_offset(const char *path)
{
    int i;
    for (i = 0; i < 3; i++)
        if (g_logs[i].path == path)
            return g_logs[i].off;
    return 0;
}

static void remember(const char *log, int port, const char *what)
{
    if (!log || port <= 0 || g_nconns >= MAX_CONNS)
        return;
    g_conns[g_nconns].log = log;
    g_conns[g_nconns].port = port;
    snprintf(g_conns[g_nconns].what, sizeof g_conns[g_nconns].what, "%s", what);
    g_nconns++;
}

static int CALLBACK refuse_hook(DWORD t, LPVOID arg, DWORD n, LPBLOB chain, DWORD flags)
{
    (void)t; (void)n; (void)chain; (void)flags;
    if (arg)
        ++*(int *)arg;
    return SSL_ERR_CERT_UNKNOWN;
}

/* The raw write of the marker, right after the failing call. */
struct raw {
    long rc;
    int err;
};

static struct raw raw_write(SOCKET s)
{
    struct raw r;
    errno = 0;
    r.rc = syscall(SYS_write, s, FC_MARKER, 16);
    r.err = errno;
    return r;
}

/* Everything after the failure: the raw write (already made), dprintf, a forked shell, send. */
static void probes(SOCKET s, const char *what, struct raw r, int check_send)
{
    int rc, err, status, fl;
    pid_t pid;

    CHECK(r.rc == -1 && (r.err == EPIPE || r.err == ECONNRESET),
          "%s: a raw syscall(SYS_write) right after fails, the kernel socket is shut down (got %ld, errno %d %s; "
          "EPIPE expected)",
          what, r.rc, r.err, strerror(r.err));

    errno = 0;
    rc = dprintf(s, FC_MARKER "-dprintf\r\n");
    err = errno;
    CHECK(rc < 0, "%s: dprintf(fd, ...) fails (got %d, errno %d %s)", what, rc, err, strerror(err));

    fl = fcntl(s, F_GETFD);
    if (fl >= 0)
        fcntl(s, F_SETFD, fl & ~FD_CLOEXEC);
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        char cmd[128];
        int n = s, devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0)
            syscall(SYS_dup2, devnull, 2);        /* sh's "I/O error" is not a check line */
        if (n > 9) {                               /* dash takes one-digit descriptors only */
            syscall(SYS_dup2, s, 9);
            n = 9;
        }
        snprintf(cmd, sizeof cmd, "printf " FC_MARKER "-child >&%d", n);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    err = pid < 0 ? errno : 0;
    if (CHECK(pid > 0, "%s: fork (errno %d)", what, err)) {
        status = fc_wait_child(pid, 5000);
        CHECK(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) != 0 && WEXITSTATUS(status) != 127,
              "%s: a forked /bin/sh printing onto the inherited descriptor fails to write (exit status %d%s)", what,
              status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1,
              status == -1 ? ", killed after 5 s" : (WIFEXITED(status) ? "" : ", not a normal exit"));
    }

    if (check_send) {
        static const char auth[] = "AUTH PLAIN " FC_MARKER "-send\r\n";
        int wsa;
        errno = 0;
        WSASetLastError(0);
        rc = (int)send(s, auth, sizeof auth - 1, 0);
        err = errno;
        wsa = WSAGetLastError();
        CHECK(rc == SOCKET_ERROR, "%s: then send(\"AUTH PLAIN ...\") fails with SOCKET_ERROR (got %d, WSA %d, errno %d, "
              "reason \"%s\")", what, rc, wsa, err, sslsock_last_error_reason());
    }
}

/* (i) immediate, (ii) immediate: connect fails; then the probes. */
static void immediate_failure(const char *what, int port, const char *log, SSLVALIDATECERTFUNC hook,
                              const char *peername, int timeout_ms)
{
    SOCKADDR_IN sa;
    SOCKET s = socket(AF_INET, SOCK_STREAM, 0);
    struct raw r;
    int rc, wsa, calls = 0, lp;
    char reason[300];

    if (!CHECK(s != INVALID_SOCKET && make_secure(s) == 0, "%s: a secure socket", what))
        return;
    fc_set_timeouts(s, timeout_ms);
    if (hook)
        CHECK(set_hook(s, hook, &calls) == 0, "%s: hook set", what);
    if (peername)
        CHECK(WSAIoctl(s, SO_SSL_SET_PEERNAME, (void *)peername, (DWORD)strlen(peername) + 1, NULL, 0, NULL, NULL,
                       NULL) == 0,
              "%s: SET_PEERNAME %s", what, peername);
    connect_addr(&sa, port);
    WSASetLastError(0);
    rc = connect(s, (SOCKADDR *)&sa, sizeof sa);
    r = raw_write(s);
    wsa = WSAGetLastError();
    snprintf(reason, sizeof reason, "%s", sslsock_last_error_reason());
    lp = fc_local_port(s);
    CHECK(rc == SOCKET_ERROR, "%s: connect returns SOCKET_ERROR (got %d, WSA %d, reason \"%s\")", what, rc, wsa,
          reason);
    if (hook)
        CHECK(calls == 1, "%s: the hook was called once (got %d)", what, calls);
    probes(s, what, r, 1);
    remember(log, lp, what);
    closesocket(s);
}

/* The interposed send first, right after the failure (the raw probes follow it). */
static void send_first(SOCKET s, const char *what)
{
    static const char auth[] = "AUTH PLAIN " FC_MARKER "-send-first\r\n";
    int rc, err, wsa;
    errno = 0;
    WSASetLastError(0);
    rc = (int)send(s, auth, sizeof auth - 1, 0);
    err = errno;
    wsa = WSAGetLastError();
    CHECK(rc == SOCKET_ERROR, "%s: send(\"AUTH PLAIN ...\") right after fails with SOCKET_ERROR (got %d, WSA %d, "
          "errno %d, reason \"%s\")", what, rc, wsa, err, sslsock_last_error_reason());
}

/* (i)/(ii)/(iii) deferred: EHLO, STARTTLS, 220, then PERFORM_HANDSHAKE (name: NULL or a name) fails.
 * first_send: the interposed send comes first, then the raw probes. */
static void deferred_failure_ex(const char *what, int port, const char *log, SSLVALIDATECERTFUNC hook,
                                const char *name, int want_wsa, int first_send)
{
    SOCKET s;
    struct raw r;
    int rc, wsa, calls = 0, lp = 0;
    char reason[300];

    s = fc_connect_deferred_hook(port, TIMEOUT_MS, 1, hook, &calls, &lp);
    if (!CHECK(s != INVALID_SOCKET, "%s: deferred connect, EHLO, STARTTLS, 220 (%s)", what,
               s == INVALID_SOCKET ? fc_why : "ok"))
        return;
    WSASetLastError(0);
    rc = WSAIoctl(s, SO_SSL_PERFORM_HANDSHAKE, (void *)name, name ? (DWORD)strlen(name) + 1 : 0, NULL, 0, NULL, NULL,
                  NULL);
    wsa = WSAGetLastError();
    snprintf(reason, sizeof reason, "%s", sslsock_last_error_reason());
    if (first_send)
        send_first(s, what);
    r = raw_write(s);
    if (want_wsa)
        CHECK(rc == SOCKET_ERROR && wsa == want_wsa,
              "%s: PERFORM_HANDSHAKE returns SOCKET_ERROR with WSA %d (got %d, WSA %d, reason \"%s\")", what, want_wsa,
              rc, wsa, reason);
    else
        CHECK(rc == SOCKET_ERROR, "%s: PERFORM_HANDSHAKE returns SOCKET_ERROR (got %d, WSA %d, reason \"%s\")", what,
              rc, wsa, reason);
    probes(s, what, r, !first_send);
    remember(log, lp, what);
    closesocket(s);
}

static void deferred_failure(const char *what, int port, const char *log, SSLVALIDATECERTFUNC hook,
                             const char *name, int want_wsa)
{
    deferred_failure_ex(what, port, log, hook, name, want_wsa, 0);
}

/* (iv) a client key that does not match its certificate. Whichever call fails (the server asks for
 * no certificate, so the mismatch can only be found by sslsock itself), no plaintext follows; when
 * neither fails the session must be TLS. */
static void client_key_mismatch(int deferred)
{
    char what[128], cert[4096], key[4096];
    SOCKET s = INVALID_SOCKET;
    struct raw r = {0, 0};
    int rc1, rc2, wsa1, wsa2, lp = 0;
    char reason1[300], reason2[300] = "";

    snprintf(what, sizeof what, "(iv) client.pem with good.key, %s", deferred ? "deferred" : "immediate");
    snprintf(cert, sizeof cert, "%s", pki_path("client.pem"));
    snprintf(key, sizeof key, "%s", pki_path("good.key"));

    if (deferred) {
        s = fc_connect_deferred(g_port, TIMEOUT_MS, 1, &lp);
        if (!CHECK(s != INVALID_SOCKET, "%s: deferred connect, EHLO, STARTTLS, 220 (%s)", what,
                   s == INVALID_SOCKET ? fc_why : "ok"))
            return;
    } else {
        s = socket(AF_INET, SOCK_STREAM, 0);
        if (!CHECK(s != INVALID_SOCKET && make_secure(s) == 0, "%s: a secure socket", what))
            return;
        fc_set_timeouts(s, TIMEOUT_MS);
    }
    WSASetLastError(0);
    rc1 = sslsock_set_client_certificate(s, cert, key);
    wsa1 = WSAGetLastError();
    snprintf(reason1, sizeof reason1, "%s", sslsock_last_error_reason());
    WSASetLastError(0);
    if (deferred) {
        rc2 = WSAIoctl(s, SO_SSL_PERFORM_HANDSHAKE, NULL, 0, NULL, 0, NULL, NULL, NULL);
    } else {
        SOCKADDR_IN sa;
        connect_addr(&sa, g_port);
        rc2 = connect(s, (SOCKADDR *)&sa, sizeof sa);
    }
    if (rc2 != 0)
        r = raw_write(s);
    wsa2 = WSAGetLastError();
    if (rc2 != 0)
        snprintf(reason2, sizeof reason2, "%s", sslsock_last_error_reason());
    if (!deferred)
        lp = fc_local_port(s);
    note("%s: sslsock_set_client_certificate -> %d (WSA %d, \"%s\"); %s -> %d (WSA %d, \"%s\")", what, rc1, wsa1,
         reason1, deferred ? "PERFORM_HANDSHAKE" : "connect", rc2, wsa2, reason2);
    if (rc2 == 0) {
        /* the handshake went through: the session must be TLS */
        CHECK(echo_roundtrip(s, "AUTH PLAIN over TLS"),
              "%s: %s; the handshake succeeded and the session carries TLS (ECHO over TLS)", what,
              rc1 == 0 ? "the certificate was taken" : "set_client_certificate failed");
    } else {
        char w[200];
        snprintf(w, sizeof w, "%s, after the failed %s", what, deferred ? "PERFORM_HANDSHAKE" : "connect");
        probes(s, w, r, 1);
    }
    remember(g_log, lp, what);
    closesocket(s);
}

/* (v) our own shutdown. */
static void own_shutdown(int how)
{
    char what[128];
    SOCKET s;
    struct raw r;
    int rc, wsa, lp = 0;

    snprintf(what, sizeof what, "(v) after our own shutdown(fd, %s)", how == SD_SEND ? "SD_SEND" : "SD_BOTH");
    s = fc_stream_socket(g_port, 0, TIMEOUT_MS, &lp);
    if (!CHECK(s != INVALID_SOCKET, "%s: a secure STREAM connection (%s)", what, s == INVALID_SOCKET ? fc_why : "ok"))
        return;
    WSASetLastError(0);
    rc = shutdown(s, how);
    r = raw_write(s);
    wsa = WSAGetLastError();
    CHECK(rc == 0, "%s: shutdown returns 0 (got %d, WSA %d)", what, rc, wsa);
    probes(s, what, r, 1);
    remember(g_log, lp, what);
    closesocket(s);
}

/* (vi) the hostile server's fatal alert after the handshake: recv fails. */
static void fatal_alert_after_handshake(int hostile_port)
{
    const char *what = "(vi) fatal alert from the server after the handshake (hostile alert-fatal)";
    static const char sni[] = "alert-fatal.hostile.test";
    SOCKADDR_IN sa;
    SOCKET s = socket(AF_INET, SOCK_STREAM, 0);
    char line[256], buf[256];
    struct raw r;
    int rc, wsa, lp;

    if (!CHECK(s != INVALID_SOCKET && make_secure(s) == 0, "%s: a secure socket", what))
        return;
    fc_set_timeouts(s, TIMEOUT_MS);
    WSAIoctl(s, SO_SSL_SET_PEERNAME, (void *)sni, sizeof sni, NULL, 0, NULL, NULL, NULL);
    connect_addr(&sa, hostile_port);
    if (!CHECK(connect(s, (SOCKADDR *)&sa, sizeof sa) == 0, "%s: connect", what)) {
        closesocket(s);
        return;
    }
    lp = fc_local_port(s);
    if (!CHECK(recv_line(s, line, sizeof line) >= 0 && strcmp(line, "HELLO alert-fatal") == 0 &&
                   recv_line(s, line, sizeof line) >= 0 && strcmp(line, "DATA line 1") == 0 &&
                   send_str(s, "GO\r\n") == 0,
               "%s: HELLO, DATA, GO", what)) {
        closesocket(s);
        return;
    }
    WSASetLastError(0);
    rc = (int)recv(s, buf, sizeof buf, 0);
    r = raw_write(s);
    wsa = WSAGetLastError();
    CHECK(rc == SOCKET_ERROR, "%s: recv fails with SOCKET_ERROR (got %d, WSA %d)", what, rc, wsa);
    probes(s, what, r, 1);
    remember(g_log_hostile, lp, what);
    closesocket(s);
}

int main(void)
{
    WSADATA wsa;
    const char *v;
    char long_name[301];
    int i, hostile_port, stall_port;

    start_watchdog(57);
    signal(SIGPIPE, SIG_IGN);
    g_port = env_port("T_PORT_STARTTLS");
    hostile_port = env_port("T_PORT_HOSTILE");
    stall_port = env_port("T_PORT_STALL");
    v = getenv("T_PORT_STARTTLS_UNTRUSTED");
    g_port_untrusted = v ? atoi(v) : 0;
    g_log = fc_starttls_log();
    g_log_untrusted = getenv("T_STARTTLS_UNTRUSTED_LOG");
    g_log_hostile = getenv("T_HOSTILE_LOG");
    g_logs[0].path = g_log;
    g_logs[1].path = g_log_untrusted;
    g_logs[2].path = g_log_hostile;
    for (i = 0; i < 3; i++)
        g_logs[i].off = fc_log_size(g_logs[i].path);
    CHECK(g_log != NULL && g_log_hostile != NULL, "T_STARTTLS_LOG and T_HOSTILE_LOG name the servers' logs");
    CHECK(WSAStartup(MAKEWORD(2, 2), &wsa) == 0, "WSAStartup(2.2)");

    /* (i) */
    immediate_failure("(i) refused certificate (hook: SSL_ERR_CERT_UNKNOWN), immediate", g_port, g_log, refuse_hook,
                      NULL, TIMEOUT_MS);
    deferred_failure("(i) refused certificate (hook: SSL_ERR_CERT_UNKNOWN), deferred", g_port, g_log, refuse_hook,
                     NULL, 0);

    /* (ii) */
    immediate_failure("(ii) untrusted server (s_server, untrusted), no hook", env_port("T_PORT_UNTRUSTED"), NULL, NULL,
                      NULL, TIMEOUT_MS);
    immediate_failure("(ii) self-signed server (s_server), no hook", env_port("T_PORT_SELFSIGNED"), NULL, NULL, NULL,
                      TIMEOUT_MS);
    if (g_port_untrusted > 0 && g_log_untrusted) {
        immediate_failure("(ii) untrusted STARTTLS server, immediate, no hook", g_port_untrusted, g_log_untrusted,
                          NULL, NULL, TIMEOUT_MS);
        deferred_failure("(ii) untrusted STARTTLS server, deferred, no hook", g_port_untrusted, g_log_untrusted, NULL,
                         NULL, 0);
    } else {
        CHECK(1, "# skip (ii) untrusted STARTTLS server: T_PORT_STARTTLS_UNTRUSTED not set by the runner");
    }
    immediate_failure("(ii) a plaintext fatal alert instead of the ServerHello (hostile alert-hs)", hostile_port,
                      g_log_hostile, NULL, "alert-hs.hostile.test", TIMEOUT_MS);

    /* (iii) */
    deferred_failure("(iii) PERFORM_HANDSHAKE(\"mail server\")", g_port, g_log, NULL, "mail server", WSAEINVAL);
    for (i = 0; i < 300; i++)
        long_name[i] = (i % 10 == 9) ? '.' : 'a';
    long_name[300] = 0;
    deferred_failure("(iii) PERFORM_HANDSHAKE(a 300-byte name)", g_port, g_log, NULL, long_name, WSAEINVAL);
    deferred_failure("(iii) PERFORM_HANDSHAKE(\"*.x\")", g_port, g_log, NULL, "*.x", WSAEINVAL);
    deferred_failure_ex("(iii) PERFORM_HANDSHAKE(\"mail server\"), send first", g_port, g_log, NULL, "mail server",
                        WSAEINVAL, 1);
    deferred_failure_ex("(iii) PERFORM_HANDSHAKE(a 300-byte name), send first", g_port, g_log, NULL, long_name,
                        WSAEINVAL, 1);
    deferred_failure_ex("(iii) PERFORM_HANDSHAKE(\"*.x\"), send first", g_port, g_log, NULL, "*.x", WSAEINVAL, 1);
    deferred_failure_ex("(i) refused certificate (hook: SSL_ERR_CERT_UNKNOWN), deferred, send first", g_port, g_log,
                        refuse_hook, NULL, 0, 1);

    /* (iv) */
    client_key_mismatch(1);
    client_key_mismatch(0);

    /* (v) */
    own_shutdown(SD_SEND);
    own_shutdown(SD_BOTH);

    /* (vi) */
    fatal_alert_after_handshake(hostile_port);

    /* (vii) */
    immediate_failure("(vii) handshake timeout (SO_RCVTIMEO 500 ms, stall server)", stall_port, NULL, NULL, NULL, 500);

    /* what the servers saw */
    {
        int ports[MAX_CONNS], n, j, open_left;
        for (i = 0; i < 3; i++) {
            if (!g_logs[i].path)
                continue;
            n = 0;
            for (j = 0; j < g_nconns; j++)
                if (g_conns[j].log == g_logs[i].path)
                    ports[n++] = g_conns[j].port;
            if (n == 0)
                continue;
            open_left = fc_wait_closed(g_logs[i].path, log_offset(g_logs[i].path), ports, n, 8000);
            if (open_left)
                note("%s: %d connections not finished at the server after 8 s", g_logs[i].path, open_left);
            for (j = 0; j < g_nconns; j++) {
                int f;
                if (g_conns[j].log != g_logs[i].path)
                    continue;
                f = fc_port_flags[g_conns[j].port];
                CHECK(!(f & FC_LEAK), "%s: the server saw no plaintext from this connection%s%s%s", g_conns[j].what,
                      (f & FC_LEAK) ? " (PLAINTEXT-LEAK " : "", (f & FC_LEAK) ? fc_leak_hex[g_conns[j].port] : "",
                      (f & FC_LEAK) ? ")" : "");
            }
        }
    }
    WSACleanup();
    return finish();
}
