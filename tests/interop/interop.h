/*
 * interop.h - helpers shared by the interoperability clients of tests/interop/ (docs/interop.md).
 *
 * Built on c-tests/common.h (same output convention: "ok - " / "not ok - " lines, '#' notes,
 * finish() gives the exit code). Static functions only, so that a client using a subset compiles
 * under -Wall -Werror.
 *
 * What is here:
 *   - argument lookup ("--name value"),
 *   - the secure-socket set-up every client repeats (SO_SECURE, hook, defer flag, protocols),
 *   - SSLCONNECTIONINFO in words, and its comparison with what a server logged or answered
 *     ("TLSv1.3", "TLS_AES_256_GCM_SHA384", "ECDHE_X25519__..._AES_256_GCM:256", "AES-256-GCM", ...),
 *   - polling a server's log file for the line about our own connection,
 *   - the orderly close: shutdown(SD_SEND), recv until 0, closesocket.
 */
#ifndef SSLSOCK_INTEROP_H
#define SSLSOCK_INTEROP_H

#include "common.h"

#include <ctype.h>
#include <errno.h>

/* ------------------------------------------------------------------ */
/* arguments                                                           */

/* The value following "--name" in argv, or def. */
static inline const char *arg_str(int argc, char **argv, const char *name, const char *def)
{
    int i;
    for (i = 1; i + 1 < argc; i++)
        if (argv[i][0] == '-' && argv[i][1] == '-' && strcmp(argv[i] + 2, name) == 0)
            return argv[i + 1];
    return def;
}

static inline int arg_int(int argc, char **argv, const char *name, int def)
{
    const char *v = arg_str(argc, argv, name, NULL);
    return v ? atoi(v) : def;
}

/* A required "--name value"; exits with a failed check when missing. */
static inline const char *arg_need(int argc, char **argv, const char *name)
{
    const char *v = arg_str(argc, argv, name, NULL);
    if (!v || !*v) {
        CHECK(0, "argument --%s given", name);
        exit(finish());
    }
    return v;
}

/* ------------------------------------------------------------------ */
/* sockets                                                             */

static inline int local_port(SOCKET s)
{
    SOCKADDR_IN sa;
    socklen_t len = sizeof sa;
    if (getsockname(s, (SOCKADDR *)&sa, &len) != 0)
        return -1;
    return ntohs(sa.sin_port);
}

/* SET_PROTOCOLS with one entry (SSL_PROTOCOL_TLS1, SSLSOCK_PROTOCOL_TLS1_2 or _TLS1_3). */
static inline int set_one_protocol(SOCKET s, DWORD proto)
{
    SSLPROTOCOLS p;
    memset(&p, 0, sizeof p);
    p.dwCount = 1;
    p.ProtocolList[0].dwProtocol = proto;
    return WSAIoctl(s, SO_SSL_SET_PROTOCOLS, &p, sizeof p, NULL, 0, NULL, NULL, NULL);
}

/* "12" / "13" / anything else (both) -> the SSLPROTOCOL value. */
static inline DWORD protocol_arg(const char *v)
{
    if (v && strcmp(v, "12") == 0)
        return SSLSOCK_PROTOCOL_TLS1_2;
    if (v && strcmp(v, "13") == 0)
        return SSLSOCK_PROTOCOL_TLS1_3;
    return SSL_PROTOCOL_TLS1;
}

/* socket + SO_SECURE + (hook) + (SSL_FLAG_DEFER_HANDSHAKE) + (SET_PROTOCOLS), each a check.
 * Returns the socket, or INVALID_SOCKET after a failed check. */
