/*
 * failclosed_race.c - issue 12, "fail closed" under races: a descriptor that stops being the secure
 * socket while another thread writes to it must never let that write reach the wire in plaintext.
 *
 * Each round: a blocking secure socket to the STARTTLS server (even rounds: immediate TLS; odd
 * rounds: deferred, STARTTLS, SO_SSL_PERFORM_HANDSHAKE), `STREAM` (the server reads and checks
 * every byte). Thread A loops send(fd, "PLAINTEXT-MARKER-<round>-<i>") until the call fails; the main
 * thread (B), after 1..5 successful sends and a varying spin, does one of (thread A spins a varying
 * while, none to ~10 us, between its calls, so that the action meets it inside a call or between two)
 *   (a) close(fd)   (b) closesocket(fd)
 *   (c) dup2(plain, fd)   (d) dup3(plain, fd, O_CLOEXEC)
 * where `plain` is a fresh unconnected socket(AF_INET, SOCK_STREAM, 0): after (c)/(d) fd is that
 * plain socket (getsockopt SO_SECURE gives SO_SEC_NONE) and a send on it fails as libc's does on an
 * unconnected TCP socket (EPIPE or ENOTCONN). 200 rounds per action with send; then (e) 200 rounds
 * with write() and 200 with writev() as thread A's call, the four actions in turn.
 *
 * The marker's first byte 'P' (0x50) can never start a TLS record, so any marker byte the library
 * lets through in the clear makes the server log PLAINTEXT-LEAK (and run-c-tests.sh fails the run on
 * it). After each case the program waits for the server to finish every connection of the case and
 * counts the rounds whose client port has a PLAINTEXT-LEAK line (and, separately, an `ERROR ... tls`
 * line: bytes that are not TLS spliced into the middle of a record). Zero of each is required.
 * SIGPIPE is ignored.
 */
#define _GNU_SOURCE
#include <winsock2.h>
#include <sslsock.h>
#include "common.h"
#include "failclosed.h"

#include <sched.h>
#include <sys/uio.h>

#define MAX_ROUNDS 200
/* Rounds per case: 200 (the minimum), fewer under a sanitizer or valgrind (T_RACE_ROUNDS, set
 * by tests/asan.sh and tests/valgrind.sh: there each round is 20-50 times slower). */
static int ROUNDS = MAX_ROUNDS;
#define SENDER_LIMIT_MS 6000    /* a round's thread A gives up after this long */

enum action { ACT_CLOSE, ACT_CLOSESOCKET, ACT_DUP2, ACT_DUP3, ACT_CYCLE, ACT_DUP2SEC };
enum wcall { W_SEND, W_WRITE, W_WRITEV };

static const char *action_name[] = {"close(fd)", "closesocket(fd)", "dup2(plain, fd)", "dup3(plain, fd, O_CLOEXEC)",
                                    "the four actions in turn", "dup2(other secure, fd)"};
static const char *call_name[] = {"send", "write", "writev"};

struct round {
    SOCKET fd;
    enum wcall call;
    int round;
    int gap;              /* spin iterations between two calls: varies where a call meets the action */
    int sends;            /* successful calls so far (atomic) */
    int ended;            /* 1: ended on a failed call; 2: a call that began after the action returned
                             succeeded; 3: hit the time limit */
    int action_done;      /* set (atomic) by the main thread once close/dup2/... has returned */
    long rc;
    int err, wsa;
};

static void *sender(void *p)
{
    struct round *r = p;
    long long until = now_ms() + SENDER_LIMIT_MS;
    char buf[96];
    int i, j;

    for (i = 0;; i++) {
        long rc = -1;
        int after = __atomic_load_n(&r->action_done, __ATOMIC_SEQ_CST);
        int n = snprintf(buf, sizeof buf, FC_MARKER "-%04d-%04d\r\n", r->round, i);
        struct iovec iov[2];
        errno = 0;
        WSASetLastError(0);
        switch (r->call) {
        case W_SEND:
            rc = (long)send(r->fd, buf, (size_t)n, 0);
            break;
        case W_WRITE:
            rc = (long)write(r->fd, buf, (size_t)n);
            break;
        case W_WRITEV:
            iov[0].iov_base = buf;
            iov[0].iov_len = 10;
            iov[1].iov_base = buf + 10;
            iov[1].iov_len = (size_t)n - 10;
            rc = (long)writev(r->fd, iov, 2);
            break;
        }
        if (rc < 0) {
            r->rc = rc;
            r->err = errno;
            r->wsa = WSAGetLastError();
            r->ended = 1;
            return NULL;
        }
        __atomic_add_fetch(&r->sends, 1, __ATOMIC_SEQ_CST);
        if (after) {
            /* This call began after the descriptor was closed or replaced, and succeeded. */
            r->ended = 2;
            return NULL;
        }
        for (j = 0; j < r->gap; j++)
            __asm__ __volatile__("" ::: "memory");
        if (now_ms() > until) {
            r->ended = 3;
            return NULL;
        }
    }
}

