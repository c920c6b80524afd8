/*
 * pq.c - the key exchange: the post-quantum hybrid X25519MLKEM768 where the server
 * has it, a classical group where it has not (make certmatrix).
 *
 *   T_PORT_PQ    examples/pq_server.rs (rustls, aws-lc-rs, TLS 1.3; prefers
 *                X25519MLKEM768); it prints "GROUP <peer> <group> ..." per
 *                connection into T_PQ_LOG and sends "GROUP <group>" over TLS first
 *   T_PORT_OSSL  openssl s_server -www (OpenSSL 3.0: no ML-KEM), TLS 1.2 and 1.3
 *
 * sslsock offers X25519MLKEM768 first (rustls with aws-lc-rs, prefer-post-quantum);
 * docs/api.md: aiExch CALG_ECDH_EPHEM, and the hybrid reports 255 like X25519.
 */
#include <winsock2.h>
#include <sslsock.h>
#include "common.h"

#include <errno.h>

static int CALLBACK strict_hook(DWORD dwType, LPVOID pvArg, DWORD dwChainLen, LPBLOB pCertChain,
                                DWORD dwFlags)
{
    struct hook_record *r = pvArg;
    hook_note(r, dwType, pvArg, dwChainLen, pCertChain, dwFlags);
    return dwFlags == 0 ? SSL_ERR_OKAY : SSL_ERR_CERT_UNKNOWN;
}

static SOCKET open_secure(int port, int hooked, struct hook_record *rec, DWORD only_protocol,
                          int *rc, int *wsa)
{
    SOCKADDR_IN sa;
    DWORD ms = 10000;
    SOCKET s = socket(AF_INET, SOCK_STREAM, 0);

    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, (const char *)&ms, sizeof ms);
    setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, (const char *)&ms, sizeof ms);
    make_secure(s);
    hook_reset(rec, SSL_ERR_OKAY);
    if (hooked)
        set_hook(s, strict_hook, rec);
    WSAIoctl(s, SO_SSL_SET_PEERNAME, "localhost", 10, NULL, 0, NULL, NULL, NULL);
    if (only_protocol) {
        SSLPROTOCOLS p;
        memset(&p, 0, sizeof p);
        p.dwCount = 1;
        p.ProtocolList[0].dwProtocol = only_protocol;
        WSAIoctl(s, SO_SSL_SET_PROTOCOLS, &p, sizeof p, NULL, 0, NULL, NULL, NULL);
    }
    connect_addr(&sa, port);
    WSASetLastError(0);
    *rc = connect(s, (const struct sockaddr *)&sa, sizeof sa);
    *wsa = WSAGetLastError();
    return s;
}

/* 1 when T_PQ_LOG has "GROUP 127.0.0.1:<port> <group> " */
static int server_printed(int local_port, const char *group)
{
    char want[128];
    size_t len = 0;
    unsigned char *log;
    int found;
    const char *path = getenv("T_PQ_LOG");
    if (!path)
        return 0;
    log = read_file(path, &len);
    if (!log)
        return 0;
    snprintf(want, sizeof want, "GROUP 127.0.0.1:%d %s ", local_port, group);
    found = strstr((const char *)log, want) != NULL;
    free(log);
    return found;
}

static int local_port(SOCKET s)
{
    SOCKADDR_IN sa;
    socklen_t len = sizeof sa;
    if (getsockname(s, (struct sockaddr *)&sa, &len) != 0)
        return 0;
    return ntohs(sa.sin_port);
}

static void against_pq_server(int port, int hooked)
{
    const char *what = hooked ? "pq_server, strict hook" : "pq_server, no hook";
    struct hook_record rec;
    SSLCONNECTIONINFO ci;
    char line[256];
    int rc, wsa, n, lp, irc;
    SOCKET s = open_secure(port, hooked, &rec, 0, &rc, &wsa);

    if (!CHECK(rc == 0, "%s: connect returns 0 (WSA %d, %s)", what, wsa,
               rc == 0 ? "" : sslsock_last_error_reason())) {
        closesocket(s);
        return;
    }
    lp = local_port(s);
    n = recv_line(s, line, sizeof line);
    CHECK(n > 0 && strcmp(line, "GROUP X25519MLKEM768") == 0,
          "%s: the server says over TLS it negotiated X25519MLKEM768 (got \"%s\")", what,
          n >= 0 ? line : "");
    CHECK(server_printed(lp, "X25519MLKEM768"),
          "%s: the server's log has \"GROUP 127.0.0.1:%d X25519MLKEM768\"", what, lp);
    memset(&ci, 0, sizeof ci);
    irc = WSAIoctl(s, SO_SSL_GET_CONNECTION_INFO, NULL, 0, &ci, sizeof ci, NULL, NULL, NULL);
    CHECK(irc == 0 && ci.dwProtocol == SSL_PROT_TLS1_3_CLIENT && ci.aiExch == CALG_ECDH_EPHEM &&
              ci.dwExchStrength == 255,
          "%s: GET_CONNECTION_INFO: TLS 1.3, aiExch CALG_ECDH_EPHEM 255 (got protocol 0x%x, "
          "aiExch 0x%x/%u)",
          what, (unsigned)ci.dwProtocol, (unsigned)ci.aiExch, (unsigned)ci.dwExchStrength);
    note("%s: dwProtocol 0x%x aiCipher 0x%x/%u aiHash 0x%x/%u aiExch 0x%x/%u", what,
         (unsigned)ci.dwProtocol, (unsigned)ci.aiCipher, (unsigned)ci.dwCipherStrength,
         (unsigned)ci.aiHash, (unsigned)ci.dwHashStrength, (unsigned)ci.aiExch,
         (unsigned)ci.dwExchStrength);
    n = send_str(s, "post-quantum\r\n") == 0 ? recv_line(s, line, sizeof line) : -1;
    CHECK(n > 0 && strcmp(line, "post-quantum") == 0, "%s: a line echoed over TLS", what);
    closesocket(s);
}

