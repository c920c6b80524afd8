/*
 * dovecot_imap.c - IMAP with STARTTLS against Dovecot, through the deferred handshake
 * (tests/interop/run.sh).
 *
 *   socket, SO_SECURE, hook, SSL_FLAG_DEFER_HANDSHAKE, connect (plain TCP); in plaintext: the
 *   greeting, CAPABILITY (STARTTLS offered), STARTTLS; SO_SSL_PERFORM_HANDSHAKE;
 *   over TLS: CAPABILITY (STARTTLS no longer offered), LOGIN with the test user (passwd-file),
 *   APPEND of a ~100 KB message to INBOX, SELECT INBOX, UID FETCH of that message (compared byte
 *   for byte), LOGOUT (BYE, then the server's end of stream); shutdown + closesocket.
 * Then GET_CONNECTION_INFO against Dovecot's login line for our port
 * ("Login: user=<test>, ..., rport=N, ..., TLS, tls=[TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 ...]").
 *
 * Arguments: --name CASE --port N --log DOVECOT-LOG --leaf FILE.der --user U --password P
 *            [--protocol 12|13] [--size BYTES]
 */
#include <winsock2.h>
#include <sslsock.h>

#include "interop.h"

/* Sends "<tag> <cmd>\r\n" and reads up to the tagged reply, which goes to `tagged`; untagged
 * lines are joined into `untagged` ('|'). Returns 1 when the tagged reply is OK. */
static int imap_cmd(SOCKET s, const char *tag, const char *cmd, char *untagged, size_t ucap, char *tagged,
                    size_t tcap)
{
    char line[2048];
    size_t tl = strlen(tag);
    if (untagged && ucap)
        untagged[0] = 0;
    tagged[0] = 0;
    if (cmd && sendf(s, "%s %s\r\n", tag, cmd) != 0)
        return 0;
    for (;;) {
        int n = recv_line(s, line, sizeof line);
        if (n < 0)
            return 0;
        if (strncmp(line, tag, tl) == 0 && line[tl] == ' ') {
            snprintf(tagged, tcap, "%s", line + tl + 1);
            return strncmp(tagged, "OK", 2) == 0;
        }
        if (untagged && strlen(untagged) + (size_t)n + 2 < ucap) {
            if (untagged[0])
                strcat(untagged, "|");
            strcat(untagged, line);
        }
    }
}

/* Message line i (no line end). */
static void msg_line(char *out, size_t cap, int i)
{
    char text[80];
    fill_text(text, 64, (unsigned)i * 3);
    snprintf(out, cap, "%06d %s", i, text);
}

