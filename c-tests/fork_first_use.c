/*
 * fork_first_use.c - a fork that comes while another thread uses sslsock for the first time must not
 * leave the child one of sslsock's locks held by a thread the child does not have.
 *
 * Found by make test (own_fds_fork_stress, session 7): a child forked right after its parent's threads
 * started hung for good in WSAEventSelect, waiting for the event model's state lock. The event model
 * registered its fork handlers (pthread_atfork) only when it first started its watcher thread, from
 * inside that lock; before that, and during a fork whose handler list glibc had already read, nothing
 * took the lock across the fork. The same held for every lock of src/fork.rs's list before the first
 * secure socket. Since then every handler is registered when the library is loaded.
 *
 * Each of PROCESSES fresh processes (forked from this one, which has not used sslsock's locks) starts
 * a thread that selects events on socket pairs from its first instruction on, while its main thread
 * forks CHILDREN children back to back. Each child selects FD_READ on a socket pair of its own, writes a
 * byte and waits for the event (it must come within 20 s). A child still running CHILD_LIMIT_MS after
 * its fork is killed and counted as hung. The line "N processes, N children, N hung, N failed" says
 * what ran.
 */
#define _GNU_SOURCE
#include <winsock2.h>
#include <sslsock.h>
#include "common.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>

/* make test: 150 processes of 12 children; under valgrind or ASan (T_RACE_ROUNDS=20), 5 of 4. */
#define PROCESSES 150
#define CHILDREN 12
#define CHILD_LIMIT_MS 25000
#define RUN_LIMIT_MS 25000 /* with CHILD_LIMIT_MS, under the 58 s watchdog */

static atomic_int g_stop;

/* The first thread: event selections on fresh socket pairs, from its start until told to stop. */
static void *select_churn(void *arg)
{
    (void)arg;
    WSAEVENT ev = WSACreateEvent();
    while (!g_stop && select_round(ev, FD_READ | FD_CLOSE, 5) != WSA_WAIT_FAILED) {
    }
    WSACloseEvent(ev);
    return NULL;
}

/* In a child: an event selection of its own must work. Exit 0, or 7 (FD_READ not recorded within
 * 20 s) or 8 (the wait failed, or no socket pair). */
static void child_body(void)
{
    signal(SIGALRM, SIG_DFL); /* the parent's watchdog handler is not the child's */
    alarm(CHILD_LIMIT_MS / 1000 + 5);
    DWORD w = select_round(WSACreateEvent(), FD_READ, 20000);
    child_exit(w == 0 ? 0 : w == WSA_WAIT_TIMEOUT ? 7 : 8);
}

/* One fresh process: the churn thread and CHILDREN forks. Exit status: bit 0 a child hung, bit 1 a
 * child failed. Writes "hung failed" counts to `report`. */
static int one_process(int report, int children)
{
    pthread_t t;
    pthread_create(&t, NULL, select_churn, NULL);
    pid_t kids[CHILDREN];
    long long forked[CHILDREN];
    if (children > CHILDREN) children = CHILDREN;
    int n = 0, hung = 0, failed = 0;
    for (; n < children; n++) {
        forked[n] = now_ms();
        kids[n] = fork();
        if (kids[n] == 0) child_body();
        if (kids[n] < 0) break;
    }
    for (int i = 0; i < n; i++) {
        int st = 0;
        while (waitpid(kids[i], &st, WNOHANG) == 0) {
            if (now_ms() - forked[i] > CHILD_LIMIT_MS) {
                kill(kids[i], SIGKILL);
                waitpid(kids[i], &st, 0);
                st = -1;
                break;
            }
            usleep(1000);
        }
        if (st == -1 || (WIFSIGNALED(st) && (WTERMSIG(st) == SIGALRM || WTERMSIG(st) == SIGKILL)))
            hung++;
        else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            failed++;
    }
    g_stop = 1;
    pthread_join(t, NULL);
    char line[32];
    int len = snprintf(line, sizeof line, "%d %d\n", hung, failed);
    if (write(report, line, (size_t)len) != len) return 4;
    return (hung ? 1 : 0) | (failed ? 2 : 0);
}

int main(void)
{
    start_watchdog(58);
    const char *rr = getenv("T_RACE_ROUNDS");
    int slow = rr && atoi(rr) > 0, limit = slow ? 5 : PROCESSES, per = slow ? 4 : CHILDREN;
    int processes = 0, children = 0, hung = 0, failed = 0, broken = 0;
    long long t0 = now_ms();
    for (; processes < limit && now_ms() - t0 < RUN_LIMIT_MS; processes++) {
        int pipefd[2];
        if (pipe(pipefd) != 0) break;
        pid_t p = fork();
        if (p == 0) {
            close(pipefd[0]);
            child_exit(one_process(pipefd[1], per));
        }
        close(pipefd[1]);
        char line[32] = { 0 };
        ssize_t got = read(pipefd[0], line, sizeof line - 1);
        close(pipefd[0]);
        int st = 0;
        waitpid(p, &st, 0);
        int h = 0, f = 0;
        if (got <= 0 || sscanf(line, "%d %d", &h, &f) != 2) {
            broken++;
            if (broken < 3) note("process %d ended without a report (status 0x%x)", processes, st);
            continue;
        }
        children += per;
        if (h && hung < 3) note("process %d: %d children hung", processes, h);
        if (f && failed < 3) note("process %d: %d children failed", processes, f);
        hung += h;
        failed += f;
    }
    note("%d processes, %d children, %d hung, %d failed", processes, children, hung, failed);
    CHECK(processes >= (slow ? 3 : 10), "enough fresh processes ran (%d)", processes);
    CHECK(broken == 0, "every process reported (%d did not)", broken);
    CHECK(hung == 0, "no child hung on a lock held at the fork (%d)", hung);
    CHECK(failed == 0, "every child's own event selection worked (%d failed)", failed);
    return finish();
}
