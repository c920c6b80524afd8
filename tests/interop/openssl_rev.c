/*
 * openssl_rev.c - against OpenSSL's `openssl s_server -rev` (tests/interop/run.sh).
 *
 * s_server -rev answers every line with the line reversed and prints, once the handshake is done,
 * "Protocol version: ...", "Ciphersuite: ..." and "Peer certificate: <subject>" (or "No peer
 * certificate") into its log. One connection, immediate handshake:
 *
 *   socket, SO_SECURE, validate-cert hook, SO_SSL_SET_PEERNAME, (SET_PROTOCOLS), (client
 *   certificate), connect; the hook saw the server's leaf; GET_CONNECTION_INFO against the server's
 *   log; --lines lines of --line-len characters out and reversed back; shutdown + closesocket.
 *
 * Arguments:
 *   --name CASE --port N --log FILE     the case, s_server's port and its log
 *   --leaf FILE.der                     the leaf the server presents (under $T_PKI)
 *   --protocol 12|13                    SET_PROTOCOLS to TLS 1.2 or 1.3 only (default: SSL_PROTOCOL_TLS1)
 *   --server-group NAME                 the only group the server allows (s_server -groups), checked
 *                                       against aiExch/dwExchStrength
 *   --client-cert ext|env|none          ext: sslsock_set_client_certificate(client.pem, client.key);
 *                                       env: SSLSOCK_CLIENT_CERT/KEY set by the runner; none: the
 *                                       server (-Verify 1) must refuse: connect fails with
 *                                       WSAECONNABORTED and the reason names the client certificate
 *   --client-cn CN                      the subject CN s_server must report for our certificate
 *                                       (default with ext/env: "sslsock test client", client.pem's)
 *   --lines N --line-len N              size of the exchange (default 64 x 4000 bytes each way)
 */
#include <winsock2.h>
#include <sslsock.h>

#include "interop.h"

#define MAX_LINE 16000

static int reversed_equal(const char *a, const char *b, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (a[i] != b[n - 1 - i])
            return 0;
    return 1;
}

