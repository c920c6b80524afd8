/*
 * failclosed_dup.c - issue 12, "fail closed": copying, replacing and closing secure descriptors, and
 * every read and write path on them.
 *
 *  1. A failed dup3(plain, secure, 0x4) (EINVAL: an unknown flag) leaves the socket secure:
 *     getsockopt(SO_SECURE) still gives SO_SEC_SSL, and each write path carries TLS: send, write,
 *     writev, sendto, sendmsg, sendmmsg, sendfile (from a temporary file) and
 *     pwritev2(fd, iov, n, -1, 0), each on its own STREAM connection, checked by reading the echo
 *     back through recv. splice into the secure socket fails (-1) and sends nothing. Likewise a
 *     dup2 from a descriptor that is not open (EBADF) and a close_range with an unknown flag
 *     (EINVAL) leave it secure, and close_range(fd, fd, CLOSE_RANGE_CLOEXEC) only sets FD_CLOEXEC.
 *  2. dup2, dup3(O_CLOEXEC), fcntl(F_DUPFD) and fcntl(F_DUPFD_CLOEXEC) of a secure socket give a copy
 *     that shares the TLS session: written through the copy, read back through the original; after
 *     the copy is closed the original still works.
 *  3. close_range(fd, fd, 0) closes a secure descriptor: a later send fails with EBADF.
 *  4. readv, recvmsg, recvmmsg and preadv2(fd, iov, n, -1, 0) read decrypted data.
 *  5. readv/writev/recvmsg/sendmsg with a NULL iov and a count of 0 on a connected secure socket
 *     return 0, as libc does, without crashing (last: a crash ends the program).
 * Every connection's client port is looked up in the STARTTLS server's log at the end: no
 * PLAINTEXT-LEAK for any of them.
 */
#define _GNU_SOURCE
#include <winsock2.h>
#include <sslsock.h>
#include "common.h"
#include "failclosed.h"

#include <sys/pidfd.h>
#include <sys/sendfile.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

#define TIMEOUT_MS 5000

static int g_port;
static const char *g_log;
static long g_log_off;

/* every connection made, with what it was for, checked against the server's log at the end */
#define MAX_CONNS 64
static struct {
    int port;
    char what[96];
} g_conns[MAX_CONNS];
static int g_nconns;

static SOCKET stream_socket(const char *what)
{
    int lp = 0;
    SOCKET s = fc_stream_socket(g_port, 0, TIMEOUT_MS, &lp);
    if (!CHECK(s != INVALID_SOCKET, "%s: a secure STREAM connection (%s)", what, s == INVALID_SOCKET ? fc_why : "ok"))
        return INVALID_SOCKET;
    if (g_nconns < MAX_CONNS) {
        g_conns[g_nconns].port = lp;
        snprintf(g_conns[g_nconns].what, sizeof g_conns[g_nconns].what, "%s", what);
        g_nconns++;
    }
    return s;
}

/* The STREAM echo of len bytes, read through recv and compared with text. */
static int check_echo(SOCKET s, const char *text, size_t len, const char *what)
{
    char buf[512];
    long got;
    int err, wsa;
    memset(buf, 0, sizeof buf);
    errno = 0;
    got = recv_exact(s, buf, len);
    err = errno;
    wsa = WSAGetLastError();
    return CHECK(got == (long)len && memcmp(buf, text, len) == 0,
                 "%s: the echo read back through recv is the %lu bytes written (got %ld: \"%s\"; errno %d, WSA %d)",
                 what, (unsigned long)len, got, fc_show(buf, got), err, wsa);
}

/* A round trip through send/recv on s: the socket still carries TLS both ways. */
static int check_still_works(SOCKET s, const char *what)
{
    char text[128], full[160];
    int n;
    snprintf(text, sizeof text, "still-works-%d\n", rand() % 100000);
    n = (int)strlen(text);
    snprintf(full, sizeof full, "%s: afterwards send", what);
    if (!CHECK(send(s, text, (size_t)n, 0) == n, "%s: afterwards send returns %d", what, n))
        return 0;
    return check_echo(s, text, (size_t)n, full);
}