int main(int argc, char **argv)
{
    WSADATA wsa;
    const char *name = arg_need(argc, argv, "name");
    int port = atoi(arg_need(argc, argv, "port"));
    const char *log = arg_need(argc, argv, "log");
    const char *leaf_file = arg_need(argc, argv, "leaf");
    const char *user = arg_need(argc, argv, "user");
    const char *password = arg_need(argc, argv, "password");
    DWORD protocol = protocol_arg(arg_str(argc, argv, "protocol", NULL));
    long size = arg_int(argc, argv, "size", 100 * 1024);
    struct hook_record hook;
    SSLCONNECTIONINFO ci;
    SOCKET s;
    unsigned char *leaf;
    size_t leaf_len = 0, msg_len = 0;
    char untagged[8192], tagged[1024], line[2048], cmd[512], marker[64], logline[2048];
    char tls[256] = "", version[64] = "", cipher[128] = "";
    char *msg, *back;
    unsigned long uid = 0;
    int ok, lport, i, eof = 0;

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
    CHECK(recv_line(s, line, sizeof line) > 0 && strncmp(line, "* OK", 4) == 0,
          "%s: plaintext greeting '* OK ...' (got '%s')", name, line);
    ok = imap_cmd(s, "a1", "CAPABILITY", untagged, sizeof untagged, tagged, sizeof tagged);
    /* (no LOGINDISABLED: Dovecot counts a connection from its own address as secure) */
    CHECK(ok && strstr(untagged, "STARTTLS"), "%s: plaintext CAPABILITY: STARTTLS offered (got '%s' / '%s')",
          name, untagged, tagged);
    ok = imap_cmd(s, "a2", "STARTTLS", NULL, 0, tagged, sizeof tagged);
    if (!CHECK(ok, "%s: STARTTLS answered OK (got '%s')", name, tagged)) {
        closesocket(s);
        return finish();
    }

    /* the upgrade */
    if (!CHECK(perform_handshake(s, "localhost") == 0, "%s: SO_SSL_PERFORM_HANDSHAKE(\"localhost\") returns 0",
               name)) {
        closesocket(s);
        return finish();
    }
    check_hook(&hook, 1, 0, &hook, leaf, leaf_len, name);
    get_conn_info(s, &ci, name);

    /* over TLS */
    ok = imap_cmd(s, "a3", "CAPABILITY", untagged, sizeof untagged, tagged, sizeof tagged);
    CHECK(ok && !strstr(untagged, "STARTTLS") && !strstr(untagged, "LOGINDISABLED"),
          "%s: CAPABILITY over TLS: STARTTLS no longer offered (got '%s')", name, untagged);
    snprintf(cmd, sizeof cmd, "LOGIN %s %s", user, password);
    ok = imap_cmd(s, "a4", cmd, NULL, 0, tagged, sizeof tagged);
    CHECK(ok, "%s: LOGIN %s: OK (got '%s')", name, user, tagged);

    /* APPEND a message of `size` bytes */
    msg = malloc((size_t)size + 4096);
    back = malloc((size_t)size + 4096);
    if (!msg || !back)
        return finish();
    msg_len = (size_t)sprintf(msg, "From: sslsock <sslsock@localhost>\r\nTo: test@localhost\r\n"
                                   "Subject: sslsock interop %d\r\n\r\n", (int)getpid());
    for (i = 0; msg_len < (size_t)size; i++) {
        msg_line(line, sizeof line, i);
        msg_len += (size_t)sprintf(msg + msg_len, "%s\r\n", line);
    }
    snprintf(cmd, sizeof cmd, "a5 APPEND INBOX {%lu}\r\n", (unsigned long)msg_len);
    CHECK(send_str(s, cmd) == 0 && recv_line(s, line, sizeof line) > 0 && line[0] == '+',
          "%s: APPEND: continuation '+' (got '%s')", name, line);
    CHECK(send_all(s, msg, msg_len) == 0 && send_str(s, "\r\n") == 0, "%s: APPEND literal of %lu bytes sent",
          name, (unsigned long)msg_len);
    ok = imap_cmd(s, "a5", NULL, NULL, 0, tagged, sizeof tagged);
    CHECK(ok, "%s: APPEND completed OK (got '%s')", name, tagged);
    {
        const char *p = strstr(tagged, "APPENDUID ");
        if (p)
            uid = strtoul(strchr(p + 10, ' ') ? strchr(p + 10, ' ') + 1 : p, NULL, 10);
    }
    CHECK(uid > 0, "%s: APPENDUID gives the new message's UID (%lu)", name, uid);

    ok = imap_cmd(s, "a6", "SELECT INBOX", untagged, sizeof untagged, tagged, sizeof tagged);
    CHECK(ok && strstr(untagged, "EXISTS"), "%s: SELECT INBOX: OK with EXISTS (got '%s' / '%s')", name,
          untagged, tagged);

    /* UID FETCH <uid> BODY.PEEK[]: "* n FETCH (UID u BODY[] {len}" + len bytes + ")" */
    snprintf(cmd, sizeof cmd, "a7 UID FETCH %lu BODY.PEEK[]\r\n", uid);
    CHECK(send_str(s, cmd) == 0, "%s: UID FETCH sent", name);
    {
        long lit = -1, got = 0;
        char *brace;
        recv_line(s, line, sizeof line);
        brace = strrchr(line, '{');
        if (brace && strncmp(line, "* ", 2) == 0 && strstr(line, "FETCH"))
            lit = atol(brace + 1);
        CHECK(lit == (long)msg_len, "%s: FETCH literal of %lu bytes announced (got '%s')", name,
              (unsigned long)msg_len, line);
        if (lit > 0 && lit <= (long)msg_len + 4096)
            got = recv_exact(s, back, (size_t)lit);
        CHECK(got == (long)msg_len && memcmp(back, msg, msg_len) == 0,
              "%s: the fetched message equals the appended one (%ld bytes)", name, got);
        ok = imap_cmd(s, "a7", NULL, untagged, sizeof untagged, tagged, sizeof tagged);
        CHECK(ok, "%s: UID FETCH completed OK (got '%s')", name, tagged);
    }

    ok = imap_cmd(s, "a8", "LOGOUT", untagged, sizeof untagged, tagged, sizeof tagged);
    CHECK(ok && strstr(untagged, "* BYE"), "%s: LOGOUT: BYE and OK (got '%s' / '%s')", name, untagged, tagged);
    {
        char b[64];
        int r = (int)recv(s, b, sizeof b, 0);
        eof = CHECK(r == 0, "%s: after LOGOUT, recv returns 0 (the server's close) (got %d)", name, r);
    }
    orderly_close(s, name, eof);

    /* Dovecot's login line for our connection */
    snprintf(marker, sizeof marker, "rport=%d,", lport);
    if (CHECK(log_find(log, 0, "Login: user=<", marker, 3000, logline, sizeof logline, NULL),
              "%s: Dovecot logged our login (client port %d)", name, lport)) {
        note("%s: dovecot: %s", name, logline);
        CHECK(strstr(logline, ", TLS,") != NULL, "%s: Dovecot says the login came over STARTTLS (TLS)", name);
        field_after(logline, "tls=[", "]", tls, sizeof tls);
        field_after(tls, "", " ", version, sizeof version);
        field_after(tls, "with cipher ", " ", cipher, sizeof cipher);
        check_info_vs_server(&ci, version, cipher, NULL, "Dovecot login log", name);
    }

    free(msg);
    free(back);
    free(leaf);
    CHECK(WSACleanup() == 0, "%s: WSACleanup", name);
    return finish();
}
