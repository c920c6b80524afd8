/*
 * Full duplex on secure sockets: one thread sends while another receives on the same socket,
 * with no lock of the program's own around send and recv (CE's secure sockets were not full
 * duplex; sslsock's are, docs/abi.md section 3).
 *
 * Two sockets, immediate handshake against the STARTTLS server, `STREAM` (the server echoes every
 * byte). On each, 8 MiB of a seeded pseudo-random stream go out in sends of 1 B to 64 KiB (sizes
 * drawn log-uniformly) while the echo is taken with recvs of 1 B to 64 KiB, every byte and a
 * running checksum compared. Socket A: the thread that connected it sends, a new thread receives;
 * socket B (at the same time): the thread that connected it receives, a new thread sends. Small
 * SO_SNDBUF/SO_RCVBUF keep the pipe shallow, so a send that waited for a recv (or the reverse)
 * would stall the pair: the main thread reports a pair without progress for 10 s as a deadlock.
 * The receiver must have its first byte before the sender is done. The sender ends with
 * shutdown(SD_SEND) (close_notify), which the server answers: recv then returns 0.
 */
#include <winsock2.h>
#include <sslsock.h>
#include "common.h"

#define STREAM_BYTES (8u * 1024 * 1024)
#define MAX_IO 65536
#define STALL_MS 10000

/* ---- the seeded stream and the sizes ------------------------------------ */

struct rng {
    uint64_t s;
};