struct case_result {
    int setup_failed, not_ended, still_secure, plain_send_ok, action_failed, rounds;
    char first_setup[300], first_not_ended[300], first_dup[400], first_after[300], first_action[300];
};

static void run_case(int port, enum wcall call, enum action which, const char *log, long log_off)
{
    static int ports[MAX_ROUNDS], other_ports[MAX_ROUNDS];
    struct case_result res;
    char what[128];
    int round, leaked = 0, corrupted = 0, open_left, first_leak = -1, first_corrupt = -1;
    long long t0 = now_ms();

    memset(&res, 0, sizeof res);
    memset(ports, 0, sizeof ports);
    memset(other_ports, 0, sizeof other_ports);
    snprintf(what, sizeof what, "race %s / %s", call_name[call], action_name[which]);

    for (round = 0; round < ROUNDS; round++) {
        enum action act = which == ACT_CYCLE ? (enum action)(round % 4) : which;
        int deferred = round & 1, k = 1 + round % 5, spin = (round * 7919) % 30000, j;
        struct round r;
        pthread_t th;
        SOCKET plain = INVALID_SOCKET, other = INVALID_SOCKET;
        long long until;
        int rc = 0, err = 0;

        static const int gaps[] = {0, 300, 3000, 30000};
        memset(&r, 0, sizeof r);
        r.call = call;
        r.round = round;
        r.gap = gaps[(round / 2) % 4];
        r.fd = fc_stream_socket(port, deferred, 4000, &ports[round]);
        if (r.fd == INVALID_SOCKET) {
            if (!res.setup_failed++)
                snprintf(res.first_setup, sizeof res.first_setup, "round %d (%s): %.250s", round,
                         deferred ? "deferred" : "immediate", fc_why);
            continue;
        }
        res.rounds++;
        if (act == ACT_DUP2SEC) {
            /* A second secure STREAM connection, dup2'ed over fd: fd then carries its session. */
            other = fc_stream_socket(port, !deferred, 4000, &other_ports[round]);
            if (other == INVALID_SOCKET) {
                if (!res.setup_failed++)
                    snprintf(res.first_setup, sizeof res.first_setup, "round %d (other): %.250s", round, fc_why);
                closesocket(r.fd);
                continue;
            }
        }
        if (act == ACT_DUP2 || act == ACT_DUP3) {
            plain = socket(AF_INET, SOCK_STREAM, 0);
            if (plain == INVALID_SOCKET) {
                if (!res.setup_failed++)
                    snprintf(res.first_setup, sizeof res.first_setup, "round %d: plain socket(): errno %d", round,
                             errno);
                closesocket(r.fd);
                continue;
            }
        }

        pthread_create(&th, NULL, sender, &r);
        until = now_ms() + 3000;
        while (__atomic_load_n(&r.sends, __ATOMIC_SEQ_CST) < k && !__atomic_load_n(&r.ended, __ATOMIC_SEQ_CST) &&
               now_ms() < until)
            sched_yield();
        for (j = 0; j < spin; j++)
            __asm__ __volatile__("" ::: "memory");

        errno = 0;
        switch (act) {
        case ACT_CLOSE:
            rc = close(r.fd);
            break;
        case ACT_CLOSESOCKET:
            rc = closesocket(r.fd);
            break;
        case ACT_DUP2:
            rc = dup2(plain, r.fd);
            rc = rc == r.fd ? 0 : -1;
            break;
        case ACT_DUP3:
            rc = dup3(plain, r.fd, O_CLOEXEC);
            rc = rc == r.fd ? 0 : -1;
            break;
        case ACT_DUP2SEC:
            rc = dup2(other, r.fd);
            rc = rc == r.fd ? 0 : -1;
            break;
        case ACT_CYCLE:
            break;
        }
        err = errno;
        __atomic_store_n(&r.action_done, 1, __ATOMIC_SEQ_CST);
        pthread_join(th, NULL);

        if (rc != 0 && !res.action_failed++)
            snprintf(res.first_action, sizeof res.first_action, "round %d: %s returned an error (errno %d %s)", round,
                     action_name[act], err, strerror(err));
        if (act == ACT_DUP2SEC) {
            /* fd is now the other connection's number: its calls succeed, over that session. */
            DWORD sec = fc_get_secure(r.fd);
            if (rc == 0 && sec != SO_SEC_SSL && !res.still_secure++)
                snprintf(res.first_after, sizeof res.first_after,
                         "round %d: getsockopt(SO_SECURE) on fd after dup2(other secure, fd) gives 0x%x", round,
                         (unsigned)sec);
            closesocket(r.fd);
            closesocket(other);
        } else if (r.ended != 1 && !res.not_ended++)
            snprintf(res.first_not_ended, sizeof res.first_not_ended,
                     "round %d (%s, %s): thread A's %s kept succeeding (%d calls, %s)", round,
                     deferred ? "deferred" : "immediate", action_name[act], call_name[call], r.sends,
                     r.ended == 2 ? "a call made after the action succeeded" : "time limit");

        if (act == ACT_DUP2 || act == ACT_DUP3) {
            if (rc == 0) {
                DWORD sec = fc_get_secure(r.fd);
                long src;
                int serr, swsa;
                if (sec != SO_SEC_NONE && !res.still_secure++)
                    snprintf(res.first_after, sizeof res.first_after,
                             "round %d: getsockopt(SO_SECURE) on the replaced descriptor gives 0x%x", round,
                             (unsigned)sec);
                errno = 0;
                WSASetLastError(0);
                src = (long)send(r.fd, FC_MARKER "-after\r\n", sizeof FC_MARKER "-after\r\n" - 1, 0);
                serr = errno;
                swsa = WSAGetLastError();
                if (!(src == -1 && (serr == EPIPE || serr == ENOTCONN)) && !res.plain_send_ok++)
                    snprintf(res.first_dup, sizeof res.first_dup,
                             "round %d: send on the replaced descriptor returned %ld (errno %d %s, WSA %d, reason "
                             "\"%s\")",
                             round, src, serr, strerror(serr), swsa, sslsock_last_error_reason());
                close(r.fd);
            } else {
                closesocket(r.fd);
            }
            close(plain);
        }
    }

    /* what the server saw */
    open_left = fc_wait_closed(log, log_off, ports, ROUNDS, 5000);
    if (which == ACT_DUP2SEC)
        open_left += fc_wait_closed(log, log_off, other_ports, ROUNDS, 5000);
    for (round = 0; round < ROUNDS; round++) {
        if (ports[round] <= 0)
            continue;
        if (fc_port_flags[ports[round]] & FC_LEAK) {
            leaked++;
            if (first_leak < 0)
                first_leak = round;
        }
        if (fc_port_flags[ports[round]] & FC_TLSERR) {
            corrupted++;
            if (first_corrupt < 0)
                first_corrupt = round;
        }
        /* dup2(other secure, fd): neither plaintext nor the first session's records on the other one */
        if (other_ports[round] > 0 && (fc_port_flags[other_ports[round]] & (FC_LEAK | FC_TLSERR))) {
            if (fc_port_flags[other_ports[round]] & FC_LEAK)
                leaked++;
            else
                corrupted++;
            if (first_corrupt < 0)
                first_corrupt = round;
        }
    }

    CHECK(res.setup_failed == 0, "%s: every round's secure STREAM connection set up (%d of %d failed; first: %s)",
          what, res.setup_failed, ROUNDS, res.first_setup);
    CHECK(res.action_failed == 0, "%s: the action succeeded in every round (%d failed; first: %s)", what,
          res.action_failed, res.first_action);
    CHECK(leaked == 0,
          "%s: %d/%d rounds leaked plaintext (PLAINTEXT-LEAK at the server)%s%s%s%s", what, leaked, res.rounds,
          first_leak >= 0 ? "; first: " : "", first_leak >= 0 ? (first_leak & 1 ? "a deferred round" : "an immediate round") : "",
          first_leak >= 0 ? ", bytes " : "", first_leak >= 0 ? fc_leak_hex[ports[first_leak]] : "");
    CHECK(corrupted == 0, "%s: %d/%d rounds had non-TLS bytes inside a record (server: ERROR ... tls; first: round %d)",
          what, corrupted, res.rounds, first_corrupt);
    CHECK(res.not_ended == 0, "%s: thread A's calls fail once the descriptor is gone or replaced (%d rounds did not; first: %s)",
          what, res.not_ended, res.first_not_ended);
    if (which == ACT_DUP2SEC)
        CHECK(res.still_secure == 0, "%s: fd carries the other secure session afterwards (%d rounds not; first: %s)",
              what, res.still_secure, res.first_after);
    if (which == ACT_DUP2 || which == ACT_DUP3 || which == ACT_CYCLE) {
        CHECK(res.still_secure == 0,
              "%s: the replaced descriptor is the plain socket (SO_SECURE gives SO_SEC_NONE) (%d rounds not; first: %s)",
              what, res.still_secure, res.first_after);
        CHECK(res.plain_send_ok == 0,
              "%s: a send on the replaced descriptor fails as on an unconnected socket, EPIPE/ENOTCONN (%d rounds "
              "not; first: %s)",
              what, res.plain_send_ok, res.first_dup);
    }
    if (open_left > 0)
        note("%s: %d connections not yet finished at the server after 5 s (counted as they are)", what, open_left);
    note("%s: %d rounds in %lld ms", what, res.rounds, now_ms() - t0);
}

