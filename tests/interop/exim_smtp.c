/*
 * exim_smtp.c - SMTP with STARTTLS against Exim, through the deferred handshake
 * (tests/interop/run.sh).
 *
 *   socket, SO_SECURE, hook, SSL_FLAG_DEFER_HANDSHAKE, connect (plain TCP); in plaintext: the 220
 *   greeting, EHLO (STARTTLS offered), STARTTLS (220); SO_SSL_PERFORM_HANDSHAKE("localhost");
 *   over TLS: EHLO again (STARTTLS no longer offered), MAIL FROM, RCPT TO, DATA with a message of
 *   ~100 KB (dot-stuffed lines included), QUIT (221, then the server's end of stream);
 *   shutdown + closesocket.
 * Then: GET_CONNECTION_INFO against Exim's "<=" log line for our port (X=TLS1.3:ECDHE_X25519__
 * ..._AES_256_GCM:256), and the message as delivered to the local mailbox, byte for byte.
 *
 * Arguments: --name CASE --port N --log EXIM-MAINLOG --mailbox FILE --leaf FILE.der
 *            [--protocol 12|13] [--lines N]
 */
#include <winsock2.h>
#include <sslsock.h>

#include "interop.h"

/* Reads one SMTP reply (continuation lines "250-..." up to "250 ..."): returns the code, -1 on
 * failure. The lines go to `all` (joined with '|'), when not NULL. */
static int smtp_reply(SOCKET s, char *all, size_t cap)
{
    char line[1024];
    if (all && cap)
        all[0] = 0;
    for (;;) {
        int n = recv_line(s, line, sizeof line);
        if (n < 4)
            return -1;
        if (all && strlen(all) + (size_t)n + 2 < cap) {
            if (all[0])
                strcat(all, "|");
            strcat(all, line);
        }
        if (line[3] == ' ')
            return atoi(line);
        if (line[3] != '-')
            return -1;
    }
}

static int smtp_cmd(SOCKET s, const char *cmd, char *all, size_t cap)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s\r\n", cmd);
    if (send_str(s, buf) != 0)
        return -1;
    return smtp_reply(s, all, cap);
}

/* Body line i (no line end): numbered text; every 97th line starts with '.' (dot-stuffing). */
static void body_line(char *out, size_t cap, int i)
{
    char text[80];
    fill_text(text, 60, (unsigned)i);
    snprintf(out, cap, "%s%05d %s", i % 97 == 5 ? "." : "", i, text);
}

static const char *find_bytes(const char *hay, size_t hlen, const char *needle, size_t nlen)
{
    size_t i;
    if (nlen == 0 || hlen < nlen)
        return NULL;
    for (i = 0; i + nlen <= hlen; i++)
        if (hay[i] == needle[0] && memcmp(hay + i, needle, nlen) == 0)
            return hay + i;
    return NULL;
}