static inline SOCKET secure_socket(const char *what, int deferred, struct hook_record *hook,
                                   DWORD protocol)
{
    SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    if (!CHECK(s != INVALID_SOCKET, "%s: socket()", what))
        return INVALID_SOCKET;
    if (!CHECK(make_secure(s) == 0, "%s: setsockopt(SO_SECURE, SO_SEC_SSL)", what))
        return INVALID_SOCKET;
    if (hook && !CHECK(set_hook(s, record_hook, hook) == 0, "%s: SO_SSL_SET_VALIDATE_CERT_HOOK", what))
        return INVALID_SOCKET;
    if (deferred) {
        DWORD flags = SSL_FLAG_DEFER_HANDSHAKE;
        if (!CHECK(WSAIoctl(s, SO_SSL_SET_FLAGS, &flags, sizeof flags, NULL, 0, NULL, NULL, NULL) == 0,
                   "%s: SO_SSL_SET_FLAGS(SSL_FLAG_DEFER_HANDSHAKE)", what))
            return INVALID_SOCKET;
    }
    if (protocol != SSL_PROTOCOL_TLS1 &&
        !CHECK(set_one_protocol(s, protocol) == 0, "%s: SO_SSL_SET_PROTOCOLS(0x%x)", what,
               (unsigned)protocol))
        return INVALID_SOCKET;
    return s;
}

static inline int connect_port(SOCKET s, int port)
{
    SOCKADDR_IN sa;
    int len = connect_addr(&sa, port);
    return connect(s, (SOCKADDR *)&sa, len);
}

/* SO_SSL_PERFORM_HANDSHAKE with the name as (name, strlen+1), the usual CE call. */
static inline int perform_handshake(SOCKET s, const char *name)
{
    DWORD cb = 0;
    return WSAIoctl(s, SO_SSL_PERFORM_HANDSHAKE, (LPVOID)name, (DWORD)strlen(name) + 1, NULL, 0, &cb,
                    NULL, NULL);
}

/* The orderly close every case ends with: shutdown(SD_SEND) sends our close_notify, recv drains
 * what the server still sends until it returns 0 (the server's close_notify, or its TCP close on a
 * record boundary), closesocket. `already_eof` when the caller already saw recv return 0: the
 * server ended the session (QUIT, LOGOUT); the shutdown then comes 100 ms later, once the server
 * has surely finished closing its socket, so that the outcome does not depend on that race (as
 * with any client slower than loopback). */
static inline int orderly_close(SOCKET s, const char *what, int already_eof)
{
    int ok = 1, r = 0;
    long extra = 0;
    char buf[4096];
    if (already_eof)
        usleep(100 * 1000);
    ok &= CHECK(shutdown(s, SD_SEND) == 0, "%s: shutdown(SD_SEND) returns 0 (close_notify sent)", what);
    if (!already_eof) {
        for (;;) {
            r = (int)recv(s, buf, sizeof buf, 0);
            if (r <= 0)
                break;
            extra += r;
        }
        ok &= CHECK(r == 0, "%s: recv returns 0 at the server's end of stream (got %d, %ld bytes before)",
                    what, r, extra);
    }
    ok &= CHECK(closesocket(s) == 0, "%s: closesocket returns 0", what);
    return ok;
}

/* ------------------------------------------------------------------ */
/* connection info against the server's view                           */

static inline int get_conn_info(SOCKET s, SSLCONNECTIONINFO *ci, const char *what)
{
    DWORD cb = 0;
    memset(ci, 0, sizeof *ci);
    if (!CHECK(WSAIoctl(s, SO_SSL_GET_CONNECTION_INFO, NULL, 0, ci, sizeof *ci, &cb, NULL, NULL) == 0,
               "%s: SO_SSL_GET_CONNECTION_INFO returns 0", what))
        return 0;
    CHECK(cb == sizeof *ci, "%s: GET_CONNECTION_INFO returns %u bytes (got %u)", what,
          (unsigned)sizeof *ci, (unsigned)cb);
    note("%s: connection info: protocol 0x%x, cipher 0x%x/%u, hash 0x%x/%u, exchange 0x%x/%u", what,
         (unsigned)ci->dwProtocol, (unsigned)ci->aiCipher, (unsigned)ci->dwCipherStrength,
         (unsigned)ci->aiHash, (unsigned)ci->dwHashStrength, (unsigned)ci->aiExch,
         (unsigned)ci->dwExchStrength);
    return check_conn_info(ci, what);
}

/* Uppercase copy with '-', '.', ' ' and 'V' after "TLS" folded away for comparisons. */
static inline void upper_copy(char *out, size_t cap, const char *in)
{
    size_t n = 0;
    for (; *in && n + 1 < cap; in++)
        out[n++] = (char)(*in == '-' ? '_' : toupper((unsigned char)*in));
    out[n] = 0;
}