/* ------------------------------------------------------------------ */
/* 1. a failed dup3 leaves the socket secure, through every write path  */

enum wpath { P_SEND, P_WRITE, P_WRITEV, P_SENDTO, P_SENDMSG, P_SENDMMSG, P_SENDFILE, P_PWRITEV2, P_COUNT };
static const char *wpath_name[] = {"send", "write", "writev", "sendto", "sendmsg", "sendmmsg", "sendfile",
                                   "pwritev2(fd, iov, 2, -1, 0)"};

/* Writes text (len bytes) through the path; returns the byte count the call reported, or -1. */
static long write_via(enum wpath p, SOCKET s, const char *text, size_t len)
{
    struct iovec iov[3];
    struct msghdr mh;
    struct mmsghdr mm;
    size_t a = len / 3, b = len / 3;
    long rc = -1;

    iov[0].iov_base = (void *)text;
    iov[0].iov_len = a;
    iov[1].iov_base = (void *)(text + a);
    iov[1].iov_len = b;
    iov[2].iov_base = (void *)(text + a + b);
    iov[2].iov_len = len - a - b;
    memset(&mh, 0, sizeof mh);
    mh.msg_iov = iov;
    mh.msg_iovlen = 3;

    switch (p) {
    case P_SEND:
        rc = (long)send(s, text, len, 0);
        break;
    case P_WRITE:
        rc = (long)write(s, text, len);
        break;
    case P_WRITEV:
        rc = (long)writev(s, iov, 3);
        break;
    case P_SENDTO:
        rc = (long)sendto(s, text, len, 0, NULL, 0);
        break;
    case P_SENDMSG:
        rc = (long)sendmsg(s, &mh, 0);
        break;
    case P_SENDMMSG:
        memset(&mm, 0, sizeof mm);
        mm.msg_hdr = mh;
        rc = (long)sendmmsg(s, &mm, 1, 0);
        rc = rc == 1 ? (long)mm.msg_len : (rc < 0 ? -1 : -2);
        break;
    case P_SENDFILE: {
        char path[] = "/tmp/sslsock-failclosed-XXXXXX";
        int fd = mkstemp(path);
        off_t off = 0;
        if (fd < 0)
            return -3;
        unlink(path);
        if (write(fd, text, len) != (ssize_t)len) {
            close(fd);
            return -3;
        }
        rc = (long)sendfile(s, fd, &off, len);
        close(fd);
        break;
    }
    case P_PWRITEV2:
        rc = (long)pwritev2(s, iov, 3, -1, 0);
        break;
    case P_COUNT:
        break;
    }
    return rc;
}

static void failed_dup3_then(enum wpath p)
{
    char what[160], text[128];
    SOCKET s, plain;
    DWORD sec;
    long rc;
    int err, wsa;
    size_t len;

    snprintf(what, sizeof what, "failed dup3(plain, secure, 0x4), then %s", wpath_name[p]);
    s = stream_socket(what);
    if (s == INVALID_SOCKET)
        return;
    plain = socket(AF_INET, SOCK_STREAM, 0);
    errno = 0;
    rc = dup3(plain, s, 0x4);
    err = errno;
    CHECK(rc == -1 && err == EINVAL, "%s: dup3 returns -1 with EINVAL (got %ld, errno %d %s)", what, rc, err,
          strerror(err));
    sec = fc_get_secure(s);
    CHECK(sec == SO_SEC_SSL, "%s: getsockopt(SO_SECURE) still gives SO_SEC_SSL (got 0x%x)", what, (unsigned)sec);

    snprintf(text, sizeof text, "%s-via-%s-0123456789\n", FC_MARKER, wpath_name[p]);
    len = strlen(text);
    errno = 0;
    WSASetLastError(0);
    rc = write_via(p, s, text, len);
    err = errno;
    wsa = WSAGetLastError();
    CHECK(rc == (long)len, "%s: the call reports %lu bytes written (got %ld, errno %d %s, WSA %d, reason \"%s\")", what,
          (unsigned long)len, rc, err, strerror(err), wsa, sslsock_last_error_reason());
    if (rc == (long)len)
        check_echo(s, text, len, what);
    closesocket(s);
    close(plain);
}

