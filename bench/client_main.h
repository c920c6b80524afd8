/*
 * client_main.h - the workloads of the C benchmark clients (bench/sslsock_client.c,
 * bench/openssl_client.c), shared so that both clients have exactly the same shape; only the TLS
 * layer differs. examples/bench_rustls_client.rs does the same in Rust.
 *
 * The including file defines the transport (a connection is a `struct conn *`):
 *
 *   static const char *T_NAME;                      name in messages
 *   static int  t_init(const struct peer *p);       once per process; 0 = ok
 *   static struct conn *t_open(const struct peer *p, int resume);
 *                                                    TCP connect + full TLS handshake; NULL on failure
 *                                                    (reason on stderr). resume 0: this connection
 *                                                    neither resumes nor stores a session
 *   static int  t_send(struct conn *c, const void *buf, size_t len);   all of it: 0, or -1
 *   static long t_recv(struct conn *c, void *buf, size_t len);         >0, 0 at the end, -1
 *   static void t_close(struct conn *c);            close_notify (best effort) and close
 *   static void t_info(struct conn *c, char *out, size_t n);           what was negotiated
 *   static int  t_resumed(struct conn *c);          1/0, or -1 when the API cannot tell
 *
 * `--plain` replaces it by plain libc sockets (the "plain TCP" column: run from the OpenSSL client,
 * which does not link sslsock).
 *
 *   CLIENT --port P [--host 127.0.0.1] [--name localhost] [--ca ca.pem] [--plain] [--nodelay]
 *          WORKLOAD ARGS...
 *
 *   download BYTES CHUNK       request BYTES from the server (op D), recv() them in CHUNK-byte calls
 *   upload BYTES CHUNK         send() BYTES in CHUNK-byte calls (op U), wait for the 1-byte reply
 *   pingpong COUNT             COUNT round trips of 1 byte (op E) after 10 untimed ones
 *   handshake SECONDS MODE     MODE full|resume: connect, handshake, read to the server's
 *                              close_notify, close; again and again for SECONDS (after one untimed
 *                              connection that primes the session cache)
 *   many COUNT                 open COUNT secure sockets (handshake + request E + 1-byte round trip
 *                              each) and keep them all open; the RSS growth over them
 *                              (/proc/self/statm) is reported; then one more round trip on every
 *                              one of them, then close them all
 *   soak COUNT                 COUNT cycles of connect (handshake, resumption allowed), a 1-byte
 *                              round trip (op E), close; reports the RSS after the first tenth
 *                              (warm-up: caches filled) and at the end, and the number of open
 *                              descriptors before and after: nothing may grow
 *   www PATH CHUNK SECONDS MODE
 *                              against `openssl s_server -WWW` (one server for both C clients):
 *                              MODE full|resume; for SECONDS: connect (handshake), send
 *                              "GET /PATH HTTP/1.0", recv() to the end in CHUNK-byte calls, close;
 *                              reports connections, bytes, and the CPU of the timed part (one
 *                              untimed connection first). A big file measures the download, a
 *                              tiny one the handshake.
 *   threads N BYTES CHUNK      N threads, each on its own socket, download BYTES/N in CHUNK calls;
 *                              timed from the moment all N are connected (each sends its request
 *                              then)
 *
 * Output: `INFO ...` (what the first connection negotiated) and `RESULT key=value ...` with
 * wall= and cpu= (seconds of wall-clock and of the process's user+system CPU over the timed part).
 * Exit status 0 on success.
 */
#ifndef BENCH_CLIENT_MAIN_H
#define BENCH_CLIENT_MAIN_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct peer {
    struct sockaddr_in addr;
    const char *name;
    const char *ca;
    int plain;
    int nodelay;
};

struct conn;

static const char *T_NAME;
static int t_init(const struct peer *p);
static struct conn *t_open(const struct peer *p, int resume);
static int t_send(struct conn *c, const void *buf, size_t len);
static long t_recv(struct conn *c, void *buf, size_t len);
static void t_close(struct conn *c);
static void t_info(struct conn *c, char *out, size_t n);
static int t_resumed(struct conn *c);

/* ---- plain libc sockets (--plain) ---- */

struct plain_conn {
    int fd;
};

