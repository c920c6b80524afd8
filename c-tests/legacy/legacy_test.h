/*
 * legacy_test.h - test scaffolding of c-tests/legacy/ (not part of any port).
 *
 * The programs of c-tests/legacy/ are the fourteen CE programs of docs/patterns.md written as their CE
 * code is written (<windows.h>, TCHAR, CRITICAL_SECTION, the CE hook), built against sslsock's compat
 * headers (include/sslsock/compat) and run by tests/legacy.sh.  Each marks the edits a port needed
 * with PORT: comments, and its test scaffolding with TEST: comments.  This header is the scaffolding:
 * "ok - " / "not ok - " lines for tests/run-c-tests.sh, where the servers are (environment), a watchdog.
 */
#ifndef LEGACY_TEST_H
#define LEGACY_TEST_H

#include <windows.h>
#include <sslsock.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int lt_checks = 0;
static int lt_failures = 0;

/* One check line, with the thread's last error and sslsock's reason when it failed. */
static inline void lt_check(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline void lt_check(int ok, const char *fmt, ...)
{
    int wsa = WSAGetLastError();
    const char *reason = sslsock_last_error_reason();
    va_list ap;
    lt_checks++;
    printf("%s - ", ok ? "ok" : "not ok");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    if (!ok) {
        lt_failures++;
        printf(" (WSAGetLastError()=%d, reason=%s)", wsa, reason);
    }
    printf("\n");
    fflush(stdout);
}

/* sslsock_last_error_reason() copied: its string is valid only until the thread's next call to it (which
 * lt_check makes), so a check that shows the reason must show a copy. */
static inline const char *lt_reason(void)
{
    static char copy[1024];
    snprintf(copy, sizeof copy, "%s", sslsock_last_error_reason());
    return copy;
}

/* CHECK(cond, fmt, ...): from the main thread only. */
#define CHECK(cond, ...) lt_check(!!(cond), __VA_ARGS__)

static inline int lt_finish(void)
{
    printf("# %d checks, %d failed\n", lt_checks, lt_failures);
    return lt_failures == 0 && lt_checks > 0 ? 0 : 1;
}

/* A port number from the environment (tests/run-c-tests.sh starts the servers). */
static inline int lt_port(const char *name)
{
    const char *v = getenv(name);
    int port = v ? atoi(v) : 0;
    if (port <= 0 || port > 65535) {
        CHECK(0, "environment variable %s holds a port", name);
        exit(lt_finish());
    }
    return port;
}

static inline const char *lt_host(void)
{
    const char *h = getenv("T_HOST");
    return h && *h ? h : "127.0.0.1";
}

/* "$T_PKI/file" in a static buffer. */
static inline const char *lt_pki(const char *file)
{
    static char path[4096];
    const char *dir = getenv("T_PKI");
    snprintf(path, sizeof path, "%s/%s", dir ? dir : ".", file);
    return path;
}

static void lt_watchdog_fired(int sig)
{
    static const char msg[] = "not ok - watchdog: program did not finish in time\n";
    (void)sig;
    if (write(1, msg, sizeof msg - 1) < 0) { /* nothing to do */ }
    _exit(1);
}

static inline void lt_watchdog(unsigned seconds)
{
    signal(SIGALRM, lt_watchdog_fired);
    alarm(seconds);
}

#endif /* LEGACY_TEST_H */