/* "TLSv1.3", "TLS1.3", "TLSV1_3" -> SSL_PROT_TLS1_3_CLIENT; 1.2 likewise; 0 when unknown. */
static inline DWORD server_protocol(const char *v)
{
    char u[64], d[64];
    size_t i, n = 0;
    upper_copy(u, sizeof u, v);
    for (i = 0; u[i] && n + 1 < sizeof d; i++)
        if (isalnum((unsigned char)u[i]) && !(u[i] == 'V' && i == 3))
            d[n++] = u[i];
    d[n] = 0;
    if (strstr(d, "TLS13"))
        return SSL_PROT_TLS1_3_CLIENT;
    if (strstr(d, "TLS12"))
        return SSL_PROT_TLS1_2_CLIENT;
    return 0;
}

/* The bulk cipher a server's suite/cipher name stands for (OpenSSL, IANA or GnuTLS spelling). */
static inline ALG_ID server_cipher(const char *c, DWORD *bits)
{
    char u[256];
    upper_copy(u, sizeof u, c);
    if (strstr(u, "AES_256_GCM") || strstr(u, "AES256_GCM")) {
        *bits = 256;
        return CALG_AES_256;
    }
    if (strstr(u, "AES_128_GCM") || strstr(u, "AES128_GCM")) {
        *bits = 128;
        return CALG_AES_128;
    }
    if (strstr(u, "CHACHA20")) {
        *bits = 256;
        return SSLSOCK_CALG_CHACHA20_POLY1305;
    }
    *bits = 0;
    return 0;
}

/* The suite's hash: the SHA-n ending an OpenSSL/IANA name; for GnuTLS-style names (the cipher
 * alone, or Exim's "KX__SIG__CIPHER:bits") it follows from the cipher: SHA-384 with AES-256-GCM,
 * SHA-256 with the others (true of every TLS 1.3 suite and of the ECDHE GCM/ChaCha TLS 1.2 ones). */
static inline ALG_ID server_hash(const char *c, DWORD *bits)
{
    char u[256];
    const char *tail, *p;
    DWORD cbits;
    upper_copy(u, sizeof u, c);
    tail = u;
    for (p = u; (p = strstr(p, "__")) != NULL; p += 2)
        tail = p + 2;
    if (strstr(tail, "SHA384") && (p = strstr(tail, "SHA384")) && p[6] == 0) {
        *bits = 384;
        return CALG_SHA_384;
    }
    if (strstr(tail, "SHA256") && (p = strstr(tail, "SHA256")) && p[6] == 0) {
        *bits = 256;
        return CALG_SHA_256;
    }
    if (server_cipher(c, &cbits) == CALG_AES_256) {
        *bits = 384;
        return CALG_SHA_384;
    }
    if (server_cipher(c, &cbits) != 0) {
        *bits = 256;
        return CALG_SHA_256;
    }
    *bits = 0;
    return 0;
}

/* A group name ("X25519", "secp384r1", "P-256", "prime256v1", "ffdhe2048") -> exchange and bits. */
static inline ALG_ID server_group(const char *g, DWORD *bits)
{
    char u[64];
    upper_copy(u, sizeof u, g);
    *bits = 0;
    if (strstr(u, "X25519")) { *bits = 255; return CALG_ECDH_EPHEM; }
    if (strstr(u, "256R1") || strstr(u, "256V1") || strstr(u, "P_256")) { *bits = 256; return CALG_ECDH_EPHEM; }
    if (strstr(u, "384R1") || strstr(u, "P_384")) { *bits = 384; return CALG_ECDH_EPHEM; }
    if (strstr(u, "521R1") || strstr(u, "P_521")) { *bits = 521; return CALG_ECDH_EPHEM; }
    if (strncmp(u, "FFDHE", 5) == 0) { *bits = (DWORD)atoi(u + 5); return CALG_DH_EPHEM; }
    return 0;
}

/* Checks ci against the server's own words: version and suite/cipher (required), group (NULL
 * when the server does not say). `source` says where the words come from, for the output. */