/* ------------------------------------------------------------------ */
/* A send waiting behind another writer while dup2 gives its number to another secure socket: when
 * the waiting send then fails (here: SO_SNDTIMEO, the peer does not read), it must fail, not be made
 * again as libc's on the number, which now reaches the other TLS connection. */

struct waiter {
    SOCKET fd;
    const char *data;
    size_t len;
    long rc;
    int err;
};

static void *waiting_send(void *p)
{
    struct waiter *w = p;
    errno = 0;
    w->rc = (long)send(w->fd, w->data, w->len, MSG_NOSIGNAL);
    w->err = errno;
    return NULL;
}

static void waiting_writer_across_dup2(int port, int round)
{
    static char big[16 << 20];
    int small = 4096;
    char what[96], line[64];
    int lb = 0, la = 0;
    SOCKET b, bc, a;
    struct waiter t1, t2;
    pthread_t th1, th2;
    DWORD ms = 1000;

    snprintf(what, sizeof what, "a send waiting behind another across dup2(other secure, fd), round %d", round);
    b = fc_connect_immediate(port, 4000, &lb);
    a = fc_stream_socket(port, 0, 4000, &la);
    if (!CHECK(b != INVALID_SOCKET && a != INVALID_SOCKET, "%s: two secure connections (%s)", what, fc_why))
        goto out;
    /* session b: the server stops reading; sends time out after 1 s */
    if (!CHECK(send_str(b, "STALL\r\n") == 0 && recv_line(b, line, sizeof line) >= 0 && strcmp(line, "STALL OK") == 0,
               "%s: STALL on the first connection", what))
        goto out;
    setsockopt(b, SOL_SOCKET, SO_SNDTIMEO, (const char *)&ms, sizeof ms);
    setsockopt(b, SOL_SOCKET, SO_SNDBUF, (const char *)&small, sizeof small);
    bc = dup(b);
    memset(big, 'b', sizeof big);
    t1 = (struct waiter){bc, big, sizeof big, 0, 0};
    t2 = (struct waiter){b, FC_MARKER "-waiting-writer\n", sizeof FC_MARKER "-waiting-writer\n" - 1, 0, 0};
    pthread_create(&th1, NULL, waiting_send, &t1);
    usleep(100 * 1000);   /* t1 fills the pipe and waits for room, holding the writers' turn */
    pthread_create(&th2, NULL, waiting_send, &t2);
    usleep(100 * 1000);   /* t2 waits for its turn */
    CHECK(dup2(a, b) == b, "%s: dup2(a, b) returns b", what);
    pthread_join(th1, NULL);
    pthread_join(th2, NULL);
    CHECK(t1.rc == -1, "%s: the blocked 16 MiB send times out (SO_SNDTIMEO; got %ld, errno %d)", what, t1.rc,
          t1.err);
    CHECK(t2.rc == -1, "%s: the waiting send on the replaced number fails (got %ld, errno %d, reason \"%s\")", what,
          t2.rc, t2.err, sslsock_last_error_reason());
    CHECK(fc_get_secure(b) == SO_SEC_SSL, "%s: the number now carries the other secure session", what);
    close(bc);
    closesocket(b);
out:
    if (a != INVALID_SOCKET)
        closesocket(a);
}