int main(int argc, char **argv)
{
    WSADATA wsa;
    const char *name = arg_need(argc, argv, "name");
    int port = atoi(arg_need(argc, argv, "port"));
    const char *log = arg_need(argc, argv, "log");
    const char *leaf_file = arg_need(argc, argv, "leaf");
    const char *group = arg_str(argc, argv, "server-group", NULL);
    const char *cc_mode = arg_str(argc, argv, "client-cert", "");
    const char *client_cn = arg_str(argc, argv, "client-cn", NULL);
    DWORD protocol = protocol_arg(arg_str(argc, argv, "protocol", NULL));
    int lines = arg_int(argc, argv, "lines", 64);
    int line_len = arg_int(argc, argv, "line-len", 4000);
    struct hook_record hook;
    SSLCONNECTIONINFO ci;
    SOCKET s;
    unsigned char *leaf;
    size_t leaf_len = 0;
    char logline[1024], version[64] = "", suite[128] = "";
    static char out[MAX_LINE + 8], in[MAX_LINE + 8];
    int rc, i, all_back = 1, round;
    long long t0;

    start_watchdog(50);
    if (line_len < 1 || line_len > MAX_LINE - 2)
        line_len = 4000;
    if (!client_cn && (strcmp(cc_mode, "ext") == 0 || strcmp(cc_mode, "env") == 0))
        client_cn = "sslsock test client"; /* tests/pki/mkcerts.py's client.pem */
    leaf = read_pki(leaf_file, &leaf_len);
    CHECK(WSAStartup(MAKEWORD(2, 2), &wsa) == 0, "%s: WSAStartup", name);

    hook_reset(&hook, SSL_ERR_OKAY);
    s = secure_socket(name, 0, &hook, protocol);
    if (s == INVALID_SOCKET)
        return finish();
    CHECK(WSAIoctl(s, SO_SSL_SET_PEERNAME, (LPVOID) "localhost", sizeof "localhost", NULL, 0, NULL, NULL,
                   NULL) == 0,
          "%s: SO_SSL_SET_PEERNAME(\"localhost\")", name);
    if (strcmp(cc_mode, "ext") == 0) {
        char cert[4096], key[4096];
        snprintf(cert, sizeof cert, "%s", pki_path("client.pem"));
        snprintf(key, sizeof key, "%s", pki_path("client.key"));
        CHECK(sslsock_set_client_certificate(s, cert, key) == 0,
              "%s: sslsock_set_client_certificate(client.pem, client.key) returns 0", name);
    } else if (strcmp(cc_mode, "env") == 0) {
        CHECK(getenv("SSLSOCK_CLIENT_CERT") && getenv("SSLSOCK_CLIENT_KEY"),
              "%s: SSLSOCK_CLIENT_CERT and SSLSOCK_CLIENT_KEY are set", name);
    }

    t0 = now_ms();
    rc = connect_port(s, port);
    if (strcmp(cc_mode, "none") == 0) {
        /* The server demands a certificate and we have none. */
        int err = WSAGetLastError();
        const char *reason = sslsock_last_error_reason();
        char why[1024];
        snprintf(why, sizeof why, "%s", reason ? reason : "");
        CHECK(rc == SOCKET_ERROR && err == WSAECONNABORTED,
              "%s: connect fails with WSAECONNABORTED (got rc %d, error %d)", name, rc, err);
        note("%s: reason: %s", name, why);
        CHECK(contains_nocase(why, "client certificate"),
              "%s: sslsock_last_error_reason() mentions the client certificate ('%s')", name, why);
        if (rc == 0) {
            /* Diagnosis: TLS 1.3 finishes the client's side before the server judges it. */
            char b[64];
            int r = (int)recv(s, b, sizeof b, 0);
            note("%s: connect succeeded; the first recv gave %d, error %d, reason '%s'", name, r,
                 WSAGetLastError(), sslsock_last_error_reason());
        }
        CHECK(log_find(log, 0, "did not return a certificate", NULL, 3000, logline, sizeof logline, NULL),
              "%s: s_server refused the handshake for want of a client certificate ('%s')", name, logline);
        CHECK(closesocket(s) == 0, "%s: closesocket returns 0", name);
        free(leaf);
        WSACleanup();
        return finish();
    }

    if (!CHECK(rc == 0, "%s: connect (TCP + TLS handshake) returns 0", name)) {
        closesocket(s);
        return finish();
    }
    note("%s: handshake took %lld ms", name, now_ms() - t0);
    check_hook(&hook, 1, 0, &hook, leaf, leaf_len, name);
    get_conn_info(s, &ci, name);

    /* the exchange: batches of 8 lines out, 8 reversed lines back */
    for (round = 0; round * 8 < lines; round++) {
        int first = round * 8, n = lines - first < 8 ? lines - first : 8;
        for (i = 0; i < n; i++) {
            fill_text(out, (size_t)line_len - (size_t)((first + i) % 7), (unsigned)(first + i));
            strcat(out, "\r\n");
            if (send_all(s, out, strlen(out)) != 0) {
                all_back = 0;
                break;
            }
        }
        for (i = 0; i < n && all_back; i++) {
            size_t want = (size_t)line_len - (size_t)((first + i) % 7);
            int got = recv_line(s, in, sizeof in);
            fill_text(out, want, (unsigned)(first + i));
            if (got != (int)want || !reversed_equal(out, in, want)) {
                CHECK(0, "%s: line %d came back reversed (%d bytes, wanted %lu)", name, first + i, got,
                      (unsigned long)want);
                all_back = 0;
            }
        }
        if (!all_back)
            break;
    }
    CHECK(all_back, "%s: %d lines (~%d KB) sent and each came back reversed", name, lines,
          lines * line_len / 1024);

    /* what s_server says it negotiated */
    if (CHECK(log_find(log, 0, "Protocol version:", NULL, 3000, logline, sizeof logline, NULL),
              "%s: s_server logged the protocol version", name))
        field_after(logline, "Protocol version: ", " \r", version, sizeof version);
    if (CHECK(log_find(log, 0, "Ciphersuite:", NULL, 3000, logline, sizeof logline, NULL),
              "%s: s_server logged the cipher suite", name))
        field_after(logline, "Ciphersuite: ", " \r", suite, sizeof suite);
    check_info_vs_server(&ci, version, suite, group, group ? "s_server log; -groups" : "s_server log",
                         name);
    if (protocol == SSLSOCK_PROTOCOL_TLS1_2)
        CHECK(ci.dwProtocol == SSL_PROT_TLS1_2_CLIENT, "%s: TLS 1.2 asked, TLS 1.2 negotiated", name);
    if (protocol == SSLSOCK_PROTOCOL_TLS1_3)
        CHECK(ci.dwProtocol == SSL_PROT_TLS1_3_CLIENT, "%s: TLS 1.3 asked, TLS 1.3 negotiated", name);
    if (client_cn) {
        CHECK(log_find(log, 0, "Peer certificate:", client_cn, 3000, logline, sizeof logline, NULL),
              "%s: s_server received our client certificate (CN %s): '%s'", name, client_cn, logline);
    } else {
        CHECK(log_find(log, 0, "No peer certificate", NULL, 3000, logline, sizeof logline, NULL),
              "%s: s_server saw no client certificate", name);
    }

    orderly_close(s, name, 0);
    free(leaf);
    CHECK(WSACleanup() == 0, "%s: WSACleanup", name);
    return finish();
}