static uint64_t rng_next(struct rng *r)
{
    uint64_t x = r->s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* The data stream: bytes of successive rng words. */
struct stream_gen {
    struct rng r;
    uint64_t word;
    int left;
};

static void gen_init(struct stream_gen *g, uint64_t seed)
{
    g->r.s = seed ? seed : 1;
    g->left = 0;
}

static unsigned char gen_byte(struct stream_gen *g)
{
    unsigned char b;
    if (g->left == 0) {
        g->word = rng_next(&g->r);
        g->left = 8;
    }
    b = (unsigned char)g->word;
    g->word >>= 8;
    g->left--;
    return b;
}

/* 1 .. 65536, log-uniform (many small ones, some of every size class). */
static size_t io_size(struct rng *r)
{
    unsigned k = (unsigned)(rng_next(r) % 17);          /* 0..16 */
    size_t n = 1 + (size_t)(rng_next(r) % ((uint64_t)1 << k));
    return n > MAX_IO ? MAX_IO : n;
}

/* Running checksum of the stream (FNV-1a, 64 bits). */
static uint64_t fnv(uint64_t h, const unsigned char *p, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}
#define FNV_INIT 0xcbf29ce484222325ULL

/* ---- one socket's pair of threads ---------------------------------------- */

struct pair {
    const char *name;
    SOCKET s;
    uint64_t data_seed, send_size_seed, recv_size_seed;
    long long t0;                      /* both threads measure from here */
    /* sender */
    volatile size_t sent;
    int sends, partial_sends, send_fail_rc, send_fail_err;
    uint64_t send_sum;
    long long send_done_ms;            /* -1 until done */
    size_t recvd_when_send_done;
    int shutdown_rc, shutdown_err;
    /* receiver */
    volatile size_t recvd;
    int recvs, recv_fail_rc, recv_fail_err;
    size_t first_mismatch;             /* offset, or (size_t)-1 */
    uint64_t recv_sum;
    long long first_byte_ms;           /* -1 until the first byte */
    long long recv_done_ms;
    int final_rc, final_err;
    volatile int sender_finished, receiver_finished;
};

static void *sender(void *p)
{
    struct pair *pr = p;
    static __thread unsigned char buf[MAX_IO];
    struct stream_gen g;
    struct rng sizes;
    uint64_t sum = FNV_INIT;
    size_t done = 0;

    gen_init(&g, pr->data_seed);
    sizes.s = pr->send_size_seed;
    while (done < STREAM_BYTES) {
        size_t n = io_size(&sizes), i, off = 0;
        if (n > STREAM_BYTES - done)
            n = STREAM_BYTES - done;
        for (i = 0; i < n; i++)
            buf[i] = gen_byte(&g);
        sum = fnv(sum, buf, n);
        while (off < n) {
            int r = (int)send(pr->s, (const char *)buf + off, n - off, 0);
            pr->sends++;
            if (r == SOCKET_ERROR || r <= 0) {
                pr->send_fail_rc = r;
                pr->send_fail_err = WSAGetLastError();
                goto out;
            }
            if ((size_t)r != n - off)
                pr->partial_sends++;
            off += (size_t)r;
            done += (size_t)r;
            pr->sent = done;
        }
    }
out:
    pr->send_sum = sum;
    pr->send_done_ms = now_ms() - pr->t0;
    pr->recvd_when_send_done = pr->recvd;
    if (done == STREAM_BYTES) {
        WSASetLastError(0);
        pr->shutdown_rc = shutdown(pr->s, SD_SEND);
        pr->shutdown_err = WSAGetLastError();
    }
    pr->sender_finished = 1;
    return NULL;
}

static void *receiver(void *p)
{
    struct pair *pr = p;
    static __thread unsigned char buf[MAX_IO];
    struct stream_gen g;
    struct rng sizes;
    uint64_t sum = FNV_INIT;
    size_t got = 0;

    gen_init(&g, pr->data_seed);
    sizes.s = pr->recv_size_seed;
    pr->first_mismatch = (size_t)-1;
    while (got < STREAM_BYTES) {
        size_t n = io_size(&sizes), i;
        int r;
        if (n > STREAM_BYTES - got)
            n = STREAM_BYTES - got;
        r = (int)recv(pr->s, (char *)buf, n, 0);
        pr->recvs++;
        if (r == SOCKET_ERROR || r <= 0 || (size_t)r > n) {
            pr->recv_fail_rc = r;
            pr->recv_fail_err = r < 0 ? WSAGetLastError() : 0;
            break;
        }
        if (got == 0)
            pr->first_byte_ms = now_ms() - pr->t0;
        for (i = 0; i < (size_t)r; i++)
            if (buf[i] != gen_byte(&g) && pr->first_mismatch == (size_t)-1)
                pr->first_mismatch = got + i;
        sum = fnv(sum, buf, (size_t)r);
        got += (size_t)r;
        pr->recvd = got;
    }
    pr->recv_sum = sum;
    pr->recv_done_ms = now_ms() - pr->t0;
    if (got == STREAM_BYTES) {
        /* the sender's shutdown(SD_SEND) sent close_notify; the server answers with its own */
        WSASetLastError(0);
        pr->final_rc = (int)recv(pr->s, (char *)buf, sizeof buf, 0);
        pr->final_err = WSAGetLastError();
    }
    pr->receiver_finished = 1;
    return NULL;
}

/* ---- connecting ---------------------------------------------------------- */

struct owner {
    struct pair *pr;
    int port;
    int sender_role;          /* 1: the connecting thread sends; 0: it receives */
    struct hook_record rec;
    int setup_ok;
    char setup_what[320];
    pthread_barrier_t *go;
};

static SOCKET open_stream(struct owner *o)
{
    SOCKADDR_IN sa;
    char line[128];
    int sz = 64 * 1024;
    SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);

    hook_reset(&o->rec, SSL_ERR_OKAY);
    if (s == INVALID_SOCKET) {
        snprintf(o->setup_what, sizeof o->setup_what, "socket() failed");
        return INVALID_SOCKET;
    }
    setsockopt(s, SOL_SOCKET, SO_SNDBUF, (const char *)&sz, sizeof sz);
    setsockopt(s, SOL_SOCKET, SO_RCVBUF, (const char *)&sz, sizeof sz);
    if (make_secure(s) != 0 || set_hook(s, record_hook, &o->rec) != 0) {
        snprintf(o->setup_what, sizeof o->setup_what, "SO_SECURE/hook failed (%d)", WSAGetLastError());
        return INVALID_SOCKET;
    }
    connect_addr(&sa, o->port);
    if (connect(s, (SOCKADDR *)&sa, sizeof sa) != 0) {
        snprintf(o->setup_what, sizeof o->setup_what, "connect failed (%d, %s)", WSAGetLastError(),
                 sslsock_last_error_reason());
        return INVALID_SOCKET;
    }
    if (send_str(s, "STREAM\r\n") != 0 || recv_line(s, line, sizeof line) < 0 ||
        strcmp(line, "STREAM OK") != 0) {
        snprintf(o->setup_what, sizeof o->setup_what, "STREAM command failed (got '%s', %d)", line,
                 WSAGetLastError());
        return INVALID_SOCKET;
    }
    snprintf(o->setup_what, sizeof o->setup_what, "connected, hook calls %d", o->rec.calls);
    return s;
}

static void *owner_thread(void *p)
{
    struct owner *o = p;
    struct pair *pr = o->pr;
    pthread_t other;

    pr->s = open_stream(o);
    o->setup_ok = pr->s != INVALID_SOCKET;
    pthread_barrier_wait(o->go);          /* both sockets set up before any byte flows */
    if (!o->setup_ok) {
        pr->sender_finished = pr->receiver_finished = 1;
        return NULL;
    }
    pr->t0 = now_ms();
    if (o->sender_role) {
        pthread_create(&other, NULL, receiver, pr);
        sender(pr);
    } else {
        pthread_create(&other, NULL, sender, pr);
        receiver(pr);
    }
    pthread_join(other, NULL);
    return NULL;
}

