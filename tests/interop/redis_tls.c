/*
 * redis_tls.c - Redis over TLS (redis-server tls-port), speaking RESP (tests/interop/run.sh).
 *
 *   socket, SO_SECURE, hook, SO_SSL_SET_PEERNAME, connect (immediate handshake); PING; SET of a
 *   ~100 KB value, STRLEN, GET (compared byte for byte); CLIENT INFO (the server sees our port);
 *   CONFIG GET tls-protocols / tls-ciphersuites; QUIT (+OK, then the server's end of stream);
 *   shutdown + closesocket.
 * Redis does not log the negotiated version or suite; the run starts it with exactly one protocol
 * and one TLS 1.3 suite allowed, and GET_CONNECTION_INFO is checked against those, as the server
 * reports them itself through CONFIG GET on this connection.
 *
 * Arguments: --name CASE --port N --leaf FILE.der [--size N]
 */
#include <winsock2.h>
#include <sslsock.h>

#include "interop.h"

/* Sends a command as a RESP array of bulk strings. */
static int resp_send(SOCKET s, int n, const char **args, const size_t *lens)
{
    char head[64];
    int i;
    snprintf(head, sizeof head, "*%d\r\n", n);
    if (send_str(s, head) != 0)
        return 0;
    for (i = 0; i < n; i++) {
        size_t l = lens ? lens[i] : strlen(args[i]);
        snprintf(head, sizeof head, "$%lu\r\n", (unsigned long)l);
        if (send_str(s, head) != 0 || send_all(s, args[i], l) != 0 || send_str(s, "\r\n") != 0)
            return 0;
    }
    return 1;
}

/* Reads one reply into out (malloc'd, NUL-terminated): "+text", "-error", ":n", the bulk data
 * itself ($, "(nil)" when null), or for an array the elements joined with '\n'. *len its length.
 * Returns the type byte, or 0 on failure. */
static char resp_read(SOCKET s, char **out, size_t *len)
{
    char line[512];
    int n = recv_line(s, line, sizeof line);
    *out = NULL;
    *len = 0;
    if (n < 1)
        return 0;
    if (line[0] == '+' || line[0] == '-' || line[0] == ':') {
        *out = strdup(line);
        *len = strlen(line);
        return line[0];
    }
    if (line[0] == '$') {
        long l = atol(line + 1);
        char crlf[2];
        if (l < 0) {
            *out = strdup("(nil)");
            *len = 5;
            return '$';
        }
        *out = malloc((size_t)l + 1);
        if (!*out || recv_exact(s, *out, (size_t)l) != l || recv_exact(s, crlf, 2) != 2)
            return 0;
        (*out)[l] = 0;
        *len = (size_t)l;
        return '$';
    }
    if (line[0] == '*') {
        long k, count = atol(line + 1);
        size_t total = 0;
        char *acc = strdup("");
        for (k = 0; k < count && acc; k++) {
            char *e;
            size_t el;
            char *grown;
            if (!resp_read(s, &e, &el)) {
                free(acc);
                return 0;
            }
            grown = realloc(acc, total + el + 2);
            if (!grown) {
                free(e);
                free(acc);
                return 0;
            }
            acc = grown;
            if (k)
                acc[total++] = '\n';
            memcpy(acc + total, e, el);
            total += el;
            acc[total] = 0;
            free(e);
        }
        *out = acc;
        *len = total;
        return '*';
    }
    return 0;
}