/* shutdown while another thread's send waits for a peer that does not read: shutdown returns and wakes
 * the send, as libc's does (it used to wait for the sender's turn, i.e. for the peer). */
static void shutdown_wakes_a_blocked_sender(int port, int how)
{
    static char big[16 << 20];
    char what[96], line[64];
    int small = 4096, lb = 0;
    DWORD ms = 20000;   /* the bound: far beyond what the check below allows */
    SOCKET b;
    struct waiter t1;
    pthread_t th1;
    long long t0, took;

    snprintf(what, sizeof what, "shutdown(fd, %s) while a send on fd waits for room", how == SD_BOTH ? "SD_BOTH" : "SD_SEND");
    b = fc_connect_immediate(port, 4000, &lb);
    if (!CHECK(b != INVALID_SOCKET, "%s: a secure connection (%s)", what, fc_why))
        return;
    if (!CHECK(send_str(b, "STALL\r\n") == 0 && recv_line(b, line, sizeof line) >= 0 && strcmp(line, "STALL OK") == 0,
               "%s: STALL", what)) {
        closesocket(b);
        return;
    }
    setsockopt(b, SOL_SOCKET, SO_SNDTIMEO, (const char *)&ms, sizeof ms);
    setsockopt(b, SOL_SOCKET, SO_SNDBUF, (const char *)&small, sizeof small);
    t1 = (struct waiter){b, big, sizeof big, 0, 0};
    pthread_create(&th1, NULL, waiting_send, &t1);
    usleep(200 * 1000);
    t0 = now_ms();
    CHECK(shutdown(b, how) == 0, "%s: shutdown returns 0 (WSA %d)", what, WSAGetLastError());
    pthread_join(th1, NULL);
    took = now_ms() - t0;
    CHECK(took < 10000, "%s: shutdown and the woken send end long before the send's 20 s SO_SNDTIMEO (%lld ms)", what,
          took);
    CHECK(t1.rc == -1 || t1.rc < (long)sizeof big, "%s: the send ends short or with an error (got %ld, errno %d)", what,
          t1.rc, t1.err);
    closesocket(b);
}