static void report(struct owner *o)
{
    struct pair *pr = o->pr;
    const char *w = pr->name;

    CHECK(o->setup_ok, "%s: immediate handshake and STREAM OK (%s)", w, o->setup_what);
    if (!o->setup_ok)
        return;
    CHECK(o->rec.calls == 1 && o->rec.arg == &o->rec && o->rec.flags == 0,
          "%s: hook called once with its pvArg and flags 0 (calls %d)", w, o->rec.calls);
    CHECK(pr->sent == STREAM_BYTES && pr->send_fail_rc == 0,
          "%s: sender sent all %u bytes in %d sends of 1..65536 (sent %lu, failing rc %d err %d)", w,
          STREAM_BYTES, pr->sends, (unsigned long)pr->sent, pr->send_fail_rc, pr->send_fail_err);
    CHECK(pr->partial_sends == 0, "%s: every blocking send returned its full length (%d partial)", w,
          pr->partial_sends);
    CHECK(pr->recvd == STREAM_BYTES && pr->recv_fail_rc == 0,
          "%s: receiver got all %u bytes in %d recvs of 1..65536 (got %lu, failing rc %d err %d)", w,
          STREAM_BYTES, pr->recvs, (unsigned long)pr->recvd, pr->recv_fail_rc, pr->recv_fail_err);
    CHECK(pr->first_mismatch == (size_t)-1, "%s: every received byte equals the byte sent (first mismatch at %ld)",
          w, pr->first_mismatch == (size_t)-1 ? -1L : (long)pr->first_mismatch);
    CHECK(pr->send_sum == pr->recv_sum, "%s: running checksums agree (sent %016llx, received %016llx)", w,
          (unsigned long long)pr->send_sum, (unsigned long long)pr->recv_sum);
    CHECK(pr->first_byte_ms >= 0 && pr->first_byte_ms < pr->send_done_ms,
          "%s: the receiver had its first byte (%lld ms) before the sender finished (%lld ms)", w,
          pr->first_byte_ms, pr->send_done_ms);
    note("%s: send done at %lld ms with %lu bytes already received; receive done at %lld ms", w,
         pr->send_done_ms, (unsigned long)pr->recvd_when_send_done, pr->recv_done_ms);
    CHECK(pr->shutdown_rc == 0, "%s: shutdown(SD_SEND) after the last send returns 0 (rc %d, err %d)", w,
          pr->shutdown_rc, pr->shutdown_err);
    CHECK(pr->final_rc == 0, "%s: then recv returns 0 (the server's close_notify) (rc %d, err %d)", w,
          pr->final_rc, pr->final_err);
    CHECK(closesocket(pr->s) == 0, "%s: closesocket", w);
}

int main(void)
{
    static struct pair a, b;
    static struct owner oa, ob;
    pthread_barrier_t go;
    pthread_t ta, tb;
    int port = env_port("T_PORT_STARTTLS");
    size_t last_a = 0, last_b = 0;
    long long last_progress, start;
    WSADATA wsa;

    start_watchdog(55);
    CHECK(WSAStartup(MAKEWORD(2, 2), &wsa) == 0, "WSAStartup(2.2)");

    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    a.name = "socket A (connecting thread sends)";
    a.data_seed = 0x5eed0001;
    a.send_size_seed = 0x51e0001;
    a.recv_size_seed = 0x7ec0001;
    b.name = "socket B (connecting thread receives)";
    b.data_seed = 0x5eed0002;
    b.send_size_seed = 0x51e0002;
    b.recv_size_seed = 0x7ec0002;
    a.first_byte_ms = b.first_byte_ms = -1;
    a.send_done_ms = b.send_done_ms = -1;
    a.shutdown_rc = b.shutdown_rc = a.final_rc = b.final_rc = -2;

    pthread_barrier_init(&go, NULL, 2);
    oa.pr = &a; oa.port = port; oa.sender_role = 1; oa.go = &go;
    ob.pr = &b; ob.port = port; ob.sender_role = 0; ob.go = &go;
    pthread_create(&ta, NULL, owner_thread, &oa);
    pthread_create(&tb, NULL, owner_thread, &ob);

    /* Watch the progress: a pair that moves no byte for STALL_MS is stuck. */
    start = last_progress = now_ms();
    for (;;) {
        size_t pa = a.sent + a.recvd, pb = b.sent + b.recvd;
        if (a.sender_finished && a.receiver_finished && b.sender_finished && b.receiver_finished)
            break;
        if (pa != last_a || pb != last_b) {
            last_a = pa;
            last_b = pb;
            last_progress = now_ms();
        }
        if (now_ms() - last_progress > STALL_MS) {
            CHECK(0, "duplex: no byte moved for %d ms (deadlock?): A sent %lu received %lu; B sent %lu "
                     "received %lu", STALL_MS, (unsigned long)a.sent, (unsigned long)a.recvd,
                  (unsigned long)b.sent, (unsigned long)b.recvd);
            return finish();
        }
        usleep(20000);
    }
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    note("both sockets done in %lld ms", now_ms() - start);

    report(&oa);
    report(&ob);
    WSACleanup();
    return finish();
}