static inline int check_info_vs_server(const SSLCONNECTIONINFO *ci, const char *version,
                                       const char *cipher, const char *group, const char *source,
                                       const char *what)
{
    int ok = 1;
    DWORD want_proto = server_protocol(version ? version : "");
    DWORD cbits = 0, hbits = 0, gbits = 0;
    ALG_ID c = server_cipher(cipher ? cipher : "", &cbits);
    ALG_ID h = server_hash(cipher ? cipher : "", &hbits);

    note("%s: the server (%s) says: version '%s', cipher '%s'%s%s", what, source,
         version ? version : "?", cipher ? cipher : "?", group ? ", group " : "", group ? group : "");
    ok &= CHECK(want_proto != 0 && ci->dwProtocol == want_proto,
                "%s: dwProtocol 0x%x matches the server's '%s' (%s)", what, (unsigned)ci->dwProtocol,
                version ? version : "?", source);
    ok &= CHECK(c != 0 && ci->aiCipher == c && ci->dwCipherStrength == cbits,
                "%s: aiCipher 0x%x/%u matches the server's '%s' (%s)", what, (unsigned)ci->aiCipher,
                (unsigned)ci->dwCipherStrength, cipher ? cipher : "?", source);
    ok &= CHECK(h != 0 && ci->aiHash == h && ci->dwHashStrength == hbits,
                "%s: aiHash 0x%x/%u matches the server's suite '%s' (%s)", what, (unsigned)ci->aiHash,
                (unsigned)ci->dwHashStrength, cipher ? cipher : "?", source);
    if (group) {
        ALG_ID g = server_group(group, &gbits);
        ok &= CHECK(g != 0 && ci->aiExch == g && ci->dwExchStrength == gbits,
                    "%s: aiExch 0x%x/%u matches the server's group '%s' (%s)", what,
                    (unsigned)ci->aiExch, (unsigned)ci->dwExchStrength, group, source);
    }
    return ok;
}

/* ------------------------------------------------------------------ */
/* server logs                                                         */

/* Copies into out the first line of the file at or after byte `from` that contains `needle`
 * (and `needle2`, when not NULL), waiting up to `wait_ms` for it to appear. *at gets the
 * offset just past that line. 1 when found. */
static inline int log_find(const char *path, long from, const char *needle, const char *needle2,
                           int wait_ms, char *out, size_t cap, long *at)
{
    long long deadline = now_ms() + wait_ms;
    for (;;) {
        size_t len = 0;
        unsigned char *text = read_file(path, &len);
        if (text && (size_t)from < len) {
            char *p = (char *)text + from;
            while (*p) {
                char *eol = strchr(p, '\n');
                size_t n = eol ? (size_t)(eol - p) : strlen(p);
                char save = p[n];
                p[n] = 0;
                if (strstr(p, needle) && (!needle2 || strstr(p, needle2))) {
                    snprintf(out, cap, "%s", p);
                    if (at)
                        *at = (long)((p - (char *)text) + n + (eol ? 1 : 0));
                    free(text);
                    return 1;
                }
                p[n] = save;
                if (!eol)
                    break;
                p = eol + 1;
            }
        }
        free(text);
        if (now_ms() >= deadline)
            return 0;
        usleep(50 * 1000);
    }
}

/* The text following `key` in line, up to the first character of `stops` (or the end), into out. */
static inline int field_after(const char *line, const char *key, const char *stops, char *out, size_t cap)
{
    const char *p = strstr(line, key);
    size_t n;
    if (!p) {
        if (cap) out[0] = 0;
        return 0;
    }
    p += strlen(key);
    n = strcspn(p, stops);
    if (n >= cap)
        n = cap - 1;
    memcpy(out, p, n);
    out[n] = 0;
    return 1;
}

/* ------------------------------------------------------------------ */
/* small I/O helpers                                                   */

static inline int sendf(SOCKET s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline int sendf(SOCKET s, const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return send_str(s, buf);
}

/* 1 when `needle` occurs in `hay`, ignoring case. */
static inline int contains_nocase(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return 1;
    return n == 0;
}

/* SHA-256 of a buffer in hex. */
static inline void sha256_of(const void *data, size_t len, char out[65])
{
    struct sha256 c;
    sha256_init(&c);
    sha256_update(&c, data, len);
    sha256_hex(&c, out);
}

#endif /* SSLSOCK_INTEROP_H */
