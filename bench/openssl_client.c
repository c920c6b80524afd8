/*
 * openssl_client.c - the benchmark client written directly on OpenSSL (libssl of the distribution).
 *
 * The workloads are bench/client_main.h's (identical in bench/sslsock_client.c); this file is the
 * transport as a port that rewrote its TLS on OpenSSL would write it: one SSL_CTX (TLS 1.2 and 1.3,
 * the default cipher list and groups, trust anchors from --ca, SSL_VERIFY_PEER and the host name
 * checked), one SSL per blocking socket, SSL_connect / SSL_write / SSL_read / SSL_shutdown.
 * Resumption the OpenSSL way: the last session of the process (SSL_get1_session after the
 * connection, SSL_set_session on the next one) when the workload asks for it.
 * `--plain` gives the plain-TCP baseline (libc sockets; this program does not link sslsock).
 *
 *   cc -O2 -std=c99 -D_DEFAULT_SOURCE bench/openssl_client.c -lssl -lcrypto -lpthread -o openssl_client
 *   ./openssl_client --port P --ca ca.pem WORKLOAD ARGS...     (see bench/client_main.h)
 */
#define _GNU_SOURCE
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "client_main.h"

static const char *T_NAME = "openssl_client";

static SSL_CTX *g_ctx;
static SSL_SESSION *g_session;
static pthread_mutex_t g_session_lock = PTHREAD_MUTEX_INITIALIZER;

struct conn {
    int fd;
    SSL *ssl;
    int resume;
};

static int t_init(const struct peer *p)
{
    g_ctx = SSL_CTX_new(TLS_client_method());
    if (!g_ctx)
        return -1;
    SSL_CTX_set_min_proto_version(g_ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(g_ctx, SSL_VERIFY_PEER, NULL);
    if (!p->ca || SSL_CTX_load_verify_locations(g_ctx, p->ca, NULL) != 1) {
        fprintf(stderr, "%s: --ca: cannot load trust anchors\n", T_NAME);
        ERR_print_errors_fp(stderr);
        return -1;
    }
    SSL_CTX_set_session_cache_mode(g_ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    return 0;
}

static struct conn *t_open(const struct peer *p, int resume)
{
    int fd = tcp_connect(p);
    if (fd < 0)
        return NULL;
    SSL *ssl = SSL_new(g_ctx);
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, p->name);
    SSL_set1_host(ssl, p->name);
    if (resume) {
        pthread_mutex_lock(&g_session_lock);
        if (g_session)
            SSL_set_session(ssl, g_session);
        pthread_mutex_unlock(&g_session_lock);
    }
    if (SSL_connect(ssl) != 1) {
        fprintf(stderr, "%s: SSL_connect failed: ", T_NAME);
        ERR_print_errors_fp(stderr);
        fprintf(stderr, "\n");
        SSL_free(ssl);
        close(fd);
        return NULL;
    }
    struct conn *c = malloc(sizeof *c);
    c->fd = fd;
    c->ssl = ssl;
    c->resume = resume;
    return c;
}

static int t_send(struct conn *c, const void *buf, size_t len)
{
    size_t written;
    while (len > 0) {
        if (SSL_write_ex(c->ssl, buf, len, &written) != 1) {
            fprintf(stderr, "%s: SSL_write failed\n", T_NAME);
            ERR_print_errors_fp(stderr);
            return -1;
        }
        buf = (const char *)buf + written;
        len -= written;
    }
    return 0;
}

static long t_recv(struct conn *c, void *buf, size_t len)
{
    size_t got;
    if (SSL_read_ex(c->ssl, buf, len, &got) == 1)
        return (long)got;
    int e = SSL_get_error(c->ssl, 0);
    if (e == SSL_ERROR_ZERO_RETURN)
        return 0;
    fprintf(stderr, "%s: SSL_read failed (%d)\n", T_NAME, e);
    ERR_print_errors_fp(stderr);
    return -1;
}

static void t_close(struct conn *c)
{
    if (c->resume) {
        SSL_SESSION *s = SSL_get1_session(c->ssl);
        pthread_mutex_lock(&g_session_lock);
        if (g_session)
            SSL_SESSION_free(g_session);
        g_session = s;
        pthread_mutex_unlock(&g_session_lock);
    }
    SSL_shutdown(c->ssl);
    SSL_free(c->ssl);
    close(c->fd);
    free(c);
}

static void t_info(struct conn *c, char *out, size_t n)
{
    int nid = SSL_get_negotiated_group(c->ssl);
    snprintf(out, n, "proto=%s cipher=%s group=%s", SSL_get_version(c->ssl),
             SSL_get_cipher_name(c->ssl), nid > 0 ? OBJ_nid2sn(nid) : "?");
}

static int t_resumed(struct conn *c)
{
    return SSL_session_reused(c->ssl);
}