/* A connected TCP socket to the peer (TCP_NODELAY with --nodelay), or -1 (reason on stderr). Also
 * the OpenSSL client's transport below its TLS. */
static int tcp_connect(const struct peer *p)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        perror("socket");
        return -1;
    }
    if (p->nodelay) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    if (connect(fd, (const struct sockaddr *)&p->addr, sizeof p->addr) != 0) {
        perror("connect");
        close(fd);
        return -1;
    }
    return fd;
}

static struct conn *p_open(const struct peer *p)
{
    int fd = tcp_connect(p);
    if (fd < 0)
        return NULL;
    struct plain_conn *c = malloc(sizeof *c);
    c->fd = fd;
    return (struct conn *)c;
}

static int p_send(struct conn *cc, const void *buf, size_t len)
{
    struct plain_conn *c = (struct plain_conn *)cc;
    const char *b = buf;
    while (len > 0) {
        ssize_t n = send(c->fd, b, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("send");
            return -1;
        }
        b += n;
        len -= (size_t)n;
    }
    return 0;
}

static long p_recv(struct conn *cc, void *buf, size_t len)
{
    struct plain_conn *c = (struct plain_conn *)cc;
    for (;;) {
        ssize_t n = recv(c->fd, buf, len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            perror("recv");
        return (long)n;
    }
}

static void p_close(struct conn *cc)
{
    struct plain_conn *c = (struct plain_conn *)cc;
    close(c->fd);
    free(c);
}

static int g_plain;

static struct conn *c_open(const struct peer *p, int resume)
{
    return g_plain ? p_open(p) : t_open(p, resume);
}
static int c_send(struct conn *c, const void *b, size_t n)
{
    return g_plain ? p_send(c, b, n) : t_send(c, b, n);
}
static long c_recv(struct conn *c, void *b, size_t n)
{
    return g_plain ? p_recv(c, b, n) : t_recv(c, b, n);
}
static void c_close(struct conn *c)
{
    if (g_plain)
        p_close(c);
    else
        t_close(c);
}
static void c_info(struct conn *c)
{
    char info[256] = "proto=plain";
    if (!g_plain)
        t_info(c, info, sizeof info);
    printf("INFO %s\n", info);
    fflush(stdout);
}

/* ---- helpers ---- */

static void die(const char *what)
{
    fprintf(stderr, "%s: %s\n", T_NAME, what);
    exit(1);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static double rss_kib(void)
{
    long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &size, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return (double)resident * (double)sysconf(_SC_PAGESIZE) / 1024.0;
}

static void raise_nofile(void)
{
    struct rlimit r;
    if (getrlimit(RLIMIT_NOFILE, &r) == 0) {
        r.rlim_cur = r.rlim_max;
        setrlimit(RLIMIT_NOFILE, &r);
    }
}

static int request(struct conn *c, char op, uint64_t n)
{
    unsigned char req[9];
    req[0] = (unsigned char)op;
    for (int i = 0; i < 8; i++)
        req[1 + i] = (unsigned char)(n >> (8 * i));
    return c_send(c, req, sizeof req);
}

static int recv_exact(struct conn *c, void *buf, size_t len)
{
    char *b = buf;
    while (len > 0) {
        long n = c_recv(c, b, len);
        if (n <= 0)
            return -1;
        b += n;
        len -= (size_t)n;
    }
    return 0;
}

static uint64_t num(const char *s, const char *what)
{
    char *end;
    if (!s)
        die(what);
    unsigned long long v = strtoull(s, &end, 10);
    if (*end)
        die(what);
    return v;
}

/* ---- workloads ---- */

static void w_bulk(const struct peer *p, int download, uint64_t bytes, size_t chunk)
{
    struct conn *c = c_open(p, 1);
    if (!c)
        die("connect failed");
    c_info(c);
    char *buf = calloc(1, chunk);
    if (request(c, download ? 'D' : 'U', bytes) != 0)
        die("request failed");
    double c0 = cpu_s(), t0 = now_s();
    uint64_t done = 0;
    if (download) {
        while (done < bytes) {
            size_t want = bytes - done < chunk ? (size_t)(bytes - done) : chunk;
            long n = c_recv(c, buf, want);
            if (n <= 0)
                die("download: recv failed or early end of stream");
            done += (uint64_t)n;
        }
    } else {
        while (done < bytes) {
            size_t n = bytes - done < chunk ? (size_t)(bytes - done) : chunk;
            if (c_send(c, buf, n) != 0)
                die("upload: send failed");
            done += n;
        }
        char k;
        if (recv_exact(c, &k, 1) != 0)
            die("upload: no reply");
    }
    double wall = now_s() - t0, cpu = cpu_s() - c0;
    c_close(c);
    free(buf);
    printf("RESULT wall=%.6f cpu=%.6f bytes=%llu\n", wall, cpu, (unsigned long long)done);
}

static void w_pingpong(const struct peer *p, uint64_t count)
{
    struct conn *c = c_open(p, 1);
    if (!c)
        die("connect failed");
    c_info(c);
    char b = 'x';
    if (request(c, 'E', 0) != 0)
        die("request failed");
    for (int i = 0; i < 10; i++)
        if (c_send(c, &b, 1) != 0 || recv_exact(c, &b, 1) != 0)
            die("ping-pong failed");
    double c0 = cpu_s(), t0 = now_s();
    for (uint64_t i = 0; i < count; i++)
        if (c_send(c, &b, 1) != 0 || recv_exact(c, &b, 1) != 0)
            die("ping-pong failed");
    double wall = now_s() - t0, cpu = cpu_s() - c0;
    c_close(c);
    printf("RESULT wall=%.6f cpu=%.6f n=%llu\n", wall, cpu, (unsigned long long)count);
}

/* One connection of the handshake loop: 1 if it resumed, 0 if not, -1 if the API cannot tell. */
static int handshake_once(const struct peer *p, int resume)
{
    char buf[64];
    struct conn *c = c_open(p, resume);
    if (!c)
        die("handshake: connect failed");
    for (;;) {
        long n = c_recv(c, buf, sizeof buf);
        if (n == 0)
            break;
        if (n < 0)
            die("handshake: recv failed before the server's close_notify");
    }
    int r = g_plain ? 0 : t_resumed(c);
    c_close(c);
    return r;
}

static void w_handshake(const struct peer *p, double seconds, int resume)
{
    struct conn *c = c_open(p, resume);
    if (!c)
        die("connect failed");
    c_info(c);
    char buf[64];
    while (c_recv(c, buf, sizeof buf) > 0) {
    }
    c_close(c);
    handshake_once(p, resume); /* primes the session cache */
    uint64_t n = 0;
    long resumed = 0;
    double c0 = cpu_s(), t0 = now_s();
    while (now_s() - t0 < seconds) {
        int r = handshake_once(p, resume);
        resumed = (r < 0 || resumed < 0) ? -1 : resumed + r;
        n++;
    }
    double wall = now_s() - t0, cpu = cpu_s() - c0;
    printf("RESULT wall=%.6f cpu=%.6f n=%llu resumed=%ld\n", wall, cpu, (unsigned long long)n,
           resumed);
}

static int ping(struct conn *c, char b)
{
    return c_send(c, &b, 1) == 0 && recv_exact(c, &b, 1) == 0 ? 0 : -1;
}

static void w_many(const struct peer *p, size_t count)
{
    raise_nofile();
    struct conn *first = c_open(p, 1);
    if (!first || request(first, 'E', 0) != 0 || ping(first, 'x') != 0)
        die("connect failed");
    c_info(first);
    c_close(first);
    struct conn **conns = calloc(count, sizeof *conns);
    double rss0 = rss_kib();
    double c0 = cpu_s(), t0 = now_s();
    size_t opened = 0;
    for (; opened < count; opened++) {
        struct conn *c = c_open(p, 1);
        if (!c)
            break;
        if (request(c, 'E', 0) != 0 || ping(c, 'x') != 0) {
            c_close(c);
            break;
        }
        conns[opened] = c;
    }
    if (opened < count)
        fprintf(stderr, "%s: many: connection %zu of %zu failed\n", T_NAME, opened + 1, count);
    double rss1 = rss_kib();
    size_t ok = 0;
    for (size_t i = 0; i < opened; i++)
        if (ping(conns[i], 'y') == 0)
            ok++;
    double wall = now_s() - t0, cpu = cpu_s() - c0;
    for (size_t i = 0; i < opened; i++)
        c_close(conns[i]);
    free(conns);
    printf("RESULT wall=%.6f cpu=%.6f n=%zu opened=%zu ok=%zu rss_kib=%.1f kib_per_socket=%.3f\n",
           wall, cpu, count, opened, ok, rss1 - rss0, (rss1 - rss0) / (double)(opened ? opened : 1));
}

static int open_fds(void)
{
    int n = 0;
    char path[64];
    for (int fd = 0; fd < 65536; fd++) {
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        if (access(path, F_OK) == 0)
            n++;
    }
    return n;
}

static void w_soak(const struct peer *p, uint64_t count)
{
    int fds0 = open_fds();
    double rss_warm = 0, c0 = cpu_s(), t0 = now_s();
    uint64_t warm = count / 10;
    for (uint64_t i = 0; i < count; i++) {
        struct conn *c = c_open(p, 1);
        if (!c || request(c, 'E', 0) != 0 || ping(c, 'x') != 0) {
            fprintf(stderr, "%s: soak: cycle %llu failed\n", T_NAME, (unsigned long long)i);
            exit(1);
        }
        if (i == 0)
            c_info(c);
        c_close(c);
        if (i + 1 == warm)
            rss_warm = rss_kib();
    }
    double wall = now_s() - t0, cpu = cpu_s() - c0, rss_end = rss_kib();
    int fds1 = open_fds();
    printf("RESULT wall=%.6f cpu=%.6f n=%llu rss_warm_kib=%.0f rss_end_kib=%.0f growth_kib=%.0f "
           "fds_before=%d fds_after=%d\n",
           wall, cpu, (unsigned long long)count, rss_warm, rss_end, rss_end - rss_warm, fds0, fds1);
}

struct thread_job {
    struct conn *c;
    uint64_t bytes;
    size_t chunk;
    pthread_barrier_t *barrier;
    int failed;
    double start, end;
};

static void *thread_download(void *arg)
{
    struct thread_job *j = arg;
    char *buf = malloc(j->chunk);
    pthread_barrier_wait(j->barrier);
    j->start = now_s();
    if (request(j->c, 'D', j->bytes) != 0)
        j->failed = 1;
    uint64_t done = 0;
    while (!j->failed && done < j->bytes) {
        size_t want = j->bytes - done < j->chunk ? (size_t)(j->bytes - done) : j->chunk;
        long n = c_recv(j->c, buf, want);
        if (n <= 0)
            j->failed = 1;
        else
            done += (uint64_t)n;
    }
    j->end = now_s();
    c_close(j->c);
    free(buf);
    return NULL;
}

/* One GET against `openssl s_server -WWW`: the bytes received (headers included), -1 on failure. */
static long long www_once(const struct peer *p, int resume, const char *path, char *buf, size_t chunk)
{
    char req[512];
    long long got = 0;
    struct conn *c = c_open(p, resume);
    if (!c)
        return -1;
    snprintf(req, sizeof req, "GET /%s HTTP/1.0\r\n\r\n", path);
    if (c_send(c, req, strlen(req)) != 0) {
        c_close(c);
        return -1;
    }
    for (;;) {
        long n = c_recv(c, buf, chunk);
        if (n <= 0) /* s_server ends with close_notify (0); an error after data counts as the end */
            break;
        got += n;
    }
    c_close(c);
    return got;
}

static void w_www(const struct peer *p, const char *path, size_t chunk, double seconds, int resume)
{
    char *buf = malloc(chunk);
    if (!buf || www_once(p, resume, path, buf, chunk) <= 0)
        die("www: the first GET failed");
    double c0 = cpu_s(), t0 = now_s(), wall;
    long long bytes = 0, n = 0;
    do {
        long long got = www_once(p, resume, path, buf, chunk);
        if (got <= 0)
            die("www: a GET failed");
        bytes += got;
        n++;
        wall = now_s() - t0;
    } while (wall < seconds);
    double cpu = cpu_s() - c0;
    free(buf);
    printf("RESULT wall=%.6f cpu=%.6f n=%lld bytes=%lld\n", wall, cpu, n, bytes);
}

static void w_threads(const struct peer *p, int nthreads, uint64_t bytes, size_t chunk)
{
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, (unsigned)nthreads + 1);
    struct thread_job *jobs = calloc((size_t)nthreads, sizeof *jobs);
    pthread_t *tids = calloc((size_t)nthreads, sizeof *tids);
    for (int i = 0; i < nthreads; i++) {
        jobs[i].c = c_open(p, 1);
        if (!jobs[i].c)
            die("connect failed");
        jobs[i].bytes = bytes / (uint64_t)nthreads;
        jobs[i].chunk = chunk;
        jobs[i].barrier = &barrier;
    }
    c_info(jobs[0].c);
    for (int i = 0; i < nthreads; i++)
        if (pthread_create(&tids[i], NULL, thread_download, &jobs[i]) != 0)
            die("pthread_create failed");
    /* The wall time is from the first thread's start to the last one's end (with 64 threads on 2
     * CPUs the main thread may run late: its clock would miss part of the transfer). */
    double c0 = cpu_s();
    pthread_barrier_wait(&barrier);
    uint64_t total = 0;
    int failed = 0;
    double first = 0, last = 0;
    for (int i = 0; i < nthreads; i++) {
        pthread_join(tids[i], NULL);
        failed |= jobs[i].failed;
        total += jobs[i].bytes;
        if (i == 0 || jobs[i].start < first)
            first = jobs[i].start;
        if (jobs[i].end > last)
            last = jobs[i].end;
    }
    double wall = last - first, cpu = cpu_s() - c0;
    if (failed)
        die("threads: a download failed");
    printf("RESULT wall=%.6f cpu=%.6f bytes=%llu threads=%d\n", wall, cpu,
           (unsigned long long)total, nthreads);
}

int main(int argc, char **argv)
{
    struct peer p;
    memset(&p, 0, sizeof p);
    const char *host = "127.0.0.1";
    int port = -1, i = 1;
    p.name = "localhost";
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (!strcmp(argv[i], "--plain"))
            p.plain = 1;
        else if (!strcmp(argv[i], "--nodelay"))
            p.nodelay = 1;
        else if (i + 1 < argc && !strcmp(argv[i], "--port"))
            port = (int)num(argv[++i], "--port needs a number");
        else if (i + 1 < argc && !strcmp(argv[i], "--host"))
            host = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--name"))
            p.name = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--ca"))
            p.ca = argv[++i];
        else
            die("unknown option (see bench/client_main.h)");
    }
    if (port < 0 || i >= argc)
        die("usage: CLIENT --port P [--ca FILE] [--plain] WORKLOAD ARGS (see bench/client_main.h)");
    p.addr.sin_family = AF_INET;
    p.addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &p.addr.sin_addr) != 1)
        die("bad --host");
    g_plain = p.plain;
    if (!g_plain && t_init(&p) != 0)
        die("TLS initialisation failed");
    const char *w = argv[i];
    char **a = argv + i + 1;
    int na = argc - i - 1;
    if (!strcmp(w, "download") && na == 2)
        w_bulk(&p, 1, num(a[0], "BYTES"), (size_t)num(a[1], "CHUNK"));
    else if (!strcmp(w, "upload") && na == 2)
        w_bulk(&p, 0, num(a[0], "BYTES"), (size_t)num(a[1], "CHUNK"));
    else if (!strcmp(w, "pingpong") && na == 1)
        w_pingpong(&p, num(a[0], "COUNT"));
    else if (!strcmp(w, "handshake") && na == 2)
        w_handshake(&p, atof(a[0]), !strcmp(a[1], "resume"));
    else if (!strcmp(w, "many") && na == 1)
        w_many(&p, (size_t)num(a[0], "COUNT"));
    else if (!strcmp(w, "soak") && na == 1)
        w_soak(&p, num(a[0], "COUNT"));
    else if (!strcmp(w, "www") && na == 4)
        w_www(&p, a[0], (size_t)num(a[1], "CHUNK"), atof(a[2]), !strcmp(a[3], "resume"));
    else if (!strcmp(w, "threads") && na == 3)
        w_threads(&p, (int)num(a[0], "N"), num(a[1], "BYTES"), (size_t)num(a[2], "CHUNK"));
    else
        die("unknown workload or wrong arguments (see bench/client_main.h)");
    fflush(stdout);
    return 0;
}

#endif