int main(void)
{
    int port = env_port("T_PORT_STARTTLS");
    const char *log = fc_starttls_log();
    long off;
    int total;
    WSADATA wsa;

    start_watchdog(57);
    signal(SIGPIPE, SIG_IGN);
    if (getenv("T_RACE_ROUNDS") && atoi(getenv("T_RACE_ROUNDS")) > 0 && atoi(getenv("T_RACE_ROUNDS")) < MAX_ROUNDS)
        ROUNDS = atoi(getenv("T_RACE_ROUNDS"));
    if (!CHECK(log != NULL, "T_STARTTLS_LOG names the STARTTLS server's log"))
        return finish();
    off = fc_log_size(log);
    CHECK(WSAStartup(MAKEWORD(2, 2), &wsa) == 0, "WSAStartup(2.2)");

#ifndef FAILCLOSED_RACE_PART2
    run_case(port, W_SEND, ACT_CLOSE, log, off);
    run_case(port, W_SEND, ACT_CLOSESOCKET, log, off);
    run_case(port, W_SEND, ACT_DUP2, log, off);
    run_case(port, W_SEND, ACT_DUP3, log, off);
#else
    /* failclosed_race2.c: the other half, so that each program stays well inside the runner's limit */
    run_case(port, W_WRITE, ACT_CYCLE, log, off);
    run_case(port, W_WRITEV, ACT_CYCLE, log, off);
    run_case(port, W_SEND, ACT_DUP2SEC, log, off);
    run_case(port, W_WRITEV, ACT_DUP2SEC, log, off);
#endif

    shutdown_wakes_a_blocked_sender(port, SD_SEND);
    shutdown_wakes_a_blocked_sender(port, SD_BOTH);
    waiting_writer_across_dup2(port, 1);
    waiting_writer_across_dup2(port, 2);

    usleep(200 * 1000);
    total = fc_scan_log(log, off);
    CHECK(total == 0, "the STARTTLS server logged no PLAINTEXT-LEAK for this program's connections (got %d)", total);
    WSACleanup();
    return finish();
}