static void splice_into_secure(void)
{
    const char *what = "splice from a pipe into a secure socket";
    char text[] = FC_MARKER "-splice-0123456789\n";
    SOCKET s = stream_socket(what);
    int pfd[2];
    long rc;
    int err;

    if (s == INVALID_SOCKET)
        return;
    if (!CHECK(pipe(pfd) == 0, "%s: pipe()", what)) {
        closesocket(s);
        return;
    }
    if (write(pfd[1], text, sizeof text - 1) != (ssize_t)(sizeof text - 1))
        CHECK(0, "%s: write into the pipe", what);
    errno = 0;
    rc = (long)splice(pfd[0], NULL, s, NULL, sizeof text - 1, 0);
    err = errno;
    CHECK(rc == -1, "%s: fails with -1 (got %ld, errno %d %s)", what, rc, err, strerror(err));
    check_still_works(s, what);   /* the echo is exactly what send sent: nothing of the splice before it */
    close(pfd[0]);
    close(pfd[1]);
    closesocket(s);
}

/* dup2 from a descriptor that is not open, and close_range with an unknown flag or with CLOEXEC. */
static void failed_copies(void)
{
    SOCKET s;
    long rc;
    int err, fdflags;
    DWORD sec;
    const char *what;

    what = "dup2(not-open descriptor, secure)";
    s = stream_socket(what);
    if (s != INVALID_SOCKET) {
        errno = 0;
        rc = dup2(1000, s);
        err = errno;
        CHECK(rc == -1 && err == EBADF, "%s: returns -1 with EBADF (got %ld, errno %d %s)", what, rc, err,
              strerror(err));
        sec = fc_get_secure(s);
        CHECK(sec == SO_SEC_SSL, "%s: getsockopt(SO_SECURE) still gives SO_SEC_SSL (got 0x%x)", what, (unsigned)sec);
        check_still_works(s, what);
        closesocket(s);
    }

    what = "close_range(secure, secure, 0x10: unknown flag)";
    s = stream_socket(what);
    if (s != INVALID_SOCKET) {
        errno = 0;
        rc = close_range((unsigned)s, (unsigned)s, 0x10);
        err = errno;
        CHECK(rc == -1 && err == EINVAL, "%s: returns -1 with EINVAL (got %ld, errno %d %s)", what, rc, err,
              strerror(err));
        sec = fc_get_secure(s);
        CHECK(sec == SO_SEC_SSL, "%s: getsockopt(SO_SECURE) still gives SO_SEC_SSL (got 0x%x)", what, (unsigned)sec);
        check_still_works(s, what);
        closesocket(s);
    }

    what = "close_range(secure, secure, CLOSE_RANGE_CLOEXEC)";
    s = stream_socket(what);
    if (s != INVALID_SOCKET) {
        errno = 0;
        rc = close_range((unsigned)s, (unsigned)s, CLOSE_RANGE_CLOEXEC);
        err = errno;
        CHECK(rc == 0, "%s: returns 0 (got %ld, errno %d %s)", what, rc, err, strerror(err));
        fdflags = fcntl(s, F_GETFD);
        CHECK(fdflags >= 0 && (fdflags & FD_CLOEXEC), "%s: FD_CLOEXEC is set (F_GETFD %d)", what, fdflags);
        sec = fc_get_secure(s);
        CHECK(sec == SO_SEC_SSL, "%s: the socket stays open and secure (SO_SECURE 0x%x)", what, (unsigned)sec);
        check_still_works(s, what);
        closesocket(s);
    }
}

/* ------------------------------------------------------------------ */
/* 2. copies share the session                                          */

enum copy { C_DUP2, C_DUP3, C_F_DUPFD, C_F_DUPFD_CLOEXEC, C_COUNT };
static const char *copy_name[] = {"dup2(secure, n)", "dup3(secure, n, O_CLOEXEC)", "fcntl(secure, F_DUPFD, 0)",
                                  "fcntl(secure, F_DUPFD_CLOEXEC, 0)"};

