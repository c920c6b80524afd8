/*
 * postgres_ssl.c - PostgreSQL's own protocol (v3.0) with ssl=on, reached the way libpq does it:
 * an SSLRequest in plaintext, then the TLS handshake on the same connection (deferred handshake)
 * (tests/interop/run.sh).
 *
 *   socket, SO_SECURE, hook, SSL_FLAG_DEFER_HANDSHAKE, connect (plain TCP); SSLRequest (length 8,
 *   code 80877103) in plaintext, the server's single byte 'S'; SO_SSL_PERFORM_HANDSHAKE; over
 *   TLS: StartupMessage (3.0, user, database, application_name), AuthenticationOk (trust on
 *   127.0.0.1, pg_hba "hostssl"), ParameterStatus/BackendKeyData up to ReadyForQuery;
 *   "SELECT repeat('x', N)" (a DataRow of N bytes), a query carrying ~100 KB up whose SHA-256 the
 *   server computes, the server's own view from pg_stat_ssl; Terminate (the server's end of stream
 *   follows); shutdown + closesocket.
 * Then GET_CONNECTION_INFO against pg_stat_ssl (version, cipher, bits), ssl_ecdh_curve (the one
 * group the server allows), and the server log's
 * "connection authorized: ... SSL enabled (protocol=..., cipher=..., bits=...)" line.
 *
 * Arguments: --name CASE --port N --log SERVER-LOG --leaf FILE.der --user U --database D
 *            [--protocol 12|13] [--size N]
 */
#include <winsock2.h>
#include <sslsock.h>

