/*
 * nginx_https.c - an HTTPS GET against nginx (tests/interop/run.sh).
 *
 * nginx serves a file of known size and SHA-256 and writes one access-log line per request:
 *   127.0.0.1:<client port> "GET /path HTTP/1.1" 200 <bytes> proto=<$ssl_protocol>
 *   cipher=<$ssl_cipher> curve=<$ssl_curve>
 * One connection, immediate handshake:
 *
 *   socket, SO_SECURE, hook, SO_SSL_SET_PEERNAME (SNI), (SET_PROTOCOLS), connect; a keep-alive
 *   HTTP/1.1 GET, headers, the body by Content-Length, its size and SHA-256; GET_CONNECTION_INFO
 *   against nginx's log line for our port; shutdown (nginx closes on our close_notify) +
 *   closesocket.
 *
 * Arguments: --name CASE --port N --log ACCESS-LOG --leaf FILE.der --path /file --size N
 *            --sha256 HEX [--protocol 12|13]
 * Also the key-log session of run.sh: the same GET with SSLKEYLOGFILE in the environment.
 */
#include <winsock2.h>
#include <sslsock.h>

#include "interop.h"

int main(int argc, char **argv)
{
    WSADATA wsa;
    const char *name = arg_need(argc, argv, "name");
    int port = atoi(arg_need(argc, argv, "port"));
    const char *log = arg_need(argc, argv, "log");
    const char *leaf_file = arg_need(argc, argv, "leaf");
    const char *path = arg_need(argc, argv, "path");
    long size = atol(arg_need(argc, argv, "size"));
    const char *want_sha = arg_need(argc, argv, "sha256");
    DWORD protocol = protocol_arg(arg_str(argc, argv, "protocol", NULL));
    struct hook_record hook;
    SSLCONNECTIONINFO ci;
    SOCKET s;
    unsigned char *leaf;
    size_t leaf_len = 0;
    char req[512], status[256], line[1024], marker[64], logline[1024];
    char proto[64] = "", cipher[128] = "", curve[64] = "", hex[65];
    static char buf[16384];
    long clen = -1, got = 0;
    struct sha256 sha;
    int lport, r;

    start_watchdog(50);
    leaf = read_pki(leaf_file, &leaf_len);
    CHECK(WSAStartup(MAKEWORD(2, 2), &wsa) == 0, "%s: WSAStartup", name);

    hook_reset(&hook, SSL_ERR_OKAY);
    s = secure_socket(name, 0, &hook, protocol);
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

    snprintf(req, sizeof req,
             "GET %s HTTP/1.1\r\nHost: localhost\r\nUser-Agent: sslsock-interop\r\nAccept: */*\r\n\r\n", path);
    CHECK(send(s, req, strlen(req), 0) == (int)strlen(req), "%s: send of the GET request returns its length",
          name);
    CHECK(recv_line(s, status, sizeof status) > 0 && strncmp(status, "HTTP/1.1 200", 12) == 0,
          "%s: status line is HTTP/1.1 200 (got '%s')", name, status);
    for (;;) {
        r = recv_line(s, line, sizeof line);
        if (r <= 0)
            break;
        if (strncasecmp(line, "Content-Length:", 15) == 0)
            clen = atol(line + 15);
    }
    CHECK(r == 0 && clen == size, "%s: headers end with a blank line; Content-Length %ld (got %ld)", name,
          size, clen);

    sha256_init(&sha);
    while (clen > 0 && got < clen) {
        long want = clen - got < (long)sizeof buf ? clen - got : (long)sizeof buf;
        r = (int)recv(s, buf, (size_t)want, 0);
        if (r <= 0)
            break;
        sha256_update(&sha, buf, (size_t)r);
        got += r;
    }
    sha256_hex(&sha, hex);
    CHECK(got == size, "%s: body of %ld bytes received (got %ld)", name, size, got);
    CHECK(strcasecmp(hex, want_sha) == 0, "%s: body SHA-256 is the file's %s (got %s)", name, want_sha, hex);

    /* nginx's view of our connection */
    snprintf(marker, sizeof marker, "127.0.0.1:%d ", lport);
    if (CHECK(log_find(log, 0, marker, path, 3000, logline, sizeof logline, NULL),
              "%s: nginx logged our request (client port %d)", name, lport)) {
        field_after(logline, "proto=", " \r", proto, sizeof proto);
        field_after(logline, "cipher=", " \r", cipher, sizeof cipher);
        field_after(logline, "curve=", " \r", curve, sizeof curve);
        check_info_vs_server(&ci, proto, cipher, curve[0] && strcmp(curve, "-") ? curve : NULL,
                             "nginx access log", name);
    }
    if (protocol == SSLSOCK_PROTOCOL_TLS1_2)
        CHECK(ci.dwProtocol == SSL_PROT_TLS1_2_CLIENT, "%s: TLS 1.2 asked, TLS 1.2 negotiated", name);
    if (protocol == SSLSOCK_PROTOCOL_TLS1_3)
        CHECK(ci.dwProtocol == SSL_PROT_TLS1_3_CLIENT, "%s: TLS 1.3 asked, TLS 1.3 negotiated", name);

    orderly_close(s, name, 0);
    free(leaf);
    CHECK(WSACleanup() == 0, "%s: WSACleanup", name);
    return finish();
}