static void copy_shares_session(enum copy c)
{
    const char *what = copy_name[c];
    char text[128];
    SOCKET s = stream_socket(what), copy = -1;
    int target = -1, err, n;
    long rc;
    DWORD sec;

    if (s == INVALID_SOCKET)
        return;
    if (c == C_DUP2 || c == C_DUP3) {
        target = open("/dev/null", O_RDONLY);   /* a free number, replaced by the copy */
        errno = 0;
        copy = c == C_DUP2 ? dup2(s, target) : dup3(s, target, O_CLOEXEC);
        err = errno;
        CHECK(copy == target, "%s: returns the target number %d (got %d, errno %d %s)", what, target, copy, err,
              strerror(err));
    } else {
        errno = 0;
        copy = fcntl(s, c == C_F_DUPFD ? F_DUPFD : F_DUPFD_CLOEXEC, 0);
        err = errno;
        CHECK(copy >= 0 && copy != s, "%s: returns a new descriptor (got %d, errno %d %s)", what, copy, err,
              strerror(err));
    }
    if (copy < 0 || copy == s) {
        if (target >= 0)
            close(target);
        closesocket(s);
        return;
    }
    if (c == C_DUP3 || c == C_F_DUPFD_CLOEXEC) {
        int fl = fcntl(copy, F_GETFD);
        CHECK(fl >= 0 && (fl & FD_CLOEXEC), "%s: the copy has FD_CLOEXEC (F_GETFD %d)", what, fl);
    }
    sec = fc_get_secure(copy);
    CHECK(sec == SO_SEC_SSL, "%s: getsockopt(SO_SECURE) on the copy gives SO_SEC_SSL (got 0x%x)", what, (unsigned)sec);
    snprintf(text, sizeof text, "%s-through-the-copy-%d\n", FC_MARKER, (int)c);
    n = (int)strlen(text);
    errno = 0;
    rc = (long)send(copy, text, (size_t)n, 0);
    err = errno;
    CHECK(rc == n, "%s: send through the copy returns %d (got %ld, errno %d, WSA %d, reason \"%s\")", what, n, rc,
          err, WSAGetLastError(), sslsock_last_error_reason());
    if (rc == n) {
        char w[200];
        snprintf(w, sizeof w, "%s: written through the copy, read through the original", what);
        check_echo(s, text, (size_t)n, w);
    }
    CHECK(close(copy) == 0, "%s: close(copy) returns 0", what);
    {
        char w[200];
        snprintf(w, sizeof w, "%s: after close(copy) the original", what);
        check_still_works(s, w);
    }
    CHECK(closesocket(s) == 0, "%s: closesocket(original) returns 0", what);
}

/* ------------------------------------------------------------------ */
/* 3. close_range closes a secure descriptor                            */

static void close_range_closes(void)
{
    const char *what = "close_range(secure, secure, 0)";
    SOCKET s = stream_socket(what);
    long rc;
    int err;

    if (s == INVALID_SOCKET)
        return;
    errno = 0;
    rc = close_range((unsigned)s, (unsigned)s, 0);
    err = errno;
    CHECK(rc == 0, "%s: returns 0 (got %ld, errno %d %s)", what, rc, err, strerror(err));
    errno = 0;
    WSASetLastError(0);
    rc = (long)send(s, FC_MARKER "-after-close_range\r\n", 34, 0);
    err = errno;
    CHECK(rc == -1 && err == EBADF, "%s: a later send fails with EBADF (got %ld, errno %d %s, WSA %d)", what, rc, err,
          strerror(err), WSAGetLastError());
    errno = 0;
    rc = fcntl(s, F_GETFD);
    err = errno;
    CHECK(rc == -1 && err == EBADF, "%s: the number is closed (fcntl F_GETFD: %ld, errno %d)", what, rc, err);
}

/* ------------------------------------------------------------------ */
/* 4. read paths                                                        */