#include "interop.h"

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t get32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* One backend message: *type, and its body (malloc'd, NUL-terminated) in *body / *len.
 * 1 on success. */
static int pg_read(SOCKET s, char *type, unsigned char **body, size_t *len)
{
    unsigned char head[5];
    uint32_t n;
    *body = NULL;
    *len = 0;
    if (recv_exact(s, head, 5) != 5)
        return 0;
    *type = (char)head[0];
    n = get32(head + 1);
    if (n < 4 || n > 64u * 1024 * 1024)
        return 0;
    *len = n - 4;
    *body = malloc(*len + 1);
    if (!*body)
        return 0;
    if (*len && recv_exact(s, *body, *len) != (long)*len) {
        free(*body);
        *body = NULL;
        return 0;
    }
    (*body)[*len] = 0;
    return 1;
}

/* An ErrorResponse/NoticeResponse body in words (the 'M' field). */
static const char *pg_message(const unsigned char *body, size_t len)
{
    size_t i = 0;
    while (i < len && body[i]) {
        if (body[i] == 'M')
            return (const char *)body + i + 1;
        i += 1 + strlen((const char *)body + i + 1) + 1;
    }
    return "?";
}

/* Sends a simple Query. */
static int pg_query(SOCKET s, const char *sql)
{
    size_t n = strlen(sql) + 1;
    unsigned char head[5];
    head[0] = 'Q';
    put32(head + 1, (uint32_t)(n + 4));
    return send_all(s, head, 5) == 0 && send_all(s, sql, n) == 0;
}

/* Runs a query whose result is one row; the row's columns (text) go to cols[] (malloc'd), up to
 * max. Returns the number of columns, or -1 (error in *err). Reads through ReadyForQuery. */
static int pg_one_row(SOCKET s, const char *sql, char **cols, long *col_len, int max, char *err, size_t ecap)
{
    int ncols = -1, rows = 0, i;
    err[0] = 0;
    if (!pg_query(s, sql)) {
        snprintf(err, ecap, "send failed");
        return -1;
    }
    for (;;) {
        char type;
        unsigned char *body;
        size_t len;
        if (!pg_read(s, &type, &body, &len)) {
            snprintf(err, ecap, "connection failed while reading the result");
            return -1;
        }
        if (type == 'D' && len >= 2) {
            int n = (body[0] << 8) | body[1];
            size_t off = 2;
            rows++;
            for (i = 0; i < n && i < max && off + 4 <= len; i++) {
                int32_t l = (int32_t)get32(body + off);
                off += 4;
                if (l < 0) {
                    cols[i] = NULL;
                    col_len[i] = -1;
                    continue;
                }
                cols[i] = malloc((size_t)l + 1);
                if (cols[i] && off + (size_t)l <= len) {
                    memcpy(cols[i], body + off, (size_t)l);
                    cols[i][l] = 0;
                }
                col_len[i] = l;
                off += (size_t)l;
            }
            ncols = i;
        } else if (type == 'E') {
            snprintf(err, ecap, "ErrorResponse: %s", pg_message(body, len));
        } else if (type == 'Z') {
            free(body);
            break;
        }
        free(body);
    }
    if (err[0])
        return -1;
    if (rows != 1) {
        snprintf(err, ecap, "%d rows", rows);
        return -1;
    }
    return ncols;
}

int main(int argc, char **argv)
{
    WSADATA wsa;
    const char *name = arg_need(argc, argv, "name");
    int port = atoi(arg_need(argc, argv, "port"));
    const char *log = arg_need(argc, argv, "log");
    const char *leaf_file = arg_need(argc, argv, "leaf");
    const char *user = arg_need(argc, argv, "user");
    const char *database = arg_need(argc, argv, "database");
    DWORD protocol = protocol_arg(arg_str(argc, argv, "protocol", NULL));
    long size = arg_int(argc, argv, "size", 100000);
    struct hook_record hook;
    SSLCONNECTIONINFO ci;
    SOCKET s;
    unsigned char *leaf;
    size_t leaf_len = 0;
    unsigned char req[8], startup[512];
    char answer = 0, err[1024], marker[64], logline[2048], pid[32] = "";
    char *cols[5] = {0};
    long col_len[5];
    int lport, n, i, auth_ok = 0, ready = 0, eof = 0;
    size_t sl = 8;

    start_watchdog(55);
    leaf = read_pki(leaf_file, &leaf_len);
    CHECK(WSAStartup(MAKEWORD(2, 2), &wsa) == 0, "%s: WSAStartup", name);

    hook_reset(&hook, SSL_ERR_OKAY);
    s = secure_socket(name, 1, &hook, protocol);
    if (s == INVALID_SOCKET)
        return finish();
    if (!CHECK(connect_port(s, port) == 0, "%s: connect (plain TCP, handshake deferred) returns 0", name)) {
        closesocket(s);
        return finish();
    }
    lport = local_port(s);

    /* SSLRequest, in plaintext */
    put32(req, 8);
    put32(req + 4, 80877103);
    CHECK(send(s, (const char *)req, 8, 0) == 8, "%s: SSLRequest (8 bytes, code 80877103) sent in plaintext",
          name);
    n = (int)recv(s, &answer, 1, 0);
    if (!CHECK(n == 1 && answer == 'S', "%s: the server answers 'S' (got %d byte(s), 0x%02x)", name, n,
               (unsigned char)answer)) {
        closesocket(s);
        return finish();
    }
    if (!CHECK(perform_handshake(s, "localhost") == 0, "%s: SO_SSL_PERFORM_HANDSHAKE(\"localhost\") returns 0",
               name)) {
        closesocket(s);
        return finish();
    }
    check_hook(&hook, 1, 0, &hook, leaf, leaf_len, name);
    get_conn_info(s, &ci, name);

    /* StartupMessage: length, 196608 (3.0), name/value pairs, a final NUL */
    put32(startup + 4, 196608);
    sl += (size_t)sprintf((char *)startup + sl, "user") + 1;
    sl += (size_t)sprintf((char *)startup + sl, "%s", user) + 1;
    sl += (size_t)sprintf((char *)startup + sl, "database") + 1;
    sl += (size_t)sprintf((char *)startup + sl, "%s", database) + 1;
    sl += (size_t)sprintf((char *)startup + sl, "application_name") + 1;
    sl += (size_t)sprintf((char *)startup + sl, "sslsock-interop") + 1;
    startup[sl++] = 0;
    put32(startup, (uint32_t)sl);
    CHECK(send_all(s, startup, sl) == 0, "%s: StartupMessage (protocol 3.0, user %s, database %s) sent", name,
          user, database);
    for (;;) {
        char type;
        unsigned char *body;
        size_t len;
        if (!pg_read(s, &type, &body, &len))
            break;
        if (type == 'R' && len >= 4 && get32(body) == 0)
            auth_ok = 1;
        else if (type == 'R')
            note("%s: authentication request %u (not trust?)", name, (unsigned)get32(body));
        else if (type == 'E')
            note("%s: ErrorResponse: %s", name, pg_message(body, len));
        if (type == 'Z') {
            ready = 1;
            free(body);
            break;
        }
        free(body);
        if (type == 'E')
            break;
    }
    CHECK(auth_ok, "%s: AuthenticationOk", name);
    if (!CHECK(ready, "%s: ReadyForQuery after the start-up", name)) {
        closesocket(s);
        return finish();
    }

    /* a result of real size down */
    {
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT repeat('x', %ld) AS big, pg_backend_pid()", size);
        n = pg_one_row(s, sql, cols, col_len, 2, err, sizeof err);
        {
            int all_x = cols[0] != NULL && col_len[0] == size;
            long k;
            for (k = 0; all_x && k < size; k++)
                if (cols[0][k] != 'x')
                    all_x = 0;
            CHECK(n == 2 && all_x, "%s: SELECT repeat('x', %ld): one DataRow of %ld 'x' (got %d columns, %ld bytes%s%s)",
                  name, size, size, n, n >= 1 ? col_len[0] : -1L, err[0] ? ", " : "", err);
        }
        if (n == 2 && cols[1])
            snprintf(pid, sizeof pid, "%s", cols[1]);
        for (i = 0; i < 5; i++) {
            free(cols[i]);
            cols[i] = NULL;
        }
    }

    /* a query of real size up: the server hashes what it got */
    {
        char *sql = malloc((size_t)size + 256), *text = malloc((size_t)size + 1), want[65];
        if (sql && text) {
            fill_text(text, (size_t)size, 11);
            sha256_of(text, (size_t)size, want);
            snprintf(sql, (size_t)size + 256, "SELECT encode(sha256(convert_to($q$%s$q$, 'UTF8')), 'hex')", text);
            n = pg_one_row(s, sql, cols, col_len, 1, err, sizeof err);
            CHECK(n == 1 && cols[0] && strcmp(cols[0], want) == 0,
                  "%s: a %ld-byte query: the server's SHA-256 of the literal equals ours (%s, got %s%s%s)", name, size,
                  want, n == 1 && cols[0] ? cols[0] : "-", err[0] ? ", " : "", err);
            free(cols[0]);
            cols[0] = NULL;
        }
        free(sql);
        free(text);
    }

    /* the server's view of this very connection */
    n = pg_one_row(s,
                   "SELECT ssl::text, version, cipher, bits::text, current_setting('ssl_ecdh_curve') "
                   "FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                   cols, col_len, 5, err, sizeof err);
    if (CHECK(n == 5 && cols[0] && strcmp(cols[0], "true") == 0,
              "%s: pg_stat_ssl says this connection uses SSL (got %d columns, ssl '%s'%s%s)", name, n,
              n >= 1 && cols[0] ? cols[0] : "-", err[0] ? ", " : "", err)) {
        /* ssl_ecdh_curve: the one group the server allows */
        check_info_vs_server(&ci, cols[1], cols[2], cols[4], "pg_stat_ssl; ssl_ecdh_curve", name);
        CHECK(cols[3] && (DWORD)atoi(cols[3]) == ci.dwCipherStrength,
              "%s: pg_stat_ssl bits %s == dwCipherStrength %u", name, cols[3] ? cols[3] : "-",
              (unsigned)ci.dwCipherStrength);
    }
    for (i = 0; i < 5; i++)
        free(cols[i]);

    /* Terminate: the backend ends the session and closes */
    {
        unsigned char x[5] = {'X', 0, 0, 0, 4};
        char b[64];
        int r;
        CHECK(send_all(s, x, 5) == 0, "%s: Terminate sent", name);
        r = (int)recv(s, b, sizeof b, 0);
        eof = CHECK(r == 0, "%s: after Terminate, recv returns 0 (the server's close) (got %d)", name, r);
    }
    orderly_close(s, name, eof);

    /* the server log: "[pid] LOG:  connection authorized: ... SSL enabled (protocol=..., cipher=..., bits=...)" */
    snprintf(marker, sizeof marker, "[%s] ", pid);
    if (CHECK(pid[0] && log_find(log, 0, marker, "connection authorized", 3000, logline, sizeof logline, NULL),
              "%s: the server logged our connection as authorized (backend %s, client port %d)", name, pid,
              lport)) {
        char version[64] = "", cipher[128] = "";
        note("%s: postgres: %s", name, logline);
        CHECK(strstr(logline, "SSL enabled") != NULL, "%s: the server log says 'SSL enabled'", name);
        field_after(logline, "protocol=", ",)", version, sizeof version);
        field_after(logline, "cipher=", ",)", cipher, sizeof cipher);
        check_info_vs_server(&ci, version, cipher, NULL, "postgres log", name);
    }
    snprintf(marker, sizeof marker, "port=%d", lport);
    CHECK(log_find(log, 0, "connection received: host=127.0.0.1", marker, 2000, logline, sizeof logline, NULL),
          "%s: the server logged the connection from our port %d", name, lport);

    free(leaf);
    CHECK(WSACleanup() == 0, "%s: WSACleanup", name);
    return finish();
}
