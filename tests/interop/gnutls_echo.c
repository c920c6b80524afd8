/*
 * gnutls_echo.c - against GnuTLS's `gnutls-serv --echo` (tests/interop/run.sh).
 *
 * gnutls-serv echoes what it receives once a line is complete, and logs for every connection
 * "* Accepted connection from IPv4 127.0.0.1 port <client port>" followed by "- Version: ...",
 * "- Cipher: ..." and " - Using curve: ...". One connection, immediate handshake:
 *
 *   socket, SO_SECURE, hook, SO_SSL_SET_PEERNAME, (SET_PROTOCOLS), connect; GET_CONNECTION_INFO
 *   against gnutls-serv's log block for our port; --lines lines of --line-len bytes echoed back
 *   byte for byte; shutdown + closesocket.
 *
 * Arguments: --name CASE --port N --log FILE --leaf FILE.der [--protocol 12|13]
 *            [--lines N] [--line-len N]
 */
#include <winsock2.h>
#include <sslsock.h>

#include "interop.h"

#define MAX_LINE 16000

int main(int argc, char **argv)
{
    WSADATA wsa;
    const char *name = arg_need(argc, argv, "name");
    int port = atoi(arg_need(argc, argv, "port"));
    const char *log = arg_need(argc, argv, "log");
    const char *leaf_file = arg_need(argc, argv, "leaf");
    DWORD protocol = protocol_arg(arg_str(argc, argv, "protocol", NULL));
    int lines = arg_int(argc, argv, "lines", 25);
    int line_len = arg_int(argc, argv, "line-len", 4000);
    struct hook_record hook;
    SSLCONNECTIONINFO ci;
    SOCKET s;
    unsigned char *leaf;
    size_t leaf_len = 0;
    char marker[128], logline[1024], version[64] = "", cipher[128] = "", curve[64] = "";
    static char out[MAX_LINE + 8], in[MAX_LINE + 8];
    long at = 0, total = 0;
    int i, all_back = 1, lport;

    start_watchdog(50);
    if (line_len < 1 || line_len > MAX_LINE - 2)
        line_len = 4000;
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

    /* one line at a time: gnutls-serv echoes each complete line */
    for (i = 0; i < lines && all_back; i++) {
        size_t want = (size_t)line_len - (size_t)(i % 5);
        int got;
        fill_text(out, want, (unsigned)i + 3);
        strcat(out, "\n");
        if (send_all(s, out, want + 1) != 0) {
            CHECK(0, "%s: send of line %d", name, i);
            all_back = 0;
            break;
        }
        got = recv_line(s, in, sizeof in);
        out[want] = 0;
        if (got != (int)want || memcmp(in, out, want) != 0) {
            CHECK(0, "%s: line %d echoed back (%d bytes, wanted %lu)", name, i, got, (unsigned long)want);
            all_back = 0;
        }
        total += (long)want + 1;
    }
    CHECK(all_back, "%s: %d lines (%ld bytes) sent and echoed back byte for byte", name, lines, total);

    /* gnutls-serv's description of our connection */
    snprintf(marker, sizeof marker, "port %d ", lport);
    if (CHECK(log_find(log, 0, "Accepted connection from", marker, 3000, logline, sizeof logline, &at),
              "%s: gnutls-serv logged our connection (client port %d)", name, lport)) {
        if (log_find(log, at, "- Version: ", NULL, 2000, logline, sizeof logline, NULL))
            field_after(logline, "- Version: ", " \r", version, sizeof version);
        if (log_find(log, at, "- Cipher: ", NULL, 2000, logline, sizeof logline, NULL))
            field_after(logline, "- Cipher: ", " \r", cipher, sizeof cipher);
        if (log_find(log, at, " - Using curve: ", NULL, 2000, logline, sizeof logline, NULL))
            field_after(logline, " - Using curve: ", " \r", curve, sizeof curve);
        check_info_vs_server(&ci, version, cipher, curve[0] ? curve : NULL, "gnutls-serv log", name);
    }
    if (protocol == SSLSOCK_PROTOCOL_TLS1_2)
        CHECK(ci.dwProtocol == SSL_PROT_TLS1_2_CLIENT, "%s: TLS 1.2 asked, TLS 1.2 negotiated", name);

    orderly_close(s, name, 0);
    free(leaf);
    CHECK(WSACleanup() == 0, "%s: WSACleanup", name);
    return finish();
}