enum rpath { R_READV, R_RECVMSG, R_RECVMMSG, R_PREADV2 };
static const char *rpath_name[] = {"readv", "recvmsg", "recvmmsg", "preadv2(fd, iov, 2, -1, 0)"};

/* Reads up to cap bytes through the path into buf (two iovecs); returns the count or -1. */
static long read_via(enum rpath p, SOCKET s, char *buf, size_t cap)
{
    struct iovec iov[2];
    struct msghdr mh;
    struct mmsghdr mm;
    long rc = -1;
    size_t a = cap / 2 > 0 ? cap / 2 : cap;

    iov[0].iov_base = buf;
    iov[0].iov_len = a;
    iov[1].iov_base = buf + a;
    iov[1].iov_len = cap - a;
    memset(&mh, 0, sizeof mh);
    mh.msg_iov = iov;
    mh.msg_iovlen = 2;
    switch (p) {
    case R_READV:
        rc = (long)readv(s, iov, 2);
        break;
    case R_RECVMSG:
        rc = (long)recvmsg(s, &mh, 0);
        break;
    case R_RECVMMSG:
        memset(&mm, 0, sizeof mm);
        mm.msg_hdr = mh;
        rc = (long)recvmmsg(s, &mm, 1, 0, NULL);
        rc = rc == 1 ? (long)mm.msg_len : (rc < 0 ? -1 : -2);
        break;
    case R_PREADV2:
        rc = (long)preadv2(s, iov, 2, -1, 0);
        break;
    }
    return rc;
}

static void read_path(SOCKET s, enum rpath p)
{
    char what[128], text[128], buf[256];
    size_t len, got = 0;
    long rc = 0;
    int err = 0;

    snprintf(what, sizeof what, "%s on a secure socket", rpath_name[p]);
    snprintf(text, sizeof text, "read-back-through-%s-0123456789\n", rpath_name[p]);
    len = strlen(text);
    if (!CHECK(send(s, text, len, 0) == (int)len, "%s: send of %lu bytes", what, (unsigned long)len))
        return;
    memset(buf, 0, sizeof buf);
    while (got < len) {
        errno = 0;
        rc = read_via(p, s, buf + got, len - got);
        err = errno;
        if (rc <= 0)
            break;
        got += (size_t)rc;
    }
    CHECK(got == len && memcmp(buf, text, len) == 0,
          "%s: reads the decrypted %lu bytes (got %lu: \"%s\"; last call %ld, errno %d, WSA %d)", what,
          (unsigned long)len, (unsigned long)got, fc_show(buf, (long)got), rc, err, WSAGetLastError());
}

/* ------------------------------------------------------------------ */
/* 5. NULL iov, count 0                                                 */

static void zero_iov(void)
{
    const char *what = "NULL iov, count 0";
    SOCKET s = stream_socket(what);
    struct msghdr mh;
    long rc;
    int err;

    if (s == INVALID_SOCKET)
        return;
    errno = 0;
    rc = (long)writev(s, NULL, 0);
    err = errno;
    CHECK(rc == 0, "writev(secure, NULL, 0) returns 0 (got %ld, errno %d)", rc, err);
    errno = 0;
    rc = (long)readv(s, NULL, 0);
    err = errno;
    CHECK(rc == 0, "readv(secure, NULL, 0) returns 0 (got %ld, errno %d)", rc, err);
    memset(&mh, 0, sizeof mh);
    errno = 0;
    rc = (long)sendmsg(s, &mh, 0);
    err = errno;
    CHECK(rc == 0, "sendmsg(secure, {msg_iov NULL, msg_iovlen 0}) returns 0 (got %ld, errno %d)", rc, err);
    memset(&mh, 0, sizeof mh);
    errno = 0;
    rc = (long)recvmsg(s, &mh, 0);
    err = errno;
    CHECK(rc == 0, "recvmsg(secure, {msg_iov NULL, msg_iovlen 0}) returns 0 (got %ld, errno %d)", rc, err);
    check_still_works(s, what);
    closesocket(s);
}

/* ------------------------------------------------------------------ */
/* 6. copies made where sslsock does not see them being made            */