static void against_openssl(int port, DWORD only_protocol, DWORD want_protocol, int hybrid_offered,
                            const char *what)
{
    static char page[65536];
    struct hook_record rec;
    SSLCONNECTIONINFO ci;
    size_t got = 0;
    int rc, wsa, r, irc;
    char *groups;
    SOCKET s = open_secure(port, 1, &rec, only_protocol, &rc, &wsa);

    if (!CHECK(rc == 0, "%s: connect returns 0 (WSA %d, %s)", what, wsa,
               rc == 0 ? "" : sslsock_last_error_reason())) {
        closesocket(s);
        return;
    }
    memset(&ci, 0, sizeof ci);
    irc = WSAIoctl(s, SO_SSL_GET_CONNECTION_INFO, NULL, 0, &ci, sizeof ci, NULL, NULL, NULL);
    CHECK(irc == 0 && ci.dwProtocol == want_protocol && ci.aiExch == CALG_ECDH_EPHEM &&
              ci.dwExchStrength == 255,
          "%s: GET_CONNECTION_INFO: protocol 0x%x, aiExch CALG_ECDH_EPHEM 255 = X25519 (OpenSSL "
          "3.0 has no ML-KEM) (got 0x%x, aiExch 0x%x/%u)",
          what, (unsigned)want_protocol, (unsigned)ci.dwProtocol, (unsigned)ci.aiExch,
          (unsigned)ci.dwExchStrength);
    note("%s: dwProtocol 0x%x aiCipher 0x%x/%u aiHash 0x%x/%u aiExch 0x%x/%u", what,
         (unsigned)ci.dwProtocol, (unsigned)ci.aiCipher, (unsigned)ci.dwCipherStrength,
         (unsigned)ci.aiHash, (unsigned)ci.dwHashStrength, (unsigned)ci.aiExch,
         (unsigned)ci.dwExchStrength);
    if (send_str(s, "GET / HTTP/1.0\r\n\r\n") == 0)
        while (got < sizeof page - 1 && (r = (int)recv(s, page + got, sizeof page - 1 - got, 0)) > 0)
            got += (size_t)r;
    page[got] = 0;
    CHECK(strncmp(page, "HTTP/1.0 200", 12) == 0, "%s: s_server's status page came back", what);
    /* s_server's view of the client's offer: "Supported groups: ..." (an unknown id in hex) */
    groups = strstr(page, "Supported groups: ");
    if (groups) {
        size_t n = strcspn(groups, "\r\n");
        note("%s: s_server saw: %.*s", what, (int)n, groups);
        /* OpenSSL 3.0 prints a group it does not know as <NULL> (newer ones: 0x11EC) */
        if (hybrid_offered)
            CHECK(strncmp(groups + 18, "<NULL>:x25519:", 14) == 0 ||
                      strncasecmp(groups + 18, "0x11EC:x25519:", 14) == 0,
                  "%s: s_server saw a group unknown to it (X25519MLKEM768) offered first, "
                  "then x25519",
                  what);
        else
            CHECK(strncasecmp(groups + 18, "x25519:", 7) == 0,
                  "%s: s_server saw x25519 offered first (the hybrid is TLS 1.3 only)", what);
    } else {
        CHECK(0, "%s: s_server's page lists the groups the client offered", what);
    }
    closesocket(s);
}

int main(void)
{
    WSADATA wsa;
    int pq, ossl;

    start_watchdog(60);
    signal(SIGPIPE, SIG_IGN);
    WSAStartup(MAKEWORD(2, 2), &wsa);
    pq = env_port("T_PORT_PQ");
    ossl = env_port("T_PORT_OSSL");

    against_pq_server(pq, 1);
    against_pq_server(pq, 0);
    against_openssl(ossl, 0, SSL_PROT_TLS1_3_CLIENT, 1, "OpenSSL 3.0 s_server, TLS 1.3");
    against_openssl(ossl, SSLSOCK_PROTOCOL_TLS1_2, SSL_PROT_TLS1_2_CLIENT, 0,
                    "OpenSSL 3.0 s_server, TLS 1.2");

    WSACleanup();
    return finish();
}