int main(int argc, char **argv)
{
    WSADATA wsa;
    const char *name = arg_need(argc, argv, "name");
    int port = atoi(arg_need(argc, argv, "port"));
    const char *leaf_file = arg_need(argc, argv, "leaf");
    long size = arg_int(argc, argv, "size", 100 * 1024);
    struct hook_record hook;
    SSLCONNECTIONINFO ci;
    SOCKET s;
    unsigned char *leaf;
    size_t leaf_len = 0, rl;
    char *value, *r = NULL, key[64], expect[64], protos[128] = "", suites[256] = "";
    char t;
    int lport, eof = 0;

    start_watchdog(50);
    leaf = read_pki(leaf_file, &leaf_len);
    CHECK(WSAStartup(MAKEWORD(2, 2), &wsa) == 0, "%s: WSAStartup", name);

    hook_reset(&hook, SSL_ERR_OKAY);
    s = secure_socket(name, 0, &hook, SSL_PROTOCOL_TLS1);
    if (s == INVALID_SOCKET)
        return finish();
    CHECK(WSAIoctl(s, SO_SSL_SET_PEERNAME, (LPVOID) "localhost", sizeof "localhost", NULL, 0, NULL, NULL,
                   NULL) == 0,
          "%s: SO_SSL_SET_PEERNAME(\"localhost\")", name);
    if (!CHECK(connect_port(s, port) == 0, "%s: connect (TCP + TLS handshake) returns 0", name)) {
        closesocket(s);
        return finish();
    }
    lport = local_port(s);
    check_hook(&hook, 1, 0, &hook, leaf, leaf_len, name);
    get_conn_info(s, &ci, name);

    {
        const char *a[] = {"PING"};
        t = resp_send(s, 1, a, NULL) ? resp_read(s, &r, &rl) : 0;
        CHECK(t == '+' && strcmp(r, "+PONG") == 0, "%s: PING -> +PONG (got '%s')", name, r ? r : "");
        free(r);
    }

    value = malloc((size_t)size + 1);
    if (!value)
        return finish();
    fill_text(value, (size_t)size, 5);
    snprintf(key, sizeof key, "sslsock:interop:%d", (int)getpid());
    {
        const char *a[] = {"SET", key, value};
        size_t l[] = {3, strlen(key), (size_t)size};
        t = resp_send(s, 3, a, l) ? resp_read(s, &r, &rl) : 0;
        CHECK(t == '+' && strcmp(r, "+OK") == 0, "%s: SET of a %ld-byte value -> +OK (got '%s')", name, size,
              r ? r : "");
        free(r);
    }
    {
        const char *a[] = {"STRLEN", key};
        snprintf(expect, sizeof expect, ":%ld", size);
        t = resp_send(s, 2, a, NULL) ? resp_read(s, &r, &rl) : 0;
        CHECK(t == ':' && strcmp(r, expect) == 0, "%s: STRLEN -> %s (got '%s')", name, expect, r ? r : "");
        free(r);
    }
    {
        const char *a[] = {"GET", key};
        t = resp_send(s, 2, a, NULL) ? resp_read(s, &r, &rl) : 0;
        CHECK(t == '$' && rl == (size_t)size && memcmp(r, value, (size_t)size) == 0,
              "%s: GET returns the %ld bytes stored (got %lu)", name, size, (unsigned long)rl);
        free(r);
    }
    {
        const char *a[] = {"CLIENT", "INFO"};
        char addr[64];
        snprintf(addr, sizeof addr, "addr=127.0.0.1:%d ", lport);
        t = resp_send(s, 2, a, NULL) ? resp_read(s, &r, &rl) : 0;
        CHECK(t == '$' && strstr(r, addr) != NULL, "%s: CLIENT INFO shows our connection (%s)", name, addr);
        free(r);
    }
    {
        const char *a[] = {"CONFIG", "GET", "tls-protocols"};
        t = resp_send(s, 3, a, NULL) ? resp_read(s, &r, &rl) : 0;
        if (CHECK(t == '*' && strchr(r, '\n'), "%s: CONFIG GET tls-protocols", name))
            snprintf(protos, sizeof protos, "%s", strchr(r, '\n') + 1);
        free(r);
    }
    {
        const char *a[] = {"CONFIG", "GET", "tls-ciphersuites"};
        t = resp_send(s, 3, a, NULL) ? resp_read(s, &r, &rl) : 0;
        if (CHECK(t == '*' && strchr(r, '\n'), "%s: CONFIG GET tls-ciphersuites", name))
            snprintf(suites, sizeof suites, "%s", strchr(r, '\n') + 1);
        free(r);
    }
    CHECK(strchr(protos, ' ') == NULL && strchr(suites, ':') == NULL && protos[0] && suites[0],
          "%s: the server allows exactly one protocol ('%s') and one TLS 1.3 suite ('%s')", name, protos,
          suites);
    check_info_vs_server(&ci, protos, suites, NULL, "redis CONFIG GET tls-protocols/tls-ciphersuites", name);
    {
        const char *a[] = {"DEL", key};
        t = resp_send(s, 2, a, NULL) ? resp_read(s, &r, &rl) : 0;
        CHECK(t == ':' && strcmp(r, ":1") == 0, "%s: DEL -> :1 (got '%s')", name, r ? r : "");
        free(r);
    }
    {
        const char *a[] = {"QUIT"};
        char b[64];
        int n;
        t = resp_send(s, 1, a, NULL) ? resp_read(s, &r, &rl) : 0;
        CHECK(t == '+' && strcmp(r, "+OK") == 0, "%s: QUIT -> +OK (got '%s')", name, r ? r : "");
        free(r);
        n = (int)recv(s, b, sizeof b, 0);
        eof = CHECK(n == 0, "%s: after QUIT, recv returns 0 (the server's close) (got %d)", name, n);
    }
    orderly_close(s, name, eof);

    free(value);
    free(leaf);
    CHECK(WSACleanup() == 0, "%s: WSACleanup", name);
    return finish();
}
