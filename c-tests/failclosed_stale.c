/*
 * failclosed_stale.c - issue 12, "fail closed" for descriptors closed behind sslsock's back: a secure
 * descriptor closed without the interposed close (glibc's fclose after fdopen, closefrom, a raw
 * syscall(SYS_close)) and its number reused by open() is a plain file again, in full:
 *   write(n, "hello", 5) returns 5 and the bytes are in the file; lseek + read read them back;
 *   close succeeds; afterwards the file holds exactly "hello" (no TLS record, no close_notify).
 * Each way is tried with a connected secure socket (immediate handshake, STREAM) and with a secure
 * socket that never connected. The new descriptor must have the old number; when it has not, the
 * case is skipped ("ok - # skip").
 */
#define _GNU_SOURCE
#include <winsock2.h>
#include <sslsock.h>
#include "common.h"
#include "failclosed.h"

#include <dirent.h>
#include <sys/syscall.h>

enum way { W_FCLOSE, W_CLOSEFROM, W_SYSCALL };
static const char *way_name[] = {"fdopen(fd, \"r+\") + fclose", "closefrom(fd)", "syscall(SYS_close, fd)"};

/* The highest open descriptor number of the process. */
static int highest_fd(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int hi = -1, self = d ? dirfd(d) : -1;
    if (!d)
        return -1;
    while ((e = readdir(d)) != NULL) {
        int n = atoi(e->d_name);
        if (e->d_name[0] >= '0' && e->d_name[0] <= '9' && n != self && n > hi)
            hi = n;
    }
    closedir(d);
    return hi;
}

/* closefrom(fd) closes every descriptor from fd up: the free numbers below the highest open one are
 * filled with /dev/null first, so that the secure socket gets the highest number and closefrom
 * closes it alone (descriptors inherited from whoever started the program are left alone). */
static int g_fill[1024];
static int g_nfill;

static void fill_holes(void)
{
    int hi = highest_fd();
    g_nfill = 0;
    while (g_nfill < (int)(sizeof g_fill / sizeof g_fill[0])) {
        int fd = open("/dev/null", O_RDONLY);
        if (fd < 0)
            break;
        if (fd > hi) {
            close(fd);
            break;
        }
        g_fill[g_nfill++] = fd;
    }
}

static void unfill_holes(void)
{
    while (g_nfill > 0)
        close(g_fill[--g_nfill]);
}

static void stale_body(enum way way, int connected, int port)
{
    char what[160], path[] = "/tmp/sslsock-stale-XXXXXX", buf[64];
    SOCKET s;
    int n, tmp, err, lp = 0;
    long rc;
    FILE *f;

    snprintf(what, sizeof what, "%s on a %s secure socket, then open() reuses the number", way_name[way],
             connected ? "connected" : "never connected");
    tmp = mkstemp(path);
    if (!CHECK(tmp >= 0, "%s: a temporary file name", what))
        return;
    close(tmp);
    if (way == W_CLOSEFROM)
        fill_holes();

    if (connected) {
        s = fc_stream_socket(port, 0, 5000, &lp);
        if (!CHECK(s != INVALID_SOCKET, "%s: a secure STREAM connection (%s)", what, s == INVALID_SOCKET ? fc_why : "ok")) {
            unlink(path);
            return;
        }
    } else {
        s = socket(AF_INET, SOCK_STREAM, 0);
        if (!CHECK(s != INVALID_SOCKET && make_secure(s) == 0, "%s: a secure socket", what)) {
            unlink(path);
            return;
        }
    }
    CHECK(fc_get_secure(s) == SO_SEC_SSL, "%s: getsockopt(SO_SECURE) gives SO_SEC_SSL before", what);

    /* close it behind the library's back */
    switch (way) {
    case W_FCLOSE:
        f = fdopen(s, "r+");
        if (!CHECK(f != NULL, "%s: fdopen", what)) {
            closesocket(s);
            unlink(path);
            return;
        }
        fclose(f);
        break;
    case W_CLOSEFROM:
        if (highest_fd() != s) {
            CHECK(1, "# skip %s: descriptor %d is not the highest open one (%d), closefrom would close others", what,
                  s, highest_fd());   /* the holes could not be filled */
            closesocket(s);
            unlink(path);
            return;
        }
        closefrom(s);
        break;
    case W_SYSCALL:
        syscall(SYS_close, s);
        break;
    }
    errno = 0;
    rc = fcntl(s, F_GETFD);
    CHECK(rc == -1 && errno == EBADF, "%s: the descriptor is closed (fcntl F_GETFD: %ld, errno %d)", what, rc, errno);

    n = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (n != s) {
        CHECK(1, "# skip %s: open() gave %d, not the old number %d", what, n, s);
        if (n >= 0)
            close(n);
        unlink(path);
        return;
    }

    errno = 0;
    WSASetLastError(0);
    rc = (long)write(n, "hello", 5);
    err = errno;
    CHECK(rc == 5, "%s: write(n, \"hello\", 5) returns 5 (got %ld, errno %d %s, WSA %d, reason \"%s\")", what, rc, err,
          strerror(err), WSAGetLastError(), sslsock_last_error_reason());
    {
        size_t len = 0;
        unsigned char *content = read_file(path, &len);
        CHECK(content && len == 5 && memcmp(content, "hello", 5) == 0,
              "%s: the file holds \"hello\" after the write (%lu bytes: \"%s\")", what, (unsigned long)len,
              content ? fc_show(content, (long)len) : "(unreadable)");
        free(content);
    }
    errno = 0;
    rc = (long)lseek(n, 0, SEEK_SET);
    err = errno;
    CHECK(rc == 0, "%s: lseek(n, 0, SEEK_SET) returns 0 (got %ld, errno %d)", what, rc, err);
    memset(buf, 0, sizeof buf);
    errno = 0;
    WSASetLastError(0);
    rc = (long)read(n, buf, 5);
    err = errno;
    CHECK(rc == 5 && memcmp(buf, "hello", 5) == 0,
          "%s: read(n, buf, 5) reads \"hello\" back (got %ld: \"%s\", errno %d %s, WSA %d, reason \"%s\")", what, rc,
          fc_show(buf, rc > 0 ? rc : 0), err, strerror(err), WSAGetLastError(), sslsock_last_error_reason());
    errno = 0;
    WSASetLastError(0);
    rc = close(n);
    err = errno;
    CHECK(rc == 0, "%s: close(n) returns 0 (got %ld, errno %d %s, WSA %d)", what, rc, err, strerror(err),
          WSAGetLastError());
    {
        size_t len = 0;
        unsigned char *content = read_file(path, &len);
        CHECK(content && len == 5 && memcmp(content, "hello", 5) == 0,
              "%s: after close the file holds exactly \"hello\" (%lu bytes: \"%s\")", what, (unsigned long)len,
              content ? fc_show(content, (long)len) : "(unreadable)");
        free(content);
    }
    unlink(path);
}

static void stale(enum way way, int connected, int port)
{
    stale_body(way, connected, port);
    unfill_holes();
}

int main(void)
{
    WSADATA wsa;
    int port = env_port("T_PORT_STARTTLS"), i;

    start_watchdog(55);
    signal(SIGPIPE, SIG_IGN);
    CHECK(WSAStartup(MAKEWORD(2, 2), &wsa) == 0, "WSAStartup(2.2)");
    for (i = 0; i < 3; i++) {
        stale((enum way)i, 1, port);
        stale((enum way)i, 0, port);
    }
    WSACleanup();
    return finish();
}