int main(int argc, char **argv)
{
    WSADATA wsa;
    const char *name = arg_need(argc, argv, "name");
    int port = atoi(arg_need(argc, argv, "port"));
    const char *log = arg_need(argc, argv, "log");
    const char *mailbox = arg_need(argc, argv, "mailbox");
    const char *leaf_file = arg_need(argc, argv, "leaf");
    DWORD protocol = protocol_arg(arg_str(argc, argv, "protocol", NULL));
    int lines = arg_int(argc, argv, "lines", 1600);
    struct hook_record hook;
    SSLCONNECTIONINFO ci;
    SOCKET s;
    unsigned char *leaf;
    size_t leaf_len = 0, body_len = 0, body_cap;
    char reply[4096], cmd[512], line[256], subject[128], marker[64], logline[2048];
    char version[64] = "", cipher[256] = "", group[64] = "";
    char *body_lf, *stuffed;
    size_t stuffed_len = 0;
    int code, i, lport, eof = 0;

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

    /* plaintext */
    code = smtp_reply(s, reply, sizeof reply);
    CHECK(code == 220, "%s: plaintext greeting 220 (got %d '%s')", name, code, reply);
    code = smtp_cmd(s, "EHLO sslsock-interop.localhost", reply, sizeof reply);
    CHECK(code == 250 && strstr(reply, "STARTTLS"), "%s: plaintext EHLO: 250, STARTTLS offered (got %d '%s')",
          name, code, reply);
    code = smtp_cmd(s, "STARTTLS", reply, sizeof reply);
    if (!CHECK(code == 220, "%s: STARTTLS answered 220 (got %d '%s')", name, code, reply)) {
        closesocket(s);
        return finish();
    }
    CHECK(hook.calls == 0, "%s: no handshake yet (hook not called)", name);

    /* the upgrade */
    if (!CHECK(perform_handshake(s, "localhost") == 0, "%s: SO_SSL_PERFORM_HANDSHAKE(\"localhost\") returns 0",
               name)) {
        closesocket(s);
        return finish();
    }
    check_hook(&hook, 1, 0, &hook, leaf, leaf_len, name);
    get_conn_info(s, &ci, name);

    /* over TLS */
    code = smtp_cmd(s, "EHLO sslsock-interop.localhost", reply, sizeof reply);
    CHECK(code == 250 && !strstr(reply, "STARTTLS"),
          "%s: EHLO over TLS: 250, STARTTLS no longer offered (got %d '%s')", name, code, reply);

    /* the message: headers + `lines` body lines (~100 KB) */
    snprintf(subject, sizeof subject, "sslsock interop %d-%lld", (int)getpid(), now_ms());
    body_cap = (size_t)lines * 80 + 4096;
    body_lf = malloc(body_cap);
    stuffed = malloc(body_cap + (size_t)lines * 4);
    if (!body_lf || !stuffed)
        return finish();
    for (i = 0; i < lines; i++) {
        body_line(line, sizeof line, i);
        body_len += (size_t)sprintf(body_lf + body_len, "%s\n", line);
        stuffed_len += (size_t)sprintf(stuffed + stuffed_len, "%s%s\r\n", line[0] == '.' ? "." : "", line);
    }

    snprintf(cmd, sizeof cmd, "MAIL FROM:<sslsock@localhost> SIZE=%lu", (unsigned long)stuffed_len + 512);
    code = smtp_cmd(s, cmd, reply, sizeof reply);
    CHECK(code == 250, "%s: MAIL FROM: 250 (got %d '%s')", name, code, reply);
    code = smtp_cmd(s, "RCPT TO:<test@localhost>", reply, sizeof reply);
    CHECK(code == 250, "%s: RCPT TO:<test@localhost>: 250 (got %d '%s')", name, code, reply);
    code = smtp_cmd(s, "DATA", reply, sizeof reply);
    CHECK(code == 354, "%s: DATA: 354 (got %d '%s')", name, code, reply);
    {
        char head[512];
        snprintf(head, sizeof head,
                 "From: sslsock <sslsock@localhost>\r\nTo: test <test@localhost>\r\nSubject: %s\r\n"
                 "Message-ID: <%d.%lld@sslsock-interop.localhost>\r\n\r\n",
                 subject, (int)getpid(), now_ms());
        CHECK(send_str(s, head) == 0 && send_all(s, stuffed, stuffed_len) == 0 && send_str(s, ".\r\n") == 0,
              "%s: message sent (%lu bytes of body, dot-stuffed)", name, (unsigned long)stuffed_len);
    }
    code = smtp_reply(s, reply, sizeof reply);
    CHECK(code == 250, "%s: end of DATA: 250 (got %d '%s')", name, code, reply);
    code = smtp_cmd(s, "QUIT", reply, sizeof reply);
    CHECK(code == 221, "%s: QUIT: 221 (got %d '%s')", name, code, reply);
    {
        char b[64];
        int r = (int)recv(s, b, sizeof b, 0);
        eof = CHECK(r == 0, "%s: after 221, recv returns 0 (the server's close) (got %d)", name, r);
    }
    orderly_close(s, name, eof);

    /* Exim's view: "<= sslsock@localhost H=(...) [127.0.0.1]:PORT P=esmtps X=TLS1.3:KX__SIG__CIPHER:bits" */
    snprintf(marker, sizeof marker, "[127.0.0.1]:%d ", lport);
    if (CHECK(log_find(log, 0, "<= sslsock@localhost", marker, 5000, logline, sizeof logline, NULL),
              "%s: Exim logged the message from our connection (client port %d)", name, lport)) {
        char x[256] = "";
        note("%s: exim: %s", name, logline);
        CHECK(strstr(logline, "P=esmtps") != NULL, "%s: Exim received it over ESMTP with TLS (P=esmtps)", name);
        field_after(logline, " X=", " ", x, sizeof x);
        field_after(x, "", ":", version, sizeof version);
        field_after(x, ":", " ", cipher, sizeof cipher);
        field_after(x, "ECDHE_", "_", group, sizeof group);
        {
            DWORD gbits;
            if (server_group(group, &gbits) == 0)
                group[0] = 0; /* not a group Exim named */
        }
        check_info_vs_server(&ci, version, cipher, group[0] ? group : NULL, "Exim main log X=", name);
    }

    /* the message as delivered (mbox: LF line ends, un-stuffed) */
    {
        size_t len = 0;
        unsigned char *mb = NULL;
        const char *at = NULL, *hit = NULL;
        long long deadline = now_ms() + 5000;
        do {
            free(mb);
            mb = read_file(mailbox, &len);
            at = mb ? find_bytes((const char *)mb, len, subject, strlen(subject)) : NULL;
            if (!at)
                usleep(100 * 1000);
        } while (!at && now_ms() < deadline);
        CHECK(at != NULL, "%s: the message reached the mailbox %s (Subject: %s)", name, mailbox, subject);
        if (at)
            hit = find_bytes(at, len - (size_t)(at - (const char *)mb), body_lf, body_len);
        CHECK(hit != NULL, "%s: the delivered body equals the %lu bytes sent (dot-stuffing undone)", name,
              (unsigned long)body_len);
        free(mb);
    }

    free(body_lf);
    free(stuffed);
    free(leaf);
    CHECK(WSACleanup() == 0, "%s: WSACleanup", name);
    return finish();
}