/* A copy of s received over SCM_RIGHTS through a socketpair of our own (-1 on failure). */
static int copy_over_scm_rights(SOCKET s)
{
    int sp[2], got = -1;
    char c = 'x';
    struct iovec iov = {&c, 1};
    union {
        struct cmsghdr h;
        char b[CMSG_SPACE(sizeof(int))];
    } u;
    struct msghdr mh;
    struct cmsghdr *cm;

    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) != 0)
        return -1;
    memset(&mh, 0, sizeof mh);
    memset(&u, 0, sizeof u);
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = u.b;
    mh.msg_controllen = sizeof u.b;
    cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &s, sizeof(int));
    if (sendmsg(sp[0], &mh, 0) == 1) {
        memset(&u, 0, sizeof u);
        mh.msg_control = u.b;
        mh.msg_controllen = sizeof u.b;
        if (recvmsg(sp[1], &mh, 0) == 1 && (cm = CMSG_FIRSTHDR(&mh)) != NULL && cm->cmsg_type == SCM_RIGHTS)
            memcpy(&got, CMSG_DATA(cm), sizeof(int));
    }
    close(sp[0]);
    close(sp[1]);
    return got;
}

static void unseen_copy(int pidfd_way)
{
    const char *what = pidfd_way ? "a copy by pidfd_getfd" : "a copy received over SCM_RIGHTS";
    SOCKET s = stream_socket(what);
    char text[128];
    int copy = -1, n, err;
    long rc;
    DWORD sec;

    if (s == INVALID_SOCKET)
        return;
    if (pidfd_way) {
        int pidfd = pidfd_open(getpid(), 0);
        if (pidfd < 0) {
            note("%s: pidfd_open: %s (skipped)", what, strerror(errno));
            closesocket(s);
            return;
        }
        copy = pidfd_getfd(pidfd, s, 0);
        close(pidfd);
    } else {
        copy = copy_over_scm_rights(s);
    }
    if (!CHECK(copy >= 0 && copy != s, "%s: a new descriptor for the secure socket (got %d, errno %d)", what, copy,
               errno)) {
        closesocket(s);
        return;
    }
    sec = fc_get_secure(copy);
    CHECK(sec == SO_SEC_SSL, "%s: getsockopt(SO_SECURE) on the copy gives SO_SEC_SSL (got 0x%x)", what,
          (unsigned)sec);
    snprintf(text, sizeof text, "%s-through-an-unseen-copy-%d\n", FC_MARKER, pidfd_way);
    n = (int)strlen(text);
    errno = 0;
    rc = (long)write(copy, text, (size_t)n);
    err = errno;
    CHECK(rc == n, "%s: write through the copy returns %d (got %ld, errno %d, reason \"%s\")", what, n, rc, err,
          sslsock_last_error_reason());
    if (rc == n) {
        char w[200];
        snprintf(w, sizeof w, "%s: written through the copy (encrypted), read through the original", what);
        check_echo(s, text, (size_t)n, w);
    }
    CHECK(close(copy) == 0, "%s: close(copy) returns 0", what);
    {
        char w[200];
        snprintf(w, sizeof w, "%s: after close(copy) the original", what);
        check_still_works(s, w);
    }
    CHECK(closesocket(s) == 0, "%s: closesocket(original) returns 0", what);
}

/* A secure number closed behind sslsock's back and reused by socketpair: the pair is plain. */
static void reused_by_socketpair(void)
{
    const char *what = "a secure number closed by a raw close() and reused by socketpair";
    SOCKET s = stream_socket(what);
    int sp[2], mine, other;
    char buf[32];
    long rc;

    if (s == INVALID_SOCKET)
        return;
    syscall(SYS_close, s);
    if (!CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0, "%s: socketpair", what))
        return;
    mine = sp[0] == s ? sp[0] : sp[1];
    other = mine == sp[0] ? sp[1] : sp[0];
    if (mine != s) {
        note("%s: the number was not reused (%d, %d vs %d): skipped", what, sp[0], sp[1], s);
    } else {
        CHECK(fc_get_secure(mine) == SO_SEC_NONE, "%s: the reused number is not secure", what);
        rc = (long)write(mine, "plain\n", 6);
        CHECK(rc == 6, "%s: write on it returns 6 (got %ld, errno %d)", what, rc, errno);
        rc = (long)recv(other, buf, sizeof buf, MSG_DONTWAIT);
        CHECK(rc == 6 && memcmp(buf, "plain\n", 6) == 0, "%s: the other end reads the same 6 bytes (got %ld)", what,
              rc);
    }
    close(sp[0]);
    close(sp[1]);
}

/* Lengths no buffer can have: EFAULT / EINVAL, as the kernel answers, never a crash. */
static void impossible_lengths(void)
{
    const char *what = "impossible lengths on a secure socket";
    SOCKET s = stream_socket(what);
    char b[16] = "x";
    struct iovec iov[2] = {{b, (size_t)-1 / 2}, {b, (size_t)-1 / 2}};
    long rc;

    if (s == INVALID_SOCKET)
        return;
    errno = 0;
    rc = (long)send(s, b, (size_t)-1, 0);
    CHECK(rc == -1 && errno == EFAULT, "%s: send with length (size_t)-1 fails with EFAULT (got %ld, errno %d)", what,
          rc, errno);
    errno = 0;
    rc = (long)writev(s, iov, 2);
    CHECK(rc == -1 && errno == EINVAL, "%s: writev whose lengths add up past SSIZE_MAX fails with EINVAL (got %ld, "
          "errno %d)", what, rc, errno);
    check_still_works(s, what);
    closesocket(s);
}

int main(void)
{
    WSADATA wsa;
    int i;

    start_watchdog(55);
    signal(SIGPIPE, SIG_IGN);
    srand((unsigned)time(NULL));
    g_port = env_port("T_PORT_STARTTLS");
    g_log = fc_starttls_log();
    if (!CHECK(g_log != NULL, "T_STARTTLS_LOG names the STARTTLS server's log"))
        return finish();
    g_log_off = fc_log_size(g_log);
    CHECK(WSAStartup(MAKEWORD(2, 2), &wsa) == 0, "WSAStartup(2.2)");

    for (i = 0; i < P_COUNT; i++)
        failed_dup3_then((enum wpath)i);
    splice_into_secure();
    failed_copies();
    for (i = 0; i < C_COUNT; i++)
        copy_shares_session((enum copy)i);
    close_range_closes();
    {
        SOCKET s = stream_socket("readv, recvmsg, recvmmsg");
        if (s != INVALID_SOCKET) {
            read_path(s, R_READV);
            read_path(s, R_RECVMSG);
            read_path(s, R_RECVMMSG);
            closesocket(s);
        }
        s = stream_socket("preadv2");   /* its own connection: a raw read would desynchronise TLS */
        if (s != INVALID_SOCKET) {
            read_path(s, R_PREADV2);
            closesocket(s);
        }
    }
    zero_iov();
    unseen_copy(0);
    unseen_copy(1);
    reused_by_socketpair();
    impossible_lengths();

    /* what the server saw from each connection */
    {
        int ports[MAX_CONNS], open_left;
        for (i = 0; i < g_nconns; i++)
            ports[i] = g_conns[i].port;
        open_left = fc_wait_closed(g_log, g_log_off, ports, g_nconns, 8000);
        if (open_left)
            note("%d connections not finished at the server after 8 s", open_left);
        for (i = 0; i < g_nconns; i++) {
            int f = g_conns[i].port > 0 ? fc_port_flags[g_conns[i].port] : 0;
            CHECK(!(f & FC_LEAK) && !(f & FC_TLSERR), "%s: the server saw no plaintext on this connection%s%s%s",
                  g_conns[i].what, (f & FC_LEAK) ? " (PLAINTEXT-LEAK, bytes " : "",
                  (f & FC_LEAK) ? fc_leak_hex[g_conns[i].port] : "",
                  (f & FC_LEAK) ? ")" : ((f & FC_TLSERR) ? " (ERROR tls: non-TLS bytes inside a record)" : ""));
        }
    }
    WSACleanup();
    return finish();
}
